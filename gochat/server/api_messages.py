"""REST: editing and deleting a message (docs/protocol.md, "Edits and deletions"). Thin, as in
api.py: parse, call MessageEdits, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from gochat.protocol import MAX_ID, Message, User
from gochat.server.api import READS_BODY, SIGNED_IN, Ctx, Me, errors

router = APIRouter(prefix="/api")

RoomId = Annotated[int, Path(ge=1, le=MAX_ID)]
MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]

_EDITED_EXAMPLE = Message(
    41,
    3,
    User(1, "alice"),
    "<b>hi</b> 你好 😀 (fixed)",
    datetime(2026, 11, 27, 6, 56, 40, 278000, tzinfo=UTC),
    "c1",
    rev=103,
    edited_at=datetime(2026, 11, 27, 6, 58, 2, 511000, tzinfo=UTC),
).to_wire()


class NewContent(BaseModel):
    content: str = Field(description="The new text: the same rules as sending", examples=["你好 (fixed)"])


@router.patch(
    "/rooms/{room_id}/messages/{message_id}",
    responses={
        200: {
            "description": "The message as edited: editedAt and a new rev",
            "content": {"application/json": {"example": _EDITED_EXAMPLE}},
        },
        **errors(*READS_BODY, *SIGNED_IN, 403, 404, 429),
    },
)
async def edit_message(room_id: RoomId, message_id: MessageId, body: NewContent, me: Me, ctx: Ctx) -> dict[str, Any]:
    """Replace your own message's text; everyone in or watching the room gets MESSAGE_EDITED (10).
    403 for someone else's message, 404 for a message not in the room, deleted, or a room you
    cannot see; 429 past your pace of edits."""
    edited = await ctx.edits.edit(me.user, room_id, message_id, body.content)
    return edited.to_wire()


@router.delete(
    "/rooms/{room_id}/messages/{message_id}",
    status_code=204,
    responses=errors(*SIGNED_IN, 403, 404, 422),
)
async def delete_message(room_id: RoomId, message_id: MessageId, me: Me, ctx: Ctx) -> Response:
    """Delete a message (yours; any, as the room's creator or a server admin): it stays as a
    tombstone without its text, and the room gets MESSAGE_DELETED (11)."""
    await ctx.edits.delete(me.user, room_id, message_id)
    return Response(status_code=204)
