//! What push, fetch, pull, `status --remote` and `ci` share: choosing and
//! opening the remote, and working out which objects the workspace (or a
//! few targets) references.

use std::collections::{BTreeSet, HashSet};

use crate::pipeline::runcache;
use crate::remote::transfer::{self, Transfer};
use crate::remote::{self, known::Known, Remote, RemoteError, RUNS_PREFIX};
use crate::repo::Repo;
use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;
use crate::track::Tracked;

use crate::progress::Silent;
use std::sync::Mutex;

/// What push, fetch and pull take: what to move, where, how many at once.
#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    /// Tracked paths or pointer files; everything the workspace references when omitted.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<std::path::PathBuf>,
    /// The remote (default: `core.remote`, or the only one defined).
    #[arg(short, long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Transfers in flight (default: the remote's `jobs`, else `core.jobs`).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Leave run records (and outputs only they reference) out.
    #[arg(long)]
    pub no_run_cache: bool,
}

/// The remote to use, opened; `Ok(None)` when none is configured and none
/// was asked for (ci then skips the transfer with a notice).
pub fn open_remote(
    repo: &Repo,
    requested: Option<&str>,
    jobs: Option<usize>,
) -> anyhow::Result<Option<(Remote, usize)>> {
    let settings = &repo.settings;
    let Some(name) = remote::choose(
        requested,
        settings.default_remote.as_deref(),
        &settings.remotes,
    )?
    else {
        if settings.remotes.len() > 1 {
            let names: Vec<&str> = settings.remotes.keys().map(String::as_str).collect();
            return Err(crate::error::hinted(
                format!(
                    "several remotes are defined ({}) and none is the default",
                    names.join(", ")
                ),
                "pick one with `-r NAME`, or make one the default: `mlci remote default NAME`",
            ));
        }
        return Ok(None);
    };
    let r = Remote::open(
        &name,
        &settings.remotes,
        &repo.root,
        remote::Jobs {
            flag: jobs,
            default: settings.jobs,
        },
    )?;
    let jobs = r.jobs;
    Ok(Some((r, jobs)))
}

/// Like [`open_remote`], but a missing remote is an error with a hint.
pub fn require_remote(
    repo: &Repo,
    requested: Option<&str>,
    jobs: Option<usize>,
) -> anyhow::Result<(Remote, usize)> {
    open_remote(repo, requested, jobs)?.ok_or_else(|| RemoteError::NoneConfigured.into())
}

/// One tracked path and the objects it consists of.
pub struct Group {
    pub label: String,
    pub root: Oid,
    pub size: u64,
    /// Files of a directory, from its pointer.
    pub nfiles: Option<u64>,
    /// The root and, for a directory whose manifest is at hand, its files
    /// with their sizes.
    pub objects: Vec<(Oid, Option<u64>)>,
    /// A directory whose manifest is in neither place we looked.
    pub manifest_missing: bool,
}

/// Expands each tracked path to its objects, reading directory manifests
/// from the local cache.
pub fn groups(cache: &Cache, tracked: &[Tracked]) -> Vec<Group> {
    let mut out = shallow(tracked);
    for g in out.iter_mut() {
        expand(cache, g);
    }
    out
}

/// Each tracked path as a group holding only its root object.
pub fn shallow(tracked: &[Tracked]) -> Vec<Group> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in tracked {
        if !seen.insert((t.target_rel.clone(), t.pointer.oid)) {
            continue;
        }
        let oid = t.pointer.oid;
        out.push(Group {
            label: t.target_rel.to_string(),
            root: oid,
            size: t.pointer.size,
            nfiles: t.pointer.nfiles,
            objects: vec![(oid, (!oid.dir).then_some(t.pointer.size))],
            manifest_missing: false,
        });
    }
    out
}

/// Adds a directory group's files once its manifest is in the cache.
pub fn expand(cache: &Cache, g: &mut Group) {
    if !g.root.dir || g.objects.len() > 1 {
        return;
    }
    match cache
        .read_verified(&g.root)
        .ok()
        .and_then(|b| Manifest::parse(&b).ok())
    {
        Some(m) => {
            g.manifest_missing = false;
            g.objects.extend(
                m.entries()
                    .iter()
                    .map(|e| (Oid::file(e.sha256), Some(e.size))),
            );
        }
        None => g.manifest_missing = true,
    }
}

/// Run records in the local cache whose outputs are all in the cache, with
/// those outputs' objects: what travels with a push so another machine can
/// restore the stage instead of rerunning it.
pub fn local_run_records(cache: &Cache) -> (Vec<String>, Vec<Oid>) {
    let mut keys = Vec::new();
    let mut objects = BTreeSet::new();
    let base = cache.root().join("runs");
    let Ok(shards) = std::fs::read_dir(&base) else {
        return (keys, Vec::new());
    };
    for shard in shards.flatten() {
        let Ok(entries) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let key = format!(
                "{RUNS_PREFIX}{}/{}",
                shard.file_name().to_string_lossy(),
                e.file_name().to_string_lossy()
            );
            if runcache::parse_record_key(&key).is_none() {
                continue;
            }
            let Some(record) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<runcache::Record>(&b).ok())
            else {
                continue;
            };
            let mut objs = Vec::new();
            let complete = record.outs.iter().all(|o| {
                let Some(oid) = o.oid() else { return false };
                let mut g = Group {
                    label: String::new(),
                    root: oid,
                    size: 0,
                    nfiles: None,
                    objects: vec![(oid, None)],
                    manifest_missing: false,
                };
                expand(cache, &mut g);
                let ok = !g.manifest_missing && g.objects.iter().all(|(o, _)| cache.contains(o));
                objs.extend(g.objects.into_iter().map(|(o, _)| o));
                ok
            });
            if complete {
                keys.push(key);
                objects.extend(objs);
            }
        }
    }
    keys.sort();
    (keys, objects.into_iter().collect())
}

/// Fetches the objects of `groups` that the cache lacks: roots first, then
/// the files of directories whose manifests just arrived. Returns the
/// summary and the labels of groups with objects the remote lacks too.
pub fn fetch_groups(
    t: &Transfer<'_>,
    rt: &tokio::runtime::Runtime,
    groups: &mut [Group],
    known: &mut Known,
) -> Result<(transfer::Summary, Vec<String>), RemoteError> {
    let cache = t.cache;
    let mut total = transfer::Summary::default();
    let mut lost = BTreeSet::new();
    // Asked once each, so a missing root is not asked for again.
    let mut seen = HashSet::new();
    for phase in 0..2 {
        let mut wants = Vec::new();
        for g in groups.iter() {
            for (oid, size) in &g.objects {
                if !cache.contains(oid) && seen.insert(*oid) {
                    wants.push(transfer::Want::object(*oid, *size));
                }
            }
        }
        if !wants.is_empty() {
            let s = rt.block_on(transfer::download(t, &wants, known))?;
            total.objects += s.objects;
            total.bytes += s.bytes;
            let missing: HashSet<&str> = s.missing.iter().map(String::as_str).collect();
            for g in groups.iter() {
                if g.objects
                    .iter()
                    .any(|(o, _)| missing.contains(transfer::object_key(o).as_str()))
                {
                    lost.insert(g.label.clone());
                }
            }
            total.missing.extend(s.missing);
        }
        if phase == 0 {
            for g in groups.iter_mut() {
                expand(cache, g);
            }
        }
    }
    Ok((total, lost.into_iter().collect()))
}

/// Fetches the run records the remote has and the cache lacks. Returns how
/// many arrived and the keys of those refused as malformed (a record whose
/// paths fail the workspace rule is never kept).
pub fn fetch_run_records(
    rt: &tokio::runtime::Runtime,
    remote: &Remote,
    jobs: usize,
    cache: &Cache,
    known: &mut Known,
) -> Result<(usize, Vec<String>), RemoteError> {
    if !remote.can_list() {
        // HTTP remotes cannot be listed: only objects named by pointers
        // come from them.
        return Ok((0, Vec::new()));
    }
    let keys = rt.block_on(remote.list(RUNS_PREFIX))?;
    // A listed key names a local file below the cache: only keys of exactly
    // the record shape are taken, rebuilt from their digest.
    let wants: Vec<transfer::Want> = keys
        .iter()
        .filter_map(|k| runcache::parse_record_key(k))
        .map(|d| transfer::Want::record(&d))
        .filter(|w| !cache.root().join(&w.key).exists())
        .collect();
    if wants.is_empty() {
        return Ok((0, Vec::new()));
    }
    let t = Transfer {
        remote,
        cache,
        jobs,
        reporter: &crate::progress::Silent,
    };
    let s = rt.block_on(transfer::download(&t, &wants, known))?;
    Ok((s.objects, s.missing))
}

/// A remote as the source of run-cache outputs during `repro`: a stage
/// computed on another machine is restored from the remote instead of run.
pub struct RemoteSource {
    remote: Remote,
    jobs: usize,
    cache: Cache,
    rt: tokio::runtime::Runtime,
    known: Mutex<Known>,
}

impl RemoteSource {
    pub fn new(repo: &Repo, remote: Remote, jobs: usize) -> std::io::Result<RemoteSource> {
        Ok(RemoteSource {
            known: Mutex::new(Known::load(&repo.tmp_dir(), &remote.identity)),
            remote,
            jobs,
            cache: Cache::new(repo.cache.root()),
            rt: remote::runtime()?,
        })
    }

    /// Saves what was learnt about the remote.
    pub fn finish(&self) -> std::io::Result<()> {
        self.known.lock().expect("known lock").save()
    }
}

impl runcache::ObjectSource for RemoteSource {
    fn fetch(&self, oids: &[Oid]) -> bool {
        let mut groups: Vec<Group> = oids
            .iter()
            .map(|&oid| {
                let mut g = Group {
                    label: oid.short(),
                    root: oid,
                    size: 0,
                    nfiles: None,
                    objects: vec![(oid, None)],
                    manifest_missing: false,
                };
                expand(&self.cache, &mut g);
                g
            })
            .collect();
        let mut known = self.known.lock().expect("known lock");
        let t = Transfer {
            remote: &self.remote,
            cache: &self.cache,
            jobs: self.jobs,
            reporter: &Silent,
        };
        matches!(
            fetch_groups(&t, &self.rt, &mut groups, &mut known),
            Ok((_, lost)) if lost.is_empty()
        )
    }
}
