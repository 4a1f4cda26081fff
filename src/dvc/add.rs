//! `mlci add` in a DVC repository used in place: each path hashed with
//! DVC's MD5 (`contents`), stored in `.dvc/cache` in DVC 3's layout, and
//! described by `PATH.dvc` as DVC writes it (`outs: [{md5, size, nfiles,
//! hash: md5, path}]`, other keys of an existing file kept), the path
//! git-ignored beside it (`/NAME` in that directory's `.gitignore`), so
//! `dvc status` and `dvc checkout` take it as their own.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use super::contents::Md5Contents;
use super::DvcError;
use crate::pipeline::status::Contents;
use crate::progress::Reporter;
use crate::track::TrackError;

/// One path added.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Added {
    pub path: String,
    pub pointer: String,
    pub md5: String,
    pub size: u64,
    pub nfiles: Option<u64>,
    /// False when `PATH.dvc` already described these bytes.
    pub changed: bool,
}

/// Adds each of `paths` (repo-relative) under `root`.
pub fn add(root: &Path, paths: &[String], reporter: &dyn Reporter) -> Result<Vec<Added>, DvcError> {
    let mut contents = Md5Contents::open(root, Default::default());
    let mut out = Vec::new();
    for rel in paths {
        refuse_git_tracked(root, rel)?;
        let c = contents.content(rel, reporter).map_err(|e| match e {
            TrackError::NotFound { .. } => DvcError::File {
                file: rel.clone(),
                message: "does not exist".into(),
            },
            e => e.into(),
        })?;
        super::repro::store(root, rel, &c, &mut contents)?;
        let pointer = format!("{rel}.dvc");
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let old: Option<Map<String, Json>> = fs_err::read_to_string(root.join(&pointer))
            .ok()
            .and_then(|t| crate::yaml::parse(&t, Path::new(&pointer)).ok());
        let same = old
            .as_ref()
            .and_then(|o| {
                o.get("outs")?
                    .get(0)?
                    .get("md5")?
                    .as_str()
                    .map(|m| m == c.id)
            })
            .unwrap_or(false);
        if !same {
            let mut entry = Map::new();
            entry.insert("md5".into(), json!(c.id));
            entry.insert("size".into(), json!(c.size));
            if let Some(n) = c.nfiles {
                entry.insert("nfiles".into(), json!(n));
            }
            entry.insert("hash".into(), json!("md5"));
            entry.insert("path".into(), json!(name));
            // Keys DVC or the user put beside the output stay.
            if let Some(Json::Object(prev)) =
                old.as_ref().and_then(|o| o.get("outs")?.get(0).cloned())
            {
                for (k, v) in prev {
                    entry.entry(k).or_insert(v);
                }
            }
            let mut doc = old.unwrap_or_default();
            doc.insert("outs".into(), json!([entry]));
            let text = serde_yaml::to_string(&doc).map_err(|e| DvcError::File {
                file: pointer.clone(),
                message: e.to_string(),
            })?;
            crate::fsutil::write_atomic(&root.join(&pointer), text.as_bytes())?;
        }
        ignore(root, rel)?;
        out.push(Added {
            path: rel.clone(),
            pointer,
            md5: c.id.clone(),
            size: c.size,
            nfiles: c.nfiles,
            changed: !same,
        });
    }
    contents.save();
    Ok(out)
}

/// DVC refuses to track what git already tracks; so does mlci.
fn refuse_git_tracked(root: &Path, rel: &str) -> Result<(), DvcError> {
    let Ok(repo) = git2::Repository::open(root) else {
        return Ok(());
    };
    let Ok(index) = repo.index() else {
        return Ok(());
    };
    let prefix = format!("{rel}/");
    let tracked = index.iter().any(|e| {
        let p = String::from_utf8_lossy(&e.path);
        p == rel || p.starts_with(&prefix)
    });
    if tracked {
        return Err(DvcError::GitTracked {
            path: rel.to_string(),
        });
    }
    Ok(())
}

/// `/NAME` in the `.gitignore` of the path's directory, once (never
/// through a symbolic link: the folder is a pull request's to name).
pub(super) fn ignore(root: &Path, rel: &str) -> Result<(), DvcError> {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    super::sync::refuse_linked(root, &root.join(dir))?;
    let file = root.join(dir).join(".gitignore");
    let line = format!("/{name}");
    let text = fs_err::read_to_string(&file).unwrap_or_default();
    if text.lines().any(|l| l == line) {
        return Ok(());
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&line);
    new.push('\n');
    crate::fsutil::write_atomic(&file, new.as_bytes())?;
    Ok(())
}
