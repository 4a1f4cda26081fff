//! The pipeline as an Argo Workflows `Workflow`: a DAG template with one
//! task per stage (its dependencies the stages it reads from), each task
//! checking out the commit (a git input artifact) and running `mlci repro
//! -s STAGE --pull --push` in the given image with the remote's
//! credentials from a named Kubernetes secret (never inline), and a final
//! join task (`mlci repro --pull --restore-only`). Workers and the join
//! meet through the remote's run cache and per-commit records, exactly as
//! on CI runners.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::dag::Dag;
use super::definition::Pipeline;

/// What the workflow runs and where.
#[derive(Debug, Clone)]
pub struct ArgoOptions {
    pub image: String,
    /// `-r NAME` for every mlci call (None: the repository's default).
    pub remote: Option<String>,
    /// The Kubernetes secret whose keys become the environment (remote
    /// credentials).
    pub secret: String,
    /// The git repository the tasks check out (no credentials in it).
    pub repo: String,
    /// The commit (40 hex).
    pub revision: String,
}

/// The longest task name Argo accepts (`workflowFieldMaxLength` in its
/// validator).
const MAX_TASK_NAME: usize = 128;

/// Why a pipeline cannot become a Workflow.
#[derive(Debug, thiserror::Error)]
pub enum ArgoError {
    #[error(transparent)]
    Dag(#[from] super::dag::DagError),
    /// Argo substitutes `{{…}}` in every parameter value, so the stage a
    /// task runs would not be the stage it names.
    #[error("stage `{stage}`: its name holds `{{{{`, which Argo would substitute as a template expression")]
    Templated { stage: String },
    /// The same for an experiment's `-S` value.
    #[error("`{value}`: it holds `{{{{`, which Argo would substitute as a template expression")]
    TemplatedValue { value: String },
}

impl crate::error::Hint for ArgoError {
    fn hint(&self) -> Option<String> {
        match self {
            ArgoError::Dag(e) => e.hint(),
            ArgoError::Templated { .. } => Some(
                "rename the stage (or the `foreach` item that names it) so that it holds no `{{`"
                    .into(),
            ),
            ArgoError::TemplatedValue { .. } => Some(
                "queue that experiment without `{{` in its values, or run it with `mlci exp run`"
                    .into(),
            ),
        }
    }
}

crate::register_hint!(ArgoError);

/// Task names, as Argo's validator requires them (`[a-zA-Z0-9][-a-zA-Z0-9]*`,
/// at most 128 characters, unique): stage names lower-cased, every
/// character outside `[a-z0-9-]` turned into `-`, a leading
/// non-alphanumeric prefixed with `s`, a name too long cut and ended with 8
/// hex digits of its stage name's SHA-256, and `-2`, `-3`, … only where two
/// would collide (counted against every name given out, so a stage named
/// `a-2` cannot take the suffix another stage gets).
pub fn task_names(pipeline: &Pipeline) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut taken: BTreeSet<String> = ["join".to_string()].into();
    let mut out = Vec::new();
    for s in &pipeline.stages {
        let mut base: String = s
            .name
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if !base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            base = format!("s{base}");
        }
        // Room for a `-NNNN` collision suffix after the cut.
        if base.len() > MAX_TASK_NAME - 5 {
            let digest = hex::encode(&Sha256::digest(s.name.as_bytes())[..4]);
            base = format!("{}-{digest}", &base[..MAX_TASK_NAME - 5 - 9]);
        }
        let mut name = base.clone();
        let mut n = 1;
        while taken.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        taken.insert(name.clone());
        out.push(name);
    }
    out
}

/// The Workflow document.
pub fn workflow(pipeline: &Pipeline, opts: &ArgoOptions) -> Result<Value, ArgoError> {
    if let Some(s) = pipeline.stages.iter().find(|s| s.name.contains("{{")) {
        return Err(ArgoError::Templated {
            stage: s.name.clone(),
        });
    }
    let dag = Dag::build(&pipeline.stages)?;
    let names = task_names(pipeline);
    let mut tasks: Vec<Value> = dag
        .order
        .iter()
        .map(|&i| {
            let deps: Vec<&String> = dag.upstream[i].iter().map(|u| &names[*u]).collect();
            let mut t = json!({
                "name": names[i],
                "template": "stage",
                "arguments": {"parameters": [{"name": "stage", "value": pipeline.stages[i].name}]},
            });
            if !deps.is_empty() {
                t["dependencies"] = json!(deps);
            }
            t
        })
        .collect();
    tasks.push(json!({
        "name": "join",
        "template": "join",
        "dependencies": dag.order.iter().map(|&i| &names[i]).collect::<Vec<_>>(),
    }));
    let remote_args: Vec<String> = match &opts.remote {
        Some(r) => vec!["-r".into(), r.clone()],
        None => Vec::new(),
    };
    let mut stage_args: Vec<String> = vec!["repro".into(), "--pull".into(), "--push".into()];
    stage_args.extend(remote_args.clone());
    stage_args.extend(["-s".into(), "{{inputs.parameters.stage}}".into()]);
    let mut join_args: Vec<String> = vec!["repro".into(), "--pull".into(), "--restore-only".into()];
    join_args.extend(remote_args);
    Ok(document(
        opts,
        tasks,
        ("stage", json!([{"name": "stage"}]), stage_args),
        join_args,
    ))
}

/// One experiment for [`experiments_workflow`]: its task name (`[a-z0-9-]`)
/// and its `-S` values.
#[derive(Debug, Clone)]
pub struct ExperimentTask {
    pub name: String,
    pub set: Vec<String>,
}

/// The queued experiments as a Workflow: a task per experiment running
/// `mlci exp run --set-json SET --pull --push` on a checkout of the commit
/// (its stages restored from the remote's run cache when any machine ran
/// them), and a join that queues them all and runs them with `--pull`, so
/// each is recorded from the run cache the tasks filled.
///
/// # Errors
/// [`ArgoError::TemplatedValue`]: a value holds `{{`, which Argo would
/// substitute.
pub fn experiments_workflow(
    exps: &[ExperimentTask],
    opts: &ArgoOptions,
) -> Result<Value, ArgoError> {
    if let Some(v) = exps.iter().flat_map(|e| &e.set).find(|v| v.contains("{{")) {
        return Err(ArgoError::TemplatedValue { value: v.clone() });
    }
    let remote_args: Vec<String> = match &opts.remote {
        Some(r) => vec!["-r".into(), r.clone()],
        None => Vec::new(),
    };
    let tasks: Vec<Value> = exps
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "template": "experiment",
                "arguments": {"parameters": [{"name": "set", "value": serde_json::to_string(&e.set).expect("strings serialise")}]},
            })
        })
        .chain(std::iter::once(json!({
            "name": "join",
            "template": "join",
            "dependencies": exps.iter().map(|e| &e.name).collect::<Vec<_>>(),
        })))
        .collect();
    let all: Vec<&Vec<String>> = exps.iter().map(|e| &e.set).collect();
    let mut run: Vec<String> = [
        "exp",
        "run",
        "--set-json",
        "{{inputs.parameters.set}}",
        "--pull",
        "--push",
    ]
    .map(String::from)
    .to_vec();
    run.extend(remote_args.clone());
    let mut join: Vec<String> = ["exp", "run", "--queue", "--run-all", "--pull"]
        .map(String::from)
        .to_vec();
    join.extend(remote_args);
    join.extend([
        "--set-json".to_string(),
        serde_json::to_string(&all).expect("strings serialise"),
    ]);
    Ok(document(
        opts,
        tasks,
        ("experiment", json!([{"name": "set"}]), run),
        join,
    ))
}

/// A Workflow of `tasks` (the DAG), a worker template (name, its input
/// parameters, its mlci arguments) and the join's arguments.
fn document(
    opts: &ArgoOptions,
    tasks: Vec<Value>,
    (worker, params, worker_args): (&str, Value, Vec<String>),
    join_args: Vec<String>,
) -> Value {
    let source = json!([{
        "name": "source",
        "path": "/work",
        "git": {"repo": "{{workflow.parameters.repo}}", "revision": "{{workflow.parameters.revision}}"},
    }]);
    let container = |args: Vec<String>| {
        json!({
            "image": opts.image,
            "workingDir": "/work",
            "command": ["mlci"],
            "args": args,
            "envFrom": [{"secretRef": {"name": opts.secret}}],
        })
    };
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "mlci-"},
        "spec": {
            "entrypoint": "pipeline",
            "arguments": {"parameters": [
                {"name": "repo", "value": opts.repo},
                {"name": "revision", "value": opts.revision},
            ]},
            "templates": [
                {"name": "pipeline", "dag": {"tasks": tasks}},
                {
                    "name": worker,
                    "inputs": {"parameters": params, "artifacts": source},
                    "container": container(worker_args),
                },
                {
                    "name": "join",
                    "inputs": {"artifacts": source},
                    "container": container(join_args),
                },
            ],
        },
    })
}
