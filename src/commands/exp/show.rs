//! `mlci exp show`, `exp diff`, `exp list`: the experiments' params and
//! metrics beside their baseline, read by `crate::experiments::table`.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use serde_json::Value as Json;

use crate::commands::Ctx;
use crate::exit::Exit;
use crate::experiments::table::{columns, rows, shown, titles, value, Col, Row};
use crate::review::direction::{Direction, Directions};
use crate::review::metrics::diff::{md_table, plain_table};

/// Show the experiments' params and metrics beside their baseline's.
///
/// The experiments of HEAD (of every commit with `-A`). A table by default;
/// `--json`, `--md` or `--csv` for tools and comments.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Experiments of every baseline, not only HEAD's.
    #[arg(short = 'A', long)]
    pub all_commits: bool,
    #[arg(long, conflicts_with_all = ["md", "csv"])]
    pub json: bool,
    #[arg(long, conflicts_with = "csv")]
    pub md: bool,
    #[arg(long)]
    pub csv: bool,
    /// Sort by this metric (or param): `KEY` or `FILE:KEY`; best first by
    /// its direction (`report.directions` in mlci.yaml, else the name:
    /// `loss` lower, `acc` higher), else ascending.
    #[arg(long, value_name = "METRIC")]
    pub sort_by: Option<String>,
    /// Override the order `--sort-by` takes.
    #[arg(long, value_enum, requires = "sort_by")]
    pub sort_order: Option<SortOrder>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Show the params and metrics that differ between two experiments.
///
/// With one experiment, it is compared with its baseline.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first experiment (name, ref or commit).
    pub a: String,
    /// The second; its baseline when omitted.
    pub b: Option<String>,
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    #[arg(long)]
    pub md: bool,
}

/// List the experiments' names, by baseline.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every baseline, not only HEAD.
    #[arg(short = 'A', long)]
    pub all_commits: bool,
}

fn sort_col(cols: &[Col], spec: &str) -> anyhow::Result<Col> {
    let (file, key) = match spec.rsplit_once(':') {
        Some((f, k)) => (Some(f), k),
        None => (None, spec),
    };
    let found: Vec<&Col> = cols
        .iter()
        .filter(|c| c.key == key && file.is_none_or(|f| f == c.file))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [first, ..] if found.iter().filter(|c| c.metric).count() == 1 => Ok(found
            .iter()
            .find(|c| c.metric)
            .map(|c| (*c).clone())
            .unwrap_or((*first).clone())),
        [] => Err(crate::error::Hinted {
            message: format!("--sort-by {spec}: no metric or param of that name"),
            hint: format!(
                "name one of: {}",
                cols.iter()
                    .map(|c| c.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
        .into()),
        _ => Err(crate::error::Hinted {
            message: format!("--sort-by {spec}: several files have that key"),
            hint: "name it with its file: `--sort-by FILE:KEY`".to_string(),
        }
        .into()),
    }
}

pub(super) fn cmd_show(ctx: &Ctx, a: ShowArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo_in_place(&Default::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let head = crate::experiments::refs::head(&repo.root)?;
    let (base, mut exps) = rows(&repo, &pipeline, head, a.all_commits)?;
    let cols = columns(&base, &exps, &pipeline);
    if let Some(spec) = &a.sort_by {
        let col = sort_col(&cols, spec)?;
        let directions = Directions::from_report(pipeline.report.as_ref())
            .map_err(|m| anyhow::anyhow!("mlci.yaml: report.directions: {m}"))?;
        let desc = match (a.sort_order, directions.of(&col.file, &col.key)) {
            (Some(SortOrder::Desc), _) | (None, Some(Direction::Max)) => true,
            (Some(SortOrder::Asc), _) | (None, _) => false,
        };
        exps.sort_by(|x, y| {
            let (vx, vy) = (
                value(x, &col).and_then(Json::as_f64),
                value(y, &col).and_then(Json::as_f64),
            );
            // Experiments without the value go last either way.
            match (vx, vy) {
                (Some(p), Some(q)) if desc => q.total_cmp(&p),
                (Some(p), Some(q)) => p.total_cmp(&q),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| x.name.cmp(&y.name))
        });
    }
    if a.json {
        let out = serde_json::json!({ "baseline": base, "experiments": exps });
        ctx.printer
            .data(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
        return Ok(Exit::Ok);
    }
    let mut header: Vec<String> = vec!["Experiment".into(), "Rev".into(), "Created".into()];
    header.extend(titles(&cols));
    let line = |r: &Row, name: String| -> Vec<String> {
        let mut v = vec![name, r.rev[..7].to_string(), r.created.clone()];
        v.extend(cols.iter().map(|c| shown(value(r, c))));
        v
    };
    let mut table = vec![line(&base, base.name.clone())];
    table.extend(exps.iter().map(|r| line(r, format!("└ {}", r.name))));
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let text = if a.csv {
        let mut w = csv_line(&header);
        for r in &table {
            w.push_str(&csv_line(r));
        }
        w.replace("└ ", "")
    } else if a.md {
        md_table(&header_refs, &table)
    } else {
        plain_table(&header_refs, &table)
    };
    ctx.printer.data(&text)?;
    if exps.is_empty() && !a.json {
        ctx.printer
            .info("no experiments on this commit yet: `mlci exp run -S KEY=VALUE` runs one");
    }
    Ok(Exit::Ok)
}

fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

pub(super) fn cmd_diff(ctx: &Ctx, a: DiffArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo_in_place(&Default::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let git = git2::Repository::open(&repo.root)?;
    let head = crate::experiments::refs::head(&repo.root)?.to_string();
    let (ea, _) = crate::experiments::refs::find(&git, &a.a, Some(&head))?;
    let baseline: git2::Oid = ea.baseline.parse()?;
    let (base, exps) = rows(&repo, &pipeline, baseline, true)?;
    let pick = |name: &str| -> anyhow::Result<Row> {
        let (e, _) = crate::experiments::refs::find(&git, name, Some(&head))?;
        Ok(exps
            .iter()
            .find(|r| r.reference.as_deref() == Some(e.refname().as_str()))
            .cloned()
            .expect("every experiment has a row"))
    };
    let old = match &a.b {
        Some(_) => pick(&a.a)?,
        None => base.clone(),
    };
    let new = match &a.b {
        Some(b) => pick(b)?,
        None => pick(&a.a)?,
    };
    let cols = columns(&old, std::slice::from_ref(&new), &pipeline);
    let changed: Vec<&Col> = cols
        .iter()
        .filter(|c| value(&old, c) != value(&new, c))
        .collect();
    if a.json {
        let out: Vec<Json> = changed
            .iter()
            .map(|c| {
                serde_json::json!({
                    "kind": if c.metric { "metric" } else { "param" },
                    "file": c.file, "key": c.key,
                    "old": value(&old, c), "new": value(&new, c),
                })
            })
            .collect();
        ctx.printer
            .data(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
        return Ok(Exit::Ok);
    }
    let header = ["Path", "Key", &old.name, &new.name];
    let table: Vec<Vec<String>> = changed
        .iter()
        .map(|c| {
            vec![
                c.file.clone(),
                c.key.clone(),
                shown(value(&old, c)),
                shown(value(&new, c)),
            ]
        })
        .collect();
    if table.is_empty() {
        ctx.printer.info(&format!(
            "`{}` and `{}` have the same params and metrics",
            old.name, new.name
        ));
        return Ok(Exit::Ok);
    }
    let text = if a.md {
        md_table(&header, &table)
    } else {
        plain_table(&header, &table)
    };
    ctx.printer.data(&text)?;
    Ok(Exit::Ok)
}

pub(super) fn cmd_list(ctx: &Ctx, a: ListArgs) -> anyhow::Result<Exit> {
    let root = crate::repo::find_root(&ctx.cwd)?;
    let git = git2::Repository::open(&root)?;
    let head = crate::experiments::refs::head(&root)?.to_string();
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (e, _) in crate::experiments::refs::all(&git)? {
        if a.all_commits || e.baseline == head {
            by.entry(e.baseline.clone()).or_default().push(e.name);
        }
    }
    let mut out = String::new();
    for (baseline, names) in by {
        out.push_str(&format!("{}:\n", &baseline[..7]));
        for n in names {
            out.push_str(&format!("\t{n}\n"));
        }
    }
    ctx.printer.data(&out)?;
    Ok(Exit::Ok)
}
