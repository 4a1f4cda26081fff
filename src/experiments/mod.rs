//! Experiments: pipeline runs with some params set, kept as git refs in
//! DVC's layout (`refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`, each a
//! commit whose parent is the baseline), so that in a DVC repository used
//! in place `dvc exp show` lists mlci's experiments and the reverse.
//!
//! - [`refs`]: the ref layout, finding an experiment by name;
//! - [`set`]: `-S FILE:KEY=VALUE` overrides, their grids, and writing them
//!   into params files the way DVC's Hydra-based `--set-param` does;
//! - [`record`]: the files an experiment keeps and its commit;
//! - [`queue`]: queued experiments and the journal that runs each once;
//! - [`table`]: what `exp show` and `exp diff` read at each experiment.

pub mod queue;
pub mod record;
pub mod refs;
pub mod set;
pub mod table;

/// Why an experiment command could not do its work (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ExpError {
    #[error("`-S {arg}`: {message}")]
    Override { arg: String, message: String },
    #[error("{file}: cannot set `{key}`: {message}")]
    Param {
        file: String,
        key: String,
        message: String,
    },
    #[error("no experiment named `{name}`")]
    Unknown { name: String, known: Vec<String> },
    #[error("git remote `{remote}` has no experiment `{name}`")]
    NotOnRemote { name: String, remote: String },
    #[error("experiment name `{name}` is used by {count} experiments on different baselines")]
    Ambiguous { name: String, count: usize },
    #[error("experiment `{name}` already exists with other results ({reference})")]
    Exists { name: String, reference: String },
    #[error("`{name}` is not a valid experiment name")]
    BadName { name: String },
    #[error("branch `{name}` already exists")]
    BranchExists { name: String },
    #[error("the queue's journal {file}: {message}")]
    Journal { file: String, message: String },
    #[error("no queued experiment `{id}`")]
    UnknownEntry { id: String },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::error::Hint for ExpError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ExpError::Override { .. } => "write `-S [FILE:]KEY=VALUE` (FILE defaults to params.yaml), several values as `KEY=V1,V2,V3` with --queue".into(),
            ExpError::Param { file, .. } => format!(
                "`-S` changes a key {file} already has (as DVC's --set-param does): check the spelling with `mlci params diff`, or add the key to {file} first"
            ),
            ExpError::Unknown { known, .. } if known.is_empty() => {
                "run one first: `mlci exp run -S KEY=VALUE`".into()
            }
            ExpError::Unknown { known, .. } => format!("known experiments: {}", known.join(", ")),
            ExpError::NotOnRemote { remote, .. } => format!(
                "push it from the clone that ran it (`mlci exp push {remote} NAME`); `git ls-remote {remote} 'refs/exps/*'` lists what `{remote}` has"
            ),
            ExpError::Ambiguous { .. } => "name it by its ref (`mlci exp list --all-commits` shows each)".into(),
            ExpError::Exists { .. } => "name it otherwise with `-n NAME`, or replace it with `--force`".into(),
            ExpError::BadName { .. } => "use letters, digits, `-`, `_` and `.` (a git ref name, no `/`)".into(),
            ExpError::BranchExists { .. } => "choose another branch name, or delete the branch first (`git branch -D NAME`)".into(),
            ExpError::Journal { .. } => "the queue lives under the repository's private state; `mlci exp queue status` shows it, `mlci exp queue remove --all` clears it".into(),
            ExpError::UnknownEntry { .. } => "`mlci exp queue status` lists the queued experiments".into(),
            ExpError::Git(_) => "check the repository with `git status`".into(),
            ExpError::Io(e) => return crate::error::io_hint(e),
        })
    }
}

crate::register_hint!(ExpError);
