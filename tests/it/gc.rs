//! `mlci gc`: what each scope keeps.

use crate::common::{sha256_file, TestRepo};

fn object_exists(repo: &TestRepo, hash: &str) -> bool {
    repo.object(hash).exists()
}

/// Three versions of a model, v1 and v2 committed on main, v3 in the
/// workspace; plus a directory committed on a side branch only.
fn history() -> (TestRepo, [String; 3], String) {
    let repo = TestRepo::new();
    let mut hashes = Vec::new();
    for v in ["v1", "v2", "v3"] {
        repo.write("model.bin", format!("weights {v}"));
        hashes.push(sha256_file(&repo.path("model.bin")));
        repo.mlci(&["add", "model.bin"]).ok();
        if v != "v3" {
            repo.commit_all(v);
        }
    }
    repo.git(&["stash", "-q"]);
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("side/data.txt", "side data");
    let side = sha256_file(&repo.path("side/data.txt"));
    repo.mlci(&["add", "side"]).ok();
    repo.commit_all("side");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["stash", "pop", "-q"]);
    repo.mlci(&["checkout"]).ok();
    (
        repo,
        [hashes[0].clone(), hashes[1].clone(), hashes[2].clone()],
        side,
    )
}

#[test]
fn workspace_scope_keeps_only_the_checkout() {
    let (repo, [v1, v2, v3], side) = history();
    let dry = repo.mlci(&["gc", "--workspace", "--dry-run"]).ok();
    assert!(dry.stdout.contains(&v1) && dry.stdout.contains(&v2) && dry.stdout.contains(&side));
    assert!(!dry.stdout.contains(&v3));
    assert!(object_exists(&repo, &v1), "dry run removes nothing");
    repo.mlci(&["gc", "--workspace"]).ok();
    assert!(object_exists(&repo, &v3));
    assert!(
        !object_exists(&repo, &v1) && !object_exists(&repo, &v2) && !object_exists(&repo, &side)
    );
    repo.mlci(&["status", "--check"]).ok();
    repo.assert_cache_sound();
}

#[test]
fn rev_scope_keeps_those_revisions_and_the_workspace() {
    let (repo, [v1, v2, v3], side) = history();
    repo.mlci(&["gc", "--rev", "HEAD~1"]).ok();
    assert!(object_exists(&repo, &v1) && object_exists(&repo, &v3));
    assert!(!object_exists(&repo, &v2) && !object_exists(&repo, &side));
}

#[test]
fn all_commits_scope_keeps_every_branch_and_directory_contents() {
    let (repo, [v1, v2, v3], side) = history();
    let run = repo.mlci(&["gc", "--all-commits", "--json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["removed"].as_array().unwrap().len(), 0, "{json}");
    for h in [&v1, &v2, &v3, &side] {
        assert!(object_exists(&repo, h));
    }
    // Checking out the side branch still works after gc.
    repo.git(&["stash", "-q"]);
    repo.git(&["checkout", "-q", "side"]);
    std::fs::remove_dir_all(repo.path("side")).unwrap();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(repo.read("side/data.txt"), "side data");
}

#[test]
fn gc_with_an_unknown_revision_is_an_error() {
    let (repo, _, _) = history();
    let run = repo.mlci(&["gc", "--rev", "no-such-branch"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-branch"), "{}", run.stderr);
}
