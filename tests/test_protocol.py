"""The pure protocol module: validation rules and frame encoding, no sockets."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gochat import protocol
from gochat.protocol import (
    EnterRoom,
    LeaveRoom,
    MsgType,
    ProtocolError,
    SendMessage,
    SyncRoom,
    ValidationError,
    decode_client_frame,
    decode_server_frame,
    encode_client_frame,
)


@pytest.mark.parametrize("name", ["abc", "张伟明", "Ελένη_-9", "नमस्ते", "x" * 32, "O'Brien".replace("'", "")])
def test_valid_usernames(name: str) -> None:
    assert protocol.validate_username(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 33, "a b", "a.b", "😀😀😀", "\u0301ab", "", None, 5])
def test_invalid_usernames(name: object) -> None:
    with pytest.raises(ValidationError) as error:
        protocol.validate_username(name)
    assert error.value.field == "username"


def test_username_key_folds_case_but_not_accents() -> None:
    assert protocol.username_key("ALICE") == protocol.username_key("alice")
    assert protocol.username_key("Straße") == protocol.username_key("STRASSE")
    assert protocol.username_key("José") != protocol.username_key("Jose")
    # Composed and decomposed forms of the same name are one name.
    assert protocol.username_key("Jos\u00e9") == protocol.username_key("Jose\u0301")


REAL_NAMES = [
    "中文名字", "王小明", "日本語", "山田太郎", "やまだ", "ヤマダ", "ひらがなカタカナ漢字", "田中Tanaka",
    "한국어", "김민수", "Ελληνικά", "Σωκράτης", "Русский", "Ольга", "Їжак", "José", "Jose\u0301", "O'Brien",
    "O\u2019Brien", "Zoë", "Łukasz",
    "Søren", "Nguyễn", "Đặng", "Müller", "Ñandú", "Şahin", "İlkay", "çağlar", "Ærø", "Björk", "محمد", "עברית",
    "हिन्दी", "राम", "தமிழ்", "สมชาย", "ქართული", "Հայերեն", "john_doe", "mary-jane", "bob123", "alice2024", "user_٣٤",
]  # fmt: skip


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_in_one_script_are_valid(name: str) -> None:
    assert protocol.validate_username(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("victim\u3164", "invisible or blank character (U+3164)"),
        ("\u115fvictim", "invisible or blank character (U+115F)"),
        ("vic\u1160tim", "invisible or blank character (U+1160)"),
        ("victim\uffa0", "invisible or blank character (U+FFA0)"),
        ("vic\u200btim", "invisible or blank character (U+200B)"),
        ("vic\u200dtim", "invisible or blank character (U+200D)"),
        ("victim\u2800", "invisible or blank character (U+2800)"),
        ("vic\u00adtim", "invisible or blank character (U+00AD)"),
        ("v\u0456ctim", "mixes scripts"),  # Cyrillic і
        ("vi\u0441tim", "mixes scripts"),  # Cyrillic с
        ("\u03bdictim", "mixes scripts"),  # Greek ν
        ("paypa\u03bf", "mixes scripts"),  # Greek ο
        ("\U0001d42fictim", "compatibility forms"),  # mathematical bold 𝐯
        ("\uff56ictim", "compatibility forms"),  # fullwidth ｖ
        ("victim\uff11", "compatibility forms"),  # fullwidth １
        ("abc1\u0663", "digits of different number systems"),
        ("victim\u0301\u0301", "repeats a combining mark"),
        ("\u0301\u0302\u0303", "only letters, digits"),  # marks only
        ("'quoted", "only letters, digits"),  # an apostrophe is never first
    ],
)
def test_invisible_styled_and_mixed_names_are_refused_saying_which_rule(name: str, rule: str) -> None:
    with pytest.raises(ValidationError) as error:
        protocol.validate_username(name)
    assert error.value.field == "username"
    assert rule in error.value.message


def test_a_mark_added_to_a_name_makes_a_look_alike_but_composition_changes_nothing() -> None:
    skeleton = protocol.username_skeleton
    # A decomposed é is the same name as José, by key and by look.
    assert protocol.username_key("Jose\u0301") == protocol.username_key("José")
    # José, Jose, victiḿ, victiṃ: marks that sit on any letter do not make a new name.
    assert skeleton("José") == skeleton("Jose") == skeleton("JOSE")
    assert skeleton("victim") == skeleton("victim\u0301") == skeleton("victim\u0323") == skeleton("vi\u0308ctim")
    assert skeleton("victim") == skeleton("victirn")  # m and rn, UTS #39's own example
    assert skeleton("O'Brien") == skeleton("O\u2019Brien")
    # Marks that are letters of their script still count: が is not か, रामा is not राम.
    assert skeleton("がくせい") != skeleton("かくせい")
    assert skeleton("रामा") != skeleton("राम")
    assert skeleton("alice") != skeleton("alicia")


LATIN_TO_CYRILLIC = str.maketrans("aceiopxy", "\u0430\u0441\u0435\u0456\u043e\u0440\u0445\u0443")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=3, max_size=32), st.data())
def test_a_cyrillic_look_alike_is_refused_or_has_the_same_skeleton(name: str, data: st.DataObject) -> None:
    assume(name[0] not in "_" and any(ch in "aceiopxy" for ch in name))
    positions = [i for i, ch in enumerate(name) if ch in "aceiopxy"]
    chosen = data.draw(st.sets(st.sampled_from(positions), min_size=1))
    look_alike = "".join(ch.translate(LATIN_TO_CYRILLIC) if i in chosen else ch for i, ch in enumerate(name))
    try:
        protocol.validate_username(look_alike)
    except ValidationError:
        return  # Latin mixed with Cyrillic
    assert protocol.username_skeleton(look_alike) == protocol.username_skeleton(name)


@pytest.mark.parametrize(
    ("password", "ok"), [("x" * 7, False), ("x" * 8, True), ("密" * 128, True), ("x" * 129, False)]
)
def test_password_length(password: str, ok: bool) -> None:
    if ok:
        assert protocol.validate_password(password) == password
    else:
        with pytest.raises(ValidationError):
            protocol.validate_password(password)


@pytest.mark.parametrize(("name", "expected"), [(" 闲聊 ", "闲聊"), ("a" * 64, "a" * 64), ("<b>x</b>", "<b>x</b>")])
def test_room_names_are_trimmed(name: str, expected: str) -> None:
    assert protocol.validate_room_name(name) == expected


@pytest.mark.parametrize(
    "name",
    ["", "   ", "a" * 65, "line\nbreak", "\x07bell", "\u3164", "\u2800", " \u2800 ", "\u0301\u0302", "a\u200bb"],
)
def test_invalid_room_names(name: str) -> None:
    with pytest.raises(ValidationError):
        protocol.validate_room_name(name)


def test_content_is_kept_exactly_as_typed() -> None:
    typed = "  <b>hi</b>\n second line  "
    assert protocol.validate_content(typed) == typed
    assert protocol.validate_content("字" * 4000) == "字" * 4000
    for bad in ("", " \n\t", "x" * 4001, "\ud800"):
        with pytest.raises(ValidationError):
            protocol.validate_content(bad)


@given(st.text(min_size=1, max_size=4000).filter(lambda s: s.strip()))
def test_any_nonblank_text_up_to_4000_characters_is_a_message(text: str) -> None:
    assert protocol.validate_content(text) == text


@given(
    st.one_of(
        st.builds(
            EnterRoom,
            st.integers(1, protocol.MAX_ID),
            st.none() | st.text(max_size=10),
            st.none() | st.integers(0, 99),
            st.booleans(),
        ),
        st.builds(
            SendMessage,
            st.integers(1, protocol.MAX_ID),
            st.text(min_size=1, max_size=50).filter(lambda s: s.strip()),
            st.none() | st.text(min_size=1, max_size=64),
            st.none() | st.text(max_size=10),
        ),
        st.builds(LeaveRoom, st.integers(1, protocol.MAX_ID), st.none() | st.text(max_size=10), st.booleans()),
        st.builds(
            SyncRoom, st.integers(1, protocol.MAX_ID), st.integers(0, protocol.MAX_ID), st.none() | st.text(max_size=10)
        ),
    )
)
def test_client_frames_round_trip(frame: protocol.ClientFrame) -> None:
    assert decode_client_frame(encode_client_frame(frame)) == frame


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_never_escapes_as_anything_but_protocol_error(payload: bytes | str) -> None:
    try:
        decode_client_frame(payload)
    except ProtocolError as error:
        assert error.code
        assert error.message


def test_watch_and_unwatch_are_flags() -> None:
    assert decode_client_frame('{"msgType":1,"data":{"roomId":3,"watch":true}}') == EnterRoom(3, watch=True)
    assert decode_client_frame('{"msgType":1,"data":{"roomId":3,"watch":false}}') == EnterRoom(3)
    assert decode_client_frame('{"msgType":3,"data":{"roomId":3,"unwatch":true}}') == LeaveRoom(3, unwatch=True)
    for bad in ('{"msgType":1,"data":{"roomId":3,"watch":1}}', '{"msgType":3,"data":{"roomId":3,"unwatch":"yes"}}'):
        with pytest.raises(ProtocolError) as error:
            decode_client_frame(bad)
        assert error.value.code == "validation"


def test_seed_message_types_keep_their_numbers() -> None:
    assert (MsgType.ENTER, MsgType.SEND, MsgType.LEAVE) == (1, 2, 3)


def test_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError) as error:
        decode_client_frame("x" * (protocol.MAX_FRAME_BYTES + 1))
    assert error.value.code == "frame_too_large"


def test_error_frames_name_the_request() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(
            json.dumps({"msgType": 2, "requestId": "r9", "data": {"roomId": 1, "content": " ", "clientMsgId": "c"}})
        )
    text = protocol.error_frame(caught.value)
    assert json.loads(text) == {
        "msgType": 5,
        "requestId": "r9",
        "data": {"code": "validation", "message": caught.value.message, "msgType": 2, "clientMsgId": "c"},
    }
    assert decode_server_frame(text) == protocol.ErrorFrame("validation", caught.value.message, 2, "c", "r9")


def test_server_frames_keep_chinese_and_emoji_readable() -> None:
    message = protocol.Message(1, 1, protocol.User(1, "小明"), "你好 😀", datetime(2026, 11, 27, tzinfo=UTC))
    assert "你好 😀" in protocol.encode_server_frame(protocol.MessagePosted(message))
    assert "小明" in message.wire_json()


_moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)) | st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)
_users = st.builds(protocol.User, st.integers(1, protocol.MAX_ID), st.text(max_size=32))
_messages = st.builds(
    protocol.Message,
    st.integers(1, protocol.MAX_ID),
    st.integers(1, protocol.MAX_ID),
    _users,
    st.text(max_size=200),
    _moments,
    st.none() | st.text(max_size=64),
)


@given(
    message=_messages,
    duplicate=st.booleans(),
    client_msg_id=st.none() | st.text(max_size=64),
    request_id=st.none() | st.text(max_size=64),
)
def test_spliced_message_and_ack_frames_are_exactly_the_general_encoding(
    message: protocol.Message, duplicate: bool, client_msg_id: str | None, request_id: str | None
) -> None:
    # The server encodes a stored message once and splices it into its broadcast and its ACK;
    # a client must not be able to tell those frames from ones encoded whole.
    encoded = message.wire_json()
    assert encoded == protocol.dumps(message.to_wire())
    assert protocol.message_frame(encoded) == protocol.encode_server_frame(protocol.MessagePosted(message))
    ack = protocol.Ack(message, duplicate, client_msg_id, request_id)
    assert protocol.ack_frame(encoded, duplicate, client_msg_id, request_id) == protocol.encode_server_frame(ack)


@given(message=_messages)
def test_a_message_decodes_to_itself(message: protocol.Message) -> None:
    decoded = protocol.Message.from_wire(json.loads(message.wire_json()))
    # The wire keeps milliseconds in UTC: the decoded time is the same instant, so truncated.
    assert protocol.iso_utc(decoded.created_at) == protocol.iso_utc(message.created_at)
    assert decoded == protocol.Message(
        message.id, message.room_id, message.author, message.content, decoded.created_at, message.client_msg_id
    )


def test_a_message_keeps_chinese_emoji_quotes_and_markup_as_text() -> None:
    message = protocol.Message(
        7, 3, protocol.User(1, "小明"), '你好 😀 "<b>hi</b>"\n', datetime(2026, 11, 27, 8, 0), "c-1"
    )
    assert message.wire_json() == (
        '{"id":7,"roomId":3,"author":{"id":1,"username":"小明"},'
        '"content":"你好 😀 \\"<b>hi</b>\\"\\n","createdAt":"2026-11-27T08:00:00.000Z",'
        '"rev":0,"mentions":[],"editedAt":null,"deleted":false,"clientMsgId":"c-1"}'
    )


def test_an_unknown_server_frame_is_kept_not_refused() -> None:
    frame = decode_server_frame('{"msgType":99,"data":{"roomId":3,"what":"new"},"requestId":"x"}')
    assert frame == protocol.UnknownFrame(99, {"roomId": 3, "what": "new"}, "x")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '{"data":{}}',
        '{"msgType":true,"data":{}}',
        '{"msgType":2,"data":[]}',
        '{"msgType":2,"data":{"id":"seven"}}',
        '{"msgType":6,"data":{"roomId":3}}',
        '{"msgType":13,"data":{"roomId":3,"lastReadId":"x","unread":0}}',
        '{"msgType":4,"data":{"message":{"id":1,"roomId":1,"author":{"id":1,"username":"a"},'
        '"content":"x","createdAt":"yesterday"},"duplicate":false}}',
    ],
)
def test_a_malformed_server_frame_is_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError) as error:
        decode_server_frame(text)
    assert error.value.code == "bad_frame"


def test_client_frames_know_their_msgtype() -> None:
    classes = (EnterRoom, SendMessage, LeaveRoom, SyncRoom, protocol.StartTyping)
    assert [cls.msg_type for cls in classes] == [1, 2, 3, 7, 9]
    assert {1: EnterRoom, 2: SendMessage, 3: LeaveRoom, 7: SyncRoom, 9: protocol.StartTyping} == protocol.CLIENT_FRAMES


def test_close_codes_keep_their_numbers() -> None:
    assert [int(code) for code in protocol.CloseCode] == [1000, 1001, 1007, 1008, 1009, 1013, 4001]


# -- mentions -------------------------------------------------------------------------


def _keys(content: str) -> list[list[str]]:
    return [[key for key, _ in candidate.keys] for candidate in protocol.mention_candidates(content)]


def test_a_mention_candidate_stops_where_a_username_cannot_go_on() -> None:
    # A space, a comma, "!" end the name: "bob hi" is never looked up.
    assert _keys("@bob hi, @Alice! @张三你好") == [["bob"], ["alice"], ["张三你好", "张三你", "张三"]]
    # Latin letters run on: only the whole word, never a prefix of it.
    assert _keys("@bobby") == [["bobby"]]
    # An apostrophe may end a name ("@bob's") or be inside one ("@o'brien").
    assert _keys("@bob's") == [["bob's", "bob"]]
    # Not after a letter or digit, nor in an e-mail address; "@" alone is nothing.
    assert _keys("bob@example.com x@y a.@bob @ @@bob") == []


def test_mention_spans_are_where_the_mentioned_names_are() -> None:
    content = "@张三丰来了, @BOB's and bob@example.com"
    assert protocol.mention_spans(content, ["张三丰", "bob"]) == [(0, 4), (8, 12)]
    assert protocol.mention_spans(content, ["张三"]) == [(0, 3)]


def test_only_the_first_fifty_at_signs_are_looked_at() -> None:
    content = " ".join(f"@user{n}" for n in range(protocol.MENTIONS_SCANNED_MAX + 10))
    candidates = protocol.mention_candidates(content)
    assert len(candidates) == protocol.MENTIONS_SCANNED_MAX
    assert [key for key, _ in candidates[-1].keys] == [f"user{protocol.MENTIONS_SCANNED_MAX - 1}"]


@pytest.mark.parametrize(
    ("name", "valid"), [("张三", True), ("たろ", True), ("张", False), ("ab", False), ("张a", False)]
)
def test_a_name_in_a_script_without_spaces_may_be_two_characters(name: str, valid: bool) -> None:
    if valid:
        assert protocol.validate_username(name) == name
    else:
        with pytest.raises(protocol.ValidationError):
            protocol.validate_username(name)
