//! Every `--json` output follows one convention (docs/json.md), so scripts
//! can rely on it across commands: it parses; every key mlci writes is
//! `snake_case` (keys that are the user's data, such as paths and metric
//! names, keep the data's text: the fixture's are written so that they
//! would pass too, so a camelCase or hyphenated key of mlci's own fails);
//! every `commit` is 40 hex; absent values are `null`, never `""`.

use serde_json::Value;

use crate::common::TestRepo;

/// Every key of `v` that breaks the convention, with its place.
fn offences(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let data = k.contains(['/', '.', ':']) || k.ends_with(".csv");
                let snake = k
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && k.chars().next().is_some_and(|c| c.is_ascii_lowercase());
                if !data && !snake {
                    out.push(format!("{at}.{k}: not snake_case"));
                }
                if k == "commit" {
                    let hex = x
                        .as_str()
                        .is_some_and(|s| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()));
                    if !hex && !x.is_null() {
                        out.push(format!("{at}.commit: {x} is not 40 hex"));
                    }
                }
                if x.as_str() == Some("") {
                    out.push(format!("{at}.{k}: \"\" where null means absent"));
                }
                offences(x, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                offences(x, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_json_output_follows_one_convention() {
    let r = TestRepo::new();
    r.write("data/raw.csv", "a,b\n1,x\n2,y\n3,x\n4,y\n5,x\n6,y\n");
    r.mlci(&["add", "data/raw.csv", "--json"]).ok();
    r.write("params.yaml", "train:\n  epochs: 10\n");
    r.write(
        "train.py",
        "open('model.pkl', 'w').write('m')\nopen('metrics.json', 'w').write('{\"acc\": 0.8, \"val_loss\": 0.4}')\n",
    );
    r.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: python3 train.py\n    deps: [data/raw.csv, train.py]\n    params: [train.epochs]\n    outs: [model.pkl]\n    metrics:\n      - metrics.json: {cache: false}\ngates:\n  - metric: acc\n    min: 0.5\nartifacts:\n  churn:\n    path: model.pkl\n    type: model\n",
    );
    r.mlci(&["repro"]).ok();
    r.commit_all("first");
    r.mlci(&["model", "register", "churn"]).ok();
    r.write("params.yaml", "train:\n  epochs: 20\n");
    r.write("cur.csv", "a,b\n1,x\n9,y\n9,x\n9,y\n9,x\n9,y\n");
    r.write(
        "log.csv",
        "timestamp,prediction,target\n2026-01-01T00:00:00Z,1,1\n2026-01-01T01:00:00Z,0,1\n2026-01-02T00:00:00Z,1,1\n",
    );
    let runs: &[&[&str]] = &[
        &["status", "--json"],
        &["metrics", "show", "--json"],
        &["metrics", "diff", "--json", "--all"],
        &["params", "diff", "--json"],
        &["gate", "--json"],
        &["plan", "--json"],
        &["fsck", "--json"],
        &["gc", "--workspace", "--dry-run", "--json"],
        &["model", "list", "--json"],
        &["model", "show", "churn", "--json"],
        &["drift", "data/raw.csv", "cur.csv", "--json"],
        &["monitor", "log.csv", "--json"],
    ];
    let mut all = Vec::new();
    for args in runs {
        let run = r.mlci(args);
        assert!(run.code == 0 || run.code == 1, "{args:?}: {run:?}");
        let v: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", run.stdout));
        offences(&v, &args.join(" "), &mut all);
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}
