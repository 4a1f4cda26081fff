//! The workspace's own machinery (`.mlci/`, its cache, its temp area and
//! the machine's `config.local.yaml`) is the machine's, never a commit's.
//! A pull request that commits `config.local.yaml` could move the cache
//! anywhere on the runner; one that commits `.mlci/cache` (objects, or a
//! link) could poison what mlci later pushes to the shared remote or send
//! its clean-ups out of the workspace. Checked once where every command
//! finds its workspace, before any setting is read: a few tree lookups in
//! HEAD, and the index only when something on disk looks suspicious (a
//! `config.local.yaml` or a link), so a clean workspace pays no index read.

use std::path::Path;

use git2::Repository;

use super::{RepoError, MLCI_DIR};
use crate::config::LOCAL_CONFIG_FILE;

/// The entries of `.mlci/` that only the machine may hold, as paths
/// relative to the work tree root.
fn machine_only() -> [String; 3] {
    [
        format!("{MLCI_DIR}/{LOCAL_CONFIG_FILE}"),
        format!("{MLCI_DIR}/cache"),
        format!("{MLCI_DIR}/tmp"),
    ]
}

/// A git file mode's "symbolic link" bits.
const LINK_MODE: u32 = 0o120000;

/// Refuses a workspace whose machinery git tracks: `.mlci` committed as a
/// link, or `.mlci/config.local.yaml`, `.mlci/cache` or `.mlci/tmp` (or
/// anything below the last two) at HEAD or in the index. An untracked link
/// a user made on purpose (the cache on another disk) is not refused.
///
/// # Errors
/// [`RepoError::TrackedMachinery`] naming the path; [`RepoError::Git`] when
/// the repository cannot be read.
pub fn check(root: &Path) -> Result<(), RepoError> {
    let repo = Repository::open(root)?;
    let refuse = |path: String, link: bool| RepoError::TrackedMachinery { path, link };
    if let Ok(tree) = repo.head().and_then(|h| h.peel_to_tree()) {
        if let Ok(entry) = tree.get_path(Path::new(MLCI_DIR)) {
            if entry.filemode() as u32 == LINK_MODE {
                return Err(refuse(MLCI_DIR.into(), true));
            }
        }
        for path in machine_only() {
            if let Ok(entry) = tree.get_path(Path::new(&path)) {
                return Err(refuse(path, entry.filemode() as u32 == LINK_MODE));
            }
        }
    }
    // The index differs from HEAD only by what someone staged here; read it
    // only when something on disk could have come from there.
    let mlci = root.join(MLCI_DIR);
    let is_link = |p: &Path| {
        p.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
    };
    let mut suspects: Vec<String> = Vec::new();
    if is_link(&mlci) {
        suspects.push(MLCI_DIR.into());
    }
    for path in machine_only() {
        let abs = root.join(&path);
        if is_link(&abs) || (path.ends_with(LOCAL_CONFIG_FILE) && abs.exists()) {
            suspects.push(path);
        }
    }
    if suspects.is_empty() {
        return Ok(());
    }
    let index = repo.index()?;
    for path in suspects {
        if let Some(entry) = index.get_path(Path::new(&path), 0) {
            return Err(refuse(path, entry.mode == LINK_MODE));
        }
    }
    Ok(())
}
