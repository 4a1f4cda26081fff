//! `mlci exp`: experiments. `run` sets params and runs the pipeline in the
//! workspace (or queues variants), recording each result as a git ref in
//! DVC's layout; `show`, `diff` compare them; `apply`, `branch`, `remove`
//! keep or drop them; `queue` runs queued ones on local workers. The
//! records, refs and journal are in `crate::experiments`.

mod queue;
mod share;
mod show;

use clap::{Args, Subcommand};

use super::Ctx;
use crate::exit::Exit;
use crate::experiments::{record, refs, set, ExpError};

pub use queue::QueueArgs;

/// Run, compare and keep experiments (params variants kept as git refs).
///
/// `exp run -S KEY=VALUE` runs the pipeline with params set, without a
/// commit on the branch, and keeps the result as a git ref in DVC's
/// `refs/exps/` layout (so `dvc exp show` lists it too); `--queue` and
/// `--run-all -j N` run many on local workers; `exp show` compares them;
/// `exp apply`, `exp branch` and `exp remove` keep or drop them.
#[derive(Debug, Args)]
pub struct ExpArgs {
    #[command(subcommand)]
    pub command: ExpCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExpCommand {
    Run(RunArgs),
    Show(show::ShowArgs),
    Diff(show::DiffArgs),
    List(show::ListArgs),
    Apply(ApplyArgs),
    Branch(BranchArgs),
    Remove(RemoveArgs),
    Queue(QueueArgs),
    Push(share::PushArgs),
    Pull(share::PullArgs),
}

/// Run the pipeline with params set and record the result as an experiment.
///
/// The result is a commit on top of HEAD kept under `refs/exps/`; the
/// branch is untouched and the workspace keeps the results, as with
/// `dvc exp run`.
/// With `--queue`, each combination of the `-S` values is queued instead,
/// to run in isolated workspaces with `--run-all -j N` (or `mlci exp queue
/// start`).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stages to bring up to date (with everything upstream); all when omitted.
    #[arg(value_name = "STAGE")]
    pub targets: Vec<String>,
    /// Set a param: `[FILE:]KEY=VALUE` (FILE defaults to params.yaml); with
    /// --queue, `KEY=V1,V2` queues one experiment per value.
    #[arg(short = 'S', long = "set-param", value_name = "[FILE:]KEY=VALUE")]
    pub set_param: Vec<String>,
    /// The experiment's name (default: `exp-` and five hex of its results).
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<String>,
    /// Replace an experiment of the same name that has other results.
    #[arg(short, long)]
    pub force: bool,
    /// Queue the experiment(s) instead of running now.
    #[arg(long)]
    pub queue: bool,
    /// Run every queued experiment (after queueing these, with --queue).
    #[arg(long)]
    pub run_all: bool,
    /// Workers for --run-all, each in its own workspace.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub sync: queue::Sync,
    /// Params to set as a JSON array of `[FILE:]KEY=VALUE` strings, beside
    /// any `-S` (how a matrix job passes them, through its environment).
    #[arg(long, value_name = "JSON")]
    pub set_json: Option<String>,
}

/// `repro` with the run's `--pull`, `--push` and `-r`, then `targets`.
pub(crate) fn repro_args<'a>(sync: &'a queue::Sync, targets: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["repro"];
    args.extend(sync.flags());
    args.extend(targets.iter().map(String::as_str));
    args
}

/// Give the workspace an experiment's params, lock, metrics and outputs.
///
/// The files its commit recorded are written, then its outputs are checked
/// out from the cache.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The experiment (its name, ref or commit).
    pub experiment: String,
}

/// Make a git branch of an experiment.
#[derive(Debug, Args)]
pub struct BranchArgs {
    /// The experiment (its name, ref or commit).
    pub experiment: String,
    /// The new branch.
    pub branch: String,
}

/// Remove experiments (their refs; the cache keeps the data until `gc`).
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Experiments to remove (names, refs or commits).
    #[arg(value_name = "EXPERIMENT", required_unless_present_any = ["all", "queue"])]
    pub experiments: Vec<String>,
    /// Every experiment of every baseline.
    #[arg(short = 'A', long)]
    pub all: bool,
    /// Every queued experiment that has not run yet.
    #[arg(long)]
    pub queue: bool,
}

pub fn cmd_exp(ctx: &Ctx, args: ExpArgs) -> anyhow::Result<Exit> {
    match args.command {
        ExpCommand::Run(a) => cmd_run(ctx, a),
        ExpCommand::Show(a) => show::cmd_show(ctx, a),
        ExpCommand::Diff(a) => show::cmd_diff(ctx, a),
        ExpCommand::List(a) => show::cmd_list(ctx, a),
        ExpCommand::Apply(a) => cmd_apply(ctx, a),
        ExpCommand::Branch(a) => cmd_branch(ctx, a),
        ExpCommand::Remove(a) => cmd_remove(ctx, a),
        ExpCommand::Queue(a) => queue::cmd_queue(ctx, a),
        ExpCommand::Push(a) => share::cmd_push(ctx, a),
        ExpCommand::Pull(a) => share::cmd_pull(ctx, a),
    }
}

/// Runs another mlci command in this process, in `dir` (the same printer).
pub(crate) fn mlci_in(ctx: &Ctx, dir: &std::path::Path, args: &[&str]) -> anyhow::Result<Exit> {
    use clap::Parser;
    let dir = dir.to_string_lossy();
    let mut argv = vec!["mlci", "-C", dir.as_ref()];
    argv.extend_from_slice(args);
    let cli = crate::cli::Cli::try_parse_from(argv)?;
    super::dispatch(cli, ctx.printer)
}

/// `--set-json`: one experiment's `-S` list, or several experiments'.
enum SetJson {
    One(Vec<String>),
    Many(Vec<Vec<String>>),
}

fn set_json(json: &str) -> Result<SetJson, ExpError> {
    let bad = |e: String| ExpError::Override {
        arg: format!("--set-json {json}"),
        message: format!("not a JSON array of `[FILE:]KEY=VALUE` strings (or of such arrays): {e}"),
    };
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    if v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.is_array()))
    {
        return serde_json::from_value(v)
            .map(SetJson::Many)
            .map_err(|e| bad(e.to_string()));
    }
    serde_json::from_value(v)
        .map(SetJson::One)
        .map_err(|e| bad(e.to_string()))
}

fn overrides(args: &[String]) -> Result<Vec<Vec<set::Assignment>>, ExpError> {
    let parsed = args
        .iter()
        .map(|a| set::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(set::grid(&parsed))
}

fn cmd_run(ctx: &Ctx, mut a: RunArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let mut grid = Vec::new();
    match a.set_json.as_deref().map(set_json).transpose()? {
        None => grid = overrides(&a.set_param)?,
        Some(SetJson::One(more)) => {
            a.set_param.extend(more);
            grid = overrides(&a.set_param)?;
        }
        // Several experiments (an Argo join): each its own `-S` list.
        Some(SetJson::Many(rows)) => {
            if !a.queue {
                return Err(ExpError::Override {
                    arg: "--set-json".into(),
                    message: format!("{} experiments: queue them with --queue", rows.len()),
                }
                .into());
            }
            for row in rows {
                let mut sets = a.set_param.clone();
                sets.extend(row);
                grid.extend(overrides(&sets)?);
            }
        }
    }
    if let Some(n) = &a.name {
        refs::check_name(n)?;
    }
    if a.queue {
        queue::enqueue(ctx, &root, &grid, &a)?;
        if !a.run_all {
            return Ok(Exit::Ok);
        }
    }
    if a.run_all {
        return queue::run_all(ctx, &root, a.jobs, &a.sync);
    }
    if grid.len() > 1 {
        return Err(ExpError::Override {
            arg: a.set_param.join(" "),
            message: format!("{} combinations: run them with --queue", grid.len()),
        }
        .into());
    }
    let baseline = refs::head(&root)?;
    set::apply(&root, &grid[0])?;
    let repro = repro_args(&a.sync, &a.targets);
    let exit = mlci_in(ctx, &root, &repro)?;
    if exit != Exit::Ok {
        ctx.printer
            .warn("the pipeline failed: no experiment was recorded (the workspace keeps what ran)");
        return Ok(exit);
    }
    let repo = ctx.repo_in_place(&Default::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let opts = record::RecordOptions {
        name: a.name.as_deref(),
        force: a.force,
        entry: None,
    };
    let done = record::record(&repo, &pipeline, baseline, &opts)?;
    let how = if done.reused {
        "unchanged, kept"
    } else {
        "recorded"
    };
    ctx.printer.info(&format!(
        "experiment `{}` {how} ({}); its results are in the workspace",
        done.reference.name,
        done.reference.refname()
    ));
    ctx.printer.data(&format!("{}\n", done.reference.name))?;
    Ok(Exit::Ok)
}

fn cmd_apply(ctx: &Ctx, a: ApplyArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let git = git2::Repository::open(&root)?;
    let head = refs::head(&root)?;
    let (e, commit) = refs::find(&git, &a.experiment, Some(&head.to_string()))?;
    let exp_tree = git.find_commit(commit)?.tree()?;
    let head_tree = git.find_commit(head)?.tree()?;
    let diff = git.diff_tree_to_tree(Some(&head_tree), Some(&exp_tree), None)?;
    let mut written = 0usize;
    for d in diff.deltas() {
        let path = d
            .new_file()
            .path()
            .or(d.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .expect("a delta names a path");
        let at = crate::workspace_path::WorkspacePath::new(&path)?.locate(&root)?;
        if d.status() == git2::Delta::Deleted {
            let _ = fs_err::remove_file(&at);
            continue;
        }
        let blob = git.find_blob(d.new_file().id())?;
        if let Some(dir) = at.parent() {
            fs_err::create_dir_all(dir)?;
        }
        crate::fsutil::write_atomic(&at, blob.content())?;
        if d.new_file().mode() == git2::FileMode::BlobExecutable {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
        }
        written += 1;
    }
    let exit = mlci_in(ctx, &root, &["-q", "checkout", "--force"])?;
    ctx.printer.info(&format!(
        "applied experiment `{}` to the workspace ({written} file(s) from its commit, outputs from the cache)",
        e.name
    ));
    Ok(exit)
}

fn cmd_branch(ctx: &Ctx, a: BranchArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let git = git2::Repository::open(&root)?;
    let head = refs::head(&root).ok().map(|h| h.to_string());
    let (e, commit) = refs::find(&git, &a.experiment, head.as_deref())?;
    if git2::Branch::name_is_valid(&a.branch).ok() != Some(true) {
        return Err(ExpError::BadName { name: a.branch }.into());
    }
    if git.find_branch(&a.branch, git2::BranchType::Local).is_ok() {
        return Err(ExpError::BranchExists { name: a.branch }.into());
    }
    git.branch(&a.branch, &git.find_commit(commit)?, false)?;
    ctx.printer.info(&format!(
        "branch `{}` made from experiment `{}`; `git checkout {}` and `mlci checkout` give its files",
        a.branch, e.name, a.branch
    ));
    Ok(Exit::Ok)
}

fn cmd_remove(ctx: &Ctx, a: RemoveArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let git = git2::Repository::open(&root)?;
    let head = refs::head(&root).ok().map(|h| h.to_string());
    let mut gone = Vec::new();
    if a.all {
        gone = refs::all(&git)?.into_iter().map(|(e, _)| e).collect();
    } else {
        for name in &a.experiments {
            gone.push(refs::find(&git, name, head.as_deref())?.0);
        }
    }
    for e in &gone {
        git.find_reference(&e.refname())?.delete()?;
    }
    if !gone.is_empty() {
        ctx.printer
            .info(&format!("removed {} experiment(s)", gone.len()));
    }
    if a.queue {
        let n = queue::remove_queued(&root)?;
        ctx.printer
            .info(&format!("removed {n} queued experiment(s)"));
    }
    Ok(Exit::Ok)
}
