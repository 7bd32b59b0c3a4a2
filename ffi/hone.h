/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * hone.h - the one description of hone's sensor ABI.
 *
 * Shared by the BPF program (ffi/hone.bpf.c), the user-space shim
 * (ffi/shim.c) and any future kernel module. src/records/layout.ts mirrors
 * it for TypeScript and is tested against hone_record_size().
 *
 * Rules:
 *  - Fields are naturally aligned __u32/__u64 with explicit pad fields;
 *    no pointers, longs, bitfields or hidden padding. Host byte order.
 *  - Every record starts with struct hone_rec_hdr. hdr.len is the total
 *    size of the record in bytes, header and trailing data included,
 *    always a multiple of 8, so the next record starts at offset + len.
 *  - Timestamps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns()).
 *    hone_clock_offset_ns() gives CLOCK_REALTIME - CLOCK_BOOTTIME.
 *  - pid is a thread group id (what getpid() returns), tid a thread id
 *    (gettid()), both in the initial pid namespace.
 *  - A change of any layout bumps HONE_ABI_VERSION.
 */
#ifndef HONE_H
#define HONE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HONE_ABI_VERSION	4

/* Record types (struct hone_rec_hdr.type). */
#define HONE_REC_PACKET		1	/* struct hone_packet + data */
#define HONE_REC_SOCK_CREATE	2	/* struct hone_sock_create */
#define HONE_REC_SOCK_RELEASE	3	/* struct hone_sock_release */
#define HONE_REC_SOCK_USE	4	/* struct hone_sock_use */
#define HONE_REC_PROC_FORK	5	/* struct hone_proc_fork */
#define HONE_REC_PROC_EXEC	6	/* struct hone_proc_exec + data */
#define HONE_REC_PROC_EXIT	7	/* struct hone_proc_exit */
#define HONE_REC_SNAP_SOCKET	8	/* struct hone_snap_socket */
#define HONE_REC_MAX		8

/* Largest number of packet bytes one PACKET record carries. */
#define HONE_SNAPLEN_MAX	65536
/* Caps on the variable parts of a PROC_EXEC record. */
#define HONE_FILENAME_MAX	1024
#define HONE_ARGV_MAX		4096
#define HONE_EXE_MAX		1024
#define HONE_EXE_DEPTH		32	/* path components of the exe */
/* Sockets a process filter remembers as wanted (an LRU table). The users
 * and counters of every socket live on the socket (socket-local storage). */
#define HONE_SOCK_TABLE		65536
#define HONE_COMM_LEN		16

/* Rounds a record size up to the 8-byte record alignment. */
#define HONE_ALIGN8(x)		(((x) + 7) & ~7U)

/* Common header of every record. */
struct hone_rec_hdr {
	__u32 type;	/* HONE_REC_* */
	__u32 len;	/* total bytes incl. header, a multiple of 8 */
	__u64 ts_ns;	/* CLOCK_BOOTTIME ns when the event happened */
};

/* struct hone_packet.dir and struct hone_sock_use.dir */
#define HONE_DIR_IN		1	/* received / recv */
#define HONE_DIR_OUT		2	/* sent / send */

/* struct hone_packet.flags */
#define HONE_PKT_NETFILTER	(1U << 0) /* netfilter, else cgroup_skb */
#define HONE_PKT_TASK		(1U << 1) /* sent in its sender's call */
#define HONE_PKT_CTX_UNKNOWN	(1U << 2) /* reserved: no longer set */
/* TASK: pid/tid are the sender's (pkt_task() in hone.bpf.c). */
#define HONE_PKT_LINEAR		(1U << 3) /* only the linear part read */
#define HONE_PKT_KEPT		(1U << 4) /* the expression accepted it here */

/*
 * HONE_REC_PACKET: one IPv4/IPv6 packet, followed by caplen bytes that
 * start at the IP header (LINKTYPE_RAW), then zero to 7 pad bytes.
 * Sources: cgroup_skb ingress/egress on the cgroup v2 root (every packet
 * of a socket), and netfilter LOCAL_IN/LOCAL_OUT for packets no socket
 * owns (flags & HONE_PKT_NETFILTER), such as ICMP echo requests.
 */
struct hone_packet {
	struct hone_rec_hdr hdr;
	__u64 cookie;		/* socket cookie, 0 if no socket */
	__u32 pid;		/* current tgid if HONE_PKT_TASK, else 0 */
	__u32 tid;		/* current tid if HONE_PKT_TASK, else 0 */
	__u32 ifindex;		/* interface index, 0 if unknown */
	__u32 len;		/* length from the IP header (skb->len) */
	__u32 caplen;		/* bytes of data after the struct */
	__u32 dir;		/* HONE_DIR_IN or HONE_DIR_OUT */
	__u32 protocol;		/* ethertype: 0x0800 IPv4, 0x86dd IPv6 */
	__u32 flags;		/* HONE_PKT_* */
	/* __u8 data[caplen], padded to 8 */
};

/* HONE_REC_SOCK_CREATE: an inet socket was created (cgroup/sock_create). */
struct hone_sock_create {
	struct hone_rec_hdr hdr;
	__u64 cookie;		/* socket cookie */
	__u32 pid;		/* creating tgid */
	__u32 tid;		/* creating tid */
	__u32 family;		/* AF_INET 2 or AF_INET6 10 */
	__u32 type;		/* SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3 */
	__u32 protocol;		/* IPPROTO_* */
	__u32 netns;		/* inode number of the socket's network ns */
};

/* HONE_REC_SOCK_RELEASE: an inet socket was closed (cgroup/sock_release). */
struct hone_sock_release {
	struct hone_rec_hdr hdr;
	__u64 cookie;		/* socket cookie */
	__u32 pid;		/* tgid of the task that released it */
	__u32 tid;		/* tid of the task that released it */
};

/*
 * HONE_REC_SOCK_USE: a thread sent on or read from an inet socket
 * (tp_btf/sock_send_length, sock_recv_length), with the socket's byte
 * and call counters, so that each byte and datagram of a socket can be
 * given to the thread that sent or read it.
 *
 * Counters. For each socket hone keeps, per direction, the bytes and the
 * calls of successful sends (send, sendto, sendmsg, sendmmsg: one call
 * per message, write, sendfile, splice, io_uring) and reads (recv*,
 * recvmmsg: one per message, read, io_uring), counted from when hone
 * first saw the socket: its SOCK_CREATE, its SNAP_SOCKET, or the call
 * whose record carries HONE_USE_FIRST (accepted sockets, sockets used
 * between the attach and the snapshot, and sockets the snapshot missed): all
 * counters are 0 just before that point. A HONE_USE_FIRST record wins
 * over the SNAP_SOCKET of the same socket, which hone_poll() hands out
 * first although the snapshot was taken later. A call counts when it
 * returns >= 0; a call that fails counts nowhere. A read with MSG_PEEK,
 * MSG_ERRQUEUE or MSG_OOB is not stream data: it is not counted and is
 * not a use (no record, no change of reader). A read that returns 0
 * counts as a call of 0 bytes (an empty datagram, or TCP EOF).
 *
 * When. A record is emitted at the call, after the counters moved, when
 * the calling thread (pid, tid) differs from the thread that last
 * created or used the socket in either direction, or from the thread
 * that last used it in this direction (the last sender and the last
 * reader are kept apart), or when the counters start (HONE_USE_FIRST).
 * A flood of calls by one thread gives one record.
 *
 * Meaning. Take the records of one socket and one direction in counter
 * order (calls_before goes up, bytes_before never down). Reader #k (the
 * k-th record with dir HONE_DIR_IN) read the bytes
 * [bytes_before_k, bytes_before_k+1) and the datagrams
 * [calls_before_k, calls_before_k+1) of the socket's receive stream (the
 * last reader: to the end); sender #k sent the bytes and datagrams
 * [.._before_k, .._before_k+1) of the send stream. Byte 0 and datagram 0
 * are the first read (or sent) after hone first saw the socket, as above.
 * A record whose thread is also the previous one of its direction (sent
 * because the socket's last user in the other direction differed) only
 * splits that thread's range in two. For datagram sockets use calls:
 * datagram n is the n-th datagram the socket's receive queue handed out;
 * bytes count what the calls returned (a datagram cut by a short buffer
 * counts its returned bytes only). For TCP, tcp_seq needs no start: it
 * is the sequence number of this call's first byte, so a range of
 * stream bytes is a range of sequence numbers.
 *
 * Limits. The tracepoints run after the call returns, outside the socket
 * lock: two threads sending (or reading) on one socket at the same
 * moment can be counted in the other order than the kernel queued their
 * data. A record that could not be written (ring buffer full, counted in
 * sock_dropped) is retried at the thread's next call on the socket, with
 * HONE_USE_LOST and counters that are later than the change of user.
 */
struct hone_sock_use {
	struct hone_rec_hdr hdr;
	__u64 cookie;		/* socket cookie */
	__u32 pid;		/* tgid of the user */
	__u32 tid;		/* tid of the user */
	__u32 dir;		/* HONE_DIR_OUT send, HONE_DIR_IN recv */
	__u32 len;		/* bytes this call sent or read (its return) */
	__u64 bytes_before;	/* bytes of direction dir before this call */
	__u64 calls_before;	/* calls of direction dir before this call */
	__u32 flags;		/* HONE_USE_* */
	__u32 tcp_seq;		/* TCP, if HONE_USE_TCP_SEQ: sequence number
				 * of this call's first byte (write_seq or
				 * copied_seq after the call, minus len) */
};

/* struct hone_sock_use.flags */
#define HONE_USE_FIRST		(1U << 0) /* counters started at this call */
#define HONE_USE_LOST		(1U << 1) /* an earlier record of this
					   * direction was lost: the change
					   * of user happened before this */
#define HONE_USE_TCP_SEQ	(1U << 2) /* tcp_seq is valid */

/* struct hone_proc_fork.flags */
#define HONE_FORK_THREAD	(1U << 0) /* new thread in the same process */
#define HONE_FORK_KTHREAD	(1U << 1) /* new kernel thread (PF_KTHREAD) */

/*
 * HONE_REC_PROC_FORK: a task was created (tp_btf/sched_process_fork).
 * cgroup_id and netns are the child's, as the fork left them.
 */
struct hone_proc_fork {
	struct hone_rec_hdr hdr;
	__u32 pid;		/* child tgid */
	__u32 tid;		/* child tid */
	__u32 ppid;		/* child's real_parent tgid */
	__u32 ptid;		/* tid that called fork/clone */
	__u32 flags;		/* HONE_FORK_* */
	__u32 netns;		/* inode number of the network namespace */
	__u64 cgroup_id;	/* cgroup v2 id (the cgroup directory's inode
				 * number; bpf_get_current_cgroup_id()) */
	char comm[HONE_COMM_LEN]; /* child comm (the parent's, until exec) */
};

/* struct hone_proc_exec.flags */
#define HONE_EXEC_ARGV_TRUNC	 (1U << 0) /* argv over HONE_ARGV_MAX */
#define HONE_EXEC_FILENAME_TRUNC (1U << 1) /* filename cut at FILENAME_MAX */
#define HONE_EXEC_ARGV_FAULT	 (1U << 2) /* argv could not be read */
#define HONE_EXEC_EXE_TRUNC	 (1U << 3) /* exe lacks its leading part */

/*
 * HONE_REC_PROC_EXEC: a task executed a new program
 * (tp_btf/sched_process_exec), also one that lives for microseconds.
 * Followed by filename_len bytes of the filename given to execve
 * (bprm->filename: as the caller wrote it, maybe relative, or
 * /dev/fd/N for fexecve), then argv_len bytes of the argument area
 * (mm->arg_start..arg_end: NUL-terminated strings), then exe_len bytes
 * of the resolved path of the executable file (bprm->file, what
 * /proc/PID/exe shows: symlinks resolved, the interpreter for a #!
 * script; built from its dentries up to the root of its mount
 * namespace, at most HONE_EXE_DEPTH components and HONE_EXE_MAX - 1
 * bytes, else the tail with HONE_EXEC_EXE_TRUNC), no NULs; then zero to
 * 7 pad bytes.
 */
struct hone_proc_exec {
	struct hone_rec_hdr hdr;
	__u32 pid;		/* tgid */
	__u32 tid;		/* tid (== pid after a successful exec) */
	__u32 old_tid;		/* tid that called execve */
	__u32 ppid;		/* real_parent tgid */
	__u32 uid;		/* effective uid (global) */
	__u32 gid;		/* effective gid (global) */
	__u32 flags;		/* HONE_EXEC_* */
	__u32 filename_len;	/* bytes of filename following the struct */
	__u32 argv_len;		/* bytes of argv after the filename */
	__u32 exe_len;		/* bytes of exe after argv */
	__u64 cgroup_id;	/* cgroup v2 id, as in hone_proc_fork */
	__u32 netns;		/* inode number of the network namespace */
	__u32 pad;
	char comm[HONE_COMM_LEN]; /* new comm (basename of the program) */
	/* filename[filename_len], argv[argv_len], exe[exe_len], pad to 8 */
};

/* struct hone_proc_exit.flags */
#define HONE_EXIT_GROUP_DEAD	(1U << 0) /* the process ended */
#define HONE_EXIT_LEADER	(1U << 1) /* the exiting task is the leader */

/* HONE_REC_PROC_EXIT: a task exited (tp_btf/sched_process_exit). */
struct hone_proc_exit {
	struct hone_rec_hdr hdr;
	__u32 pid;		/* tgid */
	__u32 tid;		/* tid */
	__u32 exit_code;	/* wait(2) status: code << 8 | signal */
	__u32 flags;		/* HONE_EXIT_* */
};

/*
 * HONE_REC_SNAP_SOCKET: an inet socket found in a process's fd table by
 * the start-up snapshot (iter/task_file). One record per (process, fd),
 * so sockets opened before hone started are attributed too. All snapshot
 * records come before any live record from hone_poll().
 */
struct hone_snap_socket {
	struct hone_rec_hdr hdr;
	__u64 cookie;		/* socket cookie */
	__u32 pid;		/* tgid holding the fd */
	__u32 fd;		/* file descriptor number */
	__u32 family;		/* AF_INET 2 or AF_INET6 10 */
	__u32 type;		/* SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3 */
	__u32 protocol;		/* IPPROTO_* */
	__u32 netns;		/* inode number of the socket's network ns */
};

/*
 * What hone knows of a socket, kept on the socket itself (socket-local
 * storage: no hashing, no table to fill or evict, freed with the socket):
 * users and counters (see struct hone_sock_use). A user is tgid << 32 | tid, as
 * bpf_get_current_pid_tgid() returns it; 0 is nobody. Index 0 of the
 * arrays is the send direction, 1 the receive direction. The shim writes
 * one for each socket of the start-up snapshot.
 */
struct hone_sock_state {
	__u64 user;		/* last thread that created or used it */
	__u64 dir_user[2];	/* last sender, last reader */
	__u64 bytes[2];		/* bytes sent, read */
	__u64 calls[2];		/* successful send, read calls */
	__u64 lost;		/* bit d: a record of direction d was lost */
};

/* struct hone_options.flags */
#define HONE_OPT_NETFILTER	(1U << 0) /* attach netfilter hooks too */
#define HONE_OPT_NO_SNAPSHOT	(1U << 1) /* no iter/task_file snapshot */

/*
 * struct hone_options.filter: which processes are captured (0 = all). The
 * kinds given must all hold (AND); --pid's list is one kind (any of them).
 * A packet is captured when its socket was created or used by a process
 * that matches, or it is sent by one from a syscall; process and socket
 * records only for processes that match. Nothing else reaches the ring.
 */
#define HONE_FILTER_PID		(1U << 0) /* tgid in filter_pids */
#define HONE_FILTER_CHILDREN	(1U << 1) /* ... or forked from one of them */
#define HONE_FILTER_COMM	(1U << 2) /* comm == filter_comm */
#define HONE_FILTER_UID		(1U << 3) /* effective uid == filter_uid */
#define HONE_FILTER_CGROUP	(1U << 4) /* cgroup v2 id == filter_cgroup */
#define HONE_FILTER_PIDS	64
#define HONE_FILTER_TABLE	65536	/* tgids followed with CHILDREN */

/*
 * struct hone_options.cbpf: the filter expression, classic BPF as
 * libpcap compiles it for LINKTYPE_RAW (struct sock_filter; packets start
 * at the IP header), run on each packet before its record is reserved.
 * A packet it rejects never reaches the ring; one it keeps gets
 * HONE_PKT_KEPT. Without that flag (a load past what netfilter can read,
 * a program that did not end) user space decides. Longer programs run in
 * user space only.
 */
#define HONE_CBPF_MAX		256
struct hone_cbpf_insn {
	__u16 code;
	__u8 jt;
	__u8 jf;
	__u32 k;
};

#define HONE_RINGBUF_DEFAULT	(16U << 20)
#define HONE_RINGBUF_MIN	(1U << 20)
#define HONE_WAKEUP_DEFAULT	(256U << 10)
#define HONE_CGROUP_PATH_MAX	512

/* Argument of hone_start(). Zero means "default" for every field. */
struct hone_options {
	__u32 abi_version;	/* HONE_ABI_VERSION, or 0 */
	__u32 flags;		/* HONE_OPT_* */
	__u32 snaplen;		/* bytes to keep; 0 or > max: max */
	__u32 self_pid;		/* tgid whose sockets are not reported */
	__u64 ringbuf_bytes;	/* power of two >= 1 MiB; default 16 MiB */
	__u64 wakeup_bytes;	/* wake the reader at this much data;
				 * default 256 KiB; 1 = every record */
	char cgroup_path[HONE_CGROUP_PATH_MAX]; /* "" = the cgroup v2 root */
	__u32 filter;		/* HONE_FILTER_*; 0 = every process */
	__u32 filter_uid;
	__u64 filter_cgroup;	/* inode number of a cgroup v2 directory */
	char filter_comm[16];	/* NUL-padded, as task->comm */
	__u32 filter_npids;
	__u32 filter_pids[HONE_FILTER_PIDS];
	__u32 cbpf_len;		/* instructions in cbpf; 0 = no expression */
	struct hone_cbpf_insn cbpf[HONE_CBPF_MAX];
};

/* struct hone_stats.flags */
#define HONE_STAT_NETFILTER	(1U << 0) /* netfilter hooks attached */
#define HONE_STAT_NF_FAILED	(1U << 1) /* asked for, but unavailable */
#define HONE_STAT_CBPF		(1U << 2) /* the expression runs in the kernel */

/* Filled by hone_stats(): sums over all CPUs since hone_start(). */
struct hone_stats {
	__u64 packets_seen;	/* packets seen by cgroup_skb */
	__u64 packets_dropped;	/* packet records lost: ring full */
	__u64 nf_packets;	/* socketless packets netfilter reported */
	__u64 self_skipped;	/* packets of self_pid's sockets skipped */
	__u64 proc_seen;	/* fork/exec/exit events */
	__u64 proc_dropped;	/* process records lost */
	__u64 sock_seen;	/* socket create/release/use records wanted */
	__u64 sock_dropped;	/* socket records lost */
	__u64 snap_sockets;	/* SNAP_SOCKET records from the snapshot */
	__u64 ringbuf_bytes;	/* ring buffer size in use */
	__u32 flags;		/* HONE_STAT_* */
	__s32 nf_error;		/* -errno why netfilter is off, or 0 */
	__u32 snaplen;		/* snap length in use */
	__u32 pad;
};

/* Per-CPU counters kept by the BPF program (index into hone_counters). */
enum hone_counter {
	HONE_C_PKT_SEEN,
	HONE_C_PKT_DROP,
	HONE_C_NF_SEEN,
	HONE_C_SELF_SKIP,
	HONE_C_PROC_SEEN,
	HONE_C_PROC_DROP,
	HONE_C_SOCK_SEEN,
	HONE_C_SOCK_DROP,
	HONE_C_MAX,
};

struct hone_counters {
	__u64 c[HONE_C_MAX];
};

_Static_assert(sizeof(struct hone_rec_hdr) == 16, "hone_rec_hdr");
_Static_assert(sizeof(struct hone_packet) == 56, "hone_packet");
_Static_assert(sizeof(struct hone_sock_create) == 48, "hone_sock_create");
_Static_assert(sizeof(struct hone_sock_release) == 32, "hone_sock_release");
_Static_assert(sizeof(struct hone_sock_use) == 64, "hone_sock_use");
_Static_assert(sizeof(struct hone_proc_fork) == 64, "hone_proc_fork");
_Static_assert(sizeof(struct hone_proc_exec) == 88, "hone_proc_exec");
_Static_assert(sizeof(struct hone_proc_exit) == 32, "hone_proc_exit");
_Static_assert(sizeof(struct hone_snap_socket) == 48, "hone_snap_socket");
_Static_assert(sizeof(struct hone_options) == 2888, "hone_options");
_Static_assert(sizeof(struct hone_stats) == 96, "hone_stats");
_Static_assert(sizeof(struct hone_counters) == 8 * HONE_C_MAX, "counters");

/* Arguments of hone_record_size() beyond the record types. */
#define HONE_SIZEOF_REC_HDR	0x100	/* struct hone_rec_hdr */
#define HONE_SIZEOF_OPTIONS	0x101	/* struct hone_options */
#define HONE_SIZEOF_STATS	0x102	/* struct hone_stats */

#if !defined(__VMLINUX_H__) && !defined(__KERNEL__)
/*
 * The shim's C API (libhone.so, ffi/shim.c). One sensor per process.
 * Actions return 0 or -errno; none prints or exits.
 */

/* Loads and attaches everything, then takes the socket snapshot.
 * On failure hone_strerror_step() names the step that failed. */
int hone_start(const struct hone_options *opts);
/* Copies whole records into buf; waits up to timeout_ms (-1: forever)
 * when none is ready. Returns the bytes written, 0 on timeout, -errno.
 * -ENOBUFS: the next record is larger than len. Not thread-safe with
 * itself or hone_stop(). */
int hone_poll(__u8 *buf, __u32 len, int timeout_ms);
/* Sleeps after_ms (records gather meanwhile; none if <= 0), then
 * hone_poll(). -EBADF when not running; thread safety as hone_poll(). */
int hone_poll_after(__u8 *buf, __u32 len, int after_ms, int timeout_ms);
/* Fills *out with the counters summed over all CPUs. */
int hone_stats(struct hone_stats *out);
/* CLOCK_REALTIME - CLOCK_BOOTTIME in ns: wall clock = ts_ns + offset. */
__s64 hone_clock_offset_ns(void);
/* HONE_ABI_VERSION of the library. */
__u32 hone_abi_version(void);
/* sizeof the fixed part of a record type or HONE_SIZEOF_*, 0 if none. */
__u32 hone_record_size(__u32 type);
/* Name of the step of hone_start() that failed last, "" if none. */
const char *hone_strerror_step(void);
/* Verifier log of the last failed load, "" if none. */
const char *hone_load_log(void);
/* Detaches every program (no new records or counts) but keeps the ring and
 * the counters, so a capture can read its final counts and then drain the
 * ring. Safe to call more than once. */
void hone_detach(void);
/* Detaches and frees everything. Safe to call when not started. */
void hone_stop(void);
#endif

#endif /* HONE_H */
