//! The pipeline definition: `mlci.yaml`, or the stages of an existing
//! `dvc.yaml` (same schema on purpose, so DVC pipelines run unchanged).
//!
//! Parsing goes wire type (serde, `deny_unknown_fields`, so a typo is an
//! error with its line) -> `foreach`/`matrix` expansion and `${...}`
//! interpolation -> validated [`Stage`]s with repo-relative paths. Keys that
//! dvc.yaml accepts but mlci does not act on yet are kept and reported once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::config::yaml::{self, YamlError};
use crate::error::Hint;
use crate::workspace_path::WorkspacePath;

pub const MLCI_YAML: &str = "mlci.yaml";
pub const DVC_YAML: &str = "dvc.yaml";
pub const DEFAULT_PARAMS: &str = "params.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `path` or `{path: {flag: value}}` as outs/metrics/plots entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PathSpec<F> {
    Plain(String),
    WithFlags(BTreeMap<String, Option<F>>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutFlags {
    cache: Option<bool>,
    persist: Option<bool>,
    remote: Option<String>,
    push: Option<bool>,
    desc: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    labels: Option<Vec<String>>,
    meta: Option<serde_yaml_value::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlotFlags {
    cache: Option<bool>,
    persist: Option<bool>,
    template: Option<String>,
    x: Option<serde_yaml_value::Value>,
    y: Option<serde_yaml_value::Value>,
    title: Option<String>,
    x_label: Option<String>,
    y_label: Option<String>,
    // Accepted for dvc.yaml compatibility; not acted on.
    #[allow(dead_code)]
    header: Option<bool>,
    #[allow(dead_code)]
    desc: Option<String>,
    #[allow(dead_code)]
    remote: Option<String>,
    #[allow(dead_code)]
    push: Option<bool>,
}

/// Re-export of the YAML value type under a private name, so the wire types
/// can hold arbitrary values without naming the YAML crate.
mod serde_yaml_value {
    pub type Value = crate::config::yaml::Value;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ParamSpec {
    Key(String),
    Files(BTreeMap<String, Option<Vec<String>>>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum VarsEntry {
    File(String),
    Inline(BTreeMap<String, serde_yaml_value::Value>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageWire {
    cmd: Option<OneOrMany>,
    wdir: Option<String>,
    deps: Option<Vec<String>>,
    outs: Option<Vec<PathSpec<OutFlags>>>,
    params: Option<Vec<ParamSpec>>,
    metrics: Option<Vec<PathSpec<OutFlags>>>,
    plots: Option<Vec<PathSpec<PlotFlags>>>,
    frozen: Option<bool>,
    always_changed: Option<bool>,
    desc: Option<String>,
    meta: Option<serde_yaml_value::Value>,
    vars: Option<Vec<VarsEntry>>,
    foreach: Option<serde_yaml_value::Value>,
    #[serde(rename = "do")]
    do_: Option<Box<StageWire>>,
    matrix: Option<BTreeMap<String, serde_yaml_value::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWire {
    vars: Option<Vec<VarsEntry>>,
    stages: Option<BTreeMap<String, StageWire>>,
    params: Option<Vec<ParamSpec>>,
    metrics: Option<Vec<String>>,
    plots: Option<Vec<serde_yaml_value::Value>>,
    artifacts: Option<serde_yaml_value::Value>,
    datasets: Option<serde_yaml_value::Value>,
    /// mlci's own sections (only meaningful in mlci.yaml).
    gates: Option<serde_yaml_value::Value>,
    report: Option<serde_yaml_value::Value>,
}

/// What a stage writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Repo-relative, `/`-separated, checked.
    pub path: WorkspacePath,
    pub cache: bool,
    pub persist: bool,
    pub kind: OutKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    Out,
    Metric,
    Plot,
}

/// Params a stage reads: dotted keys of one file, or the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDep {
    /// Repo-relative params file.
    pub file: String,
    /// None: every key in the file.
    pub keys: Option<Vec<String>>,
}

/// One expanded, validated stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub cmd: Vec<String>,
    /// Repo-relative working directory ("" for the root).
    pub wdir: String,
    pub deps: Vec<WorkspacePath>,
    pub outs: Vec<Output>,
    pub params: Vec<ParamDep>,
    pub frozen: bool,
    pub always_changed: bool,
    pub desc: Option<String>,
}

/// One plot: which fields of which files to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotDef {
    /// The top-level id, or the file path for a stage plot.
    pub id: String,
    pub title: Option<String>,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub template: Option<String>,
    /// (repo-relative file, x field or None for the row index, y fields or
    /// empty for "the last numeric column").
    pub sources: Vec<PlotSource>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotSource {
    pub file: String,
    pub x: Option<String>,
    pub y: Vec<String>,
}

/// The loaded pipeline.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// The file the stages came from (mlci.yaml or dvc.yaml), if any.
    pub source: Option<String>,
    pub stages: Vec<Stage>,
    /// Top-level metrics files (repo-relative).
    pub metrics: Vec<String>,
    /// Plot definitions, from stage `plots:` and the top-level `plots:`.
    pub plots: Vec<PlotDef>,
    /// Keys present that mlci accepts but does not act on yet.
    pub unused_keys: Vec<String>,
    pub gates: Option<yaml::Value>,
    pub report: Option<yaml::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{file}{}: stage `{stage}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Stage {
        file: String,
        line: Option<usize>,
        stage: String,
        message: String,
        hint: Option<String>,
    },
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    File {
        file: String,
        line: Option<usize>,
        message: String,
        hint: Option<String>,
    },
}

impl Hint for PipelineError {
    fn hint(&self) -> Option<String> {
        match self {
            PipelineError::Yaml(e) if e.message.contains("unknown field") => Some(
                "mlci.yaml accepts the keys dvc.yaml does (stages, vars, params, metrics, plots, artifacts, datasets) plus gates and report".into(),
            ),
            PipelineError::Yaml(_) => Some(
                "stage fields follow dvc.yaml's schema (cmd, deps, outs, params, metrics, plots, frozen, always_changed, wdir, ...); see the README".into(),
            ),
            PipelineError::Stage { hint, .. } | PipelineError::File { hint, .. } => hint.clone(),
        }
    }
}

/// Loads the pipeline of the repository at `root`: stages from mlci.yaml,
/// or from dvc.yaml when mlci.yaml has no `stages:`. No file at all is an
/// empty pipeline.
pub fn load(root: &Path) -> Result<Pipeline, PipelineError> {
    let mlci = read_file(root, MLCI_YAML)?;
    let mut pipeline = Pipeline::default();
    let mut stages_from = None;
    if let Some((text, wire)) = &mlci {
        pipeline.gates = wire.gates.clone();
        pipeline.report = wire.report.clone();
        if wire.stages.is_some() {
            stages_from = Some((MLCI_YAML, text.clone(), wire.clone()));
        }
    }
    if stages_from.is_none() {
        if let Some((text, wire)) = read_file(root, DVC_YAML)? {
            if wire.gates.is_some() || wire.report.is_some() {
                return Err(PipelineError::File {
                    file: DVC_YAML.into(),
                    line: yaml::line_of_key(
                        &text,
                        if wire.gates.is_some() {
                            "gates"
                        } else {
                            "report"
                        },
                        None,
                    ),
                    message: "`gates:` and `report:` belong in mlci.yaml, not dvc.yaml".into(),
                    hint: Some("move them to mlci.yaml; DVC itself would reject them here".into()),
                });
            }
            stages_from = Some((DVC_YAML, text, wire));
        } else if let Some((text, wire)) = &mlci {
            stages_from = Some((MLCI_YAML, text.clone(), wire.clone()));
        }
    }
    let Some((file, text, wire)) = stages_from else {
        return Ok(pipeline);
    };
    pipeline.source = Some(file.to_string());
    for (key, present) in [
        ("artifacts", wire.artifacts.is_some()),
        ("datasets", wire.datasets.is_some()),
    ] {
        if present {
            pipeline.unused_keys.push(format!("{file}: `{key}`"));
        }
    }
    let ctx = Loader {
        root,
        file,
        text: &text,
    };
    let base_vars = ctx.load_vars(wire.vars.as_deref().unwrap_or(&[]), None)?;
    for (name, stage) in wire.stages.unwrap_or_default() {
        ctx.expand(&name, &stage, &base_vars, &mut pipeline)?;
    }
    pipeline.metrics = wire
        .metrics
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            ctx.resolve_path("", &m)
                .map_err(|message| PipelineError::File {
                    file: ctx.file.into(),
                    line: ctx.line_of(&m),
                    message,
                    hint: Some(PATH_HINT.into()),
                })
        })
        .collect::<Result<_, _>>()?;
    // Top-level `params` and `metrics` feed `params diff` / `metrics diff`
    // (not built yet): kept, and mentioned.
    if wire.params.is_some() {
        pipeline
            .unused_keys
            .push(format!("{file}: top-level `params`"));
    }
    if !pipeline.metrics.is_empty() {
        pipeline
            .unused_keys
            .push(format!("{file}: top-level `metrics`"));
    }
    for entry in wire.plots.iter().flatten() {
        let def =
            top_level_plot(entry).map_err(|m| ctx.file_error("plots", format!("`plots`: {m}")))?;
        pipeline.plots.push(def);
    }
    pipeline.unused_keys.sort();
    pipeline.unused_keys.dedup();
    Ok(pipeline)
}

fn read_file(root: &Path, name: &str) -> Result<Option<(String, FileWire)>, PipelineError> {
    let path = root.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PipelineError::File {
                file: name.into(),
                line: None,
                message: e.to_string(),
                hint: None,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Some((text, FileWire::default())));
    }
    let wire: FileWire = yaml::parse(&text, Path::new(name))?;
    Ok(Some((text, wire)))
}

struct Loader<'a> {
    root: &'a Path,
    file: &'a str,
    text: &'a str,
}

impl Loader<'_> {
    fn stage_error(
        &self,
        stage: &str,
        needle: &str,
        message: String,
        hint: Option<String>,
    ) -> PipelineError {
        PipelineError::Stage {
            file: self.file.into(),
            line: self.line_of(needle).or_else(|| {
                self.line_of(&format!("{}:", stage.split('@').next().unwrap_or(stage)))
            }),
            stage: stage.into(),
            message,
            hint,
        }
    }

    fn file_error(&self, needle: &str, message: String) -> PipelineError {
        PipelineError::File {
            file: self.file.into(),
            line: self.line_of(needle),
            message,
            hint: None,
        }
    }

    fn line_of(&self, needle: &str) -> Option<usize> {
        if needle.is_empty() {
            return None;
        }
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
    }

    /// Builds the interpolation context: params.yaml (when present and not
    /// listed), then each `vars` entry in order (files or inline maps).
    fn load_vars(&self, entries: &[VarsEntry], base: Option<&Json>) -> Result<Json, PipelineError> {
        let mut ctx = match base {
            Some(b) => b.clone(),
            None => {
                let mut c = Json::Object(Default::default());
                if self.root.join(DEFAULT_PARAMS).is_file() {
                    let p = crate::params::load(self.root, DEFAULT_PARAMS).map_err(params_error)?;
                    merge(&mut c, p);
                }
                c
            }
        };
        for entry in entries {
            match entry {
                VarsEntry::File(spec) => {
                    let (file, keys) = match spec.split_once(':') {
                        Some((f, k)) => (f, Some(k)),
                        None => (spec.as_str(), None),
                    };
                    let tree =
                        crate::params::load(self.root, file).map_err(|e| PipelineError::File {
                            file: self.file.into(),
                            line: self.line_of(spec),
                            message: format!("vars: {e}"),
                            hint: e.hint(),
                        })?;
                    match keys {
                        None => merge(&mut ctx, tree),
                        Some(keys) => {
                            for key in keys.split(',') {
                                let v = crate::params::lookup(&tree, key.trim())
                                    .cloned()
                                    .ok_or_else(|| {
                                        self.file_error(
                                            spec,
                                            format!("vars: `{key}` is not in `{file}`"),
                                        )
                                    })?;
                                merge(&mut ctx, serde_json::json!({ key.trim(): v }));
                            }
                        }
                    }
                }
                VarsEntry::Inline(map) => {
                    let v = serde_json::to_value(map)
                        .map_err(|e| self.file_error("vars", e.to_string()))?;
                    merge(&mut ctx, v);
                }
            }
        }
        Ok(ctx)
    }

    /// Expands `foreach`/`matrix` and adds the resulting stages.
    fn expand(
        &self,
        name: &str,
        wire: &StageWire,
        vars: &Json,
        out: &mut Pipeline,
    ) -> Result<(), PipelineError> {
        if let Some(items) = &wire.foreach {
            let Some(body) = &wire.do_ else {
                return Err(self.stage_error(
                    name,
                    "foreach",
                    "`foreach` needs a `do:` body".into(),
                    None,
                ));
            };
            if wire.cmd.is_some() || wire.matrix.is_some() {
                return Err(self.stage_error(
                    name,
                    "foreach",
                    "a `foreach` stage holds only `foreach` and `do`".into(),
                    None,
                ));
            }
            let items: Json = match items {
                yaml::Value::String(s) => self.interpolate_value(name, s, vars)?,
                other => serde_json::to_value(other)
                    .map_err(|e| self.stage_error(name, "foreach", e.to_string(), None))?,
            };
            match items {
                Json::Array(list) => {
                    let scalar = list.iter().all(|v| !v.is_object() && !v.is_array());
                    for (i, item) in list.into_iter().enumerate() {
                        let suffix = if scalar {
                            crate::params::show(&item)
                        } else {
                            i.to_string()
                        };
                        let mut ctx = vars.clone();
                        merge(&mut ctx, serde_json::json!({ "item": item }));
                        self.build(&format!("{name}@{suffix}"), body, &ctx, out)?;
                    }
                }
                Json::Object(map) => {
                    for (key, item) in map {
                        let mut ctx = vars.clone();
                        merge(&mut ctx, serde_json::json!({ "item": item, "key": key }));
                        self.build(&format!("{name}@{key}"), body, &ctx, out)?;
                    }
                }
                _ => {
                    return Err(self.stage_error(
                        name,
                        "foreach",
                        "`foreach` must be a list, a mapping, or `${...}` naming one".into(),
                        None,
                    ))
                }
            }
            return Ok(());
        }
        if let Some(matrix) = &wire.matrix {
            let mut axes: Vec<(String, Vec<Json>)> = Vec::new();
            for (key, values) in matrix {
                let v: Json = match values {
                    yaml::Value::String(s) => self.interpolate_value(name, s, vars)?,
                    other => serde_json::to_value(other)
                        .map_err(|e| self.stage_error(name, "matrix", e.to_string(), None))?,
                };
                let Json::Array(list) = v else {
                    return Err(self.stage_error(
                        name,
                        key,
                        format!("`matrix.{key}` must be a list"),
                        None,
                    ));
                };
                axes.push((key.clone(), list));
            }
            let mut combos: Vec<Vec<(String, Json)>> = vec![Vec::new()];
            for (key, values) in &axes {
                let mut next = Vec::new();
                for combo in &combos {
                    for v in values {
                        let mut c = combo.clone();
                        c.push((key.clone(), v.clone()));
                        next.push(c);
                    }
                }
                combos = next;
            }
            let mut body = wire.clone();
            body.matrix = None;
            for combo in combos {
                let suffix: Vec<String> = combo
                    .iter()
                    .map(|(k, v)| {
                        if v.is_object() || v.is_array() {
                            k.clone()
                        } else {
                            crate::params::show(v)
                        }
                    })
                    .collect();
                let item: serde_json::Map<String, Json> = combo.into_iter().collect();
                let mut ctx = vars.clone();
                merge(&mut ctx, serde_json::json!({ "item": item }));
                self.build(&format!("{name}@{}", suffix.join("-")), &body, &ctx, out)?;
            }
            return Ok(());
        }
        if wire.do_.is_some() {
            return Err(self.stage_error(
                name,
                "do:",
                "`do` is only valid with `foreach`".into(),
                None,
            ));
        }
        self.build(name, wire, vars, out)
    }

    /// Interpolates and validates one concrete stage.
    fn build(
        &self,
        name: &str,
        wire: &StageWire,
        vars: &Json,
        out: &mut Pipeline,
    ) -> Result<(), PipelineError> {
        let vars = match &wire.vars {
            Some(v) => &self.load_vars(v, Some(vars))?,
            None => vars,
        };
        let s = |text: &str| self.interpolate(name, text, vars);
        let cmd = match &wire.cmd {
            Some(OneOrMany::One(c)) => vec![s(c)?],
            Some(OneOrMany::Many(cs)) => cs.iter().map(|c| s(c)).collect::<Result<_, _>>()?,
            None => {
                return Err(self.stage_error(
                    name,
                    name,
                    "a stage needs a `cmd`".into(),
                    Some("add `cmd: <shell command>`".into()),
                ))
            }
        };
        if cmd.iter().all(|c| c.trim().is_empty()) {
            return Err(self.stage_error(name, "cmd", "`cmd` is empty".into(), None));
        }
        let wdir_raw = match &wire.wdir {
            Some(w) => s(w)?,
            None => String::new(),
        };
        let wdir = self.resolve_path("", &wdir_raw).map_err(|m| {
            self.stage_error(name, "wdir", format!("`wdir`: {m}"), Some(PATH_HINT.into()))
        })?;
        let path = |raw: &str| -> Result<String, PipelineError> {
            let p = s(raw)?;
            let resolved = self
                .resolve_path(&wdir, &p)
                .map_err(|m| self.stage_error(name, raw, m, Some(PATH_HINT.into())))?;
            if resolved.is_empty() {
                // `.` or `a/..`: the workspace root is no dep, out or file.
                return Err(self.stage_error(
                    name,
                    raw,
                    format!("`{p}` names the workspace root itself"),
                    Some(PATH_HINT.into()),
                ));
            }
            Ok(resolved)
        };
        let deps = wire
            .deps
            .iter()
            .flatten()
            .map(|d| path(d).map(checked))
            .collect::<Result<Vec<_>, _>>()?;
        let mut outs = Vec::new();
        for (specs, kind) in [(&wire.outs, OutKind::Out), (&wire.metrics, OutKind::Metric)] {
            for spec in specs.iter().flatten() {
                let (raw, flags) = match spec {
                    PathSpec::Plain(p) => (p.clone(), OutFlags::default()),
                    PathSpec::WithFlags(map) => {
                        let (p, f) =
                            single(map).map_err(|m| self.stage_error(name, "outs", m, None))?;
                        (p, f.unwrap_or_default())
                    }
                };
                // As in DVC, metrics are cached unless `cache: false`.
                outs.push(Output {
                    path: checked(path(&raw)?),
                    cache: flags.cache.unwrap_or(true),
                    persist: flags.persist.unwrap_or(false),
                    kind,
                });
                if flags.remote.is_some()
                    || flags.push.is_some()
                    || flags.kind.is_some()
                    || flags.labels.is_some()
                    || flags.meta.is_some()
                    || flags.desc.is_some()
                {
                    out.unused_keys.push(format!(
                        "{}: out flags `remote`, `push`, `type`, `labels`, `meta`, `desc`",
                        self.file
                    ));
                }
            }
        }
        for spec in wire.plots.iter().flatten() {
            let (raw, flags) = match spec {
                PathSpec::Plain(p) => (p.clone(), PlotFlags::default()),
                PathSpec::WithFlags(map) => {
                    let (p, f) =
                        single(map).map_err(|m| self.stage_error(name, "plots", m, None))?;
                    (p, f.unwrap_or_default())
                }
            };
            let file = path(&raw)?;
            out.plots.push(PlotDef {
                id: file.clone(),
                title: flags.title.clone(),
                x_label: flags.x_label.clone(),
                y_label: flags.y_label.clone(),
                template: flags.template.clone(),
                sources: vec![PlotSource {
                    file: file.clone(),
                    x: flags
                        .x
                        .as_ref()
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    y: fields(flags.y.as_ref()),
                }],
            });
            outs.push(Output {
                path: checked(file),
                cache: flags.cache.unwrap_or(true),
                persist: flags.persist.unwrap_or(false),
                kind: OutKind::Plot,
            });
        }
        let mut params = Vec::new();
        for spec in wire.params.iter().flatten() {
            match spec {
                ParamSpec::Key(k) => {
                    let k = s(k)?;
                    push_param(
                        &mut params,
                        self.resolve_path(&wdir, DEFAULT_PARAMS)
                            .unwrap_or_else(|_| DEFAULT_PARAMS.into()),
                        Some(k),
                    );
                }
                ParamSpec::Files(map) => {
                    for (file, keys) in map {
                        let f = path(file)?;
                        match keys {
                            Some(keys) if !keys.is_empty() => {
                                for k in keys {
                                    push_param(&mut params, f.clone(), Some(s(k)?));
                                }
                            }
                            _ => push_param(&mut params, f.clone(), None),
                        }
                    }
                }
            }
        }
        if wire.meta.is_some() {
            out.unused_keys.push(format!("{}: stage `meta`", self.file));
        }
        if out.stages.iter().any(|st| st.name == name) {
            return Err(self.stage_error(
                name,
                name,
                format!("two stages are named `{name}`"),
                None,
            ));
        }
        out.stages.push(Stage {
            name: name.to_string(),
            cmd,
            wdir,
            deps,
            outs,
            params,
            frozen: wire.frozen.unwrap_or(false),
            always_changed: wire.always_changed.unwrap_or(false),
            desc: wire.desc.clone(),
        });
        Ok(())
    }

    fn interpolate(&self, stage: &str, text: &str, vars: &Json) -> Result<String, PipelineError> {
        interpolate(text, vars).map_err(|(expr, why)| {
            self.stage_error(
                stage,
                &format!("${{{expr}}}"),
                format!("cannot interpolate `${{{expr}}}`: {why}"),
                Some("values come from params.yaml and the `vars:` files and maps; check the key's spelling".into()),
            )
        })
    }

    /// `${x}` alone keeps x's type (a list for `foreach: ${models}`).
    fn interpolate_value(
        &self,
        stage: &str,
        text: &str,
        vars: &Json,
    ) -> Result<Json, PipelineError> {
        let t = text.trim();
        if let Some(expr) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
            if !expr.contains("${") {
                return resolve(vars, expr.trim()).cloned().map_err(|why| {
                    self.stage_error(stage, t, format!("cannot interpolate `{t}`: {why}"), None)
                });
            }
        }
        Ok(Json::String(self.interpolate(stage, text, vars)?))
    }

    /// Joins a path written relative to `wdir` and normalises it to a
    /// repo-relative path; refuses absolute paths and paths that leave the
    /// repository.
    fn resolve_path(&self, wdir: &str, raw: &str) -> Result<String, String> {
        if raw.starts_with('/') {
            return Err(format!(
                "`{raw}` is absolute; paths are relative to the stage's wdir"
            ));
        }
        let mut parts: Vec<&str> = wdir.split('/').filter(|p| !p.is_empty()).collect();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(format!("`{raw}` leaves the repository"));
                    }
                }
                p => parts.push(p),
            }
        }
        let joined = parts.join("/");
        if joined.is_empty() {
            return Ok(joined);
        }
        // The one workspace rule: no `.git`, no `.mlci/`, nothing git
        // cannot ignore exactly.
        WorkspacePath::new(&joined)
            .map(String::from)
            .map_err(|e| e.to_string())
    }
}

/// The hint of every refused path in a pipeline file.
const PATH_HINT: &str = "paths in a pipeline are relative to the stage's wdir and name files in the work tree, outside .git/ and .mlci/";

/// A path [`Loader::resolve_path`] returned (and so checked), as the type.
fn checked(path: String) -> WorkspacePath {
    WorkspacePath::new(&path).expect("resolve_path checks every path it returns")
}

/// A params file that does not load, as a pipeline error naming that file.
fn params_error(e: crate::params::ParamsError) -> PipelineError {
    let hint = e.hint();
    match e {
        crate::params::ParamsError::Parse {
            file,
            line,
            message,
        } => PipelineError::File {
            file,
            line,
            message,
            hint,
        },
        other => PipelineError::File {
            file: DEFAULT_PARAMS.into(),
            line: None,
            message: other.to_string(),
            hint,
        },
    }
}

/// y fields: a name, a list of names, or nothing (auto).
fn fields(v: Option<&yaml::Value>) -> Vec<String> {
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
fn top_level_plot(entry: &yaml::Value) -> Result<PlotDef, String> {
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
        return Ok(PlotDef {
            id: id.clone(),
            sources: vec![PlotSource {
                file: id,
                x: None,
                y: Vec::new(),
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
                Ok(PlotSource {
                    x: x_by_file.get(&file).cloned().or(x_single.clone()),
                    y: fields(Some(v)),
                    file,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
        other => vec![PlotSource {
            file: id.clone(),
            x: x_single.clone(),
            y: fields(other.as_ref()),
        }],
    };
    for s in &sources {
        WorkspacePath::new(&s.file).map_err(|e| format!("plot `{id}`: {e}"))?;
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

fn push_param(params: &mut Vec<ParamDep>, file: String, key: Option<String>) {
    match params.iter_mut().find(|p| p.file == file) {
        Some(p) => match (&mut p.keys, key) {
            (Some(keys), Some(k)) => {
                if !keys.contains(&k) {
                    keys.push(k)
                }
            }
            (keys, None) => *keys = None,
            (None, Some(_)) => {}
        },
        None => params.push(ParamDep {
            file,
            keys: key.map(|k| vec![k]),
        }),
    }
}

fn single<F: Clone>(map: &BTreeMap<String, Option<F>>) -> Result<(String, Option<F>), String> {
    let mut it = map.iter();
    match (it.next(), it.next()) {
        (Some((p, f)), None) => Ok((p.clone(), f.clone())),
        _ => Err("each entry is a path, or a mapping of exactly one path to its flags".into()),
    }
}

/// Deep-merges `b` into `a`.
fn merge(a: &mut Json, b: Json) {
    match (a, b) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(old) if old.is_object() && v.is_object() => merge(old, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// Replaces each `${expr}` in `text` (`\${` escapes). Err: (expr, why).
pub fn interpolate(text: &str, vars: &Json) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'\\' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            return Err((rest[i + 2..].to_string(), "no closing `}`".into()));
        };
        let expr = rest[i + 2..i + end].trim();
        let v = resolve(vars, expr).map_err(|why| (expr.to_string(), why))?;
        match v {
            Json::String(s) => out.push_str(s),
            Json::Number(_) | Json::Bool(_) => out.push_str(&v.to_string()),
            Json::Null => out.push_str("None"),
            _ => {
                return Err((
                    expr.to_string(),
                    "it is a list or mapping, not a single value".into(),
                ))
            }
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Looks up `a.b[0].c` in the context.
fn resolve<'v>(vars: &'v Json, expr: &str) -> Result<&'v Json, String> {
    if expr.is_empty() {
        return Err("the expression is empty".into());
    }
    let mut cur = vars;
    let mut seen = String::new();
    for raw in expr.split('.') {
        let (key, indices) = match raw.find('[') {
            Some(i) => (&raw[..i], &raw[i..]),
            None => (raw, ""),
        };
        if !key.is_empty() {
            cur = match cur {
                Json::Object(m) => m.get(key),
                Json::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }
            .ok_or_else(|| {
                if seen.is_empty() {
                    format!("`{key}` is not defined")
                } else {
                    format!("`{seen}` has no key `{key}`")
                }
            })?;
            if !seen.is_empty() {
                seen.push('.');
            }
            seen.push_str(key);
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let n: usize = idx
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("`[{idx}` is not a list index"))?;
            cur = cur
                .get(n)
                .ok_or_else(|| format!("`{seen}` has no item {n}"))?;
            seen.push_str(&format!("[{n}]"));
        }
    }
    Ok(cur)
}

/// Where the pipeline file for error messages lives.
pub fn source_path(root: &Path, p: &Pipeline) -> Option<PathBuf> {
    p.source.as_ref().map(|s| root.join(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(files: &[(&str, &str)]) -> Result<Pipeline, PipelineError> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        load(dir.path())
    }

    #[test]
    fn stages_with_wdir_params_and_flags() {
        let p = load_str(&[
            ("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n"),
            (
                "mlci.yaml",
                "stages:\n  train:\n    cmd: python train.py --lr ${train.lr}\n    wdir: src\n    deps: [train.py, ../data/x.csv]\n    params: [train.lr, {../cfg.toml: }]\n    outs:\n      - ../models/m.bin\n      - ../cache.db: {cache: false, persist: true}\n    metrics:\n      - ../eval/m.json: {cache: false}\n",
            ),
            ("cfg.toml", "a = 1\n"),
        ])
        .unwrap();
        let s = &p.stages[0];
        assert_eq!(s.cmd, ["python train.py --lr 0.1"]);
        assert_eq!(s.wdir, "src");
        assert_eq!(s.deps, ["src/train.py", "data/x.csv"]);
        assert_eq!(
            s.outs[0],
            Output {
                path: crate::workspace_path::WorkspacePath::new("models/m.bin").unwrap(),
                cache: true,
                persist: false,
                kind: OutKind::Out
            }
        );
        assert_eq!(
            s.outs[1],
            Output {
                path: crate::workspace_path::WorkspacePath::new("cache.db").unwrap(),
                cache: false,
                persist: true,
                kind: OutKind::Out
            }
        );
        assert_eq!(s.outs[2].kind, OutKind::Metric);
        assert!(!s.outs[2].cache);
        assert_eq!(
            s.params,
            [
                ParamDep {
                    file: "src/params.yaml".into(),
                    keys: Some(vec!["train.lr".into()])
                },
                ParamDep {
                    file: "cfg.toml".into(),
                    keys: None
                }
            ]
        );
    }

    #[test]
    fn foreach_and_matrix_expand_like_dvc() {
        let p = load_str(&[
            ("params.yaml", "models: [small, large]\n"),
            (
                "dvc.yaml",
                "stages:\n  train:\n    foreach: ${models}\n    do:\n      cmd: echo ${item}\n      outs:\n        - m/${item}.bin\n  grid:\n    matrix:\n      lr: [0.1, 0.01]\n      opt: [adam]\n    cmd: echo ${item.lr} ${item.opt}\n  per:\n    foreach:\n      a: {n: 1}\n      b: {n: 2}\n    do:\n      cmd: echo ${key} ${item.n}\n",
            ),
        ])
        .unwrap();
        let names: Vec<_> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "grid@0.1-adam",
                "grid@0.01-adam",
                "per@a",
                "per@b",
                "train@small",
                "train@large"
            ]
        );
        assert_eq!(p.stages[1].cmd, ["echo 0.01 adam"]);
        assert_eq!(p.stages[3].cmd, ["echo b 2"]);
        assert_eq!(p.stages[5].outs[0].path, "m/large.bin");
        assert_eq!(p.source.as_deref(), Some("dvc.yaml"));
    }

    #[test]
    fn mlci_yaml_without_stages_takes_stages_from_dvc_yaml() {
        let p = load_str(&[
            ("mlci.yaml", "gates:\n  - metric: acc\n    min: 0.9\n"),
            ("dvc.yaml", "stages:\n  a:\n    cmd: echo a\n"),
        ])
        .unwrap();
        assert_eq!(p.stages.len(), 1);
        assert!(p.gates.is_some());
    }

    #[test]
    fn errors_name_file_line_stage_and_key() {
        let e = load_str(&[("mlci.yaml", "stages:\n  a:\n    cmd: echo\n    dpes: [x]\n")])
            .unwrap_err();
        assert!(e.to_string().starts_with("mlci.yaml:4:"), "{e}");
        assert!(e.to_string().contains("unknown field `dpes`"), "{e}");
        let e = load_str(&[("mlci.yaml", "stages:\n  a:\n    cmd: echo ${missing.key}\n")])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mlci.yaml:3: stage `a`: cannot interpolate `${missing.key}`: `missing` is not defined"
        );
        assert!(e.hint().is_some());
        let e = load_str(&[(
            "mlci.yaml",
            "stages:\n  a:\n    cmd: echo\n    deps: [../../etc/passwd]\n",
        )])
        .unwrap_err();
        assert!(e.to_string().contains("leaves the repository"), "{e}");
        let e = load_str(&[(
            "mlci.yaml",
            "stages:\n  a:\n    frozen: maybe\n    cmd: x\n",
        )])
        .unwrap_err();
        assert!(e.to_string().starts_with("mlci.yaml:3:"), "{e}");
        let e = load_str(&[
            ("params.yaml", "a: [\n"),
            ("mlci.yaml", "stages:\n  a:\n    cmd: x\n"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("params.yaml"), "{e}");
    }

    #[test]
    fn interpolation_escapes_and_indices() {
        let vars = serde_json::json!({"a": {"b": [10, 20]}, "s": "x"});
        assert_eq!(interpolate("${a.b[1]}-${s}", &vars).unwrap(), "20-x");
        assert_eq!(interpolate("\\${s}", &vars).unwrap(), "${s}");
        assert!(interpolate("${a.c}", &vars)
            .unwrap_err()
            .1
            .contains("`a` has no key `c`"));
        assert!(interpolate("${a}", &vars).is_err());
    }
}
