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

use crate::state::StatKey;

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
        let Ok(name_str) = std::str::from_utf8(bytes) else {
            return fail(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "file name is not valid UTF-8: {}",
                    shown
                        .join(String::from_utf8_lossy(bytes).as_ref())
                        .display()
                ),
            ));
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

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
