"""An exclusive OS lock on a working folder, held for as long as one process works in it.

Two ``evaluate`` processes on one ``--out`` would both score every sample and both append rows (two
``build-dataset`` would write the same shards and merge into one folder); the second must stop at once
and say who holds the folder. The lock is ``fcntl.flock`` on
``FOLDER/.lock``: the kernel releases it when the holder exits, however it exits (a SIGKILL
included), so a stale lock file never blocks a later run. The file holds the holder's process id,
host and start time, for the message.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pikfix_bench.errors import PikfixError
from pikfix_bench.safe_paths import open_regular

LOCK_FILE = ".lock"


def _holder(lock_path: Path) -> str:
    """Who holds the lock, in words, from what the holder wrote into the lock file."""
    try:
        record = json.loads(lock_path.read_text())
        return (
            f"process {int(record['pid'])} on {str(record['host'])[:64]} (since {str(record['since'])[:32]})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if needed) for the duration of the ``with`` block.

    Parameters
    ----------
    folder : str or Path
        The working folder (a run directory, a build's ``OUT.partial``).

    Raises
    ------
    PikfixError
        At once, naming the holder, when another process holds the folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PikfixError(f"{folder}: a file is there, not a working folder; move it or use another --out")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_FILE
    descriptor = open_regular(lock_path, os.O_RDWR | os.O_CREAT, "lock file")  # never through a link
    held = False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PikfixError(
                f"{folder} is in use by {_holder(lock_path)}; wait for it to finish or use another --out"
            ) from None
        held = True
        since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since})
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, record.encode(), 0)
        yield
    finally:
        if held and created and folder.is_dir() and [path.name for path in folder.iterdir()] == [LOCK_FILE]:
            lock_path.unlink()  # a run that wrote nothing leaves no folder behind
            folder.rmdir()
        os.close(descriptor)  # releases the lock
