//! The model registry, in git tags (GTO's format, so GTO and mlci read
//! and write one registry): artifacts declared in `dvc.yaml`/`mlci.yaml`,
//! versions registered by tags, stages assigned by tags, and the
//! promotion policy that gates an assignment.
//!
//! - `tag.rs`: the tag grammar; `tags.rs`: reading and writing tags;
//! - `state.rs`: what the tags mean (GTO's semantics);
//! - `lineage.rs`: what a version was made from (and its provenance);
//! - `declare.rs`: `artifacts:` sections; `policy.rs`: `promotion:` and
//!   `.gto`; `promote.rs`: checking a promotion against the policy.
//!
//! No server: everything is in the repository, and `git push` shares it.

pub mod declare;
pub mod lineage;
pub mod policy;
pub mod promote;
pub mod state;
pub mod tag;
pub mod tags;

use std::path::Path;

use crate::error::Hint;

pub use state::{Artifact, Event, Registry, Version};
pub use tag::Action;

/// Why a registry operation could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("reading the registry tags: {0}")]
    Git(String),
    #[error("{what}: {message}")]
    GitCli { what: String, message: String },
    #[error("tag `{0}` exists already")]
    TagExists(String),
    #[error("`{name}` is not a valid artifact name: {why}")]
    BadName { name: String, why: String },
    #[error("`{0}` is not a valid stage name")]
    BadStage(String),
    #[error("`{0}` is not a SemVer version (`vX.Y.Z`)")]
    BadVersion(String),
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Declaration {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{origin}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Policy {
        origin: String,
        line: Option<usize>,
        message: String,
    },
    #[error("artifact `{name}` is not declared at {rev}")]
    Undeclared { name: String, rev: String },
    #[error("artifact `{name}` declares path `{path}`, which does not exist at {rev}")]
    PathMissing {
        name: String,
        path: String,
        rev: String,
    },
    #[error("artifact `{0}` has no registry tags")]
    UnknownArtifact(String),
    #[error("artifact `{name}` has no active version `{version}`")]
    UnknownVersion { name: String, version: String },
    #[error("artifact `{name}` has no version in stage `{stage}`")]
    EmptyStage { name: String, stage: String },
    #[error("stage `{stage}` is not allowed by {by} (allowed: {})", allowed.join(", "))]
    UnknownStage {
        stage: String,
        by: String,
        allowed: Vec<String>,
    },
    #[error("type `{kind}` of artifact `{name}` is not among .gto's types ({})", allowed.join(", "))]
    UnknownType {
        name: String,
        kind: String,
        allowed: Vec<String>,
    },
    #[error("the promotion stages ({}) are not all among .gto's stages ({})", ours.join(", "), gto.join(", "))]
    StagesDisagree { ours: Vec<String>, gto: Vec<String> },
    #[error("{message}")]
    Refused { message: String, hint: String },
    #[error("revision `{rev}`: {message}")]
    BadRev { rev: String, message: String },
    #[error("artifact `{name}` has versions {} on one commit ({}): multiple versions are not allowed on the same Git commit (GTO refuses this registry)", versions.join(" and "), &commit[..8.min(commit.len())])]
    ManyVersions {
        name: String,
        versions: Vec<String>,
        commit: String,
    },
    #[error("no default branch found to read the promotion policy from")]
    NoDefaultBranch,
}

impl RegistryError {
    pub(crate) fn git(e: git2::Error) -> RegistryError {
        RegistryError::Git(e.message().to_string())
    }
}

impl Hint for RegistryError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::TagExists(_) => "a registry tag is never moved: register a new version, or assign the stage again (a new tag)".into(),
            RegistryError::BadName { .. } => "artifact names are lower-case letters, digits, `-` and `/`, starting with a letter (DVC's rule); `dir:name` for one declared in dir/dvc.yaml".into(),
            RegistryError::BadStage(_) => "stage names are letters, digits, `-`, `_` and `/`, starting and ending with a letter or digit".into(),
            RegistryError::BadVersion(_) => "write a full SemVer version with a leading `v`: v1.2.3, v2.0.0-rc.1".into(),
            RegistryError::Declaration { .. } => "artifacts are declared as `artifacts: {NAME: {path: PATH, type: model}}` in dvc.yaml or mlci.yaml".into(),
            RegistryError::Policy { .. } => "`promotion:` takes `stages: [..]` and `rules: {STAGE: [gate rules]}` (see docs/registry.md)".into(),
            RegistryError::Undeclared { name, .. } => format!("declare it under `artifacts:` in dvc.yaml or mlci.yaml (`{name}: {{path: model.pkl}}`) and commit that"),
            RegistryError::PathMissing { .. } => "commit the artifact (its pointer file, or its stage's mlci.lock entry) before registering it".into(),
            RegistryError::UnknownArtifact(_) => "`mlci model list` shows the registered artifacts".into(),
            RegistryError::UnknownVersion { name, .. } => format!("`mlci model show {name}` lists its versions"),
            RegistryError::EmptyStage { name, .. } => format!("`mlci model show {name}` shows which stages hold a version"),
            RegistryError::UnknownStage { .. } => "add the stage to .gto's `stages:` (and `promotion.stages` in mlci.yaml), or pick an allowed one".into(),
            RegistryError::UnknownType { .. } => "add the type to .gto's `types:`, or change the artifact's `type`".into(),
            RegistryError::StagesDisagree { .. } => "every stage in `promotion.stages` must also be in .gto's `stages:`".into(),
            RegistryError::BadRev { .. } => "name a commit, branch or tag that exists (shallow CI checkouts need `fetch-depth: 0`)".into(),
            RegistryError::NoDefaultBranch => "fetch the default branch (`git fetch origin main`), or name it with `--default-branch`".into(),
            RegistryError::Refused { hint, .. } => hint.clone(),
            RegistryError::ManyVersions { name, versions, .. } => format!(
                "keep one: delete the other version's tags (`git tag -d {}@{}`, and `git push --delete origin` it), then register a new commit for it",
                name.replace(':', "="),
                versions.last().map(String::as_str).unwrap_or("VERSION")
            ),
            RegistryError::Git(_) | RegistryError::GitCli { .. } => return None,
        })
    }
}

crate::register_hint!(RegistryError);

/// Reads every registry tag of the repository at `root` into its state.
pub fn open(root: &Path) -> Result<Registry, RegistryError> {
    Ok(Registry::build(tags::read_events(root, None)?))
}

/// The registry state of artifact `name` alone (its own tags hold all of
/// its state, counters included).
pub fn open_artifact(root: &Path, name: &str) -> Result<Registry, RegistryError> {
    Ok(Registry::build(tags::read_events(root, Some(name))?))
}

/// A commit the registry still names: an active version (registered, or
/// assigned a stage, and not deregistered), with the stages it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// `churn@v1.2.0`, or `churn@<commit>` for a stage-only version.
    pub label: String,
    /// The stages the version is in now (`prod`, …), possibly none.
    pub stages: Vec<String>,
    /// The commit (40 hex).
    pub commit: String,
}

/// Every commit the registry at `root` still names, so that no clean-up
/// ever collects what a version in `prod` needs (a deprecated artifact's
/// versions included: deprecation hides, it does not delete). In tag order
/// of artifact name, then version.
///
/// # Errors
/// The tags cannot be read.
pub fn protected_commits(root: &Path) -> Result<Vec<Protected>, RegistryError> {
    let reg = open(root)?;
    let mut out = Vec::new();
    for art in reg.artifacts.values() {
        let stages = art.stages(&reg.events);
        for v in art.active_versions(&reg.events, false) {
            out.push(Protected {
                label: format!("{}@{}", art.name, v.version),
                stages: stages
                    .iter()
                    .filter(|(_, held)| held.commit == v.commit && held.version == v.version)
                    .map(|(s, _)| s.clone())
                    .collect(),
                commit: v.commit.clone(),
            });
        }
    }
    Ok(out)
}

/// `seconds` since the epoch as RFC 3339 at UTC offset `offset_minutes`
/// (`2026-11-30T04:05:06+01:00`).
pub fn rfc3339(seconds: i64, offset_minutes: i32) -> String {
    let offset =
        jiff::tz::Offset::from_seconds(offset_minutes * 60).unwrap_or(jiff::tz::Offset::UTC);
    match jiff::Timestamp::from_second(seconds) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::fixed(offset))
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// What a shortcut names: `name`, `name@vX.Y.Z`, `name@latest`,
/// `name#stage` (GTO's shortcut grammar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(String),
    Stage(String),
}

/// Whether `spec` names a registry version rather than a git revision:
/// `NAME#STAGE` or `NAME@vX.Y.Z` (GTO's shortcuts).
pub fn is_shortcut(spec: &str) -> bool {
    spec.contains('#')
        || spec
            .split_once("@v")
            .is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
}

/// The commit (40 hex) a registry shortcut (`NAME#STAGE`, `NAME@vX.Y.Z`)
/// points at: what `monitor --reference` and `drift PATH@SHORTCUT` read.
pub fn commit_of(root: &Path, spec: &str) -> Result<String, RegistryError> {
    let (name, sel) = parse_shortcut(spec)?;
    let reg = open_artifact(root, &name)?;
    Ok(reg.select(&name, &sel)?.commit.clone())
}

/// Splits `NAME[@VERSION|@latest|#STAGE]`.
pub fn parse_shortcut(spec: &str) -> Result<(String, Selector), RegistryError> {
    let (name, sel) = if let Some((n, s)) = spec.split_once('#') {
        if !tag::is_stage_name(s) {
            return Err(RegistryError::BadStage(s.into()));
        }
        (n, Selector::Stage(s.into()))
    } else if let Some((n, v)) = spec.rsplit_once('@') {
        if v == "latest" || v == "greatest" {
            (n, Selector::Latest)
        } else {
            if tag::semver(v).is_none() {
                return Err(RegistryError::BadVersion(v.into()));
            }
            (n, Selector::Version(v.into()))
        }
    } else {
        (spec, Selector::Latest)
    };
    if !tag::is_readable_name(name) {
        return Err(RegistryError::BadName {
            name: name.into(),
            why: "not a name GTO or DVC would write".into(),
        });
    }
    Ok((name.to_string(), sel))
}

impl Registry {
    /// The artifact `name`, or the error naming it.
    pub fn require(&self, name: &str) -> Result<&Artifact, RegistryError> {
        let a = self
            .artifact(name)
            .ok_or_else(|| RegistryError::UnknownArtifact(name.into()))?;
        a.readable()?;
        Ok(a)
    }

    /// Refuses a registry GTO refuses to read (see [`Artifact::readable`]).
    pub fn readable(&self) -> Result<(), RegistryError> {
        self.artifacts.values().try_for_each(Artifact::readable)
    }

    /// The version a selector names.
    pub fn select(&self, name: &str, sel: &Selector) -> Result<&Version, RegistryError> {
        let a = self.require(name)?;
        match sel {
            Selector::Latest => {
                a.latest(&self.events)
                    .ok_or_else(|| RegistryError::UnknownVersion {
                        name: name.into(),
                        version: "latest".into(),
                    })
            }
            Selector::Version(v) => a
                .active_versions(&self.events, true)
                .into_iter()
                .find(|x| &x.version == v)
                .ok_or_else(|| RegistryError::UnknownVersion {
                    name: name.into(),
                    version: v.clone(),
                }),
            Selector::Stage(s) => {
                a.stages(&self.events)
                    .remove(s.as_str())
                    .ok_or_else(|| RegistryError::EmptyStage {
                        name: name.into(),
                        stage: s.clone(),
                    })
            }
        }
    }
}

impl Artifact {
    /// GTO's verdict on the artifact's tags: a stage tag on a commit with
    /// two versions makes a registry GTO refuses, and mlci refuses to
    /// answer from it too (which version is meant is not knowable).
    pub fn readable(&self) -> Result<(), RegistryError> {
        match &self.conflict {
            Some((versions, commit)) => Err(RegistryError::ManyVersions {
                name: self.name.clone(),
                versions: versions.clone(),
                commit: commit.clone(),
            }),
            None => Ok(()),
        }
    }
}
