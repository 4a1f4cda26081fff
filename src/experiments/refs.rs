//! Experiment refs in DVC's layout: `refs/exps/ab/cdef…/NAME` for an
//! experiment on baseline commit `abcdef…` (DVC's `ExpRefInfo`). Other
//! names under `refs/exps/` (DVC's stashes, `apply/`, `celery/`, `exec/`,
//! `temp/`) are not experiments and are skipped.

use std::path::Path;

use super::ExpError;

/// The namespace of experiment refs.
pub const NAMESPACE: &str = "refs/exps";

/// One experiment ref.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpRef {
    /// The baseline commit (40 hex).
    pub baseline: String,
    pub name: String,
}

impl ExpRef {
    /// The full ref name.
    pub fn refname(&self) -> String {
        format!(
            "{NAMESPACE}/{}/{}/{}",
            &self.baseline[..2],
            &self.baseline[2..],
            self.name
        )
    }

    /// Parses a full ref name; None for anything that is not an
    /// experiment (DVC's stashes and working namespaces included).
    pub fn parse(refname: &str) -> Option<ExpRef> {
        let rest = refname.strip_prefix(NAMESPACE)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [a, b, name] = parts.as_slice() else {
            return None;
        };
        let baseline = format!("{a}{b}");
        let hex = baseline.len() == 40 && baseline.bytes().all(|c| c.is_ascii_hexdigit());
        (a.len() == 2 && hex && !name.is_empty()).then(|| ExpRef {
            baseline,
            name: name.to_string(),
        })
    }
}

/// Checks a name the user gives an experiment: one git ref component.
///
/// # Errors
/// [`ExpError::BadName`].
pub fn check_name(name: &str) -> Result<(), ExpError> {
    let ok = !name.is_empty()
        && !name.contains('/')
        && git2::Reference::is_valid_name(&format!("{NAMESPACE}/00/00/{name}"));
    if ok {
        Ok(())
    } else {
        Err(ExpError::BadName { name: name.into() })
    }
}

/// Every experiment ref of the repository with the commit it points to,
/// sorted by baseline then name.
///
/// # Errors
/// The repository cannot be read.
pub fn all(repo: &git2::Repository) -> Result<Vec<(ExpRef, git2::Oid)>, ExpError> {
    let mut out = Vec::new();
    for r in repo.references_glob(&format!("{NAMESPACE}/*"))? {
        let r = r?;
        let (Some(name), Some(target)) = (r.name(), r.target()) else {
            continue;
        };
        if let Some(e) = ExpRef::parse(name) {
            out.push((e, target));
        }
    }
    out.sort();
    Ok(out)
}

/// Finds the experiment `name` (a name, a full ref, or a commit prefix
/// of an experiment), preferring one on `baseline` when several share
/// the name.
///
/// # Errors
/// [`ExpError::Unknown`], [`ExpError::Ambiguous`].
pub fn find(
    repo: &git2::Repository,
    name: &str,
    baseline: Option<&str>,
) -> Result<(ExpRef, git2::Oid), ExpError> {
    let all = all(repo)?;
    let by_name: Vec<&(ExpRef, git2::Oid)> = all
        .iter()
        .filter(|(e, id)| {
            e.name == name
                || e.refname() == name
                || (name.len() >= 7 && id.to_string().starts_with(name))
        })
        .collect();
    match by_name.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let mut known: Vec<String> = all.iter().map(|(e, _)| e.name.clone()).collect();
            known.sort();
            known.dedup();
            Err(ExpError::Unknown {
                name: name.into(),
                known,
            })
        }
        many => match many
            .iter()
            .filter(|(e, _)| Some(e.baseline.as_str()) == baseline)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [one] => Ok((**one).clone()),
            _ => Err(ExpError::Ambiguous {
                name: name.into(),
                count: many.len(),
            }),
        },
    }
}

/// The commit HEAD names at `root`.
///
/// # Errors
/// No commit yet, or git cannot be read.
pub fn head(root: &Path) -> Result<git2::Oid, ExpError> {
    let repo = git2::Repository::open(root)?;
    let id = repo.head()?.peel_to_commit()?.id();
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_round_trip_and_dvc_namespaces_are_skipped() {
        let e = ExpRef {
            baseline: "0123456789abcdef0123456789abcdef01234567".into(),
            name: "exp-1a2b3".into(),
        };
        let r = e.refname();
        assert_eq!(
            r,
            "refs/exps/01/23456789abcdef0123456789abcdef01234567/exp-1a2b3"
        );
        assert_eq!(ExpRef::parse(&r), Some(e));
        for other in [
            "refs/exps/stash",
            "refs/exps/celery/stash",
            "refs/exps/exec/EXEC_BRANCH",
            "refs/exps/apply/ORIG_HEAD",
            "refs/exps/01/2345/x",
        ] {
            assert_eq!(ExpRef::parse(other), None, "{other}");
        }
        assert!(check_name("lr-0.05").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name("bad..name").is_err());
    }
}
