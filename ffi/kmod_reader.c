// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel-module sensor's side of libhone.so: opens the honeevent
 * device (/dev/hone, a PCAP-NG stream), sets the reader's snap length,
 * polls and reads into the caller's buffer, and ends the section with the
 * module's statistics (HEIO_RESTART). One reader per call of
 * hone_kmod_open(); the TypeScript side decodes the stream as it decodes
 * a capture file.
 *
 * Every function returns a negative errno on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../kmod/honeevent.h"

#define HONE_API __attribute__((visibility("default")))

/*
 * Opens @path for reading, non-blocking; @snaplen > 0 sets the reader's
 * snap length (the module then starts a new section that says so).
 * Returns the descriptor.
 */
HONE_API int hone_kmod_open(const char *path, uint32_t snaplen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int err;

	if (fd < 0)
		return -errno;
	if (snaplen && ioctl(fd, HEIO_SET_SNAPLEN, (unsigned long)snaplen)) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/*
 * Sleeps @after_ms first (the gather after a small read: a flood is then
 * read in large chunks, not one wake-up's worth at a time), waits up to
 * @timeout_ms for data, then reads at most @len bytes into @buf. Returns
 * the bytes read; 0 when the wait timed out; -ENODATA at the end of a
 * section (the read of 0 after HEIO_RESTART).
 */
HONE_API int64_t hone_kmod_read(int fd, uint8_t *buf, uint32_t len,
				int32_t after_ms, int32_t timeout_ms)
{
	struct timespec t = {
		.tv_sec = after_ms / 1000,
		.tv_nsec = (long)(after_ms % 1000) * 1000000,
	};
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int waited = 0;
	ssize_t n;
	int r;

	while (after_ms > 0 && nanosleep(&t, &t) && errno == EINTR)
		;
	for (;;) {
		n = read(fd, buf, len);
		if (n > 0)
			return n;
		if (n == 0)
			return -ENODATA;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (waited)
			return 0;	/* readable, yet nothing to read: a tick */
		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return 0;
		/* Readable (or hung up): the next read says which. */
		waited = 1;
	}
}

/* Ends the reader's section: the module queues its statistics (ISB). */
HONE_API int hone_kmod_restart(int fd)
{
	return ioctl(fd, HEIO_RESTART) ? -errno : 0;
}

/* The reader's snap length (0 = whole packets). */
HONE_API int64_t hone_kmod_snaplen(int fd)
{
	unsigned int snaplen = 0;

	return ioctl(fd, HEIO_GET_SNAPLEN, &snaplen) ? -errno : snaplen;
}

HONE_API int hone_kmod_close(int fd)
{
	return close(fd) ? -errno : 0;
}
