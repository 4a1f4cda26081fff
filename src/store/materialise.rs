//! Materialising an object from the cache to any path (outside the
//! workspace's pointers: `mlci model get -o`): a file, or a directory's
//! files, each verified against its hash while it is copied, written
//! under a temporary name beside the destination and renamed over it, so
//! a reader never sees half a model.

use std::path::Path;

use super::cache::{Cache, CacheError, Oid};
use super::manifest::{Manifest, ManifestError};
use crate::workspace_path::{UnsafePath, WorkspacePath};

/// Why an object could not be written out (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MaterialiseError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Path(#[from] UnsafePath),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Persist(#[from] tempfile::PersistError),
}

impl crate::error::Hint for MaterialiseError {
    fn hint(&self) -> Option<String> {
        match self {
            MaterialiseError::Cache(e) => e.hint(),
            MaterialiseError::Path(e) => e.hint(),
            _ => None,
        }
    }
}

crate::register_hint!(MaterialiseError);

/// Writes object `oid` (a file, or a directory's files) to `out`, each file
/// verified while it is copied, through a temporary name beside `out`.
/// Returns the number of files.
pub fn write_object(cache: &Cache, oid: &Oid, out: &Path) -> Result<usize, MaterialiseError> {
    let parent = out.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    // What lands is a user's file, like any checkout: 0666 and 0777 less
    // the umask (tempfile's own 0600 and 0700 would keep a deploy's other
    // users, or a container's non-root one, out).
    use std::os::unix::fs::PermissionsExt;
    if !oid.dir {
        let tmp = tempfile::Builder::new()
            .prefix(".mlci-get")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(parent)?;
        copy_verified(cache, oid, tmp.as_file(), tmp.path())?;
        replace(out)?;
        tmp.persist(out)?;
        return Ok(1);
    }
    let manifest = Manifest::parse(&cache.read_verified(oid)?)?;
    let tmp = tempfile::Builder::new()
        .prefix(".mlci-get")
        .permissions(std::fs::Permissions::from_mode(0o777))
        .tempdir_in(parent)?;
    for e in manifest.entries() {
        // Manifest entries come from a remote: plain relative paths only.
        let rel = WorkspacePath::new(&e.path)?;
        let dest = tmp.path().join(rel.as_str());
        if let Some(d) = dest.parent() {
            fs_err::create_dir_all(d)?;
        }
        let f = fs_err::File::create(&dest)?;
        copy_verified(cache, &Oid::file(e.sha256), f.file(), &dest)?;
    }
    replace(out)?;
    fs_err::rename(tmp.keep(), out)?;
    Ok(manifest.entries().len())
}

/// Copies object `oid` into `to` (open at `path`, which the hash is read
/// back from) and checks the hash of what landed.
fn copy_verified(
    cache: &Cache,
    oid: &Oid,
    to: &std::fs::File,
    path: &Path,
) -> Result<(), MaterialiseError> {
    let src = cache.open_object(oid)?;
    let (digest, _) = crate::store::copy::copy_file_and_hash(&src, to.try_clone()?, path)?;
    if digest != oid.digest {
        return Err(CacheError::Corrupt {
            oid: *oid,
            actual: digest,
            path: cache.object_path(oid),
        }
        .into());
    }
    Ok(())
}

/// Removes what is at `out` (a file, link or directory) before the rename.
pub fn replace(out: &Path) -> std::io::Result<()> {
    match out.symlink_metadata() {
        Ok(m) if m.is_dir() => fs_err::remove_dir_all(out),
        Ok(_) => fs_err::remove_file(out),
        Err(_) => Ok(()),
    }
}
