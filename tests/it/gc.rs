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

/// Run records on the remote and locally: one per parameter value.
fn with_run_records(kind: crate::common::Server) -> (TestRepo, String, String) {
    let repo = TestRepo::new();
    repo.write("data.txt", "input\n");
    repo.write("params.yaml", "p: 1\n");
    repo.write(
        "dvc.yaml",
        "stages:\n  s:\n    cmd: cat data.txt params.yaml > out.txt\n    deps: [data.txt]\n    params: [p]\n    outs: [out.txt]\n",
    );
    repo.add_remote("store", kind);
    repo.mlci(&["repro"]).ok();
    let out1 = sha256_file(&repo.path("out.txt"));
    repo.mlci(&["push"]).ok();
    repo.commit_all("p=1");
    repo.write("params.yaml", "p: 2\n");
    repo.mlci(&["repro"]).ok();
    let out2 = sha256_file(&repo.path("out.txt"));
    repo.mlci(&["push"]).ok();
    repo.commit_all("p=2");
    (repo, out1, out2)
}

fn json(run: &crate::common::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap()
}

fn keys(v: &serde_json::Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.get("key").unwrap_or(k).as_str().unwrap().to_string())
        .collect()
}

fn object_key(hash: &str) -> String {
    format!("sha256/{}/{}", &hash[..2], &hash[2..])
}

/// `gc --remote` with the workspace scope, on a real server and on a
/// directory remote: nothing young is touched, the grace period is
/// configurable, the old output and its run record go, the current ones
/// stay and a fresh clone still pulls them.
fn remote_gc_with_grace(kind: crate::common::Server) {
    let (repo, out1, out2) = with_run_records(kind);
    let dry = repo
        .mlci(&[
            "gc",
            "--remote",
            "store",
            "--workspace",
            "--dry-run",
            "--json",
        ])
        .ok();
    let v = json(&dry);
    assert!(keys(&v, "objects").is_empty(), "all younger than 24h: {v}");
    assert!(v["young"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["grace_seconds"], 86_400);

    // core.gc_grace is honoured (and --grace overrides it, below).
    let config = repo.read(".mlci/config.yaml");
    assert!(config.contains("core:\n"), "{config}");
    repo.write(
        ".mlci/config.yaml",
        config.replace("core:\n", "core:\n  gc_grace: 0s\n"),
    );
    let v = json(
        &repo
            .mlci(&[
                "gc",
                "--remote",
                "store",
                "--workspace",
                "--dry-run",
                "--json",
            ])
            .ok(),
    );
    repo.write(".mlci/config.yaml", &config);
    assert_eq!(v["grace_seconds"], 0, "{v}");
    assert_eq!(keys(&v, "objects"), [object_key(&out1)], "{v}");
    assert_eq!(
        keys(&v, "run_records").len(),
        1,
        "p=1's record goes with its output"
    );

    let v = json(
        &repo
            .mlci(&[
                "gc",
                "--remote",
                "store",
                "--workspace",
                "--grace",
                "0s",
                "--json",
            ])
            .ok(),
    );
    assert_eq!(keys(&v, "objects"), [object_key(&out1)]);
    let again = json(
        &repo
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
            .ok(),
    );
    assert!(
        keys(&again, "objects").is_empty() && keys(&again, "run_records").is_empty(),
        "{again}"
    );

    // Another machine: the workspace's data and run record are still there.
    let other = repo.clone_to(&crate::common::unique("gc-clone"));
    other.mlci(&["pull"]).ok();
    assert_eq!(sha256_file(&other.path("out.txt")), out2);
    let run = other.mlci(&["repro"]).ok();
    assert!(
        !run.stderr.contains("running stage"),
        "restored, not rerun: {}",
        run.stderr
    );
    // The old revision's output is gone from the remote, and fsck says so.
    other.git(&["checkout", "-q", "HEAD~1"]);
    let run = other.mlci(&["fsck", "--remote", "store", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains(&out1));
}

#[test]
fn remote_gc_on_seaweedfs_keeps_young_and_referenced_objects() {
    remote_gc_with_grace(crate::common::Server::S3);
}

#[test]
fn remote_gc_on_a_directory_remote_keeps_young_and_referenced_objects() {
    remote_gc_with_grace(crate::common::Server::Local);
}

/// Machine B's record of what the remote holds lists an object that a gc
/// on machine A deleted; B's next push must upload it again, not skip it.
#[test]
fn a_push_after_a_remote_gc_uploads_again_what_gc_deleted() {
    let repo = TestRepo::new();
    repo.add_remote("store", crate::common::Server::Local);
    // Enough other objects that push's sample of its record (16 keys)
    // passes model.bin by: only the gc epoch can tell B the record is stale.
    let mut files = Vec::new();
    for i in 0..40 {
        let f = format!("a{i:02}.txt");
        repo.write(&f, format!("file {i}"));
        files.push(f);
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    repo.mlci(&[&["add"][..], &files].concat()).ok();
    repo.write("model.bin", "v1");
    let v1 = sha256_file(&repo.path("model.bin"));
    repo.mlci(&["add", "model.bin"]).ok();
    repo.mlci(&["push"]).ok();
    repo.commit_all("v1");
    let b = repo.clone_to(&crate::common::unique("gc-b"));
    b.mlci(&["pull"]).ok();
    b.mlci(&["push"]).ok();
    repo.write("model.bin", "v2");
    repo.mlci(&["add", "model.bin"]).ok();
    repo.mlci(&["push"]).ok();
    repo.commit_all("v2");
    let v = json(
        &repo
            .mlci(&[
                "gc",
                "--remote",
                "store",
                "--workspace",
                "--grace",
                "0s",
                "--json",
            ])
            .ok(),
    );
    assert_eq!(keys(&v, "objects"), [object_key(&v1)]);
    let run = b.mlci(&["push"]).ok();
    assert!(run.stderr.contains("pushed 1 object"), "{}", run.stderr);
    b.mlci(&["fsck", "--remote", "store", "--full"]).ok();
}

/// Per-commit stage records of commits outside the scope go; those of
/// HEAD stay, and so do the outputs they name.
#[test]
fn remote_gc_collects_stage_records_of_commits_outside_the_scope() {
    let repo = TestRepo::new();
    repo.add_remote("store", crate::common::Server::Local);
    repo.write(
        "dvc.yaml",
        "stages:\n  s:\n    cmd: echo $(git rev-parse HEAD 2>/dev/null || echo x) > out.txt\n    outs: [out.txt]\n",
    );
    repo.commit_all("one");
    repo.mlci(&["repro", "--pull", "--push", "-s", "s"]).ok();
    repo.write("note.txt", "two");
    repo.commit_all("two");
    repo.mlci(&["repro", "--pull", "--push", "-s", "s"]).ok();
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let first = repo.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    let v = json(
        &repo
            .mlci(&[
                "gc",
                "--remote",
                "store",
                "--workspace",
                "--grace",
                "0s",
                "--json",
            ])
            .ok(),
    );
    let gone = keys(&v, "commit_records");
    assert_eq!(gone.len(), 1, "{v}");
    assert!(gone[0].starts_with(&format!("commits/{first}/")), "{v}");
    // The join of HEAD still restores from its record.
    let other = repo.clone_to(&crate::common::unique("gc-join"));
    let run = other.mlci(&["repro", "--pull", "--restore-only"]).ok();
    assert!(!run.stderr.contains("running stage"), "{}", run.stderr);
    assert!(other.read("out.txt").len() > 1);
    let _ = head;
}
