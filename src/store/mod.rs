//! Content-addressed storage: SHA-256 digests, the cache of objects, the
//! canonical directory manifest, the hash state that lets `status` stat
//! instead of read, the parallel directory walk, and the mechanisms that
//! move bytes (kernel copy with hashing, reflink/copy/link, files that
//! appear whole). Nothing here knows pointers, pipelines or remotes.

// Raw std::fs on purpose: these match error kinds themselves, call rustix
// beside it, and add the path only on the error branch (docs/architecture.md).
#![allow(clippy::disallowed_methods)]

pub mod cache;
pub mod copy;
pub mod gc;
pub mod hash;
pub mod link;
pub mod manifest;
pub mod materialise;
pub mod state;
pub mod walk;
pub mod whole;
