//! Test projects shaped like real public DVC projects (their pipeline
//! habits, not their code: a course's linear pipeline with an unrelated
//! reporting stage, a book companion's several pipeline files with `wdir`,
//! a data team's `foreach`/`matrix` fan-out with `cache: false` metrics and
//! plots), each run by DVC and by mlci on the same files. DVC is the
//! oracle: the order the stages ran in (each appends its name to a log no
//! stage declares, as a real project's undeclared reads depend on it), the
//! `repro --dry-run` order, the lock contents (cmd, params, every dep and
//! out with its size, paths from the repository root), the metrics and the
//! plot data must be the same.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::dvc_oracle::{dvc, write, Pair};

/// Stages run, in order, from the log every command appends to.
fn ran(log: &str) -> Vec<String> {
    log.lines().map(str::to_string).collect()
}

/// `a/b/../c` → `a/c`; `.` parts dropped.
fn normal(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Every stage of DVC's lock files (`dvc.lock` beside each pipeline file
/// in `files`), as `{name: {cmd, params, deps, outs}}` with paths from the
/// root: DVC writes them relative to the stage's `wdir`.
fn dvc_locks(p: &Pair, files: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for file in files {
        let dir = file.strip_suffix("dvc.yaml").unwrap().trim_end_matches('/');
        let yaml: Value = serde_yaml::from_str(&p.dvc.read(file)).unwrap();
        let lock_rel = if dir.is_empty() {
            "dvc.lock".to_string()
        } else {
            format!("{dir}/dvc.lock")
        };
        let lock: Value = serde_yaml::from_str(&p.dvc.read(&lock_rel)).unwrap();
        for (name, stage) in lock["stages"].as_object().unwrap() {
            let base = name.split('@').next().unwrap();
            let wdir = yaml["stages"][base]["wdir"].as_str().unwrap_or(".");
            let at = |rel: &str| normal(&format!("{dir}/{wdir}/{rel}"));
            let qualified = if dir.is_empty() {
                name.clone()
            } else {
                format!("{file}:{name}")
            };
            out.insert(qualified, shape(stage, &at));
        }
    }
    out
}

/// mlci's lock in the same shape (its paths are from the root already).
fn mlci_lock(p: &Pair) -> BTreeMap<String, Value> {
    let lock: Value = serde_yaml::from_str(&p.mlci.read("mlci.lock")).unwrap();
    lock["stages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, stage)| (name.clone(), shape(stage, &|rel: &str| normal(rel))))
        .collect()
}

fn shape(stage: &Value, at: &dyn Fn(&str) -> String) -> Value {
    let files = |key: &str| -> BTreeMap<String, Value> {
        stage[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (at(e["path"].as_str().unwrap()), e["size"].clone()))
            .collect()
    };
    let params: BTreeMap<String, Value> = stage["params"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(f, v)| (at(f), v.clone()))
        .collect();
    json!({
        "cmd": stage["cmd"],
        "deps": files("deps"),
        "outs": files("outs"),
        "params": params,
    })
}

/// The stages `repro --dry-run` names, in order: (mlci, DVC).
fn planned(p: &Pair) -> (Vec<String>, Vec<String>) {
    let m = p.mlci.mlci(&["repro", "-P", "--dry-run"]).ok().stdout;
    let d = dvc(&p.dvc_exe, &p.dvc, &["repro", "--all-pipelines", "--dry"]);
    let mlci = m
        .lines()
        .filter_map(|l| l.strip_prefix("would run `"))
        .map(|l| l[..l.find('`').unwrap()].to_string())
        .collect();
    let dvc_order = d
        .lines()
        .filter_map(|l| l.strip_prefix("Running stage '"))
        .map(|l| l[..l.find('\'').unwrap()].to_string())
        .collect();
    (mlci, dvc_order)
}

/// Runs both, then compares the run order, the locks and `files`.
#[track_caller]
fn run_both(p: &Pair, pipeline_files: &[&str], same: &[&str]) -> Vec<String> {
    // DVC's dry run needs the inputs of every stage it plans: only once
    // the pipeline has run.
    let plan = p.mlci.exists("mlci.lock").then(|| {
        let (m, d) = planned(p);
        assert_eq!(m, d, "repro --dry-run order: mlci vs dvc");
        m
    });
    p.edit(|r| write(r, "ran.log", ""));
    // Every pipeline file's stages (DVC's plain `repro` takes only the
    // root `dvc.yaml` as its target).
    p.mlci.mlci(&["repro", "-P"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q", "--all-pipelines"]);
    let (m, d) = (ran(&p.mlci.read("ran.log")), ran(&p.dvc.read("ran.log")));
    assert_eq!(m, d, "the order the stages ran in: mlci vs dvc");
    if let Some(plan) = plan {
        // A dry run names the stages whose own inputs changed; those
        // downstream of them run too once their inputs change.
        assert!(plan.iter().all(|s| m.contains(s)), "{plan:?} {m:?}");
    }
    assert_eq!(mlci_lock(p), dvc_locks(p, pipeline_files), "lock contents");
    for f in same {
        assert_eq!(p.mlci.read(f), p.dvc.read(f), "{f}: mlci vs dvc");
    }
    m
}

/// A course's pipeline: prepare → featurize → train → evaluate, declared
/// in that (not alphabetical) order, and a `summary` stage declared first
/// that reads nothing it declares (it counts the log so far): under DVC it
/// runs first, so it sees only its own line.
#[test]
fn a_course_pipeline_runs_in_dvcs_order() {
    let log = "echo $0 >> ran.log";
    let stage = |name: &str, rest: &str| {
        format!("  {name}:\n    cmd: >-\n      sh -c '{log}' {name} && {rest}\n")
    };
    let pipeline = format!(
        "stages:\n{}{}{}{}{}",
        stage(
            "summary",
            "wc -l < ran.log > summary.txt\n    outs: [summary.txt]"
        ),
        stage(
            "prepare",
            "cp data.csv prepared.csv\n    deps: [data.csv]\n    outs: [prepared.csv]"
        ),
        stage(
            "featurize",
            "cut -d, -f1 prepared.csv > features.csv\n    deps: [prepared.csv]\n    params: [featurize.cols]\n    outs: [features.csv]"
        ),
        stage(
            "train",
            "wc -l < features.csv > model.txt\n    deps: [features.csv]\n    params: [train.lr]\n    outs: [model.txt]"
        ),
        stage(
            "evaluate",
            "printf '{\"rows\": %s}' $(cat model.txt) > scores.json\n    deps: [model.txt]\n    metrics:\n      - scores.json:\n          cache: false"
        ),
    );
    let p = Pair::unrun(&[
        ("data.csv", "a,b\n1,2\n3,4\n"),
        ("params.yaml", "featurize:\n  cols: 1\ntrain:\n  lr: 0.1\n"),
        ("dvc.yaml", &pipeline),
        ("ran.log", ""),
    ]);
    let order = run_both(&p, &["dvc.yaml"], &["summary.txt", "scores.json"]);
    assert_eq!(
        order,
        ["summary", "prepare", "featurize", "train", "evaluate"]
    );
    // It ran first: the log held its own line only.
    assert_eq!(p.mlci.read("summary.txt").trim(), "1");
    // A param change reruns the same stages in the same order in both.
    p.edit(|r| {
        write(
            r,
            "params.yaml",
            "featurize:\n  cols: 1\ntrain:\n  lr: 0.2\n",
        )
    });
    assert_eq!(run_both(&p, &["dvc.yaml"], &["scores.json"]), ["train"]);
}

/// A book companion: a root pipeline and one per chapter directory
/// (`wdir`, paths up and across), with independent stages in each.
#[test]
fn several_pipeline_files_run_in_dvcs_order() {
    let log = |name: &str| format!("sh -c 'echo {name} >> $0' ");
    let root = format!(
        "stages:\n  zdownload:\n    cmd: {}ran.log && cp src.txt raw.txt\n    deps: [src.txt]\n    outs: [raw.txt]\n  clean:\n    cmd: {}ran.log && tr a-z A-Z < raw.txt > clean.txt\n    deps: [raw.txt]\n    outs: [clean.txt]\n",
        log("zdownload"),
        log("clean")
    );
    let ch = |n: &str| {
        format!(
            "stages:\n  fit:\n    wdir: ..\n    cmd: {}ran.log && cat clean.txt > {n}/model.txt\n    deps: [clean.txt]\n    outs: [{n}/model.txt]\n  score:\n    cmd: {}../ran.log && wc -c < model.txt > score.json\n    deps: [model.txt]\n    metrics:\n      - score.json:\n          cache: false\n",
            log(&format!("{n}/dvc.yaml:fit")),
            log(&format!("{n}/dvc.yaml:score"))
        )
    };
    let (ch_b, ch_a) = (ch("chapter_b"), ch("chapter_a"));
    let p = Pair::unrun(&[
        ("src.txt", "text\n"),
        ("dvc.yaml", &root),
        ("chapter_b/dvc.yaml", &ch_b),
        ("chapter_a/dvc.yaml", &ch_a),
        ("ran.log", ""),
    ]);
    let files = ["dvc.yaml", "chapter_a/dvc.yaml", "chapter_b/dvc.yaml"];
    let order = run_both(
        &p,
        &files,
        &["chapter_a/score.json", "chapter_b/score.json"],
    );
    // The root's own stages first, in the file's order.
    assert_eq!(order[..2], ["zdownload", "clean"]);
    assert_eq!(order.len(), 6, "{order:?}");
    p.edit(|r| write(r, "src.txt", "text v2\n"));
    assert_eq!(run_both(&p, &files, &["chapter_b/score.json"]).len(), 6);
}

/// A data team's fan-out: `foreach` over regions listed out of
/// alphabetical order, a `matrix` of models × folds, and a join stage;
/// metrics kept in git, plots from each region.
#[test]
fn foreach_and_matrix_items_run_in_dvcs_order() {
    let pipeline = "stages:
  split:
    foreach: [west, east, north]
    do:
      cmd: >-
        sh -c 'echo split@${item} >> ran.log' && echo ${item} > part_${item}.txt && printf 'step,rows\\n1,1\\n2,3\\n' > rows_${item}.csv
      deps:
        - data.txt
      outs:
        - part_${item}.txt
      plots:
        - rows_${item}.csv:
            cache: false
            x: step
  fit:
    matrix:
      model: [tree, linear]
      fold: [2, 1]
    cmd: >-
      sh -c 'echo fit@${item.model}-${item.fold} >> ran.log' && cat part_west.txt > fit_${item.model}_${item.fold}.txt
    deps:
      - part_west.txt
    outs:
      - fit_${item.model}_${item.fold}.txt
  join:
    cmd: >-
      sh -c 'echo join >> ran.log' && cat fit_*.txt part_*.txt | wc -l | xargs printf '{\"lines\": %s}' > joined.json
    deps: [fit_tree_2.txt, fit_linear_1.txt, part_east.txt, part_north.txt]
    metrics:
      - joined.json:
          cache: false
";
    let p = Pair::unrun(&[("data.txt", "d\n"), ("dvc.yaml", pipeline), ("ran.log", "")]);
    let order = run_both(
        &p,
        &["dvc.yaml"],
        &["joined.json", "rows_east.csv", "rows_west.csv"],
    );
    assert_eq!(order.len(), 8, "{order:?}");
}

/// A `cache: false` metric the base never committed (git-ignored, as some
/// projects keep them): DVC shows the old value as absent and exits 0, and
/// so does mlci, in `metrics diff` and the report.
#[test]
fn a_metric_absent_at_the_base_is_absent_as_in_dvc() {
    let pipeline = "stages:\n  train:\n    cmd: >-\n      printf '{\"acc\": %s}' $(cat acc.txt) > metrics.json\n    deps: [acc.txt]\n    metrics:\n      - metrics.json:\n          cache: false\n";
    let p = Pair::unrun(&[
        ("acc.txt", "0.9\n"),
        ("dvc.yaml", pipeline),
        (".gitignore", "metrics.json\n"),
    ]);
    p.mlci.mlci(&["repro"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    for r in [&p.mlci, &p.dvc] {
        r.commit_all("base");
        r.git(&["checkout", "-q", "-b", "feature"]);
    }
    p.edit(|r| write(r, "acc.txt", "0.95\n"));
    p.mlci.mlci(&["repro"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    let d = dvc(&p.dvc_exe, &p.dvc, &["metrics", "diff", "main", "--md"]);
    let row = |text: &str| {
        text.lines()
            .find(|l| l.contains("metrics.json"))
            .map(|l| {
                l.split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(row(&d)[..4], ["metrics.json", "acc", "-", "0.95"], "{d}");
    let m = p
        .mlci
        .mlci(&["metrics", "diff", "--base", "main", "--json"])
        .ok();
    let m: Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(m["rows"][0]["old"], Value::Null, "{m}");
    assert_eq!(m["rows"][0]["new"], json!(0.95), "{m}");
    let report = p.mlci.mlci(&["report", "--base", "main"]).ok();
    crate::common::pin_output(&report.stdout);
}

/// A fresh clone before `pull`, the first thing a new teammate types:
/// `status` goes on and says what is missing (exit 0; 1 with `--check`),
/// naming the same stale stages and the same deleted deps as `dvc status`.
#[test]
fn status_in_a_fresh_clone_goes_on_as_in_dvc() {
    let pipeline = "stages:\n  prepare:\n    cmd: mkdir -p data/prepared && cat data/raw/*.csv > data/prepared/all.csv\n    deps: [data/raw]\n    outs: [data/prepared]\n  train:\n    cmd: wc -l < data/prepared/all.csv > model.txt\n    deps: [data/prepared]\n    outs: [model.txt]\n";
    let p = Pair::unrun(&[
        ("data/raw/part1.csv", "id\n1\n"),
        ("data/raw/part2.csv", "id\n2\n"),
        ("dvc.yaml", pipeline),
    ]);
    let stores = tempfile::tempdir().unwrap();
    let (m_store, d_store) = (stores.path().join("m"), stores.path().join("d"));
    let m = |args: &[&str]| p.mlci.mlci(args).ok();
    m(&["add", "data/raw"]);
    m(&["repro"]);
    m(&["remote", "add", "-d", "store", m_store.to_str().unwrap()]);
    m(&["push"]);
    for args in [
        &["add", "-q", "data/raw"][..],
        &["repro", "-q"],
        &["remote", "add", "-d", "store", d_store.to_str().unwrap()],
        &["push", "-q"],
    ] {
        dvc(&p.dvc_exe, &p.dvc, args);
    }
    p.mlci.commit_all("data, pipeline, lock");
    p.dvc.commit_all("data, pipeline, lock");
    let clones = tempfile::tempdir().unwrap();
    let (mc, dc) = (clones.path().join("m"), clones.path().join("d"));
    crate::common::git_clone(&p.mlci.root, &mc, &[]);
    crate::common::git_clone(&p.dvc.root, &dc, &[]);
    let mlci_clone = crate::common::TestRepo::at_existing(mc);
    let dvc_clone = crate::common::TestRepo::at_existing(dc);
    let d: Value =
        serde_json::from_str(&dvc(&p.dvc_exe, &dvc_clone, &["status", "--json"])).unwrap();
    let run = mlci_clone.mlci(&["status", "--json"]).ok();
    let j: Value = serde_json::from_str(&run.stdout).unwrap();
    // Stage → its deleted deps, in each tool's words.
    let dvc_stages: BTreeMap<String, Vec<String>> = d
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.ends_with(".dvc"))
        .map(|(k, v)| {
            let deleted = v
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["changed deps"].as_object())
                .flat_map(|deps| deps.iter().filter(|(_, s)| *s == "deleted"))
                .map(|(path, _)| path.clone())
                .collect();
            (k.clone(), deleted)
        })
        .collect();
    let mlci_stages: BTreeMap<String, Vec<String>> = j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "stale")
        .map(|s| {
            let deleted = s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["reason"] == "dep_deleted" || r["reason"] == "dep_missing")
                .map(|r| r["path"].as_str().unwrap().to_string())
                .collect();
            (s["name"].as_str().unwrap().to_string(), deleted)
        })
        .collect();
    assert_eq!(
        mlci_stages, dvc_stages,
        "status in a fresh clone: mlci vs dvc"
    );
    assert_eq!(mlci_stages.len(), 2, "{mlci_stages:?}");
    let text = mlci_clone.mlci(&["status"]).ok();
    crate::common::pin_output(&text.stdout);
    assert_eq!(
        text.stderr.matches("mlci pull").count(),
        1,
        "{}",
        text.stderr
    );
    assert_eq!(mlci_clone.mlci(&["status", "--check"]).code, 1);
    assert_eq!(mlci_clone.mlci(&["status", "--remote"]).code, 0);
}

/// A project whose params file is Python (`params.py`: constants and a
/// config class), a documented DVC format: the same values locked, the
/// same stage rerun after an edit, the same params diff.
#[test]
fn a_python_params_file_is_read_as_dvc_reads_it() {
    let pipeline = "stages:\n  train:\n    cmd: >-\n      sh -c 'echo train >> ran.log' && python3 -c \"import params; print(params.LR, params.TrainConfig.EPOCHS)\" > out.txt\n    params:\n      - params.py:\n          - LR\n          - TrainConfig.EPOCHS\n    outs: [out.txt]\n";
    let params = |epochs: u32| {
        format!("import math\n\nLR = 0.01  # learning rate\nSCALE = math.sqrt(2)\n\nclass TrainConfig:\n    EPOCHS = {epochs}\n    BATCH = 32\n\n    def __init__(self):\n        self.seed = 7\n")
    };
    let p = Pair::unrun(&[
        ("dvc.yaml", pipeline),
        ("params.py", &params(10)),
        ("ran.log", ""),
    ]);
    assert_eq!(run_both(&p, &["dvc.yaml"], &["out.txt"]), ["train"]);
    assert_eq!(p.mlci.read("out.txt"), "0.01 10\n");
    p.mlci.commit_all("first");
    p.dvc.commit_all("first");
    p.edit(|r| write(r, "params.py", &params(20)));
    let d = dvc(&p.dvc_exe, &p.dvc, &["params", "diff", "--json"]);
    let m = p.mlci.mlci(&["params", "diff", "--json"]).ok().stdout;
    let d: Value = serde_json::from_str(&d).unwrap();
    let m: Value = serde_json::from_str(&m).unwrap();
    let dvc_rows: Vec<(String, Value, Value)> = d["params.py"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["old"].clone(), v["new"].clone()))
        .collect();
    let mlci_rows: Vec<(String, Value, Value)> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "params.py")
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["old"].clone(),
                r["new"].clone(),
            )
        })
        .collect();
    assert_eq!(mlci_rows, dvc_rows, "params diff: mlci vs dvc");
    assert_eq!(mlci_rows.len(), 1, "{mlci_rows:?}");
    assert_eq!(run_both(&p, &["dvc.yaml"], &["out.txt"]), ["train"]);
}

/// `core.autostage = true` in `.dvc/config`: the files `add` and `repro`
/// write are staged in git, the same ones DVC stages (its `dvc.lock` and
/// `.dvc` files, mlci's `mlci.lock` and `.mlci` files).
#[test]
fn autostage_stages_what_dvc_stages() {
    let pipeline = "stages:\n  copy:\n    cmd: mkdir -p out && cp data/a.txt out/a.txt\n    deps: [data]\n    outs: [out]\n";
    let p = Pair::unrun(&[("data/a.txt", "a\n"), ("dvc.yaml", pipeline)]);
    dvc(&p.dvc_exe, &p.dvc, &["config", "core.autostage", "true"]);
    p.mlci.write(".dvc/config", p.dvc.read(".dvc/config"));
    let staged = |r: &crate::common::TestRepo| -> Vec<String> {
        let mut v: Vec<String> = r
            .git(&["diff", "--cached", "--name-only"])
            .lines()
            .filter(|l| !l.starts_with(".dvc/") && !l.starts_with(".mlci/") && *l != ".dvcignore")
            .map(|l| l.replace("dvc.lock", "LOCK").replace("mlci.lock", "LOCK"))
            .map(|l| l.replace(".dvc", ".POINTER").replace(".mlci", ".POINTER"))
            .collect();
        v.sort();
        v
    };
    p.mlci.mlci(&["add", "data"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["add", "-q", "data"]);
    assert_eq!(staged(&p.mlci), staged(&p.dvc), "after add");
    assert_eq!(staged(&p.mlci), [".gitignore", "data.POINTER"]);
    let run = p.mlci.mlci(&["repro"]).ok();
    assert!(
        run.stderr
            .contains("staged in git (core.autostage): mlci.lock .gitignore"),
        "{}",
        run.stderr
    );
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    assert_eq!(staged(&p.mlci), staged(&p.dvc), "after repro");
    assert!(staged(&p.mlci).contains(&"LOCK".to_string()));
}

/// Every pair (actual, predicted) in DVC's `plots show --json` output for
/// one plot id (DVC writes NaN in it: read as mlci reads Python's JSON).
pub(crate) fn dvc_pairs(p: &Pair, id: &str, x: &str, y: &str) -> Vec<(String, String)> {
    let shown =
        mlci::pipeline::params::parse_json(&dvc(&p.dvc_exe, &p.dvc, &["plots", "show", "--json"]))
            .unwrap();
    let mut out = Vec::new();
    fn walk(v: &Value, x: &str, y: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => match (m.get(x), m.get(y)) {
                (Some(a), Some(b)) => out.push((
                    a.as_str().map_or(a.to_string(), str::to_string),
                    b.as_str().map_or(b.to_string(), str::to_string),
                )),
                _ => m.values().for_each(|v| walk(v, x, y, out)),
            },
            Value::Array(a) => a.iter().for_each(|v| walk(v, x, y, out)),
            _ => {}
        }
    }
    walk(&shown["data"][id], x, y, &mut out);
    out
}

/// A project's plots as DVC draws them: a confusion matrix whose actual
/// and predicted classes come from two files (paired row by row), with
/// integer class labels; a `foreach` stage's plots titled by `${item}`;
/// every built-in template; a custom template from `.dvc/plots/`.
#[test]
fn plots_are_drawn_from_the_data_dvc_gives_them() {
    let pipeline = "stages:
  split:
    foreach: [west, east]
    do:
      cmd: >-
        printf 'step,loss\\n1,0.5\\n2,0.25\\n' > loss_${item}.csv
      outs: []
      plots:
        - loss_${item}.csv:
            cache: false
            x: step
            y: loss
            title: ${item} loss
plots:
  - confusion:
      template: confusion
      x:
        eval/actual.csv: actual
      y:
        eval/preds.csv: predicted
  - custom:
      template: mine
      x: step
      y:
        loss_west.csv: loss
";
    let p = Pair::unrun(&[
        ("eval/actual.csv", "actual\n0\n0\n1\n1\n2\n"),
        ("eval/preds.csv", "predicted\n0\n0\n0\n0\n0\n"),
        ("dvc.yaml", pipeline),
    ]);
    // The base: other predictions and no run yet (identical plots are not
    // drawn, so the base must differ).
    p.mlci.commit_all("inputs");
    p.edit(|r| {
        write(r, "eval/preds.csv", "predicted\n0\n1\n1\n1\n0\n");
        write(
            r,
            ".dvc/plots/mine.json",
            r#"{"mark": {"type": "point"}, "data": {"values": "<DVC_METRIC_DATA>"}}"#,
        )
    });
    p.mlci.mlci(&["repro"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    p.mlci.commit_all("first run");
    let report = p.mlci.mlci(&["report", "--base", "HEAD~1"]).ok().stdout;
    // The confusion matrix: DVC pairs the files row by row; each cell of
    // mlci's table (actual across, predicted down) counts DVC's pairs.
    let pairs = dvc_pairs(&p, "confusion", "actual", "predicted");
    assert_eq!(pairs.len(), 5, "{pairs:?}");
    let count = |a: &str, b: &str| pairs.iter().filter(|(x, y)| x == a && y == b).count();
    for pred in ["0", "1", "2"] {
        let row = format!(
            "| **{pred}** | {} | {} | {} |",
            count("0", pred),
            count("1", pred),
            count("2", pred)
        );
        assert!(report.contains(&row), "{row}\n{report}");
    }
    // A line plot: mlci draws exactly DVC's datapoints (x labels, y values).
    let points = dvc_pairs(&p, "loss_west.csv", "step", "loss");
    let xs: Vec<String> = points.iter().map(|(x, _)| format!("\"{x}\"")).collect();
    let ys: Vec<String> = points.iter().map(|(_, y)| y.clone()).collect();
    assert!(!points.is_empty());
    assert!(
        report.contains(&format!("x-axis \"step\" [{}]", xs.join(", "))),
        "{points:?}\n{report}"
    );
    assert!(
        report.contains(&format!("line [{}]", ys.join(", "))),
        "{points:?}\n{report}"
    );
    // `${item}` in a foreach plot's title, as DVC interpolates it.
    assert!(report.contains("title \"west loss\""), "{report}");
    assert!(report.contains("title \"east loss\""), "{report}");
    // The custom template: drawn as the built-in closest to it, said so.
    assert!(
        report.contains(r"custom template \`.dvc/plots/mine.json\` drawn as DVC's \`scatter\`"),
        "{report}"
    );
    // Every built-in template draws (none falls back or fails).
    for t in mlci::review::plot_kinds::BUILT_IN {
        let (kind, note) = mlci::review::plot_kinds::built_in_for(&p.mlci.root, Some(t));
        assert_eq!((kind.as_str(), note), (t, None));
    }
    crate::common::pin_output(&report);
}
