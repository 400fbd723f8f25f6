"""GET /api/search (issue 13, "Search"): Chinese and English inside sentences, ignoring case, 2
characters or more, pages of 50, one room or every room the caller may read (never someone
else's direct room), deleted and edited messages, and messages stored before the index existed.
On both backends: SQLite's FTS5 tables and MariaDB's FULLTEXT table of n-gram words."""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Table, text

from gochat.protocol import SEARCH_PAGE
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from gochat.server.store import models, queries, rare_trigrams, search_index
from gochat.server.store.database import Database
from tests.conftest import in_process_api
from tests.helpers import auth, chat_client, create_room, login, register_and_login, scaled
from tests.server.test_rest import assert_error


async def search(api: httpx.AsyncClient, token: str, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/api/search", params={"q": q, **params}, headers=auth(token))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def contents(found: list[dict[str, Any]]) -> list[str]:
    return [message["content"] for message in found]


def store_messages(database_url: str, user_id: int, room_id: int, texts: list[str]) -> list[int]:
    """Messages written as the writer writes them: inserted and indexed in one transaction."""
    database = Database(database_url)
    try:
        with database.engine.begin() as connection:
            # (user, room, content, clientMsgId, mentions, rev): revs from the sequence, as the writer takes them.
            first_rev = queries.take_revs(connection, len(texts)) - len(texts) + 1
            rows = [(user_id, room_id, content, None, None, first_rev + i) for i, content in enumerate(texts)]
            ids = queries.insert_messages(connection, rows, models.utcnow())
            search_index.index_messages(connection, [(i, room_id, c) for i, c in zip(ids, texts, strict=True)])
    finally:
        database.close()
    return ids


def make_direct_room(database_url: str, first: int, second: int) -> int:
    """A direct room of two users, as POST /api/dms makes one (its rows, straight in the database)."""
    database = Database(database_url)
    low, high = sorted((first, second))
    try:
        with database.sessions.begin() as session:
            room = models.Room(
                user_id=first, room_name=f"direct {low} {high}", room_name_key=f"direct:{low}:{high}", kind="direct"
            )
            session.add(room)
            session.flush()
            session.add(models.DirectRoom(room_id=room.id, user_low_id=low, user_high_id=high))
            return room.id
    finally:
        database.close()


@pytest.mark.unthrottled_messages
@pytest.mark.backends
async def test_chinese_and_english_words_are_found_inside_sentences(server: ServerThread) -> None:
    # Sent through a WebSocket: the writer indexes what it stores, in the same transaction.
    async with httpx.AsyncClient(base_url=server.url, timeout=scaled(10)) as api:
        token, _ = await register_and_login(api)
        room = await create_room(api, token)
        sent = [
            "大家你好呀",
            "今天天气很好",
            "Deploy the BRANCH tonight",
            "the deployment went fine",
            "an ox, a cat",
            "我们明天见面吧 😀",
            "σοφία café",
        ]
        async with chat_client(server.url, token) as client:
            await client.enter(room["id"])
            for content in sent:
                await client.say(room["id"], content)

        # Two Chinese characters inside a sentence, three or more, and emoji beside them.
        assert contents(await search(api, token, "你好")) == ["大家你好呀"]
        assert contents(await search(api, token, "天气很")) == ["今天天气很好"]
        assert contents(await search(api, token, "明天见面吧 😀")) == ["我们明天见面吧 😀"]
        # English in any case, inside words too; newest first.
        assert contents(await search(api, token, "deploy")) == ["the deployment went fine", "Deploy the BRANCH tonight"]
        assert contents(await search(api, token, "Branch")) == ["Deploy the BRANCH tonight"]
        assert contents(await search(api, token, "DEPLOYMENT WENT")) == ["the deployment went fine"]
        # Two English characters, and a space inside the query is part of it.
        assert contents(await search(api, token, "OX")) == ["an ox, a cat"]
        assert contents(await search(api, token, "x,")) == ["an ox, a cat"]
        assert contents(await search(api, token, "ox cat")) == []
        # Case is ignored letter by letter, in any script; accents are not.
        assert contents(await search(api, token, "ΣΟΦΊΑ")) == ["σοφία café"]
        assert await search(api, token, "sofia cafe") == []
        assert await search(api, token, "cafe") == []
        # Every character is text: FTS5's and InnoDB's operators mean nothing in a query.
        for query in ('"', 'a"b', "+ox", "ox*", "-ox", "NEAR(a b)", "%%", "__"):
            if len(query.strip()) >= 2:
                assert await search(api, token, query) == []
        # A found message is the message, as history has it.
        [found] = await search(api, token, "你好")
        history = (await api.get(f"/api/rooms/{room['id']}/messages", headers=auth(token))).json()
        assert found == next(m for m in history if m["id"] == found["id"])


@pytest.mark.backends
@pytest.mark.parametrize(
    ("recent_checked", "index_budget"),
    [(None, None), ((7, 3), None), ((7, 3), 1e-6)],
    ids=["as shipped", "narrow recent window", "index over its budget"],
)
async def test_pages_of_50_newest_first_then_before_and_one_room(
    settings: Settings,
    recent_checked: tuple[int, int] | None,
    index_budget: float | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(MariaDB checks the newest messages by their text before it asks the index for older ones:
    with a window of a few messages, every page crosses from one to the other; with the index
    stopped at its budget, from the newest to the texts read below them.)"""
    if recent_checked is not None:
        monkeypatch.setattr(queries, "RECENT_CHECKED", recent_checked[0])
        monkeypatch.setattr(queries, "RECENT_CHECKED_IN_ROOM", recent_checked[1])
    scans: list[int] = []
    if index_budget is not None:
        monkeypatch.setattr(queries, "INDEX_BUDGET", index_budget)
        read_texts = queries._scanned_matches

        def counted(*args: Any, **kwargs: Any) -> list[int]:
            scans.append(1)
            return read_texts(*args, **kwargs)

        monkeypatch.setattr(queries, "_scanned_matches", counted)
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        room = await create_room(api, token)
        other = await create_room(api, token)
        texts = [f"report number {n} 报告" for n in range(120)]
        ids = store_messages(settings.database_url, me["id"], room["id"], texts)
        elsewhere = store_messages(settings.database_url, me["id"], other["id"], ["report from elsewhere 报告"])

        first = await search(api, token, "report")
        assert len(first) == SEARCH_PAGE
        assert [m["id"] for m in first] == [*elsewhere, *reversed(ids)][:SEARCH_PAGE]
        second = await search(api, token, "report", before=first[-1]["id"])
        assert [m["id"] for m in second] == list(reversed(ids))[SEARCH_PAGE - 1 : 2 * SEARCH_PAGE - 1]
        last = await search(api, token, "report", before=second[-1]["id"])
        assert [m["id"] for m in last] == list(reversed(ids))[2 * SEARCH_PAGE - 1 :]
        # One room only, two characters too.
        assert [m["id"] for m in await search(api, token, "报告", roomId=other["id"])] == elsewhere
        in_room = await search(api, token, "报告", roomId=room["id"], before=ids[5])
        assert [m["id"] for m in in_room] == list(reversed(ids[:5]))
        # MariaDB read the texts when its index ran over the budget (SQLite has no such path).
        assert bool(scans) == (index_budget is not None and settings.database_url.startswith("mysql"))
        # A room that does not exist is 404, as everywhere.
        assert_error(
            await api.get("/api/search", params={"q": "report", "roomId": 999_999}, headers=auth(token)),
            404,
            "not_found",
        )


@pytest.mark.backends
async def test_someone_elses_direct_room_is_never_searched(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        alice_token, alice = await register_and_login(api)
        bob_token, bob = await register_and_login(api)
        carol_token, _carol = await register_and_login(api)
        direct = make_direct_room(settings.database_url, alice["id"], bob["id"])
        [secret] = store_messages(settings.database_url, alice["id"], direct, ["the secret plan 秘密"])
        public = await create_room(api, carol_token)
        [open_id] = store_messages(settings.database_url, alice["id"], public["id"], ["an open plan 秘密"])

        for token in (alice_token, bob_token):
            assert [m["id"] for m in await search(api, token, "plan")] == [open_id, secret]
            assert [m["id"] for m in await search(api, token, "秘密", roomId=direct)] == [secret]
        # To anyone else it does not exist: not found by text, and its id answers as an unknown one.
        assert [m["id"] for m in await search(api, carol_token, "plan")] == [open_id]
        assert [m["id"] for m in await search(api, carol_token, "秘密")] == [open_id]
        assert await search(api, carol_token, "secret") == []
        refused = await api.get("/api/search", params={"q": "plan", "roomId": direct}, headers=auth(carol_token))
        unknown = await api.get("/api/search", params={"q": "plan", "roomId": 999_999}, headers=auth(carol_token))
        assert_error(refused, 404, "not_found")
        assert refused.json()["message"] == unknown.json()["message"].replace("999999", str(direct))


@pytest.mark.backends
async def test_bad_queries_are_422_and_a_token_is_needed(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, _ = await register_and_login(api)
        for params in ({"q": "a"}, {"q": "  a  "}, {"q": ""}, {}, {"q": "x" * 201}, {"q": "ok", "before": 0}):
            assert_error(await api.get("/api/search", params=params, headers=auth(token)), 422, "validation")
        # A NUL (which SQLite's full-text query language cannot hold) is a 422, not a storage error.
        nul = ({"q": "-\x00Øab"}, {"q": "ab\x00", "before": 92926}, {"q": '"\x00"'})
        for params in ({"q": "ok", "roomId": "abc"}, {"q": "ok", "roomId": -1}, {"q": "x" * 5000}, *nul):
            assert_error(await api.get("/api/search", params=params, headers=auth(token)), 422, "validation")
        # Trimmed, a query of 2 is fine; the most a query may be is 200.
        assert await search(api, token, "  ok  ") == []
        assert await search(api, token, "x" * 200) == []
        assert_error(await api.get("/api/search", params={"q": "ok"}), 401, "unauthorized")


@pytest.mark.backends
async def test_deleted_messages_are_never_found_and_edited_ones_by_their_new_text(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        room = await create_room(api, token)
        gone, edited, kept = store_messages(
            settings.database_url, me["id"], room["id"], ["舊的 password 123", "typo teh 你好", "kept 你好 password"]
        )
        database = Database(settings.database_url)
        try:
            # What the edit and delete endpoints do to the index, in their transactions.
            with database.sessions.begin() as session:
                session.execute(
                    text("UPDATE messages SET content = '', deleted_at = :now WHERE id = :id"),
                    {"now": models.utcnow(), "id": gone},
                )
                search_index.unindex_message(session, gone)
            with database.sessions.begin() as session:
                session.execute(text("UPDATE messages SET content = 'fixed the 世界' WHERE id = :id"), {"id": edited})
                search_index.reindex_message(session, edited, room["id"], "fixed the 世界")
            # Unindexing twice (a retried request) is harmless.
            with database.sessions.begin() as session:
                search_index.unindex_message(session, gone)
        finally:
            database.close()

        assert [m["id"] for m in await search(api, token, "password")] == [kept]
        assert [m["id"] for m in await search(api, token, "12")] == []
        assert [m["id"] for m in await search(api, token, "舊的")] == []
        assert [m["id"] for m in await search(api, token, "你好")] == [kept]
        assert await search(api, token, "teh") == []
        assert [m["id"] for m in await search(api, token, "世界")] == [edited]
        assert [m["id"] for m in await search(api, token, "FIXED THE")] == [edited]


@pytest.mark.backends
async def test_messages_stored_before_the_index_existed_are_found_after_start_up(settings: Settings) -> None:
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        room = await create_room(api, token)
        store_messages(settings.database_url, me["id"], room["id"], ["indexed from the start"])

    # An older gochat's database: no index, and messages it never indexed (more than a batch).
    database = Database(settings.database_url)
    try:
        with database.engine.begin() as connection:
            for table in (search_index.TEXT_TABLE, search_index.BIGRAM_TABLE):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            connection.execute(
                text("DELETE FROM database_info WHERE name IN (:goal, :done)"),
                {"goal": search_index.BACKFILL_GOAL, "done": search_index.BACKFILL_DONE},
            )
            messages = cast(Table, models.Message.__table__)
            now = models.utcnow()
            connection.execute(
                messages.insert(),
                [
                    {"user_id": me["id"], "room_id": room["id"], "content": f"old 旧消息 {n}", "created_at": now}
                    for n in range(25)
                ],
            )
        # Two servers starting at once, in small batches: each message is indexed once.
        search_index.create_index(database.engine)
        assert search_index.backfill(database.engine, batch=10) == 26
        assert search_index.backfill(database.engine, batch=10) == 0
    finally:
        database.close()

    # The server's start-up finds the backfill done.
    async with in_process_api(settings) as api:
        bearer = await login(api, me["username"])
        assert len(await search(api, bearer, "旧消息")) == 25
        assert len(await search(api, bearer, "OLD")) == 25
        assert contents(await search(api, bearer, "from the start")) == ["indexed from the start"]
        assert contents(await search(api, bearer, "消息 7")) == ["old 旧消息 7"]


def test_the_index_words_ignore_case_and_fit_every_tokenizer() -> None:
    assert search_index.gram_words("HeLLo ΩΣ", trigrams=True) == search_index.gram_words("hello ωσ", trigrams=True)
    words = search_index.gram_words("Ab你", trigrams=True).split()
    assert words == ["b61g62", "b62g4f60", "t61g62g4f60"]
    assert all(word.isascii() and word.isalnum() and len(word) >= 3 for word in words)
    # A 2-character query is its bigram; a longer one all its trigrams, once each.
    assert search_index.query_words("aB") == ["b61g62"]
    assert search_index.query_words("abab") == ["t61g62g61", "t62g61g62"]
    assert search_index.fts5_phrase('say "hi"') == '"say ""hi"""'


@pytest.mark.backends
async def test_rare_phrases_of_common_trigrams_repeated_trigrams_and_odd_characters(settings: Settings) -> None:
    # SQLite asks FTS5 only for a query's rarest trigrams and checks each candidate's text
    # (store/rare_trigrams.py): what it finds must be exactly what the whole phrase finds.
    async with in_process_api(settings) as api:
        token, me = await register_and_login(api)
        room = await create_room(api, token)
        other = await create_room(api, token)
        # Every trigram of "release notes tonight" is common here; the phrase is in two messages.
        common = ["release tonight notes", "notes release tonight", "tonight release notes", "release notes"]
        store_messages(settings.database_url, me["id"], room["id"], common * 30)
        phrase, shouting = store_messages(
            settings.database_url, me["id"], room["id"], ["the release notes tonight!", "RELEASE NOTES TONIGHT"]
        )
        store_messages(settings.database_url, me["id"], room["id"], common * 5)
        elsewhere = store_messages(settings.database_url, me["id"], other["id"], ["Release Notes Tonight, again"])
        store_messages(
            settings.database_url,
            me["id"],
            room["id"],
            [
                "abababab",  # one trigram repeated, and overlapping itself
                "50% off_sale a\\b",  # LIKE's own characters
                "ſtop the ſhow",  # long s: the tokenizer folds it to "s"
                "3 \u212aelvin",  # the Kelvin sign: folded to "k"
                "straße",  # no "ss" in it
            ],
        )

        assert [m["id"] for m in await search(api, token, "release notes tonight")] == [*elsewhere, shouting, phrase]
        assert [m["id"] for m in await search(api, token, "release notes tonight", roomId=room["id"])] == [
            shouting,
            phrase,
        ]
        assert [m["id"] for m in await search(api, token, "RELEASE notes TONIGHT", before=shouting)] == [phrase]
        assert await search(api, token, "notes tonight release", roomId=other["id"]) == []
        assert len(await search(api, token, "tonight notes")) == 35
        older = contents(await search(api, token, "release notes", before=phrase))
        assert len(older) == SEARCH_PAGE
        assert all("release notes" in content for content in older)
        assert contents(await search(api, token, "ababab")) == ["abababab"]
        assert await search(api, token, "abababa b") == []
        assert contents(await search(api, token, "50% off_")) == ["50% off_sale a\\b"]
        assert await search(api, token, "50%_off") == []
        assert contents(await search(api, token, "a\\b")) == ["50% off_sale a\\b"]
        assert await search(api, token, "strasse") == []
        assert contents(await search(api, token, "straße")) == ["straße"]
        if settings.database_url.startswith("sqlite"):
            # SQLite's tokenizer folds these into ASCII; MariaDB's collation has its own rules.
            assert contents(await search(api, token, "STOP THE SHOW")) == ["ſtop the ſhow"]
            assert contents(await search(api, token, "3 kelvin")) == ["3 \u212aelvin"]


def test_the_text_check_folds_exactly_as_the_trigram_tokenizer() -> None:
    # rare_trigrams.matcher must agree with FTS5's phrase query (3+ characters) on every text, odd
    # letters included.
    texts = [
        "Hello World",
        "ſtop",
        "\u212aelvin",
        "µ and μ",
        "ΣΊΣΥΦΟΣ σίσυφος",
        "İstanbul istanbul",
        "straße STRASSE",
        "xᎠ\uab70x",
        "a\ufffe\ufffda",
        "大家你好呀",
        "𐐀𐐨 deseret",
    ]
    queries_ = [
        "HELLO world",
        "stop",
        "kelvin",
        "μ a",
        "σίσ",
        "ΣΊΣ",
        "istan",
        "İsta",
        "sse",
        "ße ",
        "Ꭰ\uab70x",
        "\uab70\uab70x",
        "ᎠᎠx",
    ]
    queries_ += ["a\ufffd\ufffd", "\ufffe\ufffea", "a\ufffe\ufffd", "你好呀", "𐐨𐐨 ", "𐐀𐐀 d", "lo wor"]
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE t USING fts5(content, tokenize='trigram case_sensitive 0')")
        connection.executemany("INSERT INTO t (rowid, content) VALUES (?, ?)", list(enumerate(texts, 1)))
        for query in queries_:
            phrase = search_index.fts5_phrase(query)
            expected = {row[0] for row in connection.execute("SELECT rowid FROM t WHERE t MATCH ?", (phrase,))}
            contains = rare_trigrams.matcher(query)
            assert {i for i, content in enumerate(texts, 1) if contains(content)} == expected, query
    finally:
        connection.close()
