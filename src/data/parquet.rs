//! Parquet columns through the Arrow project's `parquet` crate: the footer
//! parsed once, then one record batch reader per column (a projection of
//! that column alone), each streaming its column in batches of 64 Ki rows,
//! when the column is asked for. Numeric
//! Arrow types are numeric columns (cast to `f64`); strings, booleans and
//! dictionaries are categorical (cast to text); nulls and NaN are missing.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::{Array, Float64Array, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;

use super::table::{Append, Column, Kind, Table, TableError};

const BATCH: usize = 64 * 1024;

fn err(shown: &str, e: impl std::fmt::Display) -> TableError {
    TableError::Read {
        file: shown.into(),
        message: e.to_string(),
    }
}

/// A Parquet file opened once (its footer parsed once), whose columns are
/// decoded one at a time when asked: a wide table is never in memory
/// whole, and columns decode in parallel on rayon's workers.
pub(super) struct Columns {
    path: std::path::PathBuf,
    shown: String,
    metadata: ArrowReaderMetadata,
    /// Name → (index, Arrow type), in file order.
    fields: Vec<(String, DataType)>,
    index: std::collections::HashMap<String, usize>,
    kinds: BTreeMap<String, Kind>,
}

impl Columns {
    /// Opens `path` and reads its footer; refuses more columns than the
    /// column bound.
    pub(super) fn open(
        path: &Path,
        shown: &str,
        kinds: &BTreeMap<String, Kind>,
    ) -> Result<Columns, TableError> {
        #[allow(clippy::disallowed_methods)]
        // its error names the path as shown, or is matched by kind
        let file = std::fs::File::open(path).map_err(|e| err(shown, e))?;
        let metadata =
            ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| err(shown, e))?;
        let fields: Vec<(String, DataType)> = metadata
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        crate::limits::check(shown, fields.len() as u64, crate::limits::Limit::Columns)?;
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Ok(Columns {
            path: path.to_path_buf(),
            shown: shown.to_string(),
            metadata,
            fields,
            index,
            kinds: kinds.clone(),
        })
    }

    /// Rows, from the footer.
    pub(super) fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// Column names in file order.
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Decodes the columns `names` with one reader, in the order given
    /// (None for a name the file lacks).
    pub(super) fn columns(&self, names: &[&str]) -> Vec<Option<Result<Column, TableError>>> {
        let mut wanted: Vec<usize> = names
            .iter()
            .filter_map(|n| self.index.get(*n).copied())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut decoded: std::collections::HashMap<usize, Result<Column, TableError>> =
            match read_columns(self, &wanted) {
                Ok(cols) => wanted
                    .iter()
                    .copied()
                    .zip(cols.into_iter().map(Ok))
                    .collect(),
                Err(e) => {
                    // One error for the group, reported at its first name.
                    let mut m = std::collections::HashMap::new();
                    if let Some(first) = wanted.first() {
                        m.insert(*first, Err(e));
                    }
                    m
                }
            };
        names
            .iter()
            .map(|n| {
                let i = self.index.get(*n)?;
                Some(decoded.remove(i).unwrap_or_else(|| {
                    Err(err(&self.shown, format!("column `{n}` could not be read")))
                }))
            })
            .collect()
    }

    /// How many columns one reader should decode at once: columns of
    /// `rows` values within about 16 MiB, and at most a quarter of a
    /// worker's share of the columns, so groups still spread over workers.
    pub(super) fn group_size(&self, rows: u64) -> usize {
        const BUDGET: u64 = 16 << 20;
        let by_memory = (BUDGET / (rows.max(1) * 8)).max(1) as usize;
        let share = self
            .fields
            .len()
            .div_ceil(4 * rayon::current_num_threads().max(1));
        by_memory.min(share.max(1))
    }

    /// Every column, decoded in parallel, in groups.
    pub(super) fn read_all(&self) -> Result<Table, TableError> {
        let group = self.group_size(self.rows());
        let indices: Vec<usize> = (0..self.fields.len()).collect();
        let groups: Vec<Vec<Column>> = indices
            .par_chunks(group)
            .map(|g| read_columns(self, g))
            .collect::<Result<_, _>>()?;
        Ok(Table {
            columns: groups.into_iter().flatten().collect(),
            rows: self.rows(),
        })
    }
}

/// Reads every top-level column of the Parquet file at `path`.
pub(super) fn read(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
) -> Result<Table, TableError> {
    Columns::open(path, shown, kinds)?.read_all()
}

/// Decodes the columns at `indices` (ascending, distinct) with one reader:
/// a reader's set-up costs time in the file's column count, so a wide file
/// is read in groups, not one reader per column.
fn read_columns(file: &Columns, indices: &[usize]) -> Result<Vec<Column>, TableError> {
    let shown = file.shown.as_str();
    let mut outs = Vec::with_capacity(indices.len());
    let mut numeric = Vec::with_capacity(indices.len());
    for &i in indices {
        let (name, ty) = &file.fields[i];
        let forced = file.kinds.get(name).copied();
        if !ty.is_numeric() && !is_text_like(ty) {
            return Err(err(
                shown,
                format!("column `{name}` has type {ty}, which drift cannot compare"),
            ));
        }
        numeric.push(ty.is_numeric() && forced != Some(Kind::Categorical));
        let mut out = Append::new(name, forced);
        if !ty.is_integer() {
            out.not_integers();
        }
        outs.push(out);
    }
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let handle = std::fs::File::open(&file.path).map_err(|e| err(shown, e))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, file.metadata.clone());
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| err(shown, e))?;
    let mut first_row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| err(shown, e))?;
        // The projected batch holds the columns in file order, as
        // `indices` is.
        for (k, out) in outs.iter_mut().enumerate() {
            let array = batch.column(k);
            let mut row = first_row;
            if numeric[k] {
                let cast =
                    arrow_cast::cast(array, &DataType::Float64).map_err(|e| err(shown, e))?;
                let values = cast
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("cast to f64");
                for i in 0..values.len() {
                    row += 1;
                    if values.is_null(i) {
                        out.missing();
                    } else {
                        out.number(values.value(i), row);
                    }
                }
            } else {
                let cast = arrow_cast::cast(array, &DataType::Utf8).map_err(|e| err(shown, e))?;
                let values = cast
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to text");
                for i in 0..values.len() {
                    row += 1;
                    if values.is_null(i) {
                        out.missing();
                    } else {
                        out.text(values.value(i), row);
                    }
                }
            }
        }
        first_row += batch.num_rows() as u64;
    }
    outs.into_iter().map(|o| o.finish(shown)).collect()
}

fn is_text_like(ty: &DataType) -> bool {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => true,
        DataType::Dictionary(_, v) => is_text_like(v) || v.is_numeric(),
        _ => false,
    }
}

/// A predictions log's columns, row-aligned: one reader over the (three or
/// four) columns used.
pub(super) fn read_log(
    path: &Path,
    shown: &str,
    cols: &super::log::LogColumns,
) -> Result<super::log::Log, TableError> {
    use super::log::{LogBuilder, Value};
    use arrow_array::TimestampMillisecondArray;
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let file = std::fs::File::open(path).map_err(|e| err(shown, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(shown, e))?;
    let schema = builder.schema().clone();
    let index = |name: &str| schema.index_of(name).ok();
    let need = |name: &str| index(name).ok_or_else(|| super::log::missing_column(shown, name));
    let (ti, pi, yi) = (
        need(&cols.timestamp)?,
        need(&cols.prediction)?,
        need(&cols.target)?,
    );
    let si = index(&cols.score);
    let mut wanted = vec![ti, pi, yi];
    wanted.extend(si);
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.clone());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| err(shown, e))?;
    // The projected batch keeps the file's column order.
    let mut order = wanted.clone();
    order.sort_unstable();
    let at = |i: usize| order.iter().position(|x| *x == i).expect("projected");
    let mut out = LogBuilder::new(si.is_some());
    for batch in reader {
        let batch = batch.map_err(|e| err(shown, e))?;
        let n = batch.num_rows();
        // Times as milliseconds since the epoch.
        let t = batch.column(at(ti));
        let times: Vec<Option<i64>> = match t.data_type() {
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                let ms = arrow_cast::cast(
                    t,
                    &DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None),
                )
                .map_err(|e| err(shown, e))?;
                let ms = ms
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .expect("cast to ms");
                (0..n)
                    .map(|i| (!ms.is_null(i)).then(|| ms.value(i)))
                    .collect()
            }
            ty if ty.is_numeric() => {
                let secs = arrow_cast::cast(t, &DataType::Float64).map_err(|e| err(shown, e))?;
                let secs = secs.as_any().downcast_ref::<Float64Array>().expect("f64");
                (0..n)
                    .map(|i| {
                        // NaN or inf is no time (it would land in 1970).
                        let s = secs.value(i);
                        (!secs.is_null(i) && s.is_finite() && s.abs() < 1e13)
                            .then(|| (s * 1000.0).round() as i64)
                    })
                    .collect()
            }
            _ => {
                let text = arrow_cast::cast(t, &DataType::Utf8).map_err(|e| err(shown, e))?;
                let text = text.as_any().downcast_ref::<StringArray>().expect("text");
                (0..n)
                    .map(|i| {
                        (!text.is_null(i))
                            .then(|| LogBuilder::parse_time(text.value(i)))
                            .flatten()
                    })
                    .collect()
            }
        };
        let labels = |col: usize, out: &mut LogBuilder| -> Result<Vec<Option<Value>>, TableError> {
            let a = batch.column(at(col));
            if a.data_type().is_numeric() {
                let v = arrow_cast::cast(a, &DataType::Float64).map_err(|e| err(shown, e))?;
                let v = v.as_any().downcast_ref::<Float64Array>().expect("f64");
                Ok((0..n)
                    .map(|i| {
                        (!v.is_null(i) && !v.value(i).is_nan()).then(|| Value::Number(v.value(i)))
                    })
                    .collect())
            } else {
                let v = arrow_cast::cast(a, &DataType::Utf8).map_err(|e| err(shown, e))?;
                let v = v.as_any().downcast_ref::<StringArray>().expect("text");
                Ok((0..n)
                    .map(|i| (!v.is_null(i)).then(|| out.text_label(v.value(i))))
                    .collect())
            }
        };
        let preds = labels(pi, &mut out)?;
        let targets = labels(yi, &mut out)?;
        let scores: Option<Vec<Option<f64>>> = match si {
            Some(s) => {
                let v = arrow_cast::cast(batch.column(at(s)), &DataType::Float64)
                    .map_err(|e| err(shown, e))?;
                let v = v.as_any().downcast_ref::<Float64Array>().expect("f64");
                Some(
                    (0..n)
                        .map(|i| (!v.is_null(i)).then(|| v.value(i)))
                        .collect(),
                )
            }
            None => None,
        };
        for i in 0..n {
            out.push(
                times[i],
                preds[i],
                targets[i],
                scores.as_ref().and_then(|s| s[i]),
            );
        }
    }
    Ok(out.finish())
}
