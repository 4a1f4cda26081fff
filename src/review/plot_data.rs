//! Plot data as `dvc plots show --json` and `dvc plots diff --json` give
//! it (read from DVC's `dvc/render/converter/vega.py`,
//! `dvc/commands/plots.py` and dvc-render's `vega.py`):
//! `{"data": {PLOT_ID: [{"type": "vega", "revisions": [...], "content":
//! SPEC}]}}`, where `SPEC.data.values` holds DVC's datapoints:
//!
//! - every row of each source file as DVC reads it (CSV/TSV values as text,
//!   JSON and YAML values as they are; the lists of a JSON/YAML document
//!   merged row by row), then `rev`;
//! - no x field: `step`, the row number; x from another file: its value
//!   from that file's row of the same number; several x fields:
//!   `dvc_inferred_x_value`; several y fields: `dvc_inferred_y_value`;
//! - `filename` and `field` (the y file, shortened by the y files' common
//!   prefix, and the y field) kept only where they vary between the plot's
//!   y sources, as `filename::field` when both vary;
//! - revisions in DVC's order (the workspace first), each one's points
//!   after the one before.
//!
//! The rest of `SPEC` is mlci's own Vega-Lite spec for the plot's kind
//! (DVC's templates are not copied): any Vega-Lite viewer draws it.
//! Images are listed per revision as `{"type": "image", "revisions":
//! [REV], "url": PATH}`.

use indexmap::IndexMap;
use serde_json::{json, Map, Value as Json};

use crate::pipeline::PlotDef;

/// One datapoint: field → value.
type Point = Map<String, Json>;

/// One y source as dvc-render sees it: (short file name, field).
type YDef = (String, String);

/// One revision's files, read on demand (Ok(None): the file is not there).
pub type FileAt<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// DVC's datapoints of one file: CSV/TSV rows as text, the lists of a
/// JSON/YAML document merged row by row.
fn datapoints(bytes: &[u8], file: &str) -> Result<Vec<Map<String, Json>>, String> {
    use crate::review::plots::{csv_rows, document};
    if let Some(read) = csv_rows(bytes, file, true) {
        let (headers, rows) = read?;
        return Ok(rows
            .iter()
            .map(|row| {
                headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.clone(), Json::String(v.to_string())))
                    .collect()
            })
            .collect());
    }
    let tree = document(bytes, file)?;
    let mut out: Vec<Map<String, Json>> = Vec::new();
    let mut lists = Vec::new();
    collect_lists(&tree, &mut lists);
    for list in lists {
        let rows: Option<Vec<&Map<String, Json>>> = list.iter().map(Json::as_object).collect();
        let Some(rows) = rows.filter(|r| !r.is_empty()) else {
            continue;
        };
        // Only lists whose rows all have the first row's keys (DVC's
        // `_is_datapoints`).
        let first: std::collections::BTreeSet<&String> = rows[0].keys().collect();
        if rows.iter().any(|r| r.keys().any(|k| !first.contains(k))) {
            continue;
        }
        for (i, row) in rows.into_iter().enumerate() {
            if out.len() <= i {
                out.push(Map::new());
            }
            for (k, v) in row {
                out[i].insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// Every list of a document: the document itself, or the lists among a
/// mapping's values, nested mappings searched in order.
fn collect_lists<'a>(v: &'a Json, out: &mut Vec<&'a Vec<Json>>) {
    match v {
        Json::Array(a) => out.push(a),
        Json::Object(m) => {
            for v in m.values() {
                match v {
                    Json::Object(_) => collect_lists(v, out),
                    Json::Array(a) => out.push(a),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The (file, field) pairs of the plot's y and x, as DVC infers them.
struct Axes {
    ys: Vec<(String, String)>,
    xs: Vec<(String, String)>,
}

fn axes(def: &PlotDef, files: &IndexMap<String, Vec<Map<String, Json>>>) -> Axes {
    let mut ys = Vec::new();
    let mut xs = Vec::new();
    for s in &def.sources {
        let fields: Vec<String> = if s.y.is_empty() {
            // DVC: the last field of the first row.
            files
                .get(&s.file)
                .and_then(|rows| rows.first())
                .and_then(|r| r.keys().next_back().cloned())
                .into_iter()
                .collect()
        } else {
            s.y.clone()
        };
        if let Some(x) = &s.x {
            match &s.x_file {
                Some(xf) => xs.push((xf.clone(), x.clone())),
                None => xs.extend(fields.iter().map(|_| (s.file.clone(), x.clone()))),
            }
        }
        ys.extend(fields.into_iter().map(|f| (s.file.clone(), f)));
    }
    Axes { ys, xs }
}

/// The common directory prefix of `files` (DVC's `os.path.commonpath`),
/// in characters to drop; 0 for one file.
fn common_prefix(files: &[&str]) -> usize {
    let distinct: std::collections::BTreeSet<&&str> = files.iter().collect();
    if distinct.len() <= 1 {
        return 0;
    }
    let split: Vec<Vec<&str>> = files.iter().map(|f| f.split('/').collect()).collect();
    let mut n = 0;
    while split.iter().all(|p| p.len() > n && p[n] == split[0][n]) {
        n += 1;
    }
    split[0][..n].iter().map(|p| p.len()).sum::<usize>() + n.saturating_sub(1)
}

/// One plot's datapoints at one revision (DVC's `flat_datapoints`), and
/// the y definitions (short file, field).
fn flat(
    def: &PlotDef,
    rev: &str,
    read: &mut FileAt<'_>,
) -> Result<(Vec<Point>, Vec<YDef>), String> {
    let mut files: IndexMap<String, Vec<Map<String, Json>>> = IndexMap::new();
    for s in &def.sources {
        for f in std::iter::once(&s.file).chain(&s.x_file) {
            if files.contains_key(f) {
                continue;
            }
            if let Some(bytes) = read(f)? {
                files.insert(
                    f.clone(),
                    datapoints(&bytes, f).map_err(|m| format!("{f}: {m}"))?,
                );
            }
        }
    }
    let Axes { ys, xs } = axes(def, &files);
    let many_x = xs.len() > 1 && xs.iter().any(|x| x.1 != xs[0].1);
    let many_y = ys.iter().any(|y| y.1 != ys[0].1);
    let y_files: Vec<&str> = ys.iter().map(|y| y.0.as_str()).collect();
    let cut = common_prefix(&y_files);
    let short = |f: &str| f[cut.min(f.len())..].trim_matches('/').to_string();
    let mut out = Vec::new();
    for (i, (y_file, y_field)) in ys.iter().enumerate() {
        let Some(rows) = files.get(y_file) else {
            continue;
        };
        let mut points = rows.clone();
        if many_y {
            for p in &mut points {
                if let Some(v) = p.get(y_field).cloned() {
                    p.insert("dvc_inferred_y_value".into(), v);
                }
            }
        }
        match xs.get(if xs.len() > 1 { i } else { 0 }) {
            None => {
                for (n, p) in points.iter_mut().enumerate() {
                    p.insert("step".into(), json!(n));
                }
            }
            Some((x_file, x_field)) => {
                let from = files.get(x_file).cloned().unwrap_or_default();
                if from.len() != points.len() {
                    return Err(format!(
                        "cannot join `{x_field}` from {x_file} and `{y_field}` from {y_file}: they have to have the same length"
                    ));
                }
                let name = if many_x {
                    "dvc_inferred_x_value"
                } else {
                    x_field.as_str()
                };
                for (p, src) in points.iter_mut().zip(&from) {
                    if let Some(v) = src.get(x_field) {
                        p.insert(name.into(), v.clone());
                    }
                }
            }
        }
        for p in &mut points {
            p.insert("rev".into(), json!(rev));
            p.insert("filename".into(), json!(short(y_file)));
            p.insert("field".into(), json!(y_field));
        }
        out.extend(points);
    }
    let defs = ys.iter().map(|(f, y)| (short(f), y.clone())).collect();
    Ok((out, defs))
}

/// dvc-render's last step: `filename` and `field` stay only where the y
/// definitions vary in them (both varying: joined as `filename::field`).
fn keep_varied(points: &mut [Map<String, Json>], defs: &[(String, String)]) {
    let varies = |pick: fn(&(String, String)) -> &String| {
        defs.len() > 1 && defs.iter().any(|d| pick(d) != pick(&defs[0]))
    };
    let (files, fields) = (varies(|d| &d.0), varies(|d| &d.1));
    for p in points {
        if files && fields {
            let joined = format!(
                "{}::{}",
                p.get("filename").and_then(Json::as_str).unwrap_or(""),
                p.get("field").and_then(Json::as_str).unwrap_or("")
            );
            p.insert("filename::field".into(), json!(joined));
        }
        if !files || fields {
            p.remove("filename");
        }
        if !fields || files {
            p.remove("field");
        }
    }
}

/// `dvc plots show/diff --json`'s document for `defs` at `revs` (label,
/// reader of its files), in DVC's order (the workspace first); `kind`
/// gives each plot's built-in template. Err: the plot and why it could
/// not be read.
pub fn document(
    defs: &[PlotDef],
    revs: &mut [(String, Box<FileAt<'_>>)],
    kind: &dyn Fn(&PlotDef) -> String,
) -> Result<Json, String> {
    let mut data = Map::new();
    for def in defs {
        if def
            .sources
            .iter()
            .all(|s| crate::review::plots::is_image(&s.file))
        {
            let mut images = Vec::new();
            for (label, read) in revs.iter_mut() {
                for s in &def.sources {
                    if read(&s.file)?.is_some() {
                        images.push(json!({"type": "image", "revisions": [label], "url": s.file}));
                    }
                }
            }
            data.insert(def.id.clone(), Json::Array(images));
            continue;
        }
        let mut points = Vec::new();
        let mut defs_y = Vec::new();
        let mut shown = Vec::new();
        for (label, read) in revs.iter_mut() {
            let (p, d) = flat(def, label, read).map_err(|m| format!("plot `{}`: {m}", def.id))?;
            if !p.is_empty() {
                shown.push(label.clone());
            }
            points.extend(p);
            defs_y = d;
        }
        if points.is_empty() {
            data.insert(def.id.clone(), json!([]));
            continue;
        }
        keep_varied(&mut points, &defs_y);
        let spec = spec(def, &kind(def), &defs_y, points);
        data.insert(
            def.id.clone(),
            json!([{"type": "vega", "revisions": shown, "content": spec}]),
        );
    }
    Ok(json!({ "data": data }))
}

/// mlci's Vega-Lite spec for a plot of `kind` holding `points`.
fn spec(
    def: &PlotDef,
    kind: &str,
    defs_y: &[(String, String)],
    points: Vec<Map<String, Json>>,
) -> Json {
    let x = def
        .sources
        .iter()
        .find_map(|s| s.x.clone())
        .unwrap_or_else(|| "step".into());
    let y = match defs_y {
        [one] => one.1.clone(),
        _ if defs_y.iter().all(|d| d.1 == defs_y[0].1) => defs_y[0].1.clone(),
        _ => "dvc_inferred_y_value".into(),
    };
    let title = def.title.clone().unwrap_or_default();
    let x_label = def.x_label.clone().unwrap_or_else(|| x.clone());
    let y_label = def.y_label.clone().unwrap_or_else(|| y.clone());
    let (mark, xt, yt) = match kind {
        k if k.starts_with("confusion") => ("rect", "nominal", "nominal"),
        k if k.starts_with("bar_") => ("bar", "quantitative", "nominal"),
        k if k.starts_with("scatter") => ("point", "quantitative", "quantitative"),
        _ => ("line", "quantitative", "quantitative"),
    };
    let mut encoding = json!({
        "x": {"field": x, "type": xt, "title": x_label},
        "y": {"field": y, "type": yt, "title": y_label},
        "color": {"field": "rev", "type": "nominal"},
    });
    if mark == "rect" {
        encoding["color"] = json!({"aggregate": "count", "type": "quantitative"});
        encoding["row"] = json!({"field": "rev", "type": "nominal"});
    }
    json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": points},
        "title": title,
        "width": 300,
        "height": 300,
        "mark": mark,
        "encoding": encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_prefix_is_whole_directories() {
        assert_eq!(common_prefix(&["a/b/x.csv", "a/b/y.csv"]), 3);
        assert_eq!(common_prefix(&["a/bx.csv", "a/by.csv"]), 1);
        assert_eq!(common_prefix(&["x.csv", "y.csv"]), 0);
        assert_eq!(common_prefix(&["x.csv", "x.csv"]), 0);
    }
}
