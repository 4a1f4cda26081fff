//! The pipeline as the rest of mlci sees it: validated [`Stage`]s with
//! checked workspace paths, plot definitions, and the errors of loading
//! one (see [`super::load()`]).

use crate::error::Hint;
use crate::workspace_path::WorkspacePath;
use crate::yaml::{self, YamlError};

pub const MLCI_YAML: &str = "mlci.yaml";
pub const DVC_YAML: &str = "dvc.yaml";
pub const DEFAULT_PARAMS: &str = "params.yaml";

/// What a stage writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Repo-relative, `/`-separated, checked.
    pub path: WorkspacePath,
    pub cache: bool,
    pub persist: bool,
    /// DVC's `push: false`: kept in the cache, never uploaded by a push
    /// (pulls still ask for it, as DVC's do).
    pub push: bool,
    pub kind: OutKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    Out,
    Metric,
    Plot,
}

/// Params a stage reads: dotted keys of one file, or the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDep {
    /// Repo-relative params file.
    pub file: String,
    /// None: every key in the file.
    pub keys: Option<Vec<String>>,
}

/// One expanded, validated stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub cmd: Vec<String>,
    /// Repo-relative working directory ("" for the root).
    pub wdir: String,
    pub deps: Vec<WorkspacePath>,
    pub outs: Vec<Output>,
    pub params: Vec<ParamDep>,
    pub frozen: bool,
    pub always_changed: bool,
    pub desc: Option<String>,
}

/// One plot: which fields of which files to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotDef {
    /// The top-level id, or the file path for a stage plot.
    pub id: String,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub template: Option<String>,
    /// (repo-relative file, x field or None for the row index, y fields or
    /// empty for "the last numeric column").
    pub sources: Vec<PlotSource>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotSource {
    pub file: String,
    pub x: Option<String>,
    pub y: Vec<String>,
    /// Where `x` comes from when another file holds it (`x: {a.csv:
    /// actual}` beside `y: {b.csv: predicted}`): DVC pairs the two files
    /// row by row.
    pub x_file: Option<String>,
}

/// The loaded pipeline.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// The file the stages came from (mlci.yaml or dvc.yaml), if any.
    pub source: Option<String>,
    pub stages: Vec<Stage>,
    /// Top-level metrics files (repo-relative).
    pub metrics: Vec<String>,
    /// Top-level `params:` files (repo-relative): shown by `params diff`
    /// beside the stages' own, as DVC shows them.
    pub params: Vec<String>,
    /// Plot definitions, from stage `plots:` and the top-level `plots:`.
    pub plots: Vec<PlotDef>,
    /// Keys present that mlci accepts but does not act on yet.
    pub unused_keys: Vec<String>,
    pub gates: Option<yaml::Value>,
    pub report: Option<yaml::Value>,
    /// mlci.yaml's `drift:` section, parsed by `drift::rules`.
    pub drift: Option<yaml::Value>,
    /// mlci.yaml's `monitor:` section (a predictions log to gate on).
    pub monitor: Option<yaml::Value>,
}

impl Pipeline {
    /// The stages a target names, as DVC reads a stage target: a stage
    /// (`train`, `build@low`), a `foreach`/`matrix` group (`build`: every
    /// `build@…`), either one addressed through its file (`dvc.yaml:train`).
    /// None: the target names no stage.
    /// The outputs marked `push: false`, repo-relative.
    pub fn unpushed(&self) -> std::collections::BTreeSet<String> {
        self.stages
            .iter()
            .flat_map(|s| &s.outs)
            .filter(|o| !o.push)
            .map(|o| o.path.to_string())
            .collect()
    }

    pub fn stages_named(&self, target: &str) -> Option<Vec<usize>> {
        let target = target.strip_prefix("./").unwrap_or(target);
        let is_file = |f: &str| f == DVC_YAML || f == MLCI_YAML || f.ends_with("/dvc.yaml");
        // A pipeline file names all of its stages (DVC's `dvc repro
        // sub/dvc.yaml`); `FILE:NAME` one stage or group of it.
        let (file, name) = match target.rsplit_once(':') {
            Some((file, name)) if is_file(file) => (Some(file), Some(name)),
            _ if is_file(target) => (Some(target), None),
            _ => (None, Some(target)),
        };
        let qualified = match file {
            Some(f) if f.ends_with("/dvc.yaml") => Some(format!("{f}:")),
            _ => None,
        };
        let found: Vec<usize> = self
            .stages
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let local = match &qualified {
                    Some(q) => match s.name.strip_prefix(q.as_str()) {
                        Some(rest) => rest,
                        None => return false,
                    },
                    // A root file's stages are the unqualified ones.
                    None if file.is_some() && s.name.contains("/dvc.yaml:") => return false,
                    None => s.name.as_str(),
                };
                match name {
                    None => true,
                    Some(n) => {
                        local == n || local.strip_prefix(n).is_some_and(|r| r.starts_with('@'))
                    }
                }
            })
            .map(|(i, _)| i)
            .collect();
        (!found.is_empty()).then_some(found)
    }

    /// Stage and group names near `target` (a typo's likely intent), best
    /// first, at most five.
    pub fn near_names(&self, target: &str) -> Vec<String> {
        let mut names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        names.extend(
            self.stages
                .iter()
                .filter_map(|s| s.name.split_once('@').map(|g| g.0)),
        );
        near(target, names)
    }
}

/// Of `candidates`, those within a small edit distance of `target` or
/// sharing its beginning, best first, at most five.
pub fn near<'a>(target: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let d = strsim::levenshtein(target, c);
            let close = d <= 2.max(target.len() / 3)
                || (target.len() >= 3 && (c.starts_with(target) || target.starts_with(c)));
            close.then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(5)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}{}: stage `{stage}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Stage {
        file: String,
        line: Option<usize>,
        stage: String,
        message: String,
        hint: Option<String>,
    },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    File {
        file: String,
        line: Option<usize>,
        message: String,
        hint: Option<String>,
    },
}

impl Hint for PipelineError {
    fn hint(&self) -> Option<String> {
        match self {
            PipelineError::Yaml(e) if e.message.contains("unknown field") => Some(
                "mlci.yaml accepts the keys dvc.yaml does (stages, vars, params, metrics, plots, artifacts, datasets) plus gates, report, promotion, drift and monitor".into(),
            ),
            PipelineError::Yaml(_) => Some(
                "stage fields follow dvc.yaml's schema (cmd, deps, outs, params, metrics, plots, frozen, always_changed, wdir, ...); see the README".into(),
            ),
            PipelineError::Stage { hint, .. } | PipelineError::File { hint, .. } => hint.clone(),
        }
    }
}

crate::register_hint!(PipelineError);
