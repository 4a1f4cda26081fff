//! The pipeline as an Argo Workflows `Workflow`: a DAG template with one
//! task per stage (its dependencies the stages it reads from), each task
//! checking out the commit (a git input artifact) and running `mlci repro
//! -s STAGE --pull --push` in the given image with the remote's
//! credentials from a named Kubernetes secret (never inline), and a final
//! join task (`mlci repro --pull --restore-only`). Workers and the join
//! meet through the remote's run cache and per-commit records, exactly as
//! on CI runners.

use std::collections::BTreeMap;

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

/// Task names: stage names lower-cased, every character outside
/// `[a-z0-9-]` turned into `-`, a leading non-alphanumeric prefixed with
/// `s`, and `-2`, `-3`, … only where two would collide.
pub fn task_names(pipeline: &Pipeline) -> Vec<String> {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
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
        if base == "join" {
            base = "join-stage".into();
        }
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        out.push(if *n == 1 { base } else { format!("{base}-{n}") });
    }
    out
}

/// The Workflow document.
pub fn workflow(pipeline: &Pipeline, opts: &ArgoOptions) -> Result<Value, super::dag::DagError> {
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
    let mut stage_args: Vec<String> = vec!["repro".into(), "--pull".into(), "--push".into()];
    stage_args.extend(remote_args.clone());
    stage_args.extend(["-s".into(), "{{inputs.parameters.stage}}".into()]);
    let mut join_args: Vec<String> = vec!["repro".into(), "--pull".into(), "--restore-only".into()];
    join_args.extend(remote_args);
    Ok(json!({
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
                    "name": "stage",
                    "inputs": {"parameters": [{"name": "stage"}], "artifacts": source},
                    "container": container(stage_args),
                },
                {
                    "name": "join",
                    "inputs": {"artifacts": source},
                    "container": container(join_args),
                },
            ],
        },
    }))
}
