//! The fan-out around `mlci repro`: a worker (`--single-item STAGE --pull
//! --push`) brings in its upstream stages' outputs through their
//! per-commit records on the remote, runs (or restores) its stages alone,
//! and publishes their outputs, run records and per-commit records; the
//! join (`--pull` without `--single-item`) installs every stage's
//! per-commit record for this commit before the repro, so nothing runs
//! that a worker already ran. The records are `commit_records`; the
//! command (`mlci repro`, `mlci ci`) only calls these steps and prints.

use std::collections::BTreeSet;

use crate::pipeline::dag::Dag;
use crate::pipeline::lock::LockFile;
use crate::pipeline::Pipeline;
use crate::remote::Remote;
use crate::repo::Repo;
use crate::sync::commit_records::{self, StageRecord};
use crate::track::Tracked;

use crate::progress::Reporter;

/// Why a fan-out step cannot go on (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("upstream stage `{stage}` has no record for commit {commit} on remote `{remote}`")]
    NoUpstream {
        stage: String,
        commit: String,
        remote: String,
    },
    #[error("upstream stage `{stage}` failed on another worker: {why}")]
    UpstreamFailed { stage: String, why: String },
    #[error("{} stage(s) neither recorded nor restorable for commit {commit}: {}", stages.len(), stages.join("; "))]
    NotJoined { commit: String, stages: Vec<String> },
    #[error("the fan-out needs a commit: {0}")]
    NoCommit(String),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Lock(#[from] crate::pipeline::lock::LockFileError),
    #[error(transparent)]
    Dag(#[from] crate::pipeline::dag::DagError),
    #[error(transparent)]
    Status(#[from] crate::pipeline::repro::ReproError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::error::Hint for FanoutError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            FanoutError::NoUpstream { .. } => "run the upstream stage first (an earlier wave of `mlci plan`), with --push".into(),
            FanoutError::UpstreamFailed { .. } => "fix the upstream stage; this one runs after it".into(),
            FanoutError::NotJoined { .. } => "run those stages on a worker (`mlci repro -s STAGE --pull --push`), or drop --restore-only".into(),
            FanoutError::NoCommit(_) => "fan-out workers and the join run in a git checkout of one commit".into(),
            FanoutError::Remote(e) => return e.hint(),
            FanoutError::Sync(e) => return e.hint(),
            FanoutError::Track(e) => return e.hint(),
            FanoutError::Lock(e) => return e.hint(),
            FanoutError::Dag(e) => return e.hint(),
            FanoutError::Status(e) => return e.hint(),
            FanoutError::Io(_) => return None,
        })
    }
}

crate::register_hint!(FanoutError);

/// The commit this checkout is at (40 hex).
pub fn head(repo: &Repo) -> Result<String, FanoutError> {
    crate::git::resolve_commit(&repo.root, "HEAD")
        .map(|id| id.to_string())
        .map_err(|e| FanoutError::NoCommit(e.message().to_string()))
}

/// Fetches and checks out `tracked` from `remote`.
fn bring(
    reporter: &dyn Reporter,
    repo: &Repo,
    remote: &Remote,
    tracked: &[Tracked],
) -> Result<(), FanoutError> {
    if tracked.is_empty() {
        return Ok(());
    }
    let session = crate::sync::Session {
        repo,
        remote,
        run_cache: false,
        reporter,
    };
    crate::sync::fetch(&session, tracked)?;
    let mut ws = crate::track::Workspace::open(repo);
    ws.checkout(tracked, true, &crate::progress::Silent)?;
    ws.finish()?;
    Ok(())
}

/// Brings `record`'s outputs (a success) into the workspace; with `lock`,
/// also its lock entry into mlci.lock (the join). A worker writes no other
/// stage's lock entry.
fn install(
    reporter: &dyn Reporter,
    repo: &Repo,
    remote: &Remote,
    record: &StageRecord,
    lock: bool,
) -> Result<(), FanoutError> {
    let Some(entry) = &record.entry else {
        return Ok(());
    };
    let tracked: Vec<Tracked> = entry
        .outs
        .iter()
        .filter_map(|o| o.oid().map(|oid| o.tracked(oid)))
        .collect();
    bring(reporter, repo, remote, &tracked)?;
    if lock {
        LockFile::update_stage(&repo.root, &record.stage, entry.clone())?;
    }
    Ok(())
}

/// A worker's preparation: the outputs of every stage directly upstream of
/// `targets` (and not among them), from their records for `commit`; an
/// upstream stage without a record must be current in this checkout.
pub fn prepare_worker(
    reporter: &dyn Reporter,
    repo: &Repo,
    pipeline: &Pipeline,
    remote: &Remote,
    (targets, commit): (&[String], &str),
) -> Result<(), FanoutError> {
    let dag = Dag::build(&pipeline.stages)?;
    let chosen: BTreeSet<usize> = targets
        .iter()
        .filter_map(|t| pipeline.stages_named(t))
        .flatten()
        .collect();
    let ups: BTreeSet<usize> = chosen
        .iter()
        .flat_map(|i| dag.upstream[*i].iter().copied())
        .filter(|u| !chosen.contains(u))
        .collect();
    let current = current_stages(repo, pipeline)?;
    for u in ups {
        let stage = &pipeline.stages[u];
        match commit_records::fetch(remote, commit, stage)? {
            Some(r) if r.ok => install(reporter, repo, remote, &r, false)?,
            Some(r) => {
                return Err(FanoutError::UpstreamFailed {
                    stage: stage.name.clone(),
                    why: r.error.unwrap_or_default(),
                })
            }
            None if current.contains(&stage.name) => {
                // Current per mlci.lock: its outputs are on the remote.
                let lock = LockFile::load(&repo.root)?;
                let outs: Vec<Tracked> = lock
                    .stages
                    .get(&stage.name)
                    .map(|e| {
                        e.outs
                            .iter()
                            .filter_map(|o| o.oid().map(|oid| o.tracked(oid)))
                            .collect()
                    })
                    .unwrap_or_default();
                bring(reporter, repo, remote, &outs)?;
            }
            None => {
                return Err(FanoutError::NoUpstream {
                    stage: stage.name.clone(),
                    commit: commit[..8].to_string(),
                    remote: remote.name.clone(),
                })
            }
        }
    }
    Ok(())
}

/// Names of the stages that are current per mlci.lock, judged by what is
/// committed (outputs need not be in the workspace).
fn current_stages(repo: &Repo, pipeline: &Pipeline) -> Result<BTreeSet<String>, FanoutError> {
    let mut ws = crate::track::Workspace::open(repo);
    let states =
        crate::pipeline::status::stage_reasons(&mut ws, pipeline, &crate::progress::Silent)?;
    ws.finish()?;
    Ok(states
        .into_iter()
        .filter(|s| {
            // A fresh clone has no outputs checked out (nor the deps they
            // feed): what it has committed decides.
            s.reasons.iter().all(|r| {
                matches!(
                    r,
                    crate::pipeline::status::Reason::OutMissing { .. }
                        | crate::pipeline::status::Reason::DepMissing { .. }
                )
            })
        })
        .map(|s| s.name)
        .collect())
}

/// After a worker's repro: pushes its stages' outputs and run records, then
/// publishes each stage's record for `commit` (objects before the records
/// that name them). `failed` holds the stages that failed and why. Returns
/// the stages recorded as done.
pub fn publish_worker(
    reporter: &dyn Reporter,
    repo: &Repo,
    remote: &Remote,
    (targets, commit): (&[String], &str),
    failed: &[(String, String)],
) -> Result<Vec<String>, FanoutError> {
    let lock = LockFile::load(&repo.root)?;
    // `push: false` outputs stay local here too.
    let unpushed = crate::pipeline::load(&repo.root)
        .map(|p| p.unpushed())
        .unwrap_or_default();
    let mut done = Vec::new();
    let mut tracked = Vec::new();
    for t in targets {
        if failed.iter().any(|(s, _)| s == t) {
            continue;
        }
        if let Some(entry) = lock.stages.get(t) {
            tracked.extend(
                entry
                    .outs
                    .iter()
                    .filter_map(|o| o.oid().map(|oid| o.tracked(oid)))
                    .map(|t| crate::track::Tracked {
                        push: !unpushed.contains(t.target_rel.as_str()),
                        ..t
                    }),
            );
            done.push((t.clone(), entry.clone()));
        }
    }
    let session = crate::sync::Session {
        repo,
        remote,
        run_cache: true,
        reporter,
    };
    crate::sync::push(&session, &tracked)?;
    let mut recorded = Vec::new();
    for (stage, entry) in done {
        commit_records::publish(
            remote,
            commit,
            &StageRecord {
                stage: stage.clone(),
                ok: true,
                entry: Some(entry),
                error: None,
            },
        )?;
        recorded.push(stage);
    }
    for (stage, why) in failed {
        commit_records::publish(
            remote,
            commit,
            &StageRecord {
                stage: stage.clone(),
                ok: false,
                entry: None,
                error: Some(why.clone()),
            },
        )?;
    }
    Ok(recorded)
}

/// The join: installs every stage's successful record for `commit`;
/// returns the stages with a failure record (and why).
pub fn install_records(
    reporter: &dyn Reporter,
    repo: &Repo,
    pipeline: &Pipeline,
    remote: &Remote,
    commit: &str,
) -> Result<Vec<(String, String)>, FanoutError> {
    let mut failed = Vec::new();
    // One listing first: a commit no worker ran costs a single request.
    let rt = crate::remote::runtime()?;
    let present: BTreeSet<String> = rt
        .block_on(remote.list(&format!("commits/{commit}/")))?
        .into_iter()
        .collect();
    if present.is_empty() {
        return Ok(failed);
    }
    for stage in &pipeline.stages {
        if !present.contains(&commit_records::key(commit, &stage.name)) {
            continue;
        }
        match commit_records::fetch(remote, commit, stage)? {
            Some(r) if r.ok => install(reporter, repo, remote, &r, true)?,
            Some(r) => failed.push((stage.name.clone(), r.error.unwrap_or_default())),
            None => {}
        }
    }
    Ok(failed)
}

/// `--restore-only`: every stage the join would still run has a record
/// (else [`FanoutError::NotJoined`], naming each stage and why: a failure
/// on a worker, or no record).
pub fn require_joined(
    repo: &Repo,
    pipeline: &Pipeline,
    remote: &Remote,
    commit: &str,
    failed: &[(String, String)],
) -> Result<(), FanoutError> {
    let rt = crate::remote::runtime()?;
    let has = |k: &str| rt.block_on(remote.exists(k)).unwrap_or(false);
    let mut ws = crate::track::Workspace::open(repo);
    let waves = crate::pipeline::plan::plan(&mut ws, pipeline, &[], &has)?;
    ws.finish()?;
    let missing: Vec<String> = waves
        .iter()
        .flat_map(|w| &w.stages)
        .map(|s| match failed.iter().find(|(n, _)| n == &s.name) {
            Some((n, why)) => format!("`{n}` failed: {why}"),
            None => format!("`{}` has no record", s.name),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(FanoutError::NotJoined {
        commit: commit[..8].to_string(),
        stages: missing,
    })
}
