//! Bad input: every case exits 2 with a message that names the file, path
//! or key, a `hint:` line, and nothing lost or half-written.

use std::os::unix::fs::PermissionsExt;

use crate::common::{mlci_cmd, sha256_file, TestRepo};
use crate::snapshot;

#[test]
fn add_of_a_nonexistent_path() {
    let repo = TestRepo::new();
    snapshot!(repo, repo.mlci(&["add", "nope.csv"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: `nope.csv` does not exist
    hint: check the path; it is relative to the current directory
    ");
}

#[test]
fn add_of_a_path_outside_the_repository() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x"), "x").unwrap();
    let p = outside.path().join("x");
    let run = repo.mlci(&["add", p.to_str().unwrap()]).user_error();
    assert!(
        run.stderr.contains("is outside the repository"),
        "{}",
        run.stderr
    );
    let run = repo.mlci(&["add", "../x"]).user_error();
    assert!(
        run.stderr.contains("`../x` is outside the repository"),
        "{}",
        run.stderr
    );
    // Through a symlinked directory that leaves the repository.
    std::os::unix::fs::symlink(outside.path(), repo.path("escape")).unwrap();
    let run = repo.mlci(&["add", "escape/x"]).user_error();
    assert!(
        run.stderr.contains("outside the repository"),
        "{}",
        run.stderr
    );
    assert!(repo.cache_objects().is_empty());
}

#[test]
fn add_of_a_path_git_already_tracks() {
    let repo = TestRepo::new();
    repo.write("data/train.csv", "1,2\n");
    repo.commit_all("data in git");
    snapshot!(repo, repo.mlci(&["add", "data"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: `data` is already tracked by git
    hint: stop tracking it in git first: `git rm -r --cached data` (the file stays on disk), then `mlci add data`
    ");
    assert!(!repo.exists("data.mlci"));
    repo.git(&["rm", "-r", "-q", "--cached", "data"]);
    repo.mlci(&["add", "data"]).ok();
}

#[test]
fn add_inside_mlci_or_git_dirs_and_of_pointer_files() {
    let repo = TestRepo::new();
    let run = repo.mlci(&["add", ".mlci/config.yaml"]).code;
    assert_eq!(run, 2);
    assert_eq!(repo.mlci(&["add", ".git/HEAD"]).code, 2);
    repo.write("a.txt", "a");
    repo.mlci(&["add", "a.txt"]).ok();
    let run = repo.mlci(&["add", "a.txt.mlci"]).user_error();
    assert!(run.stderr.contains("is a pointer file"), "{}", run.stderr);
}

#[test]
fn add_of_overlapping_paths() {
    let repo = TestRepo::new();
    repo.write("data/a/x.txt", "x");
    repo.mlci(&["add", "data/a/x.txt"]).ok();
    repo.write("other.csv", "o");
    // Found even where git ignores it, and before any target is added.
    repo.write("data/.gitignore", "a/\n");
    let run = repo.mlci(&["add", "other.csv", "data"]).user_error();
    assert!(
        run.stderr.contains(
            "`data` overlaps `data/a/x.txt`, which is already tracked by data/a/x.txt.mlci"
        ),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("other.csv.mlci"));
}

#[test]
fn add_of_a_directory_holding_a_symlink() {
    let repo = TestRepo::new();
    repo.write("data/a.txt", "a");
    std::os::unix::fs::symlink("/etc/passwd", repo.path("data/link")).unwrap();
    let run = repo.mlci(&["add", "data"]).user_error();
    assert!(
        run.stderr.contains("`data/link` is a symbolic link"),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("data.mlci"));
}

#[test]
fn checkout_refuses_a_corrupt_cache_object_and_names_it() {
    let repo = TestRepo::new();
    repo.write("model.bin", "good weights");
    repo.mlci(&["add", "model.bin"]).ok();
    let hash = sha256_file(&repo.path("model.bin"));
    let obj = repo.object(&hash);
    std::fs::set_permissions(&obj, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&obj, "evil weights").unwrap();
    std::fs::remove_file(repo.path("model.bin")).unwrap();
    let run = checkout_refuses_corrupt(&repo, &hash);
    assert!(
        run.stderr.contains(&obj.display().to_string()),
        "{}",
        run.stderr
    );
    // Garbage was not copied into the workspace, and no temp file is left.
    assert!(!repo.exists("model.bin"));
    let leftovers: Vec<_> = std::fs::read_dir(&repo.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("mlci-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn checkout_refuses_a_corrupt_object_inside_a_directory() {
    let repo = TestRepo::new();
    repo.write_tree("data", 20);
    repo.mlci(&["add", "data"]).ok();
    let victim = sha256_file(&repo.path("data/d5/e2/f5.txt"));
    let obj = repo.object(&victim);
    std::fs::set_permissions(&obj, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&obj, "garbage").unwrap();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    checkout_refuses_corrupt(&repo, &victim);
    // The directory was being restored out of sight: none of it appears,
    // and no staging copy is left behind.
    assert!(!repo.exists("data"));
    let staged = repo.path(".mlci/tmp/checkout");
    assert!(
        !staged.exists() || std::fs::read_dir(&staged).unwrap().next().is_none(),
        "staging left behind in {}",
        staged.display()
    );
}

#[test]
fn a_corrupt_object_is_refused_even_after_a_checkout_vouched_for_it() {
    // Checkout skips hashing an object whose stat is unchanged since mlci
    // last hashed it. A write that even puts the mtime back still moves the
    // ctime, so the object is hashed again and refused.
    let repo = TestRepo::new();
    repo.write_tree("data", 20);
    repo.mlci(&["add", "data"]).ok();
    let good = repo.read("data/d5/e2/f5.txt");
    let victim = sha256_file(&repo.path("data/d5/e2/f5.txt"));
    // Past the racy window, one checkout hashes the objects and remembers
    // them; the next one copies them on the strength of that record.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    for _ in 0..2 {
        std::fs::remove_dir_all(repo.path("data")).unwrap();
        repo.mlci(&["checkout"]).ok();
        assert_eq!(repo.read("data/d5/e2/f5.txt"), good);
    }
    assert!(
        repo.exists(".mlci/tmp/state-objects.bin"),
        "objects remembered"
    );

    let obj = repo.object(&victim);
    let mtime = std::fs::metadata(&obj).unwrap().modified().unwrap();
    std::fs::set_permissions(&obj, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&obj, "X".repeat(good.len())).unwrap();
    let file = std::fs::File::options().write(true).open(&obj).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    std::fs::set_permissions(&obj, std::fs::Permissions::from_mode(0o444)).unwrap();
    let meta = std::fs::metadata(&obj).unwrap();
    assert_eq!(
        (meta.modified().unwrap(), meta.len()),
        (mtime, good.len() as u64)
    );

    std::fs::remove_dir_all(repo.path("data")).unwrap();
    checkout_refuses_corrupt(&repo, &victim);
    assert!(!repo.exists("data"));
}

/// Runs `mlci checkout`, which must exit 2 naming object `hash` as corrupt.
fn checkout_refuses_corrupt(repo: &TestRepo, hash: &str) -> crate::common::Run {
    let run = repo.mlci(&["checkout"]).user_error();
    assert!(
        run.stderr
            .contains(&format!("cache object {hash} is corrupt")),
        "{}",
        run.stderr
    );
    run
}

#[test]
fn malformed_pointer_yaml_names_file_and_line() {
    let repo = TestRepo::new();
    repo.write(
        "data.mlci",
        "outs:\n- path: data\n  hash: sha256\n  sha256: [oops\n",
    );
    let run = repo.mlci(&["status"]).user_error();
    assert!(
        run.stderr.starts_with("error: data.mlci:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: pointer files are written by `mlci add`"),
        "{}",
        run.stderr
    );
    repo.write(
        "data.mlci",
        "outs:\n- path: data\n  hash: sha256\n  sha256: abc\n  size: 1\n  colour: red\n",
    );
    snapshot!(repo, repo.mlci(&["checkout"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: data.mlci:6:3: outs[0]: unknown field `colour`, expected one of `path`, `hash`, `sha256`, `size`, `nfiles`
    hint: pointer files are written by `mlci add`; restore data.mlci from git (`git checkout -- data.mlci`) or add the data again
    ");
}

#[test]
fn pointer_with_a_parent_dir_path_is_refused_before_any_write() {
    let repo = TestRepo::new();
    repo.write("secret.txt", "s");
    repo.mlci(&["add", "secret.txt"]).ok();
    let pointer = repo
        .read("secret.txt.mlci")
        .replace("path: secret.txt", "path: ../../outside.txt");
    repo.write("sub/evil.mlci", pointer);
    snapshot!(repo, repo.mlci(&["checkout"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: sub/evil.mlci:2: unsafe `path`: `../../outside.txt` leaves its directory through `..`
    hint: pointer files are written by `mlci add`; restore sub/evil.mlci from git (`git checkout -- sub/evil.mlci`) or add the data again
    ");
    assert!(!repo.root.parent().unwrap().join("outside.txt").exists());
}

#[test]
fn checkout_never_writes_through_a_symlink_planted_in_a_tracked_directory() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    repo.write("data/sub/a.txt", "a");
    repo.write("data/b.txt", "b");
    repo.mlci(&["add", "data"]).ok();
    std::fs::remove_dir_all(repo.path("data/sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path("data/sub")).unwrap();
    let run = repo.mlci(&["checkout"]).user_error();
    assert!(run.stderr.contains("data/sub"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    repo.mlci(&["checkout", "--force"]).ok();
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert!(repo.path("data/sub").symlink_metadata().unwrap().is_dir());
    assert_eq!(repo.read("data/sub/a.txt"), "a");
}

#[test]
fn a_pointer_inside_a_symlinked_directory_is_outside_the_repository() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    repo.write("x.txt", "x");
    repo.mlci(&["add", "x.txt"]).ok();
    std::fs::copy(repo.path("x.txt.mlci"), outside.path().join("x.txt.mlci")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path("link")).unwrap();
    let run = repo.mlci(&["checkout", "link/x.txt.mlci"]).user_error();
    assert!(
        run.stderr.contains("outside the repository"),
        "{}",
        run.stderr
    );
    assert!(!outside.path().join("x.txt").exists());
}

#[test]
fn outside_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let out = mlci_cmd(dir.path()).args(["init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not inside a git repository"), "{err}");
    assert!(
        err.contains("hint: mlci keeps its pointers in git: run `git init` first"),
        "{err}"
    );
    let out = mlci_cmd(dir.path()).args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn git_repository_without_mlci_init() {
    let repo = TestRepo::new();
    std::fs::remove_dir_all(repo.path(".mlci")).unwrap();
    let run = repo.mlci(&["add", "x"]).user_error();
    assert!(run.stderr.contains("has no mlci set-up"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: run `mlci init`"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_with_an_unknown_key_or_bad_value() {
    let repo = TestRepo::new();
    repo.write(".mlci/config.yaml", "core:\n  link_type: copy\n  jobz: 4\n");
    snapshot!(repo, repo.mlci(&["status"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: [REPO]/.mlci/config.yaml:3:3: core: unknown field `jobz`, expected one of `remote`, `link_type`, `jobs`, `gc_grace`, `cache_dir`
    hint: see the configuration reference in the README for the keys each section accepts
    ");
    repo.write(".mlci/config.yaml", "core:\n  link_type: [teleport]\n");
    let run = repo.mlci(&["status"]).user_error();
    assert!(
        run.stderr
            .contains("`core.link_type`: unknown link type `teleport`"),
        "{}",
        run.stderr
    );
    repo.write(".mlci/config.yaml", "core:\n  link_type: copy\n");
    let mut cmd = mlci_cmd(&repo.root);
    let out = cmd
        .args(["status"])
        .env("MLCI_JOBS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MLCI_JOBS"));
}

#[test]
fn gc_without_a_scope() {
    let repo = TestRepo::new();
    snapshot!(repo, repo.mlci(&["gc"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: gc needs a scope: which references to keep
    hint: `mlci gc --workspace` keeps only what the current checkout uses; add `--all-commits` or `--rev REV` to keep history
    ");
}

#[test]
fn second_process_gets_a_clear_lock_error() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a");
    // Another process holds the repository lock, as a running mlci would
    // (a separate process, so no fd of this multi-threaded test can leak
    // into a concurrently spawned child and keep the lock alive).
    std::fs::create_dir_all(repo.path(".mlci/tmp")).unwrap();
    std::fs::write(repo.path(".mlci/tmp/lock"), "4242").unwrap();
    // `-o`: the lock stays with flock itself, not with its `sleep` child.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(repo.path(".mlci/tmp/lock"))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    // Wait until the lock is really taken.
    for _ in 0..200 {
        let probe = std::process::Command::new("flock")
            .args(["-n"])
            .arg(repo.path(".mlci/tmp/lock"))
            .arg("true")
            .status()
            .unwrap();
        if !probe.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let run = repo.mlci(&["add", "a.txt"]).user_error();
    assert!(
        run.stderr
            .contains("another mlci process (pid 4242) is working in this repository"),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("a.txt.mlci"));
    // status still answers, without refreshing the state.
    assert_eq!(repo.mlci(&["status"]).code, 0);
    holder.kill().unwrap();
    holder.wait().unwrap();
    repo.mlci(&["add", "a.txt"]).ok();
}

#[test]
fn unreadable_file_names_the_file_and_adds_nothing() {
    let repo = TestRepo::new();
    repo.write("data/ok.txt", "fine");
    repo.write("data/secret.txt", "s");
    std::fs::set_permissions(
        repo.path("data/secret.txt"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    // root reads anything; drop the capabilities that let it, so the kernel
    // really refuses the read.
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--bounding-set=-dac_override,-dac_read_search",
            crate::common::BIN,
        ]);
        c
    } else {
        std::process::Command::new(crate::common::BIN)
    };
    crate::common::hermetic(&mut cmd, &repo.root);
    let out = cmd
        .current_dir(&repo.root)
        .args(["add", "data"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("data/secret.txt"), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(stderr.contains("hint: check the permissions"), "{stderr}");
    assert!(!repo.exists("data.mlci"));
    assert!(!repo.exists(".gitignore"));
}

#[test]
fn special_files_in_a_directory_are_refused() {
    let repo = TestRepo::new();
    std::fs::create_dir(repo.path("data")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(repo.path("data/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = repo.mlci(&["add", "data"]).user_error();
    assert!(
        run.stderr
            .contains("`data/pipe` is not a regular file or directory"),
        "{}",
        run.stderr
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A DVC project set up in a subdirectory (`dvc init --subdir`, common in
/// monorepos): mlci's workspace is the git work tree's root, so run from
/// inside such a project it would read another pipeline; it refuses, naming
/// the project, and writes nothing. From the root (or a plain subdirectory)
/// it works, and `init` says where it set up.
#[test]
fn a_dvc_project_in_a_subdirectory_is_refused_not_mistaken_for_the_root() {
    let repo = TestRepo::new();
    repo.write("proj/.dvc/config", "");
    repo.write(
        "proj/dvc.yaml",
        "stages:\n  s:\n    cmd: echo sub > o.txt\n    outs: [o.txt]\n",
    );
    repo.write(
        "mlci.yaml",
        "stages:\n  root:\n    cmd: echo root > r.txt\n    outs: [r.txt]\n",
    );
    repo.commit_all("monorepo");
    for args in [&["repro"][..], &["status"], &["init"], &["import-dvc"]] {
        let run = repo.mlci_in("proj", args).user_error();
        assert!(
            run.stderr
                .contains("proj is a DVC project in a subdirectory of the git work tree")
                && run.stderr.contains("dvc init --subdir"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(!repo.path("r.txt").exists() && !repo.path("proj/o.txt").exists());
    repo.mlci(&["repro"]).ok();
    assert!(repo.path("r.txt").exists());
    let run = repo.mlci_in("proj/.dvc", &["status"]).user_error();
    assert!(
        run.stderr.contains("DVC project in a subdirectory"),
        "{}",
        run.stderr
    );

    let plain = tempfile::tempdir().unwrap();
    crate::common::git_in(plain.path(), &["init", "-q"]);
    std::fs::create_dir(plain.path().join("sub")).unwrap();
    let out = mlci_cmd(&plain.path().join("sub"))
        .arg("init")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("(the root of the git work tree"),
        "{stderr}"
    );
    assert!(plain.path().join(".mlci/config.yaml").is_file());
}

/// A panic is a bug in mlci: exit 3 (never 2, which is the input's fault)
/// and a message that says so, with no backtrace unless asked for.
#[test]
fn a_panic_reads_as_a_bug_in_mlci_and_exits_3() {
    let repo = TestRepo::new();
    let run = repo.mlci_env(
        &["status"],
        &[("MLCI_DEBUG_PANIC", "1"), ("RUST_BACKTRACE", "0")],
    );
    assert_eq!(run.code, 3, "{run:?}");
    let stderr = regex::Regex::new(r"at src/lib\.rs:\d+")
        .unwrap()
        .replace(&run.stderr, "at src/lib.rs:[LINE]")
        .into_owned();
    insta::assert_snapshot!(stderr, @r"
        error: internal error: MLCI_DEBUG_PANIC is set at src/lib.rs:[LINE]
        hint: this is a bug in mlci, not in your input; please report it with the command that was run and this message (exit 3)
    ");
}
