//! Queued experiments and the journal that runs each exactly once.
//!
//! The queue lives in the repository's private state (`.mlci/tmp/exps/`,
//! or `.dvc/tmp/mlci/exps/` in a DVC repository used in place), one entry
//! per experiment, each a set of files whose presence is its state:
//!
//! - `queue/<id>.json`: what to run (baseline, params set, name, stages,
//!   and the commit that holds the workspace as queued — the baseline with
//!   the work tree's tracked changes and the params set — kept alive under
//!   `refs/mlci/exp-queue/<id>`), written whole before it is visible;
//! - `queue/<id>.lock`: locked (an OS advisory lock, released by the
//!   kernel when its holder dies, kill -9 included) while a worker runs it;
//! - `queue/<id>.attempts`: one line per run started;
//! - `queue/<id>.done` / `queue/<id>.failed`: the outcome, written whole.
//!
//! A worker takes the lock, then looks for an outcome, then for an
//! experiment commit carrying the entry's trailer (recorded just before a
//! kill): so a finished entry is never run again, and an entry whose
//! worker died is run again by the next worker — once, as nothing else
//! holds it.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::set::Assignment;
use super::ExpError;

/// Where queued experiments keep their commit alive.
pub const QUEUE_REFS: &str = "refs/mlci/exp-queue";
/// An entry whose worker was killed this many times is marked failed.
pub const MAX_ATTEMPTS: usize = 3;

/// What to run: written at `exp run --queue`, never changed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub id: String,
    /// 40 hex.
    pub baseline: String,
    /// The workspace as queued (40 hex): the baseline's child.
    pub stash: String,
    pub assignments: Vec<Assignment>,
    pub name: Option<String>,
    pub targets: Vec<String>,
    /// Seconds since the epoch.
    pub queued: i64,
}

/// How an entry ended.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// The experiment's ref when it was recorded.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The repro's exit code (0 recorded; 1 a stage failed; 2 an error;
    /// 137 killed too often).
    pub exit: i32,
    /// The first lines of why it failed.
    pub message: Option<String>,
}

/// An entry's state, as `exp queue status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    Done,
    Failed,
}

/// The queue of a repository.
pub struct Queue {
    dir: PathBuf,
}

impl Queue {
    /// The queue under `state_dir` (the repository's private state).
    pub fn at(state_dir: &Path) -> Queue {
        Queue {
            dir: state_dir.join("exps").join("queue"),
        }
    }

    /// The queue of the repository at `root`, in its format's private
    /// state.
    pub fn of(root: &Path) -> Queue {
        let format =
            crate::repo::format::Format::of(root).unwrap_or(crate::repo::format::Format::Mlci);
        Queue::at(&format.state_dir(root))
    }

    /// The entries that have no outcome yet (queued, or running), in the
    /// order queued.
    ///
    /// # Errors
    /// The journal cannot be read.
    pub fn pending(&self) -> Result<Vec<Entry>, ExpError> {
        let mut out = Vec::new();
        for e in self.entries()? {
            if self.outcome(&e.id)?.is_none() {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Where a worker's isolated workspace for `id` goes.
    pub fn workspace(&self, id: &str) -> PathBuf {
        self.dir.parent().expect("exps/queue").join("run").join(id)
    }

    fn file(&self, id: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    fn journal_err(&self, file: &Path, e: impl ToString) -> ExpError {
        ExpError::Journal {
            file: file.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Adds `entry` (its file appears whole).
    ///
    /// # Errors
    /// The state directory cannot be written.
    pub fn add(&self, entry: &Entry) -> Result<(), ExpError> {
        fs_err::create_dir_all(&self.dir)?;
        let text = serde_json::to_vec_pretty(entry).expect("an entry serialises");
        crate::fsutil::write_atomic(&self.file(&entry.id, "json"), &text)?;
        Ok(())
    }

    /// Every entry, in the order queued.
    ///
    /// # Errors
    /// An entry file that does not parse (named).
    pub fn entries(&self) -> Result<Vec<Entry>, ExpError> {
        let mut out = Vec::new();
        let dir = match fs_err::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for item in dir {
            let path = item?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = fs_err::read(&path)?;
            let entry: Entry =
                serde_json::from_slice(&bytes).map_err(|e| self.journal_err(&path, e))?;
            out.push(entry);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One entry.
    ///
    /// # Errors
    /// [`ExpError::UnknownEntry`]; a file that does not parse.
    pub fn entry(&self, id: &str) -> Result<Entry, ExpError> {
        let path = self.file(id, "json");
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ExpError::UnknownEntry { id: id.into() })
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| self.journal_err(&path, e))
    }

    /// The outcome of `id`, if it has one.
    ///
    /// # Errors
    /// An outcome file that does not parse.
    pub fn outcome(&self, id: &str) -> Result<Option<(State, Outcome)>, ExpError> {
        for (ext, state) in [("done", State::Done), ("failed", State::Failed)] {
            let path = self.file(id, ext);
            match fs_err::read(&path) {
                Ok(b) => {
                    let o = serde_json::from_slice(&b).map_err(|e| self.journal_err(&path, e))?;
                    return Ok(Some((state, o)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// The state of `id` now: an outcome, else running while a worker
    /// holds its lock, else queued.
    ///
    /// # Errors
    /// The journal cannot be read.
    pub fn state(&self, id: &str) -> Result<State, ExpError> {
        if let Some((s, _)) = self.outcome(id)? {
            return Ok(s);
        }
        Ok(match self.try_claim(id)? {
            Some(_) => State::Queued,
            None => State::Running,
        })
    }

    /// Takes `id`'s lock when no one holds it (None when a worker does).
    ///
    /// # Errors
    /// The lock file cannot be opened.
    pub fn try_claim(&self, id: &str) -> Result<Option<Claim>, ExpError> {
        let path = self.file(id, "lock");
        fs_err::create_dir_all(&self.dir)?;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.journal_err(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Claim { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(self.journal_err(&path, e)),
        }
    }

    /// Counts one more run of `id`; returns how many started, this one
    /// included.
    ///
    /// # Errors
    /// The journal cannot be written.
    pub fn start_attempt(&self, id: &str, _claim: &Claim) -> Result<usize, ExpError> {
        use std::io::Write;
        let path = self.file(id, "attempts");
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(f, "{}", std::process::id())?;
        f.sync_all()?;
        self.attempts(id)
    }

    /// How many runs of `id` started.
    ///
    /// # Errors
    /// The journal cannot be read.
    pub fn attempts(&self, id: &str) -> Result<usize, ExpError> {
        match fs_err::read_to_string(self.file(id, "attempts")) {
            Ok(t) => Ok(t.lines().count()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Records how `id` ended (whole, then visible).
    ///
    /// # Errors
    /// The journal cannot be written.
    pub fn finish(&self, id: &str, _claim: &Claim, outcome: &Outcome) -> Result<(), ExpError> {
        let ext = if outcome.exit == 0 { "done" } else { "failed" };
        let text = serde_json::to_vec_pretty(outcome).expect("an outcome serialises");
        crate::fsutil::write_atomic(&self.file(id, ext), &text)?;
        Ok(())
    }

    /// Removes `id` and everything it left (not while a worker runs it).
    /// Returns false when a worker holds it.
    ///
    /// # Errors
    /// The journal cannot be changed.
    pub fn remove(&self, id: &str) -> Result<bool, ExpError> {
        let Some(claim) = self.try_claim(id)? else {
            return Ok(false);
        };
        for ext in ["json", "done", "failed", "attempts", "log"] {
            match fs_err::remove_file(self.file(id, ext)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        drop(claim);
        let _ = fs_err::remove_file(self.file(id, "lock"));
        Ok(true)
    }

    /// The log of `id`'s last run.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.file(id, "log")
    }
}

/// A worker's hold on one entry: released when dropped or when the
/// process dies.
pub struct Claim {
    _file: File,
}

/// A new entry id: microseconds since the epoch and a per-process count,
/// in hex (sortable by the time queued).
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed) % 256;
    format!("{micros:x}{n:02x}")
}

/// The experiment recorded for entry `id` before its worker died: an
/// experiment ref on `baseline` whose commit carries the entry's trailer.
///
/// # Errors
/// git cannot be read.
pub fn recorded_for(
    git: &git2::Repository,
    baseline: &str,
    id: &str,
) -> Result<Option<super::refs::ExpRef>, ExpError> {
    let trailer = format!("{} {id}", super::record::ENTRY_TRAILER);
    for (e, commit) in super::refs::all(git)? {
        if e.baseline != baseline {
            continue;
        }
        let c = git.find_commit(commit)?;
        if c.message()
            .is_some_and(|m| m.lines().any(|l| l.trim() == trailer))
        {
            return Ok(Some(e));
        }
    }
    Ok(None)
}
