//! What push, fetch and pull share at the edge: their flags, the settings
//! those flags override, and how a transfer's outcome is told. The transfer
//! itself is the domain's (`crate::sync`).

use crate::config::Overrides;
use crate::error::hinted;
use crate::exit::Exit;
use crate::remote::Remote;
use crate::repo::Repo;
use crate::sync::{FetchOutcome, PushOutcome, Session};
use crate::track::Tracked;

use super::{human_bytes, reporter, Ctx};
use crate::targets::select_with_lock_outs;

/// What push, fetch and pull take: what to move, where, how many at once.
#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    /// Tracked paths or pointer files; everything the workspace references when omitted.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<std::path::PathBuf>,
    /// The remote (default: `MLCI_REMOTE`, else `core.remote`, else the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Transfers in flight (default: the remote's `jobs`, else `core.jobs` or `MLCI_JOBS`).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Leave run records (and outputs only they reference) out.
    #[arg(long)]
    pub no_run_cache: bool,
}

impl TransferArgs {
    /// The settings these flags override.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            jobs: self.jobs,
            remote: self.remote.clone(),
        }
    }

    /// Run records travel with a transfer of the whole workspace only.
    pub fn run_cache(&self) -> bool {
        !self.no_run_cache && self.targets.is_empty()
    }
}

/// What push, fetch and pull share: the settings their flags override,
/// the repository lock, the remote, the targets and a session; `act` does
/// the transfer and tells what it did.
pub fn run_transfer<T>(
    ctx: &Ctx,
    args: &TransferArgs,
    act: impl FnOnce(&Repo, &Session<'_>, &[Tracked]) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let repo = ctx.repo(&args.overrides())?;
    let _lock = repo.lock()?;
    let remote = crate::sync::require(&repo.settings, &repo.root)?;
    let tracked = select_with_lock_outs(&repo, &ctx.cwd, &args.targets)?;
    let reporter = reporter::for_printer(ctx.printer);
    let session = Session {
        repo: &repo,
        remote: &remote,
        run_cache: args.run_cache(),
        reporter: reporter.as_ref(),
    };
    act(&repo, &session, &tracked)
}

/// Tells what a fetch did; objects in neither place are an error naming
/// the tracked paths they belong to.
pub fn tell_fetch(ctx: &Ctx, remote: &Remote, o: &FetchOutcome) -> anyhow::Result<()> {
    if !o.rejected.is_empty() {
        ctx.printer.warn(&format!(
            "ignored {} malformed run record(s) on remote `{}` (a path outside the stage's outs, not a record, or over 1 MiB): {}",
            o.rejected.len(),
            remote.name,
            o.rejected.join(", ")
        ));
    }
    ctx.printer.info(&format!(
        "fetched {} object(s) ({}) from `{}`{}",
        o.objects,
        human_bytes(o.bytes),
        remote.name,
        if o.run_records > 0 {
            format!(" and {} run record(s)", o.run_records)
        } else {
            String::new()
        }
    ));
    if !o.unpushed.is_empty() {
        ctx.printer.info(&format!(
            "not fetched, as the pipeline marks them `push: false` (`mlci repro` makes them): {}",
            o.unpushed.join(", ")
        ));
    }
    if !o.lost.is_empty() {
        return Err(hinted(
            format!(
                "{} object(s) are in neither the cache nor remote `{}`; missing data for: {}",
                o.missing,
                remote.name,
                o.lost.join(", ")
            ),
            "push them from a machine that has them (`mlci push`), or check that this is the right remote",
        ));
    }
    Ok(())
}

/// Names the `push: false` outputs a checkout leaves alone (no object here).
pub fn tell_unpushed_absent(ctx: &Ctx, paths: &[String]) {
    if !paths.is_empty() {
        ctx.printer.info(&format!(
            "not in the cache and marked `push: false`, so not restored (`mlci repro` makes them): {}",
            paths.join(", ")
        ));
    }
}

/// Tells what a push did; objects in neither place are a warning.
pub fn tell_push(ctx: &Ctx, remote: &Remote, o: &PushOutcome) {
    if o.rechecked {
        ctx.printer.info(&format!(
            "note: remote `{}` lost objects it was known to hold; checked everything",
            remote.name
        ));
    }
    ctx.printer.info(&format!(
        "pushed {} object(s) ({}) to `{}`{}; {} already there",
        o.uploaded,
        human_bytes(o.bytes),
        remote.name,
        if o.run_records > 0 {
            format!(" with {} run record(s)", o.run_records)
        } else {
            String::new()
        },
        o.already
    ));
    if !o.unpushed.is_empty() {
        ctx.printer.info(&format!(
            "not pushed, as the pipeline marks them `push: false`: {}",
            o.unpushed.join(", ")
        ));
    }
    if !o.lost.is_empty() {
        ctx.printer.warn(&format!(
            "in neither the cache nor remote `{}`, so not pushed: {}",
            remote.name,
            o.lost.join(", ")
        ));
    }
}

/// Restores the workspace from the cache (`crate::sync::restore`) and
/// tells what it did: `checkout`, `pull` and `ci` say it the same way.
pub fn restore(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    targets: &[std::path::PathBuf],
    force: bool,
) -> anyhow::Result<()> {
    let reporter = reporter::for_printer(ctx.printer);
    let r = crate::sync::restore(repo, &ctx.cwd, targets, force, reporter.as_ref())?;
    tell_unpushed_absent(ctx, &r.unpushed);
    ctx.printer.info(&r.summary.describe());
    Ok(())
}

/// The root of the DVC repository used in place that `ctx` runs in, if it
/// is one (`.dvc/` and no `.mlci/`).
pub fn dvc_root(ctx: &Ctx) -> Option<std::path::PathBuf> {
    let root = crate::repo::find_root(&ctx.cwd).ok()?;
    (crate::repo::format::Format::of(&root) == Some(crate::repo::format::Format::Dvc))
        .then_some(root)
}

/// What a transfer in a DVC repository does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DvcMove {
    Push,
    Fetch,
    /// Fetch, then restore the workspace.
    Pull,
    /// Restore the workspace from the cache only.
    Checkout,
}

/// `push`, `fetch`, `pull` and `checkout` in a DVC repository used in
/// place (`crate::dvc::sync`): DVC's cache, DVC's remote layout, the
/// remotes of `.dvc/config`; told as in mlci's own format.
pub fn run_dvc(
    ctx: &Ctx,
    root: &std::path::Path,
    args: &TransferArgs,
    what: DvcMove,
) -> anyhow::Result<Exit> {
    let repo = crate::dvc::config::open(root, &args.overrides())?;
    let _lock = repo.lock()?;
    let pipeline = crate::pipeline::load(root)?;
    let targets: Vec<String> = args
        .targets
        .iter()
        .map(|t| {
            let rel = repo.resolve_user_path(&ctx.cwd, t)?;
            Ok(rel.trim_end_matches(".dvc").to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    let remote = match what {
        DvcMove::Checkout => None,
        _ if repo.settings.remotes.is_empty() => anyhow::bail!(crate::dvc::DvcError::NoRemote),
        _ => Some(crate::sync::require(&repo.settings, &repo.root)?),
    };
    match &remote {
        Some(r) => {
            // Run-cache entries travel as DVC's `--run-cache` moves them,
            // unless targets are named or `--no-run-cache` is given (as
            // run records do in mlci's format).
            let cache = crate::dvc::config::cache_root(root);
            if args.run_cache() && what != DvcMove::Push {
                let n = crate::dvc::runcache::fetch_all(&cache, r)?;
                if n > 0 {
                    ctx.printer
                        .info(&format!("fetched {n} run-cache entr{}", plural_y(n)));
                }
            }
            move_dvc(ctx, &repo, r, &pipeline, &targets, what)?;
            if args.run_cache() && what == DvcMove::Push {
                let n = crate::dvc::runcache::push_all(&cache, r)?;
                if n > 0 {
                    ctx.printer
                        .info(&format!("pushed {n} run-cache entr{}", plural_y(n)));
                }
            }
        }
        None => tell_restored(
            ctx,
            &repo,
            &crate::dvc::sync::outs(root, &pipeline, &targets)?,
        )?,
    }
    Ok(Exit::Ok)
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// Moves the outputs of `targets` (all when empty) between the DVC
/// repository `repo` and `remote`, and tells what moved; a pull restores
/// the workspace after.
pub fn move_dvc(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    remote: &Remote,
    pipeline: &crate::pipeline::Pipeline,
    targets: &[String],
    what: DvcMove,
) -> anyhow::Result<()> {
    let root = &repo.root;
    let outs = crate::dvc::sync::outs(root, pipeline, targets)?;
    let reporter = reporter::for_printer(ctx.printer);
    if what == DvcMove::Push {
        let m = crate::dvc::sync::push(root, remote, &outs, reporter.as_ref())?;
        let o = PushOutcome {
            uploaded: m.objects,
            bytes: m.bytes,
            already: m.already,
            lost: m.lost,
            unpushed: m.unpushed,
            ..PushOutcome::default()
        };
        tell_push(ctx, remote, &o);
        return Ok(());
    }
    if what == DvcMove::Pull {
        crate::dvc::sync::refuse_links(root, &outs)?;
    }
    let m = crate::dvc::sync::fetch(root, remote, &outs, reporter.as_ref())?;
    let o = FetchOutcome {
        objects: m.objects,
        bytes: m.bytes,
        missing: m.lost.len(),
        lost: m.lost,
        ..FetchOutcome::default()
    };
    tell_fetch(ctx, remote, &o)?;
    if what == DvcMove::Pull {
        tell_restored(ctx, repo, &outs)?;
    }
    Ok(())
}

/// Restores `outs` from DVC's cache and tells what it did.
fn tell_restored(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    outs: &[crate::dvc::sync::Out],
) -> anyhow::Result<()> {
    let reporter = reporter::for_printer(ctx.printer);
    let r = crate::dvc::sync::checkout(&repo.root, outs, repo.settings.jobs, reporter.as_ref())?;
    ctx.printer.info(&format!(
        "restored {} file(s) from the cache{}",
        r.files,
        match r.removed {
            0 => String::new(),
            n => format!(
                "; removed {n} file(s) the listings do not name (their bytes are in the cache)"
            ),
        }
    ));
    if !r.absent.is_empty() {
        ctx.printer.warn(&format!(
            "not in the cache, so not restored (`mlci pull` fetches them): {}",
            r.absent.join(", ")
        ));
    }
    if !r.kept.is_empty() {
        ctx.printer.warn(&format!(
            "changed in the workspace and not in the cache, so kept as they are (`mlci add` them, or move them away): {}",
            r.kept.join(", ")
        ));
    }
    Ok(())
}
