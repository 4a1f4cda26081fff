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

/// An S3 endpoint that lies about every object: a listing of `runs/`
/// names one run record, and every object (record or content) is
/// announced and streamed as 1.5 GB. It counts the bytes it managed to
/// send into the file named first.
const LYING_S3: &str = r#"
import http.server, sys, threading
sent_file, portfile = sys.argv[1], sys.argv[2]
lock = threading.Lock(); state = {"sent": 0}
RECORD = "runs/ab/" + "c" * 62
HUGE = 1_500_000_000
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def head(self, code, length, ctype="application/octet-stream"):
        self.send_response(code); self.send_header("Content-Type", ctype)
        self.send_header("ETag", '"e"'); self.send_header("Content-Length", str(length))
        self.send_header("Last-Modified", "Sun, 06 Dec 2026 00:00:00 GMT")
        self.end_headers()
    def do_HEAD(self):
        self.head(200, HUGE)
    def do_GET(self):
        if "list-type" in self.path:
            keys = f"<Contents><Key>p/{RECORD}</Key><LastModified>2026-12-06T00:00:00.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>{HUGE}</Size></Contents>" if "runs" in self.path else ""
            body = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bucket</Name>'
                    f'{keys}<IsTruncated>false</IsTruncated></ListBucketResult>').encode()
            self.head(200, len(body), "application/xml"); self.wfile.write(body); return
        self.head(200, HUGE)
        chunk = b"{" * (1 << 20)
        try:
            for _ in range(HUGE // len(chunk)):
                self.wfile.write(chunk)
                with lock:
                    state["sent"] += len(chunk)
                    open(sent_file, "w").write(str(state["sent"]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H); s.daemon_threads = True
open(portfile, "w").write(str(s.server_address[1])); s.serve_forever()
"#;

/// Memory follows what the pointer or record says, never what a server
/// claims or sends: a 6-byte object and a run record served as 1.5 GB
/// are refused after at most a few MiB have crossed the wire.
#[test]
fn a_remote_that_lies_about_sizes_is_read_only_up_to_the_expected_size() {
    let sent = tempfile::NamedTempFile::new().unwrap();
    let server = crate::common::PyServer::start(LYING_S3, &[sent.path().to_str().unwrap()]);
    let with_remote = || {
        let repo = TestRepo::new();
        repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/p"])
            .ok();
        for (k, v) in [
            ("endpoint", server.url()),
            ("region", "us-east-1".into()),
            ("allow_anonymous", "true".into()),
        ] {
            repo.mlci(&["remote", "modify", "store", k, &v]).ok();
        }
        repo
    };
    let sent_so_far = || -> u64 {
        std::fs::read_to_string(sent.path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    // An object its pointer says is 6 bytes.
    let repo = with_remote();
    repo.write("tiny.txt", "hello\n");
    repo.mlci(&["add", "tiny.txt"]).ok();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).unwrap();
    std::fs::remove_file(repo.path("tiny.txt")).unwrap();
    snapshot!(repo, repo.mlci(&["pull", "--no-run-cache"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: remote `store`: `sha256/58/91b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03` holds more than the 6 bytes expected of it; it was not used
        hint: the size comes from the pointer, manifest or record that names the key (a record is at most 1 MiB): the copy on the remote is damaged, or the server is not what it seems; push the object again from a cache that has it
    ");
    assert!(!repo.exists("tiny.txt"));
    assert!(
        sent_so_far() < 64 << 20,
        "the server got {} bytes out",
        sent_so_far()
    );
    // A run record (at most 1 MiB): refused, not kept, the fetch goes on.
    let repo = with_remote();
    snapshot!(repo, repo.mlci(&["fetch"]), @r"
        exit: 0
        --- stdout
        --- stderr
        warning: ignored 1 malformed run record(s) on remote `store` (a path outside the stage's outs, not a record, or over 1 MiB): runs/ab/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
        fetched 0 object(s) (0 B) from `store`
    ");
    assert!(
        sent_so_far() < 128 << 20,
        "the server got {} bytes out",
        sent_so_far()
    );
    assert!(
        !repo.path(".mlci/cache/runs").exists()
            || crate::common::count_files(&repo.path(".mlci/cache/runs")) == 0,
        "no record was kept"
    );
}

/// Every reader of untrusted input refuses what is past its bound, naming
/// the file, the bound and the setting that moves it: nesting and size of
/// a pipeline file, a metrics file, a table's columns and rows, a log's
/// labels.
#[test]
fn every_reader_refuses_input_past_its_bound_naming_file_bound_and_setting() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        format!("stages: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    snapshot!(repo, repo.mlci(&["status"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: mlci.yaml:1: collections nested deeper than 64 levels
        hint: stage fields follow dvc.yaml's schema (cmd, deps, outs, params, metrics, plots, frozen, always_changed, wdir, ...); see the README
    ");
    repo.write(
        "mlci.yaml",
        format!("stages:\n  s:\n    cmd: echo {}\n", "x".repeat(2_000)),
    );
    snapshot!(repo, repo.mlci_env(&["status"], &[("MLCI_MAX_YAML_BYTES", "1000")]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: mlci.yaml: 2,028 bytes is over the limit of 1,000 bytes
        hint: a pipeline or params file this large is likely generated by mistake; if it is meant to be, raise the limit with MLCI_MAX_YAML_BYTES=N
    ");
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\n    metrics: [{m.json: {cache: false}}]\n",
    );
    repo.write(
        "m.json",
        format!("{{\"acc\": 0.5, \"pad\": \"{}\"}}\n", "x".repeat(200)),
    );
    snapshot!(repo, repo.mlci_env(&["metrics", "show"], &[("MLCI_MAX_METRICS_BYTES", "100")]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: m.json at workspace: 224 bytes is over the limit of 100 bytes
        hint: mlci bounds what it reads from files a pull request or a remote controls; if this input is meant to be this large, raise the limit with MLCI_MAX_METRICS_BYTES=N
    ");
    repo.write("wide.csv", "a,b,c,d\n1,2,3,4\n");
    snapshot!(repo, repo.mlci_env(&["drift", "wide.csv", "wide.csv"], &[("MLCI_MAX_COLUMNS", "3")]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: wide.csv: 4 columns is over the limit of 3 columns
        hint: mlci bounds what it reads from files a pull request or a remote controls; if this input is meant to be this large, raise the limit with MLCI_MAX_COLUMNS=N
    ");
    repo.write(
        "rows.jsonl",
        format!("{{\"a\": 1}}\n{{\"a\": \"{}\"}}\n", "y".repeat(100)),
    );
    snapshot!(repo, repo.mlci_env(&["drift", "rows.jsonl", "rows.jsonl"], &[("MLCI_MAX_ROW_BYTES", "64")]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: rows.jsonl:2: the line is over the limit of 64 bytes
        hint: mlci bounds what it reads from files a pull request or a remote controls; if this input is meant to be this large, raise the limit with MLCI_MAX_ROW_BYTES=N
    ");
    repo.write(
        "log.csv",
        "timestamp,prediction,target\n2026-01-01T00:00:00Z,cat,cat\n2026-01-01T01:00:00Z,dog,cat\n2026-01-01T02:00:00Z,emu,emu\n",
    );
    snapshot!(repo, repo.mlci_env(&["monitor", "log.csv"], &[("MLCI_MAX_LABELS", "2")]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: log.csv: the count of distinct labels is over the limit of 2 distinct labels
        hint: mlci bounds what it reads from files a pull request or a remote controls; if this input is meant to be this large, raise the limit with MLCI_MAX_LABELS=N
    ");
}

/// The least of three runs of `mlci args` in `repo`, in seconds.
fn fastest(repo: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> f64 {
    (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            repo.mlci_env(args, env).ok();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Four times the input costs about four times the work: `make(n)` writes
/// an input of size `n`, then `args` runs on it. A quadratic reader takes
/// sixteen times as long; the bound (10×, plus 100 ms for start-up) leaves
/// room for a machine busy with the rest of the suite, where a doubling
/// measured 2× alone and up to 3.7× under load.
fn grows_linearly(what: &str, repo: &TestRepo, n: usize, make: impl Fn(usize), args: &[&str]) {
    let env = [("MLCI_MAX_STAGES", "1000000")];
    make(n);
    let one = fastest(repo, args, &env);
    make(4 * n);
    let four = fastest(repo, args, &env);
    eprintln!("{what}: {n} in {one:.3} s, {} in {four:.3} s", 4 * n);
    assert!(
        four < 10.0 * one + 0.1,
        "{what}: {n} took {one:.3} s, {} took {four:.3} s (more than linear)",
        4 * n
    );
}

/// Each reader is linear in its input: JSON Lines and CSV in columns,
/// Parquet in columns, a pipeline in generated stages, `monitor` in
/// distinct labels. (Time compared within one test, least of three runs,
/// a ratio that tells linear from quadratic; the benchmark measures
/// speed.)
#[test]
fn every_reader_is_linear_in_its_input() {
    let repo = TestRepo::new();
    grows_linearly(
        "JSON Lines, a new key per line",
        &repo,
        10_000,
        |n| {
            let mut s = String::new();
            for i in 0..n {
                s.push_str(&format!("{{\"c{i}\": {i}}}\n"));
            }
            repo.write("w.jsonl", s);
        },
        &["drift", "w.jsonl", "w.jsonl", "--json"],
    );
    grows_linearly(
        "CSV, wide",
        &repo,
        10_000,
        |n| {
            let header: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            let row: Vec<String> = (0..n).map(|i| (i % 7).to_string()).collect();
            repo.write(
                "w.csv",
                format!(
                    "{}\n{}\n{}\n",
                    header.join(","),
                    row.join(","),
                    row.join(",")
                ),
            );
        },
        &["drift", "w.csv", "w.csv", "--json"],
    );
    let python = crate::common::env_from_test_script("MLCI_TEST_ORACLE_PYTHON");
    grows_linearly(
        "Parquet, wide",
        &repo,
        1_000,
        |n| {
            let out = std::process::Command::new(&python)
                .args([
                    "-c",
                    "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
                     n = int(sys.argv[1])\n\
                     pq.write_table(pa.table({f'c{i}': pa.array([1.0, 2.0, 3.0]) for i in range(n)}), sys.argv[2])",
                    &n.to_string(),
                    repo.path("w.parquet").to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        },
        &["drift", "w.parquet", "w.parquet", "--json"],
    );
    grows_linearly(
        "a foreach's stages",
        &repo,
        2_000,
        |n| {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            repo.write(
                "mlci.yaml",
                format!(
                    "stages:\n  s:\n    foreach: [{}]\n    do:\n      cmd: echo ${{item}}\n      deps:\n        - in/${{item}}\n      outs:\n        - out/${{item}}\n",
                    items.join(", ")
                ),
            );
        },
        &["dag"],
    );
    grows_linearly(
        "monitor, distinct labels",
        &repo,
        10_000,
        |n| {
            let mut s = String::from("timestamp,prediction,target\n");
            for i in 0..n {
                s.push_str(&format!("2026-01-01T00:00:00Z,l{i},l{}\n", i / 2 * 2));
            }
            repo.write("log.csv", s);
        },
        &["monitor", "log.csv", "--json"],
    );
}
