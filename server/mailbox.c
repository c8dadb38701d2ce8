/* SPDX-License-Identifier: MIT */
/*
 * The mailbox: requests carried in a shared buffer instead of nng messages
 * (PROTO_MBOX_* in proto.h). A client that shared a buffer of exactly
 * PROTO_MBOX_SIZE bytes asks MAILBOX on it; from then on one server thread
 * waits on the buffer's request word (a futex) and runs every request it
 * finds there through the same core as the nng contexts, as that client:
 * same decoder, same rights, same handlers, same statistics. What it saves
 * is nng's round trip, several thread hand-offs each way, which is most of
 * the cost of a small request (and all of it under an emulator).
 *
 * The buffer is the client's to scribble on at any time, so the thread
 * reads a request's length once, refuses more than PROTO_MBOX_MSG_MAX, and
 * copies the bytes into its own message before decoding them. A client that
 * rings without cause makes its own thread decode garbage, and pays a
 * millisecond's pause for each; one uid runs at most SRV_MAILBOXES_PER_UID
 * mailboxes and the server SRV_MAILBOXES_MAX (MAILBOX past that: EBUSY,
 * and libmmio stays on the socket). The buffer stays mapped while the
 * thread runs: BUF_DETACH refuses it, and a closing session stops the
 * thread before its buffers go.
 */
#include "dispatch.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct srv_mailbox {
	struct srv_session *session; /* reference held */
	uint32_t buffer;	     /* the buffer's id */
	uint8_t *map;		     /* the buffer, mapped while the mailbox runs */
	uint32_t seen;		     /* the last request sequence value taken */
	pthread_t thread;
	atomic_bool stop;
	atomic_bool exited;
};

/* A waiting thread looks at its stop flag at least this often. */
#define MBOX_TICK_MS 100
/* After refusing a malformed request, the thread pauses this long. */
#define MBOX_REFUSED_PAUSE_MS 1
/* A client's wake can come after the thread already took its request (it
 * looked before sleeping): one idle wake a request is normal, a run is not.
 * Past MBOX_IDLE_WAKES in a row, each costs a pause 1 ms longer than the
 * last, up to MBOX_IDLE_PAUSE_MAX_MS. */
#define MBOX_IDLE_WAKES	       4
#define MBOX_IDLE_PAUSE_MAX_MS 10
/* A POLL that waits sleeps in slices of at most this, to notice a stop. */
#define MBOX_WAIT_SLICE_MS 10

static atomic_size_t running;

/* Mailboxes per uid (SRV_MAILBOXES_PER_UID); at most SRV_MAILBOXES_MAX uids
 * can have one, since that many mailboxes exist at most. */
static pthread_mutex_t uids_lock = PTHREAD_MUTEX_INITIALIZER;
struct uid_count {
	uid_t uid;
	unsigned count;
};
static struct uid_count uids[SRV_MAILBOXES_MAX];
static unsigned nuids, total;

/* Count one more mailbox for @uid: MMIO_OK, or MMIO_EBUSY over a cap. */
static int uid_count_take(uid_t uid)
{
	int status = MMIO_EBUSY;
	unsigned i;

	pthread_mutex_lock(&uids_lock);
	for (i = 0; i < nuids && uids[i].uid != uid; i++)
		;
	if (total < SRV_MAILBOXES_MAX &&
	    (i < nuids ? uids[i].count < SRV_MAILBOXES_PER_UID : true)) {
		if (i == nuids)
			uids[nuids++] = (struct uid_count){ uid, 0 };
		uids[i].count++;
		total++;
		status = MMIO_OK;
	}
	pthread_mutex_unlock(&uids_lock);
	return status;
}

static void uid_count_drop(uid_t uid)
{
	pthread_mutex_lock(&uids_lock);
	for (unsigned i = 0; i < nuids; i++) {
		if (uids[i].uid == uid) {
			total--;
			if (--uids[i].count == 0)
				uids[i] = uids[--nuids];
			break;
		}
	}
	pthread_mutex_unlock(&uids_lock);
}

size_t srv_mailbox_count(void)
{
	return atomic_load(&running);
}

static _Atomic uint32_t *mbox_word(const struct srv_mailbox *mb, size_t off)
{
	return (_Atomic uint32_t *)(void *)(mb->map + off);
}

/* The buffer is MAP_SHARED between processes: no FUTEX_PRIVATE_FLAG.
 * True if a wake (not the timeout, nor a changed word) ended the wait. */
static bool futex_wait_ms(_Atomic uint32_t *word, uint32_t val, unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	return syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) == 0;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* How a request taken from the mailbox ended. */
enum mbox_outcome {
	MBOX_ANSWERED,	/* *reply is its reply (NULL: none could be built) */
	MBOX_MALFORMED, /* *reply refuses it: it could not be decoded */
	MBOX_ABANDONED, /* the client left or the mailbox stops: post nothing,
			 * the socket tells the client the session is over */
};

/* Run @msg (taken) to its reply, as the nng contexts would. */
static enum mbox_outcome mailbox_run(struct srv_mailbox *mb, nng_msg *msg, nng_msg **reply)
{
	struct srv_session *s = mb->session;
	struct srv_request r = { .msg = msg, .session = s };
	enum mbox_outcome outcome = MBOX_ANSWERED;

	/* Not counted against limits.max_requests: a mailbox holds one request
	 * at a time by construction, on top of the socket's (libmmio may have
	 * its 32 socket calls in flight while the mailbox is busy). */
	atomic_fetch_add(&s->refs, 1);
	r.gen = srv_current();
	while (srv_request_step(&r, reply) == SRV_WAIT) {
		unsigned ms = r.wait_ms;
		bool gone;

		/* A POLL waits here: its client waits for this reply anyway. */
		while (ms > 0 && !atomic_load(&mb->stop)) {
			unsigned slice = ms < MBOX_WAIT_SLICE_MS ? ms : MBOX_WAIT_SLICE_MS;
			sleep_ms(slice);
			ms -= slice;
		}
		pthread_mutex_lock(&s->lock);
		gone = s->closed;
		pthread_mutex_unlock(&s->lock);
		if (gone || atomic_load(&mb->stop)) {
			outcome = MBOX_ABANDONED; /* the client left mid-POLL */
			break;
		}
	}
	if (outcome == MBOX_ANSWERED && !r.decoded)
		outcome = MBOX_MALFORMED;
	srv_request_finish(&r);
	return outcome;
}

/*
 * Take the request the client announced with sequence value @seq, run it,
 * post its reply and ring the client. Returns false if the request was
 * refused as malformed (libmmio never sends one).
 */
static bool mailbox_serve(struct srv_mailbox *mb, uint32_t seq)
{
	uint32_t len =
		atomic_load_explicit(mbox_word(mb, PROTO_MBOX_REQ_LEN), memory_order_relaxed);
	uint32_t rep_len = 0;
	nng_msg *msg, *reply = NULL;
	enum mbox_outcome outcome = MBOX_MALFORMED;

	if (len > PROTO_MBOX_MSG_MAX) {
		atomic_fetch_add(&srv.stats.requests, 1);
		atomic_fetch_add(&srv.stats.proto_errors, 1);
		srv_debug("uid %u pid %d: refused a %u-byte mailbox request (the mailbox holds %u)",
			  (unsigned)mb->session->peer.uid, (int)mb->session->pid, len,
			  PROTO_MBOX_MSG_MAX);
	} else if (nng_msg_alloc(&msg, len) != 0) {
		srv_error("out of memory for a %u-byte mailbox request; not answering it", len);
	} else {
		/* Our copy: the client may change its bytes while we decode. */
		memcpy(nng_msg_body(msg), mb->map + PROTO_MBOX_REQ, len);
		outcome = mailbox_run(mb, msg, &reply);
		if (outcome == MBOX_ABANDONED)
			return true;
	}
	if (reply && nng_msg_len(reply) <= PROTO_MBOX_MSG_MAX) {
		rep_len = (uint32_t)nng_msg_len(reply);
		memcpy(mb->map + PROTO_MBOX_REP, nng_msg_body(reply), rep_len);
	} else if (reply) {
		/* libmmio never asks what cannot be answered here (LIST goes by nng). */
		srv_debug("uid %u pid %d: a %zu-byte reply does not fit the mailbox; answering "
			  "nothing",
			  (unsigned)mb->session->peer.uid, (int)mb->session->pid,
			  nng_msg_len(reply));
	}
	if (reply)
		nng_msg_free(reply);
	atomic_store_explicit(mbox_word(mb, PROTO_MBOX_REP_LEN), rep_len, memory_order_relaxed);
	atomic_store_explicit(mbox_word(mb, PROTO_MBOX_REP_SEQ), seq, memory_order_release);
	futex_wake_all(mbox_word(mb, PROTO_MBOX_REP_SEQ));
	return outcome != MBOX_MALFORMED;
}

static void *mailbox_main(void *arg)
{
	struct srv_mailbox *mb = arg;
	_Atomic uint32_t *req_seq = mbox_word(mb, PROTO_MBOX_REQ_SEQ);
	unsigned idle_wakes = 0;

	while (!atomic_load(&mb->stop)) {
		uint32_t now = atomic_load_explicit(req_seq, memory_order_acquire);

		if (now == mb->seen) {
			/* Rings without a request cost their sender a pause, as
			 * garbage does: else each is a wake of this thread. */
			if (futex_wait_ms(req_seq, now, MBOX_TICK_MS) &&
			    atomic_load_explicit(req_seq, memory_order_acquire) == now &&
			    ++idle_wakes >= MBOX_IDLE_WAKES)
				sleep_ms(idle_wakes - MBOX_IDLE_WAKES < MBOX_IDLE_PAUSE_MAX_MS
						 ? idle_wakes - MBOX_IDLE_WAKES + 1
						 : MBOX_IDLE_PAUSE_MAX_MS);
			continue;
		}
		idle_wakes = 0;
		mb->seen = now;
		/* Garbage costs its sender a pause: a client that rings without
		 * cause cannot keep this thread decoding at full speed. */
		if (!mailbox_serve(mb, now))
			sleep_ms(MBOX_REFUSED_PAUSE_MS);
	}
	atomic_store(&mb->exited, true);
	return NULL;
}

struct srv_mailbox *srv_mailbox_on(struct srv_session *s, uint32_t id)
{
	return s->mailbox && s->mailbox->buffer == id ? s->mailbox : NULL;
}

void srv_mailbox_stop(struct srv_mailbox *mb)
{
	if (!mb)
		return;
	atomic_store(&mb->stop, true);
	/* A wake can slip in before the thread sleeps: repeat until it is out. */
	while (!atomic_load(&mb->exited)) {
		futex_wake_all(mbox_word(mb, PROTO_MBOX_REQ_SEQ));
		sleep_ms(1);
	}
	pthread_join(mb->thread, NULL);
}

void srv_mailbox_free(struct srv_mailbox *mb)
{
	if (!mb)
		return;
	uid_count_drop(mb->session->peer.uid);
	srv_session_put(mb->session);
	free(mb);
	atomic_fetch_sub(&running, 1);
}

/* May @s run a mailbox on its buffer @id (@b if attached)? Counts it for
 * its uid if so; @why says why not (s->lock held). */
static int mailbox_room(struct srv_session *s, const struct srv_buffer *b, uint32_t id,
			struct mmio_reason *why)
{
	int status;

	if (s->closed)
		return MMIO_ECONN;
	if (!b)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_BUFFER, MMIO_BUFFER_UNKNOWN,
				       id);
	if (b->size != PROTO_MBOX_SIZE)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_BUFFER, MMIO_BUFFER_MAILBOX,
				       PROTO_MBOX_SIZE);
	if (s->mailbox)
		return mmio_reason_set(why, MMIO_EBUSY, MMIO_REASON_BUSY, MMIO_BUSY_MAILBOX, 0);
	status = uid_count_take(s->peer.uid);
	if (status != MMIO_OK) {
		srv_debug("uid %u pid %d: no mailbox: %u per uid and %u in all are running",
			  (unsigned)s->peer.uid, (int)s->pid, SRV_MAILBOXES_PER_UID,
			  SRV_MAILBOXES_MAX);
		mmio_reason_set(why, status, MMIO_REASON_BUSY, MMIO_BUSY_MAILBOXES,
				SRV_MAILBOXES_PER_UID);
	}
	return status;
}

enum srv_outcome srv_op_mailbox(struct srv_request *r)
{
	struct srv_session *s = r->session;
	struct mmio_reason *why = &r->rep.reason;
	struct srv_mailbox *mb = NULL;
	struct srv_buffer *b;
	pthread_attr_t attr;
	int status = MMIO_OK;

	/* A thread is worth it only for a client the policy grants something. */
	if (!cfg_policy_next_grant(r->gen->policy, &s->peer, CFG_ANY_REGION, NULL)) {
		r->rep.status = mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_NO_GRANT, 0, 0);
		return SRV_REPLY;
	}
	pthread_mutex_lock(&s->lock);
	b = srv_buffer_find(s, r->rq.mailbox.buffer);
	status = mailbox_room(s, b, r->rq.mailbox.buffer, why);
	if (status == MMIO_OK && !(mb = calloc(1, sizeof(*mb)))) {
		uid_count_drop(s->peer.uid);
		status = MMIO_ENOMEM;
	}
	if (status == MMIO_OK) {
		mb->session = s;
		mb->buffer = b->id;
		mb->map = b->map;
		/* Taken before the reply goes: the client's first request comes after it. */
		mb->seen = atomic_load_explicit(mbox_word(mb, PROTO_MBOX_REQ_SEQ),
						memory_order_acquire);
		atomic_fetch_add(&s->refs, 1);
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256u << 10);
		int rc = pthread_create(&mb->thread, &attr, mailbox_main, mb);
		if (rc != 0) {
			srv_error("cannot start a mailbox thread: %s", strerror(rc));
			atomic_fetch_sub(&s->refs, 1);
			uid_count_drop(s->peer.uid);
			status = MMIO_ENOMEM;
		} else {
			s->mailbox = mb;
			atomic_fetch_add(&running, 1);
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&s->lock);
	if (status != MMIO_OK) {
		free(mb);
		if (status == MMIO_EINVAL)
			srv_debug("uid %u pid %d: no mailbox on buffer %u: not a buffer of exactly "
				  "%u bytes",
				  (unsigned)s->peer.uid, (int)s->pid,
				  (unsigned)r->rq.mailbox.buffer, PROTO_MBOX_SIZE);
	}
	r->rep.status = status;
	return SRV_REPLY;
}
