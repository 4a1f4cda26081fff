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
        self.repo
            .write("models/eu/model.bin", format!("eu {model}"));
        self.repo.write(
            "metrics.json",
            format!("{{\"auc\": {auc}, \"latency_ms\": 12}}\n"),
        );
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
        let commit_key = if deprecated {
            "commit"
        } else {
            "commit_hexsha"
        };
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
            [
                time,
                "event",
                "version",
                "stage",
                "commit",
                tag,
                "author",
                "author_email",
                "message",
            ]
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
                (
                    &c["event"],
                    &c["artifact"],
                    &c["version"],
                    &c["stage"],
                    &c["commit_hexsha"]
                ),
                (
                    &e["event"],
                    &e["artifact"],
                    &e["version"],
                    &e["stage"],
                    &e["commit"]
                ),
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
    r.model(&["promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    r.model(&["promote", "churn", "v0.1.0", "--to", "prod"])
        .ok();
    r.model(&["promote", "models/eu:churn", "v0.0.1", "--to", "prod"])
        .ok();
    r.train("m3", 0.9);
    r.model(&["register", "churn", "--version", "v1.0.0-rc.1"])
        .ok();
    r.model(&["promote", "churn", "v1.0.0-rc.1", "--to", "staging"])
        .ok();
    r.model(&["unassign", "churn", "v1.0.0-rc.1", "--stage", "staging"])
        .ok();
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
    r.gto(&[
        "assign",
        "models/eu:churn",
        "--version",
        "v0.0.1",
        "--stage",
        "prod",
    ]);
    r.train("m3", 0.9);
    r.gto(&["register", "churn", "HEAD", "--version", "v1.0.0"]);
    r.gto(&[
        "assign",
        "churn",
        "--version",
        "v1.0.0",
        "--stage",
        "staging",
    ]);
    r.gto(&["deprecate", "churn", "v1.0.0", "staging"]);
    r.gto(&["deprecate", "churn", "v0.1.0"]);
    r.gto(&["deprecate", "old"]);
    assert_same_view(&r, &["churn", "models/eu:churn", "old"]);
    // And mlci continues GTO's counters.
    r.model(&["promote", "churn", "v1.0.0", "--to", "prod"])
        .ok();
    assert!(r
        .repo
        .git(&["tag", "--list"])
        .lines()
        .any(|l| l == "churn#prod#5"));
    assert_same_view(&r, &["churn"]);
}

/// A repository whose default branch holds a promotion policy, with
/// versions of `churn` at several metric values.
fn with_policy() -> Reg {
    let r = declared();
    r.repo.write(".gto", "stages: [dev, staging, prod]\n");
    r.repo.write(
        "mlci.yaml",
        "promotion:\n  stages: [dev, staging, prod]\n  rules:\n    prod:\n      - metric: auc\n        min: 0.85\n      - metric: auc\n        max_decrease: 0.01\n      - metric: latency_ms\n        max_increase_pct: 10\n",
    );
    r.repo.commit_all("policy");
    r
}

fn to_prod(r: &Reg, v: &str) -> Run {
    r.model(&["promote", "churn", v, "--to", "prod"])
}

#[test]
fn promotion_follows_the_stage_order_and_the_rules() {
    let r = with_policy();
    r.train("m1", 0.9);
    r.model(&["register", "churn"]).ok();
    // Skipped stage: straight to prod is refused.
    let run = to_prod(&r, "v0.0.1");
    assert_eq!(run.code, 1, "{run:?}");
    crate::common::pin_output(&run.stdout);
    for s in ["dev", "staging"] {
        r.model(&["promote", "churn", "v0.0.1", "--to", s]).ok();
    }
    // First version into an empty stage: the champion rules have no champion.
    let run = to_prod(&r, "v0.0.1").ok();
    crate::common::pin_output(&run.stdout);
    // Below the threshold.
    r.train("m2", 0.80);
    r.model(&["register", "churn"]).ok();
    for s in ["dev", "staging"] {
        r.model(&["promote", "churn", "v0.0.2", "--to", s]).ok();
    }
    let run = to_prod(&r, "v0.0.2");
    assert_eq!(run.code, 1, "{run:?}");
    // Worse than the champion by more than the margin.
    r.train("m3", 0.87);
    r.model(&["register", "churn"]).ok();
    for s in ["dev", "staging"] {
        r.model(&["promote", "churn", "v0.0.3", "--to", s]).ok();
    }
    let run = to_prod(&r, "v0.0.3");
    insta::with_settings!({ filters => vec![(r"\(([0-9a-f]{8})\)", "([SHORT])")] }, {
        insta::assert_snapshot!(
            format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr),
            @r"
            exit: 1
            --- stdout
            PASS was in `staging` before `prod`
            PASS auc >= 0.85 (0.87)
            FAIL auc falls at most 0.01 vs the champion (0.87, champion 0.9): changed by -0.03 from 0.9 (champion v0.0.1)
            PASS latency_ms rises at most 10% vs the champion (12, champion 12)
            --- stderr
            promotion policy from mlci.yaml at main ([SHORT]): stages dev → staging → prod (each after the one before); rules for `prod` (3 rules)
            warning: promotion of churn v0.0.3 to `prod` refused: 1 of 4 rules failed (mlci.yaml at main ([SHORT]))
        "
        );
    });
    assert_eq!(run.code, 1);
    // Refusals created nothing: prod still holds the first champion.
    assert_eq!(
        r.json(&["list", "--json"])["artifacts"][0]["stages"]["prod"],
        "v0.0.1"
    );
    // Forced, with the reason in the tag.
    let run = r.model(&["promote", "churn", "v0.0.3", "--to", "prod", "--force"]);
    assert_eq!(run.code, 2, "--force needs --reason: {run:?}");
    r.model(&[
        "promote",
        "churn",
        "v0.0.3",
        "--to",
        "prod",
        "--force",
        "--reason",
        "hotfix for\nincident 42",
    ])
    .ok();
    let list = r.json(&["list", "--json"]);
    assert_eq!(list["artifacts"][0]["stages"]["prod"], "v0.0.3");
    let tag = r
        .repo
        .git(&["tag", "--list", "churn#prod#*", "--sort=-v:refname"]);
    let newest = tag.lines().next().unwrap();
    let msg = r.repo.git(&["tag", "-l", "--format=%(contents)", newest]);
    assert!(
        msg.contains("Mlci-Forced-Reason: hotfix for incident 42"),
        "{msg}"
    );
}

#[test]
fn the_policy_comes_from_the_default_branch_not_the_version() {
    let r = with_policy();
    // A branch whose mlci.yaml drops every rule, and a weak model on it.
    r.repo.git(&["checkout", "-q", "-b", "lax"]);
    r.repo
        .write("mlci.yaml", "promotion:\n  stages: [dev, staging, prod]\n");
    r.train("weak", 0.5);
    r.model(&["register", "churn"]).ok();
    for s in ["dev", "staging"] {
        r.model(&["promote", "churn", "v0.0.1", "--to", s]).ok();
    }
    let run = to_prod(&r, "v0.0.1");
    assert_eq!(run.code, 1, "main's rules apply: {run:?}");
    crate::common::pin_output(&run.stdout);
    // Which policy judged, and that the work tree's differs, are said.
    crate::common::pin_output(&run.stderr);
    // --dry-run names the policy and the tag, creating nothing; a version
    // already in the stage is left as it is.
    let run = r
        .model(&["promote", "churn", "v0.0.1", "--to", "dev", "--dry-run"])
        .ok();
    crate::common::pin_output(&run.stderr);
    r.repo.git(&["checkout", "-q", "main"]);
    r.repo.write("model.pkl", "m9");
    r.repo.commit_all("m9");
    r.model(&["register", "churn"]).ok();
    let run = r.model(&["promote", "churn", "latest", "--dry-run"]).ok();
    crate::common::pin_output(&run.stderr);
    assert!(!r.repo.git(&["tag", "--list"]).contains("churn#dev#3"));
}

/// With no policy anywhere, a promotion says any stage is allowed; with
/// no `--to` and no stages to take the first of, it asks for one.
#[test]
fn without_a_policy_any_stage_is_allowed_and_said() {
    let r = declared();
    r.model(&["register", "churn"]).ok();
    let run = r
        .model(&["promote", "churn", "v0.0.1", "--to", "canary"])
        .ok();
    crate::common::pin_output(&run.stderr);
    r.model(&["promote", "churn", "v0.0.1"]).user_error();
}

#[test]
fn stages_must_be_allowed_by_gto_and_the_policy() {
    let r = with_policy();
    r.model(&["register", "churn"]).ok();
    let run = r
        .model(&["promote", "churn", "v0.0.1", "--to", "qa"])
        .user_error();
    assert!(
        run.stderr.contains("stage `qa` is not allowed by .gto"),
        "{}",
        run.stderr
    );
    // A policy stage .gto does not know: both lists named.
    r.repo.write(".gto", "stages: [dev, prod]\n");
    r.repo.commit_all("narrow .gto");
    let run = r
        .model(&["promote", "churn", "v0.0.1", "--to", "dev"])
        .user_error();
    assert!(
        run.stderr
            .contains("(dev, staging, prod) are not all among .gto's stages (dev, prod)"),
        "{}",
        run.stderr
    );
}

#[test]
fn which_answers_for_any_moment() {
    let r = declared();
    r.model(&["register", "churn"]).ok(); // 00:01
    r.train("m2", 0.85);
    r.model(&["register", "churn"]).ok(); // 00:02
    r.model(&["promote", "churn", "v0.0.1", "--to", "prod"])
        .ok(); // 00:03
    r.model(&["promote", "churn", "v0.0.2", "--to", "prod"])
        .ok(); // 00:04
    r.model(&["unassign", "churn", "v0.0.2", "--stage", "prod"])
        .ok(); // 00:05
    r.model(&["promote", "churn", "v0.0.2", "--to", "prod"])
        .ok(); // 00:06
    let at = |t: &str| {
        let run = r
            .repo
            .mlci(&["model", "which", "churn", "prod", "--at", t, "--json"]);
        let j: Json = serde_json::from_str(&run.stdout).unwrap();
        (run.code, j["version"].as_str().map(str::to_string))
    };
    assert_eq!(at("2030-01-01T00:02:30Z"), (1, None));
    assert_eq!(at("2030-01-01T00:03:30Z"), (0, Some("v0.0.1".into())));
    assert_eq!(at("2030-01-01T00:04:30Z"), (0, Some("v0.0.2".into())));
    assert_eq!(at("2030-01-01T00:05:30Z"), (0, Some("v0.0.1".into())));
    assert_eq!(at("2030-01-01T00:06:30Z"), (0, Some("v0.0.2".into())));
    assert_eq!(
        at("churn#prod#2"),
        (0, Some("v0.0.2".into())),
        "a tag's own time"
    );
    assert_eq!(at("2029-12-31"), (1, None), "a date is the end of that day");
    r.repo
        .mlci(&["model", "which", "churn", "prod", "--at", "no-such-rev"])
        .user_error();
}

#[test]
fn get_writes_the_artifact_verified_from_cache_and_remote() {
    let r = Reg::new();
    r.repo.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n  imgs:\n    path: data/imgs\n",
    );
    r.repo.write("model.pkl", "weights v1");
    r.repo.write("data/imgs/a.txt", "a");
    r.repo.write("data/imgs/sub/b.txt", "b");
    r.repo.mlci(&["add", "model.pkl", "data/imgs"]).ok();
    r.repo.commit_all("v1");
    r.model(&["register", "churn"]).ok();
    r.model(&["register", "imgs"]).ok();
    r.repo.write("model.pkl", "weights v2");
    r.repo.mlci(&["add", "model.pkl"]).ok();
    r.repo.commit_all("v2");
    r.model(&["register", "churn"]).ok();
    r.model(&["promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    // From the cache: the stage's version, not the workspace's.
    r.repo
        .mlci(&["model", "get", "churn#prod", "-o", "out/prod.pkl"])
        .ok();
    assert_eq!(r.repo.read("out/prod.pkl"), "weights v1");
    r.repo
        .mlci(&["model", "get", "churn", "-o", "out/latest.pkl"])
        .ok();
    assert_eq!(r.repo.read("out/latest.pkl"), "weights v2");
    r.repo
        .mlci(&["model", "get", "churn@v0.0.1", "-o", "out/latest.pkl"])
        .user_error();
    // From a real S3 server, in a fresh clone with an empty cache.
    let prefix = r.repo.add_remote("store", Server::S3);
    r.repo.commit_all("remote");
    r.repo.mlci(&["push"]).ok();
    let c = r.repo.clone_to(&crate::common::unique("clone"));
    c.mlci(&["model", "get", "imgs", "-o", "imgs"]).ok();
    assert_eq!(c.read("imgs/sub/b.txt"), "b");
    assert_eq!(c.read("imgs/a.txt"), "a");
    // A corrupt object on the remote is refused and named; nothing written.
    let hex = crate::common::sha256_file(&r.repo.path("model.pkl"));
    let key = format!("sha256/{}/{}", &hex[..2], &hex[2..]);
    crate::remote::rclone(
        &[
            "rcat",
            &crate::remote::rclone_s3(&format!("{prefix}/{key}")),
        ],
        Some(b"tampered"),
    );
    let run = c
        .mlci(&["model", "get", "churn", "-o", "model.pkl"])
        .user_error();
    assert!(
        run.stderr.contains(&format!("object `{key}` is corrupt")),
        "{}",
        run.stderr
    );
    assert!(!c.path("model.pkl").exists());
    c.assert_cache_sound();
}

#[test]
fn bad_names_versions_declarations_and_tags_are_refused_with_a_hint() {
    let r = declared();
    for (args, says) in [
        (
            vec!["register", "Churn_Model"],
            "`Churn_Model` is not a valid artifact name",
        ),
        (
            vec!["register", "churn", "--version", "1.0.0"],
            "`1.0.0` is not a SemVer version",
        ),
        (
            vec!["register", "churn", "--version", "v1.2"],
            "`v1.2` is not a SemVer version",
        ),
        (
            vec!["register", "missing"],
            "artifact `missing` is not declared at",
        ),
        (
            vec!["register", "churn", "no-such-rev"],
            "revision `no-such-rev`",
        ),
        (
            vec!["promote", "churn", "v0.0.1", "--to", "prod"],
            "artifact `churn` has no registry tags",
        ),
        (vec!["get", "churn@1.0"], "`1.0` is not a SemVer version"),
        (
            vec!["show", "nothing-here"],
            "artifact `nothing-here` has no registry tags",
        ),
    ] {
        let run = r.model(&args).user_error();
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    // Declarations are untrusted: a bad name, a path out of the workspace.
    r.repo
        .write("dvc.yaml", "artifacts:\n  Bad_Name:\n    path: model.pkl\n");
    r.repo.commit_all("bad name");
    let run = r.model(&["register", "churn"]).user_error();
    assert!(
        run.stderr
            .contains("dvc.yaml:2: artifact name `Bad_Name` breaks DVC's rule"),
        "{}",
        run.stderr
    );
    r.repo.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: ../../etc/passwd\n",
    );
    r.repo.commit_all("escape");
    let run = r.model(&["register", "churn"]).user_error();
    assert!(
        run.stderr.contains("leaves its directory"),
        "{}",
        run.stderr
    );
    // Declared, but the path is not in that commit.
    r.repo
        .write("dvc.yaml", "artifacts:\n  churn:\n    path: nowhere.pkl\n");
    r.repo.commit_all("no file");
    let run = r.model(&["register", "churn"]).user_error();
    assert!(
        run.stderr
            .contains("declares path `nowhere.pkl`, which does not exist at"),
        "{}",
        run.stderr
    );
    // A tag written by hand on a commit without the artifact: get names it.
    r.repo
        .git(&["tag", "-a", "-m", "by hand", "churn@v9.0.0", "HEAD"]);
    let run = r
        .repo
        .mlci(&["model", "get", "churn@v9.0.0", "-o", "fresh.pkl"])
        .user_error();
    assert!(
        run.stderr
            .contains("declares path `nowhere.pkl`, which does not exist at"),
        "{}",
        run.stderr
    );
    assert!(!r.repo.exists("fresh.pkl"));
    // Tags that are not the registry's are ignored.
    r.repo.git(&["tag", "-a", "-m", "release", "v1.0.0"]);
    r.repo.git(&["tag", "release-2030"]);
    let list = r.json(&["list", "--json"]);
    assert_eq!(list["artifacts"].as_array().unwrap().len(), 1, "{list}");
}

/// `--push` against a git smart-HTTP server that demands a token: the
/// token reaches git only through the one-shot credential helper (never
/// the URL, `.git/config` or any output), and without one the push fails
/// with a hint.
#[test]
fn push_authenticates_through_a_one_shot_credential_helper() {
    const TOKEN: &str = "ghs_pushTestToken0123456789";
    let r = declared();
    let served = tempfile::tempdir().unwrap();
    let bare = served.path().join("models.git");
    crate::common::git_in(served.path(), &["init", "-q", "--bare", "models.git"]);
    let log = served.path().join("requests.log");
    let server = crate::common::PyServer::start(
        include_str!("../servers/git_http.py"),
        &[
            served.path().to_str().unwrap(),
            TOKEN,
            log.to_str().unwrap(),
        ],
    );
    r.repo.git(&[
        "remote",
        "add",
        "origin",
        &format!("{}/models.git", server.url()),
    ]);
    // No token: git cannot authenticate, and says so.
    let run = r.model(&["register", "churn", "--push"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("error: git push to `origin` failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: give a token that may push"),
        "{}",
        run.stderr
    );
    // The tag stays local, so the retry is a plain push of it.
    let run = r.repo.mlci_env(
        &["model", "register", "models/eu:churn", "--push"],
        &[("GITHUB_TOKEN", TOKEN)],
    );
    let run = run.ok();
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    let remote_tags = crate::common::git_bare(&bare, &["tag", "--list"]);
    assert!(
        remote_tags.contains("models/eu=churn@v0.0.1"),
        "{remote_tags}"
    );
    assert!(
        !remote_tags.lines().any(|l| l == "churn@v0.0.1"),
        "the refused push sent nothing: {remote_tags}"
    );
    let config = std::fs::read_to_string(r.repo.path(".git/config")).unwrap();
    assert!(
        !config.contains(TOKEN) && !config.contains("credential"),
        "{config}"
    );
    let requests = std::fs::read_to_string(&log).unwrap();
    assert!(requests.contains("\"authed\": true"), "{requests}");
    assert!(!requests.contains(TOKEN));
}

/// GTO's state for every sequence of tags: 200 seeded random histories of
/// register / assign / unassign / deregister / deprecate, each write made
/// by GTO or by mlci (a third of them in the same second as the one
/// before), with version tags made by hand now and then; after every write
/// `gto show` (all and per artifact) and `gto history` equal mlci's
/// `--json`, GTO's refusals to read are mlci's, and no write of mlci's
/// makes a registry GTO refuses (tests/oracles/registry_oracle.py).
#[test]
fn random_histories_read_as_gto_reads_them() {
    let work = tempfile::tempdir().unwrap();
    // Two shards of 100 sequences, side by side.
    let shards: Vec<Json> = std::thread::scope(|s| {
        let handles: Vec<_> = [0, 100]
            .into_iter()
            .map(|first| {
                let dir = work.path().join(format!("shard{first}"));
                std::fs::create_dir_all(&dir).unwrap();
                s.spawn(move || {
                    let out = crate::drift::run_oracle(
                        "registry_oracle.py",
                        [
                            crate::common::BIN.to_string(),
                            first.to_string(),
                            "100".into(),
                            "10".into(),
                            dir.display().to_string(),
                        ],
                    );
                    serde_json::from_slice::<Json>(&out).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sum = |path: &[&str]| -> u64 {
        shards
            .iter()
            .map(|r| path.iter().fold(r, |v, k| &v[*k]).as_u64().unwrap())
            .sum()
    };
    for r in &shards {
        assert_eq!(r["mismatches"], serde_json::json!([]), "{r:#}");
    }
    assert_eq!(sum(&["sequences"]), 200);
    // The histories reach what the test is for: ties, both writers, both
    // tools' refusals, and registries GTO refuses to read.
    assert!(sum(&["ties"]) >= 200, "{shards:?}");
    assert!(sum(&["writes", "gto"]) >= 300, "{shards:?}");
    assert!(sum(&["writes", "mlci"]) >= 300, "{shards:?}");
    assert!(sum(&["refused", "mlci"]) >= 50, "{shards:?}");
    assert!(sum(&["unreadable"]) >= 10, "{shards:?}");
}

/// `model get` writes what a deploy needs: files and directories with the
/// modes any checkout gives (0666 and 0777 less the umask, never
/// tempfile's 0600), into the repository's work tree only where `-o`
/// says, and a directory artifact into a directory.
#[test]
fn get_writes_files_a_deploy_can_read_where_it_is_told() {
    use std::os::unix::fs::PermissionsExt;
    let r = Reg::new();
    r.repo.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n  imgs:\n    path: data/imgs\n  conf:\n    path: conf\n",
    );
    r.repo.write("model.pkl", "weights v1");
    r.repo.write("data/imgs/a.txt", "a");
    r.repo.write("data/imgs/sub/b.txt", "b");
    r.repo.write("conf/serve.yaml", "port: 8080\n");
    r.repo.mlci(&["add", "model.pkl", "data/imgs"]).ok();
    r.repo.commit_all("v1");
    for a in ["churn", "imgs", "conf"] {
        r.model(&["register", a]).ok();
    }
    // Without -o, nothing lands in the work tree (the workspace's own
    // model.pkl stays as it is).
    r.repo.write("model.pkl", "work in progress");
    r.repo.mlci(&["model", "get", "churn"]).user_error();
    assert_eq!(r.repo.read("model.pkl"), "work in progress");
    // With -o, under two umasks: the modes follow it.
    let deploy = tempfile::tempdir().unwrap();
    for (umask, file, dir) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
        let out = deploy.path().join(umask);
        for (spec, to) in [("churn", "model.pkl"), ("imgs", "imgs"), ("conf", "conf")] {
            let mut cmd = Command::new("sh");
            cmd.current_dir(&r.repo.root).args([
                "-c",
                &format!("umask {umask} && exec \"$0\" \"$@\""),
                crate::common::BIN,
                "model",
                "get",
                spec,
                "-o",
            ]);
            cmd.arg(out.join(to));
            hermetic(&mut cmd, &r.repo.root);
            Run::from(cmd.output().unwrap()).ok();
        }
        let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            [
                mode("model.pkl"),
                mode("imgs/a.txt"),
                mode("imgs/sub/b.txt"),
                mode("conf/serve.yaml")
            ],
            [file; 4],
            "umask {umask}"
        );
        assert_eq!(
            [mode("imgs"), mode("imgs/sub"), mode("conf")],
            [dir; 3],
            "umask {umask}"
        );
    }
    // A directory artifact goes into an existing directory, as with cp.
    std::fs::create_dir_all(deploy.path().join("into")).unwrap();
    r.repo
        .mlci(&[
            "model",
            "get",
            "imgs",
            "-o",
            &format!("{}/into", deploy.path().display()),
        ])
        .ok();
    assert_eq!(
        std::fs::read_to_string(deploy.path().join("into/imgs/sub/b.txt")).unwrap(),
        "b"
    );
    // An explicit -o onto the workspace's own path replaces it, on purpose.
    r.repo
        .mlci(&["model", "get", "churn", "-o", "model.pkl", "--force"])
        .ok();
    assert_eq!(r.repo.read("model.pkl"), "weights v1");
}

/// A two-version project: `model show` of one version gives its lineage
/// (the artifact's digest, the stage that made it, every upstream
/// dependency with the hash mlci.lock recorded at that commit, params and
/// metrics); `model lineage` names what changed (the raw data and a
/// param, not the code); `model provenance` is an in-toto Statement with
/// a SLSA provenance v1 predicate, and an in-toto link, that in-toto's own
/// libraries parse and validate (tests/oracles/provenance_check.py), with
/// the same digests.
#[test]
fn lineage_and_provenance_of_a_two_version_project() {
    let r = Reg::new();
    r.repo.write("data/raw.csv", "a,b\n");
    r.repo.write(
        "src/train.sh",
        "cat data/clean.csv params.yaml > model.pkl\necho '{\"auc\": 0.9}' > metrics.json\n",
    );
    r.repo
        .write("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n");
    r.repo.write(
        "dvc.yaml",
        "stages:\n  prepare:\n    cmd: cp data/raw.csv data/clean.csv\n    deps: [data/raw.csv]\n    outs: [data/clean.csv]\n  train:\n    cmd: sh src/train.sh\n    deps: [data/clean.csv, src/train.sh]\n    params: [train.lr, train.epochs]\n    outs: [model.pkl]\n    metrics:\n      - metrics.json: {cache: false}\nartifacts:\n  churn:\n    path: model.pkl\n    type: model\n",
    );
    r.repo.mlci(&["add", "data/raw.csv"]).ok();
    r.repo.mlci(&["repro"]).ok();
    r.repo.commit_all("v1");
    r.model(&["register", "churn"]).ok();
    r.repo
        .write("params.yaml", "train:\n  lr: 0.05\n  epochs: 3\n");
    r.repo.write("data/raw.csv", "a,b\nc,d\n");
    r.repo.mlci(&["add", "data/raw.csv"]).ok();
    r.repo.mlci(&["repro"]).ok();
    r.repo.commit_all("v2");
    r.model(&["register", "churn"]).ok();
    r.model(&["promote", "churn", "v0.0.2", "--to", "prod"])
        .ok();

    crate::common::pin_output(&r.model(&["show", "churn#prod"]).ok().stdout);
    crate::common::pin_output(&r.model(&["lineage", "churn#prod"]).ok().stdout);
    // The JSON against mlci.lock at the version's commit and the bytes.
    let l = r.json(&["show", "churn@v0.0.2", "--json"]);
    let lock = r.repo.git(&["show", "churn@v0.0.2:mlci.lock"]);
    for d in l["deps"].as_array().unwrap() {
        let sha = d["sha256"].as_str().unwrap();
        assert!(lock.contains(sha), "{d} not in:\n{lock}");
    }
    let kinds: Vec<(&str, &str)> = l["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("data/clean.csv", "data"),
            ("data/raw.csv", "data"),
            ("src/train.sh", "code")
        ]
    );
    let model_sha = crate::common::sha256_file(&r.repo.path("model.pkl"));
    assert_eq!(l["artifact"]["digest"]["sha256"], model_sha.as_str());
    assert_eq!(l["stage"], "train");
    assert_eq!(l["stages_held"], serde_json::json!(["prod"]));
    assert_eq!(l["params"]["params.yaml"]["train.lr"], 0.05);
    let changes = r.json(&["lineage", "churn@v0.0.2", "churn@v0.0.1", "--json"])["changes"].clone();
    let changed: Vec<&str> = changes["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["data/clean.csv", "data/raw.csv"]);
    assert_eq!(changes["params"][0]["key"], "train.lr");
    // Provenance, parsed by in-toto.
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("statement.json");
    let k = dir.path().join("link.json");
    std::fs::write(&s, r.model(&["provenance", "churn#prod"]).ok().stdout).unwrap();
    std::fs::write(
        &k,
        r.model(&["provenance", "churn#prod", "--format", "link"])
            .ok()
            .stdout,
    )
    .unwrap();
    let parsed: Json =
        serde_json::from_slice(&crate::drift::run_oracle("provenance_check.py", [&s, &k])).unwrap();
    assert_eq!(
        parsed["subject"],
        serde_json::json!([["model.pkl", {"sha256": model_sha}]])
    );
    let deps: Vec<(String, String)> = parsed["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|d| {
            (
                d[0].as_str().unwrap().to_string(),
                d[1]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let from_lineage: Vec<(String, String)> = l["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(deps, from_lineage);
    assert_eq!(parsed["link"]["name"], "train");
    assert_eq!(
        parsed["link"]["products"]["model.pkl"]["sha256"],
        model_sha.as_str()
    );
    assert_eq!(
        parsed["link"]["materials"].as_object().unwrap().len(),
        from_lineage.len()
    );
}
