//! `mlci init`: set up `.mlci/` in a git repository, optionally scaffolding a
//! built-in example project first.

use crate::exit::Exit;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{initial_config, CONFIG_FILE};
use crate::error::hinted;
use crate::example;
use crate::fsutil::write_atomic;
use crate::repo::{find_root, MLCI_DIR};

use super::Ctx;

/// Set up mlci in a git repository: creates `.mlci/` with its config and
/// git-ignore entries.
///
/// With `--example NAME DIR`, first creates DIR as a new git repository
/// holding a small, real ML project to try mlci on.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// A directory of the git work tree to set up (default: the current
    /// directory); mlci's workspace is always the work tree's root.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Scaffold a built-in example project into DIR (`classifier`).
    #[arg(long, value_name = "NAME")]
    pub example: Option<String>,
}

const MLCI_GITIGNORE: &str =
    "# Local to each machine; never committed.\n/cache/\n/tmp/\n/config.local.yaml\n";

pub fn cmd_init(ctx: &Ctx, args: InitArgs) -> anyhow::Result<Exit> {
    let InitArgs { dir, example } = args;
    let dir = match dir {
        Some(d) => ctx.cwd.join(d),
        None => ctx.cwd.clone(),
    };
    if let Some(name) = example {
        scaffold(&dir, &name)?;
        crate::git::init(&dir).context("creating the example's git repository")?;
        ctx.printer.info(&format!(
            "created the `{name}` example in {}",
            dir.display()
        ));
    }
    if !dir.is_dir() {
        return Err(hinted(
            format!("{} is not a directory", dir.display()),
            "create it and `git init` it first, or pass `--example classifier` to scaffold one",
        ));
    }
    let root = find_root(&dir)?;
    let mlci_dir = root.join(MLCI_DIR);
    if mlci_dir.join(CONFIG_FILE).is_file() {
        ctx.printer
            .info(&format!("mlci is already set up in {}", root.display()));
        return Ok(Exit::Ok);
    }
    fs_err::create_dir_all(&mlci_dir)?;
    write_atomic(&mlci_dir.join(".gitignore"), MLCI_GITIGNORE.as_bytes())?;
    write_atomic(&mlci_dir.join(CONFIG_FILE), initial_config().as_bytes())?;
    let below = if dir.canonicalize().is_ok_and(|d| d != root) {
        " (the root of the git work tree: mlci keeps one workspace per repository)"
    } else {
        ""
    };
    ctx.printer.info(&format!(
        "initialised mlci in {}{below}\nnext: `mlci add <data>` and commit .mlci/config.yaml and .mlci/.gitignore",
        root.display()
    ));
    Ok(Exit::Ok)
}

/// Writes an example's files into `dir`, refusing to overwrite anything.
fn scaffold(dir: &std::path::Path, name: &str) -> anyhow::Result<()> {
    let Some(ex) = example::find(name) else {
        let names: Vec<_> = example::EXAMPLES
            .iter()
            .map(|e| format!("{} ({})", e.name, e.about))
            .collect();
        return Err(hinted(
            format!("there is no built-in example named `{name}`"),
            format!("available: {}", names.join("; ")),
        ));
    };
    for (rel, _) in ex.files {
        let path = dir.join(rel);
        if path.exists() {
            return Err(hinted(
                format!(
                    "{} already exists; the example would overwrite it",
                    path.display()
                ),
                "choose an empty or new directory for the example",
            ));
        }
    }
    for (rel, text) in ex.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        write_atomic(&path, text.as_bytes())?;
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(())
}
