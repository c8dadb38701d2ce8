/* SPDX-License-Identifier: MIT */
/* Private to dispatch.c and ops.c: one request in flight and the operation table. */
#ifndef MMIO_SERVER_DISPATCH_H
#define MMIO_SERVER_DISPATCH_H

#include "server.h"

/* What a handler tells the dispatcher. */
enum srv_outcome {
	SRV_REPLY, /* r->rep (and r->reply_msg, if the handler built it) is ready to send */
	SRV_WAIT,  /* come back in r->wait_ms (a POLL, alone or in a BATCH, is waiting) */
};

struct srv_request {
	struct srv_session *session; /* reference held */
	/* The checked target handle, or NULL: the session locked for short
	 * operations; referenced, unlocked, for copies and fills (dispatch.c). */
	struct srv_handle *handle;
	unsigned checked_epoch;	    /* the policy epoch @handle's rights were checked at */
	struct srv_generation *gen; /* reference held; the policy this request runs under */
	nng_msg *msg;		    /* the request; decoded payloads point into it */
	struct proto_request rq;
	struct proto_reply rep;
	nng_msg *reply_msg; /* set by handlers that encode in place (READ) */
	/* Waiting state of POLL and of a BATCH blocked on one of its polls. */
	uint64_t deadline_ns;
	uint64_t poll_start_ns; /* when the waiting poll started */
	unsigned wait_ms;
	uint64_t last_value;
	size_t batch_next;
	uint64_t *batch_values;
	void *scratch; /* handler-owned memory freed with the request (LIST entries) */
	uint8_t *span; /* READ_SPAN, WRITE_SPAN: the span, its buffer held by the copy */
	bool decoded;  /* rq holds the decoded request */
};

/*
 * Take request @r (msg, session and gen set, the rest zero) one step: decode
 * it the first time, check it and run its handler. SRV_WAIT: a poll is
 * waiting; call again after r->wait_ms. SRV_REPLY: *@reply is the reply to
 * send (NULL: none can be built; drop it). Free @r's resources afterwards
 * as the caller's transport does. Independent of nng sockets: the contexts
 * (dispatch.c) and the in-process fuzz target both drive it.
 */
enum srv_outcome srv_request_step(struct srv_request *r, nng_msg **reply);

typedef enum srv_outcome (*srv_op_fn)(struct srv_request *r);

/* ops.c: one handler per opcode. */
enum srv_outcome srv_op_hello(struct srv_request *r);
enum srv_outcome srv_op_list(struct srv_request *r);
enum srv_outcome srv_op_open(struct srv_request *r);
enum srv_outcome srv_op_close(struct srv_request *r);
enum srv_outcome srv_op_read_once(struct srv_request *r);
enum srv_outcome srv_op_write_once(struct srv_request *r);
enum srv_outcome srv_op_read(struct srv_request *r);
enum srv_outcome srv_op_write(struct srv_request *r);
enum srv_outcome srv_op_fill(struct srv_request *r);
enum srv_outcome srv_op_batch(struct srv_request *r);
enum srv_outcome srv_op_poll(struct srv_request *r);
enum srv_outcome srv_op_map(struct srv_request *r);
enum srv_outcome srv_op_unmap(struct srv_request *r);
enum srv_outcome srv_op_stats(struct srv_request *r);
enum srv_outcome srv_op_buf_attach(struct srv_request *r);
enum srv_outcome srv_op_buf_detach(struct srv_request *r);
enum srv_outcome srv_op_read_span(struct srv_request *r);
enum srv_outcome srv_op_write_span(struct srv_request *r);
enum srv_outcome srv_op_mailbox(struct srv_request *r);

/* Free the handler-owned memory of a finished request (not msg or references). */
void srv_request_release(struct srv_request *r);
/* Drop everything @r holds: that memory, its messages and its references. */
void srv_request_finish(struct srv_request *r);

uint64_t srv_now_ns(void);

#endif
