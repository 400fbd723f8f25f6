"""The REST API under /api. Handlers are thin: parse, call a service, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gochat import __version__
from gochat.protocol import (
    HISTORY_MAX_LIMIT,
    MAX_ID,
    PROTOCOL_VERSION,
    ROOMS_DEFAULT_LIMIT,
    ROOMS_MAX_LIMIT,
    ErrorCode,
    Message,
    Room,
    RoomSort,
    User,
    clamp_history_limit,
    clamp_rooms_limit,
)
from gochat.server.context import ServerContext
from gochat.server.errors import Conflict, Forbidden, NotFound, RateLimited, StorageUnavailable, Unauthorized
from gochat.server.http_errors import HTTP_ERROR, chat_error_body, error_body

router = APIRouter(prefix="/api")
_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/login.")


class Credentials(BaseModel):
    username: str = Field(examples=["alice"])
    password: str = Field(examples=["correct horse battery"])


class NewRoom(BaseModel):
    name: str = Field(examples=["闲聊 ☕"])


class ReadUpTo(BaseModel):
    lastReadId: int = Field(  # noqa: N815 - the wire name
        ge=0,
        le=MAX_ID,
        strict=True,  # true or 41.0 are not ids
        description="The newest message id read; the marker never moves back",
        examples=[41],
    )


class LogoutScope(BaseModel):
    everywhere: bool = Field(
        default=False,
        strict=True,  # "yes" or 1 are not an answer to "log out everywhere?"
        description="true: end every token of this user (every device), not only this one",
        examples=[True],
    )


class ErrorOut(BaseModel):
    """Every error's body (docs/protocol.md): a stable code and a message for a person."""

    error: str = Field(description="A stable code: validation, unauthorized, conflict, not_found, …")
    message: str = Field(description="What went wrong, written for a person")
    field: str | None = Field(None, description="422: the field at fault, where one is")
    retryAfter: int | None = Field(  # noqa: N815 - the wire name
        None, description="429: milliseconds until the same request is accepted"
    )


class RateLimitedOut(ErrorOut):
    """429's body: retryAfter is always there."""

    retryAfter: int = Field(description="Milliseconds to wait before trying again", examples=[1500])  # noqa: N815


# The bodies' shapes are the protocol's (gochat/protocol.py, docs/protocol.md); the API
# description shows them by example, encoded by the same code that answers.
_ALICE = User(1, "alice")
_CREATED = datetime(2026, 11, 27, 6, 56, 36, 48000, tzinfo=UTC)
_USER_EXAMPLE = _ALICE.to_wire()
_ME_EXAMPLE = {**_USER_EXAMPLE, "admin": False}
_ROOM_EXAMPLE = Room(3, "闲聊 ☕", _ALICE, _CREATED, online=2, last_read_id=40, unread=1).to_wire()
_MESSAGE_EXAMPLE = Message(41, 3, _ALICE, "<b>hi</b> 你好 😀", _CREATED, "c1").to_wire()


def _example(description: str, example: object) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


def _error(description: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": ErrorOut, **_example(description, body), **extra}


# Every error status the API answers, once; each endpoint lists the statuses it can answer
# (``errors``). The examples are encoded by the code that answers (http_errors).
ERRORS: dict[int, dict[str, Any]] = {
    400: _error(
        "The body could not be read: it is not UTF-8",
        error_body(HTTP_ERROR, "The request body could not be read: it must be JSON in UTF-8."),
    ),
    401: _error(
        "Missing, unknown or logged-out token (login: wrong username or password)",
        chat_error_body(Unauthorized("The token is not valid; it may have been logged out.")),
    ),
    403: _error(
        "Not yours to do (another's message)",
        chat_error_body(Forbidden("Only its author may edit a message.")),
    ),
    404: _error("No such room", chat_error_body(NotFound("There is no room 3."))),
    408: _error(
        "The body did not arrive within the server's body timeout (10 s by default); the connection is closed",
        error_body(HTTP_ERROR, "The request body did not arrive within 10 seconds."),
    ),
    409: _error("The name is taken (ignoring case)", chat_error_body(Conflict("That username is taken."))),
    413: _error(
        "The body is over the server's limit (64 KiB by default); refused before it is read",
        error_body(ErrorCode.TOO_LARGE, "The request body is larger than the server accepts (65536 bytes)."),
    ),
    422: _error(
        "Invalid input",
        error_body(ErrorCode.VALIDATION, "The username must be 3 to 32 characters long.", field="username"),
    ),
    429: _error(
        "Too many of these requests: wait, then try again",
        chat_error_body(RateLimited("Too many attempts; try again in 2 seconds.", 1500)),
        model=RateLimitedOut,  # retryAfter always there
        headers={
            "Retry-After": {
                "description": "Whole seconds to wait (the body's retryAfter, in ms, rounded up)",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    ),
    503: _error("Storage does not answer; try again shortly", chat_error_body(StorageUnavailable())),
}
READS_BODY = (400, 408, 413, 422)  # every endpoint with a JSON body
SIGNED_IN = (401, 503)  # every endpoint that needs a token: storage says whose it is


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: ERRORS[status] for status in statuses}


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.context
    return ctx


Ctx = Annotated[ServerContext, Depends(context)]


def client_address(request: Request) -> str | None:
    """The client's address, as the server sees it (limits are counted per address)."""
    return request.client.host if request.client else None


Address = Annotated[str | None, Depends(client_address)]


class Caller:
    def __init__(self, user: User, token_hash: str) -> None:
        self.user = user
        self.token_hash = token_hash


async def caller(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    if credentials is None:
        raise Unauthorized("Log in first: this needs an Authorization: Bearer <token> header.")
    user, digest = await ctx.accounts.authenticate(credentials.credentials)
    return Caller(user, digest)


Me = Annotated[Caller, Depends(caller)]


@router.post(
    "/register",
    status_code=201,
    responses={201: _example("The new account", _USER_EXAMPLE), **errors(*READS_BODY, 409, 429, 503)},
)
async def register(body: Credentials, ctx: Ctx, address: Address) -> dict[str, Any]:
    """Create an account. Usernames are unique ignoring case."""
    user = await ctx.accounts.register(body.username, body.password, address)
    return user.to_wire()


@router.post(
    "/login",
    responses={
        200: _example("A bearer token and who it is for", {"token": "…", "user": _USER_EXAMPLE}),
        **errors(*READS_BODY, 401, 429, 503),
    },
)
async def login(body: Credentials, ctx: Ctx, address: Address) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    token, user = await ctx.accounts.login(body.username, body.password, address)
    return {"token": token, "user": user.to_wire()}


@router.post("/logout", status_code=204, responses=errors(*SIGNED_IN, *READS_BODY))
async def logout(me: Me, ctx: Ctx, body: LogoutScope | None = None) -> Response:
    """End this token's session at once, closing its WebSocket connections (4001) too. With
    ``{"everywhere": true}``: every token of the user, and every one of their connections."""
    if body is not None and body.everywhere:
        await ctx.logout_everywhere(me.user)
    else:
        await ctx.logout(me.token_hash)
    return Response(status_code=204)


@router.get(
    "/me",
    responses={200: _example("The caller; admin: a server admin (--admin)", _ME_EXAMPLE), **errors(*SIGNED_IN)},
)
async def whoami(me: Me, ctx: Ctx) -> dict[str, Any]:
    return {**me.user.to_wire(), "admin": ctx.edits.is_admin(me.user)}


_TOTAL_COUNT = {
    "X-Total-Count": {
        "description": "How many rooms match (q, mine) in all, of which this is one page",
        "schema": {"type": "integer", "minimum": 0},
    }
}


@router.get(
    "/rooms",
    responses={
        200: {**_example("One page of rooms, in the order asked for", [_ROOM_EXAMPLE]), "headers": _TOTAL_COUNT},
        **errors(*SIGNED_IN, 422),
    },
)
async def list_rooms(
    me: Me,
    ctx: Ctx,
    response: Response,
    q: Annotated[
        str | None, Query(max_length=256, description="Keep rooms whose name contains this, ignoring case")
    ] = None,
    sort: Annotated[
        RoomSort,
        Query(
            description="created: oldest first; name: A to Z ignoring case; activity: newest message first "
            "(rooms without messages last, newest first). Ties: by id"
        ),
    ] = RoomSort.CREATED,
    limit: Annotated[
        int | None,
        Query(
            ge=1, description=f"Page size, default {ROOMS_DEFAULT_LIMIT}; over {ROOMS_MAX_LIMIT} is {ROOMS_MAX_LIMIT}"
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="How many matching rooms to skip")] = 0,
    mine: Annotated[
        bool, Query(description="Only rooms you have a read marker in (yours: clients follow them)")
    ] = False,
) -> list[dict[str, Any]]:
    """One page of rooms, with how many members are online now and the caller's read marker and
    unread count; the number of matching rooms in all is in ``X-Total-Count``."""
    page = await ctx.rooms.page(me.user, query=q, sort=sort, mine=mine, limit=clamp_rooms_limit(limit), offset=offset)
    response.headers["X-Total-Count"] = str(page.total)
    return [ctx.rooms.view(room, page.readings.get(room.id)).to_wire() for room in page.rooms]


@router.post(
    "/rooms",
    status_code=201,
    responses={201: _example("The new room", _ROOM_EXAMPLE), **errors(*READS_BODY, *SIGNED_IN, 409, 429)},
)
async def create_room(body: NewRoom, me: Me, ctx: Ctx) -> dict[str, Any]:
    return ctx.rooms.view(await ctx.rooms.create(body.name, me.user)).to_wire()


@router.get("/rooms/{room_id}", responses={200: _example("The room", _ROOM_EXAMPLE), **errors(*SIGNED_IN, 404, 422)})
async def get_room(room_id: Annotated[int, Path(ge=1, le=MAX_ID)], me: Me, ctx: Ctx) -> dict[str, Any]:
    room = await ctx.rooms.get_visible(room_id, me.user.id)
    return ctx.rooms.view(room, await ctx.markers.of_room(me.user, room.id), viewer_id=me.user.id).to_wire()


@router.post("/rooms/{room_id}/read", status_code=204, responses=errors(*READS_BODY, *SIGNED_IN, 404))
async def mark_read(room_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ReadUpTo, me: Me, ctx: Ctx) -> Response:
    """Move the caller's read marker forward to ``lastReadId`` (a lower id changes nothing; an id
    past the room's newest message stops at it). Every connection of the caller gets READ (13)."""
    room = await ctx.rooms.get_visible(room_id, me.user.id)
    await ctx.markers.advance(me.user, room.id, body.lastReadId)
    return Response(status_code=204)


@router.get(
    "/rooms/{room_id}/messages",
    responses={200: _example("One page, oldest first", [_MESSAGE_EXAMPLE]), **errors(*SIGNED_IN, 404, 422)},
)
async def room_messages(
    room_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    me: Me,
    ctx: Ctx,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only messages with a smaller id")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Only messages with a larger id (catching up)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description=f"Page size, default 50, at most {HISTORY_MAX_LIMIT}")] = None,
) -> list[dict[str, Any]]:
    """One page of history, oldest first: the newest page, the page before ``before``, or
    the first page after ``after``."""
    page = await ctx.history.page(
        room_id, viewer_id=me.user.id, before=before, after=after, limit=clamp_history_limit(limit)
    )
    return [message.to_wire() for message in page.messages]


def health_body(
    connections: int,
    database_id: str,
    storage: dict[str, Any],
    cache: dict[str, Any],
    cluster: dict[str, Any] | None = None,
) -> dict[str, Any]:
    healthy = cache["ok"] and (cluster is None or cluster["ok"])
    status = "ok" if storage["ok"] and healthy else ("degraded" if storage["ok"] else "down")
    body = {
        "status": status,
        "version": __version__,
        "protocolVersion": PROTOCOL_VERSION,
        # Which database this server serves: a client keeps what it holds for a server (unsent
        # messages, open rooms) under this, so a new server at the same address never gets them.
        "databaseId": database_id,
        "storage": storage,
        "cache": cache,
        "connections": connections,
    }
    if cluster is not None:
        body["cluster"] = cluster
    return body


_DATABASE_ID = "0f6b7c1e9d2a4f38b5c6d7e8f9a0b1c2"
_HEALTH_UP = health_body(2, _DATABASE_ID, {"backend": "sqlite", "ok": True}, {"backend": "memory", "ok": True})
_HEALTH_PAUSED = health_body(
    2,
    _DATABASE_ID,
    {"backend": "mysql", "ok": True},
    {"backend": "redis", "ok": False},
    {"ok": False, "instances": 3, "message": "cross-instance delivery paused"},
)
_HEALTH_DOWN = health_body(
    2, _DATABASE_ID, {"backend": "mysql", "ok": False, "error": "OperationalError"}, {"backend": "redis", "ok": True}
)


@router.get(
    "/health",
    responses={
        200: {
            "description": "Storage answers (status ok; degraded when the cache or the cluster's Redis does not)",
            "content": {
                "application/json": {
                    "examples": {
                        "ok": {"value": _HEALTH_UP},
                        "degraded": {"value": _HEALTH_PAUSED},
                    }
                }
            },
        },
        503: _example("Storage does not answer (status down)", _HEALTH_DOWN),
    },
)
async def health(ctx: Ctx, response: Response) -> dict[str, Any]:
    """Whether storage and cache answer, and (one of several servers) whether events cross between
    them live. 503 when storage does not answer."""
    storage = await ctx.storage_health()
    cache = await ctx.cache.health()
    if not storage["ok"]:
        response.status_code = 503
    return health_body(ctx.hub.connection_count, ctx.database_id, storage, cache, ctx.cluster_health())
