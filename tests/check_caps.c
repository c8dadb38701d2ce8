/* SPDX-License-Identifier: MIT */
/*
 * The per-uid and global caps of the server (limits.*) against hostile
 * local users: raw SP clients of another uid hold sessions, request
 * contexts and waiting polls as hard as they can, while a victim of a
 * granted uid connects, opens and reads in a loop. The victim must succeed
 * every time, promptly; STATS must show what is held and refused; the log
 * must not grow with the attack.
 */
#include "server_harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VICTIM_UID  1000 /* granted: connect + open + read32 */
#define HOSTILE_UID 1001 /* in no grant */
#define POLLER_UID  1002 /* granted polls on a register that never matches */
#define VICTIM_S    3	 /* seconds of victim loop per attack */
#define CONNECTIONS 4
#define PER_CONN    32
#define MEDIAN_MS   200 /* the bug gives about a second */

static const char policy[] = "version: 1\n"
			     "server:\n"
			     "  listen: \"%SOCK%\"\n"
			     "  socket_mode: \"0666\"\n"
			     "  limits:\n"
			     "    max_poll_us: 20000000\n"
			     "    ungranted_sessions: 2 # served, so that their caps are tried\n"
			     "regions:\n"
			     "  - { name: victim, sim: true, size: 4KiB }\n"
			     "  - { name: polled, sim: true, size: 4KiB }\n"
			     "clients:\n"
			     "  - name: root\n"
			     "    uid: 0\n"
			     "    grants:\n"
			     "      - { region: victim, access: r, ops: [once] }\n"
			     "  - name: victim\n"
			     "    uid: 1000\n"
			     "    grants:\n"
			     "      - { region: victim, access: rw, ops: [once] }\n"
			     "  - name: poller\n"
			     "    uid: 1002\n"
			     "    grants:\n"
			     "      - { region: polled, access: r, ops: [once, poll] }\n";

static struct rawc C;

static void setup(void)
{
	ck_assert_msg(geteuid() == 0, "this suite runs clients as other uids: run it as root");
	harness_init();
	harness_policy(policy);
	harness_server_start();
	rawc_open(&C);
}

static void teardown(void)
{
	rawc_close(&C);
	harness_cleanup();
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- raw SP connections (no nng: the attackers misbehave) ---- */

/* Connect and exchange the SP header (req0); -1 if the server is not there. */
static int raw_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	uint8_t header[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 }, theirs[8];
	struct pollfd p;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", H.sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    write(fd, header, 8) != 8)
		goto fail;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 1000) != 1 || read(fd, theirs, 8) != 8)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Send @rq as request @id; false if it could not be written whole now. */
static bool raw_send(int fd, uint32_t id, const struct proto_request *rq)
{
	uint8_t frame[128];
	size_t body = 0;

	if (proto_request_encode(rq, frame + 13, sizeof(frame) - 13, &body) != MMIO_OK)
		return false;
	frame[0] = 1;
	for (int i = 0; i < 8; i++)
		frame[1 + i] = (uint8_t)((4 + body) >> (8 * (7 - i)));
	id |= 0x80000000u;
	frame[9] = (uint8_t)(id >> 24), frame[10] = (uint8_t)(id >> 16);
	frame[11] = (uint8_t)(id >> 8), frame[12] = (uint8_t)id;
	return send(fd, frame, 13 + body, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)(13 + body);
}

/* Read one reply within @ms into @rep (decoded from @buf). */
static bool raw_recv(int fd, int ms, struct proto_reply *rep, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0, need = 9;

	while (got < need) {
		if (poll(&p, 1, ms) != 1)
			return false;
		ssize_t n = read(fd, buf + got, need - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
		if (got == 9 && need == 9) {
			uint64_t len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | buf[1 + i];
			if (len < 4 || len > cap - 9)
				return false;
			need = 9 + (size_t)len;
		}
	}
	return proto_reply_decode(buf + 13, need - 13, rep) == MMIO_OK;
}

static void become(uid_t uid)
{
	if (setgid(uid) != 0 || setuid(uid) != 0)
		_exit(10);
}

static void say_ready(void)
{
	if (write(3, "r", 1) != 1)
		_exit(11);
}

static const struct proto_request hello = {
	.opcode = PROTO_OP_HELLO,
	.hello = { .min_version = 1, .max_version = 1 },
};

/* ---- the attackers (child processes) ---- */

/* Defect 2: connections that send requests as fast as the server takes
 * them and never read a reply. */
static int attack_never_read(void)
{
	int fds[CONNECTIONS];
	uint32_t id = 1;

	become(HOSTILE_UID);
	for (int i = 0; i < CONNECTIONS; i++)
		fds[i] = raw_connect();
	for (int i = 0; i < CONNECTIONS; i++)
		for (int n = 0; n < PER_CONN && fds[i] >= 0; n++)
			raw_send(fds[i], id++, &hello);
	say_ready();
	while (getppid() != 1) { /* until killed, or orphaned */
		for (int i = 0; i < CONNECTIONS; i++)
			while (fds[i] >= 0 && raw_send(fds[i], id++, &hello))
				;
		usleep(1000);
	}
	return 0;
}

/* Defect 5: HELLO-only sessions, up to and past max_sessions, and more
 * tried all the time. */
static int attack_sessions(void)
{
	uint8_t buf[256];
	struct proto_reply rep;
	int held = 0;

	become(HOSTILE_UID);
	for (int attempt = 0; getppid() != 1; attempt++) {
		int fd = raw_connect();

		if (fd >= 0 && raw_send(fd, 1, &hello) &&
		    raw_recv(fd, 1000, &rep, buf, sizeof(buf)))
			held++; /* kept open */
		else if (fd >= 0)
			close(fd);
		if (attempt == 80)
			say_ready();
		if (attempt >= 80)
			usleep(2000);
	}
	return held > 0 ? 0 : 13;
}

/* Defect 7: connections full of polls that never match, each answer
 * followed at once by another poll. */
static int attack_polls(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct pollfd p[CONNECTIONS];
	uint32_t handles[CONNECTIONS];
	struct proto_reply rep;
	uint8_t buf[256];
	uint32_t id = 1;

	become(POLLER_UID);
	snprintf(rq.open.name, sizeof(rq.open.name), "polled");
	rq.open.length = PROTO_LEN_TO_END;
	for (int i = 0; i < CONNECTIONS; i++) {
		struct proto_request poll_rq = { .opcode = PROTO_OP_POLL };

		p[i] = (struct pollfd){ .fd = raw_connect(), .events = POLLIN };
		if (p[i].fd < 0 || !raw_send(p[i].fd, id++, &rq) ||
		    !raw_recv(p[i].fd, 2000, &rep, buf, sizeof(buf)) || rep.status != MMIO_OK)
			return 12;
		handles[i] = rep.open.handle;
		poll_rq.poll = (struct proto_poll_req){ handles[i], 4, 0, 0xF, 0x10, 10000000 };
		for (int n = 0; n < PER_CONN; n++)
			raw_send(p[i].fd, id++, &poll_rq);
	}
	say_ready();
	while (getppid() != 1) {
		if (poll(p, CONNECTIONS, 1000) <= 0)
			continue;
		for (int i = 0; i < CONNECTIONS; i++) {
			struct proto_request poll_rq = { .opcode = PROTO_OP_POLL };

			if (!(p[i].revents & POLLIN) ||
			    !raw_recv(p[i].fd, 100, &rep, buf, sizeof(buf)))
				continue;
			poll_rq.poll =
				(struct proto_poll_req){ handles[i], 4, 0, 0xF, 0x10, 10000000 };
			raw_send(p[i].fd, id++, &poll_rq);
		}
	}
	return 0;
}

/* ---- the victim ---- */

/* One connect + open + read32 + close, through nng as libmmio would. */
static bool victim_once(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;
	struct rawc c = { 0 };
	bool ok = false;

	if (nng_req0_open(&c.s) != 0)
		return false;
	nng_socket_set_ms(c.s, NNG_OPT_RECVTIMEO, 2000);
	nng_socket_set_ms(c.s, NNG_OPT_SENDTIMEO, 2000);
	snprintf(rq.open.name, sizeof(rq.open.name), "victim");
	rq.open.length = PROTO_LEN_TO_END;
	/* Through its own door, as libmmio goes: the attacks here are at the
	 * public socket (a listener they stall there is repaired, but a call
	 * caught in it would wait for its timeout). */
	char door[sizeof(H.sock) + 16];
	snprintf(door, sizeof(door), "ipc://%s.d/u%d", H.sock, VICTIM_UID);
	if (nng_dial(c.s, door, NULL, 0) == 0 && rawc_call(&c, &rq, &rep) == MMIO_OK &&
	    rep.status == MMIO_OK) {
		struct proto_request rd = { .opcode = PROTO_OP_READ_ONCE };

		rd.read_once = (struct proto_read_once_req){ rep.open.handle, 4, 0 };
		ok = rawc_call(&c, &rd, &rep) == MMIO_OK && rep.status == MMIO_OK;
	}
	rawc_close(&c);
	return ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Loop for VICTIM_S seconds; report "iterations failures median max" on fd 3. */
static int victim(void)
{
	static double ms[100000];
	char line[128];
	int n = 0, failures = 0;
	double end;

	become(VICTIM_UID);
	end = now_ms() + VICTIM_S * 1000.0;
	while (now_ms() < end && n < 100000) {
		double t0 = now_ms();

		if (!victim_once())
			failures++;
		ms[n++] = now_ms() - t0;
	}
	qsort(ms, (size_t)n, sizeof(ms[0]), cmp_double);
	int len = snprintf(line, sizeof(line), "%d %d %.2f %.2f\n", n, failures, ms[n / 2],
			   ms[n - 1]);
	return write(3, line, (size_t)len) == len ? 0 : 12;
}

int harness_child_main(const char *role)
{
	if (strcmp(role, "never-read") == 0)
		return attack_never_read();
	if (strcmp(role, "sessions") == 0)
		return attack_sessions();
	if (strcmp(role, "polls") == 0)
		return attack_polls();
	if (strcmp(role, "victim") == 0)
		return victim();
	return 99;
}

/* ---- the tests ---- */

struct figures {
	int iterations, failures;
	double median_ms, max_ms;
};

/* Read what a child wrote on its fd 3 within @ms (NUL-terminated). */
static size_t child_says(int fd, int ms, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got + 1 < cap && poll(&p, 1, ms) == 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (buf[got - 1] == '\n' || buf[0] == 'r')
			break;
	}
	buf[got] = '\0';
	return got;
}

/* Start attacker @role and wait until it says it is in place. */
static pid_t attack_start(const char *role)
{
	char buf[8];
	int fd;
	pid_t pid = harness_spawn(role, &fd);

	ck_assert_msg(child_says(fd, 15000, buf, sizeof(buf)) == 1,
		      "attacker %s did not get in place", role);
	close(fd);
	return pid;
}

static void attack_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static double server_cpu_s(void)
{
	char path[64], text[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)H.server);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char *p = strrchr(text, ')');
	ck_assert_ptr_nonnull(p);
	/* Fields 14 and 15 (utime, stime) are the 12th and 13th after ") ". */
	ck_assert_int_eq(
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Run the victim to its end; its figures, printed for the record. */
static struct figures victim_run(const char *attack)
{
	struct figures f = { 0 };
	char line[128];
	int fd, status;
	pid_t pid = harness_spawn("victim", &fd);

	ck_assert(child_says(fd, (VICTIM_S + 20) * 1000, line, sizeof(line)) > 0);
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "victim status 0x%x", status);
	ck_assert_int_eq(
		sscanf(line, "%d %d %lf %lf", &f.iterations, &f.failures, &f.median_ms, &f.max_ms),
		4);
	fprintf(stderr,
		"check_caps: %s: victim %d iterations, %d failed, median %.2f ms, max %.2f ms\n",
		attack, f.iterations, f.failures, f.median_ms, f.max_ms);
	return f;
}

static void victim_served(const struct figures *f)
{
	ck_assert_int_gt(f->iterations, 0);
	ck_assert_msg(f->failures == 0, "%d of %d victim iterations failed", f->failures,
		      f->iterations);
	ck_assert_msg(f->median_ms < MEDIAN_MS, "victim median %.1f ms", f->median_ms);
}

/* Lines of the server's log that contain @needle (copied to stderr if
 * there are more than @quiet of them, for the failure). */
static int log_lines(const char *needle, int quiet)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(H.log, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (n > quiet) {
		rewind(f);
		while (fgets(line, sizeof(line), f))
			if (strstr(line, needle))
				fprintf(stderr, "server log: %s", line);
	}
	fclose(f);
	return n;
}

/* Defect 2: four connections of a uid without a grant that never read. */
START_TEST(never_reading_connections_do_not_starve_another_uid)
{
	pid_t attacker = attack_start("never-read");
	usleep(300000);
	struct figures f = victim_run("never-read");
	uint64_t held = rawc_stat(&C, PROTO_STAT_REQUESTS_HELD);
	uint64_t refused = rawc_stat(&C, PROTO_STAT_REQUESTS_REFUSED);

	attack_stop(attacker);
	victim_served(&f);
	/* The ungranted uid holds at most 2 requests and 4 unsent refusals;
	 * this STATS request is one more. */
	ck_assert_uint_le(held, 2 + 1);
	ck_assert_uint_gt(refused, 0);
	ck_assert_int_le(log_lines("<4>uid 1001 pid", 1), 1);
}
END_TEST

/* Defect 5: HELLO-only sessions of a uid without a grant, past max_sessions. */
START_TEST(session_flood_leaves_sessions_to_others_and_the_watchdog)
{
	pid_t attacker = attack_start("sessions");
	struct figures f = victim_run("sessions");
	/* The attacker's sessions as they stand: the fewest seen over 2 s, so
	 * that the watchdog's probe or the victim's last session, still being
	 * taken down, are not counted as the attacker's. */
	uint64_t clients = rawc_stat(&C, PROTO_STAT_CLIENTS);
	for (int i = 0; i < 20 && clients > 3; i++) {
		usleep(100 * 1000);
		uint64_t now = rawc_stat(&C, PROTO_STAT_CLIENTS);
		clients = now < clients ? now : clients;
	}

	attack_stop(attacker);
	/* Connections the attacker left in the backlog are still refused for
	 * a moment, each counted then warned (or suppressed): read once the
	 * count stands still. */
	uint64_t refused = rawc_stat(&C, PROTO_STAT_SESSIONS_REFUSED), was;
	do {
		was = refused;
		usleep(200 * 1000);
		refused = rawc_stat(&C, PROTO_STAT_SESSIONS_REFUSED);
	} while (refused != was);
	uint64_t suppressed = rawc_stat(&C, PROTO_STAT_WARNINGS_SUPPRESSED);
	victim_served(&f);
	/* limits.ungranted_sessions (2) of uid 1001, and ours. */
	ck_assert_uint_le(clients, 3);
	ck_assert_uint_ge(refused, 78);
	/* One warning line per uid per 10 s; the rest counted. */
	ck_assert_int_le(log_lines("<4>refusing client uid 1001", 1), 1);
	/* Every refusal is a line or counted as suppressed (a victim's own
	 * session can be refused once too, on a line of its own). */
	ck_assert_uint_ge(suppressed + (uint64_t)log_lines("<4>refusing client", 1), refused);
	/* The watchdog's probe, the server's own, was never refused, so it
	 * never mistook the flood for a stalled listener. */
	ck_assert_int_eq(log_lines("accept stalled", 0), 0);
	char self[64];
	snprintf(self, sizeof(self), "refusing client uid 0 pid %d ", (int)H.server);
	ck_assert_int_eq(log_lines(self, 0), 0);
}
END_TEST

/* Defect 7: four connections of never-matching polls from a granted uid. */
START_TEST(waiting_polls_are_capped_and_cheap)
{
	pid_t attacker = attack_start("polls");
	usleep(300000);
	double cpu0 = server_cpu_s(), t0 = now_ms();
	struct figures f = victim_run("polls");
	double cpu = (server_cpu_s() - cpu0) * 1000.0 / (now_ms() - t0);
	uint64_t waiting = rawc_stat(&C, PROTO_STAT_POLLS_WAITING);
	uint64_t refused = rawc_stat(&C, PROTO_STAT_POLLS_REFUSED);
	uint64_t held = rawc_stat(&C, PROTO_STAT_REQUESTS_HELD);

	attack_stop(attacker);
	fprintf(stderr, "check_caps: polls: server CPU %.0f %% of a core\n", cpu * 100);
	victim_served(&f);
	/* limits.max_polls_per_uid (32) wait; limits.max_requests_per_uid (64)
	 * held at most, and this STATS request. */
	ck_assert_uint_eq(waiting, 32);
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_le(held, 64 + 4 + 1);
	/* Everything is given back when the attacker is gone, at the latest
	 * when its polls time out (nng 1.5.2 does not always notice at once
	 * that a killed peer's connection with unread requests is gone). */
	for (int i = 0; i < 1300 && rawc_stat(&C, PROTO_STAT_POLLS_WAITING) != 0; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_POLLS_WAITING), 0);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_REQUESTS_HELD), 1);
}
END_TEST

static Suite *caps_suite(void)
{
	Suite *s = suite_create("caps");
	TCase *tc = tcase_create("hostile");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, never_reading_connections_do_not_starve_another_uid);
	tcase_add_test(tc, session_flood_leaves_sessions_to_others_and_the_watchdog);
	tcase_add_test(tc, waiting_polls_are_capped_and_cheap);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, caps_suite);
}
