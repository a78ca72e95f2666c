"""The text files of the boot path (pure): the image's /init and DHCP client script, the
kernel command line, the iPXE script, the dnsmasq configuration and the USB stick's syslinux
configuration.

The boot path: the donor's PXE ROM asks for an address; the bench's dnsmasq, in proxy-DHCP mode
(the network's own DHCP server still hands out the address), names a TFTP file: iPXE
(``undionly.kpxe`` / ``ipxe.efi``) for an ordinary PXE ROM, the iPXE script ``boot.ipxe`` for a
client that already is iPXE. The script fetches the kernel and the initramfs images over HTTP
(TFTP is slow for tens of megabytes) and boots. /init brings up the network with DHCP and runs
the agent.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sanitiser.netboot.spec import CREDENTIALS_DIR

STICK_LABEL = "SANITISER"
"""The FAT label of the USB image's partition; /init finds the stick by it."""
OFFLINE_DIR = "sanitiser"
"""The agent's evidence directory on the stick (its root)."""
SELFTEST_BEGIN = "SANITISER-SELFTEST-BEGIN"
SELFTEST_END = "SANITISER-SELFTEST-END"
BOOT_SCRIPT = "boot.ipxe"
KERNEL_FILE = "vmlinuz"
INITRD_FILE = "initrd.gz"
SESSION_FILE = "session.cpio.gz"

_ARG_VALUE = re.compile(r"[A-Za-z0-9_.:/@%+=,-]*")


def kernel_cmdline(args: Mapping[str, str] = {}, *, serial: bool = True) -> str:
    """The kernel command line: quiet, consoles (serial last: /dev/console, what /init writes
    to, is the last one), then `args` as ``key=value`` (``sanitiser.bench=URL``, ...).

    Raises:
        ValueError: a key or value with a space or a character a command line cannot carry.
    """
    parts = ["quiet", "loglevel=3", "panic=30", "console=tty0"]
    if serial:
        parts.append("console=ttyS0,115200")
    for key, value in args.items():
        if not re.fullmatch(r"[a-z][a-z0-9_.-]*", key) or not _ARG_VALUE.fullmatch(value):
            raise ValueError(f"kernel argument {key}={value!r}: not allowed on a command line")
        parts.append(f"{key}={value}")
    return " ".join(parts)


def ipxe_script(base_url: str, cmdline: str, initrds: Sequence[str]) -> str:
    """The iPXE script: the kernel and each initramfs image from `base_url` over HTTP.

    iPXE concatenates the initrds; the kernel unpacks each cpio archive in order, so the
    per-session overlay (credentials) lands over the image. ``BOOTIF`` tells /init which card
    booted.
    """
    if not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._/-]*)?", base_url):
        raise ValueError(f"not a plain http(s) URL: {base_url!r}")
    base = base_url.rstrip("/")
    names = " ".join(f"initrd={name}" for name in initrds)
    lines = [
        "#!ipxe",
        "echo sanitiser: loading the agent image from " + base,
        f"kernel {base}/{KERNEL_FILE} {names} {cmdline} BOOTIF=01-${{netX/mac:hexhyp}}",
        *(f"initrd {base}/{name}" for name in initrds),
        "boot",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class ProxyDhcp:
    """What dnsmasq needs to answer PXE clients on one interface."""

    interface: str
    address: str
    """The interface's IPv4 address with its prefix, e.g. ``192.168.1.10/24``."""
    tftp_root: str
    log_file: str
    dhcp_port: int = 67


def dnsmasq_config(p: ProxyDhcp) -> str:
    """dnsmasq in proxy-DHCP + TFTP mode on one interface, DNS off.

    Proxy mode hands out no address (the network's DHCP server does); it only tells PXE
    clients what to boot: ordinary PXE ROMs get iPXE by TFTP, iPXE (which sends DHCP option 175)
    gets the script. Raises ValueError for an address that is not IPv4 with a prefix.
    """
    iface = ipaddress.IPv4Interface(p.address)
    if not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", p.interface):
        raise ValueError(f"not an interface name: {p.interface!r}")
    network = iface.network
    return "\n".join(
        [
            f"# sanitiser agent serve: proxy-DHCP + TFTP on {p.interface} ({iface})",
            "# DNS off; addresses stay with the network's own DHCP server.",
            "port=0",
            f"interface={p.interface}",
            "bind-interfaces",
            "keep-in-foreground",
            "no-resolv",
            "no-hosts",
            f"log-facility={p.log_file}",
            "log-dhcp",
            f"dhcp-range={network.network_address},proxy,{network.netmask}",
            f"dhcp-alternate-port={p.dhcp_port},{p.dhcp_port + 1}"
            if p.dhcp_port != 67
            else "# dhcp on the standard ports 67/68",
            "enable-tftp",
            f"tftp-root={p.tftp_root}",
            "dhcp-match=set:ipxe,175",
            'pxe-prompt="sanitiser network boot",0',
            'pxe-service=tag:!ipxe,x86PC,"sanitiser agent",undionly.kpxe',
            'pxe-service=tag:!ipxe,X86-64_EFI,"sanitiser agent",ipxe.efi',
            'pxe-service=tag:!ipxe,BC_EFI,"sanitiser agent",ipxe.efi',
            f'pxe-service=tag:ipxe,x86PC,"sanitiser agent",{BOOT_SCRIPT}',
            f'pxe-service=tag:ipxe,X86-64_EFI,"sanitiser agent",{BOOT_SCRIPT}',
            f"dhcp-boot=tag:ipxe,{BOOT_SCRIPT}",
            "",
        ]
    )


GRUB_CONFIG = "EFI/debian/grub.cfg"
"""Where Debian's signed GRUB looks first on the disk it was started from (its prefix)."""


def stick_cmdline(cmdline: str) -> str:
    """The command line a stick boots with: `cmdline` and the label /init finds the stick by."""
    return f"{cmdline} sanitiser.stick={STICK_LABEL}"


def syslinux_config(cmdline: str) -> str:
    """The USB stick's syslinux.cfg (BIOS): boot the image at once, no menu."""
    return "\n".join(
        [
            "DEFAULT sanitiser",
            "PROMPT 0",
            "TIMEOUT 0",
            "LABEL sanitiser",
            f"  LINUX /{KERNEL_FILE}",
            f"  INITRD /{INITRD_FILE}",
            f"  APPEND {stick_cmdline(cmdline)}",
            "",
        ]
    )


def grub_config(cmdline: str) -> str:
    """The USB stick's grub.cfg (UEFI): boot the image at once, no menu, from the disk GRUB
    was started from (its root; no search, which could find another disk's files)."""
    return "\n".join(
        [
            "set default=0",
            "set timeout=0",
            'menuentry "sanitiser" {',
            f"  linux /{KERNEL_FILE} {stick_cmdline(cmdline)}",
            f"  initrd /{INITRD_FILE}",
            "}",
            "",
        ]
    )


UDHCPC_SCRIPT = r"""#!/bin/sh
# busybox udhcpc's event script: configure the interface from the lease.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "$interface $ip" > /run/sanitiser/network ;;
esac
exit 0
"""


def init_script(modules: Sequence[str], udev_subsystems: Sequence[str]) -> str:
    """The image's /init (busybox sh, PID 1).

    Mounts the kernel file systems, loads `modules`, starts udev (drive identities: serials,
    WWNs) and replays `udev_subsystems` (all when empty), then by the kernel command line:
    ``sanitiser.selftest=inventory`` (or a file ``selftest`` in the stick's ``sanitiser``
    directory) prints the host report (`sanitiser agent inventory`) between markers, copies it
    to the stick when booted from one, and powers off; ``sanitiser.bench=URL`` brings up the
    network and runs
    ``sanitiser agent run --bench URL --credentials /etc/sanitiser/agent`` (the credentials come
    from the per-session initrd); ``sanitiser.stick=LABEL`` (the USB image) mounts the stick and
    runs ``sanitiser agent run --offline DIR``; ``sanitiser.shell=1`` gives a shell on the
    console. The boot medium's disk is written to /run/sanitiser/boot-device for the guard.
    """
    trigger = " ".join(f"--subsystem-match={s}" for s in udev_subsystems)
    return (
        _INIT.replace("@MODULES@", " ".join(shlex.quote(m) for m in modules))
        .replace("@TRIGGER@", trigger)
        .replace("@CREDENTIALS@", "/" + CREDENTIALS_DIR)
        .replace("@OFFLINE@", OFFLINE_DIR)
        .replace("@BEGIN@", SELFTEST_BEGIN)
        .replace("@END@", SELFTEST_END)
    )


_INIT = r"""#!/bin/sh
# sanitiser donor agent: the boot image's first process (busybox sh).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /mnt/stick
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sfn /proc/self/fd /dev/fd
mkdir -p /run/sanitiser
say() { read -r up _ < /proc/uptime; echo "SANITISER: [$up] $*" > /dev/console; }
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
say "image up: $(cat /etc/sanitiser/image-id 2>/dev/null)"
for m in @MODULES@; do modprobe "$m" 2>/dev/null; done
# UEFI's variables (Secure Boot's state), read-only: the agent only reads them (efivarfs is
# a module in Debian, loaded above)
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs -o ro efivarfs /sys/firmware/efi/efivars
/usr/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/dev/null
udevadm trigger --action=add @TRIGGER@
udevadm settle -t 60
say "devices settled"

network() {  # DHCP on the card that booted (BOOTIF), else on each card until one answers
  want=$(arg BOOTIF | sed 's/^01-//; s/-/:/g')
  for i in 1 2 3 4 5 6 7 8 9 10; do
    for dev in /sys/class/net/*; do
      name=${dev##*/}
      [ "$name" = lo ] && continue
      [ -n "$want" ] && [ "$(cat "$dev/address")" != "$want" ] && continue
      ip link set "$name" up
      udhcpc -i "$name" -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 \
        && return 0
    done
    sleep 1
  done
  return 1
}

stick() {  # the FAT partition labelled LABEL: mount it, name its disk for the guard
  # A USB stick may appear after udev settled (usb-storage scans it a moment after the port
  # comes up; slower still under emulation): look again for up to a minute.
  tries=0
  until part=$(findfs "LABEL=$1" 2>/dev/null); do
    tries=$((tries + 1))
    [ "$tries" -ge 60 ] && return 1
    sleep 1
  done
  mount -t vfat -o rw,noatime "$part" /mnt/stick || return 1
  disk=$(basename "$(readlink -f "/sys/class/block/${part##*/}/..")")
  echo "/dev/$disk" > /run/sanitiser/boot-device
  mkdir -p "/mnt/stick/@OFFLINE@"
}

bench=$(arg sanitiser.bench)
label=$(arg sanitiser.stick)
mounted=
[ -n "$label" ] && { stick "$label" && mounted=1 || say "stick $label not found"; }
mode=run  # the self-test: a kernel argument, or a file 'selftest' in the stick's directory
[ -n "$(arg sanitiser.selftest)" ] && mode=selftest
[ -n "$mounted" ] && [ -e "/mnt/stick/@OFFLINE@/selftest" ] && mode=selftest
if [ "$mode" = selftest ]; then
  [ -n "$bench" ] && { network || say "no DHCP answer"; }
  say "network: $(cat /run/sanitiser/network 2>/dev/null)"
  say "credentials: $(ls @CREDENTIALS@ 2>/dev/null | tr '\n' ' ')"
  say "boot device: $(cat /run/sanitiser/boot-device 2>/dev/null)"
  cd /tmp && python3 -m sanitiser agent inventory > /tmp/selftest.json 2> /tmp/selftest.err
  rc=$?
  { echo "@BEGIN@"; cat /tmp/selftest.json; echo; echo "@END@ rc=$rc"; } > /dev/console
  [ "$rc" = 0 ] || tail -n 20 /tmp/selftest.err > /dev/console
  [ -n "$mounted" ] && cp /tmp/selftest.json "/mnt/stick/@OFFLINE@/selftest.json" \
    && umount /mnt/stick
  [ "$(arg sanitiser.shell)" = 1 ] || { sync; poweroff -f; }
fi
if [ "$mode" = run ]; then
  if [ -n "$bench" ]; then
    network || say "no DHCP answer on any card"
    say "agent: bench $bench"
    python3 -m sanitiser agent run --bench "$bench" --credentials @CREDENTIALS@
    say "agent exited (rc $?)"
  elif [ -n "$mounted" ]; then
    say "agent: offline, evidence on the stick"
    python3 -m sanitiser agent run --offline "/mnt/stick/@OFFLINE@"
    say "agent exited (rc $?)"
    umount /mnt/stick
  else
    say "no sanitiser.bench= and no stick: nothing to run"
  fi
fi
while :; do setsid cttyhack sh -l; done
"""
