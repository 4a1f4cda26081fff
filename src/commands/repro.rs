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
    /// Print what would run and why, without running anything (`--dry`,
    /// DVC's spelling, works too).
    #[arg(long, alias = "dry")]
    pub dry_run: bool,
    /// Every stage of every pipeline file: what mlci does without targets
    /// anyway (accepted so DVC's `repro --all-pipelines` scripts run).
    #[arg(short = 'P', long, conflicts_with = "targets")]
    pub all_pipelines: bool,
    /// The whole pipeline each target belongs to: every stage connected to
    /// it, upstream or downstream (DVC's `--pipeline`).
    #[arg(short = 'p', long)]
    pub pipeline: bool,
    /// Targets are directories: every stage of the `dvc.yaml` files at or
    /// below each (DVC's `--recursive`).
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Run the targets and the stages downstream of them, not the stages
    /// that feed them (DVC's `--downstream`).
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
    /// Use the remote (the default one, or `-r NAME`) as a second run
    /// cache: a run key the local cache lacks is looked up there, and the
    /// outputs a record names are fetched, so a stage computed on another
    /// machine is restored instead of run. Also installs the fan-out
    /// workers' records for this commit (see `--single-item`).
    #[arg(long)]
    pub pull: bool,
    /// The remote for `--pull`.
    #[arg(short, long, value_name = "NAME", requires = "pull")]
    pub remote: Option<String>,
    /// Run only STAGE (several `-s` allowed), none upstream of it: a
    /// fan-out worker. With `--pull`, its upstream stages' outputs come
    /// from their records for this commit on the remote.
    #[arg(
        short = 's',
        long = "single-item",
        value_name = "STAGE",
        requires = "pull"
    )]
    pub single_item: Vec<String>,
    /// Push the outputs and run records after the repro; a worker also
    /// publishes each stage's record for this commit (a failure too).
    #[arg(long, requires = "pull")]
    pub push: bool,
    /// With `--pull`: run nothing; install every stage's record for this
    /// commit and restore from the run cache, and exit 2 naming each stage
    /// that has a failure record or no record.
    #[arg(long, requires = "pull", conflicts_with = "single_item")]
    pub restore_only: bool,
    /// In GitHub Actions, let stage commands inherit the publishing token
    /// and the runner's command files (GITHUB_TOKEN, GITHUB_OUTPUT,
    /// GITHUB_ENV, …), which they do not see by default. Also
    /// MLCI_STAGES_SEE_CI_SECRETS=1.
    #[arg(long)]
    pub stages_see_ci_secrets: bool,
}

/// `mlci repro` in a DVC repository used in place (`dvc::repro`): the
/// stages one after another (`-j` is accepted and runs them in order, as
/// `dvc repro` does). With `--pull`, DVC's remote is a second run cache
/// (DVC's `runs/` layout); a fan-out worker (`-s STAGE`) restores what is
/// upstream of it from there and runs only its stages, the join
/// (`--restore-only`) runs none; `--push` sends the outputs and the
/// run-cache entries of what ran.
fn dvc_repro(ctx: &Ctx, root: &std::path::Path, a: &ReproArgs) -> anyhow::Result<Exit> {
    let repo = crate::dvc::config::open(
        root,
        &Overrides {
            remote: a.remote.clone(),
            ..Overrides::default()
        },
    )?;
    let remote = match a.pull {
        true if repo.settings.remotes.is_empty() => {
            anyhow::bail!(crate::dvc::DvcError::NoRemote)
        }
        true => Some(crate::sync::require(&repo.settings, root)?),
        false => None,
    };
    let pipeline = crate::pipeline::load(root)?;
    if pipeline.stages.is_empty() {
        ctx.printer
            .info("no stages: define them under `stages:` in dvc.yaml");
        return Ok(Exit::Ok);
    }
    let single = !a.single_item.is_empty();
    let mut names = match single {
        true => a.single_item.clone(),
        false => widen_targets(&pipeline, a.targets.clone(), a.recursive, a.pipeline)?,
    };
    // As `dvc repro` at the root: no target is the root `dvc.yaml`'s
    // stages (and what feeds them); `-P` is every pipeline file's, and so
    // is the fan-out's join (`--pull`), as `mlci plan` planned them.
    if names.is_empty() && !a.all_pipelines && !a.pull {
        names = pipeline
            .stages
            .iter()
            .filter(|s| !s.name.contains("/dvc.yaml:"))
            .map(|s| s.name.clone())
            .collect();
    }
    // As `dvc repro --pull`: the data the `.dvc` files track, before
    // anything is judged (a worker's checkout has none of it).
    let pointers = crate::migrate::dvc_files_in(root);
    if let (Some(r), false) = (&remote, pointers.is_empty()) {
        super::transfers::move_dvc(
            ctx,
            &repo,
            r,
            &pipeline,
            &pointers,
            super::transfers::DvcMove::Pull,
        )?;
    }
    let interrupted = interrupt_flag()?;
    let ran = run_fenced(ctx.printer, || {
        crate::dvc::repro::repro(
            root,
            &pipeline,
            &crate::dvc::repro::Selection {
                names,
                downstream: a.downstream,
                force: a.force,
                dry_run: a.dry_run,
                keep_going: a.keep_going,
                no_run_cache: a.no_run_cache,
                remote: remote.as_ref(),
                single,
                restore_only: a.restore_only,
            },
            &[],
            &Printing {
                printer: ctx.printer,
            },
            &interrupted,
        )
    })??;
    if a.dry_run {
        return Ok(Exit::Ok);
    }
    if let (true, Some(r)) = (a.push, &remote) {
        super::transfers::move_dvc(
            ctx,
            &repo,
            r,
            &pipeline,
            &[],
            super::transfers::DvcMove::Push,
        )?;
        let cache = crate::dvc::config::cache_root(root);
        // What the entries name, uncached outputs included, so another
        // machine can restore them (as `dvc push --run-cache`).
        let named: Vec<crate::dvc::sync::Out> = ran
            .entries
            .iter()
            .flat_map(crate::dvc::runcache::outs)
            .collect();
        crate::dvc::sync::push(root, r, &named, &crate::progress::Silent)?;
        let sent = crate::dvc::runcache::push(&cache, r, &ran.entries)?;
        ctx.printer.info(&format!(
            "{sent} run-cache entr{} pushed",
            if sent == 1 { "y" } else { "ies" }
        ));
    }
    if ran.ran.is_empty() {
        ctx.printer.info("every stage is up to date");
    } else {
        // Each lock written (a nested `dvc.yaml`'s beside it) and the
        // `.gitignore` files naming the outputs.
        let mut files: Vec<String> = ran
            .ran
            .iter()
            .map(|name| match name.split_once("dvc.yaml:") {
                Some((dir, _)) if !dir.is_empty() => format!("{dir}dvc.lock"),
                _ => "dvc.lock".to_string(),
            })
            .chain(gitignores(&pipeline))
            .collect();
        files.sort();
        files.dedup();
        super::record_in_git(ctx, root, "updated dvc.lock; to record it, run:", &files)?;
    }
    Ok(Exit::Ok)
}

pub fn cmd_repro(ctx: &Ctx, args: ReproArgs) -> anyhow::Result<Exit> {
    if let Ok(root) = crate::repo::find_root(&ctx.cwd) {
        if crate::repo::format::Format::of(&root) == Some(crate::repo::format::Format::Dvc) {
            return dvc_repro(ctx, &root, &args);
        }
    }
    let ReproArgs {
        targets,
        force,
        dry_run,
        all_pipelines: _,
        pipeline: whole_pipeline,
        recursive,
        downstream,
        keep_going,
        jobs,
        no_run_cache,
        pull,
        remote,
        single_item,
        push,
        restore_only,
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
    let targets = widen_targets(&pipeline, targets, recursive, whole_pipeline)?;
    let interrupted = interrupt_flag()?;
    let source = if pull {
        let remote = crate::sync::require(&repo.settings, &repo.root)?;
        Some(Arc::new(crate::sync::RemoteSource::new(&repo, remote)?))
    } else {
        None
    };
    let fan = Fan::new(&repo, pull, single_item, (push, restore_only))?;
    if let Some(f) = &fan {
        f.before(ctx, &repo, &pipeline)?;
    }
    let targets = match &fan {
        Some(f) if !f.stages.is_empty() => f.stages.clone(),
        _ => targets,
    };
    let mut opts = ReproOptions {
        single_item: fan.as_ref().is_some_and(|f| !f.stages.is_empty()),
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
    if let Some(f) = &fan {
        f.after(ctx, &repo, &result)?;
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
        let files: Vec<String> = std::iter::once(crate::pipeline::lock::LOCK_FILE.to_string())
            .chain(gitignores(&pipeline))
            .collect();
        super::record_in_git(
            ctx,
            &repo.root,
            "updated mlci.lock; to record it, run:",
            &files,
        )?;
    }
    Ok(Exit::Ok)
}

/// A fan-out step around the repro (see `fanout.rs`): a worker's stages,
/// or the join, at this commit.
struct Fan {
    remote: crate::remote::Remote,
    commit: String,
    /// A worker's stages; empty for the join.
    stages: Vec<String>,
    push: bool,
    restore_only: bool,
}

impl Fan {
    fn new(
        repo: &crate::repo::Repo,
        pull: bool,
        stages: Vec<String>,
        (push, restore_only): (bool, bool),
    ) -> anyhow::Result<Option<Fan>> {
        if !pull {
            return Ok(None);
        }
        Ok(Some(Fan {
            remote: crate::sync::require(&repo.settings, &repo.root)?,
            commit: crate::sync::fanout::head(repo)?,
            stages,
            push,
            restore_only,
        }))
    }

    /// A worker brings its upstream outputs; the join installs records.
    fn before(
        &self,
        ctx: &Ctx,
        repo: &crate::repo::Repo,
        pipeline: &crate::pipeline::Pipeline,
    ) -> anyhow::Result<()> {
        let reporter = super::reporter::for_printer(ctx.printer);
        let reporter = reporter.as_ref();
        if !self.stages.is_empty() {
            return Ok(crate::sync::fanout::prepare_worker(
                reporter,
                repo,
                pipeline,
                &self.remote,
                (&self.stages, &self.commit),
            )?);
        }
        let failed = crate::sync::fanout::install_records(
            reporter,
            repo,
            pipeline,
            &self.remote,
            &self.commit,
        )?;
        if self.restore_only {
            crate::sync::fanout::require_joined(
                repo,
                pipeline,
                &self.remote,
                &self.commit,
                &failed,
            )?;
        }
        Ok(())
    }

    /// A worker publishes what it did (a failure too); `--push` without
    /// `-s` pushes the workspace's outputs and run records.
    fn after(
        &self,
        ctx: &Ctx,
        repo: &crate::repo::Repo,
        result: &Result<
            std::collections::BTreeMap<String, Outcome>,
            crate::pipeline::repro::ReproError,
        >,
    ) -> anyhow::Result<()> {
        use crate::pipeline::repro::ReproError;
        if !self.push {
            return Ok(());
        }
        if self.stages.is_empty() {
            if result.is_ok() {
                let tracked = crate::targets::select_with_lock_outs(repo, &repo.root, &[])?;
                let reporter = super::reporter::for_printer(ctx.printer);
                let s = crate::sync::Session {
                    repo,
                    remote: &self.remote,
                    run_cache: true,
                    reporter: reporter.as_ref(),
                };
                crate::sync::push(&s, &tracked)?;
            }
            return Ok(());
        }
        let failed: Vec<(String, String)> = match result {
            Err(ReproError::StageFailed { stage, why }) => vec![(stage.clone(), why.clone())],
            Err(ReproError::StagesFailed { stages }) => stages
                .iter()
                .map(|s| (s.clone(), "failed".into()))
                .collect(),
            Err(_) => return Ok(()),
            Ok(_) => Vec::new(),
        };
        let reporter = super::reporter::for_printer(ctx.printer);
        let recorded = crate::sync::fanout::publish_worker(
            reporter.as_ref(),
            repo,
            &self.remote,
            (&self.stages, &self.commit),
            &failed,
        )?;
        for stage in recorded {
            ctx.printer.info(&format!(
                "recorded `{stage}` for commit {}",
                &self.commit[..8]
            ));
        }
        Ok(())
    }
}

fn gitignores(p: &crate::pipeline::Pipeline) -> Vec<String> {
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
    v
}

/// DVC's `--recursive` (directory targets become the stages of the
/// pipeline files at or below them) and `--pipeline` (each target's whole
/// connected pipeline), as stage names.
fn widen_targets(
    pipeline: &crate::pipeline::Pipeline,
    targets: Vec<String>,
    recursive: bool,
    whole: bool,
) -> anyhow::Result<Vec<String>> {
    let mut targets = targets;
    if recursive {
        let mut names = Vec::new();
        for t in &targets {
            let dir = t.trim_start_matches("./").trim_end_matches('/');
            let under: Vec<String> = pipeline
                .stages
                .iter()
                .filter(|s| match s.name.split_once("/dvc.yaml:") {
                    Some((d, _)) => {
                        dir.is_empty()
                            || dir == "."
                            || d == dir
                            || d.starts_with(&format!("{dir}/"))
                    }
                    None => dir.is_empty() || dir == ".",
                })
                .map(|s| s.name.clone())
                .collect();
            if under.is_empty() {
                return Err(crate::error::hinted(
                    format!("no pipeline file at or below `{t}` has stages"),
                    "with -R/--recursive each target is a directory holding dvc.yaml files",
                ));
            }
            names.extend(under);
        }
        targets = names;
    }
    if whole && !targets.is_empty() {
        let dag = crate::pipeline::dag::Dag::build(&pipeline.stages)?;
        let picked = crate::pipeline::repro::select(pipeline, &dag, &targets, false)?;
        let mut keep: std::collections::BTreeSet<usize> = picked.iter().copied().collect();
        let mut stack = picked;
        while let Some(i) = stack.pop() {
            for &j in dag.upstream[i].iter().chain(&dag.downstream[i]) {
                if keep.insert(j) {
                    stack.push(j);
                }
            }
        }
        targets = keep
            .into_iter()
            .map(|i| pipeline.stages[i].name.clone())
            .collect();
    }
    Ok(targets)
}
