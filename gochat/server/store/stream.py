"""The message stream as the database holds it: what a server sharing the database missed.

Every stored message, edit and deletion takes revs from the one "rev" sequence inside its own
transaction, and the sequence's row stays locked until that transaction ends: writers on every
server take revs one after another, commit in rev order, and a new message's id is allotted after
its revs (docs/architecture.md, "Several instances"). So one snapshot of the database is a prefix
of the stream: every rev up to the sequence's value is committed and none above it is.

``changes_since`` reads that prefix beyond a position (the highest message id and rev a server
has delivered) in one statement, hence one snapshot on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from gochat.server.records import MessageRecord, UserRecord
from gochat.server.store import models
from gochat.server.store.queries import SEQUENCES, _message, _user
from gochat.server.store.upgrade import REV_SEQUENCE

_NEWER, _CHANGED, _POSITION = 0, 1, 2


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Delivered: every message with id <= ``last_id``, each as of rev ``rev``."""

    last_id: int
    rev: int


@dataclass(frozen=True, slots=True)
class Tombstone:
    message: MessageRecord
    deleted_by: UserRecord | None  # None: deleted before gochat kept who did


@dataclass(frozen=True, slots=True)
class StreamChanges:
    """What a server at ``since`` missed, as of one snapshot."""

    # Messages after since.last_id, in id order, as they are now (a tombstone too).
    new: list[MessageRecord]
    # Messages up to since.last_id changed after since.rev, in rev order, as they are now.
    edited: list[MessageRecord]
    deleted: list[Tombstone]
    # Where a server that delivered all of the above stands.
    position: StreamPosition
    # More remain beyond ``position`` (the reply was cut at its limit): ask again from there.
    more: bool


def current_position(session: Session) -> StreamPosition:
    """Where the stream stands now (a server starting delivers from here)."""
    message = models.Message
    last_id = session.scalar(select(message.id).order_by(message.id.desc()).limit(1)) or 0
    rev = session.scalar(select(SEQUENCES.c.value).where(SEQUENCES.c.name == REV_SEQUENCE)) or 0
    return StreamPosition(int(last_id), int(rev))


def changes_since(session: Session, since: StreamPosition, limit: int) -> StreamChanges:
    """The stream beyond ``since``: changes to messages already delivered first (at most
    ``limit``, lowest rev first), then — when those are complete — new messages (at most
    ``limit``, lowest id first). Each part is cut so that the position returned is exact: a
    server standing there has every message up to its id as of its rev."""
    message = models.Message
    newer = (
        select(message.id, literal(_NEWER).label("part"))
        .where(message.id > since.last_id)
        .order_by(message.id)
        .limit(limit + 1)
        .subquery("newer")
    )
    changed = (
        select(message.id, literal(_CHANGED).label("part"))
        .where(message.rev > since.rev, message.id <= since.last_id)
        .order_by(message.rev)
        .limit(limit + 1)
        .subquery("changed")
    )
    position = select(SEQUENCES.c.value.label("id"), literal(_POSITION).label("part")).where(
        SEQUENCES.c.name == REV_SEQUENCE
    )
    wanted = union_all(select(newer.c.id, newer.c.part), select(changed.c.id, changed.c.part), position).subquery(
        "wanted"
    )
    author, deleter = aliased(models.User), aliased(models.User)
    rows = session.execute(
        select(wanted.c.id, wanted.c.part, message, author, deleter)
        .select_from(wanted)
        .outerjoin(message, and_(wanted.c.part != _POSITION, message.id == wanted.c.id))
        .outerjoin(author, author.id == message.user_id)
        .outerjoin(deleter, deleter.id == message.deleted_by)
    ).all()
    committed = since.rev
    new: list[tuple[MessageRecord, models.User | None]] = []
    changes: list[tuple[MessageRecord, models.User | None]] = []
    for key, part, row, by, deleted_by in rows:
        if part == _POSITION:
            committed = int(key)
        elif row is not None:
            (new if part == _NEWER else changes).append((_message(row, by), deleted_by))
    new.sort(key=lambda pair: pair[0].id)
    changes.sort(key=lambda pair: pair[0].rev)
    if len(changes) > limit:
        # Changes cut at the limit: stand at the last one taken; new messages wait for the next ask.
        kept = changes[:limit]
        return _changes([], kept, StreamPosition(since.last_id, kept[-1][0].rev), more=True)
    if len(new) > limit:
        # Every change up to the snapshot is here; new messages up to the last one taken are here
        # as they are at the snapshot: the position holds for ids up to it, at the snapshot's rev.
        kept = new[:limit]
        return _changes(kept, changes, StreamPosition(kept[-1][0].id, committed), more=True)
    last_id = new[-1][0].id if new else since.last_id
    return _changes(new, changes, StreamPosition(last_id, committed), more=False)


def _changes(
    new: list[tuple[MessageRecord, models.User | None]],
    changes: list[tuple[MessageRecord, models.User | None]],
    position: StreamPosition,
    *,
    more: bool,
) -> StreamChanges:
    edited = [record for record, _ in changes if not record.deleted]
    deleted = [Tombstone(record, None if by is None else _user(by)) for record, by in changes if record.deleted]
    return StreamChanges([record for record, _ in new], edited, deleted, position, more)
