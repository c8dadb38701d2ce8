/* SPDX-License-Identifier: MIT */
/*
 * mmio-irq-test: checks of the mmio-window module's interrupts, run as root
 * in the QEMU guest by kernel-shim/guest/scenarios/windows.sh.
 *
 *   mmio-irq-test [--edu BDF] [--spare BDF] [--bound BDF] CHECK...
 *
 * --edu is QEMU's edu function (default 0000:00:04.0): its factorial
 * raises INTx when status bit 0x80 is set; --spare a function without an
 * interrupt pin (pci-testdev, default 0000:00:07.0); --bound one with a
 * kernel driver bound (default 0000:00:08.0).
 *
 * Each assertion prints "ok: ...", "FAIL: ..." or "SKIP: ..." (never
 * counted as passed). The exit status is the number of failures (at most
 * 99). CHECKs: count refusals busy revoke control-close mask pass nonroot
 * msi rebind.
 */
#include <mmio/wincontrol.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

/* edu registers (QEMU docs/specs/edu.rst) */
#define EDU_IDENT	   0x00
#define EDU_FACTORIAL	   0x08
#define EDU_STATUS	   0x20
#define EDU_STATUS_BUSY	   0x01
#define EDU_STATUS_IRQFACT 0x80
#define EDU_IRQ_STATUS	   0x24
#define EDU_IRQ_ACK	   0x64
#define EDU_IRQ_FACT	   0x1
#define EDU_IDENT_VALUE	   0x010000edu
#define IRQ_WAIT_MS	   5000

static int failures;
static struct shim_pci_address edu, spare, bound;

static void __attribute__((format(printf, 2, 0)))
report(const char *tag, const char *fmt, va_list ap)
{
	printf("%s: ", tag);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

static void __attribute__((format(printf, 2, 3))) expect(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cond ? "ok" : "FAIL", fmt, ap);
	va_end(ap);
	if (!cond)
		failures++;
}

static void __attribute__((format(printf, 1, 2))) skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report("SKIP", fmt, ap);
	va_end(ap);
}

/* ---- edu through a window of the module -------------------------------- */

static volatile uint32_t *edu_regs;

static uint32_t edu_read(unsigned off)
{
	return edu_regs[off / 4];
}

static void edu_write(unsigned off, uint32_t v)
{
	edu_regs[off / 4] = v;
}

static bool edu_map(int ctl)
{
	struct shim_window_spec spec = { .pci = edu, .length = PAGE, .writable = true };
	struct shim_window_made w;
	char err[256];
	void *p;

	if (shim_window_create(ctl, &spec, &w, err, sizeof(err)) != MMIO_OK) {
		expect(false, "a read-write window on edu's BAR0: %s", err);
		return false;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, w.fd, 0);
	close(w.fd);
	if (p == MAP_FAILED) {
		expect(false, "map edu's window: %s", strerror(errno));
		return false;
	}
	edu_regs = p;
	return edu_read(EDU_IDENT) == EDU_IDENT_VALUE;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Start n! and wait until edu says it is done; the result, or 0 on timeout. */
static uint32_t edu_factorial(uint32_t n)
{
	uint64_t end = now_ms() + IRQ_WAIT_MS;

	edu_write(EDU_FACTORIAL, n);
	while (edu_read(EDU_STATUS) & EDU_STATUS_BUSY)
		if (now_ms() > end)
			return 0;
	return edu_read(EDU_FACTORIAL);
}

static uint32_t factorial(uint32_t n)
{
	uint32_t f = 1;

	while (n > 1)
		f *= n--;
	return f;
}

/* ---- the module's interrupt ABI ---------------------------------------- */

static int control_open(void)
{
	char err[256];
	int ctl;

	if (shim_window_open_control(&ctl, err, sizeof(err)) != MMIO_OK) {
		expect(false, "open the control device: %s", err);
		return -1;
	}
	return ctl;
}

static void irq_init(struct mmio_window_irq_open *o, const struct shim_pci_address *fn)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->pci_domain = fn->domain;
	o->pci_bus = fn->bus;
	o->pci_slot = fn->device;
	o->pci_function = fn->function;
}

/* IRQ_OPEN as @o is: 0 or the errno. */
static int irq_open_raw(int ctl, struct mmio_window_irq_open *o)
{
	return ioctl(ctl, MMIO_WINDOW_IOC_IRQ_OPEN, o) == 0 ? 0 : errno;
}

/* edu's interrupt on @ctl: its descriptor, or -1 (a failure counted). */
static int irq_open(int ctl, uint64_t *id)
{
	struct shim_irq_made m;
	char err[256];

	if (shim_irq_open(ctl, &edu, &m, err, sizeof(err)) != MMIO_OK) {
		expect(false, "open edu's interrupt: %s", err);
		return -1;
	}
	if (id)
		*id = m.id;
	return m.fd;
}

static struct mmio_window_irq_info irq_info(int fd)
{
	struct mmio_window_irq_info i;
	char err[256];

	if (shim_irq_info(fd, &i, err, sizeof(err)) != MMIO_OK) {
		expect(false, "INFO: %s", err);
		memset(&i, 0, sizeof(i));
	}
	return i;
}

/* poll() for @ms: the revents, 0 on timeout. */
static short irq_poll(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 ? p.revents : 0;
}

/* A non-blocking read: the count, or minus the errno. */
static long long irq_read_now(int fd)
{
	uint64_t n = 0;
	short ev = irq_poll(fd, 0);

	if (!(ev & POLLIN))
		return -EAGAIN;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return -errno;
	return (long long)n;
}

static int irq_unmask(int fd)
{
	return ioctl(fd, MMIO_WINDOW_IRQ_IOC_UNMASK, 0) == 0 ? 0 : errno;
}

/* The number in /proc/interrupts for Linux interrupt @irq (CPU sums). */
static long long proc_interrupts(unsigned irq)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];
	long long sum = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		unsigned long n = strtoul(p, &end, 10);

		if (end == p || *end != ':' || n != irq)
			continue;
		sum = 0;
		for (p = end + 1;;) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += v;
			p = end;
		}
		break;
	}
	fclose(f);
	return sum;
}

/* ---- checks ------------------------------------------------------------ */

/*
 * N factorials with the interrupt bit: each raises exactly one interrupt,
 * the descriptor turns readable for it, and the count is exact.
 */
static void check_count(int ctl)
{
	enum { N = 20 };
	struct mmio_window_irq_info i;
	unsigned readable = 0, ones = 0, acked = 0, right = 0;
	uint64_t id = 0, sum = 0;
	long long before, after;
	int fd = irq_open(ctl, &id);

	if (fd < 0)
		return;
	i = irq_info(fd);
	expect(i.id == id && i.irq != 0 && i.total == 0 && !(i.state & MMIO_WINDOW_IRQ_MASKED),
	       "a new interrupt: id %" PRIu64 ", line %u, %" PRIu64 " counted, unmasked", id, i.irq,
	       (uint64_t)i.total);
	before = proc_interrupts(i.irq);
	expect(irq_read_now(fd) == -EAGAIN, "nothing to read before the first factorial");
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) | EDU_STATUS_IRQFACT);
	for (uint32_t k = 1; k <= N; k++) {
		uint32_t n = k % 12 + 1, got = edu_factorial(n);
		long long c;

		right += got == factorial(n);
		if (irq_poll(fd, IRQ_WAIT_MS) & POLLIN)
			readable++;
		c = irq_read_now(fd);
		ones += c == 1;
		if (c > 0)
			sum += (uint64_t)c;
		acked += (edu_read(EDU_IRQ_STATUS) & EDU_IRQ_FACT) != 0;
		edu_write(EDU_IRQ_ACK, EDU_IRQ_FACT);
		irq_unmask(fd);
	}
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) & ~EDU_STATUS_IRQFACT);
	after = proc_interrupts(i.irq);
	expect(right == N, "%u of %d factorials right", right, N);
	expect(readable == N && ones == N,
	       "the descriptor turned readable for %u of %d factorials, and read 1 for %u",
	       readable, N, ones);
	expect(acked == N, "edu's interrupt status had bit 0x1 at %u of %d interrupts", acked, N);
	i = irq_info(fd);
	expect(sum == N && i.total == N && i.pending == 0 && i.unmasks == N &&
		       !(i.state & MMIO_WINDOW_IRQ_MASKED),
	       "%d factorials, %" PRIu64 " interrupts read, INFO: %" PRIu64 " counted, %" PRIu64
	       " unmasks, %" PRIu64 " pending, unmasked",
	       N, sum, (uint64_t)i.total, (uint64_t)i.unmasks, (uint64_t)i.pending);
	expect(before >= 0 && after - before >= N,
	       "/proc/interrupts line %u went from %lld to %lld (at least %d more)", i.irq, before,
	       after, N);
	usleep(100 * 1000);
	expect(irq_read_now(fd) == -EAGAIN && irq_info(fd).total == N,
	       "no interrupt without a factorial afterwards");
	close(fd);
}

/* Malformed requests and functions without an interrupt to hold. */
static void check_refusals(int ctl)
{
	struct mmio_window_irq_open o;
	struct mmio_window_irq_info info;
	struct shim_pci_address none = { .bus = 0, .device = 31, .function = 7 };
	int err, fd;
	uint64_t n = 0;

	irq_init(&o, &edu);
	o.size = 64;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL && o.fd == -1 && o.refusal == MMIO_WINDOW_BAD_ARGUMENT,
	       "IRQ_OPEN with a wrong size: %s, fd %d, refusal %u", strerror(err), o.fd, o.refusal);
	irq_init(&o, &edu);
	o.flags = 2;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL, "IRQ_OPEN with an unknown flag: %s", strerror(err));
	irq_init(&o, &edu);
	o.pad0 = 1;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL, "IRQ_OPEN with padding set: %s", strerror(err));
	irq_init(&o, &edu);
	o.reserved[3] = 1;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL, "IRQ_OPEN with a reserved field set: %s", strerror(err));
	irq_init(&o, &edu);
	o.pci_slot = 32;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL, "IRQ_OPEN of slot 32: %s", strerror(err));
	irq_init(&o, &edu);
	o.pci_function = 8;
	err = irq_open_raw(ctl, &o);
	expect(err == EINVAL, "IRQ_OPEN of function 8: %s", strerror(err));
	irq_init(&o, &none);
	err = irq_open_raw(ctl, &o);
	expect(err == ENODEV && o.refusal == MMIO_WINDOW_NO_DEVICE,
	       "IRQ_OPEN of a function that does not exist: %s, refusal %u", strerror(err),
	       o.refusal);
	irq_init(&o, &spare);
	err = irq_open_raw(ctl, &o);
	expect(err == ENXIO && o.refusal == MMIO_WINDOW_NO_IRQ && o.fd == -1,
	       "IRQ_OPEN of pci-testdev (no interrupt pin): %s, refusal %u", strerror(err),
	       o.refusal);
	irq_init(&o, &bound);
	err = irq_open_raw(ctl, &o);
	expect(err == EBUSY && o.refusal == MMIO_WINDOW_DRIVER_BOUND,
	       "IRQ_OPEN of a function with uio_pci_generic bound: %s, refusal %u", strerror(err),
	       o.refusal);
	err = ioctl(ctl, MMIO_WINDOW_IOC_IRQ_OPEN, (void *)16) == 0 ? 0 : errno;
	expect(err == EFAULT, "IRQ_OPEN of an unmapped argument: %s", strerror(err));

	fd = irq_open(ctl, NULL);
	if (fd < 0)
		return;
	err = ioctl(fd, MMIO_WINDOW_IRQ_IOC_UNMASK, 1) == 0 ? 0 : errno;
	expect(err == EINVAL, "UNMASK with an argument: %s", strerror(err));
	memset(&info, 0, sizeof(info));
	info.size = 8;
	err = ioctl(fd, MMIO_WINDOW_IRQ_IOC_INFO, &info) == 0 ? 0 : errno;
	expect(err == EINVAL, "INFO with a wrong size: %s", strerror(err));
	err = ioctl(fd, MMIO_WINDOW_IOC_STATS, &info) == 0 ? 0 : errno;
	expect(err == ENOTTY, "a control ioctl on an interrupt descriptor: %s", strerror(err));
	err = read(fd, &n, 4) < 0 ? errno : 0;
	expect(err == EINVAL, "a read of 4 bytes: %s", strerror(err));
	err = write(fd, &n, sizeof(n)) < 0 ? errno : 0;
	expect(err == EINVAL, "a write: %s", strerror(err));
	err = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? errno : 0;
	expect(err == ENODEV, "mmap of an interrupt descriptor: %s", strerror(err));
	close(fd);
}

static int sysfs_write(const char *path, const char *text);

/* Try to bind uio_pci_generic to edu: 0 if it is bound afterwards (and
 * unbound again), else the errno; the override is cleared either way. */
static int edu_bind_try(void)
{
	char bdf[16], path[160];
	int err;

	snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", edu.domain, edu.bus, edu.device,
		 edu.function);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	err = sysfs_write(path, "uio_pci_generic");
	if (!err)
		err = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (!err && access(path, F_OK) != 0)
		err = ENODEV;
	if (!err)
		sysfs_write("/sys/bus/pci/drivers/uio_pci_generic/unbind", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	sysfs_write(path, "\n");
	return err;
}

/*
 * edu's MSI: each factorial is one message, counted once, nothing masked;
 * afterwards INTx works again. A function without MSI is refused.
 */
static void check_msi(int ctl)
{
	enum { N = 10 };
	struct mmio_window_irq_open o;
	struct mmio_window_irq_info i;
	unsigned readable = 0;
	uint64_t sum = 0;
	long long before, after, c;
	int err;

	irq_init(&o, &spare);
	o.flags = MMIO_WINDOW_IRQ_MSI;
	err = irq_open_raw(ctl, &o);
	expect(err == ENXIO && o.refusal == MMIO_WINDOW_NO_IRQ,
	       "MSI of pci-testdev (no MSI capability): %s, refusal %u", strerror(err), o.refusal);
	irq_init(&o, &edu);
	o.flags = MMIO_WINDOW_IRQ_MSI;
	err = irq_open_raw(ctl, &o);
	if (err) {
		expect(false, "open edu's MSI: %s, refusal %u", strerror(err), o.refusal);
		return;
	}
	i = irq_info(o.fd);
	expect((i.state & MMIO_WINDOW_IRQ_IS_MSI) && !(i.state & MMIO_WINDOW_IRQ_MASKED) &&
		       o.irq != 0,
	       "edu's MSI: Linux interrupt %u, state 0x%x", o.irq, i.state);
	before = proc_interrupts(o.irq);
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) | EDU_STATUS_IRQFACT);
	for (uint32_t k = 1; k <= N; k++) {
		edu_factorial(k);
		if (irq_poll(o.fd, IRQ_WAIT_MS) & POLLIN)
			readable++;
		c = irq_read_now(o.fd);
		if (c > 0)
			sum += (uint64_t)c;
		edu_write(EDU_IRQ_ACK, EDU_IRQ_FACT);
	}
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) & ~EDU_STATUS_IRQFACT);
	after = proc_interrupts(o.irq);
	i = irq_info(o.fd);
	expect(readable == N && sum == N && i.total == N,
	       "%d factorials by MSI: readable %u times, %" PRIu64 " read, %" PRIu64 " counted", N,
	       readable, sum, (uint64_t)i.total);
	expect(after - before == N, "/proc/interrupts of the vector: %lld -> %lld", before, after);
	expect(irq_unmask(o.fd) == 0 && !(irq_info(o.fd).state & MMIO_WINDOW_IRQ_MASKED),
	       "UNMASK of an MSI is a no-op");
	err = edu_bind_try();
	expect(err != 0 && !(irq_info(o.fd).state & MMIO_WINDOW_IRQ_REVOKED),
	       "a driver cannot bind while the MSI is held (%s), and it stays held", strerror(err));
	close(o.fd);
	o.fd = irq_open(ctl, NULL);
	if (o.fd < 0)
		return;
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) | EDU_STATUS_IRQFACT);
	edu_factorial(4);
	expect(irq_poll(o.fd, IRQ_WAIT_MS) & POLLIN, "after the MSI, INTx interrupts again");
	edu_write(EDU_IRQ_ACK, EDU_IRQ_FACT);
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) & ~EDU_STATUS_IRQFACT);
	close(o.fd);
}

/* One holder per function, over every control descriptor. */
static void check_busy(int ctl)
{
	struct mmio_window_irq_open o;
	uint64_t id2 = 0;
	int fd = irq_open(ctl, NULL), ctl2, err, fd2;

	if (fd < 0)
		return;
	irq_init(&o, &edu);
	err = irq_open_raw(ctl, &o);
	expect(err == EBUSY && o.refusal == MMIO_WINDOW_IRQ_HELD && o.fd == -1,
	       "a second IRQ_OPEN on the same control: %s, refusal %u", strerror(err), o.refusal);
	ctl2 = control_open();
	if (ctl2 < 0) {
		close(fd);
		return;
	}
	irq_init(&o, &edu);
	err = irq_open_raw(ctl2, &o);
	expect(err == EBUSY && o.refusal == MMIO_WINDOW_IRQ_HELD,
	       "a second IRQ_OPEN on another control: %s, refusal %u", strerror(err), o.refusal);
	close(fd);
	fd2 = irq_open(ctl2, &id2);
	expect(fd2 >= 0 && id2 == 1,
	       "closing the holder's descriptor releases it: the other control opens it (id "
	       "%" PRIu64 ")",
	       id2);
	if (fd2 >= 0)
		close(fd2);
	close(ctl2);
}

struct reader {
	int fd;
	int err; /* of the read */
};

static void *blocked_read(void *arg)
{
	struct reader *r = arg;
	uint64_t n;

	r->err = read(r->fd, &n, sizeof(n)) < 0 ? errno : 0;
	return NULL;
}

/* IRQ_REVOKE wakes a blocked reader with ENODEV; the function is free again. */
static void check_revoke(int ctl)
{
	struct mmio_window_revoke rv = { .size = sizeof(rv) };
	struct reader r = { .err = -1 };
	pthread_t t;
	uint64_t id = 0;
	char err[256] = "";
	short ev;
	int st, fd;

	r.fd = irq_open(ctl, &id);
	if (r.fd < 0)
		return;
	expect(shim_irq_held(ctl, id), "PROBE: an open interrupt is held");
	pthread_create(&t, NULL, blocked_read, &r);
	usleep(200 * 1000);
	st = shim_irq_revoke(ctl, id, err, sizeof(err));
	pthread_join(t, NULL);
	expect(st == MMIO_OK && r.err == ENODEV, "IRQ_REVOKE woke a blocked reader: %s (%s)",
	       strerror(r.err), err);
	ev = irq_poll(r.fd, 0);
	expect((ev & (POLLIN | POLLERR | POLLHUP)) == (POLLIN | POLLERR | POLLHUP),
	       "poll of a revoked interrupt: IN|ERR|HUP (0x%x)", ev);
	expect(irq_unmask(r.fd) == ENODEV, "UNMASK of a revoked interrupt: ENODEV");
	st = shim_irq_unmask(r.fd, err, sizeof(err));
	expect(st == MMIO_EREVOKED, "shim_irq_unmask says revoked: %s", err);
	expect(irq_info(r.fd).state & MMIO_WINDOW_IRQ_REVOKED, "INFO says revoked");
	expect(shim_irq_revoke(ctl, id, err, sizeof(err)) == MMIO_OK, "IRQ_REVOKE is idempotent");
	expect(!shim_irq_held(ctl, id), "PROBE: a revoked interrupt is not held");
	fd = irq_open(ctl, NULL);
	expect(fd >= 0, "the function can be opened again while the revoked descriptor is open");
	if (fd >= 0)
		close(fd);
	close(r.fd);
	expect(shim_irq_revoke(ctl, id, err, sizeof(err)) == MMIO_OK,
	       "IRQ_REVOKE after the descriptor closed succeeds");
	rv.id = id;
	rv.flags = MMIO_WINDOW_IRQ_PROBE;
	expect(ioctl(ctl, MMIO_WINDOW_IOC_IRQ_REVOKE, &rv) != 0 && errno == ESRCH,
	       "PROBE of an interrupt closed everywhere: ESRCH");
	rv.flags = 2;
	expect(ioctl(ctl, MMIO_WINDOW_IOC_IRQ_REVOKE, &rv) != 0 && errno == EINVAL,
	       "IRQ_REVOKE with an unknown flag: EINVAL");
	rv.flags = 0;
	rv.id = 1u << 30;
	expect(ioctl(ctl, MMIO_WINDOW_IOC_IRQ_REVOKE, &rv) != 0 && errno == ENOENT,
	       "IRQ_REVOKE of an id never issued: ENOENT");
	rv.id = 0;
	expect(ioctl(ctl, MMIO_WINDOW_IOC_IRQ_REVOKE, &rv) != 0 && errno == ENOENT,
	       "IRQ_REVOKE of id 0: ENOENT");
	rv.size = 8;
	expect(ioctl(ctl, MMIO_WINDOW_IOC_IRQ_REVOKE, &rv) != 0 && errno == EINVAL,
	       "IRQ_REVOKE with a wrong size: EINVAL");
}

/* Closing the control descriptor revokes its interrupts (a dead server). */
static void check_control_close(int ctl)
{
	int ctl2 = control_open(), fd, fd2, err;
	uint64_t n;

	if (ctl2 < 0)
		return;
	fd = irq_open(ctl2, NULL);
	close(ctl2);
	if (fd < 0)
		return;
	err = read(fd, &n, sizeof(n)) < 0 ? errno : 0;
	expect(err == ENODEV, "closing the control revoked its interrupt: read says %s",
	       strerror(err));
	fd2 = irq_open(ctl, NULL);
	expect(fd2 >= 0, "and the function can be opened on another control");
	if (fd2 >= 0)
		close(fd2);
	close(fd);
}

/*
 * A holder that never acknowledges nor unmasks gets one interrupt, however
 * many factorials run; each UNMASK while edu still asserts counts exactly
 * one more and stays masked (no storm); acknowledged, UNMASK unmasks.
 */
static void check_mask(int ctl)
{
	struct mmio_window_irq_info i;
	int fd = irq_open(ctl, NULL), unmasked = 0;
	long long c;

	if (fd < 0)
		return;
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) | EDU_STATUS_IRQFACT);
	for (uint32_t n = 1; n <= 10; n++)
		edu_factorial(n);
	usleep(200 * 1000);
	i = irq_info(fd);
	expect(i.total == 1 && i.pending == 1 && (i.state & MMIO_WINDOW_IRQ_MASKED),
	       "10 factorials, never acknowledged: %" PRIu64 " interrupt counted, masked",
	       (uint64_t)i.total);
	c = irq_read_now(fd);
	expect(c == 1, "read: %lld", c);
	for (int k = 0; k < 3; k++)
		unmasked += irq_unmask(fd) == 0;
	usleep(100 * 1000);
	i = irq_info(fd);
	expect(unmasked == 3 && i.total == 4 && i.unmasks == 0 &&
		       (i.state & MMIO_WINDOW_IRQ_MASKED),
	       "3 UNMASKs while edu still asserts: %" PRIu64 " interrupts in all (want 4), still "
	       "masked",
	       (uint64_t)i.total);
	expect(edu_read(EDU_IDENT) == EDU_IDENT_VALUE, "the machine still serves edu's ident");
	edu_write(EDU_IRQ_ACK, EDU_IRQ_FACT);
	irq_unmask(fd);
	usleep(100 * 1000);
	i = irq_info(fd);
	expect(i.total == 4 && i.unmasks == 1 && !(i.state & MMIO_WINDOW_IRQ_MASKED),
	       "acknowledged, UNMASK unmasks: %" PRIu64 " interrupts, %" PRIu64 " unmask",
	       (uint64_t)i.total, (uint64_t)i.unmasks);
	edu_factorial(5);
	expect(irq_poll(fd, IRQ_WAIT_MS) & POLLIN, "and the next factorial interrupts again");
	edu_write(EDU_IRQ_ACK, EDU_IRQ_FACT);
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) & ~EDU_STATUS_IRQFACT);
	close(fd);
}

/*
 * The descriptor is the capability: a child as uid 1000, without any
 * privilege, waits on it, acknowledges edu and unmasks.
 */
static void check_pass(int ctl)
{
	struct mmio_window_irq_info info;
	int fd = irq_open(ctl, NULL), st = -1;
	pid_t pid;

	if (fd < 0)
		return;
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) | EDU_STATUS_IRQFACT);
	pid = fork();
	if (pid == 0) {
		uint64_t n = 0;

		alarm(IRQ_WAIT_MS / 1000 + 5); /* a lost interrupt fails, never hangs */
		if (setgid(1000) || setuid(1000))
			_exit(100);
		if (read(fd, &n, sizeof(n)) != sizeof(n) || n != 1)
			_exit(101);
		/* A driver acknowledges the device before it unmasks (the
		 * mapping of edu is inherited). */
		edu_write(EDU_IRQ_ACK, edu_read(EDU_IRQ_STATUS));
		if (ioctl(fd, MMIO_WINDOW_IRQ_IOC_UNMASK, 0) != 0)
			_exit(102);
		_exit(0);
	}
	usleep(100 * 1000);
	edu_factorial(6);
	waitpid(pid, &st, 0);
	info = irq_info(fd);
	expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "uid 1000 read one interrupt from a passed descriptor and unmasked (exit %d, "
	       "signal %d; %" PRIu64 " counted, state 0x%x, edu status 0x%x)",
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	       (uint64_t)info.total, info.state, edu_read(EDU_STATUS));
	expect(info.total == 1 && !(info.state & MMIO_WINDOW_IRQ_MASKED),
	       "its UNMASK took effect after its acknowledgement");
	edu_write(EDU_STATUS, edu_read(EDU_STATUS) & ~EDU_STATUS_IRQFACT);
	close(fd);
}

static void check_nonroot(int ctl)
{
	int st = -1;

	if (fork() == 0) {
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		struct mmio_window_irq_open o;

		if (syscall(SYS_capget, &h, d))
			_exit(101);
		d[0].effective &= ~(1u << CAP_SYS_RAWIO);
		if (syscall(SYS_capset, &h, d))
			_exit(102);
		irq_init(&o, &edu);
		_exit(irq_open_raw(ctl, &o));
	}
	wait(&st);
	expect(WIFEXITED(st) && WEXITSTATUS(st) == EPERM, "IRQ_OPEN without CAP_SYS_RAWIO: %s",
	       WIFEXITED(st) ? strerror(WEXITSTATUS(st)) : "child crashed");
}

static int sysfs_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return errno;
	if (fputs(text, f) < 0)
		err = errno;
	if (fclose(f) != 0 && !err)
		err = errno;
	return err;
}

/* A kernel driver binding to the function revokes its interrupt. */
static void check_rebind(int ctl)
{
	char bdf[16], path[160];
	uint64_t n;
	int fd = irq_open(ctl, NULL), err;

	if (fd < 0)
		return;
	snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", edu.domain, edu.bus, edu.device,
		 edu.function);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	err = sysfs_write(path, "uio_pci_generic");
	if (!err)
		err = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (err || access(path, F_OK) != 0) {
		skip("cannot bind uio_pci_generic to edu (%s): the rebind check", strerror(err));
	} else {
		err = read(fd, &n, sizeof(n)) < 0 ? errno : 0;
		expect(err == ENODEV, "a driver binding to edu revoked its interrupt: read says %s",
		       strerror(err));
		err = sysfs_write("/sys/bus/pci/drivers/uio_pci_generic/unbind", bdf);
		expect(err == 0, "uio_pci_generic unbinds from edu (%s)", strerror(err));
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	sysfs_write(path, "\n");
	close(fd);
	fd = irq_open(ctl, NULL);
	expect(fd >= 0, "edu's interrupt opens again after the driver left");
	if (fd >= 0)
		close(fd);
}

static bool bdf_parse(const char *s, struct shim_pci_address *a)
{
	unsigned d, b, s_, f;
	char end;

	if (sscanf(s, "%x:%x:%x.%x%c", &d, &b, &s_, &f, &end) != 4 || d > 0xffff || b > 0xff ||
	    s_ > 31 || f > 7)
		return false;
	*a = (struct shim_pci_address){ .domain = (uint16_t)d,
					.bus = (uint8_t)b,
					.device = (uint8_t)s_,
					.function = (uint8_t)f };
	return true;
}

static const struct {
	const char *name;
	void (*run)(int ctl);
} checks[] = {
	{ "count", check_count },
	{ "refusals", check_refusals },
	{ "busy", check_busy },
	{ "revoke", check_revoke },
	{ "control-close", check_control_close },
	{ "mask", check_mask },
	{ "pass", check_pass },
	{ "nonroot", check_nonroot },
	{ "rebind", check_rebind },
	{ "msi", check_msi },
};

int main(int argc, char **argv)
{
	int i = 1, ctl;

	bdf_parse("0000:00:04.0", &edu);
	bdf_parse("0000:00:07.0", &spare);
	bdf_parse("0000:00:08.0", &bound);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		bool good = (strcmp(argv[i], "--edu") == 0 && bdf_parse(argv[i + 1], &edu)) ||
			    (strcmp(argv[i], "--spare") == 0 && bdf_parse(argv[i + 1], &spare)) ||
			    (strcmp(argv[i], "--bound") == 0 && bdf_parse(argv[i + 1], &bound));
		if (!good) {
			fprintf(stderr, "mmio-irq-test: bad option %s %s\n", argv[i], argv[i + 1]);
			return 99;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: mmio-irq-test [--edu BDF] [--spare BDF] [--bound BDF] "
				"CHECK...\n");
		return 99;
	}
	ctl = control_open();
	if (ctl < 0 || !edu_map(ctl)) {
		expect(false, "edu reachable through a window: nothing else can run");
		return 99;
	}
	for (; i < argc; i++) {
		size_t k = 0;

		while (k < sizeof(checks) / sizeof(checks[0]) && strcmp(argv[i], checks[k].name))
			k++;
		if (k == sizeof(checks) / sizeof(checks[0])) {
			fprintf(stderr, "mmio-irq-test: no check called '%s'\n", argv[i]);
			return 99;
		}
		checks[k].run(ctl);
	}
	close(ctl);
	return failures < 99 ? failures : 99;
}
