/* SPDX-License-Identifier: MIT */
/*
 * Opening, slicing and closing regions, and the public access calls: they
 * check what only the caller can get wrong (NULL pointers, widths that
 * cannot be encoded) and hand the rest to the handle's ops.
 */
#include "cli.h"

#include <mmio/shim.h>

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MMIO_OPEN_DIRECT == PROTO_OPEN_DIRECT &&
		       MMIO_OPEN_REQUIRE_DIRECT == PROTO_OPEN_REQUIRE_DIRECT,
	       "open flags are the wire's");

static void done_set(size_t *done, size_t n)
{
	if (done)
		*done = n;
}

void cli_region_lose(mmio_region *r)
{
	struct mmio_region_fast *f = &r->fast;

	for (unsigned i = 0; i < 4; i++) {
		__atomic_store_n(&f->read_end[i], (size_t)0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->write_end[i], (size_t)0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->any_read_end[i], (size_t)0, __ATOMIC_RELAXED);
		__atomic_store_n(&f->any_write_end[i], (size_t)0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&f->copy_read_end, (size_t)0, __ATOMIC_RELAXED);
	__atomic_store_n(&f->copy_write_end, (size_t)0, __ATOMIC_RELAXED);
}

void cli_region_link(mmio_region *r)
{
	mmio_client *c = r->h->client;

	pthread_mutex_lock(&c->mtx);
	r->node.next = &c->regions;
	r->node.prev = c->regions.prev;
	c->regions.prev->next = &r->node;
	c->regions.prev = &r->node;
	r->h->views++;
	/* A view made as its handle was withdrawn from direct mode. */
	if (c->lost || !cli_direct_active(r->h))
		cli_region_lose(r);
	pthread_mutex_unlock(&c->mtx);
}

/* A pinned width's granule that offset, lengths and pitch keep. */
static int refuse_granule(const mmio_region *r, unsigned op)
{
	return cli_refuse(r->h->client, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_GRANULE,
			  r->h->info.width);
}

int cli_bulk_offset(const mmio_region *r, unsigned op, size_t off, size_t len, size_t chunk,
		    uint64_t *hoff)
{
	unsigned width = r->h->info.width;

	if (len > chunk) {
		if (off > r->len || len > r->len - off)
			return cli_refuse_range(r, op, off, len);
		if (width != 0 && ((r->base + off) % width != 0 || len % width != 0))
			return refuse_granule(r, op);
	}
	return cli_view_offset(r, op, off, len, hoff);
}

int cli_rows_plan(const mmio_region *r, unsigned op, size_t off, size_t row_bytes, size_t pitch,
		  size_t rows)
{
	const mmio_client *c = r->h->client;
	unsigned width = r->h->info.width;
	size_t last, end, packed;

	if (rows == 0 || row_bytes == 0)
		return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_EMPTY, 0);
	if (pitch < row_bytes)
		return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_PITCH, pitch);
	if (__builtin_mul_overflow(pitch, rows - 1, &last) ||
	    __builtin_add_overflow(off, last, &last) ||
	    __builtin_add_overflow(last, row_bytes, &end) ||
	    __builtin_mul_overflow(row_bytes, rows, &packed))
		return cli_refuse(c, op, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_OVERFLOW, 0);
	if (end > r->len)
		return cli_refuse(c, op, MMIO_REASON_RANGE, end, r->len);
	if (width != 0 &&
	    ((r->base + off) % width != 0 || row_bytes % width != 0 || pitch % width != 0))
		return refuse_granule(r, op);
	return MMIO_OK;
}

int cli_fill_plan(const mmio_region *r, size_t off, size_t len, uint64_t *hoff, size_t *want)
{
	unsigned width = r->h->info.width;

	*want = len;
	if (!r->slice) {
		*hoff = off;
		return MMIO_OK;
	}
	if (len == 0) {
		/* Nothing to clamp; the grant still says whether a fill is allowed. */
		*hoff = (uint64_t)r->base + (off < r->len ? off : r->len);
		return MMIO_OK;
	}
	if (off >= r->len)
		return cli_refuse_range(r, PROTO_OP_FILL, off, len);
	if (width != 0 && len % width != 0)
		return refuse_granule(r, PROTO_OP_FILL);
	if (*want > r->len - off)
		*want = r->len - off;
	if (width != 0)
		*want -= *want % width;
	if (*want == 0)
		return cli_refuse_range(r, PROTO_OP_FILL, off, len);
	*hoff = (uint64_t)r->base + off;
	return MMIO_OK;
}

mmio_region *cli_region_new(void)
{
	mmio_region *r = aligned_alloc(64, (sizeof(*r) + 63) / 64 * 64);

	if (r)
		memset(r, 0, sizeof(*r));
	return r;
}

void cli_region_free(mmio_region *r)
{
	if (r->place)
		cli_direct_unplace(r);
	else
		free(r);
}

/* A new view of @h: placed before its own mapping if @h is direct and it
 * can be (cli_direct_place()), else malloc'd. NULL if out of memory. */
static mmio_region *view_new(struct cli_handle *h, size_t base, size_t len, bool slice)
{
	mmio_region *r = cli_direct_place(h, base, len);

	if (!r)
		r = cli_region_new();
	if (!r)
		return NULL;
	r->h = h;
	r->base = base;
	r->len = len;
	r->slice = slice;
	cli_direct_view(r);
	return r;
}

/* REQUIRE_DIRECT that the server granted but this client cannot map: the
 * OPEN's success must not be what mmio_last_error() tells. A refused MAP
 * recorded its own reason. */
static void direct_refused(const mmio_client *c, int status)
{
	if (mmio_last_error(c, NULL, 0) == status)
		return;
	if (status == MMIO_EACCES && !(c->hello.flags & PROTO_HELLO_DIRECT))
		cli_refuse(c, PROTO_OP_MAP, MMIO_REASON_UNMAPPABLE, MMIO_UNMAPPABLE_SERVER, 0);
	else if (status == MMIO_EACCES && c->fd_path[0] == '\0')
		cli_refuse(c, PROTO_OP_MAP, MMIO_REASON_UNMAPPABLE, MMIO_UNMAPPABLE_TRANSPORT, 0);
	else
		cli_last_record(c, status, NULL);
}

/* mmio_open_range()'s arguments, before any request; *@name_len. */
static int open_args_check(const mmio_client *c, const char *name, unsigned flags,
			   mmio_region **out, size_t *name_len)
{
	unsigned unknown = flags & ~(unsigned)PROTO_OPEN_FLAGS;

	if (!c || !name || !out)
		return cli_refuse_null(c, PROTO_OP_OPEN);
	if (unknown != 0)
		return cli_refuse(c, PROTO_OP_OPEN, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_FLAGS,
				  unknown);
	*name_len = strnlen(name, PROTO_NAME_MAX + 1);
	if (!proto_name_valid(name, *name_len))
		return cli_refuse(c, PROTO_OP_OPEN, MMIO_REASON_ARGUMENT, MMIO_ARGUMENT_NAME, 0);
	return MMIO_OK;
}

static int region_open(mmio_client *c, const char *name, uint64_t offset, uint64_t len,
		       unsigned flags, mmio_region **out)
{
	struct proto_request req = { .opcode = PROTO_OP_OPEN };
	struct proto_reply rep;
	struct cli_handle *h;
	mmio_region *r;
	nng_msg *m;
	size_t name_len = 0;
	int status;

	if (out)
		*out = NULL;
	status = open_args_check(c, name, flags, out, &name_len);
	if (status != MMIO_OK)
		return status;

	memcpy(req.open.name, name, name_len + 1);
	req.open.offset = offset;
	req.open.length = len;
	req.open.flags = flags;
	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK && rep.open.size > SIZE_MAX)
		status = MMIO_EPROTO;
	if (status != MMIO_OK) {
		nng_msg_free(m);
		return status;
	}

	h = calloc(1, sizeof(*h));
	if (!h) {
		status = MMIO_ENOMEM;
		goto fail_alloc;
	}
	h->client = c;
	h->ops = &cli_proxied_ops;
	h->id = rep.open.handle;
	h->info = rep.open;
	memcpy(h->name, name, name_len + 1);
	nng_msg_free(m);
	m = NULL;

	if (flags & (MMIO_OPEN_DIRECT | MMIO_OPEN_REQUIRE_DIRECT)) {
		status = cli_direct_attach(h);
		/* MMIO_OPEN_DIRECT falls back to proxied, unless the client is
		 * lost; REQUIRE does not fall back. */
		if (status != MMIO_OK && cli_lost(c))
			status = MMIO_ECONN;
		if (status != MMIO_OK &&
		    ((flags & MMIO_OPEN_REQUIRE_DIRECT) || status == MMIO_ECONN)) {
			direct_refused(c, status);
			goto fail_direct;
		}
	}
	r = view_new(h, 0, (size_t)h->info.size, false);
	if (!r) {
		status = MMIO_ENOMEM;
		h->ops->release(h);
		goto fail_direct;
	}
	cli_region_link(r);
	*out = r;
	return MMIO_OK;

fail_direct:
fail_alloc:
	if (m)
		nng_msg_free(m);
	cli_handle_close_remote(c, rep.open.handle);
	free(h);
	return status;
}

int mmio_open(mmio_client *c, const char *region, unsigned flags, mmio_region **out)
{
	return region_open(c, region, 0, PROTO_LEN_TO_END, flags, out);
}

int mmio_open_range(mmio_client *c, const char *region, size_t offset, size_t len, unsigned flags,
		    mmio_region **out)
{
	return region_open(c, region, offset, len == SIZE_MAX ? PROTO_LEN_TO_END : len, flags, out);
}

int mmio_slice(const mmio_region *r, size_t offset, size_t len, mmio_region **out)
{
	unsigned width;
	mmio_region *s;

	if (out)
		*out = NULL;
	if (!r || !out)
		return cli_refuse_null(r ? r->h->client : NULL, PROTO_OP_OPEN);
	/* As shim_window_slice(): non-empty, inside, whole pinned accesses. */
	if (len == 0)
		return cli_refuse(r->h->client, PROTO_OP_OPEN, MMIO_REASON_ARGUMENT,
				  MMIO_ARGUMENT_EMPTY, 0);
	if (offset > r->len || len > r->len - offset)
		return cli_refuse_range(r, PROTO_OP_OPEN, offset, len);
	width = r->h->info.width;
	if (width != 0 && ((r->base + offset) % width != 0 || len % width != 0))
		return refuse_granule(r, PROTO_OP_OPEN);
	if (cli_lost(r->h->client))
		return MMIO_ECONN;
	s = view_new(r->h, r->base + offset, len, true);
	if (!s)
		return MMIO_ENOMEM;
	cli_region_link(s);
	*out = s;
	return MMIO_OK;
}

void mmio_close(mmio_region *r)
{
	struct cli_handle *h;
	mmio_client *c;
	bool last, lost;

	if (!r)
		return;
	h = r->h;
	c = h->client;
	pthread_mutex_lock(&c->mtx);
	r->node.prev->next = r->node.next;
	r->node.next->prev = r->node.prev;
	last = --h->views == 0;
	lost = c->lost;
	pthread_mutex_unlock(&c->mtx);
	cli_region_free(r);
	if (!last)
		return;
	h->ops->release(h);
	if (!lost)
		cli_handle_close_remote(c, h->id);
	free(h);
}

size_t mmio_size(const mmio_region *r)
{
	return r ? r->len : 0;
}

int mmio_is_direct(const mmio_region *r)
{
	return r && cli_direct_active(r->h) ? 1 : 0;
}

int mmio_describe(const mmio_region *r, struct mmio_region_info *out)
{
	const struct proto_open_rep *i;

	if (!r || !out)
		return cli_refuse_null(r ? r->h->client : NULL, PROTO_OP_OPEN);
	i = &r->h->info;
	memset(out, 0, sizeof(*out));
	memcpy(out->name, r->h->name, sizeof(out->name));
	out->size = r->len;
	out->access = i->access;
	out->ops = i->ops;
	out->widths = i->widths;
	out->cache = i->cache;
	out->flags = i->flags;
	out->width = i->width;
	out->bulk_width = mmio_widths_widest(i->widths);
	memcpy(out->where, i->where, sizeof(out->where));
	/* A slice starts r->base bytes into its handle. */
	out->phys = i->phys ? i->phys + r->base : 0;
	return MMIO_OK;
}

/* ---- once-ops ---- */

static int read_once(mmio_region *r, size_t off, unsigned width, uint64_t *v)
{
	if (!r)
		return cli_refuse_null(NULL, PROTO_OP_READ_ONCE);
	return r->h->ops->read_once(r, off, width, v);
}

static int write_once(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	if (!r)
		return cli_refuse_null(NULL, PROTO_OP_WRITE_ONCE);
	return r->h->ops->write_once(r, off, width, v);
}

/*
 * The fast path of a once-op on a direct view, as the header's inline
 * once-ops take it (for callers built without them, and calls through a
 * pointer): one comparison with the view's end for this direction and
 * width (cli_direct_view() sets it only for allowed widths, cli_region_lose()
 * zeroes it), an alignment check, then exactly one raw access. Anything else
 * goes the slow way, whose checks give the status.
 */
static inline bool fast_ok(const size_t *end, size_t off, unsigned width)
{
	return off < __atomic_load_n(end, __ATOMIC_RELAXED) && mmio_width_aligned(off, width);
}

/* A fast access on direct view @r faulted: a revoked window, or the device. */
static __attribute__((noinline, cold)) int fast_fault(mmio_region *r)
{
	struct mmio_reason why = { 0 };
	int status = cli_direct_fault(r->h, r);

	mmio_reason_set(&why, status,
			status == MMIO_EREVOKED ? MMIO_REASON_REVOKED : MMIO_REASON_NONE, 0, 0);
	cli_last_record(r->h->client, status, &why);
	return status;
}

#define MMIO_READ_N(bits, log2)                                                                    \
	int mmio_read##bits(mmio_region *r, size_t off, uint##bits##_t *v)                         \
	{                                                                                          \
		uint64_t x;                                                                        \
		int status;                                                                        \
                                                                                                   \
		if (r && v && fast_ok(&r->fast.any_read_end[log2], off, (bits) / 8)) {             \
			status = shim_raw_read##bits(r->fast.base + off, v);                       \
			return status == MMIO_OK ? status : fast_fault(r);                         \
		}                                                                                  \
		if (!v)                                                                            \
			return cli_refuse_null(r ? r->h->client : NULL, PROTO_OP_READ_ONCE);       \
		status = read_once(r, off, (bits) / 8, &x);                                        \
		if (status == MMIO_OK)                                                             \
			*v = (uint##bits##_t)x;                                                    \
		return status;                                                                     \
	}                                                                                          \
	int mmio_write##bits(mmio_region *r, size_t off, uint##bits##_t v)                         \
	{                                                                                          \
		if (r && fast_ok(&r->fast.any_write_end[log2], off, (bits) / 8)) {                 \
			int status = shim_raw_write##bits(r->fast.base + off, v);                  \
			return status == MMIO_OK ? status : fast_fault(r);                         \
		}                                                                                  \
		return write_once(r, off, (bits) / 8, v);                                          \
	}

MMIO_READ_N(8, 0)
MMIO_READ_N(16, 1)
MMIO_READ_N(32, 2)
MMIO_READ_N(64, 3)

/* The slow side of the header's inline once-ops: both of its tries failed
 * (or a NULL region faulted on them), so the ops decide. */
struct mmio_once_result mmio_inline_read(mmio_region *r, size_t off, unsigned width)
{
	uint64_t value = 0;
	int status = read_once(r, off, width, &value);

	/* Built from two scalars at the end: field by field, GCC stored the
	 * 4-byte status and then loaded the 8-byte word it is returned in,
	 * which store forwarding cannot serve. */
	return (struct mmio_once_result){ .status = status, .value = value };
}

int mmio_inline_write(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	return write_once(r, off, width, v);
}

int mmio_inline_fault(mmio_region *r)
{
	return fast_fault(r);
}

/* The checks of the layout the header's inline code was built for: the
 * inline code would read fields, or access bytes, this library does not
 * have there. Say so and end the program. */
static void layout_check(size_t fast_size, size_t window_at)
{
	if (fast_size > sizeof(struct mmio_region_fast)) {
		fprintf(stderr,
			"libmmio: a module was built with a newer <mmio/client.h> (inline view of "
			"%zu bytes; this library has %zu): install the libmmio it was built "
			"for\n",
			fast_size, sizeof(struct mmio_region_fast));
		abort();
	}
	if (window_at != MMIO__WINDOW_AT) {
		fprintf(stderr,
			"libmmio: a module was built with a <mmio/client.h> whose direct views lie "
			"%zu bytes past their handle (this library places them %d bytes past): "
			"install the libmmio it was built for\n",
			window_at, MMIO__WINDOW_AT);
		abort();
	}
}

/* The header's constructor: the caller's module's inline accesses, for the
 * fault handler, once its layout is this library's. */
int mmio_inline_register(const void *start, const void *stop, size_t fast_size, size_t window_at)
{
	static _Atomic(const void *) told; /* the last module refused: said once */
	Dl_info info;
	int status;

	layout_check(fast_size, window_at);
	status = shim_fault_recovery_install();
	if (status == MMIO_OK)
		status = shim_extable_add(start, stop);

	if (status != MMIO_OK && atomic_exchange(&told, start) != start) {
		const char *name = dladdr(start, &info) && info.dli_fname && *info.dli_fname
					   ? info.dli_fname
					   : "the main program";
		char why[80];

		if (status == MMIO_ENOMEM)
			snprintf(why, sizeof(why), "%d modules use inline once-ops already",
				 SHIM_EXTABLES);
		else
			snprintf(why, sizeof(why),
				 "the SIGSEGV/SIGBUS handler could not be installed");
		/* One write, so that the line stays whole among other threads'. */
		fprintf(stderr,
			"libmmio: %s; a fault in the inline accesses of %s (a device's, or a NULL "
			"region's) will not be recovered: it will end the process\n",
			why, name);
	}
	return status;
}

void mmio_inline_unregister(const void *start)
{
	shim_extable_remove(start);
}

/* ---- bulk ---- */

int mmio_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done)
{
	size_t n = 0;
	int status;

	done_set(done, 0);
	if (!r || (!buf && len != 0))
		return cli_refuse_null(r ? r->h->client : NULL, PROTO_OP_READ);
	status = r->h->ops->read(r, off, buf, len, &n);
	done_set(done, n);
	return status;
}

int mmio_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	size_t n = 0;
	int status;

	done_set(done, 0);
	if (!r || (!buf && len != 0))
		return cli_refuse_null(r ? r->h->client : NULL, PROTO_OP_WRITE);
	status = r->h->ops->write(r, off, buf, len, &n);
	done_set(done, n);
	return status;
}

int mmio_fill(mmio_region *r, size_t off, size_t len, uint8_t byte, size_t *done)
{
	size_t n = 0;
	int status;

	done_set(done, 0);
	if (!r)
		return cli_refuse_null(NULL, PROTO_OP_FILL);
	status = r->h->ops->fill(r, off, len, byte, &n);
	done_set(done, n);
	return status;
}

static int rows_copy(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
		     void *buf, bool write, size_t *done)
{
	unsigned op = write ? PROTO_OP_WRITE_ROWS : PROTO_OP_READ_ROWS;
	size_t n = 0;
	int status;

	done_set(done, 0);
	if (!r || !buf)
		return cli_refuse_null(r ? r->h->client : NULL, op);
	status = cli_rows_plan(r, op, off, row_bytes, pitch, rows);
	if (status != MMIO_OK)
		return status;
	status = r->h->ops->rows(r, off, row_bytes, pitch, rows, buf, write, &n);
	done_set(done, n);
	return status;
}

int mmio_read_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
		   void *buf, size_t *done)
{
	return rows_copy(r, off, row_bytes, pitch, rows, buf, false, done);
}

int mmio_write_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
		    const void *buf, size_t *done)
{
	/* Only read from when @write. */
	return rows_copy(r, off, row_bytes, pitch, rows, (void *)(uintptr_t)buf, true, done);
}

/* A poll of @width bytes; the last value read in *@v (POLL_FN decides
 * whether the caller sees it). */
static int poll_width(mmio_region *r, size_t off, unsigned width, uint64_t mask, uint64_t want,
		      uint32_t timeout_us, uint64_t *v)
{
	*v = 0;
	return r ? r->h->ops->poll(r, off, width, mask, want, timeout_us, v)
		 : cli_refuse_null(NULL, PROTO_OP_POLL);
}

#define POLL_FN(bits)                                                                              \
	int mmio_poll##bits(mmio_region *r, size_t off, uint##bits##_t mask, uint##bits##_t want,  \
			    uint32_t timeout_us, uint##bits##_t *last)                             \
	{                                                                                          \
		uint64_t v;                                                                        \
		int status = poll_width(r, off, (bits) / 8, mask, want, timeout_us, &v);           \
                                                                                                   \
		if (last && (status == MMIO_OK || status == MMIO_ETIMEDOUT))                       \
			*last = (uint##bits##_t)v;                                                 \
		return status;                                                                     \
	}

POLL_FN(8)
POLL_FN(16)
POLL_FN(32)
POLL_FN(64)
