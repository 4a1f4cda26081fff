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
    // A param change reruns train and evaluate, not generate, and says why.
    assert!(
        stdout.contains("stage train: stale\n    param `train.lr` 0.1 → 0.3"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("stage generate: stale\n    param"),
        "{stdout}"
    );
    assert!(
        stderr.contains("stage `generate` is up to date\nrunning stage `train`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("restored the outputs of `train` from the run cache"),
        "{stderr}"
    );
    assert!(stdout.contains("workspace restored: 20 shards"), "{stdout}");
    assert!(
        stdout.contains("pulled back: 20 shards and the model, everything in sync with the remote"),
        "{stdout}"
    );
    assert!(stderr.contains("fetched "), "{stderr}");
    assert!(dir.join("mlci.lock").is_file());
    assert!(
        stdout.contains("PASS eval/metrics.json:accuracy  accuracy >= 0.8"),
        "{stdout}"
    );
    assert!(
        stdout.contains("xychart-beta\n    title \"Training loss\""),
        "{stdout}"
    );
    assert!(stdout.contains("mlci ci: gates passed"), "{stdout}");
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
