"""A method's run on a claimed drive, as the bench's jobs (`sanitiser.jobs.pipeline`) and the
network-boot agent (`sanitiser.agent.device`) both do it. It imports no store: the agent's boot
image carries no database libraries."""

from __future__ import annotations

import errno

from sanitiser.domain import Outcome
from sanitiser.errors import SanitiserError
from sanitiser.jobs.writers import judge_other_writers
from sanitiser.methods.base import Method, MethodContext
from sanitiser.probe.capabilities import Capabilities


def unlock_reason(caps: Capabilities) -> str:
    """Why the drive needs unlocking / hidden-area removal before the erase ("" when not)."""
    reasons: list[str] = []
    if caps.hidden_sectors:
        reasons.append(f"HPA/DCO hide {caps.hidden_sectors} sectors: restored before erasing")
    ata = caps.ata
    if ata is not None and (ata.security_locked or ata.security_enabled):
        reasons.append("ATA security is enabled: the drive is unlocked first")
    return "; ".join(reasons)


def run_method(method: Method, ctx: MethodContext) -> Outcome | str:
    """Run `method` on `ctx.claim`'s drive and judge any other writer seen meanwhile; the
    Outcome, or the reason there is none. The one place, for the bench's jobs and the
    network-boot agent's, where a drive that was pulled or stopped answering mid-method (an
    error, then the backend says it is gone; or ENODEV/ENXIO/EIO) becomes a failure reason
    rather than a crash; any other OSError is a bug and is raised."""
    claim = ctx.claim
    try:
        outcome = method.run(ctx)
        return judge_other_writers(
            outcome,
            still_open=claim.other_writers(),
            seen=claim.writers_seen,
            verification=ctx.verification,
        )
    except SanitiserError as exc:
        gone = claim.backend.gone(ctx.drive)
        return f"{gone}: {exc.msg}" if gone else exc.msg
    except OSError as exc:
        gone = claim.backend.gone(ctx.drive)
        if gone or exc.errno in (errno.ENODEV, errno.ENXIO, errno.EIO):
            return gone or f"the drive stopped responding ({exc.strerror})"
        raise
