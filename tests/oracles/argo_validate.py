"""Validates an Argo Workflow (YAML on stdin) against Argo's own model, as
the Python SDK hera carries it (`hera.workflows.models.Workflow`), and
prints its DAG as JSON: {task: dependencies}, plus the templates' names.
Exit 1 with the validation errors when it does not validate.
"""
import json
import re
import sys

import yaml
from hera.workflows.models import Workflow

doc = yaml.safe_load(sys.stdin.read())
try:
    wf = Workflow.model_validate(doc)
except Exception as e:  # pydantic's ValidationError, printed whole
    print(e)
    sys.exit(1)
dag = next(t for t in wf.spec.templates if t.dag is not None)
# hera's model types the fields; Argo's validator (workflow/validate) also
# requires every template and task name to match [a-zA-Z0-9][-a-zA-Z0-9]*,
# be at most 128 characters, and be unique among its siblings.
NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
for names in ([t.name for t in wf.spec.templates], [t.name for t in dag.dag.tasks]):
    bad = [n for n in names if len(n) > 128 or not NAME.fullmatch(n)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if bad or dup:
        print(f"names Argo refuses: {bad}, duplicated: {dup}")
        sys.exit(1)
print(json.dumps({
    "tasks": {t.name: t.dependencies or [] for t in dag.dag.tasks},
    "templates": [t.name for t in wf.spec.templates],
    "args": {t.name: (t.container.args if t.container else None) for t in wf.spec.templates},
    "secret": [t.container.env_from[0].secret_ref.name for t in wf.spec.templates if t.container],
    # Each task's `stage` parameter as a YAML 1.1 reader (PyYAML) typed it:
    # an unquoted `on` would arrive as the boolean True.
    "params": {t.name: [repr(p.value) for p in (t.arguments.parameters if t.arguments else [])] for t in dag.dag.tasks},
}))
