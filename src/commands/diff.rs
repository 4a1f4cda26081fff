//! `mlci diff [A [B]]`: which tracked files were added, deleted, modified
//! or renamed, as `dvc diff` answers it (`datadiff`).

use clap::Args;

use super::{reporter, Ctx};
use crate::config::Overrides;
use crate::datadiff::{self, tables, Change, DataDiff, Side};
use crate::exit::Exit;

/// Show what changed in tracked data between two revisions, or a revision
/// (default HEAD) and the workspace, also inside tracked directories: as
/// `dvc diff` does, and its `--json` is `dvc diff --json`'s document.
/// Against the workspace, entries of the revision missing from the cache
/// are listed as "not in cache". Exits 0 whatever it finds.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old side (default: HEAD).
    #[arg(value_name = "A_REV")]
    pub a_rev: Option<String>,
    /// The new side (default: the workspace).
    #[arg(value_name = "B_REV")]
    pub b_rev: Option<String>,
    /// `dvc diff --json`'s document.
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    /// A Markdown table (`dvc diff --md`'s).
    #[arg(long)]
    pub md: bool,
    /// Show each entry's hash (SHA-256; DVC shows MD5).
    #[arg(long)]
    pub show_hash: bool,
    /// Leave out the "not in cache" list.
    #[arg(long)]
    pub hide_missing: bool,
    /// Also say how each changed table (CSV/TSV, Parquet, JSON Lines, at
    /// most 256 MiB a side) changed: rows, columns added, removed and
    /// retyped, and for a table with a key in mlci.yaml (`report: {tables:
    /// {PATH: {key: COLUMN}}}`) the rows added, removed and changed per
    /// column, with a few samples. In `--json`, a `tables` list.
    #[arg(long)]
    pub tables: bool,
}

fn side(root: &std::path::Path, rev: &str) -> anyhow::Result<Side> {
    let id = crate::git::resolve_commit(root, rev).map_err(|e| datadiff::DataDiffError::Rev {
        rev: rev.into(),
        message: e.message().into(),
    })?;
    Ok(Side::Commit {
        id,
        name: rev.into(),
    })
}

pub fn cmd_diff(ctx: &Ctx, a: DiffArgs) -> anyhow::Result<Exit> {
    let repo = ctx.repo_in_place(&Overrides::default())?;
    // A repository with no commit yet has nothing to compare (DVC: `{}`).
    let no_commits = git2::Repository::open(&repo.root)
        .map(|g| g.head().is_err())
        .unwrap_or(false);
    if no_commits && a.a_rev.is_none() {
        if a.json {
            ctx.printer.data("{}")?;
        }
        return Ok(Exit::Ok);
    }
    let old = side(&repo.root, a.a_rev.as_deref().unwrap_or("HEAD"))?;
    let new = match &a.b_rev {
        Some(r) => side(&repo.root, r)?,
        None => Side::Workspace,
    };
    let reporter = reporter::for_printer(ctx.printer);
    let mut d = datadiff::diff(&repo, &old, &new, reporter.as_ref())?;
    if a.hide_missing {
        d.not_in_cache = None;
    }
    let tables = match a.tables {
        true => {
            let pipeline = crate::pipeline::load(&repo.root)?;
            let keys = crate::review::compare::table_keys(&pipeline)?;
            tables::changes(&repo, &d, (&old, &new), &keys, usize::MAX)
        }
        false => Vec::new(),
    };
    if a.json {
        let mut doc = d.to_dvc_json(a.show_hash);
        if a.tables {
            doc["tables"] = serde_json::to_value(&tables)?;
        }
        ctx.printer.data(&serde_json::to_string_pretty(&doc)?)?;
    } else if a.md {
        let mut out = md(&d, a.show_hash);
        if !tables.is_empty() {
            out.push('\n');
            for t in &tables {
                out.push_str(&format!("- {}\n", crate::review::report::table_md(t)));
            }
        }
        ctx.printer.data(out.trim_end())?;
    } else if !d.is_empty() {
        let mut out = text(&d, a.show_hash);
        out.push_str(&tables_text(&tables));
        ctx.printer.data(out.trim_end())?;
    }
    Ok(Exit::Ok)
}

/// `Tables:` and a paragraph per changed table, values escaped for the
/// terminal.
fn tables_text(list: &[tables::TableChange]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nTables:\n");
    for t in list {
        out.push_str(&format!("    {}\n", one_line(&t.path)));
        if let Some(note) = &t.note {
            out.push_str(&format!("        {}\n", one_line(note)));
            continue;
        }
        let (a, b) = (t.rows_before.unwrap_or(0), t.rows_after.unwrap_or(0));
        out.push_str(&format!(
            "        rows {a} -> {b} ({:+})\n",
            b as i64 - a as i64
        ));
        for (label, cols) in [("columns added", &t.added), ("columns removed", &t.removed)] {
            if !cols.is_empty() {
                out.push_str(&format!(
                    "        {label}: {}\n",
                    one_line(&cols.join(", "))
                ));
            }
        }
        for (c, x, y) in &t.retyped {
            out.push_str(&format!("        column {}: {x} -> {y}\n", one_line(c)));
        }
        if let Some(note) = &t.keyed_note {
            out.push_str(&format!("        {}\n", one_line(note)));
        }
        if let Some(k) = &t.keyed {
            out.push_str(&format!(
                "        by {}: {} added, {} removed, {} changed, {} unchanged\n",
                one_line(&k.key.join(", ")),
                k.added,
                k.removed,
                k.changed,
                k.unchanged
            ));
            for c in k.columns.iter().filter(|c| c.changed > 0) {
                out.push_str(&format!(
                    "            {}: {} changed\n",
                    one_line(&c.column),
                    c.changed
                ));
            }
            for s in &k.samples {
                let mut line = format!("            {} {}", s.kind, one_line(&s.key));
                if let (Some(c), Some(x), Some(y)) = (&s.column, &s.before, &s.after) {
                    line.push_str(&format!(
                        ": {} {} -> {}",
                        one_line(c),
                        one_line(x),
                        one_line(y)
                    ));
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out
}

fn shown_path(c: &Change) -> String {
    match &c.old_path {
        Some(old) => format!("{old} -> {}", c.path),
        None => c.path.clone(),
    }
}

/// A path on one line: every control character (a newline in a file
/// name) in caret notation.
fn one_line(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        crate::escape::push_caret(&mut out, c);
    }
    out
}

fn short(h: &Option<String>) -> String {
    h.as_deref()
        .map(|h| h[..8.min(h.len())].to_string())
        .unwrap_or_default()
}

fn hash_cell(kind: &str, c: &Change) -> String {
    match kind {
        "modified" => format!("{}..{}", short(&c.old_hash), short(&c.new_hash)),
        "added" => short(&c.new_hash),
        _ => short(&c.old_hash),
    }
}

/// `Added:` / `Modified:` groups of paths, then `files summary: …`, as
/// `dvc diff` prints them; paths are escaped for the terminal.
fn text(d: &DataDiff, hashes: bool) -> String {
    let mut out = String::new();
    for (kind, list) in d.kinds() {
        if list.is_empty() {
            continue;
        }
        let mut title = kind.to_string();
        title[..1].make_ascii_uppercase();
        out.push_str(&format!("{title}:\n"));
        for c in list {
            let path = one_line(&shown_path(c));
            if hashes {
                out.push_str(&format!("    {}  {path}\n", hash_cell(kind, c)));
            } else {
                out.push_str(&format!("    {path}\n"));
            }
        }
        out.push('\n');
    }
    let summary: Vec<String> = d
        .file_counts()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    if !summary.is_empty() {
        out.push_str(&format!("files summary: {}\n", summary.join(", ")));
    }
    out
}

/// `| Status | Path |` (with `Hash` when asked), paths escaped for
/// Markdown.
fn md(d: &DataDiff, hashes: bool) -> String {
    let mut out = if hashes {
        "| Status | Hash | Path |\n|--------|------|------|\n".to_string()
    } else {
        "| Status | Path |\n|--------|------|\n".to_string()
    };
    for (kind, list) in d.kinds() {
        for c in list {
            let path = crate::review::report::md_escape(&shown_path(c));
            if hashes {
                out.push_str(&format!("| {kind} | {} | {path} |\n", hash_cell(kind, c)));
            } else {
                out.push_str(&format!("| {kind} | {path} |\n"));
            }
        }
    }
    out
}
