/* SPDX-License-Identifier: MIT */
#include <mmio/client.h>
#include <stdio.h>

int main(void)
{
	mmio_client *c;
	mmio_region *regs;
	uint32_t id;
	int st;

	st = mmio_connect(NULL, &c); /* $MMIO_SERVER or /run/mmio/mmio.sock */
	if (st != MMIO_OK) {
		fprintf(stderr, "connect: %s\n", mmio_strerror(st));
		return 1;
	}
	st = mmio_open(c, "scratch", MMIO_OPEN_DIRECT, &regs); /* direct if the grant allows */
	if (st == MMIO_OK)
		st = mmio_read32(regs, 0x00, &id); /* exactly one 32-bit load */
	if (st == MMIO_OK)
		printf("device id 0x%08x (%s)\n", id, mmio_is_direct(regs) ? "direct" : "proxied");
	else
		fprintf(stderr, "scratch: %s\n", mmio_status_name(st));
	mmio_disconnect(c); /* closes regs too */
	return st == MMIO_OK ? 0 : 1;
}
