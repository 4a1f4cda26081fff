"""The peer of `mlci monitor --window day`: pandas reads the log, groups it
by UTC day, and scikit-learn computes each day's accuracy, precision,
recall, F1 and ROC AUC.

Usage: sklearn_monitor.py LOG
"""
import sys

import pandas as pd
from sklearn import metrics as skm

df = pd.read_parquet(sys.argv[1])
rows = []
for day, g in df.groupby(df["timestamp"].dt.strftime("%Y-%m-%d")):
    y, p = g["target"], g["prediction"]
    rows.append((day, skm.accuracy_score(y, p), skm.precision_score(y, p, zero_division=0),
                 skm.recall_score(y, p, zero_division=0), skm.f1_score(y, p, zero_division=0),
                 skm.roc_auc_score(y, g["score"])))
print(len(rows))
