/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * The user-space ABI of the mmio-window kernel module (kernel-shim/module):
 * page-exact, cache-exact, revocable windows on device memory.
 *
 * Shared verbatim by the module and by user space (kernel-shim/wincontrol.c);
 * plain C, <linux/types.h> types only, no user-space or kernel headers
 * beyond <linux/ioctl.h>.
 *
 * Model
 * -----
 * A privileged process (the mmio server) opens the control device
 * /dev/mmio-window (mode 0600; the opener and every ioctl caller needs
 * CAP_SYS_RAWIO, else EPERM). MMIO_WINDOW_IOC_CREATE makes a *window*: a
 * page-aligned range of a PCI function's memory BAR or of physical address
 * space, with one cache type and read-only or read-write access. It
 * returns a new descriptor for the window (O_CLOEXEC) and an id.
 *
 * The window descriptor can be passed to other processes (SCM_RIGHTS).
 * mmap(2) of it:
 *   - must be MAP_SHARED (MAP_PRIVATE: EINVAL);
 *   - covers pages [pgoff, pgoff + len/PAGE_SIZE) of the window, which must
 *     lie inside it (else EINVAL): no byte outside the window is reachable;
 *   - of a read-only window refuses PROT_WRITE, and mprotect(PROT_WRITE)
 *     of such a mapping fails, both with EACCES;
 *   - of a revoked window fails with ENODEV.
 * Pages are inserted at fault time (VM_IO|VM_PFNMAP: get_user_pages()
 * cannot pin them). The descriptor supports nothing but mmap and close.
 *
 * Revocation: MMIO_WINDOW_IOC_REVOKE of a window's id, the close of the
 * control descriptor that created it (so a crashed server fails closed),
 * or, for a PCI window, a kernel driver binding to the function or the
 * function's removal, removes the window's pages from every process that mapped it, forked
 * children included; the next access there raises SIGBUS, and so does
 * every later one. Revocation also releases the window's cache-type
 * reservation. It cannot be undone: create a new window instead.
 *
 * Cache types are exact: the window holds a kernel reservation of its type
 * (an ioremap of the range) for as long as it is not revoked, and CREATE
 * compares the type the kernel applies with the one asked for. If they
 * differ (write-back asked on MMIO, or another type already reserved on an
 * overlapping range), CREATE fails with EOPNOTSUPP and reports the type
 * found in @applied; it never downgrades silently.
 *
 * Ids are per control descriptor, start at 1, are never reused within it.
 *
 * Versioning: every argument struct starts with @size, which must be the
 * size of that struct in the ABI version the caller was built for (the
 * *_SIZE_V1 constants). Reserved fields and unused flag bits must be zero.
 * A later ABI version only appends fields and accepts the older sizes.
 */
#ifndef MMIO_WINDOW_UAPI_H
#define MMIO_WINDOW_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MMIO_WINDOW_DEVICE	"/dev/mmio-window"
#define MMIO_WINDOW_ABI_VERSION 2 /* 2: interrupts */

/*
 * Cache types. The numbers of the first four are those of the policy's
 * cache names (MMIO_CACHE_* in <mmio/rights.h>), so the server passes its
 * value through.
 *   UC        uncached-minus (PAT UC-): what ioremap() and sysfs resourceN
 *             mappings give; an MTRR may still make it write-combining.
 *   WC        write-combining.
 *   WT        write-through.
 *   WB        write-back; on MMIO the kernel applies UC- unless the MTRRs
 *             say write-back there, so it is usually refused (EOPNOTSUPP).
 *   UC_STRICT strongly uncached (PAT UC), no MTRR can override it.
 */
enum mmio_window_cache {
	MMIO_WINDOW_CACHE_UC = 0,
	MMIO_WINDOW_CACHE_WC = 1,
	MMIO_WINDOW_CACHE_WT = 2,
	MMIO_WINDOW_CACHE_WB = 3,
	MMIO_WINDOW_CACHE_UC_STRICT = 4,
	MMIO_WINDOW_CACHE_COUNT = 5,
};
/* Only in @applied: the conflicting type could not be determined. */
#define MMIO_WINDOW_CACHE_UNKNOWN 0xffffffffu

/* mmio_window_create.flags */
#define MMIO_WINDOW_PCI		 (1u << 0) /* a BAR of a PCI function */
#define MMIO_WINDOW_PHYS	 (1u << 1) /* a physical address range */
#define MMIO_WINDOW_RW		 (1u << 2) /* read-write; without it, read-only */
#define MMIO_WINDOW_CREATE_FLAGS (MMIO_WINDOW_PCI | MMIO_WINDOW_PHYS | MMIO_WINDOW_RW)

/*
 * Why CREATE refused (mmio_window_create.refusal), so that a message can
 * name the cause without guessing from errno. 0 on success.
 */
enum mmio_window_refusal {
	MMIO_WINDOW_OK = 0,
	MMIO_WINDOW_BAD_ARGUMENT = 1,	/* EINVAL: a field is malformed */
	MMIO_WINDOW_NO_DEVICE = 2,	/* ENODEV: no such function, or no memory BAR there */
	MMIO_WINDOW_OUT_OF_BAR = 3,	/* ERANGE: offset + length past the BAR (or the CPU's
					 * physical address width for PHYS) */
	MMIO_WINDOW_RAM = 4,		/* EADDRNOTAVAIL: the range includes System RAM */
	MMIO_WINDOW_CLAIMED = 5,	/* EADDRINUSE: a kernel driver has claimed (part of)
					 * the range (a busy iomem resource) */
	MMIO_WINDOW_DRIVER_BOUND = 6,	/* EBUSY: the PCI function has a kernel driver bound */
	MMIO_WINDOW_LOCKDOWN = 7,	/* EACCES: kernel lockdown forbids PCI/physical access */
	MMIO_WINDOW_CACHE_MISMATCH = 8, /* EOPNOTSUPP: the kernel applies (or has reserved) a
					 * different cache type: see @applied */
	MMIO_WINDOW_LIMIT = 9,		/* ENOSPC: too many live windows on this control
					 * descriptor (MMIO_WINDOW_MAX_PER_CONTROL) */
	MMIO_WINDOW_NO_MEMORY = 10,	/* ENOMEM, or EMFILE/ENFILE: out of memory/descriptors */
	MMIO_WINDOW_NOT_PERMITTED = 11, /* EPERM: the caller lacks CAP_SYS_RAWIO */
	MMIO_WINDOW_TOO_LARGE = 12,	/* EFBIG: length > MMIO_WINDOW_MAX_LENGTH */
	MMIO_WINDOW_NO_IRQ = 13,	/* ENXIO: IRQ_OPEN: the function has no INTx pin or
					 * line, or cannot mask INTx (PCI 2.3) */
	MMIO_WINDOW_IRQ_HELD = 14,	/* EBUSY: IRQ_OPEN: the function's interrupt is
					 * held already (by any control descriptor) */
};

/*
 * The longest window: the reservation that holds its cache type is a kernel
 * mapping of the whole range, whose page tables (up to 2 MiB for 1 GiB
 * mapped with 4 KiB pages) are the kernel's memory. Split a longer range.
 */
#define MMIO_WINDOW_MAX_LENGTH (1ull << 30)

#define MMIO_WINDOW_MAX_PER_CONTROL 65536u

/*
 * MMIO_WINDOW_IOC_CREATE argument.
 *
 * In:
 *   size        MMIO_WINDOW_CREATE_SIZE_V1.
 *   flags       exactly one of MMIO_WINDOW_PCI / MMIO_WINDOW_PHYS, optionally
 *               MMIO_WINDOW_RW.
 *   cache       enum mmio_window_cache (< MMIO_WINDOW_CACHE_COUNT).
 *   pci_domain, pci_bus, pci_slot (0..31), pci_function (0..7), pci_bar (0..5)
 *               PCI only; all zero for PHYS. The BAR must be a memory BAR
 *               whose start is page-aligned.
 *   offset      PCI: of the window's first byte in the BAR; PHYS: its
 *               physical address. Page-aligned.
 *   length      bytes, page-aligned, not 0, at most MMIO_WINDOW_MAX_LENGTH;
 *               offset + length must not overflow.
 * Out (on success):
 *   id          the window's id (>= 1).
 *   fd          the window descriptor (O_CLOEXEC; O_RDWR for RW windows,
 *               else O_RDONLY).
 *   phys        physical address of the window's first byte.
 * Out (also on failure, except EPERM and EFAULT; id, phys 0 and fd -1
 * then; input values of the out fields are ignored):
 *   refusal     enum mmio_window_refusal.
 *   applied     the cache type the kernel applies to the range: equal to
 *               @cache on success; on MMIO_WINDOW_CACHE_MISMATCH the other
 *               type (or MMIO_WINDOW_CACHE_UNKNOWN). Otherwise @cache.
 *
 * Errors (errno of ioctl(2)), checked in this order:
 *   EPERM       the caller lacks CAP_SYS_RAWIO.
 *   EFAULT      the argument is not readable/writable memory.
 *   EINVAL      bad size, unknown flag, not exactly one of PCI/PHYS, cache out
 *               of range, unaligned or zero length, unaligned offset, overflow,
 *               non-zero reserved field or padding, PCI fields set for PHYS.
 *   EFBIG       length > MMIO_WINDOW_MAX_LENGTH (refusal TOO_LARGE).
 *   EACCES      kernel lockdown (LOCKDOWN_PCI_ACCESS for PCI windows,
 *               LOCKDOWN_DEV_MEM for PHYS).
 *   ENODEV      no such PCI function, or the BAR is absent, not memory, or
 *               not page-aligned.
 *   ERANGE      the window ends past the BAR, or past the CPU's physical
 *               address width.
 *   EBUSY       the PCI function has a driver bound.
 *   EADDRNOTAVAIL  the range intersects System RAM.
 *   EADDRINUSE  a kernel driver has claimed part of the range.
 *   EOPNOTSUPP  the cache type cannot be had exactly (see @applied).
 *   ENOSPC      MMIO_WINDOW_MAX_PER_CONTROL live windows already.
 *   ENOMEM, EMFILE, ENFILE  out of memory or descriptors.
 */
struct mmio_window_create {
	__u32 size;
	__u32 flags;
	__u32 cache;
	__u32 pci_domain;
	__u8 pci_bus;
	__u8 pci_slot;
	__u8 pci_function;
	__u8 pci_bar;
	__u32 pad0; /* must be 0 */
	__u64 offset;
	__u64 length;
	/* out */
	__u64 id;
	__u64 phys;
	__s32 fd;
	__u32 refusal;
	__u32 applied;
	__u32 pad1;	   /* must be 0 */
	__u64 reserved[4]; /* must be 0 */
};
#define MMIO_WINDOW_CREATE_SIZE_V1 104u

/*
 * MMIO_WINDOW_IOC_REVOKE argument: revoke window @id of this control
 * descriptor (size MMIO_WINDOW_REVOKE_SIZE_V1, flags 0).
 *
 * Idempotent: revoking a window already revoked, or one whose every
 * descriptor and mapping is gone, succeeds. It works whether or not the
 * caller still holds the window descriptor.
 *
 * Errors: EPERM (no CAP_SYS_RAWIO), EFAULT, EINVAL (bad size, flags or
 * reserved field), ENOENT (@id was never issued by this control
 * descriptor; 0 never is).
 */
struct mmio_window_revoke {
	__u32 size;
	__u32 flags;
	__u64 id;
	__u64 reserved[2]; /* must be 0 */
};
#define MMIO_WINDOW_REVOKE_SIZE_V1 32u

/*
 * MMIO_WINDOW_IOC_STATS argument: counters of window @id of this control
 * descriptor, or, for @id 0, the sums over every window it created.
 *
 * In: size (MMIO_WINDOW_STATS_SIZE_V1), flags (0), id.
 * Out:
 *   version   MMIO_WINDOW_ABI_VERSION of the module.
 *   windows   windows created (1 for one window).
 *   live      windows neither revoked nor closed everywhere.
 *   revoked   windows revoked (by REVOKE or the control's close).
 *   faults    pages inserted at fault time.
 *   sigbus    faults answered with SIGBUS because the window was revoked.
 *   maps      successful mmap(2) calls.
 *   mapped    mappings that exist now (a forked child's copy counts).
 *
 * Errors: EPERM, EFAULT, EINVAL (bad size, flags, reserved), ENOENT
 * (@id was not issued by this control descriptor, or the window has been
 * closed everywhere: its counters are then only in the sums).
 */
struct mmio_window_stats {
	__u32 size;
	__u32 flags;
	__u64 id;
	/* out */
	__u32 version;
	__u32 pad0;
	__u64 windows;
	__u64 live;
	__u64 revoked;
	__u64 faults;
	__u64 sigbus;
	__u64 maps;
	__u64 mapped;
	__u64 reserved[4]; /* must be 0 on input */
};
#define MMIO_WINDOW_STATS_SIZE_V1 112u

/*
 * Interrupts
 * ----------
 * MMIO_WINDOW_IOC_IRQ_OPEN (on the control descriptor, CAP_SYS_RAWIO)
 * requests the INTx line of a PCI function that has no kernel driver bound
 * and returns an *interrupt descriptor* (O_CLOEXEC) and an id. Only one
 * interrupt descriptor at a time holds a function's interrupt, across every
 * control descriptor (EBUSY, refusal IRQ_HELD, for the second).
 *
 * The handler runs in hard-interrupt context, checks that this function
 * asserts the (possibly shared) line, masks its INTx (command register bit
 * PCI_COMMAND_INTX_DISABLE) and counts one interrupt. The function stays
 * masked until the holder calls MMIO_WINDOW_IRQ_IOC_UNMASK, after it has
 * acknowledged the device: a holder that never acknowledges gets exactly
 * one interrupt and the machine nothing more (no interrupt storm).
 *
 * The interrupt descriptor is the capability: it can be passed to another
 * process (SCM_RIGHTS), and its operations need no privilege:
 *   read(2)   of at least 8 bytes: blocks until at least one interrupt
 *             arrived since the last read, then stores their number as a
 *             native __u64 and returns 8 (EAGAIN with O_NONBLOCK, EINVAL
 *             for fewer than 8 bytes, EINTR on a signal). After revocation
 *             it fails with ENODEV, and so does every later read; a
 *             blocked reader is woken.
 *   poll(2)   EPOLLIN when a read would not block for an interrupt;
 *             EPOLLIN|EPOLLERR|EPOLLHUP once revoked.
 *   ioctl MMIO_WINDOW_IRQ_IOC_UNMASK (argument 0): unmask the function's
 *             INTx. If the function still asserts it (the device was not
 *             acknowledged), the line stays masked and one more interrupt
 *             is counted at once, so that the count matches what an
 *             unmasked level-triggered line would have delivered. A no-op
 *             when not masked. ENODEV once revoked.
 *   ioctl MMIO_WINDOW_IRQ_IOC_INFO: counters and state.
 * At IRQ_OPEN the function's INTx is masked, the line requested, then
 * unmasked as by UNMASK: an interrupt already pending counts at once.
 *
 * Revocation: MMIO_WINDOW_IOC_IRQ_REVOKE of its id, the close of the
 * control descriptor that opened it, a kernel driver binding to the
 * function or the function's removal, or the last close of the interrupt
 * descriptor, frees the line and leaves the function's INTx masked; the
 * function can be opened again at once. Interrupt ids are per control
 * descriptor, a sequence of their own (from 1, never reused). Lockdown
 * does not refuse interrupts: they give no access to device memory.
 */

/* mmio_window_irq_info.state */
#define MMIO_WINDOW_IRQ_MASKED	(1u << 0) /* INTx masked, waiting for UNMASK */
#define MMIO_WINDOW_IRQ_REVOKED (1u << 1)
#define MMIO_WINDOW_IRQ_IS_MSI	(1u << 2) /* opened with MMIO_WINDOW_IRQ_MSI */

/*
 * mmio_window_irq_open.flags: MMIO_WINDOW_IRQ_MSI takes the function's MSI
 * (one vector; bus mastering is enabled for it) instead of INTx. A message
 * is an edge: nothing stays asserted, so nothing is masked and UNMASK is a
 * no-op; each message counts once. On revocation the vector is freed, bus
 * mastering turned off and INTx left masked. While the vector is held, a
 * kernel driver cannot bind to the function (its probe finds the MSI
 * code's resources and fails with EBUSY); INTx is revoked by a bind.
 */
#define MMIO_WINDOW_IRQ_MSI (1u << 0)

/*
 * MMIO_WINDOW_IOC_IRQ_OPEN argument.
 *
 * In:
 *   size        MMIO_WINDOW_IRQ_OPEN_SIZE_V1.
 *   flags       0 (INTx) or MMIO_WINDOW_IRQ_MSI.
 *   pci_domain, pci_bus, pci_slot (0..31), pci_function (0..7).
 * Out (on success):
 *   id          the interrupt's id (>= 1), for IRQ_REVOKE.
 *   fd          the interrupt descriptor (O_CLOEXEC, O_RDWR).
 *   irq         the Linux interrupt number of the line (for /proc/interrupts).
 * Out (also on failure, except EPERM and EFAULT; id 0, fd -1, irq 0 then):
 *   refusal     enum mmio_window_refusal.
 *
 * Errors, checked in this order:
 *   EPERM       the caller lacks CAP_SYS_RAWIO.
 *   EFAULT      the argument is not readable/writable memory.
 *   EINVAL      bad size, unknown flag, non-zero pad or reserved field, slot > 31,
 *               function > 7 (refusal BAD_ARGUMENT).
 *   ENODEV      no such PCI function, or it cannot be enabled (NO_DEVICE).
 *   EBUSY       a kernel driver is bound to it (DRIVER_BOUND), or its
 *               interrupt is held already (IRQ_HELD).
 *   ENXIO       no INTx pin or line, or INTx cannot be masked; with
 *               MMIO_WINDOW_IRQ_MSI: no MSI capability, or no vector (NO_IRQ).
 *   ENOMEM, EMFILE, ENFILE  out of memory or descriptors (NO_MEMORY); any
 *               other errno of request_irq() is passed on (NO_IRQ).
 */
struct mmio_window_irq_open {
	__u32 size;
	__u32 flags;
	__u32 pci_domain;
	__u8 pci_bus;
	__u8 pci_slot;
	__u8 pci_function;
	__u8 pad0; /* must be 0 */
	/* out */
	__u64 id;
	__s32 fd;
	__u32 refusal;
	__u32 irq;
	__u32 pad1;	   /* must be 0 */
	__u64 reserved[4]; /* must be 0 */
};
#define MMIO_WINDOW_IRQ_OPEN_SIZE_V1 72u

/*
 * MMIO_WINDOW_IRQ_IOC_INFO argument (on an interrupt descriptor).
 * In: size (MMIO_WINDOW_IRQ_INFO_SIZE_V1), flags (0), reserved (0); for
 * MMIO_WINDOW_IOC_IRQ_INFO on the control descriptor also id.
 * Out:
 *   id       the interrupt's id on its control descriptor.
 *   total    interrupts counted since IRQ_OPEN.
 *   pending  interrupts not yet returned by read(2).
 *   unmasks  successful UNMASK calls that unmasked the line.
 *   irq      the Linux interrupt number (0 once revoked).
 *   state    MMIO_WINDOW_IRQ_MASKED, MMIO_WINDOW_IRQ_REVOKED.
 * Errors: EFAULT, EINVAL (bad size, flags or reserved field).
 */
struct mmio_window_irq_info {
	__u32 size;
	__u32 flags;
	/* out */
	__u64 id;
	__u64 total;
	__u64 pending;
	__u64 unmasks;
	__u32 irq;
	__u32 state;
	__u64 reserved[2]; /* must be 0 on input */
};
#define MMIO_WINDOW_IRQ_INFO_SIZE_V1 64u

#define MMIO_WINDOW_IOC_MAGIC  0xE8
#define MMIO_WINDOW_IOC_CREATE _IOWR(MMIO_WINDOW_IOC_MAGIC, 1, struct mmio_window_create)
#define MMIO_WINDOW_IOC_REVOKE _IOW(MMIO_WINDOW_IOC_MAGIC, 2, struct mmio_window_revoke)
#define MMIO_WINDOW_IOC_STATS  _IOWR(MMIO_WINDOW_IOC_MAGIC, 3, struct mmio_window_stats)
/*
 * On the control descriptor. IRQ_REVOKE takes the REVOKE argument (an
 * interrupt's id; errors as for REVOKE), and one flag:
 * MMIO_WINDOW_IRQ_PROBE revokes nothing but says whether the interrupt is
 * still held: 0 if its descriptor is open somewhere and not revoked,
 * ESRCH if it was revoked or closed everywhere (so that the server can
 * forget interrupts their holder closed).
 */
#define MMIO_WINDOW_IRQ_PROBE	   (1u << 0)
#define MMIO_WINDOW_IOC_IRQ_OPEN   _IOWR(MMIO_WINDOW_IOC_MAGIC, 4, struct mmio_window_irq_open)
#define MMIO_WINDOW_IOC_IRQ_REVOKE _IOW(MMIO_WINDOW_IOC_MAGIC, 5, struct mmio_window_revoke)
/* On an interrupt descriptor. UNMASK's argument must be 0 (else EINVAL). */
#define MMIO_WINDOW_IRQ_IOC_UNMASK _IO(MMIO_WINDOW_IOC_MAGIC, 6)
#define MMIO_WINDOW_IRQ_IOC_INFO   _IOWR(MMIO_WINDOW_IOC_MAGIC, 7, struct mmio_window_irq_info)
/*
 * On the control descriptor (ABI 2, added later: ENOTTY from an older
 * module): INFO of the interrupt @id (input here) that this control
 * descriptor opened, for the opener that handed its descriptor on.
 * Errors: EPERM, EFAULT, EINVAL (as for INFO), ENOENT (@id never issued
 * here, or its descriptor closed everywhere).
 */
#define MMIO_WINDOW_IOC_IRQ_INFO _IOWR(MMIO_WINDOW_IOC_MAGIC, 8, struct mmio_window_irq_info)

#endif /* MMIO_WINDOW_UAPI_H */
