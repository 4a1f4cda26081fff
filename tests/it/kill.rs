//! Crash safety: `kill -9` in the middle of `mlci add` of 20,000 files leaves
//! no corrupt object, and a rerun completes.

use std::time::{Duration, Instant};

use crate::common::{count_files, mlci_cmd, TestRepo};

fn count_objects(repo: &TestRepo) -> usize {
    let base = repo.path(".mlci/cache/sha256");
    let Ok(shards) = std::fs::read_dir(base) else {
        return 0;
    };
    shards
        .flatten()
        .map(|s| {
            std::fs::read_dir(s.path())
                .map(|d| {
                    d.flatten()
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Sends SIGKILL to `child` once `progress` reports at least `wanted` (or
/// the child exits, or a minute passes); returns the last count seen and
/// the exit status.
fn kill_9_once(
    child: &mut std::process::Child,
    progress: impl Fn() -> usize,
    wanted: usize,
) -> (usize, std::process::ExitStatus) {
    let start = Instant::now();
    let mut seen = 0;
    while start.elapsed() < Duration::from_secs(60) {
        seen = progress();
        if seen >= wanted || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    (seen, child.wait().unwrap())
}

#[test]
fn kill_9_during_add_of_20k_files_then_rerun_completes() {
    let repo = TestRepo::new();
    repo.write_tree("data", 20_000);
    let mut child = mlci_cmd(&repo.root)
        .args(["add", "data"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (seen, status) = kill_9_once(&mut child, || count_objects(&repo), 200);
    assert!(
        status.code().is_none(),
        "add finished before the kill landed (saw {seen} objects)"
    );
    let at_kill = count_objects(&repo);
    assert!(
        seen >= 200,
        "the kill must land after some objects were written (saw {seen})"
    );
    assert!(
        at_kill < 20_000,
        "the kill must land mid-way ({at_kill} objects)"
    );
    assert!(!repo.exists("data.mlci"), "no pointer for a half-done add");
    let sound = repo.assert_cache_sound();
    assert_eq!(sound, at_kill);

    repo.mlci(&["add", "data"]).ok();
    assert!(repo.exists("data.mlci"));
    // Distinct contents: 20,000 files, but "file i\n" + i%97 x's are all distinct.
    assert_eq!(
        repo.assert_cache_sound(),
        20_001,
        "every file and the manifest"
    );
    repo.mlci(&["status", "--check"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    repo.mlci(&["checkout"]).ok();
    repo.mlci(&["status", "--check"]).ok();
}

/// A directory restored from nothing is built out of sight and appears
/// whole: a kill part-way leaves no partial directory in the workspace, and
/// the next checkout clears the leftover and completes.
#[test]
fn kill_9_during_checkout_of_20k_files_leaves_no_partial_directory() {
    let repo = TestRepo::new();
    repo.write_tree("data", 20_000);
    repo.mlci(&["add", "data"]).ok();
    std::fs::remove_dir_all(repo.path("data")).unwrap();
    let staging = repo.path(".mlci/tmp/checkout/data");
    let mut child = mlci_cmd(&repo.root)
        .args(["checkout"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (seen, status) = kill_9_once(&mut child, || count_files(&staging), 200);
    assert!(
        status.code().is_none(),
        "checkout finished before the kill landed (saw {seen} files)"
    );
    assert!(
        seen >= 200,
        "the kill must land after some files were written (saw {seen})"
    );
    assert!(
        !repo.exists("data"),
        "a killed checkout must not leave a partial directory"
    );
    repo.mlci(&["checkout"]).ok();
    assert!(!staging.exists(), "the leftover staging copy is cleared");
    assert_eq!(count_files(&repo.path("data")), 20_000);
    repo.mlci(&["status", "--check"]).ok();
}

/// The pgid of process `pid` (field 5 of `/proc/PID/stat`, after the
/// parenthesised command name).
fn pgid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(2)?.parse().ok()
}

/// Live processes in group `pgid` (zombies excluded: they hold nothing).
fn group_members(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3));
            pgid_of(*pid) == Some(pgid) && state != Some("Z")
        })
        .collect()
}

/// When mlci is killed, the stage it was running dies with it: every
/// process of the stage's group, a background job and a pipeline included,
/// is gone soon after, so nothing races the rerun's outputs.
#[test]
fn kill_9_of_mlci_kills_the_stage_process_group() {
    let repo = TestRepo::new();
    repo.write(
        "dvc.yaml",
        "stages:\n  long:\n    cmd: (sleep 57 &); echo $$ > started.tmp; mv started.tmp started; sleep 58 | cat; echo late > out.txt\n    outs: [out.txt]\n",
    );
    let mut child = mlci_cmd(&repo.root)
        .args(["repro"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !repo.exists("started") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the stage never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "repro ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    let shell: u32 = repo.read("started").trim().parse().unwrap();
    let pgid = pgid_of(shell).expect("the stage's shell is running");
    assert!(
        group_members(pgid).len() >= 3,
        "the shell, its background sleep and its pipeline run in the stage's group"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    let mut left = group_members(pgid);
    while !left.is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
        left = group_members(pgid);
    }
    assert!(
        left.is_empty(),
        "the stage's processes {left:?} outlived mlci"
    );
    assert!(!repo.exists("out.txt"), "the stage never finished");
}
