//! Writing the registry: registration, assignment (promotion),
//! unassignment, deregistration and deprecation, each one annotated tag
//! named as GTO names it; and the promotion policy's verdict on an
//! assignment.

use std::path::Path;

use super::declare::{self, Declaration};
use super::policy::{GtoConfig, Policy};
use super::state::{Registry, Version};
use super::tag::{self, Action, TagName};
use super::RegistryError;
use crate::pipeline::source::{GitTree, WorkTree};
use crate::review::gate::{self, GateResult, Values};
use crate::revision::{Rev, RevReader};
use crate::store::cache::Cache;

/// How `register` picks the version when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bump {
    Major,
    Minor,
    Patch,
}

/// A tag to create: its name, the commit and the message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewTag {
    pub tag: String,
    pub commit: String,
    pub message: String,
    #[serde(skip)]
    pub action: Action,
    pub artifact: String,
    pub version: Option<String>,
    pub stage: Option<String>,
    /// The earliest tag time (seconds) that keeps the artifact's events
    /// apart: one after its newest event.
    #[serde(skip)]
    pub not_before: Option<i64>,
}

impl NewTag {
    /// Creates the tag in the repository at `root`, never at the same
    /// second as the artifact's newest event (GTO orders such ties by tag
    /// kind, not by which came last).
    pub fn create(&self, root: &Path) -> Result<(), RegistryError> {
        super::tags::create(
            root,
            &self.tag,
            &self.commit,
            &self.message,
            self.not_before,
        )
    }
}

/// The trailer a forced assignment's message carries, with the reason.
pub const FORCED_TRAILER: &str = "Mlci-Forced-Reason:";

/// The registry of one repository, ready to be written to.
pub struct Writer<'a> {
    pub root: &'a Path,
    pub registry: Registry,
    pub gto: GtoConfig,
}

impl<'a> Writer<'a> {
    /// The registry of artifact `name` (its tags hold its whole state).
    pub fn open(root: &'a Path, name: &str) -> Result<Writer<'a>, RegistryError> {
        Ok(Writer {
            root,
            registry: super::open_artifact(root, name)?,
            gto: GtoConfig::read(&WorkTree(root))?,
        })
    }

    fn commit_of(&self, rev: &str) -> Result<git2::Oid, RegistryError> {
        crate::git::resolve_commit(self.root, rev).map_err(|e| RegistryError::BadRev {
            rev: rev.into(),
            message: e.message().to_string(),
        })
    }

    /// The declaration of `name` at `commit`, whose path must exist there.
    pub fn declared_at(&self, name: &str, commit: git2::Oid) -> Result<Declaration, RegistryError> {
        let short = &commit.to_string()[..8];
        let tree = GitTree::open(self.root, commit).map_err(RegistryError::Git)?;
        let decl = declare::find(&tree, name)?.ok_or_else(|| RegistryError::Undeclared {
            name: name.into(),
            rev: short.into(),
        })?;
        if !path_exists_at(self.root, commit, &decl.path)? {
            return Err(RegistryError::PathMissing {
                name: name.into(),
                path: decl.path.clone(),
                rev: short.into(),
            });
        }
        if let (Some(kind), Some(types)) = (&decl.kind, &self.gto.types) {
            if !types.contains(kind) {
                return Err(RegistryError::UnknownType {
                    name: name.into(),
                    kind: kind.clone(),
                    allowed: types.clone(),
                });
            }
        }
        Ok(decl)
    }

    /// The tag registering a version of `name` at `rev`: `version` when
    /// given, else the latest bumped (`bump`, the patch by default), else
    /// v0.0.1 (GTO's rules).
    pub fn register(
        &self,
        name: &str,
        rev: &str,
        version: Option<&str>,
        bump: Option<Bump>,
        message: Option<&str>,
    ) -> Result<NewTag, RegistryError> {
        writable(name)?;
        let commit = self.commit_of(rev)?;
        self.declared_at(name, commit)?;
        let hex = commit.to_string();
        let events = &self.registry.events;
        let artifact = self.registry.artifact(name);
        // GTO's rule: one version per commit, for good. A deregistered
        // version still holds its commit (a second one there makes a
        // registry GTO cannot read).
        if let Some(v) = artifact.and_then(|a| a.versions_at(&hex).into_iter().next()) {
            return Err(if v.active(events) {
                refused(
                    format!(
                        "`{name}` is already registered in commit {} with version {} (GTO allows one version per commit)",
                        &hex[..8],
                        v.version
                    ),
                    "commit the new model and register that commit",
                )
            } else {
                refused(
                    format!(
                        "commit {} held version {} of `{name}`, deregistered; GTO allows one version per commit, deregistered or not",
                        &hex[..8],
                        v.version
                    ),
                    "commit the model again (a new commit) and register that one",
                )
            });
        }
        let version = match version {
            Some(v) => {
                if tag::semver(v).is_none() {
                    return Err(RegistryError::BadVersion(v.into()));
                }
                if artifact.is_some_and(|a| a.versions.iter().any(|x| x.version == v)) {
                    return Err(refused(
                        format!("version {v} of `{name}` is registered already (a version is never reused, even deregistered)"),
                        "pick a new version, or leave --version out to bump the latest",
                    ));
                }
                v.to_string()
            }
            None => match artifact.and_then(|a| a.latest(events)) {
                Some(last) => bumped(&last.version, bump.unwrap_or(Bump::Patch))?,
                None if bump.is_some() => {
                    return Err(refused(
                        format!("`{name}` has no version to bump yet"),
                        "leave --bump out (the first version is v0.0.1), or give `--version`",
                    ))
                }
                None => "v0.0.1".into(),
            },
        };
        Ok(NewTag {
            tag: TagName {
                artifact: name.into(),
                action: Action::Registration,
                version: Some(version.clone()),
                stage: None,
                counter: None,
            }
            .render(),
            commit: hex,
            message: message
                .map(str::to_string)
                .unwrap_or_else(|| format!("Registering artifact {name} version {version}")),
            action: Action::Registration,
            artifact: name.into(),
            version: Some(version),
            stage: None,
            not_before: self.not_before(name),
        })
    }

    /// The active registered version `version` of `name` (`latest`: the
    /// highest).
    pub fn version(&self, name: &str, version: &str) -> Result<&Version, RegistryError> {
        let sel = if version == "latest" {
            super::Selector::Latest
        } else {
            super::Selector::Version(version.to_string())
        };
        self.registry.select(name, &sel)
    }

    /// Why registering `name` at `rev` would add nothing: the commit holds
    /// an active version already, or the artifact's bytes there are the
    /// latest version's. None when a registration is due.
    pub fn unchanged(
        &self,
        cache: &Cache,
        name: &str,
        rev: &str,
    ) -> Result<Option<String>, RegistryError> {
        let commit = self.commit_of(rev)?;
        let hex = commit.to_string();
        let events = &self.registry.events;
        let Some(artifact) = self.registry.artifact(name) else {
            return Ok(None);
        };
        artifact.readable()?;
        if let Some(v) = artifact
            .versions_at(&hex)
            .into_iter()
            .find(|v| v.active(events))
        {
            return Ok(Some(format!(
                "commit {} is registered as {} of `{name}` already",
                &hex[..8],
                v.version
            )));
        }
        let Some(latest) = artifact.latest(events) else {
            return Ok(None);
        };
        let decl = self.declared_at(name, commit)?;
        let now = super::lineage::artifact_digest(self.root, cache, commit, &decl.path)?;
        let then_id = git2::Oid::from_str(&latest.commit).map_err(RegistryError::git)?;
        let then = match self.declared_at(name, then_id) {
            Ok(d) => super::lineage::artifact_digest(self.root, cache, then_id, &d.path)?,
            Err(_) => None,
        };
        Ok((now.is_some() && now == then).then(|| {
            format!(
                "`{name}` at {} has the same bytes as {} ({})",
                &hex[..8],
                latest.version,
                now.as_ref().map(|d| d.short()).unwrap_or_default()
            )
        }))
    }

    /// Checks `stage` against GTO's name rule, `.gto` and the policy.
    pub fn check_stage(&self, stage: &str, policy: &Policy) -> Result<(), RegistryError> {
        if !tag::is_stage_name(stage) {
            return Err(RegistryError::BadStage(stage.into()));
        }
        if let Some(allowed) = &self.gto.stages {
            if let Some(ours) = &policy.stages {
                if let Some(_bad) = ours.iter().find(|s| !allowed.contains(s)) {
                    return Err(RegistryError::StagesDisagree {
                        ours: ours.clone(),
                        gto: allowed.clone(),
                    });
                }
            }
            if !allowed.iter().any(|s| s == stage) {
                return Err(RegistryError::UnknownStage {
                    stage: stage.into(),
                    by: ".gto".into(),
                    allowed: allowed.clone(),
                });
            }
        }
        if !policy.allows(stage) {
            return Err(RegistryError::UnknownStage {
                stage: stage.into(),
                by: format!("the promotion policy ({})", policy.origin),
                allowed: policy.stages.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The tag assigning `stage` to `version` of `name`. `reason` (a forced
    /// promotion's) goes into the message as a trailer.
    pub fn assign(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        message: Option<&str>,
        reason: Option<&str>,
    ) -> Result<NewTag, RegistryError> {
        let v = self.version(name, version)?;
        self.one_version_on(name, v)?;
        if v.is_in(stage, &self.registry.events) {
            return Err(refused(
                format!("version {version} of `{name}` is in stage `{stage}` already"),
                &format!("`mlci model which {name} {stage}` shows the stage's version"),
            ));
        }
        let mut text = message.map(str::to_string).unwrap_or_else(|| {
            format!("Assigning stage {stage} to artifact {name} version {version}")
        });
        if let Some(r) = reason {
            let one_line = r.split_whitespace().collect::<Vec<_>>().join(" ");
            text.push_str(&format!("\n\n{FORCED_TRAILER} {one_line}"));
        }
        Ok(self.stage_tag(name, v, stage, Action::Assignment, text))
    }

    /// The tag unassigning `stage` from `version` of `name`.
    pub fn unassign(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        message: Option<&str>,
    ) -> Result<NewTag, RegistryError> {
        let v = self.version(name, version)?;
        self.one_version_on(name, v)?;
        if !v.is_in(stage, &self.registry.events) {
            return Err(refused(
                format!("version {version} of `{name}` is not in stage `{stage}`"),
                &format!("`mlci model show {name}` shows which stages each version holds"),
            ));
        }
        let text = message.map(str::to_string).unwrap_or_else(|| {
            format!("Unassigning stage '{stage}' to artifact '{name}' version '{version}'")
        });
        Ok(self.stage_tag(name, v, stage, Action::Unassignment, text))
    }

    /// One second after the artifact's newest event: no tag mlci writes
    /// ties with the one before it.
    fn not_before(&self, name: &str) -> Option<i64> {
        self.registry.newest_time(name).map(|t| t + 1)
    }

    /// Refuses a stage tag on a commit that carries two versions: GTO
    /// refuses to read the whole registry after one.
    pub fn one_version_on(&self, name: &str, v: &Version) -> Result<(), RegistryError> {
        let a = self.registry.require(name)?;
        let there = a.versions_at(&v.commit);
        if there.len() > 1 {
            return Err(RegistryError::ManyVersions {
                name: name.into(),
                versions: there.iter().map(|v| v.version.clone()).collect(),
                commit: v.commit.clone(),
            });
        }
        Ok(())
    }

    fn stage_tag(
        &self,
        name: &str,
        v: &Version,
        stage: &str,
        action: Action,
        message: String,
    ) -> NewTag {
        NewTag {
            tag: TagName {
                artifact: name.into(),
                action,
                version: None,
                stage: Some(stage.into()),
                counter: Some(self.registry.max_counter(name) + 1),
            }
            .render(),
            commit: v.commit.clone(),
            message,
            action,
            artifact: name.into(),
            version: Some(v.version.clone()),
            stage: Some(stage.into()),
            not_before: self.not_before(name),
        }
    }

    /// The tag deregistering `version` of `name`.
    pub fn deregister(
        &self,
        name: &str,
        version: &str,
        message: Option<&str>,
    ) -> Result<NewTag, RegistryError> {
        let v = self.version(name, version)?;
        Ok(NewTag {
            tag: TagName {
                artifact: name.into(),
                action: Action::Deregistration,
                version: Some(version.into()),
                stage: None,
                counter: None,
            }
            .render(),
            commit: v.commit.clone(),
            message: message
                .map(str::to_string)
                .unwrap_or_else(|| format!("Deregistering artifact {name} version {version}")),
            action: Action::Deregistration,
            artifact: name.into(),
            version: Some(version.into()),
            stage: None,
            not_before: self.not_before(name),
        })
    }

    /// The tag deprecating `name`, on the commit of its newest event (as
    /// GTO does); `name@deprecated`, or with a counter once that exists.
    pub fn deprecate(&self, name: &str, message: Option<&str>) -> Result<NewTag, RegistryError> {
        let a = self.registry.require(name)?;
        let events = &self.registry.events;
        if a.deprecated(events) {
            return Err(refused(
                format!("`{name}` is deprecated already"),
                "`mlci model list --deprecated` lists deprecated artifacts",
            ));
        }
        let commit = match a.newest(events) {
            Some(e) => e.commit.clone(),
            None => self.commit_of("HEAD")?.to_string(),
        };
        Ok(NewTag {
            tag: TagName {
                artifact: name.into(),
                action: Action::Deprecation,
                version: None,
                stage: None,
                counter: (!a.deprecations.is_empty()).then(|| self.registry.max_counter(name) + 1),
            }
            .render(),
            commit,
            message: message
                .map(str::to_string)
                .unwrap_or_else(|| format!("Deprecating artifact '{name}'")),
            action: Action::Deprecation,
            artifact: name.into(),
            version: None,
            stage: None,
            not_before: self.not_before(name),
        })
    }
}

fn refused(message: String, hint: &str) -> RegistryError {
    RegistryError::Refused {
        message,
        hint: hint.into(),
    }
}

fn writable(name: &str) -> Result<(), RegistryError> {
    if tag::is_writable_name(name) {
        Ok(())
    } else {
        Err(RegistryError::BadName {
            name: name.into(),
            why: "mlci writes DVC's names only".into(),
        })
    }
}

/// `version` bumped by `bump` (pre-release and build cleared).
fn bumped(version: &str, bump: Bump) -> Result<String, RegistryError> {
    let v = tag::semver(version).ok_or_else(|| RegistryError::BadVersion(version.into()))?;
    let (major, minor, patch) = match bump {
        Bump::Major => (v.major + 1, 0, 0),
        Bump::Minor => (v.major, v.minor + 1, 0),
        Bump::Patch => (v.major, v.minor, v.patch + 1),
    };
    Ok(format!("v{major}.{minor}.{patch}"))
}

/// Whether `path` exists at `commit`: a file or directory in git, a
/// pointer file beside it, or an output in that commit's `mlci.lock`.
pub fn path_exists_at(root: &Path, commit: git2::Oid, path: &str) -> Result<bool, RegistryError> {
    let repo = git2::Repository::open(root).map_err(RegistryError::git)?;
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(RegistryError::git)?;
    if tree.get_path(Path::new(path)).is_ok() {
        return Ok(true);
    }
    // A DVC repository used in place: an output its `.dvc` files or
    // `dvc.lock` record at that commit.
    if crate::repo::format::Format::of(root) == Some(crate::repo::format::Format::Dvc) {
        let outs =
            crate::dvc::artifact::recorded_at(root, commit, &[path.to_string()]).map_err(|e| {
                RegistryError::Refused {
                    message: e.to_string(),
                    hint: crate::error::Hint::hint(&e).unwrap_or_default(),
                }
            })?;
        return Ok(outs.iter().any(|o| o.path == path.trim_end_matches('/')));
    }
    let cache = crate::repo::cache_of(root).map_err(|e| {
        use crate::error::Hint as _;
        RegistryError::Refused {
            message: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        }
    })?;
    let mut reader = RevReader::new(
        root,
        &cache,
        Rev::Commit {
            name: commit.to_string(),
            id: commit,
        },
    );
    Ok(reader.object(path).ok().flatten().is_some())
}

/// One check of a promotion: a policy rule, or the stage order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// `auc >= 0.85`, `auc falls at most 0.01 from the champion`, `was in staging first`.
    pub text: String,
    pub passed: bool,
    /// The challenger's value and the champion's, as shown.
    pub value: Option<String>,
    pub champion: Option<String>,
    pub note: Option<String>,
}

impl Check {
    /// `PASS auc >= 0.85 (0.91)`, `FAIL auc falls at most 0.01 vs the
    /// champion (0.88, champion 0.91): changed by -0.03 from 0.91`, with a
    /// newline.
    pub fn line(&self) -> String {
        let values = match (&self.value, &self.champion) {
            (Some(v), Some(ch)) => format!(" ({v}, champion {ch})"),
            (Some(v), None) => format!(" ({v})"),
            _ => String::new(),
        };
        let note = self
            .note
            .as_ref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        format!(
            "{} {}{values}{note}\n",
            if self.passed { "PASS" } else { "FAIL" },
            self.text
        )
    }
}

/// The verdict on assigning `stage` to `version` of `name` under `policy`:
/// every check, passed or not. Metrics are read at each version's commit
/// through `cache` (files in git need nothing else).
pub fn check(
    root: &Path,
    cache: &Cache,
    registry: &Registry,
    policy: &Policy,
    (name, version, stage): (&str, &Version, &str),
) -> Result<Vec<Check>, RegistryError> {
    let events = &registry.events;
    let mut out = Vec::new();
    if let Some(prev) = policy.previous(stage) {
        let passed = version.was_in(prev, events);
        out.push(Check {
            text: format!("was in `{prev}` before `{stage}`"),
            passed,
            value: None,
            champion: None,
            note: (!passed).then(|| format!("{} was never assigned `{prev}`", version.version)),
        });
    }
    let Some(rules) = policy.rules.get(stage) else {
        return Ok(out);
    };
    let champion = registry
        .artifact(name)
        .and_then(|a| a.stages(events).remove(stage))
        .filter(|c| c.version != version.version);
    let challenger_id = oid(&version.commit)?;
    let files = metric_files_at(root, challenger_id)?;
    let now = values_at(root, cache, challenger_id, &files)?;
    let base = match champion {
        Some(c) => values_at(root, cache, oid(&c.commit)?, &files)?,
        None => Values::new(),
    };
    let results =
        gate::evaluate(rules, &now, &base, &files).map_err(|e| RegistryError::Policy {
            origin: policy.origin.clone(),
            line: None,
            message: e.to_string(),
        })?;
    out.extend(
        results
            .into_iter()
            .map(|r| as_check(r, champion.map(|c| c.version.as_str()))),
    );
    Ok(out)
}

fn as_check(r: GateResult, champion: Option<&str>) -> Check {
    let n = |x: f64| crate::review::metrics::diff::fmt_number(x, 6);
    let relative = r.rule.relative();
    let note = match (&r.note, relative, champion) {
        (Some(n), true, None) if n == "no baseline" => Some("no champion in this stage".into()),
        (note, true, Some(c)) if !r.passed => Some(format!(
            "{} (champion {c})",
            note.clone().unwrap_or_default()
        )),
        (note, _, _) => note.clone(),
    };
    Check {
        text: if relative {
            format!("{} vs the champion", r.text)
        } else {
            r.text
        },
        passed: r.passed,
        value: r.value.map(n),
        champion: if relative { r.base.map(n) } else { None },
        note,
    }
}

fn oid(hex: &str) -> Result<git2::Oid, RegistryError> {
    git2::Oid::from_str(hex).map_err(RegistryError::git)
}

fn metric_files_at(root: &Path, id: git2::Oid) -> Result<Vec<String>, RegistryError> {
    let p = crate::pipeline::load::load_at(root, id).map_err(|e| RegistryError::Declaration {
        file: format!("the pipeline at {}", &id.to_string()[..8]),
        line: None,
        message: e.to_string(),
    })?;
    Ok(crate::review::metrics::metric_files(&p))
}

/// The metrics in `files` at commit `id` (file -> key -> value).
pub fn values_at(
    root: &Path,
    cache: &Cache,
    id: git2::Oid,
    files: &[String],
) -> Result<Values, RegistryError> {
    let mut reader = RevReader::new(
        root,
        cache,
        Rev::Commit {
            name: id.to_string()[..8].to_string(),
            id,
        },
    );
    let mut out = Values::new();
    for f in files {
        match reader.values(f) {
            Ok(Some(v)) => {
                out.insert(f.clone(), v);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(RegistryError::Declaration {
                    file: f.clone(),
                    line: None,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// The metrics recorded at commit `id` by its own pipeline's metrics files.
pub fn metrics_at(root: &Path, cache: &Cache, id: git2::Oid) -> Result<Values, RegistryError> {
    let files = metric_files_at(root, id)?;
    values_at(root, cache, id, &files)
}
