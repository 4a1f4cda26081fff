//! Real file-system limits the test script sets up: a full disk (a small
//! tmpfs) and reflink (a loop-mounted XFS image).

use std::path::Path;

use crate::common::{env_from_test_script, sha256_file, TestRepo};

fn used_bytes(path: &Path) -> u64 {
    // Flush delayed allocations so `used` counts every written block.
    std::process::Command::new("sync")
        .arg("-f")
        .arg(path)
        .status()
        .unwrap();
    let out = std::process::Command::new("df")
        .args(["--output=used", "-B1"])
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

#[test]
fn disk_full_during_add_names_the_file_and_leaves_nothing_half_written() {
    let mount = env_from_test_script("MLCI_TEST_TMPFS");
    // The mount is the suite's own and this is its only test, so a fixed
    // name: nothing in the pinned error depends on a process id.
    let root = Path::new(&mount).join("full");
    let repo = TestRepo::at(root.clone());
    // 10 MiB of data on a 16 MiB file system: the cache copy cannot fit.
    let data: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
    repo.write("big.bin", &data);
    let run = repo.mlci(&["add", "big.bin"]).user_error();
    assert!(
        run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(".mlci/cache"),
        "names the file: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: the disk is full"),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("big.bin.mlci"));
    assert!(!repo.exists(".gitignore"));
    assert_eq!(repo.cache_objects().len(), 0, "no partial object");
    let tmp = repo.path(".mlci/cache/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0),
        0,
        "no temp left"
    );
    assert_eq!(
        std::fs::read(repo.path("big.bin")).unwrap(),
        data,
        "the data is intact"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn reflink_on_xfs_shares_blocks_and_keeps_objects_read_only() {
    let dir = env_from_test_script("MLCI_TEST_REFLINK_DIR");
    if let Some(reason) = dir.strip_prefix("unavailable:") {
        eprintln!("REFLINK UNTESTED on this machine: {reason}");
        return;
    }
    let root = Path::new(&dir).join(format!("reflink-{}", std::process::id()));
    let repo = TestRepo::at(root.clone());
    let data: Vec<u8> = (0..64 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    repo.write("model.bin", &data);
    let before = used_bytes(&root);
    repo.mlci(&["add", "model.bin"]).ok();
    let after_add = used_bytes(&root);
    assert!(
        after_add - before < 8 << 20,
        "add reflinked, not copied: {} bytes more",
        after_add - before
    );
    let hash = sha256_file(&repo.path("model.bin"));
    let obj = repo.object(&hash);
    assert!(std::fs::metadata(&obj).unwrap().permissions().readonly());
    std::fs::remove_file(repo.path("model.bin")).unwrap();
    let before = used_bytes(&root);
    repo.mlci(&["checkout"]).ok();
    let after = used_bytes(&root);
    assert!(
        after.saturating_sub(before) < 8 << 20,
        "checkout reflinked: {} bytes more",
        after - before
    );
    assert_eq!(std::fs::read(repo.path("model.bin")).unwrap(), data);
    assert!(!std::fs::metadata(repo.path("model.bin"))
        .unwrap()
        .permissions()
        .readonly());
    // Writing to the workspace copy must not change the cache object.
    std::fs::write(repo.path("model.bin"), b"edited").unwrap();
    assert_eq!(sha256_file(&obj), hash);
    repo.mlci(&["checkout", "--force"]).ok();
    // The measurement can see a real copy: a plain copy of the same file grows `used`.
    let before = used_bytes(&root);
    let status = std::process::Command::new("cp")
        .arg("--reflink=never")
        .arg(repo.path("model.bin"))
        .arg(repo.path("copy.bin"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        used_bytes(&root) - before >= 60 << 20,
        "a real copy must show in `used`"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
