"""ORM tables: the seed's users, rooms and messages (gorm.Model columns plus its own), and sessions.

sql/chatdb.sql is the same schema as MySQL DDL; tests/server/test_schema.py keeps them equal.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; MySQL gets the seed's BIGINT UNSIGNED ids.
Id = BigInteger().with_variant(Integer(), "sqlite").with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
Time = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _binary_key(length: int) -> String:
    # Keys are already case-folded; compare them byte for byte so MySQL's accent-insensitive
    # collations do not make "José" collide with "Jose" where SQLite would not.
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def utcnow() -> datetime:
    """Naive UTC: both backends store DATETIME without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


MYSQL_TABLE_ARGS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_unicode_ci",
}


class Base(DeclarativeBase):
    pass


class GormModel:
    """gorm.Model: id, created_at, updated_at, deleted_at (soft delete)."""

    # sort_order puts gorm's columns first, as in the seed's tables.
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True, sort_order=-4)
    created_at: Mapped[datetime] = mapped_column(Time, default=utcnow, sort_order=-3)
    updated_at: Mapped[datetime] = mapped_column(Time, default=utcnow, onupdate=utcnow, sort_order=-2)
    deleted_at: Mapped[datetime | None] = mapped_column(Time, default=None, sort_order=-1)


class User(GormModel, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username_key", name="uq_users_username_key"),
        UniqueConstraint("username_skeleton", name="uq_users_username_skeleton"),
        Index("idx_users_deleted_at", "deleted_at"),
        MYSQL_TABLE_ARGS,
    )

    username: Mapped[str] = mapped_column(String(32))
    # The seed's column name, but it only ever holds an argon2id hash.
    password: Mapped[str] = mapped_column(String(255))
    # casefold(NFC(username)): the unique identity, so "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(_binary_key(128))
    # What the name looks like (protocol.username_skeleton, UTS #39): unique, so no two accounts
    # are look-alikes, whichever server registers them. NULL only for an account older than the
    # column whose skeleton an earlier account already had (store/upgrade.py).
    username_skeleton: Mapped[str | None] = mapped_column(_binary_key(255), default=None)


class Room(GormModel, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("room_name_key", name="uq_rooms_room_name_key"),
        Index("idx_rooms_deleted_at", "deleted_at"),
        # The room list by name ("deleted_at IS NULL ORDER BY room_name_key, id LIMIT n"): read
        # in order from this index instead of sorting every room (MariaDB sorted 10,000 rooms).
        Index("idx_rooms_deleted_at_room_name_key", "deleted_at", "room_name_key"),
        MYSQL_TABLE_ARGS,
    )

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_rooms_user"))
    room_name: Mapped[str] = mapped_column(String(64))
    room_name_key: Mapped[str] = mapped_column(_binary_key(255))
    # protocol.RoomKind: "public", or "direct" (its two members in direct_rooms).
    kind: Mapped[str] = mapped_column(String(16), default="public", server_default="public")


class DirectRoom(Base):
    """The two members of a direct room, the lower user id first: the unique pair is what makes
    two users asking at the same moment (on any instance) get one room."""

    __tablename__ = "direct_rooms"
    __table_args__ = (
        UniqueConstraint("user_low_id", "user_high_id", name="uq_direct_rooms_users"),
        Index("idx_direct_rooms_user_high_id", "user_high_id"),
        MYSQL_TABLE_ARGS,
    )

    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", name="fk_direct_rooms_room"), primary_key=True)
    user_low_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_direct_rooms_user_low"))
    user_high_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_direct_rooms_user_high"))


class Message(GormModel, Base):
    __tablename__ = "messages"
    __table_args__ = (
        # History pages are "room = ? and id < ? order by id desc": this index answers them alone.
        Index("idx_messages_room_id_id", "room_id", "id"),
        # A retried clientMsgId from the same user finds the stored row instead of a duplicate.
        UniqueConstraint("user_id", "client_msg_id", name="uq_messages_user_client_msg_id"),
        Index("idx_messages_deleted_at", "deleted_at"),
        # Catching up on edits and deletions: "room = ? and rev > ?".
        Index("idx_messages_room_id_rev", "room_id", "rev"),
        # Servers sharing the database catching up on every room at once: "rev > ?" (cluster/).
        Index("idx_messages_rev", "rev"),
        MYSQL_TABLE_ARGS,
    )

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_messages_user"))
    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", name="fk_messages_room"))
    content: Mapped[str] = mapped_column(Text)
    client_msg_id: Mapped[str | None] = mapped_column(
        String(64).with_variant(mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"),
        default=None,
    )
    # From the "rev" sequence (sequences table): taken when stored, taken again at each edit or
    # deletion. A deleted message is a tombstone: deleted_at set, content "", mentions NULL.
    rev: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    edited_at: Mapped[datetime | None] = mapped_column(Time, default=None)
    # The users mentioned, as JSON [{"id": 1, "username": "bob"}] (names never change); NULL: none.
    mentions: Mapped[str | None] = mapped_column(Text, default=None)
    # Who deleted it (a tombstone's MESSAGE_DELETED names them when a server catches up from here).
    deleted_by: Mapped[int | None] = mapped_column(Id, default=None)


class Sequence(Base):
    """Counters shared by every server on the database; "rev" orders message changes."""

    __tablename__ = "sequences"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Session(Base):
    """A login. Only the SHA-256 of the bearer token is kept, so a stolen database logs no one in.
    It ends ``--token-ttl`` after ``last_used_at``, which each use moves forward (sliding)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("idx_sessions_user_id", "user_id"),
        # The sweep deletes expired sessions by it.
        Index("idx_sessions_last_used_at", "last_used_at"),
        MYSQL_TABLE_ARGS,
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_sessions_user"))
    created_at: Mapped[datetime] = mapped_column(Time, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(Time, default=utcnow)


class ReadMarker(Base):
    """How far a user has read in a room. Having one makes the room the user's: the desktop
    follows (watches) it. The marker only moves forward."""

    __tablename__ = "read_markers"
    __table_args__ = (Index("idx_read_markers_room_id", "room_id"), MYSQL_TABLE_ARGS)

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", name="fk_read_markers_user"), primary_key=True)
    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", name="fk_read_markers_room"), primary_key=True)
    # The id of the newest message read; 0 when none (an empty room entered).
    last_read_id: Mapped[int] = mapped_column(Id)
    updated_at: Mapped[datetime] = mapped_column(Time, default=utcnow, onupdate=utcnow)


class DatabaseInfo(Base):
    """Facts about the database itself. ``database_id``: a random id made when the schema is
    first created, so caches shared by several databases (one Redis) never mix them up."""

    __tablename__ = "database_info"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
