//! Workspace content as DVC names it: a file by the MD5 of its bytes
//! (`hash: md5`, DVC 3) or DVC 2's `md5-dos2unix` (text chunks with CRLF
//! made LF), a directory by the MD5 of its `.dir` listing (`[{"md5": …,
//! "relpath": …}]` sorted by path, serialised as Python's `json.dumps`
//! does) with `.dir` appended. Files are hashed in parallel and both MD5s
//! remembered per (inode, size, mtime, ctime) in `.dvc/tmp/mlci/`, so an
//! unchanged file costs one stat on the next command.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::migrate::dvc_files::{md5_hex, LegacyMd5};
use crate::pipeline::status::{Content, Contents};
use crate::progress::Reporter;
use crate::store::state::StatKey;
use crate::store::walk::Kind;
use crate::track::TrackError;

const MEMO_FILE: &str = "md5-memo.json";
const DIRS_FILE: &str = "md5-dirs.json";

/// A directory's listing fingerprint (its files' names and stats) with
/// the content it had: an unchanged listing needs no per-file memo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DirMemo {
    fingerprint: String,
    legacy: bool,
    id: String,
    size: u64,
    nfiles: u64,
}

/// One file's stat and both of its MD5s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Memo {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    md5: String,
    dos2unix: String,
}

/// DVC's MD5 contents of one workspace.
pub struct Md5Contents {
    root: PathBuf,
    state_dir: PathBuf,
    /// Paths whose recorded hash is DVC 2's `md5-dos2unix`.
    legacy: BTreeSet<String>,
    /// Per file, loaded when a directory's listing changed or a file is
    /// asked for.
    memo: Option<HashMap<String, Memo>>,
    changed: bool,
    dirs: HashMap<String, DirMemo>,
    dirs_changed: bool,
    /// What this command already read (a directory both a `.dvc` file and
    /// a stage name is listed once); [`Md5Contents::forget`] after the
    /// workspace changes.
    seen: HashMap<String, Content>,
    /// Each directory's walk in this command, reused by
    /// [`Md5Contents::files_of`] (forgotten with `seen`).
    listed: HashMap<String, Vec<(String, PathBuf, Option<StatKey>)>>,
}

fn stat_of(meta: &std::fs::Metadata) -> (u64, u64, i128, i128) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.ino(),
        meta.size(),
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
    )
}

/// Both MD5s of the file at `path`, streamed.
pub(crate) fn hash_file(path: &Path, size_hint: u64) -> std::io::Result<(String, String)> {
    let mut file = fs_err::File::open(path)?;
    let mut h = LegacyMd5::default();
    // A buffer the size of the file (up to 1 MiB): most tracked files are
    // small, and zeroing 1 MiB for each costs more than reading it.
    let mut buf = vec![0u8; (size_hint as usize + 1).clamp(4096, 1 << 20)];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
        // The whole file in one short read, as its stat said: no read
        // just to see the end (a file that grows meanwhile has a new stat,
        // and a store checks the bytes it copies).
        if total == size_hint && n < buf.len() {
            break;
        }
    }
    Ok(h.finish())
}

impl Md5Contents {
    /// The contents of the workspace at `root`, with what earlier commands
    /// remembered; `legacy` names the paths recorded with DVC 2's hash.
    pub fn open(root: &Path, legacy: BTreeSet<String>) -> Md5Contents {
        let state_dir = crate::repo::format::Format::Dvc.state_dir(root);
        let dirs = fs_err::read(state_dir.join(DIRS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Md5Contents {
            root: root.to_path_buf(),
            state_dir,
            legacy,
            memo: None,
            changed: false,
            dirs,
            dirs_changed: false,
            seen: HashMap::new(),
            listed: HashMap::new(),
        }
    }

    /// The per-file memo, read on first use.
    fn memo(&mut self) -> &mut HashMap<String, Memo> {
        let dir = &self.state_dir;
        self.memo.get_or_insert_with(|| {
            fs_err::read(dir.join(MEMO_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        })
    }

    /// Which paths are recorded with DVC 2's hash (the lock changed); what
    /// was read stays valid only under the same names, so it is forgotten.
    pub fn set_legacy(&mut self, legacy: BTreeSet<String>) {
        if legacy != self.legacy {
            self.legacy = legacy;
            self.seen.clear();
        }
    }

    /// Forgets what this command read (a stage just wrote its outputs).
    pub fn forget(&mut self) {
        self.seen.clear();
        self.listed.clear();
    }

    /// The files of directory `rel` with the MD5 its listing names each by
    /// (DVC 2's for a directory recorded with it; from the memo: read
    /// once), as (path inside, absolute path, MD5, size in bytes).
    pub fn files_of(
        &mut self,
        rel: &str,
    ) -> Result<Vec<(String, PathBuf, String, u64)>, TrackError> {
        // The walk this command already took of it, else a new one.
        let files = match self.listed.get(rel) {
            Some(f) => f.clone(),
            None => listing(&self.root, rel).map_err(TrackError::Io)?,
        };
        let keyed: Vec<(String, PathBuf, Option<StatKey>)> = files
            .iter()
            .map(|(inner, a, st)| (format!("{rel}/{inner}"), a.clone(), *st))
            .collect();
        let sums = self.md5s(&keyed)?;
        let legacy = self.legacy.contains(rel);
        Ok(files
            .into_iter()
            .zip(sums)
            .map(|((inner, abs, _), (md5, d2u, size))| {
                (inner, abs, if legacy { d2u } else { md5 }, size)
            })
            .collect())
    }

    /// Saves what was hashed for the next command (into `.dvc/tmp/mlci/`
    /// only); a failure to save costs speed, never correctness.
    pub fn save(&self) {
        if !(self.changed || self.dirs_changed) || fs_err::create_dir_all(&self.state_dir).is_err()
        {
            return;
        }
        if let (true, Some(memo)) = (self.changed, &self.memo) {
            if let Ok(bytes) = serde_json::to_vec(memo) {
                let _ = crate::fsutil::write_atomic(&self.state_dir.join(MEMO_FILE), &bytes);
            }
        }
        if self.dirs_changed {
            if let Ok(bytes) = serde_json::to_vec(&self.dirs) {
                let _ = crate::fsutil::write_atomic(&self.state_dir.join(DIRS_FILE), &bytes);
            }
        }
    }

    /// Both MD5s of each `(rel, abs, stat)` file, from the memo when its
    /// stat (taken now when not given) is unchanged, else hashed (in
    /// parallel).
    fn md5s(
        &mut self,
        files: &[(String, PathBuf, Option<StatKey>)],
    ) -> Result<Vec<(String, String, u64)>, TrackError> {
        self.memo();
        let memo = self.memo.as_ref().expect("loaded");
        let done: Vec<Result<(Memo, bool), TrackError>> = files
            .par_iter()
            .map(|(rel, abs, st)| {
                let (ino, size, mtime_ns, ctime_ns) = match st {
                    Some(k) => (k.ino, k.size, k.mtime_ns as i128, k.ctime_ns as i128),
                    None => stat_of(&fs_err::metadata(abs).map_err(TrackError::Io)?),
                };
                if let Some(m) = memo.get(rel) {
                    if (m.ino, m.size, m.mtime_ns, m.ctime_ns) == (ino, size, mtime_ns, ctime_ns) {
                        return Ok((m.clone(), false));
                    }
                }
                let (md5, dos2unix) = hash_file(abs, size).map_err(TrackError::Io)?;
                Ok((
                    Memo {
                        ino,
                        size,
                        mtime_ns,
                        ctime_ns,
                        md5,
                        dos2unix,
                    },
                    true,
                ))
            })
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for ((rel, _, _), r) in files.iter().zip(done) {
            let (m, fresh) = r?;
            out.push((m.md5.clone(), m.dos2unix.clone(), m.size));
            if fresh {
                self.memo().insert(rel.clone(), m);
                self.changed = true;
            }
        }
        Ok(out)
    }
}

/// The files of the directory `rel` under `root` as DVC lists a tracked
/// directory (`.dvcignore` rules applied), each with the `lstat` the walk
/// took: (path inside, absolute path, stat), sorted by path.
fn listing(root: &Path, rel: &str) -> std::io::Result<Vec<(String, PathBuf, Option<StatKey>)>> {
    let dir = root.join(rel);
    let mut out: Vec<(String, PathBuf, Option<StatKey>)> = crate::store::walk::walk_in(root, &dir)?
        .into_iter()
        .filter_map(|f| {
            let abs = dir.join(&f.rel);
            match f.kind {
                Kind::File => Some((f.rel, abs, Some(f.stat))),
                // A link is read through, as DVC reads it.
                Kind::Symlink if abs.is_file() => Some((f.rel, abs, None)),
                _ => None,
            }
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A listing's fingerprint: the MD5 of every file's name and stat (None
/// when a link's target was not stat-ed in the walk).
fn fingerprint(files: &[(String, PathBuf, Option<StatKey>)]) -> Option<String> {
    use md5::Digest;
    let mut h = md5::Md5::new();
    for (name, _, st) in files {
        let st = (*st)?;
        h.update(name.as_bytes());
        h.update([0]);
        for n in [st.ino, st.size, st.mtime_ns as u64, st.ctime_ns as u64] {
            h.update(n.to_le_bytes());
        }
    }
    Some(hex::encode(h.finalize()))
}

/// `text` as Python's `json.dumps` writes a string (ASCII only: other
/// characters as `\uXXXX`, astral ones as surrogate pairs).
pub(super) fn py_json_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// DVC's `.dir` listing bytes for `(relpath, md5)` entries sorted by path.
pub fn dir_listing(entries: &[(String, String)]) -> Vec<u8> {
    let mut out = String::from("[");
    for (i, (rel, md5)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"md5\": ");
        py_json_str(md5, &mut out);
        out.push_str(", \"relpath\": ");
        py_json_str(rel, &mut out);
        out.push('}');
    }
    out.push(']');
    out.into_bytes()
}

impl Contents for Md5Contents {
    fn root(&self) -> &Path {
        &self.root
    }

    fn content(&mut self, path: &str, reporter: &dyn Reporter) -> Result<Content, TrackError> {
        if let Some(c) = self.seen.get(path) {
            return Ok(c.clone());
        }
        let c = self.read(path, reporter)?;
        self.seen.insert(path.to_string(), c.clone());
        Ok(c)
    }
}

impl Md5Contents {
    fn read(&mut self, path: &str, _reporter: &dyn Reporter) -> Result<Content, TrackError> {
        let abs = self.root.join(path);
        let meta = match fs_err::metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TrackError::NotFound { path: path.into() })
            }
            Err(e) => return Err(TrackError::Io(e)),
        };
        let legacy = self.legacy.contains(path);
        if !meta.is_dir() {
            // A file is known by its stat's fingerprint in the small memo
            // too: a no-op status then never opens the per-file one.
            let stat = crate::store::state::StatKey::of(&meta);
            let fp = fingerprint(&[(String::new(), abs.clone(), Some(stat))]);
            if let (Some(fp), Some(d)) = (&fp, self.dirs.get(path)) {
                if d.fingerprint == *fp && d.legacy == legacy && !d.id.ends_with(".dir") {
                    return Ok(Content {
                        id: d.id.clone(),
                        size: d.size,
                        nfiles: None,
                    });
                }
            }
            let (md5, d2u, size) = self.md5s(&[(path.to_string(), abs, None)])?.remove(0);
            let id = if legacy { d2u } else { md5 };
            if let Some(fp) = fp {
                self.dirs.insert(
                    path.to_string(),
                    DirMemo {
                        fingerprint: fp,
                        legacy,
                        id: id.clone(),
                        size,
                        nfiles: 0,
                    },
                );
                self.dirs_changed = true;
            }
            return Ok(Content {
                id,
                size,
                nfiles: None,
            });
        }
        let files = listing(&self.root, path).map_err(TrackError::Io)?;
        self.listed.insert(path.to_string(), files.clone());
        let fingerprint = fingerprint(&files);
        if let (Some(fp), Some(d)) = (&fingerprint, self.dirs.get(path)) {
            if d.fingerprint == *fp && d.legacy == legacy {
                return Ok(Content {
                    id: d.id.clone(),
                    size: d.size,
                    nfiles: Some(d.nfiles),
                });
            }
        }
        let keyed: Vec<(String, PathBuf, Option<StatKey>)> = files
            .iter()
            .map(|(inner, a, st)| (format!("{path}/{inner}"), a.clone(), *st))
            .collect();
        let sums = self.md5s(&keyed)?;
        let entries: Vec<(String, String)> = files
            .iter()
            .zip(&sums)
            .map(|((inner, _, _), (md5, d2u, _))| {
                (inner.clone(), if legacy { d2u } else { md5 }.clone())
            })
            .collect();
        let content = Content {
            id: format!("{}.dir", md5_hex(&dir_listing(&entries))),
            size: sums.iter().map(|s| s.2).sum(),
            nfiles: Some(files.len() as u64),
        };
        if let Some(fp) = fingerprint {
            self.dirs.insert(
                path.to_string(),
                DirMemo {
                    fingerprint: fp,
                    legacy,
                    id: content.id.clone(),
                    size: content.size,
                    nfiles: files.len() as u64,
                },
            );
            self.dirs_changed = true;
        }
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_pythons_json() {
        let bytes = dir_listing(&[
            ("a/b.txt".into(), "0cc175b9c0f1b6a831c399e269772661".into()),
            ("é\"\n😀".into(), "92eb5ffee6ae2fec3ad71c777531578f".into()),
        ]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"[{"md5": "0cc175b9c0f1b6a831c399e269772661", "relpath": "a/b.txt"}, {"md5": "92eb5ffee6ae2fec3ad71c777531578f", "relpath": "\u00e9\"\n\ud83d\ude00"}]"#
        );
    }
}
