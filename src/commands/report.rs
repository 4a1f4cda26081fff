//! `mlci report`: the Markdown report on stdout (or a file).

use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::fsutil::write_atomic;
use crate::pipeline::dag::Dag;
use crate::pipeline::lock::LockFile;
use crate::pipeline::status::{current_inputs, reasons, ParamsCache};
use crate::progress::Silent;
use crate::report::{render, Context, Links, RevInfo, RowView, StageView, DEFAULT_TEMPLATE};
use crate::track::Workspace;

use super::metrics::{compare, Kind};
use super::Ctx;

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
    /// Decimal places for numbers.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub precision: usize,
}

pub fn cmd_report(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<u8> {
    let ReportArgs {
        base,
        target,
        template,
        output,
        all,
        precision,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let cmp = compare(
        &repo,
        base.as_deref(),
        &target,
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
    let mut stages = Vec::new();
    if matches!(cmp.target, crate::metrics::Rev::Workspace) && !pipeline.stages.is_empty() {
        let dag = Dag::build(&pipeline.stages)?;
        let lock = LockFile::load(&repo.root)?;
        let mut ws = Workspace::open(&repo);
        let mut params_cache = ParamsCache::default();
        for &i in &dag.order {
            let stage = &pipeline.stages[i];
            if stage.frozen {
                continue;
            }
            let inputs = current_inputs(&mut ws, &pipeline, stage, &mut params_cache, &Silent)?;
            let why = reasons(
                &mut ws,
                stage,
                &inputs,
                lock.stages.get(&stage.name),
                &Silent,
            )?;
            if !why.is_empty() {
                stages.push(StageView {
                    name: stage.name.clone(),
                    reasons: why.iter().map(|r| r.to_string()).collect(),
                });
            }
        }
    }

    let verdict = Context::summarize(
        &metrics_changed
            .iter()
            .filter(|m| m.status != "unchanged")
            .cloned()
            .collect::<Vec<_>>(),
        &params,
        &stages,
    );
    let context = Context {
        verdict,
        base: RevInfo {
            label: cmp.base_label.clone(),
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
        stages_heading: "would rerun".into(),
        gates: Vec::new(),
        plots: Vec::new(),
        links: Links::default(),
        precision,
    };
    let configured = pipeline
        .report
        .as_ref()
        .and_then(|r| r.get("template"))
        .and_then(|t| t.as_str())
        .map(|t| repo.root.join(t));
    let (name, source) = match template.map(|t| ctx.cwd.join(t)).or(configured) {
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
    };
    let text = render(&name, &source, &context)?;
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
    Ok(crate::exit::OK)
}
