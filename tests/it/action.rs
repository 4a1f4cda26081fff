//! The action's install script (scripts/action-install.sh), run as the
//! composite action runs it, with the runner's environment variables set,
//! against a local HTTP server that serves a release asset and its
//! checksum: the prebuilt path, a wrong checksum (must fail), a missing
//! asset (must fall back to building from source: a stand-in `cargo` on
//! PATH records its exact arguments), and the tool cache on a second run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{sha256_file, BIN};

const VERSION: &str = "9.9.9";
const ASSET: &str = "mlci-x86_64-unknown-linux-musl";

struct Runner {
    rt: tokio::runtime::Runtime,
    server: MockServer,
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Runner {
            rt,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn serve(&self, rel: &str, status: u16, body: Vec<u8>) {
        self.rt.block_on(
            Mock::given(method("GET"))
                .and(path(rel.to_string()))
                .respond_with(ResponseTemplate::new(status).set_body_bytes(body))
                .mount(&self.server),
        );
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs the script like the composite action's first step.
    fn install(&self, extra_path: Option<&Path>) -> Output {
        let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for d in ["temp", "tool-cache"] {
            std::fs::create_dir_all(self.p(d)).unwrap();
        }
        let mut path_var = std::env::var("PATH").unwrap();
        if let Some(p) = extra_path {
            path_var = format!("{}:{path_var}", p.display());
        }
        Command::new("bash")
            .arg(repo_root.join("scripts/action-install.sh"))
            .env_clear()
            .env("PATH", path_var)
            .env("HOME", self.dir.path())
            .env("MLCI_VERSION", VERSION)
            .env("ACTION_PATH", repo_root)
            .env("MLCI_RELEASES", self.server.uri())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", self.p("temp"))
            .env("RUNNER_TOOL_CACHE", self.p("tool-cache"))
            .env("GITHUB_PATH", self.p("github_path"))
            .env("GITHUB_OUTPUT", self.p("github_output"))
            .output()
            .unwrap()
    }

    fn requests(&self) -> usize {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .len()
    }

    fn installed(&self) -> PathBuf {
        self.p(&format!("tool-cache/mlci/{VERSION}/X64/mlci"))
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_prebuilt_binary_is_verified_cached_and_put_on_path() {
    let r = Runner::new();
    let binary = std::fs::read(BIN).unwrap();
    let sum = sha256_file(Path::new(BIN));
    r.serve(&format!("/v{VERSION}/{ASSET}"), 200, binary);
    r.serve(
        &format!("/v{VERSION}/{ASSET}.sha256"),
        200,
        format!("{sum}  {ASSET}\n").into_bytes(),
    );
    let out = r.install(None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sha256_file(&r.installed()), sum);
    let dir = r.installed().parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::read_to_string(r.p("github_path")).unwrap(),
        format!("{}\n", dir.display())
    );
    let version = Command::new(r.installed())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mlci "));
    assert_eq!(r.requests(), 2);
    // The second job on this runner takes it from the tool cache.
    let out = r.install(None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("found in the tool cache"),
        "{}",
        text(&out)
    );
    assert_eq!(r.requests(), 2, "no download the second time");
}

#[test]
fn a_wrong_checksum_fails_and_installs_nothing() {
    let r = Runner::new();
    r.serve(
        &format!("/v{VERSION}/{ASSET}"),
        200,
        b"not the real binary".to_vec(),
    );
    r.serve(
        &format!("/v{VERSION}/{ASSET}.sha256"),
        200,
        format!("{}  {ASSET}\n", "0".repeat(64)).into_bytes(),
    );
    let out = r.install(None);
    assert!(!out.status.success());
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    assert!(!r.installed().exists());
    assert!(!r.p("github_path").exists());
}

#[test]
fn a_missing_asset_falls_back_to_building_from_source() {
    let r = Runner::new();
    r.serve(&format!("/v{VERSION}/{ASSET}"), 404, b"Not Found".to_vec());
    // A stand-in cargo: records its arguments and "builds" a binary.
    let bin = r.p("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args_file = r.p("cargo-args");
    std::fs::write(
        bin.join("cargo"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nroot=''\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=\"$2\"; shift; done\nmkdir -p \"$root/bin\" && printf '#!/bin/sh\\necho built\\n' > \"$root/bin/mlci\" && chmod +x \"$root/bin/mlci\"\n",
            args_file.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("cargo"))
        .status()
        .unwrap();
    let out = r.install(Some(&bin));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("building from source"),
        "{}",
        text(&out)
    );
    let args = std::fs::read_to_string(&args_file).unwrap();
    let expected = format!(
        "install\n--locked\n--path\n{}\n--root\n{}\n",
        env!("CARGO_MANIFEST_DIR"),
        r.p("temp/mlci-build").display()
    );
    assert_eq!(args, expected);
    assert!(r.installed().exists());
    assert!(std::fs::read_to_string(r.p("github_path")).is_ok());
}
