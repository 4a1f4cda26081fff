//! Secrets that must never be printed: scrubbed from every line mlci writes.
//!
//! mlci runs in CI with a publishing token and storage credentials in its
//! environment. Errors can echo them (a proxy that reflects the
//! `Authorization` header, a storage error quoting a signed URL), so the
//! printer and every report mlci publishes pass through [`Secrets::scrub`]:
//! one place, whatever the error's shape.
//!
//! What counts as a secret: the values of well-known credential variables,
//! and of any variable whose name says it holds one (`TOKEN`, `SECRET`,
//! `PASSWORD`, `PASSWD`, `_KEY` but not `_KEY_ID`), when at least
//! [`MIN_LEN`] bytes long (shorter values would scrub ordinary words), plus
//! what a command adds (`--token`, a remote's configured credentials).

use std::borrow::Cow;
use std::sync::Mutex;

/// Values shorter than this are not treated as secrets.
pub const MIN_LEN: usize = 8;

/// What replaces a secret.
pub const MASK: &str = "***";

#[derive(Debug, Default)]
pub struct Secrets {
    values: Mutex<Vec<String>>,
}

/// Whether an environment variable's name says it holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| n.contains(w))
        || (n.ends_with("_KEY") && !n.ends_with("_KEY_ID"))
        || n.ends_with("_CONNECTION_STRING")
        || n == "AZURE_STORAGE_SAS_TOKEN"
}

impl Secrets {
    /// The secrets in this process's environment.
    pub fn from_env() -> Secrets {
        let s = Secrets::default();
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                if is_secret_name(name) {
                    s.add(value);
                }
            }
        }
        s
    }

    /// Adds one secret (ignored when shorter than [`MIN_LEN`]).
    pub fn add(&self, value: &str) {
        if value.len() < MIN_LEN {
            return;
        }
        let mut v = self.values.lock().expect("secrets lock");
        if !v.iter().any(|s| s == value) {
            v.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let v = self.values.lock().expect("secrets lock");
        if !v.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in v.iter() {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masking() {
        for n in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AZURE_STORAGE_KEY",
            "MY_PASSWORD",
            "AZURE_STORAGE_CONNECTION_STRING",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in ["AWS_ACCESS_KEY_ID", "HOME", "PATH", "GITHUB_REPOSITORY"] {
            assert!(!is_secret_name(n), "{n}");
        }
        let s = Secrets::default();
        s.add("short");
        s.add("ghp_abcdefgh");
        s.add("ghp_abcdefgh_longer");
        assert_eq!(s.scrub("a short ghp_abcdefgh_longer b"), "a short *** b");
        assert_eq!(s.scrub("auth=Bearer ghp_abcdefgh"), "auth=Bearer ***");
    }
}
