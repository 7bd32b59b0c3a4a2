// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * shim.c - libhone.so: loads hone's BPF sensor and hands its records to
 * the TypeScript side (src/sensor/shim.ts) through Deno FFI.
 *
 * The BPF object comes as two light skeletons (bpftool gen skeleton -L),
 * so the library needs nothing but libc: hone_full (with the netfilter
 * program) and hone_base (without it, the fallback when netfilter is
 * missing). Programs attach through BPF links only and nothing is
 * pinned, so everything detaches when the process dies.
 *
 * The ring buffer is read by hand: consumer page mapped rw, producer page
 * and twice the data mapped ro, acquire/release ordering, epoll_wait on
 * the map fd. Records are copied whole into the caller's buffer; one that
 * does not fit stays in the ring for the next call.
 *
 * No function prints or exits; actions return 0 or -errno and
 * hone_strerror_step() names the step that failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#include <bpf/skel_internal.h>

#include "hone.h"

/* Route the skeletons' loads through hone_load_and_run(): see nf_fixup(). */
static int hone_load_and_run(struct bpf_load_and_run_opts *opts);
#define bpf_load_and_run hone_load_and_run
#include "hone_full.lskel.h"
#include "hone_base.lskel.h"
#undef bpf_load_and_run

#define HONE_API	__attribute__((visibility("default")))
#define HONE_MAX_LINKS	16
#define HONE_LOG_SIZE	(4U << 20)
/*
 * Netfilter priority: after filtering, as hone 15.07; one step down for
 * each other sensor already there.
 */
#define HONE_NF_PRIO	(INT_MAX - 1)
#define HONE_NF_TRIES	64
#define HONE_NF_PROG	"hone_nf"

struct hone_fds {
	int rb;
	int counters;
	int skb_in;
	int skb_out;
	int sk_create;
	int sk_release;
	int send;
	int recv;
	int fork;
	int exec;
	int exit;
	int snap;
	int nf;			/* -1 in the base skeleton */
	int nosock;		/* -1 in the base skeleton */
	int want_pid;		/* the filter's tgids */
	int socks;		/* socket-local storage (hone_socks) */
	int self;		/* cookies of hone's own sockets */
	int want_sock;		/* the filter's sockets */
	__u64 *self_sockets;	/* in the mapped .bss */
};

struct hone_ring {
	int epfd;
	size_t page;
	size_t size;
	unsigned long *consumer_pos;	/* consumer page, rw */
	const unsigned long *producer_pos; /* producer page, ro */
	const __u8 *data;		/* data pages, mapped twice, ro */
};

struct hone_knobs {
	__u32 snaplen;
	__u32 self_pid;
	__u64 ringbuf_bytes;
	__u64 wakeup_bytes;
	__u32 filter;
	__u32 filter_uid;
	__u64 filter_cgroup;
	char filter_comm[16];
	__u32 cbpf_len;
	struct hone_cbpf_insn cbpf[HONE_CBPF_MAX];
};

static struct hone_sensor {
	bool running;
	struct hone_full *full;
	struct hone_base *base;
	struct hone_fds fds;
	int cg_fd;
	int links[HONE_MAX_LINKS];
	int nlinks;
	struct hone_ring ring;
	__u8 *snap;		/* snapshot records not yet handed out */
	size_t snap_len;
	size_t snap_off;
	__u64 snap_count;
	struct hone_knobs knobs;
	__u32 stat_flags;
	int nf_error;
} sensor = { .cg_fd = -1, .ring = { .epfd = -1 } };

static const char *failed_step = "";
static char *load_log;
static int nf_expected;	/* hone_nf programs the next load fixes */

/* ---- loading ---- */

/*
 * libbpf 1.1, which generates the light skeletons, does not know
 * SEC("netfilter"), so hone_nf is compiled as SEC("socket"). The loader
 * blob holds each program's BPF_PROG_LOAD attributes verbatim, 8-byte
 * aligned: find the one named hone_nf and make it a netfilter program.
 * Returns how many were changed.
 */
static int nf_fixup(__u8 *data, size_t size)
{
	const size_t name_off = offsetof(union bpf_attr, prog_name);
	const size_t attr_sz =
		offsetofend(union bpf_attr, expected_attach_type);
	char name[BPF_OBJ_NAME_LEN] = HONE_NF_PROG;
	union bpf_attr attr;
	size_t off;
	int n = 0;

	for (off = name_off; off + sizeof(name) <= size; off += 8) {
		if (memcmp(data + off, name, sizeof(name)) ||
		    off - name_off + attr_sz > size)
			continue;
		memcpy(&attr, data + off - name_off, attr_sz);
		if (attr.prog_type != BPF_PROG_TYPE_SOCKET_FILTER ||
		    attr.expected_attach_type != 0 || !attr.insn_cnt)
			continue;
		attr.prog_type = BPF_PROG_TYPE_NETFILTER;
		attr.expected_attach_type = BPF_NETFILTER;
		memcpy(data + off - name_off, &attr, attr_sz);
		n++;
	}
	return n;
}

static int hone_load_and_run(struct bpf_load_and_run_opts *opts)
{
	__u8 *data;
	int err;

	data = malloc(opts->data_sz);
	if (!data)
		return -ENOMEM;
	memcpy(data, opts->data, opts->data_sz);
	if (nf_fixup(data, opts->data_sz) != nf_expected) {
		free(data);
		opts->errstr = "netfilter program not found in the loader data";
		return -ENOEXEC;
	}
	opts->data = data;
	err = bpf_load_and_run(opts);
	free(data);
	return err;
}

static void set_log(struct bpf_loader_ctx *ctx, bool on)
{
	if (!on || (!load_log && !(load_log = malloc(HONE_LOG_SIZE))))
		return;
	load_log[0] = '\0';
	ctx->log_level = 1;
	ctx->log_size = HONE_LOG_SIZE;
	ctx->log_buf = (long)load_log;
}

/* Opens, configures and loads skeleton NAME; fills fds on success. */
#define DEFINE_SKEL_LOAD(name)						\
static int name##_load(struct name **out, const struct hone_knobs *k,	\
		       struct hone_fds *f, bool log)			\
{									\
	struct name *s = name##__open();				\
	int err;							\
									\
	if (!s)								\
		return -ENOMEM;						\
	set_log(&s->ctx, log);						\
	s->rodata->snaplen = k->snaplen;				\
	s->rodata->hone_pid = k->self_pid;				\
	s->rodata->wakeup_bytes = k->wakeup_bytes;			\
	s->rodata->filter = k->filter;					\
	s->rodata->filter_uid = k->filter_uid;				\
	s->rodata->filter_cgroup = k->filter_cgroup;			\
	memcpy((char *)s->rodata->filter_comm, k->filter_comm,		\
	       sizeof(k->filter_comm));					\
	s->rodata->cbpf_len = k->cbpf_len;				\
	memcpy((void *)s->rodata->cbpf, k->cbpf, sizeof(k->cbpf));	\
	s->maps.hone_rb.max_entries = k->ringbuf_bytes;			\
	err = name##__load(s);						\
	if (err) {							\
		name##__destroy(s);					\
		return err < 0 ? err : -EINVAL;				\
	}								\
	f->rb = s->maps.hone_rb.map_fd;					\
	f->counters = s->maps.hone_counters.map_fd;			\
	f->skb_in = s->progs.hone_skb_in.prog_fd;			\
	f->skb_out = s->progs.hone_skb_out.prog_fd;			\
	f->sk_create = s->progs.hone_sk_create.prog_fd;			\
	f->sk_release = s->progs.hone_sk_release.prog_fd;		\
	f->send = s->progs.hone_send.prog_fd;				\
	f->recv = s->progs.hone_recv.prog_fd;				\
	f->fork = s->progs.hone_fork.prog_fd;				\
	f->exec = s->progs.hone_exec.prog_fd;				\
	f->exit = s->progs.hone_exit.prog_fd;				\
	f->snap = s->progs.hone_snap.prog_fd;				\
	f->want_pid = s->maps.hone_want_pid.map_fd;			\
	f->socks = s->maps.hone_socks.map_fd;				\
	f->self = s->maps.hone_self.map_fd;				\
	f->want_sock = s->maps.hone_want_sock.map_fd;			\
	f->self_sockets = &s->bss->self_sockets;			\
	f->nf = -1;							\
	f->nosock = -1;							\
	*out = s;							\
	return 0;							\
}

DEFINE_SKEL_LOAD(hone_full)
DEFINE_SKEL_LOAD(hone_base)

static int load_full(struct hone_sensor *s, bool log)
{
	int err;

	nf_expected = 1;
	err = hone_full_load(&s->full, &s->knobs, &s->fds, log);
	if (!err) {
		s->fds.nf = s->full->progs.hone_nf.prog_fd;
		s->fds.nosock = s->full->progs.hone_nosock.prog_fd;
	}
	return err;
}

static int load_base(struct hone_sensor *s, bool log)
{
	nf_expected = 0;
	return hone_base_load(&s->base, &s->knobs, &s->fds, log);
}

/*
 * Loads the full object, or the base one if the full one fails (a kernel
 * without netfilter programs). A failed load is redone with the verifier
 * log on, so hone_load_log() can tell why.
 */
static int load_programs(struct hone_sensor *s, bool want_nf)
{
	int err;

	if (want_nf) {
		err = load_full(s, false);
		if (!err)
			return 0;
		if (err == -EPERM)
			return err;
		s->nf_error = err;
		s->stat_flags |= HONE_STAT_NF_FAILED;
	}
	err = load_base(s, false);
	if (err && err != -EPERM && !load_base(s, true)) {
		/* Loaded with the log on: keep it but say nothing failed. */
		err = 0;
	}
	return err;
}

/*
 * Loads the programs with the filter expression in them, or, when the
 * kernel refuses those (no bpf_loop before 5.17), without it: user space
 * then runs it alone, and HONE_STAT_CBPF stays clear.
 */
static int load_sensor(struct hone_sensor *s, bool want_nf)
{
	__u32 flags = s->stat_flags;
	int err;

	failed_step = "load BPF programs";
	err = load_programs(s, want_nf);
	if (!err && s->knobs.cbpf_len)
		s->stat_flags |= HONE_STAT_CBPF;
	if (!err || err == -EPERM || !s->knobs.cbpf_len)
		return err;
	s->knobs.cbpf_len = 0;
	s->stat_flags = flags;
	s->nf_error = 0;
	return load_programs(s, want_nf);
}

/*
 * load_sensor() with this thread's signals blocked: the verifier gives up
 * with EAGAIN when a signal is pending (a profiler's SIGPROF, a terminal's
 * SIGWINCH), which would fail the start or quietly fall back to the base
 * programs. Signals sent meanwhile are delivered once it is done.
 */
static int load_sensor_unsignalled(struct hone_sensor *s, bool want_nf)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	/* A fault during the load still ends the process as it would. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = load_sensor(s, want_nf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* ---- attaching ---- */

static int sys_bpf(enum bpf_cmd cmd, union bpf_attr *attr, size_t size)
{
	long ret = syscall(__NR_bpf, cmd, attr, size);

	return ret < 0 ? -errno : (int)ret;
}

/* Sets key to value in map fd; returns 0 or -errno. */
static int map_update(int fd, const void *key, const void *value,
		      __u64 flags)
{
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = (long)key;
	attr.value = (long)value;
	attr.flags = flags;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &attr, sizeof(attr));
}

static int keep_link(struct hone_sensor *s, int fd, const char *step)
{
	if (fd < 0) {
		failed_step = step;
		return -errno ? -errno : -EINVAL;
	}
	if (s->nlinks == HONE_MAX_LINKS) {
		close(fd);
		failed_step = step;
		return -EMFILE;
	}
	s->links[s->nlinks++] = fd;
	return 0;
}

static int attach_cgroup(struct hone_sensor *s, int prog, int type,
			 const char *step)
{
	return keep_link(s, skel_link_create(prog, s->cg_fd, type), step);
}

static int attach_tp(struct hone_sensor *s, int prog, const char *step)
{
	return keep_link(s, skel_raw_tracepoint_open(NULL, prog), step);
}

static int attach_all(struct hone_sensor *s)
{
	const struct hone_fds *f = &s->fds;
	int err;

	err = attach_tp(s, f->fork, "attach tp_btf/sched_process_fork");
	err = err ?: attach_tp(s, f->exec, "attach tp_btf/sched_process_exec");
	err = err ?: attach_tp(s, f->exit, "attach tp_btf/sched_process_exit");
	err = err ?: attach_tp(s, f->send, "attach tp_btf/sock_send_length");
	err = err ?: attach_tp(s, f->recv, "attach tp_btf/sock_recv_length");
	err = err ?: attach_cgroup(s, f->sk_create, BPF_CGROUP_INET_SOCK_CREATE,
				   "attach cgroup/sock_create");
	err = err ?: attach_cgroup(s, f->sk_release,
				   BPF_CGROUP_INET_SOCK_RELEASE,
				   "attach cgroup/sock_release");
	err = err ?: attach_cgroup(s, f->skb_in, BPF_CGROUP_INET_INGRESS,
				   "attach cgroup_skb ingress");
	err = err ?: attach_cgroup(s, f->skb_out, BPF_CGROUP_INET_EGRESS,
				   "attach cgroup_skb egress");
	return err;
}

/*
 * Only one BPF program may sit at a given hook and priority (-EBUSY), so
 * step down from HONE_NF_PRIO when another sensor is there already.
 */
static int nf_link(int prog, __u32 pf, __u32 hook)
{
	const size_t sz =
		offsetofend(union bpf_attr, link_create.netfilter.flags);
	union bpf_attr attr;
	int i, fd = -EBUSY;

	for (i = 0; i < HONE_NF_TRIES && fd == -EBUSY; i++) {
		memset(&attr, 0, sz);
		attr.link_create.prog_fd = prog;
		attr.link_create.attach_type = BPF_NETFILTER;
		attr.link_create.netfilter.pf = pf;
		attr.link_create.netfilter.hooknum = hook;
		attr.link_create.netfilter.priority = HONE_NF_PRIO - i;
		fd = sys_bpf(BPF_LINK_CREATE, &attr, sz);
	}
	return fd;
}

/* Netfilter is an extra: a failure is recorded, not returned. */
static void attach_nf(struct hone_sensor *s)
{
	static const __u32 hooks[][2] = {
		{ 2 /* NFPROTO_IPV4 */, 1 /* NF_INET_LOCAL_IN */ },
		{ 2, 3 /* NF_INET_LOCAL_OUT */ },
		{ 10 /* NFPROTO_IPV6 */, 1 },
		{ 10, 3 },
	};
	int fds[4], i, fd;

	for (i = 0; i < 4; i++) {
		fd = nf_link(s->fds.nf, hooks[i][0], hooks[i][1]);
		if (fd < 0 || s->nlinks + i >= HONE_MAX_LINKS) {
			s->nf_error = fd < 0 ? fd : -EMFILE;
			s->stat_flags |= HONE_STAT_NF_FAILED;
			if (fd >= 0)
				close(fd);
			while (i--)
				close(fds[i]);
			return;
		}
		fds[i] = fd;
	}
	for (i = 0; i < 4; i++)
		s->links[s->nlinks++] = fds[i];
	s->stat_flags |= HONE_STAT_NETFILTER;
	/* Packets dropped for want of a socket, which netfilter leaves. */
	if (s->fds.nosock >= 0 && s->nlinks < HONE_MAX_LINKS) {
		fd = skel_raw_tracepoint_open(NULL, s->fds.nosock);
		if (fd >= 0)
			s->links[s->nlinks++] = fd;
	}
}

/* ---- cgroup ---- */

/* Finds the cgroup v2 mount point in /proc/mounts. */
static int find_cgroup2(char *path, size_t size)
{
	char line[4096], dev[256], mnt[4096], type[64];
	int err = -ENOENT;
	FILE *f;

	f = fopen("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, mnt, type) != 3 ||
		    strcmp(type, "cgroup2"))
			continue;
		if (strlen(mnt) < size) {
			strcpy(path, mnt);
			err = 0;
		} else {
			err = -ENAMETOOLONG;
		}
		break;
	}
	fclose(f);
	return err;
}

static int open_cgroup(struct hone_sensor *s, const struct hone_options *o)
{
	char path[HONE_CGROUP_PATH_MAX];
	int err;

	if (o->cgroup_path[0]) {
		memcpy(path, o->cgroup_path, sizeof(path));
		path[sizeof(path) - 1] = '\0';
	} else {
		failed_step = "find the cgroup v2 mount in /proc/mounts";
		err = find_cgroup2(path, sizeof(path));
		if (err)
			return err;
	}
	failed_step = "open the cgroup v2 directory";
	s->cg_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->cg_fd < 0 ? -errno : 0;
}

/* ---- ring buffer ---- */

static int ring_open(struct hone_ring *r, int map_fd, size_t size)
{
	struct epoll_event ev = { .events = EPOLLIN };
	void *p;

	r->page = sysconf(_SC_PAGESIZE);
	r->size = size;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->consumer_pos = p;
	p = mmap(NULL, r->page + 2 * size, PROT_READ, MAP_SHARED, map_fd,
		 r->page);
	if (p == MAP_FAILED)
		return -errno;
	r->producer_pos = p;
	r->data = (const __u8 *)p + r->page;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, map_fd, &ev))
		return -errno;
	return 0;
}

static void ring_close(struct hone_ring *r)
{
	if (r->producer_pos)
		munmap((void *)r->producer_pos, r->page + 2 * r->size);
	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page);
	if (r->epfd >= 0)
		close(r->epfd);
	memset(r, 0, sizeof(*r));
	r->epfd = -1;
}

/* Length of the hone record in a ring sample, 0 if it is malformed. */
static __u32 rec_len(const __u8 *rec, __u32 sample_len)
{
	const struct hone_rec_hdr *h = (const struct hone_rec_hdr *)rec;

	if (sample_len < sizeof(*h) || h->len < sizeof(*h) ||
	    h->len > sample_len || h->len & 7)
		return 0;
	return h->len;
}

/* Copies whole records from the ring into buf; returns bytes or -errno. */
static int ring_consume(struct hone_ring *r, __u8 *buf, __u32 len)
{
	const __u32 flag_bits = BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT;
	unsigned long cons, prod;
	__u32 out = 0, hlen, n;
	const __u8 *sample;
	int err = 0;

	cons = __atomic_load_n(r->consumer_pos, __ATOMIC_RELAXED);
	prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	while (cons < prod) {
		sample = r->data + (cons & (r->size - 1));
		hlen = __atomic_load_n((const __u32 *)sample, __ATOMIC_ACQUIRE);
		if (hlen & BPF_RINGBUF_BUSY_BIT)
			break;
		if (!(hlen & BPF_RINGBUF_DISCARD_BIT)) {
			n = rec_len(sample + BPF_RINGBUF_HDR_SZ,
				    hlen & ~flag_bits);
			if (!n) {
				err = -EBADMSG;
				break;
			}
			if (n > len - out) {
				if (!out)
					err = -ENOBUFS;
				break;
			}
			memcpy(buf + out, sample + BPF_RINGBUF_HDR_SZ, n);
			out += n;
		}
		cons += HONE_ALIGN8((hlen & ~flag_bits) + BPF_RINGBUF_HDR_SZ);
		if (cons == prod)
			prod = __atomic_load_n(r->producer_pos,
					       __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
	return out ? (int)out : err;
}

/* ---- snapshot ---- */

/*
 * Takes a copy of a snapshot socket's fd (pidfd_getfd) and does what the
 * iterator cannot do with the untrusted socket pointer newer kernels give
 * it: makes and reads the cookie (SO_COOKIE) and puts the holder in the
 * socket's storage (an SK_STORAGE update is keyed by a socket fd of the
 * caller). Returns false when the socket cannot be taken and has no cookie.
 */
static bool snap_take(struct hone_sensor *s, struct hone_snap_socket *r,
		      int pidfd)
{
	struct hone_sock_state st = { .user = (__u64)r->pid << 32 };
	socklen_t len = sizeof(r->cookie);
	__u64 cookie = 0;
	__u8 one = 1;
	int fd;

	fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, r->fd, 0);
	if (fd < 0)
		return r->cookie != 0;	/* gone, or ptrace denied (Yama 3) */
	if (!getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) && cookie)
		r->cookie = cookie;
	if (r->pid == s->knobs.self_pid) {
		if (!map_update(s->fds.self, &r->cookie, &one, BPF_NOEXIST))
			__atomic_fetch_add(s->fds.self_sockets, 1,
					   __ATOMIC_RELAXED);
	} else {
		/* A socket used since attach already says its user. */
		map_update(s->fds.socks, &fd, &st, BPF_NOEXIST);
		if (s->knobs.filter)
			map_update(s->fds.want_sock, &r->cookie, &one,
				   BPF_ANY);
	}
	close(fd);
	return r->cookie != 0;
}

/*
 * Completes the snapshot's records in place (see snap_take) and drops
 * those of hone itself and those whose socket went away uncookied.
 */
static void snap_adopt(struct hone_sensor *s)
{
	struct hone_snap_socket *r;
	size_t in, out = 0;
	__u32 pid = 0;
	int pidfd = -1;

	for (in = 0; in + sizeof(*r) <= s->snap_len; in += sizeof(*r)) {
		r = (struct hone_snap_socket *)(s->snap + in);
		if (pidfd < 0 || r->pid != pid) {
			if (pidfd >= 0)
				close(pidfd);
			pid = r->pid;
			pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		}
		if (!snap_take(s, r, pidfd) || r->pid == s->knobs.self_pid)
			continue;
		if (out != in)
			memmove(s->snap + out, r, sizeof(*r));
		out += sizeof(*r);
	}
	if (pidfd >= 0)
		close(pidfd);
	s->snap_len = out;
}

/* Runs the iter/task_file program and keeps its SNAP_SOCKET records. */
static int run_snapshot(struct hone_sensor *s)
{
	union bpf_attr attr;
	size_t cap = 64 << 10;
	int link, fd, err = 0;
	ssize_t n;
	__u8 *p;

	failed_step = "run the socket snapshot (iter/task_file)";
	link = skel_link_create(s->fds.snap, 0, BPF_TRACE_ITER);
	if (link < 0)
		return -errno;
	memset(&attr, 0, sizeof(attr));
	attr.iter_create.link_fd = link;
	fd = sys_bpf(BPF_ITER_CREATE, &attr, sizeof(attr.iter_create));
	if (fd < 0) {
		close(link);
		return fd;
	}
	s->snap = malloc(cap);
	while (s->snap) {
		if (s->snap_len == cap) {
			p = realloc(s->snap, cap * 2);
			if (!p)
				break;
			s->snap = p;
			cap *= 2;
		}
		n = read(fd, s->snap + s->snap_len, cap - s->snap_len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : 0;
			break;
		}
		s->snap_len += n;
	}
	if (!s->snap)
		err = -ENOMEM;
	close(fd);
	close(link);
	if (!err)
		snap_adopt(s);
	s->snap_count = s->snap_len / sizeof(struct hone_snap_socket);
	return err;
}

/* Hands out queued snapshot records first; returns bytes copied. */
static __u32 snap_drain(struct hone_sensor *s, __u8 *buf, __u32 len)
{
	const struct hone_rec_hdr *h;
	size_t left;
	__u32 out = 0;

	while (s->snap_off < s->snap_len) {
		left = s->snap_len - s->snap_off;
		h = (const struct hone_rec_hdr *)(s->snap + s->snap_off);
		if (left < sizeof(*h) || h->len < sizeof(*h) || h->len > left) {
			s->snap_off = s->snap_len;	/* cannot happen */
			break;
		}
		if (h->len > len - out)
			break;
		memcpy(buf + out, h, h->len);
		out += h->len;
		s->snap_off += h->len;
	}
	if (s->snap_off >= s->snap_len) {
		free(s->snap);
		s->snap = NULL;
	}
	return out;
}

/* ---- API ---- */

static int check_options(const struct hone_options *o, struct hone_knobs *k)
{
	__u64 rb = o->ringbuf_bytes ?: HONE_RINGBUF_DEFAULT;

	failed_step = "check the options";
	if (o->abi_version && o->abi_version != HONE_ABI_VERSION)
		return -EPROTO;
	if (rb < HONE_RINGBUF_MIN || rb > (1ULL << 30) || (rb & (rb - 1)))
		return -EINVAL;
	k->ringbuf_bytes = rb;
	k->wakeup_bytes = o->wakeup_bytes ?: HONE_WAKEUP_DEFAULT;
	if (k->wakeup_bytes > rb / 4)
		k->wakeup_bytes = rb / 4;
	k->snaplen = o->snaplen && o->snaplen < HONE_SNAPLEN_MAX ?
		     o->snaplen : HONE_SNAPLEN_MAX;
	k->self_pid = o->self_pid;
	if (o->filter & ~(HONE_FILTER_PID | HONE_FILTER_CHILDREN |
			  HONE_FILTER_COMM | HONE_FILTER_UID |
			  HONE_FILTER_CGROUP))
		return -EINVAL;
	if (o->filter_npids > HONE_FILTER_PIDS ||
	    (o->filter & HONE_FILTER_PID && !o->filter_npids))
		return -EINVAL;
	k->filter = o->filter;
	k->filter_uid = o->filter_uid;
	k->filter_cgroup = o->filter_cgroup;
	memcpy(k->filter_comm, o->filter_comm, sizeof(k->filter_comm));
	if (o->cbpf_len > HONE_CBPF_MAX)
		return -EINVAL;
	k->cbpf_len = o->cbpf_len;
	memcpy(k->cbpf, o->cbpf, sizeof(k->cbpf));
	return 0;
}

/*
 * Puts --pid's tgids in the filter's table before anything is attached:
 * seeds, and matches too when no other kind of filter must hold.
 */
static int seed_filter(struct hone_sensor *s, const struct hone_options *o)
{
	__u8 v = 1 | (o->filter & ~(HONE_FILTER_PID | HONE_FILTER_CHILDREN) ?
		      0 : 2);
	__u32 i;
	int err;

	failed_step = "fill the process filter";
	if (!(o->filter & HONE_FILTER_PID))
		return 0;
	for (i = 0; i < o->filter_npids && i < HONE_FILTER_PIDS; i++) {
		err = map_update(s->fds.want_pid, &o->filter_pids[i], &v,
				 BPF_ANY);
		if (err < 0)
			return err;
	}
	return 0;
}

static int start(struct hone_sensor *s, const struct hone_options *o)
{
	int err;

	err = check_options(o, &s->knobs);
	if (err)
		return err;
	failed_step = "find kernel BTF (/sys/kernel/btf/vmlinux)";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return -errno;
	err = open_cgroup(s, o);
	if (err)
		return err;
	err = load_sensor_unsignalled(s, o->flags & HONE_OPT_NETFILTER);
	if (err)
		return err;
	err = seed_filter(s, o);
	if (err)
		return err;
	failed_step = "map the ring buffer";
	err = ring_open(&s->ring, s->fds.rb, s->knobs.ringbuf_bytes);
	if (err)
		return err;
	err = attach_all(s);
	if (err)
		return err;
	if (s->fds.nf >= 0)
		attach_nf(s);
	if (!(o->flags & HONE_OPT_NO_SNAPSHOT)) {
		err = run_snapshot(s);
		if (err)
			return err;
	}
	failed_step = "";
	return 0;
}

HONE_API void hone_detach(void)
{
	struct hone_sensor *s = &sensor;

	while (s->nlinks)
		close(s->links[--s->nlinks]);
}

HONE_API void hone_stop(void)
{
	struct hone_sensor *s = &sensor;

	hone_detach();
	ring_close(&s->ring);
	hone_full__destroy(s->full);
	hone_base__destroy(s->base);
	if (s->cg_fd >= 0)
		close(s->cg_fd);
	free(s->snap);
	memset(s, 0, sizeof(*s));
	s->cg_fd = -1;
	s->ring.epfd = -1;
}

HONE_API int hone_start(const struct hone_options *opts)
{
	struct hone_options zero = {};
	int err;

	if (sensor.running) {
		failed_step = "start: the sensor is already running";
		return -EBUSY;
	}
	if (load_log)
		load_log[0] = '\0';
	err = start(&sensor, opts ?: &zero);
	if (err) {
		hone_stop();
		return err;
	}
	sensor.running = true;
	return 0;
}

HONE_API int hone_poll(__u8 *buf, __u32 len, int timeout_ms)
{
	struct hone_sensor *s = &sensor;
	struct epoll_event ev;
	int n;

	if (!s->running)
		return -EBADF;
	if (s->snap) {
		n = snap_drain(s, buf, len);
		if (n)
			return n;
		if (s->snap)
			return -ENOBUFS;
	}
	n = ring_consume(&s->ring, buf, len);
	if (n || !timeout_ms)
		return n;
	if (epoll_wait(s->ring.epfd, &ev, 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	return ring_consume(&s->ring, buf, len);
}

/*
 * The gather between small batches, slept here on the caller's worker
 * thread rather than with a timer on the app's: Deno's timers cost the
 * main thread about 8 % of its time under a flood (perf, bench/README.md).
 */
HONE_API int hone_poll_after(__u8 *buf, __u32 len, int after_ms,
			     int timeout_ms)
{
	struct timespec t = {
		.tv_sec = after_ms / 1000,
		.tv_nsec = (long)(after_ms % 1000) * 1000000,
	};

	if (!sensor.running)
		return -EBADF;
	while (after_ms > 0 && nanosleep(&t, &t) && errno == EINTR)
		;
	return hone_poll(buf, len, timeout_ms);
}

/* Number of possible CPUs: the per-CPU map value count. */
static int possible_cpus(void)
{
	int a, b, n = 0, fd;
	char buf[256], *p;
	ssize_t len;

	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -EIO;
	buf[len] = '\0';
	for (p = buf; *p && *p != '\n'; p++) {
		if (sscanf(p, "%d-%d", &a, &b) == 2)
			n += b - a + 1;
		else if (sscanf(p, "%d", &a) == 1)
			n++;
		p = strchr(p, ',');
		if (!p)
			break;
	}
	return n > 0 ? n : -EIO;
}

HONE_API int hone_stats(struct hone_stats *out)
{
	struct hone_sensor *s = &sensor;
	struct hone_counters *vals, sum = {};
	union bpf_attr attr;
	int ncpu, cpu, i, err;
	__u32 key = 0;

	if (!s->running)
		return -EBADF;
	ncpu = possible_cpus();
	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = s->fds.counters;
	attr.key = (long)&key;
	attr.value = (long)vals;
	err = sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr,
		      offsetofend(union bpf_attr, flags));
	for (cpu = 0; !err && cpu < ncpu; cpu++)
		for (i = 0; i < HONE_C_MAX; i++)
			sum.c[i] += vals[cpu].c[i];
	free(vals);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->packets_seen = sum.c[HONE_C_PKT_SEEN];
	out->packets_dropped = sum.c[HONE_C_PKT_DROP];
	out->nf_packets = sum.c[HONE_C_NF_SEEN];
	out->self_skipped = sum.c[HONE_C_SELF_SKIP];
	out->proc_seen = sum.c[HONE_C_PROC_SEEN];
	out->proc_dropped = sum.c[HONE_C_PROC_DROP];
	out->sock_seen = sum.c[HONE_C_SOCK_SEEN];
	out->sock_dropped = sum.c[HONE_C_SOCK_DROP];
	out->snap_sockets = s->snap_count;
	out->ringbuf_bytes = s->knobs.ringbuf_bytes;
	out->flags = s->stat_flags;
	out->nf_error = s->nf_error;
	out->snaplen = s->knobs.snaplen;
	return 0;
}

static __s64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__s64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

HONE_API __s64 hone_clock_offset_ns(void)
{
	__s64 boot1 = clock_ns(CLOCK_BOOTTIME);
	__s64 real = clock_ns(CLOCK_REALTIME);
	__s64 boot2 = clock_ns(CLOCK_BOOTTIME);

	return real - (boot1 + (boot2 - boot1) / 2);
}

HONE_API __u32 hone_abi_version(void)
{
	return HONE_ABI_VERSION;
}

HONE_API __u32 hone_record_size(__u32 type)
{
	switch (type) {
	case HONE_REC_PACKET:
		return sizeof(struct hone_packet);
	case HONE_REC_SOCK_CREATE:
		return sizeof(struct hone_sock_create);
	case HONE_REC_SOCK_RELEASE:
		return sizeof(struct hone_sock_release);
	case HONE_REC_SOCK_USE:
		return sizeof(struct hone_sock_use);
	case HONE_REC_PROC_FORK:
		return sizeof(struct hone_proc_fork);
	case HONE_REC_PROC_EXEC:
		return sizeof(struct hone_proc_exec);
	case HONE_REC_PROC_EXIT:
		return sizeof(struct hone_proc_exit);
	case HONE_REC_SNAP_SOCKET:
		return sizeof(struct hone_snap_socket);
	case HONE_SIZEOF_REC_HDR:
		return sizeof(struct hone_rec_hdr);
	case HONE_SIZEOF_OPTIONS:
		return sizeof(struct hone_options);
	case HONE_SIZEOF_STATS:
		return sizeof(struct hone_stats);
	default:
		return 0;
	}
}

HONE_API const char *hone_strerror_step(void)
{
	return failed_step;
}

HONE_API const char *hone_load_log(void)
{
	return load_log ? load_log : "";
}
