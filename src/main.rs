//! The `mlci` binary: a trampoline into [`mlci::run`], so that everything
//! testable lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    // The leader of a stage's process group (pipeline/supervise.rs): no CLI
    // parsing, nothing else started.
    if std::env::args_os().nth(1).as_deref() == Some(mlci::pipeline::supervise::ARG.as_ref()) {
        return ExitCode::from(mlci::pipeline::supervise::main(
            args.by_ref().skip(2).collect(),
        ));
    }
    ExitCode::from(mlci::run(args))
}
