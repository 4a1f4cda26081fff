//! `mlci status`: what differs between the workspace and the pointers.

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::config::Overrides;
use crate::pipeline::status::{stage_reasons, Reason};
use crate::repo::lock::LockError;
use crate::track::{DataState, DataStatus, Workspace};

use super::{reporter, Ctx};
use crate::sync::{RemotePath, RemoteState};
use crate::targets::select_tracked;

/// Show what changed in tracked files and directories.
///
/// Costs one stat per unchanged file: hashes are remembered per (inode,
/// size, mtime, ctime) in `.mlci/tmp/`. Exits 0 whatever it finds, unless
/// `--check` is given.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Limit the report to these tracked paths (or pointer files).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
    /// Print `{data, stages, remote}` as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when anything differs (for scripts and CI).
    #[arg(long)]
    pub check: bool,
    /// Also compare with a remote (the default one, or NAME): what is only
    /// local, only remote, or missing everywhere. Asks the remote itself.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub remote: Option<String>,
}

#[derive(Serialize)]
struct StageJson {
    name: String,
    state: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    frozen: bool,
    reasons: Vec<ReasonJson>,
}

#[derive(Serialize)]
struct ReasonJson {
    #[serde(flatten)]
    reason: Reason,
    text: String,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    data: &'a [DataStatus],
    stages: Vec<StageJson>,
    /// Remote comparison (`--remote`).
    remote: Option<RemoteStatus>,
}

pub fn cmd_status(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<Exit> {
    let StatusArgs {
        targets,
        json,
        check,
        remote,
    } = args;
    if let Ok(root) = crate::repo::find_root(&ctx.cwd) {
        if crate::repo::format::Format::of(&root) == Some(crate::repo::format::Format::Dvc) {
            return dvc_status(ctx, &root, &targets, remote, (json, check));
        }
    }
    let repo = ctx.repo(&Overrides {
        remote: remote.clone().filter(|r| !r.is_empty()),
        ..Overrides::default()
    })?;
    // Status only reads the workspace; the lock protects the hash state it
    // refreshes. If another mlci holds the lock, report without saving.
    let lock = match repo.lock() {
        Ok(l) => Some(l),
        Err(LockError::Busy { .. }) => {
            ctx.printer
                .info("note: another mlci process is running; the hash state is not refreshed");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let pipeline = crate::pipeline::load(&repo.root)?;
    // Stage and group names select stages, as in `dvc status build`; the
    // other targets are tracked paths.
    let split = crate::targets::split_targets(&pipeline, &ctx.cwd, &targets);
    let tracked = if targets.is_empty() || !split.paths.is_empty() {
        select_tracked(&repo, &ctx.cwd, &split.paths)?
    } else {
        Vec::new()
    };
    let reporter = reporter::for_printer(ctx.printer);
    let mut ws = Workspace::open(&repo);
    let statuses = ws.status(&tracked, reporter.as_ref())?;
    let wanted: Vec<&str> = split
        .stages
        .iter()
        .map(|&i| pipeline.stages[i].name.as_str())
        .collect();
    let stages = if (targets.is_empty() || !wanted.is_empty()) && !pipeline.stages.is_empty() {
        super::note_unused_keys(ctx, &pipeline);
        stage_states(&mut ws, &pipeline, &wanted, reporter.as_ref())?
    } else {
        Vec::new()
    };
    if lock.is_some() {
        ws.finish()?;
    }
    let remote = match remote {
        Some(_) => {
            let remote = crate::sync::require(&repo.settings, &repo.root)?;
            let tracked = crate::targets::select_with_lock_outs(&repo, &ctx.cwd, &split.paths)?;
            let session = crate::sync::Session {
                repo: &repo,
                remote: &remote,
                run_cache: false,
                reporter: reporter.as_ref(),
            };
            Some(RemoteStatus {
                paths: crate::sync::compare(&session, &tracked)?,
                name: remote.name,
                url: remote.url,
            })
        }
        None => None,
    };
    let differs = statuses
        .iter()
        .any(|s| s.state != DataState::Unchanged || !s.in_cache)
        || stages.iter().any(|s| s.state == "stale")
        || remote
            .as_ref()
            .is_some_and(|r| r.paths.iter().any(|p| p.state != RemoteState::Synced));
    if json {
        let out = StatusJson {
            data: &statuses,
            stages,
            remote,
        };
        ctx.printer.data(&serde_json::to_string_pretty(&out)?)?;
    } else {
        let mut text = render_text(&statuses, &stages);
        if let Some(r) = &remote {
            text.push_str(&render_remote(r));
        }
        ctx.printer.data(&text)?;
        // Data the cache lacks (a fresh clone before `pull`): said once.
        let lacking = statuses.iter().any(|s| !s.in_cache && s.damaged.is_none())
            || stages
                .iter()
                .flat_map(|s| &s.reasons)
                .any(|r| matches!(r.reason, crate::pipeline::status::Reason::DepDeleted { .. }));
        if lacking {
            ctx.printer.info(
                "hint: the workspace and the cache lack tracked data (a fresh clone?): `mlci pull` fetches it from the remote",
            );
        }
    }
    Ok(if check && differs {
        Exit::Differs
    } else {
        Exit::Ok
    })
}

/// `mlci status` in a DVC repository used in place (`dvc::status`): the
/// `.dvc` files' outputs and the stages, judged as DVC judges them, printed
/// as in mlci's own format. Targets and `--remote` are not built there yet.
fn dvc_status(
    ctx: &Ctx,
    root: &std::path::Path,
    targets: &[PathBuf],
    remote: Option<String>,
    (json, check): (bool, bool),
) -> anyhow::Result<Exit> {
    let repo = crate::dvc::config::open(
        root,
        &Overrides {
            remote: remote.clone().filter(|r| !r.is_empty()),
            ..Overrides::default()
        },
    )?;
    let pipeline = crate::pipeline::load(root)?;
    let reporter = reporter::for_printer(ctx.printer);
    let judged = crate::dvc::status::judge(root, &pipeline, reporter.as_ref())?;
    // Stage names select stages (as `dvc status train`), the rest are
    // tracked paths or their `.dvc` files (a directory selects what is
    // under it).
    let split = crate::targets::split_targets(&pipeline, &ctx.cwd, targets);
    let paths: Vec<String> = split
        .paths
        .iter()
        .map(|p| {
            let rel = repo.resolve_user_path(&ctx.cwd, p)?;
            Ok(rel.trim_end_matches('/').to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    let wanted: Vec<&str> = split
        .stages
        .iter()
        .map(|&i| pipeline.stages[i].name.as_str())
        .collect();
    let picks = |path: &str, pointer: Option<&str>| {
        paths
            .iter()
            .any(|t| t == path || path.starts_with(&format!("{t}/")) || Some(t.as_str()) == pointer)
    };
    let data: Vec<DataStatus> = judged
        .data
        .into_iter()
        .filter(|d| targets.is_empty() || picks(&d.path, Some(&d.pointer)))
        .collect();
    let stages: Vec<StageJson> = judged
        .stages
        .into_iter()
        .filter(|st| targets.is_empty() || wanted.contains(&st.name.as_str()))
        .map(StageJson::of)
        .collect();
    let remote = match remote {
        None => None,
        Some(_) if repo.settings.remotes.is_empty() => {
            anyhow::bail!(crate::dvc::DvcError::NoRemote)
        }
        Some(_) => {
            let r = crate::sync::require(&repo.settings, root)?;
            let mut selected: Vec<String> = paths.clone();
            selected.extend(wanted.iter().map(|s| s.to_string()));
            let outs = match (targets.is_empty(), selected.is_empty()) {
                (false, true) => Vec::new(),
                _ => crate::dvc::sync::outs(root, &pipeline, &selected)?,
            };
            Some(RemoteStatus {
                paths: crate::dvc::sync::compare(root, &r, &outs, reporter.as_ref())?,
                name: r.name,
                url: r.url,
            })
        }
    };
    let differs = data
        .iter()
        .any(|s| s.state != DataState::Unchanged || !s.in_cache)
        || stages.iter().any(|s| s.state == "stale")
        || remote.as_ref().is_some_and(|r| {
            r.paths
                .iter()
                .any(|p| p.state != crate::sync::RemoteState::Synced)
        });
    if json {
        let out = StatusJson {
            data: &data,
            stages,
            remote,
        };
        ctx.printer.data(&serde_json::to_string_pretty(&out)?)?;
    } else {
        let mut text = render_text(&data, &stages);
        if let Some(r) = &remote {
            text = format!("{}\n{}", text.trim_end(), render_remote(r));
        }
        ctx.printer.data(text.trim_end())?;
    }
    Ok(if check && differs {
        Exit::Differs
    } else {
        Exit::Ok
    })
}

impl StageJson {
    fn of(st: crate::pipeline::status::StageState) -> StageJson {
        StageJson {
            state: if !st.reasons.is_empty() {
                "stale"
            } else if st.frozen {
                "frozen"
            } else {
                "up_to_date"
            },
            frozen: st.frozen,
            name: st.name,
            reasons: st
                .reasons
                .into_iter()
                .map(|r| ReasonJson {
                    text: r.to_string(),
                    reason: r,
                })
                .collect(),
        }
    }
}

/// The stages (those named in `wanted`, or all) with their state:
/// `stale` with reasons, `frozen`, or `up_to_date`.
fn stage_states(
    ws: &mut Workspace,
    pipeline: &crate::pipeline::Pipeline,
    wanted: &[&str],
    reporter: &dyn crate::progress::Reporter,
) -> anyhow::Result<Vec<StageJson>> {
    Ok(stage_reasons(ws, pipeline, reporter)?
        .into_iter()
        .filter(|st| wanted.is_empty() || wanted.contains(&st.name.as_str()))
        .map(StageJson::of)
        .collect())
}

/// The text report: data paths that differ, then stale stages.
fn render_text(statuses: &[DataStatus], stages: &[StageJson]) -> String {
    let mut text = if statuses.is_empty() && !stages.is_empty() {
        String::new()
    } else {
        render(statuses)
    };
    if !stages.is_empty() {
        let stale: Vec<&StageJson> = stages.iter().filter(|s| s.state == "stale").collect();
        if stale.is_empty() {
            text.push_str(&format!("{} stage(s) up to date\n", stages.len()));
        }
        for s in stale {
            let frozen = if s.frozen {
                " (frozen: repro will not rerun it)"
            } else {
                ""
            };
            text.push_str(&format!("stage {}: stale{frozen}\n", s.name));
            for r in &s.reasons {
                text.push_str(&format!("    {}\n", r.text));
            }
        }
    }
    text
}

/// The plain-text report: one line per path that differs, then details.
fn render(statuses: &[DataStatus]) -> String {
    let mut out = String::new();
    if statuses.is_empty() {
        return "nothing is tracked yet (`mlci add <path>` starts)".into();
    }
    for s in statuses {
        let mut notes = Vec::new();
        match s.state {
            DataState::Unchanged => {}
            DataState::Modified => notes.push("modified".to_string()),
            DataState::Deleted => notes.push("deleted".to_string()),
        }
        if let Some(why) = &s.damaged {
            notes.push(format!("invalid in the cache ({why})"));
        } else if !s.in_cache {
            notes.push("not in cache".into());
        }
        if notes.is_empty() {
            continue;
        }
        out.push_str(&format!("{}: {}\n", s.path, notes.join(", ")));
        if let Some(c) = &s.changes {
            for (label, list) in [
                ("added", &c.added),
                ("modified", &c.modified),
                ("deleted", &c.deleted),
            ] {
                for p in list.iter().take(5) {
                    out.push_str(&format!("    {label}: {p}\n"));
                }
                if list.len() > 5 {
                    out.push_str(&format!("    … {} more {label}\n", list.len() - 5));
                }
            }
        }
    }
    if out.is_empty() {
        out = format!("{} tracked path(s) up to date\n", statuses.len());
    }
    out
}

#[derive(Debug, Serialize)]
pub struct RemoteStatus {
    name: String,
    url: String,
    paths: Vec<RemotePath>,
}

fn render_remote(r: &RemoteStatus) -> String {
    let mut out = format!("remote `{}` ({}):\n", r.name, r.url);
    let mut any = false;
    for p in &r.paths {
        let what = match p.state {
            RemoteState::Synced => continue,
            RemoteState::NotPushed => format!(
                "not pushed ({} of {} object(s) only local)",
                p.local_only, p.objects
            ),
            RemoteState::NotFetched => format!(
                "not fetched ({} of {} object(s) only on the remote)",
                p.remote_only, p.objects
            ),
            RemoteState::Missing => format!(
                "missing everywhere ({} of {} object(s) in neither the cache nor the remote)",
                p.missing, p.objects
            ),
        };
        any = true;
        out.push_str(&format!("    {}: {what}\n", p.path));
    }
    if !any {
        out.push_str(&format!("    {} tracked path(s) in sync\n", r.paths.len()));
    }
    out
}
