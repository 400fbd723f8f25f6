"""Mentions in the desktop (issue 13): "@name" highlighted in bubbles (the user's own name more
strongly, and the bubble marked), Tab completing "@na…" in the composer from the room's members
and recent authors, and notifications for mentions of the user — with the room's window closed,
muted or not, once per message — whose click opens the room."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from gochat.desktop.chat.bubbletext import MENTION_OF_YOU_MARK
from gochat.desktop.chat.delegates import MessageDelegate
from gochat.desktop.chat.models import MemberListModel, MessageListModel
from gochat.desktop.chat.window import ChatWindow
from gochat.desktop.state import Timeline
from gochat.protocol import Mentioned, Message, MessageDeleted, MessageEdited, MessagePosted, MsgType, User
from gochat.server.runner import ServerThread
from tests.desktop.test_desktop import WAIT, MakeDesktop, Shot, create_room, log_in, open_room, texts
from tests.helpers import chat_client, login, unique_name

ME = User(1, "meimei")
AMIRA = User(2, "amira")
NADIA = User(3, "Nadia")
ZHANG = User(4, "张三丰")


def stored(
    message_id: int, text: str, author: User = AMIRA, mentions: tuple[User, ...] = (), room_id: int = 1
) -> Message:
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10) + timedelta(seconds=message_id)
    return Message.from_wire(
        {
            "id": message_id,
            "roomId": room_id,
            "author": {"id": author.id, "username": author.username},
            "content": text,
            "createdAt": created.isoformat(),
            "rev": message_id,
            "mentions": [{"id": u.id, "username": u.username} for u in mentions],
            "editedAt": None,
            "deleted": False,
        }
    )


def window_over(qtbot: QtBot, messages: list[Message], members: list[User]) -> ChatWindow:
    timeline = Timeline(me=ME)
    model = MessageListModel(timeline)
    model.apply(timeline.add_history(messages))
    member_model = MemberListModel()
    member_model.reset(members)
    window = ChatWindow(1, "提及 @ mentions", model, member_model)
    qtbot.addWidget(window)
    window.set_loaded()
    window.resize(760, 520)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_mentions_are_highlighted_and_the_users_own_name_stands_out(qtbot: QtBot, screenshot: Shot) -> None:
    window = window_over(
        qtbot,
        [
            stored(1, "@meimei 你好！看看这个 😀", mentions=(ME,)),
            stored(2, "@Nadia and @张三丰你好, not bob@example.com", mentions=(NADIA, ZHANG)),
            stored(3, "thanks @amira 👍", ME, mentions=(AMIRA,)),
            stored(4, "plain words, @nobody here"),
        ],
        [ME, AMIRA, NADIA, ZHANG],
    )
    model = window.messages_model
    delegate = window.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)

    def laid(row: int) -> list[tuple[int, int, bool]]:
        option = QStyleOptionViewItem()
        window.view.initViewItemOption(option)
        option.rect = window.view.visualRect(model.index(row))
        text = delegate.geometry(option, model.index(row)).text
        assert text is not None
        return list(text.mentions)

    assert laid(0) == [(0, 7, True)]
    assert model.item(0).mentions_me
    assert laid(1) == [(0, 6, False), (11, 15, False)]  # 张三丰 ends where 你好 begins
    assert laid(2) == [(7, 13, False)]
    assert laid(3) == []  # nobody registered by that name: nothing highlighted
    # The mark on the user's own name is drawn: its amber is in the picture.
    picture = window.view.viewport().grab().toImage()
    amber = {
        (picture.pixelColor(x, y).red(), picture.pixelColor(x, y).green(), picture.pixelColor(x, y).blue())
        for x in range(0, picture.width(), 2)
        for y in range(0, min(picture.height(), 140), 2)
    }
    assert (MENTION_OF_YOU_MARK.red(), MENTION_OF_YOU_MARK.green(), MENTION_OF_YOU_MARK.blue()) in amber
    screenshot(window, "mentions-highlighted")


def test_tab_completes_a_name_from_members_and_recent_authors_and_cycles(qtbot: QtBot, screenshot: Shot) -> None:
    someone = User(9, "nathan")  # wrote lately, not online now
    window = window_over(qtbot, [stored(1, "hello", someone)], [ME, AMIRA, NADIA, ZHANG])
    composer = window.input
    composer.setFocus()
    composer.insertPlainText("你好 😀 @NA")
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "你好 😀 @nathan "  # recent authors first
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "你好 😀 @Nadia "
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "你好 😀 @nathan "  # round again
    qtbot.keyClicks(composer, "x")
    assert composer.toPlainText() == "你好 😀 @nathan x"
    screenshot(window, "completed")
    # Chinese names, and the cursor where the name ends.
    composer.clear()
    composer.insertPlainText("@张")
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "@张三丰 "
    assert composer.textCursor().position() == len("@张三丰 ")
    # Never the user's own name; with nothing to complete, Tab is a tab as before.
    composer.clear()
    composer.insertPlainText("@mei")
    qtbot.keyClick(composer, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "@mei\t"


def test_a_mention_notifies_once_even_in_a_muted_room_and_plain_messages_there_do_not(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread
) -> None:
    """A watched room delivers the message and MENTIONED too (in either order): one notification."""
    bob = make_desktop()
    bob_name = unique_name("bob")
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, bob, "hushed 安静")
    chat = open_room(qtbot, bob, "hushed 安静")
    room_id = chat.room_id
    chat.close()
    qtbot.waitUntil(lambda: room_id not in bob.chat_windows, timeout=WAIT)
    bob.set_room_muted(room_id, True)
    me = bob.session.me
    assert me is not None
    amira = User(990001, "amira")
    plain = stored(900, "nothing for bob", amira, room_id=room_id)
    calling = stored(901, f"@{bob_name} 快来看 👀", amira, mentions=(me,), room_id=room_id)
    shown = len(bob.notifier.shown)
    bob.session._on_frame(MessagePosted(plain))
    bob.session._on_frame(Mentioned(calling))
    bob.session._on_frame(MessagePosted(calling))
    qtbot.waitUntil(lambda: len(bob.notifier.shown) > shown, timeout=WAIT)
    new = bob.notifier.shown[shown:]
    assert [(n.message_id, n.title) for n in new] == [(901, "amira mentioned you in hushed 安静")]
    # Edited, then deleted: what the notifier remembers of it never keeps the old text.
    bob.session._on_frame(MessageEdited(stored(901, f"@{bob_name} 改了 ✏️", amira, mentions=(me,), room_id=room_id)))
    assert bob.notifier.shown[-1].text == f"@{bob_name} 改了 ✏️"
    bob.session._on_frame(MessageDeleted(room_id, 901, amira, 999))
    assert bob.notifier.shown[-1].text == "message deleted"


async def _mention(url: str, author: str, room_id: int, text: str) -> int:
    async with httpx.AsyncClient(base_url=url) as api:
        token = await login(api, author)
    async with chat_client(url, token) as client:
        await client.send(MsgType.ENTER, {"roomId": room_id})
        await client.expect(MsgType.ROOM_STATE)
        return int((await client.say(room_id, text)).data["message"]["id"])


def test_being_mentioned_in_a_room_never_entered_notifies_and_the_click_opens_it(
    qtbot: QtBot, make_desktop: MakeDesktop, server: ServerThread, qloop: asyncio.AbstractEventLoop, screenshot: Shot
) -> None:
    alice, bob = make_desktop(), make_desktop()
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    log_in(qtbot, alice, server, alice_name)
    log_in(qtbot, bob, server, bob_name)
    create_room(qtbot, alice, "somewhere else 别处")
    a_chat = open_room(qtbot, alice, "somewhere else 别处")
    room_id = a_chat.room_id
    # Bob never entered it: it is not his, not followed, its window never opened.
    bob.rooms.known.pop(room_id, None)
    sent = qloop.create_task(_mention(server.url, alice_name, room_id, f"@{bob_name} 你怎么看？ 🤔"))
    qtbot.waitUntil(sent.done, timeout=WAIT)
    message_id = sent.result()
    qtbot.waitUntil(lambda: any(n.message_id == message_id for n in bob.notifier.shown), timeout=WAIT)
    notification = next(n for n in bob.notifier.shown if n.message_id == message_id)
    assert notification.title == f"{alice_name} mentioned you in somewhere else 别处"
    assert notification.text == f"@{bob_name} 你怎么看？ 🤔"
    bob.notifier.activated.emit(notification.room_id, notification.message_id)  # what the tray's click says
    qtbot.waitUntil(lambda: room_id in bob.chat_windows, timeout=WAIT)
    chat = bob.chat_windows[room_id]
    qtbot.waitUntil(lambda: f"@{bob_name} 你怎么看？ 🤔" in texts(chat), timeout=WAIT)
    item = next(i for i in chat.messages_model.timeline.items() if i.message_id == message_id)
    assert item.mentions_me
    screenshot(chat, "opened-from-the-mention")
