//! `mlci metrics diff` and `mlci params diff`: how values changed between
//! two revisions.

use crate::exit::Exit;

use clap::Args;

use crate::config::Overrides;
use crate::review::compare::{compare, Kind};
use crate::review::metrics::diff::{arrow, fmt_change, fmt_value, md_table, plain_table, Row};

use super::super::Ctx;
use super::{Format, FormatArgs};

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

pub(super) fn run_diff(ctx: &Ctx, args: DiffArgs, kind: Kind) -> anyhow::Result<Exit> {
    let DiffArgs {
        base,
        target,
        all,
        format,
    } = args;
    let repo = ctx.repo_in_place(&Overrides::default())?;
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
            "base": { "rev": base_label, "commit": base_rev.commit() },
            "target": { "rev": target_rev.label(), "commit": target_rev.commit() },
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
