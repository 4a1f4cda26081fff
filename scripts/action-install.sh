#!/usr/bin/env bash
# Installs mlci for the GitHub Action (action.yml): the release binary for
# the runner's OS and architecture, verified against its published sha256,
# kept in the runner's tool cache; when no binary is published for this
# version and platform, built from the action's own source with cargo.
#
# Everything comes in through the environment (never through `${{ }}` in
# the workflow's script):
#   MLCI_VERSION       version to install, e.g. 0.1.0 ("" or "source": the
#                      action's own version / always build from source)
#   ACTION_PATH        the action's checkout (Cargo.toml, sources)
#   MLCI_RELEASES      base URL of the release downloads
#                      (default https://github.com/$MLCI_REPOSITORY/releases/download)
#   MLCI_REPOSITORY    owner/name of mlci's repository (default: the action's)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_PATH,
#   GITHUB_OUTPUT      as GitHub Actions sets them
# A wrong checksum is an error, never a reason to fall back.
set -euo pipefail

die() { echo "::error title=mlci install::$*" >&2; exit 1; }

: "${ACTION_PATH:?ACTION_PATH must be set}"
: "${RUNNER_TEMP:?RUNNER_TEMP must be set}"
version="${MLCI_VERSION:-}"
if [ -z "$version" ]; then
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ACTION_PATH/Cargo.toml" | head -n 1)
fi
[ -n "$version" ] || die "cannot tell which mlci version to install"

case "${RUNNER_OS:-Linux}/${RUNNER_ARCH:-X64}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target="" ;;
esac
exe=mlci
[ "${RUNNER_OS:-Linux}" = Windows ] && exe=mlci.exe

cache_root="${RUNNER_TOOL_CACHE:-$RUNNER_TEMP/tool-cache}/mlci/$version/${RUNNER_ARCH:-X64}"
publish() {
  echo "$cache_root" >>"${GITHUB_PATH:-/dev/null}"
  [ -n "${GITHUB_OUTPUT:-}" ] && echo "path=$cache_root/$exe" >>"$GITHUB_OUTPUT"
  echo "mlci $version ready: $cache_root/$exe"
}
if [ -x "$cache_root/$exe" ] && [ -f "$cache_root.complete" ]; then
  echo "mlci $version found in the tool cache"
  publish
  exit 0
fi

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

build_from_source() {
  echo "::notice title=mlci install::no prebuilt mlci $version for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; building from source (takes minutes)"
  command -v cargo >/dev/null || die "no prebuilt binary and no cargo to build one: install Rust first (e.g. dtolnay/rust-toolchain)"
  cargo install --locked --path "$ACTION_PATH" --root "$RUNNER_TEMP/mlci-build"
  mkdir -p "$cache_root"
  cp "$RUNNER_TEMP/mlci-build/bin/$exe" "$cache_root/$exe"
}

if [ "$version" = source ] || [ -z "$target" ]; then
  build_from_source
else
  repo="${MLCI_REPOSITORY:-${GITHUB_ACTION_REPOSITORY:-}}"
  base="${MLCI_RELEASES:-https://github.com/$repo/releases/download}"
  asset="mlci-$target"
  [ "${RUNNER_OS:-Linux}" = Windows ] && asset="$asset.exe"
  url="$base/v$version/$asset"
  tmp=$(mktemp -d "$RUNNER_TEMP/mlci-download.XXXXXX")
  status=$(curl -sS -L --retry 3 --retry-delay 1 -o "$tmp/$asset" -w '%{http_code}' "$url") || status=000
  if [ "$status" = 200 ]; then
    curl -fsS -L --retry 3 --retry-delay 1 -o "$tmp/$asset.sha256" "$url.sha256" \
      || die "downloaded $url but not its checksum ($url.sha256)"
    want=$(cut -d' ' -f1 <"$tmp/$asset.sha256" | tr -d '\r\n')
    got=$(sha256_of "$tmp/$asset")
    [ "$want" = "$got" ] || die "checksum mismatch for $url: expected $want, got $got (not installed)"
    mkdir -p "$cache_root"
    mv "$tmp/$asset" "$cache_root/$exe"
    chmod +x "$cache_root/$exe"
  elif [ "$status" = 404 ]; then
    build_from_source
  else
    die "downloading $url failed (HTTP $status)"
  fi
  rm -rf "$tmp"
fi
touch "$cache_root.complete"
publish
