"""Choosing a drive by name on the command line: only a non-empty, unique identifier matches."""

from __future__ import annotations

import pytest

from sanitiser.app.naming import match_drive
from sanitiser.app.services import DriveStatus
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Protection, Transport


def status(path: str, name: str, serial: str = "", by_id: str = "") -> DriveStatus:
    drive = Drive(
        path=path,
        name=name,
        model="M",
        serial=serial,
        size_bytes=1 << 30,
        transport=Transport.USB,
        by_id=by_id,
    )
    return DriveStatus(drive, UNKNOWN_HEALTH, Protection(protected=False, reasons=()))


BENCH = [
    status("/dev/sdb", "sdb"),  # a USB bridge that reports no serial and no by-id link
    status("/dev/sdc", "sdc", serial="sdb"),  # a serial that is another drive's kernel name
    status("/dev/sdd", "sdd", serial="WD-1", by_id="/dev/disk/by-id/usb-WD-1"),
]


@pytest.mark.parametrize("blank", ["", " ", "\t", "\n"])
def test_a_blank_name_matches_nothing(blank: str) -> None:
    assert match_drive(BENCH, blank) == "an empty name matches no drive (an unset variable?)"


def test_a_name_that_fits_two_drives_is_refused() -> None:
    reason = match_drive(BENCH, "sdb")
    assert reason == "'sdb' names more than one drive (/dev/sdb, /dev/sdc): use the device path"


@pytest.mark.parametrize(
    ("wanted", "path"),
    [
        ("/dev/sdb", "/dev/sdb"),
        ("sdd", "/dev/sdd"),
        ("WD-1", "/dev/sdd"),
        ("/dev/disk/by-id/usb-WD-1", "/dev/sdd"),
    ],
)
def test_a_unique_identifier_matches_its_drive(wanted: str, path: str) -> None:
    found = match_drive(BENCH, wanted)
    assert isinstance(found, DriveStatus)
    assert found.drive.path == path


def test_an_unknown_name_says_so() -> None:
    assert match_drive(BENCH, "sdz") == "no such drive (see 'sanitiser scan')"
