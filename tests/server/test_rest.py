"""The REST API: statuses, readable errors, validation, auth. In-process (httpx's
ASGITransport on the app factory); HTTP over a real socket is covered where a real server
runs (test_chat.py, test_headless.py, the desktop tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.conftest import in_process_api
from tests.helpers import PASSWORD, auth, chat_client, create_room, register_and_login, scaled, unique_name


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(settings) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


@pytest.mark.backends
async def test_username_is_unique_ignoring_case(api: httpx.AsyncClient) -> None:
    name = unique_name("Ärger")
    assert (await api.post("/api/register", json={"username": name, "password": PASSWORD})).status_code == 201
    for variant in (name.upper(), name.lower(), name.swapcase()):
        response = await api.post("/api/register", json={"username": variant, "password": PASSWORD})
        assert_error(response, 409, "conflict")
    # Accents are not case, but a mark added to an existing name makes a look-alike of it
    # (docs/protocol.md): "José" after "Jose" is refused on every backend, as a look-alike.
    base = unique_name("jose")
    assert (await api.post("/api/register", json={"username": base, "password": PASSWORD})).status_code == 201
    accented = base.replace("jose", "josé")
    response = await api.post("/api/register", json={"username": accented, "password": PASSWORD})
    assert_error(response, 409, "conflict")
    assert "looks too much like an existing one" in response.json()["message"]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ab", PASSWORD),  # too short
        ("a" * 33, PASSWORD),  # too long
        ("has space", PASSWORD),
        ("semi;colon", PASSWORD),
        ("emoji😀x", PASSWORD),
        ("okname", "short"),  # password too short
        ("okname", "x" * 129),  # password too long
        (123, PASSWORD),  # not text
    ],
)
async def test_register_rejects_invalid_input_with_422(api: httpx.AsyncClient, username: object, password: str) -> None:
    response = await api.post("/api/register", json={"username": username, "password": password})
    assert_error(response, 422, "validation")


@pytest.mark.backends
async def test_text_that_is_not_unicode_gets_422_not_500(api: httpx.AsyncClient) -> None:
    """JSON may carry a lone surrogate (\\ud800), which no database can store."""
    body = b'{"username": "ab\\ud800cd", "password": "correct horse 42"}'
    response = await api.post("/api/register", content=body, headers={"content-type": "application/json"})
    assert_error(response, 422, "validation")
    token, _ = await register_and_login(api)
    body = b'{"name": "room \\udfff"}'
    response = await api.post("/api/rooms", content=body, headers={"content-type": "application/json", **auth(token)})
    assert_error(response, 422, "validation")


@pytest.mark.backends
async def test_register_accepts_names_in_any_script(api: httpx.AsyncClient) -> None:
    for name in ("张伟_01", "Ελένη-7", "नमस्ते", "a" * 32, "abc"):
        response = await api.post("/api/register", json={"username": name, "password": "x" * 8})
        assert response.status_code in (201, 409), response.text  # 409 only if a prior run left it
    response = await api.post("/api/register", json={"username": unique_name(), "password": "密码密码密码密码"})
    assert response.status_code == 201


async def test_malformed_bodies_get_readable_422(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.post("/api/register", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "validation",
    )
    assert_error(await api.post("/api/register", json={"username": "alice"}), 422, "validation")
    assert_error(await api.post("/api/register", json=[1, 2]), 422, "validation")


async def test_login_does_not_reveal_whether_a_user_exists(api: httpx.AsyncClient) -> None:
    _, user = await register_and_login(api)
    wrong_password = await api.post("/api/login", json={"username": user["username"], "password": "wrong password"})
    no_such_user = await api.post("/api/login", json={"username": unique_name(), "password": "wrong password"})
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()
    # Login ignores case like registration does.
    upper = await api.post("/api/login", json={"username": user["username"].upper(), "password": PASSWORD})
    assert upper.status_code == 200
    assert upper.json()["user"] == user


async def test_every_endpoint_but_register_login_health_needs_a_token(api: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/me"),
        ("POST", "/api/logout"),
        ("GET", "/api/rooms"),
        ("POST", "/api/rooms"),
        ("GET", "/api/rooms/1"),
        ("GET", "/api/rooms/1/messages"),
    ]:
        for headers in ({}, auth("forged"), {"Authorization": "Basic abc"}):
            response = await api.request(method, path, headers=headers, json={"name": "x"})
            assert_error(response, 401, "unauthorized")
    assert (await api.get("/api/health")).status_code == 200


@pytest.mark.backends
async def test_rooms_create_list_search_and_validate(api: httpx.AsyncClient) -> None:
    token, me = await register_and_login(api)
    tag = unique_name("")
    room = await create_room(api, token, f"  Café {tag} 茶  ")
    assert room["name"] == f"Café {tag} 茶"
    assert room["creator"] == me
    assert room["online"] == 0
    assert room["createdAt"].endswith("Z")
    assert_error(await api.post("/api/rooms", json={"name": f"CAFÉ {tag} 茶"}, headers=auth(token)), 409, "conflict")
    for bad in ("", "   ", "x" * 65, "tab\there", "nul\x00"):
        assert_error(await api.post("/api/rooms", json={"name": bad}, headers=auth(token)), 422, "validation")
    assert (await api.post("/api/rooms", json={"name": "y" * 64}, headers=auth(token))).status_code == 201
    listed = (await api.get("/api/rooms", headers=auth(token))).json()
    assert room in listed
    found = (await api.get("/api/rooms", params={"q": f"café {tag}"}, headers=auth(token))).json()
    assert [r["id"] for r in found] == [room["id"]]
    assert (await api.get("/api/rooms", params={"q": "no such room zzz"}, headers=auth(token))).json() == []
    assert (await api.get(f"/api/rooms/{room['id']}", headers=auth(token))).json() == room


@pytest.mark.unthrottled_messages
@pytest.mark.backends
async def test_history_paging_limits_and_unknown_rooms(server: ServerThread) -> None:
    # Messages go in through a WebSocket: this one runs against a real server.
    async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
        await _history_paging_limits_and_unknown_rooms(server, api)


async def _history_paging_limits_and_unknown_rooms(server: ServerThread, api: httpx.AsyncClient) -> None:
    token, _ = await register_and_login(api)
    room = await create_room(api, token)
    async with chat_client(server.url, token) as c:
        await c.enter(room["id"])
        for i in range(230):
            await c.send(2, {"roomId": room["id"], "content": f"n{i}"})
        for _ in range(230):
            await c.expect(4)
    url = f"/api/rooms/{room['id']}/messages"
    default = (await api.get(url, headers=auth(token))).json()
    assert [m["content"] for m in default] == [f"n{i}" for i in range(180, 230)]
    biggest = (await api.get(url, params={"limit": 1000}, headers=auth(token))).json()
    assert len(biggest) == 200
    assert biggest[-1]["content"] == "n229"
    page = (await api.get(url, params={"before": default[0]["id"], "limit": 5}, headers=auth(token))).json()
    assert [m["content"] for m in page] == [f"n{i}" for i in range(175, 180)]
    after = (await api.get(url, params={"after": default[-2]["id"]}, headers=auth(token))).json()
    assert [m["content"] for m in after] == ["n229"]
    for params in ({"limit": 0}, {"limit": "ten"}, {"before": -1}):
        assert_error(await api.get(url, params=params, headers=auth(token)), 422, "validation")
    assert_error(await api.get("/api/rooms/999999/messages", headers=auth(token)), 404, "not_found")
    assert_error(await api.get("/api/rooms/999999", headers=auth(token)), 404, "not_found")
    assert_error(await api.get("/api/rooms/abc/messages", headers=auth(token)), 422, "validation")


@pytest.mark.backends
async def test_me_logout_and_health(api: httpx.AsyncClient) -> None:
    token, me = await register_and_login(api)
    assert (await api.get("/api/me", headers=auth(token))).json() == {**me, "admin": False}
    health = (await api.get("/api/health")).json()
    assert health["status"] == "ok"
    assert health["storage"]["ok"]
    assert health["cache"]["ok"]
    assert (await api.post("/api/logout", headers=auth(token))).status_code == 204
    assert_error(await api.get("/api/me", headers=auth(token)), 401, "unauthorized")
    assert_error(await api.post("/api/logout", headers=auth(token)), 401, "unauthorized")


async def test_openapi_document_is_published(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    for path in (
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/rooms",
        "/api/rooms/{room_id}/messages",
        "/api/health",
    ):
        assert path in document["paths"], path


async def test_unknown_paths_are_json_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/api/nope"), 404, "not_found")
