//! `mlci drift REFERENCE CURRENT`: per-column drift tests between two
//! datasets (files, directories of shards, or tracked datasets at a git
//! revision), as a table, Markdown or JSON. Exit 0 whatever it finds (1
//! with `--check` when the dataset drifts), 2 on an error.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use super::Ctx;
use crate::data::dataset;
use crate::data::table::{Dataset, Kind, TableError};
use crate::drift::rules::Section;
use crate::drift::{self, Drift, Method};
use crate::exit::Exit;

/// Drift between two versions of a dataset, column by column, with
/// Evidently's default tests (KS, chi-square, z, Wasserstein, Jensen–
/// Shannon; PSI on request). Each side is a CSV/TSV, JSON Lines or Parquet
/// file, a directory of such shards, or `PATH@REV`: a tracked dataset as
/// committed at a git revision (read through the cache, fetched from the
/// remote when missing). Exits 0 whatever it finds; `--check` exits 1
/// when the dataset drifts.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The reference data: `PATH` or `PATH@REV`.
    pub reference: String,
    /// The current data: `PATH` or `PATH@REV`.
    pub current: String,
    /// Only these columns (default: every column both sides have).
    #[arg(long = "column", value_name = "NAME")]
    pub columns: Vec<String>,
    /// One test for every column without its own in mlci.yaml.
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// The share of drifted columns at which the dataset drifts.
    #[arg(long, value_name = "SHARE")]
    pub drift_share: Option<f64>,
    /// Exit 1 when the dataset drifts.
    #[arg(long)]
    pub check: bool,
    /// Print Markdown.
    #[arg(long, conflicts_with = "json")]
    pub md: bool,
    /// Print JSON: `{"columns": [...], "dataset": {...}}`.
    #[arg(long)]
    pub json: bool,
    /// A column's type, over the inference: `NAME=numerical|categorical|text`
    /// (text is not tested).
    #[arg(long = "type", value_name = "NAME=TYPE")]
    pub types: Vec<String>,
    /// A column's role, which leaves it out of the tests, named:
    /// `NAME=id|datetime|target|prediction|ignore`.
    #[arg(long = "role", value_name = "NAME=ROLE")]
    pub roles: Vec<String>,
}

/// `NAME=VALUE` of `flag`, its value parsed.
fn assignment<T: std::str::FromStr<Err = String>>(
    flag: &str,
    spec: &str,
) -> anyhow::Result<(String, T)> {
    let parsed = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}` is not NAME=VALUE"))
        .and_then(|(n, v)| Ok((n.to_string(), v.parse::<T>()?)));
    parsed.map_err(|why| {
        crate::error::hinted(
            format!("--{flag} {why}"),
            format!(
                "for example `--{flag} user_id={}`",
                if flag == "role" { "id" } else { "categorical" }
            ),
        )
    })
}

/// `--method`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MethodArg {
    Ks,
    Chisquare,
    Z,
    Wasserstein,
    Jensenshannon,
    Psi,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Ks => Method::Ks,
            MethodArg::Chisquare => Method::Chisquare,
            MethodArg::Z => Method::Z,
            MethodArg::Wasserstein => Method::Wasserstein,
            MethodArg::Jensenshannon => Method::Jensenshannon,
            MethodArg::Psi => Method::Psi,
        }
    }
}

pub fn cmd_drift(ctx: &Ctx, a: DriftArgs) -> anyhow::Result<Exit> {
    // Settings come from mlci.yaml when there is a repository; two plain
    // files need none.
    let root = crate::git::discover_root(&ctx.cwd).ok().flatten();
    let section = match &root {
        Some(r) => match crate::pipeline::load(r) {
            Ok(p) => Section::parse(p.drift.as_ref())?,
            Err(e) => return Err(e.into()),
        },
        None => Section::default(),
    };
    let mut section = section;
    for spec in &a.types {
        let (name, ty) = assignment("type", spec)?;
        section.columns.entry(name).or_default().kind = Some(ty);
    }
    for spec in &a.roles {
        let (name, role) = assignment("role", spec)?;
        section.columns.entry(name).or_default().role = Some(role);
    }
    let kinds = section.kinds();
    let opts = section.options(a.columns.clone(), a.method.map(Method::from), a.drift_share);
    // Progress on a terminal: the two sides read, then the columns.
    let reporter = super::reporter::for_printer(ctx.printer);
    reporter.start("reading both datasets", Some(2));
    let (reference, current) = rayon::join(
        || load_side(ctx, &a.reference, &kinds).inspect(|_| reporter.inc(1)),
        || load_side(ctx, &a.current, &kinds).inspect(|_| reporter.inc(1)),
    );
    reporter.finish();
    let (reference, current) = (reference?, current?);
    let result = drift::compare(&reference, &current, &opts, reporter.as_ref())?;
    for c in &result.only_in_reference {
        ctx.printer.warn(&format!(
            "column `{c}` is only in the reference: not compared"
        ));
    }
    for c in &result.only_in_current {
        ctx.printer.warn(&format!(
            "column `{c}` is only in the current data: not compared"
        ));
    }
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(&result)?)?;
    } else {
        ctx.printer.data(render(&result, a.md).trim_end())?;
    }
    Ok(if a.check && result.dataset.drifted {
        Exit::Differs
    } else {
        Exit::Ok
    })
}

/// One side: a file, a directory of shards, `PATH@REV`, or the dataset at
/// a registry version (`PATH@NAME#STAGE`, `PATH@NAME@vX.Y.Z`).
fn load_side(ctx: &Ctx, spec: &str, kinds: &BTreeMap<String, Kind>) -> anyhow::Result<Dataset> {
    let plain = ctx.cwd.join(spec);
    if plain.exists() {
        return Ok(dataset::read_path(&plain, spec, kinds)?);
    }
    // `PATH@NAME#STAGE` or `PATH@NAME@vX.Y.Z`: the dataset at a registry
    // version's commit.
    if let Some((path, shortcut)) = spec
        .split_once('@')
        .filter(|(_, rest)| crate::registry::is_shortcut(rest))
    {
        let repo = ctx.repo(&crate::config::Overrides::default())?;
        let rel = repo.resolve_user_path(&ctx.cwd, Path::new(path))?;
        let commit = crate::registry::commit_of(&repo.root, shortcut)?;
        let reporter = super::reporter::for_printer(ctx.printer);
        return Ok(dataset::read_at(
            &repo,
            &rel,
            &commit,
            kinds,
            reporter.as_ref(),
        )?);
    }
    if let Some((path, rev)) = spec.rsplit_once('@') {
        let repo = ctx.repo(&crate::config::Overrides::default())?;
        let rel = repo.resolve_user_path(&ctx.cwd, Path::new(path))?;
        let reporter = super::reporter::for_printer(ctx.printer);
        return Ok(dataset::read_at(
            &repo,
            &rel,
            rev,
            kinds,
            reporter.as_ref(),
        )?);
    }
    Err(TableError::Read {
        file: spec.into(),
        message: "no such file or directory".into(),
    }
    .into())
}

/// The table (or Markdown) of a comparison.
fn render(d: &Drift, md: bool) -> String {
    crate::drift::view::table(d, md)
}
