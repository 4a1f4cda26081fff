//! `mlci add`: start tracking files and directories.

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::track::Workspace;

use super::{human_bytes, reporter, Ctx};

/// Track files or directories by content hash.
///
/// Hashes each path (SHA-256), stores its content in the local cache
/// (`.mlci/cache`), writes a small `<path>.mlci` pointer file to commit in
/// its place, and adds the path to the `.gitignore` next to it.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Files or directories to track.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print what was added as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `mlci add` in a DVC repository used in place (`dvc::add`).
fn dvc_add(
    ctx: &Ctx,
    root: &std::path::Path,
    paths: &[PathBuf],
    json: bool,
) -> anyhow::Result<Exit> {
    let mut rels = Vec::new();
    for p in paths {
        let abs = ctx.cwd.join(p);
        let canon = abs
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .map(|d| d.join(abs.file_name().unwrap_or_default()))
            .unwrap_or(abs);
        let rel = canon
            .strip_prefix(root)
            .ok()
            .and_then(|r| r.to_str())
            .map(str::to_string)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| crate::dvc::DvcError::File {
                file: p.display().to_string(),
                message: "is not inside the repository".into(),
            })?;
        crate::workspace_path::WorkspacePath::new(&rel)?;
        rels.push(rel);
    }
    let reporter = reporter::for_printer(ctx.printer);
    let added = crate::dvc::add::add(root, &rels, reporter.as_ref())?;
    if json {
        ctx.printer.data(&serde_json::to_string_pretty(&added)?)?;
    }
    let mut to_commit = Vec::new();
    for a in &added {
        let what = match a.nfiles {
            Some(n) => format!("{n} files, {}", human_bytes(a.size)),
            None => human_bytes(a.size),
        };
        let verb = if a.changed { "added" } else { "unchanged" };
        ctx.printer
            .info(&format!("{verb} {} ({what}) -> {}", a.path, a.pointer));
        to_commit.push(a.pointer.clone());
        to_commit.push(match a.path.rfind('/') {
            Some(i) => format!("{}/.gitignore", &a.path[..i]),
            None => ".gitignore".to_string(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    to_commit.retain(|f| seen.insert(f.clone()));
    super::record_in_git(ctx, root, "to track the changes with git, run:", &to_commit)?;
    Ok(Exit::Ok)
}

pub fn cmd_add(ctx: &Ctx, args: AddArgs) -> anyhow::Result<Exit> {
    let AddArgs { paths, json } = args;
    if let Ok(root) = crate::repo::find_root(&ctx.cwd) {
        if crate::repo::format::Format::of(&root) == Some(crate::repo::format::Format::Dvc) {
            return dvc_add(ctx, &root, &paths, json);
        }
    }
    let repo = ctx.repo(&Overrides::default())?;
    let _lock = repo.lock()?;
    let targets = paths
        .iter()
        .map(|p| repo.resolve_user_path(&ctx.cwd, p))
        .collect::<Result<Vec<_>, _>>()?;
    let reporter = reporter::for_printer(ctx.printer);
    let mut ws = Workspace::open(&repo);
    let result = ws.add(&targets, reporter.as_ref());
    // Hashes computed before a failure are still worth keeping.
    ws.finish()?;
    let outcomes = result?;
    if json {
        ctx.printer
            .data(&serde_json::to_string_pretty(&outcomes)?)?;
    }
    let mut to_commit = Vec::new();
    for o in &outcomes {
        let what = match o.nfiles {
            Some(n) => format!("{n} files, {}", human_bytes(o.size)),
            None => human_bytes(o.size),
        };
        let verb = if o.changed { "added" } else { "unchanged" };
        ctx.printer
            .info(&format!("{verb} {} ({what}) -> {}", o.path, o.pointer));
        to_commit.push(o.pointer.clone());
        let gitignore = match o.path.rfind('/') {
            Some(i) => format!("{}/.gitignore", &o.path[..i]),
            None => ".gitignore".to_string(),
        };
        if !to_commit.contains(&gitignore) {
            to_commit.push(gitignore);
        }
    }
    super::record_in_git(
        ctx,
        &repo.root,
        "to track the changes with git, run:",
        &to_commit,
    )?;
    Ok(Exit::Ok)
}
