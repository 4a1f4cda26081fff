//! `mlci retrain`: the scheduled retraining job. It refreshes the inputs
//! (stages marked `always_changed` rerun on every repro; `--force-stage`
//! reruns more; or new data is already in the workspace), reruns what
//! changed the way `mlci ci` does (pull, run cache, push), and proposes the
//! result as one pull request through the normal merge gate:
//!
//! 1. what changed is measured against the default branch's tip on the git
//!    remote: pointer files, `mlci.lock`, and the metrics and plots files
//!    kept in git; nothing in pointers or the lock → no branch, no pull
//!    request, no API call, exit 0;
//! 2. exactly those files are committed on top of that tip through an
//!    in-memory index (the checkout stays as it was), on a branch named by
//!    their content (`mlci/retrain/<8 hex>`), pushed with the git CLI through
//!    a one-shot credential helper;
//! 3. the pull request (body: the report `mlci ci` renders) is opened, or
//!    updated when that branch's is open; older retraining pull requests are
//!    closed with a link to the new one;
//! 4. exit 1 when a gate fails (auto-merge is then never enabled), else
//!    `--auto-merge` enables the forge's auto-merge, which still waits for
//!    the required checks.
//!
//! It never writes `[skip ci]`: the pull request must run the gate.

use clap::Args;

use super::job::{step_open_remote, step_pull, step_push, step_repro, Job};
use crate::ci::env::CiEnv;
use crate::commands::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::forge::{comment_body, MergeMethod, BODY_LIMIT};
use crate::review::assemble::{build, ReportOptions};

/// The prefix of every retraining branch.
pub const BRANCH_PREFIX: &str = "mlci/retrain/";
/// The trailer of a retraining commit: what the guard against retraining
/// on the merge of a retraining pull request looks for.
pub const TRAILER: &str = "Mlci-Retrain:";
const GITHUB_ACTIONS_BOT: &str = crate::git::ACTIONS_BOT;

/// Retrain on new data and propose the result as one pull request: rerun
/// what changed (stages marked `always_changed` always rerun), push data
/// and run records, commit the changed pointers, `mlci.lock` and metrics on
/// a branch named by their content, and open (or update) the pull request
/// with the report. Exit 0 when nothing changed or the gate passed, 1 when
/// a gate failed, 2 on an error.
#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// Also rerun STAGE (and what it depends on) although nothing it reads
    /// changed.
    #[arg(long = "force-stage", value_name = "STAGE")]
    pub force_stage: Vec<String>,
    /// The git remote whose default branch is the base.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub git_remote: String,
    /// The base branch (default: the event's repository default branch,
    /// else the git remote's HEAD, else main or master).
    #[arg(long, value_name = "BRANCH")]
    pub default_branch: Option<String>,
    /// Run up to N independent stages at once.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// The data remote (default: `core.remote`, or the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Do not restore stage outputs from the run cache.
    #[arg(long)]
    pub no_run_cache: bool,
    /// The token for git and the API (default: GITHUB_TOKEN). A pull request
    /// opened with the workflow's own token starts no workflow: see
    /// docs/retrain.md.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Labels for the pull request.
    #[arg(long = "label", value_name = "LABEL", default_value = "mlci-retrain")]
    pub labels: Vec<String>,
    /// The commit's author and committer, `Name <email>`.
    #[arg(long, value_name = "IDENTITY", default_value = GITHUB_ACTIONS_BOT)]
    pub author: String,
    /// When the gate passes, enable the pull request's auto-merge.
    #[arg(long)]
    pub auto_merge: bool,
    /// How auto-merge merges.
    #[arg(long, value_enum, default_value = "squash")]
    pub merge_method: MergeMethod,
    /// Leave older retraining pull requests open.
    #[arg(long)]
    pub keep_superseded: bool,
    /// Retrain only when one of mlci.yaml's `drift:` rules fails on the
    /// data as pulled (checked before any stage runs).
    #[arg(long)]
    pub if_drift: bool,
    /// Let stage commands inherit the token and the runner's command files.
    #[arg(long)]
    pub stages_see_ci_secrets: bool,
}

/// Whether this run was started by the merge of a retraining pull request
/// (a `push` whose head commit is a retraining commit or its merge): such
/// a run must not retrain again. Recognised however the pull request was
/// merged, never by its title: a merge commit names the branch, a rebase
/// keeps the commit's trailer, a squash with the description keeps the
/// body's trailer and marker, and a squash with the title alone is asked
/// of the forge (which pull request made this commit, from which branch).
/// Err: none of these tell, and the forge could not be asked.
pub fn started_by_retrain_merge(
    env: &CiEnv,
    forge: impl FnOnce() -> anyhow::Result<Box<dyn crate::forge::Forge>>,
) -> anyhow::Result<bool> {
    if env.event_name != "push" {
        return Ok(false);
    }
    let message = env.payload["head_commit"]["message"]
        .as_str()
        .unwrap_or_default();
    if message.contains(TRAILER)
        || message.contains(&format!("/{BRANCH_PREFIX}"))
        || crate::forge::carries_marker_anywhere(message, REPORT_KEY)
    {
        return Ok(true);
    }
    let Some(sha) = env.payload["head_commit"]["id"].as_str() else {
        return Ok(false);
    };
    let prs = forge()?.prs_of_commit(sha)?;
    Ok(prs.iter().any(|p| p.head.starts_with(BRANCH_PREFIX)))
}

/// The comment key of a retraining pull request's body.
const REPORT_KEY: &str = "mlci-retrain";

pub fn cmd_retrain(ctx: &Ctx, a: RetrainArgs) -> anyhow::Result<Exit> {
    let env = CiEnv::from_env();
    let token = a.token.clone().or_else(|| env.token.clone().map(|t| t.0));
    if let Some(t) = &token {
        ctx.printer.secrets().add(t);
        if env.actions {
            ctx.printer.unscrubbed(&crate::ci::workflow::mask(t))?;
        }
    }
    let merged = started_by_retrain_merge(&env, || match token.as_deref() {
        Some(t) => Ok(env.forge(t)?),
        None => Err(anyhow::anyhow!("no token")),
    });
    let merged = match merged {
        Ok(m) => m,
        Err(e) => {
            // Retraining on an unrecognised merge is the loop the guard
            // exists for; a squash merge under the title alone is told
            // only by the forge.
            ctx.printer.warn(&format!(
                "could not ask the forge which pull request made this commit ({e}); a retraining pull request squash-merged under its title alone is not recognised"
            ));
            false
        }
    };
    if merged {
        let note =
            "this run was started by the merge of a retraining pull request: nothing to retrain";
        ctx.printer.info(note);
        env.append_summary(&format!("### mlci retrain\n\n{note}.\n"))?;
        return Ok(Exit::Ok);
    }
    let identity = parse_identity(&a.author)?;
    let repo = ctx.repo_in_place(&Overrides {
        remote: a.remote.clone(),
        jobs: None,
    })?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    for s in &a.force_stage {
        if !pipeline.stages.iter().any(|st| &st.name == s) {
            return Err(crate::error::hinted(
                format!("--force-stage: no stage `{s}` in the pipeline"),
                "`mlci dag` lists the stages",
            ));
        }
    }
    let mut job = Job {
        ctx,
        env,
        repo,
        pipeline,
        remote: None,
        error: None,
        force: a.force_stage.clone(),
        pull: true,
    };
    let run_cache = !a.no_run_cache;
    step_open_remote(&mut job);
    if job.error.is_none() {
        step_pull(&mut job, run_cache);
    }
    if a.if_drift && job.error.is_none() && !drift_fails(&job)? {
        let note = "no drift rule fails on the data as pulled: nothing retrained (--if-drift)";
        ctx.printer.info(note);
        job.env
            .append_summary(&format!("### mlci retrain\n\n{note}.\n"))?;
        job.env.set_outputs(&[("changed", "false".into())])?;
        return Ok(Exit::Ok);
    }
    let ran = if job.error.is_none() {
        Some(step_repro(
            &mut job,
            a.jobs,
            run_cache,
            a.stages_see_ci_secrets,
        )?)
    } else {
        None
    };
    if job.error.is_none() {
        step_push(&mut job, run_cache);
    }
    if let Some(e) = job.error.take() {
        return Err(e);
    }
    propose(&job, &a, token.as_deref(), identity, ran.map(|r| r.stages))
}

/// Whether any of mlci.yaml's `drift:` rules fails on the workspace (the
/// verdict `mlci gate` gives); an error when there are none.
fn drift_fails(job: &Job) -> anyhow::Result<bool> {
    let (results, views) = crate::drift::rules::gates_at(&job.repo, &job.pipeline, "workspace")?;
    if results.is_empty() {
        return Err(crate::error::hinted(
            "--if-drift: mlci.yaml has no `drift:` rules to decide with",
            "add `drift: {rules: [{dataset: PATH, reference: main}]}` (see docs/drift.md), or drop --if-drift",
        ));
    }
    for v in &views {
        job.ctx.printer.info(&format!(
            "drift of {} against {}: {}",
            v.dataset,
            v.reference,
            if v.drifted { "drifts" } else { "no drift" }
        ));
    }
    Ok(results.iter().any(|r| !r.passed))
}

/// `Name <email>` → (name, email).
fn parse_identity(text: &str) -> anyhow::Result<(String, String)> {
    let parsed = text
        .split_once('<')
        .and_then(|(n, rest)| rest.strip_suffix('>').map(|e| (n.trim(), e.trim())))
        .filter(|(n, e)| !n.is_empty() && e.contains('@'));
    match parsed {
        Some((n, e)) => Ok((n.to_string(), e.to_string())),
        None => Err(crate::error::hinted(
            format!("--author `{text}` is not `Name <email>`"),
            "for example `--author \"ML bot <ml-bot@example.com>\"`",
        )),
    }
}

/// Steps 1-4 of the module doc, after the repro.
/// The retraining report: the workspace against the base branch's tip,
/// judged by the same rules `mlci ci` and `mlci gate` judge.
fn report_against(
    job: &Job,
    tip: git2::Oid,
    branch: &str,
    ran: Option<Vec<crate::review::report::StageView>>,
) -> anyhow::Result<crate::review::assemble::Built> {
    let beside =
        crate::monitoring::rules::judged_beside_gates(&job.repo, &job.pipeline, "workspace")?;
    let opts = ReportOptions {
        beside,
        base: Some(crate::review::compare::Base {
            rev: tip.to_string(),
            label: Some(branch.to_string()),
        }),
        target: "workspace".into(),
        template: None,
        all: false,
        precision: 5,
        plots_dir: None,
        plots_url: None,
        ran,
        run_link: job.env.run_link(),
        pipeline_run: crate::review::outcome::PipelineRun::Ok,
        stale: Vec::new(),
        require_fresh: false,
        refreshed: None,
    };
    Ok(build(&job.repo, &job.pipeline, &opts)?)
}

fn propose(
    job: &Job,
    a: &RetrainArgs,
    token: Option<&str>,
    (name, email): (String, String),
    ran: Option<Vec<crate::review::report::StageView>>,
) -> anyhow::Result<Exit> {
    let ctx = job.ctx;
    let root = &job.repo.root;
    let branch = base_branch(job, a)?;
    let tip = crate::git::fetch_branch(root, &a.git_remote, &branch, token)?.ok_or_else(|| {
        crate::error::hinted(
            format!("the git remote `{}` has no branch `{branch}`", a.git_remote),
            "name the base with --default-branch",
        )
    })?;
    let changed = crate::review::proposal::changed(&job.repo, &job.pipeline, tip)?;
    let short = &tip.to_string()[..8];
    if !changed.iter().any(|c| c.proposes) {
        let note = format!(
            "nothing changed in the data or the pipeline's results since {}/{branch} ({short}): no pull request",
            a.git_remote
        );
        ctx.printer.info(&note);
        job.env
            .append_summary(&format!("### mlci retrain\n\n{note}.\n"))?;
        job.env.set_outputs(&[("changed", "false".into())])?;
        return Ok(Exit::Ok);
    }
    let Some(token) = token else {
        return Err(crate::error::hinted(
            "there is something to propose, but no token to push the branch and open the pull request",
            "pass --token or set GITHUB_TOKEN (a GitHub App token or a fine-grained token, so the pull request's checks run: see docs/retrain.md)",
        ));
    };
    let key = crate::review::proposal::content_key(&changed);
    let head = format!("{BRANCH_PREFIX}{key}");
    let mut built = report_against(job, tip, &branch, ran)?;
    built.text = ctx.printer.secrets().scrub(&built.text).into_owned();
    let gate_failed = built.gates.iter().flatten().any(|r| !r.passed);
    let files: Vec<(String, Vec<u8>)> = changed
        .iter()
        .map(|c| (c.path.clone(), c.bytes.clone()))
        .collect();
    let list: Vec<&str> = changed.iter().map(|c| c.path.as_str()).collect();
    let message = format!(
        "Retrain on new data\n\nChanged: {}\n\n{TRAILER} {key}\n",
        list.join(", ")
    );
    let commit = crate::git::commit_on(root, tip, &files, &message, (&name, &email))?;
    push_branch(ctx, root, a, token, &head, commit)?;
    let forge = job.env.forge(token)?;
    let title = format!("Retrain on new data ({key})");
    let body = comment_body(
        REPORT_KEY,
        &built.text,
        job.env.run_link().as_deref(),
        BODY_LIMIT,
    );
    let open = forge.open_prs(&branch, BRANCH_PREFIX)?;
    let pr = match open.iter().find(|p| p.head == head) {
        Some(p) => {
            forge.update_pr(p.number, &title, &body)?;
            ctx.printer
                .info(&format!("updated pull request #{} ({})", p.number, p.url));
            p.clone()
        }
        None => {
            let p = forge.create_pr(&head, &branch, &title, &body)?;
            ctx.printer
                .info(&format!("opened pull request #{} ({})", p.number, p.url));
            p
        }
    };
    forge.add_labels(pr.number, &a.labels)?;
    if !a.keep_superseded {
        for old in open.iter().filter(|p| p.head != head) {
            forge.close_pr(
                old.number,
                &format!("Superseded by #{} (newer data): {}", pr.number, pr.url),
            )?;
            ctx.printer.info(&format!(
                "closed the superseded pull request #{}",
                old.number
            ));
        }
    }
    job.env.set_outputs(&[
        ("changed", "true".into()),
        ("branch", head.clone()),
        ("pr-number", pr.number.to_string()),
        ("pr-url", pr.url.clone()),
        ("passed", (!gate_failed).to_string()),
    ])?;
    job.env.append_summary(&built.text)?;
    if gate_failed {
        ctx.printer.warn(&format!(
            "{}: pull request #{} is open for review, auto-merge not enabled",
            crate::review::gate::verdict_line(built.gates.as_deref().unwrap_or(&[]), true),
            pr.number
        ));
        return Ok(Exit::Differs);
    }
    if a.auto_merge {
        forge.enable_auto_merge(&pr, a.merge_method)?;
        ctx.printer.info(&format!(
            "auto-merge enabled on #{} ({}): it merges once the required checks pass",
            pr.number,
            a.merge_method.graphql().to_lowercase()
        ));
    }
    Ok(Exit::Ok)
}

/// The base branch's name.
fn base_branch(job: &Job, a: &RetrainArgs) -> anyhow::Result<String> {
    if let Some(b) = a
        .default_branch
        .clone()
        .or_else(|| job.env.default_branch())
    {
        return Ok(b);
    }
    let found = crate::git::default_branch_tip(&job.repo.root, &a.git_remote, None)?;
    match found {
        Some((label, _)) => Ok(label
            .strip_prefix(&format!("{}/", a.git_remote))
            .unwrap_or(&label)
            .to_string()),
        None => Err(crate::error::hinted(
            "no default branch found to propose the retraining to",
            "name it with --default-branch",
        )),
    }
}

/// Pushes `commit` as branch `head`, unless the remote's branch already
/// holds the same tree (the same data proposed again); with
/// `--force-with-lease` when the branch exists and moved.
fn push_branch(
    ctx: &Ctx,
    root: &std::path::Path,
    a: &RetrainArgs,
    token: &str,
    head: &str,
    commit: git2::Oid,
) -> anyhow::Result<()> {
    let existing = crate::git::fetch_branch(root, &a.git_remote, head, Some(token))?;
    let mut extra = Vec::new();
    if let Some(old) = existing {
        if crate::git::tree_of(root, old)? == crate::git::tree_of(root, commit)? {
            ctx.printer.info(&format!(
                "branch `{head}` already holds this data: not pushed again"
            ));
            return Ok(());
        }
        extra.push(format!("--force-with-lease=refs/heads/{head}:{old}"));
    }
    crate::git::push(
        root,
        &a.git_remote,
        &[format!("{commit}:refs/heads/{head}")],
        Some(token),
        &extra,
    )?;
    ctx.printer.info(&format!("pushed branch `{head}`"));
    Ok(())
}
