"""The "Direct messages" section's state: most recent activity first, the newest message,
whether the other person is online. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gochat.desktop.direct import DirectList
from gochat.protocol import DirectConversation, Message, Room, RoomKind, User

ME, BOB, CAROL, DAVE = User(1, "alice"), User(2, "bob"), User(3, "卡罗尔"), User(4, "dave")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def direct(room_id: int, peer: User, created: datetime) -> Room:
    return Room(room_id, peer.username, ME, created, kind=RoomKind.DIRECT, members=(ME, peer))


def message(message_id: int, room_id: int, author: User, at: datetime, text: str = "hi") -> Message:
    return Message(message_id, room_id, author, text, at)


def test_loaded_in_order_of_the_newest_message_or_creation() -> None:
    dms = DirectList()
    dms.load(
        [
            DirectConversation(direct(10, BOB, T0), BOB, message(5, 10, BOB, T0 + timedelta(minutes=5), "你好")),
            DirectConversation(direct(11, CAROL, T0 + timedelta(minutes=9)), CAROL, None),
            DirectConversation(direct(12, DAVE, T0), DAVE, message(3, 12, ME, T0 + timedelta(minutes=1))),
        ]
    )
    assert [e.peer.username for e in dms.ordered()] == ["卡罗尔", "bob", "dave"]
    assert dms.get(10) is not None
    assert dms.get(10).last_text == "你好"
    assert dms.room_ids() == {10, 11, 12}


def test_a_new_message_moves_its_room_to_the_top_once() -> None:
    dms = DirectList()
    dms.load(
        [DirectConversation(direct(10, BOB, T0), BOB, None), DirectConversation(direct(11, CAROL, T0), CAROL, None)]
    )
    assert [e.room.id for e in dms.ordered()] == [11, 10]  # same time: the newer room first
    assert dms.message(message(7, 10, BOB, T0 + timedelta(seconds=30), "first"))
    assert [e.room.id for e in dms.ordered()] == [10, 11]
    assert not dms.message(message(7, 10, BOB, T0 + timedelta(seconds=30)))  # the ACK after the broadcast
    assert not dms.message(message(8, 99, BOB, T0))  # not a direct room
    assert dms.get(10).last_text == "first"  # type: ignore[union-attr]


def test_a_room_met_later_is_added_once_with_the_other_member_as_peer() -> None:
    dms = DirectList()
    room = direct(20, DAVE, T0)
    assert dms.add(room, ME)
    assert not dms.add(room, ME)
    entry = dms.get(20)
    assert entry is not None
    assert entry.peer == DAVE
    assert entry.last_text == ""
    assert 20 in dms
    assert len(dms) == 1


def test_online_dots_follow_the_person_and_survive_a_reload() -> None:
    dms = DirectList()
    dms.load([DirectConversation(direct(10, BOB, T0), BOB, None)])
    assert dms.set_online(BOB.id, True) == [10]
    assert dms.set_online(BOB.id, True) == []
    dms.load([DirectConversation(direct(10, BOB, T0), BOB, None)])
    assert dms.get(10).online  # type: ignore[union-attr]
    dms.clear()
    assert len(dms) == 0
