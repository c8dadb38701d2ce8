/* SPDX-License-Identifier: MIT */
/*
 * The client side of the descriptor channel (server/grants.c):
 * where it is, and how a MAP token is exchanged there for a descriptor.
 */
#include "channel.h"

#include <mmio/proto.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* Bytes of a reply: i32 status, 4 zero bytes, u64 mmap offset (all LE). */
#define CHANNEL_REPLY_SIZE 16

bool cli_channel_path(const char *url, char *out, size_t outlen)
{
	static const char scheme[] = "ipc://";
	struct sockaddr_un addr;
	size_t n;

	if (outlen)
		out[0] = '\0';
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return false;
	url += sizeof(scheme) - 1;
	n = strlen(url);
	if (n == 0 || n + sizeof(".fd") > outlen || n + sizeof(".fd") > sizeof(addr.sun_path))
		return false;
	memcpy(out, url, n);
	memcpy(out + n, ".fd", sizeof(".fd"));
	return true;
}

/*
 * Is "<path>.d/<name>" a door of the server at <path> that we may connect
 * to? Then its URL is in @out. A door counts only in a directory owned by
 * the public socket's owner that nobody else may write to, and only if its
 * owner is that same owner or @self: in a /tmp path another account could
 * otherwise plant a "door" and take our requests.
 */
static bool door_try(const char *path, const char *name, uid_t self, char *out, size_t outlen)
{
	char door[sizeof(((struct sockaddr_un *)0)->sun_path)], dir[sizeof(door)];
	struct stat pub, d, st;

	if (snprintf(dir, sizeof(dir), "%s.d", path) >= (int)sizeof(dir) ||
	    snprintf(door, sizeof(door), "%s/%s", dir, name) >= (int)sizeof(door) ||
	    stat(path, &pub) != 0 || lstat(dir, &d) != 0 || !S_ISDIR(d.st_mode) ||
	    d.st_uid != pub.st_uid || (d.st_mode & 022) || lstat(door, &st) != 0 ||
	    !S_ISSOCK(st.st_mode) || (st.st_uid != pub.st_uid && st.st_uid != self) ||
	    faccessat(AT_FDCWD, door, W_OK, AT_EACCESS) != 0)
		return false;
	return snprintf(out, outlen, "ipc://%s", door) < (int)outlen;
}

bool cli_door_url(const char *url, char *out, size_t outlen)
{
	static const char scheme[] = "ipc://";
	gid_t groups[64];
	char name[16];
	int n;

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return false;
	url += sizeof(scheme) - 1;
	snprintf(name, sizeof(name), "u%u", (unsigned)geteuid());
	if (door_try(url, name, geteuid(), out, outlen))
		return true;
	/* A group door is the server's: its owner is the public socket's. */
	snprintf(name, sizeof(name), "g%u", (unsigned)getegid());
	if (door_try(url, name, (uid_t)-1, out, outlen))
		return true;
	n = getgroups(64, groups);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "g%u", (unsigned)groups[i]);
		if (door_try(url, name, (uid_t)-1, out, outlen))
			return true;
	}
	return false;
}

bool cli_socket_permitted(const char *url, char *why, size_t whylen)
{
	static const char scheme[] = "ipc://";
	const char *path = url + sizeof(scheme) - 1;
	struct stat st;

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return true;
	/* connect(2) asks for write permission on the socket, with the
	 * effective ids: the check faccessat() makes with AT_EACCESS. */
	if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 || errno != EACCES)
		return true;
	if (stat(path, &st) == 0)
		snprintf(why, whylen, "%s: permission denied (owner uid %u gid %u, mode %04o)",
			 path, (unsigned)st.st_uid, (unsigned)st.st_gid,
			 (unsigned)(st.st_mode & 07777));
	else
		snprintf(why, whylen,
			 "%s: permission denied (a directory on the path is not "
			 "searchable)",
			 path);
	return false;
}

/* A socket connected to the channel at @path into *@s, with @timeout_ms for
 * each send and receive. */
static int channel_connect(const char *path, int timeout_ms, int *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	memcpy(addr.sun_path, path, strlen(path) + 1);
	*s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*s < 0)
		return errno == EMFILE || errno == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
	setsockopt(*s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(*s, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(*s);
		return MMIO_EACCES;
	}
	return MMIO_OK;
}

/* Sends @token (8 bytes, LE) on @s, with descriptor @send_fd unless it is -1. */
static bool channel_send(int s, uint64_t token, int send_fd)
{
	uint8_t buf[8];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(token >> (8 * i));
	memset(&control, 0, sizeof(control));
	if (send_fd >= 0) {
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &send_fd, sizeof(int));
	}
	return sendmsg(s, &msg, MSG_NOSIGNAL) == 8;
}

/* The first descriptor @msg carried into *@received (-1 if none); any others
 * are closed, never leaked. */
static void channel_take_fds(struct msghdr *msg, int *received)
{
	*received = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int one;

			memcpy(&one, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*received < 0)
				*received = one;
			else
				close(one);
		}
	}
}

/* The reason bytes of the calling thread's last channel reply. */
static _Thread_local struct mmio_reason channel_reason;

/*
 * One exchange on the channel at @path: @token (8 bytes), with descriptor
 * @send_fd unless it is -1, then the 16-byte reply: *@status and *@answer
 * are its fields, *@received the descriptor it carried (-1 if none; any
 * others are closed, never leaked). Returns MMIO_OK when a well-formed reply
 * came, else why not: MMIO_EACCES (no channel there, or it broke or stayed
 * silent: a refusal, not the loss of the client's nng connection, which
 * MMIO_ECONN would mean), MMIO_ENOMEM, MMIO_EINTERNAL, MMIO_EPROTO.
 */
static int channel_exchange(const char *path, uint64_t token, int send_fd, int timeout_ms,
			    int32_t *status, uint64_t *answer, int *received)
{
	uint8_t buf[CHANNEL_REPLY_SIZE + 1];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg;
	uint32_t st = 0;
	ssize_t n;
	int s, rc;

	*received = -1;
	rc = channel_connect(path, timeout_ms, &s);
	if (rc != MMIO_OK)
		return rc;
	if (!channel_send(s, token, send_fd)) {
		close(s);
		return MMIO_EACCES;
	}
	memset(&control, 0, sizeof(control));
	msg = (struct msghdr){ .msg_iov = &iov,
			       .msg_iovlen = 1,
			       .msg_control = control.space,
			       .msg_controllen = sizeof(control.space) };
	do
		n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	close(s);
	if (n < 0)
		return MMIO_EACCES;
	channel_take_fds(&msg, received);
	if (n != CHANNEL_REPLY_SIZE || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*received >= 0)
			close(*received);
		*received = -1;
		return MMIO_EPROTO;
	}
	for (int i = 0; i < 4; i++)
		st |= (uint32_t)buf[i] << (8 * i);
	*status = (int32_t)st;
	*answer = 0;
	for (int i = 0; i < 8; i++)
		*answer |= (uint64_t)buf[8 + i] << (8 * i);
	/* A refusal's reason: code and a in bytes 4 and 5, b in the u64. */
	channel_reason = (struct mmio_reason){ .code = buf[4], .a = buf[5], .b = *answer };
	return MMIO_OK;
}

int cli_channel_pickup(const char *path, uint64_t token, int timeout_ms, int *fd,
		       uint64_t *mmap_offset)
{
	int32_t status;
	int received, rc;

	*fd = -1;
	rc = channel_exchange(path, token, -1, timeout_ms, &status, mmap_offset, &received);
	if (rc != MMIO_OK)
		return rc;
	if (status == MMIO_OK) {
		if (received < 0)
			return MMIO_EPROTO;
		*fd = received;
		return MMIO_OK;
	}
	if (received >= 0)
		close(received);
	/* The channel's refusals: an unknown, used, expired or foreign token. */
	return status == MMIO_ENOMEM ? MMIO_ENOMEM : MMIO_EACCES;
}

int cli_channel_attach(const char *path, uint64_t token, int fd, int timeout_ms, uint32_t *id,
		       struct mmio_reason *why)
{
	uint64_t answer;
	int32_t status;
	int received, rc;

	if (why)
		*why = (struct mmio_reason){ 0 };
	rc = channel_exchange(path, token, fd, timeout_ms, &status, &answer, &received);
	if (rc != MMIO_OK)
		return rc;
	if (received >= 0)
		close(received); /* nothing is handed back for a buffer */
	if (status != MMIO_OK && why && channel_reason.code != 0) {
		*why = channel_reason;
		why->op = PROTO_OP_BUF_ATTACH;
		/* An older server's bytes, or a broken one's: no reason, not EPROTO. */
		if (!proto_reason_valid(why, status))
			*why = (struct mmio_reason){ 0 };
	}
	if (status != MMIO_OK)
		return status < MMIO_STATUS_MIN || status > 0 ? MMIO_EPROTO : status;
	if (answer == 0 || answer > UINT32_MAX)
		return MMIO_EPROTO;
	*id = (uint32_t)answer;
	return MMIO_OK;
}
