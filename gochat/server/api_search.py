"""GET /api/search: messages by their text, in the rooms the caller may read (docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gochat.protocol import MAX_ID, SEARCH_MAX_CHARS, SEARCH_MIN_CHARS
from gochat.server.api import _MESSAGE_EXAMPLE, SIGNED_IN, Ctx, Me, _example, errors

router = APIRouter(prefix="/api")


@router.get(
    "/search",
    responses={200: _example("One page, newest first", [_MESSAGE_EXAMPLE]), **errors(*SIGNED_IN, 404, 422)},
)
async def search_messages(
    me: Me,
    ctx: Ctx,
    q: Annotated[
        str,
        Query(
            # Bounded here too (the service trims, then checks 2 to 200): a huge q is refused unread.
            max_length=4 * SEARCH_MAX_CHARS,
            description=f"The text to find, ignoring case: {SEARCH_MIN_CHARS} to {SEARCH_MAX_CHARS} characters",
        ),
    ],
    roomId: Annotated[  # noqa: N803 - the wire name
        int | None, Query(ge=1, le=MAX_ID, description="Only this room (404 when you may not read it)")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only messages with a smaller id")] = None,
) -> list[dict[str, Any]]:
    """Messages containing ``q``, newest first, 50 a page (``before``: the page older than that
    id), from public rooms and the caller's own direct rooms."""
    found = await ctx.search.find(me.user, q, room_id=roomId, before=before)
    return [message.to_wire() for message in found]
