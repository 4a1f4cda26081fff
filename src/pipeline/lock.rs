//! `mlci.lock`: what each stage last ran with.
//!
//! Deterministic YAML: stages sorted by name, deps and outs sorted by path,
//! params by file then key. One stage's change rewrites only its own block,
//! so concurrent branches merge in git like any other text. Written
//! atomically (temp + fsync + rename) after each successful stage, so a
//! failure later in a run keeps what earlier stages achieved.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::fsutil::write_atomic;
use crate::store::cache::Oid;
use crate::track::pointer::Pointer;
use crate::track::Tracked;
use crate::workspace_path::WorkspacePath;
use crate::yaml::{self, YamlError};

pub const LOCK_FILE: &str = crate::repo::format::Format::Mlci.lock_file();
const SCHEMA: &str = "1";

/// A dep or out as recorded: its path and content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Checked when parsed: a lock file or run record naming a path outside
    /// the workspace does not parse.
    pub path: WorkspacePath,
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfiles: Option<u64>,
}

impl LockEntry {
    pub fn oid(&self) -> Option<Oid> {
        self.sha256.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LockCmd {
    One(String),
    Many(Vec<String>),
}

impl LockCmd {
    pub fn from_cmds(cmds: &[String]) -> LockCmd {
        match cmds {
            [one] => LockCmd::One(one.clone()),
            many => LockCmd::Many(many.to_vec()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockStage {
    pub cmd: LockCmd,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<LockEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outs: Vec<LockEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub stages: BTreeMap<String, LockStage>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockFileError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{LOCK_FILE}: {0}")]
    Io(std::io::Error),
}

impl crate::error::Hint for LockFileError {
    fn hint(&self) -> Option<String> {
        match self {
            LockFileError::Io(e) => crate::error::io_hint(e),
            _ => Some(format!(
                "{LOCK_FILE} is written by `mlci repro`; restore it from git, or delete it to rerun every stage"
            )),
        }
    }
}

crate::register_hint!(LockFileError);

impl LockFile {
    /// Reads `mlci.lock` at `root`; a missing file is an empty lock.
    pub fn load(root: &Path) -> Result<LockFile, LockFileError> {
        // A lock file that is a link out of the workspace is not read.
        let abs = WorkspacePath::new(LOCK_FILE)
            .and_then(|p| p.locate_for_read(root))
            .map_err(|e| {
                LockFileError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?;
        let text = match fs_err::read_to_string(abs) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockFile::default()),
            Err(e) => return Err(LockFileError::Io(e)),
        };
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<LockFile, LockFileError> {
        if text.trim().is_empty() {
            return Ok(LockFile::default());
        }
        let lock: LockFile = yaml::parse(text, Path::new(LOCK_FILE))?;
        // Paths from a lock file are untrusted (it arrives through git):
        // `WorkspacePath` checks each one as it is parsed.
        Ok(lock)
    }

    pub fn to_yaml(&self) -> String {
        let mut sorted = self.clone();
        sorted.schema = SCHEMA.into();
        for s in sorted.stages.values_mut() {
            s.deps.sort_by(|a, b| a.path.cmp(&b.path));
            s.outs.sort_by(|a, b| a.path.cmp(&b.path));
        }
        yaml::to_string(&sorted)
    }

    /// Replaces one stage's entry and writes the file atomically, re-reading
    /// the file first so entries written meanwhile (parallel stages) stay.
    pub fn update_stage(root: &Path, name: &str, entry: LockStage) -> Result<(), LockFileError> {
        let mut lock = LockFile::load(root)?;
        lock.stages.insert(name.to_string(), entry);
        write_atomic(&root.join(LOCK_FILE), lock.to_yaml().as_bytes()).map_err(LockFileError::Io)
    }
}

impl LockFile {
    /// Drops the entries of stages for which `keep` is false.
    pub fn retain_stages(root: &Path, keep: impl Fn(&str) -> bool) -> Result<(), LockFileError> {
        let mut lock = LockFile::load(root)?;
        let before = lock.stages.len();
        lock.stages.retain(|name, _| keep(name));
        if lock.stages.len() != before {
            write_atomic(&root.join(LOCK_FILE), lock.to_yaml().as_bytes())
                .map_err(LockFileError::Io)?;
        }
        Ok(())
    }
}

impl LockEntry {
    /// A stage output recorded in mlci.lock (or a run record), tracked like
    /// a pointer so checkout can restore it.
    pub fn tracked(&self, oid: Oid) -> Tracked {
        let name = self
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&self.path)
            .to_string();
        Tracked {
            only: None,
            push: true,
            pointer_rel: LOCK_FILE.to_string(),
            target_rel: self.path.clone(),
            pointer: Pointer {
                path: name,
                oid,
                size: self.size,
                nfiles: self.nfiles,
            },
        }
    }
}

/// The cached stage outputs recorded in a lock file, as tracked paths.
/// `pushed(path)`: None for an output that is not cached (it lives in
/// git), else whether it may be pushed (`push: false` in the pipeline).
pub fn lock_outs(lock: &LockFile, pushed: &dyn Fn(&str) -> Option<bool>) -> Vec<Tracked> {
    let mut out = Vec::new();
    for stage in lock.stages.values() {
        for o in &stage.outs {
            let Some(oid) = o.oid() else { continue };
            let Some(push) = pushed(&o.path) else {
                continue;
            };
            out.push(Tracked {
                push,
                ..o.tracked(oid)
            });
        }
    }
    out
}

/// [`lock_outs`] as `pipeline` (the lock's own revision's, when it could
/// be read) marks them: an output it marks `cache: false` lives in git and
/// is left out; the others carry its `push` flag (an output it does not
/// name is cached and pushed).
pub fn cached_outs(lock: &LockFile, pipeline: Option<&crate::pipeline::Pipeline>) -> Vec<Tracked> {
    let pushed = |path: &str| {
        let out = pipeline.and_then(|p| {
            p.stages
                .iter()
                .flat_map(|s| &s.outs)
                .find(|o| o.path == path)
        });
        match out {
            Some(o) if !o.cache => None,
            Some(o) => Some(o.push),
            None => Some(true),
        }
    };
    lock_outs(lock, &pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LockEntry {
        LockEntry {
            path: WorkspacePath::new(path).unwrap(),
            sha256: "0".repeat(64),
            size: 1,
            nfiles: None,
        }
    }

    #[test]
    fn deterministic_and_round_trips() {
        let mut lock = LockFile::default();
        let mut params = BTreeMap::new();
        params.insert(
            "params.yaml".to_string(),
            BTreeMap::from([("train.lr".to_string(), serde_json::json!(0.1))]),
        );
        lock.stages.insert(
            "train".into(),
            LockStage {
                cmd: LockCmd::One("python t.py".into()),
                deps: vec![entry("b"), entry("a")],
                params,
                outs: vec![entry("m")],
            },
        );
        lock.stages.insert(
            "a-first".into(),
            LockStage {
                cmd: LockCmd::Many(vec!["x".into(), "y".into()]),
                deps: vec![],
                params: BTreeMap::new(),
                outs: vec![],
            },
        );
        let text = lock.to_yaml();
        let a = text.find("a-first").unwrap();
        let t = text.find("train:").unwrap();
        assert!(a < t, "{text}");
        assert!(
            text.find("path: a").unwrap() < text.find("path: b").unwrap(),
            "{text}"
        );
        assert_eq!(LockFile::parse(&text).unwrap().to_yaml(), text);
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let text = format!("schema: '1'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: ../x\n      sha256: {}\n      size: 1\n", "0".repeat(64));
        let e = LockFile::parse(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "mlci.lock:6:7: stages.s.outs[0]: `../x` leaves its directory through `..`"
        );
        let e = LockFile::parse(&text.replace("../x", ".git/config"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "mlci.lock:6:7: stages.s.outs[0]: `.git/config` is inside .git/, which git manages itself"
        );
    }
}
