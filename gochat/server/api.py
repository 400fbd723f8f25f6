"""The REST API under /api. Handlers are thin: parse, call a service, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gochat import __version__
from gochat.protocol import HISTORY_MAX_LIMIT, MAX_ID, PROTOCOL_VERSION, Message, Room, User, clamp_history_limit
from gochat.server.context import ServerContext
from gochat.server.errors import Unauthorized

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


class ErrorOut(BaseModel):
    error: str
    message: str


class RateLimitedOut(ErrorOut):
    retryAfter: int = Field(description="Milliseconds to wait before trying again", examples=[1500])  # noqa: N815


# The bodies' shapes are the protocol's (gochat/protocol.py, docs/protocol.md); the API
# description shows them by example, encoded by the same code that answers.
_ALICE = User(1, "alice")
_CREATED = datetime(2026, 11, 27, 6, 56, 36, 48000, tzinfo=UTC)
_USER_EXAMPLE = _ALICE.to_wire()
_ROOM_EXAMPLE = Room(3, "闲聊 ☕", _ALICE, _CREATED, online=2, last_read_id=40, unread=1).to_wire()
_MESSAGE_EXAMPLE = Message(41, 3, _ALICE, "<b>hi</b> 你好 😀", _CREATED, "c1").to_wire()


def _example(description: str, example: object) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


RATE_LIMITED: dict[str, Any] = {
    "model": RateLimitedOut,
    "description": "Too many requests: try again after Retry-After seconds (retryAfter ms in the body)",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, unknown or logged-out token"},
    422: {"model": ErrorOut, "description": "Invalid input"},
}


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
    responses={
        **ERRORS,
        201: _example("The new account", _USER_EXAMPLE),
        409: {"model": ErrorOut},
        429: RATE_LIMITED,
    },
)
async def register(body: Credentials, ctx: Ctx, address: Address) -> dict[str, Any]:
    """Create an account. Usernames are unique ignoring case."""
    user = await ctx.accounts.register(body.username, body.password, address)
    return user.to_wire()


@router.post(
    "/login",
    responses={
        200: _example("A bearer token and who it is for", {"token": "…", "user": _USER_EXAMPLE}),
        401: ERRORS[401],
        422: ERRORS[422],
        429: RATE_LIMITED,
    },
)
async def login(body: Credentials, ctx: Ctx, address: Address) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    token, user = await ctx.accounts.login(body.username, body.password, address)
    return {"token": token, "user": user.to_wire()}


@router.post("/logout", status_code=204, responses={401: ERRORS[401]})
async def logout(me: Me, ctx: Ctx) -> Response:
    """End this token's session at once, closing its WebSocket connections too."""
    await ctx.logout(me.token_hash)
    return Response(status_code=204)


@router.get("/me", responses={200: _example("The caller", _USER_EXAMPLE), 401: ERRORS[401]})
async def whoami(me: Me) -> dict[str, Any]:
    return me.user.to_wire()


@router.get("/rooms", responses={200: _example("Every room", [_ROOM_EXAMPLE]), 401: ERRORS[401]})
async def list_rooms(
    me: Me, ctx: Ctx, q: Annotated[str | None, Query(max_length=256, description="Substring of the name")] = None
) -> list[dict[str, Any]]:
    """Every room, oldest first, with how many members are online now and the caller's read
    marker and unread count."""
    rooms = await ctx.rooms.search(q)
    readings = await ctx.markers.of_user(me.user)
    return [ctx.rooms.view(room, readings.get(room.id)).to_wire() for room in rooms]


@router.post(
    "/rooms",
    status_code=201,
    responses={**ERRORS, 201: _example("The new room", _ROOM_EXAMPLE), 409: {"model": ErrorOut}, 429: RATE_LIMITED},
)
async def create_room(body: NewRoom, me: Me, ctx: Ctx) -> dict[str, Any]:
    return ctx.rooms.view(await ctx.rooms.create(body.name, me.user)).to_wire()


@router.get(
    "/rooms/{room_id}", responses={**ERRORS, 200: _example("The room", _ROOM_EXAMPLE), 404: {"model": ErrorOut}}
)
async def get_room(room_id: Annotated[int, Path(ge=1, le=MAX_ID)], me: Me, ctx: Ctx) -> dict[str, Any]:
    room = await ctx.rooms.get(room_id)
    return ctx.rooms.view(room, await ctx.markers.of_room(me.user, room.id)).to_wire()


@router.post("/rooms/{room_id}/read", status_code=204, responses={**ERRORS, 404: {"model": ErrorOut}})
async def mark_read(room_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ReadUpTo, me: Me, ctx: Ctx) -> Response:
    """Move the caller's read marker forward to ``lastReadId`` (a lower id changes nothing; an id
    past the room's newest message stops at it). Every connection of the caller gets READ (13)."""
    room = await ctx.rooms.get(room_id)
    await ctx.markers.advance(me.user, room.id, body.lastReadId)
    return Response(status_code=204)


@router.get(
    "/rooms/{room_id}/messages",
    responses={**ERRORS, 200: _example("One page, oldest first", [_MESSAGE_EXAMPLE]), 404: {"model": ErrorOut}},
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
    page = await ctx.history.page(room_id, before=before, after=after, limit=clamp_history_limit(limit))
    return [message.to_wire() for message in page.messages]


@router.get("/health")
async def health(ctx: Ctx, response: Response) -> dict[str, Any]:
    """Whether storage and cache answer. 503 when storage does not."""
    storage = await ctx.storage_health()
    cache = await ctx.cache.health()
    if not storage["ok"]:
        response.status_code = 503
    status = "ok" if storage["ok"] and cache["ok"] else ("degraded" if storage["ok"] else "down")
    return {
        "status": status,
        "version": __version__,
        "protocolVersion": PROTOCOL_VERSION,
        # Which database this server serves: a client keeps what it holds for a server (unsent
        # messages, open rooms) under this, so a new server at the same address never gets them.
        "databaseId": ctx.database_id,
        "storage": storage,
        "cache": cache,
        "connections": ctx.hub.connection_count,
    }
