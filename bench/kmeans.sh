#!/bin/sh
# bench/kmeans.sh - seconds per Lloyd iteration for N x d data with k
# clusters, f64 and f32, beside the floor measured in the same run (see
# bench/kmeans.c) and scikit-learn's faster of lloyd/elkan on the same data
# (when /usr/bin/python3 has sklearn; up to $KMEANS_PEER_MAX rows, since the
# peer at 10M rows takes minutes).  Then a full fit (k-means|| init +
# iterations to convergence) of 10M x 8, k = 8, with the CLI's engine.
set -eu
THREADS=${KMEANS_THREADS:-2}
SIZES=${KMEANS_SIZES:-1000000 10000000}
PEER_MAX=${KMEANS_PEER_MAX:-1000000}
echo "== kmeans: seconds per Lloyd iteration, $THREADS threads ((t11 - t1) / 10, best of 6 to 2M rows, of 3 above; floor = max(bytes / read bandwidth measured between those runs, flops / GEMM rate)) =="
peer=0
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
    peer=1
else
    echo "   scikit-learn: SKIPPED (/usr/bin/python3 without python3-sklearn)"
fi
if ! /usr/bin/python3 -c 'import faiss' 2>/dev/null; then
    echo "   faiss: SKIPPED (/usr/bin/python3 without python3-faiss; scripts/bootstrap --peers)"
fi
for n in $SIZES; do
    for d in 8 32; do
        for k in 8 64; do
            for p in f64 f32; do
                line=$("$BUILD/bench/kmeans" "$n" "$d" "$k" "$p" "$THREADS")
                lloyd=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) s\/iter  floor.*/\1/p')
                ham=$(echo "$line" | sed -n 's/.*hamerly \([0-9.]*\) s\/iter.*/\1/p')
                yy=$(echo "$line" | sed -n 's/.*yinyang \([0-9.]*\) s\/iter.*/\1/p')
                ours=$(echo "$lloyd $ham ${yy:-$ham}" | awk '{ m = $1; if ($2 < m) m = $2; if ($3 < m) m = $3; print m }')
                if [ "$peer" = 1 ] && [ "$n" -le "$PEER_MAX" ]; then
                    pl=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS /usr/bin/python3 "$(dirname "$0")/kmeans_peer.py" "$n" "$d" "$k" "$p" "$THREADS")
                    ps=$(echo "$pl" | sed -n 's/sklearn_s_per_iter=\([0-9.]*\).*/\1/p')
                    pa=$(echo "$pl" | sed -n 's/.*algo=\([a-z]*\).*/\1/p')
                    fs=$(echo "$pl" | sed -n 's/.*faiss_s_per_iter=\([0-9.]*\).*/\1/p')
                    echo "$line" | awk -v ps="$ps" -v pa="$pa" -v o="$ours" -v fs="$fs" '{
                        printf "%s  | sklearn (%s) %.4f s/iter: clvtier (fastest of its algorithms) %.1fx faster", $0, pa, ps, ps / o
                        if (fs != "") printf "  | faiss %.4f s/iter: %.1fx", fs, fs / o
                        printf "\n" }'
                else
                    echo "$line"
                fi
            done
        done
    done
done
# seeding alone on the same matrix, d = 32, k = 64, beside scikit-learn's
# kmeans_plusplus (greedy, one run: it takes about 30 s at 10M rows)
for n in $SIZES; do
    line=$("$BUILD/bench/kmeans" seed "$n" 32 64 "$THREADS")
    if [ "$peer" = 1 ] && [ "$n" -le "${KMEANS_SEED_PEER_MAX:-$PEER_MAX}" ]; then
        ps=$(OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS /usr/bin/python3 "$(dirname "$0")/kmeans_peer.py" seed "$n" 32 64 "$THREADS" | sed -n 's/sklearn_seed_s=//p')
        echo "$line  | sklearn kmeans_plusplus $ps s (target: <= 2 s at 10M)"
    else
        echo "$line  (target: <= 2 s at 10M)"
    fi
done
DIR=${BENCH_DIR:-build/bench-data}
mkdir -p "$DIR"
data=$DIR/c10M.h5 # also bench/mpi.sh's: synthetic BG/NBD customers (x, t_x, T, m, total, n)
if [ ! -s "$data" ]; then
    "$CLVTIER" synth --params r=0.243,alpha=4.414,a=0.793,b=2.426 --spend p=6.25,q=3.74,v=15.44 \
        -n 10000000 --seed 1 -o "$data" -q
fi
feat="--features x,t_x,T,m,total,n --scale zscore -k 8 --n-init 1 --seed 1"
for mode in memory stream; do
    extra=""
    [ "$mode" = stream ] && extra=--stream
    # shellcheck disable=SC2086
    out=$("$TIMEIT" -n 1 -q -- "$CLVTIER" cluster "$data" $feat $extra -o "$DIR/clusters-10M-$mode.h5")
    echo "$out" | awk -v mode="$mode" '{
        t = $1; sub("best_s=", "", t); r = $3; sub("maxrss_kb=", "", r)
        printf "   full fit, 10M customers x 6 features, k = 8, %s (read + scale + k-means|| + iterations to convergence + write): %.2f s, peak RSS %.0f MB%s\n",
            mode == "memory" ? "in memory" : "--stream (rows read from the file every iteration)", t, r / 1024,
            mode == "memory" ? " (target < 15 s)" : "" }'
done
