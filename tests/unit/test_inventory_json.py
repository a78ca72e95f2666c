"""The JSON form of a HostInventory round-trips exactly: every real sample, and generated ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.edid import edid_from_hex, parse_edid
from sanitiser.inventory.model import (
    Baseboard,
    Battery,
    Bios,
    Chassis,
    Cpu,
    Display,
    HostInventory,
    Memory,
    MemoryModule,
    SystemInfo,
    Tpm,
    inventory_from_dmi,
    inventory_from_json,
    inventory_to_json,
)
from sanitiser.inventory.power import battery_from_uevent

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def batteries() -> tuple[Battery, ...]:
    found = [battery_from_uevent(p.read_text()) for p in sorted(REAL.glob("power_supply/*.uevent"))]
    return tuple(b for b in found if b is not None)


def displays() -> tuple[Display, ...]:
    return tuple(
        parse_edid(edid_from_hex(p.read_text()), connector=f"DP-{n}")
        for n, p in enumerate(sorted(REAL.glob("edid/*.txt")))
    )


def through_json(inv: HostInventory) -> HostInventory:
    return inventory_from_json(json.loads(json.dumps(inventory_to_json(inv))))


@pytest.mark.parametrize("path", sorted(REAL.glob("dmidecode/*.txt")), ids=lambda p: p.name)
def test_every_real_sample_round_trips(path: Path) -> None:
    inv = inventory_from_dmi(
        parse_dmidecode(path.read_text()),
        batteries=batteries(),
        secure_boot="enabled",
        displays=displays(),
        notes=("a note",),
    )
    assert through_json(inv) == inv


def test_json_shape() -> None:
    inv = inventory_from_dmi(
        parse_dmidecode((REAL / "dmidecode/hp-elitebook-840-g5.txt").read_text())
    )
    d = inventory_to_json(inv)
    assert d["schema"] == 1
    assert d["system"]["product"] == "HP EliteBook 840 G5"
    assert d["cpu"]["generation"] == 8
    assert d["memory"]["total_bytes"] == 64 << 30
    assert d["tpm"] == {
        "version": "2.0",
        "manufacturer": "IFX",
        "firmware": "7.63",
        "source": "dmi",
    }
    assert d["secure_boot"] == "unknown"
    assert d["batteries"] == []
    assert d["displays"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema=2), "schema 2"),
        (lambda d: d["system"].pop("vendor"), "missing 'vendor'"),
        (lambda d: d["system"].update(extra=1), "unknown keys"),
        (lambda d: d.update(secure_boot="maybe"), "not one of"),
        (lambda d: d["cpu"].update(cores="4"), "expected int"),
        (lambda d: d["memory"].update(modules={}), "expected a list"),
        (lambda d: d.update(batteries=[{"name": True}]), r"batteries\[0\].name: expected str"),
    ],
)
def test_bad_json_raises(change: Any, message: str) -> None:
    d = inventory_to_json(
        inventory_from_dmi(
            parse_dmidecode((REAL / "dmidecode/dell-latitude-e7470.txt").read_text())
        )
    )
    change(d)
    with pytest.raises(ValueError, match=message):
        inventory_from_json(d)


text = st.none() | st.text(max_size=12)
count = st.none() | st.integers(min_value=0, max_value=1 << 40)
number = st.none() | st.floats(allow_nan=False, allow_infinity=False)
pair = st.none() | st.tuples(st.integers(0, 10000), st.integers(0, 10000))
inventories = st.builds(
    HostInventory,
    system=st.builds(SystemInfo, text, text, text, text, text, text, text),
    baseboard=st.none() | st.builds(Baseboard, text, text, text, text),
    chassis=st.none()
    | st.builds(
        Chassis,
        text,
        st.sampled_from(["laptop", "desktop", "tablet", "server", "other"]),
        text,
        text,
        text,
    ),
    bios=st.none() | st.builds(Bios, text, text, text, text),
    cpu=st.none() | st.builds(Cpu, text, text, text, count, st.integers(0, 8), count, count, count),
    memory=st.builds(
        Memory,
        count,
        text,
        count,
        count,
        st.lists(
            st.builds(MemoryModule, text, st.integers(0, 1 << 40), text, count, text, text, text),
            max_size=3,
        ).map(tuple),
    ),
    batteries=st.lists(
        st.builds(
            Battery,
            st.text(max_size=8),
            text,
            text,
            text,
            text,
            text,
            number,
            number,
            number,
            number,
            number,
            count,
        ),
        max_size=2,
    ).map(tuple),
    tpm=st.none() | st.builds(Tpm, text, text, text, st.sampled_from(["sysfs", "dmi"])),
    secure_boot=st.sampled_from(["enabled", "disabled", "unsupported", "unknown"]),
    displays=st.lists(
        st.builds(
            Display,
            text,
            st.text(max_size=3),
            st.integers(0, 65535),
            text,
            text,
            count,
            pair,
            number,
            pair,
        ),
        max_size=2,
    ).map(tuple),
    notes=st.lists(st.text(max_size=20), max_size=2).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(inventories)
def test_generated_inventories_round_trip(inv: HostInventory) -> None:
    assert through_json(inv) == inv
