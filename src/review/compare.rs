//! Comparing two revisions: the pipeline's metrics and params files read
//! at both (through git and the cache), diffed row by row, and the gates of
//! mlci.yaml evaluated on the result. The report, `metrics diff`, `params
//! diff` and `gate` all start here.

use crate::pipeline::PipelineError;
use crate::repo::Repo;
use crate::review::gate::{self, GateError, GateResult};
use crate::review::metrics::diff::{diff, Row};
use crate::review::metrics::{metric_files, params_files};
use crate::revision::{Rev, RevReader, RevisionError};

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot find a base revision: {message}")]
    NoBase { message: String },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Metrics(#[from] RevisionError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Report(#[from] crate::review::report::ReportError),
    #[error(transparent)]
    Status(#[from] crate::pipeline::repro::ReproError),
    /// Judging a DVC repository used in place.
    #[error(transparent)]
    Dvc(#[from] Box<crate::dvc::DvcError>),
    #[error("{file}: `report.template`: {source}")]
    Template {
        file: String,
        source: Box<crate::workspace_path::UnsafePath>,
    },
    #[error("plot data {file} at {rev}: {message}")]
    PlotData {
        file: String,
        rev: String,
        message: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("{file}: {message}")]
    Direction { file: String, message: String },
    #[error("{file}: {message}")]
    TableKeys { file: String, message: String },
    #[error("no plot `{target}`: it is neither a plot id nor a plot file")]
    NoSuchPlot { target: String },
    #[error("{message}")]
    PlotJson { message: String },
    #[error(transparent)]
    DataChanges(#[from] crate::datadiff::DataDiffError),
}

impl crate::error::Hint for ReviewError {
    fn hint(&self) -> Option<String> {
        match self {
            ReviewError::NoBase { .. } => Some("commit once, or pass `--base REV`".into()),
            ReviewError::DataChanges(e) => e.hint(),
            ReviewError::Pipeline(e) => e.hint(),
            ReviewError::Metrics(e) => e.hint(),
            ReviewError::Gate(e) => e.hint(),
            ReviewError::Report(e) => e.hint(),
            ReviewError::Status(e) => e.hint(),
            ReviewError::Dvc(e) => e.hint(),
            ReviewError::Template { .. } => Some(
                "name a template file inside the repository, e.g. `report.template: .github/report.md.j2`".into(),
            ),
            ReviewError::PlotData { .. } => Some(
                "plot files are CSV/TSV with a header row, or JSON/YAML lists of records".into(),
            ),
            ReviewError::Io(e) => crate::error::io_hint(e),
            ReviewError::Json(_) => None,
            ReviewError::NoSuchPlot { .. } => Some(
                "`mlci plots show` with no target lists every plot; plots are declared under `plots:` in mlci.yaml or dvc.yaml".into(),
            ),
            ReviewError::PlotJson { .. } => Some("fix the plot file, or its definition under `plots:`".into()),
            ReviewError::TableKeys { .. } => Some(
                "for example `report: {tables: {data/users.csv: {key: user_id}}}` (a column, or a list of columns)".into(),
            ),
            ReviewError::Direction { .. } => Some(
                "for example `report: {direction: {loss: min, val_accuracy: max}}`".into(),
            ),
        }
    }
}

crate::register_hint!(ReviewError);

/// The key columns of `pipeline`'s `report.tables`, or the error naming
/// its file.
pub fn table_keys(
    pipeline: &crate::pipeline::Pipeline,
) -> Result<crate::datadiff::tables::TableKeys, ReviewError> {
    crate::datadiff::tables::keys(pipeline.report.as_ref()).map_err(|message| {
        ReviewError::TableKeys {
            file: pipeline
                .source
                .clone()
                .unwrap_or_else(|| "mlci.yaml".into()),
            message,
        }
    })
}

/// Which files a comparison reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metrics,
    Params,
}

/// The metrics or params files the pipeline names.
pub fn files(repo: &Repo, kind: Kind) -> Result<Vec<String>, ReviewError> {
    let pipeline = crate::pipeline::load(&repo.root)?;
    Ok(match kind {
        Kind::Metrics => metric_files(&pipeline),
        Kind::Params => params_files(&pipeline),
    })
}

/// The pipeline as it is at `rev`: the work tree's, or a commit's own.
pub fn pipeline_at(repo: &Repo, rev: &Rev) -> Result<crate::pipeline::Pipeline, ReviewError> {
    Ok(match rev {
        Rev::Workspace => crate::pipeline::load(&repo.root)?,
        Rev::Commit { id, .. } => crate::pipeline::load::load_at(&repo.root, *id)?,
    })
}

/// The pipeline of one side: the loaded one for the work tree when given.
fn side_pipeline(
    repo: &Repo,
    rev: &Rev,
    loaded: Option<&crate::pipeline::Pipeline>,
) -> Result<crate::pipeline::Pipeline, ReviewError> {
    match (rev, loaded) {
        (Rev::Workspace, Some(p)) => Ok(p.clone()),
        _ => pipeline_at(repo, rev),
    }
}

fn files_of(pipeline: &crate::pipeline::Pipeline, kind: Kind) -> Vec<String> {
    match kind {
        Kind::Metrics => metric_files(pipeline),
        Kind::Params => params_files(pipeline),
    }
}

/// The plot data files a pipeline declares.
fn plot_files(pipeline: &crate::pipeline::Pipeline) -> std::collections::BTreeSet<String> {
    pipeline
        .plots
        .iter()
        .flat_map(|d| {
            d.sources
                .iter()
                .flat_map(|s| std::iter::once(&s.file).chain(&s.x_file))
        })
        .cloned()
        .collect()
}

/// Two revisions compared: their names and the rows of every file.
pub struct Comparison {
    pub base: Rev,
    pub base_label: String,
    pub target: Rev,
    pub metrics: Vec<Row>,
    pub params: Vec<Row>,
    /// The plot data files each side's own pipeline declares (base,
    /// target): which files are plots at a revision is that revision's.
    pub plot_files: [std::collections::BTreeSet<String>; 2],
}

/// The base of a comparison: a revision as the user or the event named it,
/// and how to name it to a reader when the revision text is not that name
/// (a pull request's base is a 40-hex merge-base; its reader knows it as
/// `main`). The label travels with the revision into every heading, legend
/// and caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub rev: String,
    pub label: Option<String>,
}

impl Base {
    /// A base named by its revision alone.
    pub fn rev(rev: &str) -> Base {
        Base {
            rev: rev.into(),
            label: None,
        }
    }
}

/// Resolves `--base`/`--target` (with the default base) and diffs the
/// pipeline's metrics and params files between them.
pub fn compare(
    repo: &Repo,
    base: Option<&str>,
    target: &str,
    kinds: &[Kind],
) -> Result<Comparison, ReviewError> {
    compare_with(repo, base.map(Base::rev).as_ref(), target, kinds, None)
}

/// [`compare`] with a base that may carry its label, and the work tree's
/// pipeline as the command already loaded it (so a command that judges
/// the work tree loads its pipeline once).
pub fn compare_with(
    repo: &Repo,
    base: Option<&Base>,
    target: &str,
    kinds: &[Kind],
    workspace_pipeline: Option<&crate::pipeline::Pipeline>,
) -> Result<Comparison, ReviewError> {
    let (base_rev, base_label) = match base {
        Some(b) => {
            let r = Rev::parse(&repo.root, &b.rev)?;
            let l = b.label.clone().unwrap_or_else(|| r.label());
            (r, l)
        }
        None => {
            let (label, id) =
                crate::git::default_base(&repo.root).map_err(|e| ReviewError::NoBase {
                    message: e.message().to_string(),
                })?;
            (
                Rev::Commit {
                    name: id.to_string()[..8].to_string(),
                    id,
                },
                label,
            )
        }
    };
    let target_rev = Rev::parse(&repo.root, target)?;
    // Each side's pipeline, loaded once for every kind and the plots.
    let (old_pipeline, new_pipeline) = (
        side_pipeline(repo, &base_rev, workspace_pipeline)?,
        side_pipeline(repo, &target_rev, workspace_pipeline)?,
    );
    let mut old_reader =
        RevReader::new(&repo.root, &repo.cache, base_rev.clone()).with_pipeline(&old_pipeline);
    let mut new_reader =
        RevReader::new(&repo.root, &repo.cache, target_rev.clone()).with_pipeline(&new_pipeline);
    let mut rows = [Vec::new(), Vec::new()];
    for (i, kind) in [Kind::Metrics, Kind::Params].into_iter().enumerate() {
        if !kinds.contains(&kind) {
            continue;
        }
        // Which files are metrics or params comes from each revision's own
        // pipeline, as DVC reads it: a file declared on one side only is
        // added or removed, never read where it is not declared.
        let (old_files, new_files) = (files_of(&old_pipeline, kind), files_of(&new_pipeline, kind));
        let mut all: Vec<&String> = old_files.iter().chain(&new_files).collect();
        all.sort();
        all.dedup();
        for f in all {
            let old = match old_files.contains(f) {
                true => old_reader.values(f)?.unwrap_or_default(),
                false => Default::default(),
            };
            let new = match new_files.contains(f) {
                true => new_reader.values(f)?.unwrap_or_default(),
                false => Default::default(),
            };
            rows[i].extend(diff(f, &old, &new));
        }
    }
    let [mut metrics, params] = rows;
    // Which way is better, from the target's mlci.yaml and common names.
    let directions = crate::review::direction::Directions::from_report(
        new_pipeline.report.as_ref(),
    )
    .map_err(|message| ReviewError::Direction {
        file: new_pipeline
            .source
            .clone()
            .unwrap_or_else(|| "mlci.yaml".into()),
        message,
    })?;
    for r in &mut metrics {
        r.direction = directions.of(&r.path, &r.key);
        r.verdict = crate::review::direction::verdict(r.direction, r.change);
    }
    Ok(Comparison {
        base: base_rev,
        base_label,
        target: target_rev,
        metrics,
        params,
        plot_files: [plot_files(&old_pipeline), plot_files(&new_pipeline)],
    })
}

/// Evaluates the gates of mlci.yaml on a comparison's metrics (which must
/// include `Kind::Metrics`); None when no gates are defined.
pub fn evaluate_gates(
    pipeline: &crate::pipeline::Pipeline,
    cmp: &Comparison,
) -> Result<Option<Vec<GateResult>>, ReviewError> {
    let Some(def) = &pipeline.gates else {
        return Ok(None);
    };
    let gates = gate::parse(def)?;
    if gates.is_empty() {
        return Ok(None);
    }
    // The comparison already read both sides; rebuild the values from its rows.
    let (mut now, mut before) = (gate::Values::new(), gate::Values::new());
    for r in &cmp.metrics {
        if let Some(v) = &r.new {
            now.entry(r.path.clone())
                .or_default()
                .insert(r.key.clone(), v.clone());
        }
        if let Some(v) = &r.old {
            before
                .entry(r.path.clone())
                .or_default()
                .insert(r.key.clone(), v.clone());
        }
    }
    let files = metric_files(pipeline);
    Ok(Some(gate::evaluate(&gates, &now, &before, &files)?))
}
