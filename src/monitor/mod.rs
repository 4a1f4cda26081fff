//! Monitoring: data drift between two versions of a dataset. `table.rs`
//! and `parquet.rs` read datasets into columns, `dataset.rs` finds them
//! (files, shard directories, `PATH@REV`); `stats.rs` holds the statistics
//! (SciPy's definitions); `drift.rs` picks each column's test (Evidently's
//! defaults) and gives the verdicts; `rules.rs` is the `drift:` section of
//! mlci.yaml (settings and the rules gates evaluate).

pub mod dataset;
pub mod drift;
pub mod exposition;
pub mod log;
mod parquet;
pub mod performance;
pub mod pushgateway;
pub mod rules;
pub mod stats;
pub mod table;
pub mod view;

use crate::error::Hint;

/// Why a drift comparison could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Table(#[from] table::TableError),
    #[error(transparent)]
    Drift(#[from] drift::DriftError),
    #[error(transparent)]
    AtCommit(#[from] crate::sync::at_commit::AtCommitError),
    #[error("{shown}: revision `{rev}` does not exist: {message}")]
    Rev {
        shown: String,
        rev: String,
        message: String,
    },
    #[error("mlci.yaml: `drift`: {0}")]
    Definition(String),
    #[error("{0}")]
    Fetch(String),
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Hint for MonitorError {
    fn hint(&self) -> Option<String> {
        match self {
            MonitorError::Table(e) => e.hint(),
            MonitorError::Drift(e) => e.hint(),
            MonitorError::AtCommit(e) => e.hint(),
            MonitorError::Rev { .. } => Some("name a commit, branch or tag (shallow CI checkouts need `fetch-depth: 0`)".into()),
            MonitorError::Definition(_) => Some("`drift:` takes `share`, `columns: {NAME: {type, method, threshold, bins}}` and `rules: [{dataset, reference | reference_path, columns, share}]` (see docs/drift.md)".into()),
            MonitorError::Fetch(_) | MonitorError::Other(_) | MonitorError::Io(_) => None,
        }
    }
}

crate::register_hint!(MonitorError);
