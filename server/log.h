/* SPDX-License-Identifier: MIT */
/*
 * Logging for mmio-server: one line per event on stderr, prefixed with a
 * syslog priority "<N>" that journald (and sd-daemon(3) readers) understand.
 */
#ifndef MMIO_SERVER_LOG_H
#define MMIO_SERVER_LOG_H

#include <stdarg.h>

enum srv_log_level {
	SRV_LOG_ERROR = 3,
	SRV_LOG_WARN = 4,
	SRV_LOG_NOTICE = 5, /* audit lines */
	SRV_LOG_INFO = 6,
	SRV_LOG_DEBUG = 7,
};

/* Messages above @level are dropped. Default SRV_LOG_INFO. Not thread-safe:
 * call before starting threads. */
void srv_log_set_level(enum srv_log_level level);

/* "error", "warn", "info", "debug" -> level; returns 0, or -1 if unknown. */
int srv_log_level_parse(const char *name, enum srv_log_level *out);

/* Write one line, atomically with respect to other threads (one write(2)). */
void srv_log(enum srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define srv_error(...) srv_log(SRV_LOG_ERROR, __VA_ARGS__)
#define srv_warn(...)  srv_log(SRV_LOG_WARN, __VA_ARGS__)
#define srv_info(...)  srv_log(SRV_LOG_INFO, __VA_ARGS__)
#define srv_debug(...) srv_log(SRV_LOG_DEBUG, __VA_ARGS__)

#endif
