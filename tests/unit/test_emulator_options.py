"""tests/emulator_options.py's TypedDicts name exactly each emulator's keyword options."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.emulators.scsi import ScsiDriveEmulator
from tests.emulator_options import AtaOptions, NvmeOptions, ScsiOptions


@pytest.mark.parametrize(
    ("emulator", "options", "paths"),
    [
        (AtaDriveEmulator, AtaOptions, {"device"}),
        (NvmeDriveEmulator, NvmeOptions, {"controller", "namespace"}),
        (ScsiDriveEmulator, ScsiOptions, {"device"}),
    ],
    ids=["ata", "nvme", "scsi"],
)
def test_options_are_the_emulators_keyword_only_parameters(
    emulator: type, options: type, paths: set[str]
) -> None:
    keyword_only = {
        name
        for name, p in inspect.signature(emulator).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(get_type_hints(options)) == keyword_only - paths
