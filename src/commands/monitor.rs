//! `mlci monitor LOG`: a model's performance over time from a predictions
//! log, per window, against reference values (a revision's metrics file,
//! or the metrics recorded at a registry version), with prediction drift.
//! Exit 0 whatever it finds, 1 with `--check` when a window fails, 2 on an
//! error.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::data::log::{self, LogColumns};
use crate::exit::Exit;
use crate::monitoring::performance::{self, Task, Window};
use crate::monitoring::{rules, Judge};

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
    let reference = match &a.reference {
        Some(spec) => {
            let place = crate::repo::Place::find(&ctx.cwd)?;
            Some(rules::reference_metrics(&place.root, &place.cache, spec)?)
        }
        None => None,
    };
    // Prediction drift needs reference predictions: the log a model was
    // validated on.
    let reference_log = match &a.reference_log {
        Some(p) => Some(log::read(
            &ctx.cwd.join(p),
            &p.display().to_string(),
            &cols,
        )?),
        None => None,
    };
    let windows = crate::monitoring::judge_windows(
        &log,
        &Judge {
            task,
            positive: log.label(&a.positive),
            window: a.window,
            reference: reference.as_ref(),
            reference_log: reference_log.as_ref(),
        },
    )?;
    let failed = windows.iter().any(|w| !w.passed);
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
    } else if a.md {
        let charts = crate::monitoring::chart::reference_charts(&windows);
        ctx.printer
            .data(format!("{}{charts}", render(&out, true)).trim_end())?;
    } else {
        ctx.printer.data(render(&out, false).trim_end())?;
    }
    Ok(if a.check && failed {
        Exit::Differs
    } else {
        Exit::Ok
    })
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
            r.push(
                if w["rows"] == 0 {
                    "no labels yet"
                } else if w["passed"] == true {
                    "ok"
                } else {
                    "FAIL"
                }
                .into(),
            );
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
