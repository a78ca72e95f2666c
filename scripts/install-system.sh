#!/usr/bin/env bash
# Installs the Debian packages the bench and its test suite need. Idempotent and quiet when
# everything is present already; run as root (CI runs as root). Set SANITISER_SKIP_APT=1 to skip.
set -euo pipefail
[ "${SANITISER_SKIP_APT:-0}" = 1 ] && exit 0

# The bench itself: device tools (mmc-utils for eMMC) and udev; lp and ipptool for label
# printers reached through CUPS.
BENCH="hdparm nvme-cli smartmontools sg3-utils mmc-utils udev util-linux kmod fonts-dejavu-core \
python3-venv cups-client cups-ipp-utils"
# The test suite and benchmark: PDF/QR checks, loop/device-mapper faults, fio/nwipe, the QEMU drive
# lab, PostgreSQL, headless Chromium, tmux for the end-to-end TUI test, and a CUPS scheduler with its
# filters (the label printing tests start their own cupsd).
TEST="poppler-utils zbar-tools dmsetup fdisk fio nwipe e2fsprogs qemu-system-x86 qemu-utils busybox-static cpio \
postgresql chromium tmux libfuse3-3 cups cups-bsd cups-filters ghostscript"

want="$BENCH"
[ "${1:-}" = "--test" ] && want="$BENCH $TEST"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-system: missing Debian packages:$missing (run as root, or install them)" >&2
  exit 0
fi
echo "install-system: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
