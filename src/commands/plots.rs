//! `mlci plots show [TARGETS]` and `mlci plots diff [REV...]`: every plot
//! of the revisions on one self-contained HTML page (the report's pictures,
//! `review::svg`, inline: no script, no network), or with `--json` the
//! plot data as `dvc plots show --json` gives it (`review::plot_data`).
//! Revisions are chosen as DVC chooses them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::pipeline::{Pipeline, PlotDef};
use crate::repo::Repo;
use crate::revision::{Rev, RevReader};

/// Plots on one HTML page, or their data as JSON.
#[derive(Debug, Args)]
pub struct PlotsArgs {
    #[command(subcommand)]
    pub command: PlotsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlotsCommand {
    Show(PlotsShowArgs),
    Diff(PlotsDiffArgs),
}

/// Where the page goes, and the JSON instead of it.
#[derive(Debug, Args)]
pub struct Output {
    /// Where to write the page.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "mlci_plots/index.html"
    )]
    pub out: PathBuf,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Print the plot data as `dvc plots show --json` does (DVC's
    /// datapoints under `content.data.values`, in a Vega-Lite spec of
    /// mlci's) instead of writing the page.
    #[arg(long, conflicts_with_all = ["open"])]
    pub json: bool,
}

/// Every plot of the workspace (or the TARGETS: plot ids or files) drawn
/// on one self-contained HTML page (inline SVG, no network), as `dvc plots
/// show` writes it.
#[derive(Debug, Args)]
pub struct PlotsShowArgs {
    /// Plot ids or plot files (default: every plot).
    #[arg(value_name = "TARGETS")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub output: Output,
}

/// Every plot of several revisions drawn together, each revision in its
/// own colour and named in a legend, on one self-contained HTML page. The
/// revisions are DVC's: none given, HEAD and the workspace (the workspace
/// alone when git sees no change to tracked files); one, it and the
/// workspace; more, those.
#[derive(Debug, Args)]
pub struct PlotsDiffArgs {
    /// Revisions to compare (see above).
    #[arg(value_name = "REV")]
    pub revs: Vec<String>,
    /// Only these plot ids or plot files.
    #[arg(long, value_name = "TARGET", num_args = 1..)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub output: Output,
}

pub fn cmd_plots(ctx: &Ctx, a: PlotsArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo_in_place(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    match a.command {
        PlotsCommand::Show(a) => draw(
            ctx,
            (&repo, &pipeline),
            &a.targets,
            vec!["workspace".into()],
            &a.output,
        ),
        PlotsCommand::Diff(a) => {
            let revs = diff_revisions(&repo, a.revs)?;
            draw(ctx, (&repo, &pipeline), &a.targets, revs, &a.output)
        }
    }
}

/// DVC's revisions for `plots diff` (`dvc/repo/plots/diff.py`): none
/// given, HEAD and the workspace when git's tracked files changed, else
/// the workspace; one, it and the workspace; the workspace always first.
fn diff_revisions(repo: &Repo, mut revs: Vec<String>) -> anyhow::Result<Vec<String>> {
    if revs.len() <= 1 {
        if revs.is_empty() && tracked_changes(repo)? {
            revs.push("HEAD".into());
        }
        revs.push("workspace".into());
    }
    if let Some(at) = revs.iter().position(|r| r == "workspace") {
        let w = revs.remove(at);
        revs.insert(0, w);
    }
    let mut seen = std::collections::HashSet::new();
    revs.retain(|r| seen.insert(r.clone()));
    Ok(revs)
}

/// Whether git sees a change to a tracked file (untracked files aside).
fn tracked_changes(repo: &Repo) -> anyhow::Result<bool> {
    let Ok(git) = git2::Repository::open(&repo.root) else {
        return Ok(false);
    };
    if git.head().is_err() {
        return Ok(false);
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false);
    let changed = !git.statuses(Some(&mut opts))?.is_empty();
    Ok(changed)
}

/// The plots `targets` name (ids or files; all when empty).
fn chosen(pipeline: &Pipeline, targets: &[String]) -> anyhow::Result<Vec<PlotDef>> {
    let clean = |t: &String| t.trim_start_matches("./").to_string();
    let targets: Vec<String> = targets.iter().map(clean).collect();
    let defs: Vec<PlotDef> = pipeline
        .plots
        .iter()
        .filter(|d| {
            targets.is_empty()
                || targets
                    .iter()
                    .any(|t| *t == d.id || d.sources.iter().any(|s| s.file == *t))
        })
        .cloned()
        .collect();
    if let Some(t) = targets.iter().find(|t| {
        !pipeline
            .plots
            .iter()
            .any(|d| **t == d.id || d.sources.iter().any(|s| s.file == **t))
    }) {
        return Err(crate::review::compare::ReviewError::NoSuchPlot { target: t.clone() }.into());
    }
    Ok(defs)
}

fn draw(
    ctx: &Ctx,
    (repo, pipeline): (&Repo, &Pipeline),
    targets: &[String],
    revs: Vec<String>,
    out: &Output,
) -> anyhow::Result<Exit> {
    let defs = chosen(pipeline, targets)?;
    let parsed: Vec<(String, Rev)> = revs
        .iter()
        .map(|r| Ok((r.clone(), Rev::parse(&repo.root, r)?)))
        .collect::<Result<_, crate::revision::RevisionError>>()?;
    if out.json {
        let mut readers: Vec<(String, RevReader)> = parsed
            .into_iter()
            .map(|(l, r)| {
                (
                    l,
                    RevReader::new(&repo.root, &repo.cache, r).with_pipeline(pipeline),
                )
            })
            .collect();
        let mut sides: Vec<(String, Box<crate::review::plot_data::FileAt<'_>>)> = readers
            .iter_mut()
            .map(|(l, r)| {
                let read: Box<crate::review::plot_data::FileAt<'_>> =
                    Box::new(move |f: &str| r.read(f).map_err(|e| e.to_string()));
                (l.clone(), read)
            })
            .collect();
        let kind = |d: &PlotDef| {
            crate::review::plot_kinds::built_in_for(&repo.root, d.template.as_deref()).0
        };
        let doc = crate::review::plot_data::document(&defs, &mut sides, &kind)
            .map_err(|message| crate::review::compare::ReviewError::PlotJson { message })?;
        ctx.printer.data(&serde_json::to_string_pretty(&doc)?)?;
        return Ok(Exit::Ok);
    }
    // On the page the workspace comes last, as in the report (the base in
    // blue, the change in orange); the JSON keeps DVC's order.
    let mut parsed = parsed;
    if parsed.first().is_some_and(|(l, _)| l == "workspace") && parsed.len() > 1 {
        parsed.rotate_left(1);
    }
    let heading = parsed
        .iter()
        .map(|(l, _)| l.as_str())
        .collect::<Vec<_>>()
        .join(" vs ");
    let svgs = crate::review::assemble::pictures(repo, pipeline, &defs, parsed)?;
    let page = ctx.cwd.join(&out.out);
    if let Some(dir) = page.parent() {
        fs_err::create_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(&page, crate::review::svg::page(&heading, &svgs).as_bytes())?;
    ctx.printer.info(&format!(
        "{} plot{} of {heading} written to {}",
        svgs.len(),
        if svgs.len() == 1 { "" } else { "s" },
        page.display()
    ));
    if out.open {
        open_in_browser(&page);
    }
    Ok(Exit::Ok)
}

/// Hands `page` to the desktop's opener; a machine without one (a CI
/// runner) leaves the page where it is.
fn open_in_browser(page: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(page)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
