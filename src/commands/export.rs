//! `mlci export argo`: the pipeline as an Argo Workflows `Workflow`.

use clap::{Args, Subcommand};

use super::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::pipeline::argo::{self, ArgoOptions};

/// Export the pipeline for an engine that runs it across machines.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    Argo(ArgoArgs),
}

/// An Argo Workflows `Workflow` (one YAML document on stdout): a DAG task
/// per stage running `mlci repro -s STAGE --pull --push` on a checkout of
/// this commit, and a join task. Submit it with `argo submit -`.
#[derive(Debug, Args)]
pub struct ArgoArgs {
    /// The container image with mlci (and what the stages need).
    #[arg(long, default_value = "mlci:latest", value_name = "IMAGE")]
    pub image: String,
    /// The remote the tasks share (default: the repository's default).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// The Kubernetes secret holding the remote's credentials as
    /// environment variables.
    #[arg(long, default_value = "mlci-remote", value_name = "NAME")]
    pub secret: String,
    /// The git repository the tasks check out (default: `origin`'s URL,
    /// without any credentials in it).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// The revision to run (default: HEAD's commit).
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub rev: String,
    /// Export the queued experiments (`mlci exp run --queue`) instead: a
    /// task per experiment running `mlci exp run --set-json SET --pull
    /// --push`, and a join recording them all from the run cache.
    #[arg(long)]
    pub experiments: bool,
}

pub fn cmd_export(ctx: &Ctx, a: ExportArgs) -> anyhow::Result<Exit> {
    let ExportCommand::Argo(a) = a.command;
    let repo = ctx.repo_in_place(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let revision = crate::git::resolve_commit(&repo.root, &a.rev)
        .map_err(|e| {
            crate::error::hinted(
                format!("revision `{}`: {}", a.rev, e.message()),
                "name a commit the workflow should run",
            )
        })?
        .to_string();
    let url = match a.repo {
        Some(u) => u,
        None => origin_url(&repo.root).ok_or_else(|| {
            crate::error::hinted(
                "this repository has no `origin` remote to check out from",
                "pass --repo URL",
            )
        })?,
    };
    let opts = ArgoOptions {
        image: a.image,
        remote: a.remote,
        secret: a.secret,
        repo: strip_credentials(&url),
        revision,
    };
    let doc = match a.experiments {
        true => argo::experiments_workflow(&queued(&repo)?, &opts)?,
        false => argo::workflow(&pipeline, &opts)?,
    };
    ctx.printer
        .data(crate::yaml::to_string_quoted(&doc).trim_end())?;
    Ok(Exit::Ok)
}

/// The queued experiments that have not run, as Argo tasks (`exp-ID`).
fn queued(repo: &crate::repo::Repo) -> anyhow::Result<Vec<argo::ExperimentTask>> {
    let out: Vec<argo::ExperimentTask> = crate::experiments::queue::Queue::of(&repo.root)
        .pending()?
        .into_iter()
        .map(|e| argo::ExperimentTask {
            name: format!("exp-{}", e.id),
            set: e.assignments.iter().map(|s| s.arg()).collect(),
        })
        .collect();
    if out.is_empty() {
        return Err(crate::error::hinted(
            "no queued experiment to export",
            "queue some first: `mlci exp run --queue -S KEY=V1,V2`",
        ));
    }
    Ok(out)
}

fn origin_url(root: &std::path::Path) -> Option<String> {
    let repo = git2::Repository::open(root).ok()?;
    let remote = repo.find_remote("origin").ok()?;
    remote.url().map(str::to_string)
}

/// `https://user:token@host/x` → `https://host/x`: a token never reaches
/// the workflow document. Over HTTP a user name alone may be the token
/// (GitHub takes one in either place), so all of it goes; over SSH the user
/// (`git@`) is how the host is reached and only a password goes.
fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let ssh = scheme.to_ascii_lowercase().contains("ssh");
    match userinfo.split_once(':') {
        _ if !ssh => format!("{scheme}://{host}{path}"),
        Some((user, _password)) => format!("{scheme}://{user}@{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::strip_credentials;

    #[test]
    fn credentials_never_reach_the_document_and_ssh_users_stay() {
        for (url, want) in [
            (
                "https://bot:ghp_x@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            (
                "https://ghp_x@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            ("https://github.com/o/r.git", "https://github.com/o/r.git"),
            ("https://u:p@host", "https://host"),
            ("https://host/a@b", "https://host/a@b"),
            (
                "ssh://git@github.com/o/r.git",
                "ssh://git@github.com/o/r.git",
            ),
            ("ssh://git:secret@host/r.git", "ssh://git@host/r.git"),
            ("git+ssh://git@host/r.git", "git+ssh://git@host/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ] {
            assert_eq!(strip_credentials(url), want, "{url}");
        }
    }
}
