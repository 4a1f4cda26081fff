//! Data reading: tables from CSV/TSV, JSON Lines and Parquet into compact
//! columns (`table.rs`, `parquet.rs`: decoded at once, or Parquet decoded
//! in column groups when asked), datasets found as files, shard
//! directories or `PATH@REV` through the cache and remote (`dataset.rs`),
//! and predictions logs (`log.rs`). Drift (`drift/`) and production
//! monitoring (`monitoring/`) read their inputs through here.

pub mod dataset;
pub mod log;
mod parquet;
pub mod table;

use crate::error::Hint;

/// Why a dataset could not be read (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Table(#[from] table::TableError),
    #[error(transparent)]
    AtCommit(#[from] crate::revision::RevisionError),
    #[error("{shown}: revision `{rev}` does not exist: {message}")]
    Rev {
        shown: String,
        rev: String,
        message: String,
    },
    #[error("{0}")]
    Fetch(String),
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Hint for DataError {
    fn hint(&self) -> Option<String> {
        match self {
            DataError::Table(e) => e.hint(),
            DataError::AtCommit(e) => e.hint(),
            DataError::Rev { .. } => Some(
                "name a commit, branch or tag (shallow CI checkouts need `fetch-depth: 0`)".into(),
            ),
            DataError::Fetch(_) | DataError::Other(_) | DataError::Io(_) => None,
        }
    }
}

crate::register_hint!(DataError);
