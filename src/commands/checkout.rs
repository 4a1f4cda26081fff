//! `mlci checkout`: restore tracked data from the cache.

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;

use super::Ctx;

/// Restore tracked files and directories, and the cached outputs of
/// pipeline stages, from the cache to match their pointer files and
/// mlci.lock.
///
/// Files come out of the cache by reflink where the file system supports
/// it, else by copy (`core.link_type` in `.mlci/config.yaml`). Every object
/// is verified against its hash on the way, unless mlci hashed it before
/// and its stat (inode, size, mtime, ctime) has not changed since. A local
/// change that is not in the cache is never overwritten unless `--force` is
/// given.
#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// Tracked paths (or pointer files, or directories holding them); all when omitted.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
    /// Overwrite local changes that are not in the cache.
    #[arg(short, long)]
    pub force: bool,
}

pub fn cmd_checkout(ctx: &Ctx, args: CheckoutArgs) -> anyhow::Result<Exit> {
    let CheckoutArgs { targets, force } = args;
    if let Some(root) = super::transfers::dvc_root(ctx) {
        let args = super::transfers::TransferArgs {
            targets,
            remote: None,
            jobs: None,
            no_run_cache: true,
        };
        let what = super::transfers::DvcMove::Checkout;
        return super::transfers::run_dvc(ctx, &root, &args, what);
    }
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    super::transfers::restore(ctx, &repo, &targets, force)?;
    Ok(Exit::Ok)
}
