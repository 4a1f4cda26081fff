//! An mlci repository: the git work tree root, its `.mlci/` directory, the
//! settings and the cache. Also turns the paths users type into safe
//! repo-relative paths.

pub mod format;
pub mod lock;
pub mod machinery;

use std::path::{Path, PathBuf};

use crate::config::{Overrides, Settings};
use crate::error::Hint;
use crate::repo::lock::{LockError, RepoLock};
use crate::store::cache::Cache;

pub const MLCI_DIR: &str = ".mlci";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{} is not inside a git repository", dir.display())]
    NotGit { dir: PathBuf },
    #[error("{} has no mlci set-up (no {MLCI_DIR}/ directory)", root.display())]
    NotInitialized { root: PathBuf },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("`{path}` is outside the repository {}", root.display())]
    OutsideRepo { path: String, root: PathBuf },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("`{path}` is the repository's root, which mlci does not track as one output")]
    IsRoot { path: String },
    #[error("`{path}`: the file name is not valid UTF-8")]
    NotUtf8 { path: String },
    #[error("`{path}` is inside {area}/, which mlci manages itself")]
    Reserved { path: String, area: &'static str },
    #[error("cannot resolve `{path}`: {source}")]
    Resolve {
        path: String,
        source: std::io::Error,
    },
    /// A DVC project set up in a subdirectory (`dvc init --subdir`): mlci
    /// keeps one workspace per git work tree, at its root, so it would read
    /// another pipeline (the root's) than the one the user is in.
    /// Machine-local machinery that git tracks (see [`machinery::check`]).
    #[error("`{path}` is tracked by git{}, but it is this machine's own and is never taken from a commit", if *link { " as a symbolic link" } else { "" })]
    TrackedMachinery { path: String, link: bool },
    #[error("{} is a DVC project in a subdirectory of the git work tree {} (it has its own .dvc/)", project.display(), root.display())]
    SubdirProject { project: PathBuf, root: PathBuf },
}

impl Hint for RepoError {
    fn hint(&self) -> Option<String> {
        match self {
            RepoError::NotGit { .. } => Some(
                "mlci keeps its pointers in git: run `git init` first (or `cd` into your project)".into(),
            ),
            RepoError::NotInitialized { root } if format::Format::of(root) == Some(format::Format::Dvc) => Some(
                "this is a DVC repository: used in place, mlci runs status, repro, add, push, fetch, pull, checkout, diff, plan, retrain, ci, report, gate, metrics, plots, model, exp and export here (docs/dvc.md); for every command, move to mlci's format with `mlci import-dvc`".into(),
            ),
            RepoError::NotInitialized { .. } => Some("run `mlci init` at the repository root".into()),
            RepoError::Config(e) => e.hint(),
            RepoError::NotUtf8 { .. } => Some(
                "rename the file: mlci refuses names that are not UTF-8, which git cannot ignore exactly".into(),
            ),
            RepoError::OutsideRepo { .. } => Some(
                "mlci tracks files inside the git work tree; move or copy the data into the repository".into(),
            ),
            RepoError::IsRoot { .. } => Some(
                "name the data inside it (`mlci add data/` or `mlci add model.pkl`): the root holds git's and mlci's own files".into(),
            ),
            RepoError::SubdirProject { .. } => Some(
                "mlci works at the root of a git work tree and does not support projects in subdirectories (`dvc init --subdir`); move the project into a repository of its own (`git subtree split` keeps its history)".into(),
            ),
            RepoError::TrackedMachinery { path, .. } => Some(format!(
                "remove it from git and commit that (`git rm -r --cached {path}`); machine-local settings such as core.cache_dir go in an untracked .mlci/config.local.yaml or the environment (MLCI_CACHE_DIR)"
            )),
            _ => None,
        }
    }
}

crate::register_hint!(RepoError);

pub struct Repo {
    /// The git work tree root, canonical.
    pub root: PathBuf,
    pub settings: Settings,
    /// mlci's SHA-256 cache. In a DVC repository used in place this is a
    /// private, unused one under `.dvc/tmp/mlci/`: DVC's own cache is only
    /// ever read and written by the `dvc` room.
    pub cache: Cache,
    /// The format chosen once for this repository ([`format::Format`]).
    pub format: format::Format,
}

impl Repo {
    /// Finds the repository containing `cwd`, which must have been set up
    /// with `mlci init`, and loads its settings.
    pub fn discover(cwd: &Path, overrides: &Overrides) -> Result<Repo, RepoError> {
        let root = find_root(cwd)?;
        let mlci_dir = root.join(MLCI_DIR);
        if !mlci_dir.is_dir() {
            return Err(RepoError::NotInitialized { root });
        }
        machinery::check(&root)?;
        let settings = Settings::load(&mlci_dir, overrides)?;
        let cache = Cache::new(cache_root(&root, &settings));
        Ok(Repo {
            root,
            settings,
            cache,
            format: format::Format::Mlci,
        })
    }

    pub fn mlci_dir(&self) -> PathBuf {
        self.root.join(MLCI_DIR)
    }

    /// mlci's private state: `.mlci/tmp/`, or `.dvc/tmp/mlci/` in a DVC
    /// repository used in place (so nothing writes `.mlci/` there).
    pub fn tmp_dir(&self) -> PathBuf {
        self.format.state_dir(&self.root)
    }

    /// Where a parsed copy of directory manifest `oid` is kept (see
    /// [`crate::store::manifest::Manifest::to_memo`]).
    pub fn manifest_memo_path(&self, oid: &crate::store::cache::Oid) -> PathBuf {
        self.manifest_memo_dir()
            .join(format!("{}.bin", oid.digest.to_hex()))
    }

    pub fn manifest_memo_dir(&self) -> PathBuf {
        self.tmp_dir().join("manifests")
    }

    pub fn state_path(&self) -> PathBuf {
        self.tmp_dir().join("state.bin")
    }

    /// Takes the repository lock for the rest of the command.
    pub fn lock(&self) -> Result<RepoLock, LockError> {
        RepoLock::acquire(&self.tmp_dir().join("lock"))
    }

    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Resolves a path typed by the user (relative to `cwd`) to a
    /// `/`-separated path relative to the repository root, refusing paths
    /// outside the repository, inside `.git/` or `.mlci/`, or reached through
    /// a symlinked directory that leaves the repository.
    pub fn resolve_user_path(&self, cwd: &Path, input: &Path) -> Result<String, RepoError> {
        let shown = input.display().to_string();
        if input.to_str().is_none() {
            return Err(RepoError::NotUtf8 { path: shown });
        }
        let joined = if input.is_absolute() {
            input.to_path_buf()
        } else {
            cwd.join(input)
        };
        let lexical = crate::workspace_path::fold_dots(&joined);
        // Resolve symlinks in the directories above the final component; the
        // final component itself is what the user names and may not exist.
        let (parent, name) = match (lexical.parent(), lexical.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), Some(n.to_os_string())),
            _ => (lexical.clone(), None),
        };
        // Directories that do not exist yet (a file of a tracked directory in
        // a fresh clone) are taken as written below the deepest one that does.
        let mut existing = parent.as_path();
        let mut missing = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(up), Some(name)) => {
                    missing.push(name.to_os_string());
                    existing = up;
                }
                _ => break,
            }
        }
        let mut parent = existing
            .canonicalize()
            .map_err(|source| RepoError::Resolve {
                path: shown.clone(),
                source,
            })?;
        for name in missing.into_iter().rev() {
            parent.push(name);
        }
        let full = match &name {
            Some(n) => parent.join(n),
            None => parent,
        };
        let rel = full
            .strip_prefix(&self.root)
            .map_err(|_| RepoError::OutsideRepo {
                path: shown.clone(),
                root: self.root.clone(),
            })?;
        let rel = crate::fsutil::to_slash(rel);
        if rel.is_empty() {
            return Err(RepoError::IsRoot { path: shown });
        }
        for (area, dir) in [(".git", ".git"), (MLCI_DIR, MLCI_DIR)] {
            if rel == dir || rel.starts_with(&format!("{dir}/")) {
                return Err(RepoError::Reserved { path: shown, area });
            }
        }
        Ok(rel)
    }
}

/// Where the cache of the workspace at `root` lives: `core.cache_dir` of
/// the machine's settings (absolute, or relative to `root`), else
/// `.mlci/cache`.
pub fn cache_root(root: &Path, settings: &Settings) -> PathBuf {
    match &settings.cache_dir {
        Some(d) => root.join(d),
        None => root.join(MLCI_DIR).join("cache"),
    }
}

/// The cache of the workspace at `root` as its settings place it, for
/// readers that need no other setting (a plain GTO repository without
/// `.mlci/` reads an empty cache there).
///
/// # Errors
/// The workspace's machinery is tracked by git ([`machinery::check`]), or
/// its settings do not load.
pub fn cache_of(root: &Path) -> Result<Cache, RepoError> {
    let mlci_dir = root.join(MLCI_DIR);
    machinery::check(root)?;
    if !mlci_dir.is_dir() {
        return Ok(Cache::new(mlci_dir.join("cache")));
    }
    let settings = Settings::load(&mlci_dir, &crate::config::Overrides::default())?;
    Ok(Cache::new(cache_root(root, &settings)))
}

/// Where a registry and its metrics are read: the git work tree root, and
/// the cache metrics are read through (the repository's when it has
/// `.mlci/`, else where it would be: a plain GTO repository needs no mlci
/// set-up to be read).
pub struct Place {
    pub root: PathBuf,
    pub cache: Cache,
}

impl Place {
    /// The place of the repository above `cwd`.
    pub fn find(cwd: &Path) -> Result<Place, RepoError> {
        let root = find_root(cwd)?;
        Ok(Place {
            cache: cache_of(&root)?,
            root,
        })
    }
}

/// The canonical git work tree root above `cwd`. Refused when a directory
/// between `cwd` and that root is a DVC project of its own (a `.dvc/`
/// directory): a few `stat` calls, only when `cwd` is below the root.
pub fn find_root(cwd: &Path) -> Result<PathBuf, RepoError> {
    let root = crate::git::discover_root(cwd)?.ok_or_else(|| RepoError::NotGit {
        dir: cwd.to_path_buf(),
    })?;
    let root = root.canonicalize().map_err(|source| RepoError::Resolve {
        path: root.display().to_string(),
        source,
    })?;
    if let Ok(here) = cwd.canonicalize() {
        let mut dir = here.as_path();
        while dir != root && dir.starts_with(&root) {
            if dir.join(".dvc").is_dir() {
                return Err(RepoError::SubdirProject {
                    project: dir.to_path_buf(),
                    root,
                });
            }
            match dir.parent() {
                Some(up) => dir = up,
                None => break,
            }
        }
    }
    Ok(root)
}
