//! `mlci ci` on a push of a registry tag: the deploy hand-off. Instead of
//! the pull request flow, the tag is recognised, an assignment is checked
//! again against the promotion policy of the default branch (a stage tag
//! pushed by hand past the rules fails, unless its message carries a
//! forced reason), and the step's outputs tell a deploy job what happened:
//! `event`, `name`, `version`, `stage`, `type`, `path`, `commit` (the
//! outputs GTO's action gives, so existing `if:` lines keep working), and
//! `tag`. With `--deployment`, a GitHub Deployment to the environment
//! named by the stage records it.

use std::path::Path;

use crate::ci::env::CiEnv;
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::forge::Deployment;
use crate::registry::policy::GtoConfig;
use crate::registry::promote::{self, FORCED_TRAILER};
use crate::registry::{declare, Action, Event, Registry, RegistryError};

/// What the hand-off needs from `mlci ci`'s flags.
pub(super) struct Deliver<'a> {
    pub tag: &'a str,
    pub deployment: bool,
    pub token: Option<&'a str>,
    pub default_branch: Option<String>,
}

/// The registry tag this run's `push` event pushed, if it pushed one.
pub(super) fn registry_tag(env: &CiEnv) -> Option<String> {
    env.pushed_tag()
        .filter(|t| crate::registry::tag::parse(t).is_some())
}

/// Runs the hand-off for registry tag `d.tag`. Exit 1 when an assignment
/// breaks the policy without a forced reason (no outputs then), 2 on an
/// error, else 0.
pub(super) fn deliver(ctx: &Ctx, env: &CiEnv, d: &Deliver) -> anyhow::Result<Exit> {
    let place = crate::repo::Place::find(&ctx.cwd)?;
    let root = &place.root;
    let Some(parsed) = crate::registry::tag::parse(d.tag) else {
        return Err(crate::error::hinted(
            format!("`{}` is not a registry tag", d.tag),
            "registry tags are NAME@vX.Y.Z, NAME#STAGE#N, NAME@deprecated (GTO's format)",
        ));
    };
    let registry = crate::registry::open_artifact(root, &parsed.artifact)?;
    let Some(event) = registry.events.iter().find(|e| e.tag == d.tag).cloned() else {
        return Err(crate::error::hinted(
            format!("registry tag `{}` is not in this checkout", d.tag),
            "check out with `fetch-depth: 0` so the tags (and their messages) are there",
        ));
    };
    let commit = git2::Oid::from_str(&event.commit).map_err(RegistryError::git)?;
    let tree = crate::pipeline::source::GitTree::open(root, commit).map_err(RegistryError::Git)?;
    let decl = declare::find(&tree, &event.artifact)?;
    if event.action == Action::Registration && decl.is_none() {
        return Err(RegistryError::Undeclared {
            name: event.artifact.clone(),
            rev: event.commit[..8].to_string(),
        }
        .into());
    }
    let mut summary = format!(
        "### mlci: {} of {}\n\n",
        event.action.as_str(),
        crate::review::report::md_escape(&describe(&event))
    );
    if event.action == Action::Assignment {
        let branch = d.default_branch.clone().or_else(|| env.default_branch());
        let (lines, refused) = check_assignment(&place, &registry, &event, branch.as_deref())?;
        if !lines.is_empty() {
            ctx.printer.data(lines.trim_end())?;
            let fence = crate::review::report::md_fence(&lines);
            summary.push_str(&format!("{fence}\n{lines}{fence}\n\n"));
        }
        if refused {
            summary.push_str("**Refused**: the promotion breaks the policy and its tag carries no forced reason; nothing is handed to deployment.\n");
            env.append_summary(&summary)?;
            ctx.printer.warn(&format!(
                "`{}` breaks the promotion policy: not handed to deployment (a forced promotion's tag carries `{FORCED_TRAILER}`)",
                d.tag
            ));
            return Ok(Exit::Differs);
        }
        if let Some(reason) = forced_reason(&event) {
            // The reason is a tag message's text: escaped in the summary.
            summary.push_str(&format!(
                "Forced: {}\n\n",
                crate::review::report::md_escape(reason)
            ));
        }
    }
    let mut outputs: Vec<(&str, String)> = vec![
        ("event", event.action.as_str().to_string()),
        ("name", event.artifact.clone()),
        ("version", event.version.clone().unwrap_or_default()),
        ("stage", event.stage.clone().unwrap_or_default()),
        (
            "type",
            decl.as_ref()
                .and_then(|x| x.kind.clone())
                .unwrap_or_default(),
        ),
        (
            "path",
            decl.as_ref().map(|x| x.path.clone()).unwrap_or_default(),
        ),
        ("commit", event.commit.clone()),
        ("tag", event.tag.clone()),
    ];
    if d.deployment && event.action == Action::Assignment {
        let Some(token) = d.token else {
            return Err(crate::error::hinted(
                "--deployment needs a token",
                "give the job `deployments: write` and pass GITHUB_TOKEN",
            ));
        };
        let forge = env.forge(token)?;
        let id = forge.record_deployment(&Deployment {
            sha: event.commit.clone(),
            environment: event.stage.clone().unwrap_or_default(),
            description: describe(&event),
            payload: serde_json::json!({
                "artifact": event.artifact, "version": event.version,
                "stage": event.stage, "tag": event.tag,
            }),
            log_url: env.run_link(),
        })?;
        ctx.printer.info(&format!(
            "deployment {id} recorded for environment `{}`",
            event.stage.as_deref().unwrap_or_default()
        ));
        outputs.push(("deployment_id", id.to_string()));
    }
    // Every value comes from the tag or the tagged commit's files (a
    // `type:` is any string): shown as code, never as Markdown or HTML.
    for (k, v) in &outputs {
        summary.push_str(&format!(
            "- `{k}`: {}\n",
            if v.is_empty() {
                "—".to_string()
            } else {
                crate::review::report::md_code(v)
            }
        ));
    }
    env.set_outputs(&outputs)?;
    env.append_summary(&summary)?;
    ctx.printer
        .info(&format!("{}: {}", event.action.as_str(), describe(&event)));
    Ok(Exit::Ok)
}

/// `churn v1.2.0 → prod`, `churn v1.2.0`, `churn`.
fn describe(e: &Event) -> String {
    match (&e.version, &e.stage) {
        (Some(v), Some(s)) => format!("{} {v} → {s}", e.artifact),
        (Some(v), None) => format!("{} {v}", e.artifact),
        _ => e.artifact.clone(),
    }
}

/// The reason a forced promotion's tag message records.
fn forced_reason(e: &Event) -> Option<&str> {
    e.message
        .lines()
        .find_map(|l| l.trim().strip_prefix(FORCED_TRAILER))
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

/// The policy's checks on `event` (an assignment) as the registry stood
/// before it: the checks as text, and whether the hand-off is refused.
fn check_assignment(
    place: &crate::repo::Place,
    registry: &Registry,
    event: &Event,
    branch: Option<&str>,
) -> anyhow::Result<(String, bool)> {
    let root: &Path = &place.root;
    let policy = crate::registry::policy::Policy::at_default_branch_tip(root, "origin", branch)?;
    let before = Registry::build(
        registry
            .events
            .iter()
            .filter(|e| e.tag != event.tag)
            .cloned()
            .collect(),
    );
    let stage = event.stage.as_deref().unwrap_or_default();
    let name = &event.artifact;
    // .gto as the default branch has it (the tag's commit could carry a
    // laxer one), then the policy's own stages.
    let (_, tip) = crate::git::default_branch_tip(root, "origin", branch)
        .map_err(RegistryError::git)?
        .ok_or(RegistryError::NoDefaultBranch)?;
    let tip_tree = crate::pipeline::source::GitTree::open(root, tip).map_err(RegistryError::Git)?;
    let writer = promote::Writer {
        root,
        registry: before.clone(),
        gto: GtoConfig::read(&tip_tree)?,
    };
    writer.check_stage(stage, &policy)?;
    let version = before
        .artifact(name)
        .and_then(|a| {
            a.versions
                .iter()
                .find(|v| v.commit == event.commit && v.registered(&before.events))
        })
        .ok_or_else(|| RegistryError::UnknownVersion {
            name: name.clone(),
            version: event.version.clone().unwrap_or_default(),
        })?;
    let checks = promote::check(root, &place.cache, &before, &policy, (name, version, stage))?;
    let lines: String = checks
        .iter()
        .map(crate::registry::promote::Check::line)
        .collect();
    let failed = checks.iter().any(|c| !c.passed);
    Ok((lines, failed && forced_reason(event).is_none()))
}

/// `mlci ci --finish-deployment ID`: the deploy job's last step sets the
/// deployment's final status (recorded `in_progress` by the hand-off).
pub(super) fn finish(
    ctx: &Ctx,
    env: &CiEnv,
    token: Option<&str>,
    id: u64,
    succeeded: bool,
) -> anyhow::Result<Exit> {
    let Some(token) = token else {
        return Err(crate::error::hinted(
            "--finish-deployment needs a token",
            "give the job `deployments: write` and pass GITHUB_TOKEN",
        ));
    };
    let forge = env.forge(token)?;
    forge.finish_deployment(id, succeeded, env.run_link().as_deref())?;
    ctx.printer.info(&format!(
        "deployment {id} marked {}",
        if succeeded { "successful" } else { "failed" }
    ));
    Ok(Exit::Ok)
}
