//! What changed between two sets of values, and how to show it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

/// One key's values on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub path: String,
    pub key: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
    /// new - old, when both are numbers.
    pub change: Option<f64>,
    /// (new - old) / |old|, when both are numbers and old is not 0.
    pub relative: Option<f64>,
    /// Which way is better for this metric (None: unknown, or a param).
    pub direction: Option<crate::review::direction::Direction>,
    /// `better`, `worse` or `same` under `direction`; None when unknown.
    pub verdict: Option<&'static str>,
}

impl Row {
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
}

/// Absolute and relative change from `old` to `new`.
pub fn delta(old: f64, new: f64) -> (f64, Option<f64>) {
    let abs = new - old;
    let rel = if old == 0.0 {
        None
    } else {
        Some(abs / old.abs())
    };
    (abs, rel)
}

/// Rows for every key on either side, sorted by key.
pub fn diff(path: &str, old: &BTreeMap<String, Json>, new: &BTreeMap<String, Json>) -> Vec<Row> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let (o, n) = (old.get(k).cloned(), new.get(k).cloned());
            let (change, relative) = match (
                o.as_ref().and_then(Json::as_f64),
                n.as_ref().and_then(Json::as_f64),
            ) {
                (Some(a), Some(b)) if !is_bool(&o) && !is_bool(&n) => {
                    let (abs, rel) = delta(a, b);
                    (Some(abs), rel)
                }
                _ => (None, None),
            };
            Row {
                path: path.into(),
                key: k.clone(),
                old: o,
                new: n,
                change,
                relative,
                direction: None,
                verdict: None,
            }
        })
        .collect()
}

fn is_bool(v: &Option<Json>) -> bool {
    matches!(v, Some(Json::Bool(_)))
}

/// The most decimal places a number is printed with (`--precision`).
pub const MAX_PRECISION: usize = 30;

/// A value rounded to `precision` decimals (at most [`MAX_PRECISION`]),
/// without trailing zeros. A value that rounding would hide (non-zero but
/// below half the last decimal: `1e-7` at 5 decimals) or one of 1e16 and
/// more is shown in scientific notation with `precision` significant digits,
/// as Python (and so DVC) shows it: `1e-07`, `2.5e+16`. NaN and infinities
/// as Python writes them: `nan`, `inf`, `-inf`.
pub fn fmt_number(x: f64, precision: usize) -> String {
    // Rust's formatter panics on a precision of 65536 and more; an f64 has
    // no more than 17 significant digits, and [`MAX_PRECISION`] decimals
    // show every one of them for any value a metric takes.
    let precision = precision.min(MAX_PRECISION);
    if !x.is_finite() {
        return crate::pipeline::interpolate::python_float(x);
    }
    let hidden = x != 0.0 && x.abs() < 0.5 * 10f64.powi(-(precision as i32));
    if hidden || x.abs() >= 1e16 {
        return scientific(x, precision.max(1));
    }
    let s = format!("{x:.precision$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// `x` with `digits` significant digits in Python's `e` form, trailing
/// zeros dropped: `1.2346e-07`, `1e-07`.
fn scientific(x: f64, digits: usize) -> String {
    let s = format!("{x:.prec$e}", prec = digits - 1);
    let (mantissa, exp) = s.split_once('e').expect("`{:e}` has an exponent");
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    let exp: i32 = exp.parse().expect("`{:e}` exponent is a number");
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

pub fn fmt_value(v: &Option<Json>, precision: usize) -> String {
    match v {
        None => "—".into(),
        Some(Json::Number(n)) if n.is_f64() => fmt_number(n.as_f64().unwrap_or(0.0), precision),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `+0.012 (+1.4%)`, `added`, `removed`, `changed`, or empty.
pub fn fmt_change(r: &Row, precision: usize) -> String {
    match (&r.old, &r.new) {
        (None, Some(_)) => return "added".into(),
        (Some(_), None) => return "removed".into(),
        _ => {}
    }
    match r.change {
        Some(c) => {
            let abs = fmt_number(c, precision);
            let abs = if c > 0.0 && abs != "0" {
                format!("+{abs}")
            } else {
                abs
            };
            match r.relative {
                Some(rel) => {
                    let pct = fmt_number(rel * 100.0, precision.min(2));
                    let pct = if rel > 0.0 && pct != "0" {
                        format!("+{pct}")
                    } else {
                        pct
                    };
                    format!("{abs} ({pct}%)")
                }
                None => abs,
            }
        }
        None if r.changed() => "changed".into(),
        None => String::new(),
    }
}

/// ▲ / ▼ for a numeric increase or decrease, for Markdown.
pub fn arrow(r: &Row) -> &'static str {
    match r.change {
        Some(c) if c > 0.0 => "▲ ",
        Some(c) if c < 0.0 => "▼ ",
        _ => "",
    }
}

/// A plain-text table with aligned columns.
pub fn plain_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// A Markdown table (pipes in cells escaped).
pub fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "| {} |\n|{}|\n",
        header.join(" | "),
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Json) -> BTreeMap<String, Json> {
        crate::pipeline::params::flatten(&v)
    }

    #[test]
    fn delta_arithmetic() {
        assert_eq!(delta(0.8, 0.9).0, 0.9 - 0.8);
        assert!((delta(0.8, 0.9).1.unwrap() - 0.125).abs() < 1e-12);
        // Sign of the relative change follows the value, also from a negative base.
        assert!((delta(-2.0, -1.0).1.unwrap() - 0.5).abs() < 1e-12);
        assert!((delta(2.0, 1.0).1.unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(delta(0.0, 1.0), (1.0, None));
    }

    #[test]
    fn values_rounding_would_hide_are_shown_in_scientific_notation() {
        assert_eq!(fmt_number(1e-7, 5), "1e-07");
        assert_eq!(fmt_number(3e-7, 5), "3e-07");
        assert_eq!(fmt_number(-1.234567e-7, 5), "-1.2346e-07");
        assert_eq!(fmt_number(0.000004, 5), "4e-06");
        assert_eq!(fmt_number(0.000006, 5), "0.00001");
        assert_eq!(fmt_number(2.5e16, 5), "2.5e+16");
        assert_eq!(fmt_number(f64::INFINITY, 5), "inf");
        assert_eq!(fmt_number(f64::NAN, 5), "nan");
        assert_eq!(fmt_number(0.0, 5), "0");
    }

    #[test]
    fn rounding_at_the_chosen_precision() {
        assert_eq!(fmt_number(0.123456789, 5), "0.12346");
        assert_eq!(fmt_number(0.5, 5), "0.5");
        assert_eq!(fmt_number(2.0, 3), "2");
        assert_eq!(fmt_number(-0.0000001, 3), "-1e-07");
        assert_eq!(fmt_number(-0.0001, 3), "-1e-04");
        assert_eq!(fmt_number(1234.5678, 2), "1234.57");
    }

    #[test]
    fn rows_cover_added_removed_changed_nested_and_non_numeric() {
        let old = map(
            json!({"acc": 0.8, "loss": 0.5, "gone": 1, "nested": {"f1": 0.7}, "model": "a", "ok": true}),
        );
        let new = map(
            json!({"acc": 0.9, "loss": 0.5, "new": 3, "nested": {"f1": 0.6}, "model": "b", "ok": false}),
        );
        let rows = diff("m.json", &old, &new);
        let by: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
        assert_eq!(fmt_change(by["acc"], 5), "+0.1 (+12.5%)");
        assert_eq!(fmt_change(by["nested.f1"], 5), "-0.1 (-14.29%)");
        assert_eq!(fmt_change(by["gone"], 5), "removed");
        assert_eq!(fmt_change(by["new"], 5), "added");
        assert_eq!(fmt_change(by["model"], 5), "changed");
        assert_eq!(fmt_change(by["ok"], 5), "changed");
        assert!(!by["loss"].changed());
        assert_eq!(fmt_change(by["loss"], 5), "0 (0%)");
        assert_eq!(arrow(by["acc"]), "▲ ");
        assert_eq!(arrow(by["nested.f1"]), "▼ ");
    }
}
