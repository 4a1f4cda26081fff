//! Prometheus's text exposition format 0.0.4 and OpenMetrics 1.0 text, for
//! a few fixed metric families whose names pass `promtool check metrics`:
//!
//! | family | labels | value |
//! |---|---|---|
//! | `mlci_metric` | file, key | a metric from the pipeline's metrics files |
//! | `mlci_param` | file, key | a numeric param |
//! | `mlci_gate_passed` | rule | 1 passed, 0 failed |
//! | `mlci_drift_share` | dataset, reference | the share of drifted columns |
//! | `mlci_drift_statistic` | dataset, column, method | a column's drift statistic |
//! | `mlci_model_info` | model, version, stage | 1 for the version in each stage |
//! | `mlci_window_metric` | log, window, metric | a window's model metric |
//!
//! Every sample also carries `repository` and `revision`. The user's file
//! and key are label values, so no two keys collide after sanitising and
//! `latency_ms` needs no renaming. Label values are escaped as the formats
//! require (`\\`, `\"`, `\n`); samples carry timestamps only for a backfill.

use std::fmt::Write as _;

/// One sample: its labels (beyond repository and revision) and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
    /// When the value was true, in milliseconds since the epoch: written
    /// for backfill (`--history`), never on a live scrape or push.
    pub at_ms: Option<i64>,
}

/// A metric family and its samples.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

/// The two text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text (what GitLab's metrics reports read).
    Openmetrics,
}

impl Format {
    /// The HTTP content type of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::Openmetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A label value, escaped (backslash, double quote, newline, as the format
/// says); any other control character, which the format would carry raw,
/// is written in caret notation (`^[` for ESC), as a terminal shows it, so
/// the exposition on stdout and in a push are the same bytes.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => crate::escape::push_caret(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as both formats write floats.
fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{x}")
    }
}

/// Renders `families` with `common` labels on every sample. Families
/// without samples are left out.
pub fn render(families: &[Family], common: &[(&'static str, String)], format: Format) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        for s in &f.samples {
            let labels: Vec<String> = common
                .iter()
                .chain(&s.labels)
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let at = match (s.at_ms, format) {
                // OpenMetrics timestamps are seconds; the 0.0.4 text
                // format's are milliseconds.
                (Some(ms), Format::Openmetrics) => format!(" {}", number(ms as f64 / 1000.0)),
                (Some(ms), Format::Prometheus) => format!(" {ms}"),
                (None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "{}{{{}}} {}{at}",
                f.name,
                labels.join(","),
                number(s.value)
            );
        }
    }
    if format == Format::Openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_openmetrics_ends_with_eof() {
        let f = Family {
            name: "mlci_metric",
            help: "A metric\\with a backslash",
            samples: vec![Sample {
                labels: vec![("key", "a\"b\\c\nd".into())],
                value: 0.5,
                at_ms: None,
            }],
        };
        let text = render(&[f], &[("revision", "abc".into())], Format::Openmetrics);
        assert_eq!(
            text,
            "# HELP mlci_metric A metric\\\\with a backslash\n# TYPE mlci_metric gauge\nmlci_metric{revision=\"abc\",key=\"a\\\"b\\\\c\\nd\"} 0.5\n# EOF\n"
        );
    }
}
