//! `mlci fsck`: check (and repair) the cache and a remote.

use clap::Args;

use crate::config::Overrides;
use crate::exit::Exit;
use crate::fsck::{self, Kind, Options, Problem};

use super::Ctx;

/// Check every object, manifest, pointer, lock entry and run record.
///
/// Objects are hashed against their names, except those whose stat is what
/// it was when mlci last hashed them (`--full` hashes everything). Every
/// object a pointer file, `mlci.lock`, a directory manifest or a run record
/// names must be in the cache, or on the remote given with `--remote`.
/// Leftover temp files of killed commands are removed. `--repair` moves
/// damaged objects and run records aside into `.mlci/cache/lost-found/`
/// (never deleting them) and fetches good copies from the remote.
///
/// Exit status: 0 clean (or every problem repaired), 1 problems remain,
/// 2 the check could not run.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Also look objects up on this remote: a missing local object it holds
    /// is fine; its copies' sizes (and with `--full`, bytes) are checked.
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Hash every object, trusting no stat; with `--remote`, download and
    /// hash every referenced object there too.
    #[arg(long)]
    pub full: bool,
    /// Move damaged objects and records aside and fetch good copies from
    /// the remote.
    #[arg(long)]
    pub repair: bool,
    /// Transfers in flight at once (with `--remote`).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_fsck(ctx: &Ctx, args: FsckArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo(&Overrides {
        jobs: args.jobs,
        remote: args.remote.clone(),
    })?;
    let _lock = repo.lock()?;
    let remote = match &args.remote {
        Some(_) => Some(crate::sync::require(&repo.settings, &repo.root)?),
        None => None,
    };
    let report = fsck::check(
        &repo,
        &Options {
            full: args.full,
            remote: remote.as_ref(),
            repair: args.repair,
        },
    )?;
    if args.json {
        ctx.printer
            .data(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        let text: String = report.problems.iter().map(render).collect();
        if !text.is_empty() {
            ctx.printer.data(&text)?;
        }
    }
    let c = &report.checked;
    if c.temp_files_removed > 0 {
        ctx.printer.info(&format!(
            "removed {} temp file(s) left by an interrupted command",
            c.temp_files_removed
        ));
    }
    let remote_part = match &remote {
        Some(r) => format!(", {} on remote `{}`", c.remote_objects, r.name),
        None => String::new(),
    };
    let left = report.unresolved();
    ctx.printer.info(&format!(
        "checked {} object(s) ({} hashed, {} trusted by stat), {} manifest(s), {} pointer(s), {} lock entr{}, {} run record(s){remote_part}: {}",
        c.objects,
        c.hashed,
        c.trusted,
        c.manifests,
        c.pointers,
        c.lock_entries,
        if c.lock_entries == 1 { "y" } else { "ies" },
        c.run_records,
        match (report.problems.len(), left) {
            (0, _) => "no problems".to_string(),
            (n, 0) => format!("{n} problem(s), all repaired"),
            (n, l) if l == n => format!("{n} problem(s)"),
            (n, l) => format!("{n} problem(s), {l} not repaired"),
        }
    ));
    Ok(if left == 0 { Exit::Ok } else { Exit::Differs })
}

/// One problem as the terminal shows it: what, which object, who uses it,
/// what to do (or what `--repair` did).
fn render(p: &Problem) -> String {
    let what = match p.kind {
        Kind::Corrupt => "damaged object",
        Kind::Missing => "missing object",
        Kind::BadManifest => "bad directory manifest",
        Kind::BadPointer => "bad pointer file",
        Kind::BadRecord => "bad run record",
        Kind::RemoteCorrupt => "damaged remote copy",
        Kind::RemoteBadRecord => "bad run record on the remote",
    };
    let mut out = match &p.object {
        Some(o) => format!("{what} {o}: {}\n", p.detail),
        None => format!("{what}: {}\n", p.detail),
    };
    if !p.paths.is_empty() {
        let shown: Vec<&str> = p.paths.iter().take(5).map(String::as_str).collect();
        let more = p.paths.len().saturating_sub(shown.len());
        out.push_str(&format!(
            "  used by: {}{}\n",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    match &p.repaired {
        Some(r) => out.push_str(&format!("  repaired: {}\n", r.what)),
        None => out.push_str(&format!("  hint: {}\n", p.action)),
    }
    out
}
