//! Moving sets of objects between the local cache and a remote.
//!
//! Keys are the same on both sides (`sha256/ab/cdef…`, `runs/ab/cdef…`), so
//! a key is also the object's path below the local cache root. Transfers run
//! `jobs` at a time in one task (`buffer_unordered`), small objects in one
//! request each, big ones streamed in chunks with several parts in flight,
//! so memory stays bounded whatever the sizes. The first error stops new
//! work; what finished before it is kept (and recorded), so a rerun resumes.
//!
//! The futures run on the thread that blocks on them, not on the runtime's
//! workers, so the local file reads and writes here may block briefly
//! without stalling the connections the workers drive.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use opendal::ErrorKind;

use crate::progress::Reporter;
use crate::store::cache::{Cache, Oid, SMALL_FILE};

use super::known::Known;
use super::{Remote, RemoteError, OBJECTS_PREFIX, RUNS_PREFIX};

/// Part size of multipart uploads and ranged downloads.
const CHUNK: usize = 16 << 20;
/// Parts in flight per big object.
const PARTS_IN_FLIGHT: usize = 4;
/// Up to this many keys are checked one request each; beyond it, listing
/// the remote may be cheaper (see [`missing`]).
const STAT_LIMIT: usize = 512;

/// What every transfer between the local cache and one remote shares: the
/// remote, the cache, how many objects are in flight at once, and where
/// progress goes. Built once per command from its resolved settings.
#[derive(Clone, Copy)]
pub struct Transfer<'a> {
    pub remote: &'a Remote,
    pub cache: &'a Cache,
    /// Objects in flight at once (the remote's `jobs`, else `core.jobs`, or
    /// `-j`).
    pub jobs: usize,
    pub reporter: &'a dyn Reporter,
}

/// The object key of a cache object.
pub fn object_key(oid: &Oid) -> String {
    oid.rel_path()
}

/// What a transfer did.
#[derive(Debug, Default)]
pub struct Summary {
    pub objects: usize,
    pub bytes: u64,
    /// Keys the source did not have (download: not on the remote).
    pub missing: Vec<String>,
}

/// Which of `keys` the remote lacks, asked of the remote itself.
///
/// A few keys cost one existence check each. For many keys, one shard of
/// the remote is listed to estimate its size: when listing everything
/// takes fewer requests than checking each key (a listing page holds about
/// 1,000 keys), the remote is listed instead, shard by shard in parallel
/// when it is big.
pub async fn missing(
    remote: &Remote,
    keys: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<HashSet<String>, RemoteError> {
    if let Some(dir) = remote.dir() {
        return Ok(super::dir::missing(dir, keys, jobs));
    }
    if keys.len() <= STAT_LIMIT || !remote.can_list() {
        return missing_by_stat(remote, keys, jobs, reporter).await;
    }
    let sample = remote.list(&format!("{OBJECTS_PREFIX}00/")).await?;
    let estimate = sample.len() * 256;
    if estimate / 1000 > keys.len() {
        return missing_by_stat(remote, keys, jobs, reporter).await;
    }
    reporter.start("querying remote", None);
    let mut present: HashSet<String> = HashSet::new();
    if estimate > 20_000 {
        let shards: Vec<String> = (0..256)
            .map(|i| format!("{OBJECTS_PREFIX}{i:02x}/"))
            .collect();
        let mut lists = futures::stream::iter(shards.iter().map(|s| remote.list(s)))
            .buffer_unordered(jobs.max(1));
        while let Some(list) = lists.try_next().await? {
            present.extend(list);
        }
    } else {
        present.extend(remote.list(OBJECTS_PREFIX).await?);
    }
    if keys.iter().any(|k| k.starts_with(RUNS_PREFIX)) {
        present.extend(remote.list(RUNS_PREFIX).await?);
    }
    reporter.finish();
    Ok(keys
        .iter()
        .filter(|k| !present.contains(k.as_str()))
        .cloned()
        .collect())
}

async fn missing_by_stat(
    remote: &Remote,
    keys: &[String],
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<HashSet<String>, RemoteError> {
    reporter.start("querying remote", Some(keys.len() as u64));
    let mut checks = futures::stream::iter(keys.iter().map(|k| async move {
        let exists = remote.exists(k).await?;
        Ok::<_, RemoteError>((k, exists))
    }))
    .buffer_unordered(jobs.max(1));
    let mut out = HashSet::new();
    while let Some((k, exists)) = checks.try_next().await? {
        reporter.inc(1);
        if !exists {
            out.insert(k.clone());
        }
    }
    reporter.finish();
    Ok(out)
}

/// Uploads `keys` from the local cache. Each one lands whole or not at all:
/// object stores publish a finished upload atomically, and on file servers
/// the bytes go to a temp name first and are renamed into place.
///
/// No object leaves unverified: each is hashed as it is read (or vouched for
/// by `memo`, a stat record made when mlci hashed it, on directory remotes),
/// and one whose bytes are not its name's is refused with
/// [`RemoteError::DamagedLocal`] before the remote publishes it.
pub async fn upload(
    t: &Transfer<'_>,
    keys: &[String],
    memo: crate::store::state::ObjectMemo<'_>,
    known: &mut Known,
) -> Result<Summary, RemoteError> {
    let Transfer {
        remote,
        cache,
        jobs,
        reporter,
    } = *t;
    if remote.read_only() {
        return Err(RemoteError::ReadOnly {
            remote: remote.name.clone(),
            url: remote.url.clone(),
        });
    }
    // One stat per object, for the progress total and the upload itself.
    let sized: Vec<(&str, u64)> = keys
        .iter()
        .map(|k| {
            let path = cache.root().join(k);
            let len = fs_err::metadata(&path)?.len();
            Ok::<_, RemoteError>((k.as_str(), len))
        })
        .collect::<Result<_, _>>()?;
    let total: u64 = sized.iter().map(|(_, n)| n).sum();
    reporter.start_transfer("pushing", keys.len() as u64, total);
    if let Some(dir) = remote.dir() {
        let s = super::dir::upload(t, dir, keys, memo, known);
        reporter.finish();
        return s;
    }
    let counter = AtomicU64::new(0);
    let mut puts = futures::stream::iter(
        sized
            .iter()
            .map(|&(k, size)| upload_one(remote, cache.root(), k, size, &counter, reporter)),
    )
    .buffer_unordered(jobs.max(1));
    let mut summary = Summary::default();
    let mut result = Ok(());
    while let Some(done) = puts.next().await {
        match done {
            Ok((key, size, reported)) => {
                known.insert(key);
                summary.objects += 1;
                summary.bytes += size;
                reporter.transferred(1, size - reported);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    reporter.finish();
    result.map(|()| summary)
}

async fn upload_one<'k>(
    remote: &Remote,
    cache_root: &Path,
    key: &'k str,
    size: u64,
    counter: &AtomicU64,
    reporter: &dyn crate::progress::Reporter,
) -> Result<(&'k str, u64, u64), RemoteError> {
    // Bytes already shown on the progress bar (a multipart upload's parts
    // as they are handed over), so a large object moves the bar as it goes.
    let mut reported = 0u64;
    let path = cache_root.join(key);
    // Run records are not content-addressed; objects are checked against
    // their name before the remote publishes them.
    let oid: Option<Oid> = key
        .strip_prefix(OBJECTS_PREFIX)
        .and_then(|rest| rest.replacen('/', "", 1).parse().ok());
    let damaged = |actual: crate::store::hash::Digest, oid: &Oid| RemoteError::DamagedLocal {
        remote: remote.name.clone(),
        oid: oid.to_string(),
        actual: actual.to_hex(),
    };
    let target = if remote.backend.needs_rename() {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        format!("tmp/{}-{n}.part", crate::fsutil::pid())
    } else {
        key.to_string()
    };
    let op = remote.op();
    if size <= SMALL_FILE || !remote.multipart() {
        // One request. Services without multipart writes (WebDAV takes a
        // single PUT) get big objects this way too, held in memory while
        // they upload: the one place memory grows with object size.
        let bytes = crate::store::copy::read_small(&path, size)?;
        if let Some(oid) = &oid {
            let actual = crate::store::hash::Digest::of_bytes(&bytes);
            if actual != oid.digest {
                return Err(damaged(actual, oid));
            }
        }
        op.write(&target, bytes)
            .await
            .map_err(|e| remote.error("uploading", key, e))?;
    } else {
        let mut writer = op
            .writer_with(&target)
            .chunk(CHUNK)
            .concurrent(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| remote.error("uploading", key, e))?;
        let mut file = fs_err::File::open(&path)?;
        let mut hasher = crate::store::hash::Hasher::new();
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = crate::store::copy::read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            hasher.update(&buf);
            if let Err(e) = writer.write(buf).await {
                let _ = writer.abort().await;
                return Err(remote.error("uploading", key, e));
            }
            reporter.transferred(0, n as u64);
            reported += n as u64;
        }
        // Checked before `close`, which is what publishes the object.
        let actual = hasher.finish();
        if let Some(oid) = oid.filter(|o| o.digest != actual) {
            let _ = writer.abort().await;
            return Err(damaged(actual, &oid));
        }
        writer
            .close()
            .await
            .map_err(|e| remote.error("uploading", key, e))?;
    }
    if target != key {
        if let Err(e) = op.rename(&target, key).await {
            let _ = op.delete(&target).await;
            return Err(remote.error("uploading", key, e));
        }
    }
    Ok((key, size, reported))
}

/// One thing to download: its key, and its size when a pointer or
/// manifest says it (big objects are streamed; unknown sizes are read
/// whole, which is right for manifests and run records).
#[derive(Debug, Clone)]
pub struct Want {
    pub key: String,
    pub oid: Option<Oid>,
    pub size: Option<u64>,
}

impl Want {
    pub fn object(oid: Oid, size: Option<u64>) -> Want {
        Want {
            key: object_key(&oid),
            oid: Some(oid),
            size,
        }
    }
    /// A run record, named by its key digest: the remote's listing never
    /// becomes a local path itself.
    pub fn record(digest: &crate::store::hash::Digest) -> Want {
        Want {
            key: crate::pipeline::runcache::record_key(digest),
            oid: None,
            size: None,
        }
    }
}

/// Downloads `wants` into the local cache, verifying each object's hash
/// before it enters the cache. Keys the remote lacks are returned in
/// `missing`; a corrupt object is an error naming it and the remote.
pub async fn download(
    t: &Transfer<'_>,
    wants: &[Want],
    known: &mut Known,
) -> Result<Summary, RemoteError> {
    let Transfer {
        remote,
        cache,
        jobs,
        reporter,
    } = *t;
    let total: u64 = wants.iter().filter_map(|w| w.size).sum();
    reporter.start_transfer("fetching", wants.len() as u64, total);
    if let Some(dir) = remote.dir() {
        let s = super::dir::download(t, dir, wants, known);
        reporter.finish();
        return s;
    }
    let mut gets = futures::stream::iter(
        wants
            .iter()
            .map(|w| download_one(remote, cache, w, reporter)),
    )
    .buffer_unordered(jobs.max(1));
    let mut summary = Summary::default();
    let mut result = Ok(());
    while let Some(done) = gets.next().await {
        match done {
            Ok((want, Some((size, reported)))) => {
                known.insert(&want.key);
                summary.objects += 1;
                summary.bytes += size;
                reporter.transferred(1, size - reported);
            }
            Ok((want, None)) => {
                known.remove(&want.key);
                summary.missing.push(want.key.clone());
                reporter.transferred(1, 0);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    reporter.finish();
    summary.missing.sort();
    result.map(|()| summary)
}

/// Fetches one key: its size and the bytes of it already shown on the
/// progress bar (a streamed object's chunks as they arrive); `None` when
/// the remote does not have it.
async fn download_one<'w>(
    remote: &Remote,
    cache: &Cache,
    want: &'w Want,
    reporter: &dyn crate::progress::Reporter,
) -> Result<(&'w Want, Option<(u64, u64)>), RemoteError> {
    let op = remote.op();
    let key = &want.key;
    let corrupt = |actual: crate::store::hash::Digest| RemoteError::Corrupt {
        remote: remote.name.clone(),
        key: key.clone(),
        actual: actual.to_hex(),
    };
    let not_found = |e: &opendal::Error| e.kind() == ErrorKind::NotFound;
    let Some(oid) = want.oid else {
        // A run record: small JSON, read through the record bound and
        // checked for shape before it is kept.
        let bytes = match remote.read_key(key, crate::limits::RECORD_BYTES).await {
            Ok(Some(b)) => b,
            Ok(None) | Err(RemoteError::Oversized { .. }) => return Ok((want, None)),
            Err(e) => return Err(e),
        };
        if !crate::pipeline::runcache::is_record(&bytes) {
            // Not kept, reported by the caller as a rejected record.
            return Ok((want, None));
        }
        let path = cache.root().join(key);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        crate::fsutil::write_atomic_nosync(&path, &bytes)?;
        return Ok((want, Some((bytes.len() as u64, 0))));
    };
    // The size the pointer or manifest gives is a hard cap on the bytes
    // read (a manifest without one: the manifest bound), whatever the
    // server says or sends.
    let cap = want.size.unwrap_or(crate::limits::MANIFEST_BYTES);
    if cap <= SMALL_FILE || want.size.is_none() {
        let Some(bytes) = remote.read_key(key, cap).await? else {
            return Ok((want, None));
        };
        cache.put_checked(&oid, &bytes)?.map_err(corrupt)?;
        return Ok((want, Some((bytes.len() as u64, 0))));
    }
    let reader = match op
        .reader_with(key)
        .chunk(CHUNK)
        .concurrent(PARTS_IN_FLIGHT)
        .await
    {
        Ok(r) => r,
        Err(e) if not_found(&e) => return Ok((want, None)),
        Err(e) => return Err(remote.error("downloading", key, e)),
    };
    let mut stream = match reader.into_bytes_stream(..).await {
        Ok(s) => s,
        Err(e) if not_found(&e) => return Ok((want, None)),
        Err(e) => return Err(remote.error("downloading", key, e)),
    };
    let mut incoming = cache.incoming()?;
    let mut size = 0u64;
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                size += chunk.len() as u64;
                if size > cap {
                    return Err(RemoteError::Oversized {
                        remote: remote.name.clone(),
                        key: key.clone(),
                        limit: cap,
                    });
                }
                incoming.write(&chunk)?;
                reporter.transferred(0, chunk.len() as u64);
            }
            Ok(None) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((want, None)),
            Err(e) => {
                return Err(RemoteError::Storage {
                    remote: remote.name.clone(),
                    op: "downloading",
                    key: key.clone(),
                    message: super::scrub(&e.to_string(), &remote.secrets),
                })
            }
        }
    }
    incoming.finish(&oid)?.map_err(corrupt)?;
    Ok((want, Some((size, size))))
}
