"""The drive-lab harness's pure parts: image verdicts, the QEMU command line, the guest scripts."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from tests.lab.drivelab import (
    BLOCK,
    MIB,
    SLACK,
    ImageVerdict,
    LabAssets,
    LabDrive,
    LabError,
    classify_blocks,
    drive_args,
    fill_image,
    image_state,
    kvm_usable,
    parse_drive_spec,
    parse_setup_output,
    pattern_block,
    qemu_argv,
    steps_script,
)

ASSETS = LabAssets(Path("/c/kernel"), Path("/c/initrd.gz"), Path("/c/kx/lib/modules"))


def test_pattern_blocks_differ_per_block() -> None:
    """Each block's pattern is unique, so a block written to the wrong place shows."""
    assert len(pattern_block(0)) == BLOCK
    assert pattern_block(0) != pattern_block(1)
    assert b"blk=0000000007" in pattern_block(7)


def test_filled_image_is_untouched_and_zeroing_a_block_makes_it_partial(tmp_path: Path) -> None:
    """A fresh image reads as untouched; one zeroed block makes it partial, all zeros zeroed."""
    img = tmp_path / "d.img"
    fill_image(img, 1)
    assert img.stat().st_size == MIB
    assert image_state(img).verdict is ImageVerdict.UNTOUCHED
    with img.open("r+b") as f:
        f.seek(3 * BLOCK)
        f.write(bytes(BLOCK))
    state = image_state(img)
    assert (state.verdict, state.zero, state.first_pattern_block) == (ImageVerdict.PARTIAL, 1, 0)
    img.write_bytes(bytes(MIB))
    assert image_state(img).verdict is ImageVerdict.ZEROED


def test_blocks_in_the_wrong_place_count_as_other() -> None:
    """Block 1's pattern at block 0 is neither pattern nor zero: overwritten, not untouched."""
    state = classify_blocks(pattern_block(1) + b"\xff" * BLOCK)
    assert (state.pattern, state.zero, state.other) == (0, 0, 2)
    assert state.verdict is ImageVerdict.OVERWRITTEN


def test_drive_args_add_each_controller_once(tmp_path: Path) -> None:
    """Two USB drives share one xHCI; SATA drives take successive AHCI ports."""
    drives = [
        LabDrive("usb", "U1", tmp_path / "u1", 8),
        LabDrive("usb", "U2", tmp_path / "u2", 8),
        LabDrive("sata", "S1", tmp_path / "s1", 8, model="M", extra="rotation_rate=1"),
        LabDrive("sata", "S2", tmp_path / "s2", 8),
    ]
    args = drive_args(drives)
    devices = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
    assert devices.count("qemu-xhci,id=xhci0") == 1
    assert "ide-hd,drive=d2,bus=ide.0,serial=S1,model=M,rotation_rate=1" in devices
    assert "ide-hd,drive=d3,bus=ide.1,serial=S2" in devices


def test_drive_args_refuse_a_serial_qemu_would_mangle(tmp_path: Path) -> None:
    """A serial with a comma would split QEMU's option string: refused."""
    with pytest.raises(LabError, match="serial"):
        drive_args([LabDrive("nvme", "A,B", tmp_path / "x", 8)])


def test_qemu_argv_shares_the_root_read_only_and_names_the_guest_init(tmp_path: Path) -> None:
    """The host's / goes in read-only, the share writable, and the kernel finds the guest init."""
    argv = qemu_argv(ASSETS, [LabDrive("nvme", "N1", tmp_path / "n", 8)], tmp_path)
    fsdevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-fsdev"]
    assert "local,id=fsh,path=/,security_model=none,readonly=on,multidevs=remap" in fsdevs
    assert f"local,id=fsl,path={tmp_path},security_model=none" in fsdevs
    append = argv[argv.index("-append") + 1]
    assert "lab.ndisks=1" in append
    assert "lab.init=" in append
    assert (Path(append.split("lab.init=")[1].split()[0])).is_file()


def test_steps_script_is_valid_bash_and_rejects_odd_step_names() -> None:
    """The generated runner parses as bash; a step name with a slash is refused."""
    script = steps_script({"scan": "true", "raw.udevadm.S1": "true"}, 30)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert f"read -r -t {round(30 * SLACK)}" in script  # the bound, with the lab's slack
    with pytest.raises(LabError, match="step name"):
        steps_script({"../x": "true"}, 30)


def test_steps_script_runs_at_most_parallel_steps_at_once() -> None:
    """The pool limit is the plan's `parallel`; zero is refused."""
    script = steps_script({"a": "true", "b": "true"}, 30, parallel=2)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert "${#STEP[@]} >= 2" in script
    with pytest.raises(LabError, match="parallel"):
        steps_script({"a": "true"}, 30, parallel=0)


def test_setup_output_is_parsed_and_a_missing_line_is_an_error() -> None:
    """lab-setup's KEY=VALUE lines give the assets; a missing one names itself."""
    text = "noise\nKERNEL=/k\nINITRD=/i\nMODULES=/m\n"
    assert parse_setup_output(text) == LabAssets(Path("/k"), Path("/i"), Path("/m"))
    with pytest.raises(LabError, match="MODULES"):
        parse_setup_output("KERNEL=/k\nINITRD=/i\n")


def test_kvm_needs_both_the_device_and_vmx_or_svm() -> None:
    """A paravirtual /dev/kvm without vmx/svm is not usable: TCG is chosen."""
    assert kvm_usable("flags : fpu vmx sse", kvm_writable=True)
    assert not kvm_usable("flags : fpu sse hypervisor", kvm_writable=True)
    assert not kvm_usable("flags : fpu svm", kvm_writable=False)


def test_drive_spec_defaults_and_errors() -> None:
    """KIND:SERIAL gets 64 MiB; an unknown kind is an argparse error."""
    assert parse_drive_spec("nvme:N1") == ("nvme", "N1", 64, "", "")
    assert parse_drive_spec("sata:S1:48:LabSATA:rotation_rate=1") == (
        "sata",
        "S1",
        48,
        "LabSATA",
        "rotation_rate=1",
    )
    with pytest.raises(argparse.ArgumentTypeError):
        parse_drive_spec("floppy:F1")
