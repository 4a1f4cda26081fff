//! Artifact declarations: the `artifacts:` section of `dvc.yaml` or
//! `mlci.yaml` (DVC's schema: `path` required; `type`, `desc`, `labels`,
//! `meta`). An artifact declared in `dir/dvc.yaml` is addressed `dir:name`
//! and its path is relative to `dir`, as DVC and GTO address it.
//!
//! Declarations are untrusted input (a pull request writes them): names
//! follow DVC's rule and paths must be plain workspace paths.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::tag;
use super::RegistryError;
use crate::pipeline::source::Source;
use crate::workspace_path::WorkspacePath;

/// One declared artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Declaration {
    /// As addressed: `name` or `dir:name`.
    pub name: String,
    /// The file declaring it (`mlci.yaml`, `dvc.yaml`, `dir/dvc.yaml`).
    pub file: String,
    /// Relative to the repository root.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub desc: Option<String>,
    pub labels: Vec<String>,
    pub meta: Option<Json>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactWire {
    path: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    desc: Option<String>,
    labels: Option<Vec<String>>,
    meta: Option<Json>,
}

#[derive(Debug, Default, Deserialize)]
struct FileWire {
    artifacts: Option<IndexMap<String, ArtifactWire>>,
}

/// The declarations in one file (`dir` is its directory, "" at the root).
pub fn in_file(src: &dyn Source, dir: &str, file: &str) -> Result<Vec<Declaration>, RegistryError> {
    let rel = if dir.is_empty() {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    };
    let text = match src.read(&rel) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(RegistryError::Declaration {
                file: rel,
                line: None,
                message: e.message,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let wire: FileWire = crate::yaml::parse(&text, std::path::Path::new(&rel)).map_err(|e| {
        RegistryError::Declaration {
            file: rel.clone(),
            line: e.line,
            message: e.message,
        }
    })?;
    let mut out = Vec::new();
    for (name, a) in wire.artifacts.unwrap_or_default() {
        let line = crate::yaml::line_of_key(&text, &name, None);
        let bad = |message: String| RegistryError::Declaration {
            file: rel.clone(),
            line,
            message,
        };
        if !tag::is_writable_name(&name) || name.contains(':') {
            return Err(bad(format!(
                "artifact name `{name}` breaks DVC's rule: lower-case letters, digits, `-` and `/`, starting with a letter"
            )));
        }
        let path = if dir.is_empty() {
            a.path.clone()
        } else {
            format!("{dir}/{}", a.path)
        };
        let path = WorkspacePath::new(path.trim_end_matches('/'))
            .map_err(|e| bad(format!("artifact `{name}`: path {e}")))?;
        out.push(Declaration {
            name: if dir.is_empty() {
                name
            } else {
                format!("{dir}:{name}")
            },
            file: rel.clone(),
            path: path.as_str().to_string(),
            kind: a.kind,
            desc: a.desc,
            labels: a.labels.unwrap_or_default(),
            meta: a.meta,
        });
    }
    Ok(out)
}

/// The declaration of artifact `name` (`name` or `dir:name`) in `src`:
/// `dir/dvc.yaml` for `dir:name`; `mlci.yaml`, then `dvc.yaml`, at the
/// root for a plain name.
pub fn find(src: &dyn Source, name: &str) -> Result<Option<Declaration>, RegistryError> {
    let (dir, files): (&str, &[&str]) = match name.rsplit_once(':') {
        Some((dir, _)) => {
            // The directory comes from a tag name or the command line.
            WorkspacePath::new(dir).map_err(|e| RegistryError::BadName {
                name: name.into(),
                why: e.to_string(),
            })?;
            (dir, &["dvc.yaml"])
        }
        None => ("", &["mlci.yaml", "dvc.yaml"]),
    };
    for file in files {
        if let Some(d) = in_file(src, dir, file)?
            .into_iter()
            .find(|d| d.name == name)
        {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// Every artifact declared at the root (`mlci.yaml` and `dvc.yaml`).
pub fn at_root(src: &dyn Source) -> Result<Vec<Declaration>, RegistryError> {
    let mut all = in_file(src, "", "mlci.yaml")?;
    for d in in_file(src, "", "dvc.yaml")? {
        if !all.iter().any(|a| a.name == d.name) {
            all.push(d);
        }
    }
    Ok(all)
}
