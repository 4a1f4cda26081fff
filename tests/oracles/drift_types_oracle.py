"""The type-inference oracle: 30 seeded, realistic table pairs (IDs,
timestamps, free text, low-cardinality integers, NaN and inf, unseen
categories, constant columns, booleans, tiny and large samples) written as
CSV, each run through Evidently's default DataDriftPreset (the new API,
DataDefinition inferred by Evidently itself, as a user who configures
nothing gets it).

Usage: drift_types_oracle.py DIR
Writes DIR/NN_ref.csv, DIR/NN_cur.csv and prints JSON:
{"NN": {"types": {column: type}, "columns": {column: {"method", "score",
"threshold"}}, "count": drifted columns, "share": share}}.
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

out = sys.argv[1]
rng = np.random.default_rng(20261207)
WORDS = "the model data train drift value score user churn plan monthly annual support ticket bill".split()
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}


def side(i, n, drift, start_id):
    shift = 3.0 if drift else 0.0
    cols = {}
    kinds = i % 6
    cols["user_id"] = [f"u{start_id + k:06d}" for k in range(n)]
    t0 = pd.Timestamp("2026-01-01") + pd.Timedelta(days=180 if start_id else 0)
    cols["ts"] = [(t0 + pd.Timedelta(hours=k)).strftime("%Y-%m-%d %H:%M:%S") for k in range(n)]
    cols["comment"] = [" ".join(rng.choice(WORDS, 6)) for _ in range(n)]
    cols["rating"] = rng.integers(1, 9 if not drift else 5, n)
    cols["age"] = rng.integers(18, 80, n)
    cols["income"] = rng.normal(50 + shift, 10, n).round(2)
    if kinds in (1, 3):
        v = rng.normal(5, 1, n)
        v[rng.random(n) < 0.1] = np.nan
        cols["with_nan"] = v
    if kinds in (2, 3):
        v = rng.gamma(2.0, 2.0, n)
        v[rng.integers(0, n)] = np.inf
        cols["with_inf"] = v
    if kinds == 4:
        cols["const"] = np.full(n, 7)
        cols["flag"] = rng.choice([True, False], n)
    cols["plan"] = rng.choice(["free", "pro", "team"] + (["enterprise"] if drift else []), n)
    cols["binary"] = rng.choice(["yes", "no"], n, p=[0.3, 0.7] if not drift else [0.6, 0.4])
    return pd.DataFrame(cols)


results = {}
for i in range(30):
    # Sizes: tiny, small and large references (the tests change at 1,000).
    n_ref = [12, 60, 400, 1500][i % 4]
    n_cur = [10, 50, 300, 900][(i // 4) % 4]
    drift = i % 3 == 0
    ref = side(i, n_ref, False, 0)
    cur = side(i, n_cur, drift, n_ref)
    name = f"{i:02d}"
    ref.to_csv(f"{out}/{name}_ref.csv", index=False)
    cur.to_csv(f"{out}/{name}_cur.csv", index=False)
    # As a user gets it: read back from the files, types inferred.
    ref = pd.read_csv(f"{out}/{name}_ref.csv")
    cur = pd.read_csv(f"{out}/{name}_cur.csv")
    cur_ds = Dataset.from_pandas(cur, data_definition=DataDefinition())
    ref_ds = Dataset.from_pandas(ref, data_definition=DataDefinition())
    d = cur_ds._data_definition
    types = {}
    for kind, names in [("numerical", d.numerical_columns), ("categorical", d.categorical_columns),
                        ("text", d.text_columns), ("datetime", d.datetime_columns), ("unknown", d.unknown_columns)]:
        for c in names or []:
            types[c] = kind
    snap = Report([DataDriftPreset()]).run(cur_ds, ref_ds).dict()
    columns, count, share = {}, None, None
    for m in snap["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("DriftedColumnsCount"):
            count, share = m["value"]["count"], m["value"]["share"]
        elif cfg["type"].endswith("ValueDrift"):
            method = METHODS.get(cfg["method"], cfg["method"])
            columns[cfg["column"]] = {"method": method, "score": m["value"], "threshold": cfg["threshold"]}
    results[name] = {"types": types, "columns": columns, "count": count, "share": share}
print(json.dumps(results, default=float))
