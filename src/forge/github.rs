//! GitHub's REST API through octocrab, pointed at `GITHUB_API_URL` (so
//! GitHub Enterprise and test servers work the same) and built on the one
//! reqwest client mlci uses (proxy settings of self-hosted runners apply).
//!
//! octocrab's raw `_get`/`_post`/`_patch` are used rather than its typed
//! endpoints: its `update_comment` sends POST where GitHub's API
//! description says PATCH, its models reject some valid answers, and its
//! retry ignores rate limits. Every request goes through `GitHub::send`,
//! which retries 429 and secondary-rate-limit 403 answers after
//! `retry-after` / `x-ratelimit-reset` (bounded, never spinning) and turns
//! everything else into a typed [`ForgeError`] without the token in it.

use std::time::Duration;

use http::{Method, StatusCode};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    carries_marker, comment_body, Author, Forge, ForgeError, MergeMethod, Posted, PullRequest,
    Verdict, BODY_LIMIT,
};

/// Retries of one request on rate limits, and the longest single wait.
const RATE_RETRIES: usize = 3;
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);
/// After a 422 for length the body is cut to this and sent once more.
const HARD_CUT: usize = 32_768;

/// One answer: status, headers and body text.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

pub struct GitHub {
    octo: Octocrab,
    rt: tokio::runtime::Runtime,
    api: String,
    /// `owner/name`.
    repo: String,
    token: String,
    max_wait: Duration,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

impl GitHub {
    /// A client for `repo` (`owner/name`) at `api` (e.g.
    /// `https://api.github.com`) with `token`.
    pub fn new(api: &str, repo: &str, token: &str) -> Result<GitHub, ForgeError> {
        if repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
            return Err(ForgeError::Config(format!(
                "GITHUB_REPOSITORY `{repo}` is not `owner/name`"
            )));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("mlci/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ForgeError::Config(format!("building the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ForgeError::Config(format!("starting the runtime: {e}")))?;
        // octocrab's service stack spawns its buffer task on build.
        let _runtime = rt.enter();
        let octo = Octocrab::builder()
            .base_uri(api.trim_end_matches('/'))
            .map_err(|e| ForgeError::Config(format!("GITHUB_API_URL `{api}`: {e}")))?
            .personal_token(token.to_string())
            .build_with_reqwest(client)
            .map_err(|e| ForgeError::Config(format!("building the GitHub client: {e}")))?;
        let max_wait = crate::environment::get("MLCI_GITHUB_MAX_WAIT")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_MAX_WAIT);
        Ok(GitHub {
            octo,
            rt,
            api: api.to_string(),
            repo: repo.to_string(),
            token: token.to_string(),
            max_wait,
        })
    }

    fn scrub(&self, text: &str) -> String {
        crate::secrets::scrub_known(text, &[&self.token])
    }

    /// Sends one request, waiting out rate limits.
    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, ForgeError> {
        let mut tries = 0;
        loop {
            let answer = self.rt.block_on(async {
                let res = match method {
                    Method::GET => self.octo._get(path).await,
                    Method::POST => self.octo._post(path, body).await,
                    Method::PATCH => self.octo._patch(path, body).await,
                    _ => unreachable!("mlci sends GET, POST and PATCH only"),
                };
                let res = res.map_err(|e| ForgeError::Transport {
                    api: self.api.clone(),
                    message: self.scrub(&e.to_string()),
                })?;
                let status = res.status();
                let headers = res.headers().clone();
                let body = self.octo.body_to_string(res).await.unwrap_or_default();
                Ok::<_, ForgeError>(Answer {
                    status,
                    headers,
                    body,
                })
            })?;
            if let Some(wait) = rate_limit_wait(&answer) {
                tries += 1;
                if tries > RATE_RETRIES {
                    return Err(ForgeError::RateLimited {
                        method,
                        path: path.to_string(),
                        tries: RATE_RETRIES,
                    });
                }
                std::thread::sleep(wait.clamp(Duration::from_secs(1), self.max_wait));
                continue;
            }
            if answer.status.is_success() {
                return Ok(answer);
            }
            let message = serde_json::from_str::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| answer.body.chars().take(300).collect());
            // Scrubbed once whole, detail list included.
            let message = self.scrub(&format!("{message}{}", errors_detail(&answer.body)));
            return Err(if answer.status == StatusCode::FORBIDDEN {
                ForgeError::Forbidden {
                    method,
                    path: path.to_string(),
                    message,
                }
            } else {
                ForgeError::Http {
                    status: answer.status,
                    method,
                    path: path.to_string(),
                    message,
                }
            });
        }
    }

    /// The comment on `pr` carrying `key`'s marker by `author`, across all
    /// pages of the pull request's comments.
    fn find_comment(
        &self,
        pr: u64,
        key: &str,
        author: &Author,
    ) -> Result<Option<Comment>, ForgeError> {
        for page in 1.. {
            let path = format!(
                "/repos/{}/issues/{pr}/comments?per_page=100&page={page}",
                self.repo
            );
            let comments: Vec<Comment> = self.get_json(&path)?;
            let n = comments.len();
            if let Some(c) = comments.into_iter().find(|c| {
                c.user.as_ref().is_some_and(|u| author.matches(&u.login))
                    && c.body.as_deref().is_some_and(|b| carries_marker(b, key))
            }) {
                return Ok(Some(c));
            }
            if n < 100 {
                break;
            }
        }
        Ok(None)
    }
}

impl Forge for GitHub {
    /// The token's user; a token refused `GET /user` (the workflow's own,
    /// a GitHub App's installation token) posts as some bot.
    fn identity(&self) -> Author {
        self.send(Method::GET, "/user", None)
            .ok()
            .and_then(|a| serde_json::from_str::<User>(&a.body).ok())
            .map_or(Author::AnyBot, |u| Author::Login(u.login))
    }

    /// Creates or updates the one sticky report comment of `key` on `pr`.
    fn upsert_comment(
        &self,
        pr: u64,
        key: &str,
        report: &str,
        run_link: Option<&str>,
        author: &Author,
    ) -> Result<Posted, ForgeError> {
        let existing = self.find_comment(pr, key, author)?;
        let mut body = comment_body(key, report, run_link, BODY_LIMIT);
        for attempt in 0..2 {
            let result = match &existing {
                Some(c) => self.send(
                    Method::PATCH,
                    &format!("/repos/{}/issues/comments/{}", self.repo, c.id),
                    Some(&json!({ "body": body })),
                ),
                None => self.send(
                    Method::POST,
                    &format!("/repos/{}/issues/{pr}/comments", self.repo),
                    Some(&json!({ "body": body })),
                ),
            };
            match result {
                Ok(answer) => {
                    let url = serde_json::from_str::<Comment>(&answer.body)
                        .map(|c| c.html_url)
                        .unwrap_or_default();
                    return Ok(Posted {
                        url,
                        updated: existing.is_some(),
                    });
                }
                Err(ForgeError::Http { status, .. })
                    if status == StatusCode::UNPROCESSABLE_ENTITY && attempt == 0 =>
                {
                    body = comment_body(key, report, run_link, HARD_CUT);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// Sets the commit status `context` on `sha`.
    fn set_status(
        &self,
        sha: &str,
        context: &str,
        verdict: Verdict,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), ForgeError> {
        let state = match verdict {
            Verdict::Passed => "success",
            Verdict::Failed => "failure",
            Verdict::Error => "error",
        };
        let description: String = description.chars().take(140).collect();
        let mut body = json!({ "state": state, "context": context, "description": description });
        if let Some(url) = target_url {
            body["target_url"] = json!(url);
        }
        self.send(
            Method::POST,
            &format!("/repos/{}/statuses/{sha}", self.repo),
            Some(&body),
        )?;
        Ok(())
    }

    /// Creates a completed check run `name` on `sha` with the report as its
    /// summary (opt-in: it needs `checks: write`).
    fn check_run(
        &self,
        sha: &str,
        name: &str,
        verdict: Verdict,
        title: &str,
        report: &str,
    ) -> Result<(), ForgeError> {
        // An error is a failure: a required check concluding `neutral`
        // would let a pull request whose pipeline failed merge.
        let conclusion = match verdict {
            Verdict::Passed => "success",
            Verdict::Failed | Verdict::Error => "failure",
        };
        let summary: String = report.chars().take(BODY_LIMIT - 1).collect();
        self.send(
            Method::POST,
            &format!("/repos/{}/check-runs", self.repo),
            Some(&json!({
                "name": name,
                "head_sha": sha,
                "status": "completed",
                "conclusion": conclusion,
                "output": { "title": title, "summary": summary },
            })),
        )?;
        Ok(())
    }

    fn record_deployment(&self, d: &super::Deployment) -> Result<u64, ForgeError> {
        self.deploy(d)
    }

    fn finish_deployment(
        &self,
        id: u64,
        succeeded: bool,
        log_url: Option<&str>,
    ) -> Result<(), ForgeError> {
        let mut status = json!({
            "state": if succeeded { "success" } else { "failure" },
            "auto_inactive": succeeded,
        });
        if let Some(url) = log_url {
            status["log_url"] = json!(url);
        }
        self.send(
            Method::POST,
            &format!("/repos/{}/deployments/{id}/statuses", self.repo),
            Some(&status),
        )?;
        Ok(())
    }

    fn open_prs(&self, base: &str, prefix: &str) -> Result<Vec<PullRequest>, ForgeError> {
        let mut out = Vec::new();
        // Bounded: 10 pages of 100 open pull requests into one base.
        for page in 1..=10 {
            let path = format!(
                "/repos/{}/pulls?state=open&base={}&per_page=100&page={page}",
                self.repo,
                query_escape(base)
            );
            let list: Vec<Value> = self.get_json(&path)?;
            let n = list.len();
            out.extend(self.own_prs(&list).filter(|p| p.head.starts_with(prefix)));
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    fn prs_of_commit(&self, sha: &str) -> Result<Vec<PullRequest>, ForgeError> {
        let path = format!("/repos/{}/commits/{}/pulls", self.repo, query_escape(sha));
        let list: Vec<Value> = self.get_json(&path)?;
        Ok(self.own_prs(&list).collect())
    }

    fn create_pr(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError> {
        let path = format!("/repos/{}/pulls", self.repo);
        let answer = self.send(
            Method::POST,
            &path,
            Some(&json!({ "title": title, "head": head, "base": base, "body": body, "maintainer_can_modify": false })),
        )?;
        serde_json::from_str::<Value>(&answer.body)
            .ok()
            .as_ref()
            .and_then(pull_request)
            .ok_or_else(|| ForgeError::Http {
                status: answer.status,
                method: Method::POST,
                path,
                message: "no pull request in the answer".into(),
            })
    }

    fn update_pr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        self.send(
            Method::PATCH,
            &format!("/repos/{}/pulls/{number}", self.repo),
            Some(&json!({ "title": title, "body": body })),
        )?;
        Ok(())
    }

    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        self.send(
            Method::POST,
            &format!("/repos/{}/issues/{number}/labels", self.repo),
            Some(&json!({ "labels": labels })),
        )?;
        Ok(())
    }

    fn close_pr(&self, number: u64, comment: &str) -> Result<(), ForgeError> {
        self.send(
            Method::POST,
            &format!("/repos/{}/issues/{number}/comments", self.repo),
            Some(&json!({ "body": comment })),
        )?;
        self.send(
            Method::PATCH,
            &format!("/repos/{}/pulls/{number}", self.repo),
            Some(&json!({ "state": "closed" })),
        )?;
        Ok(())
    }

    fn enable_auto_merge(&self, pr: &PullRequest, method: MergeMethod) -> Result<(), ForgeError> {
        let body = json!({
            "query": ENABLE_AUTO_MERGE,
            "variables": { "pullRequestId": pr.node_id, "mergeMethod": method.graphql() },
        });
        let path = self.graphql_path();
        let answer = self.send(Method::POST, &path, Some(&body))?;
        // GraphQL reports failures in a 200 answer.
        let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| e["message"].as_str().unwrap_or("an error").to_string())
                .collect();
            return Err(ForgeError::Http {
                status: answer.status,
                method: Method::POST,
                path,
                message: self.scrub(&messages.join("; ")),
            });
        }
        Ok(())
    }

    /// The head sha of pull request `pr` (the publisher checks it against
    /// the triggering run before it posts).
    fn pr_head_sha(&self, pr: u64) -> Result<String, ForgeError> {
        let path = format!("/repos/{}/pulls/{pr}", self.repo);
        let answer = self.send(Method::GET, &path, None)?;
        serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["head"]["sha"].as_str().map(str::to_string))
            .ok_or_else(|| ForgeError::Http {
                status: answer.status,
                method: Method::GET,
                path,
                message: "no head sha in the answer".into(),
            })
    }
}

impl GitHub {
    /// POST /repos/{owner}/{repo}/deployments, then its `success` status.
    /// `required_contexts: []`: the merge gate already ran on this commit,
    /// and a deployment must not wait for statuses a tag push never gets.
    fn deploy(&self, d: &super::Deployment) -> Result<u64, ForgeError> {
        let description: String = d.description.chars().take(140).collect();
        let path = format!("/repos/{}/deployments", self.repo);
        let answer = self.send(
            Method::POST,
            &path,
            Some(&json!({
                "ref": d.sha,
                "environment": d.environment,
                "description": description,
                "payload": d.payload,
                "auto_merge": false,
                "required_contexts": [],
                "production_environment": d.environment == "prod" || d.environment == "production",
            })),
        )?;
        let id = serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["id"].as_u64())
            .ok_or_else(|| ForgeError::Http {
                status: answer.status,
                method: Method::POST,
                path: path.clone(),
                message: "no deployment id in the answer".into(),
            })?;
        // In progress until the deploy job says how it ended: the
        // environment's page never shows a version as live that is not.
        let mut status = json!({
            "state": "in_progress",
            "description": description,
            "environment": d.environment,
        });
        if let Some(url) = &d.log_url {
            status["log_url"] = json!(url);
        }
        self.send(
            Method::POST,
            &format!("{path}/{id}/statuses"),
            Some(&status),
        )?;
        Ok(id)
    }
}

/// GraphQL's `enablePullRequestAutoMerge` (validated against GitHub's
/// published schema in the tests).
pub const ENABLE_AUTO_MERGE: &str = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!) { enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod}) { pullRequest { number autoMergeRequest { enabledAt } } } }";

impl GitHub {
    /// `GET path`, its body read as JSON of type `T`.
    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ForgeError> {
        let answer = self.send(Method::GET, path, None)?;
        serde_json::from_str(&answer.body).map_err(|e| ForgeError::Http {
            status: answer.status,
            method: Method::GET,
            path: path.to_string(),
            message: format!("unexpected answer: {e}"),
        })
    }

    /// The pull requests in `list` whose head branch is in this repository:
    /// a fork's pull request may name its branch like ours
    /// (`evil:mlci/retrain/…`), and must never be taken for one of ours.
    fn own_prs<'a>(&'a self, list: &'a [Value]) -> impl Iterator<Item = PullRequest> + 'a {
        list.iter()
            .filter(|v| {
                v["head"]["repo"]["full_name"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(&self.repo))
            })
            .filter_map(pull_request)
    }

    /// GraphQL's endpoint: `/graphql` beside GitHub's REST root, or
    /// `/api/graphql` on GitHub Enterprise Server (REST at `/api/v3`).
    fn graphql_path(&self) -> String {
        let api = self.api.trim_end_matches('/');
        match api.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => "/graphql".into(),
        }
    }
}

/// An open pull request from GitHub's JSON.
fn pull_request(v: &Value) -> Option<PullRequest> {
    Some(PullRequest {
        number: v["number"].as_u64()?,
        node_id: v["node_id"].as_str().unwrap_or_default().to_string(),
        url: v["html_url"].as_str().unwrap_or_default().to_string(),
        head: v["head"]["ref"].as_str()?.to_string(),
    })
}

/// Percent-encodes a query value (branch names may hold `/`, `#`, `&`).
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// How long to wait before retrying, when the answer is a rate limit:
/// 429, or 403 with `retry-after`, no requests remaining, or GitHub's
/// secondary-limit message.
fn rate_limit_wait(a: &Answer) -> Option<Duration> {
    let header = |name: &str| {
        a.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let limited = a.status == StatusCode::TOO_MANY_REQUESTS
        || (a.status == StatusCode::FORBIDDEN
            && (header("retry-after").is_some()
                || header("x-ratelimit-remaining") == Some(0)
                || a.body.contains("secondary rate limit")));
    if !limited {
        return None;
    }
    if let Some(secs) = header("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if let Some(reset) = header("x-ratelimit-reset") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    // GitHub's advice without a header: at least a minute.
    Some(Duration::from_secs(60))
}

/// GitHub's `errors` array (validation failures), for the message.
fn errors_detail(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    match v["errors"].as_array() {
        Some(list) if !list.is_empty() => {
            let parts: Vec<String> = list
                .iter()
                .map(|e| {
                    e["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ => String::new(),
    }
}
