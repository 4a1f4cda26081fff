//! `mlci dag`: print the stage graph.

use crate::exit::Exit;
use clap::Args;

use crate::pipeline::dag::{render, Dag};

use super::Ctx;

/// Print the pipeline's stage graph: one stage per line with the stages it
/// reads from, or Mermaid / Graphviz dot.
#[derive(Debug, Args)]
pub struct DagArgs {
    /// Stages or `foreach`/`matrix` groups: draw them and what they depend
    /// on (as `dvc dag TARGET`); the whole pipeline when omitted.
    #[arg(value_name = "STAGE")]
    pub targets: Vec<String>,
    /// Print a Mermaid flowchart.
    #[arg(long, conflicts_with = "dot")]
    pub mermaid: bool,
    /// Print Graphviz dot.
    #[arg(long)]
    pub dot: bool,
}

pub fn cmd_dag(ctx: &Ctx, args: DagArgs) -> anyhow::Result<Exit> {
    let DagArgs {
        targets,
        mermaid,
        dot,
    } = args;
    let root = crate::repo::find_root(&ctx.cwd)?;
    let mut pipeline = crate::pipeline::load(&root)?;
    let mut dag = Dag::build(&pipeline.stages)?;
    if !targets.is_empty() {
        let keep = crate::pipeline::repro::select(&pipeline, &dag, &targets, false)?;
        pipeline.stages = keep.iter().map(|&i| pipeline.stages[i].clone()).collect();
        dag = Dag::build(&pipeline.stages)?;
    }
    let format = if mermaid {
        "mermaid"
    } else if dot {
        "dot"
    } else {
        "text"
    };
    ctx.printer.data(&render(&pipeline.stages, &dag, format))?;
    Ok(Exit::Ok)
}
