"""The gochat wire protocol, shared by the server and every client.

Pure: message types, validation limits, and encoding/decoding of WebSocket frames.
Nothing here performs I/O, so both sides (and their tests) use it without sockets.

Frames keep the seed's envelope ``{"msgType": N, "data": {...}}`` and its numbers
1 = enter, 2 = send, 3 = leave. See docs/protocol.md for every type with examples.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

PROTOCOL_VERSION = 1

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MAX = 8, 128
ROOM_NAME_MAX = 64
MESSAGE_MAX = 4000
CLIENT_MSG_ID_MAX = 64
REQUEST_ID_MAX = 64
MAX_FRAME_BYTES = 64 * 1024
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
# Ids are signed 64-bit in the database; anything larger cannot name a row.
MAX_ID = 2**63 - 1


class MsgType(IntEnum):
    """Every ``msgType`` on the wire. 1-3 are the seed's; the rest are gochat's."""

    ENTER = 1  # client: enter a room; server: someone entered
    SEND = 2  # client: post a message; server: a stored message
    LEAVE = 3  # client: leave a room; server: someone left
    ACK = 4  # server: your message is committed
    ERROR = 5  # server: a request failed; the connection stays open
    ROOM_STATE = 6  # server: reply to ENTER with members and newest history
    SYNC = 7  # client: ask for messages after an id; server: those messages
    ROOM_CREATED = 8  # server: a new room exists
    # 9-12 are taken by the next protocol additions (typing, edit, delete, mention).
    READ = 13  # server: your read marker in a room moved (sent to every connection of yours)


class ErrorCode:
    """Stable machine-readable error codes used in REST bodies and error frames."""

    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    NOT_IN_ROOM = "not_in_room"
    FRAME_TOO_LARGE = "frame_too_large"
    UNAUTHORIZED = "unauthorized"
    CONFLICT = "conflict"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"


class ValidationError(ValueError):
    """A value a person typed breaks a rule; ``message`` says which, in plain words."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ProtocolError(ValueError):
    """A frame that cannot be served; becomes an error frame, the connection stays open."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        msg_type: int | None = None,
        client_msg_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.msg_type = msg_type
        self.client_msg_id = client_msg_id


# ---------------------------------------------------------------------------
# Validation of what people type


def _require_encodable(field: str, value: str) -> None:
    # JSON can carry lone surrogates ("\ud800"), which no database can store.
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, f"The {field} contains characters that are not valid text.") from None


def _is_name_char(ch: str, first: bool) -> bool:
    if ch in "_-":
        return True
    category = unicodedata.category(ch)
    if category.startswith("L") or category == "Nd":
        return True
    # Combining marks are part of letters in many scripts (Devanagari, Thai...), never first.
    return category.startswith("M") and not first


def validate_username(value: object) -> str:
    """Return the NFC-normalised username or raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError("username", "The username must be text.")
    _require_encodable("username", value)
    name = unicodedata.normalize("NFC", value)
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise ValidationError("username", f"The username must be {USERNAME_MIN} to {USERNAME_MAX} characters long.")
    if not all(_is_name_char(ch, i == 0) for i, ch in enumerate(name)):
        raise ValidationError("username", "The username may contain only letters, digits, '_' and '-'.")
    return name


def username_key(username: str) -> str:
    """The case-insensitive identity of a username, equal on every backend."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", username).casefold())


def validate_password(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("password", "The password must be text.")
    _require_encodable("password", value)
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValidationError("password", f"The password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long.")
    return value


def validate_room_name(value: object) -> str:
    """Return the room name with surrounding spaces trimmed, or raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError("name", "The room name must be text.")
    _require_encodable("name", value)
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValidationError("name", "The room name cannot be empty or only spaces.")
    if len(name) > ROOM_NAME_MAX:
        raise ValidationError("name", f"The room name can be at most {ROOM_NAME_MAX} characters long.")
    if not all(ch.isprintable() or ch == " " for ch in name):
        raise ValidationError("name", "The room name may contain only printable characters.")
    return name


def room_name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.casefold())


def validate_content(value: object) -> str:
    """Return message content exactly as typed, or raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError("content", "The message must be text.")
    _require_encodable("content", value)
    if not value.strip():
        raise ValidationError("content", "The message cannot be empty or only whitespace.")
    if len(value) > MESSAGE_MAX:
        raise ValidationError("content", f"The message can be at most {MESSAGE_MAX} characters long.")
    return value


def validate_id(field: str, value: object) -> int:
    # bool is an int subclass in Python; true/false are not ids.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationError(field, f"{field} must be a positive whole number.")
    return value


def validate_after_id(field: str, value: object) -> int:
    """An "after this id" cursor: 0 means from the beginning."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise ValidationError(field, f"{field} must be a whole number, 0 or more.")
    return value


def validate_token_text(field: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise ValidationError(field, f"{field} must be text of 1 to {max_len} characters.")
    _require_encodable(field, value)
    return value


def clamp_history_limit(limit: int | None) -> int:
    if limit is None:
        return HISTORY_DEFAULT_LIMIT
    return max(1, min(limit, HISTORY_MAX_LIMIT))


# ---------------------------------------------------------------------------
# Client -> server frames


@dataclass(frozen=True, slots=True)
class EnterRoom:
    room_id: int
    request_id: str | None = None
    # When set, the reply carries the messages after this id instead of the newest page.
    after_id: int | None = None
    # Watching: receive the room's messages without being present (no announcement, not a
    # member, not counted online); the reply is the room, the read marker and the unread count.
    watch: bool = False


@dataclass(frozen=True, slots=True)
class SendMessage:
    room_id: int
    content: str
    client_msg_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    room_id: int
    request_id: str | None = None
    # Also stop watching the room (a plain LEAVE ends only presence).
    unwatch: bool = False


@dataclass(frozen=True, slots=True)
class SyncRoom:
    room_id: int
    after_id: int
    request_id: str | None = None


ClientFrame = EnterRoom | SendMessage | LeaveRoom | SyncRoom


def validate_flag(field: str, value: object) -> bool:
    """An optional true/false field: absent (None) is false."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(field, f"{field} must be true or false.")
    return value


def _parse_enter(data: dict[str, Any], request_id: str | None) -> ClientFrame:
    after = data.get("afterId")
    return EnterRoom(
        room_id=validate_id("roomId", data.get("roomId")),
        request_id=request_id,
        after_id=None if after is None else validate_after_id("afterId", after),
        watch=validate_flag("watch", data.get("watch")),
    )


def _parse_send(data: dict[str, Any], request_id: str | None) -> ClientFrame:
    client_msg_id = data.get("clientMsgId")
    return SendMessage(
        room_id=validate_id("roomId", data.get("roomId")),
        content=validate_content(data.get("content")),
        client_msg_id=None
        if client_msg_id is None
        else validate_token_text("clientMsgId", client_msg_id, CLIENT_MSG_ID_MAX),
        request_id=request_id,
    )


def _parse_leave(data: dict[str, Any], request_id: str | None) -> ClientFrame:
    return LeaveRoom(
        room_id=validate_id("roomId", data.get("roomId")),
        request_id=request_id,
        unwatch=validate_flag("unwatch", data.get("unwatch")),
    )


def _parse_sync(data: dict[str, Any], request_id: str | None) -> ClientFrame:
    return SyncRoom(
        room_id=validate_id("roomId", data.get("roomId")),
        after_id=validate_after_id("afterId", data.get("afterId", 0)),
        request_id=request_id,
    )


_CLIENT_PARSERS: dict[int, Callable[[dict[str, Any], str | None], ClientFrame]] = {
    MsgType.ENTER: _parse_enter,
    MsgType.SEND: _parse_send,
    MsgType.LEAVE: _parse_leave,
    MsgType.SYNC: _parse_sync,
}


def decode_client_frame(text: str | bytes) -> ClientFrame:
    """Parse one client frame; raise ProtocolError with the request it concerns."""
    # A character is at most 4 bytes of UTF-8: most frames are too short to need measuring.
    if not isinstance(text, str) or len(text) * 4 > MAX_FRAME_BYTES:
        size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        if size > MAX_FRAME_BYTES:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE, f"Frames may be at most {MAX_FRAME_BYTES} bytes; this one was {size}."
            )
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_JSON, "The frame is not valid JSON.") from None
    if not isinstance(envelope, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, 'A frame must be an object {"msgType": N, "data": {...}}.')
    raw_request_id = envelope.get("requestId")
    request_id = raw_request_id if isinstance(raw_request_id, str) and len(raw_request_id) <= REQUEST_ID_MAX else None
    raw_type = envelope.get("msgType")
    msg_type = raw_type if isinstance(raw_type, int) and not isinstance(raw_type, bool) else None
    if raw_request_id is not None and request_id is None:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"requestId must be text of at most {REQUEST_ID_MAX} characters.",
            msg_type=msg_type,
        )
    parser = _CLIENT_PARSERS.get(msg_type) if msg_type is not None else None
    if parser is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown msgType {raw_type!r}; clients may send 1 (enter), 2 (send), 3 (leave) or 7 (sync).",
            request_id=request_id,
            msg_type=msg_type,
        )
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.BAD_FRAME, "The frame needs a data object.", request_id=request_id, msg_type=msg_type
        )
    try:
        return parser(data, request_id)
    except ValidationError as exc:
        client_msg_id = data.get("clientMsgId")
        raise ProtocolError(
            ErrorCode.VALIDATION,
            exc.message,
            request_id=request_id,
            msg_type=msg_type,
            client_msg_id=client_msg_id if isinstance(client_msg_id, str) else None,
        ) from None


def encode_client_frame(frame: ClientFrame) -> str:
    """The inverse of decode_client_frame, for clients."""
    data: dict[str, Any] = {"roomId": frame.room_id}
    if isinstance(frame, EnterRoom):
        msg_type = MsgType.ENTER
        if frame.after_id is not None:
            data["afterId"] = frame.after_id
        if frame.watch:
            data["watch"] = True
    elif isinstance(frame, SendMessage):
        msg_type = MsgType.SEND
        data["content"] = frame.content
        if frame.client_msg_id is not None:
            data["clientMsgId"] = frame.client_msg_id
    elif isinstance(frame, LeaveRoom):
        msg_type = MsgType.LEAVE
        if frame.unwatch:
            data["unwatch"] = True
    else:
        msg_type = MsgType.SYNC
        data["afterId"] = frame.after_id
    envelope: dict[str, Any] = {"msgType": int(msg_type), "data": data}
    if frame.request_id is not None:
        envelope["requestId"] = frame.request_id
    return dumps(envelope)


# ---------------------------------------------------------------------------
# Server -> client frames


# One encoder for every frame: json.dumps with options builds a new JSONEncoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON that keeps Chinese and emoji as themselves."""
    return _ENCODER.encode(value)


def encode_server_frame(msg_type: MsgType, data: dict[str, Any], request_id: str | None = None) -> str:
    envelope: dict[str, Any] = {"msgType": int(msg_type), "data": data}
    if request_id is not None:
        envelope["requestId"] = request_id
    return dumps(envelope)


# A stored message goes out twice, in its room's broadcast and in its sender's ACK. These two
# splice its JSON, encoded once, into each envelope; the text is what encode_server_frame gives.


def message_frame(message_json: str) -> str:
    """The SEND broadcast of one stored message, from the message's encoded wire JSON."""
    return f'{{"msgType":{int(MsgType.SEND)},"data":{message_json}}}'


def ack_frame(message_json: str, duplicate: bool, client_msg_id: str | None, request_id: str | None) -> str:
    """The ACK of a SEND, from the stored message's encoded wire JSON."""
    data = f'{{"message":{message_json},"duplicate":{"true" if duplicate else "false"}'
    if client_msg_id is not None:
        data += f',"clientMsgId":{dumps(client_msg_id)}'
    envelope = f'{{"msgType":{int(MsgType.ACK)},"data":{data}}}'
    if request_id is not None:
        envelope += f',"requestId":{dumps(request_id)}'
    return envelope + "}"


def error_frame(error: ProtocolError) -> str:
    data: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.msg_type is not None:
        data["msgType"] = error.msg_type
    if error.client_msg_id is not None:
        data["clientMsgId"] = error.client_msg_id
    return encode_server_frame(MsgType.ERROR, data, error.request_id)


@dataclass(frozen=True, slots=True)
class ServerFrame:
    msg_type: int
    data: dict[str, Any]
    request_id: str | None = None


def decode_server_frame(text: str | bytes) -> ServerFrame:
    """Parse a frame from the server; unknown types are returned, not rejected."""
    envelope = json.loads(text)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("msgType"), int):
        raise ProtocolError(ErrorCode.BAD_FRAME, "The server sent a frame without a msgType.")
    data = envelope.get("data")
    request_id = envelope.get("requestId")
    return ServerFrame(
        msg_type=envelope["msgType"],
        data=data if isinstance(data, dict) else {},
        request_id=request_id if isinstance(request_id, str) else None,
    )
