//! The `drift:` section of mlci.yaml: settings for every comparison, and
//! rules that `mlci gate` and `mlci ci` evaluate like metric gates.
//!
//! ```yaml
//! drift:
//!   share: 0.5                      # the dataset drifts at this share of drifted columns
//!   columns:                        # per column: type, method, threshold, bins (PSI)
//!     age: {method: psi, threshold: 0.2}
//!     zip: {type: categorical}
//!   rules:
//!     - dataset: data/current.csv   # in the workspace (or at the compared revision)
//!       reference: main             # the same path at a git revision, or
//!       # reference_path: data/reference.parquet
//!       columns: [age, income]      # optional: only these
//!       share: 0.3                  # optional: this rule's share
//! ```
//!
//! Paths come from mlci.yaml, which a pull request controls: they are
//! checked workspace paths, read only inside the workspace.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::data::table::{Dataset, Kind};
use crate::data::{dataset, DataError};
use crate::drift::{self, ColumnOptions, Drift, Method, Options};
use crate::progress::Reporter;
use crate::repo::Repo;
use crate::review::gate::{self, GateResult, Rule};
use crate::revision::Rev;
use crate::workspace_path::WorkspacePath;

/// Why mlci.yaml's `drift:` rules could not be evaluated (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Drift(#[from] drift::DriftError),
    #[error("mlci.yaml: `drift`: {0}")]
    Definition(String),
    #[error(transparent)]
    Rev(#[from] crate::revision::RevisionError),
}

impl crate::error::Hint for RulesError {
    fn hint(&self) -> Option<String> {
        match self {
            RulesError::Data(e) => e.hint(),
            RulesError::Drift(e) => e.hint(),
            RulesError::Rev(e) => e.hint(),
            RulesError::Definition(_) => Some("`drift:` takes `share`, `columns: {NAME: {type, method, threshold, bins}}` and `rules: [{dataset, reference | reference_path, columns, share}]` (see docs/drift.md)".into()),
        }
    }
}

crate::register_hint!(RulesError);

/// The section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub share: Option<f64>,
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnOptions>,
    #[serde(default)]
    pub rules: Vec<RuleDef>,
}

/// One drift rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub dataset: String,
    pub reference: Option<String>,
    pub reference_path: Option<String>,
    #[serde(default)]
    pub columns: Vec<String>,
    pub method: Option<Method>,
    pub share: Option<f64>,
}

impl Section {
    /// Reads the section from the pipeline's `drift:` value.
    pub fn parse(value: Option<&crate::yaml::Value>) -> Result<Section, RulesError> {
        let Some(v) = value else {
            return Ok(Section::default());
        };
        let s: Section = crate::yaml::from_value(v.clone(), std::path::Path::new("mlci.yaml"))
            .map_err(|e| RulesError::Definition(e.message))?;
        for r in &s.rules {
            if r.reference.is_some() == r.reference_path.is_some() {
                return Err(RulesError::Definition(format!(
                    "rule on `{}` needs exactly one of `reference` (a revision) and `reference_path`",
                    r.dataset
                )));
            }
        }
        Ok(s)
    }

    /// The column types the section forces.
    pub fn kinds(&self) -> BTreeMap<String, Kind> {
        self.columns
            .iter()
            .filter_map(|(k, v)| v.kind.map(|kind| (k.clone(), kind.kind())))
            .collect()
    }

    /// Comparison options: the section's, with `only` and `method`.
    pub fn options(
        &self,
        only: Vec<String>,
        method: Option<Method>,
        share: Option<f64>,
    ) -> Options {
        Options {
            columns: self.columns.clone(),
            only,
            method,
            drift_share: share.or(self.share).unwrap_or(0.5),
        }
    }
}

/// One rule's outcome: the comparison, the tables (for histograms) and
/// its gate verdict.
pub struct Outcome {
    pub dataset: String,
    pub reference: String,
    pub drift: Drift,
    pub gate: GateResult,
    pub reference_table: Dataset,
    pub current_table: Dataset,
}

/// Evaluates every rule with the dataset as it is at `target` (the work
/// tree, or a commit).
pub fn evaluate(
    repo: &Repo,
    section: &Section,
    target: &Rev,
    reporter: &dyn Reporter,
) -> Result<Vec<Outcome>, RulesError> {
    let kinds = section.kinds();
    let mut out = Vec::new();
    for rule in &section.rules {
        let current = read_side(repo, &rule.dataset, target, &kinds, reporter)?;
        let (reference, label) = match (&rule.reference, &rule.reference_path) {
            (Some(rev), _) => (
                dataset::read_at(
                    repo,
                    checked(&rule.dataset)?.as_str(),
                    rev,
                    &kinds,
                    reporter,
                )?,
                format!("{}@{rev}", rule.dataset),
            ),
            (None, Some(path)) => (
                read_side(repo, path, target, &kinds, reporter)?,
                path.clone(),
            ),
            (None, None) => unreachable!("checked when parsed"),
        };
        let opts = section.options(rule.columns.clone(), rule.method, rule.share);
        let result = drift::compare(&reference, &current, &opts, reporter)?;
        let mut verdict = gate::check(
            &format!("drift:{}", rule.dataset),
            &rule.dataset,
            Rule::DriftShare(opts.drift_share),
            Some(&serde_json::json!(result.dataset.share)),
            None,
        );
        verdict.note = Some(format!(
            "{} of {} columns drifted",
            result.dataset.drifted_columns, result.dataset.columns
        ));
        out.push(Outcome {
            dataset: rule.dataset.clone(),
            reference: label,
            drift: result,
            gate: verdict,
            reference_table: reference,
            current_table: current,
        });
    }
    Ok(out)
}

fn checked(path: &str) -> Result<WorkspacePath, RulesError> {
    WorkspacePath::new(path).map_err(|e| RulesError::Definition(format!("`{path}`: {e}")))
}

/// `path` as it is at `target`.
fn read_side(
    repo: &Repo,
    path: &str,
    target: &Rev,
    kinds: &BTreeMap<String, Kind>,
    reporter: &dyn Reporter,
) -> Result<Dataset, RulesError> {
    let p = checked(path)?;
    match target {
        Rev::Workspace => {
            let abs = p
                .locate_for_read(&repo.root)
                .map_err(|e| RulesError::Definition(format!("`{path}`: {e}")))?;
            Ok(dataset::read_path(&abs, path, kinds)?)
        }
        Rev::Commit { id, .. } => Ok(dataset::read_at(
            repo,
            p.as_str(),
            &id.to_string(),
            kinds,
            reporter,
        )?),
    }
}

/// mlci.yaml's `drift:` rules with the datasets as they are at `target`
/// (`workspace` or a revision): their gate results and report sections.
pub fn gates_at(
    repo: &Repo,
    pipeline: &crate::pipeline::Pipeline,
    target: &str,
) -> Result<(Vec<GateResult>, Vec<crate::review::report::DriftView>), RulesError> {
    let section = Section::parse(pipeline.drift.as_ref())?;
    if section.rules.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let rev = Rev::parse(&repo.root, target)?;
    let outcomes = evaluate(repo, &section, &rev, &crate::progress::Silent)?;
    Ok((
        outcomes.iter().map(|o| o.gate.clone()).collect(),
        outcomes.iter().map(super::view::report_view).collect(),
    ))
}
