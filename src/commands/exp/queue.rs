//! `mlci exp run --queue`, `--run-all` and `mlci exp queue`: queued
//! experiments run by local workers, each a child process in its own git
//! worktree under the repository's private state, sharing the cache (and
//! so the run cache). The journal (`crate::experiments::queue`) makes a
//! killed worker's experiment run again once and a finished one never.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::RunArgs;
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::experiments::queue::{self as q, Entry, Outcome, Queue, State};
use crate::experiments::set::Assignment;
use crate::experiments::{record, refs};
use crate::repo::format::Format;

/// The queue of experiments: its state, running it, emptying it.
#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Each queued experiment's state (queued, running, done, failed).
    Status(StatusArgs),
    /// Run every queued experiment on N local workers (as `exp run --run-all`).
    Start(StartArgs),
    /// Remove queued experiments that are not running (all with --all).
    Remove(QueueRemoveArgs),
    /// Run one queued experiment (what a worker is).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Workers, each in its own workspace.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub sync: Sync,
}

/// How workers use the remote: its run cache (`--pull`), and pushing what
/// they ran (`--push`), as `repro` does.
#[derive(Debug, Clone, Default, Args)]
pub struct Sync {
    /// Use the remote's run cache: a stage any machine ran with these
    /// inputs is restored, not run.
    #[arg(long)]
    pub pull: bool,
    /// Push the outputs and run records after each run.
    #[arg(long, requires = "pull")]
    pub push: bool,
    /// The remote (default: the default one).
    #[arg(short, long, value_name = "NAME", requires = "pull")]
    pub remote: Option<String>,
}

impl Sync {
    /// As `repro` flags: `--pull`, `--push`, `-r NAME`.
    pub fn flags(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if self.pull {
            out.push("--pull");
        }
        if self.push {
            out.push("--push");
        }
        if let (true, Some(r)) = (self.pull, self.remote.as_deref()) {
            out.extend(["-r", r]);
        }
        out
    }
}

#[derive(Debug, Args)]
pub struct QueueRemoveArgs {
    /// Entries to remove (their ids).
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,
    /// Every entry not running (queued, done and failed).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    pub id: String,
    #[command(flatten)]
    pub sync: Sync,
}

pub(super) fn cmd_queue(ctx: &Ctx, a: QueueArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    match a.command {
        QueueCommand::Status(s) => status(ctx, &root, s.json),
        QueueCommand::Start(s) => run_all(ctx, &root, s.jobs, &s.sync),
        QueueCommand::Remove(r) => {
            let queue = Queue::of(&root);
            let ids: Vec<String> = match r.all {
                true => queue.entries()?.into_iter().map(|e| e.id).collect(),
                false => r.ids,
            };
            let mut removed = 0;
            for id in &ids {
                queue.entry(id)?;
                if queue.remove(id)? {
                    drop_stash(&root, id);
                    removed += 1;
                } else {
                    ctx.printer
                        .warn(&format!("{id} is running: left in the queue"));
                }
            }
            ctx.printer
                .info(&format!("removed {removed} queued experiment(s)"));
            Ok(Exit::Ok)
        }
        QueueCommand::Worker(w) => worker(ctx, &root, &w.id, &w.sync),
    }
}

fn stash_ref(id: &str) -> String {
    format!("{}/{id}", q::QUEUE_REFS)
}

fn drop_stash(root: &Path, id: &str) {
    if let Ok(git) = git2::Repository::open(root) {
        if let Ok(mut r) = git.find_reference(&stash_ref(id)) {
            let _ = r.delete();
        }
    }
}

/// Removes every entry that has not started (`exp remove --queue`).
pub(super) fn remove_queued(root: &Path) -> anyhow::Result<usize> {
    let queue = Queue::of(root);
    let mut n = 0;
    for e in queue.entries()? {
        if queue.state(&e.id)? == State::Queued && queue.remove(&e.id)? {
            drop_stash(root, &e.id);
            n += 1;
        }
    }
    Ok(n)
}

/// Queues one experiment per row of `grid`: the workspace as it is (its
/// tracked changes) with the row's params set, as a commit on HEAD.
pub(super) fn enqueue(
    ctx: &Ctx,
    root: &Path,
    grid: &[Vec<Assignment>],
    a: &RunArgs,
) -> anyhow::Result<()> {
    let git = git2::Repository::open(root)?;
    let baseline = refs::head(root)?;
    let tracked = record::tracked_changes(&git, baseline)?;
    let queue = Queue::of(root);
    let sig = crate::git::signature_or_default(&git)?;
    for (i, row) in grid.iter().enumerate() {
        let edited: BTreeMap<String, String> = crate::experiments::set::edited(root, row)?
            .into_iter()
            .collect();
        let mut files: Vec<crate::git::PathChange> = Vec::new();
        for path in &tracked {
            if edited.contains_key(path) {
                continue;
            }
            let at = root.join(path);
            files.push((
                path.clone(),
                match fs_err::read(&at) {
                    Ok(b) => Some((b, record::mode_of(&at)?)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e.into()),
                },
            ));
        }
        for (path, text) in &edited {
            let at = root.join(path);
            let mode = record::mode_of(&at).unwrap_or(0o100644);
            files.push((path.clone(), Some((text.clone().into_bytes(), mode))));
        }
        let id = q::new_id();
        let stash = crate::git::commit_changes(
            &git,
            baseline,
            &files,
            &format!("mlci: queued experiment {id}"),
            &sig,
        )?;
        git.reference(&stash_ref(&id), stash, true, "mlci: queued experiment")?;
        let name = match (&a.name, grid.len()) {
            (Some(n), 1) => Some(n.clone()),
            (Some(n), _) => Some(format!("{n}-{}", i + 1)),
            (None, _) => None,
        };
        let entry = Entry {
            id: id.clone(),
            baseline: baseline.to_string(),
            stash: stash.to_string(),
            assignments: row.clone(),
            name,
            targets: a.targets.clone(),
            queued: jiff::Timestamp::now().as_second(),
        };
        queue.add(&entry)?;
        let set: Vec<String> = row
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect();
        ctx.printer.info(&format!("queued {id} {}", set.join(" ")));
    }
    Ok(())
}

/// Runs every queued entry on `jobs` workers; exit 1 when one failed.
pub(super) fn run_all(ctx: &Ctx, root: &Path, jobs: usize, sync: &Sync) -> anyhow::Result<Exit> {
    let queue = Queue::of(root);
    let exe = std::env::current_exe()?;
    let mut running: BTreeMap<String, Child> = BTreeMap::new();
    let mut elsewhere: Vec<String> = Vec::new();
    loop {
        let mut pending = Vec::new();
        for e in queue.entries()? {
            if running.contains_key(&e.id) || queue.outcome(&e.id)?.is_some() {
                continue;
            }
            pending.push(e.id);
        }
        elsewhere.clear();
        for id in pending {
            if running.len() >= jobs.max(1) {
                break;
            }
            // A worker of another `--run-all` holds it: theirs to finish.
            if queue.try_claim(&id)?.is_none() {
                elsewhere.push(id);
                continue;
            }
            let log = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(queue.log_path(&id))?;
            let flags = sync.flags();
            let child = Command::new(&exe)
                .arg("-C")
                .arg(root)
                .args(["exp", "queue", "worker", &id])
                .args(&flags)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?.into_parts().0)
                .stderr(log.into_parts().0)
                .spawn()?;
            ctx.printer
                .info(&format!("started {id} (worker pid {})", child.id()));
            running.insert(id, child);
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
        let mut ended = Vec::new();
        for (id, child) in running.iter_mut() {
            if let Some(status) = child.try_wait()? {
                ended.push((id.clone(), status));
            }
        }
        for (id, status) in ended {
            running.remove(&id);
            match queue.outcome(&id)? {
                Some((State::Done, o)) => ctx
                    .printer
                    .info(&format!("{id} done: {}", o.reference.unwrap_or_default())),
                Some((_, o)) => ctx.printer.warn(&format!(
                    "{id} failed (exit {}): see {}",
                    o.exit,
                    queue.log_path(&id).display()
                )),
                None => ctx.printer.warn(&format!(
                    "{id}: its worker ended without an outcome ({status}); it runs again"
                )),
            }
        }
    }
    sweep(root, &queue)?;
    if !elsewhere.is_empty() {
        ctx.printer.info(&format!(
            "{} experiment(s) are being run by another worker: {}",
            elsewhere.len(),
            elsewhere.join(", ")
        ));
    }
    let failed = queue
        .entries()?
        .iter()
        .filter(|e| matches!(queue.outcome(&e.id), Ok(Some((State::Failed, _)))))
        .count();
    Ok(if failed > 0 { Exit::Differs } else { Exit::Ok })
}

/// Removes what workers killed after their outcome left behind: the
/// workspace and the queued commit's ref of each finished entry.
fn sweep(root: &Path, queue: &Queue) -> anyhow::Result<()> {
    for e in queue.entries()? {
        if queue.outcome(&e.id)?.is_none() {
            continue;
        }
        let Some(_claim) = queue.try_claim(&e.id)? else {
            continue;
        };
        let ws = queue.workspace(&e.id);
        if ws.exists() {
            drop_workspace(root, &ws)?;
        }
        if matches!(queue.outcome(&e.id)?, Some((State::Done, _))) {
            drop_stash(root, &e.id);
        }
    }
    Ok(())
}

fn status(ctx: &Ctx, root: &Path, json: bool) -> anyhow::Result<Exit> {
    let queue = Queue::of(root);
    let mut rows = Vec::new();
    for e in queue.entries()? {
        let state = queue.state(&e.id)?;
        let outcome = queue.outcome(&e.id)?.map(|(_, o)| o);
        rows.push((e.clone(), state, outcome, queue.attempts(&e.id)?));
    }
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(e, s, o, n)| serde_json::json!({
                "id": e.id, "state": s, "params": e.assignments, "name": e.name,
                "ref": o.as_ref().and_then(|o| o.reference.clone()), "exit": o.as_ref().map(|o| o.exit),
                "runs": n,
            }))
            .collect();
        ctx.printer
            .data(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
        return Ok(Exit::Ok);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(e, s, o, n)| {
            let set: Vec<String> = e
                .assignments
                .iter()
                .map(|a| format!("{}={}", a.key, a.value))
                .collect();
            let result = match o {
                Some(Outcome {
                    reference: Some(r), ..
                }) => r.rsplit('/').next().unwrap_or(r).to_string(),
                Some(o) => format!("exit {}", o.exit),
                None => "-".into(),
            };
            vec![
                e.id.clone(),
                format!("{s:?}").to_lowercase(),
                set.join(" "),
                result,
                n.to_string(),
            ]
        })
        .collect();
    let text = crate::review::metrics::diff::plain_table(
        &["Id", "State", "Params", "Experiment", "Runs"],
        &table,
    );
    ctx.printer.data(&text)?;
    Ok(Exit::Ok)
}

/// Serialises `git worktree add/prune` between workers.
fn worktree_lock(queue_ws: &Path) -> anyhow::Result<std::fs::File> {
    let path = queue_ws.parent().expect("run/<id>").join(".worktrees.lock");
    fs_err::create_dir_all(path.parent().expect("a parent"))?;
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    f.lock()?;
    Ok(f)
}

pub(super) fn git(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("git").current_dir(root).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Removes a worker's workspace (and git's record of it).
pub(super) fn drop_workspace(root: &Path, ws: &Path) -> anyhow::Result<()> {
    let _held = worktree_lock(ws)?;
    if ws.exists() {
        fs_err::remove_dir_all(ws)?;
    }
    git(root, &["worktree", "prune"])
}

/// A workspace of `commit` at `ws` (a git worktree) that shares the main
/// cache; returns the environment its mlci commands need for that.
pub(super) fn make_workspace(
    root: &Path,
    ws: &Path,
    commit: &str,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    drop_workspace(root, ws)?;
    {
        let _held = worktree_lock(ws)?;
        let ws_s = ws.to_string_lossy();
        git(
            root,
            &[
                "worktree",
                "add",
                "--detach",
                "--quiet",
                ws_s.as_ref(),
                commit,
            ],
        )?;
    }
    let mut env = Vec::new();
    match Format::of(root) {
        Some(Format::Dvc) => {
            let cache = crate::dvc::config::cache_root(root);
            let local = root.join(".dvc").join("config.local");
            let mut text = fs_err::read_to_string(&local).unwrap_or_default();
            text = without_section(&text, "cache");
            text.push_str(&format!("[cache]\n    dir = {}\n", cache.display()));
            fs_err::write(ws.join(".dvc").join("config.local"), text)?;
        }
        _ => {
            let repo = crate::repo::Repo::discover(root, &Default::default())?;
            let local = root.join(".mlci").join("config.local.yaml");
            if local.is_file() {
                fs_err::copy(&local, ws.join(".mlci").join("config.local.yaml"))?;
            }
            env.push((
                "MLCI_CACHE_DIR".to_string(),
                repo.cache.root().to_path_buf(),
            ));
        }
    }
    Ok(env)
}

/// `text` (an INI file) without its `[name]` section.
fn without_section(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skip = t
                .trim_matches(['[', ']'])
                .trim()
                .trim_matches('\'')
                .trim_matches('"')
                == name;
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One entry, run to its outcome: the worker process.
fn worker(ctx: &Ctx, root: &Path, id: &str, sync: &Sync) -> anyhow::Result<Exit> {
    let queue = Queue::of(root);
    let Some(claim) = queue.try_claim(id)? else {
        ctx.printer.info(&format!("{id} is run by another worker"));
        return Ok(Exit::Ok);
    };
    if queue.outcome(id)?.is_some() {
        return Ok(Exit::Ok);
    }
    let e = queue.entry(id)?;
    let gitrepo = git2::Repository::open(root)?;
    if let Some(found) = q::recorded_for(&gitrepo, &e.baseline, id)? {
        // Recorded just before its last worker died: done, not run again.
        let o = Outcome {
            reference: Some(found.refname()),
            exit: 0,
            message: None,
        };
        queue.finish(id, &claim, &o)?;
        return Ok(Exit::Ok);
    }
    let attempts = queue.start_attempt(id, &claim)?;
    let ws = queue.workspace(id);
    if attempts > q::MAX_ATTEMPTS {
        let o = Outcome {
            reference: None,
            exit: 137,
            message: Some(format!("its worker died {} times", attempts - 1)),
        };
        queue.finish(id, &claim, &o)?;
        drop_workspace(root, &ws)?;
        return Ok(Exit::Differs);
    }
    let env = make_workspace(root, &ws, &e.stash)?;
    for (k, v) in &env {
        // This process exists for this one entry: its settings are its own.
        std::env::set_var(k, v);
    }
    let ran = (|| -> anyhow::Result<Exit> {
        super::mlci_in(ctx, &ws, &["-q", "checkout"])?;
        let repro = super::repro_args(sync, &e.targets);
        super::mlci_in(ctx, &ws, &repro)
    })();
    let exit = match ran {
        Ok(x) => x,
        Err(err) => {
            ctx.printer.error(&err);
            Exit::Error
        }
    };
    if exit != Exit::Ok {
        let o = Outcome {
            reference: None,
            exit: exit as i32,
            message: Some("the pipeline failed: see the log".into()),
        };
        queue.finish(id, &claim, &o)?;
        drop_workspace(root, &ws)?;
        return Ok(exit);
    }
    let wsctx = Ctx {
        cwd: ws.clone(),
        printer: ctx.printer,
    };
    let repo = wsctx.repo_in_place(&Default::default())?;
    let pipeline = crate::pipeline::load(&ws)?;
    let opts = record::RecordOptions {
        name: e.name.as_deref(),
        force: false,
        entry: Some(id),
    };
    let baseline: git2::Oid = e.baseline.parse()?;
    let outcome = match record::record(&repo, &pipeline, baseline, &opts) {
        Ok(r) => Outcome {
            reference: Some(r.reference.refname()),
            exit: 0,
            message: None,
        },
        Err(err) => {
            ctx.printer.error(&err);
            Outcome {
                reference: None,
                exit: 2,
                message: Some(err.to_string()),
            }
        }
    };
    queue.finish(id, &claim, &outcome)?;
    drop_workspace(root, &ws)?;
    drop_stash(root, id);
    Ok(if outcome.exit == 0 {
        Exit::Ok
    } else {
        Exit::Error
    })
}
