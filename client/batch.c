/* SPDX-License-Identifier: MIT */
/*
 * mmio_batch_*: ordered once-ops and polls. Ops on proxied regions go to the
 * server in one BATCH request; ops on direct regions run here, through the
 * same checks (direct.c). A batch that mixes both runs in order, each run of
 * consecutive proxied ops as one request, and stops at the first failure.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

struct mmio_batch {
	mmio_client *c;
	struct proto_batch_op *ops;
	uint64_t *values;	    /* one per op; the first `done` are valid */
	struct cli_handle **direct; /* per op: its handle if direct, else NULL */
	size_t count, cap;
	size_t done; /* ops completed by the last run */
};

int mmio_batch_new(mmio_client *c, mmio_batch **out)
{
	mmio_batch *b;

	if (out)
		*out = NULL;
	if (!c || !out)
		return cli_refuse_null(c, PROTO_OP_BATCH);
	b = calloc(1, sizeof(*b));
	if (!b)
		return MMIO_ENOMEM;
	b->c = c;
	*out = b;
	return MMIO_OK;
}

void mmio_batch_free(mmio_batch *b)
{
	if (!b)
		return;
	free(b->ops);
	free(b->values);
	free(b->direct);
	free(b);
}

void mmio_batch_clear(mmio_batch *b)
{
	if (!b)
		return;
	b->count = 0;
	b->done = 0;
}

size_t mmio_batch_count(const mmio_batch *b)
{
	return b ? b->count : 0;
}

static int batch_grow(mmio_batch *b)
{
	size_t cap = b->cap ? b->cap * 2 : 16;
	struct proto_batch_op *ops;
	struct cli_handle **direct;
	uint64_t *values;

	if (cap > PROTO_BATCH_MAX)
		cap = PROTO_BATCH_MAX;
	ops = realloc(b->ops, cap * sizeof(*ops));
	if (!ops)
		return MMIO_ENOMEM;
	b->ops = ops;
	values = realloc(b->values, cap * sizeof(*values));
	if (!values)
		return MMIO_ENOMEM;
	b->values = values;
	direct = realloc(b->direct, cap * sizeof(*direct));
	if (!direct)
		return MMIO_ENOMEM;
	b->direct = direct;
	b->cap = cap;
	return MMIO_OK;
}

/* Append @op (opcode, width, value, want, timeout set) for @off of @r. */
static int batch_add(mmio_batch *b, mmio_region *r, size_t off, struct proto_batch_op *op)
{
	int status;

	if (!b || !r)
		return cli_refuse_null(b ? b->c : NULL, op->opcode);
	if (r->h->client != b->c)
		return cli_refuse(b->c, op->opcode, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_CLIENT, 0);
	if (!mmio_width_valid(op->width))
		return cli_refuse(b->c, op->opcode, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_WIDTH,
				  op->width);
	if (!proto_value_fits(op->width, op->value) || !proto_value_fits(op->width, op->want))
		return cli_refuse(b->c, op->opcode, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_VALUE,
				  op->width);
	/* The server knows the handle, not the slice: a slice's bounds are ours. */
	if (r->slice && (off > r->len || op->width > r->len - off))
		return cli_refuse_range(r, op->opcode, off, op->width);
	if (b->count >= PROTO_BATCH_MAX)
		return cli_refuse(b->c, PROTO_OP_BATCH, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_BATCH,
				  PROTO_BATCH_MAX);
	if (b->count == b->cap) {
		status = batch_grow(b);
		if (status != MMIO_OK)
			return status;
	}
	op->handle = r->h->id;
	op->offset = (uint64_t)r->base + off;
	b->ops[b->count] = *op;
	b->direct[b->count] = cli_direct_active(r->h) ? r->h : NULL;
	return (int)b->count++;
}

int mmio_batch_read(mmio_batch *b, mmio_region *r, size_t off, unsigned width)
{
	struct proto_batch_op op = { .opcode = PROTO_OP_READ_ONCE, .width = width };

	return batch_add(b, r, off, &op);
}

int mmio_batch_write(mmio_batch *b, mmio_region *r, size_t off, unsigned width, uint64_t value)
{
	struct proto_batch_op op = { .opcode = PROTO_OP_WRITE_ONCE,
				     .width = width,
				     .value = value };

	return batch_add(b, r, off, &op);
}

int mmio_batch_poll(mmio_batch *b, mmio_region *r, size_t off, unsigned width, uint64_t mask,
		    uint64_t want, uint32_t timeout_us)
{
	struct proto_batch_op op = {
		.opcode = PROTO_OP_POLL,
		.width = width,
		.value = mask,
		.want = want,
		.timeout_us = timeout_us,
	};

	return batch_add(b, r, off, &op);
}

/*
 * Send ops [@first, @first + @count) in one BATCH request; their values go
 * to b->values[@first...]. *@done: ops completed; *@failed: index (in the
 * request) of the op that failed, or PROTO_BATCH_NONE.
 */
static int batch_send(mmio_batch *b, size_t first, size_t count, size_t *done, uint32_t *failed)
{
	struct proto_request req = { .opcode = PROTO_OP_BATCH };
	struct proto_reply rep;
	uint64_t wait_us = 0;
	nng_msg *m;
	int status;

	*done = 0;
	*failed = PROTO_BATCH_NONE;
	for (size_t i = first; i < first + count; i++)
		wait_us += b->ops[i].timeout_us;
	req.batch.count = (uint32_t)count;
	req.batch.ops = b->ops + first;
	status = cli_call(b->c, &req, cli_timeout_ms(b->c, wait_us), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	/* The decoder has checked failed against done and the status; what it
	 * cannot know is how many ops we sent. */
	if (rep.done > count || (status == MMIO_OK && rep.done != count) ||
	    (rep.batch.failed != PROTO_BATCH_NONE && rep.batch.failed >= count)) {
		nng_msg_free(m);
		return MMIO_EPROTO;
	}
	for (size_t i = 0; i < rep.done; i++) {
		uint64_t *v = &b->values[first + i];

		if (proto_batch_value_get(&rep, i, v) != MMIO_OK ||
		    !proto_value_fits(b->ops[first + i].width, *v)) {
			nng_msg_free(m);
			return MMIO_EPROTO;
		}
	}
	*done = (size_t)rep.done;
	*failed = rep.batch.failed;
	nng_msg_free(m);
	return status;
}

/* Whether op @i runs on a mapping: its handle was direct when it was added
 * and is still (a revoked window since makes it a request). */
static bool batch_direct(const mmio_batch *b, size_t i)
{
	return b->direct[i] && cli_direct_active(b->direct[i]);
}

int mmio_batch_run(mmio_batch *b, size_t *failed)
{
	size_t i = 0;
	int status = MMIO_OK;

	if (failed)
		*failed = MMIO_BATCH_NONE;
	if (!b)
		return cli_refuse_null(NULL, PROTO_OP_BATCH);
	b->done = 0;
	if (b->count == 0)
		return MMIO_OK;
	if (b->count > b->c->hello.max_batch)
		return cli_refuse(b->c, PROTO_OP_BATCH, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_BATCH,
				  b->c->hello.max_batch);
	if (cli_lost(b->c))
		return MMIO_ECONN;

	while (i < b->count && status == MMIO_OK) {
		size_t end = i, done;
		uint32_t where;

		if (batch_direct(b, i)) {
			status = cli_direct_batch_op(b->direct[i], &b->ops[i], &b->values[i]);
			if (status != MMIO_OK) {
				if (failed)
					*failed = i;
				break;
			}
			b->done = ++i;
			continue;
		}
		while (end < b->count && !batch_direct(b, end))
			end++;
		status = batch_send(b, i, end - i, &done, &where);
		b->done = i + done;
		/* A later part refused as a whole stopped the batch at its first op. */
		if (failed && status != MMIO_OK && (where != PROTO_BATCH_NONE || i > 0))
			*failed = i + (where != PROTO_BATCH_NONE ? where : 0);
		i = end;
	}
	return status;
}

int mmio_batch_value(const mmio_batch *b, size_t index, uint64_t *value)
{
	if (!b || !value)
		return cli_refuse_null(b ? b->c : NULL, PROTO_OP_BATCH);
	if (index >= b->done)
		return cli_refuse(b->c, PROTO_OP_BATCH, MMIO_REASON_RANGE, (uint64_t)index + 1,
				  b->done);
	*value = b->values[index];
	return MMIO_OK;
}
