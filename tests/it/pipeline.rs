//! Pipelines: repro, mlci.lock, explained staleness, the run cache,
//! parallel stages, failures and bad pipeline definitions.

use std::time::Duration;

use crate::common::{mlci_cmd, TestRepo};
use crate::snapshot;

const THREE_STAGES: &str = "\
stages:
  prepare:
    cmd: mkdir -p data && cat raw.txt > data/prep.txt
    deps: [raw.txt]
    outs: [data/prep.txt]
  train:
    cmd: cat data/prep.txt > model.bin && echo lr=${train.lr} >> model.bin
    deps: [data/prep.txt]
    params: [train.lr]
    outs: [model.bin]
  evaluate:
    cmd: mkdir -p eval && wc -c < model.bin > eval/size.txt
    deps: [model.bin]
    metrics:
      - eval/size.txt: {cache: false}
";

fn three_stage_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("raw.txt", "raw data\n");
    repo.write("params.yaml", "train:\n  lr: 0.1\n");
    repo.write("mlci.yaml", THREE_STAGES);
    repo
}

/// Stages that ran in a repro, from its stderr.
fn ran(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("running stage `"))
        .map(|l| l.trim_end_matches('`').to_string())
        .collect()
}

#[test]
fn repro_runs_stale_stages_in_order_and_then_nothing() {
    let repo = three_stage_repo();
    let run = repo.mlci(&["repro"]).ok();
    assert_eq!(ran(&run.stderr), ["prepare", "train", "evaluate"]);
    assert_eq!(repo.read("model.bin"), "raw data\nlr=0.1\n");
    let lock = repo.read("mlci.lock");
    assert!(
        lock.starts_with("schema: '1'\nstages:\n  evaluate:\n"),
        "{lock}"
    );
    assert!(
        lock.contains("    params:\n      params.yaml:\n        train.lr: 0.1\n"),
        "{lock}"
    );
    assert_eq!(repo.read(".gitignore"), "/model.bin\n");
    assert_eq!(repo.read("data/.gitignore"), "/prep.txt\n");
    assert!(
        !repo.exists("eval/.gitignore"),
        "uncached metrics stay in git"
    );
    let run = repo.mlci(&["repro"]).ok();
    assert!(ran(&run.stderr).is_empty(), "{}", run.stderr);
    assert_eq!(
        repo.read("mlci.lock"),
        lock,
        "a no-op repro rewrites nothing"
    );
    repo.mlci(&["status", "--check"]).ok();
}

#[test]
fn status_explains_each_reason_and_a_param_change_reruns_only_what_depends_on_it() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    repo.write("params.yaml", "train:\n  lr: 0.05\n");
    snapshot!(repo, repo.mlci(&["status"]), @r"
    exit: 0
    --- stdout
    stage train: stale
        cmd changed
        param `train.lr` 0.1 → 0.05
    --- stderr
    ");
    assert_eq!(repo.mlci(&["status", "--check"]).code, 1);
    let json: serde_json::Value =
        serde_json::from_str(&repo.mlci(&["status", "--json"]).stdout).unwrap();
    let train = &json["stages"][1];
    assert_eq!(train["name"], "train");
    assert_eq!(train["state"], "stale");
    assert_eq!(train["reasons"][1]["reason"], "param_changed");
    assert_eq!(train["reasons"][1]["old"], 0.1);
    assert_eq!(train["reasons"][1]["new"], 0.05);
    let run = repo.mlci(&["repro"]).ok();
    assert_eq!(ran(&run.stderr), ["train", "evaluate"]);

    repo.write("raw.txt", "new raw data\n");
    std::fs::remove_file(repo.path("eval/size.txt")).unwrap();
    let run = repo.mlci(&["status"]).ok();
    assert!(
        run.stdout
            .contains("stage prepare: stale\n    dep `raw.txt` changed ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("stage evaluate: stale\n    out `eval/size.txt` missing"),
        "{}",
        run.stdout
    );
}

#[test]
fn downstream_of_byte_identical_outputs_does_not_rerun() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    // prepare's dep changes, but its output comes out the same.
    repo.write(
        "mlci.yaml",
        THREE_STAGES.replace(
            "cat raw.txt > data/prep.txt",
            "head -n 1 raw.txt > data/prep.txt",
        ),
    );
    repo.write("raw.txt", "raw data\nsecond line ignored by prepare\n");
    let run = repo.mlci(&["repro"]).ok();
    assert_eq!(ran(&run.stderr), ["prepare"]);
    assert!(
        run.stderr.contains("stage `train` is up to date"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_cache_restores_instead_of_rerunning() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    repo.write("params.yaml", "train:\n  lr: 0.2\n");
    repo.mlci(&["repro"]).ok();
    repo.write("params.yaml", "train:\n  lr: 0.1\n");
    let run = repo.mlci(&["repro"]).ok();
    assert!(
        run.stderr
            .contains("restored the outputs of `train` from the run cache"),
        "{}",
        run.stderr
    );
    assert!(!ran(&run.stderr).contains(&"train".to_string()));
    assert_eq!(repo.read("model.bin"), "raw data\nlr=0.1\n");
    // --no-run-cache always runs.
    repo.write("params.yaml", "train:\n  lr: 0.2\n");
    repo.mlci(&["repro"]).ok();
    repo.write("params.yaml", "train:\n  lr: 0.1\n");
    let run = repo.mlci(&["repro", "--no-run-cache"]).ok();
    assert!(
        ran(&run.stderr).contains(&"train".to_string()),
        "{}",
        run.stderr
    );
}

#[test]
fn dry_run_lists_without_running_and_force_reruns() {
    let repo = three_stage_repo();
    let run = repo.mlci(&["repro", "--dry-run"]).ok();
    assert_eq!(
        run.stdout,
        "would run `prepare`: never run\nwould run `train`: never run\nwould run `evaluate`: never run\n"
    );
    assert!(!repo.exists("mlci.lock") && !repo.exists("model.bin"));
    repo.mlci(&["repro"]).ok();
    let run = repo.mlci(&["repro", "--force", "train"]).ok();
    assert_eq!(ran(&run.stderr), ["prepare", "train"]);
    // As DVC's `--downstream`: the target and what follows it, not what
    // feeds it.
    let run = repo
        .mlci(&["repro", "--force", "--downstream", "train"])
        .ok();
    assert_eq!(ran(&run.stderr), ["train", "evaluate"]);
}

#[test]
fn frozen_stages_never_rerun() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    repo.write(
        "mlci.yaml",
        THREE_STAGES.replace("  train:\n", "  train:\n    frozen: true\n"),
    );
    repo.write("params.yaml", "train:\n  lr: 0.9\n");
    let run = repo.mlci(&["repro"]).ok();
    assert!(ran(&run.stderr).is_empty(), "{}", run.stderr);
    repo.mlci(&["status", "--check"]).ok();
}

#[test]
fn independent_stages_run_in_parallel_with_prefixed_whole_lines() {
    let repo = TestRepo::new();
    // Each stage waits for the other's marker: this finishes only if both
    // run at the same time (bounded, so a serial run fails instead of hanging).
    let stage = |me: &str, other: &str| {
        format!(
            "  {me}:\n    cmd: touch {me}.started; i=0; while [ ! -e {other}.started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; test -e {other}.started && echo line-from-{me} && echo {me} > {me}.txt\n    outs: [{me}.txt]\n"
        )
    };
    repo.write(
        "mlci.yaml",
        format!("stages:\n{}{}", stage("a", "b"), stage("b", "a")),
    );
    let run = repo.mlci(&["repro", "-j", "2"]).ok();
    assert!(run.stdout.contains("[a] line-from-a\n"), "{}", run.stdout);
    assert!(run.stdout.contains("[b] line-from-b\n"), "{}", run.stdout);
    let lock = repo.read("mlci.lock");
    assert!(lock.contains("  a:\n") && lock.contains("  b:\n"), "{lock}");
    // Serially the same pipeline cannot finish: proof the test can fail.
    std::fs::remove_file(repo.path("a.started")).unwrap();
    std::fs::remove_file(repo.path("b.started")).unwrap();
    assert_eq!(repo.mlci(&["repro", "--force", "-j", "1"]).code, 2);
}

#[test]
fn a_failing_stage_names_itself_and_keeps_earlier_lock_entries() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    let before = repo.read("mlci.lock");
    repo.write(
        "mlci.yaml",
        THREE_STAGES.replace("echo lr=${train.lr} >> model.bin", "exit 3"),
    );
    repo.write("raw.txt", "changed\n");
    let run = repo.mlci(&["repro"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: stage `train` failed: `cat data/prep.txt > model.bin && exit 3` exited with code 3"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    let after = repo.read("mlci.lock");
    // prepare's new entry is kept; train's entry is the old one.
    assert_ne!(after, before);
    let train_block = |l: &str| l[l.find("  train:").unwrap()..].to_string();
    assert_eq!(train_block(&after), train_block(&before));
}

#[test]
fn with_jobs_a_failure_lets_the_running_stage_finish_and_records_it() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  slow:\n    cmd: sleep 0.5 && echo ok > slow.txt\n    outs: [slow.txt]\n  bad:\n    cmd: exit 7\n    outs: [bad.txt]\n",
    );
    let run = repo.mlci(&["repro", "-j", "2"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("stage `bad` failed"), "{}", run.stderr);
    let lock = repo.read("mlci.lock");
    assert!(
        lock.contains("  slow:\n"),
        "the stage that completed is recorded: {lock}"
    );
    assert!(!lock.contains("  bad:\n"), "{lock}");
}

#[test]
fn interrupt_stops_the_running_command_tree_and_keeps_the_lock_consistent() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  first:\n    cmd: echo 1 > first.txt\n    outs: [first.txt]\n  long:\n    cmd: sh -c 'echo $$ > child.pid; sleep 30' && echo done > long.txt\n    deps: [first.txt]\n    outs: [long.txt]\n",
    );
    let mut child = mlci_cmd(&repo.root).args(["repro"]).spawn().unwrap();
    let pid_file = repo.path("child.pid");
    for _ in 0..500 {
        if pid_file.exists() && !repo.read("child.pid").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let grandchild: i32 = repo.read("child.pid").trim().parse().unwrap();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    // The sleeping grandchild is gone (its process group was stopped).
    std::thread::sleep(Duration::from_millis(200));
    // Gone, or a zombie waiting for init to reap it: either way not running.
    let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
    let running = !state.is_empty()
        && !state
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
    assert!(!running, "process {grandchild} survived: {state}");
    let lock = repo.read("mlci.lock");
    assert!(
        lock.contains("  first:\n") && !lock.contains("  long:\n"),
        "{lock}"
    );
    assert!(!repo.exists("long.txt"));
}

#[test]
fn foreach_matrix_and_dvc_yaml_stages() {
    let repo = TestRepo::new();
    repo.write("params.yaml", "sizes: [s, l]\n");
    repo.write(
        "dvc.yaml",
        "stages:\n  train:\n    foreach: ${sizes}\n    do:\n      cmd: echo ${item} > m-${item}.txt\n      outs:\n        - m-${item}.txt\n  grid:\n    matrix:\n      lr: [1, 2]\n    cmd: echo ${item.lr} > g-${item.lr}.txt\n    outs:\n      - g-${item.lr}.txt\n",
    );
    repo.write("mlci.yaml", "gates: []\n");
    let run = repo.mlci(&["repro", "train"]).ok();
    let mut stages = ran(&run.stderr);
    stages.sort();
    assert_eq!(stages, ["train@l", "train@s"]);
    assert_eq!(repo.read("m-l.txt"), "l\n");
    let run = repo.mlci(&["repro"]).ok();
    assert_eq!(ran(&run.stderr), ["grid@1", "grid@2"]);
}

#[test]
fn dag_prints_text_mermaid_and_dot() {
    let repo = three_stage_repo();
    assert_eq!(
        repo.mlci(&["dag"]).ok().stdout,
        "prepare\ntrain <- prepare\nevaluate <- train\n"
    );
    let m = repo.mlci(&["dag", "--mermaid"]).ok().stdout;
    assert!(
        m.starts_with("flowchart TD\n") && m.contains("    prepare --> train\n"),
        "{m}"
    );
    let d = repo.mlci(&["dag", "--dot"]).ok().stdout;
    assert!(d.contains("\"train\" -> \"evaluate\";"), "{d}");
}

#[test]
fn checkout_restores_stage_outputs_and_gc_keeps_them() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    repo.commit_all("run");
    std::fs::remove_file(repo.path("model.bin")).unwrap();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["gc", "--workspace"]).ok();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(repo.read("model.bin"), "raw data\nlr=0.1\n");
    assert_eq!(repo.read("data/prep.txt"), "raw data\n");
    repo.mlci(&["status", "--check"]).ok();
}

#[test]
fn bad_pipelines_exit_2_with_file_line_and_hint_and_leave_the_lock_alone() {
    let repo = three_stage_repo();
    repo.mlci(&["repro"]).ok();
    let lock = repo.read("mlci.lock");
    /// (mlci.yaml, another file to break, expected error text)
    type Case<'a> = (String, Option<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (THREE_STAGES.replace("    deps: [raw.txt]", "    dpes: [raw.txt]"), None, "mlci.yaml:4:5: stages.prepare: unknown field `dpes`"),
        (THREE_STAGES.replace("  train:\n", "  train:\n    frozen: sometimes\n"), None, "mlci.yaml:7:13: stages.train.frozen: invalid type"),
        (THREE_STAGES.replace("${train.lr}", "${train.missing}"), None, "mlci.yaml:7: stage `train`: cannot interpolate `${train.missing}`: `train` has no key `missing`"),
        (THREE_STAGES.replace("    deps: [raw.txt]", "    deps: [eval/size.txt]"), None, "the stages form a cycle: "),
        (THREE_STAGES.replace("outs: [model.bin]", "outs: [data/prep.txt]"), None, "stages `prepare` and `train` both write `data/prep.txt`"),
        (THREE_STAGES.replace("    deps: [raw.txt]", "    deps: [nothing.csv]"), None, "stage `prepare`: dep `nothing.csv` does not exist and no stage writes it"),
        (THREE_STAGES.to_string(), Some(("params.yaml", "train: [lr\n")), "params.yaml:2"),
    ];
    for (yaml, extra, expected) in cases {
        repo.write("mlci.yaml", &yaml);
        let saved = extra.map(|(f, text)| {
            let old = repo.read(f);
            repo.write(f, text);
            (f, old)
        });
        // A missing source dep stops a run; `status` reports it and goes
        // on, as `dvc status` does (a fresh clone before `pull`).
        let cmds: &[&[&str]] = if expected.contains("no stage writes it") {
            &[&["repro"]]
        } else {
            &[&["repro"], &["status"]]
        };
        for cmd in cmds {
            let run = repo.mlci(cmd).user_error();
            assert!(
                run.stderr.contains(expected),
                "{cmd:?}: expected `{expected}` in:\n{}",
                run.stderr
            );
        }
        assert_eq!(repo.read("mlci.lock"), lock, "mlci.lock untouched");
        if let Some((f, old)) = saved {
            repo.write(f, old);
        }
    }
    // A dep only DVC tracks gets a hint to `mlci add` it.
    repo.write(
        "dvc-data.csv.dvc",
        "outs:\n- md5: 0\n  path: dvc-data.csv\n",
    );
    repo.write(
        "mlci.yaml",
        THREE_STAGES.replace("    deps: [raw.txt]", "    deps: [dvc-data.csv]"),
    );
    let run = repo.mlci(&["repro"]).user_error();
    assert!(
        run.stderr.contains("hint: DVC tracks `dvc-data.csv`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`mlci add dvc-data.csv`"),
        "{}",
        run.stderr
    );
}
