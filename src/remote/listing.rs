//! Listings with sizes and ages: what `fsck --remote` compares with the
//! sizes pointers and manifests record, and what `gc --remote` weighs
//! against its grace period.

use std::time::SystemTime;

use opendal::ErrorKind;

use super::{Remote, RemoteError};

/// One key of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the remote root (`sha256/ab/cdef…`, `runs/ab/…`).
    pub key: String,
    /// Bytes stored.
    pub size: u64,
    /// When the key was last written, as the storage reports it; `None`
    /// when it does not (such a key is treated as young: never collected).
    pub modified: Option<SystemTime>,
}

impl Remote {
    /// Every key below `prefix` with its size and age. Object stores give
    /// both in the listing itself (S3's `ListObjectsV2`, Azure's `List
    /// Blobs`); a key listed without them is asked for once more (`stat`).
    pub async fn list_meta(&self, prefix: &str) -> Result<Vec<Listed>, RemoteError> {
        if let Some(dir) = self.dir() {
            let keys = self.list(prefix).await?;
            return Ok(keys
                .into_iter()
                .filter_map(|key| {
                    // A key removed since the listing is simply not there.
                    let meta = dir.root().join(&key).symlink_metadata().ok()?;
                    Some(Listed {
                        key,
                        size: meta.len(),
                        modified: meta.modified().ok(),
                    })
                })
                .collect());
        }
        use futures::TryStreamExt;
        let op = self.op();
        let mut lister = match op.lister_with(prefix).recursive(true).await {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("listing", prefix, e)),
        };
        let mut out = Vec::new();
        loop {
            match lister.try_next().await {
                Ok(Some(entry)) => {
                    let meta = entry.metadata();
                    if meta.is_dir() {
                        continue;
                    }
                    let key = entry.path().trim_start_matches('/').to_string();
                    let (size, modified) = match meta.last_modified() {
                        Some(t) => (meta.content_length(), Some(SystemTime::from(t))),
                        None => match op.stat(&key).await {
                            Ok(m) => (m.content_length(), m.last_modified().map(SystemTime::from)),
                            Err(e) if e.kind() == ErrorKind::NotFound => continue,
                            Err(e) => return Err(self.error("checking", &key, e)),
                        },
                    };
                    out.push(Listed {
                        key,
                        size,
                        modified,
                    });
                }
                Ok(None) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(self.error("listing", prefix, e)),
            }
        }
        Ok(out)
    }
}
