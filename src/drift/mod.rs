//! Per-column drift between a reference and a current dataset, with
//! Evidently's default choice of test (its `_get_default_stattest`, read
//! from Evidently's source) so verdicts can be cross-checked:
//!
//! | reference rows (non-missing) | column | distinct values (both sides) | test | drift when |
//! |---|---|---|---|---|
//! | ≤ 1,000 | numeric | > 5 | Kolmogorov–Smirnov | p ≤ 0.05 |
//! | ≤ 1,000 | numeric or categorical | 3 to 5 (numeric), > 2 (categorical) | chi-square | p < 0.05 |
//! | ≤ 1,000 | numeric or categorical | ≤ 2 | two-proportion z | p < 0.05 |
//! | > 1,000 | numeric | > 5 | Wasserstein / std of the reference (ddof 0, floored at 0.001) | ≥ 0.1 |
//! | > 1,000 | otherwise | | Jensen–Shannon distance (natural log) | ≥ 0.1 |
//!
//! PSI is available per column (`method: psi`): bins at the reference's
//! quantiles (10 by default), ε = 0.0001 for an empty bin's share, drift at
//! ≥ 0.1. Every method and threshold can be set per column. The dataset
//! drifts when the share of drifted columns reaches 0.5 (settable).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::data::table::{Column, Dataset, Kind};

pub mod rules;
pub mod stats;
pub mod types;
pub mod view;

/// A drift test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Ks,
    Chisquare,
    Z,
    Wasserstein,
    Jensenshannon,
    Psi,
}

impl Method {
    /// Its default threshold.
    pub fn threshold(self) -> f64 {
        match self {
            Method::Ks | Method::Chisquare | Method::Z => 0.05,
            Method::Wasserstein | Method::Jensenshannon | Method::Psi => 0.1,
        }
    }

    /// Whether it yields a p-value (drift below the threshold) rather than a
    /// distance (drift at or above it).
    pub fn is_p_value(self) -> bool {
        matches!(self, Method::Ks | Method::Chisquare | Method::Z)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::Chisquare => "chisquare",
            Method::Z => "z",
            Method::Wasserstein => "wasserstein",
            Method::Jensenshannon => "jensenshannon",
            Method::Psi => "psi",
        }
    }
}

/// Per-column settings (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOptions {
    /// numerical (numeric), categorical or text ([`types::TypeSetting`]).
    #[serde(rename = "type")]
    pub kind: Option<types::TypeSetting>,
    /// Not a feature: left out of the tests, named ([`types::Role`]).
    pub role: Option<types::Role>,
    pub method: Option<Method>,
    pub threshold: Option<f64>,
    /// PSI's bin count.
    pub bins: Option<usize>,
}

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub columns: BTreeMap<String, ColumnOptions>,
    /// Only these columns (all shared ones when empty).
    pub only: Vec<String>,
    /// A method for every column without its own.
    pub method: Option<Method>,
    /// The share of drifted columns at which the dataset drifts.
    pub drift_share: f64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            columns: BTreeMap::new(),
            only: Vec::new(),
            method: None,
            drift_share: 0.5,
        }
    }
}

/// One column's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub method: Method,
    pub statistic: f64,
    /// None for distance methods.
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
    #[serde(skip)]
    pub missing: (u64, u64),
}

/// A column not tested, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LeftOut {
    pub column: String,
    /// `text`, `unknown`, or its role (`id`, `datetime`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
}

/// The dataset's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetDrift {
    pub columns: usize,
    pub drifted_columns: usize,
    pub share: f64,
    pub threshold: f64,
    pub drifted: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub columns: Vec<ColumnDrift>,
    pub dataset: DatasetDrift,
    /// Columns both sides have that are not tested (text, a role, no
    /// values), each with why; not in the drift share.
    pub left_out: Vec<LeftOut>,
    #[serde(skip)]
    pub only_in_reference: Vec<String>,
    #[serde(skip)]
    pub only_in_current: Vec<String>,
}

/// Why a comparison could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("column `{column}` is {reference} in the reference but {current} in the current data")]
    KindMismatch {
        column: String,
        reference: &'static str,
        current: &'static str,
    },
    #[error("column `{column}`: {method} needs a numeric column")]
    NeedsNumbers {
        column: String,
        method: &'static str,
    },
    #[error("column `{column}` has no values on the {side} side")]
    NoValues { column: String, side: &'static str },
    #[error("column `{0}` is in neither table")]
    Unknown(String),
    #[error(transparent)]
    Table(#[from] crate::data::table::TableError),
}

impl crate::error::Hint for DriftError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            DriftError::KindMismatch { column, .. } => format!("set the column's type for both: `drift: {{columns: {{{column}: {{type: categorical}}}}}}` in mlci.yaml"),
            DriftError::NeedsNumbers { .. } => "use chisquare, z, jensenshannon or psi for a categorical column".into(),
            DriftError::NoValues { .. } => "every value of the column is missing there: leave it out with `--column`, or fix the data".into(),
            DriftError::Unknown(_) => "name columns both tables have".into(),
            DriftError::Table(e) => return crate::error::Hint::hint(e),
        })
    }
}

crate::register_hint!(DriftError);

/// Compares every column both tables have (or `opts.only`), in parallel,
/// reporting each compared column to `reporter`.
pub fn compare(
    reference: &Dataset,
    current: &Dataset,
    opts: &Options,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Drift, DriftError> {
    use rayon::prelude::*;
    for c in &opts.only {
        if !reference.has(c) || !current.has(c) {
            return Err(DriftError::Unknown(c.clone()));
        }
    }
    let only: HashSet<&str> = opts.only.iter().map(String::as_str).collect();
    let names: Vec<&str> = reference
        .names()
        .into_iter()
        .filter(|n| only.is_empty() || only.contains(n))
        .filter(|n| current.has(n))
        .collect();
    reporter.start("comparing columns", Some(names.len() as u64));
    // Each worker decodes (when the dataset is lazy) both sides of a group
    // of columns, compares them and lets them go: memory holds a group's
    // columns per worker (about 16 MiB a side), not the tables.
    let rows = reference.rows().max(current.rows());
    let group = match (reference.group_size(rows), current.group_size(rows)) {
        (None, None) => 1,
        (a, b) => a.into_iter().chain(b).min().unwrap_or(1).max(1),
    };
    // Collected in column order before the first error is taken: rayon's
    // short-circuit would report whichever failing column finished first.
    let groups: Vec<Result<Vec<Result<ColumnDrift, LeftOut>>, DriftError>> = names
        .par_chunks(group)
        .map(|g| {
            let refs = reference.columns(g);
            let curs = current.columns(g);
            refs.into_iter()
                .zip(curs)
                .map(|(r, c)| {
                    let r = r.expect("listed")?;
                    let c = c.expect("checked")?;
                    let d = tested(&r, &c, opts);
                    reporter.inc(1);
                    d
                })
                .collect::<Result<Vec<_>, DriftError>>()
        })
        .collect();
    let mut columns: Vec<ColumnDrift> = Vec::with_capacity(names.len());
    let mut left_out = Vec::new();
    for g in groups {
        for one in g? {
            match one {
                Ok(d) => columns.push(d),
                Err(l) => left_out.push(l),
            }
        }
    }
    reporter.finish();
    let drifted = columns.iter().filter(|c| c.drifted).count();
    let share = if columns.is_empty() {
        0.0
    } else {
        drifted as f64 / columns.len() as f64
    };
    Ok(Drift {
        dataset: DatasetDrift {
            columns: columns.len(),
            drifted_columns: drifted,
            share,
            threshold: opts.drift_share,
            drifted: !columns.is_empty() && share >= opts.drift_share,
        },
        columns,
        left_out,
        only_in_reference: reference
            .names()
            .into_iter()
            .filter(|n| !current.has(n))
            .map(String::from)
            .collect(),
        only_in_current: current
            .names()
            .into_iter()
            .filter(|n| !reference.has(n))
            .map(String::from)
            .collect(),
    })
}

/// A hashable view of one value (numbers by their bits, categories as text).
#[derive(Hash, PartialEq, Eq, Clone, PartialOrd, Ord)]
enum Key {
    Number(OrdF64),
    Text(String),
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct OrdF64(u64);

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        f64::from_bits(self.0).total_cmp(&f64::from_bits(o.0))
    }
}

fn value_counts(c: &Column) -> HashMap<Key, u64> {
    match c.kind {
        Kind::Numeric => {
            let mut m = HashMap::new();
            for x in &c.numbers {
                // -0.0 and 0.0 are one value, as pandas counts them.
                let x = if *x == 0.0 { 0.0 } else { *x };
                *m.entry(Key::Number(OrdF64(x.to_bits()))).or_insert(0) += 1;
            }
            m
        }
        Kind::Categorical => c
            .counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (Key::Text(k.to_string()), n))
            .collect(),
    }
}

/// Evidently's default test for a column.
fn default_method(kind: Kind, reference_rows: usize, distinct: usize) -> Method {
    if reference_rows <= 1000 {
        match kind {
            Kind::Numeric if distinct > 5 => Method::Ks,
            _ if distinct > 2 => Method::Chisquare,
            _ => Method::Z,
        }
    } else {
        match kind {
            Kind::Numeric if distinct > 5 => Method::Wasserstein,
            _ => Method::Jensenshannon,
        }
    }
}

/// One pair, tested as Evidently would type it ([`types::decide`] on the
/// current side), or left out with why.
fn tested(
    r: &Column,
    c: &Column,
    opts: &Options,
) -> Result<Result<ColumnDrift, LeftOut>, DriftError> {
    let set = opts.columns.get(&r.name);
    match types::decide(c, set.and_then(|s| s.kind), set.and_then(|s| s.role)) {
        types::Tested::AsRead => column_drift(r, c, opts).map(Ok),
        types::Tested::AsCategories => {
            // Either side read as numbers meets the other as categories.
            fn side(x: &Column) -> std::borrow::Cow<'_, Column> {
                match x.kind {
                    Kind::Numeric => std::borrow::Cow::Owned(types::as_categories(x)),
                    Kind::Categorical => std::borrow::Cow::Borrowed(x),
                }
            }
            column_drift(&side(r), &side(c), opts).map(Ok)
        }
        types::Tested::LeftOut(kind, reason) => Ok(Err(LeftOut {
            column: r.name.clone(),
            kind: kind.into(),
            reason: reason.into(),
        })),
    }
}

fn column_drift(r: &Column, c: &Column, opts: &Options) -> Result<ColumnDrift, DriftError> {
    let set = opts.columns.get(&r.name).cloned().unwrap_or_default();
    if r.kind != c.kind {
        return Err(DriftError::KindMismatch {
            column: r.name.clone(),
            reference: r.kind.as_str(),
            current: c.kind.as_str(),
        });
    }
    for (col, side) in [(r, "reference"), (c, "current")] {
        if col.is_empty() {
            return Err(DriftError::NoValues {
                column: col.name.clone(),
                side,
            });
        }
    }
    // Numeric columns are sorted once; their distinct values come from the
    // sorted runs, and value counts only when a test needs them (they are
    // few then).
    let (a, b) = match r.kind {
        Kind::Numeric => (sorted(&r.numbers), sorted(&c.numbers)),
        Kind::Categorical => (Vec::new(), Vec::new()),
    };
    let (rc, cc) = match r.kind {
        Kind::Numeric => (HashMap::new(), HashMap::new()),
        Kind::Categorical => (value_counts(r), value_counts(c)),
    };
    let distinct = match r.kind {
        Kind::Numeric => distinct_sorted(&a, &b),
        Kind::Categorical => rc.keys().chain(cc.keys()).collect::<HashSet<_>>().len(),
    };
    let method = set
        .method
        .or(opts.method)
        .unwrap_or_else(|| default_method(r.kind, r.len(), distinct));
    let needs_counts = matches!(method, Method::Chisquare | Method::Z)
        || (method == Method::Jensenshannon && runs(&a) <= 20);
    let (rc, cc) = if r.kind == Kind::Numeric && needs_counts {
        (run_counts(&a), run_counts(&b))
    } else {
        (rc, cc)
    };
    let threshold = set.threshold.unwrap_or_else(|| method.threshold());
    let needs_numbers = |m: &'static str| {
        if r.kind == Kind::Numeric {
            Ok(())
        } else {
            Err(DriftError::NeedsNumbers {
                column: r.name.clone(),
                method: m,
            })
        }
    };
    let (statistic, p_value) = match method {
        Method::Ks => {
            needs_numbers("ks")?;
            let (d, p) = stats::ks_2samp(&a, &b);
            (d, Some(p))
        }
        Method::Wasserstein => {
            needs_numbers("wasserstein")?;
            let norm = std_ddof0(&r.numbers).max(0.001);
            (stats::wasserstein(&a, &b) / norm, None)
        }
        Method::Chisquare => {
            let keys: Vec<&Key> = union(&rc, &cc);
            let k_norm = c.len() as f64 / r.len() as f64;
            let f_exp: Vec<f64> = keys
                .iter()
                .map(|k| *rc.get(k).unwrap_or(&0) as f64 * k_norm)
                .collect();
            let f_obs: Vec<f64> = keys
                .iter()
                .map(|k| *cc.get(k).unwrap_or(&0) as f64)
                .collect();
            let (s, p) = stats::chisquare(&f_obs, &f_exp);
            (s, Some(p))
        }
        Method::Z => {
            let mut keys: Vec<&Key> = union(&rc, &cc);
            keys.sort();
            if rc.len() == 1 && cc.len() == 1 && rc.keys().next() == cc.keys().next() {
                (0.0, Some(1.0))
            } else {
                // Ones are every value but the first key (Evidently's coding).
                let first = keys[0];
                let ones =
                    |m: &HashMap<Key, u64>, n: usize| n as u64 - m.get(first).copied().unwrap_or(0);
                let (z, p) = stats::two_proportion_z(
                    ones(&rc, r.len()),
                    r.len() as u64,
                    ones(&cc, c.len()),
                    c.len() as u64,
                );
                (z, Some(p))
            }
        }
        Method::Jensenshannon => {
            let (p, q) = binned(r, (&a, &b), &rc, &cc);
            (stats::jensen_shannon(&p, &q), None)
        }
        Method::Psi => {
            let (p, q) = psi_shares(r, (&a, &b), &rc, &cc, set.bins.unwrap_or(10));
            (stats::psi(&p, &q), None)
        }
    };
    let drifted = match (method, p_value) {
        (Method::Ks, Some(p)) => p <= threshold,
        (_, Some(p)) => p < threshold,
        (_, None) => statistic >= threshold,
    };
    Ok(ColumnDrift {
        column: r.name.clone(),
        kind: r.kind,
        method,
        statistic,
        p_value,
        threshold,
        drifted,
        missing: (r.missing, c.missing),
    })
}

/// The number of distinct values of a sorted slice.
fn runs(s: &[f64]) -> usize {
    if s.is_empty() {
        return 0;
    }
    1 + s.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Distinct values over two sorted slices.
fn distinct_sorted(a: &[f64], b: &[f64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    let mut last: Option<f64> = None;
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => break,
        };
        if last != Some(x) {
            n += 1;
            last = Some(x);
        }
    }
    n
}

/// Value counts of a sorted numeric slice, from its runs.
fn run_counts(s: &[f64]) -> HashMap<Key, u64> {
    let mut m = HashMap::new();
    for x in s {
        let x = if *x == 0.0 { 0.0 } else { *x };
        *m.entry(Key::Number(OrdF64(x.to_bits()))).or_insert(0) += 1;
    }
    m
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    stats::sort_f64(&mut s);
    s
}

fn std_ddof0(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// Both sides' values, sorted: sums over them then run in one order, so
/// a result is the same from run to run to the last bit.
fn union<'a>(a: &'a HashMap<Key, u64>, b: &'a HashMap<Key, u64>) -> Vec<&'a Key> {
    let mut keys: Vec<&Key> = a.keys().collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)));
    keys.sort();
    keys
}

/// Evidently's `get_binned_data` without zero filling: a Sturges histogram
/// over both sides for a numeric column with more than 20 distinct
/// reference values (`a`, `b`: the sorted values), else the share of each
/// value.
fn binned(
    r: &Column,
    (a, b): (&[f64], &[f64]),
    rc: &HashMap<Key, u64>,
    cc: &HashMap<Key, u64>,
) -> (Vec<f64>, Vec<f64>) {
    if r.kind == Kind::Numeric && runs(a) > 20 {
        let min = a[0].min(b[0]);
        let max = a[a.len() - 1].max(b[b.len() - 1]);
        let edges = stats::sturges_edges(min, max, a.len() + b.len());
        let share = |s: &[f64]| {
            stats::histogram_sorted(s, &edges)
                .into_iter()
                .map(|n| n as f64 / s.len() as f64)
                .collect::<Vec<f64>>()
        };
        return (share(a), share(b));
    }
    value_shares(rc, cc)
}

/// Each value's share on each side, over both sides' values.
fn value_shares(rc: &HashMap<Key, u64>, cc: &HashMap<Key, u64>) -> (Vec<f64>, Vec<f64>) {
    let keys = union(rc, cc);
    let (rn, cn): (u64, u64) = (rc.values().sum(), cc.values().sum());
    let share = |m: &HashMap<Key, u64>, n: u64| -> Vec<f64> {
        keys.iter()
            .map(|k| *m.get(*k).unwrap_or(&0) as f64 / n as f64)
            .collect()
    };
    (share(rc, rn), share(cc, cn))
}

/// The share of each side in PSI's bins: `bins` quantile bins of the
/// reference for a numeric column (edges deduplicated, open at both ends),
/// each value for a categorical one; an empty bin's share is ε = 0.0001.
fn psi_shares(
    r: &Column,
    (a, b): (&[f64], &[f64]),
    rc: &HashMap<Key, u64>,
    cc: &HashMap<Key, u64>,
    bins: usize,
) -> (Vec<f64>, Vec<f64>) {
    const EPS: f64 = 1e-4;
    let fill = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| if x == 0.0 { EPS } else { x })
            .collect::<Vec<f64>>()
    };
    if r.kind == Kind::Categorical {
        let (p, q) = value_shares(rc, cc);
        return (fill(p), fill(q));
    }
    let bins = bins.max(1);
    // Inner edges: the reference's quantiles at i / bins (linear
    // interpolation, NumPy's default), deduplicated.
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| quantile(a, i as f64 / bins as f64))
        .collect();
    edges.dedup();
    let count = |s: &[f64]| -> Vec<f64> {
        let mut out = Vec::with_capacity(edges.len() + 1);
        let mut prev = 0usize;
        for e in &edges {
            let k = s.partition_point(|v| *v < *e);
            out.push((k - prev) as f64 / s.len() as f64);
            prev = k;
        }
        out.push((s.len() - prev) as f64 / s.len() as f64);
        out
    };
    (fill(count(a)), fill(count(b)))
}

/// The `q` quantile of sorted `s` by linear interpolation.
pub fn quantile(s: &[f64], q: f64) -> f64 {
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}
