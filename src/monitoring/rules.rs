//! mlci.yaml's `monitor:` section (a predictions log `mlci gate`, `mlci
//! ci`, `mlci report`, `mlci retrain` and `metrics export` check, its latest
//! window against a reference) and where reference values come from: the
//! metrics files at a git revision or at a registry version's commit.
//!
//! ```yaml
//! monitor:
//!   log: monitoring/predictions.parquet   # inside the workspace
//!   reference: churn#prod                 # or a revision
//!   window: day                           # optional: day, week or N rows
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::performance::{self, Task, Window};
use super::MonitoringError;
use crate::data::log::{self, LogColumns};
use crate::repo::Repo;
use crate::review::gate::{self, GateResult};
use crate::review::report::{BesideGates, MonitorView};
use crate::store::cache::Cache;

/// The metric names a reference may give, in the order they are looked
/// for.
pub const REFERENCE_NAMES: [&str; 8] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "mae",
    "rmse",
    "r2",
];

/// mlci.yaml's `monitor:` section.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The predictions log, a workspace path.
    pub log: String,
    /// A revision, or a registry version (`NAME#STAGE`, `NAME@vX.Y.Z`).
    pub reference: String,
    #[serde(default = "day")]
    pub window: String,
    pub task: Option<Task>,
    #[serde(default = "one")]
    pub positive: String,
}

fn day() -> String {
    "day".into()
}

fn one() -> String {
    "1".into()
}

impl Section {
    /// The section of a pipeline (None without one).
    pub fn of(pipeline: &crate::pipeline::Pipeline) -> Result<Option<Section>, MonitoringError> {
        let Some(value) = &pipeline.monitor else {
            return Ok(None);
        };
        crate::yaml::from_value(value.clone(), Path::new("mlci.yaml"))
            .map(Some)
            .map_err(|e| MonitoringError::Section(e.message))
    }
}

/// Reference values by name ([`REFERENCE_NAMES`]): from the metrics files
/// at a git revision, or at a registry version's commit (`spec` with `#`
/// or `@v`), read through `cache`. A key matches when it is the name or
/// ends with `.name`.
pub fn reference_metrics(
    root: &Path,
    cache: &Cache,
    spec: &str,
) -> Result<BTreeMap<String, f64>, MonitoringError> {
    let commit = if crate::registry::is_shortcut(spec) {
        git2::Oid::from_str(&crate::registry::commit_of(root, spec)?).map_err(|e| {
            MonitoringError::Reference {
                spec: spec.into(),
                message: e.message().into(),
            }
        })?
    } else {
        crate::git::resolve_commit(root, spec).map_err(|e| MonitoringError::Reference {
            spec: spec.into(),
            message: e.message().into(),
        })?
    };
    let values = crate::registry::promote::metrics_at(root, cache, commit)?;
    let mut out = BTreeMap::new();
    for name in REFERENCE_NAMES {
        let found = values
            .values()
            .flat_map(|m| m.iter())
            .find(|(k, _)| k.as_str() == name || k.ends_with(&format!(".{name}")));
        if let Some(x) = found.and_then(|(_, v)| crate::pipeline::params::number(v)) {
            out.insert(name.to_string(), x);
        }
    }
    if out.is_empty() {
        return Err(MonitoringError::NoReferenceMetrics(spec.into()));
    }
    Ok(out)
}

/// The latest window's checks of the pipeline's `monitor:` log as gate
/// results, `monitor:LOG:METRIC` (none without the section).
pub fn rules_for(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
) -> Result<Vec<GateResult>, MonitoringError> {
    Ok(judged(repo, pipeline)?.0)
}

/// The pipeline's `monitor:` log judged: the latest labelled window's
/// checks as gate results (`monitor:LOG:METRIC`), and the report's view
/// of every window against the reference (None without the section).
pub fn judged(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
) -> Result<(Vec<GateResult>, Option<MonitorView>), MonitoringError> {
    let Some(s) = Section::of(pipeline)? else {
        return Ok((Vec::new(), None));
    };
    let window: Window = s.window.parse().map_err(MonitoringError::Window)?;
    // The log's path comes from mlci.yaml: inside the workspace only.
    let path = crate::workspace_path::WorkspacePath::new(&s.log)
        .and_then(|p| p.locate_for_read(&repo.root))
        .map_err(|e| MonitoringError::LogPath(e.to_string()))?;
    let log = log::read(&path, &s.log, &LogColumns::default())?;
    let task = s.task.unwrap_or_else(|| performance::detect_task(&log));
    let reference = reference_metrics(&repo.root, &repo.cache, &s.reference)?;
    let windows = super::judge_windows(
        &log,
        &super::Judge {
            task,
            positive: log.label(&s.positive),
            window,
            reference: Some(&reference),
            reference_log: None,
        },
    )?;
    // The gates read the latest window whose labels have arrived.
    let latest = windows.iter().rev().find(|w| w.rows > 0);
    let gates: Vec<GateResult> = latest
        .map(|w| {
            w.checks
                .iter()
                .map(|c| {
                    let mut r = gate::check(
                        &format!("monitor:{}:{}", s.log, c.metric),
                        &format!("{} ({})", c.metric, w.window),
                        c.rule(),
                        c.value.map(serde_json::Value::from).as_ref(),
                        Some(&serde_json::Value::from(c.reference)),
                    );
                    r.passed = c.passed;
                    r.note = (!c.passed).then(|| {
                        format!(
                            "is {} against {}",
                            c.value
                                .map(|v| format!("{v:.4}"))
                                .unwrap_or_else(|| "missing".into()),
                            c.reference
                        )
                    });
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    let view = MonitorView {
        log: s.log.clone(),
        reference: s.reference.clone(),
        window: s.window.clone(),
        latest: latest.map(|w| w.window.clone()),
        passed: gates.iter().all(|g| g.passed),
        charts_md: super::chart::reference_charts(&windows),
    };
    Ok((gates, Some(view)))
}

/// Why the rules beside the metric gates could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum RulesAtError {
    #[error(transparent)]
    Drift(#[from] crate::drift::rules::RulesError),
    #[error(transparent)]
    Monitoring(#[from] MonitoringError),
}

impl crate::error::Hint for RulesAtError {
    fn hint(&self) -> Option<String> {
        match self {
            RulesAtError::Drift(e) => e.hint(),
            RulesAtError::Monitoring(e) => e.hint(),
        }
    }
}

crate::register_hint!(RulesAtError);

/// The rules judged beside the metric gates, the same for every command
/// that judges (`gate`, `report`, `ci`, `retrain`, `metrics export`):
/// mlci.yaml's `drift:` rules with the datasets at `target`, and its
/// `monitor:` log's latest window; their gate results and the drift
/// rules' report sections.
pub fn judged_beside_gates(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    target: &str,
) -> Result<BesideGates, RulesAtError> {
    let (mut gates, drift) = crate::drift::rules::gates_at(repo, pipeline, target)?;
    let (monitor_gates, monitor) = judged(repo, pipeline)?;
    gates.extend(monitor_gates);
    Ok(BesideGates {
        gates,
        drift,
        monitor,
        experiments: None,
    })
}
