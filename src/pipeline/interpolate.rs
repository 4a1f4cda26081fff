//! `${...}` interpolation as dvc.yaml defines it: dotted keys and list
//! indices into the vars context, `\${` to escape, deep-merged vars, values
//! written as DVC writes them (Python's `str`), and a mapping in `cmd`
//! unpacked into command-line flags (DVC's `parsing.bool`/`parsing.list`).
//!
//! Source of the rules: DVC's `dvc/parsing/interpolate.py` (`to_str`,
//! `validate_value`, `str_interpolate`).

use serde_json::Value as Json;

/// How a mapping interpolated into `cmd` becomes flags: DVC's
/// `parsing.bool` (`store_true`: `--flag` for true, nothing for false;
/// `boolean_optional`: also `--no-flag` for false) and `parsing.list`
/// (`nargs`: `--key a b`; `append`: `--key a --key b`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacking {
    pub boolean_optional: bool,
    pub append: bool,
}

/// Why a `${...}` could not be interpolated, so the hint can fit the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A key or index that is not there: spelling can be the cause.
    Undefined(String),
    /// A list or mapping where one value is needed.
    NotScalar(String),
    /// `${` inside `${…}`, no closing brace, an empty or malformed index.
    Syntax(String),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Undefined(m) | Why::NotScalar(m) | Why::Syntax(m) => f.write_str(m),
        }
    }
}

/// Deep-merges `b` into `a`.
pub fn merge(a: &mut Json, b: Json) {
    match (a, b) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(old) if old.is_object() && v.is_object() => merge(old, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// Replaces each `${expr}` in `text` (`\${` escapes). `cmd`: the text is a
/// stage command, where a mapping unpacks into flags as `unpacking` says.
/// Err: (expr, why).
pub fn interpolate(
    text: &str,
    vars: &Json,
    cmd: Option<Unpacking>,
) -> Result<String, (String, Why)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'\\' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            return Err((
                rest[i + 2..].to_string(),
                Why::Syntax("no closing `}`".into()),
            ));
        };
        let expr = rest[i + 2..i + end].trim();
        if expr.contains("${") {
            return Err((
                expr.to_string(),
                Why::Syntax("`${` inside `${…}`: interpolation does not nest".into()),
            ));
        }
        let v = resolve(vars, expr).map_err(|why| (expr.to_string(), why))?;
        match (v, cmd) {
            (Json::Object(_), Some(unpacking)) => {
                out.push_str(&flags(v, unpacking).map_err(|why| (expr.to_string(), why))?)
            }
            (Json::Object(_), None) => {
                return Err((
                    expr.to_string(),
                    Why::NotScalar(
                        "it is a mapping; only `cmd` unpacks a mapping (into --key value flags)"
                            .into(),
                    ),
                ))
            }
            (Json::Array(_), _) => {
                return Err((
                    expr.to_string(),
                    Why::NotScalar("it is a list, not a single value".into()),
                ))
            }
            (scalar, _) => out.push_str(&to_str(scalar)),
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A scalar as DVC writes it: Python's `str` (`true`/`false` for booleans,
/// `None`, floats in Python's shortest form: `1e-07`, `3.0`).
pub fn to_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Null => "None".into(),
        Json::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) => python_float(f),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional
/// for decimal exponents in -4..16 (with `.0` when integral), else
/// scientific with a signed exponent of at least two digits.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is a number");
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Python's `shlex.quote`.
fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if s.is_empty() {
        "''".into()
    } else if s.chars().all(safe) {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// A mapping as command-line flags, nested keys dotted, in the mapping's
/// order (DVC's `to_str` of a dict).
fn flags(map: &Json, unpacking: Unpacking) -> Result<String, Why> {
    let mut flat = Vec::new();
    flatten_ordered("", map, &mut flat);
    let mut out: Vec<String> = Vec::new();
    for (k, v) in flat {
        match v {
            Json::Bool(true) => out.push(format!("--{k}")),
            Json::Bool(false) if unpacking.boolean_optional => out.push(format!("--no-{k}")),
            Json::Bool(false) => {}
            Json::String(s) => out.push(format!("--{k} {}", shell_quote(s))),
            Json::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    let shown = match item {
                        Json::String(s) => shell_quote(s),
                        Json::Array(_) | Json::Object(_) => {
                            return Err(Why::NotScalar(format!(
                                "`{k}` holds a nested list or mapping, which cannot become a flag"
                            )))
                        }
                        // Python's str of a bool inside a list.
                        Json::Bool(b) => if *b { "True" } else { "False" }.into(),
                        other => to_str(other),
                    };
                    if unpacking.append || n == 0 {
                        out.push(format!("--{k} {shown}"));
                    } else {
                        out.push(shown);
                    }
                }
            }
            other => out.push(format!("--{k} {}", to_str(other))),
        }
    }
    Ok(out.join(" "))
}

/// Nested mappings as dotted keys, lists kept whole, in the file's order.
fn flatten_ordered<'v>(prefix: &str, v: &'v Json, out: &mut Vec<(String, &'v Json)>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_ordered(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other)),
    }
}

/// Looks up `a.b[0].c` in the context.
pub fn resolve<'v>(vars: &'v Json, expr: &str) -> Result<&'v Json, Why> {
    if expr.is_empty() {
        return Err(Why::Syntax("the expression is empty".into()));
    }
    let mut cur = vars;
    let mut seen = String::new();
    for raw in expr.split('.') {
        let (key, indices) = match raw.find('[') {
            Some(i) => (&raw[..i], &raw[i..]),
            None => (raw, ""),
        };
        if !key.is_empty() {
            cur = match cur {
                Json::Object(m) => m.get(key),
                Json::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }
            .ok_or_else(|| {
                Why::Undefined(if seen.is_empty() {
                    format!("`{key}` is not defined")
                } else {
                    format!("`{seen}` has no key `{key}`")
                })
            })?;
            if !seen.is_empty() {
                seen.push('.');
            }
            seen.push_str(key);
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let n: usize = idx
                .trim_end_matches(']')
                .parse()
                .map_err(|_| Why::Syntax(format!("`[{idx}` is not a list index")))?;
            cur = cur
                .get(n)
                .ok_or_else(|| Why::Undefined(format!("`{seen}` has no item {n}")))?;
            seen.push_str(&format!("[{n}]"));
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_are_written_as_python_writes_them() {
        for (f, want) in [
            (1e-7, "1e-07"),
            (3e-7, "3e-07"),
            (0.01, "0.01"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (3.0, "3.0"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (123456789012345.6, "123456789012345.6"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(python_float(f), want, "{f}");
        }
    }

    #[test]
    fn a_mapping_in_cmd_unpacks_into_flags() {
        let vars = json!({"opts": {"epochs": 3, "lr": 0.01, "verbose": true, "quiet": false,
            "name": "tiny model", "tags": ["a", "b c"], "nested": {"depth": 2}}});
        let nargs = interpolate("train ${opts}", &vars, Some(Unpacking::default())).unwrap();
        assert_eq!(
            nargs,
            "train --epochs 3 --lr 0.01 --verbose --name 'tiny model' --tags a 'b c' --nested.depth 2"
        );
        let other = Unpacking {
            boolean_optional: true,
            append: true,
        };
        assert_eq!(
            interpolate("${opts}", &vars, Some(other)).unwrap(),
            "--epochs 3 --lr 0.01 --verbose --no-quiet --name 'tiny model' --tags a --tags 'b c' --nested.depth 2"
        );
        let (_, why) = interpolate("out/${opts}", &vars, None).unwrap_err();
        assert!(matches!(why, Why::NotScalar(_)));
    }
}
