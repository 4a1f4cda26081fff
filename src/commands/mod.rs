//! One module per subcommand: its `XArgs` (whose doc comment is its
//! `--help`) and `cmd_x`. This layer owns printing and progress bars; the
//! domain below it only returns values and typed errors.

pub mod add;
pub mod checkout;
pub mod ci;
pub mod dag;
pub mod diff;
pub mod drift;
pub mod exp;
pub mod export;
pub mod fetch;
pub mod fsck;
pub mod gate;
pub mod gc;
pub mod import_dvc;
pub mod init;
mod job;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod plots;
pub mod push;
pub mod remote;
pub mod remove;
pub mod report;
pub mod reporter;
pub mod repro;
pub mod retrain;
pub mod stages;
pub mod status;
pub mod transfers;

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::config::Overrides;
use crate::exit::Exit;
use crate::printer::Printer;
use crate::repo::Repo;

/// Resolves the global settings and runs one command; returns the exit code.
pub fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<Exit> {
    let Cli { global, command } = cli;
    let cwd = match global.directory {
        Some(dir) => std::env::current_dir()
            .context("reading the current directory")?
            .join(dir),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let ctx = Ctx { cwd, printer };
    match command {
        Command::Init(args) => init::cmd_init(&ctx, args),
        Command::Add(args) => add::cmd_add(&ctx, args),
        Command::Status(args) => status::cmd_status(&ctx, args),
        Command::Checkout(args) => checkout::cmd_checkout(&ctx, args),
        Command::Remove(args) => remove::cmd_remove(&ctx, args),
        Command::Gc(args) => gc::cmd_gc(&ctx, args),
        Command::Fsck(args) => fsck::cmd_fsck(&ctx, args),
        Command::Repro(args) => repro::cmd_repro(&ctx, args),
        Command::Dag(args) => dag::cmd_dag(&ctx, args),
        Command::Diff(args) => diff::cmd_diff(&ctx, args),
        Command::Metrics(args) => metrics::cmd_metrics(&ctx, args),
        Command::Params(args) => metrics::cmd_params(&ctx, args),
        Command::Report(args) => report::cmd_report(&ctx, args),
        Command::Gate(args) => gate::cmd_gate(&ctx, args),
        Command::Ci(args) => ci::cmd_ci(&ctx, args),
        Command::Remote(args) => remote::cmd_remote(&ctx, args),
        Command::Push(args) => push::cmd_push(&ctx, args),
        Command::Fetch(args) => fetch::cmd_fetch(&ctx, args),
        Command::Pull(args) => fetch::cmd_pull(&ctx, args),
        Command::ImportDvc(args) => import_dvc::cmd_import_dvc(&ctx, args),
        Command::Model(args) => model::cmd_model(&ctx, args),
        Command::Retrain(args) => retrain::cmd_retrain(&ctx, args),
        Command::Drift(args) => drift::cmd_drift(&ctx, args),
        Command::Monitor(args) => monitor::cmd_monitor(&ctx, args),
        Command::Plan(args) => plan::cmd_plan(&ctx, args),
        Command::Plots(args) => plots::cmd_plots(&ctx, args),
        Command::Export(args) => export::cmd_export(&ctx, args),
        Command::Exp(args) => exp::cmd_exp(&ctx, args),
    }
}

/// What every command gets: where it runs and how to print.
pub struct Ctx<'p> {
    pub cwd: PathBuf,
    pub printer: &'p Printer,
}

impl Ctx<'_> {
    /// The repository in mlci's own format (a DVC repository used in
    /// place is refused with a hint naming the commands that work there).
    pub fn repo(&self, overrides: &Overrides) -> anyhow::Result<Repo> {
        let repo = Repo::discover(&self.cwd, overrides)?;
        Ok(self.masking(repo))
    }

    /// The repository in either format: for commands whose work does not
    /// depend on it (metrics, plots, reports, gates) or that branch on
    /// `repo.format` where it does (`ci`).
    pub fn repo_in_place(&self, overrides: &Overrides) -> anyhow::Result<Repo> {
        let root = crate::repo::find_root(&self.cwd)?;
        if crate::repo::format::Format::of(&root) == Some(crate::repo::format::Format::Dvc) {
            let repo = crate::dvc::config::open(&root, overrides)?;
            return Ok(self.masking(repo));
        }
        self.repo(overrides)
    }

    fn masking(&self, repo: Repo) -> Repo {
        // Credentials kept in the (local) config are masked like those of
        // the environment, in every line this command prints.
        for remote in repo.settings.remotes.values() {
            for key in crate::remote::location::SECRET_KEYS {
                if let Some(v) = remote.options.get(*key).and_then(|v| v.as_str()) {
                    self.printer.secrets().add(v);
                }
            }
        }
        repo
    }
}

/// The files a command wrote that git should record: staged when the
/// project asks for it (DVC's `core.autostage` in `.dvc/config`), else
/// named after `ask` as the `git add` to run.
pub fn record_in_git(
    ctx: &Ctx,
    root: &std::path::Path,
    ask: &str,
    files: &[String],
) -> anyhow::Result<()> {
    if crate::migrate::dvc_config::read(root).autostage {
        crate::git::stage_files(root, files)?;
        ctx.printer.info(&format!(
            "staged in git (core.autostage): {}",
            files.join(" ")
        ));
    } else {
        ctx.printer
            .info(&format!("{ask}\n  git add {}", files.join(" ")));
    }
    Ok(())
}

/// Says once per run which pipeline keys mlci accepts but does not act on.
pub fn note_unused_keys(ctx: &Ctx, pipeline: &crate::pipeline::Pipeline) {
    if !pipeline.unused_keys.is_empty() {
        ctx.printer.info(&format!(
            "note: accepted but not acted on yet: {}",
            pipeline.unused_keys.join(", ")
        ));
    }
}

/// `1.2 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The "Experiments" section (experiments recorded on HEAD): a table that
/// cannot be read is left out with a warning, never failing the report.
pub(crate) fn experiments_section(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    pipeline: &crate::pipeline::Pipeline,
) -> Option<crate::review::report::ExperimentsView> {
    match crate::experiments::table::report_view(repo, pipeline) {
        Ok(view) => view,
        Err(e) => {
            ctx.printer
                .warn(&format!("the experiments section is left out: {e:#}"));
            None
        }
    }
}
