"""RoomHub and ChatService presence logic without sockets: connections are lists."""

from __future__ import annotations

from gochat.protocol import MsgType
from gochat.server.hub import RoomHub
from gochat.server.records import UserRecord
from tests.helpers import decode_envelope
from tests.server.memory import MemoryConnection

ALICE = UserRecord(1, "alice")
BOB = UserRecord(2, "bob")


def joined(hub: RoomHub, connection: MemoryConnection, room_id: int) -> bool:
    first = hub.enter(connection, room_id)
    hub.finish_join(connection, room_id, 0)
    return first


def test_presence_counts_users_not_connections() -> None:
    hub = RoomHub()
    phone, laptop, bob = MemoryConnection(ALICE), MemoryConnection(ALICE), MemoryConnection(BOB)
    for c in (phone, laptop, bob):
        hub.register(c)
    assert joined(hub, phone, 7) is True
    assert joined(hub, laptop, 7) is False  # alice was already present
    assert joined(hub, bob, 7) is True
    assert hub.online(7) == 2
    assert hub.members(7) == [ALICE, BOB]
    assert hub.leave(phone, 7) is False
    assert hub.unregister(laptop) == [7]
    assert hub.members(7) == [BOB]


def test_broadcast_reaches_the_room_only_and_can_exclude() -> None:
    hub = RoomHub()
    a, b, outsider = MemoryConnection(ALICE), MemoryConnection(BOB), MemoryConnection(UserRecord(3, "carol"))
    for c in (a, b, outsider):
        hub.register(c)
    joined(hub, a, 1)
    joined(hub, b, 1)
    assert hub.broadcast(1, "frame", exclude=a) == 1
    assert (a.frames, b.frames, outsider.frames) == ([], ["frame"], [])


def test_frames_during_a_join_wait_and_skip_what_history_carried() -> None:
    hub = RoomHub()
    a = MemoryConnection(ALICE)
    hub.register(a)
    hub.enter(a, 1)
    hub.broadcast(1, "m10", message_id=10)
    hub.broadcast(1, "presence")
    hub.broadcast(1, "m11", message_id=11)
    assert a.frames == []
    hub.finish_join(a, 1, history_upto=10)
    assert a.frames == ["presence", "m11"]
    hub.broadcast(1, "m12", message_id=12)
    assert a.frames[-1] == "m12"


def test_close_all_and_by_token() -> None:
    hub = RoomHub()
    a, b = MemoryConnection(ALICE, token_hash="x"), MemoryConnection(BOB, token_hash="y")
    hub.register(a)
    hub.register(b)
    hub.close_all(4001, "logged out", hub.connections_with_token("x"))
    assert a.closed == (4001, "logged out")
    assert b.closed is None
    hub.close_all(1001, "bye")
    assert b.closed == (1001, "bye")


def test_room_created_goes_to_everyone() -> None:
    hub = RoomHub()
    a = MemoryConnection(ALICE)
    hub.register(a)
    hub.broadcast_everyone('{"msgType":8,"data":{}}')
    assert decode_envelope(a.frames[0]).msg_type == MsgType.ROOM_CREATED


def test_watchers_get_messages_once_and_never_presence() -> None:
    hub = RoomHub()
    present, watcher, both = MemoryConnection(ALICE), MemoryConnection(BOB), MemoryConnection(UserRecord(3, "carol"))
    for c in (present, watcher, both):
        hub.register(c)
    joined(hub, present, 7)
    assert hub.watch(watcher, 7) is True  # held until its reply is sent
    hub.finish_join(watcher, 7, 0)
    joined(hub, both, 7)
    assert hub.watch(both, 7) is False  # present already: nothing to hold
    assert hub.online(7) == 2
    assert hub.members(7) == [ALICE, UserRecord(3, "carol")]
    hub.broadcast(7, "for the present")
    hub.broadcast(7, "message", message_id=1, watchers=True)
    assert present.frames == ["for the present", "message"]
    assert watcher.frames == ["message"]
    assert both.frames == ["for the present", "message"]  # once, though present and watching
    assert hub.may_send(watcher, 7)
    assert not hub.is_in(watcher, 7)


def test_a_watch_outlives_leaving_and_ends_with_the_connection() -> None:
    hub = RoomHub()
    c = MemoryConnection(ALICE)
    hub.register(c)
    hub.watch(c, 7)
    hub.finish_join(c, 7, 0)
    joined(hub, c, 7)
    assert hub.leave(c, 7) is True
    assert hub.is_watching(c, 7)
    hub.broadcast(7, "message", message_id=1, watchers=True)
    assert c.frames == ["message"]
    hub.unregister(c)
    assert not hub.is_watching(c, 7)
    assert hub.broadcast(7, "message", message_id=2, watchers=True) == 0
    assert hub.connected_user_ids() == set()


def test_frames_held_while_a_watch_is_set_up_skip_what_the_count_covered() -> None:
    hub = RoomHub()
    c = MemoryConnection(ALICE)
    hub.register(c)
    hub.watch(c, 7)
    hub.broadcast(7, "m5", message_id=5, watchers=True)
    hub.broadcast(7, "m6", message_id=6, watchers=True)
    assert c.frames == []
    hub.finish_join(c, 7, 5)  # the reply counted up to 5
    assert c.frames == ["m6"]


def test_people_are_counted_once_across_devices() -> None:
    hub = RoomHub()
    phone, laptop, bob = MemoryConnection(ALICE), MemoryConnection(ALICE), MemoryConnection(BOB)
    for c in (phone, laptop, bob):
        hub.register(c)
    assert (hub.connection_count, len(hub.connected_user_ids())) == (3, 2)
    assert hub.connected_user_ids() == {1, 2}
    hub.unregister(phone)
    assert hub.connections_of_user(1) == [laptop]
