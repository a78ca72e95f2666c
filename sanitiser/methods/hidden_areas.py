"""HPA and DCO: found and removed before any ATA method, so the whole native capacity is sanitised.

docs/DEVICE-COMMANDS.md §1.3: an OS-level overwrite never reaches sectors a Host Protected Area
hides, and a Device Configuration Overlay can hide more beyond the "native" maximum. Before a
method runs on an ATA drive:

1. HPA (``hdparm -N`` visible < native): ``hdparm --yes-i-know-what-i-am-doing -N p<native>``
   sets the maximum back to the native size, permanently (a ``-Np`` limit would also block the
   DCO restore);
2. DCO (``--dco-identify`` real max > native): ``hdparm --yes-i-know-what-i-am-doing
   --dco-restore`` (refused by a frozen DCO);
3. re-probe ``-N`` (and ``--dco-identify``) and require visible == native == real max.

If anything hidden cannot be removed, the method is refused before it sends anything: a method
that left a hidden area would not sanitise the whole drive. `HiddenAreas.text` is what
`Outcome.hpa_dco` (and so the certificate) says. After a change on a real drive the kernel is
asked to re-read the size (``/sys/block/<name>/device/rescan``, through the claim's backend);
the lab's files need nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanitiser.domain import MediaKind
from sanitiser.errors import ToolOutputError
from sanitiser.methods.session import Session
from sanitiser.probe.ata import DcoInfo, HpaInfo, parse_dco_identify, parse_hdparm_N

YES = "--yes-i-know-what-i-am-doing"


@dataclass(frozen=True, slots=True)
class HiddenAreas:
    """What was found and done about HPA/DCO on one drive."""

    ok: bool
    """The method may go on: nothing hidden remains (or the drive has no such areas)."""
    text: str
    """For `Outcome.hpa_dco` ("" when HPA/DCO do not apply to the drive)."""
    reason: str = ""
    """Why the method must not run (when not ok)."""
    native_sectors: int | None = None
    """The native maximum after removal, when known."""
    hpa: HpaInfo | None = None
    """``hdparm -N`` after removal."""
    dco: DcoInfo | None = None

    @property
    def clause(self) -> bool | None:
        """The General rule's "HPA native equals visible" clause (None: not applicable)."""
        if self.hpa is None:
            return None
        return self.hpa.visible_sectors == self.hpa.native_sectors


def describe_found(hpa: HpaInfo | None, dco: DcoInfo | None) -> str:
    """What the probe found, in one sentence (pure)."""
    if hpa is None:
        return "HPA state unknown (hdparm -N gave no answer)"
    parts = []
    if hpa.hpa_enabled:
        parts.append(
            f"HPA hid {hpa.hidden_sectors} sectors (visible {hpa.visible_sectors} of native "
            f"{hpa.native_sectors})"
        )
    if hpa.invalid:
        parts.append("hdparm says the HPA setting seems invalid")
    if dco is not None and dco.hidden_sectors(hpa.native_sectors):
        parts.append(
            f"DCO hid {dco.hidden_sectors(hpa.native_sectors)} sectors (real max "
            f"{dco.real_max_sectors})"
        )
    if not parts:
        extra = " and DCO real max" if dco is not None else ""
        return f"no HPA or DCO: visible = native{extra} = {hpa.native_sectors} sectors"
    return "; ".join(parts)


def _rescan(s: Session) -> None:
    """Have the drive's size re-read after its maximum changed (best effort; the kernel's
    rescan for a real drive, nothing for a lab file)."""
    drive = s.ctx.drive
    if s.ctx.claim.backend.rescan(drive):
        s.log(f"asked the kernel to rescan {drive.name}")


def _read_n(s: Session, dev: str) -> HpaInfo | None:
    res = s.run("hdparm", "-N", dev)
    try:
        return parse_hdparm_N(res.stdout)
    except ToolOutputError:
        return None


def _read_dco(s: Session, dev: str) -> DcoInfo | None:
    res = s.run("hdparm", "--dco-identify", dev)
    try:
        return parse_dco_identify(res.stdout)
    except ToolOutputError:
        return None


def remove_hidden_areas(s: Session, dev: str) -> HiddenAreas:
    """Find HPA/DCO from the context's capabilities, remove them, re-probe and report.

    Args:
        s: the method's session (commands are recorded in the Outcome).
        dev: the device argument for hdparm.
    """
    caps = s.ctx.capabilities
    if caps.ata is None:
        kind = s.ctx.drive.media_kind
        if kind in (MediaKind.HDD, MediaKind.SSD, MediaKind.USB_DRIVE):
            return HiddenAreas(True, "HPA/DCO not checked: the drive gives no ATA access")
        return HiddenAreas(True, "")
    hpa, dco = caps.hpa, caps.dco
    found = describe_found(hpa, dco)
    if hpa is None:
        return HiddenAreas(True, found)
    dco_hidden = dco.hidden_sectors(hpa.native_sectors) if dco is not None else 0
    if not hpa.hpa_enabled and not dco_hidden:
        return HiddenAreas(True, found, native_sectors=hpa.native_sectors, hpa=hpa, dco=dco)
    done: list[str] = []
    why = s.recheck()
    if why:
        return HiddenAreas(False, found, reason=why, hpa=hpa, dco=dco)
    if hpa.hpa_enabled:
        res = s.run("hdparm", YES, "-N", f"p{hpa.native_sectors}", dev)
        if not res.ok:
            reason = f"the HPA could not be removed (hdparm -N exit {res.returncode})"
            return HiddenAreas(False, f"{found}; {reason}", reason=reason, hpa=hpa, dco=dco)
        done.append(f"HPA removed (max set to native {hpa.native_sectors}, permanent)")
    if dco_hidden:
        res = s.run("hdparm", YES, "--dco-restore", dev)
        if not res.ok:
            reason = (
                f"the DCO could not be restored (hdparm --dco-restore exit {res.returncode}); "
                "a frozen DCO clears only with a power cycle of the drive"
            )
            return HiddenAreas(False, f"{found}; {reason}", reason=reason, hpa=hpa, dco=dco)
        done.append("DCO restored to factory maximum")
    after = _read_n(s, dev)
    if after is not None and after.hpa_enabled:  # a DCO restore can leave the old max visible
        s.run("hdparm", YES, "-N", f"p{after.native_sectors}", dev)
        after = _read_n(s, dev)
    dco_after = _read_dco(s, dev) if dco is not None else None
    _rescan(s)
    if after is None:
        reason = "after removal hdparm -N gave no answer, so the full size is unproven"
        return HiddenAreas(False, f"{found}; {'; '.join(done)}; {reason}", reason=reason)
    left = after.hidden_sectors
    if dco_after is not None:
        left += dco_after.hidden_sectors(after.native_sectors)
    summary = f"{found}; {'; '.join(done)}; now visible {after.visible_sectors} = native"
    if left:
        reason = f"{left} sectors are still hidden after removal"
        return HiddenAreas(False, f"{summary}; {reason}", reason=reason, hpa=after, dco=dco_after)
    s.log(f"hidden areas removed: {summary}")
    return HiddenAreas(
        True,
        f"{summary} {after.native_sectors} sectors",
        native_sectors=after.native_sectors,
        hpa=after,
        dco=dco_after,
    )
