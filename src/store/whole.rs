//! Creating files whose names appear only once their content is whole.
//!
//! The file is written as an unnamed inode (`O_TMPFILE`) in its directory
//! and then given its name with `linkat`: a reader, or a kill -9 at any
//! moment, sees either no file or the whole file, as with a temp file and a
//! rename, but the directory is changed once instead of three times (add the
//! temp name, remove it, add the final name). On this project's reference
//! machine the rename was over a quarter of the kernel time of checking out
//! 20,000 small files.
//!
//! Where the file system lacks `O_TMPFILE` (NFS, some FUSE) or `linkat`
//! cannot name an open file (no `/proc` and an old kernel), and when an
//! existing file is to be replaced, the classic temp file + rename is used.
//! Directories are held open, so each file costs name lookups in its own
//! directory only, not along the whole path.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use rustix::fs::{
    fstat, linkat, openat, renameat, renameat_with, statat, unlinkat, AtFlags, Mode, OFlags,
    RenameFlags, CWD,
};
use rustix::io::Errno;

use crate::fsutil::with_path;
use crate::store::state::StatKey;

/// How this process names an `O_TMPFILE` inode: learnt on first use.
static LINK_METHOD: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
/// `linkat(fd, "", …, AT_EMPTY_PATH)`: Linux 6.10+, or with CAP_DAC_READ_SEARCH.
const EMPTY_PATH: u8 = 1;
/// `linkat(AT_FDCWD, "/proc/self/fd/N", …, AT_SYMLINK_FOLLOW)`, as open(2) documents.
const PROC_FD: u8 = 2;
/// Neither works here: temp file + rename.
const NONE: u8 = 3;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An open directory that files are created in.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| with_path(e.into(), path))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens `path`, creating it (and its parents) when missing.
    pub fn open_or_create(path: &Path) -> io::Result<Dir> {
        match Dir::open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs_err::create_dir_all(path)?;
                Dir::open(path)
            }
            other => other,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` as `name` (mode `mode`, less the umask); the name
    /// appears only once the content is whole. When `name` exists, replaces
    /// it if `replace`, else leaves it and returns false. Callers that need
    /// the new file's stat ask [`Dir::stat`]; the cache does not, so an
    /// added object costs no stat.
    pub fn create_whole(
        &self,
        name: &str,
        mode: u32,
        bytes: &[u8],
        replace: bool,
    ) -> io::Result<bool> {
        if LINK_METHOD.load(Ordering::Relaxed) != NONE {
            match self.create_linked(name, mode, bytes)? {
                Linked::Done => return Ok(true),
                Linked::Exists if !replace => return Ok(false),
                Linked::Exists | Linked::Unsupported => {}
            }
        }
        self.create_renamed(name, mode, bytes, replace)
    }

    /// The stat of `name` in this directory, as it is now (not following a
    /// symbolic link).
    pub fn stat(&self, name: &str) -> io::Result<StatKey> {
        let st = statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| with_path(e.into(), &self.path.join(name)))?;
        Ok(StatKey::from_stat(&st))
    }

    /// Writes `bytes` as the new file `name` directly under its final name.
    /// Only for a directory no one else can see yet (a staging directory
    /// that is renamed into place whole once every file is written).
    pub fn create_new(&self, name: &str, mode: u32, bytes: &[u8]) -> io::Result<StatKey> {
        let shown = || self.path.join(name);
        let fd = openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| with_path(e.into(), &shown()))?;
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(|e| with_path(e, &shown()))?;
        let st = fstat(&file).map_err(|e| with_path(e.into(), &shown()))?;
        Ok(StatKey::from_stat(&st))
    }

    fn create_linked(&self, name: &str, mode: u32, bytes: &[u8]) -> io::Result<Linked> {
        let fd = match openat(
            &self.fd,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        ) {
            Ok(fd) => fd,
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {
                LINK_METHOD.store(NONE, Ordering::Relaxed);
                return Ok(Linked::Unsupported);
            }
            Err(e) => return Err(with_path(e.into(), &self.path)),
        };
        let mut file = File::from(fd);
        file.write_all(bytes)
            .map_err(|e| with_path(e, &self.path.join(name)))?;
        loop {
            let method = LINK_METHOD.load(Ordering::Relaxed);
            let result = match method {
                UNKNOWN | EMPTY_PATH => linkat(&file, "", &self.fd, name, AtFlags::EMPTY_PATH),
                PROC_FD => {
                    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
                    linkat(CWD, proc.as_str(), &self.fd, name, AtFlags::SYMLINK_FOLLOW)
                }
                _ => return Ok(Linked::Unsupported),
            };
            match result {
                Ok(()) => {
                    if method == UNKNOWN {
                        LINK_METHOD.store(EMPTY_PATH, Ordering::Relaxed);
                    }
                    return Ok(Linked::Done);
                }
                Err(Errno::EXIST) => return Ok(Linked::Exists),
                // Without the capability an old kernel says ENOENT; a
                // missing /proc says ENOENT too. Try the next method.
                Err(Errno::NOENT | Errno::PERM | Errno::INVAL | Errno::OPNOTSUPP)
                    if method != PROC_FD =>
                {
                    LINK_METHOD.store(PROC_FD, Ordering::Relaxed);
                }
                Err(Errno::NOENT | Errno::PERM | Errno::INVAL | Errno::OPNOTSUPP) => {
                    LINK_METHOD.store(NONE, Ordering::Relaxed);
                    return Ok(Linked::Unsupported);
                }
                Err(e) => return Err(with_path(e.into(), &self.path.join(name))),
            }
        }
    }

    fn create_renamed(
        &self,
        name: &str,
        mode: u32,
        bytes: &[u8],
        replace: bool,
    ) -> io::Result<bool> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!(".{name}.mlci-{}-{n}", crate::fsutil::pid());
        let shown = self.path.join(name);
        let fd = openat(
            &self.fd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| with_path(e.into(), &self.path.join(&tmp)))?;
        let mut file = File::from(fd);
        if let Err(e) = file.write_all(bytes) {
            drop(file);
            let _ = unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(with_path(e, &shown));
        }
        drop(file);
        let renamed = if replace {
            renameat(&self.fd, tmp.as_str(), &self.fd, name)
        } else {
            match renameat_with(
                &self.fd,
                tmp.as_str(),
                &self.fd,
                name,
                RenameFlags::NOREPLACE,
            ) {
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    // No RENAME_NOREPLACE here: check, then rename.
                    if statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                        Err(Errno::EXIST)
                    } else {
                        renameat(&self.fd, tmp.as_str(), &self.fd, name)
                    }
                }
                other => other,
            }
        };
        match renamed {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
                if e == Errno::EXIST {
                    Ok(false)
                } else {
                    Err(with_path(e.into(), &shown))
                }
            }
        }
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

enum Linked {
    Done,
    Exists,
    Unsupported,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_whole_files_and_respects_existing_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        assert!(d.create_whole("a", 0o644, b"one", false).unwrap());
        let st = d.stat("a").unwrap();
        let meta = std::fs::symlink_metadata(dir.path().join("a")).unwrap();
        assert_eq!(st, StatKey::of(&meta));
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"one");

        // Not replacing: the existing file stays as it was.
        assert!(!d.create_whole("a", 0o644, b"two", false).unwrap());
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"one");

        // Replacing: new content, and the stat describes the new file.
        assert!(d.create_whole("a", 0o644, b"three", true).unwrap());
        let st = d.stat("a").unwrap();
        let meta = std::fs::symlink_metadata(dir.path().join("a")).unwrap();
        assert_eq!(st, StatKey::of(&meta));
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"three");

        // No temp names are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn the_proc_fd_way_of_naming_works_too() {
        // What an unprivileged process on a kernel before 6.10 uses. Other
        // tests running meanwhile just take this way too.
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        LINK_METHOD.store(PROC_FD, Ordering::Relaxed);
        let made = d.create_linked("p", 0o600, b"via proc");
        LINK_METHOD.store(UNKNOWN, Ordering::Relaxed);
        assert!(matches!(made.unwrap(), Linked::Done));
        assert_eq!(std::fs::read(dir.path().join("p")).unwrap(), b"via proc");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_rename_path_works_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open_or_create(&dir.path().join("x/y")).unwrap();
        assert!(d.create_renamed("f", 0o444, b"data", false).unwrap());
        let st = d.stat("f").unwrap();
        let p = dir.path().join("x/y/f");
        assert_eq!(st, StatKey::of(&std::fs::symlink_metadata(&p).unwrap()));
        assert!(std::fs::metadata(&p).unwrap().permissions().readonly());
        assert!(!d.create_renamed("f", 0o444, b"other", false).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"data");
        assert_eq!(
            std::fs::read_dir(dir.path().join("x/y")).unwrap().count(),
            1
        );
    }
}
