//! A remote's URL and options turned into an OpenDAL service and its
//! configuration.
//!
//! Users write one URL per remote (`s3://bucket/prefix`, `/mnt/nas/mlci`,
//! `sftp://user@host/path`, …) and a few backend keys; this module checks
//! each key against the backend's list (so a typo is an error naming
//! `remotes.NAME.KEY`, not a silently ignored setting) and fills in what the
//! provider's standard environment supplies. Secret values are collected so
//! that error messages can be scrubbed of them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::yaml::Value;

use super::RemoteError;

/// The storage services mlci speaks, each through OpenDAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
    Gcs,
    Azure,
    Sftp,
    Webdav,
    Http,
    Ghac,
}

impl Backend {
    /// The OpenDAL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Backend::Local => "fs",
            Backend::S3 => "s3",
            Backend::Gcs => "gcs",
            Backend::Azure => "azblob",
            Backend::Sftp => "sftp",
            Backend::Webdav => "webdav",
            Backend::Http => "http",
            Backend::Ghac => "ghac",
        }
    }

    /// Object stores publish an upload only once it is complete; on file
    /// servers a write is visible while it happens, so mlci writes to a temp
    /// name and renames.
    pub fn needs_rename(self) -> bool {
        matches!(self, Backend::Local | Backend::Sftp | Backend::Webdav)
    }

    /// Keys a remote of this backend accepts besides `url` and `jobs`, as
    /// (mlci key, OpenDAL key).
    fn keys(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Backend::Local => &[],
            Backend::S3 => &[
                ("endpoint", "endpoint"),
                ("region", "region"),
                ("access_key_id", "access_key_id"),
                ("secret_access_key", "secret_access_key"),
                ("session_token", "session_token"),
                ("profile", "profile"),
                ("role_arn", "role_arn"),
                ("allow_anonymous", "allow_anonymous"),
                ("server_side_encryption", "server_side_encryption"),
                ("storage_class", "default_storage_class"),
                ("virtual_host_style", "enable_virtual_host_style"),
            ],
            Backend::Gcs => &[
                ("endpoint", "endpoint"),
                ("credential_path", "credential_path"),
                ("credential", "credential"),
                ("service_account", "service_account"),
                ("allow_anonymous", "allow_anonymous"),
                ("storage_class", "default_storage_class"),
            ],
            Backend::Azure => &[
                ("endpoint", "endpoint"),
                ("account_name", "account_name"),
                ("account_key", "account_key"),
                ("sas_token", "sas_token"),
                // Split into the keys above by `provider_env`.
                ("connection_string", "connection_string"),
            ],
            Backend::Sftp => &[
                ("user", "user"),
                ("key", "key"),
                ("known_hosts", "known_hosts_strategy"),
            ],
            Backend::Webdav | Backend::Http => &[
                ("user", "username"),
                ("password", "password"),
                ("token", "token"),
            ],
            Backend::Ghac => &[("version", "version"), ("endpoint", "endpoint")],
        }
    }

    /// Where this backend's credentials go instead of the URL.
    fn credentials_hint(self, name: &str) -> String {
        let set = |k: &str, v: &str| format!("mlci remote modify {name} {k} {v} --local");
        match self {
            Backend::S3 => format!(
                "{} && {} (git-ignored config.local.yaml), or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment",
                set("access_key_id", "ID"),
                set("secret_access_key", "SECRET")
            ),
            Backend::Gcs => set("credential_path", "FILE"),
            Backend::Azure => format!("{}, or AZURE_STORAGE_KEY in the environment", set("account_key", "KEY")),
            Backend::Sftp => format!("keep the user in the URL and give a key file: {}", set("key", "FILE")),
            _ => format!("{} && {}", set("user", "USER"), set("password", "PASS")),
        }
    }
}

/// Keys whose values are credentials: never printed, scrubbed from errors.
pub const SECRET_KEYS: &[&str] = &[
    "connection_string",
    "secret_access_key",
    "session_token",
    "account_key",
    "sas_token",
    "password",
    "token",
    "credential",
];

/// Keys every remote accepts.
pub const COMMON_KEYS: &[&str] = &["url", "jobs"];

/// Where a remote's objects live, ready for OpenDAL.
#[derive(Debug, Clone)]
pub struct Location {
    pub backend: Backend,
    pub config: BTreeMap<String, String>,
    /// Secret values from the configuration and the environment.
    pub secrets: Vec<String>,
    /// Transfer concurrency set on this remote (`jobs:`), if any.
    pub jobs: Option<usize>,
}

/// Parses `url` and `options` of remote `name`. Relative local paths are
/// taken from the repository root, so every clone means the same place.
pub fn resolve(
    name: &str,
    url: &str,
    options: &BTreeMap<String, Value>,
    repo_root: &Path,
) -> Result<Location, RemoteError> {
    let bad_url = |message: String| RemoteError::BadUrl {
        name: name.to_string(),
        url: url.to_string(),
        message,
    };
    let (backend, rest) = match url.split_once("://") {
        None => (Backend::Local, url),
        Some((scheme, rest)) => {
            let backend = match scheme.to_ascii_lowercase().as_str() {
                "file" => Backend::Local,
                "s3" => Backend::S3,
                "gs" | "gcs" => Backend::Gcs,
                "azure" | "az" | "azblob" => Backend::Azure,
                "sftp" | "ssh" => Backend::Sftp,
                "webdav" | "webdavs" => Backend::Webdav,
                "http" | "https" => Backend::Http,
                "ghac" => Backend::Ghac,
                other => {
                    return Err(bad_url(format!(
                        "unknown scheme `{other}://` (use a local path, s3://, gs://, azure://, sftp://, webdav://, webdavs://, http(s):// or ghac://)"
                    )))
                }
            };
            (backend, rest)
        }
    };
    // The URL is committed: credentials never belong in it, whatever the
    // scheme. Only SFTP has a user name there (`sftp://user@host`), never a
    // password.
    if backend != Backend::Local {
        let (authority, _) = split_first(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if backend != Backend::Sftp || userinfo.contains(':') {
                return Err(RemoteError::BadOption {
                    name: name.into(),
                    key: "url".into(),
                    message: "credentials do not belong in the URL (it is committed)".into(),
                    hint: Some(backend.credentials_hint(name)),
                });
            }
        }
    }
    let (mut config, jobs, mut secrets) = options_config(name, backend, options)?;

    match backend {
        Backend::Local => {
            let path = Path::new(rest);
            let abs = if path.is_absolute() {
                path.to_path_buf()
            } else {
                repo_root.join(path)
            };
            // A remote is written to and collected by `gc --remote`: never
            // inside git's or mlci's own directories (a pull request's
            // config could otherwise point it at .git/objects).
            if let Some(own) = crate::workspace_path::own_dir_holding(repo_root, &abs) {
                return Err(bad_url(format!(
                    "a remote cannot live inside the repository's {own}/ (push writes there and `gc --remote` deletes there)"
                )));
            }
            let root = abs.to_string_lossy().into_owned();
            config.insert("root".into(), root);
        }
        Backend::S3 | Backend::Gcs | Backend::Azure => {
            let (bucket, prefix) = split_first(rest);
            if bucket.is_empty() {
                return Err(bad_url("the bucket (or container) name is missing".into()));
            }
            let bucket_key = if backend == Backend::Azure {
                "container"
            } else {
                "bucket"
            };
            config.insert(bucket_key.into(), bucket.into());
            config.insert("root".into(), format!("/{prefix}"));
        }
        Backend::Sftp => {
            let (authority, path) = split_first(rest);
            if authority.is_empty() {
                return Err(bad_url("the host is missing".into()));
            }
            let authority = sftp_authority(authority, &mut config);
            config.insert("endpoint".into(), format!("ssh://{authority}"));
            config.insert("root".into(), format!("/{path}"));
            config
                .entry("known_hosts_strategy".into())
                .or_insert_with(|| "strict".into());
        }
        Backend::Webdav | Backend::Http => {
            let (authority, path) = split_first(rest);
            if authority.is_empty() {
                return Err(bad_url("the host is missing".into()));
            }
            let tls = url.starts_with("webdavs://") || url.starts_with("https://");
            let http = if tls { "https" } else { "http" };
            config.insert("endpoint".into(), format!("{http}://{authority}"));
            config.insert("root".into(), format!("/{path}"));
        }
        Backend::Ghac => {
            config.insert("root".into(), format!("/{}", rest.trim_matches('/')));
        }
    }

    provider_env(backend, &mut config, &mut secrets);
    secrets.retain(|s| s.len() >= crate::secrets::MIN_KNOWN_LEN);
    Ok(Location {
        backend,
        config,
        secrets,
        jobs,
    })
}

/// A remote's options as the storage library's config keys, its `jobs`,
/// and the values that are secrets.
type Options = (BTreeMap<String, String>, Option<usize>, Vec<String>);

/// The options of remote `name` as [`Options`].
fn options_config(
    name: &str,
    backend: Backend,
    options: &BTreeMap<String, Value>,
) -> Result<Options, RemoteError> {
    let mut config = BTreeMap::new();
    let mut jobs = None;
    let allowed = backend.keys();
    let mut secrets = Vec::new();
    for (key, value) in options {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(RemoteError::BadOption {
                    name: name.into(),
                    key: key.clone(),
                    message: "must be a string, number or boolean".into(),
                    hint: None,
                })
            }
        };
        if key == "jobs" {
            jobs = Some(
                text.parse::<usize>()
                    .ok()
                    .filter(|j| *j > 0)
                    .ok_or_else(|| RemoteError::BadOption {
                        name: name.into(),
                        key: key.clone(),
                        message: format!("`{text}` is not a positive number"),
                        hint: None,
                    })?,
            );
            continue;
        }
        let Some((_, dal_key)) = allowed.iter().find(|(k, _)| k == key) else {
            let mut known: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
            known.push("jobs");
            return Err(RemoteError::BadOption {
                name: name.into(),
                key: key.clone(),
                message: format!("not a setting of {} remotes", backend.scheme()),
                hint: Some(format!(
                    "{} remotes accept: {}",
                    backend.scheme(),
                    known.join(", ")
                )),
            });
        };
        if SECRET_KEYS.contains(&key.as_str()) {
            secrets.push(text.clone());
        }
        let text = if *dal_key == "enable_virtual_host_style" || *dal_key == "allow_anonymous" {
            match text.as_str() {
                "true" | "false" => text,
                _ => {
                    return Err(RemoteError::BadOption {
                        name: name.into(),
                        key: key.clone(),
                        message: format!("`{text}` is not true or false"),
                        hint: None,
                    })
                }
            }
        } else {
            text
        };
        config.insert(dal_key.to_string(), text);
    }
    Ok((config, jobs, secrets))
}

/// The providers' standard environment, beneath the files' settings.
fn provider_env(
    backend: Backend,
    config: &mut BTreeMap<String, String>,
    secrets: &mut Vec<String>,
) {
    let env = crate::environment::get;
    match backend {
        Backend::S3 => {
            // As the AWS CLI and boto3 read it: the remote's setting, then
            // AWS_REGION / AWS_DEFAULT_REGION, then the active profile's
            // `region` in the shared config file, then us-east-1.
            if !config.contains_key("region") {
                let profile = config
                    .get("profile")
                    .cloned()
                    .or_else(|| env("AWS_PROFILE"))
                    .unwrap_or_else(|| "default".into());
                let region = env("AWS_REGION")
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .or_else(|| aws_profile_setting(&profile, "region"))
                    .unwrap_or_else(|| "us-east-1".into());
                config.insert("region".into(), region);
            }
            if !config.contains_key("endpoint") {
                let profile = config
                    .get("profile")
                    .cloned()
                    .or_else(|| env("AWS_PROFILE"))
                    .unwrap_or_else(|| "default".into());
                if let Some(e) = env("AWS_ENDPOINT_URL_S3")
                    .or_else(|| env("AWS_ENDPOINT_URL"))
                    .or_else(|| aws_profile_setting(&profile, "endpoint_url"))
                {
                    config.insert("endpoint".into(), e);
                }
            }
            for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
                secrets.extend(env(var));
            }
        }
        Backend::Azure => {
            // A connection string (the setting, else the variable DVC and
            // Azure's own tools read) supplies what is not set one by one.
            let connection = config
                .remove("connection_string")
                .or_else(|| env("AZURE_STORAGE_CONNECTION_STRING"));
            if let Some(cs) = connection {
                secrets.push(cs.clone());
                for (key, value) in azure_connection_string(&cs) {
                    if key == "account_key" || key == "sas_token" {
                        secrets.push(value.clone());
                    }
                    config.entry(key).or_insert(value);
                }
            }
            if !config.contains_key("account_name") {
                if let Some(a) = env("AZURE_STORAGE_ACCOUNT") {
                    config.insert("account_name".into(), a);
                }
            }
            if !config.contains_key("account_key") {
                if let Some(k) = env("AZURE_STORAGE_KEY") {
                    secrets.push(k.clone());
                    config.insert("account_key".into(), k);
                }
            }
            if !config.contains_key("sas_token") {
                if let Some(t) = env("AZURE_STORAGE_SAS_TOKEN") {
                    secrets.push(t.clone());
                    config.insert("sas_token".into(), t);
                }
            }
            // Without an account there is no default endpoint; that is
            // reported when the remote is used, not while it is being set
            // up key by key.
            if !config.contains_key("endpoint") {
                if let Some(account) = config.get("account_name") {
                    let endpoint = format!("https://{account}.blob.core.windows.net");
                    config.insert("endpoint".into(), endpoint);
                }
            }
        }
        Backend::Gcs if !config.contains_key("credential_path") => {
            if let Some(p) = env("GOOGLE_APPLICATION_CREDENTIALS") {
                config.insert("credential_path".into(), p);
            }
        }
        Backend::Ghac => {
            secrets.extend(env("ACTIONS_RUNTIME_TOKEN"));
        }
        _ => {}
    }
}

/// An SFTP URL's authority with what `~/.ssh/config` gives its host
/// (resolved here, once, from `$HOME`: OpenSSH would read the account's
/// home instead, which a CI job or a test may not control): a host alias's
/// HostName, Port, User and IdentityFile, beneath the URL and settings.
fn sftp_authority(authority: &str, config: &mut BTreeMap<String, String>) -> String {
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p.to_string())),
        _ => (hostport, None),
    };
    let alias = ssh_config(host);
    let host = alias
        .get("hostname")
        .cloned()
        .unwrap_or_else(|| host.to_string());
    let port = port.or_else(|| alias.get("port").cloned());
    let user = user.or_else(|| alias.get("user").cloned());
    if !config.contains_key("user") {
        if let Some(u) = &user {
            config.insert("user".into(), u.clone());
        }
    }
    if !config.contains_key("key") {
        if let Some(k) = alias.get("identityfile") {
            config.insert("key".into(), expand_home(k));
        }
    }
    match (&user, &port) {
        (Some(u), Some(p)) => format!("{u}@{host}:{p}"),
        (Some(u), None) => format!("{u}@{host}"),
        (None, Some(p)) => format!("{host}:{p}"),
        (None, None) => host,
    }
}

/// The settings `~/.ssh/config` gives `host` (lower-case keys; the first
/// value of each wins, as in OpenSSH): `Host` patterns with `*` and `?`,
/// `!` negations, several per line. Empty when there is no such file.
fn ssh_config(host: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(home) = crate::environment::get_os("HOME") else {
        return out;
    };
    let Ok(text) = fs_err::read_to_string(Path::new(&home).join(".ssh/config")) else {
        return out;
    };
    let mut applies = true; // settings before any `Host` apply to all
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (
                k.to_ascii_lowercase(),
                v.trim_start_matches(['=', ' ', '\t']).trim(),
            ),
            None => continue,
        };
        if key == "host" {
            let patterns: Vec<&str> = value.split_whitespace().collect();
            let negated = patterns
                .iter()
                .any(|p| p.strip_prefix('!').is_some_and(|p| wildcard(p, host)));
            applies = !negated
                && patterns
                    .iter()
                    .any(|p| !p.starts_with('!') && wildcard(p, host));
            continue;
        }
        if key == "match" {
            applies = false;
            continue;
        }
        if applies {
            out.entry(key)
                .or_insert_with(|| value.trim_matches('"').to_string());
        }
    }
    out
}

/// OpenSSH's pattern match: `*` any run, `?` one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// `~/x` with the home directory.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), crate::environment::get_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).to_string_lossy().into_owned(),
        _ => path.to_string(),
    }
}

/// A setting of AWS profile `profile` in the shared config file
/// (`AWS_CONFIG_FILE`, else `~/.aws/config`): `[profile NAME]`, or
/// `[default]` for the default profile, `key = value` lines (INI, as the
/// AWS CLI reads it).
fn aws_profile_setting(profile: &str, key: &str) -> Option<String> {
    let path = crate::environment::get_os("AWS_CONFIG_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            crate::environment::get_os("HOME").map(|h| Path::new(&h).join(".aws/config"))
        })?;
    let text = fs_err::read_to_string(path).ok()?;
    let wanted = [format!("profile {profile}"), profile.to_string()];
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            // `[default]` and `[profile default]` both name the default.
            in_section = wanted.iter().any(|w| w == name)
                && (profile == "default" || name.starts_with("profile "));
            continue;
        }
        if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    let v = v.trim();
                    return (!v.is_empty()).then(|| v.to_string());
                }
            }
        }
    }
    None
}

/// An Azure Storage connection string (`AccountName=…;AccountKey=…;
/// BlobEndpoint=…;DefaultEndpointsProtocol=…;EndpointSuffix=…;
/// SharedAccessSignature=…`) as remote settings.
fn azure_connection_string(cs: &str) -> Vec<(String, String)> {
    let mut parts: BTreeMap<String, String> = BTreeMap::new();
    for item in cs.split(';').filter(|i| !i.trim().is_empty()) {
        if let Some((k, v)) = item.split_once('=') {
            parts.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut out = Vec::new();
    if let Some(a) = parts.get("accountname") {
        out.push(("account_name".into(), a.clone()));
    }
    if let Some(k) = parts.get("accountkey") {
        out.push(("account_key".into(), k.clone()));
    }
    if let Some(sas) = parts.get("sharedaccesssignature") {
        out.push(("sas_token".into(), sas.clone()));
    }
    let endpoint = parts.get("blobendpoint").cloned().or_else(|| {
        let account = parts.get("accountname")?;
        let proto = parts
            .get("defaultendpointsprotocol")
            .map(String::as_str)
            .unwrap_or("https");
        let suffix = parts
            .get("endpointsuffix")
            .map(String::as_str)
            .unwrap_or("core.windows.net");
        Some(format!("{proto}://{account}.blob.{suffix}"))
    });
    if let Some(e) = endpoint {
        out.push(("endpoint".into(), e.trim_end_matches('/').to_string()));
    }
    out
}

/// `bucket/some/prefix` -> (`bucket`, `some/prefix`), without slashes at
/// the ends of the prefix.
fn split_first(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start_matches('/');
    match rest.split_once('/') {
        Some((first, path)) => (first, path.trim_matches('/')),
        None => (rest, ""),
    }
}

#[cfg(test)]
#[path = "location_tests.rs"]
mod tests;
