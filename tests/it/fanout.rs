//! The fan-out: three clones of one repository as three "runners" running
//! their share of each wave as parallel processes against SeaweedFS (the
//! suite's S3 server), then the join in a fourth; compared with a fifth
//! clone that ran everything alone, and with DVC's outputs of the same
//! pipeline. A failing stage; two workers racing to push the same objects.

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::{env_from_test_script, mlci_cmd, unique, Server, TestRepo};
use crate::plan::SEVEN;

const OUTS: [&str; 7] = [
    "a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt",
];

/// The repository, committed with its remote, and `n` clones.
fn clones(n: usize, yaml: &str) -> (TestRepo, Vec<TestRepo>) {
    let origin = TestRepo::new();
    origin.write("mlci.yaml", yaml);
    origin.write("in.txt", "one\n");
    origin.add_remote("store", Server::S3);
    origin.commit_all("pipeline");
    let clones = (0..n)
        .map(|i| origin.clone_to(&unique(&format!("runner{i}"))))
        .collect();
    (origin, clones)
}

/// Runs `mlci repro -s STAGE --pull --push` in each (runner, stages) at
/// once; returns each run's (code, output).
fn wave(runners: &[TestRepo], share: &[(usize, &[&str])]) -> Vec<(i32, String)> {
    let children: Vec<_> = share
        .iter()
        .map(|(r, stages)| {
            let mut cmd = mlci_cmd(&runners[*r].root);
            cmd.args(["repro", "--pull", "--push"]);
            for s in *stages {
                cmd.args(["-s", s]);
            }
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        })
        .collect()
}

fn ran(outputs: &[(i32, String)]) -> Vec<String> {
    let mut v: Vec<String> = outputs
        .iter()
        .flat_map(|(_, o)| {
            o.lines()
                .filter_map(|l| l.strip_prefix("running stage `"))
                .map(|s| s.trim_end_matches('`').to_string())
        })
        .collect();
    v.sort();
    v
}

fn outputs(r: &TestRepo) -> BTreeMap<String, String> {
    OUTS.iter().map(|o| (o.to_string(), r.read(o))).collect()
}

#[test]
fn three_runners_and_a_join_equal_one_machine_and_dvc() {
    let (origin, runners) = clones(5, SEVEN);
    // Wave by wave, each runner its share, in parallel.
    let mut all = Vec::new();
    for share in [
        vec![(0, &["a"][..]), (1, &["e"][..]), (2, &["f"][..])],
        vec![(0, &["b"][..]), (1, &["c"][..]), (2, &["g"][..])],
        vec![(1, &["d"][..])],
    ] {
        let out = wave(&runners, &share);
        for (code, text) in &out {
            assert_eq!(*code, 0, "{text}");
        }
        all.extend(out);
    }
    assert_eq!(
        ran(&all),
        ["a", "b", "c", "d", "e", "f", "g"],
        "every stage ran once"
    );
    // A record pushed by one runner restored its stage's outputs on another:
    // runner 1 ran d from b (runner 0's) and c (its own).
    assert_eq!(runners[1].read("b.txt"), "one\nb\n");
    // The join runs nothing and writes mlci.lock.
    let join = &runners[3];
    let run = join.mlci(&["repro", "--pull", "--restore-only"]).ok();
    assert!(!run.stderr.contains("running stage"), "{}", run.stderr);
    // One machine alone.
    let alone = &runners[4];
    alone.mlci(&["repro"]).ok();
    assert_eq!(
        join.read("mlci.lock"),
        alone.read("mlci.lock"),
        "byte-identical locks"
    );
    assert_eq!(outputs(join), outputs(alone));
    // DVC's outputs of the same pipeline.
    let dvc_repo = TestRepo::new();
    dvc_repo.write("dvc.yaml", SEVEN);
    dvc_repo.write("in.txt", "one\n");
    dvc_repo.git(&["add", "-A"]);
    let exe = env_from_test_script("MLCI_TEST_DVC");
    crate::dvc_oracle::dvc(&exe, &dvc_repo, &["init", "-q", "-f"]);
    crate::dvc_oracle::dvc(&exe, &dvc_repo, &["repro", "-q"]);
    assert_eq!(outputs(join), outputs(&dvc_repo));
    // The plan of the joined checkout: nothing left.
    let plan = join.mlci(&["plan", "--json"]).ok();
    assert!(plan.stdout.contains("\"waves\": []"), "{}", plan.stdout);
    // A later commit has no per-commit records, but `repro --pull` looks
    // every run key up on the remote: a fresh clone restores, runs nothing.
    origin.write("README.md", "notes\n");
    origin.commit_all("notes");
    let later = origin.clone_to(&unique("later"));
    let run = later.mlci(&["repro", "--pull"]).ok();
    // Only e and f run: without deps the run cache cannot key them (DVC's
    // rule); they join through per-commit records, which this commit lacks.
    assert_eq!(
        ran(&[(0, run.stderr.clone())]),
        ["e", "f"],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("restored the outputs of `d` from the run cache"),
        "{}",
        run.stderr
    );
    assert_eq!(outputs(&later), outputs(alone));
}

#[test]
fn a_failing_stage_stops_its_dependents_and_the_join_names_it() {
    let yaml = SEVEN.replace("cmd: cat b.txt c.txt > d.txt", "cmd: exit 3")
        + "  h:\n    cmd: cat d.txt > h.txt\n    deps: [d.txt]\n    outs: [h.txt]\n";
    let (_origin, runners) = clones(3, &yaml);
    for share in [
        vec![(0, &["a", "e", "f"][..])],
        vec![(1, &["b", "c", "g"][..])],
    ] {
        for (code, text) in wave(&runners, &share) {
            assert_eq!(code, 0, "{text}");
        }
    }
    let out = wave(&runners, &[(2, &["d"][..])]);
    assert_eq!(out[0].0, 2, "{}", out[0].1);
    // Wave 3's dependent is not run: its worker names the failure.
    let out = wave(&runners, &[(0, &["h"][..])]);
    assert_eq!(out[0].0, 2, "{}", out[0].1);
    assert!(
        out[0]
            .1
            .contains("upstream stage `d` failed on another worker"),
        "{}",
        out[0].1
    );
    assert!(!out[0].1.contains("running stage"), "{}", out[0].1);
    // Nothing runs below a failed stage: the join names it and runs nothing.
    let run = runners[0].mlci(&["repro", "--pull", "--restore-only"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`d` failed"), "{}", run.stderr);
    assert!(!run.stderr.contains("running stage"), "{}", run.stderr);
    // A worker whose upstream has no record is refused, naming it.
    let (_o2, fresh) = clones(1, SEVEN);
    let out = wave(&fresh, &[(0, &["d"][..])]);
    assert_eq!(out[0].0, 2, "{}", out[0].1);
    assert!(
        out[0].1.contains("upstream stage `b` has no record"),
        "{}",
        out[0].1
    );
}

#[test]
fn two_workers_racing_to_push_the_same_objects_leave_every_object_sound() {
    // S3 publishes a PUT atomically; a directory remote renames into place.
    for kind in [Server::S3, Server::Local] {
        race(kind);
    }
}

fn race(kind: Server) {
    let origin = TestRepo::new();
    origin.write_tree("data", 2000);
    origin.mlci(&["add", "data"]).ok();
    origin.add_remote("store", kind);
    origin.commit_all("data");
    let a = origin.clone_to(&unique("racer-a"));
    let b = origin.clone_to(&unique("racer-b"));
    // Both have the objects (the same bytes), and push at once.
    for r in [&a, &b] {
        let out = Command::new("cp")
            .args(["-r"])
            .arg(origin.path(".mlci/cache"))
            .arg(r.path(".mlci/"))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let pushes: Vec<_> = [&a, &b]
        .iter()
        .map(|r| {
            mlci_cmd(&r.root)
                .args(["push", "-j", "16"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for p in pushes {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A fresh clone pulls every object and each verifies.
    let c = origin.clone_to(&unique("racer-check"));
    c.mlci(&["pull"]).ok();
    assert_eq!(crate::common::count_files(&c.path("data")), 2000);
    c.assert_cache_sound();
    c.mlci(&["status", "--check"]).ok();
}

/// `mlci export argo`: one task per stage with its dependencies, a join,
/// credentials from a named secret, names Argo accepts; validated against
/// Argo's own model (hera's `Workflow`).
/// The Workflow `yaml` checked against Argo's own model (hera, through
/// `tests/oracles/argo_validate.py`): its DAG, templates' arguments,
/// secrets and task parameters as that script prints them; panics with
/// the validation errors when Argo would refuse it.
pub(crate) fn argo_validated(yaml: &str) -> serde_json::Value {
    let mut check = Command::new(env_from_test_script("MLCI_TEST_ORACLE_PYTHON"))
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/argo_validate.py"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{yaml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_argo_export_validates_against_argos_model() {
    let r = TestRepo::new();
    let long = "x".repeat(200);
    let extra = format!("  Train_A:\n    cmd: echo 1 > ta.txt\n    outs: [ta.txt]\n  train-a:\n    cmd: echo 2 > tb.txt\n    outs: [tb.txt]\n  train-a-2:\n    cmd: echo 3 > tc.txt\n    outs: [tc.txt]\n  eu:\n    foreach: [west/1, north, {long}a, {long}b]\n    do:\n      cmd: echo x > eu-${{item}}.txt\n      deps: [ta.txt]\n      outs:\n        - eu-${{item}}.txt\n  \"on\":\n    cmd: echo on > on.txt\n    deps: [ta.txt]\n    outs: [on.txt]\n  \"1_000\":\n    cmd: echo k > k.txt\n    deps: [on.txt]\n    outs: [k.txt]\n");
    r.write("mlci.yaml", format!("{SEVEN}{extra}"));
    r.git(&[
        "remote",
        "add",
        "origin",
        "https://bot:ghp_secret0123@example.invalid/octo/churn.git",
    ]);
    r.commit_all("pipeline");
    let run = r
        .mlci(&[
            "export",
            "argo",
            "--image",
            "registry.example/mlci:1",
            "--secret",
            "s3-creds",
            "-r",
            "store",
        ])
        .ok();
    assert!(
        !run.stdout.contains("ghp_secret0123"),
        "no credentials in the document"
    );
    let v = argo_validated(&run.stdout);
    let tasks = v["tasks"].as_object().unwrap();
    assert_eq!(tasks["d"], serde_json::json!(["b", "c"]));
    assert_eq!(tasks["a"], serde_json::json!([]));
    // Lower-cased, `[a-z0-9-]` only, a suffix only on a collision (and
    // never one another stage's name already holds); Argo's own name rule
    // (pattern, length, uniqueness) is checked by the oracle script.
    for name in [
        "train-a",
        "train-a-2",
        "train-a-2-2",
        "eu-west-1",
        "eu-north",
    ] {
        assert!(tasks.contains_key(name), "{name} in {tasks:?}");
    }
    let long_names: Vec<&String> = tasks.keys().filter(|k| k.starts_with("eu-xxx")).collect();
    assert_eq!(long_names.len(), 2, "{tasks:?}");
    assert!(long_names.iter().all(|k| k.len() <= 128), "{long_names:?}");
    assert_eq!(
        tasks["join"].as_array().unwrap().len(),
        16,
        "the join waits for every stage"
    );
    // Names a YAML 1.1 reader would type (`on` a boolean, `1_000` a
    // number) stay strings: every scalar is quoted.
    assert_eq!(tasks["1-000"], serde_json::json!(["on"]));
    assert_eq!(v["params"]["on"], serde_json::json!(["'on'"]));
    assert_eq!(v["params"]["1-000"], serde_json::json!(["'1_000'"]));
    assert_eq!(
        v["args"]["stage"],
        serde_json::json!([
            "repro",
            "--pull",
            "--push",
            "-r",
            "store",
            "-s",
            "{{inputs.parameters.stage}}"
        ])
    );
    assert_eq!(v["secret"], serde_json::json!(["s3-creds", "s3-creds"]));
}

/// Argo substitutes `{{…}}` in parameter values, so a stage whose name
/// holds `{{` (a `foreach` item from a pull request, say) would run as
/// another name: the export refuses it, naming the stage, and writes nothing.
#[test]
fn the_argo_export_refuses_a_stage_name_argo_would_substitute() {
    let r = TestRepo::new();
    r.write(
        "mlci.yaml",
        "stages:\n  m:\n    foreach: [ok, \"{{workflow.name}}\"]\n    do:\n      cmd: echo ${item}\n",
    );
    r.commit_all("pipeline");
    let run = r
        .mlci(&[
            "export",
            "argo",
            "--repo",
            "https://example.invalid/o/r.git",
        ])
        .user_error();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("stage `m@{{workflow.name}}`"),
        "{}",
        run.stderr
    );
}
