//! The `mlci` binary: a trampoline into [`mlci::run`], so that everything
//! testable lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mlci::run(std::env::args_os()))
}
