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
	return MMIO_OK;
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
	n = shim_raw_fill((uint8_t *)w->base + offset, byte, want, w->width);
	done_set(done, n);
	if (n != want)
		return MMIO_EFAULT;
	return want == len ? MMIO_OK : MMIO_EINVAL;
}
