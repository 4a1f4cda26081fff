//! `mlci remote add|list|remove|modify|default`: edit the remotes in
//! `.mlci/config.yaml` (committed) and `.mlci/config.local.yaml` (per
//! machine, for secrets).
//!
//! Every edit is validated as a whole (both files merged, each remote's
//! URL and keys checked against its backend) before anything is written,
//! and written atomically, so a bad edit changes nothing. The files are
//! rewritten from their parsed form: comments in them are not kept.

mod add;
mod default;
mod list;
mod modify;
mod remove;

use crate::exit::Exit;
use std::path::Path;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::error::hinted;
use crate::remote::config_edit::{check_name, get_path, require_defined, scalar, set_path, Files};
use crate::remote::location;
use crate::repo::{find_root, MLCI_DIR};
use crate::yaml::Value;

use super::Ctx;

/// Manage remotes: where `mlci push` sends data and `mlci pull` gets it.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: `mlci remote add [-d] NAME URL`.
    ///
    /// URL is a local directory, or `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `azure://container/prefix`, `sftp://user@host:port/path`,
    /// `webdav://host:port/path` (`webdavs://` for HTTPS), `https://host/path`
    /// (read-only) or `ghac://prefix` (the GitHub Actions cache).
    Add {
        name: String,
        url: String,
        /// Make it the default remote (`core.remote`).
        #[arg(short, long)]
        default: bool,
        /// Write to `.mlci/config.local.yaml` (this machine only).
        #[arg(long)]
        local: bool,
        /// Replace a remote of the same name.
        #[arg(short, long)]
        force: bool,
    },
    /// List remotes (name, URL, and which is the default). Secrets are never shown.
    List {
        /// Print as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote from both config files.
    Remove { name: String },
    /// Set (or with `--unset`, remove) one setting of a remote, e.g.
    /// `endpoint`, `region`, `access_key_id`, `secret_access_key`, `jobs`.
    ///
    /// Secrets (`secret_access_key`, `password`, `account_key`, …) may only
    /// go to the local file: pass `--local`.
    Modify {
        name: String,
        key: String,
        value: Option<String>,
        /// Write to `.mlci/config.local.yaml` (git-ignored; for secrets).
        #[arg(long)]
        local: bool,
        /// Remove the key instead of setting it.
        #[arg(long, conflicts_with = "value")]
        unset: bool,
    },
    /// Make a remote the default (`core.remote`).
    Default { name: String },
}

#[derive(Serialize)]
pub(super) struct RemoteJson<'a> {
    name: &'a str,
    url: &'a str,
    default: bool,
}

pub fn cmd_remote(ctx: &Ctx, args: RemoteArgs) -> anyhow::Result<Exit> {
    let root = find_root(&ctx.cwd)?;
    let dir = root.join(MLCI_DIR);
    if !dir.is_dir() {
        return Err(crate::repo::RepoError::NotInitialized { root }.into());
    }
    let mut files = Files::load(&dir)?;
    match args.command {
        RemoteCommand::List { json } => list::list(ctx, &root, &files, json)?,
        RemoteCommand::Add {
            name,
            url,
            default,
            local,
            force,
        } => add::add(
            ctx,
            &root,
            &mut files,
            &name,
            url,
            Placement {
                default,
                local,
                force,
            },
        )?,
        RemoteCommand::Remove { name } => remove::remove(ctx, &root, &mut files, name)?,
        RemoteCommand::Modify {
            name,
            key,
            value,
            local,
            unset,
        } => modify::modify(
            ctx,
            &root,
            &mut files,
            name,
            Change {
                key,
                value,
                local,
                unset,
            },
        )?,
        RemoteCommand::Default { name } => default::set_default(ctx, &root, &mut files, name)?,
    }
    Ok(Exit::Ok)
}

/// Where `remote add` puts a remote.
pub(super) struct Placement {
    default: bool,
    local: bool,
    force: bool,
}

/// What `remote modify` changes.
pub(super) struct Change {
    key: String,
    value: Option<String>,
    local: bool,
    unset: bool,
}
