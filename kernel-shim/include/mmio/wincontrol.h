/* SPDX-License-Identifier: MIT */
/*
 * kernel-shim: the server's side of the mmio-window kernel module
 * (kernel-shim/module, ABI in <mmio/window_uapi.h>). The server calls these
 * and never issues the module's ioctls itself; every failure comes back as
 * an MMIO_* status and a sentence that names the window and the cause.
 *
 * A separate header from <mmio/shim.h> because only the server links it
 * (libmmio never talks to the module: a client only maps the window
 * descriptor it is handed).
 *
 * Thread-safety: the functions keep no state; concurrent calls on one
 * control descriptor are serialized by the module.
 */
#ifndef MMIO_WINCONTROL_H
#define MMIO_WINCONTROL_H

#include <mmio/shim.h>
#include <mmio/status.h>
#include <mmio/window_uapi.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a window covers. */
struct shim_window_spec {
	bool phys;		     /* true: a physical range; false: a PCI BAR */
	struct shim_pci_address pci; /* PCI: the function */
	unsigned bar;		     /* PCI: 0..5 */
	uint64_t offset; /* PCI: of byte 0 in the BAR; phys: its address. Page-aligned */
	uint64_t length; /* bytes, page-aligned, > 0 */
	unsigned cache;	 /* MMIO_WINDOW_CACHE_* (== MMIO_CACHE_* for 0..3) */
	bool writable;	 /* false: read-only window (PROT_WRITE refused) */
};

/* A window made by shim_window_create(). */
struct shim_window_made {
	int fd;	       /* the window descriptor (O_CLOEXEC); mmap offset 0 is byte 0 */
	uint64_t id;   /* for shim_window_revoke() and shim_window_stats() */
	uint64_t phys; /* physical address of byte 0 */
};

/*
 * Open the control device (MMIO_WINDOW_DEVICE) into *@control (O_CLOEXEC).
 * Closing it revokes every window it created.
 *
 * Returns MMIO_OK; MMIO_ENOENT if the device does not exist (the module is
 * not loaded); MMIO_EACCES if the caller may not open it (no
 * CAP_SYS_RAWIO, or file permissions); MMIO_EINTERNAL otherwise. On
 * error *@control is -1 and a sentence is written to @err (@errlen bytes,
 * terminated; @err may be NULL if @errlen is 0).
 */
int shim_window_open_control(int *control, char *err, size_t errlen);

/*
 * Create the window @spec on @control; on success fill *@out (the caller
 * owns out->fd). Nothing is created on failure (out->fd = -1).
 *
 * Returns MMIO_OK, or:
 *   MMIO_EINVAL   malformed spec (alignment, zero length, overflow, bad
 *                 cache, longer than MMIO_WINDOW_MAX_LENGTH), a range past
 *                 the BAR, or a cache type the kernel
 *                 cannot give exactly (the sentence names both types);
 *   MMIO_ENOENT   no such PCI function, or no memory BAR there;
 *   MMIO_EBUSY    a kernel driver is bound to the function, or has claimed
 *                 part of the range;
 *   MMIO_EACCES   the range includes RAM, the kernel is locked down, or the
 *                 caller lacks CAP_SYS_RAWIO;
 *   MMIO_ENOMEM   out of memory, descriptors, or windows;
 *   MMIO_EINTERNAL anything else (e.g. a module of another ABI).
 * The sentence names the window ("0000:00:04.0 BAR0 [0x0, +0x1000) uc") and
 * the cause.
 */
int shim_window_create(int control, const struct shim_window_spec *spec,
		       struct shim_window_made *out, char *err, size_t errlen);

/*
 * Revoke window @id of @control: every mapping of it, in every process,
 * faults (SIGBUS) from now on. Idempotent. Returns MMIO_OK; MMIO_ENOENT if
 * @control never issued @id; MMIO_EINTERNAL otherwise (with a sentence).
 */
int shim_window_revoke(int control, uint64_t id, char *err, size_t errlen);

/*
 * The counters of window @id of @control, or (@id 0) their sums, into
 * *@out. Returns MMIO_OK; MMIO_ENOENT if @id is unknown or closed
 * everywhere; MMIO_EINTERNAL otherwise (with a sentence).
 */
int shim_window_stats(int control, uint64_t id, struct mmio_window_stats *out, char *err,
		      size_t errlen);

/* An interrupt opened by shim_irq_open(). */
struct shim_irq_made {
	int fd;	      /* the interrupt descriptor (O_CLOEXEC): read/poll/UNMASK */
	uint64_t id;  /* for shim_irq_revoke() */
	unsigned irq; /* the Linux interrupt number (as in /proc/interrupts) */
	bool msi;     /* the function's MSI vector, not its INTx line */
};

/*
 * Open the INTx interrupt of PCI function @fn on @control; on success fill
 * *@out (the caller owns out->fd). The function's INTx is masked by the
 * handler at each interrupt until shim_irq_unmask(). Nothing is opened on
 * failure (out->fd = -1).
 *
 * Returns MMIO_OK, or:
 *   MMIO_ENOENT   no such PCI function (or it cannot be enabled);
 *   MMIO_EBUSY    a kernel driver is bound to it, or its interrupt is held
 *                 already (by this or any other control descriptor);
 *   MMIO_EINVAL   the function has no INTx, or cannot mask it;
 *   MMIO_EACCES   the caller lacks CAP_SYS_RAWIO;
 *   MMIO_ENOMEM   out of memory or descriptors;
 *   MMIO_EINTERNAL anything else.
 * The sentence names the function and the cause.
 */
int shim_irq_open(int control, const struct shim_pci_address *fn, struct shim_irq_made *out,
		  char *err, size_t errlen);

/*
 * The same with IRQ_OPEN's @flags: 0 (INTx) or MMIO_WINDOW_IRQ_MSI (the
 * function's one MSI vector: nothing is masked, each message counts once).
 * With MMIO_WINDOW_IRQ_MSI, MMIO_EINVAL also means "no MSI capability, or
 * no vector" (the sentence says so).
 */
int shim_irq_open_flags(int control, const struct shim_pci_address *fn, unsigned flags,
			struct shim_irq_made *out, char *err, size_t errlen);

/*
 * Revoke interrupt @id of @control: the line is freed, the function left
 * masked, and a reader of the descriptor, in any process, is woken with
 * ENODEV. Idempotent. Returns MMIO_OK; MMIO_ENOENT if @control never
 * issued @id; MMIO_EINTERNAL otherwise (with a sentence).
 */
int shim_irq_revoke(int control, uint64_t id, char *err, size_t errlen);

/* Is interrupt @id of @control still held (its descriptor open somewhere,
 * not revoked)? False also for an id @control never issued, or an error. */
bool shim_irq_held(int control, uint64_t id);

/*
 * Unmask the interrupt of descriptor @fd (after the device has been
 * acknowledged). Returns MMIO_OK; MMIO_EREVOKED once revoked;
 * MMIO_EINVAL if @fd is not an interrupt descriptor; MMIO_EINTERNAL
 * otherwise. Needs no privilege: the descriptor is the capability.
 */
int shim_irq_unmask(int fd, char *err, size_t errlen);

/* The counters and state of interrupt descriptor @fd into *@out. Returns
 * MMIO_OK, MMIO_EINVAL (not an interrupt descriptor) or MMIO_EINTERNAL. */
int shim_irq_info(int fd, struct mmio_window_irq_info *out, char *err, size_t errlen);

/*
 * The same for interrupt @id of @control, whose opener no longer holds the
 * descriptor. Returns MMIO_OK; MMIO_ENOENT if @control never issued @id or
 * its descriptor is closed everywhere; MMIO_EINTERNAL otherwise (a module
 * that predates this call included), with a sentence.
 */
int shim_irq_info_id(int control, uint64_t id, struct mmio_window_irq_info *out, char *err,
		     size_t errlen);

/* "uc", "wc", "wt", "wb", "uc-strict", or "unknown" for any other value. */
const char *shim_window_cache_name(unsigned cache);

#ifdef __cplusplus
}
#endif

#endif /* MMIO_WINCONTROL_H */
