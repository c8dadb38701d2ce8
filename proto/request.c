/* SPDX-License-Identifier: MIT */
/* Requests: encode, decode, peek. Layouts in PROTOCOL.md §3. */
#include "fields.h"

#include <string.h>

/* ---- validation shared by the encoder (EINVAL) and decoder (EPROTO) ---- */

static bool hello_valid(const struct proto_hello_req *h)
{
	return h->min_version >= 1 && h->min_version <= h->max_version &&
	       h->max_version <= UINT16_MAX;
}

static bool poll_valid(const struct proto_poll_req *p)
{
	return proto_value_fits(p->width, p->mask) && proto_value_fits(p->width, p->want);
}

/* WRITE_ROWS carries exactly row_bytes * rows bytes, a product that fits. */
static bool rows_data_valid(const struct proto_rows_req *q, uint64_t len)
{
	uint64_t need;

	return !__builtin_mul_overflow(q->row_bytes, (uint64_t)q->rows, &need) && need == len;
}

/* ---- encoding ---- */

static bool batch_encodable(const struct proto_batch_req *b)
{
	struct proto_batch_op op;

	if (b->count > PROTO_BATCH_MAX)
		return false;
	if (b->count != 0 && !b->ops && !b->wire)
		return false;
	for (uint32_t i = 0; i < b->count; i++) {
		if (proto_batch_op_get(b, i, &op) != MMIO_OK || !proto_batch_op_valid(&op))
			return false;
	}
	return true;
}

static bool request_encodable(const struct proto_request *req)
{
	switch (req->opcode) {
	case PROTO_OP_HELLO:
		return hello_valid(&req->hello);
	case PROTO_OP_LIST:
	case PROTO_OP_STATS:
	case PROTO_OP_CLOSE:
	case PROTO_OP_MAP:
	case PROTO_OP_UNMAP:
	case PROTO_OP_READ:
	case PROTO_OP_FILL:
	case PROTO_OP_BUF_ATTACH:
	case PROTO_OP_BUF_DETACH:
	case PROTO_OP_READ_SPAN:
	case PROTO_OP_WRITE_SPAN:
	case PROTO_OP_MAILBOX:
		return true;
	case PROTO_OP_IRQ:
		return proto_name_cstr_valid(req->irq.name);
	case PROTO_OP_OPEN:
		return proto_name_cstr_valid(req->open.name) &&
		       (req->open.flags & ~PROTO_OPEN_FLAGS) == 0;
	case PROTO_OP_READ_ONCE:
		return mmio_width_valid(req->read_once.width);
	case PROTO_OP_WRITE_ONCE:
		return proto_value_fits(req->write_once.width, req->write_once.value);
	case PROTO_OP_WRITE:
		return req->write.data || req->write.len == 0;
	case PROTO_OP_READ_ROWS:
		return true;
	case PROTO_OP_WRITE_ROWS:
		return (req->rows.data || req->rows.len == 0) &&
		       rows_data_valid(&req->rows, req->rows.len);
	case PROTO_OP_BATCH:
		return batch_encodable(&req->batch);
	case PROTO_OP_POLL:
		return poll_valid(&req->poll);
	default:
		return false;
	}
}

/* Long but flat: one case per opcode, each its wire fields in order; split up,
 * a request's layout would no longer read as one table. */
static void request_body_write(struct proto_writer *w, const struct proto_request *req)
{
	struct proto_batch_op op;

	switch (req->opcode) {
	case PROTO_OP_HELLO:
		proto_write_u16(w, (uint16_t)req->hello.min_version);
		proto_write_u16(w, (uint16_t)req->hello.max_version);
		break;
	case PROTO_OP_OPEN:
		proto_name_write(w, req->open.name);
		proto_write_u64(w, req->open.offset);
		proto_write_u64(w, req->open.length);
		proto_write_u32(w, req->open.flags);
		break;
	case PROTO_OP_CLOSE:
		proto_write_u32(w, req->close.handle);
		break;
	case PROTO_OP_IRQ:
		proto_name_write(w, req->irq.name);
		break;
	case PROTO_OP_MAP:
		proto_write_u32(w, req->map.handle);
		break;
	case PROTO_OP_UNMAP:
		proto_write_u32(w, req->unmap.handle);
		break;
	case PROTO_OP_READ_ONCE:
		proto_write_u32(w, req->read_once.handle);
		proto_write_u8(w, (uint8_t)req->read_once.width);
		proto_write_u64(w, req->read_once.offset);
		break;
	case PROTO_OP_WRITE_ONCE:
		proto_write_u32(w, req->write_once.handle);
		proto_write_u8(w, (uint8_t)req->write_once.width);
		proto_write_u64(w, req->write_once.offset);
		proto_write_u64(w, req->write_once.value);
		break;
	case PROTO_OP_READ:
		proto_write_u32(w, req->read.handle);
		proto_write_u64(w, req->read.offset);
		proto_write_u64(w, req->read.len);
		break;
	case PROTO_OP_WRITE:
		proto_write_u32(w, req->write.handle);
		proto_write_u64(w, req->write.offset);
		proto_write_u64(w, (uint64_t)req->write.len);
		proto_write_bytes(w, req->write.data, req->write.len);
		break;
	case PROTO_OP_FILL:
		proto_write_u32(w, req->fill.handle);
		proto_write_u64(w, req->fill.offset);
		proto_write_u64(w, req->fill.len);
		proto_write_u8(w, req->fill.byte);
		break;
	case PROTO_OP_BATCH:
		proto_write_u32(w, req->batch.count);
		for (uint32_t i = 0; i < req->batch.count; i++) {
			/* batch_encodable() has fetched every op once already. */
			if (proto_batch_op_get(&req->batch, i, &op) == MMIO_OK)
				proto_batch_op_write(w, &op);
		}
		break;
	case PROTO_OP_POLL:
		proto_write_u32(w, req->poll.handle);
		proto_write_u8(w, (uint8_t)req->poll.width);
		proto_write_u64(w, req->poll.offset);
		proto_write_u64(w, req->poll.mask);
		proto_write_u64(w, req->poll.want);
		proto_write_u32(w, req->poll.timeout_us);
		break;
	case PROTO_OP_BUF_ATTACH:
		proto_write_u64(w, req->buf_attach.length);
		break;
	case PROTO_OP_BUF_DETACH:
		proto_write_u32(w, req->buf_detach.buffer);
		break;
	case PROTO_OP_MAILBOX:
		proto_write_u32(w, req->mailbox.buffer);
		break;
	case PROTO_OP_READ_SPAN:
	case PROTO_OP_WRITE_SPAN:
		proto_write_u32(w, req->span.handle);
		proto_write_u64(w, req->span.offset);
		proto_write_u64(w, req->span.len);
		proto_write_u32(w, req->span.buffer);
		proto_write_u64(w, req->span.buf_offset);
		break;
	case PROTO_OP_READ_ROWS:
	case PROTO_OP_WRITE_ROWS:
		proto_write_u32(w, req->rows.handle);
		proto_write_u64(w, req->rows.offset);
		proto_write_u64(w, req->rows.row_bytes);
		proto_write_u64(w, req->rows.pitch);
		proto_write_u32(w, req->rows.rows);
		if (req->opcode == PROTO_OP_WRITE_ROWS)
			proto_write_bytes(w, req->rows.data, req->rows.len);
		break;
	default: /* LIST, STATS: no body */
		break;
	}
}

int proto_request_encode(const struct proto_request *req, void *buf, size_t cap, size_t *len)
{
	struct proto_writer w;

	unsigned version = req->opcode == PROTO_OP_HELLO ? PROTO_HELLO_VERSION
			   : req->version		 ? req->version
							 : PROTO_VERSION;

	if (!request_encodable(req) || version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX) {
		if (len)
			*len = 0;
		return MMIO_EINVAL;
	}
	proto_writer_init(&w, buf, cap);
	proto_write_u32(&w, PROTO_MAGIC_REQUEST);
	proto_write_u16(&w, (uint16_t)version);
	proto_write_u16(&w, (uint16_t)req->opcode);
	request_body_write(&w, req);
	return proto_writer_finish(&w, len);
}

/* ---- decoding ---- */

/* Fixed-size bodies: the size is checked before any field is read. */
static int body_fixed(const struct proto_reader *r, size_t size)
{
	return r->left == size ? MMIO_OK : MMIO_EPROTO;
}

static int hello_read(struct proto_reader *r, struct proto_hello_req *h)
{
	if (body_fixed(r, PROTO_HELLO_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	h->min_version = proto_read_u16(r);
	h->max_version = proto_read_u16(r);
	return hello_valid(h) ? MMIO_OK : MMIO_EPROTO;
}

static int open_read(struct proto_reader *r, struct proto_open_req *o)
{
	if (!proto_name_read(r, o->name))
		return MMIO_EPROTO;
	if (body_fixed(r, PROTO_OPEN_REQ_FIXED) != MMIO_OK)
		return MMIO_EPROTO;
	o->offset = proto_read_u64(r);
	o->length = proto_read_u64(r);
	o->flags = proto_read_u32(r);
	return (o->flags & ~PROTO_OPEN_FLAGS) == 0 ? MMIO_OK : MMIO_EPROTO;
}

static int handle_read(struct proto_reader *r, struct proto_handle_req *h)
{
	if (body_fixed(r, PROTO_HANDLE_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	h->handle = proto_read_u32(r);
	return MMIO_OK;
}

static int read_once_read(struct proto_reader *r, struct proto_read_once_req *o)
{
	if (body_fixed(r, PROTO_READ_ONCE_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->width = proto_read_u8(r);
	o->offset = proto_read_u64(r);
	return mmio_width_valid(o->width) ? MMIO_OK : MMIO_EPROTO;
}

static int write_once_read(struct proto_reader *r, struct proto_write_once_req *o)
{
	if (body_fixed(r, PROTO_WRITE_ONCE_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->width = proto_read_u8(r);
	o->offset = proto_read_u64(r);
	o->value = proto_read_u64(r);
	return proto_value_fits(o->width, o->value) ? MMIO_OK : MMIO_EPROTO;
}

static int read_read(struct proto_reader *r, struct proto_read_req *o)
{
	if (body_fixed(r, PROTO_READ_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->offset = proto_read_u64(r);
	o->len = proto_read_u64(r);
	return MMIO_OK;
}

static int write_read(struct proto_reader *r, struct proto_write_req *o)
{
	const uint8_t *data;
	uint64_t n;

	o->handle = proto_read_u32(r);
	o->offset = proto_read_u64(r);
	n = proto_read_u64(r);
	/* The data must be exactly the rest of the message: a truncated or
	 * padded WRITE is refused rather than written short. */
	if (r->bad || n != r->left)
		return MMIO_EPROTO;
	if (!proto_read_bytes(r, (size_t)n, &data))
		return MMIO_EPROTO;
	o->data = data;
	o->len = (size_t)n;
	return MMIO_OK;
}

static int fill_read(struct proto_reader *r, struct proto_fill_req *o)
{
	if (body_fixed(r, PROTO_FILL_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->offset = proto_read_u64(r);
	o->len = proto_read_u64(r);
	o->byte = proto_read_u8(r);
	return MMIO_OK;
}

static int batch_read(struct proto_reader *r, struct proto_batch_req *b)
{
	struct proto_batch_op op;
	const uint8_t *wire;
	size_t bytes;
	uint32_t count = proto_read_u32(r);

	if (r->bad || count > PROTO_BATCH_MAX)
		return MMIO_EPROTO;
	if (__builtin_mul_overflow((size_t)count, (size_t)PROTO_BATCH_OP_SIZE, &bytes))
		return MMIO_EPROTO;
	if (bytes != r->left || !proto_read_bytes(r, bytes, &wire))
		return MMIO_EPROTO;
	for (uint32_t i = 0; i < count; i++) {
		proto_batch_op_parse(wire + (size_t)i * PROTO_BATCH_OP_SIZE, &op);
		if (!proto_batch_op_valid(&op))
			return MMIO_EPROTO;
	}
	b->count = count;
	b->ops = NULL;
	b->wire = wire;
	return MMIO_OK;
}

static int poll_read(struct proto_reader *r, struct proto_poll_req *o)
{
	if (body_fixed(r, PROTO_POLL_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->width = proto_read_u8(r);
	o->offset = proto_read_u64(r);
	o->mask = proto_read_u64(r);
	o->want = proto_read_u64(r);
	o->timeout_us = proto_read_u32(r);
	return poll_valid(o) ? MMIO_OK : MMIO_EPROTO;
}

static int buf_attach_read(struct proto_reader *r, struct proto_buf_attach_req *o)
{
	if (body_fixed(r, PROTO_BUF_ATTACH_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->length = proto_read_u64(r);
	return MMIO_OK;
}

static int buf_read(struct proto_reader *r, struct proto_buf_req *o)
{
	if (body_fixed(r, PROTO_BUF_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->buffer = proto_read_u32(r);
	return MMIO_OK;
}

static int span_read(struct proto_reader *r, struct proto_span_req *o)
{
	if (body_fixed(r, PROTO_SPAN_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->offset = proto_read_u64(r);
	o->len = proto_read_u64(r);
	o->buffer = proto_read_u32(r);
	o->buf_offset = proto_read_u64(r);
	return MMIO_OK;
}

static int rows_read(struct proto_reader *r, bool write, struct proto_rows_req *o)
{
	const uint8_t *data;

	if (write ? r->left < PROTO_ROWS_REQ_SIZE : body_fixed(r, PROTO_ROWS_REQ_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->offset = proto_read_u64(r);
	o->row_bytes = proto_read_u64(r);
	o->pitch = proto_read_u64(r);
	o->rows = proto_read_u32(r);
	if (!write)
		return MMIO_OK;
	/* The data is exactly the rows, packed: no more, no less. */
	if (!rows_data_valid(o, r->left) || !proto_read_bytes(r, r->left, &data))
		return MMIO_EPROTO;
	o->data = data;
	o->len = (size_t)(o->row_bytes * o->rows);
	return MMIO_OK;
}

static int request_body_read(struct proto_reader *r, struct proto_request *out)
{
	switch (out->opcode) {
	case PROTO_OP_HELLO:
		return hello_read(r, &out->hello);
	case PROTO_OP_LIST:
	case PROTO_OP_STATS:
		return MMIO_OK;
	case PROTO_OP_OPEN:
		return open_read(r, &out->open);
	case PROTO_OP_CLOSE:
		return handle_read(r, &out->close);
	case PROTO_OP_IRQ:
		return proto_name_read(r, out->irq.name) ? MMIO_OK : MMIO_EPROTO;
	case PROTO_OP_READ_ONCE:
		return read_once_read(r, &out->read_once);
	case PROTO_OP_WRITE_ONCE:
		return write_once_read(r, &out->write_once);
	case PROTO_OP_READ:
		return read_read(r, &out->read);
	case PROTO_OP_WRITE:
		return write_read(r, &out->write);
	case PROTO_OP_FILL:
		return fill_read(r, &out->fill);
	case PROTO_OP_BATCH:
		return batch_read(r, &out->batch);
	case PROTO_OP_POLL:
		return poll_read(r, &out->poll);
	case PROTO_OP_MAP:
		return handle_read(r, &out->map);
	case PROTO_OP_UNMAP:
		return handle_read(r, &out->unmap);
	case PROTO_OP_BUF_ATTACH:
		return buf_attach_read(r, &out->buf_attach);
	case PROTO_OP_BUF_DETACH:
		return buf_read(r, &out->buf_detach);
	case PROTO_OP_MAILBOX:
		return buf_read(r, &out->mailbox);
	case PROTO_OP_READ_SPAN:
	case PROTO_OP_WRITE_SPAN:
		return span_read(r, &out->span);
	case PROTO_OP_READ_ROWS:
	case PROTO_OP_WRITE_ROWS:
		return rows_read(r, out->opcode == PROTO_OP_WRITE_ROWS, &out->rows);
	default:
		return PROTO_EUNKNOWN_OP;
	}
}

unsigned proto_peek_opcode(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!p || len < PROTO_REQUEST_HEADER_SIZE)
		return PROTO_OP_NONE;
	if (proto_get_u32(p + PROTO_REQ_OFF_MAGIC) != PROTO_MAGIC_REQUEST)
		return PROTO_OP_NONE;
	return proto_get_u16(p + PROTO_REQ_OFF_OPCODE);
}

int proto_request_decode(const void *buf, size_t len, struct proto_request *out)
{
	struct proto_reader r;
	unsigned version;
	int rc;

	memset(out, 0, sizeof(*out));
	proto_reader_init(&r, buf, len);
	if (r.left < PROTO_REQUEST_HEADER_SIZE)
		return MMIO_EPROTO;
	if (proto_read_u32(&r) != PROTO_MAGIC_REQUEST)
		return MMIO_EPROTO;
	version = proto_read_u16(&r);
	out->opcode = proto_read_u16(&r);
	if (version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX)
		rc = MMIO_EVERSION;
	else if (out->opcode == PROTO_OP_HELLO && version != PROTO_HELLO_VERSION)
		rc = MMIO_EPROTO; /* HELLO is always sent in version 1 */
	else
		rc = request_body_read(&r, out);
	if (rc == MMIO_OK && !proto_reader_done(&r))
		rc = MMIO_EPROTO;
	if (rc != MMIO_OK) {
		unsigned opcode = out->opcode;

		memset(out, 0, sizeof(*out));
		out->opcode = opcode;
	}
	/* What a reply to it is encoded in (an unspoken one: the oldest). */
	out->version = rc == MMIO_EVERSION ? PROTO_VERSION_MIN : version;
	return rc;
}
