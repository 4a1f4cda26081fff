//! The fan-out around `mlci repro`: a worker (`--single-item STAGE --pull
//! --push`) brings in its upstream stages' outputs through their
//! per-commit records on the remote, runs (or restores) its stages alone,
//! and publishes their outputs, run records and per-commit records; the
//! join (`--pull` without `--single-item`) installs every stage's
//! per-commit record for this commit before the repro, so nothing runs
//! that a worker already ran. See `sync::commit_records`.

use std::collections::BTreeSet;

use crate::pipeline::dag::Dag;
use crate::pipeline::lock::LockFile;
use crate::pipeline::Pipeline;
use crate::remote::Remote;
use crate::repo::Repo;
use crate::sync::commit_records::{self, StageRecord};
use crate::track::Tracked;

use super::Ctx;

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
}

impl crate::error::Hint for FanoutError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            FanoutError::NoUpstream { .. } => "run the upstream stage first (an earlier wave of `mlci plan`), with --push".into(),
            FanoutError::UpstreamFailed { .. } => "fix the upstream stage; this one runs after it".into(),
            FanoutError::NotJoined { .. } => "run those stages on a worker (`mlci repro -s STAGE --pull --push`), or drop --restore-only".into(),
            FanoutError::NoCommit(_) => "fan-out workers and the join run in a git checkout of one commit".into(),
        })
    }
}

crate::register_hint!(FanoutError);

/// The commit this checkout is at (40 hex).
pub fn head(repo: &Repo) -> anyhow::Result<String> {
    crate::git::resolve_commit(&repo.root, "HEAD")
        .map(|id| id.to_string())
        .map_err(|e| FanoutError::NoCommit(e.message().to_string()).into())
}

/// Fetches and checks out `tracked` from `remote`.
fn bring(ctx: &Ctx, repo: &Repo, remote: &Remote, tracked: &[Tracked]) -> anyhow::Result<()> {
    if tracked.is_empty() {
        return Ok(());
    }
    let reporter = super::reporter::for_printer(ctx.printer);
    let session = crate::sync::Session {
        repo,
        remote,
        run_cache: false,
        reporter: reporter.as_ref(),
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
    ctx: &Ctx,
    repo: &Repo,
    remote: &Remote,
    record: &StageRecord,
    lock: bool,
) -> anyhow::Result<()> {
    let Some(entry) = &record.entry else {
        return Ok(());
    };
    let tracked: Vec<Tracked> = entry
        .outs
        .iter()
        .filter_map(|o| o.oid().map(|oid| o.tracked(oid)))
        .collect();
    bring(ctx, repo, remote, &tracked)?;
    if lock {
        LockFile::update_stage(&repo.root, &record.stage, entry.clone())?;
    }
    Ok(())
}

/// A worker's preparation: the outputs of every stage directly upstream of
/// `targets` (and not among them), from their records for `commit`; an
/// upstream stage without a record must be current in this checkout.
pub fn prepare_worker(
    ctx: &Ctx,
    repo: &Repo,
    pipeline: &Pipeline,
    remote: &Remote,
    (targets, commit): (&[String], &str),
) -> anyhow::Result<()> {
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
            Some(r) if r.ok => install(ctx, repo, remote, &r, false)?,
            Some(r) => {
                return Err(FanoutError::UpstreamFailed {
                    stage: stage.name.clone(),
                    why: r.error.unwrap_or_default(),
                }
                .into())
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
                bring(ctx, repo, remote, &outs)?;
            }
            None => {
                return Err(FanoutError::NoUpstream {
                    stage: stage.name.clone(),
                    commit: commit[..8].to_string(),
                    remote: remote.name.clone(),
                }
                .into())
            }
        }
    }
    Ok(())
}

/// Names of the stages that are current per mlci.lock, judged by what is
/// committed (outputs need not be in the workspace).
fn current_stages(repo: &Repo, pipeline: &Pipeline) -> anyhow::Result<BTreeSet<String>> {
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
/// that name them). `failed` holds the stages that failed and why.
pub fn publish_worker(
    ctx: &Ctx,
    repo: &Repo,
    remote: &Remote,
    (targets, commit): (&[String], &str),
    failed: &[(String, String)],
) -> anyhow::Result<()> {
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
    let reporter = super::reporter::for_printer(ctx.printer);
    let session = crate::sync::Session {
        repo,
        remote,
        run_cache: true,
        reporter: reporter.as_ref(),
    };
    crate::sync::push(&session, &tracked)?;
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
        ctx.printer
            .info(&format!("recorded `{stage}` for commit {}", &commit[..8]));
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
    Ok(())
}

/// The join: installs every stage's successful record for `commit`;
/// returns the stages with a failure record (and why).
pub fn install_records(
    ctx: &Ctx,
    repo: &Repo,
    pipeline: &Pipeline,
    remote: &Remote,
    commit: &str,
) -> anyhow::Result<Vec<(String, String)>> {
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
            Some(r) if r.ok => install(ctx, repo, remote, &r, true)?,
            Some(r) => failed.push((stage.name.clone(), r.error.unwrap_or_default())),
            None => {}
        }
    }
    Ok(failed)
}
