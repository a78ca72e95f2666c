"""NVMe probe parsers over real nvme-cli 2.3 JSON from the QEMU 7.2 controller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.probe.nvme import (
    SanitizeStatus,
    parse_id_ctrl,
    parse_id_ns,
    parse_nvme_list,
    parse_nvme_status,
    parse_sanitize_log,
)


def _qemu(reference: Path, name: str) -> str:
    return (reference / "qemu-7.2" / name).read_text()


def test_id_ctrl_real_qemu(reference: Path) -> None:
    """QEMU: Format NVM supported (oacs 266), no sanitize, no crypto format; strings stripped."""
    caps = parse_id_ctrl(_qemu(reference, "nvme-id-ctrl.json"))
    assert (caps.serial, caps.model, caps.firmware) == ("NVME0001", "QEMU NVMe Ctrl", "7.2.22")
    assert caps.format_supported
    assert caps.namespace_management
    assert not caps.security_send_receive
    assert not caps.sanitize_any
    assert not caps.format_crypto_erase
    assert not caps.format_applies_to_all
    assert caps.namespaces == 256


def test_id_ctrl_negative_sanicap_is_masked(reference: Path) -> None:
    """nvme-cli 2.3 prints sanicap with bit 31 set as negative; masking recovers the bits."""
    data = json.loads(_qemu(reference, "nvme-id-ctrl.json"))
    data.update(sanicap=-2147483645, fna=7)  # 0x80000003: NODMMAS=2, crypto + block
    caps = parse_id_ctrl(json.dumps(data))
    assert caps.sanicap == 0x80000003
    assert caps.sanitize_crypto
    assert caps.sanitize_block
    assert not caps.sanitize_overwrite
    assert caps.nodmmas == 2
    assert not caps.no_dealloc_inhibited
    assert caps.format_applies_to_all
    assert caps.crypto_erase_applies_to_all
    assert caps.format_crypto_erase


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"sn":"x"}', '{"oacs":"266"}'])
def test_id_ctrl_malformed_raises_with_raw(text: str) -> None:
    """Malformed id-ctrl is a ToolOutputError with the raw text, never a KeyError."""
    with pytest.raises(ToolOutputError) as info:
        parse_id_ctrl(text)
    assert info.value.raw == text


def test_id_ns_real_qemu(reference: Path) -> None:
    """QEMU namespace: 131072 blocks of 512 bytes, 8 formats, deallocated reads zeros."""
    ns = parse_id_ns(_qemu(reference, "nvme-id-ns.json"))
    assert ns.size_blocks == ns.capacity_blocks == ns.used_blocks == 131072
    assert len(ns.lba_formats) == 8
    assert ns.current_lbaf == 0
    assert ns.block_size == 512
    assert ns.size_bytes == 67108864
    assert ns.lba_formats[4].block_size == 4096
    assert ns.deallocated_reads_zeros


def test_id_ns_flbas_selects_format(reference: Path) -> None:
    """flbas bits 3:0 pick the format in use."""
    data = json.loads(_qemu(reference, "nvme-id-ns.json"))
    data["flbas"] = 4
    assert parse_id_ns(json.dumps(data)).block_size == 4096


def test_id_ns_inconsistent_formats_raise(reference: Path) -> None:
    """nlbaf larger than the lbafs list, or flbas past it, is malformed."""
    data = json.loads(_qemu(reference, "nvme-id-ns.json"))
    data["lbafs"] = data["lbafs"][:2]
    with pytest.raises(ToolOutputError):
        parse_id_ns(json.dumps(data))
    data = json.loads(_qemu(reference, "nvme-id-ns.json"))
    data["flbas"] = 9
    with pytest.raises(ToolOutputError):
        parse_id_ns(json.dumps(data))


def test_list_real_qemu(reference: Path) -> None:
    """`nvme list -o json` flat v2.3 shape."""
    (entry,) = parse_nvme_list(_qemu(reference, "nvme-list.json"))
    assert entry.device_path == "/dev/nvme0n1"
    assert entry.serial == "NVME0001"
    assert entry.sector_size == 512
    assert entry.physical_size == 67108864


def test_sanitize_log_on_qemu_is_an_error(reference: Path) -> None:
    """QEMU answers sanitize-log with an NVMe status error: not a log."""
    text = _qemu(reference, "nvme-sanitize-log.json")
    with pytest.raises(ToolOutputError):
        parse_sanitize_log(text)
    status = parse_nvme_status(text)
    assert status is not None
    assert status.name == "Invalid Field in Command"
    assert status.code == 0x4002


DOC_LOG = {
    "nvme0": {
        "sprog": 65535,
        "sstat": {
            "global_erased": 1,
            "no_cmplted_passes": 0,
            "status": "(1) Most Recent Sanitize Command Completed Successfully.",
        },
        "cdw10_info": 4,
        "time_over_write": -1,
        "time_block_erase": 120,
        "time_crypto_erase": -1,
    }
}


def test_sanitize_log_completed() -> None:
    """The DEVICE-COMMANDS §2.7 example: status 1, sprog 65535, estimates -1 -> None."""
    log = parse_sanitize_log(json.dumps(DOC_LOG))
    assert log.device == "nvme0"
    assert log.status is SanitizeStatus.COMPLETED
    assert log.succeeded
    assert not log.in_progress
    assert not log.failed
    assert log.global_erased
    assert log.cdw10 == 4
    assert dict(log.estimates) == {
        "time_block_erase": 120,
        "time_crypto_erase": None,
        "time_over_write": None,
    }


@pytest.mark.parametrize(
    ("status", "sprog", "expected", "succeeded", "percent"),
    [
        ("(2) Sanitize in Progress.", 16384, SanitizeStatus.IN_PROGRESS, False, 25),
        ("(3) Most Recent Sanitize Command Failed.", 65535, SanitizeStatus.FAILED, False, 100),
        ("(0) NVM Subsystem has never been sanitized.", 65535, SanitizeStatus.NEVER, False, 100),
        (
            "(4) Most Recent Sanitize Command (No-Deallocate After Sanitize) Completed "
            "Successfully.", 65535, SanitizeStatus.COMPLETED_NO_DEALLOC, True, 100,
        ),
    ],
)  # fmt: skip
def test_sanitize_log_status_from_leading_number(
    status: str, sprog: int, expected: SanitizeStatus, succeeded: bool, percent: int
) -> None:
    """The status comes from the leading "(N)" of the string."""
    data = json.loads(json.dumps(DOC_LOG))
    data["nvme0"]["sstat"]["status"] = status
    data["nvme0"]["sprog"] = sprog
    log = parse_sanitize_log(json.dumps(data))
    assert log.status is expected
    assert log.succeeded is succeeded
    assert log.progress_percent == percent


@pytest.mark.parametrize(
    "body",
    [{"a": 1, "b": 2}, {"nvme0": {"sprog": 1}}, {"nvme0": {"sprog": 1, "sstat": {"status": "x"}}}],
)
def test_sanitize_log_malformed_raises(body: dict[str, object]) -> None:
    """Two device keys, no sstat, or an unreadable status are all ToolOutputErrors."""
    with pytest.raises(ToolOutputError):
        parse_sanitize_log(json.dumps(body))


def test_status_line_from_transcript(reference: Path) -> None:
    """The lab transcript's "Invalid Command Opcode" line decodes to its name and code."""
    path = reference / "qemu-7.2" / "transcript-sanitise-attempts.txt"
    transcript = path.read_text(errors="replace")  # sg_sanitize printed raw LU name bytes
    line = next(x for x in transcript.splitlines() if "Invalid Command Opcode" in x)
    status = parse_nvme_status(line)
    assert status is not None
    assert (status.name, status.code) == ("Invalid Command Opcode", 0x4001)
    assert parse_nvme_status("Success formatting namespace:1\n") is None


@pytest.mark.parametrize("key", ["mn", "sn", "fr"])
def test_id_ctrl_without_its_model_serial_or_firmware_raises(reference: Path, key: str) -> None:
    """An id-ctrl report without its model, serial or firmware field is not read as blanks."""
    data = json.loads((reference / "qemu-7.2" / "nvme-id-ctrl.json").read_text())
    del data[key]
    text = json.dumps(data)
    with pytest.raises(ToolOutputError, match=f"missing or non-text '{key}'") as failed:
        parse_id_ctrl(text)
    assert failed.value.raw == text
