//! `add`, `status`, `checkout` and `remove` on files and directories.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::common::{count_files, sha256_file, TestRepo};
use crate::snapshot;

#[test]
fn add_file_writes_pointer_object_and_gitignore() {
    let repo = TestRepo::new();
    repo.write("data/raw.csv", "a,b\n1,2\n");
    let run = repo.mlci(&["add", "data/raw.csv"]).ok();
    assert!(
        run.stderr
            .contains("added data/raw.csv (8 B) -> data/raw.csv.mlci"),
        "{}",
        run.stderr
    );
    let hash = sha256_file(&repo.path("data/raw.csv"));
    assert_eq!(
        repo.read("data/raw.csv.mlci"),
        format!("outs:\n- path: raw.csv\n  hash: sha256\n  sha256: {hash}\n  size: 8\n")
    );
    let obj = repo.object(&hash);
    assert_eq!(std::fs::read_to_string(&obj).unwrap(), "a,b\n1,2\n");
    assert_eq!(
        std::fs::metadata(&obj).unwrap().permissions().mode() & 0o222,
        0,
        "objects are read-only"
    );
    assert_eq!(repo.read("data/.gitignore"), "/raw.csv\n");
    // The workspace file is left as it was: not a link into the cache.
    let ws = std::fs::metadata(repo.path("data/raw.csv")).unwrap();
    assert_ne!(ws.ino(), std::fs::metadata(&obj).unwrap().ino());
    assert!(!ws.permissions().readonly());
    // git sees the pointer and the .gitignore, not the data.
    let st = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        st.contains("data/raw.csv.mlci") && st.contains("data/.gitignore"),
        "{st}"
    );
    assert!(!st.contains("data/raw.csv\n"), "{st}");
}

#[test]
fn add_directory_writes_canonical_manifest() {
    let repo = TestRepo::new();
    repo.write("images/b/2.txt", "two");
    repo.write("images/a.txt", "one");
    repo.write("images/b-c/3.txt", "three");
    repo.mlci(&["add", "images"]).ok();
    let pointer = repo.read("images.mlci");
    let manifest_hash = pointer
        .lines()
        .find_map(|l| l.strip_prefix("  sha256: "))
        .and_then(|h| h.strip_suffix(".dir"))
        .expect("a .dir hash")
        .to_string();
    assert!(pointer.contains("  size: 11\n  nfiles: 3\n"), "{pointer}");
    let manifest = repo.path(&format!(
        ".mlci/cache/sha256/{}/{}.dir",
        &manifest_hash[..2],
        &manifest_hash[2..]
    ));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let h = |s: &str| {
        sha256_file(&{
            let p = repo.path("tmp-h");
            std::fs::write(&p, s).unwrap();
            p
        })
    };
    let expected = format!(
        r#"[{{"path":"a.txt","sha256":"{}","size":3}},{{"path":"b-c/3.txt","sha256":"{}","size":5}},{{"path":"b/2.txt","sha256":"{}","size":3}}]"#,
        h("one"),
        h("three"),
        h("two")
    );
    assert_eq!(text, expected);
    assert_eq!(sha256_file(&manifest), manifest_hash);
    assert_eq!(repo.read(".gitignore"), "/images\n");
}

#[test]
fn status_reports_clean_modified_deleted_and_check_exit_codes() {
    let repo = TestRepo::new();
    repo.write_tree("data", 30);
    repo.write("model.bin", "weights");
    repo.mlci(&["add", "data", "model.bin"]).ok();
    let run = repo.mlci(&["status", "--check"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "2 tracked path(s) up to date\n")
    );

    repo.write("data/d1/e1/f1.txt", "changed");
    repo.write("data/new.txt", "new");
    std::fs::remove_file(repo.path("data/d2/e2/f2.txt")).unwrap();
    std::fs::remove_file(repo.path("model.bin")).unwrap();
    snapshot!(repo, repo.mlci(&["status"]), @r"
    exit: 0
    --- stdout
    data: modified
        added: new.txt
        modified: d1/e1/f1.txt
        deleted: d2/e2/f2.txt
    model.bin: deleted
    --- stderr
    ");
    assert_eq!(repo.mlci(&["status", "--check"]).code, 1);

    let json: serde_json::Value =
        serde_json::from_str(&repo.mlci(&["status", "--json"]).ok().stdout).unwrap();
    assert_eq!(json["data"][0]["path"], "data");
    assert_eq!(json["data"][0]["state"], "modified");
    assert_eq!(json["data"][0]["changes"]["added"][0], "new.txt");
    assert_eq!(json["data"][1]["state"], "deleted");
    assert_eq!(json["data"][1]["in_cache"], true);
    assert!(json["stages"].as_array().unwrap().is_empty());
    assert!(json.get("remote").is_some());
}

#[test]
fn status_sees_a_same_size_edit_within_the_racy_window() {
    // Written, added and rewritten within the same second with the same size:
    // the stat cache must not vouch for the old hash.
    let repo = TestRepo::new();
    repo.write("a.txt", "aaaa");
    repo.mlci(&["add", "a.txt"]).ok();
    repo.write("a.txt", "bbbb");
    assert_eq!(repo.mlci(&["status", "--check"]).code, 1);
}

#[test]
fn a_damaged_or_misplaced_manifest_memo_is_ignored() {
    // Checkout keeps each parsed manifest in .mlci/tmp/manifests; a memo
    // that is garbage, or is another manifest's, must never be used.
    let repo = TestRepo::new();
    let memos = |r: &TestRepo| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(r.path(".mlci/tmp/manifests"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    repo.write_tree("data", 10);
    repo.mlci(&["add", "data"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["checkout"]).ok();
    let first = memos(&repo);
    assert_eq!(first.len(), 1, "{first:?}");

    repo.write("data/d0/extra.txt", "second version");
    repo.mlci(&["add", "data"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["checkout"]).ok();
    let second: Vec<_> = memos(&repo)
        .into_iter()
        .filter(|p| !first.contains(p))
        .collect();
    assert_eq!(second.len(), 1, "{second:?}");

    // The first version's memo under the second's name.
    std::fs::copy(&first[0], &second[0]).unwrap();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(repo.read("data/d0/extra.txt"), "second version");
    repo.mlci(&["status", "--check"]).ok();

    std::fs::write(&second[0], b"garbage").unwrap();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(repo.read("data/d0/extra.txt"), "second version");
    assert_eq!(count_files(&repo.path("data")), 11);
    repo.mlci(&["status", "--check"]).ok();

    // gc drops the memo of a manifest it removes.
    repo.mlci(&["gc", "--workspace"]).ok();
    assert_eq!(memos(&repo), second);
}

#[test]
fn a_remembered_listing_still_sees_every_kind_of_change() {
    // Once the files are older than the racy window, status remembers the
    // directory's listing fingerprint; any later change must still show.
    let repo = TestRepo::new();
    repo.write_tree("data", 30);
    repo.mlci(&["add", "data"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(2200));
    repo.mlci(&["status", "--check"]).ok();
    assert!(
        repo.exists(".mlci/tmp/state-dirs.bin"),
        "listing remembered"
    );
    // Answered from the memo alone, without the per-file records.
    std::fs::remove_file(repo.path(".mlci/tmp/state.bin")).unwrap();
    repo.mlci(&["status", "--check"]).ok();
    assert!(
        !repo.exists(".mlci/tmp/state.bin"),
        "a matching listing needs no per-file records"
    );

    type Change = (&'static str, fn(&TestRepo));
    let changes: [Change; 4] = [
        ("same-size edit", |r| {
            r.write("data/d1/e1/f1.txt", "file 1\n?")
        }),
        ("new file", |r| r.write("data/d1/extra.txt", "x")),
        ("deleted file", |r| {
            std::fs::remove_file(r.path("data/d2/e2/f2.txt")).unwrap()
        }),
        ("renamed file", |r| {
            std::fs::rename(r.path("data/d3/e0/f3.txt"), r.path("data/d3/e0/g3.txt")).unwrap()
        }),
    ];
    let before = repo.read("data/d1/e1/f1.txt");
    for (what, change) in changes {
        change(&repo);
        assert_eq!(repo.mlci(&["status", "--check"]).code, 1, "{what}");
        repo.mlci(&["checkout", "--force"]).ok();
        assert_eq!(repo.read("data/d1/e1/f1.txt"), before);
        // Let the restored files settle and the listing be remembered again.
        std::thread::sleep(std::time::Duration::from_millis(2200));
        repo.mlci(&["status", "--check"]).ok();
    }
}

#[test]
fn checkout_restores_deleted_data_and_keeps_unchanged_files() {
    let repo = TestRepo::new();
    repo.write_tree("data", 50);
    repo.write("model.bin", vec![7u8; 100_000]);
    repo.mlci(&["add", "data", "model.bin"]).ok();
    let before = sha256_file(&repo.path("data/d3/e0/f3.txt"));
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    std::fs::remove_file(repo.path("model.bin")).unwrap();
    let run = repo.mlci(&["checkout"]).ok();
    assert!(
        run.stderr
            .contains("restored 51 file(s), 0 already up to date"),
        "{}",
        run.stderr
    );
    assert_eq!(sha256_file(&repo.path("data/d3/e0/f3.txt")), before);
    assert_eq!(
        std::fs::read(repo.path("model.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    // Restored files are the user's to edit, not read-only cache objects.
    assert!(!std::fs::metadata(repo.path("model.bin"))
        .unwrap()
        .permissions()
        .readonly());
    repo.mlci(&["status", "--check"]).ok();
    let run = repo.mlci(&["checkout", "data"]).ok();
    assert!(
        run.stderr
            .contains("restored 0 file(s), 50 already up to date"),
        "{}",
        run.stderr
    );
}

#[test]
fn checkout_of_an_older_version_replaces_cached_content_and_extra_files() {
    let repo = TestRepo::new();
    repo.write("data/a.txt", "v1");
    repo.mlci(&["add", "data"]).ok();
    repo.commit_all("v1");
    repo.write("data/a.txt", "v2");
    repo.write("data/b.txt", "extra");
    repo.mlci(&["add", "data"]).ok();
    repo.commit_all("v2");
    repo.git(&["checkout", "-q", "HEAD~1"]);
    let run = repo.mlci(&["checkout"]).ok();
    assert!(run.stderr.contains("removed 1"), "{}", run.stderr);
    assert_eq!(repo.read("data/a.txt"), "v1");
    assert!(!repo.exists("data/b.txt"));
    repo.mlci(&["status", "--check"]).ok();
}

#[test]
fn checkout_refuses_to_lose_uncached_changes_unless_forced() {
    let repo = TestRepo::new();
    repo.write("data/a.txt", "v1");
    repo.write("data/keep.txt", "k");
    repo.mlci(&["add", "data"]).ok();
    repo.write("data/a.txt", "precious local edit");
    repo.write("data/new.txt", "also precious");
    std::fs::remove_file(repo.path("data/keep.txt")).unwrap();
    let run = repo.mlci(&["checkout"]).user_error();
    assert!(run.stderr.contains("data/a.txt"), "{}", run.stderr);
    assert!(run.stderr.contains("data/new.txt"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    // Nothing was touched, not even the missing file that could be restored.
    assert_eq!(repo.read("data/a.txt"), "precious local edit");
    assert!(!repo.exists("data/keep.txt"));
    repo.mlci(&["checkout", "--force"]).ok();
    assert_eq!(repo.read("data/a.txt"), "v1");
    assert_eq!(repo.read("data/keep.txt"), "k");
    assert!(!repo.exists("data/new.txt"));
}

#[test]
fn re_adding_unchanged_data_reports_unchanged_and_changed_data_updates_the_pointer() {
    let repo = TestRepo::new();
    repo.write_tree("data", 10);
    repo.mlci(&["add", "data"]).ok();
    let p1 = repo.read("data.mlci");
    let run = repo.mlci(&["add", "data"]).ok();
    assert!(
        run.stderr.contains("unchanged data (10 files"),
        "{}",
        run.stderr
    );
    assert_eq!(repo.read("data.mlci"), p1);
    repo.write("data/extra.txt", "more");
    repo.mlci(&["add", "data"]).ok();
    assert_ne!(repo.read("data.mlci"), p1);
    assert!(repo.read("data.mlci").contains("nfiles: 11"));
    assert_eq!(repo.read(".gitignore"), "/data\n", "no duplicate entries");
}

#[test]
fn add_from_a_subdirectory_and_targets_by_pointer_path() {
    let repo = TestRepo::new();
    repo.write("sub/dir/m.bin", "m");
    repo.mlci_in("sub", &["add", "dir/m.bin"]).ok();
    assert!(repo.exists("sub/dir/m.bin.mlci"));
    std::fs::remove_file(repo.path("sub/dir/m.bin")).unwrap();
    repo.mlci_in("sub/dir", &["checkout", "m.bin.mlci"]).ok();
    assert_eq!(repo.read("sub/dir/m.bin"), "m");
}

#[test]
fn remove_stops_tracking_but_keeps_the_data() {
    let repo = TestRepo::new();
    repo.write("data/x.csv", "x");
    repo.write("data/.gitignore", "*.tmp\n");
    repo.mlci(&["add", "data/x.csv"]).ok();
    assert_eq!(repo.read("data/.gitignore"), "*.tmp\n/x.csv\n");
    repo.mlci(&["remove", "data/x.csv"]).ok();
    assert!(!repo.exists("data/x.csv.mlci"));
    assert_eq!(repo.read("data/.gitignore"), "*.tmp\n");
    assert_eq!(repo.read("data/x.csv"), "x");
    assert_eq!(
        repo.mlci(&["status"]).ok().stdout,
        "nothing is tracked yet (`mlci add <path>` starts)\n"
    );
}

#[test]
fn hardlink_and_symlink_link_types_give_read_only_links() {
    for (link, check) in [("hardlink", "hard"), ("symlink", "sym")] {
        let repo = TestRepo::new();
        repo.write(
            ".mlci/config.yaml",
            format!("core:\n  link_type: [{link}, copy]\n"),
        );
        repo.write("data/a.bin", "payload");
        repo.mlci(&["add", "data"]).ok();
        let hash = sha256_file(&repo.path("data/a.bin"));
        let obj = repo.object(&hash);
        let ws = repo.path("data/a.bin");
        if check == "hard" {
            assert_eq!(
                std::fs::metadata(&ws).unwrap().ino(),
                std::fs::metadata(&obj).unwrap().ino()
            );
        } else {
            assert_eq!(std::fs::read_link(&ws).unwrap(), obj);
        }
        // Never a writable link into the cache.
        assert!(
            std::fs::metadata(&ws).unwrap().permissions().readonly(),
            "{link}"
        );
        repo.mlci(&["status", "--check"]).ok();
        std::fs::remove_dir_all(repo.path("data")).unwrap();
        repo.mlci(&["checkout"]).ok();
        assert_eq!(repo.read("data/a.bin"), "payload");
        repo.mlci(&["status", "--check"]).ok();
    }
}

#[test]
fn status_json_into_a_closed_pipe_exits_quietly() {
    let repo = TestRepo::new();
    repo.write_tree("data", 3000);
    repo.mlci(&["add", "data"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    std::fs::create_dir(repo.path("data")).unwrap();
    // 3000 deleted paths make far more JSON than a pipe buffers, so mlci
    // writes into a pipe whose reader has gone.
    let mut cmd = std::process::Command::new("bash");
    crate::common::hermetic(&mut cmd, &repo.root);
    let out = cmd
        .current_dir(&repo.root)
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' status --json | head -c 1 >/dev/null",
            crate::common::BIN
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// `.mlciignore` (and `.dvcignore`) files, gitignore syntax at any level,
/// keep files out of what `add` stores, what `status` compares and what
/// `checkout` replaces.
#[test]
fn ignore_files_exclude_from_add_status_and_checkout() {
    let repo = TestRepo::new();
    repo.write("data/a.csv", "a\n");
    repo.write("data/sub/b.csv", "b\n");
    repo.write("data/scratch.tmp", "noise\n");
    repo.write("data/.mlciignore", "*.tmp\n");
    repo.write(".dvcignore", "cache/\n");
    repo.write("data/sub/cache/x.bin", "cached\n");
    let added = repo.mlci(&["add", "data"]).ok();
    // a.csv, sub/b.csv and the ignore file itself.
    let said = format!("{}{}", added.stdout, added.stderr);
    assert!(said.contains("(3 files"), "{said}");
    repo.write("data/other.tmp", "more noise\n");
    repo.write("data/sub/cache/y.bin", "more\n");
    let st = repo.mlci(&["status", "--check"]).ok();
    assert!(st.stdout.contains("up to date"), "{}", st.stdout);
    repo.write("data/a.csv", "changed\n");
    assert_eq!(repo.mlci(&["status", "--check"]).code, 1);
    repo.mlci(&["checkout", "--force", "data"]).ok();
    assert_eq!(repo.read("data/a.csv"), "a\n");
    // Ignored files are left alone by checkout.
    assert_eq!(repo.read("data/other.tmp"), "more noise\n");
    assert!(repo.exists("data/sub/cache/y.bin"));
}

/// An ignore file that is a link is never read: a pull request cannot make
/// mlci read a file outside the workspace through it.
#[test]
fn an_ignore_file_that_is_a_link_is_not_read() {
    let repo = TestRepo::new();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "*.csv\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path(".dvcignore")).unwrap();
    repo.write("data/a.csv", "a\n");
    repo.write("data/b.txt", "b\n");
    let added = repo.mlci(&["add", "data"]).ok();
    let said = format!("{}{}", added.stdout, added.stderr);
    assert!(
        said.contains("(2 files"),
        "the link's patterns do not apply: {said}"
    );
}

/// A cache moved out of the workspace (`core.cache_dir` in the git-ignored
/// `config.local.yaml`, or `MLCI_CACHE_DIR`), as teams share one cache on a
/// runner: objects go there, a second workspace with the same setting
/// checks out from it with no remote, the committed config may not move it
/// (a pull request could point it anywhere), `symlink` checkouts are
/// refused with it, and gc asks for `--force` (other workspaces' objects
/// would go).
#[test]
fn a_cache_moved_out_of_the_workspace_is_shared_and_guarded() {
    let shared = tempfile::tempdir().unwrap();
    let local = format!("core:\n  cache_dir: {}\n", shared.path().display());
    let a = TestRepo::new();
    a.write(".mlci/config.local.yaml", &local);
    for i in 0..20 {
        a.write(&format!("data/{i}.txt"), format!("row {i}\n"));
    }
    a.mlci(&["add", "data"]).ok();
    assert!(a.cache_objects().is_empty(), "nothing in .mlci/cache");
    assert_eq!(
        count_files(&shared.path().join("sha256")),
        21,
        "20 files and a manifest"
    );
    a.commit_all("data");
    a.mlci(&["fsck"]).ok();

    // A second workspace of the same project, same machine: no remote.
    let b = TestRepo::new();
    crate::common::git_clone(&a.root, &b.path("c"), &[]);
    let c = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = crate::common::mlci_cmd(&b.path("c"));
        cmd.args(args).envs(env.iter().copied());
        cmd.output().unwrap()
    };
    let cache_env = [("MLCI_CACHE_DIR", shared.path().to_str().unwrap())];
    let out = c(&["checkout"], &cache_env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(b.path("c/data/7.txt")).unwrap(),
        "row 7\n"
    );

    // Machine-local only.
    let committed = a.read(".mlci/config.yaml");
    a.write(
        ".mlci/config.yaml",
        committed.replacen("core:\n", "core:\n  cache_dir: /etc\n", 1),
    );
    let run = a.mlci(&["status"]).user_error();
    assert!(run.stderr.contains("`core.cache_dir`"), "{}", run.stderr);
    a.write(".mlci/config.yaml", &committed);

    let run = a
        .mlci_env(&["status"], &[("MLCI_LINK_TYPE", "symlink")])
        .user_error();
    assert!(
        run.stderr
            .contains("`symlink` checkouts need the cache inside"),
        "{}",
        run.stderr
    );

    std::fs::remove_dir_all(a.path("data")).unwrap();
    std::fs::remove_file(a.path("data.mlci")).unwrap();
    let run = a.mlci(&["gc", "--workspace"]).user_error();
    assert!(
        run.stderr.contains("other workspaces may share"),
        "{}",
        run.stderr
    );
    assert_eq!(
        count_files(&shared.path().join("sha256")),
        21,
        "nothing removed"
    );
    a.mlci(&["gc", "--workspace", "--dry-run"]).ok();
    a.mlci(&["gc", "--workspace", "--force"]).ok();
    assert_eq!(count_files(&shared.path().join("sha256")), 0);
}
