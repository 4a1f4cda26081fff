//! Each checked window metric drawn against its reference band: a Mermaid
//! line chart per metric (the metric per window, the reference value, and
//! the limit its check allows), for `mlci monitor --md`.

use std::fmt::Write;

use super::WindowReport;
use crate::review::direction::Direction;

/// One chart per metric that has a check, in metric order; empty when no
/// window was checked. Windows where the metric is undefined are left out
/// of its chart (and said so).
pub fn reference_charts(windows: &[WindowReport]) -> String {
    let mut metrics: Vec<&str> = windows
        .iter()
        .flat_map(|w| w.checks.iter().map(|c| c.metric.as_str()))
        .collect();
    metrics.sort_unstable();
    metrics.dedup();
    let mut out = String::new();
    for metric in metrics {
        let points: Vec<(&str, f64, &super::performance::Check)> = windows
            .iter()
            .filter_map(|w| {
                let c = w.checks.iter().find(|c| c.metric == metric)?;
                Some((w.window.as_str(), c.value?, c))
            })
            .collect();
        let Some((_, _, check)) = points.last() else {
            continue;
        };
        let reference = check.reference;
        let (low, high) = (
            reference * (1.0 - check.tolerance),
            reference * (1.0 + check.tolerance),
        );
        // The limit its check applies: one side when the better direction
        // is known, both when it is not.
        let limits: Vec<(String, f64)> = match check.direction {
            Some(Direction::Max) => vec![(format!("lowest allowed ({})", num(low)), low)],
            Some(Direction::Min) => vec![(format!("highest allowed ({})", num(high)), high)],
            None => vec![
                (format!("lowest allowed ({})", num(low)), low),
                (format!("highest allowed ({})", num(high)), high),
            ],
        };
        let labels: Vec<String> = points.iter().map(|(w, _, _)| w.to_string()).collect();
        let values: Vec<f64> = points.iter().map(|(_, v, _)| *v).collect();
        let def = crate::pipeline::PlotDef {
            id: metric.to_string(),
            title: Some(format!("{metric} per window against its reference")),
            x_label: Some("window".into()),
            y_label: Some(metric.to_string()),
            ..Default::default()
        };
        let span = values
            .iter()
            .copied()
            .chain([reference])
            .chain(limits.iter().map(|l| l.1));
        let labels = crate::review::plots::thin_labels(&labels);
        let mut chart = crate::review::plots::palette_directive(2 + limits.len());
        chart.push_str(&crate::review::plots::mermaid_head(
            &def, false, &labels, span,
        ));
        let line = |ys: Vec<f64>| {
            let ys: Vec<String> = ys.iter().map(|y| num(*y)).collect();
            format!("    line [{}]\n", ys.join(", "))
        };
        chart.push_str(&line(values.clone()));
        chart.push_str(&line(vec![reference; values.len()]));
        for (_, y) in &limits {
            chart.push_str(&line(vec![*y; values.len()]));
        }
        let mut names = vec![
            metric.to_string(),
            format!("reference ({})", num(reference)),
        ];
        names.extend(limits.iter().map(|(name, _)| name.clone()));
        let _ = write!(
            out,
            "\n**{metric}** per window\n\n```mermaid\n{chart}```\n{}\n",
            crate::review::plots::legend(&names)
        );
        let skipped = windows.len() - points.len();
        if skipped > 0 {
            let _ = writeln!(out, "_{skipped} window(s) without a value left out_");
        }
    }
    out
}

fn num(x: f64) -> String {
    crate::review::plots::num(x)
}
