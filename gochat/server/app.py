"""The app factory: one ASGI app for the headless server and the one embedded in the desktop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gochat import __version__
from gochat.protocol import ErrorCode, ValidationError
from gochat.server import api, api_people, ws
from gochat.server.body_limit import BodyLimit
from gochat.server.config import Settings
from gochat.server.context import ServerContext
from gochat.server.errors import ChatError, StorageUnavailable, log_if_storage_failed
from gochat.server.headers import SecurityHeaders
from gochat.server.http_errors import HTTP_ERROR, VALIDATION_STATUS, chat_error_response, error_response

log = logging.getLogger(__name__)


def _describe(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    where = ".".join(location)
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    if error.get("type") == "missing":
        return f"{where} is required." if where else "The request body is required."
    return f"{where}: {error.get('msg', 'invalid')}." if where else f"{error.get('msg', 'Invalid input')}."


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers at ``path``, asked of the router itself (FastAPI nests
    included routers, so their routes are not a flat list to read methods from)."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
        if any(route.matches(scope)[0] == Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed


def describe_startup_error(exc: Exception) -> str:
    """Why start-up failed, in words for the person who asked for it."""
    if isinstance(exc, StorageUnavailable):
        return f"cannot open the database: {exc.detail or exc.message}"
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def create_app(settings: Settings, context: ServerContext | None = None) -> FastAPI:
    """Build the app. The lifespan opens storage and cache (or uses ``context``) and
    flushes every pending write on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            ctx = context or await ServerContext.open(settings)
        except Exception as exc:
            # Kept for whoever started us (the desktop's host dialog shows it).
            app.state.startup_error = describe_startup_error(exc)
            raise
        app.state.context = ctx
        try:
            yield
        finally:
            ctx.begin_shutdown()
            await ctx.wait_connections_closed(within=2.0)
            await ctx.close()

    app = FastAPI(
        title="gochat",
        version=__version__,
        summary="Chat rooms over REST + WebSocket. The WebSocket protocol is in docs/protocol.md.",
        lifespan=lifespan,
        # The interactive pages are for developers (--api-docs); /openapi.json stays public:
        # it says nothing the endpoints do not, and clients and schemathesis read it.
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.add_middleware(SecurityHeaders, tls=settings.tls)
    app.include_router(api.router)
    app.include_router(api_people.router)
    app.include_router(ws.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)

    @app.exception_handler(ChatError)
    async def chat_error(_: Request, exc: ChatError) -> JSONResponse:
        log_if_storage_failed(exc)
        return chat_error_response(exc)

    @app.exception_handler(ValidationError)
    async def validation_error(_: Request, exc: ValidationError) -> JSONResponse:
        return error_response(VALIDATION_STATUS, ErrorCode.VALIDATION, exc.message, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        message = " ".join(_describe(e) for e in errors[:3]) or "Invalid input."
        return error_response(VALIDATION_STATUS, ErrorCode.VALIDATION, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.UNAUTHORIZED}.get(exc.status_code, HTTP_ERROR)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            # FastAPI's only 400: a body it could not read (not UTF-8) before parsing it as JSON.
            message = "The request body could not be read: it must be JSON in UTF-8."
        elif exc.status_code == 405:
            # Starlette's Allow names the methods of the first route on the path only
            # (GET /api/rooms, not its POST): RFC 9110 wants every method the path answers.
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
            message = f"{request.method} is not allowed on {request.url.path}; it answers {headers['Allow']}."
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return error_response(500, ErrorCode.INTERNAL, "The server failed to handle the request.")

    return app
