"""Fixtures shared by the TUI's Pilot tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.app.services import Services, build_services
from sanitiser.config import load_settings
from sanitiser.devices.guard import BlockDevice, SystemState
from sanitiser.testing import FakeDriveSource, FakeRunner
from tests.tui.helpers import SYSTEM


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The lab bench (simulated drives) beside a protected system disk; certificates in tmp."""
    monkeypatch.setenv("SANITISER_CERTS_DIR", str(tmp_path / "certs"))
    state = SystemState(
        blocks={"sdz": BlockDevice("sdz", "65:144")},
        system_disks={"sdz": ("holds the root filesystem /",)},
    )
    svc = build_services(
        load_settings(), lab=True, runner=FakeRunner(), real=FakeDriveSource([SYSTEM])
    )
    svc.system_state = lambda: state
    return svc
