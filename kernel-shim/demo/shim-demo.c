/* SPDX-License-Identifier: MIT */
/*
 * mmio-shim-demo: the core of mmio in one screen. Creates a simulated
 * device, accesses its registers and a buffer through the kernel-shim
 * primitives, then pulls memory out from under a copy and shows the exact
 * partial count the primitives report instead of crashing.
 */
#include <mmio/shim.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_SIZE (64u * 1024u)
#define PAGE	    4096u

static int step(const char *what, int status)
{
	printf("  %-46s %s\n", what, status == MMIO_OK ? "ok" : mmio_status_name(status));
	return status;
}

int main(void)
{
	struct shim_source src = { .backend = "sim",
				   .name = "demo",
				   .size = DEVICE_SIZE,
				   .cache = MMIO_CACHE_WRITE_BACK,
				   .resizable = true /* the demo shrinks it */ };
	struct shim_device dev;
	struct shim_window win;
	char err[256];
	uint64_t v;
	size_t done;
	int status;

	status = shim_device_open(&src, &dev, err, sizeof(err));
	if (status != MMIO_OK) {
		fprintf(stderr, "mmio-shim-demo: %s\n", err);
		return 1;
	}
	shim_window_init(&win, dev.base, dev.size, 0);
	printf("sim device \"demo\": %u KiB of device memory (memfd %d)\n\n", DEVICE_SIZE / 1024,
	       dev.fd);

	printf("registers (each access is one MOV of exactly that width):\n");
	step("write32 0x10 <- 0xC0FFEE11", shim_write_once(&win, 0x10, 4, 0xC0FFEE11));
	shim_read_once(&win, 0x10, 4, &v);
	printf("  read32  0x10 -> 0x%08" PRIX64 "\n", v);
	shim_read_once(&win, 0x10, 1, &v);
	printf("  read8   0x10 -> 0x%02" PRIX64 " (little-endian low byte)\n", v);
	step("write64 0x18 <- 0x1122334455667788",
	     shim_write_once(&win, 0x18, 8, 0x1122334455667788));
	shim_read_once(&win, 0x1C, 4, &v);
	printf("  read32  0x1C -> 0x%08" PRIX64 " (upper half)\n", v);
	step("read32 at 0x11 (misaligned)", shim_read_once(&win, 0x11, 4, &v));
	step("read64 at 0xFFFC (ends past the device)", shim_read_once(&win, 0xFFFC, 8, &v));
	step("read8 at SIZE_MAX (offset overflow)", shim_read_once(&win, SIZE_MAX, 1, &v));

	printf("\nbulk (aligned device accesses, at most 8 bytes wide):\n");
	char msg[] = "device memory, copied at an odd offset";
	char back[sizeof(msg)] = { 0 };
	step("write 39 bytes at 0x101", shim_copy_to_device(&win, 0x101, msg, sizeof(msg), &done));
	step("read them back", shim_copy_from_device(&win, 0x101, back, sizeof(back), &done));
	printf("  -> \"%s\"\n", back);
	status = shim_fill(&win, DEVICE_SIZE - 16, 64, 0xAB, &done);
	printf("  fill 64 bytes 16 before the end: %s, %zu written (fill stops at the limit)\n",
	       mmio_status_name(status), done);

	printf("\nfault injection: the device shrinks to 3 pages under a 16 KiB copy\n");
	uint8_t *buf = malloc(16384);
	if (!buf)
		return 1;
	memset(buf, 0x5A, 16384);
	shim_sim_resize(&dev, 3 * PAGE);
	status = shim_copy_to_device(&win, PAGE / 2, buf, 16384, &done);
	printf("  copy to device from offset 0x%X: %s, done = %zu bytes\n", PAGE / 2,
	       mmio_status_name(status), done);
	printf("  (exactly the %u bytes up to the new end at 0x%X; the process is alive)\n",
	       3 * PAGE - PAGE / 2, 3 * PAGE);
	status = shim_fill(&win, 0, DEVICE_SIZE, 0, &done);
	printf("  fill whole device: %s, done = %zu\n", mmio_status_name(status), done);
	shim_sim_resize(&dev, DEVICE_SIZE);
	status = shim_copy_to_device(&win, PAGE / 2, buf, 16384, &done);
	printf("  after growing back: %s, done = %zu\n", mmio_status_name(status), done);

	free(buf);
	shim_device_close(&dev);
	return 0;
}
