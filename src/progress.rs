//! Progress reporting from the domain without drawing anything there.
//!
//! Domain code calls a [`Reporter`]; the command layer decides whether that
//! means an indicatif bar on a terminal or nothing at all.

/// Receives progress events from long-running domain work. Implementations
/// must be cheap and thread-safe: hashing calls `inc` from many threads.
pub trait Reporter: Sync {
    /// A new phase starts; `total` is the number of units when known.
    fn start(&self, _label: &str, _total: Option<u64>) {}
    /// `n` more units are done.
    fn inc(&self, _n: u64) {}
    /// A transfer of `objects` objects totalling `bytes` starts.
    fn start_transfer(&self, label: &str, objects: u64, _bytes: u64) {
        self.start(label, Some(objects));
    }
    /// One more object of `bytes` is across.
    fn transferred(&self, objects: u64, _bytes: u64) {
        self.inc(objects);
    }
    /// The current phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Reporter for Silent {}
