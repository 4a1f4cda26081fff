#!/bin/sh
# The classifier example end to end with mlci: the pipeline runs, reruns
# only what a change affects, and the data and model come back from the
# cache after the workspace copies are lost.
set -eu
cd "$(dirname "$0")"
MLCI=${MLCI:-mlci}
git_commit() { git -c user.name=mlci-example -c user.email=example@mlci.invalid commit -q -m "$1"; }
step() { printf '\n==> %s\n' "$*"; }

step "mlci repro: run the pipeline (generate -> train -> evaluate)"
$MLCI repro
cat eval/metrics.json
git add -A
git_commit "example: pipeline run with mlci"

step "mlci repro again: nothing changed, nothing runs"
$MLCI repro

step "change a param: only train and evaluate are stale, and status says why"
sed 's/lr: 0.1/lr: 0.3/' params.yaml > params.yaml.new && mv params.yaml.new params.yaml
$MLCI status || true
$MLCI repro
cat eval/metrics.json

step "mlci report: what the param change did, as Markdown for a pull request"
$MLCI report
$MLCI gate

step "change it back: the run cache restores the earlier model instead of training"
git checkout -q -- params.yaml
$MLCI repro

step "lose the workspace copies, then restore them from the cache"
rm -rf data/raw models
$MLCI status || true
$MLCI checkout
$MLCI status --check
echo "workspace restored: $(ls data/raw | wc -l | tr -d ' ') shards and models/model.json"

step "push to a remote (a directory beside the project; s3://, gs://, azure://, sftp:// work the same), lose the cache, pull it back"
$MLCI remote add -d demo "$PWD-remote"
$MLCI push
rm -rf .mlci/cache data/raw models
$MLCI pull
$MLCI status --remote --check > /dev/null && echo "pulled back: $(ls data/raw | wc -l | tr -d ' ') shards and the model, everything in sync with the remote"

step "mlci ci: the whole CI job (pull, repro, push, gates, report, verdict) as it runs in GitHub Actions"
$MLCI ci > /dev/null && echo "mlci ci: gates passed"
