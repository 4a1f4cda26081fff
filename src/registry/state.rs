//! The registry's state from its events, with GTO's semantics, so that
//! mlci and GTO read one set of tags identically, ties on time included.
//! Read from `gto/base.py`, `gto/tag.py` and `gto/registry.py` (1.10):
//!
//! - events are indexed artifact tags first (deprecations), then version
//!   tags (registrations, deregistrations), then stage tags; each group in
//!   tag-time order, ties by tag name (GTO's `find` sorts the name-sorted
//!   tag list by time, stably);
//! - every list GTO keeps is ordered by time alone (Python's stable sort),
//!   newest first by reversing: among events of one second, the one
//!   listed last counts as the newest. This module keeps GTO's lists and
//!   sorts as they are, so every tie resolves as GTO resolves it;
//! - a version is active while its newest registration event is a
//!   registration; a stage tag on a commit with no registered version
//!   makes a version named by the commit, one per tag (GTO's
//!   `find_version` skips "discovered" versions);
//! - a stage tag on a commit carrying two versions is a state GTO refuses
//!   for the whole registry ("Multiple versions are not allowed on the same
//!   Git commit"): recorded as the artifact's [`Artifact::conflict`];
//! - an artifact is deprecated while its newest event is a deprecation;
//! - the latest version is the highest SemVer among active registered ones;
//!   the version *in* a stage is, among active assignments, the one whose
//!   newest assignment is the newest.
//!
//! mlci itself never writes a tie: `tags::create` stamps a new tag one
//! second after the artifact's newest event when the clock has not moved
//! on (see `promote::Writer::not_before`).

use std::cmp::Ordering;
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

/// One stage of one version: its assignments and unassignments (indices
/// into [`Registry::events`], each list in time order).
#[derive(Debug, Clone)]
pub struct VStage {
    pub stage: String,
    pub assignments: Vec<usize>,
    pub unassignments: Vec<usize>,
}

/// One version of an artifact.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: String,
    pub commit: String,
    /// Registrations and deregistrations, each in time order.
    pub registrations: Vec<usize>,
    pub deregistrations: Vec<usize>,
    /// Its stages, in the order they first appeared.
    pub stages: Vec<VStage>,
}

/// One artifact: its versions (in the order GTO made them) and
/// deprecations.
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    pub name: String,
    pub versions: Vec<Version>,
    pub deprecations: Vec<usize>,
    /// Versions sharing the commit a stage tag points at: a state GTO
    /// refuses (its versions, in the order GTO names them, and the commit).
    pub conflict: Option<(Vec<String>, String)>,
}

/// All registry events of a repository and the artifacts they build.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Every event, in GTO's indexing order.
    pub events: Vec<Event>,
    pub artifacts: BTreeMap<String, Artifact>,
}

/// GTO's indexing order: the manager (artifact, version, stage tags), then
/// time, then the tag's name.
fn index_order(a: &Event, b: &Event) -> Ordering {
    let group = |e: &Event| match e.action {
        Action::Deprecation => 0,
        Action::Registration | Action::Deregistration => 1,
        Action::Assignment | Action::Unassignment => 2,
    };
    (group(a), a.time, &a.tag).cmp(&(group(b), b.time, &b.tag))
}

/// `ids` sorted by time alone, stably (Python's `sorted(key=created_at)`),
/// newest first when `descending` (Python's `[::-1]` of that).
fn by_time(mut ids: Vec<usize>, events: &[Event], descending: bool) -> Vec<usize> {
    ids.sort_by_key(|&i| events[i].time);
    if descending {
        ids.reverse();
    }
    ids
}

impl Registry {
    /// Builds the state from events in any order.
    pub fn build(mut events: Vec<Event>) -> Registry {
        events.sort_by(index_order);
        let mut reg = Registry::default();
        // Indices, not an iterator: a stage event learns its version's name.
        #[allow(clippy::needless_range_loop)]
        for i in 0..events.len() {
            let e = &events[i];
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
                    let name = e.version.clone().unwrap_or_default();
                    let at =
                        match art.versions.iter().position(|v| {
                            v.version == name && v.commit == e.commit && !v.discovered()
                        }) {
                            Some(at) => at,
                            None => art.push_version(&name, &e.commit),
                        };
                    let v = &mut art.versions[at];
                    if e.action == Action::Registration {
                        v.registrations.push(i);
                    } else {
                        v.deregistrations.push(i);
                    }
                }
                Action::Assignment | Action::Unassignment => {
                    // GTO's find_version by commit, discovered versions
                    // skipped: one version there, or a new one named by
                    // the commit; two or more is GTO's ManyVersions.
                    let there: Vec<usize> = art
                        .versions
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.commit == e.commit && !v.discovered())
                        .map(|(at, _)| at)
                        .collect();
                    let at = match there.as_slice() {
                        [] => art.push_version(&e.commit, &e.commit),
                        [one] => *one,
                        many => {
                            if art.conflict.is_none() {
                                art.conflict = Some((
                                    many.iter()
                                        .map(|&at| art.versions[at].version.clone())
                                        .collect(),
                                    e.commit.clone(),
                                ));
                            }
                            many[0]
                        }
                    };
                    let stage = e.stage.clone().unwrap_or_default();
                    let v = &mut art.versions[at];
                    let vs = match v.stages.iter().position(|s| s.stage == stage) {
                        Some(s) => s,
                        None => {
                            v.stages.push(VStage {
                                stage,
                                assignments: Vec::new(),
                                unassignments: Vec::new(),
                            });
                            v.stages.len() - 1
                        }
                    };
                    if e.action == Action::Assignment {
                        v.stages[vs].assignments.push(i);
                    } else {
                        v.stages[vs].unassignments.push(i);
                    }
                    let name = v.version.clone();
                    events[i].version = Some(name);
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

    /// The newest tag time of `artifact`'s events (seconds), if any.
    pub fn newest_time(&self, artifact: &str) -> Option<i64> {
        self.events
            .iter()
            .filter(|e| e.artifact == artifact)
            .map(|e| e.time)
            .max()
    }
}

impl Artifact {
    /// A new version at the end of the list (GTO appends).
    fn push_version(&mut self, name: &str, commit: &str) -> usize {
        self.versions.push(Version {
            version: name.to_string(),
            commit: commit.to_string(),
            registrations: Vec::new(),
            deregistrations: Vec::new(),
            stages: Vec::new(),
        });
        self.versions.len() - 1
    }

    /// Every event, newest first, as GTO lists them (deprecations, then
    /// each version's events newest first, sorted by time stably and
    /// reversed).
    fn events_desc(&self, events: &[Event]) -> Vec<usize> {
        let mut all = self.deprecations.clone();
        for v in &self.versions {
            all.extend(v.events_desc(events));
        }
        by_time(all, events, true)
    }

    /// Its newest event, as GTO picks it.
    pub fn newest<'e>(&self, events: &'e [Event]) -> Option<&'e Event> {
        self.events_desc(events).first().map(|&i| &events[i])
    }

    /// Whether the artifact's newest event is a deprecation.
    pub fn deprecated(&self, events: &[Event]) -> bool {
        self.events_desc(events)
            .first()
            .is_some_and(|&i| events[i].action == Action::Deprecation)
    }

    /// Whether any tag names the artifact.
    pub fn registered(&self, events: &[Event]) -> bool {
        !self.events_desc(events).is_empty()
    }

    /// GTO's `get_versions`: the active versions it lists, highest SemVer
    /// first, then versions that are not SemVer (a commit's hash) by name,
    /// descending. `registered_only` leaves out versions no registration
    /// tag named (GTO's `include_non_explicit=False`).
    pub fn active_versions(&self, events: &[Event], registered_only: bool) -> Vec<&Version> {
        let listed: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| {
                v.active(events)
                    && ((v.registered(events) && !v.discovered())
                        || (!registered_only && !v.registered(events)))
            })
            .collect();
        sort_versions(listed)
    }

    /// The highest active registered version.
    pub fn latest(&self, events: &[Event]) -> Option<&Version> {
        self.active_versions(events, true).into_iter().next()
    }

    /// The version in each stage: GTO's `get_vstages` with its defaults
    /// (`gto show`: one version per stage, by the time of its newest
    /// assignment).
    pub fn stages(&self, events: &[Event]) -> BTreeMap<String, &Version> {
        self.stage_holders(events)
            .into_iter()
            .map(|(s, (v, _))| (s, v))
            .collect()
    }

    /// The version in each stage and its stage record.
    pub fn stage_holders(&self, events: &[Event]) -> BTreeMap<String, (&Version, &VStage)> {
        // GTO's `get_versions(sort=Timestamp)`: the active versions in list
        // order, sorted by their authoring time stably, reversed.
        let mut versions: Vec<&Version> =
            self.versions.iter().filter(|v| v.active(events)).collect();
        versions.sort_by_key(|v| v.registration(events).map_or(0, |e| e.time));
        versions.reverse();
        let mut assignments: Vec<(&Version, &VStage)> = Vec::new();
        for v in versions {
            for s in v.vstages(events) {
                assignments.push((v, s));
            }
        }
        // Sorted by created_at (the newest assignment), stably, reversed.
        assignments.sort_by_key(|(_, s)| s.created_at(events));
        assignments.reverse();
        let mut out: BTreeMap<String, (&Version, &VStage)> = BTreeMap::new();
        for (v, s) in assignments {
            out.entry(s.stage.clone()).or_insert((v, s));
        }
        out
    }

    /// Every event of this artifact, oldest first, in the order `gto
    /// history` lists them reversed (time, then GTO's event priority).
    pub fn events<'e>(&self, events: &'e [Event]) -> Vec<&'e Event> {
        let mut ids = self.events_desc(events);
        ids.sort_by_key(|&i| (events[i].time, events[i].action.priority()));
        ids.into_iter().map(|i| &events[i]).collect()
    }

    /// The active registered version named `name`.
    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.version == name && !v.discovered())
    }

    /// The versions with registration tags on `commit` (GTO allows one).
    pub fn versions_at(&self, commit: &str) -> Vec<&Version> {
        self.versions
            .iter()
            .filter(|v| v.commit == commit && !v.discovered())
            .collect()
    }
}

/// GTO's `sort_versions` by SemVer, descending: SemVer versions by
/// precedence (sorted stably, then reversed), then the rest by name
/// (likewise).
fn sort_versions(versions: Vec<&Version>) -> Vec<&Version> {
    let (mut semver, mut other): (Vec<&Version>, Vec<&Version>) = versions
        .into_iter()
        .partition(|v| tag::semver(&v.version).is_some());
    semver.sort_by(|a, b| {
        let (x, y) = (tag::semver(&a.version), tag::semver(&b.version));
        match (x, y) {
            (Some(x), Some(y)) => x.cmp_precedence(&y),
            _ => Ordering::Equal,
        }
    });
    semver.reverse();
    other.sort_by(|a, b| a.version.cmp(&b.version));
    other.reverse();
    semver.extend(other);
    semver
}

impl VStage {
    /// Its events, newest first (assignments, then unassignments, sorted by
    /// time stably, reversed).
    fn events_desc(&self, events: &[Event]) -> Vec<usize> {
        let all: Vec<usize> = self
            .assignments
            .iter()
            .chain(&self.unassignments)
            .copied()
            .collect();
        by_time(all, events, true)
    }

    /// Whether its newest event is an assignment.
    pub fn active(&self, events: &[Event]) -> bool {
        self.events_desc(events)
            .first()
            .is_some_and(|&i| events[i].action == Action::Assignment)
    }

    /// The newest assignment (GTO's authoring event), else the newest event.
    pub fn authoring<'e>(&self, events: &'e [Event]) -> Option<&'e Event> {
        let desc = self.events_desc(events);
        desc.iter()
            .find(|&&i| events[i].action == Action::Assignment)
            .or(desc.first())
            .map(|&i| &events[i])
    }

    fn created_at(&self, events: &[Event]) -> i64 {
        self.authoring(events).map_or(0, |e| e.time)
    }

    fn activated_at(&self, events: &[Event]) -> i64 {
        self.events_desc(events)
            .first()
            .map_or(0, |&i| events[i].time)
    }
}

impl Version {
    /// Not named by any registration or deregistration tag (GTO's
    /// "discovered" version: only stage tags point at its commit).
    pub fn discovered(&self) -> bool {
        self.registrations.is_empty() && self.deregistrations.is_empty()
    }

    /// Its events, newest first, as GTO lists them.
    fn events_desc(&self, events: &[Event]) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .registrations
            .iter()
            .chain(&self.deregistrations)
            .copied()
            .collect();
        for s in &self.stages {
            all.extend(s.events_desc(events));
        }
        by_time(all, events, true)
    }

    /// Its registrations and deregistrations, newest first.
    fn direct_desc(&self, events: &[Event]) -> Vec<usize> {
        let all: Vec<usize> = self
            .registrations
            .iter()
            .chain(&self.deregistrations)
            .copied()
            .collect();
        by_time(all, events, true)
    }

    /// Registered by a tag (not only named by a stage tag on its commit).
    pub fn registered(&self, _events: &[Event]) -> bool {
        !self.registrations.is_empty()
    }

    /// Not deregistered since its last registration (a stage-only version
    /// is active while it has events).
    pub fn active(&self, events: &[Event]) -> bool {
        match self.direct_desc(events).first() {
            Some(&i) => events[i].action == Action::Registration,
            None => self
                .stages
                .iter()
                .any(|s| !s.assignments.is_empty() || !s.unassignments.is_empty()),
        }
    }

    /// GTO's authoring event: the newest registration, else the newest
    /// stage event.
    pub fn registration<'e>(&self, events: &'e [Event]) -> Option<&'e Event> {
        let direct = self.direct_desc(events);
        if let Some(&i) = direct
            .iter()
            .find(|&&i| events[i].action == Action::Registration)
        {
            return Some(&events[i]);
        }
        let indirect: Vec<usize> = by_time(
            self.stages
                .iter()
                .flat_map(|s| s.events_desc(events))
                .collect(),
            events,
            true,
        );
        indirect.first().map(|&i| &events[i])
    }

    /// Its active stages, oldest activation first (GTO's `get_vstages`
    /// ascending).
    pub fn vstages(&self, events: &[Event]) -> Vec<&VStage> {
        let mut out: Vec<&VStage> = self.stages.iter().filter(|s| s.active(events)).collect();
        out.sort_by_key(|s| s.activated_at(events));
        out
    }

    /// Its record of `stage`, if it ever had one.
    pub fn stage(&self, stage: &str) -> Option<&VStage> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// Whether `stage` is assigned to it now.
    pub fn is_in(&self, stage: &str, events: &[Event]) -> bool {
        self.stage(stage).is_some_and(|s| s.active(events))
    }

    /// Whether this version was ever assigned `stage`.
    pub fn was_in(&self, stage: &str, _events: &[Event]) -> bool {
        self.stage(stage).is_some_and(|s| !s.assignments.is_empty())
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
