//! `mlci ci --commit-back`: the committed results a pull request's run
//! recomputed (`mlci.lock`, `cache: false` metrics and plots) committed on
//! top of the pull request's head and pushed to its branch, so that what
//! merges is what the code produced. Same-repository pull requests only: a
//! fork's branch is not the workflow's to write, and its token cannot.
//!
//! The trade-off (docs/ci.md): a push made with the workflow's own
//! `GITHUB_TOKEN` starts no workflow, so the new head gets no check of its
//! own until someone pushes again; with a GitHub App's token (the action's
//! `github-token`) the push starts the pull request's workflow as usual.

use std::path::Path;

use serde::Serialize;

use crate::ci::env::CiEnv;

/// What was pushed: the refresh commit and the branch it went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    /// The new commit, 40 hex digits.
    pub commit: String,
    /// The pull request's head branch (`feature`, without `refs/heads/`).
    pub branch: String,
}

/// Why the results were not committed back.
#[derive(Debug, thiserror::Error)]
pub enum CommitBackError {
    #[error("--commit-back works on pull requests only (this is a `{0}` event)")]
    NotAPullRequest(String),
    #[error("--commit-back: the pull request comes from a fork, whose branch this workflow may not write")]
    FromFork,
    #[error("--commit-back: no token to push with (GITHUB_TOKEN or --token)")]
    NoToken,
    #[error("--commit-back: the event names no head {0}")]
    NoHead(&'static str),
    #[error("--commit-back: {0}")]
    Git(String),
}

/// Commits `files` (repository-relative paths, read from the work tree at
/// `root`) on top of the pull request's head and pushes the commit to its
/// branch on `remote` with `token`. The push is a fast-forward of the head
/// the run checked out: when the branch moved meanwhile, git refuses it
/// and nothing is overwritten.
pub fn commit_back(
    root: &Path,
    env: &CiEnv,
    files: &[String],
    (remote, token): (&str, Option<&str>),
) -> Result<Refreshed, CommitBackError> {
    if !env.is_pull_request() {
        return Err(CommitBackError::NotAPullRequest(env.event_name.clone()));
    }
    if env.from_fork() {
        return Err(CommitBackError::FromFork);
    }
    let token = token.ok_or(CommitBackError::NoToken)?;
    let head = &env.payload["pull_request"]["head"];
    let branch = head["ref"]
        .as_str()
        .ok_or(CommitBackError::NoHead("branch"))?;
    let sha = head["sha"]
        .as_str()
        .ok_or(CommitBackError::NoHead("commit"))?;
    let git = |e: git2::Error| CommitBackError::Git(e.message().to_string());
    let parent = git2::Oid::from_str(sha).map_err(git)?;
    let mut contents = Vec::new();
    for f in files {
        let bytes = fs_err::read(root.join(f))
            .map_err(|e| CommitBackError::Git(format!("reading {f}: {e}")))?;
        contents.push((f.clone(), bytes));
    }
    let message = format!(
        "Refresh results recomputed by mlci ci\n\nThe pull request's code produces these results: {}.",
        files.join(", ")
    );
    let commit =
        crate::git::commit_on(root, parent, &contents, &message, crate::git::actions_bot())
            .map_err(git)?;
    crate::git::push(
        root,
        remote,
        &[format!("{commit}:refs/heads/{branch}")],
        Some(token),
        &[],
    )
    .map_err(|e| CommitBackError::Git(e.to_string()))?;
    Ok(Refreshed {
        commit: commit.to_string(),
        branch: branch.to_string(),
    })
}
