//! What a gc scope references: every object the workspace's pointers and
//! `mlci.lock` name, and those of the pointer files and lock files at the
//! chosen revisions (or at every commit reachable from a ref). Local gc
//! (`store::gc`) and remote gc (`collect`) keep what this finds.

use std::collections::HashSet;

use crate::git;
use crate::repo::Repo;
use crate::store::cache::Oid;
use crate::track::{all_tracked, tracked_from_text};

/// What gc looks for in history: pointer files and the root lock file.
const SCAN: git::ScanFor = git::ScanFor {
    pointer_extension: crate::track::pointer::EXTENSION,
    lock_file: crate::pipeline::lock::LOCK_FILE,
};

/// A file at a revision that could not be read: left out of the scope
/// (the caller warns).
pub struct Ignored {
    pub path: String,
    /// The commit, 40 hex.
    pub rev: String,
    pub why: String,
}

/// The objects a scope references, and what it could not read.
pub struct Referenced {
    pub roots: HashSet<Oid>,
    pub ignored: Vec<Ignored>,
}

/// Why the scope could not be read (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error(transparent)]
    Git(#[from] git2::Error),
}

impl crate::error::Hint for ScopeError {
    fn hint(&self) -> Option<String> {
        match self {
            ScopeError::Track(e) => e.hint(),
            ScopeError::Target(e) => e.hint(),
            ScopeError::Git(_) => None,
        }
    }
}

crate::register_hint!(ScopeError);

/// Every object the workspace and the chosen history reference: pointers
/// and `mlci.lock` outs, at `revs` or, with `all_commits`, at every commit
/// reachable from any ref (registry tags' commits among them).
pub fn referenced(
    repo: &Repo,
    all_commits: bool,
    revs: &[String],
) -> Result<Referenced, ScopeError> {
    let mut roots: HashSet<Oid> = all_tracked(&repo.root)?
        .into_iter()
        .map(|t| t.pointer.oid)
        .collect();
    roots.extend(
        crate::targets::lock_tracked(&repo.root)?
            .into_iter()
            .map(|t| t.pointer.oid),
    );
    let blobs = if all_commits {
        git::pointers_in_all_commits(&repo.root, &SCAN)?
    } else {
        git::pointers_at(&repo.root, revs, &SCAN)?
    };
    let mut ignored = Vec::new();
    for blob in blobs {
        if blob.path == crate::pipeline::lock::LOCK_FILE {
            // Every output a lock file at that revision names (cached or
            // not: keeping a few extra objects is the safe side).
            match crate::pipeline::lock::LockFile::parse(&blob.text) {
                Ok(lock) => roots.extend(
                    crate::pipeline::lock::lock_outs(&lock, &|_| Some(true))
                        .into_iter()
                        .map(|t| t.pointer.oid),
                ),
                Err(e) => ignored.push(Ignored {
                    path: blob.path,
                    rev: blob.rev,
                    why: e.to_string(),
                }),
            }
            continue;
        }
        match tracked_from_text(&blob.path, &blob.text) {
            Ok(t) => {
                roots.insert(t.pointer.oid);
            }
            Err(e) => ignored.push(Ignored {
                path: blob.path,
                rev: blob.rev,
                why: e.to_string(),
            }),
        }
    }
    Ok(Referenced { roots, ignored })
}
