"""The store's one transaction helper: run a unit of work, commit it, and run it again when a
concurrent writer won a race.

Every write that must see other writers' rows goes through `transact` (the custody chain, the
destinations and consignments through `audit.run_in_transaction`, the sync through its own
error wording). A unique-key clash, a moved chain head, a locked SQLite database or a
PostgreSQL serialisation failure or deadlock rolls everything back and retries with jitter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from sanitiser.errors import RecordStoreError

T = TypeVar("T")

_RETRY_SQLSTATES = ("40001", "40P01")
"""PostgreSQL's serialization_failure and deadlock_detected."""


class ChainMovedError(RecordStoreError):
    """Another writer appended to the same station's chain first; the transaction is retried."""


def retryable(error: SQLAlchemyError) -> bool:
    """True when `error` means another writer won (run the work again), not a failure."""
    if isinstance(error, IntegrityError):
        return True
    if isinstance(error, OperationalError):
        text = str(error.orig).lower()
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return "locked" in text or "busy" in text or code in _RETRY_SQLSTATES
    return False


def _default_failure(error: SQLAlchemyError) -> RecordStoreError | None:
    return None if retryable(error) else RecordStoreError(f"store error: {error}")


def transact(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    attempts: int = 60,
    failure: Callable[[SQLAlchemyError], RecordStoreError | None] = _default_failure,
    busy: str = "the store stayed busy after {attempts} attempts",
) -> T:
    """Run `work` in one transaction on `engine` and commit it; again when a writer won a race.

    `failure` says which database errors end the work at once (the error to raise) and which
    are retried (None); by default everything `retryable` is retried. `work` must return plain
    values, not ORM objects.

    Raises:
        RecordStoreError: from `failure`, or `busy` when the retries ran out.
        SanitiserError: whatever `work` raises on purpose (nothing is committed).
    """
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            with Session(engine) as session:
                result = work(session)
                session.commit()
                return result
        except ChainMovedError as e:
            last = e
        except SQLAlchemyError as e:
            fatal = failure(e)
            if fatal is not None:
                raise fatal from e
            last = e
        time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))  # noqa: S311 - jitter
    raise RecordStoreError(f"{busy.format(attempts=attempts)}: {last}")
