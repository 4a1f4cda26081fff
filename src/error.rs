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
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            found = Some(h.hint.clone());
        } else if let Some(h) = cause.downcast_ref::<crate::track::TrackError>() {
            found = h.hint().or(found);
        } else if let Some(h) = cause.downcast_ref::<crate::config::ConfigError>() {
            found = h.hint().or(found);
        } else if let Some(h) = cause.downcast_ref::<crate::pointer::PointerError>() {
            found = h.hint().or(found);
        } else if let Some(h) = cause.downcast_ref::<crate::cache::CacheError>() {
            found = h.hint().or(found);
        } else if let Some(h) = cause.downcast_ref::<crate::lock::LockError>() {
            found = h.hint().or(found);
        } else if let Some(h) = cause.downcast_ref::<crate::repo::RepoError>() {
            found = h.hint().or(found);
        } else if let Some(io) = cause.downcast_ref::<io::Error>() {
            found = io_hint(io).or(found);
        }
    }
    found
}

/// Hints for the operating-system errors users can act on.
fn io_hint(err: &io::Error) -> Option<String> {
    match err.raw_os_error() {
        Some(28) => Some(
            "the disk is full: free space, or run `mlci gc` to drop unused cache objects".into(),
        ),
        Some(122) => Some("the disk quota is exceeded: free space, or run `mlci gc`".into()),
        Some(30) => Some("the file system is read-only".into()),
        _ => match err.kind() {
            io::ErrorKind::PermissionDenied => {
                Some("check the permissions of the file and of its directory".into())
            }
            _ => None,
        },
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
