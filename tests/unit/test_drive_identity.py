"""Whether a drive key names one physical drive (`is_identity`): a serial or WWN that
identifies something does; a path, a missing or placeholder serial does not."""

from __future__ import annotations

import dataclasses

import pytest

from sanitiser.certificate.samples import sample_drive
from sanitiser.domain import Transport
from sanitiser.store.identity import drive_key, is_identity, record_drive_key


@pytest.mark.parametrize(
    "key",
    [
        "sata:S3Z9NB0K123456X:0x5002538e4000abcd",
        "sata:S3Z9NB0K123456X:",
        "nvme::0x5002538e4000abcd",
        "usb:AA:BB:CC:",  # a serial with colons in it
        "mmc:0x1a2b3c4d:",
    ],
)
def test_a_serial_or_wwn_is_an_identity(key: str) -> None:
    assert is_identity(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "path:/dev/sdb",
        "path:",
        "usb::",
        "usb:Not Specified:",
        "sata:  none :",
        "usb:000000000000:",
        "usb:FFFF-FFFF:",
        "usb:--:",
        "sata::0x0000000000000000",
        "usb:To Be Filled By O.E.M.:0x0",
    ],
)
def test_a_path_or_placeholder_is_no_identity(key: str) -> None:
    assert not is_identity(key)


def test_the_predicate_reads_the_keys_the_store_makes() -> None:
    drive = sample_drive()
    assert is_identity(drive_key(drive))
    reader = dataclasses.replace(drive, serial="", wwn="", transport=Transport.USB)
    assert drive_key(reader) == "path:/dev/sdb"
    assert not is_identity(drive_key(reader))
    placeholder = dataclasses.replace(reader, serial="Not Specified")
    assert not is_identity(drive_key(placeholder))
    record = {"device": {"serial": "", "wwn": "", "path": "/dev/sdb", "transport": "usb"}}
    assert not is_identity(record_drive_key(record))
    record["device"]["serial"] = "SD0001"
    assert is_identity(record_drive_key(record))
