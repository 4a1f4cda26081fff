//! Text from data (a pull request's stage names, titles, labels) as it
//! lands in a quoted string of another language: Mermaid and Graphviz DOT.
//! Each function returns the whole quoted string, so a caller cannot forget
//! the quotes, and nothing inside can end the string, the line or the block
//! it sits in. Markdown's own escapes live with the report (`md_escape`,
//! `md_code`, `md_fence`), YAML's with the YAML module
//! (`to_string_quoted`).

/// Appends control character `c` in caret notation, as `cat -v` shows it:
/// `^[` for ESC, `^?` for DEL, `M-^[` style for the C1 controls
/// (U+0080–U+009F). Other characters are appended as they are.
pub fn push_caret(out: &mut String, c: char) {
    match c as u32 {
        0x7f => out.push_str("^?"),
        n @ 0..=0x1f => {
            out.push('^');
            out.push(char::from(n as u8 + 0x40));
        }
        n @ 0x80..=0x9f => {
            out.push_str("M-^");
            out.push(char::from((n - 0x80) as u8 + 0x40));
        }
        _ => out.push(c),
    }
}

/// A Mermaid string: quotes become `'`, control characters (a newline)
/// and backticks become spaces and `'`, and `<`/`>` become `‹`/`›` so
/// Mermaid's own HTML labels cannot be opened.
pub fn mermaid_string(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '"' | '`' => '\'',
            '<' => '‹',
            '>' => '›',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("\"{clean}\"")
}

/// A Graphviz DOT string (an ID in double quotes): `"` and `\` escaped,
/// control characters (a newline) as spaces, so a name cannot end the ID
/// and add statements of its own.
pub fn dot_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_ends_the_string() {
        assert_eq!(
            mermaid_string("b\"]\n  click b \"javascript:x\""),
            "\"b']   click b 'javascript:x'\""
        );
        assert_eq!(
            dot_string("a\"; evil [label=\"INJ\"]\n\\"),
            "\"a\\\"; evil [label=\\\"INJ\\\"] \\\\\""
        );
    }
}
