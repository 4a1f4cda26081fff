//! `dvc.lock` as the lock stages are judged against: each stage of the
//! pipeline with the entry DVC recorded for it (the root `dvc.lock`, or
//! the `dvc.lock` beside a nested `dvc.yaml`; paths made root-relative
//! through the stage's directory), and which paths DVC recorded with DVC
//! 2's `md5-dos2unix` (entries without `hash: md5`).

use std::collections::BTreeSet;
use std::path::Path;

use super::DvcError;
use crate::migrate::dvc_files::{parse_dvc_lock, under, DvcLockStage, DvcOut};
use crate::pipeline::lock::{LockCmd, LockEntry, LockFile, LockStage};
use crate::pipeline::source::{Source, WorkTree};
use crate::pipeline::Pipeline;
use crate::workspace_path::WorkspacePath;

/// The lock of `pipeline`'s stages, and the paths recorded with DVC 2's
/// hash.
pub struct DvcLock {
    pub lock: LockFile,
    pub legacy: BTreeSet<String>,
}

/// Reads the `dvc.lock` files of `pipeline`'s stages under `root`.
pub fn load(root: &Path, pipeline: &Pipeline) -> Result<DvcLock, DvcError> {
    load_from(&WorkTree(root), pipeline)
}

/// Reads the `dvc.lock` files of `pipeline`'s stages from `src` (the work
/// tree, or a commit's tree).
pub fn load_from(src: &dyn Source, pipeline: &Pipeline) -> Result<DvcLock, DvcError> {
    let mut files: std::collections::BTreeMap<String, _> = Default::default();
    let mut out = DvcLock {
        lock: LockFile::default(),
        legacy: BTreeSet::new(),
    };
    for stage in &pipeline.stages {
        // `sub/dvc.yaml:train` is `train` in `sub/dvc.lock`.
        let (dir, local) = match stage.name.split_once("dvc.yaml:") {
            Some((dir, local)) => (dir.trim_end_matches('/').to_string(), local.to_string()),
            None => (String::new(), stage.name.clone()),
        };
        let lock_rel = if dir.is_empty() {
            "dvc.lock".to_string()
        } else {
            format!("{dir}/dvc.lock")
        };
        if !files.contains_key(&lock_rel) {
            let bad = |message: String| DvcError::File {
                file: lock_rel.clone(),
                message,
            };
            let parsed = match src.read(&lock_rel).map_err(|e| bad(e.message))? {
                Some(text) => parse_dvc_lock(&text).map_err(bad)?,
                None => Default::default(),
            };
            files.insert(lock_rel.clone(), parsed);
        }
        let Some(recorded) = files[&lock_rel].get(&local) else {
            continue;
        };
        let wdir = if stage.wdir.is_empty() || stage.wdir == "." {
            dir.clone()
        } else {
            stage.wdir.clone()
        };
        let entry = stage_entry(recorded, &wdir, &lock_rel, &mut out.legacy)?;
        out.lock.stages.insert(stage.name.clone(), entry);
    }
    Ok(out)
}

fn stage_entry(
    s: &DvcLockStage,
    wdir: &str,
    file: &str,
    legacy: &mut BTreeSet<String>,
) -> Result<LockStage, DvcError> {
    let mut entries = |list: &[DvcOut]| -> Result<Vec<LockEntry>, DvcError> {
        let mut v = Vec::new();
        for o in list {
            let bad = |message: String| DvcError::File {
                file: file.to_string(),
                message,
            };
            let rel = under(wdir, &o.path)
                .ok_or_else(|| bad(format!("`{}` is outside the repository", o.path)))?;
            let path = WorkspacePath::new(&rel).map_err(|e| bad(e.to_string()))?;
            if o.hash.as_deref() != Some("md5") {
                legacy.insert(rel.clone());
            }
            v.push(LockEntry {
                path,
                sha256: o.md5.clone().unwrap_or_default(),
                size: o.size.unwrap_or(0),
                nfiles: o.nfiles,
            });
        }
        Ok(v)
    };
    Ok(LockStage {
        cmd: LockCmd::from_cmds(&s.commands()),
        deps: entries(&s.deps)?,
        params: s
            .params
            .iter()
            .map(|(f, v)| (under(wdir, f).unwrap_or_else(|| f.clone()), v.clone()))
            .collect(),
        outs: entries(&s.outs)?,
    })
}
