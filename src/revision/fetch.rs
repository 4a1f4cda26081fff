//! A tracked path's objects brought into the cache from the remote the
//! settings name: what `mlci model get` and `mlci drift PATH@REV` need
//! after [`super::RevReader::tracked`] found the path.

use crate::progress::Reporter;
use crate::repo::Repo;
use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;
use crate::track::Tracked;

/// Fetches what the cache lacks of `t` (verified by hash) from the remote
/// the settings name.
pub fn fetch_missing(repo: &Repo, t: &Tracked, reporter: &dyn Reporter) -> anyhow::Result<()> {
    if complete(&repo.cache, &t.pointer.oid) {
        return Ok(());
    }
    let oid = t.pointer.oid.to_string();
    let Some(remote) = crate::sync::open(&repo.settings, &repo.root)? else {
        return Err(super::RevisionError::NoRemote {
            path: t.target_rel.to_string(),
            oid,
        }
        .into());
    };
    let session = crate::sync::Session {
        repo,
        remote: &remote,
        run_cache: false,
        reporter,
    };
    let outcome = crate::sync::fetch(&session, std::slice::from_ref(t))?;
    if !outcome.lost.is_empty() || !complete(&repo.cache, &t.pointer.oid) {
        return Err(super::RevisionError::Lost {
            path: t.target_rel.to_string(),
            oid,
            remote: remote.name.clone(),
        }
        .into());
    }
    Ok(())
}

/// Whether the cache holds `oid` and, for a directory, every file of it.
pub fn complete(cache: &Cache, oid: &Oid) -> bool {
    if !cache.contains(oid) {
        return false;
    }
    if !oid.dir {
        return true;
    }
    match cache
        .read_verified(oid)
        .ok()
        .and_then(|b| Manifest::parse(&b).ok())
    {
        Some(m) => m
            .entries()
            .iter()
            .all(|e| cache.contains(&Oid::file(e.sha256))),
        None => false,
    }
}
