//! The model registry against GTO itself (PyPI `gto`, installed by
//! scripts/test.sh): tags mlci writes, GTO reads identically, and the
//! reverse; promotion rules; `model get` from the cache and a real remote;
//! bad input.

use std::cell::Cell;
use std::process::Command;

use serde_json::Value as Json;

use crate::common::{env_from_test_script, hermetic, Run, Server, TestRepo};

/// A repository with a clock: each mlci write gets the next minute as its
/// tag time, so the order of events never depends on the wall clock.
struct Reg {
    repo: TestRepo,
    minute: Cell<u32>,
}

impl Reg {
    fn new() -> Reg {
        Reg {
            repo: TestRepo::new(),
            minute: Cell::new(0),
        }
    }

    fn date(&self) -> String {
        let m = self.minute.get() + 1;
        self.minute.set(m);
        format!("2030-01-01T{:02}:{:02}:00 +0000", m / 60, m % 60)
    }

    /// `mlci model ARGS` at the next minute.
    fn model(&self, args: &[&str]) -> Run {
        let date = self.date();
        let mut all = vec!["model"];
        all.extend_from_slice(args);
        self.repo.mlci_env(&all, &[("GIT_COMMITTER_DATE", &date)])
    }

    fn json(&self, args: &[&str]) -> Json {
        let run = self.model(args).ok();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    /// Runs GTO; a write waits a second first, since GTO stamps its tags
    /// with the wall clock at one-second resolution.
    fn gto(&self, args: &[&str]) -> String {
        let write = !matches!(args[0], "show" | "history" | "check-ref");
        if write {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let mut cmd = Command::new(env_from_test_script("MLCI_TEST_GTO"));
        cmd.current_dir(&self.repo.root).args(args);
        hermetic(&mut cmd, &self.repo.root);
        cmd.env("DO_NOT_TRACK", "1").env("GTO_EMOJIS", "false");
        let out = cmd.output().expect("run gto");
        assert!(
            out.status.success(),
            "gto {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn gto_json(&self, args: &[&str]) -> Json {
        let out = self.gto(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("gto {args:?}: {e}: {out}"))
    }

    /// A new commit of the model (and its metrics).
    fn train(&self, model: &str, auc: f64) {
        self.repo.write("model.pkl", model);
        self.repo.write("models/eu/model.bin", format!("eu {model}"));
        self.repo
            .write("metrics.json", format!("{{\"auc\": {auc}, \"latency_ms\": 12}}\n"));
        self.repo.commit_all(&format!("train {model}"));
    }
}

/// A repository declaring `churn` (root dvc.yaml), `old`, and the nested
/// `models/eu:churn`.
fn declared() -> Reg {
    let r = Reg::new();
    r.repo.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n    type: model\n    desc: churn classifier\n  old:\n    path: model.pkl\nmetrics:\n  - metrics.json\n",
    );
    r.repo.write(
        "models/eu/dvc.yaml",
        "artifacts:\n  churn:\n    path: model.bin\n    type: model\n",
    );
    r.train("m1", 0.80);
    r
}

/// GTO's and mlci's views of the registry are the same: `show`,
/// `show NAME`, `history NAME` and `check-ref` of every tag.
fn assert_same_view(r: &Reg, names: &[&str]) {
    // The whole registry (deprecated included).
    let g = r.gto_json(&["show", "--json", "--deprecated"]);
    let m = r.json(&["list", "--json", "--deprecated"]);
    let mut from_mlci = serde_json::Map::new();
    for a in m["artifacts"].as_array().unwrap() {
        from_mlci.insert(
            a["name"].as_str().unwrap().to_string(),
            serde_json::json!({"version": a["latest"], "stage": a["stages"], "active": !a["deprecated"].as_bool().unwrap()}),
        );
    }
    let mut from_gto = serde_json::Map::new();
    for (name, a) in g.as_object().unwrap() {
        let stages: serde_json::Map<String, Json> = a["stage"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        from_gto.insert(
            name.clone(),
            serde_json::json!({"version": a["version"], "stage": stages, "active": a["active"]}),
        );
    }
    assert_eq!(Json::Object(from_mlci), Json::Object(from_gto), "gto show");
    for name in names {
        // Versions, their commits and the stages each holds.
        let g = r.gto_json(&["show", name, "--json"]);
        let m = r.json(&["show", name, "--json", "--no-metrics"]);
        // GTO lists no versions of a deprecated artifact; mlci lists them
        // and says it is deprecated.
        let deprecated = m["deprecated"].as_bool().unwrap();
        let g = if deprecated {
            assert_eq!(g, serde_json::json!([]), "gto show {name}");
            m["versions"].clone()
        } else {
            g
        };
        let view = |versions: &Json, commit: &str, stages: &dyn Fn(&Json) -> Vec<String>| {
            let mut out: Vec<(String, String, Vec<String>)> = versions
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let mut s = stages(v);
                    s.sort();
                    (
                        v["version"].as_str().unwrap().to_string(),
                        v[commit].as_str().unwrap().to_string(),
                        s,
                    )
                })
                .collect();
            out.sort();
            out
        };
        let commit_key = if deprecated { "commit" } else { "commit_hexsha" };
        let g_view = view(&g, commit_key, &|v| {
            v["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.get("stage").unwrap_or(s).as_str().unwrap().to_string())
                .collect()
        });
        let m_view = view(&m["versions"], "commit", &|v| {
            v["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        });
        assert_eq!(m_view, g_view, "gto show {name}");
        // Every event, in order, with its time, author and message.
        let mut g = r.gto_json(&["history", name, "--json"]);
        g.as_array_mut().unwrap().reverse();
        let m = r.json(&["history", name, "--json"]);
        let ev = |e: &Json, time: &str, tag: &str| {
            [time, "event", "version", "stage", "commit", tag, "author", "author_email", "message"]
                .iter()
                .map(|k| e[*k].clone())
                .collect::<Vec<Json>>()
        };
        let g_events: Vec<Vec<Json>> = g
            .as_array()
            .unwrap()
            .iter()
            .map(|e| ev(e, "timestamp", "ref"))
            .collect();
        let m_events: Vec<Vec<Json>> = m
            .as_array()
            .unwrap()
            .iter()
            .map(|e| ev(e, "created_at", "tag"))
            .collect();
        assert_eq!(m_events, g_events, "gto history {name}");
        // What each tag records, as `gto check-ref` says.
        for e in m.as_array().unwrap() {
            let tag = e["tag"].as_str().unwrap();
            let c = r.gto_json(&["check-ref", tag, "--json"]);
            assert_eq!(
                (&c["event"], &c["artifact"], &c["version"], &c["stage"], &c["commit_hexsha"]),
                (&e["event"], &e["artifact"], &e["version"], &e["stage"], &e["commit"]),
                "gto check-ref {tag}"
            );
        }
    }
}

#[test]
fn gto_reads_the_tags_mlci_writes() {
    let r = declared();
    r.model(&["register", "churn"]).ok();
    r.model(&["register", "old"]).ok();
    r.model(&["register", "models/eu:churn"]).ok();
    r.train("m2", 0.85);
    r.model(&["register", "churn", "--bump", "minor"]).ok();
    r.model(&["promote", "churn", "v0.0.1", "--to", "prod"]).ok();
    r.model(&["promote", "churn", "v0.1.0", "--to", "prod"]).ok();
    r.model(&["promote", "models/eu:churn", "v0.0.1", "--to", "prod"]).ok();
    r.train("m3", 0.9);
    r.model(&["register", "churn", "--version", "v1.0.0-rc.1"]).ok();
    r.model(&["promote", "churn", "v1.0.0-rc.1", "--to", "staging"]).ok();
    r.model(&["unassign", "churn", "v1.0.0-rc.1", "--stage", "staging"]).ok();
    r.model(&["deregister", "churn", "v0.1.0"]).ok();
    r.model(&["deprecate", "old"]).ok();
    let tags = r.repo.git(&["tag", "--list"]);
    for t in [
        "churn@v0.0.1",
        "churn@v0.1.0",
        "churn@v0.1.0!",
        "churn#prod#1",
        "churn#prod#2",
        "churn#staging#3",
        "churn#staging!#4",
        "models/eu=churn@v0.0.1",
        "models/eu=churn#prod#1",
        "old@deprecated",
    ] {
        assert!(tags.lines().any(|l| l == t), "{t} not in:\n{tags}");
    }
    // The deregistered champion hands prod back to v0.0.1, as GTO says too.
    let list = r.json(&["list", "--json"]);
    assert_eq!(list["artifacts"][0]["stages"]["prod"], "v0.0.1", "{list}");
    assert_same_view(&r, &["churn", "models/eu:churn", "old"]);
}

#[test]
fn mlci_reads_the_tags_gto_writes() {
    let r = declared();
    r.gto(&["register", "churn", "HEAD"]);
    r.gto(&["register", "old", "HEAD"]);
    r.gto(&["register", "models/eu:churn", "HEAD"]);
    r.train("m2", 0.85);
    r.gto(&["register", "churn", "HEAD", "--bump-minor"]);
    r.gto(&["assign", "churn", "--version", "v0.0.1", "--stage", "prod"]);
    r.gto(&["assign", "churn", "--version", "v0.1.0", "--stage", "prod"]);
    r.gto(&["assign", "models/eu:churn", "--version", "v0.0.1", "--stage", "prod"]);
    r.train("m3", 0.9);
    r.gto(&["register", "churn", "HEAD", "--version", "v1.0.0"]);
    r.gto(&["assign", "churn", "--version", "v1.0.0", "--stage", "staging"]);
    r.gto(&["deprecate", "churn", "v1.0.0", "staging"]);
    r.gto(&["deprecate", "churn", "v0.1.0"]);
    r.gto(&["deprecate", "old"]);
    assert_same_view(&r, &["churn", "models/eu:churn", "old"]);
    // And mlci continues GTO's counters.
    r.model(&["promote", "churn", "v1.0.0", "--to", "prod"]).ok();
    assert!(r.repo.git(&["tag", "--list"]).lines().any(|l| l == "churn#prod#5"));
    assert_same_view(&r, &["churn"]);
}
