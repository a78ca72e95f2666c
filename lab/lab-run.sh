#!/usr/bin/env bash
# Boot the drive-lab guest with emulated drives and run a script in it (or a serial shell).
#   lab/lab-run.sh -o WORKDIR -d nvme:LABNVME1:64 -d sata:LABSATA1:48:LabSATA:rotation_rate=1 \
#                  -d usb:LABUSB01:32 -d vscsi:LABSCSI1:56 -c guest.sh
#   lab/lab-run.sh -o WORKDIR -d nvme:N1 -i          # interactive shell (ctrl-a x quits)
# KIND: nvme sata usb uas vblk vscsi. Images WORKDIR/SERIAL.img are filled with the lab pattern
# when new and reused as they are otherwise; after the run each one's state is printed
# (untouched / zeroed / overwritten / partial). The guest's results: WORKDIR/share/ (out.txt,
# console.log, dmesg.txt). Runs lab/lab-setup.sh first (cached). The harness is
# tests/lab/drivelab.py (standard library only), which the test suite uses too.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec python3 "$HERE/../tests/lab/drivelab.py" "$@"
