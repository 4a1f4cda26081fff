//! Experiments (`mlci exp`) with DVC 3 as the oracle, on one clone of a
//! repository shaped like DVC's get-started project (a `dvc add`ed raw
//! file, a `prepare` stage reading a whole params section, a `train` stage
//! reading three keys and writing a metrics file kept in git):
//!
//! - the same `-S` values run by `dvc exp run` and `mlci exp run` give
//!   experiment commits with the same tree, blob for blob (params file,
//!   `dvc.lock`, metrics, `.gitignore`s);
//! - `dvc exp show --json` lists mlci's experiments with mlci's params and
//!   metrics, and `mlci exp show --json` lists DVC's with DVC's;
//! - `mlci exp apply` of DVC's experiment and `dvc exp apply` of mlci's
//!   leave a workspace both tools call clean; `exp branch` points at the
//!   experiment; `exp remove` drops it for DVC too;
//! - queued variants run on three workers match `dvc exp run` of the same
//!   values.
//!
//! The kill-safety of the queue is tested in `experiments_kill`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{pin_output, TestRepo};
use crate::dvc_in_place::dvc_repo;
use crate::dvc_oracle::{dvc, dvc_status};

const PARAMS: &str = "# one section per stage, as DVC's get-started
prepare:
  split: 0.2
  seed: 20170428
train:
  lr: 0.1  # learning rate
  epochs: 3
  model: linear
";

const DVC_YAML: &str = "stages:
  prepare:
    cmd: python3 src/prepare.py ${prepare.split} ${prepare.seed}
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare]
    outs: [data/prepared]
  train:
    cmd: python3 src/train.py ${train.lr} ${train.epochs} ${train.model}
    deps: [src/train.py, data/prepared]
    params: [train.lr, train.epochs, train.model]
    outs: [model.pkl]
    metrics:
      - eval/metrics.json:
          cache: false
";

const PREPARE: &str = "import os, random, sys
split, seed = float(sys.argv[1]), int(sys.argv[2])
rows = open('data/raw.csv').read().splitlines()[1:]
random.Random(seed).shuffle(rows)
n = int(len(rows) * split)
os.makedirs('data/prepared', exist_ok=True)
open('data/prepared/test.csv', 'w').write('\\n'.join(rows[:n]) + '\\n')
open('data/prepared/train.csv', 'w').write('\\n'.join(rows[n:]) + '\\n')
";

const TRAIN: &str = "import json, os, sys
lr, epochs, model = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
train = [float(r.split(',')[1]) for r in open('data/prepared/train.csv').read().split()]
w = 0.0
for _ in range(epochs):
    for y in train:
        w += lr * (y - w) / len(train)
bias = {'linear': 0.0, 'tree': 0.05, 'cnn': 0.1}[model]
loss = round(sum((y - w) ** 2 for y in train) / len(train) + bias, 6)
os.makedirs('eval', exist_ok=True)
json.dump({'loss': loss, 'acc': round(1 / (1 + loss), 6)}, open('eval/metrics.json', 'w'))
open('model.pkl', 'w').write(f'{model} {w:.6f}\\n')
";

/// The project, run by `dvc repro` and committed.
fn project() -> (tempfile::TempDir, TestRepo, String) {
    let (tmp, repo, exe) = dvc_repo();
    repo.write("params.yaml", PARAMS);
    repo.write("dvc.yaml", DVC_YAML);
    repo.write("src/prepare.py", PREPARE);
    repo.write("src/train.py", TRAIN);
    let raw: String = std::iter::once("id,y\n".to_string())
        .chain((0..200).map(|i| format!("{i},{}\n", (i * 37 % 101) as f64 / 100.0)))
        .collect();
    repo.write("data/raw.csv", raw);
    dvc(&exe, &repo, &["add", "-q", "data/raw.csv"]);
    dvc(&exe, &repo, &["repro", "-q"]);
    repo.commit_all("baseline");
    (tmp, repo, exe)
}

/// Back to the baseline's files and outputs.
fn reset(repo: &TestRepo, exe: &str) {
    repo.git(&["checkout", "-q", "--", "."]);
    dvc(exe, repo, &["checkout", "-q", "--force"]);
}

fn exp_ref(repo: &TestRepo, name: &str) -> String {
    let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/exps/"]);
    refs.lines()
        .find(|r| r.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no experiment {name} in {refs}"))
        .to_string()
}

/// `path blob` of every file of an experiment's commit.
fn tree(repo: &TestRepo, name: &str) -> Vec<String> {
    let r = exp_ref(repo, name);
    repo.git(&["ls-tree", "-r", &r])
        .lines()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect()
}

/// name -> (params of params.yaml, metrics of eval/metrics.json) by DVC.
fn dvc_shown(repo: &TestRepo, exe: &str) -> BTreeMap<String, (Value, Value)> {
    let v: Value = serde_json::from_str(&dvc(exe, repo, &["exp", "show", "--json"])).unwrap();
    let mut out = BTreeMap::new();
    for row in v.as_array().unwrap() {
        for e in row["experiments"].as_array().into_iter().flatten() {
            for rev in e["revs"].as_array().unwrap() {
                let name = rev["name"].as_str().unwrap().to_string();
                let data = &rev["data"];
                out.insert(
                    name,
                    (
                        data["params"]["params.yaml"]["data"].clone(),
                        data["metrics"]["eval/metrics.json"]["data"].clone(),
                    ),
                );
            }
        }
    }
    out
}

/// name -> (params of params.yaml, metrics) by mlci, unflattened as DVC
/// shows them.
fn mlci_shown(repo: &TestRepo) -> BTreeMap<String, (Value, Value)> {
    let v: Value =
        serde_json::from_str(&repo.mlci(&["exp", "show", "--json"]).ok().stdout).unwrap();
    let nest = |flat: &Value| -> Value {
        let mut root = serde_json::Map::new();
        for (k, val) in flat.as_object().into_iter().flatten() {
            let parts: Vec<&str> = k.split('.').collect();
            let mut cur = &mut root;
            for p in &parts[..parts.len() - 1] {
                cur = cur
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .unwrap();
            }
            cur.insert(parts[parts.len() - 1].to_string(), val.clone());
        }
        Value::Object(root)
    };
    v["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                (
                    nest(&e["params"]["params.yaml"]),
                    nest(&e["metrics"]["eval/metrics.json"]),
                ),
            )
        })
        .collect()
}

const CASES: &[(&str, &[&str])] = &[
    ("lr", &["train.lr=0.05"]),
    ("small", &["train.lr=1e-5", "train.epochs=4"]),
    ("split", &["prepare.split=0.25", "train.model=tree"]),
    ("file", &["params.yaml:train.epochs=10"]),
];

#[test]
fn exp_run_records_what_dvc_exp_run_records_and_each_lists_the_others() {
    let (_tmp, repo, exe) = project();
    for (name, sets) in CASES {
        let mut args = vec!["exp", "run", "-n"];
        let theirs = format!("dvc-{name}");
        args.push(&theirs);
        for s in *sets {
            args.extend(["-S", s]);
        }
        dvc(&exe, &repo, &args);
        reset(&repo, &exe);
        let mine = format!("mlci-{name}");
        args[3] = &mine;
        let mut mlci_args = vec!["-q"];
        mlci_args.extend(&args);
        let out = repo.mlci(&mlci_args).ok();
        assert_eq!(out.stdout.trim(), mine);
        assert_eq!(
            tree(&repo, &theirs),
            tree(&repo, &mine),
            "{sets:?}: the experiment commits differ:\n{}",
            repo.git(&["diff", &exp_ref(&repo, &theirs), &exp_ref(&repo, &mine)])
        );
        // The workspace keeps the results, as DVC's does: DVC calls it clean.
        assert_eq!(dvc(&exe, &repo, &["status", "--json"]).trim(), "{}");
        reset(&repo, &exe);
    }
    // Each lists the other's experiments with the same values.
    let d = dvc_shown(&repo, &exe);
    let m = mlci_shown(&repo);
    assert_eq!(d.len(), 2 * CASES.len(), "{d:?}");
    assert_eq!(d, m);
    for (name, _) in CASES {
        assert_eq!(d[&format!("dvc-{name}")], d[&format!("mlci-{name}")]);
    }
    // Applying the other's experiment leaves a workspace both call clean.
    repo.mlci(&["-q", "exp", "apply", "dvc-split"]).ok();
    assert_eq!(
        repo.git(&["diff", "--stat", &exp_ref(&repo, "dvc-split")]),
        "",
        "the workspace is the experiment's"
    );
    assert_eq!(dvc(&exe, &repo, &["status", "--json"]).trim(), "{}");
    reset(&repo, &exe);
    dvc(&exe, &repo, &["exp", "apply", "mlci-small"]);
    let status: Value =
        serde_json::from_str(&repo.mlci(&["status", "--json"]).ok().stdout).unwrap();
    assert!(
        status["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "up_to_date"),
        "{status}"
    );
    reset(&repo, &exe);
    // A branch of an experiment is its commit; a removed one is gone for DVC.
    repo.mlci(&["-q", "exp", "branch", "mlci-lr", "try-lr"])
        .ok();
    assert_eq!(
        repo.git(&["rev-parse", "try-lr"]),
        repo.git(&["rev-parse", &exp_ref(&repo, "mlci-lr")])
    );
    repo.mlci(&["-q", "exp", "remove", "mlci-lr", "dvc-lr"])
        .ok();
    let left = dvc_shown(&repo, &exe);
    assert!(!left.contains_key("mlci-lr") && !left.contains_key("dvc-lr"));
    assert_eq!(left.len(), 2 * CASES.len() - 2);
}

#[test]
fn queued_variants_on_three_workers_match_dvc_exp_run() {
    let (_tmp, repo, exe) = project();
    repo.mlci(&[
        "-q",
        "exp",
        "run",
        "--queue",
        "-S",
        "train.lr=0.01,0.5",
        "-S",
        "train.model=linear,tree,cnn",
    ])
    .ok();
    let status = repo.mlci(&["exp", "queue", "status", "--json"]).ok().stdout;
    let queued: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(queued.as_array().unwrap().len(), 6);
    assert!(queued
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["state"] == "queued"));
    repo.mlci(&["-q", "exp", "run", "--run-all", "-j", "3"])
        .ok();
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "the workspace is untouched"
    );
    let done: Value =
        serde_json::from_str(&repo.mlci(&["exp", "queue", "status", "--json"]).ok().stdout)
            .unwrap();
    for e in done.as_array().unwrap() {
        assert_eq!(
            (e["state"].as_str(), e["runs"].as_u64()),
            (Some("done"), Some(1)),
            "{e}"
        );
    }
    // DVC runs one of the six in the workspace: the same commit tree.
    dvc(
        &exe,
        &repo,
        &[
            "exp",
            "run",
            "-n",
            "dvc-tree",
            "-S",
            "train.lr=0.5",
            "-S",
            "train.model=tree",
        ],
    );
    reset(&repo, &exe);
    let mine = done
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["params"].to_string().contains("0.5") && e["params"].to_string().contains("tree")
        })
        .unwrap()["ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(tree(&repo, "dvc-tree"), tree(&repo, &mine));
    // DVC lists all seven; mlci shows them best first by loss.
    assert_eq!(dvc_shown(&repo, &exe).len(), 7);
    let table = repo.mlci(&["exp", "show", "--sort-by", "loss"]).ok().stdout;
    // Revisions, times and content-named experiments, at their width.
    let redacted =
        regex::Regex::new(r"\b[0-9a-f]{7}\b|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|exp-[0-9a-f]{5}")
            .unwrap()
            .replace_all(&table, |c: &regex::Captures| {
                "~".repeat(c[0].chars().count())
            });
    pin_output(&redacted);
    // The report's section: best first by loss, names escaped.
    repo.mlci(&["-q", "exp", "run", "-n", "x|<b>y", "-S", "train.lr=0.9"])
        .ok();
    reset(&repo, &exe);
    let report = repo.mlci(&["report"]).ok().stdout;
    let section = report
        .split("### Experiments")
        .nth(1)
        .expect("an Experiments section")
        .split("\n### ")
        .next()
        .unwrap();
    let section = regex::Regex::new(r"exp-[0-9a-f]{5}|`[0-9a-f]{8}`")
        .unwrap()
        .replace_all(section, |c: &regex::Captures| {
            "~".repeat(c[0].chars().count())
        });
    pin_output(&section);
    assert!(!section.contains("<b>"), "{section}");
    let losses: Vec<f64> = mlci_shown(&repo)
        .values()
        .map(|(_, m)| m["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 8);
    let shown: Vec<f64> = table
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(5).unwrap().parse().unwrap())
        .collect();
    let mut sorted = shown.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(shown, sorted, "lower loss is better: ascending\n{table}");
}

#[test]
fn bad_experiment_input_is_named_with_a_hint() {
    let (_tmp, repo, exe) = project();
    let _ = exe;
    for args in [
        &["exp", "run", "-S", "train.nope=1"][..],
        &["exp", "run", "-S", "train=1"],
        &["exp", "run", "-S", "lr"],
        &["exp", "run", "-S", "train.lr=0.1,0.2"],
        &["exp", "run", "-S", "../p.yaml:a=1"],
        &["exp", "run", "-n", "a/b", "-S", "train.lr=0.2"],
        &["exp", "apply", "nothing"],
    ] {
        repo.mlci(args).user_error();
    }
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "nothing was written"
    );
    let (code, _, _) = dvc_status(&exe, &repo, &["status", "-q"]);
    assert_eq!(code, 0);
}

/// Pids of the queue workers running for the repository at `root`.
fn workers_of(root: &std::path::Path) -> Vec<i32> {
    let needle = format!("{}\0exp\0queue\0worker", root.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[test]
fn a_worker_killed_at_seeded_points_loses_and_duplicates_nothing() {
    use std::os::unix::process::CommandExt;
    let repo = TestRepo::new();
    let runs = repo.root.parent().unwrap().join("runs.log");
    repo.write("params.yaml", "lr: 0.1\n");
    repo.write(
        "train.sh",
        format!(
            "echo $1 >> {}\nsleep 0.3\necho \"{{\\\"loss\\\": $1}}\" > metrics.json\n",
            runs.display()
        ),
    );
    repo.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: sh train.sh ${lr}\n    deps: [train.sh]\n    params: [lr]\n    metrics:\n      - metrics.json:\n          cache: false\n",
    );
    repo.mlci(&["-q", "repro"]).ok();
    repo.commit_all("baseline");
    std::fs::remove_file(&runs).unwrap();
    // A fixed seed: the same kill points on every run of the suite.
    let mut seed: u64 = 0x5eed_2026;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let (mut hit, trials) = (0, 20);
    for trial in 0..trials {
        let values = [
            format!("{}.{trial}1", trial + 1),
            format!("{}.{trial}2", trial + 1),
        ];
        repo.mlci(&[
            "-q",
            "exp",
            "run",
            "--queue",
            "-S",
            &format!("lr={},{}", values[0], values[1]),
        ])
        .ok();
        let mut sup = crate::common::mlci_cmd(&repo.root);
        sup.args(["-q", "exp", "run", "--run-all", "-j", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        let mut sup = sup.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100 + next(700)));
        let whole_group = next(4) == 0;
        if whole_group {
            // The machine going away: the runner and every worker.
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_raw(sup.id() as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        } else if let Some(pid) = workers_of(&repo.root).first() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(*pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        sup.wait().unwrap();
        while !workers_of(&repo.root).is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The next run finishes what was left.
        repo.mlci(&["-q", "exp", "run", "--run-all", "-j", "2"])
            .ok();
        let status: Value =
            serde_json::from_str(&repo.mlci(&["exp", "queue", "status", "--json"]).ok().stdout)
                .unwrap();
        let log = std::fs::read_to_string(&runs).unwrap_or_default();
        for e in status.as_array().unwrap() {
            let value = e["params"][0]["value"].as_str().unwrap();
            if !values.iter().any(|v| v == value) {
                continue;
            }
            assert_eq!(e["state"], "done", "trial {trial}: {e}");
            let attempts = e["runs"].as_u64().unwrap();
            assert!(attempts <= 2, "trial {trial}: run {attempts} times: {e}");
            hit += usize::from(attempts == 2);
            let ran = log.lines().filter(|l| *l == value).count() as u64;
            assert!(
                ran >= 1 && ran <= attempts,
                "trial {trial}: {value} ran {ran} times, {attempts} started"
            );
            // Exactly one experiment names this entry, with its result.
            let id = e["id"].as_str().unwrap();
            let refs = repo.git(&["for-each-ref", "--format=%(refname)", "refs/exps/"]);
            let carrying: Vec<&str> = refs
                .lines()
                .filter(|r| {
                    repo.git(&["log", "-1", "--format=%B", r])
                        .contains(&format!("Mlci-Exp-Entry: {id}"))
                })
                .collect();
            assert_eq!(carrying.len(), 1, "trial {trial}: {id}: {carrying:?}");
            assert_eq!(carrying[0], e["ref"].as_str().unwrap());
            let metrics = repo.git(&["show", &format!("{}:metrics.json", carrying[0])]);
            let loss: Value = serde_json::from_str(&metrics).unwrap();
            assert_eq!(loss["loss"].to_string(), *value, "trial {trial}");
        }
        assert_eq!(
            repo.git(&["status", "--porcelain"]),
            "",
            "trial {trial}: the workspace is untouched"
        );
    }
    assert!(
        hit >= 5,
        "only {hit} of {trials} kills landed on a running experiment"
    );
    assert_eq!(
        repo.git(&["worktree", "list"]).lines().count(),
        1,
        "no workspace is left"
    );
}

#[test]
fn experiments_travel_between_clones_through_git_and_the_data_remote_both_ways() {
    let (tmp, a, exe, origin) = shared();
    let b = clone_of(&tmp, &origin, "b");
    // mlci pushes, DVC pulls.
    a.mlci(&["-q", "exp", "run", "-n", "by-mlci", "-S", "train.lr=0.3"])
        .ok();
    let mlci_model = a.read("model.pkl");
    reset(&a, &exe);
    a.mlci(&["-q", "exp", "push", "origin", "by-mlci"]).ok();
    dvc(&exe, &b, &["exp", "pull", "origin", "by-mlci"]);
    dvc(&exe, &b, &["exp", "apply", "by-mlci"]);
    assert_eq!(b.read("model.pkl"), mlci_model);
    assert_eq!(dvc(&exe, &b, &["status", "--json"]).trim(), "{}");
    b.git(&["checkout", "-q", "--", "."]);
    // DVC pushes, mlci pulls.
    dvc(
        &exe,
        &a,
        &["exp", "run", "-n", "by-dvc", "-S", "train.lr=0.4"],
    );
    let dvc_model = a.read("model.pkl");
    reset(&a, &exe);
    dvc(&exe, &a, &["exp", "push", "origin", "by-dvc"]);
    b.mlci(&["-q", "exp", "pull", "origin", "by-dvc"]).ok();
    b.mlci(&["-q", "exp", "apply", "by-dvc"]).ok();
    assert_eq!(b.read("model.pkl"), dvc_model);
    assert_eq!(dvc(&exe, &b, &["status", "--json"]).trim(), "{}");
    assert_eq!(
        b.git(&["rev-parse", &exp_ref(&b, "by-dvc")]),
        a.git(&["rev-parse", &exp_ref(&a, "by-dvc")])
    );
    // Both lists hold both.
    let shown = mlci_shown(&b);
    assert!(
        shown.contains_key("by-mlci") && shown.contains_key("by-dvc"),
        "{shown:?}"
    );
    b.mlci(&["exp", "pull", "origin", "nope"]).user_error();
}

/// The project with a directory data remote and a bare git `origin`, its
/// data pushed: what runners clone.
fn shared() -> (tempfile::TempDir, TestRepo, String, std::path::PathBuf) {
    let (tmp, a, exe) = project();
    let store = tmp.path().join("store");
    dvc(
        &exe,
        &a,
        &["remote", "add", "-d", "store", store.to_str().unwrap()],
    );
    a.commit_all("a data remote");
    let origin = tmp.path().join("origin.git");
    crate::common::git_in(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    a.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    a.git(&["push", "-q", "origin", "main"]);
    a.mlci(&["-q", "push"]).ok();
    (tmp, a, exe, origin)
}

fn clone_of(tmp: &tempfile::TempDir, origin: &std::path::Path, name: &str) -> TestRepo {
    let root = tmp.path().canonicalize().unwrap().join(name);
    crate::common::git_clone(origin, &root, &[]);
    TestRepo::at_existing(root)
}

#[test]
fn queued_experiments_fan_out_over_runners_and_join_through_the_remote() {
    let (tmp, a, exe, origin) = shared();
    let clone = |name: &str| clone_of(&tmp, &origin, name);
    // The plan: one matrix job per queued experiment.
    a.mlci(&["-q", "exp", "run", "--queue", "-S", "train.lr=0.2,0.3"])
        .ok();
    let lines = a.mlci(&["plan", "--experiments", "--matrix"]).ok().stdout;
    let redacted = regex::Regex::new(r#""id":"[0-9a-f]+""#)
        .unwrap()
        .replace_all(&lines, r#""id":"…""#);
    pin_output(&redacted);
    let matrix: Value = serde_json::from_str(
        lines
            .lines()
            .next()
            .unwrap()
            .strip_prefix("experiments=")
            .unwrap(),
    )
    .unwrap();
    let jobs = matrix["include"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    // Each runner: its experiment with the remote's run cache, pushed.
    let mut models = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let runner = clone(&format!("runner{i}"));
        let set = job["set"].to_string();
        runner
            .mlci(&["-q", "exp", "run", "--set-json", &set, "--pull", "--push"])
            .ok();
        models.push(runner.read("model.pkl"));
        runner.mlci(&["-q", "exp", "push", "origin"]).ok();
    }
    // A runner given a variant already run restores it from the remote.
    let again = clone("again");
    let out = again
        .mlci(&[
            "exp",
            "run",
            "--set-json",
            &jobs[0]["set"].to_string(),
            "--pull",
        ])
        .ok();
    assert!(
        out.stderr
            .contains("restored the outputs of `train` from the run cache"),
        "{}",
        out.stderr
    );
    // The join: the experiments, their outputs, the report's section.
    let join = clone("join");
    join.mlci(&["-q", "exp", "pull", "origin"]).ok();
    let shown = mlci_shown(&join);
    assert_eq!(shown.len(), 2, "{shown:?}");
    // The report and the CI job (its sticky comment's text) show them.
    for args in [&["report"][..], &["ci", "--no-push", "--no-comment"]] {
        let report = join.mlci(args).ok().stdout;
        assert!(
            report.contains("### Experiments") && report.contains("2 experiment(s)"),
            "{args:?}: {report}"
        );
    }
    let first = shown
        .iter()
        .find(|(_, (p, _))| p["train"]["lr"] == 0.2)
        .map(|(n, _)| n.clone())
        .unwrap();
    join.mlci(&["-q", "exp", "apply", &first]).ok();
    assert_eq!(join.read("model.pkl"), models[0]);
    assert_eq!(dvc(&exe, &join, &["status", "--json"]).trim(), "{}");
}

#[test]
fn experiments_in_mlci_format_record_mlci_lock_and_apply_their_outputs() {
    let repo = TestRepo::new();
    repo.write("params.yaml", "train:\n  lr: 0.1\n");
    repo.write(
        "train.sh",
        "echo model $1 > model.txt\necho \"{\\\"loss\\\": $1}\" > metrics.json\n",
    );
    repo.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: sh train.sh ${train.lr}\n    deps: [train.sh]\n    params: [train.lr]\n    outs: [model.txt]\n    metrics:\n      - metrics.json:\n          cache: false\n",
    );
    repo.mlci(&["-q", "repro"]).ok();
    repo.commit_all("baseline");
    let name = repo
        .mlci(&["-q", "exp", "run", "-S", "train.lr=0.25"])
        .ok()
        .stdout;
    let name = name.trim();
    assert!(name.starts_with("exp-"), "{name}");
    let r = exp_ref(&repo, name);
    let files = repo.git(&["diff", "--name-only", "HEAD", &r]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["metrics.json", "mlci.lock", "params.yaml"]
    );
    // The same run again is the same experiment.
    repo.git(&["checkout", "-q", "--", "."]);
    repo.mlci(&["-q", "checkout", "--force"]).ok();
    assert_eq!(repo.read("model.txt"), "model 0.1\n");
    let again = repo.mlci(&["exp", "run", "-S", "train.lr=0.25"]).ok();
    assert!(again.stderr.contains("unchanged, kept"), "{}", again.stderr);
    repo.git(&["checkout", "-q", "--", "."]);
    repo.mlci(&["-q", "checkout", "--force"]).ok();
    repo.mlci(&["-q", "exp", "apply", name]).ok();
    assert_eq!(repo.read("model.txt"), "model 0.25\n");
    assert_eq!(repo.git(&["diff", "--stat", &r]), "");
    repo.mlci(&["status", "--check"]).ok();
    let diff = repo.mlci(&["exp", "diff", name]).ok().stdout;
    pin_output(&diff.replace(name, "exp-…"));
    let shown: Value =
        serde_json::from_str(&repo.mlci(&["exp", "show", "--json"]).ok().stdout).unwrap();
    assert_eq!(
        shown["experiments"][0]["metrics"]["metrics.json"]["loss"],
        0.25
    );
    assert_eq!(shown["baseline"]["params"]["params.yaml"]["train.lr"], 0.1);
}

#[test]
fn queued_experiments_export_to_argo_and_join_through_the_remote() {
    let (tmp, a, exe, origin) = shared();
    a.mlci(&["-q", "exp", "run", "--queue", "-S", "train.lr=0.2,0.3"])
        .ok();
    let yaml = a
        .mlci(&[
            "export",
            "argo",
            "--experiments",
            "--image",
            "registry.example/mlci:1",
            "-r",
            "store",
        ])
        .ok()
        .stdout;
    // Argo's own model accepts it.
    let v = crate::fanout::argo_validated(&yaml);
    let tasks = v["tasks"].as_object().unwrap();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert_eq!(tasks["join"].as_array().unwrap().len(), 2);
    // Each task and the join, run as their pods would: a fresh checkout
    // each, the arguments the document gives.
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let doc = serde_json::to_value(doc).unwrap();
    let templates = doc["spec"]["templates"].as_array().unwrap();
    let args_of = |name: &str| -> Vec<String> {
        let t = templates.iter().find(|t| t["name"] == name).unwrap();
        serde_json::from_value(t["container"]["args"].clone()).unwrap()
    };
    let dag = templates[0]["dag"]["tasks"].as_array().unwrap();
    for (i, task) in dag
        .iter()
        .filter(|t| t["template"] == "experiment")
        .enumerate()
    {
        let set = task["arguments"]["parameters"][0]["value"]
            .as_str()
            .unwrap();
        let args: Vec<String> = args_of("experiment")
            .into_iter()
            .map(|x| x.replace("{{inputs.parameters.set}}", set))
            .collect();
        let pod = clone_of(&tmp, &origin, &format!("pod{i}"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        pod.mlci(&refs).ok();
    }
    let join = clone_of(&tmp, &origin, "join");
    let args = args_of("join");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = join.mlci(&refs).ok();
    let log = std::fs::read_dir(join.path(".dvc/tmp/mlci/exps/queue"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert_eq!(
        log.matches("restored the outputs of `train` from the run cache")
            .count(),
        2,
        "the join ran nothing the tasks ran:\n{log}\n{}",
        out.stderr
    );
    assert_eq!(mlci_shown(&join).len(), 2);
    assert_eq!(
        dvc(&exe, &join, &["exp", "list", "--name-only"])
            .lines()
            .count(),
        2
    );
    // A value Argo would substitute is refused.
    a.mlci(&[
        "-q",
        "exp",
        "run",
        "--queue",
        "-S",
        "train.model={{workflow.name}}",
    ])
    .ok();
    a.mlci(&["export", "argo", "--experiments"]).user_error();
}
