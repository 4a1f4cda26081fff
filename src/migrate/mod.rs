//! Adopting mlci in a DVC repository (`mlci import-dvc`): DVC's remotes
//! become mlci remotes, every object DVC tracks (through `.dvc` files and
//! `dvc.lock`) is found in DVC's local cache or on a DVC remote, checked
//! against the MD5 DVC recorded, and stored in mlci's cache by SHA-256;
//! then a `.mlci` pointer is written beside each `.dvc` file and an
//! `mlci.lock` entry for every stage whose `dvc.lock` entry still matches
//! the workspace, so the first `mlci repro` runs nothing DVC had run.
//!
//! Everything read here is untrusted: paths in `.dvc` files, `dvc.lock` and
//! directory listings pass the workspace path rule, and an object whose
//! MD5 does not match is reported and never stored.

pub mod dvc_config;
pub mod dvc_files;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::Hint;
use crate::pipeline::lock::{LockCmd, LockEntry, LockFile, LockStage};
use crate::remote::Remote;
use crate::repo::Repo;
use crate::store::cache::Oid;
use crate::store::hash::Digest;
use crate::store::manifest::{Entry, Manifest};
use crate::track::pointer::{pointer_path_for, Pointer};
use crate::workspace_path::WorkspacePath;
use dvc_files::{md5_hex, object_keys, DvcOut};

/// Why the migration could not run at all (problems with single objects
/// are collected in [`Outcome::problems`] instead).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Lock(#[from] crate::pipeline::lock::LockFileError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Hint for MigrateError {
    fn hint(&self) -> Option<String> {
        match self {
            MigrateError::Unreadable { .. } => {
                Some("fix or restore the file from git, then run `mlci import-dvc` again".into())
            }
            MigrateError::Remote(e) => e.hint(),
            MigrateError::Lock(e) => e.hint(),
            MigrateError::Pipeline(e) => e.hint(),
            MigrateError::Io(_) => None,
        }
    }
}

crate::register_hint!(MigrateError);

/// A path DVC tracks with a `.dvc` file.
#[derive(Debug, Clone)]
pub struct DvcTracked {
    /// The `.dvc` file, repo-relative.
    pub dvc_file: String,
    /// The data, repo-relative.
    pub target: String,
    pub out: DvcOut,
}

/// What the repository holds of DVC's, before anything is moved.
#[derive(Debug, Default)]
pub struct Plan {
    pub config: dvc_config::DvcConfig,
    pub tracked: Vec<DvcTracked>,
    pub lock: BTreeMap<String, dvc_files::DvcLockStage>,
    /// What is not migrated, with what to do about it.
    pub not_migrated: Vec<String>,
}

impl Plan {
    /// Bytes DVC recorded for the data it tracks (`.dvc` files and stage
    /// outputs), what a migration moves at most.
    pub fn bytes(&self) -> u64 {
        let outs = self.lock.values().flat_map(|s| &s.outs);
        self.tracked
            .iter()
            .map(|t| &t.out)
            .chain(outs)
            .filter_map(|o| o.size)
            .sum()
    }
}

/// Reads DVC's config, `.dvc` files and `dvc.lock` under `root`.
pub fn plan(root: &Path) -> Result<Plan, MigrateError> {
    let mut plan = Plan {
        config: dvc_config::read(root),
        ..Plan::default()
    };
    let src = crate::pipeline::source::WorkTree(root);
    for dvc_file in dvc_files_in(root) {
        let text = read(&src, &dvc_file)?.unwrap_or_default();
        let parsed = dvc_files::parse_dvc_file(&text, &dvc_file).map_err(|message| {
            MigrateError::Unreadable {
                file: dvc_file.clone(),
                message,
            }
        })?;
        if parsed.imports {
            plan.not_migrated.push(format!(
                "{dvc_file}: an import from another repository or URL (`dvc import`, `dvc import-url`): fetch the data once (`dvc update` or by hand) and `mlci add` it"
            ));
            continue;
        }
        let dir = Path::new(&dvc_file)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        for out in parsed.outs {
            let target = if dir.is_empty() {
                out.path.clone()
            } else {
                format!("{dir}/{}", out.path)
            };
            if WorkspacePath::new(&target).is_err() || out.digest().is_none() {
                plan.not_migrated.push(format!(
                    "{dvc_file}: `{}` is not a path and MD5 mlci can take",
                    out.path
                ));
                continue;
            }
            plan.tracked.push(DvcTracked {
                dvc_file: dvc_file.clone(),
                target,
                out,
            });
        }
    }
    // `dvc.lock` beside each `dvc.yaml`; a stage of `sub/dvc.lock` is
    // `sub/dvc.yaml:NAME`, as the pipeline names it.
    use crate::pipeline::source::Source;
    let nested = src
        .nested_pipeline_files()
        .map_err(|e| MigrateError::Unreadable {
            file: "dvc.yaml".into(),
            message: e.message,
        })?;
    let locks = std::iter::once((String::new(), "dvc.lock".to_string())).chain(
        nested
            .iter()
            .filter_map(|y| y.strip_suffix("dvc.yaml"))
            .map(|dir| (format!("{dir}dvc.yaml:"), format!("{dir}dvc.lock"))),
    );
    for (prefix, lock) in locks {
        if let Some(text) = read(&src, &lock)? {
            let stages =
                dvc_files::parse_dvc_lock(&text).map_err(|message| MigrateError::Unreadable {
                    file: lock.clone(),
                    message,
                })?;
            for (name, stage) in stages {
                plan.lock.insert(format!("{prefix}{name}"), stage);
            }
        }
    }
    Ok(plan)
}

fn read(
    src: &dyn crate::pipeline::source::Source,
    file: &str,
) -> Result<Option<String>, MigrateError> {
    src.read(file).map_err(|e| MigrateError::Unreadable {
        file: file.into(),
        message: e.message,
    })
}

/// The `.dvc` files of the work tree (as git sees it: ignored files and
/// `.git/`, `.dvc/`, `.mlci/` are skipped), repo-relative, sorted.
pub fn dvc_files_in(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = ignore::WalkBuilder::new(root)
        .hidden(false)
        .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".dvc" | ".mlci")))
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let rel = e.path().strip_prefix(root).ok()?.to_str()?.to_string();
            rel.ends_with(".dvc").then_some(rel)
        })
        .collect();
    out.sort();
    out
}

/// What a migration did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Pointers written (repo-relative), and those already in place.
    pub pointers: Vec<String>,
    pub pointers_kept: usize,
    /// Stages given an `mlci.lock` entry.
    pub stages: Vec<String>,
    /// Stages left without one, and why (DVC would rerun them too, or mlci
    /// could not verify what DVC recorded).
    pub stages_skipped: Vec<(String, String)>,
    /// Objects stored in mlci's cache now, and their bytes.
    pub objects: usize,
    /// Objects an earlier (interrupted) run brought over: not fetched again.
    pub reused: usize,
    pub bytes: u64,
    /// Objects that could not be migrated, by the path that uses them.
    pub problems: Vec<(String, String)>,
}

/// Where DVC's objects are read from: the local cache, then the remotes.
pub struct Sources<'a> {
    pub repo: &'a Repo,
    /// DVC's remotes opened as mlci remotes, the default one first.
    pub remotes: Vec<Remote>,
    pub jobs: usize,
    /// Progress: one unit per file object.
    pub reporter: &'a dyn crate::progress::Reporter,
}

/// An object brought over: its mlci id, size and file count.
#[derive(Debug, Clone, Copy)]
struct Brought {
    oid: Oid,
    size: u64,
    nfiles: Option<u64>,
}

struct Importer<'a> {
    src: &'a Sources<'a>,
    /// DVC's cache directory (`cache.dir`, else `.dvc/cache`).
    dvc_cache: std::path::PathBuf,
    rt: tokio::runtime::Runtime,
    done: Mutex<HashMap<String, Brought>>,
    stored: Mutex<(usize, u64)>,
    /// What earlier runs brought over (MD5 -> mlci object), so a rerun
    /// after an interruption fetches nothing twice; appended as it goes.
    memo: Mutex<Memo>,
}

/// `.mlci/tmp/import-dvc.memo`: one `md5 sha256 size` line per file object
/// brought over. A torn last line (a kill mid-write) is ignored; an entry
/// is used only while its object is in the cache.
struct Memo {
    known: HashMap<String, (Digest, u64)>,
    file: Option<std::fs::File>,
    reused: usize,
}

impl Memo {
    fn open(path: &Path) -> Memo {
        let known = fs_err::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                let (md5, sha, size) = (it.next()?, it.next()?, it.next()?);
                let digest: Digest = sha.parse().ok()?;
                Some((md5.to_string(), (digest, size.parse().ok()?)))
            })
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        Memo {
            known,
            file,
            reused: 0,
        }
    }

    fn record(&mut self, md5: &str, b: &Brought) {
        use std::io::Write;
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{md5} {} {}", b.oid.digest.to_hex(), b.size);
        }
    }
}

impl Importer<'_> {
    /// The bytes of DVC object `md5` (a listing when `dir`), checked
    /// against its name. Err: why it could not be had.
    fn fetch(&self, md5: &str, dir: bool) -> Result<Vec<u8>, String> {
        let local = &self.dvc_cache;
        let mut corrupt = None;
        for (i, key) in object_keys(md5, dir).iter().enumerate() {
            if let Ok(bytes) = fs_err::read(local.join(key)) {
                if named_by(&bytes, md5, i == 1 && !dir) {
                    return Ok(bytes);
                }
                corrupt = Some(format!(
                    "DVC's cache holds a damaged copy ({})",
                    local.join(key).display()
                ));
            }
        }
        for remote in &self.src.remotes {
            for (i, key) in object_keys(md5, dir).into_iter().enumerate() {
                match self
                    .rt
                    .block_on(remote.read_key(&key, crate::limits::MANIFEST_BYTES))
                {
                    Ok(Some(bytes)) if named_by(&bytes, md5, i == 1 && !dir) => return Ok(bytes),
                    Ok(Some(_)) => {
                        corrupt = Some(format!(
                            "remote `{}` holds a damaged copy ({key}: its MD5 is not {md5})",
                            remote.name
                        ))
                    }
                    Ok(None) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Err(corrupt.unwrap_or_else(|| {
            format!("object {md5} is in neither DVC's cache nor any DVC remote")
        }))
    }

    /// Stores one file object; the mlci object and its size.
    fn file(&self, md5: &str) -> Result<Brought, String> {
        if let Some(b) = self.done.lock().expect("done").get(md5) {
            return Ok(*b);
        }
        let cache = &self.src.repo.cache;
        {
            let mut memo = self.memo.lock().expect("memo");
            if let Some(&(digest, size)) = memo.known.get(md5) {
                let oid = Oid::file(digest);
                if cache.contains(&oid) {
                    memo.reused += 1;
                    let b = Brought {
                        oid,
                        size,
                        nfiles: None,
                    };
                    self.done.lock().expect("done").insert(md5.to_string(), b);
                    self.src.reporter.inc(1);
                    return Ok(b);
                }
            }
        }
        if let Some(b) = self.stream_from_local_cache(md5) {
            self.memo.lock().expect("memo").record(md5, &b);
            self.done.lock().expect("done").insert(md5.to_string(), b);
            self.src.reporter.inc(1);
            return Ok(b);
        }
        let b = self.stream_from_remotes(md5)?;
        self.memo.lock().expect("memo").record(md5, &b);
        self.done.lock().expect("done").insert(md5.to_string(), b);
        self.src.reporter.inc(1);
        Ok(b)
    }

    /// A file object from DVC's local cache, streamed: its MD5 checked in
    /// one pass, then stored by the cache's own copy-while-hashing (a
    /// reflink where the file system has them). None when it is not there
    /// or is damaged (the remotes are asked then).
    fn stream_from_local_cache(&self, md5: &str) -> Option<Brought> {
        use std::io::Read;
        let local = &self.dvc_cache;
        for (i, key) in object_keys(md5, false).iter().enumerate() {
            let path = local.join(key);
            #[allow(clippy::disallowed_methods)]
            // its error names the path as shown, or is matched by kind
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let mut hasher = dvc_files::LegacyMd5::default();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        size += n as u64;
                    }
                    Err(_) => return None,
                }
            }
            // DVC 2's layout may name a text file by its dos2unix MD5.
            let (raw, d2u) = hasher.finish();
            if raw != md5 && !(i == 1 && d2u == md5) {
                continue;
            }
            let cache = &self.src.repo.cache;
            let digest = cache.insert_file(&path, size, None, true).ok()?;
            let mut s = self.stored.lock().expect("stored");
            s.0 += 1;
            s.1 += size;
            return Some(Brought {
                oid: Oid::file(digest),
                size,
                nfiles: None,
            });
        }
        None
    }

    /// A file object from the first DVC remote that has a good copy,
    /// streamed to a temp file under the cache (MD5 checked on the way,
    /// memory bounded by the chunk size), then stored by SHA-256.
    fn stream_from_remotes(&self, md5: &str) -> Result<Brought, String> {
        use std::io::Write;
        let cache = &self.src.repo.cache;
        let tmp_dir = cache.tmp_dir();
        fs_err::create_dir_all(&tmp_dir).map_err(|e| e.to_string())?;
        let mut damaged = None;
        for remote in &self.src.remotes {
            for (i, key) in object_keys(md5, false).into_iter().enumerate() {
                let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|e| e.to_string())?;
                let mut out = std::io::BufWriter::new(tmp.as_file());
                let mut hasher = dvc_files::LegacyMd5::default();
                let mut size = 0u64;
                let found = self
                    .rt
                    .block_on(remote.read_key_chunks(&key, |chunk| {
                        hasher.update(chunk);
                        size += chunk.len() as u64;
                        out.write_all(chunk)
                    }))
                    .map_err(|e| e.to_string())?;
                if !found {
                    continue;
                }
                out.flush().map_err(|e| e.to_string())?;
                drop(out);
                let (raw, d2u) = hasher.finish();
                if raw != md5 && !(i == 1 && d2u == md5) {
                    damaged = Some(format!(
                        "remote `{}` holds a damaged copy ({key}: its MD5 is not {md5})",
                        remote.name
                    ));
                    continue;
                }
                let digest = cache
                    .insert_file(tmp.path(), size, None, false)
                    .map_err(|e| e.to_string())?;
                let mut s = self.stored.lock().expect("stored");
                s.0 += 1;
                s.1 += size;
                return Ok(Brought {
                    oid: Oid::file(digest),
                    size,
                    nfiles: None,
                });
            }
        }
        Err(damaged.unwrap_or_else(|| {
            format!("object {md5} is in neither DVC's cache nor any DVC remote")
        }))
    }

    /// Stores a directory: its listing's files, then its manifest.
    fn dir(&self, md5: &str) -> Result<Brought, String> {
        let key = format!("{md5}.dir");
        if let Some(b) = self.done.lock().expect("done").get(&key) {
            return Ok(*b);
        }
        let listing = dvc_files::parse_dir(&self.fetch(md5, true)?)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.src.jobs.max(1))
            .build()
            .map_err(|e| e.to_string())?;
        let files: Vec<Result<Entry, String>> = pool.install(|| {
            listing
                .par_iter()
                .map(|e| {
                    let b = self
                        .file(&e.md5)
                        .map_err(|why| format!("{}: {why}", e.relpath))?;
                    Ok(Entry {
                        path: e.relpath.clone(),
                        sha256: b.oid.digest,
                        size: b.size,
                    })
                })
                .collect()
        });
        let entries: Vec<Entry> = files.into_iter().collect::<Result<_, _>>()?;
        let (size, nfiles) = (entries.iter().map(|e| e.size).sum(), entries.len() as u64);
        let (digest, bytes) = Manifest::from_entries(entries).encode();
        let oid = Oid::dir(digest);
        self.src
            .repo
            .cache
            .put_bytes(&oid, &bytes)
            .map_err(|e| e.to_string())?;
        let b = Brought {
            oid,
            size,
            nfiles: Some(nfiles),
        };
        self.done.lock().expect("done").insert(key, b);
        Ok(b)
    }

    fn out(&self, out: &DvcOut) -> Result<Brought, String> {
        let md5 = out.digest().ok_or("no MD5 recorded")?;
        if out.is_dir() {
            self.dir(md5)
        } else {
            self.file(md5)
        }
    }
}

/// Runs the migration planned in `plan`: objects, pointers, lock entries.
/// Objects that cannot be had are listed in the outcome; nothing is written
/// for the paths that use them.
pub fn import(plan: &Plan, src: &Sources<'_>) -> Result<Outcome, MigrateError> {
    let imp = Importer {
        src,
        dvc_cache: plan.config.cache_path(&src.repo.root),
        rt: crate::remote::runtime()?,
        done: Mutex::new(HashMap::new()),
        stored: Mutex::new((0, 0)),
        memo: Mutex::new(Memo::open(&src.repo.tmp_dir().join("import-dvc.memo"))),
    };
    let root = &src.repo.root;
    let mut outcome = Outcome::default();
    let files: u64 = plan
        .tracked
        .iter()
        .map(|t| &t.out)
        .chain(plan.lock.values().flat_map(|s| &s.outs))
        .map(|o| o.nfiles.unwrap_or(1))
        .sum();
    src.reporter.start("importing DVC's data", Some(files));
    for t in &plan.tracked {
        let b = match imp.out(&t.out) {
            Ok(b) => b,
            Err(why) => {
                outcome.problems.push((t.target.clone(), why));
                continue;
            }
        };
        let pointer_rel = pointer_path_for(Path::new(&t.target))
            .to_string_lossy()
            .into_owned();
        let pointer = Pointer {
            path: Path::new(&t.target)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            oid: b.oid,
            size: b.size,
            nfiles: b.nfiles,
        };
        let pointer_abs = WorkspacePath::new(&pointer_rel)
            .and_then(|p| p.locate(root))
            .map_err(|e| MigrateError::Unreadable {
                file: t.dvc_file.clone(),
                message: e.to_string(),
            })?;
        let same = fs_err::read_to_string(&pointer_abs)
            .ok()
            .and_then(|text| Pointer::parse(&text, &pointer_abs).ok())
            .is_some_and(|p| p.oid == pointer.oid);
        if same {
            outcome.pointers_kept += 1;
        } else {
            crate::fsutil::write_atomic(&pointer_abs, pointer.to_yaml().as_bytes())?;
            outcome.pointers.push(pointer_rel);
        }
        if let (Some(parent), Some(name)) = (pointer_abs.parent(), Path::new(&t.target).file_name())
        {
            crate::track::gitignore::add_entry(parent, &name.to_string_lossy())
                .map_err(|e| MigrateError::Io(std::io::Error::other(e.to_string())))?;
        }
    }
    lock_entries(plan, &imp, &mut outcome)?;
    src.reporter.finish();
    let stored = *imp.stored.lock().expect("stored");
    (outcome.objects, outcome.bytes) = stored;
    outcome.reused = imp.memo.lock().expect("memo").reused;
    Ok(outcome)
}

/// An `mlci.lock` entry for every stage whose `dvc.lock` entry matches the
/// pipeline and the workspace (its command, its deps' bytes); the others
/// are left for `mlci repro`, as DVC would rerun them.
fn lock_entries(
    plan: &Plan,
    imp: &Importer<'_>,
    outcome: &mut Outcome,
) -> Result<(), MigrateError> {
    if plan.lock.is_empty() {
        return Ok(());
    }
    let root = &imp.src.repo.root;
    let pipeline = crate::pipeline::load(root)?;
    let mut ws = crate::track::Workspace::open(imp.src.repo);
    for stage in &pipeline.stages {
        let Some(dvc) = plan.lock.get(&stage.name) else {
            continue;
        };
        match stage_entry(stage, dvc, imp, &mut ws) {
            Ok(entry) => {
                LockFile::update_stage(root, &stage.name, entry)?;
                outcome.stages.push(stage.name.clone());
            }
            Err(why) => outcome.stages_skipped.push((stage.name.clone(), why)),
        }
    }
    Ok(())
}

/// One stage's lock entry from DVC's, or why it cannot be trusted.
fn stage_entry(
    stage: &crate::pipeline::Stage,
    dvc: &dvc_files::DvcLockStage,
    imp: &Importer<'_>,
    ws: &mut crate::track::Workspace<'_>,
) -> Result<LockStage, String> {
    if dvc.commands() != stage.cmd {
        return Err("its command changed since DVC ran it".into());
    }
    let root = &imp.src.repo.root;
    // dvc.lock paths are relative to the stage's wdir.
    let find = |list: &[DvcOut], path: &str| -> Option<DvcOut> {
        list.iter()
            .find(|o| dvc_files::under(&stage.wdir, &o.path).as_deref() == Some(path))
            .cloned()
    };
    let mut deps = Vec::new();
    for dep in &stage.deps {
        let recorded =
            find(&dvc.deps, dep.as_str()).ok_or(format!("dep `{dep}` is not in dvc.lock"))?;
        let here = workspace_match(root, dep.as_str(), &recorded)
            .or_else(|| workspace_dir_match(ws, dep, &recorded));
        let b = match here {
            Some(b) => b,
            // In the workspace with other bytes: the stage is stale, as
            // DVC says; its old inputs are never fetched from a remote
            // (git or the data already holds the dep).
            None if dep.locate_for_read(root).is_ok_and(|p| p.exists()) => {
                return Err(format!(
                    "dep `{dep}` changed since DVC ran it: `mlci repro` reruns it, as `dvc repro` would"
                ))
            }
            None => imp
                .out(&recorded)
                .map_err(|why| format!("dep `{dep}`: {why}"))?,
        };
        deps.push(entry(dep.clone(), b));
    }
    let mut outs = Vec::new();
    for out in &stage.outs {
        let recorded = find(&dvc.outs, out.path.as_str())
            .ok_or(format!("out `{}` is not in dvc.lock", out.path))?;
        let b = match workspace_match(root, out.path.as_str(), &recorded) {
            Some(b) if !out.cache => Ok(b),
            _ => imp.out(&recorded),
        }
        .map_err(|why| format!("out `{}`: {why}", out.path))?;
        outs.push(entry(out.path.clone(), b));
    }
    // Params files too are named relative to the wdir in dvc.lock.
    let params = dvc
        .params
        .iter()
        .map(|(file, values)| {
            let file = dvc_files::under(&stage.wdir, file).unwrap_or_else(|| file.clone());
            (file, values.clone())
        })
        .collect();
    Ok(LockStage {
        cmd: LockCmd::from_cmds(&stage.cmd),
        deps,
        params,
        outs,
    })
}

fn entry(path: WorkspacePath, b: Brought) -> LockEntry {
    LockEntry {
        path,
        sha256: b.oid.to_string(),
        size: b.size,
        nfiles: b.nfiles,
    }
}

/// A workspace directory (a dep: git-tracked files, or other stages'
/// outputs kept in git) whose files are the ones DVC recorded: DVC's
/// listing of it (`[{"md5", "relpath"}]` sorted by path, as Python's
/// `json.dumps(sort_keys=True)` writes it) hashes to the recorded MD5,
/// with each file's MD5 or (for a DVC 2 record) its dos2unix MD5. Its mlci
/// id then. None when it is not a directory or differs.
fn workspace_dir_match(
    ws: &mut crate::track::Workspace<'_>,
    path: &WorkspacePath,
    recorded: &DvcOut,
) -> Option<Brought> {
    let want = recorded.digest().filter(|_| recorded.is_dir())?;
    let abs = path.locate_for_read(&ws.repo.root).ok()?;
    if !abs.is_dir() {
        return None;
    }
    let mut files: Vec<(String, String, String)> = Vec::new();
    for e in walkdir::WalkDir::new(&abs).follow_links(false) {
        let e = e.ok()?;
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(&abs)
            .ok()?
            .to_str()?
            .replace('\\', "/");
        let mut h = dvc_files::LegacyMd5::default();
        let mut f = fs_err::File::open(e.path()).ok()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).ok()?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let (raw, d2u) = h.finish();
        files.push((rel, raw, d2u));
    }
    files.sort();
    let listing = |pick: &dyn Fn(&(String, String, String)) -> String| {
        let entries: Vec<String> = files
            .iter()
            .map(|f| {
                format!(
                    "{{\"md5\": {}, \"relpath\": {}}}",
                    serde_json::to_string(&pick(f)).unwrap_or_default(),
                    serde_json::to_string(&f.0).unwrap_or_default()
                )
            })
            .collect();
        md5_hex(format!("[{}]", entries.join(", ")).as_bytes())
    };
    if listing(&|f| f.1.clone()) != want && listing(&|f| f.2.clone()) != want {
        return None;
    }
    let tree = ws.hash_tree(path, false, &crate::progress::Silent).ok()?;
    Some(Brought {
        oid: tree.oid,
        size: tree.size,
        nfiles: tree.nfiles,
    })
}

/// Whether `bytes` are DVC's object `md5`: its MD5, or in DVC 2's layout
/// (`legacy`) its dos2unix MD5 too.
fn named_by(bytes: &[u8], md5: &str, legacy: bool) -> bool {
    if md5_hex(bytes) == md5 {
        return true;
    }
    legacy && dvc_files::md5_both(bytes).1 == md5
}

/// A workspace file whose bytes are the ones DVC recorded (its MD5 or,
/// for a DVC 2 record, its dos2unix MD5): its
/// mlci id. None for a directory, a missing file or other bytes.
fn workspace_match(root: &Path, path: &str, recorded: &DvcOut) -> Option<Brought> {
    if recorded.is_dir() {
        return None;
    }
    let abs = WorkspacePath::new(path).ok()?.locate_for_read(root).ok()?;
    let bytes = fs_err::read(abs).ok()?;
    let (raw, d2u) = dvc_files::md5_both(&bytes);
    let digest = recorded.digest()?;
    (raw == digest || d2u == digest).then(|| Brought {
        oid: Oid::file(Digest::of_bytes(&bytes)),
        size: bytes.len() as u64,
        nfiles: None,
    })
}
