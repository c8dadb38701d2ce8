/* SPDX-License-Identifier: MIT */
/*
 * The client side of the descriptor channel (DESIGN.md §4, server/grants.c):
 * where it is, and how a MAP token is exchanged there for a descriptor.
 */
#include "channel.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
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

int cli_channel_pickup(const char *path, uint64_t token, int timeout_ms, int *fd,
		       uint64_t *mmap_offset)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	uint8_t buf[CHANNEL_REPLY_SIZE + 1];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	struct cmsghdr *cm;
	uint32_t status = 0;
	ssize_t n;
	int s, received = -1;

	*fd = -1;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno == EMFILE || errno == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		/* No channel there (or not ours to use): the grant cannot be had. */
		close(s);
		return MMIO_EACCES;
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(token >> (8 * i));
	/* A channel that breaks or stays silent has not handed the mapping
	 * over: that is a refusal (MMIO_EACCES), not the loss of the client's
	 * nng connection (MMIO_ECONN, which means every later call fails). */
	if (send(s, buf, 8, MSG_NOSIGNAL) != 8) {
		close(s);
		return MMIO_EACCES;
	}
	memset(&control, 0, sizeof(control));
	do
		n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	close(s);
	if (n < 0)
		return MMIO_EACCES;
	/* Keep the first descriptor; any others (from a confused peer) are
	 * closed, never leaked. */
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int one;

			memcpy(&one, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (received < 0)
				received = one;
			else
				close(one);
		}
	}
	if (n != CHANNEL_REPLY_SIZE || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		goto malformed;
	for (int i = 0; i < 4; i++)
		status |= (uint32_t)buf[i] << (8 * i);
	*mmap_offset = 0;
	for (int i = 0; i < 8; i++)
		*mmap_offset |= (uint64_t)buf[8 + i] << (8 * i);
	if ((int32_t)status == MMIO_OK) {
		if (received < 0)
			goto malformed;
		*fd = received;
		return MMIO_OK;
	}
	if (received >= 0)
		close(received);
	/* The channel's refusals: an unknown, used, expired or foreign token. */
	return (int32_t)status == MMIO_ENOMEM ? MMIO_ENOMEM : MMIO_EACCES;

malformed:
	if (received >= 0)
		close(received);
	return MMIO_EPROTO;
}

int cli_channel_attach(const char *path, uint64_t token, int fd, int timeout_ms, uint32_t *id)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	uint8_t buf[CHANNEL_REPLY_SIZE + 1];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = 8 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.space,
			      .msg_controllen = sizeof(control.space) };
	struct cmsghdr *cm;
	uint32_t status = 0;
	uint64_t answer = 0;
	ssize_t n;
	int s;

	memcpy(addr.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno == EMFILE || errno == ENFILE ? MMIO_ENOMEM : MMIO_EINTERNAL;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(s);
		return MMIO_EACCES;
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(token >> (8 * i));
	memset(&control, 0, sizeof(control));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(s, &msg, MSG_NOSIGNAL) != 8) {
		close(s);
		return MMIO_EACCES;
	}
	do
		n = recv(s, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	close(s);
	if (n < 0)
		return MMIO_EACCES;
	if (n != CHANNEL_REPLY_SIZE)
		return MMIO_EPROTO;
	for (int i = 0; i < 4; i++)
		status |= (uint32_t)buf[i] << (8 * i);
	for (int i = 0; i < 8; i++)
		answer |= (uint64_t)buf[8 + i] << (8 * i);
	if ((int32_t)status != MMIO_OK)
		return (int32_t)status < MMIO_STATUS_MIN || (int32_t)status > 0
			       ? MMIO_EPROTO
			       : (int)(int32_t)status;
	if (answer == 0 || answer > UINT32_MAX)
		return MMIO_EPROTO;
	*id = (uint32_t)answer;
	return MMIO_OK;
}
