/*
 * hone launcher: runs the Deno runtime and the bundled app that pack.ts
 * appended to this executable.
 *
 * File layout (all integers little-endian):
 *
 *	[launcher ELF][deno][app.js][shim .so, may be empty]
 *	[deno cache, may be empty][trailer]
 *
 * The trailer (struct hone_pack_trailer) is the last 96 bytes of the file
 * and gives the offset and size of each part; deno starts on a 64 KiB
 * boundary.  At start-up the launcher copies app.js and the shim into
 * sealed memfds that deno inherits, puts the deno cache (deno_cache.ts:
 * the module analysis of app.js, which spares deno parsing it) in deno's
 * fresh cache directory, and then replaces itself with
 *
 *	hone run -A --no-code-cache --no-config ... /proc/self/fd/<app> \
 *		<user args...>
 *
 * running deno in place from this file's pages (elf_exec.c: its segments
 * and ld.so mapped as execve(2) would, no copy).  Where that cannot be
 * done (deno off a page boundary, another architecture) it copies deno
 * into a close-on-exec memfd and execs that.
 *
 * Since the launcher never forks for the app, the pid, signals, stdio and
 * the exit status are those of the app.  Needs /proc and memfd_create
 * (Linux 3.17).
 *
 * hone runs as root, so nothing in it may listen for a debugger or take
 * code or flags from a place another user controls:
 *
 *  - SIGUSR1 is blocked before the exec and every deno thread inherits the
 *    block: Deno >= 2.9.2 opens a V8 inspector on 127.0.0.1:9229 when it
 *    takes SIGUSR1.  The signal stays pending, and the app takes it with
 *    sigtimedwait(2) to print its counts (src/cli/usr1.ts).
 *  - The environment is scrubbed: no DENO_*, NODE_*, V8_*, OTEL_* or LD_*
 *    variable reaches deno (NODE_OPTIONS=--inspect opens an inspector,
 *    DENO_V8_FLAGS sets V8 flags, DENO_DIR names the caches, LD_PRELOAD
 *    loads code), nor the caller's GLIBC_TUNABLES; the launcher then sets
 *    the few that hone needs (malloc_tunables below among them).
 *  - deno gets --no-code-cache: no compiled code from a cache.  (Not
 *    --deny-net: with any --deny-* flag, -A no longer grants what only
 *    --allow-all does, such as reading /sys/kernel/btf/vmlinux.)
 *  - A seccomp filter makes listen(2) fail with EPERM, whoever calls it,
 *    and io_uring_setup(2) too (io_uring can listen past seccomp), and
 *    every system call of a foreign ABI (i386's socketcall, x32).
 *
 * deno's caches go to a fresh private directory, /tmp/hone-deno-<pid>-XXXXXX
 * (DENO_DIR and HONE_DENO_TMPDIR name it).
 * deno opens its cache databases while it starts, and the app removes the
 * directory as its first statement (main.ts); the open databases work on
 * unlinked.  A watcher process removes it if hone dies before that
 * (SIGKILL, a crash): see make_deno_tmpdir().
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elf_exec.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC		0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING	0x0002U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL		0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC		0x0010U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS		1033
#define F_SEAL_SEAL		0x0001
#define F_SEAL_SHRINK		0x0002
#define F_SEAL_GROW		0x0004
#define F_SEAL_WRITE		0x0008
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_close_range
#define SYS_close_range		436
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT	0x40000000
#endif

#if defined(__x86_64__)
#define HONE_AUDIT_ARCH		AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define HONE_AUDIT_ARCH		AUDIT_ARCH_AARCH64
#endif

#define HONE_PACK_MAGIC		"HONEPACK"
#define HONE_PACK_VERSION	2
#define HONE_EXIT_FAILURE	1

/*
 * Where deno keeps its caches: a fresh private directory (mkdtemp makes it
 * 0700 under a name nobody can predict), named with hone's pid so that
 * anyone can tell whose it is.  A path deno cannot create would do too,
 * but deno then warns on a terminal.
 */
#define HONE_DENO_DIR_TEMPLATE	"/tmp/hone-deno-%ld-XXXXXX"
/* deno's module-analysis database in DENO_DIR (DEP_CACHE_NAME, deno_cache.ts). */
#define HONE_DEP_CACHE_NAME	"dep_analysis_cache_v2"
/* How often the watcher looks whether the app has removed it, in ms. */
#define HONE_WATCH_MS		50

/* Variables that never reach deno (see the top of this file). */
static const char *const env_drop_prefix[] = {
	"DENO_", "NODE_", "V8_", "OTEL_", "LD_", "HONE_DENO_TMPDIR=",
	"GLIBC_TUNABLES=",
};

/*
 * glibc's malloc for deno.  V8 takes each ArrayBuffer's memory from
 * malloc, and hone copies every ring-buffer batch and every encoded batch
 * (a few hundred KiB to a few MiB) into a new one.  By default glibc maps
 * blocks that large with mmap and gives back the top of the heap past
 * 128 KiB, so each copy faulted in fresh zeroed pages: 20 k faults a
 * second and about a tenth of hone record's CPU under a flood
 * (bench/README.md).  Blocks below 32 MiB (glibc's largest threshold)
 * now come from the heap, which keeps up to 64 MiB free at its top.
 */
static const char malloc_tunables[] =
	"glibc.malloc.mmap_threshold=33554432:"
	"glibc.malloc.trim_threshold=67108864";

enum hone_part {
	HONE_PART_DENO,
	HONE_PART_APP,
	HONE_PART_SHIM,
	HONE_PART_DENO_CACHE,
	HONE_PART_MAX,
};

struct hone_pack_part {
	uint64_t offset;		/* from the start of the file */
	uint64_t size;			/* bytes; 0 for an absent shim or cache */
};

struct hone_pack_trailer {
	char magic[8];			/* HONE_PACK_MAGIC, no NUL */
	uint32_t version;		/* HONE_PACK_VERSION */
	uint32_t trailer_size;		/* sizeof(struct hone_pack_trailer) */
	struct hone_pack_part part[HONE_PART_MAX];
	uint8_t reserved[16];		/* zero */
};

_Static_assert(sizeof(struct hone_pack_trailer) == 96,
	       "trailer layout is shared with pack.ts");

static const char *const part_name[HONE_PART_MAX] = {
	[HONE_PART_DENO] = "deno",
	[HONE_PART_APP] = "app.js",
	[HONE_PART_SHIM] = "shim",
	[HONE_PART_DENO_CACHE] = "deno cache",
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("hone: launcher: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(HONE_EXIT_FAILURE);
}

/* Keep fds 0-2 taken so that no memfd lands on stdin, stdout or stderr. */
static void fill_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			exit(HONE_EXIT_FAILURE);	/* nowhere to report */
	}
}

static void read_trailer(int exe_fd, struct hone_pack_trailer *t)
{
	uint64_t end, off, size;
	struct stat st;
	ssize_t n;
	int i;

	if (fstat(exe_fd, &st))
		die("cannot stat /proc/self/exe: %s", strerror(errno));
	if ((uint64_t)st.st_size < sizeof(*t))
		die("no payload found (build with ffi/launcher/pack.ts)");
	end = st.st_size - sizeof(*t);

	n = pread(exe_fd, t, sizeof(*t), end);
	if (n != (ssize_t)sizeof(*t))
		die("cannot read the payload trailer: %s",
		    n < 0 ? strerror(errno) : "short read");
	if (memcmp(t->magic, HONE_PACK_MAGIC, sizeof(t->magic)))
		die("no payload found (build with ffi/launcher/pack.ts)");
	if (le32toh(t->version) != HONE_PACK_VERSION ||
	    le32toh(t->trailer_size) != sizeof(*t))
		die("unsupported payload version %u",
		    (unsigned int)le32toh(t->version));

	for (i = 0; i < HONE_PART_MAX; i++) {
		off = le64toh(t->part[i].offset);
		size = le64toh(t->part[i].size);
		t->part[i].offset = off;
		t->part[i].size = size;
		if (size > end || off > end - size)
			die("corrupt payload: %s lies outside the file",
			    part_name[i]);
		if (!size && i != HONE_PART_SHIM && i != HONE_PART_DENO_CACHE)
			die("corrupt payload: %s is empty", part_name[i]);
	}
}

/*
 * Copy @part of the launcher file to the current offset of @dst_fd.
 * Returns 0 or -errno (-ENODATA for an early end of the file).
 */
static int copy_part_quietly(int exe_fd, const struct hone_pack_trailer *t,
			     enum hone_part part, int dst_fd)
{
	static char buf[1 << 16];
	off_t off = t->part[part].offset;
	uint64_t left = t->part[part].size;
	ssize_t n;
	size_t chunk;

	while (left) {
		chunk = left < (1U << 30) ? left : (1U << 30);
		n = sendfile(dst_fd, exe_fd, &off, chunk);
		if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
			/* no sendfile to this fd: plain copy */
			if (chunk > sizeof(buf))
				chunk = sizeof(buf);
			n = pread(exe_fd, buf, chunk, off);
			if (n > 0 && write(dst_fd, buf, n) != n)
				n = -1;
			else if (n > 0)
				off += n;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		left -= n;
	}
	return 0;
}

static void copy_part(int exe_fd, const struct hone_pack_trailer *t,
		      enum hone_part part, int dst_fd)
{
	int err = copy_part_quietly(exe_fd, t, part, dst_fd);

	if (err)
		die("cannot copy %s: %s", part_name[part],
		    err == -ENODATA ? "unexpected end of file" : strerror(-err));
}

/*
 * Seal @fd against any change.  F_SEAL_WRITE fails with EBUSY while the
 * kernel still holds a reference to one of the pages just copied in (the
 * kernel waits ~150 ms itself; under load that is not always enough), so
 * try again for up to two seconds before giving up.
 */
static int add_seals(int fd)
{
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int tries;

	for (tries = 0; tries < 200; tries++) {
		if (!fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			   F_SEAL_WRITE | F_SEAL_SEAL))
			return 0;
		if (errno != EBUSY && errno != EINTR)
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

/*
 * Copy @part into a new sealed memfd.  @flags is MFD_CLOEXEC or 0; an fd
 * the child must open (app.js, shim) is created without MFD_CLOEXEC.
 */
static int part_to_memfd(int exe_fd, const struct hone_pack_trailer *t,
			 enum hone_part part, unsigned int flags, bool exec)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "hone-%s", part_name[part]);
	flags |= MFD_ALLOW_SEALING;

	/* Linux >= 6.3 wants executability stated; older ones reject it. */
	fd = memfd_create(name, flags | (exec ? MFD_EXEC : MFD_NOEXEC_SEAL));
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, flags);
	if (fd < 0)
		die("cannot create a memfd for %s: %s%s", part_name[part],
		    strerror(errno),
		    exec && errno == EACCES ? " (vm.memfd_noexec=2?)" : "");

	if (ftruncate(fd, t->part[part].size))
		die("cannot size the memfd for %s: %s", part_name[part],
		    strerror(errno));
	copy_part(exe_fd, t, part, fd);
	if (add_seals(fd))
		die("cannot seal the memfd for %s: %s", part_name[part],
		    strerror(errno));
	return fd;
}

/* Drop every variable that could steer deno (env_drop_prefix). */
static void scrub_env(void)
{
	char name[256];
	size_t i, j, len;

	for (i = 0; environ[i];) {
		for (j = 0; j < sizeof(env_drop_prefix) /
			    sizeof(env_drop_prefix[0]); j++)
			if (!strncmp(environ[i], env_drop_prefix[j],
				     strlen(env_drop_prefix[j])))
				break;
		if (j == sizeof(env_drop_prefix) / sizeof(env_drop_prefix[0])) {
			i++;
			continue;
		}
		len = strcspn(environ[i], "=");
		if (len >= sizeof(name) || !environ[i][len]) {
			/* no unsetenv() for that one: cut it out by hand */
			for (j = i; environ[j]; j++)
				environ[j] = environ[j + 1];
			continue;
		}
		memcpy(name, environ[i], len);
		name[len] = '\0';
		if (unsetenv(name))
			die("cannot unset %s: %s", name, strerror(errno));
	}
}

/* Whether @dir still is the directory @made describes. */
static bool same_dir(const char *dir, const struct stat *made)
{
	struct stat st;

	return !lstat(dir, &st) && S_ISDIR(st.st_mode) &&
	       st.st_dev == made->st_dev && st.st_ino == made->st_ino;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/*
 * The watcher of make_deno_tmpdir(): a grandchild of the launcher, in a
 * session of its own and deaf to the signals that end hone, so that a
 * Ctrl-C or the kill of a process group does not take it along.  It makes
 * @dir from its template, reports the name on @report_fd, then looks
 * every HONE_WATCH_MS: @dir removed (by the app) -> exit; the process of
 * @pidfd gone -> remove @dir and exit.  (inotify would not do: while deno
 * keeps its unlinked databases open, their dentries pin the directory's,
 * and IN_DELETE_SELF only comes when hone exits.)
 */
static void __attribute__((noreturn))
tmpdir_watcher(char *dir, int pidfd, int report_fd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	size_t len = strlen(dir);
	struct stat made;
	int null_fd, n;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "hone-tmpdir");

	if (!mkdtemp(dir) || lstat(dir, &made))
		_exit(HONE_EXIT_FAILURE);
	if (write(report_fd, dir, len) != (ssize_t)len) {
		rmdir(dir);			/* the launcher makes its own */
		_exit(HONE_EXIT_FAILURE);
	}

	/* Hold on to nothing of hone's: its pipes, its memfds. */
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd >= 0) {
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
	}
	if (pidfd > 3)
		syscall(SYS_close_range, 3U, pidfd - 1U, 0U);	/* Linux 5.9 */
	syscall(SYS_close_range, pidfd + 1U, ~0U, 0U);

	while (same_dir(dir, &made)) {
		n = poll(&pfd, 1, HONE_WATCH_MS);
		if (n > 0 && same_dir(dir, &made))
			nftw(dir, remove_entry, 8,
			     FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		if (n > 0 || (n < 0 && errno != EINTR))
			break;
	}
	_exit(0);
}

/*
 * Make deno's private cache directory in @dir (a HONE_DENO_DIR_TEMPLATE
 * buffer) so that it never outlives hone: a watcher that holds a pidfd of
 * this process makes it and removes it once the process is gone, whatever
 * ends it.  The watcher is forked twice, so that it is reparented and no
 * one has to reap it, and it exits once the app has removed the directory
 * (the first thing the app does), so it only lives while deno starts.  Where the kernel has no pidfd_open (Linux < 5.3) or the
 * watcher fails, the launcher makes the directory itself; a kill before
 * the app starts then leaves it behind.
 */
static void make_deno_tmpdir(char *dir)
{
	int pidfd, report[2];
	size_t len = strlen(dir);
	pid_t pid;
	ssize_t n;

	pidfd = syscall(SYS_pidfd_open, getpid(), 0);	/* close-on-exec */
	if (pidfd < 0)
		goto fallback;
	if (pipe2(report, O_CLOEXEC)) {
		close(pidfd);
		goto fallback;
	}
	pid = fork();
	if (!pid) {
		close(report[0]);
		if (!fork())
			tmpdir_watcher(dir, pidfd, report[1]);
		_exit(0);
	}
	close(report[1]);
	close(pidfd);
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	do
		n = read(report[0], dir, len);
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == (ssize_t)len)
		return;
fallback:
	if (!mkdtemp(dir))
		die("cannot make a directory for deno's caches: %s",
		    strerror(errno));
}

/*
 * Put the deno cache part into @dir as deno's module-analysis database,
 * so that deno need not parse app.js to learn that it imports nothing.
 * Best effort: without it deno parses, as it would anyway.
 */
static void put_deno_cache(int exe_fd, const struct hone_pack_trailer *t,
			   const char *dir)
{
	char path[128];
	int fd;

	if (!t->part[HONE_PART_DENO_CACHE].size ||
	    snprintf(path, sizeof(path), "%s/" HONE_DEP_CACHE_NAME, dir) >=
	    (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return;
	if (copy_part_quietly(exe_fd, t, HONE_PART_DENO_CACHE, fd))
		unlink(path);
	close(fd);
}

/*
 * Make listen(2) fail with EPERM for good: no socket of hone can ever
 * accept a connection, whatever tries (an inspector, a future deno
 * feature).  io_uring_setup(2) fails too, as io_uring can listen without
 * a system call the filter sees, and so does every system call of a
 * foreign ABI (i386's socketcall on x86-64, x32).  hone needs none of
 * them.  Best effort: where seccomp is missing, hone runs without it.
 */
static void deny_listen(void)
{
#ifdef HONE_AUDIT_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HONE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 2, 0),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	/* Needed without CAP_SYS_ADMIN; hone execs nothing set-uid. */
	if (!prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#endif
}

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1))
		die("cannot set %s: %s", name, strerror(errno));
}

int main(int argc, char **argv)
{
	static const char *const deno_args[] = {
		"hone", "run", "-A", "--no-code-cache", "--no-config",
		"--no-lock", "--no-remote", "--no-npm", "--ext=js",
	};
	const size_t n_deno_args = sizeof(deno_args) / sizeof(deno_args[0]);
	struct hone_pack_trailer t;
	static char deno_dir[64];
	char app_path[32], shim_path[32];
	int exe_fd, app_fd, shim_fd, deno_fd;
	sigset_t usr1;
	char **args;
	size_t i, n;

	fill_std_fds();
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL))
		die("cannot block SIGUSR1: %s", strerror(errno));
	scrub_env();

	exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe_fd < 0)
		die("cannot open /proc/self/exe: %s (is /proc mounted?)",
		    strerror(errno));
	read_trailer(exe_fd, &t);

	app_fd = part_to_memfd(exe_fd, &t, HONE_PART_APP, 0, false);
	snprintf(app_path, sizeof(app_path), "/proc/self/fd/%d", app_fd);

	if (t.part[HONE_PART_SHIM].size) {
		shim_fd = part_to_memfd(exe_fd, &t, HONE_PART_SHIM, 0, false);
		snprintf(shim_path, sizeof(shim_path), "/proc/self/fd/%d",
			 shim_fd);
		set_env("HONE_SHIM", shim_path);
	}

	set_env("GLIBC_TUNABLES", malloc_tunables);
	set_env("DENO_NO_UPDATE_CHECK", "1");
	set_env("DENO_NO_PROMPT", "1");
	snprintf(deno_dir, sizeof(deno_dir), HONE_DENO_DIR_TEMPLATE,
		 (long)getpid());
	make_deno_tmpdir(deno_dir);
	put_deno_cache(exe_fd, &t, deno_dir);
	set_env("DENO_DIR", deno_dir);
	set_env("HONE_DENO_TMPDIR", deno_dir);
	deny_listen();

	/* deno args, the app, the user's args (argv[1..]), NULL */
	n = n_deno_args + 1 + (argc > 0 ? argc - 1 : 0) + 1;
	args = calloc(n, sizeof(*args));
	if (!args)
		die("out of memory");
	for (i = 0; i < n_deno_args; i++)
		args[i] = (char *)deno_args[i];
	args[i++] = app_path;
	for (n = 1; (int)n < argc; n++)
		args[i++] = argv[n];
	args[i] = NULL;

	/* deno from this file's own pages; returns if it cannot */
	elf_exec_in_place(exe_fd, t.part[HONE_PART_DENO].offset,
			  t.part[HONE_PART_DENO].size, args, environ);
	deno_fd = part_to_memfd(exe_fd, &t, HONE_PART_DENO, MFD_CLOEXEC, true);
	close(exe_fd);
	fexecve(deno_fd, args, environ);
	die("cannot execute deno: %s", strerror(errno));
}
