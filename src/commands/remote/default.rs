//! `mlci remote default`: which remote commands use when none is named.

use super::*;

/// `mlci remote default`.
pub(super) fn set_default(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: String,
) -> anyhow::Result<()> {
    let settings = files.validate(root)?;
    if !settings.remotes.contains_key(&name) {
        return Err(crate::remote::RemoteError::Unknown {
            name,
            known: settings.remotes.keys().cloned().collect(),
        }
        .into());
    }
    set_path(
        &mut files.shared,
        &["core", "remote"],
        Some(Value::String(name.clone())),
    );
    files.save(root)?;
    ctx.printer
        .info(&format!("`{name}` is now the default remote"));
    Ok(())
}
