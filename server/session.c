/* SPDX-License-Identifier: MIT */
/*
 * Sessions (one per nng pipe, i.e. per connected client), their handles, and
 * exclusivity. A session's identity comes from the kernel (SO_PEERCRED
 * through nng), never from the client.
 */
#include "log.h"
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct srv_session **sessions;
static size_t nsessions, sessions_cap;
static atomic_size_t open_handles;
static atomic_size_t open_mappings; /* handles with mapped_pid set */

/*
 * Supplementary groups are not in SO_PEERCRED; read them from
 * /proc/PID/status, and only if that process still has the uid the kernel
 * reported for the socket (the pid could otherwise have been reused). A
 * process already gone has none; -1 if they cannot be read (no descriptor
 * left), so that a group's driver is refused, to retry, rather than served
 * as if ungranted for its session's life.
 */
static ssize_t peer_groups(pid_t pid, uid_t uid, gid_t *groups, size_t max)
{
	char path[64], line[4096];
	size_t n = 0;
	bool uid_ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long real, effective;
		if (sscanf(line, "Uid: %lu %lu", &real, &effective) == 2)
			uid_ok = effective == uid;
		if (strncmp(line, "Groups:", 7) == 0) {
			char *p = line + 7, *end;
			while (n < max) {
				unsigned long g = strtoul(p, &end, 10);
				if (end == p)
					break;
				groups[n++] = (gid_t)g;
				p = end;
			}
		}
	}
	fclose(f);
	return uid_ok ? (ssize_t)n : 0;
}

struct srv_session *srv_session_create(nng_pipe p)
{
	uint64_t uid, gid, pid;

	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0 ||
	    nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_GID, &gid) != 0 ||
	    nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) != 0) {
		srv_warn_client((uid_t)-1, SRV_WARN_SESSION,
				"refusing a connection without peer credentials");
		return NULL;
	}
	return srv_session_create_for((uint32_t)nng_pipe_id(p), (uid_t)uid, (gid_t)gid, (pid_t)pid);
}

/* The new session's class: the server's own, granted or not (quota.c). */
static void session_classify(struct srv_session *s)
{
	struct srv_generation *g = srv_current();

	s->self = s->pid == getpid();
	srv_quota_classify(s, g);
	srv_generation_unref(g);
}

static void session_free(struct srv_session *s)
{
	srv_quota_session_free(s);
	pthread_mutex_destroy(&s->lock);
	free(s->handles);
	free(s);
}

struct srv_session *srv_session_create_for(uint32_t pipe_id, uid_t uid, gid_t gid, pid_t pid)
{
	struct srv_session *s = calloc(1, sizeof(*s));
	ssize_t groups;

	if (!s)
		return NULL;
	groups = peer_groups(pid, uid, s->groups, SRV_MAX_GROUPS);
	if (groups < 0) {
		srv_warn_client(uid, SRV_WARN_SESSION,
				"refusing a connection of uid %u: cannot read its groups: %s",
				(unsigned)uid, strerror(errno));
		free(s);
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->pipe_id = pipe_id;
	s->pid = pid;
	s->peer.uid = uid;
	s->peer.gid = gid;
	s->peer.group_count = (size_t)groups;
	s->peer.groups = s->groups;
	s->next_id = 1;
	pthread_mutex_init(&s->lock, NULL);
	session_classify(s);
	/* Refused: counted and warned there, at a limited rate per uid. */
	if (srv_quota_session_take(s) != MMIO_OK) {
		session_free(s);
		return NULL;
	}

	pthread_mutex_lock(&sessions_lock);
	if (nsessions == sessions_cap) {
		size_t cap = sessions_cap ? 2 * sessions_cap : 16;
		struct srv_session **grown = realloc(sessions, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&sessions_lock);
			srv_quota_session_leave(s);
			session_free(s);
			return NULL;
		}
		sessions = grown;
		sessions_cap = cap;
	}
	sessions[nsessions++] = s;
	pthread_mutex_unlock(&sessions_lock);
	srv_debug("client connected: uid %u gid %u pid %d (%zu supplementary groups%s)",
		  (unsigned)s->peer.uid, (unsigned)s->peer.gid, (int)s->pid, s->peer.group_count,
		  s->granted ? "" : ", no grant");
	return s;
}

struct srv_session *srv_session_get(uint32_t pipe_id)
{
	struct srv_session *found = NULL;

	pthread_mutex_lock(&sessions_lock);
	for (size_t i = 0; i < nsessions; i++) {
		if (sessions[i]->pipe_id == pipe_id) {
			found = sessions[i];
			atomic_fetch_add(&found->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	return found;
}

void srv_session_put(struct srv_session *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		srv_buffers_release(s);
		session_free(s);
	}
}

size_t srv_session_count(void)
{
	pid_t self = getpid();
	size_t n = 0;

	/* Clients only: the listener's watchdog probes are the server itself. */
	pthread_mutex_lock(&sessions_lock);
	for (size_t i = 0; i < nsessions; i++)
		n += sessions[i]->pid != self;
	pthread_mutex_unlock(&sessions_lock);
	return n;
}

size_t srv_handle_count(void)
{
	return atomic_load(&open_handles);
}

size_t srv_mapping_count(void)
{
	return atomic_load(&open_mappings);
}

void srv_handle_set_mapped(struct srv_handle *h, pid_t pid)
{
	if (!h->mapped_pid && pid)
		atomic_fetch_add(&open_mappings, 1);
	else if (h->mapped_pid && !pid)
		atomic_fetch_sub(&open_mappings, 1);
	h->mapped_pid = pid;
}

/* Take @h off its device's open list: its range is free for others. srv.handles_lock held. */
static void handle_unlist(struct srv_handle *h)
{
	for (struct srv_handle **pp = &h->dev->open; *pp; pp = &(*pp)->next_open) {
		if (*pp == h) {
			*pp = h->next_open;
			break;
		}
	}
	h->next_open = NULL;
}

void srv_handle_ref(struct srv_handle *h)
{
	atomic_fetch_add(&h->refs, 1);
}

static void handle_free(struct srv_handle *h)
{
	free(h->regs);
	free(h);
}

/*
 * The last reference: only now is the range free for another exclusive
 * open, since a copy that held @h may have been moving its last chunk.
 */
void srv_handle_put(struct srv_handle *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	pthread_mutex_lock(&srv.handles_lock);
	handle_unlist(h);
	pthread_mutex_unlock(&srv.handles_lock);
	srv_device_unref(h->dev);
	handle_free(h);
}

/* Close @h; s->lock held, @h already out of s->handles. A copy still
 * running on it stops at its next chunk (srv_handle_resume()). */
static void handle_destroy(struct srv_handle *h)
{
	atomic_store(&h->closed, true);
	/* Before its range is free for another (exclusive) handle. */
	srv_window_revoke(h);
	srv_handle_set_mapped(h, 0);
	atomic_fetch_sub(&open_handles, 1);
	srv_handle_put(h);
}

/* True if a copy is using one of the buffers of @s (s->lock held). */
static bool buffers_in_use(const struct srv_session *s)
{
	for (unsigned i = 0; i < s->nbuffers; i++)
		if (atomic_load(&s->buffers[i]->users) > 0)
			return true;
	return false;
}

bool srv_session_mark_added(uint32_t pipe_id)
{
	bool found = false;

	pthread_mutex_lock(&sessions_lock);
	for (size_t i = 0; i < nsessions; i++) {
		if (sessions[i]->pipe_id == pipe_id) {
			sessions[i]->added = true;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	return found;
}

bool srv_session_remove(uint32_t pipe_id)
{
	struct srv_session *s = NULL;
	bool added;

	pthread_mutex_lock(&sessions_lock);
	for (size_t i = 0; i < nsessions; i++) {
		if (sessions[i]->pipe_id == pipe_id) {
			s = sessions[i];
			sessions[i] = sessions[--nsessions];
			break;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	if (!s)
		return false;
	srv_quota_session_leave(s);
	added = s->added;
	pthread_mutex_lock(&s->lock);
	s->closed = true;
	struct srv_mailbox *mb = s->mailbox;
	pthread_mutex_unlock(&s->lock);
	/*
	 * Its request in progress sees the session closed. The mailbox stays
	 * the session's while its thread ends, so that its buffer cannot be
	 * detached under it (BUF_DETACH refuses it; nothing else frees buffers
	 * before srv_buffers_release() below).
	 */
	srv_mailbox_stop(mb);
	pthread_mutex_lock(&s->lock);
	s->mailbox = NULL;
	srv_grants_forget(s->pipe_id);
	srv_irq_forget(s->pipe_id);
	for (size_t i = 0; i < s->nhandles; i++)
		handle_destroy(s->handles[i]);
	s->nhandles = 0;
	/* A copy on a buffer runs without s->lock; then the last reference to
	 * the session releases the buffers (srv_session_put()). */
	if (!buffers_in_use(s))
		srv_buffers_release(s);
	pthread_mutex_unlock(&s->lock);
	srv_mailbox_free(mb);
	srv_debug("client gone: uid %u pid %d", (unsigned)s->peer.uid, (int)s->pid);
	srv_session_put(s);
	return added;
}

struct srv_handle *srv_handle_find(struct srv_session *s, uint32_t id)
{
	for (size_t i = 0; i < s->nhandles; i++) {
		if (s->handles[i]->id == id)
			return s->handles[i];
	}
	return NULL;
}

uint64_t srv_grant_end(const struct cfg_grant *g, const struct srv_device *d)
{
	if (g->size == 0 && g->size_from_region)
		return d->dev.size;
	return g->offset + g->size;
}

/* Resolve OPEN's conventions to an explicit region-relative range. */
static int open_range(const struct srv_session *s, const struct srv_generation *gen, size_t region,
		      const struct proto_open_req *req, uint64_t *off, uint64_t *len)
{
	const struct srv_device *d = gen->devices[region];
	const struct cfg_grant *g = cfg_policy_next_grant(gen->policy, &s->peer, region, NULL);

	if (!g)
		return MMIO_ENOENT;
	if (req->length != PROTO_LEN_TO_END) {
		*off = req->offset;
		*len = req->length;
		return MMIO_OK;
	}
	if (req->offset == 0) {
		/* mmio_open(): the first grant, whole. */
		*off = g->offset;
		*len = srv_grant_end(g, d) - g->offset;
		return MMIO_OK;
	}
	for (; g; g = cfg_policy_next_grant(gen->policy, &s->peer, region, g)) {
		if (req->offset >= g->offset && req->offset < srv_grant_end(g, d)) {
			*off = req->offset;
			*len = srv_grant_end(g, d) - req->offset;
			return MMIO_OK;
		}
	}
	*off = req->offset;
	*len = 1; /* no grant holds even its first byte */
	return MMIO_EACCES;
}

/*
 * Why no grant of @s on @region gives [off, off + len) for @need_ops: the
 * ops a grant holding the range lacks, or else the range of a grant (the
 * one holding @off, or the first) — something the driver can ask for.
 */
static int open_refusal(const struct srv_session *s, const struct srv_generation *gen,
			size_t region, uint64_t off, uint64_t len, unsigned need_ops,
			struct mmio_reason *why)
{
	const struct srv_device *d = gen->devices[region];
	const struct cfg_grant *first = cfg_policy_next_grant(gen->policy, &s->peer, region, NULL);
	const struct cfg_grant *near = NULL;

	for (const struct cfg_grant *g = first; g;
	     g = cfg_policy_next_grant(gen->policy, &s->peer, region, g)) {
		uint64_t end = srv_grant_end(g, d);
		unsigned missing = need_ops & ~g->ops;

		if (off < g->offset || off >= end)
			continue;
		if (missing && len != 0 && len <= end - off)
			return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_OPS,
					       missing & -missing, g->ops);
		near = near ? near : g;
	}
	near = near ? near : first;
	return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_GRANT_RANGE, near->offset,
			       srv_grant_end(near, d));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* A new handle on [off, off + len) of @region under @grant; not yet listed. */
static int handle_new(const struct srv_generation *gen, size_t region,
		      const struct cfg_grant *grant, uint64_t off, uint64_t len,
		      struct srv_handle **out, struct mmio_reason *why)
{
	const struct cfg_region *r = cfg_policy_region(gen->policy, region);
	struct srv_device *dev = gen->devices[region];
	uint8_t *base = (uint8_t *)dev->dev.base + off;
	struct srv_handle *h;

	/* A grant past the device as it is (a BAR smaller than the policy said). */
	if (off + len > dev->dev.size)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_GRANT_RANGE, 0, dev->dev.size);
	h = calloc(1, sizeof(*h));
	if (!h)
		return MMIO_ENOMEM;
	/* Copies and fills: the grant's widths, the widest that fits each step. */
	if (shim_window_init_widths(&h->win, base, (size_t)len, grant->widths) != MMIO_OK ||
	    shim_window_init(&h->once_win, base, (size_t)len, 0) != MMIO_OK) {
		free(h);
		return MMIO_EINVAL;
	}
	atomic_init(&h->refs, 1);
	/* Granted under @gen: current while @gen is the policy handles answer to. */
	atomic_init(&h->epoch, gen->epoch);
	h->dev = dev;
	h->offset = off;
	h->size = len;
	h->access = grant->access;
	h->ops = grant->ops;
	h->widths = grant->widths;
	if (grant->register_count != 0) {
		h->regs = malloc(grant->register_count * sizeof(*h->regs));
		if (!h->regs) {
			free(h);
			return MMIO_ENOMEM;
		}
		memcpy(h->regs, grant->registers, grant->register_count * sizeof(*h->regs));
		h->nregs = grant->register_count;
	}
	h->exclusive = grant->exclusive;
	h->sensitive = r->sensitive;
	/*
	 * A window gives exactly the handle's pages, so any handle of whole
	 * pages may be mapped. Without one, the descriptor of a direct grant
	 * gives the whole backing object: only a handle that covers the whole
	 * device, in whole pages, may be mapped.
	 */
	h->windowed = srv_device_windowed(dev);
	h->mappable = (grant->ops & MMIO_OPS_MAP) && !r->sensitive &&
		      (h->windowed ? srv_window_fits(dev, off, len)
				   : dev->dev.fd >= 0 && off == 0 && len == dev->dev.size &&
					     len % CFG_PAGE_SIZE == 0);
	snprintf(h->region, sizeof(h->region), "%s", r->name);
	*out = h;
	return MMIO_OK;
}

unsigned srv_handle_unmappable(const struct srv_handle *h)
{
	if (h->sensitive)
		return MMIO_UNMAPPABLE_SENSITIVE;
	if (!srv_grants_available())
		return MMIO_UNMAPPABLE_SERVER;
	if (h->dev->dev.fd < 0)
		return MMIO_UNMAPPABLE_BACKEND;
	return h->mappable ? 0 : MMIO_UNMAPPABLE_PARTIAL;
}

/* Room in @s for one more handle (s->lock held). */
static int handle_room(struct srv_session *s, struct mmio_reason *why)
{
	if (s->closed)
		return MMIO_ECONN;
	if (s->nhandles >= srv.max_handles) {
		srv_debug("uid %u pid %d: open refused: %zu handles open, limits.max_handles is %u",
			  (unsigned)s->peer.uid, (int)s->pid, s->nhandles,
			  (unsigned)srv.max_handles);
		return mmio_reason_set(why, MMIO_ENOMEM, MMIO_REASON_LIMIT, MMIO_LIMIT_HANDLES,
				       srv.max_handles);
	}
	if (s->nhandles == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct srv_handle **grown = realloc(s->handles, cap * sizeof(*grown));
		if (!grown)
			return MMIO_ENOMEM;
		s->handles = grown;
		s->cap = cap;
	}
	return MMIO_OK;
}

/*
 * List @h on its device unless an exclusive handle overlaps (s->lock
 * held). Granted under @gen, inserted only while @gen is in force: a reload
 * that swaps the policy after this point revalidates the session under
 * s->lock and so sees this handle (srv_handles_revalidate()).
 */
static int handle_list(struct srv_handle *h, const struct srv_generation *gen)
{
	pthread_mutex_lock(&srv.gen_lock);
	bool stale = srv.gen != gen;
	pthread_mutex_unlock(&srv.gen_lock);
	if (stale)
		return SRV_STALE;
	pthread_mutex_lock(&srv.handles_lock);
	for (struct srv_handle *o = h->dev->open; o; o = o->next_open) {
		if ((o->exclusive || h->exclusive) &&
		    ranges_overlap(o->offset, o->size, h->offset, h->size)) {
			pthread_mutex_unlock(&srv.handles_lock);
			return MMIO_EBUSY;
		}
	}
	h->next_open = h->dev->open;
	h->dev->open = h;
	pthread_mutex_unlock(&srv.handles_lock);
	return MMIO_OK;
}

/* Give @h its id and make it @s's (s->lock held). */
static void handle_add(struct srv_session *s, struct srv_handle *h)
{
	/* Ids are never 0 and not reused soon: a stale id finds nothing. */
	do {
		h->id = s->next_id++;
	} while (h->id == 0 || srv_handle_find(s, h->id));
	h->session = s;
	s->handles[s->nhandles++] = h;
	atomic_fetch_add(&h->dev->refs, 1);
	atomic_fetch_add(&open_handles, 1);
}

/* The grant giving OPEN @req of @region to @s, and the range it opens. */
static int open_grant(struct srv_session *s, struct srv_generation *gen, size_t region,
		      const struct proto_open_req *req, const struct cfg_grant **grant,
		      uint64_t *off, uint64_t *len, struct mmio_reason *why)
{
	unsigned need_ops = req->flags & PROTO_OPEN_REQUIRE_DIRECT ? MMIO_OPS_MAP : 0;
	int status = open_range(s, gen, region, req, off, len);

	if (status == MMIO_ENOENT)
		return mmio_reason_set(why, status, MMIO_REASON_NO_GRANT, 0, 0);
	if (status == MMIO_OK)
		status = cfg_policy_open_grant(gen->policy, &s->peer, region, *off, *len, need_ops,
					       grant);
	if (status == MMIO_EACCES)
		return open_refusal(s, gen, region, *off, *len, need_ops, why);
	return status;
}

int srv_handle_open(struct srv_session *s, struct srv_generation *gen,
		    const struct proto_open_req *req, struct proto_open_rep *rep,
		    struct mmio_reason *why)
{
	const struct cfg_grant *grant = NULL;
	struct srv_handle *h;
	uint64_t off = 0, len = 0;
	size_t region;
	unsigned cause;
	int status;

	if (cfg_policy_region_find(gen->policy, req->name, &region) != MMIO_OK)
		return mmio_reason_set(why, MMIO_ENOENT, MMIO_REASON_NO_GRANT, 0, 0);
	status = open_grant(s, gen, region, req, &grant, &off, &len, why);
	if (status == MMIO_OK)
		status = handle_new(gen, region, grant, off, len, &h, why);
	if (status != MMIO_OK)
		return status;
	/* REQUIRE_DIRECT: map or fail, and fail here, not at MAP (PROTOCOL.md). */
	cause = req->flags & PROTO_OPEN_REQUIRE_DIRECT ? srv_handle_unmappable(h) : 0;
	if (cause != 0) {
		handle_free(h);
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_UNMAPPABLE, cause, 0);
	}
	pthread_mutex_lock(&s->lock);
	status = handle_room(s, why);
	if (status == MMIO_OK)
		status = handle_list(h, gen);
	if (status == MMIO_EBUSY)
		mmio_reason_set(why, status, MMIO_REASON_BUSY, MMIO_BUSY_EXCLUSIVE, 0);
	if (status != MMIO_OK) {
		pthread_mutex_unlock(&s->lock);
		handle_free(h);
		return status;
	}
	handle_add(s, h);
	pthread_mutex_unlock(&s->lock);

	memset(rep, 0, sizeof(*rep));
	rep->handle = h->id;
	rep->size = len;
	rep->access = grant->access;
	rep->ops = grant->ops;
	rep->widths = grant->widths;
	rep->cache = (unsigned)grant->region->cache;
	rep->width = h->win.width;
	srv_device_place(h->dev, off, &rep->phys, rep->where);
	rep->flags =
		(h->sensitive ? MMIO_REGION_SENSITIVE : 0) |
		(grant->exclusive ? MMIO_REGION_EXCLUSIVE : 0) |
		(h->mappable && srv_grants_available() ? MMIO_REGION_MAPPABLE : 0) |
		(h->mappable && srv_grants_available() && h->windowed ? MMIO_REGION_REVOCABLE : 0);
	return MMIO_OK;
}

int srv_handle_close(struct srv_session *s, uint32_t id)
{
	int status = MMIO_EINVAL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nhandles; i++) {
		if (s->handles[i]->id == id) {
			struct srv_handle *h = s->handles[i];
			s->handles[i] = s->handles[--s->nhandles];
			/* Before its range is free for another (exclusive) client. */
			srv_grants_forget_handle(s->pipe_id, id);
			handle_destroy(h);
			status = MMIO_OK;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return status;
}

static bool handle_regrant(const struct srv_session *s, struct srv_handle *h,
			   const struct srv_generation *g);

/*
 * Device accesses through handles, counted per policy epoch (the two
 * parities of the epoch number) as in sleepable RCU: an access never waits
 * for a reload, and a reload waits only for the accesses, at most one
 * chunk each, that began under the previous epoch.
 */
static atomic_uint access_epoch;
static atomic_long access_active[2];

unsigned srv_access_enter(void)
{
	for (;;) {
		unsigned e = atomic_load(&access_epoch);

		atomic_fetch_add(&access_active[e & 1], 1);
		/* Sequentially consistent with the publisher's store: either it
		 * sees this count, or this thread sees its new epoch. */
		if (atomic_load(&access_epoch) == e)
			return e;
		atomic_fetch_sub(&access_active[e & 1], 1);
	}
}

void srv_access_exit(unsigned epoch)
{
	atomic_fetch_sub(&access_active[epoch & 1], 1);
}

static void access_drain(unsigned epoch)
{
	const struct timespec pause = { .tv_nsec = 20000 };

	while (atomic_load(&access_active[epoch & 1]) != 0)
		nanosleep(&pause, NULL);
}

void srv_policy_publish(struct srv_generation *fresh)
{
	unsigned e;

	/* First the policy handles answer to: from here on an access through a
	 * handle not yet checked against @fresh checks it first. */
	pthread_mutex_lock(&srv.gen_lock);
	e = atomic_load(&access_epoch);
	fresh->epoch = e + 1;
	srv.vgen = fresh;
	atomic_store(&access_epoch, e + 1);
	pthread_mutex_unlock(&srv.gen_lock);
	/* Then wait out the accesses checked under the old policy, so that
	 * nobody can see @fresh in force (LIST, OPEN) while one still runs. */
	access_drain(e);
	pthread_mutex_lock(&srv.gen_lock);
	srv.gen = fresh;
	pthread_mutex_unlock(&srv.gen_lock);
}

/* Revoke @h: s->lock held. */
static void handle_revoke(struct srv_session *s, struct srv_handle *h)
{
	srv_grants_forget_handle(s->pipe_id, h->id);
	srv_window_revoke(h);
	atomic_store(&h->revoked, true);
	pthread_mutex_lock(&srv.handles_lock);
	handle_unlist(h);
	pthread_mutex_unlock(&srv.handles_lock);
	atomic_fetch_add(&srv.stats.revoked, 1);
	srv_warn("reload: revoked handle %" PRIu32 " on %s [0x%" PRIx64 ", +0x%" PRIx64
		 ") of uid %u pid %d",
		 h->id, h->region, h->offset, h->size, (unsigned)s->peer.uid, (int)s->pid);
	if (h->mapped_pid && !h->windowed)
		srv_warn("reload: pid %d still has %s mapped directly: a mapping cannot be "
			 "withdrawn from userspace; it lasts until that process unmaps it or exits",
			 (int)h->mapped_pid, h->region);
}

/* Check @h against the policy handles answer to now, if it has not been
 * yet (s->lock held). */
static void handle_refresh(struct srv_session *s, struct srv_handle *h)
{
	struct srv_generation *g;

	if (atomic_load(&h->epoch) == atomic_load(&access_epoch))
		return;
	pthread_mutex_lock(&srv.gen_lock);
	g = srv.vgen;
	srv_generation_ref(g);
	pthread_mutex_unlock(&srv.gen_lock);
	if (!atomic_load(&h->revoked) && !atomic_load(&h->closed) && !handle_regrant(s, h, g))
		handle_revoke(s, h);
	atomic_store(&h->epoch, g->epoch);
	srv_generation_unref(g);
}

/* The rights check of srv_handle_check() on a found handle: the grant's
 * rights, then its register rules; @why (may be NULL) says what refused. */
static int handle_rights(struct srv_session *s, struct srv_handle *h, unsigned ops_bit,
			 unsigned access_bit, unsigned width, uint64_t offset, uint64_t value,
			 struct mmio_reason *why)
{
	int status;

	handle_refresh(s, h);
	if (atomic_load(&h->closed))
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_HANDLE, h->id, 0);
	if (atomic_load(&h->revoked))
		return mmio_reason_set(why, MMIO_EREVOKED, MMIO_REASON_REVOKED, 0, 0);
	status = mmio_rights_explain(h->ops, h->access, h->widths, ops_bit, access_bit, width, why);
	if (status != MMIO_OK || h->nregs == 0)
		return status;
	/* Rules are region-relative; an offset past the handle never matches. */
	if (offset >= h->size)
		return mmio_reason_set(why, MMIO_EACCES, MMIO_REASON_REG_NONE, h->offset + offset,
				       0);
	return mmio_register_explain(h->regs, h->nregs, h->offset + offset, width, access_bit,
				     value, why);
}

int srv_handle_check(struct srv_session *s, uint32_t id, unsigned ops_bit, unsigned access_bit,
		     unsigned width, uint64_t offset, uint64_t value, struct srv_handle **out,
		     struct mmio_reason *why)
{
	struct srv_handle *h = srv_handle_find(s, id);

	if (!h)
		return mmio_reason_set(why, MMIO_EINVAL, MMIO_REASON_HANDLE, id, 0);
	/* Refused or not, *out names the handle (the audit line's region). */
	*out = h;
	return handle_rights(s, h, ops_bit, access_bit, width, offset, value, why);
}

int srv_handle_enter(struct srv_session *s, uint32_t id, unsigned ops_bit, unsigned access_bit,
		     unsigned width, uint64_t offset, uint64_t value, struct srv_handle **out,
		     unsigned *epoch, struct mmio_reason *why)
{
	for (;;) {
		int status = srv_handle_check(s, id, ops_bit, access_bit, width, offset, value, out,
					      why);
		unsigned e;

		if (status != MMIO_OK)
			return status;
		e = srv_access_enter();
		if (atomic_load(&(*out)->epoch) == e) {
			*epoch = e;
			return MMIO_OK;
		}
		/* A reload published between the check and the entry. */
		srv_access_exit(e);
	}
}

int srv_handle_resume(struct srv_session *s, struct srv_handle *h, unsigned ops_bit,
		      unsigned access_bit, unsigned *checked, unsigned *epoch)
{
	for (;;) {
		unsigned e = srv_access_enter();
		int status;

		if (e == *checked && atomic_load(&h->epoch) == e) {
			if (!atomic_load(&h->closed) && !atomic_load(&h->revoked)) {
				*epoch = e;
				return MMIO_OK;
			}
			srv_access_exit(e);
			return atomic_load(&h->closed) ? MMIO_EINVAL : MMIO_EREVOKED;
		}
		srv_access_exit(e);
		pthread_mutex_lock(&s->lock);
		status = handle_rights(s, h, ops_bit, access_bit, 0, 0, 0, NULL);
		*checked = atomic_load(&h->epoch);
		pthread_mutex_unlock(&s->lock);
		/* Started under a grant that no longer allows it. */
		if (status == MMIO_EACCES)
			return MMIO_EREVOKED;
		if (status != MMIO_OK)
			return status;
	}
}

/*
 * A reload changed the rights of windowed handle @h (s->lock held): revoke
 * its window in every process that mapped it; the handle goes on proxied,
 * under the new rights, and is never mapped again (its client sees
 * MMIO_EREVOKED once, then requests).
 */
static void handle_withdraw(const struct srv_session *s, struct srv_handle *h)
{
	srv_grants_forget_handle(s->pipe_id, h->id);
	srv_window_revoke(h);
	if (h->mapped_pid)
		srv_warn("reload: withdrew the direct window of handle %" PRIu32
			 " on %s [0x%" PRIx64 ", +0x%" PRIx64 ") from uid %u pid %d: its grant "
			 "changed; it goes on proxied",
			 h->id, h->region, h->offset, h->size, (unsigned)s->peer.uid,
			 (int)h->mapped_pid);
	srv_handle_set_mapped(h, 0);
	h->mappable = false;
}

/*
 * Is @h still granted, on the same device, by generation @g? If so, take the
 * rights of the grant that now covers it.
 */
static bool handle_regrant(const struct srv_session *s, struct srv_handle *h,
			   const struct srv_generation *g)
{
	const struct cfg_grant *grant = NULL;
	struct shim_window copies;
	size_t region;

	if (cfg_policy_region_find(g->policy, h->region, &region) != MMIO_OK)
		return false;
	if (g->devices[region] != h->dev)
		return false;
	if (cfg_policy_open_grant(g->policy, &s->peer, region, h->offset, h->size, 0, &grant) !=
	    MMIO_OK)
		return false;
	/* What the open fixed (copy widths, exclusivity, auditing) must not change. */
	if (shim_window_init_widths(&copies, h->win.base, h->win.limit, grant->widths) != MMIO_OK ||
	    copies.width != h->win.width || copies.widths != h->win.widths ||
	    grant->exclusive != h->exclusive ||
	    cfg_policy_region(g->policy, region)->sensitive != h->sensitive)
		return false;
	/* A mapped handle acts on the rights it was opened with (the client
	 * checks them itself): any change revokes it, so that the log names
	 * the pid that still holds the mapping. */
	/* Register rules are fixed at the open: any change revokes the handle,
	 * so that a narrowed rule never leaves a handle with the old one. */
	if (grant->register_count != h->nregs ||
	    (h->nregs != 0 && memcmp(grant->registers, h->regs, h->nregs * sizeof(*h->regs)) != 0))
		return false;
	if (grant->access != h->access || grant->ops != h->ops || grant->widths != h->widths) {
		if (h->mapped_pid && !h->windowed)
			return false;
		/* A window carries the old rights: it goes, the handle stays. */
		if (h->mapped_pid || h->wid != 0)
			handle_withdraw(s, h);
	}
	/* A MAP token not yet picked up carries the old rights in its descriptor. */
	if (grant->access != h->access || grant->ops != h->ops)
		srv_grants_forget_handle(s->pipe_id, h->id);
	h->access = grant->access;
	h->ops = grant->ops;
	h->widths = grant->widths;
	return true;
}

void srv_handles_revalidate(void)
{
	struct srv_session **all;
	size_t n;

	/* A snapshot, so that connecting clients never wait for the pass. */
	pthread_mutex_lock(&sessions_lock);
	n = nsessions;
	all = malloc((n ? n : 1) * sizeof(*all));
	for (size_t i = 0; all && i < n; i++) {
		all[i] = sessions[i];
		atomic_fetch_add(&all[i]->refs, 1);
	}
	pthread_mutex_unlock(&sessions_lock);
	if (!all)
		return; /* every handle is still checked before its next access */
	for (size_t i = 0; i < n; i++) {
		struct srv_session *s = all[i];

		/* Short: no copy holds s->lock (dispatch.c). */
		pthread_mutex_lock(&s->lock);
		for (size_t j = 0; j < s->nhandles; j++)
			handle_refresh(s, s->handles[j]);
		pthread_mutex_unlock(&s->lock);
		srv_session_put(s);
	}
	free(all);
}
