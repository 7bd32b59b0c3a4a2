// SPDX-License-Identifier: GPL-2.0
/*
 * How events look in a reader's stream.
 *
 * /dev/hone: PCAP-NG as the original Hone sensor wrote it (hone-pcapng.txt
 * and its pcapng.c): native byte order, microsecond wall-clock time stamps,
 * one interface of link type 101 (raw IP), Process Event Blocks (0x101),
 * Connection Event Blocks (0x102), Enhanced Packet Blocks with the
 * connection (257) and process (258) options, and Interface Statistics
 * Blocks at a restart. hone adds local-use options (>= 0x8000) that other
 * tools skip: how a packet's process is known and a process's exit code.
 *
 * /dev/honet: the original's text lines (monotonic time stamps), with
 * process-controlled text escaped (\xHH) so that a line stays one line.
 *
 * Every function here only writes through a sink, and writes the same bytes
 * whether the sink counts or stores, so a record can be measured first and
 * then written in place.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/skbuff.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/utsname.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include "hone.h"

/* Block types and option codes (hone-pcapng.txt, pcapng spec). */
#define BT_SHB		0x0a0d0d0a
#define BT_IDB		0x00000001
#define BT_ISB		0x00000005
#define BT_EPB		0x00000006
#define BT_PEB		0x00000101
#define BT_CEB		0x00000102
#define OPT_END		0
#define OPT_COMMENT	1
#define SHB_OS		3
#define SHB_USERAPPL	4
#define SHB_HOSTID	257
#define IF_DESCRIPTION	3
#define EPB_FLAGS	2
#define EPB_CONN	257
#define EPB_PID		258
#define EPB_PID_TID	8	/* epb_processid_threadid */
#define EPB_HONE_HOW	0xF0E1	/* not Apple's 0x8001 (its PIB index) */
#define PEB_EVENT	2
#define PEB_PATH	3
#define PEB_ARGV	4
#define PEB_PPID	5
#define PEB_EUID	6
#define PEB_EGID	7
#define PEB_HONE_EXIT	0x8003
#define CEB_EVENT	2
#define LINKTYPE_RAW	101

static const char hone_if_desc[] = "Hone Capture Pseudo-device";
static const char hone_userappl[] = "Hone " HONE_VERSION;
static const char *const hone_hows[] = {
	[HONE_HOW_SENDER] = "sender",
	[HONE_HOW_READER] = "reader",
	[HONE_HOW_USER] = "user",
	[HONE_HOW_CREATOR] = "creator",
	[HONE_HOW_SNAPSHOT] = "snapshot",
};

static void sink_copy(struct hone_sink *s, const void *p, u32 len, u64 at)
{
	u32 off, first;

	if (s->mask == ~0ULL) {
		memcpy(s->buf + at, p, len);
		return;
	}
	off = at & s->mask;
	first = min_t(u64, len, s->mask + 1 - off);
	memcpy(s->buf + off, p, first);
	if (len > first)
		memcpy(s->buf, p + first, len - first);
}

void hone_sink_put(struct hone_sink *s, const void *p, u32 len)
{
	if (s->buf && len)
		sink_copy(s, p, len, s->pos + s->n);
	s->n += len;
}

static void sink_zero(struct hone_sink *s, u32 len)
{
	static const u8 zero[8];

	while (len) {
		u32 n = min_t(u32, len, sizeof(zero));

		hone_sink_put(s, zero, n);
		len -= n;
	}
}

/* Copies len bytes of skb from offset off (within skb->len). */
static void sink_skb(struct hone_sink *s, const struct sk_buff *skb, int off,
		     u32 len)
{
	u64 at = s->pos + s->n;
	u32 o, first;

	s->n += len;
	if (!s->buf || !len)
		return;
	if (s->mask == ~0ULL) {
		if (skb_copy_bits(skb, off, s->buf + at, len))
			memset(s->buf + at, 0, len);
		return;
	}
	o = at & s->mask;
	first = min_t(u64, len, s->mask + 1 - o);
	if (skb_copy_bits(skb, off, s->buf + o, first))
		memset(s->buf + o, 0, first);
	if (len > first && skb_copy_bits(skb, off + first, s->buf, len - first))
		memset(s->buf, 0, len - first);
}

/* ---- PCAP-NG ---- */

static u32 optlen(u32 len)
{
	return 4 + ALIGN(len, 4);
}

static void put32(struct hone_sink *s, u32 v)
{
	hone_sink_put(s, &v, 4);
}

static void put_opt(struct hone_sink *s, u16 code, const void *val, u32 len)
{
	u16 h[2] = { code, len };

	hone_sink_put(s, h, 4);
	hone_sink_put(s, val, len);
	sink_zero(s, ALIGN(len, 4) - len);
}

static void put_opt32(struct hone_sink *s, u16 code, u32 v)
{
	put_opt(s, code, &v, 4);
}

static void put_opt64(struct hone_sink *s, u16 code, u64 v)
{
	put_opt(s, code, &v, 8);
}

static void put_end(struct hone_sink *s)
{
	put32(s, OPT_END);
}

/* Microseconds since the epoch, high word first, as pcapng wants them. */
static void put_ts(struct hone_sink *s, const struct hone_reader *r, u64 ts)
{
	u64 us = div_u64(ts + r->wall_off, NSEC_PER_USEC);

	put32(s, us >> 32);
	put32(s, (u32)us);
}

static void put_opt_ts(struct hone_sink *s, u16 code, u64 wall_ns)
{
	u64 us = div_u64(wall_ns, NSEC_PER_USEC);
	u32 v[2] = { us >> 32, (u32)us };

	put_opt(s, code, v, 8);
}

/* The kernel thread's "[comm]", which the original wrote as its path. */
static u32 kthread_path(char *buf, const struct hone_event *ev)
{
	return scnprintf(buf, HONE_COMM_LEN + 3, "[%s]", ev->comm);
}

static void pcapng_proc(struct hone_sink *s, const struct hone_reader *r,
			const struct hone_event *ev, u32 snaplen)
{
	char kpath[HONE_COMM_LEN + 3];
	const char *path = ev->path;
	u32 plen = ev->path_len, alen = 0, len;
	static const u32 events[] = {
		[HONE_FORK] = 1, [HONE_EXIT] = 0xffffffff, [HONE_KTHD] = 2,
	};

	if (ev->what == HONE_KTHD) {
		plen = kthread_path(kpath, ev);
		path = kpath;
	}
	if (ev->argv && ev->what != HONE_KTHD)
		alen = ev->argv_len ? ev->argv_len : 1;
	len = 8 + 12 + 3 * 8 + 4 + 4;
	if (ev->what != HONE_EXEC)
		len += 8;
	if (path && plen)
		len += optlen(plen);
	if (alen)
		len += optlen(alen);
	if (ev->what == HONE_EXIT)
		len += 8;
	put32(s, BT_PEB);
	put32(s, len);
	put32(s, ev->pid);
	put_ts(s, r, ev->ts);
	if (ev->what != HONE_EXEC)
		put_opt32(s, PEB_EVENT, events[ev->what]);
	put_opt32(s, PEB_PPID, ev->ppid);
	put_opt32(s, PEB_EUID, ev->uid);
	put_opt32(s, PEB_EGID, ev->gid);
	if (path && plen)
		put_opt(s, PEB_PATH, path, plen);
	if (alen) {
		/* "arg0\0arg1\0...\0": the final NUL included, forced. */
		u16 h[2] = { PEB_ARGV, alen };

		hone_sink_put(s, h, 4);
		hone_sink_put(s, ev->argv, alen - 1);
		sink_zero(s, 1 + ALIGN(alen, 4) - alen);
	}
	if (ev->what == HONE_EXIT)
		put_opt32(s, PEB_HONE_EXIT, ev->exit_code);
	put_end(s);
	put32(s, len);
}

static void pcapng_sock(struct hone_sink *s, const struct hone_reader *r,
			const struct hone_event *ev, u32 snaplen)
{
	u32 len = ev->what == HONE_OPEN ? 28 : 40;

	put32(s, BT_CEB);
	put32(s, len);
	put32(s, ev->conn);
	put32(s, ev->pid);
	put_ts(s, r, ev->ts);
	/* An open block has no options at all, as the original wrote it. */
	if (ev->what == HONE_CLOSE) {
		put_opt32(s, CEB_EVENT, 0xffffffff);
		put_end(s);
	}
	put32(s, len);
}

static u32 pkt_caplen(const struct sk_buff *skb, u32 snaplen)
{
	u32 len = skb->len - skb_network_offset(skb);

	return snaplen && snaplen < len ? snaplen : len;
}

/* Length of a packet's EPB (type, length, fields, data, options, length). */
static u32 pcapng_pkt_len(const struct hone_event *ev, u32 cap)
{
	u32 len = 8 + 20 + ALIGN(cap, 4) + 8 + 4 + 4;

	if (ev->conn)
		len += 8;
	if (ev->pid)
		len += 8 + 12;
	if (ev->how)
		len += optlen(strlen(hone_hows[ev->how]));
	return len;
}

/* Appends option @code of @len bytes at @at of @buf (zeroed): new end. */
static u32 tail_opt(u8 *buf, u32 at, u16 code, const void *val, u16 len)
{
	u16 h[2] = { code, len };

	memcpy(buf + at, h, 4);
	memcpy(buf + at + 4, val, len);
	return at + 4 + ALIGN(len, 4);
}

/*
 * A packet's EPB in three pieces (fixed fields, data, then the data's
 * padding with the options and trailer), not a call per field: this runs
 * for every packet and every reader.
 */
static void pcapng_pkt(struct hone_sink *s, const struct hone_reader *r,
		       const struct hone_event *ev, u32 snaplen)
{
	const struct sk_buff *skb = ev->skb;
	u32 wire = skb->len - skb_network_offset(skb);
	u32 cap = pkt_caplen(skb, snaplen);
	const char *how = ev->how ? hone_hows[ev->how] : NULL;
	u32 len = pcapng_pkt_len(ev, cap);
	u64 us = div_u64(ev->ts + r->wall_off, NSEC_PER_USEC);
	u32 head[7] = { BT_EPB, len, 0, us >> 32, (u32)us, cap, wire };
	/* pad 3, conn 8, pid 8, pid/tid 12, flags 8, how 12, end 4, len 4 */
	u8 tail[64] = {};
	u32 flags = ev->what, end = OPT_END, n;

	hone_sink_put(s, head, sizeof(head));
	sink_skb(s, skb, skb_network_offset(skb), cap);
	n = ALIGN(cap, 4) - cap;
	if (ev->conn)
		n = tail_opt(tail, n, EPB_CONN, &ev->conn, 4);
	if (ev->pid) {
		u32 pid_tid[2] = { ev->pid, ev->tid };

		n = tail_opt(tail, n, EPB_PID, &ev->pid, 4);
		n = tail_opt(tail, n, EPB_PID_TID, pid_tid, sizeof(pid_tid));
	}
	n = tail_opt(tail, n, EPB_FLAGS, &flags, 4);
	if (how)
		n = tail_opt(tail, n, EPB_HONE_HOW, how, strlen(how));
	memcpy(tail + n, &end, 4);
	memcpy(tail + n + 4, &len, 4);
	hone_sink_put(s, tail, n + 8);
}

/*
 * The bytes hone_fmt_event() writes for @ev: worked out for a packet's
 * EPB, measured by formatting it without a buffer otherwise.
 */
u32 hone_fmt_len(const struct hone_reader *r, const struct hone_event *ev,
		 u32 snaplen)
{
	struct hone_sink s = {};

	if (!r->text && ev->kind == HONE_PKT)
		return pcapng_pkt_len(ev, pkt_caplen(ev->skb, snaplen));
	hone_fmt_event(&s, r, ev, snaplen);
	return s.n;
}

/* Section Header Block then Interface Description Block. */
static void pcapng_head(struct hone_sink *s, u32 snaplen, const char *os)
{
	u32 hlen = 0, oslen = strlen(os), clen = strlen(hone_comment_text);
	u32 len = 8 + 16 + optlen(oslen) + optlen(sizeof(hone_userappl) - 1) +
		  4 + 4;
	u64 section_len = ~0ULL;
	u16 version[2] = { 1, 0 };
	u16 link[2] = { LINKTYPE_RAW, 0 };

	if (hone_hostid_type == 1)
		hlen = 20;
	else if (hone_hostid && *hone_hostid)
		hlen = 1 + strnlen(hone_hostid, HONE_PARAM_MAX);
	if (hlen)
		len += optlen(hlen);
	if (clen)
		len += optlen(clen);
	put32(s, BT_SHB);
	put32(s, len);
	put32(s, 0x1a2b3c4d);
	hone_sink_put(s, version, 4);
	hone_sink_put(s, &section_len, 8);
	if (hlen) {
		u16 h[2] = { SHB_HOSTID, hlen };
		u32 type = hone_hostid_type;

		/*
		 * A type first: byte 0 then the string, or word 1 then the
		 * GUID (data1-3 in host order), as the original's code.
		 */
		hone_sink_put(s, h, 4);
		if (hone_hostid_type == 1) {
			hone_sink_put(s, &type, 4);
			hone_sink_put(s, hone_guid, 16);
		} else {
			sink_zero(s, 1);
			hone_sink_put(s, hone_hostid, hlen - 1);
		}
		sink_zero(s, ALIGN(hlen, 4) - hlen);
	}
	put_opt(s, SHB_OS, os, oslen);
	put_opt(s, SHB_USERAPPL, hone_userappl, sizeof(hone_userappl) - 1);
	if (clen)
		put_opt(s, OPT_COMMENT, hone_comment_text, clen);
	put_end(s);
	put32(s, len);

	len = 8 + 8 + optlen(sizeof(hone_if_desc) - 1) + 4 + 4;
	put32(s, BT_IDB);
	put32(s, len);
	hone_sink_put(s, link, 4);
	put32(s, snaplen);
	put_opt(s, IF_DESCRIPTION, hone_if_desc, sizeof(hone_if_desc) - 1);
	put_end(s);
	put32(s, len);
}

/* Interface Statistics Block: the counters of the original, 196 bytes. */
static void pcapng_isb(struct hone_sink *s, const struct hone_reader *r)
{
	u32 len = 196;

	put32(s, BT_ISB);
	put32(s, len);
	put32(s, 0);
	put_ts(s, r, ktime_get_ns());
	put_opt_ts(s, 2, hone_start_wall);
	put_opt64(s, 4, hone_received_count(HONE_PKT));
	put_opt64(s, 5, atomic64_read(&hone_lost.n[HONE_PKT]));
	put_opt64(s, 6, atomic64_read(&r->filtered));
	put_opt64(s, 7, atomic64_read(&r->dropped.n[HONE_PKT]));
	put_opt64(s, 8, atomic64_read(&r->delivered.n[HONE_PKT]));
	put_opt64(s, 257, hone_received_count(HONE_PROC));
	put_opt64(s, 258, atomic64_read(&hone_lost.n[HONE_PROC]));
	put_opt64(s, 259, atomic64_read(&r->dropped.n[HONE_PROC]));
	put_opt64(s, 260, atomic64_read(&r->delivered.n[HONE_PROC]));
	put_opt64(s, 261, hone_received_count(HONE_SOCK));
	put_opt64(s, 262, atomic64_read(&hone_lost.n[HONE_SOCK]));
	put_opt64(s, 263, atomic64_read(&r->dropped.n[HONE_SOCK]));
	put_opt64(s, 264, atomic64_read(&r->delivered.n[HONE_SOCK]));
	put_end(s);
	put32(s, len);
}

/* ---- text ---- */

static void put_str(struct hone_sink *s, const char *str)
{
	hone_sink_put(s, str, strlen(str));
}

static __printf(2, 3) void put_fmt(struct hone_sink *s, const char *fmt, ...)
{
	char buf[160];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vscnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	hone_sink_put(s, buf, n);
}

/*
 * Process-controlled bytes: a backslash, a double quote, a space (when
 * @space, between arguments), control and non-ASCII bytes become \xHH.
 */
static void put_escaped(struct hone_sink *s, const char *p, u32 len,
			bool space)
{
	u32 i, run = 0;
	char hex[5];

	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c > 0x20 && c < 0x7f && c != '\\' && c != '"')
			continue;
		if (c == ' ' && !space)
			continue;
		hone_sink_put(s, p + run, i - run);
		snprintf(hex, sizeof(hex), "\\x%02x", c);
		hone_sink_put(s, hex, 4);
		run = i + 1;
	}
	hone_sink_put(s, p + run, len - run);
}

static void put_text_ts(struct hone_sink *s, u64 ts)
{
	u32 nsec;
	u64 sec = div_u64_rem(ts, NSEC_PER_SEC, &nsec);

	put_fmt(s, "%llu.%09u", sec, nsec);
}

static void text_proc(struct hone_sink *s, const struct hone_reader *r,
		      const struct hone_event *ev, u32 snaplen)
{
	static const char *const names[] = {
		[HONE_FORK] = "FORK", [HONE_EXEC] = "EXEC",
		[HONE_EXIT] = "EXIT", [HONE_KTHD] = "KTHD",
	};
	u32 i, start;

	put_text_ts(s, ev->ts);
	put_fmt(s, " %s %u %u %u %u", names[ev->what], ev->pid, ev->ppid,
		ev->uid, ev->gid);
	if (ev->what == HONE_KTHD) {
		put_str(s, " [");
		put_escaped(s, ev->comm, strnlen(ev->comm, HONE_COMM_LEN),
			    false);
		put_str(s, "]");
	} else if (ev->argv) {
		/* ` "path" arg0 arg1 ... `, a space after every argument. */
		put_str(s, " \"");
		put_escaped(s, ev->path ? ev->path : "", ev->path_len, false);
		put_str(s, "\" ");
		for (start = 0, i = 0; i < ev->argv_len; i++) {
			if (ev->argv[i])
				continue;
			put_escaped(s, ev->argv + start, i - start, true);
			put_str(s, " ");
			start = i + 1;
		}
		if (start < ev->argv_len) {
			put_escaped(s, ev->argv + start, ev->argv_len - start,
				    true);
			put_str(s, " ");
		}
	}
	put_str(s, "\n");
}

static void text_sock(struct hone_sink *s, const struct hone_reader *r,
		      const struct hone_event *ev, u32 snaplen)
{
	put_text_ts(s, ev->ts);
	put_fmt(s, " SOCK %c %u %u %u %u %08x\n",
		ev->what == HONE_OPEN ? 'O' : 'C', ev->pid, ev->ppid, ev->uid,
		ev->gid, ev->conn);
}

/* "TCPv4 a.b.c.d:sport -> e.f.g.h:dport", "<proto> src -> dst", ... */
static void text_addrs(struct hone_sink *s, const struct sk_buff *skb)
{
	int off = skb_network_offset(skb), th;
	union hone_iphdr _ip;
	const struct iphdr *iph;
	const struct ipv6hdr *ip6;
	char src[48], dst[48];
	__be16 _ports[2], *pp;
	const char *name;
	const u8 *h;
	u8 proto, ver;

	h = skb_header_pointer(skb, off, 1, &_ip);
	ver = h ? *h >> 4 : 0;
	iph = ver == 4 || ver == 6 ?
	      skb_header_pointer(skb, off, ver == 4 ? sizeof(_ip.v4) :
				 sizeof(_ip.v6), &_ip) : NULL;
	if (!iph) {
		if (h)
			put_fmt(s, "?.%u ? -> ?", ver);
		else
			put_str(s, "? ? -> ?");
		return;
	}
	ip6 = (const struct ipv6hdr *)iph;
	if (ver == 4) {
		snprintf(src, sizeof(src), "%pI4", &iph->saddr);
		snprintf(dst, sizeof(dst), "%pI4", &iph->daddr);
		proto = iph->protocol;
	} else {
		snprintf(src, sizeof(src), "%pI6", &ip6->saddr);
		snprintf(dst, sizeof(dst), "%pI6", &ip6->daddr);
		proto = ip6->nexthdr;
	}
	th = hone_l4(skb, off, ver == 4 ? AF_INET : AF_INET6, &proto);
	name = proto == IPPROTO_TCP ? "TCP" : proto == IPPROTO_UDP ? "UDP" :
	       NULL;
	if (!name) {
		put_fmt(s, "%u %s -> %s", proto, src, dst);
		return;
	}
	pp = th < 0 ? NULL : skb_header_pointer(skb, th, sizeof(_ports),
						 _ports);
	if (!pp)
		put_fmt(s, "%sv%u ? -> ?", name, ver);
	else
		put_fmt(s, "%sv%u %s:%u -> %s:%u", name, ver, src,
			ntohs(pp[0]), dst, ntohs(pp[1]));
}

static void text_pkt(struct hone_sink *s, const struct hone_reader *r,
		     const struct hone_event *ev, u32 snaplen)
{
	const struct sk_buff *skb = ev->skb;

	put_text_ts(s, ev->ts);
	put_fmt(s, " PAKT %c %08x %u ", ev->what == HONE_IN ? 'I' : 'O',
		ev->conn, ev->pid);
	text_addrs(s, skb);
	put_fmt(s, " %u\n", skb->len - skb_network_offset(skb));
}

void hone_fmt_event(struct hone_sink *s, const struct hone_reader *r,
		    const struct hone_event *ev, u32 snaplen)
{
	static void (*const fmt[2][HONE_NKINDS])(struct hone_sink *s,
						 const struct hone_reader *r,
						 const struct hone_event *ev,
						 u32 snaplen) = {
		{ pcapng_proc, pcapng_sock, pcapng_pkt },
		{ text_proc, text_sock, text_pkt },
	};

	fmt[r->text][ev->kind](s, r, ev, snaplen);
}

/*
 * "sysname nodename release version machine" of the caller's namespace,
 * like uname -a, for the section header (buf: HONE_OS_LEN + 1 bytes).
 */
void hone_uname(char *buf)
{
	const struct new_utsname *u = utsname();

	scnprintf(buf, HONE_OS_LEN + 1, "%s %s %s %s %s", u->sysname,
		  u->nodename, u->release, u->version, u->machine);
}

/* The start of a section: SHB and IDB, or a HEAD line. */
void hone_fmt_head(struct hone_sink *s, const struct hone_reader *r,
		   u32 snaplen, const char *os)
{
	if (!r->text) {
		pcapng_head(s, snaplen, os);
		return;
	}
	put_text_ts(s, r->open_ts);
	put_str(s, " HEAD ");
	put_text_ts(s, r->wall_off);
	if (hone_hostid_type == 1) {
		u32 d1;
		u16 d2, d3;

		memcpy(&d1, hone_guid, 4);
		memcpy(&d2, hone_guid + 4, 2);
		memcpy(&d3, hone_guid + 6, 2);
		put_fmt(s, " {%08x-%04x-%04x-%02x%02x-%6phN}", d1, d2, d3,
			hone_guid[8], hone_guid[9], hone_guid + 10);
	}
	put_str(s, "\n");
}

/* The end of a section: an ISB, or a TAIL line. */
void hone_fmt_tail(struct hone_sink *s, const struct hone_reader *r)
{
	if (!r->text) {
		pcapng_isb(s, r);
		return;
	}
	put_text_ts(s, r->open_ts);
	put_str(s, " TAIL\n");
}
