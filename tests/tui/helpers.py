"""Helpers for the TUI's Pilot tests: the app over the real core, and waiting for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.pilot import Pilot
from textual.screen import Screen

from sanitiser.app.jobs import make_orchestrator
from sanitiser.app.services import Services
from sanitiser.domain import Drive, Transport
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.start_erase import StartEraseModal

SYSTEM = Drive(
    path="/dev/sdz",
    name="sdz",
    model="SYSTEM DISK",
    serial="SYS-1",
    size_bytes=10**12,
    transport=Transport.SATA,
    devnum="65:144",
)
"""The system disk beside the lab drives (the guard protects it)."""


def make_app(services: Services, operator: str = "alice") -> SanitiserApp:
    """The app over the real orchestrator (fast polling)."""
    bench = Bench(services, make_orchestrator(services, poll_interval=0.01))
    return SanitiserApp(services, bench=bench, operator=operator)


WAIT_S = 120.0
"""How long a condition may take to hold before the test fails. Generous on purpose: a job
runs to its certificate in a few seconds alone, but CI's two cores may also be running the
other worker, a QEMU lab guest and pyHanko's first import; a 30 s bound once expired there
(test_restart_from_history_runs_to_a_certificate). A condition that holds returns at once;
only a failing test waits the whole time."""


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = WAIT_S
) -> None:
    """Let the app run until `condition()` holds (workers and messages are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


S = TypeVar("S", bound=Screen[Any])


async def pushed(pilot: Pilot[None], app: SanitiserApp, key: str, kind: type[S]) -> S:
    """Press `key`; the `kind` screen it opens, once it is on top."""
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, kind))
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def bench_ready(pilot: Pilot[None], app: SanitiserApp) -> None:
    """The first scan has landed."""
    await wait_for(pilot, lambda: "sdz" in app.table.states and len(app.table.states) >= 6)


async def go_to(pilot: Pilot[None], app: SanitiserApp, name: str) -> None:
    """Move the cursor to the drive's row."""
    app.table.move_cursor(row=app.table.get_row_index(name))
    await pilot.pause()


async def sanitise_one(pilot: Pilot[None], app: SanitiserApp, name: str, tail: str) -> None:
    """Start and finish one drive through the confirmation."""
    await go_to(pilot, app, name)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
    modal = app.screen
    assert isinstance(modal, StartEraseModal)
    await wait_for(pilot, lambda: modal.plans is not None)
    await pilot.press("tab", *f"ERASE {tail}", "enter")
    await wait_for(pilot, lambda: app.table.states[name].outcome == "sanitised")


def notices(app: SanitiserApp) -> list[str]:
    """The texts of the notifications the app shows now."""
    return [n.message for n in app._notifications]


def noticed(app: SanitiserApp, text: str) -> Callable[[], bool]:
    """A condition for `wait_for`: a notification containing `text` is shown."""
    return lambda: any(text in n for n in notices(app))
