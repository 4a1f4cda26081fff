//! Parameter files (YAML, JSON, TOML, or Python as DVC reads it) addressed by dotted keys.
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
    #[error("`{file}` is not a YAML, JSON, TOML or Python file")]
    Format { file: String },
    #[error("param `{key}` is not in `{file}`")]
    MissingKey { file: String, key: String },
    /// A link out of the workspace, an I/O error, not UTF-8.
    #[error("params file `{file}`: {message}")]
    Unreadable {
        file: String,
        message: String,
        hint: Option<String>,
    },
}

impl crate::error::Hint for ParamsError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ParamsError::Unreadable { hint, .. } => return hint.clone(),
            ParamsError::Missing { file } => {
                format!("create `{file}`, or remove the stage's `params:` entry for it")
            }
            ParamsError::Parse { .. } => "fix the syntax; the line above points at it".into(),
            ParamsError::Format { .. } => {
                "name params files *.yaml, *.yml, *.json, *.toml or *.py".into()
            }
            ParamsError::MissingKey { key, file } => {
                format!("add `{key}` to `{file}`, or fix the key in the stage's `params:`")
            }
        })
    }
}

crate::register_hint!(ParamsError);

/// Loads a params file (repo-relative `file`, read from `root`).
pub fn load(root: &Path, file: &str) -> Result<Value, ParamsError> {
    load_from(&crate::pipeline::source::WorkTree(root), file)
}

/// Reads and parses params file `file` from `src`.
pub fn load_from(
    src: &dyn crate::pipeline::source::Source,
    file: &str,
) -> Result<Value, ParamsError> {
    // Params files are named in mlci.yaml (untrusted): the source reads
    // only inside the workspace, never through a link out of it.
    let text = match src.read(file) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(ParamsError::Missing {
                file: file.to_string(),
            })
        }
        Err(e) => {
            return Err(ParamsError::Unreadable {
                file: file.to_string(),
                message: e.message,
                hint: e.hint,
            })
        }
    };
    parse(&text, file)
}

/// The spellings of non-finite numbers Python's `json` writes (and reads).
pub const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

/// Parses JSON as Python's `json` module writes it: `NaN`, `Infinity` and
/// `-Infinity` as bare tokens (a ROC curve's first threshold is `Infinity`).
/// JSON numbers cannot hold them, so each becomes the string of its
/// spelling; [`number`] reads such a string back as the number.
pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return serde_json::from_str(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = NON_FINITE.iter().rev().find(|t| rest.starts_with(*t)) {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out)
}

/// A value as a number: a JSON number, or one of Python's non-finite
/// spellings kept as a string by [`parse_json`]. Booleans are not numbers.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if NON_FINITE.contains(&s.as_str()) => s.parse().ok(),
        _ => None,
    }
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
        "json" => parse_json(text).map_err(|e| ParamsError::Parse {
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
        "py" => super::params_py::parse(text).map_err(|(line, message)| ParamsError::Parse {
            file: file.to_string(),
            line: Some(line),
            message,
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
    fn json_as_python_writes_it() {
        let v =
            parse_json(r#"{"thr": [Infinity, 0.5, -Infinity], "auc": NaN, "s": "NaN Infinity"}"#)
                .unwrap();
        assert_eq!(v["thr"][0], "Infinity");
        assert_eq!(number(&v["thr"][0]), Some(f64::INFINITY));
        assert_eq!(number(&v["thr"][2]), Some(f64::NEG_INFINITY));
        assert!(number(&v["auc"]).unwrap().is_nan());
        assert_eq!(v["s"], "NaN Infinity", "strings are left alone");
        assert_eq!(number(&v["s"]), None);
        assert!(parse_json("{\"a\": NaNa}").is_err());
    }

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
