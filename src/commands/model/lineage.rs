//! `mlci model show NAME@vX.Y.Z|NAME#STAGE` (one version and its
//! lineage), `mlci model lineage A [B]` (what changed between two
//! versions' lineages) and `mlci model provenance SPEC` (an in-toto
//! Statement or link). The reading is `registry::lineage`'s.

use clap::{Args, ValueEnum};
use serde_json::json;

use super::place;
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::registry::lineage::{self, Lineage};
use crate::registry::{self, declare, RegistryError};
use crate::review::metrics::diff::plain_table;

/// What changed between two versions: the artifact, each upstream
/// dependency (data and code), the params and the metrics, from each
/// version's commit and its `mlci.lock`.
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// The version compared (`NAME#STAGE`, `NAME@vX.Y.Z`, `NAME`).
    pub spec: String,
    /// The version it is compared with (default: the next lower active
    /// version of the same artifact).
    pub against: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// A version's provenance, JSON on stdout: an in-toto Statement v1 with a
/// SLSA provenance v1 predicate (default), or an in-toto link.
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// `NAME#STAGE`, `NAME@vX.Y.Z` or `NAME` (the latest).
    pub spec: String,
    #[arg(long, value_enum, default_value = "statement")]
    pub format: ProvenanceFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProvenanceFormat {
    /// in-toto Statement v1, SLSA provenance v1 predicate.
    Statement,
    /// in-toto link metadata (unsigned).
    Link,
}

/// The lineage of the version `spec` names.
pub(super) fn lineage_of(p: &crate::repo::Place, spec: &str) -> anyhow::Result<Lineage> {
    let (name, sel) = registry::parse_shortcut(spec)?;
    let reg = registry::open_artifact(&p.root, &name)?;
    let v = reg.select(&name, &sel)?;
    of_version(p, &name, &v.version, &v.commit)
}

fn of_version(
    p: &crate::repo::Place,
    name: &str,
    version: &str,
    commit: &str,
) -> anyhow::Result<Lineage> {
    let id = git2::Oid::from_str(commit).map_err(RegistryError::git)?;
    let tree = crate::pipeline::source::GitTree::open(&p.root, id).map_err(RegistryError::Git)?;
    let decl = declare::find(&tree, name)?.ok_or_else(|| RegistryError::Undeclared {
        name: name.into(),
        rev: commit[..8].into(),
    })?;
    Ok(lineage::of(
        &p.root,
        &p.cache,
        (name, version, commit),
        &decl.path,
    )?)
}

/// One version and what it was made from, as text.
pub(super) fn render(l: &Lineage, stages: &[String]) -> String {
    let mut out = format!(
        "{} {}\n  commit    {}\n  artifact  {} {}\n  stages    {}\n",
        l.name,
        l.version,
        l.commit,
        l.path,
        l.artifact
            .as_ref()
            .map(|a| format!("({})", a.short()))
            .unwrap_or_else(|| "(not found at the commit)".into()),
        if stages.is_empty() {
            "-".into()
        } else {
            stages.join(", ")
        },
    );
    match (&l.stage, &l.command) {
        (Some(s), Some(c)) => out.push_str(&format!("  made by   stage `{s}`: {c}\n")),
        _ => out.push_str("  made by   no stage (tracked or committed as it is)\n"),
    }
    if !l.deps.is_empty() {
        let rows: Vec<Vec<String>> = l
            .deps
            .iter()
            .map(|d| {
                vec![
                    d.kind.to_string(),
                    d.path.clone(),
                    d.sha256[..12.min(d.sha256.len())].to_string(),
                    d.stage.clone(),
                ]
            })
            .collect();
        out.push_str("\nupstream\n");
        out.push_str(&plain_table(&["kind", "path", "sha256", "read by"], &rows));
    }
    let params = flat(&serde_json::to_value(&l.params).unwrap_or_default());
    if !params.is_empty() {
        out.push_str("\nparams\n");
        out.push_str(&plain_table(&["file", "key", "value"], &params));
    }
    let metrics = flat(&l.metrics);
    if !metrics.is_empty() {
        out.push_str("\nmetrics\n");
        out.push_str(&plain_table(&["file", "key", "value"], &metrics));
    }
    out
}

/// file -> key -> value as rows.
fn flat(v: &serde_json::Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (f, keys) in v.as_object().into_iter().flatten() {
        for (k, val) in keys.as_object().into_iter().flatten() {
            rows.push(vec![f.clone(), k.clone(), show(Some(val))]);
        }
    }
    rows
}

fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "-".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(x) => x.to_string(),
    }
}

pub(super) fn cmd_lineage(ctx: &Ctx, a: LineageArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let to = lineage_of(&p, &a.spec)?;
    let from = match &a.against {
        Some(spec) => lineage_of(&p, spec)?,
        None => {
            let reg = registry::open_artifact(&p.root, &to.name)?;
            let art = reg.require(&to.name)?;
            let versions = art.active_versions(&reg.events, true);
            let below = versions
                .iter()
                .skip_while(|v| v.version != to.version)
                .nth(1)
                .ok_or_else(|| RegistryError::Refused {
                    message: format!(
                        "{} {} has no lower active version to compare with",
                        to.name, to.version
                    ),
                    hint: format!(
                        "name the other version: `mlci model lineage {} {}@vX.Y.Z`",
                        a.spec, to.name
                    ),
                })?;
            of_version(&p, &to.name, &below.version, &below.commit)?
        }
    };
    let changes = lineage::compare(&from, &to);
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(&json!({
            "from": from, "to": to, "changes": changes,
        }))?)?;
        return Ok(Exit::Ok);
    }
    let mut out = format!(
        "{} {} → {}: artifact {}\n",
        to.name,
        from.version,
        to.version,
        if changes.artifact_changed {
            format!(
                "changed ({} → {})",
                from.artifact
                    .as_ref()
                    .map(|x| x.short())
                    .unwrap_or("-".into()),
                to.artifact
                    .as_ref()
                    .map(|x| x.short())
                    .unwrap_or("-".into())
            )
        } else {
            "unchanged".into()
        }
    );
    let short = |h: &Option<String>| {
        h.as_deref()
            .map(|h| h[..12.min(h.len())].to_string())
            .unwrap_or_else(|| "-".into())
    };
    for (kind, title) in [("data", "data"), ("code", "code")] {
        let rows: Vec<Vec<String>> = changes
            .deps
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| vec![d.path.clone(), short(&d.from), short(&d.to)])
            .collect();
        out.push_str(&format!("\n{title}: "));
        if rows.is_empty() {
            out.push_str("unchanged\n");
        } else {
            out.push_str(&format!("{} changed\n", rows.len()));
            out.push_str(&plain_table(
                &["path", from.version.as_str(), to.version.as_str()],
                &rows,
            ));
        }
    }
    for (title, list) in [("params", &changes.params), ("metrics", &changes.metrics)] {
        out.push_str(&format!("\n{title}: "));
        if list.is_empty() {
            out.push_str("unchanged\n");
            continue;
        }
        out.push_str(&format!("{} changed\n", list.len()));
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                vec![
                    c.file.clone(),
                    c.key.clone(),
                    show(c.from.as_ref()),
                    show(c.to.as_ref()),
                ]
            })
            .collect();
        out.push_str(&plain_table(
            &["file", "key", from.version.as_str(), to.version.as_str()],
            &rows,
        ));
    }
    ctx.printer.data(out.trim_end())?;
    Ok(Exit::Ok)
}

pub(super) fn cmd_provenance(ctx: &Ctx, a: ProvenanceArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let l = lineage_of(&p, &a.spec)?;
    let remote = git2::Repository::open(&p.root)
        .ok()
        .and_then(|r| {
            r.find_remote("origin")
                .ok()
                .and_then(|o| o.url().map(str::to_string))
        })
        // A URL may carry a credential: only its host and path are kept.
        .map(|u| crate::secrets::scrub_shapes(&u).into_owned());
    let doc = match a.format {
        ProvenanceFormat::Statement => lineage::statement(&l, remote.as_deref()),
        ProvenanceFormat::Link => lineage::link(&l),
    };
    ctx.printer.data(&serde_json::to_string_pretty(&doc)?)?;
    Ok(Exit::Ok)
}
