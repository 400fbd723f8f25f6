"""Bringing a database made by an older gochat up to date, at start-up, safely.

gochat has no migration framework: ``create_all`` makes missing tables but never changes an
existing one. What a newer version adds to an existing table is added here, idempotently, so
several servers starting at once on one MariaDB (or a server restarted mid-upgrade) agree:

- sessions.last_used_at (tokens expire, ``--token-ttl``): a session from before counts as used
  when it was created, so a token idle longer than the lifetime ends at once.
- indexes added to tables an older gochat made (``create_all`` indexes only the tables it
  creates), e.g. rooms (deleted_at, room_name_key) for the room list's pages.
- rooms.kind, messages.rev, messages.edited_at, messages.mentions (direct rooms, edits and
  deletions, mentions): added with the value an older row means (public, rev 0, never edited,
  no mentions; deleted_by: who deleted a tombstone, NULL for those deleted before it was kept);
  new tables (direct_rooms, sequences) come from ``create_all``.
- users.username_skeleton (look-alike names, docs/security.md): the column and its unique
  index are added when missing, then every account's skeleton is (re)computed whenever the
  skeleton's definition changed (a new ICU brings a new confusables.txt) — the version is kept in
  database_info. When two existing accounts look alike, the older keeps the skeleton and the
  newer gets NULL: both keep working, and no new look-alike of either can register.
"""

from __future__ import annotations

import logging
from typing import cast

import icu
from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from gochat.protocol import username_skeleton
from gochat.server.store import models

log = logging.getLogger(__name__)

# Changes whenever username_skeleton may give another answer for a stored name: ICU's data, or
# our rule around it (bump the suffix).
SKELETON_VERSION = f"uts39 icu-{icu.ICU_VERSION} marks-1"
SKELETON_VERSION_KEY = "username_skeleton_version"
_ATTEMPTS = 3  # a registration landing mid-recompute can take a skeleton first: recompute again


# Columns a newer gochat added to an existing table, each with the value old rows get.
_ADDED_COLUMNS: tuple[tuple[type[models.Base], str, str], ...] = (
    (models.Room, "kind", "'public'"),
    (models.Message, "rev", "0"),
    (models.Message, "edited_at", "NULL"),
    (models.Message, "mentions", "NULL"),
    (models.Message, "deleted_by", "NULL"),
)


def upgrade(engine: Engine) -> None:
    """Everything a database made by an older gochat lacks; a no-op on an up-to-date one."""
    _add_session_last_used_at(engine)
    _add_username_skeleton_column(engine)
    for model, column, default in _ADDED_COLUMNS:
        _add_column(engine, cast(Table, model.__table__), column, default)
    _add_rev_sequence(engine)
    _add_missing_indexes(engine)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _recompute_skeletons(engine)
            return
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise


def _add_session_last_used_at(engine: Engine) -> None:
    table = cast(Table, models.Session.__table__)
    if "last_used_at" in {column["name"] for column in inspect(engine).get_columns(table.name)}:
        return
    column_type = table.c.last_used_at.type.compile(dialect=engine.dialect)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN last_used_at {column_type} NULL"))
            connection.execute(text(f"UPDATE {table.name} SET last_used_at = created_at"))
            if connection.dialect.name in ("mysql", "mariadb"):
                # SQLite cannot change a column's nullability; gochat always writes the column anyway.
                connection.execute(text(f"ALTER TABLE {table.name} MODIFY last_used_at {column_type} NOT NULL"))
            for index in table.indexes:
                if index.name == "idx_sessions_last_used_at":
                    index.create(connection)
    except DBAPIError:
        # Another server starting at once upgraded it first; anything else shows up on the next look.
        if "last_used_at" not in {column["name"] for column in inspect(engine).get_columns(table.name)}:
            raise


def _add_column(engine: Engine, table: Table, name: str, default: str) -> None:
    """Add ``table.name`` when missing, old rows taking ``default`` (NOT NULL when not "NULL")."""
    if name in {column["name"] for column in inspect(engine).get_columns(table.name)}:
        return
    kind = table.c[name].type.compile(dialect=engine.dialect)
    nullability = "NULL" if default == "NULL" else f"NOT NULL DEFAULT {default}"
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind} {nullability}")
    except DBAPIError:
        # Another server starting at once added it first; anything else shows up on the next look.
        if name not in {column["name"] for column in inspect(engine).get_columns(table.name)}:
            raise


REV_SEQUENCE = "rev"


def _add_rev_sequence(engine: Engine) -> None:
    """The "rev" counter's row, starting after every rev already stored."""
    sequences = models.Sequence
    with engine.connect() as connection:
        if connection.scalar(select(sequences.value).where(sequences.name == REV_SEQUENCE)) is not None:
            return
    try:
        with engine.begin() as connection:
            highest = connection.scalar(select(func.coalesce(func.max(models.Message.rev), 0)))
            connection.execute(insert(sequences).values(name=REV_SEQUENCE, value=int(highest or 0)))
    except IntegrityError:
        pass  # another server starting at once inserted it first


def _add_missing_indexes(engine: Engine) -> None:
    for table in models.Base.metadata.sorted_tables:
        for index in table.indexes:
            try:
                with engine.begin() as connection:
                    index.create(connection, checkfirst=True)
            except DBAPIError:
                # Another server starting at once made it first; anything else shows up on the next look.
                if index.name not in {ix["name"] for ix in inspect(engine).get_indexes(table.name)}:
                    raise


def _add_username_skeleton_column(engine: Engine) -> None:
    users = cast(Table, models.User.__table__)
    column = users.c.username_skeleton
    inspector = inspect(engine)
    if column.name not in {c["name"] for c in inspector.get_columns(users.name)}:
        kind = column.type.compile(engine.dialect)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {users.name} ADD COLUMN {column.name} {kind} NULL")
        except DBAPIError:
            # Another server added it first; anything else shows up on the next look.
            if column.name not in {c["name"] for c in inspect(engine).get_columns(users.name)}:
                raise
    index = "uq_users_username_skeleton"
    indexes = {ix["name"] for ix in inspect(engine).get_indexes(users.name)}
    constraints = {uc["name"] for uc in inspect(engine).get_unique_constraints(users.name)}
    if index not in indexes | constraints:
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"CREATE UNIQUE INDEX {index} ON {users.name} ({column.name})")
        except DBAPIError:
            if index not in {ix["name"] for ix in inspect(engine).get_indexes(users.name)}:
                raise


def _recompute_skeletons(engine: Engine) -> None:
    info = models.DatabaseInfo
    users = models.User
    with engine.begin() as connection:
        stored = connection.scalar(select(info.value).where(info.name == SKELETON_VERSION_KEY))
        if stored == SKELETON_VERSION:
            return
        rows = connection.execute(select(users.id, users.username, users.username_skeleton).order_by(users.id)).all()
        wanted: dict[int, str | None] = {}
        holders: dict[str, int] = {}
        for user_id, name, _ in rows:
            skeleton = username_skeleton(name)
            if skeleton in holders:
                log.info(
                    "Account %d looks like account %d: both kept, neither name can be copied",
                    user_id,
                    holders[skeleton],
                )
                wanted[user_id] = None
            else:
                holders[skeleton] = user_id
                wanted[user_id] = skeleton
        changed = [user_id for user_id, _, current in rows if current != wanted[user_id]]
        # Clear first: a skeleton may move from one account to another within this transaction.
        _set_skeletons(connection, {user_id: None for user_id in changed})
        _set_skeletons(connection, {user_id: wanted[user_id] for user_id in changed if wanted[user_id] is not None})
        if stored is None:
            connection.execute(insert(info).values(name=SKELETON_VERSION_KEY, value=SKELETON_VERSION))
        else:
            connection.execute(update(info).where(info.name == SKELETON_VERSION_KEY).values(value=SKELETON_VERSION))
    if changed:
        log.info("Computed the look-alike skeletons of %d accounts (%s)", len(changed), SKELETON_VERSION)


def _set_skeletons(connection: Connection, skeletons: dict[int, str | None]) -> None:
    if not skeletons:
        return
    table = cast(Table, models.User.__table__)
    statement = update(table).where(table.c.id == bindparam("user_id")).values(username_skeleton=bindparam("skeleton"))
    connection.execute(statement, [{"user_id": key, "skeleton": value} for key, value in skeletons.items()])
