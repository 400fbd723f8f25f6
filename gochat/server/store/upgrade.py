"""Bringing a database an older gochat made up to today's schema, in place, at start-up.

``create_all`` makes the tables that are missing but never changes one that exists, so a column
added later is added here, filled for the rows already there. Each step checks first, so running
it on an up-to-date database (every start) only reads the table's columns.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, inspect, text

from gochat.server.store import models


def upgrade(connection: Connection) -> None:
    _add_session_last_used_at(connection)


def _add_session_last_used_at(connection: Connection) -> None:
    """Sessions expire since gochat 12 (``--token-ttl``): a session from before counts as used
    when it was created, so a token idle longer than the lifetime ends at once."""
    if "last_used_at" in {column["name"] for column in inspect(connection).get_columns("sessions")}:
        return
    table = models.Session.__table__
    assert isinstance(table, Table)
    column_type = table.c.last_used_at.type.compile(dialect=connection.dialect)
    connection.execute(text(f"ALTER TABLE sessions ADD COLUMN last_used_at {column_type} NULL"))
    connection.execute(text("UPDATE sessions SET last_used_at = created_at"))
    if connection.dialect.name in ("mysql", "mariadb"):
        # SQLite cannot change a column's nullability; gochat always writes the column anyway.
        connection.execute(text(f"ALTER TABLE sessions MODIFY last_used_at {column_type} NOT NULL"))
    for index in table.indexes:
        if index.name == "idx_sessions_last_used_at":
            index.create(connection)
