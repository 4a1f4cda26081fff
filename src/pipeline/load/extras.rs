//! mlci.yaml's own top-level `metrics:`, `params:` and `plots:` when the
//! stages come from dvc.yaml (an mlci.yaml that holds settings only).

use super::*;

/// With stages from dvc.yaml, mlci.yaml's own top-level metrics and plots
/// (an mlci.yaml of settings only) count too.
pub(super) fn mlci_extras(
    src: &dyn Source,
    unpacking: Unpacking,
    (text, wire): (&str, &FileWire),
    pipeline: &mut Pipeline,
) -> Result<(), PipelineError> {
    let ctx = Loader {
        src,
        file: MLCI_YAML,
        dir: "",
        text,
        unpacking,
        taken: Default::default(),
    };
    for m in wire.metrics.iter().flatten() {
        let path = ctx
            .resolve_path("", m)
            .map_err(|message| PipelineError::File {
                file: MLCI_YAML.into(),
                line: ctx.line_of(m),
                message,
                hint: Some(PATH_HINT.into()),
            })?;
        if !pipeline.metrics.contains(&path) {
            pipeline.metrics.push(path);
        }
    }
    for f in ctx.top_level_params(wire.params.as_deref().unwrap_or(&[]))? {
        if !pipeline.params.contains(&f) {
            pipeline.params.push(f);
        }
    }
    for entry in wire.plots.iter().flatten() {
        let def = top_level_plot(entry).map_err(|m| ctx.plots_error(&m))?;
        pipeline.plots.push(def);
    }
    Ok(())
}
