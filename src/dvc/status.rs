//! `mlci status` in a DVC repository: every stage judged against
//! `dvc.lock` by the same rules as mlci's own (`pipeline::status`), with
//! DVC's MD5, and every `.dvc` file's outputs against the hash it records
//! (and whether `.dvc/cache` holds it). Reads only; writes nothing but its
//! hash memo under `.dvc/tmp/mlci/`.

use std::path::Path;

use super::contents::Md5Contents;
use super::DvcError;
use crate::migrate::dvc_files::{object_keys, parse_dvc_file, under};
use crate::pipeline::status::{stage_reasons_in, Contents, Reason, StageState};
use crate::pipeline::Pipeline;
use crate::progress::Reporter;
use crate::track::{DataState, DataStatus, TrackError};

/// Whether DVC's cache (at `cache`) holds the object DVC recorded as
/// `md5` (`….dir` for a listing), in DVC 3's layout or DVC 2's.
pub fn in_cache(cache: &Path, md5: &str) -> bool {
    object_path(cache, md5).is_some()
}

/// The file of the object DVC recorded as `md5` (`….dir` for a listing)
/// in DVC's cache at `cache`, in DVC 3's layout or DVC 2's; None when the
/// cache holds neither (or `md5` is not one).
pub fn object_path(cache: &Path, md5: &str) -> Option<std::path::PathBuf> {
    let digest = md5.strip_suffix(".dir").unwrap_or(md5);
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    object_keys(digest, md5.ends_with(".dir"))
        .iter()
        .map(|k| cache.join(k))
        .find(|p| p.is_file())
}

/// What differs in a DVC repository.
pub struct Judged {
    /// Each output of a `.dvc` file.
    pub data: Vec<DataStatus>,
    /// Each stage, in pipeline-file order.
    pub stages: Vec<StageState>,
}

/// Judges the DVC repository at `root` whose pipeline is `pipeline`.
pub fn judge(
    root: &Path,
    pipeline: &Pipeline,
    reporter: &dyn Reporter,
) -> Result<Judged, DvcError> {
    let lock = super::lock::load(root, pipeline)?;
    let cache = super::config::cache_root(root);
    let pointers = crate::migrate::dvc_files_in(root);
    let mut tracked = Vec::new();
    let mut legacy = lock.legacy.clone();
    for file in &pointers {
        let text = fs_err::read_to_string(root.join(file))?;
        let parsed = parse_dvc_file(&text, file).map_err(|message| DvcError::File {
            file: file.clone(),
            message,
        })?;
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        for out in parsed.outs {
            let path = under(dir, &out.path).ok_or_else(|| DvcError::File {
                file: file.clone(),
                message: format!("`{}` is outside the repository", out.path),
            })?;
            if out.hash.as_deref() != Some("md5") {
                legacy.insert(path.clone());
            }
            tracked.push((file.clone(), path, out));
        }
    }
    let mut contents = Md5Contents::open(root, legacy);
    let mut data = Vec::new();
    for (pointer, path, out) in tracked {
        let state = match contents.content(&path, reporter) {
            Ok(c) if Some(&c.id) == out.md5.as_ref() => DataState::Unchanged,
            Ok(_) => DataState::Modified,
            Err(TrackError::NotFound { .. }) => DataState::Deleted,
            Err(e) => return Err(e.into()),
        };
        let in_cache = out.md5.as_deref().is_some_and(|m| in_cache(&cache, m));
        data.push(DataStatus {
            path,
            pointer,
            state,
            in_cache,
            damaged: None,
            changes: None,
        });
    }
    let mut stages = if pipeline.stages.is_empty() {
        Vec::new()
    } else {
        stage_reasons_in(&mut contents, pipeline, &lock.lock, reporter).map_err(Box::new)?
    };
    // DVC also names a cached output whose recorded object its cache
    // lacks (an output present and unchanged, its object gone or never
    // there in this layout).
    for (st, stage) in stages.iter_mut().zip(&pipeline.stages) {
        let Some(recorded) = lock.lock.stages.get(&stage.name) else {
            continue;
        };
        for o in stage.outs.iter().filter(|o| o.cache) {
            let judged = st.reasons.iter().any(|r| {
                matches!(r, Reason::OutMissing { path } | Reason::OutModified { path } if path == o.path.as_str())
            });
            let Some(entry) = recorded.outs.iter().find(|e| e.path == o.path) else {
                continue;
            };
            if !judged && !in_cache(&cache, &entry.sha256) {
                st.reasons.push(Reason::OutNotInCache {
                    path: o.path.to_string(),
                });
            }
        }
    }
    contents.save();
    Ok(Judged { data, stages })
}
