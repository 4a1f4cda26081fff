//! Parameter files (YAML, JSON or TOML) addressed by dotted keys.
//!
//! Every format is read into one JSON-shaped tree so that lookups, the lock
//! file and diffs treat them alike. `train.layers.0` indexes lists.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::yaml;

#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("params file `{file}` does not exist")]
    Missing { file: String },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("`{file}` is not a YAML, JSON or TOML file")]
    Format { file: String },
    #[error("param `{key}` is not in `{file}`")]
    MissingKey { file: String, key: String },
    #[error("params file `{file}`: {source}")]
    Unsafe {
        file: String,
        source: Box<crate::workspace_path::UnsafePath>,
    },
    #[error("reading `{file}`: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

impl crate::error::Hint for ParamsError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ParamsError::Unsafe { source, .. } => return source.hint(),
            ParamsError::Missing { file } => {
                format!("create `{file}`, or remove the stage's `params:` entry for it")
            }
            ParamsError::Parse { .. } => "fix the syntax; the line above points at it".into(),
            ParamsError::Format { .. } => {
                "name params files *.yaml, *.yml, *.json or *.toml".into()
            }
            ParamsError::MissingKey { key, file } => {
                format!("add `{key}` to `{file}`, or fix the key in the stage's `params:`")
            }
            ParamsError::Io { .. } => return None,
        })
    }
}

crate::register_hint!(ParamsError);

/// Loads a params file (repo-relative `file`, read from `root`).
pub fn load(root: &Path, file: &str) -> Result<Value, ParamsError> {
    // Params files are named in mlci.yaml (untrusted): read only inside the
    // workspace, never through a link out of it.
    let abs = crate::workspace_path::WorkspacePath::new(file)
        .and_then(|p| p.locate_for_read(root))
        .map_err(|e| ParamsError::Unsafe {
            file: file.to_string(),
            source: Box::new(e),
        })?;
    let text = match std::fs::read_to_string(abs) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ParamsError::Missing {
                file: file.to_string(),
            })
        }
        Err(source) => {
            return Err(ParamsError::Io {
                file: file.to_string(),
                source,
            })
        }
    };
    parse(&text, file)
}

/// Parses params text; the format follows the file's extension.
pub fn parse(text: &str, file: &str) -> Result<Value, ParamsError> {
    let ext = Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    match ext {
        "yaml" | "yml" => {
            if text.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            yaml::parse::<Value>(text, Path::new(file)).map_err(|e| ParamsError::Parse {
                file: file.to_string(),
                line: e.line,
                message: e.message,
            })
        }
        "json" => serde_json::from_str(text).map_err(|e| ParamsError::Parse {
            file: file.to_string(),
            line: Some(e.line()),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_string(),
        }),
        "toml" => toml::from_str::<Value>(text).map_err(|e| ParamsError::Parse {
            file: file.to_string(),
            line: e.span().map(|s| text[..s.start].lines().count().max(1)),
            message: e.message().to_string(),
        }),
        _ => Err(ParamsError::Format {
            file: file.to_string(),
        }),
    }
}

/// The value at dotted `key`, if present.
pub fn lookup<'v>(tree: &'v Value, key: &str) -> Option<&'v Value> {
    let mut cur = tree;
    for part in key.split('.') {
        cur = match cur {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Every leaf of the tree by dotted key (for whole-file params).
pub fn flatten(tree: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.to_string(), v.clone());
                }
            }
        }
    }
    walk("", tree, &mut out);
    out
}

/// A short display of a param value (`0.1`, `"adam"`, `[1, 2]`).
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_formats_one_tree() {
        let y = parse("train:\n  lr: 0.1\n  layers: [4, 8]\n", "p.yaml").unwrap();
        let j = parse(r#"{"train": {"lr": 0.1, "layers": [4, 8]}}"#, "p.json").unwrap();
        let t = parse("[train]\nlr = 0.1\nlayers = [4, 8]\n", "p.toml").unwrap();
        assert_eq!(y, j);
        assert_eq!(y, t);
        assert_eq!(lookup(&y, "train.lr"), Some(&serde_json::json!(0.1)));
        assert_eq!(lookup(&y, "train.layers.1"), Some(&serde_json::json!(8)));
        assert_eq!(lookup(&y, "train.nope"), None);
        let flat = flatten(&y);
        assert_eq!(
            flat.keys().collect::<Vec<_>>(),
            ["train.layers", "train.lr"]
        );
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let e = parse("a: 1\nb: [\n", "params.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("params.yaml:"), "{e}");
        let e = parse("{\n\"a\": }", "p.json").unwrap_err().to_string();
        assert!(e.starts_with("p.json:2:"), "{e}");
        let e = parse("a = 1\nb = \n", "p.toml").unwrap_err().to_string();
        assert!(e.starts_with("p.toml:2:"), "{e}");
    }
}
