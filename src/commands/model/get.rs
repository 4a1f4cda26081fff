//! `mlci model get`: an artifact's bytes as of a registry tag's commit,
//! from the cache or the remote, verified by hash: the download step of a
//! deploy job, from a plain clone.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::registry::{self, declare, RegistryError};
use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;
use crate::workspace_path::WorkspacePath;

/// Download an artifact as of a version or stage: `NAME` (the latest
/// version), `NAME@vX.Y.Z`, or `NAME#STAGE`. Objects missing from the cache
/// come from the remote; every file is verified against its hash before it
/// is written. A directory artifact comes whole.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// `NAME`, `NAME@vX.Y.Z`, `NAME@latest` or `NAME#STAGE`.
    pub spec: String,
    /// Where to write it (default: the artifact's file name, here).
    #[arg(short, long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The remote to fetch from (default: `core.remote`, or the only one).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Replace PATH when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Why the download stopped (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{0} exists")]
    Exists(String),
}

impl crate::error::Hint for GetError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            GetError::Exists(_) => "pass --force to replace it, or -o to write elsewhere".into(),
        })
    }
}

crate::register_hint!(GetError);

pub fn cmd_get(ctx: &Ctx, a: GetArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo(&Overrides {
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
    let out = match &a.out {
        Some(o) => ctx.cwd.join(o),
        None => ctx
            .cwd
            .join(decl.path.rsplit('/').next().unwrap_or(&decl.path)),
    };
    if out.symlink_metadata().is_ok() && !a.force {
        return Err(GetError::Exists(out.display().to_string()).into());
    }
    let git = git2::Repository::open(&repo.root).map_err(RegistryError::git)?;
    let written = match crate::sync::at_commit::tracked_at(&git, commit, &decl.path)? {
        Some(t) => {
            let reporter = crate::commands::reporter::for_printer(ctx.printer);
            crate::sync::at_commit::fetch_missing(&repo, &t, reporter.as_ref())?;
            write_from_cache(&repo.cache, &t.pointer.oid, &out)?
        }
        None => write_from_git(&git, commit, &decl.path, &out)?.ok_or_else(|| {
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

/// Writes object `oid` (a file, or a directory's files) to `out`, each file
/// verified while it is copied, through a temporary name beside `out`.
/// Returns the number of files.
fn write_from_cache(cache: &Cache, oid: &Oid, out: &Path) -> anyhow::Result<usize> {
    let parent = out.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    if !oid.dir {
        let tmp = tempfile::NamedTempFile::new_in(parent)?;
        copy_verified(cache, oid, tmp.as_file(), tmp.path())?;
        replace(out)?;
        tmp.persist(out)?;
        return Ok(1);
    }
    let manifest = Manifest::parse(&cache.read_verified(oid)?)?;
    let tmp = tempfile::Builder::new()
        .prefix(".mlci-get")
        .tempdir_in(parent)?;
    for e in manifest.entries() {
        // Manifest entries come from a remote: plain relative paths only.
        let rel = WorkspacePath::new(&e.path)?;
        let dest = tmp.path().join(rel.as_str());
        if let Some(d) = dest.parent() {
            fs_err::create_dir_all(d)?;
        }
        let f = fs_err::File::create(&dest)?;
        copy_verified(cache, &Oid::file(e.sha256), f.file(), &dest)?;
    }
    replace(out)?;
    fs_err::rename(tmp.keep(), out)?;
    Ok(manifest.entries().len())
}

/// Copies object `oid` into `to` (open at `path`, which the hash is read
/// back from) and checks the hash of what landed.
fn copy_verified(cache: &Cache, oid: &Oid, to: &std::fs::File, path: &Path) -> anyhow::Result<()> {
    let src = cache.open_object(oid)?;
    let (digest, _) = crate::store::copy::copy_file_and_hash(&src, to.try_clone()?, path)?;
    if digest != oid.digest {
        return Err(crate::store::cache::CacheError::Corrupt {
            oid: *oid,
            actual: digest,
            path: cache.object_path(oid),
        }
        .into());
    }
    Ok(())
}

/// Removes what is at `out` (a file, link or directory) before the rename.
fn replace(out: &Path) -> std::io::Result<()> {
    match out.symlink_metadata() {
        Ok(m) if m.is_dir() => fs_err::remove_dir_all(out),
        Ok(_) => fs_err::remove_file(out),
        Err(_) => Ok(()),
    }
}

/// Writes `path` as committed in git (a file or a directory's files);
/// None when the commit has no such path.
fn write_from_git(
    git: &git2::Repository,
    commit: git2::Oid,
    path: &str,
    out: &Path,
) -> anyhow::Result<Option<usize>> {
    let tree = git.find_commit(commit)?.tree()?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    let obj = entry.to_object(git)?;
    let parent = out.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    if let Some(blob) = obj.as_blob() {
        crate::fsutil::write_atomic(out, blob.content())?;
        return Ok(Some(1));
    }
    let Some(sub) = obj.as_tree() else {
        return Ok(None);
    };
    let tmp = tempfile::Builder::new()
        .prefix(".mlci-get")
        .tempdir_in(parent)?;
    let mut n = 0;
    let mut failed = None;
    sub.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        let Some(blob) = e.to_object(git).ok().and_then(|o| o.into_blob().ok()) else {
            return git2::TreeWalkResult::Ok;
        };
        let rel = format!("{dir}{}", e.name().unwrap_or_default());
        // Tree entry names come from a commit anyone could craft: plain
        // relative paths only, or nothing is written.
        if crate::workspace_path::check_relative(&rel).is_err() {
            failed = Some(std::io::Error::other(format!(
                "`{rel}` in the commit's tree is not a plain relative path"
            )));
            return git2::TreeWalkResult::Abort;
        }
        let dest = tmp.path().join(&rel);
        let res = dest
            .parent()
            .map_or(Ok(()), fs_err::create_dir_all)
            .and_then(|_| fs_err::write(&dest, blob.content()));
        match res {
            Ok(()) => n += 1,
            Err(err) => {
                failed = Some(err);
                return git2::TreeWalkResult::Abort;
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    replace(out)?;
    fs_err::rename(tmp.keep(), out)?;
    Ok(Some(n))
}
