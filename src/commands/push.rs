//! `mlci push`: upload what the workspace references to a remote.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::progress::Silent;
use crate::remote::{self, known::Known, transfer, Remote, RUNS_PREFIX};
use crate::repo::Repo;

use super::{human_bytes, reporter, select_with_lock_outs, sync, Ctx};

/// Upload tracked data, stage outputs and run records to a remote.
///
/// Sends only what the remote lacks. A local record of what the remote is
/// known to hold makes a second push of the same data ask almost nothing;
/// a sample of that record is re-checked on every push, and the whole
/// remote is consulted again when the sample is wrong. Objects land whole or
/// not at all, so an interrupted push resumes on rerun.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Tracked paths or pointer files to push; everything the workspace references when omitted.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
    /// The remote (default: `core.remote`, or the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Transfers in flight (default: the remote's `jobs`, else `core.jobs`).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Do not push run records (and the outputs only they reference).
    #[arg(long)]
    pub no_run_cache: bool,
}

pub fn cmd_push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<u8> {
    let PushArgs {
        targets,
        remote,
        jobs,
        no_run_cache,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let (remote, jobs) = sync::require_remote(&repo, remote.as_deref(), jobs)?;
    let outcome = push(ctx, &repo, &remote, jobs, &targets, !no_run_cache)?;
    report(ctx, &remote, &outcome);
    Ok(crate::exit::OK)
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushOutcome {
    pub uploaded: usize,
    pub bytes: u64,
    pub already: usize,
    pub run_records: usize,
    /// Tracked paths with objects in neither the cache nor the remote.
    pub lost: Vec<String>,
}

pub fn report(ctx: &Ctx, remote: &Remote, o: &PushOutcome) {
    ctx.printer.info(&format!(
        "pushed {} object(s) ({}) to `{}`{}; {} already there",
        o.uploaded,
        human_bytes(o.bytes),
        remote.name,
        if o.run_records > 0 {
            format!(" with {} run record(s)", o.run_records)
        } else {
            String::new()
        },
        o.already
    ));
    if !o.lost.is_empty() {
        ctx.printer.warn(&format!(
            "warning: in neither the cache nor remote `{}`, so not pushed: {}",
            remote.name,
            o.lost.join(", ")
        ));
    }
}

/// Pushes the objects of `targets` (everything when empty) and, when
/// `run_cache`, the complete local run records.
pub fn push(
    ctx: &Ctx,
    repo: &Repo,
    remote: &Remote,
    jobs: usize,
    targets: &[PathBuf],
    run_cache: bool,
) -> anyhow::Result<PushOutcome> {
    if remote.read_only() {
        return Err(crate::remote::RemoteError::ReadOnly {
            remote: remote.name.clone(),
            url: remote.url.clone(),
        }
        .into());
    }
    let cache = &repo.cache;
    let tracked = select_with_lock_outs(repo, &ctx.cwd, targets)?;
    let groups = sync::groups(cache, &tracked);
    let mut local: BTreeSet<String> = BTreeSet::new();
    let mut absent: Vec<(String, String)> = Vec::new();
    for g in &groups {
        for (oid, _) in &g.objects {
            let key = transfer::object_key(oid);
            if cache.contains(oid) {
                local.insert(key);
            } else {
                absent.push((g.label.clone(), key));
            }
        }
    }
    if run_cache && targets.is_empty() {
        let (records, objects) = sync::local_run_records(cache);
        local.extend(objects.iter().map(transfer::object_key));
        local.extend(records);
    }

    let rt = remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &remote.url);
    let result = push_keys(ctx, &rt, remote, jobs, repo, &local, &mut known);
    known.save()?;
    let mut outcome = result?;

    if !absent.is_empty() {
        let keys: Vec<String> = absent.iter().map(|(_, k)| k.clone()).collect();
        let gone = rt.block_on(transfer::missing(remote, &keys, jobs, &Silent))?;
        let lost: BTreeSet<String> = absent
            .into_iter()
            .filter(|(_, k)| gone.contains(k))
            .map(|(label, _)| label)
            .collect();
        outcome.lost = lost.into_iter().collect();
    }
    Ok(outcome)
}

fn push_keys(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    jobs: usize,
    repo: &Repo,
    local: &BTreeSet<String>,
    known: &mut Known,
) -> anyhow::Result<PushOutcome> {
    let reporter = reporter::for_printer(ctx.printer);
    // The record is a hint: check a spread-out sample of it first.
    let remembered: Vec<&String> = local.iter().filter(|k| known.contains(k)).collect();
    if !remembered.is_empty() {
        let step = remembered.len().div_ceil(16);
        let sample: Vec<String> = remembered
            .iter()
            .step_by(step)
            .map(|k| (*k).clone())
            .collect();
        let gone = rt.block_on(transfer::missing(remote, &sample, jobs, &Silent))?;
        if !gone.is_empty() {
            ctx.printer.info(&format!(
                "note: remote `{}` lost objects it was known to hold; checking everything",
                remote.name
            ));
            known.clear();
        }
    }
    let candidates: Vec<String> = local
        .iter()
        .filter(|k| !known.contains(k))
        .cloned()
        .collect();
    let missing: HashSet<String> = if candidates.is_empty() {
        HashSet::new()
    } else {
        rt.block_on(transfer::missing(
            remote,
            &candidates,
            jobs,
            reporter.as_ref(),
        ))?
    };
    let mut outcome = PushOutcome {
        already: local.len() - missing.len(),
        ..PushOutcome::default()
    };
    for k in &candidates {
        if !missing.contains(k) {
            known.insert(k);
        }
    }
    // Objects before the run records that name them: a record on the remote
    // always has its outputs there.
    let (mut records, mut objects): (Vec<String>, Vec<String>) = missing
        .into_iter()
        .partition(|k| k.starts_with(RUNS_PREFIX));
    objects.sort();
    records.sort();
    for batch in [&objects, &records] {
        if batch.is_empty() {
            continue;
        }
        let s = rt.block_on(transfer::upload(
            remote,
            &repo.cache,
            batch,
            jobs,
            known,
            reporter.as_ref(),
        ))?;
        outcome.uploaded += s.objects;
        outcome.bytes += s.bytes;
    }
    outcome.run_records = records.len();
    outcome.uploaded -= records.len();
    Ok(outcome)
}
