"""Message search latency (issue 13): GET /api/search's query over N stored messages, per backend.

The messages are chat-like text (bench/chatter.py) with rare words mixed in, spread over 100
public rooms and a few direct rooms, written by bulk INSERT and indexed by bulk (the start-up
backfill, in big batches: the same code that indexes an older database). Each query is timed
through the search's own query (store/queries.search_messages, a transaction per query, as the
endpoint runs it), not over HTTP: the figure is the index's. Queries: 2 characters and 3 or more,
common and rare, English and Chinese, in every room the user may read and in one room.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, func, insert, inspect, select

from bench.chatter import chat_text
from gochat.protocol import SEARCH_PAGE, username_key, username_skeleton
from gochat.server.store import models, queries, search_index
from gochat.server.store.database import Database

ROOMS = 100
DIRECT_ROOMS = 10
USERS = 20
# One message in RARE_EVERY carries one of the rare words.
RARE_EVERY = 1000
RARE_WORDS = ("zebra", "熊猫")
QUERIES: dict[str, tuple[str, ...]] = {
    "2 chars, common": ("你好", "th", "er", "谢谢", "de"),
    "2 chars, rare": ("熊猫", "ze", "zq"),  # "zq": in no message at all
    "3+ chars, common": ("deploy", "the", "database", "没问题", "review the"),
    "3+ chars, rare": ("zebra", "熊猫 z", "release notes tonight"),
}
FULLTEXT_KEY = f"ft_{search_index.TEXT_TABLE}_grams"
# Targets on SQLite (issue 13): p99 in milliseconds.
TARGET_P99_MS = {"2 chars": 200.0, "3+ chars": 50.0}


def message_text(n: int) -> str:
    text = chat_text(n)
    if n % RARE_EVERY == RARE_EVERY // 2:
        text = f"{text} {RARE_WORDS[(n // RARE_EVERY) % len(RARE_WORDS)]} {RARE_WORDS[0]}"
    return text


def seed(database: Database, count: int, chunk: int = 20_000) -> tuple[int, list[int], list[int]]:
    """Users, rooms (public and direct) and ``count`` messages; returns (a user who is a member of
    the first direct room, the public room ids, that user's direct room ids)."""
    now = models.utcnow()
    with database.sessions.begin() as session:
        session.execute(
            insert(models.User),
            [
                {
                    "username": f"searcher{i}",
                    "password": "not-a-login",
                    "username_key": username_key(f"searcher{i}"),
                    "username_skeleton": username_skeleton(f"searcher{i}"),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(USERS)
            ],
        )
        user_ids = [user.id for user in session.query(models.User).order_by(models.User.id)]
        public = [
            models.Room(room_name=f"search {n}", room_name_key=f"search {n}", user_id=user_ids[0]) for n in range(ROOMS)
        ]
        direct = [
            models.Room(room_name=f"dm {n}", room_name_key=f"dm {n}", user_id=user_ids[n], kind="direct")
            for n in range(DIRECT_ROOMS)
        ]
        session.add_all(public + direct)
        session.flush()
        for n, room in enumerate(direct):
            # Pairs (0, 1), (1, 2), ...: user 1 is in the first two, the searcher (user 0) in one.
            session.add(models.DirectRoom(room_id=room.id, user_low_id=user_ids[n], user_high_id=user_ids[n + 1]))
        room_ids = [room.id for room in public + direct]
        public_ids = [room.id for room in public]
        mine = [direct[0].id]
    table = cast(Table, models.Message.__table__)
    for first in range(0, count, chunk):
        rows = [
            {
                "user_id": user_ids[n % USERS],
                "room_id": room_ids[n % len(room_ids)],
                "content": message_text(n),
                "created_at": now,
                "updated_at": now,
            }
            for n in range(first, min(first + chunk, count))
        ]
        with database.engine.begin() as connection:
            connection.execute(insert(table), rows)
    return user_ids[0], public_ids, mine


def bench_search_seeded(url: str) -> bool:
    """Whether the database at ``url`` is one an earlier run seeded (kept with ``--search-sqlite`` or
    ``--search-mariadb``): it has the searcher and messages. A missing or empty one is seeded."""
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        return False
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            if not inspect(connection).has_table(models.Message.__tablename__):
                return False
            return connection.scalar(select(models.Message.id).limit(1)) is not None
    finally:
        database.close()


def seeded_rooms(database: Database) -> tuple[int, list[int], list[int]]:
    """``seed``'s answer for a database it seeded before (kept with ``--search-sqlite``)."""
    with database.sessions.begin() as session:
        user_id = session.execute(select(models.User.id).where(models.User.username == "searcher0")).scalar_one()
        public = session.scalars(
            select(models.Room.id).where(models.Room.kind == "public").order_by(models.Room.id).limit(ROOMS)
        ).all()
        direct = models.DirectRoom
        mine = session.scalars(
            select(direct.room_id).where((direct.user_low_id == user_id) | (direct.user_high_id == user_id))
        ).all()
    return user_id, list(public), list(mine)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_queries(
    database: Database, user_id: int, rooms: list[int], per_kind: int, rng: random.Random
) -> dict[str, Any]:
    """``per_kind`` timed queries of each kind, half with a roomId; p50/p99 per kind, per length,
    and per kind with and without the roomId."""
    samples: dict[str, list[float]] = {}
    # The thread's CPU time too: on a shared machine the wall time also counts other processes.
    cpu: dict[str, list[float]] = {}
    found: dict[str, int] = {}
    for kind, words in QUERIES.items():
        for i in range(per_kind):
            query = words[i % len(words)]
            room_id = rng.choice(rooms) if i % 2 else None
            started, cpu_started = time.perf_counter(), time.thread_time()
            with database.sessions.begin() as session:
                result = queries.search_messages(
                    session, user_id, query, room_id=room_id, before=None, limit=SEARCH_PAGE
                )
            elapsed = (time.perf_counter() - started) * 1000
            cpu_elapsed = (time.thread_time() - cpu_started) * 1000
            where = "in one room" if room_id is not None else "in every room"
            for name in (kind, kind.split(",")[0], f"{kind}, {where}"):
                samples.setdefault(name, []).append(elapsed)
                cpu.setdefault(name, []).append(cpu_elapsed)
            found[kind] = found.get(kind, 0) + len(result)
    return {
        kind: {
            "queries": len(values),
            "p50_ms": percentile(values, 0.5),
            "p99_ms": percentile(values, 0.99),
            "cpu_p50_ms": percentile(cpu[kind], 0.5),
            "cpu_p99_ms": percentile(cpu[kind], 0.99),
            **({"found": found[kind]} if kind in found else {}),
        }
        for kind, values in samples.items()
    }


def bench_search_once(
    url: str, count: int, per_kind: int, *, kept: bool = False
) -> tuple[dict[str, Any], int, list[int]]:
    """Seed and index one database (unless ``kept``: seeded by an earlier run), then time the queries once; also
    returns who searched where."""
    database = Database(url)
    try:
        if kept:
            database.create_schema()  # brought up to date, as a server starting on it would
            user_id, public, mine = seeded_rooms(database)
            rooms = public[:10] + mine
            figures = time_queries(database, user_id, rooms, per_kind, random.Random(13))
            with database.sessions.begin() as session:
                count = session.execute(select(func.count()).select_from(models.Message)).scalar_one()
            return (
                {"messages": count, "indexed": 0, "seed_seconds": 0.0, "index_seconds": 0.0, "latency": figures},
                (user_id),
                rooms,
            )
        database.create_schema()
        started = time.perf_counter()
        user_id, public, mine = seed(database, count)
        seeded = time.perf_counter()
        # The start-up backfill: messages stored without the index (here, all of them).
        database.engine.dispose()
        with database.engine.begin() as connection:
            connection.execute(
                models.DatabaseInfo.__table__.delete().where(  # type: ignore[attr-defined]
                    models.DatabaseInfo.name.in_([search_index.BACKFILL_GOAL, search_index.BACKFILL_DONE])
                )
            )
        if database.backend != "sqlite":
            # InnoDB builds a FULLTEXT index over loaded rows by one sort, far faster than row by row.
            with database.engine.begin() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {search_index.TEXT_TABLE} DROP INDEX {FULLTEXT_KEY}")
        indexed = search_index.backfill(database.engine, batch=50_000)
        if database.backend != "sqlite":
            with database.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"ALTER TABLE {search_index.TEXT_TABLE} ADD FULLTEXT KEY {FULLTEXT_KEY} (grams)"
                )
        built = time.perf_counter()
        rooms = public[:10] + mine
        figures = time_queries(database, user_id, rooms, per_kind, random.Random(13))
    finally:
        database.close()
    result = {
        "messages": count,
        "indexed": indexed,
        "seed_seconds": seeded - started,
        "index_seconds": built - seeded,
        "latency": figures,
    }
    return result, user_id, rooms


def bench_search(
    backends: dict[str, Callable[[], str]], count: int, per_kind: int, runs: int, kept: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Per backend: one seeded database (seeding a million messages takes minutes; the backends in
    ``kept`` are databases an earlier run seeded, timed as they are), ``runs`` rounds of timed
    queries over it; each figure is the median of the rounds."""
    rows = []
    for backend, make_url in backends.items():
        url = make_url()
        first, user_id, rooms = bench_search_once(url, count, per_kind, kept=backend in kept)
        count = first["messages"]
        rounds = [first["latency"]]
        database = Database(url)
        try:
            for run in range(1, runs):
                rounds.append(time_queries(database, user_id, rooms, per_kind, random.Random(13 + run)))
        finally:
            database.close()
        latency = {
            kind: {
                "queries": rounds[0][kind]["queries"],
                "p50_ms": statistics.median(r[kind]["p50_ms"] for r in rounds),
                "p99_ms": statistics.median(r[kind]["p99_ms"] for r in rounds),
                "cpu_p50_ms": statistics.median(r[kind]["cpu_p50_ms"] for r in rounds),
                "cpu_p99_ms": statistics.median(r[kind]["cpu_p99_ms"] for r in rounds),
            }
            for kind in rounds[0]
        }
        row = {
            "backend": backend,
            "messages": count,
            "seed_seconds": first["seed_seconds"],
            "index_seconds": first["index_seconds"],
            "latency": latency,
            "rounds": rounds,
        }
        rows.append(row)
        for kind, figures in latency.items():
            target = TARGET_P99_MS.get(kind)
            note = f" (target on SQLite: p99 ≤ {target:g} ms)" if target is not None and backend == "sqlite" else ""
            print(
                f"search on {backend:<8} over {count:,} messages, {kind:<32}: p50 {figures['p50_ms']:7.1f} ms, "
                f"p99 {figures['p99_ms']:7.1f} ms (CPU p50 {figures['cpu_p50_ms']:5.1f}, "
                f"p99 {figures['cpu_p99_ms']:6.1f}){note}",
                flush=True,
            )
        print(
            f"search on {backend:<8}: seeded in {first['seed_seconds']:.0f} s, "
            f"indexed in {first['index_seconds']:.0f} s",
            flush=True,
        )
    return rows
