/* SPDX-License-Identifier: MIT */
/*
 * mmio-server: owns the device ranges of the policy and serves clients over
 * nng. main() sets everything up, then waits for signals and policy file
 * changes; requests are served on nng's threads (dispatch.c).
 */
#include "log.h"
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <nng/protocol/reqrep0/rep.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_POLICY "/etc/mmio/policy.yaml"
/* The exit status of a start on an invalid policy (EX_CONFIG of sysexits.h):
 * the unit's RestartPreventExitStatus= names it, mmio-server(8) documents it. */
#define MMIO_SERVER_EXIT_POLICY 78
/* Twice the most limits.max_requests allows: one client can never hold them all. */
#define CONTEXTS 128

static const char *policy_path = DEFAULT_POLICY;
static struct srv_listener *listener;
/* Set once at start, read by nng's pipe callbacks. */
static _Atomic(struct srv_doors *) doors;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mmio-server [-c FILE] [--check-config] [--log-level LEVEL] [--foreground]\n"
		"\n"
		"Serve memory-mapped I/O to unprivileged driver processes as the policy says.\n"
		"\n"
		"  -c, --config FILE     policy file (default " DEFAULT_POLICY ")\n"
		"      --check-config    check the policy file and exit (0 valid, 1 invalid)\n"
		"      --log-level LEVEL error, warn, info (default) or debug\n"
		"      --foreground      accepted for compatibility; the server never forks\n"
		"  -h, --help            this text\n"
		"\n"
		"Signals: SIGHUP reloads the policy (so does a change of the file);\n"
		"SIGTERM and SIGINT stop the server.\n");
}

/* Print each policy problem as an error line "FILE:LINE:COL: message". */
static void report_to_log(void *ctx, const struct cfg_diag *d)
{
	(void)ctx;
	if (d->line)
		srv_error("%s:%u:%u: %s", d->file, d->line, d->column, d->message);
	else
		srv_error("%s: %s", d->file, d->message);
}

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);

	(void)arg;
	/* Runs under nng's socket lock: no socket calls here. */
	switch (ev) {
	case NNG_PIPE_EV_ADD_PRE:
		if (!srv_session_create(p))
			nng_pipe_close(p);
		break;
	case NNG_PIPE_EV_ADD_POST:
		if (srv_session_mark_added(id)) {
			srv_listener_pipe_event(listener, p, ev);
			srv_doors_pipe_event(atomic_load(&doors), p, ev);
		}
		break;
	case NNG_PIPE_EV_REM_POST:
		if (srv_session_remove(id)) {
			srv_listener_pipe_event(listener, p, ev);
			srv_doors_pipe_event(atomic_load(&doors), p, ev);
		}
		break;
	default:
		break;
	}
}

/* Limits from the policy's server section (max_message only at start). */
static int policy_load(cfg_policy **out)
{
	return cfg_policy_load_file(policy_path, report_to_log, NULL, out);
}

/*
 * A reload that changes server.socket_mode or server.socket_group applies
 * them to the live socket files (the public socket, then the descriptor
 * channel); if that fails (no CAP_CHOWN, a group the kernel refuses) the
 * files are put back as they were and the reload is refused, loudly: the
 * old policy stays in force, sockets and all. Returns 0 or -1 (logged).
 */
static int socket_access_apply(const struct cfg_server *was, const struct cfg_server *now)
{
	long was_gid = was->has_socket_group ? (long)was->socket_gid : -1;
	long now_gid = now->has_socket_group ? (long)now->socket_gid : -1;
	char err[512], undo[512];

	if (was->socket_mode == now->socket_mode && was_gid == now_gid)
		return 0;
	/* No socket_group now: the files go back to the server's own group. */
	if (now_gid < 0 && was_gid >= 0)
		now_gid = (long)getegid();
	if (srv_listener_set_access(listener, now->socket_mode, now_gid, err, sizeof(err)) != 0) {
		srv_error("reload refused: server.socket_mode/socket_group: %s; the previous "
			  "policy stays in force",
			  err);
		return -1;
	}
	if (srv_grants_set_access(now->socket_mode, now_gid, err, sizeof(err)) != 0) {
		if (srv_listener_set_access(listener, was->socket_mode,
					    was_gid >= 0 ? was_gid : (long)getegid(), undo,
					    sizeof(undo)) != 0)
			srv_error("reload: %s", undo);
		srv_error("reload refused: server.socket_mode/socket_group: %s; the previous "
			  "policy stays in force",
			  err);
		return -1;
	}
	srv_info("reload: %s now has mode %04o, group %ld", srv_listener_path(listener),
		 now->socket_mode, now_gid);
	return 0;
}

static void policy_reload(void)
{
	struct srv_generation *old, *fresh;
	cfg_policy *p = NULL;
	char err[512];
	unsigned long revoked;

	srv_notify("RELOADING=1");
	if (policy_load(&p) != MMIO_OK) {
		atomic_fetch_add(&srv.stats.reload_failures, 1);
		srv_error("reload: %s is invalid; the previous policy stays in force", policy_path);
		srv_notify("READY=1");
		return;
	}
	old = srv_current();
	if (srv_generation_build(p, old, &fresh, err, sizeof(err)) != MMIO_OK) {
		atomic_fetch_add(&srv.stats.reload_failures, 1);
		srv_error("reload: %s; the previous policy stays in force", err);
		cfg_policy_free(p);
		srv_generation_unref(old);
		srv_notify("READY=1");
		return;
	}
	if (socket_access_apply(cfg_policy_server(old->policy), cfg_policy_server(p)) != 0) {
		atomic_fetch_add(&srv.stats.reload_failures, 1);
		srv_generation_unref(fresh); /* and p with it */
		srv_generation_unref(old);
		srv_notify("READY=1");
		return;
	}
	if (strcmp(cfg_policy_server(p)->listen, cfg_policy_server(old->policy)->listen) != 0)
		srv_warn("reload: server.listen changed to %s; restart the server to apply it",
			 cfg_policy_server(p)->listen);
	if (cfg_policy_server(p)->max_message != srv.max_message)
		srv_warn("reload: server.max_message changed; restart the server to apply it");
	if (srv_windows_apply(cfg_policy_server(p)->windows, err, sizeof(err)) != 0) {
		atomic_fetch_add(&srv.stats.reload_failures, 1);
		srv_error("reload: %s; the previous policy stays in force", err);
		srv_generation_unref(fresh); /* and p with it */
		srv_generation_unref(old);
		srv_notify("READY=1");
		return;
	}
	revoked = atomic_load(&srv.stats.revoked);
	srv_policy_publish(fresh);
	pthread_mutex_lock(&srv.gen_lock);
	srv_limits_apply(cfg_policy_server(p));
	pthread_mutex_unlock(&srv.gen_lock);
	srv_handles_revalidate();
	srv_irq_revalidate(fresh);
	revoked = atomic_load(&srv.stats.revoked) - revoked;
	srv_doors_sync(atomic_load(&doors), p);
	atomic_fetch_add(&srv.stats.reloads, 1);
	srv_info("reload: %s in force (%zu regions, %zu clients; %lu handles revoked)", policy_path,
		 cfg_policy_region_count(p), cfg_policy_client_count(p), revoked);
	srv_generation_unref(old); /* the reference srv.gen held */
	srv_generation_unref(old); /* ours from srv_current() */
	srv_notify("READY=1");
}

/* Watch the policy file's directory: editors replace files by rename. */
static int policy_watch(void)
{
	char dir[PATH_MAX];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s", policy_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True if the inotify events waiting on @fd name the policy file. */
static bool policy_changed(int fd)
{
	const char *base = strrchr(policy_path, '/') ? strrchr(policy_path, '/') + 1 : policy_path;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, base) == 0 && !(ev->mask & IN_CREATE))
				changed = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return changed;
}

static int serve(int sigfd, int watch)
{
	struct pollfd fds[2] = { { .fd = sigfd, .events = POLLIN },
				 { .fd = watch, .events = POLLIN } };

	for (;;) {
		if (poll(fds, watch >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			srv_error("poll: %s", strerror(errno));
			break;
		}
		if (watch >= 0 && (fds[1].revents & POLLIN) && policy_changed(watch)) {
			srv_info("%s changed; reloading", policy_path);
			policy_reload();
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				srv_info("SIGHUP: reloading %s", policy_path);
				policy_reload();
			} else {
				srv_info("%s: stopping", strsignal((int)si.ssi_signo));
				break;
			}
		}
	}
	return 0;
}

/*
 * A stop must end, whatever it waits for: nng 1.5.2 can hang in nng_close()
 * while clients are busy (upstream issue 1813; about one stop in ten under
 * a 12-client load, even with every context stopped first), and any other
 * step could be the next one to. So from the moment the server decides to
 * stop, a guard thread gives the whole stop, the process's exit included,
 * STOP_GRACE_S; if the process still runs then, the guard says which step
 * it was in, removes the socket paths and exits, rather than leave the
 * service manager to wait for its SIGKILL.
 */
#define STOP_GRACE_S 5

static _Atomic(const char *) stop_step = "starting to stop";
static char stop_paths[2][PATH_MAX];

/* Record the step the stop is at, for the guard's message and the debug log. */
static void stop_at(const char *step)
{
	atomic_store(&stop_step, step);
	srv_debug("stop: %s", step);
}

static void *stop_guard(void *arg)
{
	struct timespec ts = { .tv_sec = STOP_GRACE_S };

	(void)arg;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	srv_warn("the stop did not end within %d s (at: %s); exiting without waiting for it",
		 STOP_GRACE_S, atomic_load(&stop_step));
	unlink(stop_paths[0]);
	unlink(stop_paths[1]);
	srv_info("stopped");
	_exit(0);
}

static void stop_guard_start(const char *sock_path)
{
	pthread_t t;

	snprintf(stop_paths[0], sizeof(stop_paths[0]), "%s", sock_path);
	snprintf(stop_paths[1], sizeof(stop_paths[1]), "%s.fd", sock_path);
	if (pthread_create(&t, NULL, stop_guard, NULL) == 0)
		pthread_detach(t);
	else
		srv_warn("cannot start the stop's guard thread; the stop may wait on nng");
}

/* The command line: -1 to go on (*@check_only set), else the exit code. */
static int parse_args(int argc, char **argv, bool *check_only)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		enum srv_log_level level;
		switch (opt) {
		case 'c':
			policy_path = optarg;
			break;
		case 'k':
			*check_only = true;
			break;
		case 'l':
			if (srv_log_level_parse(optarg, &level) != 0) {
				fprintf(stderr,
					"mmio-server: unknown log level \"%s\" (error, warn, info, "
					"debug)\n",
					optarg);
				return 2;
			}
			srv_log_set_level(level);
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mmio-server: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Signals are taken synchronously by the main loop; threads never see them.
 * Returns the signalfd that delivers them, or -1 (logged). */
static int signals_take(void)
{
	sigset_t sigs;
	int sigfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sigfd < 0)
		srv_error("signalfd: %s", strerror(errno));
	return sigfd;
}

/*
 * Opens the nng socket into *@sock and starts what serves on it: the
 * listener, the request contexts, the descriptor channel, the doors and the
 * descriptor guard. Returns 0, or 1 (logged) if the server cannot serve; the
 * descriptor channel and the doors are optional.
 */
static int serve_start(const struct cfg_server *cs, cfg_policy *policy, nng_socket *sock)
{
	long socket_gid = cs->has_socket_group ? (long)cs->socket_gid : -1;
	struct srv_doors *opened = NULL;
	char err[512];
	int rv;

	if ((rv = nng_rep0_open(sock)) != 0) {
		srv_error("cannot open the nng socket: %s", nng_strerror(rv));
		return 1;
	}
	/* nng accepts messages of any size unless told otherwise.
	 * The slack covers req/rep's own routing header inside the message. */
	nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, (size_t)srv.max_message + 64);
	if (srv_listener_new(*sock, cs->listen, cs->socket_mode, -1, socket_gid, &listener, err,
			     sizeof(err)) != 0) {
		srv_error("%s", err);
		return 1;
	}
	nng_pipe_notify(*sock, NNG_PIPE_EV_ADD_PRE, pipe_event, NULL);
	nng_pipe_notify(*sock, NNG_PIPE_EV_ADD_POST, pipe_event, NULL);
	nng_pipe_notify(*sock, NNG_PIPE_EV_REM_POST, pipe_event, NULL);
	if (srv_dispatch_start(*sock, CONTEXTS) != 0) {
		srv_error("cannot start %d request contexts", CONTEXTS);
		return 1;
	}
	if (srv_listener_start(listener, err, sizeof(err)) != 0) {
		srv_error("%s", err);
		srv_listener_stop(listener);
		nng_close(*sock);
		srv_dispatch_stop();
		srv_listener_close(listener);
		return 1;
	}
	if (srv_grants_start(srv_listener_path(listener), cs->socket_mode, socket_gid, err,
			     sizeof(err)) != 0)
		srv_warn("%s; direct grants are off, every access is proxied", err);
	if (srv_doors_start(*sock, srv_listener_path(listener), &opened, err, sizeof(err)) != 0)
		srv_warn("%s; clients connect through the public socket alone", err);
	atomic_store(&doors, opened);
	srv_doors_sync(opened, policy);
	if (srv_guard_start(listener, opened) != 0)
		srv_warn("cannot start the descriptor guard's thread");
	srv_info("listening on %s, %zu doors (policy %s: %zu regions, %zu clients)",
		 srv_listener_path(listener), srv_doors_open(opened), policy_path,
		 cfg_policy_region_count(policy), cfg_policy_client_count(policy));
	return 0;
}

/* The stop, step by step under the guard (STOP_GRACE_S). */
static void server_stop(nng_socket sock, int watch, int sigfd)
{
	stop_guard_start(srv_listener_path(listener));
	srv_notify("STOPPING=1");
	/* Under the guard from here on: in a test that stops the server under
	 * a 12-client load, a few stops in a thousand had the main thread sit
	 * 8 s in a futex wait between deciding to stop and the first step. */
	stop_at("closing the policy watch");
	if (watch >= 0)
		close(watch);
	/* Watchdog first (no repair while closing), then the contexts, then the
	 * socket, so that no pipe callback can run once the listener state is
	 * freed. */
	stop_at("stopping the descriptor guard");
	srv_guard_stop();
	stop_at("stopping the listeners' watchdogs");
	srv_listener_stop(listener);
	srv_doors_stop(atomic_load(&doors));
	stop_at("quiescing the request contexts");
	srv_dispatch_quiesce();
	stop_at("closing the nng socket (nng issue 1813)");
	nng_close(sock);
	stop_at("stopping the request contexts");
	srv_dispatch_stop();
	stop_at("stopping the descriptor channel");
	srv_grants_stop();
	stop_at("revoking every window");
	srv_windows_stop();
	srv_irq_stop();
	stop_at("closing the listeners");
	srv_listener_close(listener);
	srv_doors_close(atomic_load(&doors));
	stop_at("exiting");
	srv_generation_unref(srv.gen);
	close(sigfd);
	srv_info("stopped");
}

int main(int argc, char **argv)
{
	bool check_only = false;
	const struct cfg_server *cs;
	struct srv_generation *first;
	cfg_policy *policy = NULL;
	nng_socket sock;
	char err[512];
	int rc, sigfd, watch;

	rc = parse_args(argc, argv, &check_only);
	if (rc >= 0)
		return rc;
	if (policy_load(&policy) != MMIO_OK) {
		srv_error("%s: invalid policy, not starting", policy_path);
		/* Distinct, so that the unit does not restart in a loop on it. */
		return check_only ? 1 : MMIO_SERVER_EXIT_POLICY;
	}
	cs = cfg_policy_server(policy);
	if (check_only) {
		printf("%s: ok (%zu regions, %zu clients)\n", policy_path,
		       cfg_policy_region_count(policy), cfg_policy_client_count(policy));
		cfg_policy_free(policy);
		return 0;
	}
	srv_limits_apply(cs);
	srv.max_message = cs->max_message;
	clock_gettime(CLOCK_MONOTONIC, &srv.started);

	sigfd = signals_take();
	if (sigfd < 0)
		return 1;
	if (shim_fault_recovery_install() != MMIO_OK) {
		srv_error("cannot install the fault handlers");
		return 1;
	}
	if (srv_windows_apply(cs->windows, err, sizeof(err)) != 0) {
		srv_error("%s; not starting", err);
		cfg_policy_free(policy);
		return 1;
	}
	if (srv_generation_build(policy, NULL, &first, err, sizeof(err)) != MMIO_OK) {
		srv_error("%s", err);
		cfg_policy_free(policy);
		return 1;
	}
	srv_policy_publish(first);
	if (serve_start(cs, policy, &sock) != 0)
		return 1;
	/* Watch before READY=1: a change right after start must not be missed. */
	watch = policy_watch();
	if (watch < 0)
		srv_warn("cannot watch %s for changes (%s); reload with SIGHUP", policy_path,
			 strerror(errno));
	srv_notify("READY=1");

	serve(sigfd, watch);
	server_stop(sock, watch, sigfd);
	return 0;
}
