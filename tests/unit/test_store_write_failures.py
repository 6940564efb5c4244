"""How a failed write transaction is reported: a full disk apart from an unreachable database."""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import OperationalError

from minikube_py.store.base import DiskFull, Unavailable
from minikube_py.store.sql import _failure


class _PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("could not extend file: No space left on device")
        self.sqlstate = sqlstate


def _sqlite_error(code: int, message: str) -> OperationalError:
    cause = sqlite3.OperationalError(message)
    cause.sqlite_errorcode = code
    return OperationalError("INSERT", {}, cause)


def test_a_full_sqlite_disk_is_disk_full() -> None:
    failure = _failure(_sqlite_error(13, "database or disk is full"))
    assert isinstance(failure, DiskFull)
    assert "disk is full (database or disk is full)" in str(failure)


def test_postgresql_disk_full_and_enospc_are_disk_full() -> None:
    assert isinstance(_failure(OperationalError("INSERT", {}, _PostgresError("53100"))), DiskFull)
    assert isinstance(_failure(OSError(errno.ENOSPC, "No space left on device")), DiskFull)


def test_other_database_errors_stay_unavailable_or_themselves() -> None:
    locked = _failure(_sqlite_error(5, "database is locked"))
    assert isinstance(locked, Unavailable) and not isinstance(locked, DiskFull)
    refused = _failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert type(refused) is Unavailable
    bug = ValueError("not a database error")
    assert _failure(bug) is bug
