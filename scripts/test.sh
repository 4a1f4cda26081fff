#!/usr/bin/env bash
# The whole mlci test suite on a fresh machine, set-up included:
#   bash scripts/test.sh
# It installs what the tests need, provides the real file systems they use
# (a small tmpfs to fill up, a loop-mounted XFS image for reflink), installs
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

# --- file systems the tests use ---------------------------------------------
WORK=$(mktemp -d /tmp/mlci-test.XXXXXX)
MOUNTS=()
cleanup() {
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
"$WORK/dvc-venv/bin/pip" install --quiet --disable-pip-version-check "dvc==3.*" \
  || die "cannot install DVC from PyPI (the differential pipeline tests need it)"
export MLCI_TEST_DVC="$WORK/dvc-venv/bin/dvc"
"$MLCI_TEST_DVC" --version >/dev/null || die "DVC does not start"

# --- Mermaid's own parser, to check the report's Mermaid blocks ---------------
command -v node >/dev/null || die "node is required (the report tests check Mermaid blocks with Mermaid's parser)"
log "installing Mermaid's parser from npm (test checker)"
mkdir -p "$WORK/mermaid"
cp tests/mermaid/package.json tests/mermaid/check.mjs "$WORK/mermaid/"
(cd "$WORK/mermaid" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
  || die "cannot install mermaid and jsdom from npm (the report tests need them)"
export MLCI_TEST_MERMAID_CHECK="$WORK/mermaid/check.mjs"

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
