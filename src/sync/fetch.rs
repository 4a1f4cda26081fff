//! The fetch: objects of tracked paths (roots first, then the files of
//! directories whose manifests just arrived) and the remote's run records.

use std::collections::{BTreeSet, HashSet};

use crate::pipeline::runcache;
use crate::remote::known::Known;
use crate::remote::transfer::{self, Transfer};
use crate::remote::{self, RemoteError, RUNS_PREFIX};
use crate::track::Tracked;

use super::{expand, shallow, Group, Session, SyncError};

/// What a fetch did.
#[derive(Debug, Default)]
pub struct FetchOutcome {
    pub objects: usize,
    pub bytes: u64,
    pub run_records: usize,
    /// Run-record keys on the remote refused as malformed (a path outside
    /// the stage's outs, or not a record at all): never kept.
    pub rejected: Vec<String>,
    /// Objects the remote lacks too.
    pub missing: usize,
    /// `push: false` outputs this cache lacks: not asked for (no remote
    /// holds them).
    pub unpushed: Vec<String>,
    /// Tracked paths with objects in neither the cache nor the remote.
    pub lost: Vec<String>,
}

/// Fetches the objects of `tracked` the cache lacks and, when the session
/// moves run records, the remote's records. Objects the remote lacks are
/// not an error here: they are named in [`FetchOutcome::lost`], after
/// everything else has been fetched.
pub fn fetch(s: &Session<'_>, tracked: &[Tracked]) -> Result<FetchOutcome, SyncError> {
    let repo = s.repo;
    let (tracked, unpushed) = super::without_unpushed_absent(repo, tracked.to_vec());
    let mut groups = shallow(&tracked);
    for g in groups.iter_mut() {
        expand(&repo.cache, g);
    }
    let rt = remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &s.remote.identity);
    let result = fetch_groups(&s.transfer(), &rt, &mut groups, &mut known);
    let records = match &result {
        Ok(_) if s.run_cache => fetch_run_records(s, &rt, &mut known),
        _ => Ok((0, Vec::new())),
    };
    known.save()?;
    let (summary, lost) = result?;
    let (run_records, rejected) = records?;
    Ok(FetchOutcome {
        objects: summary.objects,
        bytes: summary.bytes,
        run_records,
        rejected,
        missing: summary.missing.len(),
        lost,
        unpushed,
    })
}

/// Fetches the objects of `groups` that the cache lacks: roots first, then
/// the files of directories whose manifests just arrived. Returns the
/// summary and the labels of groups with objects the remote lacks too.
pub(crate) fn fetch_groups(
    t: &Transfer<'_>,
    rt: &tokio::runtime::Runtime,
    groups: &mut [Group],
    known: &mut Known,
) -> Result<(transfer::Summary, Vec<String>), RemoteError> {
    let cache = t.cache;
    let mut total = transfer::Summary::default();
    let mut lost = BTreeSet::new();
    // Asked once each, so a missing root is not asked for again.
    let mut seen = HashSet::new();
    for phase in 0..2 {
        let mut wants = Vec::new();
        for g in groups.iter() {
            for (oid, size) in &g.objects {
                if !cache.contains(oid) && seen.insert(*oid) {
                    wants.push(transfer::Want::object(*oid, *size));
                }
            }
        }
        if !wants.is_empty() {
            let s = rt.block_on(transfer::download(t, &wants, known))?;
            total.objects += s.objects;
            total.bytes += s.bytes;
            let missing: HashSet<&str> = s.missing.iter().map(String::as_str).collect();
            for g in groups.iter() {
                if g.objects
                    .iter()
                    .any(|(o, _)| missing.contains(transfer::object_key(o).as_str()))
                {
                    lost.insert(g.label.clone());
                }
            }
            total.missing.extend(s.missing);
        }
        if phase == 0 {
            for g in groups.iter_mut() {
                expand(cache, g);
            }
        }
    }
    Ok((total, lost.into_iter().collect()))
}

/// Fetches the run records the remote has and the cache lacks. Returns how
/// many arrived and the keys of those refused as malformed (a record whose
/// paths fail the workspace rule is never kept).
fn fetch_run_records(
    s: &Session<'_>,
    rt: &tokio::runtime::Runtime,
    known: &mut Known,
) -> Result<(usize, Vec<String>), RemoteError> {
    let (remote, cache) = (s.remote, &s.repo.cache);
    if !remote.can_list() {
        // HTTP remotes cannot be listed: only objects named by pointers
        // come from them.
        return Ok((0, Vec::new()));
    }
    let keys = rt.block_on(remote.list(RUNS_PREFIX))?;
    // A listed key names a local file below the cache: only keys of exactly
    // the record shape are taken, rebuilt from their digest.
    let wants: Vec<transfer::Want> = keys
        .iter()
        .filter_map(|k| runcache::parse_record_key(k))
        .map(|d| transfer::Want::record(&d))
        .filter(|w| !cache.root().join(&w.key).exists())
        .collect();
    if wants.is_empty() {
        return Ok((0, Vec::new()));
    }
    let t = Transfer {
        reporter: &crate::progress::Silent,
        ..s.transfer()
    };
    let got = rt.block_on(transfer::download(&t, &wants, known))?;
    Ok((got.objects, got.missing))
}
