//! A DVC repository used in place (no `.mlci/`, nothing migrated), with
//! DVC 3 from PyPI as the oracle on the same clone: after `dvc add` and
//! `dvc repro`, `mlci status` is clean; after each edit (a file inside a
//! tracked directory, a param, an output modified or deleted, a nested
//! `dvc.yaml`'s dep), mlci names the same stale stages and changed `.dvc`
//! files as `dvc status`; a DVC 2 lock (no `hash: md5`, `md5-dos2unix` of
//! a CRLF text file) is read as DVC reads it; mlci writes nothing but its
//! memo under `.dvc/tmp/mlci/`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::common::{env_from_test_script, git_in, TestRepo};
use crate::dvc_oracle::dvc;

/// A git repository with `dvc init` done and no `.mlci/`.
pub(crate) fn dvc_repo() -> (tempfile::TempDir, TestRepo, String) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    git_in(&root, &["init", "-q", "-b", "main"]);
    let repo = TestRepo::at_existing(root);
    let exe = env_from_test_script("MLCI_TEST_DVC");
    dvc(&exe, &repo, &["init", "-q"]);
    dvc(&exe, &repo, &["config", "core.analytics", "false"]);
    (tmp, repo, exe)
}

/// (stale stages, changed `.dvc` files) by mlci and by DVC.
fn both(repo: &TestRepo, exe: &str) -> [BTreeSet<String>; 2] {
    let m: Value = serde_json::from_str(&repo.mlci(&["status", "--json"]).ok().stdout).unwrap();
    let mut mine: BTreeSet<String> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "stale")
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    mine.extend(
        m["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] != "unchanged" || d["in_cache"] == false)
            .map(|d| d["pointer"].as_str().unwrap().to_string()),
    );
    let d: Value = serde_json::from_str(&dvc(exe, repo, &["status", "--json"])).unwrap();
    let theirs = d.as_object().unwrap().keys().cloned().collect();
    [mine, theirs]
}

fn files_outside_mlci_memo(root: &Path) -> BTreeSet<String> {
    git_in(
        root,
        &[
            "status",
            "--porcelain",
            "--ignored",
            "--untracked-files=all",
        ],
    )
    .lines()
    .filter(|l| !l.contains(".dvc/tmp/"))
    .map(str::to_string)
    .collect()
}

/// One edit of the workspace, named.
type Edit<'a> = &'a dyn Fn(&TestRepo);

const PIPELINE: &str = "stages:
  prep:
    cmd: mkdir -p out && cat data/raw/*.txt > out/prep.txt
    deps: [data/raw]
    outs: [out/prep.txt]
  train:
    cmd: cp out/prep.txt out/model.bin && cp data/crlf.csv out/c.csv
    deps: [out/prep.txt, data/crlf.csv]
    params: [train.lr]
    outs: [out/model.bin, out/c.csv]
  report:
    cmd: mkdir -p out/figs && cp out/c.csv out/figs/a.csv && echo 1 > out/figs/b.txt
    deps: [out/c.csv]
    outs: [out/figs]
";

#[test]
fn status_judges_a_dvc_repository_as_dvc_does() {
    let (_tmp, r, exe) = dvc_repo();
    for i in 1..=3 {
        r.write(&format!("data/raw/f{i}.txt"), format!("row {i}\n"));
    }
    r.write("data/crlf.csv", "a,b\r\n1,2\r\n");
    r.write("params.yaml", "train:\n  lr: 0.1\n");
    r.write("dvc.yaml", PIPELINE);
    r.write("sub/in.txt", "s\n");
    r.write(
        "sub/dvc.yaml",
        "stages:\n  nested:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    dvc(&exe, &r, &["add", "-q", "data/raw"]);
    dvc(&exe, &r, &["repro", "-q"]);
    dvc(&exe, &r, &["repro", "-q", "sub/dvc.yaml"]);
    r.commit_all("dvc");
    let before = files_outside_mlci_memo(&r.root);
    let clean = both(&r, &exe);
    assert_eq!(clean, [BTreeSet::new(), BTreeSet::new()]);
    assert!(!r.exists(".mlci"), "no .mlci/ in a DVC repository");
    assert_eq!(files_outside_mlci_memo(&r.root), before);
    let edits: [(&str, Edit); 7] = [
        ("a file inside a tracked directory", &|r| {
            r.write("data/raw/f2.txt", "row 9\n")
        }),
        ("a param", &|r| {
            r.write("params.yaml", "train:\n  lr: 0.2\n")
        }),
        ("an output modified", &|r| r.write("out/c.csv", "x\n")),
        ("an output deleted", &|r| {
            std::fs::remove_file(r.path("out/model.bin")).unwrap()
        }),
        ("a file added to a directory output", &|r| {
            r.write("out/figs/c.txt", "c\n")
        }),
        ("a nested dvc.yaml's dep", &|r| r.write("sub/in.txt", "t\n")),
        ("the cache emptied", &|r| {
            std::fs::remove_dir_all(r.path(".dvc/cache")).unwrap()
        }),
    ];
    for (what, edit) in edits {
        edit(&r);
        let [mine, theirs] = both(&r, &exe);
        assert!(!theirs.is_empty(), "{what}: DVC sees a change");
        assert_eq!(mine, theirs, "after {what}");
    }
    // `dvc repro` and `dvc add` settle it; mlci agrees.
    dvc(&exe, &r, &["add", "-q", "data/raw"]);
    dvc(&exe, &r, &["repro", "-q"]);
    dvc(&exe, &r, &["repro", "-q", "sub/dvc.yaml"]);
    dvc(&exe, &r, &["commit", "-q", "-f"]);
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
    // The second look is from the memo: the same answer.
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
    assert!(r.path(".dvc/tmp/mlci/md5-memo.json").is_file());
}

/// DVC 2 recorded text files by `md5-dos2unix` (CRLF made LF) and wrote no
/// `hash:` field; DVC 3 still judges such a lock by that hash, and so does
/// mlci.
#[test]
fn a_dvc2_lock_is_read_with_its_dos2unix_md5() {
    let (_tmp, r, exe) = dvc_repo();
    r.write("data/crlf.csv", "a,b\r\n1,2\r\n");
    r.write(
        "dvc.yaml",
        "stages:\n  copy:\n    cmd: cp data/crlf.csv out.csv\n    deps: [data/crlf.csv]\n    outs: [out.csv]\n",
    );
    dvc(&exe, &r, &["repro", "-q"]);
    let unix = md5_hex(b"a,b\n1,2\n");
    let lock = r.read("dvc.lock");
    let raw = md5_hex(b"a,b\r\n1,2\r\n");
    assert!(lock.contains(&raw), "{lock}");
    let dvc2 = lock.replace(&raw, &unix).replace("      hash: md5\n", "");
    assert!(!dvc2.contains("hash: md5"), "{dvc2}");
    r.write("dvc.lock", &dvc2);
    // The output's DVC 2 object is not in the cache: both say so.
    let [mine, theirs] = both(&r, &exe);
    assert_eq!(theirs, BTreeSet::from(["copy".to_string()]));
    assert_eq!(mine, theirs);
    // A DVC 2 cache keeps it in the old layout, named by that hash.
    let object = r.path(&format!(".dvc/cache/{}/{}", &unix[..2], &unix[2..]));
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, "a,b\r\n1,2\r\n").unwrap();
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
    r.write("data/crlf.csv", "a,b\r\n1,3\r\n");
    let [mine, theirs] = both(&r, &exe);
    assert_eq!(theirs, BTreeSet::from(["copy".to_string()]));
    assert_eq!(mine, theirs);
    // Rerun by mlci: recorded as DVC 3 records it (plain MD5 of the CRLF
    // bytes, `hash: md5`), and DVC finds it up to date.
    r.mlci(&["repro"]).ok();
    let lock = r.read("dvc.lock");
    assert!(lock.contains(&md5_hex(b"a,b\r\n1,3\r\n")), "{lock}");
    assert!(!lock.contains(&md5_hex(b"a,b\n1,3\n")), "{lock}");
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// The stages each tool ran, from its log: mlci's "running stage `x`",
/// DVC's "Running stage 'x'".
fn ran(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            l.strip_prefix("running stage `")
                .and_then(|r| r.strip_suffix('`'))
                .or_else(|| {
                    l.strip_prefix("Running stage '")
                        .and_then(|r| r.split('\'').next())
                })
        })
        .map(str::to_string)
        .collect()
}

fn lock_of(r: &TestRepo) -> Value {
    serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&r.read("dvc.lock")).unwrap())
        .unwrap()
}

/// `mlci repro` in a DVC repository: the stages `dvc repro` runs, in its
/// order, the same `dvc.lock` (compared as data), outputs in DVC's cache
/// so that `dvc status` is clean; after `dvc repro`, nothing to run; a
/// param change run by each tool gives the same lock again.
#[test]
fn repro_writes_what_dvc_would() {
    let twins: Vec<_> = (0..2).map(|_| dvc_repo()).collect();
    for (_, r, _) in &twins {
        for i in 1..=3 {
            r.write(&format!("data/raw/f{i}.txt"), format!("row {i}\n"));
        }
        r.write("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n");
        r.write(
            "dvc.yaml",
            "stages:
  prep:
    cmd: mkdir -p out && cat data/raw/*.txt > out/prep.txt
    deps: [data/raw]
    outs: [out/prep.txt]
  train:
    cmd:
      - mkdir -p out/figs
      - cp out/prep.txt out/model.bin && echo 1 > out/figs/a.txt
    deps: [out/prep.txt]
    params: [train.lr, train.epochs]
    outs: [out/model.bin, out/figs]
  evaluate:
    cmd: wc -c out/model.bin > out/metrics.txt
    deps: [out/model.bin]
    outs: [out/metrics.txt]
",
        );
    }
    let (m, d) = (&twins[0].1, &twins[1].1);
    let exe = &twins[0].2;
    for (_, r, _) in &twins {
        dvc(exe, r, &["add", "-q", "data/raw"]);
        r.commit_all("pipeline");
    }
    let mine = m.mlci(&["repro"]).ok();
    let theirs = dvc(exe, d, &["repro"]);
    assert_eq!(ran(&mine.stderr), ran(&theirs), "{}\n{theirs}", mine.stderr);
    assert_eq!(ran(&mine.stderr).len(), 3);
    assert_eq!(lock_of(m), lock_of(d));
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
    assert!(!m.exists(".mlci"));
    // The outputs git-ignored as DVC ignores them.
    let ignored = |r: &TestRepo| std::fs::read_to_string(r.root.join("out/.gitignore")).unwrap();
    assert_eq!(ignored(m), ignored(d));
    assert_eq!(
        git_in(&m.root, &["status", "--porcelain"]),
        git_in(&d.root, &["status", "--porcelain"])
    );
    // Nothing to do for either, whoever ran last.
    let again = m.mlci(&["repro"]).ok();
    assert!(ran(&again.stderr).is_empty(), "{}", again.stderr);
    dvc(exe, m, &["repro", "-q"]);
    assert!(ran(&m.mlci(&["repro"]).ok().stderr).is_empty());
    // A param change: the same stages rerun, the same lock.
    for (_, r, _) in &twins {
        r.write("params.yaml", "train:\n  lr: 0.2\n  epochs: 3\n");
    }
    let mine = m.mlci(&["repro"]).ok();
    let theirs = dvc(exe, d, &["repro"]);
    assert_eq!(ran(&mine.stderr), ran(&theirs));
    assert_eq!(lock_of(m), lock_of(d));
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
    // Data changed by DVC, reproduced by mlci.
    m.write("data/raw/f4.txt", "row 4\n");
    dvc(exe, m, &["add", "-q", "data/raw"]);
    let mine = m.mlci(&["repro"]).ok();
    assert_eq!(ran(&mine.stderr), ["prep", "train", "evaluate"]);
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
}

/// `mlci add` in a DVC repository: `PATH.dvc` as DVC writes it (the same
/// document `dvc add` writes on a twin clone), the object and listing in
/// DVC's cache, the path git-ignored; `dvc status` is clean, `dvc
/// checkout` restores what mlci stored, and a re-add after a change is
/// what `dvc add` would record. A path git tracks is refused.
#[test]
fn add_writes_what_dvc_add_would() {
    let twins: Vec<_> = (0..2).map(|_| dvc_repo()).collect();
    for (_, r, _) in &twins {
        for i in 1..=3 {
            r.write(&format!("data/raw/f{i}.txt"), format!("row {i}\n"));
        }
        r.write("data/raw/sub/é.txt", "nested\n");
        r.write("data/model.bin", [0u8, 1, 2, 255]);
    }
    let (m, d, exe) = (&twins[0].1, &twins[1].1, &twins[0].2);
    m.mlci(&["add", "data/raw", "data/model.bin"]).ok();
    dvc(exe, d, &["add", "-q", "data/raw", "data/model.bin"]);
    let yaml = |r: &TestRepo, f: &str| -> Value {
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&r.read(f)).unwrap())
            .unwrap()
    };
    for f in ["data/raw.dvc", "data/model.bin.dvc"] {
        assert_eq!(yaml(m, f), yaml(d, f), "{f}");
    }
    let ignored: BTreeSet<String> = m
        .read("data/.gitignore")
        .lines()
        .map(str::to_string)
        .collect();
    let theirs: BTreeSet<String> = d
        .read("data/.gitignore")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ignored, theirs);
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
    // DVC restores from what mlci stored.
    std::fs::remove_dir_all(m.path("data/raw")).unwrap();
    dvc(exe, m, &["checkout", "-q"]);
    assert_eq!(m.read("data/raw/sub/é.txt"), "nested\n");
    // A change, added again by each tool.
    for (_, r, _) in &twins {
        r.write("data/raw/f4.txt", "row 4\n");
    }
    let again = m.mlci(&["add", "data/raw"]).ok();
    assert!(
        again.stderr.contains("added data/raw (5 files"),
        "{}",
        again.stderr
    );
    dvc(exe, d, &["add", "-q", "data/raw"]);
    assert_eq!(yaml(m, "data/raw.dvc"), yaml(d, "data/raw.dvc"));
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
    // What git tracks is refused, naming how DVC would have it.
    m.write("notes.txt", "n\n");
    m.git(&["add", "notes.txt"]);
    m.mlci(&["add", "notes.txt"]).user_error();
}

/// A remote for DVC's config: its URL, and the settings to set on every
/// clone (credentials go to `config.local`, which git does not carry).
struct DvcRemote {
    url: String,
    settings: Vec<(&'static str, String, bool)>,
}

fn configure(r: &TestRepo, exe: &str, name: &str, remote: &DvcRemote) {
    dvc(
        exe,
        r,
        &["remote", "add", "-q", "-f", "-d", name, &remote.url],
    );
    for (k, v, local) in &remote.settings {
        let mut args = vec!["remote", "modify", "-q"];
        if *local {
            args.push("--local");
        }
        args.extend([name, k, v.as_str()]);
        dvc(exe, r, &args);
    }
}

fn remotes_of_each_kind(dir: &Path, tag: &str) -> Vec<(&'static str, DvcRemote)> {
    let unique = format!(
        "dvc-in-place-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    vec![
        (
            "directory",
            DvcRemote {
                url: dir.join(tag).display().to_string(),
                settings: vec![],
            },
        ),
        (
            "SeaweedFS (S3)",
            DvcRemote {
                url: format!(
                    "s3://{}/{unique}",
                    env_from_test_script("MLCI_TEST_S3_BUCKET")
                ),
                settings: vec![
                    (
                        "endpointurl",
                        env_from_test_script("MLCI_TEST_S3_ENDPOINT"),
                        false,
                    ),
                    (
                        "access_key_id",
                        env_from_test_script("MLCI_TEST_S3_KEY"),
                        true,
                    ),
                    (
                        "secret_access_key",
                        env_from_test_script("MLCI_TEST_S3_SECRET"),
                        true,
                    ),
                ],
            },
        ),
    ]
}

/// Every file under `rel` in `r`, with its bytes.
fn files_under(r: &TestRepo, rel: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    walk_files(&r.path(rel))
        .into_iter()
        .map(|p| {
            let inner = p.strip_prefix(r.path(rel)).unwrap().display().to_string();
            (inner, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return vec![];
    };
    if !meta.is_dir() {
        return vec![dir.to_path_buf()];
    }
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        out.extend(walk_files(&e.unwrap().path()));
    }
    out.sort();
    out
}

pub(crate) fn clone_of(r: &TestRepo, into: &Path) -> TestRepo {
    git_in(
        into.parent().unwrap(),
        &[
            "clone",
            "-q",
            r.root.to_str().unwrap(),
            into.to_str().unwrap(),
        ],
    );
    TestRepo::at_existing(into.to_path_buf())
}

/// Push and pull with DVC 3 on the other side, on a directory remote and
/// on SeaweedFS: what `dvc push` sent, `mlci pull` restores in a fresh
/// clone (bytes equal, `dvc status` and `mlci status` clean, `mlci repro`
/// runs nothing); what `mlci add`, `mlci repro` and `mlci push` sent to a
/// new remote, `dvc pull` restores in a fresh clone of that (bytes equal,
/// `dvc status` clean). A second push sends nothing; an object damaged on
/// the remote is refused by the pull, naming it.
#[test]
fn push_and_pull_interleave_with_dvc() {
    let (tmp, origin, exe) = dvc_repo();
    for i in 1..=3 {
        origin.write(&format!("data/raw/f{i}.txt"), format!("row {i}\n"));
    }
    origin.write("data/raw/sub/é.txt", "nested\n");
    // Over one 8 MiB part: streamed in parts to S3.
    let big: Vec<u8> = (0..9u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    origin.write("data/big.bin", &big);
    origin.write("params.yaml", "lr: 0.1\n");
    origin.write(
        "dvc.yaml",
        "stages:
  prep:
    cmd: mkdir -p out && cat data/raw/*.txt > out/prep.txt
    deps: [data/raw]
    params: [lr]
    outs: [out/prep.txt]
",
    );
    dvc(&exe, &origin, &["add", "-q", "data/raw", "data/big.bin"]);
    dvc(&exe, &origin, &["repro", "-q"]);
    origin.commit_all("dvc project");
    let remotes = remotes_of_each_kind(tmp.path(), "remote");
    let second = remotes_of_each_kind(tmp.path(), "second");
    for (n, ((kind, first), (_, next))) in remotes.iter().zip(&second).enumerate() {
        // DVC pushes, mlci pulls.
        configure(&origin, &exe, "first", first);
        dvc(&exe, &origin, &["push", "-q", "-r", "first"]);
        let c1 = clone_of(&origin, &tmp.path().join(format!("c1-{n}")));
        configure(&c1, &exe, "first", first);
        let pulled = c1.mlci(&["pull"]).ok();
        assert!(
            pulled.stderr.contains("restored"),
            "{kind}: {}",
            pulled.stderr
        );
        for rel in ["data/raw", "data/big.bin", "out/prep.txt"] {
            assert_eq!(
                files_under(&c1, rel),
                files_under(&origin, rel),
                "{kind}: {rel}"
            );
        }
        assert_eq!(
            both(&c1, &exe),
            [BTreeSet::new(), BTreeSet::new()],
            "{kind}"
        );
        assert!(ran(&c1.mlci(&["repro"]).ok().stderr).is_empty(), "{kind}");
        // mlci adds, runs and pushes to a new remote; DVC pulls.
        c1.write("data/raw/f4.txt", "row 4\n");
        c1.write("params.yaml", "lr: 0.2\n");
        c1.mlci(&["add", "data/raw"]).ok();
        assert_eq!(ran(&c1.mlci(&["repro"]).ok().stderr), ["prep"], "{kind}");
        configure(&c1, &exe, "next", next);
        let pushed = c1.mlci(&["push"]).ok();
        assert!(
            pushed.stderr.contains("to `next`; 0 already there"),
            "{kind}: {}",
            pushed.stderr
        );
        let again = c1.mlci(&["push"]).ok();
        assert!(
            again.stderr.contains("pushed 0 object(s)"),
            "{kind}: {}",
            again.stderr
        );
        c1.commit_all("more data");
        let c2 = clone_of(&c1, &tmp.path().join(format!("c2-{n}")));
        configure(&c2, &exe, "next", next);
        dvc(&exe, &c2, &["pull", "-q"]);
        for rel in ["data/raw", "data/big.bin", "out/prep.txt"] {
            assert_eq!(
                files_under(&c2, rel),
                files_under(&c1, rel),
                "{kind}: {rel}"
            );
        }
        assert_eq!(
            both(&c2, &exe),
            [BTreeSet::new(), BTreeSet::new()],
            "{kind}"
        );
        assert!(!c1.exists(".mlci") && !c2.exists(".mlci"));
    }
    let c3 = clone_of(&origin, &tmp.path().join("c3"));
    let none = c3.mlci(&["pull"]).user_error();
    assert!(none.stderr.contains("dvc remote add"), "{}", none.stderr);
    configure(&c3, &exe, "first", &remotes[0].1);
    // A folder of an output that is a link out of the workspace: refused,
    // nothing written through it.
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(c3.path("data")).unwrap();
    std::os::unix::fs::symlink(&outside, c3.path("data/raw")).unwrap();
    let linked = c3.mlci(&["pull", "-r", "first"]).user_error();
    assert!(linked.stderr.contains("symbolic link"), "{}", linked.stderr);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    std::fs::remove_file(c3.path("data/raw")).unwrap();
    assert!(!c3.exists(".dvc/cache/files"), "nothing fetched");
    // A damaged object on the directory remote: refused, not kept.
    let store = Path::new(&remotes[0].1.url);
    let object = walk_files(&store.join("files/md5"))
        .into_iter()
        .find(|p| std::fs::read(p).unwrap() == b"row 1\n")
        .unwrap();
    let mut perm = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&object, perm).unwrap();
    std::fs::write(&object, "row 9\n").unwrap();
    let refused = c3.mlci(&["pull", "-r", "first"]).user_error();
    assert!(refused.stderr.contains("is corrupt"), "{}", refused.stderr);
    assert!(!c3.exists("data/raw/f1.txt"));
}

/// `mlci ci` on a DVC repository with `mlci.yaml` beside `dvc.yaml` (the
/// gates only): pull from the DVC remote, `dvc.lock`-judged repro, push,
/// the report with the gates' verdict against the base commit; `dvc
/// status` clean after and `dvc pull` of what it pushed in a fresh clone;
/// no `.mlci/` written. A failing gate exits 1; a failing stage is named
/// in a report that is never green, and exits 2.
#[test]
fn ci_runs_a_dvc_repository_in_place() {
    let (tmp, origin, exe) = dvc_repo();
    origin.write("data/train.txt", "1\n2\n3\n4\n");
    origin.write("params.yaml", "scale: 0.1\n");
    origin.write(
        "dvc.yaml",
        "stages:
  train:
    cmd: python3 -c \"import json;n=len(open('data/train.txt').read().split());s=float(open('params.yaml').read().split()[1]);json.dump({'acc':round(n*s,4)},open('metrics.json','w'));open('model.bin','w').write(str(n))\"
    deps: [data/train.txt]
    params: [scale]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
",
    );
    origin.write("mlci.yaml", "gates:\n  - metric: acc\n    min: 0.3\n");
    dvc(&exe, &origin, &["add", "-q", "data/train.txt"]);
    dvc(&exe, &origin, &["repro", "-q"]);
    let store = DvcRemote {
        url: tmp.path().join("store").display().to_string(),
        settings: vec![],
    };
    configure(&origin, &exe, "store", &store);
    dvc(&exe, &origin, &["push", "-q"]);
    origin.commit_all("base");
    let pr = clone_of(&origin, &tmp.path().join("pr"));
    std::fs::remove_dir_all(pr.path(".dvc/cache")).ok();
    pr.write("params.yaml", "scale: 0.2\n");
    let run = pr.mlci(&["ci"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("✅ **All 1 gate rule passed."),
        "{}",
        run.stdout
    );
    crate::common::pin_output(&run.stdout);
    assert!(pr.read(".dvc/tmp/mlci/report.md").starts_with("✅"));
    assert!(!pr.exists(".mlci"));
    assert_eq!(both(&pr, &exe), [BTreeSet::new(), BTreeSet::new()]);
    pr.commit_all("scale 0.2");
    let fresh = clone_of(&pr, &tmp.path().join("fresh"));
    dvc(&exe, &fresh, &["pull", "-q"]);
    assert_eq!(fresh.read("model.bin"), "4");
    // A gate that fails exits 1.
    pr.write("params.yaml", "scale: 0.05\n");
    let run = pr.mlci(&["ci"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("❌"), "{}", run.stdout);
    // A stage that fails: named, never green, exit 2.
    pr.write("data/train.txt", "1\n");
    pr.write(
        "dvc.yaml",
        pr.read("dvc.yaml")
            .replace("python3 -c", "exit 3; python3 -c"),
    );
    let run = pr.mlci(&["ci"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.starts_with("✅"), "{}", run.stdout);
    assert!(run.stdout.contains("train"), "{}", run.stdout);
    assert!(
        run.stderr.contains("stage `train` failed"),
        "{}",
        run.stderr
    );
}

/// DVC's run cache both ways: a stage DVC ran with a param value that is
/// set again is restored by `mlci repro` (its command not run, the same
/// `dvc.lock` DVC wrote for that value, `dvc status` clean), and a stage
/// mlci ran is restored by `dvc repro` ("Stage … is cached"), its command
/// not run either; a forced repro runs it.
#[test]
fn the_run_cache_restores_what_the_other_tool_ran() {
    let (_tmp, r, exe) = dvc_repo();
    r.write("data/raw.txt", "a\nb\n");
    r.write("params.yaml", "lr: 0.1\nepochs: 2\n");
    r.write(
        "dvc.yaml",
        "stages:
  train:
    cmd: echo ran >> ../runs.log && mkdir -p out/figs && cat data/raw.txt params.yaml > out/model.bin && echo fig > out/figs/a.txt && wc -c < out/model.bin > score.txt
    deps: [data/raw.txt]
    params: [lr, epochs]
    outs: [out/model.bin, out/figs]
    metrics:
      - score.txt:
          cache: false
",
    );
    let log = r.root.parent().unwrap().join("runs.log");
    let runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    dvc(&exe, &r, &["repro", "-q"]);
    let lock_01 = lock_of(&r);
    r.write("params.yaml", "lr: 0.2\nepochs: 2\n");
    dvc(&exe, &r, &["repro", "-q"]);
    assert_eq!(runs(), 2);
    // Back to a value DVC ran: mlci restores it.
    r.write("params.yaml", "lr: 0.1\nepochs: 2\n");
    let restored = r.mlci(&["repro"]).ok();
    assert!(restored.stderr.contains("restored"), "{}", restored.stderr);
    assert_eq!(runs(), 2, "the command did not run");
    assert_eq!(lock_of(&r), lock_01);
    // The uncached metric came back too (DVC keeps it in the run cache).
    let size = "a\nb\n".len() + "lr: 0.1\nepochs: 2\n".len();
    assert_eq!(r.read("score.txt").trim(), size.to_string());
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
    // mlci runs two new values; DVC restores the first.
    r.write("params.yaml", "lr: 0.3\nepochs: 2\n");
    r.mlci(&["repro"]).ok();
    let lock_03 = lock_of(&r);
    r.write("params.yaml", "lr: 0.4\nepochs: 2\n");
    r.mlci(&["repro"]).ok();
    assert_eq!(runs(), 4);
    r.write("params.yaml", "lr: 0.3\nepochs: 2\n");
    let theirs = dvc(&exe, &r, &["repro"]);
    assert!(theirs.contains("is cached"), "{theirs}");
    assert_eq!(runs(), 4, "DVC restored mlci's run");
    assert_eq!(lock_of(&r), lock_03);
    assert_eq!(both(&r, &exe), [BTreeSet::new(), BTreeSet::new()]);
    // Forced: run again.
    r.mlci(&["repro", "--force"]).ok();
    assert_eq!(runs(), 5);
}

/// `mlci repro NAME` and `--downstream` in a DVC repository: the stages
/// `dvc repro` runs for the same target, in its order, and the same
/// `dvc.lock`; an unknown stage is an error naming the stages there are.
#[test]
fn repro_of_a_target_runs_what_dvc_would() {
    let twins: Vec<_> = (0..2).map(|_| dvc_repo()).collect();
    for (_, r, _) in &twins {
        r.write("data/raw.txt", "1\n");
        r.write(
            "dvc.yaml",
            "stages:
  prep:
    cmd: cp data/raw.txt prep.txt
    deps: [data/raw.txt]
    outs: [prep.txt]
  train:
    cmd: cp prep.txt model.txt
    deps: [prep.txt]
    outs: [model.txt]
  evaluate:
    cmd: wc -c model.txt > score.txt
    deps: [model.txt]
    outs: [score.txt]
  other:
    cmd: cp data/raw.txt other.txt
    deps: [data/raw.txt]
    outs: [other.txt]
",
        );
    }
    let (m, d, exe) = (&twins[0].1, &twins[1].1, &twins[0].2);
    for (args, edit) in [
        (vec!["repro", "train"], "2\n"),
        (vec!["repro", "dvc.yaml:evaluate"], "3\n"),
        (vec!["repro", "--downstream", "train"], "4\n"),
        (vec!["repro", "other"], "5\n"),
    ] {
        for r in [m, d] {
            r.write("data/raw.txt", edit);
        }
        let mine = m.mlci(&args).ok();
        let theirs = dvc(exe, d, &args);
        assert_eq!(
            ran(&mine.stderr),
            ran(&theirs),
            "{args:?}\n{}\n{theirs}",
            mine.stderr
        );
        assert_eq!(lock_of(m), lock_of(d), "{args:?}");
    }
    let unknown = m.mlci(&["repro", "nope"]).user_error();
    assert!(
        unknown.stderr.contains("prep, train, evaluate, other"),
        "{}",
        unknown.stderr
    );
}

/// `mlci checkout` of a directory output as `dvc checkout` does it: a
/// deleted file comes back, a file the listing does not name is removed
/// when its bytes are in the cache; one whose bytes are nowhere else is
/// kept and named (DVC refuses the checkout there). Twin clones, DVC 3
/// on one: the same files after, `dvc status` clean.
#[test]
fn checkout_of_a_directory_removes_what_dvc_removes() {
    let twins: Vec<_> = (0..2).map(|_| dvc_repo()).collect();
    for (_, r, exe) in &twins {
        r.write("data/d/a.txt", "1\n");
        r.write("data/d/sub/b.txt", "2\n");
        dvc(exe, r, &["add", "-q", "data/d"]);
        r.write("data/d/extra.txt", "1\n");
        std::fs::remove_file(r.path("data/d/sub/b.txt")).unwrap();
    }
    let (m, d, exe) = (&twins[0].1, &twins[1].1, &twins[0].2);
    m.write("data/d/new.txt", "only here\n");
    let out = m.mlci(&["checkout"]).ok();
    assert!(out.stderr.contains("removed 1 file(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("data/d/new.txt"), "{}", out.stderr);
    assert_eq!(m.read("data/d/new.txt"), "only here\n");
    std::fs::remove_file(m.path("data/d/new.txt")).unwrap();
    dvc(exe, d, &["checkout", "-q"]);
    assert_eq!(files_under(m, "data/d"), files_under(d, "data/d"));
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
}

/// `mlci plan` in a DVC repository: the stages judged against `dvc.lock`
/// with DVC's MD5, in waves by their stale upstream; the stages planned
/// are the ones `dvc repro` then runs, in its order; a stage DVC's run
/// cache can restore is left out; nothing once `dvc repro` ran.
#[test]
fn plan_lists_what_dvc_repro_would_run() {
    let (_tmp, r, exe) = dvc_repo();
    r.write("data/raw.txt", "1\n");
    r.write("params.yaml", "lr: 1\n");
    r.write(
        "dvc.yaml",
        "stages:
  prep:
    cmd: cp data/raw.txt prep.txt
    deps: [data/raw.txt]
    outs: [prep.txt]
  train:
    cmd: cat prep.txt params.yaml > model.txt
    deps: [prep.txt]
    params: [lr]
    outs: [model.txt]
  evaluate:
    cmd: wc -c model.txt > score.txt
    deps: [model.txt]
    outs: [score.txt]
  other:
    cmd: cp data/raw.txt other.txt
    deps: [data/raw.txt]
    outs: [other.txt]
",
    );
    let planned = |r: &TestRepo| -> Vec<(u64, String)> {
        let v: Value = serde_json::from_str(&r.mlci(&["plan", "--json"]).ok().stdout).unwrap();
        v["waves"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| {
                w["stages"].as_array().unwrap().iter().map(|s| {
                    (
                        w["wave"].as_u64().unwrap(),
                        s["name"].as_str().unwrap().to_string(),
                    )
                })
            })
            .collect()
    };
    let names = |p: &[(u64, String)]| p.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    // Never run: every stage DVC runs, prep's chain in three waves.
    let p = planned(&r);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // (`dvc repro --dry` cannot plan past a missing input: DVC runs it.)
    assert_eq!(sorted(names(&p)), sorted(ran(&dvc(&exe, &r, &["repro"]))));
    assert_eq!(
        p,
        [
            (0, "prep".to_string()),
            (0, "other".into()),
            (1, "train".into()),
            (2, "evaluate".into())
        ]
    );
    assert!(planned(&r).is_empty());
    // A param: train and what reads it.
    r.write("params.yaml", "lr: 2\n");
    let p = planned(&r);
    assert_eq!(names(&p), ["train", "evaluate"]);
    crate::common::pin_output(&r.mlci(&["plan", "--matrix"]).ok().stdout);
    // (`dvc repro --dry` cannot see that train's output will change.)
    assert_eq!(names(&p), ran(&dvc(&exe, &r, &["repro"])));
    // Back to a value DVC ran: its run cache restores train and what
    // follows, so nothing is planned, and DVC runs nothing.
    r.write("params.yaml", "lr: 1\n");
    assert!(planned(&r).is_empty(), "{:?}", planned(&r));
    assert!(ran(&dvc(&exe, &r, &["repro"])).is_empty());
    assert!(!r.exists(".mlci"));
}

/// `mlci repro` with DVC's options, and a nested `dvc.yaml`, on twin
/// clones beside `dvc repro`: the same stages in the same order, the same
/// `dvc.lock` and `sub/dvc.lock`, the same `.gitignore` entries; `-f`
/// with a target, `-p`, `-R sub`, `--keep-going` past a failing stage;
/// `--dry-run` says what would run and runs nothing (pinned).
#[test]
fn repro_options_and_nested_pipelines_as_dvc() {
    let twins: Vec<_> = (0..2).map(|_| dvc_repo()).collect();
    for (_, r, _) in &twins {
        r.write("data/raw.txt", "1\n");
        r.write("flag.txt", "ok\n");
        r.write(
            "dvc.yaml",
            "stages:
  prep:
    cmd: cp data/raw.txt prep.txt
    deps: [data/raw.txt]
    outs: [prep.txt]
  train:
    cmd: cp prep.txt model.txt
    deps: [prep.txt]
    outs: [model.txt]
  fragile:
    cmd: grep -q ok flag.txt && cp flag.txt fragile.txt
    deps: [flag.txt]
    outs: [fragile.txt]
  after:
    cmd: cp fragile.txt after.txt
    deps: [fragile.txt]
    outs: [after.txt]
",
        );
        r.write(
            "sub/dvc.yaml",
            "stages:
  report:
    cmd: mkdir -p out && cat ../model.txt > out/report.txt
    deps: [../model.txt]
    outs: [out]
",
        );
        r.commit_all("pipelines");
    }
    let (m, d, exe) = (&twins[0].1, &twins[1].1, &twins[0].2);
    let same = |args: &[&str], what: &str, ignores: bool| {
        let mut all = vec!["repro"];
        all.extend_from_slice(args);
        let mine = m.mlci(&all);
        let theirs = crate::dvc_oracle::dvc_status(exe, d, &all);
        assert_eq!(
            ran(&mine.stderr),
            ran(&theirs.1),
            "{what}: {args:?}\n{}\n{}{}",
            mine.stderr,
            theirs.1,
            theirs.2
        );
        assert_eq!(mine.code == 0, theirs.0 == 0, "{what}: {args:?}");
        for lock in ["dvc.lock", "sub/dvc.lock"] {
            let of = |r: &TestRepo| r.root.join(lock).exists().then(|| r.read(lock));
            let parse = |t: Option<String>| {
                t.map(|t| serde_yaml::from_str::<serde_yaml::Value>(&t).unwrap())
            };
            assert_eq!(parse(of(m)), parse(of(d)), "{what}: {lock}");
        }
        // (After a failure DVC leaves the `.gitignore` entries of the
        // stages that did run unwritten, for good; mlci writes each
        // stage's as it succeeds.)
        if ignores {
            assert_eq!(
                git_in(&m.root, &["status", "--porcelain", "--ignored"]),
                git_in(&d.root, &["status", "--porcelain", "--ignored"]),
                "{what}"
            );
        }
    };
    // A failing stage, the rest kept going.
    for r in [m, d] {
        r.write("flag.txt", "no\n");
    }
    same(&["--keep-going"], "keep going", false);
    for r in [m, d] {
        r.write("flag.txt", "ok\n");
    }
    same(&[], "the rest", false);
    dvc(exe, d, &["commit", "-q", "-f", "prep", "train"]);
    // The nested pipeline is not the root's: neither ran it.
    let nested = BTreeSet::from(["sub/dvc.yaml:report".to_string()]);
    assert_eq!(both(m, exe), [nested.clone(), nested]);
    // What would run, and nothing run.
    m.write("data/raw.txt", "2\n");
    let dry = m.mlci(&["repro", "--dry-run"]).ok();
    crate::common::pin_output(&format!("{}\n{}", dry.stdout, dry.stderr));
    d.write("data/raw.txt", "2\n");
    same(&["-R", "sub"], "recursive", true);
    same(&["-f", "train"], "forced target", true);
    for r in [m, d] {
        r.write("data/raw.txt", "3\n");
    }
    same(&["-p", "train"], "whole pipeline", true);
    same(&["sub/dvc.yaml:report"], "nested target", true);
    assert_eq!(both(m, exe), [BTreeSet::new(), BTreeSet::new()]);
    assert!(!m.exists(".mlci"));
}

/// `mlci model get` in a DVC repository: the artifact `dvc.yaml` declares,
/// as GTO tags name it, written from the output DVC's files record at the
/// tag's commit: from DVC's cache, and in a fresh clone from DVC's remote
/// (a directory artifact whole); a damaged remote object is refused and
/// nothing is written.
#[test]
fn model_get_reads_what_dvc_recorded_at_the_tag() {
    let (tmp, r, exe) = dvc_repo();
    r.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n  imgs:\n    path: data/imgs\n",
    );
    r.write("model.pkl", "weights v1");
    r.write("data/imgs/a.txt", "a");
    r.write("data/imgs/sub/b.txt", "b");
    dvc(&exe, &r, &["add", "-q", "model.pkl", "data/imgs"]);
    let store = tmp.path().join("store");
    dvc(
        &exe,
        &r,
        &["remote", "add", "-d", "store", store.to_str().unwrap()],
    );
    r.commit_all("v1");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "register", "imgs"]).ok();
    r.write("model.pkl", "weights v2");
    r.mlci(&["add", "model.pkl"]).ok();
    r.commit_all("v2");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    r.mlci(&["model", "get", "churn#prod", "-o", "out/prod.pkl"])
        .ok();
    assert_eq!(r.read("out/prod.pkl"), "weights v1");
    r.mlci(&["model", "get", "churn", "-o", "out/latest.pkl"])
        .ok();
    assert_eq!(r.read("out/latest.pkl"), "weights v2");
    // A fresh clone: from DVC's remote, what DVC pushed.
    dvc(&exe, &r, &["push", "-q"]);
    let c = clone_of(&r, &tmp.path().join("clone"));
    c.mlci(&["model", "get", "imgs", "-o", "imgs"]).ok();
    assert_eq!(c.read("imgs/a.txt"), "a");
    assert_eq!(c.read("imgs/sub/b.txt"), "b");
    // A damaged object on the remote: refused, nothing written.
    let md5 = md5_hex(b"weights v2");
    let key = store.join(format!("files/md5/{}/{}", &md5[..2], &md5[2..]));
    let mut perm = std::fs::metadata(&key).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&key, perm).unwrap();
    std::fs::write(&key, "tampered").unwrap();
    let run = c.mlci(&["model", "get", "churn", "-o", "model.pkl"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!c.path("model.pkl").exists());
    assert!(!c.exists(".mlci"));
}

/// The fan-out in a DVC repository: each wave's worker on its own clone
/// (`mlci repro -s STAGE --pull --push`) restores what is upstream of it
/// from DVC's remote run cache (`runs/…`, as `dvc push --run-cache`
/// writes it) and runs only its stage; the join (`--pull
/// --restore-only`) runs nothing and ends with the `dvc.lock` DVC writes
/// on a twin clone, `dvc status` clean. A worker whose upstream has not
/// run stops, naming it; DVC itself restores every stage from what the
/// workers pushed (`dvc fetch --run-cache`, then `dvc repro --pull`: "is
/// cached").
#[test]
fn fan_out_workers_join_through_dvcs_run_cache() {
    let (tmp, r, exe) = dvc_repo();
    r.write("data/raw.txt", "1\n");
    r.write("params.yaml", "lr: 3\n");
    r.write(
        "dvc.yaml",
        "stages:
  prep:
    cmd: cp data/raw.txt prep.txt
    deps: [data/raw.txt]
    outs: [prep.txt]
  train:
    cmd: cat prep.txt params.yaml > model.txt
    deps: [prep.txt]
    params: [lr]
    outs: [model.txt]
  evaluate:
    cmd: wc -c model.txt > score.txt
    deps: [model.txt]
    outs: [score.txt]
",
    );
    let store = tmp.path().join("store");
    dvc(
        &exe,
        &r,
        &["remote", "add", "-d", "store", store.to_str().unwrap()],
    );
    // The input is data DVC tracks: a worker's checkout pulls it first.
    dvc(&exe, &r, &["add", "-q", "data/raw.txt"]);
    dvc(&exe, &r, &["push", "-q"]);
    r.commit_all("pipeline");
    let clone = |name: &str| clone_of(&r, &tmp.path().join(name));
    // The Argo workflow of this DVC project: a task per stage, and the
    // join, as the workers above run them.
    let argo = r
        .mlci(&["export", "argo", "--repo", "https://example.com/p.git"])
        .ok();
    crate::common::pin_output(&argo.stdout);
    // Too early: train's worker before prep ran anywhere.
    let early = clone("early");
    let refused = early
        .mlci(&["repro", "-q", "-s", "train", "--pull", "--push"])
        .user_error();
    crate::common::pin_output(&refused.stderr);
    // One worker per wave.
    for (wave, stage) in ["prep", "train", "evaluate"].iter().enumerate() {
        let w = clone(&format!("wave{wave}"));
        let out = w.mlci(&["repro", "-s", stage, "--pull", "--push"]).ok();
        assert_eq!(ran(&out.stderr), [stage.to_string()], "{}", out.stderr);
    }
    // The join runs nothing, and ends where DVC would.
    let join = clone("join");
    let out = join.mlci(&["repro", "--pull", "--restore-only"]).ok();
    assert!(ran(&out.stderr).is_empty(), "{}", out.stderr);
    let twin = clone("twin");
    dvc(&exe, &twin, &["pull", "-q", "data/raw.txt.dvc"]);
    dvc(&exe, &twin, &["repro", "-q"]);
    assert_eq!(lock_of(&join), lock_of(&twin));
    assert_eq!(both(&join, &exe), [BTreeSet::new(), BTreeSet::new()]);
    assert_eq!(join.read("score.txt"), twin.read("score.txt"));
    // DVC restores every stage from what the workers pushed.
    let theirs = clone("dvc");
    dvc(&exe, &theirs, &["fetch", "--run-cache", "-q"]);
    let log = dvc(&exe, &theirs, &["repro", "--pull"]);
    assert!(ran(&log).is_empty(), "{log}");
    assert_eq!(log.matches("is cached").count(), 3, "{log}");
    assert!(!join.exists(".mlci"));
}

/// `mlci status TARGET…` and `--remote` in a DVC repository: targets
/// select `.dvc` files, paths and stages as `dvc status TARGET` does; the
/// comparison with DVC's remote agrees with `dvc status -c` (not pushed
/// = DVC's "new", not fetched = "deleted", in sync = nothing), on a
/// directory remote and in a fresh clone with no cache.
#[test]
fn status_with_targets_and_the_remote_as_dvc() {
    let (tmp, r, exe) = dvc_repo();
    r.write("data/d/a.txt", "a\n");
    r.write("data/d/b.txt", "b\n");
    r.write("model.bin", "m\n");
    r.write(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: cat model.bin model.bin > out.bin\n    deps: [model.bin]\n    outs: [out.bin]\n",
    );
    dvc(&exe, &r, &["add", "-q", "data/d", "model.bin"]);
    dvc(&exe, &r, &["repro", "-q"]);
    let store = tmp.path().join("store");
    dvc(
        &exe,
        &r,
        &["remote", "add", "-d", "store", store.to_str().unwrap()],
    );
    r.commit_all("data");
    // Targets: one `.dvc` file, a path, a stage.
    r.write("model.bin", "m2\n");
    r.write("data/d/a.txt", "a2\n");
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["status", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&r.mlci(&all).ok().stdout).unwrap()
    };
    let pointers = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] != "unchanged")
            .map(|d| d["pointer"].as_str().unwrap().to_string())
            .collect()
    };
    let theirs = |args: &[&str]| -> BTreeSet<String> {
        let mut all = vec!["status", "--json"];
        all.extend_from_slice(args);
        let d: Value = serde_json::from_str(&dvc(&exe, &r, &all)).unwrap();
        d.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(pointers(&json(&["model.bin.dvc"])), ["model.bin.dvc"]);
    assert_eq!(
        theirs(&["model.bin.dvc"]),
        BTreeSet::from(["model.bin.dvc".to_string()])
    );
    assert_eq!(pointers(&json(&["data/d"])), ["data/d.dvc"]);
    let train = json(&["train"]);
    assert!(pointers(&train).is_empty());
    assert_eq!(train["stages"][0]["name"], "train");
    assert_eq!(train["stages"][0]["state"], "stale");
    r.write("model.bin", "m\n");
    r.write("data/d/a.txt", "a\n");
    // The remote: nothing pushed yet, then everything, then a fresh clone.
    type Verdicts = BTreeSet<(String, String)>;
    let remote = |r: &TestRepo| -> (Verdicts, Verdicts) {
        let m: Value =
            serde_json::from_str(&r.mlci(&["status", "--json", "--remote"]).ok().stdout).unwrap();
        let mine = m["remote"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] != "synced")
            .map(|p| {
                let state = match p["state"].as_str().unwrap() {
                    "not_pushed" => "new",
                    "not_fetched" => "deleted",
                    other => other,
                };
                (p["path"].as_str().unwrap().to_string(), state.to_string())
            })
            .collect();
        let d: Value = serde_json::from_str(&dvc(&exe, r, &["status", "-c", "--json"])).unwrap();
        // DVC also names each file of a directory; mlci says it per
        // output (the directory's files counted in `objects`).
        let d = d.as_object().unwrap();
        // DVC names a directory's files too (and in a fresh clone only
        // them); mlci says it per output: each name is taken to the
        // output it lies in.
        let outs: Vec<&str> = vec!["data/d", "model.bin", "out.bin"];
        let theirs = d
            .iter()
            .map(|(k, v)| {
                let k = k.trim_end_matches('/');
                let out = outs
                    .iter()
                    .find(|o| k == **o || k.starts_with(&format!("{o}/")))
                    .map_or(k, |o| o);
                (out.to_string(), v.as_str().unwrap().to_string())
            })
            .collect();
        (mine, theirs)
    };
    let (mine, theirs) = remote(&r);
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert_eq!(mine, theirs);
    dvc(&exe, &r, &["push", "-q"]);
    let (mine, theirs) = remote(&r);
    assert!(mine.is_empty() && theirs.is_empty(), "{mine:?} {theirs:?}");
    let c = clone_of(&r, &tmp.path().join("clone"));
    let (mine, theirs) = remote(&c);
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert_eq!(mine, theirs);
    let text = c.mlci(&["status", "--remote"]).ok();
    crate::common::pin_output(&text.stdout);
}

/// Run-cache entries travel with `mlci push` and `pull` as with DVC's
/// `--run-cache`: what mlci ran and pushed, DVC restores in a fresh clone
/// (`dvc fetch --run-cache`, `dvc repro --pull`: "is cached"); what DVC
/// ran and pushed with `--run-cache`, `mlci pull` brings and `mlci repro
/// --pull` restores without running.
#[test]
fn run_cache_entries_travel_with_push_and_pull() {
    let (tmp, r, exe) = dvc_repo();
    r.write("params.yaml", "lr: 1\n");
    r.write("raw.txt", "x\n");
    r.write(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: cat raw.txt params.yaml > model.txt\n    deps: [raw.txt]\n    params: [lr]\n    outs: [model.txt]\n",
    );
    let store = tmp.path().join("store");
    dvc(
        &exe,
        &r,
        &["remote", "add", "-d", "store", store.to_str().unwrap()],
    );
    r.commit_all("pipeline");
    // mlci runs lr=1 and pushes; DVC restores it in a fresh clone.
    r.mlci(&["repro"]).ok();
    let pushed = r.mlci(&["push"]).ok();
    assert!(
        pushed.stderr.contains("pushed 1 run-cache entry"),
        "{}",
        pushed.stderr
    );
    let d = clone_of(&r, &tmp.path().join("d"));
    dvc(&exe, &d, &["fetch", "--run-cache", "-q"]);
    let log = dvc(&exe, &d, &["repro", "--pull"]);
    assert!(log.contains("is cached") && ran(&log).is_empty(), "{log}");
    // DVC runs lr=2 and pushes its run cache; mlci restores it.
    d.write("params.yaml", "lr: 2\n");
    dvc(&exe, &d, &["repro", "-q"]);
    dvc(&exe, &d, &["push", "--run-cache", "-q"]);
    let m = clone_of(&r, &tmp.path().join("m"));
    m.write("params.yaml", "lr: 2\n");
    let pulled = m.mlci(&["pull"]).ok();
    assert!(
        pulled.stderr.contains("run-cache entr"),
        "{}",
        pulled.stderr
    );
    // (Its outputs are on the remote, not in this cache: `--pull`, as
    // `dvc repro --pull`.)
    let out = m.mlci(&["repro", "--pull"]).ok();
    assert!(ran(&out.stderr).is_empty(), "{}", out.stderr);
    assert!(out.stderr.contains("restored"), "{}", out.stderr);
    assert_eq!(m.read("model.txt"), d.read("model.txt"));
    assert_eq!(both(&m, &exe), [BTreeSet::new(), BTreeSet::new()]);
}
