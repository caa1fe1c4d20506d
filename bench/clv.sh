#!/bin/sh
# bench/clv.sh - BG/NBD and Pareto/NBD fits and scoring on 1M and 10M
# simulated customers (synth CSV -> ingest, so day resolution as real data).
# Times are whole commands (reading HDF5 included), best of $REPEATS runs;
# beside them the read floor (the fitted columns at the measured memory
# bandwidth) and, when /usr/bin/python3 can import lifetimes, lifetimes'
# BG/NBD fit of the same 1M customers in the same run.
set -eu
CLV=${CLVTIER:?}
TIMEIT=${TIMEIT:?}
DIR=${BENCH_DIR:-build/bench-data}
REPEATS=${REPEATS:-3}
SIZES=${CLV_SIZES:-1M 10M}
mkdir -p "$DIR"
here=$(dirname "$0")
bw=$("$BUILD/bench/membw" | sed -n 's/.*read_GBps=\([0-9.]*\).*/\1/p')
echo "== clv: fits and scoring (memory read bandwidth ${bw} GB/s; best of $REPEATS runs) =="
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
jget() { sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -1; }
for n in $SIZES; do
    h5=$DIR/c$n.h5
    if [ ! -s "$h5" ]; then
        "$CLV" synth -n "$n" --periods 78 --cohort 12 --seed 7 -o "$DIR/c$n.csv" -q
        "$CLV" ingest "$DIR/c$n.csv" --period week -o "$h5" -q
        rm -f "$DIR/c$n.csv"
    fi
    for m in bgnbd pareto; do
        out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" fit "$h5" --model "$m" -o "$DIR/fit-$m-$n.h5")
        "$CLV" fit "$h5" --model "$m" -o "$DIR/fit-$m-$n.h5" --json -q >"$DIR/fit-$m-$n.json"
        t=$(field "$out" best_s)
        ev=$(jget "$DIR/fit-$m-$n.json" evaluations)
        rows=$(jget "$DIR/fit-$m-$n.json" distinct_rows)
        cust=$(jget "$DIR/fit-$m-$n.json" n)
        awk -v m="$m" -v n="$n" -v t="$t" -v ev="$ev" -v rows="$rows" -v c="$cust" -v bw="$bw" \
            -v kb="$(field "$out" maxrss_kb)" 'BEGIN {
            floor = c * 24 / (bw * 1e9)   # x, t_x, T as f64, read once
            printf "fit %-7s %4s customers: %7.2f s  %6d evaluations (%7.1f /s, %6.1f ns per distinct row)  %8d distinct rows  read floor %.3f s  peak RSS %.0f MB\n",
                m, n, t, ev, ev / t, t / ev / rows * 1e9, rows, floor, kb / 1024 }'
    done
    out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" score "$h5" --fit "$DIR/fit-bgnbd-$n.h5" --horizon 52 --discount 0.01 -o "$DIR/scores-$n.h5")
    awk -v n="$n" -v t="$(field "$out" best_s)" -v kb="$(field "$out" maxrss_kb)" 'BEGIN {
        printf "score bgnbd %4s customers (horizon 52, discount 0.01): %.2f s  peak RSS %.0f MB\n", n, t, kb / 1024 }'
done
echo "   targets (2 cores): BG/NBD 10M <= 5 s, Pareto/NBD 10M <= 20 s, scoring 10M <= 3 s"
if [ -x /usr/bin/python3 ] && PYTHONPATH=${PEERS:-../shared/peers/python} /usr/bin/python3 -c 'import lifetimes, h5py' 2>/dev/null; then
    n=$(echo "$SIZES" | awk '{ print $1 }')
    out=$(PYTHONPATH=${PEERS:-../shared/peers/python} "$TIMEIT" -n 1 -q -- /usr/bin/python3 "$here/clv_lifetimes.py" "$DIR/c$n.h5")
    tl=$(field "$out" best_s)
    tc=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" fit "$DIR/c$n.h5" --model bgnbd --starts 1 -o "$DIR/fit-peer.h5")
    awk -v n="$n" -v a="$(field "$tc" best_s)" -v b="$tl" 'BEGIN {
        printf "peer: lifetimes BetaGeoFitter on the same %s customers %.2f s vs clvtier (1 start) %.2f s: clvtier %.0fx faster\n", n, b, a, b / a }'
else
    echo "peer: SKIPPED (/usr/bin/python3 cannot import lifetimes + h5py; scripts/bootstrap --peers)"
fi
