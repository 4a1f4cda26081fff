//! Bounded cost on every input: a pipeline file a pull request controls
//! cannot make mlci expand more stages than the stated ceiling; what the
//! ceiling lets through still expands.

use crate::common::TestRepo;
use crate::snapshot;

/// A 1,000 × 1,000 × 1,000 `matrix` (a few kilobytes naming 10^9 stages)
/// and a 20,000-item `foreach` are refused before anything is expanded,
/// naming the file, line and stage; 1,000 items expand; MLCI_MAX_STAGES
/// moves the ceiling.
#[test]
fn generated_stages_are_counted_before_they_are_expanded() {
    let repo = TestRepo::new();
    let axis: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let axis = axis.join(", ");
    repo.write(
        "mlci.yaml",
        format!("stages:\n  sweep:\n    matrix:\n      a: [{axis}]\n      b: [{axis}]\n      c: [{axis}]\n    cmd: echo ${{item.a}}\n"),
    );
    snapshot!(repo, repo.mlci(&["status"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: mlci.yaml:3: stage `sweep`: `matrix` expands to 1000000000 stages, which takes the pipeline past its limit of 10000 stages
        hint: split the sweep into smaller ones; a pipeline that really needs more stages can raise the limit with MLCI_MAX_STAGES=N
    ");
    let items = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        format!(
            "stages:\n  s:\n    foreach: [{}]\n    do:\n      cmd: echo ${{item}}\n",
            list.join(", ")
        )
    };
    repo.write("mlci.yaml", items(20_000));
    let run = repo.mlci(&["dag"]).user_error();
    assert!(
        run.stderr.contains("`foreach` expands to 20000 stages"),
        "{}",
        run.stderr
    );
    let run = repo
        .mlci_env(&["dag"], &[("MLCI_MAX_STAGES", "20000")])
        .ok();
    assert_eq!(run.stdout.lines().count(), 20_000);
    repo.write("mlci.yaml", items(1000));
    let run = repo.mlci(&["dag"]).ok();
    assert!(run.stdout.lines().any(|l| l == "s@999"), "{}", run.stdout);
    let run = repo
        .mlci_env(&["dag"], &[("MLCI_MAX_STAGES", "999")])
        .user_error();
    assert!(run.stderr.contains("limit of 999 stages"), "{}", run.stderr);
}
