//! `mlci push`, `fetch`, `pull` and `checkout` in a DVC repository used in
//! place: the objects DVC's files name (`.dvc` files and the cached outputs
//! of `dvc.lock`), moved between DVC's cache and a DVC remote in DVC's
//! layout (`files/md5/ab/cdef…[.dir]`, and DVC 2's `ab/cdef…` for entries
//! recorded with `md5-dos2unix`), each checked against its MD5 before it
//! is published on either side; then the workspace restored from the cache
//! as `dvc checkout` restores it.
//!
//! A directory's files travel before its `.dir` listing, as DVC sends
//! them, so a listing on the remote means its files are there too. The
//! transport is mlci's [`Remote`] (the same backends, credentials and
//! bounds); a directory remote is copied to in parallel on threads, a
//! network one with the remote's `jobs` requests in flight.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use md5::Digest;
use rayon::prelude::*;

use super::DvcError;
use crate::migrate::dvc_files::{md5_hex, object_keys, parse_dvc_file, under};
use crate::pipeline::Pipeline;
use crate::progress::Reporter;
use crate::remote::{Remote, RemoteError};

/// Up to this many keys are asked about one request each on a network
/// remote; beyond it, the remote's `files/md5/` is listed once.
const STAT_LIMIT: usize = 512;

/// Objects up to this size are moved in memory and written whole; bigger
/// ones stream through a temp file.
const SPILL: usize = 8 << 20;

/// One cached output DVC's files record.
#[derive(Debug, Clone)]
pub struct Out {
    /// Repo-relative path.
    pub path: String,
    /// The MD5 recorded, `….dir` for a directory.
    pub md5: String,
    /// Recorded with DVC 2's hash (its objects in DVC 2's layout).
    pub legacy: bool,
    /// False for DVC's `push: false`: never pushed, still pulled.
    pub push: bool,
}

impl Out {
    /// The MD5 without a listing's `.dir`.
    pub fn digest(&self) -> &str {
        self.md5.strip_suffix(".dir").unwrap_or(&self.md5)
    }

    /// A directory output (its object is a `.dir` listing).
    pub fn is_dir(&self) -> bool {
        self.md5.ends_with(".dir")
    }
}

/// One object: where it lives (relative to the cache and to the remote's
/// root) and the MD5 its bytes must have.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Object {
    key: String,
    md5: String,
}

impl Object {
    /// The object of an entry: DVC 3's key for `hash: md5` entries, DVC
    /// 2's for `md5-dos2unix` ones, as DVC 3 reads a cache (one layout per
    /// entry, no probing).
    fn new(md5: &str, dir: bool, legacy: bool) -> Object {
        let [new, old] = object_keys(md5, dir);
        Object {
            key: if legacy { old } else { new },
            md5: md5.to_string(),
        }
    }
}

/// Every cached output of `.dvc` files and of `pipeline`'s `dvc.lock`
/// entries under `root`, `targets` (paths, `.dvc` files, stage names; all
/// when empty) kept.
///
/// # Errors
/// A `.dvc` file or `dvc.lock` does not parse, or names a path outside the
/// repository ([`DvcError::File`]).
pub fn outs(root: &Path, pipeline: &Pipeline, targets: &[String]) -> Result<Vec<Out>, DvcError> {
    let mut pointers = Vec::new();
    for file in crate::migrate::dvc_files_in(root) {
        let text = fs_err::read_to_string(root.join(&file))?;
        pointers.push((file, text));
    }
    let lock = super::lock::load(root, pipeline)?;
    recorded(&pointers, &lock, pipeline, targets)
}

/// The cached outputs `pointers` (each `.dvc` file's path and text) and
/// `lock` (of `pipeline`'s stages) record, `targets` kept as in [`outs`]:
/// the same answer for the work tree and for a commit's files.
///
/// # Errors
/// As [`outs`].
pub fn recorded(
    pointers: &[(String, String)],
    lock: &super::lock::DvcLock,
    pipeline: &Pipeline,
    targets: &[String],
) -> Result<Vec<Out>, DvcError> {
    let mut out = Vec::new();
    for (file, text) in pointers {
        let file = file.clone();
        let parsed = parse_dvc_file(text, &file).map_err(|message| DvcError::File {
            file: file.clone(),
            message,
        })?;
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        for o in parsed.outs {
            let Some(md5) = o.md5.clone() else { continue };
            let path = under(dir, &o.path).ok_or_else(|| DvcError::File {
                file: file.clone(),
                message: format!("`{}` is outside the repository", o.path),
            })?;
            if selected(targets, &path, Some(&file), None) {
                out.push(Out {
                    path,
                    md5,
                    legacy: o.hash.as_deref() != Some("md5"),
                    push: true,
                });
            }
        }
    }
    for stage in &pipeline.stages {
        let Some(entry) = lock.lock.stages.get(&stage.name) else {
            continue;
        };
        for o in stage.outs.iter().filter(|o| o.cache) {
            let path = o.path.as_str();
            let Some(recorded) = entry.outs.iter().find(|e| e.path.as_str() == path) else {
                continue;
            };
            if selected(targets, path, None, Some(&stage.name)) {
                out.push(Out {
                    path: path.to_string(),
                    md5: recorded.sha256.clone(),
                    legacy: lock.legacy.contains(path),
                    push: o.push,
                });
            }
        }
    }
    for o in &out {
        let d = o.digest();
        if d.len() != 32 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DvcError::File {
                file: o.path.clone(),
                message: format!("`{}` is not an MD5", o.md5),
            });
        }
    }
    Ok(out)
}

/// Whether an output at `path` (of pointer `file` or stage `stage`) is one
/// of `targets`: the path, a directory above it, its `.dvc` file or its
/// stage.
fn selected(targets: &[String], path: &str, file: Option<&str>, stage: Option<&str>) -> bool {
    targets.is_empty()
        || targets.iter().any(|t| {
            let t = t.trim_end_matches('/');
            t == path || path.starts_with(&format!("{t}/")) || Some(t) == file || Some(t) == stage
        })
}

/// A directory listing's entries (path inside, MD5), read from DVC's JSON
/// and checked: each path stays inside its directory, each MD5 is one.
fn parse_listing(bytes: &[u8], what: &str) -> Result<Vec<(String, String)>, DvcError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        md5: String,
        relpath: String,
    }
    let bad = |message: String| DvcError::File {
        file: what.to_string(),
        message,
    };
    let entries: Vec<Entry> = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("not a DVC directory listing: {e}")))?;
    entries
        .into_iter()
        .map(|e| {
            let inner = under("", &e.relpath)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| bad(format!("entry `{}` leaves its directory", e.relpath)))?;
            if e.md5.len() != 32 || !e.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "entry `{}`: `{}` is not an MD5",
                    e.relpath, e.md5
                )));
            }
            Ok((inner, e.md5.to_ascii_lowercase()))
        })
        .collect()
}

/// The listing of directory output `o` from the cache at `cache` (path
/// inside, MD5); None when the cache lacks it.
///
/// # Errors
/// The listing is unreadable, damaged (its MD5 is not `o`'s) or not DVC's
/// JSON.
pub fn listing(cache: &Path, o: &Out) -> Result<Option<Vec<(String, String)>>, DvcError> {
    let obj = Object::new(o.digest(), true, o.legacy);
    let bytes = match fs_err::read(cache.join(&obj.key)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if md5_hex(&bytes) != o.digest() {
        return Err(DvcError::File {
            file: cache.join(&obj.key).display().to_string(),
            message: format!("the cache's listing of `{}` is damaged", o.path),
        });
    }
    parse_listing(&bytes, &o.path).map(Some)
}

/// The objects of `outs` the cache holds, files before listings, and the
/// paths of outputs with some object in neither the cache nor (for a
/// listing the cache lacks) anywhere mlci can read it.
fn local_objects(cache: &Path, outs: &[&Out]) -> Result<(Vec<Object>, Vec<String>), DvcError> {
    let mut files = BTreeSet::new();
    let mut listings = BTreeSet::new();
    let mut lost = BTreeSet::new();
    for o in outs {
        if !o.is_dir() {
            files.insert(Object::new(&o.md5, false, o.legacy));
            continue;
        }
        let Some(entries) = listing(cache, o)? else {
            lost.insert(o.path.clone());
            continue;
        };
        for (_, md5) in entries {
            files.insert(Object::new(&md5, false, o.legacy));
        }
        listings.insert(Object::new(o.digest(), true, o.legacy));
    }
    let mut objects = Vec::new();
    for obj in files.into_iter().chain(listings) {
        if cache.join(&obj.key).is_file() {
            objects.push(obj);
        } else {
            lost.insert(
                outs.iter()
                    .find(|o| o.digest() == obj.md5 || o.is_dir())
                    .map_or(obj.key.clone(), |o| o.path.clone()),
            );
        }
    }
    Ok((objects, lost.into_iter().collect()))
}

/// Runs `f` on every item, `remote.jobs` at a time: a network remote's
/// requests in flight on the runtime, a directory remote's file-system
/// work on threads (its I/O blocks, so it gains nothing from async). A
/// directory remote's futures never wait on the runtime, so each is
/// driven on its own thread by a plain executor: entering the runtime
/// from every thread for every small file cost more than the copy.
fn each<'a, T, R, F, Fut>(
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    items: &'a [T],
    f: F,
) -> Result<Vec<R>, RemoteError>
where
    T: Sync,
    R: Send,
    F: Fn(&'a T) -> Fut + Sync,
    Fut: std::future::Future<Output = Result<R, RemoteError>>,
{
    if remote.dir().is_some() {
        return crate::remote::dir::pool(remote.jobs).install(|| {
            items
                .par_iter()
                .map(|t| futures::executor::block_on(f(t)))
                .collect()
        });
    }
    rt.block_on(
        futures::stream::iter(items.iter().map(&f))
            .buffer_unordered(remote.jobs.max(1))
            .try_collect(),
    )
}

/// Whether the cache holds every object of `outs` (listings and the
/// files they name).
pub fn all_cached(cache: &Path, outs: &[Out]) -> Result<bool, DvcError> {
    let refs: Vec<&Out> = outs.iter().collect();
    Ok(local_objects(cache, &refs)?.1.is_empty())
}

/// Each of `outs` compared with `remote` itself (as `dvc status -c`
/// does): its objects (a directory's files and listing; a listing only on
/// the remote is fetched, checked, to count its files) counted by where
/// they are.
///
/// # Errors
/// The remote cannot be asked, or a listing is damaged.
pub fn compare(
    root: &Path,
    remote: &Remote,
    outs: &[Out],
    reporter: &dyn Reporter,
) -> Result<Vec<crate::sync::RemotePath>, DvcError> {
    use crate::sync::{RemotePath, RemoteState};
    let cache = super::config::cache_root(root);
    let rt = crate::remote::runtime()?;
    let listings: Vec<Object> = outs
        .iter()
        .filter(|o| o.is_dir())
        .map(|o| Object::new(o.digest(), true, o.legacy))
        .filter(|obj| !cache.join(&obj.key).is_file())
        .collect();
    // Listings the remote has and the cache lacks: small, checked.
    let absent_listings = remote_lacks(&rt, remote, &listings, reporter)?;
    let wanted: Vec<Object> = listings
        .into_iter()
        .filter(|l| !absent_listings.contains(&l.key))
        .collect();
    download(&rt, remote, &cache, &wanted, reporter)?;
    let mut per_out: Vec<(String, Vec<Object>, bool)> = Vec::new();
    for o in outs {
        let mut objs = Vec::new();
        let mut unknown = false;
        if o.is_dir() {
            match listing(&cache, o)? {
                Some(entries) => objs.extend(
                    entries
                        .iter()
                        .map(|(_, md5)| Object::new(md5, false, o.legacy)),
                ),
                None => unknown = true,
            }
            objs.push(Object::new(o.digest(), true, o.legacy));
        } else {
            objs.push(Object::new(&o.md5, false, o.legacy));
        }
        objs.sort();
        objs.dedup();
        per_out.push((o.path.clone(), objs, unknown));
    }
    let all: BTreeSet<Object> = per_out.iter().flat_map(|(_, v, _)| v.clone()).collect();
    let all: Vec<Object> = all.into_iter().collect();
    let absent = remote_lacks(&rt, remote, &all, reporter)?;
    Ok(per_out
        .into_iter()
        .map(|(path, objs, unknown)| {
            let mut p = RemotePath {
                path,
                state: RemoteState::Synced,
                objects: objs.len(),
                local_only: 0,
                remote_only: 0,
                missing: usize::from(unknown),
            };
            for obj in &objs {
                p.count(cache.join(&obj.key).is_file(), !absent.contains(&obj.key));
            }
            p.settle()
        })
        .collect())
}

/// Which of `objects` the remote lacks.
fn remote_lacks(
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    objects: &[Object],
    reporter: &dyn Reporter,
) -> Result<HashSet<String>, RemoteError> {
    if objects.len() > STAT_LIMIT && remote.dir().is_none() && remote.can_list() {
        reporter.start("querying remote", None);
        let mut prefixes: BTreeSet<&str> = BTreeSet::from(["files/md5/"]);
        // DVC 2's objects sit in two-digit shards at the root.
        prefixes.extend(
            objects
                .iter()
                .filter(|o| !o.key.starts_with("files/"))
                .map(|o| &o.key[..3]),
        );
        let mut present = HashSet::new();
        for p in prefixes {
            present.extend(rt.block_on(remote.list(p))?);
        }
        reporter.finish();
        return Ok(objects
            .iter()
            .filter(|o| !present.contains(&o.key))
            .map(|o| o.key.clone())
            .collect());
    }
    reporter.start("querying remote", Some(objects.len() as u64));
    let found = each(rt, remote, objects, |o| async move {
        let exists = remote.exists(&o.key).await?;
        reporter.inc(1);
        Ok((o, exists))
    })?;
    reporter.finish();
    Ok(found
        .into_iter()
        .filter(|(_, exists)| !exists)
        .map(|(o, _)| o.key.clone())
        .collect())
}

/// A checker of an object's bytes as they stream: refuses the write when
/// the bytes are not the object's.
fn md5_check<'a>(
    obj: &'a Object,
    refuse: impl Fn(String) -> RemoteError + 'a,
) -> impl FnMut(Option<&[u8]>) -> Result<(), RemoteError> + 'a {
    let mut hasher = Some(md5::Md5::new());
    move |chunk| {
        match (chunk, hasher.as_mut()) {
            (Some(bytes), Some(h)) => h.update(bytes),
            (None, Some(_)) => {
                let actual = hex::encode(hasher.take().expect("once").finalize());
                if actual != obj.md5 {
                    return Err(refuse(actual));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sends `objects` from the cache at `cache`, files before listings.
fn upload(
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    cache: &Path,
    objects: &[&Object],
    reporter: &dyn Reporter,
) -> Result<u64, RemoteError> {
    reporter.start_transfer("pushing", objects.len() as u64, 0);
    let mut bytes = 0u64;
    // Listings go last, after every file they name has landed.
    let (listings, files): (Vec<&Object>, Vec<&Object>) =
        objects.iter().partition(|o| o.key.ends_with(".dir"));
    for batch in [files, listings] {
        let sizes = each(rt, remote, &batch, |&obj| async move {
            let refuse = |actual: String| RemoteError::DamagedLocal {
                remote: remote.name.clone(),
                oid: obj.md5.clone(),
                actual,
            };
            let n = remote
                .write_file(&obj.key, &cache.join(&obj.key), md5_check(obj, refuse))
                .await?;
            reporter.transferred(1, n);
            Ok(n)
        })?;
        bytes += sizes.iter().sum::<u64>();
    }
    reporter.finish();
    Ok(bytes)
}

/// Directories held open while many files are created in them (a
/// cache's shards, a restored output's folders): one open each, not one
/// per file.
#[derive(Default)]
pub(super) struct Dirs(
    std::sync::Mutex<BTreeMap<PathBuf, std::sync::Arc<crate::store::whole::Dir>>>,
);

/// Refuses to write below `dir` when a directory between `root` and it is
/// a symbolic link: a pull request's `data -> /home/runner/.ssh` must not
/// turn a checkout into a write outside the workspace.
pub(super) fn refuse_linked(root: &Path, dir: &Path) -> Result<(), DvcError> {
    let inner = dir.strip_prefix(root).unwrap_or(dir);
    let mut at = root.to_path_buf();
    for part in inner.components() {
        at.push(part);
        match fs_err::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(DvcError::Linked {
                    path: inner_path(root, &at),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn inner_path(root: &Path, at: &Path) -> String {
    at.strip_prefix(root).unwrap_or(at).display().to_string()
}

impl Dirs {
    pub(super) fn get(
        &self,
        path: &Path,
    ) -> std::io::Result<std::sync::Arc<crate::store::whole::Dir>> {
        if let Some(d) = self.0.lock().expect("dirs lock").get(path) {
            return Ok(d.clone());
        }
        let d = std::sync::Arc::new(crate::store::whole::Dir::open_or_create(path)?);
        self.0
            .lock()
            .expect("dirs lock")
            .insert(path.to_path_buf(), d.clone());
        Ok(d)
    }
}

/// What a push or fetch moved.
#[derive(Debug, Default)]
pub struct Moved {
    pub objects: usize,
    pub bytes: u64,
    /// Objects the other side already had.
    pub already: usize,
    /// Outputs with objects in neither place.
    pub lost: Vec<String>,
    /// `push: false` outputs left out of a push.
    pub unpushed: Vec<String>,
}

/// Pushes the objects of `outs` the remote lacks (DVC's `dvc push`).
///
/// # Errors
/// The remote fails or refuses a write, or a cache object is damaged
/// ([`RemoteError::DamagedLocal`], nothing of it published).
pub fn push(
    repo_root: &Path,
    remote: &Remote,
    outs: &[Out],
    reporter: &dyn Reporter,
) -> Result<Moved, DvcError> {
    let cache = super::config::cache_root(repo_root);
    let (pushed, unpushed): (Vec<&Out>, Vec<&Out>) = outs.iter().partition(|o| o.push);
    let (objects, lost) = local_objects(&cache, &pushed)?;
    let rt = crate::remote::runtime()?;
    let lacks = remote_lacks(&rt, remote, &objects, reporter)?;
    let send: Vec<&Object> = objects.iter().filter(|o| lacks.contains(&o.key)).collect();
    let bytes = upload(&rt, remote, &cache, &send, reporter)?;
    let sent = send.len();
    Ok(Moved {
        objects: sent,
        bytes,
        already: objects.len() - sent,
        lost,
        unpushed: unpushed.iter().map(|o| o.path.clone()).collect(),
    })
}

/// Puts `bytes` into the cache at `cache` as `obj` when they are its (a
/// temp file beside, read-only as DVC leaves objects, renamed into place).
fn put_verified(cache: &Path, obj: &Object, file: tempfile::NamedTempFile) -> std::io::Result<()> {
    let dest = cache.join(&obj.key);
    let mut perm = file.as_file().metadata()?.permissions();
    perm.set_readonly(true);
    fs_err::set_permissions(file.path(), perm)?;
    file.persist(&dest).map_err(|e| e.error)?;
    Ok(())
}

/// Fetches `objects` into the cache; returns (fetched, bytes, keys the
/// remote lacks).
fn download(
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    cache: &Path,
    objects: &[Object],
    reporter: &dyn Reporter,
) -> Result<(usize, u64, Vec<String>), RemoteError> {
    reporter.start_transfer("fetching", objects.len() as u64, 0);
    let dirs = Dirs::default();
    let dirs = &dirs;
    let got = each(rt, remote, objects, |obj| async move {
        let dest = cache.join(&obj.key);
        let dir = dest.parent().expect("keys have a parent");
        // Held in memory up to a chunk, then spilled to a temp file.
        let mut held: Vec<u8> = Vec::new();
        let mut spill: Option<tempfile::NamedTempFile> = None;
        let mut hasher = md5::Md5::new();
        let found = remote
            .read_key_chunks(&obj.key, |chunk| {
                hasher.update(chunk);
                match spill.as_mut() {
                    Some(f) => std::io::Write::write_all(f, chunk),
                    None if held.len() + chunk.len() <= SPILL => {
                        held.extend_from_slice(chunk);
                        Ok(())
                    }
                    None => {
                        fs_err::create_dir_all(dir)?;
                        let mut f = tempfile::Builder::new().prefix(".mlci-").tempfile_in(dir)?;
                        std::io::Write::write_all(&mut f, &held)?;
                        std::io::Write::write_all(&mut f, chunk)?;
                        held = Vec::new();
                        spill = Some(f);
                        Ok(())
                    }
                }
            })
            .await?;
        if !found {
            reporter.transferred(1, 0);
            return Ok((obj, None));
        }
        let actual = hex::encode(hasher.finalize());
        if actual != obj.md5 {
            return Err(RemoteError::Corrupt {
                remote: remote.name.clone(),
                key: obj.key.clone(),
                actual,
            });
        }
        let size = match spill {
            Some(f) => {
                let size = f.as_file().metadata()?.len();
                put_verified(cache, obj, f)?;
                size
            }
            None => {
                let name = dest
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("keys are UTF-8");
                dirs.get(dir)?.create_whole(name, 0o444, &held, false)?;
                held.len() as u64
            }
        };
        reporter.transferred(1, size);
        Ok((obj, Some(size)))
    })?;
    reporter.finish();
    let (mut n, mut bytes, mut missing) = (0, 0u64, Vec::new());
    for (obj, size) in got {
        match size {
            Some(s) => {
                n += 1;
                bytes += s;
            }
            None => missing.push(obj.key.clone()),
        }
    }
    Ok((n, bytes, missing))
}

/// Fetches what `outs` need and the cache lacks (DVC's `dvc fetch`):
/// listings first, then the files they and the other outputs name.
///
/// # Errors
/// The remote fails, or sends an object whose bytes are not its MD5
/// ([`RemoteError::Corrupt`], nothing of it kept).
pub fn fetch(
    repo_root: &Path,
    remote: &Remote,
    outs: &[Out],
    reporter: &dyn Reporter,
) -> Result<Moved, DvcError> {
    let cache = super::config::cache_root(repo_root);
    let rt = crate::remote::runtime()?;
    let absent = |objs: Vec<Object>| -> Vec<Object> {
        let set: BTreeSet<Object> = objs.into_iter().collect();
        set.into_iter()
            .filter(|o| !cache.join(&o.key).is_file())
            .collect()
    };
    let mut moved = Moved::default();
    let listings = absent(
        outs.iter()
            .filter(|o| o.is_dir())
            .map(|o| Object::new(o.digest(), true, o.legacy))
            .collect(),
    );
    let (n, bytes, _) = download(&rt, remote, &cache, &listings, reporter)?;
    moved.objects += n;
    moved.bytes += bytes;
    let mut files = Vec::new();
    for o in outs {
        if !o.is_dir() {
            files.push(Object::new(&o.md5, false, o.legacy));
        } else if let Some(entries) = listing(&cache, o)? {
            files.extend(
                entries
                    .iter()
                    .map(|(_, md5)| Object::new(md5, false, o.legacy)),
            );
        }
    }
    let all = files.len();
    let files = absent(files);
    moved.already = all.saturating_sub(files.len());
    let (n, bytes, _) = download(&rt, remote, &cache, &files, reporter)?;
    moved.objects += n;
    moved.bytes += bytes;
    let refs: Vec<&Out> = outs.iter().collect();
    moved.lost = local_objects(&cache, &refs)?.1;
    Ok(moved)
}

/// Refuses outputs that would be restored through a symbolic link: the
/// folders above each output, and a directory output itself, must be real
/// directories of the workspace (checked before a pull fetches anything).
///
/// # Errors
/// [`DvcError::Linked`] naming the first link.
pub fn refuse_links(root: &Path, outs: &[Out]) -> Result<(), DvcError> {
    for o in outs {
        let at = root.join(&o.path);
        let top = if o.is_dir() {
            at.as_path()
        } else {
            at.parent().expect("inside the root")
        };
        refuse_linked(root, top)?;
    }
    Ok(())
}

/// What a checkout did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Files written into the workspace.
    pub files: usize,
    /// Files of a directory output its listing does not name, removed
    /// (their bytes are in the cache).
    pub removed: usize,
    /// Outputs (or files of them) the cache lacks: left as they are.
    pub absent: Vec<String>,
    /// Workspace files that differ from the record and whose bytes are not
    /// in the cache: kept, never overwritten (`dvc checkout --force` or
    /// `mlci add` first).
    pub kept: Vec<String>,
}

/// Restores `outs` in the workspace from the cache, as `dvc checkout`:
/// a missing or different file is written from its object, a file a
/// directory's listing does not name is removed; a file whose present
/// bytes exist nowhere else is never overwritten or removed.
///
/// # Errors
/// A listing in the cache is damaged, or writing the workspace fails.
pub fn checkout(
    root: &Path,
    outs: &[Out],
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<Restored, DvcError> {
    use crate::pipeline::status::Contents;
    let cache = super::config::cache_root(root);
    let legacy: BTreeSet<String> = outs
        .iter()
        .filter(|o| o.legacy)
        .map(|o| o.path.clone())
        .collect();
    let mut contents = super::contents::Md5Contents::open(root, legacy);
    let mut writes: Vec<(PathBuf, Object)> = Vec::new();
    let mut done = Restored::default();
    refuse_links(root, outs)?;
    for o in outs {
        let current = match contents.content(&o.path, reporter) {
            Ok(c) => Some(c.id),
            Err(crate::track::TrackError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if current.as_deref() == Some(o.md5.as_str()) {
            continue;
        }
        if !o.is_dir() {
            let obj = Object::new(&o.md5, false, o.legacy);
            match (cache.join(&obj.key).is_file(), &current) {
                (false, _) => done.absent.push(o.path.clone()),
                (true, Some(now)) if !super::status::in_cache(&cache, now) => {
                    done.kept.push(o.path.clone())
                }
                (true, _) => writes.push((root.join(&o.path), obj)),
            }
            continue;
        }
        let Some(entries) = listing(&cache, o)? else {
            done.absent.push(o.path.clone());
            continue;
        };
        let present: BTreeMap<String, String> = if root.join(&o.path).is_dir() {
            contents
                .files_of(&o.path)?
                .into_iter()
                .map(|(inner, _, md5, _)| (inner, md5))
                .collect()
        } else {
            BTreeMap::new()
        };
        // Files the listing does not name go, as `dvc checkout` removes
        // them, when their bytes are in the cache; any other is kept and
        // named (DVC refuses the whole checkout without `--force`).
        let named: BTreeSet<&str> = entries.iter().map(|(inner, _)| inner.as_str()).collect();
        for (inner, md5) in present.iter().filter(|(i, _)| !named.contains(i.as_str())) {
            let shown = format!("{}/{inner}", o.path);
            if super::status::in_cache(&cache, md5) {
                refuse_linked(root, root.join(&shown).parent().expect("inside the root"))?;
                fs_err::remove_file(root.join(&shown))?;
                done.removed += 1;
            } else {
                done.kept.push(shown);
            }
        }
        for (inner, md5) in entries {
            let now = present.get(&inner);
            if now == Some(&md5) {
                continue;
            }
            let obj = Object::new(&md5, false, o.legacy);
            let shown = format!("{}/{inner}", o.path);
            match (cache.join(&obj.key).is_file(), now) {
                (false, _) => done.absent.push(shown),
                (true, Some(now)) if !super::status::in_cache(&cache, now) => done.kept.push(shown),
                (true, _) => writes.push((root.join(&o.path).join(&inner), obj)),
            }
        }
    }
    // Small files: as many in flight as a transfer has.
    let parents: BTreeSet<&Path> = writes
        .iter()
        .map(|(dest, _)| dest.parent().expect("outputs are inside the root"))
        .collect();
    for dir in parents {
        refuse_linked(root, dir)?;
    }
    let dirs = Dirs::default();
    crate::remote::dir::pool(jobs).install(|| {
        writes
            .par_iter()
            .map(|(dest, obj)| restore(&cache.join(&obj.key), dest, &dirs))
            .collect::<Result<Vec<()>, std::io::Error>>()
    })?;
    done.files = writes.len();
    contents.forget();
    Ok(done)
}

/// Writes the object at `src` to `dest` whole: a small one read and
/// written as a file whose name appears with its content, a big one
/// reflinked or copied beside and renamed over; writable, as DVC's copies
/// are.
fn restore(src: &Path, dest: &Path, dirs: &Dirs) -> std::io::Result<()> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = dest.parent().expect("outputs are inside the root");
    let name = dest.file_name().and_then(|n| n.to_str());
    let mut file = fs_err::File::open(src)?;
    let len = file.metadata()?.len();
    if let (true, Some(name), Ok(d)) = (len < SPILL as u64, name, dirs.get(dir)) {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        // A directory in the way is the big path's to remove.
        if d.create_whole(name, 0o644, &bytes, true).is_ok() {
            return Ok(());
        }
    }
    if let Ok(meta) = dir.symlink_metadata() {
        if !meta.is_dir() {
            fs_err::remove_file(dir)?;
        }
    }
    fs_err::create_dir_all(dir)?;
    // A name nothing holds yet: a reflink needs its target absent.
    let tmp = dir.join(format!(
        ".mlci-{}-{}.tmp",
        crate::fsutil::pid(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let written = reflink_copy::reflink_or_copy(src, &tmp)
        .map_err(|e| crate::fsutil::with_path(e, src))
        .and_then(|_| fs_err::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)))
        .and_then(|()| {
            if dest.is_dir() {
                fs_err::remove_dir_all(dest)?;
            }
            fs_err::rename(&tmp, dest)
        });
    if written.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    written
}
