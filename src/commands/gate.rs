//! `mlci gate`: evaluate the gates in mlci.yaml.

use crate::exit::Exit;
use clap::Args;

use crate::config::Overrides;

use super::Ctx;
use crate::review::compare::{evaluate_gates, Kind};

/// Evaluate the gates in mlci.yaml: each rule with its value and verdict.
/// Exits 1 when any gate fails (make the job a required check to block
/// merging), 0 when all pass or none are defined.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The revision relative rules compare with (default: the merge-base with the default branch, or HEAD).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The revision whose metrics are gated.
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub target: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_gate(ctx: &Ctx, args: GateArgs) -> anyhow::Result<Exit> {
    let GateArgs { base, target, json } = args;
    let repo = ctx.repo_in_place(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let cmp = crate::review::compare::compare_with(
        &repo,
        base.as_deref()
            .map(crate::review::compare::Base::rev)
            .as_ref(),
        &target,
        &[Kind::Metrics],
        Some(&pipeline),
    )?;
    let extra = crate::monitoring::rules::judged_beside_gates(&repo, &pipeline, &target)?.gates;
    let mut results = evaluate_gates(&pipeline, &cmp)?;
    if !extra.is_empty() {
        results.get_or_insert_with(Vec::new).extend(extra);
    }
    let Some(results) = results else {
        ctx.printer.info(
            "no gates: add a `gates:` section (or `drift:` rules, a `monitor:` log) to mlci.yaml",
        );
        return Ok(Exit::Ok);
    };
    let failed = results.iter().filter(|r| !r.passed).count();
    if json {
        ctx.printer
            .data(&serde_json::to_string_pretty(&serde_json::json!({
                "passed": failed == 0,
                "base": cmp.base_label,
                "target": cmp.target.label(),
                "results": results,
            }))?)?;
    } else {
        let mut text = String::new();
        for r in &results {
            let value = r
                .value
                .map(|v| crate::review::metrics::diff::fmt_number(v, 6))
                .unwrap_or_else(|| "—".into());
            text.push_str(&format!(
                "{} {}  {}  ({value}){}\n",
                if r.passed { "PASS" } else { "FAIL" },
                r.metric,
                r.text,
                r.note
                    .as_ref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ));
        }
        ctx.printer.data(&text)?;
        ctx.printer.info(&format!(
            "{} (base: {})",
            crate::review::gate::verdict_line(&results, false),
            cmp.base_label
        ));
    }
    Ok(if failed == 0 { Exit::Ok } else { Exit::Differs })
}
