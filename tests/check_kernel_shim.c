/* SPDX-License-Identifier: MIT */
/*
 * kernel-shim: access primitives, windows, fault recovery, sim backend.
 *
 * Every case checks bytes in device memory, statuses and counts. Device
 * memory is a real sim device (memfd); faults are real SIGBUS from shrinking
 * it, or SIGSEGV from PROT_NONE pages.
 */
#include <mmio/shim.h>

#include "watch.h"

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Under ASan its own SIGSEGV/SIGBUS handler reports, then exits. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define PAGE	 4096u
#define DEV_SIZE (64u * 1024u)
#define GUARD	 0xEEu

static struct shim_device dev;
static struct shim_window win;
static uint8_t *mem; /* the device bytes, seen directly */

static void device_setup_sized(size_t size)
{
	/* Resizable: the fault tests shrink it. */
	struct shim_source src = { .backend = "sim",
				   .name = "test",
				   .size = size,
				   .cache = MMIO_CACHE_WRITE_BACK,
				   .resizable = true };
	char err[256] = "";

	ck_assert_msg(shim_device_open(&src, &dev, err, sizeof(err)) == MMIO_OK, "%s", err);
	ck_assert_int_eq(shim_window_init(&win, dev.base, dev.size, 0), MMIO_OK);
	mem = dev.base;
}

static void device_setup(void)
{
	device_setup_sized(DEV_SIZE);
}

static void device_setup_large(void)
{
	device_setup_sized(2u << 20);
}

static void device_teardown(void)
{
	shim_device_close(&dev);
}

/* Byte i of the reference pattern; never equal to GUARD, distinct lanes. */
static uint8_t pattern(size_t i)
{
	uint8_t b = (uint8_t)(i * 7u + 1u);
	return b == GUARD ? 0x11 : b;
}

static void fill_pattern(uint8_t *p, size_t len, size_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i + seed);
}

/* ---------------------------------------------------------------------------
 * Once-ops
 * ------------------------------------------------------------------------- */

static const unsigned widths[] = { 1, 2, 4, 8 };
static const uint64_t lane_values[] = { 0x00000000000000A5ull, 0x0000000000005AA5ull,
					0x00000000C3B2A190ull, 0x8877665544332211ull };

START_TEST(once_every_width_and_alignment)
{
	uint8_t snapshot[64];

	for (unsigned wi = 0; wi < 4; wi++) {
		unsigned width = widths[wi];
		uint64_t value = lane_values[wi];

		for (size_t align = 0; align < 8; align++) {
			size_t off = 0x100 + align;
			uint64_t got = 0xDEADDEADDEADDEADull;

			memset(mem + 0xF0, GUARD, 64);
			memcpy(snapshot, mem + 0xF0, 64);
			int ws = shim_write_once(&win, off, width, value);
			int rs = shim_read_once(&win, off, width, &got);
			if (align % width != 0) {
				ck_assert_int_eq(ws, MMIO_EINVAL);
				ck_assert_int_eq(rs, MMIO_EINVAL);
				ck_assert_uint_eq(got, 0xDEADDEADDEADDEADull);
				ck_assert_mem_eq(mem + 0xF0, snapshot, 64);
				continue;
			}
			ck_assert_int_eq(ws, MMIO_OK);
			ck_assert_int_eq(rs, MMIO_OK);
			ck_assert_uint_eq(got, value);
			/* Little-endian lanes at exactly [off, off + width). */
			for (unsigned b = 0; b < width; b++)
				ck_assert_uint_eq(mem[off + b], (uint8_t)(value >> (8 * b)));
			ck_assert_mem_eq(mem + 0xF0, snapshot, off - 0xF0);
			ck_assert_mem_eq(mem + off + width, snapshot + (off - 0xF0) + width,
					 64 - (off - 0xF0) - width);
		}
	}
}
END_TEST

START_TEST(once_reads_see_device_bytes)
{
	uint64_t v;

	fill_pattern(mem, 64, 0);
	for (unsigned wi = 0; wi < 4; wi++) {
		unsigned width = widths[wi];
		uint64_t want = 0;

		for (unsigned b = 0; b < width; b++)
			want |= (uint64_t)pattern(16 + b) << (8 * b);
		ck_assert_int_eq(shim_read_once(&win, 16, width, &v), MMIO_OK);
		ck_assert_uint_eq(v, want);
	}
}
END_TEST

START_TEST(once_range_and_width_rejections)
{
	static const size_t bad_offsets[] = { DEV_SIZE,	    DEV_SIZE + 8, SIZE_MAX,
					      SIZE_MAX - 7, SIZE_MAX - 3, (size_t)1 << 63 };
	uint8_t *snapshot = malloc(DEV_SIZE);
	uint64_t v = 42;

	ck_assert_ptr_nonnull(snapshot);
	fill_pattern(mem, DEV_SIZE, 3);
	memcpy(snapshot, mem, DEV_SIZE);
	for (unsigned wi = 0; wi < 4; wi++) {
		unsigned width = widths[wi];
		for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]); i++) {
			size_t off = bad_offsets[i] & ~(size_t)(width - 1);
			ck_assert_int_eq(shim_read_once(&win, off, width, &v), MMIO_EINVAL);
			ck_assert_int_eq(shim_write_once(&win, off, width, 0), MMIO_EINVAL);
		}
		/* The last aligned slot is fine; one past it is not. */
		ck_assert_int_eq(shim_read_once(&win, DEV_SIZE - width, width, &v), MMIO_OK);
		ck_assert_int_eq(shim_read_once(&win, DEV_SIZE - width + width, width, &v),
				 MMIO_EINVAL);
	}
	/* Widths that are not one MOV. */
	static const unsigned bad_widths[] = { 0, 3, 5, 6, 7, 16, 32, 0xFFFFFFFFu };
	for (size_t i = 0; i < sizeof(bad_widths) / sizeof(bad_widths[0]); i++) {
		ck_assert_int_eq(shim_read_once(&win, 0, bad_widths[i], &v), MMIO_EINVAL);
		ck_assert_int_eq(shim_write_once(&win, 0, bad_widths[i], 1), MMIO_EINVAL);
	}
	/* A value wider than the access. */
	ck_assert_int_eq(shim_write_once(&win, 0, 1, 0x100), MMIO_EINVAL);
	ck_assert_int_eq(shim_write_once(&win, 0, 2, 0x10000), MMIO_EINVAL);
	ck_assert_int_eq(shim_write_once(&win, 0, 4, 0x100000000ull), MMIO_EINVAL);
	ck_assert_mem_eq(mem, snapshot, DEV_SIZE);
	free(snapshot);
}
END_TEST

START_TEST(once_pinned_width)
{
	struct shim_window pinned;
	uint64_t v;

	ck_assert_int_eq(shim_window_init(&pinned, mem, 256, 4), MMIO_OK);
	ck_assert_int_eq(shim_write_once(&pinned, 8, 4, 0xA1B2C3D4), MMIO_OK);
	ck_assert_int_eq(shim_read_once(&pinned, 8, 4, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0xA1B2C3D4);
	ck_assert_int_eq(shim_read_once(&pinned, 8, 1, &v), MMIO_EINVAL);
	ck_assert_int_eq(shim_read_once(&pinned, 8, 8, &v), MMIO_EINVAL);
	ck_assert_int_eq(shim_write_once(&pinned, 8, 2, 1), MMIO_EINVAL);
	ck_assert_uint_eq(mem[8], 0xD4);
	ck_assert_uint_eq(mem[11], 0xA1);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Copies
 * ------------------------------------------------------------------------- */

/* Device -> buffer at (dev_off, buf_off, len); bytes and guards checked. */
static void check_copy_from(uint8_t *buf, size_t buf_size, size_t dev_off, size_t buf_off,
			    size_t len)
{
	size_t done = 12345;

	fill_pattern(mem + dev_off, len, dev_off);
	memset(buf, GUARD, buf_size);
	ck_assert_int_eq(shim_copy_from_device(&win, dev_off, buf + buf_off, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	for (size_t i = 0; i < len; i++) {
		if (buf[buf_off + i] != pattern(dev_off + i))
			ck_abort_msg("copy_from dev_off %zu buf_off %zu len %zu: byte %zu", dev_off,
				     buf_off, len, i);
	}
	for (size_t i = 0; i < buf_off; i++)
		ck_assert_uint_eq(buf[i], GUARD);
	for (size_t i = buf_off + len; i < buf_size; i++)
		ck_assert_uint_eq(buf[i], GUARD);
}

/* Buffer -> device; the device bytes around the range must keep GUARD. */
static void check_copy_to(uint8_t *buf, size_t dev_off, size_t buf_off, size_t len)
{
	size_t done = 12345;
	size_t lo = dev_off >= 16 ? dev_off - 16 : 0;

	fill_pattern(buf + buf_off, len, buf_off + 5);
	memset(mem + lo, GUARD, len + 32);
	ck_assert_int_eq(shim_copy_to_device(&win, dev_off, buf + buf_off, len, &done), MMIO_OK);
	ck_assert_uint_eq(done, len);
	for (size_t i = 0; i < len; i++) {
		if (mem[dev_off + i] != pattern(buf_off + 5 + i))
			ck_abort_msg("copy_to dev_off %zu buf_off %zu len %zu: byte %zu", dev_off,
				     buf_off, len, i);
	}
	for (size_t i = lo; i < dev_off; i++)
		ck_assert_uint_eq(mem[i], GUARD);
	for (size_t i = dev_off + len; i < dev_off + 16; i++)
		ck_assert_uint_eq(mem[i], GUARD);
}

START_TEST(copy_small_every_length_and_offset)
{
	uint8_t buf[96];

	for (size_t len = 0; len <= 64; len++) {
		for (size_t d = 0; d < 8; d++) {
			for (size_t b = 0; b < 8; b++) {
				check_copy_from(buf, sizeof(buf), 0x200 + d, b, len);
				check_copy_to(buf, 0x400 + d, b, len);
			}
		}
	}
}
END_TEST

START_TEST(copy_large_every_offset)
{
	static const size_t lengths[] = { 4096, 4096 + 5, (1u << 20) + 3 };
	size_t buf_size = (1u << 20) + 64;
	uint8_t *buf = malloc(buf_size);

	ck_assert_ptr_nonnull(buf);
	for (size_t li = 0; li < 3; li++) {
		for (size_t d = 0; d < 8; d++) {
			for (size_t b = 0; b < 8; b++) {
				check_copy_from(buf, lengths[li] + 16, 32 + d, b, lengths[li]);
				check_copy_to(buf, 32 + d, b, lengths[li]);
			}
		}
	}
	free(buf);
}
END_TEST

START_TEST(copy_range_rejections)
{
	uint8_t buf[32];
	size_t done = 99;

	memset(buf, GUARD, sizeof(buf));
	fill_pattern(mem, DEV_SIZE, 0);
	/* End past the limit, overflow, offsets near SIZE_MAX. */
	ck_assert_int_eq(shim_copy_from_device(&win, DEV_SIZE - 8, buf, 9, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(shim_copy_from_device(&win, SIZE_MAX, buf, 2, &done), MMIO_EINVAL);
	ck_assert_int_eq(shim_copy_from_device(&win, 16, buf, SIZE_MAX, &done), MMIO_EINVAL);
	ck_assert_int_eq(shim_copy_to_device(&win, SIZE_MAX - 1, buf, 4, &done), MMIO_EINVAL);
	ck_assert_int_eq(shim_copy_to_device(&win, DEV_SIZE + 1, buf, 0, &done), MMIO_EINVAL);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], GUARD);
	for (size_t i = 0; i < DEV_SIZE; i++)
		ck_assert_uint_eq(mem[i], pattern(i));
	/* The last byte is fine; zero bytes at the limit are fine. */
	ck_assert_int_eq(shim_copy_from_device(&win, DEV_SIZE - 1, buf, 1, &done), MMIO_OK);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(buf[0], pattern(DEV_SIZE - 1));
	ck_assert_int_eq(shim_copy_to_device(&win, DEV_SIZE, buf, 0, &done), MMIO_OK);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(shim_copy_from_device(&win, 0, buf, 4, NULL), MMIO_OK);
}
END_TEST

/* One case of width choice: a window of @widths, a copy or fill of @len
 * bytes at @off, and the accesses it makes to the two 8-byte words at 0
 * and 8 of the window. */
struct width_case {
	unsigned widths;
	size_t off, len;
	uint64_t word0, word8;
};

static const struct width_case width_cases[] = {
	/* Two widths: 2 at the 2-aligned head and tail, 4 between (the
	 * smallest, as every step did before, would be 3 and 4). */
	{ 0x6, 2, 16, 2, 2 },
	/* 1 and 4: single bytes up to the 4-aligned address, then 4. */
	{ 0x5, 1, 11, 4, 1 },
	/* 4 and 8: 4 to reach the 8-aligned address, then 8. */
	{ 0xC, 4, 20, 1, 1 },
	/* Every width: the widest aligned one at each step. */
	{ 0xF, 1, 15, 3, 1 },
	/* One width listed pins it, aligned or not. */
	{ 0x2, 0, 16, 4, 4 },
	{ 0x1, 0, 16, 8, 8 },
};

/* Run copy (0 from, 1 to the device) or fill (2) @kind of case @c on @w,
 * counting the accesses to the window's words 0 and 8. */
static void width_case_run(const struct shim_window *w, const struct width_case *c, int kind)
{
	int fd0 = watch_open(w->base), fd8 = watch_open((uint8_t *)w->base + 8);
	uint8_t buf[32];
	uint64_t n0, n8;
	size_t done = 0;
	int status;

	ck_assert_msg(fd0 >= 0 && fd8 >= 0, "perf_event_open: no hardware breakpoints");
	memset(buf, 0x5A, sizeof(buf));
	n0 = watch_count(fd0);
	n8 = watch_count(fd8);
	if (kind == 0)
		status = shim_copy_from_device(w, c->off, buf, c->len, &done);
	else if (kind == 1)
		status = shim_copy_to_device(w, c->off, buf, c->len, &done);
	else
		status = shim_fill(w, c->off, c->len, 0x5A, &done);
	n0 = watch_count(fd0) - n0;
	n8 = watch_count(fd8) - n8;
	close(fd0);
	close(fd8);
	ck_assert_int_eq(status, MMIO_OK);
	ck_assert_uint_eq(done, c->len);
	ck_assert_msg(n0 == c->word0 && n8 == c->word8,
		      "widths 0x%x, %zu bytes at %zu, kind %d: %llu and %llu accesses to words 0 "
		      "and 8, not %llu and %llu",
		      c->widths, c->len, c->off, kind, (unsigned long long)n0,
		      (unsigned long long)n8, (unsigned long long)c->word0,
		      (unsigned long long)c->word8);
}

START_TEST(copy_widest_allowed_step)
{
	const struct width_case *c = &width_cases[_i / 3];
	struct shim_window w;
	uint8_t back[32];

	ck_assert_int_eq(shim_window_init_widths(&w, mem + 0x1000, 0x100, c->widths), MMIO_OK);
	fill_pattern(mem + 0x1000, 0x100, 1);
	width_case_run(&w, c, _i % 3);
	/* The bytes are the bytes, whatever the widths. */
	if (_i % 3 != 0) {
		memset(back, 0, sizeof(back));
		ck_assert_int_eq(shim_copy_from_device(&win, 0x1000 + c->off, back, c->len, NULL),
				 MMIO_OK);
		for (size_t i = 0; i < c->len; i++)
			ck_assert_uint_eq(back[i], 0x5A);
	}
}
END_TEST

START_TEST(step_width_choice)
{
	ck_assert_uint_eq(shim_step_width(0x1002, 16, 0x6), 2);
	ck_assert_uint_eq(shim_step_width(0x1004, 16, 0x6), 4);
	ck_assert_uint_eq(shim_step_width(0x1008, 16, 0x6), 4);
	ck_assert_uint_eq(shim_step_width(0x1008, 3, 0x6), 2);
	ck_assert_uint_eq(shim_step_width(0x1008, 1, 0x6), 0);
	ck_assert_uint_eq(shim_step_width(0x1001, 16, 0x6), 0);
	ck_assert_uint_eq(shim_step_width(0x1006, 16, 0x5), 1);
	ck_assert_uint_eq(shim_step_width(0x1000, 16, 0), 8);
	ck_assert_uint_eq(shim_step_width(0x1000, 16, 0x4), 4);
	/* The granule is the smallest width; all four is none; none is refused. */
	struct shim_window w;
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0xC), MMIO_OK);
	ck_assert_uint_eq(w.width, 4);
	ck_assert_uint_eq(w.widths, 0xC);
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0xF), MMIO_OK);
	ck_assert_uint_eq(w.width, 0);
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0x4), MMIO_OK);
	ck_assert_uint_eq(w.width, 4);
	ck_assert_uint_eq(w.widths, 0);
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0x10), MMIO_EINVAL);
	/* Misaligned for the granule: nothing moves. */
	size_t done = 9;
	uint8_t b[8];
	ck_assert_int_eq(shim_window_init_widths(&w, mem, 64, 0x6), MMIO_OK);
	ck_assert_int_eq(shim_copy_from_device(&w, 1, b, 4, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(shim_copy_from_device(&w, 2, b, 3, &done), MMIO_EINVAL);
}
END_TEST

START_TEST(copy_pinned_widths)
{
	uint8_t buf[256];
	size_t done;

	for (unsigned wi = 0; wi < 4; wi++) {
		unsigned width = widths[wi];
		struct shim_window pinned;

		ck_assert_int_eq(shim_window_init(&pinned, mem + 0x1000, 0x1000, width), MMIO_OK);
		fill_pattern(buf, sizeof(buf), width);
		memset(mem + 0x1000, GUARD, 0x200);
		ck_assert_int_eq(
			shim_copy_to_device(&pinned, width * 3, buf + 1, width * 20, &done),
			MMIO_OK);
		ck_assert_uint_eq(done, width * 20);
		ck_assert_mem_eq(mem + 0x1000 + width * 3, buf + 1, width * 20);
		ck_assert_uint_eq(mem[0x1000 + width * 23], GUARD);
		memset(buf, 0, sizeof(buf));
		ck_assert_int_eq(
			shim_copy_from_device(&pinned, width * 3, buf + 3, width * 20, &done),
			MMIO_OK);
		ck_assert_mem_eq(buf + 3, mem + 0x1000 + width * 3, width * 20);
		if (width > 1) {
			/* Offset or length not whole accesses: nothing moves. */
			ck_assert_int_eq(shim_copy_to_device(&pinned, 1, buf, width, &done),
					 MMIO_EINVAL);
			ck_assert_uint_eq(done, 0);
			ck_assert_int_eq(shim_copy_from_device(&pinned, 0, buf, width + 1, &done),
					 MMIO_EINVAL);
			ck_assert_int_eq(shim_fill(&pinned, width / 2, width, 0, &done),
					 MMIO_EINVAL);
			ck_assert_uint_eq(done, 0);
		}
		memset(mem + 0x1000, GUARD, 0x200);
		ck_assert_int_eq(shim_fill(&pinned, width, width * 4, 0x3C, &done), MMIO_OK);
		ck_assert_uint_eq(done, width * 4);
		ck_assert_uint_eq(mem[0x1000 + width - 1], GUARD);
		for (unsigned i = 0; i < width * 4; i++)
			ck_assert_uint_eq(mem[0x1000 + width + i], 0x3C);
		ck_assert_uint_eq(mem[0x1000 + width * 5], GUARD);
	}
}
END_TEST

/* ---------------------------------------------------------------------------
 * Fill
 * ------------------------------------------------------------------------- */

START_TEST(fill_every_length_and_offset)
{
	size_t done;

	for (size_t len = 0; len <= 64; len++) {
		for (size_t d = 0; d < 8; d++) {
			size_t off = 0x300 + d;

			memset(mem + 0x2F0, GUARD, 0x100);
			ck_assert_int_eq(shim_fill(&win, off, len, 0x00, &done), MMIO_OK);
			ck_assert_uint_eq(done, len);
			for (size_t i = 0x2F0; i < 0x3F0; i++)
				ck_assert_uint_eq(mem[i], i >= off && i < off + len ? 0x00 : GUARD);
		}
	}
}
END_TEST

START_TEST(fill_limit_semantics)
{
	size_t done = 77;

	memset(mem, GUARD, DEV_SIZE);
	/* len 0 is fine anywhere, even past the limit. */
	ck_assert_int_eq(shim_fill(&win, DEV_SIZE + 100, 0, 1, &done), MMIO_OK);
	ck_assert_uint_eq(done, 0);
	/* offset >= limit: EINVAL, nothing written. */
	done = 77;
	ck_assert_int_eq(shim_fill(&win, DEV_SIZE, 1, 1, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(shim_fill(&win, SIZE_MAX, SIZE_MAX, 1, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 0);
	/* Short: writes up to the limit and says how much. */
	ck_assert_int_eq(shim_fill(&win, DEV_SIZE - 10, 64, 0x5A, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 10);
	ck_assert_int_eq(shim_fill(&win, DEV_SIZE - 3, SIZE_MAX, 0x5B, &done), MMIO_EINVAL);
	ck_assert_uint_eq(done, 3);
	for (size_t i = 0; i < DEV_SIZE - 10; i++)
		ck_assert_uint_eq(mem[i], GUARD);
	for (size_t i = DEV_SIZE - 10; i < DEV_SIZE - 3; i++)
		ck_assert_uint_eq(mem[i], 0x5A);
	for (size_t i = DEV_SIZE - 3; i < DEV_SIZE; i++)
		ck_assert_uint_eq(mem[i], 0x5B);
	/* Exactly to the limit is OK. */
	ck_assert_int_eq(shim_fill(&win, 0, DEV_SIZE, 0xC7, &done), MMIO_OK);
	ck_assert_uint_eq(done, DEV_SIZE);
	for (size_t i = 0; i < DEV_SIZE; i++)
		ck_assert_uint_eq(mem[i], 0xC7);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Windows and slices
 * ------------------------------------------------------------------------- */

START_TEST(window_init_and_slice)
{
	struct shim_window w, s;
	uint64_t v;

	ck_assert_int_eq(shim_window_init(&w, mem, 100, 3), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_init(&w, NULL, 16, 0), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_init(&w, (void *)(UINTPTR_MAX - 8), 16, 0), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_init(&w, mem + 2, 16, 4), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_init(&w, NULL, 0, 0), MMIO_OK);

	ck_assert_int_eq(shim_window_slice(&win, 0x100, 0, &s), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_slice(&win, DEV_SIZE - 4, 5, &s), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_slice(&win, SIZE_MAX, 2, &s), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_slice(&win, 0x100, 0x10, &s), MMIO_OK);
	ck_assert_uint_eq(s.limit, 0x10);
	/* Offsets in a slice are relative to it and bounded by it. */
	ck_assert_int_eq(shim_write_once(&s, 0, 4, 0x01020304), MMIO_OK);
	ck_assert_uint_eq(mem[0x100], 0x04);
	ck_assert_int_eq(shim_read_once(&s, 0x10, 1, &v), MMIO_EINVAL);
	ck_assert_int_eq(shim_read_once(&s, 0xF, 1, &v), MMIO_OK);

	ck_assert_int_eq(shim_window_init(&w, mem, 64, 4), MMIO_OK);
	ck_assert_int_eq(shim_window_slice(&w, 2, 8, &s), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_slice(&w, 4, 6, &s), MMIO_EINVAL);
	ck_assert_int_eq(shim_window_slice(&w, 4, 8, &s), MMIO_OK);
	ck_assert_uint_eq(s.width, 4);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Faults: the device shrinks under an access
 * ------------------------------------------------------------------------- */

#define FAULT_PAGES 16u
#define BOUNDARY    (5u * PAGE) /* the device shrinks to this many bytes */

static void fault_setup(void)
{
	device_setup_sized(FAULT_PAGES * PAGE);
	fill_pattern(mem, FAULT_PAGES * PAGE, 0);
	ck_assert_int_eq(shim_sim_resize(&dev, BOUNDARY), MMIO_OK);
}

START_TEST(fault_copy_from_exact_count)
{
	/* Distances from the start of the copy back to the boundary. */
	static const size_t backs[] = { 1,	  2,	3,	  5,
					7,	  8,	9,	  13,
					31,	  32,	33,	  100,
					PAGE - 1, PAGE, PAGE + 3, 2 * PAGE + 5,
					3 * PAGE };
	size_t extra = PAGE + 11;
	uint8_t *buf = malloc(3 * PAGE + extra + 16);

	ck_assert_ptr_nonnull(buf);
	for (size_t si = 0; si < sizeof(backs) / sizeof(backs[0]); si++) {
		for (size_t b = 0; b < 8; b++) {
			size_t off = BOUNDARY - backs[si];
			size_t len = backs[si] + extra;
			size_t done = 0;

			memset(buf, GUARD, len + 8);
			ck_assert_int_eq(shim_copy_from_device(&win, off, buf + b, len, &done),
					 MMIO_EFAULT);
			ck_assert_uint_eq(done, backs[si]);
			for (size_t i = 0; i < done; i++)
				ck_assert_uint_eq(buf[b + i], pattern(off + i));
			ck_assert_uint_eq(buf[b + done], GUARD);
		}
	}
	free(buf);
}
END_TEST

START_TEST(fault_copy_to_and_fill_exact_count)
{
	size_t len = 2 * PAGE + 100;
	uint8_t *buf = malloc(len + 8);

	ck_assert_ptr_nonnull(buf);
	for (size_t back = 1; back <= 100; back += 3) {
		for (size_t b = 0; b < 8; b += 3) {
			size_t off = BOUNDARY - back;
			size_t done = 0;

			fill_pattern(buf, len + 8, back);
			memset(mem + off - 16, GUARD, back + 16);
			ck_assert_int_eq(shim_copy_to_device(&win, off, buf + b, len, &done),
					 MMIO_EFAULT);
			ck_assert_uint_eq(done, back);
			ck_assert_mem_eq(mem + off, buf + b, back);
			ck_assert_uint_eq(mem[off - 1], GUARD);

			memset(mem + off - 16, GUARD, back + 16);
			ck_assert_int_eq(shim_fill(&win, off, len, 0x42, &done), MMIO_EFAULT);
			ck_assert_uint_eq(done, back);
			for (size_t i = 0; i < back; i++)
				ck_assert_uint_eq(mem[off + i], 0x42);
			ck_assert_uint_eq(mem[off - 1], GUARD);
		}
	}
	/* Starting exactly at the boundary: a fault before the first byte. */
	size_t done = 5;
	ck_assert_int_eq(shim_copy_to_device(&win, BOUNDARY, buf, 1, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(shim_fill(&win, BOUNDARY + 3, 1, 0, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 0);
	free(buf);
}
END_TEST

START_TEST(fault_pinned_widths_exact_count)
{
	uint8_t buf[256];

	for (unsigned wi = 0; wi < 4; wi++) {
		struct shim_window pinned;
		unsigned width = widths[wi];
		size_t done = 0;

		ck_assert_int_eq(shim_window_init(&pinned, mem, FAULT_PAGES * PAGE, width),
				 MMIO_OK);
		ck_assert_int_eq(shim_copy_from_device(&pinned, BOUNDARY - 64, buf, 128, &done),
				 MMIO_EFAULT);
		ck_assert_uint_eq(done, 64);
		ck_assert_int_eq(
			shim_copy_to_device(&pinned, BOUNDARY - 8 * width, buf, 128, &done),
			MMIO_EFAULT);
		ck_assert_uint_eq(done, 8 * width);
		ck_assert_int_eq(shim_fill(&pinned, BOUNDARY - width, 64, 0, &done), MMIO_EFAULT);
		ck_assert_uint_eq(done, width);
	}
}
END_TEST

START_TEST(fault_once_ops)
{
	uint64_t v = 0x1234;

	for (unsigned wi = 0; wi < 4; wi++) {
		ck_assert_int_eq(shim_read_once(&win, BOUNDARY, widths[wi], &v), MMIO_EFAULT);
		ck_assert_uint_eq(v, 0x1234);
		ck_assert_int_eq(shim_write_once(&win, BOUNDARY + 8, widths[wi], 1), MMIO_EFAULT);
		/* The page before the boundary still works. */
		ck_assert_int_eq(shim_read_once(&win, BOUNDARY - 8, widths[wi], &v), MMIO_OK);
		v = 0x1234;
	}
	/* Growing the memory back makes the same range accessible again. */
	ck_assert_int_eq(shim_sim_resize(&dev, FAULT_PAGES * PAGE), MMIO_OK);
	ck_assert_int_eq(shim_read_once(&win, BOUNDARY, 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, 0);
}
END_TEST

/* A buffer-side fault (PROT_NONE page after the buffer) is recovered too. */
START_TEST(fault_on_buffer_side)
{
	uint8_t *area =
		mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t done;

	ck_assert_ptr_ne(area, MAP_FAILED);
	ck_assert_int_eq(mprotect(area + PAGE, PAGE, PROT_NONE), 0);
	/* Both sides 8-aligned: every chunk ends on the page edge. */
	ck_assert_int_eq(shim_copy_from_device(&win, 0, area + PAGE - 200, 1000, &done),
			 MMIO_EFAULT);
	ck_assert_uint_eq(done, 200);
	ck_assert_mem_eq(area + PAGE - 200, mem, 200);
	ck_assert_int_eq(shim_copy_to_device(&win, 0x800, area + PAGE - 64, 1000, &done),
			 MMIO_EFAULT);
	ck_assert_uint_eq(done, 64);
	/*
	 * Misaligned buffer: a chunk may straddle the edge; no part of a
	 * faulting store is committed, so done is the last whole chunk and
	 * every byte it counts is right.
	 */
	memset(area, 0, PAGE);
	ck_assert_int_eq(shim_copy_from_device(&win, 0, area + PAGE - 203, 1000, &done),
			 MMIO_EFAULT);
	ck_assert_uint_le(done, 203);
	ck_assert_uint_gt(done, 203 - 8);
	ck_assert_mem_eq(area + PAGE - 203, mem, done);
	munmap(area, 2 * PAGE);
}
END_TEST

struct fault_thread {
	size_t off;
	size_t len;
	size_t wrong;
	pthread_barrier_t *barrier;
};

static void *fault_thread_run(void *arg)
{
	struct fault_thread *t = arg;
	uint8_t *buf = malloc(t->len);

	pthread_barrier_wait(t->barrier);
	for (int i = 0; i < 2000 && buf; i++) {
		size_t done = 0;
		int status = shim_copy_from_device(&win, t->off, buf, t->len, &done);
		if (status != MMIO_EFAULT || done != BOUNDARY - t->off)
			t->wrong++;
	}
	free(buf);
	return NULL;
}

START_TEST(fault_two_threads_own_counts)
{
	pthread_barrier_t barrier;
	struct fault_thread a = { .off = BOUNDARY - 1000, .len = 3000, .barrier = &barrier };
	struct fault_thread b = { .off = BOUNDARY - 2999, .len = 6000, .barrier = &barrier };
	pthread_t ta, tb;

	pthread_barrier_init(&barrier, NULL, 2);
	ck_assert_int_eq(pthread_create(&ta, NULL, fault_thread_run, &a), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, fault_thread_run, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&barrier);
	ck_assert_uint_eq(a.wrong, 0);
	ck_assert_uint_eq(b.wrong, 0);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Faults that are not ours keep their normal meaning
 * ------------------------------------------------------------------------- */

enum stray { STRAY_SIGBUS, STRAY_NULL, STRAY_KILL };

/* Run @what in a child; return its wait status. */
static int child_status(enum stray what, bool install, bool own_handler);

static void exit_42(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)info;
	(void)ctx;
	_exit(42);
}

static void stray_fault(enum stray what)
{
	switch (what) {
	case STRAY_SIGBUS:
		/* A plain C load from the shrunk device, outside the primitives. */
		(void)*(volatile uint8_t *)(mem + BOUNDARY + 1);
		break;
	case STRAY_NULL: {
		/* volatile, so the compiler cannot see the address is near NULL. */
		volatile uintptr_t near_null = 8;
		(void)*(volatile int *)near_null;
		break;
	}
	case STRAY_KILL:
		kill(getpid(), SIGSEGV);
		break;
	}
}

static int child_status(enum stray what, bool install, bool own_handler)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		/* The sanitizer's report of the intended crash is noise here. */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		if (own_handler) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_sigaction = exit_42;
			sa.sa_flags = SA_SIGINFO;
			sigaction(SIGBUS, &sa, NULL);
			sigaction(SIGSEGV, &sa, NULL);
		}
		if (install) {
			size_t done;
			uint8_t b[16];
			/* Recovery works in this child before the stray fault. */
			if (shim_copy_from_device(&win, BOUNDARY - 4, b, 16, &done) !=
				    MMIO_EFAULT ||
			    done != 4)
				_exit(99);
		}
		stray_fault(what);
		_exit(0);
	}
	/* Checked here, not before the branch: a check in the child would write
	 * into Check's message file, and a child killed mid-write tears it. */
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(stray_faults_behave_as_without_handler)
{
	static const enum stray cases[] = { STRAY_SIGBUS, STRAY_NULL, STRAY_KILL };

	for (size_t i = 0; i < 3; i++) {
		int without = child_status(cases[i], false, false);
		int with = child_status(cases[i], true, false);

		ck_assert_msg(with == without, "case %zu: status 0x%x with handler, 0x%x without",
			      i, with, without);
		ck_assert(!(WIFEXITED(with) && WEXITSTATUS(with) == 0));
		ck_assert(!(WIFEXITED(with) && WEXITSTATUS(with) == 99));
#ifndef UNDER_ASAN
		/* Without a sanitizer's handler the default action kills. */
		ck_assert(WIFSIGNALED(with));
		ck_assert_int_eq(WTERMSIG(with), cases[i] == STRAY_SIGBUS ? SIGBUS : SIGSEGV);
#endif
	}
}
END_TEST

START_TEST(stray_faults_reach_previous_handler)
{
	static const enum stray cases[] = { STRAY_SIGBUS, STRAY_NULL, STRAY_KILL };

	for (size_t i = 0; i < 3; i++) {
		int status = child_status(cases[i], true, true);

		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42,
			      "case %zu: status 0x%x", i, status);
	}
}
END_TEST

/*
 * Another module's table (what <mmio/client_inline.h> gives a driver's
 * inline once-ops): a load listed in a section of its own, which the executable's
 * table does not cover, recovered only while the table is added.
 */
extern const char __start_test_extable[] __attribute__((visibility("hidden")));
extern const char __stop_test_extable[] __attribute__((visibility("hidden")));

static int listed_load(const volatile void *p, uint64_t *out)
{
	uint64_t x;

	__asm__ volatile goto("1:\tmov (%1), %0\n\t"
			      ".pushsection test_extable,\"a\",@progbits\n\t"
			      ".balign 4\n\t"
			      ".long 1b - .\n\t"
			      ".long %l[fault] - .\n\t"
			      ".popsection"
			      : "=r"(x)
			      : "r"(p)
			      : "memory"
			      : fault);
	*out = x;
	return MMIO_OK;
fault:
	return MMIO_EFAULT;
}

/* The status of a child that makes a listed load past the boundary with
 * the table added @adds times and removed @removes times. */
static int listed_load_child(int adds, int removes)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		uint64_t v = 0;

		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		if (shim_fault_recovery_install() != MMIO_OK)
			_exit(98);
		for (int i = 0; i < adds; i++)
			if (shim_extable_add(__start_test_extable, __stop_test_extable) != MMIO_OK)
				_exit(97);
		for (int i = 0; i < removes; i++)
			shim_extable_remove(__start_test_extable);
		_exit(listed_load(mem + BOUNDARY, &v) == MMIO_EFAULT ? 0 : 99);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(fault_in_an_added_table)
{
	uint64_t v = 0x1234;
	int status;

	/* An entry for each copy of the load the compiler made. */
	ck_assert_int_gt(__stop_test_extable - __start_test_extable, 0);
	ck_assert_int_eq((__stop_test_extable - __start_test_extable) % 8, 0);
	/* Never added, or removed as often as added: the fault is the
	 * process's, as without recovery. Added twice, removed once: known. */
	for (int k = 0; k < 2; k++) {
		status = listed_load_child(k, k);
		ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
			      "a load listed in no known table was recovered (%d adds)", k);
#ifndef UNDER_ASAN
		ck_assert(WIFSIGNALED(status));
		ck_assert_int_eq(WTERMSIG(status), SIGBUS);
#endif
	}
	ck_assert_int_eq(listed_load_child(2, 1), 0);
	/* Here: recovered, and the bytes below the boundary read as they are. */
	ck_assert_int_eq(shim_fault_recovery_install(), MMIO_OK);
	ck_assert_int_eq(shim_extable_add(__start_test_extable, __stop_test_extable), MMIO_OK);
	ck_assert_int_eq(listed_load(mem + BOUNDARY, &v), MMIO_EFAULT);
	ck_assert_uint_eq(v, 0x1234);
	ck_assert_int_eq(listed_load(mem + BOUNDARY - 8, &v), MMIO_OK);
	ck_assert_uint_eq(v, *(uint64_t *)(mem + BOUNDARY - 8));
}
END_TEST

/*
 * Tables come and go while faults are handled: a slot reused by another
 * table between the handler's reads of its start and its end would have it
 * scan from one table to the end of the other, here across a PROT_NONE page.
 * (Without the removal's wait, this crashed in about one run of 1 s in 3.)
 */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct table_swap {
	const uint8_t *t[2]; /* two tables of a page each, a PROT_NONE page between */
	atomic_bool stop;
	unsigned long swaps;
};

static void *table_swapper(void *arg)
{
	struct table_swap *sw = arg;

	for (unsigned k = 0; !atomic_load(&sw->stop); k ^= 1, sw->swaps++) {
		shim_extable_remove(sw->t[k]);
		if (shim_extable_add(sw->t[k ^ 1], sw->t[k ^ 1] + PAGE) != MMIO_OK)
			return NULL;
	}
	return NULL;
}

START_TEST(tables_swapped_during_faults)
{
	struct table_swap sw = { .swaps = 0 };
	uint8_t *area =
		mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long faults = 0;
	uint64_t v;
	pthread_t t;

	ck_assert_ptr_ne(area, MAP_FAILED);
	/* Entries that match no instruction (each points at itself). */
	memset(area, 0, 3 * PAGE);
	ck_assert_int_eq(mprotect(area + PAGE, PAGE, PROT_NONE), 0);
	sw.t[0] = area;
	sw.t[1] = area + 2 * PAGE;
	ck_assert_int_eq(shim_fault_recovery_install(), MMIO_OK);
	/* The swapped slot comes first, so every handler scans it. */
	ck_assert_int_eq(shim_extable_add(sw.t[0], sw.t[0] + PAGE), MMIO_OK);
	ck_assert_int_eq(shim_extable_add(__start_test_extable, __stop_test_extable), MMIO_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, table_swapper, &sw), 0);
	for (double end = now_s() + 2.0; now_s() < end; faults++)
		ck_assert_int_eq(listed_load(mem + BOUNDARY, &v), MMIO_EFAULT);
	atomic_store(&sw.stop, true);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_gt(sw.swaps, 1000);
	ck_assert_uint_gt(faults, 1000);
	munmap(area, 3 * PAGE);
}
END_TEST

START_TEST(added_tables_are_counted_and_bounded)
{
	static const char fake[SHIM_EXTABLES + 1];

	ck_assert_int_eq(shim_extable_add(NULL, NULL), MMIO_EINVAL);
	ck_assert_int_eq(shim_extable_add(fake + 1, fake), MMIO_EINVAL);
	for (int i = 0; i < SHIM_EXTABLES; i++)
		ck_assert_int_eq(shim_extable_add(fake + i, fake + i), MMIO_OK);
	/* Full: a new table is refused, a known one is counted. */
	ck_assert_int_eq(shim_extable_add(fake + SHIM_EXTABLES, fake + SHIM_EXTABLES), MMIO_ENOMEM);
	ck_assert_int_eq(shim_extable_add(fake + 5, fake + 5), MMIO_OK);
	shim_extable_remove(fake + 5);
	ck_assert_int_eq(shim_extable_add(fake + SHIM_EXTABLES, fake + SHIM_EXTABLES), MMIO_ENOMEM);
	/* Removing an unknown table changes nothing; the last removal frees. */
	shim_extable_remove(fake + SHIM_EXTABLES);
	shim_extable_remove(fake + 5);
	ck_assert_int_eq(shim_extable_add(fake + SHIM_EXTABLES, fake + SHIM_EXTABLES), MMIO_OK);
	ck_assert_int_eq(shim_extable_add(fake + 5, fake + 5), MMIO_ENOMEM);
}
END_TEST

/* Two copies of kernel-shim in one process: this executable and a module. */
START_TEST(recovery_in_shared_module)
{
	void *module = dlopen(MMIO_SHIM_MODULE, RTLD_NOW | RTLD_LOCAL);
	int (*module_copy)(void *, const void *, size_t, size_t *);
	uint8_t buf[64];
	size_t done = 0;

	ck_assert_msg(module != NULL, "%s", dlerror());
	*(void **)&module_copy = dlsym(module, "shim_module_copy_from");
	ck_assert_ptr_nonnull(module_copy);
	/* This executable's handler first, the module's on top of it. */
	ck_assert_int_eq(shim_fault_recovery_install(), MMIO_OK);
	ck_assert_int_eq(module_copy(buf, mem + BOUNDARY - 24, 64, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 24);
	ck_assert_mem_eq(buf, mem + BOUNDARY - 24, 24);
	/* A fault in this executable's primitives passes through the module's handler. */
	ck_assert_int_eq(shim_copy_from_device(&win, BOUNDARY - 40, buf, 64, &done), MMIO_EFAULT);
	ck_assert_uint_eq(done, 40);
	dlclose(module);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Disassembly: the instruction forms devices see
 * ------------------------------------------------------------------------- */

struct disasm_fn {
	char name[64];
	unsigned
		device_accesses; /* instructions with a memory operand through the device pointer */
	unsigned width_ok;
	unsigned bad;
	char first_bad[160];
};

static unsigned operand_width(const char *insn)
{
	if (strstr(insn, "QWORD PTR"))
		return 8;
	if (strstr(insn, "DWORD PTR"))
		return 4;
	if (strstr(insn, "WORD PTR"))
		return 2;
	if (strstr(insn, "BYTE PTR"))
		return 1;
	return 0;
}

static bool is_string_insn(const char *insn)
{
	static const char *const ops[] = { "rep",  "movs", "stos", "lods",
					   "cmps", "scas", "ins",  "outs" };
	char mnemonic[16] = "";

	sscanf(insn, "%15s", mnemonic);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strncmp(mnemonic, ops[i], strlen(ops[i])) == 0)
			return true;
	}
	return false;
}

static void note_bad(struct disasm_fn *fn, const char *insn)
{
	if (fn->bad++ == 0)
		snprintf(fn->first_bad, sizeof(fn->first_bad), "%s", insn);
}

/* Check one instruction of function @fn (name without the ".local" part). */
static void disasm_check(struct disasm_fn *fn, const char *insn)
{
	unsigned name_width = 0;
	const char *dev_reg = "[rdi";

	if (is_string_insn(insn))
		note_bad(fn, insn);
	if (strstr(insn, "XMMWORD") || strstr(insn, "YMMWORD") || strstr(insn, "ZMMWORD") ||
	    strstr(insn, "xmm") || strstr(insn, "ymm"))
		note_bad(fn, insn);
	if (sscanf(fn->name, "shim_raw_read%u", &name_width) == 1 ||
	    sscanf(fn->name, "shim_raw_write%u", &name_width) == 1) {
		if (strchr(insn, '[') && strstr(insn, dev_reg)) {
			fn->device_accesses++;
			if (operand_width(insn) * 8 == name_width && strncmp(insn, "mov", 3) == 0)
				fn->width_ok++;
			else
				note_bad(fn, insn);
		}
		return;
	}
	/* Copies and fill: every memory operand is a plain MOV of at most 8 bytes. */
	if (strchr(insn, '[')) {
		fn->device_accesses++;
		if (strncmp(insn, "mov ", 4) == 0 && operand_width(insn) != 0)
			fn->width_ok++;
		else
			note_bad(fn, insn);
	}
}

START_TEST(disassembly_width_exact_and_no_string_ops)
{
	char cmd[1024], line[512];
	struct disasm_fn fns[16];
	size_t nfn = 0;
	struct disasm_fn *cur = NULL;

	snprintf(cmd, sizeof(cmd), "objdump -d -M intel --no-show-raw-insn '%s'",
		 MMIO_ACCESS_OBJECT);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(line, sizeof(line), p)) {
		char sym[64];
		if (sscanf(line, "%*x <%63[^>]>:", sym) == 1) {
			/*
			 * "shim_raw_fill.slot1" is part of shim_raw_fill, and
			 * NASM's macro-local labels ("..@12.insn") are part of
			 * the function they stand in.
			 */
			if (strncmp(sym, "..@", 3) == 0)
				continue;
			char *dot = strchr(sym, '.');
			if (dot)
				*dot = '\0';
			cur = NULL;
			for (size_t i = 0; i < nfn; i++)
				if (strcmp(fns[i].name, sym) == 0)
					cur = &fns[i];
			if (!cur && nfn < 16) {
				cur = &fns[nfn++];
				memset(cur, 0, sizeof(*cur));
				snprintf(cur->name, sizeof(cur->name), "%s", sym);
			}
			continue;
		}
		char *tab = strchr(line, '\t');
		if (!cur || !tab || !strchr(line, ':'))
			continue;
		line[strcspn(line, "\n")] = '\0';
		disasm_check(cur, tab + 1);
	}
	ck_assert_int_eq(pclose(p), 0);

	static const char *const expected[] = {
		"shim_raw_read8",  "shim_raw_read16",  "shim_raw_read32",    "shim_raw_read64",
		"shim_raw_write8", "shim_raw_write16", "shim_raw_write32",   "shim_raw_write64",
		"shim_raw_fill",   "shim_raw_copy_to", "shim_raw_copy_from",
	};
	for (size_t e = 0; e < sizeof(expected) / sizeof(expected[0]); e++) {
		struct disasm_fn *fn = NULL;
		for (size_t i = 0; i < nfn; i++)
			if (strcmp(fns[i].name, expected[e]) == 0)
				fn = &fns[i];
		ck_assert_msg(fn != NULL, "%s not found in %s", expected[e], MMIO_ACCESS_OBJECT);
		ck_assert_msg(fn->bad == 0, "%s: %u bad instruction(s), first: %s", fn->name,
			      fn->bad, fn->first_bad);
		if (strncmp(fn->name, "shim_raw_read", 13) == 0 ||
		    strncmp(fn->name, "shim_raw_write", 14) == 0)
			ck_assert_msg(fn->device_accesses == 1 && fn->width_ok == 1,
				      "%s: %u device accesses", fn->name, fn->device_accesses);
		else
			ck_assert_uint_gt(fn->width_ok, 0);
	}
}
END_TEST

/* ---------------------------------------------------------------------------
 * Backends and status names
 * ------------------------------------------------------------------------- */

START_TEST(backend_errors_name_the_problem)
{
	struct shim_source src = {
		.backend = "sim", .name = "regs", .size = 4096, .cache = MMIO_CACHE_UNCACHED
	};
	struct shim_device d;
	char err[256];

	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "regs"));
	ck_assert_ptr_nonnull(strstr(err, "uncached"));
	ck_assert_ptr_nonnull(strstr(err, "write-back"));
	ck_assert_int_eq(d.fd, -1);
	src.cache = MMIO_CACHE_WRITE_BACK;
	src.size = 0;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "size"));
	src.backend = "nonesuch";
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "nonesuch"));
	ck_assert_int_eq(shim_device_open(&src, &d, NULL, 0), MMIO_ENOENT);
	shim_device_close(NULL);
	shim_device_close(&d);

	/* Resize only on sim devices, never past the mapping. */
	ck_assert_int_eq(shim_sim_resize(&dev, DEV_SIZE + 1), MMIO_EINVAL);
	ck_assert_int_eq(shim_sim_resize(&d, 0), MMIO_EINVAL);
	ck_assert_int_eq(shim_sim_resize(NULL, 0), MMIO_EINVAL);
}
END_TEST

/* A sim device not opened resizable keeps its size whoever holds its
 * descriptor (a direct grant hands it out), and takes no further seal. */
START_TEST(sim_memory_is_sealed_unless_resizable)
{
	struct shim_source src = {
		.backend = "sim", .name = "sealed", .size = 8192, .cache = MMIO_CACHE_WRITE_BACK
	};
	struct shim_device d;
	struct stat st;
	char err[256];

	ck_assert_msg(shim_device_open(&src, &d, err, sizeof(err)) == MMIO_OK, "%s", err);
	((volatile uint8_t *)d.base)[8191] = 0xA5;
	ck_assert_int_eq(ftruncate(d.fd, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(d.fd, (off_t)1 << 40), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fcntl(d.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	ck_assert_int_eq(shim_sim_resize(&d, 4096), MMIO_EINTERNAL);
	ck_assert_int_eq(fstat(d.fd, &st), 0);
	ck_assert_int_eq(st.st_size, 8192);
	ck_assert_uint_eq(((volatile uint8_t *)d.base)[8191], 0xA5);
	shim_device_close(&d);
}
END_TEST

/* Placed mappings: at a SHIM_MAP_ALIGN boundary (plus the skew asked),
 * of the right bytes of the file; with a lead, zeroed private pages right
 * before, written without touching the file, and unmapped with it. */
START_TEST(placed_mappings_and_their_lead)
{
	int fd = memfd_create("placed", MFD_CLOEXEC);
	uint8_t *p, *q;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 3 * PAGE), 0);
	p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	for (unsigned i = 0; i < 3 * PAGE; i++)
		p[i] = (uint8_t)(i / PAGE + 1);
	munmap(p, 3 * PAGE);

	p = shim_mmap_placed(PAGE, PROT_READ, fd, PAGE, PAGE);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_uint_eq((uintptr_t)p % SHIM_MAP_ALIGN, PAGE);
	ck_assert_uint_eq(p[0], 2);
	munmap(p, PAGE);

	q = shim_mmap_led(PAGE, PAGE, PROT_READ, fd, 0, 5 * PAGE);
	ck_assert_ptr_ne(q, MAP_FAILED);
	ck_assert_uint_eq((uintptr_t)q % SHIM_MAP_ALIGN, 5 * PAGE);
	ck_assert_uint_eq(q[0], 1);
	ck_assert_uint_eq(q[-1], 0);
	munmap(q - PAGE, 2 * PAGE);

	q = shim_mmap_led(2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, fd, PAGE, 0);
	ck_assert_ptr_ne(q, MAP_FAILED);
	ck_assert_uint_eq((uintptr_t)q % SHIM_MAP_ALIGN, 0);
	ck_assert_uint_eq(q[0], 2);
	ck_assert_uint_eq(q[2 * PAGE - 1], 3);
	for (uint8_t *b = q - 2 * PAGE; b < q; b++)
		ck_assert_uint_eq(*b, 0);
	memset(q - 2 * PAGE, 0x5A, 2 * PAGE);
	q[0] = 0x77;
	uint8_t file[PAGE];
	ck_assert_int_eq(pread(fd, file, PAGE, 0), PAGE);
	for (unsigned i = 0; i < PAGE; i++)
		ck_assert_uint_eq(file[i], 1);
	ck_assert_int_eq(pread(fd, file, 1, PAGE), 1);
	ck_assert_uint_eq(file[0], 0x77);
	ck_assert_int_eq(munmap(q - 2 * PAGE, 4 * PAGE), 0);
	/* Gone, both parts: the kernel now maps nothing there. */
	ck_assert_int_eq(msync(q - 2 * PAGE, PAGE, MS_ASYNC), -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(msync(q, PAGE, MS_ASYNC), -1);

	/* A lead of part of a page, no length, a span that wraps: EINVAL. */
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(100, PAGE, PROT_READ, fd, 0, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(PAGE, PAGE, PROT_READ, fd, 0, 100), MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(PAGE, PAGE, PROT_READ, fd, 0, SHIM_MAP_ALIGN), MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(PAGE, 0, PROT_READ, fd, 0, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(SIZE_MAX / PAGE * PAGE, PAGE, PROT_READ, fd, 0, 0),
			 MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_eq(shim_mmap_led(PAGE, SIZE_MAX - PAGE, PROT_READ, fd, 0, 0), MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	close(fd);
}
END_TEST

START_TEST(cache_names_round_trip)
{
	/* The policy parses cache: by these names (config/build_regions.c); each is its own. */
	for (unsigned i = 0; i <= MMIO_CACHE_MAX; i++) {
		ck_assert_str_ne(mmio_cache_name(i), "?");
		for (unsigned j = 0; j < i; j++)
			ck_assert_str_ne(mmio_cache_name(i), mmio_cache_name(j));
	}
	ck_assert_str_eq(mmio_cache_name((unsigned)9), "?");
}
END_TEST

START_TEST(status_names_and_texts)
{
	for (int s = 0; s >= MMIO_STATUS_MIN; s--) {
		ck_assert_ptr_nonnull(mmio_strerror(s));
		ck_assert_str_ne(mmio_strerror(s), "unknown status");
		ck_assert_int_eq(strncmp(mmio_status_name(s), "MMIO_", 5), 0);
	}
	ck_assert_str_eq(mmio_status_name(MMIO_EFAULT), "MMIO_EFAULT");
	ck_assert_str_eq(mmio_status_name(MMIO_EINTERNAL), "MMIO_EINTERNAL");
	ck_assert_str_eq(mmio_strerror(1), "unknown status");
	ck_assert_str_eq(mmio_strerror(MMIO_STATUS_MIN - 1), "unknown status");
	ck_assert_str_eq(mmio_status_name(-1000), "MMIO_E?");
}
END_TEST

static Suite *kernel_shim_suite(void)
{
	Suite *s = suite_create("kernel_shim");
	TCase *tc;

	tc = tcase_create("once");
	tcase_add_checked_fixture(tc, device_setup, device_teardown);
	tcase_add_test(tc, once_every_width_and_alignment);
	tcase_add_test(tc, once_reads_see_device_bytes);
	tcase_add_test(tc, once_range_and_width_rejections);
	tcase_add_test(tc, once_pinned_width);
	suite_add_tcase(s, tc);

	tc = tcase_create("copy");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, device_setup, device_teardown);
	tcase_add_test(tc, copy_small_every_length_and_offset);
	tcase_add_test(tc, copy_range_rejections);
	tcase_add_test(tc, copy_pinned_widths);
	tcase_add_loop_test(tc, copy_widest_allowed_step, 0,
			    (int)(3 * sizeof(width_cases) / sizeof(width_cases[0])));
	tcase_add_test(tc, step_width_choice);
	suite_add_tcase(s, tc);

	tc = tcase_create("copy_large");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, device_setup_large, device_teardown);
	tcase_add_test(tc, copy_large_every_offset);
	suite_add_tcase(s, tc);

	tc = tcase_create("fill");
	tcase_add_checked_fixture(tc, device_setup, device_teardown);
	tcase_add_test(tc, fill_every_length_and_offset);
	tcase_add_test(tc, fill_limit_semantics);
	suite_add_tcase(s, tc);

	tc = tcase_create("window");
	tcase_add_checked_fixture(tc, device_setup, device_teardown);
	tcase_add_test(tc, window_init_and_slice);
	suite_add_tcase(s, tc);

	tc = tcase_create("fault");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, fault_setup, device_teardown);
	tcase_add_test(tc, fault_copy_from_exact_count);
	tcase_add_test(tc, fault_copy_to_and_fill_exact_count);
	tcase_add_test(tc, fault_pinned_widths_exact_count);
	tcase_add_test(tc, fault_once_ops);
	tcase_add_test(tc, fault_on_buffer_side);
	tcase_add_test(tc, fault_two_threads_own_counts);
	tcase_add_test(tc, stray_faults_behave_as_without_handler);
	tcase_add_test(tc, stray_faults_reach_previous_handler);
	tcase_add_test(tc, fault_in_an_added_table);
	tcase_add_test(tc, added_tables_are_counted_and_bounded);
	tcase_add_test(tc, tables_swapped_during_faults);
	tcase_add_test(tc, recovery_in_shared_module);
	suite_add_tcase(s, tc);

	tc = tcase_create("disassembly");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, disassembly_width_exact_and_no_string_ops);
	suite_add_tcase(s, tc);

	tc = tcase_create("backend");
	tcase_add_checked_fixture(tc, device_setup, device_teardown);
	tcase_add_test(tc, backend_errors_name_the_problem);
	tcase_add_test(tc, sim_memory_is_sealed_unless_resizable);
	tcase_add_test(tc, cache_names_round_trip);
	tcase_add_test(tc, placed_mappings_and_their_lead);
	tcase_add_test(tc, status_names_and_texts);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kernel_shim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
