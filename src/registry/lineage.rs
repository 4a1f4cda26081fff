//! What a registered version was made from, read from its commit alone:
//! the artifact's digest, the stage that produced it, and from that
//! commit's `mlci.lock` every upstream dependency (data and code) with its
//! hash, the params and the metrics. Two versions' lineages compare into
//! what changed between them; one lineage becomes an in-toto Statement
//! (SLSA provenance v1) or an in-toto link.
//!
//! A dependency is `data` when it is tracked by content (a pointer file,
//! or another stage's output) and `code` when git holds it (scripts,
//! configuration, small files). Only the repository's root `mlci.lock` is
//! read: a stage of a nested pipeline is not followed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value as Json};
use sha2::Digest as _;

use super::RegistryError;
use crate::pipeline::lock::{LockCmd, LockFile, LOCK_FILE};
use crate::revision::{Rev, RevReader};
use crate::store::cache::Cache;

/// The artifact's bytes as one digest set (in-toto's DigestSet keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactDigest {
    /// `sha256` of the file (a directory: of mlci's manifest of it),
    /// `gitBlob` / `gitTree` when git holds it.
    pub digest: BTreeMap<String, String>,
    pub dir: bool,
}

impl ArtifactDigest {
    /// `sha256:ab12…` (or `gitTree:…`): the digest a person reads.
    pub fn short(&self) -> String {
        self.digest
            .iter()
            .find(|(k, _)| k.as_str() == "sha256")
            .or_else(|| self.digest.iter().next())
            .map(|(k, v)| format!("{k}:{}", &v[..12.min(v.len())]))
            .unwrap_or_default()
    }
}

/// One upstream dependency of a version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dep {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// `data` (tracked by content) or `code` (held by git).
    pub kind: &'static str,
    /// The stage that reads it.
    pub stage: String,
}

/// A version's lineage.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    pub name: String,
    pub version: String,
    pub commit: String,
    pub path: String,
    pub artifact: Option<ArtifactDigest>,
    /// The stage whose output the artifact is (None: added by hand).
    pub stage: Option<String>,
    pub command: Option<String>,
    /// Every stage upstream of the artifact, the producing one first.
    pub stages: Vec<String>,
    /// Every upstream dependency, by path.
    pub deps: Vec<Dep>,
    /// file -> key -> value, of every upstream stage.
    pub params: BTreeMap<String, BTreeMap<String, Json>>,
    /// file -> key -> value, as recorded at the commit.
    pub metrics: Json,
}

/// The lineage of version `version` of `name` (at `commit`, artifact
/// `path`), read from that commit.
///
/// # Errors
/// The commit, its `mlci.lock` or its metrics cannot be read.
pub fn of(
    root: &Path,
    cache: &Cache,
    (name, version, commit): (&str, &str, &str),
    path: &str,
) -> Result<Lineage, RegistryError> {
    let id = git2::Oid::from_str(commit).map_err(RegistryError::git)?;
    let mut reader = RevReader::new(
        root,
        cache,
        Rev::Commit {
            name: commit[..8].to_string(),
            id,
        },
    );
    let unreadable = |file: &str, e: String| RegistryError::Declaration {
        file: format!("{file} at {}", &commit[..8]),
        line: None,
        message: e,
    };
    let artifact = digest(&mut reader, path).map_err(|e| unreadable(path, e))?;
    let lock = match reader
        .git_file(LOCK_FILE)
        .map_err(|e| unreadable(LOCK_FILE, e.to_string()))?
    {
        Some(text) => Some(
            LockFile::parse(&String::from_utf8_lossy(&text))
                .map_err(|e| unreadable(LOCK_FILE, e.to_string()))?,
        ),
        None => None,
    };
    let mut out = Lineage {
        name: name.into(),
        version: version.into(),
        commit: commit.into(),
        path: path.into(),
        artifact,
        stage: None,
        command: None,
        stages: Vec::new(),
        deps: Vec::new(),
        params: BTreeMap::new(),
        metrics: serde_json::to_value(super::promote::metrics_at(root, cache, id)?)
            .unwrap_or(Json::Null),
    };
    let Some(lock) = lock else {
        return Ok(out);
    };
    // Which stage writes each output path.
    let producer = |p: &str| -> Option<&str> {
        lock.stages.iter().find_map(|(s, st)| {
            st.outs
                .iter()
                .any(|o| {
                    let o = o.path.as_str();
                    p == o || p.strip_prefix(o).is_some_and(|r| r.starts_with('/'))
                })
                .then_some(s.as_str())
        })
    };
    out.stage = producer(path).map(str::to_string);
    out.command = out
        .stage
        .as_ref()
        .and_then(|s| lock.stages.get(s))
        .map(|s| match &s.cmd {
            LockCmd::One(c) => c.clone(),
            LockCmd::Many(c) => c.join(" && "),
        });
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = out.stage.iter().cloned().collect();
    let mut deps: BTreeMap<String, Dep> = BTreeMap::new();
    while let Some(stage) = queue.pop_front() {
        if !seen.insert(stage.clone()) {
            continue;
        }
        out.stages.push(stage.clone());
        let Some(st) = lock.stages.get(&stage) else {
            continue;
        };
        for (file, values) in &st.params {
            out.params
                .entry(file.clone())
                .or_default()
                .extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for d in &st.deps {
            let p = d.path.as_str();
            let from = producer(p);
            let tracked = from.is_some()
                || reader
                    .tracked(p)
                    .map_err(|e| unreadable(p, e.to_string()))?
                    .is_some();
            if let Some(up) = from {
                queue.push_back(up.to_string());
            }
            deps.entry(p.to_string()).or_insert(Dep {
                path: p.to_string(),
                sha256: d.sha256.clone(),
                size: d.size,
                kind: if tracked { "data" } else { "code" },
                stage: stage.clone(),
            });
        }
    }
    out.deps = deps.into_values().collect();
    Ok(out)
}

/// The digest of the artifact at `path` in commit `id` (see [`of`]).
///
/// # Errors
/// The commit or the artifact's pointer cannot be read.
pub fn artifact_digest(
    root: &Path,
    cache: &Cache,
    id: git2::Oid,
    path: &str,
) -> Result<Option<ArtifactDigest>, RegistryError> {
    let mut reader = RevReader::new(
        root,
        cache,
        Rev::Commit {
            name: id.to_string()[..8].to_string(),
            id,
        },
    );
    digest(&mut reader, path).map_err(|e| RegistryError::Declaration {
        file: format!("{path} at {}", &id.to_string()[..8]),
        line: None,
        message: e,
    })
}

/// The artifact's digest at the reader's commit: its content hash when
/// tracked, else git's ids (and the sha256 of a file's bytes).
fn digest(reader: &mut RevReader<'_>, path: &str) -> Result<Option<ArtifactDigest>, String> {
    if let Some(oid) = reader.object(path).map_err(|e| e.to_string())? {
        return Ok(Some(ArtifactDigest {
            digest: BTreeMap::from([("sha256".to_string(), oid.to_string())]),
            dir: oid.dir,
        }));
    }
    if reader.is_git_dir(path).map_err(|e| e.to_string())? {
        let id = reader.git_tree_id(path).map_err(|e| e.to_string())?;
        return Ok(id.map(|id| ArtifactDigest {
            digest: BTreeMap::from([("gitTree".to_string(), id)]),
            dir: true,
        }));
    }
    let Some(bytes) = reader.git_file(path).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let blob = git2::Oid::hash_object(git2::ObjectType::Blob, &bytes)
        .map_err(|e| e.message().to_string())?;
    Ok(Some(ArtifactDigest {
        digest: BTreeMap::from([
            (
                "sha256".to_string(),
                hex::encode(sha2::Sha256::digest(&bytes)),
            ),
            ("gitBlob".to_string(), blob.to_string()),
        ]),
        dir: false,
    }))
}

/// What changed from lineage `a` to lineage `b`.
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    pub from: String,
    pub to: String,
    pub artifact_changed: bool,
    /// (path, kind, hash in `a`, hash in `b`): added, removed or changed.
    pub deps: Vec<DepChange>,
    /// (file, key, value in `a`, value in `b`).
    pub params: Vec<ValueChange>,
    pub metrics: Vec<ValueChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DepChange {
    pub path: String,
    pub kind: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValueChange {
    pub file: String,
    pub key: String,
    pub from: Option<Json>,
    pub to: Option<Json>,
}

/// The differences from `a` to `b`, each list in path order.
pub fn compare(a: &Lineage, b: &Lineage) -> Changes {
    let mut deps = Vec::new();
    let da: BTreeMap<&str, &Dep> = a.deps.iter().map(|d| (d.path.as_str(), d)).collect();
    let db: BTreeMap<&str, &Dep> = b.deps.iter().map(|d| (d.path.as_str(), d)).collect();
    let paths: BTreeSet<&str> = da.keys().chain(db.keys()).copied().collect();
    for p in paths {
        let (x, y) = (da.get(p), db.get(p));
        if x.map(|d| &d.sha256) != y.map(|d| &d.sha256) {
            deps.push(DepChange {
                path: p.into(),
                kind: y.or(x).map_or("data", |d| d.kind),
                from: x.map(|d| d.sha256.clone()),
                to: y.map(|d| d.sha256.clone()),
            });
        }
    }
    let values = |x: &Json, y: &Json| -> Vec<ValueChange> {
        let flat = |v: &Json| -> BTreeMap<(String, String), Json> {
            let mut out = BTreeMap::new();
            for (f, keys) in v.as_object().into_iter().flatten() {
                for (k, val) in keys.as_object().into_iter().flatten() {
                    out.insert((f.clone(), k.clone()), val.clone());
                }
            }
            out
        };
        let (fx, fy) = (flat(x), flat(y));
        let keys: BTreeSet<&(String, String)> = fx.keys().chain(fy.keys()).collect();
        keys.into_iter()
            .filter(|k| fx.get(*k) != fy.get(*k))
            .map(|k| ValueChange {
                file: k.0.clone(),
                key: k.1.clone(),
                from: fx.get(k).cloned(),
                to: fy.get(k).cloned(),
            })
            .collect()
    };
    let params = |l: &Lineage| serde_json::to_value(&l.params).unwrap_or(Json::Null);
    Changes {
        from: a.version.clone(),
        to: b.version.clone(),
        artifact_changed: a.artifact != b.artifact,
        deps,
        params: values(&params(a), &params(b)),
        metrics: values(&a.metrics, &b.metrics),
    }
}

/// The lineage as an in-toto Statement v1 with a SLSA provenance v1
/// predicate: the artifact as the subject, the upstream dependencies as
/// resolved dependencies (each with its sha256), the stage, command and
/// params as the build's parameters, and the commit as the source.
/// `repository` is the git remote's URL when known.
pub fn statement(l: &Lineage, repository: Option<&str>) -> Json {
    let subject_digest = l
        .artifact
        .as_ref()
        .map(|a| a.digest.clone())
        .unwrap_or_default();
    let mut deps: Vec<Json> = vec![json!({
        "uri": match repository {
            Some(r) => format!("git+{r}@{}", l.commit),
            None => format!("git+file:.@{}", l.commit),
        },
        "digest": {"gitCommit": l.commit},
    })];
    deps.extend(l.deps.iter().map(|d| {
        json!({
            "name": d.path,
            "digest": {"sha256": d.sha256},
            "annotations": {"kind": d.kind, "stage": d.stage, "size": d.size},
        })
    }));
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": l.path,
            "digest": subject_digest,
            "annotations": {"artifact": l.name, "version": l.version, "directory": l.artifact.as_ref().is_some_and(|a| a.dir)},
        }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://github.com/mlci-dev/mlci/blob/main/docs/registry.md#provenance",
                "externalParameters": {
                    "stage": l.stage,
                    "command": l.command,
                    "params": l.params,
                },
                "internalParameters": {"stages": l.stages},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": "https://github.com/mlci-dev/mlci"},
                "metadata": {"invocationId": format!("{}@{}", l.name, l.version)},
                "byproducts": [{"name": "metrics", "content": null, "annotations": l.metrics}],
            },
        },
    })
}

/// The lineage as an in-toto link (the layout-verification format the
/// `in-toto` package reads): the stage as the step, its dependencies as
/// materials and the artifact as the product, sha256 each (a dependency
/// or artifact git holds as a directory has no sha256 and is left out).
pub fn link(l: &Lineage) -> Json {
    let materials: BTreeMap<&str, Json> = l
        .deps
        .iter()
        .map(|d| (d.path.as_str(), json!({"sha256": d.sha256})))
        .collect();
    let mut products = BTreeMap::new();
    if let Some(sha) = l.artifact.as_ref().and_then(|a| a.digest.get("sha256")) {
        products.insert(l.path.as_str(), json!({"sha256": sha}));
    }
    json!({
        "signed": {
            "_type": "link",
            "name": l.stage.clone().unwrap_or_else(|| "add".into()),
            "materials": materials,
            "products": products,
            "byproducts": {},
            "command": l.command.as_deref().map(|c| vec!["sh", "-c", c]).unwrap_or_default(),
            "environment": {"commit": l.commit, "artifact": l.name, "version": l.version},
        },
        "signatures": [],
    })
}
