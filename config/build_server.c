/* SPDX-License-Identifier: MIT */
/*
 * Phase 3 for the server: section (build.h): where to listen, the socket's
 * mode and group, the message size and the limits:, each with its default.
 */
#include "build.h"

#include <stdint.h>
#include <string.h>

/* sun_path holds 108 bytes including the terminating NUL (unix(7)). */
#define CFG_IPC_PATH_MAX   107
#define CFG_LISTEN_DEFAULT "ipc:///run/mmio/mmio.sock"

static void build_listen(struct cfg_builder *b, const struct cfg_node *n, const char *text)
{
	static const char prefix[] = "ipc://";
	struct cfg_quoted q;
	size_t path_len;

	if (strncmp(text, prefix, sizeof(prefix) - 1) != 0) {
		ERR_AT(b, n,
		       "listen '%s' must be an ipc:// URL: the server checks peers by their "
		       "local-socket credentials",
		       cfg_quote(&q, text));
		return;
	}
	path_len = strlen(text) - (sizeof(prefix) - 1);
	if (path_len == 0) {
		ERR_AT(b, n, "listen '%s' has no socket path after ipc://", cfg_quote(&q, text));
		return;
	}
	if (path_len > CFG_IPC_PATH_MAX) {
		ERR_AT(b, n, "listen socket path is %zu bytes; a Unix socket path holds at most %d",
		       path_len, CFG_IPC_PATH_MAX);
		return;
	}
	for (const char *c = text; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			ERR_AT(b, n, "listen '%s' contains a control character",
			       cfg_quote(&q, text));
			return;
		}
	}
	b->p->server.listen = cfg_own(b, text);
}

/* A limit in [@min, @max] under `limits:`, if written; true if it was. */
static bool limit_get(struct cfg_builder *b, const struct cfg_node *ln, const char *key,
		      const char *text, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (text == NULL || !cfg_parse_ranged(b, cfg_tree_get(ln, key), key, text, min, max, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

/*
 * The per-uid and total caps. One uid must never hold every session: a
 * per-uid session cap above max_sessions is refused, and without one it is
 * half of max_sessions.
 */
static void build_caps(struct cfg_builder *b, const struct cfg_node *ln,
		       const struct cfg_raw_limits *rl)
{
	struct cfg_server *s = &b->p->server;

	s->max_sessions_per_uid = s->max_sessions > 1 ? s->max_sessions / 2 : 1;
	if (limit_get(b, ln, "max_sessions_per_uid", rl->max_sessions_per_uid, 1, 65536,
		      &s->max_sessions_per_uid) &&
	    s->max_sessions_per_uid > s->max_sessions)
		ERR_AT(b, cfg_tree_get(ln, "max_sessions_per_uid"),
		       "max_sessions_per_uid %u is above max_sessions %u: one uid could take "
		       "every session",
		       s->max_sessions_per_uid, s->max_sessions);
	limit_get(b, ln, "ungranted_sessions", rl->ungranted_sessions, 0, CFG_MAX_UNGRANTED,
		  &s->ungranted_sessions);
	limit_get(b, ln, "max_requests_per_uid", rl->max_requests_per_uid, 1,
		  CFG_MAX_REQUESTS_PER_UID, &s->max_requests_per_uid);
	limit_get(b, ln, "max_requests_total", rl->max_requests_total, 1, CFG_MAX_REQUESTS_TOTAL,
		  &s->max_requests_total);
	limit_get(b, ln, "ungranted_requests", rl->ungranted_requests, 1, CFG_MAX_UNGRANTED,
		  &s->ungranted_requests);
	limit_get(b, ln, "max_polls_per_uid", rl->max_polls_per_uid, 0, CFG_MAX_REQUESTS_PER_UID,
		  &s->max_polls_per_uid);
	limit_get(b, ln, "max_polls_total", rl->max_polls_total, 0, CFG_MAX_REQUESTS_TOTAL,
		  &s->max_polls_total);
}

static void build_limits(struct cfg_builder *b, const struct cfg_node *ln,
			 const struct cfg_raw_limits *rl)
{
	struct cfg_server *s = &b->p->server;
	struct cfg_quoted q;
	uint64_t v;

	limit_get(b, ln, "max_sessions", rl->max_sessions, 1, 65536, &s->max_sessions);
	limit_get(b, ln, "max_handles", rl->max_handles, 1, 65536, &s->max_handles);
	if (rl->max_poll_us != NULL &&
	    cfg_parse_ranged(b, cfg_tree_get(ln, "max_poll_us"), "max_poll_us", rl->max_poll_us, 1,
			     60000000, &v))
		s->max_poll_us = v;
	limit_get(b, ln, "max_requests", rl->max_requests, 32, 64, &s->max_requests);
	limit_get(b, ln, "max_buffers", rl->max_buffers, 0, CFG_MAX_BUFFERS, &s->max_buffers);
	if (rl->max_buffer_bytes != NULL) {
		const struct cfg_node *n = cfg_tree_get(ln, "max_buffer_bytes");

		if (cfg_parse_number(b, n, "max_buffer_bytes", rl->max_buffer_bytes,
				     CFG_NUM_SIZE_SUFFIX, &v)) {
			if (v < 4096 || v > ((uint64_t)64 << 30))
				ERR_AT(b, n, "max_buffer_bytes %s is out of range (4KiB to 64GiB)",
				       cfg_quote(&q, rl->max_buffer_bytes));
			else
				s->max_buffer_bytes = v;
		}
	}
	build_caps(b, ln, rl);
}

const char *cfg_windows_name(enum cfg_windows w)
{
	switch (w) {
	case CFG_WINDOWS_REQUIRED:
		return "required";
	case CFG_WINDOWS_OFF:
		return "off";
	default:
		return "auto";
	}
}

static void build_windows(struct cfg_builder *b, const struct cfg_node *n, const char *text)
{
	static const enum cfg_windows all[] = { CFG_WINDOWS_AUTO, CFG_WINDOWS_REQUIRED,
						CFG_WINDOWS_OFF };
	struct cfg_quoted q;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(text, cfg_windows_name(all[i])) == 0) {
			b->p->server.windows = all[i];
			return;
		}
	}
	ERR_AT(b, n, "windows '%s' is not one of auto, required, off", cfg_quote(&q, text));
}

void cfg_build_server(struct cfg_builder *b, const struct cfg_raw_policy *raw)
{
	const struct cfg_raw_server *rs = raw->server;
	const struct cfg_node *sn = cfg_tree_get(b->root, "server");
	struct cfg_server *s = &b->p->server;
	struct cfg_quoted q;
	uint64_t v;

	s->socket_mode = 0660;
	s->max_message = 1u << 20;
	s->max_sessions = 64;
	s->max_handles = 256;
	s->max_poll_us = 1000000;
	s->max_requests = 32;
	s->max_buffers = 8;
	s->max_buffer_bytes = (uint64_t)1 << 30;
	s->max_sessions_per_uid = s->max_sessions / 2;
	/* A connection of an account without a grant is closed before nng reads
	 * a byte of it (POLICY.md, limits.ungranted_sessions). */
	s->ungranted_sessions = 0;
	s->max_requests_per_uid = 64;
	s->max_requests_total = CFG_MAX_REQUESTS_TOTAL;
	s->ungranted_requests = 2;
	s->max_polls_per_uid = 32;
	s->max_polls_total = 64;

	if (rs != NULL && rs->listen != NULL)
		build_listen(b, cfg_tree_get(sn, "listen"), rs->listen);
	else
		s->listen = cfg_own(b, CFG_LISTEN_DEFAULT);
	if (rs == NULL)
		return;

	if (rs->socket_mode != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "socket_mode");
		enum cfg_num_error e = cfg_mode_parse(rs->socket_mode, &s->socket_mode);

		if (e != CFG_NUM_OK)
			ERR_AT(b, n, "socket_mode '%s': %s", cfg_quote(&q, rs->socket_mode),
			       cfg_number_error_text(e));
	}
	if (rs->socket_group != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "socket_group");

		if (cfg_resolve_group(b, n, rs->socket_group, &s->socket_gid)) {
			s->has_socket_group = true;
			s->socket_group = cfg_own(b, rs->socket_group);
		}
	}
	if (rs->max_message != NULL) {
		const struct cfg_node *n = cfg_tree_get(sn, "max_message");

		if (cfg_parse_number(b, n, "max_message", rs->max_message, CFG_NUM_SIZE_SUFFIX,
				     &v)) {
			if (v < 4096 || v > (256u << 20))
				ERR_AT(b, n, "max_message %s is out of range (4KiB to 256MiB)",
				       cfg_quote(&q, rs->max_message));
			else
				s->max_message = v;
		}
	}
	if (rs->windows != NULL)
		build_windows(b, cfg_tree_get(sn, "windows"), rs->windows);
	if (rs->limits != NULL)
		build_limits(b, cfg_tree_get(sn, "limits"), rs->limits);
}
