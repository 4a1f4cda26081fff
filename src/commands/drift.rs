//! `mlci drift REFERENCE CURRENT`: per-column drift tests between two
//! datasets (files, directories of shards, or tracked datasets at a git
//! revision), as a table, Markdown or JSON. Exit 0 whatever it finds (1
//! with `--check` when the dataset drifts), 2 on an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use super::Ctx;
use crate::exit::Exit;
use crate::monitor::drift::{self, ColumnOptions, Drift, Method, Options};
use crate::monitor::table::{self, Kind, Table, TableError};

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

/// The `drift:` section of mlci.yaml (what the command reads of it).
#[derive(Debug, Default, Deserialize)]
struct DriftSection {
    #[serde(default)]
    columns: BTreeMap<String, ColumnOptions>,
    share: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct FileWire {
    drift: Option<DriftSection>,
}

pub fn cmd_drift(ctx: &Ctx, a: DriftArgs) -> anyhow::Result<Exit> {
    let root = crate::git::discover_root(&ctx.cwd).ok().flatten();
    let section = match &root {
        Some(r) => read_section(r)?,
        None => DriftSection::default(),
    };
    let kinds: BTreeMap<String, Kind> = section
        .columns
        .iter()
        .filter_map(|(k, v)| v.kind.map(|kind| (k.clone(), kind)))
        .collect();
    let opts = Options {
        columns: section.columns,
        only: a.columns.clone(),
        method: a.method.map(Method::from),
        drift_share: a.drift_share.or(section.share).unwrap_or(0.5),
    };
    let (reference, current) = rayon::join(
        || load_side(ctx, &a.reference, &kinds),
        || load_side(ctx, &a.current, &kinds),
    );
    let (reference, current) = (reference?, current?);
    let result = drift::compare(&reference, &current, &opts)?;
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

fn read_section(root: &Path) -> anyhow::Result<DriftSection> {
    use crate::pipeline::source::Source;
    let src = crate::pipeline::source::WorkTree(root);
    let text = match src.read("mlci.yaml") {
        Ok(Some(t)) if !t.trim().is_empty() => t,
        Ok(_) => return Ok(DriftSection::default()),
        Err(e) => {
            return Err(crate::error::hinted(
                format!("mlci.yaml: {}", e.message),
                e.hint.unwrap_or_default(),
            ))
        }
    };
    let wire: FileWire = crate::yaml::parse(&text, Path::new("mlci.yaml"))?;
    Ok(wire.drift.unwrap_or_default())
}

/// One side: a file, a directory of shards, or `PATH@REV`.
fn load_side(ctx: &Ctx, spec: &str, kinds: &BTreeMap<String, Kind>) -> anyhow::Result<Table> {
    let plain = ctx.cwd.join(spec);
    if plain.exists() {
        return read_path(&plain, spec, kinds);
    }
    if let Some((path, rev)) = spec.rsplit_once('@') {
        return super::drift_rev::read_at(ctx, path, rev, kinds);
    }
    Err(TableError::Read {
        file: spec.into(),
        message: "no such file or directory".into(),
    }
    .into())
}

/// A file, or every supported file below a directory (shards, in name
/// order, concatenated).
pub(crate) fn read_path(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
) -> anyhow::Result<Table> {
    if !path.is_dir() {
        return Ok(table::read(path, shown, kinds)?);
    }
    let mut shards: Vec<PathBuf> = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("csv" | "tsv" | "jsonl" | "ndjson" | "parquet" | "pq")
            )
        })
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(TableError::Empty { file: shown.into() }.into());
    }
    let mut all = Table::default();
    for s in &shards {
        let rel = s.strip_prefix(path).unwrap_or(s).display().to_string();
        let t = table::read(s, &format!("{shown}/{rel}"), kinds)?;
        append(&mut all, t);
    }
    Ok(all)
}

/// Appends shard `t` to `all` (columns matched by name).
pub(crate) fn append(all: &mut Table, t: Table) {
    let before = all.rows;
    for mut col in t.columns {
        match all.columns.iter_mut().find(|c| c.name == col.name) {
            Some(c) => {
                c.missing += col.missing;
                c.numbers.append(&mut col.numbers);
                // Categories re-coded into the first shard's dictionary.
                for code in col.codes {
                    let name = &col.categories[code as usize];
                    let idx = match c.categories.iter().position(|x| x == name) {
                        Some(i) => i,
                        None => {
                            c.categories.push(name.clone());
                            c.categories.len() - 1
                        }
                    };
                    c.codes.push(idx as u32);
                }
            }
            None => {
                col.missing += before;
                all.columns.push(col);
            }
        }
    }
    all.rows += t.rows;
}

fn fmt(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

/// The table (or Markdown) of a comparison.
fn render(d: &Drift, md: bool) -> String {
    let rows: Vec<Vec<String>> = d
        .columns
        .iter()
        .map(|c| {
            vec![
                c.column.clone(),
                c.kind.as_str().into(),
                c.method.as_str().into(),
                fmt(c.statistic),
                c.p_value.map(fmt).unwrap_or_else(|| "-".into()),
                fmt(c.threshold),
                if c.drifted { "drift" } else { "-" }.into(),
            ]
        })
        .collect();
    let header = [
        "column",
        "type",
        "method",
        "statistic",
        "p-value",
        "threshold",
        "drifted",
    ];
    let mut out = if md {
        crate::review::metrics::diff::md_table(&header, &rows)
    } else {
        crate::review::metrics::diff::plain_table(&header, &rows)
    };
    let ds = &d.dataset;
    let line = format!(
        "{} of {} columns drifted (share {:.2}, threshold {:.2}): {}",
        ds.drifted_columns,
        ds.columns,
        ds.share,
        ds.threshold,
        if ds.drifted {
            "the dataset drifts"
        } else {
            "no dataset drift"
        }
    );
    out.push_str(&if md {
        format!("\n**{line}**\n")
    } else {
        format!("\n{line}\n")
    });
    out
}
