//! `dvc.yaml` files below the root. DVC runs the stages of every
//! `dvc.yaml` in the repository: a stage of `sub/dvc.yaml` is addressed
//! `sub/dvc.yaml:NAME`, and its paths, `wdir`, `vars` files and default
//! `params.yaml` are relative to `sub/`. A directory that is a DVC project
//! of its own (`.dvc/config` in it, `dvc init --subdir`) is skipped, as DVC
//! skips such sub-repositories. Stages in mlci.yaml replace all of this.

use super::*;

/// Adds the stages and top-level metrics of every nested `dvc.yaml` that
/// `src` lists, in path order.
pub(super) fn load_nested(
    src: &dyn Source,
    unpacking: Unpacking,
    pipeline: &mut Pipeline,
) -> Result<(), PipelineError> {
    let files = src
        .nested_pipeline_files()
        .map_err(|e| PipelineError::File {
            file: DVC_YAML.into(),
            line: None,
            message: format!(
                "cannot list the dvc.yaml files below the root: {}",
                e.message
            ),
            hint: e.hint,
        })?;
    for file in files {
        let Some(dir) = file.strip_suffix(&format!("/{DVC_YAML}")) else {
            continue;
        };
        let Some((text, wire)) = read_file(src, &file)? else {
            continue;
        };
        mlci_only_sections(&file, &text, &wire)?;
        let ctx = Loader {
            src,
            file: &file,
            dir,
            text: &text,
            unpacking,
            taken: Default::default(),
        };
        let base_vars = ctx.load_vars(wire.vars.as_deref().unwrap_or(&[]), None, dir)?;
        for (name, stage) in wire.stages.unwrap_or_default() {
            ctx.expand(&name, &stage, &base_vars, pipeline)?;
        }
        for m in wire.metrics.unwrap_or_default() {
            let path = ctx
                .resolve_path(dir, &m)
                .map_err(|message| PipelineError::File {
                    file: file.clone(),
                    line: ctx.line_of(&m),
                    message,
                    hint: Some(PATH_HINT.into()),
                })?;
            pipeline.metrics.push(path);
        }
        let params = ctx.top_level_params(wire.params.as_deref().unwrap_or(&[]))?;
        pipeline.params.extend(params);
        for entry in wire.plots.iter().flatten() {
            let mut def = top_level_plot(entry).map_err(|m| ctx.plots_error(&m))?;
            let was_path = def.sources.iter().any(|src| src.file == def.id);
            for src in def.sources.iter_mut() {
                src.file = ctx
                    .resolve_path(dir, &src.file)
                    .map_err(|message| ctx.plots_error(&message))?;
                if let Some(xf) = &src.x_file {
                    let rebased = ctx
                        .resolve_path(dir, xf)
                        .map_err(|message| ctx.plots_error(&message))?;
                    src.x_file = Some(rebased);
                }
            }
            // A path id is rebased like its file; a named plot keeps DVC's
            // `FILE::NAME` form, so two files' names cannot collide.
            def.id = if was_path {
                ctx.resolve_path(dir, &def.id).unwrap_or(def.id)
            } else {
                format!("{file}::{}", def.id)
            };
            pipeline.plots.push(def);
        }
        if wire.datasets.is_some() {
            pipeline.unused_keys.push(format!("{file}: `datasets`"));
        }
    }
    Ok(())
}
