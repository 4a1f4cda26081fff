//! mlci brings the ML lifecycle into Git and CI: content-addressed tracking of
//! large files, pipelines, remotes, metrics diffs, PR reports and merge gates.
//!
//! [`run`] is the whole program: parse the command line, resolve settings,
//! dispatch to one command, and turn the outcome into an exit code. The domain
//! modules below never print and never exit; the `commands` layer owns all
//! output through one [`printer::Printer`].

pub mod action;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod copy;
pub mod error;
pub mod example;
pub mod forge;
pub mod fsutil;
pub mod gate;
pub mod gc;
pub mod git;
pub mod gitignore;
pub mod hash;
pub mod link;
pub mod lock;
pub mod manifest;
pub mod metrics;
pub mod params;
pub mod pipeline;
pub mod plots;
pub mod pointer;
pub mod printer;
pub mod progress;
pub mod remote;
pub mod repo;
pub mod report;
pub mod secrets;
pub mod state;
pub mod track;
pub mod walk;
pub mod whole;
pub mod workspace_path;

use std::ffi::OsString;

use clap::Parser;

use crate::printer::Printer;

/// Exit codes shared by every command (DESIGN.md section 4).
pub mod exit {
    /// Success, or a gate that passed.
    pub const OK: u8 = 0;
    /// A gate failed, or `--check` found something that differs.
    pub const DIFFERS: u8 = 1;
    /// Usage, configuration or runtime error.
    pub const ERROR: u8 = 2;
}

/// Runs mlci with the given arguments (the first one is the program name) and
/// returns the process exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout and usage errors to stderr.
            let code = if err.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            if code == exit::ERROR {
                // A usage error ends, as every mlci error does, with a
                // `hint:` line.
                let text = err.render().to_string();
                let text = text.replace(
                    "\nFor more information, try",
                    "\nhint: for more information, try",
                );
                eprint!("{text}");
            } else {
                let _ = err.print();
            }
            return code;
        }
    };
    let printer = Printer::new(cli.global.quiet);
    match commands::dispatch(cli, &printer) {
        Ok(code) => code,
        Err(err) => {
            if error::is_broken_pipe(&err) {
                // `mlci status --json | head` is not an error.
                return exit::OK;
            }
            printer.error(&err);
            exit::ERROR
        }
    }
}
