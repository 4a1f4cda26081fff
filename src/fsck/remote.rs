//! The remote's side of `fsck --remote`: which referenced objects it holds
//! (one listing, with sizes, where the remote can be listed), whether their
//! sizes are the recorded ones, and with `full` whether their bytes hash to
//! their names (streamed, `jobs` at a time).

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use crate::remote::transfer::object_key;
use crate::remote::{Remote, RemoteError, OBJECTS_PREFIX, RUNS_PREFIX};
use crate::store::cache::Oid;
use crate::store::hash::Hasher;

use super::{problem, Kind, Refs, Report};

/// What the cache holds, as the local checks found it.
#[derive(Clone, Copy)]
pub(super) struct Local<'a> {
    /// Objects in the cache, with their sizes.
    pub present: &'a HashMap<Oid, u64>,
    pub damaged: &'a HashSet<Oid>,
    /// Referenced and not in the cache.
    pub missing: &'a [Oid],
}

/// Checks every referenced object on `remote`; returns those of `missing`
/// (absent from the cache) that the remote holds.
pub(super) fn check(
    remote: &Remote,
    refs: &Refs,
    local: &Local<'_>,
    full: bool,
    report: &mut Report,
) -> anyhow::Result<HashSet<Oid>> {
    let Local {
        present,
        damaged,
        missing,
    } = *local;
    let rt = crate::remote::runtime()?;
    let mut wanted: Vec<Oid> = refs.users.keys().copied().collect();
    wanted.sort();
    let keys: Vec<String> = wanted.iter().map(object_key).collect();
    // Key -> size on the remote (None: present, size unknown).
    let sizes: HashMap<String, Option<u64>> = if remote.can_list() {
        rt.block_on(remote.list_meta(OBJECTS_PREFIX))?
            .into_iter()
            .map(|l| (l.key, Some(l.size)))
            .collect()
    } else {
        let absent = rt.block_on(crate::remote::transfer::missing(
            remote,
            &keys,
            remote.jobs,
            &crate::progress::Silent,
        ))?;
        keys.iter()
            .filter(|k| !absent.contains(*k))
            .map(|k| (k.clone(), None))
            .collect()
    };
    report.checked.remote_objects = wanted.len();
    let mut held = HashSet::new();
    let mut to_hash = Vec::new();
    for oid in &wanted {
        let key = object_key(oid);
        let Some(size) = sizes.get(&key) else {
            continue;
        };
        held.insert(*oid);
        // The size a pointer or manifest records, else a sound local copy's.
        let expected = refs
            .sizes
            .get(oid)
            .copied()
            .or_else(|| present.get(oid).filter(|_| !damaged.contains(oid)).copied());
        match (size, expected) {
            (Some(have), Some(want)) if *have != want => {
                report.problems.push(problem(
                    Kind::RemoteCorrupt,
                    oid,
                    format!(
                        "on remote `{}`: {have} bytes where {want} are recorded",
                        remote.name
                    ),
                ));
            }
            _ if full => to_hash.push(*oid),
            _ => {}
        }
    }
    if !to_hash.is_empty() {
        let bad: Vec<(Oid, String)> = rt.block_on(async {
            futures::stream::iter(to_hash.iter().map(|oid| async move {
                let mut h = Hasher::new();
                let found = remote
                    .read_key_chunks(&object_key(oid), |b| {
                        h.update(b);
                        Ok(())
                    })
                    .await?;
                let actual = h.finish();
                Ok::<_, crate::remote::RemoteError>(
                    (found && actual != oid.digest).then(|| (*oid, actual.to_hex())),
                )
            }))
            .buffer_unordered(remote.jobs.max(1))
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await
        })?;
        for (oid, actual) in bad {
            report.problems.push(problem(
                Kind::RemoteCorrupt,
                &oid,
                format!("on remote `{}`: its bytes hash to {actual}", remote.name),
            ));
        }
    }
    Ok(missing
        .iter()
        .filter(|o| held.contains(o))
        .copied()
        .collect())
}

/// Reads every run record on `remote` (one request each, so `--full` only)
/// and reports those that are not sound; returns how many were read. Keys
/// not shaped as records are not mlci's and are skipped.
pub(super) fn records(
    remote: &Remote,
    guarded: &BTreeSet<String>,
    report: &mut Report,
) -> anyhow::Result<usize> {
    if !remote.can_list() {
        return Ok(0);
    }
    let rt = crate::remote::runtime()?;
    let keys: Vec<String> = rt
        .block_on(remote.list(RUNS_PREFIX))?
        .into_iter()
        .filter(|k| crate::pipeline::runcache::parse_record_key(k).is_some())
        .collect();
    let bad: Vec<(String, String)> = rt.block_on(async {
        futures::stream::iter(keys.iter().map(|k| async move {
            let bytes = match remote.read_key(k, crate::limits::RECORD_BYTES).await {
                Err(RemoteError::Oversized { limit, .. }) => {
                    return Ok(Some((
                        k.clone(),
                        format!("it is larger than {limit} bytes"),
                    )))
                }
                other => other?.unwrap_or_default(),
            };
            Ok::<_, RemoteError>(
                super::sound_record(&bytes, guarded)
                    .err()
                    .map(|why| (k.clone(), why)),
            )
        }))
        .buffer_unordered(remote.jobs.max(1))
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await
    })?;
    for (key, why) in bad {
        report.problems.push(super::Problem {
            kind: Kind::RemoteBadRecord,
            object: Some(key),
            paths: Vec::new(),
            detail: format!("on remote `{}`: {why}", remote.name),
            action: String::new(),
            repaired: None,
        });
    }
    Ok(keys.len())
}
