//! The GitHub Actions environment: which event ran, on which pull request
//! and commit, where the API is, and the files a step writes its results
//! to. Read once from the environment; knows nothing of pipelines.

use std::path::PathBuf;

use serde_json::Value;

/// What `mlci ci` needs to know about the Actions run it is part of.
#[derive(Debug, Clone, Default)]
pub struct ActionEnv {
    pub event_name: String,
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
}

impl ActionEnv {
    /// Reads the environment; None outside GitHub Actions.
    pub fn from_env() -> Option<ActionEnv> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if var("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let payload = var("GITHUB_EVENT_PATH")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        Some(ActionEnv {
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
        })
    }

    pub fn is_pull_request(&self) -> bool {
        matches!(
            self.event_name.as_str(),
            "pull_request" | "pull_request_target"
        )
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

    /// The link to this workflow run.
    pub fn run_link(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_ref()?,
            self.run_id.as_ref()?
        ))
    }

    /// The sticky comment's key: `$GITHUB_WORKFLOW/$GITHUB_JOB`.
    pub fn default_key(&self) -> String {
        format!(
            "{}/{}",
            self.workflow.as_deref().unwrap_or("mlci"),
            self.job.as_deref().unwrap_or("ci")
        )
    }
}

/// Whether this process runs as a step of GitHub Actions.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Variables of a GitHub Actions runner that a stage command does not
/// inherit unless the invoking workflow opts in: the publishing token and
/// the files through which a step sets outputs, environment and `PATH` for
/// later steps, and the runtime tokens of the Actions services.
pub const WITHHELD_FROM_STAGES: &[&str] = &[
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_RUNTIME_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_CACHE_URL",
    "ACTIONS_RESULTS_URL",
];

/// The environment variable with which a workflow lets stages see what
/// [`WITHHELD_FROM_STAGES`] lists (`1` or `true`). It is read from the
/// invocation's environment only, never from a file a pull request controls.
pub const PASS_ENV_VAR: &str = "MLCI_STAGES_SEE_CI_SECRETS";

/// What a stage command must not inherit, given the `--stages-see-ci-secrets`
/// flag and [`PASS_ENV_VAR`].
pub fn withheld_env(opt_in: bool) -> Vec<String> {
    let env_opt_in = std::env::var(PASS_ENV_VAR).is_ok_and(|v| v == "1" || v == "true");
    if opt_in || env_opt_in {
        return Vec::new();
    }
    WITHHELD_FROM_STAGES.iter().map(|s| s.to_string()).collect()
}

/// A `::stop-commands::` fence: lines printed between [`StopCommands::start`]
/// and [`StopCommands::end`] are not run as workflow commands by the runner.
/// The token is fresh and random per fence, so text inside cannot end it.
pub struct StopCommands {
    token: String,
}

impl StopCommands {
    pub fn new() -> StopCommands {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        StopCommands {
            token: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The line that opens the fence.
    pub fn start(&self) -> String {
        format!("::stop-commands::{}", self.token)
    }

    /// The line that closes it.
    pub fn end(&self) -> String {
        format!("::{}::", self.token)
    }
}

impl Default for StopCommands {
    fn default() -> Self {
        Self::new()
    }
}

/// The workflow command that hides `secret` in every later log line.
pub fn mask(secret: &str) -> String {
    format!("::add-mask::{secret}")
}

/// A workflow command's message, escaped as GitHub's toolkit does.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`file=…`), escaped.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
