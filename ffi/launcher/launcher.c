/*
 * hone launcher: runs the Deno runtime and the bundled app that pack.ts
 * appended to this executable.
 *
 * File layout (all integers little-endian):
 *
 *	[launcher ELF][deno][app.js][shim .so, may be empty][trailer]
 *
 * The trailer (struct hone_pack_trailer) is the last 96 bytes of the file
 * and gives the offset and size of each part.  At start-up the launcher
 * copies app.js and the shim into sealed memfds that the child inherits,
 * copies deno into a close-on-exec memfd (or reuses a copy extracted once
 * into $HONE_CACHE_DIR) and then replaces itself with
 *
 *	hone run -A --no-config ... /proc/self/fd/<app> <user args...>
 *
 * Since the launcher execs (no fork), the pid, signals, stdio and the exit
 * status are those of the app.  Needs /proc and memfd_create (Linux 3.17).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

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

#define HONE_PACK_MAGIC		"HONEPACK"
#define HONE_PACK_VERSION	1
#define HONE_EXIT_FAILURE	1

/* Where deno keeps its caches when DENO_DIR is unset: a fresh private
 * directory (mkdtemp makes it 0700 under a name nobody can predict), which
 * the app removes when it exits (HONE_DENO_TMPDIR names it). A path deno
 * cannot create would work too, but deno then warns on a terminal. */
#define HONE_DENO_DIR_TEMPLATE	"/tmp/hone-deno-XXXXXX"

enum hone_part {
	HONE_PART_DENO,
	HONE_PART_APP,
	HONE_PART_SHIM,
	HONE_PART_MAX,
};

struct hone_pack_part {
	uint64_t offset;		/* from the start of the file */
	uint64_t size;			/* bytes; 0 only for an absent shim */
};

struct hone_pack_trailer {
	char magic[8];			/* HONE_PACK_MAGIC, no NUL */
	uint32_t version;		/* HONE_PACK_VERSION */
	uint32_t trailer_size;		/* sizeof(struct hone_pack_trailer) */
	struct hone_pack_part part[HONE_PART_MAX];
	uint8_t deno_sha256[32];	/* names the $HONE_CACHE_DIR copy */
};

_Static_assert(sizeof(struct hone_pack_trailer) == 96,
	       "trailer layout is shared with pack.ts");

static const char *const part_name[HONE_PART_MAX] = {
	[HONE_PART_DENO] = "deno",
	[HONE_PART_APP] = "app.js",
	[HONE_PART_SHIM] = "shim",
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
		if (!size && i != HONE_PART_SHIM)
			die("corrupt payload: %s is empty", part_name[i]);
	}
}

/* Copy @part of the launcher file to the current offset of @dst_fd. */
static void copy_part(int exe_fd, const struct hone_pack_trailer *t,
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
			die("cannot copy %s: %s", part_name[part],
			    n < 0 ? strerror(errno) : "unexpected end of file");
		left -= n;
	}
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
		    exec && errno == EACCES ?
		    " (vm.memfd_noexec=2? set HONE_CACHE_DIR)" : "");

	if (ftruncate(fd, t->part[part].size))
		die("cannot size the memfd for %s: %s", part_name[part],
		    strerror(errno));
	copy_part(exe_fd, t, part, fd);
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		die("cannot seal the memfd for %s: %s", part_name[part],
		    strerror(errno));
	return fd;
}

static bool cache_file_ok(int fd, uint64_t size)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022) &&
	       (st.st_mode & 0100) && (uint64_t)st.st_size == size;
}

/* Extract deno into @dir_fd as @name: temp file, fsync, rename. */
static void cache_extract(int exe_fd, const struct hone_pack_trailer *t,
			  int dir_fd, const char *dir, const char *name)
{
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	unlinkat(dir_fd, tmp, 0);	/* left behind by a crash */
	fd = openat(dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (fd < 0)
		die("cannot create %s/%s: %s", dir, tmp, strerror(errno));
	copy_part(exe_fd, t, HONE_PART_DENO, fd);
	if (fsync(fd) || close(fd)) {
		unlinkat(dir_fd, tmp, 0);
		die("cannot write %s/%s: %s", dir, tmp, strerror(errno));
	}
	if (renameat(dir_fd, tmp, dir_fd, name)) {
		unlinkat(dir_fd, tmp, 0);
		die("cannot rename %s/%s: %s", dir, tmp, strerror(errno));
	}
}

/*
 * Return an O_RDONLY fd of deno extracted under $HONE_CACHE_DIR, extracting
 * it on first use.  The directory must belong to us and be writable by no
 * one else; the file is opened without following symlinks, checked and
 * executed through its fd, so nothing can be swapped in after the check.
 */
static int cache_open_deno(int exe_fd, const struct hone_pack_trailer *t,
			   const char *dir)
{
	uint64_t size = t->part[HONE_PART_DENO].size;
	char name[32], *p;
	struct stat st;
	int dir_fd, fd, i;

	if (dir[0] != '/')
		die("HONE_CACHE_DIR must be an absolute path: %s", dir);
	if (mkdir(dir, 0700) && errno != EEXIST)
		die("cannot create HONE_CACHE_DIR %s: %s", dir,
		    strerror(errno));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0)
		die("cannot open HONE_CACHE_DIR %s: %s", dir, strerror(errno));
	if (fstat(dir_fd, &st))
		die("cannot stat HONE_CACHE_DIR %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		die("HONE_CACHE_DIR %s must be owned by uid %ld and not writable by group or others",
		    dir, (long)geteuid());

	p = name + sprintf(name, "deno-");
	for (i = 0; i < 8; i++)
		p += sprintf(p, "%02x", t->deno_sha256[i]);

	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && cache_file_ok(fd, size))
		goto out;
	if (fd >= 0)
		close(fd);
	cache_extract(exe_fd, t, dir_fd, dir, name);
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !cache_file_ok(fd, size))
		die("cannot use %s/%s after extracting it", dir, name);
out:
	if (!getenv("DENO_DIR")) {
		char deno_dir[4096];

		if (snprintf(deno_dir, sizeof(deno_dir), "%s/deno-dir",
			     dir) >= (int)sizeof(deno_dir))
			die("HONE_CACHE_DIR is too long");
		if (setenv("DENO_DIR", deno_dir, 1))
			die("cannot set DENO_DIR: %s", strerror(errno));
	}
	close(dir_fd);
	return fd;
}

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1))
		die("cannot set %s: %s", name, strerror(errno));
}

int main(int argc, char **argv)
{
	static const char *const deno_args[] = {
		"hone", "run", "-A", "--no-config", "--no-lock",
		"--no-remote", "--no-npm", "--ext=js",
	};
	const size_t n_deno_args = sizeof(deno_args) / sizeof(deno_args[0]);
	struct hone_pack_trailer t;
	char app_path[32], shim_path[32];
	const char *cache_dir;
	int exe_fd, app_fd, shim_fd, deno_fd;
	char **args;
	size_t i, n;

	fill_std_fds();

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

	cache_dir = getenv("HONE_CACHE_DIR");
	if (cache_dir && cache_dir[0])
		deno_fd = cache_open_deno(exe_fd, &t, cache_dir);
	else
		deno_fd = part_to_memfd(exe_fd, &t, HONE_PART_DENO,
					MFD_CLOEXEC, true);
	close(exe_fd);

	set_env("DENO_NO_UPDATE_CHECK", "1");
	set_env("DENO_NO_PROMPT", "1");
	if (!getenv("DENO_DIR")) {
		static char tmp[] = HONE_DENO_DIR_TEMPLATE;

		if (!mkdtemp(tmp))
			die("cannot make a directory for deno's caches: %s",
			    strerror(errno));
		set_env("DENO_DIR", tmp);
		set_env("HONE_DENO_TMPDIR", tmp);
	}

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

	fexecve(deno_fd, args, environ);
	die("cannot execute deno: %s", strerror(errno));
}
