//! Tracking files and directories by content hash: `add`, `status`,
//! `checkout` and `remove` on pointer files.
//!
//! Work across files runs in parallel (rayon); every file is read at most
//! once per command; unchanged files cost one stat thanks to the
//! [`StateDb`]. Each command first plans, then acts, so a refusal (a local
//! change that would be lost, a corrupt object) happens before anything in
//! the workspace is touched.

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::cache::{CacheError, Oid};
use crate::error::Hint;
use crate::fsutil::{remove_file_if_exists, to_slash, with_path, write_atomic};
use crate::gitignore;
use crate::hash::Digest;
use crate::link::Linker;
use crate::manifest::{Entry, Manifest, ManifestError};
use crate::pointer::{pointer_path_for, Pointer, PointerError, EXTENSION};
use crate::progress::Reporter;
use crate::repo::{Repo, MLCI_DIR};
use crate::state::{StatKey, StateDb};
use crate::walk::{walk, Found, Kind};
use crate::whole::Dir;
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
    #[error("`{path}` is not a regular file or directory")]
    Special { path: String },
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<DirDiff>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckoutSummary {
    pub restored: u64,
    pub unchanged: u64,
    pub removed: u64,
}

/// Pointer files in the work tree, found with git's ignore rules (tracked
/// data is git-ignored, so its directories are not walked).
pub fn find_pointers(root: &Path) -> Result<Vec<String>, TrackError> {
    find_pointers_except(root, &[])
}

/// [`find_pointers`] without walking into the directories `skip`
/// (absolute), which the caller lists itself.
fn find_pointers_except(root: &Path, skip: &[PathBuf]) -> Result<Vec<String>, TrackError> {
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
    let text = fs_err::read_to_string(root.join(pointer_rel))?;
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
        pointer_rel: pointer_rel.to_string(),
        target_rel,
        pointer,
    })
}

/// Every pointer in the work tree, parsed.
pub fn all_tracked(root: &Path) -> Result<Vec<Tracked>, TrackError> {
    find_pointers(root)?
        .iter()
        .map(|p| load_pointer(root, p))
        .collect()
}

fn overlaps(a: &str, b: &str) -> bool {
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

    /// `mlci add`: hashes and caches each target, then writes its pointer
    /// and `.gitignore` entry. All targets are checked before any is added.
    pub fn add(
        &mut self,
        targets: &[String],
        reporter: &dyn Reporter,
    ) -> Result<Vec<AddOutcome>, TrackError> {
        // Each directory target is listed once, here: the listing serves
        // both the search for pointers inside it and the hashing.
        let mut listings: Vec<Option<Vec<Found>>> = Vec::with_capacity(targets.len());
        for rel in targets {
            let abs = self.repo.abs(rel);
            let meta = match abs.symlink_metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(TrackError::NotFound { path: rel.clone() })
                }
                Err(e) => return Err(with_path(e, &abs).into()),
            };
            if meta.file_type().is_symlink() {
                return Err(TrackError::Symlink { path: rel.clone() });
            }
            if !meta.is_file() && !meta.is_dir() {
                return Err(TrackError::Special { path: rel.clone() });
            }
            if rel.ends_with(&format!(".{EXTENSION}")) {
                return Err(TrackError::IsPointer { path: rel.clone() });
            }
            if crate::git::is_tracked(&self.repo.root, rel)? {
                return Err(TrackError::GitTracked { path: rel.clone() });
            }
            listings.push(if meta.is_dir() {
                Some(walk(&abs)?)
            } else {
                None
            });
        }
        let skip: Vec<PathBuf> = targets
            .iter()
            .zip(&listings)
            .filter(|(_, l)| l.is_some())
            .map(|(rel, _)| self.repo.abs(rel))
            .collect();
        let mut pointers = find_pointers_except(&self.repo.root, &skip)?;
        let suffix = format!(".{EXTENSION}");
        for (rel, listing) in targets.iter().zip(&listings) {
            let inside = listing
                .iter()
                .flatten()
                .filter(|f| f.kind == Kind::File && f.rel.ends_with(&suffix));
            pointers.extend(inside.map(|f| format!("{rel}/{}", f.rel)));
        }
        let existing: Vec<Tracked> = pointers
            .iter()
            .map(|p| load_pointer(&self.repo.root, p))
            .collect::<Result<_, _>>()?;
        for rel in targets {
            if let Some(t) = existing
                .iter()
                .find(|t| t.target_rel != *rel && overlaps(&t.target_rel, rel))
            {
                return Err(TrackError::Overlap {
                    path: rel.clone(),
                    other: t.target_rel.to_string(),
                    pointer: t.pointer_rel.clone(),
                });
            }
        }
        let mut out = Vec::new();
        for (rel, listing) in targets.iter().zip(listings) {
            out.push(self.add_one(rel, listing, reporter)?);
        }
        Ok(out)
    }

    /// Hashes a workspace file or directory (one read per file the state
    /// cannot vouch for) and, with `store`, puts its content in the cache.
    /// Symbolic links and special files are refused. Hash state is not yet
    /// recorded: the caller records `files` once the stats are final.
    pub fn hash_tree(
        &self,
        rel: &str,
        store: bool,
        reporter: &dyn Reporter,
    ) -> Result<HashedTree, TrackError> {
        self.hash_listed(rel, store, None, reporter)
    }

    /// [`Workspace::hash_tree`] of a directory the caller has already
    /// listed (`listing`), or that this lists itself (`None`).
    fn hash_listed(
        &self,
        rel: &str,
        store: bool,
        listing: Option<Vec<Found>>,
        reporter: &dyn Reporter,
    ) -> Result<HashedTree, TrackError> {
        // Whatever named it (a user, a stage's deps or outs), nothing is read
        // into the cache through a link out of the workspace.
        let abs = WorkspacePath::new(rel)
            .and_then(|p| p.locate(&self.repo.root))
            .map_err(|source| TrackError::UnsafePath {
                file: rel.to_string(),
                source: Box::new(source),
            })?;
        let meta = match abs.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(TrackError::NotFound {
                    path: rel.to_string(),
                })
            }
            Err(e) => return Err(with_path(e, &abs).into()),
        };
        let cache = &self.repo.cache;
        let reflink = self.linker.wants_reflink();
        let state = &self.state;
        let content = |path: &Path, key: &str, stat: &StatKey| -> Result<Digest, TrackError> {
            let known = state.lookup(key, stat);
            if store {
                Ok(cache.insert_file(path, stat.size, known, reflink)?)
            } else {
                match known {
                    Some(d) => Ok(d),
                    None => Ok(fs_err::File::open(path).and_then(Digest::of_reader)?),
                }
            }
        };
        if meta.file_type().is_symlink() {
            return Err(TrackError::Symlink {
                path: rel.to_string(),
            });
        }
        if meta.is_file() {
            let stat = StatKey::of(&meta);
            if meta.len() > crate::cache::SMALL_FILE {
                reporter.start(&format!("hashing {rel}"), None);
            }
            let d = content(&abs, rel, &stat)?;
            reporter.finish();
            return Ok(HashedTree {
                oid: Oid::file(d),
                size: meta.len(),
                nfiles: None,
                files: vec![(rel.to_string(), abs, stat, d)],
            });
        }
        if !meta.is_dir() {
            return Err(TrackError::Special {
                path: rel.to_string(),
            });
        }
        let found = match listing {
            Some(found) => found,
            None => walk(&abs)?,
        };
        if let Some(f) = found.iter().find(|f| !matches!(f.kind, Kind::File)) {
            let path = format!("{rel}/{}", f.rel);
            return Err(match f.kind {
                Kind::Symlink => TrackError::Symlink { path },
                _ => TrackError::Special { path },
            });
        }
        reporter.start(&format!("hashing {rel}"), Some(found.len() as u64));
        let hashed: Vec<(String, StatKey, Digest)> = found
            .par_iter()
            .map(|f| {
                let key = format!("{rel}/{}", f.rel);
                let d = content(&abs.join(&f.rel), &key, &f.stat)?;
                reporter.inc(1);
                Ok((f.rel.clone(), f.stat, d))
            })
            .collect::<Result<_, TrackError>>()?;
        reporter.finish();
        let manifest = Manifest::from_entries(
            hashed
                .iter()
                .map(|(p, st, d)| Entry {
                    path: p.clone(),
                    sha256: *d,
                    size: st.size,
                })
                .collect(),
        );
        let (digest, bytes) = manifest.encode();
        let oid = Oid::dir(digest);
        if store {
            cache.put_bytes(&oid, &bytes)?;
        }
        Ok(HashedTree {
            oid,
            size: manifest.total_size(),
            nfiles: Some(manifest.entries().len() as u64),
            files: hashed
                .into_iter()
                .map(|(p, st, d)| (format!("{rel}/{p}"), abs.join(&p), st, d))
                .collect(),
        })
    }

    /// Records the hashes of a [`HashedTree`] in the state.
    pub fn record_tree(&mut self, tree: &HashedTree, stored: bool) {
        for (key, _, stat, digest) in &tree.files {
            self.state.record(key.clone(), stat, *digest);
        }
        if stored && tree.oid.dir {
            self.state.mark_dir_complete(&tree.oid.digest);
        }
    }

    fn add_one(
        &mut self,
        rel: &str,
        listing: Option<Vec<Found>>,
        reporter: &dyn Reporter,
    ) -> Result<AddOutcome, TrackError> {
        let abs = self.repo.abs(rel);
        let cache = &self.repo.cache;
        let tree = self.hash_listed(rel, true, listing, reporter)?;
        if tree.oid.dir {
            self.state.mark_dir_complete(&tree.oid.digest);
        }
        let HashedTree {
            oid,
            size,
            nfiles,
            files: recorded,
        } = tree;

        // With hardlink/symlink link types the workspace copy becomes a link
        // to the (read-only) object, as after a checkout.
        if self.linker.links_to_cache() {
            for (key, path, stat, digest) in recorded {
                self.linker
                    .materialize(cache, &Oid::file(digest), stat.size, &path)?;
                let meta = fs_err::metadata(&path)?;
                self.state.record(key, &StatKey::of(&meta), digest);
            }
        } else {
            self.state
                .record_all(recorded.into_iter().map(|(key, _, stat, d)| (key, stat, d)));
        }

        let pointer_abs = pointer_path_for(&abs);
        let pointer_rel = format!("{rel}.{EXTENSION}");
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pointer = Pointer {
            path: name.clone(),
            oid,
            size,
            nfiles,
        };
        let previous = std::fs::read_to_string(&pointer_abs)
            .ok()
            .and_then(|t| Pointer::parse(&t, Path::new(&pointer_rel)).ok());
        let changed = previous.as_ref() != Some(&pointer);
        if changed {
            write_atomic(&pointer_abs, pointer.to_yaml().as_bytes())
                .map_err(|e| with_path(e, &pointer_abs))?;
        }
        let parent = abs.parent().unwrap_or(&self.repo.root);
        gitignore::add_entry(parent, &name)?;
        Ok(AddOutcome {
            path: rel.to_string(),
            pointer: pointer_rel,
            oid,
            size,
            nfiles,
            changed,
        })
    }

    /// Current hashes of a tracked directory's files (state first, then read).
    fn scan_dir(
        &self,
        rel: &str,
        found: &[Found],
        reporter: &dyn Reporter,
    ) -> Result<Vec<Scanned>, TrackError> {
        let state = &self.state;
        let cache_root = self.repo.cache.root();
        let base = self.repo.abs(rel);
        found
            .par_iter()
            .map(|f| {
                let mut key = String::with_capacity(rel.len() + 1 + f.rel.len());
                key.push_str(rel);
                key.push('/');
                key.push_str(&f.rel);
                let abs = base.join(&f.rel);
                let scanned = scan_one(state, cache_root, &key, &abs, f.kind, Some(f.stat))?;
                reporter.inc(1);
                Ok(Scanned {
                    rel: f.rel.clone(),
                    ..scanned
                })
            })
            .collect()
    }

    fn record_scanned(&mut self, prefix: &str, scanned: &[Scanned]) {
        for s in scanned {
            if let (Some(stat), Some(d), true) = (&s.stat, s.digest, s.fresh) {
                let key = if prefix.is_empty() {
                    s.rel.clone()
                } else {
                    format!("{prefix}/{}", s.rel)
                };
                self.state.record(key, stat, d);
            }
        }
    }

    /// `mlci status` for the given tracked paths.
    pub fn status(
        &mut self,
        tracked: &[Tracked],
        reporter: &dyn Reporter,
    ) -> Result<Vec<DataStatus>, TrackError> {
        let mut out = Vec::new();
        for t in tracked {
            out.push(self.status_one(t, reporter)?);
        }
        Ok(out)
    }

    fn status_one(
        &mut self,
        t: &Tracked,
        reporter: &dyn Reporter,
    ) -> Result<DataStatus, TrackError> {
        let abs = self.repo.abs(&t.target_rel);
        let cache = &self.repo.cache;
        let mut status = DataStatus {
            path: t.target_rel.to_string(),
            pointer: t.pointer_rel.clone(),
            state: DataState::Unchanged,
            in_cache: cache.contains(&t.pointer.oid),
            changes: None,
        };
        let meta = match abs.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                status.state = DataState::Deleted;
                if t.pointer.oid.dir {
                    status.in_cache = self.dir_in_cache(&t.pointer.oid);
                }
                return Ok(status);
            }
            Err(e) => return Err(with_path(e, &abs).into()),
        };
        if !t.pointer.oid.dir {
            let s = scan_one(
                &self.state,
                cache.root(),
                &t.target_rel,
                &abs,
                kind_of(&meta),
                None,
            )?;
            if s.digest != Some(t.pointer.oid.digest) {
                status.state = DataState::Modified;
            }
            let scanned = [Scanned {
                rel: t.target_rel.to_string(),
                ..s
            }];
            self.record_scanned("", &scanned);
            return Ok(status);
        }
        if !meta.is_dir() {
            status.state = DataState::Modified;
            status.in_cache = self.dir_in_cache(&t.pointer.oid);
            return Ok(status);
        }
        let found = walk(&abs)?;
        // Same listing, same stats as when the manifest hash was last
        // worked out: nothing to read, look up or encode.
        let now = crate::state::now_ns();
        let (fp, settled) = crate::walk::fingerprint(&found, now);
        if self.state.listing_digest(&t.target_rel, fp) == Some(t.pointer.oid.digest) {
            status.in_cache = self.dir_in_cache(&t.pointer.oid);
            return Ok(status);
        }
        reporter.start(
            &format!("checking {}", t.target_rel),
            Some(found.len() as u64),
        );
        let scanned = self.scan_dir(&t.target_rel, &found, reporter)?;
        reporter.finish();
        self.record_scanned(&t.target_rel, &scanned);
        let current = manifest_of(&scanned);
        let (digest, _) = current.as_ref().map(Manifest::encode).unzip();
        if let (Some(d), true) = (digest, settled) {
            self.state.remember_listing(&t.target_rel, fp, d);
        }
        status.in_cache = self.dir_in_cache(&t.pointer.oid);
        if digest != Some(t.pointer.oid.digest) {
            status.state = DataState::Modified;
            status.changes = Some(self.explain(&t.pointer.oid, &scanned));
        }
        Ok(status)
    }

    /// Whether the manifest and every object it lists are in the cache. A
    /// positive answer is remembered in the state (gc clears it), so a
    /// no-op status costs one stat for the manifest, not one per object.
    fn dir_in_cache(&mut self, oid: &Oid) -> bool {
        let cache = &self.repo.cache;
        if self.state.dir_known_complete(&oid.digest) {
            return cache.contains(oid);
        }
        let complete = match self.read_manifest(oid) {
            Ok(m) => m
                .entries()
                .par_iter()
                .all(|e| cache.contains(&Oid::file(e.sha256))),
            Err(_) => false,
        };
        if complete {
            self.state.mark_dir_complete(&oid.digest);
        }
        complete
    }

    /// The directory manifest `oid` from the cache, hash-checked and
    /// validated, or from its binary memo in `.mlci/tmp/manifests/` when
    /// one was kept by an earlier read (and the object is still cached).
    pub fn read_manifest(&self, oid: &Oid) -> Result<Manifest, TrackError> {
        let memo = self.repo.manifest_memo_path(oid);
        if let Ok(bytes) = std::fs::read(&memo) {
            if let Some(m) = Manifest::from_memo(&bytes, &oid.digest) {
                if self.repo.cache.contains(oid) {
                    return Ok(m);
                }
            }
        }
        let bytes = self.repo.cache.read_verified(oid)?;
        let m =
            Manifest::parse(&bytes).map_err(|source| TrackError::Manifest { oid: *oid, source })?;
        // Best effort: without a memo the next read parses the JSON again.
        let _ = fs_err::create_dir_all(memo.parent().unwrap_or(Path::new(".")))
            .and_then(|()| crate::fsutil::write_atomic_nosync(&memo, &m.to_memo(&oid.digest)));
        Ok(m)
    }

    /// Which files of a directory differ from its recorded manifest (empty
    /// lists when that manifest is not in the cache to compare with).
    fn explain(&self, oid: &Oid, scanned: &[Scanned]) -> DirDiff {
        let mut diff = DirDiff::default();
        let Ok(old) = self.read_manifest(oid) else {
            return diff;
        };
        let old: HashMap<&str, Digest> = old
            .entries()
            .iter()
            .map(|e| (e.path.as_str(), e.sha256))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for s in scanned {
            seen.insert(s.rel.as_str());
            match old.get(s.rel.as_str()) {
                None => diff.added.push(s.rel.clone()),
                Some(d) if Some(*d) != s.digest => diff.modified.push(s.rel.clone()),
                Some(_) => {}
            }
        }
        diff.deleted = old
            .keys()
            .filter(|k| !seen.contains(*k))
            .map(|k| k.to_string())
            .collect();
        diff.added.sort();
        diff.modified.sort();
        diff.deleted.sort();
        diff
    }

    /// `mlci checkout`: makes the workspace match the pointers. Refuses (before
    /// touching anything) when that would lose a local change that is not in
    /// the cache, unless `force`.
    pub fn checkout(
        &mut self,
        tracked: &[Tracked],
        force: bool,
        reporter: &dyn Reporter,
    ) -> Result<CheckoutSummary, TrackError> {
        // Restored files are recorded in the state at the end; load it
        // while the manifests are read and parsed.
        self.state.prefetch();
        let mut plans = Vec::new();
        let mut conflicts = Vec::new();
        for t in tracked {
            plans.push(self.plan_checkout(t, force, &mut conflicts, reporter)?);
        }
        if !conflicts.is_empty() {
            conflicts.sort();
            let more = conflicts.len().saturating_sub(10);
            conflicts.truncate(10);
            return Err(TrackError::Conflicts {
                paths: conflicts,
                more,
            });
        }
        let mut summary = CheckoutSummary::default();
        for plan in plans {
            self.apply_checkout(plan, &mut summary, reporter)?;
        }
        Ok(summary)
    }

    fn plan_checkout(
        &mut self,
        t: &Tracked,
        force: bool,
        conflicts: &mut Vec<String>,
        reporter: &dyn Reporter,
    ) -> Result<CheckoutPlan, TrackError> {
        let abs = self.locate(t)?;
        let cache = &self.repo.cache;
        let mut plan = CheckoutPlan {
            target_rel: t.target_rel.to_string(),
            root_abs: abs.clone(),
            writes: Vec::new(),
            deletes: Vec::new(),
            remove_root: false,
            unchanged: 0,
            dir: t.pointer.oid.dir,
        };
        let meta = match abs.symlink_metadata() {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(with_path(e, &abs).into()),
        };
        // Can a workspace file with this content be replaced without loss?
        let replaceable =
            |d: Option<Digest>| force || d.is_some_and(|d| cache.contains(&Oid::file(d)));

        if !t.pointer.oid.dir {
            if !cache.contains(&t.pointer.oid) {
                return Err(CacheError::Missing {
                    oid: t.pointer.oid,
                    path: cache.object_path(&t.pointer.oid),
                }
                .into());
            }
            match meta {
                None => plan
                    .writes
                    .push((String::new(), t.pointer.oid.digest, t.pointer.size)),
                Some(m) if m.is_dir() => {
                    if force {
                        plan.remove_root = true;
                        plan.writes
                            .push((String::new(), t.pointer.oid.digest, t.pointer.size));
                    } else {
                        conflicts.push(format!(
                            "{}/ (a directory where a file is tracked)",
                            t.target_rel
                        ));
                    }
                }
                Some(m) => {
                    let s = scan_one(
                        &self.state,
                        cache.root(),
                        &t.target_rel,
                        &abs,
                        kind_of(&m),
                        None,
                    )?;
                    if s.digest == Some(t.pointer.oid.digest) {
                        plan.unchanged += 1;
                        self.record_scanned(
                            "",
                            &[Scanned {
                                rel: t.target_rel.to_string(),
                                ..s
                            }],
                        );
                    } else if replaceable(s.digest) {
                        plan.writes
                            .push((String::new(), t.pointer.oid.digest, t.pointer.size));
                    } else {
                        conflicts.push(t.target_rel.to_string());
                    }
                }
            }
            return Ok(plan);
        }

        let manifest = self.read_manifest(&t.pointer.oid)?;
        // Every object must be here before anything in the workspace is
        // touched; the state remembers manifests already checked.
        let known_complete = self.state.dir_known_complete(&t.pointer.oid.digest);
        let missing: Vec<_> = manifest
            .entries()
            .par_iter()
            .filter(|e| !known_complete && !cache.contains(&Oid::file(e.sha256)))
            .map(|e| e.sha256)
            .collect();
        if let Some(d) = missing.first() {
            return Err(CacheError::Missing {
                oid: Oid::file(*d),
                path: cache.object_path(&Oid::file(*d)),
            }
            .into());
        }
        self.state.mark_dir_complete(&t.pointer.oid.digest);
        let scanned = match &meta {
            None => Vec::new(),
            Some(m) if m.is_dir() => {
                let found = walk(&abs)?;
                reporter.start(
                    &format!("checking {}", t.target_rel),
                    Some(found.len() as u64),
                );
                let s = self.scan_dir(&t.target_rel, &found, reporter)?;
                reporter.finish();
                s
            }
            Some(m) => {
                // A file (or link) where the directory belongs.
                let s = scan_one(
                    &self.state,
                    cache.root(),
                    &t.target_rel,
                    &abs,
                    kind_of(m),
                    None,
                )?;
                if replaceable(s.digest) {
                    plan.remove_root = true;
                } else {
                    conflicts.push(t.target_rel.to_string());
                }
                Vec::new()
            }
        };
        if scanned.is_empty() {
            // Restored from nothing: every entry is written.
            plan.writes = manifest
                .into_entries()
                .into_iter()
                .map(|e| (e.path, e.sha256, e.size))
                .collect();
            return Ok(plan);
        }
        let current: HashMap<&str, &Scanned> =
            scanned.iter().map(|s| (s.rel.as_str(), s)).collect();
        for e in manifest.entries() {
            match current.get(e.path.as_str()) {
                Some(s) if s.digest == Some(e.sha256) => plan.unchanged += 1,
                Some(s) => {
                    if replaceable(s.digest) {
                        plan.writes.push((e.path.clone(), e.sha256, e.size));
                    } else {
                        conflicts.push(format!("{}/{}", t.target_rel, e.path));
                    }
                }
                None => plan.writes.push((e.path.clone(), e.sha256, e.size)),
            }
        }
        let wanted: std::collections::HashSet<&str> =
            manifest.entries().iter().map(|e| e.path.as_str()).collect();
        for s in &scanned {
            if !wanted.contains(s.rel.as_str()) {
                if replaceable(s.digest) {
                    plan.deletes.push(s.abs.clone());
                } else {
                    conflicts.push(format!(
                        "{}/{} (not in the tracked version)",
                        t.target_rel, s.rel
                    ));
                }
            }
        }
        let unchanged: Vec<Scanned> = scanned
            .into_iter()
            .filter(|s| wanted.contains(s.rel.as_str()))
            .collect();
        self.record_scanned(&t.target_rel, &unchanged);
        Ok(plan)
    }

    fn apply_checkout(
        &mut self,
        plan: CheckoutPlan,
        summary: &mut CheckoutSummary,
        reporter: &dyn Reporter,
    ) -> Result<(), TrackError> {
        let root = &plan.root_abs;
        if plan.remove_root {
            let meta = fs_err::symlink_metadata(root)?;
            if meta.is_dir() {
                fs_err::remove_dir_all(root)?;
            } else {
                fs_err::remove_file(root)?;
            }
        }
        for path in &plan.deletes {
            remove_file_if_exists(path)?;
            summary.removed += 1;
        }
        // Directories emptied by the deletions go too (deepest first).
        let mut dirs: Vec<&Path> = plan.deletes.iter().filter_map(|p| p.parent()).collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        dirs.dedup();
        for d in dirs {
            let mut d = d;
            while d.starts_with(root) && d != root.as_path() && std::fs::remove_dir(d).is_ok() {
                match d.parent() {
                    Some(p) => d = p,
                    None => break,
                }
            }
        }
        summary.unchanged += plan.unchanged;
        if plan.writes.is_empty() {
            return Ok(());
        }
        // A directory restored from nothing is built in a staging directory
        // under .mlci/tmp and renamed into place whole: each file is then
        // created under its final name (no per-file temp name), and a kill
        // or a corrupt object leaves nothing in the workspace.
        let staging = if plan.dir && root.symlink_metadata().is_err() {
            self.staging_for(root)?
        } else {
            None
        };
        let base = staging
            .as_ref()
            .map(|s| s.path.clone())
            .unwrap_or_else(|| root.clone());
        if plan.dir {
            // Create every parent directory once, up front, rather than
            // checking for it once per file in the parallel loop.
            let mut parents: Vec<&str> = plan
                .writes
                .iter()
                .filter_map(|(rel, _, _)| rel.rfind('/').map(|i| &rel[..i]))
                .collect();
            parents.sort_unstable();
            parents.dedup();
            fs_err::create_dir_all(&base)?;
            // In parallel: creating a directory is a kernel round trip, and
            // a shared ancestor created by two threads at once is fine.
            parents
                .par_iter()
                .try_for_each(|p| fs_err::create_dir_all(base.join(p)))?;
        } else if let Some(parent) = root.parent() {
            fs_err::create_dir_all(parent)?;
        }
        reporter.start(
            &format!("checking out {}", plan.target_rel),
            Some(plan.writes.len() as u64),
        );
        let cache = &self.repo.cache;
        let linker = &self.linker;
        let memo = self.state.objects();
        let fresh = staging.is_some();
        // Files of one directory go to one thread (in runs of at most 256),
        // so the threads create files in different directories instead of
        // queueing on one directory's lock; the manifest's sorted order keeps
        // each directory's files together.
        let parent_of = |rel: &str| rel.rfind('/').map(|i| rel[..i].to_string());
        let groups: Vec<&[(String, Digest, u64)]> = plan
            .writes
            .chunk_by(|a, b| parent_of(&a.0) == parent_of(&b.0))
            .flat_map(|g| g.chunks(256))
            .collect();
        let done: Result<Vec<_>, TrackError> = groups
            .par_iter()
            .map(|group| {
                // One open directory per group: each file then costs a
                // lookup of its own name only.
                let first = group[0].0.as_str();
                let (dir, single) = if first.is_empty() {
                    let parent = root.parent().unwrap_or(Path::new("."));
                    (Dir::open(parent)?, root.file_name())
                } else {
                    match first.rfind('/') {
                        Some(i) => (Dir::open(&base.join(&first[..i]))?, None),
                        None => (Dir::open(&base)?, None),
                    }
                };
                group
                    .iter()
                    .map(|(rel, digest, size)| {
                        let name = match single {
                            Some(n) => n.to_string_lossy(),
                            None => rel.rsplit('/').next().unwrap_or(rel).into(),
                        };
                        let oid = Oid::file(*digest);
                        let (stat, hashed) =
                            linker.materialize_in(cache, &oid, *size, &dir, &name, fresh, memo)?;
                        reporter.inc(1);
                        let key = if rel.is_empty() {
                            plan.target_rel.clone()
                        } else {
                            format!("{}/{rel}", plan.target_rel)
                        };
                        Ok((key, stat, *digest, hashed))
                    })
                    .collect::<Result<Vec<_>, TrackError>>()
            })
            .collect();
        // On an error the staging directory is dropped (removed) unpublished.
        let done = done?;
        if let Some(staging) = staging {
            staging.publish(root)?;
        }
        reporter.finish();
        let done: Vec<_> = done.into_iter().flatten().collect();
        summary.restored += done.len() as u64;
        for (_, _, digest, hashed) in &done {
            if let Some(object) = hashed {
                self.state.record_object(digest, object);
            }
        }
        self.state
            .record_all(done.into_iter().map(|(key, stat, d, _)| (key, stat, d)));
        Ok(())
    }

    /// A fresh staging directory for restoring `root`, on the same file
    /// system (so the final rename is atomic); `None` when `.mlci/tmp` is
    /// on another file system than the target. Staging directories left by
    /// a killed run are removed first (the repo lock is held, so none is in
    /// use).
    fn staging_for(&self, root: &Path) -> Result<Option<Staging>, TrackError> {
        use std::os::unix::fs::MetadataExt;
        let area = self.repo.tmp_dir().join("checkout");
        if area.exists() {
            fs_err::remove_dir_all(&area)?;
        }
        fs_err::create_dir_all(&area)?;
        let parent = root.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        if fs_err::metadata(&area)?.dev() != fs_err::metadata(parent)?.dev() {
            return Ok(None);
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some(Staging {
            path: area.join(name),
        }))
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

struct CheckoutPlan {
    target_rel: String,
    root_abs: PathBuf,
    /// (path below the root, "" for a tracked file; content; size)
    writes: Vec<(String, Digest, u64)>,
    deletes: Vec<PathBuf>,
    remove_root: bool,
    unchanged: u64,
    dir: bool,
}

/// A directory being restored out of sight; dropped unpublished (an error
/// part-way), it is removed and the workspace never saw it.
struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Moves the finished directory to `root`, which must still not exist.
    fn publish(self, root: &Path) -> Result<(), TrackError> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        renameat_with(CWD, &self.path, CWD, root, RenameFlags::NOREPLACE)
            .map_err(|e| with_path(e.into(), root))?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a successful publish the path is gone and this is a no-op.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The outcome of looking at one workspace file.
#[derive(Debug)]
struct Scanned {
    rel: String,
    abs: PathBuf,
    stat: Option<StatKey>,
    /// None for something that is not a regular file (it never matches).
    digest: Option<Digest>,
    /// True when the digest was computed now rather than taken from state.
    fresh: bool,
}

fn kind_of(meta: &Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_file() {
        Kind::File
    } else if t.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

/// Looks at one file: one stat (none when the walk already took it), and a
/// read only when the state cannot vouch for the content. A symlink counts
/// as a file only when it points into the cache (the `symlink` link type);
/// any other link never matches.
fn scan_one(
    state: &StateDb,
    cache_root: &Path,
    key: &str,
    abs: &Path,
    kind: Kind,
    stat: Option<StatKey>,
) -> Result<Scanned, TrackError> {
    let unmatched = || Scanned {
        rel: String::new(),
        abs: abs.to_path_buf(),
        stat: None,
        digest: None,
        fresh: false,
    };
    let stat = match kind {
        Kind::File => match stat {
            Some(st) => st,
            None => StatKey::of(&fs_err::symlink_metadata(abs)?),
        },
        Kind::Symlink => match std::fs::read_link(abs) {
            Ok(target) if target.starts_with(cache_root) => StatKey::of(&fs_err::metadata(abs)?),
            _ => return Ok(unmatched()),
        },
        Kind::Other => return Ok(unmatched()),
    };
    let (digest, fresh) = match state.lookup(key, &stat) {
        Some(d) => (d, false),
        None => (fs_err::File::open(abs).and_then(Digest::of_reader)?, true),
    };
    Ok(Scanned {
        rel: String::new(),
        abs: abs.to_path_buf(),
        stat: Some(stat),
        digest: Some(digest),
        fresh,
    })
}

/// The manifest of what was scanned, or None when something in the
/// directory is not a regular file (then it cannot match any manifest).
fn manifest_of(scanned: &[Scanned]) -> Option<Manifest> {
    let entries = scanned
        .iter()
        .map(|s| {
            Some(Entry {
                path: s.rel.clone(),
                sha256: s.digest?,
                size: s.stat.as_ref()?.size,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Manifest::from_entries(entries))
}

/// Groups statuses for display: pointer -> status.
pub fn by_pointer(statuses: &[DataStatus]) -> BTreeMap<&str, &DataStatus> {
    statuses.iter().map(|s| (s.pointer.as_str(), s)).collect()
}
