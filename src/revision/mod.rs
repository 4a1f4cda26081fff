//! A file at a revision: the one place that reads "this path as it is at
//! that revision", through git, the local cache, a directory output or
//! (for tracked data) the remote.
//!
//! A revision is `workspace` or anything git understands. A file is read
//! from the revision's git tree when it is there, else through the
//! revision's pointer (`<path>.mlci`) or `mlci.lock` from the local cache,
//! so a metrics file that is a cached stage output works too. Metrics,
//! params, promotion checks, `drift PATH@REV` and `model get` all read
//! through [`RevReader`]; [`fetch::fetch_missing`] brings a tracked path's
//! objects from the remote when the cache lacks them.

pub mod fetch;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::Hint;
use crate::pipeline::lock::{lock_outs, LockFile, LOCK_FILE};
use crate::store::cache::{Cache, Oid};
use crate::track::pointer::Pointer;
use crate::track::Tracked;

/// Where files are read from.
#[derive(Debug, Clone)]
pub enum Rev {
    Workspace,
    Commit { name: String, id: git2::Oid },
}

impl Rev {
    /// Parses a user's revision (`workspace` is the work tree).
    pub fn parse(root: &Path, name: &str) -> Result<Rev, RevisionError> {
        if name == "workspace" {
            return Ok(Rev::Workspace);
        }
        let id = crate::git::resolve_commit(root, name).map_err(|e| RevisionError::BadRev {
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
pub enum RevisionError {
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
    #[error("{path} ({oid}) is in neither the cache nor remote `{remote}`")]
    Lost {
        path: String,
        oid: String,
        remote: String,
    },
    #[error("{path} ({oid}) is not in the cache and no remote is configured")]
    NoRemote { path: String, oid: String },
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
}

use crate::limits::{Limit, LimitError};

impl Hint for RevisionError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RevisionError::BadRev { .. } => "name a branch, tag, commit or `workspace`; shallow CI checkouts need `fetch-depth: 0`".into(),
            RevisionError::Parse { .. } => "metrics files must be YAML, JSON or TOML; params files may also be Python (`params.py`)".into(),
            RevisionError::NotInCache { .. } => "`mlci pull` fetches it from a remote, or `mlci repro` at that revision recreates it".into(),
            RevisionError::Lost { .. } => "push it from a machine that has it: `mlci push`".into(),
            RevisionError::NoRemote { .. } => {
                "add the remote: `mlci remote add NAME URL`, or run where the cache has it".into()
            }
            RevisionError::Read { .. } => return None,
            RevisionError::Limit(e) => return e.hint(),
        })
    }
}

crate::register_hint!(RevisionError);

/// Reads files as they are at one revision.
pub struct RevReader<'a> {
    root: &'a Path,
    cache: &'a Cache,
    rev: Rev,
    lock: Option<Option<LockFile>>,
    /// Opened on first use and kept: one open per reader, not per file.
    git: Option<git2::Repository>,
    /// Outputs the revision's pipeline keeps in git (`cache: false`):
    /// absent from git there means absent, never a look in the cache.
    in_git_only: std::collections::BTreeSet<String>,
}

impl<'a> RevReader<'a> {
    pub fn new(root: &'a Path, cache: &'a Cache, rev: Rev) -> RevReader<'a> {
        RevReader {
            root,
            cache,
            rev,
            lock: None,
            git: None,
            in_git_only: Default::default(),
        }
    }

    /// This reader, taking `pipeline`'s `cache: false` outputs (the
    /// pipeline of this reader's revision) as kept in git only: one that
    /// git lacks there (never committed, git-ignored) is absent, as DVC
    /// reads it, not "not in the cache".
    pub fn with_pipeline(mut self, pipeline: &crate::pipeline::Pipeline) -> RevReader<'a> {
        self.in_git_only = pipeline
            .stages
            .iter()
            .flat_map(|s| &s.outs)
            .filter(|o| !o.cache)
            .map(|o| o.path.to_string())
            .collect();
        self
    }

    pub fn rev(&self) -> &Rev {
        &self.rev
    }

    /// The repository, opened on first use and kept.
    fn git(&mut self) -> Result<&git2::Repository, RevisionError> {
        if self.git.is_none() {
            let repo =
                git2::Repository::open(self.root).map_err(|e| self.read_err(".", e.message()))?;
            self.git = Some(repo);
        }
        Ok(self.git.as_ref().expect("opened above"))
    }

    /// `path` in commit `id`, through the kept repository handle.
    fn blob(&mut self, id: git2::Oid, path: &str) -> Result<Option<Vec<u8>>, RevisionError> {
        let repo = self.git()?;
        // The size from the object's header, before it is loaded.
        let within = crate::git::file_in_within(repo, id, path, Limit::MetricsBytes.value());
        match within.map_err(|e| self.read_err(path, e.message()))? {
            Some(crate::git::Within::Bytes(b)) => Ok(Some(b)),
            Some(crate::git::Within::TooLarge(n)) => Err(self.too_large(path, n)),
            None => Ok(None),
        }
    }

    /// The refusal of `path` at this revision, `size` bytes.
    fn too_large(&self, path: &str, size: u64) -> RevisionError {
        LimitError::new(
            format!("{path} at {}", self.rev.label()),
            format!("{} bytes", crate::limits::thousands(size)),
            Limit::MetricsBytes,
        )
        .into()
    }

    fn read_err(&self, file: &str, message: impl ToString) -> RevisionError {
        RevisionError::Read {
            file: file.into(),
            rev: self.rev.label(),
            message: message.to_string(),
        }
    }

    /// The bytes of `path` at this revision; None when it does not exist.
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, RevisionError> {
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
        if self.in_git_only.contains(path) {
            return Ok(None);
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
    pub fn object(&mut self, path: &str) -> Result<Option<Oid>, RevisionError> {
        match &self.rev {
            Rev::Workspace => Ok(None),
            Rev::Commit { id, .. } => {
                let id = *id;
                self.object_at(id, path)
            }
        }
    }

    fn object_at(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, RevisionError> {
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
    fn inside_dir(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, RevisionError> {
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
    fn cached(&self, path: &str, oid: &Oid) -> Result<Vec<u8>, RevisionError> {
        if let Ok(m) = fs_err::metadata(self.cache.object_path(oid)) {
            if m.len() > Limit::MetricsBytes.value() {
                return Err(self.too_large(path, m.len()));
            }
        }
        match self.cache.read_verified(oid) {
            Ok(b) => Ok(b),
            Err(crate::store::cache::CacheError::Missing { .. }) => {
                Err(RevisionError::NotInCache {
                    file: path.into(),
                    rev: self.rev.label(),
                    oid: oid.to_string(),
                })
            }
            Err(e) => Err(self.read_err(path, e)),
        }
    }

    /// This commit's `mlci.lock`, parsed once per reader.
    fn lock_at(&mut self, id: git2::Oid) -> Result<Option<&LockFile>, RevisionError> {
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
        Ok(self.lock.as_ref().and_then(|l| l.as_ref()))
    }

    fn lock_out(&mut self, id: git2::Oid, path: &str) -> Result<Option<Oid>, RevisionError> {
        Ok(self.lock_at(id)?.and_then(|l| {
            l.stages
                .values()
                .flat_map(|s| &s.outs)
                .find(|o| o.path == path)
                .and_then(|o| o.oid())
        }))
    }

    /// `path` as tracked at this commit: its pointer file, else its output
    /// entry in the commit's `mlci.lock`; None when it is neither (or the
    /// revision is the work tree, which has no committed objects).
    pub fn tracked(&mut self, path: &str) -> Result<Option<Tracked>, RevisionError> {
        let Rev::Commit { id, .. } = &self.rev else {
            return Ok(None);
        };
        let id = *id;
        let pointer_rel = format!("{path}.{}", crate::track::pointer::EXTENSION);
        if let Some(text) = self.blob(id, &pointer_rel)? {
            let t = crate::track::tracked_from_text(&pointer_rel, &String::from_utf8_lossy(&text))
                .map_err(|e| self.read_err(&pointer_rel, e))?;
            return Ok(Some(t));
        }
        Ok(self.lock_at(id)?.and_then(|lock| {
            lock_outs(lock, &|_| Some(true))
                .into_iter()
                .find(|t| t.target_rel.as_str() == path)
        }))
    }

    /// `path` as git holds it at this commit, whatever its size (a small
    /// dataset or a model committed to git itself); None when git has no
    /// file there, or the revision is the work tree.
    pub fn git_file(&mut self, path: &str) -> Result<Option<Vec<u8>>, RevisionError> {
        let Rev::Commit { id, .. } = &self.rev else {
            return Ok(None);
        };
        let id = *id;
        crate::git::file_in(self.git()?, id, path).map_err(|e| self.read_err(path, e.message()))
    }

    /// Whether `path` is a directory in this commit's git tree.
    pub fn is_git_dir(&mut self, path: &str) -> Result<bool, RevisionError> {
        let Rev::Commit { id, .. } = &self.rev else {
            return Ok(false);
        };
        let id = *id;
        let rev = self.rev.label();
        let git = self.git()?;
        let tree = git
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(|e| RevisionError::Read {
                file: path.into(),
                rev,
                message: e.message().into(),
            })?;
        Ok(tree
            .get_path(Path::new(path))
            .is_ok_and(|e| e.kind() == Some(git2::ObjectType::Tree)))
    }

    /// git's tree id of directory `path` at this commit (None: not a
    /// directory there, or the revision is the work tree).
    pub fn git_tree_id(&mut self, path: &str) -> Result<Option<String>, RevisionError> {
        if !self.is_git_dir(path)? {
            return Ok(None);
        }
        let Rev::Commit { id, .. } = &self.rev else {
            return Ok(None);
        };
        let id = *id;
        let rev = self.rev.label();
        let git = self.git()?;
        let entry = git
            .find_commit(id)
            .and_then(|c| c.tree())
            .and_then(|t| t.get_path(Path::new(path)))
            .map_err(|e| RevisionError::Read {
                file: path.into(),
                rev,
                message: e.message().into(),
            })?;
        Ok(Some(entry.id().to_string()))
    }

    /// Writes `path` as committed in git (a file or a directory's files) to
    /// `out`, replacing what is there; the count of files written, None when
    /// the commit has no such path (or the revision is the work tree).
    pub fn write_git_path(&mut self, path: &str, out: &Path) -> anyhow::Result<Option<usize>> {
        let Rev::Commit { id, .. } = &self.rev else {
            return Ok(None);
        };
        let commit = *id;
        let git = self.git()?;
        let tree = git.find_commit(commit)?.tree()?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let obj = entry.to_object(git)?;
        let parent = out.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        if let Some(blob) = obj.as_blob() {
            crate::fsutil::write_atomic(out, blob.content())?;
            return Ok(Some(1));
        }
        let Some(sub) = obj.as_tree() else {
            return Ok(None);
        };
        // 0777 less the umask, as a checkout makes a directory.
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix(".mlci-get")
            .permissions(std::fs::Permissions::from_mode(0o777))
            .tempdir_in(parent)?;
        let mut n = 0;
        let mut failed = None;
        sub.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            let Some(blob) = e.to_object(git).ok().and_then(|o| o.into_blob().ok()) else {
                return git2::TreeWalkResult::Ok;
            };
            let rel = format!("{dir}{}", e.name().unwrap_or_default());
            // Tree entry names come from a commit anyone could craft: plain
            // relative paths only, or nothing is written.
            if crate::workspace_path::check_relative(&rel).is_err() {
                failed = Some(std::io::Error::other(format!(
                    "`{rel}` in the commit's tree is not a plain relative path"
                )));
                return git2::TreeWalkResult::Abort;
            }
            let dest = tmp.path().join(&rel);
            let res = dest
                .parent()
                .map_or(Ok(()), fs_err::create_dir_all)
                .and_then(|_| fs_err::write(&dest, blob.content()));
            match res {
                Ok(()) => n += 1,
                Err(err) => {
                    failed = Some(err);
                    return git2::TreeWalkResult::Abort;
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        crate::store::materialise::replace(out)?;
        fs_err::rename(tmp.keep(), out)?;
        Ok(Some(n))
    }

    /// The flattened values of a YAML/JSON/TOML file (dotted key -> value);
    /// None when the file does not exist at this revision.
    pub fn values(&mut self, path: &str) -> Result<Option<BTreeMap<String, Json>>, RevisionError> {
        let Some(bytes) = self.read(path)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let tree =
            crate::pipeline::params::parse(&text, path).map_err(|e| RevisionError::Parse {
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

/// A path whose bytes in the work tree differ from a commit's.
#[derive(Debug)]
pub struct WorkTreeChange {
    /// Repo-relative.
    pub path: String,
    /// The bytes git holds at the commit; None when the commit lacks it.
    pub committed: Option<Vec<u8>>,
    /// The bytes in the work tree; None when the file is gone.
    pub now: Option<Vec<u8>>,
}

/// Of `paths` (repo-relative, from the pipeline or pointer files, so
/// untrusted: read only inside the workspace), those whose work-tree bytes
/// differ from what git holds at `commit`, sorted by path and each once.
/// A path neither side has is no change. Errors: a path that leaves the
/// workspace, an unreadable file, a git failure.
pub fn worktree_changes(
    root: &Path,
    commit: git2::Oid,
    paths: impl IntoIterator<Item = String>,
) -> anyhow::Result<Vec<WorkTreeChange>> {
    let mut paths: Vec<String> = paths.into_iter().collect();
    paths.sort();
    paths.dedup();
    let git = git2::Repository::open(root)?;
    let mut out = Vec::new();
    for path in paths {
        let abs = crate::workspace_path::WorkspacePath::new(&path)?.locate_for_read(root)?;
        let now = match fs_err::read(&abs) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let committed = crate::git::file_in(&git, commit, &path)?;
        if committed != now {
            out.push(WorkTreeChange {
                path,
                committed,
                now,
            });
        }
    }
    Ok(out)
}
