//! `mlci remote remove`: drops a remote (and the default if it was this one).

use super::*;

/// `mlci remote remove`.
pub(super) fn remove(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: String,
) -> anyhow::Result<()> {
    require_defined(files, root, &name)?;
    files.remove_remote(&name);
    for doc in [&mut files.shared, &mut files.local] {
        if get_path(doc, &["core", "remote"]).and_then(Value::as_str) == Some(name.as_str()) {
            set_path(doc, &["core", "remote"], None);
        }
    }
    files.save(root)?;
    ctx.printer.info(&format!("removed remote `{name}`"));
    Ok(())
}
