/* SPDX-License-Identifier: MIT */
/*
 * Test harness for suites that run a real mmio-server: a scratch directory,
 * a policy written there, the server started with $NOTIFY_SOCKET and waited
 * for until it says READY=1, and a raw protocol client (nng req0 + proto)
 * that speaks to it without libmmio.
 */
#ifndef MMIO_TESTS_SERVER_HARNESS_H
#define MMIO_TESTS_SERVER_HARNESS_H

#include <mmio/proto.h>

#include <check.h>

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct harness {
	char dir[32];	 /* scratch directory */
	char policy[64]; /* dir/policy.yaml */
	char sock[64];	 /* dir/mmio.sock */
	char url[80];	 /* ipc://dir/mmio.sock */
	char log[64];	 /* the server's stderr */
	pid_t server;	 /* 0 when not running */
};

extern struct harness H;

/* Make the scratch directory; remember paths. */
void harness_init(void);
/* Stop the server if running (SIGKILL) and remove the directory. */
void harness_cleanup(void);

/*
 * Write the policy: "%SOCK%" in @yaml is replaced by the socket URL, so a
 * test writes `listen: "%SOCK%"`.
 */
void harness_policy(const char *yaml);

/* Start mmio-server on the policy; returns once it sent READY=1 (fails the
 * test after 10 s). */
void harness_server_start(void);

/* SIGTERM the server and return its wait status. */
int harness_server_stop(void);

/* Send @sig to the server (no wait: a test waits for the effect it expects). */
void harness_server_signal(int sig);

/* True if the server's log contains @needle. */
bool harness_log_contains(const char *needle);
/* How many lines of the server's log contain @needle. */
unsigned harness_log_count(const char *needle);
/* Copy the last @lines lines of the server's log to stderr (for a failure). */
void harness_log_tail(unsigned lines);

/*
 * Run client role @role in a new process: this test program re-executed
 * with "--child ROLE" (nng must not be used across fork()). If @report is
 * not NULL it receives the read end of a pipe that is the child's fd 3.
 * The child inherits the harness paths through the environment.
 */
pid_t harness_spawn(const char *role, int *report);

/* In the child: restore the harness paths and run the suite's role. */
int harness_child_run(const char *role);

/* Provided by each suite that spawns children: run @role, return the exit code. */
int harness_child_main(const char *role);

/*
 * The main() of a suite that spawns children: runs "--child ROLE" through
 * harness_child_run(), otherwise the Check suite @make builds. Returns the
 * exit status.
 */
int harness_main(int argc, char **argv, Suite *(*make)(void));

/* A raw protocol client. */
struct rawc {
	nng_socket s;
	nng_msg *last; /* the last reply (decoded payloads point into it) */
};

/* Connect to the harness server (fails the test on error). */
void rawc_open(struct rawc *c);
void rawc_close(struct rawc *c);

/*
 * Send @rq, receive and decode the reply into @rep. Returns the decode
 * status (MMIO_OK normally); nng errors are reported as MMIO_ECONN.
 */
int rawc_call(struct rawc *c, const struct proto_request *rq, struct proto_reply *rep);

/* Send raw bytes; receive the raw reply into @rep (decoded). Returns as rawc_call. */
int rawc_call_bytes(struct rawc *c, const void *buf, size_t len, struct proto_reply *rep);

/* Conveniences: each returns the reply status. */
int rawc_open_region(struct rawc *c, const char *name, uint64_t off, uint64_t len, uint32_t *handle,
		     uint64_t *size);
int rawc_read_once(struct rawc *c, uint32_t h, uint64_t off, unsigned width, uint64_t *v);
int rawc_write_once(struct rawc *c, uint32_t h, uint64_t off, unsigned width, uint64_t v);
uint64_t rawc_stat(struct rawc *c, unsigned index);

/* The server's memfd of sim region @name, opened read-write from
 * /proc/PID/fd (for fault injection from outside). -1 if not found. */
int harness_sim_fd(const char *name);

#endif
