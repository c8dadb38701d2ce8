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
	uint8_t *row;  /* READ_ROWS, WRITE_ROWS: the packed bytes of the row being copied */
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

/* How an operation is checked before its handler runs. */
enum srv_check {
	SRV_CHECK_HANDLER, /* no handle: the handler decides; its refusals are denials */
	SRV_CHECK_HANDLE,  /* the rights on the request's handle (srv_check_and_audit()) */
	SRV_CHECK_ITEMS,   /* BATCH: each item, as the operation it is */
};

/* The width an operation on a handle accesses at. */
enum srv_width {
	SRV_WIDTH_NONE,	 /* copies, fills, MAP: none of its own */
	SRV_WIDTH_GIVEN, /* once-ops and polls: the request's, checked against the grant */
};

/*
 * A row of the dispatch table (dispatch.c), indexed by opcode: the
 * operation's handler, the rights it needs and where its target lies in
 * the decoded request (offsets in struct proto_request: a uint32_t handle, a uint64_t
 * offset, and a size, the unsigned width (SRV_WIDTH_GIVEN) or a 64-bit
 * length; SRV_NO_FIELD where it has none).
 */
struct srv_op {
	srv_op_fn run;
	enum srv_check check;
	unsigned ops_bit, access_bit; /* MMIO_OPS_*, MMIO_ACCESS_* it needs */
	enum srv_width width;
	bool unlocked; /* a copy or fill: runs without s->lock, the handle referenced */
	size_t handle_at, offset_at, size_at;
	size_t value_at; /* a uint64_t value written (WRITE_ONCE), for register rules */
};
#define SRV_NO_FIELD ((size_t)-1)

/* What an operation on one handle acts on. */
struct srv_target {
	uint32_t handle;
	uint64_t offset, len;
	unsigned width; /* SRV_WIDTH_GIVEN; else 0 */
	uint64_t value; /* the value a once-write writes; else 0 */
};

/* The row of @opcode (a valid one: the decoder has checked it). */
const struct srv_op *srv_op_row(unsigned opcode);

/*
 * The one check before every operation on a handle, alone or a BATCH
 * item, whichever transport carried it: lock @s, check the handle's
 * rights for @op (srv_handle_enter(), or srv_handle_check() for an
 * unlocked op), its grant's register rules included, then the range and
 * alignment of once-ops, polls and copies; on a refusal unlock, count it
 * and write its one audit line (naming the region, the region-relative
 * offset and the op), and *@why (may be NULL) says why (<mmio/rights.h>;
 * code 0: no reason known). On MMIO_OK *@h is the handle, and
 * either @s stays locked with an access section entered (*@epoch), or (op->unlocked) @h is
 * referenced,
 * *@epoch is the policy epoch checked at, and @s is unlocked. End with
 * srv_check_end().
 */
int srv_check_and_audit(struct srv_session *s, const struct srv_op *op, const struct srv_target *t,
			struct srv_handle **h, unsigned *epoch, struct mmio_reason *why);
/*
 * The operation checked by srv_check_and_audit() has ended with @status
 * (SRV_WAIT_STATUS: a poll waits): a denial is counted and audited, any
 * other end on a sensitive region audited; then what the check took is
 * given back.
 */
void srv_check_end(struct srv_session *s, const struct srv_op *op, const struct srv_target *t,
		   struct srv_handle *h, unsigned epoch, int status);
#define SRV_WAIT_STATUS 1

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
enum srv_outcome srv_op_read_rows(struct srv_request *r);
enum srv_outcome srv_op_write_rows(struct srv_request *r);
/* irq.c */
enum srv_outcome srv_op_irq(struct srv_request *r);

/* Free the handler-owned memory of a finished request (not msg or references). */
void srv_request_release(struct srv_request *r);
/* Drop everything @r holds: that memory, its messages and its references. */
void srv_request_finish(struct srv_request *r);

uint64_t srv_now_ns(void);

#endif
