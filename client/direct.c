/* SPDX-License-Identifier: MIT */
/*
 * Direct mode: the server grants the handle's device memory as a descriptor
 * and the stub maps it, so accesses are loads and stores in this process.
 *
 * Getting the mapping (cli_direct_attach):
 *   1. MAP over nng: the server checks the grant (`map`, not sensitive, the
 *      whole device in whole pages) and answers a one-time token;
 *   2. the token goes to the descriptor channel ("<socket path>.fd", a
 *      SOCK_SEQPACKET socket), which checks our uid (SO_PEERCRED) against
 *      the one that asked and sends the descriptor back by SCM_RIGHTS;
 *   3. mmap it: read-only for a read-only grant (the descriptor itself is
 *      read-only then, so PROT_WRITE would fail in the kernel anyway).
 * The descriptor stays open with the handle: every view of it (the region,
 * each slice) maps its own bytes again, with the region struct in private
 * pages MMIO__WINDOW_AT before them (cli_direct_place()), so that the
 * header's inline accesses need no base.
 *
 * Accesses run the same kernel-shim window operations the server runs, on
 * a window over the mapping that matches the server's window over the
 * device (same limit, same pinned width), after the same checks in the same
 * order: what the stub checks (region.c), then the connection, then the
 * rights of the grant as the server's srv_handle_check() does, then the
 * window's range/alignment checks. So values, statuses and done counts are
 * those of proxied mode; the differential test holds both to that.
 *
 * What direct mode cannot do from userspace: the rights are those of the
 * OPEN reply, and a reload that revokes the grant cannot take the mapping
 * back (the server logs the pid that holds it) unless the mapping is a
 * window of the kernel-shim module (OPEN's MMIO_REGION_REVOCABLE). Polls
 * are not capped by the server's max_poll_us: they spend the caller's own
 * time.
 *
 * Revocation of a window: the server revokes it when a reload narrows or
 * withdraws the grant (and when the handle or session ends); the kernel
 * then refuses every page of it in every process that mapped it, so the
 * next access faults. A fault at a device address of a revocable mapping
 * is that and nothing else (a real BAR does not fault): the access returns
 * MMIO_EREVOKED with its exact count, and the handle is withdrawn from
 * direct mode (cli_direct_fault()): its views' fast ends are zeroed and
 * every later access is a request, which the server answers under the
 * policy in force: done if it still grants the handle, MMIO_EREVOKED if it
 * revoked it. A fault on a mapping the server cannot revoke (the sim
 * backend's memfd, a sysfs BAR) stays MMIO_EFAULT, as one on the caller's
 * buffer does.
 */
#include "channel.h"
#include "cli.h"

#include <mmio/shim.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A poll that is not satisfied at once spins this long, then sleeps with
 * a back-off from POLL_SLEEP_MIN_NS to POLL_SLEEP_MAX_NS (never past its
 * deadline). */
#define POLL_SPIN_NS	  50000u
#define POLL_SLEEP_MIN_NS 2000u
#define POLL_SLEEP_MAX_NS 1000000u

struct cli_direct {
	struct shim_window win;	     /* the handle: [0, info.size) of the mapping, pinned width */
	struct shim_window once_win; /* the same for once-ops and polls, any allowed width */
	void *map;		     /* the whole mapping */
	size_t map_len;
	/* For the views' own mappings: the descriptor (closed with the
	 * handle), where in it the mapping above starts, where the handle
	 * starts in that mapping, and the mapping's protection. */
	int fd;
	dev_t fd_dev; /* what the descriptor is, to tell it from another */
	ino_t fd_ino; /* file given its number (a program that closed it) */
	uint64_t fd_offset;
	size_t handle_at;
	int prot;
	bool revocable;	       /* a window the server can revoke (MMIO_REGION_REVOCABLE) */
	atomic_bool withdrawn; /* revoked under us: every access is proxied now */
};

bool cli_direct_active(const struct cli_handle *h)
{
	const struct cli_direct *d = h->direct;

	/* Acquire: pairs with direct_withdraw(), so that a thread that sees
	 * the handle proxied sees its views' ends zeroed too. */
	return h->ops->direct && d && !atomic_load_explicit(&d->withdrawn, memory_order_acquire);
}

static bool addr_in(uintptr_t a, const void *start, size_t len)
{
	return start && a >= (uintptr_t)start && a - (uintptr_t)start < len;
}

/* Withdraw @h from direct mode: later accesses are requests. The mappings
 * stay (revoked, they only fault) until the views and the handle close, so
 * that no other mapping can take their addresses while a thread that
 * passed a fast check still uses them. */
static void direct_withdraw(struct cli_handle *h)
{
	struct cli_direct *d = h->direct;
	mmio_client *c = h->client;

	if (atomic_exchange_explicit(&d->withdrawn, true, memory_order_release))
		return;
	pthread_mutex_lock(&c->mtx);
	for (struct cli_list *n = c->regions.next; n != &c->regions; n = n->next) {
		mmio_region *v = cli_region_of(n);

		if (v->h == h)
			cli_region_lose(v);
	}
	pthread_mutex_unlock(&c->mtx);
}

int cli_direct_fault(struct cli_handle *h, const mmio_region *r)
{
	struct cli_direct *d = h->direct;
	uintptr_t a = shim_fault_address();
	struct mmio_reason why = { 0 };

	if (!d || !d->revocable)
		return MMIO_EFAULT;
	if (!addr_in(a, d->map, d->map_len) && !(r && addr_in(a, r->place, r->place_len)))
		return MMIO_EFAULT;
	direct_withdraw(h);
	mmio_reason_set(&why, MMIO_EREVOKED, MMIO_REASON_REVOKED, 0, 0);
	cli_last_record(h->client, MMIO_EREVOKED, &why);
	return MMIO_EREVOKED;
}

/* Whether @d's descriptor is still the one the server gave: a program that
 * closes descriptors it does not own (after a fork, say) may have given its
 * number to another file, which is neither to be mapped nor closed. */
static bool fd_ours(const struct cli_direct *d)
{
	struct stat st;

	return fstat(d->fd, &st) == 0 && st.st_dev == d->fd_dev && st.st_ino == d->fd_ino;
}

/* The views' layout: the region struct lies MMIO__WINDOW_AT before the
 * view's first byte, wholly in the private pages that lead the view's
 * mapping, wherever in its first page the view starts (so views are placed
 * for 4 KiB pages, and a region is 8-aligned). VIEW_LEAD is those pages. */
#define VIEW_PAGE 4096u
#define VIEW_LEAD ((MMIO__WINDOW_AT + VIEW_PAGE - 1) / VIEW_PAGE * VIEW_PAGE)
/*
 * Placed views at once, in the process, whose handles start in the same L1
 * cache set (64 sets of 64 bytes: the handle's offset in its page tells
 * it). The handles of views that start in one 64-byte line of a page lie in
 * one set, and a loop over more of them than the set has ways reads their
 * ends from L2 (mmio-bench's "views 32"; docs/PERFORMANCE.md has the
 * figures). Past this many a view is malloc'd, and the header reaches it
 * through its base: a load more than a placed view.
 * It also bounds the views' cost: a page or two of memory and two of the
 * kernel's 65530 mappings each, at most 512.
 */
#define VIEW_SETS	 64u
#define VIEWS_PER_SET	 8u
#define VIEW_SET(handle) (((uintptr_t)(handle) / 64) % VIEW_SETS)

static atomic_uint views_placed[VIEW_SETS];
_Static_assert(MMIO__WINDOW_AT % 8 == 0 && sizeof(mmio_region) <= MMIO__WINDOW_AT - VIEW_PAGE &&
		       _Alignof(mmio_region) <= 8,
	       "a region fits before its view at any 8-aligned offset in a page");

/* The window of copies and fills (pinned width), as the server's. */
static const struct shim_window *direct_window(const struct cli_handle *h)
{
	return &((const struct cli_direct *)h->direct)->win;
}

/* The window of once-ops and polls: the grant's widths decide, as in the server. */
static const struct shim_window *direct_once_window(const struct cli_handle *h)
{
	return &((const struct cli_direct *)h->direct)->once_win;
}

/* The opcode the server would name for a direct op of @ops_bit, @access_bit. */
static unsigned direct_opcode(unsigned ops_bit, unsigned access_bit)
{
	bool w = access_bit & MMIO_ACCESS_WRITE;

	switch (ops_bit) {
	case MMIO_OPS_ONCE:
		return w ? PROTO_OP_WRITE_ONCE : PROTO_OP_READ_ONCE;
	case MMIO_OPS_BULK:
		return w ? PROTO_OP_WRITE : PROTO_OP_READ;
	case MMIO_OPS_FILL:
		return PROTO_OP_FILL;
	default:
		return PROTO_OP_POLL;
	}
}

/* A direct access refused by the rights check: record why, as a proxied
 * refusal's reply would (mmio_last_error()); returns the status. */
static __attribute__((noinline, cold)) int
direct_refused(const struct cli_handle *h, unsigned ops_bit, unsigned access_bit, unsigned width)
{
	struct mmio_reason why = { .op = direct_opcode(ops_bit, access_bit) };
	int status = mmio_rights_explain(h->info.ops, h->info.access, h->info.widths, ops_bit,
					 access_bit, width, &why);

	cli_last_record(h->client, status, &why);
	return status;
}

/*
 * What the server checks on every access after finding the handle
 * (srv_handle_check): the connection first (a lost client has no
 * handles), then the one rights check both make, mmio_rights_check().
 */
static inline int direct_check(const struct cli_handle *h, unsigned ops_bit, unsigned access_bit,
			       unsigned width)
{
	/* Acquire: pairs with session_lose_locked(), so that a thread that was
	 * told MMIO_ECONN here takes no fast access on this client after. */
	if (atomic_load_explicit(&h->client->lost, memory_order_acquire))
		return MMIO_ECONN;
	if (mmio_rights_check(h->info.ops, h->info.access, h->info.widths, ops_bit, access_bit,
			      width) != MMIO_OK)
		return direct_refused(h, ops_bit, access_bit, width);
	return MMIO_OK;
}

/*
 * A direct access that kernel-shim refused or stopped: record its status,
 * with the reason the server would give for a range or an alignment
 * (srv_check_and_audit()): a mapped handle is a whole region, so its
 * offsets are the region's. Returns @status.
 */
static __attribute__((noinline, cold)) int direct_failed(const mmio_region *r, unsigned opcode,
							 uint64_t hoff, uint64_t len,
							 unsigned width, int status)
{
	struct mmio_reason why = { .op = opcode };
	uint64_t end, size = r->h->info.size;

	if (status == MMIO_EFAULT)
		status = cli_direct_fault(r->h, r);
	if (status == MMIO_EREVOKED)
		mmio_reason_set(&why, status, MMIO_REASON_REVOKED, 0, 0);
	if (status == MMIO_EINVAL && !r->slice) {
		if (__builtin_add_overflow(hoff, len, &end))
			end = UINT64_MAX;
		if (end > size)
			mmio_reason_set(&why, status, MMIO_REASON_RANGE, end, size);
		else if (width > 1 && hoff % width != 0)
			mmio_reason_set(&why, status, MMIO_REASON_ALIGN, width, hoff);
	}
	cli_last_record(r->h->client, status, &why);
	return status;
}

/* ---- the ops of a direct handle (region.c has checked the pointers) ---- */

static int direct_read_once(mmio_region *r, size_t off, unsigned width, uint64_t *v)
{
	uint64_t hoff;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.read_once(r, off, width, v);
	if (!mmio_width_valid(width))
		return cli_refuse(r->h->client, PROTO_OP_READ_ONCE, MMIO_REASON_ARGUMENT,
				  MMIO_ARGUMENT_WIDTH, width);
	status = cli_view_offset(r, PROTO_OP_READ_ONCE, off, width, &hoff);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_ONCE, MMIO_ACCESS_READ, width);
	if (status != MMIO_OK)
		return status;
	status = shim_read_once(direct_once_window(r->h), (size_t)hoff, width, v);
	return status == MMIO_OK ? status
				 : direct_failed(r, PROTO_OP_READ_ONCE, hoff, width, width, status);
}

static int direct_write_once(mmio_region *r, size_t off, unsigned width, uint64_t v)
{
	uint64_t hoff;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.write_once(r, off, width, v);
	if (!proto_value_fits(width, v))
		return cli_refuse_width(r->h->client, PROTO_OP_WRITE_ONCE, width);
	status = cli_view_offset(r, PROTO_OP_WRITE_ONCE, off, width, &hoff);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_ONCE, MMIO_ACCESS_WRITE, width);
	if (status != MMIO_OK)
		return status;
	status = shim_write_once(direct_once_window(r->h), (size_t)hoff, width, v);
	return status == MMIO_OK
		       ? status
		       : direct_failed(r, PROTO_OP_WRITE_ONCE, hoff, width, width, status);
}

static int direct_read(mmio_region *r, size_t off, void *buf, size_t len, size_t *done)
{
	uint64_t hoff;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.read(r, off, buf, len, done);
	status = cli_bulk_offset(r, PROTO_OP_READ, off, len,
				 cli_read_chunk_max(r->h->client->max_message), &hoff);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_BULK, MMIO_ACCESS_READ, 0);
	if (status != MMIO_OK)
		return status;
	status = shim_copy_from_device(direct_window(r->h), (size_t)hoff, buf, len, done);
	return status == MMIO_OK ? status : direct_failed(r, PROTO_OP_READ, hoff, len, 0, status);
}

static int direct_write(mmio_region *r, size_t off, const void *buf, size_t len, size_t *done)
{
	uint64_t hoff;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.write(r, off, buf, len, done);
	status = cli_bulk_offset(r, PROTO_OP_WRITE, off, len,
				 cli_write_chunk_max(r->h->client->max_message), &hoff);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_BULK, MMIO_ACCESS_WRITE, 0);
	if (status != MMIO_OK)
		return status;
	status = shim_copy_to_device(direct_window(r->h), (size_t)hoff, buf, len, done);
	return status == MMIO_OK ? status : direct_failed(r, PROTO_OP_WRITE, hoff, len, 0, status);
}

/* Row by row on the mapping, after one rights check; the geometry is checked. */
static int direct_rows(mmio_region *r, size_t off, size_t row_bytes, size_t pitch, size_t rows,
		       void *buf, bool write, size_t *done)
{
	const struct shim_window *w = direct_window(r->h);
	uint8_t *bytes = buf;
	size_t at = r->base + off;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.rows(r, off, row_bytes, pitch, rows, buf, write, done);
	status = direct_check(r->h, MMIO_OPS_BULK, write ? MMIO_ACCESS_WRITE : MMIO_ACCESS_READ, 0);
	*done = 0;
	for (size_t i = 0; i < rows && status == MMIO_OK; i++, at += pitch) {
		size_t moved = 0;

		if (write)
			status = shim_copy_to_device(w, at, bytes + i * row_bytes, row_bytes,
						     &moved);
		else
			status = shim_copy_from_device(w, at, bytes + i * row_bytes, row_bytes,
						       &moved);
		*done += moved;
		if (status != MMIO_OK)
			return direct_failed(r, write ? PROTO_OP_WRITE_ROWS : PROTO_OP_READ_ROWS,
					     at, row_bytes, 0, status);
	}
	return status;
}

static int direct_fill(mmio_region *r, size_t off, size_t len, uint8_t byte, size_t *done)
{
	uint64_t hoff;
	size_t want;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.fill(r, off, len, byte, done);
	status = cli_fill_plan(r, off, len, &hoff, &want);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_FILL, MMIO_ACCESS_WRITE, 0);
	if (status != MMIO_OK)
		return status;
	status = shim_fill(direct_window(r->h), (size_t)hoff, want, byte, done);
	if (status == MMIO_EFAULT)
		return direct_failed(r, PROTO_OP_FILL, hoff, want, 0, status);
	if (status == MMIO_OK && want < len)
		return cli_refuse_range(r, PROTO_OP_FILL, off, len);
	return status;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

/*
 * Read at @hoff until (value & @mask) == @want or @timeout_us has passed,
 * as the server's POLL does: at least one read, MMIO_OK or MMIO_ETIMEDOUT
 * with the last value read in *@last, or the first access error.
 */
static int direct_poll_at(const struct cli_handle *h, uint64_t hoff, unsigned width, uint64_t mask,
			  uint64_t want, uint32_t timeout_us, uint64_t *last)
{
	const struct shim_window *w = direct_once_window(h);
	uint64_t start = (uint64_t)cli_now_ns();
	uint64_t deadline = start + (uint64_t)timeout_us * 1000u;
	uint64_t nap = POLL_SLEEP_MIN_NS;

	for (;;) {
		uint64_t v, now;
		int status = shim_read_once(w, (size_t)hoff, width, &v);

		if (status != MMIO_OK)
			return status;
		*last = v;
		if ((v & mask) == want)
			return MMIO_OK;
		now = (uint64_t)cli_now_ns();
		if (now >= deadline)
			return MMIO_ETIMEDOUT;
		if (now - start < POLL_SPIN_NS)
			continue;
		sleep_ns(nap < deadline - now ? nap : deadline - now);
		if (nap < POLL_SLEEP_MAX_NS)
			nap *= 2;
	}
}

static int direct_poll(mmio_region *r, size_t off, unsigned width, uint64_t mask, uint64_t want,
		       uint32_t timeout_us, uint64_t *last)
{
	uint64_t hoff;
	int status;

	if (!cli_direct_active(r->h))
		return cli_proxied_ops.poll(r, off, width, mask, want, timeout_us, last);
	if (!proto_value_fits(width, mask) || !proto_value_fits(width, want))
		return cli_refuse_width(r->h->client, PROTO_OP_POLL, width);
	status = cli_view_offset(r, PROTO_OP_POLL, off, width, &hoff);
	if (status == MMIO_OK)
		status = direct_check(r->h, MMIO_OPS_POLL, MMIO_ACCESS_READ, width);
	if (status != MMIO_OK)
		return status;
	status = direct_poll_at(r->h, hoff, width, mask, want, timeout_us, last);
	return status == MMIO_OK ? status
				 : direct_failed(r, PROTO_OP_POLL, hoff, width, width, status);
}

int cli_direct_batch_op(struct cli_handle *h, const struct proto_batch_op *op, uint64_t *value)
{
	const struct shim_window *w = direct_once_window(h);
	bool poll = op->opcode == PROTO_OP_POLL;
	bool write = op->opcode == PROTO_OP_WRITE_ONCE;
	int status;

	status = direct_check(h, poll ? MMIO_OPS_POLL : MMIO_OPS_ONCE,
			      write ? MMIO_ACCESS_WRITE : MMIO_ACCESS_READ, op->width);
	if (status != MMIO_OK)
		return status;
	if (op->offset > SIZE_MAX)
		return MMIO_EINVAL;
	*value = 0;
	if (write)
		status = shim_write_once(w, (size_t)op->offset, op->width, op->value);
	else if (!poll)
		status = shim_read_once(w, (size_t)op->offset, op->width, value);
	else
		status = direct_poll_at(h, op->offset, op->width, op->value, op->want,
					op->timeout_us, value);
	return status == MMIO_EFAULT ? cli_direct_fault(h, NULL) : status;
}

/*
 * Where past a SHIM_MAP_ALIGN boundary a view of @span bytes is mapped.
 * One that large starts a boundary, as the handle's mapping does (large
 * pages). Smaller ones start at the pages between in turn, one page apart,
 * their handles past pages 0 and 1 (where device mappings and shared
 * buffers start). At one boundary each, views would all fall in one slot
 * of a direct-mapped TLB, such as QEMU's under TCG, and in one set of the
 * CPU's. One page apart, a view's handle page shares a slot with the first
 * page of the view three turns before; yet spacing the turns as far apart
 * as the pages a view uses (every page in a slot of its own), or two pages
 * apart, was slower in the TCG guest: its TLB favours views packed close
 * (docs/PERFORMANCE.md has the figures).
 */
static size_t view_skew(size_t span)
{
	static atomic_size_t turn;
	const size_t first = 2 + VIEW_LEAD / VIEW_PAGE;
	const size_t pages = SHIM_MAP_ALIGN / VIEW_PAGE - first;

	if (span >= SHIM_MAP_ALIGN)
		return 0;
	return (first + atomic_fetch_add(&turn, 1) % pages) * VIEW_PAGE;
}

mmio_region *cli_direct_place(struct cli_handle *h, size_t base, size_t len)
{
	const struct cli_direct *d = h->direct;
	size_t at, in_page, span, set;
	unsigned char *p;

	if (!cli_direct_active(h) || sysconf(_SC_PAGESIZE) != VIEW_PAGE || !fd_ours(d))
		return NULL;
	at = d->handle_at + base;
	in_page = at % VIEW_PAGE;
	if (in_page % 8 != 0)
		return NULL;
	/* The handle's set, from its offset in a page (the mapping starts one). */
	set = VIEW_SET(in_page + VIEW_LEAD - MMIO__WINDOW_AT);
	if (atomic_fetch_add(&views_placed[set], 1) >= VIEWS_PER_SET) {
		atomic_fetch_sub(&views_placed[set], 1);
		return NULL;
	}
	/* Inside the handle's mapping, which is whole pages: no overflow. */
	span = (in_page + len + VIEW_PAGE - 1) / VIEW_PAGE * VIEW_PAGE;
	p = shim_mmap_led(VIEW_LEAD, span, d->prot, d->fd, d->fd_offset + (at - in_page),
			  view_skew(span));
	if (p == MAP_FAILED) {
		atomic_fetch_sub(&views_placed[set], 1);
		return NULL;
	}
	/* The private pages are zeroed: so is the region. */
	mmio_region *r = (mmio_region *)(void *)(p - MMIO__WINDOW_AT + in_page);
	r->place = p - VIEW_LEAD;
	r->place_len = VIEW_LEAD + span;
	r->bytes = p + in_page;
	return r;
}

void cli_direct_unplace(mmio_region *r)
{
	size_t set = VIEW_SET(r);

	munmap(r->place, r->place_len);
	atomic_fetch_sub(&views_placed[set], 1);
}

/* The fast view of view @r: its base and "any" once-op ends, and if @r is
 * placed, its own once-op and copy ends. */
void cli_direct_view(mmio_region *r)
{
	const struct cli_handle *h = r->h;
	struct mmio_region_fast *f = &r->fast;
	unsigned char *base;

	memset(f, 0, sizeof(*f));
	if (!cli_direct_active(h))
		return;
	base = r->place ? r->bytes : (unsigned char *)direct_once_window(h)->base + r->base;
	f->base = base;
	/* Copies: the header's are all 8 bytes wide, which any width but a
	 * pinned 1, 2 or 4 allows, from a base aligned to 8; the header checks
	 * the range and that the offset is aligned. */
	if (r->place && (h->info.ops & MMIO_OPS_BULK) &&
	    (h->info.width == 0 || h->info.width == 8) && !((uintptr_t)base & 7)) {
		if (h->info.access & MMIO_ACCESS_READ)
			f->copy_read_end = r->len;
		if (h->info.access & MMIO_ACCESS_WRITE)
			f->copy_write_end = r->len;
	}
	if (!(h->info.ops & MMIO_OPS_ONCE))
		return;
	/* An end for each width the grant allows in that direction, that fits
	 * the view and that its base is aligned to: then the two checks
	 * (below the end, aligned) settle an access. */
	for (unsigned i = 0; i < 4; i++) {
		unsigned w = 1u << i;
		size_t end = r->len - w + 1;

		if (!(h->info.widths & w) || w > r->len || !mmio_width_aligned((uintptr_t)base, w))
			continue;
		if (h->info.access & MMIO_ACCESS_READ)
			f->any_read_end[i] = end;
		if (h->info.access & MMIO_ACCESS_WRITE)
			f->any_write_end[i] = end;
	}
	/* Only a placed view's bytes lie where the header's first try looks. */
	if (r->place) {
		memcpy(f->read_end, f->any_read_end, sizeof(f->read_end));
		memcpy(f->write_end, f->any_write_end, sizeof(f->write_end));
	}
}

static void direct_release(struct cli_handle *h)
{
	struct cli_direct *d = h->direct;

	if (!d)
		return;
	munmap(d->map, d->map_len);
	if (fd_ours(d))
		close(d->fd);
	free(d);
	h->direct = NULL;
}

const struct cli_region_ops cli_direct_ops = {
	.read_once = direct_read_once,
	.write_once = direct_write_once,
	.read = direct_read,
	.write = direct_write,
	.fill = direct_fill,
	.poll = direct_poll,
	.rows = direct_rows,
	.release = direct_release,
	.direct = true,
};

/* ---- getting the mapping ---- */

static int map_request(struct cli_handle *h, struct proto_map_rep *out)
{
	struct proto_request req = { .opcode = PROTO_OP_MAP, .map = { .handle = h->id } };
	struct proto_reply rep;
	mmio_client *c = h->client;
	nng_msg *m;
	int status;

	status = cli_call(c, &req, cli_timeout_ms(c, 0), &m, &rep);
	if (status != MMIO_OK)
		return status;
	status = rep.status;
	if (status == MMIO_OK)
		*out = rep.map;
	nng_msg_free(m);
	return status;
}

static void unmap_request(struct cli_handle *h)
{
	struct proto_request req = { .opcode = PROTO_OP_UNMAP, .unmap = { .handle = h->id } };
	struct proto_reply rep;
	nng_msg *m;

	if (cli_call(h->client, &req, cli_timeout_ms(h->client, 0), &m, &rep) == MMIO_OK)
		nng_msg_free(m);
}

int cli_direct_attach(struct cli_handle *h)
{
	mmio_client *c = h->client;
	long page = sysconf(_SC_PAGESIZE);
	struct proto_map_rep map;
	struct cli_direct *d;
	uint64_t mmap_offset = 0;
	int prot = PROT_READ;
	int fd = -1, status;
	struct stat st;
	void *p;

	if (!(c->hello.flags & PROTO_HELLO_DIRECT) || !(h->info.flags & MMIO_REGION_MAPPABLE) ||
	    c->fd_path[0] == '\0')
		return MMIO_EACCES;
	/* Faults under the mapping become MMIO_EFAULT, as in the server. */
	if (shim_fault_recovery_install() != MMIO_OK)
		return MMIO_EINTERNAL;

	status = map_request(h, &map);
	if (status != MMIO_OK)
		return status;
	/* The mapping must hold the whole handle, in whole pages. */
	if (page <= 0 || map.length == 0 || map.length > SIZE_MAX ||
	    map.length % (uint64_t)page != 0 || map.offset > map.length ||
	    h->info.size > map.length - map.offset) {
		status = MMIO_EPROTO;
		goto fail;
	}
	status = cli_channel_pickup(c->fd_path, map.token, c->reply_ms, &fd, &mmap_offset);
	if (status != MMIO_OK)
		goto fail;
	if (mmap_offset % (uint64_t)page != 0 || mmap_offset > (uint64_t)INT64_MAX) {
		status = MMIO_EPROTO;
		goto fail;
	}
	if (h->info.access & MMIO_ACCESS_WRITE)
		prot |= PROT_WRITE;
	/* At a 2 MiB boundary: see shim_mmap_placed(). */
	p = shim_mmap_placed((size_t)map.length, prot, fd, mmap_offset, 0);
	if (p == MAP_FAILED) {
		status = errno == ENOMEM   ? MMIO_ENOMEM
			 : errno == EACCES ? MMIO_EACCES
					   : MMIO_EINTERNAL;
		goto fail;
	}

	d = calloc(1, sizeof(*d));
	if (!d || fstat(fd, &st) != 0) {
		status = d ? MMIO_EINTERNAL : MMIO_ENOMEM;
		munmap(p, (size_t)map.length);
		free(d);
		goto fail;
	}
	d->fd_dev = st.st_dev;
	d->fd_ino = st.st_ino;
	d->map = p;
	d->map_len = (size_t)map.length;
	d->fd = fd;
	d->fd_offset = mmap_offset;
	d->handle_at = (size_t)map.offset;
	d->prot = prot;
	d->revocable = h->info.flags & MMIO_REGION_REVOCABLE;
	/* Copies take the grant's widths as the server's (granule: OPEN's width). */
	if (shim_window_init_widths(&d->win, (uint8_t *)p + map.offset, (size_t)h->info.size,
				    h->info.widths) != MMIO_OK ||
	    d->win.width != h->info.width ||
	    shim_window_init(&d->once_win, (uint8_t *)p + map.offset, (size_t)h->info.size, 0) !=
		    MMIO_OK) {
		munmap(p, (size_t)map.length);
		free(d);
		status = MMIO_EPROTO;
		goto fail;
	}
	h->direct = d;
	h->ops = &cli_direct_ops;
	return MMIO_OK;

fail:
	if (fd >= 0)
		close(fd);
	/* The server counts the handle as mapped since MAP: it is not. */
	unmap_request(h);
	return status;
}
