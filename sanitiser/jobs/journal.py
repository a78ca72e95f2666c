"""Write-ahead journalling of jobs to the store, and the codecs for what a job must remember.

`JobJournal` records every state transition in the store (SQLite WAL with ``synchronous=FULL``:
committed means on disk) *before* the job acts on it, as one compare-and-set: a transition is
written only if the job is still in the state this worker believes it is in, so two processes
can never both move a job. `MethodNotes` is the method's private journal (`MethodContext.journal`)
written through to the store on every change, so a restarted bench knows that a sanitize was
started, or which seed an overwrite used.

`ProcessOwner` says which process works on a job (boot id, pid and its start time): recovery
only touches jobs whose owner is dead, never the jobs of another live ``sanitiser`` process.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from sanitiser.domain import (
    ByteRange,
    CommandRecord,
    Drive,
    Health,
    HealthGrade,
    NistCategory,
    Outcome,
    OutcomeStatus,
    Transport,
    Verification,
)
from sanitiser.jobs.facts import JobFacts
from sanitiser.jobs.states import JobState, check_transition

if TYPE_CHECKING:  # annotations only: the network-boot agent journals without a store
    from sanitiser.store import JobView, Store

# --- the process that owns a job ------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def _start_ticks(pid: int, proc: Path) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot), or ""."""
    stat = _read(proc / str(pid) / "stat")
    _, _, rest = stat.rpartition(")")
    fields = rest.split()
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True, slots=True)
class ProcessOwner:
    """Which process works on a job: enough to tell, later, whether it is still alive."""

    host: str
    boot_id: str
    pid: int
    start: str
    """The process start time in clock ticks since boot (pids are reused; this is not)."""

    @classmethod
    def current(cls, proc: str | Path = "/proc") -> ProcessOwner:
        """This process."""
        root = Path(proc)
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot_id=_read(root / "sys" / "kernel" / "random" / "boot_id"),
            pid=pid,
            start=_start_ticks(pid, root),
        )

    def to_json(self) -> dict[str, Any]:
        """For the job's facts."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> ProcessOwner | None:
        """The owner recorded in a job's facts, or None when there is none (or it is garbled)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                str(data["host"]), str(data["boot_id"]), int(data["pid"]), str(data["start"])
            )
        except (KeyError, TypeError, ValueError):
            return None


def owner_alive(owner: ProcessOwner | None, proc: str | Path = "/proc") -> bool:
    """True when `owner` is a process still running on this machine since this boot.

    A job with no owner, or one from another boot (power loss, reboot), has no live owner. A job
    from another host (a shared PostgreSQL store) is treated as alive: it is not ours to judge.
    """
    if owner is None:
        return False
    if owner.host != socket.gethostname():
        return True
    root = Path(proc)
    if owner.boot_id != _read(root / "sys" / "kernel" / "random" / "boot_id"):
        return False
    return bool(owner.start) and _start_ticks(owner.pid, root) == owner.start


# --- codecs: the domain values a job must be able to rebuild after a restart ----------------


def drive_to_json(drive: Drive) -> dict[str, Any]:
    """A Drive as JSON-ready facts."""
    return dataclasses.asdict(drive)


def drive_from_json(data: Mapping[str, Any]) -> Drive:
    """Inverse of `drive_to_json`."""
    fields = {f.name for f in dataclasses.fields(Drive)}
    values = {k: v for k, v in data.items() if k in fields}
    values["transport"] = Transport(values.get("transport", "unknown"))
    return Drive(**values)


def health_to_json(health: Health) -> dict[str, Any]:
    """Health as JSON-ready facts (without the raw tool output)."""
    data = dataclasses.asdict(health)
    data.pop("raw", None)
    return data


def health_from_json(data: Mapping[str, Any]) -> Health:
    """Inverse of `health_to_json`."""
    fields = {f.name for f in dataclasses.fields(Health)}
    values = {k: v for k, v in data.items() if k in fields}
    values["grade"] = HealthGrade(values.get("grade", "unknown"))
    for key in ("reasons", "failed_attributes"):
        values[key] = tuple(values.get(key, ()))
    return Health(**values)


def _ranges(items: Any) -> tuple[ByteRange, ...]:
    return tuple(ByteRange(int(r["start"]), int(r["length"])) for r in items or ())


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    """An Outcome as JSON-ready facts (times as ISO text)."""
    data = dataclasses.asdict(outcome)
    data["started_at"] = outcome.started_at.isoformat()
    data["finished_at"] = outcome.finished_at.isoformat()
    data["details"] = [list(pair) for pair in outcome.details]
    return data


def outcome_from_json(data: Mapping[str, Any]) -> Outcome:
    """Inverse of `outcome_to_json`: the Outcome exactly as the method returned it."""
    ver = data.get("verification")
    verification = None
    if ver is not None:
        verification = Verification(
            **{
                **{k: v for k, v in ver.items() if k not in ("mismatched", "unreadable")},
                "mismatched": _ranges(ver.get("mismatched")),
                "unreadable": _ranges(ver.get("unreadable")),
            }
        )
    return Outcome(
        status=OutcomeStatus(data["status"]),
        method=str(data["method"]),
        nist_category=NistCategory(data["nist_category"]),
        verified=bool(data["verified"]),
        reason=str(data["reason"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=datetime.fromisoformat(data["finished_at"]),
        commands=tuple(
            CommandRecord(
                argv=tuple(c["argv"]),
                returncode=int(c["returncode"]),
                stdout_tail=c.get("stdout_tail", ""),
                stderr_tail=c.get("stderr_tail", ""),
            )
            for c in data.get("commands", ())
        ),
        verification=verification,
        hpa_dco=str(data.get("hpa_dco", "")),
        failed_ranges=_ranges(data.get("failed_ranges")),
        details=tuple((str(k), str(v)) for k, v in data.get("details", ())),
    )


_BYTES = "__bytes_hex__"


def _encode(value: Any) -> Any:
    """JSON-ready form of a journal value (bytes become a tagged hex string)."""
    if isinstance(value, bytes | bytearray):
        return {_BYTES: bytes(value).hex()}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES}:
            return bytes.fromhex(value[_BYTES])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# --- the journals ---------------------------------------------------------------------------


class SavedNotes(MutableMapping[str, Any]):
    """A method's private journal that is saved (`_save`) on every change: to the store on the
    bench (`MethodNotes`), reported to the bench from a computer's agent."""

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(initial or {})

    def _save(self) -> None:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._save()

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._save()

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._data))

    def __len__(self) -> int:
        return len(self._data)


class MethodNotes(SavedNotes):
    """A method's private journal, written through to the store on every change.

    Values must be JSON values or bytes (seeds); tuples come back as lists.
    """

    def __init__(self, store: Store, job_id: str, initial: Mapping[str, Any] | None = None) -> None:
        super().__init__(initial)
        self._store = store
        self._job_id = job_id

    @classmethod
    def load(cls, store: Store, job_id: str) -> MethodNotes:
        """The notes a job kept before (after a restart)."""
        return cls(store, job_id, _decode(store.job_journal(job_id)))

    def _save(self) -> None:
        self._store.save_job_journal(self._job_id, _encode(self._data))


class JobJournal:
    """The write-ahead journal of one job: a transition is on disk before it takes effect."""

    def __init__(self, store: Store, job_id: str, state: JobState) -> None:
        self.store = store
        self.job_id = job_id
        self.state = state

    def move(self, new: JobState, *, why: str = "", **detail: Unpack[JobFacts]) -> JobView:
        """Record `self.state` -> `new` (with `why` and `detail`), then adopt it.

        `why` goes into the journal entry; `detail` is merged into the job's facts.

        Raises:
            IllegalTransitionError: the state machine forbids it (nothing is written).
            StaleJobStateError: the stored job is no longer in `self.state`.
        """
        check_transition(self.state, new)
        event = {"reason": why} if why else {}
        view = self.store.transition_job(
            self.job_id, {self.state.value}, new.value, event=event, **detail
        )
        self.state = new
        return view

    def note(self, kind: str, **data: Any) -> None:
        """Append a non-transition entry (log line, outcome, progress checkpoint)."""
        self.store.append_job_event(self.job_id, kind, data)


def notes_to_json(notes: Mapping[str, Any]) -> dict[str, Any]:
    """A method's notes as JSON values (bytes tagged), as the store keeps them."""
    return {str(k): _encode(v) for k, v in notes.items()}


def notes_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `notes_to_json`."""
    return {str(k): _decode(v) for k, v in data.items()}
