//! `mlci ci`: the whole ML CI job in one command.
//!
//! pull → repro → push → evaluate gates → render the report (with the
//! verdict) → publish → exit with the verdict. Locally the report goes to
//! stdout; in GitHub Actions it is also appended to the job summary, outputs
//! are set and failed gates are annotated. Exit: 2 if any step erred, else 1
//! if a gate failed, else 0; the report is published whenever it can be
//! built. A remote that refuses the credentials (a fork's pull request has
//! none) is a warning: pull and push are skipped, the report and gate still
//! run.
//!
//! Publishing (GitHub Actions with a token): one sticky comment on the pull
//! request, an optional `mlci/gate` commit status and check run. A fork's
//! read-only token degrades to the job summary plus an artifact directory
//! (`report.md`, `result.json`) that a `workflow_run` workflow in the base
//! repository publishes with `mlci ci --publish-from DIR`, after checking
//! that the pull request's head is the commit the artifact was made for.

use crate::exit::Exit;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;

use crate::config::Overrides;
use crate::pipeline::repro::{repro, Event, Events, ReproOptions};
use crate::pipeline::runcache::ObjectSource;
use crate::remote::{Remote, RemoteError};
use crate::report::StageView;
use crate::track::Workspace;

use super::report::{build, ReportOptions};
use super::Ctx;
use crate::action::ActionEnv;
use crate::forge::github::{ForgeError, GitHub};
use crate::forge::Verdict;

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
    /// The remote (default: `core.remote`, or the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Report template (default: report.template in mlci.yaml, else built in).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Also write plots as SVG files into DIR.
    #[arg(long, value_name = "DIR")]
    pub plots_dir: Option<PathBuf>,
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
    /// `github-actions[bot]` for the workflow token).
    #[arg(long, value_name = "LOGIN")]
    pub comment_author: Option<String>,
    /// The GitHub token (never printed; masked in the log).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where to write `report.md` and `result.json` for an artifact
    /// (default: $RUNNER_TEMP/mlci-publish in GitHub Actions).
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Publish a report another run saved (a fork's pull request) from a
    /// `workflow_run` workflow, without running any of its code.
    #[arg(long, value_name = "DIR")]
    pub publish_from: Option<PathBuf>,
}

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
}

/// Publishing flags, as one value.
struct Publish {
    comment: bool,
    status: bool,
    check_run: bool,
    key: Option<String>,
    author: Option<String>,
    token: Option<String>,
}

/// Prints repro progress like `mlci repro` and remembers what ran and why.
struct Collect<'p> {
    print: super::repro::Printing<'p>,
    ran: Mutex<Vec<StageView>>,
}

impl Events for Collect<'_> {
    fn event(&self, e: Event<'_>) {
        let ran = match &e {
            Event::Running { stage, reasons, .. } => Some(StageView::new(stage, reasons)),
            Event::Restored { stage } => {
                Some(StageView::noted(stage, "restored from the run cache"))
            }
            _ => None,
        };
        self.ran.lock().expect("lock").extend(ran);
        self.print.event(e);
    }
}

fn is_shallow(root: &std::path::Path) -> bool {
    git2::Repository::open(root).is_ok_and(|r| r.is_shallow())
}

/// The base GitHub's event implies (docs/design.md §5), if any.
fn event_base(root: &std::path::Path) -> anyhow::Result<Option<(String, String)>> {
    let (Ok(name), Ok(path)) = (
        std::env::var("GITHUB_EVENT_NAME"),
        std::env::var("GITHUB_EVENT_PATH"),
    ) else {
        return Ok(None);
    };
    let payload: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&path)?)
        .map_err(|e| {
            crate::error::hinted(
                format!("{path}: not a GitHub event payload: {e}"),
                "GITHUB_EVENT_PATH must name the event JSON file",
            )
        })?;
    let sha = |v: &serde_json::Value| {
        v.as_str()
            .filter(|s| !s.chars().all(|c| c == '0'))
            .map(str::to_string)
    };
    let base = match name.as_str() {
        "pull_request" | "pull_request_target" => {
            let (b, h) = (
                sha(&payload["pull_request"]["base"]["sha"]),
                sha(&payload["pull_request"]["head"]["sha"]),
            );
            match (b, h) {
                (Some(b), Some(h)) => {
                    let missing = |rev: &str| crate::git::resolve_commit(root, rev).is_err();
                    if (missing(&b) || missing(&h)) && is_shallow(root) {
                        // A shallow checkout (actions/checkout's default):
                        // fetch the history the merge-base needs.
                        let _ = std::process::Command::new("git")
                            .args(["fetch", "--quiet", "--no-tags", "--unshallow", "origin"])
                            .current_dir(root)
                            .status();
                    }
                    if missing(&b) || missing(&h) {
                        return Err(crate::error::hinted(
                            format!("the pull request's base {b} or head {h} is not in this clone"),
                            "check out with `fetch-depth: 0` (actions/checkout) so the base revision is available",
                        ));
                    }
                    let repo = git2::Repository::open(root)?;
                    let mb = repo.merge_base(git2::Oid::from_str(&b)?, git2::Oid::from_str(&h)?)?;
                    Some((mb.to_string(), "the pull request's base".to_string()))
                }
                _ => None,
            }
        }
        "push" => sha(&payload["before"]).map(|b| (b, "the commit before the push".to_string())),
        "merge_group" => sha(&payload["merge_group"]["base_sha"])
            .map(|b| (b, "the merge group's base".to_string())),
        _ => None,
    };
    Ok(base)
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
        remote,
        template,
        plots_dir,
        report_file,
        no_comment,
        status,
        check_run,
        comment_key,
        comment_author,
        token,
        artifact_dir,
        publish_from,
    } = args;
    let action = ActionEnv::from_env();
    if let Some(t) = &token {
        ctx.printer.secrets().add(t);
    }
    if let (Some(_), Some(t)) = (&action, &token) {
        // Before anything could print it.
        ctx.printer.unscrubbed(&crate::action::mask(t))?;
    }
    let publish = Publish {
        comment: !no_comment,
        status,
        check_run,
        key: comment_key,
        author: comment_author,
        token,
    };
    if let Some(dir) = publish_from {
        return publish_saved(ctx, action.as_ref(), &ctx.cwd.join(dir), &publish);
    }
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let mut step_error: Option<anyhow::Error> = None;

    // The remote is optional: with none configured, pull and push are
    // skipped with one notice (docs/design.md §4).
    let mut remote = match super::sync::open_remote(&repo, remote.as_deref(), None) {
        Ok(Some(r)) => Some(r),
        Ok(None) => {
            ctx.printer
                .info("no remote configured: pull and push skipped");
            None
        }
        Err(e) => {
            step_error.get_or_insert(e);
            None
        }
    };
    if let (Some((r, remote_jobs)), false) = (&remote, no_pull) {
        let _lock = repo.lock()?;
        let result = super::fetch::fetch(ctx, &repo, r, *remote_jobs, &[], !no_run_cache)
            .and_then(|()| super::fetch::checkout(ctx, &repo, &[], false));
        if let Err(e) = result {
            if no_credentials(&e) {
                ctx.printer.warn(&format!(
                    "remote `{}` has no usable credentials (a fork's pull request has none): pull and push skipped",
                    r.name
                ));
                remote = None;
            } else {
                step_error.get_or_insert(e);
            }
        }
    }
    let collect = Collect {
        print: super::repro::Printing {
            printer: ctx.printer,
        },
        ran: Mutex::new(Vec::new()),
    };
    if !no_repro && !pipeline.stages.is_empty() {
        let _lock = repo.lock()?;
        let interrupted = super::repro::interrupt_flag()?;
        let source = match &remote {
            Some((r, remote_jobs)) if !no_run_cache => {
                let reopened =
                    Remote::open(&r.name, &repo.settings.remotes, &repo.root, *remote_jobs)?;
                Some(Arc::new(super::sync::RemoteSource::new(
                    &repo,
                    reopened,
                    *remote_jobs,
                )?))
            }
            _ => None,
        };
        let mut opts = ReproOptions {
            jobs,
            run_cache: !no_run_cache,
            objects: source.clone().map(|s| s as Arc<dyn ObjectSource>),
            ..Default::default()
        };
        // `mlci ci` withholds the runner's secrets from stages everywhere,
        // not only in Actions: it is the job that holds a publishing token.
        opts.withheld_env = crate::action::withheld_env(stages_see_ci_secrets);
        let mut ws = Workspace::open(&repo);
        let result =
            super::repro::run_fenced(ctx.printer, &mut opts, stages_see_ci_secrets, |opts| {
                repro(&mut ws, &pipeline, opts, &collect, &interrupted)
            })?;
        ws.finish()?;
        if let Some(s) = &source {
            s.finish()?;
        }
        if let Err(e) = result {
            step_error = Some(e.into());
        }
    }
    if let (Some((r, remote_jobs)), false, None) = (&remote, no_push, &step_error) {
        let _lock = repo.lock()?;
        match super::push::push(ctx, &repo, r, *remote_jobs, &[], !no_run_cache) {
            Ok(outcome) => super::push::report(ctx, r, &outcome),
            Err(e) if no_credentials(&e) => ctx.printer.warn(&format!(
                "remote `{}` has no usable credentials (a fork's pull request has none): push skipped",
                r.name
            )),
            Err(e) => {
                step_error.get_or_insert(e);
            }
        }
    }

    let base = match base {
        Some(b) => Some(b),
        None => match event_base(&repo.root) {
            Ok(b) => b.map(|(sha, why)| {
                ctx.printer.info(&format!(
                    "comparing with {why} ({})",
                    &sha[..sha.len().min(8)]
                ));
                sha
            }),
            Err(e) => {
                step_error.get_or_insert(e);
                None
            }
        },
    };
    let run_link = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(s), Ok(r), Ok(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
        _ => None,
    };
    let ran = collect.ran.into_inner().expect("lock");
    let opts = ReportOptions {
        base,
        target: "workspace".into(),
        template,
        all: false,
        precision: 5,
        plots_dir,
        ran: if no_repro { None } else { Some(ran) },
        run_link,
    };
    let built = match build(ctx, &repo, &pipeline, &opts) {
        Ok(b) => Some(b),
        Err(e) => {
            step_error.get_or_insert(e);
            None
        }
    };
    let mut gate_failed = false;
    if let Some(built) = &built {
        let results = built.gates.as_deref().unwrap_or(&[]);
        gate_failed = results.iter().any(|r| !r.passed);
        // The report holds text from the pull request: in Actions it is
        // fenced, so no line of it runs as a workflow command.
        if in_actions {
            let fence = crate::action::StopCommands::new();
            ctx.printer.data(&fence.start())?;
            ctx.printer.data(&built.text)?;
            ctx.printer.data(&fence.end())?;
        } else {
            ctx.printer.data(&built.text)?;
        }
        let path = match report_file {
            Some(p) => ctx.cwd.join(p),
            None => match std::env::var("RUNNER_TEMP") {
                Ok(t) if in_actions => PathBuf::from(t).join("mlci-report.md"),
                _ => repo.tmp_dir().join("report.md"),
            },
        };
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        crate::fsutil::write_atomic(&path, built.text.as_bytes())?;
        if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
            let mut f = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)?;
            f.write_all(built.text.as_bytes())?;
            f.write_all(b"\n")?;
        }
        let verdict = if step_error.is_some() {
            Verdict::Error
        } else if gate_failed {
            Verdict::Failed
        } else {
            Verdict::Passed
        };
        let mut comment_url = String::new();
        let mut saved_to = None;
        if let Some(env) = &action {
            let dir = artifact_dir
                .clone()
                .map(|d| ctx.cwd.join(d))
                .or_else(|| env.runner_temp.as_ref().map(|t| t.join("mlci-publish")));
            if let Some(dir) = dir {
                let record = PublishRecord {
                    version: 1,
                    repository: env.repository.clone(),
                    event: env.event_name.clone(),
                    pr: env.pr_number(),
                    head_sha: env.status_sha(),
                    passed: verdict == Verdict::Passed,
                    error: verdict == Verdict::Error,
                    key: publish.key.clone().unwrap_or_else(|| env.default_key()),
                };
                save_record(&dir, &record, &built.text)?;
                saved_to = Some(dir);
            }
            match publish_github(ctx, env, &publish, &built.text, verdict, results.len()) {
                Ok(url) => comment_url = url.unwrap_or_default(),
                Err(e) => {
                    step_error.get_or_insert(e);
                }
            }
        }
        if let Ok(output) = std::env::var("GITHUB_OUTPUT") {
            let mut f = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&output)?;
            writeln!(f, "passed={}", !gate_failed && step_error.is_none())?;
            writeln!(f, "report-path={}", path.display())?;
            writeln!(f, "comment-url={comment_url}")?;
            if let Some(dir) = &saved_to {
                writeln!(f, "artifact-dir={}", dir.display())?;
            }
        }
        if in_actions {
            for r in results.iter().filter(|r| !r.passed).take(10) {
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
                let msg = crate::action::escape_data(&format!("gate failed: {}{note}", r.text));
                ctx.printer.data(&format!(
                    "::error file={},title=mlci gate::{msg}",
                    crate::action::escape_property(file)
                ))?;
            }
        }
    }
    if let Some(e) = step_error {
        ctx.printer.error(&e);
        return Ok(Exit::Error);
    }
    Ok(if gate_failed { Exit::Differs } else { Exit::Ok })
}

/// A remote refused the credentials (or there were none).
fn no_credentials(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<RemoteError>(),
            Some(RemoteError::Auth { .. })
        )
    })
}

fn save_record(dir: &std::path::Path, record: &PublishRecord, report: &str) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    crate::fsutil::write_atomic(&dir.join("report.md"), report.as_bytes())?;
    crate::fsutil::write_atomic(
        &dir.join("result.json"),
        serde_json::to_string_pretty(record)?.as_bytes(),
    )?;
    Ok(())
}

fn status_text(verdict: Verdict, gates: usize) -> String {
    match verdict {
        Verdict::Passed if gates == 0 => "no gates defined".into(),
        Verdict::Passed => format!("all {gates} gate(s) passed"),
        Verdict::Failed => "a gate failed: see the report".into(),
        Verdict::Error => "mlci ci failed: see the run's log".into(),
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

/// Posts the comment, status and check run this run asks for. A read-only
/// token is a warning, not an error. Returns the comment's URL.
fn publish_github(
    ctx: &Ctx,
    env: &ActionEnv,
    p: &Publish,
    report: &str,
    verdict: Verdict,
    gates: usize,
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
    let Some(repository) = &env.repository else {
        return Err(crate::error::hinted(
            "GITHUB_REPOSITORY is not set",
            "mlci ci publishes from a GitHub Actions job",
        ));
    };
    let gh = GitHub::new(&env.api_url, repository, token)?;
    let run_link = env.run_link();
    let read_only = |e: &ForgeError| e.is_read_only();
    let mut url = None;
    if wants_comment {
        let pr = env.pr_number().expect("checked above");
        let key = p.key.clone().unwrap_or_else(|| env.default_key());
        let login = p.author.clone().unwrap_or_else(|| gh.identity());
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
        match gh.set_status(&sha, "mlci/gate", verdict, &text, run_link.as_deref()) {
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
        match gh.check_run(&sha, "mlci", verdict, &text, report) {
            Ok(()) => {}
            Err(e) if read_only(&e) => warn_read_only(ctx),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(url)
}

/// `mlci ci --publish-from DIR` in a `workflow_run` workflow: posts what a
/// pull request's run saved, without running its code. The artifact is
/// untrusted: it must be for the commit that triggered this run, which
/// must still be the pull request's head, and the status says whose word
/// the verdict is.
fn publish_saved(
    ctx: &Ctx,
    env: Option<&ActionEnv>,
    dir: &std::path::Path,
    p: &Publish,
) -> anyhow::Result<Exit> {
    use crate::error::hinted;
    let Some(env) = env.filter(|e| e.event_name == "workflow_run") else {
        return Err(hinted(
            "--publish-from runs in a GitHub Actions job triggered by `workflow_run`",
            "see the README's fork-safe workflow pair",
        ));
    };
    let record_path = dir.join("result.json");
    let record: PublishRecord = serde_json::from_str(&fs_err::read_to_string(&record_path)?)
        .map_err(|e| {
            hinted(
                format!("{}: not an mlci result: {e}", record_path.display()),
                "download the artifact that `mlci ci` wrote (its `artifact-dir` output)",
            )
        })?;
    let report = fs_err::read_to_string(dir.join("report.md"))?;
    let trusted_head = env.payload["workflow_run"]["head_sha"]
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
    let repository = env
        .repository
        .clone()
        .ok_or_else(|| hinted("GITHUB_REPOSITORY is not set", "run in GitHub Actions"))?;
    let gh = GitHub::new(&env.api_url, &repository, token)?;
    let head = gh.pr_head_sha(pr)?;
    if head != trusted_head {
        return Err(hinted(
            format!("pull request #{pr}'s head is {head}, not the commit the artifact was made for ({trusted_head})"),
            "a newer push is being checked; its own run will publish",
        ));
    }
    let verdict = if record.error {
        Verdict::Error
    } else if record.passed {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    let run_link = env.payload["workflow_run"]["html_url"]
        .as_str()
        .map(str::to_string);
    let mut url = String::new();
    if p.comment {
        let login = p.author.clone().unwrap_or_else(|| gh.identity());
        let key = p.key.clone().unwrap_or(record.key.clone());
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
        gh.set_status(
            &trusted_head,
            "mlci/gate",
            verdict,
            &text,
            run_link.as_deref(),
        )?;
    }
    if let Ok(output) = std::env::var("GITHUB_OUTPUT") {
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&output)?;
        writeln!(f, "passed={}", verdict == Verdict::Passed)?;
        writeln!(f, "comment-url={url}")?;
    }
    Ok(match verdict {
        Verdict::Passed => Exit::Ok,
        Verdict::Failed => Exit::Differs,
        Verdict::Error => Exit::Error,
    })
}
