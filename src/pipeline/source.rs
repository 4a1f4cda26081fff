//! Where pipeline files are read from: the work tree, or the tree of a git
//! commit, so that which files are metrics, params and plots at a revision
//! comes from that revision's own `dvc.yaml`/`mlci.yaml` and vars files (as
//! DVC reads them).

use std::path::Path;

/// Why a file could not be read (a link out of the workspace, an I/O
/// error, not UTF-8), with a hint when one fits.
#[derive(Debug)]
pub struct Unreadable {
    pub message: String,
    pub hint: Option<String>,
}

impl From<String> for Unreadable {
    fn from(message: String) -> Unreadable {
        Unreadable {
            message,
            hint: None,
        }
    }
}

/// Reads a repo-relative file's text.
pub trait Source {
    /// The text of `rel`; None when it does not exist.
    fn read(&self, rel: &str) -> Result<Option<String>, Unreadable>;
}

/// The work tree at `root`; files are read only inside it, never through
/// a link out of it (the names come from pipeline files a pull request
/// controls).
pub struct WorkTree<'a>(pub &'a Path);

impl Source for WorkTree<'_> {
    fn read(&self, rel: &str) -> Result<Option<String>, Unreadable> {
        let abs = crate::workspace_path::WorkspacePath::new(rel)
            .and_then(|p| p.locate_for_read(self.0))
            .map_err(|e| Unreadable {
                message: e.to_string(),
                hint: crate::error::Hint::hint(&e),
            })?;
        match std::fs::read_to_string(abs) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string().into()),
        }
    }
}

/// The tree of commit `id` in the repository at `root`.
pub struct GitTree {
    repo: git2::Repository,
    id: git2::Oid,
}

impl GitTree {
    pub fn open(root: &Path, id: git2::Oid) -> Result<GitTree, String> {
        let repo = git2::Repository::open(root).map_err(|e| e.message().to_string())?;
        Ok(GitTree { repo, id })
    }
}

impl Source for GitTree {
    fn read(&self, rel: &str) -> Result<Option<String>, Unreadable> {
        crate::workspace_path::check_relative(rel).map_err(|e| e.to_string())?;
        match crate::git::file_in(&self.repo, self.id, rel) {
            Ok(Some(bytes)) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "is not UTF-8 text".to_string().into()),
            Ok(None) => Ok(None),
            Err(e) => Err(e.message().to_string().into()),
        }
    }
}
