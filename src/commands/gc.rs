//! `mlci gc`: reclaim cache space, locally or on a remote.

use crate::exit::Exit;
use std::collections::HashSet;

use clap::Args;

use crate::config::Overrides;
use crate::error::hinted;
use crate::git;
use crate::store::gc;

use super::{human_bytes, Ctx};

/// Remove cache objects (and run records) that no pointer in the chosen
/// scope references, locally or, with `--remote`, on a remote.
///
/// The scope is required: `--workspace` keeps what the current work tree
/// uses; `--rev REV` also keeps what those revisions use; `--all-commits`
/// keeps what any commit reachable from any ref uses. The workspace is
/// always kept, and so is every commit a model registry tag names (an
/// active version or a stage assignment). A run record goes when an object
/// it names goes.
///
/// With `--remote NAME` the remote is collected instead of the cache: the
/// same scope, plus per-commit stage records of commits outside it; nothing
/// younger than the grace period (`--grace`, else `core.gc_grace`, else
/// 24h) is deleted, so a push or a fan-out worker running elsewhere at the
/// same time cannot lose what it just wrote. A remote is shared, so its gc
/// refuses a shallow or single-branch clone. Try `--dry-run` first.
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
    /// Collect this remote instead of the local cache.
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// With `--remote`: keep anything written less than this long ago
    /// (`24h`, `90m`, `7d`; default `core.gc_grace`, else 24h).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_grace)]
    pub grace: Option<std::time::Duration>,
    /// With `--remote`: deletions in flight at once.
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Collect a cache moved with `core.cache_dir`/`MLCI_CACHE_DIR`, which
    /// other workspaces may share (their objects would go).
    #[arg(long)]
    pub force: bool,
}

pub fn cmd_gc(ctx: &Ctx, args: GcArgs) -> anyhow::Result<Exit> {
    let GcArgs {
        workspace,
        all_commits,
        revs,
        dry_run,
        json,
        remote,
        grace,
        jobs,
        force,
    } = args;
    if !workspace && !all_commits && revs.is_empty() {
        return Err(hinted(
            "gc needs a scope: which references to keep",
            "`mlci gc --workspace` keeps only what the current checkout uses; add `--all-commits` or `--rev REV` to keep history",
        ));
    }
    if remote.is_none() && (grace.is_some() || jobs.is_some()) {
        return Err(hinted(
            "`--grace` and `--jobs` apply to a remote gc only",
            "add `--remote NAME`, or drop them: the local cache is collected under the repository lock",
        ));
    }
    let repo = ctx.repo(&Overrides {
        jobs,
        remote: remote.clone(),
    })?;
    let _lock = repo.lock()?;
    if remote.is_some() {
        if let Some(why) = git::partial_history(&repo.root)? {
            return Err(hinted(
                format!(
                    "gc --remote deletes from a shared remote, and {why}: commits and registry tags it cannot see would lose their data"
                ),
                "fetch the whole history first: `fetch-depth: 0` in actions/checkout, or `git fetch --unshallow --tags` (a single-branch clone also needs `git config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'`)",
            ));
        }
    }
    // What the registry names is never collected, whatever the scope.
    let protected = crate::registry::protected_commits(&repo.root)?;
    for p in &protected {
        let stages = if p.stages.is_empty() {
            String::new()
        } else {
            format!(" (in {})", p.stages.join(", "))
        };
        ctx.printer.info(&format!(
            "keeping what {}{stages} uses (registry, commit {})",
            p.label,
            short_rev(&p.commit)
        ));
    }
    let mut revs = revs;
    revs.extend(protected.into_iter().map(|p| p.commit));
    let scope = crate::sync::scope::referenced(&repo, all_commits, &revs)?;
    for i in &scope.ignored {
        ctx.printer.warn(&format!(
            "ignoring {} at {}: {}",
            i.path,
            short_rev(&i.rev),
            i.why
        ));
    }
    let roots = scope.roots;
    if remote.is_some() {
        let commits = scope_commits(&repo.root, workspace, all_commits, &revs)?;
        let scope = crate::sync::collect::Scope { roots, commits };
        return collect_remote(ctx, &repo, scope, grace, (dry_run, json));
    }
    if let Some(dir) = repo
        .settings
        .cache_dir
        .as_ref()
        .filter(|_| !dry_run && !force)
    {
        return Err(hinted(
            format!(
                "the cache is at {} (`core.cache_dir`), which other workspaces may share: gc keeps only what this one uses",
                repo.root.join(dir).display()
            ),
            "see what would go with `--dry-run`; add `--force` when no other workspace uses this cache",
        ));
    }
    let (keep, missing) = gc::referenced(&repo.cache, roots);
    for oid in &missing {
        ctx.printer.warn(&format!(
            "directory manifest {oid} is referenced but not in the cache; the files it lists cannot be protected"
        ));
    }
    let plan = gc::plan(&repo.cache, &keep, missing)?;
    let records = crate::pipeline::runcache::stale(&repo.cache, &keep);
    if json {
        let removed: Vec<String> = plan.remove.iter().map(|(o, _)| o.to_string()).collect();
        let records: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
        let v = serde_json::json!({
            "dry_run": dry_run,
            "removed": removed,
            "removed_bytes": plan.bytes(),
            "removed_run_records": records,
            "kept": plan.kept,
        });
        ctx.printer.data(&serde_json::to_string_pretty(&v)?)?;
    } else if dry_run {
        let list: String = plan
            .remove
            .iter()
            .map(|(o, s)| format!("{o}\t{s}\n"))
            .chain(records.iter().map(|(k, _)| format!("{k}\n")))
            .collect();
        if !list.is_empty() {
            ctx.printer.data(&list)?;
        }
    }
    if !dry_run {
        // Records first: a gc killed part-way leaves no record naming a
        // deleted object.
        for (_, path) in &records {
            crate::fsutil::remove_file_if_exists(path)?;
        }
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
        "{} {} object(s), {}, and {} run record(s); kept {}",
        if dry_run { "would remove" } else { "removed" },
        plan.remove.len(),
        human_bytes(plan.bytes()),
        records.len(),
        plan.kept
    ));
    Ok(Exit::Ok)
}

/// The commits whose per-commit stage records a remote gc keeps: HEAD for
/// the workspace, the named revisions, or every reachable commit.
fn scope_commits(
    root: &std::path::Path,
    workspace: bool,
    all_commits: bool,
    revs: &[String],
) -> anyhow::Result<HashSet<String>> {
    if all_commits {
        return Ok(git::all_commit_ids(root)?);
    }
    let mut out = HashSet::new();
    if workspace {
        if let Ok(head) = git::resolve_commit(root, "HEAD") {
            out.insert(head.to_string());
        }
    }
    for rev in revs {
        out.insert(git::resolve_commit(root, rev)?.to_string());
    }
    Ok(out)
}

/// `gc --remote`: plan, show, and (without `--dry-run`) delete.
fn collect_remote(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    scope: crate::sync::collect::Scope,
    grace: Option<std::time::Duration>,
    (dry_run, json): (bool, bool),
) -> anyhow::Result<Exit> {
    use crate::sync::collect;
    let remote = crate::sync::require(&repo.settings, &repo.root)?;
    let grace = grace.unwrap_or(repo.settings.gc_grace);
    let plan = collect::plan(&remote, &repo.cache, scope, grace)?;
    if json {
        let mut v = serde_json::to_value(&plan)?;
        v["dry_run"] = serde_json::json!(dry_run);
        v["remote"] = serde_json::json!(remote.name);
        ctx.printer
            .data(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else if dry_run {
        let list: String = plan
            .objects
            .iter()
            .map(|d| format!("{}\t{}\n", d.key, d.size))
            .chain(
                plan.run_records
                    .iter()
                    .chain(&plan.commit_records)
                    .map(|k| format!("{k}\n")),
            )
            .collect();
        if !list.is_empty() {
            ctx.printer.data(&list)?;
        }
    }
    if !dry_run {
        collect::sweep(&remote, &plan)?;
        // Our own record of what the remote holds is now wrong.
        let mut known = crate::remote::known::Known::load(&repo.tmp_dir(), &remote.identity);
        known.clear();
        known.save()?;
    }
    ctx.printer.info(&format!(
        "{} {} object(s), {}, {} run record(s) and {} stage record(s) on `{}`; kept {}, and {} younger than the grace period ({})",
        if dry_run { "would remove" } else { "removed" },
        plan.objects.len(),
        human_bytes(plan.bytes()),
        plan.run_records.len(),
        plan.commit_records.len(),
        remote.name,
        plan.kept,
        plan.young,
        human_duration(grace),
    ));
    Ok(Exit::Ok)
}

/// `24h`, `90m`, `30s`: the largest whole unit.
fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 && s > 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn short_rev(rev: &str) -> &str {
    if rev.len() == 40 {
        &rev[..10]
    } else {
        rev
    }
}
