//! Registry tag names, in GTO's format (read from `gto/constants.py` and
//! `gto/tag.py`, so both tools read and write the same tags):
//!
//! - `name@vX.Y.Z` registers version `vX.Y.Z` (full SemVer 2.0);
//!   `name@vX.Y.Z!` deregisters it;
//! - `name#stage#N` assigns `stage` to the version at the tag's commit,
//!   `name#stage!#N` unassigns it; `N` is a counter one higher than any on
//!   that artifact's tags; `name#stage` (no counter) is read the same way;
//! - `name@deprecated` (optionally `#N`) retires the artifact.
//!
//! An artifact declared in `dir/dvc.yaml` is addressed `dir:name`; in a tag
//! the `:` is written `=` (git refuses `:` in ref names).

use std::sync::LazyLock;

use regex::Regex;

/// What a registry tag records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// GTO's priorities order events that share a timestamp.
    Deprecation,
    Registration,
    Deregistration,
    Assignment,
    Unassignment,
}

impl Action {
    /// GTO's event priority (`gto/base.py`): the order of events with one
    /// timestamp.
    pub fn priority(self) -> u8 {
        match self {
            Action::Deprecation => 2,
            Action::Registration => 3,
            Action::Deregistration => 4,
            Action::Assignment => 5,
            Action::Unassignment => 6,
        }
    }

    /// The event's name as GTO's JSON and mlci's outputs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deprecation => "deprecation",
            Action::Registration => "registration",
            Action::Deregistration => "deregistration",
            Action::Assignment => "assignment",
            Action::Unassignment => "unassignment",
        }
    }
}

/// A parsed registry tag name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagName {
    /// The artifact as addressed (`name` or `dir:name`).
    pub artifact: String,
    pub action: Action,
    /// For registrations and deregistrations: `vX.Y.Z…`.
    pub version: Option<String>,
    /// For assignments and unassignments.
    pub stage: Option<String>,
    pub counter: Option<u64>,
}

// GTO's patterns, verbatim in meaning (gto/constants.py).
const DIRNAME: &str = r"[a-zA-Z0-9\-_./]+";
const NAME: &str = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?";
const SEMVER: &str = r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+(?:[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?";

static TAG_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?P<artifact>(?:{DIRNAME}=)?{NAME})(?:(?:(?:#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?))|@(?:(?P<deprecated>deprecated)|(?P<created>created)))(?:#(?P<counter>[0-9]+))?$"
    ))
    .expect("GTO's tag pattern compiles")
});

static FULLNAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?:{DIRNAME}:)?{NAME}$")).expect("the name pattern compiles")
});

static STAGE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{NAME}$")).expect("the stage pattern compiles"));

/// DVC's artifact name rule (lower-case letters, digits, `-` and `/`,
/// starting with a letter, not ending with `-` or `/`), which everything
/// mlci writes follows.
static DVC_NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z](?:[a-z0-9\-/]*[a-z0-9])?$").expect("the DVC name pattern compiles")
});

/// Parses a tag name; None for a tag that is not a registry tag (most
/// tags: the check costs a byte scan before any pattern runs).
pub fn parse(tag: &str) -> Option<TagName> {
    if !tag.contains(['@', '#']) {
        return None;
    }
    let m = TAG_RE.captures(tag)?;
    if m.name("created").is_some() {
        // GTO reserves `@created` and indexes no event for it.
        return None;
    }
    let cancel = m.name("cancel").is_some_and(|c| c.as_str() == "!");
    let version = m.name("version").map(|v| v.as_str().to_string());
    let stage = m.name("stage").map(|s| s.as_str().to_string());
    let action = if m.name("deprecated").is_some() {
        Action::Deprecation
    } else if version.is_some() {
        if cancel {
            Action::Deregistration
        } else {
            Action::Registration
        }
    } else if cancel {
        Action::Unassignment
    } else {
        Action::Assignment
    };
    Some(TagName {
        artifact: m["artifact"].replace('=', ":"),
        action,
        version,
        stage,
        counter: m.name("counter").and_then(|c| c.as_str().parse().ok()),
    })
}

impl TagName {
    /// The tag's name: the inverse of [`parse`].
    pub fn render(&self) -> String {
        let name = self.artifact.replace(':', "=");
        let body = match self.action {
            Action::Deprecation => format!("{name}@deprecated"),
            Action::Registration => format!("{name}@{}", self.version.as_deref().unwrap_or("")),
            Action::Deregistration => {
                format!("{name}@{}!", self.version.as_deref().unwrap_or(""))
            }
            Action::Assignment => format!("{name}#{}", self.stage.as_deref().unwrap_or("")),
            Action::Unassignment => format!("{name}#{}!", self.stage.as_deref().unwrap_or("")),
        };
        match self.counter {
            Some(n) => format!("{body}#{n}"),
            None => body,
        }
    }
}

/// Whether `name` is an artifact name GTO reads (`name` or `dir:name`).
pub fn is_readable_name(name: &str) -> bool {
    FULLNAME_RE.is_match(name)
}

/// Whether `name` (`name` or `dir:name`) is one mlci may write: the part
/// after `dir:` follows DVC's rule, and the whole is one GTO reads.
pub fn is_writable_name(name: &str) -> bool {
    let short = name.rsplit_once(':').map_or(name, |(_, n)| n);
    DVC_NAME_RE.is_match(short) && is_readable_name(name)
}

/// Whether `stage` is a stage name GTO accepts.
pub fn is_stage_name(stage: &str) -> bool {
    STAGE_RE.is_match(stage)
}

/// `vX.Y.Z…` as a SemVer version; None when it is not one (GTO requires
/// the leading `v`).
pub fn semver(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v')?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_tag_parses_and_renders_back() {
        for tag in [
            "churn@v1.2.3",
            "churn@v1.2.3-rc.1+build.5!",
            "churn#prod#4",
            "churn#prod!#5",
            "churn#prod",
            "churn@deprecated",
            "churn@deprecated#7",
            "models/eu=churn@v0.0.1",
            "Some_Name#stage-2#10",
        ] {
            let parsed = parse(tag).unwrap_or_else(|| panic!("{tag} parses"));
            assert_eq!(parsed.render(), tag);
        }
        let t = parse("models/eu=churn#prod!#5").unwrap();
        assert_eq!(
            (t.artifact.as_str(), t.action, t.stage.as_deref(), t.counter),
            (
                "models/eu:churn",
                Action::Unassignment,
                Some("prod"),
                Some(5)
            )
        );
    }

    #[test]
    fn tags_that_are_not_the_registrys_are_ignored() {
        for tag in [
            "v1.0.0",
            "release-2024",
            "churn@1.2.3",
            "churn@v1.2",
            "churn@v01.2.3",
            "churn#",
            "-churn#prod",
            "churn@created",
            "churn#prod#x",
            "a:b@v1.0.0",
        ] {
            assert!(parse(tag).is_none(), "{tag} is not a registry tag");
        }
    }

    #[test]
    fn names_mlci_writes_follow_dvc_and_gto_reads_more() {
        assert!(is_writable_name("churn-model"));
        assert!(is_writable_name("models/eu:churn"));
        assert!(!is_writable_name("Churn"));
        assert!(!is_writable_name("1churn"));
        assert!(!is_writable_name("churn_model"));
        assert!(!is_writable_name("churn-"));
        assert!(is_readable_name("Churn_Model"));
        assert!(!is_readable_name("bad name"));
        assert!(semver("v1.2.3-rc.1").is_some());
        assert!(semver("1.2.3").is_none());
    }
}
