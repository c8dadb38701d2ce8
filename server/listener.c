/* SPDX-License-Identifier: MIT */
/*
 * The IPC listener, and the repair of nng 1.5.2's broken accept.
 *
 * nng 1.5.2 (Debian 12) has a bug (upstream issue 1518, fixed in 1.6): a
 * peer that connects and disconnects during the SP handshake makes the
 * listener stop handing new pipes to the socket. The transport still
 * completes handshakes, so later clients believe they are connected but are
 * never served. One raw connect()+close() is enough; any local user who can
 * reach the socket could do it.
 *
 * What we do, without patching nng:
 *  - every listener binds a private path ("<sock>.<n>~") that is then
 *    rename(2)d over the public path, so a replacement can take the public
 *    name atomically, and closing an old listener (nng unlinks the path it
 *    bound) never removes the public name;
 *  - a watchdog thread connects to the public path every PROBE_INTERVAL_MS
 *    and says HELLO, as a client would. If two probes in a row get no
 *    answer, the listener is stalled: a new one replaces it;
 *  - a broken listener is closed as soon as no session pipe of its own is
 *    alive. Closing it drops the connections stuck in its handshake queue;
 *    their nng dialers reconnect to the public path, now the new listener,
 *    and req0 resends their pending request.
 */
#include "log.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <mmio/proto.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROBE_INTERVAL_MS 300
#define PROBE_WAIT_MS	  700

struct retired {
	nng_listener l;
	unsigned gen;	/* its private name is "<path>.<gen>~" */
	unsigned pipes; /* live session pipes accepted by it */
};

/*
 * A stalled nng 1.5.2 listener never frees the connections that finished
 * their handshake while it was stalled (the watchdog's own probes among
 * them), not even once closed: each repair or shed can leave a few
 * descriptors behind for good. Past a sixteenth of the descriptor limit
 * (at least ORPHANS_MIN), held by the listeners one srv_listener closed at
 * least ORPHAN_AGE_MS ago, it is not opened again (the guard counts them).
 */
#define ORPHANS_MIN   32
#define ORPHAN_AGE_MS 2000
#define CLOSED_KEPT   64 /* generations closed, remembered with their time */

static unsigned orphans_max(void)
{
	struct rlimit rl;
	rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			   ? rl.rlim_cur / 16
			   : ORPHANS_MIN;

	return n > ORPHANS_MIN ? (unsigned)(n < 65536 ? n : 65536) : ORPHANS_MIN;
}

struct srv_listener {
	nng_socket sock;
	char path[PATH_MAX];
	/* Held over a whole bind and by srv_listener_set_access(): a repair
	 * never installs a socket with the mode a reload just replaced. Not
	 * ls->lock, which pipe callbacks take while a bind waits on nng. */
	pthread_mutex_t access_lock;
	mode_t mode;
	uid_t owner; /* (uid_t)-1: leave the owner alone */
	gid_t group; /* (gid_t)-1: leave the group alone */

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;
	nng_listener current;
	unsigned current_gen;
	unsigned current_pipes;
	unsigned orphans; /* srv_listener_count_orphans() */
	struct {
		unsigned gen;
		uint64_t at_ms;
	} closed[CLOSED_KEPT]; /* a ring: the last generations closed */
	size_t nclosed;
	uint64_t orphans_warned_ms;
	/* Stalled listeners that still carry sessions; each holds at least one
	 * live session, so there are never more than the sessions allowed. */
	struct retired *retired;
	size_t nretired, retired_cap;
	bool stopping;
	bool shed;		/* srv_listener_shed(): the watchdog sheds at once */
	bool retired_whole;	/* srv_listener_retire(): the path is no longer ours */
	uint64_t shed_last_ms;	/* CLOCK_MONOTONIC of the last shed */
	unsigned shed_pause_ms; /* how long the last shed kept it closed */

	pthread_t watchdog;
	bool started;
	bool watchdog_started;
};

static int ipc_path_from_url(const char *url, char *path, size_t len)
{
	static const char scheme[] = "ipc://";

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return -1;
	url += sizeof(scheme) - 1;
	if (url[0] != '/' || strlen(url) >= len)
		return -1;
	/* sockaddr_un holds at most 107 path bytes. */
	if (strlen(url) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -1;
	snprintf(path, len, "%s", url);
	return 0;
}

/*
 * True if an SP peer accepts connections on @path right now. Asked with a
 * full nng handshake: a raw connect()+close() would itself stall an nng
 * 1.5.2 listener there (issue 1518).
 */
static bool path_has_listener(const char *path)
{
	char url[PATH_MAX + 8];
	nng_socket probe;
	bool live;

	if (nng_req0_open(&probe) != 0)
		return false;
	snprintf(url, sizeof(url), "ipc://%s", path);
	live = nng_dial(probe, url, NULL, 0) == 0;
	nng_close(probe);
	return live;
}

/* Bind a new listener on a private name and move it onto the public path. */
static atomic_uint bind_generation;

static int listener_bind_locked(struct srv_listener *ls, nng_listener *out, unsigned *gen,
				char *err, size_t errlen);

static int listener_bind(struct srv_listener *ls, nng_listener *out, unsigned *gen, char *err,
			 size_t errlen)
{
	int rc;

	pthread_mutex_lock(&ls->access_lock);
	rc = listener_bind_locked(ls, out, gen, err, errlen);
	pthread_mutex_unlock(&ls->access_lock);
	return rc;
}

static int listener_bind_locked(struct srv_listener *ls, nng_listener *out, unsigned *gen,
				char *err, size_t errlen)
{
	char tmp[PATH_MAX + 32], url[PATH_MAX + 48];
	nng_listener l;
	int rv;

	/* One counter for all listeners: a door opened again on the path of a
	 * retired one never takes a name the old one's connections carry. */
	*gen = atomic_fetch_add(&bind_generation, 1);
	snprintf(tmp, sizeof(tmp), "%s.%u~", ls->path, *gen);
	if (strlen(tmp) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (at most %zu bytes)", ls->path,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 8);
		return -1;
	}
	unlink(tmp);
	snprintf(url, sizeof(url), "ipc://%s", tmp);
	if ((rv = nng_listener_create(&l, ls->sock, url)) != 0 ||
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int)ls->mode)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", tmp, nng_strerror(rv));
		return -1;
	}
	/* nng applies the mode; owner, group and mode are ours to make exact.
	 * The mode first: once the file is a client's (a door), changing it
	 * would take CAP_FOWNER, which the unit does not grant. */
	if (chmod(tmp, ls->mode) != 0) {
		snprintf(err, errlen, "cannot give %s mode %04o: %s", tmp, (unsigned)ls->mode,
			 strerror(errno));
		goto fail;
	}
	if ((ls->owner != (uid_t)-1 || ls->group != (gid_t)-1) &&
	    chown(tmp, ls->owner, ls->group) != 0) {
		snprintf(err, errlen, "cannot give %s to uid %d gid %d: %s", tmp,
			 ls->owner == (uid_t)-1 ? -1 : (int)ls->owner,
			 ls->group == (gid_t)-1 ? -1 : (int)ls->group, strerror(errno));
		goto fail;
	}
	if (rename(tmp, ls->path) != 0) {
		snprintf(err, errlen, "cannot install socket %s: %s", ls->path, strerror(errno));
		goto fail;
	}
	*out = l;
	return 0;
fail:
	nng_listener_close(l);
	return -1;
}

/* Move all @len bytes of @buf through @fd (out: send, else receive) by
 * @deadline_ms (CLOCK_MONOTONIC). */
static bool probe_io(int fd, uint8_t *buf, size_t len, bool out, uint64_t deadline_ms)
{
	while (len > 0) {
		uint64_t now_ms = srv_now_ns() / 1000000u;
		struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
		ssize_t n;

		if (now_ms >= deadline_ms || poll(&pfd, 1, (int)(deadline_ms - now_ms)) <= 0)
			return false;
		n = out ? send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, buf, len, MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			return false;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return true;
}

/*
 * Ask the server through its public path, as a client would: connect, the
 * SP handshake, a HELLO, the first bytes of a reply, close. A stalled
 * listener still does the handshake but never reads the request. The probe
 * speaks the SP framing itself on a plain socket: once nng 1.5.2's reaper
 * is stuck (tests/BAD_INPUTS.md, H13), closing an nng socket never returns,
 * and the watchdog must go on shedding.
 */
static bool listener_probe(struct srv_listener *ls)
{
	static const uint8_t sp_req0[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	struct proto_request hello = { .opcode = PROTO_OP_HELLO };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t deadline_ms = srv_now_ns() / 1000000u + PROBE_WAIT_MS;
	uint8_t msg[64], peer[9];
	size_t len = 0;
	bool ok;
	int fd;

	hello.hello.min_version = PROTO_VERSION_MIN;
	hello.hello.max_version = PROTO_VERSION_MAX;
	if (proto_request_encode(&hello, msg + 13, sizeof(msg) - 13, &len) != MMIO_OK ||
	    strlen(ls->path) >= sizeof(a.sun_path))
		return true; /* cannot tell; do not churn listeners */
	/* An SP message: type 1, its length (u64), the request id, the body. */
	msg[0] = 1;
	for (int i = 0; i < 8; i++)
		msg[1 + i] = (uint8_t)((uint64_t)(len + 4) >> (56 - 8 * i));
	memcpy(msg + 9, (const uint8_t[4]){ 0x80, 0, 0, 1 }, 4);
	memcpy(a.sun_path, ls->path, strlen(ls->path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return true;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
		/* Nobody listens at the public path (it was removed or
		 * replaced): repair. Anything else says nothing about us. */
		ok = errno != ECONNREFUSED && errno != ENOENT;
	} else {
		ok = probe_io(fd, (uint8_t *)sp_req0, 8, true, deadline_ms) &&
		     probe_io(fd, peer, 8, false, deadline_ms) &&
		     probe_io(fd, msg, 13 + len, true, deadline_ms) &&
		     probe_io(fd, peer, 9, false, deadline_ms) && peer[0] == 1;
	}
	close(fd);
	return ok;
}

/* Remember that generation @gen was closed now (ls->lock held). */
static void closed_note(struct srv_listener *ls, unsigned gen)
{
	ls->closed[ls->nclosed % CLOSED_KEPT].gen = gen;
	ls->closed[ls->nclosed % CLOSED_KEPT].at_ms = srv_now_ns() / 1000000u;
	ls->nclosed++;
}

/*
 * May @ls listen again? Not once the listeners it closed hold orphans_max()
 * descriptors nng will not free: a storm that stalls it again and again
 * would otherwise take the server's descriptors a few at a time. Said once
 * a minute.
 */
static bool listener_may_reopen(struct srv_listener *ls)
{
	uint64_t now_ms = srv_now_ns() / 1000000u;
	bool warn = false, ok;

	pthread_mutex_lock(&ls->lock);
	ok = ls->orphans < orphans_max();
	if (!ok && now_ms - ls->orphans_warned_ms >= 60000) {
		ls->orphans_warned_ms = now_ms;
		warn = true;
	}
	pthread_mutex_unlock(&ls->lock);
	if (warn)
		srv_error(
			"listener: %s stays closed: the listeners it replaced hold %d descriptors "
			"that nng 1.5.2 does not free (issue 1518); restart the server to listen "
			"there again, and keep the storm's account from the socket",
			ls->path, (int)orphans_max());
	return ok;
}

/*
 * Replace the stalled current listener. nng calls are made without ls->lock
 * held: the pipe callbacks take it, and a listener's close or start can wait
 * for those callbacks.
 */
static void listener_repair(struct srv_listener *ls)
{
	char err[256];
	nng_listener fresh;
	struct retired *grown;

	unsigned gen;

	/* Only the watchdog thread binds after start: generation needs no lock. */
	if (!listener_may_reopen(ls))
		return;
	if (listener_bind(ls, &fresh, &gen, err, sizeof(err)) != 0) {
		srv_error("listener: repair failed: %s", err);
		return;
	}
	pthread_mutex_lock(&ls->lock);
	if (ls->nretired == ls->retired_cap) {
		size_t cap = ls->retired_cap ? 2 * ls->retired_cap : 4;
		grown = realloc(ls->retired, cap * sizeof(*grown));
		if (!grown) {
			/* Keep the new listener serving; the old one must go now. */
			nng_listener stalled = ls->current;
			closed_note(ls, ls->current_gen);
			ls->current = fresh;
			ls->current_gen = gen;
			ls->current_pipes = 0;
			pthread_mutex_unlock(&ls->lock);
			srv_error("listener: out of memory; closing the stalled listener");
			nng_listener_close(stalled);
			return;
		}
		ls->retired = grown;
		ls->retired_cap = cap;
	}
	ls->retired[ls->nretired].l = ls->current;
	ls->retired[ls->nretired].gen = ls->current_gen;
	ls->retired[ls->nretired].pipes = ls->current_pipes;
	ls->nretired++;
	ls->current = fresh;
	ls->current_gen = gen;
	ls->current_pipes = 0;
	pthread_mutex_unlock(&ls->lock);
	srv_warn("listener: accept stalled (a peer left during the handshake, nng issue 1518); "
		 "now listening on a fresh socket at %s",
		 ls->path);
}

/* Close stalled listeners whose sessions are all gone. */
static void listener_reap(struct srv_listener *ls)
{
	nng_listener idle[16];
	size_t nidle = 0;

	pthread_mutex_lock(&ls->lock);
	for (size_t i = 0; i < ls->nretired && nidle < 16;) {
		if (ls->retired[i].pipes == 0) {
			idle[nidle++] = ls->retired[i].l;
			closed_note(ls, ls->retired[i].gen);
			ls->retired[i] = ls->retired[--ls->nretired];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&ls->lock);
	for (size_t i = 0; i < nidle; i++)
		nng_listener_close(idle[i]);
}

/*
 * A listener shed again within SHED_CALM_MS of the last shed stays closed
 * twice as long as the last time, from SHED_PAUSE_MIN_MS up to
 * SHED_PAUSE_MAX_MS: a storm that refills it at once then meets a refused
 * connect(2), not the server's descriptor table.
 */
#define SHED_PAUSE_MIN_MS 50
#define SHED_PAUSE_MAX_MS 1000
#define SHED_CALM_MS	  2000

/* Wait @ms on ls->wake unless the listener stops (ls->lock held). */
static void listener_pause(struct srv_listener *ls, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (!ls->stopping && pthread_cond_timedwait(&ls->wake, &ls->lock, &until) == 0)
		;
}

/*
 * Close the listener and every stalled one, sessions and all (the
 * descriptors of connections still in, or stuck after, nng's handshake are
 * freed only with their listener), pause, then listen afresh.
 */
static void listener_shed_now(struct srv_listener *ls)
{
	uint64_t now_ms = srv_now_ns() / 1000000u;
	char err[256];
	nng_listener fresh, old;
	struct retired *gone;
	size_t ngone;
	unsigned gen;

	pthread_mutex_lock(&ls->lock);
	old = ls->current;
	gone = ls->retired;
	ngone = ls->nretired;
	closed_note(ls, ls->current_gen);
	for (size_t i = 0; i < ngone; i++)
		closed_note(ls, gone[i].gen);
	ls->current = (nng_listener)NNG_LISTENER_INITIALIZER;
	ls->current_gen = UINT_MAX; /* none: what the closed one held is orphaned */
	ls->current_pipes = 0;
	ls->retired = NULL;
	ls->nretired = ls->retired_cap = 0;
	ls->shed_pause_ms = now_ms - ls->shed_last_ms < SHED_CALM_MS && ls->shed_pause_ms
				    ? ls->shed_pause_ms * 2
				    : SHED_PAUSE_MIN_MS;
	if (ls->shed_pause_ms > SHED_PAUSE_MAX_MS)
		ls->shed_pause_ms = SHED_PAUSE_MAX_MS;
	ls->shed_last_ms = now_ms;
	pthread_mutex_unlock(&ls->lock);
	nng_listener_close(old);
	for (size_t i = 0; i < ngone; i++)
		nng_listener_close(gone[i].l);
	free(gone);

	pthread_mutex_lock(&ls->lock);
	listener_pause(ls, ls->shed_pause_ms);
	/* A shed asked for during the pause was for what is already closed. */
	ls->shed = false;
	bool stopping = ls->stopping;
	pthread_mutex_unlock(&ls->lock);
	if (stopping || !listener_may_reopen(ls))
		return;
	if (listener_bind(ls, &fresh, &gen, err, sizeof(err)) != 0) {
		/* The watchdog's next probe finds nobody there and repairs. */
		srv_error("listener: cannot listen again on %s after shedding it: %s", ls->path,
			  err);
		return;
	}
	pthread_mutex_lock(&ls->lock);
	ls->current = fresh;
	ls->current_gen = gen;
	pthread_mutex_unlock(&ls->lock);
}

static void *listener_watchdog(void *arg)
{
	struct srv_listener *ls = arg;

	pthread_mutex_lock(&ls->lock);
	while (!ls->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PROBE_INTERVAL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!ls->shed)
			pthread_cond_timedwait(&ls->wake, &ls->lock, &until);
		if (ls->stopping)
			break;
		if (ls->shed) {
			ls->shed = false;
			pthread_mutex_unlock(&ls->lock);
			listener_shed_now(ls);
			pthread_mutex_lock(&ls->lock);
			continue;
		}
		pthread_mutex_unlock(&ls->lock);
		/* A stall persists; a slow moment does not: ask twice. */
		if (!listener_probe(ls) && !listener_probe(ls))
			listener_repair(ls);
		listener_reap(ls);
		pthread_mutex_lock(&ls->lock);
	}
	pthread_mutex_unlock(&ls->lock);
	return NULL;
}

int srv_listener_new(nng_socket sock, const char *url, unsigned mode, long owner, long group,
		     struct srv_listener **out, char *err, size_t errlen)
{
	struct srv_listener *ls = calloc(1, sizeof(*ls));

	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ipc_path_from_url(url, ls->path, sizeof(ls->path)) != 0) {
		snprintf(err, errlen,
			 "listen URL \"%s\" must be ipc:///absolute/path (at most 100 bytes): "
			 "clients are identified by the kernel's peer credentials, which only "
			 "local sockets carry",
			 url);
		free(ls);
		return -1;
	}
	ls->sock = sock;
	ls->mode = (mode_t)mode;
	ls->owner = owner < 0 ? (uid_t)-1 : (uid_t)owner;
	ls->group = group < 0 ? (gid_t)-1 : (gid_t)group;
	pthread_mutex_init(&ls->lock, NULL);
	pthread_mutex_init(&ls->access_lock, NULL);
	pthread_cond_init(&ls->wake, NULL);
	*out = ls;
	return 0;
}

int srv_listener_start(struct srv_listener *ls, char *err, size_t errlen)
{
	char dir[PATH_MAX];

	/* The socket's directory (e.g. /run/mmio) may not exist yet. */
	snprintf(dir, sizeof(dir), "%s", ls->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create socket directory %s: %s", dir,
				 strerror(errno));
			return -1;
		}
	}
	if (path_has_listener(ls->path)) {
		snprintf(err, errlen,
			 "another server is already listening on %s (stop it, or choose "
			 "another server.listen)",
			 ls->path);
		return -1;
	}
	nng_listener first;
	unsigned gen;
	if (listener_bind(ls, &first, &gen, err, errlen) != 0)
		return -1;
	/* Published under the lock: pipe callbacks and the guard read them. */
	pthread_mutex_lock(&ls->lock);
	ls->current = first;
	ls->current_gen = gen;
	ls->started = true;
	pthread_mutex_unlock(&ls->lock);
	if (pthread_create(&ls->watchdog, NULL, listener_watchdog, ls) != 0) {
		snprintf(err, errlen, "cannot start the listener watchdog thread");
		return -1;
	}
	ls->watchdog_started = true;
	return 0;
}

int srv_listener_set_access(struct srv_listener *ls, unsigned mode, long group, char *err,
			    size_t errlen)
{
	gid_t g = group < 0 ? (gid_t)-1 : (gid_t)group;
	int rc = 0;

	pthread_mutex_lock(&ls->access_lock);
	if (chmod(ls->path, (mode_t)mode) != 0 || chown(ls->path, (uid_t)-1, g) != 0) {
		snprintf(err, errlen, "cannot give %s mode %04o group %ld: %s", ls->path, mode,
			 group, strerror(errno));
		rc = -1;
	} else {
		ls->mode = (mode_t)mode;
		ls->group = g;
	}
	pthread_mutex_unlock(&ls->access_lock);
	return rc;
}

const char *srv_listener_path(const struct srv_listener *ls)
{
	return ls->path;
}

/*
 * Pipe callbacks run under nng's socket lock: only our own state and pipe
 * (not socket) calls here.
 */
void srv_listener_pipe_event(struct srv_listener *ls, nng_pipe p, nng_pipe_ev ev)
{
	nng_listener owner = nng_pipe_listener(p);
	int delta = ev == NNG_PIPE_EV_ADD_POST ? 1 : ev == NNG_PIPE_EV_REM_POST ? -1 : 0;

	if (delta == 0)
		return;
	pthread_mutex_lock(&ls->lock);
	if (nng_listener_id(owner) == nng_listener_id(ls->current)) {
		/* A pipe of a listener not yet published as current missed its
		 * ADD_POST here: never count below zero. */
		if (delta > 0 || ls->current_pipes > 0)
			ls->current_pipes += (unsigned)delta;
	} else {
		for (size_t i = 0; i < ls->nretired; i++) {
			if (nng_listener_id(ls->retired[i].l) == nng_listener_id(owner))
				if (delta > 0 || ls->retired[i].pipes > 0)
					ls->retired[i].pipes += (unsigned)delta;
		}
	}
	pthread_mutex_unlock(&ls->lock);
}

void srv_listener_stop(struct srv_listener *ls)
{
	if (!ls || !ls->watchdog_started)
		return;
	pthread_mutex_lock(&ls->lock);
	ls->stopping = true;
	pthread_cond_signal(&ls->wake);
	pthread_mutex_unlock(&ls->lock);
	pthread_join(ls->watchdog, NULL);
	ls->watchdog_started = false;
}

void srv_listener_shed(struct srv_listener *ls)
{
	pthread_mutex_lock(&ls->lock);
	ls->shed = true;
	pthread_cond_signal(&ls->wake);
	pthread_mutex_unlock(&ls->lock);
}

/* The generation in @name if it is one of @ls's private names ("<path>.<n>~"), else -1. */
static long bound_gen(const struct srv_listener *ls, const char *name)
{
	size_t n = strlen(ls->path);
	const char *p = name + n;
	char *end;

	if (strncmp(name, ls->path, n) != 0 || *p++ != '.' || *p < '0' || *p > '9')
		return -1;
	unsigned long gen = strtoul(p, &end, 10);
	return end[0] == '~' && end[1] == '\0' && gen <= UINT_MAX ? (long)gen : -1;
}

bool srv_listener_bound_here(const struct srv_listener *ls, const char *name)
{
	return bound_gen(ls, name) >= 0;
}

/* Is generation @gen one @ls still listens with (ls->lock held)? */
static bool gen_live(const struct srv_listener *ls, unsigned gen)
{
	if (ls->started && gen == ls->current_gen)
		return true;
	for (size_t k = 0; k < ls->nretired; k++)
		if (ls->retired[k].gen == gen)
			return true;
	return false;
}

/* Was @gen closed less than ORPHAN_AGE_MS ago (nng may still free what it
 * held)? ls->lock held. */
static bool gen_closing(const struct srv_listener *ls, unsigned gen, uint64_t now_ms)
{
	size_t kept = ls->nclosed < CLOSED_KEPT ? ls->nclosed : CLOSED_KEPT;

	for (size_t k = 0; k < kept; k++)
		if (ls->closed[k].gen == gen)
			return now_ms - ls->closed[k].at_ms < ORPHAN_AGE_MS;
	return false;
}

unsigned srv_listener_count_orphans(struct srv_listener *ls, const char (*names)[108], size_t n)
{
	uint64_t now_ms = srv_now_ns() / 1000000u;
	unsigned orphans = 0;

	pthread_mutex_lock(&ls->lock);
	for (size_t i = 0; i < n; i++) {
		long gen = bound_gen(ls, names[i]);

		orphans += gen >= 0 && !gen_live(ls, (unsigned)gen) &&
			   !gen_closing(ls, (unsigned)gen, now_ms);
	}
	ls->orphans = orphans;
	pthread_mutex_unlock(&ls->lock);
	return orphans;
}

void srv_listener_retire(struct srv_listener *ls)
{
	if (!ls)
		return;
	srv_listener_stop(ls);
	if (ls->started && !ls->retired_whole)
		unlink(ls->path);
	ls->retired_whole = true;
}

unsigned srv_listener_pipes(struct srv_listener *ls)
{
	unsigned n;

	pthread_mutex_lock(&ls->lock);
	n = ls->current_pipes;
	for (size_t i = 0; i < ls->nretired; i++)
		n += ls->retired[i].pipes;
	pthread_mutex_unlock(&ls->lock);
	return n;
}

void srv_listener_close(struct srv_listener *ls)
{
	if (!ls)
		return;
	srv_listener_stop(ls);
	/* After nng_close() of the socket these are closed already; harmless. */
	for (size_t i = 0; i < ls->nretired; i++)
		nng_listener_close(ls->retired[i].l);
	if (ls->started) {
		nng_listener_close(ls->current);
		if (!ls->retired_whole)
			unlink(ls->path);
	}
	pthread_cond_destroy(&ls->wake);
	pthread_mutex_destroy(&ls->lock);
	pthread_mutex_destroy(&ls->access_lock);
	free(ls->retired);
	free(ls);
}
