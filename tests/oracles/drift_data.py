"""Generates the drift test's tables (seeded): DIR/{small,large,same}_{ref,cur}
with and without injected drift (a shifted mean, a new category, changed
proportions, missing values, a constant column), small as CSV (reference of
600 rows) and large as Parquet (reference of 3,000 rows).

Usage: drift_data.py DIR
"""
import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
rng = np.random.default_rng(20261130)


def table(n, drift):
    shift = 4.0 if drift else 0.0
    withnan = rng.normal(10, 2, n)
    withnan[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "shifted": rng.normal(50 + shift, 10, n).round(3),
        "stable": rng.gamma(2.0, 3.0, n),
        "withnan": withnan,
        "const": np.full(n, 7.0),
        "kids": rng.integers(0, 4, n),
        "newcat": rng.choice(["a", "b", "c"] + (["new"] if drift else []), n),
        "props": rng.choice(["x", "y", "w"], n, p=[0.2, 0.3, 0.5] if drift else [0.5, 0.3, 0.2]),
        "binary": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
    })


small_ref, small_cur = table(600, False), table(800, True)
small_ref.to_csv(f"{out}/small_ref.csv", index=False)
small_cur.to_csv(f"{out}/small_cur.csv", index=False)
# The same tables as JSON Lines (NaN written as null).
small_ref.to_json(f"{out}/small_ref.jsonl", orient="records", lines=True)
small_cur.to_json(f"{out}/small_cur.jsonl", orient="records", lines=True)
table(3000, False).to_parquet(f"{out}/large_ref.parquet")
table(2500, True).to_parquet(f"{out}/large_cur.parquet")
table(3000, False).to_parquet(f"{out}/same_ref.parquet")
table(2000, False).to_parquet(f"{out}/same_cur.parquet")
