"""Who is typing, how long they are shown, what the line says, and how often the user's own
composing is sent: pure, on a clock the test moves."""

from __future__ import annotations

from gochat.desktop.typing_now import TypingNow, TypingThrottle, typing_line
from gochat.protocol import TYPING_SEND_SECONDS, TYPING_SHOW_SECONDS, User

BOB, CAROL, DAVE = User(2, "bob"), User(3, "carol"), User(4, "张三")


def test_a_name_shows_for_five_seconds_after_its_last_frame() -> None:
    typing = TypingNow()
    assert typing.show_seconds == TYPING_SHOW_SECONDS == 5.0
    assert typing.saw(BOB, 100.0)
    assert typing.names() == ["bob"]
    assert typing.next_expiry() == 105.0
    assert not typing.expire(104.9)
    # Another frame before then: shown 5 s from it, and no change worth redrawing.
    assert not typing.saw(BOB, 103.0)
    assert not typing.expire(105.0)
    assert typing.names() == ["bob"]
    assert typing.expire(108.0)
    assert typing.names() == []
    assert typing.next_expiry() is None


def test_names_keep_their_place_and_go_one_by_one() -> None:
    typing = TypingNow()
    typing.saw(BOB, 0.0)
    typing.saw(CAROL, 1.0)
    typing.saw(BOB, 2.0)  # bob again: still first
    assert typing.names() == ["bob", "carol"]
    assert typing.expire(6.0)
    assert typing.names() == ["bob"]


def test_a_message_from_the_typer_drops_them_at_once() -> None:
    typing = TypingNow()
    typing.saw(BOB, 0.0)
    typing.saw(CAROL, 0.0)
    assert typing.stopped(BOB.id)
    assert typing.names() == ["carol"]
    assert not typing.stopped(BOB.id)  # not typing: nothing changes


def test_the_line_says_one_two_or_several() -> None:
    assert typing_line([]) == ""
    assert typing_line(["bob"]) == "bob is typing…"
    assert typing_line(["bob", "张三"]) == "bob and 张三 are typing…"
    assert typing_line(["bob", "carol", "张三"]) == "several people are typing…"


def test_composing_is_sent_at_most_once_every_three_seconds() -> None:
    throttle = TypingThrottle()
    assert throttle.every == TYPING_SEND_SECONDS == 3.0
    sent = [now for now in (0.0, 0.5, 1.0, 2.9, 3.0, 3.1, 5.9, 6.0, 20.0) if throttle.may_send(now)]
    assert sent == [0.0, 3.0, 6.0, 20.0]
