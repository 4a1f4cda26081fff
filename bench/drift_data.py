"""The drift benchmark's tables (seeded): 1,000,000 rows x 20 columns (10
numeric, 10 categorical) as Parquet, and 200,000 rows as CSV, reference and
current (the current one shifted).

Usage: drift_data.py DIR
"""
import os
import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
rng = np.random.default_rng(20261130)


def table(n, shift):
    d = {}
    for i in range(10):
        d[f"n{i}"] = rng.normal(shift * i / 10, 1, n)
    for i in range(10):
        d[f"c{i}"] = rng.choice([f"k{j}" for j in range(5 + i)], n)
    return pd.DataFrame(d)


if not os.path.exists(f"{out}/cur.parquet"):
    table(1_000_000, 0).to_parquet(f"{out}/ref.parquet")
    table(1_000_000, 0.5).to_parquet(f"{out}/cur.parquet")
    table(200_000, 0).to_csv(f"{out}/ref.csv", index=False)
    table(200_000, 0.5).to_csv(f"{out}/cur.csv", index=False)
