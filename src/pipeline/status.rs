//! Why a stage is stale: one reason per change, compared with the lock
//! (`mlci.lock`, or `dvc.lock` in a DVC repository used in place).
//!
//! Content is read through the repository format's [`Contents`]: mlci's
//! SHA-256 through the workspace's hash state (one stat per unchanged
//! file), or DVC's MD5 (`dvc::contents`). The current dep hashes and param
//! values computed here are what `repro` writes to the lock and keys the
//! run cache with.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value as Json;

use crate::error::Hint;
use crate::pipeline::dag::overlaps;
use crate::pipeline::lock::{LockEntry, LockStage};
use crate::pipeline::params;
use crate::pipeline::{Pipeline, Stage};
use crate::progress::Reporter;
use crate::track::{TrackError, Workspace};

/// A path's content as the repository's format records it in its lock:
/// the content id (mlci: SHA-256 hex, `….dir` for a directory; DVC: MD5
/// hex, `….dir`), bytes, and files for a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub id: String,
    pub size: u64,
    pub nfiles: Option<u64>,
}

/// How a repository's format reads the content of workspace paths.
pub trait Contents {
    /// The workspace root.
    fn root(&self) -> &Path;
    /// The content of `path` (repo-relative) as the format records it;
    /// `TrackError::NotFound` when nothing is there.
    fn content(&mut self, path: &str, reporter: &dyn Reporter) -> Result<Content, TrackError>;
}

/// mlci's format: SHA-256 through the workspace's hash state, remembered
/// for the next command.
impl Contents for Workspace<'_> {
    fn root(&self) -> &Path {
        &self.repo.root
    }

    fn content(&mut self, path: &str, reporter: &dyn Reporter) -> Result<Content, TrackError> {
        let tree = self.hash_tree(path, false, reporter)?;
        self.record_tree(&tree, false);
        Ok(Content {
            id: tree.oid.to_string(),
            size: tree.size,
            nfiles: tree.nfiles,
        })
    }
}

/// Why a stage must run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    NeverRun,
    AlwaysChanged,
    CmdChanged,
    DepChanged {
        path: String,
        old: Option<String>,
        new: Option<String>,
    },
    DepMissing {
        path: String,
    },
    /// A dep no stage writes and the workspace lacks (DVC: "deleted"):
    /// data not pulled yet, or removed.
    DepDeleted {
        path: String,
    },
    ParamChanged {
        file: String,
        key: String,
        old: Option<Json>,
        new: Option<Json>,
    },
    OutMissing {
        path: String,
    },
    OutModified {
        path: String,
    },
    /// A cached output whose recorded object the cache lacks (DVC's "not
    /// in cache"; judged in a DVC repository used in place).
    OutNotInCache {
        path: String,
    },
    Forced,
    UpstreamChanged {
        stage: String,
    },
}

impl Reason {
    /// The reason in words, with each piece of data (a path, a key, a stage
    /// name) passed through `code` and each value through `plain`, so one
    /// wording serves the terminal (backticks) and Markdown (escaped).
    pub fn describe(
        &self,
        code: &dyn Fn(&str) -> String,
        plain: &dyn Fn(&str) -> String,
    ) -> String {
        let short = |h: &Option<String>| match h {
            Some(h) => h.chars().take(8).collect::<String>(),
            None => "none".into(),
        };
        let val = |v: &Option<Json>| match v {
            Some(v) => plain(&params::show(v)),
            None => "(unset)".into(),
        };
        match self {
            Reason::NeverRun => "never run".into(),
            Reason::AlwaysChanged => "always_changed".into(),
            Reason::CmdChanged => "cmd changed".into(),
            Reason::DepChanged {
                path, old: None, ..
            } => format!("dep {} is new", code(path)),
            Reason::DepChanged { path, old, new } => format!(
                "dep {} changed ({} → {})",
                code(path),
                plain(&short(old)),
                plain(&short(new))
            ),
            Reason::DepMissing { path } => {
                format!(
                    "dep {} is missing (an upstream stage writes it)",
                    code(path)
                )
            }
            Reason::ParamChanged { key, old, new, .. } => {
                format!("param {} {} → {}", code(key), val(old), val(new))
            }
            Reason::DepDeleted { path } => format!("dep {} deleted", code(path)),
            Reason::OutMissing { path } => format!("out {} missing", code(path)),
            Reason::OutNotInCache { path } => format!("out {} not in the cache", code(path)),
            Reason::OutModified { path } => format!("out {} modified", code(path)),
            Reason::Forced => "forced".into(),
            Reason::UpstreamChanged { stage } => {
                format!("upstream stage {} will run", code(stage))
            }
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&|s| format!("`{s}`"), &|s| s.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageStatusError {
    #[error("stage `{stage}`: dep `{dep}` does not exist and no stage writes it")]
    MissingDep {
        stage: String,
        dep: String,
        hint: String,
    },
    #[error("stage `{stage}`: {source}")]
    Params {
        stage: String,
        #[source]
        source: params::ParamsError,
    },
    #[error("stage `{stage}`: {source}")]
    Track {
        stage: String,
        #[source]
        source: TrackError,
    },
}

impl Hint for StageStatusError {
    fn hint(&self) -> Option<String> {
        match self {
            StageStatusError::MissingDep { hint, .. } => Some(hint.clone()),
            StageStatusError::Params { source, .. } => source.hint(),
            StageStatusError::Track { source, .. } => source.hint(),
        }
    }
}

crate::register_hint!(StageStatusError);

/// The stage's inputs as they are now.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub deps: Vec<LockEntry>,
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
    /// Deps that exist nowhere and no stage writes ([`MissingDeps::Report`]).
    pub deleted: Vec<crate::workspace_path::WorkspacePath>,
}

/// Cache of parsed params files for one command.
#[derive(Default)]
pub struct ParamsCache(BTreeMap<String, Json>);

impl ParamsCache {
    fn get(&mut self, root: &Path, file: &str) -> Result<&Json, params::ParamsError> {
        if !self.0.contains_key(file) {
            let v = params::load(root, file)?;
            self.0.insert(file.to_string(), v);
        }
        Ok(&self.0[file])
    }
}

/// What a dep that exists nowhere means: an error before a run (nothing
/// can run without it), a reason to `status` (which goes on, as `dvc
/// status` does, in a fresh clone before `pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingDeps {
    Refuse,
    Report,
}

/// Reads the stage's current dep hashes and param values. A dep that is
/// neither in the workspace nor written by a stage is an error with
/// [`MissingDeps::Refuse`], and left out of the inputs (so [`reasons`]
/// names it) with [`MissingDeps::Report`].
pub fn current_inputs(
    ws: &mut dyn Contents,
    pipeline: &Pipeline,
    stage: &Stage,
    params_cache: &mut ParamsCache,
    missing: MissingDeps,
    reporter: &dyn Reporter,
) -> Result<Inputs, StageStatusError> {
    let root = ws.root().to_path_buf();
    let mut inputs = Inputs::default();
    for dep in &stage.deps {
        match ws.content(dep, reporter) {
            Ok(c) => {
                inputs.deps.push(LockEntry {
                    path: dep.clone(),
                    sha256: c.id,
                    size: c.size,
                    nfiles: c.nfiles,
                });
            }
            Err(TrackError::NotFound { .. }) => {
                let produced = pipeline
                    .stages
                    .iter()
                    .any(|s| s.outs.iter().any(|o| overlaps(&o.path, dep)));
                if !produced && missing == MissingDeps::Refuse {
                    return Err(StageStatusError::MissingDep {
                        stage: stage.name.clone(),
                        dep: dep.to_string(),
                        hint: missing_dep_hint(&root, dep),
                    });
                }
                if !produced {
                    inputs.deleted.push(dep.clone());
                }
            }
            Err(source) => {
                return Err(StageStatusError::Track {
                    stage: stage.name.clone(),
                    source,
                })
            }
        }
    }
    for p in &stage.params {
        let tree = params_cache
            .get(&root, &p.file)
            .map_err(|source| StageStatusError::Params {
                stage: stage.name.clone(),
                source,
            })?;
        let values = inputs.params.entry(p.file.clone()).or_default();
        match &p.keys {
            None => values.extend(params::flatten(tree)),
            Some(keys) => {
                for key in keys {
                    let v = params::lookup(tree, key).ok_or_else(|| StageStatusError::Params {
                        stage: stage.name.clone(),
                        source: params::ParamsError::MissingKey {
                            file: p.file.clone(),
                            key: key.clone(),
                        },
                    })?;
                    values.insert(key.clone(), v.clone());
                }
            }
        }
    }
    Ok(inputs)
}

fn missing_dep_hint(root: &Path, dep: &str) -> String {
    if root.join(format!("{dep}.dvc")).exists() {
        format!("DVC tracks `{dep}` (`{dep}.dvc`), which mlci does not read: `mlci add {dep}` tracks it with mlci")
    } else if root.join(format!("{dep}.mlci")).exists() {
        format!("it is tracked by `{dep}.mlci`: `mlci checkout {dep}` restores it")
    } else {
        format!("create `{dep}`, `mlci add` it, or add a stage whose `outs` include it")
    }
}

/// Compares the stage's current state with its lock entry.
pub fn reasons(
    ws: &mut dyn Contents,
    stage: &Stage,
    inputs: &Inputs,
    lock: Option<&LockStage>,
    reporter: &dyn Reporter,
) -> Result<Vec<Reason>, StageStatusError> {
    let mut out = Vec::new();
    // A stage with neither deps nor outs is DVC's "callback" stage: always
    // changed, like `always_changed: true`.
    // (DVC counts params among a stage's deps.)
    let callback = stage.deps.is_empty() && stage.params.is_empty() && stage.outs.is_empty();
    if stage.always_changed || callback {
        out.push(Reason::AlwaysChanged);
    }
    let Some(lock) = lock else {
        if stage.frozen {
            // Never run and frozen: only what is missing can be said (DVC
            // reports its outs as deleted).
            out.extend(missing_outs(ws, stage));
        } else {
            out.push(Reason::NeverRun);
        }
        return Ok(out);
    };
    if lock.cmd != crate::pipeline::lock::LockCmd::from_cmds(&stage.cmd) {
        out.push(Reason::CmdChanged);
    }
    if stage.frozen {
        // DVC judges a frozen stage by its command and outputs only: its
        // deps and params are not looked at.
        out_reasons(ws, stage, lock, reporter, &mut out)?;
        return Ok(out);
    }
    let old: BTreeMap<&str, &LockEntry> = lock.deps.iter().map(|e| (e.path.as_str(), e)).collect();
    for dep in &stage.deps {
        let now = inputs.deps.iter().find(|e| &e.path == dep);
        match (old.get(dep.as_str()), now) {
            (_, None) if inputs.deleted.contains(dep) => out.push(Reason::DepDeleted {
                path: dep.to_string(),
            }),
            (_, None) => out.push(Reason::DepMissing {
                path: dep.to_string(),
            }),
            (None, Some(n)) => out.push(Reason::DepChanged {
                path: dep.to_string(),
                old: None,
                new: Some(n.sha256.clone()),
            }),
            (Some(o), Some(n)) if o.sha256 != n.sha256 => out.push(Reason::DepChanged {
                path: dep.to_string(),
                old: Some(o.sha256.clone()),
                new: Some(n.sha256.clone()),
            }),
            _ => {}
        }
    }
    let empty = BTreeMap::new();
    for (file, values) in &inputs.params {
        let before = lock.params.get(file).unwrap_or(&empty);
        for (key, v) in values {
            if before.get(key) != Some(v) {
                out.push(Reason::ParamChanged {
                    file: file.clone(),
                    key: key.clone(),
                    old: before.get(key).cloned(),
                    new: Some(v.clone()),
                });
            }
        }
        for (key, v) in before {
            if !values.contains_key(key) {
                out.push(Reason::ParamChanged {
                    file: file.clone(),
                    key: key.clone(),
                    old: Some(v.clone()),
                    new: None,
                });
            }
        }
    }
    out_reasons(ws, stage, lock, reporter, &mut out)?;
    Ok(out)
}

/// Each output that is missing or differs from its lock entry.
fn out_reasons(
    ws: &mut dyn Contents,
    stage: &Stage,
    lock: &LockStage,
    reporter: &dyn Reporter,
    out: &mut Vec<Reason>,
) -> Result<(), StageStatusError> {
    let old_outs: BTreeMap<&str, &LockEntry> =
        lock.outs.iter().map(|e| (e.path.as_str(), e)).collect();
    for o in &stage.outs {
        match ws.content(&o.path, reporter) {
            Ok(c) => {
                if old_outs.get(o.path.as_str()).map(|e| e.sha256.as_str()) != Some(c.id.as_str()) {
                    out.push(Reason::OutModified {
                        path: o.path.to_string(),
                    });
                }
            }
            Err(TrackError::NotFound { .. }) => out.push(Reason::OutMissing {
                path: o.path.to_string(),
            }),
            Err(source) => {
                return Err(StageStatusError::Track {
                    stage: stage.name.clone(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// The outputs that are not in the work tree.
fn missing_outs(ws: &dyn Contents, stage: &Stage) -> Vec<Reason> {
    stage
        .outs
        .iter()
        .filter(|o| fs_err::symlink_metadata(ws.root().join(o.path.as_str())).is_err())
        .map(|o| Reason::OutMissing {
            path: o.path.to_string(),
        })
        .collect()
}

/// A stage's name, whether it is frozen, and why it is stale (empty: up
/// to date). A frozen stage is judged by its command and outputs only.
pub struct StageState {
    pub name: String,
    pub frozen: bool,
    pub reasons: Vec<Reason>,
}

/// Every stage in pipeline-file order (as `dvc status` lists them) with
/// why it is stale, judged against the repository's mlci.lock.
pub fn stage_reasons(
    ws: &mut Workspace,
    pipeline: &Pipeline,
    reporter: &dyn Reporter,
) -> Result<Vec<StageState>, crate::pipeline::repro::ReproError> {
    let lock = crate::pipeline::lock::LockFile::load(&ws.repo.root)?;
    stage_reasons_in(ws, pipeline, &lock, reporter)
}

/// [`stage_reasons`] with any format's contents and lock.
pub fn stage_reasons_in(
    ws: &mut dyn Contents,
    pipeline: &Pipeline,
    lock: &crate::pipeline::lock::LockFile,
    reporter: &dyn Reporter,
) -> Result<Vec<StageState>, crate::pipeline::repro::ReproError> {
    // Built for its checks: a cycle or a shared output is an error here too.
    crate::pipeline::dag::Dag::build(&pipeline.stages)?;
    let mut params = ParamsCache::default();
    let mut out = Vec::new();
    for stage in &pipeline.stages {
        let inputs = if stage.frozen {
            Inputs::default()
        } else {
            current_inputs(
                ws,
                pipeline,
                stage,
                &mut params,
                MissingDeps::Report,
                reporter,
            )?
        };
        let reasons = reasons(ws, stage, &inputs, lock.stages.get(&stage.name), reporter)?;
        out.push(StageState {
            name: stage.name.clone(),
            frozen: stage.frozen,
            reasons,
        });
    }
    Ok(out)
}
