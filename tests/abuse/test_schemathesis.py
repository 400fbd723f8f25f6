"""schemathesis over /openapi.json: generated requests, valid and invalid, to every operation of
the REST API (in-process, a database of each test's own), with a valid token unless the case is
about the token. Every answer must be documented: its status, content type, headers and body
schema; no 5xx; an unsupported method gets 405 with Allow; invalid input is refused."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as general_checks
from schemathesis.specs.openapi import checks
from starlette.types import ASGIApp, Receive, Scope, Send

from gochat.server.app import create_app
from gochat.server.config import Settings
from tests.helpers import PASSWORD, scaled, unique_name

# Hypothesis examples per operation; schemathesis's examples and coverage phases add their own
# cases to each. The ``token`` fixture holds every operation to a floor of cases, and the floors
# add up to at least 2,000 (asserted below): /api/health takes no input, so it has a handful.
EXAMPLES_PER_OPERATION = 225
FLOOR = {"GET /api/health": 5}
FLOOR_WITH_INPUT = EXAMPLES_PER_OPERATION
MIN_CASES = 2_000

CHECKS = [
    general_checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.ignored_auth,
]
# Not run: positive_data_acceptance. A schema-valid username such as ", " is rightly a 422: the
# name rules (letters of any script, no look-alikes, docs/protocol.md) are more than JSON Schema
# can say, so "valid by the schema" is not "valid".


class CurrentApp:
    """The ASGI app schemathesis calls: each test's own, made by the ``token`` fixture.
    schemathesis runs its lifespan (storage opened and closed) around each test."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.token = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the token fixture makes the app"
        await self.app(scope, receive, send)


CURRENT = CurrentApp()
# The document the server serves at /openapi.json (FastAPI builds it once, the same way).
OPENAPI = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.app = CURRENT
# Unknown query parameters are ignored, as HTTP APIs do (a client may add a cache-buster);
# they are not "invalid data" to be refused.
schema.config.generation.update(allow_extra_parameters=False, database="none")


@schema.auth(refresh_interval=None)
class Bearer:
    """The fixture's token on every case, except those about a missing or bad token."""

    def get(self, case: Any, context: Any) -> str:
        return CURRENT.token

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


CASES: collections.Counter[str] = collections.Counter()


def floor(label: str) -> int:
    return FLOOR.get(label, FLOOR_WITH_INPUT)


def test_the_floors_add_up_to_the_cases_asked_for() -> None:
    labels = [f"{method.upper()} {path}" for path, methods in OPENAPI["paths"].items() for method in methods]
    assert len(labels) == 13, labels
    assert sum(floor(label) for label in labels) >= MIN_CASES


@pytest.fixture
def token(tmp_path: Path) -> Iterator[str]:
    """A database and app of this test's own, a user on it and their token; afterwards, the
    number of cases the test ran is held to its operation's floor."""
    CURRENT.app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/gochat.sqlite3"))
    body = {"username": unique_name(), "password": PASSWORD}
    assert schema["/api/register"]["POST"].Case(body=body).call().status_code == 201
    response = schema["/api/login"]["POST"].Case(body=body).call()
    assert response.status_code == 200, response.text
    CURRENT.token = response.json()["token"]
    before = CASES.copy()
    yield CURRENT.token
    CURRENT.app = None
    for label, count in (CASES - before).items():
        assert count >= floor(label), f"{label}: {count} cases, fewer than {floor(label)}"


@schema.parametrize()
# Some 230 cases of about 25 ms of CPU each (two thirds generating, one third answering): on two
# cores shared with the rest of the suite one operation has taken 100 s, so it has more than the
# suite's 120 s.
@pytest.mark.timeout(scaled(300))
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case: Any, token: str) -> None:
    CASES[case.operation.label] += 1
    case.call_and_validate(checks=CHECKS)
