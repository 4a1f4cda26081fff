//! `mlci report`: the Markdown report on stdout (or a file).

use crate::exit::Exit;
use std::path::PathBuf;

use clap::Args;

use crate::config::Overrides;
use crate::fsutil::write_atomic;
use crate::review::assemble::{build, ReportOptions};

use super::Ctx;

/// Render the pull-request report locally: how metrics and params changed
/// between two revisions, the gates' verdict (with mlci.yaml's `drift:` and
/// `monitor:` rules), the stages that would rerun, and the plots, as
/// Markdown on stdout (or a file), from the default template or your own.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The revision to compare from (default: the merge-base with the default branch, or HEAD).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The revision to compare to.
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub target: String,
    /// A minijinja template to render instead of the default.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also list metrics that did not change, and draw plots whose data
    /// is the same at both revisions.
    #[arg(long)]
    pub all: bool,
    /// Decimal places for numbers (0 to 30).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=crate::review::metrics::diff::MAX_PRECISION as u64))]
    pub precision: usize,
    /// Also write each plot as a standalone SVG file into DIR.
    #[arg(long, value_name = "DIR")]
    pub plots_dir: Option<PathBuf>,
    /// Where the SVGs of --plots-dir will be published (an https:// URL
    /// of the directory): the report shows each plot as an image from
    /// there, above its chart (docs/review.md: publishing pictures).
    #[arg(long, value_name = "URL", requires = "plots_dir", env = "MLCI_PLOTS_URL",
          value_parser = crate::review::svg::plots_url)]
    pub plots_url: Option<String>,
}

pub fn cmd_report(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<Exit> {
    let ReportArgs {
        base,
        target,
        template,
        output,
        all,
        precision,
        plots_dir,
        plots_url,
    } = args;
    let repo = ctx.repo_in_place(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let mut beside = crate::monitoring::rules::judged_beside_gates(&repo, &pipeline, &target)?;
    beside.experiments = super::experiments_section(ctx, &repo, &pipeline);
    let built = build(
        &repo,
        &pipeline,
        &ReportOptions {
            base: base.as_deref().map(crate::review::compare::Base::rev),
            target,
            template: template.map(|t| ctx.cwd.join(t)),
            all,
            precision,
            plots_dir: plots_dir.map(|d| ctx.cwd.join(d)),
            plots_url,
            ran: None,
            run_link: None,
            beside,
            pipeline_run: crate::review::outcome::PipelineRun::Ok,
            stale: Vec::new(),
            require_fresh: false,
            refreshed: None,
        },
    )?;
    // Whatever reached the report (a metric value, a plot label), no
    // credential of this process leaves in it.
    let text = ctx.printer.secrets().scrub(&built.text).into_owned();
    match output {
        Some(path) => {
            let path = ctx.cwd.join(path);
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent)?;
            }
            write_atomic(&path, text.as_bytes())?;
            ctx.printer.info(&format!("wrote {}", path.display()));
        }
        None => ctx.printer.data(&text)?,
    }
    Ok(Exit::Ok)
}
