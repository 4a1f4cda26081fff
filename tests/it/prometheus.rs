//! `mlci metrics export` against the real Prometheus tools (Debian's
//! `prometheus` and `prometheus-pushgateway`, provided by scripts/test.sh):
//! `promtool check metrics` on both formats; a push to a real Pushgateway
//! on 127.0.0.1, scraped by a real Prometheus started with the shipped
//! scrape configuration, read back through its query API; the shipped
//! Grafana dashboard's structure; a gateway that refuses.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{env_from_test_script, TestRepo};

const FAMILIES: [&str; 8] = [
    "mlci_metric",
    "mlci_param",
    "mlci_gate_passed",
    "mlci_drift_share",
    "mlci_drift_statistic",
    "mlci_model_info",
    "mlci_window_metric",
    "mlci_window_end_seconds",
];

/// A repository with something for every family: metrics, params, a gate,
/// a drift rule, a registry stage and a predictions log.
fn project() -> TestRepo {
    let r = TestRepo::new();
    r.write("params.yaml", "lr: 0.1\n");
    r.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: echo ok\n    params: [lr]\nmetrics:\n  - metrics.json\ngates:\n  - metric: auc\n    min: 0.5\ndrift:\n  rules:\n    - dataset: data.csv\n      reference: main\nartifacts:\n  churn:\n    path: metrics.json\n",
    );
    r.write(
        "metrics.json",
        "{\"auc\": 0.91, \"latency_ms\": 12, \"weird \\\"key\\\"\": 3}\n",
    );
    r.write("data.csv", "a,b\n1,x\n2,y\n3,x\n4,y\n5,x\n6,z\n");
    r.write(
        "log.csv",
        "timestamp,prediction,target\n2026-01-01T10:00:00Z,1,1\n2026-01-01T11:00:00Z,0,1\n2026-01-02T10:00:00Z,1,1\n",
    );
    r.commit_all("model");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    r
}

fn export(r: &TestRepo, args: &[&str]) -> String {
    let mut all = vec!["metrics", "export", "--monitor-log", "log.csv"];
    all.extend_from_slice(args);
    r.mlci(&all).ok().stdout
}

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new(env_from_test_script("MLCI_TEST_PROMTOOL"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_export_passes_promtool() {
    let r = project();
    for format in ["prometheus", "openmetrics"] {
        let text = export(&r, &["--format", format]);
        for f in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {f} gauge\n")),
                "{format}: no {f} in:\n{text}"
            );
        }
        let (ok, log) = promtool(&text);
        assert!(ok, "promtool on {format}: {log}\n{text}");
        assert_eq!(
            text.trim_end().ends_with("# EOF"),
            format == "openmetrics",
            "{text}"
        );
    }
    let text = export(&r, &[]);
    assert!(text.contains("mlci_metric{repository=\"repo\",revision=\"workspace\",file=\"metrics.json\",key=\"latency_ms\"} 12"), "{text}");
    assert!(
        text.contains("key=\"weird \\\"key\\\"\""),
        "escaped: {text}"
    );
    assert!(text.contains("mlci_model_info{repository=\"repo\",revision=\"workspace\",model=\"churn\",version=\"v0.0.1\",stage=\"prod\"} 1"), "{text}");
    // Live: the latest complete window (2 January) per metric, and when
    // it ended (2026-01-03T00:00:00Z), one series per metric over time.
    assert!(text.contains("mlci_window_metric{repository=\"repo\",revision=\"workspace\",log=\"log.csv\",metric=\"accuracy\"} 1\n"), "{text}");
    assert!(text.contains("mlci_window_end_seconds{repository=\"repo\",revision=\"workspace\",log=\"log.csv\",metric=\"accuracy\"} 1767398400\n"), "{text}");
    // At a revision: its own short id.
    let at_head = export(&r, &["--rev", "HEAD"]);
    assert!(!at_head.contains("revision=\"workspace\""), "{at_head}");
}

/// A server process stopped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(url: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/grafana")
}

#[test]
fn a_push_is_scraped_by_prometheus_with_the_shipped_config() {
    let r = project();
    let dir = tempfile::tempdir().unwrap();
    let gw_port = free_port();
    let _gateway = Server(
        Command::new(env_from_test_script("MLCI_TEST_PUSHGATEWAY"))
            .arg(format!("--web.listen-address=127.0.0.1:{gw_port}"))
            .arg(format!(
                "--persistence.file={}",
                dir.path().join("gw.data").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Pushgateway"),
    );
    wait_for(gw_port, "the Pushgateway");
    let url = format!("http://127.0.0.1:{gw_port}");
    let run = r
        .mlci(&[
            "metrics",
            "export",
            "--push",
            &url,
            "--grouping",
            "branch=feature/x",
        ])
        .ok();
    assert!(
        run.stderr.contains("branch@base64/ZmVhdHVyZS94"),
        "{}",
        run.stderr
    );
    let on_gateway = http_get(&format!("{url}/metrics"));
    assert!(on_gateway.contains("branch=\"feature/x\""), "{on_gateway}");
    // The shipped scrape configuration, pointed at this gateway, every second.
    let config = std::fs::read_to_string(templates().join("prometheus.yml"))
        .unwrap()
        .replace("pushgateway:9091", &format!("127.0.0.1:{gw_port}"))
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    assert!(config.contains("honor_labels: true"));
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let prom_port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Server(
        Command::new(env_from_test_script("MLCI_TEST_PROMETHEUS"))
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .expect("start Prometheus"),
    );
    wait_for(prom_port, "Prometheus");
    let query = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=mlci_metric%7Bkey%3D%22latency_ms%22%7D"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let result = loop {
        let answer: Value = serde_json::from_str(&http_get(&query)).unwrap_or(Value::Null);
        if let Some(first) = answer["data"]["result"].as_array().and_then(|a| a.first()) {
            break first.clone();
        }
        if Instant::now() > deadline {
            let mut text = String::new();
            let _ = std::fs::File::open(dir.path().join("prometheus.log"))
                .and_then(|mut f| f.read_to_string(&mut text));
            let _ = log.sync_all();
            panic!("Prometheus never had the pushed value: {answer}\n{text}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let m = &result["metric"];
    assert_eq!(result["value"][1], "12", "{result}");
    assert_eq!(
        (&m["file"], &m["key"], &m["repository"]),
        (
            &Value::from("metrics.json"),
            &Value::from("latency_ms"),
            &Value::from("repo")
        ),
        "{result}"
    );
    assert_eq!(
        (&m["job"], &m["branch"]),
        (&Value::from("mlci"), &Value::from("feature/x")),
        "the pushed labels, honoured: {result}"
    );
}

#[test]
fn a_refusing_or_missing_gateway_is_exit_2_naming_the_url() {
    let r = project();
    let gw_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _gateway = Server(
        Command::new(env_from_test_script("MLCI_TEST_PUSHGATEWAY"))
            .arg(format!("--web.listen-address=127.0.0.1:{gw_port}"))
            .arg(format!(
                "--persistence.file={}",
                dir.path().join("gw.data").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(gw_port, "the Pushgateway");
    let url = format!("http://127.0.0.1:{gw_port}");
    let run = r
        .mlci(&["metrics", "export", "--push", &url, "--grouping", "__bad=1"])
        .user_error();
    assert!(
        run.stderr.contains("400 Bad Request: improper label name"),
        "the gateway's message: {}",
        run.stderr
    );
    let run = r
        .mlci(&["metrics", "export", "--push", "http://127.0.0.1:1"])
        .user_error();
    assert!(
        run.stderr
            .contains("pushing to http://127.0.0.1:1/metrics/job/mlci"),
        "{}",
        run.stderr
    );
    // Basic-auth credentials in the URL are sent, never printed.
    for url in [
        "http://ops:gw-Secret-0123@127.0.0.1:1",
        "http://gwtoken-Secret-0123@127.0.0.1:1",
    ] {
        let run = r.mlci(&["metrics", "export", "--push", url]).user_error();
        assert!(
            !run.stderr.contains("Secret-0123") && run.stderr.contains("pushing to http://"),
            "{}",
            run.stderr
        );
    }
    r.mlci(&["metrics", "export", "--grouping", "nonsense"])
        .user_error();
}

#[test]
fn the_grafana_dashboard_queries_exported_families_through_the_provisioned_datasource() {
    let t = templates();
    let dash: Value =
        serde_json::from_str(&std::fs::read_to_string(t.join("dashboard.json")).unwrap()).unwrap();
    let uid = dash["uid"].as_str().unwrap();
    assert!((8..=40).contains(&uid.len()), "uid {uid}");
    let ds: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(t.join("provisioning/datasources.yaml")).unwrap(),
    )
    .unwrap();
    let ds_uid = ds["datasources"][0]["uid"].as_str().unwrap();
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 5);
    let mut covered = std::collections::BTreeSet::new();
    for p in panels {
        assert_eq!(p["datasource"]["uid"], ds_uid, "panel {}", p["title"]);
        for target in p["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], ds_uid);
            let expr = target["expr"].as_str().unwrap();
            let names: Vec<&str> = FAMILIES
                .iter()
                .copied()
                .filter(|f| expr.contains(f))
                .collect();
            assert!(
                !names.is_empty(),
                "panel {} queries no exported family: {expr}",
                p["title"]
            );
            covered.extend(names);
        }
    }
    for f in [
        "mlci_metric",
        "mlci_drift_share",
        "mlci_gate_passed",
        "mlci_window_metric",
        "mlci_model_info",
    ] {
        assert!(covered.contains(f), "no panel shows {f}");
    }
    let dashboards: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(t.join("provisioning/dashboards.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(dashboards["providers"][0]["type"].as_str(), Some("file"));
}

/// `--history --format openmetrics` is a backfill: promtool turns it into
/// a TSDB block, and the block holds every window's value at its end time.
#[test]
fn the_window_history_backfills_with_promtool() {
    let r = project();
    let text = export(&r, &["--history", "--format", "openmetrics"]);
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    crate::common::pin_output(&text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.om");
    std::fs::write(&file, &text).unwrap();
    let promtool = env_from_test_script("MLCI_TEST_PROMTOOL");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The block as a Prometheus data directory opens it (an empty WAL).
    std::fs::create_dir_all(dir.path().join("data/wal")).unwrap();
    let dump = Command::new(&promtool)
        .args(["tsdb", "dump", "--min-time=0"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    // accuracy: 0.5 at the end of 1 January, 1 at the end of 2 January.
    let accuracy: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("mlci_window_metric") && l.contains("metric=\"accuracy\""))
        .collect();
    assert_eq!(accuracy.len(), 2, "{dump}");
    assert!(accuracy[0].ends_with("0.5 1767312000000"), "{dump}");
    assert!(accuracy[1].ends_with("1 1767398400000"), "{dump}");
}

/// The exported gate results are exactly `mlci gate`'s: the same rules,
/// each passed or failed as the gate judged it (metric gates, drift rules).
#[test]
fn the_exported_gate_results_are_mlci_gates() {
    let r = project();
    let gate = r.mlci(&["gate", "--json"]);
    assert!(gate.code == 0 || gate.code == 1, "{gate:?}");
    let v: serde_json::Value = serde_json::from_str(&gate.stdout).unwrap();
    let mut from_gate: Vec<(String, u8)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                format!(
                    "{}: {}",
                    g["metric"].as_str().unwrap(),
                    g["text"].as_str().unwrap()
                ),
                u8::from(g["passed"] == true),
            )
        })
        .collect();
    let text = export(&r, &[]);
    let mut exported: Vec<(String, u8)> = text
        .lines()
        .filter(|l| l.starts_with("mlci_gate_passed{"))
        .map(|l| {
            let rule = l.split("rule=\"").nth(1).unwrap();
            let rule = &rule[..rule.rfind("\"}").unwrap()];
            let value: u8 = l.rsplit(' ').next().unwrap().parse().unwrap();
            (rule.replace("\\\"", "\"").replace("\\\\", "\\"), value)
        })
        .collect();
    from_gate.sort();
    exported.sort();
    assert_eq!(exported, from_gate, "{text}");
    assert!(from_gate.len() >= 2, "{from_gate:?}");
}
