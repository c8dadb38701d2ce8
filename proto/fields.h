/* SPDX-License-Identifier: MIT */
/*
 * Private to proto/: codecs of the fields shared by several messages (names,
 * batch op records, list entries) and the header layouts. The encoder and the
 * decoder of each use the same validity predicate, so that whatever one
 * accepts the other does too.
 */
#ifndef MMIO_PROTO_FIELDS_H
#define MMIO_PROTO_FIELDS_H

#include <mmio/proto.h>

#include "wire.h"

/* Header layouts (PROTOCOL.md §2). */
#define PROTO_REQ_OFF_MAGIC   0u
#define PROTO_REQ_OFF_VERSION 4u
#define PROTO_REQ_OFF_OPCODE  6u
_Static_assert(PROTO_REQ_OFF_OPCODE + 2 == PROTO_REQUEST_HEADER_SIZE,
	       "request header: magic u32, version u16, opcode u16");
_Static_assert(4 + 2 + 2 + 4 + 8 == PROTO_REPLY_HEADER_SIZE,
	       "reply header: magic u32, version u16, opcode u16, status i32, done u64");
_Static_assert(1 + 1 + 4 + 8 + 8 + 8 + 4 == PROTO_BATCH_OP_SIZE,
	       "batch op: opcode u8, width u8, handle u32, offset u64, value u64, want u64, "
	       "timeout_us u32");
_Static_assert(PROTO_WRITE_DATA_OFFSET == PROTO_REQUEST_HEADER_SIZE + 4 + 8 + 8,
	       "WRITE: handle u32, offset u64, len u64, then the data");
_Static_assert(PROTO_EUNKNOWN_OP < MMIO_STATUS_MIN, "PROTO_EUNKNOWN_OP must not be a status");
_Static_assert(PROTO_OP_MAX <= UINT8_MAX, "batch op records hold the opcode in a u8");
/* Lengths on the wire are u64 and are checked against the bytes received,
 * which fit in size_t; the project is x86-64 only (CMakeLists.txt). */
_Static_assert(SIZE_MAX >= UINT64_MAX, "size_t must hold every u64 length");
_Static_assert(PROTO_NAME_MAX <= UINT8_MAX, "names are prefixed by a u8 length");

/* Fixed body sizes (PROTOCOL.md §3, §4). */
#define PROTO_HELLO_REQ_SIZE	  4u  /* min u16, max u16 */
#define PROTO_HANDLE_REQ_SIZE	  4u  /* handle u32 */
#define PROTO_READ_ONCE_REQ_SIZE  13u /* handle u32, width u8, offset u64 */
#define PROTO_WRITE_ONCE_REQ_SIZE 21u /* ... value u64 */
#define PROTO_READ_REQ_SIZE	  20u /* handle u32, offset u64, len u64 */
#define PROTO_FILL_REQ_SIZE	  21u /* handle u32, offset u64, len u64, byte u8 */
#define PROTO_POLL_REQ_SIZE	  33u /* handle, width, offset, mask, want, timeout_us */
#define PROTO_BUF_ATTACH_REQ_SIZE 8u  /* length u64 */
#define PROTO_BUF_REQ_SIZE	  4u  /* buffer u32 */
#define PROTO_SPAN_REQ_SIZE	  32u /* handle u32, offset u64, len u64, buffer u32, buf_offset u64 */
#define PROTO_ROWS_REQ_SIZE	  32u /* handle u32, offset u64, row_bytes u64, pitch u64, rows u32 */
#define PROTO_BUF_ATTACH_REP_SIZE 8u  /* token u64 */
#define PROTO_OPEN_REQ_FIXED	  20u /* after the name: offset u64, length u64, flags u32 */
#define PROTO_HELLO_REP_SIZE	  16u /* version u16, flags u16, 3 x u32 */
#define PROTO_OPEN_REP_FIXED	  26u /* handle u32, size u64, 6 x u8, phys u64; then where */
#define PROTO_VALUE_REP_SIZE	  8u
#define PROTO_MAP_REP_SIZE	  24u
#define PROTO_LIST_ENTRY_FIXED	  21u /* after the name: size u64, 5 x u8, phys u64; then where */
_Static_assert(PROTO_HELLO_REQ_SIZE == 2 + 2, "HELLO request body");
_Static_assert(PROTO_READ_ONCE_REQ_SIZE == 4 + 1 + 8, "READ_ONCE request body");
_Static_assert(PROTO_WRITE_ONCE_REQ_SIZE == 4 + 1 + 8 + 8, "WRITE_ONCE request body");
_Static_assert(PROTO_READ_REQ_SIZE == 4 + 8 + 8, "READ request body");
_Static_assert(PROTO_FILL_REQ_SIZE == 4 + 8 + 8 + 1, "FILL request body");
_Static_assert(PROTO_POLL_REQ_SIZE == 4 + 1 + 8 + 8 + 8 + 4, "POLL request body");
_Static_assert(PROTO_SPAN_REQ_SIZE == 4 + 8 + 8 + 4 + 8, "READ_SPAN/WRITE_SPAN request body");
_Static_assert(PROTO_ROWS_REQ_SIZE == 4 + 8 + 8 + 8 + 4, "READ_ROWS/WRITE_ROWS fixed fields");
_Static_assert(PROTO_OPEN_REQ_FIXED == 8 + 8 + 4, "OPEN request body after the name");
_Static_assert(PROTO_HELLO_REP_SIZE == 2 + 2 + 4 + 4 + 4, "HELLO reply body");
_Static_assert(PROTO_OPEN_REP_FIXED == 4 + 8 + 6 + 8, "OPEN reply body before where");
_Static_assert(PROTO_MAP_REP_SIZE == 8 + 8 + 8, "MAP reply body");
_Static_assert(PROTO_LIST_ENTRY_FIXED == 8 + 5 + 8, "LIST entry between name and where");

/* A NUL-terminated name of valid length and charset. */
bool proto_name_cstr_valid(const char *name);
/* u8 length + bytes, validated, copied NUL-terminated into @name. */
bool proto_name_read(struct proto_reader *r, char name[PROTO_NAME_MAX + 1]);
/* u8 length + bytes of a name already validated. */
void proto_name_write(struct proto_writer *w, const char *name);
/* The where text: u8 length 0..PROTO_WHERE_MAX, then printable ASCII. */
bool proto_where_valid(const char *where);
bool proto_where_read(struct proto_reader *r, char where[PROTO_WHERE_MAX + 1]);
void proto_where_write(struct proto_writer *w, const char *where);

bool proto_batch_op_valid(const struct proto_batch_op *op);
/* Unpack one PROTO_BATCH_OP_SIZE record; no validation. */
void proto_batch_op_parse(const uint8_t *rec, struct proto_batch_op *out);
void proto_batch_op_write(struct proto_writer *w, const struct proto_batch_op *op);

bool proto_list_entry_valid(const struct proto_list_entry *e);
/* One entry: read and validated. False on any problem. */
bool proto_list_entry_read(struct proto_reader *r, struct proto_list_entry *out);
void proto_list_entry_write(struct proto_writer *w, const struct proto_list_entry *e);

/* Turn a finished writer into the encoders' result. */
int proto_writer_finish(const struct proto_writer *w, size_t *len);

#endif /* MMIO_PROTO_FIELDS_H */
