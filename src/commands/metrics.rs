//! `mlci metrics show|diff` and `mlci params diff`.

use crate::exit::Exit;
use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::Value as Json;

use crate::config::Overrides;
use crate::review::compare::{compare, files, Kind};
use crate::review::metrics::diff::{arrow, fmt_change, fmt_value, md_table, plain_table, Row};
use crate::review::metrics::{Rev, RevReader};

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
