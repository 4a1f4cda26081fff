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
//! what a command adds (`--token`, a remote's configured credentials, at
//! least [`MIN_KNOWN_LEN`] bytes). Whatever their length, credentials of a
//! known shape are masked too ([`scrub_shapes`]): the password of a URL's
//! user information (`scheme://user:PASSWORD@host`; over HTTP and S3 the
//! whole user information, which may be a token), and the credentials of an
//! `Authorization: Basic …` (base64 of `user:password`) or `Bearer …`
//! header a server echoes back. This is the one scrubber: the printer, the
//! reports, the forge's and the remotes' errors all go through it.

use std::borrow::Cow;
use std::sync::Mutex;

/// Values shorter than this are not treated as secrets.
pub const MIN_LEN: usize = 8;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Credentials a command knows to be secrets (a configured password, a
/// `--token`) are masked from this length on: shorter ones would mask
/// ordinary letters, and are still masked where they have a known shape.
pub const MIN_KNOWN_LEN: usize = 4;

/// `text` with credentials of a known shape masked: URL user information
/// and HTTP `Basic`/`Bearer` credentials (see the module's doc). Linear in
/// `text`; nothing needs to parse.
pub fn scrub_shapes(text: &str) -> Cow<'_, str> {
    if !text.contains("://") && !text.contains("Basic ") && !text.contains("Bearer ") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = [rest.find("://"), rest.find("Basic "), rest.find("Bearer ")]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next else {
            out.push_str(rest);
            break;
        };
        if rest[at..].starts_with("://") {
            let scheme_start = rest[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |i| i + 1);
            let scheme = rest[scheme_start..at].to_ascii_lowercase();
            out.push_str(&rest[..at + 3]);
            rest = &rest[at + 3..];
            let end = rest
                .find(|c: char| {
                    c == '/'
                        || c == '?'
                        || c == '#'
                        || c.is_whitespace()
                        || "\"`<>{}|\\".contains(c)
                })
                .unwrap_or(rest.len());
            if let Some(userinfo_end) = rest[..end].rfind('@') {
                let userinfo = &rest[..userinfo_end];
                let ssh = scheme.contains("ssh") || scheme.starts_with("sftp") || scheme == "git";
                match userinfo.split_once(':') {
                    _ if userinfo.is_empty() => {}
                    Some((user, _)) if ssh => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None if ssh => out.push_str(userinfo),
                    _ => out.push_str(MASK),
                }
                rest = &rest[userinfo_end..];
            }
            continue;
        }
        let word = if rest[at..].starts_with("Basic ") {
            "Basic "
        } else {
            "Bearer "
        };
        out.push_str(&rest[..at + word.len()]);
        rest = &rest[at + word.len()..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_.~".contains(c)))
            .unwrap_or(rest.len());
        let token = &rest[..len];
        let credential = if word == "Basic " {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .is_ok_and(|d| d.contains(&b':'))
        } else {
            len >= MIN_LEN
        };
        if credential {
            out.push_str(MASK);
            rest = &rest[len..];
        }
    }
    Cow::Owned(out)
}

/// `text` with each of `known` (at least [`MIN_KNOWN_LEN`] bytes) and every
/// credential of a known shape masked: for errors built where no
/// [`Secrets`] is at hand (a remote's, the forge's).
pub fn scrub_known(text: &str, known: &[&str]) -> String {
    Secrets::known(known).scrub(text).into_owned()
}

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
        for (name, value) in crate::environment::every() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                if is_secret_name(name) {
                    s.add_guessed(value);
                }
            }
        }
        s
    }

    /// The secrets of `values`, each added as [`Secrets::add`] does (no
    /// environment): one rule for the remotes' and the forge's errors.
    pub fn known(values: &[&str]) -> Secrets {
        let s = Secrets::default();
        for v in values {
            s.add(v);
        }
        s
    }

    /// Adds one secret a command knows to be one (a token it was given, a
    /// configured password); ignored when shorter than [`MIN_KNOWN_LEN`].
    pub fn add(&self, value: &str) {
        if value.len() < MIN_KNOWN_LEN {
            return;
        }
        self.push(value);
    }

    /// Adds a value guessed to be secret (by its variable's name), from
    /// [`MIN_LEN`] bytes on.
    fn add_guessed(&self, value: &str) {
        if value.len() >= MIN_LEN {
            self.push(value);
        }
    }

    fn push(&self, value: &str) {
        let mut v = self.values.lock().expect("secrets lock");
        if !v.iter().any(|s| s == value) {
            v.push(value.to_string());
            // Longest first, so a secret containing another is masked whole.
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret, and every credential of a known shape
    /// ([`scrub_shapes`]), replaced by [`MASK`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let text = scrub_shapes(text);
        let v = self.values.lock().expect("secrets lock");
        if !v.iter().any(|s| text.contains(s.as_str())) {
            return text;
        }
        let mut out = text.into_owned();
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
        s.add("abc");
        s.add("ghp_abcdefgh");
        s.add("ghp_abcdefgh_longer");
        assert_eq!(s.scrub("a abc ghp_abcdefgh_longer b"), "a abc *** b");
        assert_eq!(s.scrub("auth=Bearer ghp_abcdefgh"), "auth=Bearer ***");
    }

    #[test]
    fn credentials_of_known_shapes_are_masked_whatever_their_length() {
        for (text, want) in [
            ("s3://AKIA:pw@bucket/dvc", "s3://***@bucket/dvc"),
            ("see `https://u:p@h:9/x` now", "see `https://***@h:9/x` now"),
            (
                "https://ghp_tok@github.com/o/r.git",
                "https://***@github.com/o/r.git",
            ),
            ("sftp://me:pw@host/srv", "sftp://me:***@host/srv"),
            ("sftp://me@host/srv", "sftp://me@host/srv"),
            ("http://a:b:c@@host", "http://***@host"),
            ("no url: mail me@host", "no url: mail me@host"),
            (
                "url http://127.0.0.1:9/x has no user",
                "url http://127.0.0.1:9/x has no user",
            ),
            // echoed Authorization headers: base64("user:pw"), a bearer
            (
                "Authorization: Basic dXNlcjpwdw==\n",
                "Authorization: Basic ***\n",
            ),
            ("basic auth, Basic settings", "basic auth, Basic settings"),
            ("Bearer ghs_0123456789", "Bearer ***"),
            ("a Bearer token", "a Bearer token"),
            ("bad://x@", "bad://***@"),
            ("://@", "://@"),
        ] {
            assert_eq!(scrub_shapes(text), want, "{text}");
        }
        assert_eq!(
            scrub_known("pw=abcd, x=ab", &["abcd", "ab"]),
            "pw=***, x=ab"
        );
    }
}
