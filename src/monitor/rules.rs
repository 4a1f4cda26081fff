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

use super::drift::{self, ColumnOptions, Drift, Method, Options};
use super::table::{Dataset, Kind};
use super::{dataset, MonitorError};
use crate::progress::Reporter;
use crate::repo::Repo;
use crate::review::gate::{self, GateResult, Rule};
use crate::review::metrics::Rev;
use crate::workspace_path::WorkspacePath;

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
    pub fn parse(value: Option<&crate::yaml::Value>) -> Result<Section, MonitorError> {
        let Some(v) = value else {
            return Ok(Section::default());
        };
        let s: Section = crate::yaml::from_value(v.clone(), std::path::Path::new("mlci.yaml"))
            .map_err(|e| MonitorError::Definition(e.message))?;
        for r in &s.rules {
            if r.reference.is_some() == r.reference_path.is_some() {
                return Err(MonitorError::Definition(format!(
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
            .filter_map(|(k, v)| v.kind.map(|kind| (k.clone(), kind)))
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
) -> Result<Vec<Outcome>, MonitorError> {
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

fn checked(path: &str) -> Result<WorkspacePath, MonitorError> {
    WorkspacePath::new(path).map_err(|e| MonitorError::Definition(format!("`{path}`: {e}")))
}

/// `path` as it is at `target`.
fn read_side(
    repo: &Repo,
    path: &str,
    target: &Rev,
    kinds: &BTreeMap<String, Kind>,
    reporter: &dyn Reporter,
) -> Result<Dataset, MonitorError> {
    let p = checked(path)?;
    match target {
        Rev::Workspace => {
            let abs = p
                .locate_for_read(&repo.root)
                .map_err(|e| MonitorError::Definition(format!("`{path}`: {e}")))?;
            dataset::read_path(&abs, path, kinds)
        }
        Rev::Commit { id, .. } => {
            dataset::read_at(repo, p.as_str(), &id.to_string(), kinds, reporter)
        }
    }
}
