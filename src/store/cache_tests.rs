//! Unit tests of the cache: object names, copy-while-hashing, and the temp
//! sweep.

use super::*;

#[test]
fn layout_matches_design() {
    let d = Digest::of_bytes(b"abc");
    assert_eq!(
        Oid::file(d).rel_path(),
        "sha256/ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(Oid::dir(d).rel_path().ends_with("15ad.dir"));
    assert_eq!(
        format!("{}", Oid::dir(d)).parse::<Oid>().unwrap(),
        Oid::dir(d)
    );
}

#[test]
fn big_file_is_copied_and_hashed_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big");
    let data: Vec<u8> = (0..(SMALL_FILE as usize + 3 * crate::store::copy::CHUNK + 5))
        .map(|i| (i * 7 % 253) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let d = cache
        .insert_file(&src, data.len() as u64, None, false)
        .unwrap();
    assert_eq!(d, Digest::of_bytes(&data));
    let obj = cache.object_path(&Oid::file(d));
    assert_eq!(std::fs::read(&obj).unwrap(), data);
    assert!(std::fs::metadata(&obj).unwrap().permissions().readonly());
    cache.verify(&Oid::file(d)).unwrap();
    assert_eq!(std::fs::read_dir(cache.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn the_temp_sweep_follows_no_link_out_of_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "x").unwrap();
    std::fs::write(outside.join(".hidden"), "x").unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    std::fs::create_dir_all(cache.root().join("sha256/ab")).unwrap();
    std::fs::write(cache.root().join("sha256/ab/.tmp-1"), "t").unwrap();
    std::os::unix::fs::symlink(&outside, cache.tmp_dir()).unwrap();
    std::os::unix::fs::symlink(&outside, cache.root().join("sha256/cd")).unwrap();
    assert_eq!(cache.clean_tmp().unwrap(), 1, "only the shard's own temp");
    assert!(outside.join("keep.txt").exists() && outside.join(".hidden").exists());
    // With sha256 itself a link, nothing below it is swept either.
    std::fs::remove_dir_all(cache.root().join("sha256")).unwrap();
    std::os::unix::fs::symlink(&outside, cache.root().join("sha256")).unwrap();
    assert_eq!(cache.clean_tmp().unwrap(), 0);
    assert!(outside.join(".hidden").exists());
}

#[test]
fn a_file_that_changed_size_since_listed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    for len in [10usize, SMALL_FILE as usize + 10] {
        let src = dir.path().join(format!("f{len}"));
        std::fs::write(&src, vec![7u8; len]).unwrap();
        // Listed 3 bytes shorter than it now is: it grew meanwhile.
        let err = cache
            .insert_file(&src, len as u64 - 3, None, false)
            .unwrap_err();
        assert!(
            err.to_string().contains("changed while being added"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&src.display().to_string()),
            "{err}"
        );
    }
    assert!(cache.list().unwrap().is_empty(), "nothing stored");
}

#[test]
fn corrupt_object_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let oid = Oid::file(Digest::of_bytes(b"hello"));
    cache.put_bytes(&oid, b"hello").unwrap();
    let p = cache.object_path(&oid);
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(&p, b"jello").unwrap();
    let err = cache.verify(&oid).unwrap_err();
    assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&oid.to_string()));
}
