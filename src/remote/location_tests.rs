//! Unit tests of remote URLs and options: schemes, credentials, local paths.

use super::*;

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

#[test]
fn urls_map_to_services() {
    let root = Path::new("/repo");
    let l = resolve(
        "r",
        "s3://bkt/a/b/",
        &opts(&[("endpoint", "http://x:1")]),
        root,
    )
    .unwrap();
    assert_eq!(l.backend, Backend::S3);
    assert_eq!(l.config["bucket"], "bkt");
    assert_eq!(l.config["root"], "/a/b");
    assert_eq!(l.config["endpoint"], "http://x:1");
    let l = resolve("r", "../store", &BTreeMap::new(), root).unwrap();
    assert_eq!(l.backend, Backend::Local);
    assert_eq!(l.config["root"], "/repo/../store");
    let l = resolve("r", "sftp://me@host:2222/srv/x", &BTreeMap::new(), root).unwrap();
    assert_eq!(l.config["endpoint"], "ssh://me@host:2222");
    assert_eq!(l.config["root"], "/srv/x");
    assert_eq!(l.config["known_hosts_strategy"], "strict");
    let l = resolve("r", "webdavs://h:8443/dav", &BTreeMap::new(), root).unwrap();
    assert_eq!(l.config["endpoint"], "https://h:8443");
    let l = resolve(
        "r",
        "azure://cont/p",
        &opts(&[("account_name", "acct"), ("account_key", "c2VjcmV0")]),
        root,
    )
    .unwrap();
    assert_eq!(l.config["container"], "cont");
    assert_eq!(l.config["endpoint"], "https://acct.blob.core.windows.net");
    assert_eq!(l.secrets, ["c2VjcmV0"]);
}

#[test]
fn bad_urls_and_keys_are_named() {
    let root = Path::new("/repo");
    let e = resolve("r", "ftp://x/y", &BTreeMap::new(), root).unwrap_err();
    assert!(e.to_string().contains("unknown scheme `ftp://`"), "{e}");
    let e = resolve("r", "s3://", &BTreeMap::new(), root).unwrap_err();
    assert!(e.to_string().contains("bucket"), "{e}");
    let e = resolve("r", "s3://b", &opts(&[("regoin", "x")]), root).unwrap_err();
    assert!(e.to_string().contains("`remotes.r.regoin`"), "{e}");
    let e = resolve("r", "https://u:p@h/x", &BTreeMap::new(), root).unwrap_err();
    assert!(e.to_string().contains("credentials"), "{e}");
}

#[test]
fn azure_connection_strings_give_account_key_and_endpoint() {
    let cs = "DefaultEndpointsProtocol=http;AccountName=devacct;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:9/devacct/;";
    let got: BTreeMap<String, String> = azure_connection_string(cs).into_iter().collect();
    assert_eq!(got["account_name"], "devacct");
    assert_eq!(got["account_key"], "c2VjcmV0");
    assert_eq!(got["endpoint"], "http://127.0.0.1:9/devacct");
    let cloud = "AccountName=prod;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn";
    let got: BTreeMap<String, String> = azure_connection_string(cloud).into_iter().collect();
    assert_eq!(got["endpoint"], "https://prod.blob.core.chinacloudapi.cn");
}

#[test]
fn ssh_host_patterns_match_as_openssh_matches_them() {
    assert!(wildcard("models-*", "models-store"));
    assert!(wildcard("*.example.com", "a.example.com"));
    assert!(wildcard("h?st", "host"));
    assert!(!wildcard("models-*", "other"));
}
