//! DVC's own files, read as untrusted input: `.dvc` files (DVC 2 and 3
//! formats), `dvc.lock` (schema 2.0), directory listings (`.dir` objects),
//! and where DVC keeps an object by its MD5 (the DVC 3 layout
//! `files/md5/ab/cdef…` and the DVC 2 layout `ab/cdef…`, in the local
//! cache `.dvc/cache/` and on a remote alike).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value as Json;

/// One output DVC recorded: where, and its MD5 (`….dir` for a directory).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DvcOut {
    pub path: String,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub nfiles: Option<u64>,
    /// `md5` for DVC 3's hash; absent for DVC 2's `md5-dos2unix`.
    #[serde(default)]
    pub hash: Option<String>,
}

impl DvcOut {
    pub fn is_dir(&self) -> bool {
        self.md5.as_deref().is_some_and(|m| m.ends_with(".dir"))
    }

    /// The 32 hex digits of the MD5, without `.dir`.
    pub fn digest(&self) -> Option<&str> {
        let m = self.md5.as_deref()?;
        let d = m.strip_suffix(".dir").unwrap_or(m);
        (d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit())).then_some(d)
    }
}

#[derive(Debug, Default, Deserialize)]
struct DvcFileWire {
    #[serde(default)]
    outs: Vec<DvcOut>,
    #[serde(default)]
    deps: Vec<Json>,
}

/// A `.dvc` file: its outputs, and whether it imports from elsewhere
/// (`dvc import`, `dvc import-url`: deps that are not migrated).
#[derive(Debug, Default)]
pub struct DvcFile {
    pub outs: Vec<DvcOut>,
    pub imports: bool,
}

/// Parses a `.dvc` file's text.
pub fn parse_dvc_file(text: &str, file: &str) -> Result<DvcFile, String> {
    let wire: DvcFileWire = crate::yaml::parse(text, Path::new(file)).map_err(|e| e.to_string())?;
    Ok(DvcFile {
        imports: !wire.deps.is_empty(),
        outs: wire.outs,
    })
}

/// One stage of `dvc.lock`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DvcLockStage {
    #[serde(default)]
    pub cmd: Option<Json>,
    #[serde(default)]
    pub deps: Vec<DvcOut>,
    #[serde(default)]
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
    #[serde(default)]
    pub outs: Vec<DvcOut>,
}

impl DvcLockStage {
    /// The command as recorded: one string, or several.
    pub fn commands(&self) -> Vec<String> {
        match &self.cmd {
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DvcLockWire {
    #[serde(default)]
    stages: BTreeMap<String, DvcLockStage>,
}

/// Parses `dvc.lock`: DVC 2 and 3's (`schema: '2.0'`, stages under
/// `stages:`), and DVC 1's, which has no `schema:` and its stages at the
/// top level with the same fields (DVC 3 refuses it; mlci takes it over).
/// Anything else is an error, never an empty lock.
pub fn parse_dvc_lock(text: &str) -> Result<BTreeMap<String, DvcLockStage>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let path = Path::new("dvc.lock");
    let value: Json = crate::yaml::parse(text, path).map_err(|e| e.to_string())?;
    let Json::Object(top) = &value else {
        return Err("not a mapping of stages".into());
    };
    if top.contains_key("schema") || top.contains_key("stages") {
        let wire: DvcLockWire = serde_json::from_value(value).map_err(|e| e.to_string())?;
        return Ok(wire.stages);
    }
    // DVC 1.x: every top-level key a stage with its command.
    if let Some((name, _)) = top.iter().find(|(_, v)| v.get("cmd").is_none()) {
        return Err(format!(
            "neither DVC 2/3's format (`schema: '2.0'`) nor DVC 1's (`{name}` is not a stage)"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("in DVC 1's format: {e}"))
}

/// One file of a directory listing (`.dir` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub relpath: String,
    pub md5: String,
}

/// Parses a `.dir` object: a JSON list of `{"md5", "relpath"}`. Paths are
/// checked like every path from data (relative, no `..`, nothing under
/// `.git` or `.mlci`).
pub fn parse_dir(bytes: &[u8]) -> Result<Vec<DirEntry>, String> {
    let list: Vec<Json> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    list.into_iter()
        .map(|e| {
            let relpath = e["relpath"].as_str().ok_or("an entry has no relpath")?;
            let md5 = e["md5"].as_str().ok_or("an entry has no md5")?;
            crate::workspace_path::check_relative(relpath).map_err(|err| err.to_string())?;
            if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("`{relpath}`: `{md5}` is not an MD5"));
            }
            Ok(DirEntry {
                relpath: relpath.to_string(),
                md5: md5.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// The two MD5s DVC has named a file by, computed in one pass: the MD5 of
/// its bytes (DVC 3, `hash: md5`), and DVC 2's `md5-dos2unix`, where each
/// 1 MiB chunk that looks like text (DVC's `istextblock` on its first 512
/// bytes) has its CRLF line ends made LF before it is hashed. DVC 3 still
/// reads the second for objects in DVC 2's layout.
pub struct LegacyMd5 {
    raw: md5::Md5,
    dos2unix: md5::Md5,
    /// The part of the current 1 MiB chunk seen so far.
    chunk: Vec<u8>,
}

/// DVC's hashing chunk (`fobj_md5`'s `chunk_size`).
const CHUNK: usize = 1 << 20;

impl Default for LegacyMd5 {
    fn default() -> Self {
        use md5::Digest;
        LegacyMd5 {
            raw: md5::Md5::new(),
            dos2unix: md5::Md5::new(),
            chunk: Vec::new(),
        }
    }
}

impl LegacyMd5 {
    pub fn update(&mut self, mut bytes: &[u8]) {
        use md5::Digest;
        self.raw.update(bytes);
        while !bytes.is_empty() {
            let take = (CHUNK - self.chunk.len()).min(bytes.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.chunk.len() == CHUNK {
                self.flush_chunk();
            }
        }
    }

    fn flush_chunk(&mut self) {
        use md5::Digest;
        let chunk = std::mem::take(&mut self.chunk);
        if is_text_block(&chunk[..chunk.len().min(512)]) {
            let mut out = Vec::with_capacity(chunk.len());
            let mut i = 0;
            while i < chunk.len() {
                if chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                out.push(chunk[i]);
                i += 1;
            }
            self.dos2unix.update(&out);
        } else {
            self.dos2unix.update(&chunk);
        }
        self.chunk = chunk;
        self.chunk.clear();
    }

    /// (raw MD5, dos2unix MD5), 32 hex digits each.
    pub fn finish(mut self) -> (String, String) {
        use md5::Digest;
        if !self.chunk.is_empty() {
            self.flush_chunk();
        }
        (
            hex::encode(self.raw.finalize()),
            hex::encode(self.dos2unix.finalize()),
        )
    }
}

/// Both MD5s of `bytes` (see [`LegacyMd5`]).
pub fn md5_both(bytes: &[u8]) -> (String, String) {
    let mut h = LegacyMd5::default();
    h.update(bytes);
    h.finish()
}

/// DVC's text heuristic (`dvc_data.hashfile.istextfile.istextblock`): no
/// NUL byte and at most 30 % of bytes outside printable ASCII and
/// `\n\r\t\f\b`; an empty block is text.
fn is_text_block(block: &[u8]) -> bool {
    if block.is_empty() {
        return true;
    }
    if block.contains(&0) {
        return false;
    }
    let nontext = block
        .iter()
        .filter(|&&b| !((32..127).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x08)))
        .count();
    nontext as f64 / block.len() as f64 <= 0.30
}

/// Where DVC keeps object `md5` (with `.dir` for a listing), newest layout
/// first: `files/md5/ab/cdef…` (DVC 3), then `ab/cdef…` (DVC 2).
pub fn object_keys(md5: &str, dir: bool) -> [String; 2] {
    let suffix = if dir { ".dir" } else { "" };
    let (head, rest) = md5.split_at(2);
    [
        format!("files/md5/{head}/{rest}{suffix}"),
        format!("{head}/{rest}{suffix}"),
    ]
}

/// The MD5 of `bytes`, as DVC names objects (lower-case hex).
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// `path` (as dvc.lock writes it, relative to the stage's wdir) relative
/// to the root, `..` folded; None when it climbs out of the root.
pub fn under(wdir: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = wdir.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dvc_files_locks_and_listings() {
        let f = parse_dvc_file(
            "outs:\n- md5: 22a1a2931c8370d3aeedd7183606fd7f\n  size: 14\n  hash: md5\n  path: data.xml\n",
            "data.xml.dvc",
        )
        .unwrap();
        assert_eq!(f.outs[0].digest(), Some("22a1a2931c8370d3aeedd7183606fd7f"));
        assert!(!f.imports && !f.outs[0].is_dir());
        let v1 = parse_dvc_lock("count:\n  cmd: wc -l a > n\n  deps:\n  - path: a\n    md5: 0123456789abcdef0123456789abcdef\n  outs:\n  - path: n\n    md5: 0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(v1["count"].outs[0].path, "n");
        assert!(parse_dvc_lock("foo: 1\n").is_err());
        let lock = parse_dvc_lock("schema: '2.0'\nstages:\n  train:\n    cmd: python t.py\n    deps:\n    - path: t.py\n      md5: 0123456789abcdef0123456789abcdef\n      size: 3\n    params:\n      params.yaml:\n        lr: 0.1\n    outs:\n    - path: out\n      md5: 0123456789abcdef0123456789abcdef.dir\n      size: 9\n      nfiles: 2\n").unwrap();
        assert_eq!(lock["train"].commands(), ["python t.py"]);
        assert!(lock["train"].outs[0].is_dir());
        assert_eq!(lock["train"].params["params.yaml"]["lr"], 0.1);
        let dir =
            parse_dir(br#"[{"md5": "0123456789abcdef0123456789abcdef", "relpath": "a/b.txt"}]"#)
                .unwrap();
        assert_eq!(dir[0].relpath, "a/b.txt");
        assert!(
            parse_dir(br#"[{"md5": "0123456789abcdef0123456789abcdef", "relpath": "../x"}]"#)
                .is_err()
        );
        assert_eq!(
            object_keys("0123456789abcdef0123456789abcdef", true),
            [
                "files/md5/01/23456789abcdef0123456789abcdef.dir".to_string(),
                "01/23456789abcdef0123456789abcdef.dir".into()
            ]
        );
        assert_eq!(md5_hex(b"hello\n"), "b1946ac92492d2347c6235b4d2611184");
        // DVC 2 named a CRLF text file by the MD5 of its LF form.
        let (raw, d2u) = md5_both(b"hello\r\n");
        assert_eq!(d2u, "b1946ac92492d2347c6235b4d2611184");
        assert_ne!(raw, d2u);
        // Binary (a NUL byte): no conversion.
        let (raw, d2u) = md5_both(b"a\0\r\n");
        assert_eq!(raw, d2u);
    }
}
