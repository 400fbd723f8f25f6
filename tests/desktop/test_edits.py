"""Edits and deletions in the desktop (issue 13): "edited" and "message deleted" in the bubbles,
the old text kept nowhere, editing in the composer (Up, the context menu, Esc, errors), Delete
for the author, the room's creator and a server admin, and catching up after a reconnect."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QMessageBox, QStyleOptionViewItem, QWidget
from pytestqt.qtbot import QtBot

from gochat.desktop.app import question_box
from gochat.desktop.chat.delegates import DELETED_TEXT, MessageDelegate
from gochat.desktop.chat.models import MemberListModel, MessageListModel
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.state import Item, Kind, Timeline
from gochat.protocol import Message, MsgType, User
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.desktop.servers import stop_server
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, create_room, items, log_in, open_room, say
from tests.helpers import PASSWORD, auth, chat_client, login, unique_name

ME = User(1, "meimei")
AMIRA = User(2, "amira")


def stored(
    message_id: int,
    text: str,
    author: User = AMIRA,
    *,
    rev: int | None = None,
    edited: datetime | None = None,
    deleted: bool = False,
    mentions: tuple[User, ...] = (),
) -> Message:
    """A message as the server sends it now (rev, mentions, editedAt, deleted)."""
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30) + timedelta(seconds=message_id)
    return Message.from_wire(
        {
            "id": message_id,
            "roomId": 1,
            "author": {"id": author.id, "username": author.username},
            "content": "" if deleted else text,
            "createdAt": created.isoformat(),
            "rev": message_id if rev is None else rev,
            "mentions": [{"id": u.id, "username": u.username} for u in mentions],
            "editedAt": None if edited is None else edited.isoformat(),
            "deleted": deleted,
        }
    )


def window_over(qtbot: QtBot, messages: list[Message], members: list[User] | None = None) -> ChatWindow:
    """A chat window over a timeline built directly (no server), loaded and shown."""
    timeline = Timeline(me=ME)
    model = MessageListModel(timeline)
    model.apply(timeline.add_history(messages))
    member_model = MemberListModel()
    member_model.reset(members or [ME, AMIRA])
    window = ChatWindow(1, "改一改 ✏️", model, member_model)
    qtbot.addWidget(window)
    window.set_loaded()
    window.resize(760, 560)
    window.show()
    qtbot.waitExposed(window)
    return window


def row_of_id(window: ChatWindow, message_id: int) -> int:
    model = window.messages_model
    return next(r for r in range(model.rowCount()) if model.item(r).message_id == message_id)


def option_for(window: ChatWindow, row: int) -> QStyleOptionViewItem:
    return window.view.row_option(window.messages_model.index(row))


def bubble_center(window: ChatWindow, message_id: int) -> QPoint:
    row = row_of_id(window, message_id)
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    bubble = delegate.geometry(option_for(window, row), window.messages_model.index(row)).bubble
    assert bubble is not None
    return bubble.center()


def menu_texts(window: ChatWindow, message_id: int) -> list[str]:
    window.view.scrollTo(window.messages_model.index(row_of_id(window, message_id)))
    QApplication.processEvents()
    menu = window.view.context_menu(bubble_center(window, message_id))
    texts = [action.text() for action in menu.actions()] if menu is not None else []
    if menu is not None:
        menu.deleteLater()
    return texts


def trigger(window: ChatWindow, message_id: int, text: str) -> None:
    window.view.scrollTo(window.messages_model.index(row_of_id(window, message_id)))
    QApplication.processEvents()
    menu = window.view.context_menu(bubble_center(window, message_id))
    assert menu is not None
    [action] = [action for action in menu.actions() if action.text() == text]
    action.trigger()
    menu.deleteLater()


def nowhere(window: ChatWindow, old: str) -> bool:
    """The old text is in no item, no measurement and no laid-out text the window keeps."""
    model = window.messages_model
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    kept = [repr(model.timeline.items()), repr(model._measured), *(repr(key) for key in delegate._layouts)]
    return not any(old in text for text in kept)


# -- shown: "edited", tombstones -----------------------------------------------------------------


def test_an_edited_message_says_edited_and_a_deleted_one_is_a_tombstone_in_its_place(
    qtbot: QtBot, screenshot: Shot
) -> None:
    window = window_over(
        qtbot,
        [
            stored(1, "大家好 👋 first draft"),
            stored(2, "我的消息 😀 to be fixed", ME),
            stored(3, "this one goes 🗑️"),
            stored(4, "最后一条 the last one", ME),
            stored(5, "", deleted=True),  # a tombstone from history
        ],
    )
    model, timeline = window.messages_model, window.messages_model.timeline
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    screenshot(window, "before")  # every row painted: their layouts are cached
    edited_at = datetime.now(UTC).replace(microsecond=0)
    model.apply(timeline.replace_message(stored(2, "我的消息 😀 fixed ✅", ME, rev=20, edited=edited_at)))
    model.apply(timeline.tombstone(3, AMIRA, 21))
    QApplication.processEvents()

    row = row_of_id(window, 2)
    item = model.item(row)
    assert item.text == "我的消息 😀 fixed ✅"
    assert MessageDelegate._footer(item).endswith(" · edited")
    assert model.data(model.index(row), Qt.ItemDataRole.ToolTipRole).splitlines()[1].startswith("Edited ")
    for deleted_id, by in ((3, "Deleted by amira"), (5, "Deleted")):
        row = row_of_id(window, deleted_id)
        tombstone = model.item(row)
        assert (tombstone.deleted, tombstone.text) == (True, "")
        assert model.data(model.index(row), Qt.ItemDataRole.ToolTipRole).splitlines()[1] == by
        laid = delegate.geometry(option_for(window, row), model.index(row))
        assert laid.text is not None
        assert laid.text.text == DELETED_TEXT
        assert not MessageDelegate._footer(tombstone).endswith("edited")
        # Nothing to copy, edit or delete: the context menu has nothing for it.
        assert menu_texts(window, deleted_id) == []
    # Still in its place, between its neighbours.
    assert [i.message_id for i in timeline.items()] == [1, 2, 3, 4, 5]
    screenshot(window, "edited-and-deleted")
    assert nowhere(window, "to be fixed")
    assert nowhere(window, "this one goes")
    # Selecting everything copies no trace of the deleted text.
    window.view.select_all_text()
    assert "this one goes" not in window.view.selected_text()


# -- editing in the composer ---------------------------------------------------------------------


def test_up_edits_the_last_message_the_menu_edits_any_of_yours_and_esc_brings_the_draft_back(
    qtbot: QtBot, screenshot: Shot
) -> None:
    window = window_over(
        qtbot,
        [stored(1, "older one of mine", ME), stored(2, "amira says hi"), stored(3, "我最新的消息 😀", ME)],
    )
    asked: list[tuple[int, int, str]] = []
    window.editRequested.connect(lambda room, message, text: asked.append((room, message, text)))
    composer = window.input
    composer.setFocus()

    # Up on an empty composer: the last message of mine is in the composer, with the bar.
    qtbot.keyClick(composer, Qt.Key.Key_Up)
    assert window.editing == 3
    assert composer.toPlainText() == "我最新的消息 😀"
    assert window.edit_bar.isVisible()
    assert window.edit_label.text() == "Editing message — Esc to cancel"
    assert window.send_button.text() == "Save"
    assert window.view.delegate.editing_id == 3  # its bubble outlined
    screenshot(window, "editing-the-last-message")
    qtbot.keyClick(composer, Qt.Key.Key_Escape)
    assert (window.editing, composer.toPlainText(), window.edit_bar.isVisible()) == (None, "", False)
    assert window.view.delegate.editing_id is None

    # With a draft typed, Up moves the cursor as ever; the menu's Edit keeps the draft aside.
    composer.insertPlainText("半截草稿 half a draft")
    qtbot.keyClick(composer, Qt.Key.Key_Up)
    assert window.editing is None
    assert menu_texts(window, 2) == ["Copy text"]  # amira's: not mine to edit or delete
    assert menu_texts(window, 1) == ["Copy text", "Edit", "Delete…"]
    trigger(window, 1, "Edit")
    assert (window.editing, composer.toPlainText()) == (1, "older one of mine")
    assert window.draft() == "半截草稿 half a draft"  # what a closing window keeps: never the message
    composer.selectAll()
    composer.insertPlainText("older one of mine, fixed ✨")
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert asked == [(1, 1, "older one of mine, fixed ✨")]
    assert window.edit_label.text() == "Saving…"
    qtbot.keyClick(composer, Qt.Key.Key_Return)  # Enter again while saving: not a second request
    assert len(asked) == 1

    # Refused: said in the bar, what was typed stays.
    window.edit_finished(1, "Cannot reach 127.0.0.1:1.")
    assert window.edit_error.isVisible()
    assert window.edit_error.text() == "Not saved: Cannot reach 127.0.0.1:1."
    assert composer.toPlainText() == "older one of mine, fixed ✨"
    screenshot(window, "edit-not-saved")
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert len(asked) == 2
    # Saved: the draft from before is back.
    window.edit_finished(1, "")
    assert (window.editing, composer.toPlainText(), window.edit_bar.isVisible()) == (
        None,
        "半截草稿 half a draft",
        False,
    )

    # Nothing changed: Enter ends the edit without a request.
    composer.clear()
    qtbot.keyClick(composer, Qt.Key.Key_Up)
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert len(asked) == 2
    assert window.editing is None


def test_the_message_being_edited_deleted_meanwhile_ends_the_edit(qtbot: QtBot) -> None:
    window = window_over(qtbot, [stored(1, "mine", ME), stored(2, "also mine", ME)])
    window.input.insertPlainText("draft")
    trigger(window, 1, "Edit")
    model = window.messages_model
    model.apply(model.timeline.replace_message(stored(2, "also mine, edited elsewhere", ME, rev=9)))
    assert window.editing == 1  # another message changing is no reason to stop
    model.apply(model.timeline.tombstone(1, ME, 10))
    assert window.editing is None
    assert window.input.toPlainText() == "draft"
    assert window.notice.text() == "The message you were editing was deleted."
    # Up skips deleted messages.
    window.input.clear()
    qtbot.keyClick(window.input, Qt.Key.Key_Up)
    assert window.editing == 2


# -- against a real server -------------------------------------------------------------------------


def messages_of(window: ChatWindow) -> list[Item]:
    return [i for i in items(window) if i.kind is Kind.MESSAGE]


def item_of(window: ChatWindow, text: str) -> Item:
    return next(i for i in messages_of(window) if i.text == text)


def stored_ids(window: ChatWindow, count: int) -> bool:
    found = messages_of(window)
    return len(found) == count and all(i.message_id is not None for i in found)


def show_question_over(qtbot: QtBot, chat: ChatWindow, question: str, over: QWidget | None) -> QMessageBox:
    """The question box the app shows for ``question`` asked ``over`` a window, shown with the chat
    window small in the screen's corner: centred over the window, not over the screen (found by a
    person using the app: "Delete this message?" came up in the middle of the screen)."""
    chat.resize(chat.minimumSize())
    chat.move(0, 0)
    box = question_box(question, over)
    box.show()
    qtbot.waitExposed(box)
    screen_centre = chat.screen().availableGeometry().center()
    box_centre, chat_centre = box.frameGeometry().center(), chat.frameGeometry().center()
    assert box.parentWidget() is chat
    assert (box_centre - chat_centre).manhattanLength() <= 4, (box_centre, chat_centre)
    assert (box_centre - screen_centre).manhattanLength() > 100, (box_centre, screen_centre)
    return box


def picture_over(path: Path, window: QWidget, box: QWidget) -> None:
    """Rewrite ``path`` (the window's picture) with ``box`` drawn where it stands over the window:
    the offscreen platform has no screen to grab, so the two are put together."""
    picture = window.grab()
    painter = QPainter(picture)
    painter.drawPixmap(box.frameGeometry().topLeft() - window.frameGeometry().topLeft(), box.grab())
    painter.end()
    assert picture.save(str(path)), path


def test_edits_and_deletions_are_seen_live_and_delete_is_for_the_author_and_the_rooms_creator(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, alice, "编辑 edits ✂️")
    a_chat = open_room(qtbot, alice, "编辑 edits ✂️")
    b_chat = open_room(qtbot, bob, "编辑 edits ✂️")
    for text in ("你好 bob 😀 tpyo", "second 第二", "a secret 🤫"):
        say(qtbot, a_chat, text)
    say(qtbot, b_chat, "bob's own words 🐝")
    for window in (a_chat, b_chat):
        qtbot.waitUntil(lambda w=window: stored_ids(w, 4), timeout=WAIT)  # type: ignore[misc]
    typo, secret, bobs = (
        item_of(b_chat, t).message_id for t in ("你好 bob 😀 tpyo", "a secret 🤫", "bob's own words 🐝")
    )
    assert typo is not None
    assert secret is not None
    assert bobs is not None
    # Painted once, so the delegates hold the texts laid out.
    screenshot(b_chat, "before")

    # Alice: Up edits her last message; she picks the first one from its menu instead.
    assert menu_texts(a_chat, bobs) == ["Copy text", "Delete…"]  # the room's creator may delete, not edit
    assert menu_texts(b_chat, typo) == ["Copy text"]  # bob may do neither to alice's
    assert menu_texts(b_chat, bobs) == ["Copy text", "Edit", "Delete…"]
    trigger(a_chat, typo, "Edit")
    a_chat.input.selectAll()
    a_chat.input.insertPlainText("你好 bob 😀 typo fixed")
    qtbot.keyClick(a_chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: a_chat.editing is None, timeout=WAIT)
    for window in (a_chat, b_chat):
        qtbot.waitUntil(
            lambda w=window: any(i.text == "你好 bob 😀 typo fixed" and i.edited_at for i in messages_of(w)),  # type: ignore[misc]
            timeout=WAIT,
        )
    assert MessageDelegate._footer(item_of(b_chat, "你好 bob 😀 typo fixed")).endswith(" · edited")

    # Delete asks first (No by default), over the chat window; No keeps the message.
    asked: list[tuple[str, QWidget | None]] = []

    def say_no(question: str, over: QWidget | None = None) -> bool:
        asked.append((question, over))
        return False

    alice.confirm = say_no
    trigger(a_chat, secret, "Delete…")
    assert asked == [
        ("Delete this message? Everyone will see “message deleted” in its place. This cannot be undone.", a_chat)
    ]
    box = show_question_over(qtbot, a_chat, *asked[0])
    assert box.defaultButton() == box.button(box.StandardButton.No)
    screenshot(box, "delete-question")
    picture_over(screenshot(a_chat, "delete-question-over-the-chat-window"), a_chat, box)
    box.close()
    alice.confirm = lambda _question, _over=None: True
    trigger(a_chat, secret, "Delete…")
    trigger(a_chat, bobs, "Delete…")  # the room's creator deletes bob's message
    for window in (a_chat, b_chat):
        qtbot.waitUntil(
            lambda w=window: [i.deleted for i in messages_of(w)] == [False, False, True, True],  # type: ignore[misc]
            timeout=WAIT,
        )
    tombstone = next(i for i in messages_of(b_chat) if i.message_id == bobs)
    assert tombstone.deleted_by is not None
    assert tombstone.deleted_by.username == alice_name
    screenshot(b_chat, "edited-and-deleted-seen-by-bob")
    screenshot(a_chat, "edited-and-deleted-seen-by-alice")
    for window in (a_chat, b_chat):
        assert nowhere(window, "tpyo")
        assert nowhere(window, "a secret")
        assert nowhere(window, "bob's own words")


class CuttableLink:
    """A TCP relay between an app and the server (real sockets) that can be cut and mended:
    while cut, every connection through it is dropped and new ones are closed at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()
                self._writers.discard(sink)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def sever(self) -> None:
        self.cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def mend(self) -> None:
        self.cut = False

    async def stop(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
def link(server: ServerThread, qloop: asyncio.AbstractEventLoop, qtbot: QtBot) -> Iterator[CuttableLink]:
    relay = CuttableLink(server.port or 0)
    started = qloop.create_task(relay.start())
    qtbot.waitUntil(started.done, timeout=WAIT)
    started.result()
    yield relay
    stopped = qloop.create_task(relay.stop())
    qtbot.waitUntil(stopped.done, timeout=WAIT)


async def _edit_and_delete_elsewhere(url: str, username: str, room_id: int, edit: int, delete: int) -> None:
    async with httpx.AsyncClient(base_url=url) as api:
        token = await login(api, username)
        edited = await api.patch(
            f"/api/rooms/{room_id}/messages/{edit}", json={"content": "改过了 changed offline ✅"}, headers=auth(token)
        )
        assert edited.status_code == 200, edited.text
        deleted = await api.delete(f"/api/rooms/{room_id}/messages/{delete}", headers=auth(token))
        assert deleted.status_code == 204, deleted.text


def test_edits_and_deletions_made_while_offline_are_shown_after_the_reconnect(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    server: ServerThread,
    link: CuttableLink,
    qloop: asyncio.AbstractEventLoop,
    screenshot: Shot,
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name = unique_name("alice")
    log_in(qtbot, alice, server, alice_name)
    # Bob reaches the server through a link the test can cut.
    bob.login_window.server.setText(f"127.0.0.1:{link.port}")
    bob.login_window.username.setText(unique_name("bob"))
    bob.login_window.password.setText(PASSWORD)
    qtbot.mouseClick(bob.login_window.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(bob.rooms_window.isVisible, timeout=WAIT)
    create_room(qtbot, alice, "offline 离线")
    a_chat = open_room(qtbot, alice, "offline 离线")
    b_chat = open_room(qtbot, bob, "offline 离线")
    for text in ("will be edited 😀", "will be deleted 🗑️", "stays 保持"):
        say(qtbot, a_chat, text)
    qtbot.waitUntil(lambda: stored_ids(b_chat, 3), timeout=WAIT)
    screenshot(b_chat, "before")
    edit_id, delete_id = (item_of(b_chat, t).message_id for t in ("will be edited 😀", "will be deleted 🗑️"))
    assert edit_id is not None
    assert delete_id is not None
    timeline = b_chat.messages_model.timeline
    rev_before = timeline.rev
    assert rev_before > 0

    link.sever()
    qtbot.waitUntil(lambda: not bob.session.online, timeout=WAIT)
    changed = qloop.create_task(_edit_and_delete_elsewhere(server.url, alice_name, a_chat.room_id, edit_id, delete_id))
    qtbot.waitUntil(changed.done, timeout=WAIT)
    changed.result()
    # Alice (online) saw both at once; bob, cut off, did not.
    qtbot.waitUntil(lambda: any(i.deleted for i in messages_of(a_chat)), timeout=WAIT)
    assert [i.text for i in messages_of(b_chat)] == ["will be edited 😀", "will be deleted 🗑️", "stays 保持"]

    link.mend()
    qtbot.waitUntil(
        lambda: (
            [(i.text, i.deleted) for i in messages_of(b_chat)]
            == [("改过了 changed offline ✅", False), ("", True), ("stays 保持", False)]
        ),
        timeout=WAIT * 2,
    )
    assert item_of(b_chat, "改过了 changed offline ✅").edited_at is not None
    assert timeline.rev > rev_before  # the catch-up's rev, kept for the next one
    screenshot(b_chat, "after-the-reconnect")
    assert nowhere(b_chat, "will be edited")
    assert nowhere(b_chat, "will be deleted")


def test_an_edit_that_cannot_be_saved_keeps_what_was_typed(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, link: CuttableLink, screenshot: Shot
) -> None:
    bob = make_desktop()
    bob.login_window.server.setText(f"127.0.0.1:{link.port}")
    bob.login_window.username.setText(unique_name("bob"))
    bob.login_window.password.setText(PASSWORD)
    qtbot.mouseClick(bob.login_window.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(bob.rooms_window.isVisible, timeout=WAIT)
    create_room(qtbot, bob, "unsaved")
    chat = open_room(qtbot, bob, "unsaved")
    say(qtbot, chat, "first words")
    qtbot.waitUntil(lambda: stored_ids(chat, 1), timeout=WAIT)
    chat.input.insertPlainText("my draft 草稿")
    trigger(chat, item_of(chat, "first words").message_id or 0, "Edit")
    chat.input.selectAll()
    chat.input.insertPlainText("better words ✨")

    link.sever()  # offline: REST cannot reach the server either
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(chat.edit_error.isVisible, timeout=WAIT)
    assert chat.edit_error.text().startswith("Not saved: ")
    assert chat.input.toPlainText() == "better words ✨"
    screenshot(chat, "edit-not-saved-offline")
    link.mend()
    qtbot.waitUntil(lambda: bob.session.online, timeout=WAIT * 2)
    qtbot.keyClick(chat.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: chat.editing is None, timeout=WAIT)
    assert chat.input.toPlainText() == "my draft 草稿"
    qtbot.waitUntil(lambda: [i.text for i in messages_of(chat)] == ["better words ✨"], timeout=WAIT)


@pytest.fixture
def admin_server(sqlite_settings: Settings, qloop: asyncio.AbstractEventLoop) -> Iterator[tuple[ServerThread, str]]:
    """A server with one admin (``--admin NAME``)."""
    name = unique_name("root")
    thread = ServerThread(dataclasses.replace(sqlite_settings, admins=(name,)))
    thread.start()
    yield thread, name
    stop_server(thread)


async def _room_with_message(url: str, text: str) -> tuple[str, int]:
    """Someone else's room with a message of theirs in it: (their name, room id)."""
    owner = unique_name("owner")
    async with httpx.AsyncClient(base_url=url) as api:
        await api.post("/api/register", json={"username": owner, "password": PASSWORD})
        token = await login(api, owner)
        room = (await api.post("/api/rooms", json={"name": "moderated 审核"}, headers=auth(token))).json()
    async with chat_client(url, token) as client:
        await client.send(MsgType.ENTER, {"roomId": room["id"]})
        await client.expect(MsgType.ROOM_STATE)
        await client.say(room["id"], text)
    return owner, int(room["id"])


def test_a_server_admin_may_delete_anyones_message(
    qtbot: QtBot,
    make_desktop: MakeDesktop,
    admin_server: tuple[ServerThread, str],
    qloop: asyncio.AbstractEventLoop,
) -> None:
    server, admin_name = admin_server
    made = qloop.create_task(_room_with_message(server.url, "spam 垃圾"))
    qtbot.waitUntil(made.done, timeout=WAIT)
    made.result()
    admin, someone = make_desktop(), make_desktop()
    log_in(qtbot, admin, server, admin_name)
    log_in(qtbot, someone, server, unique_name("someone"))
    qtbot.waitUntil(lambda: admin.chat.admin is True, timeout=WAIT)
    qtbot.waitUntil(lambda: someone.chat.admin is False, timeout=WAIT)
    a_chat = open_room(qtbot, admin, "moderated 审核")
    s_chat = open_room(qtbot, someone, "moderated 审核")
    qtbot.waitUntil(lambda: stored_ids(a_chat, 1) and stored_ids(s_chat, 1), timeout=WAIT)
    spam = item_of(a_chat, "spam 垃圾").message_id or 0
    assert menu_texts(s_chat, spam) == ["Copy text"]
    assert menu_texts(a_chat, spam) == ["Copy text", "Delete…"]
    admin.confirm = lambda _question, _over=None: True
    trigger(a_chat, spam, "Delete…")
    qtbot.waitUntil(lambda: [i.deleted for i in messages_of(s_chat)] == [True], timeout=WAIT)


def test_a_refused_deletion_is_said_in_the_window(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop
) -> None:
    """The menu only offers what the server allows; should the server still refuse (the
    message went meanwhile), the window says so."""
    alice = make_desktop()
    alice_name = unique_name("alice")
    log_in(qtbot, alice, server, alice_name)
    create_room(qtbot, alice, "gone")
    chat = open_room(qtbot, alice, "gone")
    say(qtbot, chat, "short-lived")
    qtbot.waitUntil(lambda: stored_ids(chat, 1), timeout=WAIT)
    message_id = item_of(chat, "short-lived").message_id or 0
    failed = qloop.create_task(alice.chat.delete_message(chat.room_id, message_id))
    qtbot.waitUntil(failed.done, timeout=WAIT)
    assert failed.result() is True
    again = qloop.create_task(alice.chat.delete_message(chat.room_id, message_id))
    qtbot.waitUntil(again.done, timeout=WAIT)
    assert again.result() is False
    qtbot.waitUntil(chat.notice.isVisible, timeout=WAIT)
    assert chat.notice.text() == "Not deleted: That message is gone already."
