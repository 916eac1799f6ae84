"""An advisory lock on an output folder, so that two runs never write one folder at once.

Two extractions into one OUT used to race: one merged and removed parts/ while the other still read them
("parts/...pkl: file not found"). A `flock` on a small file is released by the kernel when its process
dies, however it dies (SIGKILL included), so a lock left behind by a killed run never blocks the next one.
The holder's pid is written into the file, so the refusal can say who holds it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def hold_lock(path: str | os.PathLike, busy: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block. When another process holds it: wait for it when
    `wait`, else ValueError '<busy> (pid N)'."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ValueError(f"{busy} (pid {holder}); wait for it to end, or use another output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
