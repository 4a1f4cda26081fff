//! What `exp show` and `exp diff` read at each experiment: the params and
//! metrics files the pipeline declares, as they are in the experiment's
//! commit (a metrics file kept in the cache is read through the lock of
//! that commit), flattened to dotted keys.

use std::collections::{BTreeMap, BTreeSet};

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

/// One column: a metric or a param, in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Col {
    /// A metric (else a param).
    pub metric: bool,
    pub file: String,
    pub key: String,
}

/// The row's value of column `c`.
pub fn value<'r>(row: &'r Row, c: &Col) -> Option<&'r Json> {
    let of = if c.metric { &row.metrics } else { &row.params };
    of.get(&c.file).and_then(|m| m.get(&c.key))
}

/// A cell's text (`-` for none; floats to five significant digits).
pub fn shown(v: Option<&Json>) -> String {
    match v {
        None => "-".into(),
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n
            .as_f64()
            .filter(|_| n.is_f64())
            .map(|f| crate::review::metrics::diff::fmt_number(f, 5))
            .unwrap_or_else(|| n.to_string()),
        Some(other) => other.to_string(),
    }
}

/// Metrics, then the params the stages declare or that differ between rows.
pub fn columns(base: &Row, exps: &[Row], pipeline: &crate::pipeline::Pipeline) -> Vec<Col> {
    let all: Vec<&Row> = std::iter::once(base).chain(exps).collect();
    let mut metrics: BTreeSet<Col> = BTreeSet::new();
    let mut params: BTreeSet<Col> = BTreeSet::new();
    for r in &all {
        for (file, m) in &r.metrics {
            metrics.extend(m.keys().map(|k| Col {
                metric: true,
                file: file.clone(),
                key: k.clone(),
            }));
        }
        for (file, m) in &r.params {
            params.extend(m.keys().map(|k| Col {
                metric: false,
                file: file.clone(),
                key: k.clone(),
            }));
        }
    }
    let declared: BTreeSet<(String, String)> = pipeline
        .stages
        .iter()
        .flat_map(|s| &s.params)
        .flat_map(|d| d.keys.iter().flatten().map(|k| (d.file.clone(), k.clone())))
        .collect();
    let keep: Vec<Col> = params
        .into_iter()
        .filter(|c| {
            declared.contains(&(c.file.clone(), c.key.clone()))
                || all.iter().any(|r| value(r, c) != value(all[0], c))
        })
        .collect();
    metrics.into_iter().chain(keep).collect()
}

/// Column titles: the key, with its file when two files share the key.
pub fn titles(cols: &[Col]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cols {
        *count.entry(c.key.as_str()).or_default() += 1;
    }
    cols.iter()
        .map(|c| match count[c.key.as_str()] {
            1 => c.key.clone(),
            _ => format!("{}:{}", c.file, c.key),
        })
        .collect()
}

/// The report's "Experiments" section for the commit HEAD names: None when
/// no experiment was recorded on it. Ordered best first by the first
/// metric whose direction is known (`report.directions`, else its name),
/// else oldest first; at most [`crate::review::report::EXPERIMENT_ROWS`].
///
/// # Errors
/// As [`rows`].
pub fn report_view(
    repo: &Repo,
    pipeline: &Pipeline,
) -> anyhow::Result<Option<crate::review::report::ExperimentsView>> {
    use crate::review::direction::{Direction, Directions};
    let Ok(head) = super::refs::head(&repo.root) else {
        return Ok(None);
    };
    let (base, mut exps) = rows(repo, pipeline, head, false)?;
    if exps.is_empty() {
        return Ok(None);
    }
    let cols = columns(&base, &exps, pipeline);
    let directions = Directions::from_report(pipeline.report.as_ref()).unwrap_or_default();
    let by = cols
        .iter()
        .filter(|c| c.metric)
        .find_map(|c| directions.of(&c.file, &c.key).map(|d| (c.clone(), d)));
    if let Some((col, dir)) = &by {
        exps.sort_by(|x, y| {
            let (a, b) = (
                value(x, col).and_then(Json::as_f64),
                value(y, col).and_then(Json::as_f64),
            );
            match (a, b) {
                (Some(p), Some(q)) if *dir == Direction::Max => q.total_cmp(&p),
                (Some(p), Some(q)) => p.total_cmp(&q),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| x.name.cmp(&y.name))
        });
    }
    let count = exps.len();
    let limit = crate::review::report::EXPERIMENT_ROWS;
    let line = |r: &Row| -> Vec<String> {
        std::iter::once(r.name.clone())
            .chain(cols.iter().map(|c| shown(value(r, c))))
            .collect()
    };
    let mut table = vec![line(&base)];
    table.extend(exps.iter().take(limit).map(line));
    let header: Vec<String> = std::iter::once("Experiment".to_string())
        .chain(titles(&cols))
        .collect();
    let md_row = |cells: &[String]| -> String {
        let escaped: Vec<String> = cells
            .iter()
            .map(|c| crate::review::report::md_escape(c))
            .collect();
        format!("| {} |\n", escaped.join(" | "))
    };
    let mut table_md = md_row(&header);
    table_md.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in &table {
        table_md.push_str(&md_row(r));
    }
    Ok(Some(crate::review::report::ExperimentsView {
        baseline: head.to_string()[..8].to_string(),
        count,
        header,
        table_md,
        rows: table,
        more: count.saturating_sub(limit),
        sorted_by: by.map(|(c, _)| c.key),
    }))
}
