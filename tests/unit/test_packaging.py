"""Packaging and the boundary between the core and the TUI."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import sanitiser

CORE_MODULES = [
    "sanitiser.domain",
    "sanitiser.runner",
    "sanitiser.config",
    "sanitiser.store",
    "sanitiser.app.services",
    "sanitiser.devices.guard",
    "sanitiser.devices.health",
    "sanitiser.devices.discover",
]


def test_version_matches_metadata() -> None:
    """The installed distribution's version is the package's __version__."""
    assert version("sanitiser") == sanitiser.__version__


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_does_not_import_textual(module: str) -> None:
    """Importing a core module never loads Textual (the TUI is a thin shell over the core)."""
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_the_runner_imports_subprocess() -> None:
    """No package module other than runner.py imports subprocess (the one command seam)."""
    from pathlib import Path

    root = Path(sanitiser.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "runner.py" and "import subprocess" in p.read_text()
    ]
    assert offenders == []
