/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum srv_log_level log_level = SRV_LOG_INFO;

void srv_log_set_level(enum srv_log_level level)
{
	log_level = level;
}

int srv_log_level_parse(const char *name, enum srv_log_level *out)
{
	static const struct {
		const char *name;
		enum srv_log_level level;
	} levels[] = {
		{ "error", SRV_LOG_ERROR },
		{ "warn", SRV_LOG_WARN },
		{ "info", SRV_LOG_INFO },
		{ "debug", SRV_LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(name, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -1;
}

void srv_log(enum srv_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>", (int)level);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	/* Client-supplied text (region names) could hold a newline: keep one line. */
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n++] = '\n';
	/* One write(2) per line so lines from several threads never interleave. */
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
}
