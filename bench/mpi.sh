#!/bin/sh
# bench/mpi.sh - strong scaling of clvtier-mpi on this machine: k-means
# (Lloyd over the ranks from the same 8 starting centroids, 10M customers x 4
# features), the BG/NBD fit (10M customers) and `run -m models/vip4.ini`
# (10M customers, fits + scores + k-means over the ranks, rank 0 tiers and
# writes), on 1, 2 and 4 ranks (4 oversubscribes a 2-core machine) with one
# thread each, beside the serial build with all cores.  Each figure: best of
# 3 whole runs (read + compute + write; run: best of 2).  Needs make MPI=1
# (scripts/bootstrap --mpi); skipped otherwise.
set -eu
MPICLV=${CLVTIER_MPI:-build-mpi/clvtier-mpi}
DIR=${BENCH_DIR:-build/bench-data}
if [ ! -x "$MPICLV" ] || ! command -v mpirun >/dev/null 2>&1; then
    echo "== mpi: SKIPPED (no $MPICLV: scripts/bootstrap --mpi && make MPI=1) =="
    exit 0
fi
data=$DIR/c10M.h5
if [ ! -s "$data" ]; then
    "$CLVTIER" synth --params r=0.243,alpha=4.414,a=0.793,b=2.426 --spend p=6.25,q=3.74,v=15.44 \
        -n 10000000 --seed 1 -o "$data" -q
fi
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_fbtl_posix_read_datasieving=0
ROOT=""
[ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root
printf 'x,t_x,T,m\n0,0,10,0\n1,5,20,10\n2,10,30,20\n4,20,40,30\n8,30,50,40\n16,40,60,50\n3,3,60,100\n1,1,5,5\n' >"$DIR/mpi-init.csv"
feat="--features x,t_x,T,m --init $DIR/mpi-init.csv --scale zscore --max-iter 20 --tol 0 --stream"
best() { "$TIMEIT" -n 3 -q -- "$@" | sed -n 's/best_s=\([0-9.]*\).*/\1/p'; }
echo "== mpi: strong scaling, 10M customers ($(nproc) cores; best of 3; 4 ranks oversubscribe) =="
s_km=$(best "$CLVTIER" cluster "$data" $feat --threads "$(nproc)" -o "$DIR/mpi-km-s.h5" -q)
s_fit=$(best "$CLVTIER" fit "$data" --model bgnbd --threads "$(nproc)" -o "$DIR/mpi-fit-s.h5" -q)
best2() { "$TIMEIT" -n 2 -q -- "$@" | sed -n 's/best_s=\([0-9.]*\).*/\1/p'; }
models=$(dirname "$0")/../models
s_run=$(best2 "$CLVTIER" run -m "$models/vip4.ini" "$data" --threads "$(nproc)" -o "$DIR/mpi-run-s.h5" -q)
echo "   serial build, $(nproc) threads:   k-means 20 iterations $s_km s   BG/NBD fit $s_fit s   run vip4 $s_run s"
for n in 1 2 4; do
    km=$(best mpirun -q -n "$n" --oversubscribe $ROOT "$MPICLV" cluster "$data" $feat --threads 1 -o "$DIR/mpi-km-$n.h5" -q)
    fit=$(best mpirun -q -n "$n" --oversubscribe $ROOT "$MPICLV" fit "$data" --model bgnbd --threads 1 -o "$DIR/mpi-fit-$n.h5" -q)
    run=$(best2 mpirun -q -n "$n" --oversubscribe $ROOT "$MPICLV" run -m "$models/vip4.ini" "$data" --threads 1 -o "$DIR/mpi-run-$n.h5" -q)
    echo "$n $km $fit $run $s_km $s_fit $s_run" | awk '{ printf "   clvtier-mpi, %d rank(s) x 1 thread: k-means %s s (%.2fx serial)   BG/NBD fit %s s (%.2fx serial)   run %s s (%.2fx serial)\n", $1, $2, $5 / $2, $3, $6 / $3, $4, $7 / $4 }'
done
if command -v h5dump >/dev/null 2>&1; then
    for n in 1 2 4; do
        [ "$(h5dump -d /clusters/label "$DIR/mpi-km-$n.h5" | tail -n +2 | md5sum)" = \
          "$(h5dump -d /clusters/label "$DIR/mpi-km-s.h5" | tail -n +2 | md5sum)" ] \
            && echo "   labels on $n rank(s): identical to the serial build" \
            || echo "   labels on $n rank(s): DIFFER from the serial build"
        [ "$(h5dump -d /tiers/tier "$DIR/mpi-run-$n.h5" | tail -n +2 | md5sum)" = \
          "$(h5dump -d /tiers/tier "$DIR/mpi-run-s.h5" | tail -n +2 | md5sum)" ] \
            && echo "   run's tiers on $n rank(s): identical to the serial build" \
            || echo "   run's tiers on $n rank(s): DIFFER from the serial build"
    done
fi
