"""The facts the job engine writes into a job's record, by name and type (`JobFacts`).

Every write goes through a function that takes ``**facts: Unpack[JobFacts]`` (`JobJournal.move`,
`JobEngine._move`, `_end`, `_record`), so mypy refuses a misspelt key or a value of the wrong
type; ``None`` removes a key. `sanitiser.jobs.detail.JobDetail` reads them back, typed.
"""

from __future__ import annotations

from typing import Any, TypedDict

Json = dict[str, Any]
"""A block of JSON facts, as it is stored."""


class EndFacts(TypedDict, total=False):
    """The facts that may come with a job's end besides its ``status`` and ``reason``."""

    device: str
    drive: Json
    owner: Json
    policy: str
    technique_override: str
    retry_of: str
    retried_by: str | None
    plan: Json
    policy_name: str
    policy_version: str
    health: Json
    fingerprint: Json
    technique: str
    nist_category: str
    downgrade: str | None
    progress: Json
    outcome: Json
    certificate_id: str
    certificate_destination: str
    record_pending: Json | None
    record_error: str | None
    interrupted_from: str
    captured: str
    """Where the work was done when not on the bench's own bays (``on-device`` or
    ``off-bench``: a computer's own drive, through the network-boot agent)."""
    destination: str
    destination_reason: str
    routing_reason: str
    routing_rule: str
    destruction_level: str
    routing: Json
    route_override: Json


class JobFacts(EndFacts, total=False):
    """One write's facts (any subset); see `JobDetail` for what each means."""

    status: str
    reason: str
