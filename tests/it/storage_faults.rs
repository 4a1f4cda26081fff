//! A full disk and a read-only cache during each command that writes: a
//! clear error naming the path, with a hint, exit 2, nothing half-written
//! left behind; once the fault is gone a rerun completes. Each test mounts
//! its own small tmpfs or read-only bind mount (the suite runs as root, as
//! scripts/test.sh requires), so tests do not eat each other's space.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{sha256_file, Server, TestRepo};

/// A mount that is undone on drop.
struct Mount {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Mount {
    /// A fresh tmpfs of `mib` MiB.
    fn tmpfs(mib: u64) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        must(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
                .arg(&path),
        );
        Mount {
            path,
            _dir: Some(dir),
        }
    }

    /// `path` made read-only in place (a read-only bind mount over itself:
    /// root cannot write through it either).
    fn read_only(path: &Path) -> Mount {
        must(Command::new("mount").arg("--bind").arg(path).arg(path));
        must(
            Command::new("mount")
                .args(["-o", "remount,ro,bind"])
                .arg(path),
        );
        Mount {
            path: path.to_path_buf(),
            _dir: None,
        }
    }

    /// Fills the file system until `free` bytes are left.
    fn leave_free(&self, free: u64) -> PathBuf {
        let avail = available(&self.path);
        let filler = self.path.join("filler");
        let size = avail.saturating_sub(free);
        std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
        filler
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[track_caller]
fn must(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed (the suite must run as root, as scripts/test.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn available(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Bytes that are not zeros (tmpfs stores zeros like any bytes, but
/// distinct content keeps objects distinct).
fn payload(mib: usize, salt: u8) -> Vec<u8> {
    (0..mib << 20).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// Files below `dir` whose names mark them as temp files, and objects whose
/// bytes are not their names'.
#[track_caller]
fn assert_nothing_half_written(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
                continue;
            }
            assert!(
                !name.starts_with('.') || name == ".gitignore",
                "temp file left: {}",
                p.display()
            );
            let shard = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.parent().unwrap().parent().unwrap().ends_with("sha256") {
                let hex = format!("{shard}{}", name.trim_end_matches(".dir"));
                assert_eq!(sha256_file(&p), hex, "half-written object {}", p.display());
            }
        }
    }
}

#[track_caller]
fn assert_clear_error(run: &crate::common::Run, path_part: &str, hint: &str) {
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.starts_with("error: ") || run.stderr.contains("\nerror: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(path_part),
        "names the path: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("hint: {hint}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn disk_full_during_checkout_repro_pull_and_push() {
    // checkout: the workspace copy does not fit.
    let fs = Mount::tmpfs(24);
    let repo = TestRepo::at(fs.path.join("co"));
    let big = payload(4, 1);
    repo.write("big.bin", &big);
    repo.mlci(&["add", "big.bin"]).ok();
    std::fs::remove_file(repo.path("big.bin")).unwrap();
    let filler = fs.leave_free(1 << 20);
    let run = repo.mlci(&["checkout"]);
    assert_clear_error(&run, "big.bin", "the disk is full");
    assert!(!repo.exists("big.bin"), "no partial file in the workspace");
    assert_nothing_half_written(&repo.root);
    std::fs::remove_file(&filler).unwrap();
    repo.mlci(&["checkout"]).ok();
    assert_eq!(std::fs::read(repo.path("big.bin")).unwrap(), big);
    std::fs::remove_dir_all(&repo.root).unwrap();

    // repro: the output fits, its cache copy does not.
    let repo = TestRepo::at(fs.path.join("rp"));
    repo.write(
        "dvc.yaml",
        "stages:\n  make:\n    cmd: head -c 3145728 /dev/urandom > out.bin\n    outs: [out.bin]\n",
    );
    let filler = fs.leave_free(4 << 20);
    let run = repo.mlci(&["repro"]);
    assert_clear_error(&run, ".mlci/cache", "the disk is full");
    assert!(
        !repo.exists("mlci.lock"),
        "no lock entry for an output not cached"
    );
    assert_nothing_half_written(&repo.path(".mlci"));
    std::fs::remove_file(&filler).unwrap();
    repo.mlci(&["repro"]).ok();
    repo.mlci(&["fsck"]).ok();
    std::fs::remove_dir_all(&repo.root).unwrap();

    // pull: the objects do not fit in the clone's cache.
    let origin = TestRepo::new();
    origin.add_remote("store", Server::Local);
    origin.write("big.bin", payload(4, 2));
    origin.mlci(&["add", "big.bin"]).ok();
    origin.mlci(&["push"]).ok();
    origin.commit_all("big");
    let clone = fs.path.join("pl");
    crate::common::git_clone(&origin.root, &clone, &[]);
    let puller = TestRepo::at(clone);
    std::fs::copy(
        origin.path(".mlci/config.local.yaml"),
        puller.path(".mlci/config.local.yaml"),
    )
    .ok();
    let filler = fs.leave_free(2 << 20);
    let run = puller.mlci(&["pull"]);
    assert_clear_error(&run, "", "the disk is full");
    assert!(!puller.exists("big.bin"));
    assert_nothing_half_written(&puller.root);
    std::fs::remove_file(&filler).unwrap();
    puller.mlci(&["pull"]).ok();
    assert_eq!(
        sha256_file(&puller.path("big.bin")),
        sha256_file(&origin.path("big.bin"))
    );

    // push: a directory remote on the full file system.
    let pusher = TestRepo::new();
    let remote = fs.path.join("remote");
    pusher
        .mlci(&["remote", "add", "-d", "full", remote.to_str().unwrap()])
        .ok();
    pusher.write("big.bin", payload(4, 3));
    pusher.mlci(&["add", "big.bin"]).ok();
    let filler = fs.leave_free(1 << 20);
    let run = pusher.mlci(&["push"]);
    assert_clear_error(&run, "full", "");
    assert_nothing_half_written(&remote);
    std::fs::remove_file(&filler).unwrap();
    pusher.mlci(&["push"]).ok();
    pusher.mlci(&["fsck", "--remote", "full", "--full"]).ok();
}

#[test]
fn gc_frees_space_on_a_full_disk() {
    let fs = Mount::tmpfs(16);
    let repo = TestRepo::at(fs.path.join("gc"));
    repo.write("old.bin", payload(3, 4));
    repo.mlci(&["add", "old.bin"]).ok();
    std::fs::remove_file(repo.path("old.bin.mlci")).unwrap();
    std::fs::remove_file(repo.path("old.bin")).unwrap();
    let _filler = fs.leave_free(4096);
    repo.mlci(&["gc", "--workspace"]).ok();
    assert!(
        available(&fs.path) >= 3 << 20,
        "the old object's space is back"
    );
}

/// The cache read-only: commands that only read it work; those that must
/// write it fail clearly and change nothing.
#[test]
fn read_only_cache_during_each_command() {
    let origin = TestRepo::new();
    origin.add_remote("store", Server::Local);
    origin.write("model.bin", payload(1, 5));
    origin.write_tree("data", 20);
    origin.mlci(&["add", "model.bin", "data"]).ok();
    origin.mlci(&["push"]).ok();
    origin.commit_all("data");
    let repo = origin.clone_to(&crate::common::unique("ro"));
    repo.mlci(&["pull"]).ok();
    repo.write("new.txt", "new data");
    repo.write("old.bin", "garbage for gc");
    repo.mlci(&["add", "old.bin"]).ok();
    std::fs::remove_file(repo.path("old.bin.mlci")).unwrap();
    repo.write(
        "dvc.yaml",
        "stages:\n  s:\n    cmd: cp new.txt out.txt\n    deps: [new.txt]\n    outs: [out.txt]\n",
    );
    // Damage for fsck --repair to move aside.
    let obj = repo.object(&sha256_file(&repo.path("model.bin")));
    let before: Vec<(String, PathBuf)> = repo.cache_objects();
    let cache = repo.path(".mlci/cache");
    {
        let _ro = Mount::read_only(&cache);
        for args in [&["add", "new.txt"][..], &["repro"], &["gc", "--workspace"]] {
            let run = repo.mlci(args);
            assert_clear_error(&run, ".mlci/cache", "the file system is read-only");
        }
        assert!(!repo.exists("new.txt.mlci") && !repo.exists("mlci.lock"));
        // Reading works: checkout, push, status, fsck.
        std::fs::remove_file(repo.path("model.bin")).unwrap();
        repo.mlci(&["checkout"]).ok();
        repo.mlci(&["push"]).ok();
        repo.mlci(&["status"]).ok();
        repo.mlci(&["fsck"]).ok();
    }
    assert_eq!(repo.cache_objects(), before, "nothing in the cache changed");
    let mut perm = std::fs::metadata(&obj).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&obj, perm).unwrap();
    std::fs::write(&obj, "damaged").unwrap();
    {
        let _ro = Mount::read_only(&cache);
        let run = repo.mlci(&["fsck", "--repair", "--remote", "store"]);
        assert_clear_error(&run, ".mlci/cache", "the file system is read-only");
    }
    // The fault gone, everything completes.
    repo.mlci(&["fsck", "--repair", "--remote", "store"]).ok();
    repo.mlci(&["add", "new.txt"]).ok();
    repo.mlci(&["repro"]).ok();
    repo.mlci(&["gc", "--workspace"]).ok();
    repo.mlci(&["fsck"]).ok();
}
