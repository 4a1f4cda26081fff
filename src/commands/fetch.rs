//! `mlci fetch` and `mlci pull`: download what the workspace references
//! from a remote into the cache (and, for pull, into the workspace).

use crate::exit::Exit;

use clap::Args;

use super::{transfers, Ctx};

/// Download tracked data, stage outputs and run records from a remote into
/// the cache, without touching the workspace.
///
/// Every object is verified against its hash before it enters the cache; a
/// corrupt one is an error naming it and the remote. Objects already in the
/// cache are not downloaded again, so an interrupted fetch resumes.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub transfer: transfers::TransferArgs,
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
    args: transfers::TransferArgs,
    checkout_force: Option<bool>,
) -> anyhow::Result<Exit> {
    if let Some(root) = transfers::dvc_root(ctx) {
        let what = match checkout_force {
            Some(_) => transfers::DvcMove::Pull,
            None => transfers::DvcMove::Fetch,
        };
        return transfers::run_dvc(ctx, &root, &args, what);
    }
    transfers::run_transfer(ctx, &args, |repo, session, tracked| {
        let outcome = crate::sync::fetch(session, tracked)?;
        transfers::tell_fetch(ctx, session.remote, &outcome)?;
        if let Some(force) = checkout_force {
            transfers::restore(ctx, repo, &args.targets, force)?;
        }
        Ok(Exit::Ok)
    })
}
