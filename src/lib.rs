//! mlci brings the ML lifecycle into Git and CI: content-addressed tracking of
//! large files, pipelines, remotes, metrics diffs, PR reports and merge gates.
//!
//! [`run`] is the whole program: parse the command line, resolve settings,
//! dispatch to one command, and turn the outcome into an exit code. The domain
//! modules below never print and never exit; the `commands` layer owns all
//! output through one [`printer::Printer`].

// An item is `pub` only when it is reachable from outside the crate;
// inside a private module say `pub(crate)` (the compiler holds the rule).
#![warn(unreachable_pub)]
pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod datadiff;
pub mod drift;
pub mod dvc;
pub mod environment;
pub mod error;
pub mod escape;
pub mod example;
pub mod exit;
pub mod experiments;
pub mod forge;
pub mod fsck;
pub mod fsutil;
pub mod git;
pub mod limits;
pub mod migrate;
pub mod monitoring;
pub mod pipeline;
pub mod printer;
pub mod progress;
pub mod prometheus;
pub mod registry;
pub mod remote;
pub mod repo;
pub mod review;
pub mod revision;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod targets;
pub mod track;
pub mod workspace_path;
pub mod yaml;

use std::ffi::OsString;

use clap::Parser;

use crate::exit::Exit;
use crate::printer::Printer;

/// Runs mlci with the given arguments (the first one is the program name) and
/// returns the process exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    std::panic::set_hook(Box::new(|info| {
        // A panic is a bug in mlci, whatever the input: say so, where, and
        // what to report (no backtrace unless RUST_BACKTRACE asks for one).
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        Printer::usage_error(&format!(
            "error: internal error: {what}{at}\n\
             hint: this is a bug in mlci, not in your input; please report it with the command \
             that was run and this message (exit 3)\n"
        ));
    }));
    let args: Vec<T> = args.into_iter().collect();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_to_exit(args))) {
        Ok(exit) => u8::from(exit),
        Err(_) => u8::from(Exit::Internal),
    }
}

fn run_to_exit<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout and usage errors to stderr.
            if !err.use_stderr() {
                let _ = err.print();
                return Exit::Ok;
            }
            // A usage error ends, as every mlci error does, with a `hint:`
            // line.
            let text = err.render().to_string().replace(
                "\nFor more information, try",
                "\nhint: for more information, try",
            );
            Printer::usage_error(&text);
            return Exit::Error;
        }
    };
    // Debug builds only: the suite's way to check the panic path.
    #[cfg(debug_assertions)]
    if crate::environment::get_os("MLCI_DEBUG_PANIC").is_some() {
        panic!("MLCI_DEBUG_PANIC is set");
    }
    let printer = Printer::new(cli.global.quiet);
    match commands::dispatch(cli, &printer) {
        Ok(exit) => exit,
        Err(err) => {
            if error::is_broken_pipe(&err) {
                // `mlci status --json | head` is not an error.
                return Exit::Ok;
            }
            printer.error(&err);
            Exit::Error
        }
    }
}
