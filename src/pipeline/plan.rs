//! Fan-out plans: the stale stages grouped into waves that can run on
//! separate machines. A stage's wave is the length of its longest chain of
//! stale upstream stages, so independent stages share wave 0 and a stage
//! runs only after every stale stage it reads from.
//!
//! A stage is stale when it differs from `mlci.lock` (the reasons `mlci
//! status` gives) and cannot be restored: a run-cache-eligible stage whose
//! upstream is all current is restorable when its run key is in the local
//! run cache or, asked through `remote_has`, on the remote. A stage below a
//! stale one is stale too: its inputs are about to change.

use std::collections::BTreeMap;

use serde::Serialize;

use super::definition::{Pipeline, Stage};
use super::repro::ReproError;
use super::status::{current_inputs, reasons, Contents, Inputs, MissingDeps, ParamsCache};
use crate::progress::Silent;
use crate::track::Workspace;

/// One stage of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    pub name: String,
    pub deps: Vec<String>,
    pub outs: Vec<String>,
    /// Why it must run.
    pub reasons: Vec<String>,
}

/// Stages that can run at the same time.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    pub wave: usize,
    pub stages: Vec<PlannedStage>,
}

/// The waves of stale stages among `targets` and their upstream (every
/// stage when empty), in mlci's format. `remote_has(key)` says whether the
/// remote holds the run record named `key` (`runcache::record_key`).
pub fn plan(
    ws: &mut Workspace,
    pipeline: &Pipeline,
    targets: &[String],
    remote_has: &dyn Fn(&str) -> bool,
) -> Result<Vec<Wave>, ReproError> {
    let lock = super::lock::LockFile::load(&ws.repo.root)?;
    let repo = ws.repo;
    let mut restorable = |stage: &Stage, inputs: &Inputs| {
        super::runcache::eligible(stage) && {
            let key = super::runcache::key(stage, inputs);
            super::runcache::lookup(&repo.cache, &key, stage).is_some()
                || remote_has(&super::runcache::record_key(&key))
        }
    };
    waves(ws, pipeline, &lock, targets, &mut restorable)
}

/// The waves of stale stages among `targets` and their upstream (every
/// stage when empty), judged against `lock` with `contents` (either
/// format's). `restorable(stage, inputs)` says whether a run cache can
/// restore a stale stage whose upstream is all current.
pub fn waves(
    contents: &mut dyn Contents,
    pipeline: &Pipeline,
    lock: &super::lock::LockFile,
    targets: &[String],
    restorable: &mut dyn FnMut(&Stage, &Inputs) -> bool,
) -> Result<Vec<Wave>, ReproError> {
    let dag = super::dag::Dag::build(&pipeline.stages)?;
    let chosen = super::repro::select(pipeline, &dag, targets, false)?;
    let mut params = ParamsCache::default();
    // wave of each stale stage, by index.
    let mut wave: BTreeMap<usize, usize> = BTreeMap::new();
    let mut planned: Vec<(usize, PlannedStage)> = Vec::new();
    for &i in dag.order.iter().filter(|i| chosen.contains(i)) {
        let stage = &pipeline.stages[i];
        let stale_up: Vec<usize> = dag.upstream[i]
            .iter()
            .filter_map(|u| wave.get(u).copied())
            .collect();
        let inputs = if stage.frozen {
            Default::default()
        } else {
            current_inputs(
                contents,
                pipeline,
                stage,
                &mut params,
                MissingDeps::Refuse,
                &Silent,
            )?
        };
        let mut why: Vec<String> = reasons(
            contents,
            stage,
            &inputs,
            lock.stages.get(&stage.name),
            &Silent,
        )?
        .iter()
        .map(|r| r.describe(&|s| format!("`{s}`"), &|s| s.to_string()))
        .collect();
        if stage.frozen {
            why.clear();
        }
        if !stale_up.is_empty() {
            why.push("an upstream stage runs first".into());
        } else if !why.is_empty() && restorable(stage, &inputs) {
            why.clear();
        }
        if why.is_empty() {
            continue;
        }
        let w = stale_up.iter().map(|w| w + 1).max().unwrap_or(0);
        wave.insert(i, w);
        planned.push((
            w,
            PlannedStage {
                name: stage.name.clone(),
                deps: stage.deps.iter().map(|d| d.to_string()).collect(),
                outs: stage.outs.iter().map(|o| o.path.to_string()).collect(),
                reasons: why,
            },
        ));
    }
    let waves = planned.iter().map(|(w, _)| *w).max().map_or(0, |m| m + 1);
    Ok((0..waves)
        .map(|w| Wave {
            wave: w,
            stages: planned
                .iter()
                .filter(|(pw, _)| *pw == w)
                .map(|(_, s)| s.clone())
                .collect(),
        })
        .collect())
}

/// GitHub's limit on the jobs of one matrix.
pub const MATRIX_LIMIT: usize = 256;

/// One `strategy.matrix` for GitHub Actions: a wave (or a part of one
/// larger than [`MATRIX_LIMIT`]) as an `include` list, each entry the
/// stages one runner takes.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub wave: usize,
    /// The part of a wave split at the job limit (0 when it fits).
    pub part: usize,
    pub matrix: Include,
}

#[derive(Debug, Clone, Serialize)]
pub struct Include {
    pub include: Vec<Entry>,
}

/// One matrix job: its stages, also as `-s` arguments for `mlci repro`.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub stages: Vec<String>,
    /// `-s 'a' -s 'b'`, shell-quoted.
    pub args: String,
}

/// The matrices of `waves`: with `runners`, at most that many jobs per
/// wave, stages dealt round-robin; without, one job per stage. A wave
/// needing more than 256 jobs is split into parts, never truncated.
pub fn matrices(waves: &[Wave], runners: Option<usize>) -> Vec<Matrix> {
    let mut out = Vec::new();
    for w in waves {
        let jobs = runners
            .unwrap_or(w.stages.len())
            .clamp(1, w.stages.len().max(1));
        let mut entries: Vec<Vec<String>> = vec![Vec::new(); jobs];
        for (k, s) in w.stages.iter().enumerate() {
            entries[k % jobs].push(s.name.clone());
        }
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !e.is_empty())
            .map(|stages| Entry {
                args: stages
                    .iter()
                    .map(|s| format!("-s '{}'", s.replace('\'', "'\\''")))
                    .collect::<Vec<_>>()
                    .join(" "),
                stages,
            })
            .collect();
        for (part, chunk) in entries.chunks(MATRIX_LIMIT).enumerate() {
            out.push(Matrix {
                wave: w.wave,
                part,
                matrix: Include {
                    include: chunk.to_vec(),
                },
            });
        }
    }
    out
}
