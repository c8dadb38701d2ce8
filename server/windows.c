/* SPDX-License-Identifier: MIT */
/*
 * Direct grants as kernel-shim windows (server.windows, issue 20).
 *
 * With the mmio-window module loaded, a direct grant of a pci or phys
 * region is a window of exactly the handle's pages, in the region's cache
 * type, created at MAP on the server's control descriptor. The server
 * revokes it, which zaps it in every process that mapped it (forked
 * children included), when:
 *   - the handle closes or its session ends (handle_destroy), so no
 *     window outlives its handle, and an exclusive range passes to another
 *     handle only after its window is gone;
 *   - a reload revokes the handle, or changes the rights of a mapped one
 *     (srv_handle_withdraw(): the handle goes on proxied);
 *   - the client says it unmapped (UNMAP);
 *   - the server ends: closing the control descriptor revokes them all.
 * Revoking is one ioctl on our own descriptor: it never waits for a client.
 *
 * Without the module (server.windows auto), grants stay whole-BAR
 * descriptors, which cannot be taken back.
 *
 * MMIO_SIM_WINDOWS=1 (tests only) treats sim regions as windowed: their
 * handles are mappable page by page and a reload withdraws their mapping
 * as it would a window's, but nothing is zapped (a memfd cannot be): the
 * host test suites zap the client's mapping themselves to play the kernel.
 */
#include "log.h"
#include "server.h"

#include <mmio/wincontrol.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW_PAGE 4096u

/* /dev/mmio-window, or -1; opened by the main thread, read by request threads. */
static atomic_int control = -1;
static bool sim_windows;	      /* MMIO_SIM_WINDOWS=1 */
static _Atomic enum cfg_windows mode; /* of the policy in force */
static bool said, was_active;	      /* what srv_windows_apply() last logged (main thread) */

static bool srv_windows_active_for(enum cfg_windows m)
{
	return atomic_load(&control) >= 0 && m != CFG_WINDOWS_OFF;
}

bool srv_windows_active(void)
{
	return srv_windows_active_for(atomic_load(&mode));
}

int srv_windows_apply(enum cfg_windows wanted, char *err, size_t errlen)
{
	char why[256] = "no /dev/mmio-window";
	const char *env = getenv("MMIO_SIM_WINDOWS");
	int fd = -1;

	sim_windows = env && strcmp(env, "1") == 0;
	if (wanted != CFG_WINDOWS_OFF && atomic_load(&control) < 0) {
		if (shim_window_open_control(&fd, why, sizeof(why)) == MMIO_OK)
			atomic_store(&control, fd);
		else if (wanted == CFG_WINDOWS_REQUIRED) {
			snprintf(err, errlen, "server.windows is required, but %s", why);
			return -1;
		}
	}
	/* Said at start and when it changes, not at every reload. */
	if (said && atomic_load(&mode) == wanted && was_active == srv_windows_active_for(wanted))
		return 0;
	atomic_store(&mode, wanted);
	said = true;
	was_active = srv_windows_active();
	if (srv_windows_active())
		srv_info("direct grants of pci and phys regions: kernel-shim windows of the "
			 "handle's pages, revocable (server.windows %s)",
			 cfg_windows_name(wanted));
	else if (wanted == CFG_WINDOWS_OFF)
		srv_info("direct grants of pci and phys regions: whole-BAR descriptors, not "
			 "revocable (server.windows off)");
	else
		srv_warn("direct grants of pci and phys regions: whole-BAR descriptors, not "
			 "revocable: %s",
			 why);
	if (sim_windows)
		srv_warn("MMIO_SIM_WINDOWS=1: sim mappings are granted as windows but nothing "
			 "revokes them (tests only)");
	return 0;
}

void srv_windows_stop(void)
{
	/* Revokes every window this descriptor created. */
	int fd = atomic_exchange(&control, -1);

	if (fd >= 0)
		close(fd);
}

/* The function and BAR of a pci device, from its place ("0000:00:04.0 BAR0"). */
static bool pci_place(const struct srv_device *d, struct shim_window_spec *w)
{
	unsigned dom, bus, dev, fn, bar;

	if (sscanf(d->dev.where, "%x:%x:%x.%x BAR%u", &dom, &bus, &dev, &fn, &bar) != 5)
		return false;
	w->pci =
		(struct shim_pci_address){ (uint16_t)dom, (uint8_t)bus, (uint8_t)dev, (uint8_t)fn };
	w->bar = bar;
	return true;
}

void srv_device_window_spec(struct srv_device *d, const struct cfg_region *r)
{
	struct shim_window_spec *w = &d->wspec;

	memset(w, 0, sizeof(*w));
	w->cache = (unsigned)r->cache;
	if (r->source == CFG_SOURCE_PCI || r->source == CFG_SOURCE_PCI_ID) {
		w->offset = r->offset;
		d->windowable = pci_place(d, w);
	} else if (r->source == CFG_SOURCE_PHYS) {
		w->phys = true;
		w->offset = r->phys;
		d->windowable = true;
	} else {
		d->windowable = false;
	}
	d->windowable = d->windowable && w->offset % WINDOW_PAGE == 0;
	d->sim = r->source == CFG_SOURCE_SIM;
}

bool srv_device_windowed(const struct srv_device *d)
{
	if (d->sim)
		return sim_windows && d->dev.fd >= 0;
	return d->windowable && srv_windows_active();
}

bool srv_window_fits(const struct srv_device *d, uint64_t off, uint64_t len)
{
	return (d->wspec.offset + off) % WINDOW_PAGE == 0 && len % WINDOW_PAGE == 0 && len != 0;
}

int srv_window_grant(struct srv_handle *h, int *fd, uint64_t *mmap_offset)
{
	struct shim_window_spec spec = h->dev->wspec;
	struct shim_window_made made;
	char err[256];
	int status;

	/*
	 * One window per handle, and the server keeps only its id (REVOKE
	 * works by id after our descriptor is gone): a descriptor per mapped
	 * handle would let a client's handles use up the server's. A second
	 * MAP revokes the window of the first.
	 */
	srv_window_revoke(h);
	spec.offset += h->offset;
	spec.length = h->size;
	spec.writable = h->access & MMIO_ACCESS_WRITE;
	status = shim_window_create(atomic_load(&control), &spec, &made, err, sizeof(err));
	if (status != MMIO_OK) {
		srv_warn("MAP of %s refused: %s", h->region, err);
		return status;
	}
	h->wid = made.id;
	/* A read-only window's descriptor refuses PROT_WRITE itself. */
	*fd = made.fd;
	*mmap_offset = 0;
	return MMIO_OK;
}

void srv_window_revoke(struct srv_handle *h)
{
	char err[256];

	if (h->wid == 0)
		return;
	if (shim_window_revoke(atomic_load(&control), h->wid, err, sizeof(err)) != MMIO_OK)
		/* Cannot happen short of a broken module; the server's exit
		 * (its control descriptor closing) still revokes it. */
		srv_error("window of handle %" PRIu32 " on %s: %s", h->id, h->region, err);
	h->wid = 0;
}
