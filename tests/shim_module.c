/* SPDX-License-Identifier: MIT */
/*
 * A shared module with its own copy of kernel-shim, loaded by check_kernel_shim
 * with dlopen(). Linking it at all proves the primitives need no text
 * relocations (-z text); calling into it proves that recovery works from a
 * shared library, with the handlers of two modules chained.
 */
#include <mmio/shim.h>

int shim_module_copy_from(void *dst, const void *dev, size_t len, size_t *done);

int shim_module_copy_from(void *dst, const void *dev, size_t len, size_t *done)
{
	struct shim_window w;
	int status = shim_window_init(&w, (void *)dev, len, 0);

	if (status != MMIO_OK)
		return status;
	return shim_copy_from_device(&w, 0, dst, len, done);
}
