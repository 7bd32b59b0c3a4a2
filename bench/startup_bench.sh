#!/usr/bin/env bash
# Start-up of a capture: from exec to the first captured packet on stdout,
# for tcpdump and hone, while a UDP datagram goes to 127.0.0.1 every 1 ms;
# plus `hone --version` (hyperfine) and the size of dist/hone.
#
#   bench/startup_bench.sh              # 5 runs each, alternated, medians
#   RUNS=1 bench/startup_bench.sh       # quick mode
#
# Environment:
#   HONE     hone command (default: dist/hone)
#   DENO     deno binary for the probe (default: .tools/node_modules/deno/deno)
#   RUNS     start-ups per capture, alternated (default 5)
#   TIMEOUT  seconds to wait for a first packet (default 30)
#   HYPERFINE_RUNS  runs of `hone --version` (default 20)
#   QUIET_WAIT, QUIET_LOAD  before each start-up wait up to QUIET_WAIT s
#            (default 120) until fewer than QUIET_LOAD CPUs (0.5) are busy
#
# The probe (bench/startup_probe.ts) starts the sender, spawns the capture
# writing to stdout (tcpdump -l -n -i lo; hone record JSON lines) and times
# the first packet line; it also notes when stderr says "listening on".
# Needs root. Traffic stays on loopback; every wait is bounded.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HONE=${HONE:-$ROOT/dist/hone}
DENO=${DENO:-$ROOT/.tools/node_modules/deno/deno}
RUNS=${RUNS:-5}
TIMEOUT=${TIMEOUT:-30}
HYPERFINE_RUNS=${HYPERFINE_RUNS:-20}
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

[[ $(id -u) -eq 0 ]] || { echo "startup_bench: needs root" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "startup_bench: tcpdump missing" >&2; exit 1; }
# Build only when the default dist/hone is missing (HONE may be a command).
if [[ $HONE == "$ROOT/dist/hone" && ! -x $HONE ]]; then make -s build; fi
QUIET_WAIT=${QUIET_WAIT:-120}
QUIET_LOAD=${QUIET_LOAD:-0.5}
TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/startup_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# One build for every run: a copy of dist/hone (others may rebuild it).
if [[ $HONE == "$ROOT/dist/hone" ]]; then
  cp dist/hone "$TMP/hone"
  HONE=$TMP/hone
fi
read -ra HONE_CMD <<<"$HONE"
load_now() { # CPUs busy over 1 s
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat); sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
  awk -v d="$((b - a))" -v t="$TCK" 'BEGIN{printf "%.2f", d/t}'
}
wait_quiet() {
  local end=$((SECONDS + QUIET_WAIT)) l
  while :; do
    l=$(load_now)
    awk -v l="$l" -v q="$QUIET_LOAD" 'BEGIN{exit !(l < q)}' && { LOAD=$l; return 0; }
    ((SECONDS >= end)) && { LOAD="$l!"; return 0; }
  done
}
PROBE=("$DENO" run -A --no-lock "$ROOT/bench/startup_probe.ts")
"${PROBE[@]}" 2>/dev/null || true # compile the probe once (usage error)

OUT=$TMP/results

probe() { # NAME MATCH CMD... -> appends "NAME first_ms ready_ms" to OUT
  local name=$1 match=$2 line
  shift 2
  wait_quiet
  line=$(timeout $((TIMEOUT + 30)) "${PROBE[@]}" "$match" "$TIMEOUT" -- "$@") || true
  local first ready
  first=$(sed -n 's/.*"first_ms":\([0-9.null]*\).*/\1/p' <<<"$line")
  ready=$(sed -n 's/.*"ready_ms":\([0-9.null]*\).*/\1/p' <<<"$line")
  echo "$name ${first:-null} ${ready:-null}" >>"$OUT"
  printf '  %-8s first packet %8s ms   "listening on" %8s ms   (load before: %s CPUs)\n' \
    "$name" "${first:-null}" "${ready:-null}" "$LOAD" >&2
}

echo "start-up to first packet, $RUNS runs each, alternated" >&2
for ((r = 1; r <= RUNS; r++)); do
  probe tcpdump '.' tcpdump -l -n -i lo
  probe hone '"type":"packet"' "${HONE_CMD[@]}" record
done

echo "| capture | first packet (median ms) | min–max | \"listening on\" (median ms) | failed |"
echo "|---|---|---|---|---|"
for name in tcpdump hone; do
  awk -v n="$name" '
  function med(a, k,   i, j, t) {
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
  }
  $1 == n { if ($2 == "null") fail++; else { f[++nf] = $2 }; if ($3 != "null") r[++nr] = $3 }
  END {
    cmd = n == "tcpdump" ? "`tcpdump -l -n -i lo`" : "`hone record` (JSON)"
    if (nf) { m = med(f, nf); lo = f[1]; hi = f[nf] } 
    printf "| %s | %s | %s | %s | %d |\n", cmd, nf ? sprintf("%.0f", m) : "–", nf ? sprintf("%.0f–%.0f", lo, hi) : "–", nr ? sprintf("%.0f", med(r, nr)) : "–", fail
  }' "$OUT"
done

echo
if command -v hyperfine >/dev/null; then
  wait_quiet
  hyperfine -N --warmup 3 --runs "$HYPERFINE_RUNS" --style basic \
    --command-name "dist/hone --version" "${HONE_CMD[*]} --version" 2>&1 |
    sed -n '/Benchmark/,/Range/p'
else
  echo "(hyperfine not installed: skipping hone --version)"
fi
if [[ -f ${HONE_CMD[0]} ]]; then
  bytes=$(stat -c %s "${HONE_CMD[0]}")
  awk -v b="$bytes" 'BEGIN{printf "size of dist/hone: %d bytes (%.1f MiB)\n", b, b/1048576}'
fi
