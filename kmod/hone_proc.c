// SPDX-License-Identifier: GPL-2.0
/*
 * Process events and the snapshot a new section starts with.
 *
 * fork, exec and exit come from the scheduler's tracepoints
 * sched_process_fork, sched_process_exec and sched_process_exit: stable
 * kernel interfaces that fire for every task, at the moment that matters
 * (after the child exists; after the new image is in place, also for a
 * program that lives for microseconds; at the exit of the last thread).
 * Their __tracepoint symbols are not exported, so the module finds them by
 * name with for_each_kernel_tracepoint(). Threads are not processes: a
 * thread's creation and exit make no event (the original: "Ignore threads
 * for now"); a process exits when its last thread does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/cred.h>
#include <linux/binfmts.h>
#include <linux/dcache.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include "hone.h"

/*
 * Room for one exec event's exe path and arguments, per CPU: tracepoint
 * probes run with preemption off and do not nest on one CPU.
 */
struct hone_scratch {
	char path[HONE_PATH_MAX];
	char argv[HONE_ARGV_MAX];
};

static DEFINE_PER_CPU(struct hone_scratch *, hone_scratch);

/* Fills pid, tid, ppid, uid and gid of ev from task t. */
void hone_task_ids(struct task_struct *t, struct hone_event *ev)
{
	const struct cred *cred;

	ev->pid = t->tgid;
	ev->tid = t->pid;
	rcu_read_lock();
	ev->ppid = rcu_dereference(t->real_parent)->tgid;
	cred = __task_cred(t);
	ev->uid = from_kuid_munged(&init_user_ns, cred->euid);
	ev->gid = from_kgid_munged(&init_user_ns, cred->egid);
	rcu_read_unlock();
}

/* Resolves a path into buf; returns its start and length, or NULL. */
static const char *hone_path(const struct path *p, char *buf, u32 *len)
{
	char *s = d_path(p, buf, HONE_PATH_MAX);

	if (IS_ERR(s))
		return NULL;
	*len = buf + HONE_PATH_MAX - 1 - s;
	return s;
}

static void hone_tp_fork(void *data, struct task_struct *parent,
			 struct task_struct *child)
{
	struct hone_event ev = { .kind = HONE_PROC };
	char comm[TASK_COMM_LEN];

	if (!hone_active() || child->pid != child->tgid)
		return;
	ev.ts = ktime_get_ns();
	hone_task_ids(child, &ev);
	if (child->flags & PF_KTHREAD) {
		ev.what = HONE_KTHD;
		get_task_comm(comm, child);
		ev.comm = comm;
	} else {
		ev.what = HONE_FORK;
	}
	hone_deliver(&ev);
}

static void hone_tp_exec(void *data, struct task_struct *p, pid_t old_pid,
			 struct linux_binprm *bprm)
{
	struct hone_event ev = { .kind = HONE_PROC, .what = HONE_EXEC };
	struct hone_scratch *sc;
	struct mm_struct *mm = p->mm;
	unsigned long start, end;
	u32 len;

	if (!hone_active())
		return;
	sc = this_cpu_read(hone_scratch);
	ev.ts = ktime_get_ns();
	hone_task_ids(p, &ev);
	if (bprm->file)
		ev.path = hone_path(&bprm->file->f_path, sc->path,
				    &ev.path_len);
	/*
	 * The new image's arguments, just copied there by execve(): p is
	 * current and the pages are present.
	 */
	ev.argv = sc->argv;
	if (mm) {
		start = READ_ONCE(mm->arg_start);
		end = READ_ONCE(mm->arg_end);
		len = end > start ? min_t(unsigned long, end - start,
					  HONE_ARGV_MAX) : 0;
		if (len && !copy_from_user_nofault(sc->argv,
						   (void __user *)start, len))
			ev.argv_len = len;
	}
	hone_deliver(&ev);
}

static void hone_tp_exit(void *data, struct task_struct *p)
{
	struct hone_event ev = { .kind = HONE_PROC, .what = HONE_EXIT };
	struct signal_struct *sig = p->signal;
	int status;

	/* Only the last thread's exit ends the process. */
	if (!hone_active() || atomic_read(&sig->live))
		return;
	ev.ts = ktime_get_ns();
	hone_task_ids(p, &ev);
	status = sig->flags & SIGNAL_GROUP_EXIT ? sig->group_exit_code :
						    p->exit_code;
	/* As a shell shows it: the exit status, or 128 + the signal. */
	ev.exit_code = status & 0x7f ? 128 + (status & 0x7f) :
				       (status >> 8) & 0xff;
	hone_deliver(&ev);
}

struct hone_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool registered;
};

static struct hone_tp hone_tps[] = {
	{ .name = "sched_process_fork", .probe = hone_tp_fork },
	{ .name = "sched_process_exec", .probe = hone_tp_exec },
	{ .name = "sched_process_exit", .probe = hone_tp_exit },
};

static void hone_tp_find(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(hone_tps); i++)
		if (!strcmp(tp->name, hone_tps[i].name))
			hone_tps[i].tp = tp;
}

static void hone_scratch_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kvfree(per_cpu(hone_scratch, cpu));
		per_cpu(hone_scratch, cpu) = NULL;
	}
}

void hone_proc_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(hone_tps); i++) {
		if (!hone_tps[i].registered)
			continue;
		tracepoint_probe_unregister(hone_tps[i].tp, hone_tps[i].probe,
					    NULL);
		hone_tps[i].registered = false;
	}
	tracepoint_synchronize_unregister();
	hone_scratch_free();
}

int hone_proc_init(void)
{
	int cpu, i, err;

	for_each_possible_cpu(cpu) {
		per_cpu(hone_scratch, cpu) =
			kvmalloc(sizeof(struct hone_scratch), GFP_KERNEL);
		if (!per_cpu(hone_scratch, cpu)) {
			hone_scratch_free();
			return -ENOMEM;
		}
	}
	for_each_kernel_tracepoint(hone_tp_find, NULL);
	for (i = 0; i < ARRAY_SIZE(hone_tps); i++) {
		if (!hone_tps[i].tp) {
			pr_err("tracepoint %s not found\n", hone_tps[i].name);
			err = -ENOENT;
			goto out_unregister;
		}
		err = tracepoint_probe_register(hone_tps[i].tp,
						hone_tps[i].probe, NULL);
		if (err) {
			pr_err("cannot attach to tracepoint %s: %d\n",
			       hone_tps[i].name, err);
			goto out_unregister;
		}
		hone_tps[i].registered = true;
	}
	return 0;

out_unregister:
	hone_proc_exit();
	return err;
}

/* ---- snapshot ---- */

/* Inet sockets of a file table, taken a batch at a time. */
struct hone_fds {
	struct sock *sk[32];
	unsigned int n;
	unsigned int next;	/* fd to resume from when the batch is full */
};

static int hone_fd_sock(const void *p, struct file *file, unsigned int fd)
{
	struct hone_fds *fds = (struct hone_fds *)p;
	struct socket *sock = sock_from_file(file);
	struct sock *sk = sock ? sock->sk : NULL;

	if (!sk || (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		return 0;
	if (fds->n == ARRAY_SIZE(fds->sk)) {
		fds->next = fd;
		return 1;
	}
	sock_hold(sk);
	fds->sk[fds->n++] = sk;
	return 0;
}

static void hone_snap_sockets(struct hone_reader *r, struct task_struct *t,
			      const struct hone_event *proc)
{
	struct hone_fds fds;
	unsigned int start = 0, i;
	struct hone_event ev;
	int more;

	do {
		fds.n = 0;
		more = 0;
		task_lock(t);
		if (t->files)
			more = iterate_fd(t->files, start, hone_fd_sock, &fds);
		task_unlock(t);
		for (i = 0; i < fds.n; i++) {
			if (r) {
				ev = *proc;
				hone_sock_snapshot(r, fds.sk[i], &ev);
			} else {
				hone_sock_seen(fds.sk[i], t->tgid);
			}
			sock_put(fds.sk[i]);
		}
		start = fds.next;
		cond_resched();
	} while (more);
}

/* One process (its exe path and arguments read now) and its sockets. */
static void hone_snap_task(struct hone_reader *r, struct task_struct *t,
			   char *path, char *argv)
{
	struct hone_event ev = { .kind = HONE_PROC };
	unsigned long start = 0, end = 0;
	char comm[TASK_COMM_LEN];
	struct mm_struct *mm;
	struct file *exe;
	int n;

	ev.ts = t->start_time;
	hone_task_ids(t, &ev);
	if (t->flags & PF_KTHREAD) {
		ev.what = HONE_KTHD;
		get_task_comm(comm, t);
		ev.comm = comm;
		hone_stage_event(r, &ev);
		return;
	}
	ev.what = t->flags & PF_FORKNOEXEC ? HONE_FORK : HONE_EXEC;
	mm = get_task_mm(t);
	if (mm) {
		/*
		 * mm->exe_file changes only under the mmap lock held for
		 * writing, and keeps its reference until then.
		 */
		mmap_read_lock(mm);
		exe = rcu_dereference_raw(mm->exe_file);
		if (exe)
			ev.path = hone_path(&exe->f_path, path, &ev.path_len);
		start = mm->arg_start;
		end = mm->arg_end;
		mmap_read_unlock(mm);
		mmput(mm);
		ev.argv = argv;
		if (end > start) {
			n = access_process_vm(t, start, argv,
					      min_t(unsigned long, end - start,
						    HONE_ARGV_MAX), FOLL_FORCE);
			ev.argv_len = n > 0 ? n : 0;
		}
	}
	hone_stage_event(r, &ev);
	hone_snap_sockets(r, t, &ev);
}

/*
 * Stages a process event for every process, oldest first, each followed
 * by a connection open event for every inet socket in its file table
 * (so a socket shared by several processes appears once for each), all
 * time-stamped with the process's start time. With @r NULL, stages
 * nothing: the socket table learns who holds each socket (at open, so
 * that packets before the first read have their process). Process
 * context.
 */
int hone_snapshot(struct hone_reader *r)
{
	struct task_struct *t, **tasks;
	unsigned int n = 0, cap = 64, i;
	char *path, *argv;
	int err = -ENOMEM;

	rcu_read_lock();
	for_each_process(t)
		cap++;
	rcu_read_unlock();
	tasks = kvmalloc_array(cap, sizeof(*tasks), GFP_KERNEL);
	path = kmalloc(HONE_PATH_MAX, GFP_KERNEL);
	argv = kvmalloc(HONE_ARGV_MAX, GFP_KERNEL);
	if (!tasks || !path || !argv)
		goto out_free;
	rcu_read_lock();
	for_each_process(t) {
		if (n == cap)
			break;
		if (t->flags & PF_EXITING)
			continue;
		get_task_struct(t);
		tasks[n++] = t;
	}
	rcu_read_unlock();
	for (i = 0; i < n; i++) {
		if (r)
			hone_snap_task(r, tasks[i], path, argv);
		else if (!(tasks[i]->flags & PF_KTHREAD))
			hone_snap_sockets(NULL, tasks[i], NULL);
		put_task_struct(tasks[i]);
		cond_resched();
	}
	err = 0;
out_free:
	kvfree(argv);
	kfree(path);
	kvfree(tasks);
	return err;
}
