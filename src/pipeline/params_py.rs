//! Python params files (`params.py`), read as DVC reads them
//! (`dvc/utils/serialize/_py.py`): the module's top-level assignments of
//! literal values (`LR = 0.01`, `LR: float = 0.01`), each class's as a
//! mapping under the class name (`TrainConfig.EPOCHS`), and in an
//! `__init__` the `self.NAME = literal` assignments. A value that is not a
//! literal (a call, a name, an f-string), a statement with several targets
//! and anything else (imports, functions, loops) are skipped, as DVC skips
//! them; text that is not Python (an unterminated string, unbalanced
//! brackets, a bad indent) is an error naming its line.
//!
//! This reads a bounded subset of Python, never runs it: linear in the
//! text, with nesting bounded.

use serde_json::{Map, Number, Value};

/// How deep literals and classes may nest.
const MAX_DEPTH: usize = 64;

/// The parse error: (1-based line, message).
pub type PyError = (usize, String);

/// One logical line: its indent, its first physical line, its text with
/// comments removed and continuation lines joined.
struct Line {
    indent: usize,
    line: usize,
    text: String,
}

/// Parses `text` into the tree DVC builds from it.
pub fn parse(text: &str) -> Result<Value, PyError> {
    let lines = logical_lines(text)?;
    let mut at = 0;
    let tree = block(&lines, &mut at, 0, false, 0)?;
    Ok(Value::Object(tree))
}

/// Splits the text into logical lines: a line continues while brackets are
/// open, after a backslash, or inside a triple-quoted string.
fn logical_lines(text: &str) -> Result<Vec<Line>, PyError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut start, mut indent) = (0usize, 0usize, None::<usize>);
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut col_blank = true;
    let mut col = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '\'' | '"' => {
                if indent.is_none() {
                    indent = Some(col);
                    start = line;
                }
                col_blank = false;
                cur.push(c);
                scan_string(&mut chars, c, &mut cur, &mut line)?;
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(c);
                col_blank = false;
            }
            ')' | ']' | '}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or((line, format!("unmatched `{c}`")))?;
                cur.push(c);
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
                cur.push(' ');
            }
            '\n' => {
                line += 1;
                if depth > 0 {
                    cur.push(' ');
                } else {
                    if let Some(i) = indent.take() {
                        if !cur.trim().is_empty() {
                            out.push(Line {
                                indent: i,
                                line: start,
                                text: std::mem::take(&mut cur).trim().to_string(),
                            });
                        }
                    }
                    cur.clear();
                    col_blank = true;
                    col = 0;
                    continue;
                }
            }
            ' ' | '\t' | '\r' if col_blank => {}
            _ => {
                if indent.is_none() {
                    indent = Some(col);
                    start = line;
                }
                col_blank = false;
                cur.push(c);
            }
        }
        col += 1;
    }
    if depth > 0 {
        return Err((line, "a bracket is never closed".into()));
    }
    if let Some(i) = indent {
        if !cur.trim().is_empty() {
            out.push(Line {
                indent: i,
                line: start,
                text: cur.trim().to_string(),
            });
        }
    }
    Ok(out)
}

/// The rest of a string literal opened by `q` (already in `cur`), copied
/// into `cur`; `line` counts the newlines it spans. An error when it never
/// closes.
fn scan_string(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    c: char,
    cur: &mut String,
    line: &mut usize,
) -> Result<(), PyError> {
    let triple = two_more(chars, c);
    if triple {
        chars.next();
        chars.next();
        cur.push(c);
        cur.push(c);
    }
    let opened = *line;
    let mut closed = false;
    while let Some(s) = chars.next() {
        cur.push(s);
        if s == '\n' {
            *line += 1;
            if !triple {
                break;
            }
        }
        if s == '\\' {
            if let Some(n) = chars.next() {
                if n == '\n' {
                    *line += 1;
                }
                cur.push(n);
            }
            continue;
        }
        if s == c {
            if !triple {
                closed = true;
                break;
            }
            if two_more(chars, c) {
                chars.next();
                chars.next();
                cur.push(c);
                cur.push(c);
                closed = true;
                break;
            }
        }
    }
    if !closed {
        return Err((opened, "unterminated string".into()));
    }
    Ok(())
}

/// Whether the next two characters are both `c` (with the one just read,
/// a triple quote), without consuming them.
fn two_more(chars: &std::iter::Peekable<std::str::Chars<'_>>, c: char) -> bool {
    let mut probe = chars.clone();
    probe.next() == Some(c) && probe.next() == Some(c)
}

/// The statements at `indent` from `lines[*at]` on, into a mapping;
/// `self_only`: an `__init__` body, where only `self.NAME = ...` counts.
fn block(
    lines: &[Line],
    at: &mut usize,
    indent: usize,
    self_only: bool,
    depth: usize,
) -> Result<Map<String, Value>, PyError> {
    if depth > MAX_DEPTH {
        return Err((
            lines.get(*at).map_or(0, |l| l.line),
            "nested too deeply".into(),
        ));
    }
    let mut out = Map::new();
    while let Some(l) = lines.get(*at) {
        if l.indent < indent {
            break;
        }
        if l.indent > indent {
            return Err((l.line, "unexpected indent".into()));
        }
        *at += 1;
        let opens = l.text.ends_with(':');
        // The body of a compound statement: the lines indented below it.
        let body_indent = lines
            .get(*at)
            .filter(|n| opens && n.indent > indent)
            .map(|n| n.indent);
        if opens && body_indent.is_none() {
            // `class A: x = 1` on one line is not taken; nothing to read.
            continue;
        }
        let head = l.text.trim_end_matches(':').trim();
        if let Some(name) = head.strip_prefix("class ").map(class_name) {
            let body = block(
                lines,
                at,
                body_indent.unwrap_or(indent + 1),
                false,
                depth + 1,
            )?;
            if let Some(name) = name {
                out.insert(name, Value::Object(body));
            }
            continue;
        }
        if head.starts_with("def ") && opens {
            let is_init = head[4..].trim_start().starts_with("__init__")
                && head[4..].trim_start()[8..].trim_start().starts_with('(');
            let body = block(
                lines,
                at,
                body_indent.unwrap_or(indent + 1),
                true,
                depth + 1,
            )?;
            if is_init {
                out.extend(body);
            }
            continue;
        }
        if opens {
            // Any other compound statement (if, for, with, try): skipped
            // with its body, as DVC looks at none of them.
            skip_body(lines, at, indent);
            continue;
        }
        if let Some((name, value)) = assignment(&l.text, self_only) {
            out.insert(name, value);
        }
    }
    Ok(out)
}

fn skip_body(lines: &[Line], at: &mut usize, indent: usize) {
    while lines.get(*at).is_some_and(|n| n.indent > indent) {
        *at += 1;
    }
}

/// `Name(Base):` or `Name:` → `Name`.
fn class_name(rest: &str) -> Option<String> {
    let name: String = rest
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// `NAME = literal`, `NAME: T = literal` or `self.NAME = literal` (one
/// target); None for anything else, as DVC skips it.
fn assignment(text: &str, self_only: bool) -> Option<(String, Value)> {
    let eq = top_level_eq(text)?;
    let (target, value) = (text[..eq].trim(), text[eq + 1..].trim());
    // An annotation: `NAME: T`.
    let target = match target.split_once(':') {
        Some((t, _)) => t.trim(),
        None => target,
    };
    let name = match target.strip_prefix("self.") {
        Some(attr) => attr.trim(),
        None if self_only => return None,
        None => target,
    };
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let mut p = Literal {
        s: value.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then(|| (name.to_string(), v))
}

/// The byte offset of the single `=` that makes a statement an assignment:
/// outside strings and brackets, not part of `==`, `<=`, `+=` and the
/// like; None when there is none or more than one (`a = b = 1`).
fn top_level_eq(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut depth, mut found, mut quote) = (0i32, None, None::<u8>);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'=' if depth == 0 => {
                    let prev = i.checked_sub(1).map(|p| b[p]);
                    let next = b.get(i + 1).copied();
                    let compound = prev.is_some_and(|p| b"=!<>+-*/%&|^@:".contains(&p));
                    if next == Some(b'=') {
                        i += 2;
                        continue;
                    }
                    if !compound {
                        if found.is_some() {
                            return None;
                        }
                        found = Some(i);
                    } else if prev != Some(b':') {
                        return None;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    found
}

/// A cursor over a literal, as `ast.literal_eval` accepts it: numbers
/// (with a sign), strings, `True`/`False`/`None`, and lists, tuples, sets
/// and dicts of literals.
struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let c = *self.s.get(self.i)?;
        match c {
            b'[' => {
                self.i += 1;
                self.items(b']', depth).map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                if self.eat(b')') {
                    return Some(Value::Array(Vec::new()));
                }
                // `(x)` is x itself; `(x,)` and `(x, y)` are tuples.
                let first = self.value(depth + 1)?;
                if self.eat(b')') {
                    return Some(first);
                }
                if !self.eat(b',') {
                    return None;
                }
                let mut rest = self.items(b')', depth)?;
                rest.insert(0, first);
                Some(Value::Array(rest))
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set(depth)
            }
            b'\'' | b'"' => self.strings(),
            b'r' | b'R' | b'u' | b'U' if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.strings()
            }
            _ => self.word(),
        }
    }

    /// Comma-separated values up to `close` (a trailing comma allowed).
    fn items(&mut self, close: u8, depth: usize) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                return self.eat(close).then_some(out);
            }
        }
    }

    fn dict_or_set(&mut self, depth: usize) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value(depth + 1)?;
        if !self.eat(b':') {
            // A set: its items, in the order written.
            let mut items = vec![first];
            while self.eat(b',') {
                if self.eat(b'}') {
                    return Some(Value::Array(items));
                }
                items.push(self.value(depth + 1)?);
            }
            return self.eat(b'}').then_some(Value::Array(items));
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            let v = self.value(depth + 1)?;
            let k = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                _ => return None,
            };
            map.insert(k, v);
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            key = self.value(depth + 1)?;
            if !self.eat(b':') {
                return None;
            }
        }
    }

    /// One or more adjacent string literals, joined (`'a' "b"`).
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            self.ws();
            let raw = matches!(self.s.get(self.i), Some(b'r' | b'R'));
            if matches!(self.s.get(self.i), Some(b'r' | b'R' | b'u' | b'U'))
                && matches!(self.s.get(self.i + 1), Some(b'\'' | b'"'))
            {
                self.i += 1;
            }
            let Some(&q) = self.s.get(self.i).filter(|c| matches!(c, b'\'' | b'"')) else {
                break;
            };
            let triple = self.s[self.i..].starts_with(&[q, q, q]);
            self.i += if triple { 3 } else { 1 };
            let mut bytes = Vec::new();
            loop {
                let c = *self.s.get(self.i)?;
                if triple && self.s[self.i..].starts_with(&[q, q, q]) {
                    self.i += 3;
                    break;
                }
                if !triple && c == q {
                    self.i += 1;
                    break;
                }
                if c == b'\\' && !raw {
                    let n = *self.s.get(self.i + 1)?;
                    self.i += 2;
                    match n {
                        b'n' => bytes.push(b'\n'),
                        b't' => bytes.push(b'\t'),
                        b'r' => bytes.push(b'\r'),
                        b'0' => bytes.push(0),
                        b'\\' | b'\'' | b'"' => bytes.push(n),
                        b'\n' => {}
                        other => bytes.extend([b'\\', other]),
                    }
                    continue;
                }
                bytes.push(c);
                self.i += 1;
            }
            out.push_str(&String::from_utf8(bytes).ok()?);
        }
        Some(Value::String(out))
    }

    /// `True`, `False`, `None` or a number (a sign allowed).
    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'_' | b'.')
                || matches!(c, b'+' | b'-')
                    && (self.i == start || matches!(self.s[self.i - 1], b'e' | b'E'))
        }) {
            self.i += 1;
        }
        let w = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match w {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            _ => number(w),
        }
    }
}

/// A Python number literal: `10`, `-3`, `1_000`, `0x1f`, `0o7`, `0b1`,
/// `0.5`, `.5`, `5.`, `1e-3`. Complex numbers are not taken.
fn number(w: &str) -> Option<Value> {
    let (neg, body) = match w.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(p, _)| lower.starts_with(p));
    let int = match radix {
        Some((p, r)) => i64::from_str_radix(&lower[p.len()..], r).ok(),
        None if lower.chars().all(|c| c.is_ascii_digit()) => {
            // Python refuses `010`; `0` and `00` are fine.
            if lower.len() > 1
                && lower.starts_with('0')
                && !lower.trim_start_matches('0').is_empty()
            {
                return None;
            }
            lower.parse::<i64>().ok()
        }
        None => None,
    };
    if let Some(n) = int {
        return Some(Value::Number(Number::from(if neg { -n } else { n })));
    }
    if radix.is_some() || !lower.chars().next()?.is_ascii_digit() && !lower.starts_with('.') {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(if neg { -f } else { f }).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_classes_and_init_attributes_as_dvc_reads_them() {
        let text = r#"
import os  # skipped
LR = 0.01
EPOCHS: int = 10
NAME = "tiny" 'model'
SIZES = [1, 2, (3, 4)]
OPTS = {"a": 1, 'b': [True, None]}
PATH = os.path.join("a", "b")  # not a literal: skipped
a = b = 1
HEX = 0x1f
BIG = 1_000
NEG = -2.5e-3
DOC = """multi
line"""

class TrainConfig:
    EPOCHS = 10
    BATCH = 32

    class Inner:
        DEPTH = 2

    def __init__(self, x):
        self.alpha = 0.5
        self.beta = x  # not a literal
        local = 3

    def other(self):
        self.gamma = 1

if True:
    HIDDEN = 1
"#;
        let v = parse(text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "LR": 0.01, "EPOCHS": 10, "NAME": "tinymodel", "SIZES": [1, 2, [3, 4]],
                "OPTS": {"a": 1, "b": [true, null]}, "HEX": 31, "BIG": 1000, "NEG": -0.0025,
                "DOC": "multi\nline",
                "TrainConfig": {"EPOCHS": 10, "BATCH": 32, "Inner": {"DEPTH": 2}, "alpha": 0.5},
            })
        );
    }

    #[test]
    fn text_that_is_not_python_is_an_error_with_its_line() {
        assert_eq!(parse("A = 1\nB = 'open\n").unwrap_err().0, 2);
        assert_eq!(
            parse("A = [1,\n 2\n").unwrap_err().1,
            "a bracket is never closed"
        );
        assert_eq!(
            parse("A = 1\n  B = 2\n").unwrap_err(),
            (2, "unexpected indent".into())
        );
    }
}
