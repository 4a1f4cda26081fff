//! `mlci model register|promote|unassign|deregister|deprecate`: each
//! creates one annotated tag (GTO's names) and, with `--push`, pushes it.

use clap::Args;

use super::{place, PushFlags};
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::registry::policy::Policy;
use crate::registry::promote::{self, Bump, NewTag, Writer};

/// Register a version of an artifact: tag `NAME@vX.Y.Z` on REV. Without
/// `--version` the first is v0.0.1 and later ones bump the patch (or what
/// `--bump` says). The artifact must be declared under `artifacts:` at REV
/// and its path must exist there.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The artifact (`name`, or `dir:name` for one in dir/dvc.yaml).
    pub name: String,
    /// The commit to register.
    #[arg(default_value = "HEAD")]
    pub rev: String,
    /// The version, `vX.Y.Z` (SemVer).
    #[arg(
        long = "version",
        id = "set_version",
        value_name = "vX.Y.Z",
        conflicts_with = "bump"
    )]
    pub set_version: Option<String>,
    /// Bump this part of the latest version.
    #[arg(long, value_enum)]
    pub bump: Option<Bump>,
    /// Register only when the artifact's bytes differ from the latest
    /// version's; a commit already registered is left as it is (exit 0
    /// either way: a CI step reruns safely, and a merge that did not
    /// change the model registers nothing).
    #[arg(long)]
    pub if_changed: bool,
    #[command(flatten)]
    pub push: PushFlags,
}

/// Promote a version into a stage (tag `NAME#STAGE#N`), if the promotion
/// policy of the default branch's mlci.yaml allows it. Exits 1 and names
/// each failing rule when it does not.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    pub name: String,
    /// The version, `vX.Y.Z`, or `latest` (the highest active one).
    #[arg(id = "the_version", value_name = "VERSION")]
    pub version: String,
    /// The stage to assign (default: the policy's first stage). A version
    /// already in it is left as it is (exit 0, no tag).
    #[arg(long, value_name = "STAGE")]
    pub to: Option<String>,
    /// Check the policy and name the tag, but create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Assign even though a rule fails; needs `--reason`, which the tag's
    /// message records.
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why a forced promotion was needed.
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    /// The branch whose tip holds the policy (default: the git remote's
    /// HEAD, else main or master).
    #[arg(long, value_name = "BRANCH")]
    pub default_branch: Option<String>,
    #[command(flatten)]
    pub push: PushFlags,
}

/// Take a stage away from a version (tag `NAME#STAGE!#N`).
#[derive(Debug, Args)]
pub struct UnassignArgs {
    pub name: String,
    #[arg(id = "the_version", value_name = "VERSION")]
    pub version: String,
    /// The stage to take away.
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    #[command(flatten)]
    pub push: PushFlags,
}

/// Deregister a version (tag `NAME@vX.Y.Z!`); its stages go with it.
#[derive(Debug, Args)]
pub struct DeregisterArgs {
    pub name: String,
    #[arg(id = "the_version", value_name = "VERSION")]
    pub version: String,
    #[command(flatten)]
    pub push: PushFlags,
}

/// Deprecate an artifact (tag `NAME@deprecated` on HEAD).
#[derive(Debug, Args)]
pub struct DeprecateArgs {
    pub name: String,
    #[command(flatten)]
    pub push: PushFlags,
}

pub(crate) fn cmd_register(ctx: &Ctx, a: RegisterArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let w = Writer::open(&p.root, &a.name)?;
    if a.if_changed {
        if let Some(why) = w.unchanged(&p.cache, &a.name, &a.rev)? {
            ctx.printer.info(&format!("{why}: nothing registered"));
            return Ok(Exit::Ok);
        }
    }
    let t = w.register(
        &a.name,
        &a.rev,
        a.set_version.as_deref(),
        a.bump,
        a.push.message.as_deref(),
    )?;
    finish(ctx, &p.root, &t, &a.push)
}

pub(crate) fn cmd_promote(ctx: &Ctx, a: PromoteArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let w = Writer::open(&p.root, &a.name)?;
    let policy =
        Policy::at_default_branch_tip(&p.root, &a.push.git_remote, a.default_branch.as_deref())?;
    let to = match &a.to {
        Some(s) => s.clone(),
        None => policy
            .first_stage()
            .ok_or_else(|| crate::registry::RegistryError::Refused {
                message: format!(
                    "no --to, and the promotion policy names no stages ({})",
                    policy.origin
                ),
                hint: "name the stage: `--to dev`, or list them as `promotion.stages` in mlci.yaml"
                    .into(),
            })?,
    };
    w.check_stage(&to, &policy)?;
    let version = w.version(&a.name, &a.version)?;
    w.one_version_on(&a.name, version)?;
    // Which policy judges, always said; a different one in the work tree
    // (not merged yet) is never what judges, and the user is told so.
    ctx.printer.info(&policy.describe());
    let local = Policy::read(
        &crate::pipeline::source::WorkTree(&p.root),
        "mlci.yaml in the work tree".into(),
    );
    match local {
        Ok(local) if !local.same_rules(&policy) => ctx.printer.warn(&format!(
            "the work tree's mlci.yaml has a different promotion policy ({}); promotions are judged by the default branch's: merge it there first",
            local.describe_short()
        )),
        Ok(_) => {}
        Err(e) => ctx.printer.warn(&format!(
            "the work tree's mlci.yaml was not read ({e}); promotions are judged by the default branch's"
        )),
    }
    // Rerunning a promotion is safe: a version already in the stage stays.
    if version.is_in(&to, &w.registry.events) {
        ctx.printer.info(&format!(
            "{} {} is in `{to}` already: nothing to do",
            a.name, version.version
        ));
        return Ok(Exit::Ok);
    }
    let the_version = version.version.clone();
    let checks = promote::check(
        &p.root,
        &p.cache,
        &w.registry,
        &policy,
        (&a.name, version, &to),
    )?;
    let failed = checks.iter().filter(|c| !c.passed).count();
    let mut text = String::new();
    for c in &checks {
        text.push_str(&c.line());
    }
    if !text.is_empty() {
        ctx.printer.data(text.trim_end())?;
    }
    if failed > 0 && !a.force {
        ctx.printer.warn(&format!(
            "promotion of {} {the_version} to `{to}` refused: {failed} of {} rules failed ({})",
            a.name,
            checks.len(),
            policy.origin
        ));
        return Ok(Exit::Differs);
    }
    let reason = if failed > 0 {
        a.reason.as_deref()
    } else {
        None
    };
    if failed > 0 {
        ctx.printer.warn(&format!(
            "{failed} of {} rules failed; forced, with the reason recorded in the tag",
            checks.len()
        ));
    }
    let t = w.assign(
        &a.name,
        &the_version,
        &to,
        a.push.message.as_deref(),
        reason,
    )?;
    if a.dry_run {
        ctx.printer.info(&format!(
            "would create tag `{}` on {} (dry run)",
            t.tag,
            &t.commit[..8]
        ));
        return Ok(Exit::Ok);
    }
    finish(ctx, &p.root, &t, &a.push)
}

pub(crate) fn cmd_unassign(ctx: &Ctx, a: UnassignArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let w = Writer::open(&p.root, &a.name)?;
    let t = w.unassign(&a.name, &a.version, &a.stage, a.push.message.as_deref())?;
    finish(ctx, &p.root, &t, &a.push)
}

pub(crate) fn cmd_deregister(ctx: &Ctx, a: DeregisterArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let w = Writer::open(&p.root, &a.name)?;
    let t = w.deregister(&a.name, &a.version, a.push.message.as_deref())?;
    finish(ctx, &p.root, &t, &a.push)
}

pub(crate) fn cmd_deprecate(ctx: &Ctx, a: DeprecateArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let w = Writer::open(&p.root, &a.name)?;
    let t = w.deprecate(&a.name, a.push.message.as_deref())?;
    finish(ctx, &p.root, &t, &a.push)
}

/// Creates the tag, tells what it records, and pushes it when asked.
fn finish(ctx: &Ctx, root: &std::path::Path, t: &NewTag, push: &PushFlags) -> anyhow::Result<Exit> {
    t.create(root)?;
    if push.json {
        ctx.printer.data(&serde_json::to_string_pretty(t)?)?;
    }
    let what = match (&t.version, &t.stage) {
        (Some(v), Some(s)) => format!("{} {v} → {s}", t.artifact),
        (Some(v), None) => format!("{} {v}", t.artifact),
        _ => t.artifact.clone(),
    };
    ctx.printer.info(&format!(
        "created tag `{}` ({}: {what}) on {}",
        t.tag,
        t.action.as_str(),
        &t.commit[..8]
    ));
    if !push.push {
        ctx.printer.info(&format!(
            "share it: `git push {} {}` (or pass --push)",
            push.git_remote, t.tag
        ));
        return Ok(Exit::Ok);
    }
    let token = push
        .token
        .clone()
        .or_else(|| crate::environment::get("GITHUB_TOKEN"));
    if let Some(tok) = &token {
        ctx.printer.secrets().add(tok);
    }
    crate::git::push(
        root,
        &push.git_remote,
        &[format!("refs/tags/{}", t.tag)],
        token.as_deref(),
        &[],
    )?;
    ctx.printer
        .info(&format!("pushed `{}` to {}", t.tag, push.git_remote));
    Ok(Exit::Ok)
}
