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
///
/// Text over `MLCI_MAX_YAML_BYTES` (16 MiB) or nested deeper than
/// [`crate::limits::YAML_DEPTH`] is refused first, in one linear pass: the
/// parser's time grows with the square of the nesting.
pub fn parse<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, YamlError> {
    bounded(text, file)?;
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

/// Refuses text larger than the YAML bound, or with flow collections
/// (`[`, `{`) nested deeper than [`crate::limits::YAML_DEPTH`]; one pass
/// over the bytes, skipping quoted scalars and comments.
fn bounded(text: &str, file: &Path) -> Result<(), YamlError> {
    use crate::limits::{self, Limit};
    let refuse = |line: Option<usize>, message: String| YamlError {
        file: file.to_path_buf(),
        line,
        column: None,
        message,
    };
    let shown = file.display().to_string();
    if let Err(e) = limits::check(&shown, text.len() as u64, Limit::YamlBytes) {
        return Err(refuse(
            None,
            format!(
                "{} bytes is over the limit of {} bytes (raise it with {}=N)",
                limits::thousands(text.len() as u64),
                limits::thousands(e.limit),
                Limit::YamlBytes.setting()
            ),
        ));
    }
    let bytes = text.as_bytes();
    let (mut depth, mut line, mut i) = (0usize, 1usize, 0usize);
    // Whether the previous byte was blank or a line start (a `#` there
    // opens a comment).
    let mut blank_before = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => line += 1,
            b'#' if blank_before => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\''
                if blank_before
                    || matches!(
                        bytes.get(i.wrapping_sub(1)),
                        Some(b':' | b',' | b'[' | b'{')
                    ) =>
            {
                // A quoted scalar: skip to its closing quote (`\"` escapes
                // in double quotes, `''` in single ones).
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if b == b'"' => i += 1,
                        b'\n' => line += 1,
                        q if q == b => {
                            if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                                i += 1;
                            } else {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limits::YAML_DEPTH {
                    return Err(refuse(
                        Some(line),
                        format!(
                            "collections nested deeper than {} levels",
                            limits::YAML_DEPTH
                        ),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        blank_before = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        i += 1;
    }
    Ok(())
}

/// Serialises `value` as YAML.
pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("serialising plain data to YAML cannot fail")
}

/// `value` as YAML the way DVC (Python) writes it: the YAML crate's
/// layout, each float as Python's `repr` (`1e-05`, not `0.00001`), so a
/// `dvc.lock` mlci writes is DVC's byte for byte.
pub fn to_string_python_floats(value: &serde_json::Value) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALL: AtomicU64 = AtomicU64::new(0);
    // A float whose repr differs is written through a placeholder no
    // document holds (this process, this call, its place).
    let tag = format!(
        "mlcipyfloat{}x{}x",
        std::process::id(),
        CALL.fetch_add(1, Ordering::Relaxed)
    );
    let mut marked: Vec<(String, String)> = Vec::new();
    fn walk(v: &mut serde_json::Value, tag: &str, marked: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().expect("an f64");
                let py = python_float(f);
                if py.contains('e') {
                    let token = format!("{tag}{}", marked.len());
                    marked.push((token.clone(), py));
                    *v = serde_json::Value::String(token);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, tag, marked)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(i, tag, marked)),
            _ => {}
        }
    }
    let mut v = value.clone();
    walk(&mut v, &tag, &mut marked);
    let mut text = to_string(&v);
    // Longest first: `…x12` before `…x1`.
    marked.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| b.0.cmp(&a.0)));
    for (token, py) in marked {
        text = text.replace(&token, &py);
    }
    text
}

/// A finite float as Python's `repr` writes it: the shortest digits that
/// read back, fixed between 1e-4 and 1e16 (`0.05`, `100000.0`), else in
/// exponent form (`1e-05`, `1.2345678901234568e+16`).
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{f:e}");
    let (mantissa, e) = s.split_once('e').expect("`{:e}` has an exponent");
    let e: i32 = e.parse().expect("an integer exponent");
    let sign = if e < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", e.abs())
}

/// `value` as a YAML document a YAML 1.1 reader (Go's yaml.v2 in Argo and
/// kubectl, PyYAML) reads back exactly: block style, every string in
/// double quotes (JSON's escapes, which YAML's double-quoted style
/// includes), so no value such as `on`, `no`, `y`, `1_000`, `0o17` or
/// `2024-01-01` is read as a boolean, number or date; keys plain when
/// they are plain words no YAML version reads otherwise.
pub fn to_string_quoted<T: Serialize>(value: &T) -> String {
    let v = serde_yaml::to_value(value).expect("plain data converts to a YAML value");
    let mut out = String::new();
    emit(&v, 0, &mut out);
    out
}

/// A YAML 1.1 boolean or null word, which must be quoted to stay a string.
fn yaml11_word(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    )
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("a string serialises"),
        Value::Sequence(items) if items.is_empty() => "[]".into(),
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        Value::Tagged(t) => return scalar(&t.value),
        _ => return None,
    })
}

fn key(k: &Value) -> String {
    match k {
        Value::String(s)
            if !s.is_empty()
                && !yaml11_word(s)
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            s.clone()
        }
        Value::String(s) => serde_json::to_string(s).expect("a string serialises"),
        other => scalar(other).unwrap_or_else(|| "\"\"".into()),
    }
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                match scalar(v) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        // Sequences under a key sit at the key's indent.
                        let child = if matches!(v, Value::Sequence(_)) {
                            indent
                        } else {
                            indent + 2
                        };
                        emit(v, child, out);
                    }
                }
            }
        }
        Value::Sequence(items) if !items.is_empty() => {
            for item in items {
                match scalar(item) {
                    Some(s) => {
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        let mut child = String::new();
                        emit(item, indent + 2, &mut child);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&child[indent + 2..]);
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other).unwrap_or_default());
            out.push('\n');
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_documents_read_back_exactly_and_quote_yaml11_words() {
        #[derive(serde::Serialize)]
        struct Doc {
            names: Vec<&'static str>,
            nested: Vec<std::collections::BTreeMap<&'static str, Vec<&'static str>>>,
            on: bool,
        }
        let doc = Doc {
            names: vec!["on", "no", "y", "1_000", "0o17", "2024-01-01", "a\"b\nc"],
            nested: vec![[("yes", vec!["x"]), ("k", vec![])].into_iter().collect()],
            on: true,
        };
        let text = to_string_quoted(&doc);
        assert_eq!(
            text,
            "names:\n- \"on\"\n- \"no\"\n- \"y\"\n- \"1_000\"\n- \"0o17\"\n- \"2024-01-01\"\n- \"a\\\"b\\nc\"\nnested:\n- k: []\n  \"yes\":\n  - \"x\"\n\"on\": true\n"
        );
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, serde_yaml::to_value(&doc).unwrap());
    }
}

#[cfg(test)]
mod python_float_tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_writes_them() {
        for (f, py) in [
            (0.05, "0.05"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (100000.0, "100000.0"),
            (1e16, "1e+16"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (-2.5e-7, "-2.5e-07"),
            (3.0, "3.0"),
        ] {
            assert_eq!(python_float(f), py, "{f}");
        }
        let v = serde_json::json!({"a": {"lr": 1e-5, "n": 3, "w": [2.5e-7, 0.5]}, "s": "1e-05"});
        assert_eq!(
            to_string_python_floats(&v),
            "a:\n  lr: 1e-05\n  n: 3\n  w:\n  - 2.5e-07\n  - 0.5\ns: '1e-05'\n"
        );
    }
}
