/* SPDX-License-Identifier: MIT */
/*
 * proto: the mmio wire protocol (byte layouts in
 * proto/PROTOCOL.md).
 *
 * One nng message carries one request or one reply (req0/rep0: nng matches
 * replies to requests, so messages carry no request id). Every field is a
 * little-endian fixed-width integer, written and read byte by byte; nothing
 * is ever a struct laid over a buffer.
 *
 * This part does no I/O and never allocates:
 *  - encoders write into a buffer the caller provides and can tell the size
 *    they need first (pass cap 0), so a caller can allocate an nng message of
 *    exactly the right size and encode straight into its body;
 *  - decoders fill a struct whose byte payloads (READ data, WRITE data, batch
 *    ops and values, list entries, stats counters) point into the buffer that
 *    was decoded: zero-copy. Such a struct is valid only while that buffer
 *    lives and is not modified. Region names are the one exception: they are
 *    copied into a NUL-terminated array inside the struct, because every user
 *    of a name needs a C string.
 *
 * Decoders check every length against the bytes actually received before
 * reading, and accept exactly one encoding of each message: anything they
 * accept, the encoder reproduces byte for byte.
 *
 * Unless said otherwise, every function is pure, does not block and is
 * thread-safe (no global state).
 */
#ifndef MMIO_PROTO_H
#define MMIO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mmio/rights.h>
#include <mmio/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Constants of the wire format.
 * ------------------------------------------------------------------------ */

/* First four bytes of every message: "MIO?" for a request, "MIO!" for a reply. */
#define PROTO_MAGIC_REQUEST 0x3F4F494Du
#define PROTO_MAGIC_REPLY   0x214F494Du

/*
 * Protocol versions this code speaks. Every message carries the version it
 * is encoded in. HELLO requests and replies are always sent with version 1
 * (PROTO_HELLO_VERSION) and their layout, like the layout of the reply
 * header, never changes: any client can negotiate with any server and read
 * its MMIO_EVERSION reply. Version 2 is version 1 with the reason record
 * (PROTOCOL.md §4.1): a refusal of version 1 never carries one, so a
 * client of version 1 reads every reply of a server of version 2.
 */
#define PROTO_VERSION_MIN     1u
#define PROTO_VERSION_MAX     2u
#define PROTO_VERSION	      PROTO_VERSION_MAX
#define PROTO_HELLO_VERSION   1u
#define PROTO_VERSION_REASONS 2u /* the first version with reason records */

/* magic u32, version u16, opcode u16 */
#define PROTO_REQUEST_HEADER_SIZE 8u
/* magic u32, version u16, opcode u16, status i32, done u64 */
#define PROTO_REPLY_HEADER_SIZE 20u

/* Region names: 1 to PROTO_NAME_MAX bytes of [A-Za-z0-9_.-]. */
#define PROTO_NAME_MAX 63u
/* Where a region lies ("0000:00:07.0 BAR0", "phys 0x..."; "" for sim):
 * 0 to PROTO_WHERE_MAX printable ASCII bytes (0x20 to 0x7e). */
#define PROTO_WHERE_MAX 63u

/* Bounds on counted arrays; a larger count is MMIO_EPROTO on decode. */
#define PROTO_BATCH_MAX 4096u /* ops in one BATCH */
#define PROTO_LIST_MAX	4096u /* entries in one LIST reply */
#define PROTO_STATS_MAX 256u  /* counters in one STATS reply */

/* Size of one op record in a BATCH request. */
#define PROTO_BATCH_OP_SIZE 34u
/* BATCH reply "failed" when no single op failed. */
#define PROTO_BATCH_NONE UINT32_MAX

/* The reason record a refusal may end with (PROTOCOL.md §4.1): code u8,
 * op u8, a u64, b u64. */
#define PROTO_REASON_SIZE 18u

/* OPEN length meaning "from the offset to the end of the grant". */
#define PROTO_LEN_TO_END UINT64_MAX

/*
 * Where the payload starts in an encoded message, so a caller can produce it
 * in place: the server may copy device memory straight to
 * buf + PROTO_READ_DATA_OFFSET and pass that pointer as the READ reply's
 * data (the encoder then copies nothing); likewise a client for WRITE data
 * at buf + PROTO_WRITE_DATA_OFFSET.
 */
#define PROTO_READ_DATA_OFFSET	PROTO_REPLY_HEADER_SIZE
#define PROTO_WRITE_DATA_OFFSET (PROTO_REQUEST_HEADER_SIZE + 20u)

/*
 * Decode result for a well-formed header whose opcode this code does not
 * know. It is negative like every error, lies below every enum mmio_status
 * value, and never goes on the wire: answer it with
 * proto_error_reply_encode(), which sends MMIO_EPROTO with the opcode echoed.
 */
#define PROTO_EUNKNOWN_OP (-256)

enum proto_opcode {
	PROTO_OP_NONE = 0, /* never sent; echoed when a request has no readable opcode */
	PROTO_OP_HELLO = 1,
	PROTO_OP_LIST = 2,
	PROTO_OP_OPEN = 3,
	PROTO_OP_CLOSE = 4,
	PROTO_OP_READ_ONCE = 5,
	PROTO_OP_WRITE_ONCE = 6,
	PROTO_OP_READ = 7,
	PROTO_OP_WRITE = 8,
	PROTO_OP_FILL = 9,
	PROTO_OP_BATCH = 10,
	PROTO_OP_POLL = 11,
	PROTO_OP_MAP = 12,
	PROTO_OP_UNMAP = 13,
	PROTO_OP_STATS = 14,
	PROTO_OP_BUF_ATTACH = 15, /* share a sealed memfd with the server (the data plane) */
	PROTO_OP_BUF_DETACH = 16,
	PROTO_OP_READ_SPAN = 17,  /* READ into a span of a shared buffer */
	PROTO_OP_WRITE_SPAN = 18, /* WRITE from a span of a shared buffer */
	PROTO_OP_MAILBOX = 19,	  /* carry requests in a shared buffer (PROTO_MBOX_*) */
	PROTO_OP_READ_ROWS = 20,  /* rows of row_bytes at a pitch, packed into the reply */
	PROTO_OP_WRITE_ROWS = 21, /* packed rows from the request, to rows at a pitch */
	PROTO_OP_IRQ = 22,	  /* hold a region's interrupt: a token for its descriptor */
};
#define PROTO_OP_MAX PROTO_OP_IRQ

/* OPEN request flags (the values of MMIO_OPEN_DIRECT / _REQUIRE_DIRECT). */
#define PROTO_OPEN_DIRECT	  0x1u /* the client would like to map directly */
#define PROTO_OPEN_REQUIRE_DIRECT 0x2u /* the client must map directly, or fail */
#define PROTO_OPEN_FLAGS	  0x3u

/* Access, ops, widths, cache and region flags (LIST entries, OPEN replies):
 * MMIO_ACCESS_*, MMIO_OPS_*, MMIO_WIDTHS_ALL, MMIO_CACHE_*, MMIO_REGION_*
 * of <mmio/rights.h>. */

/* HELLO reply flags. */
#define PROTO_HELLO_DIRECT 0x1u /* the server hands out direct mappings */
#define PROTO_HELLO_FLAGS  0x1u
/* (No flag announces MAILBOX: clients of version 1 refuse unknown HELLO
 * flags. A client asks for a mailbox; a server without them answers
 * MMIO_EPROTO, as to any opcode it does not know.) */

/*
 * The mailbox (MAILBOX): a second carrier for the same requests and replies,
 * in a shared buffer of exactly PROTO_MBOX_SIZE bytes, for a client and a
 * server on one machine. One request at a time:
 *  - the client writes an encoded request (at most PROTO_MBOX_MSG_MAX bytes)
 *    at PROTO_MBOX_REQ, its length in the u32 at PROTO_MBOX_REQ_LEN, then a
 *    new value in the u32 at PROTO_MBOX_REQ_SEQ (release) and wakes that
 *    futex word;
 *  - the server copies the request out, runs it as if it came on the
 *    client's connection, writes the encoded reply at PROTO_MBOX_REP and its
 *    length at PROTO_MBOX_REP_LEN (0: the request could not be answered), then
 *    copies the request's sequence value to the u32 at PROTO_MBOX_REP_SEQ
 *    (release) and wakes that futex word.
 * The sequence words and lengths are native-endian (the two ends share a
 * machine); the messages are the usual little-endian encodings. The server
 * never trusts the buffer: it reads a request once, into its own memory,
 * before decoding it.
 */
#define PROTO_MBOX_REQ_SEQ 0u
#define PROTO_MBOX_REQ_LEN 4u
#define PROTO_MBOX_REP_SEQ 64u /* its own cache line */
#define PROTO_MBOX_REP_LEN 68u
#define PROTO_MBOX_MSG_MAX (64u << 10)
#define PROTO_MBOX_REQ	   4096u
#define PROTO_MBOX_REP	   (PROTO_MBOX_REQ + PROTO_MBOX_MSG_MAX)
#define PROTO_MBOX_SIZE	   (PROTO_MBOX_REP + PROTO_MBOX_MSG_MAX)

/*
 * STATS counters, by index. Servers send them in this order; a newer server
 * may send more, an older one fewer (missing ones read as 0). Append only.
 */
enum proto_stat {
	PROTO_STAT_UPTIME_S = 0,	     /* seconds since the server started */
	PROTO_STAT_CLIENTS = 1,		     /* connected clients now */
	PROTO_STAT_HANDLES = 2,		     /* open handles now, all clients */
	PROTO_STAT_MAPPINGS = 3,	     /* direct mappings granted now */
	PROTO_STAT_REQUESTS = 4,	     /* requests answered since start */
	PROTO_STAT_PROTO_ERRORS = 5,	     /* requests answered MMIO_EPROTO/EVERSION */
	PROTO_STAT_DENIALS = 6,		     /* requests answered MMIO_EACCES */
	PROTO_STAT_FAULTS = 7,		     /* accesses stopped by a fault */
	PROTO_STAT_TIMEOUTS = 8,	     /* polls that timed out */
	PROTO_STAT_BYTES_READ = 9,	     /* device bytes read for clients (proxied) */
	PROTO_STAT_BYTES_WRITTEN = 10,	     /* device bytes written for clients (proxied) */
	PROTO_STAT_RELOADS = 11,	     /* policy reloads that took effect */
	PROTO_STAT_RELOAD_FAILURES = 12,     /* policy reloads rejected */
	PROTO_STAT_REVOKED = 13,	     /* handles revoked by reloads */
	PROTO_STAT_BUFFERS = 14,	     /* shared buffers attached now, all clients */
	PROTO_STAT_MAILBOXES = 15,	     /* mailboxes running now, all clients */
	PROTO_STAT_REQUESTS_HELD = 16,	     /* request contexts held now (replies unsent too) */
	PROTO_STAT_POLLS_WAITING = 17,	     /* polls waiting now (socket path) */
	PROTO_STAT_SESSIONS_REFUSED = 18,    /* connections refused by the session caps */
	PROTO_STAT_REQUESTS_REFUSED = 19,    /* requests refused by the request caps */
	PROTO_STAT_POLLS_REFUSED = 20,	     /* polls answered MMIO_EBUSY by the poll caps */
	PROTO_STAT_WARNINGS_SUPPRESSED = 21, /* per-client warnings not logged (rate limit) */
	PROTO_STAT_IRQS_UNACKNOWLEDGED = 22, /* interrupts left masked > 3 s by their driver */
	PROTO_STAT_COUNT = 23,		     /* counters this version defines */
};

/* ------------------------------------------------------------------------
 * Messages as structs.
 *
 * Fields narrower than 32 bits on the wire are held in `unsigned` so that an
 * out-of-range value is refused by the encoder rather than truncated.
 * ------------------------------------------------------------------------ */

/* HELLO: the protocol versions the client speaks, min <= max, min >= 1. */
struct proto_hello_req {
	unsigned min_version;
	unsigned max_version;
};

/* OPEN: region name, sub-range of the client's grant, PROTO_OPEN_* flags. */
struct proto_open_req {
	char name[PROTO_NAME_MAX + 1]; /* NUL-terminated */
	uint64_t offset;
	uint64_t length; /* PROTO_LEN_TO_END: up to the end of the grant */
	uint32_t flags;
};

/* CLOSE, MAP, UNMAP: a handle returned by OPEN. */
struct proto_handle_req {
	uint32_t handle;
};

/* IRQ: the interrupt of the function behind region @name. */
struct proto_irq_req {
	char name[PROTO_NAME_MAX + 1]; /* NUL-terminated */
};

/* BUF_ATTACH: the client will share a buffer of length bytes; the reply's
 * token goes with the buffer's memfd on the descriptor channel. */
struct proto_buf_attach_req {
	uint64_t length;
};

/* BUF_DETACH, MAILBOX: a buffer the descriptor channel answered. */
struct proto_buf_req {
	uint32_t buffer;
};

/*
 * READ_SPAN / WRITE_SPAN: as READ / WRITE, but the data is in bytes
 * [buf_offset, buf_offset + len) of shared buffer @buffer instead of in the
 * messages; the reply carries only status and done.
 */
struct proto_span_req {
	uint32_t handle;
	uint64_t offset;
	uint64_t len;
	uint32_t buffer;
	uint64_t buf_offset;
};

/*
 * READ_ROWS / WRITE_ROWS: @rows rows of @row_bytes bytes, row i at
 * @offset + i * @pitch of the device, packed one after the other in the
 * data (READ_ROWS: the reply's, WRITE_ROWS: @data, exactly @row_bytes *
 * @rows bytes; the decoder refuses any other length, and a product that
 * overflows). The geometry (rows 0, row_bytes 0, pitch < row_bytes, the
 * last row past the handle) is the server's to refuse.
 */
struct proto_rows_req {
	uint32_t handle;
	uint64_t offset;
	uint64_t row_bytes;
	uint64_t pitch;
	uint32_t rows;
	const void
		*data; /* WRITE_ROWS: encode: len bytes (NULL if len is 0); decode: in the buffer */
	size_t len;    /* WRITE_ROWS: row_bytes * rows */
};

/* READ_ONCE: one load of width (1, 2, 4 or 8) bytes at offset. */
struct proto_read_once_req {
	uint32_t handle;
	unsigned width;
	uint64_t offset;
};

/* WRITE_ONCE: one store; value fits in width bytes. */
struct proto_write_once_req {
	uint32_t handle;
	unsigned width;
	uint64_t offset;
	uint64_t value;
};

/* READ: len bytes from offset; the reply carries the bytes read. */
struct proto_read_req {
	uint32_t handle;
	uint64_t offset;
	uint64_t len;
};

/* WRITE: len bytes of data to offset. */
struct proto_write_req {
	uint32_t handle;
	uint64_t offset;
	const void *data; /* encode: len bytes (may be NULL if len is 0); decode: into the buffer */
	size_t len;
};

/* FILL: len bytes of byte from offset. */
struct proto_fill_req {
	uint32_t handle;
	uint64_t offset;
	uint64_t len;
	uint8_t byte;
};

/* POLL: read width bytes at offset until (value & mask) == want, or timeout. */
struct proto_poll_req {
	uint32_t handle;
	unsigned width;
	uint64_t offset;
	uint64_t mask; /* fits in width bytes */
	uint64_t want; /* fits in width bytes */
	uint32_t timeout_us;
};

/*
 * One op of a BATCH: a READ_ONCE, WRITE_ONCE or POLL on any handle.
 * Fields an op does not use must be 0.
 */
struct proto_batch_op {
	unsigned opcode; /* PROTO_OP_READ_ONCE, PROTO_OP_WRITE_ONCE or PROTO_OP_POLL */
	unsigned width;	 /* 1, 2, 4 or 8 */
	uint32_t handle;
	uint64_t offset;
	uint64_t value;	     /* WRITE_ONCE: the value; POLL: the mask; READ_ONCE: 0 */
	uint64_t want;	     /* POLL only */
	uint32_t timeout_us; /* POLL only */
};

/*
 * BATCH: count ops, run in order, stopping at the first failure.
 * To encode, point ops at count ops. A decoded batch has ops NULL and wire
 * pointing at count validated op records in the received buffer; read them
 * with proto_batch_op_get() (which works on either form).
 */
struct proto_batch_req {
	uint32_t count; /* at most PROTO_BATCH_MAX */
	const struct proto_batch_op *ops;
	const uint8_t
		*wire; /* count * PROTO_BATCH_OP_SIZE bytes; used by the encoder if ops is NULL */
};

/*
 * A request. Set opcode and the union member it names; LIST and STATS have
 * no body. A decoded request is valid while the decoded buffer is.
 */
struct proto_request {
	unsigned opcode;  /* enum proto_opcode */
	unsigned version; /* the header's; encode: 0 is PROTO_VERSION (HELLO: always 1) */
	union {
		struct proto_hello_req hello;
		struct proto_open_req open;
		struct proto_handle_req close;
		struct proto_read_once_req read_once;
		struct proto_write_once_req write_once;
		struct proto_read_req read;
		struct proto_write_req write;
		struct proto_fill_req fill;
		struct proto_batch_req batch;
		struct proto_poll_req poll;
		struct proto_handle_req map;
		struct proto_handle_req unmap;
		struct proto_buf_attach_req buf_attach;
		struct proto_buf_req buf_detach;
		struct proto_buf_req mailbox;
		struct proto_span_req span; /* READ_SPAN and WRITE_SPAN */
		struct proto_rows_req rows; /* READ_ROWS and WRITE_ROWS */
		struct proto_irq_req irq;
	};
};

/* HELLO reply: the chosen version and the server's limits. */
struct proto_hello_rep {
	unsigned version;     /* >= 1 */
	unsigned flags;	      /* PROTO_HELLO_* */
	uint32_t max_message; /* largest request or reply the server handles, bytes */
	uint32_t max_batch;   /* most ops in one BATCH (<= PROTO_BATCH_MAX) */
	uint32_t max_handles; /* most handles one client may hold open */
};

/* One region this client may see (LIST). */
struct proto_list_entry {
	char name[PROTO_NAME_MAX + 1];	 /* NUL-terminated, valid per proto_name_valid() */
	uint64_t size;			 /* bytes the client may open */
	unsigned access;		 /* MMIO_ACCESS_* */
	unsigned ops;			 /* MMIO_OPS_* */
	unsigned widths;		 /* allowed widths, MMIO_WIDTHS_ALL bits */
	unsigned cache;			 /* MMIO_CACHE_* */
	unsigned flags;			 /* MMIO_REGION_* */
	uint64_t phys;			 /* physical address of the grant's byte 0; 0: none known */
	char where[PROTO_WHERE_MAX + 1]; /* the function and BAR, or ""; NUL-terminated */
};

/*
 * LIST reply. To encode, point entries at count entries. A decoded reply has
 * entries NULL and wire/wire_len holding the validated entries; walk them
 * with proto_list_iter_init()/proto_list_iter_next() (either form).
 */
struct proto_list_rep {
	uint32_t count; /* at most PROTO_LIST_MAX */
	const struct proto_list_entry *entries;
	const uint8_t *wire; /* used by the encoder if entries is NULL */
	size_t wire_len;
};

/* OPEN reply: what the handle allows. */
struct proto_open_rep {
	uint32_t handle;
	uint64_t size;	 /* bytes addressable through the handle (offsets 0..size) */
	unsigned access; /* MMIO_ACCESS_* */
	unsigned ops;	 /* MMIO_OPS_* */
	unsigned widths; /* allowed widths, MMIO_WIDTHS_ALL bits */
	unsigned cache;	 /* MMIO_CACHE_* */
	unsigned width;	 /* copies' granule: 0 (none), 1, 2, 4 or 8 */
	unsigned flags;	 /* MMIO_REGION_*; MAPPABLE: MAP may succeed */
	uint64_t phys;	 /* physical address of the handle's byte 0; 0: none known */
	char where[PROTO_WHERE_MAX + 1]; /* the function and BAR, or ""; NUL-terminated */
};

/* READ_ONCE and POLL replies: the value read (POLL: the last value read). */
struct proto_value_rep {
	uint64_t value;
};

/* READ reply: exactly `done` bytes of data. */
struct proto_read_rep {
	const void *data; /* encode: done bytes (may be in place, see PROTO_READ_DATA_OFFSET) */
};

/*
 * BATCH reply: `done` = ops completed, one value per completed op (READ_ONCE:
 * the value read; POLL: the last value read; WRITE_ONCE: 0). To encode, point
 * values at done values; a decoded reply has values NULL and wire pointing at
 * done little-endian u64s. Read them with proto_batch_value_get().
 */
struct proto_batch_rep {
	uint32_t failed; /* index of the op that failed, or PROTO_BATCH_NONE */
	const uint64_t *values;
	const uint8_t *wire; /* done * 8 bytes; used by the encoder if values is NULL */
};

/* BUF_ATTACH reply: the one-time token to present with the memfd. */
struct proto_buf_attach_rep {
	uint64_t token;
};

/* MAP reply: how to obtain and use the direct mapping. */
struct proto_map_rep {
	uint64_t token;	 /* one-time token to present on the descriptor channel */
	uint64_t length; /* length to mmap, a multiple of the page size */
	uint64_t offset; /* where byte 0 of the handle lies inside the mapping */
};

/*
 * STATS reply: count counters indexed by enum proto_stat. To encode, point
 * counters at count values; a decoded reply has counters NULL and wire
 * pointing at count little-endian u64s. Read with proto_stats_counter().
 */
struct proto_stats_rep {
	uint32_t count; /* at most PROTO_STATS_MAX */
	const uint64_t *counters;
	const uint8_t *wire; /* used by the encoder if counters is NULL */
};

/*
 * A reply. opcode echoes the request's; status is an enum mmio_status value
 * (0 or negative); done counts bytes (READ, WRITE, FILL) or completed ops
 * (BATCH) and is 0 for every other opcode.
 *
 * Which body a reply carries (PROTOCOL.md has the table):
 *  - HELLO, LIST, OPEN, READ_ONCE, MAP, STATS: their body if status is
 *    MMIO_OK, none otherwise;
 *  - POLL: value if status is MMIO_OK or MMIO_ETIMEDOUT, none otherwise;
 *  - READ: `done` bytes of data, whatever the status (a fault gives the
 *    bytes read before it);
 *  - BATCH: always `failed` and `done` values. MMIO_OK needs failed ==
 *    PROTO_BATCH_NONE; an error with failed == PROTO_BATCH_NONE (the batch
 *    was refused as a whole) needs done == 0; otherwise failed == done;
 *  - CLOSE, WRITE_ONCE, WRITE, FILL, UNMAP, and any opcode this code does
 *    not know (a bare error reply: status < 0, done 0): no body.
 *
 * A refusal (status < 0) may say why: reason.code non-zero, encoded after
 * the body as the reason record; reason must then pass proto_reason_valid()
 * with the reply's status. reason.code 0: no record. A reply of a version
 * below PROTO_VERSION_REASONS has no record: the encoder leaves the reason
 * out, the decoder refuses one (MMIO_EPROTO, as any byte past the body).
 */
struct proto_reply {
	unsigned opcode;  /* enum proto_opcode */
	unsigned version; /* the header's; encode: 0 is PROTO_VERSION (HELLO: always 1) */
	int status;	  /* enum mmio_status */
	uint64_t done;
	struct mmio_reason reason;
	union {
		struct proto_hello_rep hello;
		struct proto_list_rep list;
		struct proto_open_rep open;
		struct proto_value_rep read_once;
		struct proto_read_rep read;
		struct proto_batch_rep batch;
		struct proto_value_rep poll;
		struct proto_map_rep map;
		struct proto_stats_rep stats;
		struct proto_buf_attach_rep buf_attach;
		struct proto_buf_attach_rep irq; /* the token of the interrupt descriptor */
	};
};

/* ------------------------------------------------------------------------
 * Encoding and decoding.
 * ------------------------------------------------------------------------ */

/*
 * Encode @req into @buf (@cap bytes; @buf may be NULL when @cap is 0).
 * Encoding the same struct always gives the same bytes.
 *
 * Returns MMIO_OK with *@len = the message size; MMIO_ENOMEM with *@len = the
 * size needed if it does not fit in @cap (so pass cap 0 to size a message;
 * @buf's contents are then unspecified); MMIO_EINVAL (*@len = 0) if @req is
 * not a valid request: unknown opcode, width not 1/2/4/8, value, mask or
 * want not fitting the width, invalid name (proto_name_valid()), unknown flag
 * bits, min_version 0 or above max_version, a version above 0xFFFF, a batch
 * count above PROTO_BATCH_MAX or with no ops, an invalid batch op, or data
 * NULL with a non-zero len. @len may be NULL.
 */
int proto_request_encode(const struct proto_request *req, void *buf, size_t cap, size_t *len);

/*
 * Decode the request in @buf (@len bytes, e.g. an nng message body) into
 * *@out. Payload pointers in *@out point into @buf (see the top of this
 * file). Nothing past @buf + @len is read.
 *
 * Returns:
 *  - MMIO_OK: *@out holds the request;
 *  - MMIO_EPROTO: malformed: shorter than a header, bad magic, a body
 *    shorter or longer than its fields say (truncation, trailing bytes),
 *    a length or count that exceeds the bytes present or its bound, a
 *    width not 1/2/4/8, a value/mask/want not fitting the width, an invalid
 *    name, unknown flag bits, non-zero fields an op does not use, a HELLO
 *    with min_version 0 or above max_version;
 *  - MMIO_EVERSION: the header's version is not one this code speaks;
 *  - PROTO_EUNKNOWN_OP: valid header, opcode not known.
 * On any error *@out is zeroed except out->opcode, which holds the request's
 * opcode whenever the header was readable (as proto_peek_opcode() gives it),
 * for logs. Answer every error with proto_error_reply_encode().
 */
int proto_request_decode(const void *buf, size_t len, struct proto_request *out);

/*
 * Encode @rep into @buf, as proto_request_encode() does (same MMIO_ENOMEM
 * sizing contract). For a READ reply, data may already be at
 * buf + PROTO_READ_DATA_OFFSET (it is then not copied).
 *
 * Returns MMIO_OK, MMIO_ENOMEM, or MMIO_EINVAL if @rep breaks the rules of
 * struct proto_reply: status > 0; an opcode above 0xFFFF; done non-zero
 * where it must be 0; an unknown opcode with status MMIO_OK; invalid body
 * fields (unknown bits, cache above MMIO_CACHE_MAX, pinned width not
 * 0/1/2/4/8, HELLO version 0, invalid names); counts above their bounds; an
 * inconsistent BATCH failed/done; a payload pointer NULL with a non-zero
 * count.
 */
int proto_reply_encode(const struct proto_reply *rep, void *buf, size_t cap, size_t *len);

/*
 * Decode the reply in @buf (@len bytes) into *@out; zero-copy as for
 * requests. The caller checks that out->opcode is the opcode it sent.
 *
 * Returns MMIO_OK; MMIO_EPROTO for a malformed reply (as for requests, plus:
 * status > 0, a body that does not match the status as described at struct
 * proto_reply, done non-zero where it must be 0, done larger than the bytes
 * or the bound it counts); MMIO_EVERSION for a version this code does not
 * speak; PROTO_EUNKNOWN_OP for a well-formed header with an unknown opcode.
 * On error *@out is zeroed except that opcode, status and done are filled
 * whenever the whole header is present with the right magic (the reply
 * header is the same in every version), so a client can still report the
 * status of a reply it cannot fully read, e.g. MMIO_EVERSION.
 */
int proto_reply_decode(const void *buf, size_t len, struct proto_reply *out);

/*
 * The opcode of the request in @buf, for echoing in an error reply: the
 * header's opcode field if @len covers the whole request header and the magic
 * is PROTO_MAGIC_REQUEST (whatever the version or opcode value), else
 * PROTO_OP_NONE. @buf may be NULL if @len is 0.
 */
unsigned proto_peek_opcode(const void *buf, size_t len);

/*
 * Encode the reply to send when the request in @request (@request_len bytes,
 * possibly malformed or empty) fails with @status: the opcode is
 * proto_peek_opcode()'s, done is 0 and the body is the empty one for a
 * failed op (BATCH: failed = PROTO_BATCH_NONE, no values; POLL with
 * MMIO_ETIMEDOUT: value 0). PROTO_EUNKNOWN_OP is sent as MMIO_EPROTO.
 *
 * Returns as proto_reply_encode(); MMIO_EINVAL if @status is not negative.
 */
int proto_error_reply_encode(const void *request, size_t request_len, int status, void *buf,
			     size_t cap, size_t *len);

/*
 * As proto_error_reply_encode(), saying why (@why may be NULL: no record).
 * The reason names the request's opcode unless @why names another; it must
 * pass proto_reason_valid() with @status (else MMIO_EINVAL).
 */
int proto_refusal_encode(const void *request, size_t request_len, int status,
			 const struct mmio_reason *why, void *buf, size_t cap, size_t *len);

/* ------------------------------------------------------------------------
 * Reading the counted payloads (decoded or to-be-encoded structs alike).
 * ------------------------------------------------------------------------ */

/*
 * Op @index of batch @b into *@out. Returns MMIO_OK, or MMIO_EINVAL if
 * @index >= b->count or @b has neither ops nor wire.
 */
int proto_batch_op_get(const struct proto_batch_req *b, size_t index, struct proto_batch_op *out);

/*
 * Value @index of the BATCH reply @rep (index < rep->done) into *@out.
 * Returns MMIO_OK, or MMIO_EINVAL if @rep is not a BATCH reply, @index is
 * out of range or there are no values.
 */
int proto_batch_value_get(const struct proto_reply *rep, size_t index, uint64_t *out);

/* Counter @index (enum proto_stat) of @s; 0 if @s has fewer counters. */
uint64_t proto_stats_counter(const struct proto_stats_rep *s, unsigned index);

/* A cursor over the entries of a LIST reply. */
struct proto_list_iter {
	const struct proto_list_rep *list;
	uint32_t next;	 /* index of the next entry */
	size_t wire_pos; /* its offset in list->wire */
};

/* Start iterating over @l (which must outlive the iteration). */
void proto_list_iter_init(struct proto_list_iter *it, const struct proto_list_rep *l);

/*
 * The next entry into *@out. Returns true, or false at the end (or if the
 * entries are malformed, which a decoded reply never is).
 */
bool proto_list_iter_next(struct proto_list_iter *it, struct proto_list_entry *out);

/* ------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------ */

/* "READ_ONCE" etc.; "NONE" for PROTO_OP_NONE, "UNKNOWN" otherwise. Static. */
const char *proto_opcode_name(unsigned opcode);

/* True if @opcode is one of PROTO_OP_HELLO..PROTO_OP_MAX. */
bool proto_opcode_known(unsigned opcode);

/* "requests" etc. for enum proto_stat; "?" for an unknown index. Static. */
const char *proto_stat_name(unsigned index);

/*
 * True if @why is a reason a refusal with @status may carry: a known code
 * whose status (mmio_reason_status(); MMIO_REASON_NO_GRANT: MMIO_EACCES or
 * MMIO_ENOENT) is @status, a known opcode, and details as the code
 * describes them (<mmio/rights.h>; e.g. MMIO_REASON_WIDTH: a valid width
 * not among the allowed ones).
 */
bool proto_reason_valid(const struct mmio_reason *why, int status);

/*
 * The sentence of a refusal into @buf (@len bytes, always NUL-terminated if
 * @len > 0): "MMIO_EINVAL: a 4-byte access (READ_ONCE); the grant allows
 * 2-byte accesses only". Without a valid reason for @status:
 * "NAME: mmio_strerror(@status)". Returns the length it would have had,
 * as snprintf() does.
 */
int proto_reason_format(int status, const struct mmio_reason *why, char *buf, size_t len);

/* True if @width is valid and @value fits in @width bytes. */
bool proto_value_fits(unsigned width, uint64_t value);

/*
 * True if @name[0..@len) is a valid region name: 1 to PROTO_NAME_MAX bytes,
 * each of A-Z a-z 0-9 _ . - (so no NUL inside). @name may be NULL if @len is 0
 * (which is invalid).
 */
bool proto_name_valid(const char *name, size_t len);

/*
 * Version negotiation (server side of HELLO): the highest version in both
 * [@client_min, @client_max] and [PROTO_VERSION_MIN, PROTO_VERSION_MAX]
 * into *@chosen. Returns MMIO_OK, or MMIO_EVERSION if there is none.
 */
int proto_version_choose(unsigned client_min, unsigned client_max, unsigned *chosen);

#ifdef __cplusplus
}
#endif

#endif /* MMIO_PROTO_H */
