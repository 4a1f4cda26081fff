//! Hostile pull requests and remotes, round 2: the workspace's machinery is
//! not a commit's to choose, nothing shared is deleted on partial
//! knowledge, secrets stay secret and text lands escaped for where it
//! lands. Each test mounts the attack as a pull request or a shared remote
//! could, and checks that mlci still does its job for an honest user.

use crate::common::{count_files, TestRepo};
use crate::snapshot;

/// A committed `.mlci/config.local.yaml` (or one only staged) is refused
/// naming it, before anything is written where it points; the machine's own
/// untracked one still moves the cache.
#[test]
fn a_tracked_config_local_is_refused_and_an_untracked_one_still_works() {
    let outside = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    repo.write(
        ".mlci/config.local.yaml",
        format!("core:\n  cache_dir: {}\n", outside.path().display()),
    );
    repo.git(&["add", "-f", ".mlci/config.local.yaml"]);
    repo.write("d.txt", "bytes of the pull request's choosing\n");
    // Staged only: refused already.
    let run = repo.mlci(&["add", "d.txt"]).user_error();
    assert!(
        run.stderr.contains(".mlci/config.local.yaml"),
        "{}",
        run.stderr
    );
    repo.git(&["commit", "-q", "-m", "pull request"]);
    let runner = repo.clone_to("runner");
    snapshot!(runner, runner.mlci(&["add", "d.txt"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: `.mlci/config.local.yaml` is tracked by git, but it is this machine's own and is never taken from a commit
    hint: remove it from git and commit that (`git rm -r --cached .mlci/config.local.yaml`); machine-local settings such as core.cache_dir go in an untracked .mlci/config.local.yaml or the environment (MLCI_CACHE_DIR)
    ");
    assert_eq!(count_files(outside.path()), 0, "nothing written outside");
    // Every command passes the same door: status, checkout, gc, fsck.
    for args in [
        &["status"][..],
        &["checkout"],
        &["gc", "--workspace"],
        &["fsck"],
        &["push"],
    ] {
        let run = runner.mlci(args).user_error();
        assert!(
            run.stderr.contains("config.local.yaml` is tracked"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // The fix the hint gives works, and the machine's own file then counts.
    runner.git(&["rm", "-q", "--cached", ".mlci/config.local.yaml"]);
    runner.git(&["commit", "-q", "-m", "untrack the machine's file"]);
    runner.write("d.txt", "the user's own data\n");
    runner.mlci(&["add", "d.txt"]).ok();
    assert_eq!(
        count_files(outside.path()),
        1,
        "the untracked file moved the cache"
    );
}

/// `.mlci/cache` committed as a link out of the workspace (or with objects
/// in it) is refused; the same link made by the user on this machine, not
/// tracked, keeps working.
#[test]
fn tracked_links_or_objects_in_the_machinery_are_refused_untracked_links_work() {
    let outside = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).ok();
    std::os::unix::fs::symlink(outside.path(), repo.path(".mlci/cache")).unwrap();
    repo.write("d.txt", "mine\n");
    // Untracked: the user's choice (the cache on a bigger disk).
    repo.mlci(&["add", "d.txt"]).ok();
    assert_eq!(count_files(outside.path()), 1);
    repo.git(&["add", "-f", ".mlci/cache"]);
    repo.git(&["commit", "-q", "-m", "pull request"]);
    let run = repo.mlci(&["status"]).user_error();
    assert!(
        run.stderr
            .contains("`.mlci/cache` is tracked by git as a symbolic link"),
        "{}",
        run.stderr
    );
    // Objects committed into the cache (a poisoned copy waiting to be
    // pushed under a good name) are refused the same way.
    let other = TestRepo::new();
    other.write(".mlci/cache/sha256/ab/cdef", "poison\n");
    other.git(&["add", "-f", ".mlci/cache/sha256/ab/cdef"]);
    other.git(&["commit", "-q", "-m", "poison"]);
    let run = other.mlci(&["status"]).user_error();
    assert!(
        run.stderr.contains("`.mlci/cache` is tracked by git,"),
        "{}",
        run.stderr
    );
}

/// Three commits of `model.bin` on a directory remote, with `churn`
/// declared on it; returns the repository and each version's hash.
fn model_history() -> (TestRepo, Vec<String>) {
    let repo = TestRepo::new();
    repo.add_remote("store", crate::common::Server::Local);
    repo.write(
        "mlci.yaml",
        "artifacts:\n  churn:\n    path: model.bin\n    type: model\n",
    );
    let mut hashes = Vec::new();
    for v in ["v1", "v2", "v3"] {
        repo.write("model.bin", format!("weights {v}\n"));
        hashes.push(crate::common::sha256_file(&repo.path("model.bin")));
        repo.mlci(&["add", "model.bin"]).ok();
        repo.mlci(&["push"]).ok();
        repo.commit_all(v);
    }
    (repo, hashes)
}

fn remote_has(run: &crate::common::Run, hash: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    !v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["key"].as_str().is_some_and(|k| k.contains(&hash[2..])))
}

/// A shallow clone (and a single-branch one) refuses `gc --remote` for
/// every scope, deleting nothing; a full clone collects, but never what a
/// registry version in a stage uses, and its dry run says what the
/// registry protects.
#[test]
fn remote_gc_refuses_partial_history_and_keeps_what_the_registry_names() {
    let (repo, h) = model_history();
    let url = format!("file://{}", repo.root.display());
    let parent = repo.root.parent().unwrap();
    let shallow = parent.join("shallow");
    let single = parent.join("single");
    for (dir, flags) in [
        (&shallow, &["--depth", "1"][..]),
        (&single, &["--single-branch", "--no-tags"]),
    ] {
        let out = std::process::Command::new("git")
            .args(["clone", "-q"])
            .args(flags)
            .arg(&url)
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::copy(
            repo.path(".mlci/config.local.yaml"),
            dir.join(".mlci/config.local.yaml"),
        )
        .ok();
    }
    let clone = TestRepo::at_existing(shallow);
    snapshot!(clone, clone.mlci(&["gc", "--remote", "store", "--all-commits", "--grace", "0s"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: gc --remote deletes from a shared remote, and this clone is shallow: commits and registry tags it cannot see would lose their data
    hint: fetch the whole history first: `fetch-depth: 0` in actions/checkout, or `git fetch --unshallow --tags` (a single-branch clone also needs `git config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'`)
    ");
    clone
        .mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .user_error();
    let single = TestRepo::at_existing(single);
    let run = single
        .mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .user_error();
    assert!(
        run.stderr.contains("fetches single branches from `origin`"),
        "{}",
        run.stderr
    );
    // The local cache is not shared: a shallow clone may still collect it.
    clone.mlci(&["gc", "--workspace"]).ok();

    // v1 goes to prod; then a full clone's workspace-only gc keeps it.
    for (i, args) in [
        &["register", "churn", "HEAD~2", "--version", "v1.0.0"][..],
        &["register", "churn", "HEAD~1", "--version", "v1.1.0"],
        &["deregister", "churn", "v1.1.0"],
        &["promote", "churn", "v1.0.0", "--to", "prod"],
    ]
    .iter()
    .enumerate()
    {
        let date = format!("2030-01-01T00:0{i}:00 +0000");
        repo.mlci_env(
            &[&["model"][..], args].concat(),
            &[("GIT_COMMITTER_DATE", &date)],
        )
        .ok();
    }
    let dry = repo
        .mlci(&[
            "gc",
            "--remote",
            "store",
            "--workspace",
            "--grace",
            "0s",
            "--dry-run",
            "--json",
        ])
        .ok();
    assert!(
        dry.stderr
            .contains("keeping what churn@v1.0.0 (in prod) uses (registry, commit"),
        "{}",
        dry.stderr
    );
    assert!(
        !dry.stderr.contains("v1.1.0"),
        "a deregistered version protects nothing: {}",
        dry.stderr
    );
    assert!(
        remote_has(&dry, &h[0]),
        "prod's model is not listed for deletion: {}",
        dry.stdout
    );
    assert!(
        !remote_has(&dry, &h[1]),
        "the deregistered version's data goes: {}",
        dry.stdout
    );
    repo.mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .ok();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).unwrap();
    let run = repo
        .mlci(&["model", "get", "churn#prod", "-o", "deployed.bin"])
        .ok();
    assert!(run.stderr.contains("written to"), "{}", run.stderr);
    assert_eq!(repo.read("deployed.bin"), "weights v1\n");
}

/// `model get -o DIR` writes inside an existing directory, as `cp` does;
/// `--force` replaces a file, never a directory of other things, and never
/// the repository or the current directory.
#[test]
fn model_get_writes_into_directories_and_never_removes_the_repository() {
    let (repo, _) = model_history();
    repo.mlci(&["model", "register", "churn"]).ok();
    repo.write("models/other.txt", "keep me\n");
    repo.mlci(&["model", "get", "churn", "-o", "models"]).ok();
    assert_eq!(repo.read("models/model.bin"), "weights v3\n");
    assert_eq!(repo.read("models/other.txt"), "keep me\n");
    repo.mlci(&["model", "get", "churn", "-o", "models/"])
        .user_error();
    repo.mlci(&["model", "get", "churn", "-o", "models/", "--force"])
        .ok();
    assert_eq!(repo.read("models/other.txt"), "keep me\n");
    // `-o . --force` at the root: the artifact lands in it, nothing goes.
    repo.mlci(&["model", "get", "churn", "-o", ".", "--force"])
        .ok();
    assert!(repo.exists(".git/HEAD") && repo.exists("mlci.yaml"));
    // A directory named like the file artifact is in the way, not replaced.
    repo.write("models/model.bin.d/x", "x");
    std::fs::remove_file(repo.path("models/model.bin")).unwrap();
    std::fs::rename(
        repo.path("models/model.bin.d"),
        repo.path("models/model.bin"),
    )
    .unwrap();
    snapshot!(repo, repo.mlci(&["model", "get", "churn", "-o", "models", "--force"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: [REPO]/models/model.bin is a directory, and the artifact is a file
        hint: name a file or a new path with -o (an existing directory receives the artifact inside it, as with cp)
    ");
    assert!(repo.exists("models/model.bin/x"));
    // The repository root itself, by any name, is never replaced.
    let run = repo.mlci_in("models", &["model", "get", "churn", "-o", "..", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(repo.exists(".git/HEAD"));
}
