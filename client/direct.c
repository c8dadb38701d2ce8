/* SPDX-License-Identifier: MIT */
/*
 * The seam for direct mode. A later issue fills it in: MAP the handle, fetch
 * the descriptor over the side channel (SCM_RIGHTS), mmap it, put a
 * shim_window on it and point the handle at an ops table of shim_* calls.
 * Until then no handle is ever mapped, and no MAP is sent: a granted MAP
 * that nobody collects would only leave a token behind on the server.
 */
#include "cli.h"

int cli_direct_attach(struct cli_handle *h)
{
	(void)h;
	return MMIO_EACCES;
}
