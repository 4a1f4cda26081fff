//! `mlci ci`: the whole ML CI job in one command, as named steps.
//!
//! pull → repro → push → base → report (with the gates' verdict) → publish
//! → exit with the verdict. Each step is one call into the domain; this
//! file only orders them and keeps the first error. Everything about the
//! CI run's environment comes from [`CiEnv`] (read once), and publishing
//! goes through the [`crate::forge::Forge`] trait (see `publish.rs`).
//!
//! Locally the report goes to stdout; in GitHub Actions it is also appended
//! to the job summary, outputs are set and failed gates are annotated.
//! Exit: 2 if any step erred, else 1 if a gate failed, else 0; the report
//! is published whenever it can be built. A remote that refuses the
//! credentials (a fork's pull request has none) is a warning: pull and push
//! are skipped, the report and gate still run.

mod deliver;
mod publish;

use std::path::PathBuf;

use clap::Args;

use crate::ci::env::{CiEnv, EventBase};
use crate::ci::workflow;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::forge::Verdict;

use super::job::{pipeline_run, step_open_remote, step_pull, step_push, step_repro, Job, Ran};
use super::Ctx;
use crate::review::assemble::{build, Built, ReportOptions};
pub use publish::PublishRecord;

/// Run the ML CI job: rerun stale stages, evaluate gates, render the report
/// and publish it, then exit with the verdict (0 pass, 1 a gate failed, 2 an
/// error). Works the same on a laptop (report on stdout) and in GitHub
/// Actions (also the job summary, step outputs and annotations).
#[derive(Debug, Args)]
pub struct CiArgs {
    /// Compare with REV instead of the event's base (or the default base).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Do not run `repro`; report on the workspace as it is.
    #[arg(long)]
    pub no_repro: bool,
    /// Run up to N independent stages at once.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Do not restore stage outputs from the run cache.
    #[arg(long)]
    pub no_run_cache: bool,
    /// Let stage commands inherit the publishing token and the runner's
    /// command files (GITHUB_TOKEN, GITHUB_OUTPUT, GITHUB_ENV, …), which
    /// they do not see by default. Also MLCI_STAGES_SEE_CI_SECRETS=1.
    #[arg(long)]
    pub stages_see_ci_secrets: bool,
    /// Do not fetch data and run records from the remote before repro.
    #[arg(long)]
    pub no_pull: bool,
    /// Do not push new outputs and run records after repro.
    #[arg(long)]
    pub no_push: bool,
    /// Fail the check (exit 1) when the run recomputed results the pull
    /// request commits (`mlci.lock`, `cache: false` metrics and plots)
    /// with other content: main then never receives results its code did
    /// not produce. Also MLCI_REQUIRE_FRESH=1.
    #[arg(long, env = "MLCI_REQUIRE_FRESH")]
    pub require_fresh: bool,
    /// On a same-repository pull request: commit the stale results on top
    /// of its head and push them to its branch (a push with the workflow's
    /// own token starts no workflow: docs/ci.md). Also MLCI_COMMIT_BACK=1.
    #[arg(long, env = "MLCI_COMMIT_BACK")]
    pub commit_back: bool,
    /// The remote (default: `core.remote`, or the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Report template (default: report.template in mlci.yaml, else built in).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Also write plots as SVG files into DIR.
    #[arg(long, value_name = "DIR")]
    pub plots_dir: Option<PathBuf>,
    /// Where the SVGs of --plots-dir will be published (an https:// URL
    /// of the directory): the comment shows each plot as an image from
    /// there, above its chart (docs/review.md: publishing pictures).
    #[arg(long, value_name = "URL", requires = "plots_dir", env = "MLCI_PLOTS_URL",
          value_parser = crate::review::svg::plots_url)]
    pub plots_url: Option<String>,
    /// Where to save the report (default: $RUNNER_TEMP/mlci-report.md in
    /// GitHub Actions, else .mlci/tmp/report.md).
    #[arg(long, value_name = "FILE")]
    pub report_file: Option<PathBuf>,
    /// Do not post or update the pull request comment.
    #[arg(long)]
    pub no_comment: bool,
    /// Also set the commit status `mlci/gate` on the pull request's head.
    #[arg(long)]
    pub status: bool,
    /// Also create a check run `mlci` (needs `checks: write`).
    #[arg(long)]
    pub check_run: bool,
    /// The sticky comment's key (default: $GITHUB_WORKFLOW/$GITHUB_JOB).
    #[arg(long, value_name = "KEY")]
    pub comment_key: Option<String>,
    /// The login whose comment is updated (default: the token's user, or
    /// any bot account when the token may not say who it is: the workflow
    /// token, a GitHub App's installation token).
    #[arg(long, value_name = "LOGIN")]
    pub comment_author: Option<String>,
    /// The GitHub token (default: GITHUB_TOKEN; never printed, masked in
    /// the log).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Where to write `report.md` and `result.json` for an artifact
    /// (default: $RUNNER_TEMP/mlci-publish in GitHub Actions).
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Publish a report another run saved (a fork's pull request) from a
    /// `workflow_run` workflow, without running any of its code.
    #[arg(long, value_name = "DIR")]
    pub publish_from: Option<PathBuf>,
    /// On a push of a registry tag that assigns a stage: also record a
    /// GitHub Deployment to the environment named by the stage (needs
    /// `deployments: write`).
    #[arg(long)]
    pub deployment: bool,
    /// In the deploy job, after the deployment: mark the GitHub Deployment
    /// ID (the hand-off's `deployment-id` output) successful, which makes
    /// it the environment's active one; with `--deployment-failed`, failed.
    #[arg(long, value_name = "ID")]
    pub finish_deployment: Option<u64>,
    /// With --finish-deployment: the deployment failed.
    #[arg(long, requires = "finish_deployment")]
    pub deployment_failed: bool,
    /// The branch whose mlci.yaml holds the promotion policy (default: the
    /// event's repository default branch).
    #[arg(long, value_name = "BRANCH")]
    pub default_branch: Option<String>,
}

pub fn cmd_ci(ctx: &Ctx, args: CiArgs) -> anyhow::Result<Exit> {
    let CiArgs {
        base,
        no_repro,
        jobs,
        no_run_cache,
        stages_see_ci_secrets,
        no_pull,
        no_push,
        require_fresh,
        commit_back,
        remote,
        template,
        plots_dir,
        plots_url,
        report_file,
        no_comment,
        status,
        check_run,
        comment_key,
        comment_author,
        token,
        artifact_dir,
        publish_from,
        deployment,
        finish_deployment,
        deployment_failed,
        default_branch,
    } = args;
    let env = CiEnv::from_env();
    let token = token.or_else(|| env.token.clone().map(|t| t.0));
    if let Some(t) = &token {
        ctx.printer.secrets().add(t);
        if env.actions {
            // Before anything could print it.
            ctx.printer.unscrubbed(&workflow::mask(t))?;
        }
    }
    if let Some(id) = finish_deployment {
        return deliver::finish(ctx, &env, token.as_deref(), id, !deployment_failed);
    }
    // A pushed registry tag is the deploy hand-off, not a CI run.
    if let Some(tag) = deliver::registry_tag(&env) {
        let d = deliver::Deliver {
            tag: &tag,
            deployment,
            token: token.as_deref(),
            default_branch,
        };
        return deliver::deliver(ctx, &env, &d);
    }
    let publish = publish::Publish {
        comment: !no_comment,
        status,
        check_run,
        key: comment_key,
        author: comment_author,
        token,
        artifact_dir: artifact_dir.map(|d| ctx.cwd.join(d)),
    };
    if let Some(dir) = publish_from {
        return publish::publish_saved(ctx, &env, &ctx.cwd.join(dir), &publish);
    }
    let repo = ctx.repo_in_place(&Overrides {
        remote,
        ..Overrides::default()
    })?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let mut job = Job {
        ctx,
        env,
        repo,
        pipeline,
        remote: None,
        error: None,
        force: Vec::new(),
        pull: !no_pull,
    };
    step_open_remote(&mut job);
    if !no_pull {
        step_pull(&mut job, !no_run_cache);
    }
    let ran = if no_repro {
        None
    } else {
        Some(step_repro(
            &mut job,
            jobs,
            !no_run_cache,
            stages_see_ci_secrets,
        )?)
    };
    let pipeline_run = pipeline_run(ran.as_ref(), job.error.as_ref());
    let stale = step_stale(&job, ran.as_ref(), &pipeline_run);
    if !no_push && job.error.is_none() {
        step_push(&mut job, !no_run_cache);
    }
    // After the push: the refreshed lock names outputs the remote holds.
    let refreshed = match commit_back && !stale.is_empty() && job.error.is_none() {
        true => step_commit_back(&job, &stale, publish.token.as_deref()),
        false => None,
    };
    let base = match base {
        Some(b) => Some(crate::review::compare::Base::rev(&b)),
        None => step_event_base(&mut job),
    };
    let beside = step_beside_gates(ctx, &mut job);
    let opts = ReportOptions {
        base,
        target: "workspace".into(),
        template: template.map(|t| ctx.cwd.join(t)),
        all: false,
        precision: 5,
        plots_dir: plots_dir.map(|d| ctx.cwd.join(d)),
        plots_url,
        ran: ran.map(|r| r.stages),
        run_link: job.env.run_link(),
        beside,
        pipeline_run,
        stale,
        require_fresh,
        refreshed,
    };
    step_report(job, &opts, report_file, &publish)
}

/// Results this run recomputed that the pull request commits: named in
/// the report (and failing it under --require-fresh).
fn step_stale(
    job: &Job,
    ran: Option<&Ran>,
    pipeline_run: &crate::review::outcome::PipelineRun,
) -> Vec<crate::review::outcome::StaleFile> {
    match ran {
        Some(r) if pipeline_run.is_ok() && !r.stages.is_empty() => {
            match crate::review::outcome::stale_committed(&job.repo.root, &job.pipeline) {
                Ok(stale) => stale,
                Err(e) => {
                    // Said, never taken as fresh in silence.
                    job.ctx.printer.warn(&format!(
                        "could not compare the committed results with this run's: {e:#}"
                    ));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    }
}

/// Commits the stale results back to the pull request's branch; a refusal
/// (a fork, no token, a branch that moved) is a warning and the report
/// names the stale files as without the flag.
fn step_commit_back(
    job: &Job,
    stale: &[crate::review::outcome::StaleFile],
    token: Option<&str>,
) -> Option<crate::ci::commit_back::Refreshed> {
    let files: Vec<String> = stale.iter().map(|f| f.path.clone()).collect();
    match crate::ci::commit_back::commit_back(&job.repo.root, &job.env, &files, ("origin", token)) {
        Ok(r) => Some(r),
        Err(e) => {
            job.ctx
                .printer
                .warn(&format!("{e}; the stale results stay named in the report"));
            None
        }
    }
}

/// Builds the report from the job's outcome, publishes it, and gives the
/// exit code: 2 on any error of the job, 1 when the outcome fails, else 0.
fn step_report(
    mut job: Job,
    opts: &ReportOptions,
    report_file: Option<PathBuf>,
    publish: &publish::Publish,
) -> anyhow::Result<Exit> {
    let ctx = job.ctx;
    let mut failed = false;
    match build(&job.repo, &job.pipeline, opts) {
        Ok(mut built) => {
            // Whatever reached the report, no credential of this process
            // leaves in it.
            built.text = ctx.printer.secrets().scrub(&built.text).into_owned();
            failed = built.outcome.verdict() == Verdict::Failed;
            step_publish(&mut job, &built, report_file, publish)?;
        }
        Err(e) => job.fail(e.into()),
    }
    if let Some(e) = job.error {
        ctx.printer.error(&e);
        return Ok(Exit::Error);
    }
    Ok(if failed { Exit::Differs } else { Exit::Ok })
}

/// mlci.yaml's `drift:` rules and `monitor:` log on the workspace: gate
/// results and report sections (none after an error, which the job
/// keeps); and the experiments recorded on HEAD.
fn step_beside_gates(ctx: &Ctx, job: &mut Job) -> crate::review::report::BesideGates {
    let judged =
        crate::monitoring::rules::judged_beside_gates(&job.repo, &job.pipeline, "workspace");
    let mut beside = match judged {
        Ok(rules) => rules,
        Err(e) => {
            job.fail(e.into());
            Default::default()
        }
    };
    beside.experiments = crate::commands::experiments_section(ctx, &job.repo, &job.pipeline);
    beside
}

/// The base the event implies (docs/design.md §5) and its name as a person
/// would say it: a pull request's base branch (its merge-base's short sha
/// shows beside it), the previous head of a push. None: the default base.
fn step_event_base(job: &mut Job) -> Option<crate::review::compare::Base> {
    let event_base = job.env.base()?;
    let root = &job.repo.root;
    let resolved = match event_base {
        EventBase::MergeBase {
            base,
            head,
            base_ref,
        } => crate::git::merge_base_fetching(root, &base, &head)
            .map(|mb| {
                let label = base_ref.unwrap_or_else(|| crate::ci::env::short(&mb));
                (mb, label, "the pull request's base".to_string())
            })
            .map_err(|e| {
                crate::error::hinted(
                    format!("the pull request's base {base} or head {head} is not in this clone: {e}"),
                    "check out with `fetch-depth: 0` (actions/checkout) so the base revision is available",
                )
            }),
        EventBase::Commit { sha, label, why } => Ok((sha, label, why)),
    };
    match resolved {
        Ok((sha, label, why)) => {
            job.ctx.printer.info(&format!(
                "comparing with {why} ({})",
                crate::ci::env::short(&sha)
            ));
            Some(crate::review::compare::Base {
                rev: sha,
                label: Some(label),
            })
        }
        Err(e) => {
            job.fail(e);
            None
        }
    }
}

/// Prints the report, saves it, and publishes it: job summary, artifact,
/// the forge, step outputs, annotations.
fn step_publish(
    job: &mut Job,
    built: &Built,
    report_file: Option<PathBuf>,
    p: &publish::Publish,
) -> anyhow::Result<()> {
    let ctx = job.ctx;
    // The report holds text from the pull request: in Actions it is
    // fenced, so no line of it runs as a workflow command.
    if job.env.actions {
        let fence = workflow::StopCommands::new();
        ctx.printer.command(&fence.start())?;
        ctx.printer.data(&built.text)?;
        ctx.printer.command(&fence.end())?;
    } else {
        ctx.printer.data(&built.text)?;
    }
    let path = match report_file {
        Some(p) => ctx.cwd.join(p),
        None => job
            .env
            .report_file()
            .unwrap_or_else(|| job.repo.tmp_dir().join("report.md")),
    };
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    crate::fsutil::write_atomic(&path, built.text.as_bytes())?;
    if !job.env.actions {
        return Ok(());
    }
    let env = job.env.clone();
    if env.append_summary(&built.text)? {
        ctx.printer.warn(
            "the report is over GitHub's 1 MiB job-summary limit: the summary has the start of it, this log and the report file have all of it",
        );
    }
    let results = &built.outcome.gates;
    // One verdict, from the outcome; an error the job met after the report
    // was built (a push) still makes it an error.
    let verdict = if job.error.is_some() {
        Verdict::Error
    } else {
        built.outcome.verdict()
    };
    let published = publish::publish_report(ctx, &env, p, &built.text, verdict, &built.outcome);
    let (comment_url, saved_to) = match published {
        Ok(out) => out,
        Err(e) => {
            job.fail(e);
            (None, None)
        }
    };
    // Every data change beside the report, which lists the first ones.
    if let (Some(dir), Some(all)) = (&saved_to, &built.data_changes) {
        crate::fsutil::write_atomic(
            &dir.join("data-changes.json"),
            serde_json::to_string_pretty(all)?.as_bytes(),
        )?;
    }
    let mut outputs = vec![
        ("passed", (verdict == Verdict::Passed).to_string()),
        ("report-path", path.display().to_string()),
        ("comment-url", comment_url.unwrap_or_default()),
    ];
    if let Some(dir) = &saved_to {
        outputs.push(("artifact-dir", dir.display().to_string()));
    }
    env.set_outputs(&outputs)?;
    for r in results.iter().filter(|r| !r.passed).take(ANNOTATIONS) {
        let file = r
            .metric
            .split_once(':')
            .map(|(f, _)| f)
            .unwrap_or(&r.metric);
        let note = r
            .note
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        ctx.printer.command(&workflow::error_annotation(
            file,
            "mlci gate",
            &format!("gate failed: {}{note}", r.text),
        ))?;
    }
    // GitHub shows at most 10 error annotations per step: the rest are
    // counted, and the report lists them all.
    let failed = results.iter().filter(|r| !r.passed).count();
    if failed > ANNOTATIONS {
        ctx.printer.command(&workflow::error_annotation(
            "",
            "mlci gate",
            &format!(
                "{} more gate rules failed: see the report (job summary, pull request comment)",
                failed - ANNOTATIONS
            ),
        ))?;
    }
    Ok(())
}

/// Failed gates annotated one by one; GitHub shows 10 errors per step.
const ANNOTATIONS: usize = 9;
