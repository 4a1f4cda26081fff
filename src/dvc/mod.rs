//! A DVC repository used in place (no `.mlci/`, nothing migrated): DVC's
//! files read as DVC reads them, so `mlci` and `dvc` agree on the same
//! clone. Built so far: `mlci status` (`status`), judging stages against
//! `dvc.lock` and `.dvc` files against their outputs with DVC's MD5
//! (`contents`, `lock`), and `mlci repro` (`repro`), which writes what DVC
//! writes. The file formats themselves are parsed in
//! `migrate::dvc_files` (shared with `mlci import-dvc`).

pub mod add;
pub mod artifact;
pub mod config;
pub mod contents;
pub mod lock;
pub mod repro;
pub mod runcache;
pub mod status;
pub mod sync;

/// Why a DVC repository could not be judged (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DvcError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("`{path}` is already tracked by git")]
    GitTracked { path: String },
    #[error("dvc.yaml has no stage `{name}`")]
    UnknownStage { name: String, stages: Vec<String> },
    #[error("`{path}` is a symbolic link: nothing is restored through it")]
    Linked { path: String },
    #[error("no DVC remote is configured in .dvc/config or .dvc/config.local")]
    NoRemote,
    #[error("stage `{stage}` is stale and no run cache (local or the remote's) can restore it")]
    NotRestorable { stage: String },
    #[error("{what} is not built for a DVC repository used in place yet")]
    NotYet { what: String },
    #[error(transparent)]
    Stages(#[from] Box<crate::pipeline::repro::ReproError>),
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::error::Hint for DvcError {
    fn hint(&self) -> Option<String> {
        match self {
            DvcError::File { .. } => {
                Some("fix the file as DVC would read it (`dvc status` says the same), or restore it from git".into())
            }
            DvcError::GitTracked { path } => Some(format!(
                "stop tracking it in git first (DVC asks the same): `git rm -r --cached {path}`"
            )),
            DvcError::UnknownStage { stages, .. } => Some(format!(
                "name one of its stages: {}",
                stages.join(", ")
            )),
            DvcError::Linked { path } => Some(format!(
                "a tracked output's folder must be a real directory in the workspace: remove the link (`rm {path}`) and pull again"
            )),
            DvcError::NoRemote => Some(
                "define one as DVC does, and mlci reads it: `dvc remote add -d NAME URL` (credentials with `dvc remote modify --local`)".into(),
            ),
            DvcError::NotRestorable { .. } => Some(
                "run it on a worker first (an earlier wave of `mlci plan`: `mlci repro -s STAGE --pull --push`), or run the repro without --restore-only".into(),
            ),
            DvcError::NotYet { .. } => Some(
                "run it without, or move to mlci's own format with `mlci import-dvc` (docs/dvc.md)".into(),
            ),
            DvcError::Stages(e) => e.hint(),
            DvcError::Track(e) => e.hint(),
            DvcError::Config(e) => e.hint(),
            DvcError::Remote(e) => e.hint(),
            DvcError::Io(e) => crate::error::io_hint(e),
        }
    }
}

crate::register_hint!(DvcError);
