"""The one table from domain errors to HTTP statuses, for the REST API and the WebSocket
handshake (which answers a refused connection with an HTTP response)."""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from gochat.server.errors import (
    ChatError,
    Conflict,
    Forbidden,
    NotFound,
    NotInRoom,
    RateLimited,
    ShuttingDown,
    StorageUnavailable,
    Unauthorized,
)

STATUS_OF: dict[type[ChatError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    NotInRoom: 409,
    Unauthorized: 401,
    StorageUnavailable: 503,
    RateLimited: 429,
    ShuttingDown: 503,
}
VALIDATION_STATUS = 422
# The code of an HTTP-level failure the domain has no word for: a body that is not UTF-8 (400),
# a method a path does not answer (405).
HTTP_ERROR = "http_error"


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
    return _json_error(status, error_body(code, message, **extra), headers)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, **extra}


def chat_error_body(error: ChatError) -> dict[str, Any]:
    """The JSON body of a domain error (also the API description's example of it)."""
    if isinstance(error, RateLimited):
        return error_body(error.code, error.message, retryAfter=error.retry_after_ms)
    return error_body(error.code, error.message)


def chat_error_response(error: ChatError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited):
        # Retry-After is whole seconds (RFC 9110); the body's retryAfter is the exact wait in ms.
        headers["Retry-After"] = str(math.ceil(error.retry_after_ms / 1000))
    return _json_error(status_of(error), chat_error_body(error), headers)


def _json_error(status: int, body: dict[str, Any], headers: dict[str, str] | None) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers or None)
