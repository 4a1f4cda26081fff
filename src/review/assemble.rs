//! Assembling the review report: the comparison, the stages that reran or
//! would rerun, the gates' verdict and the plots, put into the template
//! context and rendered. The command layer resolves paths typed by the user
//! and masks secrets in what this returns.

use std::path::{Path, PathBuf};

use crate::pipeline::status::stage_reasons;
use crate::progress::Silent;
use crate::repo::Repo;
use crate::review::compare::{evaluate_gates, Comparison, Kind, ReviewError};
use crate::review::outcome::{Outcome, PipelineRun, StaleFile};
use crate::review::plots::{is_image, lines, parse_records};
use crate::review::report::{
    md_code, md_escape, render, Context, Links, RevInfo, RowView, StageView, DEFAULT_TEMPLATE,
};
use crate::revision::RevReader;
use crate::track::Workspace;
use crate::workspace_path::WorkspacePath;

/// What to render.
pub struct ReportOptions {
    /// The base (default: the merge-base with the default branch), with
    /// its label when the caller knows better than the revision text (in
    /// CI: the pull request's base branch).
    pub base: Option<crate::review::compare::Base>,
    pub target: String,
    pub template: Option<PathBuf>,
    pub all: bool,
    pub precision: usize,
    pub plots_dir: Option<PathBuf>,
    /// Where the SVGs of `plots_dir` are published (`--plots-url`): the
    /// report shows each as an image from there.
    pub plots_url: Option<String>,
    /// Stages that ran in this job (`mlci ci`); None: list the stale ones.
    pub ran: Option<Vec<StageView>>,
    /// The CI run's URL.
    pub run_link: Option<String>,
    /// Rules evaluated outside the comparison (mlci.yaml's `drift:` and
    /// `monitor:`): gate results counted with the gates, and their
    /// sections.
    pub beside: crate::review::report::BesideGates,
    /// How the pipeline went in this job (`mlci report`: `Ok`, the
    /// workspace judged as is).
    pub pipeline_run: PipelineRun,
    /// Committed files the job's run recomputed with other content.
    pub stale: Vec<StaleFile>,
    /// Whether stale committed results fail the job.
    pub require_fresh: bool,
    /// The stale files as pushed to the pull request's branch.
    pub refreshed: Option<crate::ci::commit_back::Refreshed>,
}

/// A rendered report, the gate results behind its verdict, and the job's
/// outcome (the one verdict every surface publishes).
pub struct Built {
    pub text: String,
    pub gates: Option<Vec<crate::review::gate::GateResult>>,
    pub outcome: Outcome,
    /// Every tracked data change from the base (`mlci diff --json`'s
    /// document, tables included), when any: the report lists the first
    /// ones, `mlci ci` saves all of them beside it (`data-changes.json`).
    pub data_changes: Option<serde_json::Value>,
}

/// Compares, evaluates the gates, draws the plots and renders the template.
pub fn build(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    opts: &ReportOptions,
) -> Result<Built, ReviewError> {
    let ReportOptions {
        base,
        target,
        template,
        all,
        precision,
        plots_dir,
        plots_url,
        ran,
        run_link,
        beside,
        pipeline_run,
        stale,
        require_fresh,
        refreshed,
    } = opts;
    let (all, precision) = (*all, *precision);
    let cmp = crate::review::compare::compare_with(
        repo,
        base.as_ref(),
        target,
        &[Kind::Metrics, Kind::Params],
        Some(pipeline),
    )?;
    let kept = committed_only(pipeline, pipeline_run, ran.as_deref());
    // A metric the run did not recompute is shown even when unchanged:
    // the reviewer sees which values are the committed ones.
    let shown = |r: &crate::review::metrics::diff::Row| all || r.changed() || kept(&r.path);
    let metrics_changed: Vec<RowView> = cmp
        .metrics
        .iter()
        .filter(|r| shown(r))
        .map(|r| RowView {
            recomputed: !kept(&r.path),
            ..RowView::from_row(r, precision)
        })
        .collect();
    let unchanged = cmp.metrics.iter().filter(|r| !shown(r)).count();
    let params: Vec<RowView> = cmp
        .params
        .iter()
        .filter(|r| r.changed())
        .map(|r| RowView::from_row(r, precision))
        .collect();

    // Stale stages, with reasons, when the target is the work tree.
    let stages = match ran {
        Some(ran) => ran.clone(),
        None if matches!(cmp.target, crate::revision::Rev::Workspace) => {
            stale_stages(repo, pipeline)?
        }
        None => Vec::new(),
    };

    let pictures = plots_dir.as_deref().map(|d| (d, plots_url.as_deref()));
    let plots = build_plots(repo, pipeline, &cmp, pictures, all)?;
    let (data_changes, all_data_changes) = data_changes(repo, pipeline, &cmp)?;
    let gate_results = gates_with(pipeline, &cmp, beside)?;
    let mut verdict = Context::summarize(
        &metrics_changed
            .iter()
            .filter(|m| m.status != "unchanged")
            .cloned()
            .collect::<Vec<_>>(),
        &params,
        &stages,
        ran.is_some(),
    );
    if let Some(results) = &gate_results {
        verdict = gate_verdict(results, &verdict);
    }
    let outcome = Outcome {
        pipeline: pipeline_run.clone(),
        stale: stale.clone(),
        require_fresh: *require_fresh,
        refreshed: refreshed.clone(),
        gates: gate_results.clone().unwrap_or_default(),
    };
    let verdict = outcome_verdict(&outcome, verdict);
    let context = Context {
        verdict,
        pipeline: outcome.pipeline.clone(),
        stale: outcome.stale.iter().map(|f| f.path.clone()).collect(),
        refresh: outcome.refresh_commands(),
        refreshed: outcome.refreshed.clone(),
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
        stages_heading: if ran.is_some() {
            "in this run".into()
        } else {
            "would rerun".into()
        },
        gates: gate_results
            .iter()
            .flatten()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
        plots,
        drift: beside.drift.clone(),
        monitor: beside.monitor.clone(),
        data_changes,
        experiments: beside.experiments.clone(),
        links: Links {
            run: run_link.clone(),
        },
        precision,
    };
    let (name, source) = template_source(repo, pipeline, template.as_deref())?;
    let text = render(&name, &source, &context)?;
    Ok(Built {
        text,
        gates: gate_results,
        outcome,
        data_changes: all_data_changes,
    })
}

/// Which metric files hold committed values this job's run did not
/// recompute: the outputs of stages that failed or were skipped, or every
/// file when the pipeline could not run at all. Nothing when it went well.
fn committed_only<'a>(
    pipeline: &'a crate::pipeline::Pipeline,
    run: &PipelineRun,
    ran: Option<&[StageView]>,
) -> Box<dyn Fn(&str) -> bool + 'a> {
    match run {
        PipelineRun::Ok => Box::new(|_| false),
        PipelineRun::CouldNotRun { .. } => Box::new(|_| true),
        PipelineRun::Failed { .. } => {
            let unfinished: std::collections::HashSet<&str> = ran
                .unwrap_or_default()
                .iter()
                .filter(|s| s.outcome == "failed" || s.outcome == "skipped")
                .map(|s| s.name.as_str())
                .collect();
            let paths: std::collections::HashSet<String> = pipeline
                .stages
                .iter()
                .filter(|s| unfinished.contains(s.name.as_str()))
                .flat_map(|s| &s.outs)
                .map(|o| o.path.to_string())
                .collect();
            Box::new(move |p| paths.contains(p))
        }
    }
}

/// The metric gates' results, then the rules judged beside them (None
/// when there is nothing to judge).
fn gates_with(
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
    beside: &crate::review::report::BesideGates,
) -> Result<Option<Vec<crate::review::gate::GateResult>>, ReviewError> {
    let mut gate_results = evaluate_gates(pipeline, cmp)?;
    if !beside.gates.is_empty() {
        gate_results
            .get_or_insert_with(Vec::new)
            .extend(beside.gates.iter().cloned());
    }
    Ok(gate_results)
}

/// What changed in tracked data from the base to the target (`mlci diff`
/// BASE [TARGET]); None when nothing did, or the base is not a commit.
/// The report's view of the data changes, and all of them as `mlci diff
/// --json` gives them (with the tables compared); both None when nothing
/// changed or the base is not a commit.
type DataChanges = (
    Option<crate::review::report::DataChangesView>,
    Option<serde_json::Value>,
);

fn data_changes(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
) -> Result<DataChanges, ReviewError> {
    use crate::datadiff::Side;
    use crate::revision::Rev;
    let side = |r: &Rev| match r {
        Rev::Workspace => Some(Side::Workspace),
        Rev::Commit { id, name } => Some(Side::Commit {
            id: *id,
            name: name.clone(),
        }),
    };
    let (Some(old @ Side::Commit { .. }), Some(new)) = (side(&cmp.base), side(&cmp.target)) else {
        return Ok((None, None));
    };
    let mut d = crate::datadiff::diff(repo, &old, &new, &crate::progress::Silent)?;
    d.not_in_cache = None;
    let command = match &cmp.target {
        Rev::Workspace => format!("mlci diff {}", cmp.base.short()),
        t => format!("mlci diff {} {}", cmp.base.short(), t.short()),
    };
    let keys = crate::review::compare::table_keys(pipeline)?;
    let tables = crate::datadiff::tables::changes(
        repo,
        &d,
        (&old, &new),
        &keys,
        crate::datadiff::tables::MAX_TABLES,
    );
    let view = crate::review::report::DataChangesView::of(&d, &tables, command);
    let all = view.as_ref().map(|_| {
        let mut doc = d.to_dvc_json(false);
        doc["tables"] = serde_json::to_value(&tables).unwrap_or_default();
        doc
    });
    Ok((view, all))
}

/// The headline: a pipeline that did not succeed decides it (gates judged
/// on the committed metrics say nothing about this change), then stale
/// committed results under `--require-fresh`, else the gates' `verdict`.
fn outcome_verdict(
    outcome: &Outcome,
    verdict: crate::review::report::Verdict,
) -> crate::review::report::Verdict {
    let plain = |s: &str| s.to_string();
    let ticked = |s: &str| format!("`{s}`");
    if let Some(head) = outcome.pipeline.headline(&ticked, &plain) {
        return crate::review::report::Verdict {
            status: "error".into(),
            icon: "❌".into(),
            summary_md: outcome
                .pipeline
                .headline(&md_code, &crate::review::report::md_ticked)
                .unwrap_or_default(),
            summary: head,
        };
    } else if outcome.stale_fails() {
        let files = |quote: &dyn Fn(&str) -> String| {
            outcome
                .stale
                .iter()
                .map(|f| quote(&f.path))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return crate::review::report::Verdict {
            status: "fail".into(),
            icon: "❌".into(),
            summary: format!(
                "Committed results are stale: {}. {}",
                files(&ticked),
                verdict.summary
            ),
            summary_md: format!(
                "Committed results are stale: {}. {}",
                files(&md_code),
                verdict.summary_md
            ),
        };
    }
    verdict
}

/// The template to render and its name for errors: `--template`, else
/// `report.template` from mlci.yaml (checked: inside the workspace), else
/// the built-in one.
fn template_source(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    template: Option<&Path>,
) -> Result<(String, String), ReviewError> {
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
                .map_err(|source| ReviewError::Template {
                    file: pipeline
                        .source
                        .clone()
                        .unwrap_or_else(|| "mlci.yaml".into()),
                    source: Box::new(source),
                })?,
        ),
        None => None,
    };
    Ok(match template.map(Path::to_path_buf).or(configured) {
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
    let line = crate::review::gate::verdict_line(results, false);
    if failed.is_empty() {
        let head = format!("{line}. ");
        crate::review::report::Verdict {
            status: "pass".into(),
            icon: "✅".into(),
            summary: format!("{head}{changes}"),
            summary_md: format!("{}{changes_md}", md_escape(&head)),
        }
    } else {
        let first = failed[0];
        let head = format!("{line}: ");
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
) -> Result<Vec<StageView>, ReviewError> {
    let mut stages = Vec::new();
    if pipeline.stages.is_empty() {
        return Ok(stages);
    }
    let states = match repo.format {
        crate::repo::format::Format::Dvc => {
            crate::dvc::status::judge(&repo.root, pipeline, &Silent)
                .map_err(Box::new)?
                .stages
        }
        crate::repo::format::Format::Mlci => {
            stage_reasons(&mut Workspace::open(repo), pipeline, &Silent)?
        }
    };
    for st in states {
        if !st.reasons.is_empty() {
            stages.push(StageView::new(&st.name, &st.reasons));
        }
    }
    Ok(stages)
}

/// `table` with its `x` field taken row by row from `source.x_file` when
/// another file holds it (DVC pairs the two files by row; both must have
/// as many rows).
fn paired_x(
    reader: &mut RevReader,
    source: &crate::pipeline::PlotSource,
    mut table: crate::review::plots::Table,
) -> Result<crate::review::plots::Table, String> {
    let (Some(xf), Some(x)) = (&source.x_file, &source.x) else {
        return Ok(table);
    };
    let bytes = reader
        .read(xf)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{xf} (which holds `{x}`) is missing"))?;
    let xs = parse_records(&bytes, xf).map_err(|m| format!("{xf}: {m}"))?;
    if xs.rows.len() != table.rows.len() {
        return Err(format!(
            "{xf} has {} rows and {} has {}: DVC pairs them row by row",
            xs.rows.len(),
            source.file,
            table.rows.len()
        ));
    }
    for (row, from) in table.rows.iter_mut().zip(&xs.rows) {
        if let Some(v) = from.get(x) {
            row.insert(x.clone(), v.clone());
        }
    }
    if !table.columns.contains(x) {
        table.columns.push(x.clone());
    }
    Ok(table)
}

/// Whether revision `a` gives a plot exactly the records `b` gives it
/// (the same files, the same rows: every line, bar and table drawn from
/// them is the same), and there are some.
fn same_at_both(data: &[crate::review::plot_kinds::Data<'_>], a: &str, b: &str) -> bool {
    let records = |label: &str| -> Vec<(&str, &Vec<crate::review::plots::Record>)> {
        data.iter()
            .filter(|(l, _, _)| l == label)
            .map(|(_, s, t)| (s.file.as_str(), &t.rows))
            .collect()
    };
    let (p, q) = (records(a), records(b));
    a != b && !p.is_empty() && p.len() * 2 == data.len() && p == q
}

/// Writes plot `def` as `DIR/<id>.svg` (the id made a plain file name);
/// the path written.
fn write_svg(
    dir: &Path,
    def: &crate::pipeline::PlotDef,
    kind: &str,
    (drawn, data): (
        &[crate::review::plots::Line],
        &[crate::review::plot_kinds::Data<'_>],
    ),
) -> Result<String, ReviewError> {
    fs_err::create_dir_all(dir)?;
    let path = dir.join(crate::review::svg::file_name(&def.id));
    let picture = crate::review::svg::render(def, kind, drawn, data);
    crate::fsutil::write_atomic(&path, picture.as_bytes())?;
    Ok(path.display().to_string())
}

/// Each of `defs` drawn as an SVG picture (`review::svg`) with the data of
/// every revision in `revs` (label, revision), in order; images and plots
/// that cannot be read are left out. For `mlci plots show/diff`.
pub fn pictures(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    defs: &[crate::pipeline::PlotDef],
    revs: Vec<(String, crate::revision::Rev)>,
) -> Result<Vec<String>, ReviewError> {
    let mut readers: Vec<(RevReader, String)> = revs
        .into_iter()
        .map(|(label, rev)| {
            (
                RevReader::new(&repo.root, &repo.cache, rev).with_pipeline(pipeline),
                label,
            )
        })
        .collect();
    let mut out = Vec::new();
    for def in defs {
        if def.sources.iter().all(|s| is_image(&s.file)) {
            continue;
        }
        let Ok((drawn, data)) = read_plot(&mut readers, None, def) else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let (kind, _) =
            crate::review::plot_kinds::built_in_for(&repo.root, def.template.as_deref());
        out.push(crate::review::svg::render(
            def,
            kind.as_str(),
            &drawn,
            &data,
        ));
    }
    Ok(out)
}

/// The lines and records of `def` at each revision of `readers` (with
/// their labels), reading at each only the files its pipeline declares
/// (`declared`, one set per reader; None: every source). Err: why the plot
/// cannot be drawn (a file unreadable at a revision), as the report says it.
pub(crate) fn read_plot<'d>(
    readers: &mut [(RevReader, String)],
    declared: Option<&[std::collections::BTreeSet<String>]>,
    def: &'d crate::pipeline::PlotDef,
) -> Result<
    (
        Vec<crate::review::plots::Line>,
        Vec<crate::review::plot_kinds::Data<'d>>,
    ),
    String,
> {
    let mut drawn = Vec::new();
    let mut data = Vec::new();
    for (i, (reader, label)) in readers.iter_mut().enumerate() {
        let wanted = |f: &str| declared.is_none_or(|d| d[i].contains(f));
        for source in def.sources.iter().filter(|s| wanted(&s.file)) {
            let bytes = match reader.read(&source.file) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => return Err(format!("cannot draw it: {e}")),
            };
            let table = parse_records(&bytes, &source.file).map_err(|message| {
                format!("cannot draw it: {} at {label}: {message}", source.file)
            })?;
            let table = paired_x(reader, source, table)
                .map_err(|message| format!("cannot draw it: {message} at {label}"))?;
            drawn.extend(lines(&table, source, label));
            data.push((label.clone(), source, table));
        }
    }
    Ok((drawn, data))
}

/// Reads every plot's data at both revisions and draws it: Mermaid, and
/// with `pictures` (a directory, and the URL it is published at) SVG files.
fn build_plots(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
    pictures: Option<(&Path, Option<&str>)>,
    all: bool,
) -> Result<Vec<serde_json::Value>, ReviewError> {
    let mut out = Vec::new();
    let mut readers = [
        (
            RevReader::new(&repo.root, &repo.cache, cmp.base.clone()).with_pipeline(pipeline),
            cmp.base_label.clone(),
        ),
        (
            RevReader::new(&repo.root, &repo.cache, cmp.target.clone()).with_pipeline(pipeline),
            cmp.target.label(),
        ),
    ];
    // Which files are plots at each revision comes from its own pipeline
    // (the definitions drawn are the target's).
    let declared = &cmp.plot_files[..];
    for def in &pipeline.plots {
        let title = def.title.clone().unwrap_or_else(|| def.id.clone());
        if def.sources.iter().all(|s| is_image(&s.file)) {
            out.push(serde_json::json!({ "id": def.id, "title": title, "image": def.sources[0].file, "caption": "image" }));
            continue;
        }
        let (drawn, data) = match read_plot(&mut readers, Some(declared), def) {
            Ok(read) => read,
            Err(note) => {
                out.push(serde_json::json!({ "id": def.id, "title": title, "caption": "not drawn", "note": note, "lines": [] }));
                continue;
            }
        };
        let mut caption: Vec<String> = drawn
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.y.is_empty())
            .map(|(i, l)| format!("{}. {}", i + 1, l.label))
            .collect();
        let (kind, template_note) =
            crate::review::plot_kinds::built_in_for(&repo.root, def.template.as_deref());
        let template = kind.as_str();
        if caption.is_empty() || template.starts_with("confusion") || template.starts_with("bar_") {
            // Bars and tables are drawn from the records, not from lines.
            caption = data
                .iter()
                .enumerate()
                .map(|(i, (label, source, _))| format!("{}. {label}: {}", i + 1, source.file))
                .collect();
        }
        // A chart of the same data at both revisions: nothing for a
        // reviewer to see (unless every plot is asked for). Tables (a
        // confusion matrix, listed points) are compact and always shown.
        let charted = !(template.starts_with("confusion") || template == "scatter");
        if charted && !all && same_at_both(&data, &readers[0].1, &readers[1].1) {
            out.push(serde_json::json!({
                "id": def.id, "title": title, "caption": caption.join("; "),
                "note": format!("the same at {} and {}: not drawn", readers[0].1, readers[1].1),
                "lines": drawn,
            }));
            continue;
        }
        let as_drawn = crate::pipeline::PlotDef {
            template: Some(kind.clone()),
            ..def.clone()
        };
        let mut shown = crate::review::plot_kinds::draw(&as_drawn, &drawn, &data);
        if let Some(n) = template_note {
            shown.note = Some(match shown.note {
                Some(other) => format!("{n}; {other}"),
                None => n,
            });
        }
        let svg_path = match pictures {
            Some((dir, _)) => Some(write_svg(dir, def, template, (&drawn, &data))?),
            None => None,
        };
        let svg_name = svg_path
            .as_ref()
            .map(|_| crate::review::svg::file_name(&def.id));
        let svg_url = match (pictures, &svg_name) {
            (Some((_, Some(url))), Some(name)) => {
                Some(format!("{}/{name}", url.trim_end_matches('/')))
            }
            _ => None,
        };
        out.push(serde_json::json!({
            "id": def.id,
            "title": title,
            "mermaid": shown.mermaid,
            "table_md": shown.table_md,
            "note": shown.note,
            "legend": shown.legend,
            "svg": svg_path,
            "svg_name": svg_name,
            "svg_url": svg_url,
            "lines": drawn,
            "caption": caption.join("; "),
        }));
    }
    Ok(out)
}
