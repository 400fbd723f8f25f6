"""Passwords at the production cost: the rest of the suite hashes at argon2's lowest cost
(``cheap_password_hashing`` in tests/conftest.py), so the real parameters are held here."""

from __future__ import annotations

import argon2
import pytest
from sqlalchemy import create_engine, text

from gochat.server import auth
from gochat.server.config import Settings
from tests.conftest import in_process_api

# Read at collection, before the session fixture swaps in the cheap hasher.
PRODUCTION_HASHER = auth._hasher
PRODUCTION_DUMMY_HASH = auth._DUMMY_HASH


def test_production_hashing_is_argon2id_at_owasps_recommended_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", PRODUCTION_HASHER)
    monkeypatch.setattr(auth, "_DUMMY_HASH", PRODUCTION_DUMMY_HASH)
    stored = auth.hash_password("correct horse 42")
    parameters = argon2.extract_parameters(stored)
    assert parameters.type is argon2.Type.ID
    # OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (docs/security.md).
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (2, 19 * 1024, 1)
    assert not auth.needs_rehash(stored)
    # A hash made at the library's default cost (what gochat stored before) is re-made at login.
    assert auth.needs_rehash(argon2.PasswordHasher().hash("correct horse 42"))
    assert argon2.extract_parameters(PRODUCTION_DUMMY_HASH) == parameters  # unknown names cost the same
    assert auth.verify_password(stored, "correct horse 42")
    assert not auth.verify_password(stored, "correct horse 43")
    assert not auth.verify_password(None, "correct horse 42")


async def test_a_hash_with_older_parameters_is_remade_at_the_next_successful_login(sqlite_settings: Settings) -> None:
    engine = create_engine(sqlite_settings.database_url)
    older = argon2.PasswordHasher(time_cost=1, memory_cost=16, parallelism=2)  # not today's parameters
    async with in_process_api(sqlite_settings) as api:
        assert (await api.post("/api/register", json={"username": "olduser", "password": "correct horse"})).is_success
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET password = :h"), {"h": older.hash("correct horse")})
        wrong = await api.post("/api/login", json={"username": "olduser", "password": "wrong horse"})
        assert wrong.status_code == 401
        with engine.connect() as connection:
            unchanged = connection.execute(text("SELECT password FROM users")).scalar_one()
        assert auth.needs_rehash(unchanged)  # a failed login changes nothing
        assert (await api.post("/api/login", json={"username": "olduser", "password": "correct horse"})).is_success
        with engine.connect() as connection:
            remade = connection.execute(text("SELECT password FROM users")).scalar_one()
        assert not auth.needs_rehash(remade)
        assert (await api.post("/api/login", json={"username": "olduser", "password": "correct horse"})).is_success
    engine.dispose()
