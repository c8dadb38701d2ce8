/* SPDX-License-Identifier: MIT */
/*
 * Per-uid and global caps on what clients may hold: sessions, request
 * contexts (a request being served, waiting, or its reply not yet sent) and
 * waiting polls. The unit is the uid, not the connection: a uid can open as
 * many connections as it likes, so caps per connection alone let one uid
 * take every context (four connections that never read their replies did).
 * A uid that no client entry with a grant matches can only HELLO, LIST and
 * STATS, and gets a share to match. The server's own connections (the
 * listener's watchdog probe) are never refused and never counted.
 *
 * Also the rate limiter of per-client warnings: a client must not be able
 * to fill the log.
 */
#include "log.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>

/* A uid with connections: what it holds now. */
struct srv_uid {
	uid_t uid;
	unsigned refs;	   /* sessions objects pointing here (uids_lock) */
	unsigned sessions; /* connected now (uids_lock) */
	atomic_int held;   /* request contexts held */
	atomic_int busy;   /* of them, MMIO_EBUSY answers not yet sent */
	atomic_int polls;  /* waiting polls */
	struct srv_uid *next;
};

/*
 * MMIO_EBUSY answers to refused requests that may wait to be sent, per uid
 * and in all: past that a refused request is dropped unanswered. With the
 * total of held requests capped below the contexts, CONTEXTS_FREE contexts
 * always remain to receive (and refuse) the next message, and the
 * watchdog's probe.
 */
#define BUSY_PER_UID  4
#define BUSY_TOTAL    8
#define CONTEXTS_FREE 8

static pthread_mutex_t uids_lock = PTHREAD_MUTEX_INITIALIZER;
static struct srv_uid *uids;
static unsigned sessions_total;
static atomic_int held_total, busy_total, polls_total;
static atomic_ulong sessions_refused, requests_refused, polls_refused, warnings_suppressed;
static atomic_uint contexts = SRV_CONTEXTS;

void srv_quota_contexts(unsigned n)
{
	atomic_store(&contexts, n);
}

/* Does a client entry with at least one grant match @peer? */
static bool peer_granted(const cfg_policy *p, const struct cfg_peer *peer)
{
	for (size_t i = 0; p && i < cfg_policy_client_count(p); i++) {
		const struct cfg_client *c = cfg_policy_client(p, i);

		if (c->grant_count > 0 && cfg_client_matches(c, peer))
			return true;
	}
	return false;
}

void srv_quota_classify(struct srv_session *s, const struct srv_generation *g)
{
	if (!g || atomic_load(&s->class_gen) == g->id)
		return;
	atomic_store(&s->granted, peer_granted(g->policy, &s->peer));
	atomic_store(&s->class_gen, g->id);
}

bool srv_session_granted(struct srv_session *s, const struct srv_generation *g)
{
	srv_quota_classify(s, g);
	return atomic_load(&s->granted);
}

static struct srv_uid *uid_find(uid_t uid)
{
	for (struct srv_uid *u = uids; u; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

int srv_quota_session_take(struct srv_session *s)
{
	unsigned per_uid = s->granted ? srv.max_sessions_per_uid : srv.ungranted_sessions;
	struct srv_uid *u;
	const char *which = NULL;

	pthread_mutex_lock(&uids_lock);
	u = uid_find(s->peer.uid);
	if (!s->self) {
		if (sessions_total >= srv.max_sessions)
			which = "limits.max_sessions";
		else if ((u ? u->sessions : 0) >= per_uid)
			which = s->granted ? "limits.max_sessions_per_uid"
					   : "limits.ungranted_sessions";
	}
	if (!which && !u) {
		u = calloc(1, sizeof(*u));
		if (!u) {
			pthread_mutex_unlock(&uids_lock);
			return MMIO_ENOMEM;
		}
		u->uid = s->peer.uid;
		u->next = uids;
		uids = u;
	}
	if (which) {
		unsigned now = sessions_total, mine = u ? u->sessions : 0;

		pthread_mutex_unlock(&uids_lock);
		atomic_fetch_add(&sessions_refused, 1);
		srv_warn_client(s->peer.uid, SRV_WARN_SESSION,
				"refusing client uid %u pid %d (%s): %u clients connected, %u of "
				"this uid (%s)",
				(unsigned)s->peer.uid, (int)s->pid,
				s->granted ? "granted" : "no grant", now, mine, which);
		return MMIO_EBUSY;
	}
	u->refs++;
	if (!s->self) {
		u->sessions++;
		sessions_total++;
	}
	s->quota = u;
	pthread_mutex_unlock(&uids_lock);
	return MMIO_OK;
}

void srv_quota_session_leave(struct srv_session *s)
{
	if (!s->quota || s->self)
		return;
	pthread_mutex_lock(&uids_lock);
	s->quota->sessions--;
	sessions_total--;
	pthread_mutex_unlock(&uids_lock);
}

void srv_quota_session_free(struct srv_session *s)
{
	struct srv_uid *u = s->quota;

	if (!u)
		return;
	pthread_mutex_lock(&uids_lock);
	if (--u->refs == 0) {
		for (struct srv_uid **pp = &uids; *pp; pp = &(*pp)->next) {
			if (*pp == u) {
				*pp = u->next;
				break;
			}
		}
		free(u);
	}
	pthread_mutex_unlock(&uids_lock);
	s->quota = NULL;
}

/* Add one to @counter unless it is at @max already; true if added. Lock-free:
 * two racing takers at the cap may both fail, never both succeed past it. */
static bool counter_take(atomic_int *counter, int max)
{
	if (atomic_fetch_add(counter, 1) < max)
		return true;
	atomic_fetch_sub(counter, 1);
	return false;
}

/* The caps of @s's class, clamped so that one uid and all together always
 * leave contexts free for others (whatever the policy says). */
static int uid_request_cap(const struct srv_session *s)
{
	int cap = (int)(s->granted ? srv.max_requests_per_uid : srv.ungranted_requests);
	int most = (int)atomic_load(&contexts) / 2;

	return cap < most ? cap : most;
}

static int total_request_cap(void)
{
	int cap = (int)srv.max_requests_total;
	int most = (int)atomic_load(&contexts) - BUSY_TOTAL - CONTEXTS_FREE;

	return cap < most ? cap : most;
}

int srv_quota_request_take(struct srv_session *s, struct mmio_reason *why)
{
	struct srv_uid *u = s->quota;
	const char *which;
	unsigned cap;

	if (s->self) {
		atomic_fetch_add(&s->inflight, 1);
		return MMIO_OK;
	}
	if (!counter_take(&s->inflight, (int)srv.max_requests)) {
		which = "limits.max_requests";
		cap = MMIO_BUSY_REQUESTS;
	} else if (!counter_take(&u->held, uid_request_cap(s))) {
		atomic_fetch_sub(&s->inflight, 1);
		which = s->granted ? "limits.max_requests_per_uid" : "limits.ungranted_requests";
		cap = MMIO_BUSY_UID_REQUESTS;
	} else if (!counter_take(&held_total, total_request_cap())) {
		atomic_fetch_sub(&u->held, 1);
		atomic_fetch_sub(&s->inflight, 1);
		which = "limits.max_requests_total";
		cap = MMIO_BUSY_ALL_REQUESTS;
	} else {
		return MMIO_OK;
	}
	mmio_reason_set(why, MMIO_EBUSY, MMIO_REASON_BUSY, cap,
			cap == MMIO_BUSY_REQUESTS	? (uint64_t)srv.max_requests
			: cap == MMIO_BUSY_UID_REQUESTS ? (uint64_t)uid_request_cap(s)
							: (uint64_t)total_request_cap());
	atomic_fetch_add(&requests_refused, 1);
	srv_warn_client(s->peer.uid, SRV_WARN_REQUESTS,
			"uid %u pid %d: requests over %s; answering the excess MMIO_EBUSY "
			"(or dropping it while %d such answers wait to be sent)",
			(unsigned)s->peer.uid, (int)s->pid, which, BUSY_PER_UID);
	return MMIO_EBUSY;
}

void srv_quota_request_put(struct srv_session *s)
{
	atomic_fetch_sub(&s->inflight, 1);
	if (s->self)
		return;
	atomic_fetch_sub(&s->quota->held, 1);
	atomic_fetch_sub(&held_total, 1);
}

bool srv_quota_busy_take(struct srv_session *s)
{
	struct srv_uid *u = s->quota;

	if (s->self)
		return true;
	if (!counter_take(&u->busy, BUSY_PER_UID))
		return false;
	if (!counter_take(&busy_total, BUSY_TOTAL)) {
		atomic_fetch_sub(&u->busy, 1);
		return false;
	}
	return true;
}

void srv_quota_busy_put(struct srv_session *s)
{
	if (s->self)
		return;
	atomic_fetch_sub(&s->quota->busy, 1);
	atomic_fetch_sub(&busy_total, 1);
}

bool srv_quota_poll_take(struct srv_session *s, struct mmio_reason *why)
{
	struct srv_uid *u = s->quota;
	unsigned per_uid = s->granted ? srv.max_polls_per_uid : 0;
	const char *which;

	if (s->self)
		return true;
	if (!counter_take(&u->polls, (int)per_uid)) {
		which = "limits.max_polls_per_uid";
		mmio_reason_set(why, MMIO_EBUSY, MMIO_REASON_BUSY, MMIO_BUSY_UID_POLLS, per_uid);
	} else if (!counter_take(&polls_total, (int)srv.max_polls_total)) {
		atomic_fetch_sub(&u->polls, 1);
		which = "limits.max_polls_total";
		mmio_reason_set(why, MMIO_EBUSY, MMIO_REASON_BUSY, MMIO_BUSY_ALL_POLLS,
				srv.max_polls_total);
	} else {
		return true;
	}
	atomic_fetch_add(&polls_refused, 1);
	srv_warn_client(s->peer.uid, SRV_WARN_POLLS,
			"uid %u pid %d: waiting polls over %s; answering MMIO_EBUSY",
			(unsigned)s->peer.uid, (int)s->pid, which);
	return false;
}

void srv_quota_poll_put(struct srv_session *s)
{
	if (s->self)
		return;
	atomic_fetch_sub(&s->quota->polls, 1);
	atomic_fetch_sub(&polls_total, 1);
}

void srv_quota_stats(struct srv_quota_stats *out)
{
	out->requests_held = (unsigned long)atomic_load(&held_total);
	out->busy_held = (unsigned long)atomic_load(&busy_total);
	out->polls_waiting = (unsigned long)atomic_load(&polls_total);
	out->sessions_refused = atomic_load(&sessions_refused);
	out->requests_refused = atomic_load(&requests_refused);
	out->polls_refused = atomic_load(&polls_refused);
	out->warnings_suppressed = atomic_load(&warnings_suppressed);
}

/* ---- rate-limited per-client warnings ---- */

/*
 * One line per uid and kind per interval; the next line says how many were
 * suppressed. A fixed table: when it is full, the stalest entry is reused
 * (its count is lost from the log, never from STATS).
 */
#define WARN_INTERVAL_NS (10ull * 1000000000u)
#define WARN_SLOTS	 64

static struct warn_slot {
	bool used;
	uid_t uid;
	enum srv_warn_kind kind;
	uint64_t last_ns;
	unsigned long suppressed;
} warn_slots[WARN_SLOTS];
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of (@uid, @kind), or the one to reuse for it. warn_lock held. */
static struct warn_slot *warn_slot(uid_t uid, enum srv_warn_kind kind)
{
	struct warn_slot *stalest = &warn_slots[0];

	for (size_t i = 0; i < WARN_SLOTS; i++) {
		struct warn_slot *w = &warn_slots[i];

		if (w->used && w->uid == uid && w->kind == kind)
			return w;
		if (!w->used || (stalest->used && w->last_ns < stalest->last_ns))
			stalest = w;
	}
	*stalest = (struct warn_slot){ .used = true, .uid = uid, .kind = kind };
	return stalest;
}

void srv_warn_client(uid_t uid, enum srv_warn_kind kind, const char *fmt, ...)
{
	uint64_t now = srv_now_ns();
	unsigned long suppressed;
	struct warn_slot *w;
	char line[512];
	va_list ap;

	pthread_mutex_lock(&warn_lock);
	w = warn_slot(uid, kind);
	if (w->last_ns != 0 && now - w->last_ns < WARN_INTERVAL_NS) {
		w->suppressed++;
		pthread_mutex_unlock(&warn_lock);
		atomic_fetch_add(&warnings_suppressed, 1);
		return;
	}
	suppressed = w->suppressed;
	w->suppressed = 0;
	w->last_ns = now;
	pthread_mutex_unlock(&warn_lock);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (suppressed)
		srv_warn("%s (%lu more like it from uid %u suppressed)", line, suppressed,
			 (unsigned)uid);
	else
		srv_warn("%s", line);
}
