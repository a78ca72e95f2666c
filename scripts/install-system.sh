#!/usr/bin/env bash
# Installs the Debian packages the bench and its test suite need. Idempotent and quiet when
# everything is present already; run as root (CI runs as root). Set SANITISER_SKIP_APT=1 to skip.
set -euo pipefail
[ "${SANITISER_SKIP_APT:-0}" = 1 ] && exit 0

# The bench itself: device tools (mmc-utils for eMMC) and udev; lp and ipptool for label
# printers reached through CUPS. Network boot of donors (sanitiser agent build/serve):
# dnsmasq-base (the dnsmasq binary without the 'dnsmasq' package's system DNS service, which would
# take port 53; serve runs its own proxy-DHCP + TFTP instance), ipxe (undionly.kpxe/ipxe.efi for
# ordinary PXE ROMs), syslinux, mtools and dosfstools (the USB image).
BENCH="hdparm nvme-cli smartmontools sg3-utils mmc-utils udev util-linux kmod fonts-dejavu-core \
python3-venv cups-client cups-ipp-utils dnsmasq-base ipxe syslinux syslinux-common mtools dosfstools"
# The test suite and benchmark: PDF/QR checks, loop/device-mapper faults, fio/nwipe, the QEMU drive
# lab, PostgreSQL, headless Chromium, tmux for the end-to-end TUI test, a CUPS scheduler with its
# filters (the label printing tests start their own cupsd), and ipxe-qemu (QEMU's PXE ROMs: the
# network-boot tests boot a donor guest through pxe-e1000.rom) and ovmf (UEFI firmware: the USB
# stick boots with Secure Boot on, and over the network through UEFI iPXE).
TEST="poppler-utils zbar-tools dmsetup fdisk fio nwipe e2fsprogs qemu-system-x86 qemu-utils busybox-static cpio \
postgresql chromium tmux libfuse3-3 cups cups-bsd cups-filters ghostscript ipxe-qemu ovmf"

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
