//! `mlci diff` against `dvc diff` (DVC 3 from PyPI, the oracle): the same
//! history made twice, once with each tool (`add`, `remove`, edits,
//! commits, a pipeline's repro, a fresh clone without the cache), and
//! after each scenario `mlci diff --json [A [B]]` equals `dvc diff --json
//! [A [B]]` (hashes left out: DVC's are MD5, mlci's SHA-256).

use serde_json::Value;

use crate::dvc_oracle::{dvc, Pair};

/// One step, done the same way in both repositories.
enum Op<'a> {
    Write(&'a str, &'a str),
    Delete(&'a str),
    Track(&'a str),
    Untrack(&'a str),
    Commit,
    Repro,
}

fn apply(p: &Pair, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Write(path, text) => {
                p.mlci.write(path, text);
                p.dvc.write(path, text);
            }
            Op::Delete(path) => {
                for root in [&p.mlci.root, &p.dvc.root] {
                    let at = root.join(path);
                    if at.is_dir() {
                        std::fs::remove_dir_all(at).unwrap();
                    } else {
                        std::fs::remove_file(at).unwrap();
                    }
                }
            }
            Op::Track(path) => {
                p.mlci.mlci(&["add", path]).ok();
                dvc(&p.dvc_exe, &p.dvc, &["add", "-q", path]);
            }
            Op::Untrack(path) => {
                p.mlci.mlci(&["remove", path]).ok();
                dvc(&p.dvc_exe, &p.dvc, &["remove", &format!("{path}.dvc")]);
            }
            Op::Commit => {
                p.mlci.commit_all("step");
                p.dvc.commit_all("step");
            }
            Op::Repro => {
                p.mlci.mlci(&["repro"]).ok();
                dvc(&p.dvc_exe, &p.dvc, &["repro", "-q"]);
            }
        }
    }
}

/// Both tools' `diff --json ARGS` in (mlci's clone, DVC's clone); equal,
/// and returned.
#[track_caller]
fn same(
    mlci: &crate::common::TestRepo,
    dvc_repo: &crate::common::TestRepo,
    exe: &str,
    args: &[&str],
) -> Value {
    let mut all = vec!["diff", "--json"];
    all.extend_from_slice(args);
    let m: Value = serde_json::from_str(&mlci.mlci(&all).ok().stdout).unwrap();
    let d: Value = serde_json::from_str(&dvc(exe, dvc_repo, &all)).unwrap();
    assert_eq!(m, d, "mlci diff --json {args:?} vs dvc diff --json");
    m
}

#[track_caller]
fn check(p: &Pair, args: &[&str]) -> Value {
    same(&p.mlci, &p.dvc, &p.dvc_exe, args)
}

fn paths(v: &Value, kind: &str) -> Vec<String> {
    v[kind]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| match &e["path"] {
                    Value::String(s) => s.clone(),
                    o => format!(
                        "{} -> {}",
                        o["old"].as_str().unwrap(),
                        o["new"].as_str().unwrap()
                    ),
                })
                .collect()
        })
        .unwrap_or_default()
}

const DIR: &[Op<'static>] = &[
    Op::Write("data/a.csv", "id,v\n1,0.5\n"),
    Op::Write("data/b.csv", "id,v\n1,0.1\n"),
    Op::Write("data/sub/c.csv", "id,v\n9,9.9\n"),
    Op::Write("model.bin", "weights 1\n"),
    Op::Track("data"),
    Op::Track("model.bin"),
    Op::Commit,
];

fn with_history(ops: &[Op]) -> Pair {
    let p = Pair::unrun(&[]);
    apply(&p, DIR);
    apply(&p, ops);
    p
}

#[test]
fn workspace_edits_inside_and_outside_directories() {
    // A file inside a tracked directory edited (not added again), and a
    // tracked file edited.
    let p = with_history(&[
        Op::Write("data/b.csv", "id,v\n1,0.25\n2,0.3\n"),
        Op::Write("model.bin", "weights 2\n"),
    ]);
    let d = check(&p, &[]);
    assert_eq!(paths(&d, "modified"), ["data/", "data/b.csv", "model.bin"]);
    // What a person reads: the groups, and the Markdown table.
    crate::common::pin_output(&p.mlci.mlci(&["diff"]).ok().stdout);
    crate::common::pin_output(&p.mlci.mlci(&["diff", "--md", "--show-hash"]).ok().stdout);
    // Files added to and deleted from the directory, a tracked file gone.
    apply(
        &p,
        &[
            Op::Write("data/new.csv", "id\n7\n"),
            Op::Delete("data/a.csv"),
            Op::Delete("model.bin"),
        ],
    );
    let d = check(&p, &[]);
    assert_eq!(paths(&d, "added"), ["data/new.csv"]);
    assert_eq!(paths(&d, "deleted"), ["data/a.csv", "model.bin"]);
    // Nothing changed: both say `{}`.
    let q = with_history(&[]);
    assert_eq!(check(&q, &[]), serde_json::json!({}));
}

#[test]
fn a_repository_without_commits_and_a_bad_revision() {
    let p = Pair::unrun(&[("a.txt", "a\n")]);
    apply(&p, &[Op::Track("a.txt")]);
    assert_eq!(check(&p, &[]), serde_json::json!({}));
    apply(&p, &[Op::Commit]);
    p.mlci.mlci(&["diff", "no-such-rev"]).user_error();
}

#[test]
fn newly_tracked_and_untracked_paths() {
    let p = with_history(&[Op::Write("extra.txt", "x\n"), Op::Track("extra.txt")]);
    assert_eq!(paths(&check(&p, &[]), "added"), ["extra.txt"]);
    apply(&p, &[Op::Commit, Op::Untrack("model.bin"), Op::Commit]);
    let d = check(&p, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&d, "deleted"), ["model.bin"]);
    check(&p, &["HEAD~2", "HEAD"]);
    check(&p, &[]);
}

#[test]
fn commits_compared_with_each_other() {
    let p = with_history(&[
        Op::Write("data/b.csv", "changed\n"),
        Op::Write("data/sub/d.csv", "new\n"),
        Op::Write("model.bin", "weights 3\n"),
        Op::Track("data"),
        Op::Track("model.bin"),
        Op::Commit,
    ]);
    let d = check(&p, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&d, "modified"), ["data/", "data/b.csv", "model.bin"]);
    assert_eq!(paths(&d, "added"), ["data/sub/d.csv"]);
    // Reversed, and a revision with itself.
    check(&p, &["HEAD", "HEAD~1"]);
    assert_eq!(check(&p, &["HEAD", "HEAD"]), serde_json::json!({}));
}

#[test]
fn renames_of_files_and_directories() {
    // A tracked file moved: untracked at the old path, tracked at the new.
    let p = with_history(&[
        Op::Untrack("model.bin"),
        Op::Write("models/model.bin", "weights 1\n"),
        Op::Delete("model.bin"),
        Op::Track("models/model.bin"),
        Op::Commit,
    ]);
    let d = check(&p, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&d, "renamed"), ["model.bin -> models/model.bin"]);
    // A directory moved whole: it and each file are renames.
    apply(
        &p,
        &[
            Op::Untrack("data"),
            Op::Write("input/a.csv", "id,v\n1,0.5\n"),
            Op::Write("input/b.csv", "id,v\n1,0.1\n"),
            Op::Write("input/sub/c.csv", "id,v\n9,9.9\n"),
            Op::Delete("data"),
            Op::Track("input"),
            Op::Commit,
        ],
    );
    let d = check(&p, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&d, "renamed").len(), 4, "{d}");
}

#[test]
fn a_pipelines_outputs_are_compared_as_tracked_data() {
    let p = Pair::unrun(&[
        ("raw.txt", "raw 1\n"),
        (
            "dvc.yaml",
            "stages:\n  prep:\n    cmd: mkdir -p out && cat raw.txt > out/prep.txt && cat raw.txt raw.txt > model.txt && echo 1 > score.txt\n    deps: [raw.txt]\n    outs: [out, model.txt]\n    metrics:\n      - score.txt:\n          cache: false\n",
        ),
    ]);
    apply(
        &p,
        &[
            Op::Repro,
            Op::Commit,
            Op::Write("raw.txt", "raw 2\n"),
            Op::Repro,
        ],
    );
    let d = check(&p, &[]);
    assert_eq!(paths(&d, "modified"), ["model.txt", "out/", "out/prep.txt"]);
    apply(&p, &[Op::Commit]);
    check(&p, &["HEAD~1", "HEAD"]);
}

#[test]
fn a_fresh_clone_without_the_cache() {
    let p = with_history(&[
        Op::Write("data/b.csv", "changed\n"),
        Op::Track("data"),
        Op::Commit,
    ]);
    let m = p.mlci.clone_to(&crate::common::unique("mclone"));
    let d = p.dvc.clone_to(&crate::common::unique("dclone"));
    // Between commits: each directory whole (its files are unknown).
    let diff = same(&m, &d, &p.dvc_exe, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&diff, "modified"), ["data/"]);
    // Against the empty work tree: what is gone, and not in the cache.
    let diff = same(&m, &d, &p.dvc_exe, &[]);
    assert!(!paths(&diff, "not in cache").is_empty(), "{diff}");
}

/// The report's "Data changes" section, up to the next heading.
fn data_changes(report: &str) -> &str {
    report
        .split("### Data changes")
        .nth(1)
        .expect("a Data changes section")
        .split("\n### ")
        .next()
        .unwrap()
}

/// The report's "Data changes" section: the files summary, the first ten
/// changes, and how many more with the command that lists them all; a
/// path is escaped for Markdown.
#[test]
fn the_report_lists_the_data_changes() {
    let r = crate::common::TestRepo::new();
    for i in 0..12 {
        r.write(&format!("data/f{i:02}.csv"), format!("{i}\n"));
    }
    r.write("data/odd|name*.csv", "x\n");
    r.mlci(&["add", "data"]).ok();
    r.commit_all("data");
    for i in 0..12 {
        r.write(&format!("data/f{i:02}.csv"), format!("{i} changed\n"));
    }
    r.write("data/odd|name*.csv", "y\n");
    let report = r.mlci(&["report", "--base", "HEAD"]).ok().stdout;
    crate::common::pin_output(data_changes(&report));
}

/// A changed table in the report: its rows before and after, the columns
/// added and removed, and a column whose type changed; a table inside a
/// tracked directory, a tracked file, and one in the work tree.
#[test]
fn the_report_says_how_a_changed_table_changed() {
    let r = crate::common::TestRepo::new();
    r.write("data/train.csv", "id,age,city\n1,30,Oslo\n2,40,Rome\n");
    r.write("scores.parquet.csv", "id,score\n1,0.5\n");
    r.mlci(&["add", "data", "scores.parquet.csv"]).ok();
    r.commit_all("data");
    r.write(
        "data/train.csv",
        "id,age,income\n1,30.5,100\n2,40,200\n3,50,300\n",
    );
    r.write("scores.parquet.csv", "id,score\n1,0.5\n2,0.7\n");
    let report = r.mlci(&["report", "--base", "HEAD"]).ok().stdout;
    crate::common::pin_output(data_changes(&report));
}

/// Keyed table diffs against datacompy (PyPI, the oracle): 24 seeded
/// table pairs (CSV, TSV, JSON Lines, Parquet; integer, text, two-column,
/// repeated and missing keys; rows dropped, added and shuffled, cells
/// changed and made missing, a column added, removed or retyped), all
/// compared by one `mlci diff --tables --json`: every count equals
/// datacompy's.
#[test]
fn keyed_table_counts_equal_datacompys() {
    let cases = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::env_from_test_script(
        "MLCI_TEST_ORACLE_PYTHON",
    ))
    .arg(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/table_diff_oracle.py"),
    )
    .args([cases.path().to_str().unwrap(), "24", "7"])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expected.len(), 24);

    let r = crate::common::TestRepo::new();
    let mut yaml = String::from("report:\n  tables:\n");
    let mut paths = Vec::new();
    for (name, case) in &expected {
        let path = format!("data/{name}");
        r.write(
            &path,
            std::fs::read(cases.path().join("old").join(name)).unwrap(),
        );
        let key: Vec<&str> = case["key"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        yaml.push_str(&format!("    {path}: {{key: [{}]}}\n", key.join(", ")));
        paths.push(path);
    }
    let mut add = vec!["add"];
    add.extend(paths.iter().map(String::as_str));
    r.mlci(&add).ok();
    r.write("mlci.yaml", &yaml);
    r.commit_all("old tables");
    for name in expected.keys() {
        r.write(
            &format!("data/{name}"),
            std::fs::read(cases.path().join("new").join(name)).unwrap(),
        );
    }
    let run = r.mlci(&["diff", "--tables", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 24, "{}", run.stdout);
    for t in tables {
        let name = t["path"].as_str().unwrap().trim_start_matches("data/");
        let want = &expected[name];
        let k = &t["keyed"];
        assert!(
            t["note"].is_null() && t["keyed_note"].is_null(),
            "{name}: {t}"
        );
        let columns: serde_json::Map<String, Value> = k["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["column"].as_str().unwrap().to_string(),
                    c["changed"].clone(),
                )
            })
            .collect();
        let got = serde_json::json!({
            "key": k["key"],
            "rows_before": t["rows_before"],
            "rows_after": t["rows_after"],
            "added_columns": t["added"],
            "removed_columns": t["removed"],
            "added": k["added"],
            "removed": k["removed"],
            "changed": k["changed"],
            "unchanged": k["unchanged"],
            "columns": columns,
        });
        assert_eq!(&got, want, "{name}");
    }
}

/// A keyed table in the report: the row counts, the columns that changed,
/// and a few sample rows whose hostile values (backticks, pipes, HTML, a
/// line break) stay inside their code spans; `mlci diff --tables` says the
/// same on a terminal.
#[test]
fn the_report_shows_a_keyed_tables_rows() {
    let r = crate::common::TestRepo::new();
    r.write(
        "users.csv",
        "user_id,plan,spend\nu1,free,0\nu2,pro,10\nu3,pro,12.5\nu4,free,0\n",
    );
    r.mlci(&["add", "users.csv"]).ok();
    r.write(
        "mlci.yaml",
        "report:\n  tables:\n    users.csv: {key: user_id}\n",
    );
    r.commit_all("users");
    r.write(
        "users.csv",
        "user_id,plan,spend\nu2,\"pro`|<b>x</b>\",10\nu1,free,3\nu4,\"free\nplus\",0\nu9,pro,1\n",
    );
    let report = r.mlci(&["report", "--base", "HEAD"]).ok().stdout;
    let text = r.mlci(&["diff", "--tables"]).ok().stdout;
    crate::common::pin_output(&format!("{}\n---\n{text}", data_changes(&report)));
}

/// A `report.tables` that is not a map of keys is an error naming the
/// file and the key, with an example.
#[test]
fn a_bad_table_key_is_an_error_with_a_hint() {
    let r = crate::common::TestRepo::new();
    r.write("t.csv", "id\n1\n");
    r.mlci(&["add", "t.csv"]).ok();
    r.write("mlci.yaml", "report:\n  tables:\n    t.csv: {keys: id}\n");
    r.commit_all("t");
    r.write("t.csv", "id\n2\n");
    r.mlci(&["diff", "--tables"]).user_error();
}

/// Both tools' `diff --json ARGS` on one DVC repository used in place
/// (hashes are DVC's MD5 on both sides, so `--show-hash` too): equal, and
/// returned.
#[track_caller]
fn in_place(r: &crate::common::TestRepo, exe: &str, args: &[&str]) -> Value {
    let mut all = vec!["diff", "--json", "--show-hash"];
    all.extend_from_slice(args);
    let m: Value = serde_json::from_str(&r.mlci(&all).ok().stdout).unwrap();
    let d: Value = serde_json::from_str(&dvc(exe, r, &all)).unwrap();
    assert_eq!(m, d, "mlci diff --json --show-hash {args:?} vs dvc's");
    m
}

/// A DVC repository used in place (no `.mlci/`): `mlci diff` reads DVC's
/// `.dvc` files, `dvc.lock` and cache, and answers as `dvc diff` on the
/// same clone, hashes included: work-tree edits inside and outside a
/// directory, a pipeline's outputs, commits both ways, a file and a
/// directory renamed, a fresh clone without the cache; the report's data
/// changes and a keyed table come from the same diff.
#[test]
fn a_dvc_repository_used_in_place() {
    let (_tmp, r, exe) = crate::dvc_in_place::dvc_repo();
    r.write("data/a.csv", "id,v\n1,2\n");
    r.write("data/b.txt", "b\n");
    r.write("data/sub/c.txt", "c\n");
    r.write("model.bin", "m\n");
    dvc(&exe, &r, &["add", "-q", "data", "model.bin"]);
    r.write(
        "dvc.yaml",
        "stages:\n  prep:\n    cmd: mkdir -p out && cp data/a.csv out/p.csv && cp model.bin m2.bin && echo 1 > s.json\n    deps: [data, model.bin]\n    outs: [out, m2.bin]\n    metrics:\n      - s.json:\n          cache: false\n",
    );
    r.write(
        "mlci.yaml",
        "report:\n  tables:\n    out/p.csv: {key: id}\n",
    );
    dvc(&exe, &r, &["repro", "-q"]);
    r.commit_all("first");
    assert_eq!(in_place(&r, &exe, &[]), serde_json::json!({}));
    // Edits in the work tree, the pipeline rerun by mlci.
    r.write("data/a.csv", "id,v\n1,3\n2,4\n");
    std::fs::remove_file(r.root.join("data/b.txt")).unwrap();
    r.write("data/d.txt", "d\n");
    r.write("model.bin", "m2\n");
    let d = in_place(&r, &exe, &[]);
    assert_eq!(paths(&d, "modified"), ["data/", "data/a.csv", "model.bin"]);
    r.mlci(&["add", "data", "model.bin"]).ok();
    r.mlci(&["repro"]).ok();
    let d = in_place(&r, &exe, &[]);
    assert_eq!(
        paths(&d, "modified"),
        [
            "data/",
            "data/a.csv",
            "m2.bin",
            "model.bin",
            "out/",
            "out/p.csv"
        ]
    );
    let report = r.mlci(&["report", "--base", "HEAD"]).ok().stdout;
    crate::common::pin_output(data_changes(&report));
    r.commit_all("second");
    in_place(&r, &exe, &["HEAD~1", "HEAD"]);
    in_place(&r, &exe, &["HEAD", "HEAD~1"]);
    // A file and a directory moved (each untracked, then tracked anew).
    dvc(&exe, &r, &["remove", "-q", "model.bin.dvc"]);
    std::fs::create_dir_all(r.root.join("models")).unwrap();
    std::fs::rename(r.root.join("model.bin"), r.root.join("models/model.bin")).unwrap();
    r.mlci(&["add", "models/model.bin"]).ok();
    let d = in_place(&r, &exe, &[]);
    assert_eq!(paths(&d, "renamed"), ["model.bin -> models/model.bin"]);
    r.write(
        "dvc.yaml",
        "stages:\n  prep:\n    cmd: mkdir -p out && cp input/a.csv out/p.csv && cp models/model.bin m2.bin && echo 1 > s.json\n    deps: [input, models/model.bin]\n    outs: [out, m2.bin]\n    metrics:\n      - s.json:\n          cache: false\n",
    );
    dvc(&exe, &r, &["remove", "-q", "data.dvc"]);
    std::fs::rename(r.root.join("data"), r.root.join("input")).unwrap();
    r.mlci(&["add", "input"]).ok();
    r.mlci(&["repro"]).ok();
    r.commit_all("moved");
    let d = in_place(&r, &exe, &["HEAD~1", "HEAD"]);
    assert_eq!(paths(&d, "renamed").len(), 5, "{d}");
    // A fresh clone: no cache, empty work tree.
    let c = crate::dvc_in_place::clone_of(&r, &r.root.parent().unwrap().join("clone"));
    let d = in_place(&c, &exe, &["HEAD~2", "HEAD~1"]);
    assert_eq!(
        paths(&d, "modified"),
        ["data/", "m2.bin", "model.bin", "out/"]
    );
    let d = in_place(&c, &exe, &[]);
    assert!(!paths(&d, "not in cache").is_empty(), "{d}");
}
