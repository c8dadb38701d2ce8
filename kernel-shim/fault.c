/* SPDX-License-Identifier: MIT */
/*
 * Fault recovery for the access primitives.
 *
 * A device that goes away (hot unplug, a BAR disabled, a memfd shrunk)
 * turns a load or store into SIGBUS/SIGSEGV. The primitives list each access
 * that may fault in the mmio_extable section; this handler moves the
 * interrupted context to the access's fixup, which returns the progress made.
 * The same idea as Linux's exception tables (arch/x86/lib/getuser.S).
 */
#include <mmio/shim.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

struct extable_entry {
	int32_t insn;  /* faulting instruction, relative to this field */
	int32_t fixup; /* where to resume, relative to this field */
};

/*
 * Provided by the linker for the section of that name. Hidden, so that a
 * process holding two copies of kernel-shim (an executable and libmmio.so)
 * has each handler consult its own module's table; the handlers chain.
 */
extern const struct extable_entry __start_mmio_extable[] __attribute__((visibility("hidden")));
extern const struct extable_entry __stop_mmio_extable[] __attribute__((visibility("hidden")));
/* The start of kernel-shim's own entries (x86_64/access.asm). */
extern const struct extable_entry shim_extable_anchor[] __attribute__((visibility("hidden")));

static struct sigaction previous_segv;
static struct sigaction previous_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_status = MMIO_EINTERNAL;
/* Set (release) once install_status is final: every access checks it, and a
 * plain atomic load is cheaper than pthread_once's call. */
static atomic_bool install_done;

/* The address of the last fault this thread recovered from: initial-exec,
 * so that the handler's store needs no call (a dynamic TLS access may
 * allocate, which a signal handler must not). */
static __thread uintptr_t last_fault_addr __attribute__((tls_model("initial-exec")));

/*
 * The tables of other modules: code inlined from <mmio/client_inline.h>
 * (which <mmio/client.h> includes) lists its accesses in its own module's
 * mmio_extable. A slot is live while @start is set. The handler takes no
 * lock: it counts itself in @scanning while it reads the slots, and a
 * removal, after it has cleared @start, waits (holding extables_mtx, so
 * no add reuses the slot meanwhile) until no handler is scanning. So a
 * handler never reads a table whose module may be gone, nor the @stop of
 * another table than the @start it read.
 */
static struct {
	_Atomic(const struct extable_entry *) start;
	const struct extable_entry *stop;
	unsigned users;
} extables[SHIM_EXTABLES];
static atomic_uint extables_used; /* slots ever used: the handler looks at these */
static atomic_uint scanning;	  /* handlers reading the slots now */
static pthread_mutex_t extables_mtx = PTHREAD_MUTEX_INITIALIZER;

/* A linear scan: a few dozen entries a table, async-signal-safe. */
static uintptr_t table_fixup(const struct extable_entry *start, const struct extable_entry *stop,
			     uintptr_t pc)
{
	for (const struct extable_entry *e = start; e < stop; e++) {
		if ((uintptr_t)&e->insn + (intptr_t)e->insn == pc)
			return (uintptr_t)&e->fixup + (intptr_t)e->fixup;
	}
	return 0;
}

static uintptr_t extable_fixup(uintptr_t pc)
{
	uintptr_t fixup = table_fixup(__start_mmio_extable, __stop_mmio_extable, pc);
	unsigned used;

	if (fixup)
		return fixup;
	/* Sequentially consistent with the removal's clearing and waiting:
	 * either it sees this handler counted, or this handler sees the slot
	 * cleared. */
	atomic_fetch_add(&scanning, 1);
	used = atomic_load_explicit(&extables_used, memory_order_acquire);
	for (unsigned i = 0; !fixup && i < used; i++) {
		const struct extable_entry *start = atomic_load(&extables[i].start);
		if (start)
			fixup = table_fixup(start, extables[i].stop, pc);
	}
	atomic_fetch_sub_explicit(&scanning, 1, memory_order_release);
	return fixup;
}

/*
 * fork(): the child has only the forking thread, so no handler is scanning
 * there whatever the count says (a thread of the parent may have been), and
 * the lock is taken around the fork so that the child does not inherit it
 * held. Without this a child could wait forever in its first removal (its
 * exit's destructors).
 */
static void extables_prepare(void)
{
	pthread_mutex_lock(&extables_mtx);
}

static void extables_parent(void)
{
	pthread_mutex_unlock(&extables_mtx);
}

static void extables_child(void)
{
	atomic_store(&scanning, 0);
	pthread_mutex_unlock(&extables_mtx);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void extables_atfork(void)
{
	pthread_atfork(extables_prepare, extables_parent, extables_child);
}

int shim_extable_add(const void *start, const void *stop)
{
	unsigned used, slot = SHIM_EXTABLES;
	int status = MMIO_OK;

	if (!start || (const char *)stop < (const char *)start)
		return MMIO_EINVAL;
	pthread_once(&atfork_once, extables_atfork);
	pthread_mutex_lock(&extables_mtx);
	used = atomic_load_explicit(&extables_used, memory_order_relaxed);
	for (unsigned i = 0; i < used; i++) {
		const struct extable_entry *s =
			atomic_load_explicit(&extables[i].start, memory_order_relaxed);
		if ((const void *)s == start) {
			slot = i;
			break;
		}
		if (!s && slot == SHIM_EXTABLES)
			slot = i; /* a free slot, unless the table is known */
	}
	if (slot == SHIM_EXTABLES && used < SHIM_EXTABLES)
		slot = used;
	if (slot == SHIM_EXTABLES) {
		status = MMIO_ENOMEM;
	} else if (extables[slot].users++ == 0) {
		extables[slot].stop = stop;
		atomic_store_explicit(&extables[slot].start, start, memory_order_release);
		if (slot == used)
			atomic_store_explicit(&extables_used, used + 1, memory_order_release);
	}
	pthread_mutex_unlock(&extables_mtx);
	return status;
}

void shim_extable_remove(const void *start)
{
	unsigned used;

	pthread_mutex_lock(&extables_mtx);
	used = atomic_load_explicit(&extables_used, memory_order_relaxed);
	for (unsigned i = 0; i < used; i++) {
		if ((const void *)atomic_load_explicit(&extables[i].start, memory_order_relaxed) !=
		    start)
			continue;
		if (--extables[i].users == 0) {
			atomic_store(&extables[i].start, NULL);
			/* A handler may still be reading the table: its module
			 * stays until this returns. */
			while (atomic_load(&scanning) != 0)
				sched_yield();
		}
		break;
	}
	pthread_mutex_unlock(&extables_mtx);
}

static void fault_pass_on(int sig, siginfo_t *info, void *context)
{
	const struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;

	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, info, context);
		return;
	}
	if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
		return;
	}
	/*
	 * Default action (the kernel also forces the default for an ignored
	 * hardware fault). A fault re-executes the instruction and faults
	 * again; a signal sent with kill() must be raised again. It stays
	 * blocked until this handler returns, then takes the default action.
	 */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (info->si_code <= 0)
		raise(sig);
}

static void fault_handler(int sig, siginfo_t *info, void *context)
{
	ucontext_t *uc = context;

	/* si_code > 0: raised by the kernel for this thread's access, not sent. */
	if (info->si_code > 0) {
		uintptr_t fixup = extable_fixup((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]);
		if (fixup) {
			last_fault_addr = (uintptr_t)info->si_addr;
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)fixup;
			return;
		}
	}
	fault_pass_on(sig, info, context);
}

static void fault_install(void)
{
	struct sigaction sa;

	/* A reference to the primitives' table from code that every program
	 * with this handler links. The table is found through the linker's
	 * __start_ symbol, which lld's --gc-sections does not count as a
	 * reference: without this a static link with it dropped the table,
	 * and a fault in a library copy killed the program. */
	__asm__ volatile("" : : "r"(shim_extable_anchor));

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &previous_segv) != 0)
		return;
	if (sigaction(SIGBUS, &sa, &previous_bus) != 0) {
		sigaction(SIGSEGV, &previous_segv, NULL);
		return;
	}
	install_status = MMIO_OK;
}

int shim_fault_recovery_install(void)
{
	if (atomic_load_explicit(&install_done, memory_order_acquire))
		return install_status;
	if (pthread_once(&install_once, fault_install) != 0)
		return MMIO_EINTERNAL;
	atomic_store_explicit(&install_done, true, memory_order_release);
	return install_status;
}

uintptr_t shim_fault_address(void)
{
	return last_fault_addr;
}
