//! A DVC repository's tracked outputs as of a commit, and one of them
//! written out of DVC's cache to any path: what `mlci diff` indexes at a
//! revision and what `mlci model get` downloads. Every byte written is
//! checked against the MD5 DVC recorded before it lands.

use std::io::{Read, Write};
use std::path::Path;

use super::sync::{listing, Out};
use super::DvcError;
use crate::migrate::dvc_files::LegacyMd5;

/// The cached outputs DVC's files record at commit `id` (its `.dvc`
/// files, and its `dvc.lock` entries for the outputs its `dvc.yaml`
/// caches), `targets` kept as in [`super::sync::outs`].
///
/// # Errors
/// The commit cannot be read, or one of those files at it does not parse
/// ([`DvcError::File`] naming it).
pub fn recorded_at(root: &Path, id: git2::Oid, targets: &[String]) -> Result<Vec<Out>, DvcError> {
    let unreadable = |file: &str, message: String| DvcError::File {
        file: file.to_string(),
        message,
    };
    let tree = crate::pipeline::source::GitTree::open(root, id)
        .map_err(|m| unreadable("the commit", m))?;
    let pipeline = crate::pipeline::load::load_from(&tree, Default::default())
        .map_err(|e| unreadable("dvc.yaml", e.to_string()))?;
    const SCAN: crate::git::ScanFor = crate::git::ScanFor {
        pointer_extension: "dvc",
        lock_file: "dvc.lock",
    };
    let pointers: Vec<(String, String)> = crate::git::pointers_at(root, &[id.to_string()], &SCAN)
        .map_err(|e| unreadable("the commit", e.message().to_string()))?
        .into_iter()
        .filter(|b| b.path != "dvc.lock")
        .map(|b| (b.path, b.text))
        .collect();
    let lock = super::lock::load_from(&tree, &pipeline)?;
    super::sync::recorded(&pointers, &lock, &pipeline, targets)
}

/// Writes output `o` from DVC's cache at `cache` to `dest` (a file, or a
/// directory with the files of its listing), each file checked against
/// its MD5 as it is copied, with the modes a checkout gives (0666/0777
/// less the umask); what was at `dest` is replaced only once all of it is
/// written. Returns how many files were written.
///
/// # Errors
/// An object is missing or damaged ([`DvcError::File`] naming it), or the
/// destination cannot be written.
pub fn write_out(cache: &Path, o: &Out, dest: &Path) -> Result<usize, DvcError> {
    use std::os::unix::fs::PermissionsExt;
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    if !o.is_dir() {
        let tmp = tempfile::Builder::new()
            .prefix(".mlci-get")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(parent)?;
        copy_checked(cache, &o.md5, o.legacy, tmp.as_file(), &o.path)?;
        crate::store::materialise::replace(dest)?;
        tmp.persist(dest).map_err(|e| DvcError::Io(e.error))?;
        return Ok(1);
    }
    let entries = listing(cache, o)?.ok_or_else(|| missing(&o.path))?;
    let tmp = tempfile::Builder::new()
        .prefix(".mlci-get")
        .permissions(std::fs::Permissions::from_mode(0o777))
        .tempdir_in(parent)?;
    for (inner, md5) in &entries {
        // Listing paths were checked to stay inside their directory.
        let at = tmp.path().join(inner);
        if let Some(d) = at.parent() {
            fs_err::create_dir_all(d)?;
        }
        let f = fs_err::File::create(&at)?;
        copy_checked(
            cache,
            md5,
            o.legacy,
            f.file(),
            &format!("{}/{inner}", o.path),
        )?;
    }
    crate::store::materialise::replace(dest)?;
    fs_err::rename(tmp.keep(), dest)?;
    Ok(entries.len())
}

fn missing(path: &str) -> DvcError {
    DvcError::File {
        file: path.to_string(),
        message: "its object is not in DVC's cache".into(),
    }
}

/// Copies the object recorded as `md5` into `to`, and checks what was
/// read: DVC 3's MD5, or DVC 2's `md5-dos2unix` for a `legacy` entry.
fn copy_checked(
    cache: &Path,
    md5: &str,
    legacy: bool,
    mut to: &std::fs::File,
    shown: &str,
) -> Result<(), DvcError> {
    let src = super::status::object_path(cache, md5).ok_or_else(|| missing(shown))?;
    let mut from = fs_err::File::open(&src)?;
    let mut h = LegacyMd5::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    let (raw, d2u) = h.finish();
    if (if legacy { d2u } else { raw }) != md5 {
        return Err(DvcError::File {
            file: src.display().to_string(),
            message: format!("the cache's object of `{shown}` is damaged"),
        });
    }
    Ok(())
}
