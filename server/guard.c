/* SPDX-License-Identifier: MIT */
/*
 * The descriptor guard: no listener may take the descriptors the others need.
 *
 * nng accepts every connection that reaches a listener and holds its
 * descriptor through the SP handshake, for up to 10 s, before the server
 * hears of it; connections caught by a stalled listener (listener.c) are
 * held as long as that listener lives, some even after. An account that opens connections and
 * says nothing could so fill a server running under systemd's default soft
 * limit of 1024 descriptors, and then nobody could connect, through any
 * door. Every GUARD_TICK_MS this thread counts the process's descriptors;
 * past a quarter of the limit it finds the listener whose
 * connections hold the most (an accepted socket carries its listener's
 * address) and has it shed: closed with all it holds, and opened again a
 * while later. A storm at one door so costs only that door's connections.
 * Once a second it also counts the connections of listeners already closed
 * that nng will not free, for the bound in listener.c, and has irq.c look
 * at the interrupts drivers hold (one never acknowledged is counted).
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

static atomic_ulong guard_orphans;
/* /proc/self/fd, opened once: when the table is full is when the guard must
 * still see it, and opening the directory then would fail with EMFILE. */
static DIR *guard_fd_dir;

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The descriptors open now (procfs lists them afresh on each rewind). */
static size_t fds_open(void)
{
	struct dirent *e;
	size_t n = 0;

	rewinddir(guard_fd_dir);
	while ((e = readdir(guard_fd_dir)) != NULL)
		n += e->d_name[0] != '.';
	return n;
}

#define GUARD_NAMES_MAX 8192
/* Count orphaned connections (srv_listener_count_orphans()) this often. */
#define GUARD_ORPHAN_TICKS 200

typedef char sock_name[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* The socket address of each of our connected AF_UNIX descriptors that has
 * one (an accepted connection carries its listener's), into @names. */
static size_t socket_names(sock_name *names, size_t max)
{
	struct dirent *e;
	size_t n = 0;

	rewinddir(guard_fd_dir);
	while ((e = readdir(guard_fd_dir)) != NULL && n < max) {
		struct sockaddr_un a;
		socklen_t alen = sizeof(a);

		if (e->d_name[0] == '.' ||
		    getsockname(atoi(e->d_name), (struct sockaddr *)&a, &alen) != 0 ||
		    a.sun_family != AF_UNIX || alen <= offsetof(struct sockaddr_un, sun_path) ||
		    a.sun_path[0] == '\0')
			continue;
		memcpy(names[n], a.sun_path, sizeof(names[n]));
		names[n++][sizeof(names[0]) - 1] = '\0';
	}
	return n;
}

/* The address most of @names share, into @best. False if none. Linear: a
 * tally of the first GUARD_TALLY_MAX distinct addresses (one per listener,
 * so a handful in practice). */
#define GUARD_TALLY_MAX 64
static bool busiest_address(const sock_name *names, size_t n, char *best, size_t len)
{
	struct {
		const char *name;
		size_t count;
	} t[GUARD_TALLY_MAX];
	size_t nt = 0, top = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < nt && strcmp(t[k].name, names[i]) != 0)
			k++;
		if (k == nt) {
			if (nt == GUARD_TALLY_MAX)
				continue;
			t[nt].name = names[i];
			t[nt++].count = 0;
		}
		if (++t[k].count > t[top].count)
			top = k;
	}
	if (nt == 0)
		return false;
	snprintf(best, len, "%s", t[top].name);
	return true;
}

static void *guard_loop(void *arg)
{
	static sock_name names[GUARD_NAMES_MAX];
	struct rlimit rl;
	sock_name name;
	unsigned long tick = 0;
	size_t n;

	(void)arg;
	while (!atomic_load(&guard_stopping)) {
		sleep_ms(GUARD_TICK_MS);
		if (++tick % GUARD_ORPHAN_TICKS == 0) {
			n = socket_names(names, GUARD_NAMES_MAX);
			atomic_store(&guard_orphans,
				     srv_listener_count_orphans(guard_public, names, n) +
					     srv_doors_count_orphans(guard_doors, names, n));
			srv_irq_watch();
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
			continue;
		size_t open = fds_open();
		if (open * 100 < rl.rlim_cur * GUARD_HIGH_PERCENT)
			continue;
		/* Connections of a listener already closed count for the socket
		 * that replaced it: while they hold the table, that socket stays
		 * closed longer (listener.c), so a flood cannot refill it. What
		 * nng never frees is bounded far below this threshold. */
		n = socket_names(names, GUARD_NAMES_MAX);
		if (!busiest_address(names, n, name, sizeof(name)))
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
				 "closing that listener's connections (%lu times so far; %lu "
				 "descriptors held by listeners nng did not free)",
				 open, (unsigned long)rl.rlim_cur, name, atomic_load(&guard_sheds),
				 atomic_load(&guard_orphans));
		sleep_ms(GUARD_SETTLE_MS);
	}
	return NULL;
}

int srv_guard_start(struct srv_listener *public_listener, struct srv_doors *doors)
{
	guard_public = public_listener;
	guard_doors = doors;
	guard_fd_dir = opendir("/proc/self/fd");
	if (!guard_fd_dir)
		return -1;
	atomic_store(&guard_stopping, false);
	if (pthread_create(&guard_thread, NULL, guard_loop, NULL) != 0) {
		closedir(guard_fd_dir);
		guard_fd_dir = NULL;
		return -1;
	}
	guard_running = true;
	return 0;
}

void srv_guard_stop(void)
{
	if (!guard_running)
		return;
	atomic_store(&guard_stopping, true);
	pthread_join(guard_thread, NULL);
	closedir(guard_fd_dir);
	guard_fd_dir = NULL;
	guard_running = false;
}
