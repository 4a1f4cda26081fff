//! `mlci ci`: the whole ML CI job in one command.
//!
//! pull → repro → push → evaluate gates → render the report (with the
//! verdict) → publish → exit with the verdict. Locally the report goes to
//! stdout; in GitHub Actions it is also appended to the job summary, outputs
//! are set and failed gates are annotated. Exit: 2 if any step erred, else 1
//! if a gate failed, else 0; the report is published whenever it can be
//! built. A remote that refuses the credentials (a fork's pull request has
//! none) is a warning: pull and push are skipped, the report and gate still
//! run. The sticky PR comment and commit statuses are not built yet.

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
}

/// Prints repro progress like `mlci repro` and remembers what ran and why.
struct Collect<'p> {
    print: super::repro::Printing<'p>,
    ran: Mutex<Vec<StageView>>,
}

impl Events for Collect<'_> {
    fn event(&self, e: Event<'_>) {
        let ran = match &e {
            Event::Running { stage, reasons, .. } => Some(StageView {
                name: stage.to_string(),
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            }),
            Event::Restored { stage } => Some(StageView {
                name: stage.to_string(),
                reasons: vec!["restored from the run cache".into()],
            }),
            _ => None,
        };
        self.ran.lock().expect("lock").extend(ran);
        self.print.event(e);
    }
}

/// The base GitHub's event implies (DESIGN.md section 5), if any.
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

pub fn cmd_ci(ctx: &Ctx, args: CiArgs) -> anyhow::Result<u8> {
    let CiArgs {
        base,
        no_repro,
        jobs,
        no_run_cache,
        no_pull,
        no_push,
        remote,
        template,
        plots_dir,
        report_file,
    } = args;
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let in_actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let mut step_error: Option<anyhow::Error> = None;

    // The remote is optional: with none configured, pull and push are
    // skipped with one notice (DESIGN.md section 4).
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
                    "warning: remote `{}` refused the credentials (a fork's pull request has none): pull and push skipped",
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
        let opts = ReproOptions {
            jobs,
            run_cache: !no_run_cache,
            objects: source.clone().map(|s| s as Arc<dyn ObjectSource>),
            ..Default::default()
        };
        let mut ws = Workspace::open(&repo);
        let result = repro(&mut ws, &pipeline, &opts, &collect, &interrupted);
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
                "warning: remote `{}` refused the credentials (a fork's pull request has none): push skipped",
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
        ctx.printer.data(&built.text)?;
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
        if let Ok(output) = std::env::var("GITHUB_OUTPUT") {
            let mut f = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&output)?;
            writeln!(f, "passed={}", !gate_failed && step_error.is_none())?;
            writeln!(f, "report-path={}", path.display())?;
            writeln!(f, "comment-url=")?;
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
                let msg = format!("gate failed: {}{note}", r.text)
                    .replace('%', "%25")
                    .replace('\n', "%0A");
                ctx.printer
                    .data(&format!("::error file={file},title=mlci gate::{msg}"))?;
            }
        }
    }
    if let Some(e) = step_error {
        ctx.printer.error(&e);
        return Ok(crate::exit::ERROR);
    }
    Ok(if gate_failed {
        crate::exit::DIFFERS
    } else {
        crate::exit::OK
    })
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
