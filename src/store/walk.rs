//! Listing a tracked directory with one `statx` per entry, in parallel.
//!
//! Every entry is stat'ed relative to its directory's file descriptor
//! (`fstatat`), so the kernel resolves one name instead of the whole path
//! from `/`; that halves the kernel time of a no-op `status` on a deep tree.
//! Subdirectories are walked in parallel (rayon). Symbolic links are never
//! followed: they are reported as such, and the caller decides.

use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;

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

/// Lists every non-directory entry below `dir` (not following links).
pub fn walk(dir: &Path) -> io::Result<Vec<Found>> {
    let fd = open_dir(CWD, dir, dir)?;
    let out = Mutex::new(Vec::new());
    let first_error = Mutex::new(None);
    rayon::scope(|s| walk_dir(s, fd, String::new(), dir, &out, &first_error));
    if let Some(e) = first_error.into_inner().expect("walk error lock") {
        return Err(e);
    }
    Ok(out.into_inner().expect("walk output lock"))
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
    root: &'s Path,
    out: &'s Mutex<Vec<Found>>,
    first_error: &'s Mutex<Option<io::Error>>,
) {
    let fail = |e: io::Error| {
        first_error
            .lock()
            .expect("walk error lock")
            .get_or_insert(e);
    };
    let shown = root.join(&prefix);
    let dir = match Dir::read_from(&fd) {
        Ok(d) => d,
        Err(e) => return fail(crate::fsutil::with_path(e.into(), &shown)),
    };
    let mut found = Vec::new();
    for entry in dir {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return fail(crate::fsutil::with_path(e.into(), &shown)),
        };
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
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
        let mut file_type = entry.file_type();
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
        if file_type == FileType::Directory {
            match open_dir(&fd, name, &root.join(&rel)) {
                Ok(sub) => scope.spawn(move |s| walk_dir(s, sub, rel, root, out, first_error)),
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
