/* SPDX-License-Identifier: MIT */
/*
 * The connection to mmio-server: one nng req0 socket, one dialer, one
 * session pipe, and a pool of contexts so that calls from several threads
 * run concurrently.
 *
 * Handles live on the server per pipe, so the stub pins its session to the
 * pipe that carried the HELLO reply: a reply on any other pipe, or the loss
 * of that pipe, loses the client for good (MMIO_ECONN). Later pipes the
 * dialer makes are closed before the socket can use them (ADD_PRE), so no
 * request can ever reach a server session that has not seen our HELLO.
 *
 * Locking: c->mtx guards the connection state and the pool. It is never
 * held across an nng call, because nng runs pipe callbacks under its socket
 * lock and those callbacks take c->mtx.
 */
#include "cli.h"

#include <errno.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int cli_timeout_ms(const mmio_client *c, uint64_t extra_us)
{
	uint64_t ms = (uint64_t)c->reply_ms + extra_us / 1000 + (extra_us % 1000 != 0);

	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

bool cli_lost(mmio_client *c)
{
	bool lost;

	pthread_mutex_lock(&c->mtx);
	lost = c->lost;
	pthread_mutex_unlock(&c->mtx);
	return lost;
}

/* Mark the session lost and wake every waiter. Call with c->mtx held. */
static void session_lose_locked(mmio_client *c)
{
	if (c->connecting) {
		c->attempt_broken = true;
	} else {
		/* The fast paths first: whoever sees the client lost (acquire)
		 * then sees none of its regions take a fast access. */
		for (struct cli_list *n = c->regions.next; n != &c->regions; n = n->next)
			cli_region_lose(cli_region_of(n));
		atomic_store_explicit(&c->lost, true, memory_order_release);
	}
	pthread_cond_broadcast(&c->cv);
}

/* ---- pipe events (run by nng under its socket lock: no socket calls here) ---- */

static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	mmio_client *c = arg;
	bool refuse;

	(void)ev;
	pthread_mutex_lock(&c->mtx);
	/* Once the session is pinned, any new pipe is the dialer reconnecting:
	 * the server would know nothing of our handles there. */
	refuse = !c->connecting;
	pthread_mutex_unlock(&c->mtx);
	/* Closing the pipe at ADD_PRE is the one pipe operation nng allows in
	 * this callback: the socket then never sees the pipe. */
	if (refuse)
		nng_pipe_close(p);
}

static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	mmio_client *c = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);

	(void)ev;
	/*
	 * While connecting, a lost pipe is not the end of the attempt: the
	 * dialer reconnects, and attempt() sends the (idempotent) HELLO again
	 * on the same socket. Closing the socket instead could cut that
	 * reconnection in the middle of its handshake, which stalls an nng
	 * 1.5.2 listener (issue 1518). The attempt's own timeout bounds the
	 * wait.
	 */
	pthread_mutex_lock(&c->mtx);
	if (c->connecting)
		c->drops++;
	else if (id == c->session_pipe)
		session_lose_locked(c);
	pthread_mutex_unlock(&c->mtx);
}

/* ---- the context pool ---- */

static void slot_aio_done(void *arg)
{
	struct cli_slot *s = arg;
	mmio_client *c = s->client;

	/*
	 * A completed send goes straight on to the receive, here on nng's
	 * thread: the caller sleeps once per round trip, not twice. Only this
	 * callback touches s->sending while the aio is busy.
	 */
	pthread_mutex_lock(&c->mtx);
	/* Not after the waiter gave up: its cancel would find nothing to stop. */
	if (s->sending && nng_aio_result(s->aio) == 0 && !s->cancelled) {
		s->sending = false;
		pthread_mutex_unlock(&c->mtx);
		nng_aio_set_timeout(s->aio, s->timeout_ms);
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	s->done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

static void slot_free(struct cli_slot *s)
{
	if (!s)
		return;
	if (s->aio)
		nng_aio_free(s->aio);
	nng_ctx_close(s->ctx);
	free(s);
}

static int slot_create(mmio_client *c, struct cli_slot **out)
{
	struct cli_slot *s = calloc(1, sizeof(*s));
	int rv;

	if (!s)
		return MMIO_ENOMEM;
	s->client = c;
	rv = nng_ctx_open(&s->ctx, c->sock);
	if (rv != 0) {
		free(s);
		return rv == NNG_ENOMEM ? MMIO_ENOMEM : MMIO_ECONN;
	}
	/* Never resend: a WRITE must not run twice. The socket default is set
	 * too, but say it per context so that no nng version can differ. */
	rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_aio_alloc(&s->aio, slot_aio_done, s);
	if (rv != 0) {
		slot_free(s);
		return rv == NNG_ENOMEM ? MMIO_ENOMEM : MMIO_EINTERNAL;
	}
	*out = s;
	return MMIO_OK;
}

static int slot_get(mmio_client *c, struct cli_slot **out)
{
	int status;

	pthread_mutex_lock(&c->mtx);
	for (;;) {
		if (c->lost) {
			pthread_mutex_unlock(&c->mtx);
			return MMIO_ECONN;
		}
		if (c->free_slots) {
			*out = c->free_slots;
			c->free_slots = (*out)->next;
			pthread_mutex_unlock(&c->mtx);
			return MMIO_OK;
		}
		if (c->nslots < CLI_SLOTS_MAX)
			break;
		pthread_cond_wait(&c->cv, &c->mtx);
	}
	c->nslots++;
	pthread_mutex_unlock(&c->mtx);

	status = slot_create(c, out);
	if (status != MMIO_OK) {
		pthread_mutex_lock(&c->mtx);
		c->nslots--;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mtx);
	}
	return status;
}

static void slot_put(mmio_client *c, struct cli_slot *s)
{
	pthread_mutex_lock(&c->mtx);
	s->next = c->free_slots;
	c->free_slots = s;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

static bool broken_locked(const mmio_client *c)
{
	return c->lost || (c->connecting && c->attempt_broken);
}

/*
 * Send the message set on @s's aio, then receive the reply (the aio callback
 * chains the two), and wait for the reply, for the connection to break, or
 * for @timeout_ms. Returns the nng result (0 on success); *@sent says
 * whether the receive was started (if not, the aio holds the message
 * unless nng took it with a send that completed too late: then NULL).
 */
static int slot_round_trip(mmio_client *c, struct cli_slot *s, int timeout_ms, bool *sent)
{
	bool done;
	int rv;

	pthread_mutex_lock(&c->mtx);
	s->done = false;
	s->cancelled = false;
	s->sending = true;
	pthread_mutex_unlock(&c->mtx);

	s->timeout_ms = timeout_ms;
	nng_aio_set_timeout(s->aio, timeout_ms);
	nng_ctx_send(s->ctx, s->aio);

	pthread_mutex_lock(&c->mtx);
	while (!s->done && !broken_locked(c))
		pthread_cond_wait(&c->cv, &c->mtx);
	done = s->done;
	s->cancelled = !done;
	pthread_mutex_unlock(&c->mtx);

	/* The pipe callback cannot cancel our aio (it runs under the socket
	 * lock the cancel needs), so it only wakes us and we cancel here. */
	if (!done)
		nng_aio_cancel(s->aio);
	/* Also waits for slot_aio_done() to return before the aio is reused. */
	nng_aio_wait(s->aio);
	pthread_mutex_lock(&c->mtx);
	*sent = !s->sending;
	pthread_mutex_unlock(&c->mtx);
	rv = nng_aio_result(s->aio);
	/*
	 * The send may complete after the waiter gave up on a broken
	 * connection but before slot_aio_done() took the lock: that callback
	 * then starts no receive, and the aio's 0 is the send's, with no reply
	 * behind it (nng has taken the request). Taken for a reply, that once
	 * crashed a client in nng_msg_get_pipe(NULL) as its server stopped.
	 */
	if (rv == 0 && !*sent)
		rv = NNG_ECONNRESET;
	return rv;
}

int cli_transport_fail(mmio_client *c)
{
	pthread_mutex_lock(&c->mtx);
	session_lose_locked(c);
	pthread_mutex_unlock(&c->mtx);
	return MMIO_ECONN;
}

/* After the session is lost, stop the dialer from reconnecting (outside callbacks). */
static void dialer_stop_if_lost(mmio_client *c)
{
	bool stop;

	pthread_mutex_lock(&c->mtx);
	stop = c->lost && !c->dialer_closed && c->sock_open;
	if (stop)
		c->dialer_closed = true;
	pthread_mutex_unlock(&c->mtx);
	if (stop)
		nng_dialer_close(c->dialer);
}

int cli_reply_decode(nng_msg *m, unsigned opcode, struct proto_reply *rep)
{
	int status = proto_reply_decode(nng_msg_body(m), nng_msg_len(m), rep);

	if (status == PROTO_EUNKNOWN_OP)
		return MMIO_EPROTO;
	if (status != MMIO_OK)
		return status;
	if (rep->opcode != opcode)
		return MMIO_EPROTO;
	return MMIO_OK;
}

static int call_once(mmio_client *c, const struct proto_request *req, int timeout_ms, nng_msg **msg,
		     struct proto_reply *rep)
{
	struct cli_slot *s;
	nng_msg *m;
	size_t need;
	int status, rv;
	bool sent;
	uint32_t pipe;

	*msg = NULL;
	memset(rep, 0, sizeof(*rep));
	status = proto_request_encode(req, NULL, 0, &need);
	if (status == MMIO_EINVAL)
		return MMIO_EINVAL;
	if (need > c->max_message - CLI_RECV_SLACK) /* the reason: cli_call() records it */
		return mmio_reason_set(&rep->reason, MMIO_EINVAL, MMIO_REASON_ARGUMENT,
				       MMIO_ARGUMENT_TOO_LONG, c->max_message - CLI_RECV_SLACK);
	if (c->mbox) {
		bool used;

		status = cli_mailbox_call(c, req, need, timeout_ms, msg, rep, &used);
		if (used) {
			/* As below: a lost session must not leave the connection open
			 * (the server would keep its handles and buffers). */
			if (status == MMIO_ECONN)
				dialer_stop_if_lost(c);
			return status;
		}
	}
	if (nng_msg_alloc(&m, need) != 0)
		return MMIO_ENOMEM;
	status = proto_request_encode(req, nng_msg_body(m), need, NULL);
	if (status != MMIO_OK) {
		nng_msg_free(m);
		return status;
	}

	status = slot_get(c, &s);
	if (status != MMIO_OK) {
		nng_msg_free(m);
		dialer_stop_if_lost(c);
		return status;
	}

	nng_aio_set_msg(s->aio, m);
	rv = slot_round_trip(c, s, timeout_ms, &sent);
	if (rv != 0) {
		/* A send that did not complete hands the message back. */
		m = sent ? NULL : nng_aio_get_msg(s->aio);
		if (m)
			nng_msg_free(m);
		status = cli_transport_fail(c);
		goto out;
	}
	m = nng_aio_get_msg(s->aio);
	pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));

	pthread_mutex_lock(&c->mtx);
	if (c->connecting) {
		/* The HELLO reply names the session pipe. */
		c->session_pipe = pipe;
		status = MMIO_OK;
	} else if (pipe != c->session_pipe) {
		session_lose_locked(c);
		status = MMIO_ECONN;
	} else {
		status = MMIO_OK;
	}
	pthread_mutex_unlock(&c->mtx);

	if (status == MMIO_OK)
		status = cli_reply_decode(m, req->opcode, rep);
	if (status == MMIO_OK)
		*msg = m;
	else
		nng_msg_free(m);
out:
	slot_put(c, s);
	if (status == MMIO_ECONN)
		dialer_stop_if_lost(c);
	return status;
}

int cli_call(mmio_client *c, const struct proto_request *asked, int timeout_ms, nng_msg **msg,
	     struct proto_reply *rep)
{
	/* In the version HELLO chose (version 1 with a server that speaks no
	 * other: its refusals carry no reason record). */
	struct proto_request versioned = *asked;
	const struct proto_request *req = &versioned;
	int status;

	versioned.version = c->hello.version;
	status = call_once(c, req, timeout_ms, msg, rep);

	/* What mmio_last_error() tells: the reply's status and reason, or the
	 * call's own failure. mmio_close() reports nothing, so its CLOSE and
	 * UNMAP leave it be (a driver closes, then prints why it failed). */
	if (req->opcode == PROTO_OP_CLOSE || req->opcode == PROTO_OP_UNMAP)
		return status;
	if (status == MMIO_OK) {
		cli_last_record(c, rep->status, &rep->reason);
	} else {
		rep->reason.op = req->opcode;
		cli_last_record(c, status, rep->reason.code ? &rep->reason : NULL);
	}
	return status;
}

/* ---- connecting ---- */

static void pool_free(mmio_client *c)
{
	struct cli_slot *s;

	while ((s = c->free_slots) != NULL) {
		c->free_slots = s->next;
		slot_free(s);
	}
	c->nslots = 0;
}

void cli_transport_close(mmio_client *c)
{
	if (c->sock_open) {
		/* Closes the contexts and fires the last pipe callbacks, which
		 * still find @c alive. */
		nng_close(c->sock);
		c->sock_open = false;
	}
	pool_free(c);
}

/* An outcome of one attempt that is worth another attempt. */
#define ATTEMPT_RETRY 1

static int map_setup_error(int rv)
{
	switch (rv) {
	case NNG_ENOMEM:
		return MMIO_ENOMEM;
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return MMIO_EINVAL;
	default:
		return MMIO_EINTERNAL;
	}
}

static int socket_open(mmio_client *c, const char *url)
{
	int rv;

	rv = nng_req0_open(&c->sock);
	if (rv != 0)
		return map_setup_error(rv);
	c->sock_open = true;
	rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
					 CLI_MESSAGE_MAX + CLI_RECV_SLACK);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, CLI_RECONN_MIN_MS);
	if (rv == 0)
		rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLI_RECONN_MAX_MS);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, pipe_added, c);
	if (rv == 0)
		rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_removed, c);
	if (rv != 0)
		return map_setup_error(rv);

	pthread_mutex_lock(&c->mtx);
	c->connecting = true;
	c->attempt_broken = false;
	c->session_pipe = 0;
	c->lost = false;
	c->dialer_closed = false;
	pthread_mutex_unlock(&c->mtx);

	/* Non-blocking: a blocking dial into a stalled listener (nng issue
	 * 1518) would wait for nng's 10 s negotiation timeout. The HELLO's own
	 * timeout bounds the attempt instead. */
	rv = nng_dial(c->sock, url, &c->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		return map_setup_error(rv);
	return MMIO_OK;
}

static int hello_check(const struct proto_hello_rep *h)
{
	if (h->version < PROTO_VERSION_MIN || h->version > PROTO_VERSION_MAX)
		return MMIO_EPROTO;
	if (h->max_message < CLI_MESSAGE_MIN || h->max_batch > PROTO_BATCH_MAX)
		return MMIO_EPROTO;
	return MMIO_OK;
}

static int attempt(mmio_client *c, const char *url, int timeout_ms)
{
	struct proto_request req = { .opcode = PROTO_OP_HELLO };
	struct proto_reply rep;
	nng_msg *m;
	bool broken;
	int status;

	status = socket_open(c, url);
	if (status != MMIO_OK)
		return status;

	req.hello.min_version = PROTO_VERSION_MIN;
	req.hello.max_version = PROTO_VERSION_MAX;
	c->max_message = CLI_MESSAGE_MAX;
	for (int64_t deadline = cli_now_ms() + timeout_ms;;) {
		int64_t left = deadline - cli_now_ms();

		if (left <= 0)
			return ATTEMPT_RETRY;
		status = cli_call(c, &req, (int)left, &m, &rep);
		if (status != MMIO_ECONN)
			break;
		/*
		 * The pipe went away under the HELLO (req0 fails a request whose
		 * pipe closes when it has no resend timer). Ask again on this
		 * socket, whose dialer is already reconnecting: closing the
		 * socket now could cut that reconnection in its handshake, which
		 * stalls an nng 1.5.2 listener (issue 1518) — the server repairs
		 * that, in about a second, but the client's attempt would be lost.
		 * The HELLO waits for the new pipe, so this paces itself.
		 */
		pthread_mutex_lock(&c->mtx);
		broken = c->attempt_broken; /* (a lost session is that, while connecting) */
		c->attempt_broken = false;
		pthread_mutex_unlock(&c->mtx);
		if (!broken)
			return ATTEMPT_RETRY;
	}
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK) {
		c->hello = rep.hello;
		status = hello_check(&c->hello);
	}
	nng_msg_free(m);
	if (status != MMIO_OK)
		return status;

	pthread_mutex_lock(&c->mtx);
	broken = c->attempt_broken;
	if (!broken)
		c->connecting = false;
	pthread_mutex_unlock(&c->mtx);
	if (broken)
		return ATTEMPT_RETRY;

	c->max_message =
		c->hello.max_message < CLI_MESSAGE_MAX ? c->hello.max_message : CLI_MESSAGE_MAX;
	/* If the session pipe drops, the dialer reconnects (nng always does);
	 * those pipes are refused at ADD_PRE, so let them come rarely. */
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, CLI_RECONN_IDLE_MS);
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, CLI_RECONN_IDLE_MS);
	return MMIO_OK;
}

/* Connections closed under an attempt, all attempts together, after which a
 * server that gave us no door is taken to refuse this account. */
#define REFUSED_DROPS 3

/* The server closes each of our connections at its handshake: it refuses
 * this account (a stranger's connection never reaches nng's reads). */
static bool refused(mmio_client *c, const char *url, bool door, char *why, size_t whylen)
{
	const char *path = url + strlen("ipc://");
	unsigned drops;

	pthread_mutex_lock(&c->mtx);
	drops = c->drops;
	pthread_mutex_unlock(&c->mtx);
	if (door || strncmp(url, "ipc://", 6) != 0 || drops < REFUSED_DROPS)
		return false;
	snprintf(why, whylen,
		 "%s closes every connection of uid %u at once: the server's policy grants this "
		 "account nothing (there is no door for it in %s.d/), and it serves no such "
		 "account (server.limits.ungranted_sessions)",
		 path, (unsigned)geteuid(), path);
	return true;
}

int cli_transport_connect(mmio_client *c, const char *url, bool door, int budget_ms, int attempt_ms,
			  char *why, size_t whylen)
{
	int64_t deadline = cli_now_ms() + budget_ms;

	c->drops = 0;
	for (;;) {
		int64_t start = cli_now_ms();
		int64_t left = deadline - start;
		int status;

		if (left <= 0)
			return MMIO_ECONN;
		status = attempt(c, url, left < attempt_ms ? (int)left : attempt_ms);
		if (status == MMIO_OK)
			return MMIO_OK;
		cli_transport_close(c);
		if (status != ATTEMPT_RETRY)
			return status;
		if (refused(c, url, door, why, whylen))
			return MMIO_EACCES;
		/* An attempt that broke at once (connection dropped during the
		 * handshake) must not turn into a busy loop. */
		if (cli_now_ms() - start < CLI_RECONN_MAX_MS) {
			left = deadline - cli_now_ms();
			if (left > 0)
				sleep_ms(left < CLI_RECONN_MAX_MS ? (int)left : CLI_RECONN_MAX_MS);
		}
	}
}
