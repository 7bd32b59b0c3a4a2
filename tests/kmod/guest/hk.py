#!/usr/bin/python3
"""Guest-side helpers of the kmod tests (tests/kmod/guest/tests.sh).

  hk.py read DEV OUT [--bufsize N] [--snaplen N] STOPFILE
      A reader: poll()s and reads DEV into OUT until STOPFILE exists, then
      issues HEIO_RESTART and reads on to the 0 that ends the section (so
      a pcapng capture ends with its statistics block).
  hk.py traffic TRUTH
      TCP, UDP (IPv4 and IPv6), ICMP echo and a socket shared after fork,
      between processes on loopback; every payload carries a tag, and
      TRUTH gets one JSON line per tag: which pid sent it, which read it.
  hk.py check JSON TRUTH
      Compares `hone read --data` output with TRUTH: each tag's outbound
      packet carries the sender's pid, its inbound one the reader's.
  hk.py churn STOPFILE
      Until STOPFILE exists: sockets opened and closed (TCP to a closed
      port, UDP), and readers of /dev/hone and /dev/honet opened, read a
      little and closed whenever the module is there.
  hk.py head GUID COMMENT
      The section header of /dev/hone and the HEAD line of /dev/honet
      carry the module's hostid (a GUID) and comment parameters.
  hk.py device
      The device interface: open modes, ioctls, non-blocking reads, poll,
      restart, snap length, the filter socket, a reader that never reads.
Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any
check failed.
"""

import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time

HEIO_RESTART = 0xE001
HEIO_GET_AT_HEAD = 0xE003
HEIO_GET_SNAPLEN = 0x8004E004
HEIO_SET_SNAPLEN = 0x4004E005
HEIO_SET_FILTER_SOCK = 0x4004E006
PARAMS = "/sys/module/honeevent/parameters"

failed = 0


def ok(cond, name, detail=""):
    global failed
    if cond:
        print(f"ok - {name}", flush=True)
    else:
        failed += 1
        print(f"not ok - {name}{': ' + str(detail) if detail else ''}",
              flush=True)
    return cond


# ---- PCAP-NG blocks ----

def blocks(data):
    """(type, body) of each complete block, and the bytes left over."""
    out, off = [], 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or blen % 4 or off + blen > len(data):
            break
        if struct.unpack_from("<I", data, off + blen - 4)[0] != blen:
            raise ValueError(f"block at {off}: trailing length differs")
        out.append((btype, data[off + 8:off + blen - 4]))
        off += blen
    return out, len(data) - off


def options(body, start):
    opts, off = [], start
    while off + 4 <= len(body):
        code, n = struct.unpack_from("<HH", body, off)
        if code == 0:
            break
        opts.append((code, body[off + 4:off + 4 + n]))
        off += 4 + ((n + 3) & ~3)
    return opts


def isb_counters(body):
    return {c: struct.unpack("<Q", v)[0] for c, v in options(body, 12)
            if len(v) == 8 and c != 2}


# ---- a reader ----

def read_dev(dev, out, stop, bufsize=65536, snaplen=None):
    fd = os.open(dev, os.O_RDONLY | os.O_NONBLOCK)
    if snaplen is not None:
        fcntl.ioctl(fd, HEIO_SET_SNAPLEN, snaplen)
    p = select.poll()
    p.register(fd, select.POLLIN)
    stopping = False
    with open(out, "wb") as f:
        while True:
            if not stopping and os.path.exists(stop):
                fcntl.ioctl(fd, HEIO_RESTART)
                stopping = True
            p.poll(100)
            while True:
                try:
                    b = os.read(fd, bufsize)
                except BlockingIOError:
                    break
                if not b:
                    if stopping:
                        os.close(fd)
                        return
                    continue
                f.write(b)


# ---- traffic with a truth file ----

def log(truth, tag, op):
    with open(truth, "a") as f:
        f.write(json.dumps({"tag": tag, "op": op, "pid": os.getpid()}) +
                "\n")


def child(fn):
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    return pid


def tcp(truth, fam, host, name):
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    up, down = f"HONE-{name}-UP;".encode(), f"HONE-{name}-DOWN;".encode()

    def server():
        c, _ = srv.accept()
        c.recv(len(up), socket.MSG_WAITALL)
        log(truth, up.decode(), "recv")
        log(truth, down.decode(), "send")
        c.sendall(down)
        c.recv(1, socket.MSG_WAITALL)
        c.close()

    pid = child(server)
    srv.close()

    def client():
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.connect((host, port))
        log(truth, up.decode(), "send")
        c.sendall(up)
        c.recv(len(down), socket.MSG_WAITALL)
        log(truth, down.decode(), "recv")
        c.sendall(b".")
        c.close()

    cpid = child(client)
    os.waitpid(cpid, 0)
    os.waitpid(pid, 0)


def udp(truth, fam, host, name):
    srv = socket.socket(fam, socket.SOCK_DGRAM)
    srv.bind((host, 0))
    addr = srv.getsockname()
    up, down = f"HONE-{name}-UP;".encode(), f"HONE-{name}-DOWN;".encode()

    def server():
        d, peer = srv.recvfrom(100)
        log(truth, d.decode(), "recv")
        log(truth, down.decode(), "send")
        srv.sendto(down, peer)

    pid = child(server)
    srv.close()

    def client():
        c = socket.socket(fam, socket.SOCK_DGRAM)
        log(truth, up.decode(), "send")
        c.sendto(up, addr)
        d = c.recv(100)
        log(truth, d.decode(), "recv")

    cpid = child(client)
    os.waitpid(cpid, 0)
    os.waitpid(pid, 0)


def shared(truth):
    """A UDP socket made by a parent and read by its child after fork."""
    tag = b"HONE-SHARED;"
    ready_r, ready_w = os.pipe()

    def owner():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

        def reader():
            os.write(ready_w, struct.pack("<H", port))
            d = s.recv(100)
            log(truth, d.decode(), "recv")

        rpid = child(reader)
        s.close()
        os.waitpid(rpid, 0)

    opid = child(owner)
    port = struct.unpack("<H", os.read(ready_r, 2))[0]
    time.sleep(0.3)  # the reader is in recv() by now

    def sender():
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        log(truth, tag.decode(), "send")
        c.sendto(tag, ("127.0.0.1", port))

    os.waitpid(child(sender), 0)
    os.waitpid(opid, 0)


def ping(truth):
    tag = b"HONE-PING;"

    def pinger():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                          socket.IPPROTO_ICMP)
        ident = os.getpid() & 0xffff
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + tag
        csum = 0
        for i in range(0, len(hdr), 2):
            csum += (hdr[i] << 8) + (hdr[i + 1] if i + 1 < len(hdr) else 0)
        csum = (csum >> 16) + (csum & 0xffff)
        csum = ~(csum + (csum >> 16)) & 0xffff
        pkt = hdr[:2] + struct.pack("!H", csum) + hdr[4:]
        log(truth, tag.decode(), "send")
        s.sendto(pkt, ("127.0.0.1", 0))
        while True:
            d = s.recv(200)
            if d[20] == 0 and tag in d:
                log(truth, tag.decode(), "recv")
                break

    os.waitpid(child(pinger), 0)


def traffic(truth):
    tcp(truth, socket.AF_INET, "127.0.0.1", "TCP4")
    udp(truth, socket.AF_INET, "127.0.0.1", "UDP4")
    tcp(truth, socket.AF_INET6, "::1", "TCP6")
    udp(truth, socket.AF_INET6, "::1", "UDP6")
    ping(truth)
    shared(truth)


def check(js, truth):
    want = {}
    with open(truth) as f:
        for line in f:
            r = json.loads(line)
            want.setdefault(r["tag"], {})[r["op"]] = r["pid"]
    seen = {}
    with open(js) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") != "packet" or not r.get("data"):
                continue
            data = bytes.fromhex(r["data"])
            # The kernel's echo reply quotes the request: not the pinger's.
            if r.get("icmp_type") == (0 if r["dir"] == "out" else 8):
                continue
            for tag in want:
                if tag.encode() in data:
                    seen.setdefault((tag, r["dir"]), []).append(r["pid"])
    for tag in sorted(want):
        for op, d in (("send", "out"), ("recv", "in")):
            exp = want[tag].get(op)
            got = seen.get((tag, d), [])
            ok(exp is not None and got and all(p == exp for p in got),
               f"{tag} {d}: pid {exp}", f"got {got}")


# ---- the device interface ----

def drain(fd, bufsize=65536):
    """Reads a non-blocking reader until EAGAIN; returns the bytes."""
    data = b""
    while True:
        try:
            b = os.read(fd, bufsize)
        except BlockingIOError:
            return data
        if not b:
            return data
        data += b


def ping_once():
    os.system("ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1")


SINK = None


def udp_send(n, sock=None, payload=b"x" * 64):
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(n):
        s.sendto(payload, SINK.getsockname())
    return s


def epbs_with(data, needle):
    """Directions (1 in, 2 out) of the EPBs whose packet holds needle."""
    out = []
    for t, b in blocks(data)[0]:
        if t != 6 or needle not in b:
            continue
        cap = struct.unpack_from("<I", b, 12)[0]
        for code, v in options(b, 20 + ((cap + 3) & ~3)):
            if code == 2:
                out.append(struct.unpack("<I", v)[0] & 3)
    return sorted(out)


def device():
    # Open modes.
    for mode, name in ((os.O_RDWR, "O_RDWR"), (os.O_WRONLY, "O_WRONLY")):
        try:
            os.close(os.open("/dev/hone", mode))
            ok(False, f"open {name} fails with EINVAL", "it opened")
        except OSError as e:
            ok(e.errno == errno.EINVAL, f"open {name} fails with EINVAL", e)

    # A receiver for every datagram sent below (no ICMP errors), also a
    # socket for the snapshot to find.
    global SINK
    SINK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    SINK.bind(("127.0.0.1", 0))
    SINK.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    fd = os.open("/dev/hone", os.O_RDONLY | os.O_NONBLOCK)
    ok(fcntl.ioctl(fd, HEIO_GET_AT_HEAD) == 1, "HEIO_GET_AT_HEAD is 1 at open")
    buf = bytearray(4)
    fcntl.ioctl(fd, HEIO_GET_SNAPLEN, buf)
    default = int(open(f"{PARAMS}/snaplen").read())
    ok(struct.unpack("<I", buf)[0] == default,
       "HEIO_GET_SNAPLEN gives the snaplen parameter")
    p = select.poll()
    p.register(fd, select.POLLIN)
    ok(p.poll(0), "poll: readable at open (section header due)")

    # Records split across reads: 7 bytes at a time.
    data, most = b"", 0
    while len(data) < 4096:
        try:
            b = os.read(fd, 7)
        except BlockingIOError:
            break
        most = max(most, len(b))
        data += b
    ok(most == 7, "a read returns at most what was asked", most)
    data += drain(fd)
    bl, rest = blocks(data)
    ok(bl and bl[0][0] == 0x0A0D0D0A and bl[1][0] == 1 and rest == 0,
       "7-byte reads give whole blocks: SHB, IDB, ...",
       f"{[hex(t) for t, _ in bl[:3]]} rest {rest}")
    types = {t for t, _ in bl}
    ok(0x101 in types and 0x102 in types,
       "the snapshot has process and connection blocks", types)
    # A buffer that holds any record gets whole records only.
    fd2 = os.open("/dev/hone", os.O_RDONLY | os.O_NONBLOCK)
    cut, reads = [], 0
    while reads < 1000:
        try:
            b = os.read(fd2, 3000)
        except BlockingIOError:
            break
        reads += 1
        rest = blocks(b)[1]
        if rest:
            cut.append((len(b), rest))
    os.close(fd2)
    ok(reads > 1 and not cut, "3000-byte reads end at block boundaries",
       f"{reads} reads, cut: {cut[:3]}")
    ok(fcntl.ioctl(fd, HEIO_GET_AT_HEAD) == 0,
       "HEIO_GET_AT_HEAD is 0 once the header is read")

    # Non-blocking: nothing pending gives EAGAIN, poll says so.
    try:
        os.read(fd, 4096)
        ok(False, "non-blocking read of an empty ring: EAGAIN", "data")
    except BlockingIOError:
        ok(True, "non-blocking read of an empty ring: EAGAIN")
    except OSError as e:
        ok(False, "non-blocking read of an empty ring: EAGAIN", e)
    ok(p.poll(0) == [], "poll: not readable when empty")
    ping_once()
    ok(p.poll(2000), "poll: readable after traffic")
    bl, rest = blocks(drain(fd))
    ok(any(t == 6 for t, _ in bl) and rest == 0, "the ping is in the stream")

    # Snap length: a new SHB/IDB with it, packets cut to it.
    fcntl.ioctl(fd, HEIO_SET_SNAPLEN, 40)
    fcntl.ioctl(fd, HEIO_GET_SNAPLEN, buf)
    ok(struct.unpack("<I", buf)[0] == 40, "HEIO_SET_SNAPLEN 40, then GET: 40")
    ok(fcntl.ioctl(fd, HEIO_GET_AT_HEAD) == 1,
       "HEIO_GET_AT_HEAD is 1 after a snap length change")
    udp_send(1, payload=b"y" * 200)
    time.sleep(0.2)
    bl, rest = blocks(drain(fd))
    ok(len(bl) >= 2 and bl[0][0] == 0x0A0D0D0A and bl[1][0] == 1 and
       struct.unpack_from("<I", bl[1][1], 4)[0] == 40,
       "a new SHB and IDB with snaplen 40 come first",
       [hex(t) for t, _ in bl[:3]])
    caps = [struct.unpack_from("<II", b, 12) for t, b in bl if t == 6]
    ok(caps and all(c == min(40, w) for c, w in caps),
       "packets are cut to 40 bytes", caps)
    fcntl.ioctl(fd, HEIO_SET_SNAPLEN, 0)
    drain(fd)

    # The filter socket.
    try:
        fcntl.ioctl(fd, HEIO_SET_FILTER_SOCK, 0)  # stdin: not a socket
        ok(False, "HEIO_SET_FILTER_SOCK on a non-socket: ENOTSOCK")
    except OSError as e:
        ok(e.errno == errno.ENOTSOCK,
           "HEIO_SET_FILTER_SOCK on a non-socket: ENOTSOCK", e)
    # mine -> SINK -> mine: the packets mine sends and receives go, the
    # same datagrams as SINK receives and sends them stay.
    mine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mine.bind(("127.0.0.1", 0))
    fcntl.ioctl(fd, HEIO_SET_FILTER_SOCK, mine.fileno())
    for i in range(3):
        udp_send(1, sock=mine, payload=b"HONE-FILTERED-A;")
        SINK.sendto(b"HONE-FILTERED-B;", mine.getsockname())
    time.sleep(0.2)
    data = drain(fd)
    a, b = epbs_with(data, b"HONE-FILTERED-A;"), epbs_with(data, b"HONE-FILTERED-B;")
    ok(a == [1, 1, 1] and b == [2, 2, 2],
       "the filter socket's packets are left out, the peer's kept",
       f"mine->peer {a}, peer->mine {b}")
    fcntl.ioctl(fd, HEIO_SET_FILTER_SOCK, -1)
    udp_send(1, sock=mine, payload=b"HONE-UNFILTERED;")
    time.sleep(0.2)
    ok(epbs_with(drain(fd), b"HONE-UNFILTERED;") == [1, 2],
       "-1 clears the filter")

    # Unknown ioctls.
    for cmd in (0xE0FF, 0xE002, 0x5401):
        try:
            fcntl.ioctl(fd, cmd)
            ok(False, f"ioctl {cmd:#x}: ENOTTY")
        except OSError as e:
            ok(e.errno == errno.ENOTTY, f"ioctl {cmd:#x}: ENOTTY", e)

    # Restart: ISB, a read of 0, then a new section with a snapshot.
    ok(fcntl.ioctl(fd, HEIO_RESTART) == 0, "HEIO_RESTART")
    data, zero = b"", False
    for _ in range(1000):
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if not b:
            zero = True
            break
        data += b
    bl, rest = blocks(data)
    ok(zero and bl and bl[-1][0] == 5 and len(bl[-1][1]) == 196 - 12,
       "restart: the section ends with a 196-byte ISB, then read gives 0",
       [hex(t) for t, _ in bl[-2:]])
    if bl and bl[-1][0] == 5:
        c = isb_counters(bl[-1][1])
        ok(c.get(6, 0) >= 3 and c.get(8, 0) >= 1,
           "ISB counts filtered and delivered packets", c)
    ok(fcntl.ioctl(fd, HEIO_GET_AT_HEAD) == 1,
       "HEIO_GET_AT_HEAD is 1 after the 0")
    bl, rest = blocks(drain(fd))
    ok(bl and bl[0][0] == 0x0A0D0D0A and 0x101 in {t for t, _ in bl},
       "after the 0: SHB, IDB and a new snapshot")
    os.close(fd)

    # A reader that never reads fills only its own ring.
    with open(f"{PARAMS}/pageorder") as f:
        order = f.read().strip()
    with open(f"{PARAMS}/pageorder", "w") as f:
        f.write("2")
    lazy = os.open("/dev/hone", os.O_RDONLY | os.O_NONBLOCK)
    with open(f"{PARAMS}/pageorder", "w") as f:
        f.write(order)
    busy = os.open("/dev/hone", os.O_RDONLY | os.O_NONBLOCK)
    drain(busy)
    s = udp_send(300, payload=b"z" * 200)
    time.sleep(0.2)
    n = len(epbs_with(drain(busy), b"z" * 100))
    ok(n == 600, "a reader that reads gets every packet (300 out, 300 in)",
       n)
    with open("/sys/kernel/debug/honeevent/stats") as f:
        stats = f.read()
    ok(stats.count("\nreader ") == 2, "debugfs shows both readers", stats)
    data = drain(lazy)  # header, snapshot, what fit of the flood
    fcntl.ioctl(lazy, HEIO_RESTART)
    data += drain(lazy)
    bl, _ = blocks(data)
    isb = [b for t, b in bl if t == 5]
    if ok(isb, "the lazy reader's section ends with an ISB"):
        c = isb_counters(isb[-1])
        ok(c.get(7, 0) > 0 and c.get(7, 0) + c.get(8, 0) >= 600,
           "its ISB counts the dropped packets", c)
    os.close(lazy)
    os.close(busy)
    s.close()
    try:
        with open(f"{PARAMS}/pageorder", "w") as f:
            f.write("99")
        ok(False, "pageorder=99 is refused")
    except OSError as e:
        ok(e.errno == errno.EINVAL, "pageorder=99 is refused", e)


def head(guid, comment):
    fd = os.open("/dev/hone", os.O_RDONLY | os.O_NONBLOCK)
    bl, _ = blocks(drain(fd))
    os.close(fd)
    shb = bl[0][1] if bl and bl[0][0] == 0x0A0D0D0A else b""
    opts = dict(options(shb, 16))
    hexs = guid.strip("{}").replace("-", "")
    raw = struct.pack("<IHH", int(hexs[:8], 16), int(hexs[8:12], 16),
                      int(hexs[12:16], 16)) + bytes.fromhex(hexs[16:])
    ok(opts.get(257) == b"\x01\x00\x00\x00" + raw,
       "SHB option 257: type 1 and the GUID", opts.get(257))
    ok(opts.get(1) == comment.encode(), "SHB comment, \\040 decoded",
       opts.get(1))
    ok(opts.get(4, b"").startswith(b"Hone "), "SHB shb_userappl", opts.get(4))
    ok(opts.get(3, b"").startswith(b"Linux "), "SHB shb_os", opts.get(3))
    fd = os.open("/dev/honet", os.O_RDONLY | os.O_NONBLOCK)
    line = drain(fd).split(b"\n")[0].decode()
    os.close(fd)
    ok(line.endswith(" {" + guid.strip("{}").lower() + "}"),
       "text HEAD line ends with the GUID", line)


def churn(stop):
    n = 0
    while not os.path.exists(stop):
        n += 1
        try:
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", 9))
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"HONE-CHURN;", ("127.0.0.1", 9))
            time.sleep(0.01)
            c.close()
            u.close()
        except OSError:
            pass
        try:
            fd = os.open("/dev/hone" if n % 2 else "/dev/honet",
                         os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            for _ in range(4):
                try:
                    os.read(fd, 4096)
                except OSError:
                    break
        finally:
            os.close(fd)
        time.sleep(0.02)


def main():
    a = sys.argv[1:]
    if a[:1] == ["read"] and len(a) >= 4:
        bufsize, snaplen = 65536, None
        rest = a[3:]
        while rest and rest[0].startswith("--"):
            if rest[0] == "--bufsize":
                bufsize = int(rest[1])
            elif rest[0] == "--snaplen":
                snaplen = int(rest[1])
            rest = rest[2:]
        read_dev(a[1], a[2], rest[0], bufsize, snaplen)
    elif a[:1] == ["traffic"] and len(a) == 2:
        traffic(a[1])
    elif a[:1] == ["check"] and len(a) == 3:
        check(a[1], a[2])
    elif a[:1] == ["head"] and len(a) == 3:
        head(a[1], a[2])
    elif a[:1] == ["churn"] and len(a) == 2:
        churn(a[1])
    elif a == ["device"]:
        device()
    else:
        sys.exit(__doc__)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
