//! `mlci drift` against its oracles: SciPy's statistics (within 1e-9
//! relative) and Evidently's verdicts per column and for the dataset, on
//! seeded tables with and without injected drift, small (KS, chi-square,
//! z) and large (Wasserstein, Jensen–Shannon) references; PSI against a
//! direct computation; `PATH@REV` across commits; bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{env_from_test_script, mlci_cmd, Run, TestRepo};

const NUMERIC: &str = "shifted,stable,withnan,const,kids";
const CATEGORICAL: &str = "newcat,props,binary";

fn python() -> String {
    env_from_test_script("MLCI_TEST_ORACLE_PYTHON")
}

fn oracle_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles")
        .join(name)
}

/// Runs an oracle script of tests/oracles with the oracles' Python (no
/// telemetry); its stdout. A failing script fails the test with its stderr.
pub(crate) fn run_oracle<A: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: impl IntoIterator<Item = A>,
) -> Vec<u8> {
    let out = Command::new(python())
        .env("DO_NOT_TRACK", "1")
        .arg(oracle_script(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The seeded tables, generated once per test.
fn tables() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run_oracle("drift_data.py", [dir.path()]);
    dir
}

fn drift(dir: &Path, args: &[&str]) -> Run {
    let out = mlci_cmd(dir).arg("drift").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn oracle(dir: &Path, reference: &str, current: &str, ours: &str) -> Value {
    let json = dir.join("ours.json");
    std::fs::write(&json, ours).unwrap();
    let args = [
        dir.join(reference),
        dir.join(current),
        json,
        NUMERIC.into(),
        CATEGORICAL.into(),
    ];
    serde_json::from_slice(&run_oracle("drift_oracle.py", args)).unwrap()
}

#[track_caller]
fn close(ours: &Value, theirs: &Value, what: &str) {
    match (ours.as_f64(), theirs.as_f64()) {
        (Some(a), Some(b)) => {
            let tol = 1e-9 * b.abs().max(1e-300);
            assert!(
                (a - b).abs() <= tol || a == b,
                "{what}: mlci {a} vs SciPy {b}"
            );
        }
        (None, None) => {}
        _ => panic!("{what}: mlci {ours} vs SciPy {theirs}"),
    }
}

/// Evidently's test names for mlci's methods.
fn evidently_name(method: &str) -> &'static str {
    match method {
        "ks" => "K-S p_value",
        "chisquare" => "chi-square p_value",
        "z" => "Z-test p_value",
        "wasserstein" => "Wasserstein distance (normed)",
        "jensenshannon" => "Jensen-Shannon distance",
        other => panic!("no Evidently default is {other}"),
    }
}

fn check_against_oracles(dir: &Path, reference: &str, current: &str) -> Value {
    let run = drift(dir, &[reference, current, "--json"]).ok();
    let ours: Value = serde_json::from_str(&run.stdout).unwrap();
    let theirs = oracle(dir, reference, current, &run.stdout);
    let cols = ours["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 8, "{ours}");
    for c in cols {
        let name = c["column"].as_str().unwrap();
        let t = &theirs["columns"][name];
        close(
            &c["statistic"],
            &t["scipy_statistic"],
            &format!("{reference} {name} statistic"),
        );
        close(
            &c["p_value"],
            &t["scipy_p_value"],
            &format!("{reference} {name} p-value"),
        );
        let method = c["method"].as_str().unwrap();
        assert_eq!(
            evidently_name(method),
            t["evidently_test"],
            "{reference} {name}: the test"
        );
        assert_eq!(
            c["drifted"], t["evidently_drifted"],
            "{reference} {name}: the verdict ({c} vs {t})"
        );
    }
    let d = &ours["dataset"];
    assert_eq!(
        d["drifted"], theirs["dataset"]["evidently_drifted"],
        "{reference}: dataset verdict"
    );
    close(
        &d["share"],
        &theirs["dataset"]["evidently_share"],
        "drift share",
    );
    ours
}

#[test]
fn statistics_match_scipy_and_verdicts_match_evidently() {
    let dir = tables();
    // Small reference: KS, chi-square and z; drift injected.
    let small = check_against_oracles(dir.path(), "small_ref.csv", "small_cur.csv");
    let methods: Vec<&str> = small["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "ks",
            "ks",
            "ks",
            "z",
            "chisquare",
            "chisquare",
            "chisquare",
            "z"
        ]
    );
    let drifted: Vec<&str> = small["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drifted"] == true)
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert!(
        drifted.contains(&"shifted") && drifted.contains(&"newcat") && drifted.contains(&"props"),
        "{drifted:?}"
    );
    // Large reference: Wasserstein and Jensen-Shannon; drift injected.
    let large = check_against_oracles(dir.path(), "large_ref.parquet", "large_cur.parquet");
    assert_eq!(
        large["dataset"]["drifted"], false,
        "3 of 8 drifted: below the 0.5 share"
    );
    // No drift at all.
    let same = check_against_oracles(dir.path(), "same_ref.parquet", "same_cur.parquet");
    assert_eq!(same["dataset"]["drifted_columns"], 0, "{same}");
}

#[test]
fn psi_matches_a_direct_computation() {
    let dir = tables();
    for (r, c) in [
        ("small_ref.csv", "small_cur.csv"),
        ("large_ref.parquet", "large_cur.parquet"),
    ] {
        let run = drift(dir.path(), &[r, c, "--json", "--method", "psi"]).ok();
        let ours: Value = serde_json::from_str(&run.stdout).unwrap();
        let theirs = oracle(dir.path(), r, c, &run.stdout);
        for col in ours["columns"].as_array().unwrap() {
            let name = col["column"].as_str().unwrap();
            assert_eq!(col["method"], "psi");
            assert_eq!(col["p_value"], Value::Null);
            close(
                &col["statistic"],
                &theirs["columns"][name]["scipy_statistic"],
                &format!("{r} {name} PSI"),
            );
        }
    }
}

#[test]
fn the_output_is_a_table_markdown_or_exactly_the_documented_json() {
    let dir = tables();
    let run = drift(dir.path(), &["small_ref.csv", "small_cur.csv", "--json"]).ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys = |x: &Value| x.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), ["columns", "dataset", "left_out"]);
    assert_eq!(
        keys(&v["columns"][0]),
        [
            "column",
            "type",
            "method",
            "statistic",
            "p_value",
            "threshold",
            "drifted"
        ]
    );
    assert_eq!(
        keys(&v["dataset"]),
        [
            "columns",
            "drifted_columns",
            "share",
            "threshold",
            "drifted"
        ]
    );
    let text = drift(dir.path(), &["small_ref.csv", "small_cur.csv"]).ok();
    assert!(text.stdout.starts_with("column  "), "{}", text.stdout);
    crate::common::pin_output(&text.stdout);
    // JSON Lines read as the CSV does: the same verdicts and statistics.
    let jsonl = drift(
        dir.path(),
        &["small_ref.jsonl", "small_cur.jsonl", "--json"],
    )
    .ok();
    let j: Value = serde_json::from_str(&jsonl.stdout).unwrap();
    for (a, b) in v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(j["columns"].as_array().unwrap())
    {
        assert_eq!(
            (&a["column"], &a["method"], &a["drifted"]),
            (&b["column"], &b["method"], &b["drifted"])
        );
        close(&b["statistic"], &a["statistic"], "JSON Lines vs CSV");
    }
    // Missing values are counted (the text table's `missing` column).
    assert!(text.stdout.contains("missing"), "{}", text.stdout);
    let md = drift(dir.path(), &["small_ref.csv", "small_cur.csv", "--md"]).ok();
    assert!(md.stdout.starts_with("| column |"), "{}", md.stdout);
    // --check: exit 1 only when the dataset drifts.
    assert_eq!(
        drift(dir.path(), &["small_ref.csv", "small_cur.csv", "--check"]).code,
        v["dataset"]["drifted"]
            .as_bool()
            .map(|d| if d { 1 } else { 0 })
            .unwrap()
    );
    assert_eq!(
        drift(
            dir.path(),
            &["same_ref.parquet", "same_cur.parquet", "--check"]
        )
        .code,
        0
    );
    assert_eq!(
        drift(
            dir.path(),
            &[
                "small_ref.csv",
                "small_cur.csv",
                "--check",
                "--drift-share",
                "0.1"
            ]
        )
        .code,
        1
    );
}

#[test]
fn tracked_datasets_at_two_revisions() {
    let dir = tables();
    let r = TestRepo::new();
    // A tracked CSV, and a directory of Parquet shards, in two commits.
    std::fs::copy(dir.path().join("small_ref.csv"), r.path("data.csv")).unwrap();
    std::fs::create_dir_all(r.path("shards")).unwrap();
    std::fs::copy(
        dir.path().join("large_ref.parquet"),
        r.path("shards/part-0.parquet"),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("same_ref.parquet"),
        r.path("shards/part-1.parquet"),
    )
    .unwrap();
    r.mlci(&["add", "data.csv", "shards"]).ok();
    // The model trained on it, declared for the registry.
    r.write("model.pkl", "m1");
    r.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n    type: model\n",
    );
    r.commit_all("reference");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    std::fs::copy(dir.path().join("small_cur.csv"), r.path("data.csv")).unwrap();
    std::fs::remove_file(r.path("shards/part-1.parquet")).unwrap();
    std::fs::copy(
        dir.path().join("large_cur.parquet"),
        r.path("shards/part-1.parquet"),
    )
    .unwrap();
    r.mlci(&["add", "data.csv", "shards"]).ok();
    r.commit_all("current");
    let at_revs = r
        .mlci(&["drift", "data.csv@HEAD~1", "data.csv@HEAD", "--json"])
        .ok();
    let plain = drift(dir.path(), &["small_ref.csv", "small_cur.csv", "--json"]).ok();
    assert_eq!(
        at_revs.stdout, plain.stdout,
        "the same as the files themselves"
    );
    let shards = r
        .mlci(&["drift", "shards@HEAD~1", "shards@HEAD", "--json"])
        .ok();
    let v: Value = serde_json::from_str(&shards.stdout).unwrap();
    assert_eq!(v["columns"].as_array().unwrap().len(), 8);
    // The reference shards hold 6,000 rows: the large-reference tests.
    assert_eq!(v["columns"][0]["method"], "wasserstein", "{v}");
    // The workspace against a revision, too.
    let at_rev = r
        .mlci(&["drift", "data.csv@HEAD~1", "data.csv", "--json"])
        .ok();
    // And against the data a registry version was trained on, by stage
    // or by version, as `monitor --reference` names it.
    for spec in ["data.csv@churn#prod", "data.csv@churn@v0.0.1"] {
        let run = r.mlci(&["drift", spec, "data.csv", "--json"]).ok();
        assert_eq!(run.stdout, at_rev.stdout, "{spec}");
    }
}

#[test]
fn bad_tables_are_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("ok.csv"), "a,b\n1,x\n2,y\n3,x\n").unwrap();
    std::fs::write(p.join("mixed.csv"), "a,b\n1,x\n2,y\nthree,x\n").unwrap();
    std::fs::write(p.join("empty.csv"), "a,b\n").unwrap();
    std::fs::write(p.join("broken.parquet"), "not parquet").unwrap();
    std::fs::write(p.join("kinds.csv"), "a,b\nx,1.5\ny,2.5\n").unwrap();
    std::fs::write(p.join("notes.txt"), "hello").unwrap();
    for (args, says) in [
        (
            ["ok.csv", "mixed.csv"],
            "mixed.csv: column `a` mixes numbers and text (row 3: `three`)",
        ),
        (["ok.csv", "empty.csv"], "empty.csv: the table has no rows"),
        (["ok.csv", "broken.parquet"], "broken.parquet: "),
        (
            ["ok.csv", "kinds.csv"],
            "column `b` is categorical in the reference but numeric in the current data",
        ),
        (
            ["ok.csv", "notes.txt"],
            "notes.txt: `txt` is not a format mlci reads",
        ),
        (
            ["ok.csv", "missing.csv"],
            "missing.csv: no such file or directory",
        ),
    ] {
        let run = drift(p, &args).user_error();
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    // A column on one side only is reported, not a crash.
    std::fs::write(p.join("extra.csv"), "a,b,c\n1,x,9\n2,y,9\n3,x,9\n").unwrap();
    let run = drift(p, &["ok.csv", "extra.csv"]).ok();
    assert!(
        run.stderr
            .contains("column `c` is only in the current data"),
        "{}",
        run.stderr
    );
}

/// `drift:` rules in mlci.yaml: `mlci gate` and `mlci ci` fail on them like
/// metric gates, and the report's drift section (table, chart, histograms)
/// passes Mermaid's own parser.
#[test]
fn drift_rules_gate_and_report() {
    let dir = tables();
    let r = TestRepo::new();
    std::fs::copy(dir.path().join("small_ref.csv"), r.path("data.csv")).unwrap();
    r.mlci(&["add", "data.csv"]).ok();
    r.write(
        "mlci.yaml",
        "drift:\n  columns:\n    kids: {type: categorical}\n  rules:\n    - dataset: data.csv\n      reference: main\n      share: 0.3\n",
    );
    r.commit_all("reference");
    // Nothing changed: the rule passes.
    let run = r.mlci(&["gate"]).ok();
    assert!(run.stdout.contains("PASS drift:data.csv"), "{}", run.stdout);
    // New data: 3 or more of 8 columns drift, over the rule's 0.3 share.
    std::fs::copy(dir.path().join("small_cur.csv"), r.path("data.csv")).unwrap();
    r.mlci(&["add", "data.csv"]).ok();
    let run = r.mlci(&["gate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("FAIL drift:data.csv  data.csv: drifted share < 0.3"),
        "{}",
        run.stdout
    );
    let ci = r.mlci(&["ci", "--no-pull", "--no-push"]);
    assert_eq!(ci.code, 1, "{ci:?}");
    assert!(ci.stdout.contains("### Drift"), "{}", ci.stdout);
    crate::common::pin_output(&ci.stdout);
    let report = r.path("report.md");
    r.mlci(&["report", "--output", "report.md"]).ok();
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.matches("```mermaid").count() >= 4,
        "a chart and three histograms:\n{text}"
    );
    let (ok, log) = crate::metrics::mermaid_check(&[report]);
    assert!(ok, "{log}");
    // A bad rule is named.
    r.write("mlci.yaml", "drift:\n  rules:\n    - dataset: data.csv\n");
    let run = r.mlci(&["gate"]).user_error();
    assert!(
        run.stderr.contains("needs exactly one of `reference`"),
        "{}",
        run.stderr
    );
    r.write(
        "mlci.yaml",
        "drift:\n  rules:\n    - dataset: ../outside.csv\n      reference: main\n",
    );
    let run = r.mlci(&["gate"]).user_error();
    assert!(
        run.stderr.contains("leaves its directory"),
        "{}",
        run.stderr
    );
}

/// With no configuration, every column is typed, tested and judged as
/// Evidently 0.7.23's default `DataDriftPreset` does it, on 30 seeded
/// realistic tables (IDs, timestamps, free text, low-cardinality integers,
/// NaN and inf, unseen categories, constant columns, booleans; tiny, small
/// and large references): the type Evidently infers, the test, the score
/// (p-value or distance, 1e-9) and the verdict of every column it tests as
/// numerical or categorical; every text column left out and named (its
/// text-content classifier is not shipped); the drifted count without them.
#[test]
fn column_types_tests_and_verdicts_are_evidentlys_on_realistic_tables() {
    let dir = tempfile::tempdir().unwrap();
    let expected: Value =
        serde_json::from_slice(&run_oracle("drift_types_oracle.py", [dir.path()])).unwrap();
    let tables = expected.as_object().unwrap();
    assert_eq!(tables.len(), 30);
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (name, want) in tables {
        let run = drift(
            dir.path(),
            &[
                &format!("{name}_ref.csv"),
                &format!("{name}_cur.csv"),
                "--json",
            ],
        )
        .ok();
        let ours: Value = serde_json::from_str(&run.stdout).unwrap();
        let mut drifted = 0;
        for (column, ty) in want["types"].as_object().unwrap() {
            let ty = ty.as_str().unwrap();
            kinds_seen.insert(ty.to_string());
            if ty == "text" {
                let left = ours["left_out"].as_array().unwrap();
                assert!(
                    left.iter()
                        .any(|l| l["column"] == *column && l["type"] == "text"),
                    "{name} {column}: text, left out: {ours}"
                );
                continue;
            }
            let theirs = &want["columns"][column];
            let mine = ours["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["column"] == *column)
                .unwrap_or_else(|| panic!("{name} {column} not tested: {ours}"));
            let shown = if ty == "numerical" { "numeric" } else { ty };
            assert_eq!(mine["type"], shown, "{name} {column} type");
            assert_eq!(mine["method"], theirs["method"], "{name} {column} method");
            let p_method = matches!(theirs["method"].as_str(), Some("ks" | "chisquare" | "z"));
            let score = if p_method {
                &mine["p_value"]
            } else {
                &mine["statistic"]
            };
            let (a, b) = (score.as_f64().unwrap(), theirs["score"].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1e-300) || (a - b).abs() < 1e-12,
                "{name} {column} {}: mlci {a}, Evidently {b}",
                theirs["method"]
            );
            let thr = theirs["threshold"].as_f64().unwrap();
            let their_verdict = if p_method { b < thr } else { b >= thr };
            assert_eq!(mine["drifted"], their_verdict, "{name} {column} verdict");
            drifted += usize::from(their_verdict);
        }
        assert_eq!(
            ours["dataset"]["drifted_columns"], drifted,
            "{name}: {ours}"
        );
    }
    // The suite means something: every kind Evidently infers here occurs.
    assert_eq!(
        kinds_seen.into_iter().collect::<Vec<_>>(),
        ["categorical", "numerical", "text"]
    );
}

/// Roles and types from flags or mlci.yaml win over the inference: an ID
/// column named as such is left out and named, a text column set
/// categorical is tested; a bad flag is an error with a hint.
#[test]
fn roles_and_types_override_the_inference() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |shift: usize| {
        let mut s = String::from("user_id,plan,note,score\n");
        for i in 0..40 {
            s.push_str(&format!(
                "u{:04},{},n{},{}.5\n",
                i + shift,
                ["free", "pro"][i % 2],
                i % 30,
                i % 7
            ));
        }
        s
    };
    std::fs::write(dir.path().join("ref.csv"), rows(0)).unwrap();
    std::fs::write(dir.path().join("cur.csv"), rows(100)).unwrap();
    let run = drift(
        dir.path(),
        &[
            "ref.csv",
            "cur.csv",
            "--role",
            "score=target",
            "--type",
            "note=categorical",
        ],
    )
    .ok();
    crate::common::pin_output(&run.stdout);
    let json = drift(
        dir.path(),
        &[
            "ref.csv",
            "cur.csv",
            "--role",
            "score=target",
            "--type",
            "note=categorical",
            "--json",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let tested: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(tested, ["plan", "note"], "{v}");
    let left: Vec<(&str, &str)> = v["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["column"].as_str().unwrap(), l["type"].as_str().unwrap()))
        .collect();
    assert_eq!(left, [("user_id", "text"), ("score", "target")], "{v}");
    drift(dir.path(), &["ref.csv", "cur.csv", "--type", "note=words"]).user_error();
}
