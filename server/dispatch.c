/* SPDX-License-Identifier: MIT */
/*
 * Request dispatch: a pool of nng rep0 contexts, each a small state machine
 * (receive → check → handle → send), and the table that maps each opcode to
 * its handler and to the rights it needs. Contexts run on nng's worker
 * threads, so one slow request (a POLL waiting on a register) never stalls
 * the others: a waiting context sleeps on an nng timer, not on a thread.
 */
#include "dispatch.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* What an operation on one handle needs, read from the decoded request. */
struct srv_target {
	uint32_t handle;
	unsigned ops_bit;    /* CFG_OPS_* */
	unsigned access_bit; /* CFG_ACCESS_* */
	unsigned width;	     /* once-ops and polls; 0 for bulk */
	uint64_t offset, len;
};

typedef void (*srv_target_fn)(const struct proto_request *rq, struct srv_target *t);

static void target_read_once(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->read_once.handle, CFG_OPS_ONCE,	      CFG_ACCESS_READ,
				  rq->read_once.width,	rq->read_once.offset, rq->read_once.width };
}

static void target_write_once(const struct proto_request *rq, struct srv_target *t)
{
	*t =
		(struct srv_target){ rq->write_once.handle, CFG_OPS_ONCE,
				     CFG_ACCESS_WRITE,	    rq->write_once.width,
				     rq->write_once.offset, rq->write_once.width };
}

static void target_read(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->read.handle, CFG_OPS_BULK, CFG_ACCESS_READ, 0,
				  rq->read.offset, rq->read.len };
}

static void target_write(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->write.handle, CFG_OPS_BULK, CFG_ACCESS_WRITE, 0,
				  rq->write.offset, rq->write.len };
}

static void target_read_span(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->span.handle, CFG_OPS_BULK, CFG_ACCESS_READ, 0,
				  rq->span.offset, rq->span.len };
}

static void target_write_span(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->span.handle, CFG_OPS_BULK, CFG_ACCESS_WRITE, 0,
				  rq->span.offset, rq->span.len };
}

static void target_fill(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->fill.handle, CFG_OPS_FILL, CFG_ACCESS_WRITE, 0,
				  rq->fill.offset, rq->fill.len };
}

static void target_poll(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->poll.handle, CFG_OPS_POLL,    CFG_ACCESS_READ,
				  rq->poll.width,  rq->poll.offset, rq->poll.width };
}

static void target_map(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->map.handle, CFG_OPS_MAP, CFG_ACCESS_READ, 0, 0, 0 };
}

static void target_unmap(const struct proto_request *rq, struct srv_target *t)
{
	*t = (struct srv_target){ rq->unmap.handle, CFG_OPS_MAP, CFG_ACCESS_READ, 0, 0, 0 };
}

/*
 * The dispatch table (MINIX-style: the rights check runs before the handler).
 * Copies and fills (long: a FILL or a span can be gigabytes) run without
 * the session's lock, holding a reference to the handle, and re-check it at
 * every chunk (ops.c); the others are short and run under it.
 */
static const struct srv_op {
	srv_op_fn run;
	srv_target_fn target; /* NULL: not an operation on one handle */
	bool unlocked;	      /* a copy or fill: runs without s->lock */
} ops[PROTO_OP_MAX + 1] = {
	[PROTO_OP_HELLO] = { srv_op_hello, NULL, false },
	[PROTO_OP_LIST] = { srv_op_list, NULL, false },
	[PROTO_OP_OPEN] = { srv_op_open, NULL, false },
	[PROTO_OP_CLOSE] = { srv_op_close, NULL, false },
	[PROTO_OP_READ_ONCE] = { srv_op_read_once, target_read_once, false },
	[PROTO_OP_WRITE_ONCE] = { srv_op_write_once, target_write_once, false },
	[PROTO_OP_READ] = { srv_op_read, target_read, true },
	[PROTO_OP_WRITE] = { srv_op_write, target_write, true },
	[PROTO_OP_FILL] = { srv_op_fill, target_fill, true },
	[PROTO_OP_BATCH] = { srv_op_batch, NULL, false },
	[PROTO_OP_POLL] = { srv_op_poll, target_poll, false },
	[PROTO_OP_MAP] = { srv_op_map, target_map, false },
	[PROTO_OP_UNMAP] = { srv_op_unmap, target_unmap, false },
	[PROTO_OP_STATS] = { srv_op_stats, NULL, false },
	[PROTO_OP_BUF_ATTACH] = { srv_op_buf_attach, NULL, false },
	[PROTO_OP_BUF_DETACH] = { srv_op_buf_detach, NULL, false },
	[PROTO_OP_READ_SPAN] = { srv_op_read_span, target_read_span, true },
	[PROTO_OP_WRITE_SPAN] = { srv_op_write_span, target_write_span, true },
	[PROTO_OP_MAILBOX] = { srv_op_mailbox, NULL, false },
};
_Static_assert(PROTO_OP_MAX == PROTO_OP_MAILBOX, "every opcode has its dispatch entry");

enum ctx_state { CTX_RECV, CTX_SEND, CTX_WAIT };

struct srv_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	struct srv_request r;
	/* The session this context works for, from its request until its reply
	 * is sent: counted in the session's in-flight requests, or (busy) in its
	 * unsent MMIO_EBUSY answers. */
	struct srv_session *owner;
	bool busy;
};

/* MMIO_EBUSY answers to requests over limits.max_requests that one client
 * may have unsent at once; past that the excess is dropped unanswered. */
#define BUSY_REPLIES_MAX 4

/*
 * A reply that cannot be sent within this time is dropped: a client that
 * stops reading must not keep a context (nng sends have no timeout of their
 * own, and a full pipe blocks every reply queued behind it).
 */
#define SEND_TIMEOUT_MS 2000

static struct srv_ctx *contexts;
static unsigned ncontexts;

/* The context is free again: its session has one request fewer in flight. */
static void ctx_release_owner(struct srv_ctx *c)
{
	if (c->owner) {
		atomic_fetch_sub(c->busy ? &c->owner->busy_replies : &c->owner->inflight, 1);
		srv_session_put(c->owner);
		c->owner = NULL;
		c->busy = false;
	}
}

static void ctx_recv(struct srv_ctx *c)
{
	ctx_release_owner(c);
	c->state = CTX_RECV;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

static void ctx_send(struct srv_ctx *c, nng_msg *reply)
{
	c->state = CTX_SEND;
	nng_aio_set_msg(c->aio, reply);
	nng_aio_set_timeout(c->aio, SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

void srv_request_finish(struct srv_request *r)
{
	srv_request_release(r);
	if (r->reply_msg)
		nng_msg_free(r->reply_msg);
	nng_msg_free(r->msg);
	srv_session_put(r->session);
	srv_generation_unref(r->gen);
	memset(r, 0, sizeof(*r));
}

/* ---- the core: a request to its reply, whatever carries them ---- */

/* The reply to a request that cannot be decoded (or is refused whole). */
static nng_msg *refusal_build(struct srv_request *r, int status)
{
	uint8_t buf[PROTO_REPLY_HEADER_SIZE + 16];
	size_t len = 0;
	nng_msg *reply;

	atomic_fetch_add(&srv.stats.requests, 1);
	if (status == MMIO_EPROTO || status == MMIO_EVERSION)
		atomic_fetch_add(&srv.stats.proto_errors, 1);
	if (proto_error_reply_encode(nng_msg_body(r->msg), nng_msg_len(r->msg), status, buf,
				     sizeof(buf), &len) != MMIO_OK ||
	    nng_msg_alloc(&reply, len) != 0)
		return NULL;
	memcpy(nng_msg_body(reply), buf, len);
	return reply;
}

/* r->rep encoded (into r->reply_msg if a handler prepared it); NULL to drop. */
static nng_msg *reply_build(struct srv_request *r)
{
	nng_msg *reply = r->reply_msg;
	size_t need = 0;
	int status;

	atomic_fetch_add(&srv.stats.requests, 1);
	if (r->rep.status == MMIO_EPROTO || r->rep.status == MMIO_EVERSION)
		atomic_fetch_add(&srv.stats.proto_errors, 1);
	if (!reply) {
		proto_reply_encode(&r->rep, NULL, 0, &need);
		if (nng_msg_alloc(&reply, need) != 0) {
			srv_error("out of memory for a %zu-byte reply; dropping it", need);
			return NULL;
		}
	}
	r->reply_msg = NULL;
	status = proto_reply_encode(&r->rep, nng_msg_body(reply), nng_msg_len(reply), &need);
	if (status != MMIO_OK) {
		/* A handler built an impossible reply: a bug, but never the client's crash. */
		srv_error("cannot encode the %s reply (%s); answering MMIO_EINTERNAL",
			  proto_opcode_name(r->rep.opcode), mmio_status_name(status));
		nng_msg_free(reply);
		return refusal_build(r, MMIO_EINTERNAL);
	}
	nng_msg_chop(reply, nng_msg_len(reply) - need);
	return reply;
}

/* Run (or resume) the handler, with the rights check first for handle ops. */
static enum srv_outcome request_run(struct srv_request *r)
{
	const struct srv_op *op = &ops[r->rq.opcode];
	struct srv_session *s = r->session;
	struct srv_target t;
	enum srv_outcome outcome;
	unsigned epoch = 0;

	if (!op->target) {
		outcome = op->run(r);
	} else {
		op->target(&r->rq, &t);
		pthread_mutex_lock(&s->lock);
		if (op->unlocked)
			r->rep.status = srv_handle_check(s, t.handle, t.ops_bit, t.access_bit,
							 t.width, &r->handle);
		else
			r->rep.status = srv_handle_enter(s, t.handle, t.ops_bit, t.access_bit,
							 t.width, &r->handle, &epoch);
		if (r->rep.status != MMIO_OK) {
			pthread_mutex_unlock(&s->lock);
			if (r->rep.status == MMIO_EACCES || r->rep.status == MMIO_EREVOKED) {
				atomic_fetch_add(&srv.stats.denials, 1);
				srv_audit(s, "(handle)", proto_opcode_name(r->rq.opcode), t.offset,
					  t.len, r->rep.status);
			}
			return SRV_REPLY;
		}
		if (op->unlocked) {
			srv_handle_ref(r->handle);
			r->checked_epoch = atomic_load(&r->handle->epoch);
			pthread_mutex_unlock(&s->lock);
			outcome = op->run(r);
		} else {
			outcome = op->run(r);
			srv_access_exit(epoch);
		}
		if (r->handle->sensitive && outcome == SRV_REPLY)
			srv_audit(s, r->handle->region, proto_opcode_name(r->rq.opcode), t.offset,
				  t.len, r->rep.status);
		if (op->unlocked)
			srv_handle_put(r->handle);
		else
			pthread_mutex_unlock(&s->lock);
		r->handle = NULL;
	}
	if (outcome == SRV_REPLY &&
	    (r->rep.status == MMIO_EACCES || r->rep.status == MMIO_ENOENT)) {
		atomic_fetch_add(&srv.stats.denials, 1);
		if (!op->target)
			srv_audit(s, r->rq.opcode == PROTO_OP_OPEN ? r->rq.open.name : "-",
				  proto_opcode_name(r->rq.opcode),
				  r->rq.opcode == PROTO_OP_OPEN ? r->rq.open.offset : 0,
				  r->rq.opcode == PROTO_OP_OPEN ? r->rq.open.length : 0,
				  r->rep.status);
	}
	return outcome;
}

enum srv_outcome srv_request_step(struct srv_request *r, nng_msg **reply)
{
	*reply = NULL;
	if (!r->decoded) {
		int status =
			proto_request_decode(nng_msg_body(r->msg), nng_msg_len(r->msg), &r->rq);

		if (status != MMIO_OK) {
			srv_debug("uid %u pid %d: refused a malformed %s request (%zu bytes): %s",
				  (unsigned)r->session->peer.uid, (int)r->session->pid,
				  proto_opcode_name(r->rq.opcode), nng_msg_len(r->msg),
				  status == PROTO_EUNKNOWN_OP ? "unknown operation"
							      : mmio_status_name(status));
			*reply = refusal_build(r,
					       status == PROTO_EUNKNOWN_OP ? MMIO_EPROTO : status);
			return SRV_REPLY;
		}
		r->decoded = true;
		r->rep.opcode = r->rq.opcode;
	}
	if (request_run(r) == SRV_WAIT)
		return SRV_WAIT;
	*reply = reply_build(r);
	return SRV_REPLY;
}

/* ---- contexts: the core on nng ---- */

/* Step the context's request: wait, or send its reply (or drop it). */
static void ctx_step(struct srv_ctx *c)
{
	nng_msg *reply;

	if (srv_request_step(&c->r, &reply) == SRV_WAIT) {
		c->state = CTX_WAIT;
		nng_sleep_aio((nng_duration)c->r.wait_ms, c->aio);
		return;
	}
	srv_request_finish(&c->r);
	if (reply)
		ctx_send(c, reply);
	else
		ctx_recv(c);
}

static void request_start(struct srv_ctx *c, nng_msg *msg)
{
	struct srv_request *r = &c->r;

	memset(r, 0, sizeof(*r));
	r->msg = msg;
	r->session = srv_session_get((uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)));
	if (!r->session) {
		/* The client is already gone (or was refused): nobody to answer. */
		nng_msg_free(msg);
		r->msg = NULL;
		ctx_recv(c);
		return;
	}
	/*
	 * A client may have srv.max_requests requests in the server at once
	 * (libmmio never has more); more would let one client hold every
	 * context. The excess is answered MMIO_EBUSY, a few at a time: a client
	 * that floods and never reads would otherwise hold contexts with
	 * replies that cannot be sent. Past that it is dropped unanswered.
	 */
	if (atomic_fetch_add(&r->session->inflight, 1) >= (int)srv.max_requests) {
		struct srv_session *s = r->session;
		nng_msg *reply = NULL;

		atomic_fetch_sub(&s->inflight, 1);
		if (atomic_fetch_add(&s->dropped, 1) == 0)
			srv_warn("uid %u pid %d: more than %d requests in flight; answering the "
				 "excess MMIO_EBUSY",
				 (unsigned)s->peer.uid, (int)s->pid, (int)srv.max_requests);
		if (atomic_fetch_add(&s->busy_replies, 1) < BUSY_REPLIES_MAX)
			reply = refusal_build(r, MMIO_EBUSY);
		if (!reply) {
			atomic_fetch_sub(&s->busy_replies, 1);
			srv_session_put(s);
			nng_msg_free(msg);
			memset(r, 0, sizeof(*r));
			ctx_recv(c);
			return;
		}
		/* Held as a busy answer until it is sent (ctx_release_owner()). */
		c->owner = s;
		c->busy = true;
		nng_msg_free(msg);
		memset(r, 0, sizeof(*r));
		ctx_send(c, reply);
		return;
	}
	c->owner = r->session;
	atomic_fetch_add(&c->owner->refs, 1);
	r->gen = srv_current();
	ctx_step(c);
}

/* Free a reply that @aio still holds (nng did not take it: a failed send, or
 * one refused because the aio was stopped), and clear the aio so that it is
 * freed once only. */
static void ctx_drop_reply(nng_aio *aio)
{
	nng_msg *m = nng_aio_get_msg(aio);

	if (m) {
		nng_aio_set_msg(aio, NULL);
		nng_msg_free(m);
	}
}

static void ctx_callback(void *arg)
{
	struct srv_ctx *c = arg;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CTX_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		if (rv != 0) {
			ctx_recv(c);
			return;
		}
		request_start(c, nng_aio_get_msg(c->aio));
		return;
	case CTX_SEND:
		if (rv != 0)
			ctx_drop_reply(c->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		ctx_recv(c);
		return;
	case CTX_WAIT:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			srv_request_finish(&c->r);
			return;
		}
		pthread_mutex_lock(&c->r.session->lock);
		bool gone = c->r.session->closed;
		pthread_mutex_unlock(&c->r.session->lock);
		if (gone) {
			/* The client left mid-POLL: nothing to answer, nothing held. */
			srv_request_finish(&c->r);
			ctx_recv(c);
			return;
		}
		ctx_step(c);
		return;
	}
}

int srv_dispatch_start(nng_socket sock, unsigned count)
{
	contexts = calloc(count, sizeof(*contexts));
	if (!contexts)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		struct srv_ctx *c = &contexts[i];
		if (nng_aio_alloc(&c->aio, ctx_callback, c) != 0 ||
		    nng_ctx_open(&c->ctx, sock) != 0)
			return -1;
		ncontexts = i + 1;
	}
	for (unsigned i = 0; i < count; i++)
		ctx_recv(&contexts[i]);
	return 0;
}

void srv_dispatch_quiesce(void)
{
	for (unsigned i = 0; i < ncontexts; i++)
		nng_aio_stop(contexts[i].aio);
}

/* Call after nng_close() of the socket: no callback runs any more after this. */
void srv_dispatch_stop(void)
{
	for (unsigned i = 0; i < ncontexts; i++) {
		nng_aio_stop(contexts[i].aio);
		if (contexts[i].state == CTX_WAIT && contexts[i].r.msg)
			srv_request_finish(&contexts[i].r);
		/* A reply sent after the stop began: nng refuses a stopped aio
		 * without a callback, and the message is still on it. */
		if (contexts[i].state == CTX_SEND)
			ctx_drop_reply(contexts[i].aio);
		ctx_release_owner(&contexts[i]);
		nng_aio_free(contexts[i].aio);
	}
	free(contexts);
	contexts = NULL;
	ncontexts = 0;
}
