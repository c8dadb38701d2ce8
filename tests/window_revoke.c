/* SPDX-License-Identifier: MIT */
/*
 * mmio-window-revoke: the server-level checks of kernel-shim windows, run
 * as root in the QEMU guest with the mmio-window module loaded and
 * mmio-server running (kernel-shim/guest/scenarios/windows.sh).
 *
 *   mmio-window-revoke --policy FILE --listen URL --server-pid PID
 *
 * It writes its own policies to FILE (one edu grant for uid 1000, rw, then
 * narrowed to r, then removed; server.windows required) and reloads the
 * server with SIGHUP; the caller restores FILE afterwards. A child that
 * drops to uid 1000 is the driver:
 *   - one page of edu, opened REQUIRE_DIRECT, is direct and revocable;
 *   - a thread reads it in a loop while the grant is narrowed: it sees
 *     MMIO_EREVOKED, then proxied successes with edu's ID, and
 *     mmio_is_direct() turns 0;
 *   - a forked grandchild that inherited the mapping gets SIGBUS there;
 *   - after the grant is removed, every read is MMIO_EREVOKED;
 *   - closing a direct region revokes its window in a forked child too;
 * and a second uid 1000 client killed with SIGKILL leaves a forked child
 * whose inherited window is revoked as well.
 * It prints "ok: ..." or "FAIL: ..." lines and the revocation latency
 * (policy written and SIGHUP sent, until the reader's first MMIO_EREVOKED),
 * and exits 0 only if every check passed.
 */

#include <mmio/client.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EDU_ID	    0x010000edu
#define EDU_ID_MASK 0xff0000ffu /* edu's version byte varies with QEMU */

static int failures;

static void check(const char *what, int ok)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	fflush(stdout);
	failures += !ok;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the root side: policies and reloads ---- */

enum grant { GRANT_RW, GRANT_R, GRANT_NONE };

/* Replace @path at once (rename): the server also watches the file, and
 * must never read half of it. */
static int policy_write(const char *path, const char *listen, enum grant g)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f,
		"version: 1\nserver:\n  listen: \"%s\"\n  socket_mode: \"0666\"\n"
		"  windows: required\nregions:\n  - name: edu\n    pci_id: \"1234:11e8\"\n"
		"    bar: 0\n    cache: uncached\n  - name: shm\n    pci_id: \"1af4:1110\"\n"
		"    bar: 2\n    cache: write-combining\nclients:\n  - name: root\n    uid: 0\n"
		"    grants:\n      - { region: edu, access: r, ops: [once] }\n",
		listen);
	if (g != GRANT_NONE)
		fprintf(f,
			"  - name: driver\n    uid: 1000\n    grants:\n      - { region: edu, "
			"access: %s, ops: [once, poll, map], widths: [4, 8] }\n"
			"      - { region: shm, access: rw, ops: [once, bulk, map] }\n",
			g == GRANT_RW ? "rw" : "r");
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static uint64_t reloads(mmio_client *c)
{
	struct mmio_stat st[64];
	size_t n = 0;

	if (mmio_stats(c, st, 64, &n) != MMIO_OK)
		return 0;
	for (size_t i = 0; i < n && i < 64; i++)
		if (strcmp(st[i].name, "reloads") == 0)
			return st[i].value;
	return 0;
}

/* Write policy @g, SIGHUP the server, wait until it reloaded. The time
 * the policy was written (the server may take it from its watch before the
 * signal), or 0 if the reload did not happen in 10 s. The count is taken
 * once it stands still: the last write was reloaded twice (its watch and
 * its signal), and a second reload of it that ends after the count was
 * taken would look like this write's. */
static uint64_t reload(const char *path, const char *listen, pid_t server, mmio_client *c,
		       enum grant g)
{
	uint64_t before = reloads(c), sent;

	for (int i = 0; i < 20; i++) {
		usleep(250000);
		uint64_t now = reloads(c);
		if (now == before)
			break;
		before = now;
	}
	sent = now_ns();

	if (policy_write(path, listen, g) != 0)
		return 0;
	kill(server, SIGHUP);
	for (int i = 0; i < 1000; i++) {
		if (reloads(c) > before)
			return sent;
		usleep(10000);
	}
	return 0;
}

/* ---- the driver side (uid 1000) ---- */

struct reader {
	mmio_region *r;
	atomic_bool stop;
	atomic_int phase;		/* 0 before the narrowing, 1 after, 2 after removal */
	atomic_ullong first_revoked_ns; /* first MMIO_EREVOKED */
	atomic_uint revoked[3], ok[3], ok_after[3], bad_value, other;
};

static void *reader_loop(void *arg)
{
	struct reader *rd = arg;

	while (!atomic_load(&rd->stop)) {
		int phase = atomic_load(&rd->phase);
		uint32_t v = 0;
		int st = mmio_read32(rd->r, 0, &v);

		if (st == MMIO_EREVOKED) {
			unsigned long long zero = 0;

			atomic_compare_exchange_strong(&rd->first_revoked_ns, &zero, now_ns());
			atomic_fetch_add(&rd->revoked[phase], 1);
		} else if (st == MMIO_OK) {
			if ((v & EDU_ID_MASK) != EDU_ID)
				atomic_fetch_add(&rd->bad_value, 1);
			atomic_fetch_add(&rd->ok[phase], 1);
			if (atomic_load(&rd->revoked[phase]) != 0)
				atomic_fetch_add(&rd->ok_after[phase], 1);
		} else {
			atomic_fetch_add(&rd->other, 1);
		}
	}
	return NULL;
}

static sigjmp_buf grandchild_jmp;

static void grandchild_bus(int sig)
{
	siglongjmp(grandchild_jmp, sig);
}

/*
 * A forked child reads the inherited mapping at @p until it faults: exit
 * 0 on SIGBUS within 20 s (first writing 'B' to @report, if not -1), 1
 * otherwise. It closes every other descriptor, the connection to the
 * server among them, so that its parent's session ends with its parent.
 */
static pid_t grandchild_start(volatile const uint32_t *p, int report)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	for (int fd = 3; fd < 1024; fd++)
		if (fd != report)
			close(fd);
	signal(SIGBUS, grandchild_bus);
	signal(SIGSEGV, grandchild_bus);
	if (sigsetjmp(grandchild_jmp, 1) != 0) {
		if (report >= 0 && write(report, "B", 1) != 1)
			_exit(2);
		_exit(0);
	}
	for (uint64_t end = now_ns() + 20000000000ull; now_ns() < end;)
		(void)*p;
	_exit(1);
}

/* Byte 0 of direct region @r in this process (the header's inline view). */
static volatile const uint32_t *region_base(mmio_region *r)
{
	return (volatile const uint32_t *)((struct mmio_region_fast *)r)->base;
}

/* A forked child of a client reading page 1 of edu gets SIGBUS once the
 * client closes the region: no window outlives its handle. */
static bool close_revokes(mmio_client *c)
{
	mmio_region *r;
	pid_t child;
	int status;

	if (mmio_open_range(c, "edu", 4096, 4096, MMIO_OPEN_REQUIRE_DIRECT, &r) != MMIO_OK)
		return false;
	child = grandchild_start(region_base(r), -1);
	usleep(100000);
	mmio_close(r);
	return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* One page of ivshmem's write-combining BAR through a window, while the
 * server maps the whole BAR with resource2_wc: the same cache type, so
 * the kernel creates the window (another type would conflict). */
static bool wc_window_works(mmio_client *c)
{
	struct mmio_region_info info;
	mmio_region *r;
	uint64_t v = 0;
	bool ok;

	if (mmio_open_range(c, "shm", 8192, 4096, MMIO_OPEN_REQUIRE_DIRECT, &r) != MMIO_OK)
		return false;
	ok = mmio_describe(r, &info) == MMIO_OK && (info.flags & MMIO_REGION_REVOCABLE) &&
	     info.cache == MMIO_CACHE_WRITE_COMBINING &&
	     mmio_write64(r, 8, 0x5EED0F1D5EED0F1Dull) == MMIO_OK &&
	     mmio_read64(r, 8, &v) == MMIO_OK && v == 0x5EED0F1D5EED0F1Dull;
	mmio_close(r);
	return ok;
}

/* A client of uid 1000 with one page of edu mapped leaves a forked child
 * reading it, says 'R' on @report, and waits to be killed. */
static int victim_run(const char *url, int go, int report)
{
	mmio_client *c;
	mmio_region *r;
	uint64_t sent;

	if (read(go, &sent, sizeof(sent)) != sizeof(sent) || setgid(1000) != 0 ||
	    setuid(1000) != 0 || mmio_connect(url, &c) != MMIO_OK ||
	    mmio_open_range(c, "edu", 0, 4096, MMIO_OPEN_REQUIRE_DIRECT, &r) != MMIO_OK)
		return 1;
	grandchild_start(region_base(r), report);
	if (write(report, "R", 1) != 1)
		return 1;
	for (;;)
		pause();
}

/* The byte a helper writes to @fd within 10 s, or 0. */
static char report_read(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	if (poll(&p, 1, 10000) == 1 && read(fd, &c, 1) != 1)
		c = 0;
	return c;
}

/* Tell the parent we reached step @c, then wait for its go: when it
 * wrote the policy of the reload it made. */
static uint64_t step(int to_parent, int from_parent, char c)
{
	uint64_t sent;

	if (write(to_parent, &c, 1) != 1 || read(from_parent, &sent, sizeof(sent)) != sizeof(sent))
		_exit(3);
	return sent;
}

static int driver_run(const char *url, int to_parent, int from_parent)
{
	struct mmio_region_info info;
	struct reader rd = { 0 };
	mmio_client *c;
	uint64_t sent, revoked_at;
	pthread_t t;
	pid_t child;
	int status;
	uint32_t v;

	/* Connect only after the fork: nng's threads do not survive one. */
	if (read(from_parent, &sent, sizeof(sent)) != sizeof(sent))
		return 2;
	if (setgid(1000) != 0 || setuid(1000) != 0) {
		perror("mmio-window-revoke: setuid 1000");
		return 2;
	}
	status = mmio_connect(url, &c);
	if (status != MMIO_OK) {
		fprintf(stderr, "mmio-window-revoke: uid 1000 connect: %s\n",
			mmio_strerror(status));
		return 2;
	}
	check("uid 1000 opens one page of edu REQUIRE_DIRECT",
	      mmio_open_range(c, "edu", 0, 4096, MMIO_OPEN_REQUIRE_DIRECT, &rd.r) == MMIO_OK);
	if (!rd.r)
		return 1;
	check("one page of edu is direct", mmio_is_direct(rd.r) == 1);
	check("and revocable",
	      mmio_describe(rd.r, &info) == MMIO_OK && (info.flags & MMIO_REGION_REVOCABLE));
	check("it reads edu's ID",
	      mmio_read32(rd.r, 0, &v) == MMIO_OK && (v & EDU_ID_MASK) == EDU_ID);
	check("a byte past the page is refused", mmio_read32(rd.r, 4096, &v) == MMIO_EINVAL);
	check("closing a region revokes its window in a forked child too", close_revokes(c));
	check("a write-combining page of ivshmem is direct, revocable, and holds what is written",
	      wc_window_works(c));
	child = grandchild_start(region_base(rd.r), -1);
	pthread_create(&t, NULL, reader_loop, &rd);
	usleep(200000);

	sent = step(to_parent, from_parent, 'n'); /* the parent narrows rw to r */
	atomic_store(&rd.phase, 1);
	usleep(500000);
	check("the reader saw MMIO_EREVOKED when the grant was narrowed",
	      atomic_load(&rd.revoked[0]) + atomic_load(&rd.revoked[1]) >= 1);
	check("then proxied reads succeed",
	      atomic_load(&rd.ok_after[1]) + atomic_load(&rd.ok_after[0]) > 10);
	check("and the region is proxied now", mmio_is_direct(rd.r) == 0);
	check("a write under the narrowed grant is refused",
	      mmio_write32(rd.r, 4, 1) == MMIO_EACCES);
	check("the forked child lost the mapping too (SIGBUS)",
	      waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	revoked_at = atomic_load(&rd.first_revoked_ns);
	check("the first MMIO_EREVOKED came after the reload", revoked_at > sent);
	printf("revocation latency (policy written, then SIGHUP, to the reader's first "
	       "MMIO_EREVOKED): %" PRIu64 " us\n",
	       (revoked_at - sent) / 1000);

	step(to_parent, from_parent, 'r'); /* the parent removes the grant */
	atomic_store(&rd.phase, 2);
	usleep(300000);
	unsigned before = atomic_load(&rd.revoked[2]);
	usleep(300000);
	atomic_store(&rd.stop, true);
	pthread_join(t, NULL);
	check("after removal every read is MMIO_EREVOKED",
	      atomic_load(&rd.revoked[2]) > before && atomic_load(&rd.ok[2]) == 0);
	check("no other status, no wrong value",
	      atomic_load(&rd.other) == 0 && atomic_load(&rd.bad_value) == 0);
	mmio_close(rd.r);
	mmio_disconnect(c);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *policy = NULL, *listen = NULL;
	pid_t server = 0, driver, victim;
	int up[2], down[2], vgo[2], vrep[2], status = 0;
	mmio_client *root = NULL;
	uint64_t sent;
	char c;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--policy") == 0)
			policy = argv[i + 1];
		else if (strcmp(argv[i], "--listen") == 0)
			listen = argv[i + 1];
		else if (strcmp(argv[i], "--server-pid") == 0)
			server = (pid_t)atoi(argv[i + 1]);
	}
	if (!policy || !listen || server <= 0) {
		fprintf(stderr, "usage: mmio-window-revoke --policy FILE --listen URL "
				"--server-pid PID\n");
		return 2;
	}
	/* The helpers fork before anything starts nng's threads. */
	if (pipe(up) != 0 || pipe(down) != 0 || pipe(vgo) != 0 || pipe(vrep) != 0)
		return 2;
	fflush(stdout);
	victim = fork();
	if (victim == 0) {
		close(vgo[1]);
		close(vrep[0]);
		_exit(victim_run(listen, vgo[0], vrep[1]));
	}
	close(vgo[0]);
	close(vrep[1]);
	driver = fork();
	if (driver == 0) {
		close(up[0]);
		close(down[1]);
		_exit(driver_run(listen, up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);
	/* Root is a client of the policies written here; the boot's may grant
	 * it nothing, and the server closes a stranger's connections at the
	 * handshake. So the first one is in force before root connects. */
	if (policy_write(policy, listen, GRANT_RW) != 0)
		return 2;
	kill(server, SIGHUP);
	for (int i = 0; i < 10 && mmio_connect(listen, &root) != MMIO_OK; i++)
		usleep(200000);
	if (!root) {
		fprintf(stderr, "mmio-window-revoke: root cannot connect: %s\n",
			mmio_connect_error());
		return 2;
	}
	sent = reload(policy, listen, server, root, GRANT_RW);
	check("reload to the rw grant", sent != 0);
	if (write(vgo[1], &sent, sizeof(sent)) != sizeof(sent))
		return 2;
	check("a second client of uid 1000 maps one page of edu", report_read(vrep[0]) == 'R');
	kill(victim, SIGKILL);
	waitpid(victim, &status, 0);
	check("when a client dies, the forked child it left loses its window (SIGBUS)",
	      report_read(vrep[0]) == 'B');
	if (write(down[1], &sent, sizeof(sent)) != sizeof(sent))
		return 2;
	while (read(up[0], &c, 1) == 1) {
		sent = reload(policy, listen, server, root, c == 'n' ? GRANT_R : GRANT_NONE);

		check(c == 'n' ? "reload narrowing the grant to r" : "reload removing the grant",
		      sent != 0);
		fflush(stdout);
		if (write(down[1], &sent, sizeof(sent)) != sizeof(sent))
			break;
	}
	waitpid(driver, &status, 0);
	check("the driver ran every check and passed",
	      WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mmio_disconnect(root);
	return failures ? 1 : 0;
}
