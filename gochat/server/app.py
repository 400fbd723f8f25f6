"""The app factory: one ASGI app for the headless server and the one embedded in the desktop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gochat import __version__
from gochat.protocol import ErrorCode, ValidationError
from gochat.server import api, ws
from gochat.server.config import Settings
from gochat.server.context import ServerContext
from gochat.server.errors import ChatError

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    where = ".".join(location)
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    if error.get("type") == "missing":
        return f"{where} is required." if where else "The request body is required."
    return f"{where}: {error.get('msg', 'invalid')}." if where else f"{error.get('msg', 'Invalid input')}."


def describe_startup_error(exc: Exception) -> str:
    """Why start-up failed, in words for the person who asked for it."""
    if isinstance(exc, DBAPIError):
        original = exc.orig
        detail = original.args[-1] if original is not None and original.args else str(exc)
        return f"cannot open the database: {detail}"
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
    )
    app.include_router(api.router)
    app.include_router(ws.router)

    @app.exception_handler(ChatError)
    async def chat_error(_: Request, exc: ChatError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(ValidationError)
    async def validation_error(_: Request, exc: ValidationError) -> JSONResponse:
        return _error(422, ErrorCode.VALIDATION, exc.message, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        message = " ".join(_describe(e) for e in errors[:3]) or "Invalid input."
        return _error(422, ErrorCode.VALIDATION, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.UNAUTHORIZED}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return _error(exc.status_code, code, message)

    @app.exception_handler(DBAPIError)
    async def storage_error(_: Request, exc: DBAPIError) -> JSONResponse:
        log.error("storage failed: %s", exc.__class__.__name__, exc_info=exc)
        return _error(503, ErrorCode.UNAVAILABLE, "Storage is unavailable right now; try again shortly.")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return _error(500, ErrorCode.INTERNAL, "The server failed to handle the request.")

    return app
