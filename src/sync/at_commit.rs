//! A tracked path as committed at some revision, and its objects brought
//! into the cache: what `mlci model get` and `mlci drift PATH@REV` read.

use crate::pipeline::lock::{lock_outs, LockFile, LOCK_FILE};
use crate::progress::Reporter;
use crate::repo::Repo;
use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;
use crate::track::Tracked;

/// Why a path's objects could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AtCommitError {
    #[error("{path} ({oid}) is in neither the cache nor remote `{remote}`")]
    Lost {
        path: String,
        oid: String,
        remote: String,
    },
    #[error("{path} ({oid}) is not in the cache and no remote is configured")]
    NoRemote { path: String, oid: String },
    #[error("reading {what} at {commit}: {message}")]
    Read {
        what: String,
        commit: String,
        message: String,
    },
}

impl crate::error::Hint for AtCommitError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            AtCommitError::Lost { .. } => "push it from a machine that has it: `mlci push`".into(),
            AtCommitError::NoRemote { .. } => {
                "add the remote: `mlci remote add NAME URL`, or run where the cache has it".into()
            }
            AtCommitError::Read { .. } => return None,
        })
    }
}

crate::register_hint!(AtCommitError);

/// `path` as tracked at `commit`: its pointer file, else its output entry
/// in that commit's `mlci.lock`; None when it is neither.
pub fn tracked_at(
    git: &git2::Repository,
    commit: git2::Oid,
    path: &str,
) -> Result<Option<Tracked>, AtCommitError> {
    let read_err = |what: &str, message: String| AtCommitError::Read {
        what: what.into(),
        commit: commit.to_string()[..8].to_string(),
        message,
    };
    let pointer_rel = format!("{path}.{}", crate::track::pointer::EXTENSION);
    let pointer = crate::git::file_in(git, commit, &pointer_rel)
        .map_err(|e| read_err(&pointer_rel, e.message().to_string()))?;
    if let Some(text) = pointer {
        let t = crate::track::tracked_from_text(&pointer_rel, &String::from_utf8_lossy(&text))
            .map_err(|e| read_err(&pointer_rel, e.to_string()))?;
        return Ok(Some(t));
    }
    let lock = crate::git::file_in(git, commit, LOCK_FILE)
        .map_err(|e| read_err(LOCK_FILE, e.message().to_string()))?;
    let Some(text) = lock else {
        return Ok(None);
    };
    let lock = LockFile::parse(&String::from_utf8_lossy(&text))
        .map_err(|e| read_err(LOCK_FILE, e.to_string()))?;
    Ok(lock_outs(&lock, &|_| Some(true))
        .into_iter()
        .find(|t| t.target_rel.as_str() == path))
}

/// Fetches what the cache lacks of `t` (verified by hash) from the remote
/// the settings name.
pub fn fetch_missing(repo: &Repo, t: &Tracked, reporter: &dyn Reporter) -> anyhow::Result<()> {
    if complete(&repo.cache, &t.pointer.oid) {
        return Ok(());
    }
    let oid = t.pointer.oid.to_string();
    let Some(remote) = super::open(&repo.settings, &repo.root)? else {
        return Err(AtCommitError::NoRemote {
            path: t.target_rel.to_string(),
            oid,
        }
        .into());
    };
    let session = super::Session {
        repo,
        remote: &remote,
        run_cache: false,
        reporter,
    };
    let outcome = super::fetch(&session, std::slice::from_ref(t))?;
    if !outcome.lost.is_empty() || !complete(&repo.cache, &t.pointer.oid) {
        return Err(AtCommitError::Lost {
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
