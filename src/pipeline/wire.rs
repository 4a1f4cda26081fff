//! The wire types of `mlci.yaml` / `dvc.yaml`: serde shapes with
//! `deny_unknown_fields`, so a typo is an error with its line, and the
//! conversion of top-level `plots:` entries into [`PlotDef`]s.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::definition::{PlotDef, PlotSource};
use crate::workspace_path::WorkspacePath;
use crate::yaml;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `path` or `{path: {flag: value}}` as outs/metrics/plots entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum PathSpec<F> {
    Plain(String),
    WithFlags(BTreeMap<String, Option<F>>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutFlags {
    pub(super) cache: Option<bool>,
    pub(super) persist: Option<bool>,
    pub(super) remote: Option<String>,
    pub(super) push: Option<bool>,
    pub(super) desc: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) labels: Option<Vec<String>>,
    pub(super) meta: Option<serde_yaml_value::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlotFlags {
    pub(super) cache: Option<bool>,
    pub(super) persist: Option<bool>,
    pub(super) template: Option<String>,
    pub(super) x: Option<serde_yaml_value::Value>,
    pub(super) y: Option<serde_yaml_value::Value>,
    pub(super) title: Option<String>,
    pub(super) x_label: Option<String>,
    pub(super) y_label: Option<String>,
    // Accepted for dvc.yaml compatibility; not acted on.
    #[allow(dead_code)]
    pub(super) header: Option<bool>,
    #[allow(dead_code)]
    pub(super) desc: Option<String>,
    #[allow(dead_code)]
    pub(super) remote: Option<String>,
    pub(super) push: Option<bool>,
}

/// Re-export of the YAML value type under a private name, so the wire types
/// can hold arbitrary values without naming the YAML crate.
pub(super) mod serde_yaml_value {
    pub(crate) type Value = crate::yaml::Value;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum ParamSpec {
    Key(String),
    Files(BTreeMap<String, Option<Vec<String>>>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum VarsEntry {
    File(String),
    Inline(BTreeMap<String, serde_yaml_value::Value>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StageWire {
    pub(super) cmd: Option<OneOrMany>,
    pub(super) wdir: Option<String>,
    pub(super) deps: Option<Vec<String>>,
    pub(super) outs: Option<Vec<PathSpec<OutFlags>>>,
    pub(super) params: Option<Vec<ParamSpec>>,
    pub(super) metrics: Option<Vec<PathSpec<OutFlags>>>,
    pub(super) plots: Option<Vec<PathSpec<PlotFlags>>>,
    pub(super) frozen: Option<bool>,
    pub(super) always_changed: Option<bool>,
    pub(super) desc: Option<String>,
    pub(super) meta: Option<serde_yaml_value::Value>,
    pub(super) vars: Option<Vec<VarsEntry>>,
    pub(super) foreach: Option<serde_yaml_value::Value>,
    #[serde(rename = "do")]
    pub(super) do_: Option<Box<StageWire>>,
    pub(super) matrix: Option<indexmap::IndexMap<String, serde_yaml_value::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWire {
    pub(super) vars: Option<Vec<VarsEntry>>,
    pub(super) stages: Option<indexmap::IndexMap<String, StageWire>>,
    pub(super) params: Option<Vec<ParamSpec>>,
    pub(super) metrics: Option<Vec<String>>,
    pub(super) plots: Option<Vec<serde_yaml_value::Value>>,
    /// Accepted here and read by the registry (`registry::declare`).
    #[allow(dead_code)]
    pub(super) artifacts: Option<serde_yaml_value::Value>,
    pub(super) datasets: Option<serde_yaml_value::Value>,
    /// mlci's own sections (only meaningful in mlci.yaml).
    pub(super) gates: Option<serde_yaml_value::Value>,
    pub(super) report: Option<serde_yaml_value::Value>,
    /// Read by the registry from the default branch's tip
    /// (`registry::policy`), never from here.
    pub(super) promotion: Option<serde_yaml_value::Value>,
    /// Drift settings and rules (`drift::rules`).
    pub(super) drift: Option<serde_yaml_value::Value>,
    /// The predictions log `mlci gate` checks (`commands::monitor`).
    pub(super) monitor: Option<serde_yaml_value::Value>,
}

/// y fields: a name, a list of names, or nothing (auto).
pub(super) fn fields(v: Option<&yaml::Value>) -> Vec<String> {
    match v {
        Some(yaml::Value::String(s)) => vec![s.clone()],
        Some(yaml::Value::Sequence(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A top-level `plots:` entry: `path`, or `{id: {x, y, title, …}}` where
/// `y` (and `x`) may map files to fields.
pub(super) fn top_level_plot(entry: &yaml::Value) -> Result<PlotDef, String> {
    let (id, spec) = match entry {
        yaml::Value::String(p) => (p.clone(), None),
        yaml::Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let id = k.as_str().ok_or("a plot id must be a string")?.to_string();
            (id, if v.is_null() { None } else { Some(v.clone()) })
        }
        _ => {
            return Err("each entry is a path or a mapping of one plot id to its definition".into())
        }
    };
    let Some(spec) = spec else {
        // A bare entry is a file: the same rule as every path from the
        // pipeline (inside the workspace, out of .git/ and .mlci/).
        WorkspacePath::new(&id).map_err(|e| format!("plot `{id}`: {e}"))?;
        return Ok(PlotDef {
            id: id.clone(),
            sources: vec![PlotSource {
                file: id,
                x: None,
                y: Vec::new(),
                x_file: None,
            }],
            ..Default::default()
        });
    };
    let flags: PlotFlags = yaml::from_value(spec, Path::new("plots")).map_err(|e| e.message)?;
    let x_by_file: BTreeMap<String, String> = match &flags.x {
        Some(yaml::Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let x_single = flags
        .x
        .as_ref()
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let sources = match &flags.y {
        Some(yaml::Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| {
                let file = k.as_str().ok_or("plot files must be strings")?.to_string();
                // `x` from the one other file that names it: paired by row.
                let other_x = match (x_by_file.get(&file), x_by_file.len()) {
                    (None, 1) => x_by_file.iter().next(),
                    _ => None,
                };
                Ok(PlotSource {
                    x: x_by_file
                        .get(&file)
                        .cloned()
                        .or(x_single.clone())
                        .or(other_x.map(|(_, f)| f.clone())),
                    y: fields(Some(v)),
                    x_file: other_x.map(|(xf, _)| xf.clone()),
                    file,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
        other => vec![PlotSource {
            file: id.clone(),
            x: x_single.clone(),
            y: fields(other.as_ref()),
            x_file: None,
        }],
    };
    for s in &sources {
        for f in std::iter::once(&s.file).chain(&s.x_file) {
            WorkspacePath::new(f).map_err(|e| format!("plot `{id}`: {e}"))?;
        }
    }
    Ok(PlotDef {
        id,
        title: flags.title,
        x_label: flags.x_label,
        y_label: flags.y_label,
        template: flags.template,
        sources,
    })
}
