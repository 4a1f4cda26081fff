//! Hostile pull requests and remotes, round 2: the workspace's machinery is
//! not a commit's to choose, nothing shared is deleted on partial
//! knowledge, secrets stay secret and text lands escaped for where it
//! lands. Each test mounts the attack as a pull request or a shared remote
//! could, and checks that mlci still does its job for an honest user.

use crate::common::{count_files, TestRepo};
use crate::snapshot;

/// A committed `.mlci/config.local.yaml` (or one only staged) is refused
/// naming it, before anything is written where it points; the machine's own
/// untracked one still moves the cache.
#[test]
fn a_tracked_config_local_is_refused_and_an_untracked_one_still_works() {
    let outside = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    repo.write(
        ".mlci/config.local.yaml",
        format!("core:\n  cache_dir: {}\n", outside.path().display()),
    );
    repo.git(&["add", "-f", ".mlci/config.local.yaml"]);
    repo.write("d.txt", "bytes of the pull request's choosing\n");
    // Staged only: refused already.
    let run = repo.mlci(&["add", "d.txt"]).user_error();
    assert!(
        run.stderr.contains(".mlci/config.local.yaml"),
        "{}",
        run.stderr
    );
    repo.git(&["commit", "-q", "-m", "pull request"]);
    let runner = repo.clone_to("runner");
    snapshot!(runner, runner.mlci(&["add", "d.txt"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: `.mlci/config.local.yaml` is tracked by git, but it is this machine's own and is never taken from a commit
    hint: remove it from git and commit that (`git rm -r --cached .mlci/config.local.yaml`); machine-local settings such as core.cache_dir go in an untracked .mlci/config.local.yaml or the environment (MLCI_CACHE_DIR)
    ");
    assert_eq!(count_files(outside.path()), 0, "nothing written outside");
    // Every command passes the same door: status, checkout, gc, fsck.
    for args in [
        &["status"][..],
        &["checkout"],
        &["gc", "--workspace"],
        &["fsck"],
        &["push"],
    ] {
        let run = runner.mlci(args).user_error();
        assert!(
            run.stderr.contains("config.local.yaml` is tracked"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // The fix the hint gives works, and the machine's own file then counts.
    runner.git(&["rm", "-q", "--cached", ".mlci/config.local.yaml"]);
    runner.git(&["commit", "-q", "-m", "untrack the machine's file"]);
    runner.write("d.txt", "the user's own data\n");
    runner.mlci(&["add", "d.txt"]).ok();
    assert_eq!(
        count_files(outside.path()),
        1,
        "the untracked file moved the cache"
    );
}

/// `.mlci/cache` committed as a link out of the workspace (or with objects
/// in it) is refused; the same link made by the user on this machine, not
/// tracked, keeps working.
#[test]
fn tracked_links_or_objects_in_the_machinery_are_refused_untracked_links_work() {
    let outside = tempfile::tempdir().unwrap();
    let repo = TestRepo::new();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).ok();
    std::os::unix::fs::symlink(outside.path(), repo.path(".mlci/cache")).unwrap();
    repo.write("d.txt", "mine\n");
    // Untracked: the user's choice (the cache on a bigger disk).
    repo.mlci(&["add", "d.txt"]).ok();
    assert_eq!(count_files(outside.path()), 1);
    repo.git(&["add", "-f", ".mlci/cache"]);
    repo.git(&["commit", "-q", "-m", "pull request"]);
    let run = repo.mlci(&["status"]).user_error();
    assert!(
        run.stderr
            .contains("`.mlci/cache` is tracked by git as a symbolic link"),
        "{}",
        run.stderr
    );
    // Objects committed into the cache (a poisoned copy waiting to be
    // pushed under a good name) are refused the same way.
    let other = TestRepo::new();
    other.write(".mlci/cache/sha256/ab/cdef", "poison\n");
    other.git(&["add", "-f", ".mlci/cache/sha256/ab/cdef"]);
    other.git(&["commit", "-q", "-m", "poison"]);
    let run = other.mlci(&["status"]).user_error();
    assert!(
        run.stderr.contains("`.mlci/cache` is tracked by git,"),
        "{}",
        run.stderr
    );
}

/// Three commits of `model.bin` on a directory remote, with `churn`
/// declared on it; returns the repository and each version's hash.
fn model_history() -> (TestRepo, Vec<String>) {
    let repo = TestRepo::new();
    repo.add_remote("store", crate::common::Server::Local);
    repo.write(
        "mlci.yaml",
        "artifacts:\n  churn:\n    path: model.bin\n    type: model\n",
    );
    let mut hashes = Vec::new();
    for v in ["v1", "v2", "v3"] {
        repo.write("model.bin", format!("weights {v}\n"));
        hashes.push(crate::common::sha256_file(&repo.path("model.bin")));
        repo.mlci(&["add", "model.bin"]).ok();
        repo.mlci(&["push"]).ok();
        repo.commit_all(v);
    }
    (repo, hashes)
}

fn remote_has(run: &crate::common::Run, hash: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    !v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["key"].as_str().is_some_and(|k| k.contains(&hash[2..])))
}

/// A shallow clone (and a single-branch one) refuses `gc --remote` for
/// every scope, deleting nothing; a full clone collects, but never what a
/// registry version in a stage uses, and its dry run says what the
/// registry protects.
#[test]
fn remote_gc_refuses_partial_history_and_keeps_what_the_registry_names() {
    let (repo, h) = model_history();
    let url = format!("file://{}", repo.root.display());
    let parent = repo.root.parent().unwrap();
    let shallow = parent.join("shallow");
    let single = parent.join("single");
    for (dir, flags) in [
        (&shallow, &["--depth", "1"][..]),
        (&single, &["--single-branch", "--no-tags"]),
    ] {
        crate::common::git_clone(&url, dir, flags);
        std::fs::copy(
            repo.path(".mlci/config.local.yaml"),
            dir.join(".mlci/config.local.yaml"),
        )
        .ok();
    }
    let clone = TestRepo::at_existing(shallow);
    snapshot!(clone, clone.mlci(&["gc", "--remote", "store", "--all-commits", "--grace", "0s"]).user_error(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: gc --remote deletes from a shared remote, and this clone is shallow: commits and registry tags it cannot see would lose their data
    hint: fetch the whole history first: `fetch-depth: 0` in actions/checkout, or `git fetch --unshallow --tags` (a single-branch clone also needs `git config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'`)
    ");
    clone
        .mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .user_error();
    let single = TestRepo::at_existing(single);
    let run = single
        .mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .user_error();
    assert!(
        run.stderr.contains("fetches single branches from `origin`"),
        "{}",
        run.stderr
    );
    // The local cache is not shared: a shallow clone may still collect it.
    clone.mlci(&["gc", "--workspace"]).ok();

    // v1 goes to prod; then a full clone's workspace-only gc keeps it.
    for (i, args) in [
        &["register", "churn", "HEAD~2", "--version", "v1.0.0"][..],
        &["register", "churn", "HEAD~1", "--version", "v1.1.0"],
        &["deregister", "churn", "v1.1.0"],
        &["promote", "churn", "v1.0.0", "--to", "prod"],
    ]
    .iter()
    .enumerate()
    {
        let date = format!("2030-01-01T00:0{i}:00 +0000");
        repo.mlci_env(
            &[&["model"][..], args].concat(),
            &[("GIT_COMMITTER_DATE", &date)],
        )
        .ok();
    }
    let dry = repo
        .mlci(&[
            "gc",
            "--remote",
            "store",
            "--workspace",
            "--grace",
            "0s",
            "--dry-run",
            "--json",
        ])
        .ok();
    assert!(
        dry.stderr
            .contains("keeping what churn@v1.0.0 (in prod) uses (registry, commit"),
        "{}",
        dry.stderr
    );
    assert!(
        !dry.stderr.contains("v1.1.0"),
        "a deregistered version protects nothing: {}",
        dry.stderr
    );
    assert!(
        remote_has(&dry, &h[0]),
        "prod's model is not listed for deletion: {}",
        dry.stdout
    );
    assert!(
        !remote_has(&dry, &h[1]),
        "the deregistered version's data goes: {}",
        dry.stdout
    );
    repo.mlci(&["gc", "--remote", "store", "--workspace", "--grace", "0s"])
        .ok();
    std::fs::remove_dir_all(repo.path(".mlci/cache")).unwrap();
    let run = repo
        .mlci(&["model", "get", "churn#prod", "-o", "deployed.bin"])
        .ok();
    assert!(run.stderr.contains("written to"), "{}", run.stderr);
    assert_eq!(repo.read("deployed.bin"), "weights v1\n");
}

/// `model get -o DIR` writes inside an existing directory, as `cp` does;
/// `--force` replaces a file, never a directory of other things, and never
/// the repository or the current directory.
#[test]
fn model_get_writes_into_directories_and_never_removes_the_repository() {
    let (repo, _) = model_history();
    repo.mlci(&["model", "register", "churn"]).ok();
    repo.write("models/other.txt", "keep me\n");
    repo.mlci(&["model", "get", "churn", "-o", "models"]).ok();
    assert_eq!(repo.read("models/model.bin"), "weights v3\n");
    assert_eq!(repo.read("models/other.txt"), "keep me\n");
    repo.mlci(&["model", "get", "churn", "-o", "models/"])
        .user_error();
    repo.mlci(&["model", "get", "churn", "-o", "models/", "--force"])
        .ok();
    assert_eq!(repo.read("models/other.txt"), "keep me\n");
    // `-o . --force` at the root: the artifact lands in it, nothing goes.
    repo.mlci(&["model", "get", "churn", "-o", ".", "--force"])
        .ok();
    assert!(repo.exists(".git/HEAD") && repo.exists("mlci.yaml"));
    // A directory named like the file artifact is in the way, not replaced.
    repo.write("models/model.bin.d/x", "x");
    std::fs::remove_file(repo.path("models/model.bin")).unwrap();
    std::fs::rename(
        repo.path("models/model.bin.d"),
        repo.path("models/model.bin"),
    )
    .unwrap();
    snapshot!(repo, repo.mlci(&["model", "get", "churn", "-o", "models", "--force"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: [REPO]/models/model.bin is a directory, and the artifact is a file
        hint: name a file or a new path with -o (an existing directory receives the artifact inside it, as with cp)
    ");
    assert!(repo.exists("models/model.bin/x"));
    // The repository root itself, by any name, is never replaced.
    let run = repo.mlci_in("models", &["model", "get", "churn", "-o", "..", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(repo.exists(".git/HEAD"));
}

/// `dag --dot` and `dag --mermaid` quote stage names (from the pull
/// request's pipeline) so none ends its label and adds statements; two
/// names that differ only in punctuation stay two nodes.
#[test]
fn dag_labels_are_escaped_for_dot_and_mermaid() {
    let repo = TestRepo::new();
    repo.write(
        "mlci.yaml",
        "stages:\n  'a\" ; evil [label=\"INJ':\n    cmd: echo a > a.txt\n    outs: [a.txt]\n  \"b\\\"]\\n  click b \\\"javascript:alert(1)\\\"\":\n    cmd: cat a.txt > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n  a-b:\n    cmd: echo > c.txt\n    outs: [c.txt]\n  a_b:\n    cmd: echo > d.txt\n    outs: [d.txt]\n  end:\n    cmd: echo > e.txt\n    outs: [e.txt]\n",
    );
    snapshot!(repo, repo.mlci(&["dag", "--dot"]).ok(), @r#"
        exit: 0
        --- stdout
        digraph pipeline {
            "a\" ; evil [label=\"INJ";
            "b\"]   click b \"javascript:alert(1)\"";
            "a-b";
            "a_b";
            "end";
            "a\" ; evil [label=\"INJ" -> "b\"]   click b \"javascript:alert(1)\"";
        }
        --- stderr
    "#);
    snapshot!(repo, repo.mlci(&["dag", "--mermaid"]).ok(), @r#"
        exit: 0
        --- stdout
        flowchart TD
            a____evil__label__INJ["a' ; evil [label='INJ"]
            b_____click_b__javascript_alert_1__["b']   click b 'javascript:alert(1)'"]
            a_b["a-b"]
            a_b_2["a_b"]
            end_["end"]
            a____evil__label__INJ --> b_____click_b__javascript_alert_1__
        --- stderr
    "#);
}

/// The job summary of a registry tag shows the artifact's `type:` (any
/// string in the tagged commit's mlci.yaml) as code: no HTML, no heading.
#[test]
fn a_registry_events_summary_shows_the_artifacts_text_as_code() {
    let repo = TestRepo::new();
    repo.write("model.pkl", "model\n");
    repo.write(
        "mlci.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n    type: \"model <img src=x onerror=alert(1)>\\n\\n## Approved by security team\\n`\"\n",
    );
    repo.commit_all("base");
    repo.git(&["tag", "-a", "churn@v0.0.1", "-m", "Registered"]);
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"ref":"refs/tags/churn@v0.0.1"}"#).unwrap();
    let summary = dir.path().join("summary.md");
    let out = dir.path().join("out.txt");
    repo.mlci_env(
        &["ci", "--no-comment"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_REF", "refs/tags/churn@v0.0.1"),
            ("GITHUB_OUTPUT", out.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&summary).unwrap();
    let commit = repo.git(&["rev-parse", "HEAD"]);
    insta::assert_snapshot!(text.replace(commit.trim(), "[COMMIT]"), @r"
        ### mlci: registration of churn v0.0.1

        - `event`: `registration`
        - `name`: `churn`
        - `version`: `v0.0.1`
        - `stage`: —
        - `type`: `` model <img src=x onerror=alert(1)>  ## Approved by security team ` ``
        - `path`: `model.pkl`
        - `commit`: `[COMMIT]`
        - `tag`: `churn@v0.0.1`
    ");
}

/// A label value with control characters: the exposition printed on
/// stdout and the body a push sends are the same bytes (no raw escape
/// sequence in either), and `.`/`..` grouping values stay in their group.
#[test]
fn an_export_is_the_same_bytes_on_stdout_and_in_a_push() {
    let repo = TestRepo::new();
    repo.write("mlci.yaml", "metrics:\n  - metrics.json\n");
    repo.write(
        "metrics.json",
        "{\"auc\\u001b[31m\\u0007\": 0.9, \"b\\\"\\\\\\n\": 1}\n",
    );
    repo.commit_all("metrics");
    let stdout = repo.mlci(&["metrics", "export"]).ok().stdout;
    assert!(stdout.contains("auc^[[31m^G"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    let server = crate::common::PyServer::start(
        r#"
import http.server, sys
log, port_file = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_PUT(self):
        n = int(self.headers.get('Content-Length') or 0)
        open(log, 'ab').write(self.path.encode() + b'\n' + self.rfile.read(n))
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open(port_file, 'w').write(str(s.server_address[1])); s.serve_forever()
"#,
        &[repo.path("pushed.log").to_str().unwrap()],
    );
    repo.mlci(&[
        "metrics",
        "export",
        "--push",
        &server.url(),
        "--job",
        "..",
        "--grouping",
        "stage=.",
    ])
    .ok();
    let pushed = std::fs::read_to_string(repo.path("pushed.log")).unwrap();
    let (path, body) = pushed.split_once('\n').unwrap();
    assert_eq!(path, "/metrics/job@base64/Li4=/stage@base64/Lg==");
    assert_eq!(body.trim_end(), stdout.trim_end());
}

/// Every refusal says why, naming what it refused, with a hint: the root
/// given to `add`, a name too long for its pointer file, a plot outside
/// the workspace, text that is not UTF-8, a manifest in the cache that is
/// not one (invalid, not "missing").
#[test]
fn every_refusal_says_why_with_a_hint() {
    let repo = TestRepo::new();
    snapshot!(repo, repo.mlci(&["add", "."]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: `.` is the repository's root, which mlci does not track as one output
        hint: name the data inside it (`mlci add data/` or `mlci add model.pkl`): the root holds git's and mlci's own files
    ");
    let long = "a".repeat(251);
    repo.write(&long, "x\n");
    let run = repo.mlci(&["add", &long]).user_error();
    assert!(
        run.stderr.contains(
            "its pointer file's name would be 256 bytes, over the file system's limit of 255"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\nhint: shorten the file's name"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(repo.path(&long)).unwrap();
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\nplots:\n  - /etc/passwd\n",
    );
    snapshot!(repo, repo.mlci(&["dag"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: mlci.yaml:4: `plots`: plot `/etc/passwd`: `/etc/passwd` is absolute
        hint: a plot names files inside the repository, relative to the pipeline file's directory (`eval/roc.csv`), or an id mapping such files to fields
    ");
    repo.write(
        "mlci.yaml",
        "stages:\n  s:\n    cmd: echo\n    params: [lr]\n",
    );
    repo.write("params.yaml", b"\xff\xfe: 1\n");
    snapshot!(repo, repo.mlci(&["status"]).user_error(), @r"
        exit: 2
        --- stdout
        --- stderr
        error: params.yaml: params file `params.yaml`: stream did not contain valid UTF-8
        hint: mlci reads pipeline, params, metrics and config files as UTF-8 text: save the file as UTF-8
    ");
    std::fs::remove_file(repo.path("mlci.yaml")).unwrap();
    // A manifest whose bytes match its name but that is not a manifest.
    repo.write("d/a", "hi\n");
    repo.mlci(&["add", "d"]).ok();
    let bad = "not a manifest";
    std::fs::write(repo.root.parent().unwrap().join("bad"), bad).unwrap();
    let hash = crate::common::sha256_file(&repo.root.parent().unwrap().join("bad"));
    repo.write(
        &format!(".mlci/cache/sha256/{}/{}.dir", &hash[..2], &hash[2..]),
        bad,
    );
    let pointer = repo.read("d.mlci");
    let old = pointer
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .unwrap()
        .to_string();
    repo.write("d.mlci", pointer.replace(&old, &format!("{hash}.dir")));
    std::fs::remove_dir_all(repo.path("d")).unwrap();
    std::fs::remove_dir_all(repo.path(".mlci/tmp")).ok();
    let run = repo.mlci(&["status"]).ok();
    assert!(
        run.stdout
            .contains("d: deleted, invalid in the cache (directory manifest "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("not in cache"), "{}", run.stdout);
}

/// `import-dvc` refuses what `remote add` refuses (a name, a place inside
/// `.git/`), carries the other remotes over, and exits 1: it left
/// something behind.
#[test]
fn import_dvc_leaves_refused_remotes_behind_and_says_so() {
    let repo = TestRepo::new();
    repo.write(
        ".dvc/config",
        "[core]\n    remote = good\n['remote \"bad name/..\"']\n    url = /tmp/elsewhere\n['remote \"git\"']\n    url = ../.git/objects\n['remote \"good\"']\n    url = ../../dvc-store\n",
    );
    let run = repo.mlci(&["import-dvc"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("DVC remote `bad name/..` is not carried over: `bad name/..` is not a valid remote name"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("a remote cannot live inside the repository's .git/"),
        "{}",
        run.stderr
    );
    let config = repo.read(".mlci/config.yaml");
    assert!(
        config.contains("good:")
            && !config.contains("bad name")
            && !config.contains(".git/objects"),
        "{config}"
    );
    // The same refusals from the committed config itself.
    repo.write(".mlci/config.yaml", "remotes:\n  ..:\n    url: /tmp/x\n");
    let run = repo.mlci(&["status"]).user_error();
    assert!(
        run.stderr.contains("`..` is not a valid remote name"),
        "{}",
        run.stderr
    );
}

/// A storage server's refusal (a bucket that does not exist, on the real
/// S3 server) is mlci's message naming the remote, with a hint, not a
/// library's dump.
#[test]
fn a_storage_servers_refusal_names_the_remote_with_a_hint() {
    use crate::common::env_from_test_script as env;
    let repo = TestRepo::new();
    let endpoint = env("MLCI_TEST_S3_ENDPOINT");
    repo.mlci(&["remote", "add", "-d", "store", "s3://no-such-bucket-mlci/p"])
        .ok();
    repo.mlci(&["remote", "modify", "store", "endpoint", &endpoint])
        .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "access_key_id",
        &env("MLCI_TEST_S3_KEY"),
        "--local",
    ])
    .ok();
    repo.mlci(&[
        "remote",
        "modify",
        "store",
        "secret_access_key",
        &env("MLCI_TEST_S3_SECRET"),
        "--local",
    ])
    .ok();
    repo.write("a.txt", "a\n");
    repo.mlci(&["add", "a.txt"]).ok();
    let run = repo.mlci(&["push"]).user_error();
    let text = run.stderr.replace(&endpoint, "[ENDPOINT]");
    assert!(text.starts_with("error: remote `store`: "), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
    assert!(
        text.contains("\nhint: the bucket (or container) in remote `store`'s URL does not exist on that server"),
        "{text}"
    );
    assert!(
        !text.contains("Error {") && !text.contains("backtrace"),
        "no debug dump: {text}"
    );
}
