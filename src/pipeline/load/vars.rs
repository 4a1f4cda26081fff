//! The interpolation context of a pipeline file: its default params file
//! and its `vars` entries (files or inline maps), as DVC builds it.

use super::*;

impl Loader<'_> {
    /// Builds the interpolation context: params.yaml (when present and not
    /// listed), then each `vars` entry in order (files or inline maps).
    /// The vars context: `base` (else `params.yaml` of the root) merged
    /// with `entries`, whose files are read relative to `dir` (the root for
    /// top-level `vars`, the stage's `wdir` for a stage's own, as DVC reads
    /// them).
    pub(super) fn load_vars(
        &self,
        entries: &[VarsEntry],
        base: Option<&Json>,
        dir: &str,
    ) -> Result<Json, PipelineError> {
        let mut ctx = match base {
            Some(b) => b.clone(),
            None => {
                let mut c = Json::Object(Default::default());
                let default = self
                    .resolve_path(self.dir, DEFAULT_PARAMS)
                    .unwrap_or_else(|_| DEFAULT_PARAMS.into());
                if let Some(p) = crate::pipeline::params::load_from(self.src, &default)
                    .map(Some)
                    .or_else(|e| match e {
                        crate::pipeline::params::ParamsError::Missing { .. } => Ok(None),
                        other => Err(params_error(other)),
                    })?
                {
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
                    let vars_hint = || {
                        Some(format!(
                            "`vars` files are read relative to {}: create it there, or fix the path",
                            if dir.is_empty() {
                                "the pipeline file's directory".to_string()
                            } else {
                                format!("the stage's wdir `{dir}`")
                            }
                        ))
                    };
                    let resolved =
                        self.resolve_path(dir, file)
                            .map_err(|m| PipelineError::File {
                                file: self.file.into(),
                                line: self.line_of(spec),
                                message: format!("vars: {m}"),
                                hint: Some(PATH_HINT.into()),
                            })?;
                    let tree =
                        crate::pipeline::params::load_from(self.src, &resolved).map_err(|e| {
                            let hint = match &e {
                                crate::pipeline::params::ParamsError::Missing { .. } => vars_hint(),
                                _ => e.hint(),
                            };
                            PipelineError::File {
                                file: self.file.into(),
                                line: self.line_of(spec),
                                message: format!("vars: {e}"),
                                hint,
                            }
                        })?;
                    match keys {
                        None => merge(&mut ctx, tree),
                        Some(keys) => {
                            for key in keys.split(',') {
                                let v = crate::pipeline::params::lookup(&tree, key.trim())
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
}
