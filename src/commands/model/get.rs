//! `mlci model get`: an artifact's bytes as of a registry tag's commit,
//! from the cache or the remote, verified by hash: the download step of a
//! deploy job, from a plain clone.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::registry::{self, declare, RegistryError};
use crate::repo::format::Format;
use crate::revision::{Rev, RevReader};

/// Download an artifact as of a version or stage: `NAME` (the latest
/// version), `NAME@vX.Y.Z`, or `NAME#STAGE`. Objects missing from the cache
/// come from the remote; every file is verified against its hash before it
/// is written. A directory artifact comes whole.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// `NAME`, `NAME@vX.Y.Z`, `NAME@latest` or `NAME#STAGE`.
    pub spec: String,
    /// Where to write it. An existing directory, or a PATH ending in `/`,
    /// receives the artifact inside it, as with `cp`. Needed inside a
    /// repository's work tree (only an explicit `-o` writes over the
    /// workspace's own copy); elsewhere the default is the artifact's file
    /// name in the current directory.
    #[arg(short, long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The remote to fetch from (default: `core.remote`, or the only one).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Replace what is at the target: a file or link, or an earlier copy of
    /// a directory artifact. Never the repository or the current directory.
    #[arg(long)]
    pub force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why the download stopped (exit 2).
#[derive(Debug, thiserror::Error)]
pub(super) enum GetError {
    #[error("{0} exists")]
    Exists(String),
    #[error("{path} is a directory, and the artifact is a file")]
    DirectoryInTheWay { path: String },
    #[error("{path} holds the repository or the current directory: it is never replaced")]
    Protected { path: String },
    #[error("no -o: {file} would land in the repository's work tree ({path})")]
    NoOutInRepository { file: String, path: String },
}

impl crate::error::Hint for GetError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            GetError::Exists(_) => "pass --force to replace it, or -o to write elsewhere".into(),
            GetError::NoOutInRepository { file, .. } => format!(
                "say where it goes: `-o dist/` (into a directory), `-o /srv/{file}`; `-o {file}` replaces the workspace's copy on purpose"
            ),
            GetError::DirectoryInTheWay { .. } | GetError::Protected { .. } => {
                "name a file or a new path with -o (an existing directory receives the artifact inside it, as with cp)".into()
            }
        })
    }
}

/// Where the artifact lands: `-o PATH` as given, or inside it when it is
/// an existing directory or ends with `/` (as `cp` and `dvc get` do); the
/// artifact's file name in `cwd` without `-o`.
fn target(cwd: &Path, out: Option<&Path>, file_name: &str) -> PathBuf {
    let Some(o) = out else {
        return cwd.join(file_name);
    };
    let into = o.as_os_str().to_string_lossy().ends_with('/') || cwd.join(o).is_dir();
    // `-o .` names the directory, not a `.` entry in it.
    let given: PathBuf = cwd
        .join(o)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if into {
        given.join(file_name)
    } else {
        given
    }
}

/// Whether `path` (which may not exist yet) lies under `root`, links in
/// its existing part resolved.
fn inside(path: &Path, root: &Path) -> bool {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let parent = path.parent().unwrap_or(path);
    let parent = parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf());
    parent.starts_with(&root)
}

/// Whether `out` may be written: nothing there, or `--force` and a file or
/// link, or a directory when the artifact is a directory too (its earlier
/// copy). Never a directory that holds one of `keep` (the repository root,
/// the current directory), whatever `--force` says.
fn check_replace(out: &Path, force: bool, is_dir: bool, keep: &[&Path]) -> Result<(), GetError> {
    let Ok(meta) = out.symlink_metadata() else {
        return Ok(());
    };
    let shown = out.display().to_string();
    if !force {
        return Err(GetError::Exists(shown));
    }
    if meta.is_dir() {
        let real = out.canonicalize().unwrap_or_else(|_| out.to_path_buf());
        let holds = keep.iter().any(|k| {
            k.canonicalize()
                .unwrap_or_else(|_| k.to_path_buf())
                .starts_with(&real)
        });
        if holds {
            return Err(GetError::Protected { path: shown });
        }
        if !is_dir {
            return Err(GetError::DirectoryInTheWay { path: shown });
        }
    }
    Ok(())
}

crate::register_hint!(GetError);

/// Output `o` of a DVC repository used in place written to `out`: its
/// objects fetched from DVC's remote when DVC's cache lacks them.
fn dvc_get(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    o: &crate::dvc::sync::Out,
    out: &Path,
) -> anyhow::Result<usize> {
    let cache = crate::dvc::config::cache_root(&repo.root);
    let one = std::slice::from_ref(o);
    if !crate::dvc::sync::all_cached(&cache, one)? {
        if repo.settings.remotes.is_empty() {
            anyhow::bail!(crate::dvc::DvcError::NoRemote);
        }
        let remote = crate::sync::require(&repo.settings, &repo.root)?;
        let reporter = crate::commands::reporter::for_printer(ctx.printer);
        crate::dvc::sync::fetch(&repo.root, &remote, one, reporter.as_ref())?;
    }
    Ok(crate::dvc::artifact::write_out(&cache, o, out)?)
}

pub(super) fn cmd_get(ctx: &Ctx, a: GetArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo_in_place(&Overrides {
        remote: a.remote.clone(),
        ..Overrides::default()
    })?;
    let (name, sel) = registry::parse_shortcut(&a.spec)?;
    let reg = registry::open_artifact(&repo.root, &name)?;
    let version = reg.select(&name, &sel)?;
    let commit = git2::Oid::from_str(&version.commit).map_err(RegistryError::git)?;
    let short = &version.commit[..8];
    let tree =
        crate::pipeline::source::GitTree::open(&repo.root, commit).map_err(RegistryError::Git)?;
    let decl = declare::find(&tree, &name)?.ok_or_else(|| RegistryError::Undeclared {
        name: name.clone(),
        rev: short.into(),
    })?;
    let file_name = decl.path.rsplit('/').next().unwrap_or(&decl.path);
    let out = target(&ctx.cwd, a.out.as_deref(), file_name);
    if a.out.is_none() && inside(&out, &repo.root) {
        return Err(GetError::NoOutInRepository {
            file: file_name.into(),
            path: out.display().to_string(),
        }
        .into());
    }
    let at = Rev::Commit {
        name: short.into(),
        id: commit,
    };
    let mut reader = RevReader::new(&repo.root, &repo.cache, at);
    // In a DVC repository used in place, the output DVC's files record.
    let dvc_out = match repo.format {
        Format::Dvc => crate::dvc::artifact::recorded_at(&repo.root, commit, &[])?
            .into_iter()
            .find(|o| o.path == decl.path.trim_end_matches('/')),
        Format::Mlci => None,
    };
    let tracked = match (&dvc_out, repo.format) {
        (_, Format::Dvc) => None,
        (_, Format::Mlci) => reader.tracked(&decl.path)?,
    };
    let is_dir = match (&dvc_out, &tracked) {
        (Some(o), _) => o.is_dir(),
        (None, Some(t)) => t.pointer.oid.dir,
        (None, None) => reader.is_git_dir(&decl.path)?,
    };
    check_replace(&out, a.force, is_dir, &[&repo.root, &ctx.cwd])?;
    let written =
        match (dvc_out, tracked) {
            (Some(o), _) => dvc_get(ctx, &repo, &o, &out)?,
            (None, Some(t)) => {
                let reporter = crate::commands::reporter::for_printer(ctx.printer);
                crate::revision::fetch::fetch_missing(&repo, &t, reporter.as_ref())?;
                crate::store::materialise::write_object(&repo.cache, &t.pointer.oid, &out)?
            }
            (None, None) => reader.write_git_path(&decl.path, &out)?.ok_or_else(|| {
                RegistryError::PathMissing {
                    name: name.clone(),
                    path: decl.path.clone(),
                    rev: short.into(),
                }
            })?,
        };
    if a.json {
        ctx.printer
            .data(&serde_json::to_string_pretty(&serde_json::json!({
                "name": name, "version": version.version, "commit": version.commit,
                "path": decl.path, "out": out.display().to_string(), "files": written,
            }))?)?;
    } else {
        ctx.printer.info(&format!(
            "{name} {} ({}, {written} file{}) written to {}",
            version.version,
            decl.path,
            if written == 1 { "" } else { "s" },
            out.display()
        ));
    }
    Ok(Exit::Ok)
}
