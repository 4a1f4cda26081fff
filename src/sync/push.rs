//! The push: what the workspace references and the remote lacks, objects
//! before the run records that name them, with a known-objects record that
//! makes a repeated push ask almost nothing.

use std::collections::{BTreeSet, HashSet};

use crate::progress::Silent;
use crate::remote::known::Known;
use crate::remote::{self, transfer, RemoteError, RUNS_PREFIX};
use crate::store::cache::Oid;
use crate::store::state::StateDb;
use crate::track::Tracked;

use super::{expand, local_run_records, shallow, Session, SyncError};

/// What a push did.
#[derive(Debug, Default)]
pub struct PushOutcome {
    pub uploaded: usize,
    pub bytes: u64,
    pub already: usize,
    pub run_records: usize,
    /// Tracked paths with objects in neither the cache nor the remote.
    pub lost: Vec<String>,
    /// The known-objects record was wrong (the remote lost objects it was
    /// known to hold), so everything was checked on the remote.
    pub rechecked: bool,
    /// Tracked paths left out because the pipeline marks them `push: false`.
    pub unpushed: Vec<String>,
}

/// Pushes the objects of `tracked` and, when the session moves run
/// records, the complete local run records. A read-only remote is an error
/// before anything is read.
pub fn push(s: &Session<'_>, tracked: &[Tracked]) -> Result<PushOutcome, SyncError> {
    let (repo, remote) = (s.repo, s.remote);
    if remote.read_only() {
        return Err(RemoteError::ReadOnly {
            remote: remote.name.clone(),
            url: remote.url.clone(),
        }
        .into());
    }
    let cache = &repo.cache;
    // Outputs the pipeline marks `push: false` (DVC's flag) stay local, and
    // so do run records naming them, which could not be restored elsewhere.
    let left_out: Vec<String> = tracked
        .iter()
        .filter(|t| !t.push)
        .map(|t| t.target_rel.to_string())
        .collect();
    let unpushed: BTreeSet<String> = left_out.iter().cloned().collect();
    let kept: Vec<Tracked>;
    let tracked = if left_out.is_empty() {
        tracked
    } else {
        kept = tracked.iter().filter(|t| t.push).cloned().collect();
        &kept
    };
    let rt = remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &remote.identity);
    // One small read: a gc on the remote since the record was made voids it.
    known.adopt_epoch(&rt.block_on(crate::sync::collect::epoch(remote))?);
    // A directory known to be complete on the remote is not even opened.
    let mut groups = shallow(tracked);
    for g in groups.iter_mut() {
        if !(g.root.dir && g.only.is_none() && known.contains(&transfer::object_key(&g.root))) {
            expand(cache, g);
        }
    }
    let roots: Vec<Oid> = groups
        .iter()
        .flat_map(|g| g.objects.iter().map(|(oid, _)| *oid))
        .collect();
    let held = sample_holds(s, &rt, &roots, &mut known)?;
    if !held {
        // The record was wrong: open every directory after all.
        for g in groups.iter_mut() {
            expand(cache, g);
        }
    }
    // What the remote is known to hold needs no local check at all: a
    // no-op push costs no stat per object.
    let mut local: Vec<String> = Vec::new();
    let mut absent: Vec<(&str, String)> = Vec::new();
    for g in &groups {
        for (oid, _) in &g.objects {
            let key = transfer::object_key(oid);
            if known.contains(&key) || cache.contains(oid) {
                local.push(key);
            } else {
                absent.push((g.label.as_str(), key));
            }
        }
    }
    if s.run_cache {
        let (records, objects) = local_run_records(cache, &unpushed);
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
    // The object records vouch for big objects mlci hashed with their
    // current stat; everything else is hashed on the way out.
    let state = StateDb::load(&repo.state_path());
    let result = push_keys(s, &rt, &state, &local, &mut known).map(|mut o| {
        o.already += unopened;
        o
    });
    if result.is_ok() {
        // Every directory none of whose objects is missing locally is now
        // whole on the remote.
        for g in groups
            .iter()
            .filter(|g| g.root.dir && g.objects.len() > 1 && g.only.is_none())
        {
            if !absent.iter().any(|(label, _)| *label == g.label) {
                known.insert_tree(&transfer::object_key(&g.root));
            }
        }
    }
    known.save()?;
    let mut outcome = result?;
    outcome.rechecked = !held;
    outcome.unpushed = left_out;

    if !absent.is_empty() {
        let keys: Vec<String> = absent.iter().map(|(_, k)| k.clone()).collect();
        let gone = rt.block_on(transfer::missing(remote, &keys, remote.jobs, &Silent))?;
        let lost: BTreeSet<String> = absent
            .into_iter()
            .filter(|(_, k)| gone.contains(k))
            .map(|(label, _)| label.to_string())
            .collect();
        outcome.lost = lost.into_iter().collect();
    }
    Ok(outcome)
}

/// The known-objects record is a hint: a spread-out sample of what it
/// claims is checked on the remote, and the record is dropped when the
/// remote lost any of it. Returns whether the record held.
fn sample_holds(
    s: &Session<'_>,
    rt: &tokio::runtime::Runtime,
    keys: &[Oid],
    known: &mut Known,
) -> Result<bool, RemoteError> {
    if known.is_empty() {
        return Ok(true);
    }
    let step = keys.len().div_ceil(16).max(1);
    let sample: Vec<String> = keys
        .iter()
        .step_by(step)
        .map(transfer::object_key)
        .filter(|k| known.contains(k))
        .collect();
    let gone = rt.block_on(transfer::missing(s.remote, &sample, s.remote.jobs, &Silent))?;
    if !gone.is_empty() {
        known.clear();
        return Ok(false);
    }
    Ok(true)
}

/// Uploads what of `local` the remote lacks (`state` is the hash state
/// that vouches for big objects).
fn push_keys(
    s: &Session<'_>,
    rt: &tokio::runtime::Runtime,
    state: &StateDb,
    local: &[String],
    known: &mut Known,
) -> Result<PushOutcome, RemoteError> {
    let t = s.transfer();
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
        let up = rt.block_on(transfer::upload(&t, batch, state.objects(), known))?;
        outcome.uploaded += up.objects;
        outcome.bytes += up.bytes;
    }
    outcome.run_records = records.len();
    outcome.uploaded -= records.len();
    Ok(outcome)
}
