//! Remotes against the real servers scripts/test.sh starts on 127.0.0.1:
//! SeaweedFS (S3, SigV4), rclone (WebDAV, SFTP), Azurite (Azure Blob), a
//! static HTTP server, and local directories. Every backend does the same
//! round trip: push from one clone, pull into another, byte-identical.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{count_files, env_from_test_script, sha256_file, unique, Server, TestRepo};

/// Deterministic pseudo-random bytes (xorshift), so a big file does not
/// compress or dedupe into something trivial.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Hashes of every regular file below `dir` (repo-relative path -> sha256),
/// computed with the system's `sha256sum`.
fn tree_hashes(root: &Path, dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let base = root.join(dir);
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, sha256_file(&p));
            }
        }
    }
    out
}

/// A repo with `small` small files under data/ and one big file of `big`
/// bytes, tracked and committed.
fn project(small: usize, big: usize) -> TestRepo {
    let repo = TestRepo::new();
    repo.write_tree("data", small);
    repo.write("model.bin", noise(big, 7));
    repo.mlci(&["add", "data", "model.bin"]).ok();
    repo.commit_all("data");
    repo
}

/// push -> second push sends nothing -> clone -> pull -> identical files
/// -> `status --remote --check` is clean.
fn round_trip(kind: Server, small: usize, big: usize) {
    let a = project(small, big);
    a.add_remote("store", kind);
    a.commit_all("remote");
    let push = a.mlci(&["push"]).ok();
    let total = small + 2; // files, the manifest, the big file
    assert!(
        push.stderr.contains(&format!("pushed {total} object(s)")),
        "{}",
        push.stderr
    );
    let again = a.mlci(&["push"]).ok();
    assert!(
        again.stderr.contains("pushed 0 object(s)")
            && again.stderr.contains(&format!("{total} already there")),
        "{}",
        again.stderr
    );

    let b = a.clone_to(&unique("clone"));
    assert!(!b.exists("model.bin"));
    let pull = b.mlci(&["pull"]).ok();
    assert!(
        pull.stderr.contains(&format!("fetched {total} object(s)")),
        "{}",
        pull.stderr
    );
    assert_eq!(tree_hashes(&a.root, "data"), tree_hashes(&b.root, "data"));
    assert_eq!(
        sha256_file(&a.path("model.bin")),
        sha256_file(&b.path("model.bin"))
    );
    assert_eq!(b.assert_cache_sound(), total);
    let status = b.mlci(&["status", "--remote", "--check"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    crate::common::pin_output(&status.stdout);
}

// 40 MiB: above the 16 MiB part size, so S3 and Azure take it in parts.
const BIG: usize = 40 << 20;

#[test]
fn round_trip_local_directory() {
    round_trip(Server::Local, 2000, BIG);
}

#[test]
fn round_trip_s3_seaweedfs() {
    round_trip(Server::S3, 2000, BIG);
}

#[test]
fn round_trip_webdav_rclone() {
    round_trip(Server::Webdav, 2000, BIG);
}

#[test]
fn round_trip_sftp_rclone() {
    round_trip(Server::Sftp, 2000, BIG);
}

#[test]
fn round_trip_azure_azurite() {
    round_trip(Server::Azure, 2000, BIG);
}

#[test]
fn http_remote_pulls_and_refuses_push() {
    let a = project(50, 1 << 20);
    // Fill the directory the static HTTP server serves through a local remote.
    let prefix = unique("http");
    let served = Path::new(&env_from_test_script("MLCI_TEST_HTTP_DIR")).join(&prefix);
    a.mlci(&["remote", "add", "fill", served.to_str().unwrap()])
        .ok();
    a.mlci(&["push", "-r", "fill"]).ok();
    let url = format!("{}/{prefix}", env_from_test_script("MLCI_TEST_HTTP_URL"));
    a.mlci(&["remote", "add", "-d", "web", &url]).ok();
    a.commit_all("remotes");
    let b = a.clone_to(&unique("clone"));
    b.mlci(&["pull"]).ok();
    assert_eq!(tree_hashes(&a.root, "data"), tree_hashes(&b.root, "data"));
    assert_eq!(
        sha256_file(&a.path("model.bin")),
        sha256_file(&b.path("model.bin"))
    );
    let push = b.mlci(&["push", "-r", "web"]).user_error();
    assert!(push.stderr.contains("read-only"), "{}", push.stderr);
}

#[test]
fn wrong_s3_credentials_fail_clearly_without_the_secret() {
    let a = project(5, 100);
    a.add_remote("store", Server::S3);
    let wrong = "wrong-secret-DO-NOT-PRINT-9f8e7d";
    a.mlci(&[
        "remote",
        "modify",
        "store",
        "secret_access_key",
        wrong,
        "--local",
    ])
    .ok();
    let run = a.mlci(&["push"]).user_error();
    assert!(
        run.stderr
            .contains("remote `store`: credentials missing or refused"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: check the remote's credentials"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(wrong) && !run.stdout.contains(wrong),
        "{}",
        run.stderr
    );
    let list = a.mlci(&["remote", "list", "--json"]).ok();
    assert!(!list.stdout.contains(wrong), "{}", list.stdout);
    // And a wrong access key id.
    a.mlci(&[
        "remote",
        "modify",
        "store",
        "access_key_id",
        "nobody",
        "--local",
    ])
    .ok();
    a.mlci(&["pull"]).user_error();
}

/// rclone's connection string for the test S3 server, at `path`.
pub(crate) fn rclone_s3(path: &str) -> String {
    format!(
        ":s3,provider=SeaweedFS,endpoint='{}',access_key_id={},secret_access_key={}:{}/{path}",
        env_from_test_script("MLCI_TEST_S3_ENDPOINT"),
        env_from_test_script("MLCI_TEST_S3_KEY"),
        env_from_test_script("MLCI_TEST_S3_SECRET"),
        env_from_test_script("MLCI_TEST_S3_BUCKET"),
    )
}

pub(crate) fn rclone(args: &[&str], stdin: Option<&[u8]>) {
    use std::io::Write;
    let mut child = Command::new(env_from_test_script("MLCI_TEST_RCLONE"))
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Damages the big file's object on the remote; a fresh clone's pull must
/// refuse it, name it and the remote, and keep it out of the cache.
fn corrupt_object_is_refused(kind: Server) {
    let a = project(20, 1000);
    let prefix = a.add_remote("store", kind);
    a.commit_all("remote");
    a.mlci(&["push"]).ok();
    let ptr = a.read("model.bin.mlci");
    let hex = ptr
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .expect("pointer has a sha256")
        .to_string();
    let key = format!("sha256/{}/{}", &hex[..2], &hex[2..]);
    match kind {
        Server::Local => {
            let obj = a
                .root
                .parent()
                .unwrap()
                .join("remotes")
                .join(&prefix)
                .join(&key);
            std::fs::write(&obj, b"garbage").unwrap();
        }
        Server::S3 => rclone(
            &["rcat", &rclone_s3(&format!("{prefix}/{key}"))],
            Some(b"garbage"),
        ),
        _ => unreachable!(),
    }

    let b = a.clone_to(&unique("clone"));
    let run = b.mlci(&["pull"]).user_error();
    assert!(
        run.stderr
            .contains(&format!("remote `store`: object `{key}` is corrupt")),
        "{}",
        run.stderr
    );
    assert!(!b.path(&format!(".mlci/cache/{key}")).exists());
    assert!(!b.exists("model.bin"));
    b.assert_cache_sound();
}

#[test]
fn corrupt_object_on_a_directory_remote_is_refused_and_named() {
    corrupt_object_is_refused(Server::Local);
}

#[test]
fn corrupt_object_on_s3_is_refused_and_named() {
    corrupt_object_is_refused(Server::S3);
}

#[test]
fn an_emptied_remote_is_reported_and_refilled() {
    let a = project(30, 1000);
    let prefix = a.add_remote("store", Server::S3);
    a.commit_all("remote");
    a.mlci(&["push"]).ok();
    let empty = || rclone(&["delete", &rclone_s3(&prefix)], None);
    empty();
    // status asks the remote itself, whatever mlci remembers.
    let status = a.mlci(&["status", "--remote", "--check"]);
    assert_eq!(status.code, 1, "{}\n{}", status.stdout, status.stderr);
    assert!(
        status
            .stdout
            .contains("data: not pushed (31 of 31 object(s) only local)"),
        "{}",
        status.stdout
    );
    crate::common::pin_output(&status.stdout);
    let push = a.mlci(&["push"]).ok();
    assert!(
        push.stderr.contains("pushed 32 object(s)"),
        "{}",
        push.stderr
    );

    // Emptied again, and push alone notices (its sample of the record fails).
    empty();
    let push = a.mlci(&["push"]).ok();
    assert!(
        push.stderr.contains("lost objects it was known to hold"),
        "{}",
        push.stderr
    );
    assert!(
        push.stderr.contains("pushed 32 object(s)"),
        "{}",
        push.stderr
    );
    let b = a.clone_to(&unique("clone"));
    b.mlci(&["pull"]).ok();
    assert_eq!(tree_hashes(&a.root, "data"), tree_hashes(&b.root, "data"));
}

/// An rclone WebDAV server this test owns, so it can stop and restart it.
struct Dav {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Dav {
    fn start(dir: &Path, port: u16) -> Dav {
        let child = Command::new(env_from_test_script("MLCI_TEST_RCLONE"))
            .args(["serve", "webdav"])
            .arg(dir)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rclone");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rclone webdav did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Dav {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dav {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A project of 3,000 small files and one small big file whose default
/// remote is a WebDAV server the test owns.
fn dav_project() -> (TestRepo, Dav) {
    let a = project(3000, 1000);
    let dir = a.root.parent().unwrap().join("dav");
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dav = Dav::start(&dir, port);
    let url = format!("webdav://127.0.0.1:{port}/store");
    a.mlci(&["remote", "add", "-d", "dav", &url]).ok();
    a.commit_all("remote");
    (a, dav)
}

/// Starts `mlci ARGS` in `dir`, stops the WebDAV server once at least 100
/// files exist below `watched`, and returns the command's stderr after
/// checking it failed as "unreachable" (exit 2).
fn interrupted(dir: &Path, args: &[&str], watched: &Path, dav: &mut Dav) -> String {
    let child = crate::common::mlci_cmd(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_files(watched) < 100 {
        assert!(Instant::now() < deadline, "`mlci {args:?}` never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    dav.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("remote `dav` is unreachable"), "{stderr}");
    stderr
}

#[test]
fn server_stopped_mid_push_then_rerun_completes() {
    let (a, mut dav) = dav_project();
    let dir = dav.dir.clone();

    let objects = dir.join("store/sha256");
    let stderr = interrupted(&a.root, &["push", "-j", "2"], &objects, &mut dav);
    assert!(stderr.contains("hint: "), "{stderr}");
    let landed = count_files(&objects);
    assert!(
        (100..3002).contains(&landed),
        "landed {landed}: the stop did not land mid-way"
    );
    // Nothing partial under a final key: every landed object is whole.
    for shard in std::fs::read_dir(&objects).unwrap().flatten() {
        for obj in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let name = format!(
                "{}{}",
                shard.file_name().to_string_lossy(),
                obj.file_name().to_string_lossy()
            );
            let hex = name.strip_suffix(".dir").unwrap_or(&name);
            assert_eq!(sha256_file(&obj.path()), hex, "partial object {name}");
        }
    }

    let dav = Dav::start(&dav.dir.clone(), dav.port);
    let rerun = a.mlci(&["push"]).ok();
    let sent: usize = rerun
        .stderr
        .split("pushed ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("push says how many it sent");
    assert!(
        sent <= 3002 - landed,
        "the rerun redid finished work: sent {sent}, {landed} had landed"
    );
    assert_eq!(count_files(&objects), 3002);
    let b = a.clone_to(&unique("clone"));
    b.mlci(&["pull"]).ok();
    assert_eq!(tree_hashes(&a.root, "data"), tree_hashes(&b.root, "data"));
    drop(dav);
}

#[test]
fn run_records_travel_so_another_machine_restores_instead_of_running() {
    let a = TestRepo::new();
    a.write("in.txt", "input\n");
    a.write(
        "mlci.yaml",
        "stages:\n  copy:\n    cmd: sh -c 'echo ran >> ran.log; cp in.txt out.txt'\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    a.write(".gitignore", "ran.log\nmlci.lock\n");
    a.add_remote("store", Server::Local);
    a.commit_all("pipeline");
    a.mlci(&["repro"]).ok();
    assert_eq!(a.read("ran.log"), "ran\n");
    let push = a.mlci(&["push"]).ok();
    assert!(
        push.stderr.contains("with 1 run record(s)"),
        "{}",
        push.stderr
    );

    // Another machine has the pipeline but no lock and no outputs.
    let b = a.clone_to(&unique("clone"));
    assert!(!b.exists("mlci.lock") && !b.exists("out.txt"));
    let fetch = b.mlci(&["fetch"]).ok();
    assert!(fetch.stderr.contains("1 run record(s)"), "{}", fetch.stderr);
    // Plain repro has the record but not the output object: it runs.
    let c = a.clone_to(&unique("clone"));
    c.mlci(&["fetch"]).ok();
    c.mlci(&["repro"]).ok();
    assert_eq!(c.read("ran.log"), "ran\n");
    // `repro --pull` gets the object the record names from the remote.
    let run = b.mlci(&["repro", "--pull"]).ok();
    assert!(
        run.stderr
            .contains("restored the outputs of `copy` from the run cache"),
        "{}",
        run.stderr
    );
    assert!(
        !b.exists("ran.log"),
        "the stage ran instead of being restored"
    );
    assert_eq!(b.read("out.txt"), "input\n");
}

#[test]
fn remote_commands_edit_the_config_and_refuse_bad_edits() {
    let a = TestRepo::new();
    a.mlci(&["remote", "add", "-d", "main", "s3://bucket/proj"])
        .ok();
    a.mlci(&["remote", "add", "nas", "/mnt/nas/mlci"]).ok();
    let list = a.mlci(&["remote", "list"]).ok();
    assert_eq!(
        list.stdout,
        "main\ts3://bucket/proj\t(default)\nnas\t/mnt/nas/mlci\n"
    );
    a.mlci(&["remote", "modify", "main", "region", "eu-west-1"])
        .ok();
    a.mlci(&[
        "remote",
        "modify",
        "main",
        "secret_access_key",
        "s3cr3t-value",
        "--local",
    ])
    .ok();
    let shared = a.read(".mlci/config.yaml");
    assert!(
        shared.contains("region: eu-west-1") && !shared.contains("s3cr3t"),
        "{shared}"
    );
    assert!(a
        .read(".mlci/config.local.yaml")
        .contains("secret_access_key: s3cr3t-value"));
    let ignored = a.git(&["check-ignore", ".mlci/config.local.yaml"]);
    assert!(
        ignored.contains("config.local.yaml"),
        "the local config must be git-ignored"
    );

    // Bad edits: exit 2, a hint, and the files unchanged.
    let before = (
        a.read(".mlci/config.yaml"),
        a.read(".mlci/config.local.yaml"),
    );
    let e = a
        .mlci(&["remote", "modify", "main", "secret_access_key", "x"])
        .user_error();
    assert!(e.stderr.contains("is a secret"), "{}", e.stderr);
    let e = a
        .mlci(&["remote", "modify", "main", "regoin", "x"])
        .user_error();
    assert!(
        e.stderr
            .contains("`remotes.main.regoin`: not a setting of s3 remotes"),
        "{}",
        e.stderr
    );
    assert!(
        e.stderr
            .contains("hint: s3 remotes accept: endpoint, region"),
        "{}",
        e.stderr
    );
    let e = a
        .mlci(&["remote", "add", "bad", "ftp://host/x"])
        .user_error();
    assert!(e.stderr.contains("unknown scheme `ftp://`"), "{}", e.stderr);
    let e = a
        .mlci(&["remote", "add", "main", "/elsewhere"])
        .user_error();
    assert!(e.stderr.contains("exists already"), "{}", e.stderr);
    let e = a
        .mlci(&["remote", "modify", "ghost", "region", "x"])
        .user_error();
    assert!(e.stderr.contains("no remote named `ghost`"), "{}", e.stderr);
    let e = a.mlci(&["push", "-r", "ghost"]).user_error();
    assert!(
        e.stderr.contains("hint: defined remotes: main, nas"),
        "{}",
        e.stderr
    );
    assert_eq!(
        before,
        (
            a.read(".mlci/config.yaml"),
            a.read(".mlci/config.local.yaml")
        )
    );

    a.mlci(&["remote", "default", "nas"]).ok();
    a.mlci(&["remote", "remove", "nas"]).ok();
    let list = a.mlci(&["remote", "list", "--json"]).ok();
    assert!(
        !list.stdout.contains("nas") && !list.stdout.contains("s3cr3t"),
        "{}",
        list.stdout
    );
    a.mlci(&["remote", "remove", "main"]).ok();
    let e = a.mlci(&["push"]).user_error();
    assert!(e.stderr.contains("no remote is configured"), "{}", e.stderr);
    assert!(
        e.stderr
            .contains("hint: add one with `mlci remote add -d NAME URL`"),
        "{}",
        e.stderr
    );
}

#[test]
fn ci_pulls_restores_from_the_run_cache_and_pushes() {
    let a = TestRepo::new();
    a.write("in.txt", "input\n");
    a.write(
        "mlci.yaml",
        "stages:\n  copy:\n    cmd: sh -c 'echo ran >> ran.log; cp in.txt out.txt'\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    a.write(".gitignore", "ran.log\nmlci.lock\n");
    let prefix = a.add_remote("store", Server::Local);
    a.commit_all("pipeline");
    // The first machine's CI runs the stage and pushes output and record.
    let run = a.mlci(&["ci"]).ok();
    assert!(
        run.stderr.contains("running stage `copy`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("with 1 run record(s)"),
        "{}",
        run.stderr
    );
    assert!(a
        .root
        .parent()
        .unwrap()
        .join("remotes")
        .join(&prefix)
        .join("runs")
        .is_dir());
    // Another machine's CI restores it instead of running it.
    let b = a.clone_to(&unique("clone"));
    let run = b.mlci(&["ci"]).ok();
    assert!(
        run.stderr
            .contains("restored the outputs of `copy` from the run cache"),
        "{}",
        run.stderr
    );
    assert!(
        !b.exists("ran.log"),
        "the stage ran instead of being restored"
    );
    assert_eq!(b.read("out.txt"), "input\n");
    // --no-pull --no-push: no remote traffic at all, and the stage runs.
    let c = a.clone_to(&unique("clone"));
    let run = c.mlci(&["ci", "--no-pull", "--no-push"]).ok();
    assert!(
        run.stderr.contains("running stage `copy`"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("fetched") && !run.stderr.contains("pushed"),
        "{}",
        run.stderr
    );
}

#[test]
fn server_stopped_mid_pull_then_rerun_fetches_only_the_rest() {
    let (a, mut dav) = dav_project();
    a.mlci(&["push"]).ok();

    let b = a.clone_to(&unique("clone"));
    let cache = b.path(".mlci/cache/sha256");
    interrupted(&b.root, &["pull", "-j", "2"], &cache, &mut dav);
    let landed = b.assert_cache_sound();
    assert!(
        (100..3002).contains(&landed),
        "landed {landed}: the stop did not land mid-way"
    );
    assert!(
        !b.exists("data"),
        "nothing is checked out from a partial fetch"
    );

    let dav = Dav::start(&dav.dir.clone(), dav.port);
    let rerun = b.mlci(&["pull"]).ok();
    let fetched: usize = rerun
        .stderr
        .split("fetched ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("pull says how many it fetched");
    assert_eq!(
        fetched,
        3002 - landed,
        "only what was missing: {}",
        rerun.stderr
    );
    assert_eq!(tree_hashes(&a.root, "data"), tree_hashes(&b.root, "data"));
    drop(dav);
}

#[test]
fn ci_without_storage_credentials_warns_and_still_reports_and_gates() {
    let a = TestRepo::new();
    a.write("in.txt", "input\n");
    a.write(
        "mlci.yaml",
        "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    a.add_remote("store", Server::S3);
    a.commit_all("pipeline");
    // A fork's pull request: the secrets are not there.
    std::fs::remove_file(a.path(".mlci/config.local.yaml")).unwrap();
    let head = a.git(&["rev-parse", "HEAD"]).trim().to_string();
    let event = |head_repo: &str| {
        let path = a
            .root
            .parent()
            .unwrap()
            .join(format!("event-{}.json", head_repo.replace('/', "-")));
        let payload = serde_json::json!({
            "number": 7,
            "pull_request": {
                "number": 7,
                "head": {"sha": head, "repo": {"full_name": head_repo}},
                "base": {"sha": head, "ref": "main", "repo": {"full_name": "acme/models"}},
            }
        });
        std::fs::write(&path, payload.to_string()).unwrap();
        path.display().to_string()
    };
    let fork_event = event("someone/models");
    let run = a.mlci_env(
        &["ci"],
        &[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", &fork_event),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: remote `store` has no usable credentials (a fork's pull request has none): pull and push skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("running stage `copy`"),
        "{}",
        run.stderr
    );
    // The same refusal anywhere else (a pull request from a branch of the
    // repository, a push, a laptop) is a fault: exit 2, naming the remote.
    let branch_event = event("acme/models");
    for env in [
        vec![
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", branch_event.as_str()),
        ],
        vec![],
    ] {
        let run = a.mlci_env(&["ci"], &env);
        assert_eq!(run.code, 2, "{env:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("error: remote `store`"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("S3Error {"),
            "no debug dump: {}",
            run.stderr
        );
    }
}

/// An S3 endpoint that answers slowly and records the most requests it
/// ever had in flight at once (written to the file named first).
const COUNTING_S3: &str = r#"
import http.server, sys, threading, time
peak_file, portfile = sys.argv[1], sys.argv[2]
lock = threading.Lock(); state = {"now": 0, "peak": 0}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def enter(self):
        with lock:
            state["now"] += 1
            if state["now"] > state["peak"]:
                state["peak"] = state["now"]
                open(peak_file, "w").write(str(state["peak"]))
        time.sleep(0.25)
    def leave(self):
        with lock:
            state["now"] -= 1
    def send(self, code, body=b"", ctype="application/xml"):
        self.send_response(code); self.send_header("Content-Type", ctype)
        self.send_header("ETag", '"e"'); self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    # In flight: from the request's arrival to just before its answer is
    # sent, so a client's next request can never overlap a finished one.
    def do_HEAD(self):
        self.enter(); self.leave(); self.send(404)
    def do_PUT(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        self.enter(); self.leave(); self.send(200)
    def do_GET(self):
        self.enter(); self.leave()
        body = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>'
                '<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>').encode()
        self.send(200, body) if "list-type" in self.path else self.send(404)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
open(portfile, "w").write(str(s.server_address[1])); s.serve_forever()
"#;

#[test]
fn the_concurrency_a_remote_is_configured_with_is_what_its_server_sees() {
    for (remote_jobs, flag, expected) in [(24, None, 24), (24, Some("6"), 6)] {
        let peak = tempfile::NamedTempFile::new().unwrap();
        let server = crate::common::PyServer::start(COUNTING_S3, &[peak.path().to_str().unwrap()]);
        let repo = TestRepo::new();
        for i in 0..80 {
            repo.write(&format!("data/f{i}.bin"), format!("object {i}"));
        }
        repo.mlci(&["add", "data"]).ok();
        repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/p"])
            .ok();
        for (k, v) in [
            ("endpoint", server.url()),
            ("region", "us-east-1".into()),
            ("allow_anonymous", "true".into()),
            ("jobs", remote_jobs.to_string()),
        ] {
            repo.mlci(&["remote", "modify", "store", k, &v]).ok();
        }
        let mut args = vec!["push"];
        if let Some(j) = flag {
            args.extend(["-j", j]);
        }
        // core.jobs (here from the environment) yields to the remote's own.
        repo.mlci_env(&args, &[("MLCI_JOBS", "4")]).ok();
        let seen: usize = std::fs::read_to_string(peak.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            seen, expected,
            "remote jobs {remote_jobs}, -j {flag:?}: the server saw {seen} requests at once"
        );
    }
}

/// The remote is chosen once per command: `-r` over `MLCI_REMOTE` over
/// `core.remote`; with several remotes and no default, a usage error.
#[test]
fn the_remote_is_chosen_by_flag_then_environment_then_default() {
    let repo = TestRepo::new();
    repo.write("data.txt", "payload\n");
    repo.mlci(&["add", "data.txt"]).ok();
    let dir = |name: &str| repo.root.parent().unwrap().join(format!("remote-{name}"));
    for name in ["a", "b", "c"] {
        repo.mlci(&["remote", "add", name, dir(name).to_str().unwrap()])
            .ok();
    }
    let none = repo.mlci(&["push"]).user_error();
    assert!(none.stderr.contains("several remotes"), "{}", none.stderr);
    let holds = |name: &str| dir(name).exists() && walk_files(&dir(name)) > 0;
    repo.mlci_env(&["push"], &[("MLCI_REMOTE", "b")]).ok();
    assert!(holds("b") && !holds("a") && !holds("c"));
    repo.mlci_env(&["push", "-r", "c"], &[("MLCI_REMOTE", "b")])
        .ok();
    assert!(holds("c") && !holds("a"));
    repo.mlci(&["remote", "default", "a"]).ok();
    repo.mlci(&["push"]).ok();
    assert!(holds("a"));
    let unknown = repo
        .mlci_env(&["push"], &[("MLCI_REMOTE", "ghost")])
        .user_error();
    assert!(unknown.stderr.contains("ghost"), "{}", unknown.stderr);
}

fn walk_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A stage name is a transfer target standing for the stage's outputs, as
/// in `dvc push train`.
#[test]
fn a_stage_name_pushes_and_fetches_its_outputs() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n  b:\n    cmd: echo b > b.txt\n    outs: [b.txt]\n",
    );
    repo.mlci(&["repro"]).ok();
    repo.add_remote("store", Server::Local);
    let pushed = repo.mlci(&["push", "a"]).ok();
    assert!(
        pushed.stderr.contains("pushed 1 object"),
        "{}",
        pushed.stderr
    );
    let again = repo.mlci(&["push"]).ok();
    assert!(
        again.stderr.contains("pushed 1 object"),
        "b only: {}",
        again.stderr
    );
    let typo = repo.mlci(&["push", "aa"]).user_error();
    assert!(typo.stderr.contains("did you mean"), "{}", typo.stderr);
}

/// A file or a sub-folder of a tracked directory is a target of `pull`,
/// `fetch`, `checkout` and `status` in a fresh clone, moving only what it
/// needs (the directory's manifest and its own objects), as DVC does.
#[test]
fn granular_targets_inside_a_tracked_directory() {
    let repo = TestRepo::new();
    repo.write("data/imgs/a.txt", "hello\n");
    repo.write("data/imgs/b.txt", "world\n");
    repo.write("data/imgs/sub/c.txt", "deep\n");
    repo.mlci(&["add", "data/imgs"]).ok();
    repo.add_remote("store", Server::Local);
    repo.mlci(&["push"]).ok();
    repo.commit_all("data");
    let clone = repo.clone_to("fresh");
    let pulled = clone.mlci(&["pull", "data/imgs/a.txt"]).ok();
    assert!(
        pulled.stderr.contains("fetched 2 object(s)"),
        "the manifest and a.txt: {}",
        pulled.stderr
    );
    assert_eq!(clone.read("data/imgs/a.txt"), "hello\n");
    assert!(!clone.exists("data/imgs/b.txt"));
    let st = clone.mlci(&["status", "--check", "data/imgs/a.txt"]).ok();
    assert!(st.stdout.contains("up to date"), "{}", st.stdout);
    clone.mlci(&["pull", "data/imgs/sub"]).ok();
    assert_eq!(clone.read("data/imgs/sub/c.txt"), "deep\n");
    assert!(!clone.exists("data/imgs/b.txt"));
    clone.write("data/imgs/sub/c.txt", "edited\n");
    assert_eq!(clone.mlci(&["status", "--check", "data/imgs/sub"]).code, 1);
    assert_eq!(
        clone.mlci(&["status", "--check", "data/imgs/a.txt"]).code,
        0
    );
    clone
        .mlci(&["checkout", "--force", "data/imgs/sub/c.txt"])
        .ok();
    assert_eq!(clone.read("data/imgs/sub/c.txt"), "deep\n");
    // The whole directory still comes back whole.
    clone.mlci(&["pull", "data/imgs"]).ok();
    assert_eq!(clone.read("data/imgs/b.txt"), "world\n");
    clone.mlci(&["status", "--check"]).ok();
}

/// An S3 endpoint that accepts requests signed for one region only (as
/// MinIO or Garage with a region set): others get 400
/// AuthorizationHeaderMalformed. Logs each request's signing region.
const REGION_S3: &str = r#"
import http.server, sys, re
region, log, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def send(self, code, body=b""):
        self.send_response(code); self.send_header("Content-Type", "application/xml")
        self.send_header("ETag", '"e"'); self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def check(self):
        m = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/s3/", self.headers.get("Authorization", ""))
        got = m.group(1) if m else "none"
        open(log, "a").write(got + "\n")
        if got != region:
            self.send(400, b'<?xml version="1.0"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>the region is wrong</Message></Error>')
            return False
        return True
    def do_HEAD(self):
        if self.check(): self.send(404)
    def do_PUT(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        if self.check(): self.send(200)
    def do_GET(self):
        if self.check():
            body = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>'
                    '<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>').encode()
            self.send(200, body) if "list-type" in self.path else self.send(404)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
open(portfile, "w").write(str(s.server_address[1])); s.serve_forever()
"#;

/// The S3 region comes from where the AWS CLI and boto3 take it: the
/// remote's setting, AWS_REGION, then the active profile in the shared
/// config file.
#[test]
fn the_s3_region_comes_from_the_active_aws_profile() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server =
        crate::common::PyServer::start(REGION_S3, &["garage", log.path().to_str().unwrap()]);
    let aws = tempfile::tempdir().unwrap();
    let config = aws.path().join("config");
    let credentials = aws.path().join("credentials");
    std::fs::write(
        &config,
        "[default]\nregion = eu-west-1\n\n[profile backups]\nregion = garage\n",
    )
    .unwrap();
    std::fs::write(
        &credentials,
        "[backups]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = examplesecret\n",
    )
    .unwrap();
    let repo = TestRepo::new();
    repo.write("data.bin", "payload\n");
    repo.mlci(&["add", "data.bin"]).ok();
    repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/p"])
        .ok();
    repo.mlci(&["remote", "modify", "store", "endpoint", &server.url()])
        .ok();
    repo.mlci(&["remote", "modify", "store", "profile", "backups"])
        .ok();
    let env = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
    ];
    let run = repo.mlci_env(&["push"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let regions = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        !regions.is_empty() && regions.lines().all(|r| r == "garage"),
        "{regions}"
    );
    // Without the profile, the default profile's region is used: refused,
    // and the error says what the server said in one line.
    repo.mlci(&["remote", "modify", "store", "--unset", "profile"])
        .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "access_key_id",
        "AKIAEXAMPLE",
        "--local",
    ])
    .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "secret_access_key",
        "examplesecret",
        "--local",
    ])
    .ok();
    repo.write("more.bin", "more\n");
    repo.mlci(&["add", "more.bin"]).ok();
    let run = repo.mlci_env(&["push"], &env).user_error();
    assert!(
        run.stderr
            .contains("refused a request signed for region `eu-west-1`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: set the bucket's region"),
        "{}",
        run.stderr
    );
    assert!(regions_now(log.path()).contains("eu-west-1"));
}

fn regions_now(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap()
}

/// An Azure remote set up only by AZURE_STORAGE_CONNECTION_STRING (the
/// secret Azure CI jobs carry), against Azurite.
#[test]
fn an_azure_connection_string_is_enough() {
    let env = crate::common::env_from_test_script;
    let endpoint = env("MLCI_TEST_AZURE_ENDPOINT");
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={endpoint};",
        env("MLCI_TEST_AZURE_ACCOUNT"),
        env("MLCI_TEST_AZURE_KEY")
    );
    let repo = TestRepo::new();
    repo.write("data/a.txt", "a\n");
    repo.mlci(&["add", "data"]).ok();
    let url = format!(
        "azure://{}/{}",
        env("MLCI_TEST_AZURE_CONTAINER"),
        crate::common::unique("cs")
    );
    repo.mlci(&["remote", "add", "-d", "az", &url]).ok();
    let pushed = repo.mlci_env(&["push"], &[("AZURE_STORAGE_CONNECTION_STRING", &cs)]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(!pushed.stderr.contains(&env("MLCI_TEST_AZURE_KEY")));
    // The same as a setting, which belongs in the local config only.
    let shared = repo
        .mlci(&["remote", "modify", "az", "connection_string", &cs])
        .user_error();
    assert!(shared.stderr.contains("--local"), "{}", shared.stderr);
    repo.mlci(&[
        "remote",
        "modify",
        "az",
        "connection_string",
        &cs,
        "--local",
    ])
    .ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).unwrap();
    repo.mlci(&["pull"]).ok();
    assert_eq!(repo.read("data/a.txt"), "a\n");
}

/// A TLS endpoint whose certificate comes from a private CA: refused with
/// the reason and a hint, trusted once AWS_CA_BUNDLE names the CA.
#[test]
fn a_private_ca_is_trusted_through_aws_ca_bundle() {
    let pki = tempfile::tempdir().unwrap();
    let p = |f: &str| pki.path().join(f).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (the test script installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mlci test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(p("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("san.ext"),
        "-out",
        &p("server.pem"),
    ]);
    let script = REGION_S3
        .replace(
            "region, log, portfile = sys.argv[1], sys.argv[2], sys.argv[3]",
            "region, log, cert, key, portfile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]\nimport ssl",
        )
        .replace(
            "s = http.server.ThreadingHTTPServer((\"127.0.0.1\", 0), H); s.daemon_threads = True",
            "s = http.server.ThreadingHTTPServer((\"127.0.0.1\", 0), H); s.daemon_threads = True\nctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)\ns.socket = ctx.wrap_socket(s.socket, server_side=True)",
        );
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = crate::common::PyServer::start(
        &script,
        &[
            "us-east-1",
            log.path().to_str().unwrap(),
            &p("server.pem"),
            &p("server.key"),
        ],
    );
    let repo = TestRepo::new();
    repo.write("data.bin", "payload\n");
    repo.mlci(&["add", "data.bin"]).ok();
    repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/p"])
        .ok();
    let endpoint = format!("https://127.0.0.1:{}", server.port);
    repo.mlci(&["remote", "modify", "store", "endpoint", &endpoint])
        .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "access_key_id",
        "AKIAEXAMPLE",
        "--local",
    ])
    .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "secret_access_key",
        "examplesecret",
        "--local",
    ])
    .ok();
    let refused = repo.mlci(&["push"]).user_error();
    assert!(
        refused
            .stderr
            .contains("the server's TLS certificate does not verify"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("AWS_CA_BUNDLE"),
        "{}",
        refused.stderr
    );
    let ca = p("ca.pem");
    let ok = repo.mlci_env(&["push"], &[("AWS_CA_BUNDLE", &ca)]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

/// An SFTP remote named by a host alias: the OpenSSH client reads the
/// alias's host name, port, user and key from `~/.ssh/config`, as `ssh`
/// and DVC do.
#[test]
fn an_sftp_host_alias_from_ssh_config() {
    let env = crate::common::env_from_test_script;
    let url = env("MLCI_TEST_SFTP_URL");
    let (user_host, port) = url
        .trim_start_matches("sftp://")
        .rsplit_once(':')
        .expect("sftp://user@host:port");
    let (user, host) = user_host.split_once('@').expect("user@host");
    let repo = TestRepo::new();
    // HOME is the repository's directory in tests (see `hermetic`).
    repo.write(
        ".ssh/config",
        format!(
            "Host models-store\n  HostName {host}\n  Port {port}\n  User {user}\n  IdentityFile {}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n",
            env("MLCI_TEST_SFTP_KEY")
        ),
    );
    repo.write("data.bin", "payload\n");
    repo.mlci(&["add", "data.bin"]).ok();
    let remote = format!("sftp://models-store/{}", crate::common::unique("alias"));
    repo.mlci(&["remote", "add", "-d", "store", &remote]).ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "known_hosts",
        "accept",
        "--local",
    ])
    .ok();
    let pushed = repo.mlci(&["push"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    std::fs::remove_file(repo.path("data.bin")).unwrap();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).unwrap();
    repo.mlci(&["pull"]).ok();
    assert_eq!(repo.read("data.bin"), "payload\n");
}
