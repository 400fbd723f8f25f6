"""The desktop's pure state: timelines, pending messages, unread counts. No Qt, no sockets."""

from __future__ import annotations

import json
from typing import Any

from gochat.desktop.state import Inserted, Kind, Outbox, Removed, Status, Timeline, UnreadCounts, Updated
from gochat.protocol import Message, User

ME = User(1, "me")
YOU = User(2, "you")


def wire(message_id: int, author: User = YOU, text: str | None = None, client_msg_id: str | None = None) -> Message:
    """A message as the server sends it, decoded as the desktop decodes it."""
    data: dict[str, Any] = {
        "id": message_id,
        "roomId": 9,
        "author": {"id": author.id, "username": author.username},
        "content": text or f"m{message_id}",
        "createdAt": "2026-11-27T06:48:45.123Z",
    }
    if client_msg_id is not None:
        data["clientMsgId"] = client_msg_id
    return Message.from_wire(data)


def test_messages_are_kept_in_id_order_once() -> None:
    timeline = Timeline(me=ME)
    timeline.add_history([wire(5), wire(6)], has_older=True)
    assert timeline.add_message(wire(6)) == []  # a duplicate changes nothing
    assert timeline.add_message(wire(8)) == [Inserted(2, 1)]
    assert timeline.add_message(wire(7)) == [Inserted(2, 1)]  # resume fills the gap in place
    assert timeline.add_history([wire(3), wire(4)]) == [Inserted(0, 1), Inserted(1, 1)]
    assert [i.message_id for i in timeline.items()] == [3, 4, 5, 6, 7, 8]
    assert (timeline.oldest_id, timeline.last_id, timeline.has_older) == (3, 8, True)


def test_pending_shows_at_once_then_becomes_the_stored_message() -> None:
    timeline = Timeline(me=ME)
    timeline.add_message(wire(1))
    item, changes = timeline.add_pending("hello")
    assert changes == [Inserted(1, 1)]
    assert (item.status, item.mine, timeline[1].text) == (Status.PENDING, True, "hello")
    timeline.add_message(wire(2, YOU))  # someone else's message lands before ours
    assert [i.text for i in timeline.items()] == ["m1", "m2", "hello"]
    changes = timeline.add_message(wire(3, ME, "hello", item.client_msg_id))
    assert changes == [Removed(2), Inserted(2, 1)]
    assert [(i.text, i.status) for i in timeline.items()] == [
        ("m1", Status.SENT),
        ("m2", Status.SENT),
        ("hello", Status.SENT),
    ]
    assert timeline.acknowledge(item.client_msg_id or "", wire(3, ME, "hello", item.client_msg_id)) == []


def test_failed_messages_are_marked_and_can_be_retried() -> None:
    timeline = Timeline(me=ME)
    item, _ = timeline.add_pending("oops")
    assert timeline.mark_failed(item.client_msg_id or "") == [Updated(0)]
    assert timeline[0].status is Status.FAILED
    assert timeline.mark_pending(item.client_msg_id or "") == [Updated(0)]
    assert (timeline[0].text, timeline[0].status) == ("oops", Status.PENDING)


def test_system_lines_stay_where_they_happened() -> None:
    timeline = Timeline(me=ME)
    timeline.add_message(wire(1))
    timeline.add_system("you entered")
    timeline.add_message(wire(2))
    timeline.add_history([wire(0)])
    assert [(i.kind, i.text) for i in timeline.items()] == [
        (Kind.MESSAGE, "m0"),
        (Kind.MESSAGE, "m1"),
        (Kind.SYSTEM, "you entered"),
        (Kind.MESSAGE, "m2"),
    ]


def test_unread_counts_only_others_messages_in_rooms_not_looked_at() -> None:
    unread = UnreadCounts()
    assert unread.arrived(1, 10, seen=False, mine=False) is True
    assert unread.arrived(1, 11, seen=False, mine=True) is False
    assert unread.arrived(1, 12, seen=True, mine=False) is False
    assert unread.arrived(2, 13, seen=False, mine=False) is True
    assert (unread.get(1), unread.get(2)) == (1, 1)
    assert unread.read(1, 12) is True
    assert (unread.get(1), unread.get(2), unread.last_read_id(1)) == (0, 1, 12)
    assert unread.read(1, 12) is False  # nothing new to tell the server


def test_unread_counts_start_from_the_server_and_count_each_message_once() -> None:
    unread = UnreadCounts()
    unread.reset(1, last_read_id=40, unread=3, counted_upto=43)
    assert unread.arrived(1, 43, seen=False, mine=False) is False  # already in the server's count
    assert unread.arrived(1, 44, seen=False, mine=False) is True
    assert unread.arrived(1, 44, seen=False, mine=False) is False  # the same message again
    assert unread.get(1) == 4
    # Without a marker every message from someone else counts.
    unread.reset(2, last_read_id=None, unread=0)
    assert unread.arrived(2, 5, seen=False, mine=False) is True
    assert unread.last_read_id(2) is None
    # A read on another device (READ) is the new truth.
    unread.reset(1, last_read_id=44, unread=0)
    assert unread.get(1) == 0
    assert unread.arrived(1, 44, seen=False, mine=False) is False


def test_a_count_made_before_the_server_heard_of_a_read_here_moves_nothing_back() -> None:
    """After a reconnect the reply to watching an open room can carry the server's count from
    before the window read what the re-entry brought (found in a trial against a cluster)."""
    unread = UnreadCounts()
    unread.reset(1, last_read_id=76, unread=1, counted_upto=77)  # entering: 77 is new
    assert unread.read(1, 77) is True  # the open window shows it
    unread.reset(1, last_read_id=76, unread=1, counted_upto=77)  # watching: the same old count
    assert (unread.get(1), unread.last_read_id(1)) == (0, 77)
    # A count covering messages past the read here stands (it may include one read here: the
    # next read corrects it); the marker stays.
    unread.reset(1, last_read_id=76, unread=3, counted_upto=79)
    assert (unread.get(1), unread.last_read_id(1)) == (3, 77)
    # Without counted_upto (the room list) the count covers what is known here.
    unread.reset(2, last_read_id=5, unread=0, counted_upto=9)
    assert unread.read(2, 9) is True
    unread.reset(2, last_read_id=5, unread=4)
    assert (unread.get(2), unread.last_read_id(2)) == (0, 9)
    # The server's marker past the one here is the new truth.
    unread.reset(2, last_read_id=12, unread=0, counted_upto=12)
    assert unread.last_read_id(2) == 12


def test_the_outbox_keeps_pending_messages_for_the_account_and_survives_a_restart() -> None:
    outbox = Outbox()
    timeline = Timeline(me=ME, pending=outbox.room(9))
    item, _ = timeline.add_pending("typed offline", "c1")
    assert outbox.rooms_with_messages() == [9]
    del timeline  # the window closed: the message is still the account's
    saved = json.loads(json.dumps(outbox.to_json()))
    restarted = Outbox()
    restarted.load(saved, ME)
    restarted.load(saved, ME)  # loading twice keeps one copy
    [kept] = restarted.room(9)
    assert (kept.text, kept.client_msg_id, kept.status, kept.created_at) == (
        "typed offline",
        "c1",
        Status.PENDING,
        item.created_at,
    )
    reopened = Timeline(me=ME, pending=restarted.room(9))
    assert [(i.text, i.status) for i in reopened.pending] == [("typed offline", Status.PENDING)]
    reopened.add_message(wire(5, ME, "typed offline", "c1"))  # acknowledged
    assert restarted.rooms_with_messages() == []
    restarted.load([{"roomId": "x"}, {"nonsense": 1}], ME)  # damaged entries are skipped
    assert len(restarted) == 0
    assert restarted.remove("c1") is False  # nothing left to remove, nothing removed


def test_the_new_messages_line_goes_where_the_user_left_off() -> None:
    timeline = Timeline(me=ME)
    timeline.add_history([wire(1), wire(2), wire(3, ME), wire(4), wire(5)])
    assert timeline.mark_unread_after(3) == [Inserted(3, 1)]
    assert [i.kind for i in timeline.items()][2:5] == [Kind.MESSAGE, Kind.UNREAD_LINE, Kind.MESSAGE]
    assert timeline.mark_unread_after(1) == []  # once per opening
    assert (timeline.last_id, timeline.oldest_id) == (5, 1)
    only_mine_after = Timeline(me=ME)
    only_mine_after.add_history([wire(1), wire(2, ME)])
    assert only_mine_after.mark_unread_after(1) == []  # nothing from others to point at


def test_dropping_older_rows_keeps_the_newest_and_pending_and_says_older_exist() -> None:
    timeline = Timeline(me=ME)
    timeline.add_history([wire(i) for i in range(1, 11)], has_older=False)
    timeline.add_system("you entered")
    timeline.add_pending("typed", "c1")
    assert timeline.drop_older(20) == []  # nothing beyond the window: nothing changes
    assert timeline.drop_older(4) == [Removed(0, 7)]
    assert [i.message_id for i in timeline.confirmed] == [8, 9, 10, None]
    assert [i.text for i in timeline.pending] == ["typed"]
    # The dropped messages are on the server: older pages load again from the oldest kept.
    assert (timeline.oldest_id, timeline.last_id, timeline.has_older) == (8, 10, True)
    assert timeline.add_history([wire(i) for i in range(3, 8)], has_older=True) == [Inserted(i, 1) for i in range(5)]
    assert [i.message_id for i in timeline.confirmed] == [3, 4, 5, 6, 7, 8, 9, 10, None]


def test_dropping_only_system_lines_does_not_invent_older_messages() -> None:
    timeline = Timeline(me=ME)
    timeline.add_system("you entered")
    timeline.add_system("she entered")
    timeline.add_history([wire(1)], has_older=False)
    assert timeline.drop_older(1) == [Removed(0, 2)]
    assert timeline.has_older is False


# -- issue 13: edits, deletions, catching up, mentions ----------------------------------------------


def stored(
    message_id: int,
    rev: int,
    text: str = "",
    author: User = YOU,
    *,
    deleted: bool = False,
    edited: bool = False,
    mentions: tuple[User, ...] = (),
) -> Message:
    """A message as the server sends it now: with its rev, and edited or a tombstone."""
    return Message.from_wire(
        {
            "id": message_id,
            "roomId": 9,
            "author": {"id": author.id, "username": author.username},
            "content": "" if deleted else (text or f"m{message_id}"),
            "createdAt": "2026-11-27T06:48:45.123Z",
            "rev": rev,
            "mentions": [{"id": u.id, "username": u.username} for u in mentions],
            "editedAt": "2026-11-27T06:50:00.000Z" if edited else None,
            "deleted": deleted,
        }
    )


def test_an_edit_replaces_the_text_in_place_and_keeps_nothing_of_the_old() -> None:
    timeline = Timeline(me=ME)
    timeline.add_history([stored(1, 10, "你好 world"), stored(2, 11, "second 😀")])
    assert timeline.replace_message(stored(1, 20, "你好 世界 (fixed)", edited=True)) == [Updated(0)]
    item = timeline[0]
    assert (item.text, item.rev, item.edited_at is not None, item.key) == ("你好 世界 (fixed)", 20, True, (1, 0))
    # Nothing in the timeline holds the old text any more.
    assert "你好 world" not in repr(timeline.items())
    # An older state (a late frame, a page fetched before the edit) never undoes the edit.
    assert timeline.replace_message(stored(1, 10, "你好 world")) == []
    assert timeline.add_message(stored(1, 10, "你好 world")) == []
    assert timeline[0].text == "你好 世界 (fixed)"
    # An edit of a message not loaded (older than what is shown) changes nothing.
    assert timeline.replace_message(stored(99, 30, "far back", edited=True)) == []
    assert len(timeline) == 2


MEI = User(1, "meimei")  # mentionable: a name of 3 characters at least


def test_a_deletion_leaves_a_tombstone_in_its_place() -> None:
    timeline = Timeline(me=MEI)
    timeline.add_history([stored(1, 10), stored(2, 11, "bye @meimei", mentions=(MEI,)), stored(3, 12)])
    assert timeline[1].mentions_me
    assert timeline[1].mention_spans == ((4, 11, True),)
    admin = User(7, "admin")
    assert timeline.tombstone(2, admin, 30) == [Updated(1)]
    item = timeline[1]
    assert (item.deleted, item.text, item.deleted_by, item.rev, item.mention_spans, item.mentions_me) == (
        True,
        "",
        admin,
        30,
        (),
        False,
    )
    assert [i.message_id for i in timeline.items()] == [1, 2, 3]  # still in its place
    assert timeline.tombstone(2, admin, 31) == []  # once
    # History (or a catch-up) shows the same tombstone: who deleted it stays known.
    assert timeline.replace_message(stored(2, 30, deleted=True)) == []
    assert timeline.replace_message(stored(2, 32, deleted=True)) == [Updated(1)]
    assert timeline[1].deleted_by == admin
    # A tombstone from history is shown as one from the start.
    fresh = Timeline(me=ME)
    fresh.add_history([stored(5, 40, deleted=True)])
    assert (fresh[0].deleted, fresh[0].text) == (True, "")


def test_catching_up_replaces_by_id_and_keeps_the_replys_rev() -> None:
    timeline = Timeline(me=ME)
    timeline.add_history([stored(1, 10), stored(2, 11), stored(3, 12)])
    timeline.note_rev(12)
    assert timeline.rev == 12
    changes = timeline.apply_changed([stored(1, 15, "edited", edited=True), stored(3, 16, deleted=True)], 17)
    assert changes == [Updated(0), Updated(2)]
    assert [(i.text, i.deleted) for i in timeline.items()] == [("edited", False), ("m2", False), ("", True)]
    assert timeline.rev == 17
    timeline.note_rev(5)  # never backwards
    timeline.note_rev(None)
    assert timeline.rev == 17


def test_mentions_are_found_where_the_server_found_them_and_yours_are_marked() -> None:
    amy = User(3, "Amy")
    timeline = Timeline(me=MEI)
    timeline.add_history([stored(1, 1, "@amy 看 @meimei你好 and @nobody 😀", mentions=(amy, MEI))])
    assert timeline[0].mention_spans == ((0, 4, False), (7, 14, True))
    assert timeline[0].mentions_me
    timeline.add_history([stored(2, 2, "@amy only", mentions=(amy,))])
    assert (timeline[1].mention_spans, timeline[1].mentions_me) == (((0, 4, False),), False)


def test_the_last_own_message_and_recent_authors() -> None:
    timeline = Timeline(me=ME)
    amy = User(3, "Amy")
    timeline.add_history([stored(1, 1, author=ME), stored(2, 2, author=amy), stored(3, 3, author=ME), stored(4, 4)])
    own = timeline.last_own_message()
    assert own is not None
    assert own.message_id == 3
    timeline.tombstone(3, ME, 9)
    own = timeline.last_own_message()
    assert own is not None
    assert own.message_id == 1
    assert timeline.message(2) is not None
    assert timeline.message(42) is None
    assert [u.username for u in timeline.recent_authors()] == ["you", "me", "Amy"]
    timeline.tombstone(1, ME, 10)
    assert timeline.last_own_message() is None
