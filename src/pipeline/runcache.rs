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

use crate::cache::Cache;
use crate::config::pipeline::Stage;
use crate::hash::Digest;
use crate::pipeline::lock::LockEntry;
use crate::pipeline::status::Inputs;

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
    fn fetch(&self, oids: &[crate::cache::Oid]) -> bool;
}

/// Whether a stage may use the run cache at all.
pub fn eligible(stage: &Stage) -> bool {
    !stage.always_changed
        && !stage.outs.is_empty()
        && stage.outs.iter().all(|o| o.cache && !o.persist)
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
    let hex = key.to_hex();
    cache.root().join("runs").join(&hex[..2]).join(&hex[2..])
}

/// The recorded outputs of an identical earlier run, if any.
pub fn lookup(cache: &Cache, key: &Digest) -> Option<Record> {
    let bytes = std::fs::read(record_path(cache, key)).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    // Untrusted like any cache content: paths must stay relative.
    record
        .outs
        .iter()
        .all(|o| crate::fsutil::check_relative(&o.path).is_ok() && o.oid().is_some())
        .then_some(record)
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
