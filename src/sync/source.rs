//! A remote as the run cache's second source during `repro`: a stage
//! computed on another machine is restored from the remote instead of run.

use std::sync::Mutex;

use crate::pipeline::runcache::ObjectSource;
use crate::progress::Silent;
use crate::remote::known::Known;
use crate::remote::transfer::Transfer;
use crate::remote::{self, Remote};
use crate::repo::Repo;
use crate::store::cache::{Cache, Oid};

use super::fetch::fetch_groups;
use super::{expand, Group};

/// The remote, a cache handle and a runtime of its own, so stages running
/// on worker threads can fetch synchronously.
pub struct RemoteSource {
    remote: Remote,
    cache: Cache,
    rt: tokio::runtime::Runtime,
    known: Mutex<Known>,
}

impl RemoteSource {
    pub fn new(repo: &Repo, remote: Remote) -> std::io::Result<RemoteSource> {
        Ok(RemoteSource {
            known: Mutex::new(Known::load(&repo.tmp_dir(), &remote.identity)),
            remote,
            cache: Cache::new(repo.cache.root()),
            rt: remote::runtime()?,
        })
    }

    /// Saves what was learnt about the remote.
    pub fn finish(&self) -> std::io::Result<()> {
        self.known.lock().expect("known lock").save()
    }
}

impl ObjectSource for RemoteSource {
    fn record(&self, key: &crate::store::hash::Digest) -> Option<Vec<u8>> {
        let k = crate::pipeline::runcache::record_key(key);
        self.rt
            .block_on(self.remote.read_key(&k, crate::limits::RECORD_BYTES))
            .ok()
            .flatten()
    }

    fn fetch(&self, oids: &[Oid]) -> bool {
        let mut groups: Vec<Group> = oids
            .iter()
            .map(|&oid| {
                let mut g = Group::of_object(oid.short(), oid, None);
                expand(&self.cache, &mut g);
                g
            })
            .collect();
        let mut known = self.known.lock().expect("known lock");
        let t = Transfer {
            remote: &self.remote,
            cache: &self.cache,
            jobs: self.remote.jobs,
            reporter: &Silent,
        };
        matches!(
            fetch_groups(&t, &self.rt, &mut groups, &mut known),
            Ok((_, lost)) if lost.is_empty()
        )
    }
}
