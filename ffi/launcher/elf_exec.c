// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Run an ELF executable that lies inside another file, in place: map its
 * segments and its program interpreter from the files, build the stack
 * execve(2) would have built, and jump to the interpreter.  What the
 * kernel's ELF loader does, done by the launcher, so that deno runs from
 * the pages of dist/hone itself: no 90 MB copy into a memfd at every start
 * (about 70 ms of system time) and no 90 MB of unswappable shared memory
 * for as long as hone runs.
 *
 * Only the x86-64 jump is written; elsewhere elf_exec_in_place() returns
 * and the launcher copies deno into a memfd as before.
 */
#include "elf_exec.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <sys/rseq.h>
#endif

/* Bounds on what a sane executable or interpreter has. */
#define ELF_MAX_PHNUM		64
#define ELF_MAX_INTERP		256
#define AUXV_MAX		64

struct elf_image {
	uintptr_t base;		/* load bias */
	uintptr_t lo, hi;	/* the reserved span */
	uintptr_t entry;
	uintptr_t phdr;		/* address of the program headers */
	unsigned int phnum;
};

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	return n == (ssize_t)len ? 0 : -1;
}

static int prot_of(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) |
	       (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

/*
 * Map the position-independent ELF at @off of @fd (page-aligned) into
 * fresh memory.  @interp, when not NULL, gets its PT_INTERP path.
 */
static int map_image(int fd, uint64_t off, uint64_t size,
		     struct elf_image *img, char *interp)
{
	const uintptr_t page = sysconf(_SC_PAGESIZE);
	Elf64_Phdr ph[ELF_MAX_PHNUM];
	uintptr_t lo = UINTPTR_MAX, hi = 0, align = page, span, at;
	Elf64_Ehdr eh;
	void *res;
	int i;

	if (off % page || read_at(fd, &eh, sizeof(eh), off) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_DYN ||
	    eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum ||
	    eh.e_phnum > ELF_MAX_PHNUM ||
	    read_at(fd, ph, eh.e_phnum * sizeof(ph[0]), off + eh.e_phoff))
		return -1;

	img->phdr = 0;
	if (interp)
		interp[0] = '\0';
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP && interp) {
			if (!ph[i].p_filesz || ph[i].p_filesz > ELF_MAX_INTERP ||
			    read_at(fd, interp, ph[i].p_filesz,
				    off + ph[i].p_offset) ||
			    interp[ph[i].p_filesz - 1])
				return -1;
		}
		if (ph[i].p_type == PT_PHDR)
			img->phdr = ph[i].p_vaddr;
		if (ph[i].p_type != PT_LOAD)
			continue;
		/* (a segment of zeros only must start on its own page) */
		if (ph[i].p_offset % page != ph[i].p_vaddr % page ||
		    (!ph[i].p_filesz && ph[i].p_vaddr % page) ||
		    ph[i].p_filesz > ph[i].p_memsz ||
		    ph[i].p_offset > size ||
		    ph[i].p_filesz > size - ph[i].p_offset)
			return -1;
		if (ph[i].p_vaddr < lo)
			lo = ph[i].p_vaddr;
		if (ph[i].p_vaddr + ph[i].p_memsz > hi)
			hi = ph[i].p_vaddr + ph[i].p_memsz;
		if (ph[i].p_align > align && !(ph[i].p_align & (ph[i].p_align - 1)))
			align = ph[i].p_align;
	}
	if (hi <= lo)
		return -1;
	lo &= ~(page - 1);
	hi = (hi + page - 1) & ~(page - 1);
	if (!img->phdr)
		img->phdr = eh.e_phoff;	/* in the first segment, at offset 0 */

	/* Reserve the whole span (aligned as the segments ask), then map. */
	span = hi - lo;
	res = mmap(NULL, span + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -1;
	at = ((uintptr_t)res + align - 1) & ~(align - 1);
	if (at > (uintptr_t)res)
		munmap(res, at - (uintptr_t)res);
	if ((uintptr_t)res + span + align > at + span)
		munmap((void *)(at + span),
		       (uintptr_t)res + span + align - (at + span));
	img->lo = at;
	img->hi = at + span;
	img->base = at - lo;

	for (i = 0; i < eh.e_phnum; i++) {
		uintptr_t start, file_end, mem_end, zero_end;
		int prot = prot_of(ph[i].p_flags);

		if (ph[i].p_type != PT_LOAD)
			continue;
		start = (img->base + ph[i].p_vaddr) & ~(page - 1);
		file_end = img->base + ph[i].p_vaddr + ph[i].p_filesz;
		mem_end = img->base + ph[i].p_vaddr + ph[i].p_memsz;
		if (ph[i].p_filesz &&
		    mmap((void *)start, file_end - start,
			 prot | (mem_end > file_end ? PROT_WRITE : 0),
			 MAP_PRIVATE | MAP_FIXED, fd,
			 off + (ph[i].p_offset & ~(page - 1))) == MAP_FAILED)
			goto fail;
		if (mem_end <= file_end)
			continue;
		/*
		 * .bss: the rest of the last file page (all of it, as the
		 * kernel does: ld.so's first allocations take the end of its
		 * own page and count on zeros), then zero pages.
		 */
		zero_end = (file_end + page - 1) & ~(page - 1);
		if (ph[i].p_filesz) {
			memset((void *)file_end, 0, zero_end - file_end);
			if (!(prot & PROT_WRITE) &&
			    mprotect((void *)start, zero_end - start, prot))
				goto fail;
		} else {
			zero_end = start;
		}
		if (mem_end > zero_end &&
		    mmap((void *)zero_end, mem_end - zero_end, prot,
			 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1,
			 0) == MAP_FAILED)
			goto fail;
	}
	img->entry = img->base + eh.e_entry;
	img->phdr += img->base;
	img->phnum = eh.e_phnum;
	return 0;
fail:
	munmap((void *)img->lo, img->hi - img->lo);
	return -1;
}

/* What execve(2) does to descriptors: close the close-on-exec ones. */
static void close_cloexec_fds(void)
{
	int fds[256], n, i, fd, dfd;
	struct dirent *d;
	DIR *dir;

	do {
		dir = opendir("/proc/self/fd");
		if (!dir)
			return;
		dfd = dirfd(dir);
		n = 0;
		while (n < (int)(sizeof(fds) / sizeof(fds[0])) &&
		       (d = readdir(dir))) {
			fd = atoi(d->d_name);
			if (d->d_name[0] < '0' || d->d_name[0] > '9' ||
			    fd == dfd)
				continue;
			if (fcntl(fd, F_GETFD) > 0)	/* FD_CLOEXEC set */
				fds[n++] = fd;
		}
		closedir(dir);
		for (i = 0; i < n; i++)
			close(fds[i]);
	} while (n == (int)(sizeof(fds) / sizeof(fds[0])));
}

/*
 * Whether a stack reaching down to @sp, plus room for the new program to
 * start, would pass RLIMIT_STACK.  The top of the stack is about where
 * the kernel put the name of the executable (AT_EXECFN).
 */
static bool stack_too_small(uintptr_t sp)
{
	const uintptr_t room = 256 * 1024;
	uintptr_t top = getauxval(AT_EXECFN);
	struct rlimit rl;

	if (!top || getrlimit(RLIMIT_STACK, &rl))
		return true;
	top += strlen((const char *)top) + 1;
	if (rl.rlim_cur == RLIM_INFINITY)
		return false;
	return top < sp || top - sp + room > rl.rlim_cur;
}

static int getrandom_all(unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * A glibc-built launcher (the Makefile's CC= build) registered rseq for
 * this thread: give it up, or the new program's glibc cannot (EBUSY) and
 * the kernel would keep writing into the launcher's thread data.  musl
 * registers none.
 */
static void unregister_rseq(void)
{
#if defined(__GLIBC__) && defined(RSEQ_SIG) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
	/* the length it registered: 32 bytes, or more on newer kernels */
	const unsigned long lens[] = { 32, __rseq_size,
				       (getauxval(AT_RSEQ_FEATURE_SIZE) + 31) & ~31UL };
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
	size_t i;

	for (i = 0; __rseq_size && i < sizeof(lens) / sizeof(lens[0]); i++)
		if (!syscall(SYS_rseq, area, lens[i], RSEQ_FLAG_UNREGISTER,
			     RSEQ_SIG))
			break;
#endif
}

/* The kernel's auxiliary vector, as this process got it. */
static int read_auxv(Elf64_auxv_t *auxv, size_t max, size_t *count)
{
	ssize_t n, got = 0;
	int fd;

	fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < max * sizeof(*auxv)) {
		n = read(fd, (char *)auxv + got, max * sizeof(*auxv) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	*count = got / sizeof(*auxv);
	while (*count && auxv[*count - 1].a_type == AT_NULL)
		(*count)--;
	return *count ? 0 : -1;
}

/*
 * Let /proc/PID/environ and /proc/PID/auxv show what the new program got
 * (the environment deno runs with, not the launcher's caller's), as after
 * execve(2).  Best effort: PR_SET_MM_MAP needs a kernel built with
 * CONFIG_CHECKPOINT_RESTORE (without it, /proc/PID/environ keeps showing
 * the environment before the scrub), and takes every other field as it
 * is.
 */
static void show_new_mm(char *env_start, char *env_end, uintptr_t *auxv,
			size_t auxv_size)
{
	/* fields of /proc/PID/stat, counted from 1 as in proc(5) */
	enum { START_CODE = 26, END_CODE, START_STACK, START_DATA = 45,
	       END_DATA, START_BRK, ARG_START, ARG_END, LAST = 51 };
	unsigned long long f[LAST + 1] = { 0 };
	struct prctl_mm_map map;
	char buf[1024], *p, *end;
	ssize_t n;
	int fd, i;

	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = strrchr(buf, ')');		/* comm may hold anything */
	if (!p)
		return;
	p += 2;
	for (i = 3; i <= LAST && *p; i++) {
		f[i] = strtoull(p, &end, 10);
		if (end == p && i > 3)
			return;
		p = *end ? end + 1 : end;
	}
	if (i <= LAST)
		return;
	map = (struct prctl_mm_map){
		.start_code = f[START_CODE],
		.end_code = f[END_CODE],
		.start_data = f[START_DATA],
		.end_data = f[END_DATA],
		.start_brk = f[START_BRK],
		.brk = (uintptr_t)syscall(SYS_brk, 0),
		.start_stack = f[START_STACK],
		.arg_start = f[ARG_START],
		.arg_end = f[ARG_END],
		.env_start = (uintptr_t)env_start,
		.env_end = (uintptr_t)env_end,
		.auxv = (void *)auxv,
		.auxv_size = auxv_size,
		.exe_fd = (uint32_t)-1,
	};
	prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof(map), 0);
}

#if defined(__x86_64__)
static void __attribute__((noreturn)) jump(uintptr_t sp, uintptr_t entry)
{
	/* %rdx = 0: no function for the program to register with atexit */
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%edx, %%edx\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "jmp *%1\n\t"
			 : : "D"(sp), "S"(entry) : "memory");
	__builtin_unreachable();
}
#endif

int elf_exec_in_place(int fd, uint64_t off, uint64_t size,
		      char *const argv[], char *const envp[])
{
#if defined(__x86_64__)
	Elf64_auxv_t auxv[AUXV_MAX];
	struct elf_image prog, interp;
	char interp_path[ELF_MAX_INTERP];
	size_t argc = 0, envc, auxc, words, strsize = 0, i, k;
	unsigned char random_bytes[16], *random;
	char *strings, *at;
	uintptr_t *sp, *auxp;
	int ifd;

	if (map_image(fd, off, size, &prog, interp_path))
		return -1;
	if (!interp_path[0])
		goto fail_prog;		/* a static PIE: not deno */
	ifd = open(interp_path, O_RDONLY | O_CLOEXEC);
	if (ifd < 0)
		goto fail_prog;
	if (map_image(ifd, 0, UINT64_MAX, &interp, NULL)) {
		close(ifd);
		goto fail_prog;
	}
	close(ifd);
	if (read_auxv(auxv, AUXV_MAX, &auxc))
		goto fail_both;

	/*
	 * The new stack, below this frame on the process's own stack (so
	 * that the main thread's stack is still the one the kernel made,
	 * grown down as usual): the environment's strings, one after the
	 * other as execve(2) leaves them, then argc, argv, NULL, envp, NULL,
	 * auxv, AT_NULL.  The argument strings stay where they are (the
	 * launcher's data, its heap and the top of this stack, none of which
	 * the new program unmaps), and /proc/PID/cmdline keeps showing the
	 * command as it was typed.  The kernel's auxv entries are kept (the
	 * vDSO, AT_HWCAP, AT_SECURE, AT_EXECFN, ...) but for those that name
	 * the program, and AT_RANDOM, which gets 16 fresh bytes.
	 */
	while (argv[argc])
		argc++;
	for (envc = 0; envp[envc]; envc++)
		strsize += strlen(envp[envc]) + 1;
	words = 1 + argc + 1 + envc + 1 + 2 * (auxc + 7 + 1);
	strings = (char *)__builtin_frame_address(0) - 16384 - strsize;
	sp = (uintptr_t *)(((uintptr_t)strings - 16 - words * sizeof(*sp)) &
			   ~(uintptr_t)15);
	random = (unsigned char *)strings - 16;
	/*
	 * The stack may grow only so far (RLIMIT_STACK): leave deno's ld.so
	 * and start-up room past the new stack, or take the memfd path.
	 */
	if (stack_too_small((uintptr_t)sp) ||
	    getrandom_all(random_bytes, sizeof(random_bytes)))
		goto fail_both;

	/* From here on nothing can be taken back: fail means exit. */
	close_cloexec_fds();
	close(fd);
	unregister_rseq();
	memcpy(random, random_bytes, sizeof(random_bytes));
	k = 0;
	sp[k++] = argc;
	for (i = 0; i < argc; i++)
		sp[k++] = (uintptr_t)argv[i];
	sp[k++] = 0;
	for (i = 0, at = strings; i < envc; i++) {
		size_t len = strlen(envp[i]) + 1;

		memcpy(at, envp[i], len);
		sp[k++] = (uintptr_t)at;
		at += len;
	}
	sp[k++] = 0;
	auxp = &sp[k];
	for (i = 0; i < auxc; i++) {
		switch (auxv[i].a_type) {
		case AT_PHDR:
		case AT_PHENT:
		case AT_PHNUM:
		case AT_BASE:
		case AT_ENTRY:
		case AT_FLAGS:
		case AT_RANDOM:
			continue;	/* the launcher's: replaced below */
		}
		sp[k++] = auxv[i].a_type;
		sp[k++] = auxv[i].a_un.a_val;
	}
	sp[k++] = AT_PHDR;
	sp[k++] = prog.phdr;
	sp[k++] = AT_PHENT;
	sp[k++] = sizeof(Elf64_Phdr);
	sp[k++] = AT_PHNUM;
	sp[k++] = prog.phnum;
	sp[k++] = AT_BASE;
	sp[k++] = interp.base;
	sp[k++] = AT_ENTRY;
	sp[k++] = prog.entry;
	sp[k++] = AT_FLAGS;
	sp[k++] = 0;
	/* fresh bytes: the launcher's libc made its secrets from its own */
	sp[k++] = AT_RANDOM;
	sp[k++] = (uintptr_t)random;
	sp[k++] = AT_NULL;
	sp[k++] = 0;
	if (envc)
		show_new_mm(strings, at, auxp, (char *)&sp[k] - (char *)auxp);
	jump((uintptr_t)sp, interp.entry);

fail_both:
	munmap((void *)interp.lo, interp.hi - interp.lo);
fail_prog:
	munmap((void *)prog.lo, prog.hi - prog.lo);
#else
	(void)fd, (void)off, (void)size, (void)argv, (void)envp;
#endif
	return -1;
}
