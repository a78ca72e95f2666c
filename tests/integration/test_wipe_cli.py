"""`sanitiser wipe` and `sanitiser jobs` in a subprocess, as automation runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sanitiser.certificate.sign import parse_envelope
from sanitiser.domain import DestinationKind
from sanitiser.lab.bench import PATTERN_MAGIC
from sanitiser.routing.rules import CERTIFICATE_ROUTES
from sanitiser.store import Store
from sanitiser.store.audit import entries, verify_chain
from sanitiser.store.identity import record_drive_key

OUTCOME_KEYS = {"method", "nist_category", "verified", "status", "reason", "certificate_id"}
ROUTING_KEYS = {"destination", "routing_reason", "destruction_level"}
LAB_SERIALS = {"SIM-HDD-0001", "SIM-SSD-0001", "SIM-NVME-0001", "SIM-USB-0001", "SIM-UHDD-0001"}


def sanitiser(
    tmp_path: Path, *args: str, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the test's isolated settings, in tmp_path (certs there too)."""
    env = dict(os.environ)
    env.update(
        SANITISER_CERTS_DIR=str(tmp_path / "certs"),
        SANITISER_LAB_DRIVE_MIB="4",
        SANITISER_POLL_INTERVAL="0.01",
        SANITISER_STATION="bench-ci",
    )
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        timeout=timeout,
    )


def lines(out: str) -> list[dict[str, Any]]:
    """Every stdout line is one JSON object."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def outcomes(out: str) -> dict[str, dict[str, Any]]:
    """The final outcome object per device."""
    return {o["device"]: o for o in lines(out) if o["event"] == "outcome"}


def lab_file(data: Path, serial: str) -> Path:
    """The backing file of a lab drive."""
    return data / "lab" / f"{serial}.img"


def check_routed_and_in_custody(store: Store, o: dict[str, Any]) -> None:
    """A sanitised outcome names its destination, its certificate records the same route, and
    the drive's custody trail reads received (the wipe scanned it), sanitised, routed."""
    assert o.keys() >= OUTCOME_KEYS | ROUTING_KEYS
    kind = DestinationKind(o["destination"])
    assert o["routing_reason"]
    assert bool(o["destruction_level"]) == (kind is DestinationKind.DESTROY)
    raw = store.certificate_record(o["certificate_id"])
    assert raw is not None
    record = parse_envelope(raw).record
    assert record["destination"]["route"] == CERTIFICATE_ROUTES[kind]
    trail = entries(store, station="bench-ci", subject=record_drive_key(record))
    assert [e.kind for e in trail] == ["received", "sanitised", "routed"]
    assert [e.ref for e in trail[1:]] == [o["certificate_id"]] * 2
    assert trail[2].data["destination_kind"] == kind.value


def test_wipe_lab_drives_prints_json_lines_and_exits_zero(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """Two lab drives: JSON event lines, one outcome each with the contract keys, certificates
    kept in the store, operator and station recorded, exit 0."""
    out = sanitiser(
        tmp_path,
        "wipe",
        "--lab",
        "lab-nvme0",
        "lab-sata-ssd0",
        "--method",
        "auto",
        "--operator",
        "tech-7",
        "--yes",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    events = lines(out.stdout)
    assert {"phase", "log", "outcome"} <= {e["event"] for e in events}
    final = outcomes(out.stdout)
    assert len(final) == 2
    store = Store(f"sqlite:///{isolated_settings / 'sanitiser.db'}")
    for o in final.values():
        assert o.keys() >= OUTCOME_KEYS
        assert (o["status"], o["verified"], o["nist_category"]) == ("sanitised", True, "purge")
        assert (o["operator"], o["station"]) == ("tech-7", "bench-ci")
        assert store.certificate_record(o["certificate_id"]) is not None
        # Purged and verified, but a 4 MiB lab drive is too small for the reuse rule.
        assert o["destination"] == "recycle", o["routing_reason"]
        check_routed_and_in_custody(store, o)
    assert verify_chain(store).ok
    for serial in ("SIM-NVME-0001", "SIM-SSD-0001"):
        assert PATTERN_MAGIC not in lab_file(isolated_settings, serial).read_bytes()[: 1 << 16]
    listed = json.loads(sanitiser(tmp_path, "jobs", "--json").stdout)
    assert sorted(j["state"] for j in listed) == ["routed", "routed"]
    assert {j["operator"] for j in listed} == {"tech-7"}


def test_a_refused_method_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    """A technique the policy does not accept for the drive: status refused, exit 1."""
    out = sanitiser(
        tmp_path, "wipe", "--lab", "lab-usb-flash0", "--method", "nvme-sanitize-crypto",
        "--yes", "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    [o] = outcomes(out.stdout).values()
    assert o.keys() >= OUTCOME_KEYS
    assert o["status"] == "refused"
    assert "does not accept" in o["reason"]
    assert o["certificate_id"] is None
    # Refused before any plan: nothing was attempted, so nothing is decided for the drive.
    assert (o["destination"], o["routing_reason"], o["destruction_level"]) == ("", "", "")


def test_a_stick_strict_cannot_purge_is_refused_and_routed_to_destruction(tmp_path: Path) -> None:
    """--policy strict asks Purge of a USB stick, which software cannot give: the job is
    refused, exit 1, and the outcome routes the stick to destruction at strict's flash level
    and names the signed record of that (destruction planned: NOT sanitised)."""
    out = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-flash0", "--policy", "strict",
                    "--yes", "--json")  # fmt: skip
    assert out.returncode == 1, out.stderr
    [o] = outcomes(out.stdout).values()
    assert (o["status"], o["state"]) == ("refused", "failed")
    assert o["certificate_id"]
    assert "sent to destruction by policy" in o["reason"]
    assert (o["destination"], o["destruction_level"]) == ("destroy", "ISO/IEC 21964 E-5")
    assert o["routing_reason"].startswith("strict policy: anything not purged")


def test_wipe_every_lab_drive_sanitises_them_all(tmp_path: Path, isolated_settings: Path) -> None:
    """Regression: `wipe --lab --all` sanitises every lab drive (the USB stick's
    policy-defined 'pattern-complement' overwrite used to be refused), exit 0; each is
    routed, certified with that route, and in custody; the audit chain verifies."""
    out = sanitiser(tmp_path, "wipe", "--lab", "--all", "--yes", "--json")
    final = outcomes(out.stdout)
    assert out.returncode == 0, (out.stderr, final)
    assert {o["serial"] for o in final.values()} == LAB_SERIALS
    assert all(o["status"] == "sanitised" for o in final.values()), final
    store = Store(f"sqlite:///{isolated_settings / 'sanitiser.db'}")
    for o in final.values():
        check_routed_and_in_custody(store, o)
    stick = next(o for o in final.values() if o["serial"] == "SIM-USB-0001")
    assert (stick["method"], stick["nist_category"]) == ("host-overwrite", "clear")
    for serial in LAB_SERIALS:
        assert PATTERN_MAGIC not in lab_file(isolated_settings, serial).read_bytes()[: 1 << 16]
    assert verify_chain(store).ok
    listed = json.loads(sanitiser(tmp_path, "jobs", "--json").stdout)
    assert sorted(j["state"] for j in listed) == ["routed"] * len(LAB_SERIALS)


def test_the_system_disk_is_refused_even_with_yes(tmp_path: Path) -> None:
    """The disk holding / is refused with the guard's reason, nothing runs, exit non-zero."""
    root = os.stat("/").st_dev
    name = Path(f"/sys/dev/block/{os.major(root)}:{os.minor(root)}").resolve()
    disk = name.parent.name if (name / "partition").exists() else name.name
    if not Path(f"/dev/{disk}").exists():
        pytest.skip(f"/ is not on a block device here ({disk})")
    out = sanitiser(tmp_path, "wipe", f"/dev/{disk}", "--yes", "--json")
    assert out.returncode == 1
    [o] = outcomes(out.stdout).values()
    assert o["status"] == "refused"
    assert o["job_id"] is None
    assert "root filesystem" in o["reason"]


def test_without_yes_and_without_input_nothing_is_erased(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """No --yes and no stdin (CI): the confirmation is refused and the drive is untouched."""
    out = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-hdd0", "--json")
    assert out.returncode == 1
    assert "not confirmed" in out.stderr
    assert "lab-usb-hdd0" not in out.stdout
    assert lab_file(isolated_settings, "SIM-UHDD-0001").read_bytes().startswith(PATTERN_MAGIC)
    assert json.loads(sanitiser(tmp_path, "jobs", "--json").stdout) == []


def test_typed_confirmation_names_the_drives_and_proceeds(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """The prompt names the drive; typing the phrase runs the wipe; a wrong phrase does not."""
    wrong = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-hdd0", stdin="yes\n")
    assert wrong.returncode == 1
    assert "SIM-UHDD-0001" in wrong.stderr
    assert lab_file(isolated_settings, "SIM-UHDD-0001").read_bytes().startswith(PATTERN_MAGIC)
    right = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-hdd0", stdin="ERASE 0001\n")
    assert right.returncode == 0, right.stderr
    assert "SANITISED host-overwrite clear" in right.stdout


def test_unknown_device_and_no_selection_are_errors(tmp_path: Path) -> None:
    """A device that does not exist is refused; naming nothing is a usage error."""
    out = sanitiser(tmp_path, "wipe", "--lab", "/dev/does-not-exist", "--yes", "--json")
    assert out.returncode == 1
    [o] = outcomes(out.stdout).values()
    assert (o["status"], o["reason"]) == ("refused", "no such drive (see 'sanitiser scan')")
    assert sanitiser(tmp_path, "wipe", "--yes").returncode == 2


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_name_erases_nothing(tmp_path: Path, isolated_settings: Path, blank: str) -> None:
    """`wipe "$UNSET" --yes` (a script's unset variable) is an error before anything is
    scanned or started, even beside a good name; the lab drives keep their data."""
    out = sanitiser(tmp_path, "wipe", "--lab", blank, "lab-usb-hdd0", "--yes", "--json")
    assert out.returncode == 2
    assert "an empty drive name was given" in out.stderr
    assert out.stdout == ""
    assert json.loads(sanitiser(tmp_path, "jobs", "--json").stdout) == []


def test_jobs_lists_nothing_on_a_fresh_store(tmp_path: Path) -> None:
    """`jobs` on an empty store: an empty JSON list, and a plain message without --json."""
    assert json.loads(sanitiser(tmp_path, "jobs", "--json").stdout) == []
    assert sanitiser(tmp_path, "jobs").stdout.strip() == "No jobs."


def test_the_confirmation_shows_each_drives_plan_and_the_job_runs_it(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """As in the TUI, the prompt shows the plan each drive will get (technique and category),
    and the job is started with the plan shown, so it runs that or refuses."""
    wrong = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-hdd0", stdin="no\n")
    assert "plan: host-overwrite clear" in wrong.stderr
    right = sanitiser(tmp_path, "wipe", "--lab", "lab-usb-hdd0", "--json", stdin="erase 0001\n")
    assert right.returncode == 0, right.stderr
    assert "plan: host-overwrite clear" in right.stderr
    [o] = outcomes(right.stdout).values()
    assert (o["status"], o["method"]) == ("sanitised", "host-overwrite")


def test_a_station_that_cannot_sign_erases_nothing_and_says_why(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """A retired station: `wipe` refuses before anything is asked or written, exit 2, with
    why and what to do (before: the drive was overwritten, then certification failed and the
    job said failed, destination recycle). No job is recorded; restarting one is refused too."""
    for args in (
        ("keys", "init-org", "--development", "--no-encrypt", "--organisation", "Test Org"),
        ("keys", "new-station", "bench-ci"),
        ("keys", "revoke", "bench-ci", "--reason", "retired"),
    ):
        done = sanitiser(tmp_path, *args)
        assert done.returncode == 0, done.stderr
    out = sanitiser(tmp_path, "wipe", "--lab", "SIM-USB-0001", "--yes", "--operator", "ana")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "this station (bench-ci) cannot sign certificates now" in out.stderr
    assert "'bench-ci' was retired (revoked)" in out.stderr
    assert "nothing was written to any drive" in out.stderr
    assert "sanitiser keys new-station" in out.stderr
    assert lab_file(isolated_settings, "SIM-USB-0001").read_bytes().startswith(PATTERN_MAGIC)
    asked = sanitiser(tmp_path, "wipe", "--lab", "SIM-USB-0001", stdin="ERASE 0001\n")
    assert asked.returncode == 2
    assert "ERASE" not in asked.stderr, "nothing is asked for that could not be certified"
    assert json.loads(sanitiser(tmp_path, "jobs", "--json").stdout) == []
