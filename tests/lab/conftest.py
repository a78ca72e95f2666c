"""Fixtures of the QEMU drive lab (see `tests/lab/drivelab.py` and `lab/`).

A lab test module declares what its one boot does, as a module attribute::

    LAB_PLAN = LabPlan(drives=(DriveSpec("nvme", "LABNVME1", 64),), steps={"id": "nvme list"})

and its tests take the module-scoped `lab_run` fixture: the guest boots once for the whole module,
runs every step in order (each step's output, error output and exit status are kept apart; with
``LabPlan(parallel=2)`` independent steps may overlap), and
powers off; the tests then assert on the steps' results and on the drives' backing files. A guest
that does not finish is killed at the plan's timeout and every test of the module fails with the
console's tail. Lab modules are marked ``qemu``, ``serial`` and ``root``.
"""

from __future__ import annotations

import shutil

import pytest

from sanitiser.netboot.build import BuildResult, ImageBuilder, ImageBuildError
from sanitiser.netboot.spec import CI_IMAGE
from sanitiser.runner import SubprocessRunner
from tests.lab.donor import PXE_ROM
from tests.lab.drivelab import LabAssets, LabError, LabPlan, LabRun, run_plan, setup_lab


@pytest.fixture(scope="session")
def lab_assets() -> LabAssets:
    """The guest kernel and initramfs, from `lab/lab-setup.sh` (idempotent, cached)."""
    missing = [
        t for t in ("qemu-system-x86_64", "busybox", "cpio", "depmod") if not shutil.which(t)
    ]
    if missing:
        pytest.fail(f"drive lab needs {', '.join(missing)}: run scripts/install-system.sh --test")
    try:
        return setup_lab()
    except LabError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def lab_run(
    request: pytest.FixtureRequest, lab_assets: LabAssets, tmp_path_factory: pytest.TempPathFactory
) -> LabRun:
    """One boot for the whole module, doing the module's `LAB_PLAN`."""
    plan = getattr(request.module, "LAB_PLAN", None)
    if not isinstance(plan, LabPlan):
        pytest.fail(
            f"{request.module.__name__} uses lab_run but defines no LAB_PLAN = LabPlan(...)"
        )
    workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    run = run_plan(plan, workdir, lab_assets)
    if run.boot.result.rc != 0:
        pytest.fail(run.boot.result.describe())
    return run


@pytest.fixture(scope="session")
def netboot_image(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The CI variant of the donor boot image, built once per session (Debian packages and
    the kernel cached in the lab's cache)."""
    missing = [
        t for t in ("qemu-system-x86_64", "mkfs.fat", "syslinux", "mcopy", "apt-get")
        if not shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin")
    ]  # fmt: skip
    if missing or not PXE_ROM.exists():
        pytest.fail(
            f"network-boot lab needs {missing or PXE_ROM}: run scripts/install-system.sh --test"
        )
    out = tmp_path_factory.mktemp("agent-image")
    try:
        return ImageBuilder(CI_IMAGE, SubprocessRunner(), out).build()
    except ImageBuildError as e:
        pytest.fail(str(e))
