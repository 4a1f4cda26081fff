//! Every environment variable mlci reads, in one catalogue: its name and
//! what it does. Nothing else in the crate calls `std::env::var` (clippy's
//! `disallowed-methods`, `clippy.toml`); `docs/environment.md` is rendered
//! from [`CATALOGUE`] by a test, so the reference cannot drift. The
//! variables mlci sets for stage commands (`MLCI_ROOT`, `MLCI_STAGE`,
//! `DVC_ROOT`, `DVC_STAGE`) are in `pipeline::run`.

use std::ffi::OsString;

/// (name, what it does), grouped as the reference shows them.
pub const CATALOGUE: &[(&str, &str)] = &[
    // mlci's own settings
    ("MLCI_REMOTE", "the remote to use when `-r` is not given (over `core.remote`)"),
    ("MLCI_JOBS", "parallel jobs when `-j` is not given (over `core.jobs`)"),
    ("MLCI_CACHE_DIR", "the cache directory (over `core.cache_dir`)"),
    ("MLCI_LINK_TYPE", "how files leave the cache: `reflink`, `copy`, `hardlink`, `symlink` (over `core.link_type`)"),
    ("MLCI_REQUIRE_FRESH", "`mlci ci --require-fresh`: stale committed results fail the check"),
    ("MLCI_PLOTS_URL", "`mlci report/ci --plots-url`: where the SVGs of `--plots-dir` are published; the report shows them as images"),
    ("MLCI_COMMIT_BACK", "`mlci ci --commit-back`: push recomputed results to a same-repository pull request's branch"),
    ("MLCI_STAGES_SEE_CI_SECRETS", "`1`: stage commands inherit the publishing token and the runner's command files (`--stages-see-ci-secrets`)"),
    ("MLCI_JOB_LEG", "the name of a matrix job's leg (its own comment and status context)"),
    ("MLCI_MATRIX", "the action's `toJSON(matrix)`: the leg's name when `MLCI_JOB_LEG` is unset"),
    ("MLCI_GITHUB_MAX_WAIT", "seconds to wait out a GitHub rate limit (default 60)"),
    ("MLCI_MAX_STAGES", "the most stages a pipeline may expand to (default 10,000)"),
    ("MLCI_MAX_YAML_BYTES", "the largest YAML file read (default 16 MiB)"),
    ("MLCI_MAX_METRICS_BYTES", "the largest metrics, params or plots file read at a revision (default 16 MiB)"),
    ("MLCI_MAX_COLUMNS", "the most columns of a table (default 100,000)"),
    ("MLCI_MAX_ROW_BYTES", "the longest row of a table (default 16 MiB)"),
    ("MLCI_MAX_LABELS", "the most distinct labels of a classifier's log (default 100,000)"),
    ("MLCI_DEBUG_PANIC", "debug builds only: panic at start (the suite checks the internal-error path)"),
    ("NO_COLOR", "set and not empty: no colour in anything mlci prints"),
    ("SHELL", "the shell stage commands run in (default `/bin/sh`)"),
    ("GIT_COMMITTER_DATE", "the time registry tags are stamped with (git's own variable; unset, mlci stamps a new tag one second after the artifact's newest event when the clock has not moved on)"),
    ("HOME", "where `~/` in a remote's key path and `~/.aws/config` are found"),
    // GitHub Actions (read once, by `ci::env::CiEnv`)
    ("GITHUB_ACTIONS", "`true`: mlci runs as an Actions step (summary, outputs, annotations, masking)"),
    ("GITHUB_EVENT_NAME", "the event that started the workflow"),
    ("GITHUB_EVENT_PATH", "the event's payload (pull request, push, tag)"),
    ("GITHUB_REPOSITORY", "`owner/name` of the repository"),
    ("GITHUB_API_URL", "GitHub's REST API (GitHub Enterprise too)"),
    ("GITHUB_SERVER_URL", "GitHub's web address, for links"),
    ("GITHUB_RUN_ID", "the workflow run, for links"),
    ("GITHUB_SHA", "the commit the workflow runs on"),
    ("GITHUB_REF", "the ref the workflow runs on (a pushed registry tag)"),
    ("GITHUB_WORKFLOW", "the workflow's name (the sticky comment's default key)"),
    ("GITHUB_JOB", "the job's id (the sticky comment's default key)"),
    ("GITHUB_TOKEN", "the token mlci publishes and pushes with (masked everywhere)"),
    ("GITHUB_STEP_SUMMARY", "the job summary file"),
    ("GITHUB_OUTPUT", "the step outputs file"),
    ("RUNNER_TEMP", "where the report and the artifact go in Actions"),
    // Storage providers, as their own tools read them
    ("AWS_ACCESS_KEY_ID", "S3 credentials (with `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)"),
    ("AWS_SECRET_ACCESS_KEY", "S3 credentials (masked)"),
    ("AWS_SESSION_TOKEN", "S3 credentials (masked)"),
    ("AWS_PROFILE", "the profile of `~/.aws/config` for region and endpoint"),
    ("AWS_REGION", "the S3 region when the remote sets none"),
    ("AWS_DEFAULT_REGION", "the S3 region when neither the remote nor `AWS_REGION` sets one"),
    ("AWS_ENDPOINT_URL_S3", "the S3 endpoint when the remote sets none"),
    ("AWS_ENDPOINT_URL", "the S3 endpoint when neither the remote nor `AWS_ENDPOINT_URL_S3` sets one"),
    ("AWS_CONFIG_FILE", "the shared config file (default `~/.aws/config`)"),
    ("AWS_CA_BUNDLE", "more certificates to trust for S3"),
    ("SSL_CERT_FILE", "more certificates to trust for any HTTP remote"),
    ("AZURE_STORAGE_CONNECTION_STRING", "Azure Blob credentials when the remote sets none (masked)"),
    ("AZURE_STORAGE_ACCOUNT", "the Azure account when the remote sets none"),
    ("AZURE_STORAGE_KEY", "the Azure account key when the remote sets none (masked)"),
    ("AZURE_STORAGE_SAS_TOKEN", "an Azure SAS token when the remote sets none (masked)"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "the Google Cloud service account file"),
    ("ACTIONS_RUNTIME_TOKEN", "the GitHub Actions cache remote's token (masked)"),
    ("DVC_ROOT", "left as it is for stage commands when already set (else mlci sets it, as DVC does)"),
];

/// Whether `name` is in the catalogue.
pub fn known(name: &str) -> bool {
    CATALOGUE.iter().any(|(n, _)| *n == name)
}

/// The value of catalogued variable `name`, None when unset, empty or not
/// UTF-8.
#[allow(clippy::disallowed_methods)]
pub fn get(name: &str) -> Option<String> {
    debug_assert!(known(name), "{name} is not in environment::CATALOGUE");
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Like [`get`], for values that are paths (any bytes).
#[allow(clippy::disallowed_methods)]
pub fn get_os(name: &str) -> Option<OsString> {
    debug_assert!(known(name), "{name} is not in environment::CATALOGUE");
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Every variable of the process, names and values: what the secret
/// scrubber scans for values to mask (by the variable's name).
#[allow(clippy::disallowed_methods)]
pub fn every() -> std::env::VarsOs {
    std::env::vars_os()
}

/// The catalogue as Markdown (docs/environment.md).
pub fn reference() -> String {
    let mut out = String::from(
        "# Environment variables\n\n\
         Every variable mlci reads, from `src/environment.rs` (a test renders this page from it;\n\
         nothing else in mlci reads the environment). Flags beat variables, variables beat\n\
         `.mlci/config.local.yaml`, which beats `.mlci/config.yaml`.\n\n\
         | variable | what it does |\n|---|---|\n",
    );
    for (name, what) in CATALOGUE {
        out.push_str(&format!("| `{name}` | {what} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_environment_md_is_the_catalogue() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/environment.md");
        let page = super::reference();
        #[allow(clippy::disallowed_methods)]
        if std::env::var_os("MLCI_UPDATE_DOCS").is_some() {
            fs_err::write(&file, &page).unwrap();
        }
        assert_eq!(
            fs_err::read_to_string(&file).unwrap_or_default(),
            page,
            "rewrite docs/environment.md from src/environment.rs"
        );
    }
}
