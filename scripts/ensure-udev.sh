#!/usr/bin/env bash
# Hot-plug needs a running udev daemon. Bench PCs run one; a bare container or VM may not.
# As root, start systemd-udevd when none answers, and fill its database for the block devices.
set -u
udevadm control --ping --timeout=1 >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || [ ! -x /lib/systemd/systemd-udevd ]; then
  echo "ensure-udev: udev is not running: drives will not appear on hot-plug (press r to rescan)" >&2
  exit 0
fi
echo "ensure-udev: starting systemd-udevd for hot-plug"
/lib/systemd/systemd-udevd --daemon
udevadm trigger --subsystem-match=block --action=add >/dev/null 2>&1
udevadm settle --timeout=10 >/dev/null 2>&1
exit 0
