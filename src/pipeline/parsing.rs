//! Where a project says how a mapping in `cmd` unpacks: DVC's `[parsing]`
//! section of `.dvc/config` and `.dvc/config.local` (INI, as DVC's
//! configobj reads it: `bool = store_true|boolean_optional`,
//! `list = nargs|append`), and mlci's own `parsing:` in `.mlci/config.yaml`,
//! which wins.

use std::path::Path;

use super::definition::PipelineError;
use super::interpolate::Unpacking;

/// The unpacking rules of the project at `root`: DVC's defaults
/// (`store_true`, `nargs`) unless a config file says otherwise.
pub fn unpacking(root: &Path) -> Result<Unpacking, PipelineError> {
    let mut u = Unpacking::default();
    for file in [".dvc/config", ".dvc/config.local"] {
        // Both are read only inside the workspace; a missing one is fine.
        let Ok(path) =
            crate::workspace_path::WorkspacePath::new(file).and_then(|p| p.locate_for_read(root))
        else {
            continue;
        };
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        apply_ini(&text, file, &mut u)?;
    }
    let keys = crate::config::parsing_keys(root).map_err(|e| PipelineError::File {
        file: ".mlci/config.yaml".into(),
        line: None,
        message: e.to_string(),
        hint: crate::error::Hint::hint(&e),
    })?;
    for (file, key, value, line) in keys {
        set(&mut u, &key, &value).map_err(|m| bad(&file, Some(line), &m))?;
    }
    Ok(u)
}

/// Reads the `[parsing]` section of one INI text.
fn apply_ini(text: &str, file: &str, u: &mut Unpacking) -> Result<(), PipelineError> {
    let mut in_parsing = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_parsing = line.trim_matches(|c| c == '[' || c == ']').trim() == "parsing";
            continue;
        }
        if !in_parsing {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        set(u, key.trim(), value.trim()).map_err(|m| bad(file, Some(i + 1), &m))?;
    }
    Ok(())
}

fn set(u: &mut Unpacking, key: &str, value: &str) -> Result<(), String> {
    match (key, value) {
        ("bool", "store_true") => u.boolean_optional = false,
        ("bool", "boolean_optional") => u.boolean_optional = true,
        ("list", "nargs") => u.append = false,
        ("list", "append") => u.append = true,
        ("bool", other) => {
            return Err(format!(
                "`parsing.bool` is `{other}`; it must be `store_true` or `boolean_optional`"
            ))
        }
        ("list", other) => {
            return Err(format!(
                "`parsing.list` is `{other}`; it must be `nargs` or `append`"
            ))
        }
        _ => {}
    }
    Ok(())
}

fn bad(file: &str, line: Option<usize>, message: &str) -> PipelineError {
    PipelineError::File {
        file: file.into(),
        line,
        message: message.into(),
        hint: Some(
            "see DVC's `parsing` settings: bool = store_true | boolean_optional, list = nargs | append"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsing_section_of_dvc_config() {
        let mut u = Unpacking::default();
        let text = "[core]\n    remote = s\n['remote \"s\"']\n    url = /x\n[parsing]\n    bool = boolean_optional\n    list = append\n";
        apply_ini(text, ".dvc/config", &mut u).unwrap();
        assert!(u.boolean_optional && u.append);
        let e = apply_ini("[parsing]\nbool = yes\n", ".dvc/config", &mut u).unwrap_err();
        assert!(e.to_string().contains(".dvc/config:2"), "{e}");
    }
}
