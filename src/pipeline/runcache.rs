//! The run cache: (cmd, dep hashes, param values, out paths) -> out hashes.
//!
//! A record lives in the cache at `runs/<ab>/<cdef…>` (the key's SHA-256),
//! so push and pull carry it with the data. Before running a stale stage,
//! `repro` looks its key up; when a record exists and every object it names
//! is in the cache, the outputs are restored instead of recomputed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::pipeline::lock::LockEntry;
use crate::pipeline::status::Inputs;
use crate::pipeline::Stage;
use crate::store::cache::Cache;
use crate::store::hash::Digest;

/// What the key is made of; serialised canonically (sorted maps, ordered
/// lists) and hashed, so the same run has the same key on every machine.
#[derive(Serialize)]
struct Key<'a> {
    cmd: &'a [String],
    deps: BTreeMap<&'a str, &'a str>,
    params: &'a BTreeMap<String, BTreeMap<String, Json>>,
    outs: Vec<&'a str>,
    wdir: &'a str,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub outs: Vec<LockEntry>,
}

/// Gets objects from elsewhere (a remote) when a run record names outputs
/// the cache lacks. Implemented by the command layer, which owns remotes.
pub trait ObjectSource: Send + Sync {
    /// Brings `oids` (and, for directories, their files) into the cache;
    /// false when it could not (the stage then runs instead).
    fn fetch(&self, oids: &[crate::store::cache::Oid]) -> bool;
    /// The run record named `key` there, when the local run cache lacks it
    /// (checked by the caller before it is kept).
    fn record(&self, _key: &Digest) -> Option<Vec<u8>> {
        None
    }
}

/// Whether a stage may use the run cache at all: exactly where DVC does
/// (`dvc/stage/cache.py`, `_can_hash`, and `Stage.run`): a command, at
/// least one dep (a params entry counts, as in DVC) and one out, no
/// `persist` out, not `always_changed`, and no plain `outs` entry kept in
/// git (`cache: false`). Metrics and plots kept in git do not rule a stage
/// out: DVC keeps their bytes in the cache for the run cache, and so does
/// mlci ([`kept_in_git`]).
pub fn eligible(stage: &Stage) -> bool {
    let has_deps = !stage.deps.is_empty() || !stage.params.is_empty();
    !stage.always_changed
        && has_deps
        && !stage.outs.is_empty()
        && stage
            .outs
            .iter()
            .all(|o| !o.persist && (o.cache || kept_in_git(o)))
}

/// A metrics or plots output kept in git (`cache: false`): a run record
/// names its bytes, which the cache keeps beside the cached outputs, and a
/// restore writes them back as plain files (never a link into the cache,
/// since git tracks them).
pub fn kept_in_git(out: &crate::pipeline::definition::Output) -> bool {
    !out.cache
        && matches!(
            out.kind,
            crate::pipeline::OutKind::Metric | crate::pipeline::OutKind::Plot
        )
}

pub fn key(stage: &Stage, inputs: &Inputs) -> Digest {
    let mut outs: Vec<&str> = stage.outs.iter().map(|o| o.path.as_str()).collect();
    outs.sort_unstable();
    let k = Key {
        cmd: &stage.cmd,
        deps: inputs
            .deps
            .iter()
            .map(|d| (d.path.as_str(), d.sha256.as_str()))
            .collect(),
        params: &inputs.params,
        outs,
        wdir: &stage.wdir,
    };
    Digest::of_bytes(&serde_json::to_vec(&k).expect("run cache keys serialise"))
}

fn record_path(cache: &Cache, key: &Digest) -> PathBuf {
    cache.root().join(record_key(key))
}

/// The key of a run record, the same below the cache root and on a remote:
/// `runs/<ab>/<cdef…>`.
pub fn record_key(key: &Digest) -> String {
    let hex = key.to_hex();
    format!("runs/{}/{}", &hex[..2], &hex[2..])
}

/// The recorded outputs of an identical earlier run of `stage`, if any.
///
/// Records travel through remotes, so they are untrusted: a record is used
/// only when it names exactly the stage's declared outs (each once, each a
/// checked [`crate::workspace_path::WorkspacePath`] by parsing), so a
/// poisoned record can restore nothing the stage does not write anyway.
pub fn lookup(cache: &Cache, key: &Digest, stage: &Stage) -> Option<Record> {
    let bytes = fs_err::read(record_path(cache, key)).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    names_declared_outs(&record, stage).then_some(record)
}

/// Whether `record` names each of `stage`'s outs exactly once and nothing
/// else, every one with a valid object id.
pub fn names_declared_outs(record: &Record, stage: &Stage) -> bool {
    let mut declared: Vec<&str> = stage.outs.iter().map(|o| o.path.as_str()).collect();
    let mut named: Vec<&str> = record.outs.iter().map(|o| o.path.as_str()).collect();
    declared.sort_unstable();
    named.sort_unstable();
    declared == named && record.outs.iter().all(|o| o.oid().is_some())
}

/// Whether `bytes` parse as a run record (every out path a checked
/// workspace path): what a download must hold before it is kept.
pub fn is_record(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Record>(bytes).is_ok()
}

/// The key digest a remote or cache key names, when it has exactly the
/// shape `runs/<2 hex>/<62 hex>`; anything else a remote lists is ignored
/// (a listed key becomes a local path, so its shape is checked first).
pub fn parse_record_key(key: &str) -> Option<Digest> {
    let rest = key.strip_prefix("runs/")?;
    let (shard, tail) = rest.split_once('/')?;
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !hex(shard, 2) || !hex(tail, 62) {
        return None;
    }
    format!("{shard}{tail}").parse().ok()
}

/// Every file below `runs/` of the cache, as (key, path), whatever its name.
pub fn record_files(cache: &Cache) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(shards) = fs_err::read_dir(cache.root().join("runs")) else {
        return out;
    };
    for shard in shards.flatten() {
        let Ok(entries) = fs_err::read_dir(shard.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // a temp file being written
            }
            out.push((
                format!("runs/{}/{name}", shard.file_name().to_string_lossy()),
                e.path(),
            ));
        }
    }
    out.sort();
    out
}

/// Run records that no longer restore anything: unreadable, or naming an
/// object `keep` does not hold (the objects go, so the record goes too).
/// Returns their keys (`runs/ab/cdef…`) and paths.
pub fn stale(
    cache: &Cache,
    keep: &std::collections::HashSet<crate::store::cache::Oid>,
) -> Vec<(String, PathBuf)> {
    record_files(cache)
        .into_iter()
        .filter(|(_, path)| {
            let record = fs_err::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
            !record.is_some_and(|r| {
                r.outs
                    .iter()
                    .all(|o| o.oid().is_some_and(|oid| keep.contains(&oid)))
            })
        })
        .collect()
}

pub fn save(cache: &Cache, key: &Digest, outs: &[LockEntry]) -> std::io::Result<()> {
    let path = record_path(cache, key);
    fs_err::create_dir_all(path.parent().expect("record paths have a parent"))?;
    let bytes = serde_json::to_vec(&Record {
        outs: outs.to_vec(),
    })
    .map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic_nosync(&path, &bytes)
}
