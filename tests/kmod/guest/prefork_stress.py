#!/usr/bin/python3
"""Runs the attribution suite's prefork scenario N times, then checks hone.

Usage (inside a guest, from the repository; see tests/kmod/vm):
  python3 tests/kmod/guest/prefork_stress.py N CAPTURE_DIR
It records with `dist/hone record --sensor kmod`, runs `prefork` N times
(one listener, three forked workers that accept), and exits 1 if any
tagged packet names another process than the one that sent or read it.
Not part of `make test` (about 30 s per 400 runs under TCG): it found the
data that overtakes the handshake's last ACK from another CPU.
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "attribution"))
n, out = int(sys.argv[1]), sys.argv[2]
truth, cap = os.path.join(out, "truth"), os.path.join(out, "cap.pcapng")
sys.argv = [sys.argv[0], truth]
import scenarios  # noqa: E402  (reads its truth file from sys.argv[1])

hone = os.path.join(HERE, "..", "..", "..", "dist", "hone")
rec = subprocess.Popen([hone, "record", "--sensor", "kmod", "--data", "-s",
                        "0", "-w", cap], stderr=subprocess.PIPE, text=True)
assert "listening" in rec.stderr.readline()
for i in range(n):
    scenarios.prefork("pf%d" % i)
rec.terminate()
print(rec.communicate()[1], end="", file=sys.stderr)
want = {}
for line in open(truth):
    t = json.loads(line)
    want[(t["tag"], "out" if t["op"] == "send" else "in")] = t["pid"]
seen = bad = 0
rd = subprocess.run([hone, "read", "--data", cap], capture_output=True,
                    text=True, check=True)
for line in rd.stdout.splitlines():
    p = json.loads(line)
    if p.get("type") != "packet":
        continue
    data = bytes.fromhex(p.get("data", "")).decode("latin1")
    for m in re.findall(r"HONEpf\d+:\d+\.\d+;", data):
        pid = want.get((m, p["dir"]))
        if pid is None:
            continue
        seen += 1
        if p.get("pid") != pid:
            bad += 1
            print(f"{m} {p['dir']}: pid {p.get('pid')} ({p.get('how')}),"
                  f" truth {pid}")
print(f"{seen} tagged packets, {bad} wrong")
sys.exit(1 if bad or not seen else 0)
