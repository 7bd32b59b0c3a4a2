/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The ioctls of /dev/hone and /dev/honet.
 *
 * The numbers are the original Hone sensor's (type byte 0xE0), so its
 * readers (honeread, hone-dumpcap) work unchanged. Every ioctl acts on the
 * reader (the open file) it is called on; an unknown one fails with ENOTTY.
 */
#ifndef _UAPI_HONEEVENT_H
#define _UAPI_HONEEVENT_H

#include <linux/ioctl.h>

#define HEIO_TYPE 0xE0

/*
 * HEIO_RESTART (0xE001): end the section. The stream goes on with the
 * records already queued, then an Interface Statistics Block (text: a TAIL
 * line); the read after it returns 0; the next read starts a new section:
 * Section Header and Interface Description Blocks (text: a HEAD line), a
 * new snapshot of the running processes and their sockets, then the queued
 * records. No record is lost. Returns 0, or -ENOSPC if the reader's ring
 * has no room left for the statistics (read it first).
 */
#define HEIO_RESTART _IO(HEIO_TYPE, 1)

/*
 * HEIO_GET_AT_HEAD (0xE003): returns 1 if the next bytes read start a
 * section (just opened, after the 0 of a restart, or a snap length change
 * not yet read), otherwise 0. Readers use it after a read of 0 to decide
 * whether to open a new output file.
 */
#define HEIO_GET_AT_HEAD _IO(HEIO_TYPE, 3)

/*
 * HEIO_GET_SNAPLEN (0x8004E004): stores the reader's snap length (0 =
 * whole packets) in the unsigned int the argument points to.
 */
#define HEIO_GET_SNAPLEN _IOR(HEIO_TYPE, 4, int)

/*
 * HEIO_SET_SNAPLEN (0x4004E005): sets the reader's snap length to the
 * argument itself (not a pointer; 0 = whole packets). Packets queued from
 * then on are cut to it, after a new Section Header and Interface
 * Description Block that says so (pcapng only; no snapshot, no
 * statistics). -ENOSPC if the ring has no room for them.
 */
#define HEIO_SET_SNAPLEN _IOW(HEIO_TYPE, 5, int)

/*
 * HEIO_SET_FILTER_SOCK (0x4004E006): the argument is a socket file
 * descriptor of the caller, by value, or -1. The reader no longer gets the
 * packets of that socket (counted as filtered in the statistics); -1
 * clears the filter. For a reader that forwards its capture over the
 * network. -ENOTSOCK if the descriptor is not a socket.
 */
#define HEIO_SET_FILTER_SOCK _IOW(HEIO_TYPE, 6, int)

#endif /* _UAPI_HONEEVENT_H */
