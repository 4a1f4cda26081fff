//! What `exp show` and `exp diff` read at each experiment: the params and
//! metrics files the pipeline declares, as they are in the experiment's
//! commit (a metrics file kept in the cache is read through the lock of
//! that commit), flattened to dotted keys.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::refs::ExpRef;
use crate::pipeline::Pipeline;
use crate::repo::Repo;
use crate::revision::{Rev, RevReader};

/// Values by file, then dotted key.
pub type Values = BTreeMap<String, BTreeMap<String, Json>>;

/// One row of the table: the baseline or an experiment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// The experiment's name, or the baseline's branch (else its short id).
    pub name: String,
    /// 40 hex.
    pub rev: String,
    /// The experiment's ref; None for the baseline.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The commit's time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    #[serde(skip)]
    pub time: i64,
    pub params: Values,
    pub metrics: Values,
}

/// The baseline row and the experiments on `baseline` (all baselines when
/// `all`), oldest first.
///
/// # Errors
/// git cannot be read, or a params or metrics file does not parse.
pub fn rows(
    repo: &Repo,
    pipeline: &Pipeline,
    baseline: git2::Oid,
    all: bool,
) -> anyhow::Result<(Row, Vec<Row>)> {
    let git = git2::Repository::open(&repo.root)?;
    let params = crate::review::metrics::params_files(pipeline);
    let metrics = crate::review::metrics::metric_files(pipeline);
    let mut reader = Reader {
        repo,
        git: &git,
        params: &params,
        metrics: &metrics,
    };
    let head_name = git
        .head()
        .ok()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().map(String::from))
        .unwrap_or_else(|| baseline.to_string()[..7].to_string());
    let base = reader.row(head_name, baseline, None)?;
    let mut out = Vec::new();
    for (e, id) in super::refs::all(&git)? {
        if !all && e.baseline != baseline.to_string() {
            continue;
        }
        out.push(reader.row(e.name.clone(), id, Some(&e))?);
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.name.cmp(&b.name)));
    Ok((base, out))
}

struct Reader<'a> {
    repo: &'a Repo,
    git: &'a git2::Repository,
    params: &'a [String],
    metrics: &'a [String],
}

impl Reader<'_> {
    fn row(&mut self, name: String, id: git2::Oid, e: Option<&ExpRef>) -> anyhow::Result<Row> {
        let commit = self.git.find_commit(id)?;
        let tree = commit.tree()?;
        let time = commit.time().seconds();
        let mut row = Row {
            name,
            rev: id.to_string(),
            reference: e.map(ExpRef::refname),
            created: iso(time),
            time,
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
        };
        let mut fallback: Option<RevReader> = None;
        for (files, into) in [
            (self.params, &mut row.params),
            (self.metrics, &mut row.metrics),
        ] {
            for file in files {
                let values = match tree.get_path(std::path::Path::new(file)) {
                    Ok(entry) => {
                        let blob = entry.to_object(self.git)?.peel_to_blob()?;
                        let text = String::from_utf8_lossy(blob.content());
                        let parsed = crate::pipeline::params::parse(&text, file)
                            .map_err(|e| anyhow::anyhow!("{e} (at {})", &row.rev[..8]))?;
                        Some(crate::pipeline::params::flatten(&parsed))
                    }
                    // Not in git: a cached metrics file, read through the
                    // lock of this commit.
                    Err(_) => {
                        let reader = fallback.get_or_insert_with(|| {
                            RevReader::new(
                                &self.repo.root,
                                &self.repo.cache,
                                Rev::Commit {
                                    name: id.to_string(),
                                    id,
                                },
                            )
                        });
                        reader.values(file).ok().flatten()
                    }
                };
                if let Some(v) = values {
                    into.insert(file.clone(), v);
                }
            }
        }
        Ok(row)
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn iso(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
