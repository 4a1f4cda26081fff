//! Per-commit stage records: what a fan-out worker leaves on the shared
//! remote when it finishes (or fails) one stage of one commit, so other
//! workers find that stage's outputs and the join writes `mlci.lock`
//! without running anything. Keys: `commits/<commit>/<sha256 of the stage
//! name>`, JSON `{stage, ok, entry, error}`.
//!
//! Records come from a shared remote: untrusted. A record is used only
//! when it names its stage, and its lock entry's outputs are exactly the
//! stage's declared ones (paths checked when parsed).

use crate::limits::RECORD_BYTES;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::pipeline::definition::Stage;
use crate::pipeline::lock::LockStage;
use crate::remote::{Remote, RemoteError};

/// One stage's outcome for one commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    pub stage: String,
    pub ok: bool,
    /// The stage's `mlci.lock` entry, when it succeeded.
    pub entry: Option<LockStage>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The remote key of `stage`'s record for `commit` (40 hex).
pub fn key(commit: &str, stage: &str) -> String {
    format!(
        "commits/{commit}/{}",
        hex::encode(Sha256::digest(stage.as_bytes()))
    )
}

/// Publishes `record` for `commit`.
pub fn publish(remote: &Remote, commit: &str, record: &StageRecord) -> Result<(), RemoteError> {
    let bytes =
        serde_json::to_vec(record).map_err(|e| RemoteError::Local(std::io::Error::other(e)))?;
    let rt = crate::remote::runtime()?;
    rt.block_on(remote.write_small(&key(commit, &record.stage), &bytes))
}

/// `stage`'s record for `commit`, if the remote has a valid one.
pub fn fetch(
    remote: &Remote,
    commit: &str,
    stage: &Stage,
) -> Result<Option<StageRecord>, RemoteError> {
    let rt = crate::remote::runtime()?;
    // A record over the bound is not a valid one.
    let bytes = match rt.block_on(remote.read_key(&key(commit, &stage.name), RECORD_BYTES)) {
        Ok(Some(b)) => b,
        Ok(None) | Err(RemoteError::Oversized { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(record) = serde_json::from_slice::<StageRecord>(&bytes) else {
        return Ok(None);
    };
    if record.stage != stage.name {
        return Ok(None);
    }
    if let Some(entry) = &record.entry {
        let mut declared: Vec<&str> = stage.outs.iter().map(|o| o.path.as_str()).collect();
        let mut named: Vec<&str> = entry.outs.iter().map(|o| o.path.as_str()).collect();
        declared.sort_unstable();
        named.sort_unstable();
        if declared != named {
            return Ok(None);
        }
    } else if record.ok {
        return Ok(None);
    }
    Ok(Some(record))
}
