"""Direct messages in the desktop: the room list's "Direct messages" column (the other person,
an online dot, the unread count, newest conversation first), starting one from a room's member
list or from a people search, the peer's app meeting it when the first message arrives
(ROOM_CREATED) with a notification, and the window titled with the other person's name. Real
server, real sockets, real windows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gochat.desktop.app import DesktopApp
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.direct import DirectEntry, preview_text
from gochat.desktop.rooms.controller import RoomsController
from gochat.desktop.rooms.model import DirectRole, UnreadRole
from gochat.desktop.session import ChatSession
from gochat.protocol import (
    DirectConversation,
    Message,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Presence,
    Room,
    RoomCreated,
    RoomKind,
    User,
)
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import (
    WAIT,
    MakeDesktop,
    Shot,
    create_room,
    entered,
    log_in,
    open_room,
    say,
    texts,
)
from tests.helpers import auth, chat_client, register_and_login


def test_a_direct_room_announced_goes_to_the_direct_messages_never_to_the_room_list(qapp: QApplication) -> None:
    """ROOM_CREATED (8) of a direct room, then its messages and its peer's presence: no server."""
    session = ChatSession()
    alice, bob = User(1, "alice"), User(2, "鲍勃")
    session.me = alice
    rooms = RoomsController(session, session)
    created = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    public = Room(3, "lobby", bob, created)
    direct = Room(12, bob.username, bob, created, kind=RoomKind.DIRECT, members=(alice, bob))
    session._on_frame(RoomCreated(public))
    session._on_frame(RoomCreated(direct))
    assert [room.id for room in rooms.model.rooms()] == [3]
    assert [entry.room.id for entry in rooms.direct.ordered()] == [12]
    assert rooms.room(12) == direct
    assert rooms.direct_model.rowCount() == 1
    # A message there moves it up (it is the newest conversation) and says bob is online.
    later = Room(13, "carol", User(4, "carol"), created, kind=RoomKind.DIRECT, members=(alice, User(4, "carol")))
    session._on_frame(RoomCreated(later))
    assert [entry.room.id for entry in rooms.direct.ordered()] == [13, 12]
    session._on_frame(MessagePosted(Message(50, 12, bob, "在吗", created + timedelta(minutes=1))))
    assert [entry.room.id for entry in rooms.direct.ordered()] == [12, 13]
    entry = rooms.direct.get(12)
    assert entry is not None
    assert (entry.online, entry.last_text) == (True, "在吗")
    assert rooms.direct_model.index(0).data(DirectRole).room.id == 12
    # Seen entering the room: online, whatever was known.
    rooms.direct.set_online(bob.id, False)
    session._on_frame(Presence(12, bob, entered=True, online=2))
    assert entry.online


def directs(desktop: DesktopApp) -> list[tuple[str, int, bool]]:
    """The "Direct messages" column as shown: (name, unread, online) from the top."""
    model = desktop.rooms_window.directs
    rows = []
    for row in range(model.rowCount()):
        index = model.index(row)
        entry: DirectEntry = index.data(DirectRole)
        rows.append((entry.peer.username, int(index.data(UnreadRole)), entry.online))
    return rows


def direct_index(desktop: DesktopApp, name: str) -> QModelIndex:
    model = desktop.rooms_window.directs
    for row in range(model.rowCount()):
        if model.index(row).data(DirectRole).peer.username == name:
            return model.index(row)
    raise AssertionError(f"{name} is not in the direct messages: {directs(desktop)}")


def member_index(window: ChatWindow, name: str) -> QModelIndex:
    model = window.members.model()
    for row in range(model.rowCount()):
        if model.index(row).data() == name:
            return model.index(row)
    raise AssertionError(f"{name} is not a member")


def double_click(qtbot: QtBot, view: object, index: QModelIndex) -> None:
    """A person's double-click: a click, then the second press (as QTest needs it)."""
    rect = view.visualRect(index)  # type: ignore[attr-defined]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[attr-defined]
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[attr-defined]


def direct_window(qtbot: QtBot, desktop: DesktopApp, peer: str) -> ChatWindow:
    """The open window of the direct room with ``peer``, once it has entered."""

    def room_id() -> int | None:
        return next((e.room.id for e in desktop.rooms.direct.ordered() if e.peer.username == peer), None)

    qtbot.waitUntil(lambda: room_id() is not None and room_id() in desktop.chat_windows, timeout=WAIT)
    found = room_id()
    assert found is not None
    qtbot.waitUntil(lambda: entered(desktop, found), timeout=WAIT)
    return desktop.chat_windows[found]


def test_a_dm_started_from_the_member_list_reaches_the_peer_with_a_notification(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    tag = uuid.uuid4().hex[:6]
    alice_name, bob_name = f"alice{tag}", f"李四{tag}"
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, alice, "大厅 lobby")
    a_lobby, _b_lobby = open_room(qtbot, alice, "大厅 lobby"), open_room(qtbot, bob, "大厅 lobby")
    qtbot.waitUntil(lambda: a_lobby.members.model().rowCount() == 2, timeout=WAIT)
    assert directs(alice) == []
    assert directs(bob) == []
    screenshot(bob.rooms_window, "no-conversations-yet")

    # Not offered with yourself: no menu, and a double-click on your own name does nothing.
    assert a_lobby.members.context_menu(member_index(a_lobby, alice_name)) is None
    double_click(qtbot, a_lobby.members, member_index(a_lobby, alice_name))
    menu = a_lobby.members.context_menu(member_index(a_lobby, bob_name))
    assert menu is not None
    assert [a.text() for a in menu.actions()] == ["Message privately"]

    double_click(qtbot, a_lobby.members, member_index(a_lobby, bob_name))
    a_dm = direct_window(qtbot, alice, bob_name)
    assert a_dm.windowTitle() == f"\u2068{bob_name}\u2069 — gochat"
    assert [d[:2] for d in directs(alice)] == [(bob_name, 0)]
    # A direct room is never in the public list, on either side.
    assert bob_name not in alice.rooms_window.visible_room_names()

    say(qtbot, a_dm, "你好 李四，私聊一下")
    # Bob's app meets the conversation with its first message: listed, counted, notified.
    qtbot.waitUntil(lambda: [d[:2] for d in directs(bob)] == [(alice_name, 1)], timeout=WAIT)
    first = "你好 李四，私聊一下"
    qtbot.waitUntil(lambda: bool(bob.notifier.shown) and bob.notifier.shown[-1].text == first, timeout=WAIT)
    assert alice_name in bob.notifier.shown[-1].title
    assert alice_name not in bob.rooms_window.visible_room_names()
    qtbot.waitUntil(lambda: directs(bob)[0][2], timeout=WAIT)  # alice is online: her dot is lit
    screenshot(bob.rooms_window, "a-new-direct-message")

    # Followed with its window closed: the next message counts and notifies too.
    say(qtbot, a_dm, "还在吗？")
    qtbot.waitUntil(lambda: directs(bob)[0][:2] == (alice_name, 2), timeout=WAIT)
    qtbot.waitUntil(lambda: bob.notifier.shown[-1].text == "还在吗？", timeout=WAIT)

    # Opened from the column: titled with the other person's name, the messages there, read.
    double_click(qtbot, bob.rooms_window.direct_view, direct_index(bob, alice_name))
    b_dm = direct_window(qtbot, bob, alice_name)
    assert b_dm.windowTitle() == f"\u2068{alice_name}\u2069 — gochat"
    qtbot.waitUntil(lambda: texts(b_dm) == ["你好 李四，私聊一下", "还在吗？"], timeout=WAIT)
    qtbot.waitUntil(lambda: directs(bob)[0][1] == 0, timeout=WAIT)
    say(qtbot, b_dm, "在的 👋")
    qtbot.waitUntil(lambda: texts(a_dm)[-1:] == ["在的 👋"], timeout=WAIT)
    screenshot(b_dm, "direct-window")
    screenshot(alice.rooms_window, "alice-direct-column")


def test_a_people_search_starts_a_dm_and_says_what_went_wrong(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    tag = uuid.uuid4().hex[:6]
    alice_name, bob_name = f"al{tag}", f"bo{tag}"
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)

    qtbot.mouseClick(alice.rooms_window.people_button, Qt.MouseButton.LeftButton)
    dialog = alice.people_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    qtbot.keyClicks(dialog.search, tag.upper())  # part of both names, in another case
    qtbot.waitUntil(lambda: dialog.results.count() == 1, timeout=WAIT)
    # Never yourself.
    assert dialog.results.item(0).text() == bob_name
    assert dialog.results.item(0).toolTip() == "online"
    screenshot(dialog, "people-found")

    qtbot.keyClick(dialog.search, Qt.Key.Key_Return)  # messages the person chosen (the first)
    a_dm = direct_window(qtbot, alice, bob_name)
    assert not dialog.isVisible()
    assert [d[0] for d in directs(alice)] == [bob_name]
    # The same conversation again: the same room, not a second one.
    alice.open_people_dialog()
    qtbot.keyClicks(dialog.search, bob_name)
    qtbot.waitUntil(lambda: dialog.message_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(dialog.message_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert len(directs(alice)) == 1
    assert alice.chat_windows[a_dm.room_id] is a_dm

    # Nobody of that name: the dialog says so and stays.
    alice.open_people_dialog()
    qtbot.keyClicks(dialog.search, "zz" + uuid.uuid4().hex[:8])
    qtbot.waitUntil(lambda: dialog.status.text().startswith("No one else"), timeout=WAIT)
    assert not dialog.message_button.isEnabled()
    alice.start_direct(f"ghost{tag}", dialog)  # a name that went (or never was): 404
    qtbot.waitUntil(dialog.error.isVisible, timeout=WAIT)
    assert dialog.error.text() == f"There is no one called ghost{tag} on this server."
    screenshot(dialog, "no-such-person")

    # The server gone: said in the dialog, nothing else changes.
    stop_server(server)
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, "bo")
    qtbot.waitUntil(lambda: dialog.error.isVisible() and "reach" in dialog.error.text(), timeout=WAIT)
    assert len(directs(alice)) == 1


async def _set_up_conversations(
    url: str, alice: str, bob: str, carol: str, said: asyncio.Event, held: asyncio.Event
) -> None:
    """carol opens a conversation with alice (no message); then bob writes to alice twice (then
    ``said``) and stays connected until ``held`` is set."""
    async with httpx.AsyncClient(base_url=url) as api:
        carol_token, _ = await register_and_login(api, carol)
        response = await api.post("/api/dms", json={"username": alice}, headers=auth(carol_token))
        assert response.status_code == 201, response.text
        bob_token, _ = await register_and_login(api, bob)
        response = await api.post("/api/dms", json={"username": alice}, headers=auth(bob_token))
        assert response.status_code == 201, response.text
        room_id = response.json()["id"]
    async with chat_client(url, bob_token) as c:
        await c.enter(room_id)
        await c.say(room_id, "first")
        await c.say(room_id, "第二条")
        said.set()
        await held.wait()


def test_the_column_lists_dms_newest_first_with_unread_counts_and_online_dots(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    tag = uuid.uuid4().hex[:6]
    alice_name, bob_name, carol_name = f"alice{tag}", f"王五{tag}", f"carol{tag}"

    async def register_alice() -> None:
        async with httpx.AsyncClient(base_url=server.url) as api:
            await register_and_login(api, alice_name)

    setup = qloop.create_task(register_alice())
    qtbot.waitUntil(setup.done, timeout=WAIT)
    setup.result()
    said, held = asyncio.Event(), asyncio.Event()
    bob_online = qloop.create_task(_set_up_conversations(server.url, alice_name, bob_name, carol_name, said, held))
    try:
        qtbot.waitUntil(lambda: bob_online.done() or said.is_set(), timeout=WAIT)
        alice = make_desktop()
        log_in(qtbot, alice, server, alice_name, register=False)
        qtbot.waitUntil(lambda: directs(alice) == [(bob_name, 2, True), (carol_name, 0, False)], timeout=WAIT)
        screenshot(alice.rooms_window, "direct-column")
    finally:
        held.set()
        qtbot.waitUntil(bob_online.done, timeout=WAIT)
    bob_online.result()


def test_a_dm_started_with_someone_connected_shows_them_online_at_once(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    """Found in a trial: bob, connected but not in the new direct room (he has not been written
    to yet), showed with a grey ring in alice's column until he wrote or entered it."""
    alice, bob = make_desktop(), make_desktop()
    tag = uuid.uuid4().hex[:6]
    alice_name, bob_name = f"al{tag}", f"张三{tag}"
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    alice.start_direct(bob_name, alice.rooms_window)
    direct_window(qtbot, alice, bob_name)
    qtbot.waitUntil(lambda: directs(alice) == [(bob_name, 0, True)], timeout=WAIT)


def test_the_peer_seen_entering_any_room_lights_their_dot(qapp: QApplication) -> None:
    """Found in a trial: bob came back and entered the lobby alice was in (she saw him in its
    member list), yet her "Direct messages" column kept his grey ring."""
    session = ChatSession()
    alice, bob = User(1, "alice"), User(2, "鲍勃")
    session.me = alice
    rooms = RoomsController(session, session)
    created = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    session._on_frame(RoomCreated(Room(3, "大厅", alice, created)))
    session._on_frame(RoomCreated(Room(12, bob.username, bob, created, kind=RoomKind.DIRECT, members=(alice, bob))))
    entry = rooms.direct.get(12)
    assert entry is not None
    assert not entry.online
    session._on_frame(Presence(3, bob, entered=True, online=2))
    assert entry.online


def test_the_column_never_keeps_the_text_of_a_message_edited_or_deleted(qapp: QApplication) -> None:
    """Found in a trial: 张三 deleted his last direct message, and both columns (his and alice's)
    went on showing its text under the name."""
    session = ChatSession()
    alice, bob = User(1, "alice"), User(2, "张三")
    session.me = alice
    rooms = RoomsController(session, session)
    created = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    direct = Room(12, bob.username, bob, created, kind=RoomKind.DIRECT, members=(alice, bob))
    session._on_frame(RoomCreated(direct))
    first = Message(50, 12, bob, "收到！李四在吗 🎉", created + timedelta(minutes=1))
    older = Message(49, 12, bob, "older", created + timedelta(seconds=30))
    session._on_frame(MessagePosted(first))
    entry = rooms.direct.get(12)
    assert entry is not None

    def preview() -> str:
        shown: DirectEntry = rooms.direct_model.index(0).data(DirectRole)
        return preview_text(shown)

    # An older message's edit does not change what the column shows.
    session._on_frame(MessageEdited(Message(49, 12, bob, "older, edited", older.created_at, edited_at=created)))
    assert preview() == "收到！李四在吗 🎉"
    session._on_frame(MessageEdited(Message(50, 12, bob, "收到！王五在吗", first.created_at, edited_at=created)))
    assert preview() == "收到！王五在吗"
    session._on_frame(MessageDeleted(12, 50, bob, rev=9))
    assert preview() == "message deleted"
    assert "王五" not in entry.last_text
    # The list as the server gives it again (a reconnect): the newest is a tombstone.
    tombstone = Message(50, 12, bob, "", first.created_at, deleted=True)
    rooms.direct.load([DirectConversation(direct, bob, tombstone)])
    assert preview() == "message deleted"
