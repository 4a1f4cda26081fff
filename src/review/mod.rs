//! Comparing two revisions for a review: metrics and params at any
//! revision (through git and the cache), their diff, the gates on it, the
//! plots, and the Markdown report that puts them together.

pub mod assemble;
pub mod compare;
pub mod direction;
pub mod gate;
pub mod metrics;
pub mod outcome;
pub mod plot_data;
pub mod plot_kinds;
pub mod plots;
pub mod proposal;
pub mod report;
pub mod svg;
