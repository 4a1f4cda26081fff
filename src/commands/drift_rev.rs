//! `PATH@REV` for `mlci drift`: a tracked dataset (a file, or a directory
//! of shards) as committed at a git revision, read through the cache and
//! fetched from the remote when the cache lacks it.

use std::collections::BTreeMap;

use super::Ctx;
use crate::config::Overrides;
use crate::monitor::table::{self, Kind, Table, TableError};
use crate::store::cache::Oid;
use crate::store::manifest::Manifest;
use crate::workspace_path::WorkspacePath;

/// The dataset `path` (repo-relative or relative to the working directory)
/// at revision `rev`.
pub fn read_at(
    ctx: &Ctx,
    path: &str,
    rev: &str,
    kinds: &BTreeMap<String, Kind>,
) -> anyhow::Result<Table> {
    let repo = ctx.repo(&Overrides::default())?;
    let rel = repo.resolve_user_path(&ctx.cwd, std::path::Path::new(path))?;
    let shown = format!("{rel}@{rev}");
    let commit = crate::git::resolve_commit(&repo.root, rev).map_err(|e| {
        crate::error::hinted(
            format!("{shown}: revision `{rev}` does not exist: {}", e.message()),
            "name a commit, branch or tag (shallow CI checkouts need `fetch-depth: 0`)",
        )
    })?;
    let git = git2::Repository::open(&repo.root)?;
    let Some(t) = crate::sync::at_commit::tracked_at(&git, commit, &rel)? else {
        // A small dataset kept in git itself.
        if let Some(bytes) = crate::git::file_in(&git, commit, &rel)? {
            let tmp = tempfile::Builder::new().prefix("mlci-drift").tempdir()?;
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            let file = tmp.path().join(name);
            fs_err::write(&file, bytes)?;
            return Ok(table::read(&file, &shown, kinds)?);
        }
        return Err(TableError::Read {
            file: shown,
            message: "is neither tracked nor in git at that revision".into(),
        }
        .into());
    };
    let reporter = super::reporter::for_printer(ctx.printer);
    crate::sync::at_commit::fetch_missing(&repo, &t, reporter.as_ref())?;
    let oid = t.pointer.oid;
    if !oid.dir {
        let object = repo.cache.object_path(&oid);
        return Ok(table::read(&object, &shown, kinds)?);
    }
    // A directory of shards, in name order: each read from its cache
    // object, its format from its name in the manifest.
    let manifest = Manifest::parse(&repo.cache.read_verified(&oid)?)?;
    let mut all = Table::default();
    let mut any = false;
    let mut entries: Vec<_> = manifest.entries().to_vec();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    for e in &entries {
        // Manifest entries come from data: plain relative paths only.
        WorkspacePath::new(&e.path)?;
        let ext = e
            .path
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !matches!(
            ext.as_str(),
            "csv" | "tsv" | "jsonl" | "ndjson" | "parquet" | "pq"
        ) {
            continue;
        }
        let object = repo.cache.object_path(&Oid::file(e.sha256));
        let part = table::read(&object, &format!("{rel}/{}@{rev}", e.path), kinds)?;
        super::drift::append(&mut all, part);
        any = true;
    }
    if !any {
        return Err(TableError::Empty { file: shown }.into());
    }
    Ok(all)
}
