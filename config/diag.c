/* SPDX-License-Identifier: MIT */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void deliver(struct cfg_sink *s, unsigned line, unsigned column, const char *message)
{
	struct cfg_diag d = { s->file, line, column, message };

	if (s->report != NULL)
		s->report(s->ctx, &d);
}

void cfg_sink_error(struct cfg_sink *s, unsigned line, unsigned column, const char *fmt, ...)
{
	struct cfg_sink_entry *e;
	char message[512];
	va_list ap;

	s->count++;
	if (s->full)
		return;
	if (s->count > CFG_MAX_ERRORS) {
		s->full = true;
		s->full_line = line;
		s->full_column = column;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	e = &s->held[s->held_count];
	e->message = strdup(message);
	if (e->message == NULL) {
		/* Out of order, but not lost. */
		deliver(s, line, column, message);
		return;
	}
	e->line = line;
	e->column = column;
	e->seq = s->count;
	s->held_count++;
}

static int entry_order(const void *a, const void *b)
{
	const struct cfg_sink_entry *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void cfg_sink_flush(struct cfg_sink *s)
{
	char message[128];

	qsort(s->held, s->held_count, sizeof(s->held[0]), entry_order);
	for (unsigned i = 0; i < s->held_count; i++) {
		deliver(s, s->held[i].line, s->held[i].column, s->held[i].message);
		free(s->held[i].message);
	}
	s->held_count = 0;
	if (s->full && !s->full_reported) {
		/* Last, whatever its position: it is about everything before it. */
		snprintf(message, sizeof(message),
			 "too many errors (more than %d): %u more not shown; stopping here",
			 CFG_MAX_ERRORS, s->count - CFG_MAX_ERRORS);
		deliver(s, s->full_line, s->full_column, message);
		s->full_reported = true;
	}
}

const char *cfg_quote(struct cfg_quoted *q, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	size_t shown = 0;

	for (; *s != '\0'; s++, shown++) {
		unsigned char c = (unsigned char)*s;

		if (shown == 48) {
			q->text[o++] = '.';
			q->text[o++] = '.';
			q->text[o++] = '.';
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			q->text[o++] = (char)c;
		} else {
			q->text[o++] = '\\';
			q->text[o++] = 'x';
			q->text[o++] = hex[c >> 4];
			q->text[o++] = hex[c & 15];
		}
	}
	q->text[o] = '\0';
	return q->text;
}

const char *cfg_quote_name(struct cfg_quoted *q, const char *s, bool digits_first)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == CFG_NAME_QUOTE_MAX)
			return NULL;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' ||
		      c == '.' || (c >= '0' && c <= '9' && (n > 0 || digits_first))))
			return NULL;
	}
	return n == 0 ? NULL : cfg_quote(q, s);
}

void cfg_report_to_stream(void *ctx, const struct cfg_diag *diag)
{
	FILE *f = ctx;

	if (diag->line == 0)
		fprintf(f, "%s: %s\n", diag->file, diag->message);
	else
		fprintf(f, "%s:%u:%u: %s\n", diag->file, diag->line, diag->column, diag->message);
}
