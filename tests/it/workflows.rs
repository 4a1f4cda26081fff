//! The shipped workflows (`docs/workflows/`) run as a user copies them, on
//! the suite's runner (`runner.rs`), against a stateful fake of GitHub's
//! REST API and a real S3 remote (SeaweedFS) whose credentials arrive as
//! the workflows pass them, from `secrets`: a pull request gets one report
//! comment and a status that say the same as the job's conclusion, the
//! fork-safe pair hands its verdict over through the artifact, the default
//! branch and the merge queue push and gate, promotion registers and
//! promotes with the app's token, and a registry tag in a subdirectory
//! starts the deployment, which deploys the version the tag assigned and
//! is marked successful only by the deploy job.

use std::path::PathBuf;

use serde_json::{json, Value};
use wiremock::MockServer;

use crate::common::{env_from_test_script, unique, TestRepo};
use crate::fake_github::{FakeGitHub, State};
use crate::runner::{Runner, WORKFLOW_TOKEN};

const REPOSITORY: &str = "acme/churn";

/// A project on a bare `origin`: a training stage whose metric comes from
/// `src.json`, a gate `acc >= 0.8`, and an S3 remote whose endpoint is
/// committed and whose credentials only the workflows' secrets carry.
struct Project {
    repo: TestRepo,
    origin: PathBuf,
    _rt: tokio::runtime::Runtime,
    server: MockServer,
    github: FakeGitHub,
    s3: (String, String),
}

const PIPELINE: &str = "\
stages:
  train:
    cmd: cp src.json metrics.json && cp src.json model.pkl
    deps: [src.json]
    outs: [model.pkl]
    metrics:
      - metrics.json: {cache: false}
gates:
  - metric: acc
    min: 0.8
artifacts:
  churn:
    path: model.pkl
    type: model
";

impl Project {
    fn new() -> Project {
        Project::with(PIPELINE, &[])
    }

    /// A project with `pipeline` as mlci.yaml and more environment for
    /// its first run.
    fn with(pipeline: &str, first_run: &[(&str, &str)]) -> Project {
        let repo = TestRepo::new();
        let origin = repo.root.parent().unwrap().join("origin.git");
        crate::common::git_in(
            repo.root.parent().unwrap(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        let env = env_from_test_script;
        let s3 = (env("MLCI_TEST_S3_KEY"), env("MLCI_TEST_S3_SECRET"));
        repo.write("mlci.yaml", pipeline);
        repo.write("src.json", r#"{"acc": 0.85}"#);
        let url = format!("s3://{}/{}", env("MLCI_TEST_S3_BUCKET"), unique("wf"));
        repo.mlci(&["remote", "add", "-d", "store", &url]).ok();
        repo.mlci(&[
            "remote",
            "modify",
            "store",
            "endpoint",
            &env("MLCI_TEST_S3_ENDPOINT"),
        ])
        .ok();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        let github = FakeGitHub::new(REPOSITORY);
        github.mount(&rt, &server);
        let p = Project {
            repo,
            origin,
            _rt: rt,
            server,
            github,
            s3,
        };
        let keys = [
            ("AWS_ACCESS_KEY_ID", p.s3.0.as_str()),
            ("AWS_SECRET_ACCESS_KEY", p.s3.1.as_str()),
        ];
        let all: Vec<(&str, &str)> = keys.iter().chain(first_run).copied().collect();
        p.repo.mlci_env(&["repro"], &all).ok();
        p.with_keys(&["push"]).ok();
        p.repo.commit_all("first model");
        p.push("main");
        p
    }

    fn with_keys(&self, args: &[&str]) -> crate::common::Run {
        self.repo.mlci_env(
            args,
            &[
                ("AWS_ACCESS_KEY_ID", &self.s3.0),
                ("AWS_SECRET_ACCESS_KEY", &self.s3.1),
            ],
        )
    }

    fn push(&self, branch: &str) -> String {
        self.repo.git(&[
            "push",
            "-q",
            "-f",
            self.origin.to_str().unwrap(),
            &format!("HEAD:refs/heads/{branch}"),
        ]);
        self.repo.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn runner(&self) -> Runner {
        let mut r = Runner::new(&self.origin, &self.server.uri(), REPOSITORY);
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", &self.s3.0),
            ("AWS_SECRET_ACCESS_KEY", &self.s3.1),
            ("MLCI_APP_ID", &"1".to_string()),
            ("MLCI_APP_PRIVATE_KEY", &"key".to_string()),
        ] {
            r.secrets.insert(k.into(), v.clone());
        }
        r
    }

    /// `git ARGS` in the bare origin; its stdout.
    fn origin_git(&self, args: &[&str]) -> String {
        crate::common::git_bare(&self.origin, args)
    }

    fn state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.github.0.lock().unwrap())
    }

    /// A pull request from `feature` (with `src.json` as given) to main.
    fn pull_request(&self, src: &str) -> (Value, String, String) {
        let base = self.repo.git(&["rev-parse", "main"]).trim().to_string();
        self.repo.git(&["checkout", "-q", "-B", "feature", "main"]);
        self.repo.write("src.json", src);
        self.repo.commit_all("new inputs");
        let head = self.push("feature");
        self.repo.git(&["checkout", "-q", "main"]);
        self.github.0.lock().unwrap().heads.insert(7, head.clone());
        let payload = json!({
            "action": "synchronize", "number": 7,
            "pull_request": {"number": 7,
                "head": {"sha": head, "ref": "feature", "repo": {"full_name": REPOSITORY}},
                "base": {"sha": base, "ref": "main", "repo": {"full_name": REPOSITORY}}},
            "repository": {"full_name": REPOSITORY},
        });
        (payload, head, "refs/pull/7/merge".to_string())
    }
}

#[test]
fn pr_yml_reports_once_and_its_status_and_conclusion_agree() {
    let p = Project::new();
    let runner = p.runner();
    // A passing pull request, then a failing push to it: one comment,
    // updated; a status per head, each as the job concluded.
    let (payload, head, git_ref) = p.pull_request(r#"{"acc": 0.9}"#);
    let jobs = runner
        .run("pr.yml", "pull_request", &payload, (&head, &git_ref))
        .expect("pr.yml runs on pull_request");
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    let (payload, bad_head, git_ref) = p.pull_request(r#"{"acc": 0.7}"#);
    let jobs = runner
        .run("pr.yml", "pull_request", &payload, (&bad_head, &git_ref))
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "failure", "{:?}", jobs["ml"]);
    p.state(|s| {
        assert_eq!(s.comments.len(), 1, "one sticky comment");
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(
            body.contains("❌ **1 of 1 gate rule failed: `acc >= 0.8` (is 0.7)"),
            "{body}"
        );
        let statuses: Vec<(&str, &str, &str)> = s
            .statuses
            .iter()
            .map(|(sha, state, ctx, token)| {
                assert_eq!(token, WORKFLOW_TOKEN);
                (sha.as_str(), state.as_str(), ctx.as_str())
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (head.as_str(), "success", "mlci/gate"),
                (bad_head.as_str(), "failure", "mlci/gate")
            ]
        );
    });
    // Not a push workflow.
    assert!(runner
        .run("pr.yml", "push", &json!({}), (&head, "refs/heads/main"))
        .is_none());
}

#[test]
fn the_fork_pair_hands_the_verdict_through_the_artifact() {
    let p = Project::new();
    let mut runner = p.runner();
    // A fork's run has no secrets: the remote cannot be read, the
    // pipeline cannot run, and the verdict is an error.
    runner.secrets.clear();
    let (payload, head, git_ref) = p.pull_request(r#"{"acc": 0.9}"#);
    let jobs = runner
        .run("fork-pr.yml", "pull_request", &payload, (&head, &git_ref))
        .unwrap();
    let ml = &jobs["ml"];
    assert_eq!(ml.conclusion, "failure", "{ml:?}");
    assert_eq!(
        ml.steps[2].1, "success",
        "the artifact is uploaded always: {ml:?}"
    );
    assert!(
        p.state(|s| s.comments.is_empty() && s.statuses.is_empty()),
        "part 1 posts nothing"
    );
    let run_event = json!({
        "action": "completed",
        "workflow_run": {"id": 99, "name": "mlci-pr", "event": "pull_request", "head_sha": head,
            "conclusion": "failure", "pull_requests": [{"number": 7, "head": {"sha": head}}]},
        "repository": {"full_name": REPOSITORY},
    });
    let jobs = runner
        .run(
            "fork-publish.yml",
            "workflow_run",
            &run_event,
            (&head, "refs/heads/main"),
        )
        .unwrap();
    // Publishing succeeded; the verdict it published is the failure.
    assert_eq!(
        jobs["publish"].conclusion, "success",
        "{:?}",
        jobs["publish"]
    );
    p.state(|s| {
        assert_eq!(s.comments.len(), 1);
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(body.contains("Pipeline could not run"), "{body}");
        assert_eq!(s.statuses.len(), 1);
        assert_eq!(
            (s.statuses[0].0.as_str(), s.statuses[0].1.as_str()),
            (head.as_str(), "error")
        );
    });
    // Another workflow's completion does not start the publisher.
    let mut other = run_event.clone();
    other["workflow_run"]["name"] = json!("docs");
    assert!(runner
        .run(
            "fork-publish.yml",
            "workflow_run",
            &other,
            (&head, "refs/heads/main")
        )
        .is_none());
}

#[test]
fn main_and_the_merge_queue_push_and_gate_without_commenting() {
    let p = Project::new();
    let runner = p.runner();
    p.repo.write("src.json", r#"{"acc": 0.95}"#);
    p.repo.commit_all("better inputs, not reproduced");
    let before = p.repo.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    let after = p.push("main");
    let push = json!({"ref": "refs/heads/main", "before": before, "after": after,
                      "repository": {"full_name": REPOSITORY}});
    let jobs = runner
        .run("main.yml", "push", &push, (&after, "refs/heads/main"))
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    // What main's run pushed, a fresh clone pulls.
    let clone = p.repo.clone_to("fresh");
    let run = clone.mlci_env(
        &["pull"],
        &[
            ("AWS_ACCESS_KEY_ID", &p.s3.0),
            ("AWS_SECRET_ACCESS_KEY", &p.s3.1),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let queue = json!({"action": "checks_requested",
        "merge_group": {"head_sha": after, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7-x",
                        "base_sha": before, "base_ref": "refs/heads/main"},
        "repository": {"full_name": REPOSITORY}});
    let jobs = runner
        .run(
            "merge-queue.yml",
            "merge_group",
            &queue,
            (&after, "refs/heads/gh-readonly-queue/main/pr-7-x"),
        )
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    assert!(p.state(|s| s.comments.is_empty()));
}

/// A push of `branch` from `before` to `after`.
fn push_event(before: &str, after: &str, git_ref: &str) -> Value {
    json!({"ref": git_ref, "before": before, "after": after,
           "repository": {"full_name": REPOSITORY, "default_branch": "main"}})
}

/// docs/registry.md's example promotion policy, exactly as a user copies
/// it (the first YAML block with `promotion:`).
fn example_policy() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/registry.md"),
    )
    .unwrap();
    doc.split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("promotion:"))
        .expect("docs/registry.md shows a promotion policy")
        .to_string()
}

/// promote.yml with the docs' example policy, as copied: a merge that
/// changes the model registers it and promotes it to the policy's first
/// stage; a rerun, and a merge that leaves the model's bytes alone, add no
/// tag; run by hand it takes the version on to staging and prod, judged by
/// the policy each time, and a rerun of that adds nothing either.
#[test]
fn promote_yml_registers_and_promotes_when_the_model_changed() {
    let pipeline = format!("{PIPELINE}{}", example_policy());
    let p = Project::with(&pipeline, &[]);
    p.repo.write(
        "src.json",
        r#"{"acc": 0.85, "auc": 0.86, "latency_ms": 12}"#,
    );
    p.with_keys(&["repro"]).ok();
    p.with_keys(&["push"]).ok();
    p.repo.commit_all("with auc");
    let before = p.push("main");
    let runner = p.runner();
    // A merge that changes only the docs does not start it.
    p.repo.write("README.md", "docs\n");
    p.repo.commit_all("docs");
    let docs = p.push("main");
    let event = push_event(&before, &docs, "refs/heads/main");
    assert!(runner
        .run("promote.yml", "push", &event, (&docs, "refs/heads/main"))
        .is_none());
    // A merge with a new model does: v0.0.1 into dev, the first stage.
    p.repo
        .write("src.json", r#"{"acc": 0.9, "auc": 0.9, "latency_ms": 12}"#);
    p.with_keys(&["repro"]).ok();
    p.with_keys(&["push"]).ok();
    p.repo.commit_all("new model");
    let after = p.push("main");
    let event = push_event(&docs, &after, "refs/heads/main");
    let tags = || -> Vec<String> {
        p.origin_git(&["tag", "--list"])
            .lines()
            .map(str::to_string)
            .collect()
    };
    let run = |kind: &str, event: &Value, sha: &str| {
        let jobs = runner
            .run("promote.yml", kind, event, (sha, "refs/heads/main"))
            .expect("promote.yml starts");
        assert_eq!(
            jobs["promote"].conclusion, "success",
            "{:?}",
            jobs["promote"]
        );
    };
    run("push", &event, &after);
    assert_eq!(tags(), ["churn#dev#1", "churn@v0.0.1"]);
    let at = |t: &str| p.origin_git(&["rev-list", "-n1", t]);
    assert_eq!(at("churn@v0.0.1").trim(), after);
    // Rerun: nothing new.
    run("push", &event, &after);
    assert_eq!(tags(), ["churn#dev#1", "churn@v0.0.1"]);
    // A merge that changes mlci.lock but not the model's bytes.
    p.repo.write(
        "mlci.yaml",
        format!(
            "{}\n",
            pipeline.replacen(
                "stages:\n",
                "stages:\n  notes:\n    cmd: echo ok > notes.txt\n    outs: [notes.txt]\n",
                1
            )
        ),
    );
    p.with_keys(&["repro"]).ok();
    p.with_keys(&["push"]).ok();
    p.repo.commit_all("a notes stage");
    let notes = p.push("main");
    let event = push_event(&after, &notes, "refs/heads/main");
    run("push", &event, &notes);
    assert_eq!(tags(), ["churn#dev#1", "churn@v0.0.1"]);
    // By hand: staging, then prod, each judged by the policy; prod twice.
    for stage in ["staging", "prod", "prod"] {
        let dispatch = json!({"inputs": {"version": "v0.0.1", "stage": stage},
                              "ref": "refs/heads/main",
                              "repository": {"full_name": REPOSITORY, "default_branch": "main"}});
        run("workflow_dispatch", &dispatch, &notes);
    }
    assert_eq!(
        tags(),
        [
            "churn#dev#1",
            "churn#prod#3",
            "churn#staging#2",
            "churn@v0.0.1"
        ]
    );
}

/// A stand-in `docker` that builds nothing: it records its arguments and
/// fails when the model it should package is missing (or `fail` is set).
fn docker(dir: &std::path::Path, fail: bool) {
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> \"{}/docker.log\"\ntest -s image/model.pkl && test -s serving/Dockerfile || exit 3\n{}",
        dir.display(),
        if fail { "exit 4\n" } else { "" }
    );
    let file = dir.join("docker");
    std::fs::write(&file, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn deploy_yml_deploys_the_tagged_version_and_marks_it_live_only_after() {
    let p = Project::new();
    // The serving recipe, copied as docs/registry.md says.
    let recipe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workflows/Dockerfile");
    p.repo
        .write("serving/Dockerfile", std::fs::read(recipe).unwrap());
    p.repo.commit_all("serving image");
    p.push("main");
    p.repo.mlci(&["model", "register", "churn"]).ok();
    p.repo
        .mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    let v1 = p.repo.read("model.pkl");
    // A later version, also in prod before the deploy job runs: the job
    // must still deploy the version its tag assigned.
    p.repo.write("src.json", r#"{"acc": 0.99}"#);
    p.with_keys(&["repro"]).ok();
    p.with_keys(&["push"]).ok();
    p.repo.commit_all("v2");
    p.push("main");
    p.repo.mlci(&["model", "register", "churn"]).ok();
    p.repo
        .mlci(&["model", "promote", "churn", "v0.0.2", "--to", "prod"])
        .ok();
    p.repo
        .git(&["push", "-q", p.origin.to_str().unwrap(), "--tags"]);
    let tools = tempfile::tempdir().unwrap();
    let sha = p.origin_git(&["rev-list", "-n1", "churn#prod#1"]);
    let sha = sha.trim();
    for (fail, last) in [(false, "success"), (true, "failure")] {
        docker(tools.path(), fail);
        let mut runner = p.runner();
        runner.path_prefix.push(tools.path().to_path_buf());
        let event = push_event(&"0".repeat(40), sha, "refs/tags/churn#prod#1");
        let jobs = runner
            .run(
                "deploy.yml",
                "push",
                &event,
                (sha, "refs/tags/churn#prod#1"),
            )
            .expect("a stage tag starts deploy.yml");
        assert_eq!(
            jobs["handoff"].conclusion, "success",
            "{:?}",
            jobs["handoff"]
        );
        let out = &jobs["handoff"].outputs;
        assert_eq!(
            (
                out["event"].as_str(),
                out["name"].as_str(),
                out["version"].as_str(),
                out["stage"].as_str()
            ),
            ("assignment", "churn", "v0.0.1", "prod")
        );
        let deploy = &jobs["deploy"];
        assert_eq!(
            deploy.conclusion,
            if fail { "failure" } else { "success" },
            "{deploy:?}"
        );
        let image = std::fs::read_to_string(deploy.workspace.join("image/model.pkl")).unwrap();
        assert_eq!(
            image, v1,
            "the version the tag assigned, not the stage's latest"
        );
        let id: u64 = out["deployment-id"].parse().unwrap();
        p.state(|s| {
            let states: Vec<&str> = s
                .deployment_states
                .iter()
                .filter(|(d, _)| *d == id)
                .map(|(_, st)| st.as_str())
                .collect();
            assert_eq!(states, ["in_progress", last]);
        });
    }
    // Registry tags in a subdirectory start it too; a branch push does not.
    let runner = p.runner();
    let nested = push_event(&"0".repeat(40), sha, "refs/tags/models/churn#prod#1");
    assert!(runner
        .run(
            "deploy.yml",
            "push",
            &nested,
            (sha, "refs/tags/models/churn#prod#1")
        )
        .is_some_and(|j| j.contains_key("handoff")));
    let branch = push_event(&"0".repeat(40), sha, "refs/heads/main");
    assert!(runner
        .run("deploy.yml", "push", &branch, (sha, "refs/heads/main"))
        .is_none());
}

#[test]
fn retrain_yml_proposes_new_data_with_the_apps_token_and_its_merge_does_not_retrain() {
    let source = tempfile::tempdir().unwrap();
    let data = source.path().join("upstream.json");
    std::fs::write(&data, r#"{"acc": 0.85}"#).unwrap();
    let pipeline = "\
stages:
  ingest:
    cmd: cp \"$DATA_SOURCE\" data.json
    outs: [data.json]
    always_changed: true
  train:
    cmd: cp data.json metrics.json && cp data.json model.pkl
    deps: [data.json]
    outs: [model.pkl]
    metrics:
      - metrics.json: {cache: false}
gates:
  - metric: acc
    min: 0.8
";
    let p = Project::with(pipeline, &[("DATA_SOURCE", data.to_str().unwrap())]);
    let mut runner = p.runner();
    runner
        .env
        .insert("DATA_SOURCE".into(), data.display().to_string());
    let main = p.repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let schedule = json!({"schedule": "17 3 * * 1", "repository": {"full_name": REPOSITORY, "default_branch": "main"}});
    // Unchanged upstream data: nothing to propose.
    let jobs = runner
        .run(
            "retrain.yml",
            "schedule",
            &schedule,
            (&main, "refs/heads/main"),
        )
        .unwrap();
    assert_eq!(
        jobs["retrain"].conclusion, "success",
        "{:?}",
        jobs["retrain"]
    );
    assert!(p.state(|s| s.prs.is_empty()));
    // New data: one pull request, opened with the app's token (one opened
    // with the workflow's token would start no gate), its branch pushed.
    std::fs::write(&data, r#"{"acc": 0.9}"#).unwrap();
    let jobs = runner
        .run(
            "retrain.yml",
            "schedule",
            &schedule,
            (&main, "refs/heads/main"),
        )
        .unwrap();
    assert_eq!(
        jobs["retrain"].conclusion, "success",
        "{:?}",
        jobs["retrain"]
    );
    let branch = p.state(|s| {
        assert_eq!(s.prs.len(), 1, "{:?}", s.prs);
        assert_eq!(s.prs[0]["token"], crate::runner::APP_TOKEN);
        assert!(
            s.graphql_tokens
                .iter()
                .all(|t| t == crate::runner::APP_TOKEN)
                && s.graphql_tokens.len() == 1
        );
        s.prs[0]["head"]["ref"].as_str().unwrap().to_string()
    });
    let tip = p.origin_git(&["rev-parse", &format!("refs/heads/{branch}")]);
    let metrics = p.origin_git(&["show", &format!("{}:metrics.json", tip.trim())]);
    assert_eq!(metrics, r#"{"acc": 0.9}"#);
    // Its merge is a push to main, which the workflow's triggers leave out.
    let merged = push_event(&main, tip.trim(), "refs/heads/main");
    assert!(runner
        .run(
            "retrain.yml",
            "push",
            &merged,
            (tip.trim(), "refs/heads/main")
        )
        .is_none());
}

/// `commit-back: "true"` on pr.yml: a pull request whose author changed
/// the inputs without reproducing gets the recomputed results pushed to
/// its branch on top of its head; a fork's keeps them named as stale.
#[test]
fn commit_back_pushes_the_recomputed_results_to_a_same_repository_branch() {
    let p = Project::new();
    let runner = p.runner();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workflows/pr.yml"),
    )
    .unwrap();
    let configured = shipped.replace(
        "status: \"true\"",
        "status: \"true\"\n          commit-back: \"true\"",
    );
    assert_ne!(configured, shipped);
    let (payload, head, git_ref) = p.pull_request(r#"{"acc": 0.9}"#);
    let mut fork = payload.clone();
    fork["pull_request"]["head"]["repo"] = json!({"full_name": "evil/churn", "fork": true});
    let jobs = runner
        .run_text(
            "pr.yml",
            &configured,
            "pull_request",
            &fork,
            (&head, &git_ref),
        )
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    let tip = |b: &str| p.origin_git(&["rev-parse", b]).trim().to_string();
    assert_eq!(tip("feature"), head, "a fork's branch is never written");
    assert!(p.state(|s| s.comments[0]["body"]
        .as_str()
        .unwrap()
        .contains("Committed results are stale")));
    let jobs = runner
        .run_text(
            "pr.yml",
            &configured,
            "pull_request",
            &payload,
            (&head, &git_ref),
        )
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    let new = tip("feature");
    assert_eq!(tip("feature~1"), head, "one commit on top of the head");
    let author = p.origin_git(&["show", "-s", "--format=%an <%ae>", &new]);
    assert_eq!(
        author.trim(),
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    );
    let files = p.origin_git(&["diff", "--name-only", &head, &new]);
    assert_eq!(files, "metrics.json\nmlci.lock\n");
    p.state(|s| {
        let body = s.comments[0]["body"].as_str().unwrap();
        let short = &new[..7];
        assert!(
            body.contains(&format!("🔄 **Committed results refreshed.** This run recomputed `metrics.json`, `mlci.lock` and pushed them to `feature` as `{short}`")),
            "{body}"
        );
    });
    // The refreshed head is fresh: a run on it finds nothing stale.
    let mut again = payload.clone();
    again["pull_request"]["head"]["sha"] = json!(new);
    let jobs = runner
        .run_text(
            "pr.yml",
            &configured,
            "pull_request",
            &again,
            (&new, &git_ref),
        )
        .unwrap();
    assert_eq!(jobs["ml"].conclusion, "success", "{:?}", jobs["ml"]);
    assert_eq!(tip("feature"), new, "nothing more to push");
    p.state(|s| {
        let body = s.comments[0]["body"].as_str().unwrap();
        assert!(
            !body.contains("stale") && !body.contains("refreshed"),
            "{body}"
        );
    });
}
