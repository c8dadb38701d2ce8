/* SPDX-License-Identifier: MIT */
/* Replies: encode, decode, error replies. Layouts in PROTOCOL.md §4. */
#include "fields.h"

#include <string.h>

/* What a reply of each opcode carries after the header (struct proto_reply). */
enum body_kind {
	BODY_NONE,  /* never a body */
	BODY_IF_OK, /* the op's body if status is MMIO_OK, else none */
	BODY_POLL,  /* value if MMIO_OK or MMIO_ETIMEDOUT, else none */
	BODY_READ,  /* done bytes of data */
	BODY_BATCH, /* failed u32, done u64 values */
};

static enum body_kind body_kind(unsigned opcode)
{
	switch (opcode) {
	case PROTO_OP_HELLO:
	case PROTO_OP_LIST:
	case PROTO_OP_OPEN:
	case PROTO_OP_READ_ONCE:
	case PROTO_OP_MAP:
	case PROTO_OP_STATS:
	case PROTO_OP_BUF_ATTACH:
	case PROTO_OP_IRQ:
		return BODY_IF_OK;
	case PROTO_OP_POLL:
		return BODY_POLL;
	case PROTO_OP_READ:
	case PROTO_OP_READ_ROWS:
		return BODY_READ;
	case PROTO_OP_BATCH:
		return BODY_BATCH;
	default:
		return BODY_NONE;
	}
}

static bool body_present(unsigned opcode, int status)
{
	switch (body_kind(opcode)) {
	case BODY_IF_OK:
		return status == MMIO_OK;
	case BODY_POLL:
		return status == MMIO_OK || status == MMIO_ETIMEDOUT;
	case BODY_READ:
	case BODY_BATCH:
		return true;
	default:
		return false;
	}
}

/* done counts bytes or ops for these; it is 0 for every other opcode. */
static bool done_counts(unsigned opcode)
{
	return opcode == PROTO_OP_READ || opcode == PROTO_OP_WRITE || opcode == PROTO_OP_FILL ||
	       opcode == PROTO_OP_BATCH || opcode == PROTO_OP_READ_SPAN ||
	       opcode == PROTO_OP_WRITE_SPAN || opcode == PROTO_OP_READ_ROWS ||
	       opcode == PROTO_OP_WRITE_ROWS;
}

/* ---- validation shared by the encoder (EINVAL) and decoder (EPROTO) ---- */

static bool header_valid(const struct proto_reply *rep)
{
	if (rep->status > 0)
		return false;
	if (!done_counts(rep->opcode) && rep->done != 0)
		return false;
	/* A bare error reply is the only reply an unknown opcode can get. */
	if (!proto_opcode_known(rep->opcode) && rep->status == MMIO_OK)
		return false;
	return true;
}

static bool hello_valid(const struct proto_hello_rep *h)
{
	return h->version >= 1 && h->version <= UINT16_MAX && (h->flags & ~PROTO_HELLO_FLAGS) == 0;
}

static bool open_valid(const struct proto_open_rep *o)
{
	return (o->access & ~MMIO_ACCESS_ALL) == 0 && (o->ops & ~MMIO_OPS_ALL) == 0 &&
	       (o->widths & ~MMIO_WIDTHS_ALL) == 0 && o->cache <= MMIO_CACHE_MAX &&
	       (o->width == 0 || mmio_width_valid(o->width)) &&
	       (o->flags & ~MMIO_HANDLE_FLAGS) == 0 && proto_where_valid(o->where);
}

static bool batch_valid(int status, uint64_t done, uint32_t failed)
{
	if (done > PROTO_BATCH_MAX)
		return false;
	if (status == MMIO_OK)
		return failed == PROTO_BATCH_NONE;
	if (failed == PROTO_BATCH_NONE)
		return done == 0;
	return failed == done;
}

/* The body a refusal has before its reason record: 0 if none, SIZE_MAX if
 * done says more than any message holds. */
static size_t refusal_body_size(const struct proto_reply *rep)
{
	if (!body_present(rep->opcode, rep->status))
		return 0;
	switch (body_kind(rep->opcode)) {
	case BODY_READ:
		return rep->done > SIZE_MAX - PROTO_REASON_SIZE ? SIZE_MAX : (size_t)rep->done;
	case BODY_BATCH:
		return rep->done > PROTO_BATCH_MAX ? SIZE_MAX : 4 + 8 * (size_t)rep->done;
	default: /* POLL with MMIO_ETIMEDOUT */
		return PROTO_VALUE_REP_SIZE;
	}
}

static void reason_write(struct proto_writer *w, const struct mmio_reason *why)
{
	proto_write_u8(w, (uint8_t)why->code);
	proto_write_u8(w, (uint8_t)why->op);
	proto_write_u64(w, why->a);
	proto_write_u64(w, why->b);
}

/* A reason record at the end of a refusal's @r: read it into out->reason
 * and leave @r before it. MMIO_EPROTO if it is there but not valid. */
static int reason_read(struct proto_reader *r, struct proto_reply *out)
{
	struct proto_reader tail;
	size_t body = refusal_body_size(out);

	if (out->status >= 0 || body == SIZE_MAX || r->left != body + PROTO_REASON_SIZE)
		return MMIO_OK;
	proto_reader_init(&tail, r->p + body, PROTO_REASON_SIZE);
	out->reason.code = proto_read_u8(&tail);
	out->reason.op = proto_read_u8(&tail);
	out->reason.a = proto_read_u64(&tail);
	out->reason.b = proto_read_u64(&tail);
	r->left = body;
	return proto_reason_valid(&out->reason, out->status) ? MMIO_OK : MMIO_EPROTO;
}

/* ---- encoding ---- */

static bool list_encodable(const struct proto_list_rep *l)
{
	struct proto_list_iter it;
	struct proto_list_entry e;
	uint32_t n = 0;

	if (l->count > PROTO_LIST_MAX)
		return false;
	if (l->count != 0 && !l->entries && !l->wire)
		return false;
	proto_list_iter_init(&it, l);
	while (proto_list_iter_next(&it, &e)) {
		if (!proto_list_entry_valid(&e))
			return false;
		n++;
	}
	/* From wire: the entries must fill wire_len exactly, as on decode. */
	if (!l->entries && it.wire_pos != l->wire_len)
		return false;
	return n == l->count;
}

static bool body_encodable(const struct proto_reply *rep)
{
	switch (rep->opcode) {
	case PROTO_OP_HELLO:
		return hello_valid(&rep->hello);
	case PROTO_OP_LIST:
		return list_encodable(&rep->list);
	case PROTO_OP_OPEN:
		return open_valid(&rep->open);
	case PROTO_OP_READ:
	case PROTO_OP_READ_ROWS:
		return rep->done == 0 || rep->read.data;
	case PROTO_OP_BATCH:
		return batch_valid(rep->status, rep->done, rep->batch.failed) &&
		       (rep->done == 0 || rep->batch.values || rep->batch.wire);
	case PROTO_OP_STATS:
		return rep->stats.count <= PROTO_STATS_MAX &&
		       (rep->stats.count == 0 || rep->stats.counters || rep->stats.wire);
	default: /* READ_ONCE, POLL, MAP: any value */
		return true;
	}
}

static void body_write(struct proto_writer *w, const struct proto_reply *rep)
{
	struct proto_list_iter it;
	struct proto_list_entry e;
	uint64_t v;

	switch (rep->opcode) {
	case PROTO_OP_HELLO:
		proto_write_u16(w, (uint16_t)rep->hello.version);
		proto_write_u16(w, (uint16_t)rep->hello.flags);
		proto_write_u32(w, rep->hello.max_message);
		proto_write_u32(w, rep->hello.max_batch);
		proto_write_u32(w, rep->hello.max_handles);
		break;
	case PROTO_OP_LIST:
		proto_write_u32(w, rep->list.count);
		proto_list_iter_init(&it, &rep->list);
		while (proto_list_iter_next(&it, &e))
			proto_list_entry_write(w, &e);
		break;
	case PROTO_OP_OPEN:
		proto_write_u32(w, rep->open.handle);
		proto_write_u64(w, rep->open.size);
		proto_write_u8(w, (uint8_t)rep->open.access);
		proto_write_u8(w, (uint8_t)rep->open.ops);
		proto_write_u8(w, (uint8_t)rep->open.widths);
		proto_write_u8(w, (uint8_t)rep->open.cache);
		proto_write_u8(w, (uint8_t)rep->open.width);
		proto_write_u8(w, (uint8_t)rep->open.flags);
		proto_write_u64(w, rep->open.phys);
		proto_where_write(w, rep->open.where);
		break;
	case PROTO_OP_READ_ONCE:
		proto_write_u64(w, rep->read_once.value);
		break;
	case PROTO_OP_POLL:
		proto_write_u64(w, rep->poll.value);
		break;
	case PROTO_OP_READ:
	case PROTO_OP_READ_ROWS:
		proto_write_bytes(w, rep->read.data, (size_t)rep->done);
		break;
	case PROTO_OP_BATCH:
		proto_write_u32(w, rep->batch.failed);
		for (size_t i = 0; i < rep->done; i++) {
			if (proto_batch_value_get(rep, i, &v) == MMIO_OK)
				proto_write_u64(w, v);
		}
		break;
	case PROTO_OP_MAP:
		proto_write_u64(w, rep->map.token);
		proto_write_u64(w, rep->map.length);
		proto_write_u64(w, rep->map.offset);
		break;
	case PROTO_OP_BUF_ATTACH:
		proto_write_u64(w, rep->buf_attach.token);
		break;
	case PROTO_OP_IRQ:
		proto_write_u64(w, rep->irq.token);
		break;
	case PROTO_OP_STATS:
		proto_write_u32(w, rep->stats.count);
		for (unsigned i = 0; i < rep->stats.count; i++)
			proto_write_u64(w, proto_stats_counter(&rep->stats, i));
		break;
	default:
		break;
	}
}

int proto_reply_encode(const struct proto_reply *rep, void *buf, size_t cap, size_t *len)
{
	struct proto_writer w;
	bool body = body_present(rep->opcode, rep->status);
	unsigned version = rep->opcode == PROTO_OP_HELLO ? PROTO_HELLO_VERSION
			   : rep->version		 ? rep->version
							 : PROTO_VERSION;
	bool reason = rep->reason.code != 0 && version >= PROTO_VERSION_REASONS;

	if (rep->opcode > UINT16_MAX || !header_valid(rep) || (body && !body_encodable(rep)) ||
	    (reason && !proto_reason_valid(&rep->reason, rep->status)) ||
	    version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX) {
		if (len)
			*len = 0;
		return MMIO_EINVAL;
	}
	proto_writer_init(&w, buf, cap);
	proto_write_u32(&w, PROTO_MAGIC_REPLY);
	proto_write_u16(&w, (uint16_t)version);
	proto_write_u16(&w, (uint16_t)rep->opcode);
	proto_write_u32(&w, proto_i32_to_u32((int32_t)rep->status));
	proto_write_u64(&w, rep->done);
	if (body)
		body_write(&w, rep);
	if (reason)
		reason_write(&w, &rep->reason);
	return proto_writer_finish(&w, len);
}

/* The version of @request's header if this code speaks it, else the
 * oldest: what a client that sent it can read the refusal in. */
static unsigned peek_version(const void *request, size_t len)
{
	const uint8_t *p = request;
	unsigned version;

	if (!p || len < PROTO_REQUEST_HEADER_SIZE ||
	    proto_get_u32(p + PROTO_REQ_OFF_MAGIC) != PROTO_MAGIC_REQUEST)
		return PROTO_VERSION_MIN;
	version = proto_get_u16(p + PROTO_REQ_OFF_VERSION);
	return version >= PROTO_VERSION_MIN && version <= PROTO_VERSION_MAX ? version
									    : PROTO_VERSION_MIN;
}

int proto_error_reply_encode(const void *request, size_t request_len, int status, void *buf,
			     size_t cap, size_t *len)
{
	return proto_refusal_encode(request, request_len, status, NULL, buf, cap, len);
}

int proto_refusal_encode(const void *request, size_t request_len, int status,
			 const struct mmio_reason *why, void *buf, size_t cap, size_t *len)
{
	struct proto_reply rep;

	if (status == PROTO_EUNKNOWN_OP)
		status = MMIO_EPROTO;
	if (status >= 0) {
		if (len)
			*len = 0;
		return MMIO_EINVAL;
	}
	memset(&rep, 0, sizeof(rep));
	rep.opcode = proto_peek_opcode(request, request_len);
	rep.version = peek_version(request, request_len);
	rep.status = status;
	if (rep.opcode == PROTO_OP_BATCH)
		rep.batch.failed = PROTO_BATCH_NONE;
	if (why) {
		rep.reason = *why;
		if (rep.reason.op == 0)
			rep.reason.op = rep.opcode;
	}
	return proto_reply_encode(&rep, buf, cap, len);
}

/* ---- decoding ---- */

static int body_fixed(const struct proto_reader *r, size_t size)
{
	return r->left == size ? MMIO_OK : MMIO_EPROTO;
}

static int hello_read(struct proto_reader *r, struct proto_hello_rep *h)
{
	if (body_fixed(r, PROTO_HELLO_REP_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	h->version = proto_read_u16(r);
	h->flags = proto_read_u16(r);
	h->max_message = proto_read_u32(r);
	h->max_batch = proto_read_u32(r);
	h->max_handles = proto_read_u32(r);
	return hello_valid(h) ? MMIO_OK : MMIO_EPROTO;
}

static int list_read(struct proto_reader *r, struct proto_list_rep *l)
{
	struct proto_list_entry e;
	const uint8_t *wire;
	size_t wire_len;
	uint32_t count = proto_read_u32(r);

	if (r->bad || count > PROTO_LIST_MAX)
		return MMIO_EPROTO;
	/* Every entry takes at least 1 + 1 + PROTO_LIST_ENTRY_FIXED + 1 bytes: a
	 * count the message cannot hold is refused before walking it. */
	if ((uint64_t)count * (3 + PROTO_LIST_ENTRY_FIXED) > r->left)
		return MMIO_EPROTO;
	wire = r->p;
	wire_len = r->left;
	for (uint32_t i = 0; i < count; i++)
		if (!proto_list_entry_read(r, &e))
			return MMIO_EPROTO;
	l->count = count;
	l->entries = NULL;
	l->wire = wire;
	l->wire_len = wire_len - r->left;
	return MMIO_OK;
}

static int open_read(struct proto_reader *r, struct proto_open_rep *o)
{
	if (r->left < PROTO_OPEN_REP_FIXED + 1)
		return MMIO_EPROTO;
	o->handle = proto_read_u32(r);
	o->size = proto_read_u64(r);
	o->access = proto_read_u8(r);
	o->ops = proto_read_u8(r);
	o->widths = proto_read_u8(r);
	o->cache = proto_read_u8(r);
	o->width = proto_read_u8(r);
	o->flags = proto_read_u8(r);
	o->phys = proto_read_u64(r);
	if (!proto_where_read(r, o->where))
		return MMIO_EPROTO;
	return open_valid(o) ? MMIO_OK : MMIO_EPROTO;
}

static int value_read(struct proto_reader *r, struct proto_value_rep *v)
{
	if (body_fixed(r, PROTO_VALUE_REP_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	v->value = proto_read_u64(r);
	return MMIO_OK;
}

static int read_data_read(struct proto_reader *r, uint64_t done, struct proto_read_rep *o)
{
	const uint8_t *data;

	if (done != r->left || !proto_read_bytes(r, (size_t)done, &data))
		return MMIO_EPROTO;
	o->data = data;
	return MMIO_OK;
}

static int batch_read(struct proto_reader *r, int status, uint64_t done, struct proto_batch_rep *b)
{
	const uint8_t *wire;
	uint64_t bytes;

	b->failed = proto_read_u32(r);
	if (r->bad || !batch_valid(status, done, b->failed))
		return MMIO_EPROTO;
	/* done is bounded by PROTO_BATCH_MAX above; the check stays for the
	 * day that bound grows. */
	if (__builtin_mul_overflow(done, (uint64_t)8, &bytes) || bytes != r->left)
		return MMIO_EPROTO;
	if (!proto_read_bytes(r, (size_t)bytes, &wire))
		return MMIO_EPROTO;
	b->values = NULL;
	b->wire = wire;
	return MMIO_OK;
}

static int map_read(struct proto_reader *r, struct proto_map_rep *m)
{
	if (body_fixed(r, PROTO_MAP_REP_SIZE) != MMIO_OK)
		return MMIO_EPROTO;
	m->token = proto_read_u64(r);
	m->length = proto_read_u64(r);
	m->offset = proto_read_u64(r);
	return MMIO_OK;
}

static int stats_read(struct proto_reader *r, struct proto_stats_rep *s)
{
	const uint8_t *wire;
	size_t bytes;
	uint32_t count = proto_read_u32(r);

	if (r->bad || count > PROTO_STATS_MAX)
		return MMIO_EPROTO;
	if (__builtin_mul_overflow((size_t)count, (size_t)8, &bytes) || bytes != r->left)
		return MMIO_EPROTO;
	if (!proto_read_bytes(r, bytes, &wire))
		return MMIO_EPROTO;
	s->count = count;
	s->counters = NULL;
	s->wire = wire;
	return MMIO_OK;
}

static int body_read(struct proto_reader *r, struct proto_reply *out)
{
	switch (out->opcode) {
	case PROTO_OP_HELLO:
		return hello_read(r, &out->hello);
	case PROTO_OP_LIST:
		return list_read(r, &out->list);
	case PROTO_OP_OPEN:
		return open_read(r, &out->open);
	case PROTO_OP_READ_ONCE:
		return value_read(r, &out->read_once);
	case PROTO_OP_POLL:
		return value_read(r, &out->poll);
	case PROTO_OP_READ:
	case PROTO_OP_READ_ROWS:
		return read_data_read(r, out->done, &out->read);
	case PROTO_OP_BATCH:
		return batch_read(r, out->status, out->done, &out->batch);
	case PROTO_OP_MAP:
		return map_read(r, &out->map);
	case PROTO_OP_STATS:
		return stats_read(r, &out->stats);
	case PROTO_OP_BUF_ATTACH:
		if (r->left != PROTO_BUF_ATTACH_REP_SIZE)
			return MMIO_EPROTO;
		out->buf_attach.token = proto_read_u64(r);
		return MMIO_OK;
	case PROTO_OP_IRQ:
		if (r->left != 8)
			return MMIO_EPROTO;
		out->irq.token = proto_read_u64(r);
		return MMIO_OK;
	default:
		return MMIO_OK;
	}
}

int proto_reply_decode(const void *buf, size_t len, struct proto_reply *out)
{
	struct proto_reader r;
	unsigned version;
	int rc;

	memset(out, 0, sizeof(*out));
	proto_reader_init(&r, buf, len);
	if (r.left < PROTO_REPLY_HEADER_SIZE)
		return MMIO_EPROTO;
	if (proto_read_u32(&r) != PROTO_MAGIC_REPLY)
		return MMIO_EPROTO;
	version = proto_read_u16(&r);
	out->opcode = proto_read_u16(&r);
	/* The reply header is the same in every version, so a client can report
	 * the status of a reply whose body it cannot read. */
	out->status = proto_u32_to_i32(proto_read_u32(&r));
	out->done = proto_read_u64(&r);
	if (version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX)
		rc = MMIO_EVERSION;
	else if (!proto_opcode_known(out->opcode))
		rc = PROTO_EUNKNOWN_OP;
	else if (!header_valid(out) ||
		 (out->opcode == PROTO_OP_HELLO && version != PROTO_HELLO_VERSION))
		rc = MMIO_EPROTO;
	else if (version >= PROTO_VERSION_REASONS && reason_read(&r, out) != MMIO_OK)
		rc = MMIO_EPROTO;
	else if (body_present(out->opcode, out->status))
		rc = body_read(&r, out);
	else
		rc = MMIO_OK;
	if (rc == MMIO_OK && !proto_reader_done(&r))
		rc = MMIO_EPROTO;
	if (rc != MMIO_OK) {
		unsigned opcode = out->opcode;
		int status = out->status;
		uint64_t done = out->done;

		memset(out, 0, sizeof(*out));
		out->opcode = opcode;
		out->status = status;
		out->done = done;
	}
	out->version = version;
	return rc;
}
