//! `mlci status` of tracked data: stat-only where the state vouches for a
//! file, and what changed inside a tracked directory.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use rayon::prelude::*;

use super::add::{kind_of, manifest_of, scan_one, Scanned};
use super::*;

impl Workspace<'_> {
    /// `mlci status` for the given tracked paths.
    pub fn status(
        &mut self,
        tracked: &[Tracked],
        reporter: &dyn Reporter,
    ) -> Result<Vec<DataStatus>, TrackError> {
        let mut out = Vec::new();
        for t in tracked {
            out.push(self.status_one(t, reporter)?);
        }
        Ok(out)
    }

    pub(super) fn status_one(
        &mut self,
        t: &Tracked,
        reporter: &dyn Reporter,
    ) -> Result<DataStatus, TrackError> {
        if let (Some(part), true) = (&t.only, t.pointer.oid.dir) {
            return self.status_part(t, part);
        }
        let abs = self.repo.abs(&t.target_rel);
        let cache = &self.repo.cache;
        let mut status = DataStatus {
            path: t.target_rel.to_string(),
            pointer: t.pointer_rel.clone(),
            state: DataState::Unchanged,
            in_cache: cache.contains(&t.pointer.oid),
            damaged: None,
            changes: None,
        };
        let meta = match abs.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                status.state = DataState::Deleted;
                if t.pointer.oid.dir {
                    (status.in_cache, status.damaged) = self.dir_in_cache(&t.pointer.oid);
                }
                return Ok(status);
            }
            Err(e) => return Err(with_path(e, &abs).into()),
        };
        if !t.pointer.oid.dir {
            let s = scan_one(
                &self.state,
                cache.root(),
                &t.target_rel,
                &abs,
                kind_of(&meta),
                None,
            )?;
            if s.digest != Some(t.pointer.oid.digest) {
                status.state = DataState::Modified;
            }
            let scanned = [Scanned {
                rel: t.target_rel.to_string(),
                ..s
            }];
            self.record_scanned("", &scanned);
            return Ok(status);
        }
        if !meta.is_dir() {
            status.state = DataState::Modified;
            (status.in_cache, status.damaged) = self.dir_in_cache(&t.pointer.oid);
            return Ok(status);
        }
        let found = walk_in(&self.repo.root, &abs)?;
        // Same listing, same stats as when the manifest hash was last
        // worked out: nothing to read, look up or encode.
        let now = crate::store::state::now_ns();
        let (fp, settled) = crate::store::walk::fingerprint(&found, now);
        if self.state.listing_digest(&t.target_rel, fp) == Some(t.pointer.oid.digest) {
            (status.in_cache, status.damaged) = self.dir_in_cache(&t.pointer.oid);
            return Ok(status);
        }
        reporter.start(
            &format!("checking {}", t.target_rel),
            Some(found.len() as u64),
        );
        let scanned = self.scan_dir(&t.target_rel, &found, reporter)?;
        reporter.finish();
        self.record_scanned(&t.target_rel, &scanned);
        let current = manifest_of(&scanned);
        let (digest, _) = current.as_ref().map(Manifest::encode).unzip();
        if let (Some(d), true) = (digest, settled) {
            self.state.remember_listing(&t.target_rel, fp, d);
        }
        (status.in_cache, status.damaged) = self.dir_in_cache(&t.pointer.oid);
        if digest != Some(t.pointer.oid.digest) {
            status.state = DataState::Modified;
            status.changes = Some(self.explain(&t.pointer.oid, &scanned));
        }
        Ok(status)
    }

    /// The status of a part of a tracked directory (a file or a sub-folder):
    /// its entries in the manifest against what is in the work tree there.
    fn status_part(&mut self, t: &Tracked, part: &str) -> Result<DataStatus, TrackError> {
        let rel = format!("{}/{part}", t.target_rel);
        let mut status = DataStatus {
            path: rel.clone(),
            pointer: t.pointer_rel.clone(),
            state: DataState::Unchanged,
            in_cache: false,
            damaged: None,
            changes: None,
        };
        let abs = self.repo.abs(&t.target_rel);
        let exists = self.repo.abs(&rel).symlink_metadata().is_ok();
        let Ok(manifest) = self.read_manifest(&t.pointer.oid) else {
            // Not fetched yet: what is there cannot be compared.
            status.state = if exists {
                DataState::Modified
            } else {
                DataState::Deleted
            };
            return Ok(status);
        };
        let wanted: Vec<&crate::store::manifest::Entry> = manifest
            .entries()
            .iter()
            .filter(|e| t.includes(&e.path))
            .collect();
        let cache = &self.repo.cache;
        status.in_cache = wanted.iter().all(|e| cache.contains(&Oid::file(e.sha256)));
        if !exists {
            status.state = DataState::Deleted;
            return Ok(status);
        }
        let found: Vec<_> = match abs.is_dir() {
            true => walk_in(&self.repo.root, &abs)?
                .into_iter()
                .filter(|f| t.includes(&f.rel))
                .collect(),
            false => Vec::new(),
        };
        let scanned = self.scan_dir(&t.target_rel, &found, &crate::progress::Silent)?;
        let now: HashMap<&str, Option<crate::store::hash::Digest>> =
            scanned.iter().map(|s| (s.rel.as_str(), s.digest)).collect();
        let same = now.len() == wanted.len()
            && wanted
                .iter()
                .all(|e| now.get(e.path.as_str()) == Some(&Some(e.sha256)));
        if !same {
            status.state = DataState::Modified;
        }
        Ok(status)
    }

    /// Whether the manifest and every object it lists are in the cache, and
    /// why not when the manifest is there but damaged or not a manifest (so
    /// status says "invalid", not "not in cache"). A positive answer is
    /// remembered in the state (gc clears it), so a no-op status costs one
    /// stat for the manifest, not one per object.
    pub(super) fn dir_in_cache(&mut self, oid: &Oid) -> (bool, Option<String>) {
        let cache = &self.repo.cache;
        if self.state.dir_known_complete(&oid.digest) {
            return (cache.contains(oid), None);
        }
        let (complete, damaged) = match self.read_manifest(oid) {
            Ok(m) => (
                m.entries()
                    .par_iter()
                    .all(|e| cache.contains(&Oid::file(e.sha256))),
                None,
            ),
            Err(_) if !cache.contains(oid) => (false, None),
            Err(e) => (false, Some(e.to_string())),
        };
        if complete {
            self.state.mark_dir_complete(&oid.digest);
        }
        (complete, damaged)
    }

    /// The directory manifest `oid` from the cache, hash-checked and
    /// validated, or from its binary memo in `.mlci/tmp/manifests/` when
    /// one was kept by an earlier read (and the object is still cached).
    pub fn read_manifest(&self, oid: &Oid) -> Result<Manifest, TrackError> {
        let memo = self.repo.manifest_memo_path(oid);
        if let Ok(bytes) = fs_err::read(&memo) {
            if let Some(m) = Manifest::from_memo(&bytes, &oid.digest) {
                if self.repo.cache.contains(oid) {
                    return Ok(m);
                }
            }
        }
        let bytes = self.repo.cache.read_verified(oid)?;
        let m =
            Manifest::parse(&bytes).map_err(|source| TrackError::Manifest { oid: *oid, source })?;
        // Best effort: without a memo the next read parses the JSON again.
        let _ = fs_err::create_dir_all(memo.parent().unwrap_or(Path::new(".")))
            .and_then(|()| crate::fsutil::write_atomic_nosync(&memo, &m.to_memo(&oid.digest)));
        Ok(m)
    }

    /// Which files of a directory differ from its recorded manifest (empty
    /// lists when that manifest is not in the cache to compare with).
    pub(super) fn explain(&self, oid: &Oid, scanned: &[Scanned]) -> DirDiff {
        let mut diff = DirDiff::default();
        let Ok(old) = self.read_manifest(oid) else {
            return diff;
        };
        let old: HashMap<&str, Digest> = old
            .entries()
            .iter()
            .map(|e| (e.path.as_str(), e.sha256))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for s in scanned {
            seen.insert(s.rel.as_str());
            match old.get(s.rel.as_str()) {
                None => diff.added.push(s.rel.clone()),
                Some(d) if Some(*d) != s.digest => diff.modified.push(s.rel.clone()),
                Some(_) => {}
            }
        }
        diff.deleted = old
            .keys()
            .filter(|k| !seen.contains(*k))
            .map(|k| k.to_string())
            .collect();
        diff.added.sort();
        diff.modified.sort();
        diff.deleted.sort();
        diff
    }
}
