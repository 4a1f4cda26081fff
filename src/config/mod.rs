//! Configuration: `.mlci/config.yaml` (committed) deep-merged with
//! `.mlci/config.local.yaml` (per machine, git-ignored), then environment,
//! then flags (docs/design.md §3).
//!
//! Each file is first parsed on its own into the wire type with
//! `deny_unknown_fields`, so a typo is reported with its file, line and
//! column; only then are the two merged and validated into [`Settings`],
//! whose errors name the file and the dotted key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Hint;
use crate::store::link::LinkType;
use crate::yaml::{self, Value, YamlError};

pub const CONFIG_FILE: &str = "config.yaml";
pub const LOCAL_CONFIG_FILE: &str = "config.local.yaml";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<CoreWire>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remotes: BTreeMap<String, RemoteWire>,
    /// How a mapping interpolated into a stage's `cmd` unpacks (DVC's
    /// `parsing` settings); read by the pipeline loader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsing: Option<ParsingWire>,
}

/// `parsing: {bool: store_true|boolean_optional, list: nargs|append}`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParsingWire {
    #[serde(default, rename = "bool", skip_serializing_if = "Option::is_none")]
    pub bool_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_type: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// How old an unreferenced object or record on a remote must be before
    /// `gc --remote` deletes it (`24h`, `90m`, `7d`; ISO 8601 `PT24H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_grace: Option<String>,
    /// Where the cache lives when not in `.mlci/cache` (DVC's `cache.dir`):
    /// absolute, or relative to the workspace root. Machine-local: only in
    /// `config.local.yaml` or `MLCI_CACHE_DIR`, never in the committed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A remote's settings. Keys beyond `url` depend on the backend and are
/// validated by the remote layer; they are kept here as plain values.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RemoteWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub options: BTreeMap<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
        hint: Option<String>,
    },
    #[error("reading {file}: {source}")]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

impl Hint for ConfigError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Yaml(e) if e.message.contains("unknown field") => Some(
                "see the configuration reference in the README for the keys each section accepts"
                    .into(),
            ),
            ConfigError::Invalid { hint, .. } => hint.clone(),
            _ => None,
        }
    }
}

crate::register_hint!(ConfigError);

/// Validated settings every command reads, resolved once per command:
/// `config.yaml` < `config.local.yaml` < environment (`MLCI_JOBS`,
/// `MLCI_LINK_TYPE`, `MLCI_REMOTE`) < flags ([`Overrides`]).
#[derive(Debug, Clone)]
pub struct Settings {
    pub link_types: Vec<LinkType>,
    /// Parallel work: `-j`, else `MLCI_JOBS`, else `core.jobs`, else 16.
    pub jobs: usize,
    /// `-j` when given: above a remote's own `jobs`, which in turn is above
    /// `core.jobs` and `MLCI_JOBS`, its stand-in (see
    /// [`Settings::remote_jobs`]).
    pub jobs_explicit: Option<usize>,
    /// `core.remote`.
    pub default_remote: Option<String>,
    /// The remote asked for: `-r NAME`, else `MLCI_REMOTE`; None leaves the
    /// choice to `core.remote` or the only remote defined.
    pub remote: Option<String>,
    pub remotes: BTreeMap<String, RemoteWire>,
    /// `core.gc_grace` (default 24 h): see [`CoreWire::gc_grace`].
    pub gc_grace: std::time::Duration,
    /// `MLCI_CACHE_DIR`, else `core.cache_dir` of `config.local.yaml`, as
    /// written (see [`CoreWire::cache_dir`]); None: `.mlci/cache`.
    pub cache_dir: Option<PathBuf>,
}

/// The grace period of `gc --remote` when `core.gc_grace` is not set.
pub const DEFAULT_GC_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Parses a grace period as jiff reads durations (`24h`, `1h 30m`, `7d`,
/// `PT24H`); a negative one is refused.
pub fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    let span: jiff::Span = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a duration: {e}"))?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("`{text}`: {e}"))?;
    std::time::Duration::try_from(d).map_err(|_| format!("`{text}` is negative"))
}

/// Overrides from the command line (the highest precedence): each command
/// fills the fields its flags set.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `-j N`.
    pub jobs: Option<usize>,
    /// `-r NAME`.
    pub remote: Option<String>,
}

/// How many transfers a command may run at once, before the remote's own
/// `jobs` setting is known: `-j` (`flag`) wins over it, `core.jobs` or
/// `MLCI_JOBS` (`default`) yields to it.
#[derive(Debug, Clone, Copy)]
pub struct Jobs {
    pub flag: Option<usize>,
    pub default: usize,
}

pub const DEFAULT_JOBS: usize = 16;

impl Settings {
    /// Loads `<mlci_dir>/config.yaml` and `config.local.yaml`, then applies
    /// the environment and `overrides`.
    pub fn load(mlci_dir: &Path, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let shared = mlci_dir.join(CONFIG_FILE);
        let local = mlci_dir.join(LOCAL_CONFIG_FILE);
        let shared_text = read_text(&shared)?;
        let local_text = read_text(&local)?;
        let mut settings = Settings::from_texts(
            (&shared, shared_text.as_deref()),
            (&local, local_text.as_deref()),
        )?;
        apply_env(&mut settings)?;
        if settings.cache_dir.is_some() && settings.link_types.contains(&LinkType::Symlink) {
            return Err(ConfigError::Invalid {
                file: local,
                key: "core.link_type".into(),
                message: "`symlink` checkouts need the cache inside the workspace, and `core.cache_dir` (or MLCI_CACHE_DIR) moves it out".into(),
                hint: Some("use `reflink`, `hardlink` or `copy` with a cache elsewhere".into()),
            });
        }
        if let Some(j) = overrides.jobs {
            settings.jobs = j.max(1);
            settings.jobs_explicit = Some(settings.jobs);
        }
        if let Some(r) = &overrides.remote {
            settings.remote = Some(r.clone());
        }
        Ok(settings)
    }

    /// The concurrency a remote is opened with: `-j`, else the remote's own
    /// `jobs`, else `core.jobs` (or `MLCI_JOBS`).
    pub fn remote_jobs(&self) -> Jobs {
        Jobs {
            flag: self.jobs_explicit,
            default: self.jobs,
        }
    }

    /// Validates the two files' texts (None: absent) without the
    /// environment: what `mlci remote` checks before it writes an edit.
    pub fn from_texts(
        shared: (&Path, Option<&str>),
        local: (&Path, Option<&str>),
    ) -> Result<Settings, ConfigError> {
        let shared_v = check_text(shared.1, shared.0, true)?;
        let local_v = check_text(local.1, local.0, false)?;
        // The committed file comes with pull requests: it may not send the
        // cache (and so mlci's writes) anywhere on this machine.
        if let Some(v) = &shared_v {
            let wire: ConfigWire = yaml::from_value(v.clone(), shared.0)?;
            if wire.core.is_some_and(|c| c.cache_dir.is_some()) {
                return Err(ConfigError::Invalid {
                    file: shared.0.to_path_buf(),
                    key: "core.cache_dir".into(),
                    message: "the cache's place is machine-local: the committed config, which a pull request can change, may not move it".into(),
                    hint: Some("set `core.cache_dir` in .mlci/config.local.yaml (git-ignored) or MLCI_CACHE_DIR".into()),
                });
            }
        }
        let merged = match (shared_v, local_v) {
            (Some(a), Some(b)) => deep_merge(a, b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => Value::Null,
        };
        let wire: ConfigWire = if merged.is_null() {
            ConfigWire::default()
        } else {
            yaml::from_value(merged, shared.0)?
        };
        validate(wire, shared.0)
    }
}

/// The dotted key of the first string in `v` that carries credentials of a
/// known shape ([`crate::secrets::scrub_shapes`] would mask part of it):
/// `remotes.store.endpoint`, `monitor.gateway`, … The value is never part
/// of the answer, so no message can print it.
fn credentials_in(v: &Value, at: &str) -> Option<String> {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match v {
        Value::String(text) => {
            matches!(crate::secrets::scrub_shapes(text), std::borrow::Cow::Owned(ref o) if o != text)
                .then(|| at.to_string())
        }
        Value::Mapping(m) => m.iter().find_map(|(k, v)| {
            let k = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
            credentials_in(v, &join(&k))
        }),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| credentials_in(v, &join(&i.to_string()))),
        Value::Tagged(t) => credentials_in(&t.value, at),
        _ => None,
    }
}

/// Whether `name` may name a remote: letters, digits, `-`, `_` and `.`,
/// not `.` or `..` alone (names reach messages, flags and file names).
pub fn valid_remote_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// The `parsing` keys set in `.mlci/config.yaml` and `config.local.yaml`
/// under `root`, later files winning: (file, key, value, line).
pub fn parsing_keys(root: &Path) -> Result<Vec<(String, String, String, usize)>, ConfigError> {
    let mut out = Vec::new();
    for name in [CONFIG_FILE, LOCAL_CONFIG_FILE] {
        let rel = format!(".mlci/{name}");
        let path = root.join(&rel);
        // Most configs have no `parsing:`: not parsed a second time then.
        let Some(text) = read_text(&path)?.filter(|t| t.contains("parsing")) else {
            continue;
        };
        let wire: ConfigWire = yaml::parse(&text, &path)?;
        let Some(p) = wire.parsing else { continue };
        for (key, value) in [("bool", p.bool_), ("list", p.list)] {
            if let Some(v) = value {
                let line = yaml::line_of_key(&text, key, None).unwrap_or(1);
                out.push((rel.clone(), key.to_string(), v, line));
            }
        }
    }
    Ok(out)
}

/// The text of a config file, None when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    match fs_err::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            file: path.to_path_buf(),
            source,
        }),
    }
}

/// Checks one config file's text against the schema on its own, so errors
/// carry that file's line numbers.
/// Parses one config file's text (None when absent or only comments). The
/// committed file (`committed`) may hold no credentials, checked before
/// anything else so that no later message can quote one.
fn check_text(
    text: Option<&str>,
    path: &Path,
    committed: bool,
) -> Result<Option<Value>, ConfigError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    // A file of only comments is empty, not a null that would erase the
    // other file in the merge.
    let value: Value = yaml::parse(text, path)?;
    if value.is_null() {
        return Ok(None);
    }
    if let Some(key) = credentials_in(&value, "").filter(|_| committed) {
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            key,
            message: "credentials do not belong in the committed config (the value holds a URL's user information or an authorization)".into(),
            hint: Some("keep the value without them here and put the credentials in .mlci/config.local.yaml (git-ignored; `mlci remote modify NAME KEY VALUE --local` writes there) or in the environment (AWS_SECRET_ACCESS_KEY, …)".into()),
        });
    }
    let _: ConfigWire = yaml::parse(text, path)?;
    Ok(Some(value))
}

/// `b` over `a`: mappings merge key by key, anything else is replaced.
pub fn deep_merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Mapping(mut a), Value::Mapping(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Mapping(a)
        }
        (_, b) => b,
    }
}

fn validate(wire: ConfigWire, file: &Path) -> Result<Settings, ConfigError> {
    let invalid = |key: &str, message: String, hint: Option<String>| ConfigError::Invalid {
        file: file.to_path_buf(),
        key: key.into(),
        message,
        hint,
    };
    let core = wire.core.unwrap_or_default();
    let link_types = match &core.link_type {
        None => vec![LinkType::Reflink, LinkType::Copy],
        Some(v) => parse_link_types(&v.items()).map_err(|bad| {
            invalid(
                "core.link_type",
                format!("unknown link type `{bad}`"),
                Some(format!(
                    "use one or more of: {}",
                    LinkType::NAMES.join(", ")
                )),
            )
        })?,
    };
    let jobs = core.jobs.unwrap_or(DEFAULT_JOBS);
    if jobs == 0 {
        return Err(invalid("core.jobs", "must be at least 1".into(), None));
    }
    let gc_grace = match &core.gc_grace {
        None => DEFAULT_GC_GRACE,
        Some(t) => parse_grace(t).map_err(|m| {
            invalid(
                "core.gc_grace",
                m,
                Some("write a duration such as `24h`, `90m` or `7d`".into()),
            )
        })?,
    };
    for (name, remote) in &wire.remotes {
        if !valid_remote_name(name) {
            return Err(invalid(
                &format!("remotes.{name}"),
                format!("`{name}` is not a valid remote name"),
                Some("use letters, digits, `-`, `_` and `.` (not `.` or `..` alone)".into()),
            ));
        }
        if remote.url.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                &format!("remotes.{name}.url"),
                "every remote needs a `url`".into(),
                Some(format!("mlci remote add {name} s3://bucket/path")),
            ));
        }
    }
    if let Some(r) = &core.remote {
        if !wire.remotes.contains_key(r) {
            let known: Vec<_> = wire.remotes.keys().map(String::as_str).collect();
            return Err(invalid(
                "core.remote",
                format!("the default remote `{r}` is not defined under `remotes:`"),
                Some(if known.is_empty() {
                    "no remotes are defined; add one with `mlci remote add`".into()
                } else {
                    format!("defined remotes: {}", known.join(", "))
                }),
            ));
        }
    }
    Ok(Settings {
        link_types,
        jobs,
        jobs_explicit: None,
        default_remote: core.remote,
        remote: None,
        remotes: wire.remotes,
        gc_grace,
        cache_dir: core
            .cache_dir
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from),
    })
}

fn parse_link_types(items: &[&str]) -> Result<Vec<LinkType>, String> {
    let mut out = Vec::new();
    for item in items {
        let t = LinkType::parse(item.trim()).ok_or_else(|| item.to_string())?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(String::new());
    }
    Ok(out)
}

/// `MLCI_LINK_TYPE=reflink,copy` and `MLCI_JOBS=8` override the files.
fn apply_env(settings: &mut Settings) -> Result<(), ConfigError> {
    if let Some(v) = crate::environment::get("MLCI_LINK_TYPE") {
        let items: Vec<&str> = v.split(',').collect();
        settings.link_types = parse_link_types(&items).map_err(|bad| ConfigError::Env {
            var: "MLCI_LINK_TYPE".into(),
            message: format!(
                "unknown link type `{bad}` (use one or more of: {})",
                LinkType::NAMES.join(", ")
            ),
        })?;
    }
    if let Some(v) = crate::environment::get("MLCI_REMOTE").map(|v| v.trim().to_string()) {
        if !v.is_empty() {
            settings.remote = Some(v);
        }
    }
    if let Some(v) = crate::environment::get("MLCI_CACHE_DIR") {
        if !v.trim().is_empty() {
            settings.cache_dir = Some(PathBuf::from(v));
        }
    }
    if let Some(v) = crate::environment::get("MLCI_JOBS") {
        settings.jobs =
            v.parse::<usize>()
                .ok()
                .filter(|j| *j > 0)
                .ok_or_else(|| ConfigError::Env {
                    var: "MLCI_JOBS".into(),
                    message: format!("`{v}` is not a positive number"),
                })?;
    }
    Ok(())
}

/// The text of a fresh `.mlci/config.yaml`.
pub fn initial_config() -> &'static str {
    "# mlci configuration, committed with the project. Secrets belong in\n\
     # .mlci/config.local.yaml (git-ignored) or in the environment.\n\
     core:\n  link_type: [reflink, copy]\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(shared: &str, local: Option<&str>) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(CONFIG_FILE), shared).unwrap();
        if let Some(l) = local {
            fs_err::write(dir.path().join(LOCAL_CONFIG_FILE), l).unwrap();
        }
        Settings::load(dir.path(), &Overrides::default())
    }

    #[test]
    fn defaults_and_deep_merge() {
        let s = load(initial_config(), None).unwrap();
        assert_eq!(s.link_types, [LinkType::Reflink, LinkType::Copy]);
        assert_eq!(s.jobs, DEFAULT_JOBS);
        let s = load(
            "core:\n  remote: store\n  jobs: 4\nremotes:\n  store:\n    url: s3://b/p\n    region: eu-west-1\n",
            Some("remotes:\n  store:\n    secret_access_key: xyz\n"),
        )
        .unwrap();
        assert_eq!(s.jobs, 4);
        let r = &s.remotes["store"];
        assert_eq!(r.url.as_deref(), Some("s3://b/p"));
        assert!(r.options.contains_key("region") && r.options.contains_key("secret_access_key"));
    }

    #[test]
    fn a_file_of_comments_is_empty() {
        let s = load("remotes:\n  r:\n    url: /x\n", Some("# only a comment\n")).unwrap();
        assert!(s.remotes.contains_key("r"));
        assert!(load("# nothing\n", Some("# nothing\n"))
            .unwrap()
            .remotes
            .is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = load("core:\n  link_typo: copy\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.yaml:2:"), "{e}");
        assert!(e.contains("unknown field `link_typo`"), "{e}");
        let e = load("core:\n  link_type: [teleport]\n", None).unwrap_err();
        assert!(
            e.to_string()
                .contains("`core.link_type`: unknown link type `teleport`"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("reflink"));
        let e = load("core:\n  remote: nowhere\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`core.remote`"), "{e}");
        let e = load("core: {}\n", Some("core:\n  jobs: many\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.local.yaml:2:"), "{e}");
    }
}
