//! Property tests of the workspace rule (`mlci::workspace_path`): whatever
//! text a pointer, manifest, lock file, run record or `mlci.yaml` holds,
//! every path mlci accepts from it stays inside the workspace and out of
//! `.git/` and `.mlci/`.

use std::path::{Component, Path, PathBuf};

use mlci::workspace_path::WorkspacePath;
use proptest::prelude::*;

/// The rule, restated independently of the code under test.
fn stays_inside(p: &str) -> bool {
    let root = Path::new("/ws");
    let mut out = PathBuf::from(root);
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return false,
        }
    }
    let parts: Vec<&str> = p.split('/').collect();
    out.starts_with(root)
        && out != root
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
        && parts.first() != Some(&".mlci")
        && parts.iter().all(|c| {
            let folded = c.trim_end_matches(['.', ' ']).to_ascii_lowercase();
            !c.is_empty()
                && *c != "."
                && *c != ".."
                && folded != ".git"
                && !c.eq_ignore_ascii_case("git~1")
                && !c.ends_with(' ')
        })
}

/// Path text an attacker would try: traversal, git's and mlci's
/// directories in several spellings, separators, control characters.
fn hostile_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just(".git".to_string()),
        Just(".GiT".to_string()),
        Just(".git.".to_string()),
        Just(".git ".to_string()),
        Just("GIT~1".to_string()),
        Just(".mlci".to_string()),
        Just("a\nb".to_string()),
        Just("x\\..".to_string()),
        Just("/".to_string()),
        "[a-z.~ ]{1,5}",
    ];
    (any::<bool>(), prop::collection::vec(segment, 1..6)).prop_map(|(abs, segs)| {
        let joined = segs.join("/");
        if abs {
            format!("/{joined}")
        } else {
            joined
        }
    })
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn workspace_paths(p in hostile_path()) {
        if let Ok(w) = WorkspacePath::new(&p) {
            prop_assert!(stays_inside(w.as_str()), "{:?}", p);
        }
    }

    #[test]
    fn pointer_targets(dir in "([a-z]{1,3}/){0,2}", p in hostile_path()) {
        let text = format!(
            "outs:\n- path: {}\n  hash: sha256\n  sha256: {HASH}\n  size: 0\n",
            yaml_str(&p)
        );
        if let Ok(t) = mlci::track::tracked_from_text(&format!("{dir}x.mlci"), &text) {
            prop_assert!(stays_inside(t.target_rel.as_str()), "{:?}", p);
        }
    }

    #[test]
    fn lock_file_entries(p in hostile_path(), q in hostile_path()) {
        let text = format!(
            "schema: '1'\nstages:\n  s:\n    cmd: x\n    deps:\n    - path: {}\n      sha256: {HASH}\n      size: 0\n    outs:\n    - path: {}\n      sha256: {HASH}\n      size: 0\n",
            yaml_str(&p), yaml_str(&q)
        );
        if let Ok(lock) = mlci::pipeline::lock::LockFile::parse(&text) {
            for e in lock.stages.values().flat_map(|s| s.deps.iter().chain(&s.outs)) {
                prop_assert!(stays_inside(e.path.as_str()), "{:?}", e.path);
            }
        }
    }

    #[test]
    fn run_record_outs(p in hostile_path()) {
        let json = format!(r#"{{"outs":[{{"path":{},"sha256":"{HASH}","size":0}}]}}"#, yaml_str(&p));
        if let Ok(r) = serde_json::from_str::<mlci::pipeline::runcache::Record>(&json) {
            for o in &r.outs {
                prop_assert!(stays_inside(o.path.as_str()), "{:?}", p);
            }
        }
        prop_assert_eq!(mlci::pipeline::runcache::is_record(json.as_bytes()), stays_inside(&p));
    }

    #[test]
    fn manifest_entries(p in hostile_path()) {
        let json = format!(r#"[{{"path":{},"sha256":"{HASH}","size":0}}]"#, yaml_str(&p));
        if mlci::store::manifest::Manifest::parse(json.as_bytes()).is_ok() {
            // Joined below a tracked directory, as checkout does.
            prop_assert!(stays_inside(&format!("data/{p}")), "{:?}", p);
        }
    }

    #[test]
    fn pipeline_paths(
        wdir in prop::option::of(hostile_path()),
        out in hostile_path(),
        dep in hostile_path(),
        params in hostile_path(),
        metric in hostile_path(),
        plot in hostile_path(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let wdir = wdir.map(|w| format!("    wdir: {}\n", yaml_str(&w))).unwrap_or_default();
        let text = format!(
            "stages:\n  s:\n    cmd: x\n{wdir}    deps: [{}]\n    outs: [{}]\n    params:\n    - {}: [a]\n    metrics: [{}]\n    plots: [{}]\nmetrics: [{}]\n",
            yaml_str(&dep), yaml_str(&out), yaml_str(&params), yaml_str(&metric),
            yaml_str(&plot), yaml_str(&metric)
        );
        std::fs::write(dir.path().join("mlci.yaml"), text).unwrap();
        if let Ok(p) = mlci::pipeline::load(dir.path()) {
            for s in &p.stages {
                for o in &s.outs {
                    prop_assert!(stays_inside(o.path.as_str()), "out {:?}", o.path);
                }
                for d in &s.deps {
                    prop_assert!(stays_inside(d.as_str()), "dep {:?}", d);
                }
                for pf in &s.params {
                    prop_assert!(stays_inside(&pf.file), "params {:?}", pf.file);
                }
                prop_assert!(s.wdir.is_empty() || stays_inside(&s.wdir), "wdir {:?}", s.wdir);
            }
            for m in &p.metrics {
                prop_assert!(stays_inside(m), "metric {:?}", m);
            }
            for pl in &p.plots {
                for src in &pl.sources {
                    prop_assert!(stays_inside(&src.file), "plot {:?}", src.file);
                }
            }
        }
    }
}

/// A URL-like setting with credentials, as a user or an attacker writes it.
fn credentialed_url() -> impl Strategy<Value = (String, String, String)> {
    (
        prop::sample::select(vec![
            "http", "https", "s3", "webdav", "webdavs", "gs", "azure", "sftp", "ssh",
        ]),
        "[A-Za-z0-9._~-]{1,12}",
        "[A-Za-z0-9._~!$&'*+=;,-]{1,24}",
        "[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
    )
        .prop_map(|(scheme, user, password, host)| {
            (
                format!("{scheme}://{user}:{password}@{host}/p"),
                user,
                password,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever text surrounds it and however short it is, a URL's
    /// password and an echoed `Basic` header never survive the scrubber.
    #[test]
    fn no_url_password_or_basic_credential_survives_the_scrubber(
        (url, user, password) in credentialed_url(),
        before in "[ -~]{0,20}",
        after in "[ -~]{0,20}",
    ) {
        use base64::Engine as _;
        let text = format!("{before} {url} {after}");
        let out = mlci::secrets::scrub_shapes(&text);
        prop_assert!(!out.contains(&format!(":{password}@")), "{text} -> {out}");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let header = format!("{before} Authorization: Basic {basic}\n{after}");
        let out = mlci::secrets::scrub_shapes(&header);
        prop_assert!(!out.contains(&basic), "{header} -> {out}");
        let known = mlci::secrets::scrub_known(&format!("{before}{password}{after}"), &[&password]);
        prop_assert!(password.len() < mlci::secrets::MIN_KNOWN_LEN || !known.contains(&password));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// A credential in any URL-like setting of the committed config is
    /// refused by `remote modify` and by every command that loads a
    /// committed file holding one, and no output shows it.
    #[test]
    fn no_setting_value_reaches_an_output_unscrubbed(
        (url, _, password) in credentialed_url(),
        key in prop::sample::select(vec!["endpoint", "url", "gateway"]),
    ) {
        let repo = crate::common::TestRepo::new();
        repo.mlci(&["remote", "add", "-d", "store", "s3://bucket/p"]).ok();
        let run = repo.mlci(&["remote", "modify", "store", key, &url]);
        prop_assert_eq!(run.code, 2, "{}", run.stderr);
        prop_assert!(!run.stderr.contains(&format!(":{password}@")), "{}", run.stderr);
        let config = repo.read(".mlci/config.yaml");
        prop_assert!(!config.contains(&url));
        repo.write(".mlci/config.yaml", format!("{config}monitor:\n  {key}: '{}'\n", url.replace('\'', "''")));
        for args in [&["status"][..], &["remote", "list"], &["push"]] {
            let run = repo.mlci(args);
            prop_assert_eq!(run.code, 2, "{:?}: {}", args, run.stderr);
            prop_assert!(run.stderr.contains("credentials do not belong in the committed config"), "{}", run.stderr);
            prop_assert!(!run.stderr.contains(&format!(":{password}@")), "{}", run.stderr);
            prop_assert!(!run.stdout.contains(&format!(":{password}@")), "{}", run.stdout);
        }
    }
}

/// A stage writing `outs`, for the graph's index.
fn stage_writing(name: &str, outs: &[String]) -> mlci::pipeline::Stage {
    use mlci::pipeline::definition::{OutKind, Output};
    mlci::pipeline::Stage {
        name: name.into(),
        cmd: vec![],
        wdir: String::new(),
        deps: vec![],
        outs: outs
            .iter()
            .map(|p| Output {
                path: WorkspacePath::new(p).unwrap(),
                cache: true,
                persist: false,
                push: true,
                kind: OutKind::Out,
            })
            .collect(),
        params: vec![],
        frozen: false,
        always_changed: false,
        desc: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The output index finds exactly the outputs a scan over every pair
    /// finds (same path, a directory holding it, a path inside it), on
    /// paths from a small alphabet so that prefixes (`a` and `ab`, `a/b`
    /// and `a/b0`) collide often.
    #[test]
    fn output_index_finds_what_a_scan_finds(
        outs in prop::collection::vec(prop::collection::vec("[ab0]{1,2}(/[ab0]{1,2}){0,2}", 0..4), 1..6),
        probe in "[ab0]{1,2}(/[ab0]{1,2}){0,2}",
    ) {
        let stages: Vec<_> = outs.iter().enumerate().map(|(i, o)| stage_writing(&format!("s{i}"), o)).collect();
        let index = mlci::pipeline::dag::OutIndex::new(&stages);
        let mut found = Vec::new();
        index.overlapping(&probe, |i, k| found.push((i, k)));
        found.sort_unstable();
        let mut want = Vec::new();
        for (i, s) in stages.iter().enumerate() {
            for (k, o) in s.outs.iter().enumerate() {
                if mlci::pipeline::dag::overlaps(o.path.as_str(), &probe) {
                    want.push((i, k));
                }
            }
        }
        prop_assert_eq!(found, want);
    }
}
