// SPDX-License-Identifier: GPL-2.0
/*
 * Sockets and packets.
 *
 * The module keeps a table of the inet sockets it has seen (struct
 * hone_sk, keyed by the struct sock): a connection id, the process that
 * created, accepted or held it, and the threads that last sent on it and
 * last waited to read from it. Who fills it, and why there:
 *
 *   kretprobe __sock_create    socket(2): open event, creator   (1)
 *   kretprobe inet_csk_accept  accept(2): open event, acceptor; the
 *                              acceptor is the listener's reader (1)
 *   kprobe inet_release        the last close(2): close event    (1)
 *   kprobe sk_destruct         the struct sock is freed: forget it (2)
 *   kprobe inet{,6}_sendmsg    a thread sends: last sender       (3)
 *   kprobe inet{,6}_recvmsg    a thread starts to read: last reader (3)
 *   kprobe inet_sendpage       sendfile/splice on kernels < 6.5  (3)
 *   netfilter LOCAL_IN/OUT     every packet, every network namespace
 *                              (pernet operations), priority last (4)
 *
 * (1) No tracepoint marks the creation, acceptance or release of a socket;
 *     these functions are where every inet socket passes, by any path
 *     (socket, socketpair, accept, io_uring), and they are exported,
 *     stable in name and arguments across the kernels hone supports.
 * (2) Needed to reuse nothing stale: a struct sock may be freed long after
 *     its close (TCP), and its memory reused for a new socket.
 * (3) The sock_send_length/sock_recv_length tracepoints (6.3+) fire after
 *     the call returns; a reader blocked in recv(2) must be known before
 *     its data arrives, and 6.1 has neither. The inet ops are what every
 *     send and receive path of an inet socket calls.
 * (4) As the original: only packets of local processes (or to them), after
 *     every other hook accepted them.
 *
 * Attribution: an outbound packet belongs to the thread that sends it
 * when it leaves in that thread's send (task context); one that leaves
 * later (TCP from softirq: ACK-clocked data, retransmissions, ACKs) to the
 * socket's last sender, else its last reader, else its creator. An inbound
 * packet belongs to the socket's last reader (the thread blocked in or
 * last returned from recv/accept on it), else its last sender, else its
 * creator or holder; a connection not yet accepted to its listener's.
 * Held until known (see hone_unknown()): a datagram for a socket several
 * file tables may hold, while no thread waits in recv on it, until one
 * enters recv there; the packets of a connection in an accept queue (or
 * still a request: on its listener, hone_hold_request()), until it is
 * accepted. Echo replies go to the socket that sent the request,
 * ICMP errors to the socket of the packet they quote. See kmod/README.md
 * for what this rule cannot see.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/hash.h>
#include <linux/kprobes.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/inet_sock.h>
#include <net/request_sock.h>
#include <net/udp.h>
#include "hone.h"

#define HONE_SK_BITS	12
#define HONE_SK_MAX	65536
#define HONE_ECHOES	64
/* Packets held until their process is known: per socket, and in all. */
#define HONE_HELD_SK	64
#define HONE_HELD_MAX	4096

/* struct hone_sk.flags */
#define HONE_SK_OPENED	0	/* its open event was sent */

struct hone_sk {
	struct hlist_node node;
	struct rcu_head rcu;
	const struct sock *sk;
	u32 id;			/* connection id */
	u32 holder;		/* tgid that created, accepted or held it */
	u8 how;			/* HONE_HOW_{CREATOR,SNAPSHOT,USER} */
	unsigned long flags;
	u64 tx;			/* last sender, tgid << 32 | tid */
	u64 rx;			/* last reader, tgid << 32 | tid */
	u64 rx_in;		/* the thread in recv on it now, or 0 */
	struct sk_buff_head held;	/* packets waiting for their process */
};

/*
 * What a held packet carries in its clone's control buffer: its arrival,
 * direction and who it would have gone to then.
 */
struct hone_held_cb {
	u64 ts;
	u64 guess;		/* tgid << 32 | tid, or 0 */
	u32 peer;		/* on a listener: hone_peer() of its request */
	__be16 port;		/* and its remote port */
	u8 how;
	u8 dir;			/* HONE_IN, HONE_OUT */
};

static atomic_t hone_held_count = ATOMIC_INIT(0);

static struct hlist_head hone_sk_hash[1 << HONE_SK_BITS];
static DEFINE_SPINLOCK(hone_sk_lock);
static atomic_t hone_sk_count = ATOMIC_INIT(0);
static atomic_t hone_sk_ids = ATOMIC_INIT(0);

/* Recent echo requests, so that replies find the socket that asked. */
struct hone_echo {
	const struct net *net;
	const struct sock *sk;
	u32 id;			/* the socket's connection id */
	__be16 echo_id;
	u8 family;
};

static struct hone_echo hone_echoes[HONE_ECHOES];
static unsigned int hone_echo_next;
static DEFINE_SPINLOCK(hone_echo_lock);

u32 hone_sock_count(void)
{
	return atomic_read(&hone_sk_count);
}

/* An inet socket of a process (the kernel's own have no process). */
static bool hone_inet(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       !sk->sk_kern_sock;
}

static struct hlist_head *hone_sk_bucket(const struct sock *sk)
{
	return &hone_sk_hash[hash_ptr(sk, HONE_SK_BITS)];
}

/* Under rcu_read_lock() (or preemption off). */
static struct hone_sk *hone_sk_find(const struct sock *sk)
{
	struct hone_sk *e;

	hlist_for_each_entry_rcu(e, hone_sk_bucket(sk), node)
		if (e->sk == sk)
			return e;
	return NULL;
}

/* After the grace period: no hook can hold a packet on e any more. */
static void hone_sk_free_rcu(struct rcu_head *head)
{
	struct hone_sk *e = container_of(head, struct hone_sk, rcu);
	struct sk_buff *skb;

	/* Held past its socket's close (which delivers them): lost. */
	while ((skb = __skb_dequeue(&e->held))) {
		atomic_dec(&hone_held_count);
		atomic64_inc(&hone_lost.n[HONE_PKT]);
		kfree_skb(skb);
	}
	kfree(e);
}

static void hone_sk_free(struct hone_sk *e)
{
	hlist_del_rcu(&e->node);
	atomic_dec(&hone_sk_count);
	call_rcu(&e->rcu, hone_sk_free_rcu);
}

/*
 * The entry of sk, made if there is none (or, with @fresh, replacing the
 * one there: a new socket in the memory of a forgotten one). The caller
 * holds sk (a reference, an fd, or the skb it owns), so sk_destruct()
 * cannot run meanwhile. Any context; NULL if the table is full.
 */
static struct hone_sk *hone_sk_get(const struct sock *sk, bool fresh)
{
	struct hone_sk *e, *old;
	unsigned long flags;

	e = hone_sk_find(sk);
	if (e && !fresh)
		return e;
	if (atomic_read(&hone_sk_count) >= HONE_SK_MAX) {
		atomic64_inc(&hone_lost.n[HONE_SOCK]);
		return NULL;
	}
	e = kzalloc(sizeof(*e), GFP_ATOMIC | __GFP_NOWARN);
	if (!e) {
		atomic64_inc(&hone_lost.n[HONE_SOCK]);
		return NULL;
	}
	e->sk = sk;
	skb_queue_head_init(&e->held);
	e->id = atomic_inc_return(&hone_sk_ids);
	if (!e->id)
		e->id = atomic_inc_return(&hone_sk_ids);
	spin_lock_irqsave(&hone_sk_lock, flags);
	old = hone_sk_find(sk);
	if (old && !fresh) {
		spin_unlock_irqrestore(&hone_sk_lock, flags);
		kfree(e);
		return old;
	}
	if (old)
		hone_sk_free(old);
	hlist_add_head_rcu(&e->node, hone_sk_bucket(sk));
	atomic_inc(&hone_sk_count);
	spin_unlock_irqrestore(&hone_sk_lock, flags);
	return e;
}

static void hone_sk_forget(const struct sock *sk)
{
	unsigned long flags;
	struct hone_sk *e;

	if (!atomic_read(&hone_sk_count))
		return;
	spin_lock_irqsave(&hone_sk_lock, flags);
	e = hone_sk_find(sk);
	if (e)
		hone_sk_free(e);
	spin_unlock_irqrestore(&hone_sk_lock, flags);
}

static void hone_sk_flush(void)
{
	struct hlist_node *tmp;
	unsigned long flags;
	struct hone_sk *e;
	int i;

	spin_lock_irqsave(&hone_sk_lock, flags);
	for (i = 0; i < ARRAY_SIZE(hone_sk_hash); i++)
		hlist_for_each_entry_safe(e, tmp, &hone_sk_hash[i], node)
			hone_sk_free(e);
	spin_unlock_irqrestore(&hone_sk_lock, flags);
}

static u64 hone_me(void)
{
	return (u64)current->tgid << 32 | (u32)current->pid;
}

static void hone_pick(struct hone_event *ev, u64 who, u8 how)
{
	ev->pid = who >> 32;
	ev->tid = (u32)who;
	ev->how = how;
}

/* Delivers one held packet of connection @conn: to @who, or its guess. */
static void hone_held_deliver(struct sk_buff *skb, const struct sock *sk,
			      u32 conn, u64 who)
{
	const struct hone_held_cb *cb = (const struct hone_held_cb *)skb->cb;
	struct hone_event ev = { .kind = HONE_PKT, .what = cb->dir,
				 .ts = cb->ts, .conn = conn, .skb = skb,
				 .sk = sk };

	atomic_dec(&hone_held_count);
	if (who)
		hone_pick(&ev, who, cb->dir == HONE_IN ? HONE_HOW_READER :
			  HONE_HOW_USER);
	else if (cb->guess)
		hone_pick(&ev, cb->guess, cb->how);
	hone_deliver(&ev);
	consume_skb(skb);
}

/*
 * Delivers the packets held on e, in order: those @who reads or sends for
 * (a thread that entered recv, or accepted the socket), or with @who 0
 * (nobody will) to whom each would have gone when it came.
 */
static void hone_held_flush(struct hone_sk *e, u64 who)
{
	struct sk_buff *skb;

	if (skb_queue_empty_lockless(&e->held))
		return;
	while ((skb = skb_dequeue(&e->held)))
		hone_held_deliver(skb, e->sk, e->id, who);
}

/* The remote address of a connection or request, as a key. */
static u32 hone_peer(const struct sock *sk)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6)
		return ipv6_addr_hash(&sk->sk_v6_daddr);
#endif
	return (__force u32)sk->sk_daddr;
}

/*
 * The entry of the listener that TCP connection sk (not a listener)
 * came to, or NULL.
 */
static struct hone_sk *hone_listener(struct sock *sk)
{
	const struct inet_sock *inet = inet_sk(sk);
	struct net *net = sock_net(sk);
	struct sock *lsk = NULL;

	if (sk->sk_protocol != IPPROTO_TCP || sk->sk_state == TCP_LISTEN)
		return NULL;
	if (sk->sk_family == AF_INET)
		lsk = inet_lookup_listener(net,
					   net->ipv4.tcp_death_row.hashinfo,
					   NULL, 0, inet->inet_daddr,
					   inet->inet_dport, inet->inet_saddr,
					   htons(inet->inet_num), 0, 0);
#if IS_ENABLED(CONFIG_IPV6)
	else
		lsk = inet6_lookup_listener(net,
					    net->ipv4.tcp_death_row.hashinfo,
					    NULL, 0, &sk->sk_v6_daddr,
					    inet->inet_dport,
					    &sk->sk_v6_rcv_saddr,
					    inet->inet_num, 0, 0);
#endif
	return IS_ERR_OR_NULL(lsk) ? NULL : hone_sk_find(lsk);
}

/*
 * The packets held on l since @before (all with 0) that match @match
 * (a connection's peer and remote port; NULL: any), moved to @out.
 */
static void hone_held_take(struct hone_sk *l, const struct sock *match,
			   u64 before, struct sk_buff_head *out)
{
	const struct hone_held_cb *cb;
	struct sk_buff *skb, *tmp;
	unsigned long flags;
	u32 peer = match ? hone_peer(match) : 0;

	spin_lock_irqsave(&l->held.lock, flags);
	skb_queue_walk_safe(&l->held, skb, tmp) {
		cb = (const struct hone_held_cb *)skb->cb;
		if (before && cb->ts >= before)
			break;
		if (match && (cb->peer != peer || cb->port != match->sk_dport))
			continue;
		__skb_unlink(skb, &l->held);
		__skb_queue_tail(out, skb);
	}
	spin_unlock_irqrestore(&l->held.lock, flags);
}

/*
 * Queues a clone of a held packet on q, with what ev says of it and, held
 * on a listener, its request's @peer and @port. At most HONE_HELD_SK per
 * socket and HONE_HELD_MAX in all. Returns whether it was queued.
 */
static bool hone_held_add(struct sk_buff_head *q, struct sk_buff *skb,
			  const struct hone_event *ev, u32 peer, __be16 port)
{
	struct hone_held_cb *cb;
	struct sk_buff *c;

	if (skb_queue_len(q) >= HONE_HELD_SK)
		return false;
	if (atomic_inc_return(&hone_held_count) > HONE_HELD_MAX)
		goto out_uncount;
	c = skb_clone(skb, GFP_ATOMIC);
	if (!c)
		goto out_uncount;
	cb = (struct hone_held_cb *)c->cb;
	cb->ts = ev->ts;
	cb->guess = (u64)ev->pid << 32 | ev->tid;
	cb->how = ev->how;
	cb->dir = ev->what;
	cb->peer = peer;
	cb->port = port;
	skb_queue_tail(q, c);
	return true;

out_uncount:
	atomic_dec(&hone_held_count);
	return false;
}

/*
 * The packets that came for connection sk (entry e) while it was still a
 * request, held on its listener (hone_hold_request()): delivered as e's,
 * to @who (its acceptor), or with @who 0 as they would have gone.
 */
static void hone_adopt(struct hone_sk *e, struct sock *sk, u64 who)
{
	struct sk_buff_head q;
	struct hone_sk *l;
	struct sk_buff *skb;

	if (!atomic_read(&hone_held_count))
		return;
	l = hone_listener(sk);
	if (!l || skb_queue_empty_lockless(&l->held))
		return;
	__skb_queue_head_init(&q);
	hone_held_take(l, sk, 0, &q);
	while ((skb = __skb_dequeue(&q)))
		hone_held_deliver(skb, e->sk, e->id, who);
}

/*
 * Holds an inbound packet for a TCP request @req (TCP_NEW_SYN_RECV: the
 * handshake's last ACK, or data that overtook it from another CPU) on
 * its listener's entry l, until the connection it makes is accepted
 * (hone_adopt()): its acceptor, not the listener's last reader, owns it.
 * Held a second (a request that never made it to the accept queue), it
 * goes as it would have gone. Returns whether it was held.
 */
static bool hone_hold_request(struct hone_sk *l, const struct sock *req,
			      struct sk_buff *skb, const struct hone_event *ev)
{
	struct sk_buff_head q;
	struct sk_buff *c;

	__skb_queue_head_init(&q);
	if (!skb_queue_empty_lockless(&l->held))
		hone_held_take(l, NULL, ev->ts - NSEC_PER_SEC, &q);
	while ((c = __skb_dequeue(&q)))
		hone_held_deliver(c, l->sk, l->id, 0);
	return hone_held_add(&l->held, skb, ev, hone_peer(req),
			     req->sk_dport);
}

/*
 * Whether a packet's process is not known yet, so that it waits on its
 * socket (hone_hold()):
 * - an inbound datagram (UDP, ICMP) for a socket that more than one file
 *   table may hold (shared after fork, passed, dup'ed) while no thread
 *   waits in recv on it: its reader is the next thread to enter recv;
 * - a packet of a TCP connection waiting in its listener's accept queue
 *   (being made or made, no file yet, no holder): whichever thread accepts it
 *   (of several blocked in accept, the kernel picks) owns it. Both
 *   directions wait, so the connection's packets keep their order.
 */
static bool hone_unknown(struct hone_sk *e, struct sock *sk, bool in)
{
	struct socket *sock = READ_ONCE(sk->sk_socket);
	struct file *file;
	int state;

	if (sk->sk_protocol == IPPROTO_TCP) {
		state = READ_ONCE(sk->sk_state);
		/*
		 * TCP_SYN_RECV: a child that another CPU is making of the
		 * handshake's ACK, when data overtook that ACK.
		 */
		return !sock && !READ_ONCE(e->holder) &&
		       (state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT ||
			state == TCP_SYN_RECV);
	}
	if (!in || READ_ONCE(e->rx_in))
		return false;
	file = sock ? READ_ONCE(sock->file) : NULL;
	return file && file_count(file) > 1;
}

/*
 * Holds a packet whose process is not known yet (hone_unknown()) on its
 * socket: a clone, delivered by hone_held_flush() when a thread enters
 * recv on the socket or accepts it, or when it closes or is freed. At
 * most HONE_HELD_SK per socket and HONE_HELD_MAX in all; past that, or
 * without memory, it goes at once. Returns whether it was held.
 */
static bool hone_hold(struct hone_sk *e, struct sk_buff *skb,
		      const struct hone_event *ev)
{
	const struct sock *sk = e->sk;
	u64 who;

	if (!hone_held_add(&e->held, skb, ev, 0, 0))
		return false;
	/*
	 * Pairs with hone_use() and hone_accept_ret(): a reader or an
	 * acceptor that came meanwhile takes it.
	 */
	smp_mb();
	if (sk->sk_protocol == IPPROTO_TCP)
		who = (u64)READ_ONCE(e->holder) << 32;
	else
		who = READ_ONCE(e->rx_in);
	if (who)
		hone_held_flush(e, who);
	return true;
}

/* The open event of e, once: pid is its holder. */
static void hone_sk_opened(struct hone_sk *e, struct task_struct *t)
{
	struct hone_event ev = { .kind = HONE_SOCK, .what = HONE_OPEN };

	if (test_and_set_bit(HONE_SK_OPENED, &e->flags))
		return;
	ev.ts = ktime_get_ns();
	hone_task_ids(t, &ev);
	ev.conn = e->id;
	hone_deliver(&ev);
}

/*
 * A socket of current's making: created (@fresh: an entry there is stale,
 * of a socket whose memory this one reuses) or accepted (an entry there
 * is this connection's, made by its first packets: it keeps its id).
 */
static void hone_sk_made(const struct sock *sk, bool fresh)
{
	struct hone_sk *e = hone_sk_get(sk, fresh);

	if (!e)
		return;
	e->holder = current->tgid;
	e->how = HONE_HOW_CREATOR;
	hone_sk_opened(e, current);
}

/*
 * sk is in tgid's file table: its entry, with tgid as its holder if it had
 * none. Under rcu_read_lock().
 */
static struct hone_sk *hone_sk_held_by(struct sock *sk, u32 tgid)
{
	struct hone_sk *e = hone_sk_get(sk, false);

	if (e && !READ_ONCE(e->holder)) {
		WRITE_ONCE(e->how, HONE_HOW_SNAPSHOT);
		WRITE_ONCE(e->holder, tgid);
	}
	return e;
}

/* The snapshot found sk in the file table of ev's process. */
void hone_sock_snapshot(struct hone_reader *r, struct sock *sk,
			struct hone_event *ev)
{
	struct hone_sk *e;

	rcu_read_lock();
	e = hone_sk_held_by(sk, ev->pid);
	if (e) {
		set_bit(HONE_SK_OPENED, &e->flags);
		ev->conn = e->id;
	}
	rcu_read_unlock();
	if (!e)
		return;
	ev->kind = HONE_SOCK;
	ev->what = HONE_OPEN;
	ev->path = NULL;
	ev->argv = NULL;
	hone_stage_event(r, ev);
}

/* A reader's open found sk in tgid's file table. */
void hone_sock_seen(struct sock *sk, u32 tgid)
{
	rcu_read_lock();
	hone_sk_held_by(sk, tgid);
	rcu_read_unlock();
}

/* ---- kprobes ---- */

struct hone_create {
	struct socket **res;
};

static int hone_create_entry(struct kretprobe_instance *ri,
			     struct pt_regs *regs)
{
	struct hone_create *c = (struct hone_create *)ri->data;

	/* __sock_create(net, family, type, protocol, res, kern) */
	if (!hone_active() || regs_get_kernel_argument(regs, 5))
		return 1;
	c->res = (struct socket **)regs_get_kernel_argument(regs, 4);
	return 0;
}

static int hone_create_ret(struct kretprobe_instance *ri,
			   struct pt_regs *regs)
{
	struct hone_create *c = (struct hone_create *)ri->data;
	struct socket *sock;

	if (regs_return_value(regs) || !hone_active())
		return 0;
	sock = *c->res;
	if (sock && sock->sk && hone_inet(sock->sk)) {
		rcu_read_lock();
		hone_sk_made(sock->sk, true);
		rcu_read_unlock();
	}
	return 0;
}

static int hone_accept_entry(struct kretprobe_instance *ri,
			     struct pt_regs *regs)
{
	struct sock *lsk = (struct sock *)regs_get_kernel_argument(regs, 0);
	struct hone_sk *e;

	if (!hone_active() || (current->flags & PF_KTHREAD))
		return 1;
	/* The acceptor reads the listener: its SYNs are for this thread. */
	rcu_read_lock();
	e = hone_sk_get(lsk, false);
	if (e)
		WRITE_ONCE(e->rx, hone_me());
	rcu_read_unlock();
	return 0;
}

static int hone_accept_ret(struct kretprobe_instance *ri,
			   struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)regs_return_value(regs);
	struct hone_sk *e;

	if (!sk || IS_ERR(sk) || !hone_active())
		return 0;
	rcu_read_lock();
	hone_sk_made(sk, false);
	/* Pairs with hone_hold(): what came before the accept is ours. */
	smp_mb();
	e = hone_sk_find(sk);
	if (e) {
		hone_adopt(e, sk, hone_me());
		hone_held_flush(e, hone_me());
	}
	rcu_read_unlock();
	return 0;
}

static int hone_kp_release(struct kprobe *kp, struct pt_regs *regs)
{
	struct socket *sock = (struct socket *)regs_get_kernel_argument(regs, 0);
	struct hone_event ev = { .kind = HONE_SOCK, .what = HONE_CLOSE };
	struct sock *sk = sock->sk;
	struct hone_sk *e;

	if (!sk || !hone_active())
		return 0;
	rcu_read_lock();
	e = hone_sk_find(sk);
	if (e) {
		/* Packets nobody will read: as they would have gone. */
		hone_adopt(e, sk, 0);
		hone_held_flush(e, 0);
		if (test_bit(HONE_SK_OPENED, &e->flags))
			ev.conn = e->id;
	}
	rcu_read_unlock();
	if (!ev.conn)
		return 0;
	ev.ts = ktime_get_ns();
	hone_task_ids(current, &ev);
	hone_deliver(&ev);
	return 0;
}

static int hone_kp_destruct(struct kprobe *kp, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	struct hone_sk *e;

	/* A connection freed unaccepted: its packets as they would have gone. */
	rcu_read_lock();
	e = hone_active() ? hone_sk_find(sk) : NULL;
	if (e) {
		hone_adopt(e, sk, 0);
		hone_held_flush(e, 0);
	}
	rcu_read_unlock();
	hone_sk_forget(sk);
	return 0;
}

/* A thread uses a socket: remember it, and open what is new. */
static void hone_use(struct pt_regs *regs, bool send)
{
	struct socket *sock = (struct socket *)regs_get_kernel_argument(regs, 0);
	struct sock *sk = sock->sk;
	struct hone_sk *e;

	if (!sk || !hone_active() || (current->flags & PF_KTHREAD) ||
	    !hone_inet(sk))
		return;
	rcu_read_lock();
	e = hone_sk_get(sk, false);
	if (e) {
		if (send) {
			WRITE_ONCE(e->tx, hone_me());
		} else {
			WRITE_ONCE(e->rx, hone_me());
			/* Cleared when it returns (hone_recv_ret()). */
			WRITE_ONCE(e->rx_in, hone_me());
			/* Pairs with hone_hold(). */
			smp_mb();
			hone_held_flush(e, hone_me());
		}
		if (!test_bit(HONE_SK_OPENED, &e->flags)) {
			/*
			 * Older than the snapshot's view of it: passed in
			 * a message, or accepted unseen.
			 */
			if (!READ_ONCE(e->holder)) {
				WRITE_ONCE(e->holder, current->tgid);
				WRITE_ONCE(e->how, HONE_HOW_USER);
			}
			hone_sk_opened(e, current);
		}
	}
	rcu_read_unlock();
}

static int hone_kp_send(struct kprobe *kp, struct pt_regs *regs)
{
	hone_use(regs, true);
	return 0;
}

static int hone_kp_recv(struct kprobe *kp, struct pt_regs *regs)
{
	hone_use(regs, false);
	return 0;
}

static struct kretprobe hone_krp_create = {
	.kp.symbol_name = "__sock_create",
	.entry_handler = hone_create_entry,
	.handler = hone_create_ret,
	.data_size = sizeof(struct hone_create),
	.maxactive = 256,
};

static struct kretprobe hone_krp_accept = {
	.kp.symbol_name = "inet_csk_accept",
	.entry_handler = hone_accept_entry,
	.handler = hone_accept_ret,
	.maxactive = 256,
};

static struct kretprobe *hone_krps[] = {
	&hone_krp_create, &hone_krp_accept,
};

/* A recvmsg returns: its thread no longer waits on the socket. */
static int hone_recv_entry(struct kretprobe_instance *ri,
			   struct pt_regs *regs)
{
	struct socket *sock = (struct socket *)regs_get_kernel_argument(regs, 0);

	if (!hone_active() || !sock->sk || (current->flags & PF_KTHREAD))
		return 1;
	*(struct sock **)ri->data = sock->sk;
	return 0;
}

static int hone_recv_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = *(struct sock **)ri->data;
	struct hone_sk *e;

	rcu_read_lock();
	e = hone_sk_find(sk);
	if (e)
		cmpxchg(&e->rx_in, hone_me(), 0);
	rcu_read_unlock();
	return 0;
}

/*
 * Optional: without them (or with every instance in use), a thread that
 * entered recv counts as waiting there until a later return clears it,
 * and datagrams for its socket go to it as they come.
 */
static struct hone_krp {
	struct kretprobe krp;
	bool registered;
} hone_recv_krps[] = {
	{ .krp = { .kp.symbol_name = "inet_recvmsg",
		   .entry_handler = hone_recv_entry,
		   .handler = hone_recv_ret,
		   .data_size = sizeof(struct sock *),
		   .maxactive = 1024 } },
	{ .krp = { .kp.symbol_name = "inet6_recvmsg",
		   .entry_handler = hone_recv_entry,
		   .handler = hone_recv_ret,
		   .data_size = sizeof(struct sock *),
		   .maxactive = 1024 } },
};

/* Kprobes; the optional ones may be missing from a kernel. */
static struct hone_kp {
	struct kprobe kp;
	bool optional;
	bool registered;
} hone_kps[] = {
	{ .kp = { .symbol_name = "sk_destruct",
		  .pre_handler = hone_kp_destruct } },
	{ .kp = { .symbol_name = "inet_release",
		  .pre_handler = hone_kp_release } },
	{ .kp = { .symbol_name = "inet_sendmsg",
		  .pre_handler = hone_kp_send } },
	{ .kp = { .symbol_name = "inet_recvmsg",
		  .pre_handler = hone_kp_recv } },
	{ .kp = { .symbol_name = "inet6_sendmsg",
		  .pre_handler = hone_kp_send }, .optional = true },
	{ .kp = { .symbol_name = "inet6_recvmsg",
		  .pre_handler = hone_kp_recv }, .optional = true },
	{ .kp = { .symbol_name = "inet_sendpage",
		  .pre_handler = hone_kp_send }, .optional = true },
};

/* ---- packets ---- */

static void hone_echo_record(const struct net *net, const struct sock *sk,
			     u32 id, __be16 echo_id, u8 family)
{
	unsigned long flags;
	struct hone_echo *x;

	spin_lock_irqsave(&hone_echo_lock, flags);
	x = &hone_echoes[hone_echo_next++ % HONE_ECHOES];
	x->net = net;
	x->sk = sk;
	x->id = id;
	x->echo_id = echo_id;
	x->family = family;
	spin_unlock_irqrestore(&hone_echo_lock, flags);
}

/* The entry of the socket whose echo request this reply answers. */
static struct hone_sk *hone_echo_find(const struct net *net, __be16 echo_id,
				      u8 family)
{
	const struct sock *sk = NULL;
	unsigned long flags;
	struct hone_echo *x;
	struct hone_sk *e;
	unsigned int i;
	u32 id = 0;

	spin_lock_irqsave(&hone_echo_lock, flags);
	for (i = 1; i <= HONE_ECHOES; i++) {
		x = &hone_echoes[(hone_echo_next - i) % HONE_ECHOES];
		if (x->net == net && x->echo_id == echo_id &&
		    x->family == family) {
			sk = x->sk;
			id = x->id;
			break;
		}
	}
	spin_unlock_irqrestore(&hone_echo_lock, flags);
	if (!sk)
		return NULL;
	e = hone_sk_find(sk);
	return e && e->id == id ? e : NULL;
}

/*
 * Where the transport header of an IPv4/IPv6 packet at nh starts (-1: not
 * there, or not in this fragment), and its protocol in *proto (when the
 * network header is there).
 */
int hone_l4(const struct sk_buff *skb, int nh, u8 family, u8 *proto)
{
	const struct iphdr *iph;
	struct iphdr _iph;
	const u8 *np;
	__be16 frag = 0;
	u8 nexthdr;
	int off;

	if (family == AF_INET) {
		iph = skb_header_pointer(skb, nh, sizeof(_iph), &_iph);
		if (!iph)
			return -1;
		*proto = iph->protocol;
		if (iph->frag_off & htons(IP_OFFSET))
			return -1;
		return nh + iph->ihl * 4;
	}
	np = skb_header_pointer(skb, nh + 6, 1, &nexthdr);
	if (!np)
		return -1;
	*proto = *np;
	off = ipv6_skip_exthdr(skb, nh + sizeof(struct ipv6hdr), proto, &frag);
	if (off < 0 || (frag & htons(~0x7)))
		return -1;
	return off;
}

/*
 * The socket a packet (or the packet an ICMP error quotes, @quoted) is
 * for: local address daddr:dport, remote saddr:sport at nh. Returns it
 * with a reference (sock_gen_put() it), or NULL.
 */
static struct sock *hone_lookup(struct net *net, const struct sk_buff *skb,
				int nh, u8 family, int dif, bool quoted,
				struct hone_sk **echo)
{
	union hone_iphdr _ip;
	const struct iphdr *iph;
	const struct ipv6hdr *ip6;
	struct inet_hashinfo *hinfo = net->ipv4.tcp_death_row.hashinfo;
	const struct in6_addr *a6[2];
	__be16 _ports[2], *pp;
	struct icmphdr _ih;
	const struct icmphdr *ih;
	__be32 a4[2];
	u8 proto;
	int th, r;

	th = hone_l4(skb, nh, family, &proto);
	if (th < 0)
		return NULL;
	iph = skb_header_pointer(skb, nh, family == AF_INET ? sizeof(_ip.v4) :
				 sizeof(_ip.v6), &_ip);
	if (!iph)
		return NULL;
	ip6 = (const struct ipv6hdr *)iph;
	a4[0] = iph->saddr;
	a4[1] = iph->daddr;
	a6[0] = &ip6->saddr;
	a6[1] = &ip6->daddr;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		pp = skb_header_pointer(skb, th, sizeof(_ports), _ports);
		if (!pp)
			return NULL;
		/* The remote end is the source; of a quoted packet of ours,
		 * the destination.
		 */
		r = quoted;
		if (proto == IPPROTO_UDP && family == AF_INET)
			return udp4_lib_lookup(net, a4[r], pp[r], a4[!r],
					       pp[!r], dif);
		if (proto == IPPROTO_UDP)
			return udp6_lib_lookup(net, a6[r], pp[r], a6[!r],
					       pp[!r], dif);
		/* An error is about a connection, not a listener. */
		if (quoted && family == AF_INET)
			return __inet_lookup_established(net, hinfo, a4[r],
							 pp[r], a4[!r],
							 ntohs(pp[!r]), dif, 0);
		if (quoted)
			return __inet6_lookup_established(net, hinfo, a6[r],
							  pp[r], a6[!r],
							  ntohs(pp[!r]), dif, 0);
		if (family == AF_INET)
			return inet_lookup(net, hinfo, NULL, 0, a4[0], pp[0],
					   a4[1], pp[1], dif);
		return inet6_lookup(net, hinfo, NULL, 0, a6[0], pp[0], a6[1],
				    pp[1], dif);
	}
	if (quoted || (family == AF_INET && proto != IPPROTO_ICMP) ||
	    (family == AF_INET6 && proto != IPPROTO_ICMPV6))
		return NULL;
	/* icmphdr and icmp6hdr agree on type and echo id offsets. */
	ih = skb_header_pointer(skb, th, sizeof(_ih), &_ih);
	if (!ih)
		return NULL;
	if ((family == AF_INET && ih->type == ICMP_ECHOREPLY) ||
	    (family == AF_INET6 && ih->type == ICMPV6_ECHO_REPLY)) {
		*echo = hone_echo_find(net, ih->un.echo.id, family);
		return NULL;
	}
	if ((family == AF_INET &&
	     (ih->type == ICMP_DEST_UNREACH || ih->type == ICMP_SOURCE_QUENCH ||
	      ih->type == ICMP_REDIRECT || ih->type == ICMP_TIME_EXCEEDED ||
	      ih->type == ICMP_PARAMETERPROB)) ||
	    (family == AF_INET6 && ih->type < 128))
		return hone_lookup(net, skb, th + 8, family, dif, true, echo);
	return NULL;
}

/* The full socket of sk (a listener for a request), or NULL. */
static struct sock *hone_full(struct sock *sk)
{
	if (!sk)
		return NULL;
	if (sk->sk_state == TCP_NEW_SYN_RECV)
		return inet_reqsk(sk)->rsk_listener;
	return sk_fullsock(sk) ? sk : NULL;
}

/* Who an entry's packet belongs to when no thread is sending it now. */
static void hone_pick_entry(struct hone_event *ev, struct hone_sk *e,
			    bool in)
{
	u64 tx = READ_ONCE(e->tx), rx = READ_ONCE(e->rx);
	u32 holder = READ_ONCE(e->holder);

	/*
	 * Inbound and never read: the last sender, who waits for the answer,
	 * before the creator.
	 */
	if (in && rx)
		hone_pick(ev, rx, HONE_HOW_READER);
	else if (tx)
		hone_pick(ev, tx, HONE_HOW_USER);
	else if (!in && rx)
		hone_pick(ev, rx, HONE_HOW_USER);
	else if (holder)
		hone_pick(ev, (u64)holder << 32, READ_ONCE(e->how));
}

/* A TCP connection not accepted yet: what its listener's reader gets. */
static void hone_pick_listener(struct hone_event *ev, struct sock *sk)
{
	struct hone_sk *e;

	if (sk->sk_socket)
		return;
	e = hone_listener(sk);
	if (e)
		hone_pick_entry(ev, e, true);
}

static void hone_packet(struct sk_buff *skb, const struct nf_hook_state *st,
			bool in)
{
	struct hone_event ev = { .kind = HONE_PKT, .skb = skb };
	u8 family = st->pf == NFPROTO_IPV4 ? AF_INET : AF_INET6;
	struct sock *sk = NULL, *ref = NULL, *full;
	struct hone_sk *e = NULL, *echo = NULL;
	struct icmphdr _ih;
	const struct icmphdr *ih;
	u8 proto;
	int th;

	ev.ts = ktime_get_ns();
	ev.what = in ? HONE_IN : HONE_OUT;
	sk = skb->sk;
	if (in && !sk && st->in) {
		ref = hone_lookup(st->net, skb, skb_network_offset(skb), family,
				  st->in->ifindex, false, &echo);
		sk = ref;
	}
	full = hone_full(sk);
	if (full && hone_inet(full))
		e = hone_sk_get(full, false);
	else if (echo)
		e = echo;
	ev.sk = full;
	if (e)
		ev.conn = e->id;
	if (!in && full && in_task() && !(current->flags & PF_KTHREAD)) {
		hone_pick(&ev, hone_me(), HONE_HOW_SENDER);
		if (e)
			WRITE_ONCE(e->tx, hone_me());
	} else if (e) {
		hone_pick_entry(&ev, e, in);
		if (in && !ev.pid && full && full == sk)
			hone_pick_listener(&ev, full);
		if (in && sk && sk->sk_state == TCP_NEW_SYN_RECV &&
		    hone_hold_request(e, sk, skb, &ev))
			goto out;
		if (full && e != echo && hone_unknown(e, full, in) &&
		    hone_hold(e, skb, &ev))
			goto out;
	}
	/* An echo request: remember who asked, for the reply. */
	if (!in && e && full) {
		th = hone_l4(skb, skb_network_offset(skb), family, &proto);
		ih = th < 0 ? NULL : skb_header_pointer(skb, th, sizeof(_ih),
							&_ih);
		if (ih && ((proto == IPPROTO_ICMP && ih->type == ICMP_ECHO) ||
			   (proto == IPPROTO_ICMPV6 &&
			    ih->type == ICMPV6_ECHO_REQUEST)))
			hone_echo_record(st->net, full, e->id, ih->un.echo.id,
					 family);
	}
	hone_deliver(&ev);
out:
	if (ref)
		sock_gen_put(ref);
}

static unsigned int hone_nf_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *st)
{
	if (hone_active()) {
		rcu_read_lock();
		hone_packet(skb, st, st->hook == NF_INET_LOCAL_IN);
		rcu_read_unlock();
	}
	return NF_ACCEPT;
}

static const struct nf_hook_ops hone_nf_ops[] = {
	{ .hook = hone_nf_hook, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_LOCAL_IN, .priority = NF_IP_PRI_LAST },
	{ .hook = hone_nf_hook, .pf = NFPROTO_IPV4,
	  .hooknum = NF_INET_LOCAL_OUT, .priority = NF_IP_PRI_LAST },
	{ .hook = hone_nf_hook, .pf = NFPROTO_IPV6,
	  .hooknum = NF_INET_LOCAL_IN, .priority = NF_IP6_PRI_LAST },
	{ .hook = hone_nf_hook, .pf = NFPROTO_IPV6,
	  .hooknum = NF_INET_LOCAL_OUT, .priority = NF_IP6_PRI_LAST },
};

static int __net_init hone_net_init(struct net *net)
{
	return nf_register_net_hooks(net, hone_nf_ops, ARRAY_SIZE(hone_nf_ops));
}

static void __net_exit hone_net_exit(struct net *net)
{
	nf_unregister_net_hooks(net, hone_nf_ops, ARRAY_SIZE(hone_nf_ops));
}

static struct pernet_operations hone_net_ops = {
	.init = hone_net_init,
	.exit = hone_net_exit,
};

/* ---- set-up ---- */

/* Unregisters the kprobes registered, with one RCU grace period. */
static void hone_kps_exit(void)
{
	struct kprobe *kps[ARRAY_SIZE(hone_kps)];
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(hone_kps); i++) {
		if (hone_kps[i].registered)
			kps[n++] = &hone_kps[i].kp;
		hone_kps[i].registered = false;
	}
	if (n)
		unregister_kprobes(kps, n);
}

static void hone_recv_krps_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(hone_recv_krps); i++) {
		if (hone_recv_krps[i].registered)
			unregister_kretprobe(&hone_recv_krps[i].krp);
		hone_recv_krps[i].registered = false;
	}
}

static void hone_probes_exit(void)
{
	unregister_kretprobes(hone_krps, ARRAY_SIZE(hone_krps));
	hone_recv_krps_exit();
	hone_kps_exit();
}

static int hone_probes_init(void)
{
	int i, err;

	for (i = 0; i < ARRAY_SIZE(hone_kps); i++) {
		err = register_kprobe(&hone_kps[i].kp);
		if (err && hone_kps[i].optional && err == -ENOENT)
			continue;
		if (err) {
			pr_err("cannot probe %s: %d\n",
			       hone_kps[i].kp.symbol_name, err);
			goto out_unregister;
		}
		hone_kps[i].registered = true;
	}
	for (i = 0; i < ARRAY_SIZE(hone_recv_krps); i++) {
		err = register_kretprobe(&hone_recv_krps[i].krp);
		if (err)
			pr_info("no probe of the return of %s (%d): datagrams go to the socket's last reader\n",
				hone_recv_krps[i].krp.kp.symbol_name, err);
		else
			hone_recv_krps[i].registered = true;
	}
	err = register_kretprobes(hone_krps, ARRAY_SIZE(hone_krps));
	if (err) {
		pr_err("cannot probe the returns of %s and %s: %d\n",
		       hone_krp_create.kp.symbol_name,
		       hone_krp_accept.kp.symbol_name, err);
		goto out_unregister;
	}
	return 0;

out_unregister:
	hone_recv_krps_exit();
	hone_kps_exit();
	return err;
}

int hone_sock_init(void)
{
	int err;

	err = hone_probes_init();
	if (err)
		return err;
	err = register_pernet_subsys(&hone_net_ops);
	if (err) {
		pr_err("cannot hook netfilter: %d\n", err);
		hone_probes_exit();
		hone_sk_flush();
		return err;
	}
	return 0;
}

void hone_sock_exit(void)
{
	unregister_pernet_subsys(&hone_net_ops);
	hone_probes_exit();
	hone_sk_flush();
	/* The last entries' hone_sk_free_rcu(). */
	rcu_barrier();
}
