/* SPDX-License-Identifier: MIT */
/* Private to mmio-server: the pieces main.c wires together. */
#ifndef MMIO_SERVER_H
#define MMIO_SERVER_H

#include <mmio/config.h>
#include <mmio/proto.h>
#include <mmio/rights.h>
#include <mmio/shim.h>
#include <mmio/wincontrol.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- notify.c: sd_notify(3) protocol ---- */

/* Send @state ("READY=1", "RELOADING=1", "STOPPING=1") to $NOTIFY_SOCKET.
 * Returns 1 if sent, 0 if there is no $NOTIFY_SOCKET, -1 on error. */
int srv_notify(const char *state);

/* ---- listener.c: the IPC listener and its nng 1.5.2 repair ---- */

struct srv_listener;

/*
 * Prepare a listener for @url (ipc:///path only) on @sock with file mode
 * @mode, owner @owner and group @group (-1: unchanged). Returns 0, or -1
 * with a sentence in @err. Register the socket's pipe callbacks after this,
 * then start.
 */
int srv_listener_new(nng_socket sock, const char *url, unsigned mode, long owner, long group,
		     struct srv_listener **out, char *err, size_t errlen);

/*
 * Start listening, creating the socket's directory if needed, and start the
 * watchdog that repairs nng issue 1518. Refuses to take over a path where
 * another server accepts connections. Returns 0, or -1 with @err.
 */
int srv_listener_start(struct srv_listener *ls, char *err, size_t errlen);

/*
 * Feed ADD_POST and REM_POST pipe events here, from the socket's pipe
 * callbacks, for pipes that carry a session (one REM_POST per ADD_POST):
 * a stalled listener is closed once none of its sessions is left.
 */
void srv_listener_pipe_event(struct srv_listener *ls, nng_pipe p, nng_pipe_ev ev);

const char *srv_listener_path(const struct srv_listener *ls);
/*
 * A reload's new socket_mode/socket_group: the live socket file gets them
 * now, and every later repair binds with them. @group -1: leave the group
 * alone. Returns 0, or -1 with @err (nothing changed).
 */
int srv_listener_set_access(struct srv_listener *ls, unsigned mode, long group, char *err,
			    size_t errlen);

/* Stop the watchdog thread (before closing the socket). NULL is fine. */
void srv_listener_stop(struct srv_listener *ls);

/*
 * Stop taking connections at the path (its watchdog stops and the path is
 * removed) while the sessions already accepted go on; close it with
 * srv_listener_close() once srv_listener_pipes() is 0. NULL is fine.
 */
void srv_listener_retire(struct srv_listener *ls);
/* Live session pipes accepted by @ls or by the listeners it replaced. */
unsigned srv_listener_pipes(struct srv_listener *ls);

/*
 * Ask the watchdog to replace @ls at once and close the listeners it
 * replaces, with every connection they hold (sessions included): the way
 * to free the descriptors of connections that never finish nng's handshake
 * (guard.c). Returns at once. Not after srv_listener_stop().
 */
void srv_listener_shed(struct srv_listener *ls);
/* True if @name is a socket address one of @ls's listeners bound (an
 * accepted connection carries its listener's address). */
bool srv_listener_bound_here(const struct srv_listener *ls, const char *name);
/*
 * Of the @n socket addresses @names (one per connected descriptor of the
 * server), how many belong to listeners @ls has closed: connections nng
 * 1.5.2 will never free. Remembered: past a bound, @ls is not opened again
 * after a repair or a shed. Returns the count.
 */
unsigned srv_listener_count_orphans(struct srv_listener *ls, const char (*names)[108], size_t n);

/*
 * Stop the watchdog, close every listener, remove the socket path and free
 * @ls. Call after nng_close() of the socket, so that no pipe callback can
 * still reach @ls. NULL is fine.
 */
void srv_listener_close(struct srv_listener *ls);

/* ---- doors.c: a listener per identity the policy names ---- */

struct srv_doors;

/*
 * Create (or empty) the directory "@public_path.d" for the doors (see
 * doors.c). Returns 0, or -1 with @err (the server then serves through the
 * public socket alone). Make @out reachable from the pipe callbacks, then
 * open the doors with srv_doors_sync().
 */
int srv_doors_start(nng_socket sock, const char *public_path, struct srv_doors **out, char *err,
		    size_t errlen);
/* Open a door for every client entry of @p that has none; retire the doors
 * of identities @p no longer names (their sessions go on). A door that
 * cannot be opened is logged and skipped. Main thread only. NULL is fine. */
void srv_doors_sync(struct srv_doors *d, const cfg_policy *p);
/* ADD_POST and REM_POST of session pipes, as srv_listener_pipe_event(). */
void srv_doors_pipe_event(struct srv_doors *d, nng_pipe p, nng_pipe_ev ev);
/* Doors open now (STATS, tests). */
size_t srv_doors_open(struct srv_doors *d);
/* Stop the doors' watchdogs (before closing the socket); close them and
 * remove their paths (after). NULL is fine. */
void srv_doors_stop(struct srv_doors *d);
void srv_doors_close(struct srv_doors *d);

/* Shed the open door whose listener bound @name (srv_listener_shed()).
 * False if no open door did. */
bool srv_doors_shed(struct srv_doors *d, const char *name);
/* srv_listener_count_orphans() for every open door; returns the sum. */
unsigned srv_doors_count_orphans(struct srv_doors *d, const char (*names)[108], size_t n);

/* ---- guard.c: descriptors kept for everyone ---- */

/* Start the thread that sheds the listener holding the most descriptors
 * when more than a quarter of the limit is in use (guard.c). 0, or -1. */
int srv_guard_start(struct srv_listener *public_listener, struct srv_doors *doors);
/* Stop it (before the listeners' watchdogs stop). */
void srv_guard_stop(void);

/* ---- state.c: devices and policy generations ---- */

/* A mapped device: one per policy region, shared by every generation whose
 * region has the same source, so a reload keeps device state and handles. */
struct srv_device {
	atomic_int refs;
	char name[CFG_NAME_MAX + 1];
	char source[160]; /* identity of what is mapped, e.g. "sim size=65536" */
	struct shim_device dev;
	struct shim_window win;	 /* the whole region */
	struct srv_handle *open; /* open handles on it (exclusivity); srv.handles_lock */
	/* windows.c: what a window of this device is (offset: of byte 0). */
	struct shim_window_spec wspec;
	bool windowable; /* pci or phys, starting a page: windows can cover its pages */
	bool sim;
};

/* A policy and the devices of its regions (devices[i] maps region i). */
struct srv_generation {
	atomic_int refs;
	unsigned long id;
	unsigned epoch; /* set by srv_policy_publish(): handles checked against it carry it */
	cfg_policy *policy;
	size_t ndevices;
	struct srv_device **devices;
};

/*
 * Build a generation from @policy (taken over on success), reusing the
 * devices of @prev (may be NULL) whose region has the same source and
 * opening the others. Returns MMIO_OK, or an error with the sentence in @err.
 */
int srv_generation_build(cfg_policy *policy, const struct srv_generation *prev,
			 struct srv_generation **out, char *err, size_t errlen);
void srv_generation_ref(struct srv_generation *g);
void srv_generation_unref(struct srv_generation *g);
void srv_device_unref(struct srv_device *d);

/* ---- session.c: clients, their handles, exclusivity ---- */

#define SRV_MAX_GROUPS 64
/* Requests one client may have in the server at once (libmmio: up to 32). */
/* The default of limits.max_requests (the limit in force is srv.max_requests). */
#define SRV_INFLIGHT_MAX 32

/* Room for the most shared buffers a policy may allow one client
 * (limits.max_buffers; the limit in force is srv.max_buffers). */
#define SRV_BUFFERS_PER_SESSION CFG_MAX_BUFFERS

/* A client's sealed memfd, mapped into the server (buffers.c). */
struct srv_buffer {
	atomic_int users; /* copies using it now: it cannot be detached (ops.c) */
	uint32_t id;
	uint8_t *map;
	size_t size;
};

/*
 * A handle lives while its session lists it or a request uses it (refs):
 * copies run without s->lock, holding a reference. What they read without
 * the lock (win, dev, region, sensitive) never changes after the open; the
 * rights change only under s->lock; revoked, closed and epoch are atomic.
 */
struct srv_handle {
	atomic_int refs;
	uint32_t id;
	struct srv_session *session;
	struct srv_device *dev; /* reference held */
	char region[CFG_NAME_MAX + 1];
	uint64_t offset; /* region-relative start of the handle */
	uint64_t size;
	struct shim_window win; /* [offset, offset + size) of the device, copy widths */
	/* The same range for once-ops and polls: their width is any the grant
	 * allows (checked by srv_handle_check), while copies and fills take the
	 * widest allowed at each aligned step, in multiples of the smallest
	 * (shim_window_init_widths()). */
	struct shim_window once_win;
	/* The rights of the grant the handle was opened under, refreshed by
	 * every reload (srv_handles_revalidate()). */
	unsigned access; /* MMIO_ACCESS_* */
	unsigned ops;	 /* MMIO_OPS_* */
	unsigned widths; /* width bits */
	/* The grant's register rules (a copy, sorted; none: NULL, 0), fixed at
	 * the open: a reload that changes them revokes the handle. */
	struct mmio_register *regs;
	size_t nregs;
	bool exclusive;
	bool sensitive;
	bool mappable; /* MAP may be granted: ops map, whole device, whole pages */
	/* Its direct grant is a window (windows.c): mappable page by page, and
	 * revoked with the handle or its grant. Fixed at the open. */
	bool windowed;
	uint64_t wid;		      /* its window, once MAP made it (0: none); s->lock */
	pid_t mapped_pid;	      /* who asked for a direct mapping (0: nobody) */
	atomic_bool revoked;	      /* grant withdrawn by a reload: every request EREVOKED */
	atomic_bool closed;	      /* CLOSE, or its session ended: copies on it stop */
	_Atomic unsigned epoch;	      /* the policy epoch it was last checked against */
	struct srv_handle *next_open; /* on dev->open, under srv.handles_lock */
};

struct srv_session {
	atomic_int refs;
	uint32_t pipe_id;
	pid_t pid;
	struct cfg_peer peer;
	gid_t groups[SRV_MAX_GROUPS];

	bool added;		/* reached ADD_POST (counted by the listener) */
	bool self;		/* the server's own connection (the watchdog's probe) */
	atomic_bool granted;	/* a client entry with a grant matches (quota.c) */
	atomic_ulong class_gen; /* the generation @granted was decided under (0: none) */
	struct srv_uid *quota;	/* the uid's counts (quota.c) */
	atomic_int inflight;	/* request contexts held: served, waiting or unsent */
	atomic_uint audits;	/* audit lines in the current second (srv_audit) */
	atomic_llong audit_second;

	pthread_mutex_t lock; /* guards everything below */
	bool closed;	      /* the pipe is gone */
	struct srv_handle **handles;
	size_t nhandles, cap;
	uint32_t next_id;
	/* Shared buffers (buffers.c): the data plane of READ_SPAN/WRITE_SPAN. */
	struct srv_buffer *buffers[SRV_BUFFERS_PER_SESSION];
	unsigned nbuffers;
	uint64_t buffer_bytes; /* their total size */
	uint32_t next_buffer_id;
	struct srv_mailbox *mailbox; /* mailbox.c: at most one, on one of the buffers */
};

/* Called from the ADD_PRE pipe callback: a new session for @p, or NULL (the
 * caller then closes the pipe) when the session caps refuse it (quota.c). */
struct srv_session *srv_session_create(nng_pipe p);
/* The same for an identity known otherwise (the in-process fuzz target). */
struct srv_session *srv_session_create_for(uint32_t pipe_id, uid_t uid, gid_t gid, pid_t pid);
/* ADD_POST: note that the pipe of the session reached the socket. Returns
 * false if @pipe_id has no session. */
bool srv_session_mark_added(uint32_t pipe_id);
/* REM_POST: close every handle of the session of @pipe_id and forget it.
 * Returns whether srv_session_mark_added() had been called for it. */
bool srv_session_remove(uint32_t pipe_id);
/* The session of @pipe_id with a reference, or NULL. */
struct srv_session *srv_session_get(uint32_t pipe_id);
void srv_session_put(struct srv_session *s);
size_t srv_session_count(void);

/* Take the limits of the policy's server section (start and every reload;
 * max_message only at start: nng's receive limit is set once). */
void srv_limits_apply(const struct cfg_server *cs);
size_t srv_handle_count(void);
/* Handles that have a direct mapping granted (STATS "mappings"). */
size_t srv_mapping_count(void);
/* Record that @pid holds a direct mapping of @h (0: nobody); s->lock held. */
void srv_handle_set_mapped(struct srv_handle *h, pid_t pid);

/*
 * Open [offset, offset + len) of region @name for session @s under
 * generation @g (PROTO_LEN_TO_END / offset 0 conventions of OPEN).
 * Fills @rep. Returns a status (a refusal's reason in @why), or SRV_STALE if @g is no longer the
 * policy in force (a reload raced the open; nothing was opened).
 */
int srv_handle_open(struct srv_session *s, struct srv_generation *g,
		    const struct proto_open_req *req, struct proto_open_rep *rep,
		    struct mmio_reason *why);
/* Why @h cannot be mapped (enum mmio_unmappable), or 0 if it can be (a
 * grant with `map`, on a server that hands out mappings). */
unsigned srv_handle_unmappable(const struct srv_handle *h);
/* srv_handle_open(): the policy changed while opening; open again under the new one. */
#define SRV_STALE 1

/*
 * Region-relative end of grant @g on device @d: a grant without `size` runs
 * to the end of the device as mapped (a PCI region without `size` is the
 * whole BAR, known only to the backend).
 */
uint64_t srv_grant_end(const struct cfg_grant *g, const struct srv_device *d);
/* Where byte @off of device @d lies, for LIST and OPEN: its physical
 * address (0: none known, a sim device) and its function and BAR. */
void srv_device_place(const struct srv_device *d, uint64_t off, uint64_t *phys,
		      char where[PROTO_WHERE_MAX + 1]);

/* Close handle @id of @s. MMIO_OK or MMIO_EINVAL (no such handle). */
int srv_handle_close(struct srv_session *s, uint32_t id);
/* Handle @id of @s; call with s->lock held. NULL if none. */
struct srv_handle *srv_handle_find(struct srv_session *s, uint32_t id);
/*
 * Make @fresh the policy in force (reloads and start; the caller's
 * reference to @fresh becomes srv.gen's). Every handle is checked against
 * @fresh before its next device access, by whichever request makes it;
 * this returns once no access checked under the previous policy still runs
 * (it waits for at most one copy chunk of each, never for a whole copy),
 * and only then is @fresh visible to LIST and OPEN. Main thread only.
 */
void srv_policy_publish(struct srv_generation *fresh);
/* After srv_policy_publish(): check every handle now, so that the ones the
 * policy no longer grants are revoked (and logged) at once, each counted in
 * srv.stats.revoked. Takes each s->lock briefly; never waits for a copy. */
void srv_handles_revalidate(void);

/* A reference to @h, for a request that uses it without s->lock. */
void srv_handle_ref(struct srv_handle *h);
/* Drop one; the last frees @h and frees its range for exclusive opens. */
void srv_handle_put(struct srv_handle *h);

/*
 * Device accesses through a handle happen between srv_access_enter() and
 * srv_access_exit(epoch), one access or one copy chunk at a time: a reload
 * waits for the ones in progress, no one else does. Never nest them.
 */
unsigned srv_access_enter(void);
void srv_access_exit(unsigned epoch);

/*
 * srv_handle_check(), then enter an access section for the handle, checked
 * against the policy of that section's epoch (*@epoch, for
 * srv_access_exit()). Same errors. s->lock held.
 */
int srv_handle_enter(struct srv_session *s, uint32_t id, unsigned ops_bit, unsigned access_bit,
		     unsigned width, uint64_t offset, uint64_t value, struct srv_handle **out,
		     unsigned *epoch, struct mmio_reason *why);
/*
 * The next chunk of a copy through @h (referenced; s->lock NOT held) whose
 * rights @ops_bit/@access_bit were last checked at epoch *@checked: enter
 * an access section (*@epoch) if they still hold, re-checking them under
 * s->lock after a reload. MMIO_OK; MMIO_EREVOKED if the handle was revoked
 * or its grant no longer allows the copy; MMIO_EINVAL if it was closed.
 */
int srv_handle_resume(struct srv_session *s, struct srv_handle *h, unsigned ops_bit,
		      unsigned access_bit, unsigned *checked, unsigned *epoch);

/*
 * The check made before every handle operation: the handle exists (else
 * MMIO_EINVAL), is not revoked (MMIO_EREVOKED), its grant allows the
 * operation class @ops_bit and access @access_bit (else MMIO_EACCES) and,
 * for once-ops and polls (@width != 0), the width (else MMIO_EINVAL); then,
 * if its grant has register rules, that handle-relative @offset is the
 * start of a register with that width and access and, for a write, that
 * @value keeps the bits outside the register's write mask as fixed
 * (mmio_register_explain(); else MMIO_EACCES). *@out is the handle
 * whenever it exists, refused or not (the audit line names its region);
 * @why (may be NULL) gets the refusal's reason (<mmio/rights.h>). Range
 * and alignment are srv_check_and_audit()'s and kernel-shim's. A handle
 * not yet checked against the policy of the last reload is checked (and
 * maybe revoked) first. s->lock held.
 */
int srv_handle_check(struct srv_session *s, uint32_t id, unsigned ops_bit, unsigned access_bit,
		     unsigned width, uint64_t offset, uint64_t value, struct srv_handle **out,
		     struct mmio_reason *why);

/* CLOCK_MONOTONIC in nanoseconds (ops.c). */
uint64_t srv_now_ns(void);

/* ---- quota.c: per-uid and global caps ---- */

/* The request contexts the server runs (srv_dispatch_start()); the caps are
 * clamped so that one uid never holds more than 3/4 of them and all
 * together leave some free to receive and refuse. */
#define SRV_CONTEXTS 128

struct srv_uid;

/* Tell the caps how many contexts there are (srv_dispatch_start()). */
void srv_quota_contexts(unsigned n);
/* Decide whether @s is granted under @g (once per generation; cheap after). */
void srv_quota_classify(struct srv_session *s, const struct srv_generation *g);
/* Is @s granted anything under @g: does a client entry with a grant match
 * its peer? The one answer to "has this client a grant" (caps, STATS,
 * BUF_ATTACH). Classifies @s as srv_quota_classify() does. */
bool srv_session_granted(struct srv_session *s, const struct srv_generation *g);
/*
 * Connect: count session @s (peer, pid, self and granted set) against
 * limits.max_sessions and max_sessions_per_uid or ungranted_sessions. The
 * server's own sessions are never refused. MMIO_OK (s->quota set),
 * MMIO_EBUSY (refused: counted, and warned at a limited rate) or MMIO_ENOMEM.
 */
int srv_quota_session_take(struct srv_session *s);
/* The session's connection is gone (srv_session_remove()). */
void srv_quota_session_leave(struct srv_session *s);
/* The session object is freed. NULL quota is fine. */
void srv_quota_session_free(struct srv_session *s);
/*
 * A context took a request of @s: count it against limits.max_requests (the
 * session), max_requests_per_uid or ungranted_requests (its uid) and
 * max_requests_total. MMIO_OK, or MMIO_EBUSY (nothing counted but the
 * refusal; @why says which cap: MMIO_REASON_BUSY). Thread-safe, lock-free.
 */
int srv_quota_request_take(struct srv_session *s, struct mmio_reason *why);
void srv_quota_request_put(struct srv_session *s);
/* Room for one more unsent MMIO_EBUSY answer to @s's uid (and in all)? */
bool srv_quota_busy_take(struct srv_session *s);
void srv_quota_busy_put(struct srv_session *s);
/* A POLL of @s starts waiting: limits.max_polls_per_uid and
 * max_polls_total. False: refused (counted, warned; @why says which cap). */
bool srv_quota_poll_take(struct srv_session *s, struct mmio_reason *why);
void srv_quota_poll_put(struct srv_session *s);

struct srv_quota_stats {
	unsigned long requests_held, busy_held, polls_waiting;
	unsigned long sessions_refused, requests_refused, polls_refused, warnings_suppressed;
};
void srv_quota_stats(struct srv_quota_stats *out);

/* What a rate-limited client warning is about (one line per uid and kind
 * per 10 s; the next line counts the ones suppressed). */
enum srv_warn_kind {
	SRV_WARN_SESSION,
	SRV_WARN_REQUESTS,
	SRV_WARN_POLLS,
	SRV_WARN_OTHER,
};
/* srv_warn() a line about a client of @uid, at most once per 10 s per
 * (@uid, @kind). Thread-safe. */
void srv_warn_client(uid_t uid, enum srv_warn_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- grants.c: direct grants (MAP tokens, the descriptor channel) ---- */

#define SRV_TOKEN_LIFETIME_MS  2000 /* a MAP token must be picked up this soon */
#define SRV_TOKENS_MAX	       256  /* tokens outstanding, all clients */
#define SRV_TOKENS_PER_SESSION 8    /* tokens outstanding for one client */
#define SRV_TOKENS_PER_UID     16   /* tokens outstanding for one uid, all its clients */
#define SRV_TOKENS_BUFFERS_MAX 128  /* BUF_ATTACH tokens outstanding, all clients */

/*
 * Open the descriptor channel at "@socket_path.fd" (mode, group as the nng
 * socket) and start its thread. Returns 0, or -1 with @err.
 */
int srv_grants_start(const char *socket_path, unsigned mode, long group, char *err, size_t errlen);
/* The channel's file gets a reload's @mode and @group (-1: unchanged);
 * 0 if the channel is not running. Returns 0, or -1 with @err. */
int srv_grants_set_access(unsigned mode, long group, char *err, size_t errlen);
void srv_grants_stop(void);
/* True once the channel is running (HELLO announces PROTO_HELLO_DIRECT). */
bool srv_grants_available(void);
/*
 * MAP: a one-time token for handle @h of @s (s->lock held; the caller has
 * checked that @h is mappable). Fills @rep. Returns MMIO_OK, MMIO_EACCES
 * (no channel or no descriptor), MMIO_ENOMEM (too many tokens outstanding)
 * or MMIO_EINTERNAL.
 */
int srv_grant_issue(struct srv_session *s, struct srv_handle *h, struct proto_map_rep *rep,
		    struct mmio_reason *why);
/* Drop the unclaimed tokens of the session of @pipe_id. */
void srv_grants_forget(uint32_t pipe_id);
/*
 * A one-time token that hands descriptor @fd (taken over, closed on every
 * failure and when the token expires unclaimed) to the uid of @s on the
 * descriptor channel. Returns MMIO_OK, MMIO_EACCES (no channel),
 * MMIO_ENOMEM (too many tokens outstanding: @why says which cap) or
 * MMIO_EINTERNAL.
 */
int srv_grant_fd_token(struct srv_session *s, int fd, uint64_t *token, struct mmio_reason *why);

/* ---- irq.c: interrupts (IRQ) ---- */
/* Revoke the interrupts the session of @pipe_id holds (its end). */
void srv_irq_forget(uint32_t pipe_id);
/* After a reload to @gen: revoke the interrupts it no longer grants. */
void srv_irq_revalidate(const struct srv_generation *gen);
/* Close the module's control descriptor: every interrupt is revoked. */
void srv_irq_stop(void);
/* Look at each held interrupt (the guard thread, once a second): a line
 * masked for seconds without an unmask is counted and logged. */
void srv_irq_watch(void);
/* Lines counted so (STATS "irqs_unacknowledged"). */
unsigned long srv_irq_unacknowledged(void);
/*
 * Drop the unclaimed MAP tokens of handle @handle of session @pipe_id: call
 * it (s->lock held) before the handle is closed, revoked or loses rights,
 * and on UNMAP. Once it returns, no descriptor of those tokens is handed
 * over any more.
 */
void srv_grants_forget_handle(uint32_t pipe_id, uint32_t handle);
/*
 * BUF_ATTACH: a one-time token for a buffer of @length bytes that session
 * @s will hand over on the descriptor channel. Returns MMIO_OK, MMIO_ENOMEM
 * (too many tokens: @why says which cap) or MMIO_EINTERNAL.
 */
int srv_grant_buffer_token(struct srv_session *s, uint64_t length, uint64_t *token,
			   struct mmio_reason *why);

/* ---- windows.c: direct grants as kernel-shim windows ---- */

/*
 * Take server.windows @wanted (start and every reload; main thread): open
 * /dev/mmio-window if it is wanted and not open yet, and log what direct
 * grants of pci and phys regions are now. Returns 0, or -1 with @err when
 * @wanted is required and the module cannot be opened (nothing changed).
 */
int srv_windows_apply(enum cfg_windows wanted, char *err, size_t errlen);
/* True if the module is open and the policy does not say off. */
bool srv_windows_active(void);
/* Close the control descriptor: the kernel revokes every window. */
void srv_windows_stop(void);
/* Note what a window of device @d (of region @r) is (state.c, at open). */
void srv_device_window_spec(struct srv_device *d, const struct cfg_region *r);
/* Whether a handle opened on @d now gets windows for its direct grants. */
bool srv_device_windowed(const struct srv_device *d);
/* Whether [@off, @off + @len) of @d is whole pages, as a window must be. */
bool srv_window_fits(const struct srv_device *d, uint64_t off, uint64_t len);
/*
 * A descriptor for MAP of windowed handle @h (s->lock held): a new window
 * of its pages (read-only for a read-only grant; the window of an earlier
 * MAP is revoked), the caller's to hand over or close, and where the
 * handle starts in it. MMIO_OK, or the module's refusal (logged with its
 * cause: MMIO_EINVAL, MMIO_EBUSY, MMIO_EACCES, MMIO_ENOMEM...).
 */
int srv_window_grant(struct srv_handle *h, int *fd, uint64_t *mmap_offset);
/* Revoke @h's window, if it has one, in every process (s->lock held, or
 * the handle no longer listed). Never blocks on a client. */
void srv_window_revoke(struct srv_handle *h);

/* ---- buffers.c: shared buffers (the data plane) ---- */

/*
 * BUF_ATTACH's checks before a token: room for one more buffer of @length
 * bytes in @s (s->lock held). MMIO_OK, MMIO_EINVAL (0 or absurd length) or
 * MMIO_ENOMEM (the per-client limits), with the reason in @why.
 */
int srv_buffer_room(const struct srv_session *s, uint64_t length, struct mmio_reason *why);
/*
 * The descriptor channel received @fd for a buffer token of session
 * @pipe_id: check it (a memfd sealed against shrinking and growing, exactly
 * @length bytes, mappable read-write), map it and attach it. Takes @fd (it
 * is closed in every case). Returns MMIO_OK with *@id, or a refusal with
 * its reason in @why (MMIO_REASON_BUFFER, _LIMIT).
 */
int srv_buffer_adopt(uint32_t pipe_id, uint64_t length, int fd, uint32_t *id,
		     struct mmio_reason *why);
/* Buffer @id of @s, or NULL (s->lock held). */
struct srv_buffer *srv_buffer_find(struct srv_session *s, uint32_t id);
/* Detach buffer @id of @s (s->lock held): MMIO_OK or MMIO_EINVAL. */
int srv_buffer_detach(struct srv_session *s, uint32_t id);
/* Unmap every buffer of @s (s->lock held; the session is ending). */
void srv_buffers_release(struct srv_session *s);
/* Buffers attached now, all clients (STATS "buffers"). */
size_t srv_buffer_count(void);

/* ---- mailbox.c: requests carried in a shared buffer ---- */

struct srv_mailbox;

/* Mailboxes one uid may run at once, and all clients together: each is a
 * thread ready to run that client's requests. MAILBOX beyond: MMIO_EBUSY. */
#define SRV_MAILBOXES_PER_UID 8
#define SRV_MAILBOXES_MAX     64

/* The mailbox of @s if it runs on buffer @id, else NULL (s->lock held):
 * that buffer cannot be detached while the mailbox is the session's. */
struct srv_mailbox *srv_mailbox_on(struct srv_session *s, uint32_t id);
/* Stop @mb's thread; its current request ends first (a waiting POLL within
 * 10 ms). Call without s->lock, the session closed. NULL is fine. */
void srv_mailbox_stop(struct srv_mailbox *mb);
/* Free a stopped mailbox, once its session no longer points at it and its
 * buffer is gone. NULL is fine. */
void srv_mailbox_free(struct srv_mailbox *mb);
/* Mailboxes running now, all clients (STATS "mailboxes"). */
size_t srv_mailbox_count(void);

/* ---- server-wide state (main.c) ---- */

struct srv_stats {
	atomic_ulong requests, proto_errors, denials, faults, timeouts;
	atomic_ulong bytes_read, bytes_written, reloads, reload_failures, revoked;
};

struct srv {
	pthread_mutex_t gen_lock;
	struct srv_generation *gen; /* current; swapped by reloads */
	/* The policy handles are checked against: srv.gen, or during
	 * srv_policy_publish() already the new one. */
	struct srv_generation *vgen;
	pthread_mutex_t handles_lock;
	struct srv_stats stats;
	struct timespec started;
	/* Limits of the policy in force; a reload changes them while requests run. */
	_Atomic unsigned max_sessions, max_handles;
	_Atomic uint64_t max_poll_us;
	/* Per client (limits.max_requests, max_buffers, max_buffer_bytes). */
	_Atomic unsigned max_requests, max_buffers;
	/* The caps of quota.c (limits.*). */
	_Atomic unsigned max_sessions_per_uid, ungranted_sessions;
	_Atomic unsigned max_requests_per_uid, max_requests_total, ungranted_requests;
	_Atomic unsigned max_polls_per_uid, max_polls_total;
	_Atomic uint64_t max_buffer_bytes;
	uint64_t max_message; /* fixed at start: nng's receive limit is set once */
};

extern struct srv srv;

/* The current generation, with a reference the caller drops. */
struct srv_generation *srv_current(void);

/* ---- dispatch.c: nng contexts and the operation table ---- */

int srv_dispatch_start(nng_socket sock, unsigned contexts);
/*
 * Before nng_close(): stop every context's operation and wait for its
 * callback, so that no context is sending, receiving or waiting while the
 * socket closes (nng 1.5.2 can hang in nng_close() otherwise, upstream
 * issue 1813). Requests in progress are dropped unanswered.
 */
void srv_dispatch_quiesce(void);
/* After nng_close(): free the contexts. */
void srv_dispatch_stop(void);

/* ---- audit (ops.c) ---- */
/* One audit line (NOTICE): who, what, where, and the outcome. Rate-limited
 * per session. */
void srv_audit(struct srv_session *s, const char *region, const char *op, uint64_t offset,
	       uint64_t len, int status);

#endif
