/* SPDX-License-Identifier: MIT */
/*
 * Proxied access: every access is a request to the server, which checks it
 * against the policy and the handle and performs it. Statuses and counts are
 * the server's. The stub adds only what the server cannot know: the bounds
 * of a slice, and the splitting of transfers larger than one message.
 */
#include "cli.h"

#include <string.h>

size_t cli_read_chunk_max(size_t max_message)
{
	size_t n = max_message > PROTO_READ_DATA_OFFSET ? max_message - PROTO_READ_DATA_OFFSET : 0;

	return n & ~(size_t)7;
}

size_t cli_write_chunk_max(size_t max_message)
{
	size_t head = PROTO_WRITE_DATA_OFFSET + CLI_RECV_SLACK;
	size_t n = max_message > head ? max_message - head : 0;

	return n & ~(size_t)7;
}

void cli_handle_close_remote(mmio_client *c, uint32_t id)
{
	struct proto_request req = { .opcode = PROTO_OP_CLOSE, .close = { .handle = id } };
	struct proto_reply rep;
	nng_msg *m;

	if (cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep) == MMIO_OK)
		nng_msg_free(m);
}

/* A call whose reply carries no payload the caller needs: just its status and done. */
static int call_simple(mmio_client *c, const struct proto_request *req, int timeout_ms,
		       uint64_t *done)
{
	struct proto_reply rep;
	nng_msg *m;
	int status = cli_call(c, req, timeout_ms, &m, &rep);

	if (status != MMIO_OK)
		return status;
	if (done)
		*done = rep.done;
	nng_msg_free(m);
	return rep.status;
}

static int proxied_read_once(mmio_region *r, size_t off, unsigned width, uint64_t *v)
{
	struct proto_request req = { .opcode = PROTO_OP_READ_ONCE };
	struct proto_reply rep;
	mmio_client *c = r->h->client;
	nng_msg *m;
	int status;

	if (!mmio_width_valid(width))
		return cli_refuse(c, PROTO_OP_READ_ONCE, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_WIDTH,
				  width);
	status = cli_view_offset(r, PROTO_OP_READ_ONCE, off, width, &req.read_once.offset);
	if (status != MMIO_OK)
		return status;
	req.read_once.handle = r->h->id;
	req.read_once.width = width;
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK) {
		if (proto_value_fits(width, rep.read_once.value))
			*v = rep.read_once.value;
		else
			status = MMIO_EPROTO;
	}
	nng_msg_free(m);
	return status;
}

static int proxied_write_once(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	struct proto_request req = { .opcode = PROTO_OP_WRITE_ONCE };
	int status;

	if (!proto_value_fits(width, v))
		return cli_refuse_width(r->h->client, PROTO_OP_WRITE_ONCE, width);
	status = cli_view_offset(r, PROTO_OP_WRITE_ONCE, off, width, &req.write_once.offset);
	if (status != MMIO_OK)
		return status;
	req.write_once.handle = r->h->id;
	req.write_once.width = width;
	req.write_once.value = v;
	return call_simple(r->h->client, &req, cli_timeout_ms(r->h->client, 0), NULL);
}

static int proxied_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done)
{
	mmio_client *c = r->h->client;
	size_t chunk = cli_read_chunk_max(c->max_message);
	uint64_t hoff;
	int status;

	bool shared;

	status = cli_bulk_offset(r, PROTO_OP_READ, off, len, chunk, &hoff);
	if (status != MMIO_OK)
		return status;
	status = cli_shared_transfer(r, hoff, buf, len, false, done, &shared);
	if (shared || status != MMIO_OK)
		return status;
	do {
		struct proto_request req = { .opcode = PROTO_OP_READ };
		struct proto_reply rep;
		size_t n = len - *done < chunk ? len - *done : chunk;
		nng_msg *m;

		req.read.handle = r->h->id;
		req.read.offset = hoff + *done;
		req.read.len = n;
		status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
		if (status != MMIO_OK)
			return status;
		status = rep.status;
		if (rep.done > n) {
			status = MMIO_EPROTO;
		} else {
			if (rep.done > 0)
				memcpy((char *)buf + *done, rep.read.data, (size_t)rep.done);
			*done += (size_t)rep.done;
			if (status == MMIO_OK && rep.done < n)
				status = MMIO_EPROTO;
		}
		nng_msg_free(m);
	} while (status == MMIO_OK && *done < len);
	return status;
}

static int proxied_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	mmio_client *c = r->h->client;
	size_t chunk = cli_write_chunk_max(c->max_message);
	uint64_t hoff;
	int status;

	bool shared;

	status = cli_bulk_offset(r, PROTO_OP_WRITE, off, len, chunk, &hoff);
	if (status != MMIO_OK)
		return status;
	status = cli_shared_transfer(r, hoff, (void *)buf, len, true, done, &shared);
	if (shared || status != MMIO_OK)
		return status;
	do {
		struct proto_request req = { .opcode = PROTO_OP_WRITE };
		size_t n = len - *done < chunk ? len - *done : chunk;
		uint64_t d = 0;

		req.write.handle = r->h->id;
		req.write.offset = hoff + *done;
		req.write.data = n ? (const char *)buf + *done : NULL;
		req.write.len = n;
		status = call_simple(c, &req, cli_timeout_ms(c, 0), &d);
		if (d > n)
			return MMIO_EPROTO;
		*done += (size_t)d;
		if (status == MMIO_OK && d < n)
			status = MMIO_EPROTO;
	} while (status == MMIO_OK && *done < len);
	return status;
}

static int proxied_fill(mmio_region *r, size_t off, size_t len, uint8_t byte, size_t *done)
{
	struct proto_request req = { .opcode = PROTO_OP_FILL };
	mmio_client *c = r->h->client;
	size_t want;
	uint64_t d = 0;
	int status;

	status = cli_fill_plan(r, off, len, &req.fill.offset, &want);
	if (status != MMIO_OK)
		return status;
	req.fill.handle = r->h->id;
	req.fill.byte = byte;
	req.fill.len = want;
	status = call_simple(c, &req, cli_timeout_ms(c, 0), &d);
	if (d > want)
		return MMIO_EPROTO;
	*done = (size_t)d;
	if (status == MMIO_OK && d < want)
		return MMIO_EPROTO;
	if (status == MMIO_OK && want < len)
		return cli_refuse_range(r, PROTO_OP_FILL, off, len);
	return status;
}

static int proxied_poll(mmio_region *r, size_t off, unsigned width, uint64_t mask, uint64_t want,
			uint32_t timeout_us, uint64_t *last)
{
	struct proto_request req = { .opcode = PROTO_OP_POLL };
	struct proto_reply rep;
	mmio_client *c = r->h->client;
	nng_msg *m;
	int status;

	if (!proto_value_fits(width, mask) || !proto_value_fits(width, want))
		return cli_refuse_width(c, PROTO_OP_POLL, width);
	status = cli_view_offset(r, PROTO_OP_POLL, off, width, &req.poll.offset);
	if (status != MMIO_OK)
		return status;
	req.poll.handle = r->h->id;
	req.poll.width = width;
	req.poll.mask = mask;
	req.poll.want = want;
	req.poll.timeout_us = timeout_us;
	status = cli_call(c, &req, cli_timeout_ms(c, timeout_us), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK || status == MMIO_ETIMEDOUT) {
		if (proto_value_fits(width, rep.poll.value))
			*last = rep.poll.value;
		else
			status = MMIO_EPROTO;
	}
	nng_msg_free(m);
	return status;
}

/* One READ_ROWS or WRITE_ROWS of @n rows from row @i; *@moved the bytes moved. */
static int rows_request(mmio_region *r, uint64_t hoff, size_t row_bytes, size_t pitch, size_t i,
			size_t n, uint8_t *buf, bool write, size_t *moved)
{
	struct proto_request req = { .opcode = write ? PROTO_OP_WRITE_ROWS : PROTO_OP_READ_ROWS };
	mmio_client *c = r->h->client;
	size_t want = n * row_bytes;
	struct proto_reply rep;
	nng_msg *m;
	int status;

	req.rows.handle = r->h->id;
	req.rows.offset = hoff + (uint64_t)i * pitch;
	req.rows.row_bytes = row_bytes;
	req.rows.pitch = pitch;
	req.rows.rows = (uint32_t)n;
	req.rows.data = write ? buf + i * row_bytes : NULL;
	req.rows.len = write ? want : 0;
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (rep.done > want) {
		status = MMIO_EPROTO;
	} else {
		if (!write && rep.done > 0)
			memcpy(buf + i * row_bytes, rep.read.data, (size_t)rep.done);
		*moved = (size_t)rep.done;
		if (status == MMIO_OK && rep.done < want)
			status = MMIO_EPROTO;
	}
	nng_msg_free(m);
	return status;
}

/* As many whole rows per request as a message carries; a row longer than
 * that goes as a READ or WRITE of its own, split as they split. */
static int proxied_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
			void *buf, bool write, size_t *done)
{
	mmio_client *c = r->h->client;
	/* WRITE_ROWS has 12 bytes more header than WRITE: 16 keeps the chunk
	 * a multiple of 8, as cli_write_chunk_max() makes it. */
	size_t wmax = cli_write_chunk_max(c->max_message);
	size_t chunk = write ? (wmax > 16 ? wmax - 16 : 0) : cli_read_chunk_max(c->max_message);
	size_t per = chunk / row_bytes;
	uint64_t hoff = (uint64_t)r->base + off;
	uint8_t *bytes = buf;
	int status = MMIO_OK;

	*done = 0;
	if (per > UINT32_MAX)
		per = UINT32_MAX;
	for (size_t i = 0; i < rows && status == MMIO_OK;) {
		size_t n = per == 0 ? 1 : (rows - i < per ? rows - i : per), moved = 0;

		if (per == 0)
			status = write ? proxied_write(r, off + i * pitch, bytes + i * row_bytes,
						       row_bytes, &moved)
				       : proxied_read(r, off + i * pitch, bytes + i * row_bytes,
						      row_bytes, &moved);
		else
			status =
				rows_request(r, hoff, row_bytes, pitch, i, n, bytes, write, &moved);
		*done += moved;
		i += n;
	}
	return status;
}

static void proxied_release(struct cli_handle *h)
{
	(void)h;
}

const struct cli_region_ops cli_proxied_ops = {
	.read_once = proxied_read_once,
	.write_once = proxied_write_once,
	.read = proxied_read,
	.write = proxied_write,
	.fill = proxied_fill,
	.poll = proxied_poll,
	.rows = proxied_rows,
	.release = proxied_release,
	.direct = false,
};
