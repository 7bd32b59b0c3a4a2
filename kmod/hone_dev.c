// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/hone and /dev/honet: the module, its parameters, the
 * readers, their rings, read/poll/ioctl.
 *
 * Every open file is an independent reader with its own ring of
 * PAGE_SIZE << pageorder bytes. The hooks format each event for each
 * reader (PCAP-NG or text, at the reader's snap length) straight into its
 * ring; when it is full the event is dropped for that reader alone and
 * counted. A ring record is a struct hone_rec and its bytes, padded to 8.
 * read() first hands out what is staged (a section header and the
 * snapshot of processes and sockets), then the ring, record by record;
 * a record may be split across reads.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/device.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/uaccess.h>
#include <linux/compat.h>
#include <linux/net.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <net/sock.h>
#include "hone.h"
#include "honeevent.h"

#define HONE_PAGEORDER_MIN	2
#define HONE_PAGEORDER_MAX	15
#define HONE_MAX_READERS	64
/* Ring room only the section header and statistics records may use. */
#define HONE_CTL_RESERVE	2048
/* Cap on one reader's staged snapshot. */
#define HONE_STAGE_MAX		(64U << 20)

/* Ring record header. */
struct hone_rec {
	u32 len;		/* bytes that follow, not counting the pad */
	u32 kind;		/* HONE_REC_* */
};

#define HONE_REC_DATA	1	/* bytes for read() */
#define HONE_REC_EOS	2	/* end of section: read() returns 0 */

static char *devname = "hone";
module_param(devname, charp, 0444);
MODULE_PARM_DESC(devname,
		 "Name of the device class and the nodes: <devname> (PCAP-NG) and <devname>t (text); default hone");

static int major;
module_param(major, int, 0444);
MODULE_PARM_DESC(major,
		 "Major device number, 0 (default) for a dynamic one; shows the one in use");

char *hone_hostid = "";
module_param_named(hostid, hone_hostid, charp, 0444);
MODULE_PARM_DESC(hostid,
		 "Host id for the section headers: a string, or a GUID if hostid_type=1; default none");

unsigned char hone_hostid_type;
module_param_named(hostid_type, hone_hostid_type, byte, 0444);
MODULE_PARM_DESC(hostid_type,
		 "0 (default): hostid is a string; 1: hostid is a GUID (32 hex digits, optional {} and -)");

static char *comment = "";
module_param(comment, charp, 0444);
MODULE_PARM_DESC(comment,
		 "Comment for the section headers (\\040 or \\x20 for a space); default none");

static unsigned int snaplen;
module_param(snaplen, uint, 0644);
MODULE_PARM_DESC(snaplen,
		 "Snap length of new readers, bytes from the IP header; 0 (default) = whole packets");

static unsigned int pageorder = 10;

static int pageorder_set(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int err = kstrtouint(val, 0, &v);

	if (err)
		return err;
	if (v < HONE_PAGEORDER_MIN || v > HONE_PAGEORDER_MAX)
		return -EINVAL;
	WRITE_ONCE(pageorder, v);
	return 0;
}

static const struct kernel_param_ops pageorder_ops = {
	.set = pageorder_set,
	.get = param_get_uint,
};

module_param_cb(pageorder, &pageorder_ops, &pageorder, 0644);
MODULE_PARM_DESC(pageorder,
		 "Ring of each new reader: PAGE_SIZE << pageorder bytes, 2..15; default 10 (4 MiB)");

u8 hone_guid[16];
char hone_comment_text[HONE_PARAM_MAX];
u64 hone_start_wall;
atomic_t hone_nreaders = ATOMIC_INIT(0);
DEFINE_PER_CPU(struct hone_pcpu_counts, hone_received);
struct hone_counts hone_lost;

/* Events of @kind the hooks saw, on all CPUs. */
u64 hone_received_count(int kind)
{
	u64 n = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		n += READ_ONCE(per_cpu(hone_received, cpu).n[kind]);
	return n;
}

static LIST_HEAD(hone_readers);
static DEFINE_MUTEX(hone_readers_mutex);
static struct class *hone_class;
static struct dentry *hone_debugfs;

/* ---- the ring ---- */

/* Room for a record of len bytes beyond reserve? Under r->lock. */
static bool ring_fits(struct hone_reader *r, u32 len, u32 reserve)
{
	/* Pairs with the release of tail: read() is done with those bytes. */
	u64 used = r->head - smp_load_acquire(&r->tail);

	return used + sizeof(struct hone_rec) + ALIGN(len, 8) + reserve <=
	       r->size;
}

static void ring_sink(struct hone_reader *r, struct hone_sink *s)
{
	s->buf = r->ring;
	s->mask = r->size - 1;
	s->pos = r->head + sizeof(struct hone_rec);
	s->n = 0;
}

/* Publishes the record written after r->head. Under r->lock. */
static void ring_commit(struct hone_reader *r, u32 len, u32 kind)
{
	struct hone_rec rec = { .len = len, .kind = kind };

	/* Records are 8-aligned in a ring of 2^n bytes: no wrap here. */
	memcpy(r->ring + (r->head & (r->size - 1)), &rec, sizeof(rec));
	/* The record's bytes before the head that shows them to read(). */
	smp_store_release(&r->head,
			  r->head + sizeof(rec) + ALIGN(len, 8));
}

static bool hone_readable(struct hone_reader *r)
{
	if (r->stage_off < r->stage_len || test_bit(HONE_R_HEAD, &r->flags) ||
	    test_bit(HONE_R_SNAP, &r->flags))
		return true;
	/* Acquire: pairs with ring_commit(). */
	return READ_ONCE(r->tail) != smp_load_acquire(&r->head);
}

static void hone_wake(struct hone_reader *r)
{
	if (wq_has_sleeper(&r->wq))
		wake_up_interruptible_poll(&r->wq, EPOLLIN | EPOLLRDNORM);
}

/* How late a sleeping reader may be woken for what is queued. */
#define HONE_WAKE_MS	4

static void hone_wake_timer(struct timer_list *t)
{
	hone_wake(container_of(t, struct hone_reader, wake_timer));
}

/*
 * Wakes a sleeping reader at once when a 16th of its ring is queued, else
 * at most HONE_WAKE_MS later (a timer): under a flood a reader reads large
 * batches instead of waking for each packet, as a packet socket's
 * TPACKET_V3 block timeout has it. poll() and reads see every record at
 * once; only the wake-up waits.
 */
static void hone_wake_soon(struct hone_reader *r)
{
	if (!wq_has_sleeper(&r->wq))
		return;
	if (READ_ONCE(r->head) - READ_ONCE(r->tail) >= r->size / 16)
		wake_up_interruptible_poll(&r->wq, EPOLLIN | EPOLLRDNORM);
	else if (!timer_pending(&r->wake_timer))
		mod_timer(&r->wake_timer,
			  jiffies + msecs_to_jiffies(HONE_WAKE_MS));
}

/* Formats ev into r's ring, or counts it as dropped there. */
static void hone_reader_event(struct hone_reader *r,
			      const struct hone_event *ev)
{
	struct hone_sink s = {};
	unsigned long flags;
	u32 len;

	if (ev->kind == HONE_PKT && ev->sk &&
	    READ_ONCE(r->filter_sk) == ev->sk) {
		atomic64_inc(&r->filtered);
		return;
	}
	spin_lock_irqsave(&r->lock, flags);
	len = hone_fmt_len(r, ev, r->snaplen);
	if (!ring_fits(r, len, HONE_CTL_RESERVE)) {
		spin_unlock_irqrestore(&r->lock, flags);
		atomic64_inc(&r->dropped.n[ev->kind]);
		return;
	}
	ring_sink(r, &s);
	hone_fmt_event(&s, r, ev, r->snaplen);
	WARN_ON_ONCE(s.n != len);
	ring_commit(r, len, HONE_REC_DATA);
	spin_unlock_irqrestore(&r->lock, flags);
	atomic64_inc(&r->delivered.n[ev->kind]);
	hone_wake_soon(r);
}

/* Gives one event to every reader. Any context. */
void hone_deliver(const struct hone_event *ev)
{
	struct hone_reader *r;

	this_cpu_inc(hone_received.n[ev->kind]);
	rcu_read_lock();
	list_for_each_entry_rcu(r, &hone_readers, node)
		hone_reader_event(r, ev);
	rcu_read_unlock();
}

/* ---- the stage: section header and snapshot, before the ring ---- */

static int stage_reserve(struct hone_reader *r, size_t len)
{
	size_t cap;
	char *p;

	if (r->stage_len + len <= r->stage_cap)
		return 0;
	if (r->stage_len + len > HONE_STAGE_MAX)
		return -ENOBUFS;
	cap = max_t(size_t, r->stage_cap * 2, 64 << 10);
	while (cap < r->stage_len + len)
		cap *= 2;
	cap = min_t(size_t, cap, HONE_STAGE_MAX);
	p = kvmalloc(cap, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	if (r->stage_len)
		memcpy(p, r->stage, r->stage_len);
	kvfree(r->stage);
	r->stage = p;
	r->stage_cap = cap;
	return 0;
}

/* Appends one snapshot event to the stage. Process context. */
int hone_stage_event(struct hone_reader *r, const struct hone_event *ev)
{
	struct hone_sink s;
	u32 snap = READ_ONCE(r->snaplen);
	int err;

	err = stage_reserve(r, hone_fmt_len(r, ev, snap));
	if (err) {
		atomic64_inc(&r->dropped.n[ev->kind]);
		return err;
	}
	s = (struct hone_sink){ .buf = r->stage, .mask = ~0ULL,
				.pos = r->stage_len };
	hone_fmt_event(&s, r, ev, snap);
	r->stage_len += s.n;
	atomic64_inc(&r->delivered.n[ev->kind]);
	return 0;
}

/* A new section in the stage: header, then the snapshot. */
static int stage_section(struct hone_reader *r)
{
	char os[HONE_OS_LEN + 1];
	struct hone_sink s = {};
	unsigned long flags;
	u32 snap;
	int err;

	if (r->stage_cap > (256 << 10)) {
		kvfree(r->stage);
		r->stage = NULL;
		r->stage_cap = 0;
	}
	r->stage_len = 0;
	r->stage_off = 0;
	r->stage_left = 0;
	if (test_bit(HONE_R_HEAD, &r->flags)) {
		hone_uname(os);
		spin_lock_irqsave(&r->lock, flags);
		snap = r->snaplen;
		clear_bit(HONE_R_HEAD, &r->flags);
		spin_unlock_irqrestore(&r->lock, flags);
		hone_fmt_head(&s, r, snap, os);
		err = stage_reserve(r, s.n);
		if (err) {
			set_bit(HONE_R_HEAD, &r->flags);
			return err;
		}
		s = (struct hone_sink){ .buf = r->stage, .mask = ~0ULL };
		hone_fmt_head(&s, r, snap, os);
		r->stage_len = s.n;
	}
	if (test_and_clear_bit(HONE_R_SNAP, &r->flags))
		hone_snapshot(r);
	return 0;
}

/* ---- file operations ---- */

static int hone_open(struct inode *inode, struct file *file)
{
	unsigned int order = READ_ONCE(pageorder);
	struct hone_reader *r;
	int err;

	if ((file->f_flags & O_ACCMODE) != O_RDONLY)
		return -EINVAL;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->size = PAGE_SIZE << order;
	r->ring = kvmalloc(r->size, GFP_KERNEL);
	if (!r->ring) {
		err = -ENOMEM;
		goto out_free_reader;
	}
	spin_lock_init(&r->lock);
	init_waitqueue_head(&r->wq);
	timer_setup(&r->wake_timer, hone_wake_timer, 0);
	mutex_init(&r->read_mutex);
	r->text = iminor(inode) == 1;
	r->snaplen = READ_ONCE(snaplen);
	r->open_ts = ktime_get_ns();
	r->wall_off = ktime_get_real_ns() - r->open_ts;
	__set_bit(HONE_R_HEAD, &r->flags);
	__set_bit(HONE_R_SNAP, &r->flags);

	mutex_lock(&hone_readers_mutex);
	if (atomic_read(&hone_nreaders) >= HONE_MAX_READERS) {
		mutex_unlock(&hone_readers_mutex);
		err = -EBUSY;
		goto out_free_ring;
	}
	list_add_tail_rcu(&r->node, &hone_readers);
	atomic_inc(&hone_nreaders);
	mutex_unlock(&hone_readers_mutex);
	file->private_data = r;
	/*
	 * Who holds the sockets open now, before the first read stages the
	 * snapshot: packets that come meanwhile go to them.
	 */
	hone_snapshot(NULL);
	return stream_open(inode, file);

out_free_ring:
	kvfree(r->ring);
out_free_reader:
	kfree(r);
	return err;
}

static int hone_release(struct inode *inode, struct file *file)
{
	struct hone_reader *r = file->private_data;

	mutex_lock(&hone_readers_mutex);
	list_del_rcu(&r->node);
	atomic_dec(&hone_nreaders);
	mutex_unlock(&hone_readers_mutex);
	/* No hook writes into the ring (or arms its timer) after this. */
	synchronize_rcu();
	del_timer_sync(&r->wake_timer);
	if (r->filter_sk)
		sock_put(r->filter_sk);
	kvfree(r->stage);
	kvfree(r->ring);
	kfree(r);
	return 0;
}

/* Copies len bytes of the ring at pos to user memory. */
static int ring_to_user(struct hone_reader *r, char __user *ubuf, u64 pos,
			u32 len)
{
	u32 off = pos & (r->size - 1);
	u32 first = min_t(u32, len, r->size - off);

	if (copy_to_user(ubuf, r->ring + off, first))
		return -EFAULT;
	if (len > first && copy_to_user(ubuf + first, r->ring, len - first))
		return -EFAULT;
	return 0;
}

/* Bytes of the staged record at stage_off: a block, or a line. */
static size_t stage_rec_len(struct hone_reader *r)
{
	size_t left = r->stage_len - r->stage_off;
	const char *p = r->stage + r->stage_off, *nl;
	u32 len;

	if (r->text) {
		nl = memchr(p, '\n', left);
		return nl ? nl - p + 1 : left;
	}
	if (left < 8)
		return left;
	memcpy(&len, p + 4, sizeof(len));
	return clamp_t(size_t, len, 1, left);
}

/*
 * Copies what is ready, without waiting: whole records, or the start of
 * one that does not fit in what is left of the buffer when nothing else
 * was copied (the next read goes on with it). So a reader like cat, whose
 * buffer holds any record, never stops in the middle of one. Returns the
 * bytes copied, 0 if nothing is ready, 0 with *eos set at the end of a
 * section, or -errno.
 */
static ssize_t hone_read_ready(struct hone_reader *r, char __user *ubuf,
			       size_t count, bool *eos)
{
	size_t done = 0, n;
	struct hone_rec rec;
	u64 head, tail;
	int err;

	while (done < count) {
		if (r->stage_off < r->stage_len) {
			if (!r->stage_left) {
				n = stage_rec_len(r);
				if (done && n > count - done)
					break;
				r->stage_left = n;
			}
			n = min(count - done, r->stage_left);
			if (copy_to_user(ubuf + done, r->stage + r->stage_off,
					 n))
				return done ? done : -EFAULT;
			r->stage_off += n;
			r->stage_left -= n;
			done += n;
			continue;
		}
		if (test_bit(HONE_R_HEAD, &r->flags) ||
		    test_bit(HONE_R_SNAP, &r->flags)) {
			err = stage_section(r);
			if (err)
				return done ? done : err;
			continue;
		}
		/* Pairs with ring_commit(): the bytes up to head are there. */
		head = smp_load_acquire(&r->head);
		tail = r->tail;
		if (tail == head)
			break;
		memcpy(&rec, r->ring + (tail & (r->size - 1)), sizeof(rec));
		if (rec.kind == HONE_REC_EOS) {
			if (done)
				break;
			/* Pairs with ring_fits(): the room is free again. */
			smp_store_release(&r->tail, tail + sizeof(rec));
			set_bit(HONE_R_SNAP, &r->flags);
			set_bit(HONE_R_HEAD, &r->flags);
			*eos = true;
			return 0;
		}
		if (!r->rec_off && done && rec.len > count - done)
			break;
		n = min_t(size_t, count - done, rec.len - r->rec_off);
		if (ring_to_user(r, ubuf + done,
				 tail + sizeof(rec) + r->rec_off, n))
			return done ? done : -EFAULT;
		done += n;
		r->rec_off += n;
		if (r->rec_off == rec.len) {
			r->rec_off = 0;
			/* After the copy: producers may reuse the room. */
			smp_store_release(&r->tail, tail + sizeof(rec) +
					  ALIGN(rec.len, 8));
		}
	}
	return done;
}

static ssize_t hone_read(struct file *file, char __user *ubuf, size_t count,
			 loff_t *ppos)
{
	struct hone_reader *r = file->private_data;
	bool nonblock = file->f_flags & O_NONBLOCK;
	bool eos = false;
	ssize_t ret;

	if (!count)
		return 0;
	if (nonblock) {
		if (!mutex_trylock(&r->read_mutex))
			return -EAGAIN;
	} else if (mutex_lock_interruptible(&r->read_mutex)) {
		return -EINTR;
	}
	for (;;) {
		ret = hone_read_ready(r, ubuf, count, &eos);
		if (ret || eos)
			break;
		if (nonblock) {
			ret = -EAGAIN;
			break;
		}
		/*
		 * As the original: a signal ends the wait even with
		 * SA_RESTART, so a reader can act on it (rotate, stop).
		 */
		if (wait_event_interruptible(r->wq, hone_readable(r))) {
			ret = -EINTR;
			break;
		}
	}
	mutex_unlock(&r->read_mutex);
	return ret;
}

static __poll_t hone_poll(struct file *file, poll_table *wait)
{
	struct hone_reader *r = file->private_data;

	poll_wait(file, &r->wq, wait);
	return hone_readable(r) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* HEIO_RESTART: statistics (or TAIL), then the end of the section. */
static int hone_restart(struct hone_reader *r)
{
	struct hone_sink s = {};
	unsigned long flags;
	u32 len;

	spin_lock_irqsave(&r->lock, flags);
	hone_fmt_tail(&s, r);
	len = s.n;
	if (!ring_fits(r, len + sizeof(struct hone_rec), 0)) {
		spin_unlock_irqrestore(&r->lock, flags);
		return -ENOSPC;
	}
	ring_sink(r, &s);
	hone_fmt_tail(&s, r);
	ring_commit(r, len, HONE_REC_DATA);
	ring_commit(r, 0, HONE_REC_EOS);
	spin_unlock_irqrestore(&r->lock, flags);
	hone_wake(r);
	return 0;
}

/* HEIO_SET_SNAPLEN: from now on, after a header that says so. */
static int hone_set_snaplen(struct hone_reader *r, u32 snap)
{
	char os[HONE_OS_LEN + 1];
	struct hone_sink s = {};
	unsigned long flags;
	u32 len;

	hone_uname(os);
	spin_lock_irqsave(&r->lock, flags);
	if (r->text || test_bit(HONE_R_HEAD, &r->flags) ||
	    snap == r->snaplen) {
		r->snaplen = snap;
		spin_unlock_irqrestore(&r->lock, flags);
		return 0;
	}
	hone_fmt_head(&s, r, snap, os);
	len = s.n;
	if (!ring_fits(r, len, 0)) {
		spin_unlock_irqrestore(&r->lock, flags);
		return -ENOSPC;
	}
	ring_sink(r, &s);
	hone_fmt_head(&s, r, snap, os);
	ring_commit(r, len, HONE_REC_DATA);
	r->hdr_end = r->head;
	r->snaplen = snap;
	spin_unlock_irqrestore(&r->lock, flags);
	hone_wake(r);
	return 0;
}

static int hone_set_filter(struct hone_reader *r, int fd)
{
	struct sock *sk = NULL, *old;
	struct socket *sock;
	int err;

	if (fd != -1) {
		sock = sockfd_lookup(fd, &err);
		if (!sock)
			return err;
		sk = sock->sk;
		if (sk)
			sock_hold(sk);
		sockfd_put(sock);
		if (!sk)
			return -ENOTSOCK;
	}
	old = xchg(&r->filter_sk, sk);
	if (old)
		sock_put(old);
	return 0;
}

static long hone_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct hone_reader *r = file->private_data;

	switch (cmd) {
	case HEIO_RESTART:
		return hone_restart(r);
	case HEIO_GET_AT_HEAD:
		return test_bit(HONE_R_HEAD, &r->flags) ||
		       READ_ONCE(r->tail) < READ_ONCE(r->hdr_end);
	case HEIO_GET_SNAPLEN:
		return put_user(READ_ONCE(r->snaplen),
				(unsigned int __user *)arg);
	case HEIO_SET_SNAPLEN:
		return hone_set_snaplen(r, (u32)arg);
	case HEIO_SET_FILTER_SOCK:
		return hone_set_filter(r, (int)arg);
	}
	return -ENOTTY;
}

#ifdef CONFIG_COMPAT
static long hone_compat_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	if (cmd == HEIO_GET_SNAPLEN)
		arg = (unsigned long)compat_ptr(arg);
	return hone_ioctl(file, cmd, arg);
}
#endif

static const struct file_operations hone_fops = {
	.owner = THIS_MODULE,
	.open = hone_open,
	.release = hone_release,
	.read = hone_read,
	.poll = hone_poll,
	.unlocked_ioctl = hone_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl = hone_compat_ioctl,
#endif
};

/* ---- debugfs: live counters, for tests and the curious ---- */

static int hone_stats_show(struct seq_file *m, void *v)
{
	static const char *const kinds[] = { "process", "socket", "packet" };
	struct hone_reader *r;
	int k, i = 0;

	seq_printf(m, "readers %d\nsockets %u\n", atomic_read(&hone_nreaders),
		   hone_sock_count());
	for (k = 0; k < HONE_NKINDS; k++)
		seq_printf(m, "%s received %llu lost %lld\n", kinds[k],
			   hone_received_count(k),
			   atomic64_read(&hone_lost.n[k]));
	mutex_lock(&hone_readers_mutex);
	list_for_each_entry(r, &hone_readers, node) {
		seq_printf(m, "reader %d %s ring %u used %llu filtered %lld", i++,
			   r->text ? "text" : "pcapng", r->size,
			   READ_ONCE(r->head) - READ_ONCE(r->tail),
			   atomic64_read(&r->filtered));
		for (k = 0; k < HONE_NKINDS; k++)
			seq_printf(m, " %s %lld/%lld", kinds[k],
				   atomic64_read(&r->delivered.n[k]),
				   atomic64_read(&r->dropped.n[k]));
		seq_putc(m, '\n');
	}
	mutex_unlock(&hone_readers_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hone_stats);

/* ---- parameters ---- */

/* 32 hex digits, optionally in braces, hyphens anywhere but first. */
static int hone_parse_guid(const char *str, u8 *guid)
{
	const char *p = str;
	u8 b[16] = {};
	int n = 0, v;
	u32 d1;
	u16 d2, d3;

	if (*p == '{')
		p++;
	if (*p == '-')
		return -EINVAL;
	for (; *p && *p != '}' && *p != '\n'; p++) {
		if (*p == '-')
			continue;
		v = hex_to_bin(*p);
		if (v < 0 || n == 32)
			return -EINVAL;
		b[n / 2] = b[n / 2] << 4 | v;
		n++;
	}
	if (n != 32 || (*p == '}') != (*str == '{'))
		return -EINVAL;
	if (*p == '}')
		p++;
	if (*p && strcmp(p, "\n"))
		return -EINVAL;
	/* data1-3 in host order, as the original wrote them. */
	d1 = (u32)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
	d2 = b[4] << 8 | b[5];
	d3 = b[6] << 8 | b[7];
	memcpy(guid, &d1, 4);
	memcpy(guid + 4, &d2, 2);
	memcpy(guid + 6, &d3, 2);
	memcpy(guid + 8, b + 8, 8);
	return 0;
}

/* The comment parameter with \040 and \x20 turned into spaces. */
static void hone_decode_comment(const char *in, char *out, size_t size)
{
	size_t n = 0;

	while (*in && n + 1 < size) {
		if (!strncmp(in, "\\040", 4) || !strncmp(in, "\\x20", 4)) {
			out[n++] = ' ';
			in += 4;
		} else {
			out[n++] = *in++;
		}
	}
	out[n] = 0;
}

static int hone_check_params(void)
{
	if (hone_hostid_type > 1) {
		pr_err("hostid_type must be 0 (string) or 1 (GUID)\n");
		return -EINVAL;
	}
	if (hone_hostid_type == 1 && hone_parse_guid(hone_hostid, hone_guid)) {
		pr_err("hostid is not a GUID: %s\n", hone_hostid);
		return -EINVAL;
	}
	if (strlen(hone_hostid) >= HONE_PARAM_MAX ||
	    strlen(comment) >= HONE_PARAM_MAX) {
		pr_err("hostid and comment take at most %d bytes\n",
		       HONE_PARAM_MAX - 1);
		return -EINVAL;
	}
	if (!*devname || strlen(devname) > 32 || strchr(devname, '/')) {
		pr_err("invalid devname\n");
		return -EINVAL;
	}
	hone_decode_comment(comment, hone_comment_text,
			    sizeof(hone_comment_text));
	return 0;
}

/* ---- module ---- */

static int __init hone_init(void)
{
	struct device *dev;
	int err, n;

	err = hone_check_params();
	if (err)
		return err;
	hone_start_wall = ktime_get_real_ns();
	err = hone_sock_init();
	if (err)
		return err;
	err = hone_proc_init();
	if (err)
		goto out_sock;

	n = __register_chrdev(major, 0, 2, devname, &hone_fops);
	if (n < 0) {
		err = n;
		pr_err("cannot register major %d: %d\n", major, err);
		goto out_proc;
	}
	if (!major)
		major = n;
#ifdef class_create
	/* Before 6.4, a macro that takes the owner too. */
	hone_class = class_create(THIS_MODULE, devname);
#else
	hone_class = class_create(devname);
#endif
	if (IS_ERR(hone_class)) {
		err = PTR_ERR(hone_class);
		goto out_chrdev;
	}
	dev = device_create(hone_class, NULL, MKDEV(major, 0), NULL, "%s",
			    devname);
	if (IS_ERR(dev)) {
		err = PTR_ERR(dev);
		goto out_class;
	}
	dev = device_create(hone_class, NULL, MKDEV(major, 1), NULL, "%st",
			    devname);
	if (IS_ERR(dev)) {
		err = PTR_ERR(dev);
		goto out_dev0;
	}
	hone_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("stats", 0400, hone_debugfs, NULL,
			    &hone_stats_fops);
	pr_info("v%s module successfully loaded with major number %d\n",
		HONE_VERSION, major);
	return 0;

out_dev0:
	device_destroy(hone_class, MKDEV(major, 0));
out_class:
	class_destroy(hone_class);
out_chrdev:
	__unregister_chrdev(major, 0, 2, devname);
out_proc:
	hone_proc_exit();
out_sock:
	hone_sock_exit();
	return err;
}

static void __exit hone_exit(void)
{
	/* Open readers hold the module: there are none now. */
	debugfs_remove_recursive(hone_debugfs);
	device_destroy(hone_class, MKDEV(major, 1));
	device_destroy(hone_class, MKDEV(major, 0));
	class_destroy(hone_class);
	__unregister_chrdev(major, 0, 2, devname);
	hone_proc_exit();
	hone_sock_exit();
	pr_info("v%s module unloaded\n", HONE_VERSION);
}

module_init(hone_init);
module_exit(hone_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("hone developers");
MODULE_DESCRIPTION("Hone: packets, sockets and processes in PCAP-NG and text");
MODULE_VERSION(HONE_VERSION);
MODULE_ALIAS("hone");
