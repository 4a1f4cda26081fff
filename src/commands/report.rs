//! `mlci report`: the Markdown report on stdout (or a file).

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::fsutil::write_atomic;
use crate::pipeline::status::stage_reasons;
use crate::progress::Silent;
use crate::review::report::{
    md_code, md_escape, render, Context, Links, RevInfo, RowView, StageView, DEFAULT_TEMPLATE,
};
use crate::track::Workspace;

use super::metrics::{compare, Comparison, Kind};
use super::Ctx;
use crate::repo::Repo;
use crate::review::metrics::RevReader;
use crate::review::plots::{is_image, lines, mermaid, parse_records, svg};
use crate::workspace_path::WorkspacePath;

/// Render the Markdown report: what changed in metrics and params between
/// two revisions, and which stages are stale and why.
///
/// The template is `--template`, else `report.template` in mlci.yaml, else
/// the built-in one. The variables a template receives are listed in the
/// README.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The revision to compare from (default: the merge-base with the default branch, or HEAD).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The revision to compare to.
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub target: String,
    /// A minijinja template to render instead of the default.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also list metrics that did not change.
    #[arg(long)]
    pub all: bool,
    /// Decimal places for numbers (0 to 30).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=crate::review::metrics::diff::MAX_PRECISION as u64))]
    pub precision: usize,
    /// Also write each plot as a standalone SVG file into DIR.
    #[arg(long, value_name = "DIR")]
    pub plots_dir: Option<PathBuf>,
}

/// What to render.
pub struct ReportOptions {
    pub base: Option<String>,
    pub target: String,
    pub template: Option<PathBuf>,
    pub all: bool,
    pub precision: usize,
    pub plots_dir: Option<PathBuf>,
    /// Stages that ran in this job (`mlci ci`); None: list the stale ones.
    pub ran: Option<Vec<StageView>>,
    /// The CI run's URL.
    pub run_link: Option<String>,
    /// How to name the base when the caller knows better than the revision
    /// text (in CI: the pull request's base branch).
    pub base_label: Option<String>,
}

/// A rendered report and the gate results behind its verdict.
pub struct Built {
    pub text: String,
    pub gates: Option<Vec<crate::review::gate::GateResult>>,
}

/// Compares, evaluates the gates, draws the plots and renders the template.
pub fn build(
    ctx: &Ctx,
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    opts: &ReportOptions,
) -> anyhow::Result<Built> {
    let ReportOptions {
        base,
        target,
        template,
        all,
        precision,
        plots_dir,
        ran,
        run_link,
        base_label,
    } = opts;
    let (all, precision) = (*all, *precision);
    let cmp = compare(
        repo,
        base.as_deref(),
        target,
        &[Kind::Metrics, Kind::Params],
    )?;
    let metrics_changed: Vec<RowView> = cmp
        .metrics
        .iter()
        .filter(|r| all || r.changed())
        .map(|r| RowView::from_row(r, precision))
        .collect();
    let unchanged = cmp.metrics.iter().filter(|r| !r.changed()).count();
    let params: Vec<RowView> = cmp
        .params
        .iter()
        .filter(|r| r.changed())
        .map(|r| RowView::from_row(r, precision))
        .collect();

    // Stale stages, with reasons, when the target is the work tree.
    let stages = match ran {
        Some(ran) => ran.clone(),
        None if matches!(cmp.target, crate::review::metrics::Rev::Workspace) => {
            stale_stages(repo, pipeline)?
        }
        None => Vec::new(),
    };

    let plots = build_plots(ctx, repo, pipeline, &cmp, plots_dir.as_deref())?;
    let gate_results = super::metrics::evaluate_gates(pipeline, &cmp)?;
    let mut verdict = Context::summarize(
        &metrics_changed
            .iter()
            .filter(|m| m.status != "unchanged")
            .cloned()
            .collect::<Vec<_>>(),
        &params,
        &stages,
    );
    if let Some(results) = &gate_results {
        verdict = gate_verdict(results, &verdict);
    }
    let context = Context {
        verdict,
        base: RevInfo {
            label: base_label.clone().unwrap_or_else(|| cmp.base_label.clone()),
            commit: cmp.base.short(),
        },
        target: RevInfo {
            label: cmp.target.label(),
            commit: cmp.target.short(),
        },
        metrics: metrics_changed,
        metrics_unchanged: unchanged,
        params,
        stages,
        stages_heading: if ran.is_some() {
            "reran".into()
        } else {
            "would rerun".into()
        },
        gates: gate_results
            .iter()
            .flatten()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
        plots,
        links: Links {
            run: run_link.clone(),
        },
        precision,
    };
    let (name, source) = template_source(ctx, repo, pipeline, template.as_deref())?;
    // Whatever reached the report (a metric value, a plot label), no
    // credential of this process leaves in it.
    let text = ctx
        .printer
        .secrets()
        .scrub(&render(&name, &source, &context)?)
        .into_owned();
    Ok(Built {
        text,
        gates: gate_results,
    })
}

/// The template to render and its name for errors: `--template`, else
/// `report.template` from mlci.yaml (checked: inside the workspace), else
/// the built-in one.
fn template_source(
    ctx: &Ctx,
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    template: Option<&std::path::Path>,
) -> anyhow::Result<(String, String)> {
    // `report.template` comes from mlci.yaml, which a pull request controls:
    // a checked workspace path, read only inside the workspace. `--template`
    // is the invoking workflow's own choice and is taken as given.
    let configured = match pipeline
        .report
        .as_ref()
        .and_then(|r| r.get("template"))
        .and_then(|t| t.as_str())
    {
        Some(t) => Some(
            WorkspacePath::new(t)
                .and_then(|p| p.locate_for_read(&repo.root))
                .map_err(|e| {
                    let file = pipeline.source.as_deref().unwrap_or("mlci.yaml");
                    crate::error::hinted(
                        format!("{file}: `report.template`: {e}"),
                        "name a template file inside the repository, e.g. `report.template: .github/report.md.j2`",
                    )
                })?,
        ),
        None => None,
    };
    Ok(match template.map(|t| ctx.cwd.join(t)).or(configured) {
        Some(path) => {
            let text = fs_err::read_to_string(&path)?;
            (
                path.strip_prefix(&repo.root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                text,
            )
        }
        None => (
            "templates/report.md.j2 (built in)".to_string(),
            DEFAULT_TEMPLATE.to_string(),
        ),
    })
}

/// The verdict when gates decide: the first failed rule (its text as a
/// code span in the Markdown), or that all passed; `changed` (what changed,
/// in one line) follows.
fn gate_verdict(
    results: &[crate::review::gate::GateResult],
    changed: &crate::review::report::Verdict,
) -> crate::review::report::Verdict {
    let failed: Vec<&crate::review::gate::GateResult> =
        results.iter().filter(|r| !r.passed).collect();
    let (changes, changes_md) = (&changed.summary, &changed.summary_md);
    let plural = if results.len() == 1 { "" } else { "s" };
    if failed.is_empty() {
        let head = format!("All {} gate rule{plural} passed. ", results.len());
        crate::review::report::Verdict {
            status: "pass".into(),
            icon: "✅".into(),
            summary: format!("{head}{changes}"),
            summary_md: format!("{}{changes_md}", md_escape(&head)),
        }
    } else {
        let first = failed[0];
        let head = format!(
            "{} of {} gate rule{plural} failed: ",
            failed.len(),
            results.len()
        );
        let note = |esc: &dyn Fn(&str) -> String| {
            first
                .note
                .as_ref()
                .map(|n| format!(" ({})", esc(n)))
                .unwrap_or_default()
        };
        crate::review::report::Verdict {
            status: "fail".into(),
            icon: "❌".into(),
            summary: format!(
                "{head}`{}`{}. {changes}",
                first.text,
                note(&|s| s.to_string())
            ),
            summary_md: format!(
                "{}{}{}. {changes_md}",
                md_escape(&head),
                md_code(&first.text),
                note(&md_escape)
            ),
        }
    }
}

/// The stages that would rerun in the work tree, with their reasons.
fn stale_stages(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
) -> anyhow::Result<Vec<StageView>> {
    let mut stages = Vec::new();
    if pipeline.stages.is_empty() {
        return Ok(stages);
    }
    let mut ws = Workspace::open(repo);
    for (name, why) in stage_reasons(&mut ws, pipeline, &Silent)? {
        let why = why.unwrap_or_default();
        if !why.is_empty() {
            stages.push(StageView::new(&name, &why));
        }
    }
    Ok(stages)
}

pub fn cmd_report(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<Exit> {
    let ReportArgs {
        base,
        target,
        template,
        output,
        all,
        precision,
        plots_dir,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let built = build(
        ctx,
        &repo,
        &pipeline,
        &ReportOptions {
            base,
            target,
            template,
            all,
            precision,
            plots_dir,
            ran: None,
            run_link: None,
            base_label: None,
        },
    )?;
    let text = built.text;
    match output {
        Some(path) => {
            let path = ctx.cwd.join(path);
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent)?;
            }
            write_atomic(&path, text.as_bytes())?;
            ctx.printer.info(&format!("wrote {}", path.display()));
        }
        None => ctx.printer.data(&text)?,
    }
    Ok(Exit::Ok)
}

/// Reads every plot's data at both revisions and draws it.
fn build_plots(
    ctx: &Ctx,
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
    svg_dir: Option<&std::path::Path>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let mut readers = [
        (
            RevReader::new(&repo.root, &repo.cache, cmp.base.clone()),
            cmp.base_label.clone(),
        ),
        (
            RevReader::new(&repo.root, &repo.cache, cmp.target.clone()),
            cmp.target.label(),
        ),
    ];
    for def in &pipeline.plots {
        let title = def.title.clone().unwrap_or_else(|| def.id.clone());
        if def.sources.iter().all(|s| is_image(&s.file)) {
            out.push(serde_json::json!({ "id": def.id, "title": title, "image": def.sources[0].file, "caption": "image" }));
            continue;
        }
        let mut drawn = Vec::new();
        let mut caption = Vec::new();
        for (reader, label) in readers.iter_mut() {
            for source in &def.sources {
                let Some(bytes) = reader.read(&source.file)? else {
                    continue;
                };
                let table = parse_records(&bytes, &source.file).map_err(|m| {
                    crate::error::hinted(
                        format!("plot data {} at {label}: {m}", source.file),
                        "plot files are CSV/TSV with a header row, or JSON/YAML lists of records",
                    )
                })?;
                for line in lines(&table, source, label) {
                    caption.push(format!("{}. {}", drawn.len() + 1, line.label));
                    drawn.push(line);
                }
            }
        }
        let mermaid_block = mermaid(def, &drawn);
        let mut svg_path = None;
        if let Some(dir) = svg_dir {
            let dir = ctx.cwd.join(dir);
            fs_err::create_dir_all(&dir)?;
            let name: String = def
                .id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = dir.join(format!("{name}.svg"));
            crate::fsutil::write_atomic(&path, svg(def, &drawn).as_bytes())?;
            svg_path = Some(path.display().to_string());
        }
        out.push(serde_json::json!({
            "id": def.id,
            "title": title,
            "mermaid": mermaid_block,
            "svg": svg_path,
            "lines": drawn,
            "caption": caption.join("; "),
        }));
    }
    Ok(out)
}
