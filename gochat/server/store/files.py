"""The database's files on disk, readable by their owner only: the SQLite file, its -wal and -shm
journal files, and the folders gochat makes for them (docs/security.md, "Smaller items")."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def make_private_directory(path: Path, *, ours: bool) -> None:
    """Create ``path``, and each missing folder above it, as 0700.

    A folder that already exists is the admin's, and may be shared on purpose (a backup group):
    it is left as it is, unless it is ``ours`` - gochat's own data folder, which an older version
    made 0755 - and then it is tightened to 0700.
    """
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        # FileExistsError: made meanwhile by another process, which decided its mode.
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIRECTORY)
    if ours and stat.S_IMODE(path.stat().st_mode) & ~PRIVATE_DIRECTORY:
        path.chmod(PRIVATE_DIRECTORY)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty, as 0600, unless it exists (then it is left as it is).

    SQLite creates a database file 0644, readable by every local user; an empty file is an empty
    database to it, and it gives the -wal and -shm files it makes beside it the database file's
    own mode, so all three are private.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(descriptor)
