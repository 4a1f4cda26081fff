//! Plots: series read from CSV, TSV, JSON or YAML records at two revisions,
//! drawn as Mermaid `xychart-beta` blocks (GitHub renders Mermaid in
//! comments, so nothing needs hosting); the SVG files are `svg.rs`'s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

use crate::pipeline::{PlotDef, PlotSource};

/// At most this many points per line in a Mermaid chart: more is unreadable.
pub const MAX_POINTS: usize = 40;

/// One record (row) of a plot file.
pub type Record = BTreeMap<String, Json>;

/// A plot file's rows, with its columns in file order (CSV/TSV header
/// order; key order for JSON/YAML records).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Record>,
}

/// Image files are linked, not drawn.
pub fn is_image(file: &str) -> bool {
    let f = file.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]
        .iter()
        .any(|e| f.ends_with(e))
}

/// A CSV file's header names and its rows.
pub type CsvRows = (Vec<String>, Vec<csv::StringRecord>);

/// A CSV or TSV plot file's header and rows (None: `file` is neither);
/// `flexible` lets rows be shorter or longer than the header.
pub fn csv_rows(bytes: &[u8], file: &str, flexible: bool) -> Option<Result<CsvRows, String>> {
    let lower = file.to_ascii_lowercase();
    if !(lower.ends_with(".csv") || lower.ends_with(".tsv")) {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if lower.ends_with(".tsv") { b'\t' } else { b',' })
        .flexible(flexible)
        .from_reader(bytes);
    Some((|| {
        let headers = reader.headers().map_err(|e| e.to_string())?;
        let headers: Vec<String> = headers.iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok((headers, rows))
    })())
}

/// A JSON or YAML plot file's document.
pub fn document(bytes: &[u8], file: &str) -> Result<Json, String> {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".json") {
        crate::pipeline::params::parse_json(&String::from_utf8_lossy(bytes))
            .map_err(|e| e.to_string())
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        crate::pipeline::params::parse(&String::from_utf8_lossy(bytes), file)
            .map_err(|e| e.to_string())
    } else {
        Err("plot data must be CSV, TSV, JSON or YAML".into())
    }
}

/// Parses plot data by the file's extension.
pub fn parse_records(bytes: &[u8], file: &str) -> Result<Table, String> {
    if let Some(read) = csv_rows(bytes, file, false) {
        let (headers, rows) = read?;
        let out = rows
            .iter()
            .map(|row| {
                headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| {
                        let v = v.trim();
                        // A number keeps how it is written (`0` stays an
                        // integer, a class label reads as in the file).
                        let value = serde_json::from_str::<serde_json::Number>(v)
                            .ok()
                            .or_else(|| {
                                v.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                            })
                            .map(Json::Number)
                            .unwrap_or_else(|| Json::String(v.to_string()));
                        (h.clone(), value)
                    })
                    .collect()
            })
            .collect();
        return Ok(Table {
            columns: headers,
            rows: out,
        });
    }
    let tree = document(bytes, file)?;
    // A list of records, or a mapping holding one (`{"train": [...]}`).
    let list = match tree {
        Json::Array(a) => a,
        Json::Object(m) => m
            .into_iter()
            .find_map(|(_, v)| v.as_array().cloned())
            .ok_or("expected a list of records")?,
        _ => return Err("expected a list of records".into()),
    };
    let rows: Vec<Record> = list
        .into_iter()
        .filter_map(|v| v.as_object().map(|o| o.clone().into_iter().collect()))
        .collect();
    let columns = rows
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Table { columns, rows })
}

/// One drawn line: x labels and y values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub label: String,
    pub x: Vec<String>,
    pub y: Vec<f64>,
}

/// The lines of one source: for each y field, its values (x: a field, else
/// the row number).
pub fn lines(table: &Table, source: &PlotSource, label: &str) -> Vec<Line> {
    let records = &table.rows;
    let y_fields: Vec<String> = if source.y.is_empty() {
        // DVC's default: the last numeric column.
        let first = records.first();
        table
            .columns
            .iter()
            .rfind(|c| {
                Some(*c) != source.x.as_ref()
                    && first.and_then(|r| r.get(*c)).is_some_and(Json::is_number)
            })
            .cloned()
            .into_iter()
            .collect()
    } else {
        source.y.clone()
    };
    y_fields
        .into_iter()
        .map(|field| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for (i, r) in records.iter().enumerate() {
                if let Some(v) = r.get(&field).and_then(Json::as_f64) {
                    let xv = match &source.x {
                        Some(xf) => match r.get(xf) {
                            Some(Json::Number(n)) => num(n.as_f64().unwrap_or(0.0)),
                            Some(v) => crate::pipeline::params::show(v),
                            None => String::new(),
                        },
                        None => i.to_string(),
                    };
                    x.push(xv);
                    y.push(v);
                }
            }
            Line {
                label: format!("{label}: {} {field}", source.file),
                x,
                y,
            }
        })
        .collect()
}

/// Evenly spaced indices keeping the first and the last point.
pub fn downsample_indices(n: usize, max: usize) -> Vec<usize> {
    if n <= max || max < 2 {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..max).map(|i| i * (n - 1) / (max - 1)).collect();
    idx.dedup();
    idx
}

/// A number for a chart: at most 6 decimals, never scientific notation
/// (Mermaid's grammar reads only plain decimals).
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A Mermaid string: the text comes from plot files and mlci.yaml (the pull
/// request), see [`crate::escape::mermaid_string`].
pub(crate) fn quote(s: &str) -> String {
    crate::escape::mermaid_string(s)
}

/// The head of a Mermaid `xychart-beta` block: title, the x axis with
/// `labels`, and a y axis spanning `values` (`horizontal`: bars across).
pub fn mermaid_head(
    def: &PlotDef,
    horizontal: bool,
    labels: &[String],
    values: impl Iterator<Item = f64>,
) -> String {
    let mut s = String::from(if horizontal {
        "xychart-beta horizontal\n"
    } else {
        "xychart-beta\n"
    });
    let title = def.title.clone().unwrap_or_else(|| def.id.clone());
    let _ = writeln!(s, "    title {}", quote(&title));
    let x_label = def.x_label.clone().unwrap_or_else(|| {
        def.sources
            .first()
            .and_then(|s| s.x.clone())
            .unwrap_or_else(|| "step".into())
    });
    let xs: Vec<String> = labels.iter().map(|l| quote(l)).collect();
    let _ = writeln!(s, "    x-axis {} [{}]", quote(&x_label), xs.join(", "));
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if !lo.is_finite() {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let fields: std::collections::BTreeSet<&str> = def
        .sources
        .iter()
        .flat_map(|s| s.y.iter().map(String::as_str))
        .collect();
    let y_label = def.y_label.clone().unwrap_or_else(|| match fields.len() {
        1 => fields.iter().next().expect("one field").to_string(),
        _ => "value".into(),
    });
    let _ = writeln!(
        s,
        "    y-axis {} {} --> {}",
        quote(&y_label),
        num(lo),
        num(hi)
    );
    s
}

/// Line colours, in order: each named so the legend can say which line is
/// which (Mermaid's xychart draws no legend). Strong on white, and the
/// first two (base and target) unlike each other in hue and lightness.
pub const PALETTE: [(&str, &str); 6] = [
    ("blue", "#1f77b4"),
    ("orange", "#ff7f0e"),
    ("green", "#2ca02c"),
    ("red", "#d62728"),
    ("purple", "#9467bd"),
    ("brown", "#8c564b"),
];

/// The Mermaid directive that colours `n` lines from [`PALETTE`] (the
/// default theme draws the first line a pale lavender).
pub fn palette_directive(n: usize) -> String {
    let colours: Vec<&str> = (0..n.max(1))
        .map(|i| PALETTE[i % PALETTE.len()].1)
        .collect();
    format!(
        "%%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{}\"}}}}}}}}%%\n",
        colours.join(", ")
    )
}

/// The legend line under a chart: each line's colour and what it is
/// (`blue: main (abc12345) loss.csv loss · orange: workspace loss.csv
/// loss`).
pub fn legend(labels: &[String]) -> String {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}: {l}", PALETTE[i % PALETTE.len()].0))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A blank x label that is unique (Mermaid merges equal categories): `k`
/// zero-width spaces.
pub(crate) fn blank_label(k: usize) -> String {
    "\u{200b}".repeat(k + 1)
}

/// Category labels thinned to about 8 shown: every `step`-th kept, the
/// rest blank (and unique), so they never overlap into a smear.
pub fn thin_labels(labels: &[String]) -> Vec<String> {
    let step = labels.len().div_ceil(8).max(1);
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % step == 0 {
                l.clone()
            } else {
                blank_label(i)
            }
        })
        .collect()
}

/// A coloured Mermaid `xychart-beta` block: the x axis's `labels` (blank
/// ones between ticks), and each line's values along them; a line may
/// be shorter than the axis, and then ends where its data ends.
pub fn mermaid_lines(def: &PlotDef, labels: &[String], lines: &[Vec<f64>]) -> String {
    let mut s = palette_directive(lines.len());
    s.push_str(&mermaid_head(
        def,
        false,
        labels,
        lines.iter().flatten().copied(),
    ));
    for ys in lines {
        let ys: Vec<String> = ys.iter().map(|y| num(*y)).collect();
        let _ = writeln!(s, "    line [{}]", ys.join(", "));
    }
    s
}

/// A Mermaid `xychart-beta` block for lines whose x values are not numbers:
/// the first line's x values (at most [`MAX_POINTS`], about 8 shown), the
/// others by relative position.
pub fn mermaid(def: &PlotDef, lines: &[Line]) -> Option<String> {
    let first = lines.iter().find(|l| !l.y.is_empty())?;
    let idx = downsample_indices(first.x.len(), MAX_POINTS);
    let labels: Vec<String> = idx.iter().map(|i| first.x[*i].clone()).collect();
    let values: Vec<Vec<f64>> = lines
        .iter()
        .filter(|l| !l.y.is_empty())
        .map(|line| {
            let n = line.y.len();
            (0..idx.len())
                .map(|k| {
                    let pos = if idx.len() == 1 {
                        0
                    } else {
                        k * (n - 1) / (idx.len() - 1)
                    };
                    line.y[pos.min(n - 1)]
                })
                .collect()
        })
        .collect();
    Some(mermaid_lines(def, &thin_labels(&labels), &values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(file: &str, x: Option<&str>, y: &[&str]) -> PlotSource {
        PlotSource {
            file: file.into(),
            x: x.map(str::to_string),
            y: y.iter().map(|s| s.to_string()).collect(),
            x_file: None,
        }
    }

    #[test]
    fn four_formats_of_records() {
        let csv = parse_records(b"step,loss\n0,1.0\n1,0.5\n", "l.csv").unwrap();
        let tsv = parse_records(b"step\tloss\n0\t1.0\n1\t0.5\n", "l.tsv").unwrap();
        let json = parse_records(
            br#"[{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}]"#,
            "l.json",
        )
        .unwrap();
        let yaml = parse_records(
            b"train:\n- {step: 0, loss: 1.0}\n- {step: 1, loss: 0.5}\n",
            "l.yaml",
        )
        .unwrap();
        for r in [&csv, &tsv, &json, &yaml] {
            let l = lines(r, &src("f", Some("step"), &["loss"]), "base");
            assert_eq!(l[0].y, [1.0, 0.5]);
            assert_eq!(l[0].x, ["0", "1"]);
        }
        // Default y: the last numeric column; default x: the row number.
        let l = lines(&csv, &src("f", None, &[]), "head");
        assert_eq!(
            (l[0].x.clone(), l[0].y.clone()),
            (vec!["0".to_string(), "1".into()], vec![1.0, 0.5])
        );
        assert!(parse_records(b"nope", "x.bin").is_err());
    }

    #[test]
    fn downsampling_keeps_the_ends_and_bounds_the_count() {
        let idx = downsample_indices(1000, 40);
        assert_eq!(idx.len(), 40);
        assert_eq!((idx[0], idx[39]), (0, 999));
        assert_eq!(downsample_indices(5, 40), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn mermaid_block_shape() {
        let def = PlotDef {
            id: "loss.csv".into(),
            title: Some("Loss".into()),
            ..Default::default()
        };
        let base = Line {
            label: "b".into(),
            x: (0..100).map(|i| i.to_string()).collect(),
            y: (0..100).map(|i| 1.0 / (i + 1) as f64).collect(),
        };
        let head = Line {
            label: "h".into(),
            x: (0..50).map(|i| i.to_string()).collect(),
            y: (0..50).map(|i| 0.5 / (i + 1) as f64).collect(),
        };
        let m = mermaid(&def, &[base, head]).unwrap();
        // Coloured (blue, then orange), the labels thinned to about 8.
        assert!(
            m.starts_with("%%{init: {\"themeVariables\": {\"xyChart\": {\"plotColorPalette\": \"#1f77b4, #ff7f0e\"}}}}%%\nxychart-beta\n    title \"Loss\"\n    x-axis \"step\" [\"0\", \"\u{200b}\u{200b}\", "),
            "{m}"
        );
        let axis = m.lines().find(|l| l.contains("x-axis")).unwrap();
        let shown = axis
            .split(", ")
            .filter(|l| l.chars().any(|c| c.is_ascii_digit()))
            .count();
        assert!((3..=10).contains(&shown), "{axis}");
        assert_eq!(m.matches("    line [").count(), 2);
        let first_line = m.lines().find(|l| l.starts_with("    line [")).unwrap();
        assert_eq!(first_line.matches(',').count() + 1, MAX_POINTS);
        assert_eq!(
            legend(&["main: loss".into(), "workspace: loss".into()]),
            "blue: main: loss · orange: workspace: loss"
        );
    }
}
