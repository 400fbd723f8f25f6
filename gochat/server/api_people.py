"""REST routes for people and direct messages under /api (thin: parse, call a service, shape
the answer): finding people by name, opening a direct room with one, listing one's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from gochat.protocol import (
    DIRECT_ROOMS_MAX,
    USERNAME_MAX,
    USERS_SEARCH_MAX,
    DirectConversation,
    Message,
    Person,
    Room,
    RoomKind,
    User,
)
from gochat.server.api import READS_BODY, SIGNED_IN, Ctx, ErrorOut, Me, errors
from gochat.server.errors import NotFound
from gochat.server.http_errors import chat_error_body

router = APIRouter(prefix="/api")


class DirectWith(BaseModel):
    username: str = Field(description="The other member's username (any case)", examples=["bob"])


# The bodies' shapes are the protocol's, shown by example, encoded by the same code that answers.
_ALICE, _BOB = User(1, "alice"), User(2, "bob")
_MADE = datetime(2026, 11, 27, 7, 2, 11, 410000, tzinfo=UTC)
_DIRECT = Room(12, "bob", _ALICE, _MADE, online=1, kind=RoomKind.DIRECT, members=(_ALICE, _BOB))
_LAST = Message(57, 12, _BOB, "你好 alice", datetime(2026, 11, 27, 7, 3, 5, 120000, tzinfo=UTC), rev=130)


def _example(description: str, example: object) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


@router.get(
    "/users",
    responses={
        200: _example(
            f"People whose name contains q ignoring case, at most {USERS_SEARCH_MAX}, the exact name first",
            [Person(_BOB, online=True).to_wire(), Person(User(7, "bobby"), online=False).to_wire()],
        ),
        **errors(*SIGNED_IN, 422),
    },
)
async def find_people(
    me: Me,
    ctx: Ctx,
    q: Annotated[
        str, Query(min_length=1, max_length=USERNAME_MAX, description="Part of a username, any case", examples=["bo"])
    ],
) -> list[dict[str, Any]]:
    """Find people to talk to: whose name contains ``q`` ignoring case, and whether each is
    connected (``online``)."""
    return [person.to_wire() for person in await ctx.people.search(q)]


@router.post(
    "/dms",
    responses={
        200: _example("The direct room with that user, made before (by either of you)", _DIRECT.to_wire()),
        201: _example("The direct room with that user, made now", _DIRECT.to_wire()),
        404: {
            "model": ErrorOut,
            **_example("No user has that name", chat_error_body(NotFound("There is no user with that name."))),
        },
        **errors(*READS_BODY, *SIGNED_IN),
    },
)
async def open_direct_room(body: DirectWith, me: Me, ctx: Ctx, response: Response) -> dict[str, Any]:
    """The direct room of the caller and ``username``: 201 when made now, 200 every later time,
    from either side. Its ``name`` is the other member's username."""
    room, made = await ctx.direct.open(me.user, body.username)
    response.status_code = 201 if made else 200
    # A room made just now has no messages and no markers.
    reading = None if made else await ctx.markers.of_room(me.user, room.id)
    return ctx.rooms.view(room, reading, viewer_id=me.user.id).to_wire()


@router.get(
    "/dms",
    responses={
        200: _example(
            f"Your direct rooms, the most recent activity first (at most {DIRECT_ROOMS_MAX})",
            [DirectConversation(_DIRECT, _BOB, _LAST).to_wire()],
        ),
        **errors(*SIGNED_IN),
    },
)
async def list_direct_rooms(me: Me, ctx: Ctx) -> list[dict[str, Any]]:
    """Your direct rooms, each with ``peer`` (the other member) and ``lastMessage`` (or null),
    and your read marker and unread count in it."""
    return [conversation.to_wire() for conversation in await ctx.direct.conversations(me.user)]
