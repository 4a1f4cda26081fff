//! Checked workspace paths: the one door for every path that comes from data.
//!
//! mlci reads paths from files anyone who opens a pull request or writes to a
//! shared remote controls: pointer files, manifests, `mlci.lock`, run records,
//! keys a remote lists, `mlci.yaml` (outs, deps, params, metrics, plots,
//! `report.template`). Such a path may only name something inside the
//! workspace, never inside `.git/` (as git refuses `.git` in a tree) or
//! mlci's own `.mlci/`, and never through a symbolic link that leads out.
//!
//! The rule has two halves, both here:
//! - [`check_relative`] / [`WorkspacePath::new`] are *lexical*: relative,
//!   `/`-separated, no `..`, `.` or empty components, no `.git` component
//!   (in any letter case, and git's other spellings of it), no `.mlci` at the
//!   root, and no byte that git cannot write exactly in a `.gitignore` line
//!   (control characters such as a newline, a trailing space).
//! - [`WorkspacePath::locate`] / [`WorkspacePath::locate_for_read`] are
//!   *physical*, called at the moment of the write, delete or read: every
//!   existing directory on the way is resolved, and a symbolic link that
//!   leads outside the root or into a reserved area is refused.
//!
//! Nothing widens the rule: `--force` decides whether data may be replaced,
//! never where.

// Raw std::fs on purpose: these match error kinds themselves, call rustix
// beside it, and add the path only on the error branch (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The directory mlci keeps its own state in, at the workspace root.
const MLCI_DIR: &str = ".mlci";

/// Why an untrusted path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("the path is empty")]
    Empty,
    #[error("`{0}` is absolute")]
    Absolute(String),
    #[error("`{0}` leaves its directory through `..`")]
    ParentDir(String),
    #[error("`{0}` is not a plain relative path")]
    Odd(String),
    #[error("`{path}` is inside {area}/, which {owner} manages itself")]
    Reserved {
        path: String,
        area: &'static str,
        owner: &'static str,
    },
    #[error("`{0}` holds a character git cannot list exactly in .gitignore (a control character such as a newline, or a trailing space)")]
    Unignorable(String),
    #[error("`{0}`: the file name is not valid UTF-8")]
    NotUtf8(String),
    #[error("`{0}` is a symbolic link, which mlci does not follow for the files it edits")]
    Link(String),
    #[error("`{0}` leads outside the workspace through a symbolic link")]
    Escapes(String),
    #[error(
        "`{0}` reaches {1}/ through a symbolic link, which mlci never writes or reads for data"
    )]
    ReachesReserved(String, &'static str),
    #[error("cannot resolve `{path}`: {message}")]
    Io { path: String, message: String },
}

impl crate::error::Hint for UnsafePath {
    fn hint(&self) -> Option<String> {
        Some(match self {
            UnsafePath::Reserved { .. } | UnsafePath::ReachesReserved(..) => {
                "data paths must name files in the work tree, outside .git/ and .mlci/; fix the path in the file named above".into()
            }
            UnsafePath::Link(_) => {
                "replace the link with a regular file (`cp --remove-destination \"$(readlink F)\" F`)".into()
            }
            UnsafePath::Escapes(_) => {
                "mlci never follows a symbolic link out of the workspace; replace the link with a directory, or move the data into the repository".into()
            }
            UnsafePath::Unignorable(_) | UnsafePath::NotUtf8(_) => {
                "rename the file: mlci refuses names that are not UTF-8, hold control characters or end in a space, which git cannot ignore exactly".into()
            }
            UnsafePath::Io { .. } => "check the path's directories exist and are readable".into(),
            _ => "paths in mlci's files are relative to the workspace, `/`-separated, without `..`".into(),
        })
    }
}

crate::register_hint!(UnsafePath);

/// Whether one path component names git's directory, in any letter case and
/// in the spellings other file systems fold to it (`.git.`, `git~1`), as
/// git's own `verify_path` refuses.
fn is_git_dir(component: &str) -> bool {
    let trimmed = component.trim_end_matches(['.', ' ']);
    trimmed.eq_ignore_ascii_case(".git") || component.eq_ignore_ascii_case("git~1")
}

/// Checks that a `/`-separated path from a pointer, manifest, lock file,
/// run record or remote stays below its base: relative, no `..`, no `.` or
/// empty components, no backslashes that Windows would read as separators,
/// no `.git` component, no control character or trailing space. Returns the
/// platform path. The base itself decides what else is reserved (see
/// [`WorkspacePath::new`]).
pub fn check_relative(path: &str) -> Result<PathBuf, UnsafePath> {
    if path.is_empty() {
        return Err(UnsafePath::Empty);
    }
    if path.starts_with('/') {
        return Err(UnsafePath::Absolute(path.into()));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(UnsafePath::Odd(path.into()));
    }
    if path.chars().any(char::is_control) {
        return Err(UnsafePath::Unignorable(path.into()));
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        match part {
            ".." => return Err(UnsafePath::ParentDir(path.into())),
            "" | "." => return Err(UnsafePath::Odd(path.into())),
            p if is_git_dir(p) => {
                return Err(UnsafePath::Reserved {
                    path: path.into(),
                    area: ".git",
                    owner: "git",
                })
            }
            p if p.ends_with(' ') => return Err(UnsafePath::Unignorable(path.into())),
            p => out.push(p),
        }
    }
    Ok(out)
}

/// A path relative to the workspace root that passed the lexical rule: the
/// only type through which a path from data reaches the file system.
///
/// It deserialises from a string through the same check, so a lock file or a
/// run record that names a bad path fails to parse rather than reaching a
/// write.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspacePath(String);

impl TryFrom<String> for WorkspacePath {
    type Error = UnsafePath;
    fn try_from(s: String) -> Result<WorkspacePath, UnsafePath> {
        WorkspacePath::new(&s)
    }
}

impl WorkspacePath {
    /// Checks `path` (`/`-separated, relative to the workspace root).
    ///
    /// # Errors
    /// [`UnsafePath`] when it is not a plain relative path, leaves the root,
    /// or names `.git/` or `.mlci/`.
    pub fn new(path: &str) -> Result<WorkspacePath, UnsafePath> {
        check_relative(path)?;
        let first = path.split('/').next().unwrap_or(path);
        if first == MLCI_DIR {
            return Err(UnsafePath::Reserved {
                path: path.into(),
                area: MLCI_DIR,
                owner: "mlci",
            });
        }
        Ok(WorkspacePath(path.to_string()))
    }

    /// `self/rel`, checked as a whole.
    pub fn join(&self, rel: &str) -> Result<WorkspacePath, UnsafePath> {
        WorkspacePath::new(&format!("{}/{rel}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute path of `self` below `root` (canonical) for a write or a
    /// delete, checked now: every directory above the last component that
    /// exists is resolved, and a symbolic link among them must stay inside
    /// `root` and out of `.git/` and `.mlci/`. The last component itself is
    /// not followed: writes replace it and deletes remove it, link or not.
    pub fn locate(&self, root: &Path) -> Result<PathBuf, UnsafePath> {
        let parts: Vec<&str> = self.0.split('/').collect();
        let (dirs, _) = parts.split_at(parts.len() - 1);
        self.walk(root, dirs, false)?;
        Ok(root.join(&self.0))
    }

    /// Like [`WorkspacePath::locate`], for a read: the last component is
    /// followed too, and it may lead into the cache (`.mlci/cache/`, where
    /// symlink checkouts point) but nowhere else that is reserved.
    pub fn locate_for_read(&self, root: &Path) -> Result<PathBuf, UnsafePath> {
        let parts: Vec<&str> = self.0.split('/').collect();
        self.walk(root, &parts, true)?;
        Ok(root.join(&self.0))
    }

    fn walk(&self, root: &Path, parts: &[&str], read: bool) -> Result<(), UnsafePath> {
        let mut cur = root.to_path_buf();
        for part in parts {
            cur.push(part);
            match cur.symlink_metadata() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Ok(()),
                Err(e) => return Err(self.io(e)),
                Ok(m) if m.file_type().is_symlink() => {
                    let real = match cur.canonicalize() {
                        Ok(r) => r,
                        // A dangling link: nothing is reached through it
                        // now, but a write would create its target.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(UnsafePath::Escapes(self.0.clone()))
                        }
                        Err(e) => return Err(self.io(e)),
                    };
                    self.check_real(root, &real, read)?;
                    cur = real;
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    fn check_real(&self, root: &Path, real: &Path, read: bool) -> Result<(), UnsafePath> {
        let rel = real
            .strip_prefix(root)
            .map_err(|_| UnsafePath::Escapes(self.0.clone()))?;
        let mut comps = rel.components().map(|c| c.as_os_str().to_string_lossy());
        let first = comps.next();
        let second = comps.next();
        match first.as_deref() {
            Some(c) if is_git_dir(c) => Err(UnsafePath::ReachesReserved(self.0.clone(), ".git")),
            Some(MLCI_DIR) if !(read && second.as_deref() == Some("cache")) => {
                Err(UnsafePath::ReachesReserved(self.0.clone(), MLCI_DIR))
            }
            _ => Ok(()),
        }
    }

    fn io(&self, e: io::Error) -> UnsafePath {
        UnsafePath::Io {
            path: self.0.clone(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for WorkspacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for WorkspacePath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for WorkspacePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<Path> for WorkspacePath {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl PartialEq<str> for WorkspacePath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for WorkspacePath {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<&str> for WorkspacePath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<WorkspacePath> for String {
    fn from(p: WorkspacePath) -> String {
        p.0
    }
}

/// Which of the workspace's own directories (`.git` or `.mlci`) holds
/// `path` (absolute), lexically (`..` folded) or once links are resolved;
/// None when neither does. For places a setting names, such as a directory
/// remote, which must never be inside them.
pub fn own_dir_holding(root: &Path, path: &Path) -> Option<&'static str> {
    let lexical = fold_dots(path);
    let real = lexical.canonicalize().unwrap_or_else(|_| lexical.clone());
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    [".git", ".mlci"]
        .into_iter()
        .find(|own| lexical.starts_with(root.join(own)) || real.starts_with(root_real.join(own)))
}

/// `path` with `.` removed and `..` folded, without touching the file
/// system.
pub fn fold_dots(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rule() {
        assert!(WorkspacePath::new("a/b.csv").is_ok());
        assert!(WorkspacePath::new("data/.mlci/x").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\..\\b",
            ".git/config",
            "sub/.GIT/config",
            ".git./config",
            "GIT~1/config",
            ".mlci/config.local.yaml",
            "a\nb",
            "trailing /x",
            "tab\tname",
        ] {
            assert!(WorkspacePath::new(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn symlinks_out_or_into_git_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join(".mlci/cache")).unwrap();
        std::fs::create_dir_all(root.join("real")).unwrap();
        let root = root.canonicalize().unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join(".git"), root.join("g")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join(".mlci/cache"), root.join("c")).unwrap();
        let p = |s: &str| WorkspacePath::new(s).unwrap();
        assert_eq!(
            p("out/x").locate(&root),
            Err(UnsafePath::Escapes("out/x".into()))
        );
        assert!(matches!(
            p("g/config").locate(&root),
            Err(UnsafePath::ReachesReserved(_, ".git"))
        ));
        assert_eq!(p("in/x").locate(&root).unwrap(), root.join("in/x"));
        // The leaf is not followed for writes (it is replaced), only reads.
        assert!(p("out").locate(&root).is_ok());
        assert!(p("out").locate_for_read(&root).is_err());
        assert!(p("c/x").locate_for_read(&root).is_ok());
        assert!(p("c/x").locate(&root).is_err());
    }
}
