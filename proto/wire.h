/* SPDX-License-Identifier: MIT */
/*
 * Private to proto/: little-endian put/get helpers and the two cursors every
 * encoder and decoder goes through. Not for use outside proto/.
 *
 * The reader checks that n bytes remain before it touches any of them and
 * becomes sticky-bad on the first short read, so a decoder can read a run of
 * fields and test once. The writer never writes past its capacity but keeps
 * counting, so one pass both sizes and writes a message (like snprintf).
 */
#ifndef MMIO_PROTO_WIRE_H
#define MMIO_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void proto_put_u8(uint8_t *p, uint8_t v)
{
	p[0] = v;
}

static inline void proto_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void proto_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void proto_put_u64(uint8_t *p, uint64_t v)
{
	proto_put_u32(p, (uint32_t)v);
	proto_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint8_t proto_get_u8(const uint8_t *p)
{
	return p[0];
}

static inline uint16_t proto_get_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t proto_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t proto_get_u64(const uint8_t *p)
{
	return (uint64_t)proto_get_u32(p) | (uint64_t)proto_get_u32(p + 4) << 32;
}

/* Two's complement without relying on implementation-defined conversions. */
static inline uint32_t proto_i32_to_u32(int32_t v)
{
	return v >= 0 ? (uint32_t)v : UINT32_MAX - (uint32_t)(-(v + 1));
}

static inline int32_t proto_u32_to_i32(uint32_t v)
{
	return v <= INT32_MAX ? (int32_t)v : -(int32_t)(UINT32_MAX - v) - 1;
}

struct proto_reader {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline void proto_reader_init(struct proto_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->left = buf ? len : 0;
	r->bad = false;
}

/* Take @n bytes: *@out points at them. False (and sticky-bad) if fewer remain. */
static inline bool proto_read_bytes(struct proto_reader *r, size_t n, const uint8_t **out)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		*out = NULL;
		return false;
	}
	*out = r->p;
	if (n != 0) {
		r->p += n;
		r->left -= n;
	}
	return true;
}

static inline uint8_t proto_read_u8(struct proto_reader *r)
{
	const uint8_t *q;

	return proto_read_bytes(r, 1, &q) ? proto_get_u8(q) : 0;
}

static inline uint16_t proto_read_u16(struct proto_reader *r)
{
	const uint8_t *q;

	return proto_read_bytes(r, 2, &q) ? proto_get_u16(q) : 0;
}

static inline uint32_t proto_read_u32(struct proto_reader *r)
{
	const uint8_t *q;

	return proto_read_bytes(r, 4, &q) ? proto_get_u32(q) : 0;
}

static inline uint64_t proto_read_u64(struct proto_reader *r)
{
	const uint8_t *q;

	return proto_read_bytes(r, 8, &q) ? proto_get_u64(q) : 0;
}

/* True if every read succeeded and nothing is left over. */
static inline bool proto_reader_done(const struct proto_reader *r)
{
	return !r->bad && r->left == 0;
}

struct proto_writer {
	uint8_t *buf;
	size_t cap;
	size_t pos;    /* bytes the message needs so far */
	bool overflow; /* something did not fit in cap */
	bool toobig;   /* pos overflowed size_t */
};

static inline void proto_writer_init(struct proto_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->pos = 0;
	w->overflow = false;
	w->toobig = false;
}

/* Room for @n bytes at the current position, or NULL if they do not fit. */
static inline uint8_t *proto_write_reserve(struct proto_writer *w, size_t n)
{
	size_t end;
	uint8_t *p = NULL;

	if (n == 0 || w->toobig)
		return NULL;
	if (__builtin_add_overflow(w->pos, n, &end)) {
		w->toobig = true;
		return NULL;
	}
	if (!w->overflow && end <= w->cap)
		p = w->buf + w->pos;
	else
		w->overflow = true;
	w->pos = end;
	return p;
}

static inline void proto_write_u8(struct proto_writer *w, uint8_t v)
{
	uint8_t *p = proto_write_reserve(w, 1);

	if (p)
		proto_put_u8(p, v);
}

static inline void proto_write_u16(struct proto_writer *w, uint16_t v)
{
	uint8_t *p = proto_write_reserve(w, 2);

	if (p)
		proto_put_u16(p, v);
}

static inline void proto_write_u32(struct proto_writer *w, uint32_t v)
{
	uint8_t *p = proto_write_reserve(w, 4);

	if (p)
		proto_put_u32(p, v);
}

static inline void proto_write_u64(struct proto_writer *w, uint64_t v)
{
	uint8_t *p = proto_write_reserve(w, 8);

	if (p)
		proto_put_u64(p, v);
}

/* memmove: the source may already be in place (PROTO_READ_DATA_OFFSET). */
static inline void proto_write_bytes(struct proto_writer *w, const void *src, size_t n)
{
	uint8_t *p = proto_write_reserve(w, n);

	if (p && p != src)
		memmove(p, src, n);
}

#endif /* MMIO_PROTO_WIRE_H */
