/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the server's whole request path in-process — decode,
 * authorize against a fixed policy, perform on sim regions with kernel-shim,
 * encode — exactly as mmio-server runs it (srv_request_step()), minus the
 * socket. One input is a conversation of one fresh client: a sequence of
 * messages, each a u16 little-endian length and that many bytes, so the
 * fuzzer can open handles and then use them.
 *
 * Besides the sanitizers, one oracle: every reply the server sends must be a
 * well-formed reply to the request's opcode (proto_reply_decode() accepts
 * it), whatever came in. And the client's handles and buffers go with it.
 */
#include "dispatch.h"
#include "log.h"
#include "server.h"

#include <mmio/config.h>
#include <mmio/proto.h>
#include <mmio/shim.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MESSAGES_MAX 64
#define UID	     1000

/*
 * Regions of every kind a grant can make: plain, pinned width, read-only
 * with map, sensitive, exclusive, a sub-range grant, register rules
 * (an array and a write mask) on a sub-range. Polls are capped at
 * 200 µs so that a poll costs the fuzzer little.
 */
static const char policy_text[] =
	"version: 1\n"
	"server:\n"
	"  listen: \"ipc:///nonexistent/fuzz.sock\"\n"
	"  max_message: 64KiB\n"
	"  limits:\n"
	"    max_poll_us: 200\n"
	"    max_handles: 16\n"
	"    max_buffers: 2\n"
	"regions:\n"
	"  - { name: a, sim: true, size: 16KiB }\n"
	"  - { name: pinned, sim: true, size: 8KiB }\n"
	"  - { name: ro, sim: true, size: 4KiB }\n"
	"  - { name: keys, sim: true, size: 256, sensitive: true }\n"
	"  - { name: excl, sim: true, size: 4KiB }\n"
	"  - { name: part, sim: true, size: 16KiB }\n"
	"  - { name: rules, sim: true, size: 4KiB }\n"
	"clients:\n"
	"  - name: fuzz\n"
	"    uid: 1000\n"
	"    grants:\n"
	"      - { region: a, access: rw, ops: [once, bulk, fill, poll, map] }\n"
	"      - { region: pinned, access: rw, ops: [once, bulk, fill, poll],"
	" widths: [4] }\n"
	"      - { region: ro, access: r, ops: [once, poll, map], widths: [2, 4, 8] }\n"
	"      - { region: keys, access: rw, ops: [once] }\n"
	"      - { region: excl, access: rw, ops: [once, bulk], exclusive: true }\n"
	"      - { region: part, offset: 0x1000, size: 0x2000, access: rw,"
	" ops: [once, bulk, fill, map] }\n"
	"      - { region: rules, offset: 0x100, size: 0x200, access: rw, ops: [once, poll],"
	" registers: [{ offset: 0x100, widths: [4], access: r },"
	" { offset: 0x108, widths: [2, 4], access: w, write_mask: 0xf0, write_fixed: 0x1 },"
	" { offset: 0x200, count: 16, stride: 8, access: rw }] }\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t next_pipe = 1;

static void setup(void)
{
	static bool done;
	cfg_policy *policy = NULL;
	char err[512];

	if (done)
		return;
	done = true;
	srv_log_set_level(SRV_LOG_ERROR); /* audit lines would drown the fuzzer */
	if (cfg_policy_load_buffer(policy_text, sizeof(policy_text) - 1, "fuzz.yaml",
				   cfg_report_to_stream, stderr, &policy) != MMIO_OK)
		abort();
	if (srv_generation_build(policy, NULL, &srv.gen, err, sizeof(err)) != MMIO_OK) {
		fprintf(stderr, "fuzz_dispatch: %s\n", err);
		abort();
	}
	srv.max_message = cfg_policy_server(policy)->max_message;
	srv_limits_apply(cfg_policy_server(policy));
	clock_gettime(CLOCK_MONOTONIC, &srv.started);
	if (shim_fault_recovery_install() != MMIO_OK)
		abort();
}

/* One request of @s, run to its reply as a context would; checks the reply. */
static void serve(struct srv_session *s, const uint8_t *data, size_t len)
{
	struct srv_request r;
	struct proto_reply rep;
	nng_msg *reply = NULL;

	memset(&r, 0, sizeof(r));
	if (nng_msg_alloc(&r.msg, len) != 0)
		return;
	if (len)
		memcpy(nng_msg_body(r.msg), data, len);
	atomic_fetch_add(&s->refs, 1);
	r.session = s;
	r.gen = srv_current();
	/* A waiting poll is re-run at once: the deadline, not a timer, ends it. */
	while (srv_request_step(&r, &reply) == SRV_WAIT)
		;
	if (reply) {
		int status = proto_reply_decode(nng_msg_body(reply), nng_msg_len(reply), &rep);
		unsigned asked = proto_peek_opcode(data, len);

		/* A request of no known opcode is answered with its opcode echoed,
		 * which a client decodes as an unknown opcode: that is the only
		 * reply allowed not to decode. */
		if (status == PROTO_EUNKNOWN_OP && !proto_opcode_known(asked) &&
		    rep.opcode == asked &&
		    (rep.status == MMIO_EPROTO || rep.status == MMIO_EVERSION))
			status = MMIO_OK;
		if (status != MMIO_OK || (r.decoded && rep.opcode != r.rq.opcode)) {
			fprintf(stderr,
				"fuzz_dispatch: the server sent a malformed %s reply (%s)\n",
				proto_opcode_name(r.rq.opcode), mmio_status_name(status));
			abort();
		}
		nng_msg_free(reply);
	}
	srv_request_release(&r);
	if (r.reply_msg)
		nng_msg_free(r.reply_msg);
	nng_msg_free(r.msg);
	srv_session_put(r.session);
	srv_generation_unref(r.gen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t pipe_id;
	struct srv_session *s;
	size_t pos = 0;

	setup();
	pipe_id = next_pipe++;
	s = srv_session_create_for(pipe_id, UID, UID, getpid());
	if (!s)
		abort();
	for (int i = 0; i < MESSAGES_MAX && pos + 2 <= size; i++) {
		size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		serve(s, data + pos, len);
		pos += len;
	}
	/* The client goes: everything it held must go with it. */
	srv_session_remove(pipe_id);
	if (srv_handle_count() != 0 || srv_buffer_count() != 0 || srv_mapping_count() != 0) {
		fprintf(stderr, "fuzz_dispatch: a client left %zu handles, %zu buffers behind\n",
			srv_handle_count(), srv_buffer_count());
		abort();
	}
	return 0;
}
