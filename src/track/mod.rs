//! Tracking files and directories by content hash: `add`, `status`,
//! `checkout` and `remove` on pointer files.
//!
//! Work across files runs in parallel (rayon); every file is read at most
//! once per command; unchanged files cost one stat thanks to the
//! [`StateDb`]. Each command first plans, then acts, so a refusal (a local
//! change that would be lost, a corrupt object) happens before anything in
//! the workspace is touched.

mod add;
mod checkout;
pub mod gitignore;
pub mod pointer;
mod status;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Hint;
use crate::fsutil::{remove_file_if_exists, to_slash, with_path, write_atomic};
use crate::progress::Reporter;
use crate::repo::{Repo, MLCI_DIR};
use crate::store::cache::{CacheError, Oid};
use crate::store::hash::Digest;
use crate::store::link::Linker;
use crate::store::manifest::{Entry, Manifest, ManifestError};
use crate::store::state::{StatKey, StateDb};
use crate::store::walk::{walk_in, Found, Kind};
use crate::store::whole::Dir;
use crate::track::pointer::{pointer_path_for, Pointer, PointerError, EXTENSION};
use crate::workspace_path::{UnsafePath, WorkspacePath};

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("`{path}` does not exist")]
    NotFound { path: String },
    #[error("`{path}` is already tracked by git")]
    GitTracked { path: String },
    #[error("`{path}` overlaps `{other}`, which is already tracked by {pointer}")]
    Overlap {
        path: String,
        other: String,
        pointer: String,
    },
    #[error("`{path}` is a symbolic link; mlci tracks regular files and directories")]
    Symlink { path: String },
    /// A link inside a tracked directory whose real path is not a regular
    /// file inside the workspace (outside `.git/` and `.mlci/`).
    #[error("`{path}` is a symbolic link to {target}, which is not a file inside the workspace")]
    LinkOutside { path: String, target: String },
    #[error("`{path}` is not a regular file or directory")]
    Special { path: String },
    /// The pointer file's name (`NAME.mlci`) would exceed the file
    /// system's limit on one name (255 bytes on the common ones).
    #[error("`{path}`: its pointer file's name would be {len} bytes, over the file system's limit of {max}")]
    NameTooLong {
        path: String,
        len: usize,
        max: usize,
    },
    #[error("`{path}` is a pointer file; add the data it describes instead")]
    IsPointer { path: String },
    #[error(transparent)]
    Pointer(#[from] PointerError),
    #[error("directory manifest {oid} is invalid: {source}")]
    Manifest { oid: Oid, source: ManifestError },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("checkout would overwrite local changes that are not in the cache:\n{}", list(paths, *more))]
    Conflicts { paths: Vec<String>, more: usize },
    #[error("`{target}` is not tracked by mlci (no {target}.{EXTENSION})")]
    NotTracked { target: String },
    /// A path from data (a pointer, a manifest, `mlci.lock`, a run record)
    /// that the workspace rule refuses; `file` is where it was read.
    #[error("{file}: {source}")]
    UnsafePath {
        file: String,
        source: Box<UnsafePath>,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

fn list(paths: &[String], more: usize) -> String {
    let mut s: String = paths.iter().map(|p| format!("  {p}\n")).collect();
    if more > 0 {
        s.push_str(&format!("  … and {more} more\n"));
    }
    s.trim_end().to_string()
}

impl Hint for TrackError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            TrackError::NotFound { .. } => "check the path; it is relative to the current directory".into(),
            TrackError::GitTracked { path } => format!(
                "stop tracking it in git first: `git rm -r --cached {path}` (the file stays on disk), then `mlci add {path}`"
            ),
            TrackError::Overlap { other, .. } => {
                format!("track either the directory or the files in it, not both; `mlci remove {other}` stops tracking the other")
            }
            TrackError::Symlink { .. } => "add the file or directory the link points to".into(),
            TrackError::NameTooLong { .. } => "shorten the file's name, or add the directory that holds it (one pointer for the whole directory)".into(),
            TrackError::LinkOutside { .. } => "a link inside a tracked directory or stage output is stored as the file it points to, which must be inside the workspace: copy the file in, or point the link at a file in the workspace".into(),
            TrackError::Special { path } => {
                format!("mlci tracks regular files; move `{path}` out of the way and add again")
            }
            TrackError::IsPointer { path } => format!(
                "`mlci add {}` re-adds the data; `mlci checkout {path}` restores it",
                path.trim_end_matches(".mlci")
            ),
            TrackError::Conflicts { .. } => {
                "save them with `mlci add`, or discard them with `mlci checkout --force`".into()
            }
            TrackError::NotTracked { .. } => "`mlci status` lists what is tracked".into(),
            TrackError::Manifest { .. } => {
                "the manifest was damaged or forged: delete it from the cache and `mlci pull` or `mlci add` again".into()
            }
            TrackError::Pointer(e) => return e.hint(),
            TrackError::Cache(e) => return e.hint(),
            TrackError::UnsafePath { source, .. } => return source.hint(),
            TrackError::Io(e) => return crate::error::io_hint(e),
            _ => return None,
        })
    }
}

crate::register_hint!(TrackError);

/// A pointer file and the data it tracks, both repo-relative.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub pointer_rel: String,
    pub target_rel: WorkspacePath,
    pub pointer: Pointer,
    /// A file or sub-folder inside the tracked directory (relative to it)
    /// that a command was asked about: it then works on that part alone
    /// (`mlci pull data/imgs/a.txt`), as DVC's granular targets do.
    pub only: Option<String>,
    /// False for a stage output the pipeline marks `push: false`: never
    /// pushed, and left to `repro` when the cache lacks it.
    pub push: bool,
}

impl Tracked {
    /// Whether the directory entry `rel` is part of what this command works on.
    pub fn includes(&self, rel: &str) -> bool {
        part_includes(self.only.as_deref(), rel)
    }
}

/// Whether directory entry `rel` is `only` or below it (everything when
/// `only` is None): the one rule of granular targets.
pub fn part_includes(only: Option<&str>, rel: &str) -> bool {
    match only {
        None => true,
        Some(o) => rel == o || rel.strip_prefix(o).is_some_and(|r| r.starts_with('/')),
    }
}

/// A command's view of the work tree: the repository, the hash state and
/// the linker. Call [`Workspace::finish`] to persist the state.
pub struct Workspace<'r> {
    pub repo: &'r Repo,
    pub state: StateDb,
    pub linker: Linker,
}

/// A hashed workspace file or directory.
#[derive(Debug)]
pub struct HashedTree {
    pub oid: Oid,
    pub size: u64,
    pub nfiles: Option<u64>,
    /// (state key, absolute path, stat before reading, content) per file.
    pub files: Vec<(String, PathBuf, StatKey, Digest)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddOutcome {
    pub path: String,
    pub pointer: String,
    pub oid: Oid,
    pub size: u64,
    pub nfiles: Option<u64>,
    /// False when the pointer already said exactly this.
    pub changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    Unchanged,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DirDiff {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataStatus {
    pub path: String,
    pub pointer: String,
    pub state: DataState,
    /// Whether the cache holds everything the pointer names.
    pub in_cache: bool,
    /// Why the cache's copy of a directory manifest cannot be used although
    /// it is there (damaged, or not a manifest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<DirDiff>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckoutSummary {
    pub restored: u64,
    pub unchanged: u64,
    pub removed: u64,
}

impl CheckoutSummary {
    /// `restored 3 file(s), 1 already up to date[, removed 2 not in the
    /// tracked version]`: what `checkout`, `pull` and `ci` say.
    pub fn describe(&self) -> String {
        format!(
            "restored {} file(s), {} already up to date{}",
            self.restored,
            self.unchanged,
            if self.removed > 0 {
                format!(", removed {} not in the tracked version", self.removed)
            } else {
                String::new()
            }
        )
    }
}

/// Pointer files in the work tree, found with git's ignore rules (tracked
/// data is git-ignored, so its directories are not walked).
pub fn find_pointers(root: &Path) -> Result<Vec<String>, TrackError> {
    find_pointers_except(root, &[])
}

/// [`find_pointers`] without walking into the directories `skip`
/// (absolute), which the caller lists itself.
pub(super) fn find_pointers_except(
    root: &Path,
    skip: &[PathBuf],
) -> Result<Vec<String>, TrackError> {
    let mut out = Vec::new();
    let skip = skip.to_vec();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .parents(false)
        .filter_entry(move |e| {
            let name = e.file_name();
            !(e.depth() == 1 && (name == ".git" || name == MLCI_DIR))
                && !skip.iter().any(|s| e.path() == s)
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| io::Error::other(e.to_string()))?;
        if entry.file_type().is_some_and(|t| t.is_file())
            && entry.path().extension().is_some_and(|e| e == EXTENSION)
        {
            if let Ok(rel) = entry.path().strip_prefix(root) {
                out.push(to_slash(rel));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and validates one pointer file.
pub fn load_pointer(root: &Path, pointer_rel: &str) -> Result<Tracked, TrackError> {
    // A pointer that is a link out of the workspace is not read.
    let abs = WorkspacePath::new(pointer_rel)
        .and_then(|p| p.locate_for_read(root))
        .map_err(|source| TrackError::UnsafePath {
            file: pointer_rel.to_string(),
            source: Box::new(source),
        })?;
    let text = fs_err::read_to_string(abs)?;
    tracked_from_text(pointer_rel, &text)
}

pub fn tracked_from_text(pointer_rel: &str, text: &str) -> Result<Tracked, TrackError> {
    let pointer = Pointer::parse(text, Path::new(pointer_rel))?;
    let dir = match pointer_rel.rfind('/') {
        Some(i) => &pointer_rel[..i + 1],
        None => "",
    };
    let target_rel = WorkspacePath::new(&format!("{dir}{}", pointer.path)).map_err(|source| {
        TrackError::UnsafePath {
            file: pointer_rel.to_string(),
            source: Box::new(source),
        }
    })?;
    Ok(Tracked {
        only: None,
        pointer_rel: pointer_rel.to_string(),
        target_rel,
        pointer,
        push: true,
    })
}

/// Every pointer in the work tree, parsed.
pub fn all_tracked(root: &Path) -> Result<Vec<Tracked>, TrackError> {
    find_pointers(root)?
        .iter()
        .map(|p| load_pointer(root, p))
        .collect()
}

pub(super) fn overlaps(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
}

impl<'r> Workspace<'r> {
    pub fn open(repo: &'r Repo) -> Workspace<'r> {
        Workspace {
            repo,
            state: StateDb::load(&repo.state_path()),
            linker: Linker::new(repo.settings.link_types.clone()),
        }
    }

    /// Saves the hash state.
    pub fn finish(mut self) -> io::Result<()> {
        self.state.save()
    }

    /// Where `t`'s data is, checked now against symbolic links in the way
    /// (a pointer is untrusted input).
    fn locate(&self, t: &Tracked) -> Result<PathBuf, TrackError> {
        t.target_rel
            .locate(&self.repo.root)
            .map_err(|source| TrackError::UnsafePath {
                file: t.pointer_rel.clone(),
                source: Box::new(source),
            })
    }

    /// `mlci remove`: stops tracking (deletes the pointer and the
    /// `.gitignore` entry) but keeps the data in the workspace and cache.
    pub fn remove(&mut self, t: &Tracked) -> Result<(), TrackError> {
        let pointer_abs = self.repo.abs(&t.pointer_rel);
        fs_err::remove_file(&pointer_abs)?;
        if let Some(parent) = pointer_abs.parent() {
            crate::fsutil::sync_dir(parent);
        }
        let target_abs = self.locate(t)?;
        if let (Some(parent), Some(name)) = (target_abs.parent(), target_abs.file_name()) {
            gitignore::remove_entry(parent, &name.to_string_lossy())?;
        }
        self.state.forget_under(&t.target_rel);
        Ok(())
    }
}

/// Groups statuses for display: pointer -> status.
pub fn by_pointer(statuses: &[DataStatus]) -> BTreeMap<&str, &DataStatus> {
    statuses.iter().map(|s| (s.pointer.as_str(), s)).collect()
}
