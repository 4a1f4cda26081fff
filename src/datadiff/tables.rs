//! How a changed table changed: for a modified CSV/TSV, Parquet or JSON
//! Lines file, the rows on each side and the columns added, removed or
//! retyped (integer, float, string, as the drift room reads them). Bounded:
//! at most [`MAX_TABLES`] files, each at most [`MAX_BYTES`] a side.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{DataDiff, Side};
use crate::data::table::{self, Kind};
use crate::repo::Repo;
use crate::revision::{Rev, RevReader};

/// The most changed tables compared for one diff.
pub const MAX_TABLES: usize = 5;
/// The largest file compared (a side), in bytes.
pub const MAX_BYTES: u64 = 256 << 20;

const EXTENSIONS: [&str; 7] = ["csv", "tsv", "tab", "parquet", "pq", "jsonl", "ndjson"];

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
}

/// The schema of one side: rows and each column's type, or why not.
type Schema = Result<(u64, BTreeMap<String, String>), String>;

/// The changed tables of `d` (modified files with a table's extension),
/// compared between `old` and `new`.
pub fn changes(repo: &Repo, d: &DataDiff, old: &Side, new: &Side) -> Vec<TableChange> {
    d.modified
        .iter()
        .filter(|c| !c.path.ends_with('/'))
        .filter(|c| {
            c.path
                .rsplit_once('.')
                .is_some_and(|(_, e)| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .take(MAX_TABLES)
        .map(|c| {
            let (a, b) = (schema(repo, old, &c.path), schema(repo, new, &c.path));
            let note = match (&a, &b) {
                (Err(e), _) | (_, Err(e)) => Some(e.clone()),
                _ => None,
            };
            let (ra, ca) = a.unwrap_or_default();
            let (rb, cb) = b.unwrap_or_default();
            let both = note.is_none();
            TableChange {
                path: c.path.clone(),
                rows_before: both.then_some(ra),
                rows_after: both.then_some(rb),
                added: if both {
                    cb.keys()
                        .filter(|k| !ca.contains_key(*k))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                },
                removed: if both {
                    ca.keys()
                        .filter(|k| !cb.contains_key(*k))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                },
                retyped: if both {
                    ca.iter()
                        .filter_map(|(k, t)| {
                            let u = cb.get(k)?;
                            (u != t).then(|| (k.clone(), t.clone(), u.clone()))
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                note,
            }
        })
        .collect()
}

/// The file of `path` on `side`: the work tree's, or its cache object.
fn file_of(repo: &Repo, side: &Side, path: &str) -> Result<PathBuf, String> {
    match side {
        Side::Workspace => crate::workspace_path::WorkspacePath::new(path)
            .and_then(|p| p.locate_for_read(&repo.root))
            .map_err(|e| e.to_string()),
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

fn schema(repo: &Repo, side: &Side, path: &str) -> Schema {
    let file = file_of(repo, side, path)?;
    let size = fs_err::metadata(&file).map_err(|e| e.to_string())?.len();
    if size > MAX_BYTES {
        return Err(format!("over {} MiB a side: not compared", MAX_BYTES >> 20));
    }
    let shown = match side {
        Side::Workspace => path.to_string(),
        Side::Commit { name, .. } => format!("{path}@{name}"),
    };
    let data = table::open(&file, &shown, &BTreeMap::new()).map_err(|e| e.to_string())?;
    let names: Vec<String> = data.names().iter().map(|s| s.to_string()).collect();
    let mut types = BTreeMap::new();
    for (name, col) in names
        .iter()
        .zip(data.columns(&names.iter().map(String::as_str).collect::<Vec<_>>()))
    {
        let col = col
            .ok_or("a column went missing")?
            .map_err(|e| e.to_string())?;
        let t = match (col.kind, col.integers) {
            (Kind::Numeric, true) => "integer",
            (Kind::Numeric, false) => "float",
            (Kind::Categorical, _) => "string",
        };
        types.insert(name.clone(), t.to_string());
    }
    Ok((data.rows(), types))
}
