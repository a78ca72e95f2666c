#!/usr/bin/env bash
# Drive-lab set-up: Debian's stock kernel and a tiny busybox initramfs for the QEMU drive lab.
# Idempotent and cached (about a second when everything is there); safe to run concurrently.
#
#   lab/lab-setup.sh            -> prints "KERNEL=<path>" and "INITRD=<path>"
#
# Cache: $LAB_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/sanitiser-lab
#   kx/                 the unpacked linux-image package (boot/vmlinuz, lib/modules/<version>)
#   initrd.gz           busybox + the modules needed to reach the 9p root; its /init mounts the
#                       host's / read-only over virtio-9p with a tmpfs overlay, mounts the kernel's
#                       modules (9p tag "kmods") on /lib/modules, switch_roots, and execs the guest
#                       init named on the kernel command line (lab.init=PATH on the host's fs).
#   initrd.stamp        what initrd.gz was built from (rebuilt when this script or the kernel change)
# Needs root, Debian 12 apt, and the packages qemu-system-x86 qemu-utils busybox-static cpio kmod
# (scripts/install-system.sh --test installs them).
set -euo pipefail
CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sanitiser-lab}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # two test sessions set up at once: the second waits, then finds everything cached

for tool in busybox cpio depmod modprobe dpkg-deb apt-get xz; do
  command -v "$tool" >/dev/null || { echo "lab-setup: missing $tool (run scripts/install-system.sh --test)" >&2; exit 1; }
done
BUSYBOX=$(command -v busybox)

# The kernel package that Debian's linux-image-amd64 currently points at; the cached one if apt
# cannot tell (no package lists).
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}' || true)
if [ -z "$KPKG" ]; then
  KPKG=$(cat "$CACHE/kernel-package" 2>/dev/null || true)
  [ -n "$KPKG" ] || { echo "lab-setup: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2; exit 1; }
fi
KV=${KPKG#linux-image-}
KX=$CACHE/kx
if [ ! -f "$KX/boot/vmlinuz-$KV" ] || [ ! -d "$KX/lib/modules/$KV" ]; then
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null)
  rm -rf "$KX" && mkdir -p "$tmp/x"
  dpkg-deb -x "$tmp"/"$KPKG"_*.deb "$tmp/x"
  mv "$tmp/x" "$KX"
  rm -rf "$tmp"
  trap - EXIT
fi
[ -f "$KX/lib/modules/$KV/modules.dep.bin" ] || depmod -b "$KX" "$KV"
echo "$KPKG" > "$CACHE/kernel-package"

BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"
STORAGE_MODULES="nvme ahci virtio_scsi virtio_blk xhci_pci usb_storage uas sd_mod sg"
stamp="$KV $(sha256sum "$HERE/lab-setup.sh" | cut -d' ' -f1) $(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
if [ ! -f "$CACHE/initrd.gz" ] || [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  R=$(mktemp -d "$CACHE/initrd.XXXXXX")
  trap 'rm -rf "$R"' EXIT
  mkdir -p "$R"/{bin,proc,sys,dev,run,mnt/host,mnt/ov,mnt/root,lib/modules/"$KV"}
  cp "$BUSYBOX" "$R/bin/busybox"
  for a in sh mount umount modprobe mkdir cat cp sleep switch_root poweroff sed echo; do
    ln -s busybox "$R/bin/$a"
  done
  # What reaching the 9p root needs, and the storage drivers: loading them from RAM here is much
  # faster under TCG than over 9p later, and their probing overlaps the switch to the host's root.
  for m in $BOOT_MODULES $STORAGE_MODULES; do
    modprobe -d "$KX" -S "$KV" --show-depends "$m" | awk '$1=="insmod"{print $2}'
  done | sort -u | while read -r f; do
    rel=${f#"$KX/lib/modules/$KV/"}
    mkdir -p "$R/lib/modules/$KV/$(dirname "$rel")"
    cp "$f" "$R/lib/modules/$KV/$rel"
  done
  cp "$KX/lib/modules/$KV"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KV/"
  depmod -b "$R" "$KV"
  cat > "$R/init" <<'EOS'
#!/bin/sh
# Drive-lab initramfs: reach the host's root over 9p, then hand over to the guest init (lab.init=).
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "LAB: initramfs: $*" > /dev/console; echo o > /proc/sysrq-trigger; sleep 10; }
for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe "$m" || fail "modprobe $m"; done
modprobe -a nvme ahci virtio_scsi virtio_blk xhci_pci usb_storage uas sd_mod sg
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /mnt/host || fail "9p root mount"
mount -t tmpfs -o size=512m tmpfs /mnt/ov; mkdir -p /mnt/ov/up /mnt/ov/work
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/ov/up,workdir=/mnt/ov/work /mnt/root || fail "overlay"
mkdir -p /mnt/root/lib/modules
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose kmods /mnt/root/lib/modules || fail "9p modules mount"
LABINIT=$(sed -n 's/.*lab\.init=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$LABINIT" ] && [ -f "/mnt/root$LABINIT" ] || fail "no guest init at lab.init=$LABINIT"
mount --move /proc /mnt/root/proc; mount --move /sys /mnt/root/sys; mount --move /dev /mnt/root/dev
exec switch_root /mnt/root /bin/bash "$LABINIT"
EOS
  chmod +x "$R/init"
  (cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$CACHE/initrd.gz.new")
  mv "$CACHE/initrd.gz.new" "$CACHE/initrd.gz"
  echo "$stamp" > "$CACHE/initrd.stamp"
  rm -rf "$R"
  trap - EXIT
fi
# The uncompressed ELF kernel boots straight through QEMU's PVH entry (Debian sets CONFIG_PVH):
# no BIOS real-mode path and no in-guest xz decompression, seconds faster under TCG.
if [ ! -f "$CACHE/vmlinux-$KV" ]; then
  off=$(grep -a -b -o -m1 $'\xfd7zXZ' "$KX/boot/vmlinuz-$KV" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ] && xz -dc --single-stream < <(tail -c +$((off + 1)) "$KX/boot/vmlinuz-$KV") > "$CACHE/vmlinux.new" 2>/dev/null \
     && [ "$(head -c 4 "$CACHE/vmlinux.new" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv "$CACHE/vmlinux.new" "$CACHE/vmlinux-$KV"
  else  # not an xz bzImage: boot the compressed kernel instead
    rm -f "$CACHE/vmlinux.new"; ln -sfn "kx/boot/vmlinuz-$KV" "$CACHE/vmlinux-$KV"
  fi
  for old in "$CACHE"/vmlinux-*; do [ "$old" = "$CACHE/vmlinux-$KV" ] || rm -f "$old"; done
fi
ln -sfn "vmlinux-$KV" "$CACHE/kernel"
echo "KERNEL=$CACHE/kernel"
echo "INITRD=$CACHE/initrd.gz"
echo "MODULES=$KX/lib/modules"
