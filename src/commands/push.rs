//! `mlci push`: upload what the workspace references to a remote.

use crate::exit::Exit;

use clap::Args;

use super::{transfers, Ctx};

/// Upload tracked data, stage outputs and run records to a remote.
///
/// Sends only what the remote lacks. A local record of what the remote is
/// known to hold makes a second push of the same data ask almost nothing;
/// a sample of that record is re-checked on every push, and the whole
/// remote is consulted again when the sample is wrong. Objects land whole or
/// not at all, so an interrupted push resumes on rerun.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub transfer: transfers::TransferArgs,
}

pub fn cmd_push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<Exit> {
    if let Some(root) = transfers::dvc_root(ctx) {
        return transfers::run_dvc(ctx, &root, &args.transfer, transfers::DvcMove::Push);
    }
    transfers::run_transfer(ctx, &args.transfer, |_, session, tracked| {
        let outcome = crate::sync::push(session, tracked)?;
        transfers::tell_push(ctx, session.remote, &outcome);
        Ok(Exit::Ok)
    })
}
