/* SPDX-License-Identifier: MIT */
/*
 * Interrupts (client.h, "Interrupts"): IRQ gives a token, the descriptor
 * channel the mmio-window module's interrupt descriptor. From then on the
 * descriptor is all: read() counts, poll() waits, the UNMASK ioctl
 * unmasks, and ENODEV means the interrupt has been revoked.
 */
#include "channel.h"
#include "cli.h"

#include <mmio/window_uapi.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct mmio_irq {
	mmio_client *client;
	int fd;
	bool msi;	 /* INFO's IS_MSI at open */
	atomic_int gone; /* MMIO_OK while held; else the error every call returns */
};

/*
 * The module says revoked: the server did it because a reload withdrew
 * the grant (MMIO_EREVOKED), or the connection is gone (MMIO_ECONN: the
 * server revokes a lost client's interrupt, and its death revokes all). A
 * LIST tells the two apart; it is made once.
 */
static int irq_gone(mmio_irq *irq)
{
	struct proto_request req = { .opcode = PROTO_OP_LIST };
	struct proto_reply rep;
	int expected = MMIO_OK, status;
	nng_msg *m;

	status = atomic_load(&irq->gone);
	if (status != MMIO_OK)
		return status;
	if (cli_lost(irq->client)) {
		status = MMIO_ECONN;
	} else {
		status = cli_call(irq->client, &req, cli_timeout_ms(irq->client, 0), &m, &rep);
		if (status == MMIO_OK)
			nng_msg_free(m);
		status = status == MMIO_OK ? MMIO_EREVOKED : MMIO_ECONN;
	}
	if (!atomic_compare_exchange_strong(&irq->gone, &expected, status))
		status = expected;
	return status;
}

int mmio_irq_open(mmio_client *c, const char *region, mmio_irq **out)
{
	struct proto_request req = { .opcode = PROTO_OP_IRQ };
	struct proto_reply rep;
	uint64_t offset = 0;
	mmio_irq *irq;
	nng_msg *m;
	int status, fd = -1;

	if (out)
		*out = NULL;
	if (!c || !region || !out || strlen(region) >= sizeof(req.irq.name))
		return MMIO_EINVAL;
	memcpy(req.irq.name, region, strlen(region) + 1);
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	nng_msg_free(m);
	if (status == MMIO_OK)
		status = c->fd_path[0] ? cli_channel_pickup(c->fd_path, rep.irq.token,
							    cli_timeout_ms(c, 0), &fd, &offset)
				       : MMIO_EACCES;
	if (status != MMIO_OK) {
		cli_last_record(c, status, NULL);
		return status;
	}
	irq = calloc(1, sizeof(*irq));
	if (!irq || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		free(irq);
		close(fd); /* the module releases the line */
		return irq ? MMIO_EINTERNAL : MMIO_ENOMEM;
	}
	irq->client = c;
	irq->fd = fd;
	struct mmio_window_irq_info info = { .size = sizeof(info) };
	irq->msi = ioctl(fd, MMIO_WINDOW_IRQ_IOC_INFO, &info) == 0 &&
		   (info.state & MMIO_WINDOW_IRQ_IS_MSI);
	atomic_init(&irq->gone, MMIO_OK);
	*out = irq;
	return MMIO_OK;
}

void mmio_irq_close(mmio_irq *irq)
{
	if (!irq)
		return;
	close(irq->fd);
	free(irq);
}

int mmio_irq_fd(const mmio_irq *irq)
{
	return irq ? irq->fd : -1;
}

int mmio_irq_wait(mmio_irq *irq, int64_t timeout_us, uint64_t *count)
{
	int64_t deadline = 0;
	uint64_t n = 0;

	if (count)
		*count = 0;
	if (!irq)
		return MMIO_EINVAL;
	if (atomic_load(&irq->gone) != MMIO_OK)
		return atomic_load(&irq->gone);
	if (timeout_us > 0)
		deadline = cli_now_ns() +
			   (timeout_us > INT64_MAX / 2000 ? INT64_MAX / 2 : timeout_us * 1000);
	for (;;) {
		struct pollfd p = { .fd = irq->fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		int64_t left;

		if (read(irq->fd, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
			if (count)
				*count = n;
			return MMIO_OK;
		}
		if (errno == ENODEV)
			return irq_gone(irq);
		if (errno != EAGAIN && errno != EINTR)
			return MMIO_EINTERNAL;
		if (timeout_us == 0)
			return MMIO_ETIMEDOUT;
		if (timeout_us > 0) {
			left = deadline - cli_now_ns();
			if (left <= 0)
				return MMIO_ETIMEDOUT;
			ts = (struct timespec){ .tv_sec = left / 1000000000,
						.tv_nsec = left % 1000000000 };
			tsp = &ts;
		}
		if (ppoll(&p, 1, tsp, NULL) < 0 && errno != EINTR)
			return MMIO_EINTERNAL;
	}
}

int mmio_irq_unmask(mmio_irq *irq)
{
	if (!irq)
		return MMIO_EINVAL;
	if (ioctl(irq->fd, MMIO_WINDOW_IRQ_IOC_UNMASK, 0) == 0)
		return MMIO_OK;
	return errno == ENODEV ? irq_gone(irq) : MMIO_EINTERNAL;
}

int mmio_irq_is_msi(const mmio_irq *irq)
{
	return irq ? irq->msi : MMIO_EINVAL;
}
