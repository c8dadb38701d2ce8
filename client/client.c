/* SPDX-License-Identifier: MIT */
/* mmio_connect/mmio_disconnect, LIST, STATS, and the environment knobs. */
#include "channel.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(((struct mmio_region_info *)0)->name) == PROTO_NAME_MAX + 1,
	       "mmio_region_info.name must hold any region name");
_Static_assert(sizeof(((struct mmio_region_info *)0)->where) == PROTO_WHERE_MAX + 1,
	       "mmio_region_info.where must hold any where text");

const char *cli_url_resolve(const char *url)
{
	const char *env;

	if (url)
		return url;
	env = getenv("MMIO_SERVER");
	if (env && env[0] != '\0')
		return env;
	return MMIO_DEFAULT_URL;
}

int cli_env_ms(const char *name, int def)
{
	const char *s = getenv(name);
	long v = 0;

	if (!s || s[0] == '\0')
		return def;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return def;
		v = v * 10 + (*s - '0');
		if (v > 86400000L)
			return def;
	}
	return v >= 1 ? (int)v : def;
}

size_t cli_env_size(const char *name, size_t def)
{
	const char *s = getenv(name);
	size_t v = 0;

	if (!s || !*s)
		return def;
	for (; *s; s++) {
		size_t d = (size_t)(*s - '0');

		if (*s < '0' || *s > '9')
			return def;
		/* Past SIZE_MAX means "never": saturate. */
		v = v > (SIZE_MAX - d) / 10 ? SIZE_MAX : v * 10 + d;
	}
	return v;
}

/* Why this thread's last mmio_connect() failed, when it knows more than the status. */
static _Thread_local char connect_why[256];

const char *mmio_connect_error(void)
{
	return connect_why;
}

/* A refusal of mmio_connect()'s arguments, with its sentence. */
static int connect_refused(int status, const char *why)
{
	snprintf(connect_why, sizeof(connect_why), "%s", why);
	return status;
}

int mmio_connect(const char *url, mmio_client **out)
{
	mmio_client *c;
	int status;

	connect_why[0] = '\0';
	if (!out)
		return connect_refused(MMIO_EINVAL, "out is NULL");
	*out = NULL;
	url = cli_url_resolve(url);
	if (url[0] == '\0')
		return connect_refused(MMIO_EINVAL, "the URL is empty");

	c = calloc(1, sizeof(*c));
	if (!c)
		return MMIO_ENOMEM;
	if (pthread_mutex_init(&c->mtx, NULL) != 0) {
		status = MMIO_ENOMEM;
		goto fail_mutex;
	}
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		status = MMIO_ENOMEM;
		goto fail_cond;
	}
	if (pthread_mutex_init(&c->plane_mtx, NULL) != 0) {
		status = MMIO_ENOMEM;
		goto fail_plane;
	}
	if (pthread_mutex_init(&c->mbox_mtx, NULL) != 0) {
		status = MMIO_ENOMEM;
		goto fail_mbox;
	}
	c->shared_min = cli_env_size("MMIO_SHARED_MIN", CLI_SHARED_MIN_DEF);
	c->regions.prev = c->regions.next = &c->regions;
	/* Direct grants come over the server's descriptor channel, next to its
	 * socket; other transports have none, and their regions stay proxied. */
	cli_channel_path(url, c->fd_path, sizeof(c->fd_path));
	c->reply_ms = cli_env_ms("MMIO_REPLY_TIMEOUT_MS", CLI_REPLY_MS_DEF);

	/* Through our own door if the server opened one: no other account can
	 * crowd or stall it. */
	char door[sizeof(c->fd_path) + 16];
	const char *target = cli_door_url(url, door, sizeof(door)) ? door : url;
	/* A socket we may not open is an answer now, not after the budget. */
	if (!cli_socket_permitted(target, connect_why, sizeof(connect_why))) {
		status = MMIO_EACCES;
		goto fail_connect;
	}
	status = cli_transport_connect(c, target, target == door,
				       cli_env_ms("MMIO_CONNECT_TIMEOUT_MS", CLI_CONNECT_MS_DEF),
				       CLI_ATTEMPT_MS, connect_why, sizeof(connect_why));
	if (status == MMIO_EINVAL)
		snprintf(connect_why, sizeof(connect_why),
			 "%s: not an address nng accepts (ipc:///path, tcp://host:port)", url);
	if (status != MMIO_OK)
		goto fail_connect;
	cli_mailbox_start(c);
	if (cli_lost(c)) {
		/* The session ended while the mailbox was being set up. */
		status = MMIO_ECONN;
		cli_transport_close(c);
		cli_mailbox_release(c);
		cli_shared_release(c);
		goto fail_connect;
	}
	*out = c;
	return MMIO_OK;

fail_connect:
	pthread_mutex_destroy(&c->mbox_mtx);
fail_mbox:
	pthread_mutex_destroy(&c->plane_mtx);
fail_plane:
	pthread_cond_destroy(&c->cv);
fail_cond:
	pthread_mutex_destroy(&c->mtx);
fail_mutex:
	free(c);
	return status;
}

/* The thread's last status from a call on a client, with its reason. */
static _Thread_local struct {
	const mmio_client *c;
	int status;
	struct mmio_reason why;
} last;

void cli_last_record(const mmio_client *c, int status, const struct mmio_reason *why)
{
	last.c = c;
	last.status = status;
	if (why)
		last.why = *why;
	else
		memset(&last.why, 0, sizeof(last.why));
}

int cli_refuse(const mmio_client *c, unsigned op, unsigned code, uint64_t a, uint64_t b)
{
	struct mmio_reason why = { .code = code, .op = op, .a = a, .b = b };
	int status = mmio_reason_status(code);

	cli_last_record(c, status, &why);
	return status;
}

int cli_refuse_width(const mmio_client *c, unsigned op, unsigned width)
{
	if (!mmio_width_valid(width))
		return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_WIDTH, width);
	return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_VALUE, width);
}

int cli_refuse_null(const mmio_client *c, unsigned op)
{
	return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_NULL, 0);
}

int cli_refuse_range(const mmio_region *r, unsigned op, size_t off, size_t len)
{
	uint64_t end;

	if (__builtin_add_overflow((uint64_t)off, (uint64_t)len, &end))
		end = UINT64_MAX;
	if (end <= r->len) /* what a fill leaves unfilled at the view's end */
		end = (uint64_t)r->len + 1;
	return cli_refuse(r->h->client, op, MMIO_REASON_RANGE, end, r->len);
}

int mmio_last_error(const mmio_client *c, char *buf, size_t len)
{
	/* A refusal of a call given no client is any client's. */
	int status =
		(c && last.c == c) || (!last.c && last.status != MMIO_OK) ? last.status : MMIO_OK;

	if (buf && len > 0) {
		if (status == MMIO_OK)
			buf[0] = '\0';
		else
			proto_reason_format(status, &last.why, buf, len);
	}
	return status;
}

void mmio_disconnect(mmio_client *c)
{
	struct cli_list *n;

	if (!c)
		return;
	/* Regions and their mappings go first, before the server releases the
	 * handles; they leave the list first, which the transport's pipe
	 * callbacks walk until the socket is closed. Then closing the socket
	 * drops the pipe; the server releases every handle of this
	 * connection, so no CLOSE is sent per region. */
	pthread_mutex_lock(&c->mtx);
	n = NULL;
	if (c->regions.next != &c->regions) {
		n = c->regions.next;
		c->regions.prev->next = NULL; /* the taken list ends at its last */
	}
	c->regions.next = c->regions.prev = &c->regions;
	pthread_mutex_unlock(&c->mtx);
	while (n) {
		mmio_region *r = cli_region_of(n);
		struct cli_handle *h = r->h;

		n = n->next;
		cli_region_free(r);
		if (--h->views == 0) {
			h->ops->release(h);
			free(h);
		}
	}
	cli_transport_close(c);
	cli_mailbox_release(c);
	cli_shared_release(c);
	pthread_mutex_destroy(&c->mbox_mtx);
	pthread_mutex_destroy(&c->plane_mtx);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mtx);
	if (last.c == c)
		cli_last_record(NULL, MMIO_OK, NULL);
	free(c);
}

int mmio_has_mailbox(const mmio_client *c)
{
	return c && c->mbox ? 1 : 0;
}

int mmio_list(mmio_client *c, struct mmio_region_info **out, size_t *count)
{
	struct proto_request req = { .opcode = PROTO_OP_LIST };
	struct proto_reply rep;
	struct proto_list_iter it;
	struct proto_list_entry e;
	struct mmio_region_info *list = NULL;
	nng_msg *m;
	size_t n = 0;
	int status;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!c || !out || !count)
		return cli_refuse_null(c, PROTO_OP_LIST);
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK && rep.list.count > 0) {
		list = calloc(rep.list.count, sizeof(*list));
		if (!list)
			status = MMIO_ENOMEM;
	}
	if (status == MMIO_OK) {
		proto_list_iter_init(&it, &rep.list);
		while (n < rep.list.count && proto_list_iter_next(&it, &e)) {
			struct mmio_region_info *i = &list[n++];

			memcpy(i->name, e.name, sizeof(i->name));
			i->size = e.size;
			i->access = e.access;
			i->ops = e.ops;
			i->widths = e.widths;
			i->cache = e.cache;
			i->flags = e.flags;
			i->width = 0;
			i->bulk_width = mmio_widths_widest(e.widths);
			memcpy(i->where, e.where, sizeof(i->where));
			i->phys = e.phys;
		}
		if (n != rep.list.count)
			status = MMIO_EPROTO;
	}
	nng_msg_free(m);
	if (status != MMIO_OK) {
		free(list);
		return status;
	}
	*out = list;
	*count = n;
	return MMIO_OK;
}

void mmio_list_free(struct mmio_region_info *list)
{
	free(list);
}

int mmio_stats(mmio_client *c, struct mmio_stat *out, size_t cap, size_t *count)
{
	struct proto_request req = { .opcode = PROTO_OP_STATS };
	struct proto_reply rep;
	nng_msg *m;
	int status;

	if (count)
		*count = 0;
	if (!c || !count || (!out && cap != 0))
		return cli_refuse_null(c, PROTO_OP_STATS);
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK) {
		for (size_t i = 0; i < cap && i < rep.stats.count; i++) {
			out[i].name = proto_stat_name((unsigned)i);
			out[i].value = proto_stats_counter(&rep.stats, (unsigned)i);
		}
		*count = rep.stats.count;
	}
	nng_msg_free(m);
	return status;
}
