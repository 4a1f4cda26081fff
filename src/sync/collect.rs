//! Garbage collection on a remote (`mlci gc --remote NAME`): objects, run
//! records and per-commit stage records that nothing in the chosen scope
//! references, and that are older than the grace period.
//!
//! What is kept:
//! - every object the scope references (pointers and `mlci.lock` of the
//!   workspace and the chosen revisions), the files of referenced directory
//!   manifests (read from the cache, else from the remote, verified), and
//!   the outputs named by the per-commit records of commits in the scope;
//! - a run record whose outputs are all kept (one naming collected objects
//!   could restore nothing, so it goes with them);
//! - a per-commit record of a commit in the scope;
//! - anything written less than the grace period ago (default 24 h,
//!   `core.gc_grace`), whatever references it: a push or a fan-out worker
//!   on another machine may be writing objects that no commit names yet;
//! - keys not shaped as mlci's (`sha256/ab/cdef…`, `runs/ab/…`,
//!   `commits/<40 hex>/<64 hex>`): never ours to delete.
//!
//! Before deleting anything, gc writes a new random `gc/epoch` on the
//! remote; every push reads it and drops its local record of what the
//! remote holds when it changed, so no push skips an object gc removed.
//! Records are deleted before objects, so a gc killed part-way leaves no
//! record pointing at deleted objects that the kept record would not.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::pipeline::runcache;
use crate::remote::known::EPOCH_KEY;
use crate::remote::listing::Listed;
use crate::remote::transfer::object_key;
use crate::remote::{Remote, RemoteError, OBJECTS_PREFIX, RUNS_PREFIX};
use crate::store::cache::{Cache, Oid};
use crate::store::hash::Digest;
use crate::store::manifest::Manifest;

use super::commit_records::StageRecord;

/// Where per-commit stage records live on a remote.
const COMMITS_PREFIX: &str = "commits/";

/// Why a remote gc cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("directory manifest {oid} is referenced but is in neither the cache nor remote `{remote}`: the files it lists cannot be told from garbage")]
    ManifestMissing { oid: Oid, remote: String },
}

impl crate::error::Hint for CollectError {
    fn hint(&self) -> Option<String> {
        match self {
            CollectError::Remote(e) => e.hint(),
            CollectError::ManifestMissing { .. } => Some(
                "nothing was deleted; push that directory from a machine that has it, or narrow the scope".into(),
            ),
        }
    }
}

crate::register_hint!(CollectError);

/// What the scope keeps: objects (expanded through manifests by
/// [`plan`]) and commits whose stage records stay.
pub struct Scope {
    pub roots: HashSet<Oid>,
    pub commits: HashSet<String>,
}

/// One object a remote gc removes.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Doomed {
    pub key: String,
    /// Bytes.
    pub size: u64,
}

/// What a remote gc removes and keeps.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub objects: Vec<Doomed>,
    pub run_records: Vec<String>,
    pub commit_records: Vec<String>,
    /// Referenced keys kept.
    pub kept: usize,
    /// Unreferenced keys kept because they are younger than the grace period.
    pub young: usize,
    /// The grace period, in seconds.
    pub grace_seconds: u64,
}

impl Plan {
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|d| d.size).sum()
    }
    pub fn len(&self) -> usize {
        self.objects.len() + self.run_records.len() + self.commit_records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Plans a gc of `remote`: lists it, reads what it must (manifests the
/// cache lacks, run records and in-scope stage records), deletes nothing.
pub fn plan(
    remote: &Remote,
    cache: &Cache,
    scope: Scope,
    grace: Duration,
) -> Result<Plan, CollectError> {
    let rt = crate::remote::runtime().map_err(RemoteError::Local)?;
    let now = SystemTime::now();
    let old = |l: &Listed| {
        l.modified
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= grace)
    };
    let mut plan = Plan {
        grace_seconds: grace.as_secs(),
        ..Plan::default()
    };
    let mut roots = scope.roots;

    // Stage records: kept for commits in scope, and their outputs with them.
    let listed = rt.block_on(remote.list_meta(COMMITS_PREFIX))?;
    for l in &listed {
        let Some(commit) = commit_of(&l.key) else {
            continue;
        };
        if scope.commits.contains(commit) {
            plan.kept += 1;
            let bytes = rt
                .block_on(remote.read_key(&l.key, crate::limits::RECORD_BYTES))?
                .unwrap_or_default();
            if let Ok(StageRecord { entry: Some(e), .. }) = serde_json::from_slice(&bytes) {
                roots.extend(e.outs.iter().filter_map(|o| o.oid()));
            }
        } else if old(l) {
            plan.commit_records.push(l.key.clone());
        } else {
            plan.young += 1;
        }
    }

    let keep = expand(remote, cache, &rt, roots)?;

    // Run records: kept when every object they name is kept.
    let listed = rt.block_on(remote.list_meta(RUNS_PREFIX))?;
    let candidates: Vec<&Listed> = listed
        .iter()
        .filter(|l| runcache::parse_record_key(&l.key).is_some())
        .collect();
    let verdicts: Vec<(String, bool, bool)> = rt.block_on(async {
        futures::stream::iter(candidates.iter().map(|l| {
            let keep = &keep;
            async move {
                // A record over the bound is no record: not kept.
                let bytes = match remote.read_key(&l.key, crate::limits::RECORD_BYTES).await {
                    Err(RemoteError::Oversized { .. }) => Vec::new(),
                    other => other?.unwrap_or_default(),
                };
                let useful = serde_json::from_slice::<runcache::Record>(&bytes).is_ok_and(|r| {
                    r.outs
                        .iter()
                        .all(|o| o.oid().is_some_and(|oid| keep.contains(&oid)))
                });
                Ok::<_, RemoteError>((l.key.clone(), useful, old(l)))
            }
        }))
        .buffer_unordered(remote.jobs.max(1))
        .try_collect()
        .await
    })?;
    for (key, useful, old) in verdicts {
        match (useful, old) {
            (true, _) => plan.kept += 1,
            (false, true) => plan.run_records.push(key),
            (false, false) => plan.young += 1,
        }
    }

    // Objects.
    for l in rt.block_on(remote.list_meta(OBJECTS_PREFIX))? {
        let Some(oid) = oid_of(&l.key) else {
            continue;
        };
        if keep.contains(&oid) {
            plan.kept += 1;
        } else if old(&l) {
            plan.objects.push(Doomed {
                key: l.key,
                size: l.size,
            });
        } else {
            plan.young += 1;
        }
    }
    plan.objects.sort();
    plan.run_records.sort();
    plan.commit_records.sort();
    Ok(plan)
}

/// Deletes what `plan` lists (records first), `remote.jobs` at a time,
/// after changing the remote's gc epoch. Returns how many keys went.
pub fn sweep(remote: &Remote, plan: &Plan) -> Result<usize, CollectError> {
    if plan.is_empty() {
        return Ok(0);
    }
    let rt = crate::remote::runtime().map_err(RemoteError::Local)?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| RemoteError::Local(std::io::Error::other(e)))?;
    rt.block_on(remote.write_small(EPOCH_KEY, hex::encode(id).as_bytes()))?;
    let mut n = 0;
    let records = plan.commit_records.iter().chain(&plan.run_records);
    let objects = plan.objects.iter().map(|d| &d.key);
    for batch in [records.collect::<Vec<_>>(), objects.collect()] {
        n += rt.block_on(async {
            futures::stream::iter(batch.iter().map(|k| remote.delete(k)))
                .buffer_unordered(remote.jobs.max(1))
                .try_fold(0usize, |n, ()| async move { Ok(n + 1) })
                .await
        })?;
    }
    Ok(n)
}

/// The remote's gc epoch: the text of `gc/epoch` when it is a short hex
/// id, else empty (no gc has run, or the key is not ours).
pub async fn epoch(remote: &Remote) -> Result<String, RemoteError> {
    if remote.read_only() {
        return Ok(String::new());
    }
    let text = remote.read_key(EPOCH_KEY, 4096).await?.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let ok = text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    Ok(if ok { text } else { String::new() })
}

/// `roots` and the files of every directory among them; a manifest the
/// cache lacks is read from the remote and verified.
fn expand(
    remote: &Remote,
    cache: &Cache,
    rt: &tokio::runtime::Runtime,
    roots: HashSet<Oid>,
) -> Result<HashSet<Oid>, CollectError> {
    let mut keep = HashSet::new();
    for oid in roots {
        if !keep.insert(oid) || !oid.dir {
            continue;
        }
        let bytes = match cache.read_verified(&oid) {
            Ok(b) => Some(b),
            Err(_) => rt
                .block_on(remote.read_key(&object_key(&oid), crate::limits::MANIFEST_BYTES))?
                .filter(|b| Digest::of_bytes(b) == oid.digest),
        };
        let manifest = bytes.and_then(|b| Manifest::parse(&b).ok());
        let Some(m) = manifest else {
            return Err(CollectError::ManifestMissing {
                oid,
                remote: remote.name.clone(),
            });
        };
        keep.extend(m.entries().iter().map(|e| Oid::file(e.sha256)));
    }
    Ok(keep)
}

/// The object a key of exactly the shape `sha256/ab/cdef…[.dir]` names.
fn oid_of(key: &str) -> Option<Oid> {
    let rest = key.strip_prefix(OBJECTS_PREFIX)?;
    let (shard, name) = rest.split_once('/')?;
    if shard.len() != 2 || name.contains('/') {
        return None;
    }
    let oid: Oid = format!("{shard}{name}").parse().ok()?;
    (object_key(&oid) == key).then_some(oid)
}

/// The commit a key of exactly the shape `commits/<40 hex>/<64 hex>` names.
fn commit_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(COMMITS_PREFIX)?;
    let (commit, stage) = rest.split_once('/')?;
    let hex =
        |s: &str, n| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex(commit, 40) && hex(stage, 64)).then_some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_mlci_shapes_are_candidates() {
        let hex = "ab".repeat(32);
        let k = format!("sha256/ab/{}", &hex[2..]);
        assert!(oid_of(&k).is_some());
        assert!(oid_of(&format!("{k}.dir")).is_some_and(|o| o.dir));
        assert!(oid_of(&format!("sha256/ab/x/{}", &hex[2..])).is_none());
        assert!(oid_of("sha256/ab/notes.txt").is_none());
        assert!(oid_of(&format!("sha256/AB/{}", &hex[2..])).is_none());
        let c = "0".repeat(40);
        assert_eq!(commit_of(&format!("commits/{c}/{hex}")), Some(c.as_str()));
        assert!(commit_of(&format!("commits/{c}/{hex}/x")).is_none());
        assert!(commit_of("commits/HEAD/x").is_none());
    }
}
