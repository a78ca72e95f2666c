"""A computer that runs our agent, joined to its device record (issue 18 item 3: the facts
prefilled when the device itself runs the agent).

When a computer says hello, `ComputerDesk.arrived` finds the device taken in for it: the one
device whose intake serial or service tag is the computer's DMI serial, or whose recorded facts
or linked drives are this computer's (it booted before). Found, the computer is attached to it
(`attach`): its facts are recorded (``source="agent"``) and its internal drives linked, so
each drive's certificate carries the device's tag and the device moves on when they are
sanitised. Not found, the computer waits, unmatched, for the technician to scan its tag
(`attach` with that tag).

Never a guess: a serial that matches two devices, a device that already holds other drives, a
device taken in with another serial, or a drive that is another device's, is said with the
reason and nothing is linked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import Services
from sanitiser.assets.model import Device, DeviceError, DeviceState, tag_key
from sanitiser.domain import Drive, Transport
from sanitiser.inventory.model import HostInventory, identifier, identity_serials
from sanitiser.store import devices as records
from sanitiser.store import drive_key

AGENT_SOURCE = "agent"
"""The `Device.inventory_source` of facts the agent read on the computer itself."""

_PRESENT = (DeviceState.RECEIVED, DeviceState.SANITISED, DeviceState.GRADED, DeviceState.READY)
"""The states of a device still with us (one handed over or recycled is matched by nobody)."""


class Match(StrEnum):
    """What became of a computer's hello."""

    ATTACHED = "attached"
    """Its device was found (or its tag scanned): facts recorded, drives linked."""
    UNMATCHED = "unmatched"
    """No device taken in is this computer's: scan its tag."""
    AMBIGUOUS = "ambiguous"
    """More than one device could be this computer's: scan its tag."""
    REFUSED = "refused"
    """Its device was found, but linking it would be a guess (the reason)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A computer and its device record, as the bench shows it."""

    match: Match
    message: str
    """What was done, or why nothing was (for the technician)."""
    tag: str = ""
    """The device's tag ("" unless attached)."""
    lines: tuple[str, ...] = ()
    """A line per drive linked."""

    @property
    def attached(self) -> bool:
        """The computer is its device's."""
        return self.match is Match.ATTACHED


def internal_drives(drives: Sequence[Drive]) -> list[Drive]:
    """The drives built into the computer: not USB, not removable (a stick, a card reader or
    the agent's own boot medium are not the device's)."""
    return [d for d in drives if d.transport is not Transport.USB and not d.removable]


def _refs(drives: Sequence[Drive]) -> list[records.DriveRef]:
    return [records.DriveRef(drive_key(d), d.serial, d.model, d.simulated) for d in drives]


def _names(drives: Sequence[Drive]) -> str:
    return ", ".join(d.serial or d.name for d in drives)


class ComputerDesk:
    """Computers running the agent, joined to their device records, for one operator.

    Args:
        services: the bench's services.
        operator: who is operating (the custody entries name them).
    """

    def __init__(self, services: Services, operator: str) -> None:
        self.desk = DeviceDesk(services, operator)
        self.store = services.store

    def candidates(self, inventory: HostInventory | None, drives: Sequence[Drive]) -> list[Device]:
        """The devices (still with us) that could be this computer's: intake serial or service
        tag is its DMI serial, recorded facts name its serial, or a drive of it is linked."""
        serials = {tag_key(s) for s in identity_serials(inventory)} if inventory else set()
        keys = {drive_key(d) for d in internal_drives(drives)}
        found: dict[str, Device] = {}
        for device in records.list_devices(self.store):
            if device.state not in _PRESENT:
                continue
            intake = device.intake
            named = {tag_key(s) for s in (intake.serial, intake.service_tag) if s}
            if device.inventory is not None:
                named |= {tag_key(s) for s in identity_serials(device.inventory)}
            linked = {d.drive_key for d in device.drives}
            if named & serials or linked & keys:
                found[tag_key(device.tag)] = device
        return list(found.values())

    def arrived(self, inventory: HostInventory | None, drives: Sequence[Drive]) -> Attachment:
        """A computer said hello: attach it to its device when exactly one is its (see the
        module); otherwise say why it waits for its tag. Nothing is linked on a doubt."""
        found = self.candidates(inventory, drives)
        serials = identity_serials(inventory) if inventory is not None else ()
        said = f"serial {serials[0]}" if serials else "no serial"
        if not found:
            why = (
                f"no device taken in has {said}"
                if serials
                else "the computer reports no serial (DMI)"
            )
            return Attachment(Match.UNMATCHED, f"{why}: scan its tag to attach it")
        if len(found) > 1:
            tags = ", ".join(sorted(d.tag for d in found))
            return Attachment(
                Match.AMBIGUOUS,
                f"{said} could be devices {tags}: nothing linked; scan this computer's tag",
            )
        try:
            return self.attach(found[0].tag, inventory, drives)
        except DeviceError as e:
            return Attachment(Match.REFUSED, f"device {found[0].tag}: {e.msg}")

    def attach(
        self, tag: str, inventory: HostInventory | None, drives: Sequence[Drive]
    ) -> Attachment:
        """Attach the computer to device `tag` (found by its serial, or scanned by the
        technician): its facts recorded (``agent``), its internal drives linked.

        Raises:
            DeviceError: an unknown tag, a monitor or dock, a device taken in with another
                serial, one already holding other drives, or one of these drives another
                device's; nothing is linked or recorded then.
        """
        device = records.require_device(self.store, tag)
        if not device.holds_data:
            raise DeviceError(
                f"device {device.tag!r} is a {device.kind.value}: not a computer to attach"
            )
        records.require_held(self.store, device.tag, "attached to a computer")
        serials = identity_serials(inventory) if inventory is not None else ()
        typed = identifier(device.intake.serial)
        if typed and serials and tag_key(typed) not in {tag_key(s) for s in serials}:
            raise DeviceError(
                f"device {device.tag} was taken in with serial {typed}, but this computer "
                f"reports {', '.join(serials)}: nothing linked; is it the right tag?"
            )
        inside = internal_drives(drives)
        keys = {drive_key(d) for d in inside}
        others = [d for d in device.drives if d.drive_key not in keys]
        if others:
            held = ", ".join(d.serial or d.drive_key for d in others)
            raise DeviceError(
                f"device {device.tag} already holds other drive(s) ({held}), not this "
                "computer's: nothing linked; unlink them, or scan the right tag"
            )
        for ref in _refs(inside):
            owner = records.device_of_drive(self.store, ref.key)
            if owner is not None and tag_key(owner.tag) != tag_key(device.tag):
                raise DeviceError(
                    f"drive {ref.serial or ref.key} of this computer is already linked to "
                    f"device {owner.tag!r}: nothing linked"
                )
        lines: list[str] = []
        if inside:
            device, lines = self.desk.link_refs(device.tag, _refs(inside))
        if inventory is not None and (
            device.inventory != inventory or device.inventory_source != AGENT_SOURCE
        ):
            device = self.desk.record_inventory(device.tag, inventory, source=AGENT_SOURCE).device
        drives_said = f"drives {_names(inside)}" if inside else "no internal drive"
        return Attachment(
            Match.ATTACHED,
            f"device {device.tag}: facts from the agent, {drives_said} linked",
            tag=device.tag,
            lines=tuple(lines),
        )
