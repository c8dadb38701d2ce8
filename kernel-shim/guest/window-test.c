/* SPDX-License-Identifier: MIT */
/*
 * mmio-window-test: checks of the mmio-window kernel module, run as root in
 * the QEMU guest by kernel-shim/guest/scenarios/windows.sh.
 *
 *   mmio-window-test [--edu BDF] [--spare BDF] [--bound BDF] CHECK...
 *
 * --edu is the edu function the server also uses (default 0000:00:04.0),
 * --spare one nobody maps (default 0000:00:07.0: cache-type checks need a
 * range without the server's reservation on it), --bound one with a kernel
 * driver bound (the driver-bound refusal is skipped without it).
 *
 * Each assertion prints "ok: ...", "FAIL: ..." or, when it cannot run here,
 * "SKIP: ..." (never counted as passed). The exit status is the number of
 * failures (at most 99). CHECKs: ident bounds private readonly revoke
 * revoke-closed control-close refusals attack race fuzz cache nonroot rmmod
 * rebind remove helper lockdown.
 */
#include <mmio/wincontrol.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE	  4096u
#define EDU_IDENT 0x010000edu

static int failures;
static struct shim_pci_address edu, spare, bound;
static bool have_bound;

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

/* ---- faults --------------------------------------------------------- */

static _Thread_local sigjmp_buf fault_env;
static _Thread_local volatile sig_atomic_t probing;

/* Installed once for the whole process (threads probe concurrently):
 * a fault inside read32_probe() returns there, any other is fatal. */
static void on_fault(int sig)
{
	if (!probing) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	siglongjmp(fault_env, sig);
}

static void fault_handlers_install(void)
{
	struct sigaction sa = { .sa_handler = on_fault };

	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* Read *@p; 0 and *@val on success, else the signal the access raised. */
static int read32_probe(const void *p, uint32_t *val)
{
	volatile const uint32_t *r = p;
	int sig;

	probing = 1;
	sig = sigsetjmp(fault_env, 1);
	if (sig == 0)
		*val = *r;
	probing = 0;
	return sig;
}

/* Expect edu's ident at @p (MAP_FAILED: the mapping failed). */
static void expect_ident(const void *p, const char *what)
{
	uint32_t v = 0;
	int sig = p == MAP_FAILED ? -1 : read32_probe(p, &v);

	expect(sig == 0 && v == EDU_IDENT, "%s: 0x%08x (want 0x%08x; %s)", what, v, EDU_IDENT,
	       sig < 0 ? "not mapped"
	       : sig   ? strsignal(sig)
		       : "no fault");
}

/* Expect the next read of @p to raise SIGBUS. */
static void expect_sigbus(const void *p, const char *what)
{
	uint32_t v = 0;
	int sig = read32_probe(p, &v);

	expect(sig == SIGBUS, "%s (%s)", what, sig ? strsignal(sig) : "read without a fault");
}

/* ---- the module ------------------------------------------------------ */

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

static void create_init(struct mmio_window_create *c, const struct shim_pci_address *fn,
			uint64_t offset, uint64_t length, unsigned cache, bool rw)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = (fn ? MMIO_WINDOW_PCI : MMIO_WINDOW_PHYS) | (rw ? MMIO_WINDOW_RW : 0);
	c->cache = cache;
	if (fn) {
		c->pci_domain = fn->domain;
		c->pci_bus = fn->bus;
		c->pci_slot = fn->device;
		c->pci_function = fn->function;
	}
	c->offset = offset;
	c->length = length;
}

/* CREATE with @c as it is: 0 or the errno. */
static int create_raw(int ctl, struct mmio_window_create *c)
{
	return ioctl(ctl, MMIO_WINDOW_IOC_CREATE, c) == 0 ? 0 : errno;
}

/* A window of BAR0 of @fn (NULL: physical range at @offset); its fd or -1. */
static int window(int ctl, const struct shim_pci_address *fn, uint64_t offset, uint64_t length,
		  unsigned cache, bool rw, uint64_t *id)
{
	struct mmio_window_create c;
	int err;

	create_init(&c, fn, offset, length, cache, rw);
	err = create_raw(ctl, &c);
	if (err) {
		expect(false, "create a window at 0x%" PRIx64 " +0x%" PRIx64 ": %s (refusal %u)",
		       offset, length, strerror(err), c.refusal);
		return -1;
	}
	if (id)
		*id = c.id;
	return c.fd;
}

static int window_revoke(int ctl, uint64_t id)
{
	struct mmio_window_revoke r = { .size = sizeof(r), .id = id };

	return ioctl(ctl, MMIO_WINDOW_IOC_REVOKE, &r) == 0 ? 0 : errno;
}

static struct mmio_window_stats stats(int ctl, uint64_t id)
{
	struct mmio_window_stats s = { .size = sizeof(s), .id = id };

	if (ioctl(ctl, MMIO_WINDOW_IOC_STATS, &s) != 0)
		s.version = 0;
	return s;
}

static void *map(int fd, size_t len, int prot, uint64_t pgoff)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)(pgoff * PAGE));
}

static uint64_t bar_size(const struct shim_pci_address *fn, unsigned bar)
{
	char path[128];
	unsigned long long start = 0, end = 0, flags;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%04x:%02x:%02x.%x/resource", fn->domain,
		 fn->bus, fn->device, fn->function);
	f = fopen(path, "r");
	for (unsigned i = 0; f && i <= bar; i++)
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			start = end = 0;
	if (f)
		fclose(f);
	return end > start ? end - start + 1 : 0;
}

static uint64_t bar_phys(const struct shim_pci_address *fn)
{
	char path[128];
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%04x:%02x:%02x.%x/resource", fn->domain,
		 fn->bus, fn->device, fn->function);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llx", &start) != 1)
			start = 0;
		fclose(f);
	}
	return start;
}

/* ---- checks ------------------------------------------------------------ */

/* Nothing may pin a window's pages: the paths that go through
 * get_user_pages() must fail on its mapping. */
static void expect_unpinnable(void *p)
{
	char buf[4], path[64];
	struct iovec local = { buf, sizeof(buf) }, remote = { p, sizeof(buf) };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	int fd;

	expect(n < 0, "process_vm_readv of a window's mapping fails: %s",
	       n < 0 ? strerror(errno) : "read!");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)getpid());
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -2 : pread(fd, buf, sizeof(buf), (off_t)(uintptr_t)p);
	expect(n == -1, "reading a window's mapping through /proc/PID/mem fails: %s",
	       n == -1	 ? strerror(errno)
	       : n == -2 ? "cannot open it"
			 : "read!");
	if (fd >= 0)
		close(fd);
}

static void check_ident(int ctl)
{
	struct mmio_window_stats s;
	uint64_t id = 0;
	uint32_t live = 0;
	volatile uint32_t *p;
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, &id);

	if (fd < 0)
		return;
	p = map(fd, PAGE, PROT_READ | PROT_WRITE, 0);
	expect(p != MAP_FAILED, "mmap one page of edu BAR0 through a window (%s)",
	       p == MAP_FAILED ? strerror(errno) : "mapped");
	if (p != MAP_FAILED) {
		expect_ident((const void *)p, "edu ident through the window");
		p[1] = 0x12345678u; /* edu's liveness register answers with the inverse */
		live = p[1];
		expect(live == ~0x12345678u, "edu liveness through a rw window: 0x%08x", live);
		expect_unpinnable((void *)p);
		s = stats(ctl, id);
		expect(s.version == MMIO_WINDOW_ABI_VERSION && s.maps == 1 && s.mapped == 1 &&
			       s.faults >= 1 && s.live == 1 && s.revoked == 0,
		       "STATS of the window: version %u maps %llu mapped %llu faults %llu",
		       s.version, (unsigned long long)s.maps, (unsigned long long)s.mapped,
		       (unsigned long long)s.faults);
		munmap((void *)p, PAGE);
		expect(stats(ctl, id).mapped == 0, "STATS: no mapping after munmap");
	}
	close(fd);
}

static void check_bounds(int ctl)
{
	uint64_t bar = bar_size(&edu, 0);
	struct mmio_window_create c;
	void *p, *q;
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, false, NULL);
	int err;

	if (fd < 0)
		return;
	p = map(fd, 2 * PAGE, PROT_READ, 0);
	expect(p == MAP_FAILED && errno == EINVAL, "mmap of 2 pages of a 1-page window: %s",
	       p == MAP_FAILED ? strerror(errno) : "mapped!");
	p = map(fd, PAGE, PROT_READ, 1);
	expect(p == MAP_FAILED && errno == EINVAL, "mmap at page 1 of a 1-page window: %s",
	       p == MAP_FAILED ? strerror(errno) : "mapped!");
	p = map(fd, PAGE, PROT_READ, 0);
	if (p != MAP_FAILED) {
		q = mremap(p, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
		expect(q == MAP_FAILED, "mremap cannot grow a window's mapping: %s",
		       q == MAP_FAILED ? strerror(errno) : "grown!");
		munmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? PAGE : 2 * PAGE);
	} else {
		expect(false, "mmap of the window: %s", strerror(errno));
	}
	close(fd);
	if (bar < 2 * PAGE) {
		skip("edu BAR0 size unknown: past-the-BAR checks");
		return;
	}
	create_init(&c, &edu, bar - PAGE, 2 * PAGE, MMIO_WINDOW_CACHE_UC, false);
	err = create_raw(ctl, &c);
	expect(err == ERANGE && c.refusal == MMIO_WINDOW_OUT_OF_BAR,
	       "a window ending one page past the BAR is refused: %s", strerror(err));
	create_init(&c, &edu, bar, PAGE, MMIO_WINDOW_CACHE_UC, false);
	err = create_raw(ctl, &c);
	expect(err == ERANGE, "a window starting at the BAR's end is refused: %s", strerror(err));
}

static void check_private(int ctl)
{
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, NULL);
	void *p;

	if (fd < 0)
		return;
	p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	expect(p == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE of a window is refused: %s",
	       p == MAP_FAILED ? strerror(errno) : "mapped!");
	close(fd);
}

static void check_readonly(int ctl)
{
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, false, NULL);
	char path[64];
	int err;
	void *p;
	int again;

	if (fd < 0)
		return;
	p = map(fd, PAGE, PROT_READ | PROT_WRITE, 0);
	expect(p == MAP_FAILED && errno == EACCES, "PROT_WRITE on a read-only window: %s",
	       p == MAP_FAILED ? strerror(errno) : "mapped!");
	p = map(fd, PAGE, PROT_READ, 0);
	expect(p != MAP_FAILED, "PROT_READ on a read-only window maps");
	if (p != MAP_FAILED) {
		expect_ident(p, "a read-only window reads edu ident");
		err = mprotect(p, PAGE, PROT_READ | PROT_WRITE) ? errno : 0;
		expect(err == EACCES, "mprotect(PROT_WRITE) of a read-only window: %s",
		       strerror(err));
		munmap(p, PAGE);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	again = open(path, O_RDWR);
	expect(again < 0, "reopening the window read-write through /proc fails: %s",
	       again < 0 ? strerror(errno) : "opened!");
	if (again >= 0)
		close(again);
	close(fd);
}

/* Child of check_revoke: read, say so, wait for the revoke, read again. */
static int revoke_child(const void *p, int ready, int go)
{
	uint32_t v = 0;
	char b = 0;

	if (read32_probe(p, &v) != 0 || v != EDU_IDENT)
		return 2;
	if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1)
		return 3;
	return read32_probe(p, &v) == SIGBUS ? 0 : 1;
}

static void check_revoke_fork(int ctl, const void *p, uint64_t id)
{
	int up[2], down[2], st = -1;
	char b;
	pid_t pid;

	if (pipe(up) || pipe(down)) {
		expect(false, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0)
		_exit(revoke_child(p, up[1], down[0]));
	expect(read(up[0], &b, 1) == 1, "a forked child reads edu ident through the window");
	expect(stats(ctl, id).mapped == 2, "STATS: 2 mappings (parent and child)");
	expect(window_revoke(ctl, id) == 0, "REVOKE the window");
	expect_sigbus(p, "after REVOKE the next access raises SIGBUS");
	if (write(down[1], "g", 1) != 1)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "after REVOKE the forked child's access raises SIGBUS too (child status %d)", st);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static void check_revoke(int ctl)
{
	struct mmio_window_stats s;
	uint64_t id = 0;
	uint32_t v = 0;
	void *p, *q;
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, &id);

	if (fd < 0)
		return;
	p = map(fd, PAGE, PROT_READ | PROT_WRITE, 0);
	if (p == MAP_FAILED || read32_probe(p, &v) != 0) {
		expect(false, "map and read the window before revoking it");
		close(fd);
		return;
	}
	check_revoke_fork(ctl, p, id);
	expect_sigbus(p, "and every access after it");
	expect(window_revoke(ctl, id) == 0, "REVOKE again succeeds (idempotent)");
	s = stats(ctl, id);
	expect(s.revoked == 1 && s.live == 0 && s.sigbus >= 3,
	       "STATS: revoked %llu, live %llu, %llu SIGBUS answers", (unsigned long long)s.revoked,
	       (unsigned long long)s.live, (unsigned long long)s.sigbus);
	q = map(fd, PAGE, PROT_READ, 0);
	expect(q == MAP_FAILED && errno == ENODEV, "mmap of a revoked window fails: %s",
	       q == MAP_FAILED ? strerror(errno) : "mapped!");
	munmap(p, PAGE);
	close(fd);
}

static void check_revoke_closed(int ctl)
{
	uint64_t id = 0, gone = 0;
	uint32_t v = 0;
	void *p;
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, &id);

	if (fd < 0)
		return;
	p = map(fd, PAGE, PROT_READ, 0);
	close(fd); /* the server hands the descriptor out and closes its copy */
	if (p == MAP_FAILED || read32_probe(p, &v) != 0 || v != EDU_IDENT) {
		expect(false, "a mapping outlives the closed window descriptor");
		return;
	}
	expect(window_revoke(ctl, id) == 0, "REVOKE by id after the descriptor was closed");
	expect_sigbus(p, "the mapping then raises SIGBUS");
	munmap(p, PAGE);
	expect(window_revoke(ctl, id) == 0, "REVOKE once it is closed everywhere succeeds");
	fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, &gone);
	if (fd >= 0)
		close(fd);
	expect(window_revoke(ctl, gone) == 0,
	       "REVOKE of a window closed before any revoke succeeds");
	expect(window_revoke(ctl, gone + 1000) == ENOENT, "REVOKE of an id never issued: ENOENT");
	expect(window_revoke(ctl, 0) == ENOENT, "REVOKE of id 0: ENOENT");
	expect(stats(ctl, gone).version == 0 && errno == ENOENT,
	       "STATS of a window closed everywhere: ENOENT");
}

static void check_control_close(void)
{
	int ctl = control_open(), fd;
	void *p;

	if (ctl < 0)
		return;
	fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, NULL);
	p = fd < 0 ? MAP_FAILED : map(fd, PAGE, PROT_READ, 0);
	/* Read first, so that a page is in place for the close to remove. */
	expect_ident(p, "a window of a second control descriptor reads edu ident");
	close(ctl);
	if (p != MAP_FAILED) {
		expect_sigbus(p, "closing the control descriptor revoked its window");
		munmap(p, PAGE);
	}
	if (fd >= 0)
		close(fd);
}

/* The helper's view: its sentences, and the sums over the descriptor. */
static void check_helper(int ctl)
{
	struct mmio_window_stats s;
	char err[256] = "";
	int st = shim_window_revoke(ctl, 1u << 30, err, sizeof(err));

	expect(st == MMIO_ENOENT && strstr(err, "never made it"),
	       "shim_window_revoke of an unknown id: %s", err);
	st = shim_window_stats(ctl, 0, &s, err, sizeof(err));
	expect(st == MMIO_OK && s.version == MMIO_WINDOW_ABI_VERSION && s.windows >= s.revoked &&
		       s.windows > 0 && s.maps > 0 && s.faults > 0,
	       "shim_window_stats sums: %llu windows, %llu live, %llu revoked, %llu faults, "
	       "%llu SIGBUS, %llu maps, %llu mapped",
	       (unsigned long long)s.windows, (unsigned long long)s.live,
	       (unsigned long long)s.revoked, (unsigned long long)s.faults,
	       (unsigned long long)s.sigbus, (unsigned long long)s.maps,
	       (unsigned long long)s.mapped);
}

/* The start of the first /proc/iomem line (any depth) whose name contains
 * @name and that covers a whole page from a page boundary; 0 if none. */
static uint64_t iomem_find(const char *name)
{
	unsigned long long start, end;
	char line[256];
	uint64_t found = 0;
	FILE *f = fopen("/proc/iomem", "r");

	while (f && !found && fgets(line, sizeof(line), f))
		if (strstr(line, name) && sscanf(line, " %llx-%llx", &start, &end) == 2 &&
		    start % PAGE == 0 && start != 0)
			found = start;
	if (f)
		fclose(f);
	return found;
}

static void refused(int ctl, struct mmio_window_create *c, int want, unsigned why, const char *what)
{
	int err = create_raw(ctl, c);

	expect(err == want && c->refusal == why && c->fd == -1, "%s: %s (refusal %u)", what,
	       strerror(err), c->refusal);
	if (err == 0)
		close(c->fd);
}

static void check_refusals(int ctl)
{
	struct mmio_window_create c;
	uint64_t ram = iomem_find("System RAM"), apic = iomem_find("IOAPIC");

	create_init(&c, NULL, ram, PAGE, MMIO_WINDOW_CACHE_UC, false);
	if (ram)
		refused(ctl, &c, EADDRNOTAVAIL, MMIO_WINDOW_RAM, "a window on System RAM");
	else
		skip("no page-aligned System RAM in /proc/iomem");
	create_init(&c, NULL, apic, PAGE, MMIO_WINDOW_CACHE_UC, false);
	if (apic)
		refused(ctl, &c, EADDRINUSE, MMIO_WINDOW_CLAIMED,
			"a window on the IOAPIC (claimed by the kernel)");
	else
		skip("no IOAPIC in /proc/iomem: the claimed-range refusal");
	create_init(&c, &bound, 0, PAGE, MMIO_WINDOW_CACHE_UC, false);
	if (have_bound)
		refused(ctl, &c, EBUSY, MMIO_WINDOW_DRIVER_BOUND,
			"a window on a function with a driver bound");
	else
		skip("no --bound function: the driver-bound refusal");
	create_init(&c, NULL, bar_phys(&edu), PAGE, MMIO_WINDOW_CACHE_UC, false);
	if (create_raw(ctl, &c) == 0) {
		void *p = map(c.fd, PAGE, PROT_READ, 0);

		expect_ident(p, "a physical-range window on edu BAR0 reads its ident");
		if (p != MAP_FAILED)
			munmap(p, PAGE);
		close(c.fd);
	} else {
		expect(false, "a physical-range window on edu BAR0: %s", strerror(errno));
	}
}

/* One malformed CREATE: @mutate spoils a valid request. */
#define BAD_CREATE(want, desc, mutate)                                                             \
	do {                                                                                       \
		create_init(&c, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, false);                       \
		mutate;                                                                            \
		err = create_raw(ctl, &c);                                                         \
		expect(err == (want), "CREATE with %s: %s", desc, strerror(err));                  \
		if (err == 0)                                                                      \
			close(c.fd);                                                               \
	} while (0)

static void check_attack_create(int ctl)
{
	struct mmio_window_create c;
	int err;

	BAD_CREATE(EINVAL, "size 0", c.size = 0);
	BAD_CREATE(EINVAL, "size 200", c.size = 200);
	BAD_CREATE(EINVAL, "no kind", c.flags = 0);
	BAD_CREATE(EINVAL, "both kinds", c.flags |= MMIO_WINDOW_PHYS);
	BAD_CREATE(EINVAL, "an unknown flag", c.flags |= 1u << 3);
	BAD_CREATE(EINVAL, "cache 5", c.cache = MMIO_WINDOW_CACHE_COUNT);
	BAD_CREATE(EINVAL, "cache ~0", c.cache = ~0u);
	BAD_CREATE(EINVAL, "length 0", c.length = 0);
	BAD_CREATE(EINVAL, "length 100", c.length = 100);
	BAD_CREATE(EINVAL, "offset 100", c.offset = 100);
	BAD_CREATE(EINVAL, "offset + length overflowing", c.offset = ~(uint64_t)(PAGE - 1));
	BAD_CREATE(EINVAL, "pad0 set", c.pad0 = 1);
	BAD_CREATE(EINVAL, "a reserved word set", c.reserved[3] = 1);
	BAD_CREATE(EINVAL, "slot 32", c.pci_slot = 32);
	BAD_CREATE(EINVAL, "function 8", c.pci_function = 8);
	BAD_CREATE(EINVAL, "BAR 6", c.pci_bar = 6);
	BAD_CREATE(EINVAL, "PCI fields on a physical range", c.flags = MMIO_WINDOW_PHYS);
	BAD_CREATE(EFBIG, "2 GiB, past the 1 GiB limit", c.length = 2 * MMIO_WINDOW_MAX_LENGTH);
	BAD_CREATE(ENODEV, "a function that does not exist", c.pci_slot = 0x1f);
	BAD_CREATE(ENODEV, "a BAR edu does not have", c.pci_bar = 1);
	BAD_CREATE(ERANGE, "a physical range past the CPU's address width",
		   (c.flags = MMIO_WINDOW_PHYS, c.pci_bus = c.pci_slot = c.pci_function = 0,
		    c.offset = 1ull << 56));
	err = ioctl(ctl, MMIO_WINDOW_IOC_CREATE, NULL) ? errno : 0;
	expect(err == EFAULT, "CREATE with a NULL argument: %s", strerror(err));
}

static void check_attack(int ctl)
{
	struct mmio_window_revoke r = { .size = sizeof(r), .flags = 1, .id = 1 };
	struct mmio_window_stats s = { .size = 8 };
	char b;
	int err, fd;

	check_attack_create(ctl);
	err = ioctl(ctl, _IO(MMIO_WINDOW_IOC_MAGIC, 99), 0) ? errno : 0;
	expect(err == ENOTTY, "an unknown ioctl: %s", strerror(err));
	err = ioctl(ctl, MMIO_WINDOW_IOC_REVOKE, &r) ? errno : 0;
	expect(err == EINVAL, "REVOKE with flags set: %s", strerror(err));
	err = ioctl(ctl, MMIO_WINDOW_IOC_STATS, &s) ? errno : 0;
	expect(err == EINVAL, "STATS with size 8: %s", strerror(err));
	fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, NULL);
	if (fd < 0)
		return;
	err = ioctl(fd, MMIO_WINDOW_IOC_CREATE, &s) ? errno : 0;
	expect(err == ENOTTY, "a control ioctl on a window descriptor: %s", strerror(err));
	err = read(fd, &b, 1) < 0 ? errno : 0;
	expect(err != 0, "read(2) of a window descriptor fails: %s", strerror(err));
	close(fd);
}

/* ---- revoke racing faults, and random requests ------------------------- */

#define RACE_PAGES   64
#define RACE_THREADS 3

struct race {
	int fd;			  /* the window: each round maps it afresh */
	const char *map;	  /* RACE_PAGES pages of it, mapped once */
	atomic_bool revoked;	  /* set once REVOKE has returned */
	atomic_int late_reads;	  /* reads that began after it and succeeded */
	atomic_int reads, faults; /* all reads; those that raised SIGBUS */
	atomic_int seed;
};

/* One round: every page of @m, from a start of its own; @m is a fresh
 * mapping (each first touch a fault racing the revoke) or the shared one. */
static void race_round(struct race *r, const char *m, unsigned seed)
{
	uint32_t v;

	for (unsigned i = 0; i < RACE_PAGES; i++) {
		unsigned pg = (i * 7 + seed) % RACE_PAGES;
		bool after = atomic_load(&r->revoked);
		int sig = read32_probe(m + (size_t)pg * PAGE, &v);

		atomic_fetch_add(&r->reads, 1);
		if (sig)
			atomic_fetch_add(&r->faults, 1);
		else if (after)
			atomic_fetch_add(&r->late_reads, 1);
		if (i % 16 == 0)
			sched_yield();
	}
}

/* Map, touch, unmap, until two rounds after the revoke (then the mmap fails
 * and the shared mapping is read instead). */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	unsigned seed = (unsigned)atomic_fetch_add(&r->seed, 17), after = 0;

	for (unsigned round = 0; round < 10000 && after < 2; round++) {
		void *m = map(r->fd, RACE_PAGES * PAGE, PROT_READ, 0);

		after += atomic_load(&r->revoked);
		race_round(r, m == MAP_FAILED ? r->map : m, seed + round);
		race_round(r, r->map, seed + round * 3);
		if (m != MAP_FAILED)
			munmap(m, RACE_PAGES * PAGE);
	}
	return NULL;
}

static void race_expect_all_gone(const char *map)
{
	uint32_t v;

	for (unsigned i = 0; i < RACE_PAGES; i++)
		if (read32_probe(map + (size_t)i * PAGE, &v) != SIGBUS) {
			expect(false, "page %u of the revoked window still reads", i);
			return;
		}
	expect(true, "all %u pages of the revoked window raise SIGBUS", RACE_PAGES);
}

/* Revoke while threads are faulting pages in: a page inserted by a fault
 * that raced the revoke must be gone too, so no read that starts after
 * REVOKE returned may succeed, on any page. */
static void check_race(int ctl)
{
	struct race r = { 0 };
	pthread_t t[RACE_THREADS];
	uint64_t id = 0;
	int before;

	r.fd = window(ctl, &edu, 0, RACE_PAGES * PAGE, MMIO_WINDOW_CACHE_UC, false, &id);
	if (r.fd < 0)
		return;
	r.map = map(r.fd, RACE_PAGES * PAGE, PROT_READ, 0);
	if (r.map == MAP_FAILED) {
		expect(false, "map %u pages of edu BAR0: %s", RACE_PAGES, strerror(errno));
		close(r.fd);
		return;
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&t[i], NULL, race_reader, &r);
	while (atomic_load(&r.reads) < 6 * RACE_PAGES)
		usleep(200);
	expect(window_revoke(ctl, id) == 0, "REVOKE while %d threads fault pages in", RACE_THREADS);
	atomic_store(&r.revoked, true);
	before = atomic_load(&r.reads);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	expect(atomic_load(&r.late_reads) == 0 && atomic_load(&r.faults) > 0,
	       "no read after REVOKE succeeded (%d late; %d reads before it, %d after, %d "
	       "SIGBUS; %llu pages faulted in)",
	       atomic_load(&r.late_reads), before, atomic_load(&r.reads) - before,
	       atomic_load(&r.faults), (unsigned long long)stats(ctl, id).faults);
	race_expect_all_gone(r.map);
	munmap((void *)r.map, RACE_PAGES * PAGE);
	close(r.fd);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random CREATE, mostly near-valid so that it gets past the size check. */
static void fuzz_fill(struct mmio_window_create *c, uint64_t *rng)
{
	uint64_t x = rng_next(rng);
	unsigned char *b = (unsigned char *)c;

	for (size_t i = 0; i < sizeof(*c); i++)
		b[i] = (unsigned char)rng_next(rng);
	if (x & 1)
		create_init(c, (x & 2) ? &edu : NULL, (rng_next(rng) % 512) * PAGE,
			    (rng_next(rng) % 4 + 1) * PAGE, (unsigned)(x >> 8) % 6, x & 4);
	if ((x & 1) && !(x & 2))
		c->offset = (rng_next(rng) & 0xffffffffff000ull) >> ((x >> 16) % 40);
	if (x & 8)
		c->size = sizeof(*c);
	if (x & 16)
		c->offset &= ~(uint64_t)(PAGE - 1);
}

static bool errno_documented(int err)
{
	static const int known[] = {
		EINVAL,	       EFBIG,	   ENODEV,     EACCES, ERANGE, EBUSY,
		EADDRNOTAVAIL, EADDRINUSE, EOPNOTSUPP, ENOSPC, ENOMEM, EMFILE
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (err == known[i])
			return true;
	return false;
}

/* Thousands of random requests: the kernel survives, every failure has a
 * documented errno, and nothing is handed out on failure. */
static void check_fuzz(int ctl)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	unsigned made = 0, refused_n = 0, odd = 0, leaked = 0;
	struct mmio_window_create c;

	for (int i = 0; i < 3000; i++) {
		fuzz_fill(&c, &rng);
		if (create_raw(ctl, &c) == 0) {
			made++;
			close(c.fd);
			continue;
		}
		refused_n++;
		odd += !errno_documented(errno);
		leaked += c.fd != -1;
		if (i % 4 == 0)
			(void)window_revoke(ctl, rng_next(&rng) % 4096);
	}
	expect(odd == 0 && leaked == 0,
	       "3000 random CREATEs: %u made, %u refused, %u with an undocumented errno, %u "
	       "with a descriptor on failure",
	       made, refused_n, odd, leaked);
}

/* The type pat_memtype_list gives [@phys, @phys + @len), or "" if none. */
static const char *pat_type(uint64_t phys, uint64_t len, char *buf, size_t buflen)
{
	unsigned long long start, end;
	char line[256], type[64];
	FILE *f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");

	buf[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &start, &end, type) == 3 &&
		    start == phys && end == phys + len)
			snprintf(buf, buflen, "%s", type);
	if (f)
		fclose(f);
	return buf;
}

/* Through the helper: the sentence must name both types. */
static void cache_mismatch(int ctl, unsigned want, const char *got)
{
	struct shim_window_spec spec = { .pci = spare, .length = PAGE, .cache = want };
	struct shim_window_made made;
	char err[256] = "";
	int st = shim_window_create(ctl, &spec, &made, err, sizeof(err));

	expect(st == MMIO_EINVAL && strstr(err, shim_window_cache_name(want)) && strstr(err, got),
	       "%s where the kernel gives %s is refused, naming both: %s",
	       shim_window_cache_name(want), got, err);
	if (st == MMIO_OK)
		close(made.fd);
}

static void pat_listed(int ctl, unsigned cache, const char *name, uint64_t phys)
{
	char t[64];
	uint64_t id = 0;
	int fd = window(ctl, &spare, 0, PAGE, cache, true, &id);

	if (fd < 0)
		return;
	expect(strcmp(pat_type(phys, PAGE, t, sizeof(t)), name) == 0,
	       "a %s window is listed in pat_memtype_list as '%s'", shim_window_cache_name(cache),
	       t);
	if (cache == MMIO_WINDOW_CACHE_WC)
		cache_mismatch(ctl, MMIO_WINDOW_CACHE_UC, "wc");
	window_revoke(ctl, id);
	expect(pat_type(phys, PAGE, t, sizeof(t))[0] == '\0',
	       "its reservation is gone once it is revoked ('%s')", t);
	close(fd);
}

static void check_cache(int ctl)
{
	uint64_t phys = bar_phys(&spare);
	char t[64];
	int uc;

	if (!phys || access("/sys/kernel/debug/x86/pat_memtype_list", R_OK) != 0) {
		skip("no spare edu or no debugfs: the cache-type checks");
		return;
	}
	if (pat_type(phys, PAGE, t, sizeof(t))[0] != '\0') {
		expect(false, "the spare function is already reserved as %s", t);
		return;
	}
	cache_mismatch(ctl, MMIO_WINDOW_CACHE_WB, "uc");
	uc = window(ctl, &spare, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, NULL);
	if (uc >= 0) {
		cache_mismatch(ctl, MMIO_WINDOW_CACHE_WC, "uc");
		close(uc);
	}
	pat_listed(ctl, MMIO_WINDOW_CACHE_WC, "write-combining", phys);
	pat_listed(ctl, MMIO_WINDOW_CACHE_WT, "write-through", phys);
	pat_listed(ctl, MMIO_WINDOW_CACHE_UC_STRICT, "uncached", phys);
}

/* In a child: open the control device after @become; 0 or the errno. */
static int open_as(int become)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	pid_t pid = fork();
	int st = -1, fd;

	if (pid == 0) {
		if (become == 1000 && (setgid(1000) || setuid(1000)))
			_exit(100);
		if (become == -1) {
			if (syscall(SYS_capget, &h, d))
				_exit(101);
			d[CAP_SYS_RAWIO / 32].effective &= ~(1u << (CAP_SYS_RAWIO % 32));
			if (syscall(SYS_capset, &h, d))
				_exit(102);
		}
		fd = open(MMIO_WINDOW_DEVICE, O_RDWR);
		_exit(fd >= 0 ? 0 : errno);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static void check_nonroot(int ctl)
{
	struct stat sb = { 0 };
	int err;

	err = stat(MMIO_WINDOW_DEVICE, &sb) ? errno : 0;
	expect(err == 0 && (sb.st_mode & 0777) == 0600 && sb.st_uid == 0,
	       "%s is root's, mode 0%o (%s)", MMIO_WINDOW_DEVICE, (unsigned)(sb.st_mode & 0777),
	       strerror(err));
	err = open_as(1000);
	expect(err == EACCES, "uid 1000 cannot open %s: %s", MMIO_WINDOW_DEVICE, strerror(err));
	err = open_as(-1);
	expect(err == EPERM, "root without CAP_SYS_RAWIO cannot open it: %s", strerror(err));
	if (fork() == 0) {
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		struct mmio_window_stats s = { .size = sizeof(s) };

		if (syscall(SYS_capget, &h, d))
			_exit(101);
		d[0].effective &= ~(1u << CAP_SYS_RAWIO);
		if (syscall(SYS_capset, &h, d))
			_exit(102);
		_exit(ioctl(ctl, MMIO_WINDOW_IOC_STATS, &s) ? errno : 0);
	}
	wait(&err);
	expect(WIFEXITED(err) && WEXITSTATUS(err) == EPERM,
	       "an open control descriptor refuses ioctls once CAP_SYS_RAWIO is dropped: %s",
	       WIFEXITED(err) ? strerror(WEXITSTATUS(err)) : "child crashed");
}

/* The module's reference count, from sysfs; -1 if unreadable. */
static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/mmio_window/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static void check_rmmod(int ctl)
{
	long before = module_refcnt(), with;
	void *p;
	int fd = window(ctl, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, true, NULL), st;

	if (fd < 0)
		return;
	with = module_refcnt();
	expect(before > 0 && with == before + 1, "a window holds a module reference (%ld -> %ld)",
	       before, with);
	p = map(fd, PAGE, PROT_READ, 0);
	st = system("rmmod mmio_window 2>/dev/null");
	expect(st != 0 && access("/sys/module/mmio_window", F_OK) == 0,
	       "rmmod while a window exists fails (status %d) and the module stays", st);
	expect_ident(p, "and the window still reads edu ident");
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	close(fd);
	expect(module_refcnt() == before, "closing the window drops its reference (%ld)",
	       module_refcnt());
}

static void check_lockdown(int ctl)
{
	struct mmio_window_create c;

	create_init(&c, &edu, 0, PAGE, MMIO_WINDOW_CACHE_UC, false);
	refused(ctl, &c, EACCES, MMIO_WINDOW_LOCKDOWN, "a PCI window under lockdown");
	create_init(&c, NULL, bar_phys(&edu), PAGE, MMIO_WINDOW_CACHE_UC, false);
	refused(ctl, &c, EACCES, MMIO_WINDOW_LOCKDOWN, "a physical window under lockdown");
}

/* Write @text to the sysfs file @path: 0 or the errno. */
static int sysfs_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	return err;
}

/* "/sys/bus/pci/devices/BDF/@leaf" in @buf. */
static const char *dev_path(char *buf, size_t len, const struct shim_pci_address *fn,
			    const char *leaf)
{
	snprintf(buf, len, "/sys/bus/pci/devices/%04x:%02x:%02x.%x/%s", fn->domain, fn->bus,
		 fn->device, fn->function, leaf);
	return buf;
}

static bool has_driver(const struct shim_pci_address *fn)
{
	char path[160];

	return access(dev_path(path, sizeof(path), fn, "driver"), F_OK) == 0;
}

/* A mapped window of the spare function, readable; NULL if not. */
static void *spare_window(int ctl, int *fd, uint64_t *id)
{
	uint32_t v;
	void *p;

	*fd = window(ctl, &spare, 0, PAGE, MMIO_WINDOW_CACHE_UC, false, id);
	if (*fd < 0)
		return NULL;
	p = map(*fd, PAGE, PROT_READ, 0);
	if (p == MAP_FAILED || read32_probe(p, &v) != 0) {
		expect(false, "map and read a window of the spare function");
		close(*fd);
		return NULL;
	}
	return p;
}

/* A driver binding to the function revokes its windows (before its probe). */
static void check_rebind(int ctl)
{
	uint64_t id = 0;
	int fd, err;
	char bdf[16], path[160];
	void *p = spare_window(ctl, &fd, &id);

	if (!p)
		return;
	snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", spare.domain, spare.bus, spare.device,
		 spare.function);
	err = sysfs_write(dev_path(path, sizeof(path), &spare, "driver_override"),
			  "uio_pci_generic");
	if (!err)
		err = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	if (err || !has_driver(&spare)) {
		skip("cannot bind uio_pci_generic to the spare function (%s): the rebind check",
		     strerror(err));
	} else {
		expect_sigbus(p, "a driver binding to the function revoked its window");
		expect(stats(ctl, id).revoked == 1, "STATS: the window counts as revoked");
		err = sysfs_write("/sys/bus/pci/drivers/uio_pci_generic/unbind", bdf);
		expect(err == 0 && !has_driver(&spare), "the driver unbinds again (%s)",
		       strerror(err));
	}
	sysfs_write(dev_path(path, sizeof(path), &spare, "driver_override"), "\n");
	munmap(p, PAGE);
	close(fd);
}

/* Removing the function revokes its windows; a rescan brings it back. */
static void check_remove(int ctl)
{
	uint64_t id = 0;
	char path[160];
	int fd, err;
	void *p = spare_window(ctl, &fd, &id);

	if (!p)
		return;
	err = sysfs_write(dev_path(path, sizeof(path), &spare, "remove"), "1");
	expect(err == 0, "remove the spare function (%s)", strerror(err));
	if (err == 0)
		expect_sigbus(p, "removing the function revoked its window");
	munmap(p, PAGE);
	close(fd);
	err = sysfs_write("/sys/bus/pci/rescan", "1");
	expect(err == 0 && bar_phys(&spare) != 0, "a rescan brings the function back (%s)",
	       strerror(err));
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
	{ "ident", check_ident },	{ "bounds", check_bounds },
	{ "private", check_private },	{ "readonly", check_readonly },
	{ "revoke", check_revoke },	{ "revoke-closed", check_revoke_closed },
	{ "refusals", check_refusals }, { "attack", check_attack },
	{ "cache", check_cache },	{ "nonroot", check_nonroot },
	{ "rmmod", check_rmmod },	{ "lockdown", check_lockdown },
	{ "race", check_race },		{ "fuzz", check_fuzz },
	{ "rebind", check_rebind },	{ "remove", check_remove },
	{ "helper", check_helper },
};

static int run(const char *name, int ctl)
{
	if (strcmp(name, "control-close") == 0) {
		check_control_close();
		return 0;
	}
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (strcmp(name, checks[i].name) == 0) {
			checks[i].run(ctl);
			return 0;
		}
	fprintf(stderr, "mmio-window-test: no check called '%s'\n", name);
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1, ctl;

	bdf_parse("0000:00:04.0", &edu);
	bdf_parse("0000:00:07.0", &spare);
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		bool good = (strcmp(argv[i], "--edu") == 0 && bdf_parse(argv[i + 1], &edu)) ||
			    (strcmp(argv[i], "--spare") == 0 && bdf_parse(argv[i + 1], &spare)) ||
			    (strcmp(argv[i], "--bound") == 0 &&
			     (have_bound = bdf_parse(argv[i + 1], &bound)));
		if (!good) {
			fprintf(stderr, "mmio-window-test: bad option %s %s\n", argv[i],
				argv[i + 1]);
			return 99;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: mmio-window-test [--edu BDF] [--spare BDF] [--bound BDF] "
				"CHECK...\n");
		return 99;
	}
	fault_handlers_install();
	ctl = control_open();
	if (ctl < 0)
		return 99;
	for (; i < argc; i++)
		if (run(argv[i], ctl) != 0)
			return 99;
	close(ctl);
	return failures < 99 ? failures : 99;
}
