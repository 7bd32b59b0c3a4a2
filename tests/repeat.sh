#!/bin/bash
# Runs `make test` N times in a row, with one busy loop on a CPU meanwhile
# (a loaded machine), and prints one line per run: its exit status, time,
# load average and deno's summary. Every run's log is kept in DIR.
#
# usage: tests/repeat.sh [N] [DIR] [MAKE_ARG...]   (default: 20 runs, a
#        temp dir; e.g. TEST_ARGS=--ignore=.tools/,build/,dist/,tests/kmod_test.ts
#        (deno.json's excludes, which --ignore replaces) to leave out
#        the kernel module's 5 minutes of qemu guests, run on their own)
# A test must pass N in N: a flaky test is a bug.
set -u
n=${1:-20}
dir=${2:-$(mktemp -d)}
shift 2 2>/dev/null || shift $#
mkdir -p "$dir"
cd "$(dirname "$0")/.." || exit 2
sh -c 'while :; do :; done' &
hog=$!
trap 'kill $hog' EXIT
echo "commit $(git rev-parse --short HEAD), $n runs, logs in $dir"
fails=0
for i in $(seq 1 "$n"); do
	s=$(date +%s)
	make test "$@" >"$dir/run$i.log" 2>&1
	rc=$?
	[ "$rc" = 0 ] || fails=$((fails + 1))
	sum=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/run$i.log" |
		grep -aE '^(ok|FAILED) \|' | tail -1)
	echo "run $i rc=$rc $(($(date +%s) - s))s" \
		"load=$(cut -d' ' -f1 /proc/loadavg) $sum"
done
echo "$((n - fails)) of $n green"
[ "$fails" = 0 ]
