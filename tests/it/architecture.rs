//! The house rules that a tool can check: no two top-level modules of the
//! crate import each other in a circle (through any chain of modules), so
//! every domain module can be read, tested and changed below the ones that
//! use it. Read from the sources (`crate::module` paths in `use` lines and
//! in code), which costs no CI minutes that an analysis tool would.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules at the edge, allowed to know everything.
const EDGE: &[&str] = &["lib", "main", "cli", "commands"];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Top-level module -> the top-level modules its files name.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if EDGE.contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::register_hint!` is a macro, not a module.
            let is_module = !name.is_empty() && name != "register_hint";
            if is_module && name != top && !EDGE.contains(&name.as_str()) {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        node: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    visit(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_two_top_level_modules_import_each_other_in_a_circle() {
    let graph = module_graph();
    assert!(graph.len() > 15, "the sources were read: {graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle_from(&g, "a").unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(cycle_from(&g, "a"), None);
}

/// Files should split at seams, not at a number: past 700 lines the suite
/// warns (a file that long usually holds two rooms); past 1,000 it fails.
#[test]
fn no_source_file_is_over_1000_lines_and_long_ones_are_named() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    let mut too_long = Vec::new();
    for f in rust_files(&src) {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        let shown = format!("{} ({n} lines)", f.display());
        if n > 1000 {
            too_long.push(shown);
        } else if n > 700 {
            long.push(shown);
        }
    }
    if !long.is_empty() {
        eprintln!("warning: long files, look for a seam to split at: {long:?}");
    }
    assert!(too_long.is_empty(), "split these files: {too_long:?}");
}

/// Edge helpers every command may use: how progress is drawn (`reporter`),
/// how a transfer is run and told (`transfers`), how stages run at the edge (`stages`),
/// the CI job's shared steps (`job`), and the context in `commands/mod.rs`.
const SHARED_EDGE: &[&str] = &["reporter", "transfers", "stages", "job"];

/// For each file under `commands/` (path relative to it, its text): the
/// other command modules it names. A command module is a file or folder of
/// `commands/`; `super::` is resolved from the file's place.
fn command_imports(files: &[(String, String)]) -> Vec<String> {
    let commands: BTreeSet<String> = files
        .iter()
        .map(|(rel, _)| {
            rel.split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|c| c != "mod")
        .collect();
    let mut found = Vec::new();
    for (rel, text) in files {
        let parts: Vec<&str> = rel.split('/').collect();
        let own = parts[0].trim_end_matches(".rs");
        if own == "mod" {
            continue;
        }
        // What `super::` is from this file: `commands` for a command's own
        // file or folder's mod.rs; the command's folder one level deeper.
        let to_commands = if parts.len() == 1 || parts.last() == Some(&"mod.rs") {
            vec!["super::".to_string(), "crate::commands::".to_string()]
        } else {
            vec![
                "super::super::".to_string(),
                "crate::commands::".to_string(),
            ]
        };
        for prefix in &to_commands {
            for (i, _) in text.match_indices(prefix.as_str()) {
                // `super::super::x` also matches `super::` at its second
                // half: only whole prefixes count.
                if prefix == "super::" && text[..i].ends_with("super::") {
                    continue;
                }
                let rest = &text[i + prefix.len()..];
                let names: Vec<String> = if let Some(list) = rest.strip_prefix('{') {
                    list.split('}')
                        .next()
                        .unwrap()
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap().to_string())
                        .collect()
                } else {
                    vec![rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect()]
                };
                for n in names {
                    if n != own && commands.contains(&n) && !SHARED_EDGE.contains(&n.as_str()) {
                        found.push(format!("commands/{rel} uses command `{n}`"));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_command_uses_another_command() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let files: Vec<(String, String)> = rust_files(&dir)
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            (rel, std::fs::read_to_string(&f).unwrap())
        })
        .collect();
    assert!(files.len() > 30, "the commands were read");
    let found = command_imports(&files);
    assert!(
        found.is_empty(),
        "commands only orchestrate: move what they share into a domain room\n{}",
        found.join("\n")
    );
}

#[test]
fn the_command_check_finds_a_command_using_another() {
    let files = |gate: &str| {
        vec![
            ("mod.rs".to_string(), "pub mod gate;".to_string()),
            ("gate.rs".to_string(), gate.to_string()),
            ("drift.rs".to_string(), String::new()),
            ("transfers.rs".to_string(), String::new()),
            (
                "ci/mod.rs".to_string(),
                "use super::transfers::tell;".to_string(),
            ),
            (
                "ci/publish.rs".to_string(),
                "use super::super::drift::x; use super::Job;".to_string(),
            ),
        ]
    };
    assert_eq!(
        command_imports(&files("let x = super::drift::rules();")),
        [
            "commands/ci/publish.rs uses command `drift`",
            "commands/gate.rs uses command `drift`"
        ]
    );
    assert_eq!(
        command_imports(&files("use super::{drift, Ctx};")),
        [
            "commands/ci/publish.rs uses command `drift`",
            "commands/gate.rs uses command `drift`"
        ]
    );
    assert_eq!(
        command_imports(&files(
            "use crate::commands::transfers::tell; use super::Ctx;"
        )),
        ["commands/ci/publish.rs uses command `drift`"]
    );
}

/// Every environment variable named in the sources (read through
/// `environment::get`/`get_os`, or by clap's `env = "…"`) is in the one
/// catalogue that docs/environment.md is rendered from.
#[test]
fn every_environment_variable_read_is_catalogued() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // `get`/`get_os` and the local names they are bound to (`var`, `env`),
    // clap's `env = "…"`, and the limits' settings (`=> "MLCI_MAX_…"`).
    let re = regex::Regex::new(
        r#"\b(?:get|get_os|var|env)\("([A-Z][A-Z0-9_]+)"\)|env = "([A-Z0-9_]+)"|=> "(MLCI_[A-Z0-9_]+)""#,
    )
    .unwrap();
    let mut named = BTreeSet::new();
    for f in rust_files(&src) {
        let text = std::fs::read_to_string(&f).unwrap();
        for c in re.captures_iter(&text) {
            named.insert(
                c.get(1)
                    .or(c.get(2))
                    .or(c.get(3))
                    .unwrap()
                    .as_str()
                    .to_string(),
            );
        }
    }
    assert!(named.len() > 20, "the sources were read: {named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !mlci::environment::known(n))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to src/environment.rs: {missing:?}"
    );
}

/// Tests run git through the harness (`common::git_in`, `git_bare`,
/// `git_clone`, `TestRepo::git`): one hermetic environment (no user
/// config, a fixed identity) and one failure message, not a copy per file.
#[test]
fn tests_run_git_through_the_harness() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let needle = ["Command::new(", "\"git\")"].concat();
    let offenders: Vec<String> = rust_files(&dir)
        .into_iter()
        .filter(|p| !p.ends_with("common.rs"))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains(&needle))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "run git through common::git_in / git_bare / git_clone: {offenders:?}"
    );
}
