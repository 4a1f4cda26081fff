//! Errors that reach the user.
//!
//! Domain modules return their own `thiserror` enums; commands wrap them in
//! `anyhow` with context. At the edge, [`hint_for`] walks the chain for a
//! [`Hinted`] error to print its `hint:` line, so a hint written next to the
//! error that causes it is never lost however many layers of context wrap it.

use std::fmt;
use std::io;

/// An error with a suggestion for the user, printed on its own `hint:` line.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Builds an error with a hint.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// Domain errors that know their own hint implement this.
pub trait Hint {
    fn hint(&self) -> Option<String>;
}

/// How the edge finds a domain error's hint without knowing the domain's
/// types: every error type that implements [`Hint`] registers a lookup for
/// itself beside its impl with [`register_hint!`](crate::register_hint),
/// and [`hint_for`] asks each registered lookup about each cause. This
/// module so stays a leaf: no domain module is named here.
pub struct HintLookup(pub fn(&(dyn std::error::Error + 'static)) -> Option<Option<String>>);

inventory::collect!(HintLookup);

/// Registers `$t`'s [`Hint`] impl for [`hint_for`]; put it beside the impl.
#[macro_export]
macro_rules! register_hint {
    ($t:ty) => {
        inventory::submit! {
            $crate::error::HintLookup(|e| e.downcast_ref::<$t>().map($crate::error::Hint::hint))
        }
    };
}

/// The hint of the innermost error in the chain that has one; else a hint
/// for an operating-system error in the chain (disk full, permission).
pub fn hint_for(err: &anyhow::Error) -> Option<String> {
    let mut found = None;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            found = Some(h.hint.clone());
            continue;
        }
        if let Some(hint) = inventory::iter::<HintLookup>
            .into_iter()
            .find_map(|lookup| (lookup.0)(cause))
        {
            found = hint.or(found);
        }
    }
    if found.is_none() {
        found = err
            .chain()
            .filter_map(|c| c.downcast_ref::<io::Error>())
            .find_map(io_hint);
    }
    found.or_else(|| library_hint(err))
}

/// The last resort for an error a library raised with no hint of its own:
/// text that is not UTF-8, and git's own refusals.
fn library_hint(err: &anyhow::Error) -> Option<String> {
    let utf8 = err.chain().any(|c| {
        c.is::<std::str::Utf8Error>()
            || c.is::<std::string::FromUtf8Error>()
            || c.to_string().contains("valid UTF-8")
    });
    if utf8 {
        return Some("mlci reads pipeline, params, metrics and config files as UTF-8 text: save the file as UTF-8".into());
    }
    if err.chain().any(|c| c.is::<git2::Error>()) {
        return Some(
            "git could not do it: `git status` and `git fsck` in this repository say more".into(),
        );
    }
    None
}

/// Hints for the operating-system errors users can act on; domain errors
/// that wrap an `io::Error` return this from their own [`Hint`] impl.
pub fn io_hint(err: &io::Error) -> Option<String> {
    // A domain error carried inside an io::Error (a file name the
    // workspace rule refuses, met while listing a directory).
    if let Some(inner) = err.get_ref() {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if let Some(hint) = inventory::iter::<HintLookup>
            .into_iter()
            .find_map(|lookup| (lookup.0)(inner))
        {
            return hint;
        }
    }
    // Kinds rather than raw errno: fs-err wraps the OS error to add the path.
    match err.kind() {
        io::ErrorKind::StorageFull => Some(
            "the disk is full: free space, or run `mlci gc` to drop unused cache objects".into(),
        ),
        io::ErrorKind::QuotaExceeded => {
            Some("the disk quota is exceeded: free space, or run `mlci gc`".into())
        }
        io::ErrorKind::ReadOnlyFilesystem => Some("the file system is read-only".into()),
        io::ErrorKind::PermissionDenied => {
            Some("check the permissions of the file and of its directory".into())
        }
        _ => None,
    }
}

/// True when the error is stdout closing under us (`mlci ... | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
