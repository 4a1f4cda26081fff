//! The registry's state from its events, with GTO's semantics
//! (`gto/base.py`), so that mlci and GTO read one set of tags identically:
//!
//! - events are indexed in tag-time order (ties: by counter, then name);
//! - a version is active while its latest registration event is a
//!   registration; an assignment at a commit with no registered version
//!   makes an unregistered version named by the commit;
//! - a (version, stage) pair is active while its latest event is an
//!   assignment; the version *in* a stage is the active pair whose latest
//!   assignment is the newest, so unassigning the champion hands the stage
//!   back to the version that held it before;
//! - an artifact is deprecated while its newest event is a deprecation;
//! - the latest version is the highest SemVer among active registered ones.

use std::collections::BTreeMap;

use serde::Serialize;

use super::tag::{self, Action};

/// One registry tag as read from git: its parsed name and the annotated
/// tag's fields.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "event")]
    pub action: Action,
    pub artifact: String,
    /// The version the event concerns (for stage events: the version at the
    /// tag's commit; the commit's hash when none is registered there).
    pub version: Option<String>,
    pub stage: Option<String>,
    /// The commit the tag points at (40 hex).
    pub commit: String,
    /// The tag's name.
    pub tag: String,
    /// Tagger time: seconds since the Unix epoch, and the tagger's UTC
    /// offset in minutes.
    #[serde(skip)]
    pub time: i64,
    #[serde(skip)]
    pub offset_minutes: i32,
    /// RFC 3339 with the tagger's offset.
    pub created_at: String,
    pub author: String,
    pub author_email: String,
    /// The tag's message, trimmed.
    pub message: String,
    #[serde(skip)]
    pub counter: Option<u64>,
}

/// One version of an artifact.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: String,
    pub commit: String,
    /// Registration and deregistration events, oldest first.
    pub direct: Vec<usize>,
    /// Stage events per stage, oldest first.
    pub stages: BTreeMap<String, Vec<usize>>,
}

/// One artifact: its versions and deprecations (indices into
/// [`Registry::events`]).
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    pub name: String,
    pub versions: Vec<Version>,
    pub deprecations: Vec<usize>,
}

/// All registry events of a repository and the artifacts they build.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Every event, in index order (time, counter, tag name).
    pub events: Vec<Event>,
    pub artifacts: BTreeMap<String, Artifact>,
}

/// Orders events as they are indexed.
fn index_order(a: &Event, b: &Event) -> std::cmp::Ordering {
    (a.time, a.counter.unwrap_or(0), &a.tag).cmp(&(b.time, b.counter.unwrap_or(0), &b.tag))
}

impl Registry {
    /// Builds the state from events in any order.
    pub fn build(mut events: Vec<Event>) -> Registry {
        events.sort_by(index_order);
        let mut reg = Registry::default();
        for (i, e) in events.iter_mut().enumerate() {
            let art = reg
                .artifacts
                .entry(e.artifact.clone())
                .or_insert_with(|| Artifact {
                    name: e.artifact.clone(),
                    ..Artifact::default()
                });
            match e.action {
                Action::Deprecation => art.deprecations.push(i),
                Action::Registration | Action::Deregistration => {
                    let v = e.version.clone().unwrap_or_default();
                    let at = art.version_at(&v, &e.commit);
                    art.versions[at].direct.push(i);
                }
                Action::Assignment | Action::Unassignment => {
                    // The version registered at the tag's commit (GTO's
                    // find_version by commit, discovered ones excluded).
                    let at = match art
                        .versions
                        .iter()
                        .position(|v| v.commit == e.commit && !v.direct.is_empty())
                    {
                        Some(at) => at,
                        None => art.version_at(&e.commit, &e.commit),
                    };
                    let stage = e.stage.clone().unwrap_or_default();
                    art.versions[at].stages.entry(stage).or_default().push(i);
                    e.version = Some(art.versions[at].version.clone());
                }
            }
        }
        reg.events = events;
        reg
    }

    pub fn artifact(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.get(name)
    }

    /// The state as it was at `time` (seconds): only events up to then.
    pub fn as_of(&self, time: i64) -> Registry {
        Registry::build(
            self.events
                .iter()
                .filter(|e| e.time <= time)
                .cloned()
                .map(|mut e| {
                    if matches!(e.action, Action::Assignment | Action::Unassignment) {
                        e.version = None;
                    }
                    e
                })
                .collect(),
        )
    }

    /// The highest counter on `artifact`'s tags (0 when none has one).
    pub fn max_counter(&self, artifact: &str) -> u64 {
        self.events
            .iter()
            .filter(|e| e.artifact == artifact)
            .filter_map(|e| e.counter)
            .max()
            .unwrap_or(0)
    }
}

impl Artifact {
    /// The index of version `name` at `commit`, created when missing.
    fn version_at(&mut self, name: &str, commit: &str) -> usize {
        if let Some(i) = self
            .versions
            .iter()
            .position(|v| v.version == name && v.commit == commit)
        {
            return i;
        }
        self.versions.push(Version {
            version: name.to_string(),
            commit: commit.to_string(),
            direct: Vec::new(),
            stages: BTreeMap::new(),
        });
        self.versions.len() - 1
    }

    /// Whether the artifact's newest event is a deprecation.
    pub fn deprecated(&self, events: &[Event]) -> bool {
        let newest = self
            .versions
            .iter()
            .flat_map(|v| v.direct.iter().chain(v.stages.values().flatten()))
            .chain(&self.deprecations)
            .max();
        newest.is_some_and(|&i| events[i].action == Action::Deprecation)
    }

    /// Whether any version was registered by a tag.
    pub fn registered(&self, events: &[Event]) -> bool {
        self.versions
            .iter()
            .any(|v| v.registered(events) || !v.stages.is_empty())
            || !self.deprecations.is_empty()
    }

    /// Active versions, highest SemVer first (versions that are not SemVer,
    /// such as a commit's hash, after them by name). `registered_only`
    /// leaves out versions no registration tag named.
    pub fn active_versions(&self, events: &[Event], registered_only: bool) -> Vec<&Version> {
        let mut out: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| v.active(events) && (!registered_only || v.registered(events)))
            .collect();
        out.sort_by(
            |a, b| match (tag::semver(&a.version), tag::semver(&b.version)) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => b.version.cmp(&a.version),
            },
        );
        out
    }

    /// The highest active registered version.
    pub fn latest(&self, events: &[Event]) -> Option<&Version> {
        self.active_versions(events, true).into_iter().next()
    }

    /// The version in each stage (see the module's rules).
    pub fn stages(&self, events: &[Event]) -> BTreeMap<String, &Version> {
        let mut best: BTreeMap<String, (usize, &Version)> = BTreeMap::new();
        for v in self.active_versions(events, false) {
            for (stage, evs) in &v.stages {
                let Some(&last) = evs.last() else { continue };
                if events[last].action != Action::Assignment {
                    continue;
                }
                // The newest assignment of this pair (its authoring event).
                let newest = *evs
                    .iter()
                    .rev()
                    .find(|&&i| events[i].action == Action::Assignment)
                    .expect("the last event is an assignment");
                let slot = best.entry(stage.clone()).or_insert((newest, v));
                if index_order(&events[newest], &events[slot.0]).is_gt() {
                    *slot = (newest, v);
                }
            }
        }
        best.into_iter().map(|(s, (_, v))| (s, v)).collect()
    }

    /// Every event of this artifact, in index order.
    pub fn events<'e>(&self, events: &'e [Event]) -> Vec<&'e Event> {
        let mut ids: Vec<usize> = self
            .versions
            .iter()
            .flat_map(|v| v.direct.iter().chain(v.stages.values().flatten()))
            .chain(&self.deprecations)
            .copied()
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|i| &events[i]).collect()
    }

    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.version == name && !v.direct.is_empty())
    }
}

impl Version {
    /// Registered by a tag (not only named by a stage tag on its commit).
    pub fn registered(&self, events: &[Event]) -> bool {
        self.direct
            .iter()
            .any(|&i| events[i].action == Action::Registration)
    }

    /// Not deregistered since its last registration.
    pub fn active(&self, events: &[Event]) -> bool {
        match self.direct.last() {
            Some(&i) => events[i].action == Action::Registration,
            None => !self.stages.is_empty(),
        }
    }

    /// The registration event (the newest, as GTO's authoring event).
    pub fn registration<'e>(&self, events: &'e [Event]) -> Option<&'e Event> {
        self.direct
            .iter()
            .rev()
            .map(|&i| &events[i])
            .find(|e| e.action == Action::Registration)
    }

    /// Whether this version was ever assigned `stage`.
    pub fn was_in(&self, stage: &str, events: &[Event]) -> bool {
        self.stages
            .get(stage)
            .is_some_and(|evs| evs.iter().any(|&i| events[i].action == Action::Assignment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(tag_name: &str, commit: &str, time: i64) -> Event {
        let t = tag::parse(tag_name).unwrap();
        Event {
            action: t.action,
            artifact: t.artifact,
            version: t.version,
            stage: t.stage,
            commit: commit.into(),
            tag: tag_name.into(),
            time,
            offset_minutes: 0,
            created_at: String::new(),
            author: "a".into(),
            author_email: "a@b".into(),
            message: String::new(),
            counter: t.counter,
        }
    }

    #[test]
    fn the_newest_active_assignment_holds_the_stage() {
        let reg = Registry::build(vec![
            ev("m@v0.0.1", "c1", 1),
            ev("m@v0.0.2", "c2", 2),
            ev("m#prod#1", "c1", 3),
            ev("m#prod#2", "c2", 4),
        ]);
        let a = reg.artifact("m").unwrap();
        assert_eq!(a.stages(&reg.events)["prod"].version, "v0.0.2");
        assert_eq!(a.latest(&reg.events).unwrap().version, "v0.0.2");
        // Unassigning the champion hands the stage back, as GTO does.
        let mut evs = reg.events.clone();
        evs.push(ev("m#prod!#3", "c2", 5));
        let reg2 = Registry::build(evs);
        let a2 = reg2.artifact("m").unwrap();
        assert_eq!(a2.stages(&reg2.events)["prod"].version, "v0.0.1");
        // And the state an hour earlier is what it was then.
        let before = reg2.as_of(3);
        let b = before.artifact("m").unwrap();
        assert_eq!(b.stages(&before.events)["prod"].version, "v0.0.1");
        assert_eq!(reg2.max_counter("m"), 3);
    }

    #[test]
    fn deregistered_and_deprecated() {
        let reg = Registry::build(vec![
            ev("m@v1.0.0", "c1", 1),
            ev("m@v1.1.0", "c2", 2),
            ev("m@v1.1.0!", "c2", 3),
        ]);
        let a = reg.artifact("m").unwrap();
        assert_eq!(a.latest(&reg.events).unwrap().version, "v1.0.0");
        assert!(!a.deprecated(&reg.events));
        let mut evs = reg.events.clone();
        evs.push(ev("m@deprecated", "c2", 4));
        let reg = Registry::build(evs);
        assert!(reg.artifact("m").unwrap().deprecated(&reg.events));
    }
}
