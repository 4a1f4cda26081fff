//! `mlci dag`: print the stage graph.

use crate::exit::Exit;
use clap::Args;

use crate::pipeline::dag::{render, Dag};

use super::Ctx;

/// Print the pipeline's stage graph: one stage per line with the stages it
/// reads from, or Mermaid / Graphviz dot.
#[derive(Debug, Args)]
pub struct DagArgs {
    /// Print a Mermaid flowchart.
    #[arg(long, conflicts_with = "dot")]
    pub mermaid: bool,
    /// Print Graphviz dot.
    #[arg(long)]
    pub dot: bool,
}

pub fn cmd_dag(ctx: &Ctx, args: DagArgs) -> anyhow::Result<Exit> {
    let DagArgs { mermaid, dot } = args;
    let root = crate::repo::find_root(&ctx.cwd)?;
    let pipeline = crate::pipeline::load(&root)?;
    let dag = Dag::build(&pipeline.stages)?;
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
