"""`probe()` per transport through the runner seam, and the technique options a policy sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sanitiser.devices.probing import probe
from sanitiser.domain import Drive, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.emulators.scsi import ScsiDriveEmulator
from sanitiser.probe.capabilities import Capabilities, Technique, sat_works
from sanitiser.testing import FakeRunner


def drive(path: str, transport: Transport) -> Drive:
    return Drive(path=path, name=path.rsplit("/", 1)[-1], model="m", serial="s",
                 size_bytes=1 << 20, transport=transport)  # fmt: skip


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    """A 2 MiB medium."""
    path = tmp_path / "disk.img"
    path.write_bytes(b"\x11" * (2 << 20))
    return path


def test_sata_probe_on_a_healthy_drive(backing: Path) -> None:
    """SATA: --Istdout, -N and --dco-identify; sanitize first, then security erase, all usable."""
    ata = AtaDriveEmulator(backing, sectors=3900, dco=100, hpa=50)
    runner = EmulatedRunner({"/dev/sda": ata})
    caps = probe(drive("/dev/sda", Transport.SATA), runner)
    assert [c[:2] for c in runner.calls] == [("hdparm", "--Istdout"), ("hdparm", "-N"),
                                              ("hdparm", "--dco-identify")]  # fmt: skip
    assert caps.ata is not None
    assert caps.ata.sanitize_any
    assert caps.hidden_sectors == 150
    assert caps.usable == (
        Technique.ATA_SANITIZE_CRYPTO,
        Technique.ATA_SANITIZE_BLOCK,
        Technique.ATA_SANITIZE_OVERWRITE,
        Technique.ATA_SECURITY_ERASE_ENHANCED,
        Technique.ATA_SECURITY_ERASE,
        Technique.HOST_OVERWRITE,
    )
    assert len(caps.commands) == 3
    assert caps.notes == ()


def test_sata_frozen_blocks_security_erase_with_reason(backing: Path) -> None:
    """Frozen: security erase is listed but blocked, and the reason says how to unfreeze."""
    ata = AtaDriveEmulator(backing, sanitize=(), frozen=True)
    caps = probe(drive("/dev/sda", Transport.SATA), EmulatedRunner({"/dev/sda": ata}))
    blocked = {o.technique: o for o in caps.options if not o.usable}
    assert Technique.ATA_SECURITY_ERASE in blocked
    assert "frozen" in blocked[Technique.ATA_SECURITY_ERASE].reason
    assert caps.usable == (Technique.HOST_OVERWRITE,)


def test_sata_qemu_real_outputs_fall_back_to_text_and_offer_only_overwrite(
    reference: Path,
) -> None:
    """QEMU AHCI: -I text parses, no security/sanitize, untrustworthy; host overwrite only."""
    q = reference / "qemu-7.2"
    runner = (
        FakeRunner()
        .reply(("hdparm", "--Istdout"), returncode=5, stderr="HDIO_DRIVE_CMD(identify) failed\n")
        .reply(("hdparm", "-I"), (q / "hdparm-I-qemu-ahci.txt").read_text(),
               (q / "hdparm-I-qemu-ahci.stderr").read_text())
        .reply(("hdparm", "-N"), (q / "hdparm-N-qemu-ahci.txt").read_text())
    )  # fmt: skip
    caps = probe(drive("/dev/sda", Transport.SATA), runner)
    assert caps.ata is not None
    assert caps.ata.source == "text"
    assert not caps.ata.trustworthy
    assert caps.hpa is not None
    assert not caps.hpa.hpa_enabled
    assert caps.usable == (Technique.HOST_OVERWRITE,)


def test_sata_identify_failure_becomes_a_note() -> None:
    """No hdparm at all: a note, no ATA part, still a value (never an exception)."""
    caps = probe(drive("/dev/sda", Transport.SATA), FakeRunner())
    assert caps.ata is None
    assert caps.notes
    assert "ATA IDENTIFY failed" in caps.notes[0]


def test_nvme_probe_with_emulator(backing: Path) -> None:
    """NVMe: id-ctrl, id-ns and sanitize-log on the namespace; sanitize before format."""
    nvme = NvmeDriveEmulator(backing, namespace="/dev/nvme0n1", fna=0x4)
    runner = EmulatedRunner({"/dev/nvme0n1": nvme})
    caps = probe(drive("/dev/nvme0n1", Transport.NVME), runner)
    assert [c[1] for c in runner.calls] == ["id-ctrl", "id-ns", "sanitize-log"]
    assert caps.namespace is not None
    assert caps.namespace.size_bytes == 2 << 20
    assert caps.usable[:3] == (
        Technique.NVME_SANITIZE_CRYPTO,
        Technique.NVME_SANITIZE_BLOCK,
        Technique.NVME_SANITIZE_OVERWRITE,
    )
    assert Technique.NVME_FORMAT_CRYPTO in caps.usable
    runner.run(("nvme", "sanitize", "/dev/nvme0n1", "--sanact=2"))
    busy = probe(drive("/dev/nvme0n1", Transport.NVME), runner)
    assert busy.sanitize_log is not None
    assert busy.usable == (Technique.HOST_OVERWRITE,)


def test_nvme_qemu_real_outputs(reference: Path) -> None:
    """QEMU NVMe: only Format (user data erase); no sanitize log asked for."""
    q = reference / "qemu-7.2"
    runner = (
        FakeRunner()
        .reply(("nvme", "id-ctrl"), (q / "nvme-id-ctrl.json").read_text())
        .reply(("nvme", "id-ns"), (q / "nvme-id-ns.json").read_text())
    )
    caps = probe(drive("/dev/nvme0n1", Transport.NVME), runner)
    assert caps.usable == (Technique.NVME_FORMAT_USER_DATA, Technique.HOST_OVERWRITE)
    assert all(c[1] != "sanitize-log" for c in runner.calls)


def test_scsi_probe_with_emulator(backing: Path) -> None:
    """SAS disk: SANITIZE by SA and FORMAT UNIT from sg_opcodes."""
    scsi = ScsiDriveEmulator(backing, device="/dev/sdb", sanitize=("crypto",))
    caps = probe(drive("/dev/sdb", Transport.SCSI), EmulatedRunner({"/dev/sdb": scsi}))
    assert caps.usable == (
        Technique.SCSI_SANITIZE_CRYPTO,
        Technique.SCSI_FORMAT_UNIT,
        Technique.HOST_OVERWRITE,
    )


def test_scsi_qemu_without_rsoc_lists_unknown_as_blocked(reference: Path) -> None:
    """QEMU SCSI disk: RSOC unsupported, so SANITIZE/FORMAT are unknown, not usable."""
    q = reference / "qemu-7.2"
    runner = (
        FakeRunner()
        .reply(("sg_inq",), (q / "sg_inq-sdb.txt").read_text())
        .reply(("sg_opcodes",), (q / "sg_opcodes-sdb.txt").read_text(), returncode=9)
        .reply(("sg_readcap",), (q / "sg_readcap-sdb.txt").read_text())
    )
    caps = probe(drive("/dev/sdb", Transport.SCSI), runner)
    unknown = [o for o in caps.options if not o.usable]
    assert {o.technique for o in unknown} == {
        Technique.SCSI_SANITIZE_CRYPTO,
        Technique.SCSI_SANITIZE_BLOCK,
        Technique.SCSI_SANITIZE_OVERWRITE,
        Technique.SCSI_FORMAT_UNIT,
    }
    assert caps.usable == (Technique.HOST_OVERWRITE,)


def test_scsi_satl_also_probes_ata(reference: Path, backing: Path) -> None:
    """Vendor ATA behind a SATL: no SCSI techniques, the ATA ones instead."""
    q = reference / "qemu-7.2"
    ata = AtaDriveEmulator(backing, device="/dev/sda")
    fallback = (
        FakeRunner()
        .reply(("sg_inq",), (q / "sg_inq-sda.txt").read_text())
        .reply(("sg_opcodes",), (q / "sg_opcodes-sda.txt").read_text())
        .reply(("sg_readcap",), (q / "sg_readcap-sda.txt").read_text())
    )
    caps = probe(drive("/dev/sda", Transport.SCSI), EmulatedRunner({"/dev/sda": ata}, fallback))
    assert caps.scsi is not None
    assert caps.scsi.is_satl
    assert caps.ata is not None
    assert Technique.ATA_SANITIZE_BLOCK in caps.usable
    assert not any(t.value.startswith("scsi-") for t in caps.usable)


def test_usb_with_sat_reads_ata_but_blocks_firmware_erase(reference: Path, backing: Path) -> None:
    """SAT works (smartctl reached ATA): ATA facts known, but erase waits for a SATA port."""
    smart = (reference / "qemu-7.2" / "smartctl-sda.json").read_text()
    ata = AtaDriveEmulator(backing, device="/dev/sdc")
    fallback = FakeRunner().reply(("smartctl",), smart)
    caps = probe(drive("/dev/sdc", Transport.USB), EmulatedRunner({"/dev/sdc": ata}, fallback))
    assert caps.sat_passthrough is True
    assert caps.ata is not None
    assert caps.usable == (Technique.HOST_OVERWRITE,)
    blocked = [o for o in caps.options if not o.usable]
    assert blocked
    assert all("USB bridge" in o.reason for o in blocked)


def test_usb_without_sat_is_clear_only(reference: Path) -> None:
    """A stick: smartctl cannot detect the type -> no pass-through, only host overwrite."""
    failed = json.dumps({"smartctl": {"exit_status": 1}, "device": {}})
    q = reference / "qemu-7.2"
    runner = (
        FakeRunner()
        .reply(("smartctl",), failed, returncode=1)
        .reply(("sg_inq",), (q / "sg_inq-sdc.txt").read_text())
        .reply(("sg_readcap",), (q / "sg_readcap-sdc.txt").read_text())
    )
    caps = probe(drive("/dev/sdc", Transport.USB), runner)
    assert caps.sat_passthrough is False
    assert caps.ata is None
    assert caps.scsi is not None
    assert caps.scsi.block_count == 122880
    assert caps.usable == (Technique.HOST_OVERWRITE,)
    assert any("only Clear" in n for n in caps.notes)
    assert all(c[0] != "hdparm" for c in runner.calls)


@pytest.mark.parametrize("transport", [Transport.LOOP, Transport.VIRTIO])
def test_nothing_to_probe(transport: Transport) -> None:
    """Loop/virtio: no commands run; host overwrite only (MMC probes: test_methods_mmc)."""
    runner = FakeRunner()
    caps = probe(drive("/dev/x", transport), runner)
    assert runner.calls == []
    assert caps.usable == (Technique.HOST_OVERWRITE,)
    assert caps.virtual is (transport is not Transport.MMC)


def test_sat_works_decoding(reference: Path) -> None:
    """smartctl JSON: exit bits 0-2 clear and protocol ATA means pass-through works."""
    assert sat_works((reference / "qemu-7.2" / "smartctl-sda.json").read_text())
    assert not sat_works("not json")
    assert not sat_works(
        json.dumps({"smartctl": {"exit_status": 4}, "device": {"protocol": "ATA"}})
    )
    assert not sat_works(
        json.dumps({"smartctl": {"exit_status": 0}, "device": {"protocol": "SCSI"}})
    )


def test_capabilities_default_is_overwrite_only() -> None:
    """An empty value still offers the host overwrite and hides nothing."""
    caps = Capabilities(Transport.UNKNOWN)
    assert caps.usable == (Technique.HOST_OVERWRITE,)
    assert caps.hidden_sectors == 0
