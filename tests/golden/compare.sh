#!/bin/sh
# tests/golden/compare.sh REV [big] - `make golden REV=...`: build revision REV
# in a scratch worktree, run tests/golden/snapshot.sh with its binary and with
# this tree's, and diff the two (timestamps, paths and the binary's own path
# normalised).  Exit 0 when every output is the same; the diff otherwise.
# For changes of structure that must not change any output (issue 11).
set -eu
REV=${1:?usage: compare.sh REV [big]}
BIG=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GOLDEN_DIR:-$ROOT/build/golden}
CLV=${CLVTIER:-$ROOT/build/clvtier}
rm -rf "$OUT"
mkdir -p "$OUT"
git -C "$ROOT" worktree add -q --detach "$OUT/base-src" "$REV"
trap 'git -C "$ROOT" worktree remove --force "$OUT/base-src" 2>/dev/null || true' EXIT
make -C "$OUT/base-src" -s -j2 BUILD="$OUT/base-build" SHARED="${SHARED:-$ROOT/../shared}" all >/dev/null
cd "$ROOT"
CLVTIER="$OUT/base-build/clvtier" sh tests/golden/snapshot.sh "$OUT/base" $BIG >/dev/null
CLVTIER="$CLV" sh tests/golden/snapshot.sh "$OUT/head" $BIG >/dev/null
if diff -r -x work -x commands.txt "$OUT/base" "$OUT/head" >"$OUT/diff.txt"; then
    echo "golden: every output of $REV and of this tree is the same ($(ls "$OUT/head" | wc -l) files)"
else
    cat "$OUT/diff.txt"
    echo "golden: outputs differ from $REV (above; $OUT/diff.txt)"
    exit 1
fi
