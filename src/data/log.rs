//! A predictions log: per row a timestamp, the model's prediction, its
//! score (optional: the probability of the positive class) and the true
//! target, read row-aligned from CSV/TSV, JSON Lines or Parquet (only those
//! columns, Parquet in batches of 64 Ki rows).
//!
//! Timestamps: RFC 3339 text (any offset; a time without one is UTC),
//! numbers (seconds since the Unix epoch), or Parquet timestamps. Rows
//! missing any of the columns used are skipped and counted.

use std::collections::HashMap;
use std::path::Path;

use super::table::TableError;

/// The columns a log is read from.
#[derive(Debug, Clone)]
pub struct LogColumns {
    pub timestamp: String,
    pub prediction: String,
    pub score: String,
    pub target: String,
}

impl Default for LogColumns {
    fn default() -> LogColumns {
        LogColumns {
            timestamp: "timestamp".into(),
            prediction: "prediction".into(),
            score: "score".into(),
            target: "target".into(),
        }
    }
}

/// One column of labels, compact: numbers while every label is one, else
/// codes into [`Log::dictionary`] (8 or 4 bytes a row).
#[derive(Debug, Clone, Default)]
pub struct Labels {
    numbers: Vec<f64>,
    codes: Vec<u32>,
    text: bool,
}

impl Labels {
    pub fn get(&self, i: usize) -> Value {
        if self.text {
            Value::Code(self.codes[i])
        } else {
            Value::Number(self.numbers[i])
        }
    }

    pub fn len(&self) -> usize {
        if self.text {
            self.codes.len()
        } else {
            self.numbers.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the labels are text.
    pub fn is_text(&self) -> bool {
        self.text
    }
}

/// A log read row-aligned.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Milliseconds since the Unix epoch (UTC).
    pub ts: Vec<i64>,
    pub prediction: Labels,
    pub target: Labels,
    /// Present when the log has the score column.
    pub score: Option<Vec<f64>>,
    /// Text labels' dictionary (codes in [`Value::Code`]).
    pub dictionary: Vec<String>,
    pub skipped: u64,
    /// When the rows that have a time and a prediction but no target yet
    /// were logged (labels that have not arrived): their windows read "no
    /// labels yet". Counted in `skipped` too.
    pub unlabelled: Vec<i64>,
}

/// One label: a number, or a code into [`Log::dictionary`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Number(f64),
    Code(u32),
}

struct Builder {
    log: Log,
    index: HashMap<String, u32>,
}

impl Builder {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(c) = self.index.get(text) {
            return *c;
        }
        let c = self.index.len() as u32;
        self.index.insert(text.to_string(), c);
        self.log.dictionary.push(text.to_string());
        c
    }

    fn label(&mut self, text: &str) -> Value {
        if let Ok(x) = text.trim().parse::<f64>() {
            return Value::Number(x);
        }
        Value::Code(self.intern(text))
    }

    /// Appends `v` to the prediction (`target` false) or target column; a
    /// first text label turns the column's numbers into codes.
    fn push_label(&mut self, v: Value, target: bool) {
        let col = if target {
            &self.log.target
        } else {
            &self.log.prediction
        };
        if let (Value::Code(_), false) = (v, col.text) {
            let numbers = std::mem::take(if target {
                &mut self.log.target.numbers
            } else {
                &mut self.log.prediction.numbers
            });
            let codes: Vec<u32> = numbers
                .iter()
                .map(|x| self.intern(&x.to_string()))
                .collect();
            let col = if target {
                &mut self.log.target
            } else {
                &mut self.log.prediction
            };
            col.codes = codes;
            col.text = true;
        }
        let is_text = if target {
            self.log.target.text
        } else {
            self.log.prediction.text
        };
        let code = match (v, is_text) {
            (Value::Number(x), true) => Some(self.intern(&x.to_string())),
            (Value::Code(c), _) => Some(c),
            (Value::Number(_), false) => None,
        };
        let col = if target {
            &mut self.log.target
        } else {
            &mut self.log.prediction
        };
        match (v, code) {
            (_, Some(c)) => col.codes.push(c),
            (Value::Number(x), None) => col.numbers.push(x),
            _ => unreachable!("a code always has one"),
        }
    }
}

impl Log {
    /// The label `text` as this log's target column holds it.
    pub fn label(&self, text: &str) -> Value {
        if !self.target.text {
            if let Ok(x) = text.parse::<f64>() {
                return Value::Number(x);
            }
        }
        match self.dictionary.iter().position(|d| d == text) {
            Some(c) => Value::Code(c as u32),
            None => Value::Code(u32::MAX),
        }
    }
}

fn err(shown: &str, message: impl std::fmt::Display) -> TableError {
    TableError::Read {
        file: shown.into(),
        message: message.to_string(),
    }
}

/// Milliseconds since the epoch from a timestamp's text.
fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    // Epoch seconds: finite and within ±300,000 years, else not a time
    // (NaN or inf would land in 1970).
    t.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && s.abs() < 1e13)
        .map(|s| (s * 1000.0).round() as i64)
}

/// Reads the log at `path` (shown as `shown`).
pub fn read(path: &Path, shown: &str, cols: &LogColumns) -> Result<Log, TableError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let log = match ext.as_str() {
        "csv" => read_delimited(path, shown, cols, b',')?,
        "tsv" | "tab" => read_delimited(path, shown, cols, b'\t')?,
        "jsonl" | "ndjson" => read_json_lines(path, shown, cols)?,
        "parquet" | "pq" => super::parquet::read_log(path, shown, cols)?,
        _ => {
            return Err(TableError::Format {
                file: shown.into(),
                ext,
            })
        }
    };
    if log.ts.is_empty() && log.skipped > 0 {
        return Err(TableError::NoLabeledRows {
            file: shown.into(),
            rows: log.skipped,
            target: cols.target.clone(),
        });
    }
    if log.ts.is_empty() {
        return Err(TableError::Empty { file: shown.into() });
    }
    Ok(log)
}

/// The column `name` must exist (the score column may be absent).
pub(super) fn missing_column(shown: &str, name: &str) -> TableError {
    err(shown, format!("has no column `{name}`"))
}

fn read_delimited(
    path: &Path,
    shown: &str,
    cols: &LogColumns,
    delimiter: u8,
) -> Result<Log, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| err(shown, e))?;
    let headers = reader.headers().map_err(|e| err(shown, e))?.clone();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let ts = find(&cols.timestamp).ok_or_else(|| missing_column(shown, &cols.timestamp))?;
    let pred = find(&cols.prediction).ok_or_else(|| missing_column(shown, &cols.prediction))?;
    let target = find(&cols.target).ok_or_else(|| missing_column(shown, &cols.target))?;
    let score = find(&cols.score);
    let mut b = Builder {
        log: Log {
            score: score.map(|_| Vec::new()),
            ..Log::default()
        },
        index: HashMap::new(),
    };
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    while reader.read_record(&mut record).map_err(|e| err(shown, e))? {
        row += 1;
        let get = |i: usize| record.get(i).map(str::trim).filter(|v| !v.is_empty());
        let (Some(t), Some(p), Some(y)) = (get(ts), get(pred), get(target)) else {
            b.log.skipped += 1;
            if let (Some(ms), Some(_), None) =
                (get(ts).and_then(parse_time), get(pred), get(target))
            {
                b.log.unlabelled.push(ms);
            }
            continue;
        };
        let Some(ms) = parse_time(t) else {
            return Err(err(
                shown,
                format!(
                    "row {row}: `{t}` in column `{}` is not a time",
                    cols.timestamp
                ),
            ));
        };
        let s = match score {
            Some(i) => match get(i).and_then(|v| v.parse::<f64>().ok()) {
                Some(x) => Some(x),
                None => {
                    b.log.skipped += 1;
                    continue;
                }
            },
            None => None,
        };
        let (p, y) = (b.label(p), b.label(y));
        b.log.ts.push(ms);
        b.push_label(p, false);
        b.push_label(y, true);
        if let (Some(v), Some(x)) = (b.log.score.as_mut(), s) {
            v.push(x);
        }
    }
    Ok(b.log)
}

fn read_json_lines(path: &Path, shown: &str, cols: &LogColumns) -> Result<Log, TableError> {
    use std::io::BufRead;
    #[allow(clippy::disallowed_methods)] // its error names the path as shown, or is matched by kind
    let file = std::fs::File::open(path).map_err(|e| err(shown, e))?;
    let mut b = Builder {
        log: Log::default(),
        index: HashMap::new(),
    };
    let mut any_score = None;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(x) => Some(x.to_string()),
        _ => None,
    };
    for (i, line) in std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
    {
        let line = line.map_err(|e| err(shown, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&line).map_err(|e| err(shown, format!("line {}: {e}", i + 1)))?;
        if any_score.is_none() {
            any_score = Some(obj.contains_key(&cols.score));
            if any_score == Some(true) {
                b.log.score = Some(Vec::new());
            }
            for c in [&cols.timestamp, &cols.prediction, &cols.target] {
                if !obj.contains_key(c.as_str()) {
                    return Err(missing_column(shown, c));
                }
            }
        }
        let (Some(t), Some(p), Some(y)) = (
            obj.get(&cols.timestamp).and_then(text),
            obj.get(&cols.prediction).and_then(text),
            obj.get(&cols.target).and_then(text),
        ) else {
            b.log.skipped += 1;
            let time = obj
                .get(&cols.timestamp)
                .and_then(text)
                .and_then(|t| parse_time(&t));
            let labelled = obj.get(&cols.target).and_then(text).is_some();
            if let (Some(ms), Some(_), false) =
                (time, obj.get(&cols.prediction).and_then(text), labelled)
            {
                b.log.unlabelled.push(ms);
            }
            continue;
        };
        let Some(ms) = parse_time(&t) else {
            return Err(err(
                shown,
                format!(
                    "line {}: `{t}` in column `{}` is not a time",
                    i + 1,
                    cols.timestamp
                ),
            ));
        };
        let s = obj.get(&cols.score).and_then(|v| v.as_f64());
        if b.log.score.is_some() && s.is_none() {
            b.log.skipped += 1;
            continue;
        }
        let (p, y) = (b.label(&p), b.label(&y));
        b.log.ts.push(ms);
        b.push_label(p, false);
        b.push_label(y, true);
        if let (Some(v), Some(x)) = (b.log.score.as_mut(), s) {
            v.push(x);
        }
    }
    Ok(b.log)
}

/// Appends one Parquet row batch's values (the Parquet reader's side).
pub(super) struct LogBuilder(Builder);

impl LogBuilder {
    pub(super) fn new(with_score: bool) -> LogBuilder {
        LogBuilder(Builder {
            log: Log {
                score: with_score.then(Vec::new),
                ..Log::default()
            },
            index: HashMap::new(),
        })
    }
    pub(super) fn text_label(&mut self, s: &str) -> Value {
        self.0.label(s)
    }
    pub(super) fn push(
        &mut self,
        ms: Option<i64>,
        p: Option<Value>,
        y: Option<Value>,
        s: Option<f64>,
    ) {
        let needs_score = self.0.log.score.is_some();
        match (ms, p, y) {
            (Some(ms), Some(p), Some(y)) if !needs_score || s.is_some() => {
                self.0.log.ts.push(ms);
                self.0.push_label(p, false);
                self.0.push_label(y, true);
                if let (Some(v), Some(x)) = (self.0.log.score.as_mut(), s) {
                    v.push(x);
                }
            }
            (Some(ms), Some(_), None) => {
                self.0.log.skipped += 1;
                self.0.log.unlabelled.push(ms);
            }
            _ => self.0.log.skipped += 1,
        }
    }
    pub(super) fn parse_time(s: &str) -> Option<i64> {
        parse_time(s)
    }
    pub(super) fn finish(self) -> Log {
        self.0.log
    }
}
