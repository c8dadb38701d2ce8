/* SPDX-License-Identifier: MIT */
/* Private to kernel-shim: the backends compiled into this build. */
#ifndef MMIO_SHIM_BACKEND_H
#define MMIO_SHIM_BACKEND_H

#include <mmio/shim.h>

extern const struct shim_backend shim_backend_sim;
extern const struct shim_backend shim_backend_pci;
extern const struct shim_backend shim_backend_devmem;

/* The kernel lockdown mode in force ("integrity", "confidentiality") from
 * @root/kernel/security/lockdown (@root NULL: /sys), or "" if none. */
void shim_lockdown_describe(const char *root, char *buf, size_t len);

/* snprintf into an error buffer that may be NULL/0; always terminated. */
void shim_errorf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
