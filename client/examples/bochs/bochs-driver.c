/* SPDX-License-Identifier: MIT */
/*
 * bochs-driver: a driver for QEMU's `bochs-display` (hw/display/bochs-display.c
 * in QEMU): it sets a video mode through the Bochs DISPI registers and draws
 * a test pattern into the framebuffer, as an ordinary user. The policy
 * grants it two regions:
 *  - "dispi": the DISPI registers, 16 bits each at BAR2 + 0x500 + index * 2
 *    (ID, XRES, YRES, BPP, ENABLE, BANK, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET,
 *    Y_OFFSET, VIDEO_MEMORY_64K), 16-bit accesses only;
 *  - "fb": the framebuffer, BAR0 (16 MiB by default), 32 bits per pixel as
 *    0x00RRGGBB little-endian words.
 *
 *	mmio-bochs-driver [--direct | --proxied] [-s URL] [--mode WxH]
 *	                  [--mirror] [--no-draw]
 *
 * What it does, printing each step:
 *  1. checks the DISPI ID (0xB0C0..0xB0C5) and the video memory size;
 *  2. sets the mode (640x480x32 by default): disable, XRES, YRES, BPP 32,
 *     VIRT_WIDTH, offsets 0, enable with the linear framebuffer; reads the
 *     registers back;
 *  3. draws the pattern with one bulk write: eight colour bars (white,
 *     yellow, cyan, green, magenta, red, blue, black) over the top two
 *     thirds, a grey ramp from black to white below (--mirror reverses
 *     both, so two runs leave different pictures);
 *  4. reads a few pixels back through the library, and prints them as
 *     "sample X Y RRGGBB" lines: what the screen must show there.
 * --direct insists on a mapping of the framebuffer, --proxied on messages;
 * by default the policy decides. --no-draw does everything but the drawing
 * (and the read-back), so a screenshot test can be shown to fail. Exit
 * status 0 if every step gave what it should, 1 if one did not, 2 for bad
 * usage.
 */
#include <mmio/client.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DISPI register indexes; each register is at index * 2 in "dispi". */
#define DISPI_ID	       0x0
#define DISPI_XRES	       0x1
#define DISPI_YRES	       0x2
#define DISPI_BPP	       0x3
#define DISPI_ENABLE	       0x4
#define DISPI_VIRT_WIDTH       0x6
#define DISPI_VIRT_HEIGHT      0x7
#define DISPI_X_OFFSET	       0x8
#define DISPI_Y_OFFSET	       0x9
#define DISPI_VIDEO_MEMORY_64K 0xa
#define DISPI_ID0	       0xB0C0u
#define DISPI_ID5	       0xB0C5u
#define DISPI_ENABLED	       0x01u
#define DISPI_LFB_ENABLED      0x40u
#define BYTES_PER_PIXEL	       4u
#define NBARS		       8u

struct options {
	unsigned flags;
	const char *url;
	uint32_t width, height;
	int mirror, draw;
};

static int failures;

static void step(int ok, const char *what, int st)
{
	if (st != MMIO_OK)
		printf("  FAIL  %s: %s (%s)\n", what, mmio_strerror(st), mmio_status_name(st));
	else
		printf("  %s  %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok || st != MMIO_OK)
		failures++;
}

static int dispi_set(mmio_region *regs, unsigned index, uint16_t v)
{
	return mmio_write16(regs, index * 2u, v);
}

static int dispi_get(mmio_region *regs, unsigned index, uint16_t *v)
{
	return mmio_read16(regs, index * 2u, v);
}

static int identify(mmio_region *regs, const struct options *o)
{
	uint16_t id = 0, mem64k = 0;
	char what[96];
	int st = dispi_get(regs, DISPI_ID, &id);

	if (st == MMIO_OK)
		st = dispi_get(regs, DISPI_VIDEO_MEMORY_64K, &mem64k);
	snprintf(what, sizeof(what), "DISPI ID 0x%04x, %u KiB of video memory", id,
		 (unsigned)mem64k * 64u);
	step(id >= DISPI_ID0 && id <= DISPI_ID5 &&
		     (uint64_t)mem64k * 65536u >= (uint64_t)o->width * o->height * BYTES_PER_PIXEL,
	     what, st);
	return st == MMIO_OK && failures == 0 ? MMIO_OK : MMIO_EINVAL;
}

/* The mode switch the Linux bochs DRM driver also makes: disabled while the
 * geometry changes, then enabled with the linear framebuffer. */
static int set_mode(mmio_region *regs, const struct options *o)
{
	const struct {
		unsigned index;
		uint16_t value;
	} seq[] = {
		{ DISPI_ENABLE, 0 },
		{ DISPI_XRES, (uint16_t)o->width },
		{ DISPI_YRES, (uint16_t)o->height },
		{ DISPI_BPP, 32 },
		{ DISPI_VIRT_WIDTH, (uint16_t)o->width },
		{ DISPI_VIRT_HEIGHT, (uint16_t)o->height },
		{ DISPI_X_OFFSET, 0 },
		{ DISPI_Y_OFFSET, 0 },
		{ DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED },
	};
	uint16_t x = 0, y = 0, bpp = 0, en = 0;
	char what[96];
	int st = MMIO_OK;

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]) && st == MMIO_OK; i++)
		st = dispi_set(regs, seq[i].index, seq[i].value);
	if (st == MMIO_OK)
		st = dispi_get(regs, DISPI_XRES, &x);
	if (st == MMIO_OK)
		st = dispi_get(regs, DISPI_YRES, &y);
	if (st == MMIO_OK)
		st = dispi_get(regs, DISPI_BPP, &bpp);
	if (st == MMIO_OK)
		st = dispi_get(regs, DISPI_ENABLE, &en);
	snprintf(what, sizeof(what), "mode %ux%ux%u, enable 0x%02x", x, y, bpp, en);
	step(x == o->width && y == o->height && bpp == 32 && (en & DISPI_ENABLED), what, st);
	return st == MMIO_OK && failures == 0 ? MMIO_OK : MMIO_EINVAL;
}

/* The colour the pattern has at (x, y), as 0x00RRGGBB. */
static uint32_t pattern(const struct options *o, uint32_t x, uint32_t y)
{
	static const uint32_t bars[NBARS] = { 0xFFFFFF, 0xFFFF00, 0x00FFFF, 0x00FF00,
					      0xFF00FF, 0xFF0000, 0x0000FF, 0x000000 };
	uint32_t col = o->mirror ? o->width - 1 - x : x;

	if (y < o->height * 2 / 3)
		return bars[col * NBARS / o->width];
	uint32_t grey = col * 255u / (o->width - 1);
	return grey << 16 | grey << 8 | grey;
}

static int draw(mmio_region *fb, const struct options *o)
{
	size_t len = (size_t)o->width * o->height * BYTES_PER_PIXEL, done = 0;
	uint32_t *frame = malloc(len);
	char what[96];
	int st;

	if (!frame) {
		step(0, "out of memory for the frame", MMIO_OK);
		return MMIO_ENOMEM;
	}
	for (uint32_t y = 0; y < o->height; y++)
		for (uint32_t x = 0; x < o->width; x++)
			frame[(size_t)y * o->width + x] = pattern(o, x, y);
	st = mmio_write(fb, 0, frame, len, &done);
	snprintf(what, sizeof(what), "drew %s bars and a grey ramp: %zu of %zu bytes",
		 o->mirror ? "mirrored" : "colour", done, len);
	step(done == len, what, st);
	free(frame);
	return st;
}

/* Samples: the middle of each bar, and five points along the ramp. */
static void samples(mmio_region *fb, const struct options *o)
{
	struct {
		uint32_t x, y;
	} pts[NBARS + 5];
	size_t n = 0;

	for (uint32_t b = 0; b < NBARS; b++, n++) {
		pts[n].x = (2 * b + 1) * o->width / (2 * NBARS);
		pts[n].y = o->height / 3;
	}
	for (uint32_t i = 0; i < 5; i++, n++) {
		pts[n].x = i * (o->width - 1) / 4;
		pts[n].y = o->height * 5 / 6;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t x = pts[i].x, y = pts[i].y, want = pattern(o, x, y), got = 0;
		size_t off = ((size_t)y * o->width + x) * BYTES_PER_PIXEL;

		if (o->draw) {
			char what[64];
			int st = mmio_read32(fb, off, &got);

			snprintf(what, sizeof(what),
				 "pixel (%" PRIu32 ", %" PRIu32 ") reads 0x%06" PRIx32, x, y,
				 got & 0xFFFFFFu);
			step((got & 0xFFFFFFu) == want, what, st);
		}
		printf("sample %" PRIu32 " %" PRIu32 " %06" PRIx32 "\n", x, y, want);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: mmio-bochs-driver [--direct | --proxied] [-s URL] [--mode WxH] "
		   "[--mirror] [--no-draw]\n");
}

/* 0 on success, 2 for bad usage (printed), -1 for --help (printed). */
static int parse(int argc, char **argv, struct options *o)
{
	static const struct option options[] = {
		{ "direct", no_argument, NULL, 'd' },
		{ "proxied", no_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "mirror", no_argument, NULL, 'M' },
		{ "no-draw", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	char tail;

	*o = (struct options){ MMIO_OPEN_DIRECT, NULL, 640, 480, 0, 1 };
	while ((opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o->flags = MMIO_OPEN_REQUIRE_DIRECT;
			break;
		case 'p':
			o->flags = MMIO_OPEN_PROXIED;
			break;
		case 's':
			o->url = optarg;
			break;
		case 'M':
			o->mirror = 1;
			break;
		case 'n':
			o->draw = 0;
			break;
		case 'm':
			if (sscanf(optarg, "%" SCNu32 "x%" SCNu32 "%c", &o->width, &o->height,
				   &tail) != 2 ||
			    o->width < 64 || o->width > 4096 || o->height < 64 ||
			    o->height > 4096) {
				fprintf(stderr,
					"mmio-bochs-driver: --mode wants WxH, 64 to 4096 each\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	mmio_client *c;
	mmio_region *regs = NULL, *fb = NULL;
	int st = parse(argc, argv, &o);

	if (st)
		return st < 0 ? 0 : st;
	st = mmio_connect(o.url, &c);
	if (st != MMIO_OK) {
		fprintf(stderr, "mmio-bochs-driver: connect: %s\n", mmio_strerror(st));
		return 1;
	}
	st = mmio_open(c, "dispi", MMIO_OPEN_PROXIED, &regs);
	if (st == MMIO_OK)
		st = mmio_open(c, "fb", o.flags, &fb);
	if (st != MMIO_OK) {
		fprintf(stderr, "mmio-bochs-driver: open %s: %s (%s)\n", regs ? "fb" : "dispi",
			mmio_strerror(st), mmio_status_name(st));
		mmio_disconnect(c);
		return 1;
	}
	printf("bochs-display: registers proxied, framebuffer %zu KiB %s\n", mmio_size(fb) / 1024,
	       mmio_is_direct(fb) ? "direct (stores on a mapping)" : "proxied (messages)");
	if (identify(regs, &o) == MMIO_OK && set_mode(regs, &o) == MMIO_OK &&
	    (!o.draw || draw(fb, &o) == MMIO_OK))
		samples(fb, &o);
	printf("bochs-display: %s\n", failures ? "FAILED" : "all steps ok");
	mmio_disconnect(c); /* closes both regions */
	return failures ? 1 : 0;
}
