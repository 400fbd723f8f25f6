"""Records' wire encoding: the hand-built message JSON is exactly what the general encoder gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from gochat.protocol import dumps
from gochat.server.records import MessageRecord, UserRecord

_moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)) | st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)


@given(
    message_id=st.integers(min_value=1, max_value=2**63 - 1),
    room_id=st.integers(min_value=1, max_value=2**63 - 1),
    author_id=st.integers(min_value=1, max_value=2**63 - 1),
    username=st.text(max_size=32),
    content=st.text(max_size=300),
    created_at=_moments,
    client_msg_id=st.none() | st.text(max_size=64),
)
def test_wire_json_is_exactly_the_general_encoding(
    message_id: int,
    room_id: int,
    author_id: int,
    username: str,
    content: str,
    created_at: datetime,
    client_msg_id: str | None,
) -> None:
    record = MessageRecord(message_id, room_id, UserRecord(author_id, username), content, created_at, client_msg_id)
    assert record.wire_json() == dumps(record.to_wire())


def test_wire_json_keeps_chinese_emoji_quotes_and_markup_as_text() -> None:
    record = MessageRecord(7, 3, UserRecord(1, "小明"), '你好 😀 "<b>hi</b>"\n', datetime(2026, 11, 27, 8, 0), "c-1")
    assert record.wire_json() == (
        '{"id":7,"roomId":3,"author":{"id":1,"username":"小明"},'
        '"content":"你好 😀 \\"<b>hi</b>\\"\\n","createdAt":"2026-11-27T08:00:00.000Z","clientMsgId":"c-1"}'
    )
