//! `mlci remote modify`: sets or unsets one key; secrets only in the local config.

use super::*;

/// `mlci remote modify`.
pub(super) fn modify(
    ctx: &Ctx,
    root: &Path,
    files: &mut Files,
    name: String,
    change: Change,
) -> anyhow::Result<()> {
    let Change {
        key,
        value,
        local,
        unset,
    } = change;
    require_defined(files, root, &name)?;
    if location::SECRET_KEYS.contains(&key.as_str()) && !local && !unset {
        return Err(hinted(
            format!("`{key}` is a secret and .mlci/config.yaml is committed"),
            format!("add `--local` to keep it in .mlci/config.local.yaml: mlci remote modify {name} {key} VALUE --local"),
        ));
    }
    let value = match (value, unset) {
        (_, true) => None,
        (Some(v), false) => Some(scalar(&v)),
        (None, false) => {
            return Err(hinted(
                format!("no value given for `{key}`"),
                format!("mlci remote modify {name} {key} VALUE (or `--unset`)"),
            ))
        }
    };
    let doc = if local {
        &mut files.local
    } else {
        &mut files.shared
    };
    set_path(doc, &["remotes", &name, &key], value);
    files.save(root)?;
    ctx.printer.info(&format!(
        "{} `{key}` of remote `{name}`",
        if unset { "removed" } else { "set" }
    ));
    Ok(())
}
