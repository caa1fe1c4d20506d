#!/bin/sh
# bench/pipeline.sh - `clvtier run -m models/vip4.ini` on N synthetic customers
# with about 10 transactions each: from the transaction CSV and from the
# ingested HDF5 file, through to report.html and summary.json; per-stage seconds (from run's own report) and the peak
# RSS of the whole run.  Targets (2 cores): 10M customers CSV -> tiers < 120 s,
# HDF5 -> tiers < 45 s, peak RSS < 4 GiB.
set -eu
DIR=${BENCH_DIR:-build/bench-data}
SIZES=${PIPELINE_SIZES:-1M 10M}
mkdir -p "$DIR"
echo "== pipeline: clvtier run -m models/vip4.ini (1 run each; stage seconds from run) =="
for n in $SIZES; do
    csv=$DIR/pipe-$n.csv
    if [ ! -s "$csv" ]; then
        "$CLVTIER" synth --params r=2,alpha=12,a=0.3,b=6 -n "$n" --periods 78 --cohort 26 --seed 3 -o "$csv" -q
    fi
    rows=$(($(wc -l <"$csv") - 1))
    for src in csv h5; do
        in=$csv
        if [ "$src" = h5 ]; then
            in=$DIR/pipe-$n.h5
            [ -s "$in" ] || "$CLVTIER" ingest "$csv" --period week -o "$in" -q
        fi
        out=$("$TIMEIT" -n 1 -- sh -c "exec '$CLVTIER' run -m models/vip4.ini '$in' -o '$DIR/pipe-$n-result.h5' --report '$DIR/pipe-$n.html' --summary '$DIR/pipe-$n.json' 2>'$DIR/pipe-stages.txt' >/dev/null")
        stages=$(sed -n 's/^clvtier run: *\([a-z]*\) *\([0-9.]*\) s$/\1 \2/p' "$DIR/pipe-stages.txt" | tr '\n' ' ')
        echo "$out" | awk -v n="$n" -v src="$src" -v rows="$rows" -v st="$stages" '{
            split($0, f, " "); t = f[1]; sub("best_s=", "", t); r = f[3]; sub("maxrss_kb=", "", r)
            printf "%4s customers (%d transactions) from %-3s: %7.1f s  peak RSS %6.2f GiB  stages: %s\n", n, rows, src, t, r / 1048576, st }'
    done
done
