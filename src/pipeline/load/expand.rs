//! `foreach` and `matrix`: one stage definition expanded into several, named
//! as DVC names them (`dvc/parsing/__init__.py`): a foreach over scalars by
//! value, over lists or mappings by index or key; a matrix by its axes in
//! declaration order, a scalar by value and a list or mapping by axis and
//! index (`sweep@3.9-linux-lst0`).

use serde_json::Value as Json;

use super::super::definition::*;
use super::super::interpolate::{merge, to_str};
use super::super::wire::*;
use super::Loader;
use crate::limits::Limit;
use crate::yaml;

/// How many stages a matrix's axes make, saturating: the product is taken
/// first, so 1,000^3 is refused in microseconds, not after 10^9
/// combinations were built.
fn combinations(axes: &[(String, Vec<Json>)]) -> usize {
    axes.iter()
        .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()))
        .unwrap_or(usize::MAX)
}

impl Loader<'_> {
    /// Refuses an expansion of `n` stages that would take the pipeline past
    /// the ceiling, before any of them is built.
    fn check_expansion(
        &self,
        name: &str,
        key: &str,
        n: usize,
        out: &Pipeline,
    ) -> Result<(), PipelineError> {
        // The bound and its setting: `limits::Limit::Stages`.
        let limit = Limit::Stages.value() as usize;
        let total = out.stages.len().saturating_add(n);
        if total <= limit {
            return Ok(());
        }
        let shown = if n == usize::MAX {
            "more than 10^19".to_string()
        } else {
            n.to_string()
        };
        Err(self.stage_error(
            name,
            key,
            format!(
                "`{key}` expands to {shown} stages, which takes the pipeline past its limit of {limit} stages"
            ),
            Some(format!(
                "split the sweep into smaller ones; a pipeline that really needs more stages can raise the limit with {}=N",
                Limit::Stages.setting()
            )),
        ))
    }

    /// Expands `foreach`/`matrix` and adds the resulting stages.
    pub(super) fn expand(
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
            let n = match &items {
                Json::Array(list) => list.len(),
                Json::Object(map) => map.len(),
                _ => 0,
            };
            self.check_expansion(name, "foreach", n, out)?;
            match items {
                Json::Array(list) => {
                    let scalar = list.iter().all(|v| !v.is_object() && !v.is_array());
                    for (i, item) in list.into_iter().enumerate() {
                        let suffix = if scalar { to_str(&item) } else { i.to_string() };
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
            self.check_expansion(name, "matrix", combinations(&axes), out)?;
            let mut combos: Vec<Vec<(String, usize, Json)>> = vec![Vec::new()];
            for (key, values) in &axes {
                let mut next = Vec::new();
                for combo in &combos {
                    for (i, v) in values.iter().enumerate() {
                        let mut c = combo.clone();
                        c.push((key.clone(), i, v.clone()));
                        next.push(c);
                    }
                }
                combos = next;
            }
            let mut body = wire.clone();
            body.matrix = None;
            for combo in combos {
                // DVC's names: axes in declaration order, a scalar by its
                // value, a list or mapping by its axis and index.
                let suffix: Vec<String> = combo
                    .iter()
                    .map(|(k, i, v)| {
                        if v.is_object() || v.is_array() {
                            format!("{k}{i}")
                        } else {
                            to_str(v)
                        }
                    })
                    .collect();
                let item: serde_json::Map<String, Json> =
                    combo.into_iter().map(|(k, _, v)| (k, v)).collect();
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
}
