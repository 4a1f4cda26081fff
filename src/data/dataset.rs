//! Loading one side of a drift comparison: a file, a directory of shards,
//! or a tracked dataset as committed at a git revision (read through the
//! cache, fetched from the remote when missing).

use std::collections::BTreeMap;
use std::path::Path;

use super::table::{self, Dataset, Kind, Table, TableError};
use super::DataError;
use crate::progress::Reporter;
use crate::repo::Repo;
use crate::revision::{Rev, RevReader};
use crate::store::cache::Oid;
use crate::store::manifest::Manifest;
use crate::workspace_path::WorkspacePath;

/// The formats a shard directory's files may have.
const SHARD_EXTENSIONS: &[&str] = &["csv", "tsv", "jsonl", "ndjson", "parquet", "pq"];

fn is_shard(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| SHARD_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// A file, or every supported file below a directory (shards in name
/// order, concatenated), shown as `shown`.
pub fn read_path(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
) -> Result<Dataset, DataError> {
    if !path.is_dir() {
        return Ok(table::open(path, shown, kinds)?);
    }
    let mut shards: Vec<std::path::PathBuf> = walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && is_shard(&e.file_name().to_string_lossy()))
        .map(|e| e.into_path())
        .collect();
    shards.sort();
    if shards.is_empty() {
        return Err(TableError::Empty { file: shown.into() }.into());
    }
    let mut all = Table::default();
    for s in &shards {
        let rel = s.strip_prefix(path).unwrap_or(s).display().to_string();
        append(&mut all, table::read(s, &format!("{shown}/{rel}"), kinds)?);
    }
    Ok(all.into())
}

/// Appends shard `t` to `all` (columns matched by name; a column a shard
/// lacks counts as missing there). Linear in the columns and values.
pub fn append(all: &mut Table, t: Table) {
    use std::collections::{HashMap, HashSet};
    let before = all.rows;
    let names: HashSet<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    for c in all.columns.iter_mut() {
        if !names.contains(c.name.as_str()) {
            c.missing += t.rows;
            crate::data::table::push_missing(&mut c.missing_rows, before, t.rows);
        }
    }
    let mut at: HashMap<String, usize> = all
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    for mut col in t.columns {
        match at.get(&col.name) {
            Some(&i) => {
                let c = &mut all.columns[i];
                c.missing += col.missing;
                for (first, n) in &col.missing_rows {
                    crate::data::table::push_missing(&mut c.missing_rows, first + before, *n);
                }
                c.numbers.append(&mut col.numbers);
                // Categories re-coded into the first shard's dictionary:
                // each of this shard's categories looked up once.
                let index: HashMap<&str, u32> = c
                    .categories
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.as_str(), i as u32))
                    .collect();
                let mut added: Vec<String> = Vec::new();
                let recode: Vec<u32> = col
                    .categories
                    .iter()
                    .map(|name| match index.get(name.as_str()) {
                        Some(i) => *i,
                        None => {
                            let i = (c.categories.len() + added.len()) as u32;
                            added.push(name.clone());
                            i
                        }
                    })
                    .collect();
                drop(index);
                c.categories.extend(added);
                c.codes
                    .extend(col.codes.iter().map(|code| recode[*code as usize]));
            }
            None => {
                col.missing += before;
                let mut runs = Vec::new();
                crate::data::table::push_missing(&mut runs, 0, before);
                for (first, n) in &col.missing_rows {
                    crate::data::table::push_missing(&mut runs, first + before, *n);
                }
                col.missing_rows = runs;
                at.insert(col.name.clone(), all.columns.len());
                all.columns.push(col);
            }
        }
    }
    all.rows += t.rows;
}

/// The dataset at repo-relative `rel` as committed at `rev`.
pub fn read_at(
    repo: &Repo,
    rel: &str,
    rev: &str,
    kinds: &BTreeMap<String, Kind>,
    reporter: &dyn Reporter,
) -> Result<Dataset, DataError> {
    let shown = format!("{rel}@{rev}");
    let commit = crate::git::resolve_commit(&repo.root, rev).map_err(|e| DataError::Rev {
        shown: shown.clone(),
        rev: rev.into(),
        message: e.message().to_string(),
    })?;
    let at = Rev::Commit {
        name: rev.into(),
        id: commit,
    };
    let mut reader = RevReader::new(&repo.root, &repo.cache, at);
    let Some(t) = reader.tracked(rel)? else {
        // A small dataset kept in git itself.
        let Some(bytes) = reader.git_file(rel)? else {
            return Err(TableError::Read {
                file: shown,
                message: "is neither tracked nor in git at that revision".into(),
            }
            .into());
        };
        let tmp = tempfile::Builder::new().prefix("mlci-drift").tempdir()?;
        let file = tmp.path().join(rel.rsplit('/').next().unwrap_or(rel));
        fs_err::write(&file, bytes)?;
        return Ok(table::open(&file, &shown, kinds)?.keeping(tmp));
    };
    crate::revision::fetch::fetch_missing(repo, &t, reporter)
        .map_err(|e| DataError::Fetch(format!("{e:#}")))?;
    let oid = t.pointer.oid;
    if !oid.dir {
        return Ok(table::open(&repo.cache.object_path(&oid), &shown, kinds)?);
    }
    // A directory of shards, in name order: each read from its cache
    // object, its format from its name in the manifest.
    let bytes = repo
        .cache
        .read_verified(&oid)
        .map_err(|e| DataError::Other(e.to_string()))?;
    let manifest = Manifest::parse(&bytes).map_err(|e| DataError::Other(e.to_string()))?;
    let mut entries = manifest.entries().to_vec();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut all = Table::default();
    let mut any = false;
    for e in entries.iter().filter(|e| is_shard(&e.path)) {
        // Manifest entries come from data: plain relative paths only.
        WorkspacePath::new(&e.path).map_err(|u| DataError::Other(u.to_string()))?;
        let object = repo.cache.object_path(&Oid::file(e.sha256));
        append(
            &mut all,
            table::read(&object, &format!("{rel}/{}@{rev}", e.path), kinds)?,
        );
        any = true;
    }
    if !any {
        return Err(TableError::Empty { file: shown }.into());
    }
    Ok(all.into())
}
