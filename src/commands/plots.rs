//! `mlci plots diff [A [B]]`: every plot of two revisions on one
//! self-contained HTML page, as `dvc plots diff` opens them: the report's
//! pictures (`review::svg`), inline, no script and no network.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::review::assemble::{build, ReportOptions};

/// Plots on one HTML page.
#[derive(Debug, Args)]
pub struct PlotsArgs {
    #[command(subcommand)]
    pub command: PlotsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlotsCommand {
    Diff(PlotsDiffArgs),
}

/// Every plot of two revisions (default: HEAD and the workspace) drawn
/// together, each line in its own colour and named in a legend, on one
/// self-contained HTML page (inline SVG, no network): the pictures of
/// `mlci report --plots-dir`, the same data whether or not it changed.
#[derive(Debug, Args)]
pub struct PlotsDiffArgs {
    /// The old revision (default: HEAD).
    #[arg(value_name = "A_REV")]
    pub a_rev: Option<String>,
    /// The new revision (default: the workspace).
    #[arg(value_name = "B_REV")]
    pub b_rev: Option<String>,
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
}

pub fn cmd_plots(ctx: &Ctx, a: PlotsArgs) -> anyhow::Result<Exit> {
    match a.command {
        PlotsCommand::Diff(a) => cmd_diff(ctx, a),
    }
}

fn cmd_diff(ctx: &Ctx, a: PlotsDiffArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let pictures = tempfile::tempdir()?;
    let base = a.a_rev.clone().unwrap_or_else(|| "HEAD".into());
    let target = a.b_rev.clone().unwrap_or_else(|| "workspace".into());
    build(
        &repo,
        &pipeline,
        &ReportOptions {
            base: Some(crate::review::compare::Base::rev(&base)),
            target: target.clone(),
            template: None,
            all: true,
            precision: 5,
            plots_dir: Some(pictures.path().to_path_buf()),
            ran: None,
            run_link: None,
            beside: Default::default(),
            pipeline_run: crate::review::outcome::PipelineRun::Ok,
            stale: Vec::new(),
            require_fresh: false,
            refreshed: None,
        },
    )?;
    let mut svgs = Vec::new();
    for def in &pipeline.plots {
        let file = pictures.path().join(crate::review::svg::file_name(&def.id));
        if let Ok(svg) = fs_err::read_to_string(&file) {
            svgs.push(svg);
        }
    }
    let out = ctx.cwd.join(&a.out);
    if let Some(dir) = out.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let heading = format!("{base} vs {target}");
    crate::fsutil::write_atomic(&out, crate::review::svg::page(&heading, &svgs).as_bytes())?;
    ctx.printer.info(&format!(
        "{} plot{} of {heading} written to {}",
        svgs.len(),
        if svgs.len() == 1 { "" } else { "s" },
        out.display()
    ));
    if a.open {
        open_in_browser(&out);
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
