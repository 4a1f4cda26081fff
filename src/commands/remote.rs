//! `mlci remote add|list|remove|modify|default`: edit the remotes in
//! `.mlci/config.yaml` (committed) and `.mlci/config.local.yaml` (per
//! machine, for secrets).
//!
//! Every edit is validated as a whole (both files merged, each remote's
//! URL and keys checked against its backend) before anything is written,
//! and written atomically, so a bad edit changes nothing. The files are
//! rewritten from their parsed form: comments in them are not kept.

use crate::exit::Exit;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::config::{read_text, Settings, CONFIG_FILE, LOCAL_CONFIG_FILE};
use crate::error::hinted;
use crate::remote::location;
use crate::repo::{find_root, MLCI_DIR};
use crate::yaml::{self, Value};

use super::Ctx;

/// Manage remotes: where `mlci push` sends data and `mlci pull` gets it.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: `mlci remote add [-d] NAME URL`.
    ///
    /// URL is a local directory, or `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `azure://container/prefix`, `sftp://user@host:port/path`,
    /// `webdav://host:port/path` (`webdavs://` for HTTPS), `https://host/path`
    /// (read-only) or `ghac://prefix` (the GitHub Actions cache).
    Add {
        name: String,
        url: String,
        /// Make it the default remote (`core.remote`).
        #[arg(short, long)]
        default: bool,
        /// Write to `.mlci/config.local.yaml` (this machine only).
        #[arg(long)]
        local: bool,
        /// Replace a remote of the same name.
        #[arg(short, long)]
        force: bool,
    },
    /// List remotes (name, URL, and which is the default). Secrets are never shown.
    List {
        /// Print as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote from both config files.
    Remove { name: String },
    /// Set (or with `--unset`, remove) one setting of a remote, e.g.
    /// `endpoint`, `region`, `access_key_id`, `secret_access_key`, `jobs`.
    ///
    /// Secrets (`secret_access_key`, `password`, `account_key`, …) may only
    /// go to the local file: pass `--local`.
    Modify {
        name: String,
        key: String,
        value: Option<String>,
        /// Write to `.mlci/config.local.yaml` (git-ignored; for secrets).
        #[arg(long)]
        local: bool,
        /// Remove the key instead of setting it.
        #[arg(long, conflicts_with = "value")]
        unset: bool,
    },
    /// Make a remote the default (`core.remote`).
    Default { name: String },
}

#[derive(Serialize)]
struct RemoteJson<'a> {
    name: &'a str,
    url: &'a str,
    default: bool,
}

pub fn cmd_remote(ctx: &Ctx, args: RemoteArgs) -> anyhow::Result<Exit> {
    let root = find_root(&ctx.cwd)?;
    let dir = root.join(MLCI_DIR);
    if !dir.is_dir() {
        return Err(crate::repo::RepoError::NotInitialized { root }.into());
    }
    let mut files = Files::load(&dir)?;
    match args.command {
        RemoteCommand::List { json } => list(ctx, &root, &files, json)?,
        RemoteCommand::Add {
            name,
            url,
            default,
            local,
            force,
        } => add(
            ctx,
            &root,
            &mut files,
            &name,
            url,
            Placement {
                default,
                local,
                force,
            },
        )?,
        RemoteCommand::Remove { name } => remove(ctx, &root, &mut files, name)?,
        RemoteCommand::Modify {
            name,
            key,
            value,
            local,
            unset,
        } => modify(
            ctx,
            &root,
            &mut files,
            name,
            Change {
                key,
                value,
                local,
                unset,
            },
        )?,
        RemoteCommand::Default { name } => set_default(ctx, &root, &mut files, name)?,
    }
    Ok(Exit::Ok)
}

/// Where `remote add` puts a remote.
struct Placement {
    default: bool,
    local: bool,
    force: bool,
}

/// What `remote modify` changes.
struct Change {
    key: String,
    value: Option<String>,
    local: bool,
    unset: bool,
}

/// `mlci remote list`.
fn list(ctx: &Ctx, root: &Path, files: &Files, json: bool) -> anyhow::Result<()> {
    let settings = files.validate(root)?;
    let default = settings.default_remote.as_deref();
    let list: Vec<RemoteJson> = settings
        .remotes
        .iter()
        .map(|(name, r)| RemoteJson {
            name,
            url: r.url.as_deref().unwrap_or(""),
            default: default == Some(name.as_str()),
        })
        .collect();
    if json {
        ctx.printer.data(&serde_json::to_string_pretty(&list)?)?;
    } else if list.is_empty() {
        ctx.printer
            .info("no remotes (add one with `mlci remote add NAME URL`)");
    } else {
        let mut text = String::new();
        for r in &list {
            text.push_str(&format!(
                "{}\t{}{}\n",
                r.name,
                r.url,
                if r.default { "\t(default)" } else { "" }
            ));
        }
        ctx.printer.data(&text)?;
    }
    Ok(())
}

/// `mlci remote add`.
fn add(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: &str,
    url: String,
    place: Placement,
) -> anyhow::Result<()> {
    let Placement {
        default,
        local,
        force,
    } = place;
    check_name(name)?;
    let exists = files.shared_remote(name).is_some() || files.local_remote(name).is_some();
    if exists && !force {
        return Err(hinted(
            format!("a remote named `{name}` exists already"),
            format!("use `mlci remote modify {name} url URL`, or `--force` to replace it"),
        ));
    }
    files.remove_remote(name);
    let doc = if local {
        &mut files.local
    } else {
        &mut files.shared
    };
    set_path(doc, &["remotes", name, "url"], Some(Value::String(url)));
    if default {
        set_path(
            doc,
            &["core", "remote"],
            Some(Value::String(name.to_string())),
        );
    }
    files.save(root)?;
    ctx.printer.info(&format!(
        "added remote `{name}`{}",
        if default { " (the default)" } else { "" }
    ));
    Ok(())
}

/// `mlci remote remove`.
fn remove(ctx: &Ctx, root: &Path, files: &mut Files, name: String) -> anyhow::Result<()> {
    if files.shared_remote(&name).is_none() && files.local_remote(&name).is_none() {
        let settings = files.validate(root)?;
        return Err(crate::remote::RemoteError::Unknown {
            name,
            known: settings.remotes.keys().cloned().collect(),
        }
        .into());
    }
    files.remove_remote(&name);
    for doc in [&mut files.shared, &mut files.local] {
        if get_path(doc, &["core", "remote"]).and_then(Value::as_str) == Some(name.as_str()) {
            set_path(doc, &["core", "remote"], None);
        }
    }
    files.save(root)?;
    ctx.printer.info(&format!("removed remote `{name}`"));
    Ok(())
}

/// `mlci remote modify`.
fn modify(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: String,
    change: Change,
) -> anyhow::Result<()> {
    let Change {
        key,
        value,
        local,
        unset,
    } = change;
    if files.shared_remote(&name).is_none() && files.local_remote(&name).is_none() {
        let settings = files.validate(root)?;
        return Err(crate::remote::RemoteError::Unknown {
            name,
            known: settings.remotes.keys().cloned().collect(),
        }
        .into());
    }
    if location::SECRET_KEYS.contains(&key.as_str()) && !local && !unset {
        return Err(hinted(
            format!("`{key}` is a secret and .mlci/config.yaml is committed"),
            format!("add `--local` to keep it in .mlci/config.local.yaml: mlci remote modify {name} {key} VALUE --local"),
        ));
    }
    let value = match (value, unset) {
        (_, true) => None,
        (Some(v), false) => Some(scalar(&v)),
        (None, false) => {
            return Err(hinted(
                format!("no value given for `{key}`"),
                format!("mlci remote modify {name} {key} VALUE (or `--unset`)"),
            ))
        }
    };
    let doc = if local {
        &mut files.local
    } else {
        &mut files.shared
    };
    set_path(doc, &["remotes", &name, &key], value);
    files.save(root)?;
    ctx.printer.info(&format!(
        "{} `{key}` of remote `{name}`",
        if unset { "removed" } else { "set" }
    ));
    Ok(())
}

/// `mlci remote default`.
fn set_default(ctx: &Ctx, root: &Path, files: &mut Files, name: String) -> anyhow::Result<()> {
    let settings = files.validate(root)?;
    if !settings.remotes.contains_key(&name) {
        return Err(crate::remote::RemoteError::Unknown {
            name,
            known: settings.remotes.keys().cloned().collect(),
        }
        .into());
    }
    set_path(
        &mut files.shared,
        &["core", "remote"],
        Some(Value::String(name.clone())),
    );
    files.save(root)?;
    ctx.printer
        .info(&format!("`{name}` is now the default remote"));
    Ok(())
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(hinted(
            format!("`{name}` is not a valid remote name"),
            "use letters, digits, `-`, `_` and `.`",
        ));
    }
    Ok(())
}

/// `true`/`false` and whole numbers as YAML scalars, anything else a string.
fn scalar(v: &str) -> Value {
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
struct Files {
    shared_path: PathBuf,
    local_path: PathBuf,
    shared: Value,
    local: Value,
}

impl Files {
    fn load(dir: &Path) -> anyhow::Result<Files> {
        let shared_path = dir.join(CONFIG_FILE);
        let local_path = dir.join(LOCAL_CONFIG_FILE);
        let parse = |path: &Path| -> anyhow::Result<Value> {
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

    fn shared_remote(&self, name: &str) -> Option<&Value> {
        get_path(&self.shared, &["remotes", name])
    }

    fn local_remote(&self, name: &str) -> Option<&Value> {
        get_path(&self.local, &["remotes", name])
    }

    fn remove_remote(&mut self, name: &str) {
        set_path(&mut self.shared, &["remotes", name], None);
        set_path(&mut self.local, &["remotes", name], None);
    }

    fn texts(&self) -> (String, String) {
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

    /// Checks the merged result and every remote's URL and keys.
    fn validate(&self, root: &Path) -> anyhow::Result<Settings> {
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

    fn save(&self, root: &Path) -> anyhow::Result<()> {
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

fn get_path<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_mapping()?.get(*key)?;
    }
    Some(cur)
}

/// Sets (or with None removes) the value at `path`, creating mappings on
/// the way and dropping mappings a removal leaves empty.
fn set_path(v: &mut Value, path: &[&str], value: Option<Value>) {
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
