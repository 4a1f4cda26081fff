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
//! The same stat rule spares checkout from hashing every cache object it
//! copies out: once mlci has hashed an object and found it whole, it keeps
//! the object's stat, and an object whose stat is unchanged since (and was
//! not racy then) is copied without hashing it again. Cache objects are
//! read-only; any write to one, even after a `chmod`, even one that puts
//! its mtime back, moves its ctime, which user space cannot set. Damage
//! below the file system (a failing disk) is out of reach of any stat:
//! deleting `state-objects.bin` makes the next checkout hash every object.
//!
//! The per-file records live in `.mlci/tmp/state.bin`, the object records
//! in `state-objects.bin`, the per-directory memos in `state-dirs.bin`
//! (postcard: binary loads several times faster than JSON). The per-file
//! and per-object records are loaded only when a lookup needs them, so a
//! no-op `status` whose fingerprints all match never decodes them. All are
//! rebuilt from nothing when missing or unreadable, and are written
//! atomically but without fsync: they are caches, losing them costs only
//! time.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use rustc_hash::FxHashMap as HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::hash::Digest;

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

/// A cache object's stat when mlci last hashed it and found it whole:
/// `(ino, size, mtime_ns, ctime_ns, recorded_ns)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectRecord(u64, u64, i64, i64, i64);

type Files = HashMap<String, Record>;
type Objects = HashMap<[u8; 32], ObjectRecord>;

#[derive(Serialize, Deserialize, Default)]
struct OnDisk<T> {
    version: u32,
    body: T,
}

/// The per-directory memos: complete manifests, and listings.
type Dirs = (HashSet<[u8; 32]>, HashMap<String, Listing>);

/// A tracked directory's listing fingerprint and the manifest hash it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Listing(Fingerprint, [u8; 32]);

/// An order-independent digest of a directory listing's names and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub u64, pub u64, pub u64);

const VERSION: u32 = 3;

pub struct StateDb {
    dirs_path: PathBuf,
    files: Lazy<Files>,
    objects: Lazy<Objects>,
    complete_dirs: HashSet<[u8; 32]>,
    listings: HashMap<String, Listing>,
    files_dirty: bool,
    objects_dirty: bool,
    dirs_dirty: bool,
}

/// A part of the state kept in its own file, decoded only when first used
/// (see the module doc), or early on another thread.
struct Lazy<T> {
    path: PathBuf,
    value: OnceLock<T>,
    /// A load started by [`Lazy::prefetch`].
    early: Mutex<Option<JoinHandle<T>>>,
}

impl<T: DeserializeOwned + Default + Send + 'static> Lazy<T> {
    fn new(path: PathBuf) -> Lazy<T> {
        Lazy {
            path,
            value: OnceLock::new(),
            early: Mutex::new(None),
        }
    }

    fn get(&self) -> &T {
        self.value.get_or_init(|| {
            let early = self.early.lock().ok().and_then(|mut e| e.take());
            early
                .and_then(|h| h.join().ok())
                .unwrap_or_else(|| load(&self.path))
        })
    }

    fn get_mut(&mut self) -> &mut T {
        self.get();
        self.value.get_mut().expect("loaded just above")
    }

    fn prefetch(&self) {
        if self.value.get().is_some() {
            return;
        }
        if let Ok(mut early) = self.early.lock() {
            if early.is_none() {
                let path = self.path.clone();
                *early = Some(std::thread::spawn(move || load(&path)));
            }
        }
    }
}

/// Decodes a state file; an unreadable or other-version one counts as empty.
fn load<T: DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| postcard::from_bytes::<OnDisk<T>>(&b).ok())
        .filter(|d| d.version == VERSION)
        .map(|d| d.body)
        .unwrap_or_default()
}

/// Encodes a state file and replaces the old one whole (no fsync: a cache).
fn store<T: Serialize>(path: &Path, body: &T) -> std::io::Result<()> {
    let disk = OnDisk {
        version: VERSION,
        body,
    };
    let bytes = postcard::to_stdvec(&disk).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic_nosync(path, &bytes)
}

impl StateDb {
    /// Opens the state at `path` (per-file records) and its sibling
    /// `state-dirs.bin`, or starts empty when they are missing or unreadable.
    pub fn load(path: &Path) -> StateDb {
        let dirs_path = path.with_file_name("state-dirs.bin");
        let (complete_dirs, listings): Dirs = load(&dirs_path);
        StateDb {
            dirs_path,
            files: Lazy::new(path.to_path_buf()),
            objects: Lazy::new(path.with_file_name("state-objects.bin")),
            complete_dirs,
            listings,
            files_dirty: false,
            objects_dirty: false,
            dirs_dirty: false,
        }
    }

    fn files(&self) -> &Files {
        self.files.get()
    }

    /// Starts loading the per-file and per-object records on other
    /// threads, for a command that will need them after serial work of its
    /// own (checkout parses manifests first): the loads then cost no wall
    /// time.
    pub fn prefetch(&self) {
        self.files.prefetch();
        self.objects.prefetch();
    }

    fn files_mut(&mut self) -> &mut Files {
        self.files.get_mut()
    }

    /// What is known of cache objects hashed before, for deciding whether
    /// an object must be hashed again before it is used.
    pub fn objects(&self) -> ObjectMemo<'_> {
        ObjectMemo(self.objects.get())
    }

    /// Records that the cache object `digest`, as `key` saw it just now,
    /// was hashed and found whole.
    pub fn record_object(&mut self, digest: &Digest, key: &StatKey) {
        let new = ObjectRecord(key.ino, key.size, key.mtime_ns, key.ctime_ns, now_ns());
        self.objects.get_mut().insert(digest.0, new);
        self.objects_dirty = true;
    }

    /// Forgets the records of deleted objects. (A stale record would be
    /// harmless, as an object added again has another ctime, but would
    /// take space for ever.)
    pub fn forget_objects<'d>(&mut self, deleted: impl Iterator<Item = &'d Digest>) {
        let objects = self.objects.get_mut();
        for d in deleted {
            self.objects_dirty |= objects.remove(&d.0).is_some();
        }
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

    /// Records that the file, as `key` saw it just now, hashes to `digest`.
    pub fn record(&mut self, rel: String, key: &StatKey, digest: Digest) {
        self.record_at(rel, key, digest, now_ns());
    }

    /// [`StateDb::record`] for many files seen just now (one clock read,
    /// one table growth).
    pub fn record_all(
        &mut self,
        records: impl ExactSizeIterator<Item = (String, StatKey, Digest)>,
    ) {
        let now = now_ns();
        self.files_mut().reserve(records.len());
        for (rel, key, digest) in records {
            self.record_at(rel, &key, digest, now);
        }
    }

    fn record_at(&mut self, rel: String, key: &StatKey, digest: Digest, now: i64) {
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
        if !self.files_dirty && !self.objects_dirty && !self.dirs_dirty {
            return Ok(());
        }
        if let Some(parent) = self.dirs_path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if self.files_dirty {
            store(&self.files.path, self.files.get())?;
            self.files_dirty = false;
        }
        if self.objects_dirty {
            store(&self.objects.path, self.objects.get())?;
            self.objects_dirty = false;
        }
        if self.dirs_dirty {
            store(&self.dirs_path, &(&self.complete_dirs, &self.listings))?;
            self.dirs_dirty = false;
        }
        Ok(())
    }
}

/// A read-only view of the object records, shareable across threads.
#[derive(Clone, Copy)]
pub struct ObjectMemo<'a>(&'a Objects);

impl ObjectMemo<'_> {
    /// No records: every object is hashed (for callers without a state).
    pub fn none() -> ObjectMemo<'static> {
        static EMPTY: OnceLock<Objects> = OnceLock::new();
        ObjectMemo(EMPTY.get_or_init(Objects::default))
    }

    /// True when the object `digest`, whose file has stat `key` now, was
    /// hashed whole by mlci with this very stat, outside the racy window.
    /// Any write to the file, even one that restores its mtime, moves its
    /// ctime, which user space cannot set back.
    pub fn vouches(&self, digest: &Digest, key: &StatKey) -> bool {
        self.0.get(&digest.0).is_some_and(|r| {
            (r.0, r.1, r.2, r.3) == (key.ino, key.size, key.mtime_ns, key.ctime_ns)
                && !is_racy(key, r.4)
        })
    }
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
    fn an_object_is_vouched_for_only_by_its_own_settled_stat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.bin");
        let obj = dir.path().join("obj");
        std::fs::write(&obj, b"x").unwrap();
        let key = StatKey::of(&std::fs::metadata(&obj).unwrap());
        let d = Digest::of_bytes(b"x");
        let mut db = StateDb::load(&p);
        assert!(!db.objects().vouches(&d, &key), "nothing recorded yet");
        db.record_object(&d, &key);
        // The object was written moments before its record: racy.
        assert!(!db.objects().vouches(&d, &key));
        db.objects.get_mut().get_mut(&d.0).unwrap().4 += 10 * RACY_WINDOW_NS;
        assert!(db.objects().vouches(&d, &key));
        assert!(!db.objects().vouches(&Digest::of_bytes(b"y"), &key));
        for changed in [
            StatKey {
                ino: key.ino + 1,
                ..key
            },
            StatKey { size: 2, ..key },
            StatKey {
                mtime_ns: key.mtime_ns - 1,
                ..key
            },
            StatKey {
                ctime_ns: key.ctime_ns + 1,
                ..key
            },
        ] {
            assert!(!db.objects().vouches(&d, &changed), "{changed:?}");
        }
        db.save().unwrap();
        let mut db = StateDb::load(&p);
        assert!(db.objects().vouches(&d, &key), "kept across a save");
        db.forget_objects([d].iter());
        db.save().unwrap();
        assert!(!StateDb::load(&p).objects().vouches(&d, &key));
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
