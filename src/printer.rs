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
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
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
        let text = self.guarded(&self.secrets.scrub(text));
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

    /// A message for stderr: secrets masked, fenced when needed, one
    /// trailing newline.
    fn line(&self, text: &str) -> String {
        let mut t = self.guarded(&self.secrets.scrub(text));
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
            eprint!("{}", self.line(text));
        }
    }

    pub fn warn(&self, text: &str) {
        eprint!(
            "{}",
            self.line(&format!("{} {text}", self.paint("warning:", "33")))
        );
    }

    /// Prints an error with its causes and its hint, uv-style.
    pub fn error(&self, err: &anyhow::Error) {
        let mut chain = err.chain();
        let mut last = String::new();
        if let Some(head) = chain.next() {
            last = head.to_string();
            eprint!(
                "{}",
                self.line(&format!("{} {last}", self.paint("error:", "31;1")))
            );
        }
        for cause in chain {
            // Many errors quote their source in their own message; print
            // each piece of text once.
            let text = cause.to_string();
            if last.contains(&text) {
                continue;
            }
            eprint!(
                "{}",
                self.line(&format!("  {} {text}", self.paint("caused by:", "2")))
            );
            last = text;
        }
        if let Some(hint) = crate::error::hint_for(err) {
            eprint!(
                "{}",
                self.line(&format!("{} {hint}", self.paint("hint:", "36;1")))
            );
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
