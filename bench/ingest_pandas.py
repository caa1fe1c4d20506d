"""Peer for bench/ingest.sh: the same per-customer summary with pandas.

read_csv, then per (customer, day) sums, then per customer: repeat days x,
recency t_x and age T in weeks, mean repeat-day spend m -- what
`clvtier ingest --period week` computes (lifetimes' definitions)."""
import sys

import numpy as np
import pandas as pd

df = pd.read_csv(sys.argv[1], dtype={"id": str}, parse_dates=["date"])
end = df["date"].max()
daily = df.groupby(["id", "date"], sort=True)["amount"].sum().reset_index()
g = daily.groupby("id", sort=True)
first = g["date"].min()
last = g["date"].max()
x = g.size() - 1
total = g["amount"].sum()
first_amt = g["amount"].first()
out = pd.DataFrame({
    "x": x,
    "t_x": (last - first).dt.days / 7.0,
    "T": (end - first).dt.days / 7.0,
    "m": np.where(x > 0, (total - first_amt) / x.clip(lower=1), 0.0),
})
print(len(out), float(out["x"].sum()))
