//! Hostile input: paths from data never leave the workspace or reach `.git/`
//! and `.mlci/`, text from data never forges Markdown, HTML, the sticky
//! marker or a workflow command, secrets never reach an output, and no
//! damaged object is pushed. Each test is an attack as a pull request or a
//! shared remote could mount it, and checks that mlci still did its job.

use std::path::Path;

use crate::common::{count_files, sha256_file, PyServer, Server, TestRepo};

const FSMONITOR: &str = "[core]\n\tfsmonitor = \"touch PWNED; false\"\n";

/// `mlci add`s `content` as `name`, then removes the pointer and the
/// workspace copy: the object stays in the cache for a forged pointer.
fn cached_object(repo: &TestRepo, name: &str, content: &str) -> (String, String) {
    repo.write(name, content);
    repo.mlci(&["add", name]).ok();
    let text = repo.read(&format!("{name}.mlci"));
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap()
    };
    let (hash, size) = (field("sha256:"), field("size:"));
    std::fs::remove_file(repo.path(name)).unwrap();
    std::fs::remove_file(repo.path(&format!("{name}.mlci"))).unwrap();
    let _ = std::fs::remove_file(repo.path(".gitignore"));
    (hash, size)
}

fn pointer(path: &str, hash: &str, size: &str) -> String {
    format!("outs:\n- path: {path}\n  hash: sha256\n  sha256: {hash}\n  size: {size}\n")
}

#[test]
fn pointers_naming_git_or_mlci_dirs_are_refused_even_with_force() {
    let repo = TestRepo::new();
    repo.write("f.txt", "hi\n");
    repo.commit_all("base");
    let config_before = repo.read(".git/config");
    let (h, sz) = cached_object(&repo, "evil", FSMONITOR);
    for (file, path) in [
        ("cfg.mlci", ".git/config"),
        ("up.mlci", ".GIT/config"),
        ("sub/nested.mlci", ".git/hooks/post-checkout"),
        ("mine.mlci", ".mlci/config.local.yaml"),
        ("dots.mlci", "../outside"),
    ] {
        repo.write(file, pointer(path, &h, &sz));
        for args in [&["checkout"][..], &["checkout", "--force"][..]] {
            let run = repo.mlci(args).user_error();
            assert!(run.stderr.contains(file), "{}", run.stderr);
        }
        std::fs::remove_file(repo.path(file)).unwrap();
    }
    assert_eq!(repo.read(".git/config"), config_before);
    assert!(!repo.exists(".git/hooks/post-checkout"));
    assert!(!repo.exists(".mlci/config.local.yaml"));
    // A good pointer beside them still works.
    repo.write("good.mlci", pointer("good", &h, &sz));
    repo.mlci(&["checkout"]).ok();
    assert_eq!(repo.read("good"), FSMONITOR);
}

#[test]
fn checkout_through_a_symlinked_directory_out_of_the_workspace_is_refused() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    let (h, sz) = cached_object(&repo, "x", "payload");
    std::os::unix::fs::symlink(outside.path(), repo.path("link")).unwrap();
    std::os::unix::fs::symlink(repo.path(".git"), repo.path("g")).unwrap();
    // Pointers inside the linked directory are never even found (the walk
    // does not follow links); pointers beside it name paths through it.
    repo.write("link/x.mlci", pointer("x", &h, &sz));
    repo.mlci(&["checkout", "--force"]).ok();
    std::fs::remove_file(repo.path("link/x.mlci")).unwrap();
    for (file, path) in [("out.mlci", "link/x"), ("g.mlci", "g/config")] {
        repo.write(file, pointer(path, &h, &sz));
        let run = repo.mlci(&["checkout", "--force"]).user_error();
        assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
        std::fs::remove_file(repo.path(file)).unwrap();
    }
    assert_eq!(count_files(outside.path()), 0);
    assert!(!repo.read(".git/config").contains("payload"));
}

#[test]
fn run_records_restore_only_the_stages_declared_outs() {
    let a = TestRepo::new();
    a.write("in.txt", "hi\n");
    a.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: cat in.txt > out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    a.add_remote("store", Server::Local);
    a.commit_all("pipeline");
    a.mlci(&["repro"]).ok();
    let (h, sz) = cached_object(&a, "evil", FSMONITOR);
    a.mlci(&["push"]).ok();
    let remote = a.root.parent().unwrap().join("remotes");
    let record = walk_files(&remote)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/runs/"))
        .expect("a run record on the remote");
    let b = a.clone_to("b");
    let config_before = b.read(".git/config");
    for path in [".git/config", "in.txt", "../escape"] {
        std::fs::write(
            &record,
            format!(r#"{{"outs":[{{"path":"{path}","sha256":"{h}","size":{sz}}}]}}"#),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(b.path(".mlci/cache/runs"));
        let pull = b.mlci(&["pull"]);
        assert_ne!(pull.code, 101, "{}", pull.stderr);
        b.mlci(&["repro", "--pull"]).ok();
        assert_eq!(b.read(".git/config"), config_before);
        assert_eq!(b.read("in.txt"), "hi\n");
        assert_eq!(b.read("out.txt"), "hi\n", "the stage ran instead");
        assert!(!b.root.parent().unwrap().join("escape").exists());
        std::fs::remove_file(b.path("out.txt")).unwrap();
    }
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// An S3 endpoint that lists one run-record key of the attacker's choice.
const LISTING_S3: &str = r#"
import http.server, sys, urllib.parse
key, portfile = sys.argv[1], sys.argv[2]
REC = b'{"outs":[]}'
class H(http.server.BaseHTTPRequestHandler):
    def send(self, code, body=b'', ctype='application/xml'):
        self.send_response(code); self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        if self.command != 'HEAD': self.wfile.write(body)
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if 'list-type' in q:
            prefix = q.get('prefix', [''])[0]
            c = ''
            if 'runs' in prefix:
                c = (f'<Contents><Key>{key}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>'
                     f'<ETag>"e"</ETag><Size>{len(REC)}</Size><StorageClass>STANDARD</StorageClass></Contents>')
            body = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f'<Name>bucket</Name><Prefix>{prefix}</Prefix><KeyCount>{1 if c else 0}</KeyCount><MaxKeys>1000</MaxKeys>'
                    f'<IsTruncated>false</IsTruncated>{c}</ListBucketResult>').encode()
            return self.send(200, body)
        return self.send(200, REC, 'application/octet-stream')
    def do_HEAD(self): self.send(404)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
open(portfile, 'w').write(str(s.server_address[1])); s.serve_forever()
"#;

#[test]
fn run_record_keys_a_remote_lists_never_become_paths() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("written-by-remote");
    let dots = "../".repeat(40);
    let rel = target.to_str().unwrap().trim_start_matches('/');
    for key in [
        format!("prefix/runs/ab/{dots}{rel}"),
        format!("prefix/runs/{dots}{rel}"),
        "prefix/runs/zz/not-hex".to_string(),
    ] {
        let server = PyServer::start(LISTING_S3, &[&key]);
        let repo = TestRepo::new();
        repo.git(&["commit", "-q", "--allow-empty", "-m", "e"]);
        repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/prefix"])
            .ok();
        for (k, v) in [
            ("endpoint", server.url()),
            ("region", "us-east-1".into()),
            ("allow_anonymous", "true".into()),
        ] {
            repo.mlci(&["remote", "modify", "store", k, &v]).ok();
        }
        repo.mlci(&["fetch"]).ok();
        assert!(!target.exists(), "fetch wrote outside the repository");
        assert!(
            !repo.path(".mlci/cache/runs").exists()
                || walk_files(&repo.path(".mlci/cache/runs")).is_empty()
        );
    }
}

#[test]
fn stage_outs_deps_and_params_through_symlinks_out_of_the_workspace() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("victim")).unwrap();
    std::fs::write(outside.path().join("victim/data.txt"), "precious").unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "lr: SECRETVALUE\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path("link")).unwrap();
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: \"true\"\n    outs: [link/victim]\n",
    );
    repo.commit_all("pipeline");
    let run = repo.mlci(&["repro"]).user_error();
    assert!(
        run.stderr.contains("`link/victim` leads outside"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("victim/data.txt")).unwrap(),
        "precious"
    );
    assert!(!outside.path().join(".gitignore").exists());
    // A params file read through the link: refused, its value never shown.
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo > o\n    params:\n    - link/secret.yaml: [lr]\n    outs: [o]\n",
    );
    for args in [&["status"][..], &["repro"][..], &["params", "diff"][..]] {
        let run = repo.mlci(args);
        assert!(!run.stdout.contains("SECRETVALUE") && !run.stderr.contains("SECRETVALUE"));
    }
    // Outs naming .git or .mlci are refused when the pipeline loads.
    for out in [".git/config", ".mlci/config.yaml", "sub/.git/x"] {
        repo.write(
            "mlci.yaml",
            format!("stages:\n  s:\n    cmd: \"true\"\n    outs: [{out}]\n"),
        );
        let run = repo.mlci(&["repro"]).user_error();
        assert!(run.stderr.contains("mlci.yaml"), "{}", run.stderr);
    }
}

#[test]
fn metrics_read_through_a_symlink_out_of_the_workspace_are_refused() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("m.json"), r#"{"leak": 12345}"#).unwrap();
    std::os::unix::fs::symlink(outside.path().join("m.json"), repo.path("m.json")).unwrap();
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: \"true\"\n    metrics:\n    - m.json: {cache: false}\n",
    );
    repo.commit_all("p");
    let run = repo.mlci(&["metrics", "show"]);
    assert!(!run.stdout.contains("12345"), "{}", run.stdout);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
}

#[test]
fn report_template_from_the_pull_request_stays_in_the_workspace() {
    let repo = TestRepo::new();
    repo.write("mlci.yaml", "stages:\n  s:\n    cmd: echo\n");
    repo.commit_all("base");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("t.j2"), "OUTSIDE-TEMPLATE").unwrap();
    std::os::unix::fs::symlink(outside.path().join("t.j2"), repo.path("t.j2")).unwrap();
    for template in ["/proc/self/environ", "../t.j2", "t.j2", ".git/config"] {
        repo.write(
            "mlci.yaml",
            format!("stages:\n  s:\n    cmd: echo\nreport:\n  template: {template}\n"),
        );
        let run = repo.mlci_env(
            &["ci", "--no-repro", "--no-comment"],
            &[("GITHUB_TOKEN", "ghp_SECRETTOKEN123")],
        );
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("error: mlci.yaml: `report.template`")
                && run.stderr.contains("\nhint: "),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains("ghp_SECRETTOKEN123"));
        assert!(!run.stdout.contains("OUTSIDE-TEMPLATE"));
    }
    // One inside the repository works.
    repo.write("r.j2", "custom {{ verdict.summary }}");
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\nreport:\n  template: r.j2\n",
    );
    let run = repo.mlci(&["report"]).ok();
    assert!(run.stdout.starts_with("custom "), "{}", run.stdout);
}

#[test]
fn report_values_cannot_forge_markdown_html_or_workflow_commands() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  train:\n    cmd: echo ok > out.txt\n    params: [lr]\n    outs: [out.txt]\n  viz:\n    cmd: \"true\"\n    metrics:\n      - m.json: {cache: false}\n    plots:\n      - xs.csv: {cache: false, x: step, y: v, title: \"t\\n```\\n::warning::from-title\"}\n",
    );
    repo.write("params.yaml", "lr: 0.1\n");
    repo.write(
        "m.json",
        r#"{"<img src=x onerror=alert(1)>": 0, "a|b</details>": 1}"#,
    );
    repo.write(
        "xs.csv",
        "step,v\n\"a\n```\n::warning::forged-from-csv\n```mermaid\",1\n\"b\",2\n",
    );
    repo.mlci(&["repro", "train"]).ok();
    repo.commit_all("base");
    repo.write(
        "params.yaml",
        "lr: \"0.2\\n::error title=forged::forged-from-params\\n</details><!-- mlci:report key=x -->\"\n",
    );
    repo.write(
        "m.json",
        r#"{"<img src=x onerror=alert(1)>": 1, "a|b</details>": 2}"#,
    );
    repo.write(
        "xs.csv",
        "step,v\n\"a\n```\n::warning::forged-from-csv\n```mermaid\",1\n\"b\",3\n",
    );
    let run = repo
        .mlci_env(
            &["ci", "--no-repro", "--no-comment"],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("RUNNER_TEMP", repo.root.to_str().unwrap()),
            ],
        )
        .ok();
    let out = &run.stdout;
    assert!(out.contains("lr"), "{out}");
    for line in out.lines() {
        // Only mlci's own fence lines may be workflow commands.
        if line.starts_with("::") {
            assert!(
                line.starts_with("::stop-commands::") || (line.ends_with("::") && line.len() == 36),
                "forged workflow command: {line}\n{out}"
            );
        }
    }
    assert!(!out.contains("<img"), "{out}");
    assert!(!out.contains("</details><"), "{out}");
    assert!(!out.contains("<!-- mlci:report key=x"), "{out}");
    // The report is fenced: it opens and closes once with one fresh token.
    let opens: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("::stop-commands::"))
        .collect();
    assert_eq!(opens.len(), 1, "{out}");
    let token = opens[0].trim_start_matches("::stop-commands::");
    assert!(out.contains(&format!("\n::{token}::")), "{out}");
    // Each Mermaid block is still whole: fences pair up.
    let fences = out.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "{out}");
}

/// A GitHub API holding one bot comment for key wf/A whose body carries,
/// as data, the marker of wf/B.
const MARKER_API: &str = r#"
import http.server, json, sys
log, portfile = open(sys.argv[1], 'a'), sys.argv[2]
C = [{"id": 111, "html_url": "https://github.com/o/r/pull/1#issuecomment-111", "user": {"login": "github-actions[bot]"},
      "body": "<!-- mlci:report key=wf/A -->\n| m.json | <!-- mlci:report key=wf/B --> | 0 | 4 | added |\n"}]
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj):
        b = json.dumps(obj).encode(); self.send_response(code)
        self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        if self.path.startswith('/user'): return self.reply(403, {"message": "Resource not accessible by integration"})
        if '/issues/1/comments' in self.path: return self.reply(200, C)
        return self.reply(404, {"message": "Not Found"})
    def do_PATCH(self):
        log.write(f"PATCH {self.path}\n"); log.flush(); return self.reply(200, C[0])
    def do_POST(self):
        log.write(f"POST {self.path}\n"); log.flush(); return self.reply(201, {"id": 222, "html_url": "x"})
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H); open(portfile, 'w').write(str(s.server_address[1])); s.serve_forever()
"#;

fn pr_event(repo: &TestRepo) -> std::path::PathBuf {
    repo.git(&["commit", "-q", "--allow-empty", "-m", "e"]);
    let h = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    let ev = repo.root.parent().unwrap().join("event.json");
    std::fs::write(
        &ev,
        format!(r#"{{"number":1,"pull_request":{{"number":1,"base":{{"sha":"{h}"}},"head":{{"sha":"{h}"}}}}}}"#),
    )
    .unwrap();
    ev
}

#[test]
fn the_sticky_marker_matches_only_as_a_comments_first_line() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = PyServer::start(MARKER_API, &[log.path().to_str().unwrap()]);
    let repo = TestRepo::new();
    let ev = pr_event(&repo);
    let tmp = repo.root.parent().unwrap().to_str().unwrap().to_string();
    let url = server.url();
    let env = |key: &'static str| {
        vec![
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_EVENT_PATH", ev.to_str().unwrap().into()),
            ("GITHUB_REPOSITORY", "o/r".into()),
            ("GITHUB_TOKEN", "ghs_test1234".into()),
            ("GITHUB_API_URL", url.clone()),
            ("RUNNER_TEMP", tmp.clone()),
            ("KEY", key.into()),
        ]
    };
    for key in ["wf/B", "wf/A"] {
        let e = env(key);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        repo.mlci_env(&["ci", "--no-repro", "--comment-key", key], &e);
    }
    let calls = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        calls, "POST /repos/o/r/issues/1/comments\nPATCH /repos/o/r/issues/comments/111\n",
        "wf/B posts its own comment; wf/A updates its own"
    );
}

const ECHO_API: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def _do(self):
        echo = "auth=" + str(self.headers.get('Authorization'))
        b = json.dumps({"message": echo, "errors": [{"resource": "x", "message": echo}, {"code": echo}]}).encode()
        self.send_response(422); self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    do_GET = do_POST = do_PATCH = _do
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H); open(sys.argv[1], 'w').write(str(s.server_address[1])); s.serve_forever()
"#;

#[test]
fn known_secrets_reach_no_output_report_summary_artifact_or_file() {
    let server = PyServer::start(ECHO_API, &[]);
    let repo = TestRepo::new();
    repo.add_remote("store", Server::Local);
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: |\n      echo \"token=$GITHUB_TOKEN aws=$AWS_SECRET_ACCESS_KEY\" > log.txt\n      echo '{\"acc\": 1}' > m.json\n    outs: [log.txt]\n    metrics:\n    - m.json: {cache: false}\n",
    );
    let ev = pr_event(&repo);
    let tmp = tempfile::tempdir().unwrap();
    let summary = tmp.path().join("summary.md");
    let url = server.url();
    let run = repo.mlci_env(
        &["ci", "--token", "ghp_FLAGTOKEN98765"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", ev.to_str().unwrap()),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_TOKEN", "ghp_SECRETTOKEN123"),
            ("GITHUB_API_URL", &url),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("RUNNER_TEMP", tmp.path().to_str().unwrap()),
            ("AWS_SECRET_ACCESS_KEY", "AWSSECRET4567890"),
        ],
    );
    assert!(run.stderr.contains("422"), "{}", run.stderr);
    // The stage did not inherit the publishing token.
    assert!(
        repo.read("log.txt").starts_with("token= "),
        "{}",
        repo.read("log.txt")
    );
    let secrets = [
        "ghp_SECRETTOKEN123",
        "ghp_FLAGTOKEN98765",
        "AWSSECRET4567890",
    ];
    let outputs = [run.stdout.as_str(), run.stderr.as_str()];
    for text in outputs {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            for s in secrets {
                assert!(!line.contains(s), "{s} printed: {line}");
            }
        }
    }
    let mut files = walk_files(tmp.path());
    files.extend(walk_files(&repo.path(".mlci")));
    files.extend(walk_files(&repo.root.parent().unwrap().join("remotes")));
    files.push(repo.path("mlci.lock"));
    assert!(files.len() > 3);
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for s in &secrets[..2] {
            assert!(!text.contains(s), "{s} in {}", f.display());
        }
    }
}

#[test]
fn stage_output_is_fenced_and_the_runner_token_withheld_unless_opted_in() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: |\n      echo \"::error title=from-stage::annotation forged by a stage\"\n      echo \"token=[$GITHUB_TOKEN] out=[$GITHUB_OUTPUT]\"\n",
    );
    repo.commit_all("p");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_TOKEN", "ghs_x1234567"),
        ("GITHUB_OUTPUT", "/dev/null"),
    ];
    for jobs in ["1", "2"] {
        let run = repo.mlci_env(&["repro", "-f", "-j", jobs], &env).ok();
        let out = &run.stdout;
        let start = out.find("::stop-commands::").expect("fence opened");
        let token = out[start + 17..].lines().next().unwrap().to_string();
        let end = out.find(&format!("::{token}::")).expect("fence closed");
        let forged = out.find("annotation forged by a stage").unwrap();
        assert!(start < forged && forged < end, "{out}");
        assert!(out.contains("token=[] out=[]"), "{out}");
    }
    let run = repo
        .mlci_env(&["repro", "-f", "--stages-see-ci-secrets"], &env)
        .ok();
    assert!(
        run.stdout.contains("token=[ghs_x1234567]"),
        "{}",
        run.stdout
    );
    let mut with_var = env.to_vec();
    with_var.push(("MLCI_STAGES_SEE_CI_SECRETS", "1"));
    let run = repo.mlci_env(&["repro", "-f"], &with_var).ok();
    assert!(run.stdout.contains("out=[/dev/null]"), "{}", run.stdout);
}

#[test]
fn credentials_in_a_remote_url_are_refused_for_every_scheme() {
    let repo = TestRepo::new();
    for url in [
        "s3://AKIAEXAMPLE:URLSECRET111@bucket/p",
        "s3://URLSECRET111@bucket/p",
        "gs://user:URLSECRET111@bucket/p",
        "azure://acct:URLSECRET111@container/p",
        "sftp://user:URLSECRET111@127.0.0.1:22/p",
        "ssh://user:URLSECRET111@host/p",
        "https://user:URLSECRET111@host/p",
        "webdav://user:URLSECRET111@host/p",
    ] {
        let run = repo.mlci(&["remote", "add", "r", url]).user_error();
        assert!(
            run.stderr.contains("credentials do not belong in the"),
            "{url}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("URLSECRET111"), "{}", run.stderr);
    }
    assert!(!repo.read(".mlci/config.yaml").contains("URLSECRET"));
    assert!(!repo.mlci(&["remote", "list"]).stdout.contains("URLSECRET"));
    // A user name alone is how SFTP URLs are written.
    repo.mlci(&["remote", "add", "ok", "sftp://git@127.0.0.1:22/p"])
        .ok();
}

fn damage_one_object(repo: &TestRepo) -> String {
    repo.write("d.txt", "good data\n");
    repo.mlci(&["add", "d.txt"]).ok();
    let hash = repo
        .read("d.txt.mlci")
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: ").map(str::to_string))
        .unwrap();
    let obj = repo.object(&hash);
    let mut perms = std::fs::metadata(&obj).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&obj, perms).unwrap();
    std::fs::write(&obj, "BAD data\n").unwrap();
    hash
}

#[test]
fn push_never_stores_a_damaged_local_object_under_its_good_name() {
    for kind in [Server::Local, Server::S3] {
        let repo = TestRepo::new();
        let hash = damage_one_object(&repo);
        repo.add_remote("st", kind);
        repo.commit_all("data");
        let run = repo.mlci(&["push"]).user_error();
        assert!(
            run.stderr.contains(&hash) && run.stderr.contains("damaged"),
            "{}",
            run.stderr
        );
        // Nothing under that name on the remote: a pull elsewhere finds it missing.
        let other = repo.clone_to(&format!("other-{kind:?}"));
        let pull = other.mlci(&["pull"]);
        assert_eq!(pull.code, 2, "{}", pull.stderr);
        assert!(!other.exists("d.txt"));
        if kind == Server::Local {
            let remote = walk_files(&repo.root.parent().unwrap().join("remotes"));
            for f in remote {
                assert_ne!(
                    sha256_file(&f),
                    crate::common::sha256_file(&repo.object(&hash))
                );
            }
        }
    }
}

#[test]
fn huge_precision_is_a_usage_error_not_a_panic() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\n    metrics:\n      - m.json: {cache: false}\n",
    );
    repo.write("m.json", r#"{"acc": 0.5}"#);
    repo.commit_all("base");
    for cmd in [
        &["metrics", "show"][..],
        &["metrics", "diff"][..],
        &["report"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--precision", "65536"]);
        let run = repo.mlci(&args).user_error();
        assert!(run.stderr.contains("--precision"), "{}", run.stderr);
    }
    let run = repo.mlci(&["metrics", "show", "--precision", "30"]).ok();
    assert!(run.stdout.contains("0.5"), "{}", run.stdout);
}

#[test]
fn names_git_cannot_ignore_exactly_are_refused() {
    let repo = TestRepo::new();
    for name in ["new\nline.csv", "trailing.csv ", "tab\there.csv"] {
        repo.write(name, "x");
        let run = repo.mlci(&["add", name]).user_error();
        assert!(
            run.stderr.contains("git cannot"),
            "{name:?}: {}",
            run.stderr
        );
        assert!(!repo.exists(&format!("{name}.mlci")));
    }
    assert!(repo.cache_objects().is_empty());
    // A name that is not UTF-8, named on the command line or inside a
    // directory being added.
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffname.csv");
    std::fs::write(repo.root.join(bad), "x").unwrap();
    let out = crate::common::mlci_cmd(&repo.root)
        .arg("add")
        .arg(bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not valid UTF-8") && stderr.contains("\nhint: "),
        "{stderr}"
    );
    std::fs::create_dir_all(repo.path("u")).unwrap();
    std::fs::rename(repo.root.join(bad), repo.path("u").join(bad)).unwrap();
    let run = repo.mlci(&["add", "u"]).user_error();
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    assert!(!repo.exists("u.mlci"));
    // Inside a directory too: the whole directory is refused, nothing half-added.
    repo.write("d/ok.csv", "x");
    repo.write("d/bad\nname.csv", "y");
    let run = repo.mlci(&["add", "d"]).user_error();
    assert!(run.stderr.contains("git cannot"), "{}", run.stderr);
    assert!(!repo.exists("d.mlci"));
}

#[test]
fn mlcis_own_files_are_never_read_through_a_link_out_of_the_workspace() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "SECRET-CONTENT-42\n").unwrap();
    // A pointer file that is a link is not even found by the walk.
    let repo = TestRepo::new();
    std::os::unix::fs::symlink(&secret, repo.path("x.mlci")).unwrap();
    let run = repo.mlci(&["checkout"]).ok();
    assert!(!run.stdout.contains("SECRET") && !run.stderr.contains("SECRET"));
    assert!(run.stderr.contains("restored 0 file(s)"), "{}", run.stderr);
    for (name, args) in [
        ("mlci.lock", &["status"][..]),
        ("mlci.yaml", &["status"][..]),
        ("dvc.yaml", &["repro"][..]),
        (".gitignore", &["add", "data.csv"][..]),
    ] {
        let repo = TestRepo::new();
        let _ = std::fs::remove_file(repo.path(".gitignore"));
        repo.write("data.csv", "a,b\n");
        if name == "mlci.lock" {
            repo.write("mlci.yaml", "stages:\n  s:\n    cmd: echo\n    outs: [o]\n");
        }
        std::os::unix::fs::symlink(&secret, repo.path(name)).unwrap();
        let run = repo.mlci(args).user_error();
        assert!(
            run.stderr.contains("symbolic link"),
            "{name}: {}",
            run.stderr
        );
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains("SECRET-CONTENT-42"), "{name}: {out}");
        }
        // Nothing was written in its place.
        assert!(repo
            .path(name)
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "SECRET-CONTENT-42\n"
        );
    }
}

/// The lines of `out` the runner would execute as workflow commands: those
/// starting with `::` outside a `::stop-commands::` fence.
fn live_commands(out: &str) -> Vec<String> {
    let mut live = Vec::new();
    let mut fence: Option<String> = None;
    for line in out.lines() {
        let l = line.trim_start();
        match &fence {
            Some(token) if l == format!("::{token}::") => fence = None,
            Some(_) => {}
            None => {
                if let Some(token) = l.strip_prefix("::stop-commands::") {
                    fence = Some(token.to_string());
                } else if l.starts_with("::") {
                    live.push(l.to_string());
                }
            }
        }
    }
    live
}

#[test]
fn no_text_from_data_runs_as_a_workflow_command_on_either_stream() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  \"s\\n::warning::forged-stage\":\n    cmd: echo\n    deps: [\"in\\n::error::forged-dep\"]\n",
    );
    repo.commit_all("p");
    for args in [&["status"][..], &["repro"][..], &["dag"][..]] {
        let run = repo.mlci_env(args, &[("GITHUB_ACTIONS", "true")]);
        for out in [&run.stdout, &run.stderr] {
            assert!(
                live_commands(out).is_empty(),
                "{args:?}: {:?}\n{out}",
                live_commands(out)
            );
        }
        assert!(
            run.stdout.contains("forged") || run.stderr.contains("forged"),
            "{args:?}: the text is still shown\n{}{}",
            run.stdout,
            run.stderr
        );
    }
    assert_eq!(
        live_commands("::stop-commands::abc\n::error::x\n::abc::\n::warning::y\n"),
        ["::warning::y"]
    );
}

/// A GitHub API for a token that may not read `/user` (a GitHub App's
/// installation token), holding one marked comment by the login given.
const APP_TOKEN_API: &str = r#"
import http.server, json, sys
author, log, portfile = sys.argv[1], open(sys.argv[2], 'a'), sys.argv[3]
C = [{"id": 5, "html_url": "u", "user": {"login": author}, "body": "<!-- mlci:report key=wf/ci -->\nold report\n"}]
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj):
        b = json.dumps(obj).encode(); self.send_response(code)
        self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        if self.path.startswith('/user'): return self.reply(403, {"message": "Resource not accessible by integration"})
        if '/issues/1/comments' in self.path: return self.reply(200, C)
        return self.reply(404, {"message": "Not Found"})
    def do_PATCH(self):
        log.write(f"PATCH {self.path}\n"); log.flush(); return self.reply(200, C[0])
    def do_POST(self):
        log.write(f"POST {self.path}\n"); log.flush(); return self.reply(201, {"id": 6, "html_url": "x"})
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H); open(portfile, 'w').write(str(s.server_address[1])); s.serve_forever()
"#;

#[test]
fn a_token_that_cannot_name_itself_finds_its_bots_comment_but_never_a_persons() {
    for (author, expected) in [
        ("acme-ml-app[bot]", "PATCH /repos/o/r/issues/comments/5\n"),
        (
            "github-actions[bot]",
            "PATCH /repos/o/r/issues/comments/5\n",
        ),
        ("a-person", "POST /repos/o/r/issues/1/comments\n"),
    ] {
        let log = tempfile::NamedTempFile::new().unwrap();
        let server = PyServer::start(APP_TOKEN_API, &[author, log.path().to_str().unwrap()]);
        let repo = TestRepo::new();
        let ev = pr_event(&repo);
        let tmp = repo.root.parent().unwrap().to_str().unwrap().to_string();
        let url = server.url();
        repo.mlci_env(
            &["ci", "--no-repro", "--comment-key", "wf/ci"],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", ev.to_str().unwrap()),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_TOKEN", "ghs_installation1234"),
                ("GITHUB_API_URL", &url),
                ("RUNNER_TEMP", &tmp),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(log.path()).unwrap(),
            expected,
            "a marked comment by {author}"
        );
    }
}

/// Text from data reaches a terminal inert: an escape sequence in a CSV
/// column name, a metrics key or a file name (which can recolour, hide or
/// rewrite what the terminal shows, or set its clipboard) is printed in
/// caret notation, on stdout and in error messages alike.
#[test]
fn escape_sequences_from_data_never_reach_the_terminal() {
    let repo = TestRepo::new();
    let esc_col = "\x1b]52;c;cHduZWQ=\x07col";
    repo.write("ref.csv", format!("\"{esc_col}\",b\n1,x\n2,y\n3,x\n"));
    repo.write("cur.csv", format!("\"{esc_col}\",b\n4,x\n5,y\n6,y\n"));
    let run = repo.mlci(&["drift", "ref.csv", "cur.csv"]).ok();
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    assert!(
        run.stdout.contains("^[]52;c;cHduZWQ=^Gcol"),
        "{}",
        run.stdout
    );

    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\n    metrics:\n      - m.json: {cache: false}\n",
    );
    repo.write("m.json", "{\"\\u001b[2Jwiped\": 1}");
    let run = repo.mlci(&["metrics", "show"]).ok();
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    assert!(run.stdout.contains("^[[2Jwiped"), "{}", run.stdout);

    let run = repo
        .mlci(&["drift", "ref.csv", "missing\x1b[8m.csv"])
        .user_error();
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    assert!(run.stderr.contains("missing^[[8m.csv"), "{}", run.stderr);
}
