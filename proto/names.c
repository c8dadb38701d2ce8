/* SPDX-License-Identifier: MIT */
/* Names for logs and tools, and version negotiation. */
#include <mmio/proto.h>

static const char *const opcode_names[] = {
	[PROTO_OP_NONE] = "NONE",
	[PROTO_OP_HELLO] = "HELLO",
	[PROTO_OP_LIST] = "LIST",
	[PROTO_OP_OPEN] = "OPEN",
	[PROTO_OP_CLOSE] = "CLOSE",
	[PROTO_OP_READ_ONCE] = "READ_ONCE",
	[PROTO_OP_WRITE_ONCE] = "WRITE_ONCE",
	[PROTO_OP_READ] = "READ",
	[PROTO_OP_WRITE] = "WRITE",
	[PROTO_OP_FILL] = "FILL",
	[PROTO_OP_BATCH] = "BATCH",
	[PROTO_OP_POLL] = "POLL",
	[PROTO_OP_MAP] = "MAP",
	[PROTO_OP_UNMAP] = "UNMAP",
	[PROTO_OP_STATS] = "STATS",
	[PROTO_OP_BUF_ATTACH] = "BUF_ATTACH",
	[PROTO_OP_BUF_DETACH] = "BUF_DETACH",
	[PROTO_OP_READ_SPAN] = "READ_SPAN",
	[PROTO_OP_WRITE_SPAN] = "WRITE_SPAN",
	[PROTO_OP_MAILBOX] = "MAILBOX",
	[PROTO_OP_READ_ROWS] = "READ_ROWS",
	[PROTO_OP_WRITE_ROWS] = "WRITE_ROWS",
	[PROTO_OP_IRQ] = "IRQ",
};
_Static_assert(sizeof(opcode_names) / sizeof(opcode_names[0]) == PROTO_OP_MAX + 1,
	       "opcode_names must name every opcode");

static const char *const stat_names[] = {
	[PROTO_STAT_UPTIME_S] = "uptime_s",
	[PROTO_STAT_CLIENTS] = "clients",
	[PROTO_STAT_HANDLES] = "handles",
	[PROTO_STAT_MAPPINGS] = "mappings",
	[PROTO_STAT_REQUESTS] = "requests",
	[PROTO_STAT_PROTO_ERRORS] = "protocol_errors",
	[PROTO_STAT_DENIALS] = "denials",
	[PROTO_STAT_FAULTS] = "faults",
	[PROTO_STAT_TIMEOUTS] = "timeouts",
	[PROTO_STAT_BYTES_READ] = "bytes_read",
	[PROTO_STAT_BYTES_WRITTEN] = "bytes_written",
	[PROTO_STAT_RELOADS] = "reloads",
	[PROTO_STAT_RELOAD_FAILURES] = "reload_failures",
	[PROTO_STAT_REVOKED] = "revoked",
	[PROTO_STAT_BUFFERS] = "buffers",
	[PROTO_STAT_MAILBOXES] = "mailboxes",
	[PROTO_STAT_REQUESTS_HELD] = "requests_held",
	[PROTO_STAT_POLLS_WAITING] = "polls_waiting",
	[PROTO_STAT_SESSIONS_REFUSED] = "sessions_refused",
	[PROTO_STAT_REQUESTS_REFUSED] = "requests_refused",
	[PROTO_STAT_POLLS_REFUSED] = "polls_refused",
	[PROTO_STAT_WARNINGS_SUPPRESSED] = "warnings_suppressed",
	[PROTO_STAT_IRQS_UNACKNOWLEDGED] = "irqs_unacknowledged",
};
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == PROTO_STAT_COUNT,
	       "stat_names must name every counter");

const char *proto_opcode_name(unsigned opcode)
{
	return opcode <= PROTO_OP_MAX ? opcode_names[opcode] : "UNKNOWN";
}

bool proto_opcode_known(unsigned opcode)
{
	return opcode >= PROTO_OP_HELLO && opcode <= PROTO_OP_MAX;
}

const char *proto_stat_name(unsigned index)
{
	return index < PROTO_STAT_COUNT ? stat_names[index] : "?";
}

int proto_version_choose(unsigned client_min, unsigned client_max, unsigned *chosen)
{
	unsigned lo = client_min > PROTO_VERSION_MIN ? client_min : PROTO_VERSION_MIN;
	unsigned hi = client_max < PROTO_VERSION_MAX ? client_max : PROTO_VERSION_MAX;

	if (lo > hi)
		return MMIO_EVERSION;
	*chosen = hi;
	return MMIO_OK;
}
