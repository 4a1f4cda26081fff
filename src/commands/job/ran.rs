//! What the repro step of a CI job saw: the stages that ran (and why),
//! were restored, failed or were left unrun, and how the pipeline went.

use std::sync::Mutex;

use crate::commands::stages::Printing;
use crate::pipeline::repro::{Event, Events};
use crate::review::outcome::PipelineRun;
use crate::review::report::StageView;

/// Prints repro progress like `mlci repro` and remembers what ran, why,
/// and the first stage that failed.
pub(in crate::commands) struct Collect<'p> {
    pub(in crate::commands) print: Printing<'p>,
    pub(in crate::commands) ran: Mutex<Vec<StageView>>,
    pub(in crate::commands) failed: Mutex<Option<(String, String)>>,
}

impl Events for Collect<'_> {
    fn event(&self, e: Event<'_>) {
        let ran = match &e {
            Event::Running { stage, reasons, .. } => Some(StageView::new(stage, reasons)),
            Event::Restored { stage } => {
                Some(StageView::noted(stage, "restored from the run cache"))
            }
            Event::Skipped { stage, why } => {
                let mut v = StageView::noted(stage, &format!("not run: {why}"));
                v.outcome = "skipped".into();
                Some(v)
            }
            Event::Failed { stage, why } => {
                let mut views = self.ran.lock().expect("lock");
                if let Some(v) = views.iter_mut().rev().find(|v| v.name == *stage) {
                    v.failed(why);
                }
                self.failed
                    .lock()
                    .expect("lock")
                    .get_or_insert_with(|| (stage.to_string(), why.to_string()));
                None
            }
            _ => None,
        };
        self.ran.lock().expect("lock").extend(ran);
        self.print.event(e);
    }
}

/// What the repro step saw: the stages that ran and the first failure.
pub(in crate::commands) struct Ran {
    pub(in crate::commands) stages: Vec<StageView>,
    pub(in crate::commands) failed: Option<(String, String)>,
}

/// How the pipeline went: a failed stage (as the repro step saw it), else
/// the job's first error before or during the run, else fine.
pub(in crate::commands) fn pipeline_run(
    ran: Option<&Ran>,
    error: Option<&anyhow::Error>,
) -> PipelineRun {
    if let Some((stage, why)) = ran.and_then(|r| r.failed.clone()) {
        return PipelineRun::Failed { stage, why };
    }
    match error {
        Some(e) => PipelineRun::CouldNotRun {
            why: e.to_string().lines().next().unwrap_or_default().to_string(),
        },
        None => PipelineRun::Ok,
    }
}
