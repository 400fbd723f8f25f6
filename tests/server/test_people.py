"""GET /api/users?q=: people by part of their name, ignoring case, the exact name first, at most
50, and whether each is connected — on both backends, over a real socket."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from gochat.protocol import USERS_SEARCH_MAX
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.conftest import running_server
from tests.helpers import PASSWORD, auth, chat_client, eventually, register_and_login


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    # Registrations unthrottled: these tests register more people than one address may at once.
    with running_server(dataclasses.replace(settings, register_per_minute=0)) as thread:
        yield thread


async def register(api: httpx.AsyncClient, *names: str) -> None:
    for name in names:
        response = await api.post("/api/register", json={"username": name, "password": PASSWORD})
        assert response.status_code == 201, response.text


async def find(api: httpx.AsyncClient, token: str, q: str) -> list[str]:
    response = await api.get("/api/users", params={"q": q}, headers=auth(token))
    assert response.status_code == 200, response.text
    return [person["username"] for person in response.json()]


@pytest.mark.backends
async def test_names_containing_the_text_ignoring_case_the_exact_one_first(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api, "searcher")
    await register(api, "Mallinson", "linus", "Carolina", "Lin", "bob", "Straße", "张三丰")
    # The exact name (any case) first, then by name ignoring case.
    assert await find(api, token, "lin") == ["Lin", "Carolina", "linus", "Mallinson"]
    assert await find(api, token, "LIN") == ["Lin", "Carolina", "linus", "Mallinson"]
    assert await find(api, token, "Linus") == ["linus"]
    # Case folding, not lower-casing: STRASSE finds Straße; Chinese inside a name.
    assert await find(api, token, "STRASSE") == ["Straße"]
    assert await find(api, token, "三") == ["张三丰"]
    assert await find(api, token, "nobody here") == []
    body = (await api.get("/api/users", params={"q": "bob"}, headers=auth(token))).json()
    assert body == [{"id": body[0]["id"], "username": "bob", "online": False}]


@pytest.mark.backends
async def test_like_wildcards_are_plain_characters(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api, "under_score")
    await register(api, "plain", "dash-ed")
    assert await find(api, token, "_") == ["under_score"]
    assert await find(api, token, "%") == []
    assert await find(api, token, "-") == ["dash-ed"]


async def test_at_most_fifty_the_exact_name_among_them(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api, "searcher")
    await register(api, *(f"zzz{n:02d}" for n in range(USERS_SEARCH_MAX + 5)), "zzz")
    found = await find(api, token, "ZZZ")
    assert len(found) == USERS_SEARCH_MAX
    assert found == ["zzz", *(f"zzz{n:02d}" for n in range(USERS_SEARCH_MAX - 1))]


@pytest.mark.backends
async def test_online_means_connected_anywhere(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api, "watcher")
    bob, _ = await register_and_login(api, "bobcat")

    async def bob_online() -> bool:
        response = await api.get("/api/users", params={"q": "bobcat"}, headers=auth(token))
        return bool(response.json()[0]["online"])

    async def bob_offline() -> bool:
        return not await bob_online()

    assert not await bob_online()
    # Connected, in no room at all: online all the same.
    async with chat_client(server.url, bob):
        await eventually(bob_online, what="bob online")
    await eventually(bob_offline, what="bob offline")


async def test_needs_a_token_and_a_query_of_one_to_32_characters(api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    response = await api.get("/api/users", params={"q": "bob"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    for params in ({}, {"q": ""}, {"q": "x" * 33}):
        response = await api.get("/api/users", params=params, headers=auth(token))
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"] == "validation"
    assert (await api.get("/api/users", params={"q": "x" * 32}, headers=auth(token))).status_code == 200
