"""Passwords at the production cost: the rest of the suite hashes at argon2's lowest cost
(``cheap_password_hashing`` in tests/conftest.py), so the real parameters are held here."""

from __future__ import annotations

import argon2
import pytest

from gochat.server import auth

# Read at collection, before the session fixture swaps in the cheap hasher.
PRODUCTION_HASHER = auth._hasher
PRODUCTION_DUMMY_HASH = auth._DUMMY_HASH


def test_production_hashing_is_argon2id_at_the_library_recommended_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", PRODUCTION_HASHER)
    monkeypatch.setattr(auth, "_DUMMY_HASH", PRODUCTION_DUMMY_HASH)
    stored = auth.hash_password("correct horse 42")
    parameters = argon2.extract_parameters(stored)
    assert parameters.type is argon2.Type.ID
    recommended = argon2.PasswordHasher()
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        recommended.time_cost,
        recommended.memory_cost,
        recommended.parallelism,
    )
    assert argon2.extract_parameters(PRODUCTION_DUMMY_HASH) == parameters  # unknown names cost the same
    assert auth.verify_password(stored, "correct horse 42")
    assert not auth.verify_password(stored, "correct horse 43")
    assert not auth.verify_password(None, "correct horse 42")
