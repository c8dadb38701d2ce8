#!/bin/sh
# SPDX-License-Identifier: MIT
# A guest scenario (kernel-shim/guest/run-guest.sh ./scenario.sh): run the
# first driver, given with --extra, as uid 1000 (docs/GUEST.md).
. /usr/share/mmio-guest/lib.sh
check "edu-id as uid 1000" as_driver /opt/extra/edu-id
finish
