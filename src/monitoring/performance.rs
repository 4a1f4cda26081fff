//! Model performance over time: a predictions log cut into windows (UTC
//! days, ISO weeks, or N rows), each window's metrics computed as
//! scikit-learn defines them, and each compared with reference values.
//!
//! - Classification: accuracy; precision, recall and F1 of the positive
//!   label (binary; `zero_division=0`), or their macro averages over the
//!   labels seen in the window's targets and predictions (multiclass); ROC
//!   AUC from the score column (binary only: the probability of the
//!   positive label; ties count half, as the trapezoid under sklearn's ROC
//!   curve does).
//! - Regression: MAE, RMSE and R² (1 − SS_res / SS_tot; a constant target
//!   gives 1 when predicted exactly, else 0, as sklearn's `force_finite`;
//!   undefined, null, for a window of one row, where sklearn gives nan).
//! - Checks: Evidently's tolerances, 20 % (relative) of the reference for
//!   classification metrics and 10 % for regression ones, judged the worse
//!   way only when the metric's better direction is known (all of these
//!   are): a model that got better passes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::review::direction::Direction;

use crate::data::log::{Log, Value};

/// What the model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Classification,
    Regression,
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// UTC calendar days.
    Day,
    /// ISO 8601 weeks (Monday to Sunday, UTC).
    Week,
    /// Consecutive runs of N rows in log order.
    Rows(usize),
}

impl std::str::FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Window, String> {
        match s {
            "day" => Ok(Window::Day),
            "week" => Ok(Window::Week),
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .map(Window::Rows)
                .ok_or_else(|| format!("`{n}` is not day, week or a row count")),
        }
    }
}

/// One window's metrics and checks.
#[derive(Debug, Clone, Serialize)]
pub struct WindowResult {
    /// `2026-03-29`, `2026-W13`, or `rows 1-1000`.
    pub window: String,
    pub rows: usize,
    pub metrics: BTreeMap<String, Option<f64>>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// A window metric against its reference.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub metric: String,
    pub value: Option<f64>,
    pub reference: f64,
    /// The allowed relative change (0.2 = 20 %): either way when the
    /// metric's better direction is unknown, else only the worse way.
    pub tolerance: f64,
    /// Which way is better (`max` / `min`), None when unknown.
    pub direction: Option<Direction>,
    pub passed: bool,
}

impl Check {
    /// The rule this check applies, for the gate results: its tolerance
    /// in percent, one-sided when the direction is known.
    pub fn rule(&self) -> crate::review::gate::Rule {
        use crate::review::gate::Rule;
        let pct = self.tolerance * 100.0;
        match self.direction {
            None => Rule::WithinPct(pct),
            Some(Direction::Max) => Rule::AtMostPctBelow(pct),
            Some(Direction::Min) => Rule::AtMostPctAbove(pct),
        }
    }
}

/// Decides the task: classification when every target is text, or an
/// integer with at most 20 distinct values; otherwise regression.
pub fn detect_task(log: &Log) -> Task {
    let mut distinct = BTreeSet::new();
    for i in 0..log.target.len() {
        match log.target.get(i) {
            Value::Code(_) => return Task::Classification,
            Value::Number(x) if x.fract() != 0.0 => return Task::Regression,
            Value::Number(x) => {
                distinct.insert(x as i64);
            }
        }
    }
    if distinct.len() <= 20 {
        Task::Classification
    } else {
        Task::Regression
    }
}

/// Row indices per window, in window order.
pub fn windows(log: &Log, window: Window) -> Vec<(String, Vec<usize>)> {
    match window {
        Window::Rows(n) => (0..log.ts.len())
            .collect::<Vec<_>>()
            .chunks(n)
            .map(|c| {
                (
                    format!("rows {}-{}", c[0] + 1, c[c.len() - 1] + 1),
                    c.to_vec(),
                )
            })
            .collect(),
        Window::Day | Window::Week => {
            let mut groups: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
            for (i, ms) in log.ts.iter().enumerate() {
                groups.entry(key(*ms, window)).or_default().push(i);
            }
            groups
                .into_iter()
                .map(|(k, rows)| (label(k, window), rows))
                .collect()
        }
    }
}

/// The day or week windows (by name) that only unlabelled rows fall in:
/// their predictions were logged, their labels have not arrived. None for
/// row-count windows (unlabelled rows have no place among them).
pub fn unlabelled_windows(log: &Log, window: Window) -> Vec<(String, usize)> {
    if matches!(window, Window::Rows(_)) {
        return Vec::new();
    }
    let labelled: BTreeSet<(i64, i64)> = log.ts.iter().map(|ms| key(*ms, window)).collect();
    let mut only: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for ms in &log.unlabelled {
        let k = key(*ms, window);
        if !labelled.contains(&k) {
            *only.entry(k).or_default() += 1;
        }
    }
    only.into_iter()
        .map(|(k, n)| (label(k, window), n))
        .collect()
}

/// Why `metric` is undefined for a window of `rows` (None from
/// [`metrics`]), as scikit-learn says it.
pub fn why_undefined(metric: &str, log: &Log, rows: &[usize], binary: bool) -> String {
    match metric {
        "r2" if rows.len() < 2 => "R² is not well-defined with fewer than two rows".into(),
        "roc_auc" if log.score.is_none() => "no score column to rank by".into(),
        "roc_auc" if !binary => "ROC AUC is for a binary classifier".into(),
        "roc_auc" => "only one class among the window's targets".into(),
        _ => "not defined for this window".into(),
    }
}

/// When window `rows` of `log` ends, in milliseconds since the epoch: the
/// end of its UTC day or ISO week (exclusive), or for a row-count window
/// the time of its last row.
pub fn window_end_ms(log: &Log, rows: &[usize], window: Window) -> i64 {
    let first = rows.first().map_or(0, |&i| log.ts[i]);
    let day = first.div_euclid(86_400_000);
    match window {
        Window::Day => (day + 1) * 86_400_000,
        Window::Week => {
            // Monday of its ISO week, plus seven days.
            let weekday = i64::from(civil(day).weekday().to_monday_zero_offset());
            (day - weekday + 7) * 86_400_000
        }
        Window::Rows(_) => rows.iter().map(|&i| log.ts[i]).max().unwrap_or(first),
    }
}

/// Whether window `rows` is complete at `now_ms`: a day or week that has
/// ended, or a row-count window holding its full count.
pub fn window_complete(log: &Log, rows: &[usize], window: Window, now_ms: i64) -> bool {
    match window {
        Window::Rows(n) => rows.len() == n,
        _ => window_end_ms(log, rows, window) <= now_ms,
    }
}

/// (year, day-of-epoch) for days; (ISO year, ISO week) for weeks.
fn key(ms: i64, window: Window) -> (i64, i64) {
    let day = ms.div_euclid(86_400_000);
    match window {
        Window::Week => {
            let date = civil(day);
            let iso = date.iso_week_date();
            (i64::from(iso.year()), i64::from(iso.week()))
        }
        _ => (0, day),
    }
}

fn civil(day: i64) -> jiff::civil::Date {
    jiff::Timestamp::from_second(day * 86_400)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .unwrap_or_default()
}

fn label((a, b): (i64, i64), window: Window) -> String {
    match window {
        Window::Week => format!("{a}-W{b:02}"),
        _ => civil(b).to_string(),
    }
}

/// Whether the whole log has at most two labels (a binary classifier):
/// decided once for every window.
pub fn is_binary(log: &Log) -> bool {
    let mut labels: Vec<Value> = Vec::new();
    let n = log.target.len();
    for v in (0..n)
        .map(|i| log.target.get(i))
        .chain((0..n).map(|i| log.prediction.get(i)))
    {
        if !labels.contains(&v) {
            labels.push(v);
            if labels.len() > 2 {
                return false;
            }
        }
    }
    true
}

/// A label as a hash key (-0.0 is 0.0, as `==` has it).
#[derive(Hash, PartialEq, Eq, Clone, Copy)]
enum LabelKey {
    Number(u64),
    Code(u32),
}

impl LabelKey {
    fn of(v: Value) -> LabelKey {
        match v {
            Value::Number(x) => LabelKey::Number(if x == 0.0 { 0.0f64 } else { x }.to_bits()),
            Value::Code(c) => LabelKey::Code(c),
        }
    }
}

/// Refuses a log with more distinct labels (targets and predictions) than
/// the label bound: a classifier's metrics are per label, and a float
/// column read as labels would make one per row.
pub fn check_labels(log: &Log, shown: &str) -> Result<(), crate::limits::LimitError> {
    use crate::limits::Limit;
    let bound = Limit::Labels.value() as usize;
    let mut seen = std::collections::HashSet::new();
    let n = log.target.len();
    for v in (0..n)
        .map(|i| log.target.get(i))
        .chain((0..n).map(|i| log.prediction.get(i)))
    {
        seen.insert(LabelKey::of(v));
        if seen.len() > bound {
            return Err(crate::limits::LimitError::new(
                shown,
                "the count of distinct labels",
                Limit::Labels,
            ));
        }
    }
    Ok(())
}

/// The metrics of the rows `rows` of `log`; `binary` from [`is_binary`].
pub fn metrics(
    log: &Log,
    rows: &[usize],
    task: Task,
    (positive, binary): (Value, bool),
) -> BTreeMap<String, Option<f64>> {
    let mut m = BTreeMap::new();
    match task {
        Task::Regression => {
            let num = |v: Value| match v {
                Value::Number(x) => x,
                Value::Code(_) => f64::NAN,
            };
            let n = rows.len() as f64;
            let (mut abs, mut sq, mut sum_y) = (0.0, 0.0, 0.0);
            for &i in rows {
                let (p, y) = (num(log.prediction.get(i)), num(log.target.get(i)));
                abs += (y - p).abs();
                sq += (y - p) * (y - p);
                sum_y += y;
            }
            let mean = sum_y / n;
            let ss_tot: f64 = rows
                .iter()
                .map(|&i| (num(log.target.get(i)) - mean).powi(2))
                .sum();
            let r2 = if ss_tot == 0.0 {
                if sq == 0.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                1.0 - sq / ss_tot
            };
            m.insert("mae".into(), Some(abs / n));
            m.insert("rmse".into(), Some((sq / n).sqrt()));
            // scikit-learn: R² is not well-defined with fewer than two
            // samples (nan): undefined here, never a made-up 0.
            m.insert("r2".into(), (rows.len() >= 2).then_some(r2));
        }
        Task::Classification => {
            let correct = rows
                .iter()
                .filter(|&&i| log.prediction.get(i) == log.target.get(i))
                .count();
            m.insert("accuracy".into(), Some(correct as f64 / rows.len() as f64));
            // Each label's (tp, fp, fn) in one pass over the rows, labels
            // in order of first appearance (target, then prediction).
            let mut counts: indexmap::IndexMap<LabelKey, (u64, u64, u64)> =
                indexmap::IndexMap::new();
            for &i in rows {
                let (y, p) = (log.target.get(i), log.prediction.get(i));
                counts.entry(LabelKey::of(y)).or_default();
                counts.entry(LabelKey::of(p)).or_default();
                if p == y {
                    counts[&LabelKey::of(y)].0 += 1;
                } else {
                    counts[&LabelKey::of(p)].1 += 1;
                    counts[&LabelKey::of(y)].2 += 1;
                }
            }
            let prf = |(tp, fp, fn_): (u64, u64, u64)| {
                let div = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
                (
                    div(tp, tp + fp),
                    div(tp, tp + fn_),
                    div(2 * tp, 2 * tp + fp + fn_),
                )
            };
            let (p, r, f) = if binary {
                prf(counts
                    .get(&LabelKey::of(positive))
                    .copied()
                    .unwrap_or_default())
            } else {
                let all: Vec<(f64, f64, f64)> = counts.values().map(|c| prf(*c)).collect();
                let k = all.len() as f64;
                (
                    all.iter().map(|x| x.0).sum::<f64>() / k,
                    all.iter().map(|x| x.1).sum::<f64>() / k,
                    all.iter().map(|x| x.2).sum::<f64>() / k,
                )
            };
            m.insert("precision".into(), Some(p));
            m.insert("recall".into(), Some(r));
            m.insert("f1".into(), Some(f));
            let auc = match (&log.score, binary) {
                (Some(s), true) => roc_auc(rows, s, |i| log.target.get(i) == positive),
                _ => None,
            };
            m.insert("roc_auc".into(), auc);
        }
    }
    m
}

/// ROC AUC by the rank-sum statistic with average ranks for ties (equal
/// to the area under the ROC curve's trapezoids); None without both
/// classes.
fn roc_auc(rows: &[usize], score: &[f64], positive: impl Fn(usize) -> bool) -> Option<f64> {
    let mut order: Vec<usize> = rows.to_vec();
    order.sort_by(|a, b| score[*a].total_cmp(&score[*b]));
    let (mut rank_sum, mut n_pos) = (0.0f64, 0u64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && score[order[j + 1]] == score[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &r in &order[i..=j] {
            if positive(r) {
                rank_sum += avg;
                n_pos += 1;
            }
        }
        i = j + 1;
    }
    let n_neg = order.len() as u64 - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Evidently's default tolerance of a metric: ±20 % for classification
/// metrics, ±10 % for regression ones.
pub fn tolerance(task: Task) -> f64 {
    match task {
        Task::Classification => 0.2,
        Task::Regression => 0.1,
    }
}

/// Checks each metric with a reference value: within the task's tolerance
/// of it, only the worse way for a metric whose direction `direction_of`
/// knows (a model that got better never fails its check), either way
/// otherwise (Evidently's two-sided test).
pub fn check(
    metrics: &BTreeMap<String, Option<f64>>,
    reference: &BTreeMap<String, f64>,
    task: Task,
    direction_of: &dyn Fn(&str) -> Option<Direction>,
) -> Vec<Check> {
    let tol = tolerance(task);
    metrics
        .iter()
        .filter_map(|(k, v)| {
            let r = *reference.get(k)?;
            let direction = direction_of(k);
            let slack = tol * r.abs();
            let passed = match (v, direction) {
                (Some(x), _) if x.is_nan() => false,
                (Some(x), None) => (x - r).abs() <= slack,
                (Some(x), Some(Direction::Max)) => *x >= r - slack,
                (Some(x), Some(Direction::Min)) => *x <= r + slack,
                (None, _) => false,
            };
            Some(Check {
                metric: k.clone(),
                value: *v,
                reference: r,
                tolerance: tol,
                direction,
                passed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::direction::default_for;

    /// Each metric against a reference of 0.5 (classification: 20 %).
    fn passes(metric: &str, value: f64) -> bool {
        let metrics = BTreeMap::from([(metric.to_string(), Some(value))]);
        let reference = BTreeMap::from([(metric.to_string(), 0.5)]);
        let checks = check(&metrics, &reference, Task::Classification, &default_for);
        checks[0].passed
    }

    #[test]
    fn a_check_fails_only_the_worse_way_when_the_direction_is_known() {
        // Higher is better: 20 % below passes, further fails, any rise passes.
        assert!(passes("accuracy", 0.4));
        assert!(!passes("accuracy", 0.39));
        assert!(passes("accuracy", 0.99));
        // Lower is better: the mirror image.
        assert!(passes("mae", 0.6));
        assert!(!passes("mae", 0.61));
        assert!(passes("mae", 0.01));
        // Unknown direction: Evidently's two-sided test.
        assert!(passes("widgets", 0.6));
        assert!(!passes("widgets", 0.61));
        assert!(!passes("widgets", 0.39));
        assert!(!passes("accuracy", f64::NAN));
    }
}
