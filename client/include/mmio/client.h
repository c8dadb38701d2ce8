/* SPDX-License-Identifier: MIT */
/*
 * libmmio: the client stub drivers link to reach device registers through
 * mmio-server (libmmio(3) is this header's manual).
 *
 * A driver connects once (mmio_connect), opens the regions the policy grants
 * it (mmio_open, mmio_open_range) and accesses them with once-ops
 * (mmio_read32, mmio_write32, ...), bulk copies (mmio_read, mmio_write),
 * fills and polls, or with an ordered batch of once-ops and polls in one
 * request (mmio_batch_*). Every status is an enum mmio_status value: 0 is
 * MMIO_OK, errors are negative; mmio_strerror() and mmio_status_name() turn
 * one into text.
 *
 * Access modes. In proxied mode every access is one request to the server,
 * which checks it against the policy and performs it. In direct mode the
 * server hands the stub a descriptor of the device memory (when the grant
 * has `map`, the region is not sensitive and the handle covers a whole
 * device in whole pages) and accesses are loads and stores on that mapping,
 * made by the same width-exact primitives and checked in the same order
 * against the rights the OPEN reply stated. The same call gives the same
 * result either way (values, statuses, done counts); only the speed
 * differs. Open with MMIO_OPEN_DIRECT to map where the policy allows,
 * MMIO_OPEN_REQUIRE_DIRECT to insist.
 *
 * Direct mode installs SIGBUS and SIGSEGV handlers (once per process, on the
 * first mapping) that turn a fault inside the stub's access primitives (and
 * the accesses this header inlines, see "Inline fast paths") into
 * MMIO_EFAULT with an exact count; any other fault goes on to the handler
 * installed before, or the default action. A program that installs its own
 * handler for these signals afterwards must chain to the previous one.
 *
 * Revocation. A region flagged MMIO_REGION_REVOCABLE (mmio_describe()) is
 * mapped through a kernel-shim window, which the server revokes when a
 * reload narrows or withdraws the grant (and when the handle or session
 * ends). The access that meets the revoked window - a library call, an
 * inline once-op or copy, a fill, poll or batch - returns MMIO_EREVOKED
 * with the exact count done before it and nothing written past it; the
 * region is then proxied for good (mmio_is_direct() returns 0): later
 * calls succeed if the new policy still grants the handle, with its new
 * rights, and return MMIO_EREVOKED if it was revoked.
 *
 * What a mapping that is not revocable cannot do: a policy reload that
 * withdraws the grant revokes the handle on the server (proxied requests on
 * it get MMIO_EREVOKED, and the server logs the pid that still holds the
 * mapping), but the mapping itself stays usable until the region is closed
 * or the process exits; and rights changed by a reload are not seen by a
 * direct region until it is reopened. Direct polls are not capped by the
 * server's max_poll_us (they spend the caller's own time), and direct
 * accesses appear in neither the server's STATS counters nor its audit
 * log.

 * Offsets. Every offset is relative to the start of the opened range (or
 * slice); mmio_size() is its length.
 *
 * The server decides. Statuses and done counts are the server's, passed on
 * unchanged. The stub refuses on its own only what it cannot even encode (a
 * width other than 1, 2, 4 or 8, a value wider than its width, an invalid
 * region name, unknown flag bits, NULL where a pointer is required: all
 * MMIO_EINVAL) and what it alone knows (the bounds of a slice, the batch
 * limit, and the range of a transfer it splits: see mmio_read()).
 *
 * Connection loss. A client's handles live on one connection. If it breaks
 * (server stopped or restarted, a reply that does not come in time, a reply
 * on another connection) the client is lost: the call in progress and every
 * later call return MMIO_ECONN. Nothing is reconnected behind the caller's
 * back, because the server forgets a lost connection's handles; connect
 * again and reopen.
 *
 * Thread-safety. An mmio_client may be used from several threads at once:
 * every call runs on its own nng context, so calls proceed concurrently and
 * one slow call (a long poll) does not hold up the others (up to 32 calls
 * in flight per client; more wait for one to finish). Calls on one
 * region from several threads are allowed too. Not allowed: closing a region
 * (or disconnecting its client) while another thread may still use it or
 * one of its slices. An mmio_batch belongs to one thread at a time.
 *
 * Blocking. Every call that talks to the server blocks until the reply
 * arrives. A reply that does not come within MMIO_REPLY_TIMEOUT_MS
 * (default 30000; a poll or a batch with polls adds its poll timeouts) loses
 * the client (MMIO_ECONN), as does the connection breaking during the wait.
 *
 * Environment: MMIO_SERVER (default URL), MMIO_CONNECT_TIMEOUT_MS (budget
 * of mmio_connect, default 5000), MMIO_REPLY_TIMEOUT_MS (see Blocking). The
 * timeouts are decimal numbers of milliseconds, 1 to 86400000; a malformed
 * value is ignored (the default applies). MMIO_SHARED_MIN: proxied bulk
 * copies of at least this many bytes (default 32768; decimal) move their
 * bytes through memory shared with the server instead of messages (see
 * mmio_buffer_alloc()); 0 means every copy, a huge value none.
 */
#ifndef MMIO_CLIENT_H
#define MMIO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <mmio/status.h> /* enum mmio_status, mmio_strerror(), mmio_status_name() */

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions; everything else in it is hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define MMIO_API __attribute__((visibility("default")))
#else
#define MMIO_API
#endif

typedef struct mmio_client mmio_client; /* one connection to mmio-server */
typedef struct mmio_region mmio_region; /* one opened range, or a slice of one */

/* The server mmio_connect(NULL, ...) reaches when $MMIO_SERVER is not set. */
#define MMIO_DEFAULT_URL "ipc:///run/mmio/mmio.sock"

/* ------------------------------------------------------------------------
 * Connection.
 * ------------------------------------------------------------------------ */

/*
 * Connect to the server at @url (nng syntax, e.g. "ipc:///run/mmio/mmio.sock")
 * and agree on a protocol version. @url NULL means $MMIO_SERVER if it is set
 * and not empty, else MMIO_DEFAULT_URL. The server identifies the caller by
 * the kernel's peer credentials; nothing is sent for it.
 *
 * Blocks until the server answers. A connection attempt that gets no answer
 * within about a second, or whose connection drops before the answer, is
 * abandoned and retried on a fresh socket, within a total budget of
 * $MMIO_CONNECT_TIMEOUT_MS (default 5000 ms). This rides out a server that
 * is starting, or repairing its listener (nng issue 1518).
 *
 * On success *@out is a new client, owned by the caller: release it with
 * mmio_disconnect(). Thread-safe (each call makes its own client).
 *
 * Returns MMIO_OK; MMIO_EINVAL if @out is NULL or @url is empty or not an
 * address nng accepts; MMIO_EACCES at once, without retrying, if the
 * caller may not connect to the socket (connect(2) would fail with EACCES:
 * no write permission on it, or no search permission on a directory of
 * its path; mmio_connect_error() names the path, its owner and its mode),
 * and after three connections closed at once if the server opened no door
 * for the caller and closes its connections on the public socket (its
 * policy grants this account nothing: server.limits.ungranted_sessions);
 * MMIO_ECONN if no server answered within the budget;
 * MMIO_EVERSION if the server speaks none of this library's protocol
 * versions; MMIO_EPROTO if its answer is malformed or announces impossible
 * limits; MMIO_ENOMEM; MMIO_EINTERNAL if nng fails unexpectedly; or any
 * other status the server answers the greeting with. On error *@out is
 * NULL.
 */
MMIO_API int mmio_connect(const char *url, mmio_client **out);

/*
 * Why the calling thread's last mmio_connect() failed, when the library
 * knows more than the status: for MMIO_EACCES, "PATH: permission denied
 * (owner uid U gid G, mode 0MMM)" or "PATH closes every connection of uid
 * U at once: the server's policy grants this account nothing ..."; for
 * MMIO_EINVAL, which argument ("URL: not an address nng accepts (...)",
 * "the URL is empty", "out is NULL"). "" when there is nothing to add (or
 * the last call succeeded). The string is the thread's own, valid until
 * its next mmio_connect(). Does not block.
 */
MMIO_API const char *mmio_connect_error(void);

/*
 * Close the connection and every region and slice opened through it (the
 * server releases their handles and exclusive ranges when the connection
 * closes). Pointers to those regions are invalid afterwards. Unfinished
 * mmio_batch objects of this client must still be freed with
 * mmio_batch_free(), and must not be run. NULL is fine.
 *
 * Blocks until the connection is closed. Must not run concurrently with any
 * other call on @c or its regions.
 */
MMIO_API void mmio_disconnect(mmio_client *c);

/*
 * Why the calling thread's last call on @c failed, as a sentence for
 * people: the status name, then the reason the server (or a direct
 * handle's own check) gave, e.g. "MMIO_EINVAL: a 4-byte access; the grant
 * allows 2-byte accesses only" or "MMIO_EACCES: the grant has no `bulk` op
 * (mmio_read needs it)"; without a reason (a server of protocol version 1
 * sends none), the status's mmio_strerror().
 * Written into @buf (@len bytes, always NUL-terminated when @len > 0; ""
 * if there is no failure to tell; @buf may be NULL to get the status only).
 *
 * Returns the status of that failure, or MMIO_OK if this thread's last
 * request to the server on @c succeeded, or it made none. A direct
 * handle's failures are recorded as the server's would be, its successes
 * are not (they clear nothing); so are calls refused by the library's own
 * argument checks before any request (a NULL pointer, a width that is not
 * 1, 2, 4 or 8, a slice's end, a strided copy's geometry, a pinned
 * width's granule, a bad name or flags), e.g. "MMIO_EINVAL: the pitch, 8
 * bytes, is shorter than a row". A call given no client or region to name
 * (a NULL region) is told by mmio_last_error() of any client, NULL
 * included.
 *
 * mmio_close() leaves it as it was, so a driver may close the region
 * before printing why an access failed. Per thread and per client: each
 * thread keeps its own last failure (and of one client at a time: a call
 * on another client replaces it); mmio_disconnect(@c) forgets the calling
 * thread's. Does not block.
 * Thread-safe.
 */
MMIO_API int mmio_last_error(const mmio_client *c, char *buf, size_t len);

/*
 * 1 if @c carries its requests in a mailbox shared with the server (a
 * buffer and two futex words instead of a socket round trip; the results
 * are the same), 0 if every request takes the socket: the server has no
 * descriptor channel, or $MMIO_MAILBOX is "0" (or @c is NULL). Does not
 * block. Thread-safe.
 */
MMIO_API int mmio_has_mailbox(const mmio_client *c);

/* ------------------------------------------------------------------------
 * Regions.
 * ------------------------------------------------------------------------ */

#define MMIO_OPEN_PROXIED	 0u /* every access is a message */
#define MMIO_OPEN_DIRECT	 1u /* map if the grant allows, else proxied */
#define MMIO_OPEN_REQUIRE_DIRECT 2u /* map, or fail with MMIO_EACCES */

/*
 * Open the whole of the caller's first grant on region @region (offset 0 of
 * the grant is offset 0 of the handle; mmio_size() is the grant's size).
 * @flags is a combination of MMIO_OPEN_*. An exclusive grant is held until
 * the region and all its slices are closed, or the client disconnects.
 *
 * On success *@out is a new region owned by the caller; release it with
 * mmio_close(). Blocks for one round trip (two if the open has to be undone;
 * a direct open adds MAP and the descriptor channel). MMIO_OPEN_DIRECT falls
 * back to proxied whatever keeps the mapping from being had, except a lost
 * connection. Thread-safe.
 *
 * Returns MMIO_OK; MMIO_EINVAL if @c, @region or @out is NULL, @region is not
 * a valid name (1 to 63 of A-Z a-z 0-9 _ . -) or @flags has unknown bits;
 * MMIO_ENOENT if the client may not see such a region; MMIO_EACCES if the
 * policy forbids the open, or MMIO_OPEN_REQUIRE_DIRECT was asked and a
 * direct mapping cannot be had (no `map` in the grant, a sensitive region,
 * a handle that is not a whole device in whole pages, a transport with no
 * descriptor channel: only ipc:// has one); MMIO_EBUSY if an
 * exclusive grant is held by another handle; MMIO_ENOMEM (out of memory, or
 * the server's per-client handle limit); MMIO_ECONN; MMIO_EPROTO; or any
 * other status the server answers. On error *@out is NULL (when @out is not
 * NULL).
 */
MMIO_API int mmio_open(mmio_client *c, const char *region, unsigned flags, mmio_region **out);

/*
 * Open the range [@offset, @offset + @len) of region @region, offsets counted
 * from the start of the region (not of a grant). The range must lie inside
 * one grant of the caller; offset 0 of the new handle is @offset of the
 * region. @len SIZE_MAX means "up to the end of the grant that contains
 * @offset". Otherwise as mmio_open(), plus: MMIO_EACCES if the range is
 * empty, reversed (wraps) or not inside one grant.
 */
MMIO_API int mmio_open_range(mmio_client *c, const char *region, size_t offset, size_t len,
			     unsigned flags, mmio_region **out);

/*
 * A sub-view [@offset, @offset + @len) of @r, in @r's offsets: offset 0 of
 * the slice is @offset of @r. The slice shares @r's server handle (no round
 * trip) and keeps it open: the handle is closed when the last of @r and its
 * slices is closed. Accesses through a slice are bounds-checked against the
 * slice by the stub (an access past its end is MMIO_EINVAL, with the fill
 * rules of mmio_fill()) before they reach the server.
 *
 * On success *@out is a new region owned by the caller; release it with
 * mmio_close(). Does not block. Thread-safe.
 *
 * Returns MMIO_OK; MMIO_EINVAL if @r or @out is NULL, @len is 0, the range
 * wraps or ends past mmio_size(@r), or the region has a pinned access width
 * (mmio_describe()) and @offset or @len is not a multiple of it;
 * MMIO_ENOMEM; MMIO_ECONN if @r's client is lost.
 */
MMIO_API int mmio_slice(const mmio_region *r, size_t offset, size_t len, mmio_region **out);

/*
 * Close @r. If it was the last view of its server handle (see mmio_slice()),
 * a direct mapping is unmapped and the handle is closed on the server (one
 * round trip; a failure there is not reported: the handle goes with the
 * connection anyway). NULL is fine.
 * No other thread may be using @r.
 */
MMIO_API void mmio_close(mmio_region *r);

/* The length of @r in bytes (accesses span offsets 0 to this); 0 for NULL.
 * Does not block. Thread-safe (as mmio_is_direct()). */
MMIO_API size_t mmio_size(const mmio_region *r);

/* 1 if accesses to @r are direct loads and stores, 0 if proxied (or NULL). */
MMIO_API int mmio_is_direct(const mmio_region *r);

/* ------------------------------------------------------------------------
 * Once-ops: exactly one load or store of the stated width.
 *
 * Each is one round trip (proxied) or one load or store (direct). Thread-safe.
 * Returns MMIO_OK; MMIO_EINVAL
 * if @r (or, for reads, @v) is NULL, or — the server's answer — the access
 * is out of range, misaligned or of a width the grant does not allow (on a
 * slice, out of range is found by the stub); MMIO_EACCES if the policy
 * forbids it (no `once` op, no read/write access); MMIO_EFAULT if the access
 * faulted; MMIO_EREVOKED if the grant was withdrawn; MMIO_ECONN; MMIO_EPROTO;
 * MMIO_EINTERNAL. On error *@v is unchanged.
 * ------------------------------------------------------------------------ */

MMIO_API int mmio_read8(mmio_region *r, size_t off, uint8_t *v);
MMIO_API int mmio_read16(mmio_region *r, size_t off, uint16_t *v);
MMIO_API int mmio_read32(mmio_region *r, size_t off, uint32_t *v);
MMIO_API int mmio_read64(mmio_region *r, size_t off, uint64_t *v);
MMIO_API int mmio_write8(mmio_region *r, size_t off, uint8_t v);
MMIO_API int mmio_write16(mmio_region *r, size_t off, uint16_t v);
MMIO_API int mmio_write32(mmio_region *r, size_t off, uint32_t v);
MMIO_API int mmio_write64(mmio_region *r, size_t off, uint64_t v);

/*
 * Inline fast paths. On x86-64 with GCC 11 or Clang 13 or later, the
 * once-ops above and mmio_read()/mmio_write() below are also defined inline
 * (<mmio/client_inline.h>, which this header includes at its end): on a
 * direct region, an access the grant allows is made in the caller's own
 * code, without a call; anything else (proxied regions, errors) calls the
 * library. Values, statuses and done counts are the same either way, and
 * so are blocking and thread-safety. A fault in an inline access is
 * MMIO_EFAULT too, and a NULL region MMIO_EINVAL, through the library's
 * SIGBUS/SIGSEGV handler (in a thread that blocks SIGSEGV a NULL region
 * ends the process, as a device's fault would). The inline accesses are
 * compiler barriers, as a call is.
 *
 * Define MMIO_NO_INLINE before including this header to always call the
 * library (needed with an assembler older than GNU as 2.36). Taking a
 * function's address, or calling it as (mmio_read32)(...), also reaches the
 * library.
 */

/* ------------------------------------------------------------------------
 * Bulk operations.
 * ------------------------------------------------------------------------ */

/*
 * Copy @len bytes from offset @off of @r into @buf (mmio_read) or from @buf
 * to offset @off of @r (mmio_write). The device side uses aligned accesses,
 * at each step the widest the grant allows that the address is aligned to
 * and the bytes left hold (up to mmio_describe()'s bulk_width; a grant of
 * one width makes every access that wide).
 * *@done (if @done is not NULL) is set to the number of bytes moved, always.
 *
 * A transfer larger than one message (the server's max_message less the
 * header) is split into consecutive requests. The stub then checks the whole
 * range against mmio_size(@r) (and, for a pinned width, that @off and @len
 * are whole accesses) before sending anything, so that a bad range moves
 * nothing, exactly as a single request would. The parts run in order and
 * stop at the first error, which is returned with *@done = the bytes moved
 * by all parts together. Parts are separate requests: another thread's
 * accesses may fall between them.
 *
 * Blocks for one round trip per part (proxied); direct, one copy on the
 * mapping, with the same checks (the range of a transfer larger than one
 * message is checked whole first, as above). Thread-safe; @buf must not be
 * touched by the caller meanwhile (it is the caller's, never retained).
 *
 * Returns MMIO_OK (*@done = @len); MMIO_EINVAL if @r is NULL, @buf is NULL
 * with a non-zero @len, or (server or stub) the range overflows or ends past
 * the region, or breaks its pinned width (nothing moved); MMIO_EACCES if the
 * policy forbids it (no `bulk` op, no read/write access, a sensitive
 * region); MMIO_EFAULT when a fault stopped it (*@done = the exact bytes
 * moved); MMIO_EREVOKED; MMIO_ENOMEM; MMIO_ECONN; MMIO_EPROTO (a reply that
 * claims more bytes than asked, or a short transfer without an error);
 * MMIO_EINTERNAL.
 */
MMIO_API int mmio_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done);
MMIO_API int mmio_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done);

/*
 * Strided copies: @rows rows of @row_bytes bytes, row i at offset @off + i *
 * @pitch of @r, packed one after the other in @buf (row i at @buf + i *
 * @row_bytes): mmio_read_rows() from the device into @buf, mmio_write_rows()
 * from @buf to the device. A framebuffer's rectangle, a ring of descriptors
 * with gaps between them. Each row is copied as mmio_read()/mmio_write()
 * copy (the same widths, checks and rights: `bulk` and r or w), in order;
 * proxied, as many rows as one message carries go in one request
 * (READ_ROWS / WRITE_ROWS), a row longer than that as a copy of its own.
 * *@done (if not NULL) is always set: the bytes moved, counted in @buf, so
 * a fault in row k after b of its bytes gives k * @row_bytes + b.
 *
 * The geometry is checked whole before anything moves: MMIO_EINVAL (nothing
 * moved) for @rows or @row_bytes 0, @pitch < @row_bytes, a last row that
 * overflows or ends past mmio_size(@r), @row_bytes * @rows overflowing, or
 * (a grant whose widths make a granule, mmio_describe()'s width) an offset,
 * row or pitch that is not a whole number of them.
 *
 * Blocks for one round trip per request (proxied). Thread-safe; @buf must
 * not be touched meanwhile. Returns MMIO_OK (*@done = @row_bytes * @rows);
 * MMIO_EINVAL (also for NULL @r or @buf); MMIO_EACCES; MMIO_EFAULT with the
 * exact count; MMIO_EREVOKED; MMIO_ENOMEM; MMIO_ECONN; MMIO_EPROTO;
 * MMIO_EINTERNAL.
 */
MMIO_API int mmio_read_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
			    void *buf, size_t *done);
MMIO_API int mmio_write_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch,
			     size_t rows, const void *buf, size_t *done);

/*
 * Store @byte to @len bytes from offset @off: @len 0 is
 * MMIO_OK; @off at or past the end is MMIO_EINVAL with 0 written; otherwise
 * min(@len, size - @off) bytes are written and, if that is short of @len, the
 * result is MMIO_EINVAL with that count. One request whatever the length.
 * *@done (if not NULL) is always set.
 *
 * Blocks for one round trip (proxied). Thread-safe. Returns as above, or
 * MMIO_EINVAL if @r is NULL or the pinned width is broken; MMIO_EACCES;
 * MMIO_EFAULT with
 * the exact count; MMIO_EREVOKED; MMIO_ECONN; MMIO_EPROTO; MMIO_EINTERNAL.
 */
MMIO_API int mmio_fill(mmio_region *r, size_t off, size_t len, uint8_t byte, size_t *done);

/*
 * Read the register of 8, 16, 32 or 64 bits (one access of that width, as
 * mmio_read8() ... mmio_read64()) at @off until (value & @mask) == @want, or until
 * @timeout_us microseconds have passed (the readl_poll_timeout of Linux
 * drivers). Proxied, the waiting happens in the server, which may cap the
 * timeout at its own maximum; direct, in the caller (spinning for 50 us,
 * then sleeping with a back-off up to 1 ms). *@last (if @last is not NULL)
 * gets the last value read, both on success and on timeout.
 *
 * Blocks up to about @timeout_us plus one round trip. Thread-safe.
 *
 * Returns MMIO_OK; MMIO_ETIMEDOUT if the value did not appear in time;
 * MMIO_EINVAL if @r is NULL, or as for mmio_read32(); MMIO_EACCES (no `poll`
 * op or no read access); MMIO_EFAULT; MMIO_EREVOKED; MMIO_ECONN; MMIO_EPROTO;
 * MMIO_EINTERNAL. *@last is unchanged on other errors.
 */
MMIO_API int mmio_poll8(mmio_region *r, size_t off, uint8_t mask, uint8_t want, uint32_t timeout_us,
			uint8_t *last);
MMIO_API int mmio_poll16(mmio_region *r, size_t off, uint16_t mask, uint16_t want,
			 uint32_t timeout_us, uint16_t *last);
MMIO_API int mmio_poll32(mmio_region *r, size_t off, uint32_t mask, uint32_t want,
			 uint32_t timeout_us, uint32_t *last);
MMIO_API int mmio_poll64(mmio_region *r, size_t off, uint64_t mask, uint64_t want,
			 uint32_t timeout_us, uint64_t *last);

/* ------------------------------------------------------------------------
 * Describing regions.
 * ------------------------------------------------------------------------ */

/* MMIO_ACCESS_*, MMIO_OPS_*, MMIO_WIDTH_BIT(), MMIO_CACHE_*, MMIO_REGION_* */
#include <mmio/rights.h>

/* What a region (mmio_list) or an opened handle (mmio_describe) allows. */
struct mmio_region_info {
	char name[64]; /* region name, NUL-terminated */
	/* mmio_list: bytes of the client's first grant; mmio_describe: mmio_size(). */
	uint64_t size;
	unsigned access; /* MMIO_ACCESS_* */
	unsigned ops;	 /* MMIO_OPS_* */
	unsigned widths; /* MMIO_WIDTH_BIT()s of the allowed access widths */
	unsigned cache;	 /* MMIO_CACHE_* */
	unsigned flags;	 /* MMIO_REGION_* */
	/* The granule of copies and fills, 0 for none: their offset and length
	 * must be multiples of it (the smallest width the grant allows, when it
	 * does not allow all four). Always 0 in mmio_list. */
	unsigned width;
	/* The widest access copies and fills make: each step uses the widest
	 * width of @widths its address is aligned to and the rest holds, so
	 * aligned bulk moves this many bytes an access (a grant that lists one
	 * width pins it). */
	unsigned bulk_width;
	/* Where it lies, when the server knows: the PCI function and BAR
	 * ("0000:00:07.0 BAR0") or "phys 0x..." ("" for a simulated device),
	 * and the physical address of byte 0 (0 when none), so the range is
	 * [phys, phys + size). */
	char where[64];
	uint64_t phys;
};

/*
 * The regions client @c may see, as the policy grants them (the LIST
 * request). On success *@out is an array of *@count entries allocated by
 * the library (NULL when *@count is 0), owned by the caller: release it with
 * mmio_list_free().
 *
 * Blocks for one round trip. Thread-safe.
 *
 * Returns MMIO_OK; MMIO_EINVAL if an argument is NULL; MMIO_ENOMEM;
 * MMIO_ECONN; MMIO_EPROTO; or any status the server answers. On error
 * *@out is NULL and *@count 0 (when not NULL).
 */
MMIO_API int mmio_list(mmio_client *c, struct mmio_region_info **out, size_t *count);

/* Free an array returned by mmio_list(). NULL is fine. Does not block. */
MMIO_API void mmio_list_free(struct mmio_region_info *list);

/*
 * What @r allows, from the server's answer to its open, into *@out; name is
 * the region's and size is mmio_size(@r). Does not block. Thread-safe.
 * Returns MMIO_OK, or MMIO_EINVAL if an argument is NULL.
 */
MMIO_API int mmio_describe(const mmio_region *r, struct mmio_region_info *out);

/* ------------------------------------------------------------------------
 * Shared buffers: the data plane of proxied bulk copies.
 *
 * A message carries a copy's bytes through the socket; a proxied copy of at
 * least MMIO_SHARED_MIN bytes (default 32 KiB) instead goes through memory
 * shared with the server (a sealed memfd handed over on the descriptor
 * channel, so ipc:// only): the server copies between the device and that
 * memory with the same checks and the same exact counts. For an ordinary
 * @buf the library stages the bytes in a shared buffer of its own (4 MiB,
 * one copy at a time per client); for memory from mmio_buffer_alloc() it
 * names the memory itself and copies nothing. Results are the same on
 * every path. If the server has no descriptor channel or refuses the
 * memory, copies stay inline.
 * ------------------------------------------------------------------------ */

/*
 * Allocate @size bytes (rounded up to whole pages) shared with the server of
 * @c, for mmio_read()/mmio_write() buffers that are never copied through the
 * library (zero-copy). The memory is readable and writable by the caller;
 * it lives until mmio_buffer_free() or mmio_disconnect(@c). A client may
 * hold 8 shared buffers and 1 GiB unless the policy says otherwise
 * (limits.max_buffers, limits.max_buffer_bytes).
 *
 * Blocks for two round trips. Thread-safe. Returns MMIO_OK with *@out;
 * MMIO_EINVAL (NULL argument, @size 0 or over 1 TiB); MMIO_EACCES (the
 * server has no descriptor channel, or the URL is not ipc://); MMIO_ENOMEM
 * (here, or a server limit); MMIO_ECONN; MMIO_EPROTO; MMIO_EINTERNAL.
 */
MMIO_API int mmio_buffer_alloc(mmio_client *c, size_t size, void **out);

/* Free memory from mmio_buffer_alloc() (@p as it returned it; NULL is fine).
 * Blocks for one round trip (none if the client is lost); no other thread
 * may be using @p. Thread-safe otherwise. */
MMIO_API void mmio_buffer_free(mmio_client *c, void *p);

/* ------------------------------------------------------------------------
 * Server statistics.
 * ------------------------------------------------------------------------ */

/* One server counter. */
struct mmio_stat {
	const char
		*name; /* "requests", "bytes_read", ...; "?" for one this library does not know */
	uint64_t value;
};

/*
 * The server's counters (the STATS request), in the server's order, into
 * @out[0 .. min(@cap, n)), where n, the number the server sent, goes to
 * *@count (so call with @cap 0 to learn n; a server sends at most 256).
 * Names are static strings.
 *
 * Blocks for one round trip. Thread-safe.
 *
 * Returns MMIO_OK; MMIO_EINVAL if @c or @count is NULL, or @out is NULL
 * with a non-zero @cap; MMIO_ENOMEM; MMIO_ECONN; MMIO_EPROTO; or any status
 * the server answers (e.g. MMIO_EACCES if the policy hides the counters).
 */
MMIO_API int mmio_stats(mmio_client *c, struct mmio_stat *out, size_t cap, size_t *count);

/* ------------------------------------------------------------------------
 * Batches: an ordered list of once-ops and polls, on any regions of one
 * client, run by the server in one request (ops on direct regions run in
 * the caller, in the same order). The run stops at the first op that fails
 * and says which; nothing after it runs.
 *
 * Typical use:
 *
 *	mmio_batch *b;
 *	mmio_batch_new(c, &b);
 *	mmio_batch_write(b, regs, CTRL, 4, CTRL_RESET);
 *	mmio_batch_poll(b, regs, STATUS, 4, STATUS_READY, STATUS_READY, 1000);
 *	int id = mmio_batch_read(b, regs, VERSION, 4);
 *	size_t failed;
 *	if (mmio_batch_run(b, &failed) == MMIO_OK)
 *		mmio_batch_value(b, id, &version);
 *	mmio_batch_free(b);
 *
 * Widths are in bytes (1, 2, 4, 8). A batch may be run several times (it
 * keeps its ops; mmio_batch_clear() empties it). The regions named in it
 * must stay open until the last run. An mmio_batch is not thread-safe: one
 * thread at a time (different batches on one client may run concurrently).
 * ------------------------------------------------------------------------ */

typedef struct mmio_batch mmio_batch;

/* mmio_batch_run()'s *failed when no single op failed. */
#define MMIO_BATCH_NONE SIZE_MAX

/*
 * A new empty batch for client @c into *@out, owned by the caller (free it
 * with mmio_batch_free(), before or after mmio_disconnect(@c)). Does not
 * block. Returns MMIO_OK; MMIO_EINVAL if an argument is NULL; MMIO_ENOMEM.
 */
MMIO_API int mmio_batch_new(mmio_client *c, mmio_batch **out);

/* Free @b. NULL is fine. */
MMIO_API void mmio_batch_free(mmio_batch *b);

/* Remove every op from @b (keeping its memory for reuse). NULL is fine. */
MMIO_API void mmio_batch_clear(mmio_batch *b);

/* The number of ops in @b (0 for NULL). */
MMIO_API size_t mmio_batch_count(const mmio_batch *b);

/*
 * Append one op to @b: a read of @width bytes at @off of @r (its value is
 * fetched with mmio_batch_value()); a write of @value; or a poll that reads
 * @width bytes until (value & @mask) == @want or @timeout_us pass (its
 * value is the last one read). Does not block; nothing is sent.
 *
 * Returns the new op's index (0, 1, ...), or an error with @b unchanged:
 * MMIO_EINVAL if @b or @r is NULL, @r belongs to another client, @width is
 * not 1/2/4/8, @value/@mask/@want do not fit in @width bytes, @off +
 * @width is past the end of a slice (mmio_slice()), or the batch already
 * holds the most ops a batch can carry (4096); MMIO_ENOMEM. What the server
 * would refuse (misalignment, policy, a full-region range) is found when the
 * batch runs.
 */
MMIO_API int mmio_batch_read(mmio_batch *b, mmio_region *r, size_t off, unsigned width);
MMIO_API int mmio_batch_write(mmio_batch *b, mmio_region *r, size_t off, unsigned width,
			      uint64_t value);
MMIO_API int mmio_batch_poll(mmio_batch *b, mmio_region *r, size_t off, unsigned width,
			     uint64_t mask, uint64_t want, uint32_t timeout_us);

/*
 * Run every op of @b, in order: the ops on proxied regions in one request
 * (each run of consecutive proxied ops in one request, when the batch mixes
 * them with ops on direct regions, which run in the caller). An empty batch
 * succeeds at once without a round trip.
 *
 * Returns MMIO_OK (every op done; *@failed = MMIO_BATCH_NONE), or the
 * status of the first op that failed with *@failed = its index: the ops
 * before it completed (their values are available), it had no effect beyond
 * what its status says, and the ops after it did not run (neither has a
 * value, not even a timed-out poll). A batch refused as a whole
 * gives *@failed = MMIO_BATCH_NONE with: MMIO_EINVAL if @b is NULL or holds
 * more ops than the server's max_batch (nothing sent; split the batch), or
 * its request would exceed the server's message size; MMIO_ECONN;
 * MMIO_ENOMEM; MMIO_EPROTO; or any status the server refuses it with. (In
 * a mixed batch, a later request refused as a whole gives *@failed = the
 * index of its first op: the ops before it completed.)
 * @failed may be NULL.
 *
 * Blocks for one round trip (plus the time its polls wait). Not
 * thread-safe for @b; other calls on the client may run concurrently.
 */
MMIO_API int mmio_batch_run(mmio_batch *b, size_t *failed);

/*
 * The value of op @index from the last mmio_batch_run() of @b, into *@value:
 * a read's value, a poll's last value, 0 for a write. Only ops that
 * completed have one.
 *
 * Returns MMIO_OK; MMIO_EINVAL if an argument is NULL or op @index did not
 * complete in the last run (or there was none).
 */
MMIO_API int mmio_batch_value(const mmio_batch *b, size_t index, uint64_t *value);

/* ------------------------------------------------------------------------
 * Interrupts: the interrupt of a granted device, as a descriptor.
 * ------------------------------------------------------------------------ */

typedef struct mmio_irq mmio_irq; /* a held interrupt */

/*
 * Hold the interrupt of the PCI function behind region @region: its MSI
 * where it has one, else its INTx line, unless the region's `irq:` in the
 * policy says intx or msi (mmio_irq_is_msi() tells which). The
 * policy must grant this client op `irq` on it. The server hands over a
 * descriptor of the mmio-window kernel module on its descriptor channel
 * (so @c must be connected by ipc://); waiting and unmasking then need no
 * round trip. One client at a time holds a function's interrupt; it is
 * released by mmio_irq_close(), the end of the connection and the
 * process's death.
 *
 * After each INTx interrupt the device stays masked until
 * mmio_irq_unmask(): acknowledge the device first (edu: write the status
 * bits to 0x64), or unmasking counts the interrupt again at once.
 *
 * Blocks for one round trip to the server. Thread-safe.
 * Returns MMIO_OK with *@irq; or MMIO_EINVAL (an argument is NULL, or
 * the function has no interrupt of the kind the policy's `irq:` asks for),
 * MMIO_ENOENT (no such region visible to this client), MMIO_EACCES (no irq
 * grant there, or no descriptor channel), MMIO_EBUSY (another client, or
 * this one, holds it, or a kernel driver is bound to the function),
 * MMIO_ENOMEM, MMIO_ECONN (the connection is lost), MMIO_EINTERNAL (the
 * server has no mmio-window module; its log says why).
 */
MMIO_API int mmio_irq_open(mmio_client *c, const char *region, mmio_irq **irq);

/*
 * Release the interrupt and free @irq (NULL: nothing). The line is free for
 * the next holder once every copy of the descriptor is closed (a forked
 * child's too). Not concurrently with another call on @irq.
 */
MMIO_API void mmio_irq_close(mmio_irq *irq);

/*
 * The interrupt descriptor, non-blocking and close-on-exec, owned by @irq:
 * poll/epoll it for EPOLLIN, then call mmio_irq_wait() with timeout 0. It
 * reports EPOLLHUP|EPOLLERR once revoked. -1 for NULL.
 */
MMIO_API int mmio_irq_fd(const mmio_irq *irq);

/*
 * Wait up to @timeout_us microseconds (< 0: forever; 0: do not block) for
 * interrupts; *@count (may be NULL) is how many arrived since the previous
 * wait. One waiter per @irq at a time; mmio_irq_unmask() may run in another
 * thread meanwhile.
 *
 * Returns MMIO_OK (*@count >= 1); MMIO_ETIMEDOUT (*@count 0); MMIO_EREVOKED
 * (a reload withdrew the grant, or a driver bound to the function: a
 * blocked waiter is woken with it); MMIO_ECONN (the connection to the
 * server is lost: the server revokes a lost client's interrupt, and its
 * own death revokes them all); MMIO_EINVAL (@irq NULL); MMIO_EINTERNAL.
 * Every later call returns the same error.
 */
MMIO_API int mmio_irq_wait(mmio_irq *irq, int64_t timeout_us, uint64_t *count);

/*
 * Unmask the device's INTx after acknowledging the device. Does not block;
 * thread-safe. If the device still asserts its interrupt it stays masked
 * and one more interrupt is counted at once. Returns MMIO_OK,
 * MMIO_EREVOKED or MMIO_ECONN (as for mmio_irq_wait()), MMIO_EINVAL.
 */
MMIO_API int mmio_irq_unmask(mmio_irq *irq);

/*
 * 1 if @irq is the function's MSI vector (each message counts once,
 * nothing is masked, mmio_irq_unmask() is a no-op), 0 if it is the INTx
 * line, MMIO_EINVAL for NULL. Does not block; thread-safe.
 */
MMIO_API int mmio_irq_is_msi(const mmio_irq *irq);

/* Last: its macros must not rename the declarations above. */
#include <mmio/client_inline.h>

#ifdef __cplusplus
}
#endif

#endif /* MMIO_CLIENT_H */
