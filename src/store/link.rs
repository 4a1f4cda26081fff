//! Putting cache objects back into the workspace.
//!
//! The link types are tried in the configured order (default reflink, then
//! copy). Every materialisation verifies the object's hash on the way (a
//! corrupt cache object is refused and named, never copied), except a small
//! copy of an object mlci hashed before whose stat has not moved since (see
//! [`crate::store::state`]), and lands whole:
//! small copies through [`crate::store::whole`] (an unnamed file given its name when
//! complete), the rest through a temp file + rename, and a directory restored
//! from nothing is built in a staging directory and renamed into place at
//! once. The workspace never holds a half-written file.
//! Hardlinks point at read-only objects, so a workspace file is never a
//! writable link into the cache.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::fsutil::with_path;
use crate::store::cache::{Cache, CacheError, Oid, SMALL_FILE};
use crate::store::copy::copy_file_and_hash;
use crate::store::hash::Digest;
use crate::store::state::{ObjectMemo, StatKey};
use crate::store::whole::Dir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Reflink,
    Copy,
    Hardlink,
    Symlink,
}

impl LinkType {
    pub const NAMES: [&'static str; 4] = ["reflink", "copy", "hardlink", "symlink"];

    pub fn parse(s: &str) -> Option<LinkType> {
        Some(match s {
            "reflink" => LinkType::Reflink,
            "copy" => LinkType::Copy,
            "hardlink" => LinkType::Hardlink,
            "symlink" => LinkType::Symlink,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::Reflink => "reflink",
            LinkType::Copy => "copy",
            LinkType::Hardlink => "hardlink",
            LinkType::Symlink => "symlink",
        }
    }
}

/// Materialises objects with the configured fallback order, remembering which
/// link types this file system refused so each is tried only once.
pub struct Linker {
    order: Vec<LinkType>,
    refused: [AtomicBool; 4],
    counter: AtomicU64,
}

/// Where [`Linker::materialize_in`] writes: `name` in the open directory
/// `dir`; `fresh` says `dir` is a staging directory no one else sees, so
/// the file is written under its final name directly.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    pub dir: &'a Dir,
    pub name: &'a str,
    pub fresh: bool,
}

impl Linker {
    pub fn new(order: Vec<LinkType>) -> Linker {
        Linker {
            order,
            refused: Default::default(),
            counter: AtomicU64::new(0),
        }
    }

    /// True when the first usable link type shares data with the cache
    /// (hardlink/symlink): `add` then replaces the workspace file by a link.
    pub fn links_to_cache(&self) -> bool {
        self.order
            .iter()
            .find(|t| !self.is_refused(**t))
            .is_some_and(|t| matches!(t, LinkType::Hardlink | LinkType::Symlink))
    }

    /// Whether `add` may try to reflink files into the cache.
    pub fn wants_reflink(&self) -> bool {
        self.order.contains(&LinkType::Reflink) && !self.is_refused(LinkType::Reflink)
    }

    fn is_refused(&self, t: LinkType) -> bool {
        self.refused[t as usize].load(Ordering::Relaxed)
    }

    fn tmp_for(&self, dest: &Path) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = dest
            .file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        dest.with_file_name(format!(".{name}.mlci-{}-{n}", crate::fsutil::pid()))
    }

    /// Writes object `oid` as `name` in the open directory `dir`, replacing
    /// whatever is there, and returns the stat of the file as it now is,
    /// with the object's own stat when it was hashed on the way (for the
    /// memo). Small copies take the short way: read the object (hashing it
    /// unless `memo` vouches for it), then create the file whole in one step
    /// (see [`crate::store::whole`]).
    pub fn materialize_in(
        &self,
        cache: &Cache,
        oid: &Oid,
        size: u64,
        at: Place<'_>,
        memo: ObjectMemo<'_>,
    ) -> Result<(StatKey, Option<StatKey>), CacheError> {
        let Place { dir, name, fresh } = at;
        let first = self.order.iter().find(|t| !self.is_refused(**t));
        if size <= SMALL_FILE && first == Some(&LinkType::Copy) {
            let (bytes, hashed) = read_verified_small(cache, oid, size, memo)?;
            if fresh {
                return Ok((dir.create_new(name, 0o666, &bytes)?, hashed));
            }
            dir.create_whole(name, 0o666, &bytes, true)?;
            return Ok((dir.stat(name)?, hashed));
        }
        let dest = dir.path().join(name);
        self.materialize(cache, oid, size, &dest)?;
        let stat = StatKey::of(&fs_err::metadata(&dest)?);
        Ok((stat, None))
    }

    /// Writes object `oid` to `dest`, replacing whatever is there.
    pub fn materialize(
        &self,
        cache: &Cache,
        oid: &Oid,
        size: u64,
        dest: &Path,
    ) -> Result<LinkType, CacheError> {
        let src = cache.object_path(oid);
        let tmp = self.tmp_for(dest);
        let mut last_err = None;
        for &t in &self.order {
            if self.is_refused(t) {
                continue;
            }
            let res = match t {
                LinkType::Reflink => self.reflink(&src, &tmp, oid),
                LinkType::Copy => copy_verified(&src, &tmp, oid, size, cache).map(|()| true),
                LinkType::Hardlink => cache
                    .verify(oid)
                    .and_then(|()| link_or_unsupported(std::fs::hard_link(&src, &tmp), &tmp)),
                LinkType::Symlink => cache.verify(oid).and_then(|()| {
                    link_or_unsupported(std::os::unix::fs::symlink(&src, &tmp), &tmp)
                }),
            };
            match res {
                Ok(true) => {
                    if let Err(e) = std::fs::rename(&tmp, dest) {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(with_path(e, dest).into());
                    }
                    return Ok(t);
                }
                Ok(false) => {
                    // Not supported here: remember, and fall back.
                    self.refused[t as usize].store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    if matches!(e, CacheError::Corrupt { .. } | CacheError::Missing { .. }) {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            CacheError::Io(io::Error::other(format!(
                "no configured link type could create {}",
                dest.display()
            )))
        }))
    }

    /// Ok(false) when the file system cannot reflink.
    fn reflink(&self, src: &Path, tmp: &Path, oid: &Oid) -> Result<bool, CacheError> {
        if let Err(e) = reflink_copy::reflink(src, tmp) {
            let _ = std::fs::remove_file(tmp);
            if src.symlink_metadata().is_err() {
                return Err(CacheError::Missing {
                    oid: *oid,
                    path: src.to_path_buf(),
                });
            }
            return if is_unsupported(&e) {
                Ok(false)
            } else {
                Err(with_path(e, tmp).into())
            };
        }
        let actual = File::open(tmp)
            .and_then(Digest::of_reader)
            .map_err(|e| with_path(e, tmp))?;
        if actual != oid.digest {
            let _ = std::fs::remove_file(tmp);
            return Err(CacheError::Corrupt {
                oid: *oid,
                actual,
                path: src.to_path_buf(),
            });
        }
        // The clone inherits the object's read-only mode; the user's copy is theirs to edit.
        std::fs::set_permissions(tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(|e| with_path(e, tmp))?;
        Ok(true)
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EOPNOTSUPP)
            | Some(libc_errno::EXDEV)
            | Some(libc_errno::EINVAL)
            | Some(libc_errno::ENOTTY)
    ) || e.kind() == io::ErrorKind::Unsupported
}

/// errno values we branch on, spelled out to avoid a libc dependency.
mod libc_errno {
    pub(super) const EXDEV: i32 = 18;
    pub(super) const EINVAL: i32 = 22;
    pub(super) const ENOTTY: i32 = 25;
    pub(super) const EPERM: i32 = 1;
    pub(super) const EOPNOTSUPP: i32 = 95;
}

fn link_or_unsupported(res: io::Result<()>, tmp: &Path) -> Result<bool, CacheError> {
    match res {
        Ok(()) => Ok(true),
        Err(e) if is_unsupported(&e) || e.raw_os_error() == Some(libc_errno::EPERM) => Ok(false),
        Err(e) => Err(with_path(e, tmp).into()),
    }
}

/// Reads up to `size` bytes (fewer only at end of file).
fn read_exact_or_short(mut input: File, size: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size as usize];
    let n = crate::store::copy::read_full(&mut input, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Reads a small object whole and refuses it unless it hashes to its name,
/// or the memo vouches for it (hashed before, stat unchanged since; see
/// [`crate::store::state`]). Returns the bytes and, when it was hashed now, the
/// object's stat for the memo. Exactly `size` bytes are read: a shorter
/// object fails the hash check (or has another stat), and bytes beyond
/// `size` cannot change what is used. This saves the end-of-file read on
/// each of thousands of small files.
fn read_verified_small(
    cache: &Cache,
    oid: &Oid,
    size: u64,
    memo: ObjectMemo<'_>,
) -> Result<(Vec<u8>, Option<StatKey>), CacheError> {
    let src = || cache.object_path(oid);
    let input = match cache.open_object(oid) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CacheError::Missing {
                oid: *oid,
                path: src(),
            })
        }
        Err(e) => return Err(with_path(e, &src()).into()),
    };
    let key =
        StatKey::from_stat(&rustix::fs::fstat(&input).map_err(|e| with_path(e.into(), &src()))?);
    let bytes = read_exact_or_short(input, size).map_err(|e| with_path(e, &src()))?;
    if key.size == size && memo.vouches(&oid.digest, &key) {
        return Ok((bytes, None));
    }
    let actual = Digest::of_bytes(&bytes);
    if actual != oid.digest {
        return Err(CacheError::Corrupt {
            oid: *oid,
            actual,
            path: src(),
        });
    }
    Ok((bytes, Some(key)))
}

/// Copies an object to `tmp`, hashing on the way, and refuses a mismatch.
fn copy_verified(
    src: &Path,
    tmp: &Path,
    oid: &Oid,
    size: u64,
    cache: &Cache,
) -> Result<(), CacheError> {
    let open_output = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(tmp)
            .map_err(|e| with_path(e, tmp))
    };
    if size <= SMALL_FILE {
        let (bytes, _) = read_verified_small(cache, oid, size, ObjectMemo::none())?;
        open_output()?
            .write_all(&bytes)
            .map_err(|e| with_path(e, tmp))?;
        return Ok(());
    }
    let input = match File::open(src) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CacheError::Missing {
                oid: *oid,
                path: src.to_path_buf(),
            })
        }
        Err(e) => return Err(with_path(e, src).into()),
    };
    let (actual, _) = copy_file_and_hash(&input, open_output()?, tmp)?;
    if actual != oid.digest {
        let _ = std::fs::remove_file(tmp);
        return Err(CacheError::Corrupt {
            oid: *oid,
            actual,
            path: src.to_path_buf(),
        });
    }
    Ok(())
}
