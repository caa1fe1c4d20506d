#!/bin/sh
# bench/run.sh - every benchmark (make bench).  BUILD and CLVTIER are set by make.
set -eu
here=$(dirname "$0")
export TIMEIT="$BUILD/bench/timeit" BUILD CLVTIER
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
sh "$here/ingest.sh"
sh "$here/clv.sh"
sh "$here/kmeans.sh"
sh "$here/pipeline.sh"
sh "$here/mpi.sh"
