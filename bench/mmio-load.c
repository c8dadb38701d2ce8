/* SPDX-License-Identifier: MIT */
/*
 * mmio-load: many client processes at once, every result checked against a
 * model of the device memory, with throughput, latencies and the server's
 * memory reported.
 *
 *	mmio-load [-s URL] [--workers N] [--ops N] [--private REGION] [--shared REGION]
 *	          [--slice BYTES] [--server-pid PID] [--seed N] [--compare N,M,...]
 *
 * Each worker is its own process (this program re-executed: nng is not
 * fork-safe) with its own connection. It owns one slice of the private
 * region (worker i: [i * slice, +slice)) and every N-th 64-bit word of the
 * shared region, so that its model of both is exact while all workers
 * contend for the same server and the same devices. Its operations, drawn
 * at random: width-exact writes and reads at every width, bulk copies at any
 * offset (including past the end: refused whole), fills (short at the end:
 * the exact count), polls for what the model says is there and for what is
 * never there (a timeout with the right last value), and batches of writes,
 * reads and a poll, checked value by value. At the end the whole slice is
 * read back once more against the model.
 *
 * The parent sums what the workers report: operations, mismatches with the
 * model, unexpected statuses, operations per second (all workers together),
 * the latency of single operations (p50, p99, max), and, with --server-pid,
 * the server's resident memory before and after. With --compare 1,4 it runs
 * once with each number of workers in turn and prints each run's ops/s
 * against the first's (how throughput scales with clients). Exit status 0 when there
 * was no mismatch and no unexpected status, 1 otherwise, 2 for bad usage.
 */
#include <mmio/client.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS_MAX 64
#define LEN_MAX	    300 /* longest copy, fill */
/* Latency histogram: bucket b holds [2^(b/8), 2^((b+1)/8)) ns, 1 ns to ~68 s. */
#define BUCKETS 288

struct report {
	uint64_t ops, mismatches, errors;
	uint64_t hist[BUCKETS];
	uint64_t max_ns;
};

struct options {
	const char *url, *priv, *shared;
	unsigned workers, ops;
	size_t slice;
	unsigned seed;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) & 0xFFFFFF;
}

static void record(struct report *rep, double ns)
{
	unsigned b = ns < 1 ? 0 : (unsigned)(log2(ns) * 8);

	rep->hist[b < BUCKETS ? b : BUCKETS - 1]++;
	if ((uint64_t)ns > rep->max_ns)
		rep->max_ns = (uint64_t)ns;
}

/* One worker's run; returns its report (errors counts setup failures too). */
struct worker {
	unsigned id, workers;
	size_t slice, words; /* shared words this worker owns */
	mmio_client *c;
	mmio_region *mine, *shared;
	uint8_t *model, *buf;
	uint64_t *shared_model;
	unsigned seed;
	struct report rep;
};

#define MISMATCH(w, ...)                                                                           \
	do {                                                                                       \
		if ((w)->rep.mismatches++ < 5) {                                                   \
			fprintf(stderr, "mmio-load: worker %u: ", (w)->id);                        \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static int write_n(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		return mmio_write8(r, off, (uint8_t)v);
	case 2:
		return mmio_write16(r, off, (uint16_t)v);
	case 4:
		return mmio_write32(r, off, (uint32_t)v);
	default:
		return mmio_write64(r, off, v);
	}
}

static int read_n(mmio_region *r, size_t off, unsigned width, uint64_t *v)
{
	uint8_t x8;
	uint16_t x16;
	uint32_t x32;
	int st;

	switch (width) {
	case 1:
		st = mmio_read8(r, off, &x8);
		*v = x8;
		return st;
	case 2:
		st = mmio_read16(r, off, &x16);
		*v = x16;
		return st;
	case 4:
		st = mmio_read32(r, off, &x32);
		*v = x32;
		return st;
	default:
		return mmio_read64(r, off, v);
	}
}

static uint64_t model_get(const struct worker *w, size_t off, unsigned width)
{
	uint64_t v = 0;

	for (unsigned b = 0; b < width; b++)
		v |= (uint64_t)w->model[off + b] << (8 * b);
	return v;
}

static void model_put(struct worker *w, size_t off, unsigned width, uint64_t v)
{
	for (unsigned b = 0; b < width; b++)
		w->model[off + b] = (uint8_t)(v >> (8 * b));
}

/* A batch: a write, a read of it, a poll for it, a read elsewhere. */
static int one_batch(struct worker *w, size_t off, unsigned width, uint64_t value)
{
	size_t other = (rnd(&w->seed) % (w->slice / 8)) * 8, failed;
	uint64_t v;
	mmio_batch *b;
	int st = mmio_batch_new(w->c, &b);

	if (st != MMIO_OK)
		return st;
	mmio_batch_write(b, w->mine, off, width, value);
	mmio_batch_read(b, w->mine, off, width);
	mmio_batch_poll(b, w->mine, off, width, (width == 8 ? ~0ull : (1ull << (8 * width)) - 1),
			value, 100000);
	mmio_batch_read(b, w->mine, other, 8);
	model_put(w, off, width, value);
	st = mmio_batch_run(b, &failed);
	if (st == MMIO_OK) {
		uint64_t want[4] = { 0, value, value, model_get(w, other, 8) };
		for (size_t i = 0; i < 4; i++) {
			if (mmio_batch_value(b, i, &v) != MMIO_OK || v != want[i])
				MISMATCH(w, "batch op %zu at %zu: 0x%" PRIx64 ", model 0x%" PRIx64,
					 i, i == 3 ? other : off, v, want[i]);
		}
	}
	mmio_batch_free(b);
	return st;
}

static void one_op(struct worker *w)
{
	unsigned kind = rnd(&w->seed) % 12;
	unsigned width = 1u << (rnd(&w->seed) % 4);
	size_t off = (rnd(&w->seed) % (w->slice / width)) * width;
	size_t len = 1 + rnd(&w->seed) % LEN_MAX, done = 0;
	uint64_t value =
		((uint64_t)rnd(&w->seed) << 40) ^ ((uint64_t)rnd(&w->seed) << 16) ^ rnd(&w->seed);
	uint64_t got = 0;
	int st = MMIO_OK;
	double t0;

	if (width < 8)
		value &= (1ull << (8 * width)) - 1;
	t0 = now_ns();
	switch (kind) {
	case 0:
	case 1: /* width-exact write */
		st = write_n(w->mine, off, width, value);
		model_put(w, off, width, value);
		break;
	case 2:
	case 3: /* width-exact read */
		st = read_n(w->mine, off, width, &got);
		if (st == MMIO_OK && got != model_get(w, off, width))
			MISMATCH(w, "read%u at %zu: 0x%" PRIx64 ", model 0x%" PRIx64, width * 8,
				 off, got, model_get(w, off, width));
		break;
	case 4: /* bulk write anywhere; past the end it is refused whole */
		off = rnd(&w->seed) % w->slice;
		for (size_t i = 0; i < len; i++)
			w->buf[i] = (uint8_t)rnd(&w->seed);
		st = mmio_write(w->mine, off, w->buf, len, &done);
		if (off + len > w->slice) {
			if (st != MMIO_EINVAL || done != 0)
				MISMATCH(w, "write past the end: %s, done %zu",
					 mmio_status_name(st), done);
			st = MMIO_OK;
		} else {
			memcpy(w->model + off, w->buf, len);
		}
		break;
	case 5: /* bulk read */
		off = rnd(&w->seed) % (w->slice - len);
		st = mmio_read(w->mine, off, w->buf, len, &done);
		if (st == MMIO_OK && (done != len || memcmp(w->buf, w->model + off, len) != 0))
			MISMATCH(w, "read of %zu bytes at %zu differs from the model", len, off);
		break;
	case 6: { /* fill, short at the end */
		size_t want;
		off = rnd(&w->seed) % w->slice;
		want = off + len > w->slice ? w->slice - off : len;
		st = mmio_fill(w->mine, off, len, (uint8_t)value, &done);
		if (done != want || st != (want == len ? MMIO_OK : MMIO_EINVAL))
			MISMATCH(w, "fill at %zu len %zu: %s done %zu", off, len,
				 mmio_status_name(st), done);
		memset(w->model + off, (uint8_t)value, want);
		st = MMIO_OK;
		break;
	}
	case 7: { /* poll for what is there, or time out on what never is */
		uint32_t last = 0, want;
		bool never = rnd(&w->seed) % 4 == 0;
		off &= ~(size_t)3;
		want = (uint32_t)model_get(w, off, 4);
		/* Never: want has a bit outside the mask. */
		st = mmio_poll32(w->mine, off, never ? 0x0F : 0xFFFFFFFF, never ? 0x10 : want,
				 never ? 200 : 100000, &last);
		if (never ? st != MMIO_ETIMEDOUT : st != MMIO_OK)
			MISMATCH(w, "poll at %zu: %s", off, mmio_status_name(st));
		else if (last != want)
			MISMATCH(w, "poll at %zu: last 0x%x, model 0x%x", off, last, want);
		st = MMIO_OK;
		break;
	}
	case 8: /* a batch */
		st = one_batch(w, off, width, value);
		break;
	default: { /* my own words of the shared region */
		size_t word = (rnd(&w->seed) % w->words) * w->workers + w->id;
		if (kind == 9) {
			st = mmio_write64(w->shared, word * 8, value);
			w->shared_model[word / w->workers] = value;
		} else {
			st = mmio_read64(w->shared, word * 8, &got);
			if (st == MMIO_OK && got != w->shared_model[word / w->workers])
				MISMATCH(w, "shared word %zu: 0x%" PRIx64 ", model 0x%" PRIx64,
					 word, got, w->shared_model[word / w->workers]);
		}
		break;
	}
	}
	record(&w->rep, now_ns() - t0);
	w->rep.ops++;
	if (st != MMIO_OK && w->rep.errors++ < 5)
		fprintf(stderr, "mmio-load: worker %u: op kind %u width %u at %zu: %s\n", w->id,
			kind, width, off, mmio_status_name(st));
}

static struct report worker_run(const struct options *o, unsigned id)
{
	struct worker w = { .id = id, .workers = o->workers, .slice = o->slice };
	size_t done = 0;

	w.seed = o->seed ^ (0x9E3779B9u * (id + 1));
	w.model = calloc(1, w.slice);
	w.buf = malloc(w.slice > LEN_MAX ? w.slice : LEN_MAX);
	if (!w.model || !w.buf || mmio_connect(o->url, &w.c) != MMIO_OK ||
	    mmio_open_range(w.c, o->priv, id * w.slice, w.slice, 0, &w.mine) != MMIO_OK ||
	    mmio_open(w.c, o->shared, 0, &w.shared) != MMIO_OK ||
	    mmio_fill(w.mine, 0, w.slice, 0, NULL) != MMIO_OK) {
		fprintf(stderr,
			"mmio-load: worker %u: cannot set up (connect, open %s [%zu, +%zu), "
			"open %s)\n",
			id, o->priv, id * w.slice, w.slice, o->shared);
		w.rep.errors = 1;
		mmio_disconnect(w.c); /* NULL is fine */
		free(w.model);
		free(w.buf);
		return w.rep;
	}
	w.words = mmio_size(w.shared) / 8 / o->workers;
	w.shared_model = calloc(w.words ? w.words : 1, sizeof(uint64_t));
	for (size_t i = 0; i < w.words; i++)
		if (mmio_write64(w.shared, (i * o->workers + id) * 8, 0) != MMIO_OK)
			w.rep.errors++;
	for (unsigned i = 0; i < o->ops; i++)
		one_op(&w);
	/* The whole slice once more against the model. */
	if (mmio_read(w.mine, 0, w.buf, w.slice, &done) != MMIO_OK ||
	    memcmp(w.buf, w.model, w.slice) != 0)
		MISMATCH(&w, "the final read-back differs from the model");
	mmio_disconnect(w.c);
	free(w.model);
	free(w.buf);
	free(w.shared_model);
	return w.rep;
}

/* Run @o->workers worker processes of @o->ops operations each and sum their
 * reports; the wall time from the first fork to the last report into
 * *@secs. */
static struct report load_run(const struct options *o, double *secs)
{
	pid_t pids[WORKERS_MAX];
	int fds[WORKERS_MAX];
	struct report total = { 0 };
	double t0 = now_ns();

	for (unsigned i = 0; i < o->workers; i++) {
		char args[7][32];
		int p[2];

		if (pipe(p) != 0) {
			perror("mmio-load: pipe");
			exit(1);
		}
		snprintf(args[0], sizeof(args[0]), "%u", i);
		snprintf(args[1], sizeof(args[1]), "%u", o->workers);
		snprintf(args[2], sizeof(args[2]), "%u", o->ops);
		snprintf(args[3], sizeof(args[3]), "%zu", o->slice);
		snprintf(args[4], sizeof(args[4]), "%u", o->seed);
		pids[i] = fork();
		if (pids[i] == 0) {
			dup2(p[1], 3);
			execl("/proc/self/exe", "mmio-load", "--worker", args[0], "--workers",
			      args[1], "--ops", args[2], "--slice", args[3], "--seed", args[4],
			      "--private", o->priv, "--shared", o->shared, "-s",
			      o->url ? o->url
				     : (getenv("MMIO_SERVER") ? getenv("MMIO_SERVER")
							      : MMIO_DEFAULT_URL),
			      (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	for (unsigned i = 0; i < o->workers; i++) {
		struct report rep;
		int status;

		if (read(fds[i], &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
			fprintf(stderr, "mmio-load: worker %u sent no report\n", i);
			memset(&rep, 0, sizeof(rep));
			rep.errors = 1;
		}
		close(fds[i]);
		waitpid(pids[i], &status, 0);
		total.ops += rep.ops;
		total.mismatches += rep.mismatches;
		total.errors += rep.errors;
		for (unsigned b = 0; b < BUCKETS; b++)
			total.hist[b] += rep.hist[b];
		if (rep.max_ns > total.max_ns)
			total.max_ns = rep.max_ns;
	}
	*secs = (now_ns() - t0) / 1e9;
	return total;
}

/* The server's resident memory in KiB (/proc/PID/status), or 0. */
static unsigned long rss_kib(pid_t pid)
{
	char path[64], line[128];
	unsigned long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static double percentile(const struct report *r, double p)
{
	uint64_t total = 0, seen = 0;

	for (unsigned b = 0; b < BUCKETS; b++)
		total += r->hist[b];
	for (unsigned b = 0; b < BUCKETS; b++) {
		seen += r->hist[b];
		if (total && (double)seen >= p * (double)total)
			return pow(2, (b + 0.5) / 8.0); /* the bucket's middle, in ns */
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: mmio-load [-s URL] [--workers N] [--ops N] [--private REGION]\n"
		   "                 [--shared REGION] [--slice BYTES] [--server-pid PID] "
		   "[--seed N]\n"
		   "                 [--compare N,M,...]\n"
		   "\n"
		   "N client processes (default 16) x N mixed operations each (default 50000),\n"
		   "every result checked against a model; prints ops/s, latencies and the\n"
		   "server's memory. REGION defaults: private, shared; the private region needs\n"
		   "workers x slice bytes (slice default 8192), ops once, bulk, fill, poll.\n"
		   "--compare 1,4 runs the test once with each number of workers in turn and\n"
		   "prints each run's ops/s against the first's (the private region needs the\n"
		   "largest number x slice bytes).\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "server", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "ops", required_argument, NULL, 'n' },
		{ "private", required_argument, NULL, 'p' },
		{ "shared", required_argument, NULL, 'S' },
		{ "slice", required_argument, NULL, 'l' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "seed", required_argument, NULL, 'r' },
		{ "worker", required_argument, NULL, 'W' },
		{ "compare", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .priv = "private",
			     .shared = "shared",
			     .workers = 16,
			     .ops = 50000,
			     .slice = 8192,
			     .seed = 1 };
	unsigned long v, server_pid = 0, worker = ULONG_MAX;
	unsigned compare[8];
	size_t ncompare = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.url = optarg;
			break;
		case 'w':
			if (!parse_uint(optarg, WORKERS_MAX, &v) || v == 0)
				goto bad;
			o.workers = (unsigned)v;
			break;
		case 'n':
			if (!parse_uint(optarg, 100000000, &v))
				goto bad;
			o.ops = (unsigned)v;
			break;
		case 'p':
			o.priv = optarg;
			break;
		case 'S':
			o.shared = optarg;
			break;
		case 'l':
			if (!parse_uint(optarg, 1u << 30, &v) || v < 512 || v % 8)
				goto bad;
			o.slice = v;
			break;
		case 'P':
			if (!parse_uint(optarg, 1u << 30, &server_pid))
				goto bad;
			break;
		case 'r':
			if (!parse_uint(optarg, UINT32_MAX, &v))
				goto bad;
			o.seed = (unsigned)v;
			break;
		case 'W':
			if (!parse_uint(optarg, WORKERS_MAX - 1, &worker))
				goto bad;
			break;
		case 'C': {
			char list[128], *save = NULL;

			snprintf(list, sizeof(list), "%s", optarg);
			ncompare = 0;
			for (char *t = strtok_r(list, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				if (ncompare == 8 || !parse_uint(t, WORKERS_MAX, &v) || v == 0)
					goto bad;
				compare[ncompare++] = (unsigned)v;
			}
			if (ncompare == 0)
				goto bad;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		goto bad;

	if (worker != ULONG_MAX) {
		/* A worker: run, then hand the report to the parent (fd 3). */
		struct report rep = worker_run(&o, (unsigned)worker);
		return write(3, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 1;
	}

	if (ncompare) {
		/* The same run with each number of workers in turn, one line each,
		 * and each run's ops/s against the first's. */
		double first = 0;
		int rc = 0;

		for (size_t k = 0; k < ncompare; k++) {
			struct report total;
			double secs, rate;

			o.workers = compare[k];
			total = load_run(&o, &secs);
			rate = (double)total.ops / secs;
			if (k == 0)
				first = rate;
			printf("mmio-load: %2u workers x %u ops: %.0f ops/s, p50 %.1f us, p99 %.1f "
			       "us; %.2fx the ops/s of %u\n",
			       o.workers, o.ops, rate, percentile(&total, 0.50) / 1e3,
			       percentile(&total, 0.99) / 1e3, rate / first, compare[0]);
			if (total.mismatches || total.errors) {
				printf("mismatches %" PRIu64 ", unexpected statuses %" PRIu64 "\n",
				       total.mismatches, total.errors);
				rc = 1;
			}
		}
		return rc;
	}

	unsigned long rss_before = server_pid ? rss_kib((pid_t)server_pid) : 0;
	double secs;
	struct report total = load_run(&o, &secs);
	unsigned long rss_after = server_pid ? rss_kib((pid_t)server_pid) : 0;

	printf("mmio-load: %u workers x %u ops = %" PRIu64 " operations in %.2f s: %.0f ops/s\n",
	       o.workers, o.ops, total.ops, secs, (double)total.ops / secs);
	printf("latency of one operation: p50 %.1f us, p99 %.1f us, max %.1f us\n",
	       percentile(&total, 0.50) / 1e3, percentile(&total, 0.99) / 1e3,
	       (double)total.max_ns / 1e3);
	printf("mismatches %" PRIu64 ", unexpected statuses %" PRIu64 "\n", total.mismatches,
	       total.errors);
	if (server_pid)
		printf("server RSS: %lu KiB before, %lu KiB after (%+ld KiB)\n", rss_before,
		       rss_after, (long)rss_after - (long)rss_before);
	return total.mismatches || total.errors ? 1 : 0;

bad:
	usage(stderr);
	return 2;
}
