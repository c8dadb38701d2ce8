/* SPDX-License-Identifier: MIT */
/*
 * Private to libmmio: the pieces the public calls are built from. Not
 * installed, not for use outside client/ (tests/check_client.c excepted).
 *
 *  - transport.c: the nng req0 socket, its session pipe, the pool of
 *    contexts, one request/reply round trip (cli_call);
 *  - client.c:    mmio_connect/disconnect, LIST, STATS, environment;
 *  - region.c:    open, slice, close, and the public access calls, which
 *                 check their arguments and go through the handle's ops;
 *  - proxied.c:   the ops of a proxied handle (one request per access);
 *  - direct.c:    direct mode: MAP, the descriptor channel, and the ops of a
 *                 mapped handle (loads and stores through kernel-shim);
 *  - batch.c:     mmio_batch_*.
 */
#ifndef MMIO_CLI_H
#define MMIO_CLI_H

#include <mmio/client.h>
#include <mmio/proto.h>

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The largest message this stub sends or accepts, whatever the server says. */
#define CLI_MESSAGE_MAX (16u << 20)
/*
 * Room for nng's own header (the request id, 4 bytes; more through devices)
 * on top of a message body. nng checks NNG_OPT_RECVMAXSZ against header plus
 * body, so the stub keeps its requests this much below the server's
 * max_message, and accepts replies this much above its own limit.
 */
#define CLI_RECV_SLACK 64u
/* A server that cannot carry this much in one message is not usable. */
#define CLI_MESSAGE_MIN 256u

/* Contexts (concurrent calls) per client; more callers wait for one. */
#define CLI_SLOTS_MAX 32u

/* Connection attempts (see mmio_connect()). */
#define CLI_ATTEMPT_MS	   1000
#define CLI_CONNECT_MS_DEF 5000
#define CLI_REPLY_MS_DEF   30000
/* Reconnect pacing of the dialer while connecting, and once connected. */
#define CLI_RECONN_MIN_MS  20
#define CLI_RECONN_MAX_MS  100
#define CLI_RECONN_IDLE_MS 60000

/* Intrusive doubly linked list. */
struct cli_list {
	struct cli_list *prev, *next;
};

/* One nng context and its aio: one call in flight. */
struct cli_slot {
	struct cli_slot *next; /* in the client's free list */
	mmio_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	bool done;	/* the round trip ended; under client->mtx */
	bool sending;	/* the aio carries the send; its callback then starts the receive */
	bool cancelled; /* the waiter gave up: do not start the receive */
	int timeout_ms; /* for the receive the callback starts */
};

struct cli_handle;

/*
 * How a handle's accesses are carried out: proxied (every access a request)
 * or direct (loads and stores on a mapping). Offsets are in the view's
 * terms; the public calls have checked the pointers and set *done to 0
 * before calling. Both check what the stub checks in the same order, so
 * that the same call gives the same status either way.
 */
struct cli_region_ops {
	int (*read_once)(mmio_region *r, size_t off, unsigned width, uint64_t *v);
	int (*write_once)(mmio_region *r, size_t off, unsigned width, uint64_t v);
	int (*read)(mmio_region *r, size_t off, void *buf, size_t len, size_t *done);
	int (*write)(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done);
	int (*fill)(mmio_region *r, size_t off, size_t len, uint8_t byte, size_t *done);
	int (*poll)(mmio_region *r, size_t off, unsigned width, uint64_t mask, uint64_t want,
		    uint32_t timeout_us, uint64_t *last);
	/* @rows rows of @row_bytes at @off + i * @pitch, packed in @buf (to the
	 * device if @write): the geometry is checked whole (cli_rows_plan()). */
	int (*rows)(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
		    void *buf, bool write, size_t *done);
	/* Drop mode-specific state before the handle is closed. */
	void (*release)(struct cli_handle *h);
	bool direct;
};

extern const struct cli_region_ops cli_proxied_ops;
extern const struct cli_region_ops cli_direct_ops;

/* One server handle, shared by the region that opened it and its slices. */
struct cli_handle {
	mmio_client *client;
	const struct cli_region_ops *ops;
	uint32_t id;
	unsigned views; /* open regions and slices on it; under client->mtx */
	char name[PROTO_NAME_MAX + 1];
	struct proto_open_rep info; /* the server's answer to OPEN */
	void *direct;		    /* direct-mode state (direct.c) */
};

/* A view: the whole handle (slice false) or a slice of it. */
struct mmio_region {
	/*
	 * First, as <mmio/client_inline.h> says: the inline once-ops' view of a
	 * direct region, set by cli_direct_view() (its ends zeroed by
	 * cli_region_lose() when the client is lost, under client->mtx).
	 * region.c's own fast path uses its "any" ends. Any access it does
	 * not take goes through the ops, whose checks give the statuses.
	 * Where the region is placed (below) is where its view's base is: in a
	 * region that starts a cache line (a malloc'd one, cli_region_new(),
	 * or a placed view that starts a page) the base and the placed ends
	 * but write_end[3] share the first line.
	 */
	struct mmio_region_fast fast;
	unsigned char fast_pad[192 - sizeof(struct mmio_region_fast)];
	/* In client->regions, under client->mtx. A line of its own when the
	 * region starts one: other threads write it as they open and close
	 * regions. */
	struct cli_list node;
	struct cli_handle *h;
	size_t base; /* offset of the view in the handle */
	size_t len;
	bool slice; /* bounds are the stub's to check (the server knows only the handle) */
	/* A placed direct view (cli_direct_place()): the region lies in the
	 * private pages of this mapping, MMIO__WINDOW_AT before its bytes,
	 * which start at @bytes; NULL for a malloc'd region. */
	unsigned char *place;
	size_t place_len;
	unsigned char *bytes;
};
_Static_assert(sizeof(struct mmio_region_fast) < 192, "the fast view fits its three lines");

/* A zeroed region, malloc'd at a cache line; NULL if out of memory. */
mmio_region *cli_region_new(void);
/* Release a region from cli_region_new() or cli_direct_place(). */
void cli_region_free(mmio_region *r);

struct mmio_client {
	pthread_mutex_t mtx;
	pthread_cond_t cv; /* any slot done, a slot freed, the connection broke */
	nng_socket sock;
	nng_dialer dialer;
	bool sock_open;

	/* Under mtx (written by pipe callbacks too). */
	bool connecting;       /* before the HELLO reply is accepted */
	bool attempt_broken;   /* connecting: a pipe went away */
	unsigned drops;	       /* connecting: pipes gone, all attempts together */
	uint32_t session_pipe; /* the pipe that carried HELLO; 0 before */
	atomic_bool lost;      /* the session is gone: every call is MMIO_ECONN (read
				* without mtx by direct-mode accesses) */
	bool dialer_closed;
	struct cli_slot *free_slots;
	unsigned nslots; /* slots created on this socket */
	struct cli_list regions;
	struct cli_shbuf *user_bufs; /* mmio_buffer_alloc()'s */
	atomic_bool plane_off;	     /* the server refused the data plane: inline only */

	/* The staging buffer of the data plane (shared.c): one copy at a time. */
	pthread_mutex_t plane_mtx;
	struct cli_shbuf *staging;

	/* The mailbox (mailbox.c): one request at a time by shared memory; a
	 * caller that finds it busy takes the socket. */
	pthread_mutex_t mbox_mtx;
	struct cli_shbuf *mbox; /* NULL: every request by the socket */
	uint32_t mbox_seq;	/* the last request's sequence value; under mbox_mtx */
	bool mbox_spin;		/* poll the reply a little before sleeping (not on one CPU) */

	/* Set while connecting, read-only afterwards. */
	struct proto_hello_rep hello;
	size_t max_message; /* min(server's, CLI_MESSAGE_MAX) */
	size_t shared_min;  /* bulk copies this long use the data plane (MMIO_SHARED_MIN) */
	char fd_path[108];  /* the server's descriptor channel ("" if the URL is not ipc://) */
	int reply_ms;	    /* MMIO_REPLY_TIMEOUT_MS */
};

/* ---- transport.c ---- */

/*
 * Open the socket and greet the server at @url, retrying as mmio_connect()
 * says within @budget_ms, each attempt given @attempt_ms. Fills c->hello and
 * c->max_message. @c is zeroed apart from mtx/cv/regions/reply_ms. @door
 * says whether @url is the caller's own door; a server that closes every
 * connection at once on the public socket is refusing this account:
 * MMIO_EACCES, with the sentence in @why. Returns MMIO_OK or
 * mmio_connect()'s errors; on error the socket is closed.
 */
int cli_transport_connect(mmio_client *c, const char *url, bool door, int budget_ms, int attempt_ms,
			  char *why, size_t whylen);

/* Close the socket and free the contexts. No call may be in flight. */
void cli_transport_close(mmio_client *c);

/*
 * One round trip: encode @req, send it on a context of @c, wait up to
 * @timeout_ms for the reply, check that it came on the session pipe and
 * decode it into *@rep, whose payloads point into *@msg (the caller frees
 * *@msg with nng_msg_free() when the status is MMIO_OK; otherwise *@msg is
 * NULL).
 *
 * Returns MMIO_OK when a well-formed reply to @req's opcode arrived (its
 * status is rep->status); MMIO_EINVAL if @req cannot be encoded or exceeds
 * the server's max_message (less CLI_RECV_SLACK); MMIO_ENOMEM; MMIO_ECONN (and the client is lost)
 * if the connection broke, was already lost, or the reply came too late or
 * on another pipe; MMIO_EPROTO for a malformed reply or one to another
 * opcode; MMIO_EVERSION for a reply in a version this code does not speak.
 */
int cli_call(mmio_client *c, const struct proto_request *req, int timeout_ms, nng_msg **msg,
	     struct proto_reply *rep);

/*
 * The calling thread's last refusal on @c, for mmio_last_error(): @status
 * (MMIO_OK clears it) and @why (NULL: none known). Does not block.
 */
void cli_last_record(const mmio_client *c, int status, const struct mmio_reason *why);

/*
 * A call refused by the library's own checks, before any request: recorded
 * for mmio_last_error() as a server's refusal of operation @op would be,
 * with reason @code and its details (@c NULL: a call given no client or
 * region, which mmio_last_error() of any client tells). Returns the
 * reason's status, mmio_reason_status(@code).
 */
int cli_refuse(const mmio_client *c, unsigned op, unsigned code, uint64_t a, uint64_t b);
/* cli_refuse() of a @width not 1, 2, 4 or 8, or of a value wider than it. */
int cli_refuse_width(const mmio_client *c, unsigned op, unsigned width);
/* cli_refuse() of a NULL pointer argument. */
int cli_refuse_null(const mmio_client *c, unsigned op);
/* cli_refuse() of [@off, +@len) that passes the end of view @r. */
int cli_refuse_range(const mmio_region *r, unsigned op, size_t off, size_t len);

/* CLOCK_MONOTONIC in nanoseconds: the stub's one clock for deadlines. */
static inline int64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t cli_now_ms(void)
{
	return cli_now_ns() / 1000000;
}

/*
 * Decode reply message @m to request opcode @opcode into *@rep, whatever
 * carried it: MMIO_OK, MMIO_EPROTO for a malformed reply or one to another
 * opcode, MMIO_EVERSION for a version this code does not speak.
 */
int cli_reply_decode(nng_msg *m, unsigned opcode, struct proto_reply *rep);

/* c->reply_ms plus @extra_us (rounded up), saturating. */
int cli_timeout_ms(const mmio_client *c, uint64_t extra_us);

/* True once the session is gone. */
bool cli_lost(mmio_client *c);

/* The session is over (a transport failure): mark it lost, wake every
 * waiter. Returns MMIO_ECONN. */
int cli_transport_fail(mmio_client *c);

/* ---- client.c ---- */

/* The URL mmio_connect(@url) uses: @url, else $MMIO_SERVER, else the default. */
const char *cli_url_resolve(const char *url);

/*
 * The environment variable @name as a number of milliseconds (decimal
 * digits only, 1 to 86400000), or @def if it is unset or malformed.
 */
int cli_env_ms(const char *name, int def);

/*
 * The environment variable @name as a byte count (decimal digits only;
 * larger than SIZE_MAX reads as SIZE_MAX, "never"), or @def if it is unset
 * or malformed.
 */
size_t cli_env_size(const char *name, size_t def);

/* ---- region.c ---- */

/* The region whose node in its client's list is @n. */
static inline mmio_region *cli_region_of(struct cli_list *n)
{
	return (mmio_region *)(void *)((char *)n - offsetof(mmio_region, node));
}

/* Link @r into its client's list (under the client's lock); a region
 * linked to a lost client takes no inline accesses. */
void cli_region_link(mmio_region *r);
/* The client of @r is lost: no inline access from now on (call with the
 * client's mtx held). */
void cli_region_lose(mmio_region *r);

/*
 * The checks the stub makes itself before an access (both modes make them,
 * in this order, before the rights of the grant): they cover what only the
 * stub knows, the bounds of a slice and the range of a transfer it splits.
 */

/* The handle offset of [@off, @off + @len) of view @r, for operation @op.
 * A slice's bounds are checked here (MMIO_EINVAL, recorded); a whole-handle
 * view's are the server's.
 * Inline: direct once-ops take a few nanoseconds, and this is one step. */
static inline int cli_view_offset(const mmio_region *r, unsigned op, size_t off, size_t len,
				  uint64_t *hoff)
{
	if (r->slice && (off > r->len || len > r->len - off)) {
		*hoff = 0;
		return cli_refuse_range(r, op, off, len);
	}
	*hoff = (uint64_t)r->base + off;
	return MMIO_OK;
}

/*
 * As cli_view_offset(), but a transfer longer than @chunk (the most one
 * message carries) is checked whole first, range and pinned-width
 * alignment: a part failing after earlier parts moved data must not happen.
 */
int cli_bulk_offset(const mmio_region *r, unsigned op, size_t off, size_t len, size_t chunk,
		    uint64_t *hoff);

/*
 * A fill of [@off, +@len) of view @r as the handle sees it: *@hoff and
 * *@want, the bytes to fill there. On a slice the fill rules of shim_fill()
 * are applied against the slice's end, as shim_fill() applies them against
 * a window's (MMIO_EINVAL for what fills nothing); after a fill of *@want <
 * @len bytes succeeds, the result is MMIO_EINVAL with that count
 * (cli_refuse_range()). Refusals are recorded.
 */
int cli_fill_plan(const mmio_region *r, size_t off, size_t len, uint64_t *hoff, size_t *want);

/*
 * The geometry of a strided copy on view @r, checked whole before anything
 * moves, as the server checks it: at least one row of at least one byte, a
 * pitch of at least a row, the last row inside the view, and (a granule)
 * offset, row and pitch whole accesses. MMIO_OK or MMIO_EINVAL, recorded
 * for operation @op.
 */
int cli_rows_plan(const mmio_region *r, unsigned op, size_t off, size_t row_bytes, size_t pitch,
		  size_t rows);

/* ---- proxied.c ---- */

/* The most bytes of data one READ reply / WRITE request can carry when the
 * server's max_message is @max_message (a request stays CLI_RECV_SLACK below
 * it), rounded down to a multiple of 8 so that every part of a split
 * transfer stays aligned for any pinned width. */
size_t cli_read_chunk_max(size_t max_message);
size_t cli_write_chunk_max(size_t max_message);

/* Send CLOSE for handle @id (errors ignored: the handle dies with the connection anyway). */
void cli_handle_close_remote(mmio_client *c, uint32_t id);

/* ---- shared.c: the data plane of proxied bulk copies ---- */

/* Bulk copies of at least this many bytes go through shared memory by
 * default (MMIO_SHARED_MIN overrides); the staging buffer's size. */
#define CLI_SHARED_MIN_DEF (32u << 10)
#define CLI_STAGING_SIZE   (4u << 20)

/* Memory shared with the server: a sealed memfd, mapped here and there. */
struct cli_shbuf {
	struct cli_shbuf *next; /* in client->user_bufs */
	uint32_t id;		/* the server's name for it */
	uint8_t *map;
	size_t size;
};

/*
 * A bulk copy of [@hoff, +@len) of @r's handle to or from @buf through the
 * data plane, if it applies (proxied, long enough, a server with a
 * descriptor channel): *@used tells. Returns the copy's status and adds the
 * bytes moved to *@done, exactly as the inline path would.
 */
int cli_shared_transfer(mmio_region *r, uint64_t hoff, void *buf, size_t len, bool write,
			size_t *done, bool *used);

/* Release every shared buffer of @c (disconnecting: the server forgets them anyway). */
void cli_shared_release(mmio_client *c);

/* A new buffer of @size bytes shared with the server: MMIO_OK, or
 * MMIO_EACCES when the server has no descriptor channel, or why not. */
int cli_shbuf_create(mmio_client *c, size_t size, struct cli_shbuf **out);
/* Unmap and free @b, first detaching it on the server if @tell_server and
 * the session lives. */
void cli_shbuf_destroy(mmio_client *c, struct cli_shbuf *b, bool tell_server);

/* ---- mailbox.c: requests by shared memory ---- */

/*
 * Start the mailbox of @c (after HELLO), unless the server has none or
 * $MMIO_MAILBOX is "0". Failing to is not an error: requests then all take
 * the socket.
 */
void cli_mailbox_start(mmio_client *c);

/*
 * cli_call() through the mailbox, for a request already encoded as @need
 * bytes (cli_call()'s checks made). *@used false: the mailbox is off, busy
 * or too small for this request or its reply; nothing was sent.
 */
int cli_mailbox_call(mmio_client *c, const struct proto_request *req, size_t need, int timeout_ms,
		     nng_msg **msg, struct proto_reply *rep, bool *used);

/* Unmap the mailbox (disconnecting; no call in flight). */
void cli_mailbox_release(mmio_client *c);

/* ---- direct.c ---- */

/*
 * Switch @h to direct mode: MAP it, collect the descriptor on the server's
 * descriptor channel, mmap it. Returns MMIO_OK, or why it cannot be mapped
 * (@h stays proxied and the server knows it is not mapped): MMIO_EACCES if
 * the grant, the region or the server does not allow a mapping, or the
 * descriptor channel refuses; MMIO_ECONN, MMIO_ENOMEM, MMIO_EPROTO,
 * MMIO_EINTERNAL otherwise.
 */
int cli_direct_attach(struct cli_handle *h);

/*
 * A zeroed region for a view of direct handle @h at @base, @len bytes,
 * placed MMIO__WINDOW_AT before a mapping of its own of the view's bytes,
 * as the header's inline accesses expect (released by cli_region_free()).
 * NULL if @h is not direct, the view's base is not aligned to 8, 8 views
 * whose handles share its L1 cache set are placed already, or the kernel
 * refuses the mapping: the view is then malloc'd, and the header reaches it
 * through its base (its "any" ends).
 */
mmio_region *cli_direct_place(struct cli_handle *h, size_t base, size_t len);
/* Unmap placed region @r, and the view's bytes after it. */
void cli_direct_unplace(mmio_region *r);

/* Set up the fast view of @r: its base and "any" ends if it is direct, and
 * its placed ends and copy ends only if it is placed. */
void cli_direct_view(mmio_region *r);

/*
 * Run one batch op (READ_ONCE, WRITE_ONCE, POLL; offset in handle terms) on
 * direct handle @h, with the checks and the result the server's BATCH would
 * give. *@value as in a BATCH reply.
 */
int cli_direct_batch_op(struct cli_handle *h, const struct proto_batch_op *op, uint64_t *value);

/*
 * Whether @h's accesses are direct now: it was attached and has not been
 * withdrawn by a revoked window since. Thread-safe, does not block.
 */
bool cli_direct_active(const struct cli_handle *h);

/*
 * A direct access on @h (through view @r, or NULL for the handle's own
 * mapping) stopped with MMIO_EFAULT. If the fault was at a device address
 * of a revocable window (MMIO_REGION_REVOCABLE), the server revoked it:
 * @h leaves direct mode for good (its views' fast ends are zeroed, its
 * later accesses are requests) and this returns MMIO_EREVOKED. Otherwise
 * (a device or buffer fault) MMIO_EFAULT. Thread-safe; takes
 * client->mtx, so not with it held.
 */
int cli_direct_fault(struct cli_handle *h, const mmio_region *r);

#endif /* MMIO_CLI_H */
