//! The test harness: a builder for temporary git repositories with mlci set
//! up, a runner for the binary with a hermetic environment, and snapshot
//! filters for temporary paths and hashes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_mlci");

/// The result of one mlci run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code 2 with an error and a hint, and returns self.
    #[track_caller]
    pub fn user_error(self) -> Run {
        assert_eq!(
            self.code, 2,
            "expected exit 2\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.starts_with("error: "),
            "stderr:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.contains("\nhint: "),
            "no hint in:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        pin_error(&self.stderr);
        self
    }
}

/// Pins an error a user reads (its whole text, hint included) by a
/// snapshot named after the running test and the error's place in it
/// (`tests/it/snapshots/it__errors__MODULE__TEST-N.snap`), with what
/// changes from run to run filtered: temporary directories, hashes, the
/// suite's unique names, ports, process ids and durations.
pub fn pin_error(stderr: &str) {
    pin("errors", stderr);
}

/// Pins an output a user reads (a report, a summary, a listing) the same
/// way, under `tests/it/snapshots/outputs/`.
pub fn pin_output(stdout: &str) {
    pin("outputs", stdout);
}

fn pin(kind: &'static str, text: &str) {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    thread_local! {
        // Counted per kind, so pinning an output never renumbers errors.
        static N: RefCell<BTreeMap<&'static str, usize>> = const { RefCell::new(BTreeMap::new()) };
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", "__");
    let n = N.with(|c| {
        let mut c = c.borrow_mut();
        let n = c.entry(kind).or_insert(0);
        *n += 1;
        *n
    });
    let filters = [
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
        (r"/tmp/mlci-test\.[A-Za-z0-9]+", "[SUITE]"),
        (r"/tmp/[A-Za-z0-9_.-]*\.[A-Za-z0-9]{6}\b", "[TMP]"),
        (r"\b[0-9a-f]{64}\b", "[SHA256]"),
        (r"\b[0-9a-f]{40}\b", "[SHA1]"),
        // Actions' stop-commands tokens, random per run.
        (r"\b[0-9a-f]{32}\b", "[TOKEN]"),
        (r"-\d+-\d+-\d+\b", "-[UNIQUE]"),
        (r"\b\d+-\d{6,}-\d+\b", "[TMPNAME]"),
        (r"(\w)-\d{4,}\b", "$1-[N]"),
        // Short commit ids: where mlci names a commit (`at abc12345`,
        // `(abc12345)`), whatever its digits; elsewhere only with a letter
        // in it: plain numbers of the same length are wrapped first so no
        // word boundary falls inside them, and unwrapped after.
        (
            r"\b(at|commit|revision|diff|on) ([0-9a-f]{10}|[0-9a-f]{8})\b",
            "$1 [SHORT]",
        ),
        (r"([(`@])([0-9a-f]{10}|[0-9a-f]{8})\b", "$1[SHORT]"),
        (r"\b([0-9]{8}|[0-9]{10})\b", "QQ${1}QQ"),
        (r"\b[0-9a-f]{10}\b", "[SHORT]"),
        (r"\b[0-9a-f]{8}\b", "[SHORT]"),
        (r"QQ([0-9]+)QQ", "$1"),
        (r"(127\.0\.0\.1|localhost|\[::1\]):\d+", "$1:[PORT]"),
        (r"\bpid \d+", "pid [PID]"),
        (r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]"),
    ];
    insta::with_settings!({
        filters => filters.to_vec(),
        snapshot_path => format!("snapshots/{kind}"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("{test}-{n}"), text);
    });
}

/// A command for the mlci binary with an environment that ignores the
/// developer's own git and mlci settings.
pub fn mlci_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    hermetic(&mut cmd, dir);
    cmd
}

pub fn hermetic(cmd: &mut Command, dir: &Path) {
    for (k, _) in std::env::vars() {
        if k.starts_with("MLCI_")
            || k.starts_with("GIT_")
            || k.starts_with("GITHUB_")
            || k.starts_with("AWS_")
            || k.starts_with("AZURE_")
            || k.starts_with("GOOGLE_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "mlci test")
        .env("GIT_AUTHOR_EMAIL", "test@mlci.invalid")
        .env("GIT_COMMITTER_NAME", "mlci test")
        .env("GIT_COMMITTER_EMAIL", "test@mlci.invalid")
        .env("HOME", dir);
}

/// Runs git in `dir` (hermetic: no user or system config, a fixed
/// identity, `HOME` at `dir`) and returns its stdout; panics with git's
/// stderr on failure. Every git command the tests run goes through here.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(args);
    hermetic(&mut cmd, dir);
    let out = cmd.output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs git on the bare repository `git_dir` (`git --git-dir`).
pub fn git_bare(git_dir: &Path, args: &[&str]) -> String {
    let dir = git_dir.to_str().expect("a UTF-8 path");
    let all: Vec<&str> = ["--git-dir", dir].iter().chain(args).copied().collect();
    git_in(git_dir.parent().expect("a parent"), &all)
}

/// `git clone -q FLAGS SRC DEST` (`src` a path or URL).
pub fn git_clone(src: impl AsRef<std::ffi::OsStr>, dest: &Path, flags: &[&str]) {
    let src = src.as_ref().to_str().expect("a UTF-8 source");
    let dest_s = dest.to_str().expect("a UTF-8 path");
    let all: Vec<&str> = ["clone", "-q"]
        .iter()
        .chain(flags)
        .chain(&["--", src, dest_s])
        .copied()
        .collect();
    git_in(dest.parent().expect("a parent"), &all);
}

/// A temporary git repository with `mlci init` done.
pub struct TestRepo {
    _tmp: Option<tempfile::TempDir>,
    pub root: PathBuf,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().canonicalize().unwrap().join("repo");
        let repo = TestRepo::at(root);
        TestRepo {
            _tmp: Some(tmp),
            ..repo
        }
    }

    /// A repository at `root` (created), for tests on special file systems.
    /// The caller cleans up.
    pub fn at(root: PathBuf) -> TestRepo {
        std::fs::create_dir_all(&root).unwrap();
        let repo = TestRepo { _tmp: None, root };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.mlci(&["init"]).ok();
        repo
    }

    /// A repository already made at `root` (a clone the test made its own
    /// way). The caller cleans up.
    pub fn at_existing(root: PathBuf) -> TestRepo {
        TestRepo { _tmp: None, root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn mlci(&self, args: &[&str]) -> Run {
        Run::from(mlci_cmd(&self.root).args(args).output().expect("run mlci"))
    }

    /// Runs mlci with extra environment variables (set after the hermetic
    /// clean-up, so `GITHUB_*` and `AWS_*` given here reach it).
    pub fn mlci_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = mlci_cmd(&self.root);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run mlci"))
    }

    pub fn mlci_in(&self, sub: &str, args: &[&str]) -> Run {
        Run::from(
            mlci_cmd(&self.root.join(sub))
                .args(args)
                .output()
                .expect("run mlci"),
        )
    }

    /// Runs the git CLI in the repository; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, args)
    }

    pub fn commit_all(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).symlink_metadata().is_ok()
    }

    /// The local cache object with hex hash `hash`.
    pub fn object(&self, hash: &str) -> PathBuf {
        self.path(&format!(".mlci/cache/sha256/{}/{}", &hash[..2], &hash[2..]))
    }

    /// Writes `n` deterministic small files below `dir`, nested two levels.
    pub fn write_tree(&self, dir: &str, n: usize) {
        for i in 0..n {
            let content = format!("file {i}\n{}", "x".repeat(i % 97));
            self.write(&format!("{dir}/d{}/e{}/f{i}.txt", i % 7, i % 3), content);
        }
    }

    /// All objects in the local cache as (name, path).
    pub fn cache_objects(&self) -> Vec<(String, PathBuf)> {
        let base = self.path(".mlci/cache/sha256");
        let mut out = Vec::new();
        let Ok(shards) = std::fs::read_dir(&base) else {
            return out;
        };
        for shard in shards.flatten() {
            for obj in std::fs::read_dir(shard.path()).unwrap().flatten() {
                // Dot-names are temp files being written, never objects.
                if obj.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let name = format!(
                    "{}{}",
                    shard.file_name().to_string_lossy(),
                    obj.file_name().to_string_lossy()
                );
                out.push((name, obj.path()));
            }
        }
        out.sort();
        out
    }

    /// Asserts every cache object's content hashes to its name.
    #[track_caller]
    pub fn assert_cache_sound(&self) -> usize {
        let objects = self.cache_objects();
        for (name, path) in &objects {
            let hex = name.strip_suffix(".dir").unwrap_or(name);
            assert_eq!(
                sha256_file(path),
                hex,
                "corrupt cache object {}",
                path.display()
            );
        }
        objects.len()
    }

    /// Filters for snapshots: the repo path and hashes.
    pub fn filters(&self) -> Vec<(String, String)> {
        vec![
            (
                regex_escape(&self.root.display().to_string()),
                "[REPO]".into(),
            ),
            ("[0-9a-f]{64}".into(), "[SHA256]".into()),
            ("`[0-9a-f]{8}`".into(), "`[SHORT]`".into()),
        ]
    }
}

/// sha256 of a file via the system's `sha256sum`, independent of mlci's code.
/// Regular files (and anything not a directory) below `dir`, counted
/// recursively; 0 when `dir` does not exist (yet).
pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

pub fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshot of a run's exit code, stdout and stderr with the repo's filters.
#[macro_export]
macro_rules! snapshot {
    ($repo:expr, $run:expr, @$snap:literal) => {{
        let run = $run;
        let filters: Vec<(String, String)> = $repo.filters();
        let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!(
                format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr),
                @$snap
            );
        });
        run
    }};
}

/// An environment variable the test script (scripts/test.sh) provides.
#[track_caller]
pub fn env_from_test_script(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with `bash scripts/test.sh`, which provides it")
    })
}

/// A name no other test (or earlier run) uses, for remote prefixes.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The real servers scripts/test.sh starts, as remote kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Local,
    S3,
    Webdav,
    Sftp,
    Azure,
}

impl TestRepo {
    /// Adds remote `name` of `kind` under a fresh prefix, credentials in
    /// the local file; returns the prefix.
    pub fn add_remote(&self, name: &str, kind: Server) -> String {
        let prefix = unique(name);
        self.add_remote_at(name, kind, &prefix);
        prefix
    }

    pub fn add_remote_at(&self, name: &str, kind: Server, prefix: &str) {
        let env = env_from_test_script;
        let modify = |key: &str, value: &str, local: bool| {
            let mut args = vec!["remote", "modify", name, key, value];
            if local {
                args.push("--local");
            }
            self.mlci(&args).ok();
        };
        match kind {
            Server::Local => {
                let dir = self.root.parent().unwrap().join("remotes").join(prefix);
                self.mlci(&["remote", "add", "-d", name, dir.to_str().unwrap()])
                    .ok();
            }
            Server::S3 => {
                let url = format!("s3://{}/{prefix}", env("MLCI_TEST_S3_BUCKET"));
                self.mlci(&["remote", "add", "-d", name, &url]).ok();
                modify("endpoint", &env("MLCI_TEST_S3_ENDPOINT"), false);
                modify("access_key_id", &env("MLCI_TEST_S3_KEY"), true);
                modify("secret_access_key", &env("MLCI_TEST_S3_SECRET"), true);
            }
            Server::Webdav => {
                let url = format!("{}/{prefix}", env("MLCI_TEST_WEBDAV_URL"));
                self.mlci(&["remote", "add", "-d", name, &url]).ok();
                modify("user", &env("MLCI_TEST_WEBDAV_USER"), true);
                modify("password", &env("MLCI_TEST_WEBDAV_PASS"), true);
            }
            Server::Sftp => {
                let url = format!("{}/{prefix}", env("MLCI_TEST_SFTP_URL"));
                self.mlci(&["remote", "add", "-d", name, &url]).ok();
                modify("key", &env("MLCI_TEST_SFTP_KEY"), true);
                modify("known_hosts", "accept", true);
            }
            Server::Azure => {
                let url = format!("azure://{}/{prefix}", env("MLCI_TEST_AZURE_CONTAINER"));
                self.mlci(&["remote", "add", "-d", name, &url]).ok();
                modify("endpoint", &env("MLCI_TEST_AZURE_ENDPOINT"), false);
                modify("account_name", &env("MLCI_TEST_AZURE_ACCOUNT"), false);
                modify("account_key", &env("MLCI_TEST_AZURE_KEY"), true);
            }
        }
    }

    /// A git clone of this repository in a sibling directory, with this
    /// repository's per-machine config (credentials) copied over: another
    /// machine, as far as mlci can tell.
    pub fn clone_to(&self, name: &str) -> TestRepo {
        let dest = self.root.parent().unwrap().join(name);
        git_clone(&self.root, &dest, &[]);
        let local = self.path(".mlci/config.local.yaml");
        if local.exists() {
            std::fs::copy(&local, dest.join(".mlci/config.local.yaml")).unwrap();
        }
        TestRepo {
            _tmp: None,
            root: dest,
        }
    }
}

/// A small Python HTTP server (`script` gets the port file as its last
/// argument and writes its port there), on 127.0.0.1, stopped on drop.
pub struct PyServer {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl PyServer {
    pub fn start(script: &str, args: &[&str]) -> PyServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.py");
        std::fs::write(&file, script).unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new("python3")
            .arg(&file)
            .args(args)
            .arg(&port_file)
            .spawn()
            .expect("python3 starts (the example project needs it too)");
        // Owned at once, so a failed start still kills and reaps it.
        let mut server = PyServer {
            child,
            port: 0,
            _dir: dir,
        };
        for _ in 0..100 {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                server.port = port;
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the mock server did not start");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
