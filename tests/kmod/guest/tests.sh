#!/bin/bash
# The kmod tests inside one guest (tests/kmod/run boots it): honeevent.ko is
# loaded; OUT (the shared directory) gets the captures the host checks
# with tshark. Prints one "ok - ..." or "not ok - ..." line per check.
#
# usage: tests.sh OUT KO [OTHER_KO]   (OTHER_KO: built for another kernel)
set -u
OUT=$1
KO=$2
OTHER=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
HK="python3 -S $HERE/hk.py"
HONE=$TOP/dist/hone
STATS=/sys/kernel/debug/honeevent/stats
PARAMS=/sys/module/honeevent/parameters

ok() { echo "ok - $*"; }
phase() { echo "# $(cut -d' ' -f1 /proc/uptime)s: $*"; }
notok() { echo "not ok - $*"; }
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else notok "$name"; fi
}
readers() { sed -n 's/^readers //p' "$STATS"; }
# Waits up to 20 s for the number of open readers to be $1.
wait_readers() {
	local i
	for i in $(seq 200); do
		[ "$(readers)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

echo "# kernel $(uname -r)"

# ---- the module and its devices ----
major=$(cat $PARAMS/major)
check "the module is loaded with major $major" test -n "$major" -a "$major" != 0
check "/dev/hone is char $major:0" \
	test "$(stat -c '%F %t:%T' /dev/hone)" = "character special file $(printf %x "$major"):0"
check "/dev/honet is char $major:1" \
	test "$(stat -c '%F %t:%T' /dev/honet)" = "character special file $(printf %x "$major"):1"
for p in devname major hostid hostid_type comment snaplen pageorder; do
	check "parameter $p in sysfs" test -r "$PARAMS/$p"
done
check "modprobe alias hone" sh -c "modinfo -F alias '$KO' | grep -qx hone"

# ---- the device interface ----
phase "device interface"
$HK device

# ---- captures of real traffic by concurrent readers ----
phase "captures"
STOP=$OUT/stop
rm -f "$STOP" "$OUT"/truth.jsonl "$OUT"/r.*
# hone record on the module: the fourth reader.
"$HONE" record --sensor kmod -s 128 -w "$OUT/r.pcapng" 2>"$OUT/r.err" &
rr=$!
listening() {
	local i
	for i in $(seq 600); do
		grep -q '^hone: listening on all sockets (kernel module, /dev/hone)' \
			"$OUT/r.err" 2>/dev/null && return 0
		kill -0 $rr 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
check "hone record --sensor kmod starts" listening
$HK read /dev/hone "$OUT/a.pcapng" "$STOP" &
ra=$!
$HK read /dev/hone "$OUT/b.pcapng" --bufsize 997 "$STOP" &
rb=$!
$HK read /dev/honet "$OUT/t.txt" "$STOP" &
rt=$!
check "four concurrent readers open" wait_readers 4

# A veth pair into a second network namespace, made after the load.
ip netns add hone2 &&
	ip link add hv0 type veth peer name hv1 netns hone2 &&
	ip addr add 192.0.2.1/24 dev hv0 && ip link set hv0 up &&
	ip -n hone2 addr add 192.0.2.2/24 dev hv1 &&
	ip -n hone2 link set hv1 up && ip -n hone2 link set lo up
check "ping over a veth pair into another network namespace" \
	ping -c 2 -i 0.2 -W 2 192.0.2.2

# cat as a reader, stopped by a signal: its files end with whole records.
timeout -s INT 25 cat /dev/hone >"$OUT/c.pcapng" &
rc1=$!
timeout -s INT 25 cat /dev/honet >"$OUT/c.txt" &
rc2=$!
phase "traffic"
$HK traffic "$OUT/truth.jsonl"
check "traffic between processes: TCP, UDP, ICMP over IPv4 and IPv6" \
	test "$(grep -c . "$OUT/truth.jsonl")" = 20
/bin/echo "hello world" HONE-ARG >/dev/null
sh -c 'exit 3'
echo $$ >"$OUT/shell.pid"
sleep 0.5
kill -INT $rc1 $rc2 2>/dev/null
wait $rc1 $rc2
check "cat's text capture ends with a whole line" \
	test "$(tail -c 1 "$OUT/c.txt" | od -An -c | tr -d ' ')" = '\n'
touch "$STOP"
kill -INT $rr
check "hone record --sensor kmod ends at SIGINT with status 0" wait $rr
check "hone record: its counts on stderr" \
	grep -qE '^[1-9][0-9]* packets captured$' "$OUT/r.err"
check "hone record: 0 packets dropped" \
	grep -qx '0 packets dropped by kernel' "$OUT/r.err"
check "reader A ends its section" wait $ra
check "reader B ends its section" wait $rb
check "the text reader ends its section" wait $rt
ip netns del hone2
# Every socket of the traffic is closed: sk_destruct made the table forget
# them (none left behind for a new socket in the same memory).
sockets() { sed -n 's/^sockets //p' "$STATS"; }
few_sockets() {
	local i
	for i in $(seq 100); do
		[ "$(sockets)" -le 3 ] && return 0
		sleep 0.1
	done
	return 1
}
check "the socket table forgets freed sockets ($(sockets) left)" few_sockets

# hone read, inside the guest: the pids of every tagged packet.
phase "hone read"
if "$HONE" read --data "$OUT/a.pcapng" >"$OUT/a.json" 2>"$OUT/a.err"; then
	ok "hone read decodes the capture"
else
	notok "hone read decodes the capture: $(head -3 "$OUT/a.err")"
fi
$HK check "$OUT/a.json" "$OUT/truth.jsonl"
check "hone read: 8+ packets in the second namespace" \
	test "$(grep -c '"192.0.2.2"' "$OUT/a.json")" -ge 8
check "hone read: the exec of echo with its argv" \
	grep -q '"event":"exec".*"exe":"/usr/bin/echo","argv":\["/bin/echo","hello world","HONE-ARG"\]' "$OUT/a.json"
check "hone read: an exit with code 3" \
	grep -q '"event":"exit".*"exit_code":3,' "$OUT/a.json"

# hone record --sensor kmod: the same pids, its own file.
phase "hone record --sensor kmod"
if "$HONE" read --data "$OUT/r.pcapng" >"$OUT/r.json" 2>"$OUT/r.rerr"; then
	ok "hone read decodes hone record's capture"
else
	notok "hone read decodes hone record's capture: $(head -3 "$OUT/r.rerr")"
fi
$HK check "$OUT/r.json" "$OUT/truth.jsonl" | sed 's/^\(not \)\{0,1\}ok - /&hone record: /'
check "hone record: the section ends with the module's statistics" \
	grep -q '^{"type":"stats",.*"dropped":{"process":0,"connection":0,"packet":0}' "$OUT/r.json"
check "hone record: the exec of echo with its argv" \
	grep -q '"event":"exec".*"exe":"/usr/bin/echo","argv":\["/bin/echo","hello world","HONE-ARG"\]' "$OUT/r.json"

# The text lines.
phase "text"
pid_of() { sed -n "s/.*\"$1\", \"op\": \"$2\", \"pid\": \([0-9]*\).*/\1/p" "$OUT/truth.jsonl"; }
check "text: a HEAD line first" \
	grep -qE '^[0-9]+\.[0-9]{9} HEAD [0-9]+\.[0-9]{9}$' <(head -1 "$OUT/t.txt")
check "text: a TAIL line last" \
	grep -qE '^[0-9]+\.[0-9]{9} TAIL$' <(tail -1 "$OUT/t.txt")
for t in UDP4 TCP4 UDP6 TCP6; do
	proto=${t:0:3}v${t:3}
	s=$(pid_of "HONE-$t-UP;" send) r=$(pid_of "HONE-$t-UP;" recv)
	check "text: $proto out by $s, in to $r" \
		test -n "$(grep -E " PAKT O [0-9a-f]{8} $s $proto " "$OUT/t.txt")" -a \
		-n "$(grep -E " PAKT I [0-9a-f]{8} $r $proto " "$OUT/t.txt")"
done
check "text: SOCK open and close lines" \
	test -n "$(grep -E ' SOCK O [0-9]+ [0-9]+ 0 0 [0-9a-f]{8}$' "$OUT/t.txt")" -a \
	-n "$(grep -E ' SOCK C [0-9]+ [0-9]+ 0 0 [0-9a-f]{8}$' "$OUT/t.txt")"
check "text: the exec of echo, argv escaped" \
	grep -qF '"/usr/bin/echo" /bin/echo hello\x20world HONE-ARG ' "$OUT/t.txt"
check "text: every line is printable ASCII" \
	test -z "$(LC_ALL=C grep -n '[^ -~]' "$OUT/t.txt")"

# ---- the attribution suite (tests/attribution) on the module ----
# Every scenario of the eBPF sensor's suite, run by `hone record --sensor
# kmod` on this kernel: each tagged packet must go to the process that
# sent or read it (100 %), the table printed for the log.
phase "attribution suite"
if DENO_DIR=/tmp/deno HONE_BIN=$HONE HONE_RECORD_ARGS="--sensor kmod" \
	NO_COLOR=1 "$TOP/.tools/node_modules/deno/deno" test -A --no-lock \
	"$TOP/tests/attribution_test.ts" >"$OUT/attribution.log" 2>&1; then
	ok "attribution suite, hone record --sensor kmod: $(grep -o 'overall.*' "$OUT/attribution.log")"
else
	notok "attribution suite, hone record --sensor kmod"
	grep -E 'AssertionError|HONE[a-z0-9]+:|error:' "$OUT/attribution.log" |
		head -20 | sed 's/^/#   /'
fi
sed -n '/^scenario /,/^overall /s/^/#   /p' "$OUT/attribution.log"

# ---- readers that go away ----
phase "unload"
cat /dev/hone >/dev/null &
k=$!
wait_readers 1
kill -9 $k
wait $k 2>/dev/null
check "a SIGKILLed reader leaves no reader behind" wait_readers 0
check "... and no reference on the module" test "$(cat /sys/module/honeevent/refcnt)" = 0
exec 3</dev/hone
check "unload is refused while a reader is open" sh -c '! rmmod honeevent 2>/dev/null'
exec 3<&-
# Loading and unloading patch kernel code (kprobes, static keys): under
# multi-threaded TCG another vCPU can run a stale copy of it, which real
# CPUs never do. One CPU online from here on.
CPU1=/sys/devices/system/cpu/cpu1/online
[ -w $CPU1 ] && echo 0 >$CPU1
check "unload works once it is closed" rmmod honeevent

# ---- load and unload 50 times under traffic, readers coming and going ----
phase "load cycles"
ping -q -i 0.02 127.0.0.1 >/dev/null 2>&1 &
p1=$!
ping -q -i 0.02 ::1 >/dev/null 2>&1 &
p2=$!
rm -f "$OUT/churned"
$HK churn "$OUT/churned" &
p3=$!
cycles=0 bad=0
for i in $(seq 50); do
	if ! insmod "$KO"; then
		bad=$((bad + 1))
		continue
	fi
	sleep 0.2
	for j in $(seq 50); do
		rmmod honeevent 2>/dev/null && break
		sleep 0.05
	done
	[ -e /sys/module/honeevent ] && bad=$((bad + 1))
	cycles=$((cycles + 1))
done
touch "$OUT/churned"
kill $p1 $p2
wait $p1 $p2 $p3 2>/dev/null
check "50 loads and unloads under traffic ($cycles done)" test $cycles = 50 -a $bad = 0
check "no kernel warning, oops or leak report" \
	sh -c '! dmesg | grep -E "WARNING:|BUG:|Oops|leak|refcount_t|list_(add|del) corruption"'

# ---- parameters, and modules that must not load ----
phase "parameters"
check "hostid_type=2 is refused" sh -c "! insmod '$KO' hostid_type=2 2>/dev/null"
check "a hostid that is no GUID is refused" \
	sh -c "! insmod '$KO' hostid_type=1 hostid=0123 2>/dev/null"
if [ -n "$OTHER" ]; then
	check "a module built for another kernel is refused" \
		sh -c "! insmod '$OTHER' 2>/dev/null"
	check "... and the kernel log says why" \
		sh -c "dmesg | tail -3 | grep -qE 'disagrees about version|version magic|section size must match'"
fi
GUID={6b29fc40-ca47-1067-b31d-00dd010662da}
if insmod "$KO" hostid_type=1 hostid=$GUID 'comment=hello\040world'; then
	[ -w $CPU1 ] && echo 1 >$CPU1
	$HK head "$GUID" "hello world"
else
	notok "insmod with hostid and comment"
fi
# ---- the eBPF sensor on this kernel ----
# It needs what 6.1 lacks (bpf_get_current_pid_tgid in cgroup_skb programs,
# the sock_send_length/sock_recv_length tracepoints): there, one line that
# names the kernel; on 6.12, a capture with its expression in the kernel.
phase "eBPF sensor"
grep -q ' cgroup2 ' /proc/mounts ||
	{ mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup; }
$HONE record --sensor ebpf -s 64 -c 2 -F json icmp \
	>"$OUT/ebpf.json" 2>"$OUT/ebpf.err" &
re=$!
for i in $(seq 600); do
	grep -q 'listening on' "$OUT/ebpf.err" 2>/dev/null && break
	kill -0 $re 2>/dev/null || break
	sleep 0.1
done
kver=$(uname -r)
case $kver in
6.1.*)
	wait $re
	rc=$?
	check "6.1: the eBPF sensor refuses in one line naming the kernel (exit $rc)" \
		sh -c "[ $rc = 1 ] && [ \$(wc -l <'$OUT/ebpf.err') = 1 ] &&
			grep -qF '$kver' '$OUT/ebpf.err'"
	;;
*)
	ping -c 2 -i 0.2 127.0.0.1 >/dev/null
	wait $re
	rc=$?
	check "the eBPF sensor records ping's packets with its pid, the expression in the kernel" \
		sh -c "[ $rc = 0 ] &&
			grep -q 'filter expression in the kernel' '$OUT/ebpf.err' &&
			grep -q '\"comm\":\"ping\"' '$OUT/ebpf.json'"
	;;
esac

phase "done"
