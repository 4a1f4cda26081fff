//! Metrics and params across git revisions.

use crate::common::TestRepo;
use crate::snapshot;

const PIPELINE: &str = "\
stages:
  train:
    cmd: cp metrics-src.json eval.json && cp scores-src.yaml scores.yaml
    deps: [metrics-src.json, scores-src.yaml]
    params: [train.lr, {config.toml: }]
    metrics:
      - eval.json: {cache: false}
      - scores.yaml
";

/// Three commits whose metrics and params differ: changed, added, removed,
/// nested and non-numeric keys; `scores.yaml` is a cached output (not in git).
fn history() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("mlci.yaml", PIPELINE);
    let commit = |metrics: &str, scores: &str, params: &str, toml: &str, msg: &str| {
        repo.write("metrics-src.json", metrics);
        repo.write("scores-src.yaml", scores);
        repo.write("params.yaml", params);
        repo.write("config.toml", toml);
        repo.mlci(&["repro"]).ok();
        repo.commit_all(msg);
    };
    commit(
        r#"{"acc": 0.8, "loss": 0.5, "old_only": 1, "per_class": {"cat": 0.7, "dog": 0.9}, "model": "resnet"}"#,
        "f1: 0.6\n",
        "train:\n  lr: 0.1\n  epochs: 3\n",
        "batch = 32\nopt = \"adam\"\n",
        "one",
    );
    commit(
        r#"{"acc": 0.85, "loss": 0.5, "per_class": {"cat": 0.75, "dog": 0.9}, "model": "resnet", "new_only": 2}"#,
        "f1: 0.65\n",
        "train:\n  lr: 0.05\n  epochs: 3\n",
        "batch = 64\nopt = \"adam\"\n",
        "two",
    );
    commit(
        r#"{"acc": 0.9, "loss": 0.0, "per_class": {"cat": 0.75, "dog": 0.95}, "model": "vit", "new_only": 2}"#,
        "f1: 0.65\n",
        "train:\n  lr: 0.05\n  epochs: 4\n",
        "batch = 64\nopt = \"sgd\"\n",
        "three",
    );
    repo
}

#[test]
fn metrics_show_reads_git_blobs_and_cached_outputs() {
    let repo = history();
    let run = repo.mlci(&["metrics", "show"]).ok();
    assert_eq!(
        run.stdout,
        "Path        Metric         Value\neval.json   acc            0.9\neval.json   loss           0\neval.json   model          vit\neval.json   new_only       2\neval.json   per_class.cat  0.75\neval.json   per_class.dog  0.95\nscores.yaml  f1             0.65\n"
            .replace("Path        Metric", "Path         Metric")
            .replace("eval.json   ", "eval.json    ")
    );
    // At an older revision; scores.yaml comes from the cache via that commit's mlci.lock.
    let run = repo
        .mlci(&["metrics", "show", "--rev", "HEAD~2", "--json"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["eval.json"]["old_only"], 1);
    assert_eq!(v["scores.yaml"]["f1"], 0.6);
}

#[test]
fn metrics_diff_markdown_snapshot() {
    let repo = history();
    snapshot!(repo, repo.mlci(&["metrics", "diff", "--base", "HEAD~2", "--target", "HEAD", "--md"]), @r"
    exit: 0
    --- stdout
    | Path | Metric | Old (HEAD~2) | New (HEAD) | Change |
    |---|---|---|---|---|
    | eval.json | acc | 0.8 | 0.9 | ▲ +0.1 (+12.5%) |
    | eval.json | loss | 0.5 | 0 | ▼ -0.5 (-100%) |
    | eval.json | model | resnet | vit | changed |
    | eval.json | new_only | — | 2 | added |
    | eval.json | old_only | 1 | — | removed |
    | eval.json | per_class.cat | 0.7 | 0.75 | ▲ +0.05 (+7.14%) |
    | eval.json | per_class.dog | 0.9 | 0.95 | ▲ +0.05 (+5.56%) |
    | scores.yaml | f1 | 0.6 | 0.65 | ▲ +0.05 (+8.33%) |
    --- stderr
    ");
}

#[test]
fn params_diff_markdown_snapshot_and_all() {
    let repo = history();
    snapshot!(repo, repo.mlci(&["params", "diff", "--base", "HEAD~2", "--target", "HEAD", "--md"]), @r"
    exit: 0
    --- stdout
    | Path | Param | Old (HEAD~2) | New (HEAD) | Change |
    |---|---|---|---|---|
    | config.toml | batch | 32 | 64 | ▲ +32 (+100%) |
    | config.toml | opt | adam | sgd | changed |
    | params.yaml | train.epochs | 3 | 4 | ▲ +1 (+33.33%) |
    | params.yaml | train.lr | 0.1 | 0.05 | ▼ -0.05 (-50%) |
    --- stderr
    ");
    let run = repo
        .mlci(&[
            "params", "diff", "--base", "HEAD~1", "--target", "HEAD", "--all",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("params.yaml  train.epochs  3       4     +1 (+33.33%)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("params.yaml  train.lr      0.05    0.05  0 (0%)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("config.toml  batch         64      64    0 (0%)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn diff_defaults_to_head_against_the_workspace_and_a_zero_base() {
    let repo = history();
    let run = repo.mlci(&["metrics", "diff"]).ok();
    assert!(
        run.stderr
            .contains("no metrics changed between HEAD and workspace"),
        "{}",
        run.stderr
    );
    repo.write("metrics-src.json", r#"{"acc": 0.9, "loss": 0.25, "per_class": {"cat": 0.75, "dog": 0.95}, "model": "vit", "new_only": 2}"#);
    repo.mlci(&["repro"]).ok();
    let json: serde_json::Value =
        serde_json::from_str(&repo.mlci(&["metrics", "diff", "--json"]).ok().stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["key"], "loss");
    assert_eq!(row["old"], 0.0);
    assert_eq!(row["change"], 0.25);
    assert!(
        row["relative"].is_null(),
        "no relative change from a base of 0"
    );
    assert_eq!(json["base"]["rev"], "HEAD");
    assert_eq!(json["target"]["rev"], "workspace");
}

#[test]
fn default_base_on_a_branch_is_the_merge_base_with_main() {
    let repo = history();
    repo.git(&["checkout", "-q", "-b", "feature", "HEAD~1"]);
    repo.write("metrics-src.json", r#"{"acc": 0.99}"#);
    repo.mlci(&["repro"]).ok();
    repo.commit_all("feature work");
    let json: serde_json::Value = serde_json::from_str(
        &repo
            .mlci(&["metrics", "diff", "--json", "--target", "HEAD"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["base"]["rev"], "merge-base of HEAD and main");
    let acc = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "acc")
        .unwrap();
    assert_eq!(
        acc["old"], 0.85,
        "compared with main's HEAD~1, where the branch started"
    );
}

#[test]
fn bad_revisions_and_unparseable_metrics_name_what_is_wrong() {
    let repo = history();
    let run = repo
        .mlci(&["metrics", "diff", "--base", "no-such-rev"])
        .user_error();
    assert!(
        run.stderr.contains("revision `no-such-rev` does not exist"),
        "{}",
        run.stderr
    );
    repo.write("metrics-src.json", "{not json");
    repo.write(
        "mlci.yaml",
        PIPELINE.replace(
            "cp metrics-src.json eval.json",
            "cp metrics-src.json eval.json || true",
        ),
    );
    repo.mlci(&["repro"]).ok();
    repo.commit_all("broken metrics");
    let run = repo
        .mlci(&["metrics", "diff", "--base", "HEAD~1", "--target", "HEAD"])
        .user_error();
    assert!(
        run.stderr.contains("error: eval.json at HEAD: line 1:"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cached_metrics_file_missing_from_the_cache_is_a_clear_error() {
    let repo = history();
    let lock = repo.read("mlci.lock");
    let hash = lock[lock.find("path: scores.yaml").unwrap()..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .unwrap()
        .to_string();
    std::fs::remove_file(repo.object(&hash)).unwrap();
    let run = repo
        .mlci(&["metrics", "show", "--rev", "HEAD"])
        .user_error();
    assert!(
        run.stderr
            .contains("scores.yaml at HEAD is a cached output"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: `mlci pull`"), "{}", run.stderr);
}

#[test]
fn default_report_snapshot() {
    let repo = history();
    repo.write("params.yaml", "train:\n  lr: 0.01\n  epochs: 4\n");
    snapshot!(repo, repo.mlci(&["report", "--base", "HEAD~2"]), @r"
        exit: 0
        --- stdout
        📊 **8 metrics changed (3 better, 0 worse, 2 of unknown direction), 4 params changed, 1 stage stale**

        Comparing `workspace` with `HEAD~2` (`[SHORT]`).

        ### Metrics

        | Path | Metric | HEAD~2 | workspace | Change |
        |---|---|---:|---:|---|
        | eval.json | acc | 0.8 | 0.9 | 🟢 ▲ +0.1 (+12.5%) |
        | eval.json | loss | 0.5 | 0 | 🟢 ▼ -0.5 (-100%) |
        | eval.json | model | resnet | vit | changed |
        | eval.json | new_only | — | 2 | added |
        | eval.json | old_only | 1 | — | removed |
        | eval.json | per_class.cat | 0.7 | 0.75 | ▲ +0.05 (+7.14%) |
        | eval.json | per_class.dog | 0.9 | 0.95 | ▲ +0.05 (+5.56%) |
        | scores.yaml | f1 | 0.6 | 0.65 | 🟢 ▲ +0.05 (+8.33%) |

        ### Data changes

        files summary: 1 modified

        | | Path |
        |---|---|
        | modified | scores.yaml |

        <details><summary>4 params changed</summary>

        | Path | Param | HEAD~2 | workspace | Change |
        |---|---|---:|---:|---|
        | config.toml | batch | 32 | 64 | ▲ +32 (+100%) |
        | config.toml | opt | adam | sgd | changed |
        | params.yaml | train.epochs | 3 | 4 | ▲ +1 (+33.33%) |
        | params.yaml | train.lr | 0.1 | 0.01 | ▼ -0.09 (-90%) |

        </details>

        <details><summary>1 stage would rerun</summary>

        - **train**: param `train.lr` 0.05 → 0.01

        </details>
        --- stderr
    ");
}

#[test]
fn custom_templates_from_flag_and_mlci_yaml_and_errors_with_file_and_line() {
    let repo = history();
    repo.write(
        "tpl/short.md.j2",
        "{{ verdict.summary }}|{% for m in metrics %}{{ m.key }}={{ m.new_value }};{% endfor %}\n",
    );
    let run = repo
        .mlci(&[
            "report",
            "--base",
            "HEAD~1",
            "--target",
            "HEAD",
            "--template",
            "tpl/short.md.j2",
        ])
        .ok();
    assert_eq!(
        run.stdout,
        "4 metrics changed (2 better, 0 worse, 1 of unknown direction), 2 params changed|acc=0.9;loss=0.0;model=vit;per_class.dog=0.95;\n"
    );
    repo.write(
        "mlci.yaml",
        format!("{PIPELINE}report:\n  template: tpl/short.md.j2\n"),
    );
    let run = repo
        .mlci(&[
            "report",
            "--base",
            "HEAD~1",
            "--target",
            "HEAD",
            "-o",
            "out/report.md",
        ])
        .ok();
    assert!(run.stderr.contains("wrote "), "{}", run.stderr);
    assert!(repo.read("out/report.md").starts_with(
        "4 metrics changed (2 better, 0 worse, 1 of unknown direction), 2 params changed|"
    ));
    repo.write("tpl/bad.md.j2", "fine line\n{% for m in %}\n{% endfor %}\n");
    let run = repo
        .mlci(&["report", "--template", "tpl/bad.md.j2"])
        .user_error();
    assert!(
        run.stderr.contains("error: tpl/bad.md.j2:2: syntax error"),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("out/other.md"));
}

#[test]
fn report_draws_plots_of_base_and_target_from_csv_json_and_several_files() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: cp src-loss.csv loss.csv && cp src-acc.json acc.json\n    deps: [src-loss.csv, src-acc.json]\n    plots:\n      - loss.csv: {x: step, y: loss, cache: false, title: Loss}\n      - acc.json: {cache: false}\nplots:\n  - both:\n      x: step\n      y: {loss.csv: loss, acc.json: acc}\n      title: Loss and accuracy\n  - confusion.png\n",
    );
    repo.write("confusion.png", "not really a png");
    let write = |loss: &[f64], acc: &[f64]| {
        let csv: String = std::iter::once("step,loss\n".to_string())
            .chain(loss.iter().enumerate().map(|(i, v)| format!("{i},{v}\n")))
            .collect();
        repo.write("src-loss.csv", csv);
        let json: Vec<String> = acc
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{{\"step\": {i}, \"acc\": {v}}}"))
            .collect();
        repo.write("src-acc.json", format!("[{}]", json.join(", ")));
        repo.mlci(&["repro"]).ok();
    };
    write(&[1.0, 0.8, 0.6], &[0.5, 0.6, 0.7]);
    repo.commit_all("base");
    write(&[1.0, 0.5, 0.25, 0.2], &[0.5, 0.7, 0.8, 0.85]);
    let run = repo.mlci(&["report", "--plots-dir", "svg"]).ok();
    let out = &run.stdout;
    assert!(out.contains("<details><summary>4 plots</summary>"), "{out}");
    assert!(
        out.contains("**Loss** (1. HEAD: loss.csv loss; 2. workspace: loss.csv loss)"),
        "{out}"
    );
    // Numeric x: one axis over both revisions' steps, true to scale (the
    // base's shorter line ends where its data ends), coloured and named.
    assert!(out.contains("```mermaid\n%%{init: {\"themeVariables\": {\"xyChart\": {\"plotColorPalette\": \"#1f77b4, #ff7f0e\"}}}}%%\nxychart-beta\n    title \"Loss\"\n    x-axis \"step\" [\"0\", \"1\", \"2\", \"3\"]\n    y-axis \"loss\" 0.2 --> 1\n    line [1, 0.8, 0.6]\n    line [1, 0.5, 0.25, 0.2]\n```\nblue: HEAD: loss.csv loss · orange: workspace: loss.csv loss\n"), "{out}");
    // y: {file: field} across two files draws one line per file and side.
    assert!(out.contains("**Loss and accuracy** (1. HEAD: loss.csv loss; 2. HEAD: acc.json acc; 3. workspace: loss.csv loss; 4. workspace: acc.json acc)"), "{out}");
    assert!(out.contains("![confusion.png](confusion.png)"), "{out}");
    let svg = repo.read("svg/loss_csv.svg");
    assert!(
        svg.starts_with("<svg ") && svg.matches("<polyline").count() == 2,
        "{svg}"
    );
    // Unparseable plot data: that plot says why, naming the file and the
    // revision; the rest of the report renders.
    repo.write("loss.csv", "step,loss\n0,1\n1,2,3\n");
    repo.write(
        "mlci.yaml",
        repo.read("mlci.yaml")
            .replace("cp src-loss.csv loss.csv && ", ""),
    );
    let run = repo.mlci(&["report"]).ok();
    assert!(
        run.stdout
            .contains("**Loss** (not drawn)\n\n_cannot draw it: loss.csv at workspace: CSV error"),
        "{}",
        run.stdout
    );
    crate::common::pin_output(&run.stdout);
}

/// Runs Mermaid's own parser (installed by the test script) on Markdown files.
pub(crate) fn mermaid_check(files: &[std::path::PathBuf]) -> (bool, String) {
    let script = crate::common::env_from_test_script("MLCI_TEST_MERMAID_CHECK");
    let out = std::process::Command::new("node")
        .arg(script)
        .args(files)
        .output()
        .expect("run node");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn mermaid_blocks_pass_mermaids_own_parser() {
    let repo = TestRepo::new();
    // Awkward data on purpose: quotes and commas in labels and titles,
    // negative and tiny values, one point, and many points to downsample.
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: cp src.csv a.csv && cp src1.csv one.csv && cp srcm.json many.json\n    deps: [src.csv, src1.csv, srcm.json]\n    plots:\n      - a.csv: {x: label, y: v, cache: false, title: 'Loss \"val\", per class'}\n      - one.csv: {cache: false}\n      - many.json: {x: step, y: [loss, acc], cache: false, y_label: 'value [a.u.]'}\n",
    );
    let write = |k: f64| {
        repo.write(
            "src.csv",
            format!(
                "label,v\n\"cat, small\",{}\n\"dog \"\"big\"\"\",{}\nbird,-0.000001\n",
                -1.5 * k,
                2e-7 * k
            ),
        );
        repo.write("src1.csv", format!("step,x\n0,{k}\n"));
        let recs: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    "{{\"step\": {i}, \"loss\": {}, \"acc\": {}}}",
                    k / (i as f64 + 1.0),
                    1.0 - k / (i as f64 + 2.0)
                )
            })
            .collect();
        repo.write("srcm.json", format!("[{}]", recs.join(",")));
        repo.mlci(&["repro"]).ok();
    };
    write(1.0);
    repo.commit_all("base");
    write(2.0);
    let run = repo.mlci(&["report"]).ok();
    assert_eq!(
        run.stdout.matches("```mermaid").count(),
        3,
        "{}",
        run.stdout
    );
    let good = repo.path("report.md");
    std::fs::write(&good, &run.stdout).unwrap();
    let (ok, out) = mermaid_check(&[good]);
    assert!(ok, "{out}\n{}", run.stdout);
    // The checker can fail: a broken block is refused.
    let bad = repo.path("bad.md");
    std::fs::write(
        &bad,
        "```mermaid\nxychart-beta\n    x-axis [0,\n    line [1, 2\n```\n",
    )
    .unwrap();
    let (ok, out) = mermaid_check(&[bad]);
    assert!(!ok, "{out}");
}

#[test]
fn gates_pass_fail_and_feed_the_report_verdict() {
    let repo = history();
    let with_gates = |gates: &str| repo.write("mlci.yaml", format!("{PIPELINE}gates:\n{gates}"));
    with_gates(
        "  - metric: acc\n    min: 0.85\n  - metric: scores.yaml:f1\n    max_decrease: 0.01\n",
    );
    snapshot!(repo, repo.mlci(&["gate", "--base", "HEAD~1", "--target", "HEAD"]), @r"
    exit: 0
    --- stdout
    PASS eval.json:acc  acc >= 0.85  (0.9)
    PASS scores.yaml:f1  f1 falls at most 0.01  (0.65)
    --- stderr
    All 2 gate rules passed (base: HEAD~1)
    ");
    with_gates("  - metric: acc\n    min: 0.95\n  - metric: loss\n    max_increase_pct: 10\n  - metric: new_only\n    max_increase: 1\n");
    let run = repo.mlci(&["gate", "--base", "HEAD~2", "--target", "HEAD", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["passed"], false);
    assert_eq!(v["results"][0]["note"], "is 0.9");
    assert_eq!(v["results"][1]["passed"], true, "loss fell");
    assert_eq!(
        v["results"][2]["note"], "no baseline",
        "new_only is new since HEAD~2"
    );
    let report = repo
        .mlci(&["report", "--base", "HEAD~2", "--target", "HEAD"])
        .ok()
        .stdout;
    assert!(
        report.starts_with("❌ **1 of 3 gate rules failed: `acc >= 0.95` (is 0.9). "),
        "{report}"
    );
    assert!(
        report.contains("| ❌ | eval.json:acc | acc >= 0.95 | 0.9 | is 0.9 |"),
        "{report}"
    );
    // A zero base fails a percentage rule, with the reason.
    with_gates("  - metric: loss\n    max_decrease_pct: 5\n");
    repo.write("metrics-src.json", r#"{"acc": 0.9, "loss": 0.1, "per_class": {"cat": 0.75, "dog": 0.95}, "model": "vit", "new_only": 2}"#);
    repo.mlci(&["repro"]).ok();
    let run = repo.mlci(&["gate", "--base", "HEAD"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("FAIL eval.json:loss  loss falls at most 5%  (0.1): the base is 0"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_gates_exit_2_naming_the_problem() {
    let repo = history();
    repo.write("more-src.json", r#"{"acc": 1}"#);
    repo.write(
        "mlci.yaml",
        PIPELINE
            .replace(
                "      - scores.yaml\n",
                "      - scores.yaml\n      - more.json: {cache: false}\n",
            )
            .replace(
                "cp scores-src.yaml scores.yaml",
                "cp scores-src.yaml scores.yaml && cp more-src.json more.json",
            )
            + "gates:\n  - metric: acc\n    min: 0.5\n",
    );
    repo.mlci(&["repro"]).ok();
    let run = repo.mlci(&["gate"]).user_error();
    assert!(
        run.stderr
            .contains("gate metric `acc` matches 2 metrics files: eval.json, more.json"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: name the file: `eval.json:acc` or `more.json:acc`"),
        "{}",
        run.stderr
    );
    repo.write(
        "mlci.yaml",
        format!("{PIPELINE}gates:\n  - metric: acc\n    minimum: 0.5\n"),
    );
    let run = repo.mlci(&["gate"]).user_error();
    assert!(
        run.stderr.contains("unknown field `minimum`"),
        "{}",
        run.stderr
    );
}

/// A metrics file inside a directory tracked with `mlci add` is read at the
/// base revision through the pointer and the directory's manifest; a
/// metrics file the base's pipeline does not declare is new, not compared.
#[test]
fn metrics_inside_tracked_directories_and_per_revision_declarations() {
    let repo = TestRepo::new();
    repo.write("results/m.json", r#"{"acc": 0.8, "auc": NaN}"#);
    repo.write("results/other.txt", "x\n");
    repo.write("extra.json", r#"{"f1": 0.5}"#);
    repo.write("mlci.yaml", "metrics: [results/m.json]\n");
    repo.mlci(&["add", "results"]).ok();
    repo.commit_all("base");
    repo.write("results/m.json", r#"{"acc": 0.9, "auc": 0.7}"#);
    repo.mlci(&["add", "results"]).ok();
    repo.write("mlci.yaml", "metrics: [results/m.json, extra.json]\n");
    let out: serde_json::Value = serde_json::from_str(
        &repo
            .mlci(&["metrics", "diff", "--base", "HEAD", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    let row = |key: &str| {
        out["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {out}"))
    };
    assert_eq!(
        (row("acc")["old"].clone(), row("acc")["new"].clone()),
        (0.8.into(), 0.9.into())
    );
    assert_eq!(row("auc")["old"], "NaN");
    // extra.json existed at the base, but the base did not declare it.
    assert!(row("f1")["old"].is_null(), "{out}");
    // A gate on a NaN metric fails saying so.
    repo.write(
        "mlci.yaml",
        "metrics: [results/m.json]\ngates:\n  - metric: results/m.json:auc\n    min: 0.5\n",
    );
    repo.write("results/m.json", r#"{"acc": 0.9, "auc": NaN}"#);
    let gate = repo.mlci(&["gate", "--base", "HEAD"]);
    assert_eq!(gate.code, 1, "{}{}", gate.stdout, gate.stderr);
    assert!(gate.stdout.contains("is NaN"), "{}", gate.stdout);
}

/// Charts a reviewer can read as GitHub renders them (Mermaid's xychart):
/// at most ~10 round x ticks, integers for integer steps, the other
/// categories blank and unique (Mermaid merges equal ones); both lines
/// coloured (blue base, orange target) and a legend under the chart
/// naming which is which; a shorter line ends where its data ends; a plot
/// whose data is the same at both revisions is not drawn, and says so.
#[test]
fn charts_are_legible_with_round_ticks_colours_and_a_legend() {
    let repo = TestRepo::new();
    repo.write(
        "dvc.yaml",
        "plots:\n  - train.csv:\n      x: step\n      y: loss\n      title: Training loss\n  - curve.csv:\n      x: iteration\n      y: acc\n      title: Accuracy\n  - same.csv:\n      x: step\n      y: v\n  - cm:\n      template: confusion\n      x:\n        actual.csv: actual\n      y:\n        preds.csv: predicted\n",
    );
    // A confusion matrix from two files, unchanged: a table is always shown.
    repo.write("actual.csv", "actual\ncat\ndog\ndog\n");
    repo.write("preds.csv", "predicted\ncat\ncat\ndog\n");
    let series = |n: usize, f: &dyn Fn(f64) -> f64, x: &str, y: &str| {
        let mut s = format!("{x},{y}\n");
        for i in 1..=n {
            s.push_str(&format!("{i},{:.4}\n", f(i as f64)));
        }
        s
    };
    repo.write("train.csv", series(40, &|i| 1.5 + 1.0 / i, "step", "loss"));
    repo.write(
        "curve.csv",
        series(100, &|i| 0.5 + 0.3 * (1.0 - 1.0 / i), "iteration", "acc"),
    );
    repo.write("same.csv", series(5, &|i| i, "step", "v"));
    repo.commit_all("base");
    repo.git(&["branch", "-q", "main-copy"]);
    // The workspace: a new loss curve, and a shorter accuracy curve.
    repo.write("train.csv", series(40, &|i| 1.0 / i, "step", "loss"));
    repo.write(
        "curve.csv",
        series(60, &|i| 0.6 + 0.35 * (1.0 - 1.0 / i), "iteration", "acc"),
    );
    let out = repo.mlci(&["report", "--base", "main-copy"]).ok().stdout;
    for title in ["Training loss", "Accuracy"] {
        let block = out
            .split(&format!("title \"{title}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("{title}: no chart\n{out}"));
        let axis = block.lines().find(|l| l.contains("x-axis")).unwrap();
        let cats: Vec<&str> = axis[axis.find('[').unwrap() + 1..axis.rfind(']').unwrap()]
            .split(", ")
            .map(|c| c.trim_matches('"'))
            .collect();
        let unique: std::collections::BTreeSet<&&str> = cats.iter().collect();
        assert_eq!(
            unique.len(),
            cats.len(),
            "{title}: categories repeat: {axis}"
        );
        let shown: Vec<&&str> = cats
            .iter()
            .filter(|c| !c.trim_matches('\u{200b}').is_empty())
            .collect();
        assert!((3..=11).contains(&shown.len()), "{title}: {shown:?}");
        assert!(
            shown.iter().all(|c| c.parse::<i64>().is_ok()),
            "{title}: {shown:?}"
        );
        let head = out[..out.find(&format!("title \"{title}\"")).unwrap()]
            .rsplit("```mermaid")
            .next()
            .unwrap();
        assert!(
            head.contains("\"plotColorPalette\": \"#1f77b4, #ff7f0e\""),
            "{title}: {head}"
        );
        let legend = block.split("```\n").nth(1).unwrap().lines().next().unwrap();
        assert!(
            legend.starts_with("blue: main-copy: ") && legend.contains(" · orange: workspace: "),
            "{title}: {legend}"
        );
    }
    // The shorter target line ends at its last step (60 of 100).
    let acc = out.split("title \"Accuracy\"").nth(1).unwrap();
    let lines: Vec<usize> = acc
        .lines()
        .filter(|l| l.trim_start().starts_with("line ["))
        .map(|l| l.matches(',').count() + 1)
        .collect();
    assert!(lines[1] < lines[0], "{acc}");
    // The same data at both revisions: a note, no chart.
    assert!(
        out.contains("_the same at main-copy and workspace: not drawn_"),
        "{out}"
    );
    assert!(!out.contains("title \"same.csv\""), "{out}");
    assert!(out.contains("| **cat** | 1 | 1 |"), "{out}");
    assert!(out.contains("| **dog** | 0 | 1 |"), "{out}");
}

/// `--plots-dir` SVGs drawn by mlci and rendered by a real renderer
/// (librsvg's rsvg-convert): every file renders, a line chart shows both
/// lines in the report's colours (blue base, orange target) with round
/// ticks and its legend under the plot area, a confusion matrix is a heat
/// map (cells, no line), bars are bars; none is blank.
#[test]
fn plot_files_render_in_a_real_renderer_and_are_not_blank() {
    let repo = TestRepo::new();
    repo.write(
        "dvc.yaml",
        "plots:\n  - train.csv:\n      x: step\n      y: loss\n      title: Training loss\n  - cm:\n      template: confusion\n      x: actual\n      y:\n        preds.csv: predicted\n  - imp:\n      template: bar_horizontal\n      x: importance\n      y:\n        imp.csv: feature\n",
    );
    let loss = |f: &dyn Fn(f64) -> f64| {
        let mut s = "step,loss\n".to_string();
        for i in 1..=40 {
            s.push_str(&format!("{i},{:.4}\n", f(i as f64)));
        }
        s
    };
    repo.write("train.csv", loss(&|i| 1.5 + 1.0 / i));
    repo.write(
        "preds.csv",
        "actual,predicted\ncat,cat\ncat,dog\ndog,dog\ndog,dog\n",
    );
    repo.write("imp.csv", "feature,importance\nage,0.5\nincome,0.3\n");
    repo.commit_all("base");
    repo.write("train.csv", loss(&|i| 1.0 / i));
    repo.write(
        "preds.csv",
        "actual,predicted\ncat,cat\ncat,cat\ndog,dog\ndog,cat\n",
    );
    repo.write("imp.csv", "feature,importance\nage,0.4\nincome,0.45\n");
    repo.mlci(&["report", "--plots-dir", "svg"]).ok();
    let rsvg = crate::common::env_from_test_script("MLCI_TEST_RSVG");
    let render = |name: &str| -> serde_json::Value {
        let svg = repo.path(&format!("svg/{name}.svg"));
        let png = repo.path(&format!("svg/{name}.png"));
        let out = std::process::Command::new(&rsvg)
            .arg("-o")
            .arg(&png)
            .arg(&svg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&crate::drift::run_oracle("png_ink.py", [&png])).unwrap()
    };
    let chart = render("train_csv");
    assert!(chart["ink"].as_f64().unwrap() > 0.01, "{chart}");
    assert!(chart["blue"].as_u64().unwrap() > 200, "{chart}");
    assert!(chart["orange"].as_u64().unwrap() > 200, "{chart}");
    let text = repo.read("svg/train_csv.svg");
    // Round ticks (5, 10, ..., 40) and the legend below the plot area.
    for t in ["5", "10", "20", "40"] {
        assert!(text.contains(&format!(">{t}</text>")), "{t}: {text}");
    }
    let legend_y: f64 = text
        .split("<rect x=\"72.0\" y=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| panic!("no legend: {text}"));
    assert!(
        legend_y > 320.0,
        "the legend is under the plot area: {legend_y}"
    );
    let cm = render("cm");
    assert!(cm["ink"].as_f64().unwrap() > 0.02, "{cm}");
    let cm_text = repo.read("svg/cm.svg");
    assert!(
        !cm_text.contains("<polyline") && cm_text.matches("<rect").count() >= 9,
        "{cm_text}"
    );
    let bars = render("imp");
    assert!(
        bars["blue"].as_u64().unwrap() > 100 && bars["orange"].as_u64().unwrap() > 100,
        "{bars}"
    );
    // `mlci plots diff`: the same pictures on one self-contained page.
    let run = repo.mlci(&["plots", "diff", "-o", "page/index.html"]).ok();
    crate::common::pin_output(&run.stderr);
    let page = repo.read("page/index.html");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert_eq!(page.matches("<svg ").count(), 3, "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert_eq!(
        page.matches("http").count(),
        page.matches("http://www.w3.org/2000/svg").count(),
        "no link out of the page"
    );
}
