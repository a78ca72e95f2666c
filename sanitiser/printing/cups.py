"""Printing through CUPS: ``lp`` hands the label (a PDF the size of the stock) to a queue, and
``ipptool`` (Get-Job-Attributes) follows the job until CUPS says it completed, or failed.

A job CUPS aborted or cancelled is a failure (nothing completed: the queue may retry it). A job
still waiting when the wait is over (the printer stopped, held, or too slow) is cancelled, so
it cannot print later behind the retry's back; one being printed is left to finish, and said to
be unconfirmed.
"""

from __future__ import annotations

import getpass
import re
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from sanitiser.labels.address import PrinterAddress
from sanitiser.labels.jobs import Prepared, media_option
from sanitiser.printing.errors import Fault, PrinterError
from sanitiser.runner import CommandResult, CommandRunner

_REQUEST = re.compile(r"request id is (\S+)-(\d+) ")
_WAITING = {"pending", "pending-held", "processing-stopped"}
_FAILED = {"aborted", "canceled"}


def _server(address: PrinterAddress) -> list[str]:
    server = address.options.get("server", "")
    return ["-h", server] if server else []


def _lp_fault(result: CommandResult, address: PrinterAddress) -> PrinterError:
    said = (result.stderr or result.stdout).strip().splitlines()
    text = said[-1] if said else f"lp exited {result.returncode}"
    lower = text.lower()
    if result.returncode == 127:
        return PrinterError("lp is not installed (apt-get install cups-client)", Fault.REFUSED)
    if "does not exist" in lower or "not accepting" in lower or "forbidden" in lower:
        return PrinterError(f"{address.where}: {text}", Fault.REFUSED)
    if "connect" in lower or "scheduler" in lower or result.returncode == 124:
        return PrinterError(f"CUPS for {address.where} cannot be reached: {text}", Fault.OFFLINE)
    return PrinterError(f"{address.where}: {text}", Fault.REFUSED)


def job_state(
    runner: CommandRunner, address: PrinterAddress, job_id: int, timeout: float
) -> tuple[str, str, str]:
    """(job-state, job-state-reasons, job-printer-state-message) of a CUPS job.

    Raises:
        PrinterError: ipptool failed or answered something else.
    """
    server = address.options.get("server", "") or "localhost"
    uri = f"ipp://{server}/printers/{address.queue}"
    test = resources.files("sanitiser.printing").joinpath("get-job-state.test")
    with resources.as_file(test) as path:
        result = runner.run(
            [
                "ipptool",
                "-c",
                "-T",
                f"{max(1, int(timeout))}",
                "-d",
                f"job_id={job_id}",
                "-d",
                f"user={getpass.getuser()}",
                uri,
                str(path),
            ],
            timeout=timeout + 5,
        )
    rows = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(rows) < 2 or not rows[0].startswith("job-state,"):
        said = (result.stderr or result.stdout).strip().splitlines()
        raise PrinterError(
            f"CUPS job {address.queue}-{job_id}: its state cannot be read "
            f"({said[-1] if said else 'ipptool exited ' + str(result.returncode)})",
            Fault.UNCONFIRMED,
            delivered=True,
        )
    fields = [*rows[1].split(",", 2), "", ""]
    return fields[0], fields[1], fields[2].strip().strip('"')


def print_cups(
    runner: CommandRunner,
    address: PrinterAddress,
    prepared: Prepared,
    copies: int,
    *,
    timeout: float,
    wait: float,
    title: str = "label",
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Print through a CUPS queue and follow the job to its end; what CUPS said, for people.

    Raises:
        PrinterError: the queue refused, the scheduler is unreachable, the job failed, or it
            did not finish within `wait` s.
    """
    with tempfile.TemporaryDirectory(prefix="sanitiser-label-") as tmp:
        path = Path(tmp) / "label.pdf"
        path.write_bytes(prepared.data)
        argv = [
            "lp",
            *_server(address),
            "-d",
            address.queue,
            "-n",
            str(copies),
            "-t",
            title,
            "-o",
            f"media={media_option(prepared)}",
            str(path),
        ]
        result = runner.run(argv, timeout=timeout)
    if result.returncode != 0:
        raise _lp_fault(result, address)
    found = _REQUEST.search(result.stdout + " ")
    if found is None:
        raise PrinterError(
            f"lp did not say which job it made: {result.stdout.strip()!r}",
            Fault.UNCONFIRMED,
            delivered=True,
        )
    job = int(found.group(2))
    name = f"{address.queue}-{job}"
    deadline = time.monotonic() + wait
    while True:
        state, reasons, message = job_state(runner, address, job, timeout)
        why = ", ".join(x for x in (reasons, message) if x and x != "none")
        if state == "completed":
            return f"CUPS job {name} completed"
        if state in _FAILED:
            raise PrinterError(
                f"CUPS job {name} {state}" + (f": {why}" if why else ""), Fault.JOB_FAILED
            )
        if time.monotonic() >= deadline:
            break
        sleep(0.5)
    if state in _WAITING:
        runner.run(["cancel", *_server(address), name], timeout=timeout)
        raise PrinterError(
            f"CUPS job {name} still {state} after {wait:g} s"
            + (f" ({why})" if why else "")
            + "; cancelled, so it cannot print later",
            Fault.JOB_FAILED,
        )
    raise PrinterError(
        f"CUPS job {name} still {state} after {wait:g} s: it may yet print; check the printer "
        "before printing again",
        Fault.UNCONFIRMED,
        delivered=True,
    )
