"""Evidently's DataDriftPreset on two tables, end to end (read, compare,
result dict): the peer of `mlci drift` in bench/bench.py.

Usage: evidently_drift.py REFERENCE CURRENT NUMERIC_COLS CATEGORICAL_COLS
"""
import sys
import warnings

import pandas as pd

warnings.filterwarnings("ignore")
from evidently.legacy.metric_preset import DataDriftPreset  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402


def load(path):
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


ref, cur = load(sys.argv[1]), load(sys.argv[2])
num = [c for c in sys.argv[3].split(",") if c]
cat = [c for c in sys.argv[4].split(",") if c]
report = Report(metrics=[DataDriftPreset()])
report.run(reference_data=ref, current_data=cur,
           column_mapping=ColumnMapping(numerical_features=num, categorical_features=cat, target=None, prediction=None))
result = report.as_dict()
print(result["metrics"][0]["result"]["share_of_drifted_columns"])
