//! The one door to the YAML crate: parse with file/line/column in every
//! error, and serialise deterministically.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A YAML document that did not parse or did not fit its schema.
#[derive(Debug, thiserror::Error)]
pub struct YamlError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Parses `text` (the content of `file`) into `T`.
pub fn parse<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(|e| {
        let loc = e.location();
        // The crate appends " at line X column Y"; we print the location in
        // front instead, compiler-style, so strip it from the message.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError {
            file: file.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// Serialises `value` as YAML.
pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("serialising plain data to YAML cannot fail")
}

/// The 1-based line of the first `key:` in `text` (for semantic errors found
/// after parsing, when the parser's positions are gone). Falls back to None.
pub fn line_of_key(text: &str, key: &str, value: Option<&str>) -> Option<usize> {
    let pat = format!("{key}:");
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&pat) && value.is_none_or(|v| l.contains(v))
        })
        .map(|i| i + 1)
}

/// A generic YAML value, for callers that merge documents.
pub type Value = serde_yaml::Value;

/// Deserialises a merged value (no positions available any more).
pub fn from_value<T: DeserializeOwned>(v: Value, file: &Path) -> Result<T, YamlError> {
    serde_yaml::from_value(v).map_err(|e| YamlError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        message: e.to_string(),
    })
}
