/* SPDX-License-Identifier: MIT */
/*
 * The server's side of the mmio-window module: the only file that issues
 * its ioctls, and the one place where its errnos become MMIO_* statuses and
 * sentences.
 */
#include "backend.h"

#include <mmio/wincontrol.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

_Static_assert(sizeof(struct mmio_window_create) == MMIO_WINDOW_CREATE_SIZE_V1,
	       "mmio_window_create layout");
_Static_assert(sizeof(struct mmio_window_revoke) == MMIO_WINDOW_REVOKE_SIZE_V1,
	       "mmio_window_revoke layout");
_Static_assert(sizeof(struct mmio_window_stats) == MMIO_WINDOW_STATS_SIZE_V1,
	       "mmio_window_stats layout");
_Static_assert(sizeof(struct mmio_window_irq_open) == MMIO_WINDOW_IRQ_OPEN_SIZE_V1,
	       "mmio_window_irq_open layout");
_Static_assert(sizeof(struct mmio_window_irq_info) == MMIO_WINDOW_IRQ_INFO_SIZE_V1,
	       "mmio_window_irq_info layout");
_Static_assert(MMIO_WINDOW_MAX_LENGTH == 1ull << 30, "the sentence below says 1 GiB");
_Static_assert(MMIO_WINDOW_CACHE_UC == MMIO_CACHE_UNCACHED &&
		       MMIO_WINDOW_CACHE_WC == MMIO_CACHE_WRITE_COMBINING &&
		       MMIO_WINDOW_CACHE_WT == MMIO_CACHE_WRITE_THROUGH &&
		       MMIO_WINDOW_CACHE_WB == MMIO_CACHE_WRITE_BACK,
	       "window cache numbers are the policy's");

const char *shim_window_cache_name(unsigned cache)
{
	static const char *const names[MMIO_WINDOW_CACHE_COUNT] = {
		[MMIO_WINDOW_CACHE_UC] = "uc",
		[MMIO_WINDOW_CACHE_WC] = "wc",
		[MMIO_WINDOW_CACHE_WT] = "wt",
		[MMIO_WINDOW_CACHE_WB] = "wb",
		[MMIO_WINDOW_CACHE_UC_STRICT] = "uc-strict",
	};

	return cache < MMIO_WINDOW_CACHE_COUNT ? names[cache] : "unknown";
}

int shim_window_open_control(int *control, char *err, size_t errlen)
{
	int fd = open(MMIO_WINDOW_DEVICE, O_RDWR | O_CLOEXEC);
	int saved = errno;

	*control = fd;
	if (fd >= 0)
		return MMIO_OK;
	if (saved == ENOENT || saved == ENODEV || saved == ENXIO) {
		shim_errorf(err, errlen, "%s: %s (is the mmio-window module loaded?)",
			    MMIO_WINDOW_DEVICE, strerror(saved));
		return MMIO_ENOENT;
	}
	if (saved == EPERM || saved == EACCES) {
		shim_errorf(err, errlen, "%s: %s (it needs root with CAP_SYS_RAWIO)",
			    MMIO_WINDOW_DEVICE, strerror(saved));
		return MMIO_EACCES;
	}
	shim_errorf(err, errlen, "%s: %s", MMIO_WINDOW_DEVICE, strerror(saved));
	return MMIO_EINTERNAL;
}

/* "0000:00:04.0 BAR0 [0x1000, +0x1000) wc ro" or "phys [0xfe000000, +0x1000) uc rw". */
static void window_describe(const struct shim_window_spec *s, char *buf, size_t len)
{
	char where[48];

	if (s->phys)
		snprintf(where, sizeof(where), "phys");
	else
		snprintf(where, sizeof(where), "%04x:%02x:%02x.%x BAR%u", s->pci.domain, s->pci.bus,
			 s->pci.device, s->pci.function, s->bar);
	snprintf(buf, len, "%s [0x%" PRIx64 ", +0x%" PRIx64 ") %s %s", where, s->offset, s->length,
		 shim_window_cache_name(s->cache), s->writable ? "rw" : "ro");
}

struct refusal {
	int status;
	const char *cause;
};

/* The cause of a refusal, by the module's refusal code (errno if it gave none). */
static struct refusal refusal_of(const struct mmio_window_create *c, int saved)
{
	switch (c->refusal) {
	case MMIO_WINDOW_BAD_ARGUMENT:
		return (struct refusal){ MMIO_EINVAL,
					 "malformed (offset and length must be page-aligned, "
					 "length non-zero, no overflow)" };
	case MMIO_WINDOW_NO_DEVICE:
		return (struct refusal){ MMIO_ENOENT,
					 "no such PCI function, or that BAR is absent, not "
					 "memory, or not page-aligned" };
	case MMIO_WINDOW_OUT_OF_BAR:
		return (struct refusal){ MMIO_EINVAL, "it ends past the BAR (or past the CPU's "
						      "physical address width)" };
	case MMIO_WINDOW_RAM:
		return (struct refusal){ MMIO_EACCES, "the range includes System RAM" };
	case MMIO_WINDOW_CLAIMED:
		return (struct refusal){ MMIO_EBUSY,
					 "a kernel driver has claimed part of the range "
					 "(see /proc/iomem)" };
	case MMIO_WINDOW_DRIVER_BOUND:
		return (struct refusal){ MMIO_EBUSY, "a kernel driver is bound to the function "
						     "(unbind it first)" };
	case MMIO_WINDOW_LOCKDOWN:
		return (struct refusal){ MMIO_EACCES, "the kernel is locked down "
						      "(/sys/kernel/security/lockdown)" };
	case MMIO_WINDOW_LIMIT:
		return (struct refusal){ MMIO_ENOMEM, "too many live windows on one control "
						      "descriptor" };
	case MMIO_WINDOW_NO_MEMORY:
		return (struct refusal){ MMIO_ENOMEM,
					 "the kernel is out of memory or descriptors" };
	case MMIO_WINDOW_TOO_LARGE:
		return (struct refusal){ MMIO_EINVAL, "longer than 1 GiB, the most one window may "
						      "cover: split it" };
	case MMIO_WINDOW_NOT_PERMITTED:
		return (struct refusal){ MMIO_EACCES, "the caller lacks CAP_SYS_RAWIO" };
	default:
		break;
	}
	if (saved == ENOMEM || saved == EMFILE || saved == ENFILE)
		return (struct refusal){ MMIO_ENOMEM, "out of memory or descriptors" };
	if (saved == EPERM)
		return (struct refusal){ MMIO_EACCES, "the caller lacks CAP_SYS_RAWIO" };
	return (struct refusal){ MMIO_EINTERNAL, NULL };
}

static void create_fill(const struct shim_window_spec *spec, struct mmio_window_create *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = (spec->phys ? MMIO_WINDOW_PHYS : MMIO_WINDOW_PCI) |
		   (spec->writable ? MMIO_WINDOW_RW : 0);
	c->cache = spec->cache;
	if (!spec->phys) {
		c->pci_domain = spec->pci.domain;
		c->pci_bus = spec->pci.bus;
		c->pci_slot = spec->pci.device;
		c->pci_function = spec->pci.function;
		c->pci_bar = (uint8_t)spec->bar;
	}
	c->offset = spec->offset;
	c->length = spec->length;
	c->fd = -1;
}

int shim_window_create(int control, const struct shim_window_spec *spec,
		       struct shim_window_made *out, char *err, size_t errlen)
{
	struct mmio_window_create c;
	struct refusal r;
	char what[96];
	int saved;

	out->fd = -1;
	out->id = 0;
	out->phys = 0;
	create_fill(spec, &c);
	window_describe(spec, what, sizeof(what));
	if (!spec->phys && spec->bar > 5) {
		shim_errorf(err, errlen, "window %s: there is no BAR%u (0..5)", what, spec->bar);
		return MMIO_EINVAL;
	}
	if (ioctl(control, MMIO_WINDOW_IOC_CREATE, &c) == 0) {
		out->fd = c.fd;
		out->id = c.id;
		out->phys = c.phys;
		return MMIO_OK;
	}
	saved = errno;
	if (c.refusal == MMIO_WINDOW_CACHE_MISMATCH) {
		shim_errorf(err, errlen,
			    "window %s: the kernel gives %s there, not %s (%s): a cache type is "
			    "exact or refused",
			    what, shim_window_cache_name(c.applied),
			    shim_window_cache_name(spec->cache),
			    c.applied == MMIO_WINDOW_CACHE_UNKNOWN
				    ? "a conflicting reservation exists"
				    : "another mapping holds that type, or the MTRRs decide");
		return MMIO_EINVAL;
	}
	r = refusal_of(&c, saved);
	if (r.cause)
		shim_errorf(err, errlen, "window %s refused: %s (%s)", what, r.cause,
			    strerror(saved));
	else
		shim_errorf(err, errlen, "window %s: the mmio-window module says %s", what,
			    strerror(saved));
	return r.status;
}

int shim_window_revoke(int control, uint64_t id, char *err, size_t errlen)
{
	struct mmio_window_revoke r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.id = id;
	if (ioctl(control, MMIO_WINDOW_IOC_REVOKE, &r) == 0)
		return MMIO_OK;
	if (errno == ENOENT) {
		shim_errorf(err, errlen,
			    "window %" PRIu64 ": this control descriptor never made it", id);
		return MMIO_ENOENT;
	}
	shim_errorf(err, errlen, "revoking window %" PRIu64 ": %s", id, strerror(errno));
	return MMIO_EINTERNAL;
}

int shim_window_stats(int control, uint64_t id, struct mmio_window_stats *out, char *err,
		      size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->id = id;
	if (ioctl(control, MMIO_WINDOW_IOC_STATS, out) == 0)
		return MMIO_OK;
	if (errno == ENOENT) {
		shim_errorf(err, errlen,
			    "window %" PRIu64
			    ": unknown, or closed everywhere (its counters are in "
			    "the sums, id 0)",
			    id);
		return MMIO_ENOENT;
	}
	shim_errorf(err, errlen, "window statistics: %s", strerror(errno));
	return MMIO_EINTERNAL;
}

int shim_irq_open(int control, const struct shim_pci_address *fn, struct shim_irq_made *out,
		  char *err, size_t errlen)
{
	return shim_irq_open_flags(control, fn, 0, out, err, errlen);
}

int shim_irq_open_flags(int control, const struct shim_pci_address *fn, unsigned flags,
			struct shim_irq_made *out, char *err, size_t errlen)
{
	struct mmio_window_irq_open o;
	const char *cause;
	int status;

	out->fd = -1;
	out->id = 0;
	out->irq = 0;
	out->msi = false;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = flags;
	o.pci_domain = fn->domain;
	o.pci_bus = fn->bus;
	o.pci_slot = fn->device;
	o.pci_function = fn->function;
	o.fd = -1;
	if (ioctl(control, MMIO_WINDOW_IOC_IRQ_OPEN, &o) == 0) {
		out->fd = o.fd;
		out->id = o.id;
		out->irq = o.irq;
		out->msi = (flags & MMIO_WINDOW_IRQ_MSI) != 0;
		return MMIO_OK;
	}
	switch (o.refusal) {
	case MMIO_WINDOW_NO_DEVICE:
		status = MMIO_ENOENT;
		cause = "no such PCI function, or it cannot be enabled";
		break;
	case MMIO_WINDOW_DRIVER_BOUND:
		status = MMIO_EBUSY;
		cause = "a kernel driver is bound to the function (unbind it first)";
		break;
	case MMIO_WINDOW_IRQ_HELD:
		status = MMIO_EBUSY;
		cause = "another descriptor holds the function's interrupt";
		break;
	case MMIO_WINDOW_NO_IRQ:
		status = MMIO_EINVAL;
		cause = (flags & MMIO_WINDOW_IRQ_MSI)
				? "the function has no MSI capability, or no vector is free"
				: "the function has no INTx line, or cannot mask INTx (PCI 2.3)";
		break;
	case MMIO_WINDOW_NO_MEMORY:
		status = MMIO_ENOMEM;
		cause = "the kernel is out of memory or descriptors";
		break;
	default:
		status = errno == EPERM ? MMIO_EACCES : MMIO_EINTERNAL;
		cause = errno == EPERM ? "the caller lacks CAP_SYS_RAWIO" : NULL;
		break;
	}
	if (cause)
		shim_errorf(err, errlen, "interrupt of %04x:%02x:%02x.%x refused: %s (%s)",
			    fn->domain, fn->bus, fn->device, fn->function, cause, strerror(errno));
	else
		shim_errorf(err, errlen,
			    "interrupt of %04x:%02x:%02x.%x: the mmio-window module says %s",
			    fn->domain, fn->bus, fn->device, fn->function, strerror(errno));
	return status;
}

int shim_irq_revoke(int control, uint64_t id, char *err, size_t errlen)
{
	struct mmio_window_revoke r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.id = id;
	if (ioctl(control, MMIO_WINDOW_IOC_IRQ_REVOKE, &r) == 0)
		return MMIO_OK;
	if (errno == ENOENT) {
		shim_errorf(err, errlen,
			    "interrupt %" PRIu64 ": this control descriptor never opened it", id);
		return MMIO_ENOENT;
	}
	shim_errorf(err, errlen, "revoking interrupt %" PRIu64 ": %s", id, strerror(errno));
	return MMIO_EINTERNAL;
}

bool shim_irq_held(int control, uint64_t id)
{
	struct mmio_window_revoke r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = MMIO_WINDOW_IRQ_PROBE;
	r.id = id;
	return ioctl(control, MMIO_WINDOW_IOC_IRQ_REVOKE, &r) == 0;
}

int shim_irq_unmask(int fd, char *err, size_t errlen)
{
	if (ioctl(fd, MMIO_WINDOW_IRQ_IOC_UNMASK, 0) == 0)
		return MMIO_OK;
	if (errno == ENODEV) {
		shim_errorf(err, errlen, "unmask: the interrupt has been revoked");
		return MMIO_EREVOKED;
	}
	if (errno == ENOTTY || errno == EBADF) {
		shim_errorf(err, errlen, "unmask: descriptor %d is not an interrupt (%s)", fd,
			    strerror(errno));
		return MMIO_EINVAL;
	}
	shim_errorf(err, errlen, "unmask: %s", strerror(errno));
	return MMIO_EINTERNAL;
}

int shim_irq_info(int fd, struct mmio_window_irq_info *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (ioctl(fd, MMIO_WINDOW_IRQ_IOC_INFO, out) == 0)
		return MMIO_OK;
	if (errno == ENOTTY || errno == EBADF) {
		shim_errorf(err, errlen, "descriptor %d is not an interrupt (%s)", fd,
			    strerror(errno));
		return MMIO_EINVAL;
	}
	shim_errorf(err, errlen, "interrupt information: %s", strerror(errno));
	return MMIO_EINTERNAL;
}

int shim_irq_info_id(int control, uint64_t id, struct mmio_window_irq_info *out, char *err,
		     size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->id = id;
	if (ioctl(control, MMIO_WINDOW_IOC_IRQ_INFO, out) == 0)
		return MMIO_OK;
	if (errno == ENOENT) {
		shim_errorf(err, errlen, "interrupt %" PRIu64 ": not held on this control", id);
		return MMIO_ENOENT;
	}
	if (errno == ENOTTY) {
		shim_errorf(err, errlen, "interrupt information by id: the module is too old");
		return MMIO_EINTERNAL;
	}
	shim_errorf(err, errlen, "interrupt %" PRIu64 " information: %s", id, strerror(errno));
	return MMIO_EINTERNAL;
}
