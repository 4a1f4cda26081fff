//! `mlci remote list`: the remotes, the default marked (`--json` for data).

use super::*;

/// `mlci remote list`.
pub(super) fn list(ctx: &Ctx, root: &Path, files: &Files, json: bool) -> anyhow::Result<()> {
    let settings = files.validate(root)?;
    let default = settings.default_remote.as_deref();
    let list: Vec<RemoteJson> = settings
        .remotes
        .iter()
        .map(|(name, r)| RemoteJson {
            name,
            url: r.url.as_deref().unwrap_or(""),
            default: default == Some(name.as_str()),
        })
        .collect();
    if json {
        ctx.printer.data(&serde_json::to_string_pretty(&list)?)?;
    } else if list.is_empty() {
        ctx.printer
            .info("no remotes (add one with `mlci remote add NAME URL`)");
    } else {
        let mut text = String::new();
        for r in &list {
            text.push_str(&format!(
                "{}\t{}{}\n",
                r.name,
                r.url,
                if r.default { "\t(default)" } else { "" }
            ));
        }
        ctx.printer.data(&text)?;
    }
    Ok(())
}
