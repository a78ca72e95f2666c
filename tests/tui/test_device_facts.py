"""The computer's facts typed or confirmed at the bench (``f`` on a device), by Pilot: the form
opens with what the store holds, bad input is refused naming the field with nothing lost or
recorded, and what is recorded moves the readiness verdict. Every assertion about what was
recorded reads the store (through the desk and the custody chain)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Static

from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import Services
from sanitiser.assets.model import device_subject
from sanitiser.store.audit import AuditKind, entries
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.devices import DeviceDetailScreen
from sanitiser.tui.screens.facts import FactsScreen
from sanitiser.tui.screens.help import HelpModal
from tests.tui.helpers import make_app, pushed, wait_for
from tests.tui.test_devices import open_device, readiness_of
from tests.tui.test_text_fields import paste

GIB = 2**30


def desk(services: Services) -> DeviceDesk:
    return DeviceDesk(services, "alice")


async def open_facts(pilot: Pilot[None], app: SanitiserApp, tag: str) -> FactsScreen:
    detail = await open_device(pilot, app, tag)
    assert isinstance(detail, DeviceDetailScreen)
    form = await pushed(pilot, app, "f", FactsScreen)
    await wait_for(pilot, lambda: form.loaded)
    return form


def hint(form: FactsScreen) -> str:
    return str(form.query_one("#facts-hint", Static).render())


async def type_into(pilot: Pilot[None], field: Input, text: str) -> None:
    """Clear the field and type `text` key by key, as the technician does."""
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def test_bad_input_is_refused_by_field_and_nothing_is_lost_or_recorded(
    services: Services,
) -> None:
    """Letters in the RAM field and a newline pasted into the serial are refused, each named,
    with the form as typed; nothing reaches the store until the form is right."""
    desk(services).intake(kind="laptop", tag="LT-F1", make="Dell", serial="4XQ2LN2")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        form = await open_facts(pilot, app, "LT-F1")
        assert form.field("vendor").value == "Dell"  # prefilled from the intake
        assert form.field("serial").value == "4XQ2LN2"
        assert app.focused is form.field("vendor")

        await type_into(pilot, form.field("ram_gb"), "eight")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "NOT recorded" in hint(form))
        assert "RAM total GB: 'eight' is not a number" in hint(form)
        await wait_for(pilot, lambda: app.focused is form.field("ram_gb"))
        assert form.field("ram_gb").value == "eight"
        assert desk(services).report("LT-F1").device.inventory is None

        await type_into(pilot, form.field("ram_gb"), "4")
        serial = form.field("serial")
        serial.value = ""
        await paste(pilot, serial, "4XQ2\nLN2")
        assert serial.value == "4XQ2\nLN2"  # the paste is kept whole, never cut to a line
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "control character" in hint(form))
        assert "DMI serial" in hint(form)
        assert app.focused is serial
        assert form.field("ram_gb").value == "4"
        assert desk(services).report("LT-F1").device.inventory is None
        assert [e.kind for e in entries(services.store, subject=device_subject("LT-F1"))] == [
            AuditKind.RECEIVED
        ]

        await type_into(pilot, form.field("battery_design_wh"), "60")
        await type_into(pilot, form.field("battery_full_wh"), "45")
        await type_into(pilot, form.field("battery_health"), "90")  # 45/60 is 75%
        serial.value = "4XQ2LN2"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "disagrees with full/design" in hint(form))
        assert app.focused is form.field("battery_health")
        assert desk(services).report("LT-F1").device.inventory is None


async def test_typed_facts_are_recorded_with_who_and_readiness_follows(
    services: Services,
) -> None:
    """RAM typed below the policy's minimum makes the memory condition NOT held on the device
    screen; confirming the form again with more RAM makes it held. Each recording is one
    ``inventoried`` entry by the operator, naming the fields changed; what the form does not
    show is kept."""
    desk(services).intake(kind="laptop", tag="LT-F2", make="Lenovo", model="ThinkPad T480")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        form = await open_facts(pilot, app, "LT-F2")
        await type_into(pilot, form.field("ram_gb"), "4")
        await type_into(pilot, form.field("ram_type"), "DDR4")
        await type_into(pilot, form.field("ram_slots"), "1/2")
        await type_into(pilot, form.field("cpu"), "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz")
        await type_into(pilot, form.field("tpm"), "2.0")
        await type_into(pilot, form.field("secure_boot"), "enabled")
        await type_into(pilot, form.field("battery_health"), "81")
        await type_into(pilot, form.field("battery_cycles"), "312")
        await type_into(pilot, form.field("screen_in"), "14")
        await type_into(pilot, form.field("resolution"), "1920x1080")
        await type_into(pilot, form.field("lock:bios-password"), "cleared")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, DeviceDetailScreen))
        detail = app.screen
        assert isinstance(detail, DeviceDetailScreen)
        await wait_for(pilot, lambda: "NOT held: memory: 4 GB, below 8 GB" in readiness_of(detail))

        device = desk(services).report("LT-F2").device
        assert device.inventory is not None
        inv = device.inventory
        assert inv.memory.total_bytes == 4 * GIB
        assert (inv.memory.type, inv.memory.slots_used, inv.memory.slots_total) == ("DDR4", 1, 2)
        assert inv.cpu is not None
        assert (inv.cpu.family, inv.cpu.generation) == ("Core i5", 8)
        assert inv.tpm is not None
        assert (inv.tpm.version, inv.secure_boot) == ("2.0", "enabled")
        assert [(b.health_pct, b.cycle_count) for b in inv.batteries] == [(81.0, 312)]
        assert [(d.diagonal_in, d.resolution) for d in inv.displays] == [(14.0, (1920, 1080))]
        assert (inv.system.vendor, inv.system.product) == ("Lenovo", "ThinkPad T480")
        assert device.inventory_source == "typed"
        assert dict(device.locks) == {"bios-password": "cleared"}
        [entry] = [
            e
            for e in entries(services.store, subject=device_subject("LT-F2"))
            if e.kind == AuditKind.INVENTORIED
        ]
        assert (entry.actor, entry.data["confirmed"]) == ("alice", True)
        assert "ram_gb" in entry.data["changed"].split(",")
        facts = str(detail.query_one("#device-facts").render())
        assert "Memory" in facts
        assert "4 GB DDR4" in facts

        form = await pushed(pilot, app, "f", FactsScreen)
        await wait_for(pilot, lambda: form.loaded)
        assert form.field("ram_gb").value == "4"  # prefilled from what was recorded
        assert form.field("battery_cycles").value == "312"
        assert form.field("lock:bios-password").value == "cleared"
        await type_into(pilot, form.field("ram_gb"), "16")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, DeviceDetailScreen))
        await wait_for(pilot, lambda: "held: memory: 16 GB" in readiness_of(detail))
        assert "NOT held: memory" not in readiness_of(detail)
        again = desk(services).report("LT-F2").device.inventory
        assert again is not None
        assert again.memory.total_bytes == 16 * GIB
        assert again.displays == inv.displays  # not lost by a second confirmation
        changed = [
            e.data["changed"]
            for e in entries(services.store, subject=device_subject("LT-F2"))
            if e.kind == AuditKind.INVENTORIED
        ]
        assert changed[-1] == "ram_gb"


async def test_escape_leaves_the_form_without_recording(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LT-F3")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        form = await open_facts(pilot, app, "LT-F3")
        await type_into(pilot, form.field("ram_gb"), "8")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DeviceDetailScreen))
        assert desk(services).report("LT-F3").device.inventory is None
        assert "f: type or confirm them" in str(app.screen.query_one("#device-facts").render())


async def test_the_help_names_the_facts_key_and_the_form_keys(services: Services) -> None:
    desk(services).intake(kind="laptop", tag="LT-F4")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        detail = await open_device(pilot, app, "LT-F4")
        assert "f facts" in str(detail.query_one("#device-keys", Static).render())
        modal = await pushed(pilot, app, "question_mark", HelpModal)
        keys = str(modal.query_one("#keys").render())
        assert "type or confirm the computer's facts" in keys
        await pilot.press("escape")
        form = await pushed(pilot, app, "f", FactsScreen)
        await wait_for(pilot, lambda: form.loaded)
        modal = await pushed(pilot, app, "f1", HelpModal)
        keys = str(modal.query_one("#keys").render())
        assert "Ctrl+R" in keys
        assert "record the facts as shown" in keys
