//! Which way is better for a metric: `max` (accuracy, F1, AUC, ...) or
//! `min` (loss, error, RMSE, ...). A metric's direction is mlci.yaml's
//! `report: {direction: {KEY: max|min}}` when it names the metric (by its
//! whole key, `file:key`, or the key's last dotted part), else the default
//! for common names below, else unknown. A change then reads as better,
//! worse or the same; an unknown direction reads as neither.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Max,
    Min,
}

/// Names whose lower values are better (matched on the key's last dotted
/// part, lowercase: exactly, or as a `_`-separated suffix: `val_loss`).
const MIN_NAMES: &[&str] = &[
    "loss",
    "error",
    "err",
    "rmse",
    "mse",
    "mae",
    "mape",
    "logloss",
    "wer",
    "cer",
    "perplexity",
    "latency",
    "fpr",
    "fnr",
];

/// Names whose higher values are better (the same matching).
const MAX_NAMES: &[&str] = &[
    "acc",
    "accuracy",
    "f1",
    "auc",
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "r2",
    "map",
    "ndcg",
    "bleu",
    "rouge",
    "iou",
    "miou",
    "dice",
    "tpr",
    "tnr",
    "specificity",
    "sensitivity",
];

/// The default direction of metric `key` from its name.
pub fn default_for(key: &str) -> Option<Direction> {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    let matches = |names: &[&str]| {
        names.iter().any(|n| {
            last == *n
                || last.ends_with(&format!("_{n}"))
                || last.starts_with(&format!("{n}_"))
                || last.ends_with(&format!("-{n}"))
        })
    };
    // `val_accuracy` is max, `val_loss` min; a name matching both (none
    // of the lists' words overlap) would be unknown.
    match (matches(MIN_NAMES), matches(MAX_NAMES)) {
        (true, false) => Some(Direction::Min),
        (false, true) => Some(Direction::Max),
        _ => None,
    }
}

/// Directions set in mlci.yaml (`report.direction`), over the defaults.
#[derive(Debug, Clone, Default)]
pub struct Directions(BTreeMap<String, Direction>);

impl Directions {
    /// Reads `report.direction` of mlci.yaml (absent: none set).
    pub fn from_report(report: Option<&serde_yaml::Value>) -> Result<Directions, String> {
        let Some(v) = report.and_then(|r| r.get("direction")) else {
            return Ok(Directions::default());
        };
        serde_yaml::from_value::<BTreeMap<String, Direction>>(v.clone())
            .map(Directions)
            .map_err(|e| format!("`report.direction`: {e} (each metric maps to `max` or `min`)"))
    }

    /// The direction of `key` in metrics file `path`.
    pub fn of(&self, path: &str, key: &str) -> Option<Direction> {
        let last = key.rsplit('.').next().unwrap_or(key);
        self.0
            .get(&format!("{path}:{key}"))
            .or_else(|| self.0.get(key))
            .or_else(|| self.0.get(last))
            .copied()
            .or_else(|| default_for(key))
    }
}

/// Whether a change of `change` (new - old) is better, worse or the same
/// under `direction`; None when the direction is unknown or the values are
/// not both numbers.
pub fn verdict(direction: Option<Direction>, change: Option<f64>) -> Option<&'static str> {
    let (d, c) = (direction?, change?);
    Some(match (d, c) {
        (_, 0.0) => "same",
        (Direction::Max, c) if c > 0.0 => "better",
        (Direction::Min, c) if c < 0.0 => "better",
        _ => "worse",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_names_have_their_direction() {
        for k in [
            "loss",
            "val_loss",
            "train.loss",
            "rmse",
            "test_mae",
            "error",
        ] {
            assert_eq!(default_for(k), Some(Direction::Min), "{k}");
        }
        for k in [
            "acc",
            "accuracy",
            "val_accuracy",
            "f1",
            "roc_auc",
            "eval.auc",
            "r2",
        ] {
            assert_eq!(default_for(k), Some(Direction::Max), "{k}");
        }
        for k in ["epoch", "score", "n_samples", "lr"] {
            assert_eq!(default_for(k), None, "{k}");
        }
    }

    #[test]
    fn a_change_reads_as_better_worse_or_same() {
        assert_eq!(verdict(Some(Direction::Min), Some(-0.1)), Some("better"));
        assert_eq!(verdict(Some(Direction::Min), Some(0.1)), Some("worse"));
        assert_eq!(verdict(Some(Direction::Max), Some(0.1)), Some("better"));
        assert_eq!(verdict(Some(Direction::Max), Some(0.0)), Some("same"));
        assert_eq!(verdict(None, Some(0.1)), None);
        assert_eq!(verdict(Some(Direction::Max), None), None);
    }

    #[test]
    fn mlci_yaml_overrides_the_defaults() {
        let y: serde_yaml::Value =
            serde_yaml::from_str("direction: {loss: max, score: max, 'm.json:acc': min}").unwrap();
        let d = Directions::from_report(Some(&y)).unwrap();
        assert_eq!(d.of("m.json", "loss"), Some(Direction::Max));
        assert_eq!(d.of("m.json", "eval.score"), Some(Direction::Max));
        assert_eq!(d.of("m.json", "acc"), Some(Direction::Min));
        assert_eq!(d.of("other.json", "acc"), Some(Direction::Max));
        let bad: serde_yaml::Value = serde_yaml::from_str("direction: {loss: down}").unwrap();
        assert!(Directions::from_report(Some(&bad)).is_err());
    }
}
