//! `mlci checkout`: plan first (what to write, what to delete, which local
//! changes would be lost), then act; a directory restored from nothing is
//! built aside and renamed into place whole.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::add::{kind_of, scan_one, Scanned};
use super::*;

impl Workspace<'_> {
    /// `mlci checkout`: makes the workspace match the pointers. Refuses (before
    /// touching anything) when that would lose a local change that is not in
    /// the cache, unless `force`.
    pub fn checkout(
        &mut self,
        tracked: &[Tracked],
        force: bool,
        reporter: &dyn Reporter,
    ) -> Result<CheckoutSummary, TrackError> {
        // Restored files are recorded in the state at the end; load it
        // while the manifests are read and parsed.
        self.state.prefetch();
        let mut plans = Vec::new();
        let mut conflicts = Vec::new();
        for t in tracked {
            plans.push(self.plan_checkout(t, force, &mut conflicts, reporter)?);
        }
        if !conflicts.is_empty() {
            conflicts.sort();
            let more = conflicts.len().saturating_sub(10);
            conflicts.truncate(10);
            return Err(TrackError::Conflicts {
                paths: conflicts,
                more,
            });
        }
        let mut summary = CheckoutSummary::default();
        for plan in plans {
            self.apply_checkout(plan, &mut summary, reporter)?;
        }
        Ok(summary)
    }

    /// [`Workspace::plan_checkout`] of a tracked file (not a directory).
    fn plan_file_checkout(
        &mut self,
        t: &Tracked,
        meta: Option<std::fs::Metadata>,
        force: bool,
        conflicts: &mut Vec<String>,
        mut plan: CheckoutPlan,
    ) -> Result<CheckoutPlan, TrackError> {
        let cache = &self.repo.cache;
        // Can a workspace file with this content be replaced without loss?
        let replaceable =
            |d: Option<Digest>| force || d.is_some_and(|d| cache.contains(&Oid::file(d)));
        if !cache.contains(&t.pointer.oid) {
            return Err(CacheError::Missing {
                oid: t.pointer.oid,
                path: cache.object_path(&t.pointer.oid),
            }
            .into());
        }
        match meta {
            None => plan
                .writes
                .push((String::new(), t.pointer.oid.digest, t.pointer.size)),
            Some(m) if m.is_dir() => {
                if force {
                    plan.remove_root = true;
                    plan.writes
                        .push((String::new(), t.pointer.oid.digest, t.pointer.size));
                } else {
                    conflicts.push(format!(
                        "{}/ (a directory where a file is tracked)",
                        t.target_rel
                    ));
                }
            }
            Some(m) => {
                let s = scan_one(
                    &self.state,
                    cache.root(),
                    &t.target_rel,
                    &plan.root_abs.clone(),
                    kind_of(&m),
                    None,
                )?;
                if s.digest == Some(t.pointer.oid.digest) {
                    plan.unchanged += 1;
                    self.record_scanned(
                        "",
                        &[Scanned {
                            rel: t.target_rel.to_string(),
                            ..s
                        }],
                    );
                } else if replaceable(s.digest) {
                    plan.writes
                        .push((String::new(), t.pointer.oid.digest, t.pointer.size));
                } else {
                    conflicts.push(t.target_rel.to_string());
                }
            }
        }

        Ok(plan)
    }

    pub(super) fn plan_checkout(
        &mut self,
        t: &Tracked,
        force: bool,
        conflicts: &mut Vec<String>,
        reporter: &dyn Reporter,
    ) -> Result<CheckoutPlan, TrackError> {
        let abs = self.locate(t)?;
        let cache = &self.repo.cache;
        let mut plan = CheckoutPlan {
            target_rel: t.target_rel.to_string(),
            root_abs: abs.clone(),
            writes: Vec::new(),
            deletes: Vec::new(),
            remove_root: false,
            unchanged: 0,
            dir: t.pointer.oid.dir,
        };
        let meta = match abs.symlink_metadata() {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(with_path(e, &abs).into()),
        };
        // Can a workspace file with this content be replaced without loss?
        let replaceable =
            |d: Option<Digest>| force || d.is_some_and(|d| cache.contains(&Oid::file(d)));

        if !t.pointer.oid.dir {
            return self.plan_file_checkout(t, meta, force, conflicts, plan);
        }

        let manifest = self.manifest_of_part(t)?;
        // Every object must be here before anything in the workspace is
        // touched; the state remembers manifests already checked.
        let known_complete =
            t.only.is_none() && self.state.dir_known_complete(&t.pointer.oid.digest);
        let missing: Vec<_> = manifest
            .entries()
            .par_iter()
            .filter(|e| !known_complete && !cache.contains(&Oid::file(e.sha256)))
            .map(|e| e.sha256)
            .collect();
        if let Some(d) = missing.first() {
            return Err(CacheError::Missing {
                oid: Oid::file(*d),
                path: cache.object_path(&Oid::file(*d)),
            }
            .into());
        }
        if t.only.is_none() {
            self.state.mark_dir_complete(&t.pointer.oid.digest);
        }
        let scanned = match &meta {
            None => Vec::new(),
            Some(m) if m.is_dir() => {
                let found = walk_in(&self.repo.root, &abs)?;
                reporter.start(
                    &format!("checking {}", t.target_rel),
                    Some(found.len() as u64),
                );
                let found: Vec<_> = found.into_iter().filter(|f| t.includes(&f.rel)).collect();
                let s = self.scan_dir(&t.target_rel, &found, reporter)?;
                reporter.finish();
                s
            }
            Some(m) => {
                // A file (or link) where the directory belongs.
                let s = scan_one(
                    &self.state,
                    cache.root(),
                    &t.target_rel,
                    &abs,
                    kind_of(m),
                    None,
                )?;
                if replaceable(s.digest) {
                    plan.remove_root = true;
                } else {
                    conflicts.push(t.target_rel.to_string());
                }
                Vec::new()
            }
        };
        if scanned.is_empty() {
            // Restored from nothing: every entry is written.
            plan.writes = manifest
                .into_entries()
                .into_iter()
                .map(|e| (e.path, e.sha256, e.size))
                .collect();
            return Ok(plan);
        }
        let current: HashMap<&str, &Scanned> =
            scanned.iter().map(|s| (s.rel.as_str(), s)).collect();
        for e in manifest.entries() {
            match current.get(e.path.as_str()) {
                Some(s) if s.digest == Some(e.sha256) => plan.unchanged += 1,
                Some(s) => {
                    if replaceable(s.digest) {
                        plan.writes.push((e.path.clone(), e.sha256, e.size));
                    } else {
                        conflicts.push(format!("{}/{}", t.target_rel, e.path));
                    }
                }
                None => plan.writes.push((e.path.clone(), e.sha256, e.size)),
            }
        }
        let wanted: std::collections::HashSet<&str> =
            manifest.entries().iter().map(|e| e.path.as_str()).collect();
        for s in &scanned {
            if !wanted.contains(s.rel.as_str()) {
                if replaceable(s.digest) {
                    plan.deletes.push(s.abs.clone());
                } else {
                    conflicts.push(format!(
                        "{}/{} (not in the tracked version)",
                        t.target_rel, s.rel
                    ));
                }
            }
        }
        let unchanged: Vec<Scanned> = scanned
            .into_iter()
            .filter(|s| wanted.contains(s.rel.as_str()))
            .collect();
        self.record_scanned(&t.target_rel, &unchanged);
        Ok(plan)
    }

    /// The manifest of what `t` names: the whole directory, or (a part of
    /// it) only its entries, so nothing outside it is touched.
    fn manifest_of_part(
        &self,
        t: &Tracked,
    ) -> Result<crate::store::manifest::Manifest, TrackError> {
        let manifest = self.read_manifest(&t.pointer.oid)?;
        if t.only.is_none() {
            return Ok(manifest);
        }
        Ok(crate::store::manifest::Manifest::from_entries(
            manifest
                .into_entries()
                .into_iter()
                .filter(|e| t.includes(&e.path))
                .collect(),
        ))
    }

    pub(super) fn apply_checkout(
        &mut self,
        plan: CheckoutPlan,
        summary: &mut CheckoutSummary,
        reporter: &dyn Reporter,
    ) -> Result<(), TrackError> {
        let root = &plan.root_abs;
        remove_planned(&plan, summary)?;
        summary.unchanged += plan.unchanged;
        if plan.writes.is_empty() {
            // An empty directory is a manifest with no entries: it is
            // recreated like any other (`root` was located, so checked).
            if plan.dir && root.symlink_metadata().is_err() {
                fs_err::create_dir_all(root)?;
                summary.restored += 1;
            }
            return Ok(());
        }
        // A directory restored from nothing is built in a staging directory
        // under .mlci/tmp and renamed into place whole: each file is then
        // created under its final name (no per-file temp name), and a kill
        // or a corrupt object leaves nothing in the workspace.
        let staging = if plan.dir && root.symlink_metadata().is_err() {
            self.staging_for(root)?
        } else {
            None
        };
        let base = staging
            .as_ref()
            .map(|s| s.path.clone())
            .unwrap_or_else(|| root.clone());
        if plan.dir {
            // Create every parent directory once, up front, rather than
            // checking for it once per file in the parallel loop.
            let mut parents: Vec<&str> = plan
                .writes
                .iter()
                .filter_map(|(rel, _, _)| rel.rfind('/').map(|i| &rel[..i]))
                .collect();
            parents.sort_unstable();
            parents.dedup();
            fs_err::create_dir_all(&base)?;
            // In parallel: creating a directory is a kernel round trip, and
            // a shared ancestor created by two threads at once is fine.
            parents
                .par_iter()
                .try_for_each(|p| fs_err::create_dir_all(base.join(p)))?;
        } else if let Some(parent) = root.parent() {
            fs_err::create_dir_all(parent)?;
        }
        reporter.start(
            &format!("checking out {}", plan.target_rel),
            Some(plan.writes.len() as u64),
        );
        let cache = &self.repo.cache;
        let linker = &self.linker;
        let memo = self.state.objects();
        let fresh = staging.is_some();
        // Files of one directory go to one thread (in runs of at most 256),
        // so the threads create files in different directories instead of
        // queueing on one directory's lock; the manifest's sorted order keeps
        // each directory's files together.
        let parent_of = |rel: &str| rel.rfind('/').map(|i| rel[..i].to_string());
        let groups: Vec<&[(String, Digest, u64)]> = plan
            .writes
            .chunk_by(|a, b| parent_of(&a.0) == parent_of(&b.0))
            .flat_map(|g| g.chunks(256))
            .collect();
        let done: Result<Vec<_>, TrackError> = groups
            .par_iter()
            .map(|group| {
                // One open directory per group: each file then costs a
                // lookup of its own name only.
                let first = group[0].0.as_str();
                let (dir, single) = if first.is_empty() {
                    let parent = root.parent().unwrap_or(Path::new("."));
                    (Dir::open(parent)?, root.file_name())
                } else {
                    match first.rfind('/') {
                        Some(i) => (Dir::open(&base.join(&first[..i]))?, None),
                        None => (Dir::open(&base)?, None),
                    }
                };
                group
                    .iter()
                    .map(|(rel, digest, size)| {
                        let name = match single {
                            Some(n) => n.to_string_lossy(),
                            None => rel.rsplit('/').next().unwrap_or(rel).into(),
                        };
                        let oid = Oid::file(*digest);
                        let (stat, hashed) = linker.materialize_in(
                            cache,
                            &oid,
                            *size,
                            crate::store::link::Place {
                                dir: &dir,
                                name: &name,
                                fresh,
                            },
                            memo,
                        )?;
                        reporter.inc(1);
                        let key = if rel.is_empty() {
                            plan.target_rel.clone()
                        } else {
                            format!("{}/{rel}", plan.target_rel)
                        };
                        Ok((key, stat, *digest, hashed))
                    })
                    .collect::<Result<Vec<_>, TrackError>>()
            })
            .collect();
        // On an error the staging directory is dropped (removed) unpublished.
        let done = done?;
        if let Some(staging) = staging {
            staging.publish(root)?;
        }
        reporter.finish();
        let done: Vec<_> = done.into_iter().flatten().collect();
        summary.restored += done.len() as u64;
        for (_, _, digest, hashed) in &done {
            if let Some(object) = hashed {
                self.state.record_object(digest, object);
            }
        }
        self.state
            .record_all(done.into_iter().map(|(key, stat, d, _)| (key, stat, d)));
        Ok(())
    }

    /// A fresh staging directory for restoring `root`, on the same file
    /// system (so the final rename is atomic); `None` when `.mlci/tmp` is
    /// on another file system than the target. Staging directories left by
    /// a killed run are removed first (the repo lock is held, so none is in
    /// use).
    pub(super) fn staging_for(&self, root: &Path) -> Result<Option<Staging>, TrackError> {
        use std::os::unix::fs::MetadataExt;
        let area = self.repo.tmp_dir().join("checkout");
        if area.exists() {
            fs_err::remove_dir_all(&area)?;
        }
        fs_err::create_dir_all(&area)?;
        let parent = root.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        if fs_err::metadata(&area)?.dev() != fs_err::metadata(parent)?.dev() {
            return Ok(None);
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some(Staging {
            path: area.join(name),
        }))
    }
}

pub(super) struct CheckoutPlan {
    pub(super) target_rel: String,
    pub(super) root_abs: PathBuf,
    /// (path below the root, "" for a tracked file; content; size)
    pub(super) writes: Vec<(String, Digest, u64)>,
    pub(super) deletes: Vec<PathBuf>,
    pub(super) remove_root: bool,
    pub(super) unchanged: u64,
    pub(super) dir: bool,
}

/// A directory being restored out of sight; dropped unpublished (an error
/// part-way), it is removed and the workspace never saw it.
pub(super) struct Staging {
    pub(super) path: PathBuf,
}

impl Staging {
    /// Moves the finished directory to `root`, which must still not exist.
    pub(super) fn publish(self, root: &Path) -> Result<(), TrackError> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        renameat_with(CWD, &self.path, CWD, root, RenameFlags::NOREPLACE)
            .map_err(|e| with_path(e.into(), root))?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a successful publish the path is gone and this is a no-op.
        let _ = fs_err::remove_dir_all(&self.path);
    }
}

/// The deletions of a checkout plan: the root when it must go, files not in
/// the tracked version, and the directories they leave empty.
fn remove_planned(plan: &CheckoutPlan, summary: &mut CheckoutSummary) -> Result<(), TrackError> {
    let root = &plan.root_abs;
    if plan.remove_root {
        let meta = fs_err::symlink_metadata(root)?;
        if meta.is_dir() {
            fs_err::remove_dir_all(root)?;
        } else {
            fs_err::remove_file(root)?;
        }
    }
    for path in &plan.deletes {
        remove_file_if_exists(path)?;
        summary.removed += 1;
    }
    // Directories emptied by the deletions go too (deepest first).
    let mut dirs: Vec<&Path> = plan.deletes.iter().filter_map(|p| p.parent()).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        let mut d = d;
        while d.starts_with(root) && d != root.as_path() && fs_err::remove_dir(d).is_ok() {
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
    }
    Ok(())
}
