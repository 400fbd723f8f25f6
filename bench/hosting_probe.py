"""A desktop app with a room open, under measurement: ``python -m bench.hosting_probe``.
Started by bench.hosting, twice in each run: once hosting the server in its own process
(``--host``, what "Host on this computer" does), once as a plain client of that server.

It runs the real app — DesktopApp, HostingController and EmbeddedServer, ChatSession, the room
list, the chat window with its MessageListModel and MessageDelegate — on the qasync loop
(offscreen, or on any Qt platform), and for every message the benchmark's sender posts it notes
when the message's bubble was first painted: a paint event of the chat view's viewport whose
region holds the row (an event filter; the time is taken by a zero timer, once the paint has
returned). Lag = painted − the message's ``createdAt``, which the server's writer stamps on the
message's batch just before its INSERT and commit: when the message came to exist for everyone.
Both app processes and the server read this machine's one clock.

It talks to the benchmark over stdin/stdout. Stdout: one ``@bench {json}`` line per stage —
``hosting`` (host only: the address and room), ``ready`` (the room is open), ``round-ready``,
``round`` (a round's figures), ``done``. Stdin: ``round NAME COUNT`` (measure the next COUNT
messages whose clientMsgId starts with ``load-NAME-``), ``quit``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QListView

from bench.desktop import LOAD_PREFIX
from bench.desktop_probe import percentile, report, run_in_app, until
from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.models import MessageListModel
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.hosting.options import HostOptions
from gochat.server.embedded import EmbeddedServer, free_port

Times = tuple[float, float]  # a message's commit time and send time (time.time())


def send_time(client_msg_id: str) -> float:
    """The sender's wall-clock send time: the last field of a load message's clientMsgId."""
    return float(client_msg_id.rsplit("-", 1)[1])


class PaintedRows(QObject):
    """For each load message of the current round: when its row reached the model, and when a
    paint of the chat view's viewport first covered it."""

    def __init__(self, view: QListView) -> None:
        super().__init__()
        self.view = view
        model = view.model()
        assert isinstance(model, MessageListModel)
        self.model = model
        self.prefix: str | None = None
        self.expected = 0
        self._waiting: list[tuple[QPersistentModelIndex, Times]] = []  # in the model, not yet painted
        self._just_painted: list[Times] = []  # in the paint being handled; stamped after it
        self._stamping = False
        self.commit_to_shown: list[float] = []  # into the model (after the session's live batch)
        self.commit_to_painted: list[float] = []
        self.send_to_painted: list[float] = []
        self.passed = 0  # rows the view scrolled straight past (see eventFilter)
        self.dropped = 0  # rows let go (the window of rows) before they were ever painted
        self.all_painted = asyncio.Event()
        model.rowsInserted.connect(self._inserted)
        view.viewport().installEventFilter(self)

    def begin(self, name: str, expected: int) -> None:
        self.prefix = f"{LOAD_PREFIX}{name}-"
        self.expected = expected
        self._waiting, self._just_painted = [], []
        self.commit_to_shown, self.commit_to_painted, self.send_to_painted = [], [], []
        self.passed = self.dropped = 0
        self.all_painted.clear()

    def end(self) -> None:
        self.prefix = None

    @property
    def painted(self) -> int:
        return len(self.commit_to_painted)

    def _inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self.prefix is None:
            return
        now = time.time()
        for row in range(first, last + 1):
            item = self.model.item(row)
            cid = item.client_msg_id
            if cid is not None and cid.startswith(self.prefix):
                committed = item.created_at.timestamp()
                self.commit_to_shown.append(now - committed)
                self._waiting.append((QPersistentModelIndex(self.model.index(row, 0)), (committed, send_time(cid))))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Type.Paint or not self._waiting:
            return False
        assert isinstance(event, QPaintEvent)
        region = event.region()
        still: list[tuple[QPersistentModelIndex, Times]] = []
        above: list[tuple[QPersistentModelIndex, Times]] = []
        first_painted: int | None = None
        for index, times in self._waiting:
            if not index.isValid():
                self.dropped += 1
                continue
            rect = self.view.visualRect(self.model.index(index.row(), 0))
            if rect.isValid() and region.intersects(rect):
                self._just_painted.append(times)
                first_painted = index.row() if first_painted is None else min(first_painted, index.row())
            elif rect.isValid() and rect.bottom() < 0:
                above.append((index, times))
            else:
                still.append((index, times))
        # Rows that arrived together with more than the view holds: it went straight past them
        # to the newest, which this paint shows; they are on screen a scroll away, from now on.
        for index, times in above:
            if first_painted is not None and index.row() < first_painted:
                self._just_painted.append(times)
                self.passed += 1
            else:
                still.append((index, times))
        self._waiting = still
        if self._just_painted and not self._stamping:
            self._stamping = True
            QTimer.singleShot(0, self._stamp)
        elif not self._stamping and self.painted + self.dropped >= self.expected:
            self.all_painted.set()
        return False

    def _stamp(self) -> None:
        now = time.time()
        for committed, sent in self._just_painted:
            self.commit_to_painted.append(now - committed)
            self.send_to_painted.append(now - sent)
        self._just_painted.clear()
        self._stamping = False
        if self.painted + self.dropped >= self.expected:
            self.all_painted.set()


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds of each thread of this process so far, by Python thread name (Linux /proc);
    threads Python does not know (Qt's, zeroconf's) are "other"."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name), "other")
        cpu[name] = cpu.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(values, 0.50) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values, default=0.0) * 1000,
    }


async def measure_round(rows: PaintedRows, name: str, expected: int, within: float) -> dict[str, Any]:
    rows.begin(name, expected)
    started, cpu_before, threads_before = time.perf_counter(), time.process_time(), thread_cpu_seconds()
    report("round-ready", round=name)
    try:
        # Woken by the last paint, not by polling: a poll would be work in the loop measured.
        await asyncio.wait_for(rows.all_painted.wait(), within)
    except TimeoutError:
        raise TimeoutError(f"{rows.painted} of {expected} messages painted in {within:.0f} s") from None
    ended, cpu, threads = time.perf_counter(), time.process_time(), thread_cpu_seconds()
    rows.end()
    wall = ended - started
    threads_used = {thread: seconds - threads_before.get(thread, 0.0) for thread, seconds in threads.items()}
    return {
        "round": name,
        "painted": rows.painted,
        "passed": rows.passed,
        "dropped": rows.dropped,
        "commit_to_painted": summary(rows.commit_to_painted),
        "send_to_painted": summary(rows.send_to_painted),
        "commit_to_shown": summary(rows.commit_to_shown),
        # From the round's start (the sender starts right after) to the last paint: the whole
        # process, every thread, as a share of one core; and the UI thread's part of it.
        "seconds": wall,
        "cpu_share": (cpu - cpu_before) / wall,
        "ui_cpu_share": threads_used.get("MainThread", 0.0) / wall,
        "thread_cpu_share": {thread: used / wall for thread, used in sorted(threads_used.items()) if used > 0},
        "rows": rows.model.rowCount(),
        "gc_collections": [generation["collections"] for generation in gc.get_stats()],
    }


async def register(desktop: DesktopApp, server: str, username: str, password: str) -> None:
    """What typing into the login window and pressing Register does."""
    window = desktop.login_window
    window.server.setText(server)
    window.username.setText(username)
    window.password.setText(password)
    QTest.mouseClick(window.register_button, Qt.MouseButton.LeftButton)
    await until(lambda: desktop.session.me is not None, 60, "the login")
    await until(lambda: desktop.session.link_state.value == "online", 60, "the live connection")


async def open_room(desktop: DesktopApp, room_id: int) -> ChatWindow:
    """What double-clicking the room in the list does; returns once the room's state arrived."""
    entered: list[int] = []
    desktop.chat.roomEntered.connect(entered.append)
    await until(lambda: desktop.rooms.model.row_of(room_id) is not None, 60, "the room in the list")
    desktop.rooms_window.openRequested.emit(room_id)
    await until(lambda: room_id in entered, 60, "the room's state")
    return desktop.chat_windows[room_id]


def read_commands() -> asyncio.Queue[str]:
    """Lines from stdin, on a queue of the running loop (read on a thread of their own)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, "quit")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines


def unthrottled_hosting() -> None:
    """The benchmark posts up to hundreds of messages a second and makes a room list of --rooms
    at once, far beyond what people do: the hosted server's message and room-creation limits are
    off for it (what the host dialog starts is otherwise unchanged)."""
    original = EmbeddedServer.for_desktop

    def for_desktop(**options: Any) -> EmbeddedServer:
        server = original(**options)
        server.settings = dataclasses.replace(server.settings, message_rate=0, room_create_per_minute=0)
        return server

    EmbeddedServer.for_desktop = for_desktop  # type: ignore[method-assign]


async def probe(desktop: DesktopApp, args: argparse.Namespace, folder: str) -> None:
    desktop.start()
    if args.host:
        unthrottled_hosting()
        # What the host dialog's "Start hosting" does (SQLite in a folder of the run's own).
        options = HostOptions(name="bench host", port=free_port(), database_url=f"sqlite:///{folder}/hosted.sqlite3")
        if not await desktop.hosting.start(options):
            raise RuntimeError("hosting did not start")
        assert desktop.hosting.server is not None
        address = desktop.hosting.server.address
    else:
        address = args.server
    await register(desktop, address, args.username, args.password)
    if args.host:
        room = await desktop.rooms.create_room(args.room)
        assert room is not None
        for n in range(args.rooms - 1):  # the rest of the room list
            await desktop.rooms.create_room(f"{args.room} {n + 2}")
        room_id = room.id
        report("hosting", address=address, room_id=room_id)
    else:
        room_id = args.room_id
    window = await open_room(desktop, room_id)
    if args.focus == "elsewhere":
        # The person is in another window: the chat is open on screen but not the active
        # window, so each message is read as it is shown (the read marker is reported, and the
        # room list's count is updated) besides being painted.
        desktop.rooms_window.activateWindow()
        await until(lambda: not window.isActiveWindow(), 10, "the chat window to lose focus")
    else:
        window.activateWindow()
    rows = PaintedRows(window.view)
    report("ready")
    commands = read_commands()
    while (command := await commands.get()) != "quit":
        _, name, count = command.split()
        report("round", **await measure_round(rows, name, int(count), args.round_timeout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hosting_probe")
    parser.add_argument("--host", action="store_true", help="host the server in this process")
    parser.add_argument("--server", help="host:port to join (without --host)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--room", default="bench hosting", help="the room the host creates and opens")
    parser.add_argument("--rooms", type=int, default=1, help="rooms the host creates in all (the room list)")
    parser.add_argument("--room-id", type=int, help="the room to open (without --host)")
    parser.add_argument("--focus", choices=("chat", "elsewhere"), default="elsewhere", help="the active window")
    parser.add_argument("--round-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    run_in_app(lambda desktop, folder: probe(desktop, args, str(folder)))
    report("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
