//! Registry tags in git: reading every registry tag with its tagger,
//! time and message (git2, no process), and writing new annotated tags
//! (the git CLI, so the committer identity and date come from git's own
//! configuration and environment, as they do for GTO).

use std::path::Path;
use std::process::Command;

use super::state::Event;
use super::tag::{self, TagName};
use super::RegistryError;

/// Every registry tag of the repository at `root` (of artifact `only`,
/// when given: other tags then cost a prefix check, not an object read).
/// Tags whose names are not registry tags cost one name check;
/// lightweight tags are skipped, as GTO skips them.
pub fn read_events(root: &Path, only: Option<&str>) -> Result<Vec<Event>, RegistryError> {
    let prefix = only.map(|n| n.replace(':', "="));
    let repo = git2::Repository::open(root).map_err(RegistryError::git)?;
    let mut out = Vec::new();
    let refs = repo
        .references_glob("refs/tags/*")
        .map_err(RegistryError::git)?;
    for r in refs {
        let r = r.map_err(RegistryError::git)?;
        let Some(name) = r.name().and_then(|n| n.strip_prefix("refs/tags/")) else {
            continue;
        };
        if let Some(p) = &prefix {
            let ours = name
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with(['@', '#']));
            if !ours {
                continue;
            }
        }
        let Some(parsed) = tag::parse(name) else {
            continue;
        };
        let Some(target) = r.target() else { continue };
        let Ok(t) = repo.find_tag(target) else {
            continue;
        };
        let commit = match t.target_type() {
            Some(git2::ObjectType::Commit) => t.target_id(),
            _ => match t.target().and_then(|o| o.peel_to_commit()) {
                Ok(c) => c.id(),
                Err(_) => continue,
            },
        };
        let (author, email, time, offset) = match t.tagger() {
            Some(s) => (
                s.name().unwrap_or_default().to_string(),
                s.email().unwrap_or_default().to_string(),
                s.when().seconds(),
                s.when().offset_minutes(),
            ),
            None => (String::new(), String::new(), 0, 0),
        };
        out.push(event(
            name,
            parsed,
            commit.to_string(),
            (time, offset),
            (author, email),
            t.message().unwrap_or_default().trim().to_string(),
        ));
    }
    Ok(out)
}

fn event(
    name: &str,
    parsed: TagName,
    commit: String,
    (time, offset_minutes): (i64, i32),
    (author, author_email): (String, String),
    message: String,
) -> Event {
    Event {
        action: parsed.action,
        artifact: parsed.artifact,
        version: parsed.version,
        stage: parsed.stage,
        commit,
        tag: name.to_string(),
        time,
        offset_minutes,
        created_at: super::rfc3339(time, offset_minutes),
        author,
        author_email,
        message,
        counter: parsed.counter,
    }
}

/// Creates annotated tag `name` on `commit` with `message`, through
/// `git tag -a` (never replacing an existing tag). When the clock has not
/// reached `not_before` (seconds since the epoch), the tag is stamped at
/// `not_before` instead of now; a date set in `GIT_COMMITTER_DATE` is the
/// caller's, and kept.
pub fn create(
    root: &Path,
    name: &str,
    commit: &str,
    message: &str,
    not_before: Option<i64>,
) -> Result<(), RegistryError> {
    let mut git = Command::new("git");
    if let Some((who, email)) = crate::git::fallback_identity(root, crate::ci::env::in_actions()) {
        git.env("GIT_COMMITTER_NAME", who)
            .env("GIT_COMMITTER_EMAIL", email);
    }
    if let Some(at) = not_before {
        let now = jiff::Timestamp::now().as_second();
        if now < at && crate::environment::get_os("GIT_COMMITTER_DATE").is_none() {
            git.env("GIT_COMMITTER_DATE", format!("@{at} +0000"));
        }
    }
    let out = git
        .args(["tag", "-a", "--no-sign", "-F", "-", "--", name, commit])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(message.as_bytes())?;
            child.wait_with_output()
        })
        .map_err(|e| RegistryError::GitCli {
            what: format!("creating tag `{name}`"),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("already exists") {
            return Err(RegistryError::TagExists(name.into()));
        }
        return Err(RegistryError::GitCli {
            what: format!("creating tag `{name}`"),
            message: stderr.trim().to_string(),
        });
    }
    Ok(())
}
