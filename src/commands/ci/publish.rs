//! Publishing the CI report through a [`Forge`]: the sticky comment, the
//! `mlci/gate` status and check run, the artifact a `workflow_run`
//! publisher takes, and that publisher itself (`--publish-from`), which
//! posts a fork's saved report without running any of its code.

use std::path::{Path, PathBuf};

use crate::ci::env::CiEnv;
use crate::exit::Exit;
use crate::forge::{Author, ForgeError, Verdict};
use crate::review::gate::GateResult;

use super::super::Ctx;

/// What a run leaves for a `workflow_run` publisher (`result.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PublishRecord {
    pub version: u32,
    pub repository: Option<String>,
    pub event: String,
    pub pr: Option<u64>,
    pub head_sha: Option<String>,
    pub passed: bool,
    pub error: bool,
    pub key: String,
    /// The commit status context of the run's leg (`mlci/gate` when the
    /// job ran once; records from before legs read as that).
    #[serde(default = "default_context")]
    pub context: String,
    /// How the pipeline went (`{"state": "failed", "stage", "why"}`, ...).
    #[serde(default = "pipeline_ok")]
    pub pipeline: crate::review::outcome::PipelineRun,
    /// Committed files the run recomputed with other content.
    #[serde(default)]
    pub stale: Vec<String>,
}

fn pipeline_ok() -> crate::review::outcome::PipelineRun {
    crate::review::outcome::PipelineRun::Ok
}

fn default_context() -> String {
    "mlci/gate".into()
}

/// Publishing flags, as one value.
pub(super) struct Publish {
    pub comment: bool,
    pub status: bool,
    pub check_run: bool,
    pub key: Option<String>,
    pub author: Option<String>,
    pub token: Option<String>,
    /// `--artifact-dir` (default `$RUNNER_TEMP/mlci-publish`).
    pub artifact_dir: Option<PathBuf>,
}

fn save_record(dir: &Path, record: &PublishRecord, report: &str) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    crate::fsutil::write_atomic(&dir.join("report.md"), report.as_bytes())?;
    crate::fsutil::write_atomic(
        &dir.join("result.json"),
        serde_json::to_string_pretty(record)?.as_bytes(),
    )?;
    Ok(())
}

/// The commit status's and check run's one line: the gates' verdict as
/// the report words it, or that the run failed.
fn status_text(verdict: Verdict, gates: &[GateResult]) -> String {
    match verdict {
        Verdict::Error => "mlci ci failed: see the run's log".into(),
        Verdict::Passed | Verdict::Failed => crate::review::gate::verdict_line(gates, true),
    }
}

/// Warns once that the token is read-only and where the report went.
fn warn_read_only(ctx: &Ctx) {
    ctx.printer.warn(
        "the token cannot write to this repository (a fork's pull request gets a read-only token): \
         the report is in the job summary and the artifact directory; publish it from a `workflow_run` \
         workflow with `mlci ci --publish-from DIR` (see the README)",
    );
}

/// Saves the artifact for a `workflow_run` publisher, then posts the
/// comment, status and check run this run asks for through the forge. A
/// read-only token is a warning, not an error. Returns the comment's URL
/// and the artifact directory.
pub(super) fn publish_report(
    ctx: &Ctx,
    env: &CiEnv,
    p: &Publish,
    report: &str,
    verdict: Verdict,
    outcome: &crate::review::outcome::Outcome,
) -> anyhow::Result<(Option<String>, Option<PathBuf>)> {
    let gates = outcome.gates.as_slice();
    let saved_to = p.artifact_dir.clone().or_else(|| env.artifact_dir());
    if let Some(dir) = &saved_to {
        let record = PublishRecord {
            version: 1,
            repository: env.repository.clone(),
            event: env.event_name.clone(),
            pr: env.pr_number(),
            head_sha: env.status_sha(),
            passed: verdict == Verdict::Passed,
            context: env.status_context(),
            error: verdict == Verdict::Error,
            key: p.key.clone().unwrap_or_else(|| env.default_key()),
            pipeline: outcome.pipeline.clone(),
            stale: outcome.stale.iter().map(|f| f.path.clone()).collect(),
        };
        save_record(dir, &record, report)?;
    }
    Ok((
        publish_to_forge(ctx, env, p, report, verdict, gates)?,
        saved_to,
    ))
}

fn publish_to_forge(
    ctx: &Ctx,
    env: &CiEnv,
    p: &Publish,
    report: &str,
    verdict: Verdict,
    gates: &[GateResult],
) -> anyhow::Result<Option<String>> {
    let wants_comment = p.comment && env.pr_number().is_some();
    if !wants_comment && !p.status && !p.check_run {
        return Ok(None);
    }
    let Some(token) = p.token.as_deref().filter(|t| !t.is_empty()) else {
        ctx.printer
            .warn("no GITHUB_TOKEN: the report is only in the job summary");
        return Ok(None);
    };
    let gh = env.forge(token)?;
    let run_link = env.run_link();
    let read_only = |e: &ForgeError| e.is_read_only();
    let mut url = None;
    if wants_comment {
        let pr = env.pr_number().expect("checked above");
        let key = p.key.clone().unwrap_or_else(|| env.default_key());
        let login = p
            .author
            .clone()
            .map_or_else(|| gh.identity(), Author::Login);
        match gh.upsert_comment(pr, &key, report, run_link.as_deref(), &login) {
            Ok(posted) => {
                ctx.printer.info(&format!(
                    "{} the report comment on pull request #{pr}: {}",
                    if posted.updated { "updated" } else { "posted" },
                    posted.url
                ));
                url = Some(posted.url);
            }
            Err(e) if read_only(&e) => {
                warn_read_only(ctx);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(sha) = env.status_sha() else {
        return Ok(url);
    };
    if p.status {
        let text = status_text(verdict, gates);
        match gh.set_status(
            &sha,
            &env.status_context(),
            verdict,
            &text,
            run_link.as_deref(),
        ) {
            Ok(()) => {}
            Err(e) if read_only(&e) => {
                warn_read_only(ctx);
                return Ok(url);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if p.check_run {
        let text = status_text(verdict, gates);
        match gh.check_run(&sha, &env.check_run_name(), verdict, &text, report) {
            Ok(()) => {}
            Err(e) if read_only(&e) => warn_read_only(ctx),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(url)
}

/// The largest `result.json` and `report.md` the publisher reads from an
/// artifact, in bytes: the record is a few hundred bytes, and a comment
/// holds 65,536 characters (at most four bytes each).
const RECORD_LIMIT: u64 = 64 * 1024;
const REPORT_READ_LIMIT: u64 = 4 * crate::forge::BODY_LIMIT as u64;

/// Reads at most `limit` bytes of `path` (an artifact file a fork wrote).
fn read_capped(path: &Path, limit: u64) -> anyhow::Result<(String, bool)> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    let cut = bytes.len() as u64 > limit;
    bytes.truncate(limit as usize);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), cut))
}

/// The verdict the publisher posts, from its own reading: GitHub's
/// conclusion of the triggering run (`workflow_run.conclusion`) and the
/// record's word, where the record may only make the verdict worse. A run
/// GitHub saw fail can never be published as passed.
fn published_verdict(conclusion: Option<&str>, record: &PublishRecord) -> Verdict {
    let said = if record.error {
        Verdict::Error
    } else if record.passed {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    match (conclusion, said) {
        (Some("success"), said) => said,
        // `mlci ci` exits 1 on a failed gate, which fails the job.
        (Some("failure"), Verdict::Failed) => Verdict::Failed,
        _ => Verdict::Error,
    }
}

/// `mlci ci --publish-from DIR` in a `workflow_run` workflow: posts what a
/// pull request's run saved, without running its code. Everything in the
/// artifact is untrusted: it must be for the commit that triggered this
/// run, which must still be the pull request's head; the comment key and
/// the status context are this invocation's own (`--comment-key` or the
/// triggering workflow's name; `mlci/gate` or this job's leg), never the
/// record's; the verdict is GitHub's conclusion of the run, which the
/// record may only worsen; and the report is posted through
/// [`crate::forge::quarantine_report`]. The status says whose word the
/// verdict is.
pub(super) fn publish_saved(
    ctx: &Ctx,
    env: &CiEnv,
    dir: &Path,
    p: &Publish,
) -> anyhow::Result<Exit> {
    use crate::error::hinted;
    if !(env.actions && env.event_name == "workflow_run") {
        return Err(hinted(
            "--publish-from runs in a GitHub Actions job triggered by `workflow_run`",
            "see the README's fork-safe workflow pair",
        ));
    };
    let record_path = dir.join("result.json");
    let (text, cut) = read_capped(&record_path, RECORD_LIMIT)?;
    let record: PublishRecord = if cut {
        Err(format!("larger than {RECORD_LIMIT} bytes"))
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
    .map_err(|e| {
        hinted(
            format!("{}: not an mlci result: {e}", record_path.display()),
            "download the artifact that `mlci ci` wrote (its `artifact-dir` output)",
        )
    })?;
    let (report, _) = read_capped(&dir.join("report.md"), REPORT_READ_LIMIT)?;
    let report = crate::forge::quarantine_report(&report, REPORT_READ_LIMIT as usize);
    let run = &env.payload["workflow_run"];
    let trusted_head = run["head_sha"]
        .as_str()
        .ok_or_else(|| {
            hinted(
                "the workflow_run payload has no head_sha",
                "run on `workflow_run` events",
            )
        })?
        .to_string();
    if record.head_sha.as_deref() != Some(trusted_head.as_str()) {
        return Err(hinted(
            format!(
                "the artifact is for commit {}, but the run that made it was for {trusted_head}",
                record.head_sha.as_deref().unwrap_or("(none)")
            ),
            "download the artifact of the triggering run (`run-id: ${{ github.event.workflow_run.id }}`)",
        ));
    }
    if let (Some(theirs), Some(ours)) = (&record.repository, &env.repository) {
        if !theirs.eq_ignore_ascii_case(ours) {
            return Err(hinted(
            format!("the artifact is for repository {theirs}, not {ours}"),
            "download the artifact of the triggering run (`run-id: ${{ github.event.workflow_run.id }}`)",
            ));
        }
    }
    let Some(pr) = record.pr else {
        ctx.printer
            .info("the saved run was not for a pull request: nothing to publish");
        return Ok(Exit::Ok);
    };
    let Some(token) = p.token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(hinted(
            "no GITHUB_TOKEN to publish with",
            "pass `github-token`",
        ));
    };
    let gh = env.forge(token)?;
    let head = gh.pr_head_sha(pr)?;
    if head != trusted_head {
        return Err(hinted(
            format!("pull request #{pr}'s head is {head}, not the commit the artifact was made for ({trusted_head})"),
            "a newer push is being checked; its own run will publish",
        ));
    }
    let verdict = published_verdict(run["conclusion"].as_str(), &record);
    let context = env.status_context();
    if record.context != context {
        ctx.printer.warn(&format!(
            "the artifact asks for status context `{}`: ignored, this job publishes `{context}` (set MLCI_JOB_LEG or MLCI_MATRIX on the publisher to publish a leg)",
            crate::review::report::md_escape(&record.context)
        ));
    }
    let run_link = run["html_url"].as_str().map(str::to_string);
    let mut url = String::new();
    if p.comment {
        let login = p
            .author
            .clone()
            .map_or_else(|| gh.identity(), Author::Login);
        let key = p
            .key
            .clone()
            .unwrap_or_else(|| env.publisher_key(run["name"].as_str()));
        let posted = gh.upsert_comment(pr, &key, &report, run_link.as_deref(), &login)?;
        ctx.printer.info(&format!(
            "{} the report comment on pull request #{pr}: {}",
            if posted.updated { "updated" } else { "posted" },
            posted.url
        ));
        url = posted.url;
    }
    if p.status {
        let text = format!(
            "{} (as reported by the pull request's own run)",
            match verdict {
                Verdict::Passed => "gates passed",
                Verdict::Failed => "a gate failed",
                Verdict::Error => "the run failed",
            }
        );
        gh.set_status(&trusted_head, &context, verdict, &text, run_link.as_deref())?;
    }
    env.set_outputs(&[
        ("passed", (verdict == Verdict::Passed).to_string()),
        ("comment-url", url),
    ])?;
    // The verdict is the pull request's check (its status and comment, and
    // the `passed` output above), not the publisher's: a publisher that
    // published it succeeded.
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(passed: bool, error: bool) -> PublishRecord {
        PublishRecord {
            version: 1,
            repository: None,
            event: "pull_request".into(),
            pr: Some(1),
            head_sha: None,
            passed,
            error,
            key: "k".into(),
            context: "ci/required-tests".into(),
            pipeline: crate::review::outcome::PipelineRun::Ok,
            stale: vec![],
        }
    }

    #[test]
    fn the_record_can_only_worsen_what_github_saw() {
        let cases = [
            (Some("success"), record(true, false), Verdict::Passed),
            (Some("success"), record(false, false), Verdict::Failed),
            (Some("success"), record(true, true), Verdict::Error),
            (Some("failure"), record(false, false), Verdict::Failed),
            (Some("failure"), record(true, false), Verdict::Error),
            (Some("cancelled"), record(true, false), Verdict::Error),
            (None, record(true, false), Verdict::Error),
        ];
        for (conclusion, r, want) in cases {
            assert_eq!(published_verdict(conclusion, &r), want, "{conclusion:?}");
        }
    }
}
