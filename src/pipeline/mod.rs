//! Pipelines: the stage graph, the lock file, why a stage is stale, and
//! rerunning exactly the stale stages (with a run cache).

pub mod dag;
pub mod lock;
pub mod repro;
pub mod runcache;
pub mod status;

pub use crate::config::pipeline::{load, OutKind, Output, ParamDep, Pipeline, Stage};
