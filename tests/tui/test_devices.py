"""Devices at the bench, by Pilot: tags scanned in a row, a duplicate refused, a lab drive linked
to its device, a device graded by keys with its readiness following, and the keys in the help.
Every assertion about what was done reads the store (through the desk), not only the screen."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import Services
from sanitiser.assets.model import DeviceState
from sanitiser.store import devices as records
from sanitiser.store import drive_key
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.devices import DeviceDetailScreen, DevicesScreen, next_value
from sanitiser.tui.screens.drive_detail import DriveDetailScreen
from sanitiser.tui.screens.help import HelpModal
from sanitiser.tui.screens.intake import IntakeScreen
from sanitiser.tui.screens.link import LinkModal
from tests.tui.helpers import bench_ready, go_to, make_app, noticed, pushed, wait_for
from tests.tui.test_text_fields import paste


def desk(services: Services) -> DeviceDesk:
    return DeviceDesk(services, "alice")


def said(screen: IntakeScreen | LinkModal, hint: str) -> str:
    return str(screen.query_one(hint, Static).render())


async def open_intake(pilot: Pilot[None], app: SanitiserApp) -> IntakeScreen:
    await bench_ready(pilot, app)
    screen = await pushed(pilot, app, "i", IntakeScreen)
    await pilot.pause()
    return screen


async def scan(pilot: Pilot[None], tag: str) -> None:
    """What a USB barcode scanner does: the characters, then Enter."""
    await pilot.press(*tag, "enter")


async def help_keys(pilot: Pilot[None], app: SanitiserApp, key: str = "question_mark") -> list[str]:
    """`?` (or `key`): the lines of the key map it opens."""
    modal = await pushed(pilot, app, key, HelpModal)
    return str(modal.query_one("#keys").render()).splitlines()


def test_a_check_cycles_pass_fail_na_from_pass() -> None:
    values = ("pass", "fail", "n/a")
    assert [next_value(values, v) for v in (None, "pass", "fail", "n/a")] == [
        "pass",
        "fail",
        "n/a",
        "pass",
    ]


async def test_three_tags_scanned_in_a_row_are_taken_in_with_their_lot(
    services: Services,
) -> None:
    app = make_app(services)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_intake(pilot, app)
        tag = screen.query_one("#intake-tag", Input)
        assert app.focused is tag
        screen.query_one("#intake-kind", Select).value = "desktop"
        screen.query_one("#intake-lot", Input).value = "Camden 2026"
        screen.query_one("#intake-make", Input).value = "Dell"
        tag.focus()
        for n in (1, 2, 3):
            await scan(pilot, f"LBC-000{n}")
            assert app.focused is tag
            assert tag.value == ""
        await wait_for(pilot, lambda: len(screen.taken) == 3)
        assert screen.value("lot") == "Camden 2026"  # the lot stays for the batch
        assert screen.value("make") == ""  # the make was the first device's
        assert screen.query_one("#intake-kind", Select).value == "desktop"
        listed = str(screen.query_one("#intake-taken", Static).render())
        assert all(f"LBC-000{n}  desktop" in listed for n in (1, 2, 3))
        await pilot.press("escape")
        assert app.screen is app.bench_screen
        again = await pushed(pilot, app, "i", IntakeScreen)  # kind and lot kept for next time
        assert again.query_one("#intake-kind", Select).value == "desktop"
        assert again.value("lot") == "Camden 2026"

    devices = {d.tag: d for d in desk(services).list()}
    assert sorted(devices) == ["LBC-0001", "LBC-0002", "LBC-0003"]
    assert {d.intake.lot for d in devices.values()} == {"Camden 2026"}
    assert {d.kind.value for d in devices.values()} == {"desktop"}
    assert {d.received_by for d in devices.values()} == {"alice"}
    assert (devices["LBC-0001"].intake.make, devices["LBC-0002"].intake.make) == ("Dell", "")


async def test_a_function_key_sets_the_kind_for_the_next_scans(services: Services) -> None:
    app = make_app(services)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_intake(pilot, app)
        await pilot.press("f6")  # monitor, the focus stays in the tag
        assert app.focused is screen.query_one("#intake-tag")
        await scan(pilot, "MON-7")
        await scan(pilot, "MON-8")
        await pilot.press("f7")
        await scan(pilot, "DOCK-1")
        await wait_for(pilot, lambda: len(screen.taken) == 3)
        assert app.batch.kind == "docking-station"
        keys = "\n".join(await help_keys(pilot, app, "f1"))  # F1: '?' could be in a note
        assert "F2-F8" in keys
        assert "F6 monitor" in keys
    kinds = {d.tag: d.kind.value for d in desk(services).list()}
    assert kinds == {"MON-7": "monitor", "MON-8": "monitor", "DOCK-1": "docking-station"}


async def test_a_duplicate_tag_is_refused_and_what_was_typed_stays(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LBC-0199")
    app = make_app(services)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_intake(pilot, app)
        screen.query_one("#intake-model", Input).value = "Latitude 7490"
        screen.query_one("#intake-tag").focus()
        await scan(pilot, "lbc-0199")
        await wait_for(pilot, lambda: "NOT taken in" in said(screen, "#intake-hint"))
        assert "already device 'LBC-0199'" in said(screen, "#intake-hint")
        assert screen.value("tag") == "lbc-0199"
        assert screen.value("model") == "Latitude 7490"
        assert screen.taken == []
        await scan(pilot, "LBC-0201")  # the next scan replaces the refused tag
        await wait_for(pilot, lambda: len(screen.taken) == 1)
        assert [d.tag for d in screen.taken] == ["LBC-0201"]
        assert screen.value("tag") == ""

        screen.query_one("#intake-tag", Input).value = ""
        await scan(pilot, "A B")  # a blank is not in a barcode tag
        await wait_for(pilot, lambda: "'A B' is not a tag" in said(screen, "#intake-hint"))
        assert screen.value("tag") == "A B"

        notes = screen.query_one("#intake-notes", Input)  # typed text is checked as it is typed
        await paste(pilot, notes, "ok\nChecked by: root")
        screen.query_one("#intake-tag", Input).value = "LBC-0200"
        screen.query_one("#intake-tag").focus()
        await pilot.press("enter")
        assert "The notes contains a control character" in said(screen, "#intake-hint")
        assert app.focused is notes
        assert notes.value == "ok\nChecked by: root"
        assert screen.value("tag") == "LBC-0200"
    assert sorted(d.tag for d in desk(services).list()) == ["LBC-0199", "LBC-0201"]
    assert desk(services).report("LBC-0199").device.intake.model == ""


async def test_a_lab_drive_is_linked_to_its_device_from_the_bench(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LT-7")
    desk(services).intake(kind="laptop", tag="LT-8")
    desk(services).intake(kind="monitor", tag="MON-1")
    app = make_app(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await bench_ready(pilot, app)
        await go_to(pilot, app, "lab-sata-ssd0")
        modal = await pushed(pilot, app, "l", LinkModal)
        await scan(pilot, "MON-1")  # a monitor holds no drives: refused, with why
        await wait_for(pilot, lambda: "Not linked" in said(modal, "#link-hint"))
        assert "holds no data-bearing media" in said(modal, "#link-hint")
        assert modal.query_one("#link-tag", Input).value == "MON-1"
        modal.query_one("#link-tag", Input).value = ""
        await scan(pilot, "NOPE")
        await wait_for(pilot, lambda: "no device has the tag 'NOPE'" in said(modal, "#link-hint"))
        modal.query_one("#link-tag", Input).value = ""
        await scan(pilot, "lt-7")
        await wait_for(pilot, lambda: app.screen is app.bench_screen)
        await wait_for(pilot, noticed(app, "SIM-SSD-0001: linked to LT-7"))
        again = await pushed(pilot, app, "l", LinkModal)  # a drive belongs to one device
        await scan(pilot, "LT-8")
        refusal = "already linked to device 'LT-7'"
        await wait_for(pilot, lambda: refusal in said(again, "#link-hint"))
        await pilot.press("escape")
        assert app.screen is app.bench_screen

        detail = await pushed(pilot, app, "enter", DriveDetailScreen)  # it names its device
        await wait_for(
            pilot, lambda: "LT-7 (laptop)" in str(detail.query_one("#identity").render())
        )
    ssd = next(d for d in services.source.list() if d.serial == "SIM-SSD-0001")
    linked = records.device_of_drive(services.store, drive_key(ssd))
    assert linked is not None
    assert linked.tag == "LT-7"
    assert [d.serial for d in desk(services).report("LT-7").device.drives] == ["SIM-SSD-0001"]
    assert desk(services).report("MON-1").device.drives == ()
    assert desk(services).report("LT-8").device.drives == ()


async def open_device(pilot: Pilot[None], app: SanitiserApp, tag: str) -> DeviceDetailScreen:
    await bench_ready(pilot, app)
    listing = await pushed(pilot, app, "d", DevicesScreen)
    await wait_for(pilot, lambda: listing.loaded)
    row = [d.tag for d in listing.devices].index(tag)
    listing.query_one("#devices", DataTable).move_cursor(row=row)
    screen = await pushed(pilot, app, "enter", DeviceDetailScreen)
    await wait_for(pilot, lambda: screen.report is not None)
    return screen


def readiness_of(screen: DeviceDetailScreen) -> str:
    return str(screen.query_one("#device-readiness").render())


async def test_grading_by_keys_is_recorded_and_readiness_follows(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LT-1")
    desk(services).intake(kind="monitor", tag="MON-2", make="Dell", model="P2419H")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        screen = await open_device(pilot, app, "MON-2")
        assert "-> undecided" in readiness_of(screen)
        assert "NOT held: grade: not graded yet" in readiness_of(screen)

        await pilot.press("B")
        await wait_for(pilot, lambda: desk(services).report("MON-2").device.cosmetic == "B")
        await wait_for(pilot, lambda: "held: grade: cosmetic grade B" in readiness_of(screen))
        assert "-> recycle" in readiness_of(screen)  # checks still missing

        assert "keyboard" not in readiness_of(screen)  # a monitor's checks: screen and ports
        panel = str(screen.query_one("#device-checks").render())
        assert "[s]*screen" in panel
        assert "[p]*ports" in panel
        assert "[k] keyboard" in panel  # offered, not asked of a monitor
        assert "the policy asks these of a monitor" in panel
        await pilot.press("s", "p")
        await wait_for(pilot, lambda: "-> reuse" in readiness_of(screen))
        report = desk(services).report("MON-2")
        assert report.readiness.ready
        assert report.device.state is DeviceState.READY
        assert {n: c.result for n, c in report.device.checks.items()} == {
            "screen": "pass",
            "ports": "pass",
        }
        assert {c.operator for c in report.device.checks.values()} == {"alice"}

        await pilot.press("p", "p")  # pass -> fail -> n/a, each recorded
        await wait_for(
            pilot, lambda: desk(services).report("MON-2").device.checks["ports"].result == "n/a"
        )
        await pilot.press("1")
        locks = {"bios-password": "present"}
        await wait_for(pilot, lambda: desk(services).report("MON-2").device.locks == locks)
        await wait_for(pilot, lambda: screen.pending == 0)
        assert "bios-password" in str(screen.query_one("#device-checks").render())

        await pilot.press("escape")  # the list shows the grade and the state
        listing = app.screen
        assert isinstance(listing, DevicesScreen)
        await wait_for(
            pilot, lambda: any(d.tag == "MON-2" and d.cosmetic == "B" for d in listing.devices)
        )
        assert {d.tag for d in listing.devices} == {"LT-1", "MON-2"}


async def test_help_lists_the_device_keys(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LT-1")
    app = make_app(services)
    async with app.run_test(size=(100, 40)) as pilot:
        await bench_ready(pilot, app)
        lines = await help_keys(pilot, app)
        for key, word in (("i", "Take devices in"), ("l", "Link the selected"), ("d", "Devices")):
            assert [x for x in lines if x.split()[:1] == [key] and word in x], (key, lines)
        await pilot.press("escape")
        screen = await open_device(pilot, app, "LT-1")
        keys = "\n".join(await help_keys(pilot, app))
        for text in ("Shift+A", "cosmetic grade D", "s  ", "screen: pass", "charger-included"):
            assert text in keys
        assert [x for x in keys.splitlines() if x.split()[:3] == ["Ctrl+S", "issue", "the"]]
        line = str(screen.query_one("#device-keys", Static).render())
        assert "1" in line
        assert "ctrl+s certificate" in line
