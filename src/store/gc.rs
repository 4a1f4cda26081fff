//! Garbage collection of the local cache: drop objects that no pointer in
//! the chosen scope references. The scope is always explicit (docs/design.md §4:
//! no scope is an error), and the workspace is always part of it, so gc can
//! never delete data the current checkout needs. Run records go with the
//! objects they name (`pipeline::runcache::stale`).

use std::collections::HashSet;

use serde::Serialize;

use crate::store::cache::{Cache, Oid};
use crate::store::manifest::Manifest;

/// What a gc run would remove and keep.
#[derive(Debug, Default, Serialize)]
pub struct GcPlan {
    pub remove: Vec<(Oid, u64)>,
    pub kept: usize,
    /// Referenced directory manifests that are not in the cache: their files
    /// cannot be told apart from garbage, so nothing is removed when any is
    /// missing unless the caller accepts it.
    pub missing_manifests: Vec<Oid>,
}

impl GcPlan {
    pub fn bytes(&self) -> u64 {
        self.remove.iter().map(|(_, s)| s).sum()
    }
}

/// Expands referenced objects with the files their manifests list.
pub fn referenced(cache: &Cache, roots: impl IntoIterator<Item = Oid>) -> (HashSet<Oid>, Vec<Oid>) {
    let mut keep = HashSet::new();
    let mut missing = Vec::new();
    for oid in roots {
        if !keep.insert(oid) || !oid.dir {
            continue;
        }
        match cache
            .read_verified(&oid)
            .ok()
            .and_then(|b| Manifest::parse(&b).ok())
        {
            Some(m) => keep.extend(m.entries().iter().map(|e| Oid::file(e.sha256))),
            None => missing.push(oid),
        }
    }
    (keep, missing)
}

pub fn plan(
    cache: &Cache,
    keep: &HashSet<Oid>,
    missing_manifests: Vec<Oid>,
) -> std::io::Result<GcPlan> {
    let mut plan = GcPlan {
        missing_manifests,
        ..GcPlan::default()
    };
    for (oid, size) in cache.list()? {
        if keep.contains(&oid) {
            plan.kept += 1;
        } else {
            plan.remove.push((oid, size));
        }
    }
    plan.remove.sort();
    Ok(plan)
}

pub fn sweep(cache: &Cache, plan: &GcPlan) -> std::io::Result<()> {
    for (oid, _) in &plan.remove {
        cache.remove(oid)?;
    }
    cache.clean_tmp()?;
    Ok(())
}
