# SPDX-License-Identifier: MIT
# The command-line contract of mmio-policy: exit codes
# and exact messages. Run by CTest as `cmake -DPROG=... -DSRC=... -DWORK=...
# -P policy-cli.cmake`.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(failures 0)

# expect(NAME EXIT STDOUT_REGEX STDERR_REGEX ARGS...)
function(expect name want_rc out_re err_re)
	execute_process(COMMAND ${PROG} ${ARGN}
		RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
	set(bad "")
	if(NOT rc EQUAL want_rc)
		string(APPEND bad " exit ${rc} (want ${want_rc})")
	endif()
	if(NOT out MATCHES "${out_re}")
		string(APPEND bad " stdout does not match '${out_re}'")
	endif()
	if(NOT err MATCHES "${err_re}")
		string(APPEND bad " stderr does not match '${err_re}'")
	endif()
	if(bad)
		message(SEND_ERROR "${name}:${bad}\n--- stdout:\n${out}--- stderr:\n${err}")
	else()
		message(STATUS "${name}: ok")
	endif()
endfunction()

file(WRITE ${WORK}/good.yaml "version: 1\nregions:\n  - name: scratch\n    sim: true\n    size: 64KiB\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - region: scratch\n        access: rw\n        ops: [once, bulk]\n")
file(WRITE ${WORK}/bad.yaml "version: 1\nregions:\n  - name: scratch\n    sim: true\n    size: 0644\n    cache: uncached\n")

expect(no-args 2 "^$" "^mmio-policy: missing command; try 'mmio-policy --help'\n$")
expect(unknown-command 2 "^$" "^mmio-policy: unknown command 'lint'; try 'mmio-policy --help'\n$" lint)
expect(help 0 "Usage: mmio-policy check FILE" "^$" --help)
expect(check-help 0 "Usage: mmio-policy check FILE" "^$" check --help)
expect(check-no-file 2 "^$" "^mmio-policy check: missing FILE; try 'mmio-policy --help'\n$" check)
expect(check-bad-option 2 "^$" "^mmio-policy check: unknown option '-x'; try 'mmio-policy --help'\n$" check -x)
expect(check-good 0 "^${WORK}/good.yaml: ok \\(1 region, 1 client\\)\n$" "^$" check ${WORK}/good.yaml)
expect(check-bad 1 "^$"
	"^${WORK}/bad.yaml:5:11: size '0644': leading zero: octal is not allowed [^\n]*\n${WORK}/bad.yaml:6:12: cache uncached is not possible for sim region 'scratch' [^\n]*\n$"
	check ${WORK}/bad.yaml)
expect(check-mixed 1 "^${WORK}/good.yaml: ok [^\n]*\n$" "^${WORK}/bad.yaml:5:11: " check ${WORK}/bad.yaml ${WORK}/good.yaml)
expect(check-missing 1 "^$" "^${WORK}/nope.yaml: cannot open: No such file or directory\n$" check ${WORK}/nope.yaml)
expect(explain-no-uid 2 "^$" "^mmio-policy explain: missing --uid N; try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml)
expect(explain-no-file 2 "^$" "^mmio-policy explain: missing FILE; try 'mmio-policy --help'\n$" explain --uid 1000)
expect(explain-two-files 2 "^$" "^mmio-policy explain: more than one FILE \\('b'\\); try 'mmio-policy --help'\n$" explain a b --uid 1)
expect(explain-bad-uid 2 "^$" "^mmio-policy explain: --uid 'x1': not a number [^\n]*; try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml --uid x1)
expect(explain-uid-range 2 "^$" "^mmio-policy explain: --uid 4294967295 is out of range \\(0 to 4294967294\\); try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml --uid 4294967295)
expect(explain-uid-twice 2 "^$" "^mmio-policy explain: --uid given twice; try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml --uid 1 --uid 2)
expect(explain-uid-no-value 2 "^$" "^mmio-policy explain: --uid needs a number; try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml --uid)
expect(explain-unknown-option 2 "^$" "^mmio-policy explain: unknown option '--pid'; try 'mmio-policy --help'\n$" explain ${WORK}/good.yaml --pid 1)
expect(explain-invalid 1 "^$" "^${WORK}/bad.yaml:5:11: " explain ${WORK}/bad.yaml --uid 1000)
expect(explain-match 0
	"matching clients: me \\(line 7\\)\nlimits: 32 sessions of this uid \\(64 in all\\), 64 requests in flight of this uid \\(32 per session, 112 in all\\), 32 waiting polls of this uid \\(64 in all\\)\ndirect windows: auto \\([^)]*module is loaded, else whole-BAR mappings that are not revocable\\)\n\nREGION +RANGE +ACCESS +OPS +WIDTHS +BULK +EXCLUSIVE +CACHE +SENSITIVE +CLIENT\nscratch +\\[0x0, 0x10000\\) +rw +once,bulk +1,2,4,8 +8 +no +write-back +no +me\n$"
	"^$" explain ${WORK}/good.yaml --uid 1000 --gid 1000)
# The interrupt op: explain shows it; check refuses it where no interrupt is.
file(WRITE ${WORK}/irq.yaml "version: 1\nregions:\n  - name: edu\n    pci: \"0000:00:04.0\"\n    bar: 0\n    size: 4KiB\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - region: edu\n        access: rw\n        ops: [once, irq]\n")
file(WRITE ${WORK}/irq-kind-sim.yaml "version: 1\nregions:\n  - name: s\n    sim: true\n    irq: msi\n    size: 4KiB\n")
file(WRITE ${WORK}/irq-sim.yaml "version: 1\nregions:\n  - name: s\n    sim: true\n    size: 4KiB\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - region: s\n        access: rw\n        ops: [once, irq]\n")
expect(explain-irq 0 "\nedu +\\[0x0, 0x1000\\) +rw +once,irq +1,2,4,8 " "^$" explain ${WORK}/irq.yaml --uid 1000 --gid 1000)
# A region's irq: key: explain shows the kind next to the op.
file(WRITE ${WORK}/irq-intx.yaml "version: 1\nregions:\n  - name: edu\n    pci: \"0000:00:04.0\"\n    bar: 0\n    size: 4KiB\n    irq: intx\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - region: edu\n        access: rw\n        ops: [once, irq]\n")
expect(explain-irq-intx 0 "\nedu +\\[0x0, 0x1000\\) +rw +once,irq\\(intx\\) +1,2,4,8 " "^$" explain ${WORK}/irq-intx.yaml --uid 1000 --gid 1000)
expect(check-irq-kind-sim 1 "^$" "^${WORK}/irq-kind-sim.yaml:5:10: irq is for pci regions: region 's' is sim, which has no interrupt\n$" check ${WORK}/irq-kind-sim.yaml)
expect(check-irq-sim 1 "^$" "^${WORK}/irq-sim.yaml:12:21: irq needs a pci region: region 's' is sim, which has no interrupt\n$" check ${WORK}/irq-sim.yaml)
expect(explain-no-match 0 "matching clients: none: this peer can see no region\nlimits \\(no grant\\): none: its connections are closed at the handshake \\(limits.ungranted_sessions is 0\\)\n$" "^$"
	explain ${WORK}/good.yaml --uid 1001 --gid 5)
file(WRITE ${WORK}/strangers.yaml "version: 1\nserver:\n  limits: { ungranted_sessions: 2 }\n")
expect(explain-no-match-served 0 "limits \\(no grant\\): 2 sessions of this uid \\(64 in all\\), 2 requests in flight of this uid \\(112 in all\\), no polls\n$" "^$"
	explain ${WORK}/strangers.yaml --uid 1001 --gid 5)
file(WRITE ${WORK}/widths.yaml "version: 1\nregions:\n  - name: scratch\n    sim: true\n    size: 64KiB\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - { region: scratch, size: 4KiB, access: rw, ops: [bulk], widths: [2, 4] }\n      - { region: scratch, offset: 4KiB, size: 4KiB, access: rw, ops: [fill], widths: [2] }\n      - { region: scratch, offset: 8KiB, access: r, ops: [once], widths: [1, 8] }\n")
expect(explain-bulk-width 0 "\nscratch +\\[0x0, 0x1000\\) +rw +bulk +2,4 +4 [^\n]*\nscratch +\\[0x1000, 0x2000\\) +rw +fill +2 +2 [^\n]*\nscratch +\\[0x2000, 0x10000\\) +r +once +1,8 +- " "^$"
	explain ${WORK}/widths.yaml --uid 1000 --gid 1000)
# explain says where pci regions lie, from a sysfs tree of the test's own:
# QEMU's VGA (00:02.0) and a bochs-display (00:07.0) are both 1234:1111.
set(devs ${WORK}/sys/bus/pci/devices)
set(empty "0x0000000000000000 0x0000000000000000 0x0000000000000000\n")
foreach(fn 0000:00:02.0 0000:00:07.0)
	file(WRITE ${devs}/${fn}/vendor "0x1234\n")
	file(WRITE ${devs}/${fn}/device "0x1111\n")
endforeach()
file(WRITE ${devs}/0000:00:02.0/resource "0x00000000fd000000 0x00000000fdffffff 0x0000000000042208\n${empty}${empty}${empty}${empty}${empty}")
file(WRITE ${devs}/0000:00:07.0/resource "0x00000000fc000000 0x00000000fcffffff 0x0000000000042208\n${empty}${empty}${empty}${empty}${empty}")
file(WRITE ${WORK}/pci.yaml "version: 1\nregions:\n  - { name: fb, pci_id: \"1234:1111\", bar: 0 }\n  - { name: vga, pci: \"00:02.0\", bar: 0, offset: 0x1000, size: 0x1000 }\n  - { name: bochs, pci_id: \"1234:1111\", pci_index: 1, bar: 0, offset: 0x2000 }\n  - { name: scratch, sim: true, size: 4KiB }\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - { region: fb, access: rw, ops: [once] }\n      - { region: vga, access: rw, ops: [once] }\n      - { region: bochs, access: rw, ops: [once] }\n      - { region: scratch, access: rw, ops: [once] }\n")
set(ENV{MMIO_SYSFS_ROOT} ${WORK}/sys)
expect(explain-where 0
	"\nwhere:\nregion fb: pci_id 1234:1111 matches 2 PCI functions \\(0000:00:02.0, 0000:00:07.0\\); name the one to map with pci: \"0000:00:07.0\" instead of pci_id, or keep pci_id and add pci_index: 0 for 0000:00:02.0, pci_index: 1 for 0000:00:07.0\nregion vga: 0000:00:02.0 BAR0, phys \\[0xfd001000, 0xfd002000\\)\nregion bochs: 0000:00:07.0 BAR0, phys \\[0xfc002000, 0xfd000000\\)\n$"
	"^$" explain ${WORK}/pci.yaml --uid 1000 --gid 1000)
unset(ENV{MMIO_SYSFS_ROOT})
file(WRITE ${WORK}/limits.yaml "version: 1\nserver:\n  limits:\n    max_sessions: 10\n    max_sessions_per_uid: 3\n    max_polls_total: 9\nregions:\n  - name: scratch\n    sim: true\n    size: 64KiB\nclients:\n  - name: me\n    uid: 1000\n    grants:\n      - region: scratch\n        access: rw\n        ops: [once]\n")
expect(explain-limits 0 "\nlimits: 3 sessions of this uid \\(10 in all\\), 64 requests in flight of this uid \\(32 per session, 112 in all\\), 32 waiting polls of this uid \\(9 in all\\)\n" "^$"
	explain ${WORK}/limits.yaml --uid 1000 --gid 1000)
file(WRITE ${WORK}/badlimits.yaml "version: 1\nserver:\n  limits:\n    max_sessions: 4\n    max_sessions_per_uid: 5\n    max_requests_total: 200\n")
expect(check-bad-limits 1 "^$"
	"^${WORK}/badlimits.yaml:5:27: max_sessions_per_uid 5 is above max_sessions 4: one uid could take every session\n${WORK}/badlimits.yaml:6:25: max_requests_total 200 is out of range \\(1 to 112\\)\n$"
	check ${WORK}/badlimits.yaml)
expect(explain-examples 0 "REGION" "^$" explain ${SRC}/examples/qemu-guest.yaml --uid 1000 --gid 1000)
# The register table of a grant with registers, offsets sorted.
expect(explain-registers 0 "registers of gpio-pins-8-15's grant on gpio.*OUT_SET +0x10 .* w +0xff00 .*PIN_CFG +0x120 +8 +4 " "^$"
	explain ${SRC}/examples/registers.yaml --uid 1002 --gid 1002)
