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
 * the once-ops this header inlines, see "Inline once-ops") into
 * MMIO_EFAULT with an exact count; any other fault goes on to the handler
 * installed before, or the default action. A program that installs its own
 * handler for these signals afterwards must chain to the previous one.
 *
 * What a direct mapping cannot do from userspace: a policy reload that
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
 * address nng accepts; MMIO_ECONN if no server answered within the budget;
 * MMIO_EVERSION if the server speaks none of this library's protocol
 * versions; MMIO_EPROTO if its answer is malformed or announces impossible
 * limits; MMIO_ENOMEM; MMIO_EINTERNAL if nng fails unexpectedly; or any
 * other status the server answers the greeting with. On error *@out is
 * NULL.
 */
MMIO_API int mmio_connect(const char *url, mmio_client **out);

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
 * 1 if @c carries its requests in a mailbox shared with the server (a
 * buffer and two futex words instead of a socket round trip; the results
 * are the same), 0 if every request takes the socket: the server has no
 * descriptor channel, or $MMIO_MAILBOX is "0" (or @c is NULL).
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

/* The length of @r in bytes (accesses span offsets 0 to this); 0 for NULL. */
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

/* ------------------------------------------------------------------------
 * Inline once-ops on direct regions.
 *
 * A register read through a call into the library costs about 3 times a
 * bare load; a driver polling registers in a tight loop notices. So on
 * x86-64 with GCC 11 or Clang 13 or later, the once-ops above are also defined
 * here, inline: on a direct region an access the grant allows (width,
 * bounds, alignment, the client not lost) is one load or store in the
 * caller's code (after a comparison, and on a view the library could not
 * place as below, a second comparison and the load of its base); anything
 * else (proxied regions, errors) calls the library, which gives the
 * status. Results are the same either way.
 *
 * Faults. Each inline access is listed in its module's mmio_extable section
 * (32-bit PC-relative entries, as the library's own primitives), and a
 * constructor this header adds to every file that includes it installs the
 * library's SIGBUS/SIGSEGV handler and registers that section with it (a
 * destructor removes it at dlclose), so a fault in the caller's code is
 * MMIO_EFAULT as well, and a NULL region MMIO_EINVAL (see below). The
 * accesses are compiler barriers, as a call would be: stores to ordinary
 * memory before a register write are made before it.
 *
 * Define MMIO_NO_INLINE before including this header to always call the
 * library (needed with an assembler older than GNU as 2.36, which does not
 * know the section flag "R"). Taking a once-op's address, or calling it as
 * (mmio_read32)(...), also reaches the library's function.
 * ------------------------------------------------------------------------ */

/*
 * Where a placed direct view's bytes are: MMIO__WINDOW_AT bytes past its
 * handle. The library gives a direct view a mapping of its own, with the
 * handle in private pages just before it, so that an inline access is one
 * load or store at a fixed distance from handle + offset: no base to load
 * first. 10 KiB, not a whole number of pages, so that a handle is half a
 * page from its view's first byte and not in the same L1 cache set.
 * Handles of views that start in the same 64-byte line of a page share a
 * set all the same, so the library places at most 8 such views at once: a
 * read from each of 32 views that start a page, in turn, measured 2.3-2.4
 * times a raw loop with all of them placed, 1.4-1.7 with 8 (mmio-bench's
 * "views 32"). A view it does not place (those, a slice whose base is not
 * aligned to 8, a mapping the kernel refuses) is reached inline as well,
 * through its base, at the widths its base is aligned to: the "any" ends
 * below, a second try that costs a load more (1.2 times a raw load).
 */
#define MMIO__WINDOW_AT 10240

/*
 * The first member of every mmio_region (its layout is part of the ABI):
 * what the inline once-ops check. For each width w = 1, 2, 4, 8 (index 0 to
 * 3), an aligned access at offset off may be made inline
 *  - at the handle + MMIO__WINDOW_AT + off if off < read_end[i]
 *    (write_end[i]): the end is 0 unless the region is placed as above;
 *  - at @base + off if off < any_read_end[i] (any_write_end[i]), on any
 *    direct region, placed or not;
 * and each end is 0 unless the region is direct, the grant has `once` and
 * allows width w in that direction, the region holds w bytes and its base
 * is aligned to w; then it is the region's size - w + 1.
 * The library zeroes the ends, with atomic stores, when the client is lost.
 * So one comparison settles rights, width and range.
 */
struct mmio_region_fast {
	/* Byte 0 of the region in the mapping (the handle + MMIO__WINDOW_AT
	 * if the region is placed). */
	unsigned char *base;
	size_t read_end[4];
	size_t write_end[4];
	/* Copies (mmio_read, mmio_write): [off, off + len) may be copied
	 * inline, in 8-byte accesses at the handle + MMIO__WINDOW_AT + off,
	 * if off + len <= the end and off is aligned to 8: the end is 0
	 * unless the region is placed, @base is aligned to 8, and the grant
	 * has `bulk` and that direction and pins no width but 8; then it is
	 * the region's size. Zeroed, as the others, when the client is lost. */
	size_t copy_read_end;
	size_t copy_write_end;
	/* Any direct region's once-op ends (at @base), for the header's second
	 * try and the library's own fast path. */
	size_t any_read_end[4];
	size_t any_write_end[4];
};

/* Called by the constructor and destructor below; not for other use.
 * Registering hands the module's table [@start, @stop) to the library's
 * SIGBUS/SIGSEGV handler, installing it if need be, and returns MMIO_OK, or
 * MMIO_ENOMEM (and says so on stderr) when 128 modules are registered
 * already. @fast_size and @window_at are sizeof(struct mmio_region_fast)
 * and MMIO__WINDOW_AT as the module's header has them: a library whose
 * struct is smaller or whose views lie elsewhere ends the program with a
 * message rather than let the inline code read what is not there. */
MMIO_API int mmio_inline_register(const void *start, const void *stop, size_t fast_size,
				  size_t window_at);
MMIO_API void mmio_inline_unregister(const void *start);

/* A once-op's status and read value, returned in registers. */
struct mmio_once_result {
	int status;
	uint64_t value;
};

/* The library's side of an inline once-op it did not make (@width in bytes):
 * as mmio_read32() and friends; not for other use. */
#if defined(__GNUC__) || defined(__clang__)
#define MMIO__COLD __attribute__((cold))
#else
#define MMIO__COLD
#endif
MMIO_API MMIO__COLD struct mmio_once_result mmio_inline_read(mmio_region *r, size_t off,
							     unsigned width);
MMIO_API MMIO__COLD int mmio_inline_write(mmio_region *r, size_t off, unsigned width, uint64_t v);

#if !defined(MMIO_NO_INLINE) && defined(__x86_64__) &&                                             \
	((defined(__clang__) && __clang_major__ >= 13) ||                                          \
	 (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define MMIO_INLINE_ONCE 1

/* This module's table of inline accesses (made by the linker; NULL if none). */
extern const char __start_mmio_extable[] __attribute__((weak, visibility("hidden")));
extern const char __stop_mmio_extable[] __attribute__((weak, visibility("hidden")));

/* Whether this file's constructor registered the table (and so its
 * destructor is to take its registration back). */
static int mmio__inline_registered;

__attribute__((constructor)) static void mmio__inline_register(void)
{
	if (__start_mmio_extable)
		mmio__inline_registered =
			mmio_inline_register(__start_mmio_extable, __stop_mmio_extable,
					     sizeof(struct mmio_region_fast),
					     MMIO__WINDOW_AT) == MMIO_OK;
}

__attribute__((destructor)) static void mmio__inline_unregister(void)
{
	if (mmio__inline_registered)
		mmio_inline_unregister(__start_mmio_extable);
}

/*
 * @insn, listed in this module's table with the asm goto's label @label
 * ("fault" in MMIO__FAULTY); @name tells the local labels of several
 * accesses in one asm apart.
 * The entry joins the function's section group ("?"), so that a linker that
 * drops a duplicate of an inline C++ function drops its entry too, and is
 * retained ("R"), so that --gc-sections keeps it although only the weak
 * __start_ symbol refers to the section (lld would drop it). The label is
 * unique to the asm (%=), not "1:", which Clang reads as a number in Intel
 * syntax; the "_" ends the name, so that a name ending in a digit cannot
 * run into the number ("ld1" in asm 32 and "ld" in asm 132 did).
 */
#define MMIO__FAULTY_TO(label, name, insn)                                                         \
	".Lmmio_" name "_%=:\t" insn "\n\t"                                                        \
	".pushsection mmio_extable,\"aR?\",@progbits\n\t"                                          \
	".balign 4\n\t"                                                                            \
	".long .Lmmio_" name "_%= - .\n\t"                                                         \
	".long %l[" label "] - .\n\t"                                                              \
	".popsection\n\t"
#define MMIO__FAULTY(insn) MMIO__FAULTY_TO("fault", "insn", insn)

/* A field of the region in register %[f], at the offset operand @field
 * ("i": an "m" operand would be a member access, through NULL for a NULL
 * region, which C leaves undefined). */
#define MMIO__ATT(field)	     "%c[" #field "](%[f])"
#define MMIO__INTEL(field)	     "[%[f]+%c[" #field "]]"
#define MMIO__FIELD_AT(name, member) [name] "i"(offsetof(struct mmio_region_fast, member))
/* The operand of the view's distance from its handle. */
#define MMIO__WINDOW [at] "i"(MMIO__WINDOW_AT)
/* Load that field into @reg. */
#define MMIO__LOAD_FIELD(field, reg)                                                               \
	"mov {" MMIO__ATT(field) ", " reg "|" reg ", " MMIO__INTEL(field) "}\n\t"

/*
 * Width 1 << @log2 bytes. The asm is volatile (GCC 12 drops an asm goto
 * whose outputs are unused otherwise) and clobbers memory (a barrier, as a
 * call is).
 *  - It compares the offset with the end itself, straight from memory (a
 *    relaxed load, as __atomic_load_n's is on x86): the compiler made a
 *    separate load and compare of the atomic, an instruction more per
 *    access, which cost a loop of back-to-back reads about a tenth.
 *  - The region is not tested for NULL: each try's comparison is listed,
 *    with the next try as its fixup (the second try's is the library's
 *    call), so a NULL region faults on both (its fields lie in the page at
 *    0, never mapped) and reaches the library, which refuses it. So that
 *    takes the fault handler, as a device's fault does: in a thread that
 *    blocks SIGSEGV, or under a handler installed later that does not pass
 *    faults on, a NULL region ends the process. The test and its branch
 *    were a third of a loop of back-to-back reads: three branches a read
 *    against the raw loop's one, 1.5 times as slow. A conditional move to
 *    an empty view instead cost a single read a fifth (three instructions
 *    in a dozen).
 *  - On a placed view the access is at MMIO__WINDOW_AT from the handle
 *    plus the offset: no base is loaded (that load, at every access, was
 *    what kept a loop of reads at 1.1-1.16 times a raw loop); the second
 *    try, for any other direct view, loads it. A read is one indexed load:
 *    given handle plus offset, the compiler added them first, which made a
 *    chain of reads (each at an offset the read before gave) about 1.2
 *    times as slow as raw loads instead of 1.03. A write adds them first:
 *    an indexed store cannot use every store port.
 */
/* Compare @reg with the end, listed with @label as its fixup: the first
 * load from the region, where a NULL region faults. */
#define MMIO__CMP_END_TO(label, reg)                                                               \
	MMIO__FAULTY_TO(label, "end",                                                              \
			"cmp {" MMIO__ATT(end) ", " reg "|" reg ", " MMIO__INTEL(end) "}")
#define MMIO__CMP_END(reg) MMIO__CMP_END_TO("slow", reg)
/* The end checks of the two tries: the placed view's, whose failure (or
 * fault) goes to "slow", the second try; and any direct view's, whose
 * failure goes to "call", the library. */
#define MMIO__CHECK_END	    MMIO__CMP_END("%[off]") "jae %l[slow]\n\t"
#define MMIO__CHECK_ANY_END MMIO__CMP_END_TO("call", "%[off]") "jae %l[call]\n\t"
/* The access: on a placed view, at MMIO__WINDOW_AT from handle plus offset
 * (the store's %0 takes their sum); on any view, from the base in %1 (%0
 * for the store). */
#define MMIO__LOAD_PLACED MMIO__FAULTY("mov {%c[at](%[f],%[off]), %0|%0, [%[f]+%[off]+%c[at]]}")
#define MMIO__STORE_PLACED                                                                         \
	"lea {(%[f],%[off]), %0|%0, [%[f]+%[off]]}\n\t" MMIO__FAULTY(                              \
		"mov {%[v], %c[at](%0)|[%0+%c[at]], %[v]}")
#define MMIO__LOAD_AT_BASE                                                                         \
	MMIO__LOAD_FIELD(base, "%1") MMIO__FAULTY("mov {(%1,%[off]), %0|%0, [%1+%[off]]}")
#define MMIO__STORE_AT_BASE                                                                        \
	MMIO__LOAD_FIELD(base, "%0")                                                               \
	"add {%[off], %0|%0, %[off]}\n\t" MMIO__FAULTY("mov {%[v], (%0)|[%0], %[v]}")
#define MMIO__ONCE_LOAD	     MMIO__CHECK_END MMIO__LOAD_PLACED
#define MMIO__ONCE_STORE     MMIO__CHECK_END MMIO__STORE_PLACED
#define MMIO__ONCE_LOAD_ANY  MMIO__CHECK_ANY_END MMIO__LOAD_AT_BASE
#define MMIO__ONCE_STORE_ANY MMIO__CHECK_ANY_END MMIO__STORE_AT_BASE
#define MMIO__INLINE_ONCE(bits, log2)                                                              \
	static inline int mmio__read##bits(mmio_region *r, size_t off, uint##bits##_t *v)          \
	{                                                                                          \
		struct mmio_once_result res;                                                       \
		uint##bits##_t x;                                                                  \
		uintptr_t t;                                                                       \
                                                                                                   \
		if (__builtin_expect(!v, 0))                                                       \
			return (mmio_read##bits)(r, off, v);                                       \
		if (__builtin_expect(off & ((bits) / 8 - 1), 0))                                   \
			goto call;                                                                 \
		__asm__ volatile goto(MMIO__ONCE_LOAD                                              \
				      : "=r"(x)                                                    \
				      : [f] "r"(r), [off] "r"(off),                                \
					MMIO__FIELD_AT(end, read_end[log2]), MMIO__WINDOW          \
				      : "memory", "cc"                                             \
				      : fault, slow);                                              \
		*v = x;                                                                            \
		return MMIO_OK;                                                                    \
	fault:                                                                                     \
		return MMIO_EFAULT;                                                                \
	slow:                                                                                      \
		__asm__ volatile goto(MMIO__ONCE_LOAD_ANY                                          \
				      : "=r"(x), "=&r"(t)                                          \
				      : [f] "r"(r), [off] "r"(off),                                \
					MMIO__FIELD_AT(end, any_read_end[log2]),                   \
					MMIO__FIELD_AT(base, base)                                 \
				      : "memory", "cc"                                             \
				      : fault, call);                                              \
		*v = x;                                                                            \
		return MMIO_OK;                                                                    \
	call:                                                                                      \
		res = mmio_inline_read(r, off, (bits) / 8);                                        \
		if (res.status == MMIO_OK)                                                         \
			*v = (uint##bits##_t)res.value;                                            \
		return res.status;                                                                 \
	}                                                                                          \
	static inline int mmio__write##bits(mmio_region *r, size_t off, uint##bits##_t v)          \
	{                                                                                          \
		uintptr_t t;                                                                       \
                                                                                                   \
		if (__builtin_expect(off & ((bits) / 8 - 1), 0))                                   \
			goto call;                                                                 \
		__asm__ volatile goto(MMIO__ONCE_STORE                                             \
				      : "=&r"(t)                                                   \
				      : [f] "r"(r), [off] "r"(off), [v] "r"(v),                    \
					MMIO__FIELD_AT(end, write_end[log2]), MMIO__WINDOW         \
				      : "memory", "cc"                                             \
				      : fault, slow);                                              \
		return MMIO_OK;                                                                    \
	fault:                                                                                     \
		return MMIO_EFAULT;                                                                \
	slow:                                                                                      \
		__asm__ volatile goto(MMIO__ONCE_STORE_ANY                                         \
				      : "=&r"(t)                                                   \
				      : [f] "r"(r), [off] "r"(off), [v] "r"(v),                    \
					MMIO__FIELD_AT(end, any_write_end[log2]),                  \
					MMIO__FIELD_AT(base, base)                                 \
				      : "memory", "cc"                                             \
				      : fault, call);                                              \
		return MMIO_OK;                                                                    \
	call:                                                                                      \
		return mmio_inline_write(r, off, (bits) / 8, v);                                   \
	}

MMIO__INLINE_ONCE(8, 0)
MMIO__INLINE_ONCE(16, 1)
MMIO__INLINE_ONCE(32, 2)
MMIO__INLINE_ONCE(64, 3)

#define mmio_read8(r, off, v)	mmio__read8(r, off, v)
#define mmio_read16(r, off, v)	mmio__read16(r, off, v)
#define mmio_read32(r, off, v)	mmio__read32(r, off, v)
#define mmio_read64(r, off, v)	mmio__read64(r, off, v)
#define mmio_write8(r, off, v)	mmio__write8(r, off, v)
#define mmio_write16(r, off, v) mmio__write16(r, off, v)
#define mmio_write32(r, off, v) mmio__write32(r, off, v)
#define mmio_write64(r, off, v) mmio__write64(r, off, v)
#endif /* inline once-ops */

/* ------------------------------------------------------------------------
 * Bulk operations.
 * ------------------------------------------------------------------------ */

/*
 * Copy @len bytes from offset @off of @r into @buf (mmio_read) or from @buf
 * to offset @off of @r (mmio_write). The device side uses aligned accesses
 * no wider than 8 bytes, all of the grant's pinned width if it has one.
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

/* MemorySanitizer does not see an asm's stores to memory: a buffer an
 * inline copy filled would look uninitialised to it. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#define MMIO__MSAN 1
#endif
#endif

#if defined(MMIO_INLINE_ONCE) && !defined(MMIO__MSAN)
/*
 * Copies inline. A copy of a multiple of 8 bytes up to
 * MMIO_INLINE_COPY_MAX, on a direct region where the grant allows it (see
 * struct mmio_region_fast) and the device address is aligned to 8, is made
 * in the caller's code: one 8-byte load and store per 8 bytes, in order,
 * exactly the accesses the library would make. Both instructions of each
 * step are in the module's table, so a fault in either is MMIO_EFAULT with
 * *done the bytes before that step, as in the library. Anything else calls
 * the library, whose call chain costs about 20 ns on the host before the
 * first access: three times a whole 64-byte copy, and still a third of a
 * 1 KiB one. The loop is the same at any length (no code grows with the
 * limit); a page is where the call's cost stops mattering (8 KiB ran at
 * 1.6-1.8 times a raw loop through the library, 4 KiB at 2.1 inline).
 */
#define MMIO_INLINE_COPY_MAX 4096

/* Offsets from here on (1 TiB) are left to the library: below it, off + len
 * cannot wrap, and the range is one comparison. */
#define MMIO__COPY_OFF_LIMIT ((size_t)1 << 40)

/* Whether the header may copy @len bytes at @off itself: 8 to
 * MMIO_INLINE_COPY_MAX, in steps of 8, at an offset aligned to 8 (a view
 * whose base is not has copy ends of 0) and below MMIO__COPY_OFF_LIMIT.
 * One comparison: rotated right by 3, len - 8 is (len - 8) / 8 if its low
 * 3 bits are clear and the offset's low 3 bits and high bits too, and at
 * least 2^37 otherwise (len 0 wraps to the top too). Three tests and
 * branches had cost an 8-byte read about a fifth. */
static inline int mmio__copy_shape(size_t off, size_t len)
{
	size_t x = (len - 8) | (off & ~(MMIO__COPY_OFF_LIMIT - 8));

	return ((x >> 3) | (x << (sizeof(x) * 8 - 3))) < MMIO_INLINE_COPY_MAX / 8;
}

/* Go to "slow" if @past, the offset past the copy, is past region @r's
 * copy end @member. In an asm for the once-ops' reasons: a NULL region
 * faults on the comparison's load (no test and branch of its own), and the
 * end is read once, as a relaxed atomic. */
#define MMIO__COPY_CHECK(r, past, member)                                                          \
	__asm__ volatile goto(MMIO__CMP_END("%[stop]") "ja %l[slow]"                               \
			      :                                                                    \
			      : [f] "r"(r), [stop] "r"(past), MMIO__FIELD_AT(end, member)          \
			      : "cc"                                                               \
			      : slow)

/* The base of region @r, once MMIO__COPY_CHECK has found it is one: at
 * MMIO__WINDOW_AT past it. Computed in an asm: the bytes are not part of
 * the handle's object, and C has no sound way from a pointer to one to a
 * pointer past it. A function of @r alone, so not volatile. */
static inline unsigned char *mmio__copy_base(mmio_region *r)
{
	unsigned char *base;

	__asm__("lea {%c[at](%[f]), %[b]|%[b], [%[f]+%c[at]]}"
		: [b] "=r"(base)
		: [f] "r"(r), MMIO__WINDOW);
	return base;
}

/* Step @k of up to four in one asm: 8 bytes at @at(%[src]) to @at(%[dst])
 * through output %@k, listed with @label. */
#define MMIO__COPY_STEP(label, k, at)                                                              \
	MMIO__FAULTY_TO(label, "ld" #k, "mov {" at "(%[src]), %" #k "|%" #k ", [%[src]+" at "]}")  \
	MMIO__FAULTY_TO(label, "st" #k, "mov {%" #k ", " at "(%[dst])|[%[dst]+" at "], %" #k "}")
#define MMIO__COPY_PAIR MMIO__COPY_STEP("fault", 0, "0") MMIO__COPY_STEP("fault8", 1, "8")
#define MMIO__COPY_GROUP                                                                           \
	MMIO__COPY_PAIR MMIO__COPY_STEP("fault16", 2, "16") MMIO__COPY_STEP("fault24", 3, "24")

/*
 * Copy @len bytes (a multiple of 8) from @src to @dst, one of them in the
 * mapping, in 8-byte steps in ascending order: one step if @len has 8, two
 * if it has 16, then groups of four to an asm, as the library's loop makes
 * them (it makes its groups first and the odd steps last: the same
 * addresses in the same order). One step per asm ran at 0.6 to 0.75 times
 * a raw volatile loop from 128 bytes on; the odd steps first kept 8 to 24
 * bytes nearest the raw loop.
 * Each step's load and store are listed with the label of its place in its
 * asm, whose code makes *@done the bytes before that step. Plain (base)
 * addresses on both sides: an indexed store cannot use every store port
 * (64-byte writes were a quarter slower). Always inline, as the two below: a
 * copy made here only pays if it is made in the caller (and Clang with
 * sanitizers did not inline it otherwise).
 */
__attribute__((always_inline)) static inline int
mmio__copy_steps(const unsigned char *src, unsigned char *dst, size_t len, size_t *done)
{
	const unsigned char *s = src;

	if (len & 8) {
		uint64_t t0;
		__asm__ volatile goto(MMIO__COPY_STEP("fault", 0, "0")
				      : "=&r"(t0)
				      : [src] "r"(s), [dst] "r"(dst)
				      : "memory"
				      : fault);
		s += 8;
		dst += 8;
	}
	if (len & 16) {
		uint64_t t0, t1;
		__asm__ volatile goto(MMIO__COPY_PAIR
				      : "=&r"(t0), "=&r"(t1)
				      : [src] "r"(s), [dst] "r"(dst)
				      : "memory"
				      : fault, fault8);
		s += 16;
		dst += 16;
	}
	for (size_t n = len / 32; n; n--, s += 32, dst += 32) {
		uint64_t t0, t1, t2, t3;
		__asm__ volatile goto(MMIO__COPY_GROUP
				      : "=&r"(t0), "=&r"(t1), "=&r"(t2), "=&r"(t3)
				      : [src] "r"(s), [dst] "r"(dst)
				      : "memory"
				      : fault, fault8, fault16, fault24);
	}
	if (done)
		*done = len;
	return MMIO_OK;
fault24:
	s += 8;
fault16:
	s += 8;
fault8:
	s += 8;
fault:
	if (done)
		*done = (size_t)(s - src);
	return MMIO_EFAULT;
}

__attribute__((always_inline)) static inline int mmio__read(mmio_region *r, size_t off, void *buf,
							    size_t len, size_t *done)
{
	if (!mmio__copy_shape(off, len) || !buf)
		goto slow;
	MMIO__COPY_CHECK(r, off + len, copy_read_end);
	return mmio__copy_steps(mmio__copy_base(r) + off, (unsigned char *)buf, len, done);
slow:
	return (mmio_read)(r, off, buf, len, done);
}

__attribute__((always_inline)) static inline int
mmio__write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	if (!mmio__copy_shape(off, len) || !buf)
		goto slow;
	MMIO__COPY_CHECK(r, off + len, copy_write_end);
	return mmio__copy_steps((const unsigned char *)buf, mmio__copy_base(r) + off, len, done);
slow:
	return (mmio_write)(r, off, buf, len, done);
}

#define mmio_read(r, off, buf, len, done)  mmio__read(r, off, buf, len, done)
#define mmio_write(r, off, buf, len, done) mmio__write(r, off, buf, len, done)
#endif /* inline copies */

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
 * Read the 32-bit register at @off until (value & @mask) == @want, or until
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
MMIO_API int mmio_poll32(mmio_region *r, size_t off, uint32_t mask, uint32_t want,
			 uint32_t timeout_us, uint32_t *last);

/* ------------------------------------------------------------------------
 * Describing regions.
 * ------------------------------------------------------------------------ */

#define MMIO_ACCESS_READ  0x1u
#define MMIO_ACCESS_WRITE 0x2u

#define MMIO_OPS_ONCE 0x01u /* read8..write64 and batches */
#define MMIO_OPS_BULK 0x02u /* mmio_read, mmio_write */
#define MMIO_OPS_FILL 0x04u /* mmio_fill */
#define MMIO_OPS_POLL 0x08u /* mmio_poll32, batch polls */
#define MMIO_OPS_MAP  0x10u /* direct mode */

/* widths: the bit for an access of w bytes (1, 2, 4, 8) is w itself. */
#define MMIO_WIDTH_BIT(w) ((unsigned)(w))

#define MMIO_CACHE_UNCACHED	   0u
#define MMIO_CACHE_WRITE_COMBINING 1u
#define MMIO_CACHE_WRITE_THROUGH   2u
#define MMIO_CACHE_WRITE_BACK	   3u

#define MMIO_REGION_SENSITIVE 0x1u /* once-ops only, audited, never mapped */
#define MMIO_REGION_EXCLUSIVE 0x2u /* one open handle at a time */
#define MMIO_REGION_MAPPABLE  0x4u /* a direct mapping may be granted */

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
	unsigned width;	 /* pinned access width (1/2/4/8) or 0; always 0 in mmio_list */
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

/* Free an array returned by mmio_list(). NULL is fine. */
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

/* Free memory from mmio_buffer_alloc() (@p as it returned it; NULL is fine). */
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

#ifdef __cplusplus
}
#endif

#endif /* MMIO_CLIENT_H */
