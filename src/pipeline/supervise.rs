//! The stage supervisor: the leader of a stage command's process group,
//! there so that the group never outlives mlci.
//!
//! mlci starts each stage command as `mlci __stage-supervisor SHELL ARGS…`
//! in a fresh process group. The supervisor starts the shell in that same
//! group and waits for it. If mlci dies (a `kill -9`, an OOM kill, a crashed
//! CI runner step), the supervisor is re-parented, sees it (a parent-death
//! signal wakes it at once, and a poll of the parent pid covers the moment
//! before that signal was armed) and kills the whole group with SIGKILL, so
//! no stage process keeps writing outputs that a rerun is about to produce.
//! When mlci itself stops the stage (an interrupt), it signals the group;
//! the supervisor survives that signal, waits for the shell and reports its
//! status as its own (the same exit code, or death by the same signal).

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{self, Signal};

/// The hidden first argument that makes the binary a supervisor.
pub const ARG: &str = "__stage-supervisor";

/// How often the parent pid is looked at (also bounds how long a stage
/// outlives mlci when the parent-death signal could not be armed).
const POLL: Duration = Duration::from_millis(20);

/// Runs `args` (`SHELL ARGS…`) supervised; returns the exit code to leave
/// with. Never returns when the shell died by a signal (the supervisor dies
/// by the same one, so mlci reports it as it would the shell's).
pub fn main(args: Vec<OsString>) -> u8 {
    let Some((shell, rest)) = args.split_first() else {
        let _ = writeln!(std::io::stderr(), "error: {ARG} needs a command");
        return 2;
    };
    let parent = process::getppid();
    // SIGTERM when the thread that started us dies; a handler that only
    // sets a flag (reset to the default in the shell by exec, unlike an
    // ignored signal) keeps mlci's own interrupt of the group from ending
    // the supervisor before the shell. The parent check below decides.
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&signalled));
    }
    let _ = process::set_parent_process_death_signal(Some(Signal::TERM));
    if process::getppid() != parent {
        kill_group();
    }
    let mut child = match Command::new(shell).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the shell `{}`: {e}",
                shell.to_string_lossy()
            );
            return 127;
        }
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return relay(status),
            Ok(None) => {}
            Err(_) => return 1,
        }
        if process::getppid() != parent {
            kill_group();
        }
        std::thread::sleep(POLL);
    }
}

/// Kills every process of the group, the supervisor last (it is a member).
fn kill_group() -> ! {
    let _ = process::kill_process_group(process::getpgrp(), Signal::KILL);
    std::process::exit(137)
}

/// Leaves as the shell left: its exit code, or death by its signal.
fn relay(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    let sig = status.signal().unwrap_or(0);
    // Back to the default action, then the same signal to ourselves: mlci
    // then says "killed by signal N" as it did before the supervisor existed.
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    u8::try_from(128 + sig).unwrap_or(1)
}
