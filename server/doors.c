/* SPDX-License-Identifier: MIT */
/*
 * Doors: a listener of its own for every identity the policy grants
 * something to, so that no one else can reach it.
 *
 * The public socket (server.listen) is one listener that every account
 * allowed by socket_mode and socket_group reaches. nng 1.5.2 lets any peer
 * stall a listener (issue 1518, see listener.c), and a listener's queue of
 * handshakes is shared by whoever connects: on one listener, an account with
 * no grant could keep every driver out. So each client entry of the policy
 * gets a door next to the public socket, on the same nng socket:
 *
 *   <listen path>.d/u<UID>   owner UID, the server's group, mode 0660 (a
 *                            `uid:`/`user:` client; the group lets the
 *                            watchdog probe it without CAP_DAC_OVERRIDE)
 *   <listen path>.d/g<GID>   group GID, mode 0660 (a `group:`/`gid:` client)
 *
 * The kernel checks a socket file's permissions at connect(2), so a storm
 * or a flood can only reach its own door, and an account with no grant has
 * none. A door carries no authority: every request is still checked against
 * the peer credentials of its connection. libmmio connects through its door
 * when it finds one, else through the public socket.
 *
 * A reload opens the doors of new identities and retires those the policy
 * no longer names: the path goes at once, the sessions already in go on (a
 * reload revokes their handles, it does not cut their connections), and the
 * listener closes once they are gone.
 */
#include "log.h"
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct door {
	char name[16]; /* "u1000", "g44" */
	struct srv_listener *ls;
	bool retired;
};

struct srv_doors {
	nng_socket sock;
	char dir[PATH_MAX];
	/* Guards the array against the pipe callbacks; only the main thread
	 * changes it. Never held across an nng call (the callbacks run under
	 * nng's socket lock, which listener calls take). */
	pthread_mutex_t lock;
	struct door *v;
	size_t n, cap;
};

/* The door a client entry gets: "u<uid>" or "g<gid>", owner and group. */
static void door_of(const struct cfg_client *c, char *name, size_t len, long *owner, long *group)
{
	*owner = -1;
	*group = -1;
	if (c->match & CFG_MATCH_UID) {
		snprintf(name, len, "u%u", (unsigned)c->uid);
		*owner = (long)c->uid;
		/* Our own group, so that the watchdog can probe it without
		 * CAP_DAC_OVERRIDE (the unit has none). */
		*group = (long)getegid();
	} else {
		gid_t g = (c->match & CFG_MATCH_GROUP) ? c->group : c->gid;
		snprintf(name, len, "g%u", (unsigned)g);
		*group = (long)g;
	}
}

/* Index of the open (not retired) door @name, or -1. d->lock held. */
static long door_find(const struct srv_doors *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++) {
		if (!d->v[i].retired && strcmp(d->v[i].name, name) == 0)
			return (long)i;
	}
	return -1;
}

static bool policy_names(const cfg_policy *p, const char *name)
{
	char other[16];
	long owner, group;

	for (size_t i = 0; i < cfg_policy_client_count(p); i++) {
		door_of(cfg_policy_client(p, i), other, sizeof(other), &owner, &group);
		if (strcmp(other, name) == 0)
			return true;
	}
	return false;
}

/* Open the door of client @c, unless it is open. */
static void door_open(struct srv_doors *d, const struct cfg_client *c)
{
	char name[16], url[PATH_MAX + 32], err[512];
	struct srv_listener *ls;
	long owner, group;
	bool ok = false;

	door_of(c, name, sizeof(name), &owner, &group);
	pthread_mutex_lock(&d->lock);
	bool open = door_find(d, name) >= 0;
	if (!open && d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 8;
		struct door *grown = realloc(d->v, cap * sizeof(*grown));
		if (grown) {
			d->v = grown;
			d->cap = cap;
		}
	}
	bool room = d->n < d->cap;
	pthread_mutex_unlock(&d->lock);
	if (open)
		return;
	snprintf(url, sizeof(url), "ipc://%s/%s", d->dir, name);
	if (!room ||
	    srv_listener_new(d->sock, url, 0660, owner, group, &ls, err, sizeof(err)) != 0) {
		srv_warn("no door for client \"%s\" (%s); it connects through the public socket",
			 c->name, room ? err : "out of memory");
		return;
	}
	/* Listed before it starts, so that its first pipe's events count. */
	pthread_mutex_lock(&d->lock);
	d->v[d->n] = (struct door){ .ls = ls };
	snprintf(d->v[d->n].name, sizeof(d->v[d->n].name), "%s", name);
	d->n++;
	pthread_mutex_unlock(&d->lock);
	ok = srv_listener_start(ls, err, sizeof(err)) == 0;
	if (!ok) {
		srv_warn("no door for client \"%s\" (%s); it connects through the public socket",
			 c->name, err);
		srv_listener_retire(ls);
		pthread_mutex_lock(&d->lock);
		d->v[door_find(d, name)].retired = true;
		pthread_mutex_unlock(&d->lock);
		return;
	}
	srv_debug("door for client \"%s\" at %s/%s", c->name, d->dir, name);
}

/* Close retired doors whose sessions are all gone. */
static void doors_reap(struct srv_doors *d)
{
	for (;;) {
		struct srv_listener *idle = NULL;

		pthread_mutex_lock(&d->lock);
		for (size_t i = 0; i < d->n; i++) {
			if (d->v[i].retired && srv_listener_pipes(d->v[i].ls) == 0) {
				idle = d->v[i].ls;
				d->v[i] = d->v[--d->n];
				break;
			}
		}
		pthread_mutex_unlock(&d->lock);
		if (!idle)
			return;
		srv_listener_close(idle);
	}
}

void srv_doors_sync(struct srv_doors *d, const cfg_policy *p)
{
	if (!d)
		return;
	/* Retire first: a door the policy dropped must be gone once a door it
	 * added is there. */
	for (size_t i = 0;; i++) {
		struct srv_listener *gone = NULL;

		pthread_mutex_lock(&d->lock);
		if (i >= d->n) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		if (!d->v[i].retired && !policy_names(p, d->v[i].name)) {
			d->v[i].retired = true;
			gone = d->v[i].ls;
		}
		pthread_mutex_unlock(&d->lock);
		if (gone) {
			srv_listener_retire(gone);
			srv_debug("door %s/%s closed: the policy no longer names it", d->dir,
				  d->v[i].name);
		}
	}
	for (size_t i = 0; i < cfg_policy_client_count(p); i++)
		door_open(d, cfg_policy_client(p, i));
	doors_reap(d);
}

/* Remove what an earlier run left: a dead door would keep its client from
 * falling back to the public socket. */
static void doors_clear(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;

	if (!dp)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] != '.')
			unlinkat(dirfd(dp), e->d_name, 0);
	}
	closedir(dp);
}

int srv_doors_start(nng_socket sock, const char *public_path, struct srv_doors **out, char *err,
		    size_t errlen)
{
	struct srv_doors *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->sock = sock;
	pthread_mutex_init(&d->lock, NULL);
	/* Longest door path: dir + "/u4294967295" + the listener's "~" name. */
	if (snprintf(d->dir, sizeof(d->dir), "%s.d", public_path) >= (int)sizeof(d->dir) ||
	    strlen(d->dir) + 24 > 107) {
		snprintf(err, errlen, "socket path %s is too long for doors next to it",
			 public_path);
		goto fail;
	}
	/* Root's, readable by all: only the doors' own modes decide who enters. */
	if (mkdir(d->dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", d->dir, strerror(errno));
		goto fail;
	}
	/* (mkdir(2) applies the umask; systemd's UMask=0077 would make it 0700.) */
	struct stat st;
	if (lstat(d->dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || chmod(d->dir, 0755) != 0) {
		snprintf(err, errlen,
			 "%s is not a directory of ours that only we may write to: remove it",
			 d->dir);
		goto fail;
	}
	doors_clear(d->dir);
	*out = d;
	return 0;
fail:
	pthread_mutex_destroy(&d->lock);
	free(d);
	return -1;
}

bool srv_doors_shed(struct srv_doors *d, const char *name)
{
	bool found = false;

	if (!d)
		return false;
	/* Under the lock: a door in the array is not closed (doors_reap()). */
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n && !found; i++) {
		if (!d->v[i].retired && srv_listener_bound_here(d->v[i].ls, name)) {
			srv_listener_shed(d->v[i].ls);
			found = true;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}

unsigned srv_doors_count_orphans(struct srv_doors *d, const char (*names)[108], size_t n)
{
	unsigned sum = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		if (!d->v[i].retired)
			sum += srv_listener_count_orphans(d->v[i].ls, names, n);
	pthread_mutex_unlock(&d->lock);
	return sum;
}

void srv_doors_pipe_event(struct srv_doors *d, nng_pipe p, nng_pipe_ev ev)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		srv_listener_pipe_event(d->v[i].ls, p, ev);
	pthread_mutex_unlock(&d->lock);
}

size_t srv_doors_open(struct srv_doors *d)
{
	size_t n = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		n += !d->v[i].retired;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void srv_doors_stop(struct srv_doors *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		srv_listener_stop(d->v[i].ls);
}

void srv_doors_close(struct srv_doors *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		srv_listener_close(d->v[i].ls);
	rmdir(d->dir);
	pthread_mutex_destroy(&d->lock);
	free(d->v);
	free(d);
}
