"""Make tests/data/kmeans_*.txt: scikit-learn Lloyd results from given initial
centroids, for test_kmeans.c (so the C tests need no Python).

Run with Debian's python3-sklearn (1.2.1 made the shipped files):
    /usr/bin/python3 tests/kmeans_reference.py

File format (whitespace separated, %.17g):
    n d k tol max_iter weighted
    X (n rows of d)        [w (n values) if weighted]
    C0 (k rows of d)       labels (n ints)
    centers (k rows of d)  inertia n_iter
"""
import numpy as np
from sklearn.cluster import KMeans


def case(name, X, k, tol, max_iter, w=None, seed=0):
    rng = np.random.default_rng(seed)
    C0 = X[rng.choice(len(X), size=k, replace=False)].copy()
    km = KMeans(n_clusters=k, init=C0, n_init=1, algorithm="lloyd", tol=tol,
                max_iter=max_iter).fit(X, sample_weight=w)
    with open(f"tests/data/kmeans_{name}.txt", "w") as f:
        f.write(f"{len(X)} {X.shape[1]} {k} {tol!r} {max_iter} {int(w is not None)}\n")
        for row in X:
            f.write(" ".join("%.17g" % v for v in row) + "\n")
        if w is not None:
            f.write(" ".join("%.17g" % v for v in w) + "\n")
        for row in C0:
            f.write(" ".join("%.17g" % v for v in row) + "\n")
        f.write(" ".join(str(int(v)) for v in km.labels_) + "\n")
        for row in km.cluster_centers_:
            f.write(" ".join("%.17g" % v for v in row) + "\n")
        f.write("%.17g %d\n" % (km.inertia_, km.n_iter_))
    print(name, "iterations", km.n_iter_, "inertia", km.inertia_)


rng = np.random.default_rng(2024)
centres = rng.normal(0, 5, size=(5, 4))
X = np.vstack([c + rng.normal(0, 1.0, size=(100, 4)) for c in centres])
case("blobs", X, 5, 1e-4, 300)
X = rng.gamma(2.0, 1.0, size=(400, 3))
case("weighted", X, 4, 0.0, 300, w=rng.uniform(0.1, 3.0, size=400), seed=1)
X = rng.normal(size=(1200, 8)) * rng.uniform(0.5, 2, size=8)
case("noise8", X, 8, 1e-4, 300, seed=2)
X = np.log1p(rng.gamma(0.7, 30.0, size=(800, 2)))
case("skewed", X, 6, 0.0, 300, seed=3)
