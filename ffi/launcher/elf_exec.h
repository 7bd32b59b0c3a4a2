/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef HONE_ELF_EXEC_H
#define HONE_ELF_EXEC_H

#include <stdint.h>

/*
 * Replace this process with the dynamically linked, position-independent
 * ELF executable that lies at @off (page-aligned) of @fd, @size bytes
 * long, as execve(2) would with @argv and @envp: its segments and its
 * program interpreter are mapped from their files, close-on-exec
 * descriptors are closed, and the interpreter is entered on a new stack.
 * The signal mask, the seccomp filter and the rest of the process stay.
 *
 * Returns -1 (with nothing of it left mapped) when the executable cannot
 * be run this way: the caller then falls back to execve.  Does not return
 * otherwise.
 */
int elf_exec_in_place(int fd, uint64_t off, uint64_t size,
		      char *const argv[], char *const envp[]);

#endif
