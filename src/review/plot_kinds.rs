//! How each of DVC's plot templates is drawn in a Markdown report: a
//! Mermaid chart where Mermaid has one, a Markdown table where it has none.
//!
//! - `linear`, `simple`, `smooth` (and no template): a line chart. When
//!   every x value is a number, base and target share one numeric axis,
//!   evenly spaced from the smallest to the largest x, each line resampled
//!   onto it by linear interpolation: an ROC curve's uneven false-positive
//!   rates are drawn true to scale (Mermaid's line chart spaces its x labels
//!   evenly). `smooth` draws the data itself (DVC's smoothing is a viewer
//!   setting).
//! - `bar_horizontal`, `bar_horizontal_sorted`: a horizontal Mermaid bar
//!   chart (sorted by the target's values, largest first).
//! - `confusion`, `confusion_normalized`: a Markdown table per revision in
//!   DVC's orientation, actual classes (the x field) across the columns,
//!   predicted (the y field) down the rows, counts or each row's share.
//! - `scatter`: Mermaid has no scatter chart; the points are listed.
//!
//! Templates are DVC's names (`dvc plots templates`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::plots::{mermaid_head, Line, Table, MAX_POINTS};
use crate::pipeline::{PlotDef, PlotSource};
use crate::review::report::md_escape;

/// What a plot became: a Mermaid block, a Markdown table, and a note (why
/// it is drawn the way it is, or why it could not be drawn).
#[derive(Debug, Default)]
pub struct Drawn {
    pub mermaid: Option<String>,
    pub table_md: Option<String>,
    pub note: Option<String>,
    /// Which colour is which line, printed under the chart.
    pub legend: Option<String>,
}

/// One revision's data of one source: (revision label, source, rows).
pub type Data<'a> = (String, &'a PlotSource, Table);

/// DVC's built-in templates (`dvc plots templates`).
pub const BUILT_IN: [&str; 8] = [
    "linear",
    "simple",
    "scatter",
    "smooth",
    "confusion",
    "confusion_normalized",
    "bar_horizontal",
    "bar_horizontal_sorted",
];

/// The built-in template a plot is drawn as, and a note when it is not
/// the one named: a custom template DVC would read from
/// `.dvc/plots/NAME.json` (or a path to a Vega-Lite file) is drawn as the
/// built-in closest to it, judged by its marks (`rect`: a confusion
/// matrix, normalized when it computes `percent_of_y`; `bar`: bars;
/// `point`/`circle`: scatter; otherwise lines).
pub fn built_in_for(root: &std::path::Path, template: Option<&str>) -> (String, Option<String>) {
    let name = template.unwrap_or("linear");
    let custom = [
        format!(".dvc/plots/{name}.json"),
        format!(".dvc/plots/{name}"),
        name.to_string(),
    ]
    .into_iter()
    .find_map(|rel| {
        let abs = crate::workspace_path::WorkspacePath::new(&rel)
            .and_then(|p| p.locate_for_read(root))
            .ok()?;
        let bytes = crate::limits::read_bytes(&abs, crate::limits::Limit::MetricsBytes).ok()?;
        Some((rel, String::from_utf8_lossy(&bytes).into_owned()))
    });
    match custom {
        Some((rel, text)) => {
            let has = |mark: &str| {
                text.contains(&format!("\"mark\": \"{mark}\""))
                    || text.contains(&format!("\"type\": \"{mark}\""))
                    || text.contains(&format!("\"mark\":\"{mark}\""))
            };
            let kind = if has("rect") {
                if text.contains("percent_of_y") {
                    "confusion_normalized"
                } else {
                    "confusion"
                }
            } else if has("bar") {
                "bar_horizontal"
            } else if has("point") || has("circle") {
                "scatter"
            } else {
                "linear"
            };
            let note = (!BUILT_IN.contains(&name) || rel != name).then(|| {
                format!(
                    "custom template `{rel}` drawn as DVC's `{kind}`, the built-in closest to it"
                )
            });
            (kind.to_string(), note)
        }
        None if BUILT_IN.contains(&name) => (name.to_string(), None),
        None => (
            "linear".into(),
            Some(format!(
                "template `{name}` is not one of DVC's; drawn as a line chart"
            )),
        ),
    }
}

/// Draws `def` from its lines (for line and bar charts) and raw data (for
/// tables).
pub fn draw(def: &PlotDef, lines: &[Line], data: &[Data<'_>]) -> Drawn {
    match def.template.as_deref().unwrap_or("linear") {
        "confusion" => confusion(data, false),
        "confusion_normalized" => confusion(data, true),
        "bar_horizontal" => bars(def, data, false),
        "bar_horizontal_sorted" => bars(def, data, true),
        "scatter" => scatter(lines),
        "linear" | "simple" | "smooth" => line_chart(def, lines),
        other => {
            let mut d = line_chart(def, lines);
            d.note = Some(format!(
                "template `{other}` is not one of DVC's; drawn as a line chart"
            ));
            d
        }
    }
}

fn numeric_x(lines: &[Line]) -> Option<Vec<Vec<(f64, f64)>>> {
    lines
        .iter()
        .map(|l| {
            l.x.iter()
                .zip(&l.y)
                .map(|(x, y)| {
                    x.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .map(|x| (x, *y))
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect()
}

/// The value at `x` of the polyline through `pts` (sorted by x), flat
/// beyond its ends.
fn interpolate(pts: &[(f64, f64)], x: f64) -> f64 {
    let i = pts.partition_point(|p| p.0 < x);
    match (i.checked_sub(1).map(|j| pts[j]), pts.get(i)) {
        (Some(a), Some(b)) if b.0 > a.0 => a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0),
        (_, Some(b)) => b.1,
        (Some(a), None) => a.1,
        (None, None) => f64::NAN,
    }
}

fn line_chart(def: &PlotDef, lines: &[Line]) -> Drawn {
    let lines: Vec<Line> = lines.iter().filter(|l| !l.y.is_empty()).cloned().collect();
    if lines.is_empty() {
        return Drawn {
            note: Some("no numeric values to draw".into()),
            ..Drawn::default()
        };
    }
    let Some(mut series) = numeric_x(&lines) else {
        // Category x values: the first line's, the others by position.
        let differ = lines.iter().any(|l| l.x != lines[0].x);
        return Drawn {
            mermaid: super::plots::mermaid(def, &lines),
            legend: Some(super::plots::legend(
                &lines.iter().map(|l| l.label.clone()).collect::<Vec<_>>(),
            )),
            note: differ.then(|| {
                "the lines have different x values, which are not numbers: each is drawn by position along the first line's x values".into()
            }),
            ..Drawn::default()
        };
    };
    for s in series.iter_mut() {
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (lo, hi) = series
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let integers = series.iter().flatten().all(|p| p.0.fract() == 0.0);
    let axis = Axis::new(lo, hi, integers);
    // Each line on the grid from its first x (held flat before it, within
    // one grid step at most) to its last: a shorter line ends where its
    // data ends.
    let mut starts_late = false;
    let values: Vec<Vec<f64>> = series
        .iter()
        .map(|pts| {
            let (first, last) = (pts[0].0, pts[pts.len() - 1].0);
            starts_late |= first > axis.grid[0] + axis.step * 0.5;
            axis.grid
                .iter()
                .take_while(|x| **x <= last + axis.step * 1e-9)
                .map(|x| interpolate(pts, x.max(first)))
                .collect()
        })
        .collect();
    let tol = 1e-9 * (hi - lo).abs().max(1.0);
    // A line whose points are the grid's first points is drawn as it is.
    let own = |pts: &Vec<(f64, f64)>| {
        pts.len() <= axis.grid.len()
            && pts
                .iter()
                .zip(&axis.grid)
                .all(|(p, g)| (p.0 - g).abs() <= tol)
    };
    let resampled = !series.iter().all(own);
    let mut notes = Vec::new();
    if resampled {
        notes.push(format!(
            "x is true to scale: each line is read at every {} from {} to {}",
            axis_label(axis.step),
            axis_label(axis.grid[0]),
            axis_label(axis.grid[axis.grid.len() - 1])
        ));
    }
    if starts_late {
        notes.push("a line that starts later is held at its first value before it".into());
    }
    Drawn {
        mermaid: Some(super::plots::mermaid_lines(def, &axis.labels, &values)),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        legend: Some(super::plots::legend(
            &lines.iter().map(|l| l.label.clone()).collect::<Vec<_>>(),
        )),
        ..Drawn::default()
    }
}

/// A numeric x axis as a Mermaid category axis: an evenly spaced grid
/// (at most [`MAX_POINTS`]) whose step divides the tick step, so every tick
/// falls on a grid point; about 8 round ticks labelled (integers for
/// integer data), the other points blank.
struct Axis {
    grid: Vec<f64>,
    step: f64,
    labels: Vec<String>,
}

impl Axis {
    fn new(lo: f64, hi: f64, integers: bool) -> Axis {
        let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
        let mut tick = nice_step(span / 7.0);
        if integers {
            tick = tick.max(1.0);
        }
        // The finest grid step (tick / m) that keeps the grid within bounds.
        let mut step = tick;
        for m in [2.0, 5.0, 10.0, 20.0, 50.0, 100.0] {
            let s = tick / m;
            if integers && (s < 1.0 || s.fract() != 0.0) {
                continue;
            }
            let first = (lo / s).floor() * s;
            let n = ((hi - first) / s - 1e-9).ceil() as usize + 1;
            if n <= MAX_POINTS {
                step = s;
            }
        }
        let first = (lo / step + 1e-9).floor() * step;
        let n = (((hi - first) / step) - 1e-9).ceil().max(0.0) as usize + 1;
        let grid: Vec<f64> = (0..n).map(|i| first + step * i as f64).collect();
        let labels = grid
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let on_tick = ((x / tick) - (x / tick).round()).abs() < 1e-6;
                if on_tick && *x >= lo - step * 1e-6 && *x <= hi + step * 1e-6 {
                    axis_label(if x.abs() < step * 1e-9 { 0.0 } else { *x })
                } else {
                    super::plots::blank_label(i)
                }
            })
            .collect();
        Axis { grid, step, labels }
    }
}

/// A round step near `raw`: 1, 2 or 5 times a power of ten (d3's).
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let err = raw / power;
    let f = if err >= 50f64.sqrt() {
        10.0
    } else if err >= 10f64.sqrt() {
        5.0
    } else if err >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    f * power
}

fn axis_label(x: f64) -> String {
    // Labels are quoted strings in Mermaid: any notation reads.
    crate::review::metrics::diff::fmt_number(x, 3)
}

/// Horizontal bars as DVC's `bar_horizontal` template draws them: `y` is
/// the category field and `x` the value field, one bar series per
/// revision.
fn bars(def: &PlotDef, data: &[Data<'_>], sorted: bool) -> Drawn {
    let mut series: Vec<Vec<(String, f64)>> = Vec::new();
    for (_, source, table) in data {
        let (Some(value), Some(category)) = (source.x.as_deref(), source.y.first()) else {
            return Drawn {
                note: Some(format!(
                    "`{}`: a horizontal bar chart needs `x` (the value) and `y` (the category)",
                    source.file
                )),
                ..Drawn::default()
            };
        };
        series.push(
            table
                .rows
                .iter()
                .filter_map(|r| {
                    let v = r.get(value).and_then(crate::pipeline::params::number)?;
                    Some((class(r.get(category)?), v))
                })
                .collect(),
        );
    }
    let Some(last) = series.iter().rev().find(|s| !s.is_empty()) else {
        return Drawn {
            note: Some("no numeric values to draw".into()),
            ..Drawn::default()
        };
    };
    // Categories: the target's (the last series), then any only the base has.
    let mut cats: Vec<String> = last.iter().map(|(c, _)| c.clone()).collect();
    for s in &series {
        for (c, _) in s {
            if !cats.contains(c) {
                cats.push(c.clone());
            }
        }
    }
    let value = |s: &[(String, f64)], c: &str| s.iter().find(|(x, _)| x == c).map(|p| p.1);
    if sorted {
        cats.sort_by(|a, b| {
            let (va, vb) = (value(last, a), value(last, b));
            vb.unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&va.unwrap_or(f64::NEG_INFINITY))
        });
    }
    cats.truncate(MAX_POINTS);
    let values: Vec<Vec<f64>> = series
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| cats.iter().map(|c| value(s, c).unwrap_or(0.0)).collect())
        .collect();
    let mut head_def = def.clone();
    if head_def.x_label.is_none() {
        head_def.x_label = data.first().and_then(|d| d.1.y.first().cloned());
    }
    if head_def.y_label.is_none() {
        head_def.y_label = data.first().and_then(|d| d.1.x.clone());
    }
    // Bars start at zero.
    let span = values.iter().flatten().copied().chain([0.0]);
    let mut s = super::plots::palette_directive(values.len());
    s.push_str(&mermaid_head(&head_def, true, &cats, span));
    for v in &values {
        let ys: Vec<String> = v.iter().map(|y| axis_label_precise(*y)).collect();
        s.push_str(&format!("    bar [{}]\n", ys.join(", ")));
    }
    let labels: Vec<String> = data
        .iter()
        .zip(&series)
        .filter(|(_, s)| !s.is_empty())
        .map(|((label, source, _), _)| format!("{label}: {}", source.file))
        .collect();
    Drawn {
        mermaid: Some(s),
        legend: Some(super::plots::legend(&labels)),
        ..Drawn::default()
    }
}

/// A bar's or point's value: a plain decimal (Mermaid reads no other).
fn axis_label_precise(y: f64) -> String {
    super::plots::num(y)
}

/// A cell as a class label.
fn class(v: &Json) -> String {
    crate::pipeline::interpolate::to_str(v)
}

fn confusion(data: &[Data<'_>], normalized: bool) -> Drawn {
    let mut out = String::new();
    for (label, source, table) in data {
        let (Some(actual), Some(predicted)) = (source.x.as_deref(), source.y.first()) else {
            return Drawn {
                note: Some(format!(
                    "`{}`: a confusion matrix needs `x` (the actual class) and `y` (the predicted class)",
                    source.file
                )),
                ..Drawn::default()
            };
        };
        let (classes, counts) = confusion_cells(table, actual, predicted);
        // DVC's orientation: x (the actual class) across the columns, y
        // (the predicted class) down the rows; normalized, each row sums
        // to 1 (DVC's `percent_of_y`).
        out.push_str(&format!(
            "{} — `{}` (columns: {actual}, rows: {predicted}{})\n\n",
            md_escape(label),
            md_escape(&source.file),
            if normalized { ", each row's share" } else { "" }
        ));
        out.push_str("| |");
        for c in &classes {
            out.push_str(&format!(" {} |", md_escape(c)));
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(classes.len()));
        out.push('\n');
        let count =
            |a: &String, p: &String| counts.get(&(a.clone(), p.clone())).copied().unwrap_or(0);
        for p in &classes {
            out.push_str(&format!("| **{}** |", md_escape(p)));
            let total: u64 = classes.iter().map(|a| count(a, p)).sum();
            for a in &classes {
                let n = count(a, p);
                let cell = if normalized {
                    if total == 0 {
                        "—".to_string()
                    } else {
                        format!("{:.2}", n as f64 / total as f64)
                    }
                } else {
                    n.to_string()
                };
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    Drawn {
        table_md: (!out.is_empty()).then_some(out),
        ..Drawn::default()
    }
}

/// Class pairs counted from `table`'s rows: the classes (sorted) and the
/// count of each (actual, predicted) pair.
pub(crate) fn confusion_cells(
    table: &Table,
    actual: &str,
    predicted: &str,
) -> (Vec<String>, BTreeMap<(String, String), u64>) {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut classes: BTreeSet<String> = BTreeSet::new();
    for r in &table.rows {
        let (Some(a), Some(p)) = (r.get(actual), r.get(predicted)) else {
            continue;
        };
        let (a, p) = (class(a), class(p));
        classes.insert(a.clone());
        classes.insert(p.clone());
        *counts.entry((a, p)).or_default() += 1;
    }
    (classes.into_iter().collect(), counts)
}

/// A round step near `raw` (see [`nice_step`]), for the SVG charts too.
pub(crate) fn round_step(raw: f64) -> f64 {
    nice_step(raw)
}

fn scatter(lines: &[Line]) -> Drawn {
    let mut out = String::new();
    for l in lines.iter().filter(|l| !l.y.is_empty()) {
        out.push_str(&format!(
            "{}\n\n| x | y |\n|---:|---:|\n",
            md_escape(&l.label)
        ));
        let idx = super::plots::downsample_indices(l.y.len(), MAX_POINTS);
        for i in idx {
            out.push_str(&format!(
                "| {} | {} |\n",
                md_escape(&l.x[i]),
                axis_label_precise(l.y[i])
            ));
        }
        out.push('\n');
    }
    Drawn {
        table_md: (!out.is_empty()).then_some(out),
        note: Some("Mermaid has no scatter chart: the points are listed".into()),
        ..Drawn::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str, pts: &[(f64, f64)]) -> Line {
        Line {
            label: label.into(),
            x: pts.iter().map(|p| p.0.to_string()).collect(),
            y: pts.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn uneven_numeric_x_is_drawn_true_to_scale_on_one_axis() {
        let def = PlotDef {
            id: "roc".into(),
            ..Default::default()
        };
        // Base and target ROC curves with different, uneven fpr values.
        let base = line("base", &[(0.0, 0.0), (0.1, 0.6), (1.0, 1.0)]);
        let target = line(
            "target",
            &[(0.0, 0.0), (0.5, 0.9), (0.75, 0.95), (1.0, 1.0)],
        );
        let d = draw(&def, &[base, target], &[]);
        let m = d.mermaid.unwrap();
        let axis = m.lines().find(|l| l.contains("x-axis")).unwrap();
        // A grid of 0.04 steps (0.02 would be 51 points, over 40), the
        // ticks 0, 0.2, ..., 1 labelled and the rest blank.
        assert_eq!(axis.matches(',').count() + 1, 26, "{m}");
        let shown: Vec<&str> = axis
            .split(", ")
            .filter(|l| l.chars().any(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(shown.len(), 6, "{axis}");
        assert!(axis.contains("[\"0\", ") && axis.ends_with("\"1\"]"), "{m}");
        assert_eq!(m.matches("    line [").count(), 2);
        assert!(d.note.unwrap().contains("true to scale"));
        assert_eq!(d.legend.unwrap(), "blue: base · orange: target");
        // The interpolation itself, at a third of the way: base between
        // (0.1, 0.6) and (1, 1); target between (0, 0) and (0.5, 0.9).
        let b = [(0.0, 0.0), (0.1, 0.6), (1.0, 1.0)];
        let t = [(0.0, 0.0), (0.5, 0.9), (0.75, 0.95), (1.0, 1.0)];
        assert!((interpolate(&b, 1.0 / 3.0) - (0.6 + 0.4 * (1.0 / 3.0 - 0.1) / 0.9)).abs() < 1e-12);
        assert!((interpolate(&t, 1.0 / 3.0) - 0.6).abs() < 1e-12);
        assert_eq!(interpolate(&b, 2.0), 1.0, "flat past the last x");
        // Evenly spaced, identical x: the points themselves, no note.
        let even = line("e", &[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]);
        let d = draw(&def, &[even], &[]);
        assert!(d.mermaid.unwrap().contains("[\"0\", \"1\", \"2\"]") && d.note.is_none());
    }

    #[test]
    fn a_confusion_matrix_is_a_table_of_counts_or_shares() {
        let src = PlotSource {
            file: "cm.json".into(),
            x: Some("actual".into()),
            y: vec!["predicted".into()],
            x_file: None,
        };
        let rows = [
            ("cat", "cat"),
            ("cat", "dog"),
            ("dog", "dog"),
            ("dog", "dog"),
        ]
        .iter()
        .map(|(a, p)| {
            BTreeMap::from([
                ("actual".to_string(), Json::from(*a)),
                ("predicted".to_string(), Json::from(*p)),
            ])
        })
        .collect();
        let table = Table {
            columns: vec!["actual".into(), "predicted".into()],
            rows,
        };
        let data = [("HEAD".to_string(), &src, table)];
        // DVC's orientation: actual across, predicted down.
        let counts = confusion(&data, false).table_md.unwrap();
        assert_eq!(
            counts,
            "HEAD — `cm.json` (columns: actual, rows: predicted)\n\n| | cat | dog |\n|---|---:|---:|\n| **cat** | 1 | 0 |\n| **dog** | 1 | 2 |\n\n"
        );
        // Normalized: each row (each predicted class) sums to 1.
        let shares = confusion(&data, true).table_md.unwrap();
        assert!(
            shares.contains("| **cat** | 1.00 | 0.00 |\n| **dog** | 0.33 | 0.67 |"),
            "{shares}"
        );
    }
}
