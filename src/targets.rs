//! What a command's targets name, as DVC reads them: tracked paths (a
//! tracked path, its pointer file, a directory holding pointers, a part of
//! a tracked directory), stage and group names standing for their
//! outputs, and the cached outputs mlci.lock records. Above `track` and
//! `pipeline`, which it joins; every command that takes targets selects
//! through here.

use std::path::{Path, PathBuf};

use crate::error::Hint;
use crate::repo::{Repo, RepoError};
use crate::track::{all_tracked, TrackError, Tracked};

/// Why targets could not be selected (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("`{target}` is neither a stage nor a path mlci tracks")]
    Unknown { target: String, near: Vec<String> },
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Lock(#[from] crate::pipeline::lock::LockFileError),
}

impl Hint for TargetError {
    fn hint(&self) -> Option<String> {
        match self {
            TargetError::Unknown { near, .. } => {
                Some(format!("did you mean: {}?", near.join(", ")))
            }
            TargetError::Track(e) => e.hint(),
            TargetError::Repo(e) => e.hint(),
            TargetError::Lock(e) => e.hint(),
        }
    }
}

crate::register_hint!(TargetError);

/// The tracked paths named by `targets` (a tracked path, its pointer file,
/// or a directory containing pointers); all of them when `targets` is empty.
pub fn select_tracked(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
) -> Result<Vec<Tracked>, TargetError> {
    select_from(repo, cwd, targets, all_tracked(&repo.root)?)
}

/// Like [`select_tracked`], also counting the cached outputs recorded in
/// mlci.lock (what `checkout` restores).
pub fn select_with_lock_outs(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
) -> Result<Vec<Tracked>, TargetError> {
    let mut all = all_tracked(&repo.root)?;
    all.extend(lock_tracked(&repo.root)?);
    select_from(repo, cwd, targets, all)
}

/// Cached stage outputs from mlci.lock (an output the pipeline marks
/// `cache: false` lives in git and is not restored), each with the
/// pipeline's `push` flag.
pub fn lock_tracked(root: &Path) -> Result<Vec<Tracked>, TargetError> {
    let lock = crate::pipeline::lock::LockFile::load(root)?;
    if lock.stages.is_empty() {
        return Ok(Vec::new());
    }
    let pipeline = crate::pipeline::load(root).ok();
    Ok(crate::pipeline::lock::cached_outs(&lock, pipeline.as_ref()))
}

fn select_from(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
    all: Vec<Tracked>,
) -> Result<Vec<Tracked>, TargetError> {
    if targets.is_empty() {
        return Ok(all);
    }
    let mut out: Vec<Tracked> = Vec::new();
    for target in targets {
        let rel = repo.resolve_user_path(cwd, target)?;
        let prefix = format!("{rel}/");
        // The tracked path itself, its pointer, tracked paths below a
        // directory named, or a part of a tracked directory.
        let mut matched: Vec<Tracked> = Vec::new();
        for t in &all {
            if t.target_rel == rel || t.pointer_rel == rel || t.target_rel.starts_with(&prefix) {
                matched.push(t.clone());
            } else if let Some(part) = rel.strip_prefix(&format!("{}/", t.target_rel)) {
                if t.pointer.oid.dir {
                    let mut partial = t.clone();
                    partial.only = Some(part.to_string());
                    matched.push(partial);
                }
            }
        }
        if matched.is_empty() {
            // A stage or group name stands for the stage's outputs, as in
            // `dvc push train`.
            let outs = stage_outs(repo, target);
            matched = all
                .iter()
                .filter(|t| {
                    outs.iter()
                        .any(|o| t.target_rel == *o || t.target_rel.starts_with(&format!("{o}/")))
                })
                .cloned()
                .collect();
        }
        if matched.is_empty() {
            let shown = rel.strip_suffix(".mlci").unwrap_or(&rel).to_string();
            return Err(unknown_target(repo, &shown, &all));
        }
        for t in matched {
            let whole = |o: &Tracked| o.pointer_rel == t.pointer_rel && o.only.is_none();
            if out.iter().any(whole) {
                continue;
            }
            if t.only.is_none() {
                // The whole directory supersedes parts of it asked before.
                out.retain(|o| o.pointer_rel != t.pointer_rel);
            }
            if !out
                .iter()
                .any(|o| o.pointer_rel == t.pointer_rel && o.only == t.only)
            {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// The outputs of the stages `target` names (none when it names none).
fn stage_outs(repo: &Repo, target: &Path) -> Vec<String> {
    let Some(name) = target.to_str() else {
        return Vec::new();
    };
    let Ok(pipeline) = crate::pipeline::load(&repo.root) else {
        return Vec::new();
    };
    pipeline
        .stages_named(name)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| pipeline.stages[i].outs.iter().map(|o| o.path.to_string()))
        .collect()
}

/// A target that is neither a stage nor a tracked path: the error names
/// both kinds of near match.
fn unknown_target(repo: &Repo, target: &str, tracked: &[Tracked]) -> TargetError {
    let mut near: Vec<String> = crate::pipeline::load(&repo.root)
        .map(|p| p.near_names(target))
        .unwrap_or_default();
    near.extend(crate::pipeline::definition::near(
        target,
        tracked.iter().map(|t| t.target_rel.as_str()),
    ));
    if near.is_empty() {
        return TrackError::NotTracked {
            target: target.into(),
        }
        .into();
    }
    TargetError::Unknown {
        target: target.into(),
        near,
    }
}

/// A command's targets as DVC reads them: the stages that stage or group
/// names select (a name that is also a path in the work tree is a path),
/// and the rest as paths.
pub struct Targets {
    pub stages: Vec<usize>,
    pub paths: Vec<PathBuf>,
}

/// Splits `targets` into stage selections and paths (relative to `cwd`).
pub fn split_targets(
    pipeline: &crate::pipeline::Pipeline,
    cwd: &Path,
    targets: &[PathBuf],
) -> Targets {
    let mut out = Targets {
        stages: Vec::new(),
        paths: Vec::new(),
    };
    for t in targets {
        // A name that is also a file in the workspace is a path, except a
        // pipeline file, which stands for its stages (`dvc status sub/dvc.yaml`).
        let pipeline_file = |name: &str| {
            let file = name.rsplit_once(':').map_or(name, |(f, _)| f);
            let file = file.strip_prefix("./").unwrap_or(file);
            file == crate::pipeline::definition::DVC_YAML
                || file == crate::pipeline::definition::MLCI_YAML
                || file.ends_with("/dvc.yaml")
        };
        let named = t
            .to_str()
            .filter(|name| pipeline_file(name) || fs_err::symlink_metadata(cwd.join(t)).is_err())
            .and_then(|name| pipeline.stages_named(name));
        match named {
            Some(found) => out.stages.extend(found),
            None => out.paths.push(t.clone()),
        }
    }
    out.stages.sort_unstable();
    out.stages.dedup();
    out
}
