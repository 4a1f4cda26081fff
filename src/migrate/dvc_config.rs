//! DVC's remotes, read from `.dvc/config` and `.dvc/config.local` (INI as
//! DVC's configobj writes it: `[core]` with `remote = NAME`, and one
//! `['remote "NAME"']` section per remote), and turned into mlci remotes.
//! Secrets (from either file) go only to mlci's git-ignored local config.

use std::collections::BTreeMap;
use std::path::Path;

/// One DVC remote: its name, URL and settings, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DvcRemote {
    pub name: String,
    pub url: String,
    pub settings: BTreeMap<String, String>,
}

/// What `.dvc/config` (and `.dvc/config.local`) say.
#[derive(Debug, Default, Clone)]
pub struct DvcConfig {
    pub default_remote: Option<String>,
    pub remotes: Vec<DvcRemote>,
    /// `[cache] dir`, as written (DVC resolves a relative one from `.dvc/`).
    pub cache_dir: Option<String>,
    /// `[core] autostage`: commands stage the files they write in git.
    pub autostage: bool,
}

impl DvcConfig {
    /// Where DVC keeps its cache for the repository at `root`: `cache.dir`
    /// (absolute, or relative to `.dvc/`), else `.dvc/cache`. Only objects
    /// named by their MD5 and matching it are ever taken from there.
    pub fn cache_path(&self, root: &Path) -> std::path::PathBuf {
        match &self.cache_dir {
            Some(d) if Path::new(d).is_absolute() => Path::new(d).to_path_buf(),
            Some(d) => root.join(normalize(&Path::new(".dvc").join(d))),
            None => root.join(".dvc/cache"),
        }
    }
}

/// Reads both files under `root` (either may be missing).
pub fn read(root: &Path) -> DvcConfig {
    let mut cfg = DvcConfig::default();
    for file in [".dvc/config", ".dvc/config.local"] {
        let Ok(text) =
            crate::pipeline::source::Source::read(&crate::pipeline::source::WorkTree(root), file)
        else {
            continue;
        };
        if let Some(text) = text {
            merge_ini(&text, &mut cfg);
        }
    }
    cfg
}

fn merge_ini(text: &str, cfg: &mut DvcConfig) {
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().trim_matches('\'').trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if section == "core" && k == "remote" {
            cfg.default_remote = Some(v);
            continue;
        }
        if section == "core" && k == "autostage" {
            // configobj's booleans.
            cfg.autostage = matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1");
            continue;
        }
        if section == "cache" && k == "dir" {
            cfg.cache_dir = Some(v);
            continue;
        }
        let Some(name) = section
            .strip_prefix("remote ")
            .map(|n| n.trim().trim_matches('"').to_string())
        else {
            continue;
        };
        let idx = match cfg.remotes.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                cfg.remotes.push(DvcRemote {
                    name: name.clone(),
                    url: String::new(),
                    settings: BTreeMap::new(),
                });
                cfg.remotes.len() - 1
            }
        };
        if k == "url" {
            cfg.remotes[idx].url = v;
        } else {
            cfg.remotes[idx].settings.insert(k, v);
        }
    }
}

/// An mlci remote made from a DVC remote: its URL, the settings that go in
/// the committed config, those that go in the local one (secrets), and the
/// DVC settings that have no mlci equivalent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Converted {
    pub url: String,
    pub shared: BTreeMap<String, String>,
    pub local: BTreeMap<String, String>,
    pub unmapped: Vec<String>,
}

/// Converts a DVC remote's URL and settings (DVC's names) to mlci's.
/// A local path is kept as written: relative paths in `.dvc/config` are
/// relative to `.dvc/`, so they are rebased onto the repository root.
pub fn convert(r: &DvcRemote) -> Converted {
    let mut out = Converted::default();
    let scheme = r.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    out.url = match scheme.as_deref() {
        None => {
            let p = Path::new(&r.url);
            if p.is_absolute() {
                r.url.clone()
            } else {
                // DVC resolves a relative remote path from `.dvc/`.
                normalize(&Path::new(".dvc").join(p))
            }
        }
        Some("ssh") => r.url.replacen("ssh://", "sftp://", 1),
        Some("azure") => r.url.clone(),
        Some(_) => r.url.clone(),
    };
    // (DVC name, mlci name, secret)
    let table: &[(&str, &str, bool)] = match scheme.as_deref() {
        Some("s3") => &[
            ("endpointurl", "endpoint", false),
            ("region", "region", false),
            ("profile", "profile", false),
            ("access_key_id", "access_key_id", true),
            ("secret_access_key", "secret_access_key", true),
            ("session_token", "session_token", true),
            ("sse", "server_side_encryption", false),
            ("allow_anonymous_login", "allow_anonymous", false),
        ],
        Some("gs") | Some("gcs") => &[
            ("credentialpath", "credential_path", false),
            ("endpointurl", "endpoint", false),
        ],
        Some("azure") => &[
            ("account_name", "account_name", false),
            ("account_key", "account_key", true),
            ("sas_token", "sas_token", true),
            ("connection_string", "connection_string", true),
        ],
        Some("ssh") => &[("user", "user", false), ("keyfile", "key", false)],
        Some("webdav") | Some("webdavs") | Some("http") | Some("https") => &[
            ("user", "user", false),
            ("password", "password", true),
            ("token", "token", true),
        ],
        _ => &[],
    };
    // Credentials in the URL (DVC accepts them in config.local): the URL
    // goes to the committed config without them, the credentials to the
    // local one under the backend's own keys.
    if let Some((bare, user, password)) = split_userinfo(&out.url) {
        let keys = match scheme.as_deref() {
            Some("s3") => Some(("access_key_id", "secret_access_key")),
            Some("webdav" | "webdavs" | "http" | "https") => Some(("user", "password")),
            _ => None,
        };
        match (keys, password) {
            (Some((user_key, password_key)), password) => {
                out.url = bare;
                out.local.insert(user_key.into(), user);
                if let Some(p) = password {
                    out.local.insert(password_key.into(), p);
                }
            }
            // sftp://user@host is how the host is reached; a password has
            // no mlci setting (keys or the SSH agent).
            (None, Some(_)) if scheme.as_deref() == Some("ssh") => {
                out.url = format!("sftp://{user}@{}", bare.trim_start_matches("sftp://"));
                out.unmapped.push("the password in the URL".into());
            }
            (None, None) if scheme.as_deref() == Some("ssh") => {}
            (None, _) => {
                out.url = bare;
                out.unmapped.push("the credentials in the URL".into());
            }
        }
    }
    for (k, v) in &r.settings {
        match table.iter().find(|(d, _, _)| d == k) {
            Some((_, m, true)) => {
                out.local.insert(m.to_string(), v.clone());
            }
            // A setting that holds credentials (an endpoint URL with them)
            // is a secret wherever DVC kept it.
            Some((_, m, false)) if crate::secrets::scrub_shapes(v) != v.as_str() => {
                out.local.insert(m.to_string(), v.clone());
            }
            Some((_, m, false)) => {
                out.shared.insert(m.to_string(), v.clone());
            }
            None if k == "port" && scheme.as_deref() == Some("ssh") => {
                out.url = with_port(&out.url, v);
            }
            None => out.unmapped.push(k.clone()),
        }
    }
    out
}

/// `scheme://user[:password]@rest` as (`scheme://rest`, user, password),
/// or None when the URL has no user information.
fn split_userinfo(url: &str) -> Option<(String, String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (userinfo, host) = rest[..authority_end].rsplit_once('@')?;
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (userinfo.to_string(), None),
    };
    Some((
        format!("{scheme}://{host}{}", &rest[authority_end..]),
        user,
        password,
    ))
}

/// `sftp://host/path` with `:port` added to the host.
fn with_port(url: &str, port: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.contains(':') {
        return url.to_string();
    }
    format!("{scheme}://{host}:{port}/{path}")
}

/// A relative path without `.`/`..` components, `/`-separated.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                if parts.last().is_some_and(|l| l != "..") {
                    parts.pop();
                } else {
                    parts.push("..".into());
                }
            }
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_dvc_urls_go_to_the_local_config() {
        let remote = |url: &str, settings: &[(&str, &str)]| DvcRemote {
            name: "store".into(),
            url: url.into(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let c = convert(&remote(
            "s3://AKIAEXAMPLE:Secret999@bucket/dvc",
            &[
                ("endpointurl", "http://minio:Endpoint777@127.0.0.1:9"),
                ("region", "eu"),
            ],
        ));
        assert_eq!(c.url, "s3://bucket/dvc");
        assert_eq!(c.local["access_key_id"], "AKIAEXAMPLE");
        assert_eq!(c.local["secret_access_key"], "Secret999");
        assert_eq!(c.local["endpoint"], "http://minio:Endpoint777@127.0.0.1:9");
        assert_eq!(c.shared.keys().collect::<Vec<_>>(), ["region"]);
        let c = convert(&remote("https://user:Web555@127.0.0.1:9/dvc", &[]));
        assert_eq!(c.url, "https://127.0.0.1:9/dvc");
        assert_eq!(
            (c.local["user"].as_str(), c.local["password"].as_str()),
            ("user", "Web555")
        );
        let c = convert(&remote("ssh://me:pw@host/srv", &[]));
        assert_eq!(c.url, "sftp://me@host/srv");
        assert_eq!(c.unmapped, ["the password in the URL"]);
    }

    #[test]
    fn remotes_and_their_settings() {
        let mut cfg = DvcConfig::default();
        merge_ini(
            "[core]\n    remote = store\n['remote \"store\"']\n    url = s3://bucket/dvc\n    endpointurl = http://127.0.0.1:9000\n    region = eu-west-1\n['remote \"local\"']\n    url = ../../shared-remote\n[remote \"box\"]\n    url = ssh://me@host/srv/dvc\n    port = 2222\n    keyfile = /k\n",
            &mut cfg,
        );
        merge_ini(
            "['remote \"store\"']\n    secret_access_key = shh\n    access_key_id = AK\n",
            &mut cfg,
        );
        assert_eq!(cfg.default_remote.as_deref(), Some("store"));
        let s3 = convert(&cfg.remotes[0]);
        assert_eq!(s3.url, "s3://bucket/dvc");
        assert_eq!(s3.shared["endpoint"], "http://127.0.0.1:9000");
        assert_eq!(s3.local["secret_access_key"], "shh");
        // Relative to `.dvc/`, rebased onto the root.
        assert_eq!(convert(&cfg.remotes[1]).url, "../shared-remote");
        let ssh = convert(&cfg.remotes[2]);
        assert_eq!(ssh.url, "sftp://me@host:2222/srv/dvc");
        assert_eq!(ssh.shared["key"], "/k");
    }
}
