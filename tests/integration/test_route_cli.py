"""``sanitiser jobs route``: the CLI shows and overrides a job's route through the same code as
the TUI's drive detail (`sanitiser.app.routes`): the override is a fact on the job, a journal
line and a custody ``routed`` entry naming the operator and the reason; the certificate is not
edited, and the chain stays whole."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sanitiser.config import Settings
from sanitiser.store.audit import AuditKind, entries
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser


def cli(data: Path, *args: str, operator: str = "ana") -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, data=data, env={"SANITISER_OPERATOR": operator})


def wiped(data: Path) -> dict[str, Any]:
    out = cli(data, "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    assert out.returncode == 0, out.stderr
    [outcome] = [json.loads(x) for x in out.stdout.splitlines() if '"outcome"' in x]
    return dict(outcome)


def test_a_route_is_shown_then_overridden_with_its_reason_and_custody(tmp_path: Path) -> None:
    outcome = wiped(tmp_path)
    job = str(outcome["job_id"])
    shown = cli(tmp_path, "jobs", "route", job, "--json")
    assert shown.returncode == 0, shown.stderr
    before = json.loads(shown.stdout)
    assert before["destination"] == outcome["destination"]
    assert before["overridden_by"] == ""
    cert_before = settings_store(Settings(data_dir=tmp_path)).certificate_record(
        str(outcome["certificate_id"])
    )

    moved = cli(tmp_path, "jobs", "route", job, "--to", "destruction", "--reason", "cracked casing")
    assert moved.returncode == 0, moved.stderr
    assert "destroy (destruction; override by ana): cracked casing" in moved.stdout
    after = json.loads(cli(tmp_path, "jobs", "route", job, "--json").stdout)
    assert after == {
        "destination": "destroy",
        "route": "destruction",
        "reason": "cracked casing",
        "overridden_by": "ana",
    }
    [listed] = json.loads(cli(tmp_path, "jobs", "--json").stdout)
    assert listed["destination"] == "destroy"  # where the drive goes now, everywhere
    assert listed["route_override"]["destination"] == "destruction"
    store = settings_store(Settings(data_dir=tmp_path))
    assert store.certificate_record(str(outcome["certificate_id"])) == cert_before
    routed = [e for e in entries(store) if e.kind == AuditKind.ROUTED and e.data.get("override")]
    assert [(e.actor, e.data["destination"], e.data["reason"]) for e in routed] == [
        ("ana", "destruction", "cracked casing")
    ]
    assert routed[0].data["previous"] == before["route"]
    assert cli(tmp_path, "audit", "verify").returncode == 0


def test_an_override_without_a_reason_or_to_an_unknown_place_is_refused(tmp_path: Path) -> None:
    job = str(wiped(tmp_path)["job_id"])
    for args, said in (
        (("--to", "destruction"), "--to needs --reason"),
        (("--reason", "why"), "--reason needs --to"),
        (("--to", "moon", "--reason", "x"), "moon"),
        (("--to", "destruction", "--reason", "line\nbreak"), "--reason"),
    ):
        out = cli(tmp_path, "jobs", "route", job, *args)
        assert out.returncode == 2, (args, out.stdout)
        assert said in out.stderr, (args, out.stderr)
    unknown = cli(tmp_path, "jobs", "route", "no-such-job")
    assert unknown.returncode == 2
    assert "no job no-such-job" in unknown.stderr
    assert json.loads(cli(tmp_path, "jobs", "route", job, "--json").stdout)["overridden_by"] == ""


def test_an_override_is_where_the_drive_goes_and_a_failed_drive_goes_to_destruction_only(
    tmp_path: Path,
) -> None:
    """A sanitised drive the record routes to recycling, overridden to reuse: a reuse
    destination takes it in a consignment (the refusal names the technician's route when it
    does not fit). A drive that was not sanitised may be overridden to destruction only."""
    outcome = wiped(tmp_path)
    job, cert = str(outcome["job_id"]), str(outcome["certificate_id"])
    assert outcome["destination"] == "recycle", outcome
    for name, kind in (("Device Bank", "reuse"), ("Green Metals", "recycle")):
        added = cli(tmp_path, "destinations", "add", name, "--kind", kind, "--contact", "c@x",
                    "--accepts", "usb-drive")  # fmt: skip
        assert added.returncode == 0, added.stderr
    moved = cli(tmp_path, "jobs", "route", job, "--to", "external-reuse", "--reason", "tested fine")
    assert moved.returncode == 0, moved.stderr
    recycle = cli(tmp_path, "consignment", "open", "Green Metals").stdout.strip()
    refused = cli(tmp_path, "consignment", "add", recycle, cert)
    assert refused.returncode == 2
    assert "the technician routed the device to external-reuse" in refused.stderr
    reuse = cli(tmp_path, "consignment", "open", "Device Bank").stdout.strip()
    added = cli(tmp_path, "consignment", "add", reuse, cert)
    assert added.returncode == 0, added.stderr
    again = cli(tmp_path, "jobs", "route", job, "--to", "destruction", "--reason", "dropped")
    assert again.returncode == 2, again.stdout  # it leaves by the route it was consigned on
    assert f"is in consignment {reuse}" in again.stderr

    failed = cli(tmp_path, "wipe", "--lab", "lab-usb-flash0", "--policy", "strict", "--yes",
                 "--json")  # fmt: skip
    [o] = [json.loads(x) for x in failed.stdout.splitlines() if '"outcome"' in x]
    assert o["status"] == "refused", o
    for to in ("external-reuse", "recycling"):
        out = cli(tmp_path, "jobs", "route", str(o["job_id"]), "--to", to, "--reason", "looks ok")
        assert out.returncode == 2, out.stdout
        assert "was not sanitised (refused): it may only go to destruction" in out.stderr
