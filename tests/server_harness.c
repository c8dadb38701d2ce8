/* SPDX-License-Identifier: MIT */
#include "server_harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MMIO_SERVER_BIN
#error "MMIO_SERVER_BIN must name the mmio-server executable"
#endif

struct harness H;
static int notify_fd = -1;
static bool in_child;

/* Check's assertions only work inside a running test; children use this. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (in_child) {                                                                    \
			if (!(cond)) {                                                             \
				fprintf(stderr, "harness child: %s failed\n", #cond);              \
				_exit(97);                                                         \
			}                                                                          \
		} else {                                                                           \
			ck_assert(cond);                                                           \
		}                                                                                  \
	} while (0)

void harness_init(void)
{
	snprintf(H.dir, sizeof(H.dir), "/tmp/mmio-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(H.dir));
	chmod(H.dir, 0755); /* clients running as other uids reach the socket */
	snprintf(H.policy, sizeof(H.policy), "%s/policy.yaml", H.dir);
	snprintf(H.sock, sizeof(H.sock), "%s/mmio.sock", H.dir);
	snprintf(H.url, sizeof(H.url), "ipc://%s", H.sock);
	snprintf(H.log, sizeof(H.log), "%s/server.log", H.dir);
	H.server = 0;

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(notify_fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/notify", H.dir);
	ck_assert_int_eq(bind(notify_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	setsockopt(notify_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void harness_cleanup(void)
{
	char cmd[400];

	if (H.server > 0) {
		kill(H.server, SIGKILL);
		waitpid(H.server, NULL, 0);
		H.server = 0;
	}
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", H.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: could not remove %s\n", H.dir);
}

void harness_policy(const char *yaml)
{
	char tmp[64];
	FILE *f;

	/* Write and rename, as an editor would: the server may be watching. */
	snprintf(tmp, sizeof(tmp), "%s/.policy.tmp", H.dir);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	for (const char *p = yaml; *p;) {
		const char *mark = strstr(p, "%SOCK%");
		if (!mark) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(mark - p), f);
		fputs(H.url, f);
		p = mark + 6;
	}
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, H.policy), 0);
}

static void wait_ready(void)
{
	char buf[256];
	ssize_t n;

	for (;;) {
		n = recv(notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			harness_log_tail(30); /* the log goes with the test's directory */
		ck_assert_msg(n > 0, "server did not say READY=1 within 10 s (log: %s)", H.log);
		buf[n] = '\0';
		if (strstr(buf, "READY=1"))
			return;
	}
}

void harness_server_start(void)
{
	char notify[64];
	pid_t pid;

	snprintf(notify, sizeof(notify), "%s/notify", H.dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(H.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", notify, 1);
		execl(MMIO_SERVER_BIN, "mmio-server", "-c", H.policy, "--log-level", "debug",
		      (char *)NULL);
		_exit(127);
	}
	/* Checked here, not before the branch: a check in the child would write
	 * into Check's message file, and a child killed mid-write tears it. */
	ck_assert_int_gt(pid, 0);
	H.server = pid;
	wait_ready();
}

int harness_server_stop(void)
{
	int status = -1;

	ck_assert_int_gt(H.server, 0);
	kill(H.server, SIGTERM);
	ck_assert_int_eq(waitpid(H.server, &status, 0), H.server);
	H.server = 0;
	return status;
}

void harness_server_signal(int sig)
{
	ck_assert_int_gt(H.server, 0);
	ck_assert_int_eq(kill(H.server, sig), 0);
}

unsigned harness_log_count(const char *needle)
{
	char line[2048];
	unsigned n = 0;
	FILE *f = fopen(H.log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

bool harness_log_contains(const char *needle)
{
	return harness_log_count(needle) > 0;
}

void harness_log_tail(unsigned lines)
{
	char cmd[400];

	fprintf(stderr, "--- the last %u lines of %s\n", lines, H.log);
	snprintf(cmd, sizeof(cmd), "tail -n %u '%s' >&2", lines, H.log);
	if (system(cmd) != 0)
		fprintf(stderr, "(could not read it)\n");
	fprintf(stderr, "---\n");
}

pid_t harness_spawn(const char *role, int *report)
{
	int fds[2] = { -1, -1 };
	pid_t pid;

	if (report)
		ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		if (report) {
			dup2(fds[1], 3);
			close(fds[0]);
		}
		setenv("MMIO_TEST_DIR", H.dir, 1);
		execl("/proc/self/exe", "check-child", "--child", role, (char *)NULL);
		_exit(127);
	}
	/* Checked here, not before the branch: a check in the child would write
	 * into Check's message file, and a child killed mid-write tears it. */
	ck_assert_int_gt(pid, 0);
	if (report) {
		close(fds[1]);
		*report = fds[0];
	}
	return pid;
}

int harness_child_run(const char *role)
{
	const char *dir = getenv("MMIO_TEST_DIR");

	if (!dir)
		return 98;
	in_child = true;
	snprintf(H.dir, sizeof(H.dir), "%s", dir);
	snprintf(H.sock, sizeof(H.sock), "%s/mmio.sock", H.dir);
	snprintf(H.url, sizeof(H.url), "ipc://%s", H.sock);
	/* _exit: nng threads still hold memory that LeakSanitizer would report. */
	_exit(harness_child_main(role));
}

int harness_main(int argc, char **argv, Suite *(*make)(void))
{
	SRunner *sr;
	int failed;

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return harness_child_run(argv[2]);
	sr = srunner_create(make());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void rawc_open(struct rawc *c)
{
	int rv;

	memset(c, 0, sizeof(*c));
	REQUIRE((nng_req0_open(&c->s)) == 0);
	nng_socket_set_ms(c->s, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(c->s, NNG_OPT_SENDTIMEO, 10000);
	rv = nng_dial(c->s, H.url, NULL, 0);
	if (rv != 0)
		fprintf(stderr, "rawc_open: dialing %s: %s\n", H.url, nng_strerror(rv));
	REQUIRE(rv == 0);
}

void rawc_close(struct rawc *c)
{
	if (c->last)
		nng_msg_free(c->last);
	c->last = NULL;
	nng_close(c->s);
}

int rawc_call_bytes(struct rawc *c, const void *buf, size_t len, struct proto_reply *rep)
{
	nng_msg *m;

	if (c->last)
		nng_msg_free(c->last);
	c->last = NULL;
	if (nng_msg_alloc(&m, len) != 0)
		return MMIO_ENOMEM;
	if (len)
		memcpy(nng_msg_body(m), buf, len);
	if (nng_sendmsg(c->s, m, 0) != 0) {
		nng_msg_free(m);
		return MMIO_ECONN;
	}
	if (nng_recvmsg(c->s, &m, 0) != 0)
		return MMIO_ECONN;
	c->last = m;
	return proto_reply_decode(nng_msg_body(m), nng_msg_len(m), rep);
}

int rawc_call(struct rawc *c, const struct proto_request *rq, struct proto_reply *rep)
{
	size_t len = 0;
	void *buf;
	int status;

	proto_request_encode(rq, NULL, 0, &len);
	buf = malloc(len ? len : 1);
	REQUIRE((buf) != NULL);
	REQUIRE((proto_request_encode(rq, buf, len, &len)) == MMIO_OK);
	status = rawc_call_bytes(c, buf, len, rep);
	free(buf);
	return status;
}

int rawc_open_region(struct rawc *c, const char *name, uint64_t off, uint64_t len, uint32_t *handle,
		     uint64_t *size)
{
	struct proto_request rq = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;

	snprintf(rq.open.name, sizeof(rq.open.name), "%s", name);
	rq.open.offset = off;
	rq.open.length = len;
	REQUIRE((rawc_call(c, &rq, &rep)) == MMIO_OK);
	if (rep.status == MMIO_OK) {
		if (handle)
			*handle = rep.open.handle;
		if (size)
			*size = rep.open.size;
	}
	return rep.status;
}

int rawc_read_once(struct rawc *c, uint32_t h, uint64_t off, unsigned width, uint64_t *v)
{
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE };
	struct proto_reply rep;

	rq.read_once.handle = h;
	rq.read_once.offset = off;
	rq.read_once.width = width;
	REQUIRE((rawc_call(c, &rq, &rep)) == MMIO_OK);
	if (rep.status == MMIO_OK && v)
		*v = rep.read_once.value;
	return rep.status;
}

int rawc_write_once(struct rawc *c, uint32_t h, uint64_t off, unsigned width, uint64_t v)
{
	struct proto_request rq = { .opcode = PROTO_OP_WRITE_ONCE };
	struct proto_reply rep;

	rq.write_once.handle = h;
	rq.write_once.offset = off;
	rq.write_once.width = width;
	rq.write_once.value = v;
	REQUIRE((rawc_call(c, &rq, &rep)) == MMIO_OK);
	return rep.status;
}

uint64_t rawc_stat(struct rawc *c, unsigned index)
{
	struct proto_request rq = { .opcode = PROTO_OP_STATS };
	struct proto_reply rep;

	REQUIRE((rawc_call(c, &rq, &rep)) == MMIO_OK);
	REQUIRE((rep.status) == MMIO_OK);
	return proto_stats_counter(&rep.stats, index);
}

int harness_sim_fd(const char *name)
{
	char dirpath[64], link[330], target[300], want[128];
	struct dirent *e;
	int fd = -1;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int)H.server);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	d = opendir(dirpath);
	if (!d)
		return -1;
	while ((e = readdir(d)) && fd < 0) {
		snprintf(link, sizeof(link), "%s/%s", dirpath, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, want) == 0)
			fd = open(link, O_RDWR | O_CLOEXEC);
	}
	closedir(d);
	return fd;
}
