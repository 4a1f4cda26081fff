//! What a remote is known to hold, remembered locally so that a second push
//! of the same data asks the remote almost nothing.
//!
//! The record is a hint, never the truth: `push` re-checks a sample of it
//! on every run and drops it when the sample shows it stale, while
//! `status --remote` and `pull` always ask the remote itself (and rewrite
//! the record from what they saw). One file per remote (URL and endpoint) under
//! `.mlci/tmp/remotes/`, a key per line, written atomically.
//!
//! A directory manifest's key is recorded only when the whole tree (the
//! manifest and every file it lists) is known to be on the remote, so a
//! no-op push of a directory of 20,000 files costs one lookup, not 20,000.

use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use crate::store::hash::Digest;

pub struct Known {
    path: PathBuf,
    keys: FxHashSet<String>,
    /// The remote's gc epoch (`gc/epoch`) the record was made under: a
    /// `gc --remote` changes it, and a record of another epoch is dropped.
    epoch: String,
    dirty: bool,
}

/// The key on every remote that `gc --remote` rewrites before it deletes.
pub const EPOCH_KEY: &str = "gc/epoch";

/// The first line of a record that carries its epoch.
const EPOCH_LINE: &str = "#epoch ";

impl Known {
    /// Loads the record for the remote `identity` (empty when there is
    /// none or it is unreadable: it is only a hint).
    pub fn load(tmp_dir: &Path, identity: &str) -> Known {
        let id = Digest::of_bytes(identity.as_bytes()).to_hex();
        let path = tmp_dir.join("remotes").join(format!("{}.known", &id[..16]));
        let text = fs_err::read_to_string(&path).unwrap_or_default();
        let mut epoch = String::new();
        let mut keys = FxHashSet::default();
        for line in text.lines() {
            match line.strip_prefix(EPOCH_LINE) {
                Some(e) => epoch = e.to_string(),
                None => {
                    keys.insert(line.to_string());
                }
            }
        }
        Known {
            path,
            keys,
            epoch,
            dirty: false,
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Records one object (a manifest key is ignored: see [`Known::insert_tree`]).
    pub fn insert(&mut self, key: &str) {
        if key.ends_with(".dir") {
            return;
        }
        self.insert_tree(key);
    }

    /// Records a directory whose manifest and files are all on the remote.
    pub fn insert_tree(&mut self, key: &str) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_string());
            self.dirty = true;
        }
    }

    pub fn remove(&mut self, key: &str) {
        if self.keys.remove(key) {
            self.dirty = true;
        }
    }

    /// Drops the record when `remote_epoch` (the remote's `gc/epoch`, empty
    /// when it has none) is not the one it was made under: a gc may have
    /// deleted what it lists.
    pub fn adopt_epoch(&mut self, remote_epoch: &str) {
        if self.epoch != remote_epoch {
            self.clear();
            self.epoch = remote_epoch.to_string();
            self.dirty = true;
        }
    }

    /// Forgets everything (the remote changed behind our back).
    pub fn clear(&mut self) {
        if !self.keys.is_empty() {
            self.keys.clear();
            self.dirty = true;
        }
    }

    /// Writes the record if it changed.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        let mut text = String::new();
        if !self.epoch.is_empty() {
            text.push_str(&format!("{EPOCH_LINE}{}\n", self.epoch));
        }
        text.push_str(&keys.join("\n"));
        text.push('\n');
        if let Some(dir) = self.path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        crate::fsutil::write_atomic_nosync(&self.path, text.as_bytes())?;
        self.dirty = false;
        Ok(())
    }
}
