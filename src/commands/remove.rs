//! `mlci remove`: stop tracking paths.

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::track::Workspace;

use super::Ctx;
use crate::targets::select_tracked;

/// Stop tracking paths: deletes their `.mlci` pointer files and
/// `.gitignore` entries. The data itself stays in the workspace and the
/// cache (`mlci gc` reclaims the cache space later).
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Tracked paths or their pointer files.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
}

pub fn cmd_remove(ctx: &Ctx, args: RemoveArgs) -> anyhow::Result<Exit> {
    let RemoveArgs { targets } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let tracked = select_tracked(&repo, &ctx.cwd, &targets)?;
    let mut ws = Workspace::open(&repo);
    for t in &tracked {
        ws.remove(t)?;
        ctx.printer.info(&format!(
            "stopped tracking {} (removed {})",
            t.target_rel, t.pointer_rel
        ));
    }
    ws.finish()?;
    Ok(Exit::Ok)
}
