"""Domain errors raised by server logic and storage. Each carries a protocol error code and a
message for a person; the transports map them to what they speak (REST: an HTTP status, in
gochat/server/http_errors.py; WebSocket: an error frame)."""

from __future__ import annotations

import logging

from gochat.protocol import ErrorCode

log = logging.getLogger(__name__)


class ChatError(Exception):
    code = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatError):
    code = ErrorCode.NOT_FOUND


class Forbidden(ChatError):
    """Understood, but not the caller's to do (editing someone else's message)."""

    code = ErrorCode.FORBIDDEN


class Conflict(ChatError):
    code = ErrorCode.CONFLICT


class Unauthorized(ChatError):
    code = ErrorCode.UNAUTHORIZED


class NotInRoom(ChatError):
    code = ErrorCode.NOT_IN_ROOM


class ShuttingDown(ChatError):
    """The server is stopping: nothing new is started; the same request may succeed shortly
    (on this server once it is back, or on another)."""

    code = ErrorCode.UNAVAILABLE


class RateLimited(ChatError):
    """Too many requests of one kind, from one user, connection or address: refused, not queued.
    ``retry_after_ms`` says when the same request will be accepted."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = max(int(retry_after_ms), 1)


class StorageUnavailable(ChatError):
    """Storage did not answer or failed: the request may succeed when tried again. ``detail``
    is the driver's own words, for logs and for whoever started the server."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str = "Storage is unavailable right now; try again shortly.", detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def log_if_storage_failed(error: ChatError) -> None:
    """A storage failure is the operator's business: each transport that answers one logs it
    here, once, with the driver's words and its exception. Other domain errors are the client's."""
    if isinstance(error, StorageUnavailable):
        log.error("storage failed: %s", error.detail or error.message, exc_info=error.__cause__)
