#!/usr/bin/env bash
# mlci's benchmark, side by side with DVC in one run:
#   bash bench/run.sh [--quick]
# Builds mlci (release), installs DVC from PyPI into a venv under
# bench/work/, generates deterministic workloads (20,000 files of 1-8 KiB
# in nested directories, one 1 GiB file), times both tools on the same
# files with the same page-cache state, and prints medians and ratios.
# --quick uses 2,000 files and a 64 MiB file (for trying the harness).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${MLCI_BENCH_WORK:-bench/work}
mkdir -p "$WORK"

need_gib=16
[ "${1:-}" = "--quick" ] && need_gib=2
free_kib=$(df -Pk "$WORK" | awk 'NR==2 {print $4}')
if [ "$free_kib" -lt $((need_gib * 1024 * 1024)) ]; then
  echo "error: the benchmark needs ${need_gib} GiB free in $WORK; $((free_kib / 1024 / 1024)) GiB available" >&2
  exit 2
fi

export DVC_NO_ANALYTICS=1          # DVC must not phone home
export DVC_NO_UPDATER=1

echo "==> building mlci (release)" >&2
cargo build --release --locked --quiet

if [ ! -x "$WORK/venv/bin/dvc" ]; then
  echo "==> installing DVC into $WORK/venv" >&2
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "dvc==3.*"
fi

WORK=$(cd "$WORK" && pwd)
exec python3 bench/bench.py --work "$WORK" --mlci "$PWD/target/release/mlci" --dvc "$WORK/venv/bin/dvc" "$@"
