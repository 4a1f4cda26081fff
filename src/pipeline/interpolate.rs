//! `${...}` interpolation as dvc.yaml defines it: dotted keys and list
//! indices into the vars context, `\${` to escape, deep-merged vars.

use serde_json::Value as Json;

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

/// Replaces each `${expr}` in `text` (`\${` escapes). Err: (expr, why).
pub fn interpolate(text: &str, vars: &Json) -> Result<String, (String, String)> {
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
            return Err((rest[i + 2..].to_string(), "no closing `}`".into()));
        };
        let expr = rest[i + 2..i + end].trim();
        let v = resolve(vars, expr).map_err(|why| (expr.to_string(), why))?;
        match v {
            Json::String(s) => out.push_str(s),
            Json::Number(_) | Json::Bool(_) => out.push_str(&v.to_string()),
            Json::Null => out.push_str("None"),
            _ => {
                return Err((
                    expr.to_string(),
                    "it is a list or mapping, not a single value".into(),
                ))
            }
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Looks up `a.b[0].c` in the context.
pub fn resolve<'v>(vars: &'v Json, expr: &str) -> Result<&'v Json, String> {
    if expr.is_empty() {
        return Err("the expression is empty".into());
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
                if seen.is_empty() {
                    format!("`{key}` is not defined")
                } else {
                    format!("`{seen}` has no key `{key}`")
                }
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
                .map_err(|_| format!("`[{idx}` is not a list index"))?;
            cur = cur
                .get(n)
                .ok_or_else(|| format!("`{seen}` has no item {n}"))?;
            seen.push_str(&format!("[{n}]"));
        }
    }
    Ok(cur)
}
