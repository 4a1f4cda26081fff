//! Git through git2: repository discovery, the index, and pointer files at
//! any revision (for `gc --rev` / `--all-commits`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};

/// The work tree root of the git repository containing `dir`.
pub fn discover_root(dir: &Path) -> Result<Option<PathBuf>, git2::Error> {
    match Repository::discover(dir) {
        Ok(repo) => Ok(repo.workdir().map(Path::to_path_buf)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn init(dir: &Path) -> Result<(), git2::Error> {
    Repository::init(dir).map(drop)
}

/// Whether git's index holds `rel` (a file) or anything below it (a directory).
pub fn is_tracked(root: &Path, rel: &str) -> Result<bool, git2::Error> {
    let repo = Repository::open(root)?;
    let index = repo.index()?;
    if index.get_path(Path::new(rel), 0).is_some() {
        return Ok(true);
    }
    let prefix = format!("{rel}/");
    Ok(index.iter().any(|e| e.path.starts_with(prefix.as_bytes())))
}

/// Which committed files a history scan collects: every file ending in
/// `.{pointer_extension}`, and `lock_file` at the root.
pub struct ScanFor<'a> {
    pub pointer_extension: &'a str,
    pub lock_file: &'a str,
}

/// A pointer file's (or the root lock file's) text as committed at some
/// revision.
pub struct PointerBlob {
    pub rev: String,
    pub path: String,
    pub text: String,
}

/// Pointer files in the trees of the given revisions. Blobs and subtrees
/// already seen are skipped, so scanning a long history costs about as much
/// as the distinct trees in it.
/// `scan` names what to collect, so this module knows nothing of pointers
/// or pipelines.
pub fn pointers_at(
    root: &Path,
    revs: &[String],
    scan: &ScanFor,
) -> Result<Vec<PointerBlob>, git2::Error> {
    let repo = Repository::open(root)?;
    let mut commits = Vec::new();
    for rev in revs {
        let obj = repo.revparse_single(rev)?;
        let commit = obj.peel_to_commit()?;
        commits.push((rev.clone(), commit.id()));
    }
    scan_commits(&repo, commits, scan)
}

/// Pointer files in every commit reachable from any ref (and HEAD).
pub fn pointers_in_all_commits(
    root: &Path,
    scan: &ScanFor,
) -> Result<Vec<PointerBlob>, git2::Error> {
    let repo = Repository::open(root)?;
    let mut walk = repo.revwalk()?;
    if repo.head().is_ok() {
        walk.push_head()?;
    }
    walk.push_glob("*")?;
    let mut commits = Vec::new();
    for id in walk {
        let id = id?;
        commits.push((id.to_string(), id));
    }
    scan_commits(&repo, commits, scan)
}

/// The ids (40 hex) of every commit reachable from HEAD or any ref.
pub fn all_commit_ids(root: &Path) -> Result<HashSet<String>, git2::Error> {
    let repo = Repository::open(root)?;
    let mut walk = repo.revwalk()?;
    if repo.head().is_ok() {
        walk.push_head()?;
    }
    walk.push_glob("*")?;
    walk.map(|id| id.map(|id| id.to_string())).collect()
}

fn scan_commits(
    repo: &Repository,
    commits: Vec<(String, git2::Oid)>,
    scan: &ScanFor,
) -> Result<Vec<PointerBlob>, git2::Error> {
    let suffix = format!(".{}", scan.pointer_extension);
    let lock_file = scan.lock_file;
    let mut seen_trees = HashSet::new();
    let mut seen_blobs = HashSet::new();
    let mut out = Vec::new();
    for (rev, id) in commits {
        let tree = repo.find_commit(id)?.tree()?;
        if !seen_trees.insert(tree.id()) {
            continue;
        }
        let mut found = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            match entry.kind() {
                Some(ObjectType::Tree) if !seen_trees.insert(entry.id()) => {
                    return TreeWalkResult::Skip;
                }
                Some(ObjectType::Blob) => {
                    let name = entry.name().unwrap_or("");
                    let wanted = name.ends_with(&suffix) || (dir.is_empty() && name == lock_file);
                    if wanted && seen_blobs.insert(entry.id()) {
                        found.push((format!("{dir}{name}"), entry.id()));
                    }
                }
                _ => {}
            }
            TreeWalkResult::Ok
        })?;
        for (path, blob_id) in found {
            let blob = repo.find_blob(blob_id)?;
            out.push(PointerBlob {
                rev: rev.clone(),
                path,
                text: String::from_utf8_lossy(blob.content()).into_owned(),
            });
        }
    }
    Ok(out)
}

/// `git add` of `paths` (repo-relative files): each that exists is staged,
/// each that is gone is removed from the index (DVC's `core.autostage`).
pub fn stage_files(root: &Path, paths: &[String]) -> Result<(), git2::Error> {
    let repo = Repository::open(root)?;
    let mut index = repo.index()?;
    for p in paths {
        if root.join(p).is_file() {
            index.add_path(Path::new(p))?;
        } else if index.get_path(Path::new(p), 0).is_some() {
            index.remove_path(Path::new(p))?;
        }
    }
    index.write()
}

/// A revision as the user named it, resolved to a commit id.
/// `git rm` of `paths` (repo-relative files, and every tracked file below
/// a directory among them) from the index and the work tree; the user
/// commits. Untracked files below a named directory are removed too.
pub fn remove_paths(root: &Path, paths: &[String]) -> Result<usize, git2::Error> {
    let repo = Repository::open(root)?;
    let mut index = repo.index()?;
    let tracked: Vec<String> = index
        .iter()
        .filter_map(|e| String::from_utf8(e.path).ok())
        .collect();
    let mut removed = 0;
    for p in paths {
        let prefix = format!("{p}/");
        for t in tracked.iter().filter(|t| *t == p || t.starts_with(&prefix)) {
            index.remove_path(Path::new(t))?;
            removed += 1;
        }
        let abs = root.join(p);
        let _ = if abs.is_dir() {
            fs_err::remove_dir_all(&abs)
        } else {
            fs_err::remove_file(&abs)
        };
    }
    index.write()?;
    Ok(removed)
}

pub fn resolve_commit(root: &Path, rev: &str) -> Result<git2::Oid, git2::Error> {
    let repo = Repository::open(root)?;
    let id = repo.revparse_single(rev)?.peel_to_commit()?.id();
    Ok(id)
}

/// The content of `path` (repo-relative, `/`-separated) in commit `commit`,
/// or None when the tree has no such file.
pub fn file_in(
    repo: &Repository,
    commit: git2::Oid,
    path: &str,
) -> Result<Option<Vec<u8>>, git2::Error> {
    Ok(match file_in_within(repo, commit, path, u64::MAX)? {
        Some(Within::Bytes(b)) => Some(b),
        _ => None,
    })
}

/// A file read through a size bound.
pub enum Within {
    Bytes(Vec<u8>),
    /// Over the bound: its size, read from the object's header.
    TooLarge(u64),
}

/// Like [`file_in`], but the blob is loaded only when its size (from the
/// object database's header) is at most `limit` bytes.
pub fn file_in_within(
    repo: &Repository,
    commit: git2::Oid,
    path: &str,
    limit: u64,
) -> Result<Option<Within>, git2::Error> {
    let tree = repo.find_commit(commit)?.tree()?;
    let entry = match tree.get_path(Path::new(path)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if entry.kind() != Some(git2::ObjectType::Blob) {
        return Ok(None);
    }
    // The header costs an object lookup of its own: only with a bound.
    if limit != u64::MAX {
        let (size, _) = repo.odb()?.read_header(entry.id())?;
        if size as u64 > limit {
            return Ok(Some(Within::TooLarge(size as u64)));
        }
    }
    let blob = repo.find_blob(entry.id())?;
    Ok(Some(Within::Bytes(blob.content().to_vec())))
}

/// The default base of a comparison: the merge-base of HEAD with the default
/// branch when HEAD is on another branch, else HEAD itself. The default
/// branch is `origin/HEAD`'s target, else `main`, else `master`.
pub fn default_base(root: &Path) -> Result<(String, git2::Oid), git2::Error> {
    let repo = Repository::open(root)?;
    let head = repo.head()?;
    let head_id = head.peel_to_commit()?.id();
    let head_branch = head.shorthand().map(str::to_string);
    let default = repo
        .find_reference("refs/remotes/origin/HEAD")
        .ok()
        .and_then(|r| {
            r.symbolic_target()
                .map(|t| t.trim_start_matches("refs/remotes/").to_string())
        })
        .or_else(|| {
            ["main", "master"]
                .iter()
                .find(|b| repo.find_branch(b, git2::BranchType::Local).is_ok())
                .map(|b| b.to_string())
        });
    let Some(default) = default else {
        return Ok(("HEAD".into(), head_id));
    };
    let default_short = default.trim_start_matches("origin/");
    if head_branch.as_deref() == Some(default_short)
        || head_branch.as_deref() == Some(default.as_str())
    {
        return Ok(("HEAD".into(), head_id));
    }
    let default_id = repo.revparse_single(&default)?.peel_to_commit()?.id();
    let base = repo.merge_base(head_id, default_id)?;
    Ok((format!("merge-base of HEAD and {default}"), base))
}

/// Why this clone does not hold the whole history, if it does not: a
/// shallow clone (actions/checkout's default `fetch-depth: 1`), or a
/// single-branch clone (a remote whose fetch refspecs name no branch
/// pattern: other branches, and the tags on them, are never fetched).
/// Commands that delete what history references must not act on it.
pub fn partial_history(root: &Path) -> Result<Option<String>, git2::Error> {
    let repo = Repository::open(root)?;
    if repo.is_shallow() {
        return Ok(Some("this clone is shallow".into()));
    }
    for name in repo.remotes()?.iter().flatten() {
        let remote = repo.find_remote(name)?;
        let specs = remote.fetch_refspecs()?;
        let all_branches = specs
            .iter()
            .flatten()
            .any(|s| s.trim_start_matches('+').starts_with("refs/heads/*:"));
        if !all_branches {
            return Ok(Some(format!(
                "this clone fetches single branches from `{name}`"
            )));
        }
    }
    Ok(None)
}

/// The merge-base of commits `a` and `b` (full hex ids). When either is
/// missing from a shallow clone (actions/checkout's default), the history
/// is fetched from `origin` first with the git CLI.
pub fn merge_base_fetching(root: &Path, a: &str, b: &str) -> Result<String, git2::Error> {
    let missing = |rev: &str| resolve_commit(root, rev).is_err();
    if missing(a) || missing(b) {
        let shallow = Repository::open(root).is_ok_and(|r| r.is_shallow());
        if shallow {
            let _ = std::process::Command::new("git")
                .args(["fetch", "--quiet", "--no-tags", "--unshallow", "origin"])
                .current_dir(root)
                .status();
        }
    }
    let repo = Repository::open(root)?;
    let id = repo.merge_base(resolve_commit(root, a)?, resolve_commit(root, b)?)?;
    Ok(id.to_string())
}

/// Why `git push` failed: git's own message (credentials never reach it:
/// the token travels in the helper's environment only).
#[derive(Debug, thiserror::Error)]
#[error("git push to `{remote}` failed: {message}")]
pub struct PushError {
    pub remote: String,
    pub message: String,
}

impl crate::error::Hint for PushError {
    fn hint(&self) -> Option<String> {
        let m = self.message.to_lowercase();
        Some(
            if m.contains("protected") || m.contains("rejected") || m.contains("denied") {
                "the remote refused the push: check branch or tag protection rules and that the token may write contents (`contents: write`)".into()
            } else if m.contains("authentication")
                || m.contains("could not read username")
                || m.contains("403")
            {
                "give a token that may push (`--token`, or GITHUB_TOKEN with `contents: write`); with `persist-credentials: false` mlci passes it through a one-shot credential helper".into()
            } else {
                "check the git remote (`git remote -v`) and the network".into()
            },
        )
    }
}

crate::register_hint!(PushError);

/// The one-shot credential helper: answers git's `get` with the token
/// from the environment variable the child alone receives, so the token is
/// never in a URL, `.git/config`, the command line or the output.
const CREDENTIAL_HELPER: &str =
    "!f() { test \"$1\" = get && printf 'username=x-access-token\\npassword=%s\\n' \"$MLCI_GIT_PUSH_TOKEN\"; }; f";

/// Pushes `refspecs` to `remote` in one `git push` (all or nothing with
/// `--atomic`). With `token`, git authenticates through
/// a one-shot credential helper; any helper configured before it is reset for
/// this one command. `extra` are more `git push` options
/// (`--force-with-lease=…`).
pub fn push(
    root: &Path,
    remote: &str,
    refspecs: &[String],
    token: Option<&str>,
    extra: &[String],
) -> Result<(), PushError> {
    let mut cmd = authenticated(root, token);
    cmd.args(["push", "--atomic", "--porcelain"])
        .args(extra)
        .arg("--")
        .arg(remote)
        .args(refspecs);
    let out = cmd.output().map_err(|e| PushError {
        remote: remote.into(),
        message: format!("could not run git: {e}"),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let porcelain = String::from_utf8_lossy(&out.stdout);
    for line in porcelain.lines().filter(|l| l.starts_with('!')) {
        message.push_str(&format!("\n{}", line.trim()));
    }
    Err(PushError {
        remote: remote.into(),
        message,
    })
}

/// The tip of the default branch, as `(label, commit)`: `explicit` when
/// given (a branch name), else `<remote>/HEAD`'s target, else
/// `<remote>/main` or `<remote>/master`, else the local `main` or
/// `master`. None when none exists.
pub fn default_branch_tip(
    root: &Path,
    remote: &str,
    explicit: Option<&str>,
) -> Result<Option<(String, git2::Oid)>, git2::Error> {
    let repo = Repository::open(root)?;
    let tip = |refname: &str| {
        repo.find_reference(refname)
            .and_then(|r| r.resolve())
            .and_then(|r| r.peel_to_commit())
            .ok()
            .map(|c| c.id())
    };
    let mut candidates = Vec::new();
    match explicit {
        Some(b) => {
            candidates.push(format!("refs/remotes/{remote}/{b}"));
            candidates.push(format!("refs/heads/{b}"));
        }
        None => {
            if let Ok(r) = repo.find_reference(&format!("refs/remotes/{remote}/HEAD")) {
                if let Some(t) = r.symbolic_target() {
                    candidates.push(t.to_string());
                }
            }
            for b in ["main", "master"] {
                candidates.push(format!("refs/remotes/{remote}/{b}"));
            }
            for b in ["main", "master"] {
                candidates.push(format!("refs/heads/{b}"));
            }
        }
    }
    Ok(candidates.into_iter().find_map(|c| {
        tip(&c).map(|id| {
            let label = c
                .trim_start_matches("refs/remotes/")
                .trim_start_matches("refs/heads/")
                .to_string();
            (label, id)
        })
    }))
}

/// A git command in `root` that never prompts and, with `token`,
/// authenticates through [`CREDENTIAL_HELPER`] alone.
fn authenticated(root: &Path, token: Option<&str>) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(root).env("GIT_TERMINAL_PROMPT", "0");
    if let Some(t) = token {
        cmd.args(["-c", "credential.helper=", "-c"])
            .arg(format!("credential.helper={CREDENTIAL_HELPER}"))
            .env("MLCI_GIT_PUSH_TOKEN", t);
    }
    cmd
}

/// Fetches `branch` of `remote` into `refs/remotes/<remote>/<branch>` and
/// returns its tip; None when the remote has no such branch.
pub fn fetch_branch(
    root: &Path,
    remote: &str,
    branch: &str,
    token: Option<&str>,
) -> Result<Option<git2::Oid>, PushError> {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let out = authenticated(root, token)
        .args(["fetch", "--quiet", "--no-tags", "--", remote])
        .arg(format!("+refs/heads/{branch}:{tracking}"))
        .output()
        .map_err(|e| PushError {
            remote: remote.into(),
            message: format!("could not run git: {e}"),
        })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.contains("couldn't find remote ref") {
            return Ok(None);
        }
        return Err(PushError {
            remote: remote.into(),
            message: format!("fetching {branch}: {message}"),
        });
    }
    let repo = Repository::open(root).map_err(|e| PushError {
        remote: remote.into(),
        message: e.message().to_string(),
    })?;
    let id = repo.refname_to_id(&tracking).map_err(|e| PushError {
        remote: remote.into(),
        message: e.message().to_string(),
    })?;
    Ok(Some(id))
}

/// GitHub Actions' bot, the identity of what mlci writes on a runner.
pub const ACTIONS_BOT: &str =
    "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>";

/// [`ACTIONS_BOT`] as `(name, email)`.
pub fn actions_bot() -> (&'static str, &'static str) {
    let (name, email) = ACTIONS_BOT
        .split_once(" <")
        .expect("the bot identity is `name <email>`");
    (name, email.trim_end_matches('>'))
}

/// The identity git should write with in `root` when its configuration
/// has none and `in_actions` (a hosted runner configures no `user.name`,
/// so a tag or commit there would fail): GitHub Actions' bot. None when
/// git has an identity, or outside Actions (git's own error then says how
/// to set one).
pub fn fallback_identity(root: &Path, in_actions: bool) -> Option<(&'static str, &'static str)> {
    if !in_actions {
        return None;
    }
    let known = std::process::Command::new("git")
        .args(["var", "GIT_COMMITTER_IDENT"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!known).then(actions_bot)
}

/// A commit on top of `parent` whose tree is `parent`'s with `files`
/// (repo-relative path, content) written in, made through an in-memory
/// index: the work tree, the index file and every ref stay as they are.
pub fn commit_on(
    root: &Path,
    parent: git2::Oid,
    files: &[(String, Vec<u8>)],
    message: &str,
    (name, email): (&str, &str),
) -> Result<git2::Oid, git2::Error> {
    let repo = Repository::open(root)?;
    let changes: Vec<PathChange> = files
        .iter()
        .map(|(path, bytes)| (path.clone(), Some((bytes.clone(), 0o100644))))
        .collect();
    let sig = git2::Signature::now(name, email)?;
    commit_changes(&repo, parent, &changes, message, &sig)
}

/// The tree of commit `id`.
pub fn tree_of(root: &Path, id: git2::Oid) -> Result<git2::Oid, git2::Error> {
    let repo = Repository::open(root)?;
    let tree = repo.find_commit(id)?.tree_id();
    Ok(tree)
}

/// One path of a commit made by [`commit_changes`]: its new bytes and
/// git file mode (`0o100644`, `0o100755`, `0o120000` for a link), or None
/// to remove it.
pub type PathChange = (String, Option<(Vec<u8>, u32)>);

/// A commit on top of `parent` whose tree is `parent`'s with `changes`
/// applied, made through an in-memory index: the work tree, the index
/// file and every ref stay as they are.
pub fn commit_changes(
    repo: &Repository,
    parent: git2::Oid,
    changes: &[PathChange],
    message: &str,
    sig: &git2::Signature,
) -> Result<git2::Oid, git2::Error> {
    let parent = repo.find_commit(parent)?;
    let mut index = git2::Index::new()?;
    index.read_tree(&parent.tree()?)?;
    for (path, change) in changes {
        match change {
            None => {
                let _ = index.remove_path(Path::new(path));
            }
            Some((bytes, mode)) => {
                let id = repo.blob(bytes)?;
                index.add(&git2::IndexEntry {
                    ctime: git2::IndexTime::new(0, 0),
                    mtime: git2::IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: *mode,
                    uid: 0,
                    gid: 0,
                    file_size: bytes.len() as u32,
                    id,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                })?;
            }
        }
    }
    let tree = repo.find_tree(index.write_tree_to(repo)?)?;
    repo.commit(None, sig, sig, message, &tree, &[&parent])
}

/// The signature git would write with in `repo` (its `user.name` and
/// `user.email`), else `mlci <mlci@localhost>`: an experiment is a local
/// record and must not fail on a machine without a git identity.
pub fn signature_or_default(repo: &Repository) -> Result<git2::Signature<'static>, git2::Error> {
    match repo.signature() {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => git2::Signature::now("mlci", "mlci@localhost"),
    }
}
