/* SPDX-License-Identifier: MIT */
/*
 * IRQ: a client the policy grants op `irq` on a pci region gets the
 * interrupt of that region's PCI function, as a descriptor of the
 * mmio-window module (kernel-shim/wincontrol.c) handed over on the
 * descriptor channel like a MAP's (grants.c). The client then waits on it
 * and unmasks it without asking the server.
 *
 * The server keeps no copy of the descriptor: the module frees the line at
 * its last close, so a client that closes it or dies releases it by
 * itself. The server keeps the interrupt's id and revokes it when the
 * client's connection ends or a reload no longer grants it. The module
 * enforces one holder per function (MMIO_EBUSY for the second).
 *
 * Which interrupt: the region's `irq:` (config/POLICY.md), by default the
 * function's MSI if it has one, else INTx; the log says which.
 *
 * The control descriptor is this file's own, opened at the first IRQ
 * request: a server without the module serves everything else.
 */
#include "dispatch.h"
#include "log.h"
#include "server.h"

#include <mmio/wincontrol.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Interrupts held at once, all clients (a machine has few functions). */
#define IRQ_HOLDS_MAX 64

struct irq_hold {
	uint32_t pipe_id;     /* the holder's session */
	struct cfg_peer peer; /* its identity, re-checked at each reload */
	uid_t uid;
	pid_t pid;
	char region[CFG_NAME_MAX + 1];
	uint64_t id; /* the module's id of the interrupt */
	/* srv_irq_watch(): since when (srv_now_ns) the line has been seen
	 * masked with @unmasks unchanged, 0 when not; whether this episode
	 * has been counted, and when it was last logged. */
	uint64_t masked_since, unmasks, warned;
	bool counted;
};

/* A line masked this long without an UNMASK that unmasked it is counted
 * (STATS irqs_unacknowledged) and logged; then at most once a minute for
 * as long as it stays so. */
#define IRQ_UNACK_NS	  (3ull * 1000000000u)
#define IRQ_UNACK_WARN_NS (60ull * 1000000000u)

static pthread_mutex_t irq_lock = PTHREAD_MUTEX_INITIALIZER;
static int irq_control = -1;
static struct irq_hold holds[IRQ_HOLDS_MAX];
static size_t nholds;
static atomic_ulong irq_unacknowledged;

/* "0000:00:04.0 BAR0" (shim_device.where of a pci device) -> @fn. */
static bool where_function(const char *where, struct shim_pci_address *fn)
{
	unsigned d, b, s, f;

	if (sscanf(where, "%4x:%2x:%2x.%1u BAR", &d, &b, &s, &f) != 4 || s > 31 || f > 7)
		return false;
	*fn = (struct shim_pci_address){ .domain = (uint16_t)d,
					 .bus = (uint8_t)b,
					 .device = (uint8_t)s,
					 .function = (uint8_t)f };
	return true;
}

/* Does @gen grant @peer op irq on region @region? */
static bool irq_granted(const struct srv_generation *gen, const struct cfg_peer *peer,
			size_t region)
{
	for (const struct cfg_grant *g = cfg_policy_next_grant(gen->policy, peer, region, NULL); g;
	     g = cfg_policy_next_grant(gen->policy, peer, region, g))
		if (g->ops & MMIO_OPS_IRQ)
			return true;
	return false;
}

/* Revoke hold @i and drop it (irq_lock held). A reload's revocations are
 * worth a warning; a connection's end happens all the time. */
static void hold_revoke(size_t i, bool reload)
{
	char err[256];

	if (shim_irq_revoke(irq_control, holds[i].id, err, sizeof(err)) != MMIO_OK)
		srv_error("irq: %s", err);
	else if (reload)
		srv_warn("reload: revoked the interrupt of %s from uid %u pid %d: the policy no "
			 "longer grants it irq",
			 holds[i].region, (unsigned)holds[i].uid, (int)holds[i].pid);
	else
		srv_debug("irq: interrupt of %s released by uid %u pid %d (connection ended)",
			  holds[i].region, (unsigned)holds[i].uid, (int)holds[i].pid);
	holds[i] = holds[--nholds];
}

/* The holder of @region's interrupt, for a refused opener's warning. */
static const struct irq_hold *hold_find(const char *region)
{
	for (size_t i = 0; i < nholds; i++)
		if (strcmp(holds[i].region, region) == 0 && shim_irq_held(irq_control, holds[i].id))
			return &holds[i];
	return NULL;
}

/*
 * Open @fn's interrupt as the region's `irq:` says (irq_lock held): auto
 * asks for MSI and falls back to INTx where the module finds no MSI
 * capability (or no vector); msi and intx ask for that one only.
 */
static int irq_open_mode(enum cfg_irq_mode mode, const struct shim_pci_address *fn,
			 struct shim_irq_made *m, char *err, size_t errlen)
{
	int status;

	if (mode == CFG_IRQ_INTX)
		return shim_irq_open_flags(irq_control, fn, 0, m, err, errlen);
	status = shim_irq_open_flags(irq_control, fn, MMIO_WINDOW_IRQ_MSI, m, err, errlen);
	if (status != MMIO_EINVAL || mode == CFG_IRQ_MSI)
		return status;
	srv_debug("irq: %s; asking for INTx", err);
	return shim_irq_open_flags(irq_control, fn, 0, m, err, errlen);
}

static int irq_open(struct srv_session *s, struct srv_generation *gen, const char *name,
		    uint64_t *token, struct mmio_reason *why)
{
	struct shim_irq_made m;
	struct shim_pci_address fn;
	char err[256];
	size_t region;
	int status;

	if (cfg_policy_region_find(gen->policy, name, &region) != MMIO_OK)
		return mmio_reason_set(why, MMIO_ENOENT, MMIO_REASON_NO_GRANT, 0, 0);
	if (!irq_granted(gen, &s->peer, region))
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_OPS, MMIO_OPS_IRQ, 0);
	if (region >= gen->ndevices || !where_function(gen->devices[region]->dev.where, &fn))
		return MMIO_EACCES; /* not a PCI function: the policy refuses that already */
	pthread_mutex_lock(&irq_lock);
	if (irq_control < 0 &&
	    shim_window_open_control(&irq_control, err, sizeof(err)) != MMIO_OK) {
		pthread_mutex_unlock(&irq_lock);
		srv_error("irq: %s", err);
		return MMIO_EINTERNAL;
	}
	/* Holders that closed their descriptor (or never picked it up) have
	 * freed the function already: forget them, so that a client opening
	 * and closing in a loop cannot fill the table. */
	for (size_t i = 0; i < nholds;) {
		if (!shim_irq_held(irq_control, holds[i].id))
			holds[i] = holds[--nholds];
		else
			i++;
	}
	if (nholds == IRQ_HOLDS_MAX) {
		pthread_mutex_unlock(&irq_lock);
		return MMIO_ENOMEM;
	}
	status = irq_open_mode(cfg_policy_region(gen->policy, region)->irq_mode, &fn, &m, err,
			       sizeof(err));
	if (status != MMIO_OK) {
		const struct irq_hold *h = status == MMIO_EBUSY ? hold_find(name) : NULL;

		if (h)
			mmio_reason_set(why, status, MMIO_REASON_BUSY, MMIO_BUSY_IRQ, 0);
		/* Contention is the clients' business: rate-limited per uid. */
		if (h)
			srv_warn_client(
				s->peer.uid, SRV_WARN_OTHER,
				"irq: uid %u pid %d refused the interrupt of %s: uid %u pid "
				"%d holds it",
				(unsigned)s->peer.uid, (int)s->pid, name, (unsigned)h->uid,
				(int)h->pid);
		else if (status == MMIO_EBUSY)
			srv_warn_client(s->peer.uid, SRV_WARN_OTHER, "irq: uid %u: %s",
					(unsigned)s->peer.uid, err);
		else
			srv_error("irq: uid %u: %s", (unsigned)s->peer.uid, err);
		pthread_mutex_unlock(&irq_lock);
		return status;
	}
	holds[nholds] = (struct irq_hold){ .pipe_id = s->pipe_id,
					   .peer = s->peer,
					   .uid = s->peer.uid,
					   .pid = s->pid,
					   .id = m.id };
	snprintf(holds[nholds].region, sizeof(holds[nholds].region), "%s", name);
	nholds++;
	/* The token takes the only copy of the descriptor: never picked up, it
	 * expires, and the close frees the line. */
	status = srv_grant_fd_token(s, m.fd, token, why);
	if (status != MMIO_OK)
		hold_revoke(nholds - 1, false);
	pthread_mutex_unlock(&irq_lock);
	if (status == MMIO_OK)
		srv_info("irq: interrupt of %s (%s, Linux interrupt %u) to uid %u pid %d", name,
			 m.msi ? "MSI" : "INTx", m.irq, (unsigned)s->peer.uid, (int)s->pid);
	return status;
}

enum srv_outcome srv_op_irq(struct srv_request *r)
{
	r->rep.status =
		irq_open(r->session, r->gen, r->rq.irq.name, &r->rep.irq.token, &r->rep.reason);
	return SRV_REPLY;
}

void srv_irq_forget(uint32_t pipe_id)
{
	pthread_mutex_lock(&irq_lock);
	for (size_t i = 0; i < nholds;) {
		if (holds[i].pipe_id == pipe_id)
			hold_revoke(i, false);
		else
			i++;
	}
	pthread_mutex_unlock(&irq_lock);
}

void srv_irq_revalidate(const struct srv_generation *gen)
{
	size_t region;

	pthread_mutex_lock(&irq_lock);
	for (size_t i = 0; i < nholds;) {
		if (cfg_policy_region_find(gen->policy, holds[i].region, &region) != MMIO_OK ||
		    !irq_granted(gen, &holds[i].peer, region))
			hold_revoke(i, true);
		else
			i++;
	}
	pthread_mutex_unlock(&irq_lock);
}

/*
 * Hold @h's line: still masked, with no unmask since the last look? The
 * episode starts at the first look that sees it masked (so it is measured
 * to within a look's period, from below).
 */
static void hold_watch(struct irq_hold *h, const struct mmio_window_irq_info *info, uint64_t now)
{
	uint64_t masked;

	if (!(info->state & MMIO_WINDOW_IRQ_MASKED) || (info->state & MMIO_WINDOW_IRQ_REVOKED)) {
		h->masked_since = 0;
		return;
	}
	if (h->masked_since == 0 || info->unmasks != h->unmasks) {
		h->masked_since = now;
		h->unmasks = info->unmasks;
		h->counted = false;
		return;
	}
	masked = now - h->masked_since;
	if (masked < IRQ_UNACK_NS)
		return;
	if (!h->counted) {
		h->counted = true;
		atomic_fetch_add(&irq_unacknowledged, 1);
	} else if (now - h->warned < IRQ_UNACK_WARN_NS) {
		return;
	}
	h->warned = now;
	srv_warn("irq: uid %u pid %d has not acknowledged %s's interrupt for %" PRIu64
		 " s; the line stays masked (%" PRIu64 " interrupts, %" PRIu64 " unmasks)",
		 (unsigned)h->uid, (int)h->pid, h->region, masked / 1000000000u,
		 (uint64_t)info->total, (uint64_t)info->unmasks);
}

void srv_irq_watch(void)
{
	struct mmio_window_irq_info info;
	uint64_t now = srv_now_ns();
	char err[256];

	pthread_mutex_lock(&irq_lock);
	for (size_t i = 0; irq_control >= 0 && i < nholds;) {
		int status = shim_irq_info_id(irq_control, holds[i].id, &info, err, sizeof(err));

		if (status == MMIO_ENOENT) { /* its holder closed it */
			holds[i] = holds[--nholds];
			continue;
		}
		if (status == MMIO_OK)
			hold_watch(&holds[i], &info, now);
		i++;
	}
	pthread_mutex_unlock(&irq_lock);
}

unsigned long srv_irq_unacknowledged(void)
{
	return atomic_load(&irq_unacknowledged);
}

void srv_irq_stop(void)
{
	pthread_mutex_lock(&irq_lock);
	if (irq_control >= 0)
		close(irq_control); /* the module revokes every interrupt it opened */
	irq_control = -1;
	nholds = 0;
	pthread_mutex_unlock(&irq_lock);
}
