#!/bin/sh
# tests/cli/run.sh - end-to-end tests of the clvtier command line.
# Needs: $CLVTIER (the binary), $CT_DATA (../shared/data).  Python (h5py,
# pandas) and h5dump are optional: those checks skip with a visible message.
set -u
CLV=${CLVTIER:?set CLVTIER to the clvtier binary}
DATA=${CT_DATA:-../shared/data}
T=$(mktemp -d "${TMPDIR:-/tmp}/clvtier-cli.XXXXXX")
trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
PY=/usr/bin/python3
pass=0
fail=0
skip=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }

# expect CODE NAME -- command...: exit code CODE and exactly one stderr line
# when CODE != 0.
expect() {
    code=$1; name=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne "$code" ]; then
        bad "$name: exit $rc, want $code; stderr: $(cat "$T/err")"
        return 1
    fi
    if [ "$code" -ne 0 ] && [ "$(wc -l <"$T/err")" -ne 1 ]; then
        bad "$name: want one stderr line, got: $(cat "$T/err")"
        return 1
    fi
    ok
    return 0
}

# stderr must contain TEXT
says() {
    if grep -qF -- "$2" "$T/err"; then ok; else bad "$1: stderr lacks '$2': $(cat "$T/err")"; fi
}

no_temp() {
    if ls "$T" | grep -q '\.tmp-'; then bad "$1: temp file left: $(ls "$T")"; else ok; fi
}

# ---- usage --------------------------------------------------------------
expect 0 version -- "$CLV" --version
grep -q '^clvtier [0-9]' "$T/out" && ok || bad "version output"
expect 0 help -- "$CLV" --help
for c in ingest synth inspect fit score validate cluster run; do
    expect 0 "help $c" -- "$CLV" "$c" --help
    grep -q "usage: clvtier $c" "$T/out" && ok || bad "help $c text"
done
expect 64 "no command" -- "$CLV"
expect 64 "unknown command" -- "$CLV" frobnicate
expect 64 "ingest without -o" -- "$CLV" ingest "$DATA/CDNOW_master.txt"
expect 64 "bad option" -- "$CLV" ingest --bogus x.csv -o x.h5
expect 64 "bad period" -- "$CLV" ingest "$DATA/CDNOW_master.txt" --period year -o "$T/x.h5"
expect 64 "bad date option" -- "$CLV" ingest "$DATA/CDNOW_master.txt" --calibration-end 1997-02-30 -o "$T/x.h5"
expect 64 "synth bad params" -- "$CLV" synth --params r=-1 -n 10 -o "$T/x.csv"
expect 64 "synth unknown param" -- "$CLV" synth --params q=1 -n 10 -o "$T/x.csv"
expect 64 "ingest --observation-end bad date" -- "$CLV" ingest "$DATA/CDNOW_sample.txt" --observation-end 1998-02-30 -o "$T/x.h5"
says "ingest --observation-end bad date" "--observation-end '1998-02-30' is not a date"
expect 64 "ingest without input" -- "$CLV" ingest -o "$T/x.h5"
says "ingest without input" "missing input TX.csv"
expect 64 "ingest --summary and a log" -- "$CLV" ingest --summary "$T/a.csv" "$T/b.csv" -o "$T/x.h5"
says "ingest --summary and a log" "--summary takes the input; unexpected"
expect 64 "ingest --threads 0" -- "$CLV" ingest "$DATA/CDNOW_sample.txt" --threads 0 -o "$T/x.h5"
# an observation end before the log's last day: the rows after it are left out, and said
"$CLV" ingest "$DATA/CDNOW_sample.txt" --no-header --id 2 --date 3 --amount 5 --period week \
    --calibration-end 1997-09-30 --observation-end 1998-03-31 --threads 1 -o "$T/obs.h5" 2>"$T/err" >/dev/null \
    && grep -q 'note: 513 rows after the observation end left out' "$T/err" && ok \
    || bad "ingest --observation-end: $(cat "$T/err")"
# usage errors of synth, cluster and ingest name the option and its value
for a in "--model weibull|unknown model 'weibull'" "-n 0|-n '0' is not a positive count" \
    "--periods 0|--periods '0' must be > 0" "--cohort -1|--cohort '-1' must be >= 0" \
    "--period year|unknown period 'year'" "--start 2020-02-30|--start '2020-02-30' is not a date" \
    "--seed -3|--seed '-3' is not a non-negative integer" "--ahead soon|--ahead 'soon' is not a number" \
    "--spend p=x|--spend" "--covariates a:q:1:1|is not NAME" "--dynamic-out $T/d.csv|--dynamic-out goes with"; do
    opt=${a%%|*}; msg=${a#*|}
    # shellcheck disable=SC2086
    expect 64 "synth $opt" -- "$CLV" synth $opt -n 10 -o "$T/x.csv" && says "synth $opt" "$msg"
done
expect 64 "synth without -o" -- "$CLV" synth -n 10
expect 64 "synth extra argument" -- "$CLV" synth -n 10 extra -o "$T/x.csv"
# synth's calendar and spend options: day periods from a start date
expect 0 "synth day periods" -- "$CLV" synth -n 50 --period day --periods 400 --start 2021-03-01 \
    --spend p=6,q=4,v=15 --seed 4 -o "$T/synd.csv" -q
sed -n 2p "$T/synd.csv" | grep -q ',2021-0[3-9]-\|,2022-0[1-4]-' && ok || bad "synth --start: $(sed -n 2p "$T/synd.csv")"

# ---- CDNOW ----------------------------------------------------------------
expect 0 "ingest cdnow sample" -- "$CLV" ingest "$DATA/CDNOW_sample.txt" --no-header --id 2 \
    --date 3 --amount 5 --period week --calibration-end 1997-09-30 -o "$T/cdnow.h5" --json
for k in '"customers": 2357' '"transactions": 6919' '"calibration_end": "1997-09-30"'; do
    grep -qF "$k" "$T/out" && ok || bad "ingest json lacks $k"
done
expect 0 "ingest cdnow master" -- "$CLV" ingest "$DATA/CDNOW_master.txt" --period week \
    --calibration-end 1997-09-30 -o "$T/master.h5" -q
[ ! -s "$T/err" ] && ok || bad "--quiet printed: $(cat "$T/err")"
expect 0 "inspect" -- "$CLV" inspect "$T/master.h5"
grep -q '/customers/x  *float64  *23570' "$T/out" && ok || bad "inspect lists /customers/x"
expect 0 "inspect json" -- "$CLV" inspect --json "$T/master.h5"
expect 0 "ingest summary" -- "$CLV" ingest --summary "$DATA/donations.csv" -o "$T/don.h5"
expect 0 "ingest compressed" -- "$CLV" ingest "$DATA/CDNOW_master.txt" --compress=1 -o "$T/z.h5" -q
"$CLV" inspect "$T/z.h5" | grep -q deflate && ok || bad "compressed output has deflate"

# ---- bad input: exit code, one line, nothing written, old output kept ----
cp "$T/cdnow.h5" "$T/keep.h5"
sum_before=$(cksum <"$T/keep.h5")
check_kept() {
    if [ "$(cksum <"$T/keep.h5")" = "$sum_before" ]; then ok; else bad "$1: previous output changed"; fi
    no_temp "$1"
}
printf '' >"$T/empty.csv"
printf 'id,date,amount\n' >"$T/hdr.csv"
printf 'id\tdate\tamount\n1\t2020-01-01\t3\n' >"$T/tab.csv"
printf 'id,date,amount\n1,2020-01-01,3\n2,1997-13-01,4\n' >"$T/date.csv"
printf 'id,date,amount\n1,2020-01-01,abc\n' >"$T/amt.csv"
printf 'id,date,amount\n1,2020-01-01,-5\n' >"$T/neg.csv"
printf 'id,date,amount\n1,2020-01-01,nan\n' >"$T/nan.csv"
printf 'id,date,date\n1,2020-01-01,3\n' >"$T/dup.csv"
expect 66 "missing input" -- "$CLV" ingest "$T/nope.csv" -o "$T/keep.h5"; check_kept missing
says "missing input" "nope.csv: cannot open: No such file or directory"
expect 65 "empty file" -- "$CLV" ingest "$T/empty.csv" -o "$T/keep.h5"; check_kept empty
expect 65 "header only" -- "$CLV" ingest "$T/hdr.csv" -o "$T/keep.h5"; check_kept header
expect 64 "wrong delimiter" -- "$CLV" ingest -d , "$T/tab.csv" -o "$T/keep.h5"; check_kept delim
says "wrong delimiter" "check --delimiter"
expect 65 "bad date" -- "$CLV" ingest "$T/date.csv" -o "$T/keep.h5"; check_kept date
says "bad date" "date.csv:3:2: cannot parse date '1997-13-01'"
expect 65 "bad amount" -- "$CLV" ingest "$T/amt.csv" -o "$T/keep.h5"; check_kept amount
says "bad amount" "amt.csv:2:3: cannot parse amount 'abc'"
expect 65 "negative amount" -- "$CLV" ingest "$T/neg.csv" -o "$T/keep.h5"; check_kept negative
says "negative amount" "1 returns left out (--returns keep keeps them)"
expect 0 "allow negative" -- "$CLV" ingest "$T/neg.csv" --allow-negative -o "$T/neg.h5"
expect 65 "nan amount" -- "$CLV" ingest "$T/nan.csv" -o "$T/keep.h5"; check_kept nan
expect 65 "duplicate header" -- "$CLV" ingest "$T/dup.csv" -o "$T/keep.h5"; check_kept dup
says "duplicate header" "duplicate column name 'date'"
expect 73 "missing output dir" -- "$CLV" ingest "$DATA/CDNOW_master.txt" -o "$T/no/such/dir.h5"
head -c 4000 "$T/cdnow.h5" >"$T/trunc.h5"
expect 65 "truncated hdf5" -- "$CLV" inspect "$T/trunc.h5"
says "truncated hdf5" "truncated"
expect 65 "not hdf5" -- "$CLV" inspect "$DATA/donations.csv"
says "not hdf5" "not an HDF5 file"
expect 66 "inspect missing" -- "$CLV" inspect "$T/none.h5"

# disk full / file too large: ulimit -f (1 KiB blocks) below the output size
"$CLV" synth -n 20000 -o "$T/s.csv" -q
expect 74 "file size limit (ingest)" -- sh -c "ulimit -f 300; exec '$CLV' ingest '$T/s.csv' -o '$T/keep.h5'"
check_kept ulimit-ingest
expect 74 "file size limit (synth)" -- sh -c "ulimit -f 100; exec '$CLV' synth -n 20000 -o '$T/keep.h5.csv'"
[ ! -e "$T/keep.h5.csv" ] && ok || bad "synth under ulimit left an output"
no_temp ulimit-synth

# ---- shop exports: line items, orders, returns, bad rows (issue 12) ----------
# tests/data/retail_dirty.csv: its expected customers are worked out in test_ingest.c
R=${RETAIL:-tests/data/retail_dirty.csv}
RO="--id CustomerID --date InvoiceDate --quantity Quantity --price UnitPrice --order InvoiceNo --cancel-prefix C"
cp "$T/keep.h5" "$T/retail.h5"
sum_retail=$(cksum <"$T/retail.h5")
# shellcheck disable=SC2086
expect 65 "retail: guest sale" -- "$CLV" ingest "$R" $RO -o "$T/retail.h5"
says "retail: guest sale" "retail_dirty.csv:9:7: empty customer id (--missing-id skip leaves such rows"
# shellcheck disable=SC2086
expect 65 "retail: bad date" -- "$CLV" ingest "$R" $RO --missing-id skip -o "$T/retail.h5"
says "retail: bad date" "retail_dirty.csv:10:5: cannot parse date 'not-a-date'"
# shellcheck disable=SC2086
expect 65 "retail: too many bad rows" -- "$CLV" ingest "$R" $RO --missing-id skip --on-bad-row skip \
    --max-bad-rows 0.2 -o "$T/retail.h5"
says "retail: too many bad rows" "3 of 13 rows rejected"
[ "$(cksum <"$T/retail.h5")" = "$sum_retail" ] && ok || bad "retail: a failed ingest changed the old output"
no_temp retail
# shellcheck disable=SC2086
expect 0 "retail: skip" -- "$CLV" ingest "$R" $RO --missing-id skip --on-bad-row skip \
    --bad-rows "$T/rejected.csv" -o "$T/retail.h5" --json
for kv in '"transactions": 5' '"customers": 3' '"orders": 6' '"rows_missing_id": 1' \
    '"rows_bad_date": 1' '"rows_order_two_customers": 1' '"rows_returns_dropped": 2' \
    '"orders_zero_amount": 1'; do
    grep -qF "$kv" "$T/out" && ok || bad "retail: --json lacks $kv: $(cat "$T/out")"
done
[ "$(wc -l <"$T/rejected.csv")" = 4 ] && grep -q 'retail_dirty.csv,13,order .536384. has two customer ids' "$T/rejected.csv" \
    && ok || bad "retail: --bad-rows file: $(cat "$T/rejected.csv")"
if command -v h5dump >/dev/null 2>&1; then
    h5dump -a /transactions/rows_returns_dropped "$T/retail.h5" | grep -q '(0): 2' \
        && ok || bad "retail: /transactions@rows_returns_dropped"
else
    skipped "h5dump missing: /transactions attributes not checked"
fi
# shellcheck disable=SC2086
expect 0 "retail: returns kept" -- "$CLV" ingest "$R" $RO --returns keep --missing-id skip \
    --on-bad-row skip -o "$T/retail_keep.h5" --json
grep -qF '"customers": 4' "$T/out" && grep -qF '"returns": 2' "$T/out" && ok \
    || bad "retail: --returns keep: $(cat "$T/out")"
# shellcheck disable=SC2086
expect 0 "retail: returns netted" -- "$CLV" ingest "$R" $RO --returns net --missing-id skip \
    --on-bad-row skip -o "$T/retail_net.h5" --json
grep -qF '"returns_unmatched": 1' "$T/out" && grep -qF '"customers": 3' "$T/out" && ok \
    || bad "retail: --returns net: $(cat "$T/out")"
expect 64 "retail: quantity without price" -- "$CLV" ingest "$R" --quantity Quantity -o "$T/x.h5"
expect 64 "retail: cancel prefix without order" -- "$CLV" ingest "$R" --cancel-prefix C -o "$T/x.h5"
expect 64 "retail: bad --returns" -- "$CLV" ingest "$R" --returns maybe -o "$T/x.h5"
expect 64 "retail: bad rows onto the output" -- "$CLV" ingest "$R" --bad-rows "$T/x.h5" -o "$T/x.h5"
# the same log in 3 files, compressed 3 ways, in another order: the same columns
head -n 5 "$R" >"$T/s1.csv"
(head -n 1 "$R"; sed -n 6,10p "$R") >"$T/s2.csv"
(head -n 1 "$R"; sed -n 11,14p "$R") >"$T/s3.csv"
if command -v gzip >/dev/null && command -v xz >/dev/null && command -v zstd >/dev/null; then
    gzip -k "$T/s1.csv" && xz -k "$T/s2.csv" && zstd -q "$T/s3.csv"
    # shellcheck disable=SC2086
    expect 0 "retail: 3 compressed shards" -- "$CLV" ingest "$T/s3.csv.zst" "$T/s1.csv.gz" \
        "$T/s2.csv.xz" $RO --missing-id skip --on-bad-row skip -o "$T/shards.h5" -q
    if command -v h5dump >/dev/null 2>&1; then
        for ds in /customers/id /customers/x /customers/t_x /customers/T /customers/m /customers/total \
            /transactions/customer /transactions/day /transactions/amount; do
            [ "$(h5dump -d $ds "$T/retail.h5" | tail -n +2)" = "$(h5dump -d $ds "$T/shards.h5" | tail -n +2)" ] \
                && ok || bad "retail: $ds differs between one file and 3 compressed shards"
        done
    else
        skipped "h5dump missing: shards not compared"
    fi
    head -c 40 "$T/s1.csv.gz" >"$T/cut.csv.gz"
    expect 65 "truncated gzip" -- "$CLV" ingest "$T/cut.csv.gz" -o "$T/x.h5"
    says "truncated gzip" "cut.csv.gz: corrupt or truncated gzip data"
else
    skipped "gzip, xz or zstd missing: compressed shards not tested"
fi
expect 64 "input is the output" -- "$CLV" ingest "$R" -o "$R"
# a comma-separated features file beside a space-separated log: its own delimiter
printf 'customer_id,score\n00001,0.5\n00002,1.5\n' >"$T/feats.csv"
expect 0 "features delimiter sniffed" -- "$CLV" ingest "$DATA/CDNOW_master.txt" -d space \
    --features "$T/feats.csv" -o "$T/featd.h5" --json -q
grep -qF '"feature_columns": 1' "$T/out" && ok || bad "features delimiter: $(cat "$T/out")"
# issue 14, case 15: amounts that add up past the largest double are refused,
# naming the column and the customer (and one too large for a double, its line)
printf 'id,date,amount\na,2020-01-01,1e308\na,2020-01-05,1e308\na,2020-01-09,1e308\nb,2020-01-02,5\n' >"$T/ov.csv"
expect 65 "amounts summing to inf" -- "$CLV" ingest "$T/ov.csv" -o "$T/ov.h5"
says "amounts summing to inf" "column 'amount': customer 'a': the amounts add up to inf"
[ ! -e "$T/ov.h5" ] && ok || bad "amounts summing to inf: output written"
printf 'id,date,amount\na,2020-01-01,1e309\n' >"$T/ov1.csv"
expect 65 "amount beyond double" -- "$CLV" ingest "$T/ov1.csv" -o "$T/ov.h5"
says "amount beyond double" "ov1.csv:2:3"
# issue 14, case 12: input bytes in an error are escaped (ESC, a quoted
# newline): one line, no terminal escape sequences
printf 'id,date,amount\n1,"\033[31m2020\n01",3\n' >"$T/esc.csv"
expect 65 "escaped error line" -- "$CLV" ingest "$T/esc.csv" -o "$T/x.h5"
says "escaped error line" 'cannot parse date '"'"'\x1b[31m2020\x0a01'"'"
if grep -q "$(printf '\033')" "$T/err"; then bad "escaped error line: a raw ESC on stderr"; else ok; fi
# issue 14, case 10: ids that a spreadsheet would run as formulas are defused in tiers.csv
awk 'NR > 1 && NR <= 20000 { id = ($1 % 7 == 0) ? "=HYPERLINK(" $1 ")" : ($1 % 7 == 1) ? "-" $1 : $1
     printf "%s,%s,%s\n", id, $2, $4 }' "$DATA/CDNOW_master.txt" >"$T/formula.csv"
sed -i '1i id,date,amount' "$T/formula.csv"
expect 0 "formula ids: run" -- "$CLV" run -m models/default.ini "$T/formula.csv" -o "$T/formula.h5" \
    --csv "$T/formula_tiers.csv" -q
grep -q '^"'"'"'=HYPERLINK(00007)",' "$T/formula_tiers.csv" && grep -q '^"'"'"'-00008",' "$T/formula_tiers.csv" \
    && ! grep -q '^=' "$T/formula_tiers.csv" && ok \
    || bad "tiers.csv: formulas not defused: $(grep -m3 'HYPERLINK\|^-' "$T/formula_tiers.csv")"
# the counts reach a run's report (data-quality notes)
head -n 20000 "$DATA/CDNOW_master.txt" >"$T/cd_dirty.txt"
printf ' 99998 19970105 1 abc\n 99997 1997xx05 1 10.00\n 99996 19970105\n' >>"$T/cd_dirty.txt"
expect 0 "dirty CDNOW skip" -- "$CLV" ingest "$T/cd_dirty.txt" --period week --on-bad-row skip -o "$T/cdd.h5"
expect 0 "dirty CDNOW run" -- "$CLV" run -m models/default.ini "$T/cdd.h5" -o "$T/cdd_run.h5" \
    --summary "$T/cdd.json" -q
for w in "1 rows with too few fields" "1 rows with an unparseable date" "1 rows with an unparseable number"; do
    grep -qF "ingest left out $w of 20002 rows read" "$T/cdd.json" && ok \
        || bad "dirty CDNOW: summary.json lacks '$w'"
done
# issue 14, case 11: report.md escapes what the model file says
sed -e 's/^name = default/name = <script>alert(1)<\/script>/' -e 's/^names = high, mid, low/names = hi|gh, mid, low/' \
    -e 's/^high = Retain.*/hi|gh = [click](javascript:alert(1))/' models/default.ini >"$T/evil.ini"
expect 0 "report.md escaping: run" -- "$CLV" run -m "$T/evil.ini" "$T/cdd.h5" -o "$T/evil.h5" --markdown "$T/evil.md" -q
if grep -q '<script>\|](javascript:\|| hi|gh |' "$T/evil.md"; then
    bad "report.md: markup from the model file: $(grep -m3 'script\|javascript\|hi|gh' "$T/evil.md")"
else
    grep -qF '&lt;script&gt;' "$T/evil.md" && grep -qF 'hi\|gh' "$T/evil.md" && ok \
        || bad "report.md: escaped text missing: $(head -3 "$T/evil.md")"
fi
# run on the CSV itself takes the same options, on its command line or in the
# model's [ingest] section (the command line wins)
expect 65 "run: dirty CSV, default fail" -- "$CLV" run -m models/default.ini "$T/cd_dirty.txt" -o "$T/cdr.h5"
says "run: dirty CSV, default fail" "cd_dirty.txt:20001:4: cannot parse amount 'abc'"
expect 0 "run: dirty CSV, --on-bad-row skip" -- "$CLV" run -m models/default.ini "$T/cd_dirty.txt" \
    --on-bad-row skip -o "$T/cdr.h5" --summary "$T/cdr.json" -q
grep -qF "ingest left out 1 rows with an unparseable date of 20002 rows read" "$T/cdr.json" && ok \
    || bad "run --on-bad-row skip: summary.json lacks the count"
{ cat models/default.ini; printf '\n[ingest]\non_bad_row = skip\ndelimiter = space\n'; } >"$T/skip.ini"
expect 0 "run: [ingest] on_bad_row = skip" -- "$CLV" run -m "$T/skip.ini" "$T/cd_dirty.txt" -o "$T/cdr2.h5" -q
expect 65 "run: the command line overrides [ingest]" -- "$CLV" run -m "$T/skip.ini" "$T/cd_dirty.txt" \
    --on-bad-row fail -o "$T/cdr2.h5"
{ cat models/default.ini; printf '\n[ingest]\nreturns = maybe\n'; } >"$T/badi.ini"
expect 78 "run: bad [ingest] value" -- "$CLV" run -m "$T/badi.ini" "$T/cd_dirty.txt" -o "$T/cdr3.h5"
says "run: bad [ingest] value" "[ingest] returns: returns 'maybe' is not drop, keep or net"
{ cat models/default.ini; printf '\n[ingest]\ncancel_prefix = C\n'; } >"$T/cp.ini"
expect 64 "run: [ingest] cancel_prefix without order" -- "$CLV" run -m "$T/cp.ini" "$T/cd_dirty.txt" -o "$T/cdr3.h5"
says "run: [ingest] cancel_prefix without order" "--cancel-prefix needs --order"
expect 64 "run: bad ingest option value" -- "$CLV" run -m models/default.ini "$T/cd_dirty.txt" \
    --missing-id maybe -o "$T/cdr3.h5"
# --timezone: a timestamp with an offset is the date in that zone (DST included)
printf 'id,date,amount\n1,2021-03-27T23:30:00Z,5\n1,2021-03-28T22:30:00Z,5\n2,2021-07-01 23:30:00,3\n' >"$T/tz.csv"
expect 64 "ingest --timezone unknown" -- "$CLV" ingest "$T/tz.csv" --timezone Mars/Base -o "$T/tz.h5"
says "ingest --timezone unknown" "unknown time zone 'Mars/Base'"
{ cat models/default.ini; printf '\n[ingest]\ntimezone = Mars/Base\n'; } >"$T/tz.ini"
expect 78 "run: [ingest] timezone unknown" -- "$CLV" run -m "$T/tz.ini" "$T/tz.csv" -o "$T/tzr.h5"
says "run: [ingest] timezone unknown" "[ingest] timezone: unknown time zone 'Mars/Base'"
if [ -r /usr/share/zoneinfo/Europe/Berlin ] && command -v h5dump >/dev/null 2>&1; then
    expect 0 "ingest --timezone" -- "$CLV" ingest "$T/tz.csv" --timezone Europe/Berlin -o "$T/tz.h5" -q
    # 2021-03-28 (CET, +1), 2021-03-29 (CEST, +2), 2021-07-01 (no offset: as written)
    h5dump -d /transactions/day "$T/tz.h5" | grep -q '18714, 18715, 18809' && ok \
        || bad "ingest --timezone: days $(h5dump -d /transactions/day "$T/tz.h5" | grep '(0)')"
    expect 0 "ingest, no --timezone" -- "$CLV" ingest "$T/tz.csv" -o "$T/tz.h5" -q
    h5dump -d /transactions/day "$T/tz.h5" | grep -q '18713, 18714, 18809' && ok \
        || bad "ingest without --timezone: UTC days $(h5dump -d /transactions/day "$T/tz.h5" | grep '(0)')"
else
    skipped "no tzdata (/usr/share/zoneinfo/Europe/Berlin) or h5dump: --timezone dates not checked"
fi

# ---- synth ------------------------------------------------------------------
expect 0 "synth csv" -- "$CLV" synth --model pareto --params r=0.55,alpha=10.58,s=0.61,beta=11.67 \
    -n 5000 --periods 78 --seed 9 -o "$T/p.csv"
"$CLV" synth --model pareto --params r=0.55,alpha=10.58,s=0.61,beta=11.67 -n 5000 --periods 78 \
    --seed 9 --threads 1 -o "$T/p1.csv" -q
cmp -s "$T/p.csv" "$T/p1.csv" && ok || bad "synth output depends on --threads"
"$CLV" synth -n 5000 --seed 10 -o "$T/p2.csv" -q
cmp -s "$T/p.csv" "$T/p2.csv" && bad "different seeds gave the same output" || ok
expect 0 "synth h5" -- "$CLV" synth -n 5000 -o "$T/syn.h5" --json
grep -qF '"customers": 5000' "$T/out" && ok || bad "synth json"
expect 0 "ingest synth csv" -- "$CLV" ingest "$T/p.csv" --period week -o "$T/p.h5"

# ---- CLV: fit, score, validate ----------------------------------------------
expect 0 "fit bgnbd+gg" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd,gammagamma -o "$T/fit.h5" --json
for k in '"model": "bgnbd"' '"r": 0.2425' '"ll": -9582.4' '"converged": true' '"model": "gammagamma"' '"se": {'; do
    grep -qF "$k" "$T/out" && ok || bad "fit json lacks $k: $(cat "$T/out")"
done
grep -q 'log-likelihood' "$T/err" && ok || bad "fit prints its table on stderr"
expect 0 "fit pareto quiet" -- "$CLV" fit "$T/cdnow.h5" --model pareto -o "$T/pfit.h5" -q
[ ! -s "$T/err" ] && ok || bad "fit --quiet printed"
expect 0 "score" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --horizon 39 --discount 0.01 -o "$T/scores.h5" --json
grep -qF '"spend_model": "gammagamma"' "$T/out" && grep -qF '"n": 2357' "$T/out" && ok || bad "score json: $(cat "$T/out")"
"$CLV" inspect "$T/scores.h5" | grep -q '/scores/clv  *float64  *2357' && ok || bad "scores table"
cp "$T/out" "$T/score.json"
expect 0 "score --compress" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --horizon 39 --discount 0.01 -o "$T/scoresz.h5" --json --compress=6
sed 's/"seconds": [0-9.]*//' "$T/out" | cmp -s - "$(sed 's/"seconds": [0-9.]*//' "$T/score.json" >"$T/score.j2" && echo "$T/score.j2")" \
    && "$CLV" inspect "$T/scoresz.h5" | grep -q '/scores/clv .*(deflate)' \
    && ok || bad "score --compress: not compressed, or other totals"
if command -v h5dump >/dev/null 2>&1; then
    [ "$(h5dump -d /scores/clv "$T/scoresz.h5" | tail -n +2)" = "$(h5dump -d /scores/clv "$T/scores.h5" | tail -n +2)" ] \
        && ok || bad "score --compress: other numbers"
fi
# issue 14, case 14: score validates /customers as fit does (NaN x, t_x > T, negative m)
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$T/badcust.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("customers")
    g["x"] = np.array([1.0, 2.0, 1.0])
    g["t_x"] = np.array([3.0, 5.0, 2.0])
    g["T"] = np.array([10.0, 4.0, 8.0])   # row 2: t_x > T
    g["m"] = np.array([10.0, 20.0, 5.0])
PYEOF
    expect 65 "score refuses what fit refuses" -- "$CLV" score "$T/badcust.h5" --fit "$T/fit.h5" -o "$T/bads.h5"
    says "score refuses what fit refuses" "customer row 2: t_x = 5 > T = 4"
    [ ! -e "$T/bads.h5" ] && ok || bad "score wrote an output from bad customers"
    # a purchase-only fit keeps x, t_x, T alone, but checks m as every stage does
    "$PY" - "$T/badm.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("customers")
    g["x"] = np.array([1.0, 2.0, 1.0])
    g["t_x"] = np.array([3.0, 2.0, 2.0])
    g["T"] = np.array([10.0, 4.0, 8.0])
    g["m"] = np.array([10.0, 20.0, -5.0])   # row 3: negative spend
PYEOF
    expect 65 "fit bgnbd checks m too" -- "$CLV" fit "$T/badm.h5" --model bgnbd -o "$T/badf.h5"
    says "fit bgnbd checks m too" "customer row 3: m = -5"
    [ ! -e "$T/badf.h5" ] && ok || bad "fit wrote an output from bad customers"
else
    skipped "h5py missing: score's validation of /customers not tested"
fi
expect 64 "score --compress=12" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --compress=12 -o "$T/keepfit.h5"
expect 0 "score pareto, spend from file" -- "$CLV" score "$T/cdnow.h5" --fit "$T/pfit.h5" --spend-fit "$T/fit.h5" --horizon 52 -o "$T/scores2.h5" -q
expect 0 "validate" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5"
grep -q 'holdout (39 periods)' "$T/out" && grep -q '^      0 .* 1411$' "$T/out" && ok || bad "validate tables: $(cat "$T/out")"
expect 0 "validate json" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5" --json --max 3 --curve 5
grep -qF '"x": "3+"' "$T/out" && grep -qF '"expected_new": [' "$T/out" && ok || bad "validate json buckets/curve"
grep -qF '"calibration": {"brier": 0.1' "$T/out" && ok || bad "validate json: no calibration: $(cat "$T/out")"
# fit's tuning options: the same optimum from other starts, seed and thread count
expect 0 "fit with tuning options" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --starts 5 --max-iter 800 --seed 9 \
    --threads 1 --penalty 0 --table /customers -o "$T/fit_tuned.h5" --json -q
grep -qF '"r": 0.2425' "$T/out" && ok || bad "fit with tuning options: $(cat "$T/out")"
# usage errors name the option and its value
expect 64 "fit --penalty -1" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --penalty -1 -o "$T/x.h5"
says "fit --penalty -1" "--penalty '-1' must be a number >= 0"
expect 64 "fit --starts 0" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --starts 0 -o "$T/x.h5"
says "fit --starts 0" "--starts '0' must be 1..1000"
expect 64 "fit --max-iter 0" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --max-iter 0 -o "$T/x.h5"
expect 64 "fit --seed x" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --seed x -o "$T/x.h5"
says "fit --seed x" "--seed 'x' is not a non-negative integer"
expect 64 "fit --threads 0" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd --threads 0 -o "$T/x.h5"
expect 64 "fit without --model" -- "$CLV" fit "$T/cdnow.h5" -o "$T/x.h5"
says "fit without --model" "missing --model"
expect 64 "fit without -o" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd
says "fit without -o" "missing -o FIT.h5"
expect 64 "fit model twice" -- "$CLV" fit "$T/cdnow.h5" --model bgnbd,bgnbd -o "$T/x.h5"
says "fit model twice" "model 'bgnbd' given twice"
expect 64 "fit auto twice" -- "$CLV" fit "$T/cdnow.h5" --model auto,auto -o "$T/x.h5"
expect 64 "score --discount -1" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --discount -1 -o "$T/x.h5"
says "score --discount -1" "--discount '-1' must be a rate >= 0"
expect 64 "score without --fit" -- "$CLV" score "$T/cdnow.h5" -o "$T/x.h5"
expect 64 "score --threads 0" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --threads 0 -o "$T/x.h5"
expect 64 "validate --holdout 0" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5" --holdout 0
says "validate --holdout 0" "--holdout '0' must be > 0"
expect 64 "validate --curve 0" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5" --curve 0
expect 64 "validate --max 0" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5" --max 0
expect 64 "validate without --fit" -- "$CLV" validate "$T/cdnow.h5"
# the expected-purchases curve of a new customer, as a table
expect 0 "validate --curve" -- "$CLV" validate "$T/cdnow.h5" --fit "$T/fit.h5" --curve 3
grep -q '^  *3  *[0-9.]*$' "$T/out" && ok || bad "validate --curve table: $(cat "$T/out")"
expect 0 "fit bgbb donations" -- "$CLV" fit "$T/don.h5" --model bgbb -o "$T/bb.h5" --json -q
grep -qF '"alpha": 1.20' "$T/out" && ok || bad "bgbb fit: $(cat "$T/out")"
# issue 15: --model auto.  Donations are discrete (x <= t_x <= n, whole): BG/BB
# is a candidate, but without a holdout its BIC is not comparable
expect 0 "fit auto donations" -- "$CLV" fit "$T/don.h5" --model auto -o "$T/dauto.h5" --json -q
grep -qF '"model": "bgbb", "fitted": true' "$T/out" && grep -qF '"rule": "smallest BIC (no holdout' "$T/out" \
    && ok || bad "fit auto: discrete data: $(cat "$T/out")"
expect 64 "fit auto beside a purchase model" -- "$CLV" fit "$T/cdnow.h5" --model auto,bgnbd -o "$T/x.h5"
says "fit auto beside a purchase model" "can only be gammagamma"
expect 0 "fit auto cdnow" -- "$CLV" fit "$T/cdnow.h5" --model auto,gammagamma -o "$T/auto.h5" --json -q
grep -qF '"holdout_periods": 39' "$T/out" && grep -qF '"holdout_mse": ' "$T/out" && ok \
    || bad "fit auto: no holdout errors: $(cat "$T/out")"
expect 0 "fit auto cdnow, text" -- "$CLV" fit "$T/cdnow.h5" --model auto -o "$T/auto2.h5"
# (the human-readable report goes to stderr; stdout is for --json)
grep -q '^model choice: ' "$T/err" && grep -q '<- chosen$' "$T/err" && [ "$(grep -c '^  \(bgnbd\|mbgnbd\|pareto\) ' "$T/err")" -eq 3 ] \
    && ok || bad "fit auto: the candidates' table: $(cat "$T/err")"
# on data simulated from each model (100k customers, 78 weeks of calibration
# and 26 of holdout) auto picks the model that generated them
for m in bgnbd mbgnbd pareto; do
    case $m in
    pareto) P=r=0.55,alpha=10.6,s=0.61,beta=11.7 ;;
    *) P=r=0.24,alpha=4.4,a=0.79,b=2.4 ;;
    esac
    "$CLV" synth --model $m --params $P -n 100000 --periods 104 --cohort 26 --seed 7 -o "$T/gen.csv" -q
    "$CLV" ingest "$T/gen.csv" --period week --calibration-end 2021-06-30 -o "$T/gen.h5" -q
    expect 0 "fit auto on $m data" -- "$CLV" fit "$T/gen.h5" --model auto -o "$T/genfit.h5" --json -q
    grep -qF "\"choice\": {\"chosen\": \"$m\"" "$T/out" && ok || bad "fit auto on $m data chose: $(cat "$T/out")"
    # score and validate use the chosen fit, not the first in the file
    expect 0 "score auto fit ($m)" -- "$CLV" score "$T/gen.h5" --fit "$T/genfit.h5" -o "$T/gensc.h5" --json -q
    grep -qF "\"model\": \"$m\"" "$T/out" && ok || bad "score did not use the chosen $m: $(cat "$T/out")"
done
rm -f "$T/gen.csv"
# loyalty when P(alive) says nothing: Pareto/NBD with a drop-out rate of
# 1e-6 per week; every repeat buyer is alive, so loyalty falls back to
# P(no purchase) over the review period, and the report says why
"$CLV" synth --model pareto --params r=0.5,alpha=10,s=0.01,beta=10000 -n 20000 --periods 104 \
    --cohort 26 --seed 3 -o "$T/flat.csv" -q
expect 0 "run: flat P(alive)" -- "$CLV" run -m models/metal5.ini "$T/flat.csv" -o "$T/flat.h5" \
    --summary "$T/flat.json" -q
grep -qF '"metric": "p_no_purchase"' "$T/flat.json" && grep -qF 'the fit finds no drop-out' "$T/flat.json" \
    && ok || bad "no loyalty fallback: $(cat "$T/flat.json")"

# the vector kernels of the scores (AVX-512, AVX2, none: libmvec's exp and
# log1p, the 8 Chebyshev series of the delta method) give the same scores,
# intervals and predictive intervals, on continuous rows (the one-pass path)
"$CLV" synth -n 20000 --periods 156 --cohort 104 --seed 7 -o "$T/isa.h5" -q
for m in bgnbd pareto; do
    "$CLV" fit "$T/isa.h5" --model $m -o "$T/isafit.h5" -q
    for isa in avx512 avx2 none; do
        case $isa in
        avx512) env -u CLVTIER_SIMD -u CLVTIER_NO_SIMD "$CLV" score "$T/isa.h5" --fit "$T/isafit.h5" \
            --horizon 52 --discount 0.01 --intervals -o "$T/isa_$isa.h5" -q ;;
        avx2) CLVTIER_SIMD=avx2 "$CLV" score "$T/isa.h5" --fit "$T/isafit.h5" --horizon 52 \
            --discount 0.01 --intervals -o "$T/isa_$isa.h5" -q ;;
        none) CLVTIER_NO_SIMD=1 "$CLV" score "$T/isa.h5" --fit "$T/isafit.h5" --horizon 52 \
            --discount 0.01 --intervals -o "$T/isa_$isa.h5" -q ;;
        esac
    done
    if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
        "$PY" - "$T" <<'PYEOF' && ok || bad "score --intervals ($m) differs between vector units"
import sys, h5py, numpy as np
t = sys.argv[1]
a = h5py.File(t + "/isa_avx512.h5", "r")["scores"]
for isa in ("avx2", "none"):
    b = h5py.File(t + "/isa_" + isa + ".h5", "r")["scores"]
    assert sorted(a) == sorted(b) and "purchases_hi" in a
    for c in a:
        assert np.array_equal(a[c][:], b[c][:], equal_nan=True), (isa, c)
PYEOF
    else
        skipped "score across vector units (no /usr/bin/python3 with h5py)"
    fi
done

# issue 15: delta-method intervals, bounds around every estimate
expect 0 "score --intervals" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --intervals --level 0.8 \
    --discount 0.01 -o "$T/sci.h5" -q
expect 0 "score --intervals=bootstrap" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --intervals=bootstrap:20 \
    --seed 3 -o "$T/boot.h5" -q
"$CLV" inspect "$T/boot.h5" | grep -q '@interval_method = bootstrap:20' && "$CLV" inspect "$T/boot.h5" | grep -q '/scores/clv_hi ' \
    && ok || bad "bootstrap scores: method or columns missing"
expect 64 "score --intervals=bootstrap:1" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --intervals=bootstrap:1 -o "$T/x.h5"
expect 64 "score --intervals=jackknife" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --intervals=jackknife -o "$T/x.h5"
expect 64 "score --level 1" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --intervals --level 1 -o "$T/x.h5"
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$T/sci.h5" <<'PYEOF' && ok || bad "score --intervals: bounds"
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")["scores"]
assert s.attrs["interval_level"] == 0.8 and s.attrs["interval_method"] == "delta"
for k in ("p_alive", "exp_purchases", "clv"):
    v, lo, hi = s[k][:], s[k + "_lo"][:], s[k + "_hi"][:]
    assert np.all(np.isfinite(lo)) and np.all((lo <= v) & (v <= hi)), k
    if k != "p_alive":  # BG/NBD: P(alive) = 1 at x = 0 (most customers), no width
        assert np.median((hi - lo)[v > 0] / v[v > 0]) > 0, k
assert np.all((s["p_alive_lo"][:] >= 0) & (s["p_alive_hi"][:] <= 1))
lo, hi = s["purchases_lo"][:], s["purchases_hi"][:]
assert np.all((lo >= 0) & (lo <= hi) & (lo == np.floor(lo)) & (hi == np.floor(hi)))
PYEOF
else
    skipped "score --intervals bounds (no /usr/bin/python3 with h5py)"
fi

# issue 15: DERT and P(alive) ahead
expect 0 "score --dert --alive-at" -- "$CLV" score "$T/cdnow.h5" --fit "$T/pfit.h5" --spend-fit "$T/fit.h5" \
    --dert 0.0027 --alive-at 0,13,52 -o "$T/scd.h5" -q
expect 64 "score --dert 0" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --dert 0 -o "$T/x.h5"
expect 64 "score --dert bgbb" -- "$CLV" score "$T/don.h5" --fit "$T/bb.h5" --dert 0.01 -o "$T/x.h5"
says "score --dert bgbb" "DERT needs a bgnbd, mbgnbd or pareto fit"
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$T/scd.h5" <<'PYEOF' && ok || bad "score --dert --alive-at columns"
import sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")["scores"]
assert s.attrs["dert_delta"] == 0.0027
d, cd, m = s["dert"][:], s["clv_dert"][:], s["exp_spend"][:]
assert np.all(d > 0) and np.allclose(cd, d * m, rtol=1e-15)
a0, a13, a52 = (s["p_alive_at_%d" % t][:] for t in (0, 13, 52))
assert np.array_equal(a0, s["p_alive"][:]) and np.all(a13 <= a0) and np.all(a52 < a13)
PYEOF
else
    skipped "score --dert columns (no /usr/bin/python3 with h5py)"
fi

# bad input for the models: message, exit code, nothing written
cp "$T/fit.h5" "$T/keepfit.h5"
fsum=$(cksum <"$T/keepfit.h5")
printf 'frequency,recency,T
0,0,5
0,0,7
' >"$T/zero.csv"
"$CLV" ingest --summary "$T/zero.csv" -o "$T/zero.h5" -q
expect 65 "fit all x=0" -- "$CLV" fit "$T/zero.h5" --model bgnbd -o "$T/keepfit.h5"
says "fit all x=0" "every customer has x = 0"
expect 65 "fit gg without repeaters" -- "$CLV" fit "$T/zero.h5" --model gammagamma -o "$T/keepfit.h5"
expect 65 "fit needs m" -- "$CLV" fit "$T/don.h5" --model gammagamma -o "$T/keepfit.h5"
expect 64 "fit unknown model" -- "$CLV" fit "$T/cdnow.h5" --model weibull -o "$T/keepfit.h5"
expect 66 "fit missing data" -- "$CLV" fit "$T/nothere.h5" --model bgnbd -o "$T/keepfit.h5"
expect 65 "fit non-hdf5" -- "$CLV" fit "$DATA/donations.csv" --model bgnbd -o "$T/keepfit.h5"
expect 65 "score with a spend-only fit" -- "$CLV" score "$T/cdnow.h5" --fit "$T/bb.h5" --spend-fit "$T/pfit.h5" -o "$T/keepfit.h5"
expect 64 "score negative horizon" -- "$CLV" score "$T/cdnow.h5" --fit "$T/fit.h5" --horizon -3 -o "$T/keepfit.h5"
[ "$(cksum <"$T/keepfit.h5")" = "$fsum" ] && ok || bad "a failed fit/score changed its output"
no_temp clv

# ---- k-means ----------------------------------------------------------------
expect 0 "cluster k-range" -- "$CLV" cluster "$T/cdnow.h5" --scores "$T/scores.h5" \
    --features clv,x,t_x,m,p_alive --transform log1p --scale zscore --k-range 2:5 --seed 42 -o "$T/cl.h5"
grep -q '^k = [2-5] (highest silhouette)' "$T/out" && ok || bad "cluster profile: $(cat "$T/out")"
"$CLV" inspect "$T/cl.h5" | grep -q '/clusters/label  *int32  *2357' && ok || bad "clusters table"
"$CLV" inspect "$T/cl.h5" | grep -q '/clusters_k/silhouette' && ok || bad "clusters_k table"
expect 0 "cluster json, 2 threads" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 4 --seed 7 --threads 2 --json -o "$T/c2.h5" -q
cp "$T/out" "$T/c2.json"
expect 0 "cluster json, 1 thread" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 4 --seed 7 --threads 1 --json -o "$T/c1.h5" -q
sed 's/"seconds": [0-9.]*//' "$T/out" >"$T/c1.json"
sed -i 's/"seconds": [0-9.]*//' "$T/c2.json"
cmp -s "$T/c1.json" "$T/c2.json" && ok || bad "cluster result depends on --threads"
for a in "--transform sqrt|unknown transform 'sqrt'" "--scale minmax|unknown scaling 'minmax'" \
    "-k 0|-k '0' must be >= 1" "--k-range 5:2|--k-range" "--n-init 0|--n-init '0' must be 1..1000" \
    "--max-iter 0|--max-iter '0' must be 1..1000000" "--tol -1|--tol '-1' must be >= 0" \
    "--block-rows 0|--block-rows '0' must be a positive number" "--seed x|--seed 'x'" \
    "--sample 3|--sample '3' must be >= 10" "--threads 0|--threads '0' must be 1..1024"; do
    opt=${a%%|*}; msg=${a#*|}
    # shellcheck disable=SC2086
    expect 64 "cluster $opt" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x $opt -o "$T/x.h5" && says "cluster $opt" "$msg"
done
expect 64 "cluster without --features" -- "$CLV" cluster "$T/cdnow.h5" -k 3 -o "$T/x.h5"
expect 66 "cluster --init missing" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x --init "$T/nothere.csv" -o "$T/x.h5"
says "cluster --init missing" "nothere.csv: cannot open"
printf 'x,t_x\n1,2\n3,oops\n' >"$T/badinit.csv"
expect 65 "cluster --init bad value" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x --init "$T/badinit.csv" -o "$T/x.h5"
says "cluster --init bad value" "badinit.csv:3"
expect 64 "cluster empty --features" -- "$CLV" cluster "$T/cdnow.h5" --features , -k 3 -o "$T/x.h5"
# Lloyd without bounds, tuned: no share skipped, the k-range scores in JSON
expect 0 "cluster lloyd, k range" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m --algorithm lloyd --k-range 2:3 \
    --n-init 2 --max-iter 50 --tol 0.001 --sample 500 --seed 3 --json -o "$T/c_lloyd.h5" -q
grep -q '"algorithm": "lloyd", "distances_skipped": \[\]' "$T/out" && grep -qF '"calinski_harabasz": ' "$T/out" && ok \
    || bad "cluster lloyd json: $(cut -c1-300 "$T/out")"
# auto: Lloyd for few centres; the bounds' work: none skipped in the first
# pass, a share per pass after it
grep -q '"algorithm": "lloyd", "distances_skipped": \[\]' "$T/c1.json" && ok \
    || bad "cluster --json: auto for k = 4: $(grep -o '"algorithm.\{0,80\}' "$T/c1.json")"
expect 0 "cluster hamerly json" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 4 --seed 7 --algorithm hamerly --json -o "$T/c1h.h5" -q
grep -q '"algorithm": "hamerly", "distances_skipped": \[0\.0000, 0\.[0-9]*' "$T/out" && ok \
    || bad "cluster --json: distances_skipped: $(grep -o '"algorithm.\{0,80\}' "$T/out")"
# Yinyang's group bounds (k = 30: 3 groups): its own name, a share
# skipped, and Lloyd's labels (h5dump; without SIMD it runs Hamerly's bounds)
expect 0 "cluster yinyang json" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 30 --seed 7 --algorithm yinyang --json -o "$T/c1y.h5" -q
grep -q '"algorithm": "\(yinyang\|hamerly\)", "distances_skipped": \[0\.0000, 0\.[0-9]*' "$T/out" && ok \
    || bad "cluster --json yinyang: $(grep -o '"algorithm.\{0,80\}' "$T/out")"
expect 0 "cluster lloyd k 30" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 30 --seed 7 --algorithm lloyd -o "$T/c1l.h5" -q
if command -v h5dump >/dev/null 2>&1; then
    [ "$(h5dump -d /clusters/label "$T/c1y.h5" | tail -n +2)" = "$(h5dump -d /clusters/label "$T/c1l.h5" | tail -n +2)" ] \
        && ok || bad "cluster --algorithm yinyang: labels differ from Lloyd's"
else
    skipped "h5dump missing: yinyang labels not compared"
fi
expect 0 "cluster float32" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 4 --float32 -o "$T/c3.h5" -q
# x (repeat purchases) takes a few dozen values: k = 64 leaves clusters empty, said once
expect 0 "cluster k above the distinct rows" -- "$CLV" cluster "$T/cdnow.h5" --features x -k 64 --json -o "$T/ce.h5" -q
says "cluster k above the distinct rows" "clusters ended empty (the features may take fewer than 64 distinct values)"
grep -q '"empty_clusters": [1-9][0-9]*,' "$T/out" && ok || bad "cluster --json: empty_clusters: $(grep -o '"empty_clusters.\{0,20\}' "$T/out")"
expect 0 "cluster no empty cluster" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m -k 4 --json -o "$T/ce.h5" -q
grep -q '"empty_clusters": 0,' "$T/out" && [ ! -s "$T/err" ] && ok || bad "cluster --json: empty_clusters 0 and no warning: $(cat "$T/err")"
printf 'x,t_x,T,m\n0,0,30,0\n3,20,35,30\n10,35,38,40\n' >"$T/init.csv"
expect 0 "cluster init file" -- "$CLV" cluster "$T/cdnow.h5" --features x,t_x,T,m --init "$T/init.csv" -o "$T/c4.h5" -q
expect 78 "cluster: protected feature" -- "$CLV" cluster "$T/cdnow.h5" --features x,Religion_ID -k 3 -o "$T/c5.h5"
says "cluster: protected feature" "feature 'Religion_ID' is a protected attribute (religion)"
expect 64 "cluster unknown feature" -- "$CLV" cluster "$T/cdnow.h5" --features x,colour -k 3 -o "$T/c5.h5"
says "cluster unknown feature" "feature 'colour' not found"
expect 64 "cluster k > n" -- "$CLV" cluster "$T/don.h5" --features x,t_x -k 50 -o "$T/c5.h5"
expect 64 "cluster without k" -- "$CLV" cluster "$T/cdnow.h5" --features x -o "$T/c5.h5"
expect 65 "cluster log1p of negative" -- "$CLV" cluster "$T/neg.h5" --features total --transform log1p -k 1 -o "$T/c5.h5"
[ ! -e "$T/c5.h5" ] && ok || bad "failed cluster left an output"

# ---- k-means over data larger than memory (--stream) ---------------------------
printf 'x,t_x,m\n1,10,20\n5,30,40\n0,0,0\n10,50,100\n' >"$T/init4.csv"
expect 0 "cluster in memory, lloyd" -- "$CLV" cluster "$T/master.h5" --features x,t_x,m --transform log1p \
    --scale zscore --init "$T/init4.csv" --algorithm lloyd -o "$T/cm.h5" --json -q
sed 's/"seconds": [0-9.]*//' "$T/out" >"$T/cm.json"
expect 0 "cluster --stream" -- "$CLV" cluster "$T/master.h5" --features x,t_x,m --transform log1p \
    --scale zscore --init "$T/init4.csv" --stream --block-rows 5000 --threads 2 -o "$T/cs.h5" --json -q
sed 's/"seconds": [0-9.]*//' "$T/out" | cmp -s - "$T/cm.json" && ok || bad "cluster --stream differs from in-memory: $(cat "$T/out")"
if command -v h5dump >/dev/null 2>&1; then
    for ds in label centroids; do
        [ "$(h5dump -d /clusters/$ds "$T/cm.h5" | tail -n +2)" = "$(h5dump -d /clusters/$ds "$T/cs.h5" | tail -n +2)" ] \
            && ok || bad "cluster --stream: /clusters/$ds differs"
    done
fi
expect 0 "cluster --stream sampled init" -- "$CLV" cluster "$T/master.h5" --features x,t_x,m --transform log1p -k 4 --stream -o "$T/cs2.h5" -q
expect 64 "cluster --stream k range" -- "$CLV" cluster "$T/master.h5" --features x,t_x --k-range 2:4 --stream -o "$T/cs3.h5"
expect 64 "cluster --stream robust" -- "$CLV" cluster "$T/master.h5" --features x,t_x -k 3 --scale robust --stream -o "$T/cs3.h5"
expect 64 "cluster bad algorithm" -- "$CLV" cluster "$T/master.h5" --features x,t_x -k 3 --algorithm elkan -o "$T/cs3.h5"

# ---- tier models end to end ------------------------------------------------
MODELS=$(cd "$(dirname "$0")/../../models" && pwd)
for mdl in default vip4 abc metal5 loyalty3 leads; do
    expect 0 "run $mdl" -- "$CLV" run -m "$MODELS/$mdl.ini" "$T/cdnow.h5" -o "$T/run_$mdl.h5" --json -q
    grep -qF '"customers": 2357' "$T/out" && grep -qF '"tiers": {' "$T/out" && ok || bad "run $mdl json: $(cat "$T/out")"
done
"$CLV" inspect "$T/run_vip4.h5" | grep -q '/tiers/tier  *int8  *2357' && ok || bad "run: /tiers table"
expect 0 "run csv input" -- "$CLV" run -m "$MODELS/vip4.ini" "$DATA/CDNOW_master.txt" -o "$T/runm.h5" --csv "$T/tiers.csv"
grep -q '^  VIP  ' "$T/out" && ok || bad "run prints the tiers: $(cat "$T/out")"
[ "$(wc -l <"$T/tiers.csv")" -eq 23571 ] && head -1 "$T/tiers.csv" | grep -q '^id,tier,loyalty,clv,p_alive$' && ok || bad "tiers.csv"
"$CLV" run -m "$MODELS/vip4.ini" "$DATA/CDNOW_master.txt" -o "$T/runm2.h5" --csv "$T/tiers2.csv" --threads 1 -q >/dev/null
cmp -s "$T/tiers.csv" "$T/tiers2.csv" && ok || bad "run: tiers differ between runs / thread counts"
# the same data again, compared with the first run: labels match, no customer moves
expect 0 "run --previous" -- "$CLV" run -m "$MODELS/vip4.ini" "$DATA/CDNOW_master.txt" -o "$T/runm3.h5" --previous "$T/runm.h5" \
    --json --markdown "$T/mig.md" --summary "$T/mig.json" --report "$T/mig.html" -q
grep -qF '"labels_matched": true' "$T/out" && ok || bad "run --previous: $(cat "$T/out")"
# report.html: the migration flow chart (one band per non-empty cell) and its table
grep -qF 'Tier migration (previous run, left; this run, right)' "$T/mig.html" \
    && grep -qF '<th>previous \ now</th>' "$T/mig.html" && grep -q '<path d="M[0-9.]*,[0-9.]* C' "$T/mig.html" \
    && grep -qF 'VIP &#8594; VIP' "$T/mig.html" && ok || bad "report.html: migration chart or table missing"
grep -qF '## Migration from' "$T/mig.md" && grep -q '^| VIP | [0-9]' "$T/mig.md" && ok \
    || bad "report.md: migration table: $(grep -A8 'Migration' "$T/mig.md")"
grep -qF '"migration": {"previous": ' "$T/mig.json" && grep -qF '"hysteresis_kept": ' "$T/mig.json" && ok \
    || bad "summary.json: migration: $(grep -o '"migration": .\{0,200\}' "$T/mig.json")"
"$PY" -c 'import sys' 2>/dev/null && [ -x "$PY" ] && "$PY" - "$T/out" <<'PYEOF' && ok || bad "migration is not diagonal: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
m = d["migration"]
tiers = list(d["tiers"].values())
assert all(m[r][c] == 0 for r in range(len(m)) for c in range(len(m[0])) if r != c)
assert [m[i][i] for i in range(len(tiers))] == tiers
PYEOF
expect 65 "run --previous not a result" -- "$CLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" -o "$T/r6.h5" --previous "$T/cdnow.h5" -q
says "run --previous not a result" "dataset /clusters/centroids missing"
printf '[features]\nuse = clv, x, religion\n' >"$T/prot.ini"
expect 78 "run protected feature" -- "$CLV" run -m "$T/prot.ini" "$T/cdnow.h5" -o "$T/r5.h5"
says "run protected feature" "prot.ini:2: [features] use: feature 'religion' is a protected attribute"
printf '[tiers]\nnames = a, b\nshares = 0.5, 0.6\n' >"$T/bad.ini"
expect 78 "run bad model" -- "$CLV" run -m "$T/bad.ini" "$T/cdnow.h5" -o "$T/r5.h5"
expect 66 "run missing model" -- "$CLV" run -m "$T/none.ini" "$T/cdnow.h5" -o "$T/r5.h5"
expect 66 "run missing input" -- "$CLV" run -m "$MODELS/vip4.ini" "$T/none.csv" -o "$T/r5.h5"
[ ! -e "$T/r5.h5" ] && ok || bad "failed run left an output"
ls "$T" | grep -q 'ingest-' && bad "run left its ingest temp file" || ok

# issue 14, cases 6-8: no output may be an input or another output, every
# input and output directory is checked before anything runs, and one run's
# outputs are published together (a late failure leaves every old output)
mkdir -p "$T/dl"
"$CLV" synth -n 3000 --seed 4 -o "$T/dl/in.csv" -q
cp "$MODELS/vip4.ini" "$T/dl/m.ini"
"$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" -q >/dev/null
for f in in.csv m.ini r.h5 r.html; do cp "$T/dl/$f" "$T/dl/$f.orig"; done
unchanged() { # name: every file as it was, no temp file
    for f in in.csv m.ini r.h5 r.html; do
        cmp -s "$T/dl/$f" "$T/dl/$f.orig" || { bad "$1: $f changed"; return; }
    done
    if ls "$T/dl" | grep -q -e '\.tmp-' -e 'ingest-'; then bad "$1: temp file left: $(ls "$T/dl")"; else ok; fi
}
expect 64 "run --csv = input" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r2.h5" --csv "$T/dl/in.csv"
says "run --csv = input" "is both an input and an output"
unchanged "run --csv = input"
expect 64 "run --report = model" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r2.h5" --report "$T/dl/m.ini"
unchanged "run --report = model"
expect 64 "run -o = input" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/in.csv"
unchanged "run -o = input"
expect 64 "run -o = --csv" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --csv "$T/dl/r.h5"
says "run -o = --csv" "is given for two outputs"
unchanged "run -o = --csv"
expect 64 "run --report = --markdown" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --report "$T/dl/x" --markdown "$T/dl/./x"
unchanged "run --report = --markdown"
expect 64 "tier -o = input" -- "$CLV" tier -m "$T/dl/m.ini" "$T/dl/r.h5" -o "$T/dl/r.h5"
unchanged "tier -o = input"
expect 73 "run report in a missing directory" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --report "$T/dl/nodir/r.html"
says "run report in a missing directory" "directory $T/dl/nodir does not exist"
unchanged "run report in a missing directory"
expect 66 "run missing --id-key" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --csv "$T/dl/t.csv" --id-key "$T/dl/nokey"
unchanged "run missing --id-key"
: >"$T/dl/emptykey" # found only when the report is written: after the result
sed 's/^seed.*/seed = 99/' "$T/dl/m.ini" >"$T/dl/m2.ini"
expect 65 "run failing at the report" -- "$CLV" run -m "$T/dl/m2.ini" "$T/dl/in.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" --csv "$T/dl/t.csv" --id-key "$T/dl/emptykey" -q
unchanged "run failing at the report"
[ ! -e "$T/dl/t.csv" ] && ok || bad "run failing at the report: wrote t.csv"
# the other commands: an output that is the input is refused, nothing changed
"$CLV" ingest "$T/dl/in.csv" -o "$T/dl/d.h5" -q && cp "$T/dl/d.h5" "$T/dl/d.orig"
expect 64 "fit -o = data" -- "$CLV" fit "$T/dl/d.h5" -m bgnbd -o "$T/dl/d.h5" -q
"$CLV" fit "$T/dl/d.h5" -m bgnbd -o "$T/dl/f.h5" -q && cp "$T/dl/f.h5" "$T/dl/f.orig"
expect 64 "score -o = fit" -- "$CLV" score "$T/dl/d.h5" --fit "$T/dl/f.h5" -o "$T/dl/f.h5" -q
expect 64 "cluster -o = data" -- "$CLV" cluster "$T/dl/d.h5" --features x,t_x -k 3 -o "$T/dl/d.h5" -q
expect 64 "report --html = result" -- "$CLV" report "$T/dl/r.h5" --html "$T/dl/r.h5" -q
cmp -s "$T/dl/d.h5" "$T/dl/d.orig" && cmp -s "$T/dl/f.h5" "$T/dl/f.orig" && ok || bad "fit/score/cluster -o = input changed a file"
unchanged "report --html = result"
# case 9: SIGTERM and SIGINT remove the temp files (outputs, the ingested CSV).
# A background job of a non-interactive shell starts with SIGINT ignored, so a
# SIGINT sent before main() installs the handler is lost (a slow start: the
# sanitizer build's, a loaded machine): the delays count from the moment the
# process catches SIGINT (its SigCgt mask in /proc).
caught_int() { # pid: wait (at most 10 s) until the process catches SIGINT
    i=0
    while [ "$i" -lt 200 ]; do
        m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
        [ -n "$m" ] || return 0 # no /proc, or the process is gone
        [ $((0x$m & 2)) -ne 0 ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
}
"$CLV" synth -n 200000 --seed 4 -o "$T/dl/big.csv" -q
# The kills fall at a fifth, a half and seven tenths of a whole run, timed here
# on this machine: fixed delays were overtaken once the stages got faster (a run
# that has finished before its signal publishes r.h5, as it should).
# The shorter of two timed runs: one slowed by other work on the machine
# would put the kills after a later, faster run has finished.
cp "$T/dl/r.h5" "$T/dl/r.keep" && cp "$T/dl/r.html" "$T/dl/r.html.keep"
trun=
for rep in 1 2; do
    t0=$(date +%s.%N)
    "$CLV" run -m "$T/dl/m2.ini" "$T/dl/big.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" -q >/dev/null 2>&1
    t1=$(date +%s.%N)
    trun=$(awk -v a="$t0" -v b="$t1" -v p="$trun" 'BEGIN { t = b - a; if (p != "" && p < t) t = p; printf "%.3f", t }')
done
mv "$T/dl/r.keep" "$T/dl/r.h5" && mv "$T/dl/r.html.keep" "$T/dl/r.html"
delays=$(awk -v t="$trun" 'BEGIN { printf "%.2f %.2f %.2f", t / 5, t / 2, t * 7 / 10 }')
for sig in TERM INT; do
    for d in $delays; do
        "$CLV" run -m "$T/dl/m2.ini" "$T/dl/big.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" -q >/dev/null 2>&1 &
        pid=$!
        caught_int "$pid"
        sleep "$d"
        kill -s "$sig" "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
        if [ "$rc" -eq 0 ]; then # finished before the signal: it published
            for f in r.h5 r.html; do cp "$T/dl/$f.orig" "$T/dl/$f"; done
            # allowed only for the last kill (the timed run may have been slowed
            # by load); the earlier kills must find it running
            if [ "$d" = "${delays##* }" ]; then
                echo "note: run finished before SIG$sig at $d s (the last of $delays)"
                ok
            else
                bad "run killed by SIG$sig after $d s: it had finished (exit 0)"
            fi
        else
            unchanged "run killed by SIG$sig after $d s"
        fi
    done
done

# issue 14, case 18: run --features warns about feature rows it cannot join;
# run's errors name its output, not its (removed) intermediate file; an HDF5
# input another process holds open for writing is said to be locked
printf 'id,seg\nC000001,1\nnobody,2\n' >"$T/dl/feat.csv"
"$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/rf.h5" --features "$T/dl/feat.csv" -q >/dev/null 2>"$T/err"
says "run --features unknown ids" "warning: 1 feature rows name customers with no transactions (e.g. nobody)"
(ulimit -f 40; "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/rf2.h5" -q >/dev/null 2>"$T/err")
grep -q 'ingest-' "$T/err" && bad "run error names its intermediate file: $(cat "$T/err")" || ok
says "run error on the intermediate file" "rf2.h5: cannot write output: File too large (ingesting"
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" -c 'import h5py, sys, time; f = h5py.File(sys.argv[1], "a"); time.sleep(3)' "$T/dl/rf.h5" &
    sleep 1.5
    expect 74 "locked input" -- "$CLV" inspect "$T/dl/rf.h5"
    says "locked input" "is locked: another process has it open for writing"
    wait
else
    skipped "locked input (no /usr/bin/python3 with h5py)"
fi

# issue 14: a full disk, not only a file-size limit. As root, a small tmpfs
# holds a previous run's outputs; `run` on a larger log then fails for lack of
# space at whatever stage the size allows (the intermediate ingest, the
# result, the CSV or the report). Each time: exit 74, one line naming the
# output and ENOSPC, every previous output byte for byte, no temp file. On a
# size that is large enough the run succeeds and all its outputs are new.
# Without root (or where tmpfs cannot be mounted) it skips and says so.
mkdir -p "$T/full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=1m tmpfs "$T/full" 2>/dev/null; then
    umount "$T/full"
    "$CLV" synth -n 40000 --seed 5 -o "$T/dl/big.csv" -q
    "$CLV" run -m "$T/dl/m.ini" "$T/dl/in.csv" -o "$T/dl/f.h5" --report "$T/dl/f.html" --csv "$T/dl/f.csv" -q >/dev/null
    nfail=0
    for sz in 1m 3m 6m 8m 8300k 64m; do
        mount -t tmpfs -o "size=$sz" tmpfs "$T/full"
        for f in f.h5 f.html f.csv; do cp "$T/dl/$f" "$T/full/$f"; done
        "$CLV" run -m "$T/dl/m.ini" "$T/dl/big.csv" -o "$T/full/f.h5" --report "$T/full/f.html" \
            --csv "$T/full/f.csv" -q >/dev/null 2>"$T/err"
        rc=$?
        left=$(ls -A "$T/full" | grep -v -x -e f.h5 -e f.html -e f.csv)
        [ -z "$left" ] && ok || bad "tmpfs $sz: temp files left: $left"
        same=0
        for f in f.h5 f.html f.csv; do cmp -s "$T/dl/$f" "$T/full/$f" && same=$((same + 1)); done
        if [ "$rc" -eq 74 ]; then
            nfail=$((nfail + 1))
            [ "$same" -eq 3 ] && ok || bad "tmpfs $sz: a failed run changed $((3 - same)) previous outputs"
            [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "f.h5: cannot write output: No space left on device" "$T/err" \
                && ok || bad "tmpfs $sz: message: $(cat "$T/err")"
        elif [ "$rc" -eq 0 ]; then
            [ "$same" -eq 0 ] && ok || bad "tmpfs $sz: run succeeded but $same outputs are the old ones"
        else
            bad "tmpfs $sz: exit $rc, want 74 or 0: $(cat "$T/err")"
        fi
        [ "$sz" = 64m ] && { [ "$rc" -eq 0 ] && ok || bad "tmpfs 64m: the run should fit"; }
        umount "$T/full"
    done
    # the sizes must reach different stages, not only the first write
    [ "$nfail" -ge 4 ] && ok || bad "tmpfs: only $nfail of 5 small sizes failed"
    # ingest and synth on a full disk: the previous file kept, no temp file
    mount -t tmpfs -o size=1m tmpfs "$T/full"
    cp "$T/cdnow.h5" "$T/full/keep.h5"
    expect 74 "ingest on a full disk" -- "$CLV" ingest "$T/dl/big.csv" -o "$T/full/keep.h5"
    says "ingest on a full disk" "No space left on device"
    cmp -s "$T/cdnow.h5" "$T/full/keep.h5" && ok || bad "ingest on a full disk changed the previous output"
    expect 74 "synth on a full disk" -- "$CLV" synth -n 40000 -o "$T/full/s.csv"
    [ "$(ls -A "$T/full")" = keep.h5 ] && ok || bad "full disk: files left: $(ls -A "$T/full")"
    umount "$T/full"
else
    skipped "full-disk tests on a small tmpfs (need root and mount -t tmpfs)"
fi

# issue 14, case 17: ids written by h5py as numpy byte strings ('S' dtype,
# ASCII) are read; a read error names the column
if [ -x "$PY" ] && "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    "$CLV" synth -n 3000 --seed 6 -o "$T/dl/sy.h5" -q
    "$PY" - "$T/dl/sy.h5" "$T/dl/hp.h5" <<'PYEOF'
import sys
import h5py
import numpy as np
src = h5py.File(sys.argv[1], "r")["customers"]
with h5py.File(sys.argv[2], "w") as f:
    g = f.create_group("customers")
    g["id"] = np.array([s.encode() for s in src["id"].asstr()[:]], dtype="S12")
    for c in ("x", "t_x", "T", "m"):
        g[c] = src[c][:]
PYEOF
    expect 0 "run on h5py 'S' ids" -- "$CLV" run -m "$T/dl/m.ini" "$T/dl/hp.h5" -o "$T/dl/hpr.h5" --csv "$T/dl/hp.csv" -q
    sed -n 2p "$T/dl/hp.csv" | grep -q '^C[0-9]' && ok || bad "h5py 'S' ids in tiers.csv: $(sed -n 2p "$T/dl/hp.csv")"
    "$PY" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "a"); del f["customers/x"]; f["customers/x"] = f["customers/T"][:5]' "$T/dl/hp.h5"
    "$CLV" fit "$T/dl/hp.h5" -m bgnbd -o "$T/dl/hpf.h5" -q 2>"$T/err"
    grep -q "column 'x'" "$T/err" && ok || bad "a bad column is not named: $(cat "$T/err")"
else
    skipped "h5py 'S' ids (no /usr/bin/python3 with h5py)"
fi

# issue 14, case 16: a 3 KB file declaring 10^9 rows is refused before any
# allocation (the declared size against the bytes the file holds)
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" -c '
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("customers")
    for c in ("x", "t_x", "T"):
        g.create_dataset(c, shape=(10**9,), dtype="f8", chunks=(1024,))
' "$T/dl/huge.h5"
    "$CLV" fit "$T/dl/huge.h5" -m bgnbd -o "$T/dl/hf.h5" >/dev/null 2>"$T/err"
    echo $? >"$T/rc"
    [ "$(cat "$T/rc")" = 65 ] && ok || bad "huge declared table: exit $(cat "$T/rc"), want 65: $(cat "$T/err")"
    says "huge declared table" "declares 1000000000 rows (8e+09 bytes) but the file holds 0 bytes"
else
    skipped "huge declared table (no /usr/bin/python3 with h5py)"
fi

# a customer with x = 4e9 repeat purchases (the largest x accepted): the
# per-x tables hold the distinct x values, not 0..max x (CI's fuzzer found
# a 480 GB table request here)
printf 'id,x,t_x,T,m\na,3,10,20,5\nb,0,0,30,0\nc,4000000000,25,30,7\nd,2,5,30,9\ne,1,4,30,12\n' >"$T/dl/bigx.csv"
expect 0 "huge x ingest" -- "$CLV" ingest --summary "$T/dl/bigx.csv" -o "$T/dl/bigx.h5"
for m in bgnbd mbgnbd; do
    expect 0 "huge x fit $m" -- "$CLV" fit "$T/dl/bigx.h5" -m $m -q -o "$T/dl/bigx-$m.h5"
done
# four repeat buyers, one with 4e9 purchases: the spend model has no finite
# optimum here, and says so (not out of memory, exit 71)
expect 65 "huge x fit gammagamma" -- "$CLV" fit "$T/dl/bigx.h5" -m gammagamma -q -o "$T/dl/bigx-gg.h5"
says "huge x fit gammagamma" "no convergence"

# crash injection: kill -9 ingest and run at 20 pseudo-random moments each
# (fixed seed); every time the previous outputs stay byte for byte, and the
# next run leaves no temp file (it removes those of killed processes)
"$CLV" ingest "$T/dl/big.csv" -o "$T/dl/big.h5" -q && cp "$T/dl/big.h5" "$T/dl/big.orig"
for f in r.h5 r.html; do cp "$T/dl/$f" "$T/dl/$f.orig"; done
crash() { # name delay command...: SIGKILL after delay; outputs as before unless it finished
    name=$1 d=$2
    shift 2
    "$@" >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    if [ "$rc" = 137 ] && cmp -s "$T/dl/big.h5" "$T/dl/big.orig" && cmp -s "$T/dl/r.h5" "$T/dl/r.h5.orig" &&
        cmp -s "$T/dl/r.html" "$T/dl/r.html.orig"; then
        ok
    else # killed after publishing, or finished: complete new outputs; the old ones back for the next round
        "$CLV" inspect "$T/dl/big.h5" >/dev/null 2>&1 && "$CLV" inspect "$T/dl/r.h5" >/dev/null 2>&1 &&
            ok || bad "$name finished (exit $rc) with an unreadable output"
        cp "$T/dl/big.orig" "$T/dl/big.h5"
        cp "$T/dl/r.h5.orig" "$T/dl/r.h5"
        cp "$T/dl/r.html.orig" "$T/dl/r.html"
    fi
}
for d in $(awk 'BEGIN { srand(14); for (i = 0; i < 20; i++) printf "%.2f ", 0.02 + rand() * 0.9 }'); do
    crash "ingest" "$d" "$CLV" ingest "$T/dl/big.csv" -o "$T/dl/big.h5" -q
done
for d in $(awk -v t="$trun" 'BEGIN { srand(15); for (i = 0; i < 20; i++) printf "%.2f ", 0.02 + rand() * t }'); do
    crash "run" "$d" "$CLV" run -m "$T/dl/m2.ini" "$T/dl/big.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" -q
done
expect 0 "ingest after the crashes" -- "$CLV" ingest "$T/dl/big.csv" -o "$T/dl/big.h5" -q
expect 0 "run after the crashes" -- "$CLV" run -m "$T/dl/m2.ini" "$T/dl/big.csv" -o "$T/dl/r.h5" --report "$T/dl/r.html" -q
if ls "$T/dl" | grep -q -e '\.tmp-' -e 'ingest-'; then bad "temp files left after the crashes: $(ls "$T/dl")"; else ok; fi

# ---- reports -----------------------------------------------------------------
R=$T/rep
mkdir -p "$R"
expect 0 "run --report" -- "$CLV" run -m "$MODELS/vip4.ini" "$DATA/CDNOW_master.txt" -o "$R/res.h5" \
    --report "$R/report.html" --summary "$R/summary.json" --markdown "$R/report.md" --csv "$R/tiers.csv" -q
for sec in 'id=tiers' 'id=fit' 'P(alive) by frequency and recency' 'id=clusters' 'Silhouette by k' \
    'id=migration' 'id=actions' 'Dedicated account manager' 'id=audit' 'id=notes' 'SHA-256'; do
    grep -qF "$sec" "$R/report.html" && ok || bad "report.html lacks '$sec'"
done
[ "$(grep -o '<svg' "$R/report.html" | wc -l)" -ge 6 ] && ok || bad "report.html: fewer than 6 charts"
# self-contained: nothing fetched (the only URL is the SVG namespace)
grep -o 'src=\|href=\|url(\|https\?://[^"]*' "$R/report.html" | grep -v 'http://www.w3.org/2000/svg' | grep -q . \
    && bad "report.html refers to outside resources" || ok
grep -q '^| 1 | VIP | 3208 |' "$R/report.md" && ok || bad "report.md tier table: $(head -12 "$R/report.md")"
grep -qF '"schema": "clvtier-summary/1"' "$R/summary.json" && grep -qF '"VIP": 3208' "$R/summary.json" && ok \
    || bad "summary.json"
# the report subcommand gives the same files from the result
expect 0 "report" -- "$CLV" report "$R/res.h5" --summary "$R/s2.json" --markdown "$R/r2.md" --html "$R/r2.html"
cmp -s "$R/summary.json" "$R/s2.json" && cmp -s "$R/report.md" "$R/r2.md" && cmp -s "$R/report.html" "$R/r2.html" \
    && ok || bad "clvtier report differs from run --report"
expect 64 "report without outputs" -- "$CLV" report "$R/res.h5"
expect 65 "report on a non-result" -- "$CLV" report "$T/cdnow.h5" --summary "$R/x.json"
says "report on a non-result" "not a tier result"
[ ! -e "$R/x.json" ] && ok || bad "failed report left an output"
if [ -x "$PY" ]; then
    "$PY" - "$R/summary.json" <<'PYEOF' && ok || bad "summary.json schema"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("schema", "model", "data", "customers", "fits", "clv", "repeat_purchases", "clusters",
          "tiers", "loyalty", "tier_profiles", "migration", "audit", "notes", "min_group"):
    assert k in d, k
assert d["customers"] == 23570 and sum(d["tiers"].values()) == 23570
# vip4 says purchase = auto with loyalty by P(alive), so BG/NBD (P(alive) = 1
# for every one-time buyer) is no candidate; no holdout split here, so the
# smallest BIC picks MBG/NBD (346,629 against Pareto/NBD's 346,696)
c = d["model_choice"]
assert c["chosen"] == "mbgnbd" and "BIC" in c["rule"], c
assert [x["model"] for x in c["candidates"]] == ["mbgnbd", "pareto"], c
assert min(c["candidates"], key=lambda x: x["bic"])["model"] == "mbgnbd"
f = d["fits"]["mbgnbd"]
assert set(f["params"]) == {"r", "alpha", "a", "b"} and f["converged"] is True
assert abs(sum(d["repeat_purchases"]["observed"]) - 23570) < 1e-6
assert abs(sum(d["repeat_purchases"]["expected"]) - 23570) < 1.0
assert abs(sum(t["clv_total"] for t in d["tier_profiles"] if t["clv_total"]) - d["clv"]["total"]) < 1e-3
for t in d["tier_profiles"]:  # issue 15: each tier's CLV total with its 90 % interval
    if t["clv_total"]:
        assert t["clv_total_lo"] < t["clv_total"] < t["clv_total_hi"], t
assert d["clusters"]["k"] == len([t for t in d["tier_profiles"] if t["customers"]]) or True
PYEOF
else
    skipped "python3 not installed: summary.json schema check"
fi
# issue 15: one-time buyers silent since early 1997 are not "loyal" (BG/NBD
# would give them P(alive) = 1; auto does not offer it for P(alive) loyalty)
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$R/res.h5" <<'PYEOF' && ok || bad "one-time buyers classed loyal"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
x, loy = f["customers/x"][:], f["tiers/loyalty"][:]
assert x.size == 23570 and ((x == 0) & (loy == 0)).sum() == 0, ((x == 0) & (loy == 0)).sum()
PYEOF
else
    skipped "one-time buyers not loyal (no /usr/bin/python3 with h5py)"
fi
# issue 15: tier stability over parameter draws: the same for any thread
# count and seed, within [0, 1], the per-tier borderline counts matching the
# column, in tiers.csv and summary.json
for th in 1 2; do
    expect 0 "run --stability ($th threads)" -- "$CLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" --stability 20 \
        --threads $th -o "$R/stab$th.h5" --csv "$R/stab$th.csv" --summary "$R/stab$th.json" \
        --report "$R/stab$th.html" --markdown "$R/stab$th.md" -q
done
# the report of a run with a holdout split: model choice, calibration, tier
# CLV intervals and stability, in HTML and Markdown
for sec in 'id=stability' 'Purchase model choice' 'Calibration: P(a purchase in the holdout)' '<small>90% ['; do
    grep -qF "$sec" "$R/stab1.html" && ok || bad "report.html lacks '$sec'"
done
for sec in '## Tier stability' '## Purchase model choice' '## Calibration' '(chosen)'; do
    grep -qF "$sec" "$R/stab1.md" && ok || bad "report.md lacks '$sec'"
done
cmp -s "$R/stab1.csv" "$R/stab2.csv" && ok || bad "stability differs between 1 and 2 threads"
head -1 "$R/stab1.csv" | grep -q ',stability$' && ok || bad "tiers.csv lacks stability"
grep -qF '"borderline_customers": ' "$R/stab1.json" && ok || bad "summary.json lacks stability"
expect 64 "run --stability -1" -- "$CLV" run -m "$MODELS/vip4.ini" "$T/cdnow.h5" --stability -1 -o "$R/x.h5"
if [ -x "$PY" ] && "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$R/stab1.h5" <<'PYEOF' && ok || bad "stability column and attributes"
import sys, h5py, numpy as np
t = h5py.File(sys.argv[1], "r")["tiers"]
s, tier = t["stability"][:], t["tier"][:]
assert t.attrs["stability_draws"] == 20 and np.all((s >= 0) & (s <= 1))
assert np.all(s * 20 == np.round(s * 20))  # shares of 20 draws
b = t.attrs["stability_borderline_customers"]
for k in range(len(b)):
    assert b[k] == ((tier == k) & (s < 0.8)).sum(), (k, b[k])
PYEOF
else
    skipped "stability column (no /usr/bin/python3 with h5py)"
fi
# small-group suppression
expect 0 "report --min-group" -- "$CLV" report "$R/res.h5" --min-group 4000 --summary "$R/s3.json" --markdown "$R/r3.md"
grep -qF '"VIP": null' "$R/s3.json" && grep -qF '"important": 4774' "$R/s3.json" && ok || bad "suppression in summary.json"
grep -q '^| 1 | VIP | <4000 |' "$R/r3.md" && ok || bad "suppression in report.md"
grep -qF '3208' "$R/r3.md" && bad "suppressed count still in report.md" || ok
# pseudonymised ids
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$R/key"
printf 'short' >"$R/shortkey"
expect 0 "report --id-key" -- "$CLV" report "$R/res.h5" --csv "$R/p1.csv" --id-key "$R/key"
"$CLV" report "$R/res.h5" --csv "$R/p2.csv" --id-key "$R/key"
head -1 "$R/p1.csv" | grep -q '^pseudonym,tier,loyalty,clv,p_alive$' && ok || bad "pseudonym header"
[ "$(cut -d, -f1 "$R/p1.csv" | grep -c '^[0-9a-f]\{32\}$')" -eq 23570 ] && ok || bad "pseudonyms are not 32 hex digits"
[ "$(cut -d, -f1 "$R/p1.csv" | sort -u | wc -l)" -eq 23571 ] && ok || bad "pseudonyms collide"
cut -d, -f1 "$R/p1.csv" | grep -qx '00001' && bad "real id in pseudonymised csv" || ok
cmp -s "$R/p1.csv" "$R/p2.csv" && ok || bad "pseudonyms not stable under one key"
cut -d, -f2- "$R/p1.csv" | tail -n +2 | cmp -s - "$(cut -d, -f2- "$R/tiers.csv" | tail -n +2 >"$R/rest"; echo "$R/rest")" \
    && ok || bad "pseudonymised csv differs beyond the id"
expect 65 "short key" -- "$CLV" report "$R/res.h5" --csv "$R/p3.csv" --id-key "$R/shortkey"
says "short key" "at least 16"
# clvtier tier: another ladder over the same clusters
expect 0 "tier metal5" -- "$CLV" tier -m "$MODELS/metal5.ini" "$R/res.h5" -o "$R/metal.h5" --summary "$R/metal.json" --json -q
grep -qF '"diamond": 3208' "$T/out" && grep -qF '"diamond": 3208' "$R/metal.json" && ok || bad "tier metal5: $(cat "$T/out")"
expect 0 "tier same model, previous" -- "$CLV" tier -m "$MODELS/vip4.ini" "$R/res.h5" -o "$R/again.h5" --previous "$R/res.h5" --json -q
grep -qF '"migration": [[3208, 0, 0, 0, 0, 0], [0, 4774, 0, 0, 0, 0], [0, 0, 3533, 0, 0, 0], [0, 0, 0, 12055, 0, 0]' "$T/out" \
    && ok || bad "tier: identity migration: $(cat "$T/out")"
# customers the first run left ungraded (min_age 70 weeks) are graded by a
# model with min_age 4: each to the nearest centroid of the first run
sed 's/^min_age = 4$/min_age = 70/' "$MODELS/vip4.ini" >"$R/old70.ini"
"$CLV" run -m "$R/old70.ini" "$DATA/CDNOW_master.txt" -o "$R/o70.h5" --json -q >"$R/o70.json"
young=$(sed -n 's/.*"new": \([0-9]*\).*/\1/p' "$R/o70.json")
expect 0 "tier grades the previously young" -- "$CLV" tier -m "$MODELS/vip4.ini" "$R/o70.h5" -o "$R/t4.h5" --json -q
[ "${young:-0}" -gt 1000 ] && grep -qF '"new": 0}' "$T/out" \
    && "$CLV" inspect "$R/t4.h5" | grep -q "assigned_to_nearest_centroid = $young\$" && ok \
    || bad "tier: $young young customers were not assigned: $(cat "$T/out")"
expect 65 "tier on plain data" -- "$CLV" tier -m "$MODELS/vip4.ini" "$T/cdnow.h5" -o "$R/bad.h5"
[ ! -e "$R/bad.h5" ] && ok || bad "failed tier left an output"
# fairness audit: a protected column joined as a feature file, audited, never clustered
awk -F, 'NR > 1 { print $1 "," ($4 > 30 ? 1 : 0) }' "$R/tiers.csv" | sed '1i id,gender' >"$R/gender.csv"
sed 's/^review = monthly$/review = monthly\n\n[protected]\naudit = gender/' "$MODELS/vip4.ini" >"$R/audit.ini"
expect 0 "run with audit" -- "$CLV" run -m "$R/audit.ini" "$DATA/CDNOW_master.txt" --features "$R/gender.csv" \
    -o "$R/aud.h5" --summary "$R/aud.json" --report "$R/aud.html" --markdown "$R/aud.md" -q
grep -qF '## Fairness audit: gender (never used for clustering)' "$R/aud.md" \
    && grep -q '^| clv | 0\.[0-9]* | \*\*yes\*\* |$' "$R/aud.md" && ok \
    || bad "report.md: audit section or proxy flag missing: $(grep -A12 'Fairness audit' "$R/aud.md")"
grep -qF '"column": "gender"' "$R/aud.json" && grep -qF '"clv": {"eta2": ' "$R/aud.json" && ok || bad "audit in summary.json"
grep -qF '"clv": {"eta2": 0.' "$R/aud.json" && grep -o '"clv": {"eta2": [0-9.e-]*, "proxy": true' "$R/aud.json" | grep -q . \
    && ok || bad "clv (the source of the planted column) is not flagged as a proxy: $(grep -o '"features": {[^}]*}[^}]*}' "$R/aud.json")"
"$CLV" report "$R/aud.h5" --csv "$R/aud.csv" && cmp -s "$R/aud.csv" "$R/tiers.csv" \
    && ok || bad "the audited column changed the tiers"
grep -qF 'yes: review' "$R/aud.html" && ok || bad "report.html does not flag the proxy"
sed 's/^use = clv, x, t_x, m, p_alive$/use = clv, x, gender/' "$R/audit.ini" >"$R/audit2.ini"
expect 78 "audit column as feature" -- "$CLV" run -m "$R/audit2.ini" "$R/aud.h5" -o "$R/aud2.h5"
printf '[protected]\naudit = ethnicity\n' >"$R/audit3.ini"
expect 78 "audit column missing" -- "$CLV" run -m "$R/audit3.ini" "$T/cdnow.h5" -o "$R/aud3.h5" -q
says "audit column missing" "audit: column 'ethnicity' is not in the input's /features"
# loyalty on P(no purchase in the next t periods) instead of P(alive)
sed -e 's/^\[loyalty\]$/[loyalty]\nmetric = p_no_purchase\nperiods = 13/' -e 's/^loyal = 0.7$/loyal = 0.5/' \
    -e 's/^lost = 0.3$/lost = 0.9/' "$MODELS/loyalty3.ini" >"$R/nopurch.ini"
expect 0 "loyalty on p_no_purchase" -- "$CLV" run -m "$R/nopurch.ini" "$R/res.h5" -o "$R/np.h5" --summary "$R/np.json" --json -q
grep -o '"loyalty": {[^}]*}' "$T/out" >"$R/np-run"
grep -qF '"loyalty_rule": {"metric": "p_no_purchase", "periods": 13, "loyal": 0.5, "lost": 0.9}' "$R/np.json" \
    && ok || bad "p_no_purchase rule in summary.json"
"$CLV" inspect "$R/np.h5" | grep -q '/tiers/p_no_purchase  *float64' && ok || bad "/tiers/p_no_purchase missing"
"$CLV" tier -m "$R/nopurch.ini" "$R/np.h5" -o "$R/np2.h5" --json -q | grep -o '"loyalty": {[^}]*}' | cmp -s - "$R/np-run" \
    && ok || bad "tier and run disagree on p_no_purchase loyalty"
cmp -s "$R/np-run" "$(grep -o '"loyalty": {[^}]*}' "$R/s2.json" >"$R/pa-run"; echo "$R/pa-run")" \
    && bad "p_no_purchase gives the same loyalty classes as p_alive" || ok
grep -v '^periods' "$R/nopurch.ini" >"$R/np-bad1.ini"
expect 78 "p_no_purchase without periods" -- "$CLV" run -m "$R/np-bad1.ini" "$R/res.h5" -o "$R/npb.h5"
says "p_no_purchase without periods" "needs periods"
sed 's/^lost = 0.9$/lost = 0.2/' "$R/nopurch.ini" >"$R/np-bad2.ini"
expect 78 "p_no_purchase thresholds reversed" -- "$CLV" run -m "$R/np-bad2.ini" "$R/res.h5" -o "$R/npb.h5"

# a weighted summary (equal (x, t_x, T) collapsed): counts are customers, not rows
{
    echo "frequency,recency,T,weights"
    awk -F, 'NR > 1 { k = $2 "," $3 "," $4; n[k]++ } END { for (k in n) print k "," n[k] }' \
        "$DATA/cdnow_customers_summary.csv" | sort
} >"$R/cdw.csv"
"$CLV" ingest --summary "$R/cdw.csv" -o "$R/cdw.h5" -q || bad "ingest of the weighted summary"
printf '[model]\nname = w\n[clv]\npurchase = bgnbd\nspend = none\nhorizon = 52\n[features]\nuse = x, t_x, p_alive\n[kmeans]\nk = 3\n[tiers]\nnames = a, b, c\nrank_by = p_alive\nassign = clusters\n[new]\nmin_age = 0\n' >"$R/w.ini"
expect 0 "run on a weighted summary" -- "$CLV" run -m "$R/w.ini" "$R/cdw.h5" -o "$R/wr.h5" --summary "$R/w.json" --markdown "$R/w.md" --json -q
grep -qF '"customers": 2357, "rows": ' "$T/out" && grep -qF '"customers": 2357,' "$R/w.json" && grep -qF '"graded": 2357,' "$R/w.json" \
    && ok || bad "weighted summary: customers are not counted by weight: $(head -c 200 "$T/out")"
grep -q 'nan' "$R/w.md" && bad "report.md prints nan for a missing spend column" || ok

# the HTML report renders in a browser, charts included
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ] && [ -x "$PY" ]; then
    # containers: no sandbox (root), no /dev/shm of size, no GPU
    timeout 120 "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --no-default-browser-check --hide-scrollbars --window-size=1100,4000 \
        --user-data-dir="$R/chrome-profile" --screenshot="$R/shot.png" "file://$R/report.html" \
        >"$R/chrome.log" 2>&1
    if [ -s "$R/shot.png" ]; then
        # bar colours (customers, CLV) and both ends of the heat map's ramp
        set -- $("$PY" "$(dirname "$0")/png_colors.py" "$R/shot.png" 1b6ca8 e07b39 440154 fde725)
        [ "${1:-0}" -gt 2000 ] && [ "${2:-0}" -gt 2000 ] && [ "${3:-0}" -gt 500 ] && [ "${4:-0}" -gt 50 ] \
            && ok || bad "chromium screenshot lacks the charts' colours (counts: $*)"
    else
        bad "chromium did not render report.html: $(tail -5 "$R/chrome.log")"
    fi
else
    skipped "chromium or python3 not installed: report.html not rendered (apt install chromium)"
fi

# ---- readable by other tools --------------------------------------------
if command -v h5dump >/dev/null 2>&1; then
    h5dump -H "$T/cdnow.h5" >"$T/dump" 2>&1 && grep -q 'DATASET "x"' "$T/dump" && ok \
        || bad "h5dump cannot read the output"
else
    skipped "h5dump not installed (apt install hdf5-tools)"
fi
if [ -x "$PY" ] && "$PY" -c 'import h5py, pandas' 2>/dev/null; then
    "$PY" - "$T/cdnow.h5" "$DATA/cdnow_customers_summary_with_transactions.csv" <<'PYEOF' && ok || bad "h5py/pandas read-back"
import sys, h5py, numpy as np, pandas as pd
f = h5py.File(sys.argv[1], "r")
g = f["customers"]
assert f.attrs["complete"] == 1 and g.attrs["encoding-type"] == "dataframe"
cols = [c for c in g.attrs["column-order"]]
df = pd.DataFrame({c: g[c][:] for c in cols}, index=[s.decode() for s in g[g.attrs["_index"]][:]])
ref = pd.read_csv(sys.argv[2]).set_index("ID")
ref.index = ref.index.astype(str).str.zfill(4)
df = df.loc[ref.index]
assert len(df) == 2357
assert np.allclose(df["x"], ref["x"]) and np.allclose(df["t_x"], ref["t_x"], atol=0.0051)
assert np.allclose(df["m"], ref["zbar"], atol=0.0051)
PYEOF
    "$PY" - "$T/foreign.h5" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("feat")
    g["spend"] = np.arange(5, dtype=np.float32)
    g["visits"] = np.arange(5, dtype=np.int16)
    g["name"] = np.array(["a", "bb", "ccc", "d", "e"], dtype=object)  # vlen str
PYEOF
    expect 0 "inspect h5py file" -- "$CLV" inspect "$T/foreign.h5"
    grep -q 'not written by clvtier' "$T/out" && grep -q '/feat/visits *int16 *5' "$T/out" && ok \
        || bad "inspect of an h5py file: $(cat "$T/out")"
else
    skipped "python3 with h5py+pandas not available (apt install python3-h5py python3-pandas)"
fi

# ---- issue 17: static covariates ---------------------------------------------
expect 0 "synth covariates h5" -- "$CLV" synth --model bgnbd -n 20000 --periods 104 --cohort 52 \
    --covariates web:b:0.5:-0.3,promo:b:-0.4:0.4,visits0:n:0.3:0.2 -o "$T/cov.h5" -q
expect 0 "fit covariates" -- "$CLV" fit "$T/cov.h5" --model bgnbd,gammagamma \
    --covariates-purchase web,promo,visits0 --covariates-dropout web,promo -o "$T/covfit.h5" --json
for k in '"trans.web": 0.' '"life.promo": 0.' '"lr_df": 5' '"process": "dropout"' '"lr_p_value": '; do
    grep -qF "$k" "$T/out" && ok || bad "fit --covariates json lacks $k: $(head -c 600 "$T/out")"
done
says "fit covariates table" "vs. no covariates: log-likelihood"
"$CLV" inspect "$T/covfit.h5" | grep -q '@covariates = web,promo,visits0,web,promo' && ok \
    || bad "covariate columns not stored in /fits/bgnbd"
expect 0 "score covariates" -- "$CLV" score "$T/cov.h5" --fit "$T/covfit.h5" --horizon 26 -o "$T/covsc.h5"
expect 0 "score covariates intervals" -- "$CLV" score "$T/cov.h5" --fit "$T/covfit.h5" \
    --intervals --dert 0.003 --alive-at 13 -o "$T/covsc2.h5"
for ds in clv_lo purchases_hi dert p_alive_at_13; do
    "$CLV" inspect "$T/covsc2.h5" | grep -q "/scores/$ds " && ok || bad "covariate score lacks $ds"
done
expect 78 "covariate protected" -- "$CLV" fit "$T/cov.h5" --model pareto \
    --covariates-dropout web,Religion -o "$T/x.h5"
says "covariate protected" "covariate 'Religion' is a protected attribute (religion)"
expect 78 "covariates with auto" -- "$CLV" fit "$T/cov.h5" --model auto --covariates-purchase web -o "$T/x.h5"
expect 78 "same-cov not in both" -- "$CLV" fit "$T/cov.h5" --model pareto --covariates-purchase web \
    --same-cov web -o "$T/x.h5"
expect 65 "covariate not a column" -- "$CLV" fit "$T/cov.h5" --model pareto --covariates-purchase nope -o "$T/x.h5"
says "covariate not a column" "covariate 'nope' is not a column of /features"
expect 0 "fit covariates constrained, penalised" -- "$CLV" fit "$T/cov.h5" --model pareto \
    --covariates-purchase web,promo --covariates-dropout promo --same-cov promo --penalty-cov 0.01 \
    -o "$T/covfit2.h5" --json -q
grep -qF '"constr.promo"' "$T/out" && grep -qF '"penalty_covariates": 0.01' "$T/out" && ok \
    || bad "constrained/penalised fit json: $(head -c 600 "$T/out")"
# the same customers as a transaction log and a features file, as a shop would have them
expect 0 "synth covariates csv" -- "$CLV" synth --model pareto -n 3000 --periods 104 --cohort 52 \
    --covariates web:b:0.5:-0.3,visits0:n:0.3:0.2 -o "$T/covlog.csv" --features-out "$T/covfeat.csv" -q
expect 64 "synth covariates csv without features-out" -- "$CLV" synth -n 10 \
    --covariates web:b:0.5:-0.3 -o "$T/x.csv"
awk -F, 'NR == 1 { print $0 ",one,web2"; next } { print $0 ",1," 2 * $2 + 1 }' "$T/covfeat.csv" >"$T/covfeat2.csv"
expect 0 "ingest covariates" -- "$CLV" ingest "$T/covlog.csv" --period week --features "$T/covfeat2.csv" -o "$T/covlog.h5" -q
expect 0 "fit covariates from a log" -- "$CLV" fit "$T/covlog.h5" --model pareto \
    --covariates-purchase web,visits0 --covariates-dropout web -o "$T/x.h5" -q
expect 65 "covariate constant" -- "$CLV" fit "$T/covlog.h5" --model bgnbd --covariates-purchase web,one -o "$T/x.h5"
says "covariate constant" "covariate 'one' is constant (1 for every customer)"
expect 65 "covariates collinear" -- "$CLV" fit "$T/covlog.h5" --model bgnbd --covariates-dropout web,web2 -o "$T/x.h5"
says "covariates collinear" "'web2' is a linear combination of 'web'"
awk -F, 'NR == 6 { print $1 ",," $3; next } { print }' "$T/covfeat.csv" >"$T/covfeat3.csv"
expect 0 "ingest covariates with a gap" -- "$CLV" ingest "$T/covlog.csv" --period week --features "$T/covfeat3.csv" -o "$T/covgap.h5" -q
expect 65 "covariate missing" -- "$CLV" fit "$T/covgap.h5" --model bgnbd --covariates-purchase web,visits0 -o "$T/x.h5"
says "covariate missing" "covariate 'web' is missing"
expect 0 "covariate missing dropped" -- "$CLV" fit "$T/covgap.h5" --model bgnbd --covariates-purchase web,visits0 \
    --covariate-missing drop -o "$T/x.h5"
says "covariate missing dropped" "1 customer(s) with a missing covariate left out of the fit"

# run with covariates from a model file, and the report's coefficient table
sed -e 's/^purchase = auto/purchase = pareto\ncovariates_purchase = web, visits0\ncovariates_dropout = web/' \
    -e 's/^\[tiers\]/[tiers]\nstability = 3/' models/vip4.ini >"$T/covm.ini"
expect 0 "run covariates" -- "$CLV" run "$T/covlog.csv" -m "$T/covm.ini" --features "$T/covfeat.csv" \
    -o "$T/covrun.h5" --markdown "$T/covrun.md" --report "$T/covrun.html" -q
grep -q '^| trans.visits0 | ' "$T/covrun.md" && grep -q 'likelihood-ratio statistic' "$T/covrun.md" && ok \
    || bad "run report lacks the coefficient table / LR test"
grep -q '^| 0 |\|^| actual |' "$T/covrun.md" && grep -q '^| expected |' "$T/covrun.md" && ok \
    || bad "run report with covariates lacks the repeat-purchase table"
grep -q 'trans.web' "$T/covrun.html" && ok || bad "html report lacks the coefficients"
"$CLV" inspect "$T/covrun.h5" | grep -q '/features/visits0' && ok || bad "run result lacks the covariates"
sed -e 's/^covariates_dropout = web/covariates_dropout = web, ethnicity/' "$T/covm.ini" >"$T/covbad.ini"
expect 78 "run covariate protected" -- "$CLV" run "$T/covlog.csv" -m "$T/covbad.ini" --features "$T/covfeat.csv" -o "$T/x.h5"
says "run covariate protected" "covbad.ini:"
says "run covariate protected" "covariate 'ethnicity' is a protected attribute"
sed -e 's/^purchase = pareto/purchase = auto/' "$T/covm.ini" >"$T/covauto.ini"
expect 78 "run covariates with auto" -- "$CLV" run "$T/covlog.csv" -m "$T/covauto.ini" --features "$T/covfeat.csv" -o "$T/x.h5"
says "run covariates with auto" "need a named purchase model"
expect 65 "run covariate not in features" -- "$CLV" run "$T/covlog.csv" -m "$T/covm.ini" -o "$T/x.h5" -q
says "run covariate not in features" "[clv] covariates:"

# a text column (a category) as dummies: the same fit as its dummies given by hand
"$CLV" synth --model bgnbd -n 5000 --periods 104 --cohort 52 --covariates a:b:0.5:-0.3,b:b:-0.4:0.4,v:n:0.3:0.1 \
    -o "$T/cat.csv" --features-out "$T/catf0.csv" -q
awk -F, 'NR == 1 { print "id,channel,v,d_shop,d_web,noise"; next }
    { ch = $2 == 1 ? "web" : ($3 == 1 ? "shop" : "email"); print $1 "," ch "," $4 "," ($2 == 0 && $3 == 1) "," ($2 == 1) ",n" NR }' \
    "$T/catf0.csv" >"$T/catf.csv"
expect 0 "ingest text features" -- "$CLV" ingest "$T/cat.csv" --period week --features "$T/catf.csv" -o "$T/cat.h5" -q
expect 0 "fit categorical" -- "$CLV" fit "$T/cat.h5" --model bgnbd --covariates-purchase channel,v \
    --covariates-dropout channel -o "$T/catfit.h5" --json -q
sed -e 's/channel=shop/d_shop/g; s/channel=web/d_web/g; s/"distinct_rows".*//' "$T/out" >"$T/cat1.json"
expect 0 "fit dummies by hand" -- "$CLV" fit "$T/cat.h5" --model bgnbd --covariates-purchase d_shop,d_web,v \
    --covariates-dropout d_shop,d_web -o "$T/x.h5" --json -q
sed -e 's/"distinct_rows".*//' "$T/out" >"$T/cat2.json"
cmp -s "$T/cat1.json" "$T/cat2.json" && ok || bad "categorical fit differs from its dummies: $(head -c 300 "$T/cat1.json") vs $(head -c 300 "$T/cat2.json")"
"$CLV" inspect "$T/catfit.h5" | grep -q '@covariate_reference = channel=email' && ok || bad "reference level not stored"
expect 0 "fit categorical reference" -- "$CLV" fit "$T/cat.h5" --model bgnbd --covariates-purchase channel \
    --cov-reference channel=web -o "$T/x.h5" --json -q
grep -qF '"trans.channel=email"' "$T/out" && grep -qF '"trans.channel=shop"' "$T/out" && ! grep -qF 'channel=web"' "$T/out" \
    && ok || bad "--cov-reference channel=web: $(head -c 400 "$T/out")"
expect 78 "fit categorical bad reference" -- "$CLV" fit "$T/cat.h5" --model bgnbd --covariates-purchase channel \
    --cov-reference channel=tv -o "$T/x.h5"
says "fit categorical bad reference" "reference level 'tv' is not a level of covariate 'channel'"
expect 65 "fit text with many values" -- "$CLV" fit "$T/cat.h5" --model bgnbd --covariates-purchase noise -o "$T/x.h5"
says "fit text with many values" "not a category"
expect 0 "score categorical" -- "$CLV" score "$T/cat.h5" --fit "$T/catfit.h5" -o "$T/catsc.h5" -q
awk -F, 'NR == 3 { $2 = "tv" } { print }' OFS=, "$T/catf.csv" >"$T/catf2.csv"
expect 0 "ingest a new level" -- "$CLV" ingest "$T/cat.csv" --period week --features "$T/catf2.csv" -o "$T/cat2.h5" -q
expect 65 "score with a level the fit did not know" -- "$CLV" score "$T/cat2.h5" --fit "$T/catfit.h5" -o "$T/x.h5"
says "score with a level the fit did not know" "covariate 'channel' = 'tv' is none of the levels"

# ---- issue 17: time-varying covariates (Pareto/NBD) ---------------------------
expect 0 "synth time-varying" -- "$CLV" synth --model pareto -n 3000 --periods 104 --cohort 52 \
    --covariates contact:db:0.7:0.5,income:n:-0.3:0 -o "$T/dyn.csv" --features-out "$T/dynf.csv" \
    --dynamic-out "$T/dynd.csv" --ahead 26 -q
head -1 "$T/dynd.csv" | grep -qx 'id,date,contact' && head -1 "$T/dynf.csv" | grep -qx 'id,income' && ok \
    || bad "synth time-varying files: $(head -1 "$T/dynd.csv") / $(head -1 "$T/dynf.csv")"
expect 64 "synth time-varying without dynamic-out" -- "$CLV" synth --model pareto -n 10 \
    --covariates contact:db:0.7:0.5 -o "$T/x.csv"
expect 64 "synth time-varying bgnbd" -- "$CLV" synth --model bgnbd -n 10 \
    --covariates contact:db:0.7:0.5 -o "$T/x.csv" --dynamic-out "$T/x2.csv"
expect 0 "ingest time-varying" -- "$CLV" ingest "$T/dyn.csv" --period week --features "$T/dynf.csv" \
    --dynamic-covariates "$T/dynd.csv" -o "$T/dyn.h5" --json
grep -qF '"dynamic_columns": 1' "$T/out" && ok || bad "ingest --dynamic-covariates json: $(cat "$T/out")"
expect 0 "fit time-varying" -- "$CLV" fit "$T/dyn.h5" --model pareto --covariates-purchase contact,income \
    --covariates-dropout contact -o "$T/dynfit.h5" --json -q
grep -qF '"time_varying": true' "$T/out" && ok || bad "fit time-varying json: $(head -c 400 "$T/out")"
# truth 0.7 and -0.3; standard errors about 0.03 and 0.04 here: within 4 of them
v=$(sed -n 's/.*"params": {[^}]*"trans.contact": \([-0-9.e]*\).*/\1/p' "$T/out")
w=$(sed -n 's/.*"params": {[^}]*"trans.income": \([-0-9.e]*\).*/\1/p' "$T/out")
awk -v v="$v" -v w="$w" 'BEGIN { exit !(v > 0.58 && v < 0.82 && w > -0.46 && w < -0.14) }' && ok \
    || bad "time-varying fit far from the truth: trans.contact $v (0.7), trans.income $w (-0.3)"
"$CLV" inspect "$T/dynfit.h5" | grep -q '@covariates_time_varying = 1' && ok || bad "fit lacks covariates_time_varying"
expect 0 "score time-varying" -- "$CLV" score "$T/dyn.h5" --fit "$T/dynfit.h5" --horizon 20 --discount 0.01 \
    -o "$T/dynsc.h5" --json -q
grep -qF '"total_clv": ' "$T/out" && ok || bad "score time-varying json: $(cat "$T/out")"
expect 65 "score past the covariates" -- "$CLV" score "$T/dyn.h5" --fit "$T/dynfit.h5" --horizon 40 -o "$T/x.h5"
says "score past the covariates" "scoring 40 periods ahead needs them through"
expect 0 "score time-varying intervals" -- "$CLV" score "$T/dyn.h5" --fit "$T/dynfit.h5" --horizon 5 \
    --intervals --alive-at 13 -o "$T/dynsc2.h5" -q
for ds in clv_lo p_alive_hi p_alive_at_13; do
    "$CLV" inspect "$T/dynsc2.h5" | grep -q "/scores/$ds " && ok || bad "time-varying score lacks $ds"
done
if command -v h5dump >/dev/null 2>&1; then # P(alive 13 periods on) <= P(alive), finite, everyone
    for ds in p_alive p_alive_at_13; do
        h5dump -y -w 0 -d "/scores/$ds" "$T/dynsc2.h5" | sed -n '/DATA {/,/}/p' | grep -E '^ +[-0-9n]' \
            | tr ',' '\n' | sed 's/ //g' | grep . >"$T/$ds.txt"
    done
    paste "$T/p_alive.txt" "$T/p_alive_at_13.txt" | awk '$1 == "nan" || $2 == "nan" || !($2 <= $1) { bad = 1 }
        END { exit bad || NR != 3000 }' && ok || bad "time-varying P(alive) ahead: $(paste "$T/p_alive.txt" "$T/p_alive_at_13.txt" | head -3)"
else
    skipped "h5dump missing: time-varying P(alive) ahead not compared"
fi
expect 78 "score time-varying dert" -- "$CLV" score "$T/dyn.h5" --fit "$T/dynfit.h5" --horizon 5 \
    --dert 0.01 -o "$T/x.h5"
says "score time-varying dert" "--dert (it needs the covariates' whole future)"
expect 78 "validate time-varying" -- "$CLV" validate "$T/dyn.h5" --fit "$T/dynfit.h5"
says "validate time-varying" "not available for a fit with time-varying covariates"
expect 78 "time-varying bgnbd" -- "$CLV" fit "$T/dyn.h5" --model bgnbd --covariates-purchase contact -o "$T/x.h5"
says "time-varying bgnbd" "are for pareto"
# covariates constant in time give the static fit (to the optimiser's tolerance)
awk -F, 'NR == FNR { inc[$1] = $2; next } FNR == 1 { print "id,date,inc_t"; next } { print $1 "," $2 "," inc[$1] }' \
    "$T/dynf.csv" "$T/dynd.csv" >"$T/dynconst.csv"
expect 0 "ingest constant paths" -- "$CLV" ingest "$T/dyn.csv" --period week --features "$T/dynf.csv" \
    --dynamic-covariates "$T/dynconst.csv" -o "$T/dync.h5" -q
expect 0 "fit static" -- "$CLV" fit "$T/dync.h5" --model pareto --covariates-purchase income \
    --covariates-dropout income -o "$T/x.h5" --json -q
sed -n 's/.*"params": {\([^}]*\)}.*/\1/p' "$T/out" | tr ',' '\n' | sed 's/.*: //' >"$T/p1"
expect 0 "fit constant paths" -- "$CLV" fit "$T/dync.h5" --model pareto --covariates-purchase inc_t \
    --covariates-dropout inc_t -o "$T/x.h5" --json -q
sed -n 's/.*"params": {\([^}]*\)}.*/\1/p' "$T/out" | tr ',' '\n' | sed 's/.*: //' >"$T/p2"
[ -s "$T/p1" ] && paste "$T/p1" "$T/p2" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6 * (1 + ($1 < 0 ? -$1 : $1))) exit 1 }' \
    && ok || bad "constant time-varying fit differs from the static one: $(paste "$T/p1" "$T/p2" | tr '\n' ' ')"
# bad covariate files: a gap, a duplicate, a late start, a text value, a month period, a clash
awk -F, 'NR == 20 && $1 == "C000001" { next } { print }' "$T/dynd.csv" >"$T/dgap.csv"
expect 65 "time-varying gap" -- "$CLV" ingest "$T/dyn.csv" --period week --dynamic-covariates "$T/dgap.csv" -o "$T/x.h5"
says "time-varying gap" "customer 'C000001': no covariates for the period starting"
awk 'NR == 5 { print } { print }' "$T/dynd.csv" >"$T/ddup.csv"
expect 65 "time-varying duplicate" -- "$CLV" ingest "$T/dyn.csv" --period week --dynamic-covariates "$T/ddup.csv" -o "$T/x.h5"
says "time-varying duplicate" "two rows for the period starting"
awk -F, 'NR == 2 { next } { print }' "$T/dynd.csv" >"$T/dlate.csv"
expect 65 "time-varying late start" -- "$CLV" ingest "$T/dyn.csv" --period week --dynamic-covariates "$T/dlate.csv" -o "$T/x.h5"
says "time-varying late start" "after its first purchase on"
awk -F, 'NR == 7 { print $1 "," $2 ",yes"; next } { print }' "$T/dynd.csv" >"$T/dtext.csv"
expect 65 "time-varying text" -- "$CLV" ingest "$T/dyn.csv" --period week --dynamic-covariates "$T/dtext.csv" -o "$T/x.h5"
says "time-varying text" "'yes' is not a number"
expect 64 "time-varying month" -- "$CLV" ingest "$T/dyn.csv" --period month --dynamic-covariates "$T/dynd.csv" -o "$T/x.h5"
sed '1s/contact/income/' "$T/dynd.csv" >"$T/dclash.csv"
expect 65 "time-varying name clash" -- "$CLV" ingest "$T/dyn.csv" --period week --features "$T/dynf.csv" \
    --dynamic-covariates "$T/dclash.csv" -o "$T/x.h5"
says "time-varying name clash" "also a column of --features"
sed '1s/contact/Religion/' "$T/dynd.csv" >"$T/drel.csv"
expect 0 "ingest a protected time-varying column" -- "$CLV" ingest "$T/dyn.csv" --period week \
    --dynamic-covariates "$T/drel.csv" -o "$T/drel.h5" -q
expect 78 "time-varying protected" -- "$CLV" fit "$T/drel.h5" --model pareto --covariates-purchase Religion -o "$T/x.h5"
expect 64 "time-varying with a summary" -- "$CLV" ingest --summary "$DATA/cdnow_customers_summary.csv" \
    --dynamic-covariates "$T/dynd.csv" -o "$T/x.h5"

# run with time-varying covariates from a model file
sed -e 's/^purchase = auto/purchase = pareto\ncovariates_purchase = contact, income\ncovariates_dropout = contact/' \
    -e 's/^horizon = 52/horizon = 20/' models/vip4.ini >"$T/dynm.ini"
expect 0 "run time-varying" -- "$CLV" run "$T/dyn.csv" -m "$T/dynm.ini" --features "$T/dynf.csv" \
    --dynamic-covariates "$T/dynd.csv" -o "$T/dynrun.h5" --markdown "$T/dynrun.md" -q
grep -q '^| trans.contact | ' "$T/dynrun.md" && grep -q 'Time-varying covariates (Bachmann' "$T/dynrun.md" && ok \
    || bad "run report lacks the time-varying coefficients"
sed -e 's/^horizon = 20/horizon = 52/' "$T/dynm.ini" >"$T/dynm52.ini"
expect 65 "run time-varying past the covariates" -- "$CLV" run "$T/dyn.csv" -m "$T/dynm52.ini" \
    --features "$T/dynf.csv" --dynamic-covariates "$T/dynd.csv" -o "$T/x.h5" -q
says "run time-varying past the covariates" "dynd.csv: customer row 1 (id 'C000001'): its time-varying covariates end on"
sed -e 's/^purchase = pareto/purchase = bgnbd/' "$T/dynm.ini" >"$T/dynmb.ini"
expect 78 "run time-varying bgnbd" -- "$CLV" run "$T/dyn.csv" -m "$T/dynmb.ini" --features "$T/dynf.csv" \
    --dynamic-covariates "$T/dynd.csv" -o "$T/x.h5" -q

no_temp final
echo "cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
