"""The DMI parser over real dmidecode dumps (tests/data/real/dmidecode, see its SOURCES).

Expected values were read off each file by eye (System/Chassis/BIOS/Processor/Memory Device
records). hw-probe replaced serial numbers and UUIDs with "--" before publishing, so the serial
read back is "--"; `test_serial_and_uuid_are_read` puts real-looking ones back in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.dmi import (
    chassis_kind,
    clean,
    parse_bios_date,
    parse_dmidecode,
    parse_records,
    parse_size,
)
from sanitiser.inventory.model import DmiFacts

DMI = Path(__file__).resolve().parents[1] / "data" / "real" / "dmidecode"
GiB = 1 << 30

EXPECTED: dict[str, dict[str, Any]] = {
    "dell-latitude-e7470.txt": dict(
        vendor="Dell Inc.",
        product="Latitude E7470",
        version=None,
        sku="06DC",
        family="Latitude",
        chassis="Laptop",
        kind="laptop",
        bios="1.31.3",
        bios_date="2021-10-13",
        cpu="Intel(R) Core(TM) i5-6300U CPU @ 2.40GHz",
        cpu_vendor="Intel",
        cpu_family="Core i5",
        gen=6,
        cores=2,
        threads=4,
        mhz=2400,
        ram=8 * GiB,
        ram_type="DDR4",
        slots=(2, 1),
        tpm=None,
    ),
    "dell-optiplex-7050.txt": dict(
        vendor="Dell Inc.",
        product="OptiPlex 7050",
        version=None,
        sku="07A1",
        family="OptiPlex",
        chassis="Desktop",
        kind="desktop",
        bios="1.13.5",
        bios_date="2020-06-16",
        cpu="Intel(R) Core(TM) i5-7500 CPU @ 3.40GHz",
        cpu_vendor="Intel",
        cpu_family="Core i5",
        gen=7,
        cores=4,
        threads=4,
        mhz=4200,
        ram=16 * GiB,
        ram_type="DDR4",
        slots=(4, 4),
        tpm=("2.0", None, "1.3"),
    ),
    "hp-elitebook-840-g5.txt": dict(
        vendor="HP",
        product="HP EliteBook 840 G5",
        version=None,
        sku="2FA66AV",
        family="103C_5336AN HP EliteBook",
        chassis="Notebook",
        kind="laptop",
        bios="Q78 Ver. 01.19.00",
        bios_date="2022-01-13",
        cpu="Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz",
        cpu_vendor="Intel",
        cpu_family="Core i5",
        gen=8,
        cores=4,
        threads=8,
        mhz=3600,
        ram=64 * GiB,
        ram_type="DDR4",
        slots=(2, 2),
        tpm=("2.0", "IFX", "7.63"),
    ),
    "lenovo-thinkpad-t480-20l5.txt": dict(
        vendor="LENOVO",
        product="20L5CTO1WW",
        version="ThinkPad T480",
        sku="LENOVO_MT_20L5_BU_Think_FM_ThinkPad T480",
        family="ThinkPad T480",
        chassis="Notebook",
        kind="laptop",
        bios="N24ET62W (1.37 )",
        bios_date="2021-04-20",
        cpu="Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz",
        cpu_vendor="Intel",
        cpu_family="Core i7",
        gen=8,
        cores=4,
        threads=8,
        mhz=2000,
        ram=32 * GiB,
        ram_type="DDR4",
        slots=(2, 2),
        tpm=None,
    ),
    "apple-macbookpro14-1.txt": dict(
        vendor="Apple Inc.",
        product="MacBookPro14,1",
        version="1.0",
        sku=None,
        family="MacBook Pro",
        chassis="Laptop",
        kind="laptop",
        bios="447.80.3.0.0",
        bios_date="2021-12-12",
        cpu="Intel(R) Core(TM) i5-7360U CPU @ 2.30GHz",
        cpu_vendor="Intel",
        cpu_family="Core i5",
        gen=7,
        cores=2,
        threads=4,
        mhz=2300,
        ram=8 * GiB,
        ram_type="LPDDR3",
        slots=(2, 2),
        tpm=None,
    ),
    "microsoft-surface-pro-7.txt": dict(
        vendor="Microsoft Corporation",
        product="Surface Pro 7",
        version="124I:00046T:000M:0100000D:0B:07F:0C:05P:48S:1E:0Y:0K:0U:06R:1",
        sku="Surface_Pro_7_1866",
        family="Surface",
        chassis="Laptop",
        kind="laptop",
        bios="13.101.140",
        bios_date="2021-12-14",
        cpu="Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz",
        cpu_vendor="Intel",
        cpu_family="Core i7",
        gen=10,
        cores=4,
        threads=8,
        mhz=None,
        ram=16 * GiB,
        ram_type="LPDDR4",
        slots=(2, 2),
        tpm=None,
    ),
    "google-delbin-chromebook.txt": dict(
        vendor="Google",
        product="Delbin",
        version="rev3",
        sku="sku65540",
        family="Google_Volteer",
        chassis="Desktop",
        kind="desktop",
        bios="Google_Delbin.13672.47.0",
        bios_date="2021-02-01",
        cpu="11th Gen Intel(R) Core(TM) i3-1115G4 @ 3.00GHz",
        cpu_vendor="Intel",
        cpu_family="Core i3",
        gen=11,
        cores=2,
        threads=4,
        mhz=4100,
        ram=8 * GiB,
        ram_type="LPDDR4",
        slots=(8, 8),
        tpm=None,
    ),
    "asus-vivobook-m570dd.txt": dict(
        vendor="ASUSTeK COMPUTER INC.",
        product="VivoBook_ASUSLaptop X570DD_M570DD",
        version="1.0",
        sku=None,
        family="VivoBook",
        chassis="Notebook",
        kind="laptop",
        bios="X570DD.302",
        bios_date="2019-10-24",
        cpu="AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx",
        cpu_vendor="AMD",
        cpu_family="Ryzen 5",
        gen=3,
        cores=4,
        threads=8,
        mhz=3700,
        ram=8 * GiB,
        ram_type="DDR4",
        slots=(2, 1),
        tpm=("2.0", None, "3.34"),
    ),
    "asrock-b450m-hdv-desktop.txt": dict(
        vendor=None,
        product=None,
        version=None,
        sku=None,
        family=None,
        chassis="Desktop",
        kind="desktop",
        bios="P3.10",
        bios_date="2019-07-18",
        cpu="AMD Ryzen 5 2600 Six-Core Processor",
        cpu_vendor="AMD",
        cpu_family="Ryzen 5",
        gen=2,
        cores=6,
        threads=12,
        mhz=3900,
        ram=16 * GiB,
        ram_type="DDR4",
        slots=(2, 2),
        tpm=None,
    ),
    "dell-inspiron-13-5330.txt": dict(
        vendor="Dell Inc.",
        product="Inspiron 13 5330",
        version=None,
        sku="0C2C",
        family="Inspiron",
        chassis="Notebook",
        kind="laptop",
        bios="1.15.1",
        bios_date="2024-04-25",
        cpu="Intel(R) Core(TM) Ultra 7 155H",
        cpu_vendor="Intel",
        cpu_family="Core Ultra 7",
        gen=1,
        cores=16,
        threads=22,
        mhz=4800,
        ram=16 * GiB,
        ram_type="LPDDR5",
        slots=(8, 8),
        tpm=("2.0", "INTC", "700.19"),
    ),
}


def read(name: str) -> str:
    return (DMI / name).read_text()


def test_every_sample_has_expectations() -> None:
    assert sorted(p.name for p in DMI.glob("*.txt")) == sorted(EXPECTED)


def check(facts: DmiFacts, want: dict[str, Any]) -> None:
    s = facts.system
    assert (s.vendor, s.product, s.version, s.sku, s.family) == (
        want["vendor"],
        want["product"],
        want["version"],
        want["sku"],
        want["family"],
    )
    assert s.serial == "--"
    assert s.uuid == "--"
    assert facts.chassis is not None
    assert (facts.chassis.type, facts.chassis.kind) == (want["chassis"], want["kind"])
    assert facts.bios is not None
    assert (facts.bios.version, facts.bios.release_date) == (want["bios"], want["bios_date"])
    cpu = facts.cpu
    assert cpu is not None
    assert (cpu.model, cpu.vendor, cpu.family, cpu.generation) == (
        want["cpu"],
        want["cpu_vendor"],
        want["cpu_family"],
        want["gen"],
    )
    assert (cpu.sockets, cpu.cores, cpu.threads, cpu.max_mhz) == (
        1,
        want["cores"],
        want["threads"],
        want["mhz"],
    )
    mem = facts.memory
    assert (mem.total_bytes, mem.type) == (want["ram"], want["ram_type"])
    assert (mem.slots_total, mem.slots_used) == want["slots"]
    assert sum(m.size_bytes for m in mem.modules) == want["ram"]
    tpm = facts.tpm
    got = None if tpm is None else (tpm.version, tpm.manufacturer, tpm.firmware)
    assert got == want["tpm"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_dump(name: str) -> None:
    check(parse_dmidecode(read(name)), EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tabs_turned_into_spaces_read_the_same(name: str) -> None:
    text = read(name)
    assert parse_dmidecode(text.expandtabs(4)) == parse_dmidecode(text)
    assert parse_dmidecode(text.replace("\t", "  ")) == parse_dmidecode(text)


@pytest.mark.parametrize("name", ["hp-elitebook-840-g5.txt", "dell-latitude-e7470.txt"])
def test_indentation_lost_reads_the_same(name: str) -> None:
    text = read(name)
    flat = "\n".join(line.lstrip() for line in text.splitlines())
    assert parse_dmidecode(flat) == parse_dmidecode(text)


def test_modules_as_printed() -> None:
    latitude = parse_dmidecode(read("dell-latitude-e7470.txt")).memory
    (module,) = latitude.modules  # DIMM B is "No Module Installed"
    assert module.locator == "DIMM A"
    assert module.size_bytes == 8 * GiB
    assert (module.type, module.speed_mts, module.manufacturer) == ("DDR4", 2133, "SK Hynix")
    assert (module.part, module.form_factor) == ("HMA41GS6AFR8N-TF", "SODIMM")
    optiplex = parse_dmidecode(read("dell-optiplex-7050.txt")).memory
    assert [m.size_bytes for m in optiplex.modules] == [4096 << 20] * 4  # "4096 MB"
    assert [m.manufacturer for m in optiplex.modules] == [
        "80AD000080AD",
        "80AD000080AD",
        "802C0000802C",
        "80AD000080AD",
    ]
    surface = parse_dmidecode(read("microsoft-surface-pro-7.txt")).memory
    assert {m.form_factor for m in surface.modules} == {"Row Of Chips"}  # soldered
    asrock = parse_dmidecode(read("asrock-b450m-hdv-desktop.txt")).memory
    assert [m.manufacturer for m in asrock.modules] == [None, None]  # "Unknown"


def test_placeholders_are_none() -> None:
    asrock = parse_dmidecode(read("asrock-b450m-hdv-desktop.txt"))
    assert asrock.chassis is not None
    assert asrock.chassis.vendor is None
    assert asrock.baseboard is not None
    assert (asrock.baseboard.vendor, asrock.baseboard.product) == ("ASRock", "B450M-HDV R4.0")
    for text in (
        "To Be Filled By O.E.M.",
        "Default string",
        "System Serial Number",
        "Not Specified",
        "0123456789",
        "None",
        "  ",
        "",
        "NA",
    ):
        assert clean(text) is None, text
    assert clean(" Latitude E7470 ") == "Latitude E7470"


def test_serial_and_uuid_are_read() -> None:
    text = read("dell-latitude-e7470.txt")
    system = text.index("System Information")
    head, tail = text[:system], text[system:]
    tail = tail.replace("Serial Number: --", "Serial Number: 7QX9KD2", 1)
    tail = tail.replace("UUID: --", "UUID: 4c4c4544-0051-5810-8039-b7c04f4b4432", 1)
    s = parse_dmidecode(head + tail).system
    assert (s.serial, s.uuid) == ("7QX9KD2", "4c4c4544-0051-5810-8039-b7c04f4b4432")
    placeholder = head + tail.replace(
        "Serial Number: 7QX9KD2", "Serial Number: System Serial Number"
    )
    assert parse_dmidecode(placeholder).system.serial is None


def test_two_sockets_and_an_empty_one() -> None:
    text = read("hp-elitebook-840-g5.txt")
    cpu_record = re.search(r"Handle 0x0010, DMI type 4,.*?\n\n", text, re.S)
    assert cpu_record is not None
    record = cpu_record.group(0)
    second = record.replace("Handle 0x0010", "Handle 0x00F0")
    empty = record.replace("Handle 0x0010", "Handle 0x00F1").replace(
        "Status: Populated, Enabled", "Status: Unpopulated"
    )
    cpu = parse_dmidecode(text + second + empty).cpu
    assert cpu is not None
    assert (cpu.sockets, cpu.cores, cpu.threads) == (2, 8, 16)


def test_records_keep_the_first_of_each_key() -> None:
    (record,) = parse_records(
        "Handle 0x0004, DMI type 3, 24 bytes\nChassis Information\n\tType: Notebook\n"
        "\tContained Elements: 1\n\t\tType: <OUT OF SPEC> (0)\n"
    )
    assert record.title == "Chassis Information"
    assert record.props["Type"] == "Notebook"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world\n", "not dmidecode output"),
        ("# dmidecode 3.3\n# No SMBIOS nor DMI entry point found, sorry.\n", "no SMBIOS table"),
        ("# dmidecode 3.3\nSMBIOS 3.0.0 present.\n", "no System Information"),
    ],
)
def test_unreadable_text_raises(text: str, message: str) -> None:
    with pytest.raises(ToolOutputError, match=message) as info:
        parse_dmidecode(text)
    assert info.value.raw == text


def test_truncated_dump_raises() -> None:
    text = read("dell-latitude-e7470.txt")
    cut = text[: text.index("System Information") + len("System Information\n\tManufacturer: Dell")]
    with pytest.raises(ToolOutputError, match=r"System Information .* has no Product Name"):
        parse_dmidecode(cut)
    before_system = text[: text.index("Handle", text.index("System Information") - 40)]
    with pytest.raises(ToolOutputError, match="no System Information"):
        parse_dmidecode(before_system)
    with pytest.raises(ToolOutputError, match="is empty: cut short"):
        parse_dmidecode(text + "Handle 0x0099, DMI type 17, 40 bytes\n")
    module = text.index("Memory Device")
    with pytest.raises(ToolOutputError, match=r"Memory Device .* has no Size"):
        parse_dmidecode(
            text[: module + 60] + "\n\n" + text[text.index("System Information") - 40 :]
        )


def test_sizes_dates_and_kinds() -> None:
    assert parse_size("8 GB") == 8 * GiB
    assert parse_size("8192 MB") == 8 * GiB
    assert parse_size("1 TB") == 1 << 40
    assert parse_size("512 kB") == 512 * 1024
    assert parse_size("No Module Installed") is None
    assert parse_size("Unknown") is None
    assert parse_bios_date("10/13/2021") == "2021-10-13"
    assert parse_bios_date("04/05/99") == "1999-04-05"
    assert parse_bios_date("13/45/2020") is None
    assert parse_bios_date("2021-10-13") is None
    assert chassis_kind("Notebook") == "laptop"
    assert chassis_kind("Mini PC") == "desktop"
    assert chassis_kind("Detachable") == "tablet"
    assert chassis_kind("Rack Mount Chassis") == "server"
    assert chassis_kind("Docking Station") == "other"
    assert chassis_kind(None) == "other"
