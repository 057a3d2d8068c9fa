"""What a store's caller may wait out: the database did not answer (an outage, a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StoreUnavailable(Exception):
    """The statement did not run (or its result is unknown): try again later."""


@contextmanager
def unavailable_on_db_errors() -> Iterator[None]:
    """Errors of the connection (refused, dropped, a server starting up or shutting down)
    become `StoreUnavailable`; a statement the server refused stays what it is (a bug)."""
    # asyncpg's refused connection surfaces as a bare OSError, a slow one as TimeoutError.
    try:
        yield
    except (IntegrityError, ProgrammingError, DataError):
        raise
    except (DBAPIError, PoolTimeout, OSError, TimeoutError) as exc:
        first_line = (str(exc).splitlines() or [""])[0]  # later lines carry parameters
        raise StoreUnavailable(f"{type(exc).__name__}: {first_line[:200]}") from exc
