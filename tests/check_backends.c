/* SPDX-License-Identifier: MIT */
/*
 * The device backends of kernel-shim on the host: pci against a sysfs tree
 * built here (the same files the kernel shows: vendor, device, resource,
 * resourceN, resourceN_wc, a driver link, the lockdown file), whose
 * resourceN files are ordinary files, so that mapping them and reading
 * through the mapping is real; devmem against this machine's /proc/iomem.
 * The guest tests (kernel-shim/guest/) run the same code on QEMU's devices.
 */
#include <mmio/shim.h>
#include <mmio/wincontrol.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A BAR file of @size bytes whose byte i is (i * 7 + salt). */
static void bar_file(const char *rel, size_t size, unsigned salt)
{
	char path[256];
	uint8_t *buf = malloc(size);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7 + salt);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static void mkdirs(const char *rel)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
	ck_assert_int_eq(system(cmd), 0);
}

#define DEV	   "bus/pci/devices/"
#define EMPTY_BARS "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/mmio-sysfs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	mkdirs(DEV "0000:00:04.0");
	mkdirs(DEV "0000:00:05.0");
	mkdirs(DEV "0000:00:06.0");
	mkdirs(DEV "0000:00:07.0");
	mkdirs("bus/pci/drivers/edu_kmod");
	mkdirs("kernel/security");
	put("kernel/security/lockdown", "[none] integrity confidentiality\n");

	/* edu: BAR0, 1 MiB, not prefetchable. */
	put(DEV "0000:00:04.0/vendor", "0x1234\n");
	put(DEV "0000:00:04.0/device", "0x11e8\n");
	put(DEV "0000:00:04.0/resource",
	    "0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n" EMPTY_BARS EMPTY_BARS
		    EMPTY_BARS EMPTY_BARS EMPTY_BARS);
	bar_file(DEV "0000:00:04.0/resource0", 1u << 20, 1);

	/* ivshmem-like: BAR0 256 B registers, no BAR1, BAR2 prefetchable 64 KiB. */
	put(DEV "0000:00:05.0/vendor", "0x1af4\n");
	put(DEV "0000:00:05.0/device", "0x1110\n");
	put(DEV "0000:00:05.0/resource",
	    "0x00000000feb00000 0x00000000feb000ff 0x0000000000040200\n" EMPTY_BARS
	    "0x00000000fc000000 0x00000000fc00ffff 0x000000000014220c\n" EMPTY_BARS EMPTY_BARS
		    EMPTY_BARS);
	bar_file(DEV "0000:00:05.0/resource0", 256, 2);
	bar_file(DEV "0000:00:05.0/resource2", 64u << 10, 3);
	bar_file(DEV "0000:00:05.0/resource2_wc", 64u << 10, 3);

	/* A second edu, claimed by a kernel driver. */
	put(DEV "0000:00:06.0/vendor", "0x1234\n");
	put(DEV "0000:00:06.0/device", "0x11e8\n");
	put(DEV "0000:00:06.0/resource",
	    "0x00000000fe800000 0x00000000fe8fffff 0x0000000000040200\n" EMPTY_BARS EMPTY_BARS
		    EMPTY_BARS EMPTY_BARS EMPTY_BARS);
	bar_file(DEV "0000:00:06.0/resource0", 1u << 20, 4);
	char link[256], target[256];
	snprintf(link, sizeof(link), "%s/" DEV "0000:00:06.0/driver", root);
	snprintf(target, sizeof(target), "%s/bus/pci/drivers/edu_kmod", root);
	ck_assert_int_eq(symlink(target, link), 0);

	/* An I/O-port BAR. */
	put(DEV "0000:00:07.0/vendor", "0x8086\n");
	put(DEV "0000:00:07.0/device", "0x7010\n");
	put(DEV "0000:00:07.0/resource",
	    "0x000000000000c000 0x000000000000c03f 0x0000000000040101\n" EMPTY_BARS EMPTY_BARS
		    EMPTY_BARS EMPTY_BARS EMPTY_BARS);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

static struct shim_source pci_at(unsigned device, unsigned bar)
{
	struct shim_source src = {
		.backend = "pci",
		.name = "dev",
		.cache = MMIO_CACHE_UNCACHED,
		.pci = { 0, 0, (uint8_t)device, 0 },
		.bar = bar,
		.sysfs_root = root,
	};

	return src;
}

START_TEST(pci_by_address_maps_the_bar_file)
{
	struct shim_source src = pci_at(4, 0);
	struct shim_device d;
	struct shim_window w;
	char err[256] = "", path[256];
	uint64_t v;
	uint8_t b;
	int fd;

	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_uint_eq(d.size, 1u << 20);
	ck_assert_uint_eq(d.source_size, 1u << 20);
	ck_assert_str_eq(d.where, "0000:00:04.0 BAR0");
	/* The whole BAR: its descriptor may be granted. */
	ck_assert_int_ge(d.fd, 0);
	ck_assert_uint_eq(d.fd_offset, 0);
	/* The mapping is the file: bytes the file has, and stores land there. */
	ck_assert_int_eq(shim_window_init(&w, d.base, d.size, 0), MMIO_OK);
	ck_assert_int_eq(shim_read_once(&w, 0x11, 1, &v), MMIO_OK);
	ck_assert_uint_eq(v, (uint8_t)(0x11 * 7 + 1));
	ck_assert_int_eq(shim_write_once(&w, 0x800, 4, 0x010000ED), MMIO_OK);
	snprintf(path, sizeof(path), "%s/" DEV "0000:00:04.0/resource0", root);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, &b, 1, 0x803), 1);
	ck_assert_uint_eq(b, 0x01);
	close(fd);
	shim_device_close(&d);
}
END_TEST

START_TEST(pci_part_of_a_bar_is_never_granted)
{
	struct shim_source src = pci_at(4, 0);
	struct shim_device d;
	char err[256] = "";

	/* Page-aligned part. */
	src.offset = 0x1000;
	src.size = 0x100;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_int_eq(d.fd, -1);
	ck_assert_uint_eq(d.size, 0x100);
	ck_assert_uint_eq(*(volatile uint8_t *)d.base, (uint8_t)(0x1000 * 7 + 1));
	shim_device_close(&d);
	/* Not page-aligned: byte 0 is still the right byte. */
	src.offset = 0x10;
	src.size = 0x20;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_int_eq(d.fd, -1);
	ck_assert_uint_eq(((volatile uint8_t *)d.base)[3], (uint8_t)(0x13 * 7 + 1));
	shim_device_close(&d);
	/* No size: from the offset to the end of the BAR. */
	src.offset = 0xF0000;
	src.size = 0;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_uint_eq(d.size, 0x10000);
	ck_assert_uint_eq(d.source_size, 1u << 20);
	ck_assert_int_eq(d.fd, -1);
	shim_device_close(&d);
}
END_TEST

START_TEST(pci_by_id_in_address_order)
{
	struct shim_source src = pci_at(0, 0);
	struct shim_device d;
	char err[256] = "";

	src.by_id = true;
	src.vendor_id = 0x1234;
	src.device_id = 0x11e8;
	src.pci_index_given = true;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_str_eq(d.where, "0000:00:04.0 BAR0");
	shim_device_close(&d);
	/* The second match has a driver. */
	src.pci_index = 1;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EBUSY);
	ck_assert_msg(strstr(err, "0000:00:06.0") && strstr(err, "edu_kmod") &&
			      strstr(err, "unbind"),
		      "%s", err);
	src.pci_index = 2;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_msg(strstr(err, "1234:11e8") && strstr(err, "index 2") &&
			      strstr(err, "(2 found)"),
		      "%s", err);
	src.vendor_id = 0xdead;
	src.pci_index = 0;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_msg(strstr(err, "dead:11e8") && strstr(err, "(0 found)"), "%s", err);
}
END_TEST

/* A pci_id many functions have: the error lists the first few and says how
 * many more, rather than being cut off by the caller's buffer. */
START_TEST(pci_id_of_many_functions_says_how_many_more)
{
	struct shim_source src = pci_at(0, 0);
	struct shim_device d;
	char err[512] = "", rel[64];

	for (unsigned i = 0; i < 6; i++) {
		snprintf(rel, sizeof(rel), DEV "0000:01:%02x.0", i);
		mkdirs(rel);
		snprintf(rel, sizeof(rel), DEV "0000:01:%02x.0/vendor", i);
		put(rel, "0x8086\n");
		snprintf(rel, sizeof(rel), DEV "0000:01:%02x.0/device", i);
		put(rel, "0x0953\n");
	}
	src.by_id = true;
	src.vendor_id = 0x8086;
	src.device_id = 0x0953;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "matches 6 PCI functions (0000:01:00.0, 0000:01:01.0, "
				  "0000:01:02.0, 0000:01:03.0 and 2 more)") &&
			      strstr(err, "pci: \"0000:01:05.0\"") &&
			      strstr(err, "pci_index: 3 for 0000:01:03.0, ... up to pci_index: 5, "
					  "in address order"),
		      "%s", err);
}
END_TEST

/* A pci_id two functions have, and no pci_index: an error naming both and
 * the keys that pick one, never the first match. One match needs none. */
START_TEST(pci_id_of_two_functions_names_both)
{
	struct shim_source src = pci_at(0, 0);
	struct shim_device d;
	char err[512] = "";

	src.by_id = true;
	src.vendor_id = 0x1234;
	src.device_id = 0x11e8;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "region dev: pci_id 1234:11e8 matches 2 PCI functions "
				  "(0000:00:04.0, 0000:00:06.0)") &&
			      strstr(err, "pci: \"0000:00:06.0\"") &&
			      strstr(err, "pci_index: 0 for 0000:00:04.0") &&
			      strstr(err, "pci_index: 1 for 0000:00:06.0"),
		      "%s", err);
	ck_assert_int_eq(d.fd, -1);
	/* Picked: the one asked for. */
	src.pci_index_given = true;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_str_eq(d.where, "0000:00:04.0 BAR0");
	shim_device_close(&d);
	/* The only function with its ID: no pci_index needed. */
	src = pci_at(0, 2);
	src.by_id = true;
	src.vendor_id = 0x1af4;
	src.device_id = 0x1110;
	src.cache = MMIO_CACHE_UNCACHED;
	ck_assert_msg(shim_device_open(&src, &d, err, sizeof(err)) == MMIO_OK, "%s", err);
	ck_assert_str_eq(d.where, "0000:00:05.0 BAR2");
	shim_device_close(&d);
}
END_TEST

/* The function, BAR and physical range a region resolves to: on the open
 * device, and from shim_pci_resolve() without mapping anything. */
START_TEST(pci_resolution_names_function_bar_and_range)
{
	struct shim_source src = pci_at(5, 2);
	struct shim_resolved res;
	struct shim_device d;
	char err[512] = "";

	src.offset = 0x1000;
	src.size = 0x2000;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_str_eq(d.where, "0000:00:05.0 BAR2");
	ck_assert_uint_eq(d.phys, 0xfc001000u);
	shim_device_close(&d);
	ck_assert_int_eq(shim_pci_resolve(&src, &res, err, sizeof(err)), MMIO_OK);
	ck_assert_str_eq(res.where, "0000:00:05.0 BAR2");
	ck_assert_uint_eq(res.phys, 0xfc001000u);
	ck_assert_uint_eq(res.size, 0x2000);
	/* The whole BAR by ID; a function a driver holds still resolves. */
	src = pci_at(0, 0);
	src.by_id = true;
	src.vendor_id = 0x1234;
	src.device_id = 0x11e8;
	src.pci_index = 1;
	src.pci_index_given = true;
	ck_assert_int_eq(shim_pci_resolve(&src, &res, err, sizeof(err)), MMIO_OK);
	ck_assert_str_eq(res.where, "0000:00:06.0 BAR0");
	ck_assert_uint_eq(res.phys, 0xfe800000u);
	ck_assert_uint_eq(res.size, 1u << 20);
	/* The ambiguity is the open's error here too. */
	src.pci_index_given = false;
	ck_assert_int_eq(shim_pci_resolve(&src, &res, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "matches 2 PCI functions"));
}
END_TEST

START_TEST(pci_errors_name_the_problem)
{
	struct shim_source src;
	struct shim_device d;
	char err[512] = "";

	src = pci_at(9, 0);
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_msg(strstr(err, "no PCI function 0000:00:09.0"), "%s", err);

	/* The BAR is smaller than the region. */
	src = pci_at(4, 0);
	src.offset = 0xFF000;
	src.size = 0x2000;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "BAR 0 of 0000:00:04.0 is 0x100000 bytes, too small"), "%s", err);
	src.offset = 1u << 20;
	src.size = 0;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "too small"), "%s", err);

	/* Absent and impossible BARs. */
	src = pci_at(5, 1);
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_msg(strstr(err, "0000:00:05.0 has no BAR 1"), "%s", err);
	src = pci_at(5, 6);
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "BAR 6 does not exist"), "%s", err);

	/* I/O ports cannot be mapped. */
	src = pci_at(7, 0);
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "I/O-port BAR"), "%s", err);

	/* Cache policies: write-combining only where the kernel offers it. */
	src = pci_at(4, 0);
	src.cache = MMIO_CACHE_WRITE_COMBINING;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "write-combining is not available for BAR 0 of 0000:00:04.0") &&
			      strstr(err, "not prefetchable") && strstr(err, "cache: uncached"),
		      "%s", err);
	src.cache = MMIO_CACHE_WRITE_BACK;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "cannot map with cache policy write-back"), "%s", err);
	src = pci_at(5, 2);
	src.cache = MMIO_CACHE_WRITE_COMBINING;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_uint_eq(d.size, 64u << 10);
	ck_assert_uint_eq(((volatile uint8_t *)d.base)[5], (uint8_t)(5 * 7 + 3));
	shim_device_close(&d);
	/* A BAR smaller than a page maps (the kernel rounds up) but is never
	 * granted: a descriptor would show the rest of the page. */
	src = pci_at(5, 0);
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_OK);
	ck_assert_uint_eq(d.size, 256);
	ck_assert_int_eq(d.fd, -1);
	shim_device_close(&d);
}
END_TEST

/* Run shim_device_open on 0000:00:04.0 BAR0 as uid 1000 (resource files
 * are root's, mode 0600); write its message to @err. */
static int open_as_other_uid(char *err, size_t errlen)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		struct shim_source src = pci_at(4, 0);
		struct shim_device d;
		char msg[512] = "";
		int st;

		if (setgid(1000) != 0 || setuid(1000) != 0)
			_exit(99);
		st = shim_device_open(&src, &d, msg, sizeof(msg));
		if (write(pipefd[1], msg, strlen(msg)) < 0)
			_exit(98);
		_exit(st == MMIO_EACCES ? 0 : 1);
	}
	/* Checked here, not before the branch: a check in the child would write
	 * into Check's message file, and a child killed mid-write tears it. */
	ck_assert_int_gt(pid, 0);
	close(pipefd[1]);
	n = read(pipefd[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(pci_refusals_say_lockdown_or_privilege)
{
	char err[512];
	int status;

	ck_assert_msg(geteuid() == 0, "this test drops to uid 1000: run it as root");
	/* Let uid 1000 reach the files, so that only their mode refuses it. */
	ck_assert_int_eq(chmod(root, 0755), 0);
	status = open_as_other_uid(err, sizeof(err));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x: %s", status,
		      err);
	ck_assert_msg(strstr(err, "needs root") && !strstr(err, "lockdown"), "%s", err);

	put("kernel/security/lockdown", "none [integrity] confidentiality\n");
	status = open_as_other_uid(err, sizeof(err));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x: %s", status,
		      err);
	ck_assert_msg(strstr(err, "lockdown (integrity)"), "%s", err);
}
END_TEST

START_TEST(devmem_refuses_ram)
{
	struct shim_source src = {
		.backend = "devmem", .name = "ram", .size = 4096, .cache = MMIO_CACHE_UNCACHED
	};
	struct shim_device d;
	char line[256], err[512] = "";
	uint64_t start = 0, end = 0;
	FILE *f = fopen("/proc/iomem", "r");

	ck_assert_msg(geteuid() == 0, "/proc/iomem shows addresses to root only: run as root");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, ": System RAM") &&
		    sscanf(line, " %" SCNx64 "-%" SCNx64, &start, &end) == 2 && end > start)
			break;
		start = 0;
	}
	fclose(f);
	ck_assert_msg(start != 0 || end != 0, "no System RAM in /proc/iomem");
	src.phys = start;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "overlaps System RAM"), "%s", err);

	/* Only uncached: O_SYNC is what devmem can promise. */
	src.cache = MMIO_CACHE_WRITE_COMBINING;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "devmem backend cannot map with cache policy write-combining"),
		      "%s", err);
	src.cache = MMIO_CACHE_UNCACHED;
	src.size = 0;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
	src.size = 8192;
	src.phys = UINT64_MAX - 4095;
	ck_assert_int_eq(shim_device_open(&src, &d, err, sizeof(err)), MMIO_EINVAL);
}
END_TEST

/* The mmio-window helper without the module (the host has none loaded):
 * every failure must come back as a status and a sentence naming the cause. */
START_TEST(window_control_without_the_module)
{
	char err[256] = "";
	int ctl = 0;

	if (access(MMIO_WINDOW_DEVICE, F_OK) == 0)
		return; /* the module is loaded here: the guest test covers it */
	ck_assert_int_eq(shim_window_open_control(&ctl, err, sizeof(err)), MMIO_ENOENT);
	ck_assert_int_eq(ctl, -1);
	ck_assert_msg(strstr(err, MMIO_WINDOW_DEVICE) && strstr(err, "module loaded"), "%s",
		      err);
}
END_TEST

START_TEST(window_requests_name_the_window)
{
	struct shim_window_spec spec = { .pci = { 0, 0, 4, 0 },
					 .bar = 0,
					 .offset = 0x2000,
					 .length = 0x1000,
					 .cache = MMIO_WINDOW_CACHE_WC,
					 .writable = true };
	struct mmio_window_stats st;
	struct shim_window_made made = { .fd = 7 };
	char err[256] = "";
	int notctl = open("/dev/null", O_RDWR);

	ck_assert_int_ge(notctl, 0);
	/* Not the control device: the kernel says ENOTTY, the helper says so
	 * about this window, and hands out nothing. */
	ck_assert_int_eq(shim_window_create(notctl, &spec, &made, err, sizeof(err)),
			 MMIO_EINTERNAL);
	ck_assert_int_eq(made.fd, -1);
	ck_assert_msg(strstr(err, "0000:00:04.0 BAR0 [0x2000, +0x1000) wc rw"), "%s", err);
	spec.bar = 6;
	ck_assert_int_eq(shim_window_create(notctl, &spec, &made, err, sizeof(err)), MMIO_EINVAL);
	ck_assert_msg(strstr(err, "no BAR6"), "%s", err);
	ck_assert_int_eq(shim_window_revoke(notctl, 3, err, sizeof(err)), MMIO_EINTERNAL);
	ck_assert_msg(strstr(err, "window 3"), "%s", err);
	ck_assert_int_eq(shim_window_stats(notctl, 0, &st, err, sizeof(err)), MMIO_EINTERNAL);
	close(notctl);
	ck_assert_str_eq(shim_window_cache_name(MMIO_WINDOW_CACHE_UC), "uc");
	ck_assert_str_eq(shim_window_cache_name(MMIO_WINDOW_CACHE_UC_STRICT), "uc-strict");
	ck_assert_str_eq(shim_window_cache_name(MMIO_WINDOW_CACHE_UNKNOWN), "unknown");
}
END_TEST

static Suite *backends_suite(void)
{
	Suite *s = suite_create("backends");
	TCase *tc = tcase_create("pci");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pci_by_address_maps_the_bar_file);
	tcase_add_test(tc, pci_part_of_a_bar_is_never_granted);
	tcase_add_test(tc, pci_by_id_in_address_order);
	tcase_add_test(tc, pci_id_of_two_functions_names_both);
	tcase_add_test(tc, pci_id_of_many_functions_says_how_many_more);
	tcase_add_test(tc, pci_resolution_names_function_bar_and_range);
	tcase_add_test(tc, pci_errors_name_the_problem);
	tcase_add_test(tc, pci_refusals_say_lockdown_or_privilege);
	suite_add_tcase(s, tc);
	tc = tcase_create("devmem");
	tcase_add_test(tc, devmem_refuses_ram);
	suite_add_tcase(s, tc);
	tc = tcase_create("window");
	tcase_add_test(tc, window_control_without_the_module);
	tcase_add_test(tc, window_requests_name_the_window);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backends_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
