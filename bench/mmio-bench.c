/* SPDX-License-Identifier: MIT */
/*
 * mmio-bench: once-op latency and bulk copy throughput through libmmio,
 * proxied and direct, each against baselines measured in the same run, with
 * the rounds of a measurement and of its baselines interleaved:
 *
 *  - once-ops (read32 on --once-region): proxied against a bare nng req/rep
 *    round trip of exactly the same message sizes to a process that does
 *    nothing else (a synchronous rep0 loop, and the context pattern
 *    mmio-server uses); direct against a plain volatile load on a raw
 *    mapping of the same device, one read per call, then in two loops of
 *    64 reads (back-to-back: throughput; each waiting for the value
 *    before: latency);
 *  - bulk copies (--region, 64 B to 16 MiB): against memcpy between two RAM
 *    buffers, and against what the mode could be at best: a bare nng round
 *    trip carrying the same bytes (proxied through messages), direct mode
 *    (proxied through shared memory, staged or zero-copy: the data plane's
 *    ceiling), an 8-byte volatile copy loop on a raw mapping of the same
 *    device (direct).
 *
 *  - with --irq REGION (QEMU's edu): a factorial woken by the device's
 *    interrupt (mmio_irq_wait()) against the same factorial waited for with
 *    mmio_poll32() on the status register, on the same direct handle: the
 *    latency from the write that starts it to the driver awake, and the
 *    driver's CPU time per completed factorial (the thread's, so a spinning
 *    poll shows; the server's is not in either).
 *
 * The raw mapping is obtained as a driver without libmmio would get it
 * (HELLO, OPEN, MAP, the descriptor channel) and accessed with no checks.
 *
 * Buffers start at an odd page number and mappings at 2 MiB boundaries (the
 * memcpy baseline's second buffer at an even one), so the two pages a copy
 * touches at once never share an entry of a direct-mapped software TLB:
 * under QEMU's TCG such a collision makes every access of a copy miss
 * (docs/PERFORMANCE.md has what that cost).
 *
 * Absolute numbers depend on the machine; the ratios are the figures to
 * compare. Every figure is the median of --rounds rounds; every ratio is
 * the median of the ratios of single rounds (each round of a measurement is
 * set against the baselines' rounds beside it, so a drift of the clock or
 * of the machine's load between rounds cancels out).
 */
#include <mmio/client.h>
#include <mmio/proto.h>

#include "channel.h"   /* libmmio's descriptor channel code, for the raw baseline */
#include <mmio/shim.h> /* shim_mmap_placed(), as libmmio maps */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS_MAX  99
#define MAX_SIZES   32
#define MAX_RESULT  160
#define MAX_BASES   2
#define PAGE	    4096u
#define ECHO_HEADER 8 /* bulk echo requests start with the reply length (u64 LE) */

struct baseline {
	char name[24];
	double value; /* ns per op (once-ops) or MiB/s (bulk) */
	double ratio; /* time over baseline time (once); throughput over baseline (bulk) */
};

struct result {
	char what[24];	   /* "read32", "read", "write" */
	char mode[8];	   /* "proxied", "direct" */
	size_t size;	   /* bytes per operation (0 for once-ops) */
	const char *shape; /* once-ops: "single" (a call each), "loop", "chain" or "unplaced" */
	unsigned reads;	   /* reads per run of a loop or chain; ns_op is per read */
	double ns_op;	   /* median nanoseconds per operation */
	double mib_s;	   /* throughput, bulk only */
	struct baseline base[MAX_BASES];
	unsigned nbase;
};

static struct result results[MAX_RESULT];
static size_t nresults;
static double round_ms = 100; /* target length of one round */
static int rounds = 5;	      /* rounds per measurement: odd, for a true median */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void die(const char *what, int status)
{
	fprintf(stderr, "mmio-bench: %s: %s (%s)\n", what, mmio_strerror(status),
		mmio_status_name(status));
	exit(1);
}

/*
 * A buffer that starts at an odd page number (@odd) or an even one: the
 * copy buffer is odd, against even device mappings (2 MiB aligned); the
 * RAM-to-RAM baseline's second buffer is even, against the odd one.
 */
struct buffer {
	uint8_t *p;
	void *map;
	size_t map_len;
};

static void buffer_get(struct buffer *b, size_t size, int fill, bool odd)
{
	b->map_len = size + 2 * PAGE;
	b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED)
		die("buffer", MMIO_ENOMEM);
	b->p = b->map;
	if (((uintptr_t)b->p / PAGE) % 2 != (odd ? 1u : 0u))
		b->p += PAGE;
	memset(b->p, fill, size);
}

static void buffer_put(struct buffer *b)
{
	if (b->map)
		munmap(b->map, b->map_len);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------
 * The raw nng baselines: an echo process that answers every request with a
 * reply of a fixed size (styles "sync" and "ctx"), or of the size the
 * request's first 8 bytes say ("bulk"), doing nothing else.
 * ------------------------------------------------------------------------ */

struct echo_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
	size_t reply_len;
};

static void echo_ctx_cb(void *arg)
{
	struct echo_ctx *e = arg;
	nng_msg *m;

	if (nng_aio_result(e->aio) != 0) {
		if (e->sending)
			nng_msg_free(nng_aio_get_msg(e->aio));
		if (nng_aio_result(e->aio) == NNG_ECLOSED)
			return;
		e->sending = false;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (e->sending) {
		e->sending = false;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	m = nng_aio_get_msg(e->aio);
	nng_msg_realloc(m, e->reply_len);
	e->sending = true;
	nng_aio_set_msg(e->aio, m);
	nng_ctx_send(e->ctx, e->aio);
}

static int echo_serve(const char *url, const char *style, size_t reply_len)
{
	nng_socket s;

	if (nng_rep0_open(&s) != 0 || nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0) != 0 ||
	    nng_listen(s, url, NULL, 0) != 0)
		return 1;
	if (strcmp(style, "ctx") == 0) {
		static struct echo_ctx ctxs[8];
		for (int i = 0; i < 8; i++) {
			ctxs[i].reply_len = reply_len;
			nng_aio_alloc(&ctxs[i].aio, echo_ctx_cb, &ctxs[i]);
			nng_ctx_open(&ctxs[i].ctx, s);
			nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
		}
		pause();
		return 0;
	}
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			return 0;
		if (strcmp(style, "bulk") == 0) {
			uint64_t want = 0;
			for (int i = 0; i < ECHO_HEADER && i < (int)nng_msg_len(m); i++)
				want |= (uint64_t)((uint8_t *)nng_msg_body(m))[i] << (8 * i);
			reply_len = (size_t)want;
		}
		nng_msg_realloc(m, reply_len);
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
	}
}

/* Start an echo process (this program, re-executed: nng is not fork-safe). */
static pid_t echo_start(const char *style, size_t reply_len, char *url, size_t urllen)
{
	char lenbuf[32];
	pid_t pid;

	snprintf(url, urllen, "ipc:///tmp/mmio-bench-echo.%d.%s", (int)getpid(), style);
	snprintf(lenbuf, sizeof(lenbuf), "%zu", reply_len);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "mmio-bench", "--echo-server", url, style, lenbuf,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* A req0 socket dialled to @url, retrying until the peer listens. (Never
 * probe with a raw connect()+close(): that stalls nng 1.5.2's listener,
 * upstream issue 1518.) */
static nng_socket dial_retrying(const char *url)
{
	nng_socket s;
	int rv = NNG_ECONNREFUSED;

	/* A fresh socket per attempt: a failed dial can leave one unusable. */
	for (int i = 0; i < 500; i++) {
		if ((rv = nng_req0_open(&s)) != 0)
			break;
		rv = nng_dial(s, url, NULL, 0);
		if (rv != NNG_ECONNREFUSED && rv != NNG_ENOENT)
			break;
		nng_close(s);
		nng_msleep(10);
	}
	if (rv != 0) {
		fprintf(stderr, "mmio-bench: cannot reach %s: %s\n", url, nng_strerror(rv));
		exit(1);
	}
	/* A baseline that stops answering fails the run instead of hanging it. */
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000);
	return s;
}

/* ------------------------------------------------------------------------
 * The raw-mapping baseline of direct mode: the same device memory, granted
 * by the same server through the protocol (HELLO, OPEN, MAP, the descriptor
 * channel), mapped by the bench itself and accessed with plain volatile
 * loads and stores, with no library, no checks and no fault recovery.
 * ------------------------------------------------------------------------ */

struct raw_map {
	nng_socket s; /* the session that holds the handle */
	void *map;
	size_t map_len;
	volatile uint8_t *base; /* byte 0 of the region */
	size_t size;
};

static int raw_call(nng_socket s, const struct proto_request *rq, nng_msg **m,
		    struct proto_reply *rep)
{
	uint8_t buf[256];
	size_t len;
	int st = proto_request_encode(rq, buf, sizeof(buf), &len);

	if (st != MMIO_OK)
		return st;
	if (nng_send(s, buf, len, 0) != 0 || nng_recvmsg(s, m, 0) != 0)
		return MMIO_ECONN;
	st = proto_reply_decode(nng_msg_body(*m), nng_msg_len(*m), rep);
	if (st == MMIO_OK)
		st = rep->status;
	if (st != MMIO_OK)
		nng_msg_free(*m);
	return st;
}

/* The URL mmio_connect(@url) reaches. */
static const char *url_resolve(const char *url)
{
	const char *env = getenv("MMIO_SERVER");

	if (url && url[0])
		return url;
	return env && env[0] ? env : MMIO_DEFAULT_URL;
}

/* Map region @name of the server at @url as a driver without libmmio would. */
static int raw_map_open(const char *url, const char *name, struct raw_map *out)
{
	struct proto_request rq = { .opcode = PROTO_OP_HELLO };
	struct proto_reply rep;
	char path[108];
	uint64_t token, offset, mmap_offset;
	nng_msg *m;
	int fd, st;

	memset(out, 0, sizeof(*out));
	if (!cli_channel_path(url, path, sizeof(path)))
		return MMIO_EACCES;
	out->s = dial_retrying(url);
	rq.hello.min_version = PROTO_VERSION_MIN;
	rq.hello.max_version = PROTO_VERSION_MAX;
	if ((st = raw_call(out->s, &rq, &m, &rep)) != MMIO_OK)
		goto fail;
	nng_msg_free(m);
	rq = (struct proto_request){ .opcode = PROTO_OP_OPEN };
	snprintf(rq.open.name, sizeof(rq.open.name), "%s", name);
	rq.open.length = PROTO_LEN_TO_END;
	if ((st = raw_call(out->s, &rq, &m, &rep)) != MMIO_OK)
		goto fail;
	out->size = (size_t)rep.open.size;
	rq = (struct proto_request){ .opcode = PROTO_OP_MAP, .map = { .handle = rep.open.handle } };
	nng_msg_free(m);
	if ((st = raw_call(out->s, &rq, &m, &rep)) != MMIO_OK)
		goto fail;
	token = rep.map.token;
	out->map_len = (size_t)rep.map.length;
	offset = rep.map.offset;
	nng_msg_free(m);
	if ((st = cli_channel_pickup(path, token, 10000, &fd, &mmap_offset)) != MMIO_OK)
		goto fail;
	/* Placed as libmmio places its mappings (shim_mmap_placed()). */
	out->map = shim_mmap_placed(out->map_len, PROT_READ | PROT_WRITE, fd, mmap_offset, 0);
	close(fd);
	if (out->map == MAP_FAILED) {
		st = MMIO_ENOMEM;
		goto fail;
	}
	out->base = (volatile uint8_t *)out->map + offset;
	return MMIO_OK;

fail:
	nng_close(out->s);
	return st;
}

static void raw_map_close(struct raw_map *rm)
{
	munmap(rm->map, rm->map_len);
	nng_close(rm->s);
}

/* One bulk copy as a raw driver writes it: 8-byte volatile accesses on the
 * device side, then the tail bytes. */
static void raw_copy(const struct raw_map *rm, bool write, uint8_t *buf, size_t size)
{
	size_t words = size / 8, i;

	if (write) {
		for (i = 0; i < words; i++) {
			uint64_t v;
			memcpy(&v, buf + 8 * i, 8);
			((volatile uint64_t *)rm->base)[i] = v;
		}
		for (i *= 8; i < size; i++)
			rm->base[i] = buf[i];
	} else {
		for (i = 0; i < words; i++) {
			uint64_t v = ((volatile const uint64_t *)rm->base)[i];
			memcpy(buf + 8 * i, &v, 8);
		}
		for (i *= 8; i < size; i++)
			buf[i] = rm->base[i];
	}
}

/* ------------------------------------------------------------------------
 * Measurements. Each is an operation run @n times per round; rounds of a
 * measurement and its baselines alternate, and each reports its median.
 * ------------------------------------------------------------------------ */

struct op {
	const char *what; /* for error messages */
	/* Run once. */
	void (*run)(struct op *op);
	/* Once-ops. */
	mmio_region *r;
	mmio_region **views; /* the "views" shape: VIEWS slices, a page apart */
	const struct raw_map *rm;
	nng_socket s;
	const void *req;
	size_t req_len;
	unsigned i;
	unsigned zero;	   /* 0, which the compiler cannot know: see chain_next() */
	mmio_batch *batch; /* the "batch" shape: LOOP_READS read32 once-ops */
	/* Bulk. */
	bool write;
	uint8_t *buf, *ram;
	size_t size;
};

/*
 * The once-op loops start on a cache line each, so that where the linker
 * puts them favours none: an op of a few ns moves with its alignment
 * (docs/PERFORMANCE.md has by how much).
 * mmio_read32() is the header's inline version on direct regions where the
 * compiler allows it (MMIO_INLINE_ONCE), (mmio_read32)() always the call.
 */
__attribute__((aligned(64))) static void run_read32(struct op *op)
{
	uint32_t v;
	int st = mmio_read32(op->r, (op->i++ % 64) * 4, &v);

	if (st != MMIO_OK)
		die("read32", st);
}

__attribute__((aligned(64))) static void run_read32_call(struct op *op)
{
	uint32_t v;
	int st = (mmio_read32)(op->r, (op->i++ % 64) * 4, &v);

	if (st != MMIO_OK)
		die("read32", st);
}

__attribute__((aligned(64))) static void run_raw_load(struct op *op)
{
	uint32_t v = *(volatile const uint32_t *)(op->rm->base + (op->i++ % 64) * 4);

	__asm__ volatile("" : : "r"(v));
}

/* The "unplaced" shape's slice: at 4 mod 8, which libmmio cannot place. */
#define UNPLACED_AT 4

__attribute__((aligned(64))) static void run_raw_load_unplaced(struct op *op)
{
	uint32_t v = *(volatile const uint32_t *)(op->rm->base + UNPLACED_AT + (op->i++ % 64) * 4);

	__asm__ volatile("" : : "r"(v));
}

/*
 * Direct mode also runs two loops of LOOP_READS reads, with the region in a
 * local and every value used, each against the same loop of volatile loads
 * on the raw mapping:
 *  - "loop": back-to-back reads of consecutive registers (a polling or
 *    status-scanning loop). Nothing hides the once-op's own instructions
 *    here, which a call per read would: this is its throughput.
 *  - "chain": each read's offset depends on the value before it (read a
 *    status, then the register it names). The reads wait for each other:
 *    this is their latency.
 */
#define LOOP_READS 64

/* Slices per round of a once-op measurement (see measure()). */
#define ONCE_SLICES 16

/* The next offset of a chain: 4 bytes on, through @v (@zero is 0). */
static inline unsigned chain_next(unsigned off, uint32_t v, unsigned zero)
{
	return (off + 4 + (v & zero)) % (LOOP_READS * 4);
}

/* The loop and the chain through @read: mmio_read32 (the header's inline
 * version) or (mmio_read32) (the library's function). */
#define READ32_SHAPES(name, read)                                                                  \
	__attribute__((aligned(64))) static void run_##name##_loop(struct op *op)                  \
	{                                                                                          \
		mmio_region *r = op->r;                                                            \
		uint32_t sum = 0;                                                                  \
                                                                                                   \
		for (unsigned k = 0; k < LOOP_READS; k++) {                                        \
			uint32_t v;                                                                \
			int st = read(r, k * 4, &v);                                               \
			if (st != MMIO_OK)                                                         \
				die("read32", st);                                                 \
			sum += v;                                                                  \
		}                                                                                  \
		__asm__ volatile("" : : "r"(sum));                                                 \
	}                                                                                          \
	__attribute__((aligned(64))) static void run_##name##_chain(struct op *op)                 \
	{                                                                                          \
		mmio_region *r = op->r;                                                            \
		unsigned zero = op->zero, off = 0;                                                 \
                                                                                                   \
		for (unsigned k = 0; k < LOOP_READS; k++) {                                        \
			uint32_t v;                                                                \
			int st = read(r, off, &v);                                                 \
			if (st != MMIO_OK)                                                         \
				die("read32", st);                                                 \
			off = chain_next(off, v, zero);                                            \
		}                                                                                  \
		__asm__ volatile("" : : "r"(off));                                                 \
	}
READ32_SHAPES(read32, mmio_read32)
READ32_SHAPES(read32_call, (mmio_read32))

/* "batch": LOOP_READS read32 once-ops in one mmio_batch_run() (one request
 * on a proxied region), against run_read32_loop(): as many single calls. */
static void run_batch(struct op *op)
{
	size_t failed;
	int st = mmio_batch_run(op->batch, &failed);

	if (st != MMIO_OK)
		die("batch", st);
}

/*
 * "views": a read from each of VIEWS slices that start a page, in turn (a
 * driver polling one register of each of many queues). The handles of
 * such views share an L1 cache set, which is why libmmio places at most 8
 * of them for the header's first try; the raw loop reads the same
 * registers on its one mapping.
 */
#define VIEWS 32

#define READ32_VIEWS(name, read)                                                                   \
	__attribute__((aligned(64))) static void run_##name##_views(struct op *op)                 \
	{                                                                                          \
		mmio_region **views = op->views;                                                   \
		unsigned at = (op->i++ % 8) * 4;                                                   \
		uint32_t sum = 0;                                                                  \
                                                                                                   \
		for (unsigned k = 0; k < VIEWS; k++) {                                             \
			uint32_t v;                                                                \
			int st = read(views[k], at, &v);                                           \
			if (st != MMIO_OK)                                                         \
				die("read32", st);                                                 \
			sum += v;                                                                  \
		}                                                                                  \
		__asm__ volatile("" : : "r"(sum));                                                 \
	}
READ32_VIEWS(read32, mmio_read32)
READ32_VIEWS(read32_call, (mmio_read32))

__attribute__((aligned(64))) static void run_raw_load_views(struct op *op)
{
	const volatile unsigned char *base = op->rm->base;
	unsigned at = (op->i++ % 8) * 4;
	uint32_t sum = 0;

	for (unsigned k = 0; k < VIEWS; k++)
		sum += *(const volatile uint32_t *)(const volatile void *)(base + k * 4096u + at);
	__asm__ volatile("" : : "r"(sum));
}

__attribute__((aligned(64))) static void run_raw_load_loop(struct op *op)
{
	const volatile uint32_t *reg = (const volatile uint32_t *)(void *)op->rm->base;
	uint32_t sum = 0;

	for (unsigned k = 0; k < LOOP_READS; k++)
		sum += reg[k];
	__asm__ volatile("" : : "r"(sum));
}

__attribute__((aligned(64))) static void run_raw_load_chain(struct op *op)
{
	const volatile unsigned char *base = op->rm->base;
	unsigned zero = op->zero, off = 0;

	for (unsigned k = 0; k < LOOP_READS; k++)
		off = chain_next(
			off, *(const volatile uint32_t *)(const volatile void *)(base + off), zero);
	__asm__ volatile("" : : "r"(off));
}

static void run_round_trip(struct op *op)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, op->req_len);

	if (rv == 0) {
		memcpy(nng_msg_body(m), op->req, op->req_len);
		rv = nng_sendmsg(op->s, m, 0);
	}
	if (rv == 0)
		rv = nng_recvmsg(op->s, &m, 0);
	if (rv != 0) {
		fprintf(stderr, "mmio-bench: %s: a bare round trip failed: %s\n", op->what,
			nng_strerror(rv));
		exit(1);
	}
	nng_msg_free(m);
}

static void run_bulk(struct op *op)
{
	size_t done;
	int st = op->write ? mmio_write(op->r, 0, op->buf, op->size, &done)
			   : mmio_read(op->r, 0, op->buf, op->size, &done);

	if (st != MMIO_OK)
		die(op->what, st);
}

static void run_raw_copy(struct op *op)
{
	raw_copy(op->rm, op->write, op->buf, op->size);
	__asm__ volatile("" : : "r"(op->buf) : "memory");
}

static void run_memcpy(struct op *op)
{
	memcpy(op->write ? op->ram : op->buf, op->write ? op->buf : op->ram, op->size);
	/* Keep the copy from being optimised away or merged. */
	__asm__ volatile("" : : "r"(op->ram), "r"(op->buf) : "memory");
}

/* The bytes of a copy carried by nng: a read asks for size bytes and gets
 * them (copied out, as the library does); a write sends them. */
static void run_nng_bulk(struct op *op)
{
	size_t len = op->write ? ECHO_HEADER + op->size : ECHO_HEADER;
	uint64_t want = op->write ? ECHO_HEADER : op->size;
	nng_msg *m;
	int rv = nng_msg_alloc(&m, len);

	if (rv == 0) {
		uint8_t *body = nng_msg_body(m);
		for (int i = 0; i < ECHO_HEADER; i++)
			body[i] = (uint8_t)(want >> (8 * i));
		if (op->write)
			memcpy(body + ECHO_HEADER, op->buf, op->size);
		rv = nng_sendmsg(op->s, m, 0);
	}
	if (rv == 0)
		rv = nng_recvmsg(op->s, &m, 0);
	if (rv != 0) {
		fprintf(stderr, "mmio-bench: %s: a bare round trip failed: %s\n", op->what,
			nng_strerror(rv));
		exit(1);
	}
	if (!op->write)
		memcpy(op->buf, nng_msg_body(m),
		       op->size < nng_msg_len(m) ? op->size : nng_msg_len(m));
	nng_msg_free(m);
}

/* Runs of @op per round: enough for about round_ms, at least 3. */
static unsigned calibrate(struct op *op)
{
	double t0 = now_ns(), spent;
	unsigned n = 0;

	do {
		op->run(op);
		n++;
		spent = now_ns() - t0;
	} while (spent < round_ms * 1e6 / 20 && n < 1000000);
	double per = spent / n, want = round_ms * 1e6 / per;
	return want < 3 ? 3 : want > 1e8 ? 100000000u : (unsigned)want;
}

/*
 * @rounds rounds of @ops[0] and of each baseline @ops[1..nops), interleaved
 * (each round starts with another of them, so that none is always first
 * after the switch); the median ns per op of each into @ns, and into
 * @ratio[j] the median over rounds of ops[0]'s time over ops[j]'s in the
 * same round (@ratio[0] is 1).
 * With @slices > 1 each round is cut into that many slices and the ops
 * alternate slice by slice: for operations of a few nanoseconds, whose
 * speed on a shared machine drifts within a round; a round's time is still
 * its whole, so the median's meaning does not change.
 */
static void measure(struct op **ops, unsigned nops, unsigned slices, double *ns, double *ratio)
{
	double t[1 + MAX_BASES][ROUNDS_MAX], r[ROUNDS_MAX];
	unsigned n[1 + MAX_BASES];

	for (unsigned j = 0; j < nops; j++) {
		n[j] = calibrate(ops[j]);
		if (n[j] < slices)
			n[j] = slices;
	}
	for (int k = 0; k < rounds; k++) {
		for (unsigned j = 0; j < nops; j++)
			t[j][k] = 0;
		for (unsigned sl = 0; sl < slices; sl++) {
			for (unsigned x = 0; x < nops; x++) {
				unsigned j = (x + (unsigned)k + sl) % nops;
				/* Slice sl's share of n[j] runs (the shares add up to n[j]). */
				unsigned m = (unsigned)((uint64_t)n[j] * (sl + 1) / slices -
							(uint64_t)n[j] * sl / slices);
				double t0 = now_ns();
				for (unsigned i = 0; i < m; i++)
					ops[j]->run(ops[j]);
				t[j][k] += now_ns() - t0;
			}
		}
		for (unsigned j = 0; j < nops; j++)
			t[j][k] /= n[j];
	}
	for (unsigned j = 0; j < nops; j++) {
		for (int k = 0; k < rounds; k++)
			r[k] = t[0][k] / t[j][k];
		ratio[j] = median(r, (size_t)rounds);
	}
	for (unsigned j = 0; j < nops; j++)
		ns[j] = median(t[j], (size_t)rounds);
}

static double mib_s(size_t size, double ns)
{
	return (double)size / (1024.0 * 1024.0) / (ns / 1e9);
}

static struct result *result_add(const char *what, const char *mode, size_t size)
{
	struct result *res = &results[nresults < MAX_RESULT ? nresults++ : MAX_RESULT - 1];

	memset(res, 0, sizeof(*res));
	snprintf(res->what, sizeof(res->what), "%s", what);
	snprintf(res->mode, sizeof(res->mode), "%s", mode);
	res->size = size;
	return res;
}

static void base_add(struct result *res, const char *name, double value, double ratio)
{
	struct baseline *b = &res->base[res->nbase++];

	snprintf(b->name, sizeof(b->name), "%s", name);
	b->value = value;
	b->ratio = ratio;
}

/* ------------------------------------------------------------------------
 * Output: a table, JSON, an SVG plot.
 * ------------------------------------------------------------------------ */

static void size_name(size_t size, char *buf, size_t len)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, len, "%zu KiB", size >> 10);
	else
		snprintf(buf, len, "%zu B", size);
}

static void print_table(void)
{
	printf("\n%-7s %-8s %8s %11s %10s  %-20s %14s %7s  %-20s %14s %7s\n", "op", "mode", "size",
	       "ns/op", "MiB/s", "baseline 1", "", "ratio", "baseline 2", "", "ratio");
	for (size_t i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		char sz[32] = "-", mb[32] = "-";

		if (r->size)
			size_name(r->size, sz, sizeof(sz));
		else if (r->reads > 1)
			snprintf(sz, sizeof(sz), "%s %u", r->shape, r->reads);
		else if (r->shape && strcmp(r->shape, "single") != 0)
			snprintf(sz, sizeof(sz), "%s", r->shape);
		if (r->mib_s > 0)
			snprintf(mb, sizeof(mb), "%.1f", r->mib_s);
		/* Nanoseconds to a tenth where that is still news (a direct read). */
		printf("%-7s %-8s %8s %11.*f %10s", r->what, r->mode, sz, r->ns_op < 100 ? 1 : 0,
		       r->ns_op, mb);
		for (unsigned b = 0; b < r->nbase; b++) {
			char v[32];
			if (r->size)
				snprintf(v, sizeof(v), "%.1f MiB/s", r->base[b].value);
			else
				snprintf(v, sizeof(v), "%.*f ns", r->base[b].value < 100 ? 1 : 0,
					 r->base[b].value);
			printf("  %-20s %14s %7.3f", r->base[b].name, v, r->base[b].ratio);
		}
		putchar('\n');
	}
	printf("\nratio: once-ops = time / baseline time (1.00 = no overhead over the baseline);\n"
	       "       bulk = throughput / baseline throughput (1.00 = as fast as the baseline);\n"
	       "       each the median of the ratios of single rounds, so not always the\n"
	       "       quotient of the two medians shown.\n"
	       "read32 direct: \"-\" one read per call; \"loop N\" N back-to-back reads\n"
	       "       (throughput); \"chain N\" N reads, each at an offset the read before\n"
	       "       gave (latency); \"unplaced\" one read per call on a slice at offset 4,\n"
	       "       which libmmio cannot place (the header reaches it through its base);\n"
	       "       \"views N\" a read from each of N slices a page apart, in turn;\n"
	       "       ns/op is per read.\n"
	       "read32 proxied, mailbox: \"rules\" (--rules-region) through a grant with\n"
	       "       register rules against the same grant without (--rules-baseline);\n"
	       "       \"lookup\": the server's lookup in 64 rules alone (mmio_register_check()),\n"
	       "       its ratio the share of such a read32's time.\n"
	       "fact irq (--irq): \"latency\" from the write that starts edu's factorial to\n"
	       "       mmio_irq_wait() returning, against mmio_poll32() on the status register\n"
	       "       (direct); \"cpu\" the driver thread's CPU time per factorial, interrupt\n"
	       "       (wait, acknowledge, unmask) against polling; ratio = irq / poll.\n"
	       "read32 proxied, mailbox: \"batch N\" N read32 once-ops in one mmio_batch_run()\n"
	       "       (one request) against N single calls on the same client; ns/op is per\n"
	       "       read, the ratio is the batch's time over the single calls'.\n"
	       "Placement: copy buffers start at odd page numbers, device mappings (libmmio's\n"
	       "and the raw one) at 2 MiB boundaries, the memcpy baseline's other buffer at an\n"
	       "even page: the two pages a copy touches never share a slot of a direct-mapped\n"
	       "TLB, such as QEMU's software TLB under TCG (where a collision makes each access\n"
	       "miss).\n");
#ifdef MMIO_INLINE_COPY_MAX
	printf("Direct copies of 8 to %d bytes (multiples of 8, 8-aligned) are made inline by\n"
	       "<mmio/client.h>; longer ones, and all copies in other modes, by the library.\n",
	       MMIO_INLINE_COPY_MAX);
#endif
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "mmio-bench: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "{\n  \"rounds\": %d,\n  \"round_ms\": %.0f,\n  \"results\": [\n", rounds,
		round_ms);
	for (size_t i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		fprintf(f, "    {\"op\": \"%s\", \"mode\": \"%s\", \"size\": %zu, ", r->what,
			r->mode, r->size);
		if (r->shape)
			fprintf(f, "\"shape\": \"%s\", \"reads\": %u, ", r->shape, r->reads);
		fprintf(f, "\"ns_per_op\": %.2f, \"mib_per_s\": %.2f, \"baselines\": [", r->ns_op,
			r->mib_s);
		for (unsigned b = 0; b < r->nbase; b++)
			fprintf(f, "%s{\"name\": \"%s\", \"value\": %.2f, \"ratio\": %.4f}",
				b ? ", " : "", r->base[b].name, r->base[b].value, r->base[b].ratio);
		fprintf(f, "]}%s\n", i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) == 0 ? 0 : 1;
}

/* One line of the plot: throughput against size for (op, mode), or for a
 * baseline of theirs (@base >= 0). */
struct series {
	const char *op, *mode;
	int base;
	const char *label, *color, *dash;
};

static bool series_point(const struct series *s, size_t i, double *x, double *y)
{
	const struct result *r = &results[i];

	if (!r->size || strcmp(r->what, s->op) != 0 || strcmp(r->mode, s->mode) != 0)
		return false;
	if (s->base >= (int)r->nbase)
		return false;
	*x = log2((double)r->size);
	*y = s->base < 0 ? r->mib_s : r->base[s->base].value;
	return *y > 0;
}

static int write_svg(const char *path, const char *title)
{
	static const struct series series[] = {
		{ "read", "proxied", -1, "read, proxied", "#1f77b4", "" },
		{ "write", "proxied", -1, "write, proxied", "#ff7f0e", "" },
		{ "read", "direct", -1, "read, direct", "#2ca02c", "" },
		{ "write", "direct", -1, "write, direct", "#d62728", "" },
		{ "read", "proxied", 1, "read, bare nng round trip", "#1f77b4", "6,4" },
		{ "read", "direct", 1, "read, raw mapping", "#2ca02c", "6,4" },
		{ "write", "direct", 1, "write, raw mapping", "#d62728", "6,4" },
		{ "read", "staged", -1, "read, shared memory (staged)", "#9467bd", "" },
		{ "read", "zerocopy", -1, "read, shared memory (zero-copy)", "#8c564b", "" },
		{ "write", "zerocopy", -1, "write, shared memory (zero-copy)", "#e377c2", "" },
		{ "read", "direct", 0, "RAM memcpy", "#7f7f7f", "2,3" },
	};
	const double W = 900, H = 540, L = 80, R = 290, T = 50, B = 60;
	double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9, x, y;
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "mmio-bench: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++)
		for (size_t i = 0; i < nresults; i++)
			if (series_point(&series[s], i, &x, &y)) {
				xmin = fmin(xmin, x), xmax = fmax(xmax, x);
				ymin = fmin(ymin, log10(y)), ymax = fmax(ymax, log10(y));
			}
	if (xmin > xmax) {
		xmin = 6, xmax = 24, ymin = 0, ymax = 4;
	}
	ymin = floor(ymin), ymax = ceil(ymax);
	if (xmax - xmin < 1)
		xmax = xmin + 1;
	if (ymax - ymin < 1)
		ymax = ymin + 1;
#define PX(v) (L + ((v)-xmin) / (xmax - xmin) * (W - L - R))
#define PY(v) (H - B - ((v)-ymin) / (ymax - ymin) * (H - T - B))
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"%.0f\" y=\"24\" font-size=\"15\">%s</text>\n",
		W, H, L, title);
	for (double v = ymin; v <= ymax + 1e-9; v += 1) {
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
			L, PY(v), W - R, PY(v), L - 6, PY(v) + 4, pow(10, v));
	}
	for (double v = ceil(xmin); v <= xmax + 1e-9; v += 2) {
		char sz[32];
		size_name((size_t)1 << (int)v, sz, sizeof(sz));
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			PX(v), T, PX(v), H - B, PX(v), H - B + 18, sz);
	}
	fprintf(f,
		"<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">bytes per copy</text>\n"
		"<text transform=\"translate(20 %.0f) rotate(-90)\" text-anchor=\"middle\">"
		"MiB/s (log)</text>\n",
		(L + W - R) / 2, H - 16, (T + H - B) / 2);
	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		const struct series *se = &series[s];
		bool any = false;

		for (size_t i = 0; i < nresults; i++) {
			if (!series_point(se, i, &x, &y))
				continue;
			if (!any)
				fprintf(f,
					"<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
					"stroke-dasharray=\"%s\" points=\"",
					se->color, se->dash);
			fprintf(f, "%.1f,%.1f ", PX(x), PY(log10(y)));
			any = true;
		}
		if (!any)
			continue;
		fprintf(f, "\"/>\n");
		double ly = T + 16 + 20 * (double)s;
		fprintf(f,
			"<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
			"stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n"
			"<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
			W - R + 16, ly, W - R + 46, ly, se->color, se->dash, W - R + 52, ly + 4,
			se->label);
	}
	/* --irq: the factorial's two rows, as text under the legend. */
	for (size_t i = 0, k = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		if (strcmp(r->what, "fact") != 0 || r->nbase == 0)
			continue;
		if (k++ == 0)
			fprintf(f,
				"<text x=\"%.0f\" y=\"%.0f\">edu factorial, irq vs "
				"poll32:</text>\n",
				W - R + 16, H - B - 40);
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s %.1f us vs %.1f us (x%.2f)</text>\n",
			W - R + 16, H - B - 40 + 18 * (double)k, r->shape, r->ns_op / 1000,
			r->base[0].value / 1000, r->base[0].ratio);
	}
#undef PX
#undef PY
	fprintf(f, "</svg>\n");
	return fclose(f) == 0 ? 0 : 1;
}

static size_t parse_sizes(const char *list, size_t *out)
{
	size_t n = 0;
	char *copy = strdup(list), *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok && n < MAX_SIZES;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long long v = strtoull(tok, &end, 0);
		if (strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0)
			v <<= 10, end = "";
		else if (strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0)
			v <<= 20, end = "";
		if (*end || v == 0 || tok[0] == '-') {
			fprintf(stderr, "mmio-bench: bad size \"%s\" in --sizes\n", tok);
			exit(2);
		}
		out[n++] = (size_t)v;
	}
	free(copy);
	return n;
}

/* ------------------------------------------------------------------------
 * Interrupts against polling (edu's factorial).
 * ------------------------------------------------------------------------ */

#define EDU_FACTORIAL  0x08
#define EDU_STATUS     0x20
#define EDU_BUSY       0x01u
#define EDU_IRQFACT    0x80u
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_ACK    0x64
#define IRQ_FACTS      64 /* factorials per round and way */
#define IRQ_TIMEOUT_US 1000000

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One factorial, woken by the interrupt (@irq) or by polling (NULL): the
 * wall time from the write to the wake into *@wall; MMIO_OK or an error. */
static int irq_factorial(mmio_region *r, mmio_irq *irq, uint32_t n, double *wall)
{
	uint32_t v = 0;
	uint64_t count = 0;
	double t0 = now_ns();
	int st = mmio_write32(r, EDU_FACTORIAL, n);

	if (st == MMIO_OK)
		st = irq ? mmio_irq_wait(irq, IRQ_TIMEOUT_US, &count)
			 : mmio_poll32(r, EDU_STATUS, EDU_BUSY, 0, IRQ_TIMEOUT_US, &v);
	*wall = now_ns() - t0;
	if (st != MMIO_OK || !irq)
		return st;
	if (count != 1)
		return MMIO_EINTERNAL;
	st = mmio_read32(r, EDU_IRQ_STATUS, &v);
	if (st == MMIO_OK)
		st = mmio_write32(r, EDU_IRQ_ACK, v);
	return st == MMIO_OK ? mmio_irq_unmask(irq) : st;
}

/* IRQ_FACTS factorials one way: the median wall time and the CPU time per
 * factorial. */
static int irq_round(mmio_region *r, mmio_irq *irq, double *wall, double *cpu)
{
	double w[IRQ_FACTS], c0 = thread_cpu_ns();
	int st = MMIO_OK;

	for (unsigned k = 0; k < IRQ_FACTS && st == MMIO_OK; k++)
		st = irq_factorial(r, irq, k % 12 + 1, &w[k]);
	*cpu = (thread_cpu_ns() - c0) / IRQ_FACTS;
	*wall = median(w, IRQ_FACTS);
	return st;
}

static void bench_irq(mmio_client *c, const char *name)
{
	double wi[ROUNDS_MAX], wp[ROUNDS_MAX], ci[ROUNDS_MAX], cp[ROUNDS_MAX];
	double rw[ROUNDS_MAX], rc[ROUNDS_MAX];
	struct result *res;
	mmio_region *r;
	mmio_irq *irq;
	uint32_t status = 0;
	int st = mmio_open(c, name, MMIO_OPEN_DIRECT, &r);

	if (st != MMIO_OK)
		die("irq: open", st);
	st = mmio_irq_open(c, name, &irq);
	if (st != MMIO_OK)
		die("irq: mmio_irq_open", st);
	st = mmio_read32(r, EDU_STATUS, &status);
	for (int i = 0; i < rounds && st == MMIO_OK; i++) {
		st = mmio_write32(r, EDU_STATUS, status | EDU_IRQFACT);
		if (st == MMIO_OK)
			st = irq_round(r, irq, &wi[i], &ci[i]);
		if (st == MMIO_OK)
			st = mmio_write32(r, EDU_STATUS, status & ~EDU_IRQFACT);
		if (st == MMIO_OK)
			st = irq_round(r, NULL, &wp[i], &cp[i]);
		rw[i] = wi[i] / wp[i];
		rc[i] = ci[i] / cp[i];
	}
	if (st != MMIO_OK)
		die("irq: a factorial", st);
	mmio_irq_close(irq);
	mmio_close(r);
	res = result_add("fact", "irq", 0);
	res->shape = "latency";
	res->reads = 1;
	res->ns_op = median(wi, (size_t)rounds);
	base_add(res, "poll32 latency", median(wp, (size_t)rounds), median(rw, (size_t)rounds));
	res = result_add("fact", "irq", 0);
	res->shape = "cpu";
	res->reads = 1;
	res->ns_op = median(ci, (size_t)rounds);
	base_add(res, "poll32 cpu", median(cp, (size_t)rounds), median(rc, (size_t)rounds));
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mmio-bench [-s URL] [--region NAME] [--once-region NAME]\n"
		"                  [--rules-region NAME --rules-baseline NAME]\n"
		"                  [--mode proxied|shared|direct|all] [--sizes LIST]\n"
		"                  [--round-ms MS] [--rounds N]\n"
		"                  [--json FILE] [--svg FILE] [--title TEXT] [--irq NAME]\n"
		"\n"
		"Measure once-op latency and bulk copy throughput through libmmio, proxied\n"
		"and direct, against baselines measured in the same run: a bare nng round\n"
		"trip and RAM memcpy (proxied); a raw mapping of the same device (direct).\n"
		"\n"
		"  -s, --server URL       server address (default $MMIO_SERVER, else %s)\n"
		"      --region NAME      region for bulk copies (default \"bench\"): ops bulk\n"
		"                         (and map for direct mode)\n"
		"      --once-region NAME region for read32 (default: --region): ops once\n"
		"      --rules-region NAME, --rules-baseline NAME\n"
		"                         also read32 proxied on a grant with register rules\n"
		"                         (at offsets 0 to 252, width 4) against the same\n"
		"                         grant without them\n"
		"      --mode MODE        proxied (messages), shared (shared memory, staged\n"
		"                         and zero-copy), direct, or all (default)\n"
		"      --sizes LIST       bulk sizes, e.g. 64,4K,1M (default 64 B to 16 MiB\n"
		"                         by 4; sizes above the region are skipped)\n"
		"      --round-ms MS      length of one measuring round (default 100)\n"
		"      --rounds N         rounds per measurement, odd, 3 to 99 (default 5)\n"
		"      --json FILE        also write the results as JSON\n"
		"      --svg FILE         also plot throughput against size as SVG\n"
		"      --title TEXT       the plot's title\n"
		"      --irq NAME         also edu's factorial woken by its interrupt against\n"
		"                         mmio_poll32() (ops once, poll, map, irq on NAME)\n",
		MMIO_DEFAULT_URL);
}

/* Record a read32 measurement of @mode in @shape, @reads reads per run
 * (@ns per run, made per read here), and its two baselines, named @b1 and
 * @b2. */
static void once_row(const char *mode, const char *shape, unsigned reads, double *ns,
		     const double *ratio, const char *b1, const char *b2)
{
	struct result *res = result_add("read32", mode, 0);

	for (unsigned j = 0; j < 3; j++)
		ns[j] /= reads;
	res->shape = shape;
	res->reads = reads;
	res->ns_op = ns[0];
	base_add(res, b1, ns[1], ratio[1]);
	base_add(res, b2, ns[2], ratio[2]);
}

/* Direct read32, each shape against a raw mapping and the library's call:
 * the inline read, the raw load and the call, in that order. */
static const struct direct_shape {
	const char *shape;
	unsigned reads;
	void (*run[3])(struct op *);
	const char *base1, *base2;
	/* The measurement reads a slice at @slice_at, not the region (the
	 * call stays on the region); or VIEWS slices a page apart (@views). */
	size_t slice_at;
	bool views;
} direct_shapes[] = {
	{ .shape = "single",
	  .reads = 1,
	  .run = { run_read32, run_raw_load, run_read32_call },
	  .base1 = "raw mmap load",
	  .base2 = "libmmio call" },
	{ .shape = "loop",
	  .reads = LOOP_READS,
	  .run = { run_read32_loop, run_raw_load_loop, run_read32_call_loop },
	  .base1 = "raw volatile loop",
	  .base2 = "libmmio call loop" },
	{ .shape = "chain",
	  .reads = LOOP_READS,
	  .run = { run_read32_chain, run_raw_load_chain, run_read32_call_chain },
	  .base1 = "raw volatile chain",
	  .base2 = "libmmio call chain" },
	/* The raw load at the same offsets as the slice's. */
	{ .shape = "unplaced",
	  .reads = 1,
	  .run = { run_read32, run_raw_load_unplaced, run_read32_call },
	  .base1 = "raw mmap load",
	  .base2 = "libmmio call",
	  .slice_at = UNPLACED_AT },
	{ .shape = "views",
	  .reads = VIEWS,
	  .run = { run_read32_views, run_raw_load_views, run_read32_call_views },
	  .base1 = "raw volatile loop",
	  .base2 = "libmmio call loop",
	  .views = true },
};

/*
 * A batch of LOOP_READS read32 once-ops on proxied region @r of client @c,
 * run as one request, against as many single proxied read32 calls (the
 * "loop" shape through the same client, so the same path: the socket, or
 * the mailbox). ns/op is per read; the ratio is the batch's time over the
 * single calls' (below 1: the batch is faster).
 */
static void bench_batch(mmio_client *c, const char *mode, mmio_region *r)
{
	struct op meas = { .what = "batch", .run = run_batch, .r = r };
	struct op single = { .what = "read32", .run = run_read32_loop, .r = r };
	struct op *ops[2] = { &meas, &single };
	struct result *res;
	double ns[2], ratio[2];
	int st = mmio_batch_new(c, &meas.batch);

	if (st != MMIO_OK)
		die("batch", st);
	for (unsigned k = 0; k < LOOP_READS; k++)
		if ((st = mmio_batch_read(meas.batch, r, k * 4, 4)) < 0)
			die("batch", st);
	measure(ops, 2, 1, ns, ratio);
	mmio_batch_free(meas.batch);
	res = result_add("read32", mode, 0);
	res->shape = "batch";
	res->reads = LOOP_READS;
	res->ns_op = ns[0] / LOOP_READS;
	base_add(res, "single calls", ns[1] / LOOP_READS, ratio[1]);
}

/* 64 register rules, one per offset read32 reads, as run-host.sh grants them. */
static struct mmio_register rules64[LOOP_READS];

/* The server's register lookup alone, as it runs for a read32 on the ruled grant. */
static void run_rule_lookup(struct op *op)
{
	int st = mmio_register_check(rules64, LOOP_READS, (op->i++ % 64) * 4, 4, MMIO_ACCESS_READ,
				     0);

	if (st != MMIO_OK)
		die("register lookup", st);
}

/*
 * Issue 22: proxied read32 on @ruled (a grant with register rules, one per
 * offset read: 64) against the same on @plain (the same grant without
 * rules), on client @c in @mode ("proxied" or "mailbox"), interleaved. The
 * ratio is the ruled grant's time over the plain one's: the cost of the
 * rule lookup in the server's rights check.
 */
static void bench_rules(mmio_client *c, const char *mode, const char *ruled, const char *plain)
{
	struct op meas = { .what = "read32", .run = run_read32 };
	struct op base = { .what = "read32", .run = run_read32 };
	struct op *ops[2] = { &meas, &base };
	struct result *res;
	double ns[2], ratio[2];
	int st = mmio_open(c, ruled, MMIO_OPEN_PROXIED, &meas.r);

	if (st == MMIO_OK)
		st = mmio_open(c, plain, MMIO_OPEN_PROXIED, &base.r);
	if (st != MMIO_OK) {
		printf("%s read32 rules: regions \"%s\" and \"%s\" not available (%s)\n", mode,
		       ruled, plain, mmio_status_name(st));
		if (meas.r)
			mmio_close(meas.r);
		return;
	}
	measure(ops, 2, ONCE_SLICES, ns, ratio);
	res = result_add("read32", mode, 0);
	res->shape = "rules";
	res->reads = 1;
	res->ns_op = ns[0];
	base_add(res, "no register rules", ns[1], ratio[1]);
	/* The lookup's own cost, as a share of the read32 it is part of. */
	for (unsigned k = 0; k < LOOP_READS; k++)
		rules64[k] = (struct mmio_register){ .offset = k * 4,
						     .count = 1,
						     .stride = 4,
						     .write_mask = UINT64_MAX,
						     .widths = 4,
						     .access = MMIO_ACCESS_READ };
	base.run = run_rule_lookup;
	ops[0] = &base;
	ops[1] = &meas;
	measure(ops, 2, ONCE_SLICES, ns, ratio);
	res = result_add("lookup", mode, 0);
	res->shape = "64 rules";
	res->reads = 1;
	res->ns_op = ns[0];
	base_add(res, "read32, 64 rules", ns[1], ratio[1]);
	mmio_close(meas.r);
	mmio_close(base.r);
}

/*
 * read32 on @name through client @c in @mode: "direct" (against a raw
 * load), "proxied" (@c on the socket alone; against bare nng round trips
 * of the same message sizes) or "mailbox" (@c with a mailbox; against the
 * socket client @sock_c and a bare synchronous nng round trip).
 */
static void bench_once(mmio_client *c, mmio_client *sock_c, const char *mode, const char *url,
		       const char *name, nng_socket sync_sock, nng_socket ctx_sock)
{
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE };
	bool direct = strcmp(mode, "direct") == 0, mailbox = strcmp(mode, "mailbox") == 0;
	struct op meas = { .what = "read32", .run = run_read32 }, b1, b2;
	struct op *ops[3] = { &meas, &b1, &b2 };
	struct raw_map rm;
	uint8_t req[64];
	size_t req_len = 0;
	double ns[3], ratio[3];
	int st;

	st = mmio_open(c, name, direct ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED, &meas.r);
	if (st != MMIO_OK) {
		printf("%s read32: not available on region \"%s\" (%s)\n", mode, name,
		       mmio_status_name(st));
		return;
	}
	/* The same message sizes as a READ_ONCE round trip. */
	rq.read_once.width = 4;
	proto_request_encode(&rq, req, sizeof(req), &req_len);
	b2 = (struct op){ .what = "nng sync",
			  .run = run_round_trip,
			  .s = sync_sock,
			  .req = req,
			  .req_len = req_len };
	if (direct) {
		st = raw_map_open(url, name, &rm);
		if (st != MMIO_OK) {
			printf("direct read32: no raw mapping of \"%s\" for the baseline (%s): not "
			       "measured\n",
			       name, mmio_status_name(st));
			mmio_close(meas.r);
			return;
		}
		b1 = (struct op){ .what = "raw load", .rm = &rm };
		b2 = (struct op){ .what = "read32 call", .r = meas.r };
		mmio_region *region = meas.r, *views[VIEWS];
		for (size_t k = 0; k < sizeof(direct_shapes) / sizeof(direct_shapes[0]); k++) {
			const struct direct_shape *sh = &direct_shapes[k];

			if (sh->views && mmio_size(region) < VIEWS * 4096u) {
				printf("direct read32 views: region \"%s\" is smaller than %u "
				       "pages: "
				       "not measured\n",
				       name, VIEWS);
				continue;
			}
			for (unsigned j = 0; sh->views && j < VIEWS; j++) {
				st = mmio_slice(region, j * 4096u, 4096, &views[j]);
				if (st != MMIO_OK)
					die("slice", st);
			}
			meas.views = b2.views = sh->views ? views : NULL;
			if (sh->slice_at) {
				st = mmio_slice(region, sh->slice_at, LOOP_READS * 4, &meas.r);
				if (st != MMIO_OK)
					die("slice", st);
			}
			meas.run = sh->run[0];
			b1.run = sh->run[1];
			b2.run = sh->run[2];
			measure(ops, 3, ONCE_SLICES, ns, ratio);
			once_row(mode, sh->shape, sh->reads, ns, ratio, sh->base1, sh->base2);
			if (sh->slice_at) {
				mmio_close(meas.r);
				meas.r = region;
			}
			for (unsigned j = 0; sh->views && j < VIEWS; j++)
				mmio_close(views[j]);
		}
		raw_map_close(&rm);
	} else if (mailbox) {
		b1 = (struct op){ .what = "read32 on the socket", .run = run_read32 };
		st = mmio_open(sock_c, name, MMIO_OPEN_PROXIED, &b1.r);
		if (st != MMIO_OK)
			die("open", st);
		measure(ops, 3, ONCE_SLICES, ns, ratio);
		mmio_close(b1.r);
	} else {
		b1 = b2;
		b2.what = "nng contexts";
		b2.s = ctx_sock;
		measure(ops, 3, ONCE_SLICES, ns, ratio);
	}
	if (mailbox)
		once_row(mode, "single", 1, ns, ratio, "libmmio, socket", "nng rep0 sync");
	else if (!direct)
		once_row(mode, "single", 1, ns, ratio, "nng rep0 sync", "nng rep0 contexts");
	if (!direct)
		bench_batch(c, mode, meas.r);
	mmio_close(meas.r);
}

/* Bulk modes: messages, shared memory (staged and zero-copy), direct. */
enum bulk_mode { BULK_PROXIED, BULK_SHARED, BULK_DIRECT };

/* Measure @meas against RAM memcpy and @best (named @best_name) and record it. */
static void bulk_row(struct op *meas, const char *mode, struct op *best, const char *best_name)
{
	struct op mem = *meas;
	struct op *ops[3] = { meas, &mem, best };
	struct result *res;
	double ns[3], ratio[3];

	mem.run = run_memcpy;
	measure(ops, best ? 3 : 2, 1, ns, ratio);
	res = result_add(meas->what, mode, meas->size);
	res->ns_op = ns[0];
	res->mib_s = mib_s(meas->size, ns[0]);
	/* Throughput over the baseline's: the inverse of the time ratio (the
	 * median of inverses is the inverse of the median, as rounds is odd). */
	base_add(res, "RAM memcpy", mib_s(meas->size, ns[1]), 1.0 / ratio[1]);
	if (best)
		base_add(res, best_name, mib_s(meas->size, ns[2]), 1.0 / ratio[2]);
}

/*
 * Bulk copies on region @name, at each size, in @mode: through messages
 * (against a bare nng round trip carrying the same bytes), through shared
 * memory, staged and zero-copy (against direct mode, the ceiling), or
 * direct (against a raw mapping). @c is a client whose copies take the path
 * @mode names (main() makes one per path).
 */
static void bench_bulk(mmio_client *c, const char *url, const char *name, enum bulk_mode mode,
		       const size_t *sizes, size_t nsizes, nng_socket bulk_sock)
{
	static const char *const names[] = { "proxied", "shared", "direct" };
	struct raw_map rm;
	mmio_region *r, *d = NULL;
	int st;

	st = mmio_open(c, name, mode == BULK_DIRECT ? MMIO_OPEN_REQUIRE_DIRECT : MMIO_OPEN_PROXIED,
		       &r);
	if (st != MMIO_OK) {
		printf("%s bulk: not available on region \"%s\" (%s)\n", names[mode], name,
		       mmio_status_name(st));
		return;
	}
	if (mode == BULK_DIRECT && (st = raw_map_open(url, name, &rm)) != MMIO_OK) {
		printf("direct bulk: no raw mapping of \"%s\" for the baseline (%s): not "
		       "measured\n",
		       name, mmio_status_name(st));
		mmio_close(r);
		return;
	}
	if (mode == BULK_SHARED && mmio_open(c, name, MMIO_OPEN_REQUIRE_DIRECT, &d) != MMIO_OK)
		printf("shared bulk: no direct mapping of \"%s\" to compare with\n", name);
	for (size_t i = 0; i < nsizes; i++) {
		size_t size = sizes[i];
		struct buffer buf, ram;
		void *zbuf = NULL;

		if (size > mmio_size(r)) {
			printf("%s: %zu bytes skipped (region is %zu bytes)\n", names[mode], size,
			       mmio_size(r));
			continue;
		}
		buffer_get(&buf, size, 0x5A, true);
		buffer_get(&ram, size, 0xA5, false);
		if (mode == BULK_SHARED && (st = mmio_buffer_alloc(c, size, &zbuf)) != MMIO_OK)
			printf("shared: no shared buffer of %zu bytes (%s): zero-copy not "
			       "measured\n",
			       size, mmio_status_name(st));
		for (int w = 0; w < 2; w++) {
			struct op meas = { .what = w ? "write" : "read",
					   .run = run_bulk,
					   .r = r,
					   .write = w,
					   .buf = buf.p,
					   .ram = ram.p,
					   .size = size };
			struct op best = meas;

			switch (mode) {
			case BULK_PROXIED:
				best.run = run_nng_bulk;
				best.s = bulk_sock;
				bulk_row(&meas, "proxied", &best, "bare nng, same bytes");
				break;
			case BULK_DIRECT:
				best.run = run_raw_copy;
				best.rm = &rm;
				bulk_row(&meas, "direct", &best, "raw mapping 8-byte");
				break;
			case BULK_SHARED:
				best.r = d;
				bulk_row(&meas, "staged", d ? &best : NULL, "direct (libmmio)");
				if (zbuf) {
					meas.buf = zbuf;
					bulk_row(&meas, "zerocopy", d ? &best : NULL,
						 "direct (libmmio)");
				}
				break;
			}
		}
		if (zbuf)
			mmio_buffer_free(c, zbuf);
		buffer_put(&buf);
		buffer_put(&ram);
	}
	if (mode == BULK_DIRECT)
		raw_map_close(&rm);
	mmio_close(d);
	mmio_close(r);
}

/* A client of @url whose proxied copies of @shared_min bytes and more go
 * through shared memory ("" for the library's default), with no mailbox if
 * @socket_only. */
static mmio_client *client_with(const char *url, const char *shared_min, bool socket_only)
{
	char *env = getenv("MMIO_MAILBOX");
	char saved[16] = "";
	mmio_client *c;
	int st;

	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	if (shared_min[0])
		setenv("MMIO_SHARED_MIN", shared_min, 1);
	if (socket_only)
		setenv("MMIO_MAILBOX", "0", 1);
	st = mmio_connect(url, &c);
	unsetenv("MMIO_SHARED_MIN");
	if (env)
		setenv("MMIO_MAILBOX", saved, 1);
	else
		unsetenv("MMIO_MAILBOX");
	if (st != MMIO_OK)
		die("connect", st);
	return c;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "server", required_argument, NULL, 's' },
		{ "region", required_argument, NULL, 'r' },
		{ "once-region", required_argument, NULL, 'o' },
		{ "rules-region", required_argument, NULL, 'e' },
		{ "rules-baseline", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "round-ms", required_argument, NULL, 'R' },
		{ "rounds", required_argument, NULL, 'N' },
		{ "json", required_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 'g' },
		{ "title", required_argument, NULL, 't' },
		{ "irq", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *region = "bench", *once_region = NULL, *mode = "all";
	const char *rules_region = NULL, *rules_base = NULL, *irq_region = NULL;
	const char *json = NULL, *svg = NULL, *title = "mmio-bench: bulk copy throughput";
	size_t sizes[MAX_SIZES] = { 64,	       256,	   1u << 10, 4u << 10, 16u << 10,
				    64u << 10, 256u << 10, 1u << 20, 4u << 20, 16u << 20 };
	size_t nsizes = 10;
	char *end;
	int opt, rc = 0;

	if (argc == 5 && strcmp(argv[1], "--echo-server") == 0)
		return echo_serve(argv[2], argv[3], strtoul(argv[4], NULL, 10));
	while ((opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			url = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'o':
			once_region = optarg;
			break;
		case 'i':
			irq_region = optarg;
			break;
		case 'e':
			rules_region = optarg;
			break;
		case 'b':
			rules_base = optarg;
			break;
		case 'm':
			mode = optarg;
			if (strcmp(mode, "all") && strcmp(mode, "proxied") &&
			    strcmp(mode, "shared") && strcmp(mode, "direct")) {
				fprintf(stderr,
					"mmio-bench: --mode is proxied, shared, direct or all\n");
				return 2;
			}
			break;
		case 'z':
			nsizes = parse_sizes(optarg, sizes);
			break;
		case 'R':
			round_ms = strtod(optarg, &end);
			if (*end || !(round_ms >= 1 && round_ms <= 60000)) {
				fprintf(stderr, "mmio-bench: --round-ms is 1 to 60000\n");
				return 2;
			}
			break;
		case 'N': {
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 3 || v > ROUNDS_MAX || v % 2 == 0) {
				fprintf(stderr, "mmio-bench: --rounds is an odd number, 3 to %d\n",
					ROUNDS_MAX);
				return 2;
			}
			rounds = (int)v;
			break;
		}
		case 'j':
			json = optarg;
			break;
		case 'g':
			svg = optarg;
			break;
		case 't':
			title = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!once_region)
		once_region = region;
	if (!rules_region != !rules_base) {
		fprintf(stderr, "mmio-bench: --rules-region and --rules-baseline go together\n");
		return 2;
	}

	/* Message sizes of a READ_ONCE reply, for the bare once-op baselines. */
	struct proto_reply rp = { .opcode = PROTO_OP_READ_ONCE };
	size_t rep_len = 0;
	proto_reply_encode(&rp, NULL, 0, &rep_len);

	/* Baselines in their own processes, started before our nng use. */
	char sync_url[128], ctx_url[128], bulk_url[128];
	pid_t sync_pid = echo_start("sync", rep_len, sync_url, sizeof(sync_url));
	pid_t ctx_pid = echo_start("ctx", rep_len, ctx_url, sizeof(ctx_url));
	pid_t bulk_pid = echo_start("bulk", 0, bulk_url, sizeof(bulk_url));
	nng_socket sync_sock = dial_retrying(sync_url);
	nng_socket ctx_sock = dial_retrying(ctx_url);
	nng_socket bulk_sock = dial_retrying(bulk_url);

	/* One client per path: messages on the socket only, shared memory
	 * always, the default (a mailbox unless $MMIO_MAILBOX is "0"). */
	const char *env_min = getenv("MMIO_SHARED_MIN");
	char saved_min[32] = "";
	if (env_min)
		snprintf(saved_min, sizeof(saved_min), "%s", env_min);
	mmio_client *c_msg = client_with(url, "18446744073709551615", true);
	mmio_client *c_shm = client_with(url, "0", false);
	mmio_client *c = client_with(url, saved_min, false);

	printf("mmio-bench: once-ops on \"%s\", bulk on \"%s\"; %d rounds of about %.0f ms, "
	       "medians;\nthe rounds of each measurement and of its baselines are interleaved, "
	       "and each ratio is\nthe median of the ratios of single rounds\n",
	       once_region, region, rounds, round_ms);
	for (int m = 0; m < 3; m++) {
		static const char *const mode_names[] = { "proxied", "shared", "direct" };
		if (strcmp(mode, "all") != 0 && strcmp(mode, mode_names[m]) != 0)
			continue;
		if (m == BULK_PROXIED) {
			bench_once(c_msg, NULL, "proxied", url_resolve(url), once_region, sync_sock,
				   ctx_sock);
			if (mmio_has_mailbox(c))
				bench_once(c, c_msg, "mailbox", url_resolve(url), once_region,
					   sync_sock, ctx_sock);
			if (rules_region) {
				bench_rules(c_msg, "proxied", rules_region, rules_base);
				if (mmio_has_mailbox(c))
					bench_rules(c, "mailbox", rules_region, rules_base);
			}
		} else if (m == BULK_DIRECT) {
			bench_once(c, NULL, "direct", url_resolve(url), once_region, sync_sock,
				   ctx_sock);
		}
		bench_bulk(m == BULK_PROXIED  ? c_msg
			   : m == BULK_SHARED ? c_shm
					      : c,
			   url_resolve(url), region, (enum bulk_mode)m, sizes, nsizes, bulk_sock);
	}
	if (irq_region)
		bench_irq(c, irq_region);
	mmio_disconnect(c_msg);
	mmio_disconnect(c_shm);
	mmio_disconnect(c);
	nng_close(sync_sock);
	nng_close(ctx_sock);
	nng_close(bulk_sock);
	kill(sync_pid, SIGTERM);
	kill(ctx_pid, SIGTERM);
	kill(bulk_pid, SIGTERM);
	waitpid(sync_pid, NULL, 0);
	waitpid(ctx_pid, NULL, 0);
	waitpid(bulk_pid, NULL, 0);
	unlink(sync_url + 6);
	unlink(ctx_url + 6);
	unlink(bulk_url + 6);
	print_table();
	if (json)
		rc |= write_json(json);
	if (svg)
		rc |= write_svg(svg, title);
	return rc;
}
