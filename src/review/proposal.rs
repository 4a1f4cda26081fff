//! Which files a retraining proposes: pointer files, the lock (`mlci.lock`;
//! in a DVC repository used in place, `.dvc` files and `dvc.lock`), and the
//! metrics and plots files kept in git, whose workspace content differs from
//! the base branch's tip; and the key that names the branch after them.

use sha2::{Digest as _, Sha256};

use crate::pipeline::definition::OutKind;
use crate::pipeline::Pipeline;
use crate::repo::format::Format;
use crate::repo::Repo;

/// One file that differs from the tip.
pub struct Changed {
    /// Repo-relative.
    pub path: String,
    pub bytes: Vec<u8>,
    /// A pointer file or the lock: a change worth a pull request. Metrics
    /// and plots files ride along but never propose one alone.
    pub proposes: bool,
}

/// The files that differ from commit `tip`, sorted by path.
pub fn changed(repo: &Repo, pipeline: &Pipeline, tip: git2::Oid) -> anyhow::Result<Vec<Changed>> {
    let candidates = candidates(repo, pipeline)?;
    let proposes: std::collections::BTreeMap<String, bool> = candidates.iter().cloned().collect();
    let changes =
        crate::revision::worktree_changes(&repo.root, tip, candidates.into_iter().map(|c| c.0))?;
    Ok(changes
        .into_iter()
        .filter_map(|c| {
            let bytes = c.now?;
            Some(Changed {
                proposes: proposes.get(&c.path).copied().unwrap_or(false),
                path: c.path,
                bytes,
            })
        })
        .collect())
}

/// The files a proposal (or an experiment) may record, nothing read yet:
/// (repo-relative path, whether a change of it proposes on its own) for
/// the pointer files, the lock files and the metrics and plots files kept
/// in git.
pub fn candidates(repo: &Repo, pipeline: &Pipeline) -> anyhow::Result<Vec<(String, bool)>> {
    let root = &repo.root;
    let pointers = match repo.format {
        Format::Mlci => crate::track::find_pointers(root)?,
        Format::Dvc => crate::migrate::dvc_files_in(root),
    };
    let mut candidates: Vec<(String, bool)> = pointers.into_iter().map(|p| (p, true)).collect();
    candidates.push((repo.format.lock_file().to_string(), true));
    // A nested `dvc.yaml`'s stages (`sub/dvc.yaml:train`) are locked in
    // the `dvc.lock` beside it.
    let nested: std::collections::BTreeSet<String> = pipeline
        .stages
        .iter()
        .filter_map(|s| s.name.split_once("dvc.yaml:"))
        .filter(|(dir, _)| !dir.is_empty())
        .map(|(dir, _)| format!("{dir}{}", repo.format.lock_file()))
        .collect();
    candidates.extend(nested.into_iter().map(|l| (l, true)));
    // Metrics and plots files kept in git (not cached outputs).
    let cached: Vec<&str> = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.outs)
        .filter(|o| o.cache)
        .map(|o| o.path.as_str())
        .collect();
    let in_git = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.outs)
        .filter(|o| !o.cache && matches!(o.kind, OutKind::Metric | OutKind::Plot))
        .map(|o| o.path.to_string())
        .chain(pipeline.metrics.iter().cloned())
        .chain(
            pipeline
                .plots
                .iter()
                .flat_map(|d| d.sources.iter().map(|s| s.file.clone())),
        );
    for p in in_git {
        if !cached.contains(&p.as_str()) {
            candidates.push((p, false));
        }
    }
    Ok(candidates)
}

/// Eight hex characters of SHA-256 over the changed files' paths and
/// contents: the same data gives the same branch, newer data a new one.
pub fn content_key(changed: &[Changed]) -> String {
    let mut h = Sha256::new();
    for c in changed {
        h.update(c.path.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(&c.bytes));
    }
    hex::encode(h.finalize())[..8].to_string()
}
