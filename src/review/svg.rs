//! Plots as standalone SVG files (`--plots-dir`), drawn by mlci itself (no
//! browser, no Node): a line chart true to scale on both axes with round
//! ticks and light grid lines, each line in the report's colours and ending
//! where its data ends, and a legend below the plot area (never over the
//! data); a confusion matrix as a heat map per revision (DVC's orientation:
//! actual across, predicted down; counts, or each row's share); bars as
//! grouped horizontal bars; scatter as points. Every text from a plot file
//! or mlci.yaml is escaped for XML.

use std::fmt::Write as _;

use super::plot_kinds::{confusion_cells, round_step, Data};
use super::plots::{Line, PALETTE};
use crate::pipeline::PlotDef;

const W: f64 = 720.0;
/// The plot area: left, right, top, bottom.
const X0: f64 = 72.0;
const X1: f64 = 700.0;
const Y0: f64 = 48.0;
const Y1: f64 = 320.0;

/// `--plots-url`: an `https://` URL of plain characters only (it goes
/// into Markdown image links as it is).
pub fn plots_url(text: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:/%+@=".contains(c);
    if !text.starts_with("https://") || text.len() <= "https://".len() {
        return Err("the URL must start with https://".into());
    }
    if let Some(c) = text.chars().find(|c| !plain(*c)) {
        return Err(format!(
            "{c:?} is not allowed in the URL (letters, digits and - . _ ~ : / % + @ = only)"
        ));
    }
    Ok(text.to_string())
}

/// The file a plot's SVG is written to: its id made a plain file name
/// (`loss.csv` → `loss_csv.svg`).
pub fn file_name(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.svg")
}

/// One self-contained HTML page (no script, no network) showing `svgs`
/// (each made by [`render`], so its text is escaped) under `heading`.
pub fn page(heading: &str, svgs: &[String]) -> String {
    let mut s = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{h}</title>\n<style>body{{font-family:sans-serif;margin:24px}} .plot{{display:inline-block;margin:8px;border:1px solid #ddd}}</style></head>\n<body>\n<h1>{h}</h1>\n",
        h = esc(heading)
    );
    for svg in svgs {
        s.push_str("<div class=\"plot\">\n");
        s.push_str(svg);
        s.push_str("</div>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// The SVG of plot `def` drawn as built-in template `kind`.
pub fn render(def: &PlotDef, kind: &str, lines: &[Line], data: &[Data<'_>]) -> String {
    let title = def.title.clone().unwrap_or_else(|| def.id.clone());
    match kind {
        "confusion" | "confusion_normalized" => {
            confusion(&title, data, kind == "confusion_normalized")
        }
        "bar_horizontal" | "bar_horizontal_sorted" => bars(&title, data),
        "scatter" => chart(def, &title, lines, true),
        _ => chart(def, &title, lines, false),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn label(x: f64) -> String {
    crate::review::metrics::diff::fmt_number(x, 3)
}

fn head(h: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        W / 2.0,
        esc(title)
    )
}

/// Round ticks covering `lo..=hi` (about 7), and the covered range.
fn ticks(lo: f64, hi: f64, integers: bool) -> (Vec<f64>, f64, f64) {
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let mut step = round_step(span / 7.0);
    if integers {
        step = step.max(1.0);
    }
    let (a, b) = if hi > lo {
        ((lo / step).floor() * step, (hi / step).ceil() * step)
    } else {
        (lo - step, hi + step)
    };
    let n = ((b - a) / step).round() as usize;
    let t = (0..=n).map(|i| a + step * i as f64).collect();
    (t, a, b)
}

/// A legend below the plot area: a swatch and a label per entry, wrapped
/// into rows; returns the SVG and the height it takes.
fn legend(entries: &[(String, &str)], top: f64) -> (String, f64) {
    let mut s = String::new();
    let (mut x, mut y) = (X0, top);
    for (text, colour) in entries {
        let width = 28.0 + 6.5 * text.chars().count() as f64;
        if x + width > X1 && x > X0 {
            x = X0;
            y += 20.0;
        }
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"16\" height=\"4\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y - 5.0,
            x + 22.0,
            y,
            esc(text)
        );
        x += width + 12.0;
    }
    (s, y - top + 20.0)
}

/// Each label with its colour, in palette order.
fn coloured(labels: &[String]) -> Vec<(String, &'static str)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), PALETTE[i % PALETTE.len()].1))
        .collect()
}

/// Lines (or points) on numeric axes, true to scale; x values that are
/// not numbers are placed by position, every label shown when few.
fn chart(def: &PlotDef, title: &str, lines: &[Line], points: bool) -> String {
    let lines: Vec<&Line> = lines.iter().filter(|l| !l.y.is_empty()).collect();
    let numeric = lines.iter().all(|l| {
        l.x.iter()
            .all(|x| x.parse::<f64>().is_ok_and(f64::is_finite))
    });
    let series: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|l| {
            let mut pts: Vec<(f64, f64)> =
                l.x.iter()
                    .zip(&l.y)
                    .enumerate()
                    .map(|(i, (x, y))| {
                        let x = if numeric {
                            x.parse().unwrap_or(0.0)
                        } else {
                            i as f64
                        };
                        (x, *y)
                    })
                    .filter(|p| p.1.is_finite())
                    .collect();
            if !points {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            pts
        })
        .collect();
    let all = series.iter().flatten();
    let (xlo, xhi, ylo, yhi) = all.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), p| (a.min(p.0), b.max(p.0), c.min(p.1), d.max(p.1)),
    );
    let labels: Vec<String> = lines.iter().map(|l| l.label.clone()).collect();
    let (legend_svg, legend_h) = legend(&coloured(&labels), Y1 + 62.0);
    let h = Y1 + 62.0 + legend_h;
    let mut s = head(h, title);
    if !xlo.is_finite() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">no numeric values to draw</text>",
            W / 2.0,
            (Y0 + Y1) / 2.0
        );
        s.push_str("</svg>\n");
        return s;
    }
    let integers = series.iter().flatten().all(|p| p.0.fract() == 0.0);
    let (xt, xa, xb) = ticks(xlo, xhi, integers);
    let (yt, ya, yb) = ticks(ylo, yhi, false);
    let px = |x: f64| X0 + (X1 - X0) * (x - xa) / (xb - xa);
    let py = |y: f64| Y1 - (Y1 - Y0) * (y - ya) / (yb - ya);
    for t in &yt {
        let _ = writeln!(
            s,
            "<line x1=\"{X0}\" y1=\"{y:.1}\" x2=\"{X1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            X0 - 6.0,
            py(*t) + 4.0,
            label(*t),
            y = py(*t)
        );
    }
    let first = lines.first().map(|l| &l.x);
    for t in &xt {
        let text = if numeric {
            label(*t)
        } else {
            // Categories: the first line's label at that position.
            first
                .and_then(|x| x.get(*t as usize))
                .cloned()
                .unwrap_or_default()
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{Y0}\" x2=\"{x:.1}\" y2=\"{Y1}\" stroke=\"#f0f0f0\"/><line x1=\"{x:.1}\" y1=\"{Y1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#555\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            Y1 + 5.0,
            Y1 + 18.0,
            esc(&text),
            x = px(*t)
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{X0}\" y1=\"{Y1}\" x2=\"{X1}\" y2=\"{Y1}\" stroke=\"#555\"/><line x1=\"{X0}\" y1=\"{Y0}\" x2=\"{X0}\" y2=\"{Y1}\" stroke=\"#555\"/>"
    );
    s.push_str(&axis_titles(def));
    for (i, pts) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()].1;
        if points {
            for (x, y) in pts {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                    px(*x),
                    py(*y)
                );
            }
            continue;
        }
        let d: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            d.join(" ")
        );
    }
    s.push_str(&legend_svg);
    s.push_str("</svg>\n");
    s
}

/// The axes' titles: x (the x field by default) under the axis, y along
/// it when set.
fn axis_titles(def: &PlotDef) -> String {
    let x_label = def
        .x_label
        .clone()
        .or_else(|| def.sources.first().and_then(|s| s.x.clone()))
        .unwrap_or_else(|| "step".into());
    let mut s = format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
        (X0 + X1) / 2.0,
        Y1 + 38.0,
        esc(&x_label)
    );
    if let Some(y_label) = &def.y_label {
        let _ = writeln!(
            s,
            "<text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
            (Y0 + Y1) / 2.0,
            esc(y_label)
        );
    }
    s
}

/// One heat map per revision, side by side: a cell per (predicted row,
/// actual column), shaded by its count (or share of its row), the number
/// written in it.
fn confusion(title: &str, data: &[Data<'_>], normalized: bool) -> String {
    let panels: Vec<(String, Vec<String>, Vec<Vec<f64>>)> = data
        .iter()
        .filter_map(|(rev, source, table)| {
            let (actual, predicted) = (source.x.as_deref()?, source.y.first()?);
            let (classes, counts) = confusion_cells(table, actual, predicted);
            let grid: Vec<Vec<f64>> = classes
                .iter()
                .map(|p| {
                    let row: Vec<f64> = classes
                        .iter()
                        .map(|a| counts.get(&(a.clone(), p.clone())).copied().unwrap_or(0) as f64)
                        .collect();
                    let total: f64 = row.iter().sum();
                    if normalized && total > 0.0 {
                        row.iter().map(|n| n / total).collect()
                    } else {
                        row
                    }
                })
                .collect();
            Some((rev.clone(), classes, grid))
        })
        .collect();
    let size = 260.0;
    let h = Y0 + size + 70.0;
    let mut s = head(h, title);
    let width = (W - 40.0) / panels.len().max(1) as f64;
    for (k, (rev, classes, grid)) in panels.iter().enumerate() {
        let left = 40.0 + width * k as f64 + (width - size) / 2.0;
        let n = classes.len().max(1) as f64;
        let cell = size / n;
        let max = grid
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(1e-12);
        for (r, row) in grid.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let t = v / max;
                // White to the report's blue.
                let mix = |w: f64, b: f64| (w + (b - w) * t).round() as u8;
                let fill = format!(
                    "#{:02x}{:02x}{:02x}",
                    mix(255.0, 31.0),
                    mix(255.0, 119.0),
                    mix(255.0, 180.0)
                );
                let text = if normalized {
                    format!("{v:.2}")
                } else {
                    label(*v)
                };
                let _ = writeln!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" fill=\"{fill}\" stroke=\"#ccc\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"{}\">{text}</text>",
                    left + cell * c as f64,
                    Y0 + 20.0 + cell * r as f64,
                    left + cell * (c as f64 + 0.5),
                    Y0 + 24.0 + cell * (r as f64 + 0.5),
                    if t > 0.6 { "white" } else { "black" }
                );
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">{} (columns: actual, rows: predicted)</text>",
            left + size / 2.0,
            Y0 + 8.0,
            esc(rev)
        );
        for (i, c) in classes.iter().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
                left + cell * (i as f64 + 0.5),
                Y0 + 36.0 + size,
                esc(c),
                left - 4.0,
                Y0 + 24.0 + cell * (i as f64 + 0.5),
                esc(c)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Grouped horizontal bars: a category per row, one bar per revision.
fn bars(title: &str, data: &[Data<'_>]) -> String {
    let mut cats: Vec<String> = Vec::new();
    let series: Vec<(String, Vec<(String, f64)>)> = data
        .iter()
        .filter_map(|(rev, source, table)| {
            let (value, category) = (source.x.as_deref()?, source.y.first()?);
            let pts: Vec<(String, f64)> = table
                .rows
                .iter()
                .filter_map(|r| {
                    let c = crate::pipeline::interpolate::to_str(r.get(category)?);
                    let v = r.get(value)?.as_f64()?;
                    Some((c, v))
                })
                .collect();
            for (c, _) in &pts {
                if !cats.contains(c) {
                    cats.push(c.clone());
                }
            }
            Some((format!("{rev}: {}", source.file), pts))
        })
        .collect();
    cats.truncate(40);
    let row = 14.0 * series.len().max(1) as f64 + 8.0;
    let plot_h = row * cats.len().max(1) as f64;
    let entries: Vec<(String, &str)> = series
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l.clone(), PALETTE[i % PALETTE.len()].1))
        .collect();
    let (legend_svg, legend_h) = legend(&entries, Y0 + plot_h + 48.0);
    let mut s = head(Y0 + plot_h + 48.0 + legend_h, title);
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(0.0, f64::max);
    let (xt, _, xb) = ticks(0.0, max.max(1e-12), false);
    let left = 160.0;
    let px = |v: f64| left + (X1 - left) * v / xb;
    for t in &xt {
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{Y0}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e5e5e5\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            Y0 + plot_h,
            Y0 + plot_h + 16.0,
            label(*t),
            x = px(*t)
        );
    }
    for (r, c) in cats.iter().enumerate() {
        let top = Y0 + row * r as f64;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            left - 6.0,
            top + row / 2.0 + 4.0,
            esc(c)
        );
        for (i, (_, pts)) in series.iter().enumerate() {
            if let Some((_, v)) = pts.iter().find(|(k, _)| k == c) {
                let _ = writeln!(
                    s,
                    "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" fill=\"{}\"/>",
                    top + 4.0 + 14.0 * i as f64,
                    px(*v) - left,
                    PALETTE[i % PALETTE.len()].1
                );
            }
        }
    }
    s.push_str(&legend_svg);
    s.push_str("</svg>\n");
    s
}
