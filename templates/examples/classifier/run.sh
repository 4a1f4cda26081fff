#!/bin/sh
# The classifier example end to end with mlci: data and model tracked by
# content hash, pointers committed to git, workspace restored from the cache.
set -eu
cd "$(dirname "$0")"
MLCI=${MLCI:-mlci}
git_commit() { git -c user.name=mlci-example -c user.email=example@mlci.invalid commit -q -m "$1"; }
step() { printf '\n==> %s\n' "$*"; }

step "generate the dataset and train"
python3 src/generate.py
PYTHONPATH=src python3 src/train.py
PYTHONPATH=src python3 src/evaluate.py

step "track the dataset and the model"
$MLCI add data/raw models/model.json
git add -A
git_commit "example: data and model tracked with mlci"
$MLCI status

step "lose the workspace copies, see it, restore them from the cache"
rm -rf data/raw models/model.json
$MLCI status || true
$MLCI checkout
$MLCI status --check
echo "workspace restored: $(ls data/raw | wc -l | tr -d ' ') shards and models/model.json"

step "change one shard: status says which file changed"
echo "0.1,0.2,1" >> data/raw/part-003.csv
$MLCI status || true
$MLCI checkout --force data/raw
$MLCI status --check
