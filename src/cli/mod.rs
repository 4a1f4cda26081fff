//! The command line: clap derive structs only, no I/O. Each subcommand's
//! arguments live next to its implementation in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    add, checkout, ci, dag, diff, drift, exp, export, fetch, gate, gc, import_dvc, init, metrics,
    model, monitor, plan, plots, push, remote, remove, report, repro, retrain, status,
};

/// mlci: the ML lifecycle in Git and CI.
///
/// Tracks large data and model files by content hash, keeps them in a local
/// cache, and restores them on any machine.
#[derive(Debug, Parser)]
#[command(name = "mlci", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only data and errors (no notices).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Run as if mlci was started in DIR.
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Add(add::AddArgs),
    Status(status::StatusArgs),
    Checkout(checkout::CheckoutArgs),
    Remove(remove::RemoveArgs),
    Gc(gc::GcArgs),
    Fsck(crate::commands::fsck::FsckArgs),
    Repro(repro::ReproArgs),
    Dag(dag::DagArgs),
    Diff(diff::DiffArgs),
    Metrics(metrics::MetricsArgs),
    Params(metrics::ParamsArgs),
    Report(report::ReportArgs),
    Gate(gate::GateArgs),
    Ci(ci::CiArgs),
    Remote(remote::RemoteArgs),
    Push(push::PushArgs),
    Fetch(fetch::FetchArgs),
    ImportDvc(import_dvc::ImportDvcArgs),
    Pull(fetch::PullArgs),
    Model(model::ModelArgs),
    Retrain(retrain::RetrainArgs),
    Drift(drift::DriftArgs),
    Monitor(monitor::MonitorArgs),
    Plan(plan::PlanArgs),
    Plots(plots::PlotsArgs),
    Export(export::ExportArgs),
    Exp(exp::ExpArgs),
}
