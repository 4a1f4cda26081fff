"""Predictions logs for the monitor tests (seeded), and each window's
metrics as scikit-learn computes them: the oracle of `mlci monitor`.

Usage: monitor_oracle.py DIR
Writes DIR/{cls.csv, reg.parquet, multi.jsonl} and prints JSON
{file: {"day" | "week": {window: {metric: value}}}}. Timestamps carry
offsets that cross the DST change of Europe/Berlin (2026-03-29) and the
year's end, so UTC days and ISO weeks differ from local ones; the later
days of each log have a planted degradation.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn import metrics as skm

out = sys.argv[1]
rng = np.random.default_rng(42)


def stamps(n, start):
    # Local Berlin times every ~23 minutes, written with their offset.
    local = pd.date_range(start, periods=n, freq="23min", tz="Europe/Berlin")
    return [t.isoformat() for t in local], local.tz_convert("UTC")


def classification(n, start):
    ts, utc = stamps(n, start)
    y = rng.integers(0, 2, n)
    bad = np.arange(n) > n * 0.6  # the planted degradation
    flip = rng.random(n) < np.where(bad, 0.45, 0.1)
    pred = np.where(flip, 1 - y, y)
    score = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0, 1).round(3)
    return pd.DataFrame({"timestamp": ts, "prediction": pred, "score": score, "target": y}), utc


def regression(n, start):
    ts, utc = stamps(n, start)
    y = rng.normal(100, 15, n)
    noise = np.where(np.arange(n) > n * 0.6, 20.0, 5.0)
    pred = y + rng.normal(0, 1, n) * noise
    return pd.DataFrame({"timestamp": pd.to_datetime(ts, utc=True), "prediction": pred, "target": y}), utc


def multiclass(n, start):
    ts, utc = stamps(n, start)
    labels = np.array(["cat", "dog", "bird"])
    y = labels[rng.integers(0, 3, n)]
    flip = rng.random(n) < 0.25
    pred = np.where(flip, labels[rng.integers(0, 3, n)], y)
    return pd.DataFrame({"timestamp": ts, "prediction": pred, "target": y}), utc


def windows(utc, how):
    if how == "day":
        return utc.strftime("%Y-%m-%d")
    iso = utc.isocalendar()
    return [f"{y}-W{w:02d}" for y, w in zip(iso.year, iso.week)]


def scores(df, task, binary):
    y, p = df["target"], df["prediction"]
    if task == "regression":
        return {"mae": skm.mean_absolute_error(y, p), "rmse": float(np.sqrt(skm.mean_squared_error(y, p))),
                "r2": skm.r2_score(y, p)}
    avg = "binary" if binary else "macro"
    kw = {"pos_label": 1} if binary else {}
    m = {"accuracy": skm.accuracy_score(y, p),
         "precision": skm.precision_score(y, p, average=avg, zero_division=0, **kw),
         "recall": skm.recall_score(y, p, average=avg, zero_division=0, **kw),
         "f1": skm.f1_score(y, p, average=avg, zero_division=0, **kw)}
    if "score" in df and binary and y.nunique() == 2:
        m["roc_auc"] = skm.roc_auc_score(y, df["score"])
    return {k: float(v) for k, v in m.items()}


result = {}
for name, (df, utc), task in [
    ("cls.csv", classification(900, "2026-03-26 20:00"), "classification"),
    ("reg.parquet", regression(800, "2026-12-29 21:00"), "regression"),
    ("multi.jsonl", multiclass(700, "2026-03-27 23:30"), "classification"),
]:
    path = f"{out}/{name}"
    if name.endswith(".csv"):
        df.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        df.to_parquet(path)
    else:
        df.to_json(path, orient="records", lines=True)
    result[name] = {}
    # Binary or multiclass is the whole log's property, not a window's.
    binary = len(set(df["target"]) | set(df["prediction"])) <= 2
    for how in ["day", "week"]:
        keys = windows(utc, how)
        result[name][how] = {k: scores(g, task, binary) for k, g in df.groupby(np.asarray(keys))}
print(json.dumps(result))
