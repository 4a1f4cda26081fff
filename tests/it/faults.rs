//! Killed anywhere, lose nothing: each command is killed with SIGKILL at
//! counted system calls (strace's fault injection: the Nth `openat`,
//! `write`, rename or unlink of a thread, chosen by a seeded generator, not
//! by timing); after each kill `fsck` finds no damage (it removes and names
//! only temp files) and a rerun completes with the right bytes.
//!
//! Bounded: a few small files, a directory remote on the local disk or the
//! loopback SeaweedFS, twelve kill points per command.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{env_from_test_script, hermetic, sha256_file, Server, TestRepo, BIN};

/// The system calls kills are counted on: where files are opened, written,
/// published (renamed) and removed.
const SYSCALLS: &[&str] = &["openat", "write", "rename", "renameat2", "unlinkat"];

/// Kill points per command.
const POINTS: usize = 12;

/// A small deterministic generator (xorshift64*): the same points on every
/// run, different ones per command.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below as u64) as usize
    }
}

/// `mlci ARGS` under strace in `root`: counting the calls of `SYSCALLS`
/// into `trace` and, with `inject`, killing at the `n`th call of one of
/// them. Returns the exit status.
fn traced(
    root: &Path,
    args: &[&str],
    trace: &Path,
    inject: Option<(&str, usize)>,
) -> std::process::ExitStatus {
    let mut cmd = Command::new(env_from_test_script("MLCI_TEST_STRACE"));
    cmd.current_dir(root);
    hermetic(&mut cmd, root);
    cmd.args(["-f", "-qq", "-o"])
        .arg(trace)
        .arg(format!("-etrace={}", SYSCALLS.join(",")));
    if let Some((call, n)) = inject {
        cmd.arg(format!("-einject={call}:signal=KILL:when={n}"));
    }
    cmd.arg(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace runs")
}

/// The most calls of each kind any one thread made (strace counts per
/// thread, so a point beyond this is never reached).
fn counts(trace: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(trace).unwrap();
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in text.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if SYSCALLS.contains(&name.as_str()) {
            *per.entry((name, tid.to_string())).or_default() += 1;
        }
    }
    let mut out = BTreeMap::new();
    for ((name, _), n) in per {
        let e = out.entry(name).or_insert(0);
        *e = (*e).max(n);
    }
    out
}

/// One command under test.
struct Case {
    seed: u64,
    /// Builds the state the command starts from; returns the repository
    /// the command runs in.
    setup: fn() -> Fixture,
    args: &'static [&'static str],
    /// Whether `fsck` must be clean right after the kill (not for a repair,
    /// whose starting state is damaged: its rerun is the check).
    clean_after_kill: bool,
    /// What proves the rerun's result right.
    verify: fn(&Fixture),
}

struct Fixture {
    repo: TestRepo,
    /// Kept alive (the other machine of a pull).
    _origin: Option<TestRepo>,
    /// Path -> SHA-256 every workspace file must have at the end.
    expect: BTreeMap<String, String>,
}

impl Fixture {
    fn of(repo: TestRepo) -> Fixture {
        Fixture {
            repo,
            _origin: None,
            expect: BTreeMap::new(),
        }
    }
    fn expect_files(&mut self, paths: &[&str]) {
        for p in paths {
            self.expect
                .insert((*p).to_string(), sha256_file(&self.repo.path(p)));
        }
    }
    #[track_caller]
    fn assert_bytes(&self) {
        for (p, h) in &self.expect {
            assert_eq!(
                &sha256_file(&self.repo.path(p)),
                h,
                "{p} has the wrong bytes"
            );
        }
    }
}

fn data(repo: &TestRepo) {
    repo.write_tree("data", 40);
    repo.write("model.bin", vec![7u8; 300_000]);
}

const DATA_FILES: &[&str] = &[
    "data/d0/e0/f0.txt",
    "data/d3/e1/f10.txt",
    "data/d6/e2/f20.txt",
    "model.bin",
];

/// Runs every kill point of `case`; after each, fsck and a rerun.
fn kill_everywhere(case: &Case) {
    let mut rng = Seeded(case.seed);
    let probe = (case.setup)();
    let trace = probe.repo.root.parent().unwrap().join("trace");
    let status = traced(&probe.repo.root, case.args, &trace, None);
    assert!(
        status.success(),
        "{:?} fails even without a fault",
        case.args
    );
    let calls = counts(&trace);
    let kinds: Vec<(&String, &usize)> = calls.iter().filter(|(_, n)| **n > 0).collect();
    assert!(!kinds.is_empty(), "strace saw no calls of {SYSCALLS:?}");
    let mut killed = 0;
    for point in 0..POINTS {
        let (call, max) = kinds[rng.next(kinds.len())];
        let n = 1 + rng.next(*max);
        let f = (case.setup)();
        let trace = f.repo.root.parent().unwrap().join(format!("trace-{point}"));
        let status = traced(&f.repo.root, case.args, &trace, Some((call, n)));
        let at = format!("{:?} killed at {call} #{n}", case.args);
        if std::env::var_os("MLCI_TEST_FAULTS_VERBOSE").is_some() {
            eprintln!("{at}: {status:?}");
        }
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(
                status.success() || status.code() == Some(2),
                "{at}: neither killed nor finished: {status:?}"
            );
        }
        // Nothing is damaged; temp files are named and removed.
        if case.clean_after_kill {
            let check = f.repo.mlci(&["fsck", "--remote", "store"]);
            assert_eq!(
                check.code, 0,
                "{at}: fsck after the kill:\n{}{}",
                check.stdout, check.stderr
            );
        }
        // The rerun completes with the right bytes.
        f.repo.mlci(case.args).ok();
        (case.verify)(&f);
        f.repo.mlci(&["fsck", "--remote", "store"]).ok();
        f.repo.assert_cache_sound();
    }
    assert!(
        killed * 2 >= POINTS,
        "{:?}: only {killed} of {POINTS} points killed mlci (the points are not reached)",
        case.args
    );
}

fn tracked_and_pushed(kind: Server) -> TestRepo {
    let repo = TestRepo::new();
    data(&repo);
    repo.add_remote("store", kind);
    repo.mlci(&["add", "data", "model.bin"]).ok();
    repo.mlci(&["push"]).ok();
    repo.commit_all("data");
    repo
}

#[test]
fn killed_add_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0001,
        setup: || {
            let repo = TestRepo::new();
            data(&repo);
            repo.add_remote("store", Server::Local);
            let mut f = Fixture::of(repo);
            f.expect_files(DATA_FILES);
            f
        },
        args: &["add", "data", "model.bin"],
        clean_after_kill: true,
        verify: |f| {
            f.repo.mlci(&["status", "--check"]).ok();
            std::fs::remove_dir_all(f.repo.path("data")).unwrap();
            std::fs::remove_file(f.repo.path("model.bin")).unwrap();
            f.repo.mlci(&["checkout"]).ok();
            f.assert_bytes();
        },
    });
}

#[test]
fn killed_checkout_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0002,
        setup: || {
            let repo = tracked_and_pushed(Server::Local);
            let mut f = Fixture::of(repo);
            f.expect_files(DATA_FILES);
            std::fs::remove_dir_all(f.repo.path("data")).unwrap();
            std::fs::remove_file(f.repo.path("model.bin")).unwrap();
            f
        },
        args: &["checkout"],
        clean_after_kill: true,
        verify: |f| {
            f.assert_bytes();
            f.repo.mlci(&["status", "--check"]).ok();
        },
    });
}

#[test]
fn killed_repro_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0003,
        setup: || {
            let repo = TestRepo::new();
            data(&repo);
            repo.add_remote("store", Server::Local);
            repo.mlci(&["add", "data"]).ok();
            repo.write(
                "dvc.yaml",
                "stages:\n  split:\n    cmd: mkdir -p parts && cp -r data/d0 parts/a && cp -r data/d1 parts/b\n    deps: [data]\n    outs: [parts]\n  train:\n    cmd: cat parts/a/e0/f0.txt model.bin > model.out\n    deps: [parts, model.bin]\n    outs: [model.out]\n",
            );
            let mut f = Fixture::of(repo);
            f.expect.insert("model.out".into(), {
                let mut bytes = std::fs::read(f.repo.path("data/d0/e0/f0.txt")).unwrap();
                bytes.extend(std::fs::read(f.repo.path("model.bin")).unwrap());
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(&bytes))
            });
            f.expect.insert(
                "parts/b/e1/f1.txt".into(),
                sha256_file(&f.repo.path("data/d1/e1/f1.txt")),
            );
            f
        },
        args: &["repro"],
        clean_after_kill: true,
        verify: |f| {
            f.assert_bytes();
            let again = f.repo.mlci(&["repro"]).ok();
            assert!(!again.stderr.contains("running stage"), "{}", again.stderr);
        },
    });
}

#[test]
fn killed_push_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0004,
        setup: || {
            let repo = TestRepo::new();
            data(&repo);
            repo.add_remote("store", Server::S3);
            repo.mlci(&["add", "data", "model.bin"]).ok();
            repo.commit_all("data");
            let mut f = Fixture::of(repo);
            f.expect_files(DATA_FILES);
            f
        },
        args: &["push"],
        clean_after_kill: true,
        verify: |f| {
            // Every byte is on the remote: another machine pulls them.
            f.repo.mlci(&["fsck", "--remote", "store", "--full"]).ok();
            let other = f.repo.clone_to(&crate::common::unique("pushed"));
            other.mlci(&["pull"]).ok();
            for (p, h) in &f.expect {
                assert_eq!(&sha256_file(&other.path(p)), h);
            }
        },
    });
}

#[test]
fn killed_pull_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0005,
        setup: || {
            let origin = tracked_and_pushed(Server::S3);
            let repo = origin.clone_to(&crate::common::unique("puller"));
            let mut f = Fixture::of(repo);
            for p in DATA_FILES {
                f.expect
                    .insert((*p).to_string(), sha256_file(&origin.path(p)));
            }
            f._origin = Some(origin);
            f
        },
        args: &["pull"],
        clean_after_kill: true,
        verify: |f| {
            f.assert_bytes();
            f.repo.mlci(&["status", "--check"]).ok();
        },
    });
}

#[test]
fn killed_gc_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0006,
        setup: || {
            let repo = tracked_and_pushed(Server::Local);
            for v in 0..3 {
                repo.write("model.bin", vec![v as u8; 100_000]);
                repo.write_tree(&format!("old{v}"), 10);
                repo.mlci(&["add", "model.bin", &format!("old{v}")]).ok();
                std::fs::remove_dir_all(repo.path(&format!("old{v}"))).unwrap();
                std::fs::remove_file(repo.path(&format!("old{v}.mlci"))).unwrap();
            }
            let mut f = Fixture::of(repo);
            f.expect_files(DATA_FILES);
            f
        },
        args: &["gc", "--workspace"],
        clean_after_kill: true,
        verify: |f| {
            f.repo.mlci(&["status", "--check"]).ok();
            std::fs::remove_dir_all(f.repo.path("data")).unwrap();
            f.repo.mlci(&["checkout"]).ok();
            f.assert_bytes();
        },
    });
}

#[test]
fn killed_fsck_repair_loses_nothing() {
    kill_everywhere(&Case {
        seed: 0x5eed_0007,
        setup: || {
            let repo = tracked_and_pushed(Server::Local);
            let mut f = Fixture::of(repo);
            f.expect_files(DATA_FILES);
            // Damage three objects (the remote has good copies).
            for p in ["data/d0/e0/f0.txt", "data/d3/e1/f10.txt", "model.bin"] {
                let obj = f.repo.object(&sha256_file(&f.repo.path(p)));
                let mut perm = std::fs::metadata(&obj).unwrap().permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perm.set_readonly(false);
                std::fs::set_permissions(&obj, perm).unwrap();
                std::fs::write(&obj, b"damaged").unwrap();
            }
            f
        },
        args: &["fsck", "--repair", "--remote", "store"],
        clean_after_kill: false,
        verify: |f| {
            f.repo.mlci(&["fsck"]).ok();
            std::fs::remove_dir_all(f.repo.path("data")).unwrap();
            std::fs::remove_file(f.repo.path("model.bin")).unwrap();
            f.repo.mlci(&["checkout"]).ok();
            f.assert_bytes();
        },
    });
}
