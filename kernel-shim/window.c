/* SPDX-License-Identifier: MIT */
/*
 * Checked access to a window of device memory: the semantics of OSTD's
 * IoMem on top of the raw primitives.
 */
#include <mmio/shim.h>

#include <stdint.h>

static uintptr_t window_addr(const struct shim_window *w, size_t offset)
{
	return (uintptr_t)w->base + offset;
}

static void done_set(size_t *done, size_t n)
{
	if (done)
		*done = n;
}

int shim_window_init(struct shim_window *w, void *base, size_t limit, unsigned width)
{
	uintptr_t end;

	if (width != 0 && !mmio_width_valid(width))
		return MMIO_EINVAL;
	if (!base && limit != 0)
		return MMIO_EINVAL;
	if (__builtin_add_overflow((uintptr_t)base, limit, &end))
		return MMIO_EINVAL;
	if (width != 0 && !mmio_width_aligned((uintptr_t)base, width))
		return MMIO_EINVAL;
	w->base = base;
	w->limit = limit;
	w->width = width;
	w->widths = 0;
	return MMIO_OK;
}

int shim_window_init_widths(struct shim_window *w, void *base, size_t limit, unsigned widths)
{
	unsigned smallest = widths & (0u - widths);
	int status;

	if (widths == 0 || (widths & ~MMIO_WIDTHS_ALL) != 0)
		return MMIO_EINVAL;
	if (widths == MMIO_WIDTHS_ALL)
		return shim_window_init(w, base, limit, 0);
	status = shim_window_init(w, base, limit, smallest);
	if (status == MMIO_OK && widths != smallest)
		w->widths = widths;
	return status;
}

unsigned shim_step_width(uintptr_t addr, size_t left, unsigned widths)
{
	if (widths == 0)
		widths = MMIO_WIDTHS_ALL;
	for (unsigned w = 8; w != 0; w >>= 1) {
		if ((widths & w) && left >= w && mmio_width_aligned(addr, w))
			return w;
	}
	return 0;
}

int shim_window_check(const struct shim_window *w, size_t offset, size_t len)
{
	size_t end;

	if (__builtin_add_overflow(offset, len, &end) || end > w->limit)
		return MMIO_EINVAL;
	return MMIO_OK;
}

/* Pinned windows: the device address and the length must be whole accesses. */
static int window_check_pinned(const struct shim_window *w, size_t offset, size_t len)
{
	if (w->width == 0)
		return MMIO_OK;
	if (!mmio_width_aligned(window_addr(w, offset), w->width) || len % w->width != 0)
		return MMIO_EINVAL;
	return MMIO_OK;
}

int shim_window_slice(const struct shim_window *w, size_t offset, size_t len,
		      struct shim_window *out)
{
	if (len == 0 || shim_window_check(w, offset, len) != MMIO_OK)
		return MMIO_EINVAL;
	if (window_check_pinned(w, offset, len) != MMIO_OK)
		return MMIO_EINVAL;
	out->base = (uint8_t *)w->base + offset;
	out->limit = len;
	out->width = w->width;
	out->widths = w->widths;
	return MMIO_OK;
}

/* The checks shared by both once-ops; nothing is accessed when they fail. */
static int once_check(const struct shim_window *w, size_t offset, unsigned width)
{
	if (!mmio_width_valid(width))
		return MMIO_EINVAL;
	if (w->width != 0 && w->width != width)
		return MMIO_EINVAL;
	if (shim_window_check(w, offset, width) != MMIO_OK)
		return MMIO_EINVAL;
	if (!mmio_width_aligned(window_addr(w, offset), width))
		return MMIO_EINVAL;
	return shim_fault_recovery_install();
}

int shim_read_once(const struct shim_window *w, size_t offset, unsigned width, uint64_t *value)
{
	int status = once_check(w, offset, width);
	const void *dev;

	if (status != MMIO_OK)
		return status;
	dev = (const uint8_t *)w->base + offset;
	switch (width) {
	case 1: {
		uint8_t v;
		status = shim_raw_read8(dev, &v);
		if (status == MMIO_OK)
			*value = v;
		return status;
	}
	case 2: {
		uint16_t v;
		status = shim_raw_read16(dev, &v);
		if (status == MMIO_OK)
			*value = v;
		return status;
	}
	case 4: {
		uint32_t v;
		status = shim_raw_read32(dev, &v);
		if (status == MMIO_OK)
			*value = v;
		return status;
	}
	default:
		return shim_raw_read64(dev, value);
	}
}

int shim_write_once(const struct shim_window *w, size_t offset, unsigned width, uint64_t value)
{
	int status = once_check(w, offset, width);
	void *dev;

	if (status != MMIO_OK)
		return status;
	dev = (uint8_t *)w->base + offset;
	if (width < 8 && value >> (width * 8) != 0)
		return MMIO_EINVAL;
	switch (width) {
	case 1:
		return shim_raw_write8(dev, (uint8_t)value);
	case 2:
		return shim_raw_write16(dev, (uint16_t)value);
	case 4:
		return shim_raw_write32(dev, (uint32_t)value);
	default:
		return shim_raw_write64(dev, value);
	}
}

enum step_kind { STEP_FROM, STEP_TO, STEP_FILL };

/*
 * A copy or fill on a window with a set of widths: runs of accesses of
 * one width, each the widest shim_step_width() allows (so only the head
 * and the tail, a few accesses, go one at a time). The exact count moved.
 */
static size_t stepped(enum step_kind kind, uint8_t *dev, uint8_t *buf, unsigned byte, size_t len,
		      unsigned widths)
{
	unsigned widest = mmio_widths_widest(widths);
	size_t done = 0;

	while (done < len) {
		unsigned w = shim_step_width((uintptr_t)dev + done, len - done, widths);
		size_t run, n;

		if (w == 0)
			break;
		run = w == widest ? (len - done) / w * w : w;
		if (kind == STEP_FROM)
			n = shim_raw_copy_from(buf + done, dev + done, run, w);
		else if (kind == STEP_TO)
			n = shim_raw_copy_to(dev + done, buf + done, run, w);
		else
			n = shim_raw_fill(dev + done, byte, run, w);
		done += n;
		if (n != run)
			break;
	}
	return done;
}

static int bulk_check(const struct shim_window *w, size_t offset, size_t len)
{
	if (shim_window_check(w, offset, len) != MMIO_OK)
		return MMIO_EINVAL;
	if (window_check_pinned(w, offset, len) != MMIO_OK)
		return MMIO_EINVAL;
	return shim_fault_recovery_install();
}

int shim_copy_from_device(const struct shim_window *w, size_t offset, void *buf, size_t len,
			  size_t *done)
{
	int status = bulk_check(w, offset, len);
	size_t n;

	done_set(done, 0);
	if (status != MMIO_OK || len == 0)
		return status;
	if (w->widths)
		n = stepped(STEP_FROM, (uint8_t *)w->base + offset, buf, 0, len, w->widths);
	else
		n = shim_raw_copy_from(buf, (const uint8_t *)w->base + offset, len, w->width);
	done_set(done, n);
	return n == len ? MMIO_OK : MMIO_EFAULT;
}

int shim_copy_to_device(const struct shim_window *w, size_t offset, const void *buf, size_t len,
			size_t *done)
{
	int status = bulk_check(w, offset, len);
	size_t n;

	done_set(done, 0);
	if (status != MMIO_OK || len == 0)
		return status;
	if (w->widths)
		n = stepped(STEP_TO, (uint8_t *)w->base + offset, (uint8_t *)(uintptr_t)buf, 0, len,
			    w->widths);
	else
		n = shim_raw_copy_to((uint8_t *)w->base + offset, buf, len, w->width);
	done_set(done, n);
	return n == len ? MMIO_OK : MMIO_EFAULT;
}

int shim_fill(const struct shim_window *w, size_t offset, size_t len, uint8_t byte, size_t *done)
{
	size_t want, n;
	int status;

	done_set(done, 0);
	if (len == 0)
		return MMIO_OK;
	if (offset >= w->limit)
		return MMIO_EINVAL;
	if (window_check_pinned(w, offset, len) != MMIO_OK)
		return MMIO_EINVAL;
	want = w->limit - offset < len ? w->limit - offset : len;
	/* A pinned window whose limit is not a whole number of accesses. */
	if (w->width != 0)
		want -= want % w->width;
	if (want == 0)
		return MMIO_EINVAL;
	status = shim_fault_recovery_install();
	if (status != MMIO_OK)
		return status;
	if (w->widths)
		n = stepped(STEP_FILL, (uint8_t *)w->base + offset, NULL, byte, want, w->widths);
	else
		n = shim_raw_fill((uint8_t *)w->base + offset, byte, want, w->width);
	done_set(done, n);
	if (n != want)
		return MMIO_EFAULT;
	return want == len ? MMIO_OK : MMIO_EINVAL;
}
