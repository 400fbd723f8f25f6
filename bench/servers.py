"""Servers under test, each in a process of its own: gochat (seeded with users and tokens, so
set-up does not spend minutes on argon2) and the raw websockets reference beside this file."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import cast

import httpx
from sqlalchemy import Table, func, insert, select

from bench.chatter import chat_text
from gochat.protocol import username_key, username_skeleton
from gochat.server import auth
from gochat.server.embedded import free_port
from gochat.server.store import models, search_index
from gochat.server.store.database import Database

# The repository's root: ``python -m bench`` runs from a checkout (the wheel ships no bench), and the
# processes the bench starts (the reference server, the app probes) find it from here.
REFERENCE_SERVER = Path(__file__).resolve().with_name("reference_server.py")
ROOT = REFERENCE_SERVER.parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    url: str
    tokens: list[str]
    room_ids: list[int]

    @property
    def room_id(self) -> int:
        return self.room_ids[0]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def seed(
    database_url: str, users: int, rooms: int = 1, *, password: str | None = None, messages: int = 0
) -> tuple[list[str], list[int]]:
    """Users with ready-made sessions, and rooms; returns the bearer tokens and the room ids.

    With ``password`` the users can also log in with it (username ``bench<n>``, numbered from
    the first user seeded into this database); ``messages`` fills the first room with history.
    """
    database = Database(database_url)
    database.create_schema()
    tokens = [f"bench-{i}-{secrets.token_hex(8)}" for i in range(users)]
    # One argon2 hash shared by every user: hashing costs tens of milliseconds each.
    password_hash = auth.hash_password(password) if password is not None else "not-a-login"
    now = models.utcnow()
    with database.sessions.begin() as session:
        start = session.query(models.User).count()
        rows = [
            {
                "username": f"bench{start + i}",
                "password": password_hash,
                "username_key": username_key(f"bench{start + i}"),
                "username_skeleton": username_skeleton(f"bench{start + i}"),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(users)
        ]
        session.execute(insert(models.User), rows)
        ids = [u.id for u in session.query(models.User).order_by(models.User.id).offset(start).limit(users)]
        session.execute(
            insert(models.Session),
            [
                {"token_hash": auth.token_hash(t), "user_id": uid, "created_at": now}
                for t, uid in zip(tokens, ids, strict=True)
            ],
        )
        made = [
            models.Room(room_name=f"bench {secrets.token_hex(4)}", room_name_key=secrets.token_hex(8), user_id=ids[0])
            for _ in range(rooms)
        ]
        session.add_all(made)
        session.flush()
        room_ids = [room.id for room in made]
    if messages:
        seed_messages(database, room_ids[0], ids, messages)
    database.close()
    return tokens, room_ids


def seed_messages(database: Database, room_id: int, user_ids: list[int], count: int, chunk: int = 10_000) -> None:
    """``count`` messages of chat-like text in one room, written by the users in turn, half a
    minute apart and ending now: one Core INSERT per chunk, so 100,000 take seconds, not minutes."""
    table = cast(Table, models.Message.__table__)
    end = models.utcnow()
    for first in range(0, count, chunk):
        rows = [
            {
                "user_id": user_ids[(n // 3) % len(user_ids)],  # runs of three from each author
                "room_id": room_id,
                "content": chat_text(n),
                "created_at": end - timedelta(seconds=30 * (count - n)),
                "updated_at": end,
            }
            for n in range(first, min(first + chunk, count))
        ]
        with database.engine.begin() as connection:
            # Indexed for search, as the server's writer indexes what it stores.
            newest = connection.scalar(select(func.coalesce(func.max(table.c.id), 0)))
            connection.execute(insert(table), rows)
            stored = connection.execute(
                select(table.c.id, table.c.room_id, table.c.content).where(table.c.id > newest).order_by(table.c.id)
            )
            search_index.index_messages(connection, [(row.id, row.room_id, row.content) for row in stored])


def start_gochat(
    database_url: str,
    users: int,
    rooms: int = 1,
    *,
    password: str | None = None,
    messages: int = 0,
    message_limit: bool = False,
) -> Running:
    """gochat in a process of its own. The benchmarks measure throughput, far beyond what people
    type, so the message limit is off (--message-rate 0) unless ``message_limit``: the flood row
    runs with the server's defaults, as an operator would."""
    tokens, room_ids = seed(database_url, users, rooms, password=password, messages=messages)
    return launch_gochat(database_url, tokens, room_ids, message_limit=message_limit)


def launch_gochat(
    database_url: str,
    tokens: list[str],
    room_ids: list[int],
    *extra: str,
    message_limit: bool = False,
) -> Running:
    """A gochat process on a database already seeded (``seed``); ``extra`` arguments are passed
    on (``--redis-url`` ...). Returns once its health says it serves."""
    port = free_port()
    limit = [] if message_limit else ["--message-rate", "0"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gochat.server",
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--log-level",
            "warning",
            "--max-client-backlog",
            "100000",
            # Every bench client connects from 127.0.0.1: up to 10,000 of them, far over the
            # share one address may hold by default (docs/security.md).
            "--max-connections-per-address",
            "0",
            *limit,
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    running = Running(process, f"http://127.0.0.1:{port}", tokens, room_ids)
    try:
        wait_until_serving(running)
    except BaseException:
        running.stop()
        raise
    return running


def wait_until_serving(server: Running, instances: int = 1, timeout: float = 60) -> None:
    """Until the server's health is 200 and, in a cluster, it sees ``instances`` servers live."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = httpx.get(f"{server.url}/api/health", timeout=1)
            cluster = health.json().get("cluster") if health.status_code == 200 else None
            if health.status_code == 200 and (
                cluster is None or (cluster.get("ok") and cluster.get("instances", 0) >= instances)
            ):
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gochat did not start")
        time.sleep(0.1)


def start_reference(users: int) -> Running:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REFERENCE_SERVER), str(port)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        raise RuntimeError("the reference server did not start")
    return Running(process, f"http://127.0.0.1:{port}", [""] * users, [0])
