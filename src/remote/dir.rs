//! Local directory remotes: another cache on a mounted disk (a NAS, a
//! shared volume), moved with the cache's own code in parallel (rayon):
//! temp file + atomic rename, reflink where the file systems allow, no
//! per-object fsync. Downloads are verified like any remote's.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::store::cache::{Cache, Oid, SMALL_FILE};
use crate::store::state::{ObjectMemo, StatKey};

use super::known::Known;
use super::transfer::{Summary, Transfer, Want};
use super::{Remote, RemoteError, RUNS_PREFIX};

/// Files below `root/prefix`, as keys relative to `root`.
pub fn list(root: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let base = root.join(prefix);
    let mut stack = vec![base];
    while let Some(dir) = stack.pop() {
        let rd = match fs_err::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::fsutil::with_path(e, &dir)),
        };
        for e in rd {
            let e = e?;
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue; // temp files being written
            }
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if let Ok(rel) = e.path().strip_prefix(root) {
                out.push(crate::fsutil::to_slash(rel));
            }
        }
    }
    Ok(out)
}

/// A pool as wide as the transfer concurrency asked for.
pub(crate) fn pool(jobs: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, 32))
        .build()
        .expect("a thread pool")
}

pub fn missing(dir: &Cache, keys: &[String], jobs: usize) -> HashSet<String> {
    let absent = |k: &&String| dir.root().join(k).symlink_metadata().is_err();
    if keys.len() < 1024 {
        // A pool costs more than a few stats.
        return keys.iter().filter(absent).cloned().collect();
    }
    pool(jobs).install(|| {
        keys.par_iter()
            .filter(|k| dir.root().join(k).symlink_metadata().is_err())
            .cloned()
            .collect()
    })
}

/// Copies `keys` from the local cache into the directory remote `dir`.
pub fn upload(
    t: &Transfer<'_>,
    dir: &Cache,
    keys: &[String],
    memo: ObjectMemo<'_>,
    known: &mut Known,
) -> Result<Summary, RemoteError> {
    let Transfer {
        remote,
        cache,
        jobs,
        reporter,
    } = *t;
    let done: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::with_capacity(keys.len()));
    let result = pool(jobs).install(|| {
        keys.par_iter().try_for_each(|key| {
            let src = cache.root().join(key);
            let size = if key.starts_with(RUNS_PREFIX) {
                let bytes = fs_err::read(&src)?;
                let dest = dir.root().join(key);
                let parent = dest.parent().expect("keys have a parent");
                fs_err::create_dir_all(parent)
                    .map_err(|e| remote.dir_error("uploading", key, e))?;
                crate::fsutil::write_atomic_nosync(&dest, &bytes)
                    .map_err(|e| remote.dir_error("uploading", key, e))?;
                bytes.len() as u64
            } else {
                export_checked(remote, dir, &src, &oid_of(key), memo)?
            };
            reporter.transferred(1, size);
            done.lock().expect("done lock").push((key, size));
            Ok::<(), RemoteError>(())
        })
    });
    let mut summary = Summary::default();
    for (key, size) in done.into_inner().expect("done lock") {
        known.insert(key);
        summary.objects += 1;
        summary.bytes += size;
    }
    result.map(|()| summary)
}

/// Copies one cache object into the directory remote only if its bytes are
/// the object's: a copy the state vouches for (hashed whole by mlci with
/// this very stat) is reflinked as it is; any other is hashed as it is
/// copied, and a damaged one is refused before it is published.
fn export_checked(
    remote: &Remote,
    dir: &Cache,
    src: &Path,
    oid: &Oid,
    memo: ObjectMemo<'_>,
) -> Result<u64, RemoteError> {
    let key = oid.rel_path();
    let fail = |e: io::Error| remote.dir_error("uploading", &key, e);
    if dir.contains(oid) {
        return Ok(0);
    }
    let file = fs_err::File::open(src)?;
    let meta = file
        .metadata()
        .map_err(|e| crate::fsutil::with_path(e, src))?;
    let damaged = |actual: crate::store::hash::Digest| RemoteError::DamagedLocal {
        remote: remote.name.clone(),
        oid: oid.to_string(),
        actual: actual.to_hex(),
    };
    if meta.len() > SMALL_FILE && memo.vouches(&oid.digest, &StatKey::of(&meta)) {
        return dir.import_trusted(src, oid).map_err(fail);
    }
    if meta.len() <= SMALL_FILE {
        let bytes = crate::store::copy::read_all(file, meta.len()).map_err(fail)?;
        let actual = crate::store::hash::Digest::of_bytes(&bytes);
        if actual != oid.digest {
            return Err(damaged(actual));
        }
        dir.put_bytes(oid, &bytes).map_err(fail)?;
        return Ok(meta.len());
    }
    dir.ingest_checked(file.file(), oid)
        .map_err(fail)?
        .map_err(damaged)?;
    Ok(meta.len())
}

/// Copies `wants` from the directory remote into the local cache,
/// verifying every object's hash.
pub fn download(
    t: &Transfer<'_>,
    dir: &Cache,
    wants: &[Want],
    known: &mut Known,
) -> Result<Summary, RemoteError> {
    let Transfer {
        remote,
        cache,
        jobs,
        reporter,
    } = *t;
    let done: Mutex<Vec<(&str, Option<u64>)>> = Mutex::new(Vec::with_capacity(wants.len()));
    let result = pool(jobs).install(|| {
        wants.par_iter().try_for_each(|want| {
            let got = fetch_one(remote, dir, cache, want)?;
            reporter.transferred(1, got.unwrap_or(0));
            done.lock().expect("done lock").push((&want.key, got));
            Ok::<(), RemoteError>(())
        })
    });
    let mut summary = Summary::default();
    for (key, got) in done.into_inner().expect("done lock") {
        match got {
            Some(size) => {
                known.insert(key);
                summary.objects += 1;
                summary.bytes += size;
            }
            None => {
                known.remove(key);
                summary.missing.push(key.to_string());
            }
        }
    }
    summary.missing.sort();
    result.map(|()| summary)
}

fn fetch_one(
    remote: &Remote,
    dir: &Cache,
    cache: &Cache,
    want: &Want,
) -> Result<Option<u64>, RemoteError> {
    let key = &want.key;
    let src = dir.root().join(key);
    let fail = |e: io::Error| remote.dir_error("downloading", key, e);
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let file = match std::fs::File::open(&src) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let size = file.metadata().map_err(fail)?.len();
    let Some(oid) = want.oid else {
        let bytes = crate::store::copy::read_all(file, size).map_err(fail)?;
        if !crate::pipeline::runcache::is_record(&bytes) {
            // Not kept, reported by the caller as a rejected record.
            return Ok(None);
        }
        let dest = cache.root().join(key);
        fs_err::create_dir_all(dest.parent().expect("keys have a parent"))?;
        crate::fsutil::write_atomic_nosync(&dest, &bytes)?;
        return Ok(Some(bytes.len() as u64));
    };
    let corrupt = |actual: crate::store::hash::Digest| RemoteError::Corrupt {
        remote: remote.name.clone(),
        key: key.clone(),
        actual: actual.to_hex(),
    };
    if size <= SMALL_FILE {
        let bytes = crate::store::copy::read_all(file, size).map_err(fail)?;
        cache.put_checked(&oid, &bytes)?.map_err(corrupt)?;
        return Ok(Some(size));
    }
    cache.ingest_checked(&file, &oid)?.map_err(corrupt)?;
    Ok(Some(size))
}

/// The object a `sha256/ab/cdef…[.dir]` key names (keys come from the
/// local cache's own listing, so they are well-formed).
fn oid_of(key: &str) -> Oid {
    let rest = key.strip_prefix(super::OBJECTS_PREFIX).unwrap_or(key);
    rest.replacen('/', "", 1)
        .parse()
        .expect("object keys name objects")
}
