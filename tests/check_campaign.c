/* SPDX-License-Identifier: MIT */
/*
 * Fault campaigns while the load test runs (bench/mmio-load.c: client
 * processes whose every result is checked against a model). Each case
 * starts a load, hits the server from the side a thousand ways, and then
 * requires: the load saw no mismatch and no unexpected status, the server
 * still serves a new client, and nothing is left open (STATS: 0 handles,
 * 0 buffers, 0 mappings).
 */
#include "server_harness.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOAD_WORKERS 4
#define LOAD_OPS     6000

static const char policy[] =
	"version: 1\n"
	"server:\n"
	"  listen: \"%SOCK%\"\n"
	"  socket_mode: \"0666\"\n"
	"regions:\n"
	"  - { name: private, sim: true, size: 64KiB }\n"
	"  - { name: shared, sim: true, size: 4KiB }\n"
	"  - { name: victim, sim: true, size: 64KiB }\n"
	"clients:\n"
	"  - name: root\n"
	"    uid: 0\n"
	"    grants:\n"
	"      - { region: private, access: rw, ops: [once, bulk, fill, poll, map] }\n"
	"      - { region: shared, access: rw, ops: [once, bulk] }\n"
	"      - { region: victim, access: rw, ops: [once, bulk, fill, poll, map] }\n";

static struct rawc C;

static void setup(void)
{
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

/* mmio-load in the background, its output to @out_path. */
static pid_t load_start(const char *out_path)
{
	char workers[16], ops[16];
	pid_t pid;

	snprintf(workers, sizeof(workers), "%d", LOAD_WORKERS);
	snprintf(ops, sizeof(ops), "%d", LOAD_OPS);
	pid = fork();
	if (pid == 0) {
		/* Only exec-safe calls between fork and exec: nng runs here. */
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(98);
		execl(MMIO_LOAD_BIN, "mmio-load", "-s", H.url, "--workers", workers, "--ops", ops,
		      (char *)NULL);
		_exit(127);
	}
	/* Checked here, not before the branch: a check in the child would write
	 * into Check's message file, and a child killed mid-write tears it. */
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* The load ended clean: exit 0 and the summary line says so. */
static void load_finish(pid_t pid, const char *out_path)
{
	char text[4096] = "";
	int status;
	FILE *f;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	f = fopen(out_path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !strstr(text, "mismatches 0, unexpected statuses 0"))
		fprintf(stderr, "--- mmio-load's output:\n%s---\n", text);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "mmio-load: status 0x%x (its output is above)", status);
	ck_assert(strstr(text, "mismatches 0, unexpected statuses 0"));
}

/* A new client is served (a listener stalled by nng 1518 is repaired
 * within about a second). */
static void new_client_served(void)
{
	struct proto_request rq = { .opcode = PROTO_OP_HELLO };
	struct proto_reply rep;
	struct rawc fresh;
	int tries = 0, status = MMIO_ECONN;

	rq.hello.min_version = 1;
	rq.hello.max_version = 1;
	while (status != MMIO_OK && tries++ < 10) {
		rawc_open(&fresh);
		nng_socket_set_ms(fresh.s, NNG_OPT_RECVTIMEO, 1000);
		status = rawc_call(&fresh, &rq, &rep);
		if (status == MMIO_OK)
			status = rep.status;
		rawc_close(&fresh);
	}
	ck_assert_msg(status == MMIO_OK, "no new client served after %d tries", tries);
}

/* After the campaign: a new client is served, and nothing is left open. */
static void server_clean(void)
{
	new_client_served();
	for (int i = 0; i < 300 && rawc_stat(&C, PROTO_STAT_HANDLES) != 0; i++)
		usleep(10000);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_HANDLES), 0);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_MAPPINGS), 0);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_BUFFERS), 0);
}

/* Wait until the load's clients are all connected: a client killed while
 * it connects stalls an nng 1.5.2 listener (issue 1518) until the server
 * repairs it, which would only delay the load's own connections, but the
 * load has a budget. */
static void load_connected(void)
{
	for (int i = 0; i < 1000 && rawc_stat(&C, PROTO_STAT_CLIENTS) < LOAD_WORKERS + 1; i++)
		usleep(10000);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_CLIENTS), LOAD_WORKERS + 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1,000 clients killed with SIGKILL at random points of their work (before,
 * during and after connecting, mid-copy, holding a direct mapping), while
 * the load runs. They read the load's regions and write one of their own. */
START_TEST(thousand_clients_killed_at_random_points)
{
	char out[128];
	unsigned seed = 12345;
	pid_t load;

	snprintf(out, sizeof(out), "%s/load.out", H.dir);
	load = load_start(out);
	load_connected();
	for (int i = 0; i < 1000; i++) {
		pid_t victim = fork();

		if (victim == 0) {
			int null = open("/dev/null", O_WRONLY);
			if (null < 0 || dup2(null, STDOUT_FILENO) < 0 ||
			    dup2(null, STDERR_FILENO) < 0)
				_exit(98);
			/* Copies and polls that keep a request in the server. */
			static const char *const jobs[] = { "dump", "fill", "save" };
			const char *job = jobs[i % 3];
			if (strcmp(job, "dump") == 0)
				execl(MMIO_MMIOCTL_BIN, "mmioctl", "-s", H.url, "dump", "private",
				      "0", "65536", (char *)NULL);
			else if (strcmp(job, "fill") == 0)
				execl(MMIO_MMIOCTL_BIN, "mmioctl", "-s", H.url, "-d", "fill",
				      "victim", "0", "65536", "0", (char *)NULL);
			else
				execl(MMIO_MMIOCTL_BIN, "mmioctl", "-s", H.url, "save", "shared",
				      "0", "4096", "/dev/null", (char *)NULL);
			_exit(127);
		}
		/* Checked here, not before the branch: a check in the child would write
		 * into Check's message file, and a child killed mid-write tears it. */
		ck_assert_int_gt(victim, 0);
		seed = seed * 1103515245u + 12345u;
		usleep((seed >> 8) % 4000);
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
	}
	load_finish(load, out);
	server_clean();
}
END_TEST

/* 1,000 raw connect()+close() on the socket (each can stall an nng 1.5.2
 * listener, upstream issue 1518) interleaved with real clients. */
START_TEST(thousand_raw_connects_between_real_clients)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char out[128];
	pid_t load;

	snprintf(out, sizeof(out), "%s/load.out", H.dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", H.sock);
	load = load_start(out);
	load_connected();
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		ck_assert_int_ge(fd, 0);
		/* The socket may be between two listeners: that is fine. */
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
			usleep(1000);
		close(fd);
		if (i % 100 == 0)
			new_client_served();
	}
	load_finish(load, out);
	server_clean();
}
END_TEST

/* 100 reloads, valid and broken alternating, while the load runs: the
 * grants do not change, so no handle is revoked and no result is wrong. */
START_TEST(hundred_reloads_under_load)
{
	char out[128];
	uint64_t reloads = rawc_stat(&C, PROTO_STAT_RELOADS);
	uint64_t failures = rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES);
	double t0 = now_s();
	pid_t load;

	snprintf(out, sizeof(out), "%s/load.out", H.dir);
	load = load_start(out);
	for (int i = 0; i < 100; i++) {
		bool broken = i % 2;

		harness_policy(broken ? "version: 1\nregions:\n  - name: x\n    sim: true\n"
					"    size: 12junk\n"
				      : policy);
		harness_server_signal(SIGHUP);
		/* Wait for this one to be taken (a file change may add another). */
		for (int w = 0; w < 500; w++) {
			uint64_t now = broken ? rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES)
					      : rawc_stat(&C, PROTO_STAT_RELOADS);
			if (now > (broken ? failures : reloads))
				break;
			usleep(2000);
		}
		if (broken)
			failures = rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES);
		else
			reloads = rawc_stat(&C, PROTO_STAT_RELOADS);
	}
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_RELOADS), 50);
	ck_assert_uint_ge(rawc_stat(&C, PROTO_STAT_RELOAD_FAILURES), 50);
	ck_assert_uint_eq(rawc_stat(&C, PROTO_STAT_REVOKED), 0);
	load_finish(load, out);
	server_clean();
	fprintf(stderr, "check_campaign: 100 reloads under load in %.1f s\n", now_s() - t0);
}
END_TEST

int harness_child_main(const char *role)
{
	(void)role;
	return 99;
}

static Suite *campaign_suite(void)
{
	Suite *s = suite_create("campaign");
	TCase *tc = tcase_create("under-load");

	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, thousand_clients_killed_at_random_points);
	tcase_add_test(tc, thousand_raw_connects_between_real_clients);
	tcase_add_test(tc, hundred_reloads_under_load);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv, campaign_suite);
}
