//! Keyed row diffs of a changed table: with `report.tables.PATH.key` in
//! mlci.yaml, the rows of the two sides are joined on the key columns and
//! counted as datacompy counts them (read from `datacompy/pandas.py`):
//!
//! - an outer join on the key; a key repeated on a side is matched in
//!   order (the n-th row with a key before meets the n-th after, as
//!   datacompy's `cumcount` does); a missing key value meets a missing one;
//! - rows only before are removed, only after added; a joined row is
//!   changed when any column both sides have (the key aside) differs;
//! - numbers are equal when equal (no tolerance), text when identical, two
//!   missing values are equal; a column that is a number on one side and
//!   text on the other differs on every joined row.
//!
//! Linear apart from one parallel sort of each side's keys; memory is one
//! value per cell (8 bytes for a number, 4 for text) and the join.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::Serialize;

use crate::data::table::{Column, Kind, Table};

/// The most sample rows of each kind (added, removed, changed).
pub const SAMPLES: usize = 3;
/// The most cells (rows × columns) a side may lay out for the join: about
/// 1.6 GB of numbers. A sparse JSON Lines file (a new key per line) is
/// small on disk but rows × keys in cells.
pub const MAX_CELLS: u64 = 200_000_000;
/// The longest value a sample shows, in characters.
pub const SHOWN_CHARS: usize = 60;

/// How the rows of a keyed table changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct KeyedChange {
    /// The key columns.
    pub key: Vec<String>,
    pub added: u64,
    pub removed: u64,
    /// Joined rows with a difference in any compared column.
    pub changed: u64,
    pub unchanged: u64,
    /// Each compared column (both sides have it, not the key) with how
    /// many joined rows differ in it, in the new side's column order.
    pub columns: Vec<ColumnChanges>,
    /// A few rows of each kind, in key order.
    pub samples: Vec<Sample>,
}

/// One compared column and how many joined rows differ in it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnChanges {
    pub column: String,
    pub changed: u64,
}

/// One sample row: its key (`id=17`), and for a changed row the first
/// column that changed with its value before and after.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    pub key: String,
    pub column: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A column laid out row by row.
enum Cells {
    /// NaN where missing.
    Numbers(Vec<f64>),
    /// Codes into `names`; [`MISSING`] where missing.
    Texts { codes: Vec<u32>, names: Vec<String> },
}

const MISSING: u32 = u32::MAX;

impl Cells {
    fn of(col: Column, rows: u64) -> Cells {
        let mut gaps = col
            .missing_rows
            .iter()
            .flat_map(|(first, n)| *first..first + n)
            .peekable();
        match col.kind {
            Kind::Numeric => {
                let mut values = col.numbers.into_iter();
                let out = (0..rows)
                    .map(|r| match gaps.next_if_eq(&r) {
                        Some(_) => f64::NAN,
                        None => values.next().unwrap_or(f64::NAN),
                    })
                    .collect();
                Cells::Numbers(out)
            }
            Kind::Categorical => {
                let mut values = col.codes.into_iter();
                let codes = (0..rows)
                    .map(|r| match gaps.next_if_eq(&r) {
                        Some(_) => MISSING,
                        None => values.next().unwrap_or(MISSING),
                    })
                    .collect();
                Cells::Texts {
                    codes,
                    names: col.categories,
                }
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Cells::Numbers(_) => "a number",
            Cells::Texts { .. } => "text",
        }
    }

    /// Row `r` as a reader sees it (at most [`SHOWN_CHARS`] characters).
    fn shown(&self, r: usize) -> String {
        let full = match self {
            Cells::Numbers(v) if v[r].is_nan() => "(missing)".into(),
            Cells::Numbers(v) => number(v[r]),
            Cells::Texts { codes, .. } if codes[r] == MISSING => "(missing)".into(),
            Cells::Texts { codes, names } => names[codes[r] as usize].clone(),
        };
        match full.char_indices().nth(SHOWN_CHARS) {
            Some((at, _)) => format!("{}…", &full[..at]),
            None => full,
        }
    }
}

/// A number as pandas prints it: whole numbers without a fraction.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// One side: its columns by name, row by row.
struct Frame {
    names: Vec<String>,
    cells: Vec<Cells>,
}

impl Frame {
    fn of(t: Table) -> Frame {
        let rows = t.rows;
        let (names, cells) = t
            .columns
            .into_par_iter()
            .map(|c| (c.name.clone(), Cells::of(c, rows)))
            .unzip();
        Frame { names, cells }
    }

    fn at(&self, name: &str) -> Option<&Cells> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.cells[i])
    }
}

/// Compares `old` and `new` joined on `key` (`label`s name the sides in
/// errors); Err says why the rows could not be joined (a key column
/// missing, of another type, too many rows).
pub fn compare(
    old: Table,
    new: Table,
    key: &[String],
    labels: [&str; 2],
) -> Result<KeyedChange, String> {
    if old.rows > u32::MAX as u64 || new.rows > u32::MAX as u64 {
        return Err("over 4 billion rows: rows not compared".into());
    }
    for (t, label) in [(&old, labels[0]), (&new, labels[1])] {
        let cells = t.rows.saturating_mul(t.columns.len() as u64);
        if cells > MAX_CELLS {
            return Err(format!(
                "{cells} cells at {label} (rows × columns), over {MAX_CELLS}: rows not compared"
            ));
        }
    }
    let (old, new) = rayon::join(|| Frame::of(old), || Frame::of(new));
    let ranks = key_ranks(&old, &new, key, labels)?;
    let (order_old, order_new) = rayon::join(|| order(&ranks[0]), || order(&ranks[1]));
    let cmp = |a: u32, b: u32| {
        ranks[0]
            .iter()
            .zip(&ranks[1])
            .map(|(x, y)| x[a as usize].cmp(&y[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    let (mut pairs, mut removed, mut added) = (Vec::new(), Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < order_old.len() || j < order_new.len() {
        let o = match (order_old.get(i), order_new.get(j)) {
            (Some(&a), Some(&b)) => cmp(a, b),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match o {
            Ordering::Equal => {
                pairs.push((order_old[i], order_new[j]));
                i += 1;
                j += 1;
            }
            Ordering::Less => {
                removed.push(order_old[i]);
                i += 1;
            }
            Ordering::Greater => {
                added.push(order_new[j]);
                j += 1;
            }
        }
    }
    let compared: Vec<(&str, &Cells, &Cells)> = new
        .names
        .iter()
        .zip(&new.cells)
        .filter(|(n, _)| !key.contains(n))
        .filter_map(|(n, c)| old.at(n).map(|o| (n.as_str(), o, c)))
        .collect();
    let differs: Vec<Vec<bool>> = compared
        .par_iter()
        .map(|(_, a, b)| unequal(a, b, &pairs))
        .collect();
    let changed_rows: Vec<usize> = (0..pairs.len())
        .filter(|p| differs.iter().any(|d| d[*p]))
        .collect();
    let key_of = |f: &Frame, r: u32| {
        key.iter()
            .map(|k| format!("{k}={}", f.at(k).expect("a key column").shown(r as usize)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut samples = Vec::new();
    for &p in changed_rows.iter().take(SAMPLES) {
        let (a, b) = pairs[p];
        let c = differs.iter().position(|d| d[p]).expect("a changed column");
        let (name, x, y) = compared[c];
        samples.push(Sample {
            kind: "changed",
            key: key_of(&new, b),
            column: Some(name.to_string()),
            before: Some(x.shown(a as usize)),
            after: Some(y.shown(b as usize)),
        });
    }
    for (kind, rows, frame) in [("added", &added, &new), ("removed", &removed, &old)] {
        for &r in rows.iter().take(SAMPLES) {
            samples.push(Sample {
                kind,
                key: key_of(frame, r),
                column: None,
                before: None,
                after: None,
            });
        }
    }
    Ok(KeyedChange {
        key: key.to_vec(),
        added: added.len() as u64,
        removed: removed.len() as u64,
        changed: changed_rows.len() as u64,
        unchanged: (pairs.len() - changed_rows.len()) as u64,
        columns: compared
            .iter()
            .zip(&differs)
            .map(|((n, _, _), d)| ColumnChanges {
                column: n.to_string(),
                changed: d.iter().filter(|x| **x).count() as u64,
            })
            .collect(),
        samples,
    })
}

/// Each key column as one rank per row on each side, comparable across
/// the sides: 0 for a missing value, numbers in their order, texts in
/// their (byte) order.
fn key_ranks(
    old: &Frame,
    new: &Frame,
    key: &[String],
    labels: [&str; 2],
) -> Result<[Vec<Vec<u64>>; 2], String> {
    let mut out = [Vec::new(), Vec::new()];
    for k in key {
        let missing = |label: &str| format!("no key column `{k}` at {label}: rows not compared");
        let a = old.at(k).ok_or_else(|| missing(labels[0]))?;
        let b = new.at(k).ok_or_else(|| missing(labels[1]))?;
        let (ra, rb) = match (a, b) {
            (Cells::Numbers(x), Cells::Numbers(y)) => {
                rayon::join(|| number_ranks(x), || number_ranks(y))
            }
            (
                Cells::Texts {
                    codes: ca,
                    names: na,
                },
                Cells::Texts {
                    codes: cb,
                    names: nb,
                },
            ) => text_ranks((ca, na), (cb, nb)),
            _ => {
                return Err(format!(
                    "key column `{k}` is {} at {} and {} at {}: rows not compared",
                    a.kind(),
                    labels[0],
                    b.kind(),
                    labels[1]
                ))
            }
        };
        out[0].push(ra);
        out[1].push(rb);
    }
    Ok(out)
}

/// Order-preserving ranks of numbers (NaN, missing, ranks 0; -0 is 0).
fn number_ranks(x: &[f64]) -> Vec<u64> {
    x.par_iter()
        .map(|v| {
            if v.is_nan() {
                return 0;
            }
            let bits = (v + 0.0).to_bits();
            if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            }
        })
        .collect()
}

type TextSide<'a> = (&'a [u32], &'a [String]);

/// Ranks of two sides' texts in one order (each text's place among both
/// sides' distinct texts, from 1; missing 0).
fn text_ranks(a: TextSide<'_>, b: TextSide<'_>) -> (Vec<u64>, Vec<u64>) {
    let mut all: Vec<&str> = a.1.iter().chain(b.1).map(String::as_str).collect();
    all.par_sort_unstable();
    all.dedup();
    let per_code = |names: &[String]| -> Vec<u64> {
        names
            .iter()
            .map(|n| all.binary_search(&n.as_str()).expect("listed") as u64 + 1)
            .collect()
    };
    let ranks = |(codes, names): TextSide<'_>| -> Vec<u64> {
        let of = per_code(names);
        codes
            .par_iter()
            .map(|c| if *c == MISSING { 0 } else { of[*c as usize] })
            .collect()
    };
    rayon::join(|| ranks(a), || ranks(b))
}

/// The rows of one side in key order, rows with one key in file order.
fn order(ranks: &[Vec<u64>]) -> Vec<u32> {
    let n = ranks.first().map_or(0, Vec::len);
    if let [only] = ranks {
        let mut keyed: Vec<(u64, u32)> = only.iter().zip(0u32..).map(|(k, i)| (*k, i)).collect();
        keyed.par_sort_unstable();
        return keyed.into_iter().map(|(_, i)| i).collect();
    }
    let mut rows: Vec<u32> = (0..n as u32).collect();
    rows.par_sort_unstable_by(|a, b| {
        ranks
            .iter()
            .map(|r| r[*a as usize].cmp(&r[*b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.cmp(b))
    });
    rows
}

/// For each joined pair, whether the column differs.
fn unequal(a: &Cells, b: &Cells, pairs: &[(u32, u32)]) -> Vec<bool> {
    match (a, b) {
        (Cells::Numbers(x), Cells::Numbers(y)) => pairs
            .par_iter()
            .map(|&(i, j)| {
                let (p, q) = (x[i as usize], y[j as usize]);
                !(p == q || (p.is_nan() && q.is_nan()))
            })
            .collect(),
        (
            Cells::Texts {
                codes: ca,
                names: na,
            },
            Cells::Texts {
                codes: cb,
                names: nb,
            },
        ) => {
            // Old codes in the new side's dictionary, each looked up once.
            let index: std::collections::HashMap<&str, u32> = nb
                .iter()
                .zip(0u32..)
                .map(|(n, i)| (n.as_str(), i))
                .collect();
            let recode: Vec<u32> = na
                .iter()
                .map(|n| index.get(n.as_str()).copied().unwrap_or(MISSING - 1))
                .collect();
            pairs
                .par_iter()
                .map(|&(i, j)| {
                    let p = ca[i as usize];
                    let p = if p == MISSING {
                        MISSING
                    } else {
                        recode[p as usize]
                    };
                    p != cb[j as usize]
                })
                .collect()
        }
        // A number on one side and text on the other: datacompy finds no
        // comparator and calls every row unequal.
        _ => vec![true; pairs.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        fs_err::write(&p, csv).unwrap();
        crate::data::table::read(&p, "t.csv", &Default::default()).unwrap()
    }

    #[test]
    fn rows_join_on_the_key_repeats_in_order() {
        let old = table("id,x,s\n1,1.0,a\n2,2,b\n2,3,c\n4,,d\n,5,e\n");
        let new = table("id,x,s\n2,2,b\n1,1,a\n2,3.5,c\n5,9,z\n,5,E\n4,,d\n");
        let c = compare(old, new, &["id".into()], ["HEAD", "workspace"]).unwrap();
        assert_eq!((c.added, c.removed, c.changed, c.unchanged), (1, 0, 2, 3));
        assert_eq!(
            c.columns,
            vec![
                ColumnChanges {
                    column: "x".into(),
                    changed: 1
                },
                ColumnChanges {
                    column: "s".into(),
                    changed: 1
                }
            ]
        );
        // Missing keys first, then numbers in order.
        assert_eq!(c.samples[0].key, "id=(missing)");
        assert_eq!(c.samples[1].before.as_deref(), Some("3"));
        assert_eq!(c.samples[1].after.as_deref(), Some("3.5"));
        assert_eq!(c.samples[2].key, "id=5");
    }

    #[test]
    fn sparse_json_lines_keep_their_rows() {
        let read = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("t.jsonl");
            fs_err::write(&p, text).unwrap();
            crate::data::table::read(&p, "t.jsonl", &Default::default()).unwrap()
        };
        let old = read("{\"id\": 1, \"x\": 1}\n{\"id\": 2}\n{\"id\": 3, \"y\": \"a\"}\n");
        assert_eq!(old.columns[1].missing_rows, vec![(1, 2)]);
        assert_eq!(old.columns[2].missing_rows, vec![(0, 2)]);
        let new = read("{\"id\": 1, \"x\": 1}\n{\"id\": 2, \"x\": 5}\n{\"id\": 3, \"y\": \"a\"}\n");
        let c = compare(old, new, &["id".into()], ["HEAD", "workspace"]).unwrap();
        assert_eq!((c.changed, c.unchanged), (1, 2));
        assert_eq!(c.samples[0].before.as_deref(), Some("(missing)"));
        assert_eq!(c.samples[0].after.as_deref(), Some("5"));
    }

    #[test]
    fn a_key_of_another_type_is_said() {
        let old = table("id,x\n1,1\n");
        let new = table("id,x\na,1\n");
        let e = compare(old, new, &["id".into()], ["HEAD", "workspace"]).unwrap_err();
        assert_eq!(
            e,
            "key column `id` is a number at HEAD and text at workspace: rows not compared"
        );
    }
}
