//! An experiment's record: the files of the work tree that differ from
//! the baseline commit — the lock files, pointer files, params, metrics
//! and plots kept in git (as a retraining proposes them), and every file
//! git tracks that the run or the user changed (DVC's `git add -u`) — in
//! one commit on top of the baseline, under the experiment's ref. The
//! outputs themselves are in the cache already: the repro put them there.
//! Untracked files other than those are not kept, as DVC keeps them not.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::refs::ExpRef;
use super::ExpError;
use crate::pipeline::Pipeline;
use crate::repo::Repo;

/// The trailer naming the queued entry an experiment was run for: what
/// the queue's recovery looks for so a finished entry is never rerun.
pub const ENTRY_TRAILER: &str = "Mlci-Exp-Entry:";

/// What recording did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub reference: ExpRef,
    pub commit: git2::Oid,
    /// The experiment existed with the same files: its commit was kept.
    pub reused: bool,
}

/// How to record.
pub struct RecordOptions<'a> {
    /// The name; else `exp-` and five hex of the recorded files' digest
    /// (DVC's own fallback form), so the same results get the same name.
    pub name: Option<&'a str>,
    /// Replace an experiment of that name with other results.
    pub force: bool,
    /// The queued entry this run was for (a trailer of the commit).
    pub entry: Option<&'a str>,
}

/// Records the work tree of `repo` as an experiment on `baseline`.
///
/// # Errors
/// [`ExpError::Exists`] when the name holds other results and not
/// `force`; a file that cannot be read; git failing.
pub fn record(
    repo: &Repo,
    pipeline: &Pipeline,
    baseline: git2::Oid,
    opts: &RecordOptions,
) -> anyhow::Result<Recorded> {
    let root = &repo.root;
    let git = git2::Repository::open(root)?;
    // Each candidate is read once, by the comparison below.
    let mut paths: Vec<String> = crate::review::proposal::candidates(repo, pipeline)?
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    paths.extend(tracked_changes(&git, baseline)?);
    let changes = crate::revision::worktree_changes(root, baseline, paths)?;
    let mut files: Vec<crate::git::PathChange> = Vec::with_capacity(changes.len());
    for c in changes {
        let now = match c.now {
            Some(bytes) => Some((bytes, mode_of(&root.join(&c.path))?)),
            None => None,
        };
        files.push((c.path, now));
    }
    let digest = digest(&files);
    let name = match opts.name {
        Some(n) => n.to_string(),
        None => format!("exp-{}", &digest[..5]),
    };
    super::refs::check_name(&name)?;
    let reference = ExpRef {
        baseline: baseline.to_string(),
        name,
    };
    let mut message = format!("mlci: commit experiment {digest}\n");
    if let Some(id) = opts.entry {
        message.push_str(&format!("\n{ENTRY_TRAILER} {id}\n"));
    }
    let sig = crate::git::signature_or_default(&git)?;
    let commit = crate::git::commit_changes(&git, baseline, &files, &message, &sig)?;
    let refname = reference.refname();
    if let Ok(existing) = git.refname_to_id(&refname) {
        let same = git.find_commit(existing)?.tree_id() == git.find_commit(commit)?.tree_id();
        if same && !opts.force {
            return Ok(Recorded {
                reference,
                commit: existing,
                reused: true,
            });
        }
        if !opts.force {
            return Err(ExpError::Exists {
                name: reference.name.clone(),
                reference: refname,
            }
            .into());
        }
    }
    git.reference(&refname, commit, true, "mlci: experiment")?;
    Ok(Recorded {
        reference,
        commit,
        reused: false,
    })
}

/// Files git tracks at `baseline` that the work tree changed or removed.
pub fn tracked_changes(
    git: &git2::Repository,
    baseline: git2::Oid,
) -> Result<Vec<String>, ExpError> {
    let tree = git.find_commit(baseline)?.tree()?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(false).ignore_submodules(true);
    let diff = git.diff_tree_to_workdir(Some(&tree), Some(&mut opts))?;
    Ok(diff
        .deltas()
        .filter_map(|d| {
            d.old_file()
                .path()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect())
}

/// The git mode of the work-tree file at `path`.
pub fn mode_of(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs_err::symlink_metadata(path)?;
    Ok(if meta.file_type().is_symlink() {
        0o120000
    } else if meta.permissions().mode() & 0o111 != 0 {
        0o100755
    } else {
        0o100644
    })
}

/// SHA-256 (hex) over the recorded paths and contents.
fn digest(files: &[crate::git::PathChange]) -> String {
    let mut h = Sha256::new();
    for (path, now) in files {
        h.update(path.as_bytes());
        h.update([0]);
        match now {
            Some((bytes, _)) => h.update(Sha256::digest(bytes)),
            None => h.update([1]),
        }
    }
    hex::encode(h.finalize())
}
