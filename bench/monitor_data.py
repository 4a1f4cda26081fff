"""The monitor benchmark's predictions log (seeded): 10,000,000 rows over 60
days as Parquet (timestamp, prediction, score, target), a binary classifier
degrading in the last weeks.

Usage: monitor_data.py DIR
"""
import os
import sys

import numpy as np
import pandas as pd

out = f"{sys.argv[1]}/predictions.parquet"
if not os.path.exists(out):
    rng = np.random.default_rng(7)
    n = 10_000_000
    ts = pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 60 * 86400, n)), unit="s")
    y = rng.integers(0, 2, n)
    flip = rng.random(n) < np.where(np.arange(n) > 0.8 * n, 0.3, 0.1)
    pred = np.where(flip, 1 - y, y)
    score = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    pd.DataFrame({"timestamp": ts, "prediction": pred, "score": score, "target": y}).to_parquet(out)
