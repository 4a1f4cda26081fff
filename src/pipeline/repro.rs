//! `repro`: run the stale stages in dependency order.
//!
//! Each stage is judged when its upstream stages are done, with the hashes
//! they actually produced, so a downstream stage whose inputs came out
//! byte-identical is not rerun. Independent stages run in parallel up to
//! `jobs`; their output is prefixed with the stage name, whole lines at a
//! time. Every command runs in its own process group, so an interrupt stops
//! the whole tree of processes it started. `mlci.lock` is updated after each
//! successful stage, never for a failed or interrupted one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::error::Hint;
use crate::pipeline::dag::{Dag, DagError};
use crate::pipeline::lock::{LockCmd, LockEntry, LockFile, LockFileError, LockStage};
use crate::pipeline::runcache;
use crate::pipeline::status::{
    current_inputs, reasons, Inputs, MissingDeps, ParamsCache, Reason, StageStatusError,
};
use crate::pipeline::{Pipeline, Stage};
use crate::progress::Silent;
use crate::track::gitignore;
use crate::track::{TrackError, Workspace};

#[derive(Clone, Default)]
pub struct ReproOptions {
    pub targets: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    pub downstream: bool,
    pub keep_going: bool,
    pub jobs: usize,
    pub run_cache: bool,
    /// Where to get outputs a run record names but the cache lacks (a
    /// remote), so a stage computed on another machine is restored.
    pub objects: Option<std::sync::Arc<dyn runcache::ObjectSource>>,
    /// Environment variables stage commands do not inherit (the command
    /// layer withholds the CI runner's publishing token and command files).
    pub withheld_env: Vec<String>,
    /// Only the targets themselves, no upstream stage (`--single-item`).
    pub single_item: bool,
}

/// What happened to one stage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    UpToDate,
    Frozen,
    Ran,
    Restored,
    WouldRun,
    Failed,
    NotRun,
}

/// Progress events for the command layer to print.
pub enum Event<'a> {
    Running {
        stage: &'a str,
        reasons: &'a [Reason],
        cmd: &'a [String],
    },
    WouldRun {
        stage: &'a str,
        reasons: &'a [Reason],
    },
    UpToDate {
        stage: &'a str,
    },
    Restored {
        stage: &'a str,
    },
    /// One line a stage printed (parallel mode only; otherwise inherited).
    Line {
        stage: &'a str,
        line: &'a str,
        stderr: bool,
    },
    Failed {
        stage: &'a str,
        why: &'a str,
    },
    /// Not run after a failure: `why` says how it was reached.
    Skipped {
        stage: &'a str,
        why: &'a str,
    },
}

pub trait Events: Sync {
    fn event(&self, e: Event<'_>);
}

#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    #[error("stage `{stage}` failed: {why}")]
    StageFailed { stage: String, why: String },
    #[error("{} stages failed: {}", stages.len(), stages.join(", "))]
    StagesFailed { stages: Vec<String> },
    #[error("interrupted; stages that completed are recorded in mlci.lock")]
    Interrupted,
    #[error("stage `{stage}` finished but did not create its output `{path}`")]
    OutNotCreated { stage: String, path: String },
    #[error("stage `{stage}` is frozen and its output `{path}` is missing")]
    FrozenOutMissing { stage: String, path: String },
    #[error(transparent)]
    Dag(#[from] DagError),
    #[error(transparent)]
    Status(#[from] StageStatusError),
    #[error(transparent)]
    Lock(#[from] LockFileError),
    #[error("stage `{stage}`: {source}")]
    Track {
        stage: String,
        #[source]
        source: Box<TrackError>,
    },
    #[error("stage `{stage}`: cannot start the shell: {source}")]
    Spawn {
        stage: String,
        #[source]
        source: std::io::Error,
    },
}

impl Hint for ReproError {
    fn hint(&self) -> Option<String> {
        match self {
            ReproError::StageFailed { .. } | ReproError::StagesFailed { .. } => Some(
                "fix the command and run `mlci repro` again; stages that succeeded will not rerun"
                    .into(),
            ),
            ReproError::OutNotCreated { .. } => Some(
                "make the command write the output, or remove it from the stage's `outs`".into(),
            ),
            ReproError::FrozenOutMissing { .. } => Some(
                "restore it (`mlci checkout`, `mlci pull`), or unfreeze the stage (remove `frozen: true`) so repro can rerun it"
                    .into(),
            ),
            ReproError::Dag(e) => e.hint(),
            ReproError::Status(e) => e.hint(),
            ReproError::Lock(e) => e.hint(),
            ReproError::Track { source, .. } => source.hint(),
            _ => None,
        }
    }
}

crate::register_hint!(ReproError);

/// The stages a run considers, by index into `pipeline.stages`.
pub fn select(
    pipeline: &Pipeline,
    dag: &Dag,
    targets: &[String],
    downstream: bool,
) -> Result<Vec<usize>, DagError> {
    if targets.is_empty() {
        return Ok(dag.order.clone());
    }
    let mut idx = Vec::new();
    for t in targets {
        let Some(found) = pipeline.stages_named(t) else {
            return Err(DagError::UnknownStage {
                name: t.clone(),
                near: pipeline.near_names(t),
                known: pipeline.stages.iter().map(|s| s.name.clone()).collect(),
            });
        };
        idx.extend(found);
    }
    Ok(dag.select(&idx, downstream))
}

/// The stages a run considers: [`select`]'s, or only the targets
/// themselves with `single_item`.
fn selection(pipeline: &Pipeline, dag: &Dag, opts: &ReproOptions) -> Result<Vec<usize>, DagError> {
    let mut selected = select(pipeline, dag, &opts.targets, opts.downstream)?;
    if opts.single_item {
        let named: Vec<usize> = opts
            .targets
            .iter()
            .filter_map(|t| pipeline.stages_named(t))
            .flatten()
            .collect();
        selected.retain(|i| named.contains(i));
    }
    Ok(selected)
}

struct Finished {
    index: usize,
    result: Result<(), String>,
}

/// Runs the pipeline. `interrupted` is set by the signal handler.
pub fn repro(
    ws: &mut Workspace,
    pipeline: &Pipeline,
    opts: &ReproOptions,
    events: &dyn Events,
    interrupted: &AtomicBool,
) -> Result<BTreeMap<String, Outcome>, ReproError> {
    let dag = Dag::build(&pipeline.stages)?;
    let selected = selection(pipeline, &dag, opts)?;
    let root = ws.repo.root.clone();
    let lock = LockFile::load(&root)?;
    let stages = &pipeline.stages;
    let jobs = opts.jobs.max(1);
    let parallel = jobs > 1;

    let plan = Plan {
        pipeline,
        opts,
        events,
        root: &root,
        lock: &lock,
    };
    let mut tally = Tally::default();
    let mut pending: Vec<usize> = selected.clone();
    let mut running: BTreeMap<usize, Inputs> = BTreeMap::new();
    let mut params_cache = ParamsCache::default();
    let (tx, rx) = mpsc::channel::<Finished>();

    std::thread::scope(|scope| -> Result<(), ReproError> {
        loop {
            if interrupted.load(Ordering::SeqCst) {
                tally.stop = true;
            }
            // Start what is ready, in graph order.
            let mut i = 0;
            while !tally.stop && i < pending.len() && running.len() < jobs {
                let s = pending[i];
                let ups: Vec<usize> = dag.upstream[s]
                    .iter()
                    .copied()
                    .filter(|u| selected.contains(u))
                    .collect();
                if ups.iter().any(|u| {
                    matches!(
                        tally.outcomes.get(u),
                        Some(Outcome::Failed | Outcome::NotRun)
                    )
                }) {
                    skipped(events, &stages[s], "a stage it depends on failed");
                    tally.outcomes.insert(s, Outcome::NotRun);
                    pending.remove(i);
                    continue;
                }
                if !ups.iter().all(|u| tally.outcomes.contains_key(u)) {
                    i += 1;
                    continue;
                }
                pending.remove(i);
                let stage = &stages[s];
                let Some(inputs) = start(&plan, ws, s, &ups, &mut params_cache, &mut tally)? else {
                    continue;
                };
                running.insert(s, inputs);
                let tx = tx.clone();
                let root = root.clone();
                let withheld = &opts.withheld_env;
                scope.spawn(move || {
                    let result = super::run::run_stage(
                        &root,
                        stage,
                        parallel,
                        withheld,
                        events,
                        interrupted,
                    );
                    let _ = tx.send(Finished { index: s, result });
                });
            }
            if running.is_empty() {
                break;
            }
            let done = rx.recv().expect("a running stage always reports");
            let inputs = running.remove(&done.index).expect("it was running");
            let stage = &stages[done.index];
            match done.result {
                Ok(()) => match write_lock(&root, stage, &inputs, ws, false) {
                    Ok(()) => {
                        tally.outcomes.insert(done.index, Outcome::Ran);
                    }
                    Err(e) => tally.fail(done.index, stage, e, opts.keep_going),
                },
                Err(why) => {
                    events.event(Event::Failed {
                        stage: &stage.name,
                        why: &why,
                    });
                    let e = ReproError::StageFailed {
                        stage: stage.name.clone(),
                        why,
                    };
                    tally.fail(done.index, stage, e, opts.keep_going);
                }
            }
        }
        Ok(())
    })?;
    let Tally {
        mut outcomes,
        failed,
        first_failure,
        ..
    } = tally;
    let stop = first_failure.is_some() || !failed.is_empty();
    left_unrun(pending, &mut outcomes, stop, stages, events);
    if !opts.dry_run {
        // Entries of stages no longer in the pipeline would only mislead.
        LockFile::retain_stages(&root, |name| stages.iter().any(|s| s.name == name))?;
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err(ReproError::Interrupted);
    }
    if failed.len() > 1 {
        return Err(ReproError::StagesFailed { stages: failed });
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    Ok(outcomes
        .into_iter()
        .map(|(i, o)| (stages[i].name.clone(), o))
        .collect())
}
/// Marks the stages never started as not run, announcing each as skipped
/// when a failure stopped the run.
fn left_unrun(
    pending: Vec<usize>,
    outcomes: &mut BTreeMap<usize, Outcome>,
    stopped: bool,
    stages: &[Stage],
    events: &dyn Events,
) {
    for s in pending {
        if stopped && !outcomes.contains_key(&s) {
            skipped(events, &stages[s], "the run stopped at the first failure");
        }
        outcomes.entry(s).or_insert(Outcome::NotRun);
    }
}

fn skipped(events: &dyn Events, stage: &Stage, why: &str) {
    events.event(Event::Skipped {
        stage: &stage.name,
        why,
    });
}

/// What every scheduling decision of one `repro` reads.
struct Plan<'a> {
    pipeline: &'a Pipeline,
    opts: &'a ReproOptions,
    events: &'a dyn Events,
    root: &'a Path,
    lock: &'a LockFile,
}

/// What the scheduler has decided so far: each stage's outcome, the
/// failures, and whether to start no more stages.
#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<usize, Outcome>,
    failed: Vec<String>,
    first_failure: Option<ReproError>,
    stop: bool,
}

impl Tally {
    /// Stage `s` failed with `e`; without `keep_going` nothing new starts.
    fn fail(&mut self, s: usize, stage: &Stage, e: ReproError, keep_going: bool) {
        self.outcomes.insert(s, Outcome::Failed);
        self.failed.push(stage.name.clone());
        self.first_failure.get_or_insert(e);
        self.stop |= !keep_going;
    }
}

/// Decides what to do with stage `s`, whose upstream (`ups`) is done:
/// frozen, up to date, would run (dry run), restored from the run cache,
/// or to be run. Returns the inputs to run it with, its outputs cleared;
/// None when it needs no run (its outcome is in `tally`).
fn start(
    plan: &Plan,
    ws: &mut Workspace,
    s: usize,
    ups: &[usize],
    params_cache: &mut ParamsCache,
    tally: &mut Tally,
) -> Result<Option<Inputs>, ReproError> {
    let (opts, events) = (plan.opts, plan.events);
    let stage = &plan.pipeline.stages[s];
    if stage.frozen {
        if !opts.dry_run {
            if let Err(e) = verify_frozen(plan, ws, stage, params_cache) {
                tally.fail(s, stage, e, opts.keep_going);
                return Ok(None);
            }
        }
        tally.outcomes.insert(s, Outcome::Frozen);
        return Ok(None);
    }
    let judged = judge(plan, ws, stage, params_cache, ups, &tally.outcomes);
    let (inputs, why) = match judged {
        Ok(x) => x,
        Err(e) => {
            tally.fail(s, stage, e, opts.keep_going);
            return Ok(None);
        }
    };
    if why.is_empty() {
        events.event(Event::UpToDate { stage: &stage.name });
        tally.outcomes.insert(s, Outcome::UpToDate);
        return Ok(None);
    }
    if opts.dry_run {
        events.event(Event::WouldRun {
            stage: &stage.name,
            reasons: &why,
        });
        tally.outcomes.insert(s, Outcome::WouldRun);
        return Ok(None);
    }
    if opts.run_cache && !opts.force && runcache::eligible(stage) {
        match try_restore(ws, stage, &inputs, opts.objects.as_deref()) {
            Ok(true) => {
                write_lock(plan.root, stage, &inputs, ws, true)?;
                events.event(Event::Restored { stage: &stage.name });
                tally.outcomes.insert(s, Outcome::Restored);
                return Ok(None);
            }
            Ok(false) => {}
            Err(source) => {
                return Err(ReproError::Track {
                    stage: stage.name.clone(),
                    source: Box::new(source),
                })
            }
        }
    }
    prepare_outs(plan.root, stage).map_err(|source| ReproError::Track {
        stage: stage.name.clone(),
        source: Box::new(source),
    })?;
    events.event(Event::Running {
        stage: &stage.name,
        reasons: &why,
        cmd: &stage.cmd,
    });
    Ok(Some(inputs))
}

/// The stage's current inputs and the reasons it must run (empty: up to date).
fn judge(
    plan: &Plan,
    ws: &mut Workspace,
    stage: &Stage,
    params_cache: &mut ParamsCache,
    ups: &[usize],
    outcomes: &BTreeMap<usize, Outcome>,
) -> Result<(Inputs, Vec<Reason>), ReproError> {
    let (pipeline, opts) = (plan.pipeline, plan.opts);
    let lock = plan.lock.stages.get(&stage.name);
    let inputs = current_inputs(
        ws,
        pipeline,
        stage,
        params_cache,
        MissingDeps::Refuse,
        &Silent,
    )?;
    let mut why = reasons(ws, stage, &inputs, lock, &Silent)?;
    if opts.dry_run {
        // Nothing runs, so a dep an upstream stage would write is simply not
        // there yet; that is not a reason of this stage's own. Like
        // `dvc repro --dry`, a dry run lists the stages stale by themselves:
        // whether downstream stages rerun depends on what upstream produces.
        let upstream_would_run = ups
            .iter()
            .any(|u| outcomes.get(u) == Some(&Outcome::WouldRun));
        if upstream_would_run {
            why.retain(|r| !matches!(r, Reason::DepMissing { .. }));
        }
    }
    if opts.force && why.is_empty() {
        why.push(Reason::Forced);
    }
    Ok((inputs, why))
}

/// A frozen stage never runs, but its outputs must be there; when its
/// command or outputs changed, the lock takes the workspace as it is. This
/// is DVC's "Verifying outputs in frozen stage", then missing data or an
/// updated lock file.
fn verify_frozen(
    plan: &Plan,
    ws: &mut Workspace,
    stage: &Stage,
    params_cache: &mut ParamsCache,
) -> Result<(), ReproError> {
    if let Some(o) = stage
        .outs
        .iter()
        .find(|o| fs_err::symlink_metadata(plan.root.join(o.path.as_str())).is_err())
    {
        return Err(ReproError::FrozenOutMissing {
            stage: stage.name.clone(),
            path: o.path.to_string(),
        });
    }
    let lock = plan.lock.stages.get(&stage.name);
    let why = reasons(ws, stage, &Inputs::default(), lock, &Silent)?;
    if lock.is_some() && why.is_empty() {
        return Ok(());
    }
    let inputs = current_inputs(
        ws,
        plan.pipeline,
        stage,
        params_cache,
        MissingDeps::Refuse,
        &Silent,
    )?;
    write_lock(plan.root, stage, &inputs, ws, true)
}

/// Deletes the outputs a stage rewrites (not `persist` ones) and creates
/// their parent directories.
/// Each out is located (its directories resolved) right before the delete,
/// so a symbolic link in the way that leads out of the workspace stops the
/// stage before anything is touched.
fn prepare_outs(root: &Path, stage: &Stage) -> Result<(), TrackError> {
    let located = stage
        .outs
        .iter()
        .map(|o| {
            o.path
                .locate(root)
                .map_err(|source| TrackError::UnsafePath {
                    file: "outs".into(),
                    source: Box::new(source),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (o, p) in stage.outs.iter().zip(located) {
        if !o.persist {
            match fs_err::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    make_writable(&p);
                    fs_err::remove_dir_all(&p)?
                }
                Ok(_) => fs_err::remove_file(&p)?,
                Err(_) => {}
            }
        }
        if let Some(parent) = p.parent() {
            fs_err::create_dir_all(parent)?;
        }
    }
    Ok(())
}

/// Hardlinked outputs are read-only; the stage is about to replace them.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_dir() {
            let _ = fs_err::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Restores a stage's outputs from an identical earlier run, if recorded and
/// every object is in the cache.
fn try_restore(
    ws: &mut Workspace,
    stage: &Stage,
    inputs: &Inputs,
    source: Option<&dyn runcache::ObjectSource>,
) -> Result<bool, TrackError> {
    let key = runcache::key(stage, inputs);
    let record = match runcache::lookup(&ws.repo.cache, &key, stage) {
        Some(r) => r,
        // Not here: the remote's record, kept once it checks out.
        None => match source.and_then(|s| s.record(&key)) {
            Some(bytes) => match serde_json::from_slice::<runcache::Record>(&bytes) {
                Ok(r) if runcache::names_declared_outs(&r, stage) => {
                    runcache::save(&ws.repo.cache, &key, &r.outs).map_err(TrackError::Io)?;
                    r
                }
                _ => return Ok(false),
            },
            None => return Ok(false),
        },
    };
    if let Some(source) = source {
        let oids: Vec<_> = record.outs.iter().filter_map(|o| o.oid()).collect();
        if !source.fetch(&oids) {
            return Ok(false);
        }
    }
    let mut tracked = Vec::new();
    // Metrics and plots kept in git: (path, verified bytes), written back
    // as plain files after the cached outputs are restored.
    let mut in_git = Vec::new();
    for o in &record.outs {
        let Some(oid) = o.oid() else { return Ok(false) };
        if !ws.repo.cache.contains(&oid) {
            return Ok(false);
        }
        let declared = stage.outs.iter().find(|d| d.path == o.path);
        if declared.is_some_and(runcache::kept_in_git) {
            if oid.dir {
                return Ok(false);
            }
            match ws.repo.cache.read_verified(&oid) {
                Ok(bytes) => in_git.push((o.path.clone(), bytes)),
                Err(_) => return Ok(false),
            }
        } else {
            tracked.push(o.tracked(oid));
        }
    }
    if tracked.len() + in_git.len() != stage.outs.len() {
        return Ok(false);
    }
    match ws.checkout(&tracked, true, &Silent) {
        Ok(_) => {}
        Err(TrackError::Cache(_)) => return Ok(false),
        Err(e) => return Err(e),
    }
    for (path, bytes) in in_git {
        let abs = path
            .locate(&ws.repo.root)
            .map_err(|source| TrackError::UnsafePath {
                file: "outs".into(),
                source: Box::new(source),
            })?;
        if let Some(parent) = abs.parent() {
            fs_err::create_dir_all(parent).map_err(TrackError::Io)?;
        }
        crate::fsutil::write_atomic(&abs, &bytes).map_err(TrackError::Io)?;
    }
    Ok(true)
}

/// Copies the bytes of the stage's metrics and plots kept in git into the
/// cache under the hashes `outs` records, so a run record can restore them
/// (DVC's `_uncached_outs`). A file that changed since it was hashed is
/// refused by the hash check, and the run goes unrecorded.
fn keep_git_outs(ws: &Workspace, stage: &Stage, outs: &[LockEntry]) -> std::io::Result<()> {
    for o in stage.outs.iter().filter(|o| runcache::kept_in_git(o)) {
        let Some(oid) = outs
            .iter()
            .find(|e| e.path == o.path)
            .and_then(LockEntry::oid)
        else {
            return Err(std::io::Error::other("no recorded hash"));
        };
        if oid.dir {
            return Err(std::io::Error::other("a directory kept in git"));
        }
        if ws.repo.cache.contains(&oid) {
            continue;
        }
        let abs = o
            .path
            .locate(&ws.repo.root)
            .map_err(std::io::Error::other)?;
        let bytes = fs_err::read(abs)?;
        if ws.repo.cache.put_checked(&oid, &bytes)?.is_err() {
            return Err(std::io::Error::other("changed since it was hashed"));
        }
    }
    Ok(())
}

/// Hashes (and caches) a finished stage's outputs, writes its lock entry,
/// adds `.gitignore` entries for cached outputs, and records the run.
fn write_lock(
    root: &Path,
    stage: &Stage,
    inputs: &Inputs,
    ws: &mut Workspace,
    restored: bool,
) -> Result<(), ReproError> {
    let mut outs = Vec::new();
    for o in &stage.outs {
        let tree = match ws.hash_tree(&o.path, o.cache, &Silent) {
            Ok(t) => t,
            Err(TrackError::NotFound { .. }) => {
                return Err(ReproError::OutNotCreated {
                    stage: stage.name.clone(),
                    path: o.path.to_string(),
                })
            }
            Err(source) => {
                return Err(ReproError::Track {
                    stage: stage.name.clone(),
                    source: Box::new(source),
                })
            }
        };
        ws.record_tree(&tree, o.cache);
        outs.push(LockEntry {
            path: o.path.clone(),
            sha256: tree.oid.to_string(),
            size: tree.size,
            nfiles: tree.nfiles,
        });
        if o.cache {
            let p = o.path.locate(root).map_err(|source| ReproError::Track {
                stage: stage.name.clone(),
                source: Box::new(TrackError::UnsafePath {
                    file: "outs".into(),
                    source: Box::new(source),
                }),
            })?;
            if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
                gitignore::add_entry(parent, &name.to_string_lossy()).map_err(|e| {
                    ReproError::Track {
                        stage: stage.name.clone(),
                        source: Box::new(e.into()),
                    }
                })?;
            }
        }
    }
    let entry = LockStage {
        cmd: LockCmd::from_cmds(&stage.cmd),
        deps: inputs.deps.clone(),
        params: inputs.params.clone(),
        outs: outs.clone(),
    };
    LockFile::update_stage(root, &stage.name, entry)?;
    if !restored && runcache::eligible(stage) {
        // A run cache that cannot be written only costs a rerun later.
        if keep_git_outs(ws, stage, &outs).is_ok() {
            let _ = runcache::save(&ws.repo.cache, &runcache::key(stage, inputs), &outs);
        }
    }
    Ok(())
}
