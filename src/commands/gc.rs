//! `mlci gc`: reclaim local cache space.

use crate::exit::Exit;
use std::collections::HashSet;

use clap::Args;

use crate::config::Overrides;
use crate::error::hinted;
use crate::git;
use crate::store::cache::Oid;
use crate::store::gc;
use crate::track::{all_tracked, tracked_from_text};

use super::{human_bytes, Ctx};

/// Remove cache objects that no pointer in the chosen scope references.
///
/// The scope is required: `--workspace` keeps what the current work tree
/// uses; `--rev REV` also keeps what those revisions use; `--all-commits`
/// keeps what any commit reachable from any ref uses. The workspace is
/// always kept. Remotes are never touched.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("scope").multiple(true))]
pub struct GcArgs {
    /// Keep what the current workspace references.
    #[arg(short, long, group = "scope")]
    pub workspace: bool,
    /// Also keep what every commit reachable from a ref references.
    #[arg(short = 'A', long, group = "scope")]
    pub all_commits: bool,
    /// Also keep what these revisions reference (repeatable).
    #[arg(long = "rev", value_name = "REV", group = "scope")]
    pub revs: Vec<String>,
    /// List what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What gc collects from history: pointer files and the root lock file.
const SCAN: git::ScanFor = git::ScanFor {
    pointer_extension: crate::track::pointer::EXTENSION,
    lock_file: crate::pipeline::lock::LOCK_FILE,
};

pub fn cmd_gc(ctx: &Ctx, args: GcArgs) -> anyhow::Result<Exit> {
    let GcArgs {
        workspace,
        all_commits,
        revs,
        dry_run,
        json,
    } = args;
    if !workspace && !all_commits && revs.is_empty() {
        return Err(hinted(
            "gc needs a scope: which references to keep",
            "`mlci gc --workspace` keeps only what the current checkout uses; add `--all-commits` or `--rev REV` to keep history",
        ));
    }
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let mut roots: HashSet<Oid> = all_tracked(&repo.root)?
        .into_iter()
        .map(|t| t.pointer.oid)
        .collect();
    roots.extend(
        super::lock_tracked(&repo.root)?
            .into_iter()
            .map(|t| t.pointer.oid),
    );
    let blobs = if all_commits {
        git::pointers_in_all_commits(&repo.root, &SCAN)?
    } else {
        git::pointers_at(&repo.root, &revs, &SCAN)?
    };
    for blob in blobs {
        if blob.path == crate::pipeline::lock::LOCK_FILE {
            // Every output a lock file at that revision names (cached or not:
            // keeping a few extra objects is the safe side).
            match crate::pipeline::lock::LockFile::parse(&blob.text) {
                Ok(lock) => roots.extend(
                    crate::pipeline::lock::lock_outs(&lock, &|_| true)
                        .into_iter()
                        .map(|t| t.pointer.oid),
                ),
                Err(e) => ctx.printer.warn(&format!(
                    "ignoring {} at {}: {e}",
                    blob.path,
                    short_rev(&blob.rev)
                )),
            }
            continue;
        }
        match tracked_from_text(&blob.path, &blob.text) {
            Ok(t) => {
                roots.insert(t.pointer.oid);
            }
            Err(e) => ctx.printer.warn(&format!(
                "ignoring {} at {}: {e}",
                blob.path,
                short_rev(&blob.rev)
            )),
        }
    }
    let (keep, missing) = gc::referenced(&repo.cache, roots);
    for oid in &missing {
        ctx.printer.warn(&format!(
            "directory manifest {oid} is referenced but not in the cache; the files it lists cannot be protected"
        ));
    }
    let plan = gc::plan(&repo.cache, &keep, missing)?;
    if json {
        let removed: Vec<String> = plan.remove.iter().map(|(o, _)| o.to_string()).collect();
        let v = serde_json::json!({
            "dry_run": dry_run,
            "removed": removed,
            "removed_bytes": plan.bytes(),
            "kept": plan.kept,
        });
        ctx.printer.data(&serde_json::to_string_pretty(&v)?)?;
    } else if dry_run {
        let list: String = plan
            .remove
            .iter()
            .map(|(o, s)| format!("{o}\t{s}\n"))
            .collect();
        if !list.is_empty() {
            ctx.printer.data(&list)?;
        }
    }
    if !dry_run {
        gc::sweep(&repo.cache, &plan)?;
        // Objects are gone: directories once known complete may not be.
        let mut state = crate::store::state::StateDb::load(&repo.state_path());
        state.clear_complete_dirs();
        state.forget_objects(plan.remove.iter().map(|(o, _)| &o.digest));
        for (oid, _) in plan.remove.iter().filter(|(o, _)| o.dir) {
            crate::fsutil::remove_file_if_exists(&repo.manifest_memo_path(oid))?;
        }
        state.save()?;
    }
    ctx.printer.info(&format!(
        "{} {} object(s), {}; kept {}",
        if dry_run { "would remove" } else { "removed" },
        plan.remove.len(),
        human_bytes(plan.bytes()),
        plan.kept
    ));
    Ok(Exit::Ok)
}

fn short_rev(rev: &str) -> &str {
    if rev.len() == 40 {
        &rev[..10]
    } else {
        rev
    }
}
