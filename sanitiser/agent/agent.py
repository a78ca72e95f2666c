"""The agent's main loop on the device: say hello (inventory, drives, plans), then wait for the
bench's orders and run each one (`device.execute`), every step reported.

Online, orders come from the bench (`BenchLink.orders`); offline, from the technician at the
device (`OfflineConsole`: each drive confirmed by typing its serial), and the reports go to the
signed evidence on the stick.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sanitiser.agent.device import DeviceSeams, Execution, execute, survey
from sanitiser.agent.link import ChannelDown, Reporter
from sanitiser.agent.protocol import JobEvent, Order, OrderAction, ReportError, ReportKind
from sanitiser.errors import SanitiserError
from sanitiser.inventory.model import inventory_to_json

log = logging.getLogger(__name__)

POLL_S = 1.0
"""Seconds between asking the bench for orders."""
NOTES_WAIT_S = 3600.0
"""How long a method waits for its private notes to reach the bench before going on (an ATA
password must be kept before the command that sets it is sent); the wait ends at once when
they arrive."""


class Agent:
    """One boot of the agent.

    Args:
        seams: the device's tools, drives and guard.
        reporter: numbered, ordered delivery of reports.
        orders: where orders come from (the bench's, or the console's); None: none.
        policy: the policy the plans in the hello are made under ("" for the default).
    """

    def __init__(
        self,
        seams: DeviceSeams,
        reporter: Reporter,
        orders: Callable[[], Sequence[Order]] | None,
        *,
        policy: str = "",
    ) -> None:
        self.seams = seams
        self.reporter = reporter
        self.orders = orders
        self.policy = policy
        self.running: dict[str, Execution] = {}
        self.seen: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def hello(self) -> list[dict[str, Any]]:
        """Report the host's inventory and its drives; the drives as surveyed."""
        try:
            host: dict[str, Any] | None = inventory_to_json(self.seams.inventory())
            host_error = ""
        except SanitiserError as exc:
            host, host_error = None, exc.msg
        drives = survey(self.seams, self.policy)
        self.reporter.report(
            ReportKind.HELLO, {"host": host, "host_error": host_error, "drives": drives}
        )
        return drives

    def emitter(self, order: Order) -> Callable[[JobEvent, dict[str, Any]], None]:
        """Where one order's steps go: a job report each (notes are waited for)."""

        def emit(event: JobEvent, facts: dict[str, Any]) -> None:
            seq = self.reporter.report(
                ReportKind.JOB,
                {"order": order.order_id, "job": order.job_id, "event": event.value, **facts},
            )
            if event is JobEvent.NOTES:
                self.reporter.wait_delivered(seq, NOTES_WAIT_S)

        return emit

    def take(self, order: Order) -> None:
        """Act on one order (once: an order seen before is ignored)."""
        with self._lock:
            if order.order_id in self.seen:
                return
            self.seen.add(order.order_id)
        if order.action is OrderAction.ABORT:
            running = self.running.get(order.job_id)
            if running is not None:
                running.cancel.set()
            return
        run = Execution(order)
        self.running[order.job_id] = run
        thread = threading.Thread(
            target=self._execute, args=(run,), name=f"agent-job-{order.job_id[:8]}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _execute(self, run: Execution) -> None:
        emit = self.emitter(run.order)
        try:
            execute(self.seams, run, emit)
        except Exception as exc:  # the bench must hear why the job has no outcome
            log.exception("order %s failed", run.order.order_id)
            emit(JobEvent.FAILED, {"reason": f"internal error on the device: {exc!r}"})
        finally:
            self.running.pop(run.order.job_id, None)

    def run(self, stop: threading.Event) -> None:
        """Hello, then orders until `stop` (or until the bench refuses a report)."""
        self.hello()
        while not stop.is_set() and not self.reporter.refused:
            if self.orders is not None:
                try:
                    for order in self.orders():
                        self.take(order)
                except ChannelDown as exc:
                    log.info("no orders now: %s", exc.msg)
                except ReportError as exc:
                    log.warning("an order from the bench is unreadable: %s", exc.msg)
            stop.wait(POLL_S)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the orders being run to end."""
        for thread in list(self._threads):
            thread.join(timeout)


def offline_orders(
    drives: Sequence[dict[str, Any]], confirm: Callable[[dict[str, Any]], bool], policy: str = ""
) -> list[Order]:
    """Orders for the drives the technician confirmed at the device (offline): each drive the
    guard allows and the policy planned, offered to `confirm` (e.g. typing its serial)."""
    found: list[Order] = []
    for entry in drives:
        if entry["protected"] or not entry["shown"]:
            continue
        if not confirm(entry):
            continue
        drive = entry["drive"]
        found.append(
            Order(
                order_id=uuid.uuid4().hex,
                action=OrderAction.ERASE,
                job_id=str(uuid.uuid4()),
                drive_path=str(drive["path"]),
                drive=drive,
                confirmed_method=str(entry["shown"]),
                policy=policy,
            )
        )
    return found
