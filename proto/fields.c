/* SPDX-License-Identifier: MIT */
/*
 * Fields shared by several messages, the validity predicates, and the
 * accessors of counted payloads.
 */
#include "fields.h"

#include <string.h>

bool proto_value_fits(unsigned width, uint64_t value)
{
	if (!mmio_width_valid(width))
		return false;
	return width == 8 || value >> (width * 8) == 0;
}

static bool name_char_valid(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

bool proto_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > PROTO_NAME_MAX || !name)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char_valid((unsigned char)name[i]))
			return false;
	return true;
}

bool proto_name_cstr_valid(const char *name)
{
	/* Bounded: the name lives in a PROTO_NAME_MAX + 1 array that a caller
	 * may have filled without a terminator. */
	return name && proto_name_valid(name, strnlen(name, PROTO_NAME_MAX + 1));
}

/* A u8 length and that many bytes that @valid accepts, into @out (at most
 * 255 bytes and the terminator; @valid bounds it further). */
static bool counted_read(struct proto_reader *r, char *out, bool (*valid)(const char *, size_t))
{
	size_t n = proto_read_u8(r);
	const uint8_t *bytes;

	if (r->bad || !proto_read_bytes(r, n, &bytes) || !valid((const char *)bytes, n))
		return false;
	memcpy(out, bytes, n);
	out[n] = '\0';
	return true;
}

bool proto_name_read(struct proto_reader *r, char name[PROTO_NAME_MAX + 1])
{
	return counted_read(r, name, proto_name_valid);
}

/* A u8 length and the bytes of @s, at most @max of them. */
static void counted_write(struct proto_writer *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	proto_write_u8(w, (uint8_t)n);
	proto_write_bytes(w, s, n);
}

void proto_name_write(struct proto_writer *w, const char *name)
{
	counted_write(w, name, PROTO_NAME_MAX);
}

static bool where_bytes_valid(const char *s, size_t n)
{
	if (n > PROTO_WHERE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

bool proto_where_valid(const char *where)
{
	return where_bytes_valid(where, strnlen(where, PROTO_WHERE_MAX + 1));
}

bool proto_where_read(struct proto_reader *r, char where[PROTO_WHERE_MAX + 1])
{
	return counted_read(r, where, where_bytes_valid);
}

void proto_where_write(struct proto_writer *w, const char *where)
{
	counted_write(w, where, PROTO_WHERE_MAX);
}

bool proto_batch_op_valid(const struct proto_batch_op *op)
{
	if (!mmio_width_valid(op->width))
		return false;
	switch (op->opcode) {
	case PROTO_OP_READ_ONCE:
		return op->value == 0 && op->want == 0 && op->timeout_us == 0;
	case PROTO_OP_WRITE_ONCE:
		return proto_value_fits(op->width, op->value) && op->want == 0 &&
		       op->timeout_us == 0;
	case PROTO_OP_POLL:
		return proto_value_fits(op->width, op->value) &&
		       proto_value_fits(op->width, op->want);
	default:
		return false;
	}
}

void proto_batch_op_parse(const uint8_t *rec, struct proto_batch_op *out)
{
	out->opcode = proto_get_u8(rec);
	out->width = proto_get_u8(rec + 1);
	out->handle = proto_get_u32(rec + 2);
	out->offset = proto_get_u64(rec + 6);
	out->value = proto_get_u64(rec + 14);
	out->want = proto_get_u64(rec + 22);
	out->timeout_us = proto_get_u32(rec + 30);
}

void proto_batch_op_write(struct proto_writer *w, const struct proto_batch_op *op)
{
	proto_write_u8(w, (uint8_t)op->opcode);
	proto_write_u8(w, (uint8_t)op->width);
	proto_write_u32(w, op->handle);
	proto_write_u64(w, op->offset);
	proto_write_u64(w, op->value);
	proto_write_u64(w, op->want);
	proto_write_u32(w, op->timeout_us);
}

bool proto_list_entry_valid(const struct proto_list_entry *e)
{
	return proto_name_cstr_valid(e->name) && (e->access & ~MMIO_ACCESS_ALL) == 0 &&
	       (e->ops & ~MMIO_OPS_ALL) == 0 && (e->widths & ~MMIO_WIDTHS_ALL) == 0 &&
	       e->cache <= MMIO_CACHE_MAX && (e->flags & ~MMIO_REGION_FLAGS) == 0 &&
	       proto_where_valid(e->where);
}

bool proto_list_entry_read(struct proto_reader *r, struct proto_list_entry *out)
{
	memset(out, 0, sizeof(*out));
	if (!proto_name_read(r, out->name))
		return false;
	out->size = proto_read_u64(r);
	out->access = proto_read_u8(r);
	out->ops = proto_read_u8(r);
	out->widths = proto_read_u8(r);
	out->cache = proto_read_u8(r);
	out->flags = proto_read_u8(r);
	out->phys = proto_read_u64(r);
	if (r->bad || !proto_where_read(r, out->where))
		return false;
	return proto_list_entry_valid(out);
}

void proto_list_entry_write(struct proto_writer *w, const struct proto_list_entry *e)
{
	proto_name_write(w, e->name);
	proto_write_u64(w, e->size);
	proto_write_u8(w, (uint8_t)e->access);
	proto_write_u8(w, (uint8_t)e->ops);
	proto_write_u8(w, (uint8_t)e->widths);
	proto_write_u8(w, (uint8_t)e->cache);
	proto_write_u8(w, (uint8_t)e->flags);
	proto_write_u64(w, e->phys);
	proto_where_write(w, e->where);
}

int proto_writer_finish(const struct proto_writer *w, size_t *len)
{
	if (w->toobig) {
		if (len)
			*len = 0;
		return MMIO_EINVAL;
	}
	if (len)
		*len = w->pos;
	return w->overflow ? MMIO_ENOMEM : MMIO_OK;
}

int proto_batch_op_get(const struct proto_batch_req *b, size_t index, struct proto_batch_op *out)
{
	if (index >= b->count)
		return MMIO_EINVAL;
	if (b->ops) {
		*out = b->ops[index];
		return MMIO_OK;
	}
	if (!b->wire)
		return MMIO_EINVAL;
	proto_batch_op_parse(b->wire + index * PROTO_BATCH_OP_SIZE, out);
	return MMIO_OK;
}

int proto_batch_value_get(const struct proto_reply *rep, size_t index, uint64_t *out)
{
	if (rep->opcode != PROTO_OP_BATCH || index >= rep->done)
		return MMIO_EINVAL;
	if (rep->batch.values) {
		*out = rep->batch.values[index];
		return MMIO_OK;
	}
	if (!rep->batch.wire)
		return MMIO_EINVAL;
	*out = proto_get_u64(rep->batch.wire + index * 8);
	return MMIO_OK;
}

uint64_t proto_stats_counter(const struct proto_stats_rep *s, unsigned index)
{
	if (index >= s->count)
		return 0;
	if (s->counters)
		return s->counters[index];
	if (s->wire)
		return proto_get_u64(s->wire + (size_t)index * 8);
	return 0;
}

void proto_list_iter_init(struct proto_list_iter *it, const struct proto_list_rep *l)
{
	it->list = l;
	it->next = 0;
	it->wire_pos = 0;
}

bool proto_list_iter_next(struct proto_list_iter *it, struct proto_list_entry *out)
{
	const struct proto_list_rep *l = it->list;
	struct proto_reader r;

	if (it->next >= l->count)
		return false;
	if (l->entries) {
		*out = l->entries[it->next++];
		return true;
	}
	if (!l->wire || it->wire_pos > l->wire_len)
		return false;
	proto_reader_init(&r, l->wire + it->wire_pos, l->wire_len - it->wire_pos);
	if (!proto_list_entry_read(&r, out))
		return false;
	it->wire_pos = l->wire_len - r.left;
	it->next++;
	return true;
}
