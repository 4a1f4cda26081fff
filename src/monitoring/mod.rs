//! Production monitoring: a model's performance per window of its
//! predictions log (`performance.rs`, scikit-learn's definitions) against
//! reference values, the drift of each window's predictions, and
//! mlci.yaml's `monitor:` section judged like metric gates (`rules.rs`).

pub mod chart;
pub mod performance;
pub mod rules;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::data::log::{Log, Value};
use crate::data::table::{Column, Kind, Table};
use crate::drift::{self, ColumnDrift, Options};
use crate::error::Hint;
use crate::review::direction::default_for;
use performance::{Check, Task, Window};

/// Why a predictions log could not be judged (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("mlci.yaml: `monitor`: {0}")]
    Section(String),
    #[error("mlci.yaml: `monitor.window`: {0}")]
    Window(String),
    #[error("mlci.yaml: `monitor.log`: {0}")]
    LogPath(String),
    #[error("reference `{spec}` does not exist: {message}")]
    Reference { spec: String, message: String },
    #[error("reference {0}: no metric named accuracy, precision, recall, f1, roc_auc, mae, rmse or r2 in its metrics files")]
    NoReferenceMetrics(String),
    #[error(transparent)]
    Table(#[from] crate::data::table::TableError),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Drift(#[from] drift::DriftError),
}

impl Hint for MonitoringError {
    fn hint(&self) -> Option<String> {
        match self {
            MonitoringError::Section(_) => Some("`monitor:` takes `log`, `reference` (a revision or `NAME#STAGE`), and optionally `window`, `task`, `positive`".into()),
            MonitoringError::Window(_) => Some("day, week or a row count".into()),
            MonitoringError::LogPath(_) => Some("name a file inside the repository".into()),
            MonitoringError::Reference { .. } => Some("name a commit, branch or tag, or a registry version (`NAME@vX.Y.Z`, `NAME#STAGE`)".into()),
            MonitoringError::NoReferenceMetrics(_) => Some("record the model's metrics under those names in a metrics file the pipeline declares".into()),
            MonitoringError::Table(e) => e.hint(),
            MonitoringError::Limit(e) => e.hint(),
            MonitoringError::Registry(e) => e.hint(),
            MonitoringError::Drift(e) => e.hint(),
        }
    }
}

crate::register_hint!(MonitoringError);

/// One window of a predictions log, judged.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// `2026-03-29`, `2026-W13`, or `rows 1-1000`.
    pub window: String,
    pub rows: usize,
    /// Each metric's value (None when undefined for the window).
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Why each undefined metric is undefined (scikit-learn's reason).
    pub undefined: BTreeMap<String, String>,
    /// Each metric with a reference value, checked.
    pub checks: Vec<Check>,
    /// The drift of the window's predictions against the reference
    /// predictions, when given.
    pub prediction_drift: Option<ColumnDrift>,
    pub passed: bool,
}

/// What is judged and against what.
pub struct Judge<'a> {
    pub task: Task,
    /// The positive label (binary classifiers).
    pub positive: Value,
    pub window: Window,
    pub reference: Option<&'a BTreeMap<String, f64>>,
    /// The predictions the model was validated on.
    pub reference_log: Option<&'a Log>,
}

/// Every window of `log`: metrics, checks against the reference, and the
/// drift of its predictions against the reference predictions.
pub fn judge_windows(log: &Log, j: &Judge) -> Result<Vec<WindowReport>, MonitoringError> {
    let binary = performance::is_binary(log);
    let reference_predictions = j.reference_log.map(|l| {
        let all: Vec<usize> = (0..l.ts.len()).collect();
        predictions_table(l, &all).into()
    });
    let mut out = Vec::new();
    for (name, rows) in performance::windows(log, j.window) {
        let m = performance::metrics(log, &rows, j.task, (j.positive, binary));
        let checks = j
            .reference
            .map(|r| performance::check(&m, r, j.task, &default_for))
            .unwrap_or_default();
        let prediction_drift = match &reference_predictions {
            Some(r) => drift::compare(
                r,
                &predictions_table(log, &rows).into(),
                &Options::default(),
                &crate::progress::Silent,
            )?
            .columns
            .into_iter()
            .next(),
            None => None,
        };
        let drifted = prediction_drift.as_ref().is_some_and(|c| c.drifted);
        let undefined = m
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| (k.clone(), performance::why_undefined(k, log, &rows, binary)))
            .collect();
        out.push(WindowReport {
            window: name,
            rows: rows.len(),
            undefined,
            passed: checks.iter().all(|c| c.passed) && !drifted,
            metrics: m,
            checks,
            prediction_drift,
        });
    }
    // Windows whose labels have not arrived: named, nothing judged.
    let names: Vec<String> = out
        .first()
        .map(|w| w.metrics.keys().cloned().collect())
        .unwrap_or_default();
    let waiting = performance::unlabelled_windows(log, j.window);
    let add = !waiting.is_empty();
    for (name, rows) in waiting {
        out.push(WindowReport {
            window: name,
            rows: 0,
            metrics: names.iter().map(|n| (n.clone(), None)).collect(),
            undefined: names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        format!("no labels yet ({rows} unlabelled row(s))"),
                    )
                })
                .collect(),
            checks: Vec::new(),
            prediction_drift: None,
            passed: true,
        });
    }
    if add {
        // Day and week names sort as dates.
        out.sort_by(|a, b| a.window.cmp(&b.window));
    }
    Ok(out)
}

/// The predictions of `rows` as a one-column table for the drift test.
fn predictions_table(log: &Log, rows: &[usize]) -> Table {
    let numeric = rows
        .iter()
        .all(|&i| matches!(log.prediction.get(i), Value::Number(_)));
    let mut col = Column {
        name: "prediction".into(),
        kind: if numeric {
            Kind::Numeric
        } else {
            Kind::Categorical
        },
        numbers: Vec::new(),
        codes: Vec::new(),
        categories: Vec::new(),
        missing: 0,
        missing_rows: Vec::new(),
        // Predictions are compared as the log gives them.
        integers: false,
    };
    let mut index: BTreeMap<String, u32> = BTreeMap::new();
    for &i in rows {
        match log.prediction.get(i) {
            Value::Number(x) if numeric => col.numbers.push(x),
            v => {
                let text = match v {
                    Value::Number(x) => x.to_string(),
                    Value::Code(c) => log.dictionary[c as usize].clone(),
                };
                let next = index.len() as u32;
                let code = *index.entry(text.clone()).or_insert(next);
                if code == next {
                    col.categories.push(text);
                }
                col.codes.push(code);
            }
        }
    }
    Table {
        columns: vec![col],
        rows: rows.len() as u64,
    }
}
