//! Which columns are tested, and as what: Evidently's type inference
//! (`evidently.core.datasets.infer_column_type`, on the current dataset,
//! as its `DataDriftPreset` reads types from the current data's
//! definition), with mlci's settings over it.
//!
//! - A column pandas reads as floats is numerical.
//! - A column pandas reads as integers (every value a whole number written
//!   as one, none missing) is categorical with at most 10 distinct values
//!   (`INTEGER_CARDINALITY_LIMIT`), else numerical.
//! - A column of strings is text when its distinct values are more than
//!   half its non-missing values, else categorical; booleans are
//!   categorical.
//! - Text columns: Evidently's default preset tests them with a
//!   text-content classifier trained on the two sides (scikit-learn's
//!   model), which mlci does not ship: they are left out of the drift share
//!   and named, never tested as categories (an ID, a timestamp or free
//!   text, where every current value is new, would always "drift").
//! - A column with no values in the current data is Evidently's "unknown":
//!   left out and named.
//!
//! `type:` in `drift.columns` (numerical/numeric, categorical, text) and
//! `role:` (id, datetime, target, prediction, ignore: left out, named)
//! override the inference.

use serde::{Deserialize, Serialize};

use crate::data::table::{Column, Kind};

/// Evidently's limit for an integer column to be categorical.
pub const INTEGER_CARDINALITY_LIMIT: usize = 10;

/// A column's type as a user sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeSetting {
    #[serde(alias = "numerical")]
    Numeric,
    Categorical,
    Text,
}

impl TypeSetting {
    /// How the reader takes the column: text is read as categories.
    pub fn kind(self) -> Kind {
        match self {
            TypeSetting::Numeric => Kind::Numeric,
            TypeSetting::Categorical | TypeSetting::Text => Kind::Categorical,
        }
    }
}

/// A column's role: not a feature, so not tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Id,
    Datetime,
    Target,
    Prediction,
    Ignore,
}

impl std::str::FromStr for TypeSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<TypeSetting, String> {
        Ok(match s {
            "numeric" | "numerical" => TypeSetting::Numeric,
            "categorical" => TypeSetting::Categorical,
            "text" => TypeSetting::Text,
            other => {
                return Err(format!(
                    "`{other}` is not a column type (numerical, categorical, text)"
                ))
            }
        })
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Ok(match s {
            "id" => Role::Id,
            "datetime" => Role::Datetime,
            "target" => Role::Target,
            "prediction" => Role::Prediction,
            "ignore" => Role::Ignore,
            other => {
                return Err(format!(
                    "`{other}` is not a column role (id, datetime, target, prediction, ignore)"
                ))
            }
        })
    }
}

/// What a column is tested as, or why it is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tested {
    /// Tested as read.
    AsRead,
    /// Read as numbers, tested as categories (Evidently's integer rule).
    AsCategories,
    /// Left out of the drift share: (the type or role shown, why).
    LeftOut(&'static str, &'static str),
}

/// Decides how the pair is tested from the current column `c`, the type
/// the user set (if any) and the role (if any).
pub fn decide(c: &Column, set: Option<TypeSetting>, role: Option<Role>) -> Tested {
    if let Some(role) = role {
        let shown = match role {
            Role::Id => "id",
            Role::Datetime => "datetime",
            Role::Target => "target",
            Role::Prediction => "prediction",
            Role::Ignore => "ignored",
        };
        return Tested::LeftOut(shown, "not a feature (its role)");
    }
    match set {
        Some(TypeSetting::Text) => return Tested::LeftOut("text", TEXT_WHY),
        Some(_) => return Tested::AsRead,
        None => {}
    }
    if c.is_empty() {
        return Tested::LeftOut("unknown", "no values in the current data");
    }
    match c.kind {
        Kind::Numeric if c.integers && distinct_numbers(c) <= INTEGER_CARDINALITY_LIMIT => {
            Tested::AsCategories
        }
        Kind::Numeric => Tested::AsRead,
        Kind::Categorical if is_boolean(c) => Tested::AsRead,
        Kind::Categorical => {
            // pandas: nunique > count * 0.5 (both without missing values).
            if c.categories.len() as f64 > c.codes.len() as f64 * 0.5 {
                Tested::LeftOut("text", TEXT_WHY)
            } else {
                Tested::AsRead
            }
        }
    }
}

const TEXT_WHY: &str = "Evidently tests text with a trained text classifier mlci does not ship";

fn distinct_numbers(c: &Column) -> usize {
    let mut v: Vec<u64> = c
        .numbers
        .iter()
        .map(|x| if *x == 0.0 { 0.0f64 } else { *x }.to_bits())
        .collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// pandas reads `True`/`False` (any of its spellings) as booleans.
fn is_boolean(c: &Column) -> bool {
    c.categories.iter().all(|v| {
        matches!(
            v.as_str(),
            "True" | "False" | "true" | "false" | "TRUE" | "FALSE"
        )
    })
}

/// A numeric column as categories: each value's label as pandas prints a
/// whole number (`3`), so both sides' values meet as one category.
pub fn as_categories(col: &Column) -> Column {
    let mut index = std::collections::HashMap::new();
    let mut categories = Vec::new();
    let codes = col
        .numbers
        .iter()
        .map(|x| {
            let label = if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", *x as i64)
            } else {
                x.to_string()
            };
            *index.entry(label.clone()).or_insert_with(|| {
                categories.push(label);
                categories.len() as u32 - 1
            })
        })
        .collect();
    Column {
        name: col.name.clone(),
        kind: Kind::Categorical,
        numbers: Vec::new(),
        codes,
        categories,
        missing: col.missing,
        missing_rows: col.missing_rows.clone(),
        integers: col.integers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(v: &[f64], integers: bool) -> Column {
        Column {
            name: "x".into(),
            kind: Kind::Numeric,
            numbers: v.to_vec(),
            codes: Vec::new(),
            categories: Vec::new(),
            missing: 0,
            missing_rows: Vec::new(),
            integers,
        }
    }

    fn texts(v: &[&str]) -> Column {
        let mut cats: Vec<String> = Vec::new();
        let codes = v
            .iter()
            .map(|s| match cats.iter().position(|c| c == s) {
                Some(i) => i as u32,
                None => {
                    cats.push(s.to_string());
                    cats.len() as u32 - 1
                }
            })
            .collect();
        Column {
            name: "t".into(),
            kind: Kind::Categorical,
            numbers: Vec::new(),
            codes,
            categories: cats,
            missing: 0,
            missing_rows: Vec::new(),
            integers: false,
        }
    }

    #[test]
    fn evidentlys_rules() {
        let rating: Vec<f64> = (0..40).map(|i| f64::from(i % 8 + 1)).collect();
        assert_eq!(
            decide(&numbers(&rating, true), None, None),
            Tested::AsCategories
        );
        // Floats, or more than 10 integers: numerical.
        assert_eq!(decide(&numbers(&rating, false), None, None), Tested::AsRead);
        let wide: Vec<f64> = (0..40).map(f64::from).collect();
        assert_eq!(decide(&numbers(&wide, true), None, None), Tested::AsRead);
        // Strings: text when more than half are distinct.
        assert!(matches!(
            decide(&texts(&["a", "b", "c"]), None, None),
            Tested::LeftOut("text", _)
        ));
        assert_eq!(
            decide(&texts(&["a", "b", "a", "b"]), None, None),
            Tested::AsRead
        );
        assert_eq!(
            decide(&texts(&["True", "False", "True"]), None, None),
            Tested::AsRead
        );
        // Settings win.
        assert_eq!(
            decide(
                &texts(&["a", "b", "c"]),
                Some(TypeSetting::Categorical),
                None
            ),
            Tested::AsRead
        );
        assert!(matches!(
            decide(&numbers(&wide, true), None, Some(Role::Id)),
            Tested::LeftOut("id", _)
        ));
        let cats = as_categories(&numbers(&[1.0, 2.0, 1.0], true));
        assert_eq!(cats.categories, ["1", "2"]);
        assert_eq!(cats.codes, [0, 1, 0]);
    }
}
