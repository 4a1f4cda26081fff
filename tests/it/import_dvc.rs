//! `mlci import-dvc`, on repositories DVC itself builds (DVC from PyPI,
//! installed by the test script): remotes, data and pipeline state carried
//! over into a fresh clone with no DVC cache.

use crate::common::{env_from_test_script, TestRepo};

fn dvc(repo: &TestRepo, args: &[&str]) {
    crate::dvc_oracle::dvc(&env_from_test_script("MLCI_TEST_DVC"), repo, args);
}

const PIPELINE: &str = "stages:\n  prepare:\n    cmd: mkdir -p prepared && cp data/raw.txt prepared/a.txt && cp -r data/imgs prepared/imgs\n    deps: [data/raw.txt, data/imgs]\n    outs: [prepared]\n  train:\n    cmd: cat prepared/a.txt > model.bin && echo ${train.lr} >> model.bin\n    deps: [prepared]\n    params: [train.lr]\n    outs: [model.bin]\n  evaluate:\n    cmd: wc -c < model.bin > score.txt\n    deps: [model.bin]\n    metrics:\n      - score.txt:\n          cache: false\n";

/// A DVC project: a file and a directory of 500 files added, a
/// three-stage pipeline run, everything pushed to `remote_url`.
fn dvc_project(remote_url: &str, remote_settings: &[(&str, &str)]) -> TestRepo {
    let repo = TestRepo::new();
    dvc(&repo, &["init", "-q"]);
    repo.write("data/raw.txt", "raw\n");
    for i in 0..500 {
        repo.write(&format!("data/imgs/{i:03}.txt"), format!("image {i}\n"));
    }
    dvc(&repo, &["add", "-q", "data/raw.txt", "data/imgs"]);
    repo.write("params.yaml", "train:\n  lr: 0.1\n");
    repo.write("dvc.yaml", PIPELINE);
    dvc(&repo, &["repro", "-q"]);
    dvc(&repo, &["remote", "add", "-q", "-d", "store", remote_url]);
    for (k, v) in remote_settings {
        dvc(&repo, &["remote", "modify", "-q", "store", k, v]);
    }
    dvc(&repo, &["push", "-q"]);
    repo.commit_all("dvc project");
    repo
}

fn tree(repo: &TestRepo, dir: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = walkdir::WalkDir::new(repo.path(dir))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(&repo.root)
                    .unwrap()
                    .display()
                    .to_string(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A fresh clone (no DVC cache) of `src`, with mlci initialised.
fn fresh_clone(src: &TestRepo, name: &str) -> TestRepo {
    let clone = src.clone_to(name);
    let _ = std::fs::remove_dir_all(clone.path(".dvc/cache"));
    clone.mlci(&["init"]).ok();
    clone
}

#[test]
fn a_dvc_project_moves_over_from_a_local_dvc_remote() {
    let remote = tempfile::tempdir().unwrap();
    let src = dvc_project(remote.path().to_str().unwrap(), &[]);
    let clone = fresh_clone(&src, "fresh");
    let dry = clone.mlci(&["import-dvc", "--dry-run"]).ok();
    assert!(
        dry.stderr
            .contains("2 path(s) tracked by .dvc files, 3 stage(s) in dvc.lock"),
        "{}",
        dry.stderr
    );
    assert!(
        !clone.exists("data/raw.txt.mlci"),
        "a dry run writes nothing"
    );
    let run = clone.mlci(&["import-dvc"]).ok();
    assert!(
        run.stderr.contains("3 stage(s) recorded in mlci.lock"),
        "{}",
        run.stderr
    );
    // The workspace is DVC's checkout, byte for byte.
    let data = |repo: &TestRepo, dir: &str| -> Vec<(String, String)> {
        tree(repo, dir)
            .into_iter()
            .filter(|(p, _)| {
                ![".mlci", ".dvc", ".gitignore"]
                    .iter()
                    .any(|e| p.ends_with(e))
            })
            .collect()
    };
    for dir in ["data", "prepared"] {
        assert_eq!(data(&clone, dir), data(&src, dir), "{dir}");
    }
    assert_eq!(data(&clone, "data").len(), 501);
    assert_eq!(clone.read("model.bin"), src.read("model.bin"));
    clone.mlci(&["status", "--check"]).ok();
    let repro = clone.mlci(&["repro"]).ok();
    assert!(
        repro.stderr.contains("every stage is up to date"),
        "{}",
        repro.stderr
    );
    // Nothing is fetched twice.
    let again = clone.mlci(&["import-dvc"]).ok();
    assert!(
        again.stderr.contains("stored 0 object(s)"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("0 pointer(s) (2 already in place)"),
        "{}",
        again.stderr
    );
    // In the DVC repository itself the objects come from DVC's cache.
    src.mlci(&["init"]).ok();
    let local = src.mlci(&["import-dvc"]).ok();
    assert!(
        local.stderr.contains("3 stage(s) recorded"),
        "{}",
        local.stderr
    );
    src.mlci(&["status", "--check"]).ok();
    // mlci push, then pull in another clone, round-trips.
    let mlci_remote = tempfile::tempdir().unwrap();
    clone
        .mlci(&[
            "remote",
            "add",
            "mine",
            mlci_remote.path().to_str().unwrap(),
        ])
        .ok();
    clone.mlci(&["push", "-r", "mine"]).ok();
    clone.commit_all("mlci");
    let other = clone.clone_to("other");
    other.mlci(&["pull", "-r", "mine"]).ok();
    assert_eq!(tree(&other, "data/imgs"), tree(&clone, "data/imgs"));
}

/// From SeaweedFS (DVC's `endpointurl`, credentials in DVC's local config):
/// the remote comes over with its secrets in mlci's local config only.
#[test]
fn a_dvc_project_moves_over_from_s3() {
    let env = env_from_test_script;
    let prefix = crate::common::unique("dvc-s3");
    let url = format!("s3://{}/{prefix}", env("MLCI_TEST_S3_BUCKET"));
    let src = TestRepo::new();
    dvc(&src, &["init", "-q"]);
    src.write("data/raw.txt", "raw\n");
    dvc(&src, &["add", "-q", "data/raw.txt"]);
    dvc(&src, &["remote", "add", "-q", "-d", "store", &url]);
    dvc(
        &src,
        &[
            "remote",
            "modify",
            "-q",
            "store",
            "endpointurl",
            &env("MLCI_TEST_S3_ENDPOINT"),
        ],
    );
    for (k, v) in [
        ("access_key_id", env("MLCI_TEST_S3_KEY")),
        ("secret_access_key", env("MLCI_TEST_S3_SECRET")),
    ] {
        dvc(&src, &["remote", "modify", "-q", "--local", "store", k, &v]);
    }
    dvc(&src, &["push", "-q"]);
    src.commit_all("dvc on s3");
    let clone = fresh_clone(&src, "fresh-s3");
    // A fresh clone has no .dvc/config.local: the credentials come from
    // the machine, here copied as a CI job would provide them.
    std::fs::copy(
        src.path(".dvc/config.local"),
        clone.path(".dvc/config.local"),
    )
    .unwrap();
    clone.mlci(&["import-dvc"]).ok();
    assert_eq!(clone.read("data/raw.txt"), "raw\n");
    let shared = clone.read(".mlci/config.yaml");
    assert!(shared.contains(&env("MLCI_TEST_S3_ENDPOINT")), "{shared}");
    assert!(
        !shared.contains(&env("MLCI_TEST_S3_SECRET")),
        "no secret in the committed config"
    );
    assert!(clone
        .read(".mlci/config.local.yaml")
        .contains("secret_access_key"));
    clone.mlci(&["status", "--check"]).ok();
    // Refused credentials: said in mlci's words, with no storage library
    // debug dump and no secret, and the import counted incomplete.
    let refused = fresh_clone(&src, "refused-s3");
    refused.write(
        ".dvc/config.local",
        "['remote \"store\"']\n    access_key_id = wrongkey\n    secret_access_key = wrongsecret123\n",
    );
    let run = refused.mlci(&["import-dvc"]);
    assert_eq!(run.code, 1, "{run:?}");
    crate::common::pin_output(&run.stderr);
    for dump in ["Error {", "context:", "source:", "wrongsecret123"] {
        assert!(!run.stderr.contains(dump), "{dump}: {}", run.stderr);
    }
}

/// A damaged object and a missing one are named by path; nothing is
/// written for them, the rest comes over, and the exit code says the
/// migration is incomplete. A DVC 2 repository (its `.dvc` format and its
/// remote layout `ab/cdef…`) is read too.
#[test]
fn damaged_missing_and_dvc2_objects() {
    let remote = tempfile::tempdir().unwrap();
    let src = TestRepo::new();
    dvc(&src, &["init", "-q"]);
    for (f, text) in [
        ("good.txt", "good\n"),
        ("bad.txt", "bad\n"),
        ("gone.txt", "gone\n"),
    ] {
        src.write(f, text);
        dvc(&src, &["add", "-q", f]);
    }
    dvc(
        &src,
        &[
            "remote",
            "add",
            "-q",
            "-d",
            "store",
            remote.path().to_str().unwrap(),
        ],
    );
    dvc(&src, &["push", "-q"]);
    // DVC 2: a `.dvc` file without `hash:`, its object at `ab/cdef…`.
    let old_md5 = "814fa5ca98406a903e22b43d9b610105"; // md5("old\n")
    assert_eq!(mlci::migrate::dvc_files::md5_hex(b"old\n"), old_md5);
    src.write(
        "old.txt.dvc",
        format!("outs:\n- md5: {old_md5}\n  size: 4\n  path: old.txt\n"),
    );
    std::fs::create_dir_all(remote.path().join(&old_md5[..2])).unwrap();
    std::fs::write(
        remote.path().join(&old_md5[..2]).join(&old_md5[2..]),
        "old\n",
    )
    .unwrap();
    src.write(".gitignore", "/old.txt\n");
    src.commit_all("dvc");
    let key = |text: &str| {
        let md5 = mlci::migrate::dvc_files::md5_hex(text.as_bytes());
        remote
            .path()
            .join("files/md5")
            .join(&md5[..2])
            .join(&md5[2..])
    };
    std::fs::write(key("bad\n"), "BAD\n").unwrap();
    std::fs::remove_file(key("gone\n")).unwrap();
    let clone = fresh_clone(&src, "fresh-damaged");
    let run = clone.mlci(&["import-dvc"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the migration is incomplete: 2 path(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("bad.txt: remote `store` holds a damaged copy"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gone.txt: object"), "{}", run.stderr);
    assert!(!clone.exists("bad.txt.mlci") && !clone.exists("gone.txt.mlci"));
    assert_eq!(clone.read("good.txt"), "good\n");
    assert_eq!(clone.read("old.txt"), "old\n");
}

/// `--remove-dvc` after a complete migration: DVC's files leave the work
/// tree and the index (the user commits); the project still runs.
#[test]
fn remove_dvc_after_a_complete_migration() {
    let remote = tempfile::tempdir().unwrap();
    let src = dvc_project(remote.path().to_str().unwrap(), &[]);
    let clone = fresh_clone(&src, "fresh-remove");
    let run = clone.mlci(&["import-dvc", "--remove-dvc", "--push"]).ok();
    // `--push` sends everything to the default remote (DVC's, carried
    // over), beside DVC's own objects.
    assert!(run.stderr.contains("to `store`"), "{}", run.stderr);
    assert!(remote.path().join("sha256").is_dir() && remote.path().join("files/md5").is_dir());
    assert!(
        !clone.exists("data/raw.txt.dvc") && !clone.exists("dvc.lock") && !clone.exists(".dvc")
    );
    assert!(clone.exists("dvc.yaml"), "the pipeline stays");
    let staged = clone.git(&["status", "--porcelain"]);
    assert!(
        staged.contains("D  data/raw.txt.dvc") && staged.contains("D  dvc.lock"),
        "{staged}"
    );
    clone.mlci(&["status", "--check"]).ok();
    let repro = clone.mlci(&["repro"]).ok();
    assert!(
        repro.stderr.contains("every stage is up to date"),
        "{}",
        repro.stderr
    );
}

/// Killed mid-way (SIGKILL), then run again: it completes, and what came
/// over before the kill is not fetched again.
#[test]
fn an_interrupted_import_completes_on_rerun() {
    let remote = tempfile::tempdir().unwrap();
    let src = dvc_project(remote.path().to_str().unwrap(), &[]);
    let clone = fresh_clone(&src, "fresh-killed");
    let objects = |repo: &TestRepo| crate::common::count_files(&repo.path(".mlci/cache/sha256"));
    let mut child = crate::common::mlci_cmd(&clone.root)
        .args(["import-dvc", "-j", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while objects(&clone) < 50 && child.try_wait().unwrap().is_none() {
        assert!(start.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = objects(&clone);
    let rerun = clone.mlci(&["import-dvc"]).ok();
    let number_before = |text: &str, marker: &str| -> usize {
        text.split(marker)
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.trim_start_matches('(').parse().ok())
            .unwrap_or_else(|| panic!("no number before `{marker}` in: {text}"))
    };
    // Every file object the killed run stored is taken from its memo, not
    // fetched again (the two directory manifests are counted apart).
    let reused = number_before(&rerun.stderr, " already brought over");
    assert!(
        before < 10 || reused + 3 >= before,
        "{before} before; {}",
        rerun.stderr
    );
    clone.mlci(&["status", "--check"]).ok();
    assert_eq!(clone.read("data/imgs/499.txt"), "image 499\n");
}

/// A DVC project with a `dvc.yaml` below the root and a stage with a
/// `wdir` reading params: every stage DVC ran is recorded from its own
/// `dvc.lock` (the nested one's beside it, paths relative to the stage's
/// wdir), so nothing is stale and nothing reruns after the import.
#[test]
fn nested_dvc_yaml_and_wdir_stages_are_recorded_from_their_dvc_lock() {
    let repo = TestRepo::new();
    dvc(&repo, &["init", "-q"]);
    repo.write("raw.txt", "raw\n");
    repo.write(
        "dvc.yaml",
        "stages:\n  prep:\n    cmd: cat raw.txt > prep.txt\n    deps: [raw.txt]\n    outs: [prep.txt]\n  w:\n    wdir: sub\n    cmd: echo hi > w.txt\n    params: [k]\n    outs: [w.txt]\n",
    );
    repo.write("sub/params.yaml", "k: 1\n");
    repo.write("models/params.yaml", "lr: 0.5\n");
    repo.write(
        "models/dvc.yaml",
        "stages:\n  train:\n    cmd: cat ../prep.txt > m.txt && echo ${lr} >> m.txt\n    deps: [../prep.txt]\n    params: [lr]\n    outs: [m.txt]\n",
    );
    dvc(&repo, &["repro", "-q", "--all-pipelines"]);
    repo.commit_all("dvc project");
    repo.mlci(&["init"]).ok();
    let run = repo.mlci(&["import-dvc"]).ok();
    assert!(
        run.stderr.contains("3 stage(s) recorded in mlci.lock"),
        "{}",
        run.stderr
    );
    let status: serde_json::Value =
        serde_json::from_str(&repo.mlci(&["status", "--json"]).ok().stdout).unwrap();
    let mut states: Vec<(String, String)> = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (
                "models/dvc.yaml:train".to_string(),
                "up_to_date".to_string()
            ),
            ("prep".into(), "up_to_date".into()),
            ("w".into(), "up_to_date".into()),
        ],
        "{status}"
    );
    let lock = repo.read("mlci.lock");
    assert!(
        lock.contains("sub/params.yaml:") && lock.contains("models/params.yaml:"),
        "{lock}"
    );
}

/// A DVC project whose cache lives outside the repository (`dvc cache dir
/// ../shared`, as teams share one cache on a runner), with no remote: the
/// objects come from that cache, relative to `.dvc/` as DVC resolves it.
#[test]
fn objects_come_from_dvcs_cache_dir_when_it_is_moved() {
    let base = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    let shared = base.path().join("shared-cache");
    std::fs::create_dir(&shared).unwrap();
    dvc(&repo, &["init", "-q"]);
    let rel = pathdiff(&shared, &repo.path(".dvc"));
    dvc(&repo, &["cache", "dir", &rel]);
    repo.write("data/raw.txt", "raw\n");
    for i in 0..50 {
        repo.write(&format!("data/imgs/{i:02}.txt"), format!("image {i}\n"));
    }
    dvc(&repo, &["add", "-q", "data/raw.txt", "data/imgs"]);
    assert!(
        !repo.path(".dvc/cache/files").exists(),
        "DVC used the moved cache"
    );
    repo.commit_all("dvc project");
    let before = tree(&repo, "data");
    std::fs::remove_dir_all(repo.path("data/imgs")).unwrap();
    std::fs::remove_file(repo.path("data/raw.txt")).unwrap();
    repo.mlci(&["init"]).ok();
    let run = repo.mlci(&["import-dvc"]).ok();
    assert!(run.stderr.contains("stored 51 object(s)"), "{}", run.stderr);
    let mut after = tree(&repo, "data");
    after.retain(|(p, _)| !p.ends_with(".mlci"));
    assert_eq!(after, before);
    repo.mlci(&["status", "--check"]).ok();
}

/// `to` relative to `from` (both absolute), `/`-separated.
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> String {
    let (to, from) = (to.canonicalize().unwrap(), from.canonicalize().unwrap());
    let common = to
        .components()
        .zip(from.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut parts: Vec<String> = vec!["..".into(); ups];
    parts.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// DVC 2's MD5 of a text file (`md5-dos2unix`): CRLF made LF first.
fn dos2unix_md5(bytes: &[u8]) -> String {
    let text = !bytes[..bytes.len().min(512)].contains(&0);
    let data = if text {
        String::from_utf8_lossy(bytes)
            .replace("\r\n", "\n")
            .into_bytes()
    } else {
        bytes.to_vec()
    };
    let out = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&data)?;
            c.wait_with_output()
        })
        .expect("md5sum");
    String::from_utf8_lossy(&out.stdout)[..32].to_string()
}

/// A repository as DVC 2 left it: CRLF text files named by their dos2unix
/// MD5 in the old cache layout (`.dvc/cache/ab/cdef…`), a directory, and a
/// stage recorded in `dvc.lock` without `hash:` fields; with `v1_lock`,
/// the lock in DVC 1's format (no `schema:`, stages at the top level).
fn dvc2_repository(v1_lock: bool) -> TestRepo {
    let repo = TestRepo::new();
    let put = |md5: &str, bytes: &[u8]| {
        repo.write(&format!(".dvc/cache/{}/{}", &md5[..2], &md5[2..]), bytes);
    };
    repo.write(".dvc/config", "");
    repo.write(".dvc/.gitignore", "/config.local\n/tmp\n/cache\n");
    let notes = b"id,label\r\n1,cat\r\n2,dog\r\n";
    repo.write("notes.csv", notes);
    let m = dos2unix_md5(notes);
    put(&m, notes);
    repo.write(
        "notes.csv.dvc",
        format!(
            "outs:\n- md5: {m}\n  size: {}\n  path: notes.csv\n",
            notes.len()
        ),
    );
    repo.write(".gitignore", "/notes.csv\n/data\n/out.txt\n");
    let files: [(&str, &[u8]); 2] = [
        ("a.txt", b"hello\r\nworld\r\n"),
        ("sub/b.bin", b"\x00\x01\r\n"),
    ];
    let mut entries = Vec::new();
    for (rel, bytes) in files {
        repo.write(&format!("data/{rel}"), bytes);
        let md5 = dos2unix_md5(bytes);
        put(&md5, bytes);
        // As Python's `json.dumps(..., sort_keys=True)` writes it.
        entries.push(format!("{{\"md5\": \"{md5}\", \"relpath\": \"{rel}\"}}"));
    }
    let listing = format!("[{}]", entries.join(", "));
    let dm = format!("{}.dir", dos2unix_md5(listing.as_bytes()));
    put(&dm, listing.as_bytes());
    repo.write(
        "data.dvc",
        format!("outs:\n- md5: {dm}\n  size: 18\n  nfiles: 2\n  path: data\n"),
    );
    let out = b"rows=2\r\n";
    repo.write("out.txt", out);
    let om = dos2unix_md5(out);
    put(&om, out);
    repo.write(
        "dvc.yaml",
        "stages:\n  count:\n    cmd: printf 'rows=2\\r\\n' > out.txt\n    deps:\n    - notes.csv\n    outs:\n    - out.txt\n",
    );
    let stage = format!(
        "count:\n  cmd: printf 'rows=2\\r\\n' > out.txt\n  deps:\n  - path: notes.csv\n    md5: {m}\n    size: {}\n  outs:\n  - path: out.txt\n    md5: {om}\n    size: {}\n",
        notes.len(),
        out.len()
    );
    let lock = if v1_lock {
        stage
    } else {
        let indented: String = stage.lines().map(|l| format!("  {l}\n")).collect();
        format!("schema: '2.0'\nstages:\n{indented}")
    };
    repo.write("dvc.lock", lock);
    repo.commit_all("a DVC 2 repository");
    repo
}

/// DVC 2's CRLF text files (named by their dos2unix MD5) come over with
/// their bytes, where DVC 3 itself reads the repository as up to date.
#[test]
fn dvc2_text_files_named_by_their_dos2unix_md5_come_over() {
    let repo = dvc2_repository(false);
    let d = crate::dvc_oracle::dvc(
        &env_from_test_script("MLCI_TEST_DVC"),
        &repo,
        &["status", "--json"],
    );
    assert_eq!(d.trim(), "{}", "DVC 3 reads the fixture as up to date");
    let run = repo.mlci(&["import-dvc"]).ok();
    assert!(!run.stderr.contains("incomplete"), "{}", run.stderr);
    for f in ["notes.csv", "data/a.txt", "data/sub/b.bin", "out.txt"] {
        std::fs::remove_file(repo.path(f)).unwrap();
    }
    repo.mlci(&["checkout"]).ok();
    assert_eq!(
        std::fs::read(repo.path("notes.csv")).unwrap(),
        b"id,label\r\n1,cat\r\n2,dog\r\n"
    );
    assert_eq!(
        std::fs::read(repo.path("data/a.txt")).unwrap(),
        b"hello\r\nworld\r\n"
    );
    assert_eq!(std::fs::read(repo.path("out.txt")).unwrap(), b"rows=2\r\n");
    let status = repo.mlci(&["status"]).ok();
    crate::common::pin_output(&status.stdout);
}

/// A `dvc.lock` in DVC 1's format (which DVC 3 refuses) is taken over, not
/// read as empty: the stage is recorded, and `--remove-dvc` removes DVC's
/// files only because everything came over.
#[test]
fn a_dvc1_lock_is_taken_over() {
    let repo = dvc2_repository(true);
    let run = repo.mlci(&["import-dvc", "--remove-dvc"]).ok();
    assert!(
        run.stderr.contains("1 stage(s) recorded in mlci.lock"),
        "{}",
        run.stderr
    );
    let dry = repo.mlci(&["repro", "--dry-run"]).ok();
    assert!(
        dry.stderr.contains("every stage is up to date"),
        "{}",
        dry.stderr
    );
    std::fs::remove_file(repo.path("out.txt")).unwrap();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(std::fs::read(repo.path("out.txt")).unwrap(), b"rows=2\r\n");
    // A lock in neither format is an error naming the file.
    let other = dvc2_repository(false);
    other.write("dvc.lock", "count: 3\n");
    let run = other.mlci(&["import-dvc", "--remove-dvc"]).user_error();
    assert!(run.stderr.contains("dvc.lock"), "{}", run.stderr);
    assert!(other.exists(".dvc/cache"), "DVC's cache is kept");
}

/// A stage whose dep is a directory of files git holds (two stages'
/// `cache: false` metrics) is recorded when the files are the ones in
/// `dvc.lock` (DVC keeps no listing of a dep in its cache); a dep that
/// changed since DVC ran leaves its stage to `repro`, with no look at a
/// remote for its old bytes.
#[test]
fn a_directory_dep_of_files_in_git_is_recorded_and_a_stale_one_is_left_to_repro() {
    let project = || {
        let repo = TestRepo::new();
        dvc(&repo, &["init", "-q"]);
        repo.write("src.txt", "x\n");
        repo.write(
            "dvc.yaml",
            "stages:\n  a:\n    cmd: >-\n      mkdir -p results && echo '{\"a\": 1}' > results/a.json\n    deps: [src.txt]\n    metrics:\n      - results/a.json:\n          cache: false\n  b:\n    cmd: >-\n      mkdir -p results && echo '{\"b\": 2}' > results/b.json\n    deps: [src.txt]\n    metrics:\n      - results/b.json:\n          cache: false\n  summary:\n    cmd: cat results/a.json results/b.json > summary.txt\n    deps: [results, notes.txt]\n    outs: [summary.txt]\n",
        );
        repo.write("notes.txt", "n\n");
        dvc(&repo, &["repro", "-q"]);
        repo.commit_all("dvc project");
        repo
    };
    let repo = project();
    let run = repo.mlci(&["import-dvc"]).ok();
    assert!(
        run.stderr.contains("3 stage(s) recorded in mlci.lock"),
        "{}",
        run.stderr
    );
    let dry = repo.mlci(&["repro", "--dry-run"]).ok();
    assert!(
        dry.stderr.contains("every stage is up to date"),
        "{}",
        dry.stderr
    );
    // Stale: a git-tracked dep edited after DVC ran.
    let stale = project();
    stale.write("notes.txt", "edited\n");
    let run = stale.mlci(&["import-dvc"]).ok();
    assert!(
        run.stderr.contains("stage `summary` not recorded (dep `notes.txt` changed since DVC ran it: `mlci repro` reruns it, as `dvc repro` would)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("remote `"), "{}", run.stderr);
}
