/* SPDX-License-Identifier: MIT */
/*
 * edu-driver: a driver for QEMU's `edu` device (docs/specs/edu.rst in QEMU),
 * the register file with side effects that the guest boots with. It runs
 * as an ordinary user; the policy grants it edu's BAR0 (region "edu").
 *
 *	mmio-edu-driver [--direct | --proxied] [--irq] [-s URL] [--region NAME]
 *
 * What it does, printing each step:
 *  1. reads the identification register (0x00: 0x010000ed on QEMU 7.2);
 *  2. checks liveness (0x04 answers the bitwise inverse of what was
 *     written) with several values;
 *  3. computes factorials through the register protocol: write n to 0x08,
 *     wait until bit 0 of the status register (0x20, "computing") clears,
 *     read n! back from 0x08 — the wait with mmio_poll32(), and the whole
 *     exchange once more as one batch (one round trip when proxied);
 *     every result is compared with n! computed here (mod 2^32, as edu
 *     computes it);
 *  4. with --irq, computes factorials once more with interrupts instead of
 *     polling: status bit 0x80 makes edu raise its interrupt when one is
 *     done; the driver sleeps in mmio_irq_wait(), then acknowledges (writes
 *     the interrupt status 0x24 back to 0x64) and unmasks, and prints how
 *     many interrupts came (the policy must grant op irq on the region).
 * edu answers only 32-bit accesses below 0x80, which the policy pins.
 *
 * --direct insists on a mapping (MMIO_OPEN_REQUIRE_DIRECT), --proxied on
 * messages; by default the policy decides (MMIO_OPEN_DIRECT). Exit status
 * 0 if every step gave what it should, 1 if one did not, 2 for bad usage.
 */
#include <mmio/client.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EDU_ID	      0x00
#define EDU_LIVENESS  0x04
#define EDU_FACTORIAL 0x08
#define EDU_STATUS    0x20
#define EDU_IRQ_STAT  0x24
#define EDU_IRQ_ACK   0x64
#define STATUS_BUSY   0x01u
#define STATUS_IRQ    0x80u /* raise the interrupt when a factorial is done */
#define IRQ_FACTORIAL 0x01u /* interrupt status bit of a finished factorial */
#define IRQ_FACTS     16u
#define EDU_ID_MAGIC  0xEDu    /* low byte of the ID; the rest is the version */
#define POLL_US	      1000000u /* edu computes in microseconds; a second is generous */

static int failures;

static void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %s  ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		failures++;
}

/* n! mod 2^32, as edu computes it. */
static uint32_t factorial(uint32_t n)
{
	uint32_t f = 1;

	for (uint32_t i = 2; i <= n; i++)
		f *= i;
	return f;
}

static int identify(mmio_region *regs)
{
	uint32_t id = 0;
	int st = mmio_read32(regs, EDU_ID, &id);

	if (st != MMIO_OK) {
		result(0, "read ID: %s", mmio_strerror(st));
		return st;
	}
	result((id & 0xFFu) == EDU_ID_MAGIC, "ID 0x%08" PRIx32 " (edu version %u.%u)", id,
	       (unsigned)(id >> 24), (unsigned)((id >> 16) & 0xFF));
	return MMIO_OK;
}

static void liveness(mmio_region *regs)
{
	static const uint32_t values[] = { 0x00000000u, 0xFFFFFFFFu, 0x12345678u, 0xA5A5A5A5u,
					   0x00000001u };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint32_t back = 0;
		int st = mmio_write32(regs, EDU_LIVENESS, values[i]);

		if (st == MMIO_OK)
			st = mmio_read32(regs, EDU_LIVENESS, &back);
		if (st != MMIO_OK)
			result(0, "liveness 0x%08" PRIx32 ": %s", values[i], mmio_strerror(st));
		else
			result(back == (uint32_t)~values[i],
			       "liveness: wrote 0x%08" PRIx32 ", read 0x%08" PRIx32, values[i],
			       back);
	}
}

/* n! the way a C driver would write it: write, poll, read. */
static void factorials_polled(mmio_region *regs)
{
	for (uint32_t n = 0; n <= 12; n += 3) {
		uint32_t status = 0, value = 0;
		int st = mmio_write32(regs, EDU_FACTORIAL, n);

		if (st == MMIO_OK)
			st = mmio_poll32(regs, EDU_STATUS, STATUS_BUSY, 0, POLL_US, &status);
		if (st == MMIO_OK)
			st = mmio_read32(regs, EDU_FACTORIAL, &value);
		if (st != MMIO_OK)
			result(0, "%" PRIu32 "!: %s (status register 0x%08" PRIx32 ")", n,
			       mmio_strerror(st), status);
		else
			result(value == factorial(n),
			       "%" PRIu32 "! = %" PRIu32 " (expected %" PRIu32 ")", n, value,
			       factorial(n));
	}
}

/* The same exchange as one batch: write n, wait, read — in order, one request. */
static void factorials_batched(mmio_client *c, mmio_region *regs)
{
	for (uint32_t n = 13; n <= 15; n++) {
		mmio_batch *b;
		size_t failed = MMIO_BATCH_NONE;
		uint64_t value = 0;
		int st = mmio_batch_new(c, &b);

		if (st != MMIO_OK) {
			result(0, "batch: %s", mmio_strerror(st));
			return;
		}
		mmio_batch_write(b, regs, EDU_FACTORIAL, 4, n);
		mmio_batch_poll(b, regs, EDU_STATUS, 4, STATUS_BUSY, 0, POLL_US);
		mmio_batch_read(b, regs, EDU_FACTORIAL, 4);
		st = mmio_batch_run(b, &failed);
		if (st == MMIO_OK)
			st = mmio_batch_value(b, 2, &value);
		if (st != MMIO_OK)
			result(0, "%" PRIu32 "! batched: %s (op %zu)", n, mmio_strerror(st),
			       failed);
		else
			result(value == factorial(n),
			       "%" PRIu32 "! = %" PRIu64 " (batch of 3 ops, expected %" PRIu32 ")",
			       n, value, factorial(n));
		mmio_batch_free(b);
	}
}

/* n! woken by edu's interrupt instead of polling the status register. */
static void factorials_interrupt(mmio_client *c, mmio_region *regs, const char *region)
{
	uint64_t interrupts = 0, n = 0;
	unsigned right = 0;
	uint32_t status = 0;
	mmio_irq *irq;
	int st = mmio_irq_open(c, region, &irq);

	if (st != MMIO_OK) {
		result(0, "interrupt of %s: %s (%s)", region, mmio_strerror(st),
		       mmio_status_name(st));
		return;
	}
	st = mmio_read32(regs, EDU_STATUS, &status);
	if (st == MMIO_OK)
		st = mmio_write32(regs, EDU_STATUS, status | STATUS_IRQ);
	for (uint32_t k = 1; st == MMIO_OK && k <= IRQ_FACTS; k++) {
		uint32_t value = 0, pending = 0, f = k % 13;

		st = mmio_write32(regs, EDU_FACTORIAL, f);
		if (st == MMIO_OK)
			st = mmio_irq_wait(irq, POLL_US, &n);
		interrupts += n;
		if (st == MMIO_OK)
			st = mmio_read32(regs, EDU_IRQ_STAT, &pending);
		if (st == MMIO_OK)
			st = mmio_write32(regs, EDU_IRQ_ACK, pending);
		if (st == MMIO_OK)
			st = mmio_irq_unmask(irq);
		if (st == MMIO_OK)
			st = mmio_read32(regs, EDU_FACTORIAL, &value);
		if (st == MMIO_OK && (pending & IRQ_FACTORIAL) && value == factorial(f))
			right++;
	}
	if (st != MMIO_OK)
		result(0, "factorials by interrupt: %s (%s)", mmio_strerror(st),
		       mmio_status_name(st));
	else
		result(right == IRQ_FACTS && interrupts == IRQ_FACTS,
		       "%u factorials by interrupt, %u right, %" PRIu64 " interrupts (%s)",
		       IRQ_FACTS, right, interrupts, mmio_irq_is_msi(irq) == 1 ? "MSI" : "INTx");
	mmio_write32(regs, EDU_STATUS, status & ~STATUS_IRQ);
	mmio_irq_close(irq);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: mmio-edu-driver [--direct | --proxied] [--irq] [-s URL] [--region "
		   "NAME]\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "direct", no_argument, NULL, 'd' },
		{ "proxied", no_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "region", required_argument, NULL, 'r' },
		{ "irq", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *region = "edu";
	unsigned flags = MMIO_OPEN_DIRECT;
	bool interrupts = false;
	mmio_client *c;
	mmio_region *regs;
	int opt, st;

	while ((opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			flags = MMIO_OPEN_REQUIRE_DIRECT;
			break;
		case 'p':
			flags = MMIO_OPEN_PROXIED;
			break;
		case 's':
			url = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'i':
			interrupts = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	st = mmio_connect(url, &c);
	if (st != MMIO_OK) {
		fprintf(stderr, "mmio-edu-driver: connect: %s\n", mmio_strerror(st));
		return 1;
	}
	st = mmio_open(c, region, flags, &regs);
	if (st != MMIO_OK) {
		fprintf(stderr, "mmio-edu-driver: open %s: %s (%s)\n", region, mmio_strerror(st),
			mmio_status_name(st));
		mmio_disconnect(c);
		return 1;
	}
	printf("edu: region \"%s\", %zu bytes, %s\n", region, mmio_size(regs),
	       mmio_is_direct(regs) ? "direct (loads and stores on a mapping)"
				    : "proxied (one message per access)");
	if (identify(regs) == MMIO_OK) {
		liveness(regs);
		factorials_polled(regs);
		factorials_batched(c, regs);
		if (interrupts)
			factorials_interrupt(c, regs, region);
	}
	printf("edu: %s\n", failures ? "FAILED" : "all steps ok");
	mmio_close(regs);
	mmio_disconnect(c);
	return failures ? 1 : 0;
}
