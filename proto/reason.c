/* SPDX-License-Identifier: MIT */
/* Refusal reasons: which ones a reply may carry, and their sentences. */
#include <mmio/proto.h>

#include <inttypes.h>
#include <stdio.h>

static bool bits_in(uint64_t v, unsigned all)
{
	return (v & ~(uint64_t)all) == 0;
}

static bool one_bit(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* The details of a reason whose a is a cause: BUFFER, LIMIT, ARGUMENT. */
static bool cause_valid(unsigned code, uint64_t a, uint64_t b)
{
	switch (code) {
	case MMIO_REASON_BUFFER:
		return a >= 1 && a <= MMIO_BUFFER_MAX &&
		       ((a == MMIO_BUFFER_UNKNOWN && b <= UINT32_MAX) || a == MMIO_BUFFER_OUTSIDE ||
			a == MMIO_BUFFER_SIZE || a == MMIO_BUFFER_MAILBOX || b == 0);
	case MMIO_REASON_BUSY:
		return a >= 1 && a <= MMIO_BUSY_MAX &&
		       (a == MMIO_BUSY_IN_USE || a == MMIO_BUSY_MAILBOXES ||
			(a >= MMIO_BUSY_REQUESTS && a <= MMIO_BUSY_ALL_POLLS) || b == 0);
	case MMIO_REASON_LIMIT:
		return a >= 1 && a <= MMIO_LIMIT_MAX;
	case MMIO_REASON_ARGUMENT:
		switch (a) {
		case MMIO_ARGUMENT_WIDTH:
			return b > 8 || !mmio_width_valid((unsigned)b);
		case MMIO_ARGUMENT_NULL:
		case MMIO_ARGUMENT_OVERFLOW:
		case MMIO_ARGUMENT_EMPTY:
		case MMIO_ARGUMENT_NAME:
		case MMIO_ARGUMENT_CLIENT:
			return b == 0;
		case MMIO_ARGUMENT_FLAGS:
			return b != 0;
		case MMIO_ARGUMENT_GRANULE:
			return b >= 2 && b <= 8 && mmio_width_valid((unsigned)b);
		case MMIO_ARGUMENT_VALUE:
			return b < 8 && mmio_width_valid((unsigned)b);
		case MMIO_ARGUMENT_BATCH:
		case MMIO_ARGUMENT_PITCH:
		case MMIO_ARGUMENT_TOO_LONG:
			return true;
		default:
			return false;
		}
	default:
		return false;
	}
}

/* The details of @why as its code describes them (<mmio/rights.h>). */
static bool details_valid(const struct mmio_reason *why)
{
	uint64_t a = why->a, b = why->b;

	switch (why->code) {
	case MMIO_REASON_WIDTH:
		return a <= 8 && mmio_width_valid((unsigned)a) && bits_in(b, MMIO_WIDTHS_ALL) &&
		       !(a & b);
	case MMIO_REASON_ALIGN:
		return a >= 2 && a <= 8 && mmio_width_valid((unsigned)a) && b % a != 0;
	case MMIO_REASON_RANGE:
		return a > b;
	case MMIO_REASON_OPS:
		return one_bit(a) && bits_in(a, MMIO_OPS_ALL) && bits_in(b, MMIO_OPS_ALL) &&
		       !(a & b);
	case MMIO_REASON_ACCESS:
	case MMIO_REASON_REG_ACCESS:
		return a != 0 && bits_in(a, MMIO_ACCESS_ALL) && bits_in(b, MMIO_ACCESS_ALL) &&
		       (a & ~b) != 0;
	case MMIO_REASON_REG_NONE:
		return b == 0;
	case MMIO_REASON_REG_WIDTH:
		return (a == 0 || (a <= 8 && mmio_width_valid((unsigned)a))) &&
		       bits_in(b, MMIO_WIDTHS_ALL) && !(a & b);
	case MMIO_REASON_REG_BITS:
		return b != 0;
	case MMIO_REASON_HANDLE:
		return a <= UINT32_MAX && b == 0;
	case MMIO_REASON_REVOKED:
	case MMIO_REASON_NO_GRANT:
		return a == 0 && b == 0;
	case MMIO_REASON_GRANT_RANGE:
		return a < b;
	case MMIO_REASON_UNMAPPABLE:
		return a >= 1 && a <= MMIO_UNMAPPABLE_MAX && b == 0;
	default:
		return cause_valid(why->code, a, b);
	}
}

bool proto_reason_valid(const struct mmio_reason *why, int status)
{
	int want = mmio_reason_status(why->code);

	if (why->code == MMIO_REASON_NO_GRANT && status == MMIO_ENOENT)
		want = MMIO_ENOENT;
	return want != MMIO_OK && want == status && proto_opcode_known(why->op) &&
	       details_valid(why);
}

/* What libmmio calls the operation of @opcode, for "(… needs it)". */
static const char *op_call(unsigned opcode)
{
	switch (opcode) {
	case PROTO_OP_READ_ONCE:
		return "mmio_read8/16/32/64";
	case PROTO_OP_WRITE_ONCE:
		return "mmio_write8/16/32/64";
	case PROTO_OP_READ:
	case PROTO_OP_READ_SPAN:
		return "mmio_read";
	case PROTO_OP_WRITE:
	case PROTO_OP_WRITE_SPAN:
		return "mmio_write";
	case PROTO_OP_READ_ROWS:
		return "mmio_read_rows";
	case PROTO_OP_WRITE_ROWS:
		return "mmio_write_rows";
	case PROTO_OP_FILL:
		return "mmio_fill";
	case PROTO_OP_POLL:
		return "mmio_poll";
	case PROTO_OP_MAP:
	case PROTO_OP_UNMAP:
		return "a direct mapping";
	case PROTO_OP_OPEN: /* for an op class: map, which only REQUIRE_DIRECT needs */
		return "mmio_open with MMIO_OPEN_REQUIRE_DIRECT";
	default:
		return proto_opcode_name(opcode);
	}
}

static const char *access_name(uint64_t access)
{
	return access == MMIO_ACCESS_READ ? "read" : access == MMIO_ACCESS_WRITE ? "write" : "rw";
}

/* "2-byte", "1- and 2-byte", "1-, 2- and 4-byte"; "no" for none. */
static void widths_text(uint64_t widths, char *buf, size_t len)
{
	size_t at = 0;
	unsigned n = 0, total = (unsigned)__builtin_popcountll(widths & MMIO_WIDTHS_ALL);

	buf[0] = '\0';
	if (total == 0) {
		snprintf(buf, len, "no");
		return;
	}
	for (unsigned w = 1; w <= 8 && at < len; w <<= 1) {
		if (!(widths & w))
			continue;
		n++;
		at += (size_t)snprintf(buf + at, len - at, "%s%u%s",
				       n == 1	    ? ""
				       : n == total ? " and "
						    : ", ",
				       w, n == total ? "-byte" : "-");
	}
}

/* "a 4-byte access; the @who allows 2-byte accesses only". */
static int width_format(const struct mmio_reason *w, const char *who, char *buf, size_t len)
{
	char ws[32];

	widths_text(w->b, ws, sizeof(ws));
	return snprintf(buf, len, "a %" PRIu64 "-byte access; the %s allows %s accesses only", w->a,
			who, ws);
}

static const char *const unmappable[] = {
	[MMIO_UNMAPPABLE_SENSITIVE] = "the region is sensitive: never mapped, only proxied",
	[MMIO_UNMAPPABLE_SERVER] =
		"this server hands out no direct mappings (its descriptor channel is not running)",
	[MMIO_UNMAPPABLE_BACKEND] = "the region's backend has no memory a client could map",
	[MMIO_UNMAPPABLE_TRANSPORT] = "mappings come over the descriptor channel of an ipc:// "
				      "socket; this connection has none",
	[MMIO_UNMAPPABLE_PARTIAL] = "only a handle on the whole region, in whole pages, can be "
				    "mapped; this one holds part of it",
};

/* A sentence with b in it (when @with_b) between @before and @after. */
struct sentence {
	const char *before, *after;
	bool with_b, hex;
};

static const struct sentence buffer_faults[] = {
	[MMIO_BUFFER_UNKNOWN] = { .before = "shared buffer ",
				  .after = " is not attached on this connection",
				  .with_b = true },
	[MMIO_BUFFER_OUTSIDE] = { .before = "the span passes the end of its shared buffer of ",
				  .after = " bytes",
				  .with_b = true },
	[MMIO_BUFFER_NOT_MEMFD] = { .before = "the descriptor is not a memfd (a shared buffer is a "
					      "sealed memfd)" },
	[MMIO_BUFFER_NOT_SEALED] = { .before = "the memfd is not sealed against shrinking and "
					       "growing (F_SEAL_SHRINK, F_SEAL_GROW)" },
	[MMIO_BUFFER_SIZE] = { .before = "the memfd's size is not the ",
			       .after = " bytes its token announced",
			       .with_b = true },
	[MMIO_BUFFER_MISSING] = { .before = "the buffer's token came without its memfd" },
	[MMIO_BUFFER_NO_MAP] = { .before = "the memfd cannot be mapped for reading and writing (is "
					   "it sealed against writes?)" },
	[MMIO_BUFFER_MAILBOX] = { .before = "a mailbox is a shared buffer of exactly ",
				  .after = " bytes",
				  .with_b = true },
};

static const struct sentence busy[] = {
	[MMIO_BUSY_EXCLUSIVE] = { .before = "another handle holds part of that range, and one of "
					    "them is exclusive" },
	[MMIO_BUSY_IN_USE] = { .before = "shared buffer ",
			       .after = " is in use by a copy or the mailbox",
			       .with_b = true },
	[MMIO_BUSY_MAILBOX] = { .before = "this connection has its mailbox already" },
	[MMIO_BUSY_MAILBOXES] = { .before = "the server's mailboxes are all taken (at most ",
				  .after = " per uid)",
				  .with_b = true },
	[MMIO_BUSY_RELOAD] = { .before = "policy reloads kept changing the grant while it was "
					 "opened: try again" },
	[MMIO_BUSY_REQUESTS] = { .before = "this connection has ",
				 .after = " requests in flight, the server's limits.max_requests",
				 .with_b = true },
	[MMIO_BUSY_UID_REQUESTS] = { .before = "this uid has ",
				     .after = " requests in flight, the most the server allows it "
					      "(limits.max_requests_per_uid; without a grant, "
					      "limits.ungranted_requests)",
				     .with_b = true },
	[MMIO_BUSY_ALL_REQUESTS] = { .before = "all clients together have ",
				     .after = " requests in flight, the server's "
					      "limits.max_requests_total",
				     .with_b = true },
	[MMIO_BUSY_UID_POLLS] = { .before = "this uid has ",
				  .after = " polls waiting, the server's limits.max_polls_per_uid "
					   "(none without a grant)",
				  .with_b = true },
	[MMIO_BUSY_IRQ] = { .before = "another client holds this device's interrupt (one holder "
				      "at a time; the server's log names it)" },
	[MMIO_BUSY_ALL_POLLS] = { .before = "all clients together have ",
				  .after = " polls waiting, the server's limits.max_polls_total",
				  .with_b = true },
};

static const struct sentence limits[] = {
	[MMIO_LIMIT_HANDLES] = { .before = "",
				 .after = " handles are open on this connection, the server's "
					  "limits.max_handles",
				 .with_b = true },
	[MMIO_LIMIT_BUFFERS] = { .before = "",
				 .after = " shared buffers are attached, the most the server "
					  "allows (limits.max_buffers)",
				 .with_b = true },
	[MMIO_LIMIT_BUFFER_BYTES] = { .before = "the shared buffers would pass the server's "
						"limits.max_buffer_bytes, ",
				      .after = " bytes",
				      .with_b = true },
	[MMIO_LIMIT_TOKENS] = { .before = "",
				.after = " descriptor hand-overs (MAP, BUF_ATTACH) wait to be "
					 "picked "
					 "up, the most the server keeps; each lives 2 s",
				.with_b = true },
};

static const struct sentence arguments[] = {
	[MMIO_ARGUMENT_WIDTH] = { .before = "width ",
				  .after = " is not an access width (1, 2, 4 or 8 bytes)",
				  .with_b = true },
	[MMIO_ARGUMENT_NULL] = { .before = "a pointer the call needs is NULL" },
	[MMIO_ARGUMENT_OVERFLOW] = { .before = "offset plus length overflows" },
	[MMIO_ARGUMENT_EMPTY] = { .before = "the length (or the count of items or rows) is 0" },
	[MMIO_ARGUMENT_PITCH] = { .before = "the pitch, ",
				  .after = " bytes, is shorter than a row",
				  .with_b = true },
	[MMIO_ARGUMENT_TOO_LONG] = { .before = "longer than the most this call takes, ",
				     .after = " bytes: split it",
				     .with_b = true },
	[MMIO_ARGUMENT_GRANULE] = { .before = "the grant pins ",
				    .after = "-byte accesses: offset, length and pitch must be "
					     "multiples of it",
				    .with_b = true },
	[MMIO_ARGUMENT_FLAGS] = { .before = "flag bits 0x",
				  .after = " are not flags of this call",
				  .with_b = true,
				  .hex = true },
	[MMIO_ARGUMENT_NAME] = { .before = "a region name is 1 to 63 of A-Z a-z 0-9 _ . -" },
	[MMIO_ARGUMENT_CLIENT] = { .before = "the region was opened on another client than the "
					     "batch's" },
	[MMIO_ARGUMENT_BATCH] = { .before = "a batch holds at most ",
				  .after = " operations",
				  .with_b = true },
	[MMIO_ARGUMENT_VALUE] = { .before = "a value, mask or want wider than the access's ",
				  .after = " bytes",
				  .with_b = true },
};

static int sentence_format(const struct sentence *t, uint64_t b, char *buf, size_t len)
{
	if (!t->with_b)
		return snprintf(buf, len, "%s", t->before);
	if (t->hex)
		return snprintf(buf, len, "%s%" PRIx64 "%s", t->before, b, t->after);
	return snprintf(buf, len, "%s%" PRIu64 "%s", t->before, b, t->after);
}

/* The sentence of a reason beyond the rights check (a valid reason's: a
 * cause in range). */
static int cause_format(const struct mmio_reason *w, char *buf, size_t len)
{
	switch (w->code) {
	case MMIO_REASON_GRANT_RANGE:
		return snprintf(buf, len,
				"no grant holds that range of the region; one holds [0x%" PRIx64
				", 0x%" PRIx64 ")",
				w->a, w->b);
	case MMIO_REASON_UNMAPPABLE:
		return snprintf(buf, len, "%s", unmappable[w->a]);
	case MMIO_REASON_BUFFER:
		return sentence_format(&buffer_faults[w->a], w->b, buf, len);
	case MMIO_REASON_LIMIT:
		return sentence_format(&limits[w->a], w->b, buf, len);
	case MMIO_REASON_BUSY:
		return sentence_format(&busy[w->a], w->b, buf, len);
	case MMIO_REASON_ARGUMENT:
		return sentence_format(&arguments[w->a], w->b, buf, len);
	default: /* MMIO_REASON_NO_GRANT, with MMIO_EACCES */
		if (w->op != PROTO_OP_OPEN)
			return snprintf(buf, len,
					"the policy grants this client nothing (%s is for its "
					"clients)",
					proto_opcode_name(w->op));
		return snprintf(buf, len, "no grant of this client holds that range of the region");
	}
}

static int detail_format(const struct mmio_reason *w, char *buf, size_t len)
{
	switch (w->code) {
	case MMIO_REASON_WIDTH:
		return width_format(w, "grant", buf, len);
	case MMIO_REASON_ALIGN:
		return snprintf(buf, len,
				"offset 0x%" PRIx64 " of the region is not a multiple of %" PRIu64
				" (a %" PRIu64 "-byte access must be aligned)",
				w->b, w->a, w->a);
	case MMIO_REASON_RANGE:
		return snprintf(buf, len,
				"the access ends at offset 0x%" PRIx64
				" of the handle, past its 0x%" PRIx64 " bytes",
				w->a, w->b);
	case MMIO_REASON_OPS:
		return snprintf(buf, len, "the grant has no `%s` op (%s needs it)",
				mmio_ops_name((unsigned)w->a), op_call(w->op));
	case MMIO_REASON_ACCESS:
		return snprintf(buf, len, "the grant gives no %s access (%s needs it)",
				access_name(w->a & ~w->b), op_call(w->op));
	case MMIO_REASON_REG_NONE:
		return snprintf(buf, len,
				"no register of the grant's rules starts at offset 0x%" PRIx64
				" of the region",
				w->a);
	case MMIO_REASON_REG_WIDTH:
		if (w->a == 0)
			return snprintf(
				buf, len,
				"a grant with register rules allows once-ops and polls only");
		return width_format(w, "register", buf, len);
	case MMIO_REASON_REG_ACCESS:
		return snprintf(buf, len, "the register's rule gives no %s access",
				access_name(w->a & ~w->b));
	case MMIO_REASON_REG_BITS:
		return snprintf(buf, len,
				"the write would change bits 0x%" PRIx64
				" of the register at offset 0x%" PRIx64 ", which the policy fixes",
				w->b, w->a);
	case MMIO_REASON_REVOKED:
		return snprintf(buf, len, "a policy reload withdrew this handle's grant");
	case MMIO_REASON_HANDLE:
		return snprintf(buf, len, "handle %" PRIu64 " is not open on this connection",
				w->a);
	default:
		return cause_format(w, buf, len);
	}
}

int proto_reason_format(int status, const struct mmio_reason *why, char *buf, size_t len)
{
	char detail[256];

	if (!why || !proto_reason_valid(why, status))
		return snprintf(buf, len, "%s: %s", mmio_status_name(status),
				mmio_strerror(status));
	if (why->code == MMIO_REASON_NO_GRANT && status == MMIO_ENOENT)
		snprintf(detail, sizeof(detail),
			 "no region of that name is granted to this client (`mmioctl list` shows "
			 "the regions it may open)");
	else
		detail_format(why, detail, sizeof(detail));
	return snprintf(buf, len, "%s: %s", mmio_status_name(status), detail);
}
