//! The pull-request signal never lies: a failed stage reads as failed on
//! every surface (report, summary, outputs, `result.json`), committed
//! results a run recomputed are named with the commands that refresh them,
//! and a metric that should go down reads as better when it does. Every
//! surface gives the verdict `mlci gate` gives on the same run.

use std::path::Path;

use crate::common::{mlci_cmd, TestRepo};

/// A pull request's `mlci ci` in a GitHub Actions environment (no token:
/// nothing is posted); returns the exit code and the runner's directory
/// (report, summary, outputs, the artifact's `result.json`).
fn ci_in_actions(repo: &TestRepo, args: &[&str]) -> (i32, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let base = repo.git(&["rev-parse", "main"]).trim().to_string();
    let payload = serde_json::json!({
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": "acme/models"}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "acme/models"}}
        },
        "repository": {"full_name": "acme/models"}
    });
    let event = dir.path().join("event.json");
    std::fs::write(&event, payload.to_string()).unwrap();
    let out = mlci_cmd(&repo.root)
        .arg("ci")
        .args(args)
        .args([
            "--artifact-dir",
            dir.path().join("artifact").to_str().unwrap(),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary.md"))
        .env("GITHUB_OUTPUT", dir.path().join("output.txt"))
        .env("RUNNER_TEMP", dir.path())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/models")
        .env("GITHUB_RUN_ID", "42")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), dir)
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The report with the revisions' hashes replaced.
fn report(repo: &TestRepo, dir: &Path) -> String {
    let mut text = read(dir, "mlci-report.md");
    for (from, to) in repo.filters() {
        text = regex::Regex::new(&from)
            .unwrap()
            .replace_all(&text, to.as_str())
            .into_owned();
    }
    text
}

/// `mlci gate --json`'s verdict on the same workspace: whether every rule
/// passed.
fn gate_passes(repo: &TestRepo) -> bool {
    let run = repo.mlci(&["gate", "--json", "--base", "main"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    run.code == 0
}

const TWO_STAGES: &str = "\
stages:
  train:
    cmd: python3 train.py
    deps: [train.py, params.yaml]
    outs: [model.txt]
  evaluate:
    cmd: python3 evaluate.py
    deps: [model.txt, evaluate.py]
    metrics:
      - scores.json: {cache: false}
gates:
  - metric: accuracy
    min: 0.5
  - metric: loss
    max: 1.0
";

/// A base on main and a pull request on `feature` changing `params.yaml`
/// (and `train.py` when `train` is given), not reproduced by its author.
fn pull_request(train: Option<&str>) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("mlci.yaml", TWO_STAGES);
    repo.write("params.yaml", "epochs: 10\n");
    repo.write(
        "train.py",
        "e = int(open('params.yaml').read().split(':')[1])\nopen('model.txt', 'w').write(f'{e}\\n')\n",
    );
    repo.write(
        "evaluate.py",
        "import json\ne = int(open('model.txt').read())\njson.dump({'accuracy': 0.8 + e / 1000, 'loss': 0.5 - e / 100}, open('scores.json', 'w'))\n",
    );
    repo.mlci(&["repro"]).ok();
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("params.yaml", "epochs: 20\n");
    if let Some(t) = train {
        repo.write("train.py", t);
    }
    repo.commit_all("more epochs");
    repo
}

#[test]
fn a_failed_stage_reads_as_failed_on_every_surface() {
    let repo = pull_request(Some(
        "import sys\nsys.stderr.write('training diverged\\n')\nsys.exit(3)\n",
    ));
    let (code, dir) = ci_in_actions(&repo, &[]);
    assert_eq!(code, 2, "a failed stage is an error");
    let dir = dir.path();
    insta::assert_snapshot!(report(&repo, dir), @r"
        ❌ **Pipeline failed: stage `train`: `python3 train.py` exited with code 3. Gates not judged: the metrics are the committed ones, not this run's**

        Comparing `workspace` with `main` (`[SHORT]`).

        ### Gates (not judged: on the committed metrics)

        | | Metric | Rule | Value | Note |
        |---|---|---|---:|---|
        | — | scores.json:accuracy | accuracy >= 0.5 | 0.81 |  |
        | — | scores.json:loss | loss &lt;= 1 | 0.4 |  |

        ### Metrics

        | Path | Metric | main | workspace | Change |
        |---|---|---:|---:|---|
        | scores.json | accuracy | 0.81 | 0.81 | 0 (0%) _committed, not recomputed_ |
        | scores.json | loss | 0.4 | 0.4 | 0 (0%) _committed, not recomputed_ |

        ### Data changes

        files summary: 1 deleted

        | | Path |
        |---|---|
        | deleted | model.txt |

        <details><summary>1 param changed</summary>

        | Path | Param | main | workspace | Change |
        |---|---|---:|---:|---|
        | params.yaml | epochs | 10 | 20 | ▲ +10 (+100%) |

        </details>

        <details><summary>2 stages in this run</summary>

        - **train** (failed): dep `train.py` changed (e99b76de → bcc1fb43); dep `params.yaml` changed (054a5d75 → 4869844e); `python3 train.py` exited with code 3
        - **evaluate** (skipped): not run: the run stopped at the first failure

        </details>

        [Workflow run](https://github.com/acme/models/actions/runs/42)
    ");
    let summary = read(dir, "summary.md");
    assert!(
        summary.starts_with("❌ **Pipeline failed: stage `train`"),
        "{summary}"
    );
    let output = read(dir, "output.txt");
    assert!(output.contains("passed=false\n"), "{output}");
    let record: serde_json::Value =
        serde_json::from_str(&read(dir, "artifact/result.json")).unwrap();
    assert_eq!(record["passed"], false);
    assert_eq!(record["error"], true);
    assert_eq!(
        record["pipeline"],
        serde_json::json!({"state": "failed", "stage": "train", "why": "`python3 train.py` exited with code 3"})
    );
    // The gates alone would pass on the committed metrics: no surface
    // says so.
    assert!(gate_passes(&repo));
}

#[test]
fn a_run_that_made_committed_results_stale_names_them_and_can_fail_on_them() {
    let repo = pull_request(None);
    let (code, dir) = ci_in_actions(&repo, &[]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(report(&repo, dir.path()), @r#"
        ✅ **All 2 gate rules passed. 2 metrics changed (2 better, 0 worse), 1 param changed, 2 stages reran**

        Comparing `workspace` with `main` (`[SHORT]`).

        ⚠️ **Committed results are stale.** This run recomputed `mlci.lock`, `scores.json`: the pull request commits results its code did not produce. Refresh them and commit:

        ```
        mlci repro && git add mlci.lock scores.json && git commit -m "Refresh results"
        ```

        ### Gates

        | | Metric | Rule | Value | Note |
        |---|---|---|---:|---|
        | ✅ | scores.json:accuracy | accuracy >= 0.5 | 0.8200000000000001 |  |
        | ✅ | scores.json:loss | loss &lt;= 1 | 0.3 |  |

        ### Metrics

        | Path | Metric | main | workspace | Change |
        |---|---|---:|---:|---|
        | scores.json | accuracy | 0.81 | 0.82 | 🟢 ▲ +0.01 (+1.23%) |
        | scores.json | loss | 0.4 | 0.3 | 🟢 ▼ -0.1 (-25%) |

        ### Data changes

        files summary: 1 modified

        | | Path |
        |---|---|
        | modified | model.txt |

        <details><summary>1 param changed</summary>

        | Path | Param | main | workspace | Change |
        |---|---|---:|---:|---|
        | params.yaml | epochs | 10 | 20 | ▲ +10 (+100%) |

        </details>

        <details><summary>2 stages in this run</summary>

        - **train**: dep `params.yaml` changed (054a5d75 → 4869844e)
        - **evaluate**: dep `model.txt` changed (917df332 → 53787963)

        </details>

        [Workflow run](https://github.com/acme/models/actions/runs/42)
    "#);
    let record: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "artifact/result.json")).unwrap();
    assert_eq!(
        record["stale"],
        serde_json::json!(["mlci.lock", "scores.json"])
    );
    assert_eq!(record["passed"], true);
    assert!(gate_passes(&repo));
    // --require-fresh: the same run fails the check.
    repo.git(&["checkout", "-q", "--", "."]);
    let (code, dir) = ci_in_actions(&repo, &["--require-fresh"]);
    assert_eq!(code, 1);
    let summary = read(dir.path(), "summary.md");
    assert!(
        summary.starts_with("❌ **Committed results are stale: `mlci.lock`, `scores.json`."),
        "{summary}"
    );
    assert!(read(dir.path(), "output.txt").contains("passed=false\n"));
    // Reproduced and committed by its author: nothing is stale.
    repo.mlci(&["repro"]).ok();
    repo.commit_all("reproduced");
    let (code, dir) = ci_in_actions(&repo, &["--require-fresh"]);
    assert_eq!(code, 0);
    assert!(!read(dir.path(), "mlci-report.md").contains("stale"));
}

#[test]
fn a_metric_that_should_go_down_reads_better_when_it_does() {
    let repo = pull_request(None);
    repo.mlci(&["repro"]).ok();
    repo.commit_all("reproduced");
    let run = repo
        .mlci(&["metrics", "diff", "--base", "main", "--json"])
        .ok();
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let verdicts: Vec<(String, String, String)> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["direction"].to_string(),
                r["verdict"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("accuracy".into(), "\"max\"".into(), "\"better\"".into()),
            ("loss".into(), "\"min\"".into(), "\"better\"".into()),
        ]
    );
    // mlci.yaml decides over the name.
    repo.write(
        "mlci.yaml",
        format!("{TWO_STAGES}report:\n  direction:\n    loss: max\n"),
    );
    let run = repo
        .mlci(&["metrics", "diff", "--base", "main", "--json"])
        .ok();
    crate::common::pin_output(&run.stdout);
    repo.git(&["checkout", "-q", "--", "mlci.yaml"]);
    let (code, dir) = ci_in_actions(&repo, &[]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(report(&repo, dir.path()), @r"
        ✅ **All 2 gate rules passed. 2 metrics changed (2 better, 0 worse), 1 param changed**

        Comparing `workspace` with `main` (`[SHORT]`).

        ### Gates

        | | Metric | Rule | Value | Note |
        |---|---|---|---:|---|
        | ✅ | scores.json:accuracy | accuracy >= 0.5 | 0.8200000000000001 |  |
        | ✅ | scores.json:loss | loss &lt;= 1 | 0.3 |  |

        ### Metrics

        | Path | Metric | main | workspace | Change |
        |---|---|---:|---:|---|
        | scores.json | accuracy | 0.81 | 0.82 | 🟢 ▲ +0.01 (+1.23%) |
        | scores.json | loss | 0.4 | 0.3 | 🟢 ▼ -0.1 (-25%) |

        ### Data changes

        files summary: 1 modified

        | | Path |
        |---|---|
        | modified | model.txt |

        <details><summary>1 param changed</summary>

        | Path | Param | main | workspace | Change |
        |---|---|---:|---:|---|
        | params.yaml | epochs | 10 | 20 | ▲ +10 (+100%) |

        </details>

        [Workflow run](https://github.com/acme/models/actions/runs/42)
    ");
    // Every surface agrees with `mlci gate`.
    assert!(gate_passes(&repo));
    assert!(read(dir.path(), "output.txt").contains("passed=true\n"));
    let record: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "artifact/result.json")).unwrap();
    assert_eq!(record["passed"], true);
    let export = repo.mlci(&["metrics", "export"]).ok().stdout;
    let gate_lines: Vec<&str> = export
        .lines()
        .filter(|l| l.starts_with("mlci_gate_passed{"))
        .collect();
    assert_eq!(gate_lines.len(), 2, "{export}");
    assert!(gate_lines.iter().all(|l| l.ends_with(" 1")), "{export}");
}

/// The base keeps its label everywhere the report names it: in CI the
/// pull request's base branch, never the 40-hex merge-base, in the
/// heading and in every plot's legend.
#[test]
fn the_base_is_named_by_its_branch_in_the_heading_and_the_plots() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: python3 train.py\n    deps: [train.py]\n    plots:\n      - loss.csv: {cache: false, x: step, y: loss}\n",
    );
    repo.write(
        "train.py",
        "open('loss.csv', 'w').write('step,loss\\n1,0.9\\n2,0.5\\n3,0.3\\n')\n",
    );
    repo.mlci(&["repro"]).ok();
    repo.commit_all("base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write(
        "train.py",
        "open('loss.csv', 'w').write('step,loss\\n1,0.8\\n2,0.4\\n3,0.2\\n')\n",
    );
    repo.commit_all("faster");
    let (code, dir) = ci_in_actions(&repo, &[]);
    assert_eq!(code, 0);
    let text = read(dir.path(), "mlci-report.md");
    let base = repo.git(&["rev-parse", "main"]).trim().to_string();
    assert!(!text.contains(&base), "the raw base sha leaks: {text}");
    let plots = &text[text.find("plot").expect("a plots section")..];
    assert!(plots.contains("main"), "{plots}");
}
