//! `mlci add` and hashing workspace trees: list a target once, hash each
//! file the state cannot vouch for (storing it in the cache on the way),
//! build the directory manifest, write the pointer and `.gitignore` entry.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::*;

/// The longest file name the common file systems take, in bytes (ext4,
/// XFS, btrfs, APFS, NTFS in UTF-16 units).
const NAME_MAX: usize = 255;

impl Workspace<'_> {
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
            // Checked before any hashing: the pointer is written last.
            let name_len = abs.file_name().map_or(0, |n| n.len()) + 1 + EXTENSION.len();
            if name_len > NAME_MAX {
                return Err(TrackError::NameTooLong {
                    path: rel.clone(),
                    len: name_len,
                    max: NAME_MAX,
                });
            }
            if crate::git::is_tracked(&self.repo.root, rel)? {
                return Err(TrackError::GitTracked { path: rel.clone() });
            }
            listings.push(if meta.is_dir() {
                Some(walk_in(&self.repo.root, &abs)?)
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
    pub(super) fn hash_listed(
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
            if meta.len() > crate::store::cache::SMALL_FILE {
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
            None => walk_in(&self.repo.root, &abs)?,
        };
        // A link inside the directory is stored as the file it points to
        // (as DVC does), when that file is inside the workspace.
        let mut found = found;
        for f in found.iter_mut() {
            match f.kind {
                Kind::File => {}
                Kind::Symlink => {
                    let path = format!("{rel}/{}", f.rel);
                    let meta = follow_inner_link(&self.repo.root, &path, &abs.join(&f.rel))?;
                    f.stat = StatKey::of(&meta);
                }
                Kind::Other => {
                    return Err(TrackError::Special {
                        path: format!("{rel}/{}", f.rel),
                    })
                }
            }
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

    pub(super) fn add_one(
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
        let previous = fs_err::read_to_string(&pointer_abs)
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
    pub(super) fn scan_dir(
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

    pub(super) fn record_scanned(&mut self, prefix: &str, scanned: &[Scanned]) {
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
}

/// Follows a link inside a tracked directory: its real path must be a
/// regular file inside the workspace at `root`, outside `.git/` and
/// `.mlci/`. Returns that file's metadata. `path` names the link in errors.
pub(super) fn follow_inner_link(
    root: &Path,
    path: &str,
    abs: &Path,
) -> Result<Metadata, TrackError> {
    let outside = |target: String| TrackError::LinkOutside {
        path: path.to_string(),
        target,
    };
    let real = fs_err::canonicalize(abs)
        .map_err(|_| outside(format!("`{}`, which does not exist", link_text(abs))))?;
    let root = fs_err::canonicalize(root).map_err(|e| TrackError::Io(with_path(e, root)))?;
    let inside = real
        .strip_prefix(&root)
        .ok()
        .and_then(|r| crate::workspace_path::check_relative(&r.to_string_lossy()).ok());
    let meta = fs_err::metadata(&real)?;
    if inside.is_none() || !meta.is_file() {
        return Err(outside(format!("`{}`", link_text(abs))));
    }
    Ok(meta)
}

fn link_text(abs: &Path) -> String {
    fs_err::read_link(abs)
        .map(|t| t.display().to_string())
        .unwrap_or_default()
}

/// The outcome of looking at one workspace file.
#[derive(Debug)]
pub(super) struct Scanned {
    pub(super) rel: String,
    pub(super) abs: PathBuf,
    pub(super) stat: Option<StatKey>,
    /// None for something that is not a regular file (it never matches).
    pub(super) digest: Option<Digest>,
    /// True when the digest was computed now rather than taken from state.
    pub(super) fresh: bool,
}

pub(super) fn kind_of(meta: &Metadata) -> Kind {
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
pub(super) fn scan_one(
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
        Kind::Symlink => match fs_err::read_link(abs) {
            Ok(target) if target.starts_with(cache_root) => StatKey::of(&fs_err::metadata(abs)?),
            // A link to a file elsewhere in the workspace counts as that
            // file (how directories with links are stored); the cache sits
            // at `<root>/.mlci/cache`.
            Ok(_) => match cache_root
                .parent()
                .and_then(Path::parent)
                .map(|root| follow_inner_link(root, key, abs))
            {
                Some(Ok(meta)) => StatKey::of(&meta),
                _ => return Ok(unmatched()),
            },
            Err(_) => return Ok(unmatched()),
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
pub(super) fn manifest_of(scanned: &[Scanned]) -> Option<Manifest> {
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
