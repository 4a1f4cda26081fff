//! Where each tracked path's objects are, seen from the cache and a remote:
//! what `mlci status --remote` shows.

use std::collections::HashSet;

use serde::Serialize;

use crate::remote::known::Known;
use crate::remote::{self, transfer};
use crate::store::cache::Oid;
use crate::track::Tracked;

use super::{expand, shallow, Session, SyncError};

/// Where a tracked path's objects are, seen from a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteState {
    /// Every object is in the cache and on the remote.
    Synced,
    /// Some objects are only local: `mlci push` sends them.
    NotPushed,
    /// Some objects are only on the remote: `mlci fetch` gets them.
    NotFetched,
    /// Some objects are in neither place.
    Missing,
}

/// One tracked path's objects, counted by where they are.
#[derive(Debug, Serialize)]
pub struct RemotePath {
    pub path: String,
    pub state: RemoteState,
    pub objects: usize,
    pub local_only: usize,
    pub remote_only: usize,
    pub missing: usize,
}

impl RemotePath {
    /// Counts one object by where it is: in the cache (`local`), on the
    /// remote (`on_remote`).
    pub fn count(&mut self, local: bool, on_remote: bool) {
        match (local, on_remote) {
            (true, false) => self.local_only += 1,
            (false, true) => self.remote_only += 1,
            (false, false) => self.missing += 1,
            (true, true) => {}
        }
    }

    /// The path with the state its counts give: missing anywhere wins,
    /// then only local, then only on the remote.
    pub fn settle(mut self) -> RemotePath {
        self.state = if self.missing > 0 {
            RemoteState::Missing
        } else if self.local_only > 0 {
            RemoteState::NotPushed
        } else if self.remote_only > 0 {
            RemoteState::NotFetched
        } else {
            RemoteState::Synced
        };
        self
    }
}

/// Compares the cache with the remote itself (the known-objects record is
/// not trusted here; it is rewritten from what the remote said). Directory
/// listings only on the remote are fetched (they are small and verified),
/// so their files are counted too.
pub fn compare(s: &Session<'_>, tracked: &[Tracked]) -> Result<Vec<RemotePath>, SyncError> {
    let (cache, remote) = (&s.repo.cache, s.remote);
    let rt = remote::runtime()?;
    let mut known = Known::load(&s.repo.tmp_dir(), &remote.identity);
    let mut groups = shallow(tracked);
    for g in groups.iter_mut() {
        expand(cache, g);
    }
    let manifests: Vec<transfer::Want> = groups
        .iter()
        .filter(|g| g.manifest_missing && !cache.contains(&g.root))
        .map(|g| transfer::Want::object(g.root, None))
        .collect();
    if !manifests.is_empty() {
        let t = transfer::Transfer {
            reporter: &crate::progress::Silent,
            ..s.transfer()
        };
        rt.block_on(transfer::download(&t, &manifests, &mut known))?;
        for g in groups.iter_mut() {
            expand(cache, g);
        }
    }
    let mut keys: Vec<String> = groups
        .iter()
        .flat_map(|g| g.objects.iter().map(|(o, _)| transfer::object_key(o)))
        .collect();
    keys.sort();
    keys.dedup();
    let absent = rt.block_on(transfer::missing(remote, &keys, remote.jobs, s.reporter))?;
    for k in &keys {
        if absent.contains(k) {
            known.remove(k);
        } else {
            known.insert(k);
        }
    }
    for g in groups.iter().filter(|g| g.root.dir && g.only.is_none()) {
        let root = transfer::object_key(&g.root);
        let whole = !g.manifest_missing
            && g.objects.len() > 1
            && g.objects
                .iter()
                .all(|(o, _)| !absent.contains(&transfer::object_key(o)));
        if whole {
            known.insert_tree(&root);
        } else {
            known.remove(&root);
        }
    }
    known.save()?;
    Ok(groups
        .iter()
        .map(|g| {
            let mut p = RemotePath {
                path: g.label.clone(),
                state: RemoteState::Synced,
                objects: g.objects.len(),
                local_only: 0,
                remote_only: 0,
                missing: 0,
            };
            let mut seen: HashSet<Oid> = HashSet::new();
            for (oid, _) in &g.objects {
                if !seen.insert(*oid) {
                    continue;
                }
                p.count(
                    cache.contains(oid),
                    !absent.contains(&transfer::object_key(oid)),
                );
            }
            if g.manifest_missing {
                p.missing += 1;
            }
            p.settle()
        })
        .collect())
}
