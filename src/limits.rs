//! The stated bounds on input a pull request or a remote controls: each
//! has a default high enough for real projects, an environment variable
//! that moves it, and is checked before the work that grows with it, so a
//! hostile or runaway file is refused (exit 2, naming the file, the bound
//! and its setting) instead of costing quadratic time, swap or an abort.
//!
//! | bound | default | setting | checked by |
//! |---|---|---|---|
//! | stages one pipeline expands to | 10,000 | `MLCI_MAX_STAGES` | `foreach`/`matrix` expansion |
//! | bytes of one YAML file | 16 MiB | `MLCI_MAX_YAML_BYTES` | every YAML reader |
//! | nesting of one YAML file | 64 levels | (fixed) | every YAML reader |
//! | bytes of one metrics, params or plot file | 16 MiB | `MLCI_MAX_METRICS_BYTES` | metrics, params, plots readers |
//! | columns of one table | 100,000 | `MLCI_MAX_COLUMNS` | drift's table readers |
//! | bytes of one table row (a CSV record, a JSON line) | 16 MiB | `MLCI_MAX_ROW_BYTES` | drift's table readers |
//! | distinct labels of a predictions log | 100,000 | `MLCI_MAX_LABELS` | `monitor` |
//! | bytes of a run record or other small remote file | 1 MiB | (fixed) | run cache, fan-out joins, gc, fsck |
//! | bytes of a directory manifest read from a remote | 256 MiB | (fixed) | pull, gc, import-dvc |
//! | bytes of an object read from a remote | its size in the pointer or manifest | | pull, fetch |

use std::io::Read;
use std::path::Path;

/// One bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Stages,
    YamlBytes,
    MetricsBytes,
    Columns,
    RowBytes,
    Labels,
}

impl Limit {
    /// Its default.
    pub fn default_value(self) -> u64 {
        match self {
            Limit::Stages => 10_000,
            Limit::YamlBytes => 16 << 20,
            Limit::MetricsBytes => 16 << 20,
            Limit::Columns => 100_000,
            Limit::RowBytes => 16 << 20,
            Limit::Labels => 100_000,
        }
    }

    /// The environment variable that moves it.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::Stages => "MLCI_MAX_STAGES",
            Limit::YamlBytes => "MLCI_MAX_YAML_BYTES",
            Limit::MetricsBytes => "MLCI_MAX_METRICS_BYTES",
            Limit::Columns => "MLCI_MAX_COLUMNS",
            Limit::RowBytes => "MLCI_MAX_ROW_BYTES",
            Limit::Labels => "MLCI_MAX_LABELS",
        }
    }

    /// What it counts, for messages ("bytes", "columns", ...).
    pub fn unit(self) -> &'static str {
        match self {
            Limit::Stages => "stages",
            Limit::YamlBytes | Limit::MetricsBytes | Limit::RowBytes => "bytes",
            Limit::Columns => "columns",
            Limit::Labels => "distinct labels",
        }
    }

    /// Its value now: the setting when it holds a whole number, else the
    /// default.
    pub fn value(self) -> u64 {
        crate::environment::get(self.setting())
            .and_then(|v| v.trim().replace('_', "").parse().ok())
            .unwrap_or_else(|| self.default_value())
    }
}

/// The deepest nesting of flow collections (`[`, `{`) a YAML file may
/// have. The YAML parser's time grows with the square of the nesting, and
/// no real pipeline nests more than a handful of levels.
pub const YAML_DEPTH: usize = 64;

/// The most bytes read of a run record, a fan-out join record or another
/// small file a remote serves: they are a few kilobytes.
pub const RECORD_BYTES: u64 = 1 << 20;

/// The most bytes read of a directory's manifest from a remote (about a
/// million entries).
pub const MANIFEST_BYTES: u64 = 256 << 20;

/// An input past its bound.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {what} is over the limit of {} {}", thousands(*.limit), .limit_kind.unit())]
pub struct LimitError {
    pub file: String,
    /// What went over ("100,001 columns", "the line").
    pub what: String,
    pub limit: u64,
    pub limit_kind: Limit,
}

impl LimitError {
    pub fn new(file: impl Into<String>, what: impl Into<String>, kind: Limit) -> LimitError {
        LimitError {
            file: file.into(),
            what: what.into(),
            limit: kind.value(),
            limit_kind: kind,
        }
    }
}

impl crate::error::Hint for LimitError {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "mlci bounds what it reads from files a pull request or a remote controls; if this input is meant to be this large, raise the limit with {}=N",
            self.limit_kind.setting()
        ))
    }
}

crate::register_hint!(LimitError);

/// Refuses `n` of what `kind` counts when it is over the bound.
pub fn check(file: &str, n: u64, kind: Limit) -> Result<(), LimitError> {
    if n > kind.value() {
        return Err(LimitError::new(
            file,
            format!("{} {}", thousands(n), kind.unit()),
            kind,
        ));
    }
    Ok(())
}

/// The bytes of `path`, or its size when that is over `kind`'s bound
/// (from its metadata before reading, or from a cap while reading).
pub fn read_bytes(path: &Path, kind: Limit) -> Result<Vec<u8>, Capped> {
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let file = std::fs::File::open(path).map_err(Capped::Io)?;
    let limit = kind.value();
    if let Ok(m) = file.metadata() {
        if m.len() > limit {
            return Err(Capped::TooLarge(m.len()));
        }
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Capped::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Capped::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Why [`read_bytes`] gave no bytes.
#[derive(Debug)]
pub enum Capped {
    Io(std::io::Error),
    /// The size seen (at least), in bytes.
    TooLarge(u64),
}

/// `n` with thousands separators (`94,371,840`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(94_371_840), "94,371,840");
    }

    #[test]
    fn a_count_over_the_bound_names_file_bound_and_setting() {
        let e = check("m.json", Limit::Columns.default_value() + 1, Limit::Columns).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.json: 100,001 columns is over the limit of 100,000 columns"
        );
        let hint = crate::error::Hint::hint(&e).unwrap();
        assert!(hint.ends_with("MLCI_MAX_COLUMNS=N"), "{hint}");
        assert!(check("m.json", 100_000, Limit::Columns).is_ok());
    }
}
