//! The suite's one stateful fake of GitHub's REST and GraphQL API, for the
//! tests that need GitHub to remember (the workflows, retraining): what is
//! posted is listed by later reads and changed by later writes, and every
//! write keeps the token it came with. Tests that pin exact requests and
//! call counts use wiremock's strict matchers instead (github.rs).
//!
//! It serves, for one repository: issue comments (list, create, update),
//! commit statuses, deployments and their statuses, pull requests (list
//! the open ones, create, read, update), labels, the pull requests of a
//! commit, `GET /user` (refused, as for an installation token) and
//! GraphQL's auto-merge mutation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

/// GitHub's side of one repository, shared with the test.
#[derive(Clone)]
pub struct FakeGitHub(pub Arc<Mutex<State>>);

/// What the fake holds; tests read it after a run.
#[derive(Default)]
pub struct State {
    /// `owner/name`.
    pub repository: String,
    /// Issue comments: `id`, `issue`, `body`, `user`, `html_url`.
    pub comments: Vec<Value>,
    /// (sha, state, context, token)
    pub statuses: Vec<(String, String, String, String)>,
    pub deployments: Vec<Value>,
    /// (deployment id, state)
    pub deployment_states: Vec<(u64, String)>,
    /// Pull requests opened (numbered from 1), each with the `token` that
    /// opened it.
    pub prs: Vec<Value>,
    /// (pull request, labels) as added.
    pub labels: Vec<(u64, Vec<String>)>,
    /// GraphQL request bodies, and the token of each.
    pub graphql: Vec<Value>,
    pub graphql_tokens: Vec<String>,
    /// PATCHes of pull requests.
    pub patches: usize,
    /// The head commit of a pull request another repository's run refers
    /// to (the publisher's check), by number.
    pub heads: BTreeMap<u64, String>,
    /// A fork's bare repository: when set, the open pull requests also hold
    /// a fork's (#66, `evil/…`) for every `mlci/retrain/…` branch of it,
    /// named exactly like ours.
    pub lookalike_of: Option<PathBuf>,
}

impl FakeGitHub {
    pub fn new(repository: &str) -> FakeGitHub {
        FakeGitHub(Arc::new(Mutex::new(State {
            repository: repository.into(),
            ..State::default()
        })))
    }

    /// Serves it at `server` for every path.
    pub fn mount(&self, rt: &tokio::runtime::Runtime, server: &wiremock::MockServer) {
        rt.block_on(
            wiremock::Mock::given(wiremock::matchers::any())
                .respond_with(self.clone())
                .mount(server),
        );
    }
}

fn token_of(r: &Request) -> String {
    r.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .to_string()
}

impl Respond for FakeGitHub {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = r.url.path().to_string();
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let token = token_of(r);
        let repo = s.repository.clone();
        let rest = path
            .strip_prefix(&format!("/repos/{repo}"))
            .unwrap_or(&path)
            .to_string();
        let method = r.method.as_str();
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let ok = |code: u16, v: Value| ResponseTemplate::new(code).set_body_json(v);
        match (method, parts.as_slice()) {
            ("GET", ["issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap();
                ok(
                    200,
                    Value::Array(
                        s.comments
                            .iter()
                            .filter(|c| c["issue"] == n)
                            .cloned()
                            .collect(),
                    ),
                )
            }
            ("POST", ["issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap();
                let id = 100 + s.comments.len() as u64;
                let c = json!({"id": id, "issue": n, "body": body["body"],
                    "html_url": format!("https://github.example/{repo}/pull/{n}#issuecomment-{id}"),
                    "user": {"login": "github-actions[bot]", "type": "Bot"}});
                s.comments.push(c.clone());
                ok(201, c)
            }
            ("PATCH", ["issues", "comments", id]) => {
                let id: u64 = id.parse().unwrap();
                match s.comments.iter_mut().find(|c| c["id"] == id) {
                    Some(c) => {
                        c["body"] = body["body"].clone();
                        ok(200, c.clone())
                    }
                    None => ok(404, json!({"message": "Not Found"})),
                }
            }
            ("POST", ["issues", n, "labels"]) => {
                let labels: Vec<String> = body["labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect();
                s.labels.push((n.parse().unwrap(), labels.clone()));
                ok(
                    200,
                    labels.iter().map(|l| json!({"id": 1, "name": l})).collect(),
                )
            }
            ("POST", ["statuses", sha]) => {
                s.statuses.push((
                    sha.to_string(),
                    body["state"].as_str().unwrap().into(),
                    body["context"].as_str().unwrap().into(),
                    token,
                ));
                ok(201, json!({"id": 1, "state": body["state"]}))
            }
            ("POST", ["deployments"]) => {
                let id = 500 + s.deployments.len() as u64;
                let mut d = body.clone();
                d["id"] = json!(id);
                s.deployments.push(d.clone());
                ok(201, d)
            }
            ("POST", ["deployments", id, "statuses"]) => {
                s.deployment_states
                    .push((id.parse().unwrap(), body["state"].as_str().unwrap().into()));
                ok(201, json!({"id": 1, "state": body["state"]}))
            }
            // The pull requests of a commit: a squash-merged retraining pull
            // request (#7) for a commit named `5quash…`, none for any other.
            ("GET", ["commits", sha, "pulls"]) => ok(
                200,
                if sha.starts_with("5quash") {
                    json!([{"number": 7, "node_id": "PR_7", "html_url": "https://github.example/pull/7", "state": "closed",
                            "head": {"ref": "mlci/retrain/0123abcd", "repo": {"full_name": repo}}}])
                } else {
                    json!([])
                },
            ),
            ("GET", ["pulls"]) => {
                let mut open: Vec<Value> = s
                    .prs
                    .iter()
                    .filter(|p| p["state"] == "open")
                    .cloned()
                    .collect();
                if let Some(bare) = &s.lookalike_of {
                    open.extend(lookalikes(bare, &repo));
                }
                ok(200, Value::Array(open))
            }
            ("POST", ["pulls"]) => {
                let n = s.prs.len() as u64 + 1;
                let pr = json!({
                    "number": n, "id": n, "node_id": format!("PR_node{n}"), "state": "open",
                    "html_url": format!("https://github.example/{repo}/pull/{n}"),
                    "url": format!("https://api.github.example/repos/{repo}/pulls/{n}"),
                    "title": body["title"], "body": body["body"], "token": token,
                    "head": {"ref": body["head"], "sha": "0".repeat(40), "repo": {"full_name": repo}},
                    "base": {"ref": body["base"], "repo": {"full_name": repo}},
                });
                s.prs.push(pr.clone());
                ok(201, pr)
            }
            ("GET", ["pulls", n]) => {
                let n: u64 = n.parse().unwrap();
                match s.heads.get(&n) {
                    Some(h) => ok(200, json!({"number": n, "head": {"sha": h}})),
                    None => match s.prs.get(n as usize - 1) {
                        Some(pr) => ok(200, pr.clone()),
                        None => ok(404, json!({"message": "Not Found"})),
                    },
                }
            }
            ("PATCH", ["pulls", n]) => {
                let n: usize = n.parse().unwrap();
                s.patches += 1;
                let pr = &mut s.prs[n - 1];
                for k in ["title", "body", "state"] {
                    if !body[k].is_null() {
                        pr[k] = body[k].clone();
                    }
                }
                ok(200, pr.clone())
            }
            ("POST", ["graphql"]) => {
                s.graphql.push(body);
                s.graphql_tokens.push(token);
                ok(
                    200,
                    json!({"data": {"enablePullRequestAutoMerge": {"pullRequest": {"number": 1, "autoMergeRequest": {"enabledAt": "2026-11-30T00:00:00Z"}}}}}),
                )
            }
            ("GET", ["user"]) => ok(
                403,
                json!({"message": "Resource not accessible by integration"}),
            ),
            _ => ok(
                404,
                json!({"message": format!("the fake has no {method} {path}")}),
            ),
        }
    }
}

/// A fork's open pull request (#66) for each retraining branch of `bare`.
fn lookalikes(bare: &std::path::Path, repo: &str) -> Vec<Value> {
    crate::common::git_bare(
        bare,
        &[
            "for-each-ref",
            "--format=%(refname:strip=2)",
            "refs/heads/mlci/retrain/",
        ],
    )
    .lines()
    .map(|branch| {
        json!({
            "number": 66, "node_id": "PR_fork66", "state": "open",
            "html_url": format!("https://github.example/{repo}/pull/66"),
            "head": {"ref": branch, "label": format!("evil:{branch}"), "sha": "1".repeat(40),
                     "repo": {"full_name": "evil/churn", "fork": true}},
            "base": {"ref": "main", "repo": {"full_name": repo}},
        })
    })
    .collect()
}
