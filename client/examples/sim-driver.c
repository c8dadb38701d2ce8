/* SPDX-License-Identifier: MIT */
/*
 * sim-driver: a small driver for a simulated device, to show the libmmio
 * calls a real driver makes. Run it against a server whose policy has a
 * `sim: true` region (default name "scratch", at least 4 KiB) granted to
 * you with ops [once, bulk, fill, poll]:
 *
 *	mmio-sim-driver [URL [REGION]]
 *
 * The "device" is plain memory, so the driver first plays the device's part
 * too (it writes the ID and status registers it then reads). Exit status 0
 * if every step gave what it should.
 */
#include <mmio/client.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The register map of our pretend device. */
#define REG_ID	     0x00 /* 32-bit identification */
#define REG_CTRL     0x04 /* 32-bit control */
#define REG_STATUS   0x08 /* 32-bit status */
#define REG_COUNTER  0x10 /* 64-bit counter */
#define DATA_WINDOW  0x100
#define DATA_SIZE    0x400
#define CTRL_START   0x1u
#define STATUS_READY 0x1u
#define STATUS_BUSY  0x2u
#define DEVICE_ID    0x010000EDu

static int failures;

/* Report one step: @status is what the library returned, @want what we expected. */
static void step(const char *what, int status, int want)
{
	if (status == want) {
		printf("  ok    %s\n", what);
		return;
	}
	printf("  FAIL  %s: %s (%s), expected %s\n", what, mmio_status_name(status),
	       mmio_strerror(status), mmio_status_name(want));
	failures++;
}

static void check(const char *what, int ok)
{
	printf("  %s  %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		failures++;
}

static void registers(mmio_region *regs)
{
	uint32_t id = 0;
	uint64_t counter = 0;
	uint8_t low = 0;

	puts("registers:");
	step("write32 ID (playing the device)", mmio_write32(regs, REG_ID, DEVICE_ID), MMIO_OK);
	step("read32 ID", mmio_read32(regs, REG_ID, &id), MMIO_OK);
	printf("        ID = 0x%08" PRIX32 "\n", id);
	check("ID reads back", id == DEVICE_ID);
	step("read8 ID low byte", mmio_read8(regs, REG_ID, &low), MMIO_OK);
	check("low byte is 0xED (little-endian)", low == 0xED);
	step("write64 COUNTER", mmio_write64(regs, REG_COUNTER, 0x1122334455667788u), MMIO_OK);
	step("read64 COUNTER", mmio_read64(regs, REG_COUNTER, &counter), MMIO_OK);
	check("COUNTER reads back", counter == 0x1122334455667788u);
	step("misaligned read32 is refused", mmio_read32(regs, REG_ID + 1, &id), MMIO_EINVAL);
}

static void bulk(mmio_region *regs)
{
	uint8_t out[DATA_SIZE], in[DATA_SIZE];
	uint32_t word = 0;
	size_t done = 0;

	puts("bulk copy and fill:");
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	step("write 1 KiB to the data window",
	     mmio_write(regs, DATA_WINDOW, out, sizeof(out), &done), MMIO_OK);
	step("read it back", mmio_read(regs, DATA_WINDOW, in, sizeof(in), &done), MMIO_OK);
	check("same bytes", done == sizeof(in) && memcmp(in, out, sizeof(in)) == 0);

	step("fill 256 bytes with 0xA5", mmio_fill(regs, DATA_WINDOW + 0x100, 256, 0xA5, &done),
	     MMIO_OK);
	step("read32 inside the fill", mmio_read32(regs, DATA_WINDOW + 0x100, &word), MMIO_OK);
	check("reads 0xA5A5A5A5", word == 0xA5A5A5A5u);
	step("a read past the end is refused", mmio_read(regs, mmio_size(regs) - 4, in, 8, &done),
	     MMIO_EINVAL);
	check("and moved nothing", done == 0);
}

static void polls(mmio_region *regs)
{
	uint32_t last = 0;

	puts("polls:");
	step("device sets STATUS.READY", mmio_write32(regs, REG_STATUS, STATUS_READY), MMIO_OK);
	step("poll for READY (1 ms)",
	     mmio_poll32(regs, REG_STATUS, STATUS_READY, STATUS_READY, 1000, &last), MMIO_OK);
	step("poll for BUSY times out (20 ms)",
	     mmio_poll32(regs, REG_STATUS, STATUS_BUSY, STATUS_BUSY, 20000, &last), MMIO_ETIMEDOUT);
	printf("        last STATUS = 0x%08" PRIX32 "\n", last);
}

static void slices(mmio_region *regs)
{
	mmio_region *data;
	uint32_t word = 0;

	puts("slices:");
	step("slice the data window", mmio_slice(regs, DATA_WINDOW, DATA_SIZE, &data), MMIO_OK);
	if (!data)
		return;
	step("write32 at slice offset 0", mmio_write32(data, 0, 0xCAFEF00Du), MMIO_OK);
	step("read it through the parent", mmio_read32(regs, DATA_WINDOW, &word), MMIO_OK);
	check("the slice starts at the window", word == 0xCAFEF00Du);
	step("past the slice's end is refused", mmio_read32(data, DATA_SIZE, &word), MMIO_EINVAL);
	mmio_close(data);
}

static void batch(mmio_client *c, mmio_region *regs)
{
	mmio_batch *b;
	uint64_t id = 0, counter = 0;
	size_t failed;
	int i_id, i_counter;

	puts("batch:");
	step("new batch", mmio_batch_new(c, &b), MMIO_OK);
	if (!b)
		return;
	mmio_batch_write(b, regs, REG_CTRL, 4, CTRL_START);
	mmio_batch_poll(b, regs, REG_STATUS, 4, STATUS_READY, STATUS_READY, 1000);
	i_id = mmio_batch_read(b, regs, REG_ID, 4);
	i_counter = mmio_batch_read(b, regs, REG_COUNTER, 8);
	check("four ops queued", mmio_batch_count(b) == 4 && i_id == 2 && i_counter == 3);
	step("run: start, wait for READY, read ID and COUNTER", mmio_batch_run(b, &failed),
	     MMIO_OK);
	mmio_batch_value(b, (size_t)i_id, &id);
	mmio_batch_value(b, (size_t)i_counter, &counter);
	printf("        ID = 0x%08" PRIX64 ", COUNTER = 0x%016" PRIX64 "\n", id, counter);
	check("batch values", id == DEVICE_ID && counter == 0x1122334455667788u);

	/* A batch stops at its first failure and says which op it was. */
	mmio_batch_clear(b);
	mmio_batch_read(b, regs, REG_ID, 4);
	mmio_batch_poll(b, regs, REG_STATUS, 4, STATUS_BUSY, STATUS_BUSY, 1000);
	mmio_batch_read(b, regs, REG_COUNTER, 8);
	step("run: the poll for BUSY fails", mmio_batch_run(b, &failed), MMIO_ETIMEDOUT);
	check("op 1 failed; op 0 has its value, op 2 none",
	      failed == 1 && mmio_batch_value(b, 0, &id) == MMIO_OK &&
		      mmio_batch_value(b, 2, &counter) == MMIO_EINVAL);
	mmio_batch_free(b);
}

int main(int argc, char **argv)
{
	const char *url = argc > 1 ? argv[1] : NULL;
	const char *name = argc > 2 ? argv[2] : "scratch";
	struct mmio_region_info info;
	mmio_client *c;
	mmio_region *regs;
	int status;

	status = mmio_connect(url, &c);
	if (status != MMIO_OK) {
		fprintf(stderr, "sim-driver: connect: %s (%s)\n", mmio_status_name(status),
			mmio_strerror(status));
		return 1;
	}
	/* Direct if the policy allows it, else proxied: the code is the same. */
	status = mmio_open(c, name, MMIO_OPEN_DIRECT, &regs);
	if (status != MMIO_OK) {
		fprintf(stderr, "sim-driver: open %s: %s (%s)\n", name, mmio_status_name(status),
			mmio_strerror(status));
		mmio_disconnect(c);
		return 1;
	}
	mmio_describe(regs, &info);
	printf("opened %s: %zu bytes, %s, access %s%s\n", info.name, mmio_size(regs),
	       mmio_is_direct(regs) ? "direct" : "proxied",
	       info.access & MMIO_ACCESS_READ ? "r" : "",
	       info.access & MMIO_ACCESS_WRITE ? "w" : "");
	if (mmio_size(regs) < 0x1000) {
		fprintf(stderr, "sim-driver: %s is smaller than 4 KiB\n", name);
		mmio_disconnect(c);
		return 1;
	}

	registers(regs);
	bulk(regs);
	polls(regs);
	slices(regs);
	batch(c, regs);

	mmio_close(regs);
	mmio_disconnect(c);
	printf("%s\n", failures ? "FAILED" : "all steps ok");
	return failures ? 1 : 0;
}
