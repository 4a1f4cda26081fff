//! `mlci plots show/diff --json` against `dvc plots show/diff --json` (DVC
//! 3 from PyPI, the oracle): the same history in two repositories, plots of
//! every shape DVC's converter handles (x and y fields, y inferred from the
//! last column, no x, one y field over several files, several fields over
//! several files, x from another file, nested JSON and YAML documents,
//! CSV, TSV), at the workspace, one commit against the workspace, two
//! commits, and DVC's default revisions; the plot ids, types, revisions
//! and every datapoint must be DVC's.

use serde_json::Value;

use crate::dvc_oracle::{dvc, Pair};

const DVC_YAML: &str = "plots:
  - logs/loss.csv:
      x: step
      y: loss
  - logs/acc.tsv
  - cm:
      template: confusion
      x: actual
      y:
        eval/preds.json: predicted
  - runs:
      x: epoch
      y:
        runs/a/m.csv: auc
        runs/b/m.csv: auc
  - mixed:
      y:
        runs/a/m.csv: [auc, loss]
        runs/b/m.csv: loss
  - paired:
      template: confusion
      x:
        eval/actual.csv: actual
      y:
        eval/pred.csv: predicted
  - nested.yaml:
      x: t
      y: v
  - roc:
      template: simple
      x: fpr
      y:
        eval/roc.json: tpr
";

fn files(v: u32) -> Vec<(String, String)> {
    let f = |x: f64| format!("{x}");
    let mut out = vec![
        (
            "logs/loss.csv".to_string(),
            (0..3 + v)
                .map(|i| format!("{i},{}\n", f(1.0 / (i + v) as f64)))
                .fold("step,loss\n".to_string(), |a, l| a + &l),
        ),
        (
            "logs/acc.tsv".into(),
            (0..2 + v)
                .map(|i| format!("{i}\t{}\n", f(0.5 + 0.1 * i as f64 + 0.01 * v as f64)))
                .fold("epoch\tacc\n".to_string(), |a, l| a + &l),
        ),
        (
            "eval/preds.json".into(),
            format!(
                r#"{{"rows": [{{"actual": "cat", "predicted": "cat"}}, {{"actual": "dog", "predicted": "{}"}}]}}"#,
                if v.is_multiple_of(2) { "dog" } else { "cat" }
            ),
        ),
        ("eval/actual.csv".into(), "actual\ncat\ndog\ndog\n".into()),
        (
            "eval/pred.csv".into(),
            format!(
                "predicted\ncat\n{}\ndog\n",
                if v > 1 { "dog" } else { "cat" }
            ),
        ),
        (
            "nested.yaml".into(),
            format!("series:\n  - {{t: 1, v: {v}}}\n  - {{t: 2, v: 0.5}}\n"),
        ),
        (
            "eval/roc.json".into(),
            format!(
                r#"{{"roc": [{{"fpr": 0, "tpr": 0, "threshold": 1.0}}, {{"fpr": 0.{v}, "tpr": 0.9, "threshold": 0.5}}]}}"#
            ),
        ),
    ];
    for (run, bias) in [("a", 0.0), ("b", 0.05)] {
        out.push((
            format!("runs/{run}/m.csv"),
            (0..2 + v)
                .map(|i| {
                    format!(
                        "{i},{},{}\n",
                        f(0.7 + bias + 0.01 * i as f64),
                        f(1.0 - bias)
                    )
                })
                .fold("epoch,auc,loss\n".to_string(), |a, l| a + &l),
        ));
    }
    out
}

fn write_all(p: &Pair, v: u32) {
    for (path, text) in files(v) {
        p.mlci.write(&path, &text);
        p.dvc.write(&path, &text);
    }
}

/// (ids, then per id: type, revisions, datapoints) of a plots document.
/// Per plot id: (type, revisions, datapoints) of each entry.
type Essence = Vec<(String, Vec<(Value, Value, Value)>)>;

fn essence(doc: &Value) -> Essence {
    doc["data"]
        .as_object()
        .unwrap_or_else(|| panic!("no data: {doc}"))
        .iter()
        .map(|(id, list)| {
            let entries = list
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["type"].clone(),
                        e["revisions"].clone(),
                        e["content"]["data"]["values"].clone(),
                    )
                })
                .collect();
            (id.clone(), entries)
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

#[test]
fn plot_data_is_dvcs() {
    let p = Pair::unrun(&[("dvc.yaml", DVC_YAML)]);
    write_all(&p, 1);
    p.mlci.commit_all("one");
    p.dvc.commit_all("one");
    write_all(&p, 2);
    p.mlci.commit_all("two");
    p.dvc.commit_all("two");
    write_all(&p, 3);
    let cases: [&[&str]; 6] = [
        &["show"],
        &["show", "cm", "roc"],
        &["diff"],
        &["diff", "HEAD~1"],
        &["diff", "HEAD~1", "HEAD"],
        &["diff", "HEAD", "HEAD~1", "workspace"],
    ];
    for args in cases {
        let mut m = vec!["plots"];
        m.extend(args);
        m.push("--json");
        let mine: Value = serde_json::from_str(&p.mlci.mlci(&m).ok().stdout).unwrap();
        let theirs: Value = serde_json::from_str(&dvc(&p.dvc_exe, &p.dvc, &m)).unwrap();
        let (a, b) = (essence(&mine), essence(&theirs));
        let named = args.len() > 1 && args[0] == "show";
        assert_eq!(a.len(), if named { 2 } else { 8 }, "{args:?}");
        assert_eq!(a, b, "{args:?}");
    }
    // The pages: every plot as an inline picture, nothing fetched.
    for (args, revisions) in [
        (&["show", "-o", "show.html"][..], "workspace"),
        (
            &["diff", "HEAD~1", "HEAD", "-o", "diff.html"][..],
            "HEAD~1 vs HEAD",
        ),
    ] {
        let mut m = vec!["plots"];
        m.extend(args);
        let run = p.mlci.mlci(&m).ok();
        assert!(
            run.stderr
                .contains(&format!("8 plots of {revisions} written to")),
            "{}",
            run.stderr
        );
        let page = p.mlci.read(args[args.len() - 1]);
        assert_eq!(page.matches("<svg ").count(), 8, "{page}");
        assert!(!page.contains("<script"), "{page}");
    }
    // DVC's default revisions: a clean tree shows the workspace alone.
    for (path, _) in files(3) {
        p.mlci.git(&["add", &path]);
    }
    p.mlci.commit_all("three");
    let clean: Value =
        serde_json::from_str(&p.mlci.mlci(&["plots", "diff", "--json"]).ok().stdout).unwrap();
    assert_eq!(
        clean["data"]["roc"][0]["revisions"],
        serde_json::json!(["workspace"])
    );
}

/// A target that names no plot is an error with a hint.
#[test]
fn an_unknown_plot_target_is_an_error() {
    let r = crate::common::TestRepo::new();
    r.write("dvc.yaml", "plots:\n  - loss.csv\n");
    r.write("loss.csv", "step,loss\n0,1\n");
    r.mlci(&["plots", "show", "nope.csv"]).user_error();
}

/// With `--plots-dir` the report names each plot's picture; with
/// `--plots-url` (where a workflow publishes that directory) it shows each
/// as an image from there, above its chart. A URL that could break out
/// of the Markdown link is refused.
#[test]
fn the_report_links_its_pictures() {
    let r = crate::common::TestRepo::new();
    r.write(
        "mlci.yaml",
        "plots:\n  - loss.csv:\n      x: step\n      y: loss\n",
    );
    r.write("loss.csv", "step,loss\n0,1\n1,0.5\n");
    r.commit_all("base");
    r.write("loss.csv", "step,loss\n0,1\n1,0.4\n2,0.3\n");
    let plots = |text: &str| text.split("plot</summary>").nth(1).unwrap().to_string();
    let named = r
        .mlci(&["report", "--base", "HEAD", "--plots-dir", "svg"])
        .ok()
        .stdout;
    assert!(r.exists("svg/loss_csv.svg"));
    let shown = r
        .mlci(&[
            "report",
            "--base",
            "HEAD",
            "--plots-dir",
            "svg",
            "--plots-url",
            "https://example.test/plots/pr-7",
        ])
        .ok()
        .stdout;
    crate::common::pin_output(&format!("{}\n---\n{}", plots(&named), plots(&shown)));
    r.mlci(&[
        "report",
        "--plots-dir",
        "svg",
        "--plots-url",
        "https://example.test/a)<b>",
    ])
    .user_error();
}
