/* SPDX-License-Identifier: MIT */
/*
 * The descriptor channel, client side: private to libmmio, and used by
 * mmio-bench for its raw-mapping baseline. No nng here: the channel is a
 * plain AF_UNIX SOCK_SEQPACKET socket, because nng cannot carry descriptors.
 */
#ifndef MMIO_CLIENT_CHANNEL_H
#define MMIO_CLIENT_CHANNEL_H

#include <mmio/rights.h>
#include <mmio/status.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The channel of the server at @url: "<path>.fd" for "ipc://<path>", into
 * @out (@outlen bytes). False (and "") for another transport, which has no
 * channel, or a path too long for a socket address.
 */
bool cli_channel_path(const char *url, char *out, size_t outlen);

/*
 * The door of this process at the server of @url, into @out: for
 * "ipc://<path>", the first of "ipc://<path>.d/u<euid>" and
 * "ipc://<path>.d/g<gid>" (the effective gid, then each supplementary
 * group) that is a socket this process may connect to. The server opens one
 * for each identity its policy grants to, so that nobody else can reach it.
 * False (and @out untouched) if there is none: connect to @url itself.
 */
bool cli_door_url(const char *url, char *out, size_t outlen);

/*
 * May this process connect(2) to the socket of @url? For "ipc://<path>",
 * false when the kernel would refuse it with EACCES (no write permission
 * on the socket, or no search permission on a directory on the way),
 * with a sentence naming the path, its owner and its mode in @why;
 * true otherwise (another transport, a path that does not exist yet:
 * those are the retry loop's). Connects to nothing: a connection dropped
 * in its handshake would stall an nng 1.5.2 listener.
 */
bool cli_socket_permitted(const char *url, char *why, size_t whylen);

/*
 * Present MAP token @token on the channel at @path, waiting up to
 * @timeout_ms. On MMIO_OK, *@fd is the device's descriptor (close-on-exec)
 * and *@mmap_offset where the handle starts in it. Otherwise *@fd is -1 and
 * the status says why: MMIO_EACCES (no channel there, the channel broke or
 * did not answer in time, or the token is unknown, used, expired or not
 * ours), MMIO_ENOMEM, MMIO_EPROTO (a malformed reply), MMIO_EINTERNAL.
 */
int cli_channel_pickup(const char *path, uint64_t token, int timeout_ms, int *fd,
		       uint64_t *mmap_offset);

/*
 * Hand shared buffer @fd over on the channel at @path with BUF_ATTACH token
 * @token. On MMIO_OK *@id is the buffer's id for READ_SPAN/WRITE_SPAN.
 * Errors as cli_channel_pickup(), plus the server's refusal of the buffer
 * (MMIO_EINVAL, MMIO_ENOMEM), with its reason in @why (may be NULL; code 0
 * if the server gave none).
 */
int cli_channel_attach(const char *path, uint64_t token, int fd, int timeout_ms, uint32_t *id,
		       struct mmio_reason *why);

#endif /* MMIO_CLIENT_CHANNEL_H */
