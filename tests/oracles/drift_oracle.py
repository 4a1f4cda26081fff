"""The drift oracle: SciPy's statistics and Evidently's verdicts for two
tables, to compare with `mlci drift --json`.

Usage: drift_oracle.py REFERENCE CURRENT MLCI_JSON NUMERIC_COLS CATEGORICAL_COLS
(column lists comma-separated). Prints JSON:
{"columns": {name: {"scipy_statistic", "scipy_p_value", "evidently_test",
"evidently_score", "evidently_drifted"}}, "dataset": {"evidently_share",
"evidently_drifted"}}. For each column, SciPy computes the method mlci
chose, from the raw values (missing values dropped), independently of
mlci's code; PSI is computed directly with numpy (reference quantile bins,
epsilon 1e-4).
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

warnings.filterwarnings("ignore")


def load(path):
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".jsonl"):
        return pd.read_json(path, lines=True)
    return pd.read_csv(path, sep="\t" if path.endswith(".tsv") else ",")


ref_path, cur_path, mlci_path, num, cat = sys.argv[1:6]
num = [c for c in num.split(",") if c]
cat = [c for c in cat.split(",") if c]
ref, cur = load(ref_path), load(cur_path)
ours = json.load(open(mlci_path))
out = {"columns": {}, "dataset": {}}


def shares(r, c):
    keys = list(set(r.unique()) | set(c.unique()))
    rv, cv = r.value_counts(), c.value_counts()
    return (np.array([rv.get(k, 0) / len(r) for k in keys]), np.array([cv.get(k, 0) / len(c) for k in keys]))


for col in ours["columns"]:
    name, method = col["column"], col["method"]
    r = ref[name].replace([np.inf, -np.inf], np.nan).dropna()
    c = cur[name].replace([np.inf, -np.inf], np.nan).dropna()
    stat, p = None, None
    if method == "ks":
        res = stats.ks_2samp(r, c)
        stat, p = float(res.statistic), float(res.pvalue)
    elif method == "wasserstein":
        stat = float(stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001))
    elif method == "chisquare":
        keys = list(set(r.unique()) | set(c.unique()))
        rv, cv = r.value_counts(), c.value_counts()
        k = len(c) / len(r)
        res = stats.chisquare([cv.get(x, 0) for x in keys], [rv.get(x, 0) * k for x in keys])
        stat, p = float(res.statistic), float(res.pvalue)
    elif method == "z":
        keys = sorted(set(r.unique()) | set(c.unique()))
        if r.nunique() == 1 and c.nunique() == 1 and r.unique()[0] == c.unique()[0]:
            stat, p = 0.0, 1.0
        else:
            a, b = (r != keys[0]).astype(int), (c != keys[0]).astype(int)
            p1, p2 = a.mean(), b.mean()
            pool = (a.sum() + b.sum()) / (len(a) + len(b))
            stat = float((p1 - p2) / np.sqrt(pool * (1 - pool) * (1 / len(a) + 1 / len(b))))
            p = float(2 * (1 - stats.norm.cdf(abs(stat))))
    elif method == "jensenshannon":
        if name in num and r.nunique() > 20:
            edges = np.histogram_bin_edges(np.concatenate([r.values, c.values]), bins="sturges")
            pr = np.histogram(r, edges)[0] / len(r)
            pc = np.histogram(c, edges)[0] / len(c)
        else:
            pr, pc = shares(r, c)
        stat = float(distance.jensenshannon(pr, pc))
    elif method == "psi":
        if name in num:
            inner = np.unique(np.quantile(r, [i / 10 for i in range(1, 10)]))
            edges = np.concatenate([[-np.inf], inner, [np.inf]])
            # Bins [e_i, e_{i+1}): counts below each inner edge.
            cum = lambda s: np.searchsorted(np.sort(s), inner, side="left")
            def binshares(s):
                k = np.concatenate([[0], cum(s), [len(s)]])
                return np.diff(k) / len(s)
            pr, pc = binshares(r.values), binshares(c.values)
        else:
            pr, pc = shares(r, c)
        pr = np.where(pr == 0, 1e-4, pr)
        pc = np.where(pc == 0, 1e-4, pc)
        stat = float(np.sum((pr - pc) * np.log(pr / pc)))
    finite = lambda x: x if x is None or np.isfinite(x) else None
    out["columns"][name] = {"scipy_statistic": finite(stat), "scipy_p_value": finite(p)}

from evidently.legacy.metric_preset import DataDriftPreset  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402

report = Report(metrics=[DataDriftPreset()])
report.run(reference_data=ref, current_data=cur,
           column_mapping=ColumnMapping(numerical_features=num, categorical_features=cat, target=None, prediction=None))
for m in report.as_dict()["metrics"]:
    res = m["result"]
    if "drift_by_columns" in res:
        for name, v in res["drift_by_columns"].items():
            out["columns"].setdefault(name, {}).update(
                {"evidently_test": v["stattest_name"], "evidently_score": v["drift_score"], "evidently_drifted": v["drift_detected"]})
    elif "share_of_drifted_columns" in res:
        out["dataset"] = {"evidently_share": res["share_of_drifted_columns"], "evidently_drifted": res["dataset_drift"]}
print(json.dumps(out))
