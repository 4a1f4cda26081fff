//! Reading a dataset's columns for drift tests: CSV/TSV (the `csv` crate),
//! JSON Lines (serde_json, one object per line) and Parquet (the Arrow
//! project's `parquet` crate, one reader per column so columns decode in
//! parallel), streamed in chunks into compact columns: numbers as `f64`,
//! categories as dictionary codes. No text table is ever held whole.
//!
//! Types: a column whose non-missing values are all numbers is numeric,
//! else categorical; a column where some values are numbers and others are
//! not is an error (set its type to say which it is). Missing values are
//! counted and left out: empty fields and pandas' default NA spellings in
//! CSV, `null` in JSON, nulls and NaN in Parquet.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use indexmap::IndexMap;

use crate::limits::{self, Limit, LimitError};

/// A column's type for the drift tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Numeric,
    Categorical,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        }
    }
}

/// Runs of missing rows: (first row, 0-based; how many).
pub type MissingRuns = Vec<(u64, u64)>;

/// Appends `count` missing rows from `first` to `runs`, joining the last
/// run when they follow it.
pub fn push_missing(runs: &mut MissingRuns, first: u64, count: u64) {
    if count == 0 {
        return;
    }
    match runs.last_mut() {
        Some((start, n)) if *start + *n == first => *n += count,
        _ => runs.push((first, count)),
    }
}

/// One column: its non-missing values and how many were missing.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// Numeric values (no NaN), in row order.
    pub numbers: Vec<f64>,
    /// Category codes into `categories`, in row order.
    pub codes: Vec<u32>,
    pub categories: Vec<String>,
    /// Missing values, and ±inf (dropped as Evidently drops them).
    pub missing: u64,
    /// The rows whose value is missing, as runs (first row 0-based, rows),
    /// ascending and apart: with them a column can be laid out row by row
    /// again (`datadiff::keyed`). Runs keep a sparse column (a JSON Lines
    /// key on few lines) linear in its values, not its rows.
    pub missing_rows: MissingRuns,
    /// Whether pandas would read the column as integers: every value a
    /// whole number written as one (no `.`, no exponent; a Parquet or JSON
    /// integer) and none missing. What Evidently's type inference looks
    /// at (the drift room's `types`).
    pub integers: bool,
}

impl Column {
    /// Non-missing values.
    pub fn len(&self) -> usize {
        match self.kind {
            Kind::Numeric => self.numbers.len(),
            Kind::Categorical => self.codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Category → count.
    pub fn counts(&self) -> HashMap<&str, u64> {
        let mut per_code = vec![0u64; self.categories.len()];
        for c in &self.codes {
            per_code[*c as usize] += 1;
        }
        self.categories
            .iter()
            .zip(per_code)
            .map(|(k, n)| (k.as_str(), n))
            .collect()
    }
}

/// A dataset: its columns in file order, and its row count.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: u64,
}

/// One side of a comparison, ready to give its columns by name: decoded
/// whole (CSV/TSV, JSON Lines, a directory of shards), or a Parquet file
/// whose columns are decoded one at a time when asked, so memory holds the
/// columns being compared, not the table.
pub struct Dataset {
    source: Source,
    /// A temporary copy the source reads (a table committed to git).
    _kept: Option<tempfile::TempDir>,
}

enum Source {
    Decoded {
        table: Table,
        index: HashMap<String, usize>,
    },
    Parquet(super::parquet::Columns),
}

impl From<Table> for Dataset {
    fn from(table: Table) -> Dataset {
        let index = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        Dataset {
            source: Source::Decoded { table, index },
            _kept: None,
        }
    }
}

impl Dataset {
    /// Keeps `dir` (holding the file this dataset reads) alive with it.
    pub fn keeping(mut self, dir: tempfile::TempDir) -> Dataset {
        self._kept = Some(dir);
        self
    }

    pub fn rows(&self) -> u64 {
        match &self.source {
            Source::Decoded { table, .. } => table.rows,
            Source::Parquet(p) => p.rows(),
        }
    }

    /// Column names in file order.
    pub fn names(&self) -> Vec<&str> {
        match &self.source {
            Source::Decoded { table, .. } => {
                table.columns.iter().map(|c| c.name.as_str()).collect()
            }
            Source::Parquet(p) => p.names().collect(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        match &self.source {
            Source::Decoded { index, .. } => index.contains_key(name),
            Source::Parquet(p) => p.has(name),
        }
    }

    /// The column `name`, borrowed when decoded already, else decoded now
    /// (None when the dataset has no such column).
    pub fn column(&self, name: &str) -> Option<Result<Cow<'_, Column>, TableError>> {
        self.columns(&[name]).pop().flatten()
    }

    /// The columns `names`, in that order (see [`Dataset::column`]); a
    /// lazy dataset decodes them with one reader.
    pub fn columns(&self, names: &[&str]) -> Vec<Option<Result<Cow<'_, Column>, TableError>>> {
        match &self.source {
            Source::Decoded { table, index } => names
                .iter()
                .map(|n| index.get(*n).map(|i| Ok(Cow::Borrowed(&table.columns[*i]))))
                .collect(),
            Source::Parquet(p) => p
                .columns(names)
                .into_iter()
                .map(|c| c.map(|r| r.map(Cow::Owned)))
                .collect(),
        }
    }

    /// How many columns to ask for at once when the dataset is lazy (see
    /// the Parquet reader's `group_size`); None when decoded (any
    /// number: they are borrowed).
    pub fn group_size(&self, rows: u64) -> Option<usize> {
        match &self.source {
            Source::Decoded { .. } => None,
            Source::Parquet(p) => Some(p.group_size(rows)),
        }
    }
}

/// Opens the table at `path` (shown as `shown`) as a [`Dataset`]: Parquet
/// lazily, other formats decoded (see [`read`]).
pub fn open(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
) -> Result<Dataset, TableError> {
    if format_of(path, shown) == "parquet" {
        let p = super::parquet::Columns::open(path, shown, kinds)?;
        if p.rows() == 0 {
            return Err(TableError::Empty { file: shown.into() });
        }
        return Ok(Dataset {
            source: Source::Parquet(p),
            _kept: None,
        });
    }
    read(path, shown, kinds).map(Dataset::from)
}

/// The format of `path` from its extension, or from the name shown (a
/// cache object has no extension; the name, without `@REV`, says it).
fn format_of(path: &Path, shown: &str) -> String {
    let named = shown.rsplit_once('@').map_or(shown, |(p, _)| p);
    let ext = path
        .extension()
        .or_else(|| Path::new(named).extension())
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "tab" => "tsv".into(),
        "ndjson" => "jsonl".into(),
        "pq" => "parquet".into(),
        _ => ext,
    }
}

/// Why a table could not be read (exit 2, naming the file and column).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: column `{column}` mixes numbers and text (row {row}: `{value}`)")]
    Mixed {
        file: String,
        column: String,
        row: u64,
        value: String,
    },
    #[error("{file}: column `{column}` is set numeric, but row {row} holds `{value}`")]
    NotNumber {
        file: String,
        column: String,
        row: u64,
        value: String,
    },
    #[error("{file}: the table has no rows")]
    Empty { file: String },
    /// A predictions log whose rows all lack a used column (most often
    /// the target: labels that have not arrived yet).
    #[error("{file}: none of its {rows} row(s) has a timestamp, a prediction and a `{target}` together: no row can be scored yet")]
    NoLabeledRows {
        file: String,
        rows: u64,
        target: String,
    },
    #[error("{file}: `{ext}` is not a format mlci reads")]
    Format { file: String, ext: String },
    #[error(transparent)]
    Limit(#[from] LimitError),
}

impl crate::error::Hint for TableError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            TableError::Read { .. } => "drift reads CSV/TSV with a header row, JSON Lines (one object per line) and Parquet".into(),
            TableError::Mixed { column, .. } => format!("set the column's type in mlci.yaml: `drift: {{columns: {{{column}: {{type: categorical}}}}}}` (or numeric, after cleaning the data)"),
            TableError::NotNumber { .. } => "set the column's type to categorical, or clean the value".into(),
            TableError::Empty { .. } => "drift compares two non-empty tables".into(),
            TableError::NoLabeledRows { .. } => "labels often arrive later than predictions: join them into the log when they do (rows without one are left out and counted), then run `mlci monitor` again".into(),
            TableError::Format { .. } => "name a .csv, .tsv, .jsonl/.ndjson or .parquet file (a directory of such shards is one dataset)".into(),
            TableError::Limit(e) => return crate::error::Hint::hint(e),
        })
    }
}

crate::register_hint!(TableError);

/// pandas' default NA spellings (`pandas.read_csv`'s `na_values`).
const NA: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Builds one column while rows stream in.
struct Builder {
    name: String,
    forced: Option<Kind>,
    numbers: Vec<f64>,
    codes: Vec<u32>,
    index: HashMap<String, u32>,
    categories: Vec<String>,
    missing: u64,
    missing_rows: MissingRuns,
    /// Rows accounted for so far (a value or a missing one each).
    filled: u64,
    /// Every number so far written as an integer.
    integers: bool,
    /// The first value of each sort, for the mixed-type error.
    first_number: Option<(u64, String)>,
    first_text: Option<(u64, String)>,
}

impl Builder {
    fn new(name: &str, forced: Option<Kind>) -> Builder {
        Builder {
            name: name.to_string(),
            forced,
            numbers: Vec::new(),
            codes: Vec::new(),
            index: HashMap::new(),
            categories: Vec::new(),
            missing: 0,
            missing_rows: Vec::new(),
            filled: 0,
            integers: true,
            first_number: None,
            first_text: None,
        }
    }

    fn category(&mut self, text: &str) {
        let code = match self.index.get(text) {
            Some(c) => *c,
            None => {
                let c = self.categories.len() as u32;
                self.categories.push(text.to_string());
                self.index.insert(text.to_string(), c);
                c
            }
        };
        self.codes.push(code);
        self.filled += 1;
    }

    /// The next row's value is missing.
    fn miss(&mut self) {
        push_missing(&mut self.missing_rows, self.filled, 1);
        self.filled += 1;
        self.missing += 1;
    }

    /// Rows up to `rows` that gave no value are missing (a JSON line
    /// without the key): one run, whatever their number.
    fn pad(&mut self, rows: u64) {
        if self.filled < rows {
            let n = rows - self.filled;
            push_missing(&mut self.missing_rows, self.filled, n);
            self.filled = rows;
            self.missing += n;
        }
    }

    /// A value as text (CSV, or a JSON string): a number when it parses.
    fn text(&mut self, text: &str, row: u64) {
        if NA.contains(&text) {
            self.miss();
            return;
        }
        let number = text.trim().parse::<f64>().ok().filter(|x| !x.is_nan());
        if number.is_some() && text.trim().parse::<i64>().is_err() {
            self.integers = false;
        }
        match (self.forced, number) {
            (Some(Kind::Categorical), _) => self.category(text),
            (_, Some(x)) => self.number(x, || text.to_string(), row),
            (Some(Kind::Numeric), None) => {
                // Reported in finish().
                self.note_text(row, text);
            }
            (None, None) => {
                self.note_text(row, text);
                self.category(text);
            }
        }
    }

    /// The first text value, for the mixed-type error (kept once: this
    /// runs per value).
    fn note_text(&mut self, row: u64, text: &str) {
        if self.first_text.is_none() {
            self.first_text = Some((row, text.to_string()));
        }
    }

    /// A number; `shown` gives its text only when it is needed (a forced
    /// categorical column, the first number for an error).
    fn number(&mut self, x: f64, shown: impl Fn() -> String, row: u64) {
        // NaN is missing; ±inf is dropped as Evidently drops it (counted
        // with the missing).
        if x.is_nan() || (x.is_infinite() && self.forced != Some(Kind::Categorical)) {
            self.miss();
            self.integers = false;
            return;
        }
        if self.forced == Some(Kind::Categorical) {
            self.category(&shown());
            return;
        }
        if self.first_number.is_none() {
            self.first_number = Some((row, shown()));
        }
        self.numbers.push(x);
        self.filled += 1;
    }

    fn finish(self, file: &str) -> Result<Column, TableError> {
        let kind = match (self.forced, &self.first_number, &self.first_text) {
            (Some(Kind::Numeric), _, Some((row, value))) => {
                return Err(TableError::NotNumber {
                    file: file.into(),
                    column: self.name,
                    row: *row,
                    value: value.clone(),
                })
            }
            (Some(k), _, _) => k,
            (None, Some((nrow, nval)), Some((trow, tval))) => {
                let (row, value) = if nrow > trow {
                    (nrow, nval)
                } else {
                    (trow, tval)
                };
                return Err(TableError::Mixed {
                    file: file.into(),
                    column: self.name,
                    row: *row,
                    value: value.clone(),
                });
            }
            (None, None, Some(_)) => Kind::Categorical,
            (None, _, None) => Kind::Numeric,
        };
        Ok(Column {
            name: self.name,
            kind,
            numbers: if kind == Kind::Numeric {
                self.numbers
            } else {
                Vec::new()
            },
            codes: if kind == Kind::Categorical {
                self.codes
            } else {
                Vec::new()
            },
            categories: self.categories,
            integers: self.integers && self.missing == 0,
            missing: self.missing,
            missing_rows: self.missing_rows,
        })
    }
}

/// Reads the table at `path` (shown as `shown`); the format comes from the
/// extension; `kinds` forces column types.
pub fn read(path: &Path, shown: &str, kinds: &BTreeMap<String, Kind>) -> Result<Table, TableError> {
    let ext = format_of(path, shown);
    let table = match ext.as_str() {
        "csv" => read_delimited(path, shown, kinds, b',')?,
        "tsv" => read_delimited(path, shown, kinds, b'\t')?,
        "jsonl" => read_json_lines(path, shown, kinds)?,
        "parquet" => super::parquet::read(path, shown, kinds)?,
        _ => {
            return Err(TableError::Format {
                file: shown.into(),
                ext,
            })
        }
    };
    if table.rows == 0 {
        return Err(TableError::Empty { file: shown.into() });
    }
    Ok(table)
}

fn read_err(shown: &str, e: impl std::fmt::Display) -> TableError {
    TableError::Read {
        file: shown.into(),
        message: e.to_string(),
    }
}

fn read_delimited(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
    delimiter: u8,
) -> Result<Table, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| read_err(shown, e))?;
    let headers = reader.headers().map_err(|e| read_err(shown, e))?.clone();
    limits::check(shown, headers.len() as u64, Limit::Columns)?;
    let row_cap = Limit::RowBytes.value();
    let mut builders: Vec<Builder> = headers
        .iter()
        .map(|h| Builder::new(h, kinds.get(h).copied()))
        .collect();
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    while reader
        .read_record(&mut record)
        .map_err(|e| read_err(shown, e))?
    {
        rows += 1;
        if record.as_byte_record().as_slice().len() as u64 > row_cap {
            return Err(LimitError::new(
                format!("{shown}: row {rows}"),
                "the row",
                Limit::RowBytes,
            )
            .into());
        }
        for (b, field) in builders.iter_mut().zip(record.iter()) {
            b.text(field, rows);
        }
    }
    let columns = builders
        .into_iter()
        .map(|b| b.finish(shown))
        .collect::<Result<_, _>>()?;
    Ok(Table { columns, rows })
}

fn read_json_lines(
    path: &Path,
    shown: &str,
    kinds: &BTreeMap<String, Kind>,
) -> Result<Table, TableError> {
    use std::io::{BufRead, Read};
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let file = std::fs::File::open(path).map_err(|e| read_err(shown, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let row_cap = Limit::RowBytes.value();
    // A row without a column's key is missing there, accounted when the
    // column next has a value (or at the end): each row costs only its
    // own keys.
    let mut builders: IndexMap<String, Builder> = IndexMap::new();
    let mut rows = 0u64;
    let mut line = Vec::new();
    for i in 0usize.. {
        line.clear();
        // A line is read through a cap: one row never costs more memory
        // than the row bound.
        let n = (&mut reader)
            .take(row_cap + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| read_err(shown, e))?;
        if n == 0 {
            break;
        }
        if line.len() as u64 > row_cap {
            return Err(
                LimitError::new(format!("{shown}:{}", i + 1), "the line", Limit::RowBytes).into(),
            );
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&line)
            .map_err(|e| read_err(shown, format!("line {}: {e}", i + 1)))?;
        rows += 1;
        for (k, v) in &obj {
            let at = match builders.get_index_of(k.as_str()) {
                Some(at) => at,
                None => {
                    limits::check(shown, builders.len() as u64 + 1, Limit::Columns)?;
                    builders.insert(k.clone(), Builder::new(k, kinds.get(k).copied()));
                    builders.len() - 1
                }
            };
            let b = &mut builders[at];
            b.pad(rows - 1);
            match v {
                serde_json::Value::Null => b.miss(),
                serde_json::Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    if !(n.is_i64() || n.is_u64()) {
                        b.integers = false;
                    }
                    b.number(x, || n.to_string(), rows);
                }
                serde_json::Value::String(s) => {
                    // A JSON string is text, even when it looks like a number.
                    if b.forced == Some(Kind::Numeric) {
                        b.text(s, rows);
                    } else if NA.contains(&s.as_str()) && !s.is_empty() {
                        b.miss();
                    } else {
                        b.note_text(rows, s);
                        b.category(s);
                    }
                }
                serde_json::Value::Bool(x) => {
                    b.note_text(rows, if *x { "true" } else { "false" });
                    b.category(if *x { "True" } else { "False" });
                }
                other => {
                    return Err(read_err(
                        shown,
                        format!(
                            "line {}: column `{k}` holds a nested value ({other})",
                            i + 1
                        ),
                    ))
                }
            }
        }
    }
    let columns = builders
        .into_values()
        .map(|mut b| {
            b.pad(rows);
            b.finish(shown)
        })
        .collect::<Result<_, _>>()?;
    Ok(Table { columns, rows })
}

/// Appends a column read elsewhere (Parquet) through the same builder.
pub(super) struct Append(Builder);

impl Append {
    pub(super) fn new(name: &str, forced: Option<Kind>) -> Append {
        Append(Builder::new(name, forced))
    }
    pub(super) fn number(&mut self, x: f64, row: u64) {
        self.0.number(x, || x.to_string(), row);
    }
    pub(super) fn text(&mut self, s: &str, row: u64) {
        if self.0.forced == Some(Kind::Numeric) {
            self.0.text(s, row);
        } else {
            self.0.note_text(row, s);
            self.0.category(s);
        }
    }
    pub(super) fn missing(&mut self) {
        self.0.miss();
    }
    /// The Parquet column is not of an integer type.
    pub(super) fn not_integers(&mut self) {
        self.0.integers = false;
    }
    pub(super) fn finish(self, shown: &str) -> Result<Column, TableError> {
        self.0.finish(shown)
    }
}
