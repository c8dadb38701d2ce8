/* SPDX-License-Identifier: MIT */
/*
 * mmio-bench: once-op latency and bulk copy throughput through libmmio,
 * each against a baseline measured in the same run:
 *
 *  - once-ops (proxied) against a raw nng req/rep ping-pong of exactly the
 *    same message sizes, to a process that answers without doing anything
 *    (two of them: a plain synchronous rep0 loop, and the asynchronous
 *    context pattern mmio-server uses). The ratio is the server's overhead.
 *  - bulk copies against memcpy between two RAM buffers of the same size.
 *
 * Absolute numbers depend on the machine; the ratios are the figures to
 * compare. Every figure is the median of several rounds.
 */
#include <mmio/client.h>
#include <mmio/proto.h>

#include "channel.h" /* libmmio's descriptor channel code, for the raw baseline */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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

#define ROUNDS	   5
#define MAX_SIZES  32
#define MAX_RESULT 64

struct result {
	char what[48];
	char mode[12];
	size_t size;	 /* bytes per operation (0 for once-ops) */
	double ns_op;	 /* median nanoseconds per operation */
	double mib_s;	 /* throughput, bulk only */
	char base[32];	 /* baseline name */
	double base_val; /* baseline ns/op (once) or MiB/s (bulk) */
	double ratio;	 /* ns/op over baseline ns/op (once); MiB/s over baseline (bulk) */
};

static struct result results[MAX_RESULT];
static size_t nresults;
static unsigned iterations = 10000;

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

/* ------------------------------------------------------------------------
 * The raw nng baselines: an echo process that answers every request with a
 * reply of a fixed size, doing nothing else.
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

	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
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
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000);
	return s;
}

/* One round of @iterations round trips of @req (@len bytes) on @s: ns each. */
static double round_trips_ns(nng_socket s, const void *req, size_t len)
{
	double t0 = now_ns();

	for (unsigned i = 0; i < iterations; i++) {
		nng_msg *m;
		nng_msg_alloc(&m, len);
		memcpy(nng_msg_body(m), req, len);
		int rv = nng_sendmsg(s, m, 0);
		if (rv == 0)
			rv = nng_recvmsg(s, &m, 0);
		if (rv != 0) {
			fprintf(stderr, "mmio-bench: a bare round trip failed after %u: %s\n", i,
				nng_strerror(rv));
			exit(1);
		}
		nng_msg_free(m);
	}
	return (now_ns() - t0) / iterations;
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
	int rv, st = proto_request_encode(rq, buf, sizeof(buf), &len);

	if (st != MMIO_OK)
		return st;
	if ((rv = nng_send(s, buf, len, 0)) != 0 || (rv = nng_recvmsg(s, m, 0)) != 0)
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
	out->map = mmap(NULL, out->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			(off_t)mmap_offset);
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

/* As once_round_ns(), with a plain volatile 32-bit load. */
static double raw_once_round_ns(const struct raw_map *rm)
{
	double t0 = now_ns();
	uint32_t sum = 0;

	for (unsigned i = 0; i < iterations; i++)
		sum += *(volatile const uint32_t *)(rm->base + (i % 64) * 4);
	__asm__ volatile("" : : "r"(sum));
	return (now_ns() - t0) / iterations;
}

/* One bulk copy as a raw driver writes it: 8-byte volatile accesses (the
 * device side), then the tail bytes. */
static void raw_copy(const struct raw_map *rm, bool write, void *buf, size_t size)
{
	size_t words = size / 8, i;

	if (write) {
		for (i = 0; i < words; i++) {
			uint64_t v;
			memcpy(&v, (const uint8_t *)buf + 8 * i, 8);
			((volatile uint64_t *)rm->base)[i] = v;
		}
		for (i *= 8; i < size; i++)
			rm->base[i] = ((const uint8_t *)buf)[i];
	} else {
		for (i = 0; i < words; i++) {
			uint64_t v = ((volatile const uint64_t *)rm->base)[i];
			memcpy((uint8_t *)buf + 8 * i, &v, 8);
		}
		for (i *= 8; i < size; i++)
			((uint8_t *)buf)[i] = rm->base[i];
	}
}

/* ------------------------------------------------------------------------
 * Measurements through libmmio.
 * ------------------------------------------------------------------------ */

/* One round of @iterations mmio_read32() calls: ns each. */
static double once_round_ns(mmio_region *r)
{
	double t0 = now_ns();
	uint32_t v;

	for (unsigned i = 0; i < iterations; i++) {
		int st = mmio_read32(r, (i % 64) * 4, &v);
		if (st != MMIO_OK)
			die("read32", st);
	}
	return (now_ns() - t0) / iterations;
}

/* Iterations for a bulk size: about 64 MiB moved per round, at least 3. */
static unsigned bulk_iterations(size_t size)
{
	size_t n = ((size_t)64 << 20) / size, most = iterations / 4 ? iterations / 4 : 1;
	return (unsigned)(n < 3 ? 3 : n > most ? most : n);
}

/* One round of @n bulk copies of @size bytes through libmmio: ns each. */
static double bulk_round_ns(mmio_region *r, bool write, void *buf, size_t size, unsigned n)
{
	double t0 = now_ns();
	size_t done;

	for (unsigned i = 0; i < n; i++) {
		int st = write ? mmio_write(r, 0, buf, size, &done)
			       : mmio_read(r, 0, buf, size, &done);
		if (st != MMIO_OK)
			die(write ? "write" : "read", st);
	}
	return (now_ns() - t0) / n;
}

/* The same with raw_copy() on the raw mapping. */
static double raw_bulk_round_ns(const struct raw_map *rm, bool write, void *buf, size_t size,
				unsigned n)
{
	double t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		raw_copy(rm, write, buf, size);
		__asm__ volatile("" : : "r"(buf) : "memory");
	}
	return (now_ns() - t0) / n;
}

/* The same with memcpy() between two RAM buffers. */
static double memcpy_round_ns(void *dst, const void *src, size_t size, unsigned n)
{
	double t0 = now_ns();

	for (unsigned i = 0; i < n; i++) {
		memcpy(dst, src, size);
		/* Keep the copy from being optimised away or merged. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	return (now_ns() - t0) / n;
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
	printf("\n%-24s %-8s %9s %12s %11s  %-22s %12s %8s\n", "measurement", "mode", "size",
	       "ns/op", "MiB/s", "baseline (same run)", "baseline", "ratio");
	for (size_t i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		char sz[32] = "-", mb[32] = "-", bv[48];
		if (r->size)
			size_name(r->size, sz, sizeof(sz));
		if (r->mib_s > 0)
			snprintf(mb, sizeof(mb), "%.1f", r->mib_s);
		if (r->size)
			snprintf(bv, sizeof(bv), "%.1f MiB/s", r->base_val);
		else
			snprintf(bv, sizeof(bv), "%.0f ns", r->base_val);
		printf("%-24s %-8s %9s %12.0f %11s  %-22s %12s %8.3f\n", r->what, r->mode, sz,
		       r->ns_op, mb, r->base, bv, r->ratio);
	}
	printf("\nratio: once-ops = time / baseline time (1.00 = no overhead over the bare\n"
	       "       nng round trip, proxied, or over a raw load, direct);\n"
	       "       bulk = throughput / baseline throughput.\n");
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "mmio-bench: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "{\n  \"iterations\": %u,\n  \"rounds\": %d,\n  \"results\": [\n", iterations,
		ROUNDS);
	for (size_t i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		fprintf(f,
			"    {\"measurement\": \"%s\", \"mode\": \"%s\", \"size\": %zu, "
			"\"ns_per_op\": %.1f, \"mib_per_s\": %.2f, \"baseline\": \"%s\", "
			"\"baseline_value\": %.2f, \"ratio\": %.4f}%s\n",
			r->what, r->mode, r->size, r->ns_op, r->mib_s, r->base, r->base_val,
			r->ratio, i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mmio-bench [-s URL] [--region NAME] [--mode direct|proxied|all]\n"
		"                  [--sizes LIST] [--iterations N] [--json FILE]\n"
		"\n"
		"Measure once-op latency and bulk copy throughput through libmmio, with\n"
		"baselines measured in the same run (bare nng round trip, RAM memcpy).\n"
		"\n"
		"  -s, --server URL    server address (default $MMIO_SERVER, else %s)\n"
		"      --region NAME   region to use (default \"bench\"); needs once and bulk ops\n"
		"      --mode MODE     proxied, direct or all (default all)\n"
		"      --sizes LIST    bulk sizes, e.g. 64,4K,1M (default 64,4K,64K,1M,16M;\n"
		"                      sizes above the region are skipped)\n"
		"      --iterations N  once-ops per round (default 10000)\n"
		"      --json FILE     also write the results as JSON\n",
		MMIO_DEFAULT_URL);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "server", required_argument, NULL, 's' },
		{ "region", required_argument, NULL, 'r' },
		{ "mode", required_argument, NULL, 'm' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *region = "bench", *mode = "all", *json = NULL;
	size_t sizes[MAX_SIZES] = { 64, 4096, 65536, 1u << 20, 16u << 20 };
	size_t nsizes = 5;
	int opt;

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
		case 'm':
			mode = optarg;
			if (strcmp(mode, "all") && strcmp(mode, "proxied") &&
			    strcmp(mode, "direct")) {
				fprintf(stderr, "mmio-bench: --mode is proxied, direct or all\n");
				return 2;
			}
			break;
		case 'z':
			nsizes = parse_sizes(optarg, sizes);
			break;
		case 'i':
			iterations = (unsigned)strtoul(optarg, NULL, 10);
			if (iterations == 0) {
				fprintf(stderr,
					"mmio-bench: --iterations must be a positive number\n");
				return 2;
			}
			break;
		case 'j':
			json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	/* Message sizes of a READ_ONCE round trip, for the bare baselines. */
	struct proto_request rq = { .opcode = PROTO_OP_READ_ONCE };
	struct proto_reply rp = { .opcode = PROTO_OP_READ_ONCE };
	uint8_t req[64];
	size_t req_len = 0, rep_len = 0;
	rq.read_once.width = 4;
	proto_request_encode(&rq, req, sizeof(req), &req_len);
	proto_reply_encode(&rp, NULL, 0, &rep_len);

	/* Baselines in their own processes, started before our nng use. */
	char sync_url[128], ctx_url[128];
	pid_t sync_pid = echo_start("sync", rep_len, sync_url, sizeof(sync_url));
	pid_t ctx_pid = echo_start("ctx", rep_len, ctx_url, sizeof(ctx_url));
	nng_socket sync_sock = dial_retrying(sync_url);
	nng_socket ctx_sock = dial_retrying(ctx_url);

	mmio_client *c;
	mmio_region *r;
	int st = mmio_connect(url, &c);
	if (st != MMIO_OK)
		die("connect", st);

	printf("mmio-bench: region \"%s\", %u once-ops x %d rounds, medians; once-op rounds\n"
	       "and their baseline rounds are interleaved\n",
	       region, iterations, ROUNDS);
	printf("bare nng round trip: %zu-byte request, %zu-byte reply (a READ_ONCE's sizes)\n",
	       req_len, rep_len);

	static const struct {
		const char *name;
		unsigned flags;
	} modes[] = { { "proxied", MMIO_OPEN_PROXIED }, { "direct", MMIO_OPEN_REQUIRE_DIRECT } };
	void *buf = NULL, *ram = NULL;
	for (size_t m = 0; m < 2; m++) {
		bool direct = m == 1;
		struct raw_map rm;

		if (strcmp(mode, "all") != 0 && strcmp(mode, modes[m].name) != 0)
			continue;
		st = mmio_open(c, region, modes[m].flags, &r);
		if (st != MMIO_OK) {
			printf("%s: not available for region \"%s\" (%s)\n", modes[m].name, region,
			       mmio_status_name(st));
			continue;
		}
		if (direct) {
			st = raw_map_open(url_resolve(url), region, &rm);
			if (st != MMIO_OK) {
				printf("direct: the raw-mapping baseline is not available (%s): "
				       "direct mode not measured\n",
				       mmio_status_name(st));
				mmio_close(r);
				continue;
			}
		}

		/* Once-ops: the measurement's rounds interleaved with its baselines'. */
		double t[3][ROUNDS];
		for (int k = 0; k < ROUNDS; k++) {
			t[0][k] = once_round_ns(r);
			if (direct) {
				t[1][k] = raw_once_round_ns(&rm);
			} else {
				t[1][k] = round_trips_ns(sync_sock, req, req_len);
				t[2][k] = round_trips_ns(ctx_sock, req, req_len);
			}
		}
		double ns = median(t[0], ROUNDS);
		struct result *res;
		for (int b = 1; b <= (direct ? 1 : 2); b++) {
			res = result_add("read32", modes[m].name, 0);
			res->ns_op = ns;
			snprintf(res->base, sizeof(res->base), "%s",
				 direct	  ? "raw mmap load"
				 : b == 1 ? "nng rep0 sync"
					  : "nng rep0 contexts");
			res->base_val = median(t[b], ROUNDS);
			res->ratio = ns / res->base_val;
		}

		for (size_t i = 0; i < nsizes; i++) {
			size_t size = sizes[i];
			if (size > mmio_size(r)) {
				printf("%s: %zu bytes skipped (region is %zu bytes)\n",
				       modes[m].name, size, mmio_size(r));
				continue;
			}
			free(buf);
			free(ram);
			buf = malloc(size);
			ram = malloc(size);
			if (!buf || !ram)
				die("malloc", MMIO_ENOMEM);
			memset(buf, 0x5A, size);
			memset(ram, 0xA5, size);
			unsigned n = bulk_iterations(size);
			for (int w = 0; w < 2; w++) {
				double tm[ROUNDS], tb[ROUNDS];
				for (int k = 0; k < ROUNDS; k++) {
					tm[k] = bulk_round_ns(r, w, buf, size, n);
					tb[k] = direct ? raw_bulk_round_ns(&rm, w, buf, size, n)
						       : memcpy_round_ns(ram, buf, size, n);
				}
				double bns = median(tm, ROUNDS);
				res = result_add(w ? "write (to device)" : "read (from device)",
						 modes[m].name, size);
				res->ns_op = bns;
				res->mib_s = mib_s(size, bns);
				snprintf(res->base, sizeof(res->base), "%s",
					 direct ? "raw mmap 8-byte loop" : "RAM memcpy");
				res->base_val = mib_s(size, median(tb, ROUNDS));
				res->ratio = res->mib_s / res->base_val;
			}
		}
		if (direct)
			raw_map_close(&rm);
		mmio_close(r);
	}
	free(buf);
	free(ram);
	mmio_disconnect(c);
	nng_close(sync_sock);
	nng_close(ctx_sock);
	kill(sync_pid, SIGTERM);
	kill(ctx_pid, SIGTERM);
	waitpid(sync_pid, NULL, 0);
	waitpid(ctx_pid, NULL, 0);
	unlink(sync_url + 6);
	unlink(ctx_url + 6);
	print_table();
	return json ? write_json(json) : 0;
}
