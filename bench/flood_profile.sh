#!/usr/bin/env bash
# CPU profile of `hone record -s 128 -w /dev/null` under the loopback UDP
# flood of bench/flood_bench.sh. The launcher hides deno's flags, so this
# takes the bundled app.js and libhone.so out of dist/hone (the parts its
# trailer points at: exactly what dist/hone runs, even while src/ and
# build/ are being changed) and runs them with the deno of .tools and
# --cpu-prof. SOURCE=1 runs main.ts with build/ffi/libhone.so instead.
#
#   bench/flood_profile.sh [OUTDIR]     # default /tmp/hone_prof
#
# Environment: DURATION (10), LEN (64), SNAPLEN (128), FORMAT (pcapng;
# "json" writes JSON lines to /dev/null instead), RECORD_ARGS (extra),
# BPF_STATS (1: turn kernel.bpf_stats_enabled on for the flood, restore
# it after, and print each of hone's BPF programs' run count and time:
# the kernel-side cost the workload pays; 0 to skip), APP_JS and SHIM (an
# app.js and libhone.so of the same ABI to run instead of dist/hone's).
# Prints the top self-time functions (bench/flood_profile_top.ts).

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUTDIR=${1:-/tmp/hone_prof}
DENO=${DENO:-$ROOT/.tools/node_modules/deno/deno}
DURATION=${DURATION:-10}
LEN=${LEN:-64}
SNAPLEN=${SNAPLEN:-128}
FORMAT=${FORMAT:-pcapng}
PORT=${PORT:-5293}
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
[[ $(id -u) -eq 0 ]] || { echo "flood_profile: needs root" >&2; exit 1; }
[[ -x dist/hone ]] || make -s build
command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install \
  -y -qq -o DPkg::Lock::Timeout=600 iperf3 >/dev/null

rm -rf "$OUTDIR"; mkdir -p "$OUTDIR"
if [[ -n ${APP_JS:-} ]]; then
  APP=(--no-config --ext=js "$APP_JS") SHIM=${SHIM:?SHIM must go with APP_JS}
elif [[ ${SOURCE:-0} == 1 ]]; then
  APP=(main.ts) SHIM=$ROOT/build/ffi/libhone.so
else
  bench/flood_unpack.sh dist/hone "$OUTDIR"
  rm "$OUTDIR/hone"
  APP=(--no-config --ext=js "$OUTDIR/app.js") SHIM=$OUTDIR/libhone.so
fi
if [[ $FORMAT == json ]]; then out=(-F json); else out=(-w /dev/null); fi
read -ra extra <<<"${RECORD_ARGS:-}"
# --cpu-prof would sample from the start, and its SIGPROFs make the BPF
# verifier give up (EAGAIN): profile through the inspector once hone runs.
HONE_SHIM=$SHIM "$DENO" run -A --no-lock --inspect=127.0.0.1:${INSPECT_PORT:-9339} \
  "${APP[@]}" record -s "$SNAPLEN" "${out[@]}" "${extra[@]}" \
  >/dev/null 2>"$OUTDIR/stderr" &
PID=$!
CDP=
trap 'kill -KILL $PID $CDP 2>/dev/null || true' EXIT
for ((i = 0; i < 1200; i++)); do
  grep -q 'listening on all' "$OUTDIR/stderr" 2>/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$OUTDIR/stderr" >&2; exit 1; }
  sleep 0.05
done
ws=$(grep -oE 'ws://[^ ]+' "$OUTDIR/stderr" | head -1)
timeout $((DURATION + 30)) iperf3 -s -1 -B 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
SRV=$!
"$DENO" run -A --no-lock bench/flood_cdp.ts "$ws" "$DURATION" \
  "$OUTDIR/flood.cpuprofile" >"$OUTDIR/cdp.out" &
CDP=$!
for ((i = 0; i < 600; i++)); do
  grep -q profiling "$OUTDIR/cdp.out" 2>/dev/null && break
  kill -0 $CDP 2>/dev/null || { echo "flood_profile: inspector client failed" >&2; exit 1; }
  sleep 0.05
done
bpf_stats() { # -> "name run_cnt run_time_ns" for the programs of $PID
  local ids
  ids=$(cat /proc/"$PID"/fdinfo/* 2>/dev/null | awk '/^prog_id:/{print $2}' | sort -un | paste -sd, -)
  bpftool prog show --json 2>/dev/null | jq -r "[$ids] as \$ids | .[] |
    select(.id as \$i | any(\$ids[]; . == \$i)) | \"\\(.name) \\(.run_cnt // 0) \\(.run_time_ns // 0)\""
}
OLD_STATS=
if [[ ${BPF_STATS:-1} == 1 ]]; then
  OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
  trap 'kill -KILL $PID $CDP 2>/dev/null || true; sysctl -qw kernel.bpf_stats_enabled=$OLD_STATS' EXIT
  sysctl -qw kernel.bpf_stats_enabled=1
  bpf_stats >"$OUTDIR/bpf0"
fi
x0=$(cat /sys/class/net/lo/statistics/tx_packets)
c0=$(awk '{print $14+$15}' "/proc/$PID/stat")
timeout $((DURATION + 20)) iperf3 -c 127.0.0.1 -p "$PORT" -u -b 0 -l "$LEN" \
  -t "$DURATION" 2>&1 | grep -E 'sender|receiver' >&2 || true
c1=$(awk '{print $14+$15}' "/proc/$PID/stat")
x1=$(cat /sys/class/net/lo/statistics/tx_packets)
if [[ -n $OLD_STATS ]]; then
  bpf_stats >"$OUTDIR/bpf1"
  sysctl -qw kernel.bpf_stats_enabled="$OLD_STATS"
fi
wait $SRV 2>/dev/null || true
wait $CDP || { echo "flood_profile: no profile" >&2; exit 1; }
kill -INT $PID
for ((i = 0; i < 1200; i++)); do kill -0 $PID 2>/dev/null || break; sleep 0.05; done
wait $PID 2>/dev/null || true
trap - EXIT
if [[ -n $OLD_STATS ]]; then
  echo "BPF programs during the flood ($((x1 - x0)) lo packets; bpf_stats on adds ~20 ns a run):"
  awk -v pk=$((x1 - x0)) 'NR==FNR { c[$1] = $2; t[$1] = $3; next }
    { dc = $2 - c[$1]; dt = $3 - t[$1]; if (dc > 0) printf "  %-18s %10d runs %7.0f ns/run %7.0f ns/lo-packet %6.3f s\n", $1, dc, dt/dc, dt/pk, dt/1e9; tot += dt }
    END { printf "  %-18s %43.0f ns/lo-packet %6.3f s\n", "total", tot/pk, tot/1e9 }' \
    "$OUTDIR/bpf0" "$OUTDIR/bpf1"
fi
grep -v -e '^Debugger' -e '^Visit' "$OUTDIR/stderr" >&2 || true
echo "hone CPU during the flood: $(awk -v d=$((c1 - c0)) -v t="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", d/t}') s" >&2
prof=$OUTDIR/flood.cpuprofile
"$DENO" run -A --no-lock bench/flood_profile_top.ts "$prof" "${TOP:-25}"
