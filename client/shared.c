/* SPDX-License-Identifier: MIT */
/*
 * The data plane of proxied bulk copies (server/buffers.c). Messages carry
 * a copy's bytes through the socket twice; a shared buffer carries them not
 * at all: the stub shares a sealed memfd with the server once, and a
 * READ_SPAN or WRITE_SPAN names a span of it.
 *
 * Two ways in:
 *  - a buffer from mmio_buffer_alloc() is shared memory already: a copy to
 *    or from it is one span request, no copy in the stub (zero-copy);
 *  - any other buffer goes through the stub's staging buffer (4 MiB, made
 *    on first use), one chunk at a time: one memcpy here instead of two
 *    socket copies and the message handling.
 *
 * Copies shorter than shared_min stay inline (a span costs a round trip
 * like a message, and the staging buffer is one at a time). Results are
 * those of the inline path: the same checks first (proxied.c), the server's
 * statuses and exact counts; bytes past the count are not touched.
 *
 * If the server refuses the plane (no descriptor channel, a policy limit),
 * the client stays inline for good.
 */
#include "channel.h"
#include "cli.h"

#include <mmio/shim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int buf_detach(mmio_client *c, uint32_t id)
{
	struct proto_request req = { .opcode = PROTO_OP_BUF_DETACH,
				     .buf_detach = { .buffer = id } };
	struct proto_reply rep;
	nng_msg *m;
	int status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);

	if (status != MMIO_OK)
		return status;
	nng_msg_free(m);
	return rep.status;
}

int cli_shbuf_create(mmio_client *c, size_t size, struct cli_shbuf **out)
{
	struct proto_request req = { .opcode = PROTO_OP_BUF_ATTACH,
				     .buf_attach = { .length = size } };
	struct mmio_reason why = { 0 };
	struct proto_reply rep;
	struct cli_shbuf *b;
	nng_msg *m;
	int fd, status;

	if (!(c->hello.flags & PROTO_HELLO_DIRECT) || c->fd_path[0] == '\0')
		return cli_refuse(c, PROTO_OP_BUF_ATTACH, MMIO_REASON_UNMAPPABLE,
				  MMIO_UNMAPPABLE_SERVER, 0);
	b = calloc(1, sizeof(*b));
	if (!b)
		return MMIO_ENOMEM;
	fd = memfd_create("mmio-shared", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		free(b);
		return errno == EMFILE || errno == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
	}
	/* Sealed before it is shared: the server insists, and so should we. */
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		status = errno == ENOMEM || errno == ENOSPC ? MMIO_ENOMEM : MMIO_EINTERNAL;
		goto fail_fd;
	}
	b->map = shim_mmap_placed(size, PROT_READ | PROT_WRITE, fd, 0, 4096);
	if (b->map == MAP_FAILED) {
		status = MMIO_ENOMEM;
		goto fail_fd;
	}
	b->size = size;
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status == MMIO_OK) {
		uint64_t token = rep.buf_attach.token;

		status = rep.status;
		nng_msg_free(m);
		if (status == MMIO_OK)
			status = cli_channel_attach(c->fd_path, token, fd, c->reply_ms, &b->id,
						    &why);
		if (status != MMIO_OK && why.code != 0)
			cli_last_record(c, status, &why);
	}
	if (status != MMIO_OK) {
		munmap(b->map, size);
		goto fail_fd;
	}
	close(fd);
	*out = b;
	return MMIO_OK;

fail_fd:
	close(fd);
	free(b);
	return status;
}

void cli_shbuf_destroy(mmio_client *c, struct cli_shbuf *b, bool tell_server)
{
	if (tell_server && !cli_lost(c))
		buf_detach(c, b->id);
	munmap(b->map, b->size);
	free(b);
}

/* One READ_SPAN / WRITE_SPAN of @n bytes at @boff of buffer @id. */
static int span_call(mmio_region *r, bool write, uint64_t hoff, uint32_t id, uint64_t boff,
		     size_t n, size_t *moved)
{
	struct proto_request req = { .opcode = write ? PROTO_OP_WRITE_SPAN : PROTO_OP_READ_SPAN };
	struct proto_reply rep;
	mmio_client *c = r->h->client;
	nng_msg *m;
	int status;

	req.span.handle = r->h->id;
	req.span.offset = hoff;
	req.span.len = n;
	req.span.buffer = id;
	req.span.buf_offset = boff;
	*moved = 0;
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	nng_msg_free(m);
	if (rep.done > n)
		return MMIO_EPROTO;
	*moved = (size_t)rep.done;
	if (status == MMIO_OK && rep.done < n)
		return MMIO_EPROTO;
	return status;
}

/* The user buffer that holds all of [@p, +@len), or NULL. */
static struct cli_shbuf *user_buf_find(mmio_client *c, const void *p, size_t len)
{
	struct cli_shbuf *found = NULL;
	const uint8_t *q = p;

	pthread_mutex_lock(&c->mtx);
	for (struct cli_shbuf *b = c->user_bufs; b && !found; b = b->next) {
		if (q >= b->map && q <= b->map + b->size && len <= (size_t)(b->map + b->size - q))
			found = b;
	}
	pthread_mutex_unlock(&c->mtx);
	return found;
}

int cli_shared_transfer(mmio_region *r, uint64_t hoff, void *buf, size_t len, bool write,
			size_t *done, bool *used)
{
	mmio_client *c = r->h->client;
	struct cli_shbuf *b;
	int status = MMIO_OK;

	*used = false;
	if (len < c->shared_min || c->plane_off || len == 0)
		return MMIO_OK;
	b = user_buf_find(c, buf, len);
	if (b) {
		size_t moved;

		*used = true;
		status = span_call(r, write, hoff, b->id, (uint64_t)((uint8_t *)buf - b->map), len,
				   &moved);
		*done += moved;
		return status;
	}

	pthread_mutex_lock(&c->plane_mtx);
	if (!c->staging && !c->plane_off) {
		status = cli_shbuf_create(c, CLI_STAGING_SIZE, &c->staging);
		if (status != MMIO_OK) {
			/* Inline from now on, unless the client is gone. */
			c->plane_off = true;
			pthread_mutex_unlock(&c->plane_mtx);
			return cli_lost(c) ? MMIO_ECONN : MMIO_OK;
		}
	}
	if (!c->staging) {
		pthread_mutex_unlock(&c->plane_mtx);
		return MMIO_OK;
	}
	*used = true;
	b = c->staging;
	while (status == MMIO_OK && *done < len) {
		size_t n = len - *done < b->size ? len - *done : b->size, moved;

		if (write)
			memcpy(b->map, (const uint8_t *)buf + *done, n);
		status = span_call(r, write, hoff + *done, b->id, 0, n, &moved);
		/* Only the bytes the device gave: the rest of @buf stays as it was. */
		if (!write && moved)
			memcpy((uint8_t *)buf + *done, b->map, moved);
		*done += moved;
	}
	pthread_mutex_unlock(&c->plane_mtx);
	return status;
}

void cli_shared_release(mmio_client *c)
{
	struct cli_shbuf *b;

	if (c->staging)
		cli_shbuf_destroy(c, c->staging, false);
	c->staging = NULL;
	while ((b = c->user_bufs)) {
		c->user_bufs = b->next;
		cli_shbuf_destroy(c, b, false);
	}
}

int mmio_buffer_alloc(mmio_client *c, size_t size, void **out)
{
	struct cli_shbuf *b;
	long page = sysconf(_SC_PAGESIZE);
	int status;

	if (out)
		*out = NULL;
	if (!c || !out)
		return cli_refuse_null(c, PROTO_OP_BUF_ATTACH);
	if (size == 0)
		return cli_refuse(c, PROTO_OP_BUF_ATTACH, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_EMPTY,
				  0);
	if (size > ((size_t)1 << 40))
		return cli_refuse(c, PROTO_OP_BUF_ATTACH, MMIO_REASON_ARGUMENT,
				  MMIO_ARGUMENT_TOO_LONG, (uint64_t)1 << 40);
	size = (size + (size_t)page - 1) & ~((size_t)page - 1);
	status = cli_shbuf_create(c, size, &b);
	if (status != MMIO_OK)
		return status;
	pthread_mutex_lock(&c->mtx);
	b->next = c->user_bufs;
	c->user_bufs = b;
	pthread_mutex_unlock(&c->mtx);
	*out = b->map;
	return MMIO_OK;
}

void mmio_buffer_free(mmio_client *c, void *p)
{
	struct cli_shbuf **pp, *b = NULL;

	if (!c || !p)
		return;
	pthread_mutex_lock(&c->mtx);
	for (pp = &c->user_bufs; *pp; pp = &(*pp)->next) {
		if ((*pp)->map == p) {
			b = *pp;
			*pp = b->next;
			break;
		}
	}
	pthread_mutex_unlock(&c->mtx);
	if (b)
		cli_shbuf_destroy(c, b, true);
}
