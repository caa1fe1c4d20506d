#!/bin/sh
# tests/mpi/run.sh - clvtier-mpi against the serial clvtier (make check-mpi).
# mpirun -n 1, 2 and 4 (oversubscribed on small machines): k-means over the
# ranks gives the labels, centroids and inertia of `clvtier cluster --stream`
# bit for bit (CDNOW and a 1M-customer synthetic file; given and sampled
# starts; an empty cluster re-seeded); errors give one message and no output;
# fit over the ranks agrees with the serial fit within the minimiser's
# tolerance; score over the ranks and the commands that run on rank 0 (run)
# give the serial results, tiers included.  cluster, score, run and tier
# write their output collectively (parallel HDF5), compressed or not.
set -u
CLV=${CLVTIER:?serial clvtier}
MPICLV=${CLVTIER_MPI:?clvtier-mpi}
DATA=${CT_DATA:-../shared/data}
MODELS=$(cd "$(dirname "$0")/../../models" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/clvtier-mpi.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_fbtl_posix_read_datasieving=0
ROOT=""
[ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root
run_mpi() { n=$1; shift; mpirun -q -n "$n" --oversubscribe $ROOT "$@"; }
# the JSON without the timing, and the datasets of /clusters
digest() {
    sed 's/"seconds": [0-9.]*//' "$1.json"
    for ds in label centroids centroids_original feature_means; do
        h5dump -d /clusters/$ds "$1.h5" | tail -n +2
    done
}

# tiers.csv of a run over the ranks against the serial one: the same id,
# tier and loyalty on every row; CLV and P(alive) (from fits whose sums go
# in another order) within 1e-6 relative
same_tiers() {
    cut -d, -f1-3 "$1" | cmp -s - "$(cut -d, -f1-3 "$2" >"$2.t3" && echo "$2.t3")" || return 1
    paste -d, "$1" "$2" | awk -F, 'NR > 1 { for (j = 4; j <= 5; j++) {
        a = $j; b = $(j + 5); d = a - b; if (d < 0) d = -d; s = a < 0 ? -a : a
        if (d > 1e-6 * s + 2e-6) { print "row " NR ": " a " vs " b; exit 1 } } }'
}

"$CLV" ingest "$DATA/CDNOW_master.txt" --period week -o "$T/cdnow.h5" -q || bad "ingest"
"$CLV" synth --params r=0.5,alpha=10,a=0.8,b=2.5 --spend p=6,q=4,v=15 -n 1000000 --seed 7 \
    -o "$T/syn.h5" -q || bad "synth"
printf 'x,t_x,m\n1,10,20\n5,30,40\n0,0,0\n10,50,100\n' >"$T/init.csv"
printf 'x,t_x,m\n1,10,20\n1,10,20\n0,0,0\n10,50,100\n10,50,100\n' >"$T/dup.csv"

# name DATA OPTIONS...: serial --stream, then 1, 2, 4 ranks; all must agree
case_() {
    name=$1 file=$2
    shift 2
    "$CLV" cluster "$file" "$@" --stream -o "$T/$name-s.h5" --json -q >"$T/$name-s.json" \
        || { bad "$name: serial run failed"; return; }
    digest "$T/$name-s" >"$T/$name-s.digest"
    for n in 1 2 4; do
        run_mpi "$n" "$MPICLV" cluster "$file" "$@" --stream -o "$T/$name-$n.h5" --json -q >"$T/$name-$n.json" \
            || { bad "$name: $n ranks failed"; continue; }
        digest "$T/$name-$n" | cmp -s - "$T/$name-s.digest" && ok \
            || bad "$name: $n ranks differ from the serial run: $(head -c 300 "$T/$name-$n.json")"
    done
}
case_ cdnow-given "$T/cdnow.h5" --features x,t_x,m --transform log1p --scale zscore --init "$T/init.csv" --block-rows 5000
case_ cdnow-relocate "$T/cdnow.h5" --features x,t_x,m --init "$T/dup.csv" --scale none
case_ syn-given "$T/syn.h5" --features x,t_x,m --transform log1p --scale zscore --init "$T/init.csv" --block-rows 65536
case_ syn-sampled "$T/syn.h5" --features x,t_x,T,m --transform log1p --scale zscore -k 6 --seed 3 --block-rows 65536
grep -q '"iterations": \([3-9]\|[1-9][0-9]\)' "$T/syn-given-s.json" && ok || bad "syn-given: too few iterations to mean anything: $(head -c 200 "$T/syn-given-s.json")"

# errors: one message (rank 0's), the exit code, no output
for n in 1 2 4; do
    run_mpi "$n" "$MPICLV" cluster "$T/cdnow.h5" --features x,nope -k 3 -o "$T/bad.h5" 2>"$T/err"
    rc=$?
    [ "$rc" = 64 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -e "$T/bad.h5" ] && ok \
        || bad "bad feature on $n ranks: exit $rc, stderr: $(cat "$T/err")"
done

# fit over ranks: the likelihood and gradient summed over the ranks' rows
# (rank order, the same bits on every rank): sums in another order than the
# serial fit's, so equal within the minimiser's stopping tolerance - 1e-7
# relative on the parameters (gtol 1e-7 on the scaled gradient), 1e-10 on the
# log-likelihood (measured: 1e-10 and 1e-15 on CDNOW)
"$CLV" fit "$T/cdnow.h5" --model bgnbd,pareto,gammagamma -o "$T/fit-s.h5" --json -q >"$T/fit-s.json"
for n in 2 4; do
    run_mpi "$n" "$MPICLV" fit "$T/cdnow.h5" --model bgnbd,pareto,gammagamma -o "$T/fit-$n.h5" --json -q \
        >"$T/fit-$n.json" || bad "fit on $n ranks failed"
    if [ -x /usr/bin/python3 ]; then
        /usr/bin/python3 - "$T/fit-s.json" "$T/fit-$n.json" <<'PYEOF' && ok || bad "fit on $n ranks differs from serial"
import json, sys
a, b = (json.load(open(p))["fits"] for p in sys.argv[1:3])
for fa, fb in zip(a, b):
    assert fa["model"] == fb["model"] and fb["converged"]
    for k, v in fa["params"].items():
        assert abs(fb["params"][k] - v) <= 1e-7 * abs(v), (fa["model"], k, v, fb["params"][k])
    assert abs(fb["ll"] - fa["ll"]) <= 1e-10 * abs(fa["ll"]), (fa["ll"], fb["ll"])
    assert fb["n"] == fa["n"] and fb["distinct_rows"] >= fa["distinct_rows"]
PYEOF
    else
        echo "SKIP: /usr/bin/python3 missing: fit on $n ranks not compared"
    fi
done
# --model auto over ranks: the same candidates, holdout errors (block sums in
# row order; the fits agree to 1e-7, so 1e-6 here) and choice as serial
"$CLV" fit "$T/cdnow.h5" --model auto -o "$T/auto-s.h5" --json -q >"$T/auto-s.json"
for n in 2 4; do
    run_mpi "$n" "$MPICLV" fit "$T/cdnow.h5" --model auto -o "$T/auto-$n.h5" --json -q \
        >"$T/auto-$n.json" || bad "fit auto on $n ranks failed"
    if [ -x /usr/bin/python3 ]; then
        /usr/bin/python3 - "$T/auto-s.json" "$T/auto-$n.json" <<'PYEOF' && ok || bad "fit auto on $n ranks differs from serial"
import json, sys
a, b = (json.load(open(p))["choice"] for p in sys.argv[1:3])
assert a["chosen"] == b["chosen"] and a["rule"] == b["rule"], (a, b)
for ca, cb in zip(a["candidates"], b["candidates"]):
    assert ca["model"] == cb["model"]
    for k in ("holdout_mse", "bic"):
        if ca[k] is not None:
            assert abs(ca[k] - cb[k]) <= 1e-6 * abs(ca[k]), (k, ca, cb)
PYEOF
    fi
done
# static covariates over ranks: each rank its customers' rows and
# covariates, the likelihood summed in rank order: the serial fit within the
# stopping tolerance; scores under each customer's covariates: the serial
# columns bit for bit
"$CLV" synth --model pareto -n 20000 --periods 104 --cohort 52 \
    --covariates web:b:0.5:-0.3,visits0:n:0.3:0.2 -o "$T/cov.h5" -q || bad "synth covariates"
COV="--covariates-purchase web,visits0 --covariates-dropout web"
# shellcheck disable=SC2086
"$CLV" fit "$T/cov.h5" --model pareto $COV -o "$T/covfit-s.h5" --json -q >"$T/covfit-s.json" || bad "serial covariate fit"
"$CLV" score "$T/cov.h5" --fit "$T/covfit-s.h5" -o "$T/covsc-s.h5" -q || bad "serial covariate score"
for n in 2 4; do
    # shellcheck disable=SC2086
    run_mpi "$n" "$MPICLV" fit "$T/cov.h5" --model pareto $COV -o "$T/covfit-$n.h5" --json -q \
        >"$T/covfit-$n.json" || bad "covariate fit on $n ranks failed"
    if [ -x /usr/bin/python3 ]; then
        /usr/bin/python3 - "$T/covfit-s.json" "$T/covfit-$n.json" <<'PYEOF' && ok || bad "covariate fit on $n ranks differs from serial"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["converged"] and len(a["params"]) == 7 and a["params"].keys() == b["params"].keys()
for k, v in a["params"].items():
    assert abs(b["params"][k] - v) <= 1e-7 * max(abs(v), 1e-3), (k, v, b["params"][k])
assert abs(b["ll"] - a["ll"]) <= 1e-10 * abs(a["ll"]) and abs(b["lr_statistic"] - a["lr_statistic"]) <= 1e-6 * a["lr_statistic"]
PYEOF
    fi
    run_mpi "$n" "$MPICLV" score "$T/cov.h5" --fit "$T/covfit-s.h5" -o "$T/covsc-$n.h5" -q \
        || bad "covariate score on $n ranks failed"
    [ "$(h5dump -d /scores/clv "$T/covsc-$n.h5" | tail -n +2)" = "$(h5dump -d /scores/clv "$T/covsc-s.h5" | tail -n +2)" ] \
        && ok || bad "covariate score on $n ranks: /scores/clv differs"
done
# a missing covariate in the last rank's part only: every rank stops with the
# one message (no rank left waiting in a collective call), exit 65
"$CLV" synth --model bgnbd -n 4000 --periods 104 --cohort 52 --covariates web:b:0.5:-0.3 \
    -o "$T/covgap.csv" --features-out "$T/covgapf.csv" -q || bad "synth covariate log"
awk -F, 'NR == 3990 { print $1 ","; next } { print }' "$T/covgapf.csv" >"$T/covgapf2.csv"
"$CLV" ingest "$T/covgap.csv" --period week --features "$T/covgapf2.csv" -o "$T/covgap.h5" -q || bad "ingest covariate gap"
timeout 120 mpirun -q -n 4 --oversubscribe $ROOT "$MPICLV" fit "$T/covgap.h5" --model bgnbd \
    --covariates-purchase web -o "$T/x.h5" 2>"$T/err"
rc=$?
[ "$rc" = 65 ] && [ "$(grep -c "covariate 'web' is missing" "$T/err")" = 1 ] && ok \
    || bad "missing covariate on one rank: exit $rc: $(cat "$T/err")"
# [tiers] stability is serial only for now: a clear refusal, not a wrong answer
run_mpi 2 "$MPICLV" run -m models/vip4.ini "$T/cdnow.h5" --stability 5 -o "$T/stab.h5" -q 2>"$T/err"
rc=$?
[ "$rc" = 78 ] && grep -q "serial clvtier only" "$T/err" && ok || bad "stability over ranks: exit $rc: $(cat "$T/err")"
"$CLV" inspect "$T/fit-4.h5" >/dev/null 2>&1 && ok || bad "the serial build cannot read clvtier-mpi's output"
# rank-0 commands: the serial answers
"$CLV" score "$T/cdnow.h5" --fit "$T/fit-s.h5" --horizon 52 --discount 0.01 -o "$T/sc-s.h5" --json -q \
    | sed 's/"seconds": [0-9.]*//' >"$T/sc-s.json"
for n in 2 4; do # each rank scores its share, rank 0 gathers: the serial columns
    run_mpi "$n" "$MPICLV" score "$T/cdnow.h5" --fit "$T/fit-s.h5" --horizon 52 --discount 0.01 -o "$T/sc-$n.h5" \
        --json -q | sed 's/"seconds": [0-9.]*//' | cmp -s - "$T/sc-s.json" && ok || bad "score on $n ranks differs"
    for ds in p_alive clv; do
        [ "$(h5dump -d /scores/$ds "$T/sc-$n.h5" | tail -n +2)" = "$(h5dump -d /scores/$ds "$T/sc-s.h5" | tail -n +2)" ] \
            && ok || bad "score on $n ranks: /scores/$ds differs"
    done
done
"$CLV" inspect "$T/syn-given-4.h5" >/dev/null 2>&1 && ok || bad "the serial build cannot read a 4-rank result"

# parallel HDF5: the ranks write one file together (collective MPI-IO), each
# its own rows; compressed (shuffle + deflate) too, which HDF5 can only do
# collectively.  1M customers: every rank has rows.  Same numbers and JSON.
"$CLV" fit "$T/syn.h5" --model bgnbd,gammagamma -o "$T/sfit.h5" -q
# (the serial score streams its input in blocks of 262,144 customers, the
# ranks score theirs whole: the same bits, DERT and P(alive) ahead too)
"$CLV" score "$T/syn.h5" --fit "$T/sfit.h5" --horizon 52 --discount 0.01 --compress -o "$T/ssc-s.h5" \
    --dert 0.02 --alive-at 13 --json -q | sed 's/"seconds": [0-9.]*//' >"$T/ssc-s.json"
for n in 2 4; do
    run_mpi "$n" "$MPICLV" score "$T/syn.h5" --fit "$T/sfit.h5" --horizon 52 --discount 0.01 --compress \
        --dert 0.02 --alive-at 13 -o "$T/ssc-$n.h5" --json -q | sed 's/"seconds": [0-9.]*//' \
        | cmp -s - "$T/ssc-s.json" && ok || bad "compressed score on $n ranks: JSON differs"
    for ds in p_alive exp_purchases exp_spend clv dert clv_dert p_alive_at_13; do
        [ "$(h5dump -d /scores/$ds "$T/ssc-$n.h5" | tail -n +2 | md5sum)" = \
          "$(h5dump -d /scores/$ds "$T/ssc-s.h5" | tail -n +2 | md5sum)" ] \
            && ok || bad "compressed score on $n ranks: /scores/$ds differs"
    done
    "$CLV" inspect "$T/ssc-$n.h5" | grep -q "/scores/clv .*(deflate)" && ok \
        || bad "score on $n ranks --compress: /scores/clv not compressed"
done
# an output that cannot be created: one message, exit 73, nothing left behind
mkdir "$T/ro" && chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
    run_mpi 2 "$MPICLV" score "$T/syn.h5" --fit "$T/sfit.h5" -o "$T/ro/x.h5" 2>"$T/err"
    rc=$?
    [ "$rc" = 73 ] && [ "$(wc -l <"$T/err")" = 1 ] && [ -z "$(ls "$T/ro")" ] && ok \
        || bad "unwritable output on 2 ranks: exit $rc, stderr: $(cat "$T/err")"
fi
run_mpi 2 "$MPICLV" score "$T/syn.h5" --fit "$T/sfit.h5" -o "$T/nodir/x.h5" 2>"$T/err"
rc=$?
[ "$rc" = 73 ] && [ "$(wc -l <"$T/err")" = 1 ] && ok \
    || bad "output in a missing directory on 2 ranks: exit $rc, stderr: $(cat "$T/err")"

# run (rank 0 under MPI): the same tiers as the serial build
"$CLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" -o "$T/run-s.h5" --csv "$T/run-s.csv" -q >/dev/null
for n in 2 4; do
    run_mpi "$n" "$MPICLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" -o "$T/run-$n.h5" --csv "$T/run-$n.csv" -q >/dev/null \
        && same_tiers "$T/run-$n.csv" "$T/run-s.csv" && ok || bad "run on $n ranks: tiers differ from the serial build"
done

# run over the ranks with one k and few customers (the sample is everyone),
# on 1M customers (k-means seeded on a 200k sample, then Lloyd over every
# rank's rows), and with summary features only, where the k-means must be
# the serial one bit for bit (features from the scores differ in the last
# bits with the fit's sums in another order)
"$CLV" run -m "$MODELS/metal5.ini" "$T/cdnow.h5" -o "$T/m5-s.h5" --csv "$T/m5-s.csv" -q >/dev/null
sed -e 's/^use = .*/use = x, t_x, T, m/' -e 's/^k = 5/k = 4/' -e 's/^names = .*/names = a, b, c, d/' \
    -e 's/^rank_by = .*/rank_by = m/' -e 's/^\(diamond\|platinum\|gold\|silver\|bronze\) = .*//' \
    "$MODELS/metal5.ini" >"$T/rfm4.ini"
"$CLV" run -m "$T/rfm4.ini" "$T/syn.h5" -o "$T/r4-s.h5" --csv "$T/r4-s.csv" -q >/dev/null \
    || bad "serial run of rfm4 failed"
"$CLV" run -m "$MODELS/loyalty3.ini" "$T/syn.h5" -o "$T/l3-s.h5" --csv "$T/l3-s.csv" -q >/dev/null
for n in 2 4; do
    run_mpi "$n" "$MPICLV" run -m "$MODELS/metal5.ini" "$T/cdnow.h5" -o "$T/m5-$n.h5" --csv "$T/m5-$n.csv" -q \
        >/dev/null && same_tiers "$T/m5-$n.csv" "$T/m5-s.csv" && ok || bad "run metal5 on $n ranks: tiers differ"
    run_mpi "$n" "$MPICLV" run -m "$T/rfm4.ini" "$T/syn.h5" -o "$T/r4-$n.h5" --csv "$T/r4-$n.csv" -q \
        >/dev/null && same_tiers "$T/r4-$n.csv" "$T/r4-s.csv" && ok || bad "run rfm4 (1M) on $n ranks: tiers differ"
    for ds in /clusters/centroids /clusters/label /tiers/tier; do
        [ "$(h5dump -d $ds "$T/r4-$n.h5" | tail -n +2 | md5sum)" = "$(h5dump -d $ds "$T/r4-s.h5" | tail -n +2 | md5sum)" ] \
            && ok || bad "run rfm4 (1M) on $n ranks: $ds differs from the serial run"
    done
    run_mpi "$n" "$MPICLV" run -m "$MODELS/loyalty3.ini" "$T/syn.h5" -o "$T/l3-$n.h5" --csv "$T/l3-$n.csv" -q \
        >/dev/null && same_tiers "$T/l3-$n.csv" "$T/l3-s.csv" && ok || bad "run loyalty3 (1M) on $n ranks: tiers differ"
done
"$CLV" inspect "$T/r4-4.h5" >/dev/null 2>&1 && ok || bad "the serial build cannot read a 4-rank run's result"
# the result every rank wrote its customers into makes the serial reports
"$CLV" report "$T/r4-s.h5" --summary "$T/r4-s.json" --markdown "$T/r4-s.md" >/dev/null 2>&1
run_mpi 2 "$MPICLV" run -m "$T/rfm4.ini" "$T/syn.h5" -o "$T/r4-2b.h5" --summary "$T/r4-2.json" \
    --markdown "$T/r4-2.md" -q >/dev/null || bad "run with reports on 2 ranks failed"
grep -o '"tiers": {[^}]*}' "$T/r4-2.json" | cmp -s - "$(grep -o '"tiers": {[^}]*}' "$T/r4-s.json" >"$T/t.s" && echo "$T/t.s")" \
    && [ -s "$T/t.s" ] && ok || bad "run on 2 ranks: summary.json tiers differ"
# tier over the ranks: a result re-tiered under another ladder (each rank its
# customers, written into one file) is the serial re-tiering
"$CLV" tier -m "$MODELS/metal5.ini" "$T/r4-s.h5" -o "$T/rt-s.h5" --csv "$T/rt-s.csv" -q >/dev/null \
    || bad "serial tier failed"
"$CLV" tier -m "$MODELS/vip4.ini" "$T/run-s.h5" -o "$T/rtc-s.h5" --csv "$T/rtc-s.csv" -q >/dev/null
for n in 2 4; do
    run_mpi "$n" "$MPICLV" tier -m "$MODELS/metal5.ini" "$T/r4-s.h5" -o "$T/rt-$n.h5" --csv "$T/rt-$n.csv" -q \
        >/dev/null && cmp -s "$T/rt-$n.csv" "$T/rt-s.csv" \
        && [ "$(h5dump -d /tiers/tier "$T/rt-$n.h5" | tail -n +2 | md5sum)" = "$(h5dump -d /tiers/tier "$T/rt-s.h5" | tail -n +2 | md5sum)" ] \
        && ok || bad "tier (1M) on $n ranks differs from the serial build"
    run_mpi "$n" "$MPICLV" tier -m "$MODELS/vip4.ini" "$T/run-s.h5" -o "$T/rtc-$n.h5" --csv "$T/rtc-$n.csv" -q \
        >/dev/null && cmp -s "$T/rtc-$n.csv" "$T/rtc-s.csv" && ok || bad "tier (CDNOW) on $n ranks differs"
done

# with a previous result (migration) rank 0 does the tier stage: the same
# migration matrix and tiers as the serial run
"$CLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" --previous "$T/run-s.h5" -o "$T/prev-s.h5" --csv "$T/prev-s.csv" -q >/dev/null
for n in 2 4; do
    run_mpi "$n" "$MPICLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" --previous "$T/run-s.h5" -o "$T/prev-$n.h5" \
        --csv "$T/prev-$n.csv" -q >/dev/null && same_tiers "$T/prev-$n.csv" "$T/prev-s.csv" \
        && [ "$(h5dump -d /migration "$T/prev-$n.h5" | tail -n +2)" = "$(h5dump -d /migration "$T/prev-s.h5" | tail -n +2)" ] \
        && ok || bad "run --previous on $n ranks: tiers or migration differ"
done
run_mpi 2 "$MPICLV" run -m "$MODELS/abc.ini" "$T/cdnow.h5" -o "$T/abc.h5" -q 2>"$T/err" >/dev/null
rc=$?
[ "$rc" = 78 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q robust "$T/err" && [ ! -e "$T/abc.h5" ] && ok \
    || bad "robust scaling on 2 ranks: exit $rc, stderr: $(cat "$T/err")"

# a bad value on one rank's rows only: all ranks stop, one message, no output
{
    echo "id,f"
    awk -F, 'NR > 1 { print $1 "," (NR == 23000 ? "" : NR % 7) }' "$T/run-s.csv"
} >"$T/feat.csv"
"$CLV" ingest "$DATA/CDNOW_master.txt" --period week --features "$T/feat.csv" -o "$T/cdf.h5" -q
for n in 2 4; do
    run_mpi "$n" "$MPICLV" cluster "$T/cdf.h5" --features x,f -k 3 -o "$T/nan.h5" 2>"$T/err"
    rc=$?
    [ "$rc" = 65 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "customer row 22999" "$T/err" && [ ! -e "$T/nan.h5" ] \
        && ok || bad "NaN on one rank, $n ranks: exit $rc, stderr: $(cat "$T/err")"
done

# time-varying covariates over ranks: each rank its customers' paths, the
# likelihood summed in rank order: the serial fit within the stopping
# tolerance; scores (with delta intervals): the serial columns bit for bit
"$CLV" synth --model pareto -n 6000 --periods 104 --cohort 52 --ahead 10 \
    --covariates contact:db:0.7:0.5,income:n:-0.3:0 -o "$T/dyn.csv" --features-out "$T/dynf.csv" \
    --dynamic-out "$T/dynd.csv" -q || bad "synth time-varying"
"$CLV" ingest "$T/dyn.csv" --period week --features "$T/dynf.csv" --dynamic-covariates "$T/dynd.csv" \
    -o "$T/dyn.h5" -q || bad "ingest time-varying"
DYN="--covariates-purchase contact,income --covariates-dropout contact"
# shellcheck disable=SC2086
"$CLV" fit "$T/dyn.h5" --model pareto $DYN -o "$T/dynfit-s.h5" --json -q >"$T/dynfit-s.json" || bad "serial time-varying fit"
"$CLV" score "$T/dyn.h5" --fit "$T/dynfit-s.h5" --horizon 8 --intervals -o "$T/dynsc-s.h5" -q || bad "serial time-varying score"
for n in 2 4; do
    # shellcheck disable=SC2086
    run_mpi "$n" "$MPICLV" fit "$T/dyn.h5" --model pareto $DYN -o "$T/dynfit-$n.h5" --json -q \
        >"$T/dynfit-$n.json" || bad "time-varying fit on $n ranks failed"
    if [ -x /usr/bin/python3 ]; then
        /usr/bin/python3 - "$T/dynfit-s.json" "$T/dynfit-$n.json" <<'PYEOF' && ok || bad "time-varying fit on $n ranks differs from serial"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["converged"] and b["time_varying"] and len(a["params"]) == 7 and a["params"].keys() == b["params"].keys()
for k, v in a["params"].items():
    assert abs(b["params"][k] - v) <= 1e-7 * max(abs(v), 1e-3), (k, v, b["params"][k])
assert abs(b["ll"] - a["ll"]) <= 1e-10 * abs(a["ll"])
PYEOF
    fi
    run_mpi "$n" "$MPICLV" score "$T/dyn.h5" --fit "$T/dynfit-s.h5" --horizon 8 --intervals \
        -o "$T/dynsc-$n.h5" -q || bad "time-varying score on $n ranks failed"
    for ds in clv clv_hi p_alive_lo; do
        [ "$(h5dump -d /scores/$ds "$T/dynsc-$n.h5" | tail -n +2)" = "$(h5dump -d /scores/$ds "$T/dynsc-s.h5" | tail -n +2)" ] \
            && ok || bad "time-varying score on $n ranks: /scores/$ds differs"
    done
done
# a horizon past the paths: every rank stops, one message, no output
run_mpi 2 "$MPICLV" score "$T/dyn.h5" --fit "$T/dynfit-s.h5" --horizon 30 -o "$T/dynsc-x.h5" -q 2>"$T/err" >/dev/null
rc=$?
[ "$rc" = 65 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "scoring 30 periods ahead" "$T/err" && [ ! -e "$T/dynsc-x.h5" ] && ok \
    || bad "time-varying score past the paths on 2 ranks: exit $rc, stderr: $(cat "$T/err")"

echo "mpi: $pass passed, $fail failed"
[ "$fail" = 0 ]
