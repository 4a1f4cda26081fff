//! Unit tests of the planning in add, status and checkout, on a real git
//! repository in a temp dir: what each decides before it touches anything.

use std::path::Path;

use super::*;
use crate::config::Overrides;
use crate::progress::Silent;

/// A git repository with an empty `.mlci/` (mlci's default settings).
fn repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    git2::Repository::init(&root).unwrap();
    fs_err::create_dir_all(root.join(".mlci")).unwrap();
    let repo = Repo::discover(&root, &Overrides::default()).unwrap();
    (dir, repo)
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, text).unwrap();
}

fn add(repo: &Repo, rel: &str) -> Tracked {
    let mut ws = Workspace::open(repo);
    let out = ws.add(&[rel.to_string()], &Silent).unwrap();
    ws.finish().unwrap();
    assert_eq!(out.len(), 1);
    load_pointer(&repo.root, &out[0].pointer).unwrap()
}

#[test]
fn adding_unchanged_data_again_changes_nothing() {
    let (_d, repo) = repo();
    write(&repo.root, "data/a.csv", "1,2\n");
    add(&repo, "data");
    let mut ws = Workspace::open(&repo);
    let again = ws.add(&["data".to_string()], &Silent).unwrap();
    assert!(!again[0].changed, "the pointer already said exactly this");
    assert_eq!(again[0].nfiles, Some(1));
}

#[test]
fn status_tells_modified_deleted_and_what_changed_inside_a_directory() {
    let (_d, repo) = repo();
    write(&repo.root, "d/a", "a");
    write(&repo.root, "d/b", "b");
    write(&repo.root, "f", "f");
    let dir = add(&repo, "d");
    let file = add(&repo, "f");
    write(&repo.root, "d/a", "A");
    write(&repo.root, "d/c", "c");
    fs_err::remove_file(repo.root.join("d/b")).unwrap();
    fs_err::remove_file(repo.root.join("f")).unwrap();
    let mut ws = Workspace::open(&repo);
    let st = ws.status(&[dir, file], &Silent).unwrap();
    assert_eq!(st[0].state, DataState::Modified);
    let changes = st[0].changes.as_ref().unwrap();
    assert_eq!(
        (&changes.added, &changes.modified, &changes.deleted),
        (
            &vec!["c".to_string()],
            &vec!["a".to_string()],
            &vec!["b".to_string()]
        )
    );
    assert_eq!(st[1].state, DataState::Deleted);
    assert!(st[0].in_cache && st[1].in_cache);
}

#[test]
fn checkout_plans_before_it_acts_and_never_loses_uncached_work() {
    let (_d, repo) = repo();
    write(&repo.root, "d/a", "a");
    write(&repo.root, "d/b", "b");
    let t = add(&repo, "d");
    // A local change whose content is in no cache: a conflict, and nothing
    // is touched, not even the file that could be restored.
    write(&repo.root, "d/a", "unsaved work");
    fs_err::remove_file(repo.root.join("d/b")).unwrap();
    let mut ws = Workspace::open(&repo);
    let mut conflicts = Vec::new();
    let plan = ws
        .plan_checkout(&t, false, &mut conflicts, &Silent)
        .unwrap();
    assert_eq!(conflicts, ["d/a"]);
    assert_eq!(plan.writes.len(), 1, "b is planned, a is not");
    let err = ws
        .checkout(std::slice::from_ref(&t), false, &Silent)
        .unwrap_err();
    assert!(matches!(err, TrackError::Conflicts { .. }), "{err}");
    assert_eq!(
        fs_err::read_to_string(repo.root.join("d/a")).unwrap(),
        "unsaved work"
    );
    assert!(!repo.root.join("d/b").exists());
    // With force, the plan replaces it.
    let mut conflicts = Vec::new();
    let plan = ws.plan_checkout(&t, true, &mut conflicts, &Silent).unwrap();
    assert!(conflicts.is_empty());
    assert_eq!(plan.writes.len(), 2);
    ws.checkout(&[t], true, &Silent).unwrap();
    assert_eq!(fs_err::read_to_string(repo.root.join("d/a")).unwrap(), "a");
}

#[test]
fn checkout_deletes_extra_files_only_when_their_content_is_cached() {
    let (_d, repo) = repo();
    write(&repo.root, "d/a", "a");
    write(&repo.root, "keep", "cached elsewhere");
    add(&repo, "keep");
    let t = add(&repo, "d");
    write(&repo.root, "d/extra", "cached elsewhere");
    write(&repo.root, "d/new", "not cached");
    let mut ws = Workspace::open(&repo);
    let mut conflicts = Vec::new();
    let plan = ws
        .plan_checkout(&t, false, &mut conflicts, &Silent)
        .unwrap();
    assert_eq!(plan.deletes, [repo.root.join("d/extra")]);
    assert_eq!(conflicts, ["d/new (not in the tracked version)"]);
    assert_eq!(plan.unchanged, 1);
}
