"""Peer for bench/kmeans.sh: scikit-learn's KMeans on the same matrix as
bench/kmeans.c (values are a hash of row and column), same initial centroids
(the first K rows); seconds per iteration = (t(11 iterations) - t(1)) divided
by the iterations the two fits actually ran (n_iter_: a fit with tol 0 stops
early when no label changes), best of 3 each, for algorithm='lloyd' and
'elkan'; prints the faster.  (Until 2026-12-02 it divided t(6) - t(1) by 5:
each fit's fixed cost, about 0.2 s at 1M rows, varied by more than five
iterations' work, so single figures ranged 0.005-0.044 s/iter for one shape.)"""
import sys
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans

warnings.simplefilter("ignore")
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def u01(key):
    return (mix64(key) >> np.uint64(11)).astype(np.float64) * 2.0**-53


seed_mode = sys.argv[1] == "seed"  # kmeans_peer.py seed N D K THREADS: kmeans_plusplus
if seed_mode:
    sys.argv = sys.argv[:1] + sys.argv[2:5] + ["f64"] + sys.argv[5:]
n, d, k, prec, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
kt = 16
with np.errstate(over="ignore"):
    i = np.arange(n, dtype=np.uint64)[:, None]
    j = np.arange(d, dtype=np.uint64)[None, :]
    c = i % np.uint64(kt)
    X = 10.0 * u01(np.uint64(1000003) * c + j) + (u01((i << np.uint64(10)) + j + np.uint64(77)) - 0.5) * 4.0
X = X.astype(np.float32 if prec == "f32" else np.float64)
if seed_mode:  # greedy k-means++ (2 + ln k trials), once: it takes long at 10M rows
    from sklearn.cluster import kmeans_plusplus
    t0 = time.perf_counter()
    kmeans_plusplus(X, k, random_state=1)
    print("sklearn_seed_s=%.3f" % (time.perf_counter() - t0))
    sys.exit(0)
C0 = X[:k].copy()
best = {}
for algo in ("lloyd", "elkan"):
    times, iters = {}, {}
    for it in (1, 11):
        t = 1e9
        for _ in range(3):
            km = KMeans(n_clusters=k, init=C0, n_init=1, max_iter=it, tol=0, algorithm=algo)
            t0 = time.perf_counter()
            km.fit(X)
            t = min(t, time.perf_counter() - t0)
        times[it], iters[it] = t, km.n_iter_
    ran = max(iters[11] - iters[1], 1)
    best[algo] = (times[11] - times[1]) / ran
algo = min(best, key=best.get)
line = "sklearn_s_per_iter=%.5f algo=%s lloyd=%.5f elkan=%.5f" % (best[algo], algo, best["lloyd"], best["elkan"])
try:  # faiss clusters float32 only: timed for f32 data
    import faiss
    if prec == "f32":
        faiss.omp_set_num_threads(int(threads))
        times = {}
        for it in (1, 6):
            t = 1e9
            for _ in range(3):
                # all rows, as the others (faiss subsamples 256 per centroid by default)
                km = faiss.Kmeans(d, k, niter=it, verbose=False, seed=1, max_points_per_centroid=n)
                t0 = time.perf_counter()
                km.train(X, init_centroids=C0)
                t = min(t, time.perf_counter() - t0)
            times[it] = t
        line += " faiss_s_per_iter=%.5f" % ((times[6] - times[1]) / 5)
except ImportError:
    pass
print(line)
