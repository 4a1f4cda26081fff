//! Which tracked files were added, deleted, modified or renamed between two
//! revisions, or a revision and the work tree, also inside tracked
//! directories: `dvc diff`'s answer, computed as DVC computes it (read from
//! `dvc/repo/diff.py` and `dvc_data/index/diff.py`):
//!
//! - each side is an index of the tracked outputs (pointer files, and the
//!   cached outputs of `mlci.lock`; in the work tree, the outputs the work
//!   tree's pointers and pipeline declare, hashed from disk), each
//!   directory output with the files of its manifest under it;
//! - keys present on one side only are added or deleted, keys whose hash
//!   (or file/directory kind) differs are modified; a directory output is
//!   named with a trailing `/`, beside the files that changed in it;
//! - a directory whose manifest one side cannot read (not in the cache: a
//!   fresh clone) is compared as a whole, its files left unknown;
//! - an added and a deleted entry with one hash are a rename (the added
//!   paths in order, each taking the first deleted path of its hash);
//! - against the work tree, "not in cache" lists every entry of the
//!   revision whose object the cache lacks (changed or not).
//!
//! Hashes are the repository's (SHA-256 in mlci's format; in a DVC
//! repository used in place, DVC's MD5 from DVC's own files and cache:
//! `dvc_side`), never shown unless asked: without them the JSON is exactly
//! `dvc diff --json`'s for the same history.

mod dvc_side;
pub mod keyed;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;

use crate::pipeline::lock::{cached_outs, LockFile, LOCK_FILE};
use crate::repo::Repo;
use crate::store::cache::Oid;
use crate::store::manifest::Manifest;
use crate::track::{tracked_from_text, Tracked};

/// Why the diff could not be computed (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DataDiffError {
    #[error("revision `{rev}`: {message}")]
    Rev { rev: String, message: String },
    #[error("{file} at {rev}: {message}")]
    Unreadable {
        file: String,
        rev: String,
        message: String,
    },
    #[error(transparent)]
    Track(#[from] crate::track::TrackError),
    #[error(transparent)]
    Target(#[from] crate::targets::TargetError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

impl crate::error::Hint for DataDiffError {
    fn hint(&self) -> Option<String> {
        match self {
            DataDiffError::Rev { .. } => Some(
                "name a commit, branch or tag (shallow CI checkouts need `fetch-depth: 0`)".into(),
            ),
            DataDiffError::Unreadable { .. } => {
                Some("fix the file at that revision, or compare other revisions".into())
            }
            DataDiffError::Track(e) => e.hint(),
            DataDiffError::Target(e) => e.hint(),
            DataDiffError::Pipeline(e) => e.hint(),
        }
    }
}

crate::register_hint!(DataDiffError);

/// One side of the comparison.
#[derive(Debug, Clone)]
pub enum Side {
    Workspace,
    /// A commit (40 hex) and the name it was given.
    Commit {
        id: git2::Oid,
        name: String,
    },
}

/// What a side holds at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Hex digest (a directory's: its manifest's); None when unknown.
    hash: Option<String>,
    dir: bool,
    /// The object is in the cache (always true in the work tree).
    cached: bool,
}

/// A side's index: every tracked output (the roots) and, for each
/// directory output, its files, or None when its manifest is unreadable.
#[derive(Debug, Default)]
struct Index {
    roots: BTreeMap<String, Entry>,
    children: BTreeMap<String, Option<BTreeMap<String, Entry>>>,
}

/// One change, as `dvc diff` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The path (a directory output ends with `/`); for a rename, the new
    /// one.
    pub path: String,
    /// For a rename: the old path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// The hashes before and after (None where a side lacks the entry).
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
}

/// The answer: changes by kind, each sorted by path (the old path for a
/// rename), and, against the work tree, the entries whose objects the
/// cache lacks.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DataDiff {
    pub added: Vec<Change>,
    pub deleted: Vec<Change>,
    pub modified: Vec<Change>,
    pub renamed: Vec<Change>,
    /// None unless the new side is the work tree.
    pub not_in_cache: Option<Vec<Change>>,
}

impl DataDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.deleted.is_empty()
            && self.modified.is_empty()
            && self.renamed.is_empty()
            && self.not_in_cache.as_ref().is_none_or(Vec::is_empty)
    }

    /// Each kind with its changes, in `dvc diff`'s order (added, deleted,
    /// renamed, modified; then "not in cache" against the work tree).
    pub fn kinds(&self) -> Vec<(&'static str, &[Change])> {
        let mut out = vec![
            ("added", self.added.as_slice()),
            ("deleted", self.deleted.as_slice()),
            ("renamed", self.renamed.as_slice()),
            ("modified", self.modified.as_slice()),
        ];
        if let Some(m) = &self.not_in_cache {
            out.push(("not in cache", m.as_slice()));
        }
        out
    }

    /// Files (not directory outputs) changed, per kind: `dvc diff`'s
    /// "files summary".
    pub fn file_counts(&self) -> [(&'static str, usize); 4] {
        let files = |v: &[Change]| v.iter().filter(|c| !c.path.ends_with('/')).count();
        [
            ("added", files(&self.added)),
            ("deleted", files(&self.deleted)),
            ("renamed", files(&self.renamed)),
            ("modified", files(&self.modified)),
        ]
    }

    /// `dvc diff --json`'s document: `{}` when nothing changed, else every
    /// kind (`not in cache` against the work tree only), with the hashes
    /// when `hashes` (`--show-hash`: a rename's single hash, a
    /// modification's `{old, new}`).
    pub fn to_dvc_json(&self, hashes: bool) -> serde_json::Value {
        use serde_json::json;
        if self.is_empty() {
            return json!({});
        }
        let one = |c: &Change, which: Option<&Option<String>>| {
            let mut v = json!({ "path": c.path });
            if hashes {
                v["hash"] = json!(which.cloned().flatten());
            }
            v
        };
        let mut doc = serde_json::Map::new();
        doc.insert(
            "added".into(),
            self.added
                .iter()
                .map(|c| one(c, Some(&c.new_hash)))
                .collect(),
        );
        doc.insert(
            "deleted".into(),
            self.deleted
                .iter()
                .map(|c| one(c, Some(&c.old_hash)))
                .collect(),
        );
        doc.insert(
            "modified".into(),
            self.modified
                .iter()
                .map(|c| {
                    let mut v = json!({ "path": c.path });
                    if hashes {
                        v["hash"] = json!({"old": c.old_hash, "new": c.new_hash});
                    }
                    v
                })
                .collect(),
        );
        doc.insert(
            "renamed".into(),
            self.renamed
                .iter()
                .map(|c| {
                    let mut v = json!({ "path": {"old": c.old_path, "new": c.path} });
                    if hashes {
                        v["hash"] = json!(c.old_hash);
                    }
                    v
                })
                .collect(),
        );
        if let Some(missing) = &self.not_in_cache {
            doc.insert(
                "not in cache".into(),
                missing.iter().map(|c| one(c, Some(&c.old_hash))).collect(),
            );
        }
        serde_json::Value::Object(doc)
    }
}

/// What changed in tracked data from `old` to `new`.
///
/// # Errors
/// A revision, a pointer file or a lock file cannot be read; a work-tree
/// file cannot be hashed.
pub fn diff(
    repo: &Repo,
    old: &Side,
    new: &Side,
    reporter: &dyn crate::progress::Reporter,
) -> Result<DataDiff, DataDiffError> {
    if let (Side::Commit { id: a, .. }, Side::Commit { id: b, .. }) = (old, new) {
        if a == b {
            return Ok(DataDiff::default());
        }
    }
    let a = index(repo, old, reporter)?;
    let b = index(repo, new, reporter)?;
    let with_missing = matches!(new, Side::Workspace);
    Ok(compare(&a, &b, with_missing))
}

fn index(
    repo: &Repo,
    side: &Side,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Index, DataDiffError> {
    if repo.format == crate::repo::format::Format::Dvc {
        return dvc_side::index(repo, side, reporter);
    }
    let mut idx = Index::default();
    match side {
        Side::Commit { id, name } => {
            for t in commit_outputs(repo, *id, name)? {
                let key = t.target_rel.to_string();
                let oid = t.pointer.oid;
                let cached = repo.cache.contains(&oid);
                idx.roots.insert(
                    key.clone(),
                    Entry {
                        hash: Some(oid.digest.to_string()),
                        dir: oid.dir,
                        cached,
                    },
                );
                if oid.dir {
                    let files = repo
                        .cache
                        .read_verified(&oid)
                        .ok()
                        .and_then(|b| Manifest::parse(&b).ok())
                        .map(|m| {
                            m.entries()
                                .iter()
                                .map(|e| {
                                    let f = Oid::file(e.sha256);
                                    (
                                        e.path.clone(),
                                        Entry {
                                            hash: Some(e.sha256.to_string()),
                                            dir: false,
                                            cached: repo.cache.contains(&f),
                                        },
                                    )
                                })
                                .collect()
                        });
                    idx.children.insert(key, files);
                }
            }
        }
        Side::Workspace => {
            // Read-only: the hash state vouches for unchanged files (one
            // stat each) and is not rewritten (`status` and `add` keep it).
            let ws = crate::track::Workspace::open(repo);
            for path in workspace_outputs(repo)? {
                let abs = repo.root.join(&path);
                if abs.symlink_metadata().is_err() {
                    continue;
                }
                let tree = ws.hash_tree(&path, false, reporter)?;
                let dir_abs = abs.clone();
                let files: Option<BTreeMap<String, Entry>> = tree.oid.dir.then(|| {
                    tree.files
                        .iter()
                        .filter_map(|(_, p, _, d)| {
                            let rel = p.strip_prefix(&dir_abs).ok()?;
                            Some((
                                crate::fsutil::to_slash(rel),
                                Entry {
                                    hash: Some(d.to_string()),
                                    dir: false,
                                    cached: true,
                                },
                            ))
                        })
                        .collect()
                });
                idx.roots.insert(
                    path.clone(),
                    Entry {
                        hash: Some(tree.oid.digest.to_string()),
                        dir: tree.oid.dir,
                        cached: true,
                    },
                );
                if let Some(files) = files {
                    idx.children.insert(path, Some(files));
                }
            }
        }
    }
    Ok(idx)
}

/// The outputs the work tree declares: its pointer files' targets and the
/// pipeline's cached outputs.
fn workspace_outputs(repo: &Repo) -> Result<Vec<String>, DataDiffError> {
    let mut out: BTreeSet<String> = crate::track::all_tracked(&repo.root)?
        .into_iter()
        .map(|t| t.target_rel.to_string())
        .collect();
    if let Ok(p) = crate::pipeline::load(&repo.root) {
        out.extend(
            p.stages
                .iter()
                .flat_map(|s| &s.outs)
                .filter(|o| o.cache)
                .map(|o| o.path.to_string()),
        );
    }
    Ok(out.into_iter().collect())
}

/// The tracked outputs at commit `id`: its pointer files and the cached
/// outputs its `mlci.lock` records (`cache: false` ones live in git).
fn commit_outputs(repo: &Repo, id: git2::Oid, name: &str) -> Result<Vec<Tracked>, DataDiffError> {
    const SCAN: crate::git::ScanFor = crate::git::ScanFor {
        pointer_extension: crate::track::pointer::EXTENSION,
        lock_file: LOCK_FILE,
    };
    let blobs = crate::git::pointers_at(&repo.root, &[id.to_string()], &SCAN).map_err(|e| {
        DataDiffError::Rev {
            rev: name.into(),
            message: e.message().into(),
        }
    })?;
    let unreadable = |file: &str, message: String| DataDiffError::Unreadable {
        file: file.into(),
        rev: name.into(),
        message,
    };
    let mut out = Vec::new();
    for blob in blobs {
        if blob.path == LOCK_FILE {
            let lock =
                LockFile::parse(&blob.text).map_err(|e| unreadable(LOCK_FILE, e.to_string()))?;
            let pipeline = crate::pipeline::load::load_at(&repo.root, id).ok();
            out.extend(cached_outs(&lock, pipeline.as_ref()));
        } else {
            out.push(
                tracked_from_text(&blob.path, &blob.text)
                    .map_err(|e| unreadable(&blob.path, e.to_string()))?,
            );
        }
    }
    Ok(out)
}

/// The change kinds of DVC's index diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Delete,
    Modify,
    Same,
}

fn kind(old: Option<&Entry>, new: Option<&Entry>) -> Kind {
    match (old, new) {
        (None, None) => Kind::Same,
        (None, Some(_)) => Kind::Add,
        (Some(_), None) => Kind::Delete,
        (Some(a), Some(b)) if a.dir != b.dir || a.hash != b.hash => Kind::Modify,
        _ => Kind::Same,
    }
}

fn compare(a: &Index, b: &Index, with_missing: bool) -> DataDiff {
    // (key shown, kind, old entry, new entry), in walk order.
    let mut changes: Vec<(String, Kind, Option<Entry>, Option<Entry>)> = Vec::new();
    let mut missing: Vec<Change> = Vec::new();
    let roots: BTreeSet<&String> = a.roots.keys().chain(b.roots.keys()).collect();
    let shown = |key: &str, e: Option<&Entry>, f: Option<&Entry>| {
        if e.or(f).is_some_and(|x| x.dir) {
            format!("{key}/")
        } else {
            key.to_string()
        }
    };
    for root in roots {
        let (x, y) = (a.roots.get(root), b.roots.get(root));
        let k = kind(x, y);
        changes.push((shown(root, x, y), k, x.cloned(), y.cloned()));
        if with_missing {
            if let Some(e) = x.filter(|e| !e.cached) {
                missing.push(Change {
                    path: shown(root, x, y),
                    old_path: None,
                    old_hash: e.hash.clone(),
                    new_hash: None,
                });
            }
        }
        if !(x.is_some_and(|e| e.dir) || y.is_some_and(|e| e.dir)) {
            continue;
        }
        // The directory's files; unknown when a side's manifest is not
        // readable.
        let side = |i: &Index, e: Option<&Entry>| -> Option<BTreeMap<String, Entry>> {
            match e {
                Some(e) if e.dir => i.children.get(root).cloned().flatten(),
                _ => Some(BTreeMap::new()),
            }
        };
        let (Some(xs), Some(ys)) = (side(a, x), side(b, y)) else {
            continue;
        };
        let keys: BTreeSet<&String> = xs.keys().chain(ys.keys()).collect();
        for k in keys {
            let (p, q) = (xs.get(k), ys.get(k));
            let path = format!("{root}/{k}");
            changes.push((path.clone(), kind(p, q), p.cloned(), q.cloned()));
            if with_missing {
                if let Some(e) = p.filter(|e| !e.cached) {
                    missing.push(Change {
                        path,
                        old_path: None,
                        old_hash: e.hash.clone(),
                        new_hash: None,
                    });
                }
            }
        }
    }
    let mut out = DataDiff::default();
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    for (path, k, x, y) in changes {
        let c = Change {
            path,
            old_path: None,
            old_hash: x.as_ref().and_then(|e| e.hash.clone()),
            new_hash: y.as_ref().and_then(|e| e.hash.clone()),
        };
        match k {
            Kind::Add => added.push(c),
            Kind::Delete => deleted.push(c),
            Kind::Modify => out.modified.push(c),
            Kind::Same => {}
        }
    }
    // Renames: DVC's _detect_renames, both lists by key.
    added.sort_by(|p, q| p.path.cmp(&q.path));
    deleted.sort_by(|p, q| p.path.cmp(&q.path));
    let mut by_hash: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (i, d) in deleted.iter().enumerate() {
        if let Some(h) = &d.old_hash {
            by_hash.entry(h.clone()).or_default().push_back(i);
        }
    }
    let mut taken = vec![false; deleted.len()];
    for c in added {
        let from = c
            .new_hash
            .as_ref()
            .and_then(|h| by_hash.get_mut(h))
            .and_then(VecDeque::pop_front);
        match from {
            Some(i) => {
                taken[i] = true;
                out.renamed.push(Change {
                    old_path: Some(deleted[i].path.clone()),
                    old_hash: deleted[i].old_hash.clone(),
                    ..c
                });
            }
            None => out.added.push(c),
        }
    }
    out.deleted = deleted
        .into_iter()
        .zip(taken)
        .filter(|(_, t)| !t)
        .map(|(c, _)| c)
        .collect();
    let by_path = |p: &Change, q: &Change| p.path.cmp(&q.path);
    out.added.sort_by(by_path);
    out.deleted.sort_by(by_path);
    out.modified.sort_by(by_path);
    out.renamed.sort_by(|p, q| p.old_path.cmp(&q.old_path));
    if with_missing {
        missing.sort_by(by_path);
        out.not_in_cache = Some(missing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(h: &str, dir: bool) -> Entry {
        Entry {
            hash: Some(h.into()),
            dir,
            cached: true,
        }
    }

    #[test]
    fn files_inside_a_directory_and_renames_as_dvc_lists_them() {
        let mut a = Index::default();
        let mut b = Index::default();
        a.roots.insert("data".into(), e("d1", true));
        b.roots.insert("data".into(), e("d2", true));
        a.children.insert(
            "data".into(),
            Some(BTreeMap::from([
                ("a.csv".into(), e("1", false)),
                ("b.csv".into(), e("2", false)),
                ("old.csv".into(), e("3", false)),
            ])),
        );
        b.children.insert(
            "data".into(),
            Some(BTreeMap::from([
                ("a.csv".into(), e("1", false)),
                ("b.csv".into(), e("22", false)),
                ("new.csv".into(), e("3", false)),
            ])),
        );
        let d = compare(&a, &b, false);
        let paths = |v: &[Change]| v.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&d.modified), ["data/", "data/b.csv"]);
        assert_eq!(paths(&d.renamed), ["data/new.csv"]);
        assert_eq!(d.renamed[0].old_path.as_deref(), Some("data/old.csv"));
        assert!(d.added.is_empty() && d.deleted.is_empty());
        // A side whose manifest is unreadable: the directory as a whole.
        b.children.insert("data".into(), None);
        let d = compare(&a, &b, false);
        assert_eq!(paths(&d.modified), ["data/"]);
    }
}
