//! `mlci repro`: rerun the stages whose inputs changed.

use crate::exit::Exit;
use std::sync::Arc;

use clap::Args;

use crate::config::Overrides;
use crate::pipeline::repro::{repro, Outcome, ReproOptions};
use crate::track::Workspace;

use super::stages::{interrupt_flag, run_fenced, Printing};
use super::Ctx;

/// Rerun the pipeline stages whose inputs changed, in dependency order, and
/// record what ran in mlci.lock.
///
/// A stage runs when it never ran, its command, a dep or a param changed,
/// an output is missing or modified, or it is `always_changed`. With the run
/// cache (on by default) a stage that already ran with exactly these inputs
/// has its outputs restored from the cache instead of running again.
#[derive(Debug, Args)]
pub struct ReproArgs {
    /// Stages to bring up to date (with everything upstream); all when omitted.
    /// A `foreach`/`matrix` group name selects all its stages.
    #[arg(value_name = "STAGE")]
    pub targets: Vec<String>,
    /// Run the selected stages even when they are up to date.
    #[arg(short, long)]
    pub force: bool,
    /// Print what would run and why, without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Also run the stages downstream of the targets.
    #[arg(long)]
    pub downstream: bool,
    /// Keep running independent stages after one fails.
    #[arg(short, long)]
    pub keep_going: bool,
    /// Run up to N independent stages at once.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Do not restore outputs from the run cache; always run.
    #[arg(long)]
    pub no_run_cache: bool,
    /// Get outputs the run cache names but the local cache lacks from the
    /// remote (the default one, or `-r NAME`), so a stage computed on
    /// another machine is restored instead of run. Run records come with
    /// `mlci fetch`/`mlci pull`.
    #[arg(long)]
    pub pull: bool,
    /// The remote for `--pull`.
    #[arg(short, long, value_name = "NAME", requires = "pull")]
    pub remote: Option<String>,
    /// In GitHub Actions, let stage commands inherit the publishing token
    /// and the runner's command files (GITHUB_TOKEN, GITHUB_OUTPUT,
    /// GITHUB_ENV, …), which they do not see by default. Also
    /// MLCI_STAGES_SEE_CI_SECRETS=1.
    #[arg(long)]
    pub stages_see_ci_secrets: bool,
}

pub fn cmd_repro(ctx: &Ctx, args: ReproArgs) -> anyhow::Result<Exit> {
    let ReproArgs {
        targets,
        force,
        dry_run,
        downstream,
        keep_going,
        jobs,
        no_run_cache,
        pull,
        remote,
        stages_see_ci_secrets,
    } = args;
    let repo = ctx.repo(&Overrides {
        remote,
        ..Overrides::default()
    })?;
    let _lock = repo.lock()?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    super::note_unused_keys(ctx, &pipeline);
    if pipeline.stages.is_empty() {
        ctx.printer
            .info("no stages: define them under `stages:` in mlci.yaml (or dvc.yaml)");
        return Ok(Exit::Ok);
    }
    let interrupted = interrupt_flag()?;
    let source = if pull {
        let remote = crate::sync::require(&repo.settings, &repo.root)?;
        Some(Arc::new(crate::sync::RemoteSource::new(&repo, remote)?))
    } else {
        None
    };
    let mut opts = ReproOptions {
        targets,
        force,
        dry_run,
        downstream,
        keep_going,
        jobs,
        run_cache: !no_run_cache,
        objects: source
            .clone()
            .map(|s| s as Arc<dyn crate::pipeline::runcache::ObjectSource>),
        withheld_env: Vec::new(),
    };
    let mut ws = Workspace::open(&repo);
    // In Actions, stages do not inherit what the runner hands mlci.
    if crate::ci::env::in_actions() {
        opts.withheld_env = crate::ci::workflow::withheld_env(stages_see_ci_secrets);
    }
    let result = run_fenced(ctx.printer, || {
        repro(
            &mut ws,
            &pipeline,
            &opts,
            &Printing {
                printer: ctx.printer,
            },
            &interrupted,
        )
    })?;
    ws.finish()?;
    if let Some(s) = &source {
        s.finish()?;
    }
    let outcomes = result?;
    let ran = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Ran | Outcome::Restored))
        .count();
    if dry_run {
        if !outcomes.values().any(|o| *o == Outcome::WouldRun) {
            ctx.printer.info("every stage is up to date");
        }
    } else if ran == 0 {
        ctx.printer.info("every stage is up to date");
    } else {
        ctx.printer.info(&format!(
            "updated mlci.lock; to record it, run:\n  git add mlci.lock {}",
            gitignores(&pipeline)
        ));
    }
    Ok(Exit::Ok)
}

fn gitignores(p: &crate::pipeline::Pipeline) -> String {
    let mut v: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| s.outs.iter().filter(|o| o.cache))
        .map(|o| match o.path.rfind('/') {
            Some(i) => format!("{}/.gitignore", &o.path[..i]),
            None => ".gitignore".into(),
        })
        .collect();
    v.sort();
    v.dedup();
    v.join(" ")
}
