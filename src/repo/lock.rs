//! The repository lock: one mlci process at a time changes a repository.
//!
//! An OS advisory lock on `.mlci/tmp/lock` (released by the kernel when the
//! process dies, so a kill -9 never leaves a stale lock behind). The holder
//! writes its pid into the file so the second process can say who holds it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::Hint;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another mlci process{} is working in this repository (lock: {path})", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy { path: PathBuf, pid: Option<u32> },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Hint for LockError {
    fn hint(&self) -> Option<String> {
        match self {
            LockError::Busy { .. } => Some(
                "wait for it to finish and run the command again; the lock is released the moment that process exits".into(),
            ),
            LockError::Io { .. } => None,
        }
    }
}

crate::register_hint!(LockError);

/// Held for the lifetime of the value.
pub struct RepoLock {
    _file: File,
}

impl RepoLock {
    pub fn acquire(path: &Path) -> Result<RepoLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(io)?;
        }
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Busy {
                    path: path.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RepoLock { _file: file })
    }
}
