//! The outcome of one job (`mlci ci`, `mlci retrain`): how the pipeline
//! went, what each stage did, which committed results the run made stale,
//! and the gates' results, as one value from which the report's headline,
//! the commit status, the check run, the step outputs and `result.json`
//! all take their verdict. A failed or skipped pipeline is never a pass:
//! gates judged on metrics the run did not produce say nothing.

use serde::Serialize;

use crate::forge::Verdict;
use crate::review::gate::GateResult;

/// How the pipeline went in this job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PipelineRun {
    /// Every stale stage ran (or none was stale), or the job was asked not
    /// to run the pipeline (`--no-repro`): the workspace is judged as is.
    Ok,
    /// A stage failed: its name and why (`` `python3 train.py` exited with
    /// code 3 ``).
    Failed { stage: String, why: String },
    /// The pipeline could not start or finish for another reason (a
    /// remote, a missing dependency, an interrupt): the error's first line.
    CouldNotRun { why: String },
}

impl PipelineRun {
    pub fn is_ok(&self) -> bool {
        matches!(self, PipelineRun::Ok)
    }

    /// The headline when the pipeline did not succeed, None when it did:
    /// `code` quotes a stage name, `escape` any other text (plain text:
    /// backticks and nothing; Markdown: a code span and escaping).
    pub fn headline(
        &self,
        code: &dyn Fn(&str) -> String,
        escape: &dyn Fn(&str) -> String,
    ) -> Option<String> {
        const NOT_JUDGED: &str =
            ". Gates not judged: the metrics are the committed ones, not this run's";
        match self {
            PipelineRun::Ok => None,
            PipelineRun::Failed { stage, why } => Some(format!(
                "Pipeline failed: stage {}: {}{NOT_JUDGED}",
                code(stage),
                escape(why)
            )),
            PipelineRun::CouldNotRun { why } => Some(format!(
                "Pipeline could not run: {}{NOT_JUDGED}",
                escape(why)
            )),
        }
    }
}

/// A committed file this job's run recomputed with different content: the
/// pull request carries results its code did not produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleFile {
    pub path: String,
}

/// The committed files a run in the work tree at `root` changed: the lock
/// file and every `cache: false` output (metrics, plots, small outputs
/// kept in git) whose content now differs from `HEAD`'s. A file `HEAD`
/// lacks is not stale (nothing was committed). Sorted by path.
pub fn stale_committed(
    root: &std::path::Path,
    pipeline: &crate::pipeline::Pipeline,
) -> anyhow::Result<Vec<StaleFile>> {
    let head = git2::Repository::open(root)?.head()?.peel_to_commit()?.id();
    let paths = std::iter::once(crate::pipeline::lock::LOCK_FILE.to_string()).chain(
        pipeline
            .stages
            .iter()
            .flat_map(|s| &s.outs)
            .filter(|o| !o.cache)
            .map(|o| o.path.to_string()),
    );
    Ok(crate::revision::worktree_changes(root, head, paths)?
        .into_iter()
        .filter(|c| c.committed.is_some())
        .map(|c| StaleFile { path: c.path })
        .collect())
}

/// The job's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub pipeline: PipelineRun,
    /// Committed files the run changed (`mlci.lock`, `cache: false`
    /// metrics and plots), sorted.
    pub stale: Vec<StaleFile>,
    /// Whether stale committed results fail the job (`--require-fresh`).
    pub require_fresh: bool,
    /// The stale files, committed and pushed to the pull request's branch
    /// (`--commit-back`).
    pub refreshed: Option<crate::ci::commit_back::Refreshed>,
    /// Every gate's result (metric gates, drift rules, monitor rules).
    pub gates: Vec<GateResult>,
}

impl Outcome {
    /// The one verdict: an error when the pipeline did not succeed, a
    /// failure when a gate failed or required-fresh results are stale,
    /// else a pass.
    pub fn verdict(&self) -> Verdict {
        if !self.pipeline.is_ok() {
            Verdict::Error
        } else if self.gates.iter().any(|g| !g.passed) || self.stale_fails() {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    /// Whether stale committed results fail this job.
    pub fn stale_fails(&self) -> bool {
        self.require_fresh && !self.stale.is_empty() && self.refreshed.is_none()
    }

    /// The commands that refresh the stale files, for the report.
    pub fn refresh_commands(&self) -> Option<String> {
        if self.stale.is_empty() {
            return None;
        }
        let files: Vec<&str> = self.stale.iter().map(|f| f.path.as_str()).collect();
        Some(format!(
            "mlci repro && git add {} && git commit -m \"Refresh results\"",
            files.join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(pipeline: PipelineRun, gate_passes: &[bool], stale: bool, strict: bool) -> Outcome {
        Outcome {
            pipeline,
            stale: if stale {
                vec![StaleFile {
                    path: "mlci.lock".into(),
                }]
            } else {
                vec![]
            },
            require_fresh: strict,
            refreshed: None,
            gates: gate_passes
                .iter()
                .map(|p| {
                    let mut g = crate::review::gate::check(
                        "acc",
                        "m.json",
                        crate::review::gate::Rule::Min(0.5),
                        Some(&serde_json::json!(if *p { 0.9 } else { 0.1 })),
                        None,
                    );
                    g.passed = *p;
                    g
                })
                .collect(),
        }
    }

    #[test]
    fn a_failed_pipeline_is_an_error_whatever_the_gates_say() {
        let failed = PipelineRun::Failed {
            stage: "train".into(),
            why: "`python3 train.py` exited with code 3".into(),
        };
        assert_eq!(
            outcome(failed.clone(), &[true, true], false, false).verdict(),
            Verdict::Error
        );
        assert_eq!(
            outcome(failed, &[false], true, true).verdict(),
            Verdict::Error
        );
        let could_not = PipelineRun::CouldNotRun { why: "x".into() };
        assert_eq!(
            outcome(could_not, &[], false, false).verdict(),
            Verdict::Error
        );
        assert_eq!(
            outcome(PipelineRun::Ok, &[true], false, false).verdict(),
            Verdict::Passed
        );
        assert_eq!(
            outcome(PipelineRun::Ok, &[true, false], false, false).verdict(),
            Verdict::Failed
        );
        assert_eq!(
            outcome(PipelineRun::Ok, &[true], true, false).verdict(),
            Verdict::Passed
        );
        assert_eq!(
            outcome(PipelineRun::Ok, &[true], true, true).verdict(),
            Verdict::Failed
        );
    }
}
