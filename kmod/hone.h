/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the parts of honeevent.ko share.
 *
 *   hone_dev.c    the character devices, the readers and their rings
 *   hone_fmt.c    PCAP-NG blocks and text lines
 *   hone_proc.c   process events (sched tracepoints) and the snapshot
 *   hone_sock.c   the socket table, socket events (kprobes) and netfilter
 */
#ifndef HONE_H
#define HONE_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/timer.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#define HONE_VERSION "0.1.0"

/* Kinds of events; index of every counter array. */
enum hone_kind {
	HONE_PROC,
	HONE_SOCK,
	HONE_PKT,
	HONE_NKINDS,
};

/* struct hone_event.what for HONE_PROC (the original's values). */
enum hone_proc_what {
	HONE_FORK = 1,
	HONE_EXEC = 2,
	HONE_EXIT = 3,
	HONE_KTHD = 4,
};

/* struct hone_event.what for HONE_SOCK. */
enum hone_sock_what {
	HONE_OPEN = 0,
	HONE_CLOSE = 1,
};

/* struct hone_event.what for HONE_PKT: the pcapng epb_flags direction. */
enum hone_pkt_dir {
	HONE_IN = 1,
	HONE_OUT = 2,
};

/*
 * How a packet's process is known (hone's EPB option 0x8001, as hone
 * read names them).
 */
enum hone_how {
	HONE_HOW_NONE,		/* no process: the kernel's own packet */
	HONE_HOW_SENDER,	/* the thread that sent it, in its send */
	HONE_HOW_READER,	/* the thread waiting to read the socket */
	HONE_HOW_USER,		/* the socket's most recent user */
	HONE_HOW_CREATOR,	/* the process that created (accepted) it */
	HONE_HOW_SNAPSHOT,	/* a holder of the socket at the snapshot */
};

/* Caps on what one process event carries. */
#define HONE_PATH_MAX	4096	/* exe path, NUL included */
#define HONE_ARGV_MAX	16384	/* argument area */
#define HONE_COMM_LEN	16
/* Caps on the module parameters written into every section header. */
#define HONE_PARAM_MAX	256

/*
 * One event, built on the stack of a hook and formatted into every
 * reader's ring before the hook returns (nothing points to it later).
 */
struct hone_event {
	u8 kind;		/* enum hone_kind */
	u8 what;		/* enum hone_{proc,sock}_what, hone_pkt_dir */
	u8 how;			/* enum hone_how, packets */
	u64 ts;			/* CLOCK_MONOTONIC ns */
	u32 pid;		/* tgid, 0 if none */
	u32 tid;
	u32 ppid;		/* real parent's tgid */
	u32 uid;		/* effective, in the initial user namespace */
	u32 gid;
	s32 exit_code;		/* HONE_EXIT: status, or 128 + signal */
	u32 conn;		/* connection id, 0 if none */
	const char *path;	/* exe path (HONE_EXEC) or NULL */
	u32 path_len;
	const char *argv;	/* NUL-separated arguments, or NULL */
	u32 argv_len;
	const char *comm;	/* kernel thread name (HONE_KTHD) */
	const struct sk_buff *skb;	/* HONE_PKT: from the IP header */
	const void *sk;		/* HONE_PKT: socket, for the filter */
};

/* Room for an IPv4 or IPv6 header, for skb_header_pointer(). */
union hone_iphdr {
	struct iphdr v4;
	struct ipv6hdr v6;
};

/* Per-kind counters. */
struct hone_counts {
	atomic64_t n[HONE_NKINDS];
};

/*
 * One open file of /dev/hone or /dev/honet. Hooks write formatted records
 * into its ring under @lock (from any context, irqs off); read() takes
 * them out without the lock (one consumer, serialized by @read_mutex).
 */
struct hone_reader {
	struct list_head node;		/* hone_readers, RCU */
	spinlock_t lock;		/* producers; head, snaplen */
	char *ring;
	u32 size;			/* bytes, a power of two */
	u64 head;			/* next write, producers */
	u64 tail;			/* next read, consumer */
	u64 hdr_end;			/* a header in the ring ends here */
	u32 rec_off;			/* bytes of the record at tail read */
	wait_queue_head_t wq;
	struct timer_list wake_timer;	/* wakes a reader a batch late */
	struct mutex read_mutex;	/* one read() at a time */
	bool text;			/* /dev/honet */
	u32 snaplen;			/* 0 = whole packets */
	unsigned long flags;		/* HONE_R_* */
	u64 open_ts;			/* CLOCK_MONOTONIC at open */
	s64 wall_off;			/* CLOCK_REALTIME - CLOCK_MONOTONIC */
	void *filter_sk;		/* struct sock *, held */
	char *stage;			/* header and snapshot records */
	size_t stage_len;
	size_t stage_off;
	size_t stage_cap;
	size_t stage_left;		/* bytes of the staged record at off */
	struct hone_counts delivered;
	struct hone_counts dropped;
	atomic64_t filtered;
};

/* struct hone_reader.flags */
#define HONE_R_HEAD	0	/* a section header is due */
#define HONE_R_SNAP	1	/* a snapshot is due */

/*
 * A place formatted bytes go: counted only (buf NULL), a ring or a
 * linear buffer (mask ~0).
 */
struct hone_sink {
	char *buf;
	u64 mask;
	u64 pos;
	u32 n;
};

/* hone_dev.c */
extern atomic_t hone_nreaders;
/*
 * Events the hooks saw, per CPU: every packet on every CPU counts one, so
 * a shared counter would be a cache line all CPUs fight over.
 */
struct hone_pcpu_counts {
	u64 n[HONE_NKINDS];
};

DECLARE_PER_CPU(struct hone_pcpu_counts, hone_received);
u64 hone_received_count(int kind);
extern struct hone_counts hone_lost;
extern u64 hone_start_wall;
extern char *hone_hostid;
extern unsigned char hone_hostid_type;
extern u8 hone_guid[16];
extern char hone_comment_text[HONE_PARAM_MAX];
void hone_deliver(const struct hone_event *ev);
int hone_stage_event(struct hone_reader *r, const struct hone_event *ev);

static inline bool hone_active(void)
{
	return atomic_read(&hone_nreaders) > 0;
}

/* hone_fmt.c */
void hone_sink_put(struct hone_sink *s, const void *p, u32 len);
void hone_fmt_event(struct hone_sink *s, const struct hone_reader *r,
		    const struct hone_event *ev, u32 snaplen);
u32 hone_fmt_len(const struct hone_reader *r, const struct hone_event *ev,
		 u32 snaplen);
#define HONE_OS_LEN (5 * 65)
void hone_uname(char *buf);
void hone_fmt_head(struct hone_sink *s, const struct hone_reader *r,
		   u32 snaplen, const char *os);
void hone_fmt_tail(struct hone_sink *s, const struct hone_reader *r);

/* hone_proc.c */
int hone_proc_init(void);
void hone_proc_exit(void);
struct task_struct;
int hone_snapshot(struct hone_reader *r);
void hone_task_ids(struct task_struct *t, struct hone_event *ev);

/* hone_sock.c */
int hone_sock_init(void);
void hone_sock_exit(void);
struct sock;
void hone_sock_snapshot(struct hone_reader *r, struct sock *sk,
			struct hone_event *ev);
void hone_sock_seen(struct sock *sk, u32 tgid);
u32 hone_sock_count(void);
struct sk_buff;
int hone_l4(const struct sk_buff *skb, int nh, u8 family, u8 *proto);

#endif /* HONE_H */
