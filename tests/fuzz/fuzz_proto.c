/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for proto/: arbitrary bytes decoded as a request and as a
 * reply. Whatever decodes must re-encode to exactly the same bytes (the
 * codec accepts one encoding per message), must size itself correctly, and
 * every payload accessor must work on it. Every input must also get an error
 * reply that itself decodes. Any violation aborts.
 */
#include <mmio/proto.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_proto: %s\n", what);
	abort();
}

/* Re-encode into an exact-size buffer and compare with the input. */
static void request_roundtrip(const struct proto_request *req, const uint8_t *data, size_t size)
{
	uint8_t *buf;
	size_t len = 0;

	if (proto_request_encode(req, NULL, 0, &len) != MMIO_ENOMEM || len != size)
		fail("request: sizing differs from the decoded size");
	buf = malloc(size);
	if (!buf)
		abort();
	if (proto_request_encode(req, buf, size, &len) != MMIO_OK || len != size)
		fail("request: re-encoding failed");
	if (memcmp(buf, data, size) != 0)
		fail("request: re-encoding differs from the input");
	free(buf);
}

static void request_inspect(const struct proto_request *req)
{
	struct proto_batch_op op;

	switch (req->opcode) {
	case PROTO_OP_BATCH:
		if (req->batch.count > PROTO_BATCH_MAX)
			fail("request: batch count above its bound");
		for (uint32_t i = 0; i < req->batch.count; i++) {
			if (proto_batch_op_get(&req->batch, i, &op) != MMIO_OK)
				fail("request: batch op not readable");
			if (!mmio_width_valid(op.width))
				fail("request: batch op with a bad width");
		}
		if (proto_batch_op_get(&req->batch, req->batch.count, &op) != MMIO_EINVAL)
			fail("request: batch op past the count readable");
		break;
	case PROTO_OP_OPEN:
		if (!proto_name_valid(req->open.name, strlen(req->open.name)))
			fail("request: invalid name accepted");
		break;
	case PROTO_OP_READ_ONCE:
		if (!mmio_width_valid(req->read_once.width))
			fail("request: bad width accepted");
		break;
	case PROTO_OP_WRITE_ONCE:
		if (!proto_value_fits(req->write_once.width, req->write_once.value))
			fail("request: value not fitting its width accepted");
		break;
	default:
		break;
	}
}

static void reply_roundtrip(const struct proto_reply *rep, const uint8_t *data, size_t size)
{
	uint8_t *buf;
	size_t len = 0;

	if (proto_reply_encode(rep, NULL, 0, &len) != MMIO_ENOMEM || len != size)
		fail("reply: sizing differs from the decoded size");
	buf = malloc(size);
	if (!buf)
		abort();
	if (proto_reply_encode(rep, buf, size, &len) != MMIO_OK || len != size)
		fail("reply: re-encoding failed");
	if (memcmp(buf, data, size) != 0)
		fail("reply: re-encoding differs from the input");
	free(buf);
}

static void reply_inspect(const struct proto_reply *rep)
{
	struct proto_list_iter it;
	struct proto_list_entry e;
	uint64_t v;
	uint32_t n = 0;
	char why[256];

	if (rep->status > 0)
		fail("reply: positive status accepted");
	/* A reason decoded is one its status may carry, and has a sentence. */
	if (rep->reason.code != 0 && !proto_reason_valid(&rep->reason, rep->status))
		fail("reply: invalid reason accepted");
	/* A sentence, ended inside the buffer (not a stack byte that happens
	 * to be 0: the buffer starts full of another byte). */
	memset(why, 0x55, sizeof(why));
	if (proto_reason_format(rep->status, &rep->reason, why, sizeof(why)) <= 0 ||
	    memchr(why, '\0', sizeof(why)) == NULL)
		fail("reply: reason sentence");
	switch (rep->opcode) {
	case PROTO_OP_LIST:
		proto_list_iter_init(&it, &rep->list);
		while (proto_list_iter_next(&it, &e)) {
			if (!proto_name_valid(e.name, strlen(e.name)))
				fail("reply: invalid list name accepted");
			n++;
		}
		if (n != rep->list.count)
			fail("reply: list entries differ from the count");
		break;
	case PROTO_OP_BATCH:
		for (uint64_t i = 0; i < rep->done; i++)
			if (proto_batch_value_get(rep, (size_t)i, &v) != MMIO_OK)
				fail("reply: batch value not readable");
		break;
	case PROTO_OP_STATS:
		for (unsigned i = 0; i <= rep->stats.count; i++)
			(void)proto_stats_counter(&rep->stats, i);
		break;
	default:
		break;
	}
}

/* Every input, however broken, gets an error reply that decodes. */
static void error_reply_check(const uint8_t *data, size_t size, int status)
{
	uint8_t buf[64];
	size_t len = 0;
	struct proto_reply rep;
	unsigned opcode = proto_peek_opcode(data, size);
	int rc;

	if (proto_error_reply_encode(data, size, status, buf, sizeof(buf), &len) != MMIO_OK)
		fail("error reply: not encodable");
	rc = proto_reply_decode(buf, len, &rep);
	if (rc != (proto_opcode_known(opcode) ? MMIO_OK : PROTO_EUNKNOWN_OP))
		fail("error reply: does not decode");
	if (rep.opcode != opcode || rep.done != 0)
		fail("error reply: wrong opcode or done");
	if (rep.status != (status == PROTO_EUNKNOWN_OP ? MMIO_EPROTO : status))
		fail("error reply: wrong status");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req;
	struct proto_reply rep;
	int rc;

	rc = proto_request_decode(data, size, &req);
	if (rc == MMIO_OK) {
		request_inspect(&req);
		request_roundtrip(&req, data, size);
		error_reply_check(data, size, MMIO_EINTERNAL);
	} else if (rc == MMIO_EPROTO || rc == MMIO_EVERSION || rc == PROTO_EUNKNOWN_OP) {
		if (req.opcode != proto_peek_opcode(data, size))
			fail("request: reported opcode differs from the peeked one");
		error_reply_check(data, size, rc);
	} else {
		fail("request: unexpected decode result");
	}

	rc = proto_reply_decode(data, size, &rep);
	if (rc == MMIO_OK) {
		reply_inspect(&rep);
		reply_roundtrip(&rep, data, size);
	} else if (rc != MMIO_EPROTO && rc != MMIO_EVERSION && rc != PROTO_EUNKNOWN_OP) {
		fail("reply: unexpected decode result");
	}
	return 0;
}
