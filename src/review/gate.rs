//! Gates: thresholds on metrics that decide whether a change may merge.
//!
//! `min`/`max` bound the target's value; `max_increase`, `max_decrease` and
//! their `_pct` forms bound the change from the base. A metric missing at
//! the target fails its rules; one missing at the base passes the relative
//! rules with a "no baseline" note; a `_pct` rule against a base of 0 fails
//! with that reason (docs/design.md §5). A bare metric name must match
//! exactly one metrics file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::Hint;
use crate::yaml;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateWire {
    metric: String,
    min: Option<f64>,
    max: Option<f64>,
    max_increase: Option<f64>,
    max_decrease: Option<f64>,
    max_increase_pct: Option<f64>,
    max_decrease_pct: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "limit")]
pub enum Rule {
    Min(f64),
    Max(f64),
    MaxIncrease(f64),
    MaxDecrease(f64),
    MaxIncreasePct(f64),
    MaxDecreasePct(f64),
    /// A `drift:` rule of mlci.yaml: the share of drifted columns stays
    /// below the limit (evaluated by `drift::rules`, not from metrics).
    DriftShare(f64),
    /// A `monitor:` check of a metric whose better direction is unknown:
    /// the latest window's value stays within this percentage of the
    /// reference, either way.
    WithinPct(f64),
    /// A `monitor:` check of a metric where higher is better: at most this
    /// percentage below the reference (any rise passes).
    AtMostPctBelow(f64),
    /// A `monitor:` check of a metric where lower is better: at most this
    /// percentage above the reference (any fall passes).
    AtMostPctAbove(f64),
}

impl Rule {
    /// Whether the rule judges a change from a baseline (else a value).
    pub fn relative(&self) -> bool {
        !matches!(
            self,
            Rule::Min(_)
                | Rule::Max(_)
                | Rule::DriftShare(_)
                | Rule::WithinPct(_)
                | Rule::AtMostPctBelow(_)
                | Rule::AtMostPctAbove(_)
        )
    }
}

/// A gate as written in mlci.yaml.
#[derive(Debug, Clone)]
pub struct Gate {
    /// As written: `file:key` or a bare dotted key.
    pub metric: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("mlci.yaml: `gates`: {0}")]
    Definition(String),
    #[error("mlci.yaml: gate metric `{metric}` matches {} metrics files: {}", candidates.len(), candidates.join(", "))]
    Ambiguous {
        metric: String,
        candidates: Vec<String>,
    },
    #[error("mlci.yaml: gate metric `{metric}` is in no metrics file")]
    Unknown { metric: String, files: Vec<String> },
}

impl Hint for GateError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            GateError::Definition(_) => "each gate is `- metric: <file:key or key>` with one or more of min, max, max_increase, max_decrease, max_increase_pct, max_decrease_pct".into(),
            GateError::Ambiguous { candidates, metric } => format!(
                "name the file: {}",
                candidates.iter().map(|c| format!("`{c}:{metric}`")).collect::<Vec<_>>().join(" or ")
            ),
            GateError::Unknown { files, .. } => {
                if files.is_empty() {
                    "declare metrics files under a stage's `metrics:` (or the top-level `metrics:`)".into()
                } else {
                    format!("metrics files: {}; write `file:key` to name one", files.join(", "))
                }
            }
        })
    }
}

crate::register_hint!(GateError);

/// Reads the `gates:` section.
pub fn parse(value: &yaml::Value) -> Result<Vec<Gate>, GateError> {
    let wires: Vec<GateWire> = yaml::from_value(value.clone(), std::path::Path::new("mlci.yaml"))
        .map_err(|e| GateError::Definition(e.message))?;
    wires
        .into_iter()
        .map(|w| {
            let mut rules = Vec::new();
            for (v, r) in [
                (w.min, Rule::Min as fn(f64) -> Rule),
                (w.max, Rule::Max),
                (w.max_increase, Rule::MaxIncrease),
                (w.max_decrease, Rule::MaxDecrease),
                (w.max_increase_pct, Rule::MaxIncreasePct),
                (w.max_decrease_pct, Rule::MaxDecreasePct),
            ] {
                if let Some(v) = v {
                    rules.push(r(v));
                }
            }
            if rules.is_empty() {
                return Err(GateError::Definition(format!(
                    "gate on `{}` has no rule",
                    w.metric
                )));
            }
            if w.metric.trim().is_empty() {
                return Err(GateError::Definition("a gate's `metric` is empty".into()));
            }
            Ok(Gate {
                metric: w.metric,
                rules,
            })
        })
        .collect()
}

/// Metric values per file: file -> dotted key -> value.
pub type Values = BTreeMap<String, BTreeMap<String, Json>>;

/// One rule's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    /// `file:key`.
    pub metric: String,
    #[serde(flatten)]
    pub rule: Rule,
    /// `accuracy >= 0.85`, `loss: increase <= 0.01`.
    pub text: String,
    pub value: Option<f64>,
    pub base: Option<f64>,
    pub passed: bool,
    /// Why it failed, or `no baseline`.
    pub note: Option<String>,
}

/// The gates' verdict in one line, the one wording every surface uses (the
/// report's first line, `mlci gate`, the commit status and check run):
/// `All 3 gate rules passed`, `1 of 3 gate rules failed: acc >= 0.8 (is
/// 0.7)`, `no gate rules defined`. `first_failed` adds the first failed
/// rule as shown; the report sets it itself (as a code span).
pub fn verdict_line(results: &[GateResult], first_failed: bool) -> String {
    let n = results.len();
    let plural = if n == 1 { "" } else { "s" };
    let failed: Vec<&GateResult> = results.iter().filter(|r| !r.passed).collect();
    match failed.first() {
        _ if n == 0 => "no gate rules defined".into(),
        None => format!("All {n} gate rule{plural} passed"),
        Some(first) => {
            let head = format!("{} of {n} gate rule{plural} failed", failed.len());
            if !first_failed {
                return head;
            }
            let note = first
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("{head}: {}{note}", first.text)
        }
    }
}

/// Resolves `metric` to (file, key).
pub fn resolve(
    metric: &str,
    target: &Values,
    base: &Values,
    files: &[String],
) -> Result<(String, String), GateError> {
    if let Some((file, key)) = metric.split_once(':') {
        if files.iter().any(|f| f == file) {
            return Ok((file.to_string(), key.to_string()));
        }
    }
    let mut candidates: Vec<String> = files
        .iter()
        .filter(|f| target.get(*f).is_some_and(|v| v.contains_key(metric)))
        .cloned()
        .collect();
    if candidates.is_empty() {
        candidates = files
            .iter()
            .filter(|f| base.get(*f).is_some_and(|v| v.contains_key(metric)))
            .cloned()
            .collect();
    }
    match candidates.len() {
        1 => Ok((candidates.remove(0), metric.to_string())),
        0 => Err(GateError::Unknown {
            metric: metric.into(),
            files: files.to_vec(),
        }),
        _ => Err(GateError::Ambiguous {
            metric: metric.into(),
            candidates,
        }),
    }
}

/// Evaluates every rule of every gate.
pub fn evaluate(
    gates: &[Gate],
    target: &Values,
    base: &Values,
    files: &[String],
) -> Result<Vec<GateResult>, GateError> {
    let mut out = Vec::new();
    for g in gates {
        let (file, key) = resolve(&g.metric, target, base, files)?;
        let get = |v: &Values| v.get(&file).and_then(|m| m.get(&key)).cloned();
        let (now, before) = (get(target), get(base));
        for rule in &g.rules {
            out.push(check(
                &format!("{file}:{key}"),
                &key,
                *rule,
                now.as_ref(),
                before.as_ref(),
            ));
        }
    }
    Ok(out)
}

/// One rule's verdict on a value (`now`) and its base (`before`).
pub(crate) fn check(
    metric: &str,
    key: &str,
    rule: Rule,
    now: Option<&Json>,
    before: Option<&Json>,
) -> GateResult {
    let n = |x: f64| crate::review::metrics::diff::fmt_number(x, 6);
    let text = match rule {
        Rule::Min(l) => format!("{key} >= {}", n(l)),
        Rule::Max(l) => format!("{key} <= {}", n(l)),
        Rule::MaxIncrease(l) => format!("{key} rises at most {}", n(l)),
        Rule::MaxDecrease(l) => format!("{key} falls at most {}", n(l)),
        Rule::MaxIncreasePct(l) => format!("{key} rises at most {}%", n(l)),
        Rule::MaxDecreasePct(l) => format!("{key} falls at most {}%", n(l)),
        Rule::DriftShare(l) => format!("{key}: drifted share < {}", n(l)),
        Rule::WithinPct(l) => format!("{key} within ±{}% of the reference", n(l)),
        Rule::AtMostPctBelow(l) => format!("{key} at most {}% below the reference", n(l)),
        Rule::AtMostPctAbove(l) => format!("{key} at most {}% above the reference", n(l)),
    };
    let value = now.and_then(crate::pipeline::params::number);
    let base = before.and_then(crate::pipeline::params::number);
    let mut r = GateResult {
        metric: metric.into(),
        rule,
        text,
        value,
        base,
        passed: false,
        note: None,
    };
    let Some(v) = value.filter(|v| !v.is_nan()) else {
        r.note = Some(match (now, value) {
            (None, _) => "missing at the target".into(),
            (_, Some(_)) => "is NaN".into(),
            _ => "not a number".into(),
        });
        return r;
    };
    if rule.relative() {
        let Some(b) = base else {
            r.passed = true;
            r.note = Some("no baseline".into());
            return r;
        };
        let pct = |b: f64| (v - b) / b.abs() * 100.0;
        r.passed = match rule {
            Rule::MaxIncrease(l) => v - b <= l,
            Rule::MaxDecrease(l) => b - v <= l,
            Rule::MaxIncreasePct(_) | Rule::MaxDecreasePct(_) if b == 0.0 => {
                r.note = Some("the base is 0, so a percentage change is undefined".into());
                false
            }
            Rule::MaxIncreasePct(l) => pct(b) <= l,
            Rule::MaxDecreasePct(l) => -pct(b) <= l,
            _ => unreachable!("absolute rules are handled below"),
        };
        if !r.passed && r.note.is_none() {
            r.note = Some(format!("changed by {} from {}", n(v - b), n(b)));
        }
        return r;
    }
    r.passed = match rule {
        Rule::Min(l) => v >= l,
        Rule::Max(l) => v <= l,
        Rule::DriftShare(l) => v < l,
        // Judged by the monitor against its reference; set by the caller.
        Rule::WithinPct(_) | Rule::AtMostPctBelow(_) | Rule::AtMostPctAbove(_) => true,
        _ => unreachable!(),
    };
    if !r.passed {
        r.note = Some(format!("is {}", n(v)));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(file: &str, v: Json) -> Values {
        BTreeMap::from([(file.to_string(), crate::pipeline::params::flatten(&v))])
    }

    #[test]
    fn rules_and_the_design_edge_cases() {
        let files = vec!["m.json".to_string()];
        let target = vals(
            "m.json",
            json!({"acc": 0.84, "loss": 0.52, "lat": 10.0, "zero": 1.0}),
        );
        let base = vals(
            "m.json",
            json!({"acc": 0.8, "loss": 0.5, "lat": 9.0, "zero": 0.0}),
        );
        let gates = parse(&crate::yaml::parse(
            "- metric: acc\n  min: 0.85\n- metric: m.json:loss\n  max_increase: 0.01\n- metric: lat\n  max_increase_pct: 20\n- metric: zero\n  max_increase_pct: 5\n- metric: acc\n  max_decrease: 0.1\n",
            std::path::Path::new("mlci.yaml"),
        ).unwrap()).unwrap();
        let r = evaluate(&gates, &target, &base, &files).unwrap();
        assert!(!r[0].passed && r[0].note.as_deref() == Some("is 0.84"));
        assert!(!r[1].passed, "loss rose 0.02 > 0.01");
        assert!(r[2].passed, "latency rose 11.1% <= 20%");
        assert!(!r[3].passed && r[3].note.as_deref().unwrap().contains("base is 0"));
        assert!(r[4].passed);
        // Missing at the target fails; missing at the base passes relative rules.
        let r = evaluate(&gates[1..2], &vals("m.json", json!({})), &base, &files).unwrap();
        assert!(!r[0].passed && r[0].note.as_deref() == Some("missing at the target"));
        let r = evaluate(&gates[1..2], &target, &vals("m.json", json!({})), &files).unwrap();
        assert!(r[0].passed && r[0].note.as_deref() == Some("no baseline"));
    }

    #[test]
    fn bare_names_must_match_exactly_one_file() {
        let files = vec!["a.json".to_string(), "b.json".to_string()];
        let mut t = vals("a.json", json!({"acc": 1}));
        t.extend(vals("b.json", json!({"acc": 2, "f1": 3})));
        assert_eq!(
            resolve("f1", &t, &Values::new(), &files).unwrap(),
            ("b.json".into(), "f1".into())
        );
        let e = resolve("acc", &t, &Values::new(), &files).unwrap_err();
        assert!(
            e.to_string()
                .contains("matches 2 metrics files: a.json, b.json"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("`a.json:acc`"));
        assert!(resolve("nope", &t, &Values::new(), &files).is_err());
        assert!(
            parse(&crate::yaml::parse("- metric: acc\n", std::path::Path::new("x")).unwrap())
                .is_err()
        );
    }

    #[test]
    fn the_verdict_is_worded_once_for_every_surface() {
        let result = |text: &str, passed: bool, note: Option<&str>| GateResult {
            metric: "m.json:acc".into(),
            rule: Rule::Min(0.8),
            text: text.into(),
            value: Some(0.7),
            base: None,
            passed,
            note: note.map(Into::into),
        };
        assert_eq!(verdict_line(&[], true), "no gate rules defined");
        let one = [result("acc >= 0.8", true, None)];
        assert_eq!(verdict_line(&one, true), "All 1 gate rule passed");
        let three = [
            result("acc >= 0.8", true, None),
            result("loss <= 0.2", false, Some("is 0.3")),
            result("f1 >= 0.5", false, None),
        ];
        assert_eq!(verdict_line(&three, false), "2 of 3 gate rules failed");
        assert_eq!(
            verdict_line(&three, true),
            "2 of 3 gate rules failed: loss <= 0.2 (is 0.3)"
        );
    }
}
