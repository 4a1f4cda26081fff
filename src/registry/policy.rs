//! The promotion policy: which stages a version may enter, in which order,
//! and the metric rules it must pass to enter each one.
//!
//! Written in `mlci.yaml` (names are mlci's own):
//!
//! ```yaml
//! promotion:
//!   stages: [dev, staging, prod]   # optional: the allowed stages, in order
//!   rules:
//!     prod:
//!       - metric: auc              # file:key or a bare key, as in gates
//!         min: 0.85                # absolute threshold
//!       - metric: auc
//!         max_decrease: 0.01       # vs the version now in prod (the champion)
//! ```
//!
//! With `stages`, a version must have been assigned the previous stage
//! before it may enter the next one. Relative rules (`max_increase`,
//! `max_decrease` and their `_pct` forms) compare the challenger with the
//! champion, so the direction of a metric is the rule's: a score that must
//! not fall takes `max_decrease`, a latency that must not rise
//! `max_increase`. Into an empty stage the relative rules pass ("no
//! champion"). The policy is read from the default branch's tip, never from
//! the version's own commit, which could carry laxer rules.

use indexmap::IndexMap;
use serde::Deserialize;

use super::RegistryError;
use crate::pipeline::source::Source;
use crate::review::gate::{self, Gate};

/// The promotion policy (empty when `mlci.yaml` has none).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Where it was read: `mlci.yaml at origin/main (1a2b3c4d)`.
    pub origin: String,
    /// The allowed stages in order; None allows any stage.
    pub stages: Option<Vec<String>>,
    pub rules: IndexMap<String, Vec<Gate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyWire {
    stages: Option<Vec<String>>,
    rules: Option<IndexMap<String, crate::yaml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct FileWire {
    promotion: Option<PolicyWire>,
}

impl Policy {
    /// Reads the `promotion:` section of `mlci.yaml` in `src`.
    /// The policy in mlci.yaml at the tip of the default branch
    /// (`branch`, else the git remote's HEAD, else main or master): the
    /// policy a merged change is judged by, whatever a pull request's
    /// branch says.
    pub fn at_default_branch_tip(
        root: &std::path::Path,
        git_remote: &str,
        branch: Option<&str>,
    ) -> Result<Policy, RegistryError> {
        let (label, id) = crate::git::default_branch_tip(root, git_remote, branch)
            .map_err(RegistryError::git)?
            .ok_or(RegistryError::NoDefaultBranch)?;
        let tree = crate::pipeline::source::GitTree::open(root, id).map_err(RegistryError::Git)?;
        let origin = format!("mlci.yaml at {label} ({})", &id.to_string()[..8]);
        Policy::read(&tree, origin)
    }

    pub fn read(src: &dyn Source, origin: String) -> Result<Policy, RegistryError> {
        let bad = |line: Option<usize>, message: String| RegistryError::Policy {
            origin: origin.clone(),
            line,
            message,
        };
        let text = match src.read("mlci.yaml") {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Ok(Policy {
                    origin,
                    ..Policy::default()
                })
            }
            Err(e) => return Err(bad(None, e.message)),
        };
        let wire: FileWire = if text.trim().is_empty() {
            FileWire::default()
        } else {
            crate::yaml::parse(&text, std::path::Path::new("mlci.yaml"))
                .map_err(|e| bad(e.line, e.message))?
        };
        let Some(p) = wire.promotion else {
            return Ok(Policy {
                origin,
                ..Policy::default()
            });
        };
        for s in p.stages.iter().flatten() {
            if !super::tag::is_stage_name(s) {
                return Err(bad(
                    crate::yaml::line_of_key(&text, "stages", None),
                    format!("`promotion.stages`: `{s}` is not a stage name"),
                ));
            }
        }
        let mut rules = IndexMap::new();
        for (stage, value) in p.rules.unwrap_or_default() {
            if let Some(stages) = &p.stages {
                if !stages.contains(&stage) {
                    return Err(bad(
                        crate::yaml::line_of_key(&text, &stage, None),
                        format!("`promotion.rules.{stage}`: `{stage}` is not in `promotion.stages` ({})", stages.join(", ")),
                    ));
                }
            }
            let gates = gate::parse(&value).map_err(|e| {
                bad(
                    crate::yaml::line_of_key(&text, &stage, None),
                    format!("`promotion.rules.{stage}`: {e}"),
                )
            })?;
            rules.insert(stage, gates);
        }
        Ok(Policy {
            origin,
            stages: p.stages,
            rules,
        })
    }

    /// The stage a version must have been in before `stage`, if any.
    pub fn previous(&self, stage: &str) -> Option<&str> {
        let stages = self.stages.as_ref()?;
        let i = stages.iter().position(|s| s == stage)?;
        i.checked_sub(1).map(|p| stages[p].as_str())
    }

    /// The first of the policy's stages, if it lists them.
    pub fn first_stage(&self) -> Option<String> {
        self.stages.as_ref()?.first().cloned()
    }

    /// Whether the policy allows `stage` at all.
    pub fn allows(&self, stage: &str) -> bool {
        self.stages
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == stage))
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_none() && self.rules.is_empty()
    }

    /// One line naming the policy a promotion is judged by: where it was
    /// read, its stages and which stages have rules; or that there is
    /// none, so any stage is allowed.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return format!(
                "no promotion policy in {}: any stage is allowed, with no rules",
                self.origin
            );
        }
        let stages = match &self.stages {
            Some(s) => format!("stages {} (each after the one before)", s.join(" → ")),
            None => "any stage".into(),
        };
        let rules = if self.rules.is_empty() {
            "no rules".to_string()
        } else {
            let each: Vec<String> = self
                .rules
                .iter()
                .map(|(stage, gates)| {
                    format!(
                        "`{stage}` ({} rule{})",
                        gates.len(),
                        if gates.len() == 1 { "" } else { "s" }
                    )
                })
                .collect();
            format!("rules for {}", each.join(", "))
        };
        format!("promotion policy from {}: {stages}; {rules}", self.origin)
    }

    /// The policy's stages and rules alone, in a few words.
    pub fn describe_short(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let d = self.describe();
        d.split_once(": ")
            .map_or(d.clone(), |(_, rest)| rest.to_string())
    }

    /// Whether `other` allows and requires the same (origins aside).
    pub fn same_rules(&self, other: &Policy) -> bool {
        format!("{:?}", (&self.stages, &self.rules))
            == format!("{:?}", (&other.stages, &other.rules))
    }
}

/// The `.gto` file's `stages:` and `types:` lists (None: any).
#[derive(Debug, Clone, Default)]
pub struct GtoConfig {
    pub stages: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct GtoWire {
    stages: Option<Vec<String>>,
    types: Option<Vec<String>>,
}

impl GtoConfig {
    /// Reads `.gto` from `src` (other keys, GTO's own, are left alone).
    pub fn read(src: &dyn Source) -> Result<GtoConfig, RegistryError> {
        let text = match src.read(".gto") {
            Ok(Some(t)) if !t.trim().is_empty() => t,
            Ok(_) => return Ok(GtoConfig::default()),
            Err(e) => {
                return Err(RegistryError::Declaration {
                    file: ".gto".into(),
                    line: None,
                    message: e.message,
                })
            }
        };
        let w: GtoWire = crate::yaml::parse(&text, std::path::Path::new(".gto")).map_err(|e| {
            RegistryError::Declaration {
                file: ".gto".into(),
                line: e.line,
                message: e.message,
            }
        })?;
        Ok(GtoConfig {
            stages: w.stages,
            types: w.types,
        })
    }
}
