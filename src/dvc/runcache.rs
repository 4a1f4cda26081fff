//! DVC's run cache, read and written as DVC 3 keeps it (read from
//! `dvc/stage/cache.py`): after a stage runs, its `dvc.lock` entry is
//! saved at `<cache>/runs/<key[:2]>/<key>/<value>` (YAML), where `key` is
//! the SHA-256 of the entry with each output reduced to its path and
//! `value` the SHA-256 of the whole entry, both over Python's
//! `json.dumps(…, sort_keys=True)` with every `size` and `nfiles` left
//! out. A stale stage whose key has an entry whose outputs the cache holds
//! is restored from it instead of run (`dvc repro`'s "Stage is cached"),
//! so either tool restores what the other ran.
//!
//! Only stages DVC would hash take part: a command, deps or params, and
//! outputs, none `persist`, and not `always_changed`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};
use sha2::Digest;

use crate::pipeline::Stage;
use crate::remote::Remote;

/// Bound on one entry read from the cache (a lock entry is small).
const ENTRY_BYTES: u64 = 1 << 20;

/// Whether DVC keeps `stage` in its run cache.
pub fn can_hash(stage: &Stage) -> bool {
    !stage.cmd.is_empty()
        && !stage.always_changed
        && (!stage.deps.is_empty() || !stage.params.is_empty())
        && !stage.outs.is_empty()
        && stage.outs.iter().all(|o| !o.persist)
}

/// `v` as Python's `json.dumps(v, sort_keys=True)` writes it, leaving
/// out every mapping key named `size` or `nfiles`.
fn py_dumps(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&py_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Json::String(s) => super::contents::py_json_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_dumps(item, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m
                .keys()
                .filter(|k| *k != "size" && *k != "nfiles")
                .collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                super::contents::py_json_str(k, out);
                out.push_str(": ");
                py_dumps(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read
/// back the same, positional for exponents -4 to 15 (with `.0` when
/// whole), else `1.5e-07` / `1e+16`.
fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("a number");
    if (-4..16).contains(&exp) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn sha256_of(v: &Json) -> String {
    let mut text = String::new();
    py_dumps(v, &mut text);
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The key of a stage's entry: its outputs reduced to their paths.
pub fn key(entry: &Json) -> String {
    let mut probe = entry.clone();
    if let Some(Json::Array(outs)) = probe.get_mut("outs") {
        for o in outs.iter_mut() {
            if let Some(path) = o.get("path").cloned() {
                *o = path;
            }
        }
    }
    sha256_of(&probe)
}

fn dir_of(cache: &Path, key: &str) -> PathBuf {
    cache.join("runs").join(&key[..2]).join(key)
}

/// Saves `entry` (a stage's `dvc.lock` entry) into the run cache at
/// `cache`; an entry already there is left as it is.
///
/// # Errors
/// Writing the cache fails.
pub fn save(cache: &Path, entry: &Json) -> std::io::Result<()> {
    let dir = dir_of(cache, &key(entry));
    let path = dir.join(sha256_of(entry));
    if path.is_file() {
        return Ok(());
    }
    fs_err::create_dir_all(&dir)?;
    let text = crate::yaml::to_string_python_floats(entry);
    crate::fsutil::write_atomic_nosync(&path, text.as_bytes())
}

/// Where `entry` lives, relative to the cache and to a remote's root
/// (DVC's `push --run-cache` layout): `runs/<key[:2]>/<key>/<value>`.
pub fn entry_key(entry: &Json) -> String {
    let k = key(entry);
    format!("runs/{}/{k}/{}", &k[..2], sha256_of(entry))
}

/// Uploads the saved run-cache files of `entries` that the remote lacks
/// (as `dvc push --run-cache` does); returns how many were sent.
///
/// # Errors
/// The remote refuses a check or a write.
pub fn push(cache: &Path, remote: &Remote, entries: &[Json]) -> Result<usize, super::DvcError> {
    let rt = crate::remote::runtime()?;
    let mut sent = 0;
    for entry in entries {
        let at = entry_key(entry);
        let Ok(bytes) = fs_err::read(cache.join(&at)) else {
            continue;
        };
        if rt.block_on(remote.exists(&at))? {
            continue;
        }
        rt.block_on(remote.write_small(&at, &bytes))?;
        sent += 1;
    }
    Ok(sent)
}

/// The objects `entry` names (each output's MD5, a directory's listing),
/// for pushing them beside it: DVC's run cache commits a stage's uncached
/// outputs too (`cache: false` metrics), and another machine restoring the
/// entry needs every one. Outputs without a plain MD5 are skipped.
pub fn outs(entry: &Json) -> Vec<super::sync::Out> {
    entry
        .get("outs")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let md5 = o.get("md5")?.as_str()?;
            let digest = md5.strip_suffix(".dir").unwrap_or(md5);
            let hex = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
            hex.then(|| super::sync::Out {
                path: o
                    .get("path")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string(),
                md5: md5.to_string(),
                legacy: o.get("hash").and_then(Json::as_str) != Some("md5"),
                push: true,
            })
        })
        .collect()
}

/// Downloads the entries a remote holds under the key of `probe` into the
/// cache (as `dvc pull --run-cache` does, for one key): each bounded,
/// parsed, and kept only when its own key is the one it sits under.
/// Returns how many were added; a remote that cannot be listed has none.
///
/// # Errors
/// The remote refuses the listing or a read; the cache cannot be written.
pub fn fetch(cache: &Path, remote: &Remote, probe: &Json) -> Result<usize, super::DvcError> {
    if !remote.can_list() {
        return Ok(0);
    }
    let k = key(probe);
    let rt = crate::remote::runtime()?;
    let mut added = 0;
    for at in rt.block_on(remote.list(&format!("runs/{}/{k}/", &k[..2])))? {
        let local = cache.join(&at);
        let value = at.rsplit('/').next().unwrap_or("");
        let plain = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
        if !plain || local.is_file() {
            continue;
        }
        let Some(bytes) = rt.block_on(remote.read_key(&at, ENTRY_BYTES))? else {
            continue;
        };
        let Ok(entry) = serde_yaml::from_slice::<Json>(&bytes) else {
            continue;
        };
        if key(&entry) != k {
            continue;
        }
        fs_err::create_dir_all(local.parent().expect("under runs/"))?;
        crate::fsutil::write_atomic_nosync(&local, &bytes)?;
        added += 1;
    }
    Ok(added)
}

/// Every run-cache file under `cache` the remote lacks, uploaded (`mlci
/// push` without targets, as `dvc push --run-cache`); how many were sent.
///
/// # Errors
/// The remote refuses the listing or a write; the cache cannot be read.
pub fn push_all(cache: &Path, remote: &Remote) -> Result<usize, super::DvcError> {
    let runs = cache.join("runs");
    if !runs.is_dir() {
        return Ok(0);
    }
    let rt = crate::remote::runtime()?;
    let there: std::collections::HashSet<String> = match remote.can_list() {
        true => rt.block_on(remote.list("runs/"))?.into_iter().collect(),
        false => Default::default(),
    };
    let mut sent = 0;
    for entry in walkdir::WalkDir::new(&runs).min_depth(3).max_depth(3) {
        let entry = entry.map_err(std::io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(cache).expect("under the cache");
        let Some(at) = rel.to_str().map(|r| r.replace('\\', "/")) else {
            continue;
        };
        if there.contains(&at) || (!remote.can_list() && rt.block_on(remote.exists(&at))?) {
            continue;
        }
        let bytes = fs_err::read(entry.path())?;
        rt.block_on(remote.write_small(&at, &bytes))?;
        sent += 1;
    }
    Ok(sent)
}

/// Every run-cache entry the remote holds that the cache lacks,
/// downloaded (`mlci fetch`/`pull` without targets, as `dvc fetch
/// --run-cache`): each bounded, parsed, and kept only under its own key;
/// how many were added.
///
/// # Errors
/// The remote refuses the listing or a read; the cache cannot be written.
pub fn fetch_all(cache: &Path, remote: &Remote) -> Result<usize, super::DvcError> {
    if !remote.can_list() {
        return Ok(0);
    }
    let rt = crate::remote::runtime()?;
    let mut added = 0;
    for at in rt.block_on(remote.list("runs/"))? {
        let parts: Vec<&str> = at.split('/').collect();
        let [_, two, k, value] = parts.as_slice() else {
            continue;
        };
        let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(k) || !hex(value) || !k.starts_with(two) || two.len() != 2 {
            continue;
        }
        let local = cache.join(&at);
        if local.is_file() {
            continue;
        }
        let Some(bytes) = rt.block_on(remote.read_key(&at, ENTRY_BYTES))? else {
            continue;
        };
        let Ok(entry) = serde_yaml::from_slice::<Json>(&bytes) else {
            continue;
        };
        if key(&entry) != *k {
            continue;
        }
        fs_err::create_dir_all(local.parent().expect("under runs/"))?;
        crate::fsutil::write_atomic_nosync(&local, &bytes)?;
        added += 1;
    }
    Ok(added)
}

/// The newest entry saved under the key of `probe` (a stage's entry
/// before it runs: command, deps, params and its outputs' paths), when
/// one reads as a stage entry with the same outputs.
pub fn lookup(cache: &Path, probe: &Json) -> Option<Map<String, Json>> {
    let dir = dir_of(cache, &key(probe));
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = fs_err::read_dir(&dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let fits = meta.is_file() && meta.len() <= ENTRY_BYTES;
            fits.then_some(())?;
            Some((meta.modified().ok()?, e.path()))
        })
        .collect();
    // DVC takes the newest.
    entries.sort();
    let (_, newest) = entries.pop()?;
    let text = fs_err::read_to_string(&newest).ok()?;
    let entry: Map<String, Json> = serde_yaml::from_str(&text).ok()?;
    let paths = |v: Option<&Json>| -> Option<Vec<String>> {
        v?.as_array()?
            .iter()
            .map(|o| o.get("path").or(Some(o))?.as_str().map(str::to_string))
            .collect()
    };
    (paths(entry.get("outs")) == paths(probe.get("outs")) && entry.get("cmd") == probe.get("cmd"))
        .then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_writes_them() {
        for (f, py) in [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(py_float(f), py, "{f}");
        }
    }

    #[test]
    fn sizes_are_left_out_and_keys_sorted() {
        let v: Json =
            serde_json::json!({"outs": [{"path": "m", "md5": "x", "size": 3}], "cmd": "é"});
        let mut s = String::new();
        py_dumps(&v, &mut s);
        assert_eq!(
            s,
            r#"{"cmd": "\u00e9", "outs": [{"md5": "x", "path": "m"}]}"#
        );
    }
}
