//! Where pipeline files are read from: the work tree, or the tree of a git
//! commit, so that which files are metrics, params and plots at a revision
//! comes from that revision's own `dvc.yaml`/`mlci.yaml` and vars files (as
//! DVC reads them).

use crate::git::Within;
use crate::limits::{Capped, Limit};
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

    /// The `dvc.yaml` files below the root (`sub/dvc.yaml`) in the order
    /// DVC collects them (see [`walk_order`]), outside directories that
    /// are DVC projects of their own (holding `.dvc/config`).
    fn nested_pipeline_files(&self) -> Result<Vec<String>, Unreadable>;
}

/// From every path of a listing, the nested `dvc.yaml` files outside
/// sub-projects, unordered; paths that are not plain workspace paths are
/// left out (they are never read).
fn nested_dvc_yamls<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut yamls = Vec::new();
    let mut projects = Vec::new();
    for p in paths {
        if let Some(dir) = p.strip_suffix("/.dvc/config") {
            projects.push(format!("{dir}/"));
        } else if p.ends_with("/dvc.yaml") && crate::workspace_path::check_relative(p).is_ok() {
            yamls.push(p.to_string());
        }
    }
    yamls.retain(|y| !projects.iter().any(|d| y.starts_with(d.as_str())));
    yamls
}

/// Sorts repo-relative file paths as a top-down walk visits them, the way
/// DVC collects its pipeline files (`os.walk`): a directory's own files
/// before anything in its subdirectories, and subdirectories in the order
/// `rank(parent, name)` gives (the directory listing's order in the work
/// tree, as DVC's walk sees it; the name in a git tree, which is sorted).
pub fn walk_order<K: Ord>(paths: &mut [String], rank: impl Fn(&str, &str) -> K) {
    paths.sort_by_cached_key(|p| {
        let mut key = Vec::new();
        let mut parent = "";
        let mut rest = p.as_str();
        while let Some((dir, tail)) = rest.split_once('/') {
            key.push(Some(rank(parent, dir)));
            parent = &p[..p.len() - tail.len() - 1];
            rest = tail;
        }
        // The file itself: before every subdirectory of its directory.
        key.push(None);
        key
    });
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
        // Pipeline and params files are bounded before they are read.
        match crate::limits::read_bytes(&abs, Limit::YamlBytes) {
            Ok(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| "stream did not contain valid UTF-8".to_string().into()),
            Err(Capped::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(Capped::Io(e)) => Err(e.to_string().into()),
            Err(Capped::TooLarge(n)) => Err(too_large(n)),
        }
    }

    /// The work tree as git sees it (ignored files, and so the data mlci
    /// tracks, are not walked, nor what `.dvcignore`/`.mlciignore` name;
    /// `.git/`, `.mlci/` and `.dvc/` are skipped; links are not followed),
    /// as DVC finds them: no `git add` needed.
    fn nested_pipeline_files(&self) -> Result<Vec<String>, Unreadable> {
        let root = self.0;
        let mut paths: Vec<String> = ignore::WalkBuilder::new(root)
            .hidden(false)
            .add_custom_ignore_filename(".dvcignore")
            .add_custom_ignore_filename(".mlciignore")
            .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".dvc" | ".mlci")))
            .build()
            .flatten()
            .filter(|e| e.depth() > 1 && e.file_name() == "dvc.yaml")
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .filter_map(|e| Some(e.path().strip_prefix(root).ok()?.to_str()?.to_string()))
            .collect();
        // The walk skips `.dvc/`; name the sub-projects it would have shown.
        let mut projects = Vec::new();
        for p in &paths {
            let mut dir = Path::new(p).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                if root.join(d).join(".dvc").is_dir() {
                    projects.push(format!("{}/.dvc/config", d.display()));
                }
                dir = d.parent();
            }
        }
        paths.extend(projects);
        let mut yamls = nested_dvc_yamls(paths.iter().map(String::as_str));
        // Each directory on the way listed once, in the file system's own
        // order (what DVC's walk meets), the name breaking no ties.
        let listings: std::cell::RefCell<
            std::collections::HashMap<String, Vec<std::ffi::OsString>>,
        > = Default::default();
        walk_order(&mut yamls, |parent, name| {
            let mut listings = listings.borrow_mut();
            let names = listings.entry(parent.to_string()).or_insert_with(|| {
                fs_err::read_dir(root.join(parent))
                    .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default()
            });
            names.iter().position(|n| n == name).unwrap_or(usize::MAX)
        });
        Ok(yamls)
    }
}

/// A pipeline or params file of `size` bytes, over the YAML bound.
fn too_large(size: u64) -> Unreadable {
    Unreadable {
        message: format!(
            "{} bytes is over the limit of {} bytes",
            crate::limits::thousands(size),
            crate::limits::thousands(Limit::YamlBytes.value())
        ),
        hint: Some(format!(
            "a pipeline or params file this large is likely generated by mistake; if it is meant to be, raise the limit with {}=N",
            Limit::YamlBytes.setting()
        )),
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
        match crate::git::file_in_within(&self.repo, self.id, rel, Limit::YamlBytes.value()) {
            Ok(Some(Within::Bytes(bytes))) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "stream did not contain valid UTF-8".to_string().into()),
            Ok(Some(Within::TooLarge(n))) => Err(too_large(n)),
            Ok(None) => Ok(None),
            Err(e) => Err(e.message().to_string().into()),
        }
    }

    fn nested_pipeline_files(&self) -> Result<Vec<String>, Unreadable> {
        let tree = self
            .repo
            .find_commit(self.id)
            .and_then(|c| c.tree())
            .map_err(|e| e.message().to_string())?;
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if dir.is_empty() {
                return git2::TreeWalkResult::Ok;
            }
            match entry.name() {
                // A link is a blob too; as in the work tree, not followed.
                Some("dvc.yaml")
                    if entry.kind() == Some(git2::ObjectType::Blob)
                        && entry.filemode() != 0o120000 =>
                {
                    paths.push(format!("{dir}dvc.yaml"))
                }
                Some("config") if dir.ends_with("/.dvc/") => paths.push(format!("{dir}config")),
                _ => {}
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(|e| e.message().to_string())?;
        let mut yamls = nested_dvc_yamls(paths.iter().map(String::as_str));
        walk_order(&mut yamls, |_, name| name.to_string());
        Ok(yamls)
    }
}

#[cfg(test)]
mod tests {
    use super::{nested_dvc_yamls, walk_order};

    #[test]
    fn a_walk_meets_a_directory_s_files_before_its_subdirectories() {
        let mut paths: Vec<String> = ["b/z/dvc.yaml", "a/b/dvc.yaml", "b/dvc.yaml", "a/dvc.yaml"]
            .map(String::from)
            .to_vec();
        // Listing order: `b` before `a`.
        walk_order(&mut paths, |_, name| usize::from(name != "b"));
        assert_eq!(
            paths,
            ["b/dvc.yaml", "b/z/dvc.yaml", "a/dvc.yaml", "a/b/dvc.yaml"]
        );
    }

    #[test]
    fn nested_pipelines_outside_sub_projects() {
        let mut got = nested_dvc_yamls(
            [
                "dvc.yaml",
                "z/dvc.yaml",
                "a/b/dvc.yaml",
                "sub/.dvc/config",
                "sub/dvc.yaml",
                "sub/x/dvc.yaml",
                "a/../x/dvc.yaml",
                "notdvc.yaml",
            ]
            .into_iter(),
        );
        got.sort();
        assert_eq!(got, ["a/b/dvc.yaml", "z/dvc.yaml"]);
    }
}
