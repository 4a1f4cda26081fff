//! `mlci plan`: stale stages in waves, their JSON, and GitHub Actions
//! matrices (runners, the 256-job split).

use serde_json::Value;

use crate::common::TestRepo;

/// Seven stages: a fan and a diamond (a → b, c → d) and an independent
/// chain (e → g) plus f alone: three waves.
pub const SEVEN: &str = "stages:
  a:
    cmd: cat in.txt > a.txt
    deps: [in.txt]
    outs: [a.txt]
  b:
    cmd: cat a.txt > b.txt && echo b >> b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: cat a.txt > c.txt && echo c >> c.txt
    deps: [a.txt]
    outs: [c.txt]
  d:
    cmd: cat b.txt c.txt > d.txt
    deps: [b.txt, c.txt]
    outs: [d.txt]
  e:
    cmd: echo e > e.txt
    outs: [e.txt]
  f:
    cmd: echo f > f.txt
    outs: [f.txt]
  g:
    cmd: cat e.txt > g.txt && echo g >> g.txt
    deps: [e.txt]
    outs: [g.txt]
";

fn waves(r: &TestRepo, args: &[&str]) -> Vec<Vec<String>> {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let run = r.mlci(&all).ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn stale_stages_come_in_waves_and_restorable_ones_do_not() {
    let r = TestRepo::new();
    r.write("mlci.yaml", SEVEN);
    r.write("in.txt", "one\n");
    assert_eq!(
        waves(&r, &[]),
        [vec!["a", "e", "f"], vec!["b", "c", "g"], vec!["d"]]
    );
    // The exact JSON shape.
    let run = r.mlci(&["plan", "--json"]).ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys = |x: &Value| x.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), ["waves"]);
    assert_eq!(keys(&v["waves"][0]), ["wave", "stages"]);
    assert_eq!(
        keys(&v["waves"][0]["stages"][0]),
        ["name", "deps", "outs", "reasons"]
    );
    assert_eq!(
        v["waves"][1]["stages"][0]["deps"],
        serde_json::json!(["a.txt"])
    );
    // Only what a target needs.
    assert_eq!(waves(&r, &["d"]), [vec!["a"], vec!["b", "c"], vec!["d"]]);
    r.mlci(&["repro"]).ok();
    assert!(waves(&r, &[]).is_empty(), "nothing stale after repro");
    // A changed input: its stage and everything below it.
    r.write("in.txt", "two\n");
    assert_eq!(waves(&r, &[]), [vec!["a"], vec!["b", "c"], vec!["d"]]);
    r.mlci(&["repro"]).ok();
    // Back to the first input: the run cache restores all of it.
    r.write("in.txt", "one\n");
    assert!(
        waves(&r, &[]).is_empty(),
        "restorable from the run cache: {:?}",
        waves(&r, &[])
    );
    let text = r.mlci(&["plan"]).ok();
    assert!(text.stderr.contains("nothing to run"), "{}", text.stderr);
}

#[test]
fn matrices_deal_stages_to_runners_and_split_at_256_jobs() {
    let r = TestRepo::new();
    r.write("mlci.yaml", SEVEN);
    r.write("in.txt", "one\n");
    let run = r.mlci(&["plan", "--matrix", "--runners", "2"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"waves=3"));
    let wave0: Value = serde_json::from_str(lines[0].strip_prefix("wave0=").unwrap()).unwrap();
    let include = wave0["include"].as_array().unwrap();
    assert_eq!(include.len(), 2, "{wave0}");
    assert_eq!(include[0]["stages"], serde_json::json!(["a", "f"]));
    assert_eq!(include[0]["args"], "-s 'a' -s 'f'");
    // 600 independent stages: one job each, split into 256 + 256 + 88.
    let r = TestRepo::new();
    let items: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    r.write(
        "mlci.yaml",
        format!(
            "stages:\n  s:\n    foreach: [{}]\n    do:\n      cmd: echo ${{item}} > out-${{item}}.txt\n      outs:\n        - out-${{item}}.txt\n",
            items.join(", ")
        ),
    );
    let run = r.mlci(&["plan", "--matrix"]).ok();
    let parts: Vec<(&str, Value)> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("wave0"))
        .map(|(k, v)| (k, serde_json::from_str(v).unwrap()))
        .collect();
    let sizes: Vec<usize> = parts
        .iter()
        .map(|(_, v)| v["include"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [256, 256, 88], "never truncated");
    assert_eq!(parts[0].0, "wave0_part0");
    let all: std::collections::BTreeSet<String> = parts
        .iter()
        .flat_map(|(_, v)| {
            v["include"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["stages"][0].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(all.len(), 600, "every stage planned once");
}
