//! How a drift comparison reads: a plain or Markdown table, a Mermaid bar
//! chart of the most drifting columns, and Mermaid histograms of reference
//! against current for a column. Column names and categories come from
//! data: in Mermaid they keep letters, digits and `_.-` only.

use super::{ColumnDrift, Drift};
use crate::data::table::{Column, Dataset, Kind};
use crate::review::metrics::diff::{md_table, plain_table};

fn fmt(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

/// The per-column table and the dataset's line.
pub fn table(d: &Drift, md: bool) -> String {
    let rows: Vec<Vec<String>> = d
        .columns
        .iter()
        .map(|c| {
            vec![
                c.column.clone(),
                c.kind.as_str().into(),
                c.method.as_str().into(),
                fmt(c.statistic),
                c.p_value.map(fmt).unwrap_or_else(|| "-".into()),
                fmt(c.threshold),
                if c.drifted { "drift" } else { "-" }.into(),
                format!("{} / {}", c.missing.0, c.missing.1),
            ]
        })
        .collect();
    let header = [
        "column",
        "type",
        "method",
        "statistic",
        "p-value",
        "threshold",
        "drifted",
        "missing (ref / cur)",
    ];
    let mut out = if md {
        // Column names come from data: escaped for Markdown.
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| {
                r.iter()
                    .map(|c| crate::review::report::md_escape(c))
                    .collect()
            })
            .collect();
        md_table(&header, &rows)
    } else {
        plain_table(&header, &rows)
    };
    let ds = &d.dataset;
    let line = format!(
        "{} of {} columns drifted (share {:.2}, threshold {:.2}): {}",
        ds.drifted_columns,
        ds.columns,
        ds.share,
        ds.threshold,
        if ds.drifted {
            "the dataset drifts"
        } else {
            "no dataset drift"
        }
    );
    out.push_str(&if md {
        format!("\n**{line}**\n")
    } else {
        format!("\n{line}\n")
    });
    if !d.left_out.is_empty() {
        let names: Vec<String> = d
            .left_out
            .iter()
            .map(|l| {
                let col = if md {
                    crate::review::report::md_escape(&l.column)
                } else {
                    l.column.clone()
                };
                format!("{col} ({}: {})", l.kind, l.reason)
            })
            .collect();
        out.push_str(&format!("not tested: {}\n", names.join("; ")));
    }
    out
}

/// How far past its threshold a column is: 1 at the threshold, above 1
/// drifting (a distance over its threshold; for a p-value, ln p over
/// ln threshold), capped at 10.
pub fn score(c: &ColumnDrift) -> f64 {
    let s = match c.p_value {
        Some(p) if p <= 0.0 => 10.0,
        Some(p) => p.ln() / c.threshold.ln(),
        None => c.statistic / c.threshold,
    };
    if s.is_finite() {
        s.clamp(0.0, 10.0)
    } else {
        10.0
    }
}

/// Mermaid-safe text.
fn label(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// A bar chart of the (at most 10) most drifting columns' scores.
pub fn scores_chart(d: &Drift) -> Option<String> {
    let mut cols: Vec<&ColumnDrift> = d.columns.iter().collect();
    cols.sort_by(|a, b| score(b).total_cmp(&score(a)));
    cols.truncate(10);
    if cols.is_empty() {
        return None;
    }
    let names: Vec<String> = cols
        .iter()
        .map(|c| format!("\"{}\"", label(&c.column)))
        .collect();
    let values: Vec<String> = cols.iter().map(|c| format!("{:.3}", score(c))).collect();
    Some(format!(
        "xychart-beta\n    title \"Drift score (1 = threshold)\"\n    x-axis [{}]\n    y-axis \"score\"\n    bar [{}]\n",
        names.join(", "),
        values.join(", ")
    ))
}

/// Reference (bars) against current (line) for `name`: shares in 10
/// equal bins over both sides' range for a numeric column, of the 10 most
/// common reference categories for a categorical one.
pub fn histogram(name: &str, reference: &Dataset, current: &Dataset) -> Option<String> {
    let r = reference.column(name)?.ok()?;
    let c = current.column(name)?.ok()?;
    let (labels, rs, cs) = match r.kind {
        Kind::Numeric => numeric_bins(&r, &c)?,
        Kind::Categorical => categorical_bins(&r, &c),
    };
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "xychart-beta\n    title \"{}: reference (bars) and current (line)\"\n    x-axis [{}]\n    y-axis \"share\"\n    bar [{}]\n    line [{}]\n",
        label(name),
        labels.iter().map(|l| format!("\"{}\"", label(l))).collect::<Vec<_>>().join(", "),
        list(&rs),
        list(&cs)
    ))
}

type Bins = (Vec<String>, Vec<f64>, Vec<f64>);

fn numeric_bins(r: &Column, c: &Column) -> Option<Bins> {
    let all = r.numbers.iter().chain(&c.numbers);
    let (min, max) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(*x), hi.max(*x))
    });
    if !min.is_finite() || !max.is_finite() {
        return None;
    }
    // Few distinct values: one bar each, as categories.
    let mut distinct: Vec<f64> = r.numbers.iter().chain(&c.numbers).copied().collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() <= 10 {
        let share = |v: &[f64]| {
            distinct
                .iter()
                .map(|d| v.iter().filter(|x| *x == d).count() as f64 / v.len().max(1) as f64)
                .collect::<Vec<f64>>()
        };
        let labels = distinct.iter().map(|d| d.to_string()).collect();
        return Some((labels, share(&r.numbers), share(&c.numbers)));
    }
    let n = 10usize;
    let width = (max - min) / n as f64;
    let share = |v: &[f64]| {
        let mut counts = vec![0f64; n];
        for x in v {
            let i = (((x - min) / width) as usize).min(n - 1);
            counts[i] += 1.0;
        }
        counts
            .iter()
            .map(|k| k / v.len().max(1) as f64)
            .collect::<Vec<f64>>()
    };
    let labels = (0..n).map(|i| fmt(min + width * i as f64)).collect();
    Some((labels, share(&r.numbers), share(&c.numbers)))
}

fn categorical_bins(r: &Column, c: &Column) -> Bins {
    let rc = r.counts();
    let cc = c.counts();
    let (rn, cn) = (r.codes.len().max(1) as f64, c.codes.len().max(1) as f64);
    // The 10 categories with the largest share on either side (a new one
    // in the current data shows too).
    let mut keys: Vec<&str> = rc.keys().chain(cc.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let weight =
        |k: &str| (*rc.get(k).unwrap_or(&0) as f64 / rn).max(*cc.get(k).unwrap_or(&0) as f64 / cn);
    keys.sort_by(|a, b| weight(b).total_cmp(&weight(a)).then(a.cmp(b)));
    keys.truncate(10);
    let labels = keys.iter().map(|k| k.to_string()).collect();
    let rs = keys
        .iter()
        .map(|k| *rc.get(k).unwrap_or(&0) as f64 / rn)
        .collect();
    let cs = keys
        .iter()
        .map(|k| *cc.get(k).unwrap_or(&0) as f64 / cn)
        .collect();
    (labels, rs, cs)
}

/// A drift rule's section of the report: the table, the chart of the most
/// drifting columns, and histograms of the three that drift most.
pub fn report_view(o: &super::rules::Outcome) -> crate::review::report::DriftView {
    let mut cols: Vec<&ColumnDrift> = o.drift.columns.iter().collect();
    cols.sort_by(|a, b| score(b).total_cmp(&score(a)));
    let histograms = cols
        .iter()
        .take(3)
        .filter_map(|c| histogram(&c.column, &o.reference_table, &o.current_table))
        .collect();
    crate::review::report::DriftView {
        dataset: o.dataset.clone(),
        reference: o.reference.clone(),
        table_md: table(&o.drift, true),
        chart: scores_chart(&o.drift),
        histograms,
        drifted: o.drift.dataset.drifted,
    }
}
