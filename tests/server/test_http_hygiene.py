"""What every REST answer carries and what the server does not serve: security headers, 405 with
Allow, a readable 400 for a body that is not UTF-8, the API pages only when asked for, and an
API description that documents every error status an endpoint answers."""

from __future__ import annotations

import httpx
import pytest

from gochat.server.config import Settings, settings_from_args
from tests.conftest import in_process_api
from tests.helpers import auth, register_and_login

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_security_headers(response: httpx.Response) -> None:
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS, response


async def test_every_rest_answer_carries_the_security_headers(sqlite_settings: Settings) -> None:
    async with in_process_api(sqlite_settings) as api:
        token, _ = await register_and_login(api)
        answers = [
            await api.get("/api/health"),
            await api.get("/api/me", headers=auth(token)),
            await api.get("/api/me"),  # 401
            await api.get("/api/rooms/987654", headers=auth(token)),  # 404
            await api.post("/api/rooms", json={"name": ""}, headers=auth(token)),  # 422
            await api.get("/no/such/path"),
            await api.get("/openapi.json"),
        ]
        assert [r.status_code for r in answers] == [200, 200, 401, 404, 422, 404, 200]
        for response in answers:
            assert_security_headers(response)
            # HSTS only over TLS: a browser ignores it over http anyway (RFC 6797).
            assert "strict-transport-security" not in response.headers


async def test_over_tls_answers_carry_strict_transport_security(sqlite_settings: Settings) -> None:
    # The in-process app is told it runs behind TLS (the certificate is uvicorn's business).
    settings = Settings(database_url=sqlite_settings.database_url, certfile="cert.pem", keyfile="key.pem")
    assert settings.tls
    async with in_process_api(settings) as api:
        response = await api.get("/api/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/api/health", "GET"),
        ("TRACE", "/api/rooms", "GET, POST"),
        ("DELETE", "/api/rooms", "GET, POST"),
        ("PUT", "/api/rooms/3", "GET"),
        ("GET", "/api/login", "POST"),
        ("OPTIONS", "/api/rooms/3/messages", "GET"),
    ],
)
async def test_an_unsupported_method_is_405_with_allow_and_a_json_error(
    sqlite_settings: Settings, method: str, path: str, allow: str
) -> None:
    async with in_process_api(sqlite_settings) as api:
        response = await api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    body = response.json()
    assert body["error"] == "http_error"
    assert method in body["message"]
    assert allow in body["message"]
    assert_security_headers(response)


async def test_a_body_that_is_not_utf8_is_a_readable_400(sqlite_settings: Settings) -> None:
    async with in_process_api(sqlite_settings) as api:
        response = await api.post(
            "/api/register",
            content=b'{"username": "\xff\xfe", "password": "correct horse 42"}',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": "http_error",
        "message": "The request body could not be read: it must be JSON in UTF-8.",
    }


async def test_the_api_pages_are_off_by_default_and_the_description_is_served(sqlite_settings: Settings) -> None:
    async with in_process_api(sqlite_settings) as api:
        assert (await api.get("/docs")).status_code == 404
        assert (await api.get("/redoc")).status_code == 404
        assert (await api.get("/docs/oauth2-redirect")).status_code == 404
        description = await api.get("/openapi.json")
    assert description.status_code == 200
    assert description.json()["info"]["title"] == "gochat"


async def test_api_docs_serves_the_pages(sqlite_settings: Settings) -> None:
    settings = Settings(database_url=sqlite_settings.database_url, api_docs=True)
    async with in_process_api(settings) as api:
        for path in ("/docs", "/redoc"):
            page = await api.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            # The pages load Swagger UI or ReDoc from a CDN: only the framing rule applies.
            assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert page.headers["x-frame-options"] == "DENY"


def test_api_docs_flag_and_environment_variable() -> None:
    assert settings_from_args([], env={}).api_docs is False
    assert settings_from_args(["--api-docs"], env={}).api_docs is True
    assert settings_from_args([], env={"GOCHAT_API_DOCS": "1"}).api_docs is True
    assert settings_from_args(["--no-api-docs"], env={"GOCHAT_API_DOCS": "1"}).api_docs is False


# What each endpoint can answer besides success (docs/protocol.md says the same in words).
DOCUMENTED_ERRORS = {
    ("post", "/api/register"): {"400", "409", "408", "413", "422", "429", "503"},
    ("post", "/api/login"): {"400", "401", "408", "413", "422", "429", "503"},
    ("post", "/api/logout"): {"400", "401", "408", "413", "422", "503"},
    ("get", "/api/me"): {"401", "503"},
    ("get", "/api/rooms"): {"401", "422", "503"},
    ("post", "/api/rooms"): {"400", "401", "408", "409", "413", "422", "429", "503"},
    ("get", "/api/rooms/{room_id}"): {"401", "404", "422", "503"},
    ("post", "/api/rooms/{room_id}/read"): {"400", "401", "408", "404", "413", "422", "503"},
    ("get", "/api/rooms/{room_id}/messages"): {"401", "404", "422", "503"},
    ("get", "/api/search"): {"401", "404", "422", "503"},
    ("get", "/api/health"): {"503"},
    ("patch", "/api/rooms/{room_id}/messages/{message_id}"): {
        "400",
        "401",
        "403",
        "404",
        "408",
        "413",
        "422",
        "429",
        "503",
    },
    ("delete", "/api/rooms/{room_id}/messages/{message_id}"): {"401", "403", "404", "422", "503"},
    ("get", "/api/users"): {"401", "422", "503"},
    ("post", "/api/dms"): {"400", "401", "404", "408", "413", "422", "503"},
    ("get", "/api/dms"): {"401", "503"},
}


async def test_the_api_description_documents_every_error_status(sqlite_settings: Settings) -> None:
    async with in_process_api(sqlite_settings) as api:
        document = (await api.get("/openapi.json")).json()
    found = {
        (method, path): {status for status in operation["responses"] if status >= "400"}
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert found == DOCUMENTED_ERRORS
    error_schema = {"$ref": "#/components/schemas/ErrorOut"}
    for (method, path), statuses in DOCUMENTED_ERRORS.items():
        responses = document["paths"][path][method]["responses"]
        for status in statuses - ({"503"} if path == "/api/health" else set()):
            content = responses[status]["content"]["application/json"]
            # 429's body is an error body whose retryAfter is always there.
            schema = {"$ref": "#/components/schemas/RateLimitedOut"} if status == "429" else error_schema
            assert content["schema"] == schema, (method, path, status)
            assert set(content["example"]) >= {"error", "message"}
    rate_limited = document["components"]["schemas"]["RateLimitedOut"]
    assert set(rate_limited["required"]) >= {"error", "message", "retryAfter"}
    throttled = document["paths"]["/api/login"]["post"]["responses"]["429"]
    assert throttled["headers"]["Retry-After"]["required"] is True
    assert throttled["content"]["application/json"]["example"]["retryAfter"] > 0
