//! `mlci plan`: the stale stages in waves for a fan-out over several
//! machines (GitHub Actions matrix jobs, Argo tasks).

use clap::Args;

use super::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::pipeline::plan::{self, Wave};
use crate::repo::format::Format;
use crate::track::Workspace;

/// The stages that must run, in waves: a stage's wave is the length of its
/// longest chain of stale upstream stages, so wave 0 holds the independent
/// ones. Stages the run cache (local, or the remote's) can restore are not
/// stale. `--json` prints `{"waves": [{"wave", "stages": [{"name", "deps",
/// "outs", "reasons"}]}]}`; `--matrix` prints GitHub Actions matrices.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan only these stages and what they depend on.
    pub stages: Vec<String>,
    #[arg(long, conflicts_with = "matrix")]
    pub json: bool,
    /// Print one `strategy.matrix` per wave as `waveN={"include": [...]}`
    /// lines (for $GITHUB_OUTPUT and `fromJSON`), split into parts of at
    /// most 256 jobs (`waveN_partP=`), and `waves=N`.
    #[arg(long)]
    pub matrix: bool,
    /// At most N jobs per wave, the wave's stages dealt among them.
    #[arg(long, value_name = "N", requires = "matrix")]
    pub runners: Option<usize>,
    /// The remote whose run records count (default: `core.remote`).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Consider the local run cache only.
    #[arg(long)]
    pub no_remote: bool,
    /// Plan the queued experiments instead (`mlci exp run --queue`): one
    /// job each; `--matrix` prints `experiments={"include": [{"id",
    /// "name", "set"}]}` (parts of at most 256 as `experiments_partP=`)
    /// and `count=N`, each job running `mlci exp run --set-json SET --pull
    /// --push` (docs/experiments.md).
    #[arg(long, conflicts_with_all = ["stages", "runners"])]
    pub experiments: bool,
}

pub fn cmd_plan(ctx: &Ctx, a: PlanArgs) -> anyhow::Result<Exit> {
    if a.experiments {
        return plan_experiments(ctx, &a);
    }
    let repo = ctx.repo_in_place(&Overrides {
        remote: a.remote.clone(),
        ..Overrides::default()
    })?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let waves = match repo.format {
        Format::Mlci => mlci_waves(&repo, &pipeline, &a)?,
        Format::Dvc => dvc_waves(&repo, &pipeline, &a.stages)?,
    };
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(
            &serde_json::json!({ "waves": waves }),
        )?)?;
    } else if a.matrix {
        ctx.printer.data(&matrix_lines(&waves, a.runners)?)?;
    } else if waves.is_empty() {
        ctx.printer
            .info("nothing to run: every stage is current or restorable");
    } else {
        let mut text = String::new();
        for w in &waves {
            text.push_str(&format!("wave {}:\n", w.wave));
            for s in &w.stages {
                text.push_str(&format!("  {}: {}\n", s.name, s.reasons.join("; ")));
            }
        }
        ctx.printer.data(text.trim_end())?;
    }
    Ok(Exit::Ok)
}

/// The waves of a DVC repository used in place: stages judged against
/// `dvc.lock` with DVC's MD5, restorable when DVC's run cache in the local
/// cache holds their run (run-cache entries do not travel with push and
/// pull in place, so the remote is not asked).
fn dvc_waves(
    repo: &crate::repo::Repo,
    pipeline: &crate::pipeline::Pipeline,
    targets: &[String],
) -> anyhow::Result<Vec<Wave>> {
    let root = &repo.root;
    let lock = crate::dvc::lock::load(root, pipeline)?;
    let mut contents = crate::dvc::contents::Md5Contents::open(root, lock.legacy.clone());
    let mut restorable = |stage: &crate::pipeline::Stage,
                          inputs: &crate::pipeline::status::Inputs| {
        crate::dvc::repro::restorable(root, stage, inputs)
    };
    let waves = plan::waves(
        &mut contents,
        pipeline,
        &lock.lock,
        targets,
        &mut restorable,
    )?;
    contents.save();
    Ok(waves)
}

/// The waves of mlci's format: restorable from the local run cache or the
/// remote's records.
fn mlci_waves(
    repo: &crate::repo::Repo,
    pipeline: &crate::pipeline::Pipeline,
    a: &PlanArgs,
) -> anyhow::Result<Vec<Wave>> {
    let remote = if a.no_remote {
        None
    } else {
        crate::sync::open(&repo.settings, &repo.root)?
    };
    let rt = crate::remote::runtime()?;
    // A remote that cannot be asked counts as not holding the record: the
    // stage is planned, never skipped on a guess.
    let remote_has = |key: &str| match &remote {
        Some(r) => rt.block_on(r.exists(key)).unwrap_or(false),
        None => false,
    };
    let mut ws = Workspace::open(repo);
    let waves = plan::plan(&mut ws, pipeline, &a.stages, &remote_has)?;
    ws.finish()?;
    Ok(waves)
}

/// `waveN=...`, `waveN_partP=...` and `waves=N` lines.
fn matrix_lines(waves: &[Wave], runners: Option<usize>) -> anyhow::Result<String> {
    let mut out = String::new();
    let all = plan::matrices(waves, runners);
    for m in &all {
        let parts = all.iter().filter(|x| x.wave == m.wave).count();
        let name = if parts > 1 {
            format!("wave{}_part{}", m.wave, m.part)
        } else {
            format!("wave{}", m.wave)
        };
        out.push_str(&format!("{name}={}\n", serde_json::to_string(&m.matrix)?));
    }
    out.push_str(&format!("waves={}", waves.len()));
    Ok(out)
}

/// The queued experiments that have not run, one job each.
fn plan_experiments(ctx: &Ctx, a: &PlanArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let queue = crate::experiments::queue::Queue::of(&root);
    let jobs: Vec<serde_json::Value> = queue
        .pending()?
        .into_iter()
        .map(|e| {
            let set: Vec<String> = e.assignments.iter().map(|s| s.arg()).collect();
            serde_json::json!({ "id": e.id, "name": e.name, "set": set })
        })
        .collect();
    if a.json {
        let doc = serde_json::json!({ "experiments": jobs });
        ctx.printer.data(&serde_json::to_string_pretty(&doc)?)?;
    } else if a.matrix {
        let mut out = String::new();
        let parts: Vec<&[serde_json::Value]> = jobs.chunks(plan::MATRIX_LIMIT).collect();
        for (p, part) in parts.iter().enumerate() {
            let name = match parts.len() {
                1 => "experiments".to_string(),
                _ => format!("experiments_part{p}"),
            };
            let m = serde_json::json!({ "include": part });
            out.push_str(&format!("{name}={}\n", serde_json::to_string(&m)?));
        }
        out.push_str(&format!("count={}", jobs.len()));
        ctx.printer.data(&out)?;
    } else if jobs.is_empty() {
        ctx.printer
            .info("no queued experiment: `mlci exp run --queue -S KEY=V1,V2` queues some");
    } else {
        let lines: Vec<String> = jobs
            .iter()
            .map(|j| {
                let set: Vec<&str> = j["set"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .collect();
                format!("{}: {}", j["id"].as_str().unwrap_or(""), set.join(" "))
            })
            .collect();
        ctx.printer.data(&lines.join("\n"))?;
    }
    Ok(Exit::Ok)
}
