//! The `mlci metrics` and `mlci params` command groups, one file per
//! subcommand; the comparison itself is the review domain's.

mod diff;
mod prometheus;
mod show;

pub use diff::DiffArgs;
pub use show::ShowArgs;

use crate::exit::Exit;

use clap::{Args, Subcommand};

use crate::review::compare::Kind;

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
    Export(prometheus::ExportArgs),
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

pub fn cmd_metrics(ctx: &Ctx, args: MetricsArgs) -> anyhow::Result<Exit> {
    match args.command {
        MetricsCommand::Show(a) => show::show(ctx, a),
        MetricsCommand::Diff(a) => diff::run_diff(ctx, a, Kind::Metrics),
        MetricsCommand::Export(a) => prometheus::cmd_export(ctx, a),
    }
}

pub fn cmd_params(ctx: &Ctx, args: ParamsArgs) -> anyhow::Result<Exit> {
    match args.command {
        ParamsCommand::Diff(a) => diff::run_diff(ctx, a, Kind::Params),
    }
}
