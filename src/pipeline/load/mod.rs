//! Loading the pipeline definition: `mlci.yaml`, or the stages of an
//! existing `dvc.yaml` (same schema on purpose, so DVC pipelines run
//! unchanged).
//!
//! Parsing goes wire type (`wire.rs`) -> `foreach`/`matrix` expansion
//! and `${...}` interpolation ([`super::interpolate`]) -> validated
//! [`Stage`]s with checked workspace paths. Keys that dvc.yaml accepts but
//! mlci does not act on yet are kept and reported once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::definition::*;
use super::interpolate::{interpolate, merge, resolve, Unpacking, Why};
use super::source::{GitTree, Source, WorkTree};
use super::wire::*;
use crate::error::Hint;
use crate::workspace_path::WorkspacePath;
use crate::yaml;

mod nested;
mod vars;

/// Loads the pipeline of the repository at `root`: stages from mlci.yaml,
/// or from dvc.yaml when mlci.yaml has no `stages:`. No file at all is an
/// empty pipeline.
pub fn load(root: &Path) -> Result<Pipeline, PipelineError> {
    load_from(&WorkTree(root), super::parsing::unpacking(root)?)
}

/// The pipeline as it is in commit `id` of the repository at `root` (its
/// own pipeline, params and vars files). Commands there are interpolated
/// with DVC's default unpacking: what is read at a revision is which files
/// are metrics, params and plots, never a command to run.
pub fn load_at(root: &Path, id: git2::Oid) -> Result<Pipeline, PipelineError> {
    let tree = GitTree::open(root, id).map_err(|e| PipelineError::File {
        file: format!("{id}"),
        line: None,
        message: e,
        hint: None,
    })?;
    load_from(&tree, Unpacking::default())
}

/// Loads the pipeline whose files `src` reads.
pub fn load_from(src: &dyn Source, unpacking: Unpacking) -> Result<Pipeline, PipelineError> {
    let mlci = read_file(src, MLCI_YAML)?;
    let mut pipeline = Pipeline::default();
    let mut stages_from = None;
    if let Some((text, wire)) = &mlci {
        pipeline.gates = wire.gates.clone();
        pipeline.report = wire.report.clone();
        pipeline.drift = wire.drift.clone();
        pipeline.monitor = wire.monitor.clone();
        if wire.stages.is_some() {
            stages_from = Some((MLCI_YAML, text.clone(), wire.clone()));
        }
    }
    if stages_from.is_none() {
        if let Some((text, wire)) = read_file(src, DVC_YAML)? {
            mlci_only_sections(DVC_YAML, &text, &wire)?;
            stages_from = Some((DVC_YAML, text, wire));
        } else if let Some((text, wire)) = &mlci {
            stages_from = Some((MLCI_YAML, text.clone(), wire.clone()));
        }
    }
    // `dvc.yaml` files below the root are DVC's too (it runs them all);
    // stages in mlci.yaml replace every dvc.yaml.
    let with_nested = mlci.as_ref().is_none_or(|(_, w)| w.stages.is_none());
    let Some((file, text, wire)) = stages_from else {
        if with_nested {
            nested::load_nested(src, unpacking, &mut pipeline)?;
        }
        return Ok(pipeline);
    };
    pipeline.source = Some(file.to_string());
    // `artifacts:` is the registry's (`registry::declare`), read there.
    for (key, present) in [("datasets", wire.datasets.is_some())] {
        if present {
            pipeline.unused_keys.push(format!("{file}: `{key}`"));
        }
    }
    let ctx = Loader {
        src,
        file,
        dir: "",
        text: &text,
        unpacking,
        taken: Default::default(),
    };
    let base_vars = ctx.load_vars(wire.vars.as_deref().unwrap_or(&[]), None, "")?;
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
    pipeline
        .params
        .extend(ctx.top_level_params(wire.params.as_deref().unwrap_or(&[]))?);
    for entry in wire.plots.iter().flatten() {
        let def = top_level_plot(entry).map_err(|m| ctx.plots_error(&m))?;
        pipeline.plots.push(def);
    }
    if with_nested {
        nested::load_nested(src, unpacking, &mut pipeline)?;
    }
    if file == DVC_YAML {
        if let Some((mtext, mwire)) = &mlci {
            extras::mlci_extras(src, ctx.unpacking, (mtext, mwire), &mut pipeline)?;
        }
    }
    pipeline.unused_keys.sort();
    pipeline.unused_keys.dedup();
    Ok(pipeline)
}

/// A `dvc.yaml` (`file`) holding sections only mlci.yaml may hold is an
/// error naming the first one's line.
fn mlci_only_sections(file: &str, text: &str, wire: &FileWire) -> Result<(), PipelineError> {
    let present = [
        ("gates", wire.gates.is_some()),
        ("report", wire.report.is_some()),
        ("promotion", wire.promotion.is_some()),
        ("drift", wire.drift.is_some()),
        ("monitor", wire.monitor.is_some()),
    ];
    let Some((key, _)) = present.iter().find(|(_, set)| *set) else {
        return Ok(());
    };
    Err(PipelineError::File {
        file: file.into(),
        line: yaml::line_of_key(text, key, None),
        message:
            "`gates:`, `report:`, `promotion:`, `drift:` and `monitor:` belong in mlci.yaml, not dvc.yaml"
                .into(),
        hint: Some("move them to mlci.yaml at the root; DVC itself would reject them here".into()),
    })
}

fn read_file(src: &dyn Source, name: &str) -> Result<Option<(String, FileWire)>, PipelineError> {
    // A pipeline file that is a link out of the workspace is not read.
    let text = match src.read(name) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(PipelineError::File {
                file: name.into(),
                line: None,
                message: e.message,
                hint: e.hint,
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
    src: &'a dyn Source,
    /// The pipeline file, relative to the root (`sub/dvc.yaml`).
    file: &'a str,
    /// Its directory (`""` at the root): its paths, `wdir` and default
    /// params file are relative to it, as DVC reads them.
    dir: &'a str,
    text: &'a str,
    /// How a mapping in `cmd` unpacks into flags.
    unpacking: Unpacking,
    /// The names of the pipeline's first `.0` stages, for the duplicate
    /// check: stages are only appended, so it catches up incrementally and
    /// each name is hashed once (a scan per stage was quadratic).
    taken: std::cell::RefCell<(usize, std::collections::HashSet<String>)>,
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

    /// A top-level `plots:` entry refused, with what a plot may name.
    fn plots_error(&self, message: &str) -> PipelineError {
        PipelineError::File {
            file: self.file.into(),
            line: self.line_of("plots"),
            message: format!("`plots`: {message}"),
            hint: Some("a plot names files inside the repository, relative to the pipeline file's directory (`eval/roc.csv`), or an id mapping such files to fields".into()),
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

    /// A pipeline file's top-level `params:` (files, relative to its
    /// directory; a `{file: keys}` entry names its file).
    fn top_level_params(&self, specs: &[ParamSpec]) -> Result<Vec<String>, PipelineError> {
        let mut files = Vec::new();
        for spec in specs {
            let names: Vec<&String> = match spec {
                ParamSpec::Key(f) => vec![f],
                ParamSpec::Files(map) => map.keys().collect(),
            };
            for f in names {
                let path =
                    self.resolve_path(self.dir, f)
                        .map_err(|message| PipelineError::File {
                            file: self.file.into(),
                            line: self.line_of(f),
                            message: format!("`params`: {message}"),
                            hint: Some(PATH_HINT.into()),
                        })?;
                files.push(path);
            }
        }
        Ok(files)
    }

    /// A stage's name as the pipeline knows it: as written at the root,
    /// `sub/dvc.yaml:NAME` below it (DVC's address of such a stage).
    fn qualify(&self, name: &str) -> String {
        if self.dir.is_empty() {
            name.to_string()
        } else {
            format!("{}:{name}", self.file)
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

    /// Interpolates and validates one concrete stage.
    fn build(
        &self,
        name: &str,
        wire: &StageWire,
        vars: &Json,
        out: &mut Pipeline,
    ) -> Result<(), PipelineError> {
        // `wdir` is interpolated with the outer context: the stage's own
        // `vars` files are read relative to it.
        let wdir_raw = match &wire.wdir {
            Some(w) => self.interpolate(name, w, vars)?,
            None => String::new(),
        };
        let wdir = self.resolve_path(self.dir, &wdir_raw).map_err(|m| {
            self.stage_error(name, "wdir", format!("`wdir`: {m}"), Some(PATH_HINT.into()))
        })?;
        let vars = match &wire.vars {
            Some(v) => &self.load_vars(v, Some(vars), &wdir)?,
            None => vars,
        };
        let s = |text: &str| self.interpolate(name, text, vars);
        let c = |text: &str| self.interpolate_as(name, text, vars, Some(self.unpacking));
        let cmd = match &wire.cmd {
            Some(OneOrMany::One(one)) => vec![c(one)?],
            Some(OneOrMany::Many(cs)) => cs.iter().map(|one| c(one)).collect::<Result<_, _>>()?,
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
                    push: flags.push.unwrap_or(true),
                    kind,
                });
                if flags.remote.is_some()
                    || flags.kind.is_some()
                    || flags.labels.is_some()
                    || flags.meta.is_some()
                    || flags.desc.is_some()
                {
                    out.unused_keys.push(format!(
                        "{}: out flags `remote`, `type`, `labels`, `meta`, `desc`",
                        self.file
                    ));
                }
            }
        }
        self.stage_plots(name, wire, (&path, &s), &mut outs, out)?;
        let params = self.stage_params(&wdir, wire, &s, &path)?;
        if wire.meta.is_some() {
            out.unused_keys.push(format!("{}: stage `meta`", self.file));
        }
        let name = &self.qualify(name);
        let duplicate = {
            let mut taken = self.taken.borrow_mut();
            let (seen, names) = &mut *taken;
            names.extend(out.stages[*seen..].iter().map(|st| st.name.clone()));
            *seen = out.stages.len();
            names.contains(name.as_str())
        };
        if duplicate {
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

    /// A stage's `plots:` entries: each is a plot definition and an out.
    /// `(path, text)`: how a path and a text field (the title, the axis
    /// labels, with `${item}` in a `foreach`) are interpolated.
    #[allow(clippy::type_complexity)]
    fn stage_plots(
        &self,
        name: &str,
        wire: &StageWire,
        (path, text): (
            &dyn Fn(&str) -> Result<String, PipelineError>,
            &dyn Fn(&str) -> Result<String, PipelineError>,
        ),
        outs: &mut Vec<Output>,
        out: &mut Pipeline,
    ) -> Result<(), PipelineError> {
        let text_of = |t: &Option<String>| t.as_deref().map(text).transpose();
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
                title: text_of(&flags.title)?,
                x_label: text_of(&flags.x_label)?,
                y_label: text_of(&flags.y_label)?,
                template: flags.template.clone(),
                sources: vec![PlotSource {
                    file: file.clone(),
                    x: flags
                        .x
                        .as_ref()
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    y: fields(flags.y.as_ref()),
                    x_file: None,
                }],
            });
            outs.push(Output {
                path: checked(file),
                cache: flags.cache.unwrap_or(true),
                persist: flags.persist.unwrap_or(false),
                push: flags.push.unwrap_or(true),
                kind: OutKind::Plot,
            });
        }
        Ok(())
    }

    /// A stage's `params:` entries: keys of the stage's default params file,
    /// or `{file: [keys]}` (all keys when none are listed). `s` interpolates
    /// a value, `path` resolves a path relative to `wdir`.
    fn stage_params(
        &self,
        wdir: &str,
        wire: &StageWire,
        s: &dyn Fn(&str) -> Result<String, PipelineError>,
        path: &dyn Fn(&str) -> Result<String, PipelineError>,
    ) -> Result<Vec<ParamDep>, PipelineError> {
        let mut params = Vec::new();
        for spec in wire.params.iter().flatten() {
            match spec {
                ParamSpec::Key(k) => {
                    let k = s(k)?;
                    push_param(
                        &mut params,
                        self.resolve_path(wdir, DEFAULT_PARAMS)
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
        Ok(params)
    }

    fn interpolate(&self, stage: &str, text: &str, vars: &Json) -> Result<String, PipelineError> {
        self.interpolate_as(stage, text, vars, None)
    }

    /// `cmd`: a stage command, where a mapping unpacks into flags.
    fn interpolate_as(
        &self,
        stage: &str,
        text: &str,
        vars: &Json,
        cmd: Option<Unpacking>,
    ) -> Result<String, PipelineError> {
        interpolate(text, vars, cmd).map_err(|(expr, why)| {
            self.stage_error(
                stage,
                &format!("${{{expr}}}"),
                format!("cannot interpolate `${{{expr}}}`: {why}"),
                Some(interpolation_hint(&why)),
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
                    self.stage_error(
                        stage,
                        t,
                        format!("cannot interpolate `{t}`: {why}"),
                        Some(interpolation_hint(&why)),
                    )
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
fn params_error(e: crate::pipeline::params::ParamsError) -> PipelineError {
    let hint = e.hint();
    match e {
        crate::pipeline::params::ParamsError::Parse {
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

/// Where the pipeline file for error messages lives.
pub fn source_path(root: &Path, p: &Pipeline) -> Option<PathBuf> {
    p.source.as_ref().map(|s| root.join(s))
}

mod expand;
mod extras;
#[cfg(test)]
mod tests;

/// A hint that fits why an interpolation failed: spelling only when a key
/// is missing.
fn interpolation_hint(why: &Why) -> String {
    match why {
        Why::Undefined(_) => "values come from params.yaml and the `vars:` files and maps; check the key's spelling".into(),
        Why::NotScalar(_) => "name one value inside it (`${opts.lr}`, `${tags[0]}`); only `cmd` unpacks a whole mapping".into(),
        Why::Syntax(_) => "write `${key.sub}` or `${list[0]}`; interpolation does not nest, and `\\${` writes a literal `${`".into(),
    }
}
