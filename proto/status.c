/* SPDX-License-Identifier: MIT */
#include <mmio/status.h>

#include <stddef.h>

struct status_text {
	const char *name;
	const char *text;
};

/* Indexed by -status; the order is the enum's and must stay in step with it. */
static const struct status_text status_texts[] = {
	{ "MMIO_OK", "success" },
	{ "MMIO_EINVAL", "invalid argument (range, alignment or width)" },
	{ "MMIO_EACCES", "not allowed by the policy" },
	{ "MMIO_EFAULT", "stopped by a fault on device or buffer memory" },
	{ "MMIO_EBUSY", "busy: a range held exclusively, or over the server's limits" },
	{ "MMIO_ENOENT", "no such region visible to this client" },
	{ "MMIO_EREVOKED", "grant withdrawn by a policy reload" },
	{ "MMIO_ETIMEDOUT", "timed out waiting for the value" },
	{ "MMIO_EPROTO", "malformed message" },
	{ "MMIO_EVERSION", "protocol version not supported" },
	{ "MMIO_ENOMEM", "out of memory or over a per-client limit" },
	{ "MMIO_ECONN", "server unreachable or connection lost" },
	{ "MMIO_EINTERNAL", "internal error (see the server log)" },
};

_Static_assert(sizeof(status_texts) / sizeof(status_texts[0]) == 1 - MMIO_STATUS_MIN,
	       "status_texts must have one entry per enum mmio_status value");

static const struct status_text *status_lookup(int status)
{
	if (status > 0 || status < MMIO_STATUS_MIN)
		return NULL;
	return &status_texts[-status];
}

const char *mmio_strerror(int status)
{
	const struct status_text *t = status_lookup(status);

	return t ? t->text : "unknown status";
}

const char *mmio_status_name(int status)
{
	const struct status_text *t = status_lookup(status);

	return t ? t->name : "MMIO_E?";
}
