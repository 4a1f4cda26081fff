"""Seeded table pairs and datacompy's answer for each (the oracle of
mlci's keyed table diffs).

Usage: table_diff_oracle.py DIR CASES SEED

Writes DIR/old/case_NN.EXT and DIR/new/case_NN.EXT (CSV, TSV, JSON Lines,
Parquet in turn) and prints one JSON object: case file name -> {key, rows
before and after, columns only before / only after, datacompy's added,
removed, changed and unchanged rows and unequal count per compared column}.

Each pair is one table and an edit of it: rows dropped, rows added (new
keys, and repeats of existing keys), cells changed, values made missing,
rows shuffled, a column added, removed or retyped (integer -> text), keys
that are integers, text, two columns, with repeats and missing values.
Values avoid what pandas reads differently from its own writing (dates,
booleans, NA spellings, infinities); see docs/review.md.
"""

import json
import os
import sys

import datacompy
import numpy as np
import pandas as pd

EXTS = ["csv", "tsv", "jsonl", "parquet"]


def write(df, path, ext):
    if ext == "csv":
        df.to_csv(path, index=False)
    elif ext == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif ext == "jsonl":
        df.to_json(path, orient="records", lines=True, double_precision=15)
    else:
        df.to_parquet(path, index=False)


def read(path, ext):
    if ext == "csv":
        return pd.read_csv(path)
    if ext == "tsv":
        return pd.read_csv(path, sep="\t")
    if ext == "jsonl":
        return pd.read_json(path, lines=True, convert_dates=False)
    return pd.read_parquet(path)


def base_table(rng, n, key_style):
    ids = rng.permutation(n * 3)[:n]
    df = pd.DataFrame()
    if key_style == "int":
        df["id"] = ids
    elif key_style == "int_dupes":
        df["id"] = rng.integers(0, max(2, n // 3), n)
    elif key_style == "text":
        df["id"] = ["k%d" % i for i in ids]
    elif key_style == "text_missing":
        df["id"] = ["k%d" % i if rng.random() > 0.05 else None for i in ids]
    elif key_style == "float_missing":
        df["id"] = [float(i) if rng.random() > 0.05 else np.nan for i in ids]
    else:  # two columns
        df["region"] = rng.choice(["north", "south", "east"], n)
        df["store"] = rng.integers(0, max(2, n // 4), n)
    df["price"] = np.round(rng.normal(50, 20, n), 3)
    df["qty"] = rng.integers(0, 100, n)
    df["label"] = rng.choice(["red", "green", "blue", "amber"], n)
    df["score"] = rng.random(n)
    # Missing before as well as after: two missing values are equal.
    df.loc[rng.random(n) < 0.04, "price"] = np.nan
    df["label"] = df["label"].astype(object)
    df.loc[rng.random(n) < 0.04, "label"] = None
    return df


def key_of(key_style):
    return ["region", "store"] if key_style == "pair" else ["id"]


def edit(rng, df, key_style, case):
    n = len(df)
    new = df.copy()
    # Cells changed, and made missing.
    for col, kind in [("price", "num"), ("qty", "int"), ("label", "text"), ("score", "num")]:
        hit = rng.random(n) < rng.uniform(0.0, 0.2)
        if kind == "num":
            new.loc[hit, col] = new.loc[hit, col] + 1.5
        elif kind == "int":
            new.loc[hit, col] = new.loc[hit, col] + 1
        else:
            new.loc[hit, col] = "violet"
    if case % 3 == 0:
        gone = rng.random(n) < 0.05
        new["price"] = new["price"].astype(float)
        new.loc[gone, "price"] = np.nan
    if case % 4 == 1:
        gone = rng.random(n) < 0.05
        new["label"] = new["label"].astype(object)
        new.loc[gone, "label"] = None
    # Rows dropped, rows added (fresh keys, and repeats of kept ones).
    keep = rng.random(n) > rng.uniform(0.0, 0.15)
    new = new[keep]
    extra = base_table(rng, max(1, n // 10), key_style)
    if key_style in ("int", "float_missing"):
        extra["id"] = extra["id"] + n * 3
    elif key_style.startswith("text"):
        extra["id"] = ["x" + str(k) if k is not None else None for k in extra["id"]]
    if case % 5 == 2 and len(new) > 0:
        extra = pd.concat([extra, new.head(2)])
    new = pd.concat([new, extra[new.columns]])
    # Schema changes.
    if case % 6 == 1:
        new = new.drop(columns=["score"])
    if case % 6 == 2:
        new["note"] = "n" + pd.Series(range(len(new)), index=new.index).astype(str)
    if case % 6 == 3:
        new["qty"] = "q" + new["qty"].astype(str)
    return new.sample(frac=1.0, random_state=int(rng.integers(0, 2**31)))


def main():
    out_dir, cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    styles = ["int", "text", "pair", "int_dupes", "text_missing", "float_missing"]
    for side in ("old", "new"):
        os.makedirs(os.path.join(out_dir, side), exist_ok=True)
    result = {}
    for case in range(cases):
        rng = np.random.default_rng(seed * 1000 + case)
        ext = EXTS[case % len(EXTS)]
        style = styles[case % len(styles)]
        n = int(rng.integers(20, 1500))
        old = base_table(rng, n, style)
        new = edit(rng, old, style, case)
        name = "case_%02d.%s" % (case, ext)
        paths = [os.path.join(out_dir, s, name) for s in ("old", "new")]
        write(old, paths[0], ext)
        write(new, paths[1], ext)
        # datacompy reads what was written, as mlci does.
        a, b = read(paths[0], ext), read(paths[1], ext)
        key = key_of(style)
        cmp = datacompy.PandasCompare(a, b, join_columns=key, cast_column_names_lower=False)
        matching = int(cmp.count_matching_rows())
        result[name] = {
            "key": key,
            "rows_before": len(a),
            "rows_after": len(b),
            "added_columns": sorted(cmp.df2_unq_columns()),
            "removed_columns": sorted(cmp.df1_unq_columns()),
            "added": len(cmp.df2_unq_rows),
            "removed": len(cmp.df1_unq_rows),
            "changed": len(cmp.intersect_rows) - matching,
            "unchanged": matching,
            "columns": {
                s["column"]: int(s["unequal_cnt"])
                for s in cmp.column_stats
                if s["column"] not in key
            },
        }
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
