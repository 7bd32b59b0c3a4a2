#!/usr/bin/env bash
# `hone read` throughput beside tshark and tcpdump, on the same captures in
# the same run.
#
#   bench/read_bench.sh [DIR]        # captures are kept in DIR (default /tmp)
#
# Environment:
#   HONE            how to run hone (default: dist/hone if it runs, else
#                   "$DENO run -A --no-lock main.ts")
#   DENO            deno binary (default: .tools/node_modules/deno/deno)
#   PACKETS         packets in the main capture (default 1000000)
#   TSHARK_PACKETS  packets in the capture tshark -T ek reads (default 100000;
#                   tshark needs ~2 minutes for 1 M packets); its rate is
#                   scaled to PACKETS. 0 = read the main capture.
#   RUNS            runs per command, the median is shown (default 3)
#
# Each capture is made by bench/make_capture.ts (hone's own writer), so the
# small one has the same mix of blocks as the big one.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-/tmp}
DENO=${DENO:-$ROOT/.tools/node_modules/deno/deno}
PACKETS=${PACKETS:-1000000}
TSHARK_PACKETS=${TSHARK_PACKETS:-100000}
RUNS=${RUNS:-3}
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
"${HONE_CMD[@]}" --version >/dev/null # warm Deno's transpile cache

mkdir -p "$DIR"
capture() { # PACKETS -> path, made if missing
  local f="$DIR/hone_bench_$1.pcapng"
  if [[ ! -s $f ]]; then
    "$DENO" run -A --no-lock "$ROOT/bench/make_capture.ts" "$f.tmp" "$1" >&2
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}
BIG=$(capture "$PACKETS")
if [[ $TSHARK_PACKETS -gt 0 && $TSHARK_PACKETS -lt $PACKETS ]]; then
  SMALL=$(capture "$TSHARK_PACKETS")
else
  SMALL=$BIG TSHARK_PACKETS=$PACKETS
fi

# Sanity: hone's pcapng output of the small capture has every packet.
out=$(mktemp "$DIR/hone_bench_out.XXXXXX")
"${HONE_CMD[@]}" read "$SMALL" -w "$out"
got=$(capinfos -M -c "$out" | awk '/Number of packets/ {print $NF}')
rm -f "$out"
if [[ $got != "$TSHARK_PACKETS" ]]; then
  echo "hone read -w wrote $got packets, expected $TSHARK_PACKETS" >&2
  exit 1
fi

# median of RUNS wall-clock times of a command (stdout and stderr discarded)
timeit() {
  local t times=() TIMEFORMAT=%R
  for ((i = 0; i < RUNS; i++)); do
    t=$({ time "$@" >/dev/null 2>&1; } 2>&1) || {
      echo "FAILED: $*" >&2
      return 1
    }
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

declare -a NAMES SECS NPKTS
run() { # NAME PACKETS CMD...
  local name=$1 n=$2
  shift 2
  echo "  running: $name" >&2
  NAMES+=("$name")
  NPKTS+=("$n")
  SECS+=("$(timeit "$@")")
}

run "tcpdump -r X -w /dev/null" "$PACKETS" tcpdump -r "$BIG" -w /dev/null
run "hone read X -w /dev/null (pcapng)" "$PACKETS" "${HONE_CMD[@]}" read "$BIG" -w /dev/null
run "hone read X > /dev/null (json)" "$PACKETS" "${HONE_CMD[@]}" read "$BIG"
run "hone read X -F text > /dev/null" "$PACKETS" "${HONE_CMD[@]}" read "$BIG" -F text
run "tshark -r X -T ek > /dev/null" "$TSHARK_PACKETS" tshark -r "$SMALL" -T ek

echo
echo "hone read benchmark: $PACKETS packets ($(du -h "$BIG" | cut -f1)), median of $RUNS runs"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "hone: $HONE"
echo "$(tcpdump --version 2>&1 | head -1); $(tshark --version 2>/dev/null | head -1)"
echo
tcp_pps=$(awk -v n="${NPKTS[0]}" -v s="${SECS[0]}" 'BEGIN {print n / s}')
printf '%-36s %10s %9s %12s %14s\n' tool packets seconds packets/s "vs tcpdump"
for i in "${!NAMES[@]}"; do
  awk -v name="${NAMES[$i]}" -v n="${NPKTS[$i]}" -v s="${SECS[$i]}" -v t="$tcp_pps" 'BEGIN {
    pps = n / s
    printf "%-36s %10d %9.2f %12.0f %13.1fx\n", name, n, s, pps, t / pps
  }'
done
echo
echo "packets/s = packets / wall-clock seconds, process start-up included."
echo "vs tcpdump = how many times longer than tcpdump per packet (1.0x = as fast)."
if [[ $TSHARK_PACKETS != "$PACKETS" ]]; then
  echo "tshark -T ek read a $TSHARK_PACKETS-packet capture from the same generator;"
  echo "its rate is per packet, so for $PACKETS packets expect" \
    "$(awk -v n="${NPKTS[4]}" -v s="${SECS[4]}" -v p="$PACKETS" 'BEGIN {printf "%.0f", s * p / n}') s."
fi
