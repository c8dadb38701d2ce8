/* SPDX-License-Identifier: MIT */
/*
 * kernel-shim: the only code of mmio that touches device memory.
 *
 * Three layers, lowest first:
 *
 *  1. Raw access primitives (NASM, x86-64): one width-exact MOV per once-op;
 *     copies and fills made of aligned device accesses no wider than 8 bytes,
 *     never string instructions. No range checks. Every access that can
 *     fault is listed in an exception table.
 *  2. Fault recovery: a SIGBUS/SIGSEGV handler that resumes a faulting
 *     primitive at its fixup, so the call reports exactly how far it got.
 *  3. Windows: a (base, limit, width) view of mapped device memory with the
 *     checked operations (range, alignment, width, partial
 *     progress). The server and the direct-mode client both use these.
 *
 * Plus the mapping backends that produce device memory to put a window on.
 *
 * Unless said otherwise, functions are thread-safe and do not block.
 */
#ifndef MMIO_SHIM_H
#define MMIO_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mmio/rights.h>
#include <mmio/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * 1. Raw primitives. The caller guarantees that the address range is mapped
 *    (or that a fault there is to be reported), that once-op addresses are
 *    aligned to their width and, for a pinned width, that the address and
 *    length are multiples of it. Prefer the window functions below.
 * ------------------------------------------------------------------------ */

/* One load of exactly N bits from @dev into *@out. Returns MMIO_OK, or
 * MMIO_EFAULT if the load faulted (then *@out is untouched). */
int shim_raw_read8(const void *dev, uint8_t *out);
int shim_raw_read16(const void *dev, uint16_t *out);
int shim_raw_read32(const void *dev, uint32_t *out);
int shim_raw_read64(const void *dev, uint64_t *out);

/* One store of exactly N bits of @value to @dev. Returns MMIO_OK, or
 * MMIO_EFAULT if the store faulted (then nothing was written). */
int shim_raw_write8(void *dev, uint8_t value);
int shim_raw_write16(void *dev, uint16_t value);
int shim_raw_write32(void *dev, uint32_t value);
int shim_raw_write64(void *dev, uint64_t value);

/*
 * Copy @len bytes from device memory @dev to @dst (copy_from) or from @src to
 * device memory @dev (copy_to). @width 0 uses the widest naturally aligned
 * device access up to 8 bytes; 1, 2, 4 or 8 makes every device access exactly
 * that wide. Any other @width copies nothing. Either side may fault: the
 * return value is the exact number of bytes transferred, less than @len only
 * after a fault.
 */
size_t shim_raw_copy_from(void *dst, const void *dev, size_t len, unsigned width);
size_t shim_raw_copy_to(void *dev, const void *src, size_t len, unsigned width);

/* Store @byte to @len bytes of device memory at @dev, accesses as for the
 * copies. Returns the exact number of bytes written. */
size_t shim_raw_fill(void *dev, unsigned byte, size_t len, unsigned width);

/* ------------------------------------------------------------------------
 * 2. Fault recovery.
 * ------------------------------------------------------------------------ */

/*
 * Install the SIGBUS and SIGSEGV handlers that make faults inside the raw
 * primitives recoverable. Idempotent and thread-safe (the first call
 * installs; later calls return its result). Every window function calls it,
 * so an explicit call is only needed before using the raw primitives.
 *
 * A fault that is not at a listed primitive access, or a SIGBUS/SIGSEGV sent
 * by kill(2), goes to the handler that was installed before (or takes the
 * default action), exactly as if this handler did not exist. A program that
 * installs its own SIGBUS/SIGSEGV handler after this one must chain to the
 * previous handler to keep recovery working.
 *
 * Returns MMIO_OK, or MMIO_EINTERNAL if sigaction(2) failed.
 */
int shim_fault_recovery_install(void);

/*
 * The address (si_addr) of the last fault this thread recovered from, 0 if
 * none: tells a fault on device memory from one on the caller's buffer
 * (copies report both as MMIO_EFAULT). Async-signal-safe.
 */
uintptr_t shim_fault_address(void);

/*
 * Add another module's exception table, [@start, @stop) in the same format
 * as the primitives' (pairs of 32-bit offsets, each relative to itself: the
 * faulting instruction, then where to resume), or take one away before its
 * module is unloaded. Adding a table already known counts one more user;
 * taking it away counts one less, and the last one removes it. Up to
 * SHIM_EXTABLES tables at once (more: MMIO_ENOMEM). Thread-safe; not
 * async-signal-safe.
 */
#define SHIM_EXTABLES 128
int shim_extable_add(const void *start, const void *stop);
void shim_extable_remove(const void *start);

/* ------------------------------------------------------------------------
 * 3. Windows: checked access to [base, base + limit).
 * ------------------------------------------------------------------------ */

struct shim_window {
	void *base;	/* first byte of the window in this address space */
	size_t limit;	/* size of the window in bytes */
	unsigned width; /* 0: any width; 1/2/4/8: every copy's address and length are
			 * multiples of it (and with @widths 0, every access is this wide) */
	/* Copies and fills: the MMIO_WIDTH_BIT()s they may use, each step the
	 * widest of them its address is aligned to and the rest holds
	 * (shim_step_width()). 0: @width alone, or (@width 0) any. */
	unsigned widths;
};

/*
 * Describe the window [@base, @base + @limit) with pinned access @width
 * (0 for none). Returns MMIO_OK, or MMIO_EINVAL if @width is not 0/1/2/4/8,
 * @base is NULL with a non-zero @limit, the range wraps the address space,
 * or a pinned @base is not aligned to @width.
 */
int shim_window_init(struct shim_window *w, void *base, size_t limit, unsigned width);

/*
 * As shim_window_init(), for copies and fills that may use the widths of
 * @widths (MMIO_WIDTH_BIT()s, not 0): the smallest of them becomes the
 * window's width (every copy's address and length are multiples of it)
 * unless @widths allows every width; each step of a copy or fill is the
 * widest of @widths that its address is aligned to and the bytes left
 * hold (one width listed pins it). Returns as shim_window_init(), and
 * MMIO_EINVAL for @widths 0 or with bits past 8.
 */
int shim_window_init_widths(struct shim_window *w, void *base, size_t limit, unsigned widths);

/*
 * The width of the next device access of a copy or fill at address @addr
 * with @left bytes to go, allowed @widths (MMIO_WIDTH_BIT()s; 0 is any):
 * the widest allowed width @addr is aligned to and @left holds; 0 if none
 * is (a range the window's checks refuse).
 */
unsigned shim_step_width(uintptr_t addr, size_t left, unsigned widths);

/*
 * The sub-window [@offset, @offset + @len) of @w, same pinned width.
 * Returns MMIO_OK, or MMIO_EINVAL if the range is empty, overflows or ends
 * past the limit, or breaks the pinned width's alignment.
 */
int shim_window_slice(const struct shim_window *w, size_t offset, size_t len,
		      struct shim_window *out);

/*
 * The range check of every operation: MMIO_OK if @offset + @len neither
 * overflows nor ends past the limit (a zero-length range at the limit is
 * fine), else MMIO_EINVAL.
 */
int shim_window_check(const struct shim_window *w, size_t offset, size_t len);

/*
 * One load or store of exactly @width bytes (1, 2, 4 or 8) at @offset.
 * The value is passed in the low @width bytes of a uint64_t.
 *
 * Returns MMIO_OK; MMIO_EINVAL (nothing accessed) if @width is not 1/2/4/8,
 * differs from the window's pinned width, the range fails
 * shim_window_check(), the address is not aligned to @width, or (write) the
 * value does not fit in @width bytes; MMIO_EFAULT if the access faulted.
 */
int shim_read_once(const struct shim_window *w, size_t offset, unsigned width, uint64_t *value);
int shim_write_once(const struct shim_window *w, size_t offset, unsigned width, uint64_t value);

/*
 * Bulk copy between the window at @offset and the buffer @buf. On a pinned
 * window, the address and @len must be multiples of the width.
 *
 * Returns MMIO_OK with *@done = @len; MMIO_EINVAL with *@done = 0 (nothing
 * accessed) for a bad range or pinned-width violation; MMIO_EFAULT with
 * *@done = the exact number of bytes moved when a fault (device or buffer
 * side) stopped the copy. @done may be NULL.
 */
int shim_copy_from_device(const struct shim_window *w, size_t offset, void *buf, size_t len,
			  size_t *done);
int shim_copy_to_device(const struct shim_window *w, size_t offset, const void *buf, size_t len,
			size_t *done);

/*
 * Fill with @byte: @len 0 is MMIO_OK; @offset >= limit is
 * MMIO_EINVAL with 0 written; otherwise min(@len, limit - @offset) bytes are
 * written and, if that is short of @len, the result is MMIO_EINVAL with that
 * count. On a pinned window the address and @len must be multiples of the
 * width (else MMIO_EINVAL, 0 written). A fault gives MMIO_EFAULT with the
 * exact count written. @done may be NULL.
 */
int shim_fill(const struct shim_window *w, size_t offset, size_t len, uint8_t byte, size_t *done);

/* ------------------------------------------------------------------------
 * Placing mappings.
 * ------------------------------------------------------------------------ */

/* Device mappings start at this boundary; buffers one page past one. */
#define SHIM_MAP_ALIGN (2u << 20)

/*
 * mmap(@fd, @offset) for @len bytes, MAP_SHARED with @prot, at an address
 * @skew bytes past a multiple of SHIM_MAP_ALIGN (@skew < SHIM_MAP_ALIGN,
 * page-aligned). Device mappings use skew 0 and the buffers copies meet
 * them with (shared buffers) skew one page: then a device page and a buffer
 * page a copy touches together never share a slot of a direct-mapped TLB,
 * such as QEMU's software TLB under TCG, where a collision makes every
 * access of a copy miss (docs/PERFORMANCE.md). Large device mappings
 * also become eligible for large pages.
 *
 * Returns the mapping, or MAP_FAILED with errno set (as mmap(2)).
 */
void *shim_mmap_placed(size_t len, int prot, int fd, uint64_t offset, size_t skew);

/*
 * As shim_mmap_placed(), and @lead bytes (whole pages) of private, zeroed,
 * read-write memory right before the mapping, at p - @lead: a direct view
 * keeps its handle there, at a fixed distance from the device bytes it
 * maps. munmap(p - @lead, @lead + @len) takes both.
 *
 * Returns the mapping, or MAP_FAILED with errno set (as mmap(2)).
 */
void *shim_mmap_led(size_t lead, size_t len, int prot, int fd, uint64_t offset, size_t skew);

/* ------------------------------------------------------------------------
 * Mapping backends.
 * ------------------------------------------------------------------------ */

/* Cache policies are MMIO_CACHE_* of <mmio/rights.h>; a backend's set of them: */
#define SHIM_CACHE_BIT(c) (1u << (c))

/* A PCI function's address: domain:bus:device.function. */
struct shim_pci_address {
	uint16_t domain;
	uint8_t bus;
	uint8_t device;	  /* 0..31 */
	uint8_t function; /* 0..7 */
};

/* What to map. Each backend reads the fields it documents. */
struct shim_source {
	const char *backend; /* "sim", "pci" or "devmem" */
	const char *name;    /* region name, for messages and the memfd name */
	size_t size;	/* bytes to map; sim, devmem: required, > 0; pci: 0 = to the BAR's end */
	unsigned cache; /* MMIO_CACHE_*; must be one the backend can honour */

	/* pci: the function, by address (by_id false) or as the pci_index-th
	 * function (in address order) with vendor_id:device_id (by_id true).
	 * Without pci_index_given, an ID that more than one function has is
	 * an error naming them (the first four, and how many more): never the
	 * first one, silently. */
	bool by_id;
	struct shim_pci_address pci;
	uint16_t vendor_id, device_id;
	unsigned pci_index;
	bool pci_index_given;
	unsigned bar;	 /* 0..5 */
	uint64_t offset; /* of byte 0 in the BAR */

	/* devmem: physical address of byte 0. */
	uint64_t phys;

	/* pci: where sysfs is mounted (NULL: "/sys"). Tests point it at a
	 * tree of their own. */
	const char *sysfs_root;

	/* sim: leave the memory resizable, for fault injection
	 * (shim_sim_resize(), tests). Otherwise it is sealed against
	 * shrinking and growing, so that no holder of its descriptor (a
	 * read-write direct grant) can take the device from the others. */
	bool resizable;
};

/* A mapped device. Owned by the caller; release with shim_device_close(). */
struct shim_device {
	const struct shim_backend *backend;
	void *base; /* mapping of [0, size) */
	size_t size;
	unsigned cache; /* MMIO_CACHE_* */
	/*
	 * A descriptor that gives exactly this device and nothing more, for
	 * direct grants: mmap(fd, fd_offset) is byte 0. -1 if the backend has
	 * none that narrow (a part of a BAR, /dev/mem): such a device is never
	 * mapped into a client.
	 */
	int fd;
	uint64_t fd_offset;
	uint64_t source_size; /* pci: size of the whole BAR; else size */
	char where[64];	      /* pci: "0000:00:04.0 BAR0"; devmem: "phys 0x..."; sim: "" */
	uint64_t phys;	      /* pci, devmem: the physical address of byte 0; sim: 0 */
	/* Private to the backend. */
	void *map;	/* the whole mapping (base may lie inside it) */
	size_t map_len; /* its length */
};

/* One backend: a const table of operations, one file each (backend_*.c). */
struct shim_backend {
	const char *name;
	unsigned cache_mask; /* SHIM_CACHE_BIT()s of the cache policies it can honour */
	/* Map @src into @dev. On failure return a status and write a sentence
	 * naming the problem into @err (at most @errlen bytes, terminated). */
	int (*open)(const struct shim_source *src, struct shim_device *dev, char *err,
		    size_t errlen);
	void (*close)(struct shim_device *dev);
};

/* The backend called @name, or NULL if this build has none by that name. */
const struct shim_backend *shim_backend_find(const char *name);

/*
 * Map @src with its backend into *@dev (zeroed first; dev->fd = -1 on
 * failure). A cache policy the backend cannot honour is an error, never a
 * silent downgrade.
 *
 * Returns MMIO_OK; MMIO_ENOENT for an unknown backend; MMIO_EINVAL for a
 * bad source (zero size, unsupported cache policy); MMIO_ENOMEM or
 * MMIO_EINTERNAL when the system refuses. On error a sentence naming the
 * region and the problem is written to @err (may be NULL if @errlen is 0).
 */
int shim_device_open(const struct shim_source *src, struct shim_device *dev, char *err,
		     size_t errlen);

/* Where a pci source lies, found without mapping it (shim_pci_resolve()). */
struct shim_resolved {
	char where[64]; /* "0000:00:07.0 BAR0", as shim_device.where */
	uint64_t phys;	/* physical address of byte 0 (the BAR's start + offset) */
	uint64_t size;	/* bytes of the region (the rest of the BAR for size 0) */
};

/*
 * The function, BAR and physical range pci source @src resolves to (in its
 * sysfs_root), with the same checks and messages as opening it, but
 * nothing mapped, opened for writing or required of a driver: for tools
 * that explain a policy. Returns MMIO_OK, or the status and message the
 * open would give for the function and BAR (MMIO_ENOENT, MMIO_EINVAL).
 */
int shim_pci_resolve(const struct shim_source *src, struct shim_resolved *out, char *err,
		     size_t errlen);

/* Unmap and release @dev. NULL, or a device that failed to open, is fine. */
void shim_device_close(struct shim_device *dev);

/*
 * Fault injection for the sim backend: change the size of the memory behind
 * @dev to @new_size bytes without touching the mapping. Accesses to whole
 * pages past the new end then raise a real SIGBUS, which the primitives
 * report as MMIO_EFAULT; growing back makes them work again (reading zeros).
 * Only for a device opened with shim_source.resizable. Returns MMIO_OK,
 * MMIO_EINVAL if @dev is not a sim device or @new_size is larger than the
 * mapping, MMIO_EINTERNAL if ftruncate(2) failed (as it does on a device
 * opened without resizable: its memory is sealed).
 */
int shim_sim_resize(struct shim_device *dev, size_t new_size);

#ifdef __cplusplus
}
#endif

#endif /* MMIO_SHIM_H */
