//! `mlci fetch` and `mlci pull`: download what the workspace references
//! from a remote into the cache (and, for pull, into the workspace).

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::error::hinted;
use crate::remote::transfer::Transfer;
use crate::remote::{self, known::Known, Remote};
use crate::repo::Repo;
use crate::track::Workspace;

use super::{human_bytes, reporter, select_with_lock_outs, sync, Ctx};

/// Download tracked data, stage outputs and run records from a remote into
/// the cache, without touching the workspace.
///
/// Every object is verified against its hash before it enters the cache; a
/// corrupt one is an error naming it and the remote. Objects already in the
/// cache are not downloaded again, so an interrupted fetch resumes.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub transfer: sync::TransferArgs,
}

/// `mlci fetch`, then `mlci checkout` of the same targets.
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Overwrite local changes that are not in the cache.
    #[arg(short, long)]
    pub force: bool,
}

pub fn cmd_fetch(ctx: &Ctx, args: FetchArgs) -> anyhow::Result<Exit> {
    fetch_then_checkout(ctx, args.transfer, None)
}

pub fn cmd_pull(ctx: &Ctx, args: PullArgs) -> anyhow::Result<Exit> {
    let PullArgs { fetch, force } = args;
    fetch_then_checkout(ctx, fetch.transfer, Some(force))
}

/// `fetch`, and with `checkout: Some(force)` the checkout that makes it a
/// `pull`, under one repository lock.
fn fetch_then_checkout(
    ctx: &Ctx,
    args: sync::TransferArgs,
    checkout_force: Option<bool>,
) -> anyhow::Result<Exit> {
    let sync::TransferArgs {
        targets,
        remote,
        jobs,
        no_run_cache,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let (remote, jobs) = sync::require_remote(&repo, remote.as_deref(), jobs)?;
    fetch(ctx, &repo, &remote, jobs, &targets, !no_run_cache)?;
    if let Some(force) = checkout_force {
        checkout(ctx, &repo, &targets, force)?;
    }
    Ok(Exit::Ok)
}

/// Restores the workspace from the cache after a fetch.
pub fn checkout(ctx: &Ctx, repo: &Repo, targets: &[PathBuf], force: bool) -> anyhow::Result<()> {
    let tracked = select_with_lock_outs(repo, &ctx.cwd, targets)?;
    let reporter = reporter::for_printer(ctx.printer);
    let mut ws = Workspace::open(repo);
    let result = ws.checkout(&tracked, force, reporter.as_ref());
    ws.finish()?;
    let s = result?;
    ctx.printer.info(&format!(
        "restored {} file(s), {} already up to date",
        s.restored, s.unchanged
    ));
    Ok(())
}

/// Fetches the objects of `targets` (everything when empty) and, when
/// `run_cache`, the remote's run records. Objects the remote lacks are an
/// error naming the tracked paths they belong to, after everything else
/// has been fetched.
pub fn fetch(
    ctx: &Ctx,
    repo: &Repo,
    remote: &Remote,
    jobs: usize,
    targets: &[PathBuf],
    run_cache: bool,
) -> anyhow::Result<()> {
    let tracked = select_with_lock_outs(repo, &ctx.cwd, targets)?;
    let mut groups = sync::groups(&repo.cache, &tracked);
    let rt = remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &remote.identity);
    let reporter = reporter::for_printer(ctx.printer);
    let t = Transfer {
        remote,
        cache: &repo.cache,
        jobs,
        reporter: reporter.as_ref(),
    };
    let result = sync::fetch_groups(&t, &rt, &mut groups, &mut known);
    let records = match &result {
        Ok(_) if run_cache && targets.is_empty() => {
            sync::fetch_run_records(&rt, remote, jobs, &repo.cache, &mut known)
        }
        _ => Ok((0, Vec::new())),
    };
    known.save()?;
    let (summary, lost) = result?;
    let (records, rejected) = records?;
    if !rejected.is_empty() {
        ctx.printer.warn(&format!(
            "ignored {} malformed run record(s) on remote `{}` (a path outside the stage's outs, or not a record): {}",
            rejected.len(),
            remote.name,
            rejected.join(", ")
        ));
    }
    ctx.printer.info(&format!(
        "fetched {} object(s) ({}) from `{}`{}",
        summary.objects,
        human_bytes(summary.bytes),
        remote.name,
        if records > 0 {
            format!(" and {records} run record(s)")
        } else {
            String::new()
        }
    ));
    if !lost.is_empty() {
        return Err(hinted(
            format!(
                "{} object(s) are in neither the cache nor remote `{}`; missing data for: {}",
                summary.missing.len(),
                remote.name,
                lost.join(", ")
            ),
            "push them from a machine that has them (`mlci push`), or check that this is the right remote",
        ));
    }
    Ok(())
}
