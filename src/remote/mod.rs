//! Remotes: where cache objects and run records live beside the local cache.
//!
//! Every remote has the same layout as the local cache (`sha256/ab/cdef…
//! [.dir]`, `runs/ab/cdef…`). Network backends go through Apache OpenDAL
//! (an operator with retry, timeout and concurrency-limit layers). A local
//! directory remote is just another cache (docs/design.md §3) and is
//! written with the cache's own code: OpenDAL's file-system writer fsyncs
//! every object, which made a push of 20,000 small files several times
//! slower, while mlci's rule for content-addressed objects is temp file +
//! atomic rename without fsync (docs/design.md §6). This module owns one
//! [`Remote`] and the typed errors a user sees; [`transfer`] moves sets of
//! objects, [`known`] remembers what a remote is known to hold.
//!
//! Remotes are the async part of mlci: the command that needs one builds a
//! tokio runtime and blocks on these futures; the rest of the domain stays
//! synchronous.

pub mod config_edit;
pub mod dir;
pub mod known;
pub mod listing;
pub mod location;
mod read;
pub mod transfer;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use opendal::layers::{ConcurrentLimitLayer, RetryLayer, TimeoutLayer};
use opendal::{ErrorKind, Operator};

use crate::config::RemoteWire;
use crate::error::Hint;
use location::{Backend, Location};

/// Prefix of run-cache records on a remote (and in the local cache).
pub const RUNS_PREFIX: &str = "runs/";
/// Prefix of content objects.
pub const OBJECTS_PREFIX: &str = "sha256/";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no remote named `{name}`")]
    Unknown { name: String, known: Vec<String> },
    #[error("no remote is configured")]
    NoneConfigured,
    #[error("remote `{name}`: invalid url `{url}`: {message}")]
    BadUrl {
        name: String,
        url: String,
        message: String,
    },
    #[error("`remotes.{name}.{key}`: {message}")]
    BadOption {
        name: String,
        key: String,
        message: String,
        hint: Option<String>,
    },
    #[error("remote `{remote}`: credentials missing or refused: {message}")]
    Auth { remote: String, message: String },
    #[error("remote `{remote}` is unreachable: {message}")]
    Unreachable { remote: String, message: String },
    #[error("remote `{remote}`: the server's TLS certificate does not verify: {message}")]
    Tls { remote: String, message: String },
    #[error("remote `{remote}` refused a request signed for region `{region}`: {message}")]
    Region {
        remote: String,
        region: String,
        message: String,
    },
    #[error("remote `{remote}`: {op} `{key}`: {message}")]
    Storage {
        remote: String,
        op: &'static str,
        key: String,
        message: String,
    },
    /// An I/O error of a directory remote: the disk it is on, with the
    /// operating system's error kind (a full disk, a read-only mount).
    #[error("remote `{remote}`: {op} `{key}`: {source}")]
    Disk {
        remote: String,
        op: &'static str,
        key: String,
        source: std::io::Error,
    },
    #[error("remote `{remote}`: object `{key}` is corrupt (its content hashes to {actual}); it was not used")]
    Corrupt {
        remote: String,
        key: String,
        actual: String,
    },
    #[error("the local cache's copy of object {oid} is damaged (its content hashes to {actual}); it was not pushed to remote `{remote}`")]
    DamagedLocal {
        remote: String,
        oid: String,
        actual: String,
    },
    #[error("remote `{remote}`: `{key}` holds more than the {limit} bytes expected of it; it was not used")]
    Oversized {
        remote: String,
        key: String,
        limit: u64,
    },
    #[error("remote `{remote}` ({url}) is read-only")]
    ReadOnly { remote: String, url: String },
    #[error("local cache: {0}")]
    Local(#[from] std::io::Error),
}

impl Hint for RemoteError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RemoteError::Unknown { known, .. } if known.is_empty() => {
                "no remotes are defined; add one with `mlci remote add NAME URL`".into()
            }
            RemoteError::Unknown { known, .. } => format!("defined remotes: {}", known.join(", ")),
            RemoteError::NoneConfigured => {
                "add one with `mlci remote add -d NAME URL`, or name one with `-r NAME`".into()
            }
            RemoteError::DamagedLocal { oid, .. } => format!(
                "move the damaged copy aside (`mv .mlci/cache/{} /tmp/`), then restore a good one: `mlci add` the data again from the workspace, or `mlci pull` it from another remote",
                oid.parse::<crate::store::cache::Oid>().map(|o| o.rel_path()).unwrap_or_else(|_| oid.clone())
            ),
            RemoteError::BadUrl { .. } => {
                "examples: s3://bucket/prefix, gs://bucket/prefix, azure://container/prefix, sftp://user@host/path, webdav://host/path, /mnt/nas/mlci".into()
            }
            RemoteError::BadOption { hint, .. } => return hint.clone(),
            RemoteError::Auth { .. } => {
                "check the remote's credentials in .mlci/config.local.yaml (`mlci remote modify NAME KEY VALUE --local`) or the provider's environment variables (AWS_ACCESS_KEY_ID, …)".into()
            }
            RemoteError::Tls { .. } => "a private or self-signed CA: point AWS_CA_BUNDLE (S3) or SSL_CERT_FILE at its PEM file; check that the endpoint's host name is the one in the certificate".into(),
            RemoteError::Region { remote, .. } => format!(
                "set the bucket's region: `mlci remote modify {remote} region REGION`, or AWS_REGION, or `region` in the AWS profile the remote names (`profile`)"
            ),
            RemoteError::Unreachable { .. } => {
                "check the endpoint and that the server is up; a rerun resumes where this one stopped".into()
            }
            RemoteError::Corrupt { .. } => {
                "the copy on the remote is damaged: push the object again from a machine whose cache has it (`mlci push`), after deleting the bad copy".into()
            }
            RemoteError::Oversized { .. } => "the size comes from the pointer, manifest or record that names the key (a record is at most 1 MiB): the copy on the remote is damaged, or the server is not what it seems; push the object again from a cache that has it".into(),
            RemoteError::ReadOnly { .. } => "HTTP remotes can be fetched from, not pushed to".into(),
            RemoteError::Disk { source, .. } => return crate::error::io_hint(source),
            RemoteError::Storage { remote, message, .. } => {
                let m = message.to_ascii_lowercase();
                if m.contains("nosuchbucket") || m.contains("containernotfound") || m.contains("bucket does not exist") {
                    format!("the bucket (or container) in remote `{remote}`'s URL does not exist on that server: check the URL (`mlci remote list`) and the endpoint, or create it")
                } else if m.contains("400") || m.contains("invalid") {
                    format!("the server refused the request as malformed: check remote `{remote}`'s endpoint, region and URL (`mlci remote list`)")
                } else {
                    format!("check that remote `{remote}` is reachable and its settings (`mlci remote list`); a rerun resumes where this one stopped")
                }
            }
            RemoteError::Local(source) => return crate::error::io_hint(source),
        })
    }
}

crate::register_hint!(RemoteError);

/// One configured remote, open for transfers.
pub struct Remote {
    pub name: String,
    /// The URL as configured (never carries credentials: those are refused).
    pub url: String,
    /// What names the storage itself (the URL, and the endpoint when one
    /// is set): the known-objects record is kept per identity, so the same
    /// bucket name on two S3 services never shares a record.
    pub identity: String,
    pub backend: Backend,
    /// Transfers in flight at once: `-j`, else the remote's `jobs`, else
    /// `core.jobs` (see [`Jobs`]).
    pub jobs: usize,
    store: Store,
    secrets: Vec<String>,
    /// The region S3 requests are signed for (for errors that depend on it).
    region: Option<String>,
}

/// How a remote's objects are reached.
enum Store {
    Dal(Operator),
    Dir(crate::store::cache::Cache),
}

pub use crate::config::Jobs;

/// Tunables of the layers; generous enough for a slow link, bounded so a
/// dead server fails the command in seconds, not minutes.
const RETRIES: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(120);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl Remote {
    /// Opens remote `name` from the settings (building the operator does no
    /// I/O; the first request does). `jobs` is `-j` when given and
    /// `core.jobs`; the remote's own `jobs` comes between them, and the
    /// result sizes both the transfers and the connection limiter, so the
    /// concurrency a remote is configured with is what its server sees.
    pub fn open(
        name: &str,
        remotes: &BTreeMap<String, RemoteWire>,
        repo_root: &Path,
        jobs: Jobs,
    ) -> Result<Remote, RemoteError> {
        let wire = remotes.get(name).ok_or_else(|| RemoteError::Unknown {
            name: name.into(),
            known: remotes.keys().cloned().collect(),
        })?;
        let url = wire.url.clone().unwrap_or_default();
        let Location {
            backend,
            config,
            secrets,
            jobs: jobs_setting,
        } = location::resolve(name, &url, &wire.options, repo_root)?;
        let max_in_flight = jobs.flag.or(jobs_setting).unwrap_or(jobs.default).max(1);
        if backend == Backend::Azure && !config.contains_key("endpoint") {
            return Err(RemoteError::BadOption {
                name: name.into(),
                key: "account_name".into(),
                message: "an Azure remote needs a storage account (or an endpoint)".into(),
                hint: Some(format!(
                    "mlci remote modify {name} account_name ACCOUNT, or set AZURE_STORAGE_ACCOUNT"
                )),
            });
        }
        let identity = match config.get("endpoint") {
            Some(e) => format!("{url}\n{e}"),
            None => url.clone(),
        };
        if backend == Backend::Local {
            let root = config.get("root").cloned().unwrap_or_default();
            return Ok(Remote {
                name: name.into(),
                identity,
                url,
                backend,
                jobs: max_in_flight,
                store: Store::Dir(crate::store::cache::Cache::new(root)),
                secrets,
                region: None,
            });
        }
        opendal::install_default();
        let region = config.get("region").cloned();
        let op = Operator::via_iter(backend.scheme(), config).map_err(|e| RemoteError::BadUrl {
            name: name.into(),
            url: url.clone(),
            message: scrub(&e.to_string(), &secrets),
        })?;
        let op = match ca_bundle(backend) {
            Some(path) => with_ca_bundle(op, &path).map_err(|message| RemoteError::BadOption {
                name: name.into(),
                key: "AWS_CA_BUNDLE / SSL_CERT_FILE".into(),
                message,
                hint: Some("point it at a PEM file of the CA certificates the server's certificate chains to".into()),
            })?,
            None => op,
        };
        let op = op
            .layer(ConcurrentLimitLayer::new(max_in_flight.max(1) * 2))
            .layer(
                TimeoutLayer::new()
                    .with_timeout(TIMEOUT)
                    .with_io_timeout(IO_TIMEOUT),
            )
            .layer(
                RetryLayer::new()
                    .with_max_times(RETRIES)
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_jitter(),
            );
        Ok(Remote {
            name: name.into(),
            identity,
            url,
            backend,
            jobs: max_in_flight,
            store: Store::Dal(op),
            secrets,
            region,
        })
    }

    pub fn read_only(&self) -> bool {
        self.backend == Backend::Http
    }

    /// Whether one object may be written in several parts.
    pub fn multipart(&self) -> bool {
        match &self.store {
            Store::Dal(op) => op.info().capability().write_can_multi,
            Store::Dir(_) => true,
        }
    }

    /// Whether keys can be listed (HTTP remotes cannot).
    pub fn can_list(&self) -> bool {
        match &self.store {
            Store::Dal(op) => op.info().capability().list,
            Store::Dir(_) => true,
        }
    }

    /// The OpenDAL operator of a network remote.
    pub(crate) fn op(&self) -> &Operator {
        match &self.store {
            Store::Dal(op) => op,
            Store::Dir(_) => unreachable!("directory remotes are served by remote::dir"),
        }
    }

    /// The cache-shaped directory of a local remote.
    pub(crate) fn dir(&self) -> Option<&crate::store::cache::Cache> {
        match &self.store {
            Store::Dir(c) => Some(c),
            Store::Dal(_) => None,
        }
    }

    /// An I/O error on a directory remote, in the user's terms.
    pub(crate) fn dir_error(&self, op: &'static str, key: &str, e: std::io::Error) -> RemoteError {
        RemoteError::Disk {
            remote: self.name.clone(),
            op,
            key: key.into(),
            source: e,
        }
    }

    /// Turns an OpenDAL error into the user's terms, without secrets.
    pub(crate) fn error(&self, op: &'static str, key: &str, e: opendal::Error) -> RemoteError {
        // Classified on the whole text (with every cause: a TLS failure is
        // three sources deep), shown in one line.
        let mut chain = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            chain.push_str(&format!(": {c}"));
            cause = c.source();
        }
        let full = scrub(&chain, &self.secrets);
        let message = scrub(&summarize(&e), &self.secrets);
        let remote = self.name.clone();
        // S3 answers a request signed for another region with 400 (and a
        // body, when there is one, saying AuthorizationHeaderMalformed or
        // naming the region): say which region was used and where it comes
        // from.
        let region_refused = self.backend == location::Backend::S3
            && (full.contains("AuthorizationHeaderMalformed")
                || full.contains("IllegalLocationConstraint")
                || (full.contains("status: 400") && op == "checking"));
        if region_refused {
            return RemoteError::Region {
                remote,
                region: self.region.clone().unwrap_or_default(),
                message,
            };
        }
        let lower = full.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            return RemoteError::Tls {
                remote,
                message: tls_reason(&full),
            };
        }
        match e.kind() {
            ErrorKind::PermissionDenied => RemoteError::Auth { remote, message },
            // No credentials at all (a fork's pull request): the signer
            // gives up before any request.
            _ if full.to_ascii_lowercase().contains("credential") => {
                RemoteError::Auth { remote, message }
            }
            _ if looks_unreachable(&full) => RemoteError::Unreachable { remote, message },
            _ => RemoteError::Storage {
                remote,
                op,
                key: key.into(),
                message,
            },
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, RemoteError> {
        let op = match &self.store {
            Store::Dir(c) => return Ok(c.root().join(key).symlink_metadata().is_ok()),
            Store::Dal(op) => op,
        };
        match op.stat(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.error("checking", key, e)),
        }
    }

    /// Every key below `prefix` (recursively), relative to the remote root.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        use futures::TryStreamExt;
        let op = match &self.store {
            Store::Dir(c) => {
                return dir::list(c.root(), prefix)
                    .map_err(|e| self.dir_error("listing", prefix, e))
            }
            Store::Dal(op) => op,
        };
        let mut lister = match op.lister_with(prefix).recursive(true).await {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("listing", prefix, e)),
        };
        let mut out = Vec::new();
        loop {
            match lister.try_next().await {
                Ok(Some(entry)) => {
                    if !entry.metadata().is_dir() {
                        out.push(entry.path().trim_start_matches('/').to_string());
                    }
                }
                Ok(None) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(self.error("listing", prefix, e)),
            }
        }
        Ok(out)
    }

    /// Writes a small key whole (a stage's per-commit record): object stores
    /// publish a PUT atomically; a directory remote gets a temp file renamed
    /// into place.
    pub async fn write_small(&self, key: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        if self.read_only() {
            return Err(RemoteError::ReadOnly {
                remote: self.name.clone(),
                url: self.url.clone(),
            });
        }
        match &self.store {
            Store::Dir(c) => {
                let path = c.root().join(key);
                let made = path
                    .parent()
                    .map_or(Ok(()), fs_err::create_dir_all)
                    .and_then(|()| crate::fsutil::write_atomic(&path, bytes));
                made.map_err(|e| self.dir_error("writing", key, e))
            }
            Store::Dal(op) => op
                .write(key, bytes.to_vec())
                .await
                .map(drop)
                .map_err(|e| self.error("writing", key, e)),
        }
    }

    /// Writes the file at `path` to `key` whole, streamed in parts when the
    /// service takes them (a directory remote: a temp file renamed into
    /// place); `check` sees every byte before the write is published and
    /// refuses it by returning an error (the caller's content check).
    pub async fn write_file(
        &self,
        key: &str,
        path: &Path,
        mut check: impl FnMut(Option<&[u8]>) -> Result<(), RemoteError>,
    ) -> Result<u64, RemoteError> {
        use std::io::Read;
        const CHUNK: usize = 8 << 20;
        if self.read_only() {
            return Err(RemoteError::ReadOnly {
                remote: self.name.clone(),
                url: self.url.clone(),
            });
        }
        let mut file = fs_err::File::open(path)?;
        if let Store::Dir(c) = &self.store {
            return self.write_file_dir(c, key, file, check);
        }
        let op = self.op();
        let len = file.metadata()?.len();
        if len < CHUNK as u64 {
            // One request: read whole, checked, then put.
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            check(Some(&bytes))?;
            check(None)?;
            let n = bytes.len() as u64;
            op.write(key, bytes)
                .await
                .map_err(|e| self.error("uploading", key, e))?;
            return Ok(n);
        }
        let mut writer = op
            .writer_with(key)
            .chunk(CHUNK)
            .await
            .map_err(|e| self.error("uploading", key, e))?;
        let mut size = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = crate::store::copy::read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            let checked = check(Some(&buf));
            if let Err(e) = checked {
                let _ = writer.abort().await;
                return Err(e);
            }
            if let Err(e) = writer.write(buf).await {
                let _ = writer.abort().await;
                return Err(self.error("uploading", key, e));
            }
            size += n as u64;
        }
        // Checked before `close`, which is what publishes the object.
        if let Err(e) = check(None) {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer
            .close()
            .await
            .map_err(|e| self.error("uploading", key, e))?;
        Ok(size)
    }

    /// [`Remote::write_file`] on a directory remote: the bytes to a temp
    /// name beside the key (a small file read whole, a big one in chunks),
    /// renamed into place once `check` took them.
    fn write_file_dir(
        &self,
        c: &crate::store::cache::Cache,
        key: &str,
        mut file: fs_err::File,
        mut check: impl FnMut(Option<&[u8]>) -> Result<(), RemoteError>,
    ) -> Result<u64, RemoteError> {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicU64, Ordering};
        const CHUNK: u64 = 8 << 20;
        static N: AtomicU64 = AtomicU64::new(0);
        let dest = c.root().join(key);
        let fail = |e| self.dir_error("uploading", key, e);
        let dir = dest.parent().expect("keys have a parent");
        let tmp = dir.join(format!(
            ".mlci-{}-{}.tmp",
            crate::fsutil::pid(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let len = file.metadata()?.len();
        if len < CHUNK {
            // Small: read whole, checked, and written as a file whose name
            // appears with its content (`store::whole`).
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            check(Some(&bytes))?;
            check(None)?;
            let name = dest
                .file_name()
                .and_then(|n| n.to_str())
                .expect("keys are UTF-8");
            c.held_dir(dir)
                .and_then(|d| d.create_whole(name, 0o444, &bytes, false))
                .map_err(fail)?;
            return Ok(bytes.len() as u64);
        }
        let mut out = match fs_err::File::create(&tmp) {
            Ok(f) => f,
            Err(_) => {
                fs_err::create_dir_all(dir).map_err(fail)?;
                fs_err::File::create(&tmp).map_err(fail)?
            }
        };
        let mut buf = vec![0u8; (len + 1).min(CHUNK) as usize];
        let mut size = 0u64;
        let copied = (|| {
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                check(Some(&buf[..n]))?;
                out.write_all(&buf[..n]).map_err(fail)?;
                size += n as u64;
            }
            check(None)?;
            fs_err::rename(&tmp, &dest).map_err(fail)
        })();
        if copied.is_err() {
            let _ = fs_err::remove_file(&tmp);
        }
        copied.map(|()| size)
    }

    /// Deletes one key (tests and repair; push never deletes).
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        match &self.store {
            Store::Dir(c) => crate::fsutil::remove_file_if_exists(&c.root().join(key))
                .map_err(|e| self.dir_error("deleting", key, e)),
            Store::Dal(op) => op
                .delete(key)
                .await
                .map_err(|e| self.error("deleting", key, e)),
        }
    }
}

/// Connection-level failures: the server is down or the endpoint is wrong.
fn looks_unreachable(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection refused",
        "error sending request",
        "connect error",
        "dns error",
        "connection reset",
        "broken pipe",
        "timed out",
        "connection closed",
        "tcp connect",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Replaces the remote's own credentials, and any credential of a known
/// shape, in `text` with `***` (the one scrubber, [`crate::secrets`]).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    crate::secrets::scrub_known(text, &known)
}

/// The remote a command should use: `-r NAME`, else `core.remote`, else
/// the only one defined.
pub fn choose(
    requested: Option<&str>,
    default: Option<&str>,
    remotes: &BTreeMap<String, RemoteWire>,
) -> Result<Option<String>, RemoteError> {
    if let Some(r) = requested {
        if !remotes.contains_key(r) {
            return Err(RemoteError::Unknown {
                name: r.into(),
                known: remotes.keys().cloned().collect(),
            });
        }
        return Ok(Some(r.into()));
    }
    if let Some(d) = default {
        return Ok(Some(d.into()));
    }
    if remotes.len() == 1 {
        return Ok(remotes.keys().next().cloned());
    }
    Ok(None)
}

/// The CA bundle to trust besides the system's, as the providers' tools
/// read it: `AWS_CA_BUNDLE` for S3, else `SSL_CERT_FILE` for any HTTP
/// backend.
fn ca_bundle(backend: location::Backend) -> Option<std::path::PathBuf> {
    let var = crate::environment::get_os;
    let aws = match backend {
        location::Backend::S3 => var("AWS_CA_BUNDLE"),
        _ => None,
    };
    aws.or_else(|| var("SSL_CERT_FILE")).map(Into::into)
}

/// `op` on an HTTP client that also trusts the certificates in `path`.
fn with_ca_bundle(op: Operator, path: &Path) -> Result<Operator, String> {
    let pem = fs_err::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    let client = reqwest::Client::builder()
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| e.to_string())?;
    let transport = opendal::HttpTransporter::new(
        opendal_http_transport_reqwest::ReqwestTransport::new(client),
    );
    let ctx = op.base_context().with_http_transport(transport);
    Ok(op.with_context(ctx))
}

/// What went wrong, in one line a person reads: the HTTP status, the
/// service's own error code and message, and the operation (`403
/// AccessDenied: Access Denied (PutObject)`), never the storage library's
/// debug dump of the response. Falls back to the error's own message.
fn summarize(e: &opendal::Error) -> String {
    let full = e.to_string();
    let field = |name: &str| -> Option<String> {
        let start = full.find(&format!("{name}: "))? + name.len() + 2;
        let rest = &full[start..];
        let value = match rest.strip_prefix('"') {
            Some(q) => &q[..q.find('"')?],
            None => &rest[..rest.find([',', ' ', '}']).unwrap_or(rest.len())],
        };
        (!value.is_empty()).then(|| value.to_string())
    };
    let status = field("status");
    let code = field("code");
    let detail = field("message").filter(|m| Some(m) != code.as_ref());
    let operation = field("service_operation");
    if status.is_none() && code.is_none() {
        // No response (a connection that failed, a signer without
        // credentials): the whole chain says why.
        return full;
    }
    let mut out = [status, code]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(d) = detail {
        out.push_str(&format!(": {d}"));
    }
    if let Some(op) = operation {
        out.push_str(&format!(" ({op})"));
    }
    out
}

/// The TLS failure's own words (`invalid peer certificate: UnknownIssuer`),
/// not the whole request chain.
fn tls_reason(full: &str) -> String {
    let lower = full.to_ascii_lowercase();
    match lower.find("invalid peer certificate") {
        Some(i) => {
            let rest = &full[i..];
            let end = rest.find([')', '\n', ',']).unwrap_or(rest.len());
            rest[..end].trim().to_string()
        }
        None => "the certificate chain is not trusted".into(),
    }
}

/// A tokio runtime for one command's remote work.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
