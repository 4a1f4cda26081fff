//! `mlci monitor` against scikit-learn: every window's metrics within
//! 1e-12 on generated logs with a planted degradation, in UTC days and ISO
//! weeks across a DST change and the year's end; reference checks; bad
//! input.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{env_from_test_script, mlci_cmd, Run, TestRepo};

fn oracle(dir: &Path) -> Value {
    let out = Command::new(env_from_test_script("MLCI_TEST_ORACLE_PYTHON"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/monitor_oracle.py"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn monitor(dir: &Path, args: &[&str]) -> Run {
    let out = mlci_cmd(dir).arg("monitor").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn window_metrics_match_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let expected = oracle(dir.path());
    for file in ["cls.csv", "reg.parquet", "multi.jsonl"] {
        for window in ["day", "week"] {
            let run = monitor(dir.path(), &[file, "--window", window, "--json"]).ok();
            let ours: Value = serde_json::from_str(&run.stdout).unwrap();
            let theirs = expected[file][window].as_object().unwrap();
            let windows = ours["windows"].as_array().unwrap();
            let names: Vec<&str> = windows
                .iter()
                .map(|w| w["window"].as_str().unwrap())
                .collect();
            let their_names: Vec<&str> = theirs.keys().map(String::as_str).collect();
            assert_eq!(names, their_names, "{file} {window}: the windows");
            for w in windows {
                let name = w["window"].as_str().unwrap();
                for (metric, want) in theirs[name].as_object().unwrap() {
                    let got = w["metrics"][metric]
                        .as_f64()
                        .unwrap_or_else(|| panic!("{file} {name} {metric}: {w}"));
                    let want = want.as_f64().unwrap();
                    assert!(
                        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                        "{file} {window} {name} {metric}: mlci {got} vs scikit-learn {want}"
                    );
                }
            }
        }
    }
    // The year's end: ISO week 53 of 2026, then 2027's first week.
    let run = monitor(dir.path(), &["reg.parquet", "--window", "week", "--json"]).ok();
    assert!(
        run.stdout.contains("\"2026-W53\"") && run.stdout.contains("\"2027-W01\""),
        "{}",
        run.stdout
    );
}

#[test]
fn windows_are_checked_against_a_reference_revision() {
    let dir = tempfile::tempdir().unwrap();
    oracle(dir.path());
    let r = TestRepo::new();
    std::fs::copy(dir.path().join("cls.csv"), r.path("predictions.csv")).unwrap();
    r.write("mlci.yaml", "metrics:\n  - metrics.json\n");
    r.write("metrics.json", "{\"accuracy\": 0.9, \"f1\": 0.9}\n");
    r.commit_all("model v1");
    let run = r
        .mlci(&[
            "monitor",
            "predictions.csv",
            "--reference",
            "HEAD",
            "--json",
        ])
        .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["reference"],
        serde_json::json!({"accuracy": 0.9, "f1": 0.9})
    );
    // `--md`: the table, and each checked metric drawn per window against
    // its reference and the limit its check allows.
    let md = r
        .mlci(&["monitor", "predictions.csv", "--reference", "HEAD", "--md"])
        .ok();
    assert!(md.stdout.contains("lowest allowed (0.72)"), "{}", md.stdout);
    crate::common::pin_output(&md.stdout);
    let windows = v["windows"].as_array().unwrap();
    // The planted degradation fails the later windows (beyond ±20 %).
    let failed: Vec<&Value> = windows.iter().filter(|w| w["passed"] == false).collect();
    assert!(!failed.is_empty() && windows[1]["passed"] == true, "{v}");
    for w in &failed {
        let bad = w["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["passed"] == false)
            .unwrap();
        let (value, reference) = (
            bad["value"].as_f64().unwrap(),
            bad["reference"].as_f64().unwrap(),
        );
        assert!((value - reference).abs() > 0.2 * reference, "{bad}");
    }
    assert_eq!(
        r.mlci(&["monitor", "predictions.csv", "--reference", "HEAD"])
            .code,
        0,
        "no --check: exit 0"
    );
    let check = r.mlci(&[
        "monitor",
        "predictions.csv",
        "--reference",
        "HEAD",
        "--check",
    ]);
    assert_eq!(check.code, 1, "{check:?}");
    // The metrics recorded at the registry's version in a stage.
    r.write("dvc.yaml", "artifacts:\n  churn:\n    path: metrics.json\n");
    r.commit_all("declare");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    r.write("metrics.json", "{\"accuracy\": 0.5}\n");
    r.commit_all("a later, worse model");
    let run = r
        .mlci(&[
            "monitor",
            "predictions.csv",
            "--reference",
            "churn#prod",
            "--json",
        ])
        .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["reference"]["accuracy"], 0.9,
        "the version in prod, not HEAD: {v}"
    );
    // Prediction drift against a reference log.
    let run = r
        .mlci(&[
            "monitor",
            "predictions.csv",
            "--reference-log",
            "predictions.csv",
            "--json",
        ])
        .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["windows"][1]["prediction_drift"]["method"], "z", "{v}");
}

#[test]
fn bad_logs_are_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("nolabel.csv"),
        "timestamp,prediction\n2026-01-01T00:00:00Z,1\n",
    )
    .unwrap();
    std::fs::write(
        p.join("badtime.csv"),
        "timestamp,prediction,target\nyesterday,1,1\n",
    )
    .unwrap();
    std::fs::write(p.join("empty.csv"), "timestamp,prediction,target\n").unwrap();
    std::fs::write(p.join("log.txt"), "x").unwrap();
    // Epoch seconds that are no time (they would land in 1970).
    std::fs::write(
        p.join("nantime.csv"),
        "timestamp,prediction,target\n1767225600,1,1\nnan,1,1\n",
    )
    .unwrap();
    // Labels not arrived yet: every target empty.
    std::fs::write(
        p.join("nolabels.csv"),
        "timestamp,prediction,target\n2026-01-01T00:00:00Z,1,\n2026-01-02T00:00:00Z,0,\n",
    )
    .unwrap();
    for (file, says) in [
        ("nolabel.csv", "nolabel.csv: has no column `target`"),
        (
            "badtime.csv",
            "badtime.csv: row 1: `yesterday` in column `timestamp` is not a time",
        ),
        ("empty.csv", "empty.csv: the table has no rows"),
        ("log.txt", "log.txt: `txt` is not a format mlci reads"),
        ("missing.csv", "missing.csv"),
        (
            "nantime.csv",
            "nantime.csv: row 2: `nan` in column `timestamp` is not a time",
        ),
        (
            "nolabels.csv",
            "nolabels.csv: none of its 2 row(s) has a timestamp, a prediction and a `target` together",
        ),
    ] {
        let run = monitor(p, &[file]).user_error();
        assert!(run.stderr.contains(says), "{file}: {}", run.stderr);
    }
    let run = monitor(p, &["nolabel.csv", "--window", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// A `monitor:` log in mlci.yaml: `mlci gate` and `mlci ci` check its
/// latest window against the reference, like metric gates.
#[test]
fn the_monitor_section_gates_the_latest_window() {
    let dir = tempfile::tempdir().unwrap();
    oracle(dir.path());
    let r = TestRepo::new();
    std::fs::copy(dir.path().join("cls.csv"), r.path("predictions.csv")).unwrap();
    r.write("metrics.json", "{\"accuracy\": 0.9, \"f1\": 0.9}\n");
    r.write(
        "mlci.yaml",
        "metrics:\n  - metrics.json\nmonitor:\n  log: predictions.csv\n  reference: HEAD\n",
    );
    r.commit_all("model v1");
    // The planted degradation: the latest day is worse than ±20 %.
    let run = r.mlci(&["gate"]);
    assert_eq!(run.code, 1, "{run:?}");
    insta::assert_snapshot!(run.stdout, @r"
        FAIL monitor:predictions.csv:accuracy  accuracy (2026-04-10) at most 20% below the reference  (0.5): is 0.5000 against 0.9
        FAIL monitor:predictions.csv:f1  f1 (2026-04-10) at most 20% below the reference  (0.666667): is 0.6667 against 0.9
    ");
    let ci = r.mlci(&["ci", "--no-pull", "--no-push"]);
    assert_eq!(ci.code, 1, "{ci:?}");
    // The report draws every window's metric against the reference and
    // the limit its check allows.
    let report = r.mlci(&["report"]).ok();
    crate::common::pin_output(&report.stdout);
    // A model far better than its reference passes: accuracy is judged
    // the worse way only (Evidently's two-sided ±20 % would fail it).
    r.write("metrics.json", "{\"accuracy\": 0.3}\n");
    r.commit_all("weaker reference");
    let run = r.mlci(&["gate"]).ok();
    crate::common::pin_output(&run.stdout);
    r.write(
        "mlci.yaml",
        "monitor:\n  log: ../outside.csv\n  reference: HEAD\n",
    );
    let run = r.mlci(&["gate"]).user_error();
    assert!(run.stderr.contains("monitor.log"), "{}", run.stderr);
}

/// R² of a one-row window is undefined (scikit-learn: nan, "not
/// well-defined with less than two samples"): null, never a made-up 0.
#[test]
fn r2_of_a_one_row_window_is_undefined_as_in_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("reg.csv"),
        "timestamp,prediction,target\n2026-11-01T01:00:00Z,1.0,1.5\n2026-11-01T02:00:00Z,2.0,2.5\n2026-11-01T03:00:00Z,3.0,3.0\n2026-11-02T01:00:00Z,3.1,3.0\n",
    )
    .unwrap();
    let out = Command::new(env_from_test_script("MLCI_TEST_ORACLE_PYTHON"))
        .args([
            "-c",
            "import math; from sklearn.metrics import r2_score; print(math.isnan(r2_score([3.0], [3.1])), r2_score([1.5, 2.5, 3.0], [1.0, 2.0, 3.0]))",
        ])
        .output()
        .unwrap();
    let sk = String::from_utf8_lossy(&out.stdout);
    let (nan, r2) = sk.trim().split_once(' ').expect("scikit-learn's answer");
    assert_eq!(nan, "True", "{sk}");
    let run = monitor(
        dir.path(),
        &[
            "reg.csv",
            "--task",
            "regression",
            "--window",
            "day",
            "--json",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let windows = v["windows"].as_array().unwrap();
    let day1 = windows[0]["metrics"]["r2"].as_f64().unwrap();
    assert!((day1 - r2.parse::<f64>().unwrap()).abs() < 1e-12, "{v}");
    assert_eq!(windows[1]["metrics"]["r2"], Value::Null, "{v}");
    assert_eq!(
        windows[1]["undefined"]["r2"], "R² is not well-defined with fewer than two rows",
        "{v}"
    );
}

/// The newest days' labels have not arrived: those windows are listed as
/// "no labels yet" (their predictions counted), nothing judged in them.
#[test]
fn windows_whose_labels_have_not_arrived_say_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("log.csv"),
        "timestamp,prediction,target\n2026-11-01T01:00:00Z,1,1\n2026-11-01T02:00:00Z,0,1\n2026-11-02T01:00:00Z,1,\n2026-11-02T02:00:00Z,0,\n2026-11-02T03:00:00Z,1,\n",
    )
    .unwrap();
    let run = monitor(dir.path(), &["log.csv", "--json"]).ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let w = v["windows"].as_array().unwrap();
    assert_eq!(w.len(), 2, "{v}");
    assert_eq!(w[1]["window"], "2026-11-02");
    assert_eq!(w[1]["rows"], 0);
    assert_eq!(w[1]["metrics"]["accuracy"], Value::Null);
    assert_eq!(
        w[1]["undefined"]["accuracy"],
        "no labels yet (3 unlabelled row(s))"
    );
    let text = monitor(dir.path(), &["log.csv"]).ok();
    crate::common::pin_output(&text.stdout);
    assert!(
        text.stderr.contains("3 rows of log.csv lack"),
        "{}",
        text.stderr
    );
}
