//! The local content-addressed cache.
//!
//! An object with hash `abcdef…` lives at `<root>/sha256/ab/cdef…`; a
//! directory manifest at `<root>/sha256/ab/cdef….dir`. The same layout is used
//! by every remote, so a directory remote is just another cache. Objects
//! appear whole: small ones are written as unnamed files in their shard and
//! linked in when complete ([`crate::store::whole`]), big ones are written to
//! `<root>/tmp/` and renamed into place, so a reader (or a kill -9) never sees
//! a partial object under its final name. They are made read-only
//! and not fsynced one by one: the hash check on read catches what a power
//! loss could leave behind (docs/design.md §6).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::error::Hint;
use crate::fsutil::with_path;
use crate::store::copy::{copy_file_and_hash, read_small};
use crate::store::hash::{BadDigest, Digest, Hasher};
use crate::store::whole::Dir;

/// Files up to this size are read into memory whole: one read, one hash, one
/// write. Bigger files are streamed through a two-thread pipeline.
pub const SMALL_FILE: u64 = 8 << 20;

/// The identity of a cache object: a content hash, and whether the object is
/// a directory manifest (written `<hex>.dir`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid {
    pub digest: Digest,
    pub dir: bool,
}

impl Oid {
    pub fn file(digest: Digest) -> Oid {
        Oid { digest, dir: false }
    }
    pub fn dir(digest: Digest) -> Oid {
        Oid { digest, dir: true }
    }
    /// The first 8 hex digits, for messages.
    pub fn short(&self) -> String {
        let hex = self.digest.to_hex();
        format!("{}{}", &hex[..8], if self.dir { ".dir" } else { "" })
    }
    /// `ab/cdef…[.dir]` below `sha256/`.
    pub fn rel_path(&self) -> String {
        let hex = self.digest.to_hex();
        format!(
            "sha256/{}/{}{}",
            &hex[..2],
            &hex[2..],
            if self.dir { ".dir" } else { "" }
        )
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.digest, if self.dir { ".dir" } else { "" })
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Oid {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_suffix(".dir") {
            Some(hex) => Ok(Oid::dir(hex.parse()?)),
            None => Ok(Oid::file(s.parse()?)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache object {oid} is corrupt: its content hashes to {actual} ({path})")]
    Corrupt {
        oid: Oid,
        actual: Digest,
        path: PathBuf,
    },
    #[error("cache object {oid} is missing ({path})")]
    Missing { oid: Oid, path: PathBuf },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Hint for CacheError {
    fn hint(&self) -> Option<String> {
        match self {
            CacheError::Corrupt { path, .. } => Some(format!(
                "delete {} and run `mlci add` on the original data again (or `mlci pull` once a remote holds it)",
                path.display()
            )),
            CacheError::Missing { .. } => Some(
                "the data was never added on this machine: `mlci pull` fetches it from a remote".into(),
            ),
            CacheError::Io(e) => crate::error::io_hint(e),
        }
    }
}

crate::register_hint!(CacheError);

/// A content-addressed object store rooted at a directory.
pub struct Cache {
    root: PathBuf,
    tmp_counter: AtomicU64,
    /// The 256 shard directories (`sha256/00` … `sha256/ff`), opened on
    /// first use, so writing an object resolves one name, not a path.
    shards: Vec<OnceLock<Dir>>,
    /// Other directories under the root held open once used (another
    /// layout's shards, such as DVC's `files/md5/ab/` on a directory
    /// remote), so each object written there resolves one name.
    held: std::sync::Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<Dir>>>,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache {
            root: root.into(),
            tmp_counter: AtomicU64::new(0),
            shards: (0..256).map(|_| OnceLock::new()).collect(),
            held: Default::default(),
        }
    }

    /// The directory `dir` (under the root), created when missing and held
    /// open for the next object written there.
    pub fn held_dir(&self, dir: &Path) -> io::Result<std::sync::Arc<Dir>> {
        if let Some(d) = self.held.lock().expect("held dirs").get(dir) {
            return Ok(d.clone());
        }
        let d = std::sync::Arc::new(Dir::open_or_create(dir)?);
        self.held
            .lock()
            .expect("held dirs")
            .insert(dir.to_path_buf(), d.clone());
        Ok(d)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_path(&self, oid: &Oid) -> PathBuf {
        self.root.join(oid.rel_path())
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn contains(&self, oid: &Oid) -> bool {
        self.object_path(oid).symlink_metadata().is_ok()
    }

    /// A fresh temp path inside the cache (same file system as the objects,
    /// so the final rename is atomic).
    fn tmp_path(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.tmp_dir()
            .join(format!("{}-{}-{n}", crate::fsutil::pid(), thread_id()))
    }

    /// Creates a temp file in the cache, read-only from birth (the open file
    /// descriptor stays writable).
    fn create_tmp(&self) -> io::Result<(PathBuf, File)> {
        self.create_tmp_at(self.tmp_path(), &self.tmp_dir())
    }

    fn create_tmp_at(&self, path: PathBuf, dir: &Path) -> io::Result<(PathBuf, File)> {
        let open = |p: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .open(p)
        };
        match open(&path) {
            Ok(f) => Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs_err::create_dir_all(dir)?;
                let f = open(&path).map_err(|e| with_path(e, &path))?;
                Ok((path, f))
            }
            Err(e) => Err(with_path(e, &path)),
        }
    }

    /// Moves a finished temp file to its object path. If the object appeared
    /// meanwhile (another thread added the same content) the temp is dropped.
    fn publish(&self, tmp: &Path, oid: &Oid) -> io::Result<()> {
        let dest = self.object_path(oid);
        let rename = || std::fs::rename(tmp, &dest);
        match rename() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = dest.parent().expect("object paths have a parent");
                fs_err::create_dir_all(parent)?;
                rename().map_err(|e| with_path(e, &dest))
            }
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                Err(with_path(e, &dest))
            }
        }
    }

    /// Moves a finished temp file to its object path unless the object
    /// exists already, without a separate existence check: one
    /// `renameat2(RENAME_NOREPLACE)` instead of a stat and a rename, which is
    /// a tenth of the system calls of adding a small file. Falls back to
    /// check-then-rename where the file system lacks the flag.
    fn publish_new(&self, tmp: &Path, oid: &Oid) -> io::Result<()> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        let dest = self.object_path(oid);
        let attempt = || renameat_with(CWD, tmp, CWD, &dest, RenameFlags::NOREPLACE);
        let result = match attempt() {
            Err(rustix::io::Errno::NOENT) => {
                let parent = dest.parent().expect("object paths have a parent");
                fs_err::create_dir_all(parent)?;
                attempt()
            }
            other => other,
        };
        match result {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                let _ = std::fs::remove_file(tmp);
                Ok(())
            }
            Err(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP,
            ) => {
                if self.contains(oid) {
                    let _ = std::fs::remove_file(tmp);
                    Ok(())
                } else {
                    self.publish(tmp, oid)
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                Err(with_path(e.into(), &dest))
            }
        }
    }

    /// Stores bytes whose hash the caller computed.
    pub fn put_bytes(&self, oid: &Oid, bytes: &[u8]) -> io::Result<()> {
        if self.contains(oid) {
            return Ok(());
        }
        self.put_bytes_new(oid, bytes)
    }

    /// Stores bytes that are probably not in the cache yet (freshly hashed
    /// workspace content): no existence check up front; an object that is
    /// there already is left as it is.
    fn put_bytes_new(&self, oid: &Oid, bytes: &[u8]) -> io::Result<()> {
        self.shard(oid, true)?
            .create_whole(&object_name(oid), 0o444, bytes, false)?;
        Ok(())
    }

    /// Opens an object for reading: one name looked up in its open shard
    /// directory. A missing object (or shard) is `NotFound`.
    pub fn open_object(&self, oid: &Oid) -> io::Result<File> {
        let fd = rustix::fs::openat(
            self.shard(oid, false)?,
            object_name(oid).as_str(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The open shard directory of `oid`, opened on first use; `create`
    /// makes it when missing (for writing), else a missing one is
    /// `NotFound` (for reading: a read must not create directories).
    fn shard(&self, oid: &Oid, create: bool) -> io::Result<&Dir> {
        let slot = &self.shards[oid.digest.0[0] as usize];
        if let Some(d) = slot.get() {
            return Ok(d);
        }
        let path = self.object_path(oid);
        let parent = path.parent().expect("object paths have a parent");
        let dir = if create {
            Dir::open_or_create(parent)?
        } else {
            Dir::open(parent)?
        };
        // Two threads may race to open it; either handle will do.
        Ok(slot.get_or_init(|| dir))
    }

    /// Hashes a workspace file and stores it, reading it once. `known` is the
    /// hash from the state cache when the file is unchanged since it was last
    /// hashed; then only a missing object costs a copy.
    pub fn insert_file(
        &self,
        src: &Path,
        size: u64,
        known: Option<Digest>,
        try_reflink: bool,
    ) -> Result<Digest, CacheError> {
        if let Some(d) = known {
            if self.contains(&Oid::file(d)) {
                return Ok(d);
            }
        }
        if size <= SMALL_FILE {
            let bytes = read_small(src, size)?;
            check_unchanged(src, size, bytes.len() as u64)?;
            let digest = Digest::of_bytes(&bytes);
            self.put_bytes_new(&Oid::file(digest), &bytes)?;
            return Ok(digest);
        }
        if try_reflink {
            let tmp = self.tmp_path();
            if std::fs::create_dir_all(self.tmp_dir()).is_ok()
                && reflink_copy::reflink(src, &tmp).is_ok()
            {
                // The clone shares blocks with the source: hash the clone, so
                // what we name is exactly what we stored.
                let digest = fs_err::File::open(&tmp).and_then(Digest::of_reader);
                let digest = match digest {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e.into());
                    }
                };
                let _ = std::fs::set_permissions(
                    &tmp,
                    std::os::unix::fs::PermissionsExt::from_mode(0o444),
                );
                if self.contains(&Oid::file(digest)) {
                    let _ = std::fs::remove_file(&tmp);
                } else {
                    self.publish(&tmp, &Oid::file(digest))?;
                }
                return Ok(digest);
            }
        }
        let input = fs_err::File::open(src)?;
        let (tmp, output) = self.create_tmp()?;
        let copied = copy_file_and_hash(input.file(), output, &tmp)
            .and_then(|(digest, len)| check_unchanged(src, size, len).map(|()| digest));
        match copied {
            Ok(digest) => {
                if self.contains(&Oid::file(digest)) {
                    let _ = std::fs::remove_file(&tmp);
                } else {
                    self.publish(&tmp, &Oid::file(digest))?;
                }
                Ok(digest)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e.into())
            }
        }
    }

    /// Stores bytes that came from elsewhere (a remote) only if they hash to
    /// the name they came under; on a mismatch returns the actual hash and
    /// stores nothing.
    pub fn put_checked(&self, oid: &Oid, bytes: &[u8]) -> io::Result<Result<(), Digest>> {
        let actual = Digest::of_bytes(bytes);
        if actual != oid.digest {
            return Ok(Err(actual));
        }
        self.put_bytes(oid, bytes)?;
        Ok(Ok(()))
    }

    /// Copies another cache's object file in under the same name without
    /// rehashing it (a push to a directory remote: the source is this
    /// machine's cache, whose objects were hashed on the way in). Reflinks
    /// where the file system can. Returns the bytes copied (0 when the
    /// object was there already).
    pub fn import_trusted(&self, src: &Path, oid: &Oid) -> io::Result<u64> {
        if self.contains(oid) {
            return Ok(0);
        }
        let size = fs_err::metadata(src)?.len();
        if size <= SMALL_FILE {
            let bytes = read_small(src, size)?;
            self.put_bytes_new(oid, &bytes)?;
            return Ok(size);
        }
        let tmp = self.tmp_path();
        fs_err::create_dir_all(self.tmp_dir())?;
        let copied = reflink_copy::reflink_or_copy(src, &tmp).map(|_| ());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(with_path(e, &tmp));
        }
        let _ = std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o444));
        self.publish_new(&tmp, oid)?;
        Ok(size)
    }

    /// Copies a big object from a file (a directory remote's) into the
    /// cache, hashing the copy as it lands, and publishes it only if it
    /// hashes to `oid`.
    pub fn ingest_checked(&self, input: &File, oid: &Oid) -> io::Result<Result<(), Digest>> {
        let (tmp, output) = self.create_tmp()?;
        let actual = match copy_file_and_hash(input, output, &tmp) {
            Ok((d, _)) => d,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if actual != oid.digest {
            let _ = std::fs::remove_file(&tmp);
            return Ok(Err(actual));
        }
        if self.contains(oid) {
            let _ = std::fs::remove_file(&tmp);
        } else {
            self.publish(&tmp, oid)?;
        }
        Ok(Ok(()))
    }

    /// Starts an object that arrives in pieces (a streamed download): the
    /// pieces are hashed as they are written to a temp file, and
    /// [`Incoming::finish`] publishes it only if the hash matches.
    pub fn incoming(&self) -> io::Result<Incoming<'_>> {
        let (tmp, file) = self.create_tmp()?;
        Ok(Incoming {
            cache: self,
            tmp,
            file: Some(io::BufWriter::with_capacity(1 << 20, file)),
            hasher: Hasher::new(),
        })
    }

    /// Reads a (small) object whole and checks its hash.
    pub fn read_verified(&self, oid: &Oid) -> Result<Vec<u8>, CacheError> {
        let path = self.object_path(oid);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CacheError::Missing { oid: *oid, path })
            }
            Err(e) => return Err(with_path(e, &path).into()),
        };
        let actual = Digest::of_bytes(&bytes);
        if actual != oid.digest {
            return Err(CacheError::Corrupt {
                oid: *oid,
                actual,
                path,
            });
        }
        Ok(bytes)
    }

    /// Hashes an object in place and checks it against its name.
    pub fn verify(&self, oid: &Oid) -> Result<(), CacheError> {
        let path = self.object_path(oid);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CacheError::Missing { oid: *oid, path })
            }
            Err(e) => return Err(with_path(e, &path).into()),
        };
        let actual = Digest::of_reader(file).map_err(|e| with_path(e, &path))?;
        if actual != oid.digest {
            return Err(CacheError::Corrupt {
                oid: *oid,
                actual,
                path,
            });
        }
        Ok(())
    }

    /// Every object in the cache with its size, for gc.
    pub fn list(&self) -> io::Result<Vec<(Oid, u64)>> {
        let base = self.root.join("sha256");
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&base) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(with_path(e, &base)),
        };
        for shard in shards {
            let shard = shard?;
            let prefix = shard.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Ok(oid) = format!("{prefix}{name}").parse::<Oid>() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((oid, size));
                }
            }
        }
        Ok(out)
    }

    /// Removes one object (gc).
    pub fn remove(&self, oid: &Oid) -> io::Result<()> {
        crate::fsutil::remove_file_if_exists(&self.object_path(oid))
    }

    /// Deletes temp files left by killed processes. Only safe under the repo
    /// lock, when no other mlci process can be writing one.
    ///
    /// Never follows a link below the cache root: a `tmp`, `sha256` or shard
    /// that is a symbolic link (whoever made it) is left alone, so a sweep
    /// cannot delete files outside the cache.
    pub fn clean_tmp(&self) -> io::Result<u64> {
        let real_dir = |p: &Path| p.symlink_metadata().is_ok_and(|m| m.is_dir());
        let mut n = 0;
        // (directory, whether everything in it is a temp): all of tmp/, only
        // dot-named temps in the shards (objects never start with a dot).
        let mut dirs = vec![(self.tmp_dir(), true)];
        let objects = self.root.join("sha256");
        if real_dir(&objects) {
            if let Ok(rd) = std::fs::read_dir(&objects) {
                // `DirEntry::file_type` does not follow links.
                dirs.extend(
                    rd.flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| (e.path(), false)),
                );
            }
        }
        for (dir, all_temp) in dirs.iter().filter(|(d, _)| real_dir(d)) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in rd.flatten() {
                let temp = *all_temp || entry.file_name().to_string_lossy().starts_with('.');
                if temp && std::fs::remove_file(entry.path()).is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// The name must describe a file as it was stat'ed, not one that grew or
/// shrank while it was read.
fn check_unchanged(src: &Path, listed: u64, read: u64) -> io::Result<()> {
    if listed == read {
        return Ok(());
    }
    Err(with_path(
        io::Error::other(format!(
            "changed while being added ({listed} bytes when listed, {read} read); \
             add it again once it is no longer being written"
        )),
        src,
    ))
}

/// An object's file name within its shard directory.
fn object_name(oid: &Oid) -> String {
    let hex = oid.digest.to_hex();
    if oid.dir {
        format!("{}.dir", &hex[2..])
    } else {
        hex[2..].to_string()
    }
}

fn thread_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    thread_local!(static ID: u64 = RandomState::new().hash_one(std::thread::current().id()));
    ID.with(|id| *id)
}

/// An object being received piece by piece; dropped unfinished, its temp
/// file is removed and nothing becomes visible in the cache.
pub struct Incoming<'c> {
    cache: &'c Cache,
    tmp: PathBuf,
    file: Option<io::BufWriter<File>>,
    hasher: Hasher,
}

impl Incoming<'_> {
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        let file = self.file.as_mut().expect("written before finish");
        file.write_all(bytes).map_err(|e| with_path(e, &self.tmp))
    }

    /// Publishes the object under `oid` if the bytes hash to it; otherwise
    /// discards them and returns the actual hash.
    pub fn finish(mut self, oid: &Oid) -> io::Result<Result<(), Digest>> {
        let file = self.file.take().expect("finished once");
        file.into_inner()
            .map_err(|e| with_path(e.into_error(), &self.tmp))?;
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != oid.digest {
            let _ = std::fs::remove_file(&self.tmp);
            return Ok(Err(actual));
        }
        let res = if self.cache.contains(oid) {
            fs_err::remove_file(&self.tmp)
        } else {
            self.cache.publish(&self.tmp, oid)
        };
        self.tmp = PathBuf::new();
        res.map(Ok)
    }
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
