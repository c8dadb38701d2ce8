/* SPDX-License-Identifier: MIT */
/*
 * The inline fast paths of <mmio/client.h>, which includes this header at
 * its end (include that one, not this): the once-ops and short copies on a
 * direct region made in the caller's code, on x86-64 with GCC 11 or Clang
 * 13 or later unless MMIO_NO_INLINE is defined. <mmio/client.h> states what
 * they do; this says how.
 *
 * What they read of a region is its first member, struct mmio_region_fast
 * (the library sets and zeroes it), and where a view's bytes lie:
 * MMIO__WINDOW_AT past the region. That layout is shared with the library
 * alone, which checks it once per module: a constructor this header adds to
 * every file that includes it passes both to mmio_inline_register(), the
 * one registration entry point, with the module's table of inline
 * accesses. Neither is an interface: both may change with any release.
 *
 * Faults. Each inline access is listed in its module's mmio_extable section
 * (32-bit PC-relative entries, as the library's own primitives); the
 * registration hands that section to the library's SIGBUS/SIGSEGV handler
 * (a destructor takes it back at dlclose), so a fault in the caller's code
 * is, with the count the library would give, the status the library
 * decides (mmio_inline_fault(): MMIO_EREVOKED for a revoked window, else
 * MMIO_EFAULT), and a NULL region reaches the library. The section flag "R" needs GNU as 2.36 or
 * later.
 */
#ifndef MMIO_CLIENT_INLINE_H
#define MMIO_CLIENT_INLINE_H

#ifndef MMIO_CLIENT_H
#error "include <mmio/client.h>, which includes <mmio/client_inline.h>"
#endif

/*
 * Where a placed direct view's bytes are: MMIO__WINDOW_AT bytes past its
 * handle. The library gives a direct view a mapping of its own, with the
 * handle in private pages just before it, so that an inline access is one
 * load or store at a fixed distance from handle + offset: no base to load
 * first. 10 KiB, not a whole number of pages, so that a handle is half a
 * page from its view's first byte and not in the same L1 cache set.
 * Handles of views that start in the same 64-byte line of a page share a
 * set all the same, so the library places at most 8 such views at once
 * (more would read their ends from L2 in a loop over them). A view it does
 * not place (those, a slice whose base is not aligned to 8, a mapping the
 * kernel refuses) is reached inline as well, through its base, at the
 * widths its base is aligned to: the "any" ends below, a second try that
 * costs a load more. docs/PERFORMANCE.md has the figures.
 */
#define MMIO__WINDOW_AT 10240

/*
 * The first member of every mmio_region (a layout shared with the library
 * alone, checked at registration): what the inline once-ops check. For each width w = 1, 2, 4, 8
 * (index 0 to 3), an aligned access at offset off may be made inline
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
/* The library's side of an inline access to (non-NULL) @r that faulted:
 * MMIO_EREVOKED if it was a revoked window (the region is proxied from
 * then on), else MMIO_EFAULT; not for other use. */
MMIO_API MMIO__COLD int mmio_inline_fault(mmio_region *r);

/* Its status, as the compiler can see it: never MMIO_OK, so a caller's
 * "if (mmio_read32(...) == MMIO_OK) use(v)" draws no maybe-uninitialized
 * warning from the fault path. */
static inline int mmio__fault_status(mmio_region *r)
{
	return mmio_inline_fault(r) == MMIO_EREVOKED ? MMIO_EREVOKED : MMIO_EFAULT;
}

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
 *    relaxed load, as __atomic_load_n's is on x86): the compiler would
 *    load the atomic and compare it separately, an instruction more per
 *    access.
 *  - The region is not tested for NULL: each try's comparison is listed,
 *    with the next try as its fixup (the second try's is the library's
 *    call), so a NULL region faults on both (its fields lie in the page at
 *    0, never mapped) and reaches the library, which refuses it. So that
 *    takes the fault handler, as a device's fault does: in a thread that
 *    blocks SIGSEGV, or under a handler installed later that does not pass
 *    faults on, a NULL region ends the process. A test and branch (or a
 *    conditional move to an empty view) would be on every access.
 *  - On a placed view the access is at MMIO__WINDOW_AT from the handle
 *    plus the offset: no base is loaded at every access; the second try,
 *    for any other direct view, loads it. A read is one indexed load (left
 *    to the compiler, handle plus offset would be added first, a step more
 *    in a chain of reads each at an offset the one before gave). A write
 *    adds them first: an indexed store cannot use every store port.
 * docs/PERFORMANCE.md has what each choice was measured at.
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
		__asm__ volatile goto(MMIO__CHECK_END MMIO__LOAD_PLACED                            \
				      : "=r"(x)                                                    \
				      : [f] "r"(r), [off] "r"(off),                                \
					MMIO__FIELD_AT(end, read_end[log2]), MMIO__WINDOW          \
				      : "memory", "cc"                                             \
				      : fault, slow);                                              \
		*v = x;                                                                            \
		return MMIO_OK;                                                                    \
	fault:                                                                                     \
		return mmio__fault_status(r);                                                      \
	slow:                                                                                      \
		__asm__ volatile goto(MMIO__CHECK_ANY_END MMIO__LOAD_AT_BASE                       \
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
		__asm__ volatile goto(MMIO__CHECK_END MMIO__STORE_PLACED                           \
				      : "=&r"(t)                                                   \
				      : [f] "r"(r), [off] "r"(off), [v] "r"(v),                    \
					MMIO__FIELD_AT(end, write_end[log2]), MMIO__WINDOW         \
				      : "memory", "cc"                                             \
				      : fault, slow);                                              \
		return MMIO_OK;                                                                    \
	fault:                                                                                     \
		return mmio__fault_status(r);                                                      \
	slow:                                                                                      \
		__asm__ volatile goto(MMIO__CHECK_ANY_END MMIO__STORE_AT_BASE                      \
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
 * the library, whose call chain before the first access outweighs a short
 * copy. The loop is the same at any length (no code grows with the limit);
 * a page is where the call's cost stops mattering (docs/PERFORMANCE.md).
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
 * least 2^37 otherwise (len 0 wraps to the top too): one test and branch
 * instead of three. */
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
 * addresses in the same order). Groups, not one step per asm, and the odd
 * steps first, are what kept copies nearest a raw volatile loop
 * (docs/PERFORMANCE.md).
 * Each step's load and store are listed with the label of its place in its
 * asm, whose code makes *@done the bytes before that step. Plain (base)
 * addresses on both sides: an indexed store cannot use every store port.
 * Always inline, as the two below: a copy made here only pays if it is made
 * in the caller (and Clang with sanitizers did not inline it otherwise).
 */
__attribute__((always_inline)) static inline int mmio__copy_steps(mmio_region *r,
								  const unsigned char *src,
								  unsigned char *dst, size_t len,
								  size_t *done)
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
	return mmio__fault_status(r);
}

__attribute__((always_inline)) static inline int mmio__read(mmio_region *r, size_t off, void *buf,
							    size_t len, size_t *done)
{
	if (!mmio__copy_shape(off, len) || !buf)
		goto slow;
	MMIO__COPY_CHECK(r, off + len, copy_read_end);
	return mmio__copy_steps(r, mmio__copy_base(r) + off, (unsigned char *)buf, len, done);
slow:
	return (mmio_read)(r, off, buf, len, done);
}

__attribute__((always_inline)) static inline int
mmio__write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	if (!mmio__copy_shape(off, len) || !buf)
		goto slow;
	MMIO__COPY_CHECK(r, off + len, copy_write_end);
	return mmio__copy_steps(r, (const unsigned char *)buf, mmio__copy_base(r) + off, len, done);
slow:
	return (mmio_write)(r, off, buf, len, done);
}

#define mmio_read(r, off, buf, len, done)  mmio__read(r, off, buf, len, done)
#define mmio_write(r, off, buf, len, done) mmio__write(r, off, buf, len, done)
#endif /* inline copies */

#endif /* MMIO_CLIENT_INLINE_H */
