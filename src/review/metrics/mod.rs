//! Metrics and params at any revision, and what changed between two.
//!
//! A revision is `workspace` or anything git understands. A file is read
//! from the revision's git tree when it is there, else through the
//! revision's pointer (`<path>.mlci`) or `mlci.lock` from the local cache,
//! so a metrics file that is a cached stage output works too. Files are
//! YAML, JSON or TOML, read into one tree and addressed by dotted paths.

pub mod diff;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::Hint;
use crate::pipeline::lock::{LockFile, LOCK_FILE};
use crate::pipeline::{OutKind, Pipeline};
use crate::store::cache::{Cache, Oid};
use crate::track::pointer::Pointer;

/// Where files are read from.
#[derive(Debug, Clone)]
pub enum Rev {
    Workspace,
    Commit { name: String, id: git2::Oid },
}

impl Rev {
    /// Parses a user's revision (`workspace` is the work tree).
    pub fn parse(root: &Path, name: &str) -> Result<Rev, MetricsError> {
        if name == "workspace" {
            return Ok(Rev::Workspace);
        }
        let id = crate::git::resolve_commit(root, name).map_err(|e| MetricsError::BadRev {
            rev: name.to_string(),
            message: e.message().to_string(),
        })?;
        Ok(Rev::Commit {
            name: name.to_string(),
            id,
        })
    }

    pub fn label(&self) -> String {
        match self {
            Rev::Workspace => "workspace".into(),
            Rev::Commit { name, .. } => name.clone(),
        }
    }

    /// The commit, 40 hex; None for the work tree (JSON writes null).
    pub fn commit(&self) -> Option<String> {
        match self {
            Rev::Workspace => None,
            Rev::Commit { id, .. } => Some(id.to_string()),
        }
    }

    /// A short commit id, or `workspace`.
    pub fn short(&self) -> String {
        match self {
            Rev::Workspace => "workspace".into(),
            Rev::Commit { id, .. } => id.to_string()[..8].to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("revision `{rev}` does not exist: {message}")]
    BadRev { rev: String, message: String },
    #[error("{file} at {rev}: {message}")]
    Parse {
        file: String,
        rev: String,
        message: String,
    },
    #[error("{file} at {rev} is a cached output ({oid}) that is not in the local cache")]
    NotInCache {
        file: String,
        rev: String,
        oid: String,
    },
    #[error("{file} at {rev}: {message}")]
    Read {
        file: String,
        rev: String,
        message: String,
    },
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
}

use crate::limits::{Limit, LimitError};

impl Hint for MetricsError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            MetricsError::BadRev { .. } => "name a branch, tag, commit or `workspace`; shallow CI checkouts need `fetch-depth: 0`".into(),
            MetricsError::Parse { .. } => "metrics and params files must be YAML, JSON or TOML".into(),
            MetricsError::NotInCache { .. } => "`mlci pull` fetches it from a remote, or `mlci repro` at that revision recreates it".into(),
            MetricsError::Read { .. } => return None,
            MetricsError::Limit(e) => return e.hint(),
        })
    }
}

crate::register_hint!(MetricsError);

/// Reads files as they are at one revision.
pub struct RevReader<'a> {
    root: &'a Path,
    cache: &'a Cache,
    rev: Rev,
    lock: Option<Option<LockFile>>,
    /// Opened on first use and kept: one open per reader, not per file.
    git: Option<git2::Repository>,
}

impl<'a> RevReader<'a> {
    pub fn new(root: &'a Path, cache: &'a Cache, rev: Rev) -> RevReader<'a> {
        RevReader {
            root,
            cache,
            rev,
            lock: None,
            git: None,
        }
    }

    pub fn rev(&self) -> &Rev {
        &self.rev
    }

    /// `path` in commit `id`, through the kept repository handle.
    fn blob(&mut self, id: git2::Oid, path: &str) -> Result<Option<Vec<u8>>, MetricsError> {
        if self.git.is_none() {
            let repo =
                git2::Repository::open(self.root).map_err(|e| self.read_err(path, e.message()))?;
            self.git = Some(repo);
        }
        let repo = self.git.as_ref().expect("opened above");
        // The size from the object's header, before it is loaded.
        match crate::git::file_in_within(repo, id, path, Limit::MetricsBytes.value())
            .map_err(|e| self.read_err(path, e.message()))?
        {
            Some(crate::git::Within::Bytes(b)) => Ok(Some(b)),
            Some(crate::git::Within::TooLarge(n)) => Err(self.too_large(path, n)),
            None => Ok(None),
        }
    }

    /// The refusal of `path` at this revision, `size` bytes.
    fn too_large(&self, path: &str, size: u64) -> MetricsError {
        LimitError::new(
            format!("{path} at {}", self.rev.label()),
            format!("{} bytes", crate::limits::thousands(size)),
            Limit::MetricsBytes,
        )
        .into()
    }

    fn read_err(&self, file: &str, message: impl ToString) -> MetricsError {
        MetricsError::Read {
            file: file.into(),
            rev: self.rev.label(),
            message: message.to_string(),
        }
    }

    /// The bytes of `path` at this revision; None when it does not exist.
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, MetricsError> {
        let id = match &self.rev {
            Rev::Workspace => {
                // Paths come from mlci.yaml (the pull request): read only
                // inside the workspace, never through a link out of it.
                let abs = crate::workspace_path::WorkspacePath::new(path)
                    .and_then(|p| p.locate_for_read(self.root))
                    .map_err(|e| self.read_err(path, e))?;
                return match crate::limits::read_bytes(&abs, Limit::MetricsBytes) {
                    Ok(b) => Ok(Some(b)),
                    Err(crate::limits::Capped::TooLarge(n)) => Err(self.too_large(path, n)),
                    Err(crate::limits::Capped::Io(e))
                        if e.kind() == std::io::ErrorKind::NotFound =>
                    {
                        Ok(None)
                    }
                    Err(crate::limits::Capped::Io(e)) => Err(self.read_err(path, e)),
                };
            }
            Rev::Commit { id, .. } => *id,
        };
        if let Some(bytes) = self.blob(id, path)? {
            return Ok(Some(bytes));
        }
        let Some(oid) = self.object_at(id, path)? else {
            return Ok(None);
        };
        if oid.dir {
            return Err(self.read_err(path, "is a directory"));
        }
        self.cached(path, &oid).map(Some)
    }

    /// The content-addressed object of `path` at this commit (a tracked
    /// file or directory, a cached stage output, or a file inside a tracked
    /// directory); None when `path` is not kept in the cache there (it may
    /// still be a file in git: see [`RevReader::read`]). The workspace has
    /// no committed objects: None.
    pub fn object(&mut self, path: &str) -> Result<Option<Oid>, MetricsError> {
        match &self.rev {
            Rev::Workspace => Ok(None),
            Rev::Commit { id, .. } => {
                let id = *id;
                self.object_at(id, path)
            }
        }
    }

    fn object_at(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, MetricsError> {
        // Not in git: a tracked file or a cached stage output?
        let pointer = format!("{path}.{}", crate::track::pointer::EXTENSION);
        let oid = match self.blob(id, &pointer)? {
            Some(text) => {
                let p = Pointer::parse(&String::from_utf8_lossy(&text), Path::new(&pointer))
                    .map_err(|e| self.read_err(path, e))?;
                Some(p.oid)
            }
            None => self.lock_out(id, path)?,
        };
        match oid {
            Some(oid) => Ok(Some(oid)),
            // A file inside a tracked directory or a directory output.
            None => self.inside_dir(id, path),
        }
    }

    /// The object of `path` when one of its parent directories is tracked
    /// (a pointer) or a stage's directory output (`mlci.lock`) at commit
    /// `id`: through that directory's manifest, from the cache. The nearest
    /// such directory wins.
    fn inside_dir(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, MetricsError> {
        let mut dir = path;
        while let Some(i) = dir.rfind('/') {
            dir = &path[..i];
            let pointer = format!("{dir}.{}", crate::track::pointer::EXTENSION);
            let oid = match self.blob(id, &pointer)? {
                Some(text) => Some(
                    Pointer::parse(&String::from_utf8_lossy(&text), Path::new(&pointer))
                        .map_err(|e| self.read_err(path, e))?
                        .oid,
                ),
                None => self.lock_out(id, dir)?,
            };
            let Some(oid) = oid.filter(|o| o.dir) else {
                continue;
            };
            let bytes = self.cached(path, &oid)?;
            let manifest = crate::store::manifest::Manifest::parse(&bytes)
                .map_err(|e| self.read_err(path, e))?;
            let rest = &path[i + 1..];
            return Ok(manifest
                .entries()
                .iter()
                .find(|e| e.path == rest)
                .map(|e| Oid::file(e.sha256)));
        }
        Ok(None)
    }

    /// A verified object from the cache, for file `path`.
    fn cached(&self, path: &str, oid: &Oid) -> Result<Vec<u8>, MetricsError> {
        if let Ok(m) = fs_err::metadata(self.cache.object_path(oid)) {
            if m.len() > Limit::MetricsBytes.value() {
                return Err(self.too_large(path, m.len()));
            }
        }
        match self.cache.read_verified(oid) {
            Ok(b) => Ok(b),
            Err(crate::store::cache::CacheError::Missing { .. }) => Err(MetricsError::NotInCache {
                file: path.into(),
                rev: self.rev.label(),
                oid: oid.to_string(),
            }),
            Err(e) => Err(self.read_err(path, e)),
        }
    }

    fn lock_out(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, MetricsError> {
        if self.lock.is_none() {
            let text = self.blob(id, LOCK_FILE)?;
            let lock = match text {
                Some(t) => Some(
                    LockFile::parse(&String::from_utf8_lossy(&t))
                        .map_err(|e| self.read_err(LOCK_FILE, e))?,
                ),
                None => None,
            };
            self.lock = Some(lock);
        }
        Ok(self
            .lock
            .as_ref()
            .and_then(|l| l.as_ref())
            .and_then(|l| {
                l.stages
                    .values()
                    .flat_map(|s| &s.outs)
                    .find(|o| o.path == path)
            })
            .and_then(|o| o.oid()))
    }

    /// The flattened values of a YAML/JSON/TOML file (dotted key -> value);
    /// None when the file does not exist at this revision.
    pub fn values(&mut self, path: &str) -> Result<Option<BTreeMap<String, Json>>, MetricsError> {
        let Some(bytes) = self.read(path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let tree =
            crate::pipeline::params::parse(&text, path).map_err(|e| MetricsError::Parse {
                file: path.into(),
                rev: self.rev.label(),
                message: match e {
                    crate::pipeline::params::ParamsError::Parse { line, message, .. } => match line
                    {
                        Some(l) => format!("line {l}: {message}"),
                        None => message,
                    },
                    other => other.to_string(),
                },
            })?;
        Ok(Some(crate::pipeline::params::flatten(&tree)))
    }
}

/// The metrics files a pipeline declares (stage `metrics` and top-level).
pub fn metric_files(p: &Pipeline) -> Vec<String> {
    let mut files: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| {
            s.outs
                .iter()
                .filter(|o| o.kind == OutKind::Metric)
                .map(|o| o.path.to_string())
        })
        .chain(p.metrics.iter().cloned())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The params files `params diff` shows, as DVC collects them: those the
/// stages read, the top-level `params:` files, and the root `params.yaml`
/// (whether a stage reads it or not; absent, it adds nothing).
pub fn params_files(p: &Pipeline) -> Vec<String> {
    let mut files: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| s.params.iter().map(|d| d.file.clone()))
        .chain(p.params.iter().cloned())
        .chain([crate::pipeline::DEFAULT_PARAMS.to_string()])
        .collect();
    files.sort();
    files.dedup();
    files
}
