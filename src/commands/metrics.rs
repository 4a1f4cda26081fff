//! `mlci metrics show|diff` and `mlci params diff`.

use crate::exit::Exit;
use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::Value as Json;

use crate::config::Overrides;
use crate::repo::Repo;
use crate::review::metrics::diff::{
    arrow, diff, fmt_change, fmt_value, md_table, plain_table, Row,
};
use crate::review::metrics::{metric_files, params_files, Rev, RevReader};

use super::Ctx;

/// Show metrics, or how they changed between two revisions.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(subcommand)]
    pub command: MetricsCommand,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    Show(ShowArgs),
    Diff(DiffArgs),
}

/// Params: how they changed between two revisions.
#[derive(Debug, Args)]
pub struct ParamsArgs {
    #[command(subcommand)]
    pub command: ParamsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ParamsCommand {
    Diff(DiffArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Plain,
    Json,
    Md,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Print JSON.
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    /// Print a Markdown table.
    #[arg(long)]
    pub md: bool,
    /// Decimal places for numbers (0 to 30).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=crate::review::metrics::diff::MAX_PRECISION as u64))]
    pub precision: usize,
}

impl FormatArgs {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.md {
            Format::Md
        } else {
            Format::Plain
        }
    }
}

/// Show the metrics the pipeline declares (stage `metrics` and top-level
/// `metrics`), at the workspace or another revision.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Revision to read (`workspace`, a branch, tag or commit).
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub rev: String,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Compare two revisions: old, new, absolute and relative change per key.
///
/// The base defaults to the merge-base of HEAD with the default branch when
/// HEAD is on another branch, else HEAD; the target defaults to the
/// workspace. Keys present on one side only show as added or removed.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The revision to compare from.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The revision to compare to.
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub target: String,
    /// Also list keys that did not change.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

pub fn cmd_metrics(ctx: &Ctx, args: MetricsArgs) -> anyhow::Result<Exit> {
    match args.command {
        MetricsCommand::Show(a) => show(ctx, a),
        MetricsCommand::Diff(a) => run_diff(ctx, a, Kind::Metrics),
    }
}

pub fn cmd_params(ctx: &Ctx, args: ParamsArgs) -> anyhow::Result<Exit> {
    match args.command {
        ParamsCommand::Diff(a) => run_diff(ctx, a, Kind::Params),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metrics,
    Params,
}

fn files(repo: &Repo, kind: Kind) -> anyhow::Result<Vec<String>> {
    let pipeline = crate::pipeline::load(&repo.root)?;
    Ok(match kind {
        Kind::Metrics => metric_files(&pipeline),
        Kind::Params => params_files(&pipeline),
    })
}

fn show(ctx: &Ctx, args: ShowArgs) -> anyhow::Result<Exit> {
    let ShowArgs { rev, format } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let files = files(&repo, Kind::Metrics)?;
    if files.is_empty() {
        ctx.printer.info(
            "no metrics files: list them under a stage's `metrics:` or the top-level `metrics:`",
        );
        return Ok(Exit::Ok);
    }
    let rev = Rev::parse(&repo.root, &rev)?;
    let mut reader = RevReader::new(&repo.root, &repo.cache, rev);
    let mut all: BTreeMap<String, BTreeMap<String, Json>> = BTreeMap::new();
    for f in &files {
        if let Some(values) = reader.values(f)? {
            all.insert(f.clone(), values);
        }
    }
    let p = format.precision;
    let rows: Vec<Vec<String>> = all
        .iter()
        .flat_map(|(f, vals)| {
            vals.iter()
                .map(move |(k, v)| vec![f.clone(), k.clone(), fmt_value(&Some(v.clone()), p)])
        })
        .collect();
    let text = match format.format() {
        Format::Json => serde_json::to_string_pretty(&all)?,
        Format::Md => md_table(&["Path", "Metric", "Value"], &rows),
        Format::Plain => plain_table(&["Path", "Metric", "Value"], &rows),
    };
    ctx.printer.data(&text)?;
    Ok(Exit::Ok)
}

/// Two revisions compared: their names and the rows of every file.
pub struct Comparison {
    pub base: Rev,
    pub base_label: String,
    pub target: Rev,
    pub metrics: Vec<Row>,
    pub params: Vec<Row>,
}

/// Resolves `--base`/`--target` (with the default base) and diffs the
/// pipeline's metrics and params files between them.
pub fn compare(
    repo: &Repo,
    base: Option<&str>,
    target: &str,
    kinds: &[Kind],
) -> anyhow::Result<Comparison> {
    let (base_rev, base_label) = match base {
        Some(b) => {
            let r = Rev::parse(&repo.root, b)?;
            let l = r.label();
            (r, l)
        }
        None => {
            let (label, id) = crate::git::default_base(&repo.root).map_err(|e| {
                crate::error::hinted(
                    format!("cannot find a base revision: {}", e.message()),
                    "commit once, or pass `--base REV`",
                )
            })?;
            (
                Rev::Commit {
                    name: id.to_string()[..8].to_string(),
                    id,
                },
                label,
            )
        }
    };
    let target_rev = Rev::parse(&repo.root, target)?;
    let mut old_reader = RevReader::new(&repo.root, &repo.cache, base_rev.clone());
    let mut new_reader = RevReader::new(&repo.root, &repo.cache, target_rev.clone());
    let mut rows = [Vec::new(), Vec::new()];
    for (i, kind) in [Kind::Metrics, Kind::Params].into_iter().enumerate() {
        if !kinds.contains(&kind) {
            continue;
        }
        for f in &files(repo, kind)? {
            let old = old_reader.values(f)?.unwrap_or_default();
            let new = new_reader.values(f)?.unwrap_or_default();
            rows[i].extend(diff(f, &old, &new));
        }
    }
    let [metrics, params] = rows;
    Ok(Comparison {
        base: base_rev,
        base_label,
        target: target_rev,
        metrics,
        params,
    })
}

fn run_diff(ctx: &Ctx, args: DiffArgs, kind: Kind) -> anyhow::Result<Exit> {
    let DiffArgs {
        base,
        target,
        all,
        format,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let cmp = compare(&repo, base.as_deref(), &target, &[kind])?;
    let (base_rev, base_label, target_rev) = (cmp.base, cmp.base_label, cmp.target);
    let rows: Vec<Row> = match kind {
        Kind::Metrics => cmp.metrics,
        Kind::Params => cmp.params,
    }
    .into_iter()
    .filter(|r| all || r.changed())
    .collect();
    let p = format.precision;
    let what = if kind == Kind::Metrics {
        "Metric"
    } else {
        "Param"
    };
    let (old_h, new_h) = (base_rev.label(), target_rev.label());
    let text = match format.format() {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "base": { "rev": base_label, "commit": base_rev.short() },
            "target": { "rev": target_rev.label(), "commit": target_rev.short() },
            "rows": rows,
        }))?,
        Format::Md => {
            let cells: Vec<Vec<String>> = rows.iter().map(|r| row_cells(r, p, true)).collect();
            md_table(
                &[
                    "Path",
                    what,
                    &format!("Old ({old_h})"),
                    &format!("New ({new_h})"),
                    "Change",
                ],
                &cells,
            )
        }
        Format::Plain => {
            let cells: Vec<Vec<String>> = rows.iter().map(|r| row_cells(r, p, false)).collect();
            plain_table(&["Path", what, &old_h, &new_h, "Change"], &cells)
        }
    };
    if rows.is_empty() && format.format() != Format::Json {
        ctx.printer.info(&format!(
            "no {} changed between {base_label} and {}",
            if kind == Kind::Metrics {
                "metrics"
            } else {
                "params"
            },
            target_rev.label()
        ));
        return Ok(Exit::Ok);
    }
    ctx.printer.data(&text)?;
    Ok(Exit::Ok)
}

/// Evaluates the gates of mlci.yaml on a comparison's metrics (which must
/// include `Kind::Metrics`); None when no gates are defined.
pub fn evaluate_gates(
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
) -> anyhow::Result<Option<Vec<crate::review::gate::GateResult>>> {
    let Some(def) = &pipeline.gates else {
        return Ok(None);
    };
    let gates = crate::review::gate::parse(def)?;
    if gates.is_empty() {
        return Ok(None);
    }
    // The comparison already read both sides; rebuild the values from its rows.
    let (mut now, mut before) = (
        crate::review::gate::Values::new(),
        crate::review::gate::Values::new(),
    );
    for r in &cmp.metrics {
        if let Some(v) = &r.new {
            now.entry(r.path.clone())
                .or_default()
                .insert(r.key.clone(), v.clone());
        }
        if let Some(v) = &r.old {
            before
                .entry(r.path.clone())
                .or_default()
                .insert(r.key.clone(), v.clone());
        }
    }
    let files = metric_files(pipeline);
    Ok(Some(crate::review::gate::evaluate(
        &gates, &now, &before, &files,
    )?))
}

/// A row's table cells: path, key, old, new, change (with ▲/▼ in Markdown).
fn row_cells(r: &Row, precision: usize, arrows: bool) -> Vec<String> {
    let change = fmt_change(r, precision);
    vec![
        r.path.clone(),
        r.key.clone(),
        fmt_value(&r.old, precision),
        fmt_value(&r.new, precision),
        if arrows {
            format!("{}{change}", arrow(r))
        } else {
            change
        },
    ]
}
