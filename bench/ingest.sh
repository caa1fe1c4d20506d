#!/bin/sh
# bench/ingest.sh - ingest + summary throughput on a synthetic transaction log.
# Prints MB/s and rows/s beside (a) `cat FILE > /dev/null` (the read floor)
# and (b) pandas read_csv + groupby (when /usr/bin/python3 has pandas), all
# measured in this run, best of $REPEATS runs each (the machine is shared and
# noisy: compare the ratios, not the absolute seconds).
set -eu
CLV=${CLVTIER:?}
TIMEIT=${TIMEIT:?}
DIR=${BENCH_DIR:-build/bench-data}
ROWS=${INGEST_ROWS:-10M}
REPEATS=${REPEATS:-5}
mkdir -p "$DIR"
CSV=$DIR/tx-$ROWS.csv
# About 5.8 transactions per customer with these parameters.
case $ROWS in
10M) N=1720000 ;;
1M) N=172000 ;;
*) N=$ROWS ;;
esac
if [ ! -s "$CSV" ]; then
    "$CLV" synth --params r=0.8,alpha=4,a=0.8,b=2.4 -n "$N" --periods 78 --cohort 12 \
        --seed 1 -o "$CSV" -q
fi
bytes=$(wc -c <"$CSV")
rows=$(($(wc -l <"$CSV") - 1))
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "== ingest: $CSV ($mb MB, $rows transactions; best of $REPEATS runs) =="

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
report() { # name best_s maxrss_kb
    awk -v n="$1" -v t="$2" -v b="$bytes" -v r="$rows" -v kb="$3" 'BEGIN {
        printf "%-26s %8.3f s %9.1f MB/s %7.2f Mrows/s", n, t, b / 1e6 / t, r / 1e6 / t
        if (kb > 0) printf "   peak RSS %7.1f MB (%5.1f B/row)", kb / 1024, kb * 1024 / r
        printf "\n" }'
}

cat_out=$("$TIMEIT" -n "$REPEATS" -- sh -c "cat '$CSV' > /dev/null")
t_cat=$(field "$cat_out" best_s)
report "cat > /dev/null (floor)" "$t_cat" 0

ing_out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" ingest "$CSV" --period week -o "$DIR/tx.h5")
t_ing=$(field "$ing_out" best_s)
rss=$(field "$ing_out" maxrss_kb)
report "clvtier ingest" "$t_ing" "$rss"

ids=$("$CLV" inspect --json "$DIR/tx.h5" | grep -o '"/customers/id", "kind": "dataset", "dtype": "string\[[0-9]*\]", "shape": \[[0-9]*' |
    sed 's/.*string\[\([0-9]*\)\].*\[\([0-9]*\)/\1 \2/')
idw=${ids% *}
ncust=${ids#* }
bound=$(awk -v r="$rows" -v w="$idw" -v c="$ncust" 'BEGIN { printf "%.1f", (48 * r + w * c) / 1048576 }')
echo "   memory bound (48 B/transaction + id bytes): $bound MB; measured $(awk -v kb="$rss" 'BEGIN { printf "%.1f", kb / 1024 }') MB"
awk -v a="$t_ing" -v c="$t_cat" 'BEGIN { printf "   ingest / cat time ratio: %.1fx\n", a / c }'

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pandas' 2>/dev/null; then
    pd_out=$("$TIMEIT" -n "$REPEATS" -q -- /usr/bin/python3 "$(dirname "$0")/ingest_pandas.py" "$CSV")
    t_pd=$(field "$pd_out" best_s)
    report "pandas read_csv+groupby" "$t_pd" "$(field "$pd_out" maxrss_kb)"
    awk -v a="$t_ing" -v p="$t_pd" 'BEGIN { printf "   clvtier is %.1fx faster than pandas (target >= 2x)\n", p / a }'
else
    echo "   pandas: SKIPPED (/usr/bin/python3 with pandas not available)"
fi
awk -v t="$t_ing" -v b="$bytes" 'BEGIN { printf "   clvtier ingest %.0f MB/s (target >= 150 MB/s)\n", b / 1e6 / t }'

# ---- line items: ~3 lines an order (order,id,date,quantity,price), plain and gzip
LI=$DIR/lines-$ROWS.csv
if [ ! -s "$LI" ]; then
    awk -F, 'NR == 1 { print "order,id,date,quantity,price"; next }
        { k = 1 + (NR * 7) % 5; q = 1 + NR % 4
          for (j = 0; j < k; j++) printf "%d,%s,%s,%d,%.2f\n", NR, $1, $2, q, $3 / k / q + 0.005 }' \
        "$CSV" >"$LI"
    gzip -1 -c "$LI" >"$LI.gz"
fi
lbytes=$(wc -c <"$LI")
lrows=$(($(wc -l <"$LI") - 1))
echo "== ingest line items: $LI ($(awk -v b="$lbytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB, $lrows lines) =="
LO="--order order --quantity quantity --price price --period week"
t_lcat=$(field "$("$TIMEIT" -n "$REPEATS" -- sh -c "cat '$LI' > /dev/null")" best_s)
# shellcheck disable=SC2086
li_out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" ingest "$LI" $LO -o "$DIR/li.h5")
t_li=$(field "$li_out" best_s)
bytes=$lbytes rows=$lrows
report "cat > /dev/null (floor)" "$t_lcat" 0
report "clvtier ingest --order" "$t_li" "$(field "$li_out" maxrss_kb)"
awk -v t="$t_li" -v b="$lbytes" 'BEGIN { printf "   clvtier ingest --order %.0f MB/s (target >= 150 MB/s)\n", b / 1e6 / t }'
t_zcat=$(field "$("$TIMEIT" -n "$REPEATS" -- sh -c "zcat '$LI.gz' > /dev/null")" best_s)
# shellcheck disable=SC2086
gz_out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" ingest "$LI.gz" $LO -o "$DIR/li.h5")
t_gz=$(field "$gz_out" best_s)
report "zcat > /dev/null" "$t_zcat" 0
report "clvtier ingest .gz --order" "$t_gz" "$(field "$gz_out" maxrss_kb)"
awk -v a="$t_gz" -v z="$t_zcat" 'BEGIN { printf "   gzip input: %.2fx zcat (target <= 1.5x)\n", a / z }'
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pandas' 2>/dev/null; then
    lp_out=$("$TIMEIT" -n "$REPEATS" -q -- /usr/bin/python3 "$(dirname "$0")/ingest_pandas.py" "$LI" lines)
    t_lp=$(field "$lp_out" best_s)
    report "pandas read_csv+groupby" "$t_lp" "$(field "$lp_out" maxrss_kb)"
    awk -v a="$t_li" -v p="$t_lp" 'BEGIN { printf "   clvtier is %.1fx faster than pandas on line items (target >= 3x)\n", p / a }'
fi
bytes=$(wc -c <"$CSV")
rows=$(($(wc -l <"$CSV") - 1))

syn_out=$("$TIMEIT" -n "$REPEATS" -q -- "$CLV" synth --params r=0.8,alpha=4,a=0.8,b=2.4 -n "$N" \
    --periods 78 --cohort 12 -o "$DIR/synth-tmp.csv")
report "clvtier synth (CSV out)" "$(field "$syn_out" best_s)" "$(field "$syn_out" maxrss_kb)"
rm -f "$DIR/synth-tmp.csv"
