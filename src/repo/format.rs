//! The format a repository keeps its tracked data and pipeline state in,
//! chosen once when the repository is found, so that commands never ask
//! "is this DVC?" themselves:
//!
//! | | mlci's own | DVC's, used in place |
//! |---|---|---|
//! | found by | `.mlci/` | `.dvc/` and no `.mlci/` |
//! | content hash | SHA-256 | MD5 (`md5-dos2unix` for DVC 2 entries) |
//! | lock | `mlci.lock` | `dvc.lock` (schema 2.0) |
//! | pointers | `*.mlci` | `*.dvc` |
//! | directory listing | mlci's manifest | DVC's `.dir` JSON |
//! | private state | `.mlci/tmp/` | `.dvc/tmp/mlci/` |
//!
//! mlci's own format is untouched by the other: a repository with
//! `.mlci/` is read and written exactly as before.

use std::path::{Path, PathBuf};

/// A repository's format (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mlci,
    Dvc,
}

impl Format {
    /// The format of the repository at `root`: mlci's when `.mlci/` is
    /// there (also beside `.dvc/`: the team chose mlci), DVC's when only
    /// `.dvc/` is; None when neither.
    pub fn of(root: &Path) -> Option<Format> {
        if root.join(".mlci").is_dir() {
            Some(Format::Mlci)
        } else if root.join(".dvc").is_dir() {
            Some(Format::Dvc)
        } else {
            None
        }
    }

    /// The content hash's name as the lock records it.
    pub fn hash_name(self) -> &'static str {
        match self {
            Format::Mlci => "sha256",
            Format::Dvc => "md5",
        }
    }

    /// The lock file at the root.
    pub const fn lock_file(self) -> &'static str {
        match self {
            Format::Mlci => "mlci.lock",
            Format::Dvc => "dvc.lock",
        }
    }

    /// The suffix of pointer files.
    pub fn pointer_suffix(self) -> &'static str {
        match self {
            Format::Mlci => ".mlci",
            Format::Dvc => ".dvc",
        }
    }

    /// Where mlci keeps its private state (hash memos) in a repository of
    /// this format; DVC's own `.dvc/tmp/` is git-ignored by DVC.
    pub fn state_dir(self, root: &Path) -> PathBuf {
        match self {
            Format::Mlci => root.join(".mlci").join("tmp"),
            Format::Dvc => root.join(".dvc").join("tmp").join("mlci"),
        }
    }
}
