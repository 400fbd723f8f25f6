"""sql/chatdb.sql, loaded into MariaDB, is the same schema the ORM creates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from gochat.server.store.database import normalise_url
from gochat.server.store.models import Base

DDL = Path(__file__).resolve().parents[2] / "sql" / "chatdb.sql"
TABLES = {"users", "rooms", "messages", "sessions", "read_markers", "database_info", "direct_rooms", "sequences"}


@pytest.fixture
def ddl_engine(mariadb_url: str) -> Iterator[Engine]:
    engine = create_engine(normalise_url(mariadb_url))
    yield engine
    engine.dispose()


@pytest.fixture
def orm_engine(new_mariadb_database: Callable[[], str]) -> Iterator[Engine]:
    engine = create_engine(normalise_url(new_mariadb_database()))
    yield engine
    engine.dispose()


def _statements(sql: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def describe(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        with engine.connect() as connection:
            collation = connection.execute(
                text(
                    "SELECT TABLE_COLLATION FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
                ),
                {"t": table},
            ).scalar_one()
            column_collations = dict(
                connection.execute(
                    text(
                        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
                    ),
                    {"t": table},
                ).all()
            )
        schema[table] = {
            "collation": collation,
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], column_collations[c["name"]])
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def test_chatdb_sql_matches_the_orm(ddl_engine: Engine, orm_engine: Engine) -> None:
    assert ddl_engine.url.database != orm_engine.url.database
    with ddl_engine.begin() as connection:
        for statement in _statements(DDL.read_text(encoding="utf-8")):
            connection.execute(text(statement))
    Base.metadata.create_all(orm_engine)
    from_sql, from_orm = describe(ddl_engine), describe(orm_engine)
    assert set(from_sql) == TABLES
    assert from_sql == from_orm
    assert from_sql["messages"]["collation"] == "utf8mb4_unicode_ci"


def test_server_accepts_a_database_created_from_chatdb_sql(ddl_engine: Engine) -> None:
    with ddl_engine.begin() as connection:
        for statement in _statements(DDL.read_text(encoding="utf-8")):
            connection.execute(text(statement))
    Base.metadata.create_all(ddl_engine)  # the server's own start-up step: a no-op here
    assert set(inspect(ddl_engine).get_table_names()) == {
        "users",
        "rooms",
        "messages",
        "sessions",
        "read_markers",
        "database_info",
        "direct_rooms",
        "sequences",
    }
