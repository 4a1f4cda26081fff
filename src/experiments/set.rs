//! `-S [FILE:]KEY=VALUE` overrides as DVC's `--set-param` reads them
//! (Hydra's override grammar, the part experiments use): FILE defaults to
//! `params.yaml`; a value is an integer, a float, `true`/`false`, `null`,
//! a quoted string or a plain string; `KEY=V1,V2,V3` is a sweep that
//! `--queue` expands into one experiment per value (the grid of several
//! sweeps is their product, in the order given).
//!
//! The key must exist already (DVC sets Hydra's struct mode); the file is
//! changed in place on the key's line only, so comments and layout stay,
//! and the new value is written as DVC's YAML writer (ruamel) writes it.

use std::path::Path;

use super::ExpError;

/// The params file `-S KEY=VALUE` changes when no file is named.
pub const DEFAULT_FILE: &str = "params.yaml";

/// One `-S` argument: a key of a file and its value(s) as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub file: String,
    pub key: String,
    /// More than one for a sweep.
    pub values: Vec<String>,
}

/// One key set to one value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    pub file: String,
    pub key: String,
    /// As written on the command line (one value of a sweep).
    pub value: String,
}

impl Assignment {
    /// As a `-S` argument: `FILE:KEY=VALUE`.
    pub fn arg(&self) -> String {
        format!("{}:{}={}", self.file, self.key, self.value)
    }
}

/// Parses one `-S` argument.
///
/// # Errors
/// [`ExpError::Override`] naming the argument.
pub fn parse(arg: &str) -> Result<Override, ExpError> {
    let bad = |message: &str| ExpError::Override {
        arg: arg.into(),
        message: message.into(),
    };
    let (lhs, value) = arg.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let (file, key) = match lhs.rsplit_once(':') {
        Some((f, k)) if !f.is_empty() => (f.to_string(), k.to_string()),
        Some((_, k)) => (DEFAULT_FILE.to_string(), k.to_string()),
        None => (DEFAULT_FILE.to_string(), lhs.to_string()),
    };
    if key.starts_with('+') || key.starts_with('~') {
        return Err(bad(
            "adding (`+KEY`) or deleting (`~KEY`) keys is not supported",
        ));
    }
    let key_ok = !key.is_empty()
        && key
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "_-".contains(c)));
    if !key_ok {
        return Err(bad("the key must be dotted names (`train.lr`)"));
    }
    if crate::workspace_path::WorkspacePath::new(&file).is_err() {
        return Err(bad("the file must be a path inside the repository"));
    }
    let values = split_sweep(value).map_err(|m| bad(&m))?;
    Ok(Override { file, key, values })
}

/// Splits `a,b,'c,d'` at commas outside quotes and brackets.
fn split_sweep(value: &str) -> Result<Vec<String>, String> {
    if value.starts_with("range(") || value.starts_with("choice(") || value.starts_with("glob(") {
        return Err("Hydra's range()/choice()/glob() sweeps are not supported: list the values (`KEY=1,2,3`)".into());
    }
    let mut out = Vec::new();
    let (mut cur, mut quote, mut depth) = (String::new(), None::<char>, 0i32);
    for c in value.chars() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if quote.is_some() || depth != 0 {
        return Err("an unclosed quote or bracket".into());
    }
    out.push(cur.trim().to_string());
    if out.iter().any(|v| v.is_empty()) && out.len() > 1 {
        return Err("an empty value in the list".into());
    }
    Ok(out)
}

/// Every combination of the overrides' values, the first override's
/// value changing slowest (Hydra's basic sweeper's order).
pub fn grid(overrides: &[Override]) -> Vec<Vec<Assignment>> {
    let mut out: Vec<Vec<Assignment>> = vec![Vec::new()];
    for o in overrides {
        let mut next = Vec::with_capacity(out.len() * o.values.len());
        for prefix in &out {
            for v in &o.values {
                let mut row = prefix.clone();
                row.retain(|a: &Assignment| !(a.file == o.file && a.key == o.key));
                row.push(Assignment {
                    file: o.file.clone(),
                    key: o.key.clone(),
                    value: v.clone(),
                });
                next.push(row);
            }
        }
        out = next;
    }
    out
}

/// A value as Hydra types it.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Str(String),
}

fn typed(raw: &str) -> Typed {
    let t = raw.trim();
    if let Some(inner) = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| t.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        return Typed::Str(inner.to_string());
    }
    match t.to_ascii_lowercase().as_str() {
        "true" => return Typed::Bool(true),
        "false" => return Typed::Bool(false),
        "null" => return Typed::Null,
        "inf" | "+inf" => return Typed::Float(f64::INFINITY),
        "-inf" => return Typed::Float(f64::NEG_INFINITY),
        "nan" => return Typed::Float(f64::NAN),
        _ => {}
    }
    let digits = t.replace('_', "");
    if let Ok(i) = digits.parse::<i64>() {
        return Typed::Int(i);
    }
    let numeric = digits
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && digits.chars().any(|c| c.is_ascii_digit());
    if numeric {
        if let Ok(f) = digits.parse::<f64>() {
            return Typed::Float(f);
        }
    }
    Typed::Str(t.to_string())
}

/// The YAML text of a typed value, as ruamel writes it.
fn yaml_text(v: &Typed) -> String {
    match v {
        Typed::Int(i) => i.to_string(),
        Typed::Float(f) if f.is_nan() => ".nan".into(),
        Typed::Float(f) if f.is_infinite() => {
            if *f > 0.0 {
                ".inf".into()
            } else {
                "-.inf".into()
            }
        }
        Typed::Float(f) => crate::yaml::python_float(*f),
        Typed::Bool(b) => b.to_string(),
        Typed::Null => "null".into(),
        Typed::Str(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| c.is_alphanumeric() || "_-./".contains(c))
                && s.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '/')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
                );
            if plain {
                s.clone()
            } else {
                format!("'{}'", s.replace('\'', "''"))
            }
        }
    }
}

/// Sets each of `assignments` in its file under `root` (in order; a file
/// named twice is changed twice). Returns the files written.
///
/// # Errors
/// [`ExpError::Param`] naming the file and key: the file is missing, not
/// YAML, lacks the key, or the key's value is not a one-line scalar.
pub fn apply(root: &Path, assignments: &[Assignment]) -> Result<Vec<String>, ExpError> {
    let mut written = Vec::new();
    for (file, text) in edited(root, assignments)? {
        let path = crate::workspace_path::WorkspacePath::new(&file)
            .and_then(|p| p.locate(root))
            .map_err(|e| ExpError::Param {
                file: file.clone(),
                key: String::new(),
                message: e.to_string(),
            })?;
        crate::fsutil::write_atomic(&path, text.as_bytes())?;
        written.push(file);
    }
    Ok(written)
}

/// The new text of each file `assignments` change (read from `root`),
/// sorted by file; nothing is written.
///
/// # Errors
/// As [`apply`].
pub fn edited(root: &Path, assignments: &[Assignment]) -> Result<Vec<(String, String)>, ExpError> {
    let mut files: Vec<String> = assignments.iter().map(|a| a.file.clone()).collect();
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for file in files {
        let err = |key: &str, message: String| ExpError::Param {
            file: file.clone(),
            key: key.into(),
            message,
        };
        let first = &assignments
            .iter()
            .find(|a| a.file == file)
            .expect("named")
            .key;
        if !file.ends_with(".yaml") && !file.ends_with(".yml") {
            return Err(err(first, "only YAML params files can be set yet".into()));
        }
        // A link must not lead the read outside the workspace.
        let path = crate::workspace_path::WorkspacePath::new(&file)
            .and_then(|p| p.locate_for_read(root))
            .map_err(|e| err(first, e.to_string()))?;
        let mut text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => return Err(err(first, format!("cannot read it: {e}"))),
        };
        for a in assignments.iter().filter(|a| a.file == file) {
            let value = typed(&a.value);
            text = set_yaml(&text, &a.key, &yaml_text(&value)).map_err(|m| err(&a.key, m))?;
            // The edit is checked by reading the file back.
            let tree = crate::pipeline::params::parse(&text, &file)
                .map_err(|e| err(&a.key, format!("the edit does not parse: {e}")))?;
            let now = crate::pipeline::params::lookup(&tree, &a.key).cloned();
            if !same(&value, now.as_ref()) {
                return Err(err(
                    &a.key,
                    "its value is not a plain one-line scalar".into(),
                ));
            }
        }
        out.push((file, text));
    }
    Ok(out)
}

fn same(v: &Typed, now: Option<&serde_json::Value>) -> bool {
    use serde_json::Value as J;
    match (v, now) {
        (Typed::Int(i), Some(J::Number(n))) => n.as_i64() == Some(*i),
        (Typed::Float(f), Some(J::Number(n))) => n.as_f64() == Some(*f),
        (Typed::Float(f), Some(J::String(s))) => !f.is_finite() && s.parse::<f64>().is_ok(),
        (Typed::Bool(b), Some(J::Bool(x))) => b == x,
        (Typed::Null, Some(J::Null)) => true,
        (Typed::Str(s), Some(J::String(x))) => s == x,
        _ => false,
    }
}

/// `text` with the block-style scalar at dotted `key` replaced by `value`
/// (its line's comment kept).
fn set_yaml(text: &str, key: &str, value: &str) -> Result<String, String> {
    let want: Vec<&str> = key.split('.').collect();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = String::with_capacity(text.len() + value.len());
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let indent = body.len() - trimmed.len();
        if done
            || trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with("- ")
            || trimmed == "-"
            || trimmed.starts_with("---")
        {
            out.push_str(line);
            continue;
        }
        let Some((k, rest)) = split_key(trimmed) else {
            out.push_str(line);
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack
            .iter()
            .map(|(_, k)| k.as_str())
            .chain([k.as_str()])
            .collect();
        let (scalar, comment) = split_comment(rest);
        if path == want {
            if scalar.trim().is_empty() {
                return Err("its value is a mapping or a list, not one value".into());
            }
            let s = scalar.trim_start();
            if s.starts_with(['[', '{', '|', '>', '&', '*', '!']) {
                return Err("its value is not a plain one-line scalar".into());
            }
            let lead = &body[..body.len() - rest.len()];
            out.push_str(lead);
            out.push(' ');
            out.push_str(value);
            // ruamel keeps a comment at its column while there is room.
            let column = body.len() - comment.len() + (comment.len() - comment.trim_start().len());
            if !comment.is_empty() {
                let at = lead.len() + 1 + value.len();
                out.push_str(&" ".repeat(column.saturating_sub(at).max(1)));
                out.push_str(comment.trim_start());
            }
            out.push_str(&line[body.len()..]);
            done = true;
            continue;
        }
        if scalar.trim().is_empty() {
            stack.push((indent, k));
        }
        out.push_str(line);
    }
    if done {
        Ok(out)
    } else {
        Err("the file has no such key".into())
    }
}

/// `key: rest` → (key unquoted, rest after the colon).
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = line[1..].find(q)? + 1;
        let rest = line[end + 1..].strip_prefix(':')?;
        return Some((line[1..end].to_string(), rest));
    }
    let at = line
        .find(": ")
        .or_else(|| line.strip_suffix(':').map(|s| s.len()))?;
    let rest = &line[at + 1..];
    Some((line[..at].trim_end().to_string(), rest))
}

/// Splits ` value  # comment` into (` value`, `  # comment`).
fn split_comment(rest: &str) -> (&str, &str) {
    let bytes = rest.as_bytes();
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (b, quote) {
            (b'\'' | b'"', None) => quote = Some(b),
            (q, Some(open)) if q == open => quote = None,
            (b'#', None) if i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                let value_end = rest[..i].trim_end().len();
                return (&rest[..value_end], &rest[value_end..]);
            }
            _ => {}
        }
    }
    (rest.trim_end(), &rest[rest.trim_end().len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_as_dvc_reads_them() {
        let o = parse("train.lr=0.01,0.05,0.1").unwrap();
        assert_eq!(o.file, "params.yaml");
        assert_eq!(o.values, ["0.01", "0.05", "0.1"]);
        let o = parse("conf/p.yaml:model.name='a,b'").unwrap();
        assert_eq!((o.file.as_str(), o.values.len()), ("conf/p.yaml", 1));
        assert!(parse("lr").is_err());
        assert!(parse("+new=1").is_err());
        assert!(parse("../x.yaml:a=1").is_err());
        let g = grid(&[parse("a=1,2").unwrap(), parse("b=x,y").unwrap()]);
        let shown: Vec<String> = g
            .iter()
            .map(|r| {
                r.iter()
                    .map(|a| format!("{}={}", a.key, a.value))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(shown, ["a=1 b=x", "a=1 b=y", "a=2 b=x", "a=2 b=y"]);
    }

    #[test]
    fn values_are_written_as_ruamel_writes_them() {
        for (raw, yaml) in [
            ("0.05", "0.05"),
            ("1e-5", "1e-05"),
            ("1e20", "1e+20"),
            ("1E5", "100000.0"),
            ("12345678901234567.0", "1.2345678901234568e+16"),
            ("-2.5e-7", "-2.5e-07"),
            ("3.", "3.0"),
            ("0.010", "0.01"),
            ("3", "3"),
            ("2.0", "2.0"),
            ("True", "true"),
            ("adam", "adam"),
            ("'yes'", "'yes'"),
            ("a b", "'a b'"),
        ] {
            assert_eq!(yaml_text(&typed(raw)), yaml, "{raw}");
        }
    }

    #[test]
    fn only_the_key_line_changes() {
        let text = "# top\ntrain:\n  lr: 0.1  # rate\n  epochs: 3\nlr: 9\n";
        let out = set_yaml(text, "train.lr", "0.05").unwrap();
        assert_eq!(
            out,
            "# top\ntrain:\n  lr: 0.05 # rate\n  epochs: 3\nlr: 9\n"
        );
        let wide = set_yaml(text, "train.lr", "0.0001").unwrap();
        assert!(wide.contains("  lr: 0.0001 # rate\n"), "{wide}");
        let narrow = set_yaml("a: 0.125   # c\n", "a", "1").unwrap();
        assert_eq!(narrow, "a: 1       # c\n");
        assert_eq!(
            set_yaml(text, "lr", "1").unwrap(),
            "# top\ntrain:\n  lr: 0.1  # rate\n  epochs: 3\nlr: 1\n"
        );
        assert!(set_yaml(text, "train", "1").is_err());
        assert!(set_yaml(text, "train.nope", "1").is_err());
    }
}
