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
        .env("PATH", &path)
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
    readme_picture(&dir, tmp.path(), &path);
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

/// The README's picture: the example's report after the param change
/// (`train.lr` 0.1 → 0.3), its training-loss plot drawn by mlci as SVG
/// and rendered to PNG by a real renderer (`rsvg-convert`), checked not
/// blank and holding both revisions' colours. `MLCI_UPDATE_DOCS=1` writes
/// it to docs/images/example-report-loss.png; the README's copy must exist.
fn readme_picture(dir: &std::path::Path, home: &std::path::Path, path: &str) {
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        hermetic(&mut cmd, home);
        let out = cmd
            .current_dir(dir)
            .env("PATH", path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let params = std::fs::read_to_string(dir.join("params.yaml")).unwrap();
    std::fs::write(
        dir.join("params.yaml"),
        params.replace("lr: 0.1", "lr: 0.3"),
    )
    .unwrap();
    run(&["repro"]);
    run(&["report", "--base", "HEAD", "--plots-dir", "pictures"]);
    let svgs: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("pictures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(svgs.len(), 1, "{svgs:?}");
    let png = home.join("example-report-loss.png");
    let out = std::process::Command::new(crate::common::env_from_test_script("MLCI_TEST_RSVG"))
        .args(["--zoom", "1.5", "-b", "white", "-o"])
        .arg(&png)
        .arg(&svgs[0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ink: serde_json::Value =
        serde_json::from_slice(&crate::drift::run_oracle("png_ink.py", [&png])).unwrap();
    assert!(ink["ink"].as_f64().unwrap() > 0.01, "{ink}");
    assert!(
        ink["blue"].as_u64().unwrap() > 200 && ink["orange"].as_u64().unwrap() > 200,
        "{ink}"
    );
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/images/example-report-loss.png");
    if std::env::var_os("MLCI_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::copy(&png, &docs).unwrap();
    }
    assert!(
        docs.is_file(),
        "run with MLCI_UPDATE_DOCS=1 to write {}",
        docs.display()
    );
}
