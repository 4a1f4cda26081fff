//! GitHub Actions workflow commands as mlci prints them: masking a secret,
//! annotations, and the `::stop-commands::` fence around text from data;
//! and what the runner hands a step that stage commands must not inherit.

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
    let env_opt_in = crate::environment::get(PASS_ENV_VAR).is_some_and(|v| v == "1" || v == "true");
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

/// An `::error` annotation on `file` (shown on the pull request's diff).
pub fn error_annotation(file: &str, title: &str, message: &str) -> String {
    // An annotation's message is cut at 4 KiB (GitHub truncates longer ones
    // without saying so); the full text is in the report.
    let mut message = message.to_string();
    if message.len() > ANNOTATION_LIMIT {
        let mut cut = ANNOTATION_LIMIT - 40;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" … (cut; the report has it all)");
    }
    let file = if file.is_empty() {
        String::new()
    } else {
        format!("file={},", escape_property(file))
    };
    format!(
        "::error {file}title={}::{}",
        escape_property(title),
        escape_data(&message)
    )
}

/// The longest annotation message kept whole, in bytes.
pub const ANNOTATION_LIMIT: usize = 4096;
