//! Where reports and verdicts are published: a code forge's API. Only
//! GitHub exists so far ([`github`]); what is forge-neutral (the sticky
//! marker, fitting a body to the limit, verdicts) lives here. The forge
//! knows nothing of pipelines or metrics: it posts text and states.

pub mod github;

use http::{Method, StatusCode};

use crate::error::Hint;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("GitHub refused {method} {path} (403): {message}")]
    Forbidden {
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Http {
        status: StatusCode,
        method: Method,
        path: String,
        message: String,
    },
    #[error("GitHub rate limit: {method} {path} still limited after {tries} waits")]
    RateLimited {
        method: Method,
        path: String,
        tries: usize,
    },
    #[error("cannot reach the GitHub API at {api}: {message}")]
    Transport { api: String, message: String },
    #[error("{0}")]
    Config(String),
}

impl ForgeError {
    /// A read-only token (a fork's pull request): the expected refusal.
    pub fn is_read_only(&self) -> bool {
        matches!(self, ForgeError::Forbidden { message, .. }
            if message.contains("Resource not accessible by integration")
                || message.contains("Must have admin rights")
                || message.contains("not accessible"))
    }
}

impl Hint for ForgeError {
    fn hint(&self) -> Option<String> {
        match self {
            ForgeError::Forbidden { .. } => Some(
                "give the workflow's token `pull-requests: write` (and `statuses: write` for --status); a fork's pull request gets a read-only token: publish with a `workflow_run` workflow (`mlci ci --publish-from DIR`)".into(),
            ),
            ForgeError::Http { status, .. } if *status == StatusCode::UNAUTHORIZED => {
                Some("the token is missing or expired: pass `github-token` to the action or set GITHUB_TOKEN".into())
            }
            ForgeError::Transport { .. } => Some("check GITHUB_API_URL and the runner's network".into()),
            _ => None,
        }
    }
}

crate::register_hint!(ForgeError);

/// A code forge mlci publishes to: the sticky report comment, commit
/// statuses, check runs, and what a publisher must verify about a pull
/// request. GitHub is the first implementation ([`github::GitHub`]); a
/// second (GitLab) plugs in here without touching `mlci ci`.
pub trait Forge {
    /// Whose comments are mlci's own: the token's user when the token may
    /// say, else any bot account (see [`Author::AnyBot`]).
    fn identity(&self) -> Author;
    /// Updates the comment on pull request `pr` that carries `key`'s marker
    /// and is by `author`, else posts a new one.
    fn upsert_comment(
        &self,
        pr: u64,
        key: &str,
        report: &str,
        run_link: Option<&str>,
        author: &Author,
    ) -> Result<Posted, ForgeError>;
    /// Sets the commit status `context` on `sha`.
    fn set_status(
        &self,
        sha: &str,
        context: &str,
        verdict: Verdict,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), ForgeError>;
    /// Creates a check run `name` on `sha` with the report as its text.
    fn check_run(
        &self,
        sha: &str,
        name: &str,
        verdict: Verdict,
        title: &str,
        report: &str,
    ) -> Result<(), ForgeError>;
    /// The current head commit of pull request `pr`.
    fn pr_head_sha(&self, pr: u64) -> Result<String, ForgeError>;
    /// Records that `d.sha` is deployed to environment `d.environment`
    /// (a deployment and its `in_progress` status: the deploy job that
    /// follows reports how it ended, [`Forge::finish_deployment`]).
    /// Returns the deployment's id.
    fn record_deployment(&self, d: &Deployment) -> Result<u64, ForgeError>;
    /// Sets deployment `id`'s final status (`success` makes it the
    /// environment's active one; `failure`), linking `log_url`.
    fn finish_deployment(
        &self,
        id: u64,
        succeeded: bool,
        log_url: Option<&str>,
    ) -> Result<(), ForgeError>;
    /// Open pull requests into `base` whose head branch is a branch of this
    /// repository starting with `prefix` (a retraining run's own and the
    /// ones it supersedes). A fork's pull request is never listed, whatever
    /// its branch is called.
    fn open_prs(&self, base: &str, prefix: &str) -> Result<Vec<PullRequest>, ForgeError>;
    /// The pull requests of this repository's own branches that commit
    /// `sha` belongs to (a squash or rebase merge's commit names none in
    /// its message; the forge knows which pull request made it).
    fn prs_of_commit(&self, sha: &str) -> Result<Vec<PullRequest>, ForgeError>;
    /// Opens a pull request from `head` into `base`.
    fn create_pr(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError>;
    /// Replaces a pull request's title and body.
    fn update_pr(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError>;
    /// Adds labels to a pull request (existing ones stay).
    fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError>;
    /// Comments on a pull request, then closes it.
    fn close_pr(&self, number: u64, comment: &str) -> Result<(), ForgeError>;
    /// Enables auto-merge: the forge merges the pull request by `method`
    /// once its required checks pass.
    fn enable_auto_merge(&self, pr: &PullRequest, method: MergeMethod) -> Result<(), ForgeError>;
}

/// An open pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// GitHub's global id (GraphQL's `ID`).
    pub node_id: String,
    pub url: String,
    /// The head branch's name.
    pub head: String,
}

/// How an auto-merged pull request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

impl MergeMethod {
    /// GraphQL's `PullRequestMergeMethod` value.
    pub fn graphql(self) -> &'static str {
        match self {
            MergeMethod::Merge => "MERGE",
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Rebase => "REBASE",
        }
    }
}

/// A model version entering a stage, as a deployment to the environment
/// named by the stage.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The commit the registry tag points at (40 hex).
    pub sha: String,
    pub environment: String,
    /// `churn v1.2.0`, at most 140 characters.
    pub description: String,
    /// Kept with the deployment: artifact, version, stage, tag.
    pub payload: serde_json::Value,
    /// The run that made it (the status's log link).
    pub log_url: Option<String>,
}

/// Whose comment is mlci's own sticky report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// This login (the token's user, or `--comment-author`).
    Login(String),
    /// Any bot account (`…[bot]`): the token may not say who it is (the
    /// workflow's `GITHUB_TOKEN` and a GitHub App's installation token are
    /// refused `GET /user`) but posts as a bot, which no person's account can
    /// be. The marker still has to be the comment's exact first line.
    AnyBot,
}

impl Author {
    pub fn matches(&self, login: &str) -> bool {
        match self {
            Author::Login(l) => l == login,
            Author::AnyBot => login.ends_with("[bot]"),
        }
    }
}

/// The marker that makes a comment mlci's sticky report for `key`.
pub fn marker(key: &str) -> String {
    // The key comes from workflow names, `--comment-key` and matrix values:
    // nothing in it may end the HTML comment (`--`, `>`) or the line.
    let safe: String = key
        .chars()
        .map(|c| match c {
            '<' | '>' | '!' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let safe = safe.replace("--", "-_");
    format!("<!-- mlci:report key={safe} -->")
}

/// Whether `body` is `key`'s sticky report: its first line is exactly the
/// marker (mlci puts it there). A marker anywhere else is data (a metric
/// name can hold any text) and makes nothing sticky.
pub fn carries_marker(body: &str, key: &str) -> bool {
    body.lines()
        .next()
        .is_some_and(|first| first.trim_end_matches('\r') == marker(key))
}

/// Whether any line of `text` is the marker of `key` (a squash-merge's
/// message holds the pull request's body below its title).
pub fn carries_marker_anywhere(text: &str, key: &str) -> bool {
    let m = marker(key);
    text.lines().any(|l| l.trim_end_matches('\r') == m)
}

/// GitHub's limit on a comment body, in characters.
pub const BODY_LIMIT: usize = 65_536;

/// GitHub's limit on one step's job summary, in bytes: a larger summary is
/// dropped whole ("supports content up to a size of 1024k").
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Room kept in the job summary for the note that says it was cut.
pub const SUMMARY_NOTE_ROOM: usize = 512;

/// Whether `report` fits in a job summary whole (with room for the note).
pub fn fits_summary(report: &str) -> bool {
    report.len() < SUMMARY_LIMIT - SUMMARY_NOTE_ROOM
}

/// The comment body for `report`: marker first, cut to fit the limit with
/// a note pointing at the full report when too long: the job summary when
/// the report fits there, else the step's log (which always has it).
pub fn comment_body(key: &str, report: &str, run_link: Option<&str>, limit: usize) -> String {
    let head = format!("{}\n", marker(key));
    let full = format!("{head}{report}");
    if full.chars().count() <= limit {
        return full;
    }
    let place = if fits_summary(report) {
        "job summary"
    } else {
        "the step's log; it is too large for a job summary too"
    };
    let tail = match run_link {
        Some(link) => format!(
            "\n\n---\n*The report was cut to fit a comment; the full report is in the [workflow run]({link}) ({place}).*\n"
        ),
        None => format!(
            "\n\n---\n*The report was cut to fit a comment; the full report is in the workflow run ({place}).*\n"
        ),
    };
    let room = limit.saturating_sub(head.chars().count() + tail.chars().count());
    let cut: String = report.chars().take(room).collect();
    // Cut at a line end, so no Markdown table row or link is left half.
    let cut = match cut.rfind('\n') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => &cut[..],
    };
    format!("{head}{cut}{tail}")
}

/// The HTML tags mlci's own report template writes (folded sections); a
/// report from an untrusted run keeps these and no other tag.
const REPORT_TAGS: [&str; 4] = ["<details>", "</details>", "<summary>", "</summary>"];

/// A report written by a run this process does not trust (a fork's
/// artifact), made safe to post as a comment: cut to `limit` bytes at a
/// character boundary, every `<` that does not open one of the report's own
/// folding tags shown as text (so no raw HTML and no second sticky marker
/// `<!-- mlci:report … -->`), and every `@name` broken by a word joiner so
/// it mentions no one. Markdown itself (tables, links, code) is kept.
pub fn quarantine_report(report: &str, limit: usize) -> String {
    let mut end = report.len().min(limit);
    while !report.is_char_boundary(end) {
        end -= 1;
    }
    let text = &report[..end];
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(tag) = REPORT_TAGS.iter().find(|t| rest.starts_with(**t)) {
                out.push_str(tag);
                rest = &rest[tag.len()..];
                continue;
            }
            out.push_str("&lt;");
        } else if c == '@' && rest[1..].starts_with(|n: char| n.is_ascii_alphanumeric()) {
            out.push_str("@\u{2060}");
        } else if c == '\r' || (c.is_control() && c != '\n' && c != '\t') {
            out.push(' ');
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A commit status or check-run conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Error,
}

/// What publishing a comment did.
#[derive(Debug, Clone)]
pub struct Posted {
    pub url: String,
    pub updated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_cannot_end_the_marker_comment() {
        let m = marker("ml/train (a --> **boom**\n<!--)");
        assert_eq!(m.matches("-->").count(), 1, "{m}");
        assert!(m.ends_with(" -->") && !m.contains('\n'), "{m}");
        assert!(carries_marker(
            &format!("{m}\nreport"),
            "ml/train (a --> **boom**\n<!--)"
        ));
    }

    #[test]
    fn an_untrusted_report_keeps_its_folds_and_loses_html_markers_and_mentions() {
        let fork =
            "<!-- mlci:report key=security/audit -->\n<details><summary>2 params</summary>\n\
                    <img src=x onerror=alert(1)> cc @maintainer, mail a@b\n</details>\n";
        let safe = quarantine_report(fork, 1 << 20);
        assert_eq!(
            safe,
            "&lt;!-- mlci:report key=security/audit -->\n<details><summary>2 params</summary>\n\
             &lt;img src=x onerror=alert(1)> cc @\u{2060}maintainer, mail a@\u{2060}b\n</details>\n"
        );
        assert!(!carries_marker(&safe, "security/audit"));
        let cut = quarantine_report(&"é".repeat(10), 5);
        assert_eq!(cut, "éé", "cut at a character boundary");
    }

    #[test]
    fn bodies_fit_the_limit_and_keep_the_marker() {
        let report = "| a | b |\n".repeat(10_000);
        let body = comment_body("ci/job", &report, Some("https://x/run/1"), BODY_LIMIT);
        assert!(body.chars().count() <= BODY_LIMIT);
        assert!(body.starts_with("<!-- mlci:report key=ci/job -->\n"));
        assert!(body.contains("[workflow run](https://x/run/1)"));
        assert!(body.contains("| a | b |\n\n---"), "cut at a line end");
        let short = comment_body("k", "hello", None, BODY_LIMIT);
        assert_eq!(short, "<!-- mlci:report key=k -->\nhello");
        // Multi-byte characters count as one each and are never split.
        assert!(carries_marker(&short, "k"));
        assert!(!carries_marker(&short, "k2"));
        assert!(!carries_marker(&format!("x\n{short}"), "k"));
        assert!(!carries_marker("<!-- mlci:report key=k --> extra\n", "k"));
        let wide = "é".repeat(70_000);
        let body = comment_body("k", &wide, None, BODY_LIMIT);
        assert!(body.chars().count() <= BODY_LIMIT);
    }
}
