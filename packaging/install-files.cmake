# SPDX-License-Identifier: MIT
# Run by `cmake --install` (and CPack) with the install-time prefix; the
# variables MMIO_* are set by packaging/CMakeLists.txt just before.
# file(INSTALL) honours $DESTDIR and records the files in the manifest.

if(MMIO_INSTALL_SYSCONFDIR)
	set(sysconfdir "${MMIO_INSTALL_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
	set(sysconfdir /etc)
else()
	set(sysconfdir "${CMAKE_INSTALL_PREFIX}/etc")
endif()
foreach(var MMIO_SBINDIR MMIO_SYSTEMD_UNITDIR)
	if(NOT IS_ABSOLUTE "${${var}}")
		set(${var} "${CMAKE_INSTALL_PREFIX}/${${var}}")
	endif()
endforeach()

# The unit, naming the mmio-server and policy of this install.
set(MMIO_UNIT_SBINDIR "${MMIO_SBINDIR}")
set(MMIO_UNIT_SYSCONFDIR "${sysconfdir}")
configure_file("${MMIO_SOURCE_DIR}/packaging/mmio-server.service.in"
	"${MMIO_WORK_DIR}/mmio-server.service" @ONLY)
file(INSTALL "${MMIO_WORK_DIR}/mmio-server.service" DESTINATION "${MMIO_SYSTEMD_UNITDIR}")

# The example policy, never over an existing one (an admin's edits win; in
# the .deb, dpkg's conffile handling does the same).
if(EXISTS "$ENV{DESTDIR}${sysconfdir}/mmio/policy.yaml")
	message(STATUS "Keeping: $ENV{DESTDIR}${sysconfdir}/mmio/policy.yaml (exists)")
else()
	file(INSTALL "${MMIO_SOURCE_DIR}/config/examples/host-demo.yaml"
		DESTINATION "${sysconfdir}/mmio" RENAME policy.yaml
		PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
