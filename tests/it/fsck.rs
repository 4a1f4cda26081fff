//! `mlci fsck`: every kind of planted damage is found, named by hash and by
//! the paths that use it; `--repair` moves damage aside and fetches good
//! copies; a stat-unchanged object is trusted unless `--full`.

use serde_json::Value;

use crate::common::{sha256_file, Server, TestRepo};

/// Hex SHA-256 of bytes.
fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` over a (read-only) cache file.
fn overwrite(path: &std::path::Path, bytes: &[u8]) {
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn problems(run: &crate::common::Run) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["object"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| p["paths"][0].as_str().map(str::to_string))
                    .unwrap(),
            )
        })
        .collect()
}

/// A repository with a tracked directory, a tracked model, a stage whose
/// output and run record are in the cache, all pushed to a remote.
fn pushed(kind: Server) -> TestRepo {
    let repo = TestRepo::new();
    for i in 0..3 {
        repo.write(&format!("data/f{i}.csv"), format!("a,b\n{i},{}\n", i * 7));
    }
    repo.write("model.bin", "weights ".repeat(100));
    repo.write("lost.txt", "only here once");
    repo.write("params.yaml", "lr: 0.1\n");
    repo.write(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: cat data/f0.csv data/f1.csv > out.txt\n    deps: [data]\n    params: [lr]\n    outs: [out.txt]\n",
    );
    repo.mlci(&["add", "data", "model.bin", "lost.txt"]).ok();
    repo.mlci(&["repro"]).ok();
    repo.add_remote("store", kind);
    repo.mlci(&["push"]).ok();
    repo.commit_all("pushed");
    repo
}

#[test]
fn fsck_finds_every_planted_damage_and_repair_fixes_what_the_remote_can() {
    let repo = pushed(Server::Local);
    repo.mlci(&["fsck"]).ok();

    // 1. a flipped byte (same size); 2. a truncated object.
    let f1 = sha256_file(&repo.path("data/f1.csv"));
    let mut bytes = std::fs::read(repo.object(&f1)).unwrap();
    bytes[0] ^= 0x20;
    overwrite(&repo.object(&f1), &bytes);
    let model = sha256_file(&repo.path("model.bin"));
    overwrite(&repo.object(&model), b"weights");
    // 3. missing here (the remote has it); 4. missing everywhere.
    let f2 = sha256_file(&repo.path("data/f2.csv"));
    std::fs::remove_file(repo.object(&f2)).unwrap();
    let lost = sha256_file(&repo.path("lost.txt"));
    std::fs::remove_file(repo.object(&lost)).unwrap();
    let remote_dir = std::fs::read_to_string(repo.path(".mlci/config.yaml")).unwrap();
    let remote_root = remote_dir
        .lines()
        .find_map(|l| l.trim().strip_prefix("url: "))
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let remote_root = repo.root.join(remote_root);
    std::fs::remove_file(remote_root.join(format!("sha256/{}/{}", &lost[..2], &lost[2..])))
        .unwrap();
    // 5. a bad manifest: a pointer naming a directory object whose bytes are
    //    its name's but not a manifest.
    let junk = b"{\"not\": \"a manifest\"}";
    let junk_hash = sha256(junk);
    let junk_path = repo.path(&format!(
        ".mlci/cache/sha256/{}/{}.dir",
        &junk_hash[..2],
        &junk_hash[2..]
    ));
    std::fs::create_dir_all(junk_path.parent().unwrap()).unwrap();
    std::fs::write(&junk_path, junk).unwrap();
    repo.write(
        "junk.mlci",
        format!("outs:\n- path: junk\n  hash: sha256\n  sha256: {junk_hash}.dir\n  size: 1\n  nfiles: 1\n"),
    );
    // 6. an unparsable pointer.
    repo.write("broken.mlci", "outs: [oops\n");
    // 7. poisoned run records: one naming the tracked input, one escaping.
    let out = sha256_file(&repo.path("out.txt"));
    let poison = format!("{{\"outs\":[{{\"path\":\"data\",\"sha256\":\"{out}\",\"size\":10}}]}}");
    let escape =
        format!("{{\"outs\":[{{\"path\":\"../outside\",\"sha256\":\"{out}\",\"size\":10}}]}}");
    let k1 = format!("runs/aa/{}", "1".repeat(62));
    let k2 = format!("runs/bb/{}", "2".repeat(62));
    repo.write(&format!(".mlci/cache/{k1}"), poison);
    repo.write(&format!(".mlci/cache/{k2}"), escape);

    let run = repo.mlci(&["fsck", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut found = problems(&run);
    found.sort();
    let mut want = vec![
        ("corrupt".to_string(), f1.clone()),
        ("corrupt".to_string(), model.clone()),
        ("missing".to_string(), f2.clone()),
        ("missing".to_string(), lost.clone()),
        ("bad_manifest".to_string(), format!("{junk_hash}.dir")),
        ("bad_pointer".to_string(), "broken.mlci".to_string()),
        ("bad_record".to_string(), k1.clone()),
        ("bad_record".to_string(), k2.clone()),
    ];
    want.sort();
    assert_eq!(found, want, "each problem once: {}", run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let paths_of = |hash: &str| -> Vec<String> {
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["object"] == hash)
            .unwrap()["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths_of(&f1), ["data/f1.csv"], "the paths that use it");
    assert_eq!(paths_of(&model), ["model.bin"]);

    // The terminal form names the object, its users and what to do.
    let text = repo.mlci(&["fsck"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains(&format!("damaged object {f1}")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("used by: data/f1.csv"));
    assert!(text
        .stdout
        .contains("hint: `mlci fsck --repair --remote NAME`"));

    // With the remote: f2 is no problem; lost is missing in both places.
    let run = repo.mlci(&["fsck", "--remote", "store", "--json"]);
    assert_eq!(run.code, 1);
    let kinds = problems(&run);
    assert!(
        !kinds.contains(&("missing".into(), f2.clone())),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("missing".into(), lost.clone())));

    let run = repo.mlci(&["fsck", "--repair", "--remote", "store"]);
    assert_eq!(run.code, 1, "the lost object and the broken pointer remain");
    crate::common::pin_output(&run.stdout);
    // Damage is moved aside, never deleted.
    let aside = repo.path(".mlci/cache/lost-found");
    let mut names: Vec<String> = std::fs::read_dir(&aside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&f1) && names.contains(&model), "{names:?}");
    assert!(names.contains(&k1.replace('/', "-")));
    assert_eq!(
        std::fs::read(aside.join(&model)).unwrap(),
        b"weights",
        "the damaged bytes are kept"
    );
    assert_eq!(sha256_file(&repo.object(&f1)), f1);
    assert_eq!(sha256_file(&repo.object(&model)), model);
    assert!(
        repo.object(&f2).exists(),
        "a repair also fetches what the cache lacks and the remote holds (a killed repair resumes)"
    );

    // What no remote can fix is fixed by hand; then fsck is clean.
    for f in ["broken.mlci", "junk.mlci", "lost.txt.mlci"] {
        std::fs::remove_file(repo.path(f)).unwrap();
    }
    repo.mlci(&["fsck", "--remote", "store", "--full"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["pull"]).ok();
    repo.mlci(&["status", "--check"]).ok();
    repo.mlci(&["fsck"]).ok();
}

#[test]
fn fsck_trusts_an_unchanged_stat_hashes_a_changed_one_and_full_hashes_all() {
    let repo = pushed(Server::Local);
    // Out of the racy window, so the stat records can vouch.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    repo.mlci(&["fsck"]).ok();
    let counts = |args: &[&str]| -> (u64, u64) {
        let run = repo.mlci(args);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        (
            v["checked"]["hashed"].as_u64().unwrap(),
            v["checked"]["trusted"].as_u64().unwrap(),
        )
    };
    let (hashed, trusted) = counts(&["fsck", "--json"]);
    assert_eq!(hashed, 0, "a second check hashes nothing");
    assert!(trusted >= 7);
    let (hashed, _) = counts(&["fsck", "--json", "--full"]);
    assert_eq!(hashed, trusted, "--full hashes every object");

    // A same-size change with the mtime set back is still seen (ctime).
    let f0 = sha256_file(&repo.path("data/f0.csv"));
    let path = repo.object(&f0);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1] ^= 1;
    overwrite(&path, &bytes);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let run = repo.mlci(&["fsck", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(problems(&run), [("corrupt".to_string(), f0)]);
}

/// A damaged copy on the remote: its size gives it away without a
/// download; a same-size one only `--full` finds, by hashing, as it finds
/// a poisoned run record there.
#[test]
fn fsck_remote_finds_damaged_copies_by_size_and_with_full_by_hash() {
    let repo = pushed(Server::Local);
    let config = repo.read(".mlci/config.yaml");
    let url = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("url: "))
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let remote = repo.root.join(url);
    let key = |h: &str| remote.join(format!("sha256/{}/{}", &h[..2], &h[2..]));
    let model = sha256_file(&repo.path("model.bin"));
    let f0 = sha256_file(&repo.path("data/f0.csv"));
    overwrite(&key(&model), b"short");
    let mut bytes = std::fs::read(key(&f0)).unwrap();
    bytes[0] ^= 1;
    overwrite(&key(&f0), &bytes);
    let run = repo.mlci(&["fsck", "--remote", "store", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        problems(&run),
        [("remote_corrupt".to_string(), model.clone())]
    );
    // A poisoned run record on the remote: only --full reads records.
    let poison_key = format!("runs/cc/{}", "3".repeat(62));
    std::fs::create_dir_all(remote.join("runs/cc")).unwrap();
    std::fs::write(
        remote.join(&poison_key),
        format!("{{\"outs\":[{{\"path\":\"data\",\"sha256\":\"{f0}\",\"size\":1}}]}}"),
    )
    .unwrap();
    let run = repo.mlci(&["fsck", "--remote", "store", "--json", "--full"]);
    let mut found = problems(&run);
    found.sort();
    let mut want = vec![
        ("remote_corrupt".to_string(), model),
        ("remote_corrupt".to_string(), f0),
        ("remote_bad_record".to_string(), poison_key),
    ];
    want.sort();
    assert_eq!(found, want);
}

#[test]
fn fsck_removes_temp_files_of_killed_commands_and_names_them() {
    let repo = pushed(Server::Local);
    repo.write(".mlci/cache/tmp/incoming-123", "half an object");
    repo.write(".mlci/cache/sha256/ab/.tmp-cdef", "half an object");
    let run = repo.mlci(&["fsck"]).ok();
    assert!(
        run.stderr
            .contains("removed 2 temp file(s) left by an interrupted command"),
        "{}",
        run.stderr
    );
    assert!(!repo.exists(".mlci/cache/tmp/incoming-123"));
    assert!(!repo.exists(".mlci/cache/sha256/ab/.tmp-cdef"));
}

#[test]
fn fsck_outside_a_repository_or_with_an_unknown_remote_exits_2() {
    let repo = pushed(Server::Local);
    let run = repo.mlci(&["fsck", "--remote", "nope"]).user_error();
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}
