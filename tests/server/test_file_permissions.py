"""The SQLite database, its journal files and the folders gochat makes for them are readable by
their owner only, whatever the umask lets other programs do."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gochat.server.config import Settings, default_data_dir
from tests.conftest import in_process_api
from tests.helpers import register_and_login


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask (022), with which SQLite's own files are readable by every local user."""
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_its_journal_files_and_its_new_folders_are_private(tmp_path: Path) -> None:
    database = tmp_path / "made" / "by gochat" / "gochat.sqlite3"
    async with in_process_api(Settings(database_url=f"sqlite:///{database}")) as api:
        await register_and_login(api)  # a write: the -wal and -shm files exist while the server runs
        journal = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in journal)
        assert {path.name: mode(path) for path in [database, *journal]} == {
            "gochat.sqlite3": 0o600,
            "gochat.sqlite3-wal": 0o600,
            "gochat.sqlite3-shm": 0o600,
        }
    assert mode(tmp_path / "made") == 0o700
    assert mode(tmp_path / "made" / "by gochat") == 0o700


async def test_a_folder_the_admin_named_that_exists_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)  # a backup group may read it: the admin's decision
    async with in_process_api(Settings(database_url=f"sqlite:///{shared / 'chat.db'}")) as api:
        await register_and_login(api)
    assert mode(shared) == 0o750
    assert mode(shared / "chat.db") == 0o600


async def test_gochats_own_data_folder_is_made_private_even_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder = default_data_dir()
    assert folder == tmp_path / "data" / "gochat"
    folder.mkdir(parents=True)
    folder.chmod(0o755)  # as an older gochat, or the desktop app, made it
    async with in_process_api(Settings(database_url="")) as api:  # the default: SQLite in that folder
        await register_and_login(api)
    assert mode(folder) == 0o700
    assert mode(folder / "gochat.sqlite3") == 0o600
