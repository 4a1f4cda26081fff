//! A side of the diff in a DVC repository used in place: the outputs
//! DVC's own files record (`.dvc` files and the cached outputs of
//! `dvc.lock`, as `dvc diff` indexes them), with DVC's MD5 (`….dir` for a
//! directory's listing). At a commit, a directory's files come from its
//! listing in DVC's cache (unknown when the cache lacks it: a fresh
//! clone); in the work tree, every declared output is hashed from disk
//! through the MD5 memo that `mlci status` keeps.

use std::collections::{BTreeMap, BTreeSet};

use super::{DataDiffError, Entry, Index, Side};
use crate::dvc::{self, DvcError};
use crate::pipeline::status::Contents;
use crate::repo::Repo;

/// The index of `side` in the DVC repository `repo`.
pub(super) fn index(
    repo: &Repo,
    side: &Side,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Index, DataDiffError> {
    match side {
        Side::Commit { id, name } => at_commit(repo, *id, name),
        Side::Workspace => in_work_tree(repo, reporter),
    }
}

fn dvc_error(file: &str, rev: &str, e: DvcError) -> DataDiffError {
    match e {
        DvcError::File { file, message } => DataDiffError::Unreadable {
            file,
            rev: rev.into(),
            message,
        },
        other => DataDiffError::Unreadable {
            file: file.into(),
            rev: rev.into(),
            message: other.to_string(),
        },
    }
}

fn at_commit(repo: &Repo, id: git2::Oid, name: &str) -> Result<Index, DataDiffError> {
    let outs = dvc::artifact::recorded_at(&repo.root, id, &[])
        .map_err(|e| dvc_error("a .dvc file", name, e))?;
    let cache = dvc::config::cache_root(&repo.root);
    let mut idx = Index::default();
    for o in outs {
        idx.roots.insert(
            o.path.clone(),
            Entry {
                hash: Some(o.md5.clone()),
                dir: o.is_dir(),
                cached: dvc::status::in_cache(&cache, &o.md5),
            },
        );
        if o.is_dir() {
            // A damaged or missing listing leaves the files unknown, as
            // DVC compares such a directory whole.
            let files = dvc::sync::listing(&cache, &o)
                .ok()
                .flatten()
                .map(|entries| {
                    entries
                        .into_iter()
                        .map(|(inner, md5)| {
                            let cached = dvc::status::in_cache(&cache, &md5);
                            (
                                inner,
                                Entry {
                                    hash: Some(md5),
                                    dir: false,
                                    cached,
                                },
                            )
                        })
                        .collect()
                });
            idx.children.insert(o.path, files);
        }
    }
    Ok(idx)
}

fn in_work_tree(
    repo: &Repo,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Index, DataDiffError> {
    let root = &repo.root;
    let shown = |e: DvcError| dvc_error(".dvc files", "the workspace", e);
    let pipeline = crate::pipeline::load(root)?;
    let lock = dvc::lock::load(root, &pipeline).map_err(shown)?;
    // Every output the work tree declares, recorded or not: `.dvc` files'
    // outputs and the pipeline's cached ones.
    let mut legacy = lock.legacy.clone();
    let mut paths = BTreeSet::new();
    for file in crate::migrate::dvc_files_in(root) {
        let text = fs_err::read_to_string(root.join(&file)).map_err(|e| shown(e.into()))?;
        let parsed =
            crate::migrate::dvc_files::parse_dvc_file(&text, &file).map_err(|message| {
                shown(DvcError::File {
                    file: file.clone(),
                    message,
                })
            })?;
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        for o in parsed.outs {
            let path = crate::migrate::dvc_files::under(dir, &o.path).ok_or_else(|| {
                shown(DvcError::File {
                    file: file.clone(),
                    message: format!("`{}` is outside the repository", o.path),
                })
            })?;
            if o.hash.as_deref() != Some("md5") {
                legacy.insert(path.clone());
            }
            paths.insert(path);
        }
    }
    paths.extend(
        pipeline
            .stages
            .iter()
            .flat_map(|s| &s.outs)
            .filter(|o| o.cache)
            .map(|o| o.path.to_string()),
    );
    let mut contents = dvc::contents::Md5Contents::open(root, legacy);
    let mut idx = Index::default();
    for path in paths {
        if root.join(&path).symlink_metadata().is_err() {
            continue;
        }
        let c = contents.content(&path, reporter)?;
        let dir = c.id.ends_with(".dir");
        if dir {
            let files: BTreeMap<String, Entry> = contents
                .files_of(&path)?
                .into_iter()
                .map(|(inner, _, md5, _)| {
                    (
                        inner,
                        Entry {
                            hash: Some(md5),
                            dir: false,
                            cached: true,
                        },
                    )
                })
                .collect();
            idx.children.insert(path.clone(), Some(files));
        }
        idx.roots.insert(
            path,
            Entry {
                hash: Some(c.id),
                dir,
                cached: true,
            },
        );
    }
    contents.save();
    Ok(idx)
}
