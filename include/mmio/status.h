/* SPDX-License-Identifier: MIT */
/*
 * The one status vocabulary of mmio, shared by every part (kernel-shim,
 * proto, config, server, client) and by the public client API.
 *
 * 0 is success; every error is negative. The numeric values are part of the
 * wire protocol and the library ABI: never renumber, only append.
 */
#ifndef MMIO_STATUS_H
#define MMIO_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum mmio_status {
	MMIO_OK = 0,
	MMIO_EINVAL = -1,     /* bad range, overflow, misaligned, width not allowed */
	MMIO_EACCES = -2,     /* the policy forbids it */
	MMIO_EFAULT = -3,     /* stopped by a fault; *done says how far it got */
	MMIO_EBUSY = -4,      /* exclusive range held by another handle, or over a cap */
	MMIO_ENOENT = -5,     /* no such region visible to this client */
	MMIO_EREVOKED = -6,   /* grant withdrawn (policy reload) */
	MMIO_ETIMEDOUT = -7,  /* poll did not see the value in time */
	MMIO_EPROTO = -8,     /* malformed message */
	MMIO_EVERSION = -9,   /* protocol version not supported */
	MMIO_ENOMEM = -10,    /* out of memory, or a per-client limit reached */
	MMIO_ECONN = -11,     /* server unreachable or connection lost */
	MMIO_EINTERNAL = -12, /* a bug or an unexpected system error; see the log */
};

/* The lowest (most negative) status defined; anything below is unknown. */
#define MMIO_STATUS_MIN MMIO_EINTERNAL

/*
 * A sentence describing @status, for people ("operation not allowed by the
 * policy"). Never NULL: an unknown value gives "unknown status". The string
 * is static; thread-safe. Implemented in proto/.
 */
const char *mmio_strerror(int status);

/*
 * The symbolic name of @status ("MMIO_EACCES"), for logs and for tools that
 * exit with the status name. Never NULL: an unknown value gives
 * "MMIO_E?". The string is static; thread-safe. Implemented in proto/.
 */
const char *mmio_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* MMIO_STATUS_H */
