//! `mlci exp push` and `exp pull`: experiments shared through a git remote
//! (their refs, `refs/exps/…` as DVC pushes them) and the data remote (the
//! outputs each experiment recorded), so `dvc exp pull` in another clone
//! gets what mlci pushed and the reverse.

use std::path::Path;
use std::process::Command;

use clap::Args;

use super::queue::{drop_workspace, git, make_workspace};
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::experiments::refs::{self, ExpRef};

/// Push experiments: their refs to a git remote, their outputs to the data
/// remote (the experiments of HEAD when none is named).
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub which: Which,
}

/// Pull experiments: their refs from a git remote, their outputs from the
/// data remote into the cache (the experiments of HEAD when none is named).
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub which: Which,
}

/// What `exp push` and `exp pull` move, and through which remotes.
#[derive(Debug, Args)]
pub struct Which {
    /// The git remote.
    pub git_remote: String,
    /// Experiments to move (names, refs or commits).
    pub experiments: Vec<String>,
    /// Every experiment of every baseline.
    #[arg(short = 'A', long)]
    pub all_commits: bool,
    /// Move the refs only, not the outputs.
    #[arg(long)]
    pub no_cache: bool,
    /// The data remote (default: the default one).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
}

/// The experiments named, else HEAD's (all with `all`).
fn chosen(root: &Path, names: &[String], all: bool) -> anyhow::Result<Vec<(ExpRef, git2::Oid)>> {
    let git = git2::Repository::open(root)?;
    let head = refs::head(root)?.to_string();
    if !names.is_empty() {
        return names
            .iter()
            .map(|n| Ok(refs::find(&git, n, Some(&head))?))
            .collect();
    }
    Ok(refs::all(&git)?
        .into_iter()
        .filter(|(e, _)| all || e.baseline == head)
        .collect())
}

/// Runs `mlci ARGS` in a workspace of each experiment's commit (sharing
/// the cache), for the transfer of its outputs.
fn each_output(root: &Path, exps: &[(ExpRef, git2::Oid)], args: &[&str]) -> anyhow::Result<Exit> {
    let exe = std::env::current_exe()?;
    let format = crate::repo::format::Format::of(root).unwrap_or(crate::repo::format::Format::Mlci);
    let mut exit = Exit::Ok;
    for (e, commit) in exps {
        let ws = format
            .state_dir(root)
            .join("exps")
            .join("share")
            .join(&e.name);
        let env = make_workspace(root, &ws, &commit.to_string())?;
        let status = Command::new(&exe)
            .arg("-C")
            .arg(&ws)
            .args(args)
            .envs(env)
            .status();
        drop_workspace(root, &ws)?;
        if !status?.success() {
            exit = Exit::Error;
        }
    }
    Ok(exit)
}

pub(super) fn cmd_push(ctx: &Ctx, a: PushArgs) -> anyhow::Result<Exit> {
    let a = a.which;
    let root = crate::repo::find_root(&ctx.cwd)?;
    let exps = chosen(&root, &a.experiments, a.all_commits)?;
    if exps.is_empty() {
        ctx.printer.info("no experiments to push");
        return Ok(Exit::Ok);
    }
    if !a.no_cache {
        let mut args = vec!["-q", "push"];
        if let Some(r) = &a.remote {
            args.extend(["-r", r]);
        }
        if each_output(&root, &exps, &args)? != Exit::Ok {
            anyhow::bail!("pushing an experiment's outputs failed (above); its ref was not pushed");
        }
    }
    let specs: Vec<String> = exps
        .iter()
        .map(|(e, _)| format!("{0}:{0}", e.refname()))
        .collect();
    let mut args = vec!["push", "--quiet", a.git_remote.as_str()];
    args.extend(specs.iter().map(String::as_str));
    git(&root, &args)?;
    ctx.printer.info(&format!(
        "pushed {} experiment(s) to `{}`",
        exps.len(),
        a.git_remote
    ));
    Ok(Exit::Ok)
}

pub(super) fn cmd_pull(ctx: &Ctx, a: PullArgs) -> anyhow::Result<Exit> {
    let a = a.which;
    let root = crate::repo::find_root(&ctx.cwd)?;
    let head = refs::head(&root)?.to_string();
    // What the remote has, by ref.
    let out = Command::new("git")
        .current_dir(&root)
        .args(["ls-remote", &a.git_remote, "refs/exps/*"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git ls-remote {}: {}",
        a.git_remote,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let listed: Vec<ExpRef> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| ExpRef::parse(l.split('\t').nth(1)?))
        .filter(|e| {
            if a.experiments.is_empty() {
                a.all_commits || e.baseline == head
            } else {
                a.experiments
                    .iter()
                    .any(|n| *n == e.name || *n == e.refname())
            }
        })
        .collect();
    if let Some(missing) = a
        .experiments
        .iter()
        .find(|n| !listed.iter().any(|e| e.name == **n || e.refname() == **n))
    {
        return Err(crate::experiments::ExpError::NotOnRemote {
            name: missing.clone(),
            remote: a.git_remote.clone(),
        }
        .into());
    }
    if listed.is_empty() {
        ctx.printer.info("no experiments to pull");
        return Ok(Exit::Ok);
    }
    let specs: Vec<String> = listed
        .iter()
        .map(|e| format!("{0}:{0}", e.refname()))
        .collect();
    let mut args = vec!["fetch", "--quiet", a.git_remote.as_str()];
    args.extend(specs.iter().map(String::as_str));
    git(&root, &args)?;
    let gitrepo = git2::Repository::open(&root)?;
    let exps: Vec<(ExpRef, git2::Oid)> = listed
        .into_iter()
        .map(|e| {
            let id = gitrepo.refname_to_id(&e.refname())?;
            Ok((e, id))
        })
        .collect::<Result<_, git2::Error>>()?;
    if !a.no_cache {
        let mut args = vec!["-q", "fetch"];
        if let Some(r) = &a.remote {
            args.extend(["-r", r]);
        }
        each_output(&root, &exps, &args)?;
    }
    ctx.printer.info(&format!(
        "pulled {} experiment(s) from `{}`",
        exps.len(),
        a.git_remote
    ));
    Ok(Exit::Ok)
}
