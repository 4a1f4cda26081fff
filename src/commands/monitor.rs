//! `mlci monitor LOG`: a model's performance over time from a predictions
//! log, per window, against reference values (a revision's metrics file,
//! or the metrics recorded at a registry version), with prediction drift.
//! Exit 0 whatever it finds, 1 with `--check` when a window fails, 2 on an
//! error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::exit::Exit;
use crate::monitor::drift::{self, Options};
use crate::monitor::log::{self, Log, LogColumns, Value};
use crate::monitor::performance::{self, Task, Window};
use crate::monitor::table::{Column, Kind, Table};
use crate::review::direction::default_for;

/// Model performance per window of a predictions log (columns
/// `timestamp`, `prediction`, `score`, `target` by default): accuracy,
/// precision, recall, F1 and ROC AUC for classifiers, MAE, RMSE and R² for
/// regressors, each checked against reference values (at most 20 % worse
/// for classification metrics, 10 % for regression: Evidently's
/// tolerances, judged the worse way only), and
/// the drift of the predictions. Needs no repository unless `--reference`
/// names a revision or registry version.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The predictions log (CSV/TSV, JSON Lines or Parquet).
    pub log: PathBuf,
    /// `day` (UTC), `week` (ISO, UTC) or a row count.
    #[arg(long, default_value = "day", value_name = "WINDOW")]
    pub window: Window,
    /// Reference metrics: the metrics files at a git revision, or at a
    /// registry version (`NAME@vX.Y.Z`, `NAME#STAGE`).
    #[arg(long, value_name = "REV")]
    pub reference: Option<String>,
    /// Reference predictions (a log the model was validated on): each
    /// window's predictions are tested for drift against them.
    #[arg(long, value_name = "LOG")]
    pub reference_log: Option<PathBuf>,
    /// Classification or regression (default: from the targets).
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// The positive label of a binary classifier.
    #[arg(long, default_value = "1", value_name = "LABEL")]
    pub positive: String,
    #[arg(long, default_value = "timestamp", value_name = "COLUMN")]
    pub timestamp: String,
    #[arg(long, default_value = "prediction", value_name = "COLUMN")]
    pub prediction: String,
    #[arg(long, default_value = "score", value_name = "COLUMN")]
    pub score: String,
    #[arg(long, default_value = "target", value_name = "COLUMN")]
    pub target: String,
    /// Exit 1 when a window fails a check or its predictions drift.
    #[arg(long)]
    pub check: bool,
    #[arg(long, conflicts_with = "json")]
    pub md: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_monitor(ctx: &Ctx, a: MonitorArgs) -> anyhow::Result<Exit> {
    let cols = LogColumns {
        timestamp: a.timestamp.clone(),
        prediction: a.prediction.clone(),
        score: a.score.clone(),
        target: a.target.clone(),
    };
    let shown = a.log.display().to_string();
    let log = log::read(&ctx.cwd.join(&a.log), &shown, &cols)?;
    let task = a.task.unwrap_or_else(|| performance::detect_task(&log));
    if task == performance::Task::Classification {
        performance::check_labels(&log, &shown)?;
    }
    let positive = log.label(&a.positive);
    let reference = match &a.reference {
        Some(r) => Some(reference_metrics(ctx, r)?),
        None => None,
    };
    let groups = performance::windows(&log, a.window);
    let binary = performance::is_binary(&log);
    // Prediction drift needs reference predictions: the log a model was
    // validated on.
    let reference_predictions = match &a.reference_log {
        Some(p) => {
            let l = log::read(&ctx.cwd.join(p), &p.display().to_string(), &cols)?;
            let all: Vec<usize> = (0..l.ts.len()).collect();
            Some(predictions_table(&l, &all).into())
        }
        None => None,
    };
    let mut windows = Vec::new();
    let mut failed = false;
    for (name, rows) in &groups {
        let m = performance::metrics(&log, rows, task, (positive, binary));
        let checks = reference
            .as_ref()
            .map(|r| performance::check(&m, r, task, &default_for))
            .unwrap_or_default();
        let pred = match &reference_predictions {
            Some(r) => drift::compare(
                r,
                &predictions_table(&log, rows).into(),
                &Options::default(),
                &crate::progress::Silent,
            )?
            .columns
            .into_iter()
            .next(),
            None => None,
        };
        let drifted = pred.as_ref().is_some_and(|c| c.drifted);
        let passed = checks.iter().all(|c| c.passed) && !drifted;
        failed |= !passed;
        windows.push(json!({
            "window": name,
            "rows": rows.len(),
            "metrics": m,
            "checks": checks,
            "prediction_drift": pred,
            "passed": passed,
        }));
    }
    if log.skipped > 0 {
        ctx.printer.warn(&format!(
            "{} rows of {shown} lack a timestamp, prediction, target or score: left out",
            log.skipped
        ));
    }
    let out = json!({
        "task": task,
        "reference": reference,
        "windows": windows,
    });
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(&out)?)?;
    } else {
        ctx.printer.data(render(&out, a.md).trim_end())?;
    }
    Ok(if a.check && failed {
        Exit::Differs
    } else {
        Exit::Ok
    })
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

/// Reference metrics by name (accuracy, f1, mae, …): from the metrics
/// files at a git revision, or at a registry version's commit. A key
/// matches when it is the name or ends with `.name`.
fn reference_metrics(ctx: &Ctx, spec: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let place = super::model::place(ctx)?;
    let commit =
        if spec.contains('#') || spec.contains("@v") {
            let (name, sel) = crate::registry::parse_shortcut(spec)?;
            let reg = crate::registry::open_artifact(&place.root, &name)?;
            git2::Oid::from_str(&reg.select(&name, &sel)?.commit)?
        } else {
            crate::git::resolve_commit(&place.root, spec).map_err(|e| {
                crate::error::hinted(
                format!("--reference: revision `{spec}` does not exist: {}", e.message()),
                "name a commit, branch or tag, or a registry version (`NAME@vX.Y.Z`, `NAME#STAGE`)",
            )
            })?
        };
    let values = crate::registry::promote::metrics_at(&place.root, &place.cache, commit)?;
    let mut out = BTreeMap::new();
    for name in [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "mae",
        "rmse",
        "r2",
    ] {
        let found = values
            .values()
            .flat_map(|m| m.iter())
            .find(|(k, _)| k.as_str() == name || k.ends_with(&format!(".{name}")));
        if let Some(x) = found.and_then(|(_, v)| crate::pipeline::params::number(v)) {
            out.insert(name.to_string(), x);
        }
    }
    if out.is_empty() {
        return Err(crate::error::hinted(
            format!("--reference {spec}: no metric named accuracy, precision, recall, f1, roc_auc, mae, rmse or r2 in its metrics files"),
            "record the model's metrics under those names in a metrics file the pipeline declares",
        ));
    }
    Ok(out)
}

fn fmt(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.4}"),
        None => "-".into(),
    }
}

/// One row per window: its rows, metrics, prediction drift and verdict.
fn render(out: &serde_json::Value, md: bool) -> String {
    let windows = out["windows"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = windows
        .first()
        .and_then(|w| w["metrics"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec!["window".to_string(), "rows".to_string()];
    header.extend(names.iter().cloned());
    header.extend(["prediction drift".to_string(), "verdict".to_string()]);
    let rows: Vec<Vec<String>> = windows
        .iter()
        .map(|w| {
            let mut r = vec![
                w["window"].as_str().unwrap_or_default().to_string(),
                w["rows"].to_string(),
            ];
            for n in &names {
                let failed = w["checks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["metric"] == n.as_str() && c["passed"] == false);
                r.push(format!(
                    "{}{}",
                    fmt(&w["metrics"][n]),
                    if failed { " !" } else { "" }
                ));
            }
            r.push(
                if w["prediction_drift"]["drifted"] == true {
                    "drift"
                } else {
                    "-"
                }
                .into(),
            );
            r.push(if w["passed"] == true { "ok" } else { "FAIL" }.into());
            r
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    if md {
        crate::review::metrics::diff::md_table(&header, &rows)
    } else {
        crate::review::metrics::diff::plain_table(&header, &rows)
    }
}

/// mlci.yaml's `monitor:` section: a predictions log `mlci gate` and
/// `mlci ci` check, window by window, against a reference.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    log: String,
    reference: String,
    #[serde(default = "day")]
    window: String,
    task: Option<Task>,
    #[serde(default = "one")]
    positive: String,
}

fn day() -> String {
    "day".into()
}

fn one() -> String {
    "1".into()
}

/// The latest window's checks of mlci.yaml's `monitor:` log as gate
/// results (none without the section).
pub(crate) fn rules_for(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    pipeline: &crate::pipeline::Pipeline,
) -> anyhow::Result<Vec<crate::review::gate::GateResult>> {
    use crate::review::gate;
    let Some(value) = &pipeline.monitor else {
        return Ok(Vec::new());
    };
    let s: Section = crate::yaml::from_value(value.clone(), std::path::Path::new("mlci.yaml"))
        .map_err(|e| crate::error::hinted(
            format!("mlci.yaml: `monitor`: {}", e.message),
            "`monitor:` takes `log`, `reference` (a revision or `NAME#STAGE`), and optionally `window`, `task`, `positive`",
        ))?;
    let window: Window = s.window.parse().map_err(|e: String| {
        crate::error::hinted(
            format!("mlci.yaml: `monitor.window`: {e}"),
            "day, week or a row count",
        )
    })?;
    // The log's path comes from mlci.yaml: inside the workspace only.
    let path = crate::workspace_path::WorkspacePath::new(&s.log)
        .and_then(|p| p.locate_for_read(&repo.root))
        .map_err(|e| {
            crate::error::hinted(
                format!("mlci.yaml: `monitor.log`: {e}"),
                "name a file inside the repository",
            )
        })?;
    let log = log::read(&path, &s.log, &LogColumns::default())?;
    let task = s.task.unwrap_or_else(|| performance::detect_task(&log));
    let positive = log.label(&s.positive);
    let reference = reference_metrics(ctx, &s.reference)?;
    let groups = performance::windows(&log, window);
    let Some((name, rows)) = groups.last() else {
        return Ok(Vec::new());
    };
    let m = performance::metrics(&log, rows, task, (positive, performance::is_binary(&log)));
    Ok(performance::check(&m, &reference, task, &default_for)
        .into_iter()
        .map(|c| {
            let mut r = gate::check(
                &format!("monitor:{}:{}", s.log, c.metric),
                &format!("{} ({name})", c.metric),
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
        .collect())
}
