//! One module per subcommand: its `XArgs` (whose doc comment is its
//! `--help`) and `cmd_x`. This layer owns printing and progress bars; the
//! domain below it only returns values and typed errors.

pub mod add;
pub mod checkout;
pub mod ci;
pub mod dag;
pub mod drift;
pub mod export;
pub mod fanout;
pub mod fetch;
pub mod fsck;
pub mod gate;
pub mod gc;
pub mod import_dvc;
pub mod init;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod plan;
pub mod push;
pub mod remote;
pub mod remove;
pub mod report;
pub mod reporter;
pub mod repro;
pub mod stages;
pub mod status;
pub mod sync;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::config::Overrides;
use crate::exit::Exit;
use crate::printer::Printer;
use crate::repo::Repo;
use crate::track::{all_tracked, TrackError, Tracked};

/// Resolves the global settings and runs one command; returns the exit code.
pub fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<Exit> {
    let Cli { global, command } = cli;
    let cwd = match global.directory {
        Some(dir) => std::env::current_dir()
            .context("reading the current directory")?
            .join(dir),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let ctx = Ctx { cwd, printer };
    match command {
        Command::Init(args) => init::cmd_init(&ctx, args),
        Command::Add(args) => add::cmd_add(&ctx, args),
        Command::Status(args) => status::cmd_status(&ctx, args),
        Command::Checkout(args) => checkout::cmd_checkout(&ctx, args),
        Command::Remove(args) => remove::cmd_remove(&ctx, args),
        Command::Gc(args) => gc::cmd_gc(&ctx, args),
        Command::Fsck(args) => fsck::cmd_fsck(&ctx, args),
        Command::Repro(args) => repro::cmd_repro(&ctx, args),
        Command::Dag(args) => dag::cmd_dag(&ctx, args),
        Command::Metrics(args) => metrics::cmd_metrics(&ctx, args),
        Command::Params(args) => metrics::cmd_params(&ctx, args),
        Command::Report(args) => report::cmd_report(&ctx, args),
        Command::Gate(args) => gate::cmd_gate(&ctx, args),
        Command::Ci(args) => ci::cmd_ci(&ctx, args),
        Command::Remote(args) => remote::cmd_remote(&ctx, args),
        Command::Push(args) => push::cmd_push(&ctx, args),
        Command::Fetch(args) => fetch::cmd_fetch(&ctx, args),
        Command::Pull(args) => fetch::cmd_pull(&ctx, args),
        Command::ImportDvc(args) => import_dvc::cmd_import_dvc(&ctx, args),
        Command::Model(args) => model::cmd_model(&ctx, args),
        Command::Retrain(args) => ci::retrain::cmd_retrain(&ctx, args),
        Command::Drift(args) => drift::cmd_drift(&ctx, args),
        Command::Monitor(args) => monitor::cmd_monitor(&ctx, args),
        Command::Plan(args) => plan::cmd_plan(&ctx, args),
        Command::Export(args) => export::cmd_export(&ctx, args),
    }
}

/// What every command gets: where it runs and how to print.
pub struct Ctx<'p> {
    pub cwd: PathBuf,
    pub printer: &'p Printer,
}

impl Ctx<'_> {
    pub fn repo(&self, overrides: &Overrides) -> anyhow::Result<Repo> {
        let repo = Repo::discover(&self.cwd, overrides)?;
        // Credentials kept in the (local) config are masked like those of
        // the environment, in every line this command prints.
        for remote in repo.settings.remotes.values() {
            for key in crate::remote::location::SECRET_KEYS {
                if let Some(v) = remote.options.get(*key).and_then(|v| v.as_str()) {
                    self.printer.secrets().add(v);
                }
            }
        }
        Ok(repo)
    }
}

/// The tracked paths named by `targets` (a tracked path, its pointer file,
/// or a directory containing pointers); all of them when `targets` is empty.
pub fn select_tracked(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
) -> anyhow::Result<Vec<Tracked>> {
    select_from(repo, cwd, targets, all_tracked(&repo.root)?)
}

/// Like [`select_tracked`], also counting the cached outputs recorded in
/// mlci.lock (what `checkout` restores).
pub fn select_with_lock_outs(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
) -> anyhow::Result<Vec<Tracked>> {
    let mut all = all_tracked(&repo.root)?;
    all.extend(lock_tracked(&repo.root)?);
    select_from(repo, cwd, targets, all)
}

/// Cached stage outputs from mlci.lock (an output the pipeline marks
/// `cache: false` lives in git and is not restored), each with the
/// pipeline's `push` flag.
pub fn lock_tracked(root: &Path) -> anyhow::Result<Vec<Tracked>> {
    let lock = crate::pipeline::lock::LockFile::load(root)?;
    if lock.stages.is_empty() {
        return Ok(Vec::new());
    }
    let pipeline = crate::pipeline::load(root).ok();
    let pushed = |path: &str| {
        let out = pipeline.as_ref().and_then(|p| {
            p.stages
                .iter()
                .flat_map(|s| &s.outs)
                .find(|o| o.path == path)
        });
        match out {
            Some(o) if !o.cache => None,
            Some(o) => Some(o.push),
            None => Some(true),
        }
    };
    Ok(crate::pipeline::lock::lock_outs(&lock, &pushed))
}

fn select_from(
    repo: &Repo,
    cwd: &Path,
    targets: &[PathBuf],
    all: Vec<Tracked>,
) -> anyhow::Result<Vec<Tracked>> {
    if targets.is_empty() {
        return Ok(all);
    }
    let mut out: Vec<Tracked> = Vec::new();
    for target in targets {
        let rel = repo.resolve_user_path(cwd, target)?;
        let prefix = format!("{rel}/");
        // The tracked path itself, its pointer, tracked paths below a
        // directory named, or a part of a tracked directory.
        let mut matched: Vec<Tracked> = Vec::new();
        for t in &all {
            if t.target_rel == rel || t.pointer_rel == rel || t.target_rel.starts_with(&prefix) {
                matched.push(t.clone());
            } else if let Some(part) = rel.strip_prefix(&format!("{}/", t.target_rel)) {
                if t.pointer.oid.dir {
                    let mut partial = t.clone();
                    partial.only = Some(part.to_string());
                    matched.push(partial);
                }
            }
        }
        if matched.is_empty() {
            // A stage or group name stands for the stage's outputs, as in
            // `dvc push train`.
            let outs = stage_outs(repo, target);
            matched = all
                .iter()
                .filter(|t| {
                    outs.iter()
                        .any(|o| t.target_rel == *o || t.target_rel.starts_with(&format!("{o}/")))
                })
                .cloned()
                .collect();
        }
        if matched.is_empty() {
            let shown = rel.strip_suffix(".mlci").unwrap_or(&rel).to_string();
            return Err(unknown_target(repo, &shown, &all));
        }
        for t in matched {
            let whole = |o: &Tracked| o.pointer_rel == t.pointer_rel && o.only.is_none();
            if out.iter().any(whole) {
                continue;
            }
            if t.only.is_none() {
                // The whole directory supersedes parts of it asked before.
                out.retain(|o| o.pointer_rel != t.pointer_rel);
            }
            if !out
                .iter()
                .any(|o| o.pointer_rel == t.pointer_rel && o.only == t.only)
            {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// The outputs of the stages `target` names (none when it names none).
fn stage_outs(repo: &Repo, target: &Path) -> Vec<String> {
    let Some(name) = target.to_str() else {
        return Vec::new();
    };
    let Ok(pipeline) = crate::pipeline::load(&repo.root) else {
        return Vec::new();
    };
    pipeline
        .stages_named(name)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|i| pipeline.stages[i].outs.iter().map(|o| o.path.to_string()))
        .collect()
}

/// A target that is neither a stage nor a tracked path: the error names
/// both kinds of near match.
fn unknown_target(repo: &Repo, target: &str, tracked: &[Tracked]) -> anyhow::Error {
    let mut near: Vec<String> = crate::pipeline::load(&repo.root)
        .map(|p| p.near_names(target))
        .unwrap_or_default();
    near.extend(crate::pipeline::definition::near(
        target,
        tracked.iter().map(|t| t.target_rel.as_str()),
    ));
    if near.is_empty() {
        return TrackError::NotTracked {
            target: target.into(),
        }
        .into();
    }
    crate::error::hinted(
        format!("`{target}` is neither a stage nor a path mlci tracks"),
        format!("did you mean: {}?", near.join(", ")),
    )
}

/// A command's targets as DVC reads them: the stages that stage or group
/// names select (a name that is also a path in the work tree is a path),
/// and the rest as paths.
pub struct Targets {
    pub stages: Vec<usize>,
    pub paths: Vec<PathBuf>,
}

/// Splits `targets` into stage selections and paths (relative to `cwd`).
pub fn split_targets(
    pipeline: &crate::pipeline::Pipeline,
    cwd: &Path,
    targets: &[PathBuf],
) -> Targets {
    let mut out = Targets {
        stages: Vec::new(),
        paths: Vec::new(),
    };
    for t in targets {
        // A name that is also a file in the workspace is a path, except a
        // pipeline file, which stands for its stages (`dvc status sub/dvc.yaml`).
        let pipeline_file = |name: &str| {
            let file = name.rsplit_once(':').map_or(name, |(f, _)| f);
            let file = file.strip_prefix("./").unwrap_or(file);
            file == crate::pipeline::definition::DVC_YAML
                || file == crate::pipeline::definition::MLCI_YAML
                || file.ends_with("/dvc.yaml")
        };
        let named = t
            .to_str()
            .filter(|name| pipeline_file(name) || std::fs::symlink_metadata(cwd.join(t)).is_err())
            .and_then(|name| pipeline.stages_named(name));
        match named {
            Some(found) => out.stages.extend(found),
            None => out.paths.push(t.clone()),
        }
    }
    out.stages.sort_unstable();
    out.stages.dedup();
    out
}

/// Says once per run which pipeline keys mlci accepts but does not act on.
pub fn note_unused_keys(ctx: &Ctx, pipeline: &crate::pipeline::Pipeline) {
    if !pipeline.unused_keys.is_empty() {
        ctx.printer.info(&format!(
            "note: accepted but not acted on yet: {}",
            pipeline.unused_keys.join(", ")
        ));
    }
}

/// `1.2 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
