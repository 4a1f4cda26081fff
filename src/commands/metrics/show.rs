//! `mlci metrics show`: the metrics the pipeline declares, at one revision.

use crate::exit::Exit;
use std::collections::BTreeMap;

use clap::Args;

use crate::config::Overrides;
use serde_json::Value as Json;

use crate::review::compare::{files, Kind};
use crate::review::metrics::diff::{fmt_value, md_table, plain_table};
use crate::revision::{Rev, RevReader};

use super::super::Ctx;
use super::{Format, FormatArgs};

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

pub(super) fn show(ctx: &Ctx, args: ShowArgs) -> anyhow::Result<Exit> {
    let ShowArgs { rev, format } = args;
    let repo = ctx.repo_in_place(&Overrides::default())?;
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
