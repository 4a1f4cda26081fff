//! The README's main command: the built-in example runs end to end.

use crate::common::{hermetic, BIN};

#[test]
fn classifier_example_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let mut cmd = std::process::Command::new(BIN);
    hermetic(&mut cmd, tmp.path());
    let out = cmd
        .args(["init", "--example", "classifier"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = std::process::Command::new("sh");
    hermetic(&mut cmd, tmp.path());
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd
        .arg(dir.join("run.sh"))
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("data/raw: deleted"), "{stdout}");
    assert!(stdout.contains("workspace restored: 20 shards"), "{stdout}");
    assert!(stdout.contains("modified: part-003.csv"), "{stdout}");
    // A second scaffold into the same directory refuses to overwrite.
    let mut cmd = std::process::Command::new(BIN);
    hermetic(&mut cmd, tmp.path());
    let out = cmd
        .args(["init", "--example", "classifier"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}
