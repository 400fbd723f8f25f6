"""Domain errors raised by server logic and storage. Each carries a protocol error code and a
message for a person; the transports map them to what they speak (REST: an HTTP status, in
gochat/server/http_errors.py; WebSocket: an error frame)."""

from __future__ import annotations

from gochat.protocol import ErrorCode


class ChatError(Exception):
    code = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatError):
    code = ErrorCode.NOT_FOUND


class Conflict(ChatError):
    code = ErrorCode.CONFLICT


class Unauthorized(ChatError):
    code = ErrorCode.UNAUTHORIZED


class NotInRoom(ChatError):
    code = ErrorCode.NOT_IN_ROOM


class StorageUnavailable(ChatError):
    """Storage did not answer or failed: the request may succeed when tried again. ``detail``
    is the driver's own words, for logs and for whoever started the server."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str = "Storage is unavailable right now; try again shortly.", detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
