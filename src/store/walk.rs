//! Listing a tracked directory with one `statx` per entry, in parallel.
//!
//! Every entry is stat'ed relative to its directory's file descriptor
//! (`fstatat`), so the kernel resolves one name instead of the whole path
//! from `/`; that halves the kernel time of a no-op `status` on a deep tree.
//! Subdirectories are walked in parallel (rayon). Symbolic links are never
//! followed: they are reported as such, and the caller decides.
//!
//! A walk inside a workspace ([`walk_in`]) leaves out what `.dvcignore` and
//! `.mlciignore` files exclude (gitignore syntax, at any level, nearest
//! file first, as DVC reads `.dvcignore`), through the `ignore` crate.

use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, CWD};

use crate::store::state::{is_racy, Fingerprint, StatKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
    Other,
}

/// One non-directory entry below the walked directory.
#[derive(Debug, Clone)]
pub struct Found {
    /// `/`-separated path relative to the walked directory.
    pub rel: String,
    pub kind: Kind,
    /// `lstat` of the entry, taken during the walk.
    pub stat: StatKey,
}

/// The files that hold ignore rules, in gitignore syntax.
pub const IGNORE_FILES: [&str; 2] = [".dvcignore", ".mlciignore"];

/// The ignore rules in force in one directory: those of its own ignore
/// files and its ancestors', shallowest first (a deeper file decides first).
#[derive(Clone, Default)]
struct Rules(Arc<Vec<Gitignore>>);

impl Rules {
    /// These rules and those of the ignore files in `dir` that `present`
    /// names.
    fn with_files(&self, dir: &Path, present: &[&str]) -> io::Result<Rules> {
        if present.is_empty() {
            return Ok(self.clone());
        }
        let mut b = GitignoreBuilder::new(dir);
        for name in present {
            if let Some(e) = b.add(dir.join(name)) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", dir.join(name).display()),
                ));
            }
        }
        let gi = b.build().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", dir.display()),
            )
        })?;
        let mut all = (*self.0).clone();
        all.push(gi);
        Ok(Rules(Arc::new(all)))
    }

    /// Whether `abs` (inside every rule's directory) is excluded.
    fn ignores(&self, abs: &Path, is_dir: bool) -> bool {
        for gi in self.0.iter().rev() {
            match gi.matched(abs, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// Lists every non-directory entry below `dir` (not following links),
/// without ignore rules.
pub fn walk(dir: &Path) -> io::Result<Vec<Found>> {
    walk_with(dir, Rules::default(), false)
}

/// Lists every non-directory entry below `dir`, which is inside the
/// workspace at `root`, leaving out what the ignore files of `root`, of the
/// directories between, and of `dir` and below exclude.
pub fn walk_in(root: &Path, dir: &Path) -> io::Result<Vec<Found>> {
    let mut rules = Rules::default();
    if let Ok(rel) = dir.strip_prefix(root) {
        let mut at = root.to_path_buf();
        let mut ancestors: Vec<PathBuf> = vec![at.clone()];
        for part in rel.parent().into_iter().flat_map(Path::components) {
            at.push(part);
            ancestors.push(at.clone());
        }
        if rel.as_os_str().is_empty() {
            ancestors.clear();
        }
        for a in ancestors {
            let present: Vec<&str> = IGNORE_FILES
                .into_iter()
                .filter(|f| {
                    a.join(f)
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_file())
                })
                .collect();
            rules = rules.with_files(&a, &present)?;
        }
    }
    walk_with(dir, rules, true)
}

fn walk_with(dir: &Path, rules: Rules, honour: bool) -> io::Result<Vec<Found>> {
    let fd = open_dir(CWD, dir, dir)?;
    let out = Mutex::new(Vec::new());
    let first_error = Mutex::new(None);
    let walk = Walk {
        root: dir,
        out: &out,
        first_error: &first_error,
        honour,
    };
    rayon::scope(|s| walk_dir(s, fd, String::new(), rules, &walk));
    if let Some(e) = first_error.into_inner().expect("walk error lock") {
        return Err(e);
    }
    Ok(out.into_inner().expect("walk output lock"))
}

/// What every directory of one walk shares.
struct Walk<'a> {
    root: &'a Path,
    out: &'a Mutex<Vec<Found>>,
    first_error: &'a Mutex<Option<io::Error>>,
    /// Whether ignore files are read (a walk inside a workspace).
    honour: bool,
}

fn open_dir(
    at: impl rustix::fd::AsFd,
    name: impl rustix::path::Arg,
    shown: &Path,
) -> io::Result<OwnedFd> {
    openat(
        at,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| crate::fsutil::with_path(e.into(), shown))
}

fn walk_dir<'s>(
    scope: &rayon::Scope<'s>,
    fd: OwnedFd,
    prefix: String,
    rules: Rules,
    walk: &'s Walk<'s>,
) {
    let (root, out) = (walk.root, walk.out);
    let fail = |e: io::Error| {
        walk.first_error
            .lock()
            .expect("walk error lock")
            .get_or_insert(e);
    };
    let shown = root.join(&prefix);
    let dir = match Dir::read_from(&fd) {
        Ok(d) => d,
        Err(e) => return fail(crate::fsutil::with_path(e.into(), &shown)),
    };
    // The directory's entries first, so its own ignore files apply to all
    // of them.
    let mut entries = Vec::new();
    for entry in dir {
        match entry {
            Ok(e) => {
                let bytes = e.file_name().to_bytes();
                if bytes != b"." && bytes != b".." {
                    entries.push((e.file_name().to_owned(), e.file_type()));
                }
            }
            Err(e) => return fail(crate::fsutil::with_path(e.into(), &shown)),
        }
    }
    let rules = if walk.honour {
        // Only regular files: an ignore file that is a link is never read
        // (a pull request could point it at a file outside the workspace).
        let present: Vec<&str> = IGNORE_FILES
            .into_iter()
            .filter(|f| {
                entries
                    .iter()
                    .any(|(n, t)| n.to_bytes() == f.as_bytes() && *t == FileType::RegularFile)
            })
            .collect();
        match rules.with_files(&shown, &present) {
            Ok(r) => r,
            Err(e) => return fail(e),
        }
    } else {
        rules
    };
    let mut found = Vec::new();
    for (owned, entry_type) in &entries {
        let name: &CStr = owned.as_c_str();
        let bytes = name.to_bytes();
        // Names git cannot list exactly in .gitignore (or mlci in a
        // manifest) are refused here, before anything is hashed or stored.
        let unsafe_name = |why: crate::workspace_path::UnsafePath| {
            fail(io::Error::new(io::ErrorKind::InvalidData, why))
        };
        let Ok(name_str) = std::str::from_utf8(bytes) else {
            let lossy = shown.join(String::from_utf8_lossy(bytes).as_ref());
            return unsafe_name(crate::workspace_path::UnsafePath::NotUtf8(
                lossy.display().to_string(),
            ));
        };
        if name_str.chars().any(char::is_control) || name_str.ends_with(' ') {
            return unsafe_name(crate::workspace_path::UnsafePath::Unignorable(
                shown.join(name_str).display().to_string(),
            ));
        }
        let rel = if prefix.is_empty() {
            name_str.to_string()
        } else {
            format!("{prefix}/{name_str}")
        };
        let mut file_type = *entry_type;
        let stat = if file_type == FileType::Directory {
            None
        } else {
            match statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    file_type = FileType::from_raw_mode(st.st_mode);
                    Some(st)
                }
                Err(e) => return fail(crate::fsutil::with_path(e.into(), &root.join(&rel))),
            }
        };
        // After the stat, so a file system that does not give the type in
        // the listing still has directories matched as directories.
        if !rules.0.is_empty() && rules.ignores(&root.join(&rel), file_type == FileType::Directory)
        {
            continue;
        }
        if file_type == FileType::Directory {
            match open_dir(&fd, name, &root.join(&rel)) {
                Ok(sub) => {
                    let rules = rules.clone();
                    scope.spawn(move |s| walk_dir(s, sub, rel, rules, walk))
                }
                Err(e) => return fail(e),
            }
            continue;
        }
        let st = stat.expect("non-directories were stat'ed");
        let kind = match file_type {
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        found.push(Found {
            rel,
            kind,
            stat: StatKey::from_stat(&st),
        });
    }
    out.lock().expect("walk output lock").extend(found);
}

/// The fingerprint of a listing (see [`crate::store::state`]): the number of
/// entries and two independent wrapping sums of a keyed hash of each entry's
/// path and stat, so the walk's order does not matter. Also says whether
/// every entry is a regular file old enough to be trusted at `now_ns`; only
/// such a listing may be remembered.
pub fn fingerprint(found: &[Found], now_ns: i64) -> (Fingerprint, bool) {
    use rayon::prelude::*;
    use std::hash::{DefaultHasher, Hash, Hasher};
    let (a, b, settled) = found
        .par_iter()
        .map(|f| {
            let one = |salt: u8| {
                // Fixed keys: the same listing gives the same sums in every run.
                let mut h = DefaultHasher::new();
                salt.hash(&mut h);
                f.rel.hash(&mut h);
                (f.stat.ino, f.stat.size, f.stat.mtime_ns, f.stat.ctime_ns).hash(&mut h);
                h.finish()
            };
            let settled = f.kind == Kind::File && !is_racy(&f.stat, now_ns);
            (one(1), one(2), settled)
        })
        .reduce(
            || (0u64, 0u64, true),
            |x, y| (x.0.wrapping_add(y.0), x.1.wrapping_add(y.1), x.2 && y.2),
        );
    (Fingerprint(found.len() as u64, a, b), settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn fingerprint_ignores_order_and_sees_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/x"), "1").unwrap();
        std::fs::write(root.join("y"), "2").unwrap();
        let later = i64::MAX;
        let mut found = walk(root).unwrap();
        let (fp, settled) = fingerprint(&found, later);
        assert!(settled);
        found.reverse();
        assert_eq!(fingerprint(&found, later).0, fp, "order does not matter");
        // Just written: not settled at the time of writing.
        assert!(
            !fingerprint(
                &found,
                StatKey::of(&std::fs::metadata(root.join("y")).unwrap()).mtime_ns
            )
            .1
        );

        std::fs::write(root.join("y"), "3").unwrap();
        assert_ne!(
            fingerprint(&walk(root).unwrap(), later).0,
            fp,
            "content change"
        );
        std::fs::write(root.join("a/z"), "").unwrap();
        let with_z = fingerprint(&walk(root).unwrap(), later).0;
        std::fs::remove_file(root.join("a/z")).unwrap();
        assert_ne!(
            fingerprint(&walk(root).unwrap(), later).0,
            with_z,
            "removal"
        );
        std::fs::rename(root.join("a/x"), root.join("a/w")).unwrap();
        let renamed = fingerprint(&walk(root).unwrap(), later).0;
        assert_ne!(renamed, fp, "rename");
        std::os::unix::fs::symlink("/etc", root.join("l")).unwrap();
        assert!(
            !fingerprint(&walk(root).unwrap(), later).1,
            "a link is never settled"
        );
    }

    #[test]
    fn walk_lists_files_with_their_stat_and_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("top.txt"), "1").unwrap();
        std::fs::write(root.join("a/b/c/deep.txt"), "22").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/link")).unwrap();
        let mut found = walk(root).unwrap();
        found.sort_by(|x, y| x.rel.cmp(&y.rel));
        let names: Vec<_> = found.iter().map(|f| (f.rel.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            [
                ("a/b/c/deep.txt", Kind::File),
                ("a/link", Kind::Symlink),
                ("top.txt", Kind::File)
            ]
        );
        let meta = std::fs::symlink_metadata(root.join("a/b/c/deep.txt")).unwrap();
        assert_eq!(found[0].stat, StatKey::of(&meta));
        assert_eq!(found[0].stat.size, 2);
        assert_eq!(found[0].stat.ino, meta.ino());
    }
}
