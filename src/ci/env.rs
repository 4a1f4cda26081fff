//! The CI run's environment, read once: which event ran, on which pull
//! request and commits, what to compare with, where the API and the run's
//! page are, and the files a step writes its summary and outputs to. Only
//! GitHub Actions exists so far; the rest of mlci asks this type, never the
//! process environment. It knows nothing of pipelines.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The CI run this process is a step of. Outside GitHub Actions it still
/// carries the event when `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH` name
/// one (a local rehearsal of a CI run), but nothing is published.
#[derive(Debug, Clone, Default)]
pub struct CiEnv {
    /// Whether this is a step of GitHub Actions (`GITHUB_ACTIONS=true`):
    /// only then are the summary, outputs, annotations and fences written.
    pub actions: bool,
    pub event_name: String,
    /// The event payload (`GITHUB_EVENT_PATH`), `Null` when unreadable.
    pub payload: Value,
    /// `owner/name`.
    pub repository: Option<String>,
    pub api_url: String,
    pub server_url: String,
    pub run_id: Option<String>,
    /// The commit the workflow runs on (`GITHUB_SHA`).
    pub sha: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    pub runner_temp: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: Markdown appended here shows on the run's page.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`: `key=value` lines become the step's outputs.
    pub output: Option<PathBuf>,
    /// `GITHUB_TOKEN`, the default publishing token.
    pub token: Option<Token>,
    /// Which leg of a job that runs several times in one workflow run (a
    /// matrix): `MLCI_JOB_LEG`, else the values of `MLCI_MATRIX` (the
    /// action passes `toJSON(matrix)`), joined by `, `. None for a job that
    /// runs once.
    pub leg: Option<String>,
    /// `GITHUB_REF`: `refs/heads/main`, `refs/tags/churn#prod#3`, …
    pub git_ref: Option<String>,
}

/// A token that never shows in `{:?}`.
#[derive(Clone)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Whether this process runs as a step of GitHub Actions.
pub fn in_actions() -> bool {
    crate::environment::get("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// The revision an event says to compare with, how to name it in the
/// report, and why it is the base (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBase {
    /// A pull request: the merge-base of these two commits; `base_ref` is
    /// the base branch when the payload names it.
    MergeBase {
        base: String,
        head: String,
        base_ref: Option<String>,
    },
    /// A commit to compare with as it is.
    Commit {
        sha: String,
        label: String,
        why: String,
    },
}

impl CiEnv {
    /// Reads the environment.
    pub fn from_env() -> CiEnv {
        let var = crate::environment::get;
        let payload = var("GITHUB_EVENT_PATH")
            .and_then(|p| fs_err::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        CiEnv {
            actions: in_actions(),
            event_name: var("GITHUB_EVENT_NAME").unwrap_or_default(),
            payload,
            repository: var("GITHUB_REPOSITORY"),
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            run_id: var("GITHUB_RUN_ID"),
            sha: var("GITHUB_SHA"),
            workflow: var("GITHUB_WORKFLOW"),
            job: var("GITHUB_JOB"),
            runner_temp: var("RUNNER_TEMP").map(PathBuf::from),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            token: var("GITHUB_TOKEN").map(Token),
            leg: var("MLCI_JOB_LEG").or_else(|| var("MLCI_MATRIX").and_then(|m| matrix_leg(&m))),
            git_ref: var("GITHUB_REF"),
        }
    }

    /// The tag a `push` event pushed (the payload's `ref`, else
    /// `GITHUB_REF`), without `refs/tags/`.
    pub fn pushed_tag(&self) -> Option<String> {
        if self.event_name != "push" {
            return None;
        }
        let r = self.payload["ref"]
            .as_str()
            .map(str::to_string)
            .or_else(|| self.git_ref.clone())?;
        r.strip_prefix("refs/tags/").map(str::to_string)
    }

    /// The repository's default branch, as the event payload names it.
    pub fn default_branch(&self) -> Option<String> {
        self.payload["repository"]["default_branch"]
            .as_str()
            .map(str::to_string)
    }

    pub fn is_pull_request(&self) -> bool {
        matches!(
            self.event_name.as_str(),
            "pull_request" | "pull_request_target"
        )
    }

    /// Whether this run is a pull request from a fork: its head repository
    /// differs from the base repository (the payload's
    /// `pull_request.head.repo.full_name` and `base.repo.full_name`). Only
    /// such a run has no secrets by design; anywhere else a refused
    /// credential is a fault to report, not a state to degrade to.
    pub fn from_fork(&self) -> bool {
        if !self.is_pull_request() {
            return false;
        }
        let pr = &self.payload["pull_request"];
        match (
            pr["head"]["repo"]["full_name"].as_str(),
            pr["base"]["repo"]["full_name"].as_str(),
        ) {
            (Some(head), Some(base)) => head != base,
            // A deleted fork has no head repository.
            (None, Some(_)) => pr["head"]["repo"].is_null() && pr["head"].is_object(),
            _ => pr["head"]["repo"]["fork"].as_bool().unwrap_or(false),
        }
    }

    /// The forge this run publishes to with `token`: GitHub at the
    /// run's API URL, for the run's repository.
    pub fn forge(
        &self,
        token: &str,
    ) -> Result<Box<dyn crate::forge::Forge>, crate::forge::ForgeError> {
        let Some(repository) = &self.repository else {
            return Err(crate::forge::ForgeError::Config(
                "GITHUB_REPOSITORY is not set: mlci publishes from a GitHub Actions job".into(),
            ));
        };
        Ok(Box::new(crate::forge::github::GitHub::new(
            &self.api_url,
            repository,
            token,
        )?))
    }

    /// The pull request number, for pull request events.
    pub fn pr_number(&self) -> Option<u64> {
        if !self.is_pull_request() {
            return None;
        }
        self.payload["pull_request"]["number"]
            .as_u64()
            .or_else(|| self.payload["number"].as_u64())
    }

    /// The commit a status belongs on: the PR's head (never the invisible
    /// merge commit), the merge group's head, or the pushed commit.
    pub fn status_sha(&self) -> Option<String> {
        let s = |v: &Value| v.as_str().map(str::to_string);
        match self.event_name.as_str() {
            "pull_request" | "pull_request_target" => {
                s(&self.payload["pull_request"]["head"]["sha"])
            }
            "merge_group" => s(&self.payload["merge_group"]["head_sha"]),
            "push" => s(&self.payload["after"]).or_else(|| self.sha.clone()),
            "workflow_run" => s(&self.payload["workflow_run"]["head_sha"]),
            _ => self.sha.clone(),
        }
    }

    /// What the event says to compare with (docs/design.md §5): for a pull
    /// request the merge-base of its base and head, for a push the commit
    /// before it, for a merge group its base. Of a pull request's payload
    /// only `number`, `head.sha` and `base.sha` are relied on; `base.ref`
    /// names the base when present.
    pub fn base(&self) -> Option<EventBase> {
        let sha = |v: &Value| {
            v.as_str()
                .filter(|s| !s.chars().all(|c| c == '0'))
                .map(str::to_string)
        };
        let branch = |v: &Value| {
            v.as_str()
                .map(|r| r.trim_start_matches("refs/heads/").to_string())
                .filter(|r| !r.is_empty())
        };
        let p = &self.payload;
        match self.event_name.as_str() {
            "pull_request" | "pull_request_target" => Some(EventBase::MergeBase {
                base: sha(&p["pull_request"]["base"]["sha"])?,
                head: sha(&p["pull_request"]["head"]["sha"])?,
                base_ref: branch(&p["pull_request"]["base"]["ref"]),
            }),
            "push" => Some(EventBase::Commit {
                sha: sha(&p["before"])?,
                label: "previous head".into(),
                why: "the commit before the push".into(),
            }),
            "merge_group" => {
                let sha = sha(&p["merge_group"]["base_sha"])?;
                let label = branch(&p["merge_group"]["base_ref"]).unwrap_or_else(|| short(&sha));
                Some(EventBase::Commit {
                    sha,
                    label,
                    why: "the merge group's base".into(),
                })
            }
            _ => None,
        }
    }

    /// The link to this workflow run.
    pub fn run_link(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_ref()?,
            self.run_id.as_ref()?
        ))
    }

    /// The link to a commit of this repository.
    pub fn commit_link(&self, sha: &str) -> Option<String> {
        Some(format!(
            "{}/{}/commit/{sha}",
            self.server_url,
            self.repository.as_ref()?
        ))
    }

    /// The sticky comment's key: `$GITHUB_WORKFLOW/$GITHUB_JOB`.
    pub fn default_key(&self) -> String {
        format!(
            "{}/{}{}",
            self.workflow.as_deref().unwrap_or("mlci"),
            self.job.as_deref().unwrap_or("ci"),
            self.leg_suffix()
        )
    }

    /// The comment key of a `workflow_run` publisher: the triggering
    /// workflow's name (GitHub's, from the payload), then this job's leg.
    /// Nothing from the published artifact chooses it.
    pub fn publisher_key(&self, triggering_workflow: Option<&str>) -> String {
        format!(
            "{}{}",
            triggering_workflow.unwrap_or("mlci"),
            self.leg_suffix()
        )
    }

    /// ` (leg)` for a leg of a matrix job, else empty.
    fn leg_suffix(&self) -> String {
        self.leg
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default()
    }

    /// The commit status context: `mlci/gate`, one per leg of a matrix job
    /// (`mlci/gate (py3.11, linux)`), so a leg that passes never turns
    /// another leg's failure into success.
    pub fn status_context(&self) -> String {
        format!("mlci/gate{}", self.leg_suffix())
    }

    /// The check run's name, one per leg like the status context.
    pub fn check_run_name(&self) -> String {
        format!("mlci{}", self.leg_suffix())
    }

    /// Where the report file goes by default (`$RUNNER_TEMP/mlci-report.md`).
    pub fn report_file(&self) -> Option<PathBuf> {
        self.runner_temp.as_ref().map(|t| t.join("mlci-report.md"))
    }

    /// Where the artifact for a `workflow_run` publisher goes by default.
    pub fn artifact_dir(&self) -> Option<PathBuf> {
        self.runner_temp.as_ref().map(|t| t.join("mlci-publish"))
    }

    /// Appends `text` to the job summary, when the runner gave one.
    /// A text over GitHub's limit is cut at a line end, with a note that
    /// the full report is in the step's log (GitHub would drop the whole
    /// summary otherwise). Returns whether it was cut.
    /// Credentials of a known shape are masked first
    /// ([`crate::secrets::scrub_shapes`]): the summary is an output too.
    pub fn append_summary(&self, text: &str) -> std::io::Result<bool> {
        let Some(path) = &self.step_summary else {
            return Ok(false);
        };
        let text = crate::secrets::scrub_shapes(text);
        let text = text.as_ref();
        // What this step already wrote counts toward the same limit.
        let used = fs_err::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let room = crate::forge::SUMMARY_LIMIT
            .saturating_sub(used)
            .saturating_sub(crate::forge::SUMMARY_NOTE_ROOM);
        if text.len() < room {
            append(path, &format!("{text}\n"))?;
            return Ok(false);
        }
        let mut cut = room.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let kept = match text[..cut].rfind('\n') {
            Some(i) => &text[..i],
            None => &text[..cut],
        };
        append(
            path,
            &format!(
                "{kept}\n\n---\n*The report was cut to fit the job summary (GitHub drops a step summary over 1 MiB); the full report is in this step's log and in the report file (`report-path` output).*\n"
            ),
        )?;
        Ok(true)
    }

    /// Sets the step's outputs (`key=value` lines; values are single-line).
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (k, v) in outputs {
            let v = crate::secrets::scrub_shapes(v);
            text.push_str(&format!("{k}={}\n", v.replace(['\n', '\r'], " ")));
        }
        append(path, &text)
    }
}

/// A matrix leg from `toJSON(matrix)`: its values in order, joined by
/// `, ` (nested values as compact JSON). None for `null` or `{}`.
fn matrix_leg(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    let m = v.as_object().filter(|m| !m.is_empty())?;
    Some(
        m.values()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The first eight characters of a commit id from a payload (which may be
/// anything: never sliced by bytes).
pub fn short(sha: &str) -> String {
    sha.chars().take(8).collect()
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(event: &str, payload: Value) -> CiEnv {
        CiEnv {
            event_name: event.into(),
            payload,
            ..Default::default()
        }
    }

    #[test]
    fn bases_of_events() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let pr = env(
            "pull_request",
            serde_json::json!({"number": 3, "pull_request": {"base": {"sha": a, "ref": "main"}, "head": {"sha": b}}}),
        );
        assert_eq!(
            pr.base(),
            Some(EventBase::MergeBase {
                base: a.clone(),
                head: b.clone(),
                base_ref: Some("main".into())
            })
        );
        assert_eq!(pr.pr_number(), Some(3));
        let push = env("push", serde_json::json!({"before": a, "after": b}));
        assert_eq!(
            push.base(),
            Some(EventBase::Commit {
                sha: a.clone(),
                label: "previous head".into(),
                why: "the commit before the push".into(),
            })
        );
        let first_push = env("push", serde_json::json!({"before": "0".repeat(40)}));
        assert_eq!(first_push.base(), None);
        assert_eq!(env("workflow_dispatch", Value::Null).base(), None);
    }

    #[test]
    fn matrix_legs_keep_their_own_key_and_status_context() {
        let mut e = env("pull_request", Value::Null);
        e.workflow = Some("ci".into());
        e.job = Some("train".into());
        assert_eq!(e.default_key(), "ci/train");
        assert_eq!(e.status_context(), "mlci/gate");
        e.leg = matrix_leg(r#"{"python": "3.11", "os": "linux", "shard": 2}"#);
        assert_eq!(e.default_key(), "ci/train (3.11, linux, 2)");
        assert_eq!(e.status_context(), "mlci/gate (3.11, linux, 2)");
        assert_eq!(e.check_run_name(), "mlci (3.11, linux, 2)");
        // A job without a matrix: toJSON(matrix) is `null`.
        assert_eq!(matrix_leg("null"), None);
        assert_eq!(matrix_leg("{}"), None);
    }

    #[test]
    fn only_a_pull_request_from_another_repository_is_a_fork() {
        let pr = |head: &str| {
            env(
                "pull_request",
                serde_json::json!({"pull_request": {"head": {"repo": {"full_name": head}}, "base": {"repo": {"full_name": "acme/models"}}}}),
            )
        };
        assert!(pr("someone/models").from_fork());
        assert!(!pr("acme/models").from_fork());
        assert!(!env("push", serde_json::json!({})).from_fork());
    }
}
