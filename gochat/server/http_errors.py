"""The one table from domain errors to HTTP statuses, for the REST API and the WebSocket
handshake (which answers a refused connection with an HTTP response)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from gochat.server.errors import ChatError, Conflict, NotFound, NotInRoom, StorageUnavailable, Unauthorized

STATUS_OF: dict[type[ChatError], int] = {
    NotFound: 404,
    Conflict: 409,
    NotInRoom: 409,
    Unauthorized: 401,
    StorageUnavailable: 503,
}
VALIDATION_STATUS = 422


def status_of(error: ChatError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return 500


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The JSON error body every failure has: ``{"error": code, "message": ..., ...}``."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


def chat_error_response(error: ChatError) -> JSONResponse:
    return error_response(status_of(error), error.code, error.message)
