"""Suite-wide fixtures: isolated settings, and gating of tests that need root or real devices.

Markers: `root` tests need euid 0 (CI runs as root, so they run there); nothing is skipped
silently: a skip always says why, and CI's summary (-ra) lists every skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "outputs"
"""The real tool outputs in ../shared/reference/outputs (beside the project, as in CI)."""


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the machine's config or writes to the real data directory."""
    data = tmp_path / "data"
    monkeypatch.setenv("SANITISER_CONFIG_FILE", str(tmp_path / "config.toml"))
    monkeypatch.setenv("SANITISER_DATA_DIR", str(data))
    for var in ("SANITISER_DATABASE_URL", "SANITISER_LAB", "SANITISER_STATION"):
        monkeypatch.delenv(var, raising=False)
    return data


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `root` tests (with the reason) when not running as root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (CI runs as root)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reference() -> Path:
    """Directory of real tool outputs (../shared/reference/outputs); the suite needs it."""
    assert REFERENCE.is_dir(), f"missing {REFERENCE}: ../shared must sit beside the project"
    return REFERENCE
