//! The one place that writes to the terminal.
//!
//! Data goes to stdout, everything else (notices, warnings, errors, progress)
//! to stderr. Colour only when stderr is a terminal and `NO_COLOR` is unset;
//! progress bars only when stderr is a terminal. A write to a closed stdout is
//! returned as an error so the caller can exit quietly instead of panicking.

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
        let text = self.secrets.scrub(text);
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
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
        let text = self.secrets.scrub(text);
        let _ = if stderr {
            io::stderr().lock().write_all(text.as_bytes())
        } else {
            io::stdout().lock().write_all(text.as_bytes())
        };
    }

    /// An informational message on stderr.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", self.secrets.scrub(text));
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!(
            "{} {}",
            self.paint("warning:", "33"),
            self.secrets.scrub(text)
        );
    }

    /// Prints an error with its causes and its hint, uv-style.
    pub fn error(&self, err: &anyhow::Error) {
        let mut chain = err.chain();
        let mut last = String::new();
        if let Some(head) = chain.next() {
            last = head.to_string();
            eprintln!(
                "{} {}",
                self.paint("error:", "31;1"),
                self.secrets.scrub(&last)
            );
        }
        for cause in chain {
            // Many errors quote their source in their own message; print
            // each piece of text once.
            let text = cause.to_string();
            if last.contains(&text) {
                continue;
            }
            eprintln!(
                "  {} {}",
                self.paint("caused by:", "2"),
                self.secrets.scrub(&text)
            );
            last = text;
        }
        if let Some(hint) = crate::error::hint_for(err) {
            eprintln!(
                "{} {}",
                self.paint("hint:", "36;1"),
                self.secrets.scrub(&hint)
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
