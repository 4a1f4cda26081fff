//! `mlci import-dvc`: adopt mlci in a DVC repository in one command.

use crate::exit::Exit;

use clap::Args;

use crate::config::Overrides;
use crate::migrate::{self, dvc_config, Sources};
use crate::remote::Remote;

use super::{human_bytes, reporter, transfers, Ctx};
use crate::targets::select_with_lock_outs;

/// Carry a DVC repository over: DVC's remotes become mlci remotes (secrets
/// from `.dvc/config.local` go to the git-ignored local config), every
/// object DVC tracks is taken from DVC's cache or a DVC remote, checked
/// against its MD5 and stored by SHA-256, a `.mlci` pointer is written
/// beside each `.dvc` file, and `mlci.lock` gets every stage whose
/// `dvc.lock` entry still matches, so `mlci repro` reruns nothing DVC ran.
/// DVC's files are left in place. Run it again after an interruption:
/// nothing is fetched twice. Exit 1 when something could not be migrated.
#[derive(Debug, Args)]
pub struct ImportDvcArgs {
    /// List what would be done and how much it would move; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Then push everything to the (default) mlci remote.
    #[arg(long)]
    pub push: bool,
    /// Objects read at once.
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Once everything came over, `git rm` DVC's files (the `.dvc` files,
    /// `dvc.lock`, `.dvc/` with its cache) from the work tree and the
    /// index; you commit. Refused while anything is missing.
    #[arg(long)]
    pub remove_dvc: bool,
}

pub fn cmd_import_dvc(ctx: &Ctx, args: ImportDvcArgs) -> anyhow::Result<Exit> {
    let overrides = Overrides {
        jobs: args.jobs,
        ..Overrides::default()
    };
    let repo = ctx.repo(&overrides)?;
    let _lock = repo.lock()?;
    let plan = migrate::plan(&repo.root)?;
    let converted: Vec<(dvc_config::DvcRemote, dvc_config::Converted)> = plan
        .config
        .remotes
        .iter()
        .map(|r| (r.clone(), dvc_config::convert(r)))
        .collect();
    let mut text = format!(
        "DVC: {} remote(s), {} path(s) tracked by .dvc files, {} stage(s) in dvc.lock, {} recorded\n",
        converted.len(),
        plan.tracked.len(),
        plan.lock.len(),
        human_bytes(plan.bytes())
    );
    for (r, c) in &converted {
        text.push_str(&format!("  remote `{}`: {} -> {}\n", r.name, r.url, c.url));
        for k in &c.unmapped {
            text.push_str(&format!(
                "    `{k}` has no mlci equivalent and is not carried over\n"
            ));
        }
    }
    for n in &plan.not_migrated {
        text.push_str(&format!("  not migrated: {n}\n"));
    }
    ctx.printer.info(text.trim_end());
    if args.dry_run {
        return Ok(Exit::Ok);
    }
    // The remotes first, so the objects can come from them.
    let remotes_left = carry_remotes(ctx, &repo, &plan, &converted)?;
    let repo = ctx.repo(&overrides)?;
    let mut remotes: Vec<Remote> = Vec::new();
    let order = plan
        .config
        .default_remote
        .iter()
        .chain(plan.config.remotes.iter().map(|r| &r.name));
    for name in order {
        if remotes.iter().any(|r| &r.name == name) || !repo.settings.remotes.contains_key(name) {
            continue;
        }
        remotes.push(Remote::open(
            name,
            &repo.settings.remotes,
            &repo.root,
            repo.settings.remote_jobs(),
        )?);
    }
    let progress = reporter::for_printer(ctx.printer);
    let sources = Sources {
        repo: &repo,
        remotes,
        jobs: repo.settings.jobs,
        reporter: progress.as_ref(),
    };
    let mut outcome = migrate::import(&plan, &sources)?;
    outcome.problems.extend(remotes_left);
    ctx.printer.info(&format!(
        "stored {} object(s) ({}), {} already brought over by an earlier run; wrote {} pointer(s) ({} already in place); {} stage(s) recorded in mlci.lock",
        outcome.objects,
        human_bytes(outcome.bytes),
        outcome.reused,
        outcome.pointers.len(),
        outcome.pointers_kept,
        outcome.stages.len()
    ));
    for (stage, why) in &outcome.stages_skipped {
        ctx.printer.info(&format!(
            "stage `{stage}` not recorded ({why}): `mlci repro` runs it"
        ));
    }
    // The workspace gets what it lacks (nothing it has is replaced).
    let tracked = select_with_lock_outs(&repo, &repo.root, &[])?;
    let rep = reporter::for_printer(ctx.printer);
    let mut ws = crate::track::Workspace::open(&repo);
    let restored = ws.checkout(&tracked, false, rep.as_ref());
    ws.finish()?;
    match restored {
        Ok(s) => ctx
            .printer
            .info(&format!("restored {} file(s) in the workspace", s.restored)),
        Err(e) => ctx.printer.warn(&format!(
            "the workspace was not checked out ({e}); `mlci checkout` does it"
        )),
    }
    if args.push {
        let remote = crate::sync::require(&repo.settings, &repo.root)?;
        let session = crate::sync::Session {
            repo: &repo,
            remote: &remote,
            run_cache: true,
            reporter: rep.as_ref(),
        };
        let pushed = crate::sync::push(&session, &tracked)?;
        transfers::tell_push(ctx, &remote, &pushed);
    }
    let exit = verdict(ctx, &outcome);
    if args.remove_dvc && exit == Exit::Ok {
        let mut paths: Vec<String> = plan.tracked.iter().map(|t| t.dvc_file.clone()).collect();
        paths.sort();
        paths.dedup();
        paths.extend(["dvc.lock".to_string(), ".dvc".to_string()]);
        let n = crate::git::remove_paths(&repo.root, &paths)?;
        ctx.printer.info(&format!(
            "removed DVC's files from the work tree and the index ({n} tracked file(s)): commit to finish"
        ));
    } else if args.remove_dvc {
        ctx.printer
            .warn("DVC's files are kept: the migration is incomplete (see above)");
    }
    Ok(exit)
}

/// Adds each DVC remote as an mlci remote of the same name (unless one
/// exists), the default one as the default. A remote mlci refuses (a name
/// or a place `mlci remote add` would refuse) is left behind with a
/// warning: returned as (what, why), so the migration reads incomplete.
fn carry_remotes(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    plan: &migrate::Plan,
    converted: &[(dvc_config::DvcRemote, dvc_config::Converted)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = crate::remote::config_edit::Files::load(&repo.mlci_dir())?;
    let mut added = Vec::new();
    let mut left = Vec::new();
    for (r, c) in converted {
        let default = plan.config.default_remote.as_deref() == Some(r.name.as_str());
        // Each remote is checked on its own, so one refusal keeps the rest.
        let before = files.clone();
        let refused = match files.add_if_absent(&r.name, &c.url, &c.shared, &c.local, default) {
            Ok(false) => continue,
            Ok(true) => files.check(&repo.root).err(),
            Err(e) => Some(e),
        };
        match refused {
            None => added.push(r.name.clone()),
            Some(e) => {
                files = before;
                let why = crate::error::Hint::hint(&e)
                    .map_or_else(|| e.to_string(), |h| format!("{e} ({h})"));
                ctx.printer
                    .warn(&format!("DVC remote `{}` is not carried over: {e}", r.name));
                left.push((format!("DVC remote `{}`", r.name), why));
            }
        }
    }
    if !added.is_empty() {
        files.save(&repo.root)?;
        ctx.printer
            .info(&format!("added remote(s): {}", added.join(", ")));
    }
    Ok(left)
}

/// Says what is left to do; exit 1 when the migration is incomplete.
fn verdict(ctx: &Ctx, outcome: &migrate::Outcome) -> Exit {
    if outcome.problems.is_empty() {
        ctx.printer.info(
            "to record it, run:\n  git add .gitignore mlci.lock .mlci/config.yaml $(git ls-files --others --exclude-standard -- '*.mlci')",
        );
        return Exit::Ok;
    }
    let mut text = format!(
        "the migration is incomplete: {} path(s) could not be carried over:",
        outcome.problems.len()
    );
    for (path, why) in &outcome.problems {
        text.push_str(&format!("\n  {path}: {why}"));
    }
    ctx.printer.warn(&text);
    Exit::Differs
}
