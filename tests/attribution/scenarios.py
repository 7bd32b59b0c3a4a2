#!/usr/bin/python3
"""Attribution scenarios with a truth model, for tests/attribution_test.ts.

Every payload carries a tag "HONE<scenario>:<run>.<n>;" and every process
logs, as JSON lines on the truth file, which pid and tid sent and which read
each tag. The test compares that log with hone's packets. <run> is the
driver's pid: hone sees every process on the machine, and another run's
tags are not this one's.

Usage: scenarios.py TRUTH_FILE
  Phase 1 opens the sockets that must exist before hone starts, prints
  "ready", and waits for a line on stdin. Phase 2 runs every scenario and
  prints "done". Only loopback and a veth pair in a namespace this script
  creates (and removes) are used, with addresses in 10.199.0.0/16 that no
  interface here has.
"""

import ctypes
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

TRUTH = sys.argv[1]
PY = sys.executable
# The run id in every tag; processes this script starts inherit it.
RUN = os.environ.setdefault("HONE_ATTRIBUTION_RUN", str(os.getpid()))
# Every blocking wait for the peer's data fails after this many seconds.
DEADLINE_S = 20
_lock = threading.Lock()


def log(scenario, n, op, sock_kind="", tid=None):
    """Appends one truth line: this pid/tid did op (send/recv) on tag n."""
    rec = {
        "tag": tag(scenario, n).decode(),
        "scenario": scenario,
        "op": op,
        "pid": os.getpid(),
        "tid": tid if tid is not None else threading.get_native_id(),
    }
    with _lock:
        with open(TRUTH, "a") as f:
            f.write(json.dumps(rec) + "\n")


def tag(scenario, n):
    return f"HONE{scenario}:{RUN}.{n};".encode()


def tag_n(data):
    """The n of the first tag in data."""
    return int(data.split(b";")[0].rsplit(b".", 1)[1])


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tcp_pair(scenario, family, host, rounds=3):
    """A server and a forked client exchange tagged messages."""
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        srv.close()
        c = socket.socket(family, socket.SOCK_STREAM)
        c.connect((host, port))
        for i in range(rounds):
            t = tag(scenario, 2 * i)
            log(scenario, 2 * i, "send")
            c.sendall(t)
            r = recv_exact(c, len(tag(scenario, 2 * i + 1)))
            log(scenario, 2 * i + 1, "recv")
        c.close()
        os._exit(0)
    conn, _ = srv.accept()
    for i in range(rounds):
        recv_exact(conn, len(tag(scenario, 2 * i)))
        log(scenario, 2 * i, "recv")
        log(scenario, 2 * i + 1, "send")
        conn.sendall(tag(scenario, 2 * i + 1))
    recv_exact(conn, 1)
    conn.close()
    srv.close()
    os.waitpid(pid, 0)


def udp_pair(scenario, family, bind_host, peer_host, connected, rounds=3):
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((bind_host, 0))
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        c = socket.socket(family, socket.SOCK_DGRAM)
        if connected:
            c.connect((peer_host, port))
        for i in range(rounds):
            log(scenario, 2 * i, "send")
            if connected:
                c.send(tag(scenario, 2 * i))
            else:
                c.sendto(tag(scenario, 2 * i), (peer_host, port))
            c.recv(256)
            log(scenario, 2 * i + 1, "recv")
        os._exit(0)
    for i in range(rounds):
        _, addr = srv.recvfrom(256)
        log(scenario, 2 * i, "recv")
        log(scenario, 2 * i + 1, "send")
        srv.sendto(tag(scenario, 2 * i + 1), addr)
    os.waitpid(pid, 0)
    srv.close()


def icmp_echo(scenario, kind):
    """Echo requests from a datagram ping socket or a raw socket."""
    proto = socket.IPPROTO_ICMP
    s = socket.socket(socket.AF_INET, kind, proto)
    s.settimeout(DEADLINE_S)
    for i in range(2):
        payload = tag(scenario, i)
        # type 8, code 0, checksum, id, seq; the kernel fills id for ping sockets.
        hdr = bytes([8, 0, 0, 0, 0x12, 0x34, 0, i])
        pkt = hdr + payload
        csum = _checksum(pkt)
        pkt = hdr[:2] + csum.to_bytes(2, "big") + hdr[4:] + payload
        log(scenario, i, "send")
        s.sendto(pkt, ("127.0.0.1", 0))
        while True:
            r, _ = s.recvfrom(512)
            body = r[20:] if kind == socket.SOCK_RAW else r
            if body[:1] == b"\x00" and payload in body:
                break
        log(scenario, i, "recv")
    s.close()


def ping_dgram(scenario):
    """Echo requests from a datagram ping socket. Those need the group in
    ping_group_range, a setting of the network namespace (see SCENARIOS)."""
    with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
        f.write("0 2147483647")
    icmp_echo(scenario, socket.SOCK_DGRAM)


def in_own_netns(fn):
    """Runs fn in a child process in a new network namespace, lo up."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True,
                           capture_output=True)
            fn()
            code = 0
        except Exception as e:
            print(f"in a new network namespace: {e!r}", file=sys.stderr,
                  flush=True)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"child {pid} ended with status {status}")


def _checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def shared_after_fork(scenario):
    """Parent and child both send and both read on one UDP socket."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    b.connect(a.getsockname())
    r, w = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Child: waits for its turn, then sends one and reads one.
        for i in range(2):
            os.read(r, 1)
            log(scenario, 10 + i, "send")
            a.send(tag(scenario, 10 + i))
            b.recv(256)
            log(scenario, 10 + i, "recv")
            reply = tag(scenario, 20 + i)
            log(scenario, 20 + i, "send")
            b.send(reply)
            a.recv(256)
            log(scenario, 20 + i, "recv")
            os.write(w2, b"x")
        os._exit(0)
    for i in range(2):
        log(scenario, i, "send")
        a.send(tag(scenario, i))
        b.recv(256)
        log(scenario, i, "recv")
        log(scenario, 30 + i, "send")
        b.send(tag(scenario, 30 + i))
        a.recv(256)
        log(scenario, 30 + i, "recv")
        os.write(w, b"x")
        os.read(r2, 1)
    os.waitpid(pid, 0)


def scm_rights(scenario):
    """A socket handed to another process with SCM_RIGHTS."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        left.close()
        _, fds, _, _ = socket.recv_fds(right, 16, 1)
        s = socket.socket(fileno=fds[0])
        for i in range(2):
            log(scenario, i, "send")
            s.send(tag(scenario, i))
            s.recv(256)
            log(scenario, 10 + i, "recv")
        os._exit(0)
    right.close()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(srv.getsockname())
    socket.send_fds(left, [b"s"], [c.fileno()])
    c.close()
    for i in range(2):
        _, addr = srv.recvfrom(256)
        log(scenario, i, "recv")
        log(scenario, 10 + i, "send")
        srv.sendto(tag(scenario, 10 + i), addr)
    os.waitpid(pid, 0)


def prefork(scenario, workers=3):
    """One listener, N forked workers that accept."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    kids = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:
            conn, _ = srv.accept()
            n = tag_n(recv_exact(conn, 32))
            log(scenario, n, "recv")
            log(scenario, n + 100, "send")
            conn.sendall(tag(scenario, n + 100).ljust(32, b"."))
            recv_exact(conn, 1)
            os._exit(0)
        kids.append(pid)
    srv.close()
    clients = []
    for i in range(workers):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("127.0.0.1", port))
        log(scenario, i, "send")
        c.sendall(tag(scenario, i).ljust(32, b"."))
        clients.append((i, c))
    for i, c in clients:
        recv_exact(c, 32)
        log(scenario, i + 100, "recv")
        c.close()
    for pid in kids:
        os.waitpid(pid, 0)


def threads(scenario, nthreads=3):
    """Several threads sending on one socket; the tid is reported."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(srv.getsockname())
    barrier = threading.Lock()

    def run(k):
        for i in range(2):
            n = k * 10 + i
            with barrier:
                log(scenario, n, "send")
                c.send(tag(scenario, n))
            time.sleep(0.01)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    for _ in range(2 * nthreads):
        d = srv.recv(256)
        log(scenario, tag_n(d), "recv")
    for t in ts:
        t.join()


def short_lived(scenario, count=20):
    """20 processes that exec, send one datagram and exit within ms."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    for i in range(count):
        t = tag(scenario, i).decode()
        p = subprocess.Popen(
            ["/bin/bash", "-c", f"printf '{t}' > /dev/udp/127.0.0.1/{port}"])
        # The sender is bash itself (pid p.pid): it writes the truth after.
        p.wait()
        with _lock:
            with open(TRUTH, "a") as f:
                f.write(json.dumps({"tag": t, "scenario": scenario, "op": "send",
                                    "pid": p.pid, "tid": p.pid}) + "\n")
        srv.recv(256)
        log(scenario, i, "recv")


def exec_after_socket(scenario):
    """A socket made before exec: same pid, new exe, sends after exec."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(srv.getsockname())
    os.set_inheritable(c.fileno(), True)
    code = ("import os,socket,json,sys;"
            f"s=socket.socket(fileno={c.fileno()});"
            f"t={tag(scenario, 0)!r};"
            f"open({TRUTH!r},'a').write(json.dumps({{'tag':t.decode(),'scenario':'{scenario}','op':'send','pid':os.getpid(),'tid':os.getpid()}})+'\\n');"
            "s.send(t)")
    pid = os.fork()
    if pid == 0:
        os.execv("/usr/bin/python3", ["python3", "-c", code])
    os.waitpid(pid, 0)
    srv.recv(256)
    log(scenario, 0, "recv")


def free_subnet():
    """The two host addresses of a /30 in 10.199.0.0/16 that no interface
    here is in, the search starting at one that depends on our pid (another
    run may be choosing at the same time)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True,
                         capture_output=True, text=True).stdout
    used = {int(a) * 64 + int(b) // 4
            for a, b in re.findall(r" 10\.199\.(\d+)\.(\d+)/", out)}
    for k in range(16384):
        n = (os.getpid() + k) % 16384
        if n not in used:
            net = f"10.199.{n // 64}."
            return net + str(n % 64 * 4 + 1), net + str(n % 64 * 4 + 2)
    raise RuntimeError("no free /30 in 10.199.0.0/16")


def connect_when_up(addr):
    """A TCP connection to addr, tried again while the veth comes up."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            c.connect(addr)
            return c
        except OSError:
            c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def netns(scenario):
    """A process in another network namespace, over a veth pair."""
    ns = f"hone-attr-{os.getpid()}"
    va, vb = f"ha{os.getpid() % 100000}", f"hb{os.getpid() % 100000}"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    here, there = free_subnet()
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        run("ip", "link", "set", vb, "netns", ns)
        run("ip", "addr", "add", f"{here}/30", "dev", va)
        run("ip", "link", "set", va, "up")
        run("ip", "-n", ns, "addr", "add", f"{there}/30", "dev", vb)
        run("ip", "-n", ns, "link", "set", vb, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        srv = subprocess.Popen(
            ["ip", "netns", "exec", ns, PY, __file__, TRUTH, "--netns-server",
             scenario, there], stdout=subprocess.PIPE)
        port = int(srv.stdout.readline())
        c = connect_when_up((there, port))
        for i in range(2):
            log(scenario, 2 * i, "send")
            c.sendall(tag(scenario, 2 * i))
            recv_exact(c, len(tag(scenario, 2 * i + 1)))
            log(scenario, 2 * i + 1, "recv")
        c.close()
        srv.wait()
    finally:
        subprocess.run(["ip", "link", "del", va], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def netns_server(scenario, addr):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((addr, 0))
    srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    conn, _ = srv.accept()
    for i in range(2):
        recv_exact(conn, len(tag(scenario, 2 * i)))
        log(scenario, 2 * i, "recv")
        log(scenario, 2 * i + 1, "send")
        conn.sendall(tag(scenario, 2 * i + 1))
    recv_exact(conn, 1)


class PreExisting:
    """Sockets opened before hone starts: a listener, an established
    connection and a UDP socket, used after it started."""

    def __init__(self):
        self.lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(4)
        self.est_srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.est_srv.bind(("127.0.0.1", 0))
        self.est_srv.listen(1)
        self.est_c = socket.create_connection(self.est_srv.getsockname())
        self.est_s, _ = self.est_srv.accept()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp_c.connect(self.udp.getsockname())

    def run(self):
        sc = "preexisting"
        # The established connection.
        log(sc, 0, "send")
        self.est_c.sendall(tag(sc, 0))
        recv_exact(self.est_s, len(tag(sc, 0)))
        log(sc, 0, "recv")
        log(sc, 1, "send")
        self.est_s.sendall(tag(sc, 1))
        recv_exact(self.est_c, len(tag(sc, 1)))
        log(sc, 1, "recv")
        # The UDP socket.
        log(sc, 2, "send")
        self.udp_c.send(tag(sc, 2))
        self.udp.recv(256)
        log(sc, 2, "recv")
        # The listener: a new connection accepted on it.
        c = socket.create_connection(self.lst.getsockname())
        s, _ = self.lst.accept()
        log(sc, 3, "send")
        c.sendall(tag(sc, 3))
        recv_exact(s, len(tag(sc, 3)))
        log(sc, 3, "recv")
        for x in (c, s, self.est_c, self.est_s):
            x.close()


# The ICMP scenarios run in a network namespace of their own: every raw ICMP
# socket in a namespace gets a copy of each echo reply (hone reports such a
# copy, rightly, as read by its process, which may be another run's ping),
# and ping_group_range, which another run may set back meanwhile, is a
# setting of the namespace.
SCENARIOS = [
    ("tcp4", lambda: tcp_pair("tcp4", socket.AF_INET, "127.0.0.1")),
    ("tcp6", lambda: tcp_pair("tcp6", socket.AF_INET6, "::1")),
    ("udpconn", lambda: udp_pair("udpconn", socket.AF_INET, "0.0.0.0",
                                 "127.0.0.1", True)),
    ("udpunconn", lambda: udp_pair("udpunconn", socket.AF_INET6, "::", "::1",
                                   False)),
    ("pingdgram", lambda: in_own_netns(lambda: ping_dgram("pingdgram"))),
    ("pingraw", lambda: in_own_netns(
        lambda: icmp_echo("pingraw", socket.SOCK_RAW))),
    ("forkshared", lambda: shared_after_fork("forkshared")),
    ("scmrights", lambda: scm_rights("scmrights")),
    ("prefork", lambda: prefork("prefork")),
    ("threads", lambda: threads("threads")),
    ("shortlived", lambda: short_lived("shortlived")),
    ("execafter", lambda: exec_after_socket("execafter")),
    ("netns", lambda: netns("netns")),
]


def main():
    if len(sys.argv) > 3 and sys.argv[2] == "--netns-server":
        netns_server(sys.argv[3], sys.argv[4])
        return
    pre = PreExisting()
    print("ready", flush=True)
    sys.stdin.readline()
    pre.run()
    for name, fn in SCENARIOS:
        try:
            fn()
        except Exception as e:  # a scenario that cannot run is reported
            print(f"scenario {name} failed: {e!r}", file=sys.stderr, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
