//! `mlci model list|show|history|which`: questions answered from the
//! registry tags alone (and, for `show`, the metrics at each version's
//! commit). `--json` on each.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{json, Value as Json};

use super::place;
use crate::commands::Ctx;
use crate::exit::Exit;
use crate::registry::{self, Registry, RegistryError};
use crate::review::metrics::diff::plain_table;

/// Every artifact: its latest version and the version in each stage.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include deprecated artifacts.
    #[arg(long)]
    pub deprecated: bool,
    #[arg(long)]
    pub json: bool,
}

/// One artifact's versions: commit, date, author, stages, and the metrics
/// recorded at each version's commit. For one version (`NAME@vX.Y.Z`,
/// `NAME#STAGE`, `NAME@latest`): its lineage too, the artifact's digest,
/// the stage that made it, every upstream dependency (data and code) with
/// its hash, the params and the metrics.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// `NAME` (every version), or one version: `NAME@vX.Y.Z`,
    /// `NAME#STAGE`, `NAME@latest`.
    pub name: String,
    /// Leave the metrics out (faster on long histories).
    #[arg(long)]
    pub no_metrics: bool,
    #[arg(long)]
    pub json: bool,
}

/// Every registration and assignment of an artifact, oldest first.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

/// Which version was in STAGE at a moment (default: now). Exits 1 when the
/// stage held no version then.
#[derive(Debug, Args)]
pub struct WhichArgs {
    pub name: String,
    pub stage: String,
    /// A date (`2026-03-01`: the end of that day, UTC), a time (RFC 3339,
    /// or `2026-03-01T12:00` in UTC), or a git revision (a tag's time, or a
    /// commit's).
    #[arg(long, value_name = "DATE-OR-REV")]
    pub at: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub(super) fn cmd_list(ctx: &Ctx, a: ListArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let reg = registry::open(&p.root)?;
    reg.readable()?;
    let ev = &reg.events;
    let mut stages_used: Vec<String> = Vec::new();
    let mut items = Vec::new();
    for art in reg.artifacts.values() {
        let deprecated = art.deprecated(ev);
        if deprecated && !a.deprecated {
            continue;
        }
        let stages: BTreeMap<String, String> = art
            .stages(ev)
            .into_iter()
            .map(|(s, v)| (s, v.version.clone()))
            .collect();
        for s in stages.keys() {
            if !stages_used.contains(s) {
                stages_used.push(s.clone());
            }
        }
        items.push(json!({
            "name": art.name,
            "latest": art.latest(ev).map(|v| v.version.clone()),
            "stages": stages,
            "deprecated": deprecated,
        }));
    }
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(
            &json!({ "artifacts": items }),
        )?)?;
        return Ok(Exit::Ok);
    }
    if items.is_empty() {
        ctx.printer
            .info("no registered artifacts: `mlci model register NAME` adds one");
        return Ok(Exit::Ok);
    }
    stages_used.sort();
    let mut header = vec!["name".to_string(), "latest".to_string()];
    header.extend(stages_used.iter().map(|s| format!("#{s}")));
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let mut row = vec![
                format!(
                    "{}{}",
                    i["name"].as_str().unwrap_or_default(),
                    if i["deprecated"] == true {
                        " (deprecated)"
                    } else {
                        ""
                    }
                ),
                i["latest"].as_str().unwrap_or("-").to_string(),
            ];
            row.extend(
                stages_used
                    .iter()
                    .map(|s| i["stages"][s].as_str().unwrap_or("-").to_string()),
            );
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    ctx.printer.data(plain_table(&header, &rows).trim_end())?;
    Ok(Exit::Ok)
}

pub(super) fn cmd_show(ctx: &Ctx, a: ShowArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    if registry::is_shortcut(&a.name) || a.name.ends_with("@latest") {
        return show_one(ctx, &p, &a);
    }
    let reg = registry::open_artifact(&p.root, &a.name)?;
    let ev = &reg.events;
    let art = reg.require(&a.name)?;
    let current = art.stages(ev);
    let active = art.active_versions(ev, false);
    // Each version's metrics come from its own commit: read in parallel.
    let metrics: Vec<Json> = {
        use rayon::prelude::*;
        active
            .par_iter()
            .map(|v| {
                if a.no_metrics {
                    return Json::Null;
                }
                let read = git2::Oid::from_str(&v.commit)
                    .map_err(RegistryError::git)
                    .and_then(|id| registry::promote::metrics_at(&p.root, &p.cache, id));
                match read {
                    Ok(m) => serde_json::to_value(m).unwrap_or(Json::Null),
                    // A commit whose metrics cannot be read still lists.
                    Err(e) => json!({ "error": e.to_string() }),
                }
            })
            .collect()
    };
    let mut versions = Vec::new();
    for (v, metrics) in active.iter().zip(metrics) {
        let reg_event = v.registration(ev);
        let stages: Vec<&str> = current
            .iter()
            .filter(|(_, cv)| cv.version == v.version)
            .map(|(s, _)| s.as_str())
            .collect();
        versions.push(json!({
            "version": v.version,
            "registered": v.registered(ev),
            "commit": v.commit,
            "created_at": reg_event.map(|e| e.created_at.clone()),
            "author": reg_event.map(|e| e.author.clone()),
            "author_email": reg_event.map(|e| e.author_email.clone()),
            "message": reg_event.map(|e| e.message.clone()),
            "tag": reg_event.map(|e| e.tag.clone()),
            "stages": stages,
            "metrics": metrics,
        }));
    }
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(&json!({
            "name": art.name,
            "deprecated": art.deprecated(ev),
            "versions": versions,
        }))?)?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            let stages: Vec<&str> = v["stages"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            vec![
                s("version"),
                v["commit"]
                    .as_str()
                    .map(|c| c[..8].to_string())
                    .unwrap_or_default(),
                s("created_at"),
                s("author"),
                if stages.is_empty() {
                    "-".into()
                } else {
                    stages.join(", ")
                },
                metrics_cell(&v["metrics"]),
            ]
        })
        .collect();
    let header = [
        "version", "commit", "created", "author", "stages", "metrics",
    ];
    ctx.printer.data(plain_table(&header, &rows).trim_end())?;
    if art.deprecated(ev) {
        ctx.printer.info(&format!("{} is deprecated", art.name));
    }
    Ok(Exit::Ok)
}

/// One version with its lineage.
fn show_one(ctx: &Ctx, p: &crate::repo::Place, a: &ShowArgs) -> anyhow::Result<Exit> {
    let l = super::lineage::lineage_of(p, &a.name)?;
    let reg = registry::open_artifact(&p.root, &l.name)?;
    let art = reg.require(&l.name)?;
    let stages: Vec<String> = art
        .stages(&reg.events)
        .into_iter()
        .filter(|(_, v)| v.version == l.version && v.commit == l.commit)
        .map(|(s, _)| s)
        .collect();
    if a.json {
        let mut v = serde_json::to_value(&l)?;
        v["stages_held"] = json!(stages);
        v["deprecated"] = json!(art.deprecated(&reg.events));
        ctx.printer.data(&serde_json::to_string_pretty(&v)?)?;
    } else {
        ctx.printer
            .data(super::lineage::render(&l, &stages).trim_end())?;
    }
    Ok(Exit::Ok)
}

/// `auc=0.91 loss=0.2` (bare keys when one file holds them all).
fn metrics_cell(m: &Json) -> String {
    let Some(files) = m.as_object() else {
        return "-".into();
    };
    if files.contains_key("error") {
        return "unreadable".into();
    }
    let one = files.len() == 1;
    let mut cells = Vec::new();
    for (file, keys) in files {
        for (k, v) in keys.as_object().into_iter().flatten() {
            let value = match v.as_f64() {
                Some(x) => crate::review::metrics::diff::fmt_number(x, 4),
                None => v.to_string(),
            };
            cells.push(if one {
                format!("{k}={value}")
            } else {
                format!("{file}:{k}={value}")
            });
        }
    }
    if cells.is_empty() {
        "-".into()
    } else {
        cells.join(" ")
    }
}

pub(super) fn cmd_history(ctx: &Ctx, a: HistoryArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let reg = registry::open_artifact(&p.root, &a.name)?;
    let art = reg.require(&a.name)?;
    let events = art.events(&reg.events);
    if a.json {
        ctx.printer.data(&serde_json::to_string_pretty(&events)?)?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.created_at.clone(),
                e.action.as_str().to_string(),
                e.version.clone().unwrap_or_else(|| "-".into()),
                e.stage.clone().unwrap_or_else(|| "-".into()),
                e.commit[..8].to_string(),
                e.author.clone(),
                e.tag.clone(),
            ]
        })
        .collect();
    let header = [
        "time", "event", "version", "stage", "commit", "author", "tag",
    ];
    ctx.printer.data(plain_table(&header, &rows).trim_end())?;
    Ok(Exit::Ok)
}

pub(super) fn cmd_which(ctx: &Ctx, a: WhichArgs) -> anyhow::Result<Exit> {
    let p = place(ctx)?;
    let reg = registry::open_artifact(&p.root, &a.name)?;
    reg.require(&a.name)?;
    let (state, at_label): (Registry, String) = match &a.at {
        None => (reg.clone(), "now".into()),
        Some(at) => {
            let t = moment(&p.root, at)?;
            (reg.as_of(t), registry::rfc3339(t, 0))
        }
    };
    let found = state
        .artifact(&a.name)
        .and_then(|art| art.stage_holders(&state.events).remove(a.stage.as_str()))
        .map(|(v, s)| {
            let tag = s.authoring(&state.events);
            (
                v.version.clone(),
                v.commit.clone(),
                tag.map(|e| e.tag.clone()),
            )
        });
    if a.json {
        let (version, commit, tag) = match &found {
            Some((v, c, t)) => (Some(v.clone()), Some(c.clone()), t.clone()),
            None => (None, None, None),
        };
        ctx.printer.data(&serde_json::to_string_pretty(&json!({
            "name": a.name, "stage": a.stage, "at": at_label,
            "version": version, "commit": commit, "tag": tag,
        }))?)?;
    } else if let Some((v, c, t)) = &found {
        ctx.printer.data(&format!(
            "{v} (commit {}, tag {})",
            &c[..8],
            t.as_deref().unwrap_or("-")
        ))?;
    } else {
        ctx.printer.info(&format!(
            "no version of {} was in `{}` at {at_label}",
            a.name, a.stage
        ));
    }
    Ok(if found.is_some() {
        Exit::Ok
    } else {
        Exit::Differs
    })
}

/// Seconds since the epoch that `at` names: an RFC 3339 time, a civil time
/// or date in UTC (a date means the end of that day), or a git revision (an
/// annotated tag's time, else the commit's).
fn moment(root: &std::path::Path, at: &str) -> Result<i64, RegistryError> {
    if let Ok(ts) = at.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    if let Ok(dt) = at.parse::<jiff::civil::DateTime>() {
        if at.len() > 10 {
            if let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::UTC) {
                return Ok(z.timestamp().as_second());
            }
        }
    }
    if let Ok(d) = at.parse::<jiff::civil::Date>() {
        if let Ok(z) = d.at(23, 59, 59, 0).to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(z.timestamp().as_second());
        }
    }
    let bad = |message: String| RegistryError::BadRev {
        rev: at.into(),
        message,
    };
    let repo = git2::Repository::open(root).map_err(RegistryError::git)?;
    let obj = repo
        .revparse_single(at)
        .map_err(|e| bad(format!("neither a date nor a revision: {}", e.message())))?;
    if let Some(t) = obj.as_tag().and_then(|t| t.tagger()) {
        return Ok(t.when().seconds());
    }
    let c = obj
        .peel_to_commit()
        .map_err(|e| bad(e.message().to_string()))?;
    let seconds = c.committer().when().seconds();
    Ok(seconds)
}
