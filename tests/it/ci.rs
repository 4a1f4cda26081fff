//! `mlci ci`: locally, and with a GitHub Actions environment (event
//! payload, job summary, outputs, annotations) built from GitHub's
//! documented variables.

use crate::common::{mlci_cmd, TestRepo};

const PIPELINE: &str = "\
stages:
  train:
    cmd: cp src.json metrics.json
    deps: [src.json]
    metrics:
      - metrics.json: {cache: false}
gates:
  - metric: acc
    min: 0.8
";

pub fn repo_on_a_branch() -> (TestRepo, String, String) {
    let repo = TestRepo::new();
    repo.write("mlci.yaml", PIPELINE);
    repo.write("src.json", r#"{"acc": 0.85}"#);
    repo.mlci(&["repro"]).ok();
    repo.commit_all("main");
    let base = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("src.json", r#"{"acc": 0.7}"#);
    repo.commit_all("worse model inputs");
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    (repo, base, head)
}

#[test]
fn locally_ci_reruns_reports_and_exits_with_the_verdict() {
    let (repo, _, _) = repo_on_a_branch();
    let run = repo.mlci(&["ci"]);
    assert_eq!(run.code, 1, "a failing gate exits 1\n{}", run.stderr);
    assert!(
        run.stderr
            .contains("no remote configured: pull and push skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .starts_with("❌ **1 of 1 gate rule failed: `acc >= 0.8` (is 0.7)."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("<details><summary>1 stage in this run</summary>"),
        "{}",
        run.stdout
    );
    crate::common::pin_output(&run.stdout);
    assert!(repo.read(".mlci/tmp/report.md").starts_with("❌"));
    // Fixed inputs: the gate passes and the job exits 0.
    repo.write("src.json", r#"{"acc": 0.9}"#);
    let run = repo.mlci(&["ci"]).ok();
    assert!(
        run.stdout.starts_with("✅ **All 1 gate rule passed."),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_stage_exits_2_and_the_report_is_still_published() {
    let (repo, _, _) = repo_on_a_branch();
    repo.write(
        "mlci.yaml",
        PIPELINE.replace("cp src.json metrics.json", "exit 4"),
    );
    let run = repo.mlci(&["ci"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("stage `train` failed"),
        "{}",
        run.stderr
    );
    crate::common::pin_output(&run.stdout);
}

#[test]
fn in_github_actions_a_pull_request_is_compared_with_its_merge_base_and_published() {
    let (repo, base, head) = repo_on_a_branch();
    // main moved on after the branch: the merge-base, not main's tip, is the base.
    repo.git(&["checkout", "-q", "main"]);
    repo.write("src.json", r#"{"acc": 0.99}"#);
    repo.mlci(&["repro"]).ok();
    repo.commit_all("main moves on");
    let main_tip = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["checkout", "-q", "feature"]);
    repo.mlci(&["checkout", "--force"]).ok();
    let dir = tempfile::tempdir().unwrap();
    // The fields mlci reads, shaped as in GitHub's pull_request webhook payload.
    let payload = serde_json::json!({
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": head, "ref": "feature"},
            "base": {"sha": main_tip, "ref": "main"}
        },
        "repository": {"full_name": "acme/models"}
    });
    let event = dir.path().join("event.json");
    std::fs::write(&event, payload.to_string()).unwrap();
    let (summary, output) = (dir.path().join("summary.md"), dir.path().join("output.txt"));
    let out = mlci_cmd(&repo.root)
        .arg("ci")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", dir.path())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/models")
        .env("GITHUB_RUN_ID", "42")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "comparing with the pull request's base ({})",
            &base[..8]
        )),
        "{stderr}"
    );
    crate::common::pin_output(&stdout);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("❌ **1 of 1 gate rule failed"),
        "{summary}"
    );
    let output = std::fs::read_to_string(&output).unwrap();
    assert!(output.contains("passed=false\n"), "{output}");
    assert!(
        output.contains(&format!(
            "report-path={}\n",
            dir.path().join("mlci-report.md").display()
        )),
        "{output}"
    );
    assert!(dir.path().join("mlci-report.md").exists());
}

#[test]
fn a_base_missing_from_a_shallow_clone_exits_2_with_a_fetch_depth_hint() {
    let (repo, _, head) = repo_on_a_branch();
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    let payload = serde_json::json!({"pull_request": {"head": {"sha": head}, "base": {"sha": "1234567890123456789012345678901234567890"}}});
    std::fs::write(&event, payload.to_string()).unwrap();
    let out = mlci_cmd(&repo.root)
        .arg("ci")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not in this clone"), "{stderr}");
    assert!(
        stderr.contains("hint: check out with `fetch-depth: 0`"),
        "{stderr}"
    );
}

#[test]
fn a_shallow_clone_fetches_the_history_the_merge_base_needs() {
    let (origin, base, head) = repo_on_a_branch();
    let parent = tempfile::tempdir().unwrap();
    let clone = parent.path().join("clone");
    let url = format!("file://{}", origin.root.display());
    crate::common::git_clone(&url, &clone, &["--depth", "1", "--branch", "feature"]);
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    let payload = serde_json::json!({"pull_request": {"number": 3, "head": {"sha": head}, "base": {"sha": base}}});
    std::fs::write(&event, payload.to_string()).unwrap();
    let out = mlci_cmd(&clone)
        .arg("ci")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the gate decides, not the shallow clone: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "comparing with the pull request's base ({})",
            &base[..8]
        )),
        "{stderr}"
    );
}

/// A CI run's environment for one event, with no token (nothing is posted).
fn ci_in_actions(repo: &TestRepo, event: &str, payload: serde_json::Value) -> crate::common::Run {
    let dir = repo.root.parent().unwrap().join("runner");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("event.json");
    std::fs::write(&path, payload.to_string()).unwrap();
    repo.mlci_env(
        &["ci"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_EVENT_PATH", path.to_str().unwrap()),
            ("RUNNER_TEMP", dir.to_str().unwrap()),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_RUN_ID", "42"),
        ],
    )
}

/// Filters for a CI run's output: the fence tokens are random.
fn ci_filters(repo: &TestRepo) -> Vec<(String, String)> {
    let mut f = repo.filters();
    f.push(("[0-9a-f]{32}".into(), "[TOKEN]".into()));
    f.push(("\\([0-9a-f]{8}\\)".into(), "([SHORT])".into()));
    f
}

#[test]
fn the_ci_report_of_a_pull_request_names_its_base_branch() {
    let (repo, base, head) = repo_on_a_branch();
    let payload = serde_json::json!({
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": head}, "base": {"sha": base, "ref": "main"}}
    });
    let run = ci_in_actions(&repo, "pull_request", payload);
    let filters = ci_filters(&repo);
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!(format!("exit: {}\n--- stdout\n{}", run.code, run.stdout), @r#"
            exit: 1
            --- stdout
            ::stop-commands::[TOKEN]
            ::[TOKEN]::
            ::stop-commands::[TOKEN]
            ❌ **1 of 1 gate rule failed: `acc >= 0.8` (is 0.7). 1 metric changed (0 better, 1 worse), 1 stage reran**

            Comparing `workspace` with `main` (`[SHORT]`).

            ⚠️ **Committed results are stale.** This run recomputed `metrics.json`, `mlci.lock`: the pull request commits results its code did not produce. Refresh them and commit:

            ```
            mlci repro && git add metrics.json mlci.lock && git commit -m "Refresh results"
            ```

            ### Gates

            | | Metric | Rule | Value | Note |
            |---|---|---|---:|---|
            | ❌ | metrics.json:acc | acc >= 0.8 | 0.7 | is 0.7 |

            ### Metrics

            | Path | Metric | main | workspace | Change |
            |---|---|---:|---:|---|
            | metrics.json | acc | 0.85 | 0.7 | 🔴 ▼ -0.15 (-17.65%) |

            <details><summary>1 stage in this run</summary>

            - **train**: dep `src.json` changed (93d03833 → 07bcee3c)

            </details>

            [Workflow run](https://github.com/acme/models/actions/runs/42)
            ::[TOKEN]::
            ::error file=metrics.json,title=mlci gate::gate failed: acc >= 0.8 (is 0.7)
        "#);
    });
}

#[test]
fn the_ci_report_of_a_push_names_the_previous_head() {
    let (repo, base, head) = repo_on_a_branch();
    let run = ci_in_actions(
        &repo,
        "push",
        serde_json::json!({"before": base, "after": head}),
    );
    let filters = ci_filters(&repo);
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!(format!("exit: {}\n--- stdout\n{}", run.code, run.stdout), @r#"
            exit: 1
            --- stdout
            ::stop-commands::[TOKEN]
            ::[TOKEN]::
            ::stop-commands::[TOKEN]
            ❌ **1 of 1 gate rule failed: `acc >= 0.8` (is 0.7). 1 metric changed (0 better, 1 worse), 1 stage reran**

            Comparing `workspace` with `previous head` (`[SHORT]`).

            ⚠️ **Committed results are stale.** This run recomputed `metrics.json`, `mlci.lock`: the pull request commits results its code did not produce. Refresh them and commit:

            ```
            mlci repro && git add metrics.json mlci.lock && git commit -m "Refresh results"
            ```

            ### Gates

            | | Metric | Rule | Value | Note |
            |---|---|---|---:|---|
            | ❌ | metrics.json:acc | acc >= 0.8 | 0.7 | is 0.7 |

            ### Metrics

            | Path | Metric | previous head | workspace | Change |
            |---|---|---:|---:|---|
            | metrics.json | acc | 0.85 | 0.7 | 🔴 ▼ -0.15 (-17.65%) |

            <details><summary>1 stage in this run</summary>

            - **train**: dep `src.json` changed (93d03833 → 07bcee3c)

            </details>

            [Workflow run](https://github.com/acme/models/actions/runs/42)
            ::[TOKEN]::
            ::error file=metrics.json,title=mlci gate::gate failed: acc >= 0.8 (is 0.7)
        "#);
    });
}

/// Every GitHub surface within its limit: a report over 1 MiB is cut in the
/// job summary (GitHub drops a larger step summary whole) with a note
/// saying where the rest is; failed gates beyond GitHub's 10 error
/// annotations are counted in one more.
#[test]
fn the_job_summary_and_annotations_stay_within_githubs_limits() {
    let repo = TestRepo::new();
    let many = |v: f64| {
        let m: serde_json::Map<String, serde_json::Value> = (0..12_000)
            .map(|i| {
                (
                    format!("class_{i:05}"),
                    serde_json::json!({"f1": v, "recall": v}),
                )
            })
            .collect();
        serde_json::Value::Object(m).to_string()
    };
    let gates: String = (0..12)
        .map(|i| format!("  - metric: metrics.json:class_{i:05}.f1\n    min: 0.9\n"))
        .collect();
    repo.write(
        "mlci.yaml",
        format!("metrics: [metrics.json]\ngates:\n{gates}"),
    );
    repo.write("metrics.json", many(0.5));
    repo.commit_all("base");
    repo.write("metrics.json", many(0.51));
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step text\n").unwrap();
    let out = mlci_cmd(&repo.root)
        .args(["ci", "--base", "HEAD"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", dir.path().join("output.txt"))
        .env("RUNNER_TEMP", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.len() <= 1024 * 1024, "{} bytes", written.len());
    assert!(written.starts_with("earlier step text\n"));
    assert!(
        written.ends_with("the full report is in this step's log and in the report file (`report-path` output).*\n"),
        "{}",
        &written[written.len() - 300..]
    );
    // The log and the report file have all of it.
    assert!(stdout.contains("class_11999"));
    let report = std::fs::read_to_string(dir.path().join("mlci-report.md")).unwrap();
    assert!(report.len() > 1024 * 1024 && report.contains("class_11999"));
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 10, "{annotations:?}");
    assert!(
        annotations[9].contains("3 more gate rules failed"),
        "{annotations:?}"
    );
}
