//! Reading keys from a remote with bounded memory: a small key whole
//! through a cap (the size its pointer, manifest or record kind allows), a
//! large one of another tool's layout in chunks.

use opendal::ErrorKind;

use super::{scrub, Remote, RemoteError, Store};

impl Remote {
    /// The bytes of `key`, None when it is not there; streamed, and
    /// refused (`Oversized`) as soon as more than `cap` bytes arrive, so
    /// memory follows what the caller expects, never what the server
    /// claims or sends.
    pub async fn read_key(&self, key: &str, cap: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let oversized = || RemoteError::Oversized {
            remote: self.name.clone(),
            key: key.to_string(),
            limit: cap,
        };
        let op = match &self.store {
            Store::Dir(c) => {
                use std::io::Read;
                #[allow(clippy::disallowed_methods)]
                // its error names the path as shown, or is matched by kind
                let file = match std::fs::File::open(c.root().join(key)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(self.dir_error("reading", key, e)),
                };
                let mut bytes = Vec::new();
                file.take(cap.saturating_add(1))
                    .read_to_end(&mut bytes)
                    .map_err(|e| self.dir_error("reading", key, e))?;
                if bytes.len() as u64 > cap {
                    return Err(oversized());
                }
                return Ok(Some(bytes));
            }
            Store::Dal(op) => op,
        };
        let mut bytes = Vec::new();
        let found = self
            .stream_key(op, key, |chunk| {
                if (bytes.len() + chunk.len()) as u64 > cap {
                    return Err(oversized());
                }
                bytes.extend_from_slice(chunk);
                Ok(())
            })
            .await?;
        Ok(found.then_some(bytes))
    }

    /// Streams `key` of a network remote to `each` as one request, the
    /// chunks as they arrive; Ok(false) when `key` is not there. The
    /// stream's errors are the storage layer's, wrapped as I/O errors:
    /// unwrapped, they get the same messages and hints as every other
    /// request's.
    async fn stream_key(
        &self,
        op: &opendal::Operator,
        key: &str,
        mut each: impl FnMut(&[u8]) -> Result<(), RemoteError>,
    ) -> Result<bool, RemoteError> {
        let not_found = |e: &opendal::Error| e.kind() == ErrorKind::NotFound;
        let reader = match op.reader(key).await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(self.error("reading", key, e)),
        };
        let mut stream = match reader.into_bytes_stream(..).await {
            Ok(s) => s,
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(self.error("reading", key, e)),
        };
        loop {
            match futures::TryStreamExt::try_next(&mut stream).await {
                Ok(Some(chunk)) => each(&chunk)?,
                Ok(None) => return Ok(true),
                Err(e) => {
                    let plain = e.kind();
                    return match e.into_inner().map(|i| i.downcast::<opendal::Error>()) {
                        Some(Ok(dal)) if dal.kind() == ErrorKind::NotFound => Ok(false),
                        Some(Ok(dal)) => Err(self.error("reading", key, *dal)),
                        _ if plain == std::io::ErrorKind::NotFound => Ok(false),
                        other => Err(RemoteError::Storage {
                            remote: self.name.clone(),
                            op: "reading",
                            key: key.to_string(),
                            message: scrub(
                                &other
                                    .and_then(|r| r.err())
                                    .map(|i| i.to_string())
                                    .unwrap_or_else(|| plain.to_string()),
                                &self.secrets,
                            ),
                        }),
                    };
                }
            }
        }
    }

    /// Streams `key` to `each` in chunks of at most 8 MiB (bounded memory
    /// for big objects of another tool's layout). Ok(false) when `key` is
    /// not there.
    pub async fn read_key_chunks(
        &self,
        key: &str,
        mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<bool, RemoteError> {
        const CHUNK: u64 = 8 << 20;
        let op = match &self.store {
            Store::Dir(c) => {
                use std::io::Read;
                #[allow(clippy::disallowed_methods)]
                // its error names the path as shown, or is matched by kind
                let mut f = match std::fs::File::open(c.root().join(key)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(self.dir_error("reading", key, e)),
                };
                // A small object gets a buffer of its size, not of a chunk.
                let len = f.metadata().map_or(CHUNK, |m| m.len() + 1).min(CHUNK);
                let mut buf = vec![0u8; len as usize];
                loop {
                    let n = f
                        .read(&mut buf)
                        .map_err(|e| self.dir_error("reading", key, e))?;
                    if n == 0 {
                        return Ok(true);
                    }
                    each(&buf[..n]).map_err(|e| self.dir_error("reading", key, e))?;
                }
            }
            Store::Dal(op) => op,
        };
        self.stream_key(op, key, |chunk| {
            each(chunk).map_err(|e| self.dir_error("reading", key, e))
        })
        .await
    }
}
