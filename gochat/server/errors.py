"""Domain errors raised by server logic; REST turns them into statuses, WebSocket into error frames."""

from __future__ import annotations

from gochat.protocol import ErrorCode


class ChatError(Exception):
    code = ErrorCode.INTERNAL
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatError):
    code = ErrorCode.NOT_FOUND
    status = 404


class Conflict(ChatError):
    code = ErrorCode.CONFLICT
    status = 409


class Unauthorized(ChatError):
    code = ErrorCode.UNAUTHORIZED
    status = 401


class NotInRoom(ChatError):
    code = ErrorCode.NOT_IN_ROOM
    status = 409


class Unavailable(ChatError):
    code = ErrorCode.UNAVAILABLE
    status = 503
