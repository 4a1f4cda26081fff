//! Errors that reach the user.
//!
//! Domain modules return their own `thiserror` enums; commands wrap them in
//! `anyhow` with context. At the edge, [`hint_for`] walks the chain for a
//! [`Hinted`] error to print its `hint:` line, so a hint written next to the
//! error that causes it is never lost however many layers of context wrap it.

use std::fmt;
use std::io;

/// An error with a suggestion for the user, printed on its own `hint:` line.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Builds an error with a hint.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// Domain errors that know their own hint implement this.
pub trait Hint {
    fn hint(&self) -> Option<String>;
}

/// The hint of the innermost error in the chain that has one.
pub fn hint_for(err: &anyhow::Error) -> Option<String> {
    let mut found = None;
    for cause in err.chain() {
        macro_rules! try_hint {
            ($($t:ty),*) => {
                $(if let Some(h) = cause.downcast_ref::<$t>() {
                    found = h.hint().or(found);
                    continue;
                })*
            };
        }
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            found = Some(h.hint.clone());
            continue;
        }
        try_hint!(
            crate::track::TrackError,
            crate::config::ConfigError,
            crate::pointer::PointerError,
            crate::cache::CacheError,
            crate::lock::LockError,
            crate::repo::RepoError,
            crate::config::pipeline::PipelineError,
            crate::params::ParamsError,
            crate::pipeline::dag::DagError,
            crate::pipeline::status::StageStatusError,
            crate::pipeline::repro::ReproError,
            crate::pipeline::lock::LockFileError,
            crate::metrics::MetricsError,
            crate::report::ReportError,
            crate::gate::GateError,
            crate::remote::RemoteError,
            crate::forge::github::ForgeError,
            crate::workspace_path::UnsafePath
        );
    }
    if found.is_none() {
        found = err.chain().filter_map(as_io).find_map(io_hint);
    }
    found
}

/// The I/O error inside a cause, if that is what it is.
fn as_io<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    use crate::cache::CacheError;
    use crate::track::TrackError;
    if let Some(e) = cause.downcast_ref::<io::Error>() {
        return Some(e);
    }
    match cause.downcast_ref::<TrackError>() {
        Some(TrackError::Io(e)) | Some(TrackError::Cache(CacheError::Io(e))) => return Some(e),
        _ => {}
    }
    match cause.downcast_ref::<CacheError>() {
        Some(CacheError::Io(e)) => Some(e),
        _ => None,
    }
}

/// Hints for the operating-system errors users can act on.
fn io_hint(err: &io::Error) -> Option<String> {
    // A file name the workspace rule refuses, met while listing a directory.
    if let Some(e) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<crate::workspace_path::UnsafePath>())
    {
        return e.hint();
    }
    // Kinds rather than raw errno: fs-err wraps the OS error to add the path.
    match err.kind() {
        io::ErrorKind::StorageFull => Some(
            "the disk is full: free space, or run `mlci gc` to drop unused cache objects".into(),
        ),
        io::ErrorKind::QuotaExceeded => {
            Some("the disk quota is exceeded: free space, or run `mlci gc`".into())
        }
        io::ErrorKind::ReadOnlyFilesystem => Some("the file system is read-only".into()),
        io::ErrorKind::PermissionDenied => {
            Some("check the permissions of the file and of its directory".into())
        }
        _ => None,
    }
}

/// True when the error is stdout closing under us (`mlci ... | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
