#!/usr/bin/env bash
# Helper of bench/flood_bench.sh and bench/flood_profile.sh: copies a packed
# dist/hone to DIR/hone and takes out the parts its trailer points at
# (DIR/app.js, DIR/libhone.so), so a run uses one build even while dist/,
# build/ and src/ change.
#
#   bench/flood_unpack.sh DIST_HONE DIR
#
# Trailer (last 96 bytes): "HONEPACK", u32 version, u32 size, then
# (offset, size) u64 pairs for deno, app.js, shim; see ffi/launcher.
set -euo pipefail
src=$1 dir=$2
mkdir -p "$dir"
cp "$src" "$dir/hone"
[[ $(tail -c 96 "$dir/hone" | head -c 8) == HONEPACK ]] ||
  { echo "flood_unpack: $src has no pack trailer" >&2; exit 1; }
read -r _ _ ao as so ss < <(tail -c 96 "$dir/hone" |
  od -A n -t u8 -j 16 -N 48 | tr -s ' \n' ' '; echo)
part() {
  dd if="$dir/hone" of="$3" bs=64K iflag=skip_bytes,count_bytes \
    skip="$1" count="$2" status=none
}
part "$ao" "$as" "$dir/app.js"
part "$so" "$ss" "$dir/libhone.so"
