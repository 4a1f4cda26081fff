"""Cuts GitHub's published OpenAPI description down to the operations mlci
calls (and every component they reference), so Prism starts in seconds.

Usage: subset.py FULL.json OUT.json
"""
import json
import sys

OPERATIONS = {
    "/user": ["get"],
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": ["get", "post"],
    "/repos/{owner}/{repo}/issues/comments/{comment_id}": ["patch"],
    "/repos/{owner}/{repo}/statuses/{sha}": ["post"],
    "/repos/{owner}/{repo}/check-runs": ["post"],
    "/repos/{owner}/{repo}/pulls": ["get", "post"],
    "/repos/{owner}/{repo}/pulls/{pull_number}": ["get", "patch"],
    "/repos/{owner}/{repo}/issues/{issue_number}/labels": ["post"],
    "/repos/{owner}/{repo}/deployments": ["post"],
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses": ["post"],
}

full = json.load(open(sys.argv[1]))
paths = {}
for p, methods in OPERATIONS.items():
    item = full["paths"][p]
    paths[p] = {k: v for k, v in item.items() if k in methods or k == "parameters"}

# Keep only the components reachable from those operations.
keep = {}
todo = [paths]
while todo:
    node = todo.pop()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            _, _, kind, name = ref.split("/", 3)
            if name not in keep.setdefault(kind, {}):
                keep[kind][name] = full["components"][kind][name]
                todo.append(keep[kind][name])
        todo.extend(node.values())
    elif isinstance(node, list):
        todo.extend(node)

out = {k: v for k, v in full.items() if k not in ("paths", "components", "webhooks", "x-webhooks")}
out["paths"] = paths
out["components"] = keep
json.dump(out, open(sys.argv[2], "w"))
