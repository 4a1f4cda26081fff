//! Metrics and params files a pipeline declares, and what changed between
//! two revisions (read through [`crate::revision::RevReader`]). Files are
//! YAML, JSON or TOML, read into one tree and addressed by dotted paths.

pub mod diff;

use crate::pipeline::{OutKind, Pipeline};

/// The metrics files a pipeline declares (stage `metrics` and top-level).
pub fn metric_files(p: &Pipeline) -> Vec<String> {
    let mut files: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| {
            s.outs
                .iter()
                .filter(|o| o.kind == OutKind::Metric)
                .map(|o| o.path.to_string())
        })
        .chain(p.metrics.iter().cloned())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The params files `params diff` shows, as DVC collects them: those the
/// stages read, the top-level `params:` files, and the root `params.yaml`
/// (whether a stage reads it or not; absent, it adds nothing).
pub fn params_files(p: &Pipeline) -> Vec<String> {
    let mut files: Vec<String> = p
        .stages
        .iter()
        .flat_map(|s| s.params.iter().map(|d| d.file.clone()))
        .chain(p.params.iter().cloned())
        .chain([crate::pipeline::DEFAULT_PARAMS.to_string()])
        .collect();
    files.sort();
    files.dedup();
    files
}
