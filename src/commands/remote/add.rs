//! `mlci remote add`: a new remote in the committed or the local config.

use super::*;

/// `mlci remote add`.
pub(super) fn add(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: &str,
    url: String,
    place: Placement,
) -> anyhow::Result<()> {
    let Placement {
        default,
        local,
        force,
    } = place;
    check_name(name)?;
    let exists = files.shared_remote(name).is_some() || files.local_remote(name).is_some();
    if exists && !force {
        return Err(hinted(
            format!("a remote named `{name}` exists already"),
            format!("use `mlci remote modify {name} url URL`, or `--force` to replace it"),
        ));
    }
    files.remove_remote(name);
    let doc = if local {
        &mut files.local
    } else {
        &mut files.shared
    };
    set_path(doc, &["remotes", name, "url"], Some(Value::String(url)));
    if default {
        set_path(
            doc,
            &["core", "remote"],
            Some(Value::String(name.to_string())),
        );
    }
    files.save(root)?;
    ctx.printer.info(&format!(
        "added remote `{name}`{}",
        if default { " (the default)" } else { "" }
    ));
    Ok(())
}
