//! A DVC repository opened as a [`Repo`]: its remotes and default remote
//! read from `.dvc/config` and `.dvc/config.local` (DVC's names turned into
//! mlci's by `migrate::dvc_config`, the one mapping `mlci import-dvc` uses
//! too), everything else at mlci's defaults, the environment and the
//! command's flags on top, as in mlci's own format.

use std::path::Path;

use super::DvcError;
use crate::config::{Overrides, RemoteWire, Settings};
use crate::migrate::dvc_config;
use crate::repo::format::Format;
use crate::repo::Repo;
use crate::store::cache::Cache;

/// Opens the DVC repository at `root` (it has `.dvc/` and no `.mlci/`).
///
/// # Errors
/// The environment's mlci settings do not parse ([`DvcError::Config`]).
pub fn open(root: &Path, overrides: &Overrides) -> Result<Repo, DvcError> {
    let state = Format::Dvc.state_dir(root);
    // No mlci config file lives there: defaults, then the environment and
    // the flags.
    let mut settings = Settings::load(&state, overrides)?;
    let dvc = dvc_config::read(root);
    settings.default_remote = dvc.default_remote.clone();
    settings.remotes = dvc
        .remotes
        .iter()
        .map(|r| {
            let c = dvc_config::convert(r);
            let options = c
                .shared
                .into_iter()
                .chain(c.local)
                .map(|(k, v)| (k, crate::yaml::Value::String(v)))
                .collect();
            let wire = RemoteWire {
                url: Some(c.url),
                options,
            };
            (r.name.clone(), wire)
        })
        .collect();
    Ok(Repo {
        root: root.to_path_buf(),
        settings,
        cache: Cache::new(state.join("cache")),
        format: Format::Dvc,
    })
}

/// Where DVC keeps its cache for the repository at `root` (`cache.dir`,
/// else `.dvc/cache`).
pub fn cache_root(root: &Path) -> std::path::PathBuf {
    dvc_config::read(root).cache_path(root)
}
