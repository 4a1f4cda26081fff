//! Moving a workspace's objects between the local cache and a remote:
//! which objects the tracked paths (and run records) consist of, the push
//! and the fetch of them, and a remote as the run cache's second source.
//!
//! This is the domain behind `mlci push`, `fetch`, `pull` and the pull and
//! push steps of `mlci ci`; the commands choose targets and print, the
//! functions here return outcomes and typed errors (docs/architecture.md).

pub mod collect;
pub mod commit_records;
pub mod fanout;
mod fetch;
mod push;
pub mod scope;
mod source;
mod status;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

pub use fetch::{fetch, FetchOutcome};
pub use push::{push, PushOutcome};
pub use source::RemoteSource;
pub use status::{compare, RemotePath, RemoteState};

use crate::config::Settings;
use crate::error::Hint;
use crate::pipeline::runcache;
use crate::progress::Reporter;
use crate::remote::{self, Remote, RemoteError, RUNS_PREFIX};
use crate::repo::Repo;
use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;
use crate::track::Tracked;

/// Why a push or fetch could not run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("several remotes are defined ({}) and none is the default", names.join(", "))]
    Ambiguous { names: Vec<String> },
    #[error("saving what is known about the remote: {0}")]
    Io(#[from] std::io::Error),
}

impl SyncError {
    /// The remote refused the credentials, or there were none (a fork's
    /// pull request): `mlci ci` skips the transfer with a warning.
    pub fn is_auth(&self) -> bool {
        matches!(self, SyncError::Remote(RemoteError::Auth { .. }))
    }
}

impl Hint for SyncError {
    fn hint(&self) -> Option<String> {
        match self {
            SyncError::Ambiguous { .. } => Some(
                "pick one with `-r NAME`, or make one the default: `mlci remote default NAME`"
                    .into(),
            ),
            // `transparent` hides the inner error from the error chain, so
            // its hint is passed on here.
            SyncError::Remote(e) => e.hint(),
            SyncError::Io(_) => None,
        }
    }
}

crate::register_hint!(SyncError);

/// Opens the remote the settings resolve to (`-r`, else `core.remote`, else
/// the only one defined), with the concurrency they resolve to. `Ok(None)`:
/// none is configured and none was asked for (`mlci ci` then skips its
/// transfers with a notice).
pub fn open(settings: &Settings, root: &Path) -> Result<Option<Remote>, SyncError> {
    let Some(name) = remote::choose(
        settings.remote.as_deref(),
        settings.default_remote.as_deref(),
        &settings.remotes,
    )?
    else {
        if settings.remotes.len() > 1 {
            return Err(SyncError::Ambiguous {
                names: settings.remotes.keys().cloned().collect(),
            });
        }
        return Ok(None);
    };
    Ok(Some(Remote::open(
        &name,
        &settings.remotes,
        root,
        settings.remote_jobs(),
    )?))
}

/// Like [`open`], but a missing remote is an error with a hint.
pub fn require(settings: &Settings, root: &Path) -> Result<Remote, SyncError> {
    open(settings, root)?.ok_or(SyncError::Remote(RemoteError::NoneConfigured))
}

/// What one push or fetch works with: the repository, the open remote (its
/// `jobs` is the number of transfers in flight), whether run records travel,
/// and where progress goes.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub repo: &'a Repo,
    pub remote: &'a Remote,
    /// Run records (and the outputs only they name) travel too; only a
    /// transfer of the whole workspace moves them.
    pub run_cache: bool,
    pub reporter: &'a dyn Reporter,
}

impl Session<'_> {
    fn transfer(&self) -> remote::transfer::Transfer<'_> {
        remote::transfer::Transfer {
            remote: self.remote,
            cache: &self.repo.cache,
            jobs: self.remote.jobs,
            reporter: self.reporter,
        }
    }
}

/// One tracked path and the objects it consists of.
pub(crate) struct Group {
    pub label: String,
    pub root: Oid,
    /// Files of a directory, from its pointer.
    pub nfiles: Option<u64>,
    /// The root and, for a directory whose manifest is at hand, its files
    /// with their sizes.
    pub objects: Vec<(Oid, Option<u64>)>,
    /// A directory whose manifest is in neither place we looked.
    pub manifest_missing: bool,
    /// Only this part of the directory (see [`Tracked::only`]).
    pub only: Option<String>,
}

impl Group {
    fn of_object(label: String, oid: Oid, size: Option<u64>) -> Group {
        Group {
            label,
            root: oid,
            nfiles: None,
            objects: vec![(oid, size)],
            manifest_missing: false,
            only: None,
        }
    }
}

/// Each tracked path as a group holding only its root object.
pub(crate) fn shallow(tracked: &[Tracked]) -> Vec<Group> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in tracked {
        if !seen.insert((t.target_rel.clone(), t.pointer.oid, t.only.clone())) {
            continue;
        }
        let oid = t.pointer.oid;
        let mut g = Group::of_object(
            t.target_rel.to_string(),
            oid,
            (!oid.dir).then_some(t.pointer.size),
        );
        g.nfiles = t.pointer.nfiles;
        g.only = t.only.clone();
        out.push(g);
    }
    out
}

/// Adds a directory group's files once its manifest is in the cache.
pub(crate) fn expand(cache: &Cache, g: &mut Group) {
    if !g.root.dir || g.objects.len() > 1 {
        return;
    }
    match cache
        .read_verified(&g.root)
        .ok()
        .and_then(|b| Manifest::parse(&b).ok())
    {
        Some(m) => {
            g.manifest_missing = false;
            let only = g.only.clone();
            g.objects.extend(
                m.entries()
                    .iter()
                    .filter(|e| crate::track::part_includes(only.as_deref(), &e.path))
                    .map(|e| (Oid::file(e.sha256), Some(e.size))),
            );
        }
        None => g.manifest_missing = true,
    }
}

/// Why a restore could not finish (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::error::Hint for RestoreError {
    fn hint(&self) -> Option<String> {
        match self {
            RestoreError::Target(e) => e.hint(),
            RestoreError::Track(e) => e.hint(),
            RestoreError::Io(_) => None,
        }
    }
}

crate::register_hint!(RestoreError);

/// What a restore did, and the `push: false` outputs it left out (their
/// objects are in no cache or remote: `mlci repro` regenerates them).
pub struct Restored {
    pub summary: crate::track::CheckoutSummary,
    pub unpushed: Vec<String>,
}

/// Restores the workspace from the cache: the tracked paths and cached
/// stage outputs `targets` select (all when empty, relative to `cwd`), each
/// object verified on the way; local changes not in the cache are kept
/// unless `force`. One walk for `checkout`, `pull` and `ci`.
pub fn restore(
    repo: &crate::repo::Repo,
    cwd: &std::path::Path,
    targets: &[std::path::PathBuf],
    force: bool,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Restored, RestoreError> {
    let tracked = crate::targets::select_with_lock_outs(repo, cwd, targets)?;
    let (tracked, unpushed) = without_unpushed_absent(repo, tracked);
    let mut ws = crate::track::Workspace::open(repo);
    let result = ws.checkout(&tracked, force, reporter);
    ws.finish()?;
    Ok(Restored {
        summary: result?,
        unpushed,
    })
}

/// `tracked` without the outputs the pipeline marks `push: false` whose
/// object this cache lacks (no remote holds them: `mlci repro`
/// regenerates them), and the paths of those left out.
pub fn without_unpushed_absent(
    repo: &crate::repo::Repo,
    tracked: Vec<Tracked>,
) -> (Vec<Tracked>, Vec<String>) {
    let (absent, kept): (Vec<Tracked>, Vec<Tracked>) = tracked
        .into_iter()
        .partition(|t| !t.push && !repo.cache.contains(&t.pointer.oid));
    (
        kept,
        absent
            .into_iter()
            .map(|t| t.target_rel.to_string())
            .collect(),
    )
}

/// Run records in the local cache whose outputs are all in the cache, with
/// those outputs' objects: what travels with a push so another machine can
/// restore the stage instead of rerunning it. Records naming a path in
/// `unpushed` (`push: false` outputs) are left out.
pub(crate) fn local_run_records(
    cache: &Cache,
    unpushed: &BTreeSet<String>,
) -> (Vec<String>, Vec<Oid>) {
    let mut keys = Vec::new();
    let mut objects = BTreeSet::new();
    let base = cache.root().join("runs");
    let Ok(shards) = fs_err::read_dir(&base) else {
        return (keys, Vec::new());
    };
    for shard in shards.flatten() {
        let Ok(entries) = fs_err::read_dir(shard.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let key = format!(
                "{RUNS_PREFIX}{}/{}",
                shard.file_name().to_string_lossy(),
                e.file_name().to_string_lossy()
            );
            if runcache::parse_record_key(&key).is_none() {
                continue;
            }
            let Some(record) = fs_err::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<runcache::Record>(&b).ok())
            else {
                continue;
            };
            if record
                .outs
                .iter()
                .any(|o| unpushed.contains(o.path.as_str()))
            {
                continue;
            }
            let mut objs = Vec::new();
            let complete = record.outs.iter().all(|o| {
                let Some(oid) = o.oid() else { return false };
                let mut g = Group::of_object(String::new(), oid, None);
                expand(cache, &mut g);
                let ok = !g.manifest_missing && g.objects.iter().all(|(o, _)| cache.contains(o));
                objs.extend(g.objects.into_iter().map(|(o, _)| o));
                ok
            });
            if complete {
                keys.push(key);
                objects.extend(objs);
            }
        }
    }
    keys.sort();
    (keys, objects.into_iter().collect())
}
