// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hone.bpf.c - hone's eBPF sensor: packets, sockets and processes.
 *
 * Every handler is short and flat: filter, reserve a ring buffer record,
 * fill it, submit it. A failed reserve is counted per record kind in
 * hone_counters, so no record is lost silently. Records are laid out in
 * hone.h. The program names start with "hone_" so that `bpftool prog`
 * shows which programs are ours.
 *
 * Built twice: with -DHONE_WITH_NF (adds the netfilter program, kernel
 * >= 6.4) and without, so the shim can fall back when netfilter is
 * missing. The netfilter program sits in SEC("socket") because the
 * libbpf that generates the light skeleton (1.1) does not know
 * SEC("netfilter"); the shim turns it into BPF_PROG_TYPE_NETFILTER
 * before the load (see nf_fixup() in shim.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "hone.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET		2
#define AF_INET6	10
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86dd
#define PF_KTHREAD	0x00200000
#define TCP_TIME_WAIT	6
#define NF_ACCEPT	1
#define MSG_OOB		0x1
#define MSG_PEEK	0x2
#define MSG_ERRQUEUE	0x2000
#define IPPROTO_ICMP_	1
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define IPPROTO_ICMPV6_	58
#define IPPROTO_SCTP_	132
#define IPPROTO_UDPLITE_ 136

/* Knobs, set by the shim between open and load. */
const volatile __u32 snaplen = HONE_SNAPLEN_MAX; /* 1..HONE_SNAPLEN_MAX */
const volatile __u32 hone_pid;			/* our tgid, 0 = none */
/* Which processes: HONE_FILTER_* and their values (see hone.h). */
const volatile __u32 filter;
const volatile __u32 filter_uid;
const volatile __u64 filter_cgroup;
const volatile char filter_comm[16];
const volatile __u64 wakeup_bytes = HONE_WAKEUP_DEFAULT;
/* The filter expression (see hone.h); 0 instructions = none. */
const volatile __u32 cbpf_len;
const volatile struct hone_cbpf_insn cbpf[HONE_CBPF_MAX];

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, HONE_RINGBUF_DEFAULT);
} hone_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hone_counters);
} hone_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hone_sock_state);
} hone_socks SEC(".maps");

/* Cookies of hone's own sockets, whose packets are not reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} hone_self SEC(".maps");

/*
 * With a filter: tgids -> WANT_SEED (given with --pid, or forked from one
 * with --children) | WANT_MATCH (matched every kind of the filter when it
 * was last looked at, from a task's own hooks). The cgroup_skb programs,
 * which cannot look at a task, read WANT_MATCH. Only matching or seeded
 * tgids are kept, and each is removed at its exit.
 */
#define WANT_SEED	1
#define WANT_MATCH	2
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HONE_FILTER_TABLE);
	__type(key, __u32);
	__type(value, __u8);
} hone_want_pid SEC(".maps");

/* With a filter: sockets created or used by a matching process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HONE_SOCK_TABLE);
	__type(key, __u64);
	__type(value, __u8);
} hone_want_sock SEC(".maps");

static __always_inline void count(enum hone_counter i)
{
	struct hone_counters *c;
	__u32 key = 0;

	c = bpf_map_lookup_elem(&hone_counters, &key);
	if (c)
		__sync_fetch_and_add(&c->c[i], 1);
}

/*
 * Batch wake-ups: wake the reader once per wakeup_bytes of records produced
 * (when the producer position crosses a multiple of it), not on every record
 * while that much waits: a wake-up costs an irq_work and, in a VM, an exit.
 * Whatever waits less is picked up by the reader's short poll timeout.
 */
static __always_inline __u64 wakeup_flags(__u32 size)
{
	__u64 prod;

	if (!wakeup_bytes)
		return 0;
	prod = bpf_ringbuf_query(&hone_rb, BPF_RB_PROD_POS);
	/* 8: the ring buffer's own record header. */
	if (prod % wakeup_bytes < size + 8)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void hdr_fill(struct hone_rec_hdr *h, __u32 type,
				     __u32 len)
{
	h->type = type;
	h->len = len;
	h->ts_ns = bpf_ktime_get_boot_ns();
}

static __always_inline bool is_self_pid(__u32 pid)
{
	return hone_pid && pid == hone_pid;
}

/*
 * How many sockets hone_self holds: hone itself opens none in a capture,
 * so the packet path skips the lookup while this is 0.
 */
__u64 self_sockets;

static __always_inline bool is_self_cookie(__u64 cookie)
{
	return hone_pid && self_sockets &&
	       bpf_map_lookup_elem(&hone_self, &cookie);
}

static __always_inline void add_self(__u64 cookie)
{
	__u8 one = 1;

	if (!bpf_map_update_elem(&hone_self, &cookie, &one, BPF_NOEXIST))
		__sync_fetch_and_add(&self_sockets, 1);
}

/* ---- the process filter ---- */

/* Whether task t (thread group tgid) matches every kind of the filter. */
static __always_inline bool task_matches(struct task_struct *t, __u32 tgid)
{
	char comm[16];
	__u8 *v;
	int i;

	if (filter & HONE_FILTER_PID) {
		v = bpf_map_lookup_elem(&hone_want_pid, &tgid);
		if (!v || !(*v & WANT_SEED))
			return false;
	}
	if (filter & HONE_FILTER_COMM) {
		if (bpf_probe_read_kernel(comm, sizeof(comm), t->comm))
			return false;
		for (i = 0; i < 16; i++) {
			if (comm[i] != filter_comm[i])
				return false;
			if (!comm[i])
				break;
		}
	}
	if ((filter & HONE_FILTER_UID) &&
	    BPF_CORE_READ(t, cred, euid.val) != filter_uid)
		return false;
	if ((filter & HONE_FILTER_CGROUP) &&
	    BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id) != filter_cgroup)
		return false;
	return true;
}

/* Looks at task t and keeps the answer for the cgroup_skb programs. */
static __always_inline bool want_task(struct task_struct *t, __u32 tgid)
{
	__u8 *v, nv;
	bool m;

	if (!filter)
		return true;
	m = task_matches(t, tgid);
	v = bpf_map_lookup_elem(&hone_want_pid, &tgid);
	nv = (v ? *v & WANT_SEED : 0) | (m ? WANT_MATCH : 0);
	if (v && !nv)
		bpf_map_delete_elem(&hone_want_pid, &tgid);
	else if (v && *v != nv)
		*v = nv;
	else if (!v && nv)
		bpf_map_update_elem(&hone_want_pid, &tgid, &nv, BPF_ANY);
	return m;
}

/* The answer kept for tgid (cgroup_skb: no task to look at). */
static __always_inline bool want_cached(__u32 tgid)
{
	__u8 *v;

	if (!filter)
		return true;
	v = bpf_map_lookup_elem(&hone_want_pid, &tgid);
	return v && (*v & WANT_MATCH);
}

static __always_inline void want_sock(__u64 cookie)
{
	__u8 one = 1;

	if (filter)
		bpf_map_update_elem(&hone_want_sock, &cookie, &one, BPF_ANY);
}

static __always_inline bool sock_wanted(__u64 cookie)
{
	return !filter || bpf_map_lookup_elem(&hone_want_sock, &cookie);
}

/* Returns n, known to be in [1, cls], in a form the verifier can bound. */
static __always_inline __u64 bound_len(__u64 n, const __u64 cls)
{
	n -= 1;
	asm volatile("%[n] &= %[m]" : [n] "+r"(n) : [m] "i"(cls - 1));
	return n + 1;
}


/* ---- the filter expression: a classic BPF interpreter ---- */

/*
 * One run of the expression over one packet. The program is libpcap's,
 * so jumps only go forward and it ends within cbpf_len steps; a load past
 * the packet rejects it, as in the kernel's and libpcap's interpreters.
 * cgroup_skb loads through skb (the whole packet); netfilter reads the
 * linear part at src, and a load past it leaves the decision to user
 * space (CBPF_UNDECIDED).
 */
struct cbpf_run {
	struct __sk_buff *skb;	/* cgroup_skb, or NULL */
	const void *src;	/* netfilter: the IP header */
	__u32 len;		/* packet length (BPF_LEN) */
	__u32 lin;		/* bytes readable at src */
	__u32 pc;
	__u32 a;
	__u32 x;
	__u32 result;		/* CBPF_* */
	__u32 mem[16];
};

#define CBPF_RUNNING	0
#define CBPF_KEEP	1
#define CBPF_REJECT	2
#define CBPF_UNDECIDED	3

/* Loads size (1, 2, 4) bytes big-endian at off; false when it cannot. */
static __always_inline bool cbpf_load(struct cbpf_run *r, __u32 off,
				      __u32 size, __u32 *out)
{
	__u8 b[4] = {};
	int err;

	if (off > r->len || size > r->len - off) {
		r->result = CBPF_REJECT;
		return false;
	}
	if (r->skb) {
		err = bpf_skb_load_bytes(r->skb, off, b, size & 7);
	} else {
		if (off > r->lin || size > r->lin - off) {
			r->result = CBPF_UNDECIDED;
			return false;
		}
		err = bpf_probe_read_kernel(b, size & 7, r->src + off);
	}
	if (err) {
		r->result = CBPF_UNDECIDED;
		return false;
	}
	if (size == 1)
		*out = b[0];
	else if (size == 2)
		*out = (__u32)b[0] << 8 | b[1];
	else
		*out = (__u32)b[0] << 24 | (__u32)b[1] << 16 |
		       (__u32)b[2] << 8 | b[3];
	return true;
}

static __always_inline __u32 cbpf_size(__u16 code)
{
	switch (code & 0x18) {
	case 0x00:
		return 4;
	case 0x08:
		return 2;
	default:
		return 1;
	}
}

/* One instruction; returns 1 (stop bpf_loop) once the program ended. */
static long cbpf_step(__u64 i, void *arg)
{
	struct cbpf_run *r = arg;
	__u32 pc = r->pc, a = r->a, x = r->x, v = 0, k, src;
	__u16 code;
	__u8 jt, jf;
	bool cond;

	if (pc >= cbpf_len || pc >= HONE_CBPF_MAX) {
		r->result = CBPF_UNDECIDED;
		return 1;
	}
	code = cbpf[pc].code;
	jt = cbpf[pc].jt;
	jf = cbpf[pc].jf;
	k = cbpf[pc].k;
	pc++;
	switch (code & 0x07) {
	case 0x00: /* LD */
		switch (code & 0xe0) {
		case 0x00: /* IMM */
			a = k;
			break;
		case 0x20: /* ABS */
			if (!cbpf_load(r, k, cbpf_size(code), &a))
				return 1;
			break;
		case 0x40: /* IND */
			if (!cbpf_load(r, x + k, cbpf_size(code), &a))
				return 1;
			break;
		case 0x60: /* MEM */
			a = r->mem[k & 15];
			break;
		case 0x80: /* LEN */
			a = r->len;
			break;
		default:
			r->result = CBPF_UNDECIDED;
			return 1;
		}
		break;
	case 0x01: /* LDX */
		switch (code & 0xe0) {
		case 0x00:
			x = k;
			break;
		case 0x60:
			x = r->mem[k & 15];
			break;
		case 0x80:
			x = r->len;
			break;
		case 0xa0: /* MSH: 4 * (P[k] & 0xf) */
			if (!cbpf_load(r, k, 1, &v))
				return 1;
			x = (v & 0xf) << 2;
			break;
		default:
			r->result = CBPF_UNDECIDED;
			return 1;
		}
		break;
	case 0x02: /* ST */
		r->mem[k & 15] = a;
		break;
	case 0x03: /* STX */
		r->mem[k & 15] = x;
		break;
	case 0x04: /* ALU */
		src = code & 0x08 ? x : k;
		switch (code & 0xf0) {
		case 0x00:
			a += src;
			break;
		case 0x10:
			a -= src;
			break;
		case 0x20:
			a *= src;
			break;
		case 0x30:
			if (!src) {
				r->result = CBPF_REJECT;
				return 1;
			}
			a /= src;
			break;
		case 0x40:
			a |= src;
			break;
		case 0x50:
			a &= src;
			break;
		case 0x60:
			a = src < 32 ? a << src : 0;
			break;
		case 0x70:
			a = src < 32 ? a >> src : 0;
			break;
		case 0x80:
			a = -a;
			break;
		case 0x90:
			if (!src) {
				r->result = CBPF_REJECT;
				return 1;
			}
			a %= src;
			break;
		case 0xa0:
			a ^= src;
			break;
		default:
			r->result = CBPF_UNDECIDED;
			return 1;
		}
		break;
	case 0x05: /* JMP */
		src = code & 0x08 ? x : k;
		switch (code & 0xf0) {
		case 0x00: /* JA */
			pc += k;
			goto next;
		case 0x10:
			cond = a == src;
			break;
		case 0x20:
			cond = a > src;
			break;
		case 0x30:
			cond = a >= src;
			break;
		case 0x40:
			cond = a & src;
			break;
		default:
			r->result = CBPF_UNDECIDED;
			return 1;
		}
		pc += cond ? jt : jf;
		break;
	case 0x06: /* RET */
		v = (code & 0x18) == 0x10 ? a : k;
		r->result = v ? CBPF_KEEP : CBPF_REJECT;
		return 1;
	default: /* MISC */
		if (code & 0x80)
			a = x;	/* TXA */
		else
			x = a;	/* TAX */
		break;
	}
next:
	r->pc = pc;
	r->a = a;
	r->x = x;
	return 0;
}

/* Runs the expression: CBPF_KEEP, CBPF_REJECT or CBPF_UNDECIDED. */
static __noinline __u32 cbpf_run(struct __sk_buff *skb, const void *src,
				 __u32 len, __u32 lin)
{
	struct cbpf_run r = {
		.skb = skb, .src = src, .len = len, .lin = lin,
	};

	bpf_loop(HONE_CBPF_MAX, cbpf_step, &r, 0);
	return r.result == CBPF_RUNNING ? CBPF_UNDECIDED : r.result;
}

/* ---- packets ---- */

struct pkt_info {
	__u64 cookie;
	__u32 ifindex;
	__u32 len;
	__u32 dir;
	__u32 protocol;
	__u32 flags;
	__u32 pid;
	__u32 tid;
	__u32 caplen;
	const void *src;	/* netfilter: kernel address of the IP header */
};

/*
 * Whether an outbound packet of a cgroup_skb program leaves inside its
 * sender's call, so that the current task is its sender: then pid/tid are
 * set and HONE_PKT_TASK. No tracepoint on every softirq (softirq_entry and
 * _exit cost about 110 ns a loopback datagram, measured) and no preempt
 * count (a per-CPU ksym: CONFIG_KALLSYMS_ALL, which many kernels lack):
 * - TCP transmits in process context only while the caller holds the
 *   socket's lock (tcp_sendmsg, and the backlog release_sock() handles);
 *   a softirq or timer finding the lock owned defers to its owner, so a
 *   packet of an unowned socket left from one (ACKs, ACK-clocked data,
 *   retransmissions): the correlator finds its sender by position. A
 *   listener's packets (SYN-ACKs, from softirqs) never count: another
 *   task may hold its lock in accept().
 * - UDP, UDP-Lite, ICMP (ping) and raw sockets (also raw ones of protocol
 *   TCP, which take no lock) send from their sender's call, except kernel
 *   sockets (tunnels, ICMP replies): those need hone_socks state, which
 *   sock_create or the snapshot gives every socket of socket(2) (and the
 *   send tracepoints any socket sent on; kernel_sendmsg() runs in its
 *   caller's context). With a filter only wanted sockets have state, so
 *   there the protocol decides alone. A kernel module sending on a user's
 *   UDP socket from a softirq (L2TP, ovpn) is taken for the task it
 *   interrupted.
 * - Other protocols (SCTP: its timers and SACKs send from softirqs) never
 *   count.
 * Inbound packets are never the current task's: they arrive in softirqs.
 */
static __always_inline void pkt_task(struct pkt_info *pi,
				     struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct tcp_sock *tp;
	__u64 id;

	if (pi->dir != HONE_DIR_OUT || !sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return;
	if (sk->type == SOCK_STREAM) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (!tp || sk->state == BPF_TCP_LISTEN ||
		    !tp->inet_conn.icsk_inet.sk.sk_lock.owned)
			return;
	} else if (sk->type != SOCK_RAW && sk->protocol != IPPROTO_UDP_ &&
		   sk->protocol != IPPROTO_UDPLITE_ &&
		   sk->protocol != IPPROTO_ICMP_ &&
		   sk->protocol != IPPROTO_ICMPV6_) {
		return;
	} else if (!filter && !bpf_sk_storage_get(&hone_socks, sk, 0, 0)) {
		return;
	}
	id = bpf_get_current_pid_tgid();
	pi->flags |= HONE_PKT_TASK;
	pi->pid = id >> 32;
	pi->tid = (__u32)id;
}

static __always_inline void pkt_fill(struct hone_packet *p,
				     const struct pkt_info *pi, __u32 caplen)
{
	hdr_fill(&p->hdr, HONE_REC_PACKET,
		 sizeof(*p) + HONE_ALIGN8(caplen));
	p->cookie = pi->cookie;
	p->pid = pi->pid;
	p->tid = pi->tid;
	p->ifindex = pi->ifindex;
	p->len = pi->len;
	p->caplen = caplen;
	p->dir = pi->dir;
	p->protocol = pi->protocol;
	p->flags = pi->flags;
}

/*
 * Copies a packet into a record with room for cls bytes. cgroup_skb reads
 * through skb; netfilter (nf) reads the linear data at pi->src.
 */
static __always_inline void pkt_emit(struct __sk_buff *skb,
				     const struct pkt_info *pi,
				     const __u32 cls, const bool nf)
{
	struct hone_packet *p;
	__u32 caplen = pi->caplen;
	__u64 n;
	long err;

	p = bpf_ringbuf_reserve(&hone_rb, sizeof(*p) + cls, 0);
	if (!p) {
		count(HONE_C_PKT_DROP);
		return;
	}
	if (caplen) {
		n = bound_len(caplen, cls);
		if (nf)
			err = bpf_probe_read_kernel(p + 1, n, pi->src);
		else
			err = bpf_skb_load_bytes(skb, 0, p + 1, n);
		if (err)
			caplen = 0;
	}
	pkt_fill(p, pi, caplen);
	bpf_ringbuf_submit(p, wakeup_flags(sizeof(*p) + cls));
}

/*
 * bpf_ringbuf_reserve() needs a constant size, so a packet goes into the
 * smallest of a few size classes that holds it. hdr.len has the real
 * size and the shim copies only that much.
 */
static __always_inline void pkt_capture(struct __sk_buff *skb,
					const struct pkt_info *pi,
					const bool nf)
{
	__u32 n = pi->caplen;

	if (n <= 64)
		pkt_emit(skb, pi, 64, nf);
	else if (n <= 128)
		pkt_emit(skb, pi, 128, nf);
	else if (n <= 256)
		pkt_emit(skb, pi, 256, nf);
	else if (n <= 512)
		pkt_emit(skb, pi, 512, nf);
	else if (n <= 1024)
		pkt_emit(skb, pi, 1024, nf);
	else if (n <= 2048)
		pkt_emit(skb, pi, 2048, nf);
	else if (n <= 4096)
		pkt_emit(skb, pi, 4096, nf);
	else if (n <= 8192)
		pkt_emit(skb, pi, 8192, nf);
	else if (n <= 16384)
		pkt_emit(skb, pi, 16384, nf);
	else if (n <= 32768)
		pkt_emit(skb, pi, 32768, nf);
	else
		pkt_emit(skb, pi, HONE_SNAPLEN_MAX, nf);
}

static __always_inline int on_skb(struct __sk_buff *skb, __u32 dir)
{
	struct pkt_info pi = { .dir = dir };

	pi.cookie = bpf_get_socket_cookie(skb);
	if (filter) {
		/* Not counted: the filter decides what the sensor sees. */
		pkt_task(&pi, skb);
		if (!sock_wanted(pi.cookie)) {
			if (!(pi.flags & HONE_PKT_TASK) || !want_cached(pi.pid))
				return 1;
			want_sock(pi.cookie);
		}
	}
	if (cbpf_len) {
		/* Not counted either: "received by filter" is what it kept. */
		switch (cbpf_run(skb, NULL, skb->len, skb->len)) {
		case CBPF_REJECT:
			return 1;
		case CBPF_KEEP:
			pi.flags |= HONE_PKT_KEPT;
		}
	}
	count(HONE_C_PKT_SEEN);
	if (is_self_cookie(pi.cookie)) {
		count(HONE_C_SELF_SKIP);
		return 1;
	}
	pi.ifindex = skb->ifindex;
	pi.len = skb->len;
	pi.protocol = bpf_ntohs(skb->protocol);
	pi.caplen = pi.len < snaplen ? pi.len : snaplen;
	if (!filter)
		pkt_task(&pi, skb);
	pkt_capture(skb, &pi, false);
	return 1;
}

SEC("cgroup_skb/ingress")
int hone_skb_in(struct __sk_buff *skb)
{
	return on_skb(skb, HONE_DIR_IN);
}

SEC("cgroup_skb/egress")
int hone_skb_out(struct __sk_buff *skb)
{
	return on_skb(skb, HONE_DIR_OUT);
}

/* ---- sockets ---- */

static __always_inline __u32 task_netns(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
}

static __always_inline __u32 sock_netns(struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

SEC("cgroup/sock_create")
int hone_sk_create(struct bpf_sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct hone_sock_state st = { .user = id };
	struct hone_sock_create *r;

	if (is_self_pid(id >> 32)) {
		add_self(cookie);
		return 1;
	}
	if (filter) {
		if (!want_task(bpf_get_current_task_btf(), id >> 32))
			return 1;
		want_sock(cookie);
	}
	bpf_sk_storage_get(&hone_socks, sk, &st,
			   BPF_SK_STORAGE_GET_F_CREATE);
	count(HONE_C_SOCK_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r), 0);
	if (!r) {
		count(HONE_C_SOCK_DROP);
		return 1;
	}
	hdr_fill(&r->hdr, HONE_REC_SOCK_CREATE, sizeof(*r));
	r->cookie = cookie;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->family = sk->family;
	r->type = sk->type;
	r->protocol = sk->protocol;
	/*
	 * The hook runs for sockets of socket(2) only (not kernel ones),
	 * which __sock_create() puts in current's network namespace.
	 */
	r->netns = task_netns(bpf_get_current_task_btf());
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r)));
	return 1;
}

SEC("cgroup/sock_release")
int hone_sk_release(struct bpf_sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct hone_sock_release *r;

	if (hone_pid && self_sockets &&
	    !bpf_map_delete_elem(&hone_self, &cookie)) {
		__sync_fetch_and_add(&self_sockets, -1);
		return 1;
	}
	if (filter && bpf_map_delete_elem(&hone_want_sock, &cookie))
		return 1;
	count(HONE_C_SOCK_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r), 0);
	if (!r) {
		count(HONE_C_SOCK_DROP);
		return 1;
	}
	hdr_fill(&r->hdr, HONE_REC_SOCK_RELEASE, sizeof(*r));
	r->cookie = cookie;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r)));
	return 1;
}

/* TCP: the sequence number of the first byte of a call of len bytes. */
static __always_inline __u32 use_tcp_seq(struct sock *sk, __u32 dir,
					 __u32 len, __u32 *flags)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	if (!tp)
		return 0;
	*flags |= HONE_USE_TCP_SEQ;
	return (dir == HONE_DIR_OUT ? tp->write_seq : tp->copied_seq) - len;
}

/*
 * Counts a successful send or read (ret >= 0) and emits SOCK_USE when
 * the thread differs from the socket's last user or from the last user
 * of this direction (d: 0 send, 1 read). The state of a socket not seen
 * before starts here, at zero. The user changes only once the record is
 * written, so a lost record is retried at the next call.
 */
static __always_inline int on_use(struct sock *sk, int ret, __u32 dir)
{
	const int d = dir == HONE_DIR_OUT ? 0 : 1;
	__u64 id = bpf_get_current_pid_tgid();
	struct hone_sock_state *st, zero = {};
	__u16 family = sk->__sk_common.skc_family;
	__u64 cookie, bytes, calls;
	struct hone_sock_use *r;
	__u32 flags = 0;

	if (ret < 0 || (family != AF_INET && family != AF_INET6))
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	if (is_self_pid(id >> 32)) {
		add_self(cookie);
		return 0;
	}
	if (filter && !sock_wanted(cookie)) {
		if (!want_task(bpf_get_current_task_btf(), id >> 32))
			return 0;
		want_sock(cookie);
	}
	st = bpf_sk_storage_get(&hone_socks, sk, 0, 0);
	if (!st) {
		st = bpf_sk_storage_get(&hone_socks, sk, &zero,
					BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return 0;
		flags = HONE_USE_FIRST;
	}
	bytes = __sync_fetch_and_add(&st->bytes[d], (__u32)ret);
	calls = __sync_fetch_and_add(&st->calls[d], 1);
	if (st->user == id && st->dir_user[d] == id && !flags)
		return 0;
	count(HONE_C_SOCK_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r), 0);
	if (!r) {
		count(HONE_C_SOCK_DROP);
		if (!(st->lost & (1ULL << d)))
			__sync_fetch_and_or(&st->lost, 1ULL << d);
		return 0;
	}
	st->user = id;
	st->dir_user[d] = id;
	if (st->lost & (1ULL << d)) {
		__sync_fetch_and_and(&st->lost, ~(1ULL << d));
		flags |= HONE_USE_LOST;
	}
	hdr_fill(&r->hdr, HONE_REC_SOCK_USE, sizeof(*r));
	r->cookie = cookie;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->dir = dir;
	r->len = ret;
	r->bytes_before = bytes;
	r->calls_before = calls;
	r->tcp_seq = use_tcp_seq(sk, dir, ret, &flags);
	r->flags = flags;
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r)));
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(hone_send, struct sock *sk, int ret, int flags)
{
	return on_use(sk, ret, HONE_DIR_OUT);
}

/* Peeks, error queue and urgent data are not the byte stream: skipped. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(hone_recv, struct sock *sk, int ret, int flags)
{
	if (flags & (MSG_PEEK | MSG_ERRQUEUE | MSG_OOB))
		return 0;
	return on_use(sk, ret, HONE_DIR_IN);
}

/* ---- processes ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(hone_fork, struct task_struct *parent, struct task_struct *child)
{
	struct hone_proc_fork *r;
	__u32 pid = child->tgid, tid = child->pid;
	__u32 ppid = parent->tgid;
	__u8 seed = WANT_SEED, *pv;

	if (filter) {
		if (pid != tid)
			return 0;	/* a thread: its process decided */
		pv = bpf_map_lookup_elem(&hone_want_pid, &ppid);
		if ((filter & HONE_FILTER_CHILDREN) && pv && (*pv & WANT_SEED))
			bpf_map_update_elem(&hone_want_pid, &pid, &seed,
					    BPF_ANY);
		if (!want_task(child, pid))
			return 0;
	}
	count(HONE_C_PROC_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r), 0);
	if (!r) {
		count(HONE_C_PROC_DROP);
		return 0;
	}
	hdr_fill(&r->hdr, HONE_REC_PROC_FORK, sizeof(*r));
	r->pid = pid;
	r->tid = tid;
	r->ppid = BPF_CORE_READ(child, real_parent, tgid);
	r->ptid = parent->pid;
	r->flags = (pid != tid ? HONE_FORK_THREAD : 0) |
		   (child->flags & PF_KTHREAD ? HONE_FORK_KTHREAD : 0);
	r->netns = task_netns(child);
	r->cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	bpf_probe_read_kernel(r->comm, sizeof(r->comm), child->comm);
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r)));
	return 0;
}

/* Copies the argument area of the new image after the filename. */
static __always_inline __u32 exec_argv(struct task_struct *p, char *dst,
				       __u32 *flags)
{
	__u64 start = BPF_CORE_READ(p, mm, arg_start);
	__u64 end = BPF_CORE_READ(p, mm, arg_end);
	__u64 n = end > start ? end - start : 0;

	if (!n)
		return 0;
	if (n > HONE_ARGV_MAX) {
		n = HONE_ARGV_MAX;
		*flags |= HONE_EXEC_ARGV_TRUNC;
	}
	n = bound_len(n, HONE_ARGV_MAX);
	if (bpf_probe_read_user(dst, n, (const void *)start)) {
		*flags |= HONE_EXEC_ARGV_FAULT;
		return 0;
	}
	return n;
}

#define HONE_NAME_MAX	255	/* a path component, NAME_MAX */

/*
 * Scratch room where exe_path() builds a path backwards, per CPU (the
 * tracepoint runs with preemption off, and the kernel does not nest a
 * program in itself on one CPU): the path ends at HONE_EXE_MAX - 1 and
 * the room is twice that, so the verifier can bound the copy out.
 */
struct hone_path {
	char buf[2 * HONE_EXE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hone_path);
} hone_path SEC(".maps");

struct exe_walk {
	struct dentry *d;	/* next dentry to name */
	struct dentry *root;	/* root dentry of mnt */
	struct mount *mnt;	/* mount d is on */
	__u32 pos;		/* the path so far starts at buf[pos] */
	__u32 depth;		/* components so far */
	__u32 done;		/* reached the root */
};

/* One step up: cross to the parent mount, or prepend "/" + d's name. */
static long exe_step(__u64 i, struct exe_walk *w)
{
	struct dentry *d = w->d, *parent;
	struct mount *mnt = w->mnt, *up;
	struct hone_path *p;
	__u32 key = 0, len, pos;

	if (d == w->root) {
		up = BPF_CORE_READ(mnt, mnt_parent);
		if (!up || up == mnt) {
			w->done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->root = BPF_CORE_READ(up, mnt.mnt_root);
		w->mnt = up;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d) {
		w->done = 1;
		return 1;
	}
	len = BPF_CORE_READ(d, d_name.len);
	if (len > HONE_NAME_MAX || len + 1 > w->pos ||
	    w->depth >= HONE_EXE_DEPTH)
		return 1;
	p = bpf_map_lookup_elem(&hone_path, &key);
	if (!p)
		return 1;
	pos = w->pos - len;
	bpf_probe_read_kernel(p->buf + (pos & (HONE_EXE_MAX - 1)),
			      len & HONE_NAME_MAX, BPF_CORE_READ(d, d_name.name));
	pos--;
	p->buf[pos & (HONE_EXE_MAX - 1)] = '/';
	w->pos = pos;
	w->depth++;
	w->d = parent;
	return 0;
}

/*
 * Writes the path of bprm->file to dst as d_path() would give it, since
 * tp_btf may not call bpf_d_path(): walks up the dentries, crossing
 * mount points, to the root of the mount namespace. Returns the length
 * (< HONE_EXE_MAX); a path that does not fit keeps its tail and sets
 * HONE_EXEC_EXE_TRUNC.
 */
static __always_inline __u32 exe_path(struct linux_binprm *bprm, char *dst,
				      __u32 *flags)
{
	struct vfsmount *vfs = BPF_CORE_READ(bprm, file, f_path.mnt);
	struct exe_walk w = {
		.d = BPF_CORE_READ(bprm, file, f_path.dentry),
		.root = BPF_CORE_READ(vfs, mnt_root),
		.mnt = (void *)vfs - bpf_core_field_offset(struct mount, mnt),
		.pos = HONE_EXE_MAX - 1,
	};
	struct hone_path *p;
	__u32 key = 0, len;

	if (!w.d || !vfs)
		return 0;
	bpf_loop(HONE_EXE_DEPTH + 8, exe_step, &w, 0);
	if (!w.done)
		*flags |= HONE_EXEC_EXE_TRUNC;
	p = bpf_map_lookup_elem(&hone_path, &key);
	if (!p)
		return 0;
	len = (HONE_EXE_MAX - 1 - w.pos) & (HONE_EXE_MAX - 1);
	if (bpf_probe_read_kernel(dst, len,
				  p->buf + (w.pos & (HONE_EXE_MAX - 1))))
		return 0;
	return len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hone_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct hone_proc_exec *r;
	__u32 flen = 0, alen, elen, flags = 0;
	char *data;
	long ret;

	/* A new image: a new comm, maybe a new uid. */
	if (filter && !want_task(p, p->tgid))
		return 0;
	count(HONE_C_PROC_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r) + HONE_FILENAME_MAX +
				HONE_ARGV_MAX + HONE_EXE_MAX, 0);
	if (!r) {
		count(HONE_C_PROC_DROP);
		return 0;
	}
	data = (char *)(r + 1);
	ret = bpf_probe_read_kernel_str(data, HONE_FILENAME_MAX,
					BPF_CORE_READ(bprm, filename));
	if (ret > 0) {
		flen = (ret - 1) & (HONE_FILENAME_MAX - 1);
		if (ret == HONE_FILENAME_MAX)
			flags |= HONE_EXEC_FILENAME_TRUNC;
	}
	alen = exec_argv(p, data + flen, &flags);
	elen = exe_path(bprm, data + flen + alen, &flags);

	hdr_fill(&r->hdr, HONE_REC_PROC_EXEC,
		 sizeof(*r) + HONE_ALIGN8(flen + alen + elen));
	r->pid = p->tgid;
	r->tid = p->pid;
	r->old_tid = old_pid;
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	r->uid = BPF_CORE_READ(p, cred, euid.val);
	r->gid = BPF_CORE_READ(p, cred, egid.val);
	r->flags = flags;
	r->filename_len = flen;
	r->argv_len = alen;
	r->exe_len = elen;
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->netns = task_netns(p);
	r->pad = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r) + HONE_FILENAME_MAX +
					   HONE_ARGV_MAX + HONE_EXE_MAX));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(hone_exit, struct task_struct *p)
{
	struct hone_proc_exit *r;
	int live = BPF_CORE_READ(p, signal, live.counter);
	__u32 tgid = p->tgid;

	if (filter) {
		if (!want_cached(tgid))
			return 0;
		if (live == 0)
			bpf_map_delete_elem(&hone_want_pid, &tgid);
	}
	count(HONE_C_PROC_SEEN);
	r = bpf_ringbuf_reserve(&hone_rb, sizeof(*r), 0);
	if (!r) {
		count(HONE_C_PROC_DROP);
		return 0;
	}
	hdr_fill(&r->hdr, HONE_REC_PROC_EXIT, sizeof(*r));
	r->pid = p->tgid;
	r->tid = p->pid;
	r->exit_code = p->exit_code;
	r->flags = (live == 0 ? HONE_EXIT_GROUP_DEAD : 0) |
		   (p->pid == p->tgid ? HONE_EXIT_LEADER : 0);
	bpf_ringbuf_submit(r, wakeup_flags(sizeof(*r)));
	return 0;
}

/* ---- start-up snapshot of socket fds ---- */

SEC("iter/task_file")
int hone_snap(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct hone_snap_socket r = {};
	struct socket *sock;
	struct sock *sk;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	/*
	 * Newer kernels (6.18) give sock->sk as an untrusted pointer: it can
	 * be read but not passed to bpf_get_socket_cookie() or
	 * bpf_sk_storage_get(). So this program only reads; the shim takes
	 * each socket with pidfd_getfd(), which makes its cookie
	 * (SO_COOKIE) and its storage (a map update keyed by the fd).
	 */
	sk = sock->sk;
	if (!sk)
		return 0;
	r.family = sk->__sk_common.skc_family;
	if (r.family != AF_INET && r.family != AF_INET6)
		return 0;
	r.pid = task->tgid;
	if (!is_self_pid(r.pid) && filter && !want_task(task, r.pid))
		return 0;
	/* 0 when no cookie was made yet: the shim asks for one. */
	r.cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	hdr_fill(&r.hdr, HONE_REC_SNAP_SOCKET, sizeof(r));
	r.fd = ctx->fd;
	r.type = sk->sk_type;
	r.protocol = sk->sk_protocol;
	r.netns = sock_netns(sk);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/* ---- netfilter: packets no socket owns ---- */
#ifdef HONE_WITH_NF

#define NFPROTO_IPV4	2
#define NF_INET_LOCAL_IN 1

/* Finds the IPv4 L4 protocol and, for ICMP, the message type. */
static __always_inline __u32 nf_l4_v4(const unsigned char *nh, __u8 *type)
{
	struct iphdr ip;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), nh))
		return 255;
	if (ip.protocol == IPPROTO_ICMP_ && !(ip.frag_off & bpf_htons(0x1fff)))
		bpf_probe_read_kernel(type, 1, nh + ip.ihl * 4);
	return ip.protocol;
}

/* Same for IPv6, skipping up to four extension headers. */
static __always_inline __u32 nf_l4_v6(const unsigned char *nh, __u8 *type)
{
	__u8 next, eh[2];
	__u32 off = 40;
	int i;

	if (bpf_probe_read_kernel(&next, 1, nh + 6))
		return 255;
	for (i = 0; i < 4; i++) {
		if (next != 0 && next != 43 && next != 60 && next != 44)
			break;
		if (bpf_probe_read_kernel(eh, 2, nh + off))
			return 255;
		off += next == 44 ? 8 : (eh[1] + 1) * 8;
		next = eh[0];
	}
	if (next == IPPROTO_ICMPV6_)
		bpf_probe_read_kernel(type, 1, nh + off);
	return next;
}

/*
 * LOCAL_IN without an early-demuxed socket: cgroup_skb ingress will see
 * what a TCP, UDP, SCTP, ping or raw socket receives. Report what the
 * kernel consumes itself: not a socket protocol, not an echo reply.
 */
static __always_inline bool nf_in_unowned(const unsigned char *nh, __u8 pf)
{
	__u8 type = 255;
	__u32 proto;

	proto = pf == NFPROTO_IPV4 ? nf_l4_v4(nh, &type) : nf_l4_v6(nh, &type);
	if (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ ||
	    proto == IPPROTO_SCTP_ || proto == IPPROTO_UDPLITE_)
		return false;
	if (proto == IPPROTO_ICMP_ && type == 0)
		return false;
	if (proto == IPPROTO_ICMPV6_ && type == 129)
		return false;
	return true;
}

/*
 * Reports a packet no task's socket holds (pi has its direction, device,
 * length and protocol), whose first lin bytes from nh are in the skb's
 * linear part: at most that much of it is kept. The filter expression
 * decides first.
 */
static __always_inline void nf_capture(struct pkt_info *pi,
				       const unsigned char *nh, __u32 lin)
{
	if (cbpf_len) {
		switch (cbpf_run(NULL, nh, pi->len, lin)) {
		case CBPF_REJECT:
			return;
		case CBPF_KEEP:
			pi->flags |= HONE_PKT_KEPT;
		}
	}
	count(HONE_C_NF_SEEN);
	pi->flags |= HONE_PKT_NETFILTER;
	pi->caplen = pi->len < snaplen ? pi->len : snaplen;
	if (lin < pi->caplen) {
		pi->caplen = lin;
		pi->flags |= HONE_PKT_LINEAR;
	}
	pi->src = nh;
	pkt_capture(NULL, pi, true);
}

SEC("socket")
int hone_nf(struct bpf_nf_ctx *ctx)
{
	const struct nf_hook_state *st = ctx->state;
	struct sk_buff *skb = ctx->skb;
	struct sock *sk = skb->sk;
	const unsigned char *nh = skb->head + skb->network_header;
	__u32 lin = skb->tail - skb->network_header;
	struct net_device *dev;
	struct pkt_info pi = {};
	__u8 pf = st->pf;

	/*
	 * cgroup_skb sees packets of full sockets, not of TIME_WAIT ones
	 * (their ACKs and RSTs), nor packets without a socket.
	 */
	if (sk && sk->__sk_common.skc_state != TCP_TIME_WAIT)
		return NF_ACCEPT;
	if (!sk && st->hook == NF_INET_LOCAL_IN && !nf_in_unowned(nh, pf))
		return NF_ACCEPT;
	if (sk)
		pi.cookie = sk->__sk_common.skc_cookie.counter;
	/* With a filter, no socket is no process: not wanted. */
	if (filter && (!sk || !sock_wanted(pi.cookie)))
		return NF_ACCEPT;
	pi.dir = st->hook == NF_INET_LOCAL_IN ? HONE_DIR_IN : HONE_DIR_OUT;
	dev = pi.dir == HONE_DIR_IN ? st->in : st->out;
	pi.ifindex = dev ? dev->ifindex : 0;
	pi.len = skb->len;
	pi.protocol = pf == NFPROTO_IPV4 ? ETH_P_IP : ETH_P_IPV6;
	/* No full socket, or a TIME_WAIT one: the kernel's, never a task's. */
	nf_capture(&pi, nh, lin);
	return NF_ACCEPT;
}

/*
 * A TCP segment or UDP datagram for a port no socket has: cgroup_skb
 * ingress never sees it (no socket) and hone_nf leaves TCP and UDP to
 * it, so the kernel's drop for want of a socket reports it (port scans,
 * refused connections). The kernel's own, never a task's.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(hone_nosock, struct sk_buff *skb, void *location,
	     enum skb_drop_reason reason)
{
	const unsigned char *nh;
	struct pkt_info pi = {};
	struct net_device *dev;
	__u8 type = 255;
	__u16 proto;
	__u32 l4, lin;

	/* With a filter, no socket is no process: not wanted. */
	if (reason != SKB_DROP_REASON_NO_SOCKET || filter)
		return 0;
	proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	if (proto != ETH_P_IP && proto != ETH_P_IPV6)
		return 0;
	nh = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header);
	l4 = proto == ETH_P_IP ? nf_l4_v4(nh, &type) : nf_l4_v6(nh, &type);
	if (l4 != IPPROTO_TCP_ && l4 != IPPROTO_UDP_ &&
	    l4 != IPPROTO_SCTP_ && l4 != IPPROTO_UDPLITE_)
		return 0;
	lin = BPF_CORE_READ(skb, tail) - BPF_CORE_READ(skb, network_header);
	/* The transport layer has pulled the IP header: count it back. */
	pi.len = BPF_CORE_READ(skb, len) + (BPF_CORE_READ(skb, data) - nh);
	pi.dir = HONE_DIR_IN;
	dev = BPF_CORE_READ(skb, dev);
	pi.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	pi.protocol = proto;
	nf_capture(&pi, nh, lin);
	return 0;
}

#endif /* HONE_WITH_NF */
