#!/bin/bash
# Drive-lab guest init: runs as PID 1 inside the QEMU guest, on a tmpfs overlay of the HOST's root
# (read-only 9p), so the host's tools, the project and its venv are at the same paths.
# Starts udev (drivers autoload, /run/udev has properties as on a real bench), waits for
# lab.ndisks disks, runs /lab/cmd from the writable 9p share "labshare" with its output in
# /lab/out.txt and exit status in /lab/rc, then powers off. With lab.shell=1 and no /lab/cmd it
# gives an interactive shell on the serial console instead.
# Markers on the console: "LAB: [uptime] ..." (the host harness reads "ready" and "cmd exit").
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
read -r up _ < /proc/uptime; echo "LAB: [$up] guest init" > /dev/ttyS0
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm /lab
ln -sfn /proc/self/fd /dev/fd  # what systemd would add to devtmpfs (bash's <(...) needs it)
ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 labshare /lab
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
log() { local up; read -r up _ < /proc/uptime; echo "LAB: [$up] $*" > /dev/ttyS0; }
log "userspace up"
# The initramfs loaded the storage drivers; udev handles only the storage subsystems: letting
# udev autoload every PCI/platform driver costs tens of seconds under TCG, for nothing.
# Debian's hdparm package runs /lib/udev/hdparm for every new sd disk: a dozen programs per disk,
# seconds under TCG, and nothing a lab needs (the guest's /etc is its tmpfs overlay).
mkdir -p /etc/udev/rules.d && ln -sf /dev/null /etc/udev/rules.d/85-hdparm.rules
/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
log "udevd started"
udevadm trigger --action=add --subsystem-match=block --subsystem-match=scsi \
  --subsystem-match=scsi_generic --subsystem-match=scsi_disk --subsystem-match=nvme \
  --subsystem-match=usb --subsystem-match=ata_port --subsystem-match=ata_device
log "triggered"
udevadm settle -t 60
log "udev settled"
want=$(arg lab.ndisks)
want=${want:-0}
end=$((SECONDS + ${LAB_WAIT:-30}))
shopt -s nullglob
while :; do  # USB and SCSI scans can finish after udev settles
  disks=(/sys/block/sd* /sys/block/nvme*n* /sys/block/vd*)
  have=${#disks[@]}
  { [ "$have" -ge "$want" ] || [ $SECONDS -ge $end ]; } && break
  sleep 0.2
done
udevadm settle -t 30
log "ready: $have/$want disks"
if [ -f /lab/cmd ]; then
  (cd /lab && bash /lab/cmd > /lab/out.txt 2>&1)
  rc=$?
  echo "$rc" > /lab/rc
  log "cmd exit rc=$rc"
elif [ "$(arg lab.shell)" = 1 ]; then
  setsid -c bash -l < /dev/ttyS0 > /dev/ttyS0 2>&1
fi
dmesg > /lab/dmesg.txt 2>&1
sync
umount /lab 2> /dev/null
echo o > /proc/sysrq-trigger
while :; do read -r -t 5 _ <> /dev/ttyS0; done  # builtins only: PID 1 must not exit
