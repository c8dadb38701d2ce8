/* SPDX-License-Identifier: MIT */
/*
 * Direct grants: MAP hands out a one-time token; the client presents it on
 * the descriptor channel, a SOCK_SEQPACKET socket next to the nng socket
 * ("<socket path>.fd"), and receives the device's descriptor by SCM_RIGHTS
 * (nng cannot carry descriptors). The kernel's SO_PEERCRED on
 * that socket must name the uid that asked over nng.
 *
 * A read-only grant gets a read-only descriptor, reopened from
 * /proc/self/fd: mmap(PROT_WRITE, MAP_SHARED) on it fails in the kernel.
 *
 * A MAP token is worth what its handle is worth when it is presented, not
 * when it was issued: closing the handle, a reload that revokes it or
 * changes its rights, UNMAP, and the end of the session drop its tokens
 * (srv_grants_forget_handle()), each before it completes, and the channel
 * holds tokens_lock from finding a token until its descriptor is sent. So a
 * token found is a handle still open with the rights of its descriptor, and
 * a handle closed (its exclusive range free for another client) has no
 * token left. The channel never waits for a session's lock: a long copy
 * holds it, and one thread serves every client's pickups.
 *
 * Tokens are capped per session, per uid and, for BUF_ATTACH, all together
 * (SRV_TOKENS_*), so that neither one uid nor buffer tokens can take the
 * table from the MAP tokens of another uid.
 */
#include "log.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * A token of MAP (the server hands a descriptor over) or of BUF_ATTACH (the
 * client hands one in, with the token).
 */
struct token {
	uint64_t value;
	bool buffer;	      /* BUF_ATTACH: expects a memfd of @length bytes */
	uid_t uid;	      /* who asked over nng */
	uint32_t pipe_id;     /* its session */
	uint32_t handle;      /* MAP: the handle (its id in the session) */
	int fd;		      /* MAP: the descriptor to hand over (ours until sent); else -1 */
	uint64_t mmap_offset; /* MAP: where the handle starts in @fd */
	uint64_t length;      /* BUF_ATTACH: the buffer's size */
	uint64_t expires_ns;
};

/* Connections waiting for their token, and how long each may wait. */
#define CHAN_PENDING_MAX 32
#define CHAN_DEADLINE_MS 1000
/*
 * After accept() fails for want of a descriptor (EMFILE, ENFILE), the
 * listening socket stays readable: poll() would return at once and the
 * thread spin. It is left out of poll() this long instead; the connection
 * waits in the backlog until a descriptor is free.
 */
#define CHAN_ACCEPT_BACKOFF_MS 100

static pthread_mutex_t tokens_lock = PTHREAD_MUTEX_INITIALIZER;
static struct token tokens[SRV_TOKENS_MAX];
static size_t ntokens;

static int chan_fd = -1;
static int stop_pipe[2] = { -1, -1 };
static pthread_t chan_thread;
static bool chan_running;
static char chan_path[PATH_MAX];

/* Drop token @i (tokens_lock held). */
static void token_drop(size_t i)
{
	if (tokens[i].fd >= 0)
		close(tokens[i].fd);
	tokens[i] = tokens[--ntokens];
}

static void tokens_expire(uint64_t now);

/* The cap @t would pass (tokens_lock held), or 0 if there is room. */
static unsigned token_cap_reached(const struct token *t)
{
	size_t session = 0, uid = 0, buffers = 0;

	for (size_t i = 0; i < ntokens; i++) {
		session += tokens[i].pipe_id == t->pipe_id;
		uid += tokens[i].uid == t->uid;
		buffers += tokens[i].buffer;
	}
	return ntokens >= SRV_TOKENS_MAX			? SRV_TOKENS_MAX
	       : session >= SRV_TOKENS_PER_SESSION		? SRV_TOKENS_PER_SESSION
	       : uid >= SRV_TOKENS_PER_UID			? SRV_TOKENS_PER_UID
	       : t->buffer && buffers >= SRV_TOKENS_BUFFERS_MAX ? SRV_TOKENS_BUFFERS_MAX
								: 0;
}

/* Add @t (tokens_lock not held). MMIO_OK or MMIO_ENOMEM (then @t's fd is
 * closed; @why: MMIO_REASON_LIMIT, the cap reached). */
static int token_add(struct token *t, struct mmio_reason *why)
{
	unsigned cap;

	pthread_mutex_lock(&tokens_lock);
	tokens_expire(srv_now_ns());
	cap = token_cap_reached(t);
	if (cap) {
		pthread_mutex_unlock(&tokens_lock);
		srv_debug("uid %u: %s token refused: too many outstanding (per client %u, per "
			  "uid %u, buffers %u, all %u)",
			  (unsigned)t->uid, t->buffer ? "buffer" : "MAP",
			  (unsigned)SRV_TOKENS_PER_SESSION, (unsigned)SRV_TOKENS_PER_UID,
			  (unsigned)SRV_TOKENS_BUFFERS_MAX, (unsigned)SRV_TOKENS_MAX);
		if (t->fd >= 0)
			close(t->fd);
		return mmio_reason_set(why, MMIO_ENOMEM, MMIO_REASON_LIMIT, MMIO_LIMIT_TOKENS, cap);
	}
	tokens[ntokens++] = *t;
	pthread_mutex_unlock(&tokens_lock);
	return MMIO_OK;
}

/* A fresh random token value (never 0). */
static int token_value(uint64_t *v)
{
	if (getrandom(v, sizeof(*v), 0) != sizeof(*v) || *v == 0)
		return MMIO_EINTERNAL;
	return MMIO_OK;
}

static void tokens_expire(uint64_t now)
{
	for (size_t i = 0; i < ntokens;) {
		if (tokens[i].expires_ns <= now)
			token_drop(i);
		else
			i++;
	}
}

bool srv_grants_available(void)
{
	return chan_running;
}

int srv_grant_issue(struct srv_session *s, struct srv_handle *h, struct proto_map_rep *rep,
		    struct mmio_reason *why)
{
	char path[64];
	struct token t = { .fd = -1 };
	int status;

	if (!chan_running || (h->dev->dev.fd < 0 && !h->windowed))
		return MMIO_EACCES;
	if (token_value(&t.value) != MMIO_OK)
		return MMIO_EINTERNAL;
	t.mmap_offset = h->dev->dev.fd_offset + h->offset;
	if (h->windowed && !h->dev->sim) {
		status = srv_window_grant(h, &t.fd, &t.mmap_offset);
		if (status != MMIO_OK)
			return status;
	} else if (h->access & MMIO_ACCESS_WRITE) {
		t.fd = fcntl(h->dev->dev.fd, F_DUPFD_CLOEXEC, 0);
	} else {
		/* Read-only grants get a read-only open of the same object. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", h->dev->dev.fd);
		t.fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (t.fd < 0)
		return errno == EMFILE || errno == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
	t.uid = s->peer.uid;
	t.pipe_id = s->pipe_id;
	t.handle = h->id;
	t.expires_ns = srv_now_ns() + (uint64_t)SRV_TOKEN_LIFETIME_MS * 1000000u;
	status = token_add(&t, why);
	if (status != MMIO_OK)
		return status;
	rep->token = t.value;
	rep->length = h->size;
	rep->offset = 0;
	srv_handle_set_mapped(h, s->pid);
	return MMIO_OK;
}

int srv_grant_buffer_token(struct srv_session *s, uint64_t length, uint64_t *token,
			   struct mmio_reason *why)
{
	struct token t = { .fd = -1, .buffer = true };
	int status;

	if (!chan_running)
		return MMIO_EACCES;
	if (token_value(&t.value) != MMIO_OK)
		return MMIO_EINTERNAL;
	t.uid = s->peer.uid;
	t.pipe_id = s->pipe_id;
	t.length = length;
	t.expires_ns = srv_now_ns() + (uint64_t)SRV_TOKEN_LIFETIME_MS * 1000000u;
	status = token_add(&t, why);
	if (status == MMIO_OK)
		*token = t.value;
	return status;
}

int srv_grant_fd_token(struct srv_session *s, int fd, uint64_t *token, struct mmio_reason *why)
{
	struct token t = { .fd = fd };
	int status;

	if (!chan_running || token_value(&t.value) != MMIO_OK) {
		close(fd);
		return chan_running ? MMIO_EINTERNAL : MMIO_EACCES;
	}
	t.uid = s->peer.uid;
	t.pipe_id = s->pipe_id;
	t.expires_ns = srv_now_ns() + (uint64_t)SRV_TOKEN_LIFETIME_MS * 1000000u;
	status = token_add(&t, why);
	if (status == MMIO_OK)
		*token = t.value;
	return status;
}

/* Drop the unclaimed tokens of session @pipe_id: all of them (@all), or
 * the MAP tokens of its handle @handle. */
static void tokens_forget(uint32_t pipe_id, bool all, uint32_t handle)
{
	pthread_mutex_lock(&tokens_lock);
	for (size_t i = 0; i < ntokens;) {
		if (tokens[i].pipe_id == pipe_id &&
		    (all || (!tokens[i].buffer && tokens[i].handle == handle)))
			token_drop(i);
		else
			i++;
	}
	pthread_mutex_unlock(&tokens_lock);
}

void srv_grants_forget(uint32_t pipe_id)
{
	tokens_forget(pipe_id, true, 0);
}

void srv_grants_forget_handle(uint32_t pipe_id, uint32_t handle)
{
	tokens_forget(pipe_id, false, handle);
}

/* The reply on the channel: status (i32 LE), 4 zero bytes, then a u64 LE:
 * the mmap offset (MAP), or the buffer id (BUF_ATTACH). */
/* The channel's reply: status, and a refusal's reason (bytes 4 and 5: code
 * and a; the u64: b) or a success's value (PROTOCOL.md, BUF_ATTACH). */
static void chan_reply(int conn, int status, uint64_t mmap_offset, int fd,
		       const struct mmio_reason *why)
{
	uint8_t buf[16] = { 0 };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)((uint32_t)status >> (8 * i));
	if (status < 0 && why && why->code != 0 && why->a <= UINT8_MAX) {
		buf[4] = (uint8_t)why->code;
		buf[5] = (uint8_t)why->a;
		mmap_offset = why->b;
	}
	for (int i = 0; i < 8; i++)
		buf[8 + i] = (uint8_t)(mmap_offset >> (8 * i));
	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(conn, &msg, MSG_NOSIGNAL) < 0)
		srv_debug("descriptor channel: reply not delivered: %s", strerror(errno));
}

/*
 * The message waiting on @conn (poll said it is readable): a token (8 bytes,
 * u64 LE) and, for a buffer token, one descriptor. Every other descriptor a
 * peer sends is closed. Returns the byte count, or -1.
 */
static ssize_t chan_receive(int conn, uint64_t *value, int *fd)
{
	uint8_t buf[16];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	ssize_t n;

	*fd = -1;
	*value = 0;
	memset(&control, 0, sizeof(control));
	n = recvmsg(conn, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int one;
			memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = one;
			else
				close(one);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		/* Descriptors that did not fit were closed by the kernel; refuse. */
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	for (int i = 0; i < 8 && i < n; i++)
		*value |= (uint64_t)buf[i] << (8 * i);
	return n;
}

static void chan_serve_one(int conn)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uint64_t value = 0, answer = 0;
	struct token t = { .fd = -1 };
	struct mmio_reason why = { 0 };
	int status = MMIO_EACCES, fd;
	bool replied = false;
	ssize_t n;

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return;
	n = chan_receive(conn, &value, &fd);
	if (n != 8) {
		if (fd >= 0)
			close(fd);
		chan_reply(conn, MMIO_EPROTO, 0, -1, NULL);
		return;
	}

	/*
	 * Single use: whoever presents it, a token is gone afterwards. A MAP
	 * token's descriptor leaves before tokens_lock does, so its handle
	 * cannot be closed or revoked in between (top of the file).
	 */
	pthread_mutex_lock(&tokens_lock);
	tokens_expire(srv_now_ns());
	for (size_t i = 0; i < ntokens; i++) {
		if (tokens[i].value == value) {
			t = tokens[i];
			tokens[i] = tokens[--ntokens];
			break;
		}
	}
	if (t.value != 0 && !t.buffer && t.uid == cred.uid) {
		chan_reply(conn, MMIO_OK, t.mmap_offset, t.fd, NULL);
		replied = true;
	}
	pthread_mutex_unlock(&tokens_lock);

	if (t.value != 0 && t.uid != cred.uid) {
		srv_warn("descriptor channel: uid %u pid %d presented a token issued to uid %u; "
			 "refused, token revoked",
			 (unsigned)cred.uid, (int)cred.pid, (unsigned)t.uid);
	} else if (t.value == 0) {
		srv_log(SRV_LOG_NOTICE,
			"audit: uid=%u pid=%d op=CHANNEL status=MMIO_EACCES (unknown, used or "
			"expired token, or its handle closed or revoked)",
			(unsigned)cred.uid, (int)cred.pid);
	} else if (t.buffer && fd < 0) {
		status = mmio_reason_set(&why, MMIO_EINVAL, MMIO_REASON_BUFFER, MMIO_BUFFER_MISSING,
					 0);
	} else if (t.buffer) {
		uint32_t id = 0;

		status = srv_buffer_adopt(t.pipe_id, t.length, fd, &id, &why);
		fd = -1; /* taken */
		answer = id;
	}
	if (fd >= 0)
		close(fd);
	if (!replied)
		chan_reply(conn, status, status == MMIO_OK ? answer : 0, -1, &why);
	if (t.fd >= 0)
		close(t.fd);
}

/*
 * One thread serves every connection, none of which may hold it up: each
 * waits in a small set (CHAN_PENDING_MAX, the oldest dropped when full)
 * until its token arrives or CHAN_DEADLINE_MS pass. A client that connects
 * and says nothing costs a slot for a second, not the channel.
 */
struct chan_pending {
	int fd;
	uint64_t deadline_ns;
};

static void pending_drop(struct chan_pending *p, size_t *n, size_t i)
{
	close(p[i].fd);
	p[i] = p[--*n];
}

static void *chan_loop(void *arg)
{
	struct chan_pending pend[CHAN_PENDING_MAX];
	struct pollfd fds[2 + CHAN_PENDING_MAX];
	size_t npend = 0;
	uint64_t accept_after = 0; /* CHAN_ACCEPT_BACKOFF_MS after EMFILE */

	(void)arg;
	for (;;) {
		uint64_t now = srv_now_ns();
		int timeout = -1;

		/* A negative descriptor is one poll() skips. */
		fds[0] = (struct pollfd){ .fd = now < accept_after ? -1 : chan_fd,
					  .events = POLLIN };
		if (now < accept_after)
			timeout = (int)((accept_after - now) / 1000000u) + 1;
		fds[1] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN };
		for (size_t i = 0; i < npend; i++) {
			uint64_t left = pend[i].deadline_ns > now ? pend[i].deadline_ns - now : 0;
			int ms = (int)(left / 1000000u) + 1;

			fds[2 + i] = (struct pollfd){ .fd = pend[i].fd, .events = POLLIN };
			if (timeout < 0 || ms < timeout)
				timeout = ms;
		}
		if (poll(fds, 2 + npend, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		/* Backwards: dropping i moves the last (already seen) one into i. */
		now = srv_now_ns();
		for (size_t i = npend; i-- > 0;) {
			if (fds[2 + i].revents) {
				chan_serve_one(pend[i].fd);
				pending_drop(pend, &npend, i);
			} else if (pend[i].deadline_ns <= now) {
				pending_drop(pend, &npend, i);
			}
		}
		if (fds[0].revents & POLLIN) {
			int conn = accept4(chan_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (conn < 0) {
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				    errno == ENOMEM)
					accept_after =
						now + (uint64_t)CHAN_ACCEPT_BACKOFF_MS * 1000000u;
				continue;
			}
			if (npend == CHAN_PENDING_MAX) {
				size_t oldest = 0;
				for (size_t i = 1; i < npend; i++)
					if (pend[i].deadline_ns < pend[oldest].deadline_ns)
						oldest = i;
				pending_drop(pend, &npend, oldest);
			}
			pend[npend++] =
				(struct chan_pending){ conn, now + (uint64_t)CHAN_DEADLINE_MS *
									     1000000u };
		}
	}
	while (npend)
		pending_drop(pend, &npend, 0);
	return NULL;
}

int srv_grants_start(const char *socket_path, unsigned mode, long group, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (snprintf(chan_path, sizeof(chan_path), "%s.fd", socket_path) >=
	    (int)sizeof(addr.sun_path)) {
		snprintf(err, errlen, "descriptor channel path %s.fd is too long", socket_path);
		return -1;
	}
	memcpy(addr.sun_path, chan_path, strlen(chan_path) + 1);
	chan_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (chan_fd < 0 || pipe2(stop_pipe, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "descriptor channel: %s", strerror(errno));
		return -1;
	}
	/* The nng listener already refused to start over a live server. */
	unlink(chan_path);
	if (bind(chan_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(chan_path, (mode_t)mode) != 0 ||
	    (group >= 0 && chown(chan_path, (uid_t)-1, (gid_t)group) != 0) ||
	    listen(chan_fd, 16) != 0) {
		snprintf(err, errlen, "descriptor channel %s: %s", chan_path, strerror(errno));
		close(chan_fd);
		chan_fd = -1;
		return -1;
	}
	if (pthread_create(&chan_thread, NULL, chan_loop, NULL) != 0) {
		snprintf(err, errlen, "descriptor channel: cannot start its thread");
		close(chan_fd);
		chan_fd = -1;
		return -1;
	}
	chan_running = true;
	return 0;
}

int srv_grants_set_access(unsigned mode, long group, char *err, size_t errlen)
{
	if (!chan_running)
		return 0;
	if (chmod(chan_path, (mode_t)mode) != 0 ||
	    (group >= 0 && chown(chan_path, (uid_t)-1, (gid_t)group) != 0)) {
		snprintf(err, errlen, "cannot give %s mode %04o group %ld: %s", chan_path, mode,
			 group, strerror(errno));
		return -1;
	}
	return 0;
}

void srv_grants_stop(void)
{
	if (chan_running) {
		ssize_t ignored = write(stop_pipe[1], "x", 1);
		(void)ignored;
		pthread_join(chan_thread, NULL);
		chan_running = false;
	}
	if (chan_fd >= 0) {
		close(chan_fd);
		unlink(chan_path);
		chan_fd = -1;
	}
	for (int i = 0; i < 2; i++) {
		if (stop_pipe[i] >= 0)
			close(stop_pipe[i]);
		stop_pipe[i] = -1;
	}
	pthread_mutex_lock(&tokens_lock);
	while (ntokens)
		token_drop(0);
	pthread_mutex_unlock(&tokens_lock);
}
