//! `mlci metrics export`: the repository's metrics, params, gate verdicts,
//! drift, registry stages and (with `--monitor-log`) window metrics in
//! Prometheus's text format or OpenMetrics, to stdout or a Pushgateway.

use std::path::PathBuf;

use clap::Args;

use crate::commands::Ctx;
use crate::config::Overrides;
use crate::exit::Exit;
use crate::prometheus::exposition::{self, Family, Format, Sample};
use crate::review::metrics::{metric_files, params_files};
use crate::revision::{Rev, RevReader};

/// Export metrics for Prometheus and Grafana: `mlci_metric`, `mlci_param`,
/// `mlci_gate_passed`, `mlci_drift_share`, `mlci_drift_statistic`,
/// `mlci_model_info` and `mlci_window_metric`, labelled with the
/// repository and revision (see templates/grafana/). To stdout, or PUT to
/// a Pushgateway with `--push`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "prometheus")]
    pub format: Format,
    /// The revision whose metrics are exported (`workspace`: the files as
    /// they are).
    #[arg(long, default_value = "workspace", value_name = "REV")]
    pub rev: String,
    /// Push to this Pushgateway (`http://HOST:9091`) instead of stdout.
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
    /// The push's job name.
    #[arg(long, default_value = "mlci", value_name = "NAME")]
    pub job: String,
    /// More grouping labels of the push, `KEY=VALUE`.
    #[arg(long = "grouping", value_name = "KEY=VALUE")]
    pub grouping: Vec<String>,
    /// Also export the window metrics of this predictions log.
    #[arg(long, value_name = "LOG")]
    pub monitor_log: Option<PathBuf>,
    /// The log's windows: `day`, `week` or a row count.
    #[arg(long, default_value = "day", value_name = "WINDOW")]
    pub window: crate::monitoring::performance::Window,
    /// Every complete window of `--monitor-log` with its end time, for a
    /// backfill (`promtool tsdb create-blocks-from openmetrics` with
    /// `--format openmetrics`), instead of the live export.
    #[arg(long, requires = "monitor_log", conflicts_with = "push")]
    pub history: bool,
}

pub(super) fn cmd_export(ctx: &Ctx, a: ExportArgs) -> anyhow::Result<Exit> {
    // A gateway URL may carry basic-auth credentials (the HTTP client sends
    // them as a header): masked in everything this command prints.
    if let Some(url) = a.push.as_deref().and_then(|u| reqwest::Url::parse(u).ok()) {
        match url.password() {
            Some(pw) => ctx.printer.secrets().add(pw),
            None if !url.username().is_empty() => ctx.printer.secrets().add(url.username()),
            None => {}
        }
    }
    let mut grouping = Vec::new();
    for g in &a.grouping {
        let Some((k, v)) = g.split_once('=') else {
            return Err(crate::error::hinted(
                format!("--grouping `{g}` is not KEY=VALUE"),
                "for example `--grouping stage=prod`",
            ));
        };
        grouping.push((k.to_string(), v.to_string()));
    }
    let repo = ctx.repo(&Overrides::default())?;
    let pipeline = crate::pipeline::load(&repo.root)?;
    let rev = Rev::parse(&repo.root, &a.rev)?;
    let at_rev = crate::review::compare::pipeline_at(&repo, &rev)?;
    let mut reader = RevReader::new(&repo.root, &repo.cache, rev.clone());
    if a.history {
        let log = a.monitor_log.as_deref().expect("clap requires it");
        let families = window_metrics(ctx, log, a.window, true)?;
        let common = vec![("repository", repository(&repo.root))];
        let text = exposition::render(&families, &common, a.format);
        ctx.printer
            .data(ctx.printer.secrets().scrub(&text).trim_end())?;
        return Ok(Exit::Ok);
    }
    let mut families = vec![
        values_family(
            &mut reader,
            &metric_files(&at_rev),
            "mlci_metric",
            "A metric from the pipeline's metrics files (labels file, key).",
        )?,
        values_family(
            &mut reader,
            &params_files(&at_rev),
            "mlci_param",
            "A numeric param the pipeline's stages read (labels file, key).",
        )?,
    ];
    families.extend(gate_and_drift(ctx, &repo, &pipeline, &a.rev)?);
    families.push(model_info(&repo.root)?);
    if let Some(log) = &a.monitor_log {
        families.extend(window_metrics(ctx, log, a.window, false)?);
    }
    let common = vec![
        ("repository", repository(&repo.root)),
        ("revision", rev.short()),
    ];
    // Scrubbed once, so stdout and a push carry the same bytes.
    let text = ctx
        .printer
        .secrets()
        .scrub(&exposition::render(&families, &common, a.format))
        .into_owned();
    match &a.push {
        None => ctx.printer.data(text.trim_end())?,
        Some(url) => {
            crate::prometheus::pushgateway::push(url, &a.job, &grouping, text, a.format)?;
            ctx.printer.info(&format!(
                "pushed {} samples to {}",
                families.iter().map(|f| f.samples.len()).sum::<usize>(),
                crate::prometheus::pushgateway::group_url(url, &a.job, &grouping)
            ));
        }
    }
    Ok(Exit::Ok)
}

/// The numeric values of `files` at the reader's revision.
fn values_family(
    reader: &mut RevReader,
    files: &[String],
    name: &'static str,
    help: &'static str,
) -> anyhow::Result<Family> {
    let mut samples = Vec::new();
    for f in files {
        let Some(values) = reader.values(f)? else {
            continue;
        };
        for (k, v) in values {
            if let Some(x) = crate::pipeline::params::number(&v) {
                samples.push(Sample {
                    labels: vec![("file", f.clone()), ("key", k)],
                    value: x,
                    at_ms: None,
                });
            }
        }
    }
    Ok(Family {
        name,
        help,
        samples,
    })
}

/// Gate verdicts (metric gates against the default base, drift rules) and
/// the drift rules' statistics.
fn gate_and_drift(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    pipeline: &crate::pipeline::Pipeline,
    rev: &str,
) -> anyhow::Result<Vec<Family>> {
    let mut gates = Vec::new();
    match crate::review::compare::compare(repo, None, rev, &[crate::review::compare::Kind::Metrics])
        .and_then(|cmp| crate::review::compare::evaluate_gates(pipeline, &cmp))
    {
        Ok(results) => gates.extend(results.into_iter().flatten()),
        Err(e) => ctx.printer.warn(&format!("gates not exported: {e}")),
    }
    let section = crate::drift::rules::Section::parse(pipeline.drift.as_ref())?;
    let target = Rev::parse(&repo.root, rev)?;
    let outcomes =
        crate::drift::rules::evaluate(repo, &section, &target, &crate::progress::Silent)?;
    let (mut share, mut stat) = (Vec::new(), Vec::new());
    for o in &outcomes {
        gates.push(o.gate.clone());
        share.push(Sample {
            labels: vec![
                ("dataset", o.dataset.clone()),
                ("reference", o.reference.clone()),
            ],
            value: o.drift.dataset.share,
            at_ms: None,
        });
        for c in &o.drift.columns {
            stat.push(Sample {
                labels: vec![
                    ("dataset", o.dataset.clone()),
                    ("column", c.column.clone()),
                    ("method", c.method.as_str().into()),
                ],
                value: c.statistic,
                at_ms: None,
            });
        }
    }
    // The same rules `mlci gate` judges: the monitor log's too.
    gates.extend(crate::monitoring::rules::rules_for(repo, pipeline)?);
    let passed = gates
        .iter()
        .map(|g| Sample {
            labels: vec![("rule", format!("{}: {}", g.metric, g.text))],
            value: if g.passed { 1.0 } else { 0.0 },
            at_ms: None,
        })
        .collect();
    Ok(vec![
        Family { name: "mlci_gate_passed", help: "1 when the gate rule passes, 0 when it fails (label rule).", samples: passed },
        Family { name: "mlci_drift_share", help: "The share of drifted columns of a drift rule's dataset (labels dataset, reference).", samples: share },
        Family { name: "mlci_drift_statistic", help: "A column's drift statistic (labels dataset, column, method).", samples: stat },
    ])
}

/// 1 for the version in each stage of each registered artifact.
fn model_info(root: &std::path::Path) -> anyhow::Result<Family> {
    let reg = crate::registry::open(root)?;
    let mut samples = Vec::new();
    for a in reg.artifacts.values() {
        if a.deprecated(&reg.events) {
            continue;
        }
        for (stage, v) in a.stages(&reg.events) {
            samples.push(Sample {
                labels: vec![
                    ("model", a.name.clone()),
                    ("version", v.version.clone()),
                    ("stage", stage),
                ],
                value: 1.0,
                at_ms: None,
            });
        }
    }
    Ok(Family {
        name: "mlci_model_info",
        help:
            "1 for the model version in each stage of the registry (labels model, version, stage).",
        samples,
    })
}

/// A predictions log's window metrics. Live (`history` false): each
/// metric of the latest complete window where it is defined, and that
/// window's end time as `mlci_window_end_seconds`, so a scrape or a push
/// makes one series per metric that Prometheus keeps over time. History:
/// every complete window's metrics stamped with its end time, for a
/// backfill. A window is complete once its UTC day or ISO week has ended,
/// or when it holds its full row count.
fn window_metrics(
    ctx: &Ctx,
    log: &std::path::Path,
    window: crate::monitoring::performance::Window,
    history: bool,
) -> anyhow::Result<Vec<Family>> {
    use crate::monitoring::performance;
    let shown = log.display().to_string();
    let l = crate::data::log::read(&ctx.cwd.join(log), &shown, &Default::default())?;
    let task = performance::detect_task(&l);
    if task == performance::Task::Classification {
        performance::check_labels(&l, &shown)?;
    }
    let binary = performance::is_binary(&l);
    let positive = l.label("1");
    let now = jiff::Timestamp::now().as_millisecond();
    // metric -> (end ms, value) of the latest complete window defining it.
    let mut latest: std::collections::BTreeMap<String, (i64, f64)> = Default::default();
    let mut stamped = Vec::new();
    for (_, rows) in performance::windows(&l, window) {
        if !performance::window_complete(&l, &rows, window, now) {
            continue;
        }
        let end = performance::window_end_ms(&l, &rows, window);
        for (metric, v) in performance::metrics(&l, &rows, task, (positive, binary)) {
            let Some(x) = v else { continue };
            if history {
                stamped.push(Sample {
                    labels: vec![("log", shown.clone()), ("metric", metric)],
                    value: x,
                    at_ms: Some(end),
                });
            } else if latest.get(&metric).is_none_or(|(e, _)| *e <= end) {
                latest.insert(metric, (end, x));
            }
        }
    }
    const HELP: &str =
        "A model metric of a predictions log's window (labels log, metric): the latest complete window, or each window's at its end time in a backfill.";
    if history {
        // One series per metric, in time order.
        stamped.sort_by(|a, b| a.labels.cmp(&b.labels).then(a.at_ms.cmp(&b.at_ms)));
        return Ok(vec![Family {
            name: "mlci_window_metric",
            help: HELP,
            samples: stamped,
        }]);
    }
    let sample = |metric: &String, value: f64| Sample {
        labels: vec![("log", shown.clone()), ("metric", metric.clone())],
        value,
        at_ms: None,
    };
    Ok(vec![
        Family {
            name: "mlci_window_metric",
            help: HELP,
            samples: latest.iter().map(|(m, (_, x))| sample(m, *x)).collect(),
        },
        Family {
            name: "mlci_window_end_seconds",
            help: "When the window behind mlci_window_metric ended, in seconds since the Unix epoch (labels log, metric).",
            samples: latest
                .iter()
                .map(|(m, (end, _))| sample(m, *end as f64 / 1000.0))
                .collect(),
        },
    ])
}

/// `owner/name`: GITHUB_REPOSITORY, else the `origin` remote's path, else
/// the work tree's directory name.
fn repository(root: &std::path::Path) -> String {
    if let Some(r) = crate::environment::get("GITHUB_REPOSITORY") {
        return r;
    }
    let from_origin = git2::Repository::open(root).ok().and_then(|g| {
        let remote = g.find_remote("origin").ok()?;
        let url = remote
            .url()?
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .to_string();
        let parts: Vec<&str> = url.rsplit(['/', ':']).take(2).collect();
        (parts.len() == 2).then(|| format!("{}/{}", parts[1], parts[0]))
    });
    from_origin.unwrap_or_else(|| {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}
