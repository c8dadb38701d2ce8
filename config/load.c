/* SPDX-License-Identifier: MIT */
/* Loading: one copy of the bytes, three phases (internal.h). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libcyaml's messages, kept for the one case where it refuses what the
 * shape check accepted (a bug in one of the two). */
struct cyaml_log {
	char text[512];
	size_t len;
};

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
	__attribute__((format(printf, 3, 0)));

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cyaml_log *log = ctx;
	int n;

	if (level < CYAML_LOG_ERROR || log->len >= sizeof(log->text) - 1)
		return;
	n = vsnprintf(log->text + log->len, sizeof(log->text) - log->len, fmt, args);
	if (n > 0)
		log->len += (size_t)n < sizeof(log->text) - log->len
				    ? (size_t)n
				    : sizeof(log->text) - 1 - log->len;
	/* libcyaml ends lines with \n; keep the message on one line. */
	for (size_t i = 0; i < log->len; i++)
		if (log->text[i] == '\n')
			log->text[i] = ' ';
}

/*
 * Another version may have other keys: checking its shape against this
 * version's schema would only bury the one problem that matters, so an
 * unknown version is the only problem reported.
 */
static bool version_supported(const struct cfg_node *root, struct cfg_sink *sink)
{
	const struct cfg_node *v = cfg_tree_get(root, "version");
	struct cfg_quoted q;
	uint64_t n;

	if (v == NULL || v->kind != CFG_NODE_SCALAR || v->alias)
		return true; /* the shape check reports it */
	if (cfg_number_parse(v->text, 0, &n) == CFG_NUM_OK && n == CFG_VERSION)
		return true;
	/* Quoted only if it is a number: the file may be no policy at all. */
	if (v->len == 0 || v->len > 16 || strspn(v->text, "0123456789.") != v->len)
		snprintf(q.text, sizeof(q.text), "...");
	else
		cfg_quote(&q, v->text);
	cfg_sink_error(sink, v->line, v->column,
		       "unsupported policy version '%s' (this build reads version %d)", q.text,
		       CFG_VERSION);
	return false;
}

static int load_bytes(const unsigned char *data, size_t len, struct cfg_sink *sink,
		      cfg_policy **out)
{
	struct cyaml_log log = { .len = 0 };
	const cyaml_config_t config = {
		.log_fn = cyaml_log_capture,
		.log_ctx = &log,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		/* The shape check already refused aliases; this is the second lock. */
		.flags = CYAML_CFG_NO_ALIAS,
	};
	struct cfg_raw_policy *raw = NULL;
	struct cfg_node *root = NULL;
	cyaml_err_t err;
	int rc;

	if (len > CFG_MAX_FILE) {
		cfg_sink_error(sink, 0, 0, "larger than %u bytes: not a policy", CFG_MAX_FILE);
		cfg_sink_flush(sink);
		return MMIO_EINVAL;
	}
	rc = cfg_tree_parse(data, len, sink, &root);
	if (rc == MMIO_ENOMEM) {
		cfg_sink_flush(sink);
		return rc;
	}
	if (root != NULL && (!cfg_schema_is_policy(root, sink) || !version_supported(root, sink) ||
			     !cfg_schema_check(root, sink)))
		rc = MMIO_EINVAL;
	cfg_sink_flush(sink);
	if (rc != MMIO_OK)
		goto out_tree;

	err = cyaml_load_data(data, len, &config, &cfg_schema_top, (cyaml_data_t **)&raw, NULL);
	if (err == CYAML_ERR_OOM) {
		rc = MMIO_ENOMEM;
		goto out_tree;
	}
	if (err != CYAML_OK) {
		cfg_sink_error(sink, 1, 1,
			       "internal error: libcyaml refused what the checks "
			       "accepted: %s: %s",
			       cyaml_strerror(err), log.text);
		rc = MMIO_EINTERNAL;
		goto out_tree;
	}
	rc = cfg_policy_build(raw, root, sink, out);
	cyaml_free(&config, &cfg_schema_top, raw, 0);
out_tree:
	cfg_sink_flush(sink);
	cfg_tree_free(root);
	return rc;
}

int cfg_policy_load_buffer(const void *data, size_t len, const char *name, cfg_report_fn report,
			   void *ctx, cfg_policy **out)
{
	struct cfg_sink sink = { .file = name != NULL ? name : "<policy>",
				 .report = report,
				 .ctx = ctx };
	unsigned char *copy;
	int rc;

	*out = NULL;
	/* libyaml reads only @len bytes, but a private copy keeps the input
	 * stable between the passes whoever owns @data. */
	copy = malloc(len + 1);
	if (copy == NULL)
		return MMIO_ENOMEM;
	if (len > 0)
		memcpy(copy, data, len);
	copy[len] = '\0';
	rc = load_bytes(copy, len, &sink, out);
	free(copy);
	return rc;
}

/* What a file that is not a regular file is, for the message refusing it. */
static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a plain file";
}

/*
 * Open @path for reading without ever blocking: a FIFO put at the policy
 * path would block open() until a writer comes, and the server loads its
 * policy on the thread that takes SIGTERM. Only a regular file of at most
 * CFG_MAX_FILE bytes is accepted. Returns the descriptor or -1 (reported).
 */
static int policy_open(struct cfg_sink *sink, int *rc)
{
	struct stat st;
	int fd = open(sink->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		int err = errno;

		cfg_sink_error(sink, 0, 0, "cannot open: %s", strerror(err));
		*rc = err == ENOMEM ? MMIO_ENOMEM : MMIO_ENOENT;
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		cfg_sink_error(sink, 0, 0, "cannot stat: %s", strerror(errno));
		*rc = MMIO_ENOENT;
	} else if (!S_ISREG(st.st_mode)) {
		cfg_sink_error(sink, 0, 0, "is %s, not a regular file", file_kind(st.st_mode));
		*rc = MMIO_ENOENT;
	} else if (st.st_size > (off_t)CFG_MAX_FILE) {
		cfg_sink_error(sink, 0, 0, "is %lld bytes, larger than %u bytes: not a policy",
			       (long long)st.st_size, CFG_MAX_FILE);
		*rc = MMIO_EINVAL;
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

int cfg_policy_load_file(const char *path, cfg_report_fn report, void *ctx, cfg_policy **out)
{
	struct cfg_sink sink = { .file = path, .report = report, .ctx = ctx };
	unsigned char *data = NULL;
	size_t len = 0, cap = 0;
	int fd, rc = MMIO_OK;

	*out = NULL;
	fd = policy_open(&sink, &rc);
	if (fd < 0) {
		cfg_sink_flush(&sink);
		return rc;
	}
	/* Read to EOF rather than trusting st_size: the file may change while
	 * we read it. One extra byte detects "too large". */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			unsigned char *ndata;

			if (ncap > (size_t)CFG_MAX_FILE + 1)
				ncap = (size_t)CFG_MAX_FILE + 1;
			if (ncap == cap)
				break;
			ndata = realloc(data, ncap);
			if (ndata == NULL) {
				rc = MMIO_ENOMEM;
				goto out;
			}
			data = ndata;
			cap = ncap;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cfg_sink_error(&sink, 0, 0, "cannot read: %s", strerror(errno));
			cfg_sink_flush(&sink);
			rc = MMIO_ENOENT;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = load_bytes(data, len, &sink, out);
out:
	free(data);
	close(fd);
	return rc;
}
