"""The wide-table drift workload (seeded): ROWS rows x COLS columns of
Parquet, four numeric columns to one categorical, reference and current
(the current one shifted), written row group by row group so the
generator itself stays small.

Usage: wide_data.py DIR ROWS COLS
"""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(20261206)
GROUP = 100_000
cats = np.array([f"k{j}" for j in range(12)])


def write(path, shift):
    schema = pa.schema([(f"n{i}", pa.float64()) if i % 5 else (f"c{i}", pa.string()) for i in range(cols)])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, GROUP):
            n = min(GROUP, rows - start)
            arrays = []
            for i in range(cols):
                if i % 5:
                    # Two decimals, as feature tables often are: Parquet
                    # dictionary-encodes them, so 3,000,000 rows fit on disk.
                    arrays.append(pa.array(np.round(rng.normal(shift * (i % 7) / 7, 1, n), 2)))
                else:
                    arrays.append(pa.array(cats[rng.integers(0, 8 + (i % 4), n)]))
            w.write_table(pa.Table.from_arrays(arrays, schema=schema))


for name, shift in [("ref", 0.0), ("cur", 0.3)]:
    path = os.path.join(out, f"{name}-{rows}x{cols}.parquet")
    if not os.path.exists(path):
        write(path, shift)
