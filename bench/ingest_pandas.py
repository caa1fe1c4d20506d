"""Peer for bench/ingest.sh: the same per-customer summary with pandas.

read_csv, then per (customer, day) sums, then per customer: repeat days x,
recency t_x and age T in weeks, mean repeat-day spend m -- what
`clvtier ingest --period week` computes (lifetimes' definitions)."""
import sys

import numpy as np
import pandas as pd

if len(sys.argv) > 2 and sys.argv[2] == "lines":
    # line items (order,id,date,quantity,price): one transaction per order, as
    # `clvtier ingest --order order --quantity quantity --price price`
    li = pd.read_csv(sys.argv[1], dtype={"id": str, "order": str}, parse_dates=["date"])
    li["amount"] = li["quantity"] * li["price"]
    df = li.groupby("order", sort=False).agg(id=("id", "first"), date=("date", "min"),
                                             amount=("amount", "sum")).reset_index()
    df = df[df["amount"] > 0]
else:
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
