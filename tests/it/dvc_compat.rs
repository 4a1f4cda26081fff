//! Existing DVC projects run unchanged: for each kind of rule where mlci and
//! DVC once disagreed (interpolation and names, paths under `wdir`, a
//! stage's state and the run cache, which files count, the shell, numbers),
//! the same project goes through DVC and mlci and what DVC's own files and
//! outputs say is compared with what mlci's say. DVC is the oracle: nothing
//! here compares mlci with itself.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::{hermetic, TestRepo};
use crate::dvc_oracle::{dvc, write, Pair};

/// Runs DVC, which may fail; (exit code, stdout, stderr).
fn dvc_may_fail(p: &Pair, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(&p.dvc_exe);
    hermetic(&mut cmd, &p.dvc.root);
    let out = cmd
        .current_dir(&p.dvc.root)
        .args(args)
        .envs(env.iter().copied())
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_NO_UPDATER", "1")
        .output()
        .expect("run dvc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A run that failed after printing progress: exit 2, an error and a
/// hint at the end. Returns stderr.
#[track_caller]
fn failed(run: crate::common::Run) -> String {
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains("\nhint: "),
        "{}",
        run.stderr
    );
    run.stderr
}

/// The same file in both repositories, read.
fn both(p: &Pair, rel: &str) -> (String, String) {
    (p.mlci.read(rel), p.dvc.read(rel))
}

#[track_caller]
fn same_file(p: &Pair, rel: &str) {
    let (m, d) = both(p, rel);
    assert_eq!(m, d, "{rel}: mlci vs dvc");
}

// 1. Interpolation and stage names.

const OPTS: &str = "opts:\n  epochs: 3\n  lr: 0.01\n  eps: 1e-7\n  big: 1.0e+20\n  verbose: true\n  quiet: false\n  name: tiny model\n  tags: [a, b c]\n  nested:\n    depth: 2\n    ratio: 0.5\n";

#[test]
fn a_mapping_in_cmd_unpacks_to_the_flags_dvc_writes() {
    let p = Pair::new(&[
        ("params.yaml", OPTS),
        (
            "dvc.yaml",
            "stages:\n  flags:\n    cmd: printf '%s\\n' ${opts} > flags.txt && echo ${opts.eps} ${opts.big} ${opts.verbose} > scalars.txt\n    params: [opts]\n    outs: [flags.txt, scalars.txt]\n",
        ),
    ]);
    same_file(&p, "flags.txt");
    same_file(&p, "scalars.txt");
    // The other unpacking rules, set in DVC's config and in mlci's.
    dvc(
        &p.dvc_exe,
        &p.dvc,
        &["config", "parsing.bool", "boolean_optional"],
    );
    dvc(&p.dvc_exe, &p.dvc, &["config", "parsing.list", "append"]);
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    let cfg = p.mlci.read(".mlci/config.yaml");
    p.mlci.write(
        ".mlci/config.yaml",
        format!("{cfg}parsing:\n  bool: boolean_optional\n  list: append\n"),
    );
    p.mlci.mlci(&["repro"]).ok();
    same_file(&p, "flags.txt");
    assert!(p.mlci.read("flags.txt").contains("--no-quiet"));
}

#[test]
fn generated_stage_names_are_the_names_dvc_lists() {
    let p = Pair::unrun(&[
        ("params.yaml", "models: [small, large]\n"),
        (
            "dvc.yaml",
            "stages:\n  sweep:\n    matrix:\n      pyv: [\"3.9\", \"3.10\"]\n      os: [linux]\n      lst:\n        - [1, 2]\n        - [3, 4]\n      flag: [true, false]\n      lr: [0.1, 1e-5]\n    cmd: echo ${item.pyv} ${item.lst[0]} > /dev/null\n  per:\n    foreach: ${models}\n    do:\n      cmd: echo ${item}\n  maps:\n    foreach:\n      - {a: 1}\n      - {a: 2}\n    do:\n      cmd: echo ${item.a}\n",
        ),
    ]);
    let d = dvc(&p.dvc_exe, &p.dvc, &["stage", "list", "--name-only"]);
    let dvc_names: Vec<&str> = d.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let m = p.mlci.mlci(&["dag"]).ok().stdout;
    let mlci_names: BTreeSet<&str> = m
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(dvc_names.len(), 2 * 2 * 2 * 2 + 2 + 2, "{d}");
    assert_eq!(
        mlci_names,
        dvc_names.iter().copied().collect::<BTreeSet<_>>(),
        "mlci dag vs dvc stage list"
    );
}

#[test]
fn stage_and_group_names_are_targets_as_in_dvc() {
    let p = Pair::new(&[(
        "dvc.yaml",
        "stages:\n  build:\n    foreach: [low, high]\n    do:\n      cmd: echo ${item} > out-${item}.txt\n      outs:\n        - out-${item}.txt\n  other:\n    cmd: echo o > other.txt\n    outs: [other.txt]\n",
    )]);
    p.edit(|r| std::fs::remove_file(r.join("out-low.txt")).unwrap());
    p.edit(|r| std::fs::remove_file(r.join("other.txt")).unwrap());
    for target in ["build", "build@low", "build@high", "dvc.yaml:build"] {
        let d: serde_json::Value =
            serde_json::from_str(&dvc(&p.dvc_exe, &p.dvc, &["status", "--json", target])).unwrap();
        let dvc_stale: BTreeSet<String> = d.as_object().unwrap().keys().cloned().collect();
        let m: serde_json::Value =
            serde_json::from_str(&p.mlci.mlci(&["status", "--json", target]).ok().stdout).unwrap();
        let mlci_stale: BTreeSet<String> = m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "stale")
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(mlci_stale, dvc_stale, "status {target}: mlci vs dvc");
    }
    // Repro of a group name runs what `dvc repro build` runs.
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q", "build"]);
    p.mlci.mlci(&["repro", "build"]).ok();
    assert_eq!(
        p.stale(),
        (["other".to_string()].into(), ["other".to_string()].into())
    );
    // A name that is neither a stage nor a path: an error with near matches.
    let typo = p.mlci.mlci(&["status", "biuld"]).user_error();
    assert!(typo.stderr.contains("build"), "{}", typo.stderr);
    let typo = p.mlci.mlci(&["repro", "buld"]).user_error();
    assert!(
        typo.stderr.contains("did you mean: build"),
        "{}",
        typo.stderr
    );
}

#[test]
fn interpolation_errors_get_a_hint_that_fits() {
    let repo = TestRepo::new();
    repo.write("params.yaml", OPTS);
    let cases = [
        ("cmd: echo ${opts.epochz}", "spelling"),
        (
            "cmd: echo x\n    outs:\n      - out-${opts}.txt",
            "only `cmd` unpacks",
        ),
        ("cmd: echo ${opts.tags}", "only `cmd` unpacks"),
        ("cmd: echo ${opts.${k}}", "does not nest"),
    ];
    for (body, hint) in cases {
        repo.write("dvc.yaml", format!("stages:\n  s:\n    {body}\n"));
        let e = repo.mlci(&["repro", "--dry-run"]).user_error();
        let hint_line = e.stderr.lines().find(|l| l.starts_with("hint:")).unwrap();
        assert!(hint_line.contains(hint), "{body}: {}", e.stderr);
        if hint != "spelling" {
            assert!(!hint_line.contains("spelling"), "{body}: {}", e.stderr);
        }
    }
}

// 2. Paths under `wdir`.

#[test]
fn every_path_field_resolves_under_wdir_as_in_dvc() {
    let p = Pair::new(&[
        ("sub/in.txt", "in\n"),
        ("sub/p.yaml", "k: 1\nj: 2\n"),
        ("sub/v.yaml", "name: from-stage-vars\n"),
        ("top.yaml", "greeting: hi\n"),
        (
            "dvc.yaml",
            "vars: [top.yaml]\nstages:\n  s:\n    wdir: sub\n    vars: [v.yaml]\n    cmd: cat in.txt > out.txt && echo ${name} ${greeting} >> out.txt && printf '{\"m\":1}' > m.json && echo 'x,y' > plot.csv && echo '1,2' >> plot.csv\n    deps: [in.txt]\n    params:\n      - p.yaml:\n          - k\n    outs: [out.txt]\n    metrics:\n      - m.json:\n          cache: false\n    plots:\n      - plot.csv:\n          cache: false\n",
        ),
    ]);
    same_file(&p, "sub/out.txt");
    assert!(p.mlci.exists("sub/m.json") && p.mlci.exists("sub/plot.csv"));
    // A param of the wdir's params file, the dep, then a key no one reads.
    p.edit(|r| write(r, "sub/p.yaml", "k: 5\nj: 2\n"));
    p.agree(&["s"]);
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    p.mlci.mlci(&["repro"]).ok();
    same_file(&p, "sub/out.txt");
    p.edit(|r| write(r, "sub/p.yaml", "k: 5\nj: 9\n"));
    p.agree(&[]);
    p.edit(|r| write(r, "sub/in.txt", "in v2\n"));
    p.agree(&["s"]);
    p.edit(|r| std::fs::remove_file(r.join("sub/m.json")).unwrap());
    p.agree(&["s"]);
}

// 3. What a stage's state is.

#[test]
fn frozen_always_changed_and_callback_stages_are_judged_as_dvc_judges_them() {
    let p = Pair::with_stale(&[
        ("src.txt", "v1\n"),
        ("params.yaml", "lr: 0.1\n"),
        (
            "dvc.yaml",
            "stages:\n  copy:\n    cmd: cp src.txt copy.txt && echo ${lr} >> copy.txt\n    deps: [src.txt]\n    params: [lr]\n    outs: [copy.txt]\n  always:\n    cmd: echo a > always.txt\n    deps: [src.txt]\n    outs: [always.txt]\n    always_changed: true\n  callback:\n    cmd: echo callback\n  nodeps:\n    cmd: echo n > nodeps.txt\n    outs: [nodeps.txt]\n",
        ),
    ], &["always", "callback"]);
    // Freeze `copy`, then change its dep and its param: neither counts.
    p.edit(|r| {
        let y = std::fs::read_to_string(r.join("dvc.yaml")).unwrap();
        write(
            r,
            "dvc.yaml",
            &y.replace("  copy:\n", "  copy:\n    frozen: true\n"),
        );
        write(r, "src.txt", "v2\n");
    });
    p.agree(&["always", "callback"]);
    // A changed command (through its param) counts; repro does not run the
    // stage but takes the workspace into the lock, as DVC does.
    p.edit(|r| write(r, "params.yaml", "lr: 0.2\n"));
    p.agree(&["always", "callback", "copy"]);
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    p.mlci.mlci(&["repro"]).ok();
    same_file(&p, "copy.txt");
    p.agree(&["always", "callback"]);
    // Its output deleted: stale in status, and repro fails in both.
    p.edit(|r| std::fs::remove_file(r.join("copy.txt")).unwrap());
    p.agree_on_status(&["always", "callback", "copy"]);
    let (code, _, _) = dvc_may_fail(&p, &["repro", "-q"], &[]);
    assert_ne!(code, 0, "dvc repro of a frozen stage without its output");
    let e = failed(p.mlci.mlci(&["repro"]));
    assert!(e.contains("copy.txt") && e.contains("frozen"), "{e}");
}

#[test]
fn the_run_cache_restores_exactly_the_stages_dvc_restores() {
    // Each command writes a fresh token: a restored output keeps the old one.
    let token = "od -An -N8 -tx8 /dev/urandom";
    let p = Pair::with_stale(&[
        ("in.txt", "x\n"),
        (
            "dvc.yaml",
            &format!("stages:\n  withdeps:\n    cmd: {token} > a.txt\n    deps: [in.txt]\n    outs: [a.txt]\n  nodeps:\n    cmd: {token} > b.txt\n    outs: [b.txt]\n  persisted:\n    cmd: {token} > c.txt\n    deps: [in.txt]\n    outs:\n      - c.txt:\n          persist: true\n  always:\n    cmd: {token} > d.txt\n    deps: [in.txt]\n    outs: [d.txt]\n    always_changed: true\n  gitmetrics:\n    cmd: {token} > e.txt && {token} > e.json && {token} > e.csv\n    deps: [in.txt]\n    outs: [e.txt]\n    metrics:\n      - e.json:\n          cache: false\n    plots:\n      - e.csv:\n          cache: false\n  gitout:\n    cmd: {token} > f.txt && {token} > f.json\n    deps: [in.txt]\n    outs:\n      - f.txt:\n          cache: false\n    metrics:\n      - f.json:\n          cache: false\n"),
        ),
    ], &["always"]);
    // e: metrics and plots kept in git (restored by DVC's run cache);
    // f: a plain output kept in git (which keeps the stage out of it).
    let outs = [
        "a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "e.json", "e.csv", "f.txt", "f.json",
    ];
    let before: Vec<(String, String)> = outs.iter().map(|o| both(&p, o)).collect();
    // Change the dep and back: the stages with deps and outs have a run
    // record for these inputs.
    for text in ["y\n", "x\n"] {
        p.edit(|r| {
            write(r, "in.txt", text);
            for o in outs {
                let _ = std::fs::remove_file(r.join(o));
            }
        });
        dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
        p.mlci.mlci(&["repro"]).ok();
    }
    let mut dvc_restored = Vec::new();
    for (o, (old_m, old_d)) in outs.iter().zip(before) {
        let (new_m, new_d) = both(&p, o);
        assert_eq!(
            new_m == old_m,
            new_d == old_d,
            "{o}: restored by mlci {}, by dvc {}",
            new_m == old_m,
            new_d == old_d
        );
        if new_d == old_d {
            dvc_restored.push(*o);
        }
    }
    // The comparison means something: DVC restored two stages, not all.
    assert_eq!(dvc_restored, ["a.txt", "e.txt", "e.json", "e.csv"]);
}

#[test]
fn links_and_empty_directories_in_outputs_are_stored_as_dvc_stores_them() {
    let p = Pair::new(&[(
        "dvc.yaml",
        "stages:\n  libs:\n    cmd: mkdir -p lib empty && echo payload > lib/libx.so.1 && ln -sf libx.so.1 lib/libx.so\n    outs: [lib, empty]\n",
    )]);
    let lock: serde_yaml::Value = serde_yaml::from_str(&p.dvc.read("dvc.lock")).expect("dvc.lock");
    let dvc_files = lock["stages"]["libs"]["outs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|o| o["path"].as_str() == Some("lib"))
        .and_then(|o| o["nfiles"].as_u64());
    let mlci_lock = p.mlci.read("mlci.lock");
    assert_eq!(dvc_files, Some(2), "{}", p.dvc.read("dvc.lock"));
    assert!(mlci_lock.contains("nfiles: 2"), "{mlci_lock}");
    // Restored: the link comes back as a regular file with its target's
    // bytes, the empty directory as an empty directory.
    p.edit(|r| {
        std::fs::remove_dir_all(r.join("lib")).unwrap();
        std::fs::remove_dir_all(r.join("empty")).unwrap();
    });
    dvc(&p.dvc_exe, &p.dvc, &["checkout", "-q"]);
    p.mlci.mlci(&["checkout"]).ok();
    for repo in [&p.mlci, &p.dvc] {
        let meta = std::fs::symlink_metadata(repo.path("lib/libx.so")).unwrap();
        assert!(!meta.file_type().is_symlink(), "{}", repo.root.display());
        assert_eq!(repo.read("lib/libx.so"), "payload\n");
        assert!(repo.path("empty").is_dir());
    }
    p.agree(&[]);
    // A link out of the workspace is refused by mlci (a documented
    // difference from DVC, for the safety rules), naming it.
    p.mlci.write(
        "dvc.yaml",
        "stages:\n  libs:\n    cmd: mkdir -p lib && ln -sf /etc/hostname lib/host\n    outs: [lib]\n",
    );
    let e = failed(p.mlci.mlci(&["repro"]));
    assert!(e.contains("lib/host"), "{e}");
}

// 4. Which files count.

#[test]
fn dvcignore_excludes_files_as_dvc_reads_it() {
    // Ignore files at the root and at a level above the dep (DVC refuses
    // one inside a directory it collects; mlci honours that too, see the
    // README).
    let p = Pair::new(&[
        ("area/pkg/mod.py", "x = 1\n"),
        ("area/pkg/deep/keep.txt", "k\n"),
        (".dvcignore", "__pycache__/\n"),
        ("area/.dvcignore", "*.log\n!important.log\n"),
        (
            "dvc.yaml",
            "stages:\n  use:\n    cmd: ls -R area/pkg > used.txt\n    deps: [area/pkg]\n    outs: [used.txt]\n",
        ),
    ]);
    p.edit(|r| {
        write(r, "area/pkg/__pycache__/mod.cpython.pyc", "bytecode");
        write(r, "area/pkg/deep/run.log", "noise");
    });
    p.agree(&[]);
    p.edit(|r| write(r, "area/pkg/deep/important.log", "kept"));
    p.agree(&["use"]);
    p.edit(|r| write(r, "area/pkg/new.py", "y = 2\n"));
    p.agree(&["use"]);
}

// 5. The shell and the environment.

#[test]
fn cmd_runs_in_the_shell_dvc_uses_with_dvcs_variables() {
    let files: &[(&str, &str)] = &[(
        "dvc.yaml",
        "stages:\n  seq:\n    cmd: echo {1..3} > seq.txt && if [[ -s seq.txt ]]; then echo nonempty > t.txt; fi\n    outs: [seq.txt, t.txt]\n  env:\n    cmd: echo $DVC_STAGE > env.txt && test -n \"$DVC_ROOT\" && echo root-set >> env.txt\n    outs: [env.txt]\n",
    )];
    let p = Pair::unrun(files);
    let bash = [("SHELL", "/bin/bash")];
    let (code, out, err) = dvc_may_fail(&p, &["repro", "-q"], &bash);
    assert_eq!(code, 0, "{out}{err}");
    p.mlci.mlci_env(&["repro"], &bash).ok();
    for f in ["seq.txt", "t.txt", "env.txt"] {
        same_file(&p, f);
    }
    assert_eq!(p.mlci.read("seq.txt"), "1 2 3\n");
}

// 6. Numbers.

#[test]
fn params_diff_shows_the_values_dvc_shows() {
    let p = Pair::new(&[
        ("params.yaml", "lr: 1e-7\nbig: 1.0e+20\nsmall: 0.5\n"),
        (
            "dvc.yaml",
            "stages:\n  train:\n    cmd: echo ${lr}\n    params: [lr, big, small]\n",
        ),
    ]);
    p.mlci.commit_all("base");
    p.dvc.commit_all("base");
    p.edit(|r| write(r, "params.yaml", "lr: 3e-7\nbig: 2.0e+20\nsmall: 0.25\n"));
    let cells = |text: &str, key: &str| -> Vec<String> {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in:\n{text}"));
        row.split_whitespace()
            .skip(2)
            .take(2)
            .map(String::from)
            .collect()
    };
    let d = dvc(&p.dvc_exe, &p.dvc, &["params", "diff"]);
    let m = p.mlci.mlci(&["params", "diff"]).ok().stdout;
    for key in ["lr", "big", "small"] {
        assert_eq!(
            cells(&m, key),
            cells(&d, key),
            "{key}:\nmlci:\n{m}\ndvc:\n{d}"
        );
    }
}

/// Which params files `params diff` shows, as DVC collects them: those the
/// stages read, a pipeline file's top-level `params:` (relative to its
/// directory, a nested `dvc.yaml`'s too), and the root `params.yaml` even
/// when no stage reads it; not a `params.yaml` below the root that nothing
/// names.
#[test]
fn params_diff_shows_the_files_dvc_shows() {
    let p = Pair::with_stale(
        &[
        ("params.yaml", "unused: 1\n"),
        ("cfg/train.yaml", "lr: 0.1\n"),
        ("sub/params.yaml", "b: 1\n"),
        ("sub/extra.json", "{\"depth\": 3}\n"),
        ("stage.yaml", "k: 1\n"),
        (
            "dvc.yaml",
            "params:\n  - cfg/train.yaml\nstages:\n  s:\n    cmd: echo\n    params:\n      - stage.yaml:\n          - k\n",
        ),
        ("sub/dvc.yaml", "params:\n  - extra.json\nstages:\n  t:\n    cmd: echo\n"),
    ],
        // A stage with no deps and no outs is always changed, in both.
        &["sub/dvc.yaml:t"],
    );
    p.mlci.commit_all("base");
    p.dvc.commit_all("base");
    p.edit(|r| {
        write(r, "params.yaml", "unused: 2\n");
        write(r, "cfg/train.yaml", "lr: 0.2\n");
        write(r, "sub/params.yaml", "b: 2\n");
        write(r, "sub/extra.json", "{\"depth\": 4}\n");
        write(r, "stage.yaml", "k: 2\n");
    });
    // (file, param, old, new) rows of both tools' tables.
    let rows = |text: &str| -> BTreeSet<Vec<String>> {
        text.lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(4).map(String::from).collect())
            .collect()
    };
    let d = rows(&dvc(&p.dvc_exe, &p.dvc, &["params", "diff"]));
    let m = rows(&p.mlci.mlci(&["params", "diff"]).ok().stdout);
    assert_eq!(m, d, "mlci vs dvc");
    let files: BTreeSet<&str> = d.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        files,
        BTreeSet::from([
            "params.yaml",
            "cfg/train.yaml",
            "sub/extra.json",
            "stage.yaml"
        ]),
        "what DVC shows: {d:?}"
    );
}

// The layout DVC users favour, end to end, DVC beside mlci.

const TRAIN_PY: &str = r#"import re
lr = float(re.search(r"lr: *([0-9.e+-]+)", open("params.yaml").read()).group(1))
open("model.txt", "w").write(f"weights {lr}\n")
"#;

/// Writes what dvclive's `Live` writes for an evaluate stage: metrics with
/// Python's `Infinity`, an ROC curve with uneven rates under a key, a
/// confusion list and feature importances.
const EVALUATE_PY: &str = r#"import json, os
lr = float(open("model.txt").read().split()[1])
acc = round(0.7 + lr, 4)
os.makedirs("eval/plots", exist_ok=True)
json.dump({"acc": acc, "loss": round(1 - acc, 4), "best_threshold": float("inf")}, open("eval/metrics.json", "w"))
fpr = [0.0, 0.02, 0.05, 0.3, 1.0]
tpr = [0.0, min(1.0, 0.4 + lr), min(1.0, 0.6 + lr), 0.9, 1.0]
json.dump({"roc": [{"fpr": f, "tpr": t, "threshold": th} for f, t, th in zip(fpr, tpr, [float("inf"), 0.9, 0.7, 0.4, 0.0])]}, open("eval/plots/roc.json", "w"))
pairs = [("cat", "cat")] * 5 + [("cat", "dog")] * int(10 * lr) + [("dog", "dog")] * 4 + [("dog", "cat")]
json.dump([{"actual": a, "predicted": p} for a, p in pairs], open("eval/plots/cm.json", "w"))
json.dump([{"feature": f, "importance": v} for f, v in [("age", 0.2), ("income", 0.5 + lr), ("zip", 0.1)]], open("eval/plots/importance.json", "w"))
"#;

const DVCLIVE_YAML: &str = "stages:\n  train:\n    cmd: python3 train.py\n    deps: [train.py, data.csv]\n    params: [train.lr]\n    outs: [model.txt]\n  evaluate:\n    cmd: python3 evaluate.py\n    deps: [evaluate.py, model.txt]\n    outs: [eval]\nmetrics:\n  - eval/metrics.json\nplots:\n  - eval/plots/roc.json:\n      template: simple\n      x: fpr\n      y: tpr\n      title: ROC\n  - eval/plots/cm.json:\n      template: confusion\n      x: actual\n      y: predicted\n  - eval/plots/importance.json:\n      template: bar_horizontal_sorted\n      x: importance\n      y: feature\n";

#[test]
fn a_dvclive_project_runs_end_to_end_beside_dvc() {
    let p = Pair::new(&[
        ("params.yaml", "train:\n  lr: 0.1\n"),
        ("data.csv", "x,y\n1,2\n"),
        ("train.py", TRAIN_PY),
        ("evaluate.py", EVALUATE_PY),
        ("dvc.yaml", DVCLIVE_YAML),
    ]);
    same_file(&p, "eval/metrics.json");
    // A no-op repro runs nothing in either.
    let noop = p.mlci.mlci(&["repro"]).ok();
    assert!(
        noop.stderr.contains("every stage is up to date"),
        "{}",
        noop.stderr
    );
    assert!(dvc(&p.dvc_exe, &p.dvc, &["repro"]).contains("up to date"));
    p.mlci.commit_all("base");
    p.dvc.commit_all("base");
    // A param change: the same stage is stale, for the same reason.
    p.edit(|r| write(r, "params.yaml", "train:\n  lr: 0.2\n"));
    p.agree(&["train"]);
    let d = dvc(&p.dvc_exe, &p.dvc, &["status", "--json"]);
    assert!(d.contains("train.lr"), "{d}");
    let m = p.mlci.mlci(&["status", "--json"]).ok().stdout;
    assert!(m.contains("train.lr"), "{m}");
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
    p.mlci.mlci(&["repro"]).ok();
    same_file(&p, "eval/metrics.json");
    // metrics diff against the previous commit: the base values come from
    // that commit's `eval` output (a directory) through the cache.
    let d = mlci::pipeline::params::parse_json(&dvc(
        &p.dvc_exe,
        &p.dvc,
        &["metrics", "diff", "HEAD", "--all", "--json"],
    ))
    .unwrap();
    let m: serde_json::Value = serde_json::from_str(
        &p.mlci
            .mlci(&["metrics", "diff", "--base", "HEAD", "--all", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    let rows = m["rows"].as_array().unwrap();
    for key in ["acc", "loss", "best_threshold"] {
        let row = rows
            .iter()
            .find(|r| r["path"] == "eval/metrics.json" && r["key"] == key)
            .unwrap_or_else(|| panic!("no row {key}: {m}"));
        let want = &d["eval/metrics.json"][key];
        for side in ["old", "new"] {
            let (mv, dv) = (
                mlci::pipeline::params::number(&row[side]),
                mlci::pipeline::params::number(&want[side]),
            );
            assert!(dv.is_some(), "dvc {key}.{side}: {d}");
            assert_eq!(mv, dv, "{key}.{side}: mlci {m}\ndvc {d}");
        }
    }
    // The report draws each plot as its template asks (`--all`: also the
    // confusion matrix, the same at both revisions).
    let report = p
        .mlci
        .mlci(&["report", "--base", "HEAD", "--all"])
        .ok()
        .stdout;
    assert!(report.contains("**ROC**"), "{report}");
    assert!(report.contains("true to scale"), "{report}");
    // The confusion table in DVC's orientation (actual across, predicted
    // down), each cell the count of DVC's own datapoints for it.
    let pairs = crate::dvc_projects::dvc_pairs(&p, "eval/plots/cm.json", "actual", "predicted");
    let count = |a: &str, p: &str| pairs.iter().filter(|(x, y)| x == a && y == p).count();
    assert!(!pairs.is_empty());
    let row = |p: &str| format!("| **{p}** | {} | {} |", count("cat", p), count("dog", p));
    let (cat_row, dog_row) = (row("cat"), row("dog"));
    assert!(
        report.contains(&format!("{cat_row}\n{dog_row}")),
        "{cat_row}\n{dog_row}\n{report}"
    );
    assert!(report.contains("xychart-beta horizontal"), "{report}");
    assert!(
        report.contains("x-axis \"feature\" [\"income\", \"age\", \"zip\"]"),
        "{report}"
    );
    let file = p.mlci.path("report.md");
    std::fs::write(&file, &report).unwrap();
    let script = crate::common::env_from_test_script("MLCI_TEST_MERMAID_CHECK");
    let out = Command::new("node")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dvc.yaml` files below the root are DVC's pipeline too: their stages are
/// `sub/dvc.yaml:NAME`, their paths, `wdir`, `vars` and default
/// `params.yaml` are relative to their directory, they may depend on each
/// other, and a sub-project (`.dvc/` of its own) is not part of it. `mlci
/// repro` with no target runs every stale stage, as `dvc repro
/// --all-pipelines` does (DVC's bare `repro` takes only `./dvc.yaml`); a
/// pipeline file as a target runs that file's stages, as in DVC.
#[test]
fn dvc_yaml_files_below_the_root_run_as_in_dvc() {
    let p = Pair::unrun(&[
        ("raw.txt", "raw\n"),
        (
            "dvc.yaml",
            "stages:\n  prep:\n    cmd: cat raw.txt > prep.txt\n    deps: [raw.txt]\n    outs: [prep.txt]\n",
        ),
        ("models/params.yaml", "lr: 0.5\nunused: 1\n"),
        ("models/v.yaml", "tag: v1\n"),
        (
            "models/dvc.yaml",
            "vars: [v.yaml]\nstages:\n  train:\n    cmd: cat ../prep.txt > m.txt && echo ${lr} ${tag} >> m.txt\n    deps: [../prep.txt]\n    params: [lr]\n    outs: [m.txt]\n  score:\n    wdir: ..\n    cmd: wc -c < models/m.txt > score.txt\n    deps: [models/m.txt]\n    metrics:\n      - score.txt:\n          cache: false\n",
        ),
        ("other/.dvc/config", ""),
        (
            "other/dvc.yaml",
            "stages:\n  never:\n    cmd: echo no > never.txt\n    outs: [never.txt]\n",
        ),
    ]);
    let all = || {
        dvc(&p.dvc_exe, &p.dvc, &["repro", "-q", "--all-pipelines"]);
        p.mlci.mlci(&["repro"]).ok();
    };
    p.agree_on_status(&["prep", "models/dvc.yaml:train", "models/dvc.yaml:score"]);
    all();
    p.agree_on_status(&[]);
    same_file(&p, "models/m.txt");
    same_file(&p, "score.txt");
    assert!(!p.mlci.exists("other/never.txt") && !p.dvc.exists("other/never.txt"));
    p.edit(|r| write(r, "models/params.yaml", "lr: 0.7\nunused: 1\n"));
    p.agree_on_status(&["models/dvc.yaml:train"]);
    p.edit(|r| write(r, "raw.txt", "raw v2\n"));
    p.agree_on_status(&["prep", "models/dvc.yaml:train"]);
    all();
    same_file(&p, "models/m.txt");
    same_file(&p, "score.txt");
    p.agree_on_status(&[]);
    // A stage below the root is a target by its address, a file by its path.
    p.edit(|r| write(r, "models/params.yaml", "lr: 0.9\nunused: 1\n"));
    p.mlci.mlci(&["repro", "models/dvc.yaml:train"]).ok();
    dvc(
        &p.dvc_exe,
        &p.dvc,
        &["repro", "-q", "models/dvc.yaml:train"],
    );
    same_file(&p, "models/m.txt");
    p.agree_on_status(&["models/dvc.yaml:score"]);
    p.edit(|r| write(r, "raw.txt", "raw v3\n"));
    p.mlci.mlci(&["repro", "models/dvc.yaml"]).ok();
    dvc(&p.dvc_exe, &p.dvc, &["repro", "-q", "models/dvc.yaml"]);
    same_file(&p, "models/m.txt");
    same_file(&p, "score.txt");
    p.agree_on_status(&[]);
    // DVC's spellings: `--all-pipelines`/`-P` and `--dry` plan the same runs.
    p.edit(|r| write(r, "raw.txt", "raw v4\n"));
    let planned = |mlci_args: &[&str], dvc_args: &[&str]| {
        let m = p.mlci.mlci(mlci_args).ok().stdout;
        let d = dvc(&p.dvc_exe, &p.dvc, dvc_args);
        let mlci: BTreeSet<String> = m
            .lines()
            .filter_map(|l| l.strip_prefix("would run `"))
            .map(|l| l[..l.find('`').unwrap()].to_string())
            .collect();
        let dvc_runs: BTreeSet<String> = d
            .lines()
            .filter_map(|l| l.strip_prefix("Running stage '"))
            .map(|l| l[..l.find('\'').unwrap()].to_string())
            .collect();
        assert_eq!(mlci, dvc_runs, "{mlci_args:?}\nmlci:\n{m}\ndvc:\n{d}");
        mlci
    };
    let all = planned(
        &["repro", "-P", "--dry"],
        &["repro", "--all-pipelines", "--dry"],
    );
    assert!(all.contains("prep"), "{all:?}");
    // `-R DIR`: the stages of the pipeline files at or below DIR (and what
    // they need); `-p TARGET`: the whole pipeline TARGET belongs to.
    planned(
        &["repro", "-R", "models", "--dry"],
        &["repro", "-R", "models", "--dry"],
    );
    planned(
        &["repro", "-p", "models/dvc.yaml:score", "--dry"],
        &["repro", "-p", "models/dvc.yaml:score", "--dry"],
    );
    // A pipeline file as a `status` target stands for its stages, in both.
    p.edit(|r| write(r, "models/params.yaml", "lr: 0.95\nunused: 1\n"));
    let m: serde_json::Value = serde_json::from_str(
        &p.mlci
            .mlci(&["status", "--json", "models/dvc.yaml"])
            .ok()
            .stdout,
    )
    .unwrap();
    let m: BTreeSet<String> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "stale")
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    let d: serde_json::Value = serde_json::from_str(&dvc(
        &p.dvc_exe,
        &p.dvc,
        &["status", "--json", "models/dvc.yaml"],
    ))
    .unwrap();
    let d: BTreeSet<String> = d.as_object().unwrap().keys().cloned().collect();
    assert_eq!(m, d, "status models/dvc.yaml");
    assert!(m.contains("models/dvc.yaml:train"), "{m:?}");
}

/// An output marked `push: false` stays off the remote, as DVC keeps it off
/// (and so does the run record naming it, which could not be restored
/// elsewhere); a fresh clone's `pull` restores the rest and leaves it to
/// `repro` (DVC's `pull` reports it missing and exits 1: a deliberate
/// difference, since the flag says no remote holds it).
#[test]
fn push_false_outputs_stay_off_the_remote_as_in_dvc() {
    let p = Pair::new(&[
        ("in.txt", "in\n"),
        (
            "dvc.yaml",
            "stages:\n  s:\n    cmd: cat in.txt > big.bin && echo small > small.bin\n    deps: [in.txt]\n    outs:\n      - big.bin:\n          push: false\n      - small.bin\n",
        ),
    ]);
    let (m_remote, d_remote) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    dvc(
        &p.dvc_exe,
        &p.dvc,
        &[
            "remote",
            "add",
            "-q",
            "-d",
            "r",
            d_remote.path().to_str().unwrap(),
        ],
    );
    dvc(&p.dvc_exe, &p.dvc, &["push", "-q"]);
    p.mlci
        .mlci(&[
            "remote",
            "add",
            "-d",
            "r",
            m_remote.path().to_str().unwrap(),
        ])
        .ok();
    let run = p.mlci.mlci(&["push"]).ok();
    assert!(
        run.stderr.contains("`push: false`: big.bin"),
        "{}",
        run.stderr
    );
    let files = |dir: &std::path::Path, under: &str| -> Vec<String> {
        walkdir::WalkDir::new(dir.join(under))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    };
    assert_eq!(
        files(d_remote.path(), "files"),
        ["small\n"],
        "DVC pushed only small.bin"
    );
    assert_eq!(
        files(m_remote.path(), "sha256"),
        ["small\n"],
        "mlci pushed only small.bin"
    );
    assert!(
        files(m_remote.path(), "runs").is_empty(),
        "no run record names big.bin"
    );

    p.mlci.commit_all("pipeline");
    let clone = TestRepo::new();
    crate::common::git_clone(&p.mlci.root, &clone.path("c"), &[]);
    let c = |args: &[&str]| clone.mlci_in("c", args);
    let run = c(&["pull"]).ok();
    assert!(run.stderr.contains("`push: false`"), "{}", run.stderr);
    assert_eq!(clone.read("c/small.bin"), "small\n");
    assert!(!clone.exists("c/big.bin"));
    c(&["repro"]).ok();
    assert_eq!(clone.read("c/big.bin"), "in\n");
}
