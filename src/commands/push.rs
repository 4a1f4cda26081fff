//! `mlci push`: upload what the workspace references to a remote.

use crate::exit::Exit;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::progress::Silent;
use crate::remote::{self, known::Known, transfer, Remote, RUNS_PREFIX};
use crate::repo::Repo;
use crate::store::cache::Oid;

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
    #[command(flatten)]
    pub transfer: sync::TransferArgs,
}

pub fn cmd_push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<Exit> {
    let PushArgs {
        transfer:
            sync::TransferArgs {
                targets,
                remote,
                jobs,
                no_run_cache,
            },
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let (remote, jobs) = sync::require_remote(&repo, remote.as_deref(), jobs)?;
    let outcome = push(ctx, &repo, &remote, jobs, &targets, !no_run_cache)?;
    report(ctx, &remote, &outcome);
    Ok(Exit::Ok)
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
            "in neither the cache nor remote `{}`, so not pushed: {}",
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
    let rt = remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &remote.identity);
    // A directory known to be complete on the remote is not even opened.
    let mut groups = sync::shallow(&tracked);
    for g in groups.iter_mut() {
        if !(g.root.dir && known.contains(&transfer::object_key(&g.root))) {
            sync::expand(cache, g);
        }
    }
    let roots: Vec<(&str, Oid)> = groups
        .iter()
        .flat_map(|g| g.objects.iter().map(|(oid, _)| (g.label.as_str(), *oid)))
        .collect();
    if !check_sample(ctx, &rt, remote, jobs, &roots, &mut known)? {
        // The record was wrong: open every directory after all.
        for g in groups.iter_mut() {
            sync::expand(cache, g);
        }
    }
    let keys: Vec<(&str, Oid)> = groups
        .iter()
        .flat_map(|g| g.objects.iter().map(|(oid, _)| (g.label.as_str(), *oid)))
        .collect();
    // What the remote is known to hold needs no local check at all: a
    // no-op push costs no stat per object.
    let mut local: Vec<String> = Vec::with_capacity(keys.len());
    let mut absent: Vec<(String, String)> = Vec::new();
    for (label, oid) in keys {
        let key = transfer::object_key(&oid);
        if known.contains(&key) || cache.contains(&oid) {
            local.push(key);
        } else {
            absent.push((label.to_string(), key));
        }
    }
    if run_cache && targets.is_empty() {
        let (records, objects) = sync::local_run_records(cache);
        local.extend(objects.iter().map(transfer::object_key));
        local.extend(records);
    }
    local.sort_unstable();
    local.dedup();

    let unopened: usize = groups
        .iter()
        .filter(|g| g.root.dir && g.objects.len() == 1)
        .map(|g| g.nfiles.unwrap_or(0) as usize)
        .sum();
    let reporter = reporter::for_printer(ctx.printer);
    let t = transfer::Transfer {
        remote,
        cache,
        jobs,
        reporter: reporter.as_ref(),
    };
    // The object records vouch for big objects mlci hashed with their
    // current stat; everything else is hashed on the way out.
    let state = crate::store::state::StateDb::load(&repo.state_path());
    let result = push_keys(&t, &rt, &state, &local, &mut known).map(|mut o| {
        o.already += unopened;
        o
    });
    if result.is_ok() {
        // Every directory none of whose objects is missing locally is now
        // whole on the remote.
        for g in groups.iter().filter(|g| g.root.dir && g.objects.len() > 1) {
            if !absent.iter().any(|(label, _)| *label == g.label) {
                known.insert_tree(&transfer::object_key(&g.root));
            }
        }
    }
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

/// The known-objects record is a hint: a spread-out sample of what it
/// claims is checked on the remote, and the record is dropped when the
/// remote lost any of it. Returns whether the record held.
fn check_sample(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    jobs: usize,
    keys: &[(&str, Oid)],
    known: &mut Known,
) -> anyhow::Result<bool> {
    if known.is_empty() {
        return Ok(true);
    }
    let step = keys.len().div_ceil(16);
    let sample: Vec<String> = keys
        .iter()
        .step_by(step)
        .map(|(_, oid)| transfer::object_key(oid))
        .filter(|k| known.contains(k))
        .collect();
    let gone = rt.block_on(transfer::missing(remote, &sample, jobs, &Silent))?;
    if !gone.is_empty() {
        ctx.printer.info(&format!(
            "note: remote `{}` lost objects it was known to hold; checking everything",
            remote.name
        ));
        known.clear();
        return Ok(false);
    }
    Ok(true)
}

/// Uploads what of `local` the remote lacks (`t.cache` is the repository's
/// cache, `state` the hash state that vouches for big objects).
fn push_keys(
    t: &transfer::Transfer<'_>,
    rt: &tokio::runtime::Runtime,
    state: &crate::store::state::StateDb,
    local: &[String],
    known: &mut Known,
) -> anyhow::Result<PushOutcome> {
    let candidates: Vec<String> = local
        .iter()
        .filter(|k| !known.contains(k))
        .cloned()
        .collect();
    let missing: HashSet<String> = if candidates.is_empty() {
        HashSet::new()
    } else {
        rt.block_on(transfer::missing(t.remote, &candidates, t.jobs, t.reporter))?
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
        let s = rt.block_on(transfer::upload(t, batch, state.objects(), known))?;
        outcome.uploaded += s.objects;
        outcome.bytes += s.bytes;
    }
    outcome.run_records = records.len();
    outcome.uploaded -= records.len();
    Ok(outcome)
}
