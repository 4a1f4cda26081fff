//! `fsck --repair`: damaged objects and records are moved aside into
//! `.mlci/cache/lost-found/` (never deleted: a user may still want the
//! bytes), then good copies of damaged and missing objects are fetched from
//! the remote, verified by hash as every download is.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::remote::known::Known;
use crate::remote::transfer::{self, Transfer, Want};
use crate::remote::Remote;
use crate::repo::Repo;
use crate::store::cache::Oid;
use crate::store::manifest::Manifest;
use crate::store::state::StateDb;

use super::{Kind, Refs, Report};

/// What `--repair` did about one problem.
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    /// The problem is gone (a good copy is in the cache, or the bad record
    /// is out of the way).
    pub fixed: bool,
    pub what: String,
}

/// The directory damaged objects and records are moved to.
pub(super) fn lost_found(repo: &Repo) -> PathBuf {
    repo.cache.root().join("lost-found")
}

pub(super) fn repair(
    repo: &Repo,
    remote: Option<&Remote>,
    report: &mut Report,
    refs: &Refs,
    state: &mut StateDb,
) -> anyhow::Result<()> {
    let cache = &repo.cache;
    let aside_dir = lost_found(repo);
    let mut moved_oids = Vec::new();
    // 1. Out of the way.
    for p in report.problems.iter_mut() {
        let Some(object) = p.object.clone() else {
            continue;
        };
        let from = match p.kind {
            Kind::Corrupt | Kind::BadManifest => match object.parse::<Oid>() {
                Ok(oid) => {
                    moved_oids.push(oid.digest);
                    cache.object_path(&oid)
                }
                Err(_) => continue,
            },
            Kind::BadRecord => cache.root().join(&object),
            _ => continue,
        };
        let name = object.replace('/', "-");
        let to = move_aside(&from, &aside_dir, &name)?;
        let shown = to
            .strip_prefix(&repo.root)
            .unwrap_or(&to)
            .display()
            .to_string();
        p.repaired = Some(Repaired {
            fixed: p.kind == Kind::BadRecord,
            what: format!("moved aside to {shown}"),
        });
    }
    state.forget_objects(moved_oids.iter());
    state.clear_complete_dirs();

    // 2. Good copies from the remote, one object at a time, so one bad copy
    //    there does not stop the others.
    let mut wants: Vec<Oid> = report
        .problems
        .iter()
        .filter(|p| matches!(p.kind, Kind::Corrupt | Kind::BadManifest | Kind::Missing))
        .filter_map(|p| p.object.as_deref()?.parse().ok())
        .collect();
    wants.sort();
    wants.dedup();
    let Some(remote) = remote.filter(|_| !wants.is_empty()) else {
        for p in report.problems.iter_mut() {
            if matches!(p.kind, Kind::Corrupt | Kind::BadManifest) {
                if let Some(r) = p.repaired.as_mut() {
                    r.what
                        .push_str("; no remote named to fetch a good copy from (`--remote NAME`)");
                }
            }
        }
        return Ok(());
    };
    let rt = crate::remote::runtime()?;
    let mut known = Known::load(&repo.tmp_dir(), &remote.identity);
    let t = Transfer {
        remote,
        cache,
        jobs: remote.jobs,
        reporter: &crate::progress::Silent,
    };
    let mut failures = std::collections::HashMap::new();
    let mut fetch = |oid: Oid, known: &mut Known| {
        let want = Want::object(oid, refs.sizes.get(&oid).copied());
        match rt.block_on(transfer::download(&t, &[want], known)) {
            Ok(s) if s.missing.is_empty() => {}
            Ok(_) => {
                failures.insert(oid, format!("remote `{}` does not have it", remote.name));
            }
            Err(e) => {
                failures.insert(oid, e.to_string());
            }
        }
    };
    for oid in &wants {
        fetch(*oid, &mut known);
    }
    // The files of manifests that just arrived, when the cache lacks them.
    for oid in wants.iter().filter(|o| o.dir && cache.contains(o)) {
        let Some(m) = cache
            .read_verified(oid)
            .ok()
            .and_then(|b| Manifest::parse(&b).ok())
        else {
            continue;
        };
        for e in m.entries() {
            let file = Oid::file(e.sha256);
            if !cache.contains(&file) {
                fetch(file, &mut known);
            }
        }
    }
    known.save()?;
    for p in report.problems.iter_mut() {
        if !matches!(p.kind, Kind::Corrupt | Kind::BadManifest | Kind::Missing) {
            continue;
        }
        let Some(oid) = p.object.as_deref().and_then(|o| o.parse::<Oid>().ok()) else {
            continue;
        };
        let before = p.repaired.take().map(|r| r.what);
        let (fixed, now) = match failures.get(&oid) {
            None if cache.contains(&oid) => {
                (true, format!("a good copy fetched from `{}`", remote.name))
            }
            None => (false, format!("remote `{}` does not have it", remote.name)),
            Some(why) => (false, format!("no good copy: {why}")),
        };
        p.repaired = Some(Repaired {
            fixed,
            what: match before {
                Some(b) => format!("{b}; {now}"),
                None => now,
            },
        });
    }
    Ok(())
}

/// Renames `from` into `dir` as `name` (`name.1`, `name.2`, … when taken);
/// returns where it went.
fn move_aside(from: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    fs_err::create_dir_all(dir)?;
    let mut to = dir.join(name);
    let mut n = 0;
    while to.symlink_metadata().is_ok() {
        n += 1;
        to = dir.join(format!("{name}.{n}"));
    }
    fs_err::rename(from, &to)?;
    Ok(to)
}
