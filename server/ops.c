/* SPDX-License-Identifier: MIT */
/*
 * The operation handlers. The dispatcher (dispatch.c) has decoded the request
 * and, for operations on a handle, checked it against the grant and locked
 * the session; a handler performs the access with kernel-shim and fills
 * r->rep.
 */
#include "dispatch.h"
#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A POLL that is not satisfied at once spins this long before sleeping. */
#define POLL_SPIN_NS 50000u
/*
 * Then it re-reads after a sleep of a quarter of the time it has waited so
 * far (at least 1 ms, at most POLL_SLEEP_MAX_MS): a change is seen within
 * 25 % of the wait or that bound, and a long wait costs a few wake-ups a
 * second, not a thousand (each wake-up of a context is a trip through
 * nng's timer and task threads).
 */
#define POLL_SLEEP_MAX_MS 4u

uint64_t srv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum srv_outcome reply_status(struct srv_request *r, int status)
{
	r->rep.status = status;
	return SRV_REPLY;
}

static void count_fault(int status)
{
	if (status == MMIO_EFAULT)
		atomic_fetch_add(&srv.stats.faults, 1);
}

/* The end of every copy and fill: its fault, its bytes, its exact count. */
static enum srv_outcome copy_reply(struct srv_request *r, int status, size_t done,
				   atomic_ulong *bytes)
{
	count_fault(status);
	atomic_fetch_add(bytes, done);
	r->rep.done = done;
	return reply_status(r, status);
}

enum srv_outcome srv_op_hello(struct srv_request *r)
{
	unsigned version;
	int status =
		proto_version_choose(r->rq.hello.min_version, r->rq.hello.max_version, &version);

	if (status != MMIO_OK)
		return reply_status(r, status);
	r->rep.hello.version = version;
	r->rep.hello.flags = srv_grants_available() ? PROTO_HELLO_DIRECT : 0;
	r->rep.hello.max_message = (uint32_t)srv.max_message;
	r->rep.hello.max_batch = PROTO_BATCH_MAX;
	r->rep.hello.max_handles = srv.max_handles;
	return reply_status(r, MMIO_OK);
}

enum srv_outcome srv_op_list(struct srv_request *r)
{
	const cfg_policy *p = r->gen->policy;
	const struct cfg_peer *peer = &r->session->peer;
	struct proto_list_entry *entries = NULL;
	size_t n = 0, cap = 0;

	for (const struct cfg_grant *g = cfg_policy_next_grant(p, peer, CFG_ANY_REGION, NULL);
	     g && n < PROTO_LIST_MAX; g = cfg_policy_next_grant(p, peer, CFG_ANY_REGION, g)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct proto_list_entry *grown = realloc(entries, cap * sizeof(*grown));
			if (!grown) {
				free(entries);
				return reply_status(r, MMIO_ENOMEM);
			}
			entries = grown;
		}
		struct proto_list_entry *e = &entries[n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", g->region->name);
		size_t region = 0;
		cfg_policy_region_find(p, g->region->name, &region);
		e->size = srv_grant_end(g, r->gen->devices[region]) - g->offset;
		e->access = g->access;
		e->ops = g->ops;
		e->widths = g->widths;
		e->cache = (unsigned)g->region->cache;
		e->flags = (g->region->sensitive ? MMIO_REGION_SENSITIVE : 0) |
			   (g->exclusive ? MMIO_REGION_EXCLUSIVE : 0);
		srv_device_place(r->gen->devices[region], g->offset, &e->phys, e->where);
	}
	r->rep.list.count = (uint32_t)n;
	r->rep.list.entries = entries;
	r->scratch = entries;
	return reply_status(r, MMIO_OK);
}

enum srv_outcome srv_op_open(struct srv_request *r)
{
	int status = srv_handle_open(r->session, r->gen, &r->rq.open, &r->rep.open, &r->rep.reason);

	/* A reload raced us: open again under the policy now in force. */
	for (int tries = 0; status == SRV_STALE && tries < 3; tries++) {
		srv_generation_unref(r->gen);
		r->gen = srv_current();
		status = srv_handle_open(r->session, r->gen, &r->rq.open, &r->rep.open,
					 &r->rep.reason);
	}
	if (status == SRV_STALE)
		status = mmio_reason_set(&r->rep.reason, MMIO_EBUSY, MMIO_REASON_BUSY,
					 MMIO_BUSY_RELOAD, 0);
	return reply_status(r, status);
}

enum srv_outcome srv_op_close(struct srv_request *r)
{
	int status = srv_handle_close(r->session, r->rq.close.handle);

	if (status == MMIO_EINVAL)
		mmio_reason_set(&r->rep.reason, status, MMIO_REASON_HANDLE, r->rq.close.handle, 0);
	return reply_status(r, status);
}

enum srv_outcome srv_op_read_once(struct srv_request *r)
{
	int status = shim_read_once(&r->handle->once_win, (size_t)r->rq.read_once.offset,
				    r->rq.read_once.width, &r->rep.read_once.value);

	count_fault(status);
	return reply_status(r, status);
}

enum srv_outcome srv_op_write_once(struct srv_request *r)
{
	int status = shim_write_once(&r->handle->once_win, (size_t)r->rq.write_once.offset,
				     r->rq.write_once.width, r->rq.write_once.value);

	count_fault(status);
	return reply_status(r, status);
}

/*
 * Copies and fills move at most COPY_CHUNK bytes per access section, with
 * the boundaries on multiples of it in the address space (so a chunked
 * copy makes the same accesses as one piece would): before each chunk the
 * handle is checked again, so a reload or a CLOSE stops a long copy within
 * one chunk, and a reload never waits for more than one.
 */
#define COPY_CHUNK ((size_t)256 << 10)

/* One chunk: @n bytes at window offset @at, @pos bytes into the operation. */
typedef int (*chunk_fn)(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
			size_t pos, size_t *done);

/* Would the whole range pass kernel-shim's checks? If not, one call gets
 * the exact refusal, nothing accessed. */
static bool range_ok(const struct shim_window *w, size_t offset, size_t len, bool fill)
{
	uintptr_t addr = (uintptr_t)w->base + offset;

	if (fill ? offset >= w->limit : shim_window_check(w, offset, len) != MMIO_OK)
		return false;
	return w->width == 0 || (mmio_width_aligned(addr, w->width) && len % w->width == 0);
}

/* Why kernel-shim refused [offset, offset + len) of @w (range_ok() false). */
static void range_reason(const struct shim_window *w, size_t offset, size_t len, bool fill,
			 struct mmio_reason *why)
{
	uint64_t end;

	if (__builtin_add_overflow((uint64_t)offset, (uint64_t)len, &end))
		end = UINT64_MAX;
	if (fill && offset >= w->limit)
		mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_RANGE, (uint64_t)offset + 1,
				w->limit);
	else if (!fill && end > w->limit)
		mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_RANGE, end, w->limit);
	else if (w->width > 1)
		mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_GRANULE,
				w->width);
}

/* A copy stopped by a CLOSE or a reload on another thread says so. */
static int resume_refused(struct srv_request *r, int status)
{
	if (status == MMIO_EREVOKED)
		mmio_reason_set(&r->rep.reason, status, MMIO_REASON_REVOKED, 0, 0);
	else if (status == MMIO_EINVAL)
		mmio_reason_set(&r->rep.reason, status, MMIO_REASON_HANDLE, r->handle->id, 0);
	return status;
}

/* Run @fn over [offset, offset + len) of the request's handle chunk by
 * chunk; *@done is exact whatever stops it. */
static int chunks_run(struct srv_request *r, unsigned access_bit, size_t offset, size_t len,
		      bool fill, chunk_fn fn, size_t *done)
{
	struct srv_handle *h = r->handle;
	unsigned ops_bit = fill ? MMIO_OPS_FILL : MMIO_OPS_BULK;
	unsigned checked = r->checked_epoch, epoch;
	int status = MMIO_OK;

	*done = 0;
	if (len <= COPY_CHUNK || !range_ok(&h->win, offset, len, fill)) {
		status = srv_handle_resume(r->session, h, ops_bit, access_bit, &checked, &epoch);
		if (status != MMIO_OK)
			return resume_refused(r, status);
		status = fn(r, &h->win, offset, len, 0, done);
		srv_access_exit(epoch);
		if (status == MMIO_EINVAL && !range_ok(&h->win, offset, len, fill))
			range_reason(&h->win, offset, len, fill, &r->rep.reason);
		return status;
	}
	while (*done < len && status == MMIO_OK) {
		size_t at = offset + *done;
		size_t n = COPY_CHUNK - ((uintptr_t)h->win.base + at) % COPY_CHUNK;
		size_t moved = 0;

		if (n > len - *done)
			n = len - *done;
		status = srv_handle_resume(r->session, h, ops_bit, access_bit, &checked, &epoch);
		if (status != MMIO_OK)
			return resume_refused(r, status);
		status = fn(r, &h->win, at, n, *done, &moved);
		srv_access_exit(epoch);
		*done += moved;
	}
	return status;
}

static int chunk_read(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
		      size_t pos, size_t *done)
{
	return shim_copy_from_device(w, at, (uint8_t *)r->rep.read.data + pos, n, done);
}

/* A READ or READ_ROWS whose reply would not fit in one message. */
static int too_long(struct srv_request *r)
{
	return mmio_reason_set(&r->rep.reason, MMIO_EINVAL, MMIO_REASON_ARGUMENT,
			       MMIO_ARGUMENT_TOO_LONG, srv.max_message - PROTO_REPLY_HEADER_SIZE);
}

enum srv_outcome srv_op_read(struct srv_request *r)
{
	uint64_t len = r->rq.read.len;
	size_t done = 0;
	int status;

	/* The reply must fit in one message: larger reads are the client's to split. */
	if (len > srv.max_message - PROTO_REPLY_HEADER_SIZE)
		return reply_status(r, too_long(r));
	/* Room for a refusal's reason after the bytes read (reply_build() trims). */
	if (nng_msg_alloc(&r->reply_msg,
			  PROTO_REPLY_HEADER_SIZE + (size_t)len + PROTO_REASON_SIZE) != 0)
		return reply_status(r, MMIO_ENOMEM);
	/* Device bytes go straight into the reply; the encoder then copies nothing. */
	r->rep.read.data = (uint8_t *)nng_msg_body(r->reply_msg) + PROTO_READ_DATA_OFFSET;
	status = chunks_run(r, MMIO_ACCESS_READ, (size_t)r->rq.read.offset, (size_t)len, false,
			    chunk_read, &done);
	return copy_reply(r, status, done, &srv.stats.bytes_read);
}

static int chunk_write(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
		       size_t pos, size_t *done)
{
	return shim_copy_to_device(w, at, r->rq.write.data + pos, n, done);
}

enum srv_outcome srv_op_write(struct srv_request *r)
{
	size_t done = 0;
	int status = chunks_run(r, MMIO_ACCESS_WRITE, (size_t)r->rq.write.offset, r->rq.write.len,
				false, chunk_write, &done);

	return copy_reply(r, status, done, &srv.stats.bytes_written);
}

static int chunk_fill(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
		      size_t pos, size_t *done)
{
	(void)pos;
	return shim_fill(w, at, n, r->rq.fill.byte, done);
}

enum srv_outcome srv_op_fill(struct srv_request *r)
{
	size_t done = 0;
	int status = chunks_run(r, MMIO_ACCESS_WRITE, (size_t)r->rq.fill.offset,
				(size_t)r->rq.fill.len, true, chunk_fill, &done);

	return copy_reply(r, status, done, &srv.stats.bytes_written);
}

/* How long a waiting poll sleeps before its next read: never past its
 * deadline (0: the deadline is within the millisecond; nng timers are in ms). */
static unsigned poll_sleep_ms(const struct srv_request *r, uint64_t now)
{
	uint64_t ms = (now - r->poll_start_ns) / 4000000u;
	uint64_t left = (r->deadline_ns - now) / 1000000u;

	if (ms < 1)
		ms = 1;
	if (ms > POLL_SLEEP_MAX_MS)
		ms = POLL_SLEEP_MAX_MS;
	return (unsigned)(ms < left ? ms : left);
}

/*
 * One step of a poll: read, compare, decide. Returns MMIO_OK when the value
 * matched, MMIO_ETIMEDOUT at the deadline, 1 to keep waiting, or the
 * access's error. Spins briefly before asking to sleep, so registers that
 * settle within microseconds answer without a millisecond timer.
 */
static int poll_step(struct srv_request *r, const struct shim_window *w, uint64_t offset,
		     unsigned width, uint64_t mask, uint64_t want, uint32_t timeout_us)
{
	uint64_t now = srv_now_ns();
	uint64_t spin_until = now;

	if (r->deadline_ns == 0) {
		uint64_t limit = timeout_us < srv.max_poll_us ? timeout_us : srv.max_poll_us;
		r->deadline_ns = now + limit * 1000u;
		r->poll_start_ns = now;
		spin_until = now + POLL_SPIN_NS; /* only the first step spins */
	}
	for (;;) {
		int status = shim_read_once(w, (size_t)offset, width, &r->last_value);
		if (status != MMIO_OK)
			return status;
		if ((r->last_value & mask) == want)
			return MMIO_OK;
		now = srv_now_ns();
		if (now >= r->deadline_ns)
			return MMIO_ETIMEDOUT;
		if (now >= spin_until)
			break;
	}
	r->wait_ms = poll_sleep_ms(r, now);
	return SRV_WAIT_STATUS;
}

enum srv_outcome srv_op_poll(struct srv_request *r)
{
	const struct proto_poll_req *q = &r->rq.poll;
	int status = poll_step(r, &r->handle->once_win, q->offset, q->width, q->mask, q->want,
			       q->timeout_us);

	if (status == SRV_WAIT_STATUS)
		return SRV_WAIT;
	count_fault(status);
	if (status == MMIO_ETIMEDOUT)
		atomic_fetch_add(&srv.stats.timeouts, 1);
	r->rep.poll.value = r->last_value;
	return reply_status(r, status);
}

/* Run one batch op, checked as the op it is; 1 (SRV_WAIT_STATUS) means a poll is waiting. */
static int batch_op_run(struct srv_request *r, const struct proto_batch_op *op, uint64_t *value)
{
	const struct srv_op *row = srv_op_row(op->opcode);
	const struct srv_target t = { op->handle, op->offset, op->width, op->width,
				      op->opcode == PROTO_OP_WRITE_ONCE ? op->value : 0 };
	struct srv_handle *h;
	unsigned epoch;
	int status = srv_check_and_audit(r->session, row, &t, &h, &epoch, &r->rep.reason);

	if (status != MMIO_OK)
		return status;
	switch (op->opcode) {
	case PROTO_OP_READ_ONCE:
		status = shim_read_once(&h->once_win, (size_t)op->offset, op->width, value);
		break;
	case PROTO_OP_WRITE_ONCE:
		status = shim_write_once(&h->once_win, (size_t)op->offset, op->width, op->value);
		*value = 0;
		break;
	default:
		status = poll_step(r, &h->once_win, op->offset, op->width, op->value, op->want,
				   op->timeout_us);
		*value = r->last_value;
		if (status == MMIO_ETIMEDOUT)
			atomic_fetch_add(&srv.stats.timeouts, 1);
		break;
	}
	count_fault(status);
	srv_check_end(r->session, row, &t, h, epoch, status);
	return status;
}

enum srv_outcome srv_op_batch(struct srv_request *r)
{
	const struct proto_batch_req *b = &r->rq.batch;

	if (!r->batch_values) {
		r->batch_values = calloc(b->count ? b->count : 1, sizeof(uint64_t));
		if (!r->batch_values) {
			r->rep.batch.failed = PROTO_BATCH_NONE;
			return reply_status(r, MMIO_ENOMEM);
		}
	}
	while (r->batch_next < b->count) {
		struct proto_batch_op op;
		uint64_t value = 0;
		int status;

		proto_batch_op_get(b, r->batch_next, &op);
		status = batch_op_run(r, &op, &value);
		if (status == SRV_WAIT_STATUS)
			return SRV_WAIT;
		if (status != MMIO_OK) {
			r->rep.done = r->batch_next;
			r->rep.batch.failed = (uint32_t)r->batch_next;
			r->rep.batch.values = r->batch_values;
			return reply_status(r, status);
		}
		r->batch_values[r->batch_next++] = value;
		r->deadline_ns = 0; /* the next poll has a deadline of its own */
	}
	r->rep.done = b->count;
	r->rep.batch.failed = PROTO_BATCH_NONE;
	r->rep.batch.values = r->batch_values;
	return reply_status(r, MMIO_OK);
}

enum srv_outcome srv_op_map(struct srv_request *r)
{
	unsigned cause = srv_handle_unmappable(r->handle);

	if (cause != 0)
		return reply_status(r, mmio_reason_set(&r->rep.reason, MMIO_EACCES,
						       MMIO_REASON_UNMAPPABLE, cause, 0));
	return reply_status(r, srv_grant_issue(r->session, r->handle, &r->rep.map, &r->rep.reason));
}

enum srv_outcome srv_op_unmap(struct srv_request *r)
{
	/* The client has unmapped: the handle stays open, proxied, and a MAP
	 * token it did not pick up is void (a reload may now change the
	 * handle's rights without revoking it). */
	srv_grants_forget_handle(r->session->pipe_id, r->handle->id);
	/* Unmapped, or says so: its window goes, so that no one keeps it. */
	srv_window_revoke(r->handle);
	srv_handle_set_mapped(r->handle, 0);
	return reply_status(r, MMIO_OK);
}

enum srv_outcome srv_op_buf_attach(struct srv_request *r)
{
	struct srv_session *s = r->session;
	int status;

	/* A buffer only serves spans of handles: a client the policy grants
	 * nothing gets none, nor the tokens that would crowd out others'. */
	if (!srv_session_granted(s, r->gen))
		return reply_status(r, mmio_reason_set(&r->rep.reason, MMIO_EACCES,
						       MMIO_REASON_NO_GRANT, 0, 0));
	pthread_mutex_lock(&s->lock);
	status = srv_buffer_room(s, r->rq.buf_attach.length, &r->rep.reason);
	pthread_mutex_unlock(&s->lock);
	if (status == MMIO_OK)
		status = srv_grant_buffer_token(s, r->rq.buf_attach.length,
						&r->rep.buf_attach.token, &r->rep.reason);
	return reply_status(r, status);
}

enum srv_outcome srv_op_buf_detach(struct srv_request *r)
{
	struct srv_session *s = r->session;
	struct srv_buffer *b;
	int status;

	pthread_mutex_lock(&s->lock);
	b = srv_buffer_find(s, r->rq.buf_detach.buffer);
	/* The mailbox's buffer lives as long as the connection; a buffer a
	 * copy is using, as long as the copy. */
	if (s->closed)
		status = MMIO_ECONN;
	else if (srv_mailbox_on(s, r->rq.buf_detach.buffer) || (b && atomic_load(&b->users) > 0))
		status = MMIO_EBUSY;
	else
		status = srv_buffer_detach(s, r->rq.buf_detach.buffer);
	pthread_mutex_unlock(&s->lock);
	if (status == MMIO_EINVAL)
		mmio_reason_set(&r->rep.reason, status, MMIO_REASON_BUFFER, MMIO_BUFFER_UNKNOWN,
				r->rq.buf_detach.buffer);
	else if (status == MMIO_EBUSY)
		mmio_reason_set(&r->rep.reason, status, MMIO_REASON_BUSY, MMIO_BUSY_IN_USE,
				r->rq.buf_detach.buffer);
	return reply_status(r, status);
}

static int chunk_span(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
		      size_t pos, size_t *done)
{
	if (r->rq.opcode == PROTO_OP_WRITE_SPAN)
		return shim_copy_to_device(w, at, r->span + pos, n, done);
	return shim_copy_from_device(w, at, r->span + pos, n, done);
}

/* READ_SPAN (@to_device false) and WRITE_SPAN: READ and WRITE on a span. */
static enum srv_outcome span_copy(struct srv_request *r, bool to_device)
{
	const struct proto_span_req *q = &r->rq.span;
	struct srv_session *s = r->session;
	struct srv_buffer *b;
	size_t done = 0;
	int status;

	/* The buffer stays mapped while the copy uses it: BUF_DETACH refuses
	 * it, and a closing session leaves it to its last reference. */
	pthread_mutex_lock(&s->lock);
	b = s->closed ? NULL : srv_buffer_find(s, q->buffer);
	if (!b)
		mmio_reason_set(&r->rep.reason, MMIO_EINVAL, MMIO_REASON_BUFFER,
				MMIO_BUFFER_UNKNOWN, q->buffer);
	else if (q->buf_offset > b->size || q->len > b->size - q->buf_offset)
		mmio_reason_set(&r->rep.reason, MMIO_EINVAL, MMIO_REASON_BUFFER,
				MMIO_BUFFER_OUTSIDE, b->size);
	if (r->rep.reason.code == 0)
		atomic_fetch_add(&b->users, 1);
	pthread_mutex_unlock(&s->lock);
	if (r->rep.reason.code != 0)
		return reply_status(r, MMIO_EINVAL);
	r->span = b->map + q->buf_offset;
	status = chunks_run(r, to_device ? MMIO_ACCESS_WRITE : MMIO_ACCESS_READ, (size_t)q->offset,
			    (size_t)q->len, false, chunk_span, &done);
	r->span = NULL;
	atomic_fetch_sub(&b->users, 1);
	return copy_reply(r, status, done,
			  to_device ? &srv.stats.bytes_written : &srv.stats.bytes_read);
}

enum srv_outcome srv_op_read_span(struct srv_request *r)
{
	return span_copy(r, false);
}

enum srv_outcome srv_op_write_span(struct srv_request *r)
{
	return span_copy(r, true);
}

/*
 * READ_ROWS and WRITE_ROWS: rows of row_bytes at a pitch, each row a copy
 * as READ and WRITE make it (same checks, chunks and revocation), the rows
 * packed in the message. The whole geometry is checked first, so a bad one
 * moves nothing; then *done is exact, whichever row a fault stops.
 */
static int rows_geometry(const struct shim_window *w, const struct proto_rows_req *q,
			 uint64_t *packed, struct mmio_reason *why)
{
	const unsigned arg = MMIO_REASON_ARGUMENT;
	uint64_t last, end;

	if (q->rows == 0 || q->row_bytes == 0)
		return mmio_reason_set(why, MMIO_EINVAL, arg, MMIO_ARGUMENT_EMPTY, 0);
	if (q->pitch < q->row_bytes)
		return mmio_reason_set(why, MMIO_EINVAL, arg, MMIO_ARGUMENT_PITCH, q->pitch);
	if (__builtin_mul_overflow(q->row_bytes, (uint64_t)q->rows, packed) ||
	    __builtin_mul_overflow(q->pitch, (uint64_t)(q->rows - 1), &last) ||
	    __builtin_add_overflow(q->offset, last, &last) ||
	    __builtin_add_overflow(last, q->row_bytes, &end))
		return mmio_reason_set(why, MMIO_EINVAL, arg, MMIO_ARGUMENT_OVERFLOW, 0);
	if (end > w->limit)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_RANGE, end, w->limit);
	/* Every row keeps the granule when the first does and the pitch is whole. */
	if (w->width != 0 && (q->pitch % w->width != 0 ||
			      !range_ok(w, (size_t)q->offset, (size_t)q->row_bytes, false)))
		return mmio_reason_set(why, MMIO_EINVAL, arg, MMIO_ARGUMENT_GRANULE, w->width);
	return MMIO_OK;
}

static int chunk_row(struct srv_request *r, const struct shim_window *w, size_t at, size_t n,
		     size_t pos, size_t *done)
{
	if (r->rq.opcode == PROTO_OP_WRITE_ROWS)
		return shim_copy_to_device(w, at, r->row + pos, n, done);
	return shim_copy_from_device(w, at, r->row + pos, n, done);
}

/* Every row, in order, between the device and @packed; stops at the first error. */
static int rows_run(struct srv_request *r, unsigned access_bit, uint8_t *packed, size_t *done)
{
	const struct proto_rows_req *q = &r->rq.rows;
	int status = MMIO_OK;

	*done = 0;
	for (uint32_t i = 0; i < q->rows && status == MMIO_OK; i++) {
		size_t moved = 0;

		r->row = packed + (size_t)i * q->row_bytes;
		status = chunks_run(r, access_bit, (size_t)(q->offset + (uint64_t)i * q->pitch),
				    (size_t)q->row_bytes, false, chunk_row, &moved);
		*done += moved;
	}
	r->row = NULL;
	return status;
}

enum srv_outcome srv_op_read_rows(struct srv_request *r)
{
	uint64_t packed;
	size_t done = 0;
	int status = rows_geometry(&r->handle->win, &r->rq.rows, &packed, &r->rep.reason);

	/* The reply must fit in one message: more rows are the client's to split. */
	if (status == MMIO_OK && packed > srv.max_message - PROTO_REPLY_HEADER_SIZE)
		status = too_long(r);
	if (status != MMIO_OK)
		return reply_status(r, status);
	if (nng_msg_alloc(&r->reply_msg,
			  PROTO_REPLY_HEADER_SIZE + (size_t)packed + PROTO_REASON_SIZE) != 0)
		return reply_status(r, MMIO_ENOMEM);
	r->rep.read.data = (uint8_t *)nng_msg_body(r->reply_msg) + PROTO_READ_DATA_OFFSET;
	status = rows_run(r, MMIO_ACCESS_READ, (uint8_t *)r->rep.read.data, &done);
	return copy_reply(r, status, done, &srv.stats.bytes_read);
}

enum srv_outcome srv_op_write_rows(struct srv_request *r)
{
	uint64_t packed;
	size_t done = 0;
	int status = rows_geometry(&r->handle->win, &r->rq.rows, &packed, &r->rep.reason);

	if (status != MMIO_OK)
		return reply_status(r, status);
	/* The bytes are only read from: the request's own buffer. */
	status = rows_run(r, MMIO_ACCESS_WRITE, (uint8_t *)(uintptr_t)r->rq.rows.data, &done);
	return copy_reply(r, status, done, &srv.stats.bytes_written);
}

/*
 * Server-wide counters (who is connected, how much moves) are for the
 * policy's own clients: root, the server's uid, and a peer the policy grants
 * something. Anyone else who can reach the socket learns nothing from it.
 */
static bool stats_allowed(const struct srv_request *r)
{
	const struct cfg_peer *peer = &r->session->peer;

	return peer->uid == 0 || peer->uid == geteuid() || srv_session_granted(r->session, r->gen);
}

enum srv_outcome srv_op_stats(struct srv_request *r)
{
	static _Thread_local uint64_t counters[PROTO_STAT_COUNT];
	struct srv_quota_stats q;
	struct timespec now;

	if (!stats_allowed(r))
		return reply_status(r, mmio_reason_set(&r->rep.reason, MMIO_EACCES,
						       MMIO_REASON_NO_GRANT, 0, 0));
	clock_gettime(CLOCK_MONOTONIC, &now);
	counters[PROTO_STAT_UPTIME_S] = (uint64_t)(now.tv_sec - srv.started.tv_sec);
	counters[PROTO_STAT_CLIENTS] = srv_session_count();
	counters[PROTO_STAT_HANDLES] = srv_handle_count();
	counters[PROTO_STAT_MAPPINGS] = srv_mapping_count();
	counters[PROTO_STAT_BUFFERS] = srv_buffer_count();
	counters[PROTO_STAT_MAILBOXES] = srv_mailbox_count();
	counters[PROTO_STAT_REQUESTS] = atomic_load(&srv.stats.requests);
	counters[PROTO_STAT_PROTO_ERRORS] = atomic_load(&srv.stats.proto_errors);
	counters[PROTO_STAT_DENIALS] = atomic_load(&srv.stats.denials);
	counters[PROTO_STAT_FAULTS] = atomic_load(&srv.stats.faults);
	counters[PROTO_STAT_TIMEOUTS] = atomic_load(&srv.stats.timeouts);
	counters[PROTO_STAT_BYTES_READ] = atomic_load(&srv.stats.bytes_read);
	counters[PROTO_STAT_BYTES_WRITTEN] = atomic_load(&srv.stats.bytes_written);
	counters[PROTO_STAT_RELOADS] = atomic_load(&srv.stats.reloads);
	counters[PROTO_STAT_RELOAD_FAILURES] = atomic_load(&srv.stats.reload_failures);
	counters[PROTO_STAT_REVOKED] = atomic_load(&srv.stats.revoked);
	srv_quota_stats(&q);
	counters[PROTO_STAT_REQUESTS_HELD] = q.requests_held;
	counters[PROTO_STAT_POLLS_WAITING] = q.polls_waiting;
	counters[PROTO_STAT_SESSIONS_REFUSED] = q.sessions_refused;
	counters[PROTO_STAT_REQUESTS_REFUSED] = q.requests_refused;
	counters[PROTO_STAT_POLLS_REFUSED] = q.polls_refused;
	counters[PROTO_STAT_WARNINGS_SUPPRESSED] = q.warnings_suppressed;
	counters[PROTO_STAT_IRQS_UNACKNOWLEDGED] = srv_irq_unacknowledged();
	r->rep.stats.count = PROTO_STAT_COUNT;
	r->rep.stats.counters = counters;
	return reply_status(r, MMIO_OK);
}

void srv_request_release(struct srv_request *r)
{
	free(r->batch_values);
	r->batch_values = NULL;
	free(r->scratch);
	r->scratch = NULL;
}

/*
 * Audit lines are rate-limited per client: a client cannot grow the log
 * faster than AUDIT_PER_SECOND lines; the rest are counted and reported.
 */
#define AUDIT_PER_SECOND 50u

void srv_audit(struct srv_session *s, const char *region, const char *op, uint64_t offset,
	       uint64_t len, int status)
{
	long long second = (long long)(srv_now_ns() / 1000000000u);
	long long seen = atomic_load(&s->audit_second);

	if (seen != second && atomic_compare_exchange_strong(&s->audit_second, &seen, second)) {
		unsigned n = atomic_exchange(&s->audits, 0);
		if (n > AUDIT_PER_SECOND)
			srv_log(SRV_LOG_NOTICE, "audit: uid=%u pid=%d: %u more lines suppressed",
				(unsigned)s->peer.uid, (int)s->pid, n - AUDIT_PER_SECOND);
	}
	if (atomic_fetch_add(&s->audits, 1) >= AUDIT_PER_SECOND)
		return;
	srv_log(SRV_LOG_NOTICE,
		"audit: uid=%u gid=%u pid=%d region=%s op=%s offset=0x%" PRIx64 " len=%" PRIu64
		" status=%s",
		(unsigned)s->peer.uid, (unsigned)s->peer.gid, (int)s->pid, region, op, offset, len,
		mmio_status_name(status));
}
