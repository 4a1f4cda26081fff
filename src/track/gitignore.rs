//! `.gitignore` entries for tracked paths, written next to the path (as
//! `/name` in its directory's `.gitignore`) so a moved directory keeps them.

use std::path::Path;

use crate::fsutil::write_atomic;

/// Adds `/name` to `dir/.gitignore` unless it is already listed.
pub fn add_entry(dir: &Path, name: &str) -> std::io::Result<bool> {
    let path = dir.join(".gitignore");
    let text = read(&path)?;
    let entry = format!("/{}", escape(name));
    if text.lines().any(|l| l.trim_end() == entry) {
        return Ok(false);
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&entry);
    new.push('\n');
    write_atomic(&path, new.as_bytes())?;
    Ok(true)
}

/// Removes `/name` from `dir/.gitignore`; deletes the file if nothing is left.
pub fn remove_entry(dir: &Path, name: &str) -> std::io::Result<bool> {
    let path = dir.join(".gitignore");
    let text = read(&path)?;
    let entry = format!("/{}", escape(name));
    if !text.lines().any(|l| l.trim_end() == entry) {
        return Ok(false);
    }
    let kept: Vec<&str> = text.lines().filter(|l| l.trim_end() != entry).collect();
    if kept.iter().all(|l| l.trim().is_empty()) {
        crate::fsutil::remove_file_if_exists(&path)?;
    } else {
        let mut new = kept.join("\n");
        new.push('\n');
        write_atomic(&path, new.as_bytes())?;
    }
    Ok(true)
}

/// The `.gitignore` at `path`, empty when there is none. A `.gitignore`
/// that is a symbolic link is refused: mlci would read whatever it points
/// at (outside the workspace, even) into a file of the repository.
fn read(path: &Path) -> std::io::Result<String> {
    if path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            crate::workspace_path::UnsafePath::Link(path.display().to_string()),
        ));
    }
    match fs_err::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Escapes the characters gitignore treats as patterns.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        if matches!(c, '*' | '?' | '[' | '\\') || (i == 0 && matches!(c, '#' | '!')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_entries() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(".gitignore"), "*.pyc").unwrap();
        assert!(add_entry(dir.path(), "raw").unwrap());
        assert!(!add_entry(dir.path(), "raw").unwrap());
        assert!(add_entry(dir.path(), "weird[1].bin").unwrap());
        let text = fs_err::read_to_string(dir.path().join(".gitignore")).unwrap();
        assert_eq!(text, "*.pyc\n/raw\n/weird\\[1].bin\n");
        assert!(remove_entry(dir.path(), "raw").unwrap());
        assert!(remove_entry(dir.path(), "weird[1].bin").unwrap());
        assert_eq!(
            fs_err::read_to_string(dir.path().join(".gitignore")).unwrap(),
            "*.pyc\n"
        );
    }
}
