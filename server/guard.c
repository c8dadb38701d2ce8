/* SPDX-License-Identifier: MIT */
/*
 * The descriptor guard: no listener may take the descriptors the others need.
 *
 * nng accepts every connection that reaches a listener and holds its
 * descriptor through the SP handshake, for up to 10 s, before the server
 * hears of it; connections caught by a stalled listener (listener.c) are
 * held until that listener closes. An account that opens connections and
 * says nothing could so fill a server running under systemd's default soft
 * limit of 1024 descriptors, and then nobody could connect, through any
 * door. Every GUARD_TICK_MS this thread counts the process's descriptors;
 * past a quarter of the limit it finds the listener whose
 * connections hold the most (an accepted socket carries its listener's
 * address) and has it shed: replaced, and closed with all it holds. A storm
 * at one door so costs only that door's connections.
 */
#include "log.h"
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GUARD_TICK_MS	   5
#define GUARD_HIGH_PERCENT 25
/* After a shed, give the watchdog time to act before counting again. */
#define GUARD_SETTLE_MS 50

static pthread_t guard_thread;
static bool guard_running;
static atomic_bool guard_stopping;
static struct srv_listener *guard_public;
static struct srv_doors *guard_doors;
static atomic_ulong guard_sheds;

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The descriptors open now, or 0 if they cannot be counted. */
static size_t fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * The listening address that holds the most of our connected sockets
 * (the listener's private name, "<path>.<n>~"), into @best. False if none.
 */
static bool busiest_address(char *best, size_t len)
{
	struct tally {
		char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
		unsigned count;
	} t[16];
	size_t nt = 0, top = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return false;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_un a;
		socklen_t alen = sizeof(a);
		size_t i;

		if (e->d_name[0] == '.' ||
		    getsockname(atoi(e->d_name), (struct sockaddr *)&a, &alen) != 0 ||
		    a.sun_family != AF_UNIX || alen <= offsetof(struct sockaddr_un, sun_path) ||
		    a.sun_path[0] == '\0')
			continue;
		a.sun_path[sizeof(a.sun_path) - 1] = '\0';
		for (i = 0; i < nt && strcmp(t[i].name, a.sun_path) != 0; i++)
			;
		if (i == nt) {
			if (nt == sizeof(t) / sizeof(t[0]))
				continue;
			snprintf(t[nt].name, sizeof(t[nt].name), "%s", a.sun_path);
			t[nt++].count = 0;
		}
		t[i].count++;
	}
	closedir(d);
	for (size_t i = 1; i < nt; i++)
		top = t[i].count > t[top].count ? i : top;
	if (nt == 0)
		return false;
	snprintf(best, len, "%s", t[top].name);
	return true;
}

static void *guard_loop(void *arg)
{
	struct rlimit rl;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)];

	(void)arg;
	while (!atomic_load(&guard_stopping)) {
		sleep_ms(GUARD_TICK_MS);
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
			continue;
		size_t open = fds_open();
		if (open * 100 < rl.rlim_cur * GUARD_HIGH_PERCENT ||
		    !busiest_address(name, sizeof(name)))
			continue;
		bool shed = false;
		if (srv_listener_bound_here(guard_public, name)) {
			srv_listener_shed(guard_public);
			shed = true;
		} else {
			shed = srv_doors_shed(guard_doors, name);
		}
		if (!shed)
			continue;
		/* One line a shed would be a log flood under a storm. */
		if (atomic_fetch_add(&guard_sheds, 1) % 100 == 0)
			srv_warn("%zu of %lu descriptors in use, most by connections to %s: "
				 "closing that listener's connections (%lu times so far)",
				 open, (unsigned long)rl.rlim_cur, name, atomic_load(&guard_sheds));
		sleep_ms(GUARD_SETTLE_MS);
	}
	return NULL;
}

int srv_guard_start(struct srv_listener *public_listener, struct srv_doors *doors)
{
	guard_public = public_listener;
	guard_doors = doors;
	atomic_store(&guard_stopping, false);
	if (pthread_create(&guard_thread, NULL, guard_loop, NULL) != 0)
		return -1;
	guard_running = true;
	return 0;
}

void srv_guard_stop(void)
{
	if (!guard_running)
		return;
	atomic_store(&guard_stopping, true);
	pthread_join(guard_thread, NULL);
	guard_running = false;
}

unsigned long srv_guard_sheds(void)
{
	return atomic_load(&guard_sheds);
}
