/* SPDX-License-Identifier: MIT */
/*
 * proto/: golden vectors in both directions for every request and reply,
 * then everything a decoder must refuse (truncation, trailing bytes, bad
 * magic/version/opcode, impossible widths and counts, bad names) and the
 * encoders' argument checks.
 *
 * Every decode runs on a heap copy of exactly the message's length, so an
 * over-read is an ASan error in the sanitizer build.
 */
#include <check.h>
#include <mmio/proto.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------ */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Header of a request: "MIO?", version 1, opcode (one byte of hex; < 0x100). */
#define RQ(op) "4d494f3f 0100 " op "00 "
/* Header of a reply: "MIO!", version 1, opcode, status, done. */
#define RP(op, status, done) "4d494f21 0100 " op "00 " status " " done " "
#define ST_OK		     "00000000"
#define ST_EINVAL	     "ffffffff"
#define ST_EACCES	     "feffffff"
#define ST_EFAULT	     "fdffffff"
#define ST_ETIMEDOUT	     "f9ffffff"
#define ST_EPROTO	     "f8ffffff"
#define ST_EVERSION	     "f7ffffff"
#define DONE0		     "0000000000000000"

struct bytes {
	uint8_t *p;
	size_t n;
};

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex with optional spaces into an exact-size heap buffer (free with bytes_free). */
static struct bytes hex(const char *s)
{
	struct bytes b = { malloc(strlen(s) / 2 + 1), 0 };
	int hi = -1;

	ck_assert_ptr_nonnull(b.p);
	for (; *s; s++) {
		int v;

		if (*s == ' ')
			continue;
		v = hex_nibble(*s);
		ck_assert_msg(v >= 0, "bad hex digit '%c' in test vector", *s);
		if (hi < 0) {
			hi = v;
		} else {
			b.p[b.n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	ck_assert_msg(hi < 0, "odd number of hex digits in test vector");
	return b;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

/* An exact-size heap copy of the first @n bytes of @src (NULL when n is 0). */
static uint8_t *exact_copy(const uint8_t *src, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return NULL;
	p = malloc(n);
	ck_assert_ptr_nonnull(p);
	memcpy(p, src, n);
	return p;
}

/*
 * Decode hex through an exact-size heap copy. The copy stays alive until the
 * next call (or the test's teardown) because decoded payloads point into it.
 */
static struct bytes last_decoded;

static void last_decoded_free(void)
{
	bytes_free(&last_decoded);
}

static int req_decode_hex(const char *h, struct proto_request *out)
{
	last_decoded_free();
	last_decoded = hex(h);
	return proto_request_decode(last_decoded.p, last_decoded.n, out);
}

static int rep_decode_hex(const char *h, struct proto_reply *out)
{
	last_decoded_free();
	last_decoded = hex(h);
	return proto_reply_decode(last_decoded.p, last_decoded.n, out);
}

/* A growable byte buffer to build large or odd messages by hand. */
struct tbuf {
	uint8_t *p;
	size_t n, cap;
};

static void tb_raw(struct tbuf *t, const void *src, size_t n)
{
	if (t->n + n > t->cap) {
		t->cap = (t->n + n) * 2;
		t->p = realloc(t->p, t->cap);
		ck_assert_ptr_nonnull(t->p);
	}
	memcpy(t->p + t->n, src, n);
	t->n += n;
}

static void tb_le(struct tbuf *t, uint64_t v, int size)
{
	uint8_t b[8];

	ck_assert_int_le(size, 8);
	for (int i = 0; i < size; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	tb_raw(t, b, (size_t)size);
}

static void tb_req_header(struct tbuf *t, unsigned opcode)
{
	tb_raw(t, "MIO?", 4);
	tb_le(t, 1, 2);
	tb_le(t, opcode, 2);
}

static void tb_rep_header(struct tbuf *t, unsigned opcode, int32_t status, uint64_t done)
{
	tb_raw(t, "MIO!", 4);
	tb_le(t, 1, 2);
	tb_le(t, opcode, 2);
	tb_le(t, (uint32_t)status, 4);
	tb_le(t, done, 8);
}

/* A valid READ_ONCE batch op record. */
static void tb_batch_read_once(struct tbuf *t, uint64_t offset)
{
	tb_le(t, PROTO_OP_READ_ONCE, 1);
	tb_le(t, 4, 1);
	tb_le(t, 1, 4);
	tb_le(t, offset, 8);
	tb_le(t, 0, 8);
	tb_le(t, 0, 8);
	tb_le(t, 0, 4);
}

static void tb_free(struct tbuf *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------------
 * Golden vectors.
 * ------------------------------------------------------------------------ */

static const struct proto_batch_op golden_ops[] = {
	{ .opcode = PROTO_OP_READ_ONCE, .width = 4, .handle = 1, .offset = 0 },
	{ .opcode = PROTO_OP_WRITE_ONCE, .width = 4, .handle = 1, .offset = 4, .value = 1 },
	{ .opcode = PROTO_OP_POLL,
	  .width = 4,
	  .handle = 2,
	  .offset = 0x20,
	  .value = 0x80,
	  .want = 0x80,
	  .timeout_us = 1000 },
};

struct req_vector {
	const char *name;
	const char *hex;
	struct proto_request req;
};

static const struct req_vector req_vectors[] = {
	{ "HELLO",
	  RQ("01") "0100 0300",
	  { .opcode = PROTO_OP_HELLO, .hello = { .min_version = 1, .max_version = 3 } } },
	{ "LIST", RQ("02"), { .opcode = PROTO_OP_LIST } },
	{ "OPEN",
	  RQ("03") "03 656475 1000000000000000 0001000000000000 01000000",
	  { .opcode = PROTO_OP_OPEN,
	    .open = { .name = "edu",
		      .offset = 0x10,
		      .length = 0x100,
		      .flags = PROTO_OPEN_DIRECT } } },
	{ "OPEN to end",
	  RQ("03") "0b 73686d2e6261722d325f78 0000000000000000 ffffffffffffffff 02000000",
	  { .opcode = PROTO_OP_OPEN,
	    .open = { .name = "shm.bar-2_x",
		      .offset = 0,
		      .length = PROTO_LEN_TO_END,
		      .flags = PROTO_OPEN_REQUIRE_DIRECT } } },
	{ "CLOSE", RQ("04") "07000000", { .opcode = PROTO_OP_CLOSE, .close = { .handle = 7 } } },
	{ "READ_ONCE",
	  RQ("05") "01000000 04 0800000000000000",
	  { .opcode = PROTO_OP_READ_ONCE, .read_once = { .handle = 1, .width = 4, .offset = 8 } } },
	{ "WRITE_ONCE",
	  RQ("06") "02000000 02 3412000000000000 efbe000000000000",
	  { .opcode = PROTO_OP_WRITE_ONCE,
	    .write_once = { .handle = 2, .width = 2, .offset = 0x1234, .value = 0xbeef } } },
	{ "READ",
	  RQ("07") "03000000 4000000000000000 1000000000000000",
	  { .opcode = PROTO_OP_READ, .read = { .handle = 3, .offset = 0x40, .len = 16 } } },
	{ "WRITE",
	  RQ("08") "03000000 0000000000000000 0500000000000000 68656c6c6f",
	  { .opcode = PROTO_OP_WRITE,
	    .write = { .handle = 3, .offset = 0, .data = "hello", .len = 5 } } },
	{ "WRITE empty",
	  RQ("08") "03000000 ffffffffffffffff 0000000000000000",
	  { .opcode = PROTO_OP_WRITE, .write = { .handle = 3, .offset = UINT64_MAX, .len = 0 } } },
	{ "FILL",
	  RQ("09") "03000000 0001000000000000 2000000000000000 a5",
	  { .opcode = PROTO_OP_FILL,
	    .fill = { .handle = 3, .offset = 0x100, .len = 0x20, .byte = 0xa5 } } },
	{ "BATCH",
	  RQ("0a") "03000000"
		   "05 04 01000000 0000000000000000 0000000000000000 0000000000000000 00000000"
		   "06 04 01000000 0400000000000000 0100000000000000 0000000000000000 00000000"
		   "0b 04 02000000 2000000000000000 8000000000000000 8000000000000000 e8030000",
	  { .opcode = PROTO_OP_BATCH, .batch = { .count = 3, .ops = golden_ops } } },
	{ "BATCH empty",
	  RQ("0a") "00000000",
	  { .opcode = PROTO_OP_BATCH, .batch = { .count = 0 } } },
	{ "POLL",
	  RQ("0b") "01000000 04 2000000000000000 0100000000000000 0000000000000000 20a10700",
	  { .opcode = PROTO_OP_POLL,
	    .poll = { .handle = 1,
		      .width = 4,
		      .offset = 0x20,
		      .mask = 1,
		      .want = 0,
		      .timeout_us = 500000 } } },
	{ "MAP", RQ("0c") "05000000", { .opcode = PROTO_OP_MAP, .map = { .handle = 5 } } },
	{ "UNMAP", RQ("0d") "05000000", { .opcode = PROTO_OP_UNMAP, .unmap = { .handle = 5 } } },
	{ "STATS", RQ("0e"), { .opcode = PROTO_OP_STATS } },
	{ "BUF_ATTACH",
	  RQ("0f") "0000400000000000",
	  { .opcode = PROTO_OP_BUF_ATTACH, .buf_attach = { .length = 0x400000 } } },
	{ "BUF_DETACH",
	  RQ("10") "07000000",
	  { .opcode = PROTO_OP_BUF_DETACH, .buf_detach = { .buffer = 7 } } },
	{ "MAILBOX",
	  RQ("13") "03000000",
	  { .opcode = PROTO_OP_MAILBOX, .mailbox = { .buffer = 3 } } },
	{ "READ_SPAN",
	  RQ("11") "02000000 0010000000000000 0000010000000000 07000000 0800000000000000",
	  { .opcode = PROTO_OP_READ_SPAN,
	    .span = { .handle = 2,
		      .offset = 0x1000,
		      .len = 0x10000,
		      .buffer = 7,
		      .buf_offset = 8 } } },
	{ "READ_ROWS",
	  RQ("14") "02000000 0010000000000000 1000000000000000 0004000000000000 03000000",
	  { .opcode = PROTO_OP_READ_ROWS,
	    .rows = { .handle = 2,
		      .offset = 0x1000,
		      .row_bytes = 16,
		      .pitch = 0x400,
		      .rows = 3 } } },
	{ "WRITE_ROWS",
	  RQ("15") "02000000 0800000000000000 0200000000000000 0800000000000000 02000000 "
		   "a1a2b1b2",
	  { .opcode = PROTO_OP_WRITE_ROWS,
	    .rows = { .handle = 2,
		      .offset = 8,
		      .row_bytes = 2,
		      .pitch = 8,
		      .rows = 2,
		      .data = "\xa1\xa2\xb1\xb2",
		      .len = 4 } } },
	{ "WRITE_SPAN",
	  RQ("12") "02000000 ffffffffffffffff 0100000000000000 ffffffff ffffffffffffffff",
	  { .opcode = PROTO_OP_WRITE_SPAN,
	    .span = { .handle = 2,
		      .offset = UINT64_MAX,
		      .len = 1,
		      .buffer = UINT32_MAX,
		      .buf_offset = UINT64_MAX } } },
};

static const struct proto_list_entry golden_entries[] = {
	{ .name = "edu",
	  .size = 0x100,
	  .access = MMIO_ACCESS_READ | MMIO_ACCESS_WRITE,
	  .ops = MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL | MMIO_OPS_POLL | MMIO_OPS_MAP,
	  .widths = 4,
	  .cache = MMIO_CACHE_WRITE_BACK,
	  .flags = MMIO_REGION_EXCLUSIVE | MMIO_REGION_MAPPABLE,
	  .phys = 0xfea00000,
	  .where = "0000:00:04.0 BAR0" },
	{ .name = "timer",
	  .size = 0x1000,
	  .access = MMIO_ACCESS_READ,
	  .ops = MMIO_OPS_ONCE,
	  .widths = MMIO_WIDTHS_ALL,
	  .cache = MMIO_CACHE_UNCACHED,
	  .flags = MMIO_REGION_SENSITIVE },
};

static const uint64_t golden_values_ok[] = { 0x11, 0, 0x80 };
static const uint64_t golden_values_failed[] = { 0x11 };
static const uint64_t golden_counters[] = { 42, 2, 5 };

struct rep_vector {
	const char *name;
	const char *hex;
	struct proto_reply rep;
};

static const struct rep_vector rep_vectors[] = {
	{ "HELLO",
	  RP("01", ST_OK, DONE0) "0100 0100 00001000 00100000 40000000",
	  { .opcode = PROTO_OP_HELLO,
	    .hello = { .version = 1,
		       .flags = PROTO_HELLO_DIRECT,
		       .max_message = 1u << 20,
		       .max_batch = 4096,
		       .max_handles = 64 } } },
	{ "HELLO EVERSION",
	  RP("01", ST_EVERSION, DONE0),
	  { .opcode = PROTO_OP_HELLO, .status = MMIO_EVERSION } },
	{ "LIST",
	  RP("02", ST_OK,
	     DONE0) "02000000"
		    "03 656475 0001000000000000 03 1f 04 03 06 0000a0fe00000000 11 "
		    "303030303a30303a30342e302042415230"
		    "05 74696d6572 0010000000000000 01 01 0f 00 01 0000000000000000 00",
	  { .opcode = PROTO_OP_LIST, .list = { .count = 2, .entries = golden_entries } } },
	{ "LIST empty",
	  RP("02", ST_OK, DONE0) "00000000",
	  { .opcode = PROTO_OP_LIST, .list = { .count = 0 } } },
	{ "OPEN",
	  RP("03", ST_OK, DONE0) "01000000 0001000000000000 03 1f 0c 01 04 04 "
				 "1000a0fe00000000 11 303030303a30303a30342e302042415230",
	  { .opcode = PROTO_OP_OPEN,
	    .open = { .handle = 1,
		      .size = 0x100,
		      .access = MMIO_ACCESS_ALL,
		      .ops = MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL | MMIO_OPS_POLL |
			     MMIO_OPS_MAP,
		      .widths = 4 | 8,
		      .cache = MMIO_CACHE_WRITE_COMBINING,
		      .width = 4,
		      .flags = MMIO_REGION_MAPPABLE,
		      .phys = 0xfea00010,
		      .where = "0000:00:04.0 BAR0" } } },
	{ "OPEN revocable",
	  RP("03", ST_OK, DONE0) "01000000 0010000000000000 03 1f 0c 00 04 0c "
				 "0000a0fe00000000 11 303030303a30303a30342e302042415230",
	  { .opcode = PROTO_OP_OPEN,
	    .open = { .handle = 1,
		      .size = 0x1000,
		      .access = MMIO_ACCESS_ALL,
		      .ops = MMIO_OPS_ONCE | MMIO_OPS_BULK | MMIO_OPS_FILL | MMIO_OPS_POLL |
			     MMIO_OPS_MAP,
		      .widths = 4 | 8,
		      .cache = MMIO_CACHE_UNCACHED,
		      .width = 4,
		      .flags = MMIO_REGION_MAPPABLE | MMIO_REGION_REVOCABLE,
		      .phys = 0xfea00000,
		      .where = "0000:00:04.0 BAR0" } } },
	{ "OPEN EACCES",
	  RP("03", ST_EACCES, DONE0),
	  { .opcode = PROTO_OP_OPEN, .status = MMIO_EACCES } },
	{ "CLOSE", RP("04", ST_OK, DONE0), { .opcode = PROTO_OP_CLOSE } },
	{ "READ_ONCE",
	  RP("05", ST_OK, DONE0) "ed00000100000000",
	  { .opcode = PROTO_OP_READ_ONCE, .read_once = { .value = 0x010000ed } } },
	{ "READ_ONCE EFAULT",
	  RP("05", ST_EFAULT, DONE0),
	  { .opcode = PROTO_OP_READ_ONCE, .status = MMIO_EFAULT } },
	{ "WRITE_ONCE", RP("06", ST_OK, DONE0), { .opcode = PROTO_OP_WRITE_ONCE } },
	{ "READ",
	  RP("07", ST_OK, "0400000000000000") "deadbeef",
	  { .opcode = PROTO_OP_READ, .done = 4, .read = { .data = "\xde\xad\xbe\xef" } } },
	{ "READ EFAULT partial",
	  RP("07", ST_EFAULT, "0200000000000000") "0102",
	  { .opcode = PROTO_OP_READ,
	    .status = MMIO_EFAULT,
	    .done = 2,
	    .read = { .data = "\x01\x02" } } },
	{ "WRITE", RP("08", ST_OK, "0500000000000000"), { .opcode = PROTO_OP_WRITE, .done = 5 } },
	{ "READ_ROWS EFAULT in the second row",
	  RP("14", ST_EFAULT, "0300000000000000") "a1a2b1",
	  { .opcode = PROTO_OP_READ_ROWS,
	    .status = MMIO_EFAULT,
	    .done = 3,
	    .read = { .data = "\xa1\xa2\xb1" } } },
	{ "WRITE_ROWS",
	  RP("15", ST_OK, "0400000000000000"),
	  { .opcode = PROTO_OP_WRITE_ROWS, .done = 4 } },
	{ "FILL EINVAL short",
	  RP("09", ST_EINVAL, "1000000000000000"),
	  { .opcode = PROTO_OP_FILL, .status = MMIO_EINVAL, .done = 16 } },
	{ "BATCH",
	  RP("0a", ST_OK, "0300000000000000") "ffffffff"
					      "1100000000000000 0000000000000000 8000000000000000",
	  { .opcode = PROTO_OP_BATCH,
	    .done = 3,
	    .batch = { .failed = PROTO_BATCH_NONE, .values = golden_values_ok } } },
	{ "BATCH failed at op 1",
	  RP("0a", ST_EINVAL, "0100000000000000") "01000000 1100000000000000",
	  { .opcode = PROTO_OP_BATCH,
	    .status = MMIO_EINVAL,
	    .done = 1,
	    .batch = { .failed = 1, .values = golden_values_failed } } },
	{ "BATCH refused",
	  RP("0a", ST_EPROTO, DONE0) "ffffffff",
	  { .opcode = PROTO_OP_BATCH,
	    .status = MMIO_EPROTO,
	    .batch = { .failed = PROTO_BATCH_NONE } } },
	{ "POLL",
	  RP("0b", ST_OK, DONE0) "8000000000000000",
	  { .opcode = PROTO_OP_POLL, .poll = { .value = 0x80 } } },
	{ "POLL ETIMEDOUT",
	  RP("0b", ST_ETIMEDOUT, DONE0) "7f00000000000000",
	  { .opcode = PROTO_OP_POLL, .status = MMIO_ETIMEDOUT, .poll = { .value = 0x7f } } },
	{ "POLL EFAULT",
	  RP("0b", ST_EFAULT, DONE0),
	  { .opcode = PROTO_OP_POLL, .status = MMIO_EFAULT } },
	{ "MAP",
	  RP("0c", ST_OK, DONE0) "efcdab8967452301 0010000000000000 0001000000000000",
	  { .opcode = PROTO_OP_MAP,
	    .map = { .token = 0x0123456789abcdefull, .length = 0x1000, .offset = 0x100 } } },
	{ "UNMAP", RP("0d", ST_OK, DONE0), { .opcode = PROTO_OP_UNMAP } },
	{ "STATS",
	  RP("0e", ST_OK, DONE0) "03000000 2a00000000000000 0200000000000000 0500000000000000",
	  { .opcode = PROTO_OP_STATS, .stats = { .count = 3, .counters = golden_counters } } },
	{ "STATS EACCES",
	  RP("0e", ST_EACCES, DONE0),
	  { .opcode = PROTO_OP_STATS, .status = MMIO_EACCES } },
	{ "BUF_ATTACH",
	  RP("0f", ST_OK, DONE0) "efcdab8967452301",
	  { .opcode = PROTO_OP_BUF_ATTACH, .buf_attach = { .token = 0x0123456789abcdefull } } },
	{ "BUF_ATTACH ENOMEM",
	  RP("0f", "f6ffffff", DONE0),
	  { .opcode = PROTO_OP_BUF_ATTACH, .status = MMIO_ENOMEM } },
	{ "BUF_DETACH", RP("10", ST_OK, DONE0), { .opcode = PROTO_OP_BUF_DETACH } },
	{ "MAILBOX", RP("13", ST_OK, DONE0), { .opcode = PROTO_OP_MAILBOX } },
	{ "READ_SPAN",
	  RP("11", ST_OK, "0000010000000000"),
	  { .opcode = PROTO_OP_READ_SPAN, .done = 0x10000 } },
	{ "WRITE_SPAN EFAULT",
	  RP("12", ST_EFAULT, "0300000000000000"),
	  { .opcode = PROTO_OP_WRITE_SPAN, .status = MMIO_EFAULT, .done = 3 } },
};

#define N_REQ ((int)ARRAY_SIZE(req_vectors))
#define N_REP ((int)ARRAY_SIZE(rep_vectors))

/* Field-by-field comparison: every field of the opcode's member. */
static void request_assert_eq(const struct proto_request *want, const struct proto_request *got)
{
	struct proto_batch_op a, b;

	ck_assert_uint_eq(got->opcode, want->opcode);
	switch (want->opcode) {
	case PROTO_OP_HELLO:
		ck_assert_uint_eq(got->hello.min_version, want->hello.min_version);
		ck_assert_uint_eq(got->hello.max_version, want->hello.max_version);
		break;
	case PROTO_OP_LIST:
	case PROTO_OP_STATS:
		break;
	case PROTO_OP_OPEN:
		ck_assert_str_eq(got->open.name, want->open.name);
		ck_assert_uint_eq(got->open.offset, want->open.offset);
		ck_assert_uint_eq(got->open.length, want->open.length);
		ck_assert_uint_eq(got->open.flags, want->open.flags);
		break;
	case PROTO_OP_CLOSE:
		ck_assert_uint_eq(got->close.handle, want->close.handle);
		break;
	case PROTO_OP_MAP:
		ck_assert_uint_eq(got->map.handle, want->map.handle);
		break;
	case PROTO_OP_UNMAP:
		ck_assert_uint_eq(got->unmap.handle, want->unmap.handle);
		break;
	case PROTO_OP_READ_ONCE:
		ck_assert_uint_eq(got->read_once.handle, want->read_once.handle);
		ck_assert_uint_eq(got->read_once.width, want->read_once.width);
		ck_assert_uint_eq(got->read_once.offset, want->read_once.offset);
		break;
	case PROTO_OP_WRITE_ONCE:
		ck_assert_uint_eq(got->write_once.handle, want->write_once.handle);
		ck_assert_uint_eq(got->write_once.width, want->write_once.width);
		ck_assert_uint_eq(got->write_once.offset, want->write_once.offset);
		ck_assert_uint_eq(got->write_once.value, want->write_once.value);
		break;
	case PROTO_OP_READ:
		ck_assert_uint_eq(got->read.handle, want->read.handle);
		ck_assert_uint_eq(got->read.offset, want->read.offset);
		ck_assert_uint_eq(got->read.len, want->read.len);
		break;
	case PROTO_OP_WRITE:
		ck_assert_uint_eq(got->write.handle, want->write.handle);
		ck_assert_uint_eq(got->write.offset, want->write.offset);
		ck_assert_uint_eq(got->write.len, want->write.len);
		if (want->write.len)
			ck_assert_mem_eq(got->write.data, want->write.data, want->write.len);
		break;
	case PROTO_OP_FILL:
		ck_assert_uint_eq(got->fill.handle, want->fill.handle);
		ck_assert_uint_eq(got->fill.offset, want->fill.offset);
		ck_assert_uint_eq(got->fill.len, want->fill.len);
		ck_assert_uint_eq(got->fill.byte, want->fill.byte);
		break;
	case PROTO_OP_BATCH:
		ck_assert_uint_eq(got->batch.count, want->batch.count);
		for (uint32_t i = 0; i < want->batch.count; i++) {
			ck_assert_int_eq(proto_batch_op_get(&want->batch, i, &a), MMIO_OK);
			ck_assert_int_eq(proto_batch_op_get(&got->batch, i, &b), MMIO_OK);
			ck_assert_uint_eq(b.opcode, a.opcode);
			ck_assert_uint_eq(b.width, a.width);
			ck_assert_uint_eq(b.handle, a.handle);
			ck_assert_uint_eq(b.offset, a.offset);
			ck_assert_uint_eq(b.value, a.value);
			ck_assert_uint_eq(b.want, a.want);
			ck_assert_uint_eq(b.timeout_us, a.timeout_us);
		}
		break;
	case PROTO_OP_POLL:
		ck_assert_uint_eq(got->poll.handle, want->poll.handle);
		ck_assert_uint_eq(got->poll.width, want->poll.width);
		ck_assert_uint_eq(got->poll.offset, want->poll.offset);
		ck_assert_uint_eq(got->poll.mask, want->poll.mask);
		ck_assert_uint_eq(got->poll.want, want->poll.want);
		ck_assert_uint_eq(got->poll.timeout_us, want->poll.timeout_us);
		break;
	case PROTO_OP_BUF_ATTACH:
		ck_assert_uint_eq(got->buf_attach.length, want->buf_attach.length);
		break;
	case PROTO_OP_BUF_DETACH:
		ck_assert_uint_eq(got->buf_detach.buffer, want->buf_detach.buffer);
		break;
	case PROTO_OP_MAILBOX:
		ck_assert_uint_eq(got->mailbox.buffer, want->mailbox.buffer);
		break;
	case PROTO_OP_READ_SPAN:
	case PROTO_OP_WRITE_SPAN:
		ck_assert_uint_eq(got->span.handle, want->span.handle);
		ck_assert_uint_eq(got->span.offset, want->span.offset);
		ck_assert_uint_eq(got->span.len, want->span.len);
		ck_assert_uint_eq(got->span.buffer, want->span.buffer);
		ck_assert_uint_eq(got->span.buf_offset, want->span.buf_offset);
		break;
	case PROTO_OP_READ_ROWS:
	case PROTO_OP_WRITE_ROWS:
		ck_assert_uint_eq(got->rows.handle, want->rows.handle);
		ck_assert_uint_eq(got->rows.offset, want->rows.offset);
		ck_assert_uint_eq(got->rows.row_bytes, want->rows.row_bytes);
		ck_assert_uint_eq(got->rows.pitch, want->rows.pitch);
		ck_assert_uint_eq(got->rows.rows, want->rows.rows);
		ck_assert_uint_eq(got->rows.len, want->rows.len);
		if (want->rows.len)
			ck_assert_mem_eq(got->rows.data, want->rows.data, want->rows.len);
		break;
	default:
		ck_abort_msg("no comparison for opcode %u", want->opcode);
	}
}

static void list_entry_assert_eq(const struct proto_list_entry *want,
				 const struct proto_list_entry *got)
{
	ck_assert_str_eq(got->name, want->name);
	ck_assert_uint_eq(got->size, want->size);
	ck_assert_uint_eq(got->access, want->access);
	ck_assert_uint_eq(got->ops, want->ops);
	ck_assert_uint_eq(got->widths, want->widths);
	ck_assert_uint_eq(got->cache, want->cache);
	ck_assert_uint_eq(got->flags, want->flags);
	ck_assert_uint_eq(got->phys, want->phys);
	ck_assert_str_eq(got->where, want->where);
}

static void reply_assert_eq(const struct proto_reply *want, const struct proto_reply *got)
{
	struct proto_list_iter iw, ig;
	struct proto_list_entry ew, eg;
	uint64_t vw, vg;

	ck_assert_uint_eq(got->opcode, want->opcode);
	ck_assert_int_eq(got->status, want->status);
	ck_assert_uint_eq(got->done, want->done);
	switch (want->opcode) {
	case PROTO_OP_HELLO:
		if (want->status != MMIO_OK)
			break;
		ck_assert_uint_eq(got->hello.version, want->hello.version);
		ck_assert_uint_eq(got->hello.flags, want->hello.flags);
		ck_assert_uint_eq(got->hello.max_message, want->hello.max_message);
		ck_assert_uint_eq(got->hello.max_batch, want->hello.max_batch);
		ck_assert_uint_eq(got->hello.max_handles, want->hello.max_handles);
		break;
	case PROTO_OP_LIST:
		ck_assert_uint_eq(got->list.count, want->list.count);
		proto_list_iter_init(&iw, &want->list);
		proto_list_iter_init(&ig, &got->list);
		for (uint32_t i = 0; i < want->list.count; i++) {
			ck_assert(proto_list_iter_next(&iw, &ew));
			ck_assert(proto_list_iter_next(&ig, &eg));
			list_entry_assert_eq(&ew, &eg);
		}
		ck_assert(!proto_list_iter_next(&ig, &eg));
		break;
	case PROTO_OP_OPEN:
		ck_assert_uint_eq(got->open.handle, want->open.handle);
		ck_assert_uint_eq(got->open.size, want->open.size);
		ck_assert_uint_eq(got->open.access, want->open.access);
		ck_assert_uint_eq(got->open.ops, want->open.ops);
		ck_assert_uint_eq(got->open.widths, want->open.widths);
		ck_assert_uint_eq(got->open.cache, want->open.cache);
		ck_assert_uint_eq(got->open.width, want->open.width);
		ck_assert_uint_eq(got->open.flags, want->open.flags);
		ck_assert_uint_eq(got->open.phys, want->open.phys);
		ck_assert_str_eq(got->open.where, want->open.where);
		break;
	case PROTO_OP_READ_ONCE:
		ck_assert_uint_eq(got->read_once.value, want->read_once.value);
		break;
	case PROTO_OP_POLL:
		ck_assert_uint_eq(got->poll.value, want->poll.value);
		break;
	case PROTO_OP_READ:
	case PROTO_OP_READ_ROWS:
		if (want->done)
			ck_assert_mem_eq(got->read.data, want->read.data, (size_t)want->done);
		break;
	case PROTO_OP_BATCH:
		ck_assert_uint_eq(got->batch.failed, want->batch.failed);
		for (size_t i = 0; i < want->done; i++) {
			ck_assert_int_eq(proto_batch_value_get(want, i, &vw), MMIO_OK);
			ck_assert_int_eq(proto_batch_value_get(got, i, &vg), MMIO_OK);
			ck_assert_uint_eq(vg, vw);
		}
		break;
	case PROTO_OP_MAP:
		ck_assert_uint_eq(got->map.token, want->map.token);
		ck_assert_uint_eq(got->map.length, want->map.length);
		ck_assert_uint_eq(got->map.offset, want->map.offset);
		break;
	case PROTO_OP_STATS:
		ck_assert_uint_eq(got->stats.count, want->stats.count);
		for (unsigned i = 0; i < want->stats.count; i++)
			ck_assert_uint_eq(proto_stats_counter(&got->stats, i),
					  proto_stats_counter(&want->stats, i));
		break;
	case PROTO_OP_BUF_ATTACH:
		ck_assert_uint_eq(got->buf_attach.token, want->buf_attach.token);
		break;
	case PROTO_OP_CLOSE:
	case PROTO_OP_WRITE_ONCE:
	case PROTO_OP_WRITE:
	case PROTO_OP_FILL:
	case PROTO_OP_UNMAP:
	case PROTO_OP_BUF_DETACH:
	case PROTO_OP_READ_SPAN:
	case PROTO_OP_WRITE_SPAN:
	case PROTO_OP_MAILBOX:
	case PROTO_OP_WRITE_ROWS:
		break;
	default:
		ck_abort_msg("no comparison for opcode %u", want->opcode);
	}
}

/* ------------------------------------------------------------------------
 * Golden vectors, both directions.
 * ------------------------------------------------------------------------ */

START_TEST(test_request_golden_encode)
{
	const struct req_vector *v = &req_vectors[_i];
	struct proto_request rq = v->req;
	struct bytes want = hex(v->hex);
	uint8_t buf[512];
	size_t len = 0;

	rq.version = 1; /* the vectors are version 1's; test_golden_v2_is_v1_but_the_version */
	memset(buf, 0xcc, sizeof(buf));
	ck_assert_msg(proto_request_encode(&rq, buf, sizeof(buf), &len) == MMIO_OK, "%s", v->name);
	ck_assert_uint_eq(len, want.n);
	ck_assert_mem_eq(buf, want.p, want.n);
	ck_assert_uint_eq(buf[len], 0xcc); /* nothing written past the message */
	bytes_free(&want);
}
END_TEST

START_TEST(test_request_golden_decode)
{
	const struct req_vector *v = &req_vectors[_i];
	struct bytes b = hex(v->hex);
	struct proto_request got;

	ck_assert_msg(proto_request_decode(b.p, b.n, &got) == MMIO_OK, "%s", v->name);
	request_assert_eq(&v->req, &got);
	/* Zero-copy: payloads point into the received buffer. */
	if (got.opcode == PROTO_OP_WRITE && got.write.len)
		ck_assert_ptr_eq(got.write.data, b.p + PROTO_WRITE_DATA_OFFSET);
	if (got.opcode == PROTO_OP_BATCH && got.batch.count) {
		ck_assert_ptr_null(got.batch.ops);
		ck_assert_ptr_eq(got.batch.wire, b.p + PROTO_REQUEST_HEADER_SIZE + 4);
	}
	bytes_free(&b);
}
END_TEST

START_TEST(test_reply_golden_encode)
{
	const struct rep_vector *v = &rep_vectors[_i];
	struct proto_reply rp = v->rep;
	struct bytes want = hex(v->hex);
	uint8_t buf[512];
	size_t len = 0;

	rp.version = 1;
	memset(buf, 0xcc, sizeof(buf));
	ck_assert_msg(proto_reply_encode(&rp, buf, sizeof(buf), &len) == MMIO_OK, "%s", v->name);
	ck_assert_uint_eq(len, want.n);
	ck_assert_mem_eq(buf, want.p, want.n);
	ck_assert_uint_eq(buf[len], 0xcc);
	bytes_free(&want);
}
END_TEST

START_TEST(test_reply_golden_decode)
{
	const struct rep_vector *v = &rep_vectors[_i];
	struct bytes b = hex(v->hex);
	struct proto_reply got;

	ck_assert_msg(proto_reply_decode(b.p, b.n, &got) == MMIO_OK, "%s", v->name);
	reply_assert_eq(&v->rep, &got);
	if (got.opcode == PROTO_OP_READ && got.done)
		ck_assert_ptr_eq(got.read.data, b.p + PROTO_READ_DATA_OFFSET);
	bytes_free(&b);
}
END_TEST

/* A decoded message re-encodes to the same bytes (batch, list and stats from
 * their wire form). */
START_TEST(test_request_golden_reencode)
{
	struct bytes b = hex(req_vectors[_i].hex);
	struct proto_request got;
	uint8_t buf[512];
	size_t len = 0;

	ck_assert_int_eq(proto_request_decode(b.p, b.n, &got), MMIO_OK);
	ck_assert_int_eq(proto_request_encode(&got, buf, sizeof(buf), &len), MMIO_OK);
	ck_assert_uint_eq(len, b.n);
	ck_assert_mem_eq(buf, b.p, b.n);
	bytes_free(&b);
}
END_TEST

START_TEST(test_reply_golden_reencode)
{
	struct bytes b = hex(rep_vectors[_i].hex);
	struct proto_reply got;
	uint8_t buf[512];
	size_t len = 0;

	ck_assert_int_eq(proto_reply_decode(b.p, b.n, &got), MMIO_OK);
	ck_assert_int_eq(proto_reply_encode(&got, buf, sizeof(buf), &len), MMIO_OK);
	ck_assert_uint_eq(len, b.n);
	ck_assert_mem_eq(buf, b.p, b.n);
	bytes_free(&b);
}
END_TEST

/* Sizing: cap 0 tells the size; one byte short is MMIO_ENOMEM; exact fits. */
START_TEST(test_request_golden_sizing)
{
	const struct req_vector *v = &req_vectors[_i];
	struct proto_request rq = v->req;
	struct bytes want = hex(v->hex);
	uint8_t *exact = malloc(want.n);
	size_t len = 0;

	rq.version = 1;

	ck_assert_int_eq(proto_request_encode(&rq, NULL, 0, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, want.n);
	len = 0;
	ck_assert_int_eq(proto_request_encode(&rq, exact, want.n - 1, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, want.n);
	ck_assert_int_eq(proto_request_encode(&rq, exact, want.n, &len), MMIO_OK);
	ck_assert_uint_eq(len, want.n);
	ck_assert_mem_eq(exact, want.p, want.n);
	ck_assert_int_eq(proto_request_encode(&rq, exact, want.n, NULL), MMIO_OK);
	free(exact);
	bytes_free(&want);
}
END_TEST

START_TEST(test_reply_golden_sizing)
{
	const struct rep_vector *v = &rep_vectors[_i];
	struct proto_reply rp = v->rep;
	struct bytes want = hex(v->hex);
	uint8_t *exact = malloc(want.n);
	size_t len = 0;

	rp.version = 1;

	ck_assert_int_eq(proto_reply_encode(&rp, NULL, 0, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, want.n);
	len = 0;
	ck_assert_int_eq(proto_reply_encode(&rp, exact, want.n - 1, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, want.n);
	ck_assert_int_eq(proto_reply_encode(&rp, exact, want.n, &len), MMIO_OK);
	ck_assert_mem_eq(exact, want.p, want.n);
	free(exact);
	bytes_free(&want);
}
END_TEST

/* ------------------------------------------------------------------------
 * Truncation and trailing bytes.
 * ------------------------------------------------------------------------ */

START_TEST(test_request_truncations)
{
	struct bytes b = hex(req_vectors[_i].hex);
	struct proto_request got;

	for (size_t n = 0; n < b.n; n++) {
		uint8_t *cut = exact_copy(b.p, n);
		int rc = proto_request_decode(cut, n, &got);

		ck_assert_msg(rc == MMIO_EPROTO, "%s cut to %zu bytes: %d", req_vectors[_i].name, n,
			      rc);
		free(cut);
	}
	bytes_free(&b);
}
END_TEST

START_TEST(test_reply_truncations)
{
	struct bytes b = hex(rep_vectors[_i].hex);
	struct proto_reply got;

	for (size_t n = 0; n < b.n; n++) {
		uint8_t *cut = exact_copy(b.p, n);
		int rc = proto_reply_decode(cut, n, &got);

		ck_assert_msg(rc == MMIO_EPROTO, "%s cut to %zu bytes: %d", rep_vectors[_i].name, n,
			      rc);
		free(cut);
	}
	bytes_free(&b);
}
END_TEST

static const uint8_t garbage[] = { 0x00, 0xff, 0x4d, 0x49, 0x4f, 0x3f, 0x01, 0x00 };

START_TEST(test_request_trailing_garbage)
{
	struct bytes b = hex(req_vectors[_i].hex);
	struct proto_request got;

	for (size_t extra = 1; extra <= sizeof(garbage); extra++) {
		uint8_t *p = malloc(b.n + extra);

		memcpy(p, b.p, b.n);
		memcpy(p + b.n, garbage, extra);
		ck_assert_msg(proto_request_decode(p, b.n + extra, &got) == MMIO_EPROTO,
			      "%s + %zu bytes", req_vectors[_i].name, extra);
		free(p);
	}
	bytes_free(&b);
}
END_TEST

START_TEST(test_reply_trailing_garbage)
{
	struct bytes b = hex(rep_vectors[_i].hex);
	struct proto_reply got;

	for (size_t extra = 1; extra <= sizeof(garbage); extra++) {
		uint8_t *p = malloc(b.n + extra);

		memcpy(p, b.p, b.n);
		memcpy(p + b.n, garbage, extra);
		ck_assert_msg(proto_reply_decode(p, b.n + extra, &got) == MMIO_EPROTO,
			      "%s + %zu bytes", rep_vectors[_i].name, extra);
		free(p);
	}
	bytes_free(&b);
}
END_TEST

/* A request is never a reply and the other way round. */
START_TEST(test_direction_mixup)
{
	struct proto_request req;
	struct proto_reply rep;

	for (int i = 0; i < N_REQ; i++)
		ck_assert_int_eq(rep_decode_hex(req_vectors[i].hex, &rep), MMIO_EPROTO);
	for (int i = 0; i < N_REP; i++)
		ck_assert_int_eq(req_decode_hex(rep_vectors[i].hex, &req), MMIO_EPROTO);
}
END_TEST

/* ------------------------------------------------------------------------
 * Header: magic, version, opcode.
 * ------------------------------------------------------------------------ */

START_TEST(test_request_bad_magic)
{
	struct proto_request req;

	ck_assert_int_eq(req_decode_hex("00000000 0100 0200", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex("4d494f3e 0100 0200", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex("3f4f494d 0100 0200", &req), MMIO_EPROTO); /* big-endian */
	ck_assert_uint_eq(req.opcode, PROTO_OP_NONE);
	ck_assert_int_eq(proto_request_decode(NULL, 0, &req), MMIO_EPROTO);
}
END_TEST

START_TEST(test_reply_bad_magic)
{
	struct proto_reply rep;

	ck_assert_int_eq(rep_decode_hex("00000000 0100 0400 00000000" DONE0, &rep), MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex("4d494f3f 0100 0400 00000000" DONE0, &rep), MMIO_EPROTO);
	ck_assert_uint_eq(rep.opcode, PROTO_OP_NONE);
	ck_assert_int_eq(proto_reply_decode(NULL, 0, &rep), MMIO_EPROTO);
}
END_TEST

START_TEST(test_request_bad_version)
{
	struct proto_request req;

	ck_assert_int_eq(req_decode_hex("4d494f3f 0000 0200", &req), MMIO_EVERSION);
	ck_assert_uint_eq(req.opcode, PROTO_OP_LIST);
	ck_assert_int_eq(req_decode_hex("4d494f3f 0300 0500 01000000 04 0800000000000000", &req),
			 MMIO_EVERSION);
	ck_assert_uint_eq(req.opcode, PROTO_OP_READ_ONCE);
	ck_assert_uint_eq(req.read_once.handle, 0); /* zeroed on error */
	ck_assert_int_eq(req_decode_hex("4d494f3f ffff 0100 0100 0100", &req), MMIO_EVERSION);
	ck_assert_uint_eq(req.opcode, PROTO_OP_HELLO);
	/* Version is checked before the opcode: a future opcode in a future
	 * version is a version problem. */
	ck_assert_int_eq(req_decode_hex("4d494f3f 0300 7777", &req), MMIO_EVERSION);
	ck_assert_uint_eq(req.opcode, 0x7777);
	/* HELLO is sent in version 1 only, whatever the versions it offers. */
	ck_assert_int_eq(req_decode_hex("4d494f3f 0200 0100 0100 0200", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex("4d494f3f 0100 0100 0100 0200", &req), MMIO_OK);
}
END_TEST

START_TEST(test_reply_bad_version)
{
	struct proto_reply rep;

	ck_assert_int_eq(rep_decode_hex("4d494f21 0300 0500 f7ffffff" DONE0, &rep), MMIO_EVERSION);
	/* The reply header is the same in every version: its status is readable. */
	ck_assert_uint_eq(rep.opcode, PROTO_OP_READ_ONCE);
	ck_assert_int_eq(rep.status, MMIO_EVERSION);
	ck_assert_int_eq(rep_decode_hex("4d494f21 0000 0400 00000000" DONE0, &rep), MMIO_EVERSION);
	/* A HELLO reply in version 2: malformed (HELLO is version 1's), and so
	 * never a way to slip a reason record past its re-encoding. */
	ck_assert_int_eq(rep_decode_hex("4d494f21 0200 0100 feffffff" DONE0
					"0d 03 0001000000000000 0002000000000000",
					&rep),
			 MMIO_EPROTO);
}
END_TEST

START_TEST(test_request_unknown_opcode)
{
	struct proto_request req;

	ck_assert_int_eq(req_decode_hex("4d494f3f 0100 0000", &req), PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(req.opcode, 0);
	ck_assert_int_eq(req_decode_hex("4d494f3f 0100 1700", &req), PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(req.opcode, 23);
	ck_assert_int_eq(req_decode_hex("4d494f3f 0100 7777 0102030405", &req), PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(req.opcode, 0x7777);
	ck_assert_int_eq(req_decode_hex("4d494f3f 0100 ffff", &req), PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(req.opcode, 0xffff);
	ck_assert(PROTO_EUNKNOWN_OP < MMIO_STATUS_MIN);
}
END_TEST

/* IRQ: a region name out, a token back (nothing else on a refusal). */
START_TEST(test_irq_wire)
{
	struct proto_request req = { .opcode = PROTO_OP_IRQ }, back;
	struct proto_reply rep;
	uint8_t buf[64];
	size_t len = 0;

	strcpy(req.irq.name, "edu");
	ck_assert_int_eq(proto_request_encode(&req, buf, sizeof(buf), &len), MMIO_OK);
	ck_assert_uint_eq(len, PROTO_REQUEST_HEADER_SIZE + 4);
	ck_assert_int_eq(proto_request_decode(buf, len, &back), MMIO_OK);
	ck_assert_str_eq(back.irq.name, "edu");
	ck_assert_int_eq(req_decode_hex(RQ("16") "03 656475", &back), MMIO_OK);
	ck_assert_str_eq(back.irq.name, "edu");
	ck_assert_int_eq(req_decode_hex(RQ("16") "03 656475 00", &back), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("16") "00", &back), MMIO_EPROTO);
	req.irq.name[0] = '\0';
	ck_assert_int_eq(proto_request_encode(&req, buf, sizeof(buf), &len), MMIO_EINVAL);

	ck_assert_int_eq(rep_decode_hex(RP("16", ST_OK, DONE0) "0807060504030201", &rep), MMIO_OK);
	ck_assert_uint_eq(rep.irq.token, 0x0102030405060708u);
	ck_assert_int_eq(rep_decode_hex(RP("16", ST_OK, DONE0) "08070605", &rep), MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("16", "fcffffff", DONE0), &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, MMIO_EBUSY);
	ck_assert_str_eq(proto_opcode_name(PROTO_OP_IRQ), "IRQ");
}
END_TEST

START_TEST(test_reply_unknown_opcode)
{
	struct proto_reply rep;

	ck_assert_int_eq(rep_decode_hex("4d494f21 0100 7777 f8ffffff" DONE0, &rep),
			 PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(rep.opcode, 0x7777);
	ck_assert_int_eq(rep.status, MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex("4d494f21 0100 0000 f8ffffff" DONE0, &rep),
			 PROTO_EUNKNOWN_OP);
	ck_assert_uint_eq(rep.opcode, PROTO_OP_NONE);
	ck_assert_int_eq(rep.status, MMIO_EPROTO);
}
END_TEST

START_TEST(test_peek_opcode)
{
	struct bytes b = hex(RQ("05") "01000000 04 0800000000000000");

	ck_assert_uint_eq(proto_peek_opcode(b.p, b.n), PROTO_OP_READ_ONCE);
	ck_assert_uint_eq(proto_peek_opcode(b.p, PROTO_REQUEST_HEADER_SIZE), PROTO_OP_READ_ONCE);
	ck_assert_uint_eq(proto_peek_opcode(b.p, PROTO_REQUEST_HEADER_SIZE - 1), PROTO_OP_NONE);
	ck_assert_uint_eq(proto_peek_opcode(NULL, 0), PROTO_OP_NONE);
	b.p[0] ^= 1;
	ck_assert_uint_eq(proto_peek_opcode(b.p, b.n), PROTO_OP_NONE);
	bytes_free(&b);
	b = hex("4d494f3f 0900 3412");
	ck_assert_uint_eq(proto_peek_opcode(b.p, b.n), 0x1234);
	bytes_free(&b);
}
END_TEST

/* ------------------------------------------------------------------------
 * Widths and values.
 * ------------------------------------------------------------------------ */

static const unsigned bad_widths[] = { 0, 3, 5, 6, 7, 9, 16, 255 };

START_TEST(test_bad_widths_rejected)
{
	struct proto_request req;
	struct tbuf t = { 0 };
	unsigned w = bad_widths[_i];

	/* READ_ONCE */
	tb_req_header(&t, PROTO_OP_READ_ONCE);
	tb_le(&t, 1, 4);
	tb_le(&t, w, 1);
	tb_le(&t, 0, 8);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	/* WRITE_ONCE, value 0 */
	tb_req_header(&t, PROTO_OP_WRITE_ONCE);
	tb_le(&t, 1, 4);
	tb_le(&t, w, 1);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 8);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	/* POLL, mask and want 0 */
	tb_req_header(&t, PROTO_OP_POLL);
	tb_le(&t, 1, 4);
	tb_le(&t, w, 1);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 4);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	/* A batch READ_ONCE */
	tb_req_header(&t, PROTO_OP_BATCH);
	tb_le(&t, 1, 4);
	tb_le(&t, PROTO_OP_READ_ONCE, 1);
	tb_le(&t, w, 1);
	tb_le(&t, 1, 4);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 8);
	tb_le(&t, 0, 4);
	ck_assert_uint_eq(t.n, PROTO_REQUEST_HEADER_SIZE + 4 + PROTO_BATCH_OP_SIZE);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	/* An OPEN reply's pinned width (0 is "none" there, so valid) */
	tb_rep_header(&t, PROTO_OP_OPEN, 0, 0);
	tb_le(&t, 1, 4);
	tb_le(&t, 0x100, 8);
	tb_le(&t, 0x030f0f00, 4); /* access 0, ops 0x0f, widths 0x0f, cache 3 */
	tb_le(&t, w, 1);
	tb_le(&t, 0, 1);
	tb_le(&t, 0, 8); /* phys */
	tb_le(&t, 0, 1); /* where: "" */
	{
		struct proto_reply rep;

		ck_assert_int_eq(proto_reply_decode(t.p, t.n, &rep),
				 w == 0 ? MMIO_OK : MMIO_EPROTO);
	}
	tb_free(&t);

	/* The encoders refuse the same. */
	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_READ_ONCE;
	req.read_once.width = w;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.opcode = PROTO_OP_WRITE_ONCE;
	req.write_once.width = w;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.opcode = PROTO_OP_POLL;
	req.poll.width = w;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
}
END_TEST

START_TEST(test_good_widths_accepted)
{
	static const unsigned widths[] = { 1, 2, 4, 8 };
	struct proto_request req;
	struct tbuf t = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(widths); i++) {
		unsigned w = widths[i];
		uint64_t max = w == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * w)) - 1;

		tb_req_header(&t, PROTO_OP_WRITE_ONCE);
		tb_le(&t, 1, 4);
		tb_le(&t, w, 1);
		tb_le(&t, 0, 8);
		tb_le(&t, max, 8);
		ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_OK);
		ck_assert_uint_eq(req.write_once.width, w);
		ck_assert_uint_eq(req.write_once.value, max);
		tb_free(&t);
		ck_assert(mmio_width_valid(w));
		ck_assert(proto_value_fits(w, max));
		if (w < 8)
			ck_assert(!proto_value_fits(w, max + 1));
	}
	ck_assert(!proto_value_fits(3, 0));
	ck_assert(!proto_value_fits(0, 0));
}
END_TEST

START_TEST(test_value_not_fitting_width)
{
	struct proto_request req;

	/* WRITE_ONCE width 1, value 0x100 */
	ck_assert_int_eq(
		req_decode_hex(RQ("06") "01000000 01 0000000000000000 0001000000000000", &req),
		MMIO_EPROTO);
	/* width 2, value 0x10000 */
	ck_assert_int_eq(
		req_decode_hex(RQ("06") "01000000 02 0000000000000000 0000010000000000", &req),
		MMIO_EPROTO);
	/* width 4, value 1 << 32 */
	ck_assert_int_eq(
		req_decode_hex(RQ("06") "01000000 04 0000000000000000 0000000001000000", &req),
		MMIO_EPROTO);
	/* width 4, value 0xffffffff fits */
	ck_assert_int_eq(
		req_decode_hex(RQ("06") "01000000 04 0000000000000000 ffffffff00000000", &req),
		MMIO_OK);
	ck_assert_uint_eq(req.write_once.value, 0xffffffffu);
	/* POLL width 1, mask 0x1ff */
	ck_assert_int_eq(req_decode_hex(RQ("0b") "01000000 01 0000000000000000 ff01000000000000 "
						 "0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	/* POLL width 2, want 0x10000 */
	ck_assert_int_eq(req_decode_hex(RQ("0b") "01000000 02 0000000000000000 ffff000000000000 "
						 "0000010000000000 00000000",
					&req),
			 MMIO_EPROTO);
	/* batch WRITE_ONCE width 1 value 0x100 */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 06 01 01000000 0000000000000000 "
						 "0001000000000000 0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	/* batch POLL width 4 want 1 << 32 */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 0b 04 01000000 0000000000000000 "
						 "ffffffff00000000 0000000001000000 00000000",
					&req),
			 MMIO_EPROTO);

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_WRITE_ONCE;
	req.write_once.width = 1;
	req.write_once.value = 0x100;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.opcode = PROTO_OP_POLL;
	req.poll.width = 2;
	req.poll.mask = 0xffff;
	req.poll.want = 0x10000;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------
 * Batches.
 * ------------------------------------------------------------------------ */

START_TEST(test_batch_counts)
{
	struct proto_request req;
	struct tbuf t = { 0 };

	/* A count that would need more bytes than any message. */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "ffffffff", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("0a") "ffffff7f", &req), MMIO_EPROTO);
	/* Count 2, one op present; count 1, two present. */
	tb_req_header(&t, PROTO_OP_BATCH);
	tb_le(&t, 2, 4);
	tb_batch_read_once(&t, 0);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	tb_req_header(&t, PROTO_OP_BATCH);
	tb_le(&t, 1, 4);
	tb_batch_read_once(&t, 0);
	tb_batch_read_once(&t, 4);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
	/* Exactly PROTO_BATCH_MAX ops is fine... */
	tb_req_header(&t, PROTO_OP_BATCH);
	tb_le(&t, PROTO_BATCH_MAX, 4);
	for (unsigned i = 0; i < PROTO_BATCH_MAX; i++)
		tb_batch_read_once(&t, (uint64_t)i * 4);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_OK);
	ck_assert_uint_eq(req.batch.count, PROTO_BATCH_MAX);
	{
		struct proto_batch_op op;

		ck_assert_int_eq(proto_batch_op_get(&req.batch, PROTO_BATCH_MAX - 1, &op), MMIO_OK);
		ck_assert_uint_eq(op.offset, (uint64_t)(PROTO_BATCH_MAX - 1) * 4);
		ck_assert_int_eq(proto_batch_op_get(&req.batch, PROTO_BATCH_MAX, &op), MMIO_EINVAL);
	}
	tb_free(&t);
	/* ...one more is not, even with every op present. */
	tb_req_header(&t, PROTO_OP_BATCH);
	tb_le(&t, PROTO_BATCH_MAX + 1, 4);
	for (unsigned i = 0; i < PROTO_BATCH_MAX + 1; i++)
		tb_batch_read_once(&t, 0);
	ck_assert_int_eq(proto_request_decode(t.p, t.n, &req), MMIO_EPROTO);
	tb_free(&t);
}
END_TEST

START_TEST(test_batch_op_fields)
{
	struct proto_request req;

	/* READ_ONCE with a value, with a timeout */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 05 04 01000000 0000000000000000 "
						 "0100000000000000 0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 05 04 01000000 0000000000000000 "
						 "0000000000000000 0000000000000000 01000000",
					&req),
			 MMIO_EPROTO);
	/* WRITE_ONCE with a want */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 06 04 01000000 0000000000000000 "
						 "0000000000000000 0100000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	/* Ops a batch cannot hold: READ, NONE, BATCH */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 07 04 01000000 0000000000000000 "
						 "0000000000000000 0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 00 04 01000000 0000000000000000 "
						 "0000000000000000 0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 0a 04 01000000 0000000000000000 "
						 "0000000000000000 0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	/* A bad op after a good one spoils the batch. */
	ck_assert_int_eq(req_decode_hex(RQ("0a") "02000000"
						 "05 04 01000000 0000000000000000 0000000000000000 "
						 "0000000000000000 00000000"
						 "05 03 01000000 0000000000000000 0000000000000000 "
						 "0000000000000000 00000000",
					&req),
			 MMIO_EPROTO);
	ck_assert_uint_eq(req.opcode, PROTO_OP_BATCH);
	ck_assert_uint_eq(req.batch.count, 0);
}
END_TEST

START_TEST(test_batch_reply_rules)
{
	struct proto_reply rep;

	/* MMIO_OK must not name a failed op. */
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_OK, DONE0) "00000000", &rep), MMIO_EPROTO);
	/* The failed op is the first not done. */
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_EINVAL, "0100000000000000") "02000000 "
										"1100000000000000",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_EINVAL, DONE0) "00000000", &rep), MMIO_OK);
	ck_assert_uint_eq(rep.batch.failed, 0);
	/* Refused as a whole: nothing done. */
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_EPROTO, "0100000000000000") "ffffffff "
										"1100000000000000",
					&rep),
			 MMIO_EPROTO);
	/* Counts that overflow: done * 8 wraps to 0 in 64 bits. */
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_OK, "0000000000000020") "ffffffff", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_OK, "ffffffffffffffff") "ffffffff", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0a", ST_EINVAL, "ffffffffffffffff") "ffffffff", &rep),
			 MMIO_EPROTO);
	/* done above PROTO_BATCH_MAX */
	{
		struct tbuf t = { 0 };

		tb_rep_header(&t, PROTO_OP_BATCH, 0, PROTO_BATCH_MAX + 1);
		tb_le(&t, PROTO_BATCH_NONE, 4);
		for (unsigned i = 0; i < PROTO_BATCH_MAX + 1; i++)
			tb_le(&t, i, 8);
		ck_assert_int_eq(proto_reply_decode(t.p, t.n, &rep), MMIO_EPROTO);
		tb_free(&t);
		tb_rep_header(&t, PROTO_OP_BATCH, 0, PROTO_BATCH_MAX);
		tb_le(&t, PROTO_BATCH_NONE, 4);
		for (unsigned i = 0; i < PROTO_BATCH_MAX; i++)
			tb_le(&t, i, 8);
		ck_assert_int_eq(proto_reply_decode(t.p, t.n, &rep), MMIO_OK);
		{
			uint64_t v = 0;

			ck_assert_int_eq(proto_batch_value_get(&rep, PROTO_BATCH_MAX - 1, &v),
					 MMIO_OK);
			ck_assert_uint_eq(v, PROTO_BATCH_MAX - 1);
			ck_assert_int_eq(proto_batch_value_get(&rep, PROTO_BATCH_MAX, &v),
					 MMIO_EINVAL);
		}
		tb_free(&t);
	}
}
END_TEST

/* ------------------------------------------------------------------------
 * Names.
 * ------------------------------------------------------------------------ */

#define OPEN_TAIL " 0000000000000000 0001000000000000 00000000"

START_TEST(test_open_names)
{
	struct proto_request req;
	char hexbuf[512];
	char name63[64];

	/* Empty */
	ck_assert_int_eq(req_decode_hex(RQ("03") "00" OPEN_TAIL, &req), MMIO_EPROTO);
	/* Length past the buffer: 50 claimed, 3 + 20 present; 255 claimed. */
	ck_assert_int_eq(req_decode_hex(RQ("03") "32 656475" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "ff 656475" OPEN_TAIL, &req), MMIO_EPROTO);
	/* Only the length byte */
	ck_assert_int_eq(req_decode_hex(RQ("03") "03", &req), MMIO_EPROTO);
	/* Bad characters: '/', ' ', NUL, 0x80, 'é' (UTF-8), ':' */
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 652f75" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 652075" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 650075" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 658075" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 65c3a9" OPEN_TAIL, &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 653a75" OPEN_TAIL, &req), MMIO_EPROTO);
	/* 63 characters is the most; 64 is too long. */
	memset(name63, 'a', 63);
	name63[63] = '\0';
	snprintf(hexbuf, sizeof(hexbuf), RQ("03") "3f %s" OPEN_TAIL,
		 "61616161616161616161616161616161616161616161616161616161616161616161616161616161"
		 "6161616161616161616161616161616161616161616161");
	ck_assert_int_eq(req_decode_hex(hexbuf, &req), MMIO_OK);
	ck_assert_str_eq(req.open.name, name63);
	snprintf(hexbuf, sizeof(hexbuf), RQ("03") "40 %s" OPEN_TAIL,
		 "61616161616161616161616161616161616161616161616161616161616161616161616161616161"
		 "616161616161616161616161616161616161616161616161");
	ck_assert_int_eq(req_decode_hex(hexbuf, &req), MMIO_EPROTO);
	/* Unknown OPEN flag */
	ck_assert_int_eq(req_decode_hex(RQ("03") "03 656475 0000000000000000 0001000000000000 "
						 "04000000",
					&req),
			 MMIO_EPROTO);
}
END_TEST

START_TEST(test_name_valid)
{
	char long_name[PROTO_NAME_MAX + 2];

	ck_assert(proto_name_valid("edu", 3));
	ck_assert(proto_name_valid("A-z_0.9", 7));
	ck_assert(proto_name_valid("edu/x", 3)); /* only the first 3 bytes count */
	ck_assert(!proto_name_valid("", 0));
	ck_assert(!proto_name_valid(NULL, 0));
	ck_assert(!proto_name_valid("e u", 3));
	ck_assert(!proto_name_valid("e\0u", 3));
	ck_assert(!proto_name_valid("e/u", 3));
	memset(long_name, 'x', sizeof(long_name));
	ck_assert(proto_name_valid(long_name, PROTO_NAME_MAX));
	ck_assert(!proto_name_valid(long_name, PROTO_NAME_MAX + 1));
}
END_TEST

START_TEST(test_list_entries_rejected)
{
	struct proto_reply rep;

	/* count beyond what is there, and huge counts */
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "02000000 03 656475 "
					 "0001000000000000 03 1f 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("02", ST_OK, DONE0) "ffffffff", &rep), MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("02", ST_OK, DONE0) "01100000", &rep), MMIO_EPROTO);
	/* name length past the buffer */
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 40 656475 "
					 "0001000000000000 03 1f 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	/* bad name char */
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 652f75 "
					 "0001000000000000 03 1f 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	/* access 4, ops 0x20, widths 0x10, cache 4, flags 8 */
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 04 1f 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 03 40 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 03 1f 10 03 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 03 1f 04 04 06 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 03 1f 04 03 08 0000000000000000 00",
			       &rep),
		MMIO_EPROTO);
	/* where: 64 bytes, a control character, cut short */
	ck_assert_int_eq(rep_decode_hex(RP("02", ST_OK, DONE0) "01000000 03 656475 "
							       "0001000000000000 03 1f 04 03 06 "
							       "0000000000000000 40",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("02", ST_OK, DONE0) "01000000 03 656475 "
							       "0001000000000000 03 1f 04 03 06 "
							       "0000000000000000 02 410a",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("02", ST_OK, DONE0) "01000000 03 656475 "
							       "0001000000000000 03 1f 04 03 06 "
							       "0000000000000000",
					&rep),
			 MMIO_EPROTO);
	/* the same entry with valid fields decodes */
	ck_assert_int_eq(
		rep_decode_hex(RP("02", ST_OK,
				  DONE0) "01000000 03 656475 "
					 "0001000000000000 03 1f 04 03 06 0000000000000000 00",
			       &rep),
		MMIO_OK);
	ck_assert_uint_eq(rep.list.count, 1);
}
END_TEST

/* ------------------------------------------------------------------------
 * Other body checks.
 * ------------------------------------------------------------------------ */

START_TEST(test_hello_versions)
{
	struct proto_request req;
	struct proto_reply rep;

	ck_assert_int_eq(req_decode_hex(RQ("01") "0000 0100", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("01") "0200 0100", &req), MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("01") "0100 ffff", &req), MMIO_OK);
	ck_assert_uint_eq(req.hello.max_version, 0xffff);
	ck_assert_int_eq(
		rep_decode_hex(RP("01", ST_OK, DONE0) "0000 0000 00001000 00100000 40000000", &rep),
		MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("01", ST_OK, DONE0) "0100 0200 00001000 00100000 40000000", &rep),
		MMIO_EPROTO);
}
END_TEST

START_TEST(test_write_length_checked)
{
	struct proto_request req;

	/* len says 6, 5 bytes follow; len says 4; len UINT64_MAX */
	ck_assert_int_eq(req_decode_hex(RQ("08") "03000000 0000000000000000 0600000000000000 "
						 "68656c6c6f",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("08") "03000000 0000000000000000 0400000000000000 "
						 "68656c6c6f",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("08") "03000000 0000000000000000 ffffffffffffffff "
						 "68656c6c6f",
					&req),
			 MMIO_EPROTO);
}
END_TEST

/* WRITE_ROWS carries exactly row_bytes * rows bytes, a product that must
 * not overflow; READ_ROWS carries none. The geometry itself (rows 0,
 * pitch < row_bytes, ranges) decodes: it is the server's to refuse. */
START_TEST(test_rows_length_checked)
{
	struct proto_request req;
	uint8_t buf[64];
	size_t len;

	/* 2 rows of 2 bytes, 3 or 5 bytes follow. */
	ck_assert_int_eq(req_decode_hex(RQ("15") "01000000 0000000000000000 0200000000000000 "
						 "0200000000000000 02000000 a1a2b1",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("15") "01000000 0000000000000000 0200000000000000 "
						 "0200000000000000 02000000 a1a2b1b2c1",
					&req),
			 MMIO_EPROTO);
	/* row_bytes * rows overflows 64 bits: never equal to what follows. */
	ck_assert_int_eq(req_decode_hex(RQ("15") "01000000 0000000000000000 0000000000000080 "
						 "0000000000000080 02000000",
					&req),
			 MMIO_EPROTO);
	/* A READ_ROWS with data, or short. */
	ck_assert_int_eq(req_decode_hex(RQ("14") "01000000 0000000000000000 0200000000000000 "
						 "0200000000000000 02000000 00",
					&req),
			 MMIO_EPROTO);
	ck_assert_int_eq(req_decode_hex(RQ("14") "01000000 0000000000000000 0200000000000000 "
						 "0200000000000000 0200",
					&req),
			 MMIO_EPROTO);
	/* Hostile geometry decodes: rows 0 (no data), pitch below the row, huge. */
	ck_assert_int_eq(req_decode_hex(RQ("15") "01000000 0000000000000000 0200000000000000 "
						 "0200000000000000 00000000",
					&req),
			 MMIO_OK);
	ck_assert_int_eq(req_decode_hex(RQ("14") "01000000 ffffffffffffffff ffffffffffffffff "
						 "0100000000000000 ffffffff",
					&req),
			 MMIO_OK);
	ck_assert_uint_eq(req.rows.pitch, 1);
	/* The encoder refuses what the decoder would. */
	req = (struct proto_request){
		.opcode = PROTO_OP_WRITE_ROWS,
		.rows = { .row_bytes = 2, .rows = 2, .data = "abc", .len = 3 }
	};
	ck_assert_int_eq(proto_request_encode(&req, buf, sizeof(buf), &len), MMIO_EINVAL);
	req.rows.row_bytes = UINT64_MAX;
	req.rows.len = 2;
	ck_assert_int_eq(proto_request_encode(&req, buf, sizeof(buf), &len), MMIO_EINVAL);
}
END_TEST

START_TEST(test_reply_header_rules)
{
	struct proto_reply rep;

	/* positive status */
	ck_assert_int_eq(rep_decode_hex(RP("04", "01000000", DONE0), &rep), MMIO_EPROTO);
	/* an unknown (future) negative status is carried as is */
	ck_assert_int_eq(rep_decode_hex(RP("04", "9cffffff", DONE0), &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, -100);
	ck_assert_int_eq(rep_decode_hex(RP("04", "00000080", DONE0), &rep), MMIO_OK);
	ck_assert_int_eq(rep.status, INT32_MIN);
	/* done must be 0 where it counts nothing */
	ck_assert_int_eq(rep_decode_hex(RP("04", ST_OK, "0100000000000000"), &rep), MMIO_EPROTO);
	ck_assert_int_eq(
		rep_decode_hex(RP("05", ST_OK, "0800000000000000") "0100000000000000", &rep),
		MMIO_EPROTO);
	/* a body only where the status says so */
	ck_assert_int_eq(rep_decode_hex(RP("05", ST_EFAULT, DONE0) "0100000000000000", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0b", ST_EFAULT, DONE0) "0100000000000000", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("03", ST_EACCES, DONE0) "01000000 0001000000000000 03 "
								   "1f 0c 01 04 04",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0b", ST_ETIMEDOUT, DONE0), &rep), MMIO_EPROTO);
	/* on a body error the header is still reported */
	ck_assert_uint_eq(rep.opcode, PROTO_OP_POLL);
	ck_assert_int_eq(rep.status, MMIO_ETIMEDOUT);
	/* READ: exactly done bytes */
	ck_assert_int_eq(rep_decode_hex(RP("07", ST_OK, "0500000000000000") "deadbeef", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("07", ST_OK, "ffffffffffffffff") "deadbeef", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("07", ST_OK, "0000000000000080"), &rep), MMIO_EPROTO);
	/* OPEN reply: cache 4, widths 0x10, flags 0x10 (past revocable) */
	ck_assert_int_eq(rep_decode_hex(RP("03", ST_OK, DONE0) "01000000 0001000000000000 03 1f 0c "
							       "04 04 04",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("03", ST_OK, DONE0) "01000000 0001000000000000 03 1f 1c "
							       "01 04 04",
					&rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("03", ST_OK, DONE0) "01000000 0001000000000000 03 1f 0c "
							       "01 04 10 1000a0fe00000000 00",
					&rep),
			 MMIO_EPROTO); /* ... while the same reply with mappable and revocable is
					  well formed. */
	ck_assert_int_eq(rep_decode_hex(RP("03", ST_OK, DONE0) "01000000 0001000000000000 03 1f 0c "
							       "01 04 0c 1000a0fe00000000 00",
					&rep),
			 MMIO_OK);
}
END_TEST

START_TEST(test_stats_counts)
{
	struct proto_reply rep;
	struct tbuf t = { 0 };

	ck_assert_int_eq(rep_decode_hex(RP("0e", ST_OK, DONE0) "ffffffff", &rep), MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0e", ST_OK, DONE0) "02000000 0100000000000000", &rep),
			 MMIO_EPROTO);
	ck_assert_int_eq(rep_decode_hex(RP("0e", ST_OK, DONE0) "01000000 0100000000000000 "
							       "0200000000000000",
					&rep),
			 MMIO_EPROTO);
	/* More counters than this version knows is fine, up to PROTO_STATS_MAX. */
	tb_rep_header(&t, PROTO_OP_STATS, 0, 0);
	tb_le(&t, PROTO_STATS_MAX, 4);
	for (unsigned i = 0; i < PROTO_STATS_MAX; i++)
		tb_le(&t, 1000 + i, 8);
	ck_assert_int_eq(proto_reply_decode(t.p, t.n, &rep), MMIO_OK);
	ck_assert_uint_eq(proto_stats_counter(&rep.stats, PROTO_STAT_REQUESTS),
			  1000 + PROTO_STAT_REQUESTS);
	ck_assert_uint_eq(proto_stats_counter(&rep.stats, PROTO_STATS_MAX - 1),
			  1000 + PROTO_STATS_MAX - 1);
	ck_assert_uint_eq(proto_stats_counter(&rep.stats, PROTO_STATS_MAX), 0);
	tb_free(&t);
	tb_rep_header(&t, PROTO_OP_STATS, 0, 0);
	tb_le(&t, PROTO_STATS_MAX + 1, 4);
	for (unsigned i = 0; i < PROTO_STATS_MAX + 1; i++)
		tb_le(&t, i, 8);
	ck_assert_int_eq(proto_reply_decode(t.p, t.n, &rep), MMIO_EPROTO);
	tb_free(&t);
	/* An older server's shorter list: missing counters read as 0. */
	ck_assert_int_eq(rep_decode_hex(RP("0e", ST_OK, DONE0) "01000000 0700000000000000", &rep),
			 MMIO_OK);
	ck_assert_uint_eq(proto_stats_counter(&rep.stats, PROTO_STAT_UPTIME_S), 7);
	ck_assert_uint_eq(proto_stats_counter(&rep.stats, PROTO_STAT_CLIENTS), 0);
}
END_TEST

/* Range checks are the server's job; the codec carries extreme values intact. */
START_TEST(test_extreme_offsets)
{
	struct proto_request req;

	ck_assert_int_eq(
		req_decode_hex(RQ("07") "ffffffff ffffffffffffffff ffffffffffffffff", &req),
		MMIO_OK);
	ck_assert_uint_eq(req.read.handle, UINT32_MAX);
	ck_assert_uint_eq(req.read.offset, UINT64_MAX);
	ck_assert_uint_eq(req.read.len, UINT64_MAX);
	ck_assert_int_eq(
		req_decode_hex(RQ("09") "01000000 feffffffffffffff ffffffffffffffff ff", &req),
		MMIO_OK);
	ck_assert_uint_eq(req.fill.offset, UINT64_MAX - 1);
	ck_assert_uint_eq(req.fill.len, UINT64_MAX);
	ck_assert_uint_eq(req.fill.byte, 0xff);
	ck_assert_int_eq(req_decode_hex(RQ("05") "01000000 08 ffffffffffffffff", &req), MMIO_OK);
	ck_assert_uint_eq(req.read_once.offset, UINT64_MAX);
	ck_assert_int_eq(
		req_decode_hex(RQ("08") "01000000 ffffffffffffffff 0100000000000000 00", &req),
		MMIO_OK);
	ck_assert_uint_eq(req.write.offset, (uint64_t)SIZE_MAX);
	ck_assert_uint_eq(req.write.len, 1);
	ck_assert_int_eq(
		req_decode_hex(RQ("03") "01 78 ffffffffffffffff ffffffffffffffff 00000000", &req),
		MMIO_OK);
	ck_assert_uint_eq(req.open.offset, UINT64_MAX);
	ck_assert_uint_eq(req.open.length, UINT64_MAX);
	ck_assert_int_eq(req_decode_hex(RQ("0b") "ffffffff 08 ffffffffffffffff ffffffffffffffff "
						 "ffffffffffffffff ffffffff",
					&req),
			 MMIO_OK);
	ck_assert_uint_eq(req.poll.mask, UINT64_MAX);
	ck_assert_uint_eq(req.poll.timeout_us, UINT32_MAX);
	ck_assert_int_eq(req_decode_hex(RQ("0a") "01000000 0b 08 ffffffff ffffffffffffffff "
						 "ffffffffffffffff ffffffffffffffff ffffffff",
					&req),
			 MMIO_OK);
	{
		struct proto_batch_op op;

		ck_assert_int_eq(proto_batch_op_get(&req.batch, 0, &op), MMIO_OK);
		ck_assert_uint_eq(op.offset, UINT64_MAX);
		ck_assert_uint_eq(op.want, UINT64_MAX);
		ck_assert_uint_eq(op.timeout_us, UINT32_MAX);
	}
	{
		struct proto_reply rep;

		ck_assert_int_eq(rep_decode_hex(RP("09", ST_OK, "ffffffffffffffff"), &rep),
				 MMIO_OK);
		ck_assert_uint_eq(rep.done, UINT64_MAX);
		ck_assert_int_eq(
			rep_decode_hex(RP("0c", ST_OK, DONE0) "ffffffffffffffff "
							      "ffffffffffffffff ffffffffffffffff",
				       &rep),
			MMIO_OK);
		ck_assert_uint_eq(rep.map.offset, UINT64_MAX);
	}
}
END_TEST

/* ------------------------------------------------------------------------
 * Encoder argument checks.
 * ------------------------------------------------------------------------ */

START_TEST(test_request_encode_invalid)
{
	struct proto_request req;
	struct proto_batch_op bad_op = { .opcode = PROTO_OP_READ, .width = 4 };
	size_t len = 99;

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_NONE;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, &len), MMIO_EINVAL);
	ck_assert_uint_eq(len, 0);
	req.opcode = PROTO_OP_MAX + 1;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_OPEN;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL); /* "" */
	strcpy(req.open.name, "a/b");
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	memset(req.open.name, 'a', sizeof(req.open.name)); /* 64 bytes, unterminated */
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.open.name[PROTO_NAME_MAX] = '\0'; /* 63: fine */
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, PROTO_REQUEST_HEADER_SIZE + 1 + PROTO_NAME_MAX + 20);
	req.open.flags = 4;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_HELLO;
	req.hello.max_version = 1;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.hello.min_version = 2;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.hello.min_version = 1;
	req.hello.max_version = 0x10000;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_BATCH;
	req.batch.count = 1; /* no ops */
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.batch.ops = &bad_op;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
	req.batch.ops = golden_ops;
	req.batch.count = PROTO_BATCH_MAX + 1;
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);

	memset(&req, 0, sizeof(req));
	req.opcode = PROTO_OP_WRITE;
	req.write.len = 1; /* data NULL */
	ck_assert_int_eq(proto_request_encode(&req, NULL, 0, NULL), MMIO_EINVAL);
}
END_TEST

START_TEST(test_reply_encode_invalid)
{
	struct proto_reply rep;
	struct proto_list_entry bad_entry = { .name = "bad name" };
	size_t len = 99;

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_CLOSE;
	rep.status = 1;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, &len), MMIO_EINVAL);
	ck_assert_uint_eq(len, 0);
	rep.status = MMIO_OK;
	rep.done = 1;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = 0x7777; /* unknown: only a bare error reply */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
	rep.status = MMIO_EPROTO;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, PROTO_REPLY_HEADER_SIZE);
	rep.done = 1;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
	rep.opcode = 0x10000;
	rep.done = 0;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_OPEN;
	rep.open.width = 3;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
	rep.status = MMIO_EACCES; /* no body, so the bad width is not encoded */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, &len), MMIO_ENOMEM);
	ck_assert_uint_eq(len, PROTO_REPLY_HEADER_SIZE);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_HELLO; /* version 0 */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_BATCH;
	rep.batch.failed = 0; /* MMIO_OK naming a failed op */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
	rep.batch.failed = PROTO_BATCH_NONE;
	rep.done = 2; /* no values */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_READ;
	rep.done = 1; /* no data */
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_STATS;
	rep.stats.count = PROTO_STATS_MAX + 1;
	rep.stats.counters = golden_counters;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_LIST;
	rep.list.count = 1;
	rep.list.entries = &bad_entry;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
	rep.list.count = PROTO_LIST_MAX + 1;
	rep.list.entries = golden_entries;
	ck_assert_int_eq(proto_reply_encode(&rep, NULL, 0, NULL), MMIO_EINVAL);
}
END_TEST

/* The server can read device memory straight into the reply. */
START_TEST(test_read_reply_in_place)
{
	struct bytes want = hex(RP("07", ST_OK, "0400000000000000") "deadbeef");
	uint8_t buf[64];
	struct proto_reply rep;
	size_t len = 0;

	memset(buf, 0, sizeof(buf));
	memcpy(buf + PROTO_READ_DATA_OFFSET, "\xde\xad\xbe\xef", 4);
	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_READ;
	rep.version = 1;
	rep.done = 4;
	rep.read.data = buf + PROTO_READ_DATA_OFFSET;
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_OK);
	ck_assert_uint_eq(len, want.n);
	ck_assert_mem_eq(buf, want.p, want.n);
	bytes_free(&want);
}
END_TEST

/* ------------------------------------------------------------------------
 * Error replies.
 * ------------------------------------------------------------------------ */

static void error_reply_expect(const char *request_hex, int status, const char *reply_hex)
{
	struct bytes req = hex(request_hex);
	struct bytes want = hex(reply_hex);
	uint8_t buf[64];
	size_t len = 0;

	ck_assert_int_eq(proto_error_reply_encode(req.p, req.n, status, buf, sizeof(buf), &len),
			 MMIO_OK);
	ck_assert_uint_eq(len, want.n);
	ck_assert_mem_eq(buf, want.p, want.n);
	bytes_free(&req);
	bytes_free(&want);
}

START_TEST(test_error_reply_golden)
{
	/* unknown opcode: echoed, sent as MMIO_EPROTO */
	error_reply_expect("4d494f3f 0100 7777", PROTO_EUNKNOWN_OP,
			   "4d494f21 0100 7777 f8ffffff 0000000000000000");
	/* bad version: opcode echoed, in the oldest version, which any client reads */
	error_reply_expect("4d494f3f 0300 0500", MMIO_EVERSION,
			   "4d494f21 0100 0500 f7ffffff 0000000000000000");
	/* a spoken version: echoed too, so that its client reads the refusal */
	error_reply_expect("4d494f3f 0200 7777", PROTO_EUNKNOWN_OP,
			   "4d494f21 0200 7777 f8ffffff 0000000000000000");
	/* nothing readable: opcode NONE */
	error_reply_expect("", MMIO_EPROTO, "4d494f21 0100 0000 f8ffffff 0000000000000000");
	error_reply_expect("4d494f3f 01", MMIO_EPROTO,
			   "4d494f21 0100 0000 f8ffffff 0000000000000000");
	error_reply_expect("00000000 0100 0500", MMIO_EPROTO,
			   "4d494f21 0100 0000 f8ffffff 0000000000000000");
	/* BATCH keeps its failed field; POLL timing out keeps its value */
	error_reply_expect(RQ("0a") "05", MMIO_EPROTO,
			   "4d494f21 0100 0a00 f8ffffff 0000000000000000 ffffffff");
	error_reply_expect(RQ("0b"), MMIO_ETIMEDOUT,
			   "4d494f21 0100 0b00 f9ffffff 0000000000000000 0000000000000000");
}
END_TEST

/* For each request vector, an error reply decodes with the opcode echoed. */
START_TEST(test_error_reply_decodes)
{
	struct bytes req = hex(req_vectors[_i].hex);
	uint8_t buf[64];
	size_t len = 0;
	struct proto_reply rep;

	ck_assert_int_eq(
		proto_error_reply_encode(req.p, req.n, MMIO_EACCES, buf, sizeof(buf), &len),
		MMIO_OK);
	ck_assert_int_eq(proto_reply_decode(buf, len, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.opcode, req_vectors[_i].req.opcode);
	ck_assert_int_eq(rep.status, MMIO_EACCES);
	ck_assert_uint_eq(rep.done, 0);
	if (rep.opcode == PROTO_OP_BATCH)
		ck_assert_uint_eq(rep.batch.failed, PROTO_BATCH_NONE);
	bytes_free(&req);
}
END_TEST

START_TEST(test_error_reply_invalid_status)
{
	uint8_t buf[64];
	size_t len = 99;

	ck_assert_int_eq(proto_error_reply_encode(NULL, 0, MMIO_OK, buf, sizeof(buf), &len),
			 MMIO_EINVAL);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(proto_error_reply_encode(NULL, 0, 1, buf, sizeof(buf), NULL), MMIO_EINVAL);
	ck_assert_int_eq(proto_error_reply_encode(NULL, 0, MMIO_EPROTO, NULL, 0, &len),
			 MMIO_ENOMEM);
	ck_assert_uint_eq(len, PROTO_REPLY_HEADER_SIZE);
}
END_TEST

/* ------------------------------------------------------------------------
 * Accessors and helpers.
 * ------------------------------------------------------------------------ */

START_TEST(test_accessors)
{
	struct proto_batch_req none = { .count = 2 };
	struct proto_batch_op op;
	struct proto_reply rep;
	struct proto_list_rep list = { .count = 2, .entries = golden_entries };
	struct proto_list_iter it;
	struct proto_list_entry e;
	struct proto_stats_rep stats = { .count = 3, .counters = golden_counters };
	uint64_t v = 0;

	ck_assert_int_eq(proto_batch_op_get(&none, 0, &op), MMIO_EINVAL);

	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_READ;
	rep.done = 1;
	ck_assert_int_eq(proto_batch_value_get(&rep, 0, &v), MMIO_EINVAL);
	rep.opcode = PROTO_OP_BATCH;
	ck_assert_int_eq(proto_batch_value_get(&rep, 0, &v), MMIO_EINVAL); /* no values */
	rep.batch.values = golden_values_ok;
	ck_assert_int_eq(proto_batch_value_get(&rep, 0, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0x11);
	ck_assert_int_eq(proto_batch_value_get(&rep, 1, &v), MMIO_EINVAL);

	proto_list_iter_init(&it, &list);
	ck_assert(proto_list_iter_next(&it, &e));
	ck_assert_str_eq(e.name, "edu");
	ck_assert(proto_list_iter_next(&it, &e));
	ck_assert_str_eq(e.name, "timer");
	ck_assert(!proto_list_iter_next(&it, &e));

	ck_assert_uint_eq(proto_stats_counter(&stats, 0), 42);
	ck_assert_uint_eq(proto_stats_counter(&stats, 2), 5);
	ck_assert_uint_eq(proto_stats_counter(&stats, 3), 0);
	ck_assert_uint_eq(proto_stats_counter(&stats, UINT32_MAX), 0);
}
END_TEST

START_TEST(test_opcode_names)
{
	static const char *const names[] = { "NONE",	   "HELLO",	 "LIST",       "OPEN",
					     "CLOSE",	   "READ_ONCE",	 "WRITE_ONCE", "READ",
					     "WRITE",	   "FILL",	 "BATCH",      "POLL",
					     "MAP",	   "UNMAP",	 "STATS",      "BUF_ATTACH",
					     "BUF_DETACH", "READ_SPAN",	 "WRITE_SPAN", "MAILBOX",
					     "READ_ROWS",  "WRITE_ROWS", "IRQ" };

	ck_assert_uint_eq(ARRAY_SIZE(names), PROTO_OP_MAX + 1);
	for (unsigned op = 0; op <= PROTO_OP_MAX; op++) {
		ck_assert_str_eq(proto_opcode_name(op), names[op]);
		ck_assert(proto_opcode_known(op) == (op != PROTO_OP_NONE));
	}
	ck_assert_str_eq(proto_opcode_name(PROTO_OP_MAX + 1), "UNKNOWN");
	ck_assert_str_eq(proto_opcode_name(0x7777), "UNKNOWN");
	ck_assert(!proto_opcode_known(PROTO_OP_MAX + 1));
	ck_assert_str_eq(proto_stat_name(PROTO_STAT_REQUESTS), "requests");
	ck_assert_str_eq(proto_stat_name(PROTO_STAT_REVOKED), "revoked");
	ck_assert_str_eq(proto_stat_name(PROTO_STAT_COUNT), "?");
}
END_TEST

START_TEST(test_version_choose)
{
	unsigned v = 0;

	ck_assert_int_eq(proto_version_choose(1, 1, &v), MMIO_OK);
	ck_assert_uint_eq(v, 1);
	v = 0;
	ck_assert_int_eq(proto_version_choose(1, 7, &v), MMIO_OK);
	ck_assert_uint_eq(v, PROTO_VERSION_MAX);
	ck_assert_int_eq(proto_version_choose(PROTO_VERSION_MAX + 1, 9, &v), MMIO_EVERSION);
	ck_assert_int_eq(proto_version_choose(0, 0, &v), MMIO_EVERSION);
	ck_assert_int_eq(proto_version_choose(2, 1, &v), MMIO_EVERSION);
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_str_eq(mmio_status_name(MMIO_EPROTO), "MMIO_EPROTO");
	ck_assert_str_eq(mmio_status_name(MMIO_EVERSION), "MMIO_EVERSION");
	ck_assert_str_eq(mmio_status_name(PROTO_EUNKNOWN_OP), "MMIO_E?");
	ck_assert_str_eq(mmio_strerror(MMIO_OK), "success");
	ck_assert_str_eq(mmio_strerror(1), "unknown status");
}
END_TEST

/* ---- issue 23: the reason record at the end of a refusal ---- */

#define REASON_WIDTH_HEX "01 05 0400000000000000 0200000000000000"

/* Golden: a refusal with its reason (version 2) decodes to it and encodes
 * back to the same bytes. */
START_TEST(test_reason_golden)
{
	static const struct {
		const char *hex;
		unsigned opcode;
		int status;
		uint64_t done;
		struct mmio_reason why;
	} v[] = {
		/* READ_ONCE, 4-byte access on a 2-byte grant */
		{ "4d494f21 0200 0500 ffffffff 0000000000000000 " REASON_WIDTH_HEX,
		  5,
		  MMIO_EINVAL,
		  0,
		  { MMIO_REASON_WIDTH, 5, 4, 2 } },
		/* READ without bulk: no data, then the reason */
		{ "4d494f21 0200 0700 feffffff 0000000000000000 04 07 0200000000000000 "
		  "0100000000000000",
		  7,
		  MMIO_EACCES,
		  0,
		  { MMIO_REASON_OPS, 7, MMIO_OPS_BULK, MMIO_OPS_ONCE } },
		/* BATCH: item 1 refused by a register's fixed bits, after one value */
		{ "4d494f21 0200 0a00 feffffff 0100000000000000 01000000 2a00000000000000 "
		  "09 06 5000000000000000 0001000000000000",
		  10,
		  MMIO_EACCES,
		  1,
		  { MMIO_REASON_REG_BITS, 6, 0x50, 0x100 } },
		/* revoked */
		{ "4d494f21 0200 0b00 faffffff 0000000000000000 0a 0b 0000000000000000 "
		  "0000000000000000",
		  11,
		  MMIO_EREVOKED,
		  0,
		  { MMIO_REASON_REVOKED, 11, 0, 0 } },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct proto_reply rep;
		struct bytes want = hex(v[i].hex);
		uint8_t buf[128];
		size_t len = 0;

		ck_assert_int_eq(rep_decode_hex(v[i].hex, &rep), MMIO_OK);
		ck_assert_uint_eq(rep.opcode, v[i].opcode);
		ck_assert_int_eq(rep.status, v[i].status);
		ck_assert_uint_eq(rep.done, v[i].done);
		ck_assert_uint_eq(rep.reason.code, v[i].why.code);
		ck_assert_uint_eq(rep.reason.op, v[i].why.op);
		ck_assert_uint_eq(rep.reason.a, v[i].why.a);
		ck_assert_uint_eq(rep.reason.b, v[i].why.b);
		ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_OK);
		ck_assert_uint_eq(len, want.n);
		ck_assert_mem_eq(buf, want.p, want.n);
		bytes_free(&want);
	}
}
END_TEST

/* Hostile reason records decode to MMIO_EPROTO, and the encoder refuses them
 * (all in version 2: in version 1, any record is one, test_reason_v1). */
START_TEST(test_reason_hostile)
{
	static const char *bad[] = {
		/* a reason on a success */
		"4d494f21 0200 0400 00000000 0000000000000000 " REASON_WIDTH_HEX,
		/* code 0, code past the last, status not the code's */
		"4d494f21 0200 0500 ffffffff 0000000000000000 00 05 0400000000000000 "
		"0200000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 ff 05 0400000000000000 "
		"0200000000000000",
		"4d494f21 0200 0500 feffffff 0000000000000000 " REASON_WIDTH_HEX,
		/* op NONE, op unknown */
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 00 0400000000000000 "
		"0200000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 ff 0400000000000000 "
		"0200000000000000",
		/* details: width 3, an allowed width, unknown width bits */
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 05 0300000000000000 "
		"0200000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 05 0400000000000000 "
		"0400000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 05 0400000000000000 "
		"1000000000000000",
		/* aligned offset said misaligned; range inside; two op bits; revoked with details
		 */
		"4d494f21 0200 0500 ffffffff 0000000000000000 02 05 0400000000000000 "
		"0800000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 03 05 0400000000000000 "
		"0400000000000000",
		"4d494f21 0200 0700 feffffff 0000000000000000 04 07 0300000000000000 "
		"0000000000000000",
		"4d494f21 0200 0500 faffffff 0000000000000000 0a 05 0100000000000000 "
		"0000000000000000",
		/* a handle above u32 */
		"4d494f21 0200 0500 ffffffff 0000000000000000 0b 05 0000000001000000 "
		"0000000000000000",
		/* one byte short, one byte long */
		"4d494f21 0200 0500 ffffffff 0000000000000000 01 05 0400000000000000 "
		"02000000000000",
		"4d494f21 0200 0500 ffffffff 0000000000000000 " REASON_WIDTH_HEX " 00",
		/* READ: data that is not done bytes before the record */
		"4d494f21 0200 0700 feffffff 0200000000000000 01 04 07 0200000000000000 "
		"0100000000000000",
	};
	struct proto_reply rep;
	uint8_t buf[128];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rep_decode_hex(bad[i], &rep) == MMIO_EPROTO, "vector %zu decoded", i);
	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_READ_ONCE;
	rep.status = MMIO_EACCES;
	rep.reason = (struct mmio_reason){ MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 };
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_EINVAL);
	rep.status = MMIO_EINVAL;
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_OK);
	rep.reason.op = 0;
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_EINVAL);
}
END_TEST

/* The reasons of refusals outside the rights check: valid with their
 * status and details only, each with a sentence naming its cause. */
START_TEST(test_reason_beyond_the_check)
{
	static const struct {
		int status;
		struct mmio_reason why;
		const char *text; /* NULL: not valid */
	} v[] = {
		{ MMIO_EACCES,
		  { MMIO_REASON_GRANT_RANGE, PROTO_OP_OPEN, 0x100, 0x200 },
		  "MMIO_EACCES: no grant holds that range of the region; one holds [0x100, "
		  "0x200)" },
		{ MMIO_EACCES, { MMIO_REASON_GRANT_RANGE, PROTO_OP_OPEN, 0x200, 0x200 }, NULL },
		{ MMIO_EACCES,
		  { MMIO_REASON_UNMAPPABLE, PROTO_OP_MAP, MMIO_UNMAPPABLE_SENSITIVE, 0 },
		  "MMIO_EACCES: the region is sensitive: never mapped, only proxied" },
		{ MMIO_EACCES, { MMIO_REASON_UNMAPPABLE, PROTO_OP_MAP, 0, 0 }, NULL },
		{ MMIO_EACCES, { MMIO_REASON_UNMAPPABLE, PROTO_OP_MAP, 6, 0 }, NULL },
		{ MMIO_EINVAL,
		  { MMIO_REASON_BUFFER, PROTO_OP_READ_SPAN, MMIO_BUFFER_OUTSIDE, 4096 },
		  "MMIO_EINVAL: the span passes the end of its shared buffer of 4096 bytes" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_BUFFER, PROTO_OP_BUF_ATTACH, MMIO_BUFFER_NOT_MEMFD, 1 },
		  NULL },
		{ MMIO_EINVAL, { MMIO_REASON_BUFFER, PROTO_OP_READ_SPAN, 9, 0 }, NULL },
		{ MMIO_ENOMEM,
		  { MMIO_REASON_LIMIT, PROTO_OP_OPEN, MMIO_LIMIT_HANDLES, 6 },
		  "MMIO_ENOMEM: 6 handles are open on this connection, the server's "
		  "limits.max_handles" },
		{ MMIO_EINVAL, { MMIO_REASON_LIMIT, PROTO_OP_OPEN, MMIO_LIMIT_HANDLES, 6 }, NULL },
		{ MMIO_ENOMEM,
		  { MMIO_REASON_LIMIT, PROTO_OP_MAP, MMIO_LIMIT_TOKENS, 8 },
		  "MMIO_ENOMEM: 8 descriptor hand-overs (MAP, BUF_ATTACH) wait to be picked up, "
		  "the most the server keeps; each lives 2 s" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ARGUMENT, PROTO_OP_READ_ONCE, MMIO_ARGUMENT_WIDTH, 3 },
		  "MMIO_EINVAL: width 3 is not an access width (1, 2, 4 or 8 bytes)" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ARGUMENT, PROTO_OP_READ_ONCE, MMIO_ARGUMENT_WIDTH, 4 },
		  NULL },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ARGUMENT, PROTO_OP_READ_ROWS, MMIO_ARGUMENT_GRANULE, 4 },
		  "MMIO_EINVAL: the grant pins 4-byte accesses: offset, length and pitch must be "
		  "multiples of it" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ARGUMENT, PROTO_OP_READ_ROWS, MMIO_ARGUMENT_GRANULE, 1 },
		  NULL },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ARGUMENT, PROTO_OP_OPEN, MMIO_ARGUMENT_FLAGS, 0x80 },
		  "MMIO_EINVAL: flag bits 0x80 are not flags of this call" },
		{ MMIO_EINVAL, { MMIO_REASON_ARGUMENT, PROTO_OP_OPEN, 13, 0 }, NULL },
		{ MMIO_EBUSY,
		  { MMIO_REASON_BUSY, PROTO_OP_BUF_DETACH, MMIO_BUSY_IN_USE, 2 },
		  "MMIO_EBUSY: shared buffer 2 is in use by a copy or the mailbox" },
		{ MMIO_EBUSY, { MMIO_REASON_BUSY, PROTO_OP_OPEN, MMIO_BUSY_EXCLUSIVE, 1 }, NULL },
		{ MMIO_EBUSY,
		  { MMIO_REASON_BUSY, PROTO_OP_POLL, MMIO_BUSY_REQUESTS, 32 },
		  "MMIO_EBUSY: this connection has 32 requests in flight, the server's "
		  "limits.max_requests" },
		{ MMIO_EBUSY,
		  { MMIO_REASON_BUSY, PROTO_OP_READ_ONCE, MMIO_BUSY_ALL_POLLS, 64 },
		  "MMIO_EBUSY: all clients together have 64 polls waiting, the server's "
		  "limits.max_polls_total" },
		{ MMIO_EBUSY,
		  { MMIO_REASON_BUSY, PROTO_OP_POLL, MMIO_BUSY_ALL_POLLS + 1, 1 },
		  NULL },
		{ MMIO_EACCES, { MMIO_REASON_BUSY, PROTO_OP_POLL, MMIO_BUSY_UID_POLLS, 32 }, NULL },
		{ MMIO_ENOENT,
		  { MMIO_REASON_NO_GRANT, PROTO_OP_OPEN, 0, 0 },
		  "MMIO_ENOENT: no region of that name is granted to this client (`mmioctl list` "
		  "shows the regions it may open)" },
		{ MMIO_EACCES,
		  { MMIO_REASON_NO_GRANT, PROTO_OP_STATS, 0, 0 },
		  "MMIO_EACCES: the policy grants this client nothing (STATS is for its clients)" },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_msg(proto_reason_valid(&v[i].why, v[i].status) == (v[i].text != NULL),
			      "row %zu", i);
		if (v[i].text) {
			proto_reason_format(v[i].status, &v[i].why, buf, sizeof(buf));
			ck_assert_str_eq(buf, v[i].text);
		}
	}
}
END_TEST

/* Version 1 has no reason record: a version 1 refusal with one is
 * malformed, and the encoder leaves the reason out of a version 1 reply —
 * which is then byte for byte what a version 1 server sent. */
START_TEST(test_reason_v1)
{
	static const char v1_with_record[] =
		"4d494f21 0100 0500 ffffffff 0000000000000000 " REASON_WIDTH_HEX;
	struct bytes bare = hex("4d494f21 0100 0500 ffffffff 0000000000000000");
	struct proto_reply rep;
	uint8_t buf[128];
	size_t len = 0;

	ck_assert_int_eq(rep_decode_hex(v1_with_record, &rep), MMIO_EPROTO);
	ck_assert_int_eq(rep.status, MMIO_EINVAL); /* the header is still read */
	memset(&rep, 0, sizeof(rep));
	rep.opcode = PROTO_OP_READ_ONCE;
	rep.version = 1;
	rep.status = MMIO_EINVAL;
	rep.reason = (struct mmio_reason){ MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 };
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_OK);
	ck_assert_uint_eq(len, bare.n);
	ck_assert_mem_eq(buf, bare.p, bare.n);
	ck_assert_int_eq(proto_reply_decode(buf, len, &rep), MMIO_OK);
	ck_assert_uint_eq(rep.version, 1);
	ck_assert_uint_eq(rep.reason.code, MMIO_REASON_NONE);
	/* A version this code does not speak is not encoded. */
	rep.version = PROTO_VERSION_MAX + 1;
	ck_assert_int_eq(proto_reply_encode(&rep, buf, sizeof(buf), &len), MMIO_EINVAL);
	bytes_free(&bare);
}
END_TEST

/* Requests and replies of version 2 are those of version 1 but for the
 * header's version (HELLO: always 1): every golden vector, both versions. */
START_TEST(test_golden_v2_is_v1_but_the_version)
{
	for (size_t i = 0; i < sizeof(req_vectors) / sizeof(req_vectors[0]); i++) {
		struct proto_request rq = req_vectors[i].req;
		struct bytes want = hex(req_vectors[i].hex);
		uint8_t buf[512];
		size_t len = 0;

		rq.version = 2;
		ck_assert_int_eq(proto_request_encode(&rq, buf, sizeof(buf), &len), MMIO_OK);
		ck_assert_uint_eq(len, want.n);
		if (rq.opcode != PROTO_OP_HELLO)
			want.p[4] = 2;
		ck_assert_mem_eq(buf, want.p, want.n);
		ck_assert_int_eq(proto_request_decode(buf, len, &rq), MMIO_OK);
		ck_assert_uint_eq(rq.version, rq.opcode == PROTO_OP_HELLO ? 1 : 2);
		bytes_free(&want);
	}
	for (size_t i = 0; i < sizeof(rep_vectors) / sizeof(rep_vectors[0]); i++) {
		struct proto_reply rp = rep_vectors[i].rep;
		struct bytes want = hex(rep_vectors[i].hex);
		uint8_t buf[512];
		size_t len = 0;

		rp.version = 2;
		ck_assert_int_eq(proto_reply_encode(&rp, buf, sizeof(buf), &len), MMIO_OK);
		ck_assert_uint_eq(len, want.n);
		if (rp.opcode != PROTO_OP_HELLO)
			want.p[4] = 2;
		ck_assert_mem_eq(buf, want.p, want.n);
		bytes_free(&want);
	}
}
END_TEST

/* Each reason's sentence names what refused and what the grant allows. */
START_TEST(test_reason_sentences)
{
	static const struct {
		int status;
		struct mmio_reason why;
		const char *text;
	} v[] = {
		{ MMIO_EINVAL,
		  { MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 },
		  "MMIO_EINVAL: a 4-byte access; the grant allows 2-byte accesses only" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 8, 7 },
		  "MMIO_EINVAL: a 8-byte access; the grant allows 1-, 2- and 4-byte accesses "
		  "only" },
		{ MMIO_EACCES,
		  { MMIO_REASON_OPS, PROTO_OP_READ, MMIO_OPS_BULK, MMIO_OPS_ONCE },
		  "MMIO_EACCES: the grant has no `bulk` op (mmio_read needs it)" },
		{ MMIO_EACCES,
		  { MMIO_REASON_ACCESS, PROTO_OP_WRITE_ONCE, 2, 1 },
		  "MMIO_EACCES: the grant gives no write access (mmio_write8/16/32/64 needs it)" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_ALIGN, PROTO_OP_READ_ONCE, 4, 0x41 },
		  "MMIO_EINVAL: offset 0x41 of the region is not a multiple of 4 (a 4-byte access "
		  "must be aligned)" },
		{ MMIO_EINVAL,
		  { MMIO_REASON_RANGE, PROTO_OP_READ, 0x104, 0x100 },
		  "MMIO_EINVAL: the access ends at offset 0x104 of the handle, past its 0x100 "
		  "bytes" },
		{ MMIO_EACCES,
		  { MMIO_REASON_REG_BITS, PROTO_OP_WRITE_ONCE, 0x50, 0x100 },
		  "MMIO_EACCES: the write would change bits 0x100 of the register at offset 0x50, "
		  "which the policy fixes" },
		/* No valid reason: the status's own sentence. */
		{ MMIO_EACCES, { 0, 0, 0, 0 }, "MMIO_EACCES: not allowed by the policy" },
		{ MMIO_EACCES,
		  { MMIO_REASON_WIDTH, PROTO_OP_READ_ONCE, 4, 2 },
		  "MMIO_EACCES: not allowed by the policy" },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		proto_reason_format(v[i].status, &v[i].why, buf, sizeof(buf));
		ck_assert_str_eq(buf, v[i].text);
	}
	/* Always terminated, never past len. */
	ck_assert_int_gt(proto_reason_format(v[0].status, &v[0].why, buf, 8), 8);
	ck_assert_str_eq(buf, "MMIO_EI");
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_add_loop_test(tc, test_request_golden_encode, 0, N_REQ);
	tcase_add_loop_test(tc, test_request_golden_decode, 0, N_REQ);
	tcase_add_loop_test(tc, test_request_golden_reencode, 0, N_REQ);
	tcase_add_loop_test(tc, test_request_golden_sizing, 0, N_REQ);
	tcase_add_loop_test(tc, test_reply_golden_encode, 0, N_REP);
	tcase_add_loop_test(tc, test_reply_golden_decode, 0, N_REP);
	tcase_add_loop_test(tc, test_reply_golden_reencode, 0, N_REP);
	tcase_add_loop_test(tc, test_reply_golden_sizing, 0, N_REP);
	tcase_add_checked_fixture(tc, NULL, last_decoded_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_loop_test(tc, test_request_truncations, 0, N_REQ);
	tcase_add_loop_test(tc, test_reply_truncations, 0, N_REP);
	tcase_add_loop_test(tc, test_request_trailing_garbage, 0, N_REQ);
	tcase_add_loop_test(tc, test_reply_trailing_garbage, 0, N_REP);
	tcase_add_test(tc, test_direction_mixup);
	tcase_add_test(tc, test_request_bad_magic);
	tcase_add_test(tc, test_reply_bad_magic);
	tcase_add_test(tc, test_request_bad_version);
	tcase_add_test(tc, test_reply_bad_version);
	tcase_add_test(tc, test_request_unknown_opcode);
	tcase_add_test(tc, test_irq_wire);
	tcase_add_test(tc, test_reply_unknown_opcode);
	tcase_add_test(tc, test_peek_opcode);
	tcase_add_checked_fixture(tc, NULL, last_decoded_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_loop_test(tc, test_bad_widths_rejected, 0, (int)ARRAY_SIZE(bad_widths));
	tcase_add_test(tc, test_good_widths_accepted);
	tcase_add_test(tc, test_value_not_fitting_width);
	tcase_add_test(tc, test_batch_counts);
	tcase_add_test(tc, test_batch_op_fields);
	tcase_add_test(tc, test_batch_reply_rules);
	tcase_add_test(tc, test_open_names);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_list_entries_rejected);
	tcase_add_test(tc, test_hello_versions);
	tcase_add_test(tc, test_write_length_checked);
	tcase_add_test(tc, test_rows_length_checked);
	tcase_add_test(tc, test_reply_header_rules);
	tcase_add_test(tc, test_stats_counts);
	tcase_add_test(tc, test_extreme_offsets);
	tcase_add_checked_fixture(tc, NULL, last_decoded_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_request_encode_invalid);
	tcase_add_test(tc, test_reply_encode_invalid);
	tcase_add_test(tc, test_read_reply_in_place);
	tcase_add_test(tc, test_error_reply_golden);
	tcase_add_loop_test(tc, test_error_reply_decodes, 0, N_REQ);
	tcase_add_test(tc, test_error_reply_invalid_status);
	tcase_add_checked_fixture(tc, NULL, last_decoded_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_accessors);
	tcase_add_test(tc, test_opcode_names);
	tcase_add_test(tc, test_version_choose);
	tcase_add_test(tc, test_status_names);
	tcase_add_test(tc, test_reason_golden);
	tcase_add_test(tc, test_reason_hostile);
	tcase_add_test(tc, test_reason_sentences);
	tcase_add_test(tc, test_reason_beyond_the_check);
	tcase_add_test(tc, test_reason_v1);
	tcase_add_test(tc, test_golden_v2_is_v1_but_the_version);
	tcase_add_checked_fixture(tc, NULL, last_decoded_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
