/* SPDX-License-Identifier: MIT */
/* Placing mappings: see shim_mmap_placed() in mmio/shim.h. */
#include <mmio/shim.h>

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

void *shim_mmap_placed(size_t len, int prot, int fd, uint64_t offset, size_t skew)
{
	size_t span = len + 2 * (size_t)SHIM_MAP_ALIGN;
	uint8_t *res, *at;
	void *p;
	int saved;

	if (len == 0 || len > SIZE_MAX - span || skew >= SHIM_MAP_ALIGN) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	/* Reserve address space, then map over the part that is placed right. */
	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)res + SHIM_MAP_ALIGN - 1) & ~(uintptr_t)(SHIM_MAP_ALIGN - 1)) +
	     skew;
	p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		saved = errno;
		munmap(res, span);
		errno = saved;
		return MAP_FAILED;
	}
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (at + len < res + span)
		munmap(at + len, (size_t)(res + span - (at + len)));
	return p;
}
