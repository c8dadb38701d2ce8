/* SPDX-License-Identifier: MIT */
/* Placing mappings: see shim_mmap_placed() and shim_mmap_led() in mmio/shim.h. */
#include <mmio/shim.h>

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

/* Map @fd at @skew past a boundary, with @lead bytes of private memory
 * right before it. */
static void *place(size_t lead, size_t len, int prot, int fd, uint64_t offset, size_t skew)
{
	size_t span;
	uint8_t *res, *at, *from;
	void *p;
	int saved;

	if (len == 0 || skew >= SHIM_MAP_ALIGN || lead > SIZE_MAX - 2 * (size_t)SHIM_MAP_ALIGN ||
	    len > SIZE_MAX - 2 * (size_t)SHIM_MAP_ALIGN - lead) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	span = lead + len + 2 * (size_t)SHIM_MAP_ALIGN;
	/* Reserve address space, then map over the part that is placed right. */
	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)res + lead + SHIM_MAP_ALIGN - 1) &
			 ~(uintptr_t)(SHIM_MAP_ALIGN - 1)) +
	     skew;
	from = at - lead;
	p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
	if (p != MAP_FAILED && lead != 0 &&
	    mmap(from, lead, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) == MAP_FAILED)
		p = MAP_FAILED;
	if (p == MAP_FAILED) {
		saved = errno;
		munmap(res, span);
		errno = saved;
		return MAP_FAILED;
	}
	if (from > res)
		munmap(res, (size_t)(from - res));
	if (at + len < res + span)
		munmap(at + len, (size_t)(res + span - (at + len)));
	return p;
}

void *shim_mmap_placed(size_t len, int prot, int fd, uint64_t offset, size_t skew)
{
	return place(0, len, prot, fd, offset, skew);
}

void *shim_mmap_led(size_t lead, size_t len, int prot, int fd, uint64_t offset, size_t skew)
{
	if (lead % 4096 != 0 || skew % 4096 != 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return place(lead, len, prot, fd, offset, skew);
}
