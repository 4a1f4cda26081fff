//! How the edge runs stages, for `mlci repro` and `mlci ci` alike: their
//! output fenced in GitHub Actions, their progress printed, SIGINT and
//! SIGTERM turned into a flag the domain's repro polls.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::pipeline::repro::{Event, Events};
use crate::printer::Printer;

/// Runs the stages (`run`) with their output fenced with `::stop-commands::`
/// in GitHub Actions, so nothing a stage prints runs as a workflow command.
pub fn run_fenced<T>(printer: &Printer, run: impl FnOnce() -> T) -> std::io::Result<T> {
    if !crate::ci::env::in_actions() {
        return Ok(run());
    }
    let fence = crate::ci::workflow::StopCommands::new();
    printer.command(&fence.start())?;
    let out = run();
    printer.command(&fence.end())?;
    Ok(out)
}

/// Prints repro's progress (shared with `mlci ci`).
pub struct Printing<'p> {
    pub printer: &'p Printer,
}

impl Events for Printing<'_> {
    fn event(&self, e: Event<'_>) {
        match e {
            Event::Running {
                stage,
                reasons,
                cmd,
            } => {
                let mut text = format!("running stage `{stage}`");
                for r in reasons {
                    text.push_str(&format!("\n    {r}"));
                }
                for c in cmd {
                    text.push_str(&format!("\n> {c}"));
                }
                self.printer.info(&text);
            }
            Event::WouldRun { stage, reasons } => {
                let why: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
                let _ = self
                    .printer
                    .data(&format!("would run `{stage}`: {}", why.join("; ")));
            }
            Event::UpToDate { stage } => {
                self.printer.info(&format!("stage `{stage}` is up to date"))
            }
            Event::Restored { stage } => self.printer.info(&format!(
                "restored the outputs of `{stage}` from the run cache"
            )),
            Event::Line {
                stage,
                line,
                stderr,
            } => {
                // One write per line, so parallel stages never interleave mid-line.
                self.printer
                    .stage_output(&format!("[{stage}] {line}\n"), stderr);
            }
            Event::Failed { stage, why } => {
                self.printer.warn(&format!("stage `{stage}` failed: {why}"))
            }
            // The error that stopped the run is printed; the stages it left
            // unrun are listed in the CI report, not here (as DVC).
            Event::Skipped { .. } => {}
        }
    }
}

/// A flag that SIGINT and SIGTERM set, so a running repro can stop its
/// stages' process groups and leave mlci.lock consistent.
pub fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}
