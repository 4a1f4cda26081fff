//! The Markdown report: a context (a stable, documented contract) rendered
//! with minijinja through the default template or the user's own.

use serde::Serialize;
use serde_json::Value as Json;

use crate::error::Hint;
use crate::review::metrics::diff::{arrow, fmt_change, fmt_value, Row};

/// The built-in template, embedded at build time.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../../templates/report.md.j2");

/// One revision of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct RevInfo {
    /// What the user or the default named it (`HEAD`, `main`, `workspace`, …).
    pub label: String,
    /// The short commit id, or `workspace`.
    pub commit: String,
}

/// One metric or param row, formatted and raw.
#[derive(Debug, Clone, Serialize)]
pub struct RowView {
    pub path: String,
    pub key: String,
    /// Formatted at the report's precision; `—` when absent.
    pub old: String,
    pub new: String,
    /// `+0.01 (+1.2%)`, `added`, `removed`, `changed` or empty.
    pub change: String,
    /// `▲ `, `▼ ` or empty, after 🟢 when the change is better and 🔴 when
    /// worse (the metric's direction known).
    pub arrow: String,
    /// `better`, `worse`, `same`, or None when the direction is unknown.
    pub verdict: Option<String>,
    /// `max`, `min`, or None when unknown.
    pub direction: Option<String>,
    /// `changed`, `added`, `removed` or `unchanged`.
    pub status: String,
    pub old_value: Option<Json>,
    pub new_value: Option<Json>,
    pub abs_change: Option<f64>,
    pub rel_change: Option<f64>,
    /// False when this job's run did not recompute the metric (the stage
    /// that writes it failed or was skipped, or the pipeline could not
    /// run): `new` is the committed value.
    pub recomputed: bool,
}

impl RowView {
    pub fn from_row(r: &Row, precision: usize) -> RowView {
        let status = match (&r.old, &r.new) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ if r.changed() => "changed",
            _ => "unchanged",
        };
        RowView {
            path: r.path.clone(),
            key: r.key.clone(),
            old: fmt_value(&r.old, precision),
            new: fmt_value(&r.new, precision),
            change: fmt_change(r, precision),
            arrow: match r.verdict {
                Some("better") => format!("🟢 {}", arrow(r)),
                Some("worse") => format!("🔴 {}", arrow(r)),
                _ => arrow(r).to_string(),
            },
            verdict: r.verdict.map(str::to_string),
            direction: r.direction.map(|d| {
                match d {
                    crate::review::direction::Direction::Max => "max",
                    crate::review::direction::Direction::Min => "min",
                }
                .to_string()
            }),
            status: status.into(),
            old_value: r.old.clone(),
            new_value: r.new.clone(),
            abs_change: r.change,
            rel_change: r.relative,
            recomputed: true,
        }
    }
}

/// A stage and why it ran (or would run).
#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub name: String,
    /// The reasons as plain text (data in backticks, as the terminal shows).
    pub reasons: Vec<String>,
    /// The same as Markdown joined by `; `, every piece of data escaped:
    /// print with `| safe`.
    pub reasons_md: String,
    /// `failed` when the stage failed in this job, else empty.
    pub outcome: String,
}

impl StageView {
    pub fn new(name: &str, reasons: &[crate::pipeline::status::Reason]) -> StageView {
        StageView {
            name: name.to_string(),
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            reasons_md: reasons
                .iter()
                .map(|r| r.describe(&md_code, &md_escape))
                .collect::<Vec<_>>()
                .join("; "),
            outcome: String::new(),
        }
    }

    /// Marks the stage failed, `why` (plain text, data in backticks) added
    /// to its reasons.
    pub fn failed(&mut self, why: &str) {
        self.outcome = "failed".into();
        self.reasons.push(why.to_string());
        self.reasons_md.push_str(&format!("; {}", md_ticked(why)));
    }

    /// A stage with one reason of mlci's own wording (no data in it).
    pub fn noted(name: &str, note: &str) -> StageView {
        StageView {
            name: name.to_string(),
            reasons: vec![note.to_string()],
            reasons_md: md_escape(note),
            outcome: String::new(),
        }
    }
}

/// The one-line verdict at the top.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `pass`, `fail`, or `none` when no gates are defined.
    pub status: String,
    pub icon: String,
    /// Plain text (data in backticks).
    pub summary: String,
    /// The same as Markdown, every piece of data escaped: print with
    /// `| safe`.
    pub summary_md: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    /// The CI run, when known.
    pub run: Option<String>,
}

/// Everything a template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub verdict: Verdict,
    /// How the pipeline went in this job: `{"state": "ok"}`, `{"state":
    /// "failed", "stage", "why"}` or `{"state": "could_not_run", "why"}`.
    pub pipeline: crate::review::outcome::PipelineRun,
    /// Committed files this job's run recomputed with other content.
    pub stale: Vec<String>,
    /// The commands that refresh them (None when nothing is stale).
    pub refresh: Option<String>,
    /// The stale files as committed and pushed to the pull request's
    /// branch (`--commit-back`): `commit` (40 hex), `branch`.
    pub refreshed: Option<crate::ci::commit_back::Refreshed>,
    pub base: RevInfo,
    pub target: RevInfo,
    /// Changed metrics (all of them with `--all`).
    pub metrics: Vec<RowView>,
    pub metrics_unchanged: usize,
    pub params: Vec<RowView>,
    pub stages: Vec<StageView>,
    /// What `stages` lists: `would rerun` locally, `reran` in CI.
    pub stages_heading: String,
    /// Gate results; empty until gates are evaluated.
    pub gates: Vec<Json>,
    /// Plots; empty until plots are rendered.
    pub plots: Vec<Json>,
    /// Drift rules' comparisons (mlci.yaml's `drift:`).
    pub drift: Vec<DriftView>,
    /// The `monitor:` log's windows against the reference, when mlci.yaml
    /// has one.
    pub monitor: Option<MonitorView>,
    /// Tracked data that changed from the base (`mlci diff`), when any.
    pub data_changes: Option<DataChangesView>,
    pub experiments: Option<ExperimentsView>,
    pub links: Links,
    pub precision: usize,
}

/// One drift rule in the report: the dataset, what it is compared with,
/// the per-column table (Markdown, escaped), a Mermaid chart of the most
/// drifting columns, and Mermaid histograms of the top three.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftView {
    pub dataset: String,
    pub reference: String,
    pub table_md: String,
    pub chart: Option<String>,
    pub histograms: Vec<String>,
    pub drifted: bool,
}

/// mlci.yaml's `monitor:` log in the report: which log, against which
/// reference, per which window, whether its latest labelled window
/// passed, and a Mermaid chart per checked metric (`monitoring::chart`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MonitorView {
    pub log: String,
    pub reference: String,
    pub window: String,
    /// The latest labelled window's name (None: no labelled window yet).
    pub latest: Option<String>,
    pub passed: bool,
    /// Markdown: one heading line and one fenced Mermaid chart per metric.
    pub charts_md: String,
}

/// Tracked data that changed between the base and the target, as `mlci
/// diff` lists it: file counts per kind, the first rows, and how many more
/// there are (with the command that lists them all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataChangesView {
    /// `files summary: 2 modified, 1 added`: files, per kind with any,
    /// as `dvc diff` sums them up.
    pub summary: String,
    /// (kind, path), directories with a trailing `/`, at most [`DATA_ROWS`].
    pub rows: Vec<(String, String)>,
    pub more: usize,
    /// `mlci diff abc12345` (or `mlci diff A B`).
    pub command: String,
    /// How each changed table changed (rows, columns), one line each as
    /// Markdown (escaped).
    pub tables_md: Vec<String>,
}

/// The most data changes a report lists.
pub const DATA_ROWS: usize = 10;

impl DataChangesView {
    /// The view of `d`, listed by `command`; None when nothing changed.
    pub fn of(
        d: &crate::datadiff::DataDiff,
        tables: &[crate::datadiff::tables::TableChange],
        command: String,
    ) -> Option<DataChangesView> {
        let mut all: Vec<(String, String)> = Vec::new();
        for (kind, list) in d.kinds().into_iter().filter(|(k, _)| *k != "not in cache") {
            for c in list {
                let path = match &c.old_path {
                    Some(old) => format!("{old} → {}", c.path),
                    None => c.path.clone(),
                };
                all.push((kind.to_string(), path));
            }
        }
        if all.is_empty() {
            return None;
        }
        let summary: Vec<String> = d
            .file_counts()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let tables_md = tables.iter().map(table_md).collect();
        let more = all.len().saturating_sub(DATA_ROWS);
        all.truncate(DATA_ROWS);
        Some(DataChangesView {
            summary: if summary.is_empty() {
                "files summary: none (directory outputs only)".into()
            } else {
                format!("files summary: {}", summary.join(", "))
            },
            rows: all,
            more,
            command,
            tables_md,
        })
    }
}

/// `` `data/train.csv`: rows 100 → 120 (+20); added `a`; removed `b`;
/// `c` integer → float``, and for a keyed table its row counts with a few
/// sample rows as nested items (every value a code span).
pub fn table_md(t: &crate::datadiff::tables::TableChange) -> String {
    let path = md_code(&t.path);
    if let Some(note) = &t.note {
        return format!("{path}: {}", md_escape(note));
    }
    let (a, b) = (t.rows_before.unwrap_or(0), t.rows_after.unwrap_or(0));
    let mut what = vec![format!("rows {a} → {b} ({:+})", b as i64 - a as i64)];
    let names = |v: &[String]| v.iter().map(|c| md_code(c)).collect::<Vec<_>>().join(", ");
    if !t.added.is_empty() {
        what.push(format!("columns added {}", names(&t.added)));
    }
    if !t.removed.is_empty() {
        what.push(format!("removed {}", names(&t.removed)));
    }
    for (c, x, y) in &t.retyped {
        what.push(format!("{} {x} → {y}", md_code(c)));
    }
    if let Some(note) = &t.keyed_note {
        what.push(md_escape(note));
    }
    let mut line = format!("{path}: {}", what.join("; "));
    if let Some(k) = &t.keyed {
        line.push_str(&keyed_lines(k));
    }
    line
}

/// `` by `id`: 2 added, 1 removed, 3 changed (`x` 2, `s` 1), 40
/// unchanged`` and the sample rows as nested items.
fn keyed_lines(k: &crate::datadiff::keyed::KeyedChange) -> String {
    let cols: Vec<String> = k
        .columns
        .iter()
        .filter(|c| c.changed > 0)
        .map(|c| format!("{} {}", md_code(&c.column), c.changed))
        .collect();
    let mut out = format!(
        "; by {}: {} added, {} removed, {} changed{}, {} unchanged",
        k.key
            .iter()
            .map(|c| md_code(c))
            .collect::<Vec<_>>()
            .join(", "),
        k.added,
        k.removed,
        k.changed,
        if cols.is_empty() {
            String::new()
        } else {
            format!(" ({})", cols.join(", "))
        },
        k.unchanged
    );
    for s in &k.samples {
        out.push_str(&format!("\n  - {} {}", s.kind, md_code(&s.key)));
        if let (Some(c), Some(x), Some(y)) = (&s.column, &s.before, &s.after) {
            out.push_str(&format!(": {} {} → {}", md_code(c), md_code(x), md_code(y)));
        }
    }
    out
}

/// The rules judged beside the metric gates, as every judging command
/// gets them: their gate results (counted with the gates) and the report
/// sections they draw.
#[derive(Debug, Clone, Default)]
pub struct BesideGates {
    pub gates: Vec<crate::review::gate::GateResult>,
    pub drift: Vec<DriftView>,
    pub monitor: Option<MonitorView>,
    /// The experiments run on the commit under review (no gate).
    pub experiments: Option<ExperimentsView>,
}

/// The report's "Experiments" section: the experiments recorded on the
/// commit under review, beside it, as `mlci exp show` compares them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExperimentsView {
    /// The baseline's short commit id.
    pub baseline: String,
    /// Experiments in all (not counting the baseline row).
    pub count: usize,
    /// `Experiment`, then metric and param columns.
    pub header: Vec<String>,
    /// The baseline first, then at most [`EXPERIMENT_ROWS`] experiments.
    pub rows: Vec<Vec<String>>,
    /// `header` and `rows` as a Markdown table, every cell escaped.
    pub table_md: String,
    /// Experiments left out of the table.
    pub more: usize,
    /// The metric the rows are ordered by, best first.
    pub sorted_by: Option<String>,
}

/// The most experiments a report lists.
pub const EXPERIMENT_ROWS: usize = 20;

impl Context {
    /// The verdict when no gate decides: what changed, in one line.
    /// `stages` are those that reran in this job when `reran`, else the
    /// stale ones.
    pub fn summarize(
        metrics: &[RowView],
        params: &[RowView],
        stages: &[StageView],
        reran: bool,
    ) -> Verdict {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        let count = |f: &dyn Fn(&RowView) -> bool| metrics.iter().filter(|m| f(m)).count();
        let up = count(&|m| m.abs_change.is_some_and(|c| c > 0.0));
        let down = count(&|m| m.abs_change.is_some_and(|c| c < 0.0));
        let better = count(&|m| m.verdict.as_deref() == Some("better"));
        let worse = count(&|m| m.verdict.as_deref() == Some("worse"));
        if metrics.is_empty() {
            parts.push("no metric changed".to_string());
        } else {
            let mut s = plural(metrics.len(), "metric") + " changed";
            // Better and worse where the direction is known; the rest
            // only moved.
            let unknown = up + down - (better + worse).min(up + down);
            if better + worse > 0 {
                s.push_str(&format!(" ({better} better, {worse} worse"));
                if unknown > 0 {
                    s.push_str(&format!(", {unknown} of unknown direction"));
                }
                s.push(')');
            } else if up + down > 0 {
                s.push_str(&format!(" ({up} up, {down} down)"));
            }
            parts.push(s);
        }
        if !params.is_empty() {
            parts.push(plural(params.len(), "param") + " changed");
        }
        if !stages.is_empty() {
            // In a run: the stages that ran (failed ones too), not those
            // a failure left unrun.
            let ran = stages.iter().filter(|s| s.outcome != "skipped").count();
            if reran && ran > 0 {
                parts.push(plural(ran, "stage") + " reran");
            } else if !reran {
                parts.push(plural(stages.len(), "stage") + " stale");
            }
        }
        let mut summary = parts.join(", ");
        if let Some(first) = summary.get(..1) {
            summary = first.to_uppercase() + &summary[1..];
        }
        Verdict {
            status: "none".into(),
            icon: "📊".into(),
            summary_md: md_escape(&summary),
            summary,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        file: String,
        line: Option<usize>,
        message: String,
    },
}

impl Hint for ReportError {
    fn hint(&self) -> Option<String> {
        Some("templates use minijinja (Jinja2) syntax; the README lists the variables a report template receives".into())
    }
}

crate::register_hint!(ReportError);

/// Renders `source` (named `file` in errors) with the context.
pub fn render(file: &str, source: &str, ctx: &Context) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    // Every value a template prints is escaped for Markdown unless it is
    // marked safe (`| safe`, or the output of `md`): values come from the
    // pull request's files, and must not open HTML, end a table cell, a
    // line or a fenced block.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Custom("markdown"));
    env.set_formatter(|out, _state, value| {
        match value.as_str() {
            Some(s) if value.is_safe() => out.write_str(s),
            _ => out.write_str(&md_escape(&value.to_string())),
        }
        .map_err(minijinja::Error::from)
    });
    env.add_filter("md", |v: minijinja::Value| {
        if v.is_safe() {
            return v;
        }
        minijinja::Value::from_safe_string(md_escape(&v.to_string()))
    });
    let err = |e: minijinja::Error| ReportError::Template {
        file: file.to_string(),
        line: e.line(),
        message: match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    env.add_template_owned(file.to_string(), source.to_string())
        .map_err(err)?;
    let tmpl = env.get_template(file).map_err(err)?;
    tmpl.render(ctx).map_err(err)
}

/// `text` as a Markdown code span that nothing in it can end: the fence is
/// one backtick longer than the longest run of backticks inside (CommonMark
/// §6.1), control characters become spaces. HTML inside a code span is
/// shown, not rendered.
pub fn md_code(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let fence = "`".repeat(longest_backtick_run(&clean) + 1);
    // A span that starts or ends with a backtick needs a space of padding.
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

/// A code fence for `text` that no line of it can close: backticks, one
/// more than the longest run inside, and at least three (CommonMark §4.5).
pub fn md_fence(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

/// The longest run of backticks in `text`.
fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Plain text whose data is in backticks (`` `python3 train.py` exited with
/// code 3 ``) as Markdown: each backticked span a code span, the rest
/// escaped; text with unpaired backticks is escaped whole.
pub fn md_ticked(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return md_escape(text);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { md_code(p) } else { md_escape(p) })
        .collect()
}

/// Escapes text from data for GitHub-flavoured Markdown, in a table cell or
/// inline: no HTML can open (`<`), no code span or fence can open or close
/// (backticks), no link can be formed (`[`, `]`), no cell can end (`|`), and
/// nothing can start a new line (control characters become spaces), so no
/// value can forge a line such as a workflow command or the comment marker.
pub fn md_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '`' | '|' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            pipeline: crate::review::outcome::PipelineRun::Ok,
            stale: vec![],
            refresh: None,
            refreshed: None,
            verdict: Verdict {
                status: "none".into(),
                icon: "📊".into(),
                summary: "S".into(),
                summary_md: "S".into(),
            },
            base: RevInfo {
                label: "main".into(),
                commit: "abc12345".into(),
            },
            target: RevInfo {
                label: "workspace".into(),
                commit: "workspace".into(),
            },
            metrics: vec![],
            metrics_unchanged: 2,
            params: vec![],
            stages: vec![],
            stages_heading: "would rerun".into(),
            gates: vec![],
            plots: vec![],
            drift: Vec::new(),
            monitor: None,
            data_changes: None,
            experiments: None,
            links: Links::default(),
            precision: 5,
        }
    }

    #[test]
    fn default_template_renders_and_errors_name_file_and_line() {
        let out = render("report.md.j2", DEFAULT_TEMPLATE, &ctx()).unwrap();
        assert!(
            out.starts_with("📊 **S**\n\nComparing `workspace` with `main` (`abc12345`).\n"),
            "{out}"
        );
        assert!(out.contains("No metric changed (2 unchanged)."), "{out}");
        let e = render("mine.j2", "line one\n{% for x in %}\n", &ctx())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("mine.j2:2: syntax error"), "{e}");
    }
}
