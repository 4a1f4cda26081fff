//! Running one stage's commands as DVC runs them: through `$SHELL` (else
//! `/bin/sh`) without rc files, in the stage's wdir, each command in a
//! fresh process group that an interrupt stops whole, with the variables
//! DVC gives stage commands (`DVC_ROOT`, `DVC_STAGE`).

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::pipeline::repro::{Event, Events};
use crate::pipeline::Stage;

/// Runs a stage's commands through the shell in its wdir, each in a fresh
/// process group. Err: why it failed.
pub(crate) fn run_stage(
    root: &Path,
    stage: &Stage,
    parallel: bool,
    withheld: &[String],
    events: &dyn Events,
    interrupted: &AtomicBool,
) -> Result<(), String> {
    let wdir = root.join(&stage.wdir);
    for cmd in &stage.cmd {
        let (mut c, shell) = supervised(shell_command(cmd));
        c.current_dir(&wdir).process_group(0);
        // What DVC gives stage commands (loggers such as dvclive read them),
        // and the same under mlci's name.
        if crate::environment::get_os("DVC_ROOT").is_none() {
            c.env("DVC_ROOT", root);
        }
        c.env("DVC_STAGE", &stage.name)
            .env("MLCI_ROOT", root)
            .env("MLCI_STAGE", &stage.name);
        for var in withheld {
            c.env_remove(var);
        }
        if parallel {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = c
            .spawn()
            .map_err(|e| format!("cannot start the shell `{shell}`: {e}"))?;
        let pid = child.id();
        let status = std::thread::scope(|s| {
            if parallel {
                let out = child.stdout.take().expect("piped");
                let err = child.stderr.take().expect("piped");
                let name = stage.name.as_str();
                s.spawn(move || forward(out, name, false, events));
                s.spawn(move || forward(err, name, true, events));
            }
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => return Ok(status),
                    Ok(None) => {}
                    Err(e) => return Err(format!("waiting for the command: {e}")),
                }
                if interrupted.load(Ordering::SeqCst) {
                    kill_group(pid);
                    let _ = child.wait();
                    return Err("interrupted".to_string());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })?;
        if !status.success() {
            return Err(match (status.code(), status.signal()) {
                (Some(code), _) => format!("`{cmd}` exited with code {code}"),
                (None, Some(sig)) => format!("`{cmd}` was killed by signal {sig}"),
                _ => format!("`{cmd}` failed"),
            });
        }
    }
    Ok(())
}

/// The command that runs `cmd` as DVC runs it (`dvc/stage/run.py`): in
/// `$SHELL` when set, else `/bin/sh`, with the flags that keep bash and zsh
/// from reading rc files (so a profile cannot change what a stage does).
/// Returns the command and the shell's path.
pub(super) fn shell_command(cmd: &str) -> (Command, String) {
    let (argv, shell) = shell_argv(cmd);
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    (c, shell)
}

/// The same command run under the stage supervisor (`supervise.rs`), the
/// leader of the stage's process group that kills the group when mlci dies.
/// Without a path to our own binary (it cannot happen on Linux short of a
/// deleted executable) the shell runs unsupervised, as before.
fn supervised((c, shell): (Command, String)) -> (Command, String) {
    let Ok(exe) = std::env::current_exe() else {
        return (c, shell);
    };
    let mut s = Command::new(exe);
    s.arg(super::supervise::ARG)
        .arg(c.get_program())
        .args(c.get_args());
    (s, shell)
}

/// `shell_command`'s program and arguments.
fn shell_argv(cmd: &str) -> (Vec<std::ffi::OsString>, String) {
    let shell = crate::environment::get("SHELL")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let name = Path::new(&shell)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut argv: Vec<std::ffi::OsString> = vec![shell.clone().into()];
    match name.as_str() {
        "bash" => argv.extend(["--noprofile".into(), "--norc".into()]),
        "zsh" => argv.push("--no-rcs".into()),
        _ => {}
    }
    argv.extend(["-c".into(), cmd.into()]);
    (argv, shell)
}

fn forward(pipe: impl std::io::Read, stage: &str, stderr: bool, events: &dyn Events) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut buf) {
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        events.event(Event::Line {
            stage,
            line: line.trim_end_matches('\n'),
            stderr,
        });
        buf.clear();
    }
}

fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
    }
}
