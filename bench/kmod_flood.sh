#!/usr/bin/env bash
# The kernel-module sensor under a loopback UDP flood, beside tcpdump and
# with nothing attached, inside a qemu guest (TCG) of a kernel of the test
# matrix with honeevent.ko loaded: bench/flood_bench.sh, unchanged, run in
# the guest with HONE_ARGS="--sensor kmod", and "devcat", a `cat /dev/hone`
# reader: the module without hone's user side. TCG emulates the CPU, so the
# rates are far below a real machine's; the ratios between the rows of one
# run are what it measures.
#
#   make kmod && bench/kmod_flood.sh [KVER]      (default: 6.12)
#
# Environment: DURATION (5), RUNS (3), and what flood_bench.sh takes.
set -euo pipefail
cd "$(dirname "$0")/.."
kver=${1:-6.12}
export HONE_KMOD_TIMEOUT=${HONE_KMOD_TIMEOUT:-1500}
exec tests/kmod/vm "$kver" -- env HONE_ARGS="--sensor kmod" \
	CONFIGS="${CONFIGS:-none tcpdump devcat hone}" \
	DURATION="${DURATION:-5}" RUNS="${RUNS:-3}" QUIET_WAIT=10 \
	QUIET_LOAD="${QUIET_LOAD:-2}" MAX_OTHER="${MAX_OTHER:-2}" \
	bench/flood_bench.sh
