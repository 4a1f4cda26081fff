//! The steps of a CI job that `mlci ci` and `mlci retrain` share, in
//! order: open the remote (optional), pull (fetch, restore, install a
//! fan-out's records), repro (collecting what ran for the report), push.
//! Each step is one call into the domain; the job keeps the first error,
//! which never stops the report from being built.

mod ran;
pub(super) use ran::{pipeline_run, Collect, Ran};

use std::sync::{Arc, Mutex};

use crate::ci::env::CiEnv;
use crate::ci::workflow;
use crate::pipeline::repro::{repro, ReproOptions};
use crate::pipeline::runcache::ObjectSource;
use crate::pipeline::Pipeline;
use crate::remote::Remote;
use crate::repo::format::Format;
use crate::repo::Repo;
use crate::sync::{RemoteSource, Session};
use crate::track::Workspace;

use super::stages::{interrupt_flag, run_fenced, Printing};
use super::Ctx;

/// The job's state between steps: the repository, the remote once opened,
/// and the first error, which never stops the report from being published.
pub(super) struct Job<'c> {
    pub(super) ctx: &'c Ctx<'c>,
    pub(super) env: CiEnv,
    pub(super) repo: Repo,
    pub(super) pipeline: Pipeline,
    pub(super) remote: Option<Remote>,
    pub(super) error: Option<anyhow::Error>,
    /// Stages rerun although nothing they read changed (`mlci retrain
    /// --force-stage`), before the normal repro.
    pub(super) force: Vec<String>,
    /// Whether the remote may be read (`--no-pull`: no remote traffic, so
    /// the run cache's remote source is off too).
    pub(super) pull: bool,
}

impl Job<'_> {
    /// Keeps the first error of the job.
    pub(super) fn fail(&mut self, e: anyhow::Error) {
        self.error.get_or_insert(e);
    }
}

/// The remote is optional: with none configured, pull and push are
/// skipped with one notice (docs/design.md §4).
pub(super) fn step_open_remote(job: &mut Job) {
    match crate::sync::open(&job.repo.settings, &job.repo.root) {
        Ok(Some(r)) => job.remote = Some(r),
        Ok(None) => job
            .ctx
            .printer
            .info("no remote configured: pull and push skipped"),
        Err(e) => job.fail(e.into()),
    }
}

/// The transfer session of a pull or push step (the whole workspace).
fn session<'a>(
    job: &'a Job<'_>,
    remote: &'a Remote,
    run_cache: bool,
    reporter: &'a dyn crate::progress::Reporter,
) -> Session<'a> {
    Session {
        repo: &job.repo,
        remote,
        run_cache,
        reporter,
    }
}

/// Fetches data and run records, then checks the workspace out.
pub(super) fn step_pull(job: &mut Job, run_cache: bool) {
    let Some(r) = &job.remote else { return };
    if job.repo.format == Format::Dvc {
        let pulled = dvc_move(job, r, super::transfers::DvcMove::Pull);
        return after_transfer(job, pulled, "pull and push skipped");
    }
    let tracked = crate::targets::select_with_lock_outs(&job.repo, &job.repo.root, &[]);
    let reporter = super::reporter::for_printer(job.ctx.printer);
    let fetched = job
        .repo
        .lock()
        .map_err(anyhow::Error::from)
        .and_then(|_lock| {
            let outcome =
                crate::sync::fetch(&session(job, r, run_cache, reporter.as_ref()), &tracked?);
            match outcome {
                Err(e) if e.is_auth() && job.env.from_fork() => Ok(false),
                Err(e) => Err(e.into()),
                Ok(o) => super::transfers::tell_fetch(job.ctx, r, &o)
                    .and_then(|()| super::transfers::restore(job.ctx, &job.repo, &[], false))
                    .and_then(|()| join_records(job, r))
                    .map(|()| true),
            }
        });
    match fetched {
        Ok(true) => {}
        Ok(false) => {
            job.ctx.printer.warn(&format!(
                "remote `{}` has no usable credentials (a fork's pull request has none): pull and push skipped",
                r.name
            ));
            job.remote = None;
        }
        Err(e) => job.fail(e),
    }
}

/// The join of a fan-out: every stage a worker recorded for this commit is
/// installed (lock entry and outputs) before the repro, so it does not run
/// again; a stage that failed on a worker runs here (and fails here).
fn join_records(job: &Job, r: &Remote) -> anyhow::Result<()> {
    let Ok(commit) = crate::sync::fanout::head(&job.repo) else {
        return Ok(());
    };
    let reporter = super::reporter::for_printer(job.ctx.printer);
    let failed = crate::sync::fanout::install_records(
        reporter.as_ref(),
        &job.repo,
        &job.pipeline,
        r,
        &commit,
    )?;
    for (stage, why) in failed {
        job.ctx.printer.warn(&format!(
            "stage `{stage}` failed on a fan-out worker: {why}"
        ));
    }
    Ok(())
}

/// Reruns the stale stages (restoring from the run cache and the remote
/// where it can); returns the stages that ran, with their reasons.
pub(super) fn step_repro(
    job: &mut Job,
    jobs: usize,
    run_cache: bool,
    stages_see_ci_secrets: bool,
) -> anyhow::Result<Ran> {
    let collect = Collect {
        print: Printing {
            printer: job.ctx.printer,
        },
        ran: Mutex::new(Vec::new()),
        failed: Mutex::new(None),
    };
    if job.pipeline.stages.is_empty() {
        return Ok(Ran {
            stages: Vec::new(),
            failed: None,
        });
    }
    let _lock = job.repo.lock()?;
    let interrupted = interrupt_flag()?;
    if job.repo.format == Format::Dvc {
        let withheld = workflow::withheld_env(stages_see_ci_secrets);
        let result = run_fenced(job.ctx.printer, || {
            let run = |selection: &crate::dvc::repro::Selection| {
                crate::dvc::repro::repro(
                    &job.repo.root,
                    &job.pipeline,
                    selection,
                    &withheld,
                    &collect,
                    &interrupted,
                )
            };
            // The stages `--force-stage` names first, then the rest as
            // they stand (as in mlci's format).
            if !job.force.is_empty() {
                run(&crate::dvc::repro::Selection {
                    names: job.force.clone(),
                    force: true,
                    ..Default::default()
                })?;
            }
            // DVC's remote as a second run cache: what a worker or an
            // earlier run pushed is restored, not run again.
            run(&crate::dvc::repro::Selection {
                remote: job.remote.as_ref().filter(|_| run_cache && job.pull),
                no_run_cache: !run_cache,
                ..Default::default()
            })
        })?;
        if let Err(e) = result {
            job.fail(e.into());
        }
        return Ok(Ran {
            stages: collect.ran.into_inner().expect("lock"),
            failed: collect.failed.into_inner().expect("lock"),
        });
    }
    // The run cache's second source gets a remote of its own (it fetches
    // from the stages' worker threads).
    let source = match &job.remote {
        Some(_) if run_cache && job.pull => crate::sync::open(&job.repo.settings, &job.repo.root)?
            .map(|r| RemoteSource::new(&job.repo, r).map(Arc::new))
            .transpose()?,
        _ => None,
    };
    let mut opts = ReproOptions {
        jobs,
        run_cache,
        objects: source.clone().map(|s| s as Arc<dyn ObjectSource>),
        ..Default::default()
    };
    // `mlci ci` withholds the runner's secrets from stages everywhere, not
    // only in Actions: it is the job that holds a publishing token.
    opts.withheld_env = workflow::withheld_env(stages_see_ci_secrets);
    let mut ws = Workspace::open(&job.repo);
    let result = run_fenced(job.ctx.printer, || {
        if !job.force.is_empty() {
            let forced = ReproOptions {
                targets: job.force.clone(),
                force: true,
                ..opts.clone()
            };
            repro(&mut ws, &job.pipeline, &forced, &collect, &interrupted)?;
        }
        repro(&mut ws, &job.pipeline, &opts, &collect, &interrupted)
    })?;
    ws.finish()?;
    if let Some(s) = &source {
        s.finish()?;
    }
    if let Err(e) = result {
        job.fail(e.into());
    }
    Ok(Ran {
        stages: collect.ran.into_inner().expect("lock"),
        failed: collect.failed.into_inner().expect("lock"),
    })
}

/// A pull or push of a DVC repository used in place (`crate::dvc::sync`):
/// Ok(false) when the remote refuses the credentials of a fork's run.
fn dvc_move(job: &Job, r: &Remote, what: super::transfers::DvcMove) -> anyhow::Result<bool> {
    let _lock = job.repo.lock()?;
    match super::transfers::move_dvc(job.ctx, &job.repo, r, &job.pipeline, &[], what) {
        Err(e) if job.env.from_fork() && is_auth(&e) => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    }
}

fn is_auth(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::dvc::DvcError>(),
        Some(crate::dvc::DvcError::Remote(
            crate::remote::RemoteError::Auth { .. }
        ))
    )
}

/// Keeps a transfer's error, or says why a fork's run skips the remote.
fn after_transfer(job: &mut Job, done: anyhow::Result<bool>, skipped: &str) {
    match done {
        Ok(true) => {}
        Ok(false) => {
            let name = job.remote.as_ref().map_or("", |r| r.name.as_str());
            job.ctx.printer.warn(&format!(
                "remote `{name}` has no usable credentials (a fork's pull request has none): {skipped}"
            ));
            job.remote = None;
        }
        Err(e) => job.fail(e),
    }
}

/// Pushes new outputs and run records.
pub(super) fn step_push(job: &mut Job, run_cache: bool) {
    let Some(r) = &job.remote else { return };
    if job.repo.format == Format::Dvc {
        let pushed = dvc_move(job, r, super::transfers::DvcMove::Push);
        return after_transfer(job, pushed, "push skipped");
    }
    let tracked = crate::targets::select_with_lock_outs(&job.repo, &job.repo.root, &[]);
    let reporter = super::reporter::for_printer(job.ctx.printer);
    let pushed = job
        .repo
        .lock()
        .map_err(anyhow::Error::from)
        .and_then(|_lock| {
            match crate::sync::push(&session(job, r, run_cache, reporter.as_ref()), &tracked?) {
                Err(e) if e.is_auth() && job.env.from_fork() => Ok(None),
                Err(e) => Err(e.into()),
                Ok(o) => Ok(Some(o)),
            }
        });
    match pushed {
        Ok(Some(outcome)) => super::transfers::tell_push(job.ctx, r, &outcome),
        Ok(None) => job.ctx.printer.warn(&format!(
            "remote `{}` has no usable credentials (a fork's pull request has none): push skipped",
            r.name
        )),
        Err(e) => job.fail(e),
    }
}
