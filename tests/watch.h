/* SPDX-License-Identifier: MIT */
/*
 * Counting device accesses: a hardware data breakpoint (perf_event_open,
 * PERF_TYPE_BREAKPOINT) on 8 aligned bytes counts every user-space load
 * and store of the calling thread that touches them. So a test sees how
 * many accesses a copy made there, and so their width: one 8-byte access,
 * two 4-byte ones, eight single bytes.
 */
#ifndef MMIO_TESTS_WATCH_H
#define MMIO_TESTS_WATCH_H

#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A counter of the calling thread's accesses to [addr, addr + 8) (@addr
 * aligned to 8), or -1 if the system gives none. */
static inline int watch_open(const void *addr)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_BREAKPOINT;
	a.size = sizeof(a);
	a.bp_type = HW_BREAKPOINT_RW;
	a.bp_addr = (uintptr_t)addr;
	a.bp_len = HW_BREAKPOINT_LEN_8;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

/* The accesses counted so far. */
static inline uint64_t watch_count(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return UINT64_MAX;
	return n;
}

#endif
