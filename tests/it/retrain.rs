//! `mlci retrain` end to end: a real bare git repository as `origin`,
//! served over git's smart HTTP by `git http-backend` behind a server that
//! demands a token for pushes (so the credential helper is exercised), a
//! scheduled-event payload, and GitHub's side as a stateful fake (pull
//! requests, comments, labels, GraphQL), proxied by Prism with GitHub's
//! OpenAPI description; the auto-merge mutation validated against GitHub's
//! published GraphQL schema with graphql-js.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use wiremock::matchers::path_regex;
use wiremock::Mock;

use crate::common::{env_from_test_script, PyServer, TestRepo};
use crate::fake_github::FakeGitHub;
use crate::github::{assert_no_violations, Job, Prism};

const TOKEN: &str = "ghs_retrainTestToken0123456789";
const REPO: &str = "octo/churn";

/// The project: an ingest stage that always reruns (it copies the newest
/// data from outside the repository), a training stage whose metric is the
/// row count, and a gate on it; pushed to a bare `origin` served over HTTP.
struct Project {
    repo: TestRepo,
    bare: PathBuf,
    source: PathBuf,
    _served: tempfile::TempDir,
    server: PyServer,
    log: PathBuf,
    /// A DVC repository used in place: its directory and DVC.
    dvc: Option<(tempfile::TempDir, String)>,
}

const STAGES: &str = "stages:\n  ingest:\n    cmd: cp \"$DATA_SOURCE\" data.csv\n    outs: [data.csv]\n    always_changed: true\n  train:\n    cmd: 'echo \"{\\\"rows\\\": $(wc -l < data.csv)}\" > metrics.json'\n    deps: [data.csv]\n    metrics:\n      - metrics.json:\n          cache: false\n";
const GATES: &str = "gates:\n  - metric: rows\n    min: 3\n";

impl Project {
    fn new() -> Project {
        let repo = TestRepo::new();
        repo.write("mlci.yaml", format!("{STAGES}{GATES}"));
        repo.add_remote("store", crate::common::Server::Local);
        Project::around(repo, None)
    }

    /// The same project as a DVC repository used in place: `dvc.yaml`,
    /// the gates in `mlci.yaml` beside it, a DVC directory remote.
    fn dvc() -> Project {
        let (tmp, repo, exe) = crate::dvc_in_place::dvc_repo();
        repo.write("dvc.yaml", STAGES);
        repo.write("mlci.yaml", GATES);
        let store = tmp.path().join("store");
        crate::dvc_oracle::dvc(
            &exe,
            &repo,
            &["remote", "add", "-d", "store", store.to_str().unwrap()],
        );
        Project::around(repo, Some((tmp, exe)))
    }

    fn around(repo: TestRepo, dvc: Option<(tempfile::TempDir, String)>) -> Project {
        let served = tempfile::tempdir().unwrap();
        let bare = served.path().join("churn.git");
        crate::common::git_in(
            served.path(),
            &["init", "-q", "--bare", "-b", "main", "churn.git"],
        );
        let log = served.path().join("requests.log");
        let server = PyServer::start(
            include_str!("../servers/git_http.py"),
            &[
                served.path().to_str().unwrap(),
                TOKEN,
                log.to_str().unwrap(),
            ],
        );
        let source = repo.root.parent().unwrap().join("upstream.csv");
        std::fs::write(&source, "a\nb\nc\n").unwrap();
        let p = Project {
            repo,
            bare,
            source,
            _served: served,
            server,
            log,
            dvc,
        };
        p.retrain_env(&["repro"]).ok();
        if p.dvc.is_some() {
            p.retrain_env(&["push"]).ok();
        }
        p.repo.commit_all("first model");
        p.repo
            .git(&["push", "-q", p.bare.to_str().unwrap(), "main"]);
        p.repo.git(&[
            "remote",
            "add",
            "origin",
            &format!("{}/churn.git", p.server.url()),
        ]);
        p.repo.git(&["fetch", "-q", "origin"]);
        p
    }

    fn retrain_env(&self, args: &[&str]) -> crate::common::Run {
        self.repo
            .mlci_env(args, &[("DATA_SOURCE", self.source.to_str().unwrap())])
    }

    fn data(&self, rows: usize) {
        let text: String = (0..rows).map(|i| format!("row{i}\n")).collect();
        std::fs::write(&self.source, text).unwrap();
    }

    /// Branches of the bare origin.
    fn branches(&self) -> Vec<String> {
        let out = self.bare_git(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
        out.lines().map(str::to_string).collect()
    }

    fn bare_git(&self, args: &[&str]) -> String {
        crate::common::git_bare(&self.bare, args)
    }

    /// `mlci retrain` as a scheduled Actions run against `api`.
    fn run(&self, job: &Job, api: &str, args: &[&str], token: bool) -> Output {
        let mut payload = json!({"schedule": "17 3 * * *", "repository": {"full_name": REPO, "default_branch": "main"}});
        payload["workflow"] = json!(".github/workflows/retrain.yml");
        let event = job.path("event.json");
        std::fs::write(&event, payload.to_string()).unwrap();
        // One step's summary file per run.
        let _ = std::fs::remove_file(job.path("summary.md"));
        let mut cmd = crate::common::mlci_cmd(&self.repo.root);
        cmd.arg("retrain")
            .args(args)
            .env("DATA_SOURCE", &self.source)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "schedule")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_STEP_SUMMARY", job.path("summary.md"))
            .env("GITHUB_OUTPUT", job.path("output.txt"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_RUN_ID", "99")
            .env("GITHUB_API_URL", api)
            .env("MLCI_GITHUB_MAX_WAIT", "3");
        if token {
            cmd.env("GITHUB_TOKEN", TOKEN);
        }
        let out = cmd.output().unwrap();
        // Only in the mask command, which the runner reads first.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let masked = usize::from(token && stdout.starts_with(&format!("::add-mask::{TOKEN}\n")));
        assert_eq!(
            stdout.matches(TOKEN).count(),
            masked,
            "the token leaked: {stdout}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains(TOKEN),
            "the token leaked"
        );
        out
    }

    fn pushes(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"POST\"") && l.contains("\"push\": true"))
            .count()
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fake(job: &Job) -> FakeGitHub {
    let f = FakeGitHub::new(REPO);
    job.mount(Mock::given(path_regex(".*")).respond_with(f.clone()));
    f
}

/// The whole life of retraining pull requests, through Prism: nothing
/// changed; new data; the same data again; newer data; a failing gate.
#[test]
fn retraining_proposes_one_pull_request_per_data_and_supersedes_older_ones() {
    let p = Project::new();
    let job = Job::new(REPO);
    let gh = fake(&job);
    let mut prism = Prism::start(&job);
    let api = prism.api.clone();

    // Nothing changed: no push, no API call, exit 0.
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("nothing changed"), "{}", text(&out));
    assert!(
        job.requests().is_empty(),
        "no API call when nothing changed"
    );
    assert_eq!(p.pushes(), 0);
    assert_eq!(p.branches(), ["main"]);
    assert!(
        job.read("summary.md").contains("no pull request"),
        "the job summary says so"
    );
    // --force-stage reruns a stage nothing changed for; still nothing new.
    let out = p.run(&job, &api, &["--force-stage", "train"], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("running stage `train`"),
        "{}",
        text(&out)
    );
    assert!(job.requests().is_empty());

    // New data: a branch named by the content with exactly the changed
    // files, and a pull request whose body is the report.
    p.data(4);
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let first: Vec<String> = p
        .branches()
        .into_iter()
        .filter(|b| b.starts_with("mlci/retrain/"))
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    let files = p.bare_git(&["diff", "--name-only", "main", &first[0]]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["metrics.json", "mlci.lock"]
    );
    let msg = p.bare_git(&["log", "-1", "--format=%an <%ae>%n%B", &first[0]]);
    assert!(
        msg.starts_with(
            "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
        ),
        "{msg}"
    );
    assert!(
        !msg.contains("[skip ci]") && msg.contains("Mlci-Retrain:"),
        "{msg}"
    );
    assert_eq!(
        p.repo
            .git(&["status", "--porcelain", "--", "mlci.lock"])
            .trim(),
        "M mlci.lock",
        "the checkout is left as it was"
    );
    let summary = job.read("summary.md");
    {
        let s = gh.0.lock().unwrap();
        assert_eq!(s.prs.len(), 1);
        assert_eq!(s.prs[0]["head"]["ref"], first[0].as_str());
        assert_eq!(
            s.prs[0]["body"].as_str().unwrap().trim_end(),
            format!(
                "<!-- mlci:report key=mlci-retrain -->\n{}",
                summary.trim_end()
            ),
            "the body is the rendered report"
        );
        assert!(summary.contains("rows"), "{summary}");
        assert_eq!(s.labels, [(1, vec!["mlci-retrain".to_string()])]);
    }

    // The same data again: no new commit, no new pull request, the body
    // updated.
    let tip = p.bare_git(&["rev-parse", &first[0]]);
    let pushes = p.pushes();
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(p.bare_git(&["rev-parse", &first[0]]), tip);
    assert_eq!(p.pushes(), pushes, "nothing pushed again");
    assert_eq!(gh.0.lock().unwrap().prs.len(), 1);
    assert_eq!(gh.0.lock().unwrap().patches, 1, "the body was updated");

    // Someone pushed onto the branch meanwhile: the same data again puts
    // the branch back with --force-with-lease on the tip it saw.
    let clone = tempfile::tempdir().unwrap();
    crate::common::git_clone(&p.bare, &clone.path().join("c"), &["-b", &first[0]]);
    let c = clone.path().join("c");
    std::fs::write(c.join("note.txt"), "by hand").unwrap();
    crate::common::git_in(&c, &["add", "note.txt"]);
    crate::common::git_in(&c, &["commit", "-q", "-m", "by hand"]);
    crate::common::git_in(&c, &["push", "-q", "origin", &first[0]]);
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let files = p.bare_git(&["diff", "--name-only", "main", &first[0]]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["metrics.json", "mlci.lock"],
        "the branch holds this data again"
    );
    assert_eq!(gh.0.lock().unwrap().prs.len(), 1);

    // Newer data: a new branch and pull request; the old one closed with
    // a link to the new one.
    p.data(5);
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    {
        let s = gh.0.lock().unwrap();
        assert_eq!(s.prs.len(), 2);
        assert_eq!(s.prs[0]["state"], "closed");
        assert_eq!(s.prs[1]["state"], "open");
        assert_eq!(s.comments.len(), 1);
        assert!(
            s.comments[0]["body"]
                .as_str()
                .unwrap()
                .contains("Superseded by #2")
                && s.comments[0]["body"].as_str().unwrap().contains("/pull/2"),
            "{:?}",
            s.comments
        );
    }

    // The gate fails: the pull request is still opened, auto-merge is not
    // enabled, exit 1.
    p.data(1);
    let out = p.run(&job, &api, &["--auto-merge"], true);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("auto-merge not enabled"),
        "{}",
        text(&out)
    );
    {
        let s = gh.0.lock().unwrap();
        assert_eq!(s.prs.len(), 3);
        assert!(s.graphql.is_empty(), "never auto-merge a failed gate");
    }
    let log = prism.stop();
    assert!(log.matches("Request received").count() >= 10, "{log}");
    assert_no_violations(&log);
}

/// With a passing gate, `--auto-merge` sends GraphQL's
/// `enablePullRequestAutoMerge` for that pull request: the document is
/// valid against GitHub's published schema, the variables name the pull
/// request and the merge method.
#[test]
fn auto_merge_sends_a_mutation_valid_against_githubs_schema() {
    let p = Project::new();
    let job = Job::new(REPO);
    let gh = fake(&job);
    p.data(6);
    let out = p.run(
        &job,
        &job.api(),
        &["--auto-merge", "--merge-method", "rebase"],
        true,
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let s = gh.0.lock().unwrap();
    assert_eq!(s.graphql.len(), 1);
    let call = &s.graphql[0];
    assert_eq!(
        call["variables"],
        json!({"pullRequestId": "PR_node1", "mergeMethod": "REBASE"})
    );
    let query = job.path("mutation.graphql");
    std::fs::write(&query, call["query"].as_str().unwrap()).unwrap();
    let check = Command::new("node")
        .arg(env_from_test_script("MLCI_TEST_GRAPHQL_VALIDATE"))
        .arg(&query)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// A fork's open pull request whose branch is named exactly like the one
/// retrain pushed (GitHub lists it among the base's open pull requests) is
/// never adopted, labelled, closed as superseded or auto-merged: retrain
/// opens its own pull request for its own branch.
#[test]
fn a_forks_lookalike_pull_request_is_left_alone() {
    let p = Project::new();
    let job = Job::new(REPO);
    let gh = fake(&job);
    gh.0.lock().unwrap().lookalike_of = Some(p.bare.clone());
    p.data(6);
    let out = p.run(&job, &job.api(), &["--auto-merge"], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("opened pull request #1"),
        "{}",
        text(&out)
    );
    let s = gh.0.lock().unwrap();
    assert_eq!(s.prs.len(), 1, "retrain opened its own pull request");
    assert_eq!(s.patches, 0, "no pull request was rewritten");
    assert!(s.labels.iter().all(|(n, _)| *n == 1), "{:?}", s.labels);
    assert!(
        s.comments.iter().all(|c| c["issue"] != 66),
        "#66 was not closed"
    );
    assert_eq!(s.graphql.len(), 1);
    assert_eq!(s.graphql[0]["variables"]["pullRequestId"], "PR_node1");
    drop(s);
    for (method, path, _) in job.requests() {
        assert!(!path.contains("/66"), "{method} {path}");
    }
}

/// A push the remote refuses (a protected branch pattern, by a
/// pre-receive hook) exits 2 with a hint, and opens no pull request.
#[test]
fn a_refused_push_exits_2_with_a_hint() {
    let p = Project::new();
    let hook = p.bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'protected branch: mlci/retrain/* needs a review' >&2\nexit 1\n",
    )
    .unwrap();
    set_executable(&hook);
    let job = Job::new(REPO);
    let gh = fake(&job);
    p.data(4);
    let out = p.run(&job, &job.api(), &[], true);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("hint: the remote refused the push"),
        "{}",
        text(&out)
    );
    assert!(gh.0.lock().unwrap().prs.is_empty());
}

/// Without a token: something to propose is an error before any push;
/// nothing to propose is still a quiet success.
#[test]
fn without_a_token_nothing_is_pushed() {
    let p = Project::new();
    let job = Job::new(REPO);
    fake(&job);
    let out = p.run(&job, &job.api(), &[], false);
    assert_eq!(code(&out), 0, "nothing changed: {}", text(&out));
    p.data(4);
    let out = p.run(&job, &job.api(), &[], false);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("no token to push"), "{}", text(&out));
    assert_eq!(p.pushes(), 0);
    assert_eq!(p.branches(), ["main"]);
    assert!(job.requests().is_empty());
}

/// The merge of a retraining pull request does not start another
/// retraining: a push whose head commit is that merge is recognised.
#[test]
fn the_merge_of_a_retraining_pull_request_does_not_retrain() {
    let p = Project::new();
    p.data(9);
    let job = Job::new(REPO);
    fake(&job);
    let payload = json!({"ref": "refs/heads/main", "head_commit": {"message": "Merge pull request #7 from octo/mlci/retrain/0123abcd\n\nRetrain on new data"}, "repository": {"full_name": REPO, "default_branch": "main"}});
    let event = job.path("push.json");
    std::fs::write(&event, payload.to_string()).unwrap();
    let out = crate::common::mlci_cmd(&p.repo.root)
        .arg("retrain")
        .env("DATA_SOURCE", &p.source)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", job.api())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("started by the merge of a retraining pull request"));
    assert_eq!(p.branches(), ["main"]);
    assert!(!p.repo.read("data.csv").contains("row8"), "nothing reran");
    // The documented workflow has no trigger a merge fires.
    let wf: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(docs_workflow("retrain.yml")).unwrap())
            .unwrap();
    let on = wf["on"].as_mapping().unwrap();
    let triggers: Vec<&str> = on.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(triggers, ["schedule", "workflow_dispatch"]);
}

/// A retraining pull request squash-merged under GitHub's "pull request
/// title" setting (the message is the title alone) or "title and
/// description" (the body's marker below it) is recognised too: by the
/// body, else by asking the forge which pull request made the commit;
/// never by the title.
#[test]
fn a_squash_merged_retraining_pull_request_does_not_retrain() {
    let p = Project::new();
    p.data(9);
    let job = Job::new(REPO);
    fake(&job);
    let run = |id: &str, message: &str| {
        let payload = json!({"ref": "refs/heads/main", "head_commit": {"id": id, "message": message}, "repository": {"full_name": REPO, "default_branch": "main"}});
        let event = job.path("push.json");
        std::fs::write(&event, payload.to_string()).unwrap();
        crate::common::mlci_cmd(&p.repo.root)
            .arg("retrain")
            .env("DATA_SOURCE", &p.source)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", job.api())
            .output()
            .unwrap()
    };
    for (id, message) in [
        ("5quash0000000000000000000000000000000000", "Retrain on new data (0123abcd) (#7)"),
        (
            "1111111111111111111111111111111111111111",
            "Retrain on new data (0123abcd) (#7)\n\n<!-- mlci:report key=mlci-retrain -->\n1 metric changed",
        ),
    ] {
        let out = run(id, message);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(
            text(&out).contains("started by the merge of a retraining pull request"),
            "{message}: {}",
            text(&out)
        );
        assert_eq!(p.branches(), ["main"]);
        assert!(!p.repo.read("data.csv").contains("row8"), "nothing reran");
    }
}

fn docs_workflow(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/workflows")
        .join(name)
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `--if-drift`: without drift rules an error; with rules that pass,
/// nothing runs and nothing is proposed; with a failing rule (new data
/// placed in the workspace), the retraining is proposed.
#[test]
fn if_drift_retrains_only_when_a_drift_rule_fails() {
    let p = Project::new();
    let job = Job::new(REPO);
    let gh = fake(&job);
    let out = p.run(&job, &job.api(), &["--if-drift"], true);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("no `drift:` rules"), "{}", text(&out));
    // A numeric reference with a header, and a rule against main.
    std::fs::write(&p.source, "v\n1\n2\n3\n4\n5\n6\n7\n").unwrap();
    let mut yaml = std::fs::read_to_string(p.repo.path("mlci.yaml")).unwrap();
    yaml.push_str("drift:\n  rules:\n    - dataset: data.csv\n      reference: main\n");
    p.repo.write("mlci.yaml", yaml);
    p.retrain_env(&["repro"]).ok();
    p.repo.commit_all("numeric data and a drift rule");
    p.repo
        .git(&["push", "-q", p.bare.to_str().unwrap(), "main"]);
    p.repo.git(&["fetch", "-q", "origin"]);
    let out = p.run(&job, &job.api(), &["--if-drift"], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("nothing retrained"), "{}", text(&out));
    assert!(
        !text(&out).contains("running stage"),
        "nothing ran: {}",
        text(&out)
    );
    assert!(job.requests().is_empty());
    // Drifted data arrives in the workspace (an earlier run produced it):
    // now it retrains and proposes.
    std::fs::write(&p.source, "v\n100\n200\n300\n400\n500\n600\n700\n").unwrap();
    p.retrain_env(&["repro"]).ok();
    let out = p.run(&job, &job.api(), &["--if-drift"], true);
    // The drift rule is a gate of the pull request too: the new data
    // drifts from main's, so the proposal is opened with a failed gate.
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("drift of data.csv against data.csv@main: drifts"),
        "{}",
        text(&out)
    );
    let s = gh.0.lock().unwrap();
    assert_eq!(s.prs.len(), 1);
    assert!(s.prs[0]["body"].as_str().unwrap().contains("### Drift"));
}

/// `mlci retrain` judges the rules `mlci ci` and `mlci gate` judge: a
/// failing `monitor:` check fails the proposal's gate, so it is opened for
/// review and never auto-merged.
#[test]
fn retrain_judges_the_monitor_rules_as_gate_does() {
    let p = Project::new();
    p.repo.write("ref.json", "{\"accuracy\": 0.9}\n");
    // The latest day's accuracy is 0.5: outside ±20 % of 0.9.
    p.repo.write(
        "predictions.csv",
        "timestamp,prediction,target\n2026-01-01T00:00:00Z,1,1\n2026-01-01T01:00:00Z,0,1\n",
    );
    let mut yaml = std::fs::read_to_string(p.repo.path("mlci.yaml")).unwrap();
    yaml.push_str("metrics:\n  - ref.json\nmonitor:\n  log: predictions.csv\n  reference: HEAD\n");
    p.repo.write("mlci.yaml", yaml);
    p.repo.commit_all("a monitored model");
    p.repo
        .git(&["push", "-q", p.bare.to_str().unwrap(), "main"]);
    p.repo.git(&["fetch", "-q", "origin"]);
    let gate = p.repo.mlci(&["gate"]);
    assert_eq!(gate.code, 1, "{}", gate.stdout);
    assert!(
        gate.stdout
            .contains("FAIL monitor:predictions.csv:accuracy"),
        "{}",
        gate.stdout
    );
    p.data(9);
    let job = Job::new(REPO);
    let gh = fake(&job);
    let out = p.run(&job, &job.api(), &["--auto-merge"], true);
    assert_eq!(
        code(&out),
        1,
        "the monitor check fails the gate: {}",
        text(&out)
    );
    assert!(
        job.read("output.txt").contains("passed=false"),
        "{}",
        job.read("output.txt")
    );
    let s = gh.0.lock().unwrap();
    assert_eq!(s.prs.len(), 1, "proposed for review");
    assert!(s.graphql.is_empty(), "never auto-merged");
}

/// A DVC repository used in place (no `.mlci/`): `mlci retrain` pulls from
/// DVC's remote, reruns, pushes in DVC's layout and proposes exactly the
/// files DVC would commit (`dvc.lock`, the metric kept in git); a fresh
/// clone of the branch gets the new data with `dvc pull`, and `dvc status`
/// is clean there. Nothing is written to `.mlci/`.
#[test]
fn retraining_a_dvc_repository_in_place_proposes_dvc_lock() {
    let p = Project::dvc();
    let job = Job::new(REPO);
    let gh = fake(&job);
    let mut prism = Prism::start(&job);
    let api = prism.api.clone();
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("nothing changed"), "{}", text(&out));

    p.data(4);
    let out = p.run(&job, &api, &[], true);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let branch = p
        .branches()
        .into_iter()
        .find(|b| b.starts_with("mlci/retrain/"))
        .expect("a retraining branch");
    let files = p.bare_git(&["diff", "--name-only", "main", &branch]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["dvc.lock", "metrics.json"]
    );
    assert_eq!(gh.0.lock().unwrap().prs.len(), 1);
    assert!(!p.repo.root.join(".mlci").exists(), "no .mlci/ written");

    // What the branch records, DVC restores from what mlci pushed.
    let (tmp, exe) = p.dvc.as_ref().unwrap();
    let c = tmp.path().join("branch");
    crate::common::git_clone(&p.bare, &c, &["-b", &branch]);
    let clone = TestRepo::at_existing(c);
    crate::dvc_oracle::dvc(exe, &clone, &["pull"]);
    assert_eq!(
        std::fs::read_to_string(clone.root.join("data.csv")).unwrap(),
        "row0\nrow1\nrow2\nrow3\n"
    );
    let status = crate::dvc_oracle::dvc(exe, &clone, &["status", "--json"]);
    // `ingest` always changes; nothing else may differ.
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let stale: Vec<&String> = status.as_object().unwrap().keys().collect();
    assert!(stale.iter().all(|k| k.as_str() == "ingest"), "{status}");
    let log = prism.stop();
    assert_no_violations(&log);
}
