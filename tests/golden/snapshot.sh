#!/bin/sh
# tests/golden/snapshot.sh OUTDIR [big] - run a fixed set of commands (demo,
# fit/score/cluster/run -m every model on CDNOW; with "big" also on a 1M
# synthetic summary) and write every output in a comparable text form:
# h5dump of each file with timestamps, paths, temp names and the command line
# removed, and the JSON/CSV/Markdown/HTML outputs with the same removed.
# Two snapshot directories are then compared with `diff -r`.  Used to show
# that a change of structure changes no output (issue 11).
set -eu
OUT=$1
BIG=${2:-}
CLV=${CLVTIER:-build/clvtier}
DATA=${CT_DATA:-../shared/data}
W=$OUT/work
rm -rf "$OUT"; mkdir -p "$W"
log() { printf '%s\n' "$*" | norm >>"$OUT/commands.txt"; }
run() { log "$*"; "$@" >"$OUT/$NAME.stdout" 2>"$OUT/$NAME.stderr"; echo "rc=$?" >>"$OUT/$NAME.stdout"; }
norm() {
    sed -e "s|$CLV |clvtier |g" -e "s|$W|WORK|g" -e 's/"created": *"[^"]*"/"created": X/g' \
        -e 's/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]*Z/TIMESTAMP/g' \
        -e 's/[0-9.]* s\b/N s/g' -e 's/"seconds": *[0-9.e+-]*/"seconds": X/g' \
        -e 's/"elapsed[a-z_]*": *[0-9.e+-]*/"elapsed": X/g' -e 's/tmp-[0-9]*/tmp-PID/g'
}
dump() { # every .h5 under W as text
    for f in "$W"/*.h5; do
        h5dump -A 0 "$f" >/dev/null 2>&1 || true
        h5dump "$f" 2>&1 | grep -v -e 'command_line' | norm >"$OUT/$(basename "$f").dump" || true
    done
    for f in "$W"/*.json "$W"/*.csv "$W"/*.md "$W"/*.html; do
        [ -f "$f" ] && norm <"$f" >"$OUT/$(basename "$f").txt"
    done
    for f in "$OUT"/*.stdout "$OUT"/*.stderr; do norm <"$f" >"$f.n" && mv "$f.n" "$f"; done
}
NAME=ingest run "$CLV" ingest "$DATA/CDNOW_master.txt" --period week --calibration-end 1997-09-30 -o "$W/cdnow.h5"
NAME=ingest_sum run "$CLV" ingest --summary "$DATA/cdnow_customers_summary.csv" -o "$W/cdnow_sum.h5" 2>/dev/null || true
NAME=fit run "$CLV" fit "$W/cdnow.h5" --model bgnbd,pareto,mbgnbd,gammagamma -o "$W/fit.h5" --json
NAME=score run "$CLV" score "$W/cdnow.h5" --fit "$W/fit.h5" --horizon 52 --discount 0.01 -o "$W/scores.h5" --json
NAME=cluster run "$CLV" cluster "$W/cdnow.h5" --features x,t_x,m --transform log1p --k-range 3:5 --scores "$W/scores.h5" -o "$W/clusters.h5" --json
NAME=cluster1 run "$CLV" cluster "$W/cdnow.h5" --features x,t_x,T -k 4 --stream -o "$W/clusters_stream.h5" --json
NAME=validate run "$CLV" validate "$W/cdnow.h5" --fit "$W/fit.h5" --json
for m in models/*.ini; do
    b=$(basename "$m" .ini)
    NAME=run_$b run "$CLV" run -m "$m" "$W/cdnow.h5" -o "$W/run_$b.h5" --csv "$W/run_$b.csv" \
        --report "$W/run_$b.html" --summary "$W/run_$b.json" --markdown "$W/run_$b.md" --json
done
NAME=run_csv run "$CLV" run -m models/default.ini "$DATA/CDNOW_master.txt" -o "$W/run_csv.h5" --json
NAME=tier run "$CLV" tier -m models/abc.ini "$W/run_vip4.h5" -o "$W/tier_abc.h5" --previous "$W/run_vip4.h5" --summary "$W/tier_abc.json" --json
NAME=report run "$CLV" report "$W/run_vip4.h5" --html "$W/report.html" --summary "$W/report.json" --markdown "$W/report.md" --csv "$W/report.csv"
NAME=inspect run "$CLV" inspect "$W/run_vip4.h5"
NAME=inspect_json run "$CLV" inspect "$W/fit.h5" --json
NAME=synth run "$CLV" synth -n 20000 --seed 7 -o "$W/synth.csv"
NAME=synth_h5 run "$CLV" synth -n 20000 --seed 7 --model pareto --params r=0.55,alpha=10.6,s=0.61,beta=11.7 -o "$W/synth.h5"
if [ "$BIG" = big ]; then
    NAME=big_synth run "$CLV" synth -n 1000000 --seed 3 -o "$W/big.h5"
    NAME=big_fit run "$CLV" fit "$W/big.h5" --model bgnbd -o "$W/big_fit.h5" --json
    NAME=big_score run "$CLV" score "$W/big.h5" --fit "$W/big_fit.h5" --horizon 52 --discount 0.01 -o "$W/big_scores.h5" --json
    NAME=big_cluster run "$CLV" cluster "$W/big.h5" --features x,t_x,T -k 5 -o "$W/big_clusters.h5" --json
    NAME=big_run run "$CLV" run -m models/vip4.ini "$W/big.h5" -o "$W/big_run.h5" --json
fi
dump
for f in "$W"/*.h5; do md5sum "$f" >/dev/null; done
echo "snapshot: $(ls "$OUT" | wc -l) files in $OUT"
