//! File-system helpers for the safety rules of docs/design.md §6: atomic
//! writes (temp file + rename) and path context for I/O errors. Untrusted
//! paths are checked in [`crate::workspace_path`].

// Raw std::fs on purpose: these match error kinds themselves, call rustix
// beside it, and add the path only on the error branch (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fs_err as fs;

/// Writes `bytes` to `path` atomically and durably: a kill at any moment
/// leaves either the old file or the new one. Used for metadata (pointers,
/// config, lock files), which is also fsynced with its directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_inner(path, bytes, true)
}

/// Like [`write_atomic`] without fsync, for caches that are cheap to rebuild.
pub fn write_atomic_nosync(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_inner(path, bytes, false)
}

fn write_atomic_inner(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = parent_dir(path);
    // A new file gets 0666 less the umask, like any file an editor writes;
    // a replaced file keeps its mode (a user may have made it 0600).
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o666));
    let mut tmp = tempfile::Builder::new()
        .prefix(".mlci-tmp-")
        .permissions(mode)
        .tempfile_in(dir)
        .map_err(|e| with_path(e, dir))?;
    tmp.write_all(bytes).map_err(|e| with_path(e, path))?;
    if durable {
        tmp.as_file().sync_all().map_err(|e| with_path(e, path))?;
    }
    tmp.persist(path).map_err(|e| with_path(e.error, path))?;
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Flushes a directory entry change (a rename) to disk. Best effort: some
/// file systems refuse to fsync a directory, and that must not fail a write.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Adds the path to an io error that does not already carry one.
pub fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{err} (at {})", path.display()))
}

/// Removes a file, treating "already gone" as success.
pub fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// This process's id, looked up once (it names temp files).
pub fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// A workspace path as the `/`-separated string used in manifests and state.
pub fn to_slash(path: &Path) -> String {
    let mut s = String::new();
    for (i, c) in path.components().enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(&c.as_os_str().to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process umask, read without changing it (Linux 4.7+).
    fn umask() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string()))
            })
            .and_then(|v| u32::from_str_radix(&v, 8).ok())
            .unwrap_or(0o022)
    }

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        write_atomic(&p, b"one").unwrap();
        // New files are readable by others (umask permitting), like any file.
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o044, 0o044 & !umask(), "mode {mode:o}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
