//! Pipelines: the definition (`mlci.yaml` / `dvc.yaml` loaded into
//! stages), the stage graph, the lock file, why a stage is stale, and
//! rerunning exactly the stale stages (with a run cache).

pub mod argo;
pub mod dag;
pub mod definition;
pub mod interpolate;
pub mod load;
pub mod lock;
pub mod params;
pub mod params_py;
pub mod parsing;
pub mod plan;
pub mod repro;
pub(crate) mod run;
pub mod runcache;
pub mod source;
pub mod status;
pub mod supervise;
mod wire;

pub use definition::{
    OutKind, Output, ParamDep, Pipeline, PipelineError, PlotDef, PlotSource, Stage, DEFAULT_PARAMS,
    DVC_YAML, MLCI_YAML,
};
pub use load::{load, source_path};
