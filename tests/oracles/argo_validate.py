"""Validates an Argo Workflow (YAML on stdin) against Argo's own model, as
the Python SDK hera carries it (`hera.workflows.models.Workflow`), and
prints its DAG as JSON: {task: dependencies}, plus the templates' names.
Exit 1 with the validation errors when it does not validate.
"""
import json
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
print(json.dumps({
    "tasks": {t.name: t.dependencies or [] for t in dag.dag.tasks},
    "templates": [t.name for t in wf.spec.templates],
    "args": {t.name: (t.container.args if t.container else None) for t in wf.spec.templates},
    "secret": [t.container.env_from[0].secret_ref.name for t in wf.spec.templates if t.container],
}))
