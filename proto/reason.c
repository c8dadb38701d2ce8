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
	default:
		return false;
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
	case PROTO_OP_OPEN:
		return "mmio_open";
	default:
		return proto_opcode_name(opcode);
	}
}

/* The policy's name of one op class bit (a valid reason's: a single known bit). */
static const char *ops_name(uint64_t bit)
{
	const char *name = bit <= MMIO_OPS_ALL ? mmio_ops_name((unsigned)bit) : NULL;

	return name ? name : "?";
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
		return snprintf(buf, len, "the grant has no `%s` op (%s needs it)", ops_name(w->a),
				op_call(w->op));
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
	default: /* MMIO_REASON_NO_GRANT */
		return snprintf(buf, len, "no grant of this client holds that range of the region");
	}
}

int proto_reason_format(int status, const struct mmio_reason *why, char *buf, size_t len)
{
	char detail[256];

	if (!why || !proto_reason_valid(why, status))
		return snprintf(buf, len, "%s: %s", mmio_status_name(status),
				mmio_strerror(status));
	detail_format(why, detail, sizeof(detail));
	return snprintf(buf, len, "%s: %s", mmio_status_name(status), detail);
}
