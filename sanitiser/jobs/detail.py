"""A job's recorded facts, typed: what the engine wrote into the job's record, read back.

The store keeps a job's facts as one JSON object (`JobView.detail`, merged key by key as the job
moves; None removes a key). Outside the job engine nobody reads that object: they read a
`JobDetail` (`detail_of(view)`), a frozen value with one field per fact, parsed once, and
`JobDetail.to_json` gives the object back as stored (`from_json` and `to_json` round-trip; a
key this version does not know is kept in `extra`, so an older or newer record survives).

Blocks that are documents rather than facts the bench acts on (the routing decision's full
explanation, a pending signed record, an operator's route override) stay JSON objects, typed as
read-only `JsonObject`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sanitiser.devices.fingerprint import Fingerprint
from sanitiser.domain import Drive, Health, Outcome
from sanitiser.errors import SanitiserError
from sanitiser.jobs.journal import (
    ProcessOwner,
    drive_from_json,
    drive_to_json,
    health_from_json,
    health_to_json,
    outcome_from_json,
    outcome_to_json,
)
from sanitiser.policy.plan import Plan, plan_from_json
from sanitiser.store import JobView

JsonObject = Mapping[str, Any]
"""A read-only JSON object kept as recorded (a document, not facts the bench acts on)."""


class JobDetailError(SanitiserError):
    """A job's recorded facts cannot be read (a block of the wrong shape)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """The last progress a running job wrote to its record (what recovery can tell)."""

    phase: str
    bytes_done: int
    total: int
    at: str = ""
    """When it was written ("" when the record does not say)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase, "bytes_done": self.bytes_done}
        out["total"] = self.total
        if self.at:
            out["at"] = self.at
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Progress:
        return cls(
            phase=str(data.get("phase", "")),
            bytes_done=int(data.get("bytes_done", 0)),
            total=int(data.get("total", 0)),
            at=str(data.get("at", "")),
        )


_TEXT = (
    "device",
    "policy",
    "policy_name",
    "policy_version",
    "technique_override",
    "technique",
    "nist_category",
    "downgrade",
    "retry_of",
    "retried_by",
    "interrupted_from",
    "captured",
    "status",
    "reason",
    "certificate_id",
    "record_error",
    "destination",
    "destination_reason",
    "routing_reason",
    "routing_rule",
    "destruction_level",
)
"""The facts that are text ("" when not recorded)."""
_BLOCKS = ("drive", "owner", "plan", "health", "fingerprint", "progress", "outcome")
"""The facts parsed into values (an empty block is kept as recorded, in `extra`)."""
_DOCUMENTS = ("routing", "record_pending", "route_override")


@dataclass(frozen=True, slots=True)
class JobDetail:
    """One job's recorded facts (see the module docstring); "" / None when not recorded."""

    device: str = ""
    """The device path the job was started on."""
    drive: Drive | None = None
    """The drive as confirmed when the job was created."""
    owner: ProcessOwner | None = None
    """The process working on the job (to tell, later, whether it is still alive)."""
    policy: str = ""
    """The policy asked for (a name or a path)."""
    policy_name: str = ""
    policy_version: str = ""
    technique_override: str = ""
    """The technique the operator asked for ("" : the policy chose)."""
    technique: str = ""
    """The technique the job ran (once planned)."""
    nist_category: str = ""
    downgrade: str = ""
    """Why the plan fell back to a weaker category ("" when it did not)."""
    plan: Plan | None = None
    health: Health | None = None
    """The drive's health as read before the method."""
    fingerprint: Fingerprint | None = None
    """The drive's content fingerprint before the first write (drives with no serial)."""
    progress: Progress | None = None
    outcome: Outcome | None = None
    """The method's outcome, once it ended."""
    status: str = ""
    """sanitised, failed, refused, aborted (the outcome's word for the job's end)."""
    reason: str = ""
    certificate_id: str = ""
    record_pending: JsonObject | None = None
    """The signed record still to issue for a failed or aborted job (cleared once issued)."""
    record_error: str = ""
    retry_of: str = ""
    """The job this one starts again."""
    retried_by: str = ""
    """The job that started this one again."""
    interrupted_from: str = ""
    """The state a dead process left the job in."""
    captured: str = ""
    """``on-device`` or ``off-bench`` for a computer's own drive (the network-boot agent)."""
    destination: str = ""
    """reuse, recycle, destroy or undecided (the routing decision's kind)."""
    destination_reason: str = ""
    routing_reason: str = ""
    routing_rule: str = ""
    destruction_level: str = ""
    routing: JsonObject | None = None
    """The routing decision's full facts (rule, matched conditions, policy, age)."""
    route_override: JsonObject | None = None
    """The technician's later destination for the drive (destination, previous, reason,
    operator)."""
    extra: JsonObject = field(default_factory=lambda: MappingProxyType({}))
    """Keys this version does not know (and empty blocks), kept as recorded."""
    recorded_text: frozenset[str] = frozenset()
    """The text facts present in the record, "" included (so `to_json` gives them back)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobDetail:
        """The typed facts of a job's recorded JSON object.

        Raises:
            JobDetailError: a block has the wrong shape (e.g. ``drive`` is not an object).
        """
        values: dict[str, Any] = {}
        for name in _TEXT:
            value = data.get(name)
            values[name] = "" if value is None else str(value)
        values["recorded_text"] = frozenset(n for n in _TEXT if data.get(n) is not None)
        empty = {k for k in _BLOCKS if isinstance(data.get(k), Mapping) and not data[k]}
        try:
            values["drive"] = _maybe(data, "drive", drive_from_json)
            values["owner"] = ProcessOwner.from_json(data.get("owner"))
            values["plan"] = _maybe(data, "plan", plan_from_json)
            values["health"] = _maybe(data, "health", health_from_json)
            values["fingerprint"] = Fingerprint.from_json(data.get("fingerprint"))
            values["progress"] = _maybe(data, "progress", Progress.from_json)
            values["outcome"] = _maybe(data, "outcome", outcome_from_json)
        except (KeyError, TypeError, ValueError) as exc:
            raise JobDetailError(f"a job's recorded facts are unreadable: {exc!r}") from exc
        for name in _DOCUMENTS:
            block = data.get(name)
            values[name] = None if not isinstance(block, Mapping) else MappingProxyType(dict(block))
        known = (set(_TEXT) | set(_BLOCKS) | set(_DOCUMENTS)) - empty
        values["extra"] = MappingProxyType({k: v for k, v in data.items() if k not in known})
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON object as the store keeps it (`from_json`'s inverse)."""
        out: dict[str, Any] = dict(self.extra)
        for name in _TEXT:
            value = getattr(self, name)
            if value or name in self.recorded_text:
                out[name] = value
        if self.drive is not None:
            out["drive"] = drive_to_json(self.drive)
        if self.owner is not None:
            out["owner"] = self.owner.to_json()
        if self.plan is not None:
            out["plan"] = dataclasses.asdict(self.plan)
        if self.health is not None:
            out["health"] = health_to_json(self.health)
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint.to_json()
        if self.progress is not None:
            out["progress"] = self.progress.to_json()
        if self.outcome is not None:
            out["outcome"] = outcome_to_json(self.outcome)
        for name in _DOCUMENTS:
            block = getattr(self, name)
            if block is not None:
                out[name] = dict(block)
        return out


def _maybe(data: Mapping[str, Any], key: str, parse: Any) -> Any:
    block = data.get(key)
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise TypeError(f"{key} is {type(block).__name__}, not an object")
    return parse(block) if block else None  # an empty block stays in `extra`


def detail_of(view: JobView) -> JobDetail:
    """The typed facts of a recorded job."""
    return JobDetail.from_json(view.detail)
