//! Editing the remotes in `.mlci/config.yaml` (committed) and
//! `.mlci/config.local.yaml` (per machine, for secrets): both files parsed,
//! changed as YAML values, validated as a whole (both merged, each
//! remote's URL and keys checked against its backend) and only then
//! written, atomically. `mlci remote` and `mlci import-dvc` edit through
//! here. Comments in the files are not kept.

use std::path::{Path, PathBuf};

use crate::config::{read_text, ConfigError, Settings, CONFIG_FILE, LOCAL_CONFIG_FILE};
use crate::error::Hint;
use crate::remote::{location, RemoteError};
use crate::yaml::{self, Value, YamlError};

/// Why an edit of the remotes was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigEditError {
    #[error("`{0}` is not a valid remote name")]
    BadName(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Hint for ConfigEditError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfigEditError::BadName(_) => {
                Some("use letters, digits, `-`, `_` and `.` (not `.` or `..` alone)".into())
            }
            ConfigEditError::Config(e) => e.hint(),
            ConfigEditError::Yaml(_) | ConfigEditError::Io(_) => None,
            ConfigEditError::Remote(e) => e.hint(),
        }
    }
}

crate::register_hint!(ConfigEditError);

/// Fails with the names that are defined unless remote `name` is one.
pub fn require_defined(files: &Files, root: &Path, name: &str) -> Result<(), ConfigEditError> {
    if files.shared_remote(name).is_some() || files.local_remote(name).is_some() {
        return Ok(());
    }
    let settings = files.validate(root)?;
    Err(RemoteError::Unknown {
        name: name.to_string(),
        known: settings.remotes.keys().cloned().collect(),
    }
    .into())
}

/// Refuses a name that could not be a YAML key and a cache path both.
pub fn check_name(name: &str) -> Result<(), ConfigEditError> {
    if !crate::config::valid_remote_name(name) {
        return Err(ConfigEditError::BadName(name.into()));
    }
    Ok(())
}

/// `true`/`false` and whole numbers as YAML scalars, anything else a string.
pub fn scalar(v: &str) -> Value {
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match v.parse::<u64>() {
            Ok(n) => Value::Number(n.into()),
            Err(_) => Value::String(v.into()),
        },
    }
}

/// Both config files, parsed.
#[derive(Clone)]
pub struct Files {
    pub shared_path: PathBuf,
    pub local_path: PathBuf,
    /// `config.yaml` as parsed (an empty mapping when absent).
    pub shared: Value,
    /// `config.local.yaml` as parsed.
    pub local: Value,
}

impl Files {
    pub fn load(dir: &Path) -> Result<Files, ConfigEditError> {
        let shared_path = dir.join(CONFIG_FILE);
        let local_path = dir.join(LOCAL_CONFIG_FILE);
        let parse = |path: &Path| -> Result<Value, ConfigEditError> {
            Ok(match read_text(path)? {
                Some(t) if !t.trim().is_empty() => yaml::parse(&t, path)?,
                _ => Value::Mapping(Default::default()),
            })
        };
        Ok(Files {
            shared: parse(&shared_path)?,
            local: parse(&local_path)?,
            shared_path,
            local_path,
        })
    }

    /// Adds remote `name` unless one of that name exists (then false):
    /// its URL and `shared` settings in the committed file, `local` ones
    /// (secrets) in the local file; it becomes the default when `default`
    /// and no default is set.
    pub fn add_if_absent(
        &mut self,
        name: &str,
        url: &str,
        shared: &std::collections::BTreeMap<String, String>,
        local: &std::collections::BTreeMap<String, String>,
        default: bool,
    ) -> Result<bool, ConfigEditError> {
        check_name(name)?;
        if self.shared_remote(name).is_some() || self.local_remote(name).is_some() {
            return Ok(false);
        }
        set_path(
            &mut self.shared,
            &["remotes", name, "url"],
            Some(Value::String(url.into())),
        );
        for (k, v) in shared {
            set_path(&mut self.shared, &["remotes", name, k], Some(scalar(v)));
        }
        for (k, v) in local {
            set_path(&mut self.local, &["remotes", name, k], Some(scalar(v)));
        }
        let has_default = get_path(&self.shared, &["core", "remote"]).is_some()
            || get_path(&self.local, &["core", "remote"]).is_some();
        if default && !has_default {
            set_path(
                &mut self.shared,
                &["core", "remote"],
                Some(Value::String(name.into())),
            );
        }
        Ok(true)
    }

    pub fn shared_remote(&self, name: &str) -> Option<&Value> {
        get_path(&self.shared, &["remotes", name])
    }

    pub fn local_remote(&self, name: &str) -> Option<&Value> {
        get_path(&self.local, &["remotes", name])
    }

    pub fn remove_remote(&mut self, name: &str) {
        set_path(&mut self.shared, &["remotes", name], None);
        set_path(&mut self.local, &["remotes", name], None);
    }

    pub fn texts(&self) -> (String, String) {
        let header = "# mlci configuration, committed with the project. Secrets belong in\n\
                      # .mlci/config.local.yaml (git-ignored) or in the environment.\n";
        let local_header = "# Per-machine mlci settings and credentials (git-ignored).\n";
        let render = |v: &Value| match v {
            Value::Mapping(m) if m.is_empty() => String::new(),
            _ => yaml::to_string(v),
        };
        (
            format!("{header}{}", render(&self.shared)),
            format!("{local_header}{}", render(&self.local)),
        )
    }

    /// Whether the files as edited would be accepted by [`Files::save`].
    pub fn check(&self, root: &Path) -> Result<(), ConfigEditError> {
        self.validate(root).map(drop)
    }

    /// Checks the merged result and every remote's URL and keys.
    pub fn validate(&self, root: &Path) -> Result<Settings, ConfigEditError> {
        let (shared, local) = self.texts();
        let settings = Settings::from_texts(
            (&self.shared_path, Some(&shared)),
            (&self.local_path, Some(&local)),
        )?;
        for (name, r) in &settings.remotes {
            location::resolve(name, r.url.as_deref().unwrap_or(""), &r.options, root)?;
        }
        Ok(settings)
    }

    pub fn save(&self, root: &Path) -> Result<(), ConfigEditError> {
        self.validate(root)?;
        let (shared, local) = self.texts();
        crate::fsutil::write_atomic(&self.shared_path, shared.as_bytes())?;
        let local_has_content = !matches!(&self.local, Value::Mapping(m) if m.is_empty());
        if local_has_content || self.local_path.exists() {
            crate::fsutil::write_atomic(&self.local_path, local.as_bytes())?;
        }
        Ok(())
    }
}

pub fn get_path<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_mapping()?.get(*key)?;
    }
    Some(cur)
}

/// Sets (or with None removes) the value at `path`, creating mappings on
/// the way and dropping mappings a removal leaves empty.
pub fn set_path(v: &mut Value, path: &[&str], value: Option<Value>) {
    if !v.is_mapping() {
        *v = Value::Mapping(Default::default());
    }
    let map = v.as_mapping_mut().expect("just made a mapping");
    let (first, rest) = path.split_first().expect("non-empty path");
    let key = Value::String(first.to_string());
    if rest.is_empty() {
        match value {
            Some(val) => {
                map.insert(key, val);
            }
            None => {
                map.remove(&key);
            }
        }
        return;
    }
    if value.is_none() && !map.contains_key(&key) {
        return;
    }
    let child = map
        .entry(key.clone())
        .or_insert_with(|| Value::Mapping(Default::default()));
    set_path(child, rest, value);
    if matches!(child, Value::Mapping(m) if m.is_empty()) {
        map.remove(&key);
    }
}
