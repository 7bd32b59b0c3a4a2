#!/usr/bin/env bash
# Does `hone read` stay linear in the number of blocks? Reads captures of
# 100 k, 1 M and 10 M connection-open blocks (each a new connection, so
# hone's connection table fills and then forgets the oldest) and prints
# blocks/s for each, and the largest size's rate over the smallest's.
#
#   bench/read_scale_bench.sh
#
# Environment:
#   HONE    how to run hone (default: dist/hone if it runs, else
#           "$DENO run -A --no-lock main.ts")
#   DENO    deno binary (default: .tools/node_modules/deno/deno)
#   SIZES   block counts (default "100000 1000000 10000000")
#   RUNS    runs per size, the median is shown (default 3)
#   ARGS    extra arguments to `hone read` (default none: JSON to /dev/null;
#           e.g. "-w /dev/null" for pcapng)
#
# The captures (28 bytes a block, 280 MB for 10 M) go to a temporary
# directory that is deleted at the end. blocks/s is blocks / (seconds -
# start-up), start-up being the median time to read a capture with no
# blocks (at least 5 runs);
# max RSS is the largest of the runs.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DENO=${DENO:-$ROOT/.tools/node_modules/deno/deno}
SIZES=${SIZES:-100000 1000000 10000000}
RUNS=${RUNS:-3}
ARGS=${ARGS:-}
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

cd "$ROOT"
if [[ -z ${HONE:-} ]]; then
  if [[ -x dist/hone ]] && dist/hone --version >/dev/null 2>&1; then
    HONE="$ROOT/dist/hone"
  else
    HONE="$DENO run -A --no-lock $ROOT/main.ts"
  fi
fi
read -ra HONE_CMD <<<"$HONE"
read -ra EXTRA <<<"$ARGS"
"${HONE_CMD[@]}" --version >/dev/null # warm Deno's transpile cache

DIR=$(mktemp -d "${TMPDIR:-/tmp}/hone_scale.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

# OUT N: a little-endian pcapng, one raw-IP interface, then N Hone
# connection-open blocks (0x102, 28 bytes, no options, as the original
# wrote them) with ids 1..N, 10 µs apart.
generate() {
  "$DENO" run --no-lock --allow-write="$DIR" - "$1" "$2" <<'EOF'
const [path, count] = Deno.args;
const n = Number(count);
const f = await Deno.open(path!, { write: true, create: true, truncate: true });
const write = async (b: Uint8Array) => {
  for (let o = 0; o < b.length;) o += await f.write(b.subarray(o));
};
const head = new Uint8Array(48);
const h = new DataView(head.buffer);
h.setUint32(0, 0x0a0d0d0a, true); // SHB
h.setUint32(4, 28, true);
h.setUint32(8, 0x1a2b3c4d, true);
h.setUint16(12, 1, true);
h.setBigInt64(16, -1n, true);
h.setUint32(24, 28, true);
h.setUint32(28, 1, true); // IDB, LINKTYPE_RAW
h.setUint32(32, 20, true);
h.setUint16(36, 101, true);
h.setUint32(44, 20, true);
await write(head);
const per = 65536;
const buf = new Uint8Array(per * 28);
const v = new DataView(buf.buffer);
for (let done = 0; done < n;) {
  const k = Math.min(per, n - done);
  for (let i = 0; i < k; i++) {
    const o = i * 28, id = done + i + 1;
    const us = 1_700_000_000_000_000 + id * 10;
    v.setUint32(o, 0x102, true);
    v.setUint32(o + 4, 28, true);
    v.setUint32(o + 8, id, true);
    v.setUint32(o + 12, 1000 + (id % 30000), true);
    v.setUint32(o + 16, Math.floor(us / 4294967296), true);
    v.setUint32(o + 20, us >>> 0, true);
    v.setUint32(o + 24, 28, true);
  }
  await write(buf.subarray(0, k * 28));
  done += k;
}
f.close();
EOF
}

# FILE: median seconds and the largest max RSS (KB) of RUNS reads
measure() {
  local f=$1 out secs=() rss=0 s m
  for ((i = 0; i < RUNS; i++)); do
    if [[ -x /usr/bin/time ]]; then
      /usr/bin/time -o "$DIR/time" -f '%e %M' \
        "${HONE_CMD[@]}" read "$f" "${EXTRA[@]}" >/dev/null 2>&1 || true
      read -r s m <"$DIR/time"
    else
      out=$({ TIMEFORMAT=%R; time "${HONE_CMD[@]}" read "$f" "${EXTRA[@]}" \
        >/dev/null 2>/dev/null; } 2>&1)
      s=$(tail -1 <<<"$out") m=0
    fi
    secs+=("$s")
    ((m > rss)) && rss=$m
  done
  echo "$(printf '%s\n' "${secs[@]}" | sort -n |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $rss"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
generate "$DIR/0.pcapng" 0
START=$(RUNS=$((RUNS < 5 ? 5 : RUNS)) measure "$DIR/0.pcapng" | cut -d' ' -f1)

declare -a NS SECS RSS RATES
for n in $SIZES; do
  echo "  generating and reading $n blocks" >&2
  generate "$DIR/$n.pcapng" "$n"
  read -r s m <<<"$(measure "$DIR/$n.pcapng")"
  rm -f "$DIR/$n.pcapng"
  NS+=("$n") SECS+=("$s") RSS+=("$m")
  RATES+=("$(awk -v n="$n" -v s="$s" -v z="$START" \
    'BEGIN {d = s - z; print (d > 0 ? n / d : 0)}')")
done

echo
echo "hone read scale: connection-open blocks, median of $RUNS runs," \
  "hone read FILE ${ARGS:-(JSON)} > /dev/null"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "hone: $HONE; start-up (no blocks): $START s"
echo "load average before and after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%12s %10s %12s %12s\n' blocks seconds blocks/s "max RSS MB"
for i in "${!NS[@]}"; do
  awk -v n="${NS[$i]}" -v s="${SECS[$i]}" -v r="${RATES[$i]}" -v m="${RSS[$i]}" \
    'BEGIN {printf "%12d %10.2f %12.0f %12.0f\n", n, s, r, m / 1024}'
done
last=$((${#NS[@]} - 1))
awk -v a="${RATES[$last]}" -v b="${RATES[0]}" -v na="${NS[$last]}" -v nb="${NS[0]}" \
  'BEGIN {printf "\nrate at %d blocks / rate at %d blocks: %.2f (1.00 = linear)\n", na, nb, (b > 0 ? a / b : 0)}'
