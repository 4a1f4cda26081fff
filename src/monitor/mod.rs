//! Monitoring: data drift between two versions of a dataset. `table.rs`
//! and `parquet.rs` read datasets into columns; `stats.rs` holds the
//! statistics (SciPy's definitions); `drift.rs` picks each column's test
//! (Evidently's defaults) and gives the verdicts.

pub mod drift;
mod parquet;
pub mod stats;
pub mod table;
