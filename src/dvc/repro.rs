//! `mlci repro` in a DVC repository used in place: DVC's order
//! (`Dag::order`), each stage judged against `dvc.lock` when its turn
//! comes (so a stage whose inputs an earlier stage changed runs), run as
//! DVC runs it (outputs not `persist` removed first, the commands through
//! the shell in the stage's wdir), its outputs stored in `.dvc/cache` in
//! DVC 3's layout (`files/md5/ab/…`, a directory's `.dir` listing beside
//! its files) and its entry written to `dvc.lock` as DVC writes it
//! (`schema: '2.0'`; `path`, `hash: md5`, `md5`, `size`, `nfiles`), so
//! `dvc status` finds it up to date (a nested `dvc.yaml`'s stage in the
//! `dvc.lock` beside it), and each cached output git-ignored. DVC's run
//! cache is read before a stage runs and written after (`runcache`).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_json::{json, Map, Value as Json};

use super::contents::{dir_listing, Md5Contents};
use super::DvcError;
use crate::migrate::dvc_files::object_keys;
use crate::pipeline::dag::Dag;
use crate::pipeline::repro::{Event, Events, ReproError};
use crate::pipeline::status::{
    current_inputs, reasons, Contents, Inputs, MissingDeps, ParamsCache, Reason,
};
use crate::pipeline::{Pipeline, Stage};
use crate::progress::Silent;

/// Which stages a run considers: all (no names), or the named ones with
/// everything upstream of them, or with `downstream` the named ones and
/// everything downstream (DVC's `dvc repro NAME`, `--downstream`); with
/// `force`, each is run whether stale or not (`--force`).
#[derive(Clone, Default)]
pub struct Selection<'a> {
    /// Stage names, as `NAME`, `dvc.yaml:NAME` or `sub/dvc.yaml:NAME`.
    pub names: Vec<String>,
    pub downstream: bool,
    pub force: bool,
    /// Say what would run, run nothing (`--dry`).
    pub dry_run: bool,
    /// After a failure, go on with the stages that do not depend on it
    /// (`--keep-going`).
    pub keep_going: bool,
    /// Never restore from the run cache (`--no-run-cache`); what runs is
    /// still saved there, as DVC saves it.
    pub no_run_cache: bool,
    /// A second run cache: entries and outputs this remote holds (as
    /// `dvc pull --run-cache` brings them) restore a stage the local
    /// cache cannot.
    pub remote: Option<&'a crate::remote::Remote>,
    /// A fan-out worker: only the named stages may run; a stale stage
    /// upstream of them must be restored, else the run stops naming it.
    pub single: bool,
    /// The join: no stage may run; every stale one must be restored.
    pub restore_only: bool,
}

impl Selection<'_> {
    /// Whether stage `name` may run rather than only be restored.
    fn may_run(&self, name: &str) -> bool {
        !self.restore_only && (!self.single || self.names.iter().any(|n| same_stage(n, name)))
    }
}

/// Whether `target` (`NAME`, `dvc.yaml:NAME`, `./…`) names stage `name`.
fn same_stage(target: &str, name: &str) -> bool {
    let bare = target.strip_prefix("dvc.yaml:").unwrap_or(target);
    bare.strip_prefix("./").unwrap_or(bare) == name
}

/// What a run did: the stages that ran (or were restored), in order, and
/// the run-cache entries of the stages that ran (what a worker publishes).
pub struct Ran {
    pub ran: Vec<String>,
    pub entries: Vec<Json>,
}

/// Brings the root `dvc.yaml`'s selected stages up to date; stage
/// commands run without the variables named in `withheld` (`mlci ci`
/// keeps the runner's secrets from them). A stage that fails is told as
/// [`Event::Failed`] and ends the run.
pub fn repro(
    root: &Path,
    pipeline: &Pipeline,
    targets: &Selection<'_>,
    withheld: &[String],
    events: &dyn Events,
    interrupted: &AtomicBool,
) -> Result<Ran, DvcError> {
    let force = targets.force;
    let dag = Dag::build(&pipeline.stages).map_err(|e| Box::new(ReproError::from(e)))?;
    let mut ran = Vec::new();
    let mut entries = Vec::new();
    // One memo for the run: what a stage wrote is forgotten after it ran.
    let mut contents = Md5Contents::open(root, Default::default());
    let cache = super::config::cache_root(root);
    let order = order_of(pipeline, &dag, targets)?;
    // Stages that failed, or were left out after a failure upstream.
    let mut broken: Vec<usize> = Vec::new();
    let mut first_failure = None;
    for &i in &order {
        let stage = &pipeline.stages[i];
        if let Some(&up) = broken.iter().find(|&&b| dag.upstream[i].contains(&b)) {
            events.event(Event::Skipped {
                stage: &stage.name,
                why: &format!("`{}` failed upstream", pipeline.stages[up].name),
            });
            broken.push(i);
            continue;
        }
        // Judged now: what ran before may have changed this one's inputs
        // (and rewritten DVC 2 entries as DVC 3's).
        let lock = super::lock::load(root, pipeline)?;
        contents.set_legacy(lock.legacy.clone());
        let recorded = lock.lock.stages.get(&stage.name);
        let mut params = ParamsCache::default();
        let inputs = if stage.frozen {
            Inputs::default()
        } else {
            current_inputs(
                &mut contents,
                pipeline,
                stage,
                &mut params,
                MissingDeps::Refuse,
                &Silent,
            )
            .map_err(|e| Box::new(ReproError::from(e)))?
        };
        let mut why = reasons(&mut contents, stage, &inputs, recorded, &Silent)
            .map_err(|e| Box::new(ReproError::from(e)))?;
        if force && why.is_empty() && !stage.frozen {
            why.push(Reason::Forced);
        }
        if why.is_empty() || stage.frozen {
            events.event(Event::UpToDate { stage: &stage.name });
            continue;
        }
        if targets.dry_run {
            events.event(Event::WouldRun {
                stage: &stage.name,
                reasons: &why,
            });
            continue;
        }
        let inputs = plain_inputs(&mut contents, pipeline, stage, &lock, inputs)?;
        // DVC's run cache first (not when forced, as DVC).
        if !(force || targets.no_run_cache) {
            if let Some(entry) = from_run_cache(root, stage, &inputs, targets.remote)? {
                contents.forget();
                write_lock(root, &stage.name, Json::Object(entry))?;
                ignore_outs(root, stage)?;
                events.event(Event::Restored { stage: &stage.name });
                ran.push(stage.name.clone());
                continue;
            }
        }
        if !targets.may_run(&stage.name) {
            contents.save();
            return Err(DvcError::NotRestorable {
                stage: stage.name.clone(),
            });
        }
        events.event(Event::Running {
            stage: &stage.name,
            reasons: &why,
            cmd: &stage.cmd,
        });
        remove_outs(root, stage)?;
        if let Err(why) =
            crate::pipeline::run::run_stage(root, stage, false, withheld, events, interrupted)
        {
            events.event(Event::Failed {
                stage: &stage.name,
                why: &why,
            });
            let failed = ReproError::StageFailed {
                stage: stage.name.clone(),
                why,
            };
            if !targets.keep_going {
                contents.save();
                return Err(Box::new(failed).into());
            }
            broken.push(i);
            first_failure.get_or_insert(failed);
            continue;
        }
        contents.forget();
        let entry = record(root, stage, &inputs, &mut contents)?;
        // A command may write more than its outputs: read again after it.
        contents.forget();
        if super::runcache::can_hash(stage) {
            super::runcache::save(&cache, &entry)?;
            entries.push(entry.clone());
        }
        write_lock(root, &stage.name, entry)?;
        ignore_outs(root, stage)?;
        ran.push(stage.name.clone());
    }
    contents.save();
    match first_failure {
        Some(failed) => Err(Box::new(failed).into()),
        None => Ok(Ran { ran, entries }),
    }
}

/// `inputs` as DVC 3 records them once a stage runs (and keys its run
/// cache by): every dep's plain MD5, also where DVC 2 recorded
/// `md5-dos2unix` (judged by that, read from the memo again, which holds
/// both); from here on the stage's outputs are read the same way.
fn plain_inputs(
    contents: &mut Md5Contents,
    pipeline: &Pipeline,
    stage: &Stage,
    lock: &super::lock::DvcLock,
    inputs: Inputs,
) -> Result<Inputs, DvcError> {
    if lock.legacy.is_empty() || stage.frozen {
        return Ok(inputs);
    }
    contents.set_legacy(Default::default());
    Ok(current_inputs(
        contents,
        pipeline,
        stage,
        &mut ParamsCache::default(),
        MissingDeps::Refuse,
        &Silent,
    )
    .map_err(|e| Box::new(ReproError::from(e)))?)
}

/// The stages `targets` selects, in DVC's order.
fn order_of(pipeline: &Pipeline, dag: &Dag, targets: &Selection) -> Result<Vec<usize>, DvcError> {
    if targets.names.is_empty() {
        return Ok(dag.order.clone());
    }
    let mut picked = Vec::new();
    for name in &targets.names {
        let bare = name.strip_prefix("dvc.yaml:").unwrap_or(name);
        let bare = bare.strip_prefix("./").unwrap_or(bare);
        let i = pipeline
            .stages
            .iter()
            .position(|s| s.name == bare)
            .ok_or_else(|| DvcError::UnknownStage {
                name: name.clone(),
                stages: pipeline.stages.iter().map(|s| s.name.clone()).collect(),
            })?;
        picked.push(i);
    }
    Ok(dag.select(&picked, targets.downstream))
}

/// One dep or out as `dvc.lock` holds it.
fn lock_entry(path: &str, c: &crate::pipeline::status::Content) -> Json {
    let mut m = Map::new();
    m.insert("path".into(), json!(path));
    m.insert("hash".into(), json!("md5"));
    m.insert("md5".into(), json!(c.id));
    m.insert("size".into(), json!(c.size));
    if let Some(n) = c.nfiles {
        m.insert("nfiles".into(), json!(n));
    }
    Json::Object(m)
}

/// The entry's command, deps and params, as `dvc.lock` and the run
/// cache's key hold them.
fn inputs_entry(stage: &Stage, inputs: &Inputs) -> Map<String, Json> {
    let rel = |p: &str| relative_to(&stage.wdir, p);
    let mut m = Map::new();
    m.insert(
        "cmd".into(),
        match stage.cmd.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    );
    // DVC lists deps and outs by path.
    let mut deps = inputs.deps.clone();
    deps.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    if !deps.is_empty() {
        let deps: Vec<Json> = deps
            .iter()
            .map(|d| {
                lock_entry(
                    &rel(d.path.as_str()),
                    &crate::pipeline::status::Content {
                        id: d.sha256.clone(),
                        size: d.size,
                        nfiles: d.nfiles,
                    },
                )
            })
            .collect();
        m.insert("deps".into(), Json::Array(deps));
    }
    if !inputs.params.is_empty() {
        let params: Map<String, Json> = inputs
            .params
            .iter()
            .map(|(file, values)| {
                let v: Map<String, Json> =
                    values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                (rel(file), Json::Object(v))
            })
            .collect();
        m.insert("params".into(), Json::Object(params));
    }
    m
}

/// What the run cache's key reads before the stage runs: the inputs and
/// the outputs' paths.
fn probe(stage: &Stage, inputs: &Inputs) -> Json {
    let mut m = inputs_entry(stage, inputs);
    let mut outs: Vec<String> = stage
        .outs
        .iter()
        .map(|o| relative_to(&stage.wdir, o.path.as_str()))
        .collect();
    outs.sort();
    m.insert("outs".into(), json!(outs));
    Json::Object(m)
}

/// The run-cache entry `stage` was restored from: the local cache's for
/// its key, else (with `remote`) the remote's, its outputs fetched; None
/// when neither can restore it (or DVC would not cache the stage).
fn from_run_cache(
    root: &Path,
    stage: &Stage,
    inputs: &Inputs,
    remote: Option<&crate::remote::Remote>,
) -> Result<Option<Map<String, Json>>, DvcError> {
    if !super::runcache::can_hash(stage) {
        return Ok(None);
    }
    let cache = super::config::cache_root(root);
    let probe = probe(stage, inputs);
    if let Some(entry) = super::runcache::lookup(&cache, &probe) {
        if restore(root, stage, &entry, remote)? {
            return Ok(Some(entry));
        }
    }
    let Some(remote) = remote else {
        return Ok(None);
    };
    if super::runcache::fetch(&cache, remote, &probe)? == 0 {
        return Ok(None);
    }
    match super::runcache::lookup(&cache, &probe) {
        Some(entry) if restore(root, stage, &entry, Some(remote))? => Ok(Some(entry)),
        _ => Ok(None),
    }
}

/// Restores `stage`'s outputs from run-cache `entry` when the cache holds
/// them all (the outputs there removed first, as before a run); false
/// when it does not.
fn restore(
    root: &Path,
    stage: &Stage,
    entry: &Map<String, Json>,
    remote: Option<&crate::remote::Remote>,
) -> Result<bool, DvcError> {
    let cache = super::config::cache_root(root);
    let Some(outs) = entry_outs(stage, entry) else {
        return Ok(false);
    };
    if !super::sync::all_cached(&cache, &outs)? {
        let Some(remote) = remote else {
            return Ok(false);
        };
        super::sync::fetch(root, remote, &outs, &Silent)?;
        if !super::sync::all_cached(&cache, &outs)? {
            return Ok(false);
        }
    }
    remove_outs(root, stage)?;
    let done = super::sync::checkout(root, &outs, 16, &Silent)?;
    Ok(done.absent.is_empty() && done.kept.is_empty())
}

/// Whether DVC's run cache in the repository at `root` can restore
/// `stage` run with `inputs` (what `mlci repro` would restore instead of
/// running it): an entry for its key whose outputs the cache holds.
pub fn restorable(root: &Path, stage: &Stage, inputs: &Inputs) -> bool {
    if !super::runcache::can_hash(stage) {
        return false;
    }
    let cache = super::config::cache_root(root);
    super::runcache::lookup(&cache, &probe(stage, inputs))
        .and_then(|entry| entry_outs(stage, &entry))
        .is_some_and(|outs| super::sync::all_cached(&cache, &outs).unwrap_or(false))
}

/// The outputs a run-cache entry records (root-relative), or None when it
/// names none or one without an MD5.
fn entry_outs(stage: &Stage, entry: &Map<String, Json>) -> Option<Vec<super::sync::Out>> {
    let outs: Option<Vec<super::sync::Out>> = entry
        .get("outs")
        .and_then(Json::as_array)
        .map(|outs| {
            outs.iter()
                .map(|o| {
                    Some(super::sync::Out {
                        path: crate::migrate::dvc_files::under(
                            &stage.wdir,
                            o.get("path")?.as_str()?,
                        )?,
                        md5: o.get("md5")?.as_str()?.to_string(),
                        legacy: o.get("hash").and_then(Json::as_str) != Some("md5"),
                        push: true,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let outs = outs?;
    let hex = |o: &super::sync::Out| {
        let d = o.md5.strip_suffix(".dir").unwrap_or(&o.md5);
        d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit())
    };
    (!outs.is_empty() && outs.iter().all(hex)).then_some(outs)
}

/// Each cached output git-ignored beside it (`/NAME`), as `dvc repro`
/// leaves them: git never takes the data DVC's cache holds.
fn ignore_outs(root: &Path, stage: &Stage) -> Result<(), DvcError> {
    for o in stage.outs.iter().filter(|o| o.cache) {
        super::add::ignore(root, o.path.as_str())?;
    }
    Ok(())
}

/// Removes the stage's outputs that are not `persist`, as before a run.
fn remove_outs(root: &Path, stage: &Stage) -> Result<(), DvcError> {
    for o in stage.outs.iter().filter(|o| !o.persist) {
        let at = root.join(o.path.as_str());
        match fs_err::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => fs_err::remove_dir_all(&at)?,
            Ok(_) => fs_err::remove_file(&at)?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// The stage's `dvc.lock` entry after it ran, its cached outputs stored
/// (every output when the run cache keeps the stage: DVC stores the
/// uncached ones too, so a restore can bring them back).
fn record(
    root: &Path,
    stage: &Stage,
    inputs: &Inputs,
    contents: &mut Md5Contents,
) -> Result<Json, DvcError> {
    let rel = |p: &str| relative_to(&stage.wdir, p);
    let mut m = inputs_entry(stage, inputs);
    let keep_all = super::runcache::can_hash(stage);
    let mut outs = Vec::new();
    let mut declared: Vec<&crate::pipeline::Output> = stage.outs.iter().collect();
    declared.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    for o in declared {
        let c = contents
            .content(o.path.as_str(), &Silent)
            .map_err(|e| match e {
                crate::track::TrackError::NotFound { .. } => {
                    DvcError::Stages(Box::new(ReproError::OutNotCreated {
                        stage: stage.name.clone(),
                        path: o.path.to_string(),
                    }))
                }
                e => e.into(),
            })?;
        if o.cache || keep_all {
            store(root, o.path.as_str(), &c, contents)?;
        }
        outs.push(lock_entry(&rel(o.path.as_str()), &c));
    }
    if !outs.is_empty() {
        m.insert("outs".into(), Json::Array(outs));
    }
    Ok(Json::Object(m))
}

/// `path` (repo-relative) as `dvc.lock` writes it: relative to the
/// stage's wdir.
fn relative_to(wdir: &str, path: &str) -> String {
    let wdir = wdir.trim_matches('/');
    if wdir.is_empty() || wdir == "." {
        return path.to_string();
    }
    match path.strip_prefix(&format!("{wdir}/")) {
        Some(inner) => inner.to_string(),
        None => {
            let ups = wdir.split('/').count();
            format!("{}{path}", "../".repeat(ups))
        }
    }
}

/// Copies the output at `rel` into `.dvc/cache` in DVC 3's layout (each
/// file of a directory, in parallel, then its listing), read-only as DVC
/// leaves them; objects already there are left as they are.
pub(super) fn store(
    root: &Path,
    rel: &str,
    c: &crate::pipeline::status::Content,
    contents: &mut Md5Contents,
) -> Result<(), DvcError> {
    use rayon::prelude::*;
    let cache = super::config::cache_root(root);
    let at = root.join(rel);
    let dirs = super::sync::Dirs::default();
    match c.id.strip_suffix(".dir") {
        None => put(&cache, &c.id, false, Source::File(&at, c.size), &dirs),
        Some(digest) => {
            let files = contents.files_of(rel)?;
            files
                .par_iter()
                .map(|(_, abs, md5, size)| put(&cache, md5, false, Source::File(abs, *size), &dirs))
                .collect::<Result<Vec<()>, DvcError>>()?;
            let entries: Vec<(String, String)> = files
                .into_iter()
                .map(|(inner, _, md5, _)| (inner, md5))
                .collect();
            let bytes = dir_listing(&entries);
            if crate::migrate::dvc_files::md5_hex(&bytes) != digest {
                return Err(DvcError::File {
                    file: rel.to_string(),
                    message: "changed while it was stored; run again".into(),
                });
            }
            put(&cache, digest, true, Source::Bytes(&bytes), &dirs)
        }
    }
}

/// Where an object's bytes come from: a file (of the size its stat
/// gave), or bytes at hand.
enum Source<'a> {
    File(&'a Path, u64),
    Bytes(&'a [u8]),
}

/// Puts one object into the cache at `files/md5/ab/…` (whole: written
/// beside, made read-only, renamed into place); `dirs` holds the shards
/// open across the objects of one output.
fn put(
    cache: &Path,
    md5: &str,
    dir: bool,
    from: Source<'_>,
    dirs: &super::sync::Dirs,
) -> Result<(), DvcError> {
    let [key, _] = object_keys(md5, dir);
    let dest = cache.join(&key);
    if dest.is_file() {
        return Ok(());
    }
    let shard = dest.parent().expect("a shard");
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .expect("keys are UTF-8");
    // Small objects: written whole under their name (`store::whole`),
    // read in one go (the size is known: no stat).
    let small = match &from {
        Source::Bytes(b) => Some(b.to_vec()),
        Source::File(f, size) if *size < 8 << 20 => {
            use std::io::Read;
            let mut bytes = Vec::with_capacity(*size as usize + 1);
            fs_err::File::open(f)?.read_to_end(&mut bytes)?;
            // The bytes stored are the ones named: a file changed since
            // it was hashed never enters the cache under the old name.
            // (DVC 2's `md5-dos2unix` names an output it recorded.)
            if crate::migrate::dvc_files::md5_hex(&bytes) != md5
                && crate::migrate::dvc_files::md5_both(&bytes).1 != md5
            {
                return Err(DvcError::File {
                    file: f.display().to_string(),
                    message: "changed while it was stored; run again".into(),
                });
            }
            Some(bytes)
        }
        Source::File(..) => None,
    };
    if let Some(bytes) = small {
        dirs.get(shard)?.create_whole(name, 0o444, &bytes, false)?;
        return Ok(());
    }
    fs_err::create_dir_all(shard)?;
    // A unique name per writer: two files of one content race to the
    // same object, and either rename leaves it whole.
    let tmp = tempfile::Builder::new()
        .prefix(".mlci-")
        .tempfile_in(shard)?;
    match from {
        Source::Bytes(b) => fs_err::write(tmp.path(), b)?,
        Source::File(f, _) => {
            fs_err::copy(f, tmp.path())?;
        }
    }
    let mut perm = fs_err::metadata(tmp.path())?.permissions();
    perm.set_readonly(true);
    fs_err::set_permissions(tmp.path(), perm)?;
    tmp.persist(&dest).map_err(|e| DvcError::Io(e.error))?;
    Ok(())
}

/// Writes the stage's entry into its `dvc.lock` as DVC does (the root's,
/// or for `sub/dvc.yaml:NAME` the one beside `sub/dvc.yaml`, under
/// `NAME`): the other stages kept in their order, this one replaced or
/// appended.
fn write_lock(root: &Path, name: &str, entry: Json) -> Result<(), DvcError> {
    let (file, name) = match name.split_once("dvc.yaml:") {
        Some((dir, local)) if !dir.is_empty() => (format!("{dir}dvc.lock"), local),
        _ => ("dvc.lock".to_string(), name),
    };
    let path = root.join(&file);
    let mut doc: Map<String, Json> = match fs_err::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => crate::yaml::parse(&text, Path::new(&file))
            .map_err(|e| DvcError::File {
                file: file.clone(),
                message: e.to_string(),
            })?,
        _ => Map::new(),
    };
    doc.insert("schema".into(), json!("2.0"));
    let stages = doc
        .entry("stages")
        .or_insert_with(|| Json::Object(Map::new()));
    let Json::Object(stages) = stages else {
        return Err(DvcError::File {
            file: file.clone(),
            message: "`stages` is not a mapping".into(),
        });
    };
    stages.insert(name.to_string(), entry);
    let text = crate::yaml::to_string_python_floats(&Json::Object(doc));
    crate::fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(())
}
