//! How a changed table changed: for a modified CSV/TSV, Parquet or JSON
//! Lines file, the rows on each side and the columns added, removed or
//! retyped (integer, float, string, as pandas reads them); with a key for
//! the file in mlci.yaml (`report.tables.PATH.key`), the rows added,
//! removed and changed per column (`keyed`). Bounded: at most
//! [`MAX_TABLES`] files in a report, each at most [`MAX_BYTES`] a side.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::keyed::{self, KeyedChange};
use super::{DataDiff, Side};
use crate::data::table::{self, Kind, Table};
use crate::repo::Repo;
use crate::revision::{Rev, RevReader};

/// The most changed tables a report compares.
pub const MAX_TABLES: usize = 5;
/// The largest file compared (a side), in bytes.
pub const MAX_BYTES: u64 = 256 << 20;

const EXTENSIONS: [&str; 7] = ["csv", "tsv", "tab", "parquet", "pq", "jsonl", "ndjson"];

/// The key columns of each table (repo-relative path → columns), from
/// mlci.yaml's `report.tables`.
pub type TableKeys = BTreeMap<String, Vec<String>>;

/// `report.tables` of mlci.yaml: `{PATH: {key: COLUMN | [COLUMN, …]}}`.
/// Err: the message for the file's error (what is wrong, where).
pub fn keys(report: Option<&serde_yaml::Value>) -> Result<TableKeys, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        key: OneOrMany,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let Some(v) = report.and_then(|r| r.get("tables")) else {
        return Ok(TableKeys::new());
    };
    let wire: BTreeMap<String, Entry> =
        serde_yaml::from_value(v.clone()).map_err(|e| format!("`report.tables`: {e}"))?;
    wire.into_iter()
        .map(|(path, e)| {
            let cols = match e.key {
                OneOrMany::One(c) => vec![c],
                OneOrMany::Many(c) => c,
            };
            if cols.is_empty() || cols.iter().any(String::is_empty) {
                return Err(format!("`report.tables.{path}.key` names no column"));
            }
            let clean = crate::workspace_path::WorkspacePath::new(&path)
                .map_err(|e| format!("`report.tables.{path}`: {e}"))?;
            Ok((clean.to_string(), cols))
        })
        .collect()
}

/// One changed table.
#[derive(Debug, Clone, Serialize)]
pub struct TableChange {
    pub path: String,
    pub rows_before: Option<u64>,
    pub rows_after: Option<u64>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (column, type before, type after).
    pub retyped: Vec<(String, String, String)>,
    /// Why a side could not be compared, when one could not.
    pub note: Option<String>,
    /// Rows joined on the file's key, when it has one.
    pub keyed: Option<KeyedChange>,
    /// Why the rows could not be joined on the key (a key column missing
    /// or of another type on a side).
    pub keyed_note: Option<String>,
}

/// The changed tables of `d` (modified files with a table's extension),
/// compared between `old` and `new`, at most `limit` of them; a table in
/// `keys` is also compared row by row.
pub fn changes(
    repo: &Repo,
    d: &DataDiff,
    (old, new): (&Side, &Side),
    keys: &TableKeys,
    limit: usize,
) -> Vec<TableChange> {
    d.modified
        .iter()
        .filter(|c| !c.path.ends_with('/'))
        .filter(|c| {
            c.path
                .rsplit_once('.')
                .is_some_and(|(_, e)| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .take(limit)
        .map(|c| change(repo, c, (old, new), keys.get(&c.path)))
        .collect()
}

/// How the table of change `c` changed between the sides.
fn change(
    repo: &Repo,
    c: &super::Change,
    (old, new): (&Side, &Side),
    key: Option<&Vec<String>>,
) -> TableChange {
    let path = c.path.as_str();
    let (a, b) = rayon::join(
        || load(repo, old, path, c.old_hash.as_deref()),
        || load(repo, new, path, c.new_hash.as_deref()),
    );
    let mut out = TableChange {
        path: path.to_string(),
        rows_before: None,
        rows_after: None,
        added: Vec::new(),
        removed: Vec::new(),
        retyped: Vec::new(),
        note: None,
        keyed: None,
        keyed_note: None,
    };
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            out.note = Some(e);
            return out;
        }
    };
    let (ca, cb) = (types(&a), types(&b));
    out.rows_before = Some(a.rows);
    out.rows_after = Some(b.rows);
    out.added = cb
        .keys()
        .filter(|k| !ca.contains_key(*k))
        .cloned()
        .collect();
    out.removed = ca
        .keys()
        .filter(|k| !cb.contains_key(*k))
        .cloned()
        .collect();
    out.retyped = ca
        .iter()
        .filter_map(|(k, t)| {
            let u = cb.get(k)?;
            (u != t).then(|| (k.clone(), t.to_string(), u.to_string()))
        })
        .collect();
    if let Some(key) = key {
        match keyed::compare(a, b, key, [&label(old), &label(new)]) {
            Ok(k) => out.keyed = Some(k),
            Err(e) => out.keyed_note = Some(e),
        }
    }
    out
}

fn label(side: &Side) -> String {
    match side {
        Side::Workspace => "the workspace".into(),
        Side::Commit { name, .. } => name.clone(),
    }
}

/// Each column's type as pandas would read it.
fn types(t: &Table) -> BTreeMap<String, &'static str> {
    t.columns
        .iter()
        .map(|col| {
            let ty = match (col.kind, col.integers) {
                (Kind::Numeric, true) => "integer",
                (Kind::Numeric, false) => "float",
                (Kind::Categorical, _) => "string",
            };
            (col.name.clone(), ty)
        })
        .collect()
}

/// The file of `path` on `side`: the work tree's, or its cache object (in
/// a DVC repository, the object of `hash`, the MD5 the diff found).
fn file_of(repo: &Repo, side: &Side, path: &str, hash: Option<&str>) -> Result<PathBuf, String> {
    match side {
        Side::Workspace => crate::workspace_path::WorkspacePath::new(path)
            .and_then(|p| p.locate_for_read(&repo.root))
            .map_err(|e| e.to_string()),
        Side::Commit { name, .. } if repo.format == crate::repo::format::Format::Dvc => {
            let cache = crate::dvc::config::cache_root(&repo.root);
            hash.and_then(|h| crate::dvc::status::object_path(&cache, h))
                .ok_or_else(|| format!("not in the cache at {name} (`mlci pull` fetches it)"))
        }
        Side::Commit { id, name } => {
            let mut reader = RevReader::new(
                &repo.root,
                &repo.cache,
                Rev::Commit {
                    name: name.clone(),
                    id: *id,
                },
            );
            let oid = reader
                .object(path)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("not tracked at {name}"))?;
            let file = repo.cache.object_path(&oid);
            if !file.exists() {
                return Err(format!(
                    "not in the cache at {name} (`mlci pull` fetches it)"
                ));
            }
            Ok(file)
        }
    }
}

/// The table at `path` on `side`, read whole (bounded by [`MAX_BYTES`]);
/// Err: why not, as the report says it.
fn load(repo: &Repo, side: &Side, path: &str, hash: Option<&str>) -> Result<Table, String> {
    let file = file_of(repo, side, path, hash)?;
    let size = fs_err::metadata(&file).map_err(|e| e.to_string())?.len();
    if size > MAX_BYTES {
        return Err(format!("over {} MiB a side: not compared", MAX_BYTES >> 20));
    }
    let shown = match side {
        Side::Workspace => path.to_string(),
        Side::Commit { name, .. } => format!("{path}@{name}"),
    };
    table::read(&file, &shown, &BTreeMap::new()).map_err(|e| e.to_string())
}
