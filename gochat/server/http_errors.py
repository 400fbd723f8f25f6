"""The one table from domain errors to HTTP statuses, for the REST API and the WebSocket
handshake (which answers a refused connection with an HTTP response)."""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from gochat.server.errors import (
    ChatError,
    Conflict,
    NotFound,
    NotInRoom,
    RateLimited,
    StorageUnavailable,
    Unauthorized,
)

STATUS_OF: dict[type[ChatError], int] = {
    NotFound: 404,
    Conflict: 409,
    NotInRoom: 409,
    Unauthorized: 401,
    StorageUnavailable: 503,
    RateLimited: 429,
}
VALIDATION_STATUS = 422


def status_of(error: ChatError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return 500


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The JSON error body every failure has: ``{"error": code, "message": ..., ...}``."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers or None)


def chat_error_response(error: ChatError) -> JSONResponse:
    if isinstance(error, RateLimited):
        # Retry-After is whole seconds (RFC 9110); the body's retryAfter is the exact wait in ms.
        wait = {"Retry-After": str(math.ceil(error.retry_after_ms / 1000))}
        return error_response(429, error.code, error.message, headers=wait, retryAfter=error.retry_after_ms)
    return error_response(status_of(error), error.code, error.message)
