//! The `mlci model` command group: the model registry in git tags (GTO's
//! format). `write.rs` creates tags (register, promote, unassign,
//! deregister, deprecate) and pushes them; `read.rs` answers questions
//! (list, show, history, which); `lineage.rs` tells what a version was
//! made from (show of one version, lineage, provenance); `get.rs`
//! downloads an artifact's bytes.

mod get;
mod lineage;
mod read;
pub(crate) mod write;

use clap::{Args, Subcommand};

use super::Ctx;
use crate::exit::Exit;

/// The model registry: versions and stage assignments as git tags that GTO
/// reads too. See docs/registry.md.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    // `--version` names the version here, not mlci's.
    #[command(disable_version_flag = true)]
    Register(write::RegisterArgs),
    #[command(visible_alias = "assign")]
    Promote(write::PromoteArgs),
    Unassign(write::UnassignArgs),
    Deregister(write::DeregisterArgs),
    Deprecate(write::DeprecateArgs),
    List(read::ListArgs),
    Show(read::ShowArgs),
    History(read::HistoryArgs),
    Which(read::WhichArgs),
    Lineage(lineage::LineageArgs),
    Provenance(lineage::ProvenanceArgs),
    Get(get::GetArgs),
}

pub fn cmd_model(ctx: &Ctx, args: ModelArgs) -> anyhow::Result<Exit> {
    match args.command {
        ModelCommand::Register(a) => write::cmd_register(ctx, a),
        ModelCommand::Promote(a) => write::cmd_promote(ctx, a),
        ModelCommand::Unassign(a) => write::cmd_unassign(ctx, a),
        ModelCommand::Deregister(a) => write::cmd_deregister(ctx, a),
        ModelCommand::Deprecate(a) => write::cmd_deprecate(ctx, a),
        ModelCommand::List(a) => read::cmd_list(ctx, a),
        ModelCommand::Show(a) => read::cmd_show(ctx, a),
        ModelCommand::History(a) => read::cmd_history(ctx, a),
        ModelCommand::Which(a) => read::cmd_which(ctx, a),
        ModelCommand::Lineage(a) => lineage::cmd_lineage(ctx, a),
        ModelCommand::Provenance(a) => lineage::cmd_provenance(ctx, a),
        ModelCommand::Get(a) => get::cmd_get(ctx, a),
    }
}

/// The registry's place ([`crate::repo::Place`]); a repository with
/// `.mlci/` is opened through the context, so its credentials are masked.
pub(super) fn place(ctx: &Ctx) -> anyhow::Result<crate::repo::Place> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    if root.join(".mlci").is_dir() {
        let repo = ctx.repo(&crate::config::Overrides::default())?;
        return Ok(crate::repo::Place {
            root: repo.root,
            cache: repo.cache,
        });
    }
    Ok(crate::repo::Place::find(&root)?)
}

/// Flags every command that creates tags shares.
#[derive(Debug, Args)]
pub struct PushFlags {
    /// Push the new tag to the git remote in one `git push`.
    #[arg(long)]
    pub push: bool,
    /// The git remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub git_remote: String,
    /// The token git pushes with (default: GITHUB_TOKEN when set), passed
    /// through a one-shot credential helper, never in a URL or config.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The tag's message (default: GTO's wording).
    #[arg(short, long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Print the created tag as JSON (`tag`, `commit`, `artifact`,
    /// `version`, `stage`, `message`).
    #[arg(long)]
    pub json: bool,
}
