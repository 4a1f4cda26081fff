//! Pointer files: `<path>.mlci`, the small YAML file Git keeps in place of a
//! tracked file or directory.
//!
//! ```yaml
//! outs:
//!   - path: raw            # relative to the pointer file
//!     hash: sha256
//!     sha256: 9f86d081…    # a directory: the manifest's hash + `.dir`
//!     size: 1048576
//!     nfiles: 20000        # directories only
//! ```
//!
//! Pointers are untrusted input (they arrive through Git from anyone): the
//! path must stay below the pointer's directory, the hash must be a hash, and
//! unknown keys are refused with the file and line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Hint;
use crate::store::cache::Oid;
use crate::workspace_path::check_relative;
use crate::yaml::{self, YamlError};

pub const EXTENSION: &str = "mlci";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    outs: Vec<WireOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOut {
    path: String,
    hash: String,
    sha256: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nfiles: Option<u64>,
}

/// A parsed, validated pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    /// Path of the tracked data relative to the pointer file's directory.
    pub path: String,
    pub oid: Oid,
    pub size: u64,
    pub nfiles: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PointerError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

impl Hint for PointerError {
    fn hint(&self) -> Option<String> {
        let file = match self {
            PointerError::Yaml(e) => &e.file,
            PointerError::Invalid { file, .. } => file,
        };
        Some(format!(
            "pointer files are written by `mlci add`; restore {} from git (`git checkout -- {}`) or add the data again",
            file.display(),
            file.display()
        ))
    }
}

crate::register_hint!(PointerError);

impl Pointer {
    /// Parses a pointer file's text. `file` is used in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Pointer, PointerError> {
        let wire: Wire = yaml::parse(text, file)?;
        let invalid = |key: &str, value: Option<&str>, message: String| PointerError::Invalid {
            file: file.to_path_buf(),
            line: yaml::line_of_key(text, key, value),
            message,
        };
        let [out] = <[WireOut; 1]>::try_from(wire.outs).map_err(|outs| {
            invalid(
                "outs",
                None,
                format!("`outs` must list exactly one output, found {}", outs.len()),
            )
        })?;
        check_relative(&out.path)
            .map_err(|e| invalid("path", Some(&out.path), format!("unsafe `path`: {e}")))?;
        if out.hash != "sha256" {
            return Err(invalid(
                "hash",
                Some(&out.hash),
                format!("unsupported `hash: {}` (mlci uses sha256)", out.hash),
            ));
        }
        let oid: Oid = out
            .sha256
            .parse()
            .map_err(|e| invalid("sha256", Some(&out.sha256), format!("bad `sha256`: {e}")))?;
        if oid.dir != out.nfiles.is_some() {
            return Err(invalid(
                "nfiles",
                None,
                "`nfiles` must be present exactly when `sha256` names a directory (`….dir`)".into(),
            ));
        }
        Ok(Pointer {
            path: out.path,
            oid,
            size: out.size,
            nfiles: out.nfiles,
        })
    }

    pub fn to_yaml(&self) -> String {
        let wire = Wire {
            outs: vec![WireOut {
                path: self.path.clone(),
                hash: "sha256".into(),
                sha256: self.oid.to_string(),
                size: self.size,
                nfiles: self.nfiles,
            }],
        };
        yaml::to_string(&wire)
    }
}

/// `data/raw` -> `data/raw.mlci`.
pub fn pointer_path_for(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_os_string();
    s.push(".");
    s.push(EXTENSION);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hash::Digest;

    #[test]
    fn round_trip() {
        let p = Pointer {
            path: "raw".into(),
            oid: Oid::dir(Digest::of_bytes(b"m")),
            size: 10,
            nfiles: Some(2),
        };
        let text = p.to_yaml();
        assert!(
            text.starts_with("outs:\n- path: raw\n  hash: sha256\n"),
            "{text}"
        );
        assert_eq!(Pointer::parse(&text, Path::new("x.mlci")).unwrap(), p);
    }

    #[test]
    fn bad_pointers_name_file_and_line() {
        let h = Digest::of_bytes(b"").to_hex();
        let err = Pointer::parse(
            &format!("outs:\n- path: ../etc\n  hash: sha256\n  sha256: {h}\n  size: 0\n"),
            Path::new("d/x.mlci"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "d/x.mlci:2: unsafe `path`: `../etc` leaves its directory through `..`"
        );
        let err = Pointer::parse("outs:\n- path: a\n  colour: red\n", Path::new("x.mlci"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.mlci:3:"), "{err}");
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = Pointer::parse("outs:\n- path: a\n  hash: [sha256\n", Path::new("x.mlci"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "x.mlci:3:9: outs[0].hash: invalid type: sequence, expected a string"
        );
        let err = Pointer::parse("outs:\n- path: a\n\tsize: 1\n", Path::new("x.mlci"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.mlci:3:"), "{err}");
    }
}
