//! Integrity of a cache and a remote (`mlci fsck`): every object against its
//! name, every directory manifest, every pointer file and `mlci.lock` entry,
//! every run record; each problem reported once, with the paths that use the
//! object and what to do.
//!
//! What is checked, in order:
//! 1. leftovers of killed commands (temp files in the cache) are removed,
//!    under the repository lock, and counted;
//! 2. references are gathered: pointer files, `mlci.lock` outs, and the
//!    files of every referenced directory manifest;
//! 3. every object in the cache is hashed, except one whose stat is what it
//!    was when mlci last hashed it whole (`StateDb::objects`) unless `full`;
//!    one whose size differs from what a pointer or manifest records is
//!    damaged without reading it;
//! 4. every run record is parsed (checked paths, well-formed hashes), must
//!    name each path once, and must name no path that a pointer tracks or a
//!    stage reads without also writing (a poisoned record could otherwise
//!    overwrite an input on restore);
//! 5. every referenced object must exist: in the cache or, with a remote, on
//!    it (`remote.rs`: listing sizes, and hashes with `full`).
//!
//! Repair (`repair.rs`) moves damaged objects and records aside into
//! `.mlci/cache/lost-found/` (never deletes them) and fetches good copies of
//! damaged and missing objects from the remote.

mod remote;
mod repair;

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::pipeline::runcache;
use crate::repo::Repo;
use crate::store::cache::{Cache, CacheError, Oid};
use crate::store::manifest::Manifest;
use crate::store::state::{StatKey, StateDb};

pub use repair::Repaired;

/// What kind of damage a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An object whose bytes are not its name's (a flipped byte, a
    /// truncation, a size other than the pointer's).
    Corrupt,
    /// An object a pointer, lock entry, manifest or run record names that is
    /// in neither the cache nor the remote checked.
    Missing,
    /// A directory object whose bytes are its name's but not a manifest.
    BadManifest,
    /// A pointer file or `mlci.lock` that does not parse.
    BadPointer,
    /// A run record that does not parse or names what no stage may write.
    BadRecord,
    /// A copy on the remote whose size or bytes are not its name's.
    RemoteCorrupt,
    /// A run record on the remote that is not sound (`--full`).
    RemoteBadRecord,
}

/// One problem, reported once.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: Kind,
    /// The object's id (`sha256` hex, `.dir` for a manifest) or the record's
    /// key, when the problem is about one.
    pub object: Option<String>,
    /// The workspace paths (or files) that use it, sorted.
    pub paths: Vec<String>,
    /// What is wrong, in one line.
    pub detail: String,
    /// What to do about it.
    pub action: String,
    /// What `--repair` did, when it ran.
    pub repaired: Option<Repaired>,
}

/// Counts of what was looked at.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Checked {
    pub objects: usize,
    /// Of `objects`: read and hashed now.
    pub hashed: usize,
    /// Of `objects`: trusted by an unchanged stat.
    pub trusted: usize,
    pub manifests: usize,
    pub pointers: usize,
    pub lock_entries: usize,
    pub run_records: usize,
    /// Temp files of killed commands, removed.
    pub temp_files_removed: u64,
    /// Objects looked up on the remote (with `--remote`).
    pub remote_objects: usize,
}

/// What `fsck` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub checked: Checked,
    pub problems: Vec<Problem>,
}

impl Report {
    /// Problems that are still there (not repaired).
    pub fn unresolved(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.repaired.as_ref().is_none_or(|r| !r.fixed))
            .count()
    }
}

/// How to check.
pub struct Options<'a> {
    /// Hash every object, stat or not (and, with a remote, download and hash
    /// every referenced object there).
    pub full: bool,
    /// The remote to look up missing objects on and to check.
    pub remote: Option<&'a crate::remote::Remote>,
    /// Move damage aside and fetch good copies (needs a remote to fetch).
    pub repair: bool,
}

/// Who uses each object, and the size they record for it.
#[derive(Default)]
pub(crate) struct Refs {
    pub users: HashMap<Oid, BTreeSet<String>>,
    pub sizes: HashMap<Oid, u64>,
}

impl Refs {
    fn add(&mut self, oid: Oid, user: String, size: Option<u64>) {
        self.users.entry(oid).or_default().insert(user);
        if let Some(s) = size {
            self.sizes.insert(oid, s);
        }
    }
    fn users_of(&self, oid: &Oid) -> Vec<String> {
        self.users
            .get(oid)
            .map(|u| u.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Runs every check on `repo` (whose lock the caller holds).
pub fn check(repo: &Repo, opts: &Options<'_>) -> anyhow::Result<Report> {
    let cache = &repo.cache;
    let mut report = Report::default();
    report.checked.temp_files_removed = cache.clean_tmp()?;

    let mut refs = Refs::default();
    let guarded = references(repo, &mut refs, &mut report);

    // Objects: hash what the stat does not vouch for.
    let mut state = StateDb::load(&repo.state_path());
    let listed = cache.list()?;
    let present: HashMap<Oid, u64> = listed.iter().copied().collect();
    report.checked.objects = listed.len();
    let memo = state.objects();
    let verdicts: Vec<(Oid, Verdict)> = listed
        .par_iter()
        .map(|(oid, size)| {
            (
                *oid,
                verify(cache, oid, *size, refs.sizes.get(oid), opts.full, &memo),
            )
        })
        .collect();
    let mut damaged: HashSet<Oid> = HashSet::new();
    for (oid, v) in verdicts {
        match v {
            Verdict::Trusted => report.checked.trusted += 1,
            Verdict::Whole(key) => {
                report.checked.hashed += 1;
                state.record_object(&oid.digest, &key);
            }
            Verdict::Damaged(detail) => {
                report.checked.hashed += 1;
                damaged.insert(oid);
                report.problems.push(problem(Kind::Corrupt, &oid, detail));
            }
        }
    }

    manifests(cache, &present, &mut damaged, &mut refs, &mut report);
    // A file object read before its manifest gave its size: check it now.
    for (oid, size) in &present {
        if damaged.contains(oid) {
            continue;
        }
        if let Some(want) = refs.sizes.get(oid).filter(|w| !oid.dir && *w != size) {
            damaged.insert(*oid);
            report.problems.push(problem(
                Kind::Corrupt,
                oid,
                format!("{size} bytes where {want} are recorded"),
            ));
        }
    }

    run_records(cache, &guarded, &mut refs, &mut report);

    // Missing objects: referenced, not in the cache (the remote decides).
    let mut missing: Vec<Oid> = refs
        .users
        .keys()
        .filter(|o| !present.contains_key(o))
        .copied()
        .collect();
    missing.sort();
    let on_remote = match opts.remote {
        Some(r) => {
            let local = remote::Local {
                present: &present,
                damaged: &damaged,
                missing: &missing,
            };
            let held = remote::check(r, &refs, &local, opts.full, &mut report)?;
            if opts.full {
                report.checked.run_records += remote::records(r, &guarded, &mut report)?;
            }
            held
        }
        None => HashSet::new(),
    };
    for oid in &missing {
        let detail = match opts.remote {
            // Not damage (a fetch brings it), but a repair brings it too: a
            // repair killed after moving an object aside must be resumable.
            Some(r) if on_remote.contains(oid) && opts.repair => {
                format!("not in the cache; remote `{}` has it", r.name)
            }
            Some(_) if on_remote.contains(oid) => continue,
            Some(r) => format!("in neither the cache nor remote `{}`", r.name),
            None => "not in the cache".to_string(),
        };
        report.problems.push(problem(Kind::Missing, oid, detail));
    }

    // Each problem names its users; one per object and kind.
    for p in report.problems.iter_mut() {
        if let Some(oid) = p.object.as_deref().and_then(|o| o.parse::<Oid>().ok()) {
            p.paths = refs.users_of(&oid);
        }
        p.action = action(p.kind, opts.remote.map(|r| r.name.as_str()));
    }
    report
        .problems
        .sort_by(|a, b| (a.kind, &a.object).cmp(&(b.kind, &b.object)));
    report
        .problems
        .dedup_by(|a, b| a.kind == b.kind && a.object == b.object && a.object.is_some());

    if opts.repair {
        repair::repair(repo, opts.remote, &mut report, &refs, &mut state)?;
    }
    state.save()?;
    Ok(report)
}

/// Parses every directory object that is whole, referenced or not; the
/// files of referenced ones become references (`dir/file`).
fn manifests(
    cache: &Cache,
    present: &HashMap<Oid, u64>,
    damaged: &mut HashSet<Oid>,
    refs: &mut Refs,
    report: &mut Report,
) {
    let mut dirs: Vec<Oid> = present.keys().filter(|o| o.dir).copied().collect();
    dirs.sort();
    for oid in dirs {
        if damaged.contains(&oid) {
            continue;
        }
        report.checked.manifests += 1;
        let parsed = cache
            .read_verified(&oid)
            .map_err(|e| e.to_string())
            .and_then(|b| Manifest::parse(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(m) => {
                let Some(users) = refs.users.get(&oid).cloned() else {
                    continue;
                };
                for e in m.entries() {
                    for u in &users {
                        refs.add(Oid::file(e.sha256), format!("{u}/{}", e.path), Some(e.size));
                    }
                }
            }
            Err(detail) => {
                damaged.insert(oid);
                report.problems.push(problem(
                    Kind::BadManifest,
                    &oid,
                    format!("not a directory manifest: {detail}"),
                ));
            }
        }
    }
}

enum Verdict {
    Trusted,
    /// Hashed whole; its stat now, to vouch for it next time.
    Whole(StatKey),
    Damaged(String),
}

fn verify(
    cache: &Cache,
    oid: &Oid,
    size: u64,
    recorded: Option<&u64>,
    full: bool,
    memo: &crate::store::state::ObjectMemo<'_>,
) -> Verdict {
    if let Some(want) = recorded.filter(|w| !oid.dir && **w != size) {
        return Verdict::Damaged(format!("{size} bytes where {want} are recorded"));
    }
    let path = cache.object_path(oid);
    let key = match fs_err::symlink_metadata(&path) {
        Ok(m) => StatKey::of(&m),
        Err(e) => return Verdict::Damaged(format!("cannot stat {}: {e}", path.display())),
    };
    if !full && memo.vouches(&oid.digest, &key) {
        return Verdict::Trusted;
    }
    match cache.verify(oid) {
        Ok(()) => Verdict::Whole(key),
        Err(CacheError::Corrupt { actual, .. }) => {
            Verdict::Damaged(format!("its bytes hash to {actual} ({size} bytes)"))
        }
        Err(e) => Verdict::Damaged(e.to_string()),
    }
}

fn problem(kind: Kind, oid: &Oid, detail: String) -> Problem {
    Problem {
        kind,
        object: Some(oid.to_string()),
        paths: Vec::new(),
        detail,
        action: String::new(),
        repaired: None,
    }
}

/// Gathers pointer and lock references; returns the paths a run record
/// must never name: tracked by a pointer, or read by a stage that does not
/// write them.
fn references(repo: &Repo, refs: &mut Refs, report: &mut Report) -> BTreeSet<String> {
    let root = &repo.root;
    let mut guarded = BTreeSet::new();
    let bad_pointer = |file: &str, detail: String| Problem {
        kind: Kind::BadPointer,
        object: None,
        paths: vec![file.to_string()],
        detail,
        action: String::new(),
        repaired: None,
    };
    match crate::track::find_pointers(root) {
        Ok(pointers) => {
            for p in pointers {
                report.checked.pointers += 1;
                match crate::track::load_pointer(root, &p) {
                    Ok(t) => {
                        let oid = t.pointer.oid;
                        guarded.insert(t.target_rel.to_string());
                        refs.add(
                            oid,
                            t.target_rel.to_string(),
                            (!oid.dir).then_some(t.pointer.size),
                        );
                    }
                    Err(e) => report.problems.push(bad_pointer(&p, e.to_string())),
                }
            }
        }
        Err(e) => report.problems.push(bad_pointer(".", e.to_string())),
    }
    let pipeline = crate::pipeline::load(root).ok();
    if let Some(p) = &pipeline {
        let written: HashSet<&str> = p
            .stages
            .iter()
            .flat_map(|s| &s.outs)
            .map(|o| o.path.as_str())
            .collect();
        for s in &p.stages {
            guarded.extend(
                s.deps
                    .iter()
                    .map(|d| d.to_string())
                    .filter(|d| !written.contains(d.as_str())),
            );
        }
    }
    let lock_file = crate::pipeline::lock::LOCK_FILE;
    if root.join(lock_file).exists() {
        match crate::pipeline::lock::LockFile::load(root) {
            Ok(lock) => {
                let cached = |path: &str| {
                    pipeline.as_ref().is_none_or(|p| {
                        p.stages
                            .iter()
                            .flat_map(|s| &s.outs)
                            .find(|o| o.path == path)
                            .is_none_or(|o| o.cache)
                    })
                };
                for (stage, entry) in &lock.stages {
                    for o in &entry.outs {
                        report.checked.lock_entries += 1;
                        match o.oid() {
                            Some(oid) if cached(&o.path) => refs.add(
                                oid,
                                format!("{} (stage `{stage}`)", o.path),
                                (!oid.dir).then_some(o.size),
                            ),
                            Some(_) => {}
                            None => report.problems.push(bad_pointer(
                                lock_file,
                                format!(
                                    "stage `{stage}`: out `{}` has a malformed hash `{}`",
                                    o.path, o.sha256
                                ),
                            )),
                        }
                    }
                }
            }
            Err(e) => report.problems.push(bad_pointer(lock_file, e.to_string())),
        }
    }
    guarded
}

/// Parses every run record in the cache; adds the objects of sound ones to
/// the references.
fn run_records(cache: &Cache, guarded: &BTreeSet<String>, refs: &mut Refs, report: &mut Report) {
    for (key, path) in runcache::record_files(cache) {
        report.checked.run_records += 1;
        let bad = |detail: String| Problem {
            kind: Kind::BadRecord,
            object: Some(key.clone()),
            paths: Vec::new(),
            detail,
            action: String::new(),
            repaired: None,
        };
        let Some(digest) = runcache::parse_record_key(&key) else {
            report.problems.push(bad(
                "not named as a run record is (`runs/<2 hex>/<62 hex>`)".into(),
            ));
            continue;
        };
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) => {
                report
                    .problems
                    .push(bad(format!("cannot read {}: {e}", path.display())));
                continue;
            }
        };
        let record = match sound_record(&bytes, guarded) {
            Ok(r) => r,
            Err(f) => {
                report.problems.push(bad(f));
                continue;
            }
        };
        let short = &digest.to_hex()[..10];
        for o in &record.outs {
            if let Some(oid) = o.oid() {
                refs.add(
                    oid,
                    format!("{} (run record {short})", o.path),
                    (!oid.dir).then_some(o.size),
                );
            }
        }
    }
}

/// The record `bytes` hold when it is sound: it parses (checked paths),
/// names each path once, every hash well-formed, and no path in `guarded`
/// (tracked by a pointer, or read by a stage that does not write it).
/// Err: what is wrong, in one line.
pub(crate) fn sound_record(
    bytes: &[u8],
    guarded: &BTreeSet<String>,
) -> Result<runcache::Record, String> {
    let record: runcache::Record =
        serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))?;
    let mut seen = BTreeSet::new();
    for o in &record.outs {
        if !seen.insert(o.path.as_str()) {
            return Err(format!("names `{}` twice", o.path));
        }
        if guarded.contains(o.path.as_str()) {
            return Err(format!(
                "names `{}`, which is tracked or read by a stage, not a stage's output",
                o.path
            ));
        }
        if o.oid().is_none() {
            return Err(format!("`{}` has a malformed hash `{}`", o.path, o.sha256));
        }
    }
    Ok(record)
}

/// What to do about a kind of problem.
fn action(kind: Kind, remote: Option<&str>) -> String {
    let fetch = match remote {
        Some(r) => format!("`mlci fsck --repair --remote {r}` moves it aside and fetches a good copy"),
        None => "`mlci fsck --repair --remote NAME` moves it aside and fetches a good copy from that remote".into(),
    };
    match kind {
        Kind::Corrupt | Kind::BadManifest => fetch,
        Kind::Missing => match remote {
            Some(_) => "push it from a machine whose cache has it (`mlci push`), or re-create it (`mlci add`, `mlci repro`)".into(),
            None => "fetch it (`mlci fetch`), or check whether a remote has it with `mlci fsck --remote NAME`".into(),
        },
        Kind::BadPointer => "restore the file from git (`git checkout -- FILE`) or fix it by hand".into(),
        Kind::BadRecord => "`mlci fsck --repair` moves the record aside; mlci never uses it meanwhile".into(),
        Kind::RemoteCorrupt => "delete the bad copy on the remote, then `mlci push` from a machine whose cache has a good one".into(),
        Kind::RemoteBadRecord => "delete that key on the remote; a fetch refuses it, so it restores nothing meanwhile".into(),
    }
}
