//! The hash state cache: what each workspace file hashed to, keyed by the
//! stat that saw it (inode, size, mtime, ctime), so `status` costs one stat
//! per unchanged file instead of a read.
//!
//! A record is trusted only when the file's timestamps are older than the
//! moment the record was made by more than [`RACY_WINDOW_NS`]. A file written
//! in the same timestamp tick as its record could change again without its
//! mtime moving ("racy", as git calls it), so such a file is rehashed and its
//! record renewed; the next look is then a plain stat again. The window is
//! wide enough for the coarsest common file-system clock (FAT's 2 s).
//!
//! Two memos per tracked directory make a no-op `status` cost one stat per
//! file and nothing else: which directory manifests are known to have every
//! object in the cache (so `status` need not stat each object; gc, the only
//! thing in mlci that deletes objects, clears that memo), and a fingerprint
//! of the directory's listing (every name with its stat, combined without
//! regard to order) with the manifest hash it had. When the listing's
//! fingerprint is unchanged, so is every file, and the manifest need not be
//! rebuilt, encoded and hashed. A fingerprint is remembered only when no file
//! in it is racy.
//!
//! The per-file records live in `.mlci/tmp/state.bin`, the per-directory
//! memos in `.mlci/tmp/state-dirs.bin` (postcard: binary loads several times
//! faster than JSON). The per-file records are loaded only when a lookup
//! needs them, so a no-op `status` whose fingerprints all match never decodes
//! them. Both are rebuilt from nothing when missing or unreadable, and are
//! written atomically but without fsync: they are caches, losing them costs
//! only time.

use std::collections::HashSet;
use std::sync::OnceLock;

use rustc_hash::FxHashMap as HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hash::Digest;

pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// The parts of a stat that change when a file's content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatKey {
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl StatKey {
    pub fn of(meta: &Metadata) -> StatKey {
        StatKey {
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }

    /// The same from a raw `stat`/`fstatat` (no path, no allocation).
    // The casts are no-ops on 64-bit Linux but not on every target.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_stat(st: &rustix::fs::Stat) -> StatKey {
        StatKey {
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mtime_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
            ctime_ns: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
        }
    }
}

/// One record: `(ino, size, mtime_ns, ctime_ns, recorded_ns, sha256)`,
/// compact because a repository may hold millions of tracked files.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record(u64, u64, i64, i64, i64, [u8; 32]);

#[derive(Serialize, Deserialize, Default)]
struct FilesOnDisk {
    version: u32,
    files: HashMap<String, Record>,
}

#[derive(Serialize, Deserialize, Default)]
struct DirsOnDisk {
    version: u32,
    complete_dirs: HashSet<[u8; 32]>,
    listings: HashMap<String, Listing>,
}

/// A tracked directory's listing fingerprint and the manifest hash it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Listing(Fingerprint, [u8; 32]);

/// An order-independent digest of a directory listing's names and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub u64, pub u64, pub u64);

const VERSION: u32 = 3;

pub struct StateDb {
    path: PathBuf,
    dirs_path: PathBuf,
    /// Loaded on first use (see the module doc).
    files: OnceLock<HashMap<String, Record>>,
    /// A load started early on another thread by [`StateDb::prefetch`].
    prefetched: std::sync::Mutex<Option<std::thread::JoinHandle<HashMap<String, Record>>>>,
    complete_dirs: HashSet<[u8; 32]>,
    listings: HashMap<String, Listing>,
    files_dirty: bool,
    dirs_dirty: bool,
}

impl StateDb {
    /// Opens the state at `path` (per-file records) and its sibling
    /// `state-dirs.bin`, or starts empty when they are missing or unreadable.
    pub fn load(path: &Path) -> StateDb {
        let dirs_path = path.with_file_name("state-dirs.bin");
        let dirs = std::fs::read(&dirs_path)
            .ok()
            .and_then(|b| postcard::from_bytes::<DirsOnDisk>(&b).ok())
            .filter(|d| d.version == VERSION)
            .unwrap_or_default();
        StateDb {
            path: path.to_path_buf(),
            dirs_path,
            files: OnceLock::new(),
            prefetched: Default::default(),
            complete_dirs: dirs.complete_dirs,
            listings: dirs.listings,
            files_dirty: false,
            dirs_dirty: false,
        }
    }

    fn files(&self) -> &HashMap<String, Record> {
        self.files.get_or_init(|| {
            let early = self.prefetched.lock().ok().and_then(|mut p| p.take());
            early
                .and_then(|h| h.join().ok())
                .unwrap_or_else(|| load_files(&self.path))
        })
    }

    /// Starts loading the per-file records on another thread, for a
    /// command that will need them after serial work of its own (checkout
    /// parses manifests first): the load then costs no wall time.
    pub fn prefetch(&self) {
        if self.files.get().is_some() {
            return;
        }
        let path = self.path.clone();
        if let Ok(mut p) = self.prefetched.lock() {
            if p.is_none() {
                *p = Some(std::thread::spawn(move || load_files(&path)));
            }
        }
    }

    fn files_mut(&mut self) -> &mut HashMap<String, Record> {
        self.files();
        self.files.get_mut().expect("loaded just above")
    }

    /// The manifest hash the tracked directory `rel` had when its listing
    /// had fingerprint `fp`, if that is remembered.
    pub fn listing_digest(&self, rel: &str, fp: Fingerprint) -> Option<Digest> {
        match self.listings.get(rel) {
            Some(Listing(known, digest)) if *known == fp => Some(Digest(*digest)),
            _ => None,
        }
    }

    /// Remembers that directory `rel`, listed with fingerprint `fp` (no
    /// racy file in it), has manifest hash `digest`.
    pub fn remember_listing(&mut self, rel: &str, fp: Fingerprint, digest: Digest) {
        let new = Listing(fp, digest.0);
        if self.listings.get(rel) != Some(&new) {
            self.listings.insert(rel.to_string(), new);
            self.dirs_dirty = true;
        }
    }

    /// The recorded hash of the file at repo-relative `rel`, if its stat
    /// still matches and the record is not racy.
    pub fn lookup(&self, rel: &str, key: &StatKey) -> Option<Digest> {
        let r = self.files().get(rel)?;
        if (r.0, r.1, r.2, r.3) != (key.ino, key.size, key.mtime_ns, key.ctime_ns) {
            return None;
        }
        if is_racy(key, r.4) {
            return None;
        }
        Some(Digest(r.5))
    }

    /// Whether every object of directory manifest `oid` was seen in the cache.
    pub fn dir_known_complete(&self, manifest: &Digest) -> bool {
        self.complete_dirs.contains(&manifest.0)
    }

    pub fn mark_dir_complete(&mut self, manifest: &Digest) {
        self.dirs_dirty |= self.complete_dirs.insert(manifest.0);
    }

    /// Forgets every completeness memo (after objects were deleted).
    pub fn clear_complete_dirs(&mut self) {
        self.dirs_dirty |= !self.complete_dirs.is_empty();
        self.complete_dirs.clear();
    }

    /// Records that the file, as `meta` saw it just now, hashes to `digest`.
    pub fn record(&mut self, rel: String, key: &StatKey, digest: Digest) {
        let now = now_ns();
        let new = Record(key.ino, key.size, key.mtime_ns, key.ctime_ns, now, digest.0);
        match self.files_mut().entry(rel) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let r = e.get();
                // Unchanged and already trusted: keep it, and keep the file clean.
                if (r.0, r.1, r.2, r.3) == (key.ino, key.size, key.mtime_ns, key.ctime_ns)
                    && !is_racy(key, r.4)
                    && r.5 == digest.0
                {
                    return;
                }
                e.insert(new);
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(new);
            }
        }
        self.files_dirty = true;
    }

    /// Drops records of files under `prefix` (a removed tracked path).
    pub fn forget_under(&mut self, prefix: &str) {
        let dir = format!("{prefix}/");
        let gone = |k: &String| k == prefix || k.starts_with(&dir);
        let files = self.files_mut();
        let before = files.len();
        files.retain(|k, _| !gone(k));
        self.files_dirty |= files.len() != before;
        let before = self.listings.len();
        self.listings.retain(|k, _| !gone(k));
        self.dirs_dirty |= self.listings.len() != before;
    }

    /// Writes whichever part of the state changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.files_dirty && !self.dirs_dirty {
            return Ok(());
        }
        if let Some(parent) = self.path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if self.files_dirty {
            let disk = FilesOnDiskRef {
                version: VERSION,
                files: self.files(),
            };
            let bytes = postcard::to_stdvec(&disk).map_err(std::io::Error::other)?;
            crate::fsutil::write_atomic_nosync(&self.path, &bytes)?;
            self.files_dirty = false;
        }
        if self.dirs_dirty {
            let disk = DirsOnDiskRef {
                version: VERSION,
                complete_dirs: &self.complete_dirs,
                listings: &self.listings,
            };
            let bytes = postcard::to_stdvec(&disk).map_err(std::io::Error::other)?;
            crate::fsutil::write_atomic_nosync(&self.dirs_path, &bytes)?;
            self.dirs_dirty = false;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct FilesOnDiskRef<'a> {
    version: u32,
    files: &'a HashMap<String, Record>,
}

#[derive(Serialize)]
struct DirsOnDiskRef<'a> {
    version: u32,
    complete_dirs: &'a HashSet<[u8; 32]>,
    listings: &'a HashMap<String, Listing>,
}

fn load_files(path: &Path) -> HashMap<String, Record> {
    std::fs::read(path)
        .ok()
        .and_then(|b| postcard::from_bytes::<FilesOnDisk>(&b).ok())
        .filter(|d| d.version == VERSION)
        .unwrap_or_default()
        .files
}

/// True when a file with this stat is too young to be vouched for by a
/// record made at `recorded_ns` (see the module doc).
pub fn is_racy(key: &StatKey, recorded_ns: i64) -> bool {
    key.mtime_ns >= recorded_ns - RACY_WINDOW_NS || key.ctime_ns >= recorded_ns - RACY_WINDOW_NS
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_files_are_racy_old_files_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let mut db = StateDb::load(&dir.path().join("state.bin"));
        let d = Digest::of_bytes(b"x");
        let meta = std::fs::metadata(&f).unwrap();
        db.record("f".into(), &StatKey::of(&meta), d);
        // Just written: the record is racy and must not be trusted.
        assert_eq!(db.lookup("f", &StatKey::of(&meta)), None);

        // Age the file beyond the window: now the stat alone is enough.
        let old = SystemTime::now() - std::time::Duration::from_secs(10);
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(old).unwrap();
        drop(file);
        // ctime moves with set_modified, so the record must be renewed with a
        // back-dated ctime to test trust; emulate by shifting the record time.
        let meta = std::fs::metadata(&f).unwrap();
        db.record("f".into(), &StatKey::of(&meta), d);
        db.files_mut().get_mut("f").unwrap().4 += 10 * RACY_WINDOW_NS;
        assert_eq!(db.lookup("f", &StatKey::of(&meta)), Some(d));

        // Any stat change invalidates it.
        std::fs::write(&f, b"y").unwrap();
        assert_eq!(
            db.lookup("f", &StatKey::of(&std::fs::metadata(&f).unwrap())),
            None
        );
    }

    #[test]
    fn state_round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.bin");
        std::fs::write(&p, b"{not json").unwrap();
        let mut db = StateDb::load(&p);
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        db.record(
            "f".into(),
            &StatKey::of(&std::fs::metadata(&f).unwrap()),
            Digest::of_bytes(b"x"),
        );
        db.save().unwrap();
        let db2 = StateDb::load(&p);
        assert_eq!(db2.files().len(), 1);
    }
}
