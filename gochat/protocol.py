"""The gochat wire protocol, shared by the server and every client.

Pure: message types, validation limits, and encoding/decoding of WebSocket frames.
Nothing here performs I/O, so both sides (and their tests) use it without sockets.

Frames keep the seed's envelope ``{"msgType": N, "data": {...}}`` and its numbers
1 = enter, 2 = send, 3 = leave. See docs/protocol.md for every type with examples.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, TypeAlias

import icu  # PyICU: UTS #39 (confusable skeletons, mixed scripts) and Unicode properties

PROTOCOL_VERSION = 1

USERNAME_MIN, USERNAME_MAX = 3, 32
# A name written wholly in a script without spaces (Han, kana, Thai, ...) may be this short:
# Chinese names are often two characters (张三).
USERNAME_MIN_UNSPACED = 2
PASSWORD_MIN, PASSWORD_MAX = 8, 128
ROOM_NAME_MAX = 64
MESSAGE_MAX = 4000
CLIENT_MSG_ID_MAX = 64
REQUEST_ID_MAX = 64
MAX_FRAME_BYTES = 64 * 1024
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
# GET /api/rooms pages: 100 rooms unless asked otherwise, never more than 500 at once.
ROOMS_DEFAULT_LIMIT = 100
ROOMS_MAX_LIMIT = 500
# Ids are signed 64-bit in the database; anything larger cannot name a row.
MAX_ID = 2**63 - 1
# GET /api/users?q=: at most this many people, the exact name first.
USERS_SEARCH_MAX = 50
# GET /api/dms: at most this many direct rooms, the most recent activity first.
DIRECT_ROOMS_MAX = 500
# GET /api/search: this many messages a page; a query needs at least SEARCH_MIN_CHARS characters.
SEARCH_PAGE = 50
SEARCH_MIN_CHARS = 2
SEARCH_MAX_CHARS = 200
# Typing (9): a client sends at most one every TYPING_SEND_SECONDS while composing; the server
# forwards at most one per user per room every TYPING_FORWARD_SECONDS; a client shows "is
# typing…" for TYPING_SHOW_SECONDS unless the typer's message arrives first.
TYPING_SEND_SECONDS = 3.0
TYPING_FORWARD_SECONDS = 2.0
TYPING_SHOW_SECONDS = 5.0


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
    TYPING = 9  # client: I am composing in a room; server: someone in your room is
    MESSAGE_EDITED = 10  # server: a message was edited (to the room)
    MESSAGE_DELETED = 11  # server: a message was deleted (to the room)
    MENTIONED = 12  # server: you were mentioned in a room you are not in
    READ = 13  # server: your read marker in a room moved (sent to every connection of yours)


class CloseCode(IntEnum):
    """Every WebSocket close code gochat sends, and what a client should do about it."""

    NORMAL = 1000  # a normal close
    GOING_AWAY = 1001  # the server is shutting down: reconnect later
    INVALID_DATA = 1007  # a text frame that is not UTF-8 (sent by the transport)
    POLICY_VIOLATION = 1008  # too many bad frames
    MESSAGE_TOO_BIG = 1009  # a frame over the transport's limit (sent by the transport)
    TRY_AGAIN_LATER = 1013  # the client fell too far behind: reconnect and SYNC
    LOGGED_OUT = 4001  # this token was logged out: do not reconnect with it


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
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"  # REST: the request is understood but not yours to make (403)
    TOO_LARGE = "too_large"  # REST: a request body over the limit (413)


# The two answers (409) to a registration whose name is not free. The desktop tells them apart:
# a name taken exactly means the account exists; a look-alike means it does not.
NAME_TAKEN = "That username is taken."
# Which account it resembles is not said: that would help whoever looks for names to imitate.
NAME_LOOKS_TAKEN = (
    "That username looks too much like an existing one (the same letters from another alphabet, "
    "or with marks added): choose another."
)


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
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.msg_type = msg_type
        self.client_msg_id = client_msg_id
        self.retry_after = retry_after  # ms; set with rate_limited: when the request may be sent again


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


# ---------------------------------------------------------------------------
# Names people can trust (UTS #39, through ICU's SpoofChecker: docs/security.md says why)

# Characters that show nothing, or look like a space, although they are not one.
# Default_Ignorable_Code_Point covers the zero-width characters, bidi controls, variation
# selectors and the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0); the braille blank U+2800 is
# an ordinary symbol that happens to be empty.
_BRAILLE_BLANK = "\u2800"
# The kana voicing marks are of the Inherited script like the accents, but か and が are
# different letters: they count in the comparison, where other inherited marks do not.
_KANA_VOICING_MARKS = frozenset("\u3099\u309a")
_APOSTROPHES = "'\u2019"


def _spoof_checker(checks: int) -> icu.SpoofChecker:
    checker = icu.SpoofChecker()
    checker.setChecks(checks)
    # UTS #39 5.2 "Moderately Restrictive": one script, or Latin with one other script except
    # Cyrillic and Greek (so 田中Tanaka and 日本語 pass; Latin mixed with Cyrillic does not).
    checker.setRestrictionLevel(icu.URestrictionLevel.MODERATELY_RESTRICTIVE)
    return checker


_USERNAME_CHECKER = _spoof_checker(
    icu.USpoofChecks.RESTRICTION_LEVEL | icu.USpoofChecks.MIXED_NUMBERS | icu.USpoofChecks.INVISIBLE
)
_SKELETON = _spoof_checker(0)


def _is_invisible(ch: str) -> bool:
    return ch == _BRAILLE_BLANK or bool(icu.Char.hasBinaryProperty(ch, icu.UProperty.DEFAULT_IGNORABLE_CODE_POINT))


def _first_invisible(text: str) -> str | None:
    return next((ch for ch in text if _is_invisible(ch)), None)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _code_point(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _is_name_char(ch: str, first: bool) -> bool:
    if ch in "_-":
        return True
    category = unicodedata.category(ch)
    if category.startswith("L") or category == "Nd":
        return True
    # Combining marks are part of letters in many scripts (Devanagari, Thai...), and an
    # apostrophe part of names (O'Brien): never first.
    return not first and (category.startswith("M") or ch in _APOSTROPHES)


def validate_username(value: object) -> str:
    """Return the NFC-normalised username or raise ValidationError saying which rule it breaks."""
    if not isinstance(value, str):
        raise ValidationError("username", "The username must be text.")
    _require_encodable("username", value)
    name = unicodedata.normalize("NFC", value)
    invisible = _first_invisible(name)
    if invisible is not None:
        raise ValidationError(
            "username",
            f"The username contains an invisible or blank character ({_code_point(invisible)}); remove it.",
        )
    shortest = USERNAME_MIN_UNSPACED if name and all(map(_written_without_spaces, name)) else USERNAME_MIN
    if not shortest <= len(name) <= USERNAME_MAX:
        raise ValidationError("username", f"The username must be {shortest} to {USERNAME_MAX} characters long.")
    if not all(_is_name_char(ch, i == 0) for i, ch in enumerate(name)):
        raise ValidationError("username", "The username may contain only letters, digits, '_', '-' and apostrophes.")
    if unicodedata.normalize("NFKC", name) != name:
        raise ValidationError(
            "username",
            "The username may not use styled, full-width or other compatibility forms of letters and digits "
            "(such as 𝐯 or ｖ): type the plain ones.",
        )
    _check_confusing_mixtures(name)
    return name


def _check_confusing_mixtures(name: str) -> None:
    failed = _USERNAME_CHECKER.check(name)
    if failed & icu.USpoofChecks.RESTRICTION_LEVEL:
        raise ValidationError(
            "username",
            "The username mixes scripts that look alike (such as Latin with Cyrillic or Greek letters): "
            "write it in one script.",
        )
    if failed & icu.USpoofChecks.MIXED_NUMBERS:
        raise ValidationError("username", "The username mixes digits of different number systems: use one.")
    if failed & icu.USpoofChecks.INVISIBLE:
        raise ValidationError("username", "The username repeats a combining mark on one letter: type it once.")


def username_key(username: str) -> str:
    """The case-insensitive identity of a username, equal on every backend."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", username).casefold())


def username_skeleton(username: str) -> str:
    """What a username looks like: names with equal skeletons are look-alikes, and one is refused.

    The UTS #39 skeleton of the case-folded name, with the marks that can sit on any letter (the
    Inherited script: accents, the Arabic vowel points) left out, so a mark added to an existing
    name does not make a new one. Only for comparing: never shown, never a name itself."""
    folded = unicodedata.normalize("NFD", username_key(username))
    bare = "".join(ch for ch in folded if not _is_mark(ch) or ch in _KANA_VOICING_MARKS or not _is_inherited(ch))
    return str(_SKELETON.getSkeleton(0, bare))


def _is_inherited(ch: str) -> bool:
    return bool(icu.Script.getScript(ch).getScriptCode() == icu.UScriptCode.INHERITED)


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
    invisible = next((ch for ch in name if _is_invisible(ch) and not _is_variation_selector(ch)), None)
    if invisible is not None:
        raise ValidationError(
            "name", f"The room name contains an invisible or blank character ({_code_point(invisible)}); remove it."
        )
    if not all(ch.isprintable() or ch == " " for ch in name):
        raise ValidationError("name", "The room name may contain only printable characters.")
    if _is_mark(name[0]):
        raise ValidationError("name", "The room name cannot start with a combining mark: it needs a letter to sit on.")
    return name


def _is_variation_selector(ch: str) -> bool:
    # They choose how the character before shows (☕️ as an emoji); they never show alone, and a
    # name cannot start with one (it is a mark).
    return bool(icu.Char.hasBinaryProperty(ch, icu.UProperty.VARIATION_SELECTOR))


def room_name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.casefold())


def room_name_matches(name: str, query: str) -> bool:
    """``GET /api/rooms?q=``'s rule, for a client filtering what it holds the same way: the
    case-folded name contains the case-folded query."""
    return room_name_key(query) in room_name_key(name)


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


def clamp_rooms_limit(limit: int | None) -> int:
    """A room list page's size: as history's, over the maximum is the maximum, not an error."""
    if limit is None:
        return ROOMS_DEFAULT_LIMIT
    return max(1, min(limit, ROOMS_MAX_LIMIT))


def validate_search_query(value: object) -> str:
    """A message search's text: 2 to 200 characters once trimmed (Chinese words are often two)."""
    if not isinstance(value, str):
        raise ValidationError("q", "The search must be text.")
    _require_encodable("q", value)
    query = unicodedata.normalize("NFC", value.strip())
    if "\x00" in query:
        # No message is searched for a NUL, and SQLite's full-text query language cannot hold one.
        raise ValidationError("q", "The search cannot contain a NUL character (U+0000).")
    if len(query) < SEARCH_MIN_CHARS:
        raise ValidationError("q", f"Search for at least {SEARCH_MIN_CHARS} characters.")
    if len(query) > SEARCH_MAX_CHARS:
        raise ValidationError("q", f"Search for at most {SEARCH_MAX_CHARS} characters.")
    return query


# ---------------------------------------------------------------------------
# Mentions. "@name" mentions the registered user whose name the text after "@" starts with,
# the longest such name (Chinese has no spaces: "@张三你好" mentions 张三). The server resolves
# candidates against its users; clients find the spans of the mentions a message carries.

# "@" right after one of these is part of an e-mail address or a word, not a mention.
_NOT_BEFORE_MENTION = frozenset("._%+-'@")
# Only this many "@" of one message are looked at: every one costs the server up to 30 names to
# look up, so a message of nothing but "@" must not cost thousands.
MENTIONS_SCANNED_MAX = 50


def _is_word_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith(("L", "M", "N")) or ch in "_-'’"


_UNSPACED_SCRIPTS = frozenset(
    {"Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan", "Yi", "Bopomofo"}
)


@functools.lru_cache(maxsize=4096)
def _written_without_spaces(ch: str) -> bool:
    """A character of a script whose words run together: a name may end right before it.
    Cached: asking ICU costs tens of microseconds, and the server asks for every "@" it stores."""
    return not ch.isascii() and bool(icu.Script.getScript(ch).getName() in _UNSPACED_SCRIPTS)


def _mention_may_end(text: str, end: int) -> bool:
    if end >= len(text):
        return True
    after, last = text[end], text[end - 1]
    # An apostrophe may be inside a name (O'Brien) or after one ("@bob's"): the longest
    # registered name decides, as in a script without spaces.
    return (
        not _is_word_char(after)
        or after in _APOSTROPHES
        or _written_without_spaces(after)
        or _written_without_spaces(last)
    )


@dataclass(frozen=True, slots=True)
class MentionCandidate:
    """One "@" in a text: the keys (username_key) of the names it could mention, longest first,
    each with where that name would end."""

    at: int  # the index of "@"
    keys: tuple[tuple[str, int], ...]  # (username_key of text[at+1:end], end), longest first


def mention_candidates(content: str) -> list[MentionCandidate]:
    """Every "@" that may start a mention and the names it could be (pure; the server keeps the
    longest that is registered). A name must end at a word boundary unless the script has none;
    it holds only the characters a username may hold, so it ends at the first other one (a
    space, a comma ...). Only the first MENTIONS_SCANNED_MAX such "@" count."""
    candidates: list[MentionCandidate] = []
    start = content.find("@")
    while start != -1 and len(candidates) < MENTIONS_SCANNED_MAX:
        before_ok = start == 0 or (
            content[start - 1] not in _NOT_BEFORE_MENTION
            and not (content[start - 1].isascii() and content[start - 1].isalnum())
        )
        if before_ok:
            limit = start + 1
            while limit < min(len(content), start + 1 + USERNAME_MAX) and _is_name_char(content[limit], False):
                limit += 1
            keys: list[tuple[str, int]] = []
            for end in range(limit, start + USERNAME_MIN_UNSPACED, -1):
                if _mention_may_end(content, end):
                    keys.append((username_key(content[start + 1 : end]), end))
            if keys:
                candidates.append(MentionCandidate(start, tuple(keys)))
        start = content.find("@", start + 1)
    return candidates


def mention_spans(content: str, usernames: Collection[str]) -> list[tuple[int, int]]:
    """Where ``content`` mentions these users (the ``mentions`` a message carries): (start, end)
    of each "@name", for a client to highlight. The same rule as the server's resolution."""
    wanted = {username_key(name) for name in usernames}
    spans: list[tuple[int, int]] = []
    for candidate in mention_candidates(content):
        for key, end in candidate.keys:
            if key in wanted:
                spans.append((candidate.at, end))
                break
    return spans


class RoomKind(StrEnum):
    PUBLIC = "public"
    DIRECT = "direct"  # a conversation of exactly two users; see docs/protocol.md


class RoomSort(StrEnum):
    """The orders of ``GET /api/rooms?sort=``; each breaks ties by room id, so pages never overlap."""

    CREATED = "created"  # oldest first (the order of ids; the default, as before pages existed)
    NAME = "name"  # A to Z ignoring case (by the name's case-folded key)
    ACTIVITY = "activity"  # the newest message first; rooms without messages last, newest first


# ---------------------------------------------------------------------------
# JSON helpers


# One encoder for every frame: json.dumps with options builds a new JSONEncoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON that keeps Chinese and emoji as themselves."""
    return _ENCODER.encode(value)


def iso_utc(moment: datetime) -> str:
    """UTC ISO-8601 with a Z, millisecond precision: 2026-11-27T06:48:45.123Z. A naive
    datetime is taken to be UTC already (that is how the database gives them back)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of iso_utc: an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _frame_error(what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, what)


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _frame_error(f"{what} must be an object.")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _frame_error(f"{what} must be a whole number.")
    return value


def _optional_int(value: object, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _frame_error(f"{what} must be text.")
    return value


def _optional_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise _frame_error(f"{what} must be true or false.")
    return value


def _optional_bool(value: object, what: str) -> bool | None:
    return None if value is None else _bool(value, what)


def _time(value: object, what: str) -> datetime:
    try:
        return parse_time(_str(value, what))
    except ValueError:
        raise _frame_error(f"{what} must be an ISO-8601 time.") from None


# ---------------------------------------------------------------------------
# The things frames and REST bodies carry: a user, a room, a message. Their JSON shape is
# written here and nowhere else; the server's records and the desktop's state are these.


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username}

    @classmethod
    def from_wire(cls, data: object) -> User:
        data = _object(data, "A user")
        return cls(_int(data.get("id"), "user.id"), _str(data.get("username"), "user.username"))


@dataclass(frozen=True, slots=True)
class Room:
    """A room as one user sees it: ``online`` now, and that user's read marker (None: they
    never entered it) and unread count. A direct room (``kind`` direct) has its two
    ``members``; its ``name`` is the other member's username as the viewer sees it."""

    id: int
    name: str
    creator: User
    created_at: datetime
    online: int = 0
    last_read_id: int | None = None
    unread: int = 0
    kind: RoomKind = RoomKind.PUBLIC
    members: tuple[User, ...] | None = None  # a direct room's two members; None for public rooms

    @property
    def is_direct(self) -> bool:
        return self.kind == RoomKind.DIRECT

    def peer_of(self, user_id: int) -> User | None:
        """A direct room's other member, as ``user_id`` sees it."""
        for member in self.members or ():
            if member.id != user_id:
                return member
        return None

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "creator": self.creator.to_wire(),
            "createdAt": iso_utc(self.created_at),
            "online": self.online,
            "lastReadId": self.last_read_id,
            "unread": self.unread,
        }
        if self.members is not None:
            data["members"] = [member.to_wire() for member in self.members]
        return data

    @classmethod
    def from_wire(cls, data: object) -> Room:
        data = _object(data, "A room")
        return cls(
            id=_int(data.get("id"), "room.id"),
            name=_str(data.get("name"), "room.name"),
            creator=User.from_wire(data.get("creator")),
            created_at=_time(data.get("createdAt"), "room.createdAt"),
            online=_int(data.get("online", 0), "room.online"),
            last_read_id=_optional_int(data.get("lastReadId"), "room.lastReadId"),
            unread=_int(data.get("unread", 0), "room.unread"),
            kind=_room_kind(data.get("kind", RoomKind.PUBLIC.value)),
            members=_optional_users(data.get("members"), "room.members"),
        )


def _room_kind(value: object) -> RoomKind:
    try:
        return RoomKind(_str(value, "room.kind"))
    except ValueError:
        raise _frame_error(f"room.kind must be one of {', '.join(k.value for k in RoomKind)}.") from None


def _optional_users(value: object, what: str) -> tuple[User, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _frame_error(f"{what} must be a list.")
    return tuple(User.from_wire(item) for item in value)


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message. ``created_at`` and ``edited_at`` are UTC (naive from the database,
    aware from the wire). ``rev`` comes from one sequence for the whole server, taken when the
    message is stored and again at each edit or deletion. A deleted message is a tombstone:
    ``deleted``, empty ``content`` and no ``mentions``."""

    id: int
    room_id: int
    author: User
    content: str
    created_at: datetime
    client_msg_id: str | None = None
    rev: int = 0
    mentions: tuple[User, ...] = ()
    edited_at: datetime | None = None
    deleted: bool = False

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "roomId": self.room_id,
            "author": self.author.to_wire(),
            "content": self.content,
            "createdAt": iso_utc(self.created_at),
            "rev": self.rev,
            "mentions": [user.to_wire() for user in self.mentions],
            "editedAt": None if self.edited_at is None else iso_utc(self.edited_at),
            "deleted": self.deleted,
        }
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        return data

    def wire_json(self) -> str:
        """``dumps(self.to_wire())``, character for character, without building the dicts: every
        message stored is encoded once, on the server's event loop, so this is on its hot path
        (tests/test_protocol.py holds the two equal)."""
        client_msg_id = "" if self.client_msg_id is None else f',"clientMsgId":{dumps(self.client_msg_id)}'
        mentions = ",".join(f'{{"id":{user.id},"username":{dumps(user.username)}}}' for user in self.mentions)
        edited_at = "null" if self.edited_at is None else dumps(iso_utc(self.edited_at))
        return (
            f'{{"id":{self.id},"roomId":{self.room_id},'
            f'"author":{{"id":{self.author.id},"username":{dumps(self.author.username)}}},'
            f'"content":{dumps(self.content)},"createdAt":{dumps(iso_utc(self.created_at))},'
            f'"rev":{self.rev},"mentions":[{mentions}],"editedAt":{edited_at},'
            f'"deleted":{"true" if self.deleted else "false"}{client_msg_id}}}'
        )

    @classmethod
    def from_wire(cls, data: object) -> Message:
        data = _object(data, "A message")
        return cls(
            id=_int(data.get("id"), "message.id"),
            room_id=_int(data.get("roomId"), "message.roomId"),
            author=User.from_wire(data.get("author")),
            content=_str(data.get("content"), "message.content"),
            created_at=_time(data.get("createdAt"), "message.createdAt"),
            client_msg_id=_optional_str(data.get("clientMsgId"), "message.clientMsgId"),
            rev=_int(data.get("rev", 0), "message.rev"),
            mentions=_optional_users(data.get("mentions"), "message.mentions") or (),
            edited_at=None if data.get("editedAt") is None else _time(data.get("editedAt"), "message.editedAt"),
            deleted=_bool(data.get("deleted", False), "message.deleted"),
        )


@dataclass(frozen=True, slots=True)
class DirectConversation:
    """One entry of ``GET /api/dms``: the direct room, the other member and the newest message."""

    room: Room
    peer: User
    last_message: Message | None

    def to_wire(self) -> dict[str, Any]:
        data = self.room.to_wire()
        data["peer"] = self.peer.to_wire()
        data["lastMessage"] = None if self.last_message is None else self.last_message.to_wire()
        return data

    @classmethod
    def from_wire(cls, data: object) -> DirectConversation:
        data = _object(data, "A direct conversation")
        last = data.get("lastMessage")
        return cls(
            room=Room.from_wire(data),
            peer=User.from_wire(data.get("peer")),
            last_message=None if last is None else Message.from_wire(last),
        )


@dataclass(frozen=True, slots=True)
class Person:
    """One entry of ``GET /api/users``: a user, and whether they are connected anywhere."""

    user: User
    online: bool

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.user.id, "username": self.user.username, "online": self.online}

    @classmethod
    def from_wire(cls, data: object) -> Person:
        data = _object(data, "A person")
        return cls(User.from_wire(data), _bool(data.get("online", False), "online"))


def _messages(value: object, what: str) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise _frame_error(f"{what} must be a list.")
    return tuple(Message.from_wire(item) for item in value)


# ---------------------------------------------------------------------------
# Client -> server frames. Each class knows its msgType and its data object.


def validate_flag(field: str, value: object) -> bool:
    """An optional true/false field: absent (None) is false."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(field, f"{field} must be true or false.")
    return value


@dataclass(frozen=True, slots=True)
class EnterRoom:
    msg_type: ClassVar[MsgType] = MsgType.ENTER
    room_id: int
    request_id: str | None = None
    # When set, the reply carries the messages after this id instead of the newest page.
    after_id: int | None = None
    # Watching: receive the room's messages without being present (no announcement, not a
    # member, not counted online); the reply is the room, the read marker and the unread count.
    watch: bool = False
    # With after_id: the reply also carries ``changed``, the messages up to after_id edited or
    # deleted since this rev (the highest rev the client has seen in the room).
    after_rev: int | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"roomId": self.room_id}
        if self.after_id is not None:
            data["afterId"] = self.after_id
        if self.after_rev is not None:
            data["afterRev"] = self.after_rev
        if self.watch:
            data["watch"] = True
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], request_id: str | None) -> EnterRoom:
        after = data.get("afterId")
        after_rev = data.get("afterRev")
        return cls(
            room_id=validate_id("roomId", data.get("roomId")),
            request_id=request_id,
            after_id=None if after is None else validate_after_id("afterId", after),
            watch=validate_flag("watch", data.get("watch")),
            after_rev=None if after_rev is None else validate_after_id("afterRev", after_rev),
        )


@dataclass(frozen=True, slots=True)
class SendMessage:
    msg_type: ClassVar[MsgType] = MsgType.SEND
    room_id: int
    content: str
    client_msg_id: str | None = None
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"roomId": self.room_id, "content": self.content}
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], request_id: str | None) -> SendMessage:
        client_msg_id = data.get("clientMsgId")
        return cls(
            room_id=validate_id("roomId", data.get("roomId")),
            content=validate_content(data.get("content")),
            client_msg_id=None
            if client_msg_id is None
            else validate_token_text("clientMsgId", client_msg_id, CLIENT_MSG_ID_MAX),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    msg_type: ClassVar[MsgType] = MsgType.LEAVE
    room_id: int
    request_id: str | None = None
    # Also stop watching the room (a plain LEAVE ends only presence).
    unwatch: bool = False

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"roomId": self.room_id}
        if self.unwatch:
            data["unwatch"] = True
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], request_id: str | None) -> LeaveRoom:
        return cls(
            room_id=validate_id("roomId", data.get("roomId")),
            request_id=request_id,
            unwatch=validate_flag("unwatch", data.get("unwatch")),
        )


@dataclass(frozen=True, slots=True)
class SyncRoom:
    msg_type: ClassVar[MsgType] = MsgType.SYNC
    room_id: int
    after_id: int
    request_id: str | None = None
    # As EnterRoom's: the reply adds ``changed`` (edits and deletions up to after_id since this rev).
    after_rev: int | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"roomId": self.room_id, "afterId": self.after_id}
        if self.after_rev is not None:
            data["afterRev"] = self.after_rev
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any], request_id: str | None) -> SyncRoom:
        after_rev = data.get("afterRev")
        return cls(
            room_id=validate_id("roomId", data.get("roomId")),
            after_id=validate_after_id("afterId", data.get("afterId", 0)),
            request_id=request_id,
            after_rev=None if after_rev is None else validate_after_id("afterRev", after_rev),
        )


@dataclass(frozen=True, slots=True)
class StartTyping:
    """TYPING (9) from a client: I am composing in this room (at most one every
    TYPING_SEND_SECONDS). Never answered; the server drops extras silently."""

    msg_type: ClassVar[MsgType] = MsgType.TYPING
    room_id: int
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"roomId": self.room_id}

    @classmethod
    def from_data(cls, data: dict[str, Any], request_id: str | None) -> StartTyping:
        return cls(room_id=validate_id("roomId", data.get("roomId")), request_id=request_id)


ClientFrame: TypeAlias = EnterRoom | SendMessage | LeaveRoom | SyncRoom | StartTyping
CLIENT_FRAMES: dict[int, type[ClientFrame]] = {
    cls.msg_type: cls for cls in (EnterRoom, SendMessage, LeaveRoom, SyncRoom, StartTyping)
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
    frame_class = CLIENT_FRAMES.get(msg_type) if msg_type is not None else None
    if frame_class is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown msgType {raw_type!r}; clients may send 1 (enter), 2 (send), 3 (leave), 7 (sync) or 9 (typing).",
            request_id=request_id,
            msg_type=msg_type,
        )
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.BAD_FRAME, "The frame needs a data object.", request_id=request_id, msg_type=msg_type
        )
    try:
        return frame_class.from_data(data, request_id)
    except ValidationError as exc:
        client_msg_id = data.get("clientMsgId")
        raise ProtocolError(
            ErrorCode.VALIDATION,
            exc.message,
            request_id=request_id,
            msg_type=msg_type,
            client_msg_id=client_msg_id if isinstance(client_msg_id, str) else None,
        ) from None


def _envelope(msg_type: int, data: dict[str, Any], request_id: str | None) -> str:
    envelope: dict[str, Any] = {"msgType": int(msg_type), "data": data}
    if request_id is not None:
        envelope["requestId"] = request_id
    return dumps(envelope)


def encode_client_frame(frame: ClientFrame) -> str:
    """The inverse of decode_client_frame, for clients."""
    return _envelope(frame.msg_type, frame.to_data(), frame.request_id)


def request_failed(error: ProtocolError, frame: ClientFrame | None) -> ProtocolError:
    """``error`` naming the request it answers (its requestId, msgType and clientMsgId)."""
    if frame is not None:
        error.request_id = frame.request_id
        error.msg_type = frame.msg_type
        if isinstance(frame, SendMessage):
            error.client_msg_id = frame.client_msg_id
    return error


# ---------------------------------------------------------------------------
# Server -> client frames. Each class knows its msgType and its data object; a client decodes
# a frame once (decode_server_frame) and handles values, not dicts. A msgType it does not know
# arrives as UnknownFrame, so an older client keeps working against a newer server.


@dataclass(frozen=True, slots=True)
class Presence:
    """ENTER (1) or LEAVE (3) from the server: someone entered or left a room (``entered``),
    with the room's new online count. A LEAVE with a requestId is the reply to your own leave."""

    room_id: int
    user: User
    online: int
    entered: bool
    request_id: str | None = None

    @property
    def msg_type(self) -> MsgType:
        return MsgType.ENTER if self.entered else MsgType.LEAVE

    def to_data(self) -> dict[str, Any]:
        return {"roomId": self.room_id, "user": self.user.to_wire(), "online": self.online}

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> Presence:
        return cls(
            room_id=_int(data.get("roomId"), "roomId"),
            user=User.from_wire(data.get("user")),
            online=_int(data.get("online"), "online"),
            entered=msg_type == MsgType.ENTER,
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """SEND (2) from the server: a stored message, to everyone in (or watching) its room."""

    msg_type: ClassVar[MsgType] = MsgType.SEND
    message: Message
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return self.message.to_wire()

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> MessagePosted:
        return cls(Message.from_wire(data), request_id)


@dataclass(frozen=True, slots=True)
class Ack:
    """ACK (4): your message is committed; ``duplicate`` when a retry found it stored already."""

    msg_type: ClassVar[MsgType] = MsgType.ACK
    message: Message
    duplicate: bool = False
    client_msg_id: str | None = None
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message.to_wire(), "duplicate": self.duplicate}
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        return data

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> Ack:
        return cls(
            message=Message.from_wire(data.get("message")),
            duplicate=_bool(data.get("duplicate", False), "duplicate"),
            client_msg_id=_optional_str(data.get("clientMsgId"), "clientMsgId"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """ERROR (5): a request failed; ``request_type`` and ``client_msg_id`` say which one."""

    msg_type: ClassVar[MsgType] = MsgType.ERROR
    code: str
    message: str
    request_type: int | None = None
    client_msg_id: str | None = None
    request_id: str | None = None
    retry_after: int | None = None  # ms, with rate_limited: send the request again after this

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.request_type is not None:
            data["msgType"] = self.request_type
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        if self.retry_after is not None:
            data["retryAfter"] = self.retry_after
        return data

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> ErrorFrame:
        return cls(
            code=_str(data.get("code"), "code"),
            message=_str(data.get("message"), "message"),
            request_type=_optional_int(data.get("msgType"), "msgType"),
            client_msg_id=_optional_str(data.get("clientMsgId"), "clientMsgId"),
            request_id=request_id,
            retry_after=_optional_int(data.get("retryAfter"), "retryAfter"),
        )

    @classmethod
    def of(cls, error: ProtocolError) -> ErrorFrame:
        return cls(error.code, error.message, error.msg_type, error.client_msg_id, error.request_id, error.retry_after)


@dataclass(frozen=True, slots=True)
class RoomState:
    """ROOM_STATE (6), the reply to ENTER: the room, with your read marker and unread count after
    it, and the newest message id that count covers. Entering (not watching) adds the members and
    a page of messages with ``has_older`` (newest page) or ``has_newer`` (after ``afterId``)."""

    msg_type: ClassVar[MsgType] = MsgType.ROOM_STATE
    room: Room
    last_message_id: int
    members: tuple[User, ...] | None = None
    messages: tuple[Message, ...] | None = None
    has_older: bool | None = None
    has_newer: bool | None = None
    watching: bool = False
    request_id: str | None = None
    # With afterRev: the messages up to afterId edited or deleted since then, as they are now,
    # and the highest rev this reply reflects.
    changed: tuple[Message, ...] | None = None
    rev: int | None = None

    @property
    def room_id(self) -> int:
        return self.room.id

    # The frame repeats the room's reading at its top level (docs/protocol.md): one value, so the
    # room's is the frame's.
    @property
    def last_read_id(self) -> int | None:
        return self.room.last_read_id

    @property
    def unread(self) -> int:
        return self.room.unread

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roomId": self.room.id,
            "room": self.room.to_wire(),
            "lastReadId": self.room.last_read_id,
            "unread": self.room.unread,
            "lastMessageId": self.last_message_id,
        }
        if self.has_older is not None:
            data["hasOlder"] = self.has_older
        if self.has_newer is not None:
            data["hasNewer"] = self.has_newer
        if self.members is not None:
            data["members"] = [member.to_wire() for member in self.members]
        if self.messages is not None:
            data["messages"] = [message.to_wire() for message in self.messages]
        if self.watching:
            data["watching"] = True
        if self.changed is not None:
            data["changed"] = [message.to_wire() for message in self.changed]
        if self.rev is not None:
            data["rev"] = self.rev
        return data

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> RoomState:
        members = data.get("members")
        if members is not None and not isinstance(members, list):
            raise _frame_error("members must be a list.")
        messages = data.get("messages")
        changed = data.get("changed")
        return cls(
            room=Room.from_wire(data.get("room")),
            last_message_id=_int(data.get("lastMessageId", 0), "lastMessageId"),
            members=None if members is None else tuple(User.from_wire(member) for member in members),
            messages=None if messages is None else _messages(messages, "messages"),
            has_older=_optional_bool(data.get("hasOlder"), "hasOlder"),
            has_newer=_optional_bool(data.get("hasNewer"), "hasNewer"),
            watching=_bool(data.get("watching", False), "watching"),
            request_id=request_id,
            changed=None if changed is None else _messages(changed, "changed"),
            rev=_optional_int(data.get("rev"), "rev"),
        )


@dataclass(frozen=True, slots=True)
class SyncPage:
    """SYNC (7) from the server: up to a page of messages after the id asked for."""

    msg_type: ClassVar[MsgType] = MsgType.SYNC
    room_id: int
    messages: tuple[Message, ...]
    has_newer: bool
    request_id: str | None = None
    # With afterRev, as RoomState's.
    changed: tuple[Message, ...] | None = None
    rev: int | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roomId": self.room_id,
            "messages": [message.to_wire() for message in self.messages],
            "hasNewer": self.has_newer,
        }
        if self.changed is not None:
            data["changed"] = [message.to_wire() for message in self.changed]
        if self.rev is not None:
            data["rev"] = self.rev
        return data

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> SyncPage:
        changed = data.get("changed")
        return cls(
            room_id=_int(data.get("roomId"), "roomId"),
            messages=_messages(data.get("messages"), "messages"),
            has_newer=_bool(data.get("hasNewer"), "hasNewer"),
            request_id=request_id,
            changed=None if changed is None else _messages(changed, "changed"),
            rev=_optional_int(data.get("rev"), "rev"),
        )


@dataclass(frozen=True, slots=True)
class RoomCreated:
    """ROOM_CREATED (8): a new public room exists (to every connection), or a direct room got its
    first message (to the other member's connections only)."""

    msg_type: ClassVar[MsgType] = MsgType.ROOM_CREATED
    room: Room
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return self.room.to_wire()

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> RoomCreated:
        return cls(Room.from_wire(data), request_id)


@dataclass(frozen=True, slots=True)
class ReadMoved:
    """READ (13): your read marker in a room moved (to every connection of yours)."""

    msg_type: ClassVar[MsgType] = MsgType.READ
    room_id: int
    last_read_id: int | None
    unread: int
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"roomId": self.room_id, "lastReadId": self.last_read_id, "unread": self.unread}

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> ReadMoved:
        return cls(
            room_id=_int(data.get("roomId"), "roomId"),
            last_read_id=_optional_int(data.get("lastReadId"), "lastReadId"),
            unread=_int(data.get("unread"), "unread"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Typing:
    """TYPING (9) from the server: ``user`` is composing in a room you are in (never yourself)."""

    msg_type: ClassVar[MsgType] = MsgType.TYPING
    room_id: int
    user: User
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"roomId": self.room_id, "user": self.user.to_wire()}

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> Typing:
        return cls(_int(data.get("roomId"), "roomId"), User.from_wire(data.get("user")), request_id)


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """MESSAGE_EDITED (10): a message as it is after an edit (``edited_at`` and a new ``rev``)."""

    msg_type: ClassVar[MsgType] = MsgType.MESSAGE_EDITED
    message: Message
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return self.message.to_wire()

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> MessageEdited:
        return cls(Message.from_wire(data), request_id)


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """MESSAGE_DELETED (11): message ``id`` in a room was deleted by ``deleted_by``; its ``rev``
    is the deletion's. Clients drop the text and show a tombstone."""

    msg_type: ClassVar[MsgType] = MsgType.MESSAGE_DELETED
    room_id: int
    id: int
    deleted_by: User
    rev: int
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"roomId": self.room_id, "id": self.id, "deletedBy": self.deleted_by.to_wire(), "rev": self.rev}

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> MessageDeleted:
        return cls(
            room_id=_int(data.get("roomId"), "roomId"),
            id=_int(data.get("id"), "id"),
            deleted_by=User.from_wire(data.get("deletedBy")),
            rev=_int(data.get("rev"), "rev"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Mentioned:
    """MENTIONED (12): a message that mentions you, in a room you are not in (to each of your
    connections not in it)."""

    msg_type: ClassVar[MsgType] = MsgType.MENTIONED
    message: Message
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"message": self.message.to_wire()}

    @classmethod
    def from_data(cls, msg_type: int, data: dict[str, Any], request_id: str | None) -> Mentioned:
        return cls(Message.from_wire(data.get("message")), request_id)


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    """A msgType this client does not know (a newer server's): kept whole, for the client to
    ignore or log, never an error."""

    msg_type: int
    data: dict[str, Any]
    request_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return self.data


ServerFrame: TypeAlias = (
    Presence
    | MessagePosted
    | Ack
    | ErrorFrame
    | RoomState
    | SyncPage
    | RoomCreated
    | Typing
    | MessageEdited
    | MessageDeleted
    | Mentioned
    | ReadMoved
    | UnknownFrame
)
_SERVER_FRAMES: dict[int, Any] = {
    MsgType.ENTER: Presence,
    MsgType.LEAVE: Presence,
    MsgType.SEND: MessagePosted,
    MsgType.ACK: Ack,
    MsgType.ERROR: ErrorFrame,
    MsgType.ROOM_STATE: RoomState,
    MsgType.SYNC: SyncPage,
    MsgType.ROOM_CREATED: RoomCreated,
    MsgType.TYPING: Typing,
    MsgType.MESSAGE_EDITED: MessageEdited,
    MsgType.MESSAGE_DELETED: MessageDeleted,
    MsgType.MENTIONED: Mentioned,
    MsgType.READ: ReadMoved,
}


def encode_server_frame(frame: ServerFrame) -> str:
    return _envelope(frame.msg_type, frame.to_data(), frame.request_id)


def decode_server_frame(text: str | bytes) -> ServerFrame:
    """Parse a frame from the server into its class; an unknown msgType is an UnknownFrame, not
    an error. A frame that breaks its type's shape raises ProtocolError (bad_frame)."""
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        raise _frame_error("The server sent a frame that is not JSON.") from None
    if not isinstance(envelope, dict):
        raise _frame_error("The server sent a frame that is not an object.")
    msg_type = envelope.get("msgType")
    if isinstance(msg_type, bool) or not isinstance(msg_type, int):
        raise _frame_error("The server sent a frame without a msgType.")
    data = envelope.get("data")
    if data is None:
        data = {}
    data = _object(data, "A frame's data")
    request_id = _optional_str(envelope.get("requestId"), "requestId")
    frame_class = _SERVER_FRAMES.get(msg_type)
    if frame_class is None:
        return UnknownFrame(msg_type, data, request_id)
    frame: ServerFrame = frame_class.from_data(msg_type, data, request_id)
    return frame


# A stored message goes out twice, in its room's broadcast and in its sender's ACK. These two
# splice its JSON, encoded once (Message.wire_json), into each envelope; the text is exactly
# what encode_server_frame gives for MessagePosted and Ack (tests/test_protocol.py).


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
    return encode_server_frame(ErrorFrame.of(error))
