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
