/* SPDX-License-Identifier: MIT */
/*
 * A first driver: QEMU's edu device, as an ordinary user. Reads the
 * identification register, then checks that the device is alive (the
 * liveness register answers the inverse of what was written).
 */
#include <mmio/client.h>
#include <stdio.h>

int main(void)
{
	mmio_client *c;
	mmio_region *edu;
	uint32_t id = 0, alive = 0;
	char why[256];
	int st;

	st = mmio_connect(NULL, &c); /* $MMIO_SERVER or /run/mmio/mmio.sock */
	if (st != MMIO_OK) {
		/* mmio_connect_error(): the socket, its owner and mode, if that was it. */
		fprintf(stderr, "connect: %s %s\n", mmio_strerror(st), mmio_connect_error());
		return 1;
	}
	st = mmio_open(c, "edu", MMIO_OPEN_DIRECT, &edu);
	if (st == MMIO_OK)
		st = mmio_read32(edu, 0x00, &id); /* 0x010000ed: edu 1.0 */
	if (st == MMIO_OK)
		st = mmio_write32(edu, 0x04, 0x12345678);
	if (st == MMIO_OK)
		st = mmio_read32(edu, 0x04, &alive);
	if (st == MMIO_OK)
		printf("edu id 0x%08x, alive %s (%s)\n", id, alive == ~0x12345678u ? "yes" : "no",
		       mmio_is_direct(edu) ? "direct" : "proxied");
	else /* mmio_last_error(): the status and why, e.g. the op the grant lacks */
		fprintf(stderr, "edu: %s\n",
			mmio_last_error(c, why, sizeof(why)) == st ? why : mmio_status_name(st));
	mmio_disconnect(c);
	return st == MMIO_OK && alive == ~0x12345678u ? 0 : 1;
}
