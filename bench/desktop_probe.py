"""The desktop app under measurement: ``python -m bench.desktop_probe``, a process of its own
so its memory (VmRSS) is the app's alone. Started by bench.desktop.

It runs the real app — DesktopApp, ChatSession, the chat window with its MessageListModel and
MessageDelegate — on the qasync loop, offscreen, against a seeded server, and measures from inside:

1. open: the double-click in the room list that opens the room, until the chat view's viewport has
   painted with the newest message visible (an event filter on the viewport watches paint events);
2. lag: a 10 ms QTimer in the app's loop while the benchmark's sender posts to the room; lag is how
   much later than 10 ms each tick came, counted from the first load message's arrival to the last's;
3. memory: VmRSS at rest at the bottom, after scrolling to the top over and over until older pages
   holding ``--scrollback`` messages have loaded, and at rest again after returning to the bottom.

It reports on stdout, one ``@bench {json}`` line per stage: ``load-ready`` (the sender may start),
then ``result``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import qasync
from PySide6.QtCore import QEvent, QModelIndex, QObject, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QListView

from bench.desktop import LOAD_PREFIX, PREFIX
from gochat.desktop.app import DesktopApp, create_application
from gochat.desktop.chat.models import MessageListModel
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.rooms.model import RoomListModel, RoomRole

T = TypeVar("T")

TICK_MS = 10
SETTLE_SECONDS = 2.0  # idle time before each memory reading


def report(stage: str, **data: Any) -> None:
    print(PREFIX + json.dumps({"stage": stage, **data}), flush=True)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.perf_counter() + within
    while True:
        if condition():
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.005)


def newest_visible(view: QListView, newest_id: int) -> bool:
    """The newest message is the last row, and that row is inside the viewport."""
    model = view.model()
    assert isinstance(model, MessageListModel)
    rows = model.rowCount()
    if rows == 0:
        return False
    item = model.item(rows - 1)
    if item.message_id is None or item.message_id < newest_id:
        return False
    rect = view.visualRect(model.index(rows - 1, 0))
    return rect.isValid() and rect.bottom() <= view.viewport().height() and rect.bottom() > 0


class PaintWatch(QObject):
    """Watches a viewport's paint events; notes when one paints with ``ready()`` true. The time is
    taken by a zero timer, which fires once the paint event (and the flush after it) has returned."""

    def __init__(self, ready: Callable[[], bool]) -> None:
        super().__init__()
        self._ready = ready
        self.first_paint_at: float | None = None
        self.painted_at: float | None = None
        self._pending = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            if self.first_paint_at is None:
                self.first_paint_at = time.perf_counter()
            if self.painted_at is None and not self._pending and self._ready():
                self._pending = True
                QTimer.singleShot(0, self._mark)
        return False

    def _mark(self) -> None:
        self.painted_at = time.perf_counter()


class LagSampler(QObject):
    """A timer in the app's loop: each tick notes how much later than its interval it came."""

    def __init__(self, interval_ms: int = TICK_MS) -> None:
        super().__init__()
        self.interval = interval_ms / 1000
        self.samples: list[tuple[float, float]] = []  # (when, lag seconds)
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = None
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.samples.append((now, max(0.0, now - self._last - self.interval)))
        self._last = now

    def between(self, start: float, end: float) -> list[float]:
        return [lag for when, lag in self.samples if start <= when <= end]


class LoadWatch:
    """Counts the sender's messages as rows appear in the model (their clientMsgId says which)."""

    def __init__(self, window: ChatWindow) -> None:
        self.model = window.messages_model
        self.count = 0
        self.first_at: float | None = None
        self.first_cpu = 0.0
        self.last_at: float | None = None
        self.model.rowsInserted.connect(self._inserted)

    def _inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        now = time.perf_counter()
        for row in range(first, last + 1):
            cid = self.model.item(row).client_msg_id
            if cid is not None and cid.startswith(LOAD_PREFIX):
                self.count += 1
                if self.first_at is None:
                    self.first_at, self.first_cpu = now, time.process_time()
                self.last_at = now


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def log_in(desktop: DesktopApp, server: str, username: str, password: str, room_id: int) -> None:
    """What typing into the login window and pressing Log in does."""
    window = desktop.login_window
    window.server.setText(server)
    window.username.setText(username)
    window.password.setText(password)
    QTest.mouseClick(window.login_button, Qt.MouseButton.LeftButton)
    await until(lambda: desktop.rooms.model.row_of(room_id) is not None, 60, "the room list")
    await until(lambda: desktop.session.link_state.value == "online", 60, "the live connection")


async def open_room(desktop: DesktopApp, room_id: int, newest_id: int) -> tuple[ChatWindow, dict[str, float]]:
    """Double-click the room in the list; time until the chat view has painted its newest message."""
    rooms = desktop.rooms_window
    [index] = [
        rooms.proxy.index(row, RoomListModel.NAME)
        for row in range(rooms.proxy.rowCount())
        if rooms.proxy.index(row, RoomListModel.NAME).data(RoomRole).id == room_id
    ]
    watches: list[PaintWatch] = []
    entered_at: list[float] = []

    def hook(opened_id: int) -> None:
        # Runs right after DesktopApp made the window (connected later, so called later): the
        # filter is on the viewport before anything is painted.
        window = desktop.chat_windows[opened_id]
        watch = PaintWatch(lambda: newest_visible(window.view, newest_id))
        window.view.viewport().installEventFilter(watch)
        watches.append(watch)

    desktop.chat.roomOpened.connect(hook)
    desktop.chat.roomEntered.connect(lambda _rid: entered_at.append(time.perf_counter()))
    point = rooms.table.visualRect(index).center()
    # A person's double-click, as the desktop tests make it: the first click selects the row.
    QTest.mouseClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    started = time.perf_counter()
    QTest.mouseDClick(rooms.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    await until(lambda: bool(watches) and watches[0].painted_at is not None, 60, "the newest page to be painted")
    desktop.chat.roomOpened.disconnect(hook)
    watch = watches[0]
    window = desktop.chat_windows[room_id]
    window.view.viewport().removeEventFilter(watch)
    assert watch.painted_at is not None
    assert watch.first_paint_at is not None
    return window, {
        "open_to_painted_ms": (watch.painted_at - started) * 1000,
        "open_to_first_paint_ms": (watch.first_paint_at - started) * 1000,
        "open_to_room_state_ms": (entered_at[0] - started) * 1000 if entered_at else -1.0,
    }


async def measure_lag(window: ChatWindow, expected: int, within: float) -> dict[str, Any]:
    load = LoadWatch(window)
    sampler = LagSampler()
    sampler.start()
    report("load-ready")
    await until(lambda: load.count >= expected, within, f"{expected} load messages")
    await asyncio.sleep(0.25)  # the last message's layout and paint belong to the load too
    sampler.stop()
    ended, cpu = time.perf_counter(), time.process_time()
    assert load.first_at is not None
    assert load.last_at is not None
    lags = sampler.between(load.first_at, load.last_at + 0.25)
    return {
        "received": load.count,
        "arrival_seconds": load.last_at - load.first_at,
        # CPU the app used meanwhile, as a share of one core: its own cost, apart from what
        # other processes on a shared machine do to the lag.
        "app_cpu_share": (cpu - load.first_cpu) / (ended - load.first_at),
        "ticks": len(lags),
        "lag_p50_ms": percentile(lags, 0.50) * 1000,
        "lag_p99_ms": percentile(lags, 0.99) * 1000,
        "lag_max_ms": max(lags, default=0.0) * 1000,
        "rows_after_load": window.messages_model.rowCount(),
    }


class PageCounter:
    """Older pages as they load. It keeps plain numbers and an array: a list of floats appended
    to as pages arrive would itself pin the allocator's memory that the app frees afterwards."""

    def __init__(self) -> None:
        self.pages = 0
        self.messages = 0
        self.times = array("d")

    def loaded(self, _room_id: int, count: int) -> None:
        self.pages += 1
        self.messages += count


async def scroll_back(desktop: DesktopApp, window: ChatWindow, target: int) -> dict[str, Any]:
    """Scroll to the top again and again, as a reader going back in time, until ``target`` older
    messages have loaded; then return to the bottom (what dragging the scroll bar there does)."""
    opened = desktop.chat.opened(window.room_id)
    assert opened is not None
    bar = window.view.verticalScrollBar()
    counter = PageCounter()
    desktop.chat.olderLoaded.connect(counter.loaded)
    await asyncio.sleep(SETTLE_SECONDS)
    before, blocks_before = rss_bytes(), sys.getallocatedblocks()
    rows_before = window.messages_model.rowCount()
    started = time.perf_counter()
    while counter.messages < target and opened.timeline.has_older:
        pages = counter.pages
        asked = time.perf_counter()
        bar.setValue(0)
        await until(lambda p=pages: counter.pages > p, 60, "an older page")  # type: ignore[misc]
        counter.times.append(time.perf_counter() - asked)
        # The view puts the message that was on top back in place; then the reader scrolls on.
        await until(lambda: bar.value() > 0, 5, "the view to keep its place")
    scrolled_seconds = time.perf_counter() - started
    await asyncio.sleep(0.5)
    at_top, blocks_at_top = rss_bytes(), sys.getallocatedblocks()
    rows_at_top = window.messages_model.rowCount()
    bar.setValue(bar.maximum())
    await asyncio.sleep(SETTLE_SECONDS)
    after, blocks_after = rss_bytes(), sys.getallocatedblocks()
    return {
        "messages_loaded": counter.messages,
        "pages": counter.pages,
        "page_median_ms": statistics.median(counter.times) * 1000 if counter.times else 0.0,
        "scroll_back_seconds": scrolled_seconds,
        "rss_before": before,
        "rss_at_top": at_top,
        "rss_after": after,
        "rss_after_ratio": after / before,
        # Python's live objects (allocated blocks): back near "before" once the rows are let go,
        # whether or not the allocator hands the pages back to the system.
        "python_blocks_before": blocks_before,
        "python_blocks_at_top": blocks_at_top,
        "python_blocks_after": blocks_after,
        "rows_before": rows_before,
        "rows_at_top": rows_at_top,
        "rows_after": window.messages_model.rowCount(),
        "has_older_after": opened.timeline.has_older,
    }


async def probe(desktop: DesktopApp, args: argparse.Namespace) -> dict[str, Any]:
    desktop.start()
    await log_in(desktop, args.server, args.username, args.password, args.room_id)
    await asyncio.sleep(0.5)  # a person looks at the room list before double-clicking
    window, opening = await open_room(desktop, args.room_id, args.newest_id)
    await asyncio.sleep(0.5)
    lag = await measure_lag(window, args.load_messages, args.load_timeout)
    memory = await scroll_back(desktop, window, args.scrollback)
    return {**opening, **lag, **memory}


def run_in_app(work: Callable[[DesktopApp, Path], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` in a real DesktopApp on the qasync loop, as ``gochat`` runs; settings and data
    in a folder of the run's own (never the user's: unsent messages, windows), then shut it down."""
    app = create_application([sys.argv[0]])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        desktop = DesktopApp(settings, data_dir=folder / "data")
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            try:
                result: T = loop.run_until_complete(work(desktop, folder))
                return result
            finally:
                loop.run_until_complete(desktop.shutdown())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desktop_probe")
    parser.add_argument("--server", required=True, help="host:port")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--room-id", type=int, required=True)
    parser.add_argument("--newest-id", type=int, required=True, help="the room's newest message id")
    parser.add_argument("--load-messages", type=int, required=True, help="how many the sender will post")
    parser.add_argument("--load-timeout", type=float, default=120.0)
    parser.add_argument("--scrollback", type=int, required=True, help="older messages to scroll back through")
    args = parser.parse_args(argv)

    result = run_in_app(lambda desktop, _folder: probe(desktop, args))
    report("result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
