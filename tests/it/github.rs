//! `mlci ci` publishing to GitHub, against a local mock of the REST API
//! (wiremock) with strict matchers (method, path, query, body) and exact
//! call counts, driven by GitHub's own example webhook payloads (npm
//! `@octokit/webhooks-examples`, installed by scripts/test.sh).

use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::ci::repo_on_a_branch;
use crate::common::{env_from_test_script, mlci_cmd, TestRepo};

const TOKEN: &str = "ghs_mlciTestToken0123456789abcdef";

/// GitHub's example payload for `event` (and `action`, when given).
pub fn example_payload(event: &str, action: Option<&str>) -> Value {
    let index = env_from_test_script("MLCI_TEST_WEBHOOK_EXAMPLES");
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(index).unwrap()).unwrap();
    let entry = all
        .iter()
        .find(|e| e["name"] == event)
        .unwrap_or_else(|| panic!("no {event} examples"));
    entry["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| action.is_none_or(|a| x["action"] == a))
        .unwrap_or_else(|| panic!("no {event}.{action:?} example"))
        .clone()
}

/// A mock GitHub API and the files of one Actions job.
pub struct Job {
    pub rt: tokio::runtime::Runtime,
    pub server: MockServer,
    pub dir: tempfile::TempDir,
    pub repository: String,
}

impl Job {
    pub fn new(repository: &str) -> Job {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Job {
            rt,
            server,
            dir: tempfile::tempdir().unwrap(),
            repository: repository.into(),
        }
    }

    pub fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    pub fn api(&self) -> String {
        self.server.uri()
    }

    /// Runs `mlci ci ARGS` as an Actions step for `event` with `payload`.
    pub fn run(&self, repo: &TestRepo, event: &str, payload: &Value, args: &[&str]) -> Output {
        self.run_at(repo, event, payload, args, &self.api())
    }

    pub fn run_at(
        &self,
        repo: &TestRepo,
        event: &str,
        payload: &Value,
        args: &[&str],
        api: &str,
    ) -> Output {
        self.command(repo, event, payload, args, api)
            .output()
            .unwrap()
    }

    /// Like [`Job::run`], with more environment variables.
    pub fn run_env(
        &self,
        repo: &TestRepo,
        (event, payload): (&str, &Value),
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> Output {
        self.command(repo, event, payload, args, &self.api())
            .envs(extra.iter().copied())
            .output()
            .unwrap()
    }

    fn command(
        &self,
        repo: &TestRepo,
        event: &str,
        payload: &Value,
        args: &[&str],
        api: &str,
    ) -> std::process::Command {
        let event_path = self.dir.path().join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let mut cmd = mlci_cmd(&repo.root);
        cmd.arg("ci")
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_STEP_SUMMARY", self.path("summary.md"))
            .env("GITHUB_OUTPUT", self.path("output.txt"))
            .env("RUNNER_TEMP", self.dir.path())
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_REPOSITORY", &self.repository)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_WORKFLOW", "ml")
            .env("GITHUB_JOB", "report")
            .env("GITHUB_API_URL", api)
            .env("GITHUB_TOKEN", TOKEN)
            .env("MLCI_GITHUB_MAX_WAIT", "3");
        cmd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Every request the mock received, as (method, path?query).
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let pq = match r.url.query() {
                    Some(q) => format!("{}?{q}", r.url.path()),
                    None => r.url.path().to_string(),
                };
                (
                    r.method.to_string(),
                    pq,
                    String::from_utf8_lossy(&r.body).into_owned(),
                )
            })
            .collect()
    }

    /// Checks every mock's expected call count.
    pub fn verify(&self) {
        self.rt.block_on(self.server.verify());
    }
}

/// A pull request payload from GitHub's examples, pointed at this repo's
/// base and head commits.
pub fn pr_payload(base: &str, head: &str) -> (Value, u64, String) {
    let mut p = example_payload("pull_request", Some("opened"));
    p["pull_request"]["head"]["sha"] = json!(head);
    p["pull_request"]["base"]["sha"] = json!(base);
    let number = p["pull_request"]["number"].as_u64().unwrap();
    let repository = p["repository"]["full_name"].as_str().unwrap().to_string();
    (p, number, repository)
}

fn comments_path(repo: &str, n: u64) -> String {
    format!("/repos/{repo}/issues/{n}/comments")
}

/// The pull request has no comments: one GET of the first page.
fn no_comments_yet(repository: &str, n: u64) -> Mock {
    Mock::given(method("GET"))
        .and(path(comments_path(repository, n)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
}

fn marked(body: &[u8], key: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v["body"]
                .as_str()
                .map(|b| b.starts_with(&format!("<!-- mlci:report key={key} -->\n")))
        })
        .unwrap_or(false)
}

fn comment(id: u64, login: &str, body: &str, repo: &str) -> Value {
    json!({
        "id": id,
        "body": body,
        "html_url": format!("https://github.example/{repo}/pull/1#issuecomment-{id}"),
        "user": {"login": login, "id": id, "type": "User"},
    })
}

fn forbidden_user() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user"
    }))
}

fn assert_token_hidden(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.starts_with(&format!("::add-mask::{TOKEN}\n")),
        "the token is masked first: {stdout}"
    );
    assert_eq!(
        stdout.matches(TOKEN).count(),
        1,
        "the token appears only in the mask command"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[test]
fn a_new_report_comment_is_posted_when_none_is_marked() {
    let (repo, base, head) = repo_on_a_branch();
    let (payload, n, repository) = pr_payload(&base, &head);
    let job = Job::new(&repository);
    job.mount(
        Mock::given(method("GET"))
            .and(path(comments_path(&repository, n)))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(
                1,
                "octocat",
                "LGTM",
                &repository
            ),])))
            .expect(1),
    );
    job.mount(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(forbidden_user())
            .expect(1),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .and(|r: &Request| marked(&r.body, "ml/report"))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment(
                99,
                "github-actions[bot]",
                "x",
                &repository,
            )))
            .expect(1),
    );
    let out = job.run(&repo, "pull_request", &payload, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the failing gate decides: {stderr}"
    );
    assert!(
        stderr.contains(&format!("posted the report comment on pull request #{n}")),
        "{stderr}"
    );
    job.verify();
    assert_eq!(job.requests().len(), 3, "{:?}", job.requests());
    let posted = &job.requests()[2].2;
    assert!(posted.contains("1 of 1 gate rule failed"), "{posted}");
    assert!(
        job.read("output.txt")
            .contains("comment-url=https://github.example/"),
        "{}",
        job.read("output.txt")
    );
    assert_token_hidden(&out);
}

#[test]
fn the_marked_comment_on_page_two_is_updated_with_patch() {
    let (repo, base, head) = repo_on_a_branch();
    let (payload, n, repository) = pr_payload(&base, &head);
    let job = Job::new(&repository);
    // Page 1: 100 comments, one carrying our marker but by someone else
    // (it must not be taken over).
    let mut page1: Vec<Value> = (1..=99)
        .map(|i| comment(i, "octocat", "chatter", &repository))
        .collect();
    page1.push(comment(
        100,
        "mallory",
        "<!-- mlci:report key=ml/report -->\nfake",
        &repository,
    ));
    job.mount(
        Mock::given(method("GET"))
            .and(path(comments_path(&repository, n)))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(page1)))
            .expect(1),
    );
    job.mount(
        Mock::given(method("GET"))
            .and(path(comments_path(&repository, n)))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                comment(101, "octocat", "more", &repository),
                comment(
                    7777,
                    "github-actions[bot]",
                    "<!-- mlci:report key=ml/report -->\nold report",
                    &repository
                ),
            ])))
            .expect(1),
    );
    job.mount(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(forbidden_user())
            .expect(1),
    );
    job.mount(
        Mock::given(method("PATCH"))
            .and(path(format!("/repos/{repository}/issues/comments/7777")))
            .and(|r: &Request| marked(&r.body, "ml/report"))
            .respond_with(ResponseTemplate::new(200).set_body_json(comment(
                7777,
                "github-actions[bot]",
                "new",
                &repository,
            )))
            .expect(1),
    );
    job.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0),
    );
    let out = job.run(&repo, "pull_request", &payload, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("updated the report comment"), "{stderr}");
    job.verify();
}

#[test]
fn a_fork_token_degrades_to_summary_and_artifact_and_keeps_the_verdict() {
    let (repo, base, head) = repo_on_a_branch();
    // Tracked data the pull request adds (in the work tree the job runs).
    repo.write("data.csv", "a\n1\n");
    repo.mlci(&["add", "data.csv"]).ok();
    let (payload, n, repository) = pr_payload(&base, &head);
    let job = Job::new(&repository);
    job.mount(no_comments_yet(&repository, n));
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"
            })))
            .expect(1),
    );
    // --status after a refused comment is not even tried.
    job.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .respond_with(ResponseTemplate::new(201))
            .expect(0),
    );
    let out = job.run(
        &repo,
        "pull_request",
        &payload,
        &["--status", "--comment-author", "github-actions[bot]"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the gate's verdict, not an error: {stderr}"
    );
    assert_eq!(
        stderr.matches("cannot write to this repository").count(),
        1,
        "warned once: {stderr}"
    );
    job.verify();
    assert!(
        job.read("summary.md").starts_with("❌"),
        "the job summary is written"
    );
    let result: Value = serde_json::from_str(&job.read("mlci-publish/result.json")).unwrap();
    assert_eq!(result["pr"], n);
    assert_eq!(result["head_sha"], head.as_str());
    assert_eq!(result["passed"], false);
    assert_eq!(result["key"], "ml/report");
    assert!(job.read("mlci-publish/report.md").starts_with("❌"));
    // Every data change beside the report (it lists the first ten).
    let changes: Value = serde_json::from_str(&job.read("mlci-publish/data-changes.json")).unwrap();
    assert!(
        changes["added"][0]["path"] == "data.csv" && changes["tables"].is_array(),
        "{changes}"
    );
    assert!(job.read("output.txt").contains(&format!(
        "artifact-dir={}",
        job.path("mlci-publish").display()
    )));
    assert_token_hidden(&out);

    // The base repository's workflow_run job publishes the saved report.
    let publisher = Job::new(&repository);
    let mut wr = example_payload("workflow_run", Some("completed"));
    wr["workflow_run"]["head_sha"] = json!(head);
    // `mlci ci` exited 1 on the failed gate, so GitHub saw the run fail.
    wr["workflow_run"]["conclusion"] = json!("failure");
    wr["workflow_run"]["name"] = json!("ml");
    publisher.mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repository}/pulls/{n}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"number": n, "head": {"sha": head}})),
            )
            .expect(1),
    );
    publisher.mount(
        Mock::given(method("GET"))
            .and(path(comments_path(&repository, n)))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1),
    );
    publisher.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .and(|r: &Request| marked(&r.body, "ml"))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment(
                5,
                "github-actions[bot]",
                "x",
                &repository,
            )))
            .expect(1),
    );
    publisher.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .and(|r: &Request| {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                v["state"] == "failure"
                    && v["context"] == "mlci/gate"
                    && v["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("as reported by the pull request's own run"))
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"})))
            .expect(1),
    );
    let dir = job.path("mlci-publish");
    let out = publisher.run(
        &repo,
        "workflow_run",
        &wr,
        &[
            "--publish-from",
            dir.to_str().unwrap(),
            "--status",
            "--comment-author",
            "github-actions[bot]",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It published a failing verdict: the pull request's check fails, the
    // publishing job itself succeeded.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    publisher.verify();

    // An artifact for another commit is refused before anything is posted.
    let stale = Job::new(&repository);
    wr["workflow_run"]["head_sha"] = json!(base);
    let out = stale.run(
        &repo,
        "workflow_run",
        &wr,
        &["--publish-from", dir.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the artifact is for commit"), "{stderr}");
    assert!(stale.requests().is_empty());
}

/// A fork's artifact that lies: it names another status context (one that
/// branch protection requires), another bot comment's key, says it passed
/// although GitHub saw its run fail, and carries raw HTML, a second sticky
/// marker and an `@`-mention. The publisher posts `mlci/gate` with the
/// run's real verdict, under the key of its own invocation (the triggering
/// workflow's name), and the report with none of the HTML, marker or
/// mention alive.
#[test]
fn a_forks_artifact_chooses_no_context_key_verdict_or_html() {
    let (repo, base, head) = repo_on_a_branch();
    let (_, n, repository) = pr_payload(&base, &head);
    let art = tempfile::tempdir().unwrap();
    std::fs::write(
        art.path().join("result.json"),
        json!({"version": 1, "repository": repository, "event": "pull_request", "pr": n,
               "head_sha": head, "passed": true, "error": false,
               "key": "security/audit", "context": "ci/required-tests"})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        art.path().join("report.md"),
        "✅ **All gates passed**\n<!-- mlci:report key=security/audit -->\n\
         <img src=x onerror=alert(1)>\n<details><summary>1 stage reran</summary>\n\
         cc @octocat\n</details>\n",
    )
    .unwrap();
    let mut wr = example_payload("workflow_run", Some("completed"));
    wr["workflow_run"]["head_sha"] = json!(head);
    wr["workflow_run"]["conclusion"] = json!("failure");
    wr["workflow_run"]["name"] = json!("mlci-pr");
    let publisher = Job::new(&repository);
    publisher.mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repository}/pulls/{n}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"number": n, "head": {"sha": head}})),
            ),
    );
    // The audit bot's comment is there; it must not be the one updated.
    publisher.mount(
        Mock::given(method("GET"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(
                4242,
                "github-actions[bot]",
                "<!-- mlci:report key=security/audit -->\naudit: 2 findings",
                &repository
            )]))),
    );
    publisher.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment(
                5,
                "github-actions[bot]",
                "x",
                &repository,
            ))),
    );
    publisher.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "error"}))),
    );
    let out = publisher.run(
        &repo,
        "workflow_run",
        &wr,
        &[
            "--publish-from",
            art.path().to_str().unwrap(),
            "--status",
            "--comment-author",
            "github-actions[bot]",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let writes: Vec<(String, String, Value)> = publisher
        .requests()
        .into_iter()
        .filter(|(m, _, _)| m != "GET")
        .map(|(m, p, b)| (m, p, serde_json::from_str(&b).unwrap_or_default()))
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    let (m, p, status) = &writes.iter().find(|w| w.1.contains("/statuses/")).unwrap();
    assert_eq!(
        (m.as_str(), p.as_str()),
        (
            "POST",
            format!("/repos/{repository}/statuses/{head}").as_str()
        )
    );
    assert_eq!(status["context"], "mlci/gate");
    assert_eq!(
        status["state"], "error",
        "GitHub saw the run fail: {status}"
    );
    let (m, p, posted) = writes.iter().find(|w| w.1.contains("/comments")).unwrap();
    assert_eq!(m, "POST", "a new comment, not the audit bot's: {p}");
    let body = posted["body"].as_str().unwrap();
    // The word joiner that breaks the mention, made visible.
    insta::assert_snapshot!(body.replace('\u{2060}', "[WJ]"), @r"
    <!-- mlci:report key=mlci-pr -->
    ✅ **All gates passed**
    &lt;!-- mlci:report key=security/audit -->
    &lt;img src=x onerror=alert(1)>
    <details><summary>1 stage reran</summary>
    cc @[WJ]octocat
    </details>
    ");
    assert!(
        stderr.contains("ci/required-tests"),
        "the ignored context is named: {stderr}"
    );
}

#[test]
fn rate_limits_are_waited_out_with_retry_after() {
    let (repo, base, head) = repo_on_a_branch();
    let (payload, n, repository) = pr_payload(&base, &head);
    let job = Job::new(&repository);
    job.mount(no_comments_yet(&repository, n));
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_json(json!({"message": "API rate limit exceeded"})),
            )
            .up_to_n_times(1)
            .expect(1),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment(
                3,
                "github-actions[bot]",
                "x",
                &repository,
            )))
            .expect(1),
    );
    let start = std::time::Instant::now();
    let out = job.run(
        &repo,
        "pull_request",
        &payload,
        &["--comment-author", "github-actions[bot]"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(1),
        "retry-after was honoured"
    );
    job.verify();

    // A secondary limit that never lifts ends in a clear error, bounded.
    let job = Job::new(&repository);
    job.mount(
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("retry-after", "1")
                    .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
            )
            .expect(4),
    );
    let out = job.run(
        &repo,
        "pull_request",
        &payload,
        &["--comment-author", "github-actions[bot]"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rate limit"), "{stderr}");
    job.verify();
}

#[test]
fn a_422_for_length_is_retried_once_with_a_hard_cut() {
    let (repo, base, head) = repo_on_a_branch();
    let (payload, n, repository) = pr_payload(&base, &head);
    repo.write(
        "big.j2",
        "{% for i in range(9000) %}row {{ i }} of a long report\n{% endfor %}",
    );
    let job = Job::new(&repository);
    job.mount(no_comments_yet(&repository, n));
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Validation Failed",
                "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}]
            })))
            .up_to_n_times(1)
            .expect(1),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path(comments_path(&repository, n)))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment(
                4,
                "github-actions[bot]",
                "x",
                &repository,
            )))
            .expect(1),
    );
    let out = job.run(
        &repo,
        "pull_request",
        &payload,
        &[
            "--template",
            "big.j2",
            "--comment-author",
            "github-actions[bot]",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stderr}"
    );
    job.verify();
    let bodies: Vec<usize> = job
        .requests()
        .iter()
        .filter(|r| r.0 == "POST")
        .map(|r| {
            serde_json::from_str::<Value>(&r.2).unwrap()["body"]
                .as_str()
                .unwrap()
                .chars()
                .count()
        })
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0] <= 65_536 && bodies[0] > 60_000, "{bodies:?}");
    assert!(bodies[1] <= 32_768, "{bodies:?}");
    let requests = job.requests();
    let first = &requests.iter().find(|r| r.0 == "POST").unwrap().2;
    assert!(
        first.contains("actions/runs/4242"),
        "the cut links to the run"
    );
}

#[test]
fn push_and_merge_group_events_set_statuses_and_never_comment() {
    let (repo, base, head) = repo_on_a_branch();
    let mut push = example_payload("push", None);
    push["before"] = json!(base);
    push["after"] = json!(head);
    let repository = push["repository"]["full_name"]
        .as_str()
        .unwrap()
        .to_string();
    let job = Job::new(&repository);
    job.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .and(|r: &Request| {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                v["state"] == "failure"
                    && v["context"] == "mlci/gate"
                    && v["target_url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/actions/runs/4242"))
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"})))
            .expect(1),
    );
    let out = job.run(&repo, "push", &push, &["--status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("comparing with the commit before the push"),
        "{stderr}"
    );
    job.verify();
    assert_eq!(job.requests().len(), 1, "{:?}", job.requests());

    // A leg of a matrix job sets its own context (as the action passes
    // `toJSON(matrix)`), so it never overwrites another leg's.
    let leg = Job::new(&repository);
    leg.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .and(|r: &Request| {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                v["context"] == "mlci/gate (3.11, linux)"
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"})))
            .expect(1),
    );
    let out = leg.run_env(
        &repo,
        ("push", &push),
        &["--status"],
        &[("MLCI_MATRIX", r#"{"python": "3.11", "os": "linux"}"#)],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    leg.verify();

    let mut mg = example_payload("merge_group", None);
    mg["merge_group"]["base_sha"] = json!(base);
    mg["merge_group"]["head_sha"] = json!(head);
    let job = Job::new(&repository);
    job.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"})))
            .expect(1),
    );
    let out = job.run(&repo, "merge_group", &mg, &["--status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("comparing with the merge group's base"),
        "{stderr}"
    );
    job.verify();
    assert_eq!(job.requests().len(), 1, "gate only: {:?}", job.requests());
}

#[test]
fn locally_nothing_is_published() {
    let (repo, _, _) = repo_on_a_branch();
    let job = Job::new("acme/models");
    job.mount(
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0),
    );
    let out = mlci_cmd(&repo.root)
        .args(["ci", "--status"])
        .env("GITHUB_API_URL", job.api())
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
    job.verify();
}

/// A stateful stand-in for GitHub's comment store: what is POSTed is
/// listed by later GETs and changed by PATCHes.
#[derive(Clone, Default)]
struct CommentStore(std::sync::Arc<std::sync::Mutex<Vec<Value>>>);

impl wiremock::Respond for CommentStore {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut comments = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let repo_path = r.url.path().to_string();
        match r.method.as_str() {
            "GET" => ResponseTemplate::new(200).set_body_json(Value::Array(comments.clone())),
            "POST" => {
                let id = 1000 + comments.len() as u64;
                let c = full_comment(id, body["body"].as_str().unwrap_or(""), &repo_path);
                comments.push(c.clone());
                ResponseTemplate::new(201).set_body_json(c)
            }
            "PATCH" => {
                let id: u64 = repo_path.rsplit('/').next().unwrap().parse().unwrap();
                match comments.iter_mut().find(|c| c["id"] == id) {
                    Some(c) => {
                        c["body"] = body["body"].clone();
                        ResponseTemplate::new(200).set_body_json(c.clone())
                    }
                    None => {
                        ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
                    }
                }
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

/// An issue comment with every field GitHub's description requires.
fn full_comment(id: u64, body: &str, path: &str) -> Value {
    json!({
        "id": id,
        "node_id": "IC_test",
        "url": format!("https://api.github.example{path}"),
        "html_url": format!("https://github.example/pr#issuecomment-{id}"),
        "issue_url": "https://api.github.example/repos/o/r/issues/1",
        "body": body,
        "user": {
            "login": "github-actions[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
            "url": "https://api.github.com/users/github-actions%5Bbot%5D",
            "html_url": "https://github.com/apps/github-actions",
            "followers_url": "https://api.github.com/users/github-actions%5Bbot%5D/followers",
            "following_url": "https://api.github.com/users/github-actions%5Bbot%5D/following{/other_user}",
            "gists_url": "https://api.github.com/users/github-actions%5Bbot%5D/gists{/gist_id}",
            "starred_url": "https://api.github.com/users/github-actions%5Bbot%5D/starred{/owner}{/repo}",
            "subscriptions_url": "https://api.github.com/users/github-actions%5Bbot%5D/subscriptions",
            "organizations_url": "https://api.github.com/users/github-actions%5Bbot%5D/orgs",
            "repos_url": "https://api.github.com/users/github-actions%5Bbot%5D/repos",
            "events_url": "https://api.github.com/users/github-actions%5Bbot%5D/events{/privacy}",
            "received_events_url": "https://api.github.com/users/github-actions%5Bbot%5D/received_events",
            "type": "Bot", "site_admin": false
        },
        "created_at": "2026-11-25T00:00:00Z",
        "updated_at": "2026-11-25T00:00:00Z",
        "author_association": "NONE"
    })
}

/// Prism, with GitHub's published OpenAPI description (the operations mlci
/// calls), proxies to the stateful mock and validates every request; its
/// log must record no request violation across a new comment, an update
/// (PATCH), a status and a check run.
#[test]
fn every_request_passes_githubs_openapi_description_under_prism() {
    let (repo, base, head) = repo_on_a_branch();
    let (payload, n, repository) = pr_payload(&base, &head);
    let job = Job::new(&repository);
    let store = CommentStore::default();
    job.mount(Mock::given(path(comments_path(&repository, n))).respond_with(store.clone()));
    job.mount(
        Mock::given(method("PATCH"))
            .and(wiremock::matchers::path_regex(
                r"^/repos/[^/]+/[^/]+/issues/comments/\d+$",
            ))
            .respond_with(store.clone()),
    );
    job.mount(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(forbidden_user()),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/statuses/{head}")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "failure"}))),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repository}/check-runs")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1}))),
    );
    let mut prism = Prism::start(&job);
    let api = prism.api.clone();
    let first = job.run_at(
        &repo,
        "pull_request",
        &payload,
        &["--status", "--check-run"],
        &api,
    );
    let second = job.run_at(
        &repo,
        "pull_request",
        &payload,
        &["--status", "--check-run"],
        &api,
    );
    let text = prism.stop();
    for out in [&first, &second] {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(String::from_utf8_lossy(&first.stderr).contains("posted the report comment"));
    assert!(String::from_utf8_lossy(&second.stderr).contains("updated the report comment"));
    assert_eq!(store.0.lock().unwrap().len(), 1, "one sticky comment");
    for verb in ["\"get\"", "\"post\"", "\"patch\""] {
        assert!(
            text.contains(&format!("Forwarding {verb} request")),
            "prism saw no {verb}: {text}"
        );
    }
    // Two runs: comments listed twice, one POST, one PATCH, two statuses,
    // two check runs (/user is asked each time too).
    assert!(text.matches("Request received").count() >= 10, "{text}");
    assert_no_violations(&text);
}

/// Prism proxying GitHub's OpenAPI description to a job's mock; stopped by
/// [`Prism::stop`], which returns its log.
pub struct Prism {
    child: std::process::Child,
    pub api: String,
    log: PathBuf,
}

impl Prism {
    pub fn start(job: &Job) -> Prism {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_path = job.path("prism.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = std::process::Command::new(env_from_test_script("MLCI_TEST_PRISM"))
            .args([
                "proxy",
                &env_from_test_script("MLCI_TEST_GITHUB_OPENAPI"),
                &job.api(),
            ])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prism");
        let mut prism = Prism {
            child,
            api: format!("http://127.0.0.1:{port}"),
            log: log_path,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                let text = prism.stop();
                panic!("prism did not start: {text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        prism
    }

    /// Stops Prism and returns its log.
    pub fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prism's log records no request off GitHub's contract.
pub fn assert_no_violations(text: &str) {
    let violations: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("Violation: request")
                || l.contains("Request did not pass the validation rules")
        })
        .collect();
    assert!(
        violations.is_empty(),
        "requests off GitHub's contract:\n{}",
        violations.join("\n")
    );
}

/// The commit status and the check run say what `mlci gate` says on the
/// same run (a failing gate: failure), and a failed stage is never
/// published as a pass or as a neutral check a required check lets merge.
#[test]
fn the_status_and_check_run_say_what_the_outcome_says() {
    for (failing_stage, state, conclusion) in
        [(false, "failure", "failure"), (true, "error", "failure")]
    {
        let (repo, base, head) = repo_on_a_branch();
        if failing_stage {
            let yaml = repo
                .read("mlci.yaml")
                .replace("cp src.json metrics.json", "exit 4");
            repo.write("mlci.yaml", yaml);
            repo.commit_all("the stage fails");
        }
        let head = if failing_stage {
            repo.git(&["rev-parse", "HEAD"]).trim().to_string()
        } else {
            head
        };
        let mut push = example_payload("push", None);
        push["before"] = json!(base);
        push["after"] = json!(head);
        let repository = push["repository"]["full_name"]
            .as_str()
            .unwrap()
            .to_string();
        let job = Job::new(&repository);
        let want_state = state.to_string();
        job.mount(
            Mock::given(method("POST"))
                .and(path(format!("/repos/{repository}/statuses/{head}")))
                .and(move |r: &Request| {
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    v["state"] == want_state.as_str()
                })
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
                .expect(1),
        );
        let want_conclusion = conclusion.to_string();
        job.mount(
            Mock::given(method("POST"))
                .and(path(format!("/repos/{repository}/check-runs")))
                .and(move |r: &Request| {
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    v["conclusion"] == want_conclusion.as_str()
                })
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
                .expect(1),
        );
        let out = job.run(&repo, "push", &push, &["--status", "--check-run"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if failing_stage { 2 } else { 1 }),
            "{stderr}"
        );
        job.verify();
        assert!(job.read("output.txt").contains("passed=false\n"));
        // `mlci gate` on the workspace the run left says the same when the
        // pipeline ran (acc 0.7 fails); a failed stage is an error whatever
        // the gate says.
        if !failing_stage {
            let gate = repo.mlci(&["gate", "--base", &base]);
            assert_eq!(gate.code, 1, "{}", gate.stderr);
        }
    }
}
