/* SPDX-License-Identifier: MIT */
/*
 * The server under siege: each attack a hostile local account can make runs
 * at full speed while a driver of another uid connects, opens, reads one
 * register and disconnects in a loop. The driver must succeed every time,
 * quickly; the server runs with systemd's default soft limit of 1024
 * descriptors throughout.
 *
 *   storm     uid 1001 (no grant): raw connect()+close() on the public socket
 *   halfopen  uid 1001: connections that never finish the SP handshake
 *   hog       uid 1001: connections that send requests and never read replies
 *   sessions  uid 1001: HELLO-only sessions, as many as it can hold
 *   reconnect uid 1001: four processes that connect, flood requests without
 *             reading until the server stops taking them, close, and again
 *   polls     uid 1002 (granted): 4 clients x 32 POLLs that never match
 *
 * Each attack lasts SIEGE_S seconds (MMIO_SIEGE_S overrides, for a quick run).
 */
#include "server_harness.h"

#include <mmio/client.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIEGE_S 10
#ifndef SIEGE_MEDIAN_MS
#define SIEGE_MEDIAN_MS 50
#endif

/* The server and the victim; each policy adds one client after it. */
#define POLICY_VICTIM                                                                              \
	"version: 1\n"                                                                             \
	"server:\n"                                                                                \
	"  listen: \"%SOCK%\"\n"                                                                   \
	"  socket_mode: \"0666\"\n"                                                                \
	"regions:\n"                                                                               \
	"  - { name: r, sim: true, size: 64KiB }\n"                                                \
	"clients:\n"                                                                               \
	"  - name: victim\n"                                                                       \
	"    uid: 1000\n"                                                                          \
	"    grants:\n"                                                                            \
	"      - { region: r, access: rw, ops: [once] }\n"

static const char policy[] = POLICY_VICTIM "  - name: poller\n"
					   "    uid: 1002\n"
					   "    grants:\n"
					   "      - { region: r, access: r, ops: [once, poll] }\n";

static int siege_seconds(void)
{
	const char *s = getenv("MMIO_SIEGE_S");
	int n = s ? atoi(s) : 0;

	return n > 0 ? n : SIEGE_S;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
		_exit(90);
}

/* ---- the victim ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Connect, open, read32, close, disconnect until the deadline; report
 * "ok failed median_ms max_ms first_failure" on fd 3. */
static int child_victim(void)
{
	static double lat[100000];
	double end = now_ms() + siege_seconds() * 1000.0;
	unsigned ok = 0, failed = 0;
	int first = MMIO_OK;

	become(1000);
	while (now_ms() < end && ok + failed < sizeof(lat) / sizeof(lat[0])) {
		double t0 = now_ms();
		mmio_client *c = NULL;
		mmio_region *r = NULL;
		uint32_t v;
		int st = mmio_connect(H.url, &c);

		if (st == MMIO_OK)
			st = mmio_open(c, "r", 0, &r);
		if (st == MMIO_OK)
			st = mmio_read32(r, 0, &v);
		mmio_close(r);
		mmio_disconnect(c);
		if (st == MMIO_OK) {
			lat[ok++] = now_ms() - t0;
		} else {
			failed++;
			if (first == MMIO_OK)
				first = st;
		}
	}
	qsort(lat, ok, sizeof(lat[0]), cmp_double);
	dprintf(3, "%u %u %.1f %.1f %d\n", ok, failed, ok ? lat[ok / 2] : 0.0,
		ok ? lat[ok - 1] : 0.0, first);
	return 0;
}

/* ---- the attacks ---- */

static int raw_connect(bool block)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (block ? 0 : SOCK_NONBLOCK), 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", H.sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		close(fd);
		return -1;
	}
	return fd;
}

static int child_storm(void)
{
	double end = now_ms() + (siege_seconds() + 30) * 1000.0; /* or until killed */

	become(1001);
	while (now_ms() < end) {
		int fd = raw_connect(false);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* Raise our own descriptor limit as far as an unprivileged account may. */
static void fd_limit_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Four processes that open connections and never speak, reopening as the
 * server drops them. */
static int child_halfopen(void)
{
	double end = now_ms() + (siege_seconds() + 30) * 1000.0; /* or until killed */

	become(1001);
	fd_limit_max();
	for (int i = 0; i < 3; i++)
		if (fork() == 0)
			break;
	static int fds[4096];
	size_t n = 0;
	while (now_ms() < end) {
		int fd = raw_connect(false);
		if (fd < 0) {
			/* Full: drop the oldest and go on. */
			if (n)
				close(fds[--n]);
			continue;
		}
		if (n == sizeof(fds) / sizeof(fds[0]))
			close(fds[--n]);
		fds[n++] = fd;
	}
	return 0;
}

/* An SP (req0) connection to the public socket, past the handshake. */
static int sp_connect(void)
{
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	uint8_t peer[8];
	int fd = raw_connect(true);

	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, hello, 8) != 8 || read(fd, peer, 8) != 8) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one request (SP frame: 0x01, u64 BE length, request id, body). */
static bool sp_send(int fd, uint32_t id, const struct proto_request *rq)
{
	uint8_t msg[13 + 256];
	size_t len = 0;

	if (proto_request_encode(rq, msg + 13, sizeof(msg) - 13, &len) != MMIO_OK)
		return false;
	uint64_t total = len + 4;
	msg[0] = 1;
	for (int i = 0; i < 8; i++)
		msg[1 + i] = (uint8_t)(total >> (56 - 8 * i));
	id |= 0x80000000u;
	for (int i = 0; i < 4; i++)
		msg[9 + i] = (uint8_t)(id >> (24 - 8 * i));
	return write(fd, msg, 13 + len) == (ssize_t)(13 + len);
}

static struct proto_request hello_request(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_HELLO };

	rq.hello.min_version = PROTO_VERSION_MIN;
	rq.hello.max_version = PROTO_VERSION_MAX;
	return rq;
}

/* Four connections, each flooding HELLOs and never reading a reply (the
 * campaign's attack: a connection the server drops stays dropped). */
static int child_hog(void)
{
	struct proto_request rq = hello_request();
	double end = now_ms() + (siege_seconds() + 30) * 1000.0; /* or until killed */
	int fds[4];
	uint32_t id = 1;

	become(1001);
	for (int i = 0; i < 4; i++) {
		struct timeval tv = { .tv_usec = 1000 };

		fds[i] = sp_connect();
		/* A full pipe must not stop the flood on the other connections. */
		if (fds[i] >= 0)
			setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (now_ms() < end) {
		bool any = false;
		for (int i = 0; i < 4; i++) {
			if (fds[i] >= 0 && !sp_send(fds[i], id++, &rq) && errno != EAGAIN &&
			    errno != EWOULDBLOCK) {
				close(fds[i]);
				fds[i] = -1;
			}
			any |= fds[i] >= 0;
		}
		if (!any)
			usleep(10 * 1000);
	}
	return 0;
}

/* Four processes, each in a loop: connect, flood HELLOs without reading a
 * reply until the socket is full (1 ms), keep the connection a while (the
 * last four are held), then close it. A close while the server still has
 * replies to send and requests to read is what wedged nng 1.5.2's reaper
 * (tests/BAD_INPUTS.md, H13). */
static int child_reconnect(void)
{
	struct proto_request rq = hello_request();
	double end = now_ms() + (siege_seconds() + 30) * 1000.0; /* or until killed */
	int held[4] = { -1, -1, -1, -1 };
	unsigned next = 0;
	uint32_t id = 1;

	become(1001);
	for (int i = 0; i < 3; i++)
		if (fork() == 0)
			break;
	while (now_ms() < end) {
		struct timeval tv = { .tv_usec = 1000 };
		int fd = sp_connect();

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		for (double stop = now_ms() + 50; now_ms() < stop && sp_send(fd, id++, &rq);)
			;
		if (held[next] >= 0)
			close(held[next]);
		held[next] = fd;
		next = (next + 1) % 4;
	}
	return 0;
}

/* HELLO-only sessions, 300 tries, all held open (the campaign's attack;
 * one that reconnects in a loop is another, see tests/BAD_INPUTS.md). */
static int child_sessions(void)
{
	struct proto_request rq = hello_request();
	double end = now_ms() + (siege_seconds() + 30) * 1000.0; /* or until killed */
	static int fds[300];
	size_t n = 0;

	become(1001);
	fd_limit_max();
	while (n < sizeof(fds) / sizeof(fds[0]) && now_ms() < end) {
		int fd = sp_connect();
		if (fd >= 0 && !sp_send(fd, 1, &rq)) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0)
			fds[n++] = fd;
	}
	while (now_ms() < end)
		usleep(100 * 1000);
	return 0;
}

static void *poll_forever(void *arg)
{
	mmio_region *r = arg;

	for (;;)
		mmio_poll32(r, 0, 0xffffffffu, 0x5a5a5a5a, 60u * 1000 * 1000, NULL);
	return NULL;
}

/* A granted uid: 4 clients, each with 32 threads in POLLs that never match. */
static int child_polls(void)
{
	become(1002);
	for (int i = 0; i < 3; i++)
		if (fork() == 0)
			break;
	mmio_client *c;
	mmio_region *r;
	if (mmio_connect(H.url, &c) != MMIO_OK || mmio_open(c, "r", 0, &r) != MMIO_OK)
		return 1;
	for (int i = 0; i < 32; i++) {
		pthread_t t;
		pthread_create(&t, NULL, poll_forever, r);
	}
	sleep((unsigned)siege_seconds() + 30); /* or until killed */
	_exit(0);
}

/* uid 1001 knocks at uid 1000's door: 0 if the kernel refuses it. */
static int child_knock(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	become(1001);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s.d/u1000", H.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 2;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return 1;
	return errno == EACCES ? 0 : 3;
}

/* uid 1001, granted nothing: a raw HELLO is never answered (the server
 * closes the connection at its handshake), and libmmio says why at once.
 * Reports "status seconds hangup message" on fd 3. */
static int child_stranger(void)
{
	struct proto_request rq = hello_request();
	mmio_client *c = NULL;
	uint8_t byte;
	int fd;

	become(1001);
	fd = sp_connect();
	/* Connected and past the handshake, or refused before it: either way,
	 * no byte of the HELLO is ever answered. */
	bool hangup = fd < 0 || !sp_send(fd, 1, &rq) || read(fd, &byte, 1) <= 0;
	if (fd >= 0)
		close(fd);
	double t0 = now_ms();
	int st = mmio_connect(H.url, &c);
	mmio_disconnect(c);
	dprintf(3, "%d %.2f %d %s\n", st, (now_ms() - t0) / 1000.0, hangup, mmio_connect_error());
	return 0;
}

int harness_child_main(const char *role)
{
	static const struct {
		const char *name;
		int (*run)(void);
	} roles[] = {
		{ "victim", child_victim },	  { "storm", child_storm },
		{ "halfopen", child_halfopen },	  { "hog", child_hog },
		{ "sessions", child_sessions },	  { "polls", child_polls },
		{ "reconnect", child_reconnect }, { "knock", child_knock },
		{ "stranger", child_stranger },
	};

	/* Every process of an attack is killed with its group; a server that
	 * drops an attacker's connection must not end the attack. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].run();
	return 99;
}

/* ---- the test ---- */

struct server_use {
	double cpu_percent;
	unsigned long rss_kib;
	unsigned fds_max;
};

static unsigned long long server_ticks(void)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)H.server);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			       &st);
	}
	fclose(f);
	return ut + st;
}

static unsigned server_fds(void)
{
	char cmd[96];
	unsigned n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)H.server);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%u", &n) != 1)
			n = 0;
		pclose(p);
	}
	return n;
}

static unsigned long server_rss_kib(void)
{
	char path[64], line[256];
	unsigned long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)H.server);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void setup(void)
{
	struct rlimit saved, rl;

	ck_assert_msg(geteuid() == 0, "this suite runs clients as uids 1000-1002: run it as root");
	harness_init();
	harness_policy(policy);
	/* The server inherits systemd's default soft limit, 1024 (its hard
	 * limit stays as it is here: systemd's is 524288). */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	harness_server_start();
	setrlimit(RLIMIT_NOFILE, &saved);
}

static void teardown(void)
{
	harness_cleanup();
}

/* Run @attack while the victim loops; check and print what it saw. */
static void siege(const char *attack)
{
	char line[128];
	unsigned ok = 0, failed = 0;
	double median = 0, max = 0;
	int first = 0, report;
	struct server_use use = { 0 };
	long hz = sysconf(_SC_CLK_TCK);

	unsigned before = server_fds(), after = 0;
	pid_t attacker = harness_spawn(attack, NULL);
	usleep(500 * 1000); /* let the attack reach full speed */
	unsigned long long t0 = server_ticks();
	double w0 = now_ms();
	pid_t victim = harness_spawn("victim", &report);
	for (;;) {
		unsigned fds = server_fds();
		use.fds_max = fds > use.fds_max ? fds : use.fds_max;
		if (waitpid(victim, NULL, WNOHANG) == victim)
			break;
		usleep(100 * 1000);
	}
	use.cpu_percent =
		(double)(server_ticks() - t0) * 100.0 / (double)hz / ((now_ms() - w0) / 1000.0);
	use.rss_kib = server_rss_kib();
	/* The attack ran to the end (an attacker that could not start would
	 * make every figure above meaningless). */
	ck_assert_msg(waitpid(attacker, NULL, WNOHANG) == 0, "%s: the attacker was gone early",
		      attack);
	/* Stopped first, killed once the server has read what it sent: a
	 * granted client that dies in the middle of a stream of requests can
	 * still wedge nng 1.5.2's reaper (tests/BAD_INPUTS.md, H13, the part
	 * still open), and then the descriptor check below measures nng, not
	 * this attack. (A stranger's connections are never read: the
	 * reconnect attack dies in mid-stream on every loop.) */
	kill(-attacker, SIGSTOP);
	usleep(300 * 1000);
	kill(-attacker, SIGKILL);
	kill(attacker, SIGKILL);
	waitpid(attacker, NULL, 0);
	/* What the attack held is given back: no stalled listener, stuck
	 * connection or session outlives it for long. */
	for (int i = 0; i < 100 && (after = server_fds()) > before + 4; i++)
		usleep(100 * 1000);
	/* (nng 1.5.2 keeps some connections of the listeners a storm stalled
	 * and the guard closed: at most 64, listener.c.) */
	FILE *f = fdopen(report, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_int_eq(sscanf(line, "%u %u %lf %lf %d", &ok, &failed, &median, &max, &first), 5);
	fprintf(stderr,
		"siege %-8s victim: %u ok, %u failed (first: %s), median %.1f ms, max %.1f ms; "
		"server: CPU %.0f%%, RSS %lu KiB, at most %u descriptors (%u before, %u after)\n",
		attack, ok, failed, first ? mmio_status_name(first) : "-", median, max,
		use.cpu_percent, use.rss_kib, use.fds_max, before, after);
	if (failed)
		harness_log_tail(40);
	ck_assert_msg(failed == 0, "%s: the victim failed %u times (first: %s)", attack, failed,
		      mmio_status_name(first));
	ck_assert_uint_gt(ok, 10);
	ck_assert_msg(median < SIEGE_MEDIAN_MS, "%s: the victim's median was %.1f ms", attack,
		      median);
	/* (A storm may fill the descriptor table for a moment: nng frees a
	 * refused connection's descriptor later than it accepts the next.
	 * What counts is that the victim never failed.) */
	if (after > before + 64 + 4) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd),
			 "ss -xp | grep 'pid=%d,' | awk '{print $2, $5}' | sort | uniq -c >&2",
			 (int)H.server);
		if (system(cmd) != 0)
			fprintf(stderr, "(no ss)\n");
		harness_log_tail(10);
	}
	ck_assert_msg(after <= before + 64 + 4,
		      "%s: the server holds %u descriptors 10 s after, %u before", attack, after,
		      before);
	/* The server is still there for everyone. */
	ck_assert_int_eq(kill(H.server, 0), 0);
}

START_TEST(connect_close_storm)
{
	siege("storm");
}
END_TEST

START_TEST(half_open_connections)
{
	siege("halfopen");
}
END_TEST

START_TEST(replies_never_read)
{
	siege("hog");
}
END_TEST

START_TEST(hello_only_sessions)
{
	siege("sessions");
}
END_TEST

START_TEST(reconnecting_flood)
{
	siege("reconnect");
}
END_TEST

START_TEST(waiting_polls_of_a_granted_uid)
{
	siege("polls");
}
END_TEST

/* Only the accounts the policy names get a door, and only they can use it. */
START_TEST(doors_follow_the_policy)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s.d/u1000", H.sock);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_uid, 1000);
	ck_assert_uint_eq(st.st_gid, getegid()); /* the server's: its watchdog probes it */
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	snprintf(path, sizeof(path), "%s.d/u1002", H.sock);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s.d/u1001", H.sock);
	ck_assert_int_ne(stat(path, &st), 0);
	/* The kernel keeps uid 1001 out of uid 1000's door. */
	int status;
	pid_t knock = harness_spawn("knock", NULL);
	ck_assert_int_eq(waitpid(knock, &status, 0), knock);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "uid 1001 at uid 1000's door: status 0x%x", status);

	/* A reload that drops uid 1002 closes its door. */
	harness_policy(POLICY_VICTIM "  - name: team\n"
				     "    gid: 1003\n"
				     "    grants:\n"
				     "      - { region: r, access: r, ops: [once] }\n");
	harness_server_signal(SIGHUP);
	char dropped[128];
	snprintf(path, sizeof(path), "%s.d/g1003", H.sock);
	snprintf(dropped, sizeof(dropped), "%s.d/u1002", H.sock);
	for (int i = 0; i < 100 && (stat(path, &st) != 0 || access(dropped, F_OK) == 0); i++)
		usleep(50 * 1000);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_gid, 1003);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	ck_assert_int_ne(access(dropped, F_OK), 0);
}
END_TEST

/* An account the policy grants nothing never gets a byte read by nng
 * (H13): its connections are closed at their handshake, and libmmio tells
 * it so at once instead of retrying for the whole budget. */
START_TEST(an_account_without_a_grant_is_refused_at_once)
{
	char line[512], why[400] = "";
	int report, status, hangup = 0;
	double seconds = 0;
	pid_t pid = harness_spawn("stranger", &report);
	FILE *f = fdopen(report, "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_ge(sscanf(line, "%d %lf %d %399[^\n]", &status, &seconds, &hangup, why), 3);
	ck_assert_msg(hangup, "the server answered a request of an account it grants nothing");
	ck_assert_msg(status == MMIO_EACCES, "mmio_connect gave %s", mmio_status_name(status));
	ck_assert_msg(seconds < 3.0, "refused after %.1f s", seconds);
	ck_assert_msg(strstr(why, "uid 1001") && strstr(why, "grants this account nothing"),
		      "mmio_connect_error(): %s", why);
}
END_TEST

/*
 * A stalled nng 1.5.2 listener keeps the connections that finished their
 * handshake while it was stalled, even once closed. Stall the public socket
 * again and again (one raw connect+close is enough): what the closed
 * listeners keep stays under a bound, past which the public socket stays
 * closed, and a driver still gets in through its door.
 */
START_TEST(repeated_stalls_leak_a_bounded_number_of_descriptors)
{
	unsigned before = server_fds(), most = before;

	for (int round = 0; round < 40 && !harness_log_contains("stays closed"); round++) {
		unsigned repairs = harness_log_count("accept stalled");
		int fd = raw_connect(true);

		if (fd >= 0)
			close(fd);
		for (int i = 0; i < 30 && harness_log_count("accept stalled") == repairs &&
				!harness_log_contains("stays closed");
		     i++)
			usleep(100 * 1000);
		unsigned now = server_fds();
		most = now > most ? now : most;
	}
	fprintf(stderr, "stalls: %u repairs, descriptors %u before, at most %u\n",
		harness_log_count("accept stalled"), before, most);
	ck_assert_msg(harness_log_contains("stays closed"),
		      "the public socket was repaired %u times without a bound",
		      harness_log_count("accept stalled"));
	/* 64 held by the closed listeners (a sixteenth of the limit,
	 * listener.c), and those of the repair in progress: its connection,
	 * and the watchdog's probes (two a round, a few more when the machine
	 * is busy and the stall takes longer to see). */
	ck_assert_uint_le(most, before + 64 + 16);

	/* The driver's door is another listener: unaffected. */
	int report;
	unsigned ok = 0, failed = 1;
	const char *was = getenv("MMIO_SIEGE_S");
	char saved[16];
	snprintf(saved, sizeof(saved), "%s", was ? was : "");
	setenv("MMIO_SIEGE_S", "1", 1);
	pid_t victim = harness_spawn("victim", &report);
	if (saved[0])
		setenv("MMIO_SIEGE_S", saved, 1);
	else
		unsetenv("MMIO_SIEGE_S");
	ck_assert_int_eq(waitpid(victim, NULL, 0), victim);
	FILE *f = fdopen(report, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%u %u", &ok, &failed), 2);
	fclose(f);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_gt(ok, 10);
}
END_TEST

static Suite *siege_suite(void)
{
	Suite *s = suite_create("siege");
	TCase *tc = tcase_create("siege");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 150);
	tcase_add_test(tc, doors_follow_the_policy);
	tcase_add_test(tc, an_account_without_a_grant_is_refused_at_once);
	tcase_add_test(tc, connect_close_storm);
	tcase_add_test(tc, half_open_connections);
	tcase_add_test(tc, replies_never_read);
	tcase_add_test(tc, hello_only_sessions);
	tcase_add_test(tc, reconnecting_flood);
	tcase_add_test(tc, waiting_polls_of_a_granted_uid);
	tcase_add_test(tc, repeated_stalls_leak_a_bounded_number_of_descriptors);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, siege_suite);
}
