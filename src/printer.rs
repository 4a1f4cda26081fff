//! The one place that writes to the terminal.
//!
//! Data goes to stdout, everything else (notices, warnings, errors, progress)
//! to stderr. Colour only when stderr is a terminal and `NO_COLOR` is unset;
//! progress bars only when stderr is a terminal. A write to a closed stdout is
//! returned as an error so the caller can exit quietly instead of panicking.
//!
//! In GitHub Actions the runner executes any line that starts with `::` as
//! a workflow command, on stdout and stderr alike. Text mlci prints can hold
//! data (a metric name, a stage name, a path) with line breaks in it, so
//! any text with such a line is fenced with `::stop-commands::` and a fresh
//! random token; mlci's own commands go through [`Printer::command`].
//!
//! Data and messages are also made inert for a terminal: control characters
//! other than a line break or a tab (an escape sequence in a CSV column
//! name can recolour, hide or rewrite what a terminal shows, and some
//! terminals act on others) are printed in caret notation, as `cat -v`
//! does (`^[` for ESC). A stage's own output is passed through as it is.

// The one place that may write to the terminal (clippy's print lints are
// on for the rest of the crate).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, IsTerminal, Write};

use crate::secrets::Secrets;

/// Every line passes through [`Secrets::scrub`] on its way out, so no error
/// or report can print a credential from the environment or a `--token`.
pub struct Printer {
    quiet: bool,
    color: bool,
    tty: bool,
    /// A step of GitHub Actions: text with `::` lines is fenced.
    actions: bool,
    secrets: Secrets,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        let tty = io::stderr().is_terminal();
        let no_color = crate::environment::get_os("NO_COLOR").is_some();
        Printer {
            quiet,
            color: tty && !no_color,
            tty,
            actions: crate::ci::env::in_actions(),
            secrets: Secrets::from_env(),
        }
    }

    /// The secrets this printer masks; commands add the ones they learn
    /// (`--token`, a remote's credentials) and scrub what they publish.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Whether progress bars may be drawn.
    pub fn progress_enabled(&self) -> bool {
        self.tty && !self.quiet
    }

    /// Writes data to stdout (never suppressed by `--quiet`).
    pub fn data(&self, text: &str) -> io::Result<()> {
        let text = self.guarded(&self.secrets.scrub(&inert(text)));
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// A workflow command mlci means (an annotation, a fence), on stdout,
    /// with secrets masked but not fenced.
    pub fn command(&self, line: &str) -> io::Result<()> {
        let line = self.secrets.scrub(line);
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// `text`, fenced when it runs in Actions and a line of it would be
    /// taken for a workflow command.
    fn guarded(&self, text: &str) -> String {
        if !self.actions || !text.lines().any(|l| l.trim_start().starts_with("::")) {
            return text.to_string();
        }
        let fence = crate::ci::workflow::StopCommands::new();
        let end = if text.ends_with('\n') { "" } else { "\n" };
        format!("{}\n{text}{end}{}\n", fence.start(), fence.end())
    }

    /// A message for stderr: made inert, secrets masked, fenced when
    /// needed, one trailing newline; `label` (mlci's own, painted) first.
    fn line(&self, label: Option<(&str, &str)>, text: &str) -> String {
        let text = inert(text);
        let text = match label {
            Some((label, code)) => format!("{} {text}", self.paint(label, code)),
            None => text.into_owned(),
        };
        let mut t = self.guarded(&self.secrets.scrub(&text));
        if !t.ends_with('\n') {
            t.push('\n');
        }
        t
    }

    /// Writes a line to stdout without masking secrets in it: only for the
    /// `::add-mask::` command that tells the runner to mask that very
    /// secret (masking it here would hide it from the runner).
    pub fn unscrubbed(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// A usage error as clap rendered it (before any printer setting
    /// applies): written as it is.
    pub fn usage_error(text: &str) {
        eprint!("{text}");
    }

    /// A line of a stage's output (`-j N`: prefixed, whole lines), on the
    /// stream the stage wrote it to, with secrets masked.
    pub fn stage_output(&self, text: &str, stderr: bool) {
        let text = self.guarded(&self.secrets.scrub(text));
        let _ = if stderr {
            io::stderr().lock().write_all(text.as_bytes())
        } else {
            io::stdout().lock().write_all(text.as_bytes())
        };
    }

    /// An informational message on stderr.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprint!("{}", self.line(None, text));
        }
    }

    pub fn warn(&self, text: &str) {
        eprint!("{}", self.line(Some(("warning:", "33")), text));
    }

    /// Prints an error with its causes and its hint, uv-style.
    pub fn error(&self, err: &anyhow::Error) {
        let mut chain = err.chain();
        let mut last = String::new();
        if let Some(head) = chain.next() {
            last = head.to_string();
            eprint!("{}", self.line(Some(("error:", "31;1")), &last));
        }
        for cause in chain {
            // Many errors quote their source in their own message; print
            // each piece of text once.
            let text = cause.to_string();
            if last.contains(&text) {
                continue;
            }
            eprint!("  {}", self.line(Some(("caused by:", "2")), &text));
            last = text;
        }
        if let Some(hint) = crate::error::hint_for(err) {
            eprint!("{}", self.line(Some(("hint:", "36;1")), &hint));
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// `text` with every control character other than a line break or a tab in
/// caret notation (`^[` for ESC, `^?` for DEL, `M-^[` style for the C1
/// controls U+0080–U+009F), as `cat -v` shows them; a carriage return
/// stays only right before a line break. Borrowed when there is none.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |(i, c): (usize, char)| match c {
        '\n' | '\t' => false,
        '\r' => text.as_bytes().get(i + 1) != Some(&b'\n'),
        c => c.is_control(),
    };
    if !text.char_indices().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        if !unsafe_char((i, c)) {
            out.push(c);
            continue;
        }
        crate::escape::push_caret(&mut out, c);
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(inert("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(inert("\x1b[31mred\x1b[0m"), "^[[31mred^[[0m");
        assert_eq!(inert("a\rb\r\nc"), "a^Mb\r\nc");
        assert_eq!(inert("\x07\x7f\u{9b}2J"), "^G^?M-^[2J");
        assert_eq!(inert("\u{1b}]52;c;aGk=\x07"), "^[]52;c;aGk=^G");
        assert_eq!(inert("naïve ✓"), "naïve ✓");
    }
}
