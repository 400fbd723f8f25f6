"""Synchronous queries, each taking a Session; Database.run calls them off the event loop."""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased

from gochat.protocol import RoomKind, RoomSort, room_name_key, username_key, username_skeleton
from gochat.server.records import (
    CredentialRecord,
    HistoryPage,
    MessageRecord,
    Reading,
    RoomPage,
    RoomRecord,
    UserRecord,
)
from gochat.server.store import models, rare_trigrams, search_index
from gochat.server.store.mentions import resolve_mentions, stored_mentions
from gochat.server.store.upgrade import REV_SEQUENCE


class NameTaken(Exception):
    """A unique name (user or room) exists already, ignoring case."""


class NameLooksTaken(NameTaken):
    """A username looks like an existing one (their skeletons are equal)."""


def _user(row: models.User) -> UserRecord:
    return UserRecord(id=row.id, username=row.username)


def name_clash(session: Session, username: str) -> type[NameTaken] | None:
    """Whether ``username`` is taken (ignoring case), looks like a name that is, or is free."""
    users = models.User
    if session.scalar(select(users.id).where(users.username_key == username_key(username))) is not None:
        return NameTaken
    if session.scalar(select(users.id).where(users.username_skeleton == username_skeleton(username))) is not None:
        return NameLooksTaken
    return None


def create_user(session: Session, username: str, password_hash: str) -> UserRecord:
    clash = name_clash(session, username)
    if clash is not None:
        raise clash(username)
    row = models.User(
        username=username,
        password=password_hash,
        username_key=username_key(username),
        username_skeleton=username_skeleton(username),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent registration won the race for the same key or skeleton
        raise NameTaken(username) from None
    return _user(row)


def find_credentials(session: Session, username: str) -> CredentialRecord | None:
    row = session.scalar(
        select(models.User).where(models.User.username_key == username_key(username), models.User.deleted_at.is_(None))
    )
    return None if row is None else CredentialRecord(_user(row), row.password)


def replace_password_hash(session: Session, user_id: int, old_hash: str, new_hash: str) -> None:
    """Store a re-made hash of the same password, unless the password changed meanwhile."""
    session.execute(
        update(models.User)
        .where(models.User.id == user_id, models.User.password == old_hash)
        .values(password=new_hash, updated_at=models.utcnow())
    )


def create_session(session: Session, token_hash: str, user_id: int, now: datetime) -> None:
    session.add(models.Session(token_hash=token_hash, user_id=user_id, created_at=now, last_used_at=now))


def session_user(
    session: Session, token_hash: str, *, now: datetime, expired_before: datetime, renew_before: datetime
) -> UserRecord | None:
    """The user of a session last used at ``expired_before`` or later; its ``last_used_at``
    moves to ``now`` when it is older than ``renew_before`` (so a busy token costs one write a
    while, not one per request)."""
    row = session.execute(
        select(models.User, models.Session.last_used_at)
        .join(models.Session, models.Session.user_id == models.User.id)
        .where(
            models.Session.token_hash == token_hash,
            models.Session.last_used_at >= expired_before,
            models.User.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    user, last_used_at = row
    if last_used_at < renew_before:
        session.execute(update(models.Session).where(models.Session.token_hash == token_hash).values(last_used_at=now))
    return _user(user)


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(models.Session).where(models.Session.token_hash == token_hash))


def delete_sessions_of_user(session: Session, user_id: int) -> None:
    session.execute(delete(models.Session).where(models.Session.user_id == user_id))


# Token hashes per IN (...) list: far below every backend's limit on bound parameters.
_HASHES_PER_QUERY = 500


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _HASHES_PER_QUERY] for i in range(0, len(items), _HASHES_PER_QUERY)]


def renew_sessions(session: Session, token_hashes: Sequence[str], *, now: datetime, expired_before: datetime) -> None:
    """Mark these sessions used now, except those already expired (an expired one stays ended)."""
    for chunk in _chunks(token_hashes):
        session.execute(
            update(models.Session)
            .where(models.Session.token_hash.in_(chunk), models.Session.last_used_at >= expired_before)
            .values(last_used_at=now)
        )


def live_sessions(session: Session, token_hashes: Sequence[str], *, expired_before: datetime) -> set[str]:
    """Which of these token hashes still have a session that has not expired."""
    live: set[str] = set()
    for chunk in _chunks(token_hashes):
        live.update(
            session.scalars(
                select(models.Session.token_hash).where(
                    models.Session.token_hash.in_(chunk), models.Session.last_used_at >= expired_before
                )
            )
        )
    return live


def delete_expired_sessions(session: Session, *, expired_before: datetime) -> None:
    session.execute(delete(models.Session).where(models.Session.last_used_at < expired_before))


def _room_query() -> Select[models.Room, models.User, models.User | None, models.User | None]:
    """Rooms with their creator and, for a direct room, its two members (lower id first)."""
    creator, low, high = aliased(models.User), aliased(models.User), aliased(models.User)
    direct = models.DirectRoom
    return (
        select(models.Room, creator, low, high)
        .join(creator, creator.id == models.Room.user_id)
        .outerjoin(direct, direct.room_id == models.Room.id)
        .outerjoin(low, low.id == direct.user_low_id)
        .outerjoin(high, high.id == direct.user_high_id)
        .where(models.Room.deleted_at.is_(None))
        .order_by(models.Room.id)
    )


def _room(
    room: models.Room, creator: models.User, low: models.User | None = None, high: models.User | None = None
) -> RoomRecord:
    members = None if low is None or high is None else (_user(low), _user(high))
    return RoomRecord(
        id=room.id,
        name=room.room_name,
        creator=_user(creator),
        created_at=room.created_at,
        kind=RoomKind(room.kind or RoomKind.PUBLIC.value),
        members=members,
    )


def create_room(session: Session, name: str, creator: UserRecord) -> RoomRecord:
    key = room_name_key(name)
    taken = select(models.Room.id).where(models.Room.room_name_key == key, models.Room.deleted_at.is_(None))
    if session.scalar(taken) is not None:
        raise NameTaken(name)
    row = models.Room(room_name=name, room_name_key=key, user_id=creator.id)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise NameTaken(name) from None
    return RoomRecord(id=row.id, name=row.room_name, creator=creator, created_at=row.created_at)


def room_page(
    session: Session, user_id: int, *, query: str | None, sort: RoomSort, mine: bool, limit: int, offset: int
) -> RoomPage:
    """One page of the room list for one user, in one transaction: the rooms (with their
    creators, one join), how many match in all, and the user's reading of each room on the page.

    ``query`` keeps rooms whose case-folded name contains it (LIKE's wildcards in it are escaped);
    ``mine`` keeps the rooms the user has a read marker in. Every order ends with the id, so
    offsets page through a stable order. Activity is each room's newest message id: a pass over
    every matching room (docs/architecture.md, "The room list in pages", has the figures)."""
    # Direct rooms are never in the list (GET /api/dms has them).
    matching: list[ColumnElement[bool]] = [models.Room.deleted_at.is_(None), models.Room.kind == RoomKind.PUBLIC.value]
    if query:
        matching.append(models.Room.room_name_key.contains(room_name_key(query), autoescape=True))
    if mine:
        matching.append(
            exists().where(models.ReadMarker.user_id == user_id, models.ReadMarker.room_id == models.Room.id)
        )
    # The page's ids from the rooms table alone, then their rows and creators by primary key
    # (a "deferred join"): joined to users at once, MariaDB started from the users table and
    # sorted every room to keep a hundred.
    page = select(models.Room.id).where(*matching)
    if sort is RoomSort.NAME:
        page = page.order_by(models.Room.room_name_key, models.Room.id)
    elif sort is RoomSort.ACTIVITY:
        # Each room's newest message id, grouped once from idx_messages_room_id_id (MariaDB skips
        # through it: "Using index for group-by"); a correlated max() per room took a third longer.
        activity = (
            select(models.Message.room_id, func.max(models.Message.id).label("newest"))
            .group_by(models.Message.room_id)
            .subquery("activity")
        )
        page = page.outerjoin(activity, activity.c.room_id == models.Room.id).order_by(
            func.coalesce(activity.c.newest, 0).desc(), models.Room.id.desc()
        )
    else:
        page = page.order_by(models.Room.id)
    ids = list(session.scalars(page.limit(limit).offset(offset)))
    creator = aliased(models.User)
    found_rooms = session.execute(
        select(models.Room, creator).join(creator, creator.id == models.Room.user_id).where(models.Room.id.in_(ids))
    ).all()
    by_id = {room.id: _room(room, by) for room, by in found_rooms}
    rooms = [by_id[room_id] for room_id in ids if room_id in by_id]
    total = session.scalar(select(func.count()).select_from(models.Room).where(*matching)) or 0
    found = readings(session, user_id, [room.id for room in rooms])
    return RoomPage(rooms, {room_id: Reading(marker, unread) for room_id, (marker, unread) in found.items()}, total)


def get_room(session: Session, room_id: int) -> RoomRecord | None:
    row = session.execute(_room_query().where(models.Room.id == room_id)).first()
    return None if row is None else _room(*row)


def _message_query() -> Select[models.Message, models.User]:
    author = aliased(models.User)
    # Deleted messages stay in every page as tombstones (their text is gone already).
    return select(models.Message, author).join(author, author.id == models.Message.user_id)


def _mentions(stored: str | None) -> tuple[UserRecord, ...]:
    if not stored:
        return ()
    return tuple(UserRecord(int(item["id"]), str(item["username"])) for item in json.loads(stored))


def _message(row: models.Message, author: models.User) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        room_id=row.room_id,
        author=_user(author),
        content=row.content,
        created_at=row.created_at,
        client_msg_id=row.client_msg_id,
        rev=row.rev,
        mentions=_mentions(row.mentions),
        edited_at=row.edited_at,
        deleted=row.deleted_at is not None,
    )


def history_page(
    session: Session, room_id: int, *, before: int | None = None, after: int | None = None, limit: int
) -> HistoryPage:
    """One page of a room's history, oldest first, and whether more lies beyond it: the newest
    ``limit`` messages (no cursor), the ones just older than ``before`` (scrolling back; ``more``
    means older ones exist), or the first ones newer than ``after`` (catching up; ``more`` means
    newer ones exist). The one pager behind REST history, ENTER and SYNC."""
    query = _message_query().where(models.Message.room_id == room_id)
    if after is not None:
        query = query.where(models.Message.id > after).order_by(models.Message.id)
        rows = session.execute(query.limit(limit + 1)).all()
        return HistoryPage([_message(message, author) for message, author in rows[:limit]], len(rows) > limit)
    if before is not None:
        query = query.where(models.Message.id < before)
    rows = session.execute(query.order_by(models.Message.id.desc()).limit(limit + 1)).all()
    return HistoryPage([_message(message, author) for message, author in reversed(rows[:limit])], len(rows) > limit)


MESSAGES = cast(Table, models.Message.__table__)
USERS = cast(Table, models.User.__table__)


def find_client_messages(
    connection: Connection, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], MessageRecord]:
    """Stored messages for (user id, clientMsgId) pairs: how retries find their first copy."""
    if not keys:
        return {}
    # One "user = ? AND client_msg_id IN (...)" per user: each is a range on the unique index,
    # where a row-value IN over both columns makes SQLite scan the whole index.
    wanted: dict[int, set[str]] = defaultdict(set)
    for user, client_msg_id in keys:
        wanted[user].add(client_msg_id)
    by_user = [(user, sorted(wanted[user])) for user in sorted(wanted)]
    query = (
        select(
            MESSAGES.c.id,
            MESSAGES.c.room_id,
            MESSAGES.c.user_id,
            USERS.c.username,
            MESSAGES.c.content,
            MESSAGES.c.created_at,
            MESSAGES.c.client_msg_id,
            MESSAGES.c.rev,
            MESSAGES.c.mentions,
            MESSAGES.c.edited_at,
            MESSAGES.c.deleted_at,
        )
        .join(USERS, USERS.c.id == MESSAGES.c.user_id)
        .where(or_(*(and_(MESSAGES.c.user_id == user, MESSAGES.c.client_msg_id.in_(ids)) for user, ids in by_user)))
    )
    found: dict[tuple[int, str], MessageRecord] = {}
    for row in connection.execute(query):
        found[(row.user_id, row.client_msg_id)] = MessageRecord(
            id=row.id,
            room_id=row.room_id,
            author=UserRecord(id=row.user_id, username=row.username),
            content=row.content,
            created_at=row.created_at,
            client_msg_id=row.client_msg_id,
            rev=row.rev,
            mentions=_mentions(row.mentions),
            edited_at=row.edited_at,
            deleted=row.deleted_at is not None,
        )
    return found


# A message to insert: user id, room id, content, clientMsgId, mentions (messages.mentions: JSON or None), rev.
MessageRow = tuple[int, int, str, str | None, str | None, int]


def insert_messages(connection: Connection, rows: Sequence[MessageRow], now: datetime) -> list[int]:
    """Insert (user id, room id, content, clientMsgId, mentions, rev) rows in one statement; their ids, in order."""
    if not rows:
        return []
    dialect = connection.dialect
    if not dialect.insert_returning:
        return _insert_messages_one_by_one(connection, rows, now)
    # The group commit's hot path, so one statement written out for the driver: SQLAlchemy's
    # own multi-row insert spent more of the writer's time on parameters than the database
    # spent inserting, and the writer shares the GIL with the event loop.
    stamp_processor = MESSAGES.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = stamp_processor(now) if stamp_processor is not None else now
    parameters: list[object] = []
    for user_id, room_id, content, client_msg_id, mentions, rev in rows:
        parameters += (user_id, room_id, content, client_msg_id, mentions, rev, stamp, stamp)
    if dialect.name == "sqlite":
        # SQLite gives a new row max(rowid) + 1 (until id 2**63 - 1 is taken, which no message
        # table reaches), and one statement runs under the write lock, so its rows get
        # consecutive ids ending at the last one inserted. Not reading them back
        # saves a step per row, each of which lets go of the GIL and must win it back from the
        # event loop.
        statement = _multi_row_insert(dialect.paramstyle, len(rows), returning=False)
        last = connection.exec_driver_sql(statement, tuple(parameters)).lastrowid
        return list(range(last - len(rows) + 1, last + 1))
    result = connection.exec_driver_sql(_multi_row_insert(dialect.paramstyle, len(rows)), tuple(parameters))
    # Its rows come back in no promised order, but the ids rise in the order rows are inserted
    # (InnoDB's auto-increment counter), so sorted they match the rows.
    return sorted(row[0] for row in result)


@functools.lru_cache(maxsize=64)
def _multi_row_insert(paramstyle: str, count: int, returning: bool = True) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([mark] * 8) + ")"
    return (
        f"INSERT INTO {MESSAGES.name} "
        "(user_id, room_id, content, client_msg_id, mentions, rev, created_at, updated_at) "
        f"VALUES {', '.join([row] * count)}" + (" RETURNING id" if returning else "")
    )


def _insert_messages_one_by_one(connection: Connection, rows: Sequence[MessageRow], now: datetime) -> list[int]:
    """For a database without INSERT ... RETURNING (MySQL, MariaDB before 10.5)."""
    ids = []
    for user_id, room_id, content, client_msg_id, mentions, rev in rows:
        values = {
            "user_id": user_id,
            "room_id": room_id,
            "content": content,
            "client_msg_id": client_msg_id,
            "mentions": mentions,
            "rev": rev,
        }
        result = connection.execute(insert(MESSAGES).values(created_at=now, updated_at=now, **values))
        assert result.inserted_primary_key is not None
        ids.append(int(result.inserted_primary_key[0]))
    return ids


# ---------------------------------------------------------------------------
# Read markers: how far each user has read in each room


def _newest_message_id(session: Session, room_id: int) -> int:
    newest = session.scalar(select(func.max(models.Message.id)).where(models.Message.room_id == room_id))
    return int(newest or 0)


def _unread(session: Session, user_id: int, room_id: int, after_id: int, upto: int | None = None) -> int:
    query = select(func.count()).where(
        models.Message.room_id == room_id,
        models.Message.id > after_id,
        models.Message.user_id != user_id,
        models.Message.deleted_at.is_(None),
    )
    if upto is not None:
        query = query.where(models.Message.id <= upto)
    return int(session.scalar(query) or 0)


def read_marker(session: Session, user_id: int, room_id: int) -> int | None:
    return session.scalar(
        select(models.ReadMarker.last_read_id).where(
            models.ReadMarker.user_id == user_id, models.ReadMarker.room_id == room_id
        )
    )


def room_reading(session: Session, user_id: int, room_id: int) -> tuple[int | None, int, int]:
    """(the user's marker or None, their unread count, the newest message id counted), from one
    snapshot: live messages above the newest id counted are the ones the count does not hold."""
    newest = _newest_message_id(session, room_id)
    marker = read_marker(session, user_id, room_id)
    return marker, _unread(session, user_id, room_id, marker or 0, newest), newest


def _insert_if_absent(session: Session, table: type[models.Base], values: dict[str, Any]) -> None:
    """INSERT a row unless its primary key exists: race-free without savepoints (which pysqlite
    does not do reliably), in each backend's own words."""
    key = next(iter(cast(Table, table.__table__).primary_key.columns)).name
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())
    else:
        statement = mysql_insert(table).values(**values)
        session.execute(statement.on_duplicate_key_update({key: statement.inserted[key]}))


def join_room(session: Session, user_id: int, room_id: int) -> tuple[int, int, int, bool]:
    """Entering makes a room the user's: with no marker yet, one is set at the newest message
    (the history just shown is not unread). Returns (marker, unread, the newest message id the
    count covers, whether the marker was made now)."""
    newest = _newest_message_id(session, room_id)
    marker = read_marker(session, user_id, room_id)
    joined = marker is None
    if joined:
        _insert_if_absent(session, models.ReadMarker, {"user_id": user_id, "room_id": room_id, "last_read_id": newest})
        marker = read_marker(session, user_id, room_id) or 0
    assert marker is not None
    return marker, _unread(session, user_id, room_id, marker, newest), newest, joined


def enter_room(
    session: Session, user_id: int, room_id: int, after_id: int | None, limit: int, after_rev: int | None = None
) -> tuple[tuple[int, int, int, bool], HistoryPage, HistoryPage | None]:
    """What ENTER reads, in one transaction: the user's reading (``join_room``) and a page of
    history: the newest ``limit`` when ``after_id`` is None, else the first ``limit`` after it;
    with ``after_id`` and ``after_rev``, also the changes up to ``after_id`` (``catch_up``)."""
    reading = join_room(session, user_id, room_id)
    if after_id is not None and after_rev is not None:
        page, changes = catch_up(session, room_id, after_id, after_rev, limit)
        return reading, page, changes
    return reading, history_page(session, room_id, after=after_id, limit=limit), None


def advance_read_marker(session: Session, user_id: int, room_id: int, last_read_id: int) -> tuple[int, int, bool]:
    """Move the marker forward to ``last_read_id`` (never back, never past the room's newest
    message), making one if there is none. Returns (marker, unread, moved)."""
    target = min(last_read_id, _newest_message_id(session, room_id))
    before = read_marker(session, user_id, room_id)
    if before is None:
        _insert_if_absent(session, models.ReadMarker, {"user_id": user_id, "room_id": room_id, "last_read_id": 0})
    session.execute(
        update(models.ReadMarker)
        .where(
            models.ReadMarker.user_id == user_id,
            models.ReadMarker.room_id == room_id,
            models.ReadMarker.last_read_id < target,
        )
        .values(last_read_id=target)
    )
    marker = read_marker(session, user_id, room_id) or 0
    return marker, _unread(session, user_id, room_id, marker), before is None or marker != before


def readings(session: Session, user_id: int, room_ids: Collection[int]) -> dict[int, tuple[int | None, int]]:
    """The (marker or None, unread count) of one user in each of ``room_ids``; rooms with
    neither are left out.

    One grouped count over the messages the user has not read in those rooms, from others."""
    if not room_ids:
        return {}
    markers = dict(
        session.execute(
            select(models.ReadMarker.room_id, models.ReadMarker.last_read_id).where(
                models.ReadMarker.user_id == user_id, models.ReadMarker.room_id.in_(room_ids)
            )
        ).all()
    )
    marker = models.ReadMarker
    counts = session.execute(
        select(models.Message.room_id, func.count())
        .select_from(models.Message)
        .outerjoin(marker, and_(marker.room_id == models.Message.room_id, marker.user_id == user_id))
        .where(
            models.Message.room_id.in_(room_ids),
            models.Message.user_id != user_id,
            models.Message.deleted_at.is_(None),
            models.Message.id > func.coalesce(marker.last_read_id, 0),
        )
        .group_by(models.Message.room_id)
    ).all()
    result: dict[int, tuple[int | None, int]] = {room_id: (last, 0) for room_id, last in markers.items()}
    for room_id, count in counts:
        result[room_id] = (markers.get(room_id), int(count))
    return result


# ---------------------------------------------------------------------------
# The database's own identity


DATABASE_ID = "database_id"


def database_id(session: Session) -> str:
    """The random id made when this database was first used by gochat (made now if missing)."""
    _insert_if_absent(session, models.DatabaseInfo, {"name": DATABASE_ID, "value": secrets.token_hex(8)})
    return str(session.scalar(select(models.DatabaseInfo.value).where(models.DatabaseInfo.name == DATABASE_ID)))


# ---------------------------------------------------------------------------
# Revs, edits and deletions (docs/protocol.md, "Edits and deletions")


SEQUENCES = cast(Table, models.Sequence.__table__)


class ChangeRefused(Exception):
    """The message exists, but the caller may not change it."""


def take_revs(connection: Connection, count: int) -> int:
    """Take ``count`` revs from the one "rev" sequence; returns the last (they are
    ``last - count + 1`` to ``last``). The UPDATE locks the sequence's row until the transaction
    ends, so writers on every server take revs one after another and commit in rev order: a
    reader never sees a rev before one lower than it."""
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    bump = f"UPDATE {SEQUENCES.name} SET value = value + {mark} WHERE name = {mark}"
    if dialect.name == "sqlite":  # one statement instead of two
        last = connection.exec_driver_sql(bump + " RETURNING value", (count, REV_SEQUENCE)).scalar_one()
    else:
        # LAST_INSERT_ID(expr) hands the new value back in the UPDATE's own answer (its insert
        # id): one round trip, not an UPDATE and then a SELECT.
        result = connection.exec_driver_sql(
            f"UPDATE {SEQUENCES.name} SET value = LAST_INSERT_ID(value + {mark}) WHERE name = {mark}",
            (count, REV_SEQUENCE),
        )
        last = result.lastrowid
    return int(last)


def live_message(session: Session, room_id: int, message_id: int) -> MessageRecord | None:
    """Message ``message_id`` of room ``room_id``, unless it was deleted (or never stored)."""
    row = session.execute(
        _message_query().where(
            models.Message.id == message_id, models.Message.room_id == room_id, models.Message.deleted_at.is_(None)
        )
    ).first()
    return None if row is None else _message(*row)


def edit_message(
    session: Session,
    room_id: int,
    message_id: int,
    editor_id: int,
    content: str,
    mentionable: Collection[int] | None = None,
) -> tuple[MessageRecord, tuple[UserRecord, ...]] | None:
    """Replace a live message's text, by its author only (else ChangeRefused), with a new rev,
    ``edited_at`` and its mentions worked out again (among ``mentionable``: a direct room's
    members; None: anyone); the search index follows in the same transaction. Returns the message
    as edited and whom it mentioned before; None: no such live message."""
    found = live_message(session, room_id, message_id)
    if found is None:
        return None
    if found.author.id != editor_id:
        raise ChangeRefused(message_id)
    [mentioned] = resolve_mentions(session, [(content, mentionable)])
    now = models.utcnow()
    rev = take_revs(session.connection(), 1)  # last: the sequence's row stays locked until commit
    changed = session.execute(
        update(models.Message)
        .where(models.Message.id == message_id, models.Message.deleted_at.is_(None))
        .values(content=content, mentions=stored_mentions(mentioned), edited_at=now, updated_at=now, rev=rev)
    )
    if not cast(Any, changed).rowcount:
        return None  # deleted meanwhile
    search_index.reindex_message(session, message_id, room_id, content)
    edited = dataclasses.replace(found, content=content, mentions=mentioned, edited_at=now, rev=rev)
    return edited, found.mentions


def delete_message(session: Session, room_id: int, message_id: int, deleter_id: int, any_author: bool) -> int | None:
    """Make a live message a tombstone: its text and mentions gone from the row, ``deleted_at``
    set, a new rev; the search index forgets it in the same transaction. Its author may, and with
    ``any_author`` (the room's creator, a server admin) anyone; else ChangeRefused. Returns the
    deletion's rev; None: no such live message."""
    found = live_message(session, room_id, message_id)
    if found is None:
        return None
    if found.author.id != deleter_id and not any_author:
        raise ChangeRefused(message_id)
    now = models.utcnow()
    rev = take_revs(session.connection(), 1)
    changed = session.execute(
        update(models.Message)
        .where(models.Message.id == message_id, models.Message.deleted_at.is_(None))
        .values(content="", mentions=None, deleted_at=now, updated_at=now, rev=rev, deleted_by=deleter_id)
    )
    if not cast(Any, changed).rowcount:
        return None
    search_index.unindex_message(session, message_id)
    return rev


def catch_up(
    session: Session, room_id: int, after_id: int, after_rev: int, limit: int
) -> tuple[HistoryPage, HistoryPage]:
    """What a client that saw the room up to message ``after_id`` and rev ``after_rev`` missed:
    the first ``limit`` messages after ``after_id`` (oldest first; ``more``: newer ones exist) and
    the messages up to ``after_id`` changed since ``after_rev`` as they are now (lowest rev first,
    ``limit`` at most; ``more``: more changes remain).

    One statement, so both come from one snapshot: a rev the reply reports as seen must not
    leave a change of a lower rev unseen (reads outside a transaction would be two snapshots)."""
    message = models.Message
    newer = (
        select(message.id, literal(0).label("part"))
        .where(message.room_id == room_id, message.id > after_id)
        .order_by(message.id)
        .limit(limit + 1)
        .subquery("newer")
    )
    # idx_messages_room_id_rev: "room = ? and rev > ?" in rev order.
    changed = (
        select(message.id, literal(1).label("part"))
        .where(message.room_id == room_id, message.rev > after_rev, message.id <= after_id)
        .order_by(message.rev)
        .limit(limit + 1)
        .subquery("changed")
    )
    wanted = union_all(select(newer.c.id, newer.c.part), select(changed.c.id, changed.c.part)).subquery("wanted")
    author = aliased(models.User)
    rows = session.execute(
        select(message, author, wanted.c.part)
        .join(wanted, wanted.c.id == message.id)
        .join(author, author.id == message.user_id)
    ).all()
    messages = sorted((_message(row, by) for row, by, part in rows if part == 0), key=lambda m: m.id)
    changes = sorted((_message(row, by) for row, by, part in rows if part == 1), key=lambda m: m.rev)
    return (
        HistoryPage(messages[:limit], len(messages) > limit),
        HistoryPage(changes[:limit], len(changes) > limit),
    )


# People and direct rooms


def find_user(session: Session, username: str) -> UserRecord | None:
    """The user whose name is ``username`` ignoring case, if there is one."""
    row = session.scalar(
        select(models.User).where(models.User.username_key == username_key(username), models.User.deleted_at.is_(None))
    )
    return None if row is None else _user(row)


def search_users(session: Session, query: str, limit: int) -> list[UserRecord]:
    """Users whose case-folded name contains ``query`` case-folded (LIKE's wildcards in it are
    plain characters): the exact name first, then by name. A scan of the users table: names are
    short and people few beside messages."""
    key = username_key(query)
    users = models.User
    rows = session.scalars(
        select(users)
        .where(users.deleted_at.is_(None), users.username_key.contains(key, autoescape=True))
        .order_by((users.username_key == key).desc(), users.username_key, users.id)
        .limit(limit)
    )
    return [_user(row) for row in rows]


class DirectRoomTaken(Exception):
    """Someone else made the same two users' direct room at the same moment: read theirs."""


def direct_room_key(low_id: int, high_id: int) -> str:
    """A direct room's ``room_name_key``: unique per pair, and never a public room's key (those
    are validated names, which cannot hold a control character such as NUL)."""
    return f"\x00direct:{low_id}:{high_id}"


def find_direct_room(session: Session, user_id: int, other_id: int) -> RoomRecord | None:
    low, high = sorted((user_id, other_id))
    direct = models.DirectRoom
    row = session.execute(_room_query().where(direct.user_low_id == low, direct.user_high_id == high)).first()
    return None if row is None else _room(*row)


def open_direct_room(session: Session, asker: UserRecord, other: UserRecord) -> tuple[RoomRecord, bool]:
    """The two users' direct room, made now (``asker`` its creator) if they have none; and
    whether it was made now. Raises DirectRoomTaken when a concurrent request made it first
    (the unique pair, and the room's unique key, caught it): read it again in a new transaction."""
    found = find_direct_room(session, asker.id, other.id)
    if found is not None:
        return found, False
    low, high = sorted((asker, other), key=lambda user: user.id)
    room = models.Room(
        room_name="", room_name_key=direct_room_key(low.id, high.id), user_id=asker.id, kind=RoomKind.DIRECT.value
    )
    session.add(room)
    try:
        session.flush()
        session.add(models.DirectRoom(room_id=room.id, user_low_id=low.id, user_high_id=high.id))
        session.flush()
    except IntegrityError:
        raise DirectRoomTaken() from None
    record = RoomRecord(
        id=room.id, name="", creator=asker, created_at=room.created_at, kind=RoomKind.DIRECT, members=(low, high)
    )
    return record, True


def _present_state(message: models.Message, author: models.User) -> MessageRecord:
    """A message as it is now: a deleted one as its tombstone (no text, no mentions)."""
    record = _message(message, author)
    if record.deleted:
        return dataclasses.replace(record, content="", mentions=())
    return record


def direct_conversations(
    session: Session, user_id: int, limit: int
) -> list[tuple[RoomRecord, MessageRecord | None, Reading]]:
    """The user's direct rooms, the most recent activity first (when the newest message was
    stored, or the room made for a room without one; ties by the newest id), at most ``limit``,
    each with its newest message in its present state and the user's reading."""
    direct = models.DirectRoom
    # Either column: MariaDB merges the two indexes (uq_direct_rooms_users, idx_direct_rooms_user_high_id).
    mine = select(direct.room_id).where(or_(direct.user_low_id == user_id, direct.user_high_id == user_id))
    mine_ids = mine.subquery("mine")
    newest = (
        select(models.Message.room_id, func.max(models.Message.id).label("newest"))
        .where(models.Message.room_id.in_(mine))
        .group_by(models.Message.room_id)
        .subquery("newest")
    )
    last = aliased(models.Message)
    order = session.execute(
        select(models.Room.id, newest.c.newest)
        .join(mine_ids, mine_ids.c.room_id == models.Room.id)
        .outerjoin(newest, newest.c.room_id == models.Room.id)
        .outerjoin(last, last.id == newest.c.newest)
        .where(models.Room.deleted_at.is_(None))
        .order_by(
            func.coalesce(last.created_at, models.Room.created_at).desc(),
            func.coalesce(newest.c.newest, 0).desc(),
            models.Room.id.desc(),
        )
        .limit(limit)
    ).all()
    room_ids = [room_id for room_id, _ in order]
    rooms = {row[0].id: _room(*row) for row in session.execute(_room_query().where(models.Room.id.in_(room_ids)))}
    author = aliased(models.User)
    message_ids = [message_id for _, message_id in order if message_id is not None]
    messages = {
        message.room_id: _present_state(message, by)
        for message, by in session.execute(
            select(models.Message, author)
            .join(author, author.id == models.Message.user_id)
            .where(models.Message.id.in_(message_ids))
        )
    }
    found = readings(session, user_id, room_ids)
    return [
        (rooms[room_id], messages.get(room_id), Reading(*found.get(room_id, (None, 0))))
        for room_id, _ in order
        if room_id in rooms
    ]


def first_message_reading(session: Session, room_id: int, message_id: int, reader_id: int) -> Reading | None:
    """When ``message_id`` is the room's first message ever (deleted or not): ``reader_id``'s
    reading of the room. None when the room had a message before it."""
    first = session.scalar(select(func.min(models.Message.id)).where(models.Message.room_id == room_id))
    if first != message_id:
        return None
    marker, unread, _newest = room_reading(session, reader_id, room_id)
    return Reading(marker, unread)


# Message search (the index: store/search_index.py)


def direct_room_ids(session: Session, user_id: int) -> list[int]:
    """The direct rooms ``user_id`` is one of the two members of."""
    direct = models.DirectRoom
    return list(
        session.scalars(
            select(direct.room_id).where(or_(direct.user_low_id == user_id, direct.user_high_id == user_id))
        )
    )


def _checked_matches(
    session: Session, statement: Any, parameters: dict[str, Any], contains: Callable[[str], bool], limit: int
) -> list[int]:
    """The first ``limit`` candidates (newest first) whose text ``contains`` the query: read only as
    far as the page needs, the statement reset as soon as it is full."""
    ids: list[int] = []
    result = session.execute(statement, parameters)
    try:
        for partition in result.partitions(limit):
            ids.extend(int(row[0]) for row in partition if contains(row[1]))
            if len(ids) >= limit:
                return ids[:limit]
    finally:
        result.close()
    return ids


def search_messages(
    session: Session, user_id: int, query: str, *, room_id: int | None, before: int | None, limit: int
) -> list[MessageRecord]:
    """Messages containing ``query`` (2+ characters, ignoring case), newest first, older than
    ``before``: in ``room_id`` (the caller checked it may be read), or else in every public room
    and the user's own direct rooms. Deleted messages are never in the index."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    visible = _visible_condition(session, user_id) if room_id is None else None
    if not sqlite:
        recent, floor = _recent_matches(session, query, room_id=room_id, visible=visible, before=before, limit=limit)
        if len(recent) >= limit or floor is None:
            return _messages_by_id(session, recent[:limit])
        # Fewer than a page among the newest: the term is rare enough for the index, below them —
        # unless it is a rare phrase of common words, whose bigrams InnoDB cannot intersect in
        # time: then the texts below are read newest first until the page is full.
        wanted = limit - len(recent)
        try:
            with session.begin_nested():
                older = _indexed_matches(
                    session, query, room_id=room_id, visible=visible, before=floor, limit=wanted, budget=INDEX_BUDGET
                )
        except DBAPIError as exc:
            if not _interrupted(exc):
                raise
            older = _scanned_matches(session, query, room_id=room_id, visible=visible, before=floor, limit=wanted)
        return _messages_by_id(session, recent + older)
    return _messages_by_id(
        session, _indexed_matches(session, query, room_id=room_id, visible=visible, before=before, limit=limit)
    )


# MariaDB: the newest messages checked by their text before the full-text index is asked. InnoDB's
# FULLTEXT builds the whole set of documents holding a word before it can sort them: seconds for
# a bigram in a third of a million messages, while the newest few thousand hold a page of them.
# A term rare enough to need more than this many is one whose document set is small.
RECENT_CHECKED = 20_000
# In one room the newest are spread over the table (a page read each), not in a row: fewer.
RECENT_CHECKED_IN_ROOM = 2_000
# Seconds InnoDB's full-text search may take before the texts are read instead (MariaDB's
# max_statement_time for that one statement).
INDEX_BUDGET = 0.5
# Bigram words asked of InnoDB at most for a longer query: each is a document list to intersect
# (a phrase of common words has a dozen, each in a third of all messages); LOCATE and the fold
# check the candidates anyway.
INDEX_WORDS_MAX = 4


# An SQL condition on rooms "r" (public, or one of the user's direct rooms), its parameters, and
# which of them are lists.
Visible = tuple[str, dict[str, Any], list[str]]


def _visible_condition(session: Session, user_id: int) -> Visible:
    """Looked up once per search, whichever paths the search then takes."""
    mine = direct_room_ids(session, user_id)
    parameters: dict[str, Any] = {"public": RoomKind.PUBLIC.value}
    if mine:
        parameters["mine"] = mine
        return "(r.kind = :public OR r.id IN :mine)", parameters, ["mine"]
    return "r.kind = :public", parameters, []


def _recent_matches(
    session: Session, query: str, *, room_id: int | None, visible: Visible | None, before: int | None, limit: int
) -> tuple[list[int], int | None]:
    """Ids (newest first, at most ``limit``) among the newest RECENT_CHECKED live messages below
    ``before`` (in the room, or in every room) whose text holds ``query`` as the index folds it;
    and the lowest id checked, None when every message was. LOCATE (its collation ignores case,
    accents and ß/ss alike: more than the index) picks the candidates; Python's check decides."""
    where = ["m.deleted_at IS NULL"]
    checked = RECENT_CHECKED if room_id is None else RECENT_CHECKED_IN_ROOM
    parameters: dict[str, Any] = {"checked": checked, "query": query}
    if before is not None:
        where.append("m.id < :before")
        parameters["before"] = before
    if room_id is not None:
        where.append("m.room_id = :room_id")
        parameters["room_id"] = room_id
    # In one room, its (room_id, id) index in id order: MariaDB would otherwise intersect it with
    # deleted_at's and sort.
    hint = "" if room_id is None else " FORCE INDEX (idx_messages_room_id_id)"
    newest = (
        f"SELECT m.id, m.room_id, m.content FROM {MESSAGES.name} m{hint} WHERE {' AND '.join(where)} "
        "ORDER BY m.id DESC LIMIT :checked"
    )
    expanding: list[str] = []
    outer = ["LOCATE(:query, t.content) > 0"]
    joins = ""
    if room_id is None:
        assert visible is not None
        condition, visible_parameters, expanding = visible
        joins = f" JOIN {models.Room.__tablename__} r ON r.id = t.room_id"
        outer.append(condition)
        parameters.update(visible_parameters)
    statement = text(
        f"SELECT t.id, t.content FROM ({newest}) t{joins} WHERE {' AND '.join(outer)} ORDER BY t.id DESC"
    ).bindparams(*(bindparam(name, expanding=True) for name in expanding))
    ids = _checked_matches(session, statement, parameters, _contains(query, sqlite=False), limit)
    if len(ids) == limit:
        return ids, None  # a full page: nothing below is asked for
    lowest = session.execute(
        text(
            f"SELECT MIN(t.id), COUNT(*) FROM (SELECT m.id FROM {MESSAGES.name} m{hint} "
            f"WHERE {' AND '.join(where)} ORDER BY m.id DESC LIMIT :checked) t"
        ),
        {k: v for k, v in parameters.items() if k in ("checked", "before", "room_id")},
    ).one()
    floor = None if lowest[1] < checked else int(lowest[0])
    return ids, floor


# MariaDB's "max_statement_time exceeded" (ER_STATEMENT_TIMEOUT), and InnoDB's own code for a
# full-text search it stopped midway for it (HA_ERR_ABORTED_BY_USER, reported as "error 188").
_INTERRUPTED = frozenset({1969, 188})


def _interrupted(exc: DBAPIError) -> bool:
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _INTERRUPTED


def _scanned_matches(
    session: Session, query: str, *, room_id: int | None, visible: Visible | None, before: int, limit: int
) -> list[int]:
    """Ids (newest first) of live messages below ``before`` whose text holds ``query``, reading
    the texts newest first: LOCATE in the database, then the fold here (LOCATE's collation also
    equates accents and ß/ss; a candidate it lets through that the fold refuses costs one more
    round below it)."""
    where = ["m.id < :before", "m.deleted_at IS NULL", "LOCATE(:query, m.content) > 0"]
    parameters: dict[str, Any] = {"query": query}
    hint, joins = "", ""
    expanding: list[str] = []
    if room_id is not None:
        where.append("m.room_id = :room_id")
        parameters["room_id"] = room_id
        hint = " FORCE INDEX (idx_messages_room_id_id)"
    else:
        joins = f" JOIN {models.Room.__tablename__} r ON r.id = m.room_id"
        assert visible is not None
        condition, visible_parameters, expanding = visible
        where.append(condition)
        parameters.update(visible_parameters)
    statement = text(
        f"SELECT m.id, m.content FROM {MESSAGES.name} m{hint}{joins} WHERE {' AND '.join(where)} "
        "ORDER BY m.id DESC LIMIT :rows"
    ).bindparams(*(bindparam(name, expanding=True) for name in expanding))
    contains = _contains(query, sqlite=False)
    ids: list[int] = []
    while len(ids) < limit:
        wanted = limit - len(ids)
        rows = session.execute(statement, {**parameters, "before": before, "rows": wanted}).all()
        ids += [int(row[0]) for row in rows if contains(row[1])]
        if len(rows) < wanted:
            break
        before = int(rows[-1][0])
    return ids


def _messages_by_id(session: Session, ids: list[int]) -> list[MessageRecord]:
    if not ids:
        return []
    rows = session.execute(_message_query().where(models.Message.id.in_(ids))).all()
    found = {message.id: _message(message, author) for message, author in rows}
    return [found[message_id] for message_id in ids if message_id in found]


def _indexed_matches(
    session: Session,
    query: str,
    *,
    room_id: int | None,
    visible: Visible | None,
    before: int | None,
    limit: int,
    budget: float | None = None,
) -> list[int]:
    """Ids (newest first) of messages below ``before`` holding ``query``, through the full-text index."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    parameters: dict[str, Any] = {"limit": limit}
    checked = False  # whether each match's text must still be checked for the query
    text_condition = ""
    if sqlite:
        # The room is one more phrase for FTS5 to intersect (search_index.room_word).
        key = "s.rowid"
        if len(query) == 2:
            table, match = search_index.BIGRAM_TABLE, f"grams : {search_index.query_words(query)[0]}"
            room = f"room : r{room_id}"
        else:
            # The rarest trigrams, their candidates checked against the text (rare_trigrams.py).
            text_plan = rare_trigrams.plan(session.connection(), query, before)
            if text_plan is None:
                return []
            table, match, checked = search_index.TEXT_TABLE, text_plan.match, text_plan.checked
            text_condition, text_parameters = text_plan.text_condition("m.content")
            parameters.update(text_parameters)
            room = f"room : {search_index.fts5_phrase(search_index.room_word(room_id or 0, sqlite=True))}"
        parameters["match"] = match if room_id is None else f"{match} AND {room}"
        where = [f"{table} MATCH :match"]
        if text_condition:
            where.append(text_condition)
    else:
        key, table = "s.message_id", search_index.TEXT_TABLE
        words = search_index.query_words(query, trigrams=False)
        if len(words) > INDEX_WORDS_MAX:
            # Spread over the query (its ends and between), the rest left to LOCATE.
            step = (len(words) - 1) / (INDEX_WORDS_MAX - 1)
            words = [words[round(i * step)] for i in range(INDEX_WORDS_MAX)]
        if room_id is not None:
            words.append(search_index.room_word(room_id, sqlite=False))
        parameters["match"] = search_index.boolean_words(words)
        where = ["MATCH(s.grams) AGAINST (:match IN BOOLEAN MODE)"]
        if len(query) > 2:
            # Every bigram is there, but maybe not in a row: the text itself says. LOCATE (its
            # collation ignores case, accents, ß/ss) narrows in the database; the fold decides.
            where.append("LOCATE(:query, m.content) > 0")
            parameters["query"] = query
            checked = True
    where.append("m.deleted_at IS NULL")
    if before is not None:
        where.append(f"{key} < :before")
        parameters["before"] = before
    joins = f"JOIN {MESSAGES.name} m ON m.id = {key}"
    expanding: list[str] = []
    if room_id is not None:
        where.append("m.room_id = :room_id")
        parameters["room_id"] = room_id
    else:
        joins += f" JOIN {models.Room.__tablename__} r ON r.id = m.room_id"
        assert visible is not None
        condition, visible_parameters, expanding = visible
        where.append(condition)
        parameters.update(visible_parameters)
    columns, paging = (f"{key}, m.content", "") if checked else (key, " LIMIT :limit")
    # MariaDB only: the statement stops at the budget (error 1969), and the caller reads texts.
    within = "" if budget is None else f"SET STATEMENT max_statement_time={budget:g} FOR "
    statement = text(
        f"{within}SELECT {columns} FROM {table} s {joins} WHERE {' AND '.join(where)} ORDER BY {key} DESC{paging}"
    ).bindparams(*(bindparam(name, expanding=True) for name in expanding))
    if checked:
        return _checked_matches(session, statement, parameters, _contains(query, sqlite=sqlite), limit)
    return [int(row[0]) for row in session.execute(statement, parameters)]


def _contains(query: str, *, sqlite: bool) -> Callable[[str], bool]:
    """Whether a text holds ``query`` as the backend's index folds it."""
    if sqlite:
        return rare_trigrams.matcher(query)
    folded = search_index.fold_text(query)
    return lambda content: folded in search_index.fold_text(content)
